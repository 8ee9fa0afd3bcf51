"""`genre-hf data`: the Multimodal IMDB data set from its public home, written in the upstream layout.

Where it comes from (both pinned to a commit):

- the CSV, from the Keras coursework copy of the data set (POSTERS and CSV below), fetched alone by
  GitHub's raw address (`/OWNER/REPO/raw/COMMIT/PATH`, 1.5 MB). Its repository's archive would be
  192 MB for it, and the posters in there are squashed to 150x300, which is not what is used.
- the posters, at their true aspect, from the archive of abilpandoli/movie_recommendation at a
  commit whose posters are plain files (`/OWNER/REPO/archive/COMMIT.tar.gz`, about 260 MB; later
  commits hold Git LFS pointers). Only the posters the CSV names are written; the rest is skipped.

GENRE_HF_DATA_URL stands in for https://github.com: a mirror that serves the same paths, or a test's
server. GitHub makes archives on demand and does not promise the same bytes twice, so the archive
has no pin: what comes out of it has (`pins.py`: the CSV's sha256, one per poster, one for the set).

The archive is read as a stream, once (tarfile "r|gz"), never held in memory, and written from
only under names made from the pinned Ids, never from the archive's own names. As the upstream
archive is nothing else, an archive that holds a member outside its folder, a link or a device, a
poster over MAX_POSTER_BYTES, over MAX_MEMBERS members or MAX_ARCHIVE_BYTES in all, or an extended
header over MAX_HEADER_BYTES (which tarfile would read whole) is refused, and so is one that ends
before every poster came.

The data set is written into a staging folder beside `out` and renamed into place at the end. An
`out` that holds the complete data set is reported and left alone; anything else there is refused:
nothing of a user's is overwritten or removed. A run that stops (Ctrl-C, a lost connection, killed)
leaves its staging folder with the download in it; the next run takes the download over, resumes it
(`fetch.py`) and removes the rest. A download that proves bad is removed, so the next run starts over.

The posters are shrunk to POSTER_SIZE px on their long side, as the development copy of the data was
built: Pillow's full-resolution LANCZOS resize (`thumbnail(..., reducing_gap=None)`: no JPEG draft
decoding, which would change the result of the tallest posters), saved as JPEG at quality 90,
optimised. With the locked Pillow (12.3.0) that copy is reproduced byte for byte, bar one poster of
5,714. A poster that already fits is written as it came, so a mirror of that copy round-trips
unchanged; `original_posters` keeps every poster as it came (about 210 MB).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from genre_hf import staging
from genre_hf.data import upstream
from genre_hf.data.fetch import Unreachable, fetch
from genre_hf.data.pins import PinError, Pins

URL_VARIABLE = "GENRE_HF_DATA_URL"
DEFAULT_URL = "https://github.com"
LICENCE = "The posters belong to their studios and the texts to IMDb: research and educational use only."
README_TEMPLATE = Path(__file__).with_name("download_readme.md")
POSTER_SIZE = 128  # px on the long side
JPEG_QUALITY = 90
ARCHIVE = "posters.tar.gz"  # the download's name in the staging folder
MAX_CSV_BYTES = 64 * 2**20  # the upstream CSV is 1.5 MB
MAX_ARCHIVE_BYTES = 2**30  # downloaded, and all the archive's members together: the upstream's are about 260 MB
MAX_MEMBERS = 20_000  # the upstream archive has 7,873
MAX_POSTER_BYTES = 4 * 2**20  # the largest upstream poster has 68 kB
MAX_HEADER_BYTES = 64 * 2**10  # a pax or GNU long-name header (GitHub's holds the commit id)


@dataclass(frozen=True)
class Repository:
    owner: str
    name: str
    commit: str

    def archive_url(self, base: str) -> str:
        return f"{base}/{self.owner}/{self.name}/archive/{self.commit}.tar.gz"

    def raw_url(self, base: str, path: str) -> str:
        return f"{base}/{self.owner}/{self.name}/raw/{self.commit}/{path}"

    @property
    def folder(self) -> str:
        """The archive's top folder, as GitHub names it."""
        return f"{self.name}-{self.commit}"


CSV = Repository("giridharreddygoddilla", "Multimodal-IMDB-Analysis-with-Keras", "98b230bb82ea11eb26ea091b3fcf96a837bf6517")
CSV_PATH = f"Multimodal_IMDB_dataset/{upstream.CSV_FILE}"
POSTERS = Repository("abilpandoli", "movie_recommendation", "2be6377fb02c7ea0582eae5b18d311e7be241ee0")


class ArchiveError(ValueError):
    """The posters archive is not the upstream's: an unsafe member, too large, or cut short."""


def source_url() -> str:
    """GENRE_HF_DATA_URL, else GitHub, without a trailing slash."""
    base = os.environ.get(URL_VARIABLE, "").strip() or DEFAULT_URL
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"{URL_VARIABLE} must be an http(s) address such as {DEFAULT_URL}, not {base[:100]!r}")
    return base.rstrip("/")


def check_destination(out: Path, pins: Pins) -> bool:
    """True if `out` holds the complete data set already; False if it is free (missing, or an empty
    folder); otherwise a ValueError: nothing of a user's is ever overwritten."""
    if not out.exists() and not out.is_symlink():
        return False
    if out.is_dir() and not out.is_symlink() and not any(out.iterdir()):
        return False
    if is_complete(out, pins):
        return True
    raise ValueError(f"{out} already exists and is not the complete data set: nothing was written; choose another --out, "
                     "or move it away")


def is_complete(folder: Path, pins: Pins) -> bool:
    """The CSV matches its pin and every poster it names is there."""
    table = folder / upstream.CSV_FILE
    try:
        pins.check_csv(table)
    except (OSError, PinError):
        return False
    return all((folder / upstream.IMAGES_DIR / f"{movie_id}.jpg").is_file() for movie_id in pins.posters)


def download(out: str | Path, *, original_posters: bool = False, pins: Pins | None = None, log=print,
             progress: bool | None = None) -> Path:
    """The data set in `out` (see the module docstring), after a line on its licence; `pins` default
    to `Pins.load()`."""
    log(LICENCE)
    out = Path(out).expanduser()
    pins = pins or Pins.load()
    base = source_url()
    if check_destination(out, pins):
        log(f"{out} already holds the data set ({len(pins.posters):,} movies, checked against {pins.origin}): left alone")
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with _staging(out) as stage:
        data = stage / "data"
        (data / upstream.IMAGES_DIR).mkdir(parents=True)
        table = _fetch(CSV.raw_url(base, CSV_PATH), stage / upstream.CSV_FILE, base, MAX_CSV_BYTES, upstream.CSV_FILE, progress)
        pins.check_csv(table)
        pins.check_ids([record["Id"].strip() for record in upstream.read_csv(table, ("Id",))])
        table.rename(data / upstream.CSV_FILE)
        log(f"{upstream.CSV_FILE}: {len(pins.posters):,} movies, checked against {pins.origin}")
        archive = _fetch(POSTERS.archive_url(base), stage / ARCHIVE, base, MAX_ARCHIVE_BYTES, "posters archive", progress)
        try:
            extract_posters(archive, POSTERS.folder, pins, data / upstream.IMAGES_DIR, shrink=not original_posters, progress=progress)
        except (ArchiveError, PinError):
            archive.unlink()  # bad: the next run downloads it again
            raise
        (data / "README.md").write_text(_readme(base, pins, original_posters), encoding="utf-8")
        _publish(data, out, pins)
    size = "as they came" if original_posters else f"{POSTER_SIZE} px on the long side"
    log(f"Wrote {len(pins.posters):,} movies (posters {size}) to {out}: train with `genre-hf train --data {out}`")
    return out


def _fetch(url: str, target: Path, base: str, limit: int, what: str, progress: bool | None) -> Path:
    try:
        return fetch(url, target, limit=limit, what=what, progress=progress)
    except Unreachable as error:
        raise Unreachable(f"{error}: check the network, or point {URL_VARIABLE} at a mirror (it is {base})") from None


@contextlib.contextmanager
def _staging(out: Path):
    """A staging folder beside `out`, holding the download of an earlier run that stopped, if any.
    Removed at the end, except for a download worth resuming when the block fails."""
    stage = Path(tempfile.mkdtemp(prefix=staging.prefix(out.name), suffix=".partial", dir=out.parent))
    for earlier in sorted(out.parent.glob(staging.pattern(out.name))):
        mine = earlier.name.startswith(staging.prefix(out.name))  # a failed call earlier in this process
        if earlier != stage and earlier.is_dir() and (mine or not staging.owner_alive(earlier)):
            for name in (ARCHIVE, f"{ARCHIVE}.part", f"{ARCHIVE}.part.etag"):
                if (earlier / name).is_file() and not (stage / name).exists():
                    os.replace(earlier / name, stage / name)
            shutil.rmtree(earlier, ignore_errors=True)
    try:
        yield stage
    except BaseException:
        for path in stage.iterdir():
            if path.is_dir():
                shutil.rmtree(path)
            elif not path.name.startswith(ARCHIVE):
                path.unlink()
        if not any(stage.iterdir()):
            stage.rmdir()
        raise
    shutil.rmtree(stage, ignore_errors=True)


def _publish(data: Path, out: Path, pins: Pins) -> None:
    """Rename the staged data set to `out` (free: missing or an empty folder, which the rename replaces)."""
    try:
        os.rename(data, out)
    except OSError:
        if not is_complete(out, pins):  # something else arrived at `out` meanwhile: it is left alone
            raise ValueError(f"{out} was made by something else while the data set was downloading: it is left alone, and "
                             "nothing was written") from None


class _Header(tarfile.TarInfo):
    """A tar header that refuses an extended header over MAX_HEADER_BYTES before tarfile reads it whole."""

    @classmethod
    def frombuf(cls, buf, encoding, errors):
        header = super().frombuf(buf, encoding, errors)
        if header.type in (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE, tarfile.GNUTYPE_LONGNAME,
                           tarfile.GNUTYPE_LONGLINK) and header.size > MAX_HEADER_BYTES:
            raise ArchiveError(f"the posters archive has an extended header of {header.size:,} bytes, over the "
                               f"{MAX_HEADER_BYTES:,} it can be: refused")
        return header


def extract_posters(archive: Path, folder: str, pins: Pins, images: Path, *, shrink: bool = True, progress: bool | None = None) -> None:
    """Write the pinned posters of `archive` (a GitHub archive whose top folder is `folder`) into
    `images`, each checked against its pin before it is written, shrunk unless `shrink` is False."""
    from tqdm import tqdm

    wanted = {f"{folder}/{upstream.IMAGES_DIR}/{movie_id}.jpg": movie_id for movie_id in pins.posters}
    digests, members, size = {}, 0, 0
    try:
        with tarfile.open(archive, "r|gz", tarinfo=_Header) as tar, tqdm(
                total=len(wanted), unit="poster", desc="posters", file=sys.stderr, mininterval=0.5,
                disable=None if progress is None else not progress) as bar:
            for member in tar:
                members, size = members + 1, size + member.size
                _check_member(member, folder, members, size)
                movie_id = wanted.get(member.name)
                if movie_id is None or member.isdir():
                    continue
                name = f"{upstream.IMAGES_DIR}/{movie_id}.jpg"
                if movie_id in digests:
                    raise ArchiveError(f"the posters archive holds {name} twice: refused")
                if member.size > MAX_POSTER_BYTES:
                    raise ArchiveError(f"{name} in the posters archive is {member.size:,} bytes, over the {MAX_POSTER_BYTES:,} a "
                                       "poster can be: refused")
                poster = tar.extractfile(member).read()
                digests[movie_id] = pins.check_poster(movie_id, poster)
                (images / f"{movie_id}.jpg").write_bytes(shrunk(poster, name) if shrink else poster)
                bar.update()
    except (tarfile.TarError, EOFError, zlib.error) as error:
        raise ArchiveError(f"the posters archive is cut short or damaged ({error}); run the command again to download it "
                           "anew") from None
    missing = sorted(set(pins.posters) - set(digests))
    if missing:
        raise ArchiveError(f"the posters archive ended without {len(missing):,} of its {len(pins.posters):,} posters (the first: "
                           f"{upstream.IMAGES_DIR}/{missing[0]}.jpg): cut short, or not the upstream archive")
    pins.check_set(digests)


def _check_member(member: tarfile.TarInfo, folder: str, members: int, size: int) -> None:
    name = member.name
    if name.startswith("/") or ".." in PurePosixPath(name).parts or not (name == folder or name.startswith(f"{folder}/")):
        raise ArchiveError(f"the posters archive holds {name[:200]!r}, outside its folder {folder}/: refused")
    if not (member.isdir() or (member.isreg() and not member.issparse())):
        kind = "a link" if member.issym() or member.islnk() else "a device or pipe" if member.isdev() else "a special file"
        raise ArchiveError(f"the posters archive holds {kind}, {name[:200]}: refused (the upstream archive holds files and "
                           "folders only)")
    if members > MAX_MEMBERS:
        raise ArchiveError(f"the posters archive holds over {MAX_MEMBERS:,} members: refused")
    if size > MAX_ARCHIVE_BYTES:
        raise ArchiveError(f"the posters archive holds over {MAX_ARCHIVE_BYTES:,} bytes: refused")


def shrunk(poster: bytes, name: str = "the poster") -> bytes:
    """The poster at most POSTER_SIZE px on its long side (see the module docstring); one that fits, as it came."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(poster)) as image:
            if max(image.size) <= POSTER_SIZE:
                return poster
            image.thumbnail((POSTER_SIZE, POSTER_SIZE), Image.LANCZOS, reducing_gap=None)
            out = io.BytesIO()
            image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
            return out.getvalue()
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise ArchiveError(f"{name} is not a readable picture ({error})") from None


def _readme(base: str, pins: Pins, original_posters: bool) -> str:
    from genre_hf import __version__

    return README_TEMPLATE.read_text(encoding="utf-8").format(
        version=__version__, movies=f"{len(pins.posters):,}", csv_url=CSV.raw_url(base, CSV_PATH),
        posters_url=POSTERS.archive_url(base), pins=pins.origin, licence=LICENCE,
        posters="as it came" if original_posters else f"at most {POSTER_SIZE} px on the long side (a larger one shrunk: JPEG quality {JPEG_QUALITY})",
    )

