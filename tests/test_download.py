"""`genre-hf data` against a GitHub look-alike on 127.0.0.1 (tests/github_server.py) serving real movies
of ../shared: the data set written as ../shared has it, resumed after a cut or a kill, and every way
it can go wrong ended in one line with nothing of the user's touched."""

from __future__ import annotations

import csv
import io
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from PIL import Image

from genre_hf.cli import main
from genre_hf.data.download import LICENCE, MAX_HEADER_BYTES, MAX_POSTER_BYTES, POSTERS, ArchiveError, extract_posters
from genre_hf.data.pins import PACKAGE_PINS, PinError, Pins
from tests.conftest import DATA
from tests.github_server import GithubServer, build_archive

ROWS = 60  # real movies served: the first ROWS of ../shared, and the posters of 5 more that the CSV does not name
MIRROR = Path("/work/.mirror/giridharreddygoddilla+Multimodal-IMDB-Analysis-with-Keras/repo")  # a clone of the CSV's repository


@pytest.fixture(scope="module")
def server():
    with GithubServer.from_data(DATA, rows=ROWS, others=5) as started:
        yield started


@pytest.fixture
def github(server):
    """The module's server, its misbehaviour and content put back after each test."""
    table, posters, archive = server.table, dict(server.posters), server.archive
    server.requests.clear()
    yield server
    server.cut_at, server.cuts, server.status, server.delay, server.ranges = None, 0, {}, 0.0, True
    server.table, server.posters, server.extra_members, server.archive = table, posters, [], archive


@pytest.fixture(scope="module")
def pins_file(server, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pins") / "pins.json"
    path.write_text(server.pins().dumps())
    return path


def environment(url: str, pins: Path) -> dict:
    return {**os.environ, "GENRE_HF_DATA_URL": url, "GENRE_HF_DATA_PINS": str(pins)}


def command(out: Path, *options: str) -> list[str]:
    return [sys.executable, "-m", "genre_hf", "data", "--out", str(out), *options]


def in_process(monkeypatch, capsys, github, pins: Path, out: Path, *options: str) -> tuple[int, str, str]:
    """`genre-hf data` run in this process (the same `main` the command runs): status, stdout, stderr."""
    monkeypatch.setenv("GENRE_HF_DATA_URL", github.url)
    monkeypatch.setenv("GENRE_HF_DATA_PINS", str(pins))
    status = main(["data", "--out", str(out), *options])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def archive_requests(github) -> list[tuple[str, str | None, str | None]]:
    return [request for request in github.requests if request[0].startswith("/codeload.github.com/")]


def assert_same_as_shared(out: Path, github) -> None:
    """The CSV is the one served, its rows ../shared's first ROWS; every poster is ../shared's, byte for byte."""
    assert (out / "IMDB_overview_genres.csv").read_bytes() == github.table
    with open(DATA / "IMDB_overview_genres.csv", newline="", encoding="utf-8") as handle:
        shared = list(csv.reader(handle))[: ROWS + 1]
    with open(out / "IMDB_overview_genres.csv", newline="", encoding="utf-8") as handle:
        assert list(csv.reader(handle)) == shared
    ids = [row[0] for row in shared[1:]]
    assert sorted(path.name for path in (out / "Images").iterdir()) == sorted(f"{movie_id}.jpg" for movie_id in ids)
    for movie_id in ids:
        assert (out / "Images" / f"{movie_id}.jpg").read_bytes() == (DATA / "Images" / f"{movie_id}.jpg").read_bytes(), movie_id


def assert_nothing_left(parent: Path, *keep: str) -> None:
    """No staging folder or download left beside the target (hidden ones included)."""
    assert sorted(path.name for path in parent.iterdir()) == sorted(keep)


def test_the_data_set_is_written_as_the_shared_copy_has_it(github, pins_file, tmp_path):
    from genre_hf.data.loader import load_movies
    from tests.conftest import write_subset

    out = tmp_path / "data" / "imdb-multimodal"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-X", "importtime", *command(out)[1:]], env=environment(github.url, pins_file),
                          capture_output=True, text=True, timeout=120)
    seconds = time.perf_counter() - started
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[0] == LICENCE
    assert f"Wrote {ROWS} movies" in done.stdout
    assert_same_as_shared(out, github)
    assert LICENCE in (out / "README.md").read_text()
    assert_nothing_left(out.parent, "imdb-multimodal")
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert "PIL.Image" in imported and not [name for name in imported if name.split(".")[0] in ("tensorflow", "keras")]
    assert [request[1] for request in archive_requests(github)] == [None]  # one archive download, whole
    assert seconds < 30, seconds

    # The loader reads it as it reads the same movies taken from ../shared.
    downloaded, report = load_movies(out)
    shared, _ = load_movies(write_subset(DATA, tmp_path / "shared", rows=ROWS))
    assert report.rows_in == ROWS
    for split in shared:
        assert downloaded[split]["id"] == shared[split]["id"] and downloaded[split]["genres"] == shared[split]["genres"]
        assert downloaded[split]["overview"] == shared[split]["overview"]


@pytest.mark.parametrize("ranges", [True, False], ids=["resumed", "server-ignores-ranges"])
def test_a_cut_connection_is_resumed(github, pins_file, tmp_path, monkeypatch, capsys, ranges):
    github.cut_at, github.cuts, github.ranges = len(github.archive) // 2, 1, ranges
    status, _, err = in_process(monkeypatch, capsys, github, pins_file, tmp_path / "out")
    assert status == 0, err
    assert_same_as_shared(tmp_path / "out", github)
    requests = archive_requests(github)
    assert len(requests) == 2
    assert requests[1][1] == f"bytes={len(github.archive) // 2}-" and requests[1][2].startswith('"')
    assert_nothing_left(tmp_path, "out")


def test_a_download_that_keeps_breaking_is_kept_for_the_next_run(github, pins_file, tmp_path, monkeypatch, capsys):
    from genre_hf.data import fetch

    monkeypatch.setattr(fetch, "RETRY_SECONDS", 0.0)
    cut = len(github.archive) // 3
    github.cut_at, github.cuts = cut, 100  # every response stops at the same byte: no progress after the first
    status, _, err = in_process(monkeypatch, capsys, github, pins_file, tmp_path / "out")
    assert status == 2 and err.count("\n") == 1, err
    assert f"{fetch.TRIES} times in a row; {cut:,} bytes are kept: run the command again to resume" in err, err
    assert len(archive_requests(github)) == 1 + fetch.TRIES and not (tmp_path / "out").exists()

    github.cuts = 0
    status, _, err = in_process(monkeypatch, capsys, github, pins_file, tmp_path / "out")
    assert status == 0, err
    assert archive_requests(github)[-1][1] == f"bytes={cut}-"
    assert_same_as_shared(tmp_path / "out", github)
    assert_nothing_left(tmp_path, "out")


def test_a_killed_run_is_resumed_by_the_next(github, pins_file, tmp_path):
    github.delay = 0.3  # about 6 s for the archive: the run is killed once its first bytes are in
    out = tmp_path / "out"
    running = subprocess.Popen(command(out), env=environment(github.url, pins_file), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not [part for part in tmp_path.glob(".out-*.partial/posters.tar.gz.part") if part.stat().st_size > 0]:
        assert running.poll() is None and time.monotonic() < deadline, "the download did not start"
        time.sleep(0.05)
    os.kill(running.pid, signal.SIGKILL)
    running.wait()
    (part,) = tmp_path.glob(".out-*.partial/posters.tar.gz.part")
    kept = part.stat().st_size
    assert 0 < kept < len(github.archive) and not out.exists()

    github.delay = 0.0
    done = subprocess.run(command(out), env=environment(github.url, pins_file), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert archive_requests(github)[-1][1] == f"bytes={kept}-"
    assert_same_as_shared(out, github)
    assert_nothing_left(tmp_path, "out")  # the killed run's staging folder too


def test_a_damaged_poster_is_named_and_nothing_is_written(github, pins_file, tmp_path, monkeypatch, capsys):
    damaged = sorted(github.posters)[7]
    poster = bytearray(github.posters[damaged])
    poster[len(poster) // 2] ^= 0xFF
    github.posters[damaged] = bytes(poster)
    github.rebuild()
    status, _, err = in_process(monkeypatch, capsys, github, pins_file, tmp_path / "out")
    assert status == 2
    assert err.count("\n") == 1 and f"Images/{damaged}.jpg does not match its pin" in err, err
    assert_nothing_left(tmp_path)  # the bad download is removed too: the next run starts over


def test_a_wrong_csv_is_named(github, pins_file, tmp_path, monkeypatch, capsys):
    github.table = github.table.replace(b"Aurora", b"Aurore", 1)
    status, _, err = in_process(monkeypatch, capsys, github, pins_file, tmp_path / "out")
    assert status == 2 and err.count("\n") == 1 and "IMDB_overview_genres.csv does not match its pin" in err, err
    assert archive_requests(github) == []
    assert_nothing_left(tmp_path)


def test_a_cut_short_archive_is_refused(github, pins_file, tmp_path, monkeypatch, capsys):
    github.archive = github.archive[: len(github.archive) // 2]  # served whole: the file itself ends early
    status, _, err = in_process(monkeypatch, capsys, github, pins_file, tmp_path / "out")
    assert status == 2 and err.count("\n") == 1 and "the posters archive is cut short" in err, err
    assert_nothing_left(tmp_path)


@pytest.mark.parametrize("kind, code", [("csv", 404), ("archive", 503)])
def test_a_server_error_is_one_line(github, pins_file, tmp_path, monkeypatch, capsys, kind, code):
    github.status = {kind: code}
    status, _, err = in_process(monkeypatch, capsys, github, pins_file, tmp_path / "out")
    assert status == 2 and err.count("\n") == 1 and f"answered {code}" in err, err
    assert not (tmp_path / "out").exists()


def test_offline_is_one_line_that_names_the_variable(pins_file, tmp_path):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # nothing listens there once closed
    done = subprocess.run(command(tmp_path / "out"), env=environment(f"http://127.0.0.1:{port}", pins_file), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "cannot reach 127.0.0.1" in done.stderr and "GENRE_HF_DATA_URL" in done.stderr, done.stderr
    assert_nothing_left(tmp_path)


def test_an_existing_folder_is_never_overwritten(github, pins_file, tmp_path, monkeypatch, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    status, _, err = in_process(monkeypatch, capsys, github, pins_file, mine)
    assert status == 2 and err.count("\n") == 1 and "already exists and is not the complete data set" in err, err
    assert [path.name for path in mine.iterdir()] == ["notes.txt"] and (mine / "notes.txt").read_text() == "my notes"

    complete = tmp_path / "complete"  # the data set, as a user may have copied it
    (complete / "Images").mkdir(parents=True)
    (complete / "IMDB_overview_genres.csv").write_bytes(github.table)
    for movie_id, poster in github.posters.items():
        (complete / "Images" / f"{movie_id}.jpg").write_bytes(poster)
    before = {path: path.stat().st_mtime_ns for path in complete.rglob("*")}
    status, out, err = in_process(monkeypatch, capsys, github, pins_file, complete)
    assert status == 0 and "already holds the data set" in out, err
    assert {path: path.stat().st_mtime_ns for path in complete.rglob("*")} == before
    assert github.requests == []  # nothing was downloaded for either


def test_a_large_poster_is_shrunk_unless_the_originals_are_asked_for(pins_file, tmp_path, monkeypatch, capsys):
    with GithubServer.from_data(DATA, rows=3) as small:
        movie_id = sorted(small.posters)[0]
        with Image.open(DATA / "Images" / f"{movie_id}.jpg") as image:
            larger = image.resize((image.width * 3, image.height * 3), Image.LANCZOS)
        buffer = io.BytesIO()
        larger.save(buffer, "JPEG", quality=95)
        small.posters[movie_id] = buffer.getvalue()
        small.rebuild()
        pins = tmp_path / "pins.json"
        pins.write_text(small.pins().dumps())
        for options, name in (((), "shrunk"), (("--original-posters",), "original")):
            status, _, err = in_process(monkeypatch, capsys, small, pins, tmp_path / name, *options)
            assert status == 0, err
    assert (tmp_path / "original" / "Images" / f"{movie_id}.jpg").read_bytes() == small.posters[movie_id]
    with Image.open(tmp_path / "shrunk" / "Images" / f"{movie_id}.jpg") as shrunk:
        assert max(shrunk.size) == 128 and abs(shrunk.width / shrunk.height - larger.width / larger.height) < 0.02
    for other in sorted(small.posters)[1:]:  # already 128 px: as they came
        assert (tmp_path / "shrunk" / "Images" / f"{other}.jpg").read_bytes() == (DATA / "Images" / f"{other}.jpg").read_bytes()


def _member(name: str, kind: bytes = tarfile.REGTYPE, size: int = 0, link: str = "", pax: dict | None = None) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type, member.size, member.linkname = kind, size, link
    member.pax_headers = pax or {}
    return member


TOP = POSTERS.folder


@pytest.mark.parametrize("members, refusal", [
    ([(_member(f"{TOP}/../../escaped.jpg", size=3), b"bad")], "outside its folder"),
    ([(_member("/tmp/escaped.jpg", size=3), b"bad")], "outside its folder"),
    ([(_member(f"{TOP}/Images/FIRST.jpg", tarfile.SYMTYPE, link="/etc/passwd"), None)], "a link, "),
    ([(_member(f"{TOP}/Images/hard", tarfile.LNKTYPE, link=f"{TOP}/.gitattributes"), None)], "a link, "),
    ([(_member(f"{TOP}/dev", tarfile.CHRTYPE), None)], "a device"),
    ([(_member(f"{TOP}/Images/FIRST.jpg", size=MAX_POSTER_BYTES + 1), bytes(MAX_POSTER_BYTES + 1))], "over the 4,194,304 a poster"),
    ([(_member(f"{TOP}/notes", size=1, pax={"comment": "x" * (MAX_HEADER_BYTES + 1)}), b"x")], "extended header"),
], ids=["dot-dot", "absolute", "symlink", "hard-link", "device", "oversized-poster", "huge-header"])
def test_an_unsafe_archive_is_refused(server, tmp_path, members, refusal):
    first = sorted(server.posters)[0]
    members = [(_member(member.name.replace("FIRST", first), member.type, member.size, member.linkname, member.pax_headers), data)
               for member, data in members]
    archive = tmp_path / "posters.tar.gz"
    archive.write_bytes(build_archive(server.posters, members))
    images = tmp_path / "out" / "Images"
    images.mkdir(parents=True)
    with pytest.raises(ArchiveError, match=refusal) as refused:
        extract_posters(archive, TOP, server.pins(), images)
    assert "\n" not in str(refused.value)
    assert list(images.iterdir()) == [] and not list(tmp_path.parent.glob("escaped.jpg")) and not Path("/tmp/escaped.jpg").exists()


def test_a_bad_pins_file_is_one_line(tmp_path):
    for text, problem in (("{", "is not a pins file"), ('{"csv_sha256": "0"}', "must hold exactly"),
                          ('{"csv_sha256": "%s", "posters_sha256": "%s", "posters": {"../x": "%s"}}' % ("0" * 64, "0" * 64, "0" * 16),
                           "is not an Id")):
        (tmp_path / "pins.json").write_text(text)
        with pytest.raises(PinError, match=problem) as refused:
            Pins.load(tmp_path / "pins.json")
        assert "\n" not in str(refused.value)


def test_the_upstream_pins_name_6325_movies_the_shared_ones_among_them(monkeypatch):
    """The package's pins, the ones a user's download is held to: 6,325 posters, ../shared's 5,714 movies among them."""
    monkeypatch.delenv("GENRE_HF_DATA_PINS", raising=False)
    pins = Pins.load()
    assert pins.origin == "the upstream pins" and Pins.load(PACKAGE_PINS).posters == pins.posters
    assert len(pins.posters) == 6325
    with open(DATA / "IMDB_overview_genres.csv", newline="", encoding="utf-8") as handle:
        shared = [row["Id"] for row in csv.DictReader(handle)]
    assert len(shared) == 5714 and set(shared) <= set(pins.posters)


@pytest.mark.skipif(not MIRROR.is_dir(), reason=f"no clone of the coursework CSV's repository at {MIRROR}")
def test_the_upstream_pins_are_the_coursework_csv_and_its_movies():
    """Against a clone of the CSV's repository at the pinned commit, without downloading: the CSV's
    sha256 is the pinned one, and its 6,325 Ids, each once, are the posters pinned."""
    from genre_hf.data.download import CSV, CSV_PATH

    pins = Pins.load(PACKAGE_PINS)
    table = subprocess.run(["git", "-C", str(MIRROR), "show", f"{CSV.commit}:{CSV_PATH}"], check=True, capture_output=True).stdout
    ids = [row["Id"] for row in csv.DictReader(io.StringIO(table.decode("utf-8"), newline=""))]
    assert len(ids) == len(set(ids)) == 6325 and set(ids) == set(pins.posters)
    assert Pins.of(table, {}).csv_sha256 == pins.csv_sha256
