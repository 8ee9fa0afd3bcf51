"""A GitHub look-alike for `genre-hf data` (standard library and genre_hf's pins only).

It serves what the command downloads, at GitHub's paths, with ``GENRE_HF_DATA_URL=<url>``:

* ``/OWNER/REPO/archive/COMMIT.tar.gz``: a 302 to ``/codeload.github.com/OWNER/REPO/tar.gz/COMMIT``,
  as github.com sends to codeload.github.com; there, the posters archive shaped as GitHub makes it
  (``git archive``): a pax global header whose comment is the commit, the top folder
  ``REPO-COMMIT/`` with ``.gitattributes``, ``Images/<Id>.jpg`` in name order and the repository's
  other files, modes 0664/0775, every time the commit's.
* ``/OWNER/REPO/raw/COMMIT/PATH``: a 302 to ``/raw.githubusercontent.com/OWNER/REPO/COMMIT/PATH``
  (GitHub's raw host), which serves the CSV.

Both answer Range requests (206, Content-Range; 416 past the end) and honour If-Range against their
strong ETag. Made from a folder in the upstream layout (``GithubServer.from_data``), a subset of its
rows or all of them; ``pins()`` are the pins of what it serves, for GENRE_HF_DATA_PINS.

Misbehaving, for tests (attributes, changed at any time):

* ``cut_at`` and ``cuts``: the next ``cuts`` archive responses stop at byte ``cut_at`` of the file
  (one that starts there sends nothing) and close the connection, short of the Content-Length they
  promised;
* ``status``: {"archive" | "csv": code}: answer with that error status instead;
* ``delay``: seconds slept before each 16 kB of a body (a slow server);
* ``ranges``: False: ignore Range headers and send the whole file (200), as some servers do;
* ``archive`` / ``table``: the bytes served, for wrong or cut-short content (``rebuild()`` makes the
  archive again from ``posters``, ``others`` and ``extra_members``).

``requests`` records (path, Range, If-Range) of every request.

Run standalone: ``python tests/github_server.py --data ../shared/data/imdb-multimodal --port 0
--pins-out FILE`` serves all of it (``--rows N``: the first N movies); the first stdout line is
``Serving on URL``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gzip
import hashlib
import io
import re
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from genre_hf.data.download import CSV, CSV_PATH, POSTERS
from genre_hf.data.pins import Pins

COMMIT_TIME = 1736386599  # the posters commit's time, which GitHub gives every member
GITATTRIBUTES = b"Images/* filter=lfs diff=lfs merge=lfs -text\n"
OTHER_FILES = {"movies_with_ratings.csv": b"title,rating\n", "requirements.txt": b"pandas\n", "week1.py": b"print('week 1')\n"}
BLOCK = 16 * 1024
RANGE = re.compile(r"bytes=(\d+)-$")


def read_data(data: Path, rows: int | None = None, others: int = 0) -> tuple[bytes, dict[str, bytes], dict[str, bytes]]:
    """(the CSV of the first `rows` movies, their posters by Id, the posters of the next `others`
    movies: in the archive, not in the CSV, as upstream has posters of movies its CSV lacks)."""
    with open(data / "IMDB_overview_genres.csv", newline="", encoding="utf-8") as handle:
        records = list(csv.reader(handle))
    header, body = records[0], records[1:]
    chosen = body if rows is None else body[:rows]
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows([header, *chosen])  # the upstream file's own dialect
    posters = {record[0]: (data / "Images" / f"{record[0]}.jpg").read_bytes() for record in chosen}
    extra = body[len(chosen):len(chosen) + others]
    return out.getvalue().encode("utf-8"), posters, {record[0]: (data / "Images" / f"{record[0]}.jpg").read_bytes() for record in extra}


def build_archive(posters: dict[str, bytes], extra_members=()) -> bytes:
    """The posters repository's archive as GitHub makes it; `extra_members` ((TarInfo, bytes or None), ...)
    come right after the Images folder, before the posters."""
    top = POSTERS.folder
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=6, mtime=COMMIT_TIME) as zipped, \
            tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"comment": POSTERS.commit}) as tar:
        def add(name: str, data: bytes | None) -> None:
            member = tarfile.TarInfo(f"{top}/{name}" if name else top)
            member.mtime, member.uname, member.gname = COMMIT_TIME, "root", "root"
            if data is None:
                member.type, member.mode = tarfile.DIRTYPE, 0o775
                tar.addfile(member)
            else:
                member.size, member.mode = len(data), 0o664
                tar.addfile(member, io.BytesIO(data))

        add("", None)
        add(".gitattributes", GITATTRIBUTES)
        add("Images", None)
        for member, data in extra_members:
            tar.addfile(member, io.BytesIO(data) if data is not None else None)
        for movie_id in sorted(posters):
            add(f"Images/{movie_id}.jpg", posters[movie_id])
        for name, data in OTHER_FILES.items():
            add(name, data)
    return buffer.getvalue()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    github: "GithubServer"


class GithubServer:
    """``with GithubServer.from_data(folder, rows=60) as github: ... github.url ...``"""

    def __init__(self, table: bytes, posters: dict[str, bytes], others: dict[str, bytes] | None = None, extra_members=(),
                 host: str = "127.0.0.1", port: int = 0):
        self.table, self.posters, self.others, self.extra_members = table, dict(posters), dict(others or {}), list(extra_members)
        self.host, self.port = host, port
        self.cut_at: int | None = None
        self.cuts = 0
        self.status: dict[str, int] = {}
        self.delay = 0.0
        self.ranges = True
        self.requests: list[tuple[str, str | None, str | None]] = []
        self.lock = threading.Lock()
        self._httpd: _HTTPServer | None = None
        self.rebuild()

    @classmethod
    def from_data(cls, data: Path, rows: int | None = None, others: int = 0, **kwargs) -> "GithubServer":
        table, posters, other = read_data(Path(data), rows, others)
        return cls(table, posters, other, **kwargs)

    def rebuild(self) -> None:
        self.archive = build_archive({**self.others, **self.posters}, self.extra_members)

    def pins(self) -> Pins:
        """The pins of the CSV served and of the posters it names."""
        ids = [record["Id"] for record in csv.DictReader(io.StringIO(self.table.decode("utf-8"), newline=""))]
        return Pins.of(self.table, {movie_id: self.posters[movie_id] for movie_id in ids})

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "GithubServer":
        self._httpd = _HTTPServer((self.host, self.port), _Handler)
        self._httpd.github = self
        self.port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "GithubServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def log_message(self, format, *args) -> None:  # quiet: tests read `requests`
        pass

    def do_GET(self) -> None:
        github = self.server.github
        github.requests.append((self.path, self.headers.get("Range"), self.headers.get("If-Range")))
        archive = f"/{POSTERS.owner}/{POSTERS.name}/archive/{POSTERS.commit}.tar.gz"
        codeload = f"/codeload.github.com/{POSTERS.owner}/{POSTERS.name}/tar.gz/{POSTERS.commit}"
        raw = f"/{CSV.owner}/{CSV.name}/raw/{CSV.commit}/{CSV_PATH}"
        raw_host = f"/raw.githubusercontent.com/{CSV.owner}/{CSV.name}/{CSV.commit}/{CSV_PATH}"
        if self.path in (archive, raw):
            self._answer(302, b"", {"Location": codeload if self.path == archive else raw_host})
        elif self.path == codeload:
            self._file("archive", github.archive, "application/x-gzip")
        elif self.path == raw_host:
            self._file("csv", github.table, "text/plain; charset=utf-8")
        else:
            self._answer(404, b"Not Found", {})

    def _file(self, kind: str, data: bytes, content_type: str) -> None:
        github = self.server.github
        if kind in github.status:
            self._answer(github.status[kind], b"error", {})
            return
        etag = f'"{hashlib.sha1(data).hexdigest()}"'
        headers = {"Content-Type": content_type, "ETag": etag, "Accept-Ranges": "bytes"}
        start, status = 0, 200
        match = RANGE.fullmatch(self.headers.get("Range", ""))
        if match and github.ranges and self.headers.get("If-Range", etag) == etag:
            start, status = int(match.group(1)), 206
            if start >= len(data):
                self._answer(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                return
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        end = len(data)
        with github.lock:
            if kind == "archive" and github.cut_at is not None and github.cuts > 0 and start <= github.cut_at < end:
                github.cuts -= 1
                end = github.cut_at
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(data) - start)}.items():
            self.send_header(name, value)
        self.end_headers()
        for offset in range(start, end, BLOCK):
            time.sleep(github.delay)
            try:
                self.wfile.write(data[offset:min(offset + BLOCK, end)])
                self.wfile.flush()
            except OSError:  # the client went away
                break
        if end < len(data):
            self.close_connection = True

    def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the data set as GitHub does, for `genre-hf data` (GENRE_HF_DATA_URL).")
    parser.add_argument("--data", required=True, help="a folder in the upstream layout")
    parser.add_argument("--rows", type=int, default=None, help="serve the first N movies only (default: all)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--pins-out", required=True, help="write the pins of what is served here (for GENRE_HF_DATA_PINS)")
    args = parser.parse_args(argv)
    server = GithubServer.from_data(Path(args.data), args.rows, host=args.host, port=args.port)
    Path(args.pins_out).write_text(server.pins().dumps(), encoding="utf-8")
    with server, contextlib.suppress(KeyboardInterrupt):
        print(f"Serving on {server.url}", flush=True)  # first line: a parent process reads the URL from it
        threading.Event().wait()

if __name__ == "__main__":
    main()
