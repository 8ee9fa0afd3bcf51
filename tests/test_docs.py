"""The documentation: the site builds with `mkdocs build --strict` (a broken link or anchor fails), and
every Python snippet of the README and of docs/ runs as it is written (extracted at test time, never
copied here), but for a script that says in its first line that it is not run by the tests. What a snippet names exists for it: `you/imdb-genres` (a tiny real model) and the two
presets it uses (all-MiniLM-L6-v2 and a tiny image backbone as `owner/name`) on a 127.0.0.1 Hub, the
app at the address it calls (its port moved to a free one), posters in the working folder, and a
small real subset of the data where a snippet trains on `data/imdb-multimodal`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import HfApi

from tests.conftest import HUB_TOKEN, minilm_folder, write_subset

ROOT = Path(__file__).resolve().parents[1]
APP_ADDRESS = "http://127.0.0.1:7860/"
DATA_PATH = "data/imdb-multimodal"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NOT_RUN = "# not run by the tests:"  # a maintainers' script's first line, saying why


def python_blocks() -> list[tuple[str, str]]:
    """("page, the heading above it", its code) for every ```python block of the README and docs/, in order."""
    blocks = []
    for page in PAGES:
        heading = "top"
        for match in re.finditer(r"^(#{1,3} [^\n]+)$|^```python\n(.*?)^```$", page.read_text(encoding="utf-8"), re.M | re.S):
            if match.group(1):
                heading = match.group(1).lstrip("#").strip()
            elif not match.group(2).startswith(NOT_RUN):
                blocks.append((f"{page.relative_to(ROOT)}, {heading}", match.group(2)))
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
                                    ("sentence-transformers/all-MiniLM-L6-v2", minilm_folder(), "st-token")):
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
    exec(compile(code, heading, "exec"), {"__name__": "__docs__"})


def test_every_snippet_is_found():
    assert len(BLOCKS) >= 5 and all("import" in code for _, code in BLOCKS)


def test_the_site_builds_with_no_broken_link(tmp_path):
    """`mkdocs build --strict`: a link to a page or anchor that does not exist fails the build."""
    mkdocs = Path(sys.executable).with_name("mkdocs")
    result = subprocess.run([str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    pages = {path.relative_to(tmp_path / "site").as_posix() for path in (tmp_path / "site").rglob("index.html")}
    assert {f"{page.stem}/index.html" for page in (ROOT / "docs").glob("*.md") if page.stem != "index"} <= pages


def test_the_top_level_model_card_is_the_packages_template():
    """`model_card.md` at the top of the repository is the template the package renders cards from
    (genre_hf/hub/model_card.md, inside the package so a pip install has it), not a copy that drifts."""
    from genre_hf.hub.card import TEMPLATE

    assert (ROOT / "model_card.md").read_bytes() == TEMPLATE.read_bytes()
    assert (ROOT / "model_card.md").resolve() == TEMPLATE.resolve()
