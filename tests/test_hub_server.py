"""The test Hub server (tests/hub_server.py) against the REAL huggingface_hub and datasets clients.

No network is needed: every test talks to a HubServer on 127.0.0.1. The
`hub` fixture shows the recipe for an in-process client (`hub_env`); the
dataset test shows the one for a subprocess (`subprocess_env`).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import random
import re
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from pathlib import Path

import huggingface_hub  # noqa: E402
import pytest
from huggingface_hub import (  # noqa: E402
    HfApi,
    HfFileSystem,
    get_hf_file_metadata,
    hf_hub_download,
    hf_hub_url,
    snapshot_download,
)
from huggingface_hub.errors import (  # noqa: E402
    EntryNotFoundError,
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from tests.conftest import HUB_TOKEN as TOKEN  # noqa: E402  (the `hub` fixture lives in conftest)
from tests.conftest import OTHER_TOKEN  # noqa: E402
from tests.hub_server import git_blob_sha1, subprocess_env  # noqa: E402


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
    # Every new repo starts with the Hub's default .gitattributes.
    assert sorted(s.rfilename for s in info.siblings) == [".gitattributes", "config.json", "notes.txt", "weights/big.bin"]
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


def test_writes_need_the_owner_and_public_reads_no_token(hub, api):
    assert api.whoami()["name"] == "user"
    assert HfApi(endpoint=hub.url, token=OTHER_TOKEN).whoami()["name"] == "other"
    api.create_repo("user/public")

    for token in (False, "wrong"):  # False: send no token at all (not even a stored one)
        with pytest.raises(HfHubHTTPError) as excinfo:
            HfApi(endpoint=hub.url, token=token).create_repo("user/x")
        assert excinfo.value.response.status_code == 401

    assert HfApi(endpoint=hub.url, token=False).model_info("user/public").id == "user/public"
    # An unknown token is refused even where none is needed, as the Hub refuses an expired one,
    # and the client does not mistake it for a missing repo.
    with pytest.raises(HfHubHTTPError, match="Invalid credentials in Authorization header") as excinfo:
        HfApi(endpoint=hub.url, token="wrong").model_info("user/public")
    assert excinfo.value.response.status_code == 401 and not isinstance(excinfo.value, RepositoryNotFoundError)

    other = HfApi(endpoint=hub.url, token=OTHER_TOKEN)
    with pytest.raises(HfHubHTTPError, match='rights to create a model under the namespace "user"') as excinfo:
        other.create_repo("user/theirs")
    assert excinfo.value.response.status_code == 403
    # exist_ok turns that 403 into the existing public repo's URL, as on the Hub; writing to it is refused.
    assert other.create_repo("user/public", exist_ok=True).repo_id == "user/public"
    with pytest.raises(HfHubHTTPError, match="create_pr=1") as excinfo:
        other.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="user/public")
    assert excinfo.value.response.status_code == 403
    assert api.list_repo_files("user/public") == [".gitattributes"]


def test_a_private_repo_is_refused_without_its_owners_token(hub, api, tmp_path):
    api.create_repo("user/secret", private=True)
    commit = api.upload_file(path_or_fileobj=b"private notes\n", path_in_repo="notes.txt", repo_id="user/secret")

    # The owner reads it with the token, through every door the client uses.
    assert api.model_info("user/secret").private is True
    owner_cache = tmp_path / "owner"
    assert Path(hf_hub_download("user/secret", "notes.txt", token=TOKEN, cache_dir=owner_cache)).read_bytes() == b"private notes\n"
    assert _files_under(Path(snapshot_download("user/secret", token=TOKEN, cache_dir=owner_cache))) == {".gitattributes", "notes.txt"}
    assert HfFileSystem(endpoint=hub.url, token=TOKEN).cat("user/secret/notes.txt") == b"private notes\n"

    # Without a token every read is a 401 RepositoryNotFoundError: the answer for a repo that does not exist.
    anonymous = HfApi(endpoint=hub.url, token=False)
    anonymous_cache = tmp_path / "anonymous"
    reads = {
        "info": lambda: anonymous.model_info("user/secret"),
        "revision info": lambda: anonymous.model_info("user/secret", revision=commit.oid),
        "tree": lambda: anonymous.list_repo_files("user/secret"),
        "paths-info": lambda: anonymous.get_paths_info("user/secret", ["notes.txt"]),
        "commits": lambda: anonymous.list_repo_commits("user/secret"),
        "refs": lambda: anonymous.list_repo_refs("user/secret"),
        "HEAD + download": lambda: hf_hub_download("user/secret", "notes.txt", token=False, cache_dir=anonymous_cache),
        "snapshot": lambda: snapshot_download("user/secret", token=False, cache_dir=anonymous_cache),
        "missing repo": lambda: anonymous.model_info("user/missing"),
    }
    for name, read in reads.items():
        with pytest.raises(RepositoryNotFoundError, match="private or gated repo") as excinfo:
            read()
        assert excinfo.value.response.status_code == 401, name
    assert anonymous.repo_exists("user/secret") is False
    assert not list(anonymous_cache.rglob("notes.txt"))

    # Another account's token: 404, still "not found".
    with pytest.raises(RepositoryNotFoundError) as excinfo:
        HfApi(endpoint=hub.url, token=OTHER_TOKEN).model_info("user/secret")
    assert excinfo.value.response.status_code == 404


def test_weights_big_and_binary_files_take_the_lfs_path(hub, api, tmp_path):
    api.create_repo("user/lfs")
    rows = b"".join(b"tt%07d,A heist goes wrong.\n" % i for i in range(400_000))
    files = {
        "notes.txt": b"a small text file stays a regular upload\n",
        "cnn.weights.h5": b"text, but *.h5 is in the default .gitattributes\n" * 50,
        "table.dat": bytes(range(256)) * 4,  # no pattern, but binary (NUL bytes)
        "big.csv": rows[: hub.lfs_part_size + 54_321],  # text, no pattern, over 10 MiB: LFS, in two parts
    }
    assert len(files["big.csv"]) >= hub.lfs_threshold and b"\0" not in files["big.csv"]
    folder = tmp_path / "upload"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    sha = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    commit = api.upload_folder(folder_path=folder, repo_id="user/lfs")

    uploads = {upload["oid"]: upload for upload in hub.lfs_uploads}
    assert set(uploads) == {sha["cnn.weights.h5"], sha["table.dat"], sha["big.csv"]}
    assert {key: uploads[sha["big.csv"]][key] for key in ("transfer", "parts", "size")} == {
        "transfer": "multipart", "parts": 2, "size": len(files["big.csv"])
    }
    assert uploads[sha["cnn.weights.h5"]]["transfer"] == uploads[sha["table.dat"]]["transfer"] == "basic"
    assert all(upload["verified"] and upload["repo_id"] == "user/lfs" for upload in uploads.values())

    infos = {info.path: info for info in api.get_paths_info("user/lfs", list(files))}
    assert infos["notes.txt"].lfs is None and infos["notes.txt"].blob_id == git_blob_sha1(files["notes.txt"])
    for name in ("cnn.weights.h5", "table.dat", "big.csv"):
        assert (infos[name].lfs.sha256, infos[name].lfs.size, infos[name].size) == (sha[name], len(files[name]), len(files[name]))
    # Like the Hub, the commit tracked the LFS paths no default pattern covers.
    attributes = Path(hf_hub_download("user/lfs", ".gitattributes")).read_text()
    assert "\nbig.csv filter=lfs" in attributes and "\ntable.dat filter=lfs" in attributes
    assert "cnn.weights.h5" not in attributes

    # /resolve sends LFS files to signed storage with the sha256 as linked etag; the bytes come back intact.
    for name, data in files.items():
        metadata = get_hf_file_metadata(hf_hub_url("user/lfs", name))
        assert metadata.size == len(data) and metadata.commit_hash == commit.oid
        if name == "notes.txt":
            assert metadata.etag == git_blob_sha1(data) and metadata.location.startswith(hub.url)
        else:
            assert metadata.etag == sha[name] and metadata.location.startswith(hub.storage_url + "/blob/")
        assert hashlib.sha256(Path(hf_hub_download("user/lfs", name)).read_bytes()).hexdigest() == sha[name]

    # Unchanged files: the batch API says the objects are there, nothing is uploaded or committed again.
    assert api.upload_folder(folder_path=folder, repo_id="user/lfs").oid == commit.oid
    assert len(hub.lfs_uploads) == 3


def test_the_hub_refuses_commits_that_skip_lfs_and_unsigned_storage_urls(hub, api):
    api.create_repo("user/raw")

    def commit(operation: dict) -> tuple[int, str]:
        lines = [{"key": "header", "value": {"summary": "raw"}}, operation]
        request = urllib.request.Request(
            f"{hub.url}/api/models/user/raw/commit/main",
            data=b"".join(json.dumps(line).encode() + b"\n" for line in lines),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-ndjson"},
        )
        return _status(request)

    binary = {"path": "w.bin", "content": base64.b64encode(b"\0\1\2").decode(), "encoding": "base64"}
    status, message = commit({"key": "file", "value": binary})
    assert status == 400 and "rejected because it contains binary files: w.bin" in message
    missing = {"path": "w.bin", "algo": "sha256", "oid": "0" * 64, "size": 3}
    status, message = commit({"key": "lfsFile", "value": missing})
    assert status == 400 and "pointed to a file that does not exist" in message
    assert api.list_repo_files("user/raw") == [".gitattributes"]

    api.upload_file(path_or_fileobj=b"\0weights", path_in_repo="w.bin", repo_id="user/raw")
    location = get_hf_file_metadata(hf_hub_url("user/raw", "w.bin")).location
    assert _status(urllib.request.Request(location)) == (200, "")
    forged = re.sub(r"signature=[0-9a-f]+", "signature=" + "0" * 64, location)
    assert _status(urllib.request.Request(forged))[0] == 403
    upload = location.replace("/blob/", "/upload/")  # a download URL does not let anyone upload
    assert _status(urllib.request.Request(upload, data=b"\0weights", method="PUT"))[0] == 403


def _status(request: urllib.request.Request) -> tuple[int, str]:
    """(status, server error message) of a raw request; the message is empty on success."""
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, ""
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}").get("error", "")


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
    assert api.list_repo_files("user/ops") == [".gitattributes", "keep.bin"]
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
    assert [upload["size"] for upload in hub.lfs_uploads] == [parquet.stat().st_size]  # *.parquet is an LFS pattern

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


def test_space_repo(hub, api, tmp_path):
    url = api.create_repo("user/demo", repo_type="space", space_sdk="gradio", private=True)
    assert url.repo_type == "space"
    readme = "---\ntitle: Demo\nsdk: gradio\n---\n# Genre demo\n"
    api.upload_file(path_or_fileobj=readme.encode(), path_in_repo="README.md", repo_id="user/demo", repo_type="space")

    info = api.space_info("user/demo")
    assert info.sdk == "gradio"
    assert info.private is True
    assert [s.rfilename for s in info.siblings] == [".gitattributes", "README.md"]
    path = hf_hub_download("user/demo", "README.md", repo_type="space", token=TOKEN)
    assert Path(path).read_text() == readme
    with pytest.raises(RepositoryNotFoundError):  # private: without the token it does not even exist
        hf_hub_download("user/demo", "README.md", repo_type="space", token=False, cache_dir=tmp_path / "anonymous")


def test_a_client_that_picks_xet_is_stopped_with_a_reason(hub, api, monkeypatch):
    """huggingface_hub uploads through Xet whenever hf_xet is installed; this server has LFS only."""
    from huggingface_hub import constants

    api.create_repo("user/xet")
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", False)
    with pytest.raises(Exception, match="xet-write-token"):
        api.upload_file(path_or_fileobj=b"\0weights", path_in_repo="w.bin", repo_id="user/xet")
    assert hub.unhandled == ["GET /api/models/user/xet/xet-write-token/main"]
    hub.unhandled.clear()  # seen and expected: the fixture checks that nothing else was missed
    assert hub.lfs_uploads == [] and api.list_repo_files("user/xet") == [".gitattributes"]


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
