"""Train, validation and test: kept as a source gives them, else cut by a hash of the movie id.

Validation chooses epochs, temperatures and thresholds; test is scored and never tuned on. An id's
split depends on the id alone, so a movie falls in the same split of any folder that has it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import datasets

VALIDATION_ALIASES = ("validation", "valid", "val", "dev")


@dataclass(frozen=True)
class SplitSpec:
    """How a source without given splits is cut: a hash of the movie id places each movie in
    validation, test or train, the same on every machine and run."""

    validation: float = 0.15
    test: float = 0.10
    salt: str = "genre_hf-v1"

    @classmethod
    def from_config(cls, config) -> "SplitSpec":
        return cls(config.validation_fraction, config.test_fraction, config.split_salt)

    def rule(self, given: list[str]) -> str:
        """How a source with the splits `given` is split (see `assign`), in words for reports."""
        cut = f"cut by a hash of the id (validation {self.validation:g}, test {self.test:g}, salt {self.salt!r})"
        if any(alias in given for alias in VALIDATION_ALIASES) or not {"all", "train"} & set(given):
            return "given by the source"
        if "test" in given:
            return f"test given by the source; train and validation {cut}"
        return cut

    def of(self, movie_id: str) -> str:
        digest = hashlib.sha256(f"{self.salt}:{movie_id}".encode()).digest()
        position = int.from_bytes(digest[:8], "big") / 2**64
        if position < self.validation:
            return "validation"
        return "test" if position < self.validation + self.test else "train"


def assign(splits: dict, spec: SplitSpec) -> dict:
    """The source's splits as train / validation / test.

    A source with a validation split (under any of its usual names) keeps its splits as given.
    Otherwise its unsplit rows ("all" and "train") are cut by `spec`; a given test split stays the
    only test split (its share of the cut goes to training). In-memory `Dataset`s are cut by index
    (and an empty test cut is dropped); streamed `IterableDataset`s are filtered as they are read.
    """
    for alias in VALIDATION_ALIASES:
        if alias in splits:
            renamed = dict(splits)
            renamed["validation"] = renamed.pop(alias)
            return renamed
    given = dict(splits)
    unsplit = [given.pop(name) for name in ("all", "train") if name in given]
    if not unsplit:  # e.g. only a "test" split: nothing to train on, nothing to cut
        return given
    pool = datasets.concatenate_datasets(unsplit) if len(unsplit) > 1 else unsplit[0]
    test_given = "test" in given
    names = ("train", "validation") if test_given else ("train", "validation", "test")

    def place(movie_id: str) -> str:
        name = spec.of(movie_id)
        return "train" if test_given and name == "test" else name

    if isinstance(pool, datasets.Dataset):
        assignment = [place(movie_id) for movie_id in pool["id"]]
        cut = {name: pool.select([i for i, s in enumerate(assignment) if s == name]) for name in names}
        if "test" in cut and len(cut["test"]) == 0:  # e.g. data drawn from another cut's train and validation
            del cut["test"]
    else:
        cut = {name: pool.filter(lambda row, name=name: place(row["id"]) == name) for name in names}
    return {**cut, **given}
