"""Files a folder or the Hub gives, read within bounds: the one reader for every such file.

A model folder, a Hub repo, a data folder or a user's project is written by someone else, so a file
in it is read only when it is a regular file (a FIFO never ends, /dev/zero never stops), only up
to a size given by what it holds (checked before a byte is parsed: a 200 MB `config.json` took
5 GB to parse), and JSON strictly: nested at most MAX_DEPTH deep, no NaN or Infinity (Python's
json takes them), no key given twice. Errors name the file and what is wrong with it, never what
it says.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path

MAX_DEPTH = 64  # our own files nest 6 deep; Python's parser gives up near 1,000 with a RecursionError
KB, MB = 2**10, 2**20


class ReadError(ValueError):
    """A file that cannot be read within its bounds; the message names it and what is wrong."""


def read_bytes(path: str | Path, limit: int, what: str | None = None) -> bytes:
    """The bytes of the regular file `path`, at most `limit` of them (more is an error, found before reading)."""
    path = Path(path)
    what = what or path.name
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise ReadError(f"{what} is not a regular file")
        if info.st_size > limit:
            raise ReadError(f"{what} is {_size(info.st_size)}, more than the {_size(limit)} it may take")
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):  # swapped for something else since the stat
                raise ReadError(f"{what} is not a regular file")
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise ReadError(f"{what} is missing") from None
    except IsADirectoryError:
        raise ReadError(f"{what} is not a regular file") from None
    except PermissionError:
        raise ReadError(f"{what} cannot be read: no permission") from None
    if len(data) > limit:  # it grew while being read
        raise ReadError(f"{what} is more than the {_size(limit)} it may take")
    return data


def read_text(path: str | Path, limit: int, what: str | None = None) -> str:
    """`read_bytes`, as UTF-8 text (a byte-order mark is skipped)."""
    what = what or Path(path).name
    data = read_bytes(path, limit, what)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ReadError(f"{what} is not UTF-8 text (byte {error.start:,})") from None


def read_json(path: str | Path, limit: int, what: str | None = None, kind: type | None = dict):
    """The JSON value in the file `path` (`read_bytes`, then `parse_json`); `kind` (dict, list or
    None for any) is the type it must have."""
    what = what or Path(path).name
    return parse_json(read_text(path, limit, what), what, kind)


def parse_json(text: str | bytes, what: str, kind: type | None = dict):
    """JSON strictly: no NaN or Infinity, no repeated key, at most MAX_DEPTH deep, of type `kind`."""
    def no_constant(name):
        raise ValueError(f"{name} is not a JSON number")

    def unique(pairs):
        keys = [key for key, _ in pairs]
        if len(set(keys)) != len(keys):
            raise ValueError("a key is repeated")
        return dict(pairs)

    try:
        value = json.loads(text, parse_constant=no_constant, object_pairs_hook=unique)
    except UnicodeDecodeError:
        raise ReadError(f"{what} is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise ReadError(f"{what} is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})") from None
    except ValueError as error:
        raise ReadError(f"{what} is not valid JSON ({error})") from None
    except RecursionError:
        raise ReadError(f"{what} is not valid JSON (nested more than {MAX_DEPTH} deep)") from None
    if depth(value) > MAX_DEPTH:
        raise ReadError(f"{what} is not valid JSON (nested more than {MAX_DEPTH} deep)")
    if kind is not None and not isinstance(value, kind):
        raise ReadError(f"{what} must hold a JSON {'object' if kind is dict else 'list' if kind is list else kind.__name__}, "
                        f"not {'an object' if isinstance(value, dict) else 'a list' if isinstance(value, list) else type(value).__name__}")
    return value


def depth(value) -> int:
    """How deep lists and objects nest in `value` (a number or string: 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:  # deeper is refused anyway: no need to walk it
                stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _size(count: int) -> str:
    return f"{count / MB:,.1f} MB" if count >= MB else f"{count / KB:,.0f} kB" if count >= KB else f"{count:,} bytes"


def json_text(report) -> str:
    """`report` as the strict JSON this module reads: a figure that is not a finite number (the mAP of
    a split where no genre has a positive movie) is null, which every table shows as n/a."""
    def finite(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {key: finite(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [finite(item) for item in value]
        return value

    return json.dumps(finite(report), indent=2, allow_nan=False) + "\n"
