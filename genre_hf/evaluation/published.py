"""Figures others published, each quoted once with where it comes from, so that no report, card or
page of the docs types them by hand."""

# The public Keras coursework this project started from, on the same upstream data, its own split.
COURSEWORK = {
    "citation": "Keras coursework on the Multimodal IMDB data (GitHub giridharreddygoddilla/Multimodal-IMDB-Analysis-with-Keras), "
                "final validation epoch of its CNN and LSTM notebooks, threshold 0.5",
    "data_kind": "upstream",
    # Its loss averaged 25 genre columns, 5 of which are never set: a loss over G genres compares as loss x G / 25.
    "columns": 25,
    "models": {
        "poster": {"title": "coursework CNN", "val_bce": 0.2353, "micro_precision": 0.607, "micro_recall": 0.261},
        "overview": {"title": "coursework LSTM", "val_bce": 0.2251, "micro_precision": 0.622, "micro_recall": 0.245},
    },
}

# The MM-IMDb paper. Not verified here against the paper's text (it could not be read from this
# machine): quoted as reported for its results table on the MM-IMDb test split.
GMU = {
    "citation": "Arevalo, Solorio, Montes-y-Gómez and González (2017), \"Gated Multimodal Units for Information Fusion\", "
                "ICLR 2017 workshop track, arXiv:1702.01992: results table, MM-IMDb test split",
    "data_kind": "mmimdb",
    "split": "test",
    "models": {"GMU (poster + plot)": {"macro_f1": 0.541, "micro_f1": 0.630, "weighted_f1": 0.617, "samples_f1": 0.630}},
}

PUBLISHED = {COURSEWORK["data_kind"]: COURSEWORK, GMU["data_kind"]: GMU}


def comparable_bce(bce: float, genres: int) -> float:
    """Our mean BCE over `genres` columns as the coursework's mean over its 25 columns (the 25 - G
    never-set columns add nothing to its sum)."""
    return bce * genres / COURSEWORK["columns"]
