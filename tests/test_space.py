"""Publishing the Space against the local Hub look-alike, then running the published Space as a Space would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import gradio
import pytest
from huggingface_hub import HfApi, SpaceCard, hf_hub_download, snapshot_download

from genre_hf.app.publish import publish_space
from genre_hf.hub.lookup import SPACE_CONFIG, model_sources
from tests.conftest import HUB_TOKEN as TOKEN  # noqa: E402
from tests.conftest import free_port, running_app
from tests.hub_server import subprocess_env  # noqa: E402

MODEL = "user/imdb-genres"
SPACE = "user/imdb-genres-demo"


@pytest.fixture
def api(hub):
    api = HfApi(endpoint=hub.url, token=TOKEN)
    api.create_repo(MODEL)
    return api


def test_publish_creates_a_gradio_space_with_its_front_matter(api):
    url = publish_space(SPACE, MODEL, token=TOKEN)
    assert url.endswith(f"spaces/{SPACE}")

    info = api.space_info(SPACE)
    assert info.sdk == "gradio" and info.private is False
    files = set(api.list_repo_files(SPACE, repo_type="space"))
    assert {"app.py", "requirements.txt", "README.md", SPACE_CONFIG} <= files
    package = {"genre_hf/__init__.py", "genre_hf/app/page.py", "genre_hf/inference/classifier.py", "genre_hf/hub/model_card.md"}
    package.add("genre_hf/evaluation/metrics/multilabel_genres.py")  # the metric module travels with the package
    assert package <= files
    assert all(path.endswith((".py", ".md")) for path in files if path.startswith("genre_hf/"))
    assert not any("__pycache__" in path for path in files)

    card = SpaceCard.load(hf_hub_download(SPACE, "README.md", repo_type="space"))
    assert card.data.sdk == "gradio" and card.data.sdk_version == gradio.__version__
    assert card.data.app_file == "app.py" and card.data.models == [MODEL]
    assert card.data.title and card.data.license and card.data.short_description

    requirements = Path(hf_hub_download(SPACE, "requirements.txt", repo_type="space")).read_text().split()
    pinned = [line.strip() for line in (Path(__file__).resolve().parents[1] / "requirements.txt").read_text().splitlines()]
    assert f"gradio=={gradio.__version__}" in requirements and "tensorflow==2.21.0" in requirements
    assert set(requirements) <= set(pinned)  # the lock's versions, as installed here
    assert {"keras-hub==0.32.0", "huggingface-hub==2.4.0"} <= set(requirements) and not any("matplotlib" in r for r in requirements)
    config = json.loads(Path(hf_hub_download(SPACE, SPACE_CONFIG, repo_type="space")).read_text())
    assert config == {"models": [MODEL]}


def test_republish_removes_stale_modules_and_can_be_private(api):
    api.create_repo("user/private-demo", repo_type="space", space_sdk="gradio", private=True)
    api.upload_file(
        path_or_fileobj=b"x = 1\n", path_in_repo="genre_hf/gone.py", repo_id="user/private-demo", repo_type="space"
    )
    publish_space("user/private-demo", MODEL, token=TOKEN, private=True)
    assert api.space_info("user/private-demo").private is True
    assert "genre_hf/gone.py" not in api.list_repo_files("user/private-demo", repo_type="space")

    with pytest.raises(ValueError, match="user/missing not found"):
        publish_space("user/other-demo", "user/missing", token=TOKEN)


def test_model_source_order(tmp_path):
    assert model_sources({}, root=tmp_path) == ["genre-hf/imdb-genres"]
    (tmp_path / "artifacts" / "model").mkdir(parents=True)
    assert model_sources({}, root=tmp_path) == [str(tmp_path / "artifacts" / "model")]
    (tmp_path / "artifacts" / "model-pretrained").mkdir(parents=True)
    assert model_sources({}, root=tmp_path) == [str(tmp_path / "artifacts" / f) for f in ("model", "model-pretrained")]
    (tmp_path / SPACE_CONFIG).write_text(json.dumps({"model": MODEL}))  # as a Space published by genre_hf 0.1
    assert model_sources({}, root=tmp_path) == [MODEL]
    (tmp_path / SPACE_CONFIG).write_text(json.dumps({"models": [MODEL, "user/pretrained"]}))
    assert model_sources({}, root=tmp_path) == [MODEL, "user/pretrained"]
    assert model_sources({"GENRE_HF_MODEL": "/some/folder, user/b"}, root=tmp_path) == ["/some/folder", "user/b"]


def test_the_published_space_serves_the_model_from_the_hub(hub, api, tiny_model_dir, sample_movie, tmp_path):
    """Push a model, publish with the CLI, download the Space and run its app.py as the Space would."""
    api.upload_folder(folder_path=tiny_model_dir, repo_id=MODEL)
    env = subprocess_env(hub, tmp_path / "space_hf_home")
    env["HF_TOKEN"] = TOKEN
    env.pop("GENRE_HF_MODEL", None)
    env.pop("GENRE_HF_DATA", None)
    cli = [sys.executable, "-m", "genre_hf", "publish-space", "--space-id", SPACE, "--model-repo", MODEL]
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(cli, cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert api.space_info(SPACE).sdk == "gradio"

    space = Path(snapshot_download(SPACE, repo_type="space", local_dir=tmp_path / "space"))
    env.pop("HF_TOKEN")  # a public model needs no token
    with running_app(space, env, free_port()) as (url, output):
        assert f"Loading the model from {MODEL}" in "".join(output)
        with urllib.request.urlopen(url + "/config", timeout=10) as response:
            assert f"{hub.url}/{MODEL}" in response.read().decode()  # the About tab links the model repo

        from gradio_client import Client, handle_file

        poster, overview, _ = sample_movie
        result = Client(url, verbose=False).predict(handle_file(str(poster)), overview, api_name="/predict")
        assert all("probabilities" in result[name] for name in ("poster", "overview", "fusion"))
    assert os.path.isdir(tmp_path / "space_hf_home" / "hub")  # the model came through the Hub cache
