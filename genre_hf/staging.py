"""Staging folders named by the process that makes them, so a later run can tell an abandoned one
(its process is gone: killed while saving) from one still being written, and remove it."""

from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path


def name(stem: str, token: str, suffix: str = ".partial") -> str:
    """`.<stem>-<pid>-<token><suffix>`: a staging folder's name (the token keeps two of one process apart)."""
    return f"{prefix(stem)}{token}{suffix}"


def prefix(stem: str) -> str:
    """A staging folder's name up to its token (for `tempfile.mkdtemp`, which adds one)."""
    return f".{stem}-{os.getpid()}-"


def pattern(stem: str | None, suffix: str = ".partial") -> str:
    """The glob pattern of staging folders for `stem` (None: for any stem), of any process."""
    return f".{'*' if stem is None else glob.escape(stem)}-*-*{suffix}"


def owner_alive(path: Path) -> bool:
    """Whether the process whose pid the staging folder's name holds is still running."""
    parts = path.name.rsplit("-", 2)
    if len(parts) < 3 or not parts[1].isdigit() or int(parts[1]) < 1:
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_abandoned(folder: Path, pattern: str) -> None:
    """Remove the staging folders in `folder` matching `pattern` whose process is gone."""
    for path in folder.glob(pattern):
        if path.is_dir() and not owner_alive(path):
            shutil.rmtree(path, ignore_errors=True)
