"""The checksums that `genre-hf data` holds the downloaded files to, and the file they live in.

A pins file is JSON: {"csv_sha256": ..., "posters_sha256": ..., "posters": {"<Id>": ..., ...}}.

- `csv_sha256`: the sha256 of the CSV, whole.
- `posters`: each poster's sha256 cut to its first 16 hex digits (64 bits). That is enough to name
  a damaged poster the moment it is read (two different files share a 64-bit prefix by accident
  with odds of one in 2^64), and keeps the file at about 200 kB instead of about 480 kB.
- `posters_sha256`: the sha256 of the lines "<Id> <full sha256>\\n" of every poster, ids sorted.
  Checked once all the posters are in, it holds the whole set to the full 256 bits: a forged poster
  made to match its 64-bit prefix is still caught.

The package's pins (`upstream_pins.json`) are those of the real upstream files (docs: how they were
built from the two repositories). GENRE_HF_DATA_PINS names another pins file in the same format, for
a mirror of other data or a test's server; without it, the real upstream pins are always checked.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from genre_hf import reading
from genre_hf.data.cleaning import safe_id
from genre_hf.data.upstream import CSV_FILE, IMAGES_DIR, MAX_ID

PACKAGE_PINS = Path(__file__).with_name("upstream_pins.json")
PINS_VARIABLE = "GENRE_HF_DATA_PINS"
PREFIX = 16  # hex digits of a poster's sha256 kept in the pins (see above)
MAX_PINS_BYTES = 64 * 2**20  # a pins file is read whole: the upstream's is about 200 kB
SHA256 = re.compile(r"[0-9a-f]{64}")
POSTER_PIN = re.compile(f"[0-9a-f]{{{PREFIX}}}")


class PinError(ValueError):
    """A file does not match its pin, or a pins file is not one."""


@dataclass(frozen=True)
class Pins:
    csv_sha256: str
    posters_sha256: str
    posters: Mapping[str, str]  # Id -> the first PREFIX hex digits of the poster's sha256
    origin: str  # where the pins come from, for messages: "the upstream pins" or a file's path

    @classmethod
    def load(cls, path: str | Path | None = None) -> "Pins":
        """The pins in `path`; without it, the file GENRE_HF_DATA_PINS names, else the package's."""
        if path is not None:
            file, origin = Path(path).expanduser(), str(path)
        elif os.environ.get(PINS_VARIABLE, "").strip():
            file = Path(os.environ[PINS_VARIABLE].strip()).expanduser()
            origin = f"{file} ({PINS_VARIABLE})"
        else:
            file, origin = PACKAGE_PINS, "the upstream pins"
        if not file.is_file():
            raise PinError(f"no pins file at {origin}")
        try:  # read as every JSON file is (`reading`): a size cap before parsing, strictly
            found = reading.read_json(file, MAX_PINS_BYTES, kind=None)
        except reading.ReadError as error:
            raise PinError(f"{file} is not a pins file: {error}") from None
        return cls.parse(found, origin)

    @classmethod
    def parse(cls, found, origin: str) -> "Pins":
        """Pins from their JSON value, every field checked; a PinError says what is wrong and where."""
        keys = ("csv_sha256", "posters_sha256", "posters")
        if not isinstance(found, dict) or sorted(found) != sorted(keys):
            raise PinError(f"{origin} is not a pins file: it must hold exactly {', '.join(keys)}")
        for key in keys[:2]:
            if not isinstance(found[key], str) or not SHA256.fullmatch(found[key]):
                raise PinError(f"{origin}: {key} must be 64 lowercase hexadecimal digits")
        posters = found["posters"]
        if not isinstance(posters, dict) or not posters:
            raise PinError(f"{origin}: posters must map each Id to its pin")
        for movie_id, pin in posters.items():
            if not (safe_id(movie_id) and len(movie_id) <= MAX_ID) or not isinstance(pin, str) or not POSTER_PIN.fullmatch(pin):
                raise PinError(f"{origin}: the poster pin {str(movie_id)[:40]!r}: {str(pin)[:40]!r} is not an Id (a file name) "
                               f"and {PREFIX} lowercase hexadecimal digits")
        return cls(found["csv_sha256"], found["posters_sha256"], dict(posters), origin)

    @classmethod
    def of(cls, table: bytes, posters: Mapping[str, bytes], origin: str = "pins made here") -> "Pins":
        """The pins of a CSV and its posters (by Id): how a pins file is made."""
        full = {movie_id: hashlib.sha256(data).hexdigest() for movie_id, data in posters.items()}
        return cls(hashlib.sha256(table).hexdigest(), set_digest(full), {movie_id: full[movie_id][:PREFIX] for movie_id in sorted(full)},
                   origin)

    def dumps(self) -> str:
        """The pins file's text (one poster a line, so that a change reads as a diff)."""
        found = {"csv_sha256": self.csv_sha256, "posters_sha256": self.posters_sha256, "posters": dict(sorted(self.posters.items()))}
        return json.dumps(found, indent=0) + "\n"

    def check_csv(self, path: Path) -> None:
        with open(path, "rb") as handle:
            found = hashlib.file_digest(handle, "sha256").hexdigest()
        if found != self.csv_sha256:
            raise PinError(f"{CSV_FILE} does not match its pin in {self.origin}: the download is damaged, or the server sent "
                           "another file")

    def check_poster(self, movie_id: str, data: bytes) -> str:
        """The poster's full sha256, once its first digits match its pin; a PinError names it otherwise."""
        digest = hashlib.sha256(data).hexdigest()
        if digest[:PREFIX] != self.posters[movie_id]:
            raise PinError(f"{IMAGES_DIR}/{movie_id}.jpg does not match its pin in {self.origin}: the download is damaged, or the "
                           "server sent another file")
        return digest

    def check_set(self, digests: Mapping[str, str]) -> None:
        """All the posters' full sha256 together against `posters_sha256` (see the module docstring)."""
        if set_digest(digests) != self.posters_sha256:
            raise PinError(f"the posters together do not match posters_sha256 in {self.origin}, though each matched its own "
                           "pin: a poster was forged to match it, or the pins file was edited by hand")

    def check_ids(self, ids: list[str]) -> None:
        """The CSV's Ids are the posters pinned, each once (a pins file made for another CSV is refused)."""
        if len(set(ids)) != len(ids):
            raise PinError(f"{CSV_FILE} names a movie twice")
        if set(ids) != set(self.posters):
            extra, missing = len(set(ids) - set(self.posters)), len(set(self.posters) - set(ids))
            raise PinError(f"{CSV_FILE} and {self.origin} do not name the same movies ({extra} Ids without a poster pin, "
                           f"{missing} poster pins for no row): the pins were made for another CSV")


def set_digest(digests: Mapping[str, str]) -> str:
    return hashlib.sha256("".join(f"{movie_id} {digests[movie_id]}\n" for movie_id in sorted(digests)).encode()).hexdigest()

