"""What `predict` accepts: one movie or a batch, checked before any work is done.

A single poster next to a list of overviews (or the reverse) is refused rather than broadcast or
iterated: a string iterated is its letters and an array iterated is its pixel rows, and both would
give answers that look right and are not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SINGLE_POSTERS = (str, Path, bytes, bytearray, Image.Image, dict)
POSTER_KINDS = "a path, bytes, a PIL image or an H x W (x C) array"


def check_inputs(poster, overview) -> tuple[list | None, list[str] | None, bool]:
    """(posters or None, overviews or None, whether it is a batch), or a ValueError that says what
    was given and what is expected."""
    posters, poster_batch = _posters(poster)
    overviews, overview_batch = _overviews(overview)
    if posters is not None and overviews is not None and poster_batch != overview_batch:
        batch, single = ("poster", "overview") if poster_batch else ("overview", "poster")
        size = len(posters if poster_batch else overviews)
        raise ValueError(
            f"got {describe(poster if poster_batch else overview)} as {batch} but {describe(overview if poster_batch else poster)} "
            f"as {single}: for a batch give {size} {single}s (a list of the same length), for one movie give one of each"
        )
    batched = poster_batch or overview_batch
    if not batched:
        if overviews is not None and not overviews[0].strip():
            overviews = None  # an empty overview is no overview: the poster models still answer
        if posters is None and overviews is None:
            raise ValueError("give a poster, a non-empty overview, or both")
        return posters, overviews, False
    if posters is not None and overviews is not None and len(posters) != len(overviews):
        raise ValueError(f"got {len(posters)} posters but {len(overviews)} overviews; give lists of equal length")
    if not (posters or overviews):
        raise ValueError("the batch is empty: give a poster and/or an overview for each movie")
    for index, text in enumerate(overviews or []):
        if not text.strip():
            raise ValueError(f"overview {index} is empty")
    return posters, overviews, True


def _posters(poster) -> tuple[list | None, bool]:
    if poster is None:
        return None, False
    if isinstance(poster, np.ndarray):
        if poster.ndim == 4:
            return list(poster), True
        if poster.ndim in (2, 3):
            return [poster], False
        raise ValueError(f"a poster array must be H x W, H x W x C, or N x H x W x C for a batch, not shape {poster.shape}")
    if isinstance(poster, SINGLE_POSTERS):
        return [poster], False
    if isinstance(poster, (list, tuple)):
        for index, item in enumerate(poster):
            if not isinstance(item, (*SINGLE_POSTERS, np.ndarray)):
                raise ValueError(f"poster {index} is {describe(item)}; each poster must be {POSTER_KINDS}")
        return list(poster), True
    raise ValueError(f"a poster must be {POSTER_KINDS} (or a list of them), not {describe(poster)}")


def _overviews(overview) -> tuple[list[str] | None, bool]:
    if overview is None:
        return None, False
    if isinstance(overview, str):
        return [overview], False
    if isinstance(overview, (list, tuple)):
        for index, text in enumerate(overview):
            if not isinstance(text, str):
                raise ValueError(f"overview {index} is {describe(text)}, not a string")
        return list(overview), True
    raise ValueError(f"an overview must be a string (or a list of strings), not {describe(overview)}")


def describe(value) -> str:
    """A value as a user would name it, never an object repr."""
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)}"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    if isinstance(value, str):
        return f"the string {value[:40]!r}" + ("..." if len(value) > 40 else "")
    if isinstance(value, Path):
        return f"the path {value}"
    if isinstance(value, (bytes, bytearray)):
        return f"{len(value):,} bytes"
    if isinstance(value, Image.Image):
        return f"a {value.width}x{value.height} {value.mode} PIL image"
    return f"a {type(value).__name__}"
