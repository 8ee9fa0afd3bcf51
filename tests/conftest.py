"""Shared fixtures: the real data (../shared's development copy on the project's machines, else the
download `make data` makes), a real subset in the upstream layout, the pretrained text encoder's Hub
files, and a small model trained once per test run (about ten seconds on two cores), shared by the
xdist workers."""

from __future__ import annotations

import contextlib
import csv
import math
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.pop("GENRE_HF_PRESET_MIRROR", None)  # encoders come from the test Hub, the way users get them
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    # Each xdist worker's TensorFlow, and the processes its tests start, runs an op on its share of the
    # cores: two workers on two cores, each op on two threads, fought over them (make test 286 -> 273 s).
    shares = (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(max(1, shares)))

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"  # the project's machines keep development copies of the data and encoder here


def _data_folder() -> Path:
    """The data the tests read: $GENRE_HF_TEST_DATA (`make test` sets it), else ../shared's copy, else
    the folder `make data` downloads into."""
    if os.environ.get("GENRE_HF_TEST_DATA"):
        return Path(os.environ["GENRE_HF_TEST_DATA"]).resolve()
    shared = SHARED / "data" / "imdb-multimodal"
    return shared if shared.is_dir() else ROOT / "data" / "imdb-multimodal"


DATA = _data_folder()
# The pretrained family's text encoder, as the Hub serves it: ../shared's copy, else downloaded once
# (`pytest_configure`) into the Hugging Face cache from $HF_ENDPOINT and checked against this hash.
MINILM_REPO = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MINILM_FILES = ["*.json", "*.txt", "*.safetensors"]
# The end of each script a test runs in a fresh process: it exits as the genre-hf command does, past
# Python's teardown of TensorFlow (genre_hf/cli/_exit.py: about 1.3 s of CPU a process).
END_SCRIPT = "\nfrom genre_hf.cli._exit import exit_now\nexit_now(0)\n"
# Each file's seconds in `make test` (its tests' setup, call and teardown, 2026-12-06; the shared tiny
# model's training counts in the file that asked for it first). xdist gives a worker a whole file at a
# time, so files are handed out longest first (files in the same 5 s keep pytest-randomly's order): the
# last ones are short, and the workers finish within seconds of each other.
FILE_SECONDS = {
    "test_hardening.py": 138, "test_distribute.py": 119, "test_training.py": 62, "test_pretrained.py": 57, "test_browser.py": 49, "test_app.py": 46,
    "test_encoders.py": 44, "test_benchmarks.py": 29, "test_docs.py": 28, "test_hub.py": 28, "test_poster_backbone.py": 25, "test_image_size.py": 21,
    "test_image_preset.py": 20, "test_seeds.py": 18, "test_space.py": 18, "test_cli_errors.py": 17, "test_package.py": 17, "test_posters.py": 17,
    "test_evaluate.py": 17, "test_streaming.py": 14, "test_mmimdb.py": 14, "test_efficientnet.py": 13, "test_bad_inputs.py": 13, "test_explain.py": 13,
    "test_results.py": 8, "test_bounds.py": 8, "test_data.py": 8, "test_app_limits.py": 8, "test_download.py": 8, "test_batch.py": 8,
    "test_hub_server.py": 4, "test_litert.py": 3, "test_metrics.py": 1, "test_calibration.py": 1, "test_outputs.py": 1, "test_layers.py": 1,
    "test_features.py": 0,
}


def pytest_configure(config):
    """The text encoder's files found once, before any test points the Hub client elsewhere; xdist
    workers inherit the answer through the environment."""
    if "GENRE_HF_TEST_MINILM" not in os.environ:
        os.environ["GENRE_HF_TEST_MINILM"] = str(_minilm_folder())


def _minilm_folder() -> Path:
    shared = SHARED / "models" / "all-MiniLM-L6-v2"
    if shared.is_dir():
        return shared
    import hashlib

    from huggingface_hub import snapshot_download

    folder = Path(snapshot_download(MINILM_REPO, allow_patterns=MINILM_FILES))
    with open(folder / "model.safetensors", "rb") as handle:
        found = hashlib.file_digest(handle, "sha256").hexdigest()
    if found != MINILM_SHA256:
        raise pytest.UsageError(f"{MINILM_REPO} downloaded with weights {found[:12]}..., not the {MINILM_SHA256[:12]}... the tests expect")
    return folder


def minilm_folder() -> Path:
    """The folder of all-MiniLM-L6-v2's Hub files (see `pytest_configure`)."""
    return Path(os.environ["GENRE_HF_TEST_MINILM"])


def minilm_mirror(folder: Path) -> Path:
    """`folder` made a $GENRE_HF_PRESET_MIRROR holding the encoder (`<folder>/all-MiniLM-L6-v2/`, linked)."""
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / MINILM_REPO.split("/")[1]
    if not link.exists():
        link.symlink_to(minilm_folder(), target_is_directory=True)
    return folder


def pytest_collection_modifyitems(items):
    """Files longest first, a file not measured yet before all (it may be long); a stable sort, and
    `make test` passes --no-loadscope-reorder so that xdist keeps this order."""
    items.sort(key=lambda item: -(FILE_SECONDS.get(item.path.name, math.inf) // 5))


@pytest.fixture(scope="session", autouse=True)
def isolated_hf_home(tmp_path_factory):
    """Keep Hub, datasets and evaluate caches of the test run out of the user's home, and give each
    xdist worker its own Gradio upload folder (a stopping app deletes the files it put there)."""
    home = tmp_path_factory.mktemp("hf_home")
    base = tmp_path_factory.getbasetemp()
    # genre_hf's caches shared by the workers (each entry is written whole, under a name of its own): a
    # frozen encoder converted for LiteRT by one worker is read by the others.
    os.environ["GENRE_HF_CACHE"] = str((base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "genre_hf_cache")
    os.environ["GRADIO_TEMP_DIR"] = str(tmp_path_factory.mktemp("gradio"))
    os.environ["HF_HOME"] = str(home)
    os.environ["HF_DATASETS_CACHE"] = str(home / "datasets")
    os.environ["HF_EVALUATE_OFFLINE"] = "1"
    yield home


@pytest.fixture(scope="session")
def data_dir() -> Path:
    assert (DATA / "IMDB_overview_genres.csv").is_file(), (
        f"no data at {DATA}: `make test` downloads it (make data), or set GENRE_HF_TEST_DATA to a folder in the upstream layout")
    return DATA


def write_subset(source: Path, target: Path, rows: int, start: int = 0) -> Path:
    """An upstream-layout folder with `rows` real movies (posters symlinked, never copied)."""
    (target / "Images").mkdir(parents=True)
    with open(source / "IMDB_overview_genres.csv", newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        records = [record for _, record in zip(range(start + rows), reader)][start:]
    with open(target / "IMDB_overview_genres.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(records)
    for record in records:
        poster = source / "Images" / f"{record[0]}.jpg"
        if poster.exists():
            (target / "Images" / poster.name).symlink_to(poster)
    return target


def write_mmimdb(source: Path, target: Path, rows: int, start: int = 0) -> tuple[Path, dict[str, list[str]]]:
    """An MM-IMDb release-layout folder (split.json, dataset/<id>.json with several plots, dataset/<id>.jpeg)
    of `rows` real movies of the upstream data, and the official split it was given: a cut by row
    position (not by our id hash), so a loader that re-split the movies would be caught. Each movie's
    plots are its overview, its first sentence and a fragment: the overview is the longest."""
    import json

    from genre_hf.data.cleaning import parse_genres

    (target / "dataset").mkdir(parents=True)
    with open(source / "IMDB_overview_genres.csv", newline="", encoding="utf-8") as handle:
        records = [record for _, record in zip(range(start + rows), csv.DictReader(handle))][start:]
    ids = []
    for record in records:
        movie_id = record["Id"].removeprefix("tt")  # MM-IMDb names files by the number alone
        overview = record["Overview"]
        plots = [overview.split(".")[0][:60], overview, overview[:20]]
        meta = {"title": movie_id, "genres": parse_genres(record["Genre"]), "plot": plots}
        (target / "dataset" / f"{movie_id}.json").write_text(json.dumps(meta), encoding="utf-8")
        poster = source / "Images" / f"{record['Id']}.jpg"
        if poster.exists():
            (target / "dataset" / f"{movie_id}.jpeg").symlink_to(poster)
        ids.append(movie_id)
    train_end, dev_end = int(len(ids) * 0.6), int(len(ids) * 0.75)
    split = {"train": ids[:train_end], "dev": ids[train_end:dev_end], "test": ids[dev_end:]}
    (target / "split.json").write_text(json.dumps(split), encoding="utf-8")
    return target, split


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory) -> Path:
    """A folder of this test run that every xdist worker sees (each worker's own base folder is in it)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def built_once(run_dir: Path, name: str, build) -> Path:
    """run_dir/name, built by `build(folder)` in whichever worker asks first while the others wait for
    it; a marker written once it is whole tells them it is done (a build that failed is started over)."""
    from filelock import FileLock

    target, done = run_dir / name, run_dir / f"{name}.done"
    with FileLock(run_dir / f"{name}.lock"):
        if not done.exists():
            shutil.rmtree(target, ignore_errors=True)
            build(target)
            done.touch()
    return target


@pytest.fixture(scope="session")
def subset_dir(data_dir, run_dir) -> Path:
    return built_once(run_dir, "subset", lambda folder: write_subset(data_dir, folder / "imdb", rows=600)) / "imdb"


TINY = {  # per section (and encoder kind), the sizes that train in seconds
    "split": {"validation": 0.25}, "tokens": {"max_tokens": 3000}, "fusion": {"hidden": 32},
    ("poster", "cnn"): {"filters": [8, 16], "embedding": 32}, ("overview", "lstm"): {"word_dimension": 16, "units": 8, "embedding": 32},
    ("poster", "efficientnet_lite"): {"image_size": 64, "head_units": 32},  # the real backbone, on posters of 64 px (a 2 x 2 map)
}


def tiny_config(family: str = "scratch", epochs: int = 2, **sections):
    """A config that trains in seconds on real data: the family's defaults with tiny layers, `epochs`
    for every model, and `sections` on top, as `GenreConfig.for_family` takes them
    ({"poster": {"kind": "keras_hub", ...}, "training": {...}, "genres": [...]})."""
    from genre_hf.config import GenreConfig

    default = GenreConfig.for_family(family)
    merged = {}
    for name in ("split", "tokens", "poster", "overview", "fusion", "training", "calibration"):
        given = dict(sections.pop(name, {}))
        kind = given.get("kind", getattr(getattr(default, name), "kind", None))
        epochs_of = {"epochs": epochs} if name in ("poster", "overview", "fusion") else {}
        merged[name] = {**TINY.get(name, {}), **TINY.get((name, kind), {}), **epochs_of, **given}
    return GenreConfig.for_family(family, **merged, **sections)


@pytest.fixture(scope="session")
def tiny_model_dir(subset_dir, run_dir):
    """A complete model folder (weights, vocabulary, thresholds, reports, card) from a real subset.
    Tests copy it before they change it (tests/test_hardening.py, tampered)."""
    from genre_hf.pipeline import train_and_save

    def train(folder):
        train_and_save(str(subset_dir), folder / "tiny", config=tiny_config(), log=lambda message: None)

    folder = built_once(run_dir, "model", train) / "tiny"
    before = file_digests(folder)
    yield folder
    assert file_digests(folder) == before, "a test changed the shared model folder: copy it first"


def file_digests(folder: Path) -> dict[str, str]:
    import hashlib

    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture(scope="session")
def sample_movie(data_dir):
    """One real movie: (poster path, overview, genres)."""
    with open(data_dir / "IMDB_overview_genres.csv", newline="", encoding="utf-8") as handle:
        record = next(csv.DictReader(handle))
    return data_dir / "Images" / f"{record['Id']}.jpg", record["Overview"], record["Genre"]


CONVERTER_SIZE = 32  # the tiny image presets' image converter: posters of 32 px


@pytest.fixture(scope="session")
def image_presets(tmp_path_factory):
    """{"resnet": folder, "vit": folder}: tiny random KerasHub backbones saved as presets, each with
    its image converter (what a preset on the Hub holds)."""
    import keras_hub

    root = tmp_path_factory.mktemp("image_presets")
    backbones = {
        "resnet": (keras_hub.models.ResNetBackbone(
            input_conv_filters=[64], input_conv_kernel_sizes=[3], stackwise_num_filters=[64, 32], stackwise_num_blocks=[1, 1],
            stackwise_num_strides=[1, 2], block_type="basic_block"),
            keras_hub.layers.ResNetImageConverter(image_size=(CONVERTER_SIZE, CONVERTER_SIZE), scale=1 / 255)),
        "vit": (keras_hub.models.ViTBackbone(
            image_shape=(CONVERTER_SIZE, CONVERTER_SIZE, 3), patch_size=8, num_layers=1, num_heads=2, hidden_dim=16, mlp_dim=32),
            keras_hub.layers.ViTImageConverter(image_size=(CONVERTER_SIZE, CONVERTER_SIZE), scale=1 / 127.5, offset=-1)),
    }
    for name, (backbone, converter) in backbones.items():
        backbone.save_to_preset(str(root / name))
        converter.save_to_preset(str(root / name))
    return {name: root / name for name in backbones}


HUB_TOKEN = "secret"  # the account `user`
OTHER_TOKEN = "someone-else"  # the account `other`, for access tests


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A Hub-protocol server on 127.0.0.1 where HUB_TOKEN is the account `user` (writes and private
    reads need it, as on the Hub), with this process's Hub client pointed at it and no token stored;
    every request must hit an implemented endpoint."""
    from tests.hub_server import HubServer, hub_env

    with HubServer(tmp_path / "hub_root", token=HUB_TOKEN, tokens={OTHER_TOKEN: "other"}) as server:
        hub_env(monkeypatch, server, tmp_path / "hf_home")
        yield server
    assert server.unhandled == []


@contextlib.contextmanager
def serving_repo(root: Path, repo_id: str, folder: Path, owner_token: str):
    """A Hub-protocol server under `root` serving `folder`'s files as `repo_id` (owned by the account
    `owner_token` names), with this process's Hub client pointed at it: a preset as users get it."""
    from huggingface_hub import HfApi

    from tests.hub_server import HubServer, hub_env

    server = HubServer(root / "hub", token=HUB_TOKEN, tokens={owner_token: repo_id.split("/")[0]})
    with pytest.MonkeyPatch.context() as patch, server:
        hub_env(patch, server, root / "hf_home")
        api = HfApi(endpoint=server.url, token=owner_token)
        api.create_repo(repo_id)
        api.upload_folder(folder_path=folder, repo_id=repo_id)
        yield server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_app(cwd: Path, env: dict, port: int, timeout: float = 90):
    """`python app.py --port PORT` in `cwd`; yields (url, output lines so far) once it serves."""
    process = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port)], cwd=cwd, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        url, deadline, output = None, time.time() + timeout, []
        while url is None and time.time() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            output.append(line)
            if "Running on local URL:" in line:
                url = line.split("URL:")[1].strip()
        assert url, "".join(output)[-3000:]
        yield url, output
    finally:
        process.terminate()
        process.wait(timeout=20)
        process.stdout.close()
