"""Which rows an evaluation scores, and whether training fitted or tuned on them.

A model folder trained by this version records which movies it was fitted on (train) and tuned on
(validation), as short digests of their ids (`id_record`, in `training_report.json`), so any data
can be checked movie by movie: a held-out folder that shares no movie with them is held out. The
training data is known by its identity (`Source.identity`: what it holds, not the path it was given
by), so a copy of it elsewhere is still the training data. An older folder has no record; then the
answer is certain only on the training data itself, or for a split cut by the same id hash.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

DIGEST_CHARS = 16  # 64 bits of sha256: no two of a million ids collide but with odds of 1 in 30 million


def id_digest(movie_id: str) -> str:
    return hashlib.sha256(f"genre_hf-id:{movie_id}".encode()).hexdigest()[:DIGEST_CHARS]


def id_record(splits: dict) -> dict[str, list[str]]:
    """The movies a run fitted on and tuned on, as digests of their ids (what `provenance` checks against)."""
    return {name: sorted(id_digest(movie_id) for movie_id in splits[name].ids) for name in ("train", "validation") if name in splits}


def provenance(split: str | None, counts: dict[str, int], load_report, data: str, training: dict | None, ids: list[str],
               identity: str | None = None) -> dict:
    """Which rows are scored (`ids`, from the splits whose sizes are `counts`) and whether training
    fitted or tuned on them; `training` is the model's training record (`training_report.json`),
    `identity` the scored data's (`Source.identity`)."""
    training = training or {}
    trained_on = training.get("data")
    if training.get("data_identity") and identity:
        same = training["data_identity"] == identity
    else:  # a record of an older genre_hf: the path it was given by
        same = trained_on is not None and _identity(trained_on) == _identity(data)
    where = "the training data" if same else (
        f"{data} (not the training data, {trained_on})" if trained_on else f"{data} (the model does not record its training data)")
    record = training.get("trained_on")
    if record is not None:
        scored = {id_digest(movie_id) for movie_id in ids}
        seen = {name: len(scored & set(record.get(name, []))) for name in ("train", "validation")}
    else:
        seen = None
    if same or seen is None:
        used, note = _by_split(split, counts, load_report, where, same, training, seen)
    elif not any(seen.values()):
        used = False
        note = (f"Scoring {'the ' + split + ' split' if split else 'every row'} of {where}: none of its {len(ids):,} movies "
                "is among those the models were fitted or tuned on.")
    else:
        used = True
        note = (f"Scoring {'the ' + split + ' split' if split else 'every row'} of {where}: {seen['train']:,} of its movies are "
                f"among those the models were fitted on and {seen['validation']:,} among those they were tuned on, so the "
                "figures are optimistic. Score movies the model never saw.")
    return {"split": split or "all", "used_in_training": used, "same_data_as_training": same, "note": note, "warn": used is not False,
            "scored_in_training": seen}


def _by_split(split, counts, load_report, where: str, same: bool, training: dict, seen) -> tuple[bool | None, str]:
    """On the training data (or without a record of its movies): judge by the split each row falls in."""
    rule = load_report.split_rule
    same_cut = same or (rule.startswith("cut by a hash") and rule == (training.get("load_report") or {}).get("split_rule"))
    if split == "test":
        used = False if same_cut else None
        note = (f"Scoring the test split of {where}: never used for training or tuning." if used is False else
                f"Scoring the split named test of {where}; whether training saw these movies is not known here.")
    elif split in ("train", "validation"):
        role = "the models were fitted on" if split == "train" else "epochs, temperatures and thresholds were tuned on"
        used = True if same else None
        note = (f"Scoring the {split} split of {where}: {role} these rows, so the figures are optimistic; use --split test."
                if same else f"Scoring the {split} split of {where}: if these movies are in the training data, {role} them.")
    else:
        fitted, tuned = (seen["train"], seen["validation"]) if seen else (counts.get("train", 0), counts.get("validation", 0))
        used = True if same and (fitted or tuned) else (None if fitted or tuned else False)
        if same:
            note = (f"Scoring every row of {where}, including {fitted:,} train rows the models were fitted on and {tuned:,} "
                    "validation rows they were tuned on: the figures are optimistic. Use --split test for held-out figures.")
        elif fitted or tuned:
            note = (f"Scoring every row of {where}: by the model's id split, {fitted:,} fall in train and {tuned:,} in validation; "
                    "if these movies are in the training data, the models were fitted or tuned on them. Use --split test, "
                    "or data the model never saw.")
        else:
            note = f"Scoring every row of {where}: none falls in a train or validation split."
    return used, note


def _identity(source) -> str:
    path = Path(str(source)).expanduser()
    return str(path.resolve()) if path.exists() else str(source)


RECORD_TYPES = {  # key of a training record -> the type(s) its readers (provenance, the card) take
    "data": str, "data_name": (str, type(None)), "data_kind": str, "data_revision": (str, type(None)), "data_identity": str,
    "load_report": dict, "movies": dict, "trained_on": dict, "train_genre_counts": dict, "titles": dict, "models": dict,
    "seconds": (int, float), "machine": str, "versions": dict,
}
MODEL_ROW_FIGURES = ("best_epoch", "epochs", "best_val_loss", "best_val_bce", "val_precision", "val_recall", "samples_per_second")


def record_problem(record) -> str | None:
    """What makes a training record read back from a folder unfit for its readers, or None."""
    if not isinstance(record, dict):
        return "it must be a JSON object"
    wrong = [key for key, kind in RECORD_TYPES.items() if key in record and not isinstance(record[key], kind)]
    if wrong:
        return f"{len(wrong)} of its entries (e.g. {sorted(wrong)[0]}) are not of their type"
    lists = record.get("trained_on", {}).values()
    if not all(isinstance(digests, list) and all(isinstance(d, str) for d in digests) for digests in lists):
        return "trained_on must hold lists of id digests"
    if not all(isinstance(count, int) for part in ("movies", "train_genre_counts") for count in record.get(part, {}).values()):
        return "movies and train_genre_counts must hold whole numbers"
    rows = record.get("models", {}).values()
    if not all(isinstance(row, dict) and all(_number(row.get(key)) for key in MODEL_ROW_FIGURES) for row in rows):
        return "a model's row lacks a figure, or has one that is not a number"
    return None


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
