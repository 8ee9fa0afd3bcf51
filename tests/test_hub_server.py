"""The test Hub server (tests/hub_server.py) against the REAL huggingface_hub and datasets clients.

No network is needed: every test talks to a HubServer on 127.0.0.1. The
`hub` fixture shows the recipe for an in-process client (`hub_env`); the
dataset test shows the one for a subprocess (`subprocess_env`).
"""

from __future__ import annotations

import io
import json
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import huggingface_hub  # noqa: E402
import pytest
from huggingface_hub import HfApi, HfFileSystem, hf_hub_download, snapshot_download  # noqa: E402
from huggingface_hub.errors import (  # noqa: E402
    EntryNotFoundError,
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from tests.conftest import HUB_TOKEN as TOKEN  # noqa: E402  (the `hub` fixture lives in conftest)
from tests.hub_server import subprocess_env  # noqa: E402


@pytest.fixture
def api(hub):
    return HfApi(endpoint=hub.url, token=TOKEN)


def _files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_upload_info_download_snapshot_and_cache(hub, api, tmp_path):
    for _ in range(2):  # the second call gets a 409, which exist_ok turns into success
        url = api.create_repo("user/m", exist_ok=True)
        assert url.repo_id == "user/m" and url.startswith(hub.url)

    folder = tmp_path / "upload"
    (folder / "weights").mkdir(parents=True)
    (folder / "notes.txt").write_text("a text file\n")
    (folder / "config.json").write_text(json.dumps({"labels": ["Drama", "Comedy"]}))
    big = random.Random(0).randbytes(2_000_000)
    (folder / "weights" / "big.bin").write_bytes(big)
    commit = api.upload_folder(folder_path=folder, repo_id="user/m", commit_message="add files")

    info = api.model_info("user/m")
    assert info.sha == commit.oid
    assert sorted(s.rfilename for s in info.siblings) == ["config.json", "notes.txt", "weights/big.bin"]
    # The module-level helpers use an HfApi created at import: hub_env re-points it too.
    assert huggingface_hub.model_info("user/m").sha == commit.oid

    # Unchanged files are skipped client-side (preupload returns their oid): no new commit.
    assert api.upload_folder(folder_path=folder, repo_id="user/m").oid == commit.oid

    snapshot = Path(snapshot_download("user/m", allow_patterns=["*.json", "*.txt"]))
    assert _files_under(snapshot) == {"config.json", "notes.txt"}
    assert (snapshot / "notes.txt").read_text() == "a text file\n"

    path = hf_hub_download("user/m", "weights/big.bin")  # no endpoint= : goes through the patched constants
    assert Path(path).read_bytes() == big

    hub.stop()
    # The server is gone: the same call falls back to the cache, and so does local_files_only.
    assert hf_hub_download("user/m", "weights/big.bin") == path
    assert hf_hub_download("user/m", "weights/big.bin", local_files_only=True) == path


def test_writes_need_the_token_reads_do_not(hub, api):
    assert api.whoami()["name"] == "user"
    api.create_repo("user/public")

    for token in (False, "wrong"):  # False: send no token at all (not even a stored one)
        with pytest.raises(HfHubHTTPError) as excinfo:
            HfApi(endpoint=hub.url, token=token).create_repo("user/x")
        assert excinfo.value.response.status_code == 401

    assert HfApi(endpoint=hub.url, token=False).model_info("user/public").id == "user/public"


def test_missing_repo_file_and_revision_raise_the_client_errors(hub, api):
    api.create_repo("user/m")
    api.upload_file(path_or_fileobj=b"x", path_in_repo="a.txt", repo_id="user/m")

    with pytest.raises(RepositoryNotFoundError):
        api.model_info("user/missing")
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("user/missing", "a.txt")
    with pytest.raises(RemoteEntryNotFoundError) as excinfo:
        hf_hub_download("user/m", "missing.txt")
    assert isinstance(excinfo.value, EntryNotFoundError)
    with pytest.raises(RevisionNotFoundError):  # what datasets asks for the parquet export
        api.model_info("user/m", revision="refs/convert/parquet")


def test_delete_operations_and_ranged_reads(hub, api):
    api.create_repo("user/ops")
    payload = bytes(range(256)) * 40
    for path in ("keep.bin", "old/a.txt", "old/b.txt", "gone.txt"):
        api.upload_file(path_or_fileobj=payload, path_in_repo=path, repo_id="user/ops")
    api.delete_file("gone.txt", repo_id="user/ops")
    api.delete_folder("old", repo_id="user/ops")
    assert api.list_repo_files("user/ops") == ["keep.bin"]
    with pytest.raises(RemoteEntryNotFoundError):
        api.delete_file("gone.txt", repo_id="user/ops")
    assert len(api.list_repo_commits("user/ops")) == 7  # initial + 4 uploads + 2 deletions

    # HfFileSystem reads files in blocks with Range requests (206 answers).
    fs = HfFileSystem(endpoint=hub.url)
    with fs.open("user/ops/keep.bin", "rb", block_size=1000) as f:
        f.seek(5000)
        assert f.read(300) == payload[5000:5300]


def test_load_dataset_in_a_subprocess(hub, api, tmp_path):
    import datasets
    from PIL import Image

    def png(color: str) -> bytes:
        buffer = io.BytesIO()
        Image.new("RGB", (8, 12), color).save(buffer, format="PNG")
        return buffer.getvalue()

    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "overview": datasets.Value("string"),
            "genres": datasets.Sequence(datasets.Value("string")),
            "poster": datasets.Image(),
        }
    )
    rows = {
        "id": ["tt1", "tt2", "tt3"],
        "overview": ["A heist.", "A romance.", "A war."],
        "genres": [["Crime", "Drama"], ["Romance"], []],
        "poster": [{"bytes": png(c), "path": None} for c in ("red", "green", "blue")],
    }
    parquet = tmp_path / "train.parquet"
    datasets.Dataset.from_dict(rows, features=features).to_parquet(str(parquet))

    api.create_repo("user/ds", repo_type="dataset")
    api.upload_file(
        path_or_fileobj=str(parquet),
        path_in_repo="data/train-00000-of-00001.parquet",
        repo_id="user/ds",
        repo_type="dataset",
    )

    # A fresh interpreter, as `train.py --data user/ds` would be: only the environment points it at the server.
    script = textwrap.dedent(
        """
        import json, datasets, PIL.Image
        ds = datasets.load_dataset("user/ds", split="train")
        first = ds[0]
        print(json.dumps({
            "rows": ds.num_rows,
            "columns": ds.column_names,
            "genres": first["genres"],
            "poster_is_image": isinstance(first["poster"], PIL.Image.Image),
            "poster_size": list(first["poster"].size),
        }))
        """
    )
    env = subprocess_env(hub, tmp_path / "sub_hf_home")
    env["HF_DATASETS_CACHE"] = str(tmp_path / "sub_datasets_cache")
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out == {
        "rows": 3,
        "columns": ["id", "overview", "genres", "poster"],
        "genres": ["Crime", "Drama"],
        "poster_is_image": True,
        "poster_size": [8, 12],
    }


def test_space_repo(hub, api):
    url = api.create_repo("user/demo", repo_type="space", space_sdk="gradio", private=True)
    assert url.repo_type == "space"
    readme = "---\ntitle: Demo\nsdk: gradio\n---\n# Genre demo\n"
    api.upload_file(path_or_fileobj=readme.encode(), path_in_repo="README.md", repo_id="user/demo", repo_type="space")

    info = api.space_info("user/demo")
    assert info.sdk == "gradio"
    assert info.private is True
    assert [s.rfilename for s in info.siblings] == ["README.md"]
    path = hf_hub_download("user/demo", "README.md", repo_type="space")
    assert Path(path).read_text() == readme


def test_runs_as_a_script(tmp_path):
    """`python tests/hub_server.py --port 0` prints its URL first, then serves."""
    script = Path(__file__).with_name("hub_server.py")
    cmd = [sys.executable, str(script), "--root", str(tmp_path), "--port", "0", "--token", TOKEN, "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("Serving on http://127.0.0.1:")
        api = HfApi(endpoint=line.removeprefix("Serving on "), token=TOKEN)
        assert api.whoami()["name"] == "user"
        assert api.create_repo("user/cli").repo_id == "user/cli"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()
