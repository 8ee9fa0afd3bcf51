"""Train, validation and test: kept as a source gives them, else cut by a hash of the movie id.

Validation chooses epochs, temperatures and thresholds; test is scored and never tuned on. An id's
split depends on the id alone, so a movie falls in the same split of any folder that has it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from genre_hf.settings import setting

VALIDATION_ALIASES = ("validation", "valid", "val", "dev")


@dataclass(frozen=True)
class SplitSpec:
    """How a source without given splits is cut: a hash of the movie id places each movie in
    validation, test or train, the same on every machine and run (config.json's `split`)."""

    validation: float = setting(0.15, 0.0, 0.9)
    test: float = setting(0.10, 0.0, 0.9)
    salt: str = setting("genre_hf-v1", chars=200)

    def rules(self) -> list[str]:
        return ["validation and test must leave movies to train on"] if self.validation + self.test >= 1 else []

    def rule(self, given: list[str]) -> str:
        """How a source with the splits `given` is split (see `plan`), in words for reports."""
        if not any(cut for _, cut in plan(given).values()):
            return "given by the source"
        cut = f"cut by a hash of the id (validation {self.validation:g}, test {self.test:g}, salt {self.salt!r})"
        return f"test given by the source; train and validation {cut}" if "test" in given else cut

    def of(self, movie_id: str) -> str:
        digest = hashlib.sha256(f"{self.salt}:{movie_id}".encode()).digest()
        position = int.from_bytes(digest[:8], "big") / 2**64
        if position < self.validation:
            return "validation"
        return "test" if position < self.validation + self.test else "train"

    def cut(self, movie_id: str, given: list[str]) -> str:
        """Where the hash puts an unsplit movie of a source whose own splits are `given`: a test split
        the source gives stays its only test split, so the hash's test share goes to training."""
        name = self.of(movie_id)
        return "train" if name == "test" and "test" in given else name


def plan(given: list[str]) -> dict[str, tuple[list[str], bool]]:
    """The splits `assign` makes of a source whose own splits are `given`: for each, the source's
    splits its movies come from and whether the id hash picks them (`SplitSpec.cut`).

    A source with a validation split (under any of its usual names) keeps its splits as given.
    Otherwise its unsplit movies ("all" and "train") are cut into train, validation and, unless the
    source gives one, test. A cut test split that turns out empty is dropped by `assign`.
    """
    alias = next((name for name in VALIDATION_ALIASES if name in given), None)
    if alias is not None:
        return {**{name: ([name], False) for name in given if name != alias}, "validation": ([alias], False)}
    unsplit = [name for name in ("all", "train") if name in given]
    kept = {name: ([name], False) for name in given if name not in unsplit}
    if not unsplit:  # e.g. only a "test" split: nothing to train on, nothing to cut
        return kept
    cut = ("train", "validation") if "test" in given else ("train", "validation", "test")
    return {**{name: (unsplit, True) for name in cut}, **kept}


def assign(splits: dict, spec: SplitSpec) -> dict:
    """The source's splits as train / validation / test, as `plan` says. In-memory `Dataset`s are
    cut by index (and an empty test cut is dropped); streamed `IterableDataset`s are filtered as
    they are read."""
    import datasets  # here: the config imports SplitSpec, and the command line's parsing imports the config

    given = list(splits)
    planned = plan(given)
    kept = {name: splits[parts[0]] for name, (parts, cut) in planned.items() if not cut}
    names = [name for name, (_, cut) in planned.items() if cut]
    if not names:
        return kept
    unsplit = [splits[name] for name in planned[names[0]][0]]
    pool = datasets.concatenate_datasets(unsplit) if len(unsplit) > 1 else unsplit[0]
    if isinstance(pool, datasets.Dataset):
        assignment = [spec.cut(movie_id, given) for movie_id in pool["id"]]
        cut = {name: pool.select([i for i, s in enumerate(assignment) if s == name]) for name in names}
        if "test" in cut and len(cut["test"]) == 0:  # e.g. data drawn from another cut's train and validation
            del cut["test"]
    else:
        cut = {name: pool.filter(lambda row, name=name: spec.cut(row["id"], given) == name) for name in names}
    return {**cut, **kept}
