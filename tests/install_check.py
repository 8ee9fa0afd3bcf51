"""What each install gives a user, checked as a user has it: `make install-check` (CI runs it too).

The wheel is built from this checkout and installed into fresh virtual environments, one per row of
the install table (docs/install.md): no extras, `[app]` and `[pretrained]` (dependency versions held to
requirements.txt, so the check is repeatable; the pip cache keeps it fast). In each, from a folder
outside the checkout, with only that environment on PATH, it runs what that table promises for that
install against a 127.0.0.1 Hub (tests/hub_server.py): `genre-hf train --epochs 1` on a small real
subset, `predict` into CSV, Parquet and JSON Lines (and from a Parquet source), `evaluate`, `push`,
and in Python `from_pretrained` from the Hub, `predict`, `explain`, `save_pretrained`; with `[app]`
the app answering one `/predict` call; with `[pretrained]` the pretrained family trained and
predicted. What an install lacks must be one line naming the extra, exit status 2.

    .venv/bin/python tests/install_check.py [--only base,app,pretrained] [--keep]

Prints how long each install and its checks took.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.conftest import DATA, MINILM_REPO, _minilm_folder, write_subset  # noqa: E402 (the data and encoder the tests use)

TOKEN = "install-check-token"
INSTALLS = {"base": "", "app": "[app]", "pretrained": "[pretrained]"}
APP_ERROR = 'error: genre-hf app needs the app extra: pip install "genre_hf[app]"'
PYTHON_USE = """
import sys
from genre_hf import GenreClassifier

clf = GenreClassifier.from_pretrained(sys.argv[1])
result = clf.predict(poster=sys.argv[2], overview="A retired hitman seeks revenge.")
assert set(result) == {"poster", "overview", "fusion"}, result
batch = clf.predict(poster=[sys.argv[2], sys.argv[2]], overview=["A heist goes wrong.", "Two friends fall in love."])
assert len(batch) == 2
explained = clf.explain(poster=sys.argv[2], overview="A retired hitman seeks revenge.")
assert explained["genre"] and explained["word_scores"] and explained["modalities"], sorted(explained)
clf.save_pretrained("saved-copy")
again = GenreClassifier.from_pretrained("saved-copy").predict(poster=sys.argv[2], overview="A retired hitman seeks revenge.")
assert again == result, "a saved copy answers differently"
print("python use ok")
"""
APP_CALL = """
import sys
from gradio_client import Client, handle_file

client = Client(sys.argv[1], verbose=False)
result = client.predict(poster=handle_file(sys.argv[2]), overview="A retired hitman seeks revenge.", api_name="/predict")
assert {"poster", "overview", "fusion", "errors", "notes"} <= set(result) and result["fusion"]["genres"] is not None, result
print("app answered")
"""


class Check:
    def __init__(self, work: Path, hub_url: str):
        self.work, self.hub_url, self.timings = work, hub_url, {}

    def env(self, venv: Path, name: str) -> dict[str, str]:
        """Only this environment on PATH, its own Hub cache, the 127.0.0.1 Hub; nothing of the checkout."""
        keep = {key: os.environ[key] for key in ("LANG", "LC_ALL", "TMPDIR", "TERM") if key in os.environ}
        return {
            **keep, "PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(self.work / f"home-{name}"), "HF_HOME": str(self.work / f"hf-{name}"),
            "HF_ENDPOINT": self.hub_url, "HF_TOKEN": TOKEN, "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
            "GRADIO_ANALYTICS_ENABLED": "False", "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
        }

    def run(self, env: dict, cwd: Path, *command: str, status: int = 0, timeout: float = 900) -> subprocess.CompletedProcess:
        done = subprocess.run(list(command), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
        if done.returncode != status:
            raise SystemExit(f"FAILED ({done.returncode}, expected {status}): {' '.join(command)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        if "Traceback" in done.stderr:
            raise SystemExit(f"FAILED (a traceback): {' '.join(command)}\n{done.stderr[-3000:]}")
        return done

    def install(self, name: str, extras: str, wheel: Path) -> Path:
        started = time.perf_counter()
        venv = self.work / f"venv-{name}"
        subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, "-c", str(ROOT / "requirements.txt"), f"{wheel}{extras}"], check=True, env={**os.environ, "PIP_NO_INPUT": "1"})
        self.timings[name] = {"install": time.perf_counter() - started}
        return venv

    def base_paths(self, name: str, venv: Path, subset: Path, parquet: Path, poster: Path) -> tuple[dict, Path]:
        """What every install does: train, predict (three formats, two sources), evaluate, push, Python use."""
        env, cwd = self.env(venv, name), self.work / f"run-{name}"
        cwd.mkdir()
        version = self.run(env, cwd, "genre-hf", "--version").stdout
        assert version.startswith("genre_hf "), version
        trained = self.run(env, cwd, "genre-hf", "train", "--data", str(subset), "--out", "model", "--epochs", "1")
        assert "Saved the model folder to model" in trained.stdout and not _tensorflow_noise(trained.stderr), trained.stderr[-2000:]
        for output in ("genres.csv", "genres.parquet", "genres.jsonl"):
            self.run(env, cwd, "genre-hf", "predict", "--model", "model", "--data", str(subset), "--output", output, "--no-progress")
            assert (cwd / output).stat().st_size > 0
        with open(cwd / "genres.csv", newline="", encoding="utf-8") as handle:
            assert len(list(csv.DictReader(handle))) == _rows(subset)
        self.run(env, cwd, "genre-hf", "predict", "--model", "model", "--data", str(parquet), "--output", "from-parquet.jsonl", "--no-progress")
        evaluated = self.run(env, cwd, "genre-hf", "evaluate", "--model", "model", "--data", str(subset), "--split", "test")
        assert "| Fusion |" in evaluated.stdout
        self.run(env, cwd, "genre-hf", "push", "--model", "model", "--repo", f"user/imdb-genres-{name}")
        used = self.run(env, cwd, "python", "-c", PYTHON_USE, f"user/imdb-genres-{name}", str(poster))
        assert "python use ok" in used.stdout
        return env, cwd

    def without_app(self, env: dict, cwd: Path) -> None:
        done = self.run(env, cwd, "genre-hf", "app", "--model", "model", status=2)
        assert done.stderr.strip() == APP_ERROR, done.stderr

    def app(self, env: dict, cwd: Path, poster: Path) -> None:
        import urllib.request

        port = _free_port()
        log = open(cwd / "app.log", "w")
        server = subprocess.Popen(["genre-hf", "app", "--model", "model", "--port", str(port)], env=env, cwd=cwd, stdout=log,
                                  stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 240
            while time.time() < deadline and server.poll() is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5):
                        break
                except OSError:
                    time.sleep(1)
            else:
                raise SystemExit(f"FAILED: the app did not serve on port {port}:\n{(cwd / 'app.log').read_text()[-3000:]}")
            called = self.run(env, cwd, "python", "-c", APP_CALL, f"http://127.0.0.1:{port}/", str(poster))
            assert "app answered" in called.stdout
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()

    def pretrained(self, env: dict, cwd: Path, subset: Path, poster: Path) -> None:
        trained = self.run(env, cwd, "genre-hf", "train", "--family", "pretrained", "--data", str(subset), "--out", "model-pretrained",
                           "--epochs", "1", "--image-size", "64")
        assert "Saved the model folder to model-pretrained" in trained.stdout
        self.run(env, cwd, "genre-hf", "predict", "--model", "model-pretrained", "--data", str(subset), "--output", "pretrained.jsonl",
                 "--no-progress")
        used = self.run(env, cwd, "python", "-c", PYTHON_USE, str(cwd / "model-pretrained"), str(poster))
        assert "python use ok" in used.stdout

    def without_pretrained(self, env: dict, cwd: Path, folder: Path) -> None:
        """A pretrained folder keeps its encoder converted for LiteRT: it predicts without the extra."""
        self.run(env, cwd, "genre-hf", "predict", "--model", str(folder), "--data", str(self.work / "subset"), "--output", "x.csv",
                 "--no-progress")
        assert (cwd / "x.csv").is_file() and _rows(self.work / "subset") >= 1


def _tensorflow_noise(stderr: str) -> bool:
    return any(marker in stderr for marker in ("absl::InitializeLog", "cuInit", "oneDNN custom operations", "cudart_stub"))


def _rows(subset: Path) -> int:
    with open(subset / "IMDB_overview_genres.csv", newline="", encoding="utf-8") as handle:
        return sum(1 for _ in csv.DictReader(handle))


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_data(work: Path) -> tuple[Path, Path, Path]:
    """(subset folder, Parquet file, one poster): 240 real movies in the upstream layout, posters linked."""
    subset = write_subset(DATA, work / "subset", rows=240)
    import pyarrow as pa
    import pyarrow.parquet as pq

    with open(subset / "IMDB_overview_genres.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[:60]
    table = pa.table({"id": [row["Id"] for row in rows], "overview": [row["Overview"] for row in rows],
                      "poster": [{"bytes": (DATA / "Images" / f"{row['Id']}.jpg").read_bytes(), "path": None} for row in rows]})
    pq.write_table(table, work / "movies.parquet")
    return subset, work / "movies.parquet", DATA / "Images" / f"{rows[0]['Id']}.jpg"


def start_hub(work: Path):
    """The Hub look-alike on 127.0.0.1 (in this process), serving all-MiniLM-L6-v2 under its Hub id, the
    pretrained family's encoder; `TOKEN` is the account `user`, which pushes the models."""
    from huggingface_hub import HfApi

    from tests.hub_server import HubServer

    minilm = _minilm_folder()  # before this process's Hub client is pointed at the look-alike
    server = HubServer(work / "hub", token=TOKEN, tokens={"st-token": "sentence-transformers"})
    server.start()
    api = HfApi(endpoint=server.url, token="st-token")
    api.create_repo(MINILM_REPO)
    api.upload_folder(folder_path=minilm, repo_id=MINILM_REPO)
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(INSTALLS), help="which installs to check (comma-separated)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (printed) for a look afterwards")
    args = parser.parse_args()
    only = [name for name in args.only.split(",") if name]
    work = Path(tempfile.mkdtemp(prefix="genre_hf-install-check-"))  # outside the checkout
    dist = work / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(dist), str(ROOT)], check=True)
    wheel = next(dist.glob("genre_hf-*.whl"))
    subset, parquet, poster = write_data(work)
    os.environ.update(HF_HUB_DISABLE_XET="1", HF_HUB_DISABLE_PROGRESS_BARS="1")  # the look-alike serves LFS, not Xet
    server = start_hub(work)
    check = Check(work, server.url)
    try:
        pretrained_folder = None
        for name in ("pretrained", "base", "app"):  # the pretrained folder first: the others must refuse it in one line
            if name not in only:
                continue
            venv = check.install(name, INSTALLS[name], wheel)
            started = time.perf_counter()
            env, cwd = check.base_paths(name, venv, subset, parquet, poster)
            if name == "pretrained":
                check.pretrained(env, cwd, subset, poster)
                pretrained_folder = cwd / "model-pretrained"
            elif pretrained_folder is not None:
                check.without_pretrained(env, cwd, pretrained_folder)
            if name == "app":
                check.app(env, cwd, poster)
            else:
                check.without_app(env, cwd)
            check.timings[name]["checks"] = time.perf_counter() - started
            print(f"{name:<10} install {check.timings[name]['install']:6.0f} s   checks {check.timings[name]['checks']:6.0f} s   ok", flush=True)
    finally:
        server.stop()
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({name: {key: round(value, 1) for key, value in timing.items()} for name, timing in check.timings.items()}))


if __name__ == "__main__":
    main()
