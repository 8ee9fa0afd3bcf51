"""Which rows an evaluation scores, and whether training fitted or tuned on them."""

from __future__ import annotations

from pathlib import Path


def provenance(split: str | None, movies, load_report, data: str, training: dict | None) -> dict:
    """Which rows are scored and whether training fitted or tuned on them.

    On the training data itself the answer is certain. On other data it is certain only for a split
    cut by the same id hash as the training data's (a movie in both falls in the same split of
    each); otherwise it is unknown (None) and said so.
    """
    trained_on = (training or {}).get("data")
    same = trained_on is not None and _identity(trained_on) == _identity(data)
    rule = load_report.split_rule
    same_cut = same or (rule.startswith("cut by a hash") and rule == ((training or {}).get("load_report") or {}).get("split_rule"))
    counts = {name: len(part) for name, part in movies.items()} if not load_report.streamed else {}
    if same:
        where = "the training data"
    else:
        where = f"{data} (not the training data, {trained_on})" if trained_on else f"{data} (the model does not record its training data)"
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
        fitted, tuned = counts.get("train", 0), counts.get("validation", 0)
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
    return {"split": split or "all", "used_in_training": used, "same_data_as_training": same, "note": note, "warn": used is not False}


def _identity(source) -> str:
    path = Path(str(source)).expanduser()
    return str(path.resolve()) if path.exists() else str(source)
