"""The README's Python snippets, run as they are written: extracted from README.md at test time, never
copied here. What a snippet names exists for it: `you/imdb-genres` (a tiny real model) and the two
presets it uses (all-MiniLM-L6-v2 and a tiny image backbone as `owner/name`) on a 127.0.0.1 Hub, the
app at the address it calls (its port moved to a free one), posters in the working folder, and a
small real subset of the data where a snippet trains on `../shared/data/imdb-multimodal`."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from huggingface_hub import HfApi

from tests.conftest import HUB_TOKEN, write_subset

ROOT = Path(__file__).resolve().parents[1]
MINILM = ROOT.parent / "shared" / "models" / "all-MiniLM-L6-v2"
APP_ADDRESS = "http://127.0.0.1:7860/"
DATA_PATH = "../shared/data/imdb-multimodal"


def python_blocks() -> list[tuple[str, str]]:
    """(the heading above it, its code) for every ```python block of the README, in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks, heading = [], "top"
    for match in re.finditer(r"^(#{2,3} [^\n]+)$|^```python\n(.*?)^```$", text, re.M | re.S):
        if match.group(1):
            heading = match.group(1).lstrip("#").strip()
        else:
            blocks.append((heading, match.group(2)))
    return blocks


BLOCKS = python_blocks()


@pytest.fixture(scope="module")
def world(tiny_model_dir, image_presets, data_dir, tmp_path_factory):
    """The Hub, the app and the files the snippets name; this process pointed at the Hub."""
    from PIL import Image

    from genre_hf import GenreClassifier
    from genre_hf.app.page import build_demo
    from genre_hf.app.serve import launch
    from tests.conftest import free_port
    from tests.hub_server import HubServer, hub_env

    root = tmp_path_factory.mktemp("readme")
    server = HubServer(root / "hub", token=HUB_TOKEN, tokens={"owner-token": "owner", "st-token": "sentence-transformers"})
    with pytest.MonkeyPatch.context() as patch, server:
        hub_env(patch, server, root / "hf_home")
        for repo, folder, token in (("you/imdb-genres", tiny_model_dir, HUB_TOKEN), ("owner/name", image_presets["resnet"], "owner-token"),
                                    ("sentence-transformers/all-MiniLM-L6-v2", MINILM, "st-token")):
            api = HfApi(endpoint=server.url, token=token)
            if repo.startswith("you/"):  # the account `you` is the token's: the Hub look-alike names it `user`
                repo = repo.replace("you/", "user/")
            api.create_repo(repo)
            api.upload_folder(folder_path=folder, repo_id=repo)
        work = root / "work"
        work.mkdir()
        poster = sorted((data_dir / "Images").iterdir())[0]
        for name in ("poster.jpg", "a.jpg"):
            shutil.copyfile(poster, work / name)
        Image.open(poster).save(work / "b.png")
        subset = write_subset(data_dir, root / "subset", rows=160)
        demo = build_demo(GenreClassifier.from_pretrained(tiny_model_dir))
        _, url, _ = launch(demo, port=free_port(), prevent_thread_lock=True, quiet=True)
        patch.chdir(work)
        try:
            yield {"url": url, "subset": subset}
        finally:
            demo.close()


@pytest.mark.parametrize("index", range(len(BLOCKS)), ids=[f"{i}-{heading}" for i, (heading, _) in enumerate(BLOCKS)])
def test_the_readme_snippet_runs(index, world):
    heading, code = BLOCKS[index]
    code = code.replace(APP_ADDRESS, world["url"].rstrip("/") + "/").replace(DATA_PATH, str(world["subset"]))
    code = code.replace('"you/imdb-genres"', '"user/imdb-genres"')  # `you` is the test Hub's account `user`
    exec(compile(code, f"README.md, {heading}", "exec"), {"__name__": "__readme__"})


def test_every_snippet_is_found():
    assert len(BLOCKS) >= 5 and all("import" in code for _, code in BLOCKS)
