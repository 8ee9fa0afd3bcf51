"""PNG plots for the training report, `evaluate` and the benchmark (matplotlib, no display needed).

matplotlib is the `plots` extra: without it `available()` is False and callers skip the plots with
`SKIPPED`, a one-line note; nothing else needs it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from genre_hf import staging
from genre_hf.evaluation.files import PLOT_FILES
from genre_hf.evaluation.metrics.multilabel_genres import reliability_curve

SOFTWARE = "genre_hf"  # each PNG's Software text: how a later run knows a plot it may replace
SKIPPED = "Plots skipped: matplotlib is not installed (pip install 'genre_hf[plots]')"


def available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def split_plots(folder: Path, report: dict, labels: np.ndarray, raw: dict, calibrated: dict) -> None:
    """The plots of one scored split (see `scoring.score_split`): precision-recall curves of every
    model and baseline, per-genre F1 and the models' reliability before and after calibration."""
    folder = Path(folder)
    titles, models = report["titles"], list(report["models"])
    precision_recall_curves(calibrated, labels, titles, folder / PLOT_FILES["pr"])
    per_genre_f1(report, folder / PLOT_FILES["per_genre"])
    reliability_diagram({n: raw[n] for n in models}, {n: calibrated[n] for n in models}, labels, titles, folder / PLOT_FILES["reliability"])


def training_curves(histories: dict[str, dict], best_epochs: dict[str, int], titles: dict[str, str], path: Path) -> Path:
    """Loss, validation loss, precision and recall per epoch; the kept epoch is marked."""
    plt = _pyplot()
    figure, axes = plt.subplots(1, 3, figsize=(15, 4))
    for name, history in histories.items():
        epochs = np.arange(1, len(history["loss"]) + 1)
        (line,) = axes[0].plot(epochs, history["val_bce"], label=f"{titles[name]} validation")
        axes[0].plot(epochs, history["bce"], "--", color=line.get_color(), label=f"{titles[name]} training")
        axes[0].axvline(best_epochs[name], color=line.get_color(), alpha=0.3)
        axes[1].plot(epochs, history["val_precision"], color=line.get_color(), label=titles[name])
        axes[2].plot(epochs, history["val_recall"], color=line.get_color(), label=titles[name])
    for axis, title in zip(axes, ("Binary cross-entropy (kept epoch marked)", "Validation precision @0.5", "Validation recall @0.5")):
        axis.set_title(title)
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=8)
    return _save(figure, path)


def precision_recall_curves(probabilities: dict[str, np.ndarray], labels: np.ndarray, titles: dict[str, str], path: Path) -> Path:
    """Micro-averaged precision-recall curve of every model and baseline."""
    from sklearn.metrics import precision_recall_curve

    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 5))
    for name, p in probabilities.items():
        precision, recall, _ = precision_recall_curve(labels.ravel(), p.ravel())
        axis.plot(recall, precision, label=titles[name])
    axis.set(xlabel="recall", ylabel="precision", title="Micro-averaged precision-recall", xlim=(0, 1), ylim=(0, 1))
    axis.grid(alpha=0.3)
    axis.legend()
    return _save(figure, path)


def per_genre_f1(report: dict, path: Path) -> Path:
    """F1 at the tuned thresholds, per genre, for the three models."""
    titles = report["titles"]
    series = {titles[name]: ([entry["f1"] for entry in scores["per_genre"]], None) for name, scores in report["models"].items()}
    return bars(report["genres"], series, "F1 (tuned thresholds)", "Per-genre F1", path)


def bars(labels: list[str], series: dict[str, tuple[list[float], list[float | None] | None]], ylabel: str, title: str, path: Path) -> Path:
    """Grouped bars: one group per label, one bar per series {title: (values, standard deviations or None)},
    with the deviations as error bars."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(min(24, max(6, 0.18 * len(labels) * len(series) + 3)), 4.5))
    width = 0.8 / len(series)
    for offset, (name, (values, spreads)) in enumerate(series.items()):
        errors = None if spreads is None else [s or 0.0 for s in spreads]
        axis.bar(np.arange(len(labels)) + offset * width, values, width, yerr=errors, capsize=2 if errors else 0, label=name)
    axis.set_xticks(np.arange(len(labels)) + 0.4 - width / 2)
    axis.set_xticklabels(labels, rotation=45, ha="right")
    axis.set(ylabel=ylabel, title=title, ylim=(0, 1))
    axis.grid(axis="y", alpha=0.3)
    axis.legend(fontsize=8)
    return _save(figure, path)


def reliability_diagram(raw: dict[str, np.ndarray], calibrated: dict[str, np.ndarray], labels: np.ndarray, titles: dict[str, str], path: Path) -> Path:
    """Observed frequency against predicted probability, before and after temperature scaling."""
    plt = _pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(11, 5), sharey=True)
    for axis, probabilities, title in ((axes[0], raw, "Raw outputs"), (axes[1], calibrated, "Calibrated (temperature, class-weight offsets)")):
        axis.plot([0, 1], [0, 1], "k:", label="perfect")
        for name, p in probabilities.items():
            curve = reliability_curve(p, labels)
            axis.plot(curve.mean_confidence, curve.observed_frequency, "o-", markersize=3, label=titles[name])
        axis.set(title=title, xlabel="predicted probability", xlim=(0, 1), ylim=(0, 1))
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("observed frequency")
    axes[1].legend()
    return _save(figure, path)


def _save(figure, path: Path) -> Path:
    """The figure as a PNG marked as ours (`is_plot`), written whole (`staging.file`): never over a
    file that is not one of our plots."""
    figure.tight_layout()
    try:
        with staging.file(path, ours=is_plot, what="plot") as partial:
            figure.savefig(partial, dpi=90, format="png", metadata={"Software": SOFTWARE})
    finally:
        _pyplot().close(figure)
    return Path(path)


def is_plot(path: Path) -> bool:
    """Whether `path` is a PNG this module wrote (its Software text says so): one a new run may replace."""
    from PIL import Image

    with Image.open(path) as image:
        return image.format == "PNG" and str(image.text.get("Software", "")).startswith(SOFTWARE)
