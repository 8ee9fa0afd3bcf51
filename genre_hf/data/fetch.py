"""One file over HTTP(S) into a local file, picked up where it stopped.

The bytes go to `<file>.part`, renamed to `<file>` once whole. A transfer that breaks (a cut
connection, a stalled server, a killed process) leaves the part; the next try asks for the rest
with an HTTP Range request, sent with If-Range and the first response's ETag so that a file that
changed on the server meanwhile comes whole again, never spliced; a server that ignores ranges
sends it all again. Within one call, a transfer that broke after the server answered is resumed,
up to TRIES times in a row without a new byte; a server that cannot be reached at all, or answers
with an error status, is an error at once (`Unreachable`, `FetchError`): one line, nothing to retry
blindly. The standard library's urllib does the HTTP: it follows redirects (GitHub sends archives
and raw files through one) and honours the usual proxy variables.
"""

from __future__ import annotations

import http.client
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

TIMEOUT = 60.0  # seconds: connecting, and between two reads of a transfer
TRIES = 5  # broken transfers in a row, without a new byte, before giving up
RETRY_SECONDS = 0.5  # the wait after the first broken transfer, doubled after each
CHUNK = 2**20
CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class FetchError(OSError):
    """A download failed; the message says why, on one line."""


class Unreachable(FetchError):
    """The server could not be reached at all (offline, no such host, nothing listening)."""


class _Broken(Exception):
    """A transfer that stopped part-way: resumable."""


def fetch(url: str, target: Path, *, limit: int, what: str, progress: bool | None = None) -> Path:
    """`target`, downloaded from `url`, at most `limit` bytes (more is refused as not the file
    expected). `what` names the file in messages and on the progress bar (shown on a terminal only,
    unless `progress` says otherwise)."""
    part = target.with_name(target.name + ".part")
    failures, answered = 0, False
    while not target.is_file():
        before = _size(part)
        try:
            _transfer(url, part, limit, what, progress)
            part.rename(target)
            _etag_file(part).unlink(missing_ok=True)
        except _Broken as error:
            if not answered and _size(part) == before and isinstance(error.__cause__, urllib.error.URLError):
                reason = getattr(error.__cause__, "reason", error.__cause__)
                raise Unreachable(f"cannot reach {_host(url)} ({reason})") from None
            answered = True
            failures = 0 if _size(part) > before else failures + 1
            if failures >= TRIES:
                raise FetchError(f"{what}: {error}, {TRIES} times in a row; {_size(part):,} bytes are kept: run the command again "
                                 "to resume") from None
            time.sleep(RETRY_SECONDS * 2 ** (failures - 1) if failures else 0)
    return target


def _transfer(url: str, part: Path, limit: int, what: str, progress: bool | None) -> None:
    """Append the rest of the file to `part`, until it is whole; a broken transfer raises _Broken."""
    have = _size(part)
    etag = _etag_file(part)
    headers = {"User-Agent": _user_agent(), "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
        if etag.is_file():
            headers["If-Range"] = etag.read_text().strip()
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT)
    except urllib.error.HTTPError as error:
        with error:
            if error.code == 416 and have:  # the range starts at or past the end: whole already, or another file
                match = re.fullmatch(r"bytes \*/(\d+)", error.headers.get("Content-Range", ""))
                if match and int(match.group(1)) == have:
                    return
                part.unlink()
                raise _Broken("the server would not resume the download") from None
            raise FetchError(f"{what}: {_short(url)} answered {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        raise _Broken(f"the connection failed ({getattr(error, 'reason', error)})") from error
    with response:
        total = _expected_size(response, have)
        if response.status != 206:  # the whole file: start over
            have = 0
            part.write_bytes(b"")
            tag = response.headers.get("ETag", "")
            if tag and not tag.startswith("W/"):  # a weak ETag cannot go in If-Range
                etag.write_text(tag)
            else:
                etag.unlink(missing_ok=True)
        if total is not None and total > limit:
            raise FetchError(f"{what} is {total:,} bytes, over the {limit:,} it can be: not the file expected")
        from tqdm import tqdm

        with open(part, "ab") as out, tqdm(total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024, desc=what,
                                           file=sys.stderr, mininterval=0.5, disable=None if progress is None else not progress) as bar:
            while True:
                try:
                    chunk = response.read1(CHUNK)
                except (OSError, http.client.HTTPException) as error:  # reset, timed out, a chunked body cut short
                    raise _Broken(f"the connection broke after {have:,} bytes ({type(error).__name__})") from None
                if not chunk:
                    break
                have += len(chunk)
                if have > limit:
                    raise FetchError(f"{what} is over the {limit:,} bytes it can be: not the file expected")
                out.write(chunk)
                bar.update(len(chunk))
    if total is not None and have < total:
        raise _Broken(f"the connection ended after {have:,} of {total:,} bytes")


def _expected_size(response, have: int) -> int | None:
    """The file's whole size, when the response says it; a 206 must start where the part ends."""
    if response.status == 206:
        match = CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
        if not match or int(match.group(1)) != have:
            raise _Broken("the server resumed at another byte than asked")
        return int(match.group(3)) if match.group(3) != "*" else None
    length = response.headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else 0


def _etag_file(part: Path) -> Path:
    return part.with_name(part.name + ".etag")


def _host(url: str) -> str:
    return urllib.request.urlparse(url).netloc or url


def _short(url: str) -> str:
    return url if len(url) <= 160 else url[:157] + "..."


def _user_agent() -> str:
    from genre_hf import __version__

    return f"genre_hf/{__version__} (+python-urllib)"
