"""The package as users get it: a wheel, installed outside the checkout, with its dependencies declared;
an import that does not pull in TensorFlow; one `genre-hf` command."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.conftest import END_SCRIPT, HUB_TOKEN
from tests.hub_server import subprocess_env

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("tensorflow", "keras", "matplotlib", "sklearn", "keras_hub", "gradio", "datasets")
# Import names that differ from the distribution that provides them.
DISTRIBUTION_OF = {"PIL": "pillow", "sklearn": "scikit-learn", "yaml": "pyyaml"}
OUTSIDE_SCRIPT = """
import json, sys
from pathlib import Path
import genre_hf
from genre_hf import GenreClassifier

model, poster, overview, out = sys.argv[1:5]
clf = GenreClassifier.from_pretrained(model)
before = clf.predict(poster=poster, overview=overview)
clf.save_pretrained(out)
url = clf.push_to_hub("user/from-wheel", private=True)
again = GenreClassifier.from_pretrained("user/from-wheel").predict(poster=poster, overview=overview)
print(json.dumps({"file": genre_hf.__file__, "card": (Path(out) / "README.md").read_text(),
                  "same": [before[m]["probabilities"] == again[m]["probabilities"] for m in before], "url": url}))
""" + END_SCRIPT


def run(command, **kwargs):
    return subprocess.run(command, capture_output=True, text=True, timeout=300, **kwargs)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)])
    assert built.returncode == 0, built.stderr[-3000:]
    (path,) = out.glob("genre_hf-*.whl")
    return path


def test_importing_the_package_and_its_front_door_loads_no_framework():
    code = f"import json, sys, genre_hf; from genre_hf import GenreClassifier; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    done = run([sys.executable, "-c", code], cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == []


def test_the_wheel_carries_the_templates_licence_and_command(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = next(name for name in names if name.endswith(".dist-info/METADATA"))
        meta = archive.read(info).decode()
        entry_points = archive.read(info.replace("METADATA", "entry_points.txt")).decode()
    assert {"genre_hf/hub/model_card.md", "genre_hf/evaluation/metrics/multilabel_genres.py", "genre_hf/cli/__init__.py",
            "genre_hf/data/upstream_pins.json", "genre_hf/data/download_readme.md"} <= names
    assert any(name.endswith("licenses/LICENSE") for name in names) and "License-Expression: Apache-2.0" in meta
    assert "genre-hf = genre_hf.cli:entry_point" in entry_points
    assert not any(name.startswith(("tests/", "benchmarks/")) or name.endswith((".h5", ".jpg")) for name in names)


def test_declared_dependencies_cover_every_import_and_the_lock_satisfies_them(wheel):
    with zipfile.ZipFile(wheel) as archive:
        meta = archive.read(next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))).decode()
        sources = {name: archive.read(name).decode() for name in archive.namelist() if name.endswith(".py")}
    requirements = [Requirement(line.split(":", 1)[1].strip()) for line in meta.splitlines() if line.startswith("Requires-Dist:")]
    declared = {r.name.lower().replace("_", "-") for r in requirements}
    for requirement in requirements:
        marker = requirement.marker
        if not marker or any(marker.evaluate({"extra": extra}) for extra in ("pretrained", "app", "plots")):
            installed = metadata.version(requirement.name)
            assert requirement.specifier.contains(installed, prereleases=True), f"{requirement} but {installed} is locked"
    imported = set()
    for source in sources.values():
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = {name for name in imported - set(sys.stdlib_module_names) if name not in ("genre_hf", "__future__")}
    providers = metadata.packages_distributions()
    undeclared = []
    for module in sorted(third_party):
        names = {DISTRIBUTION_OF.get(module, module)} | set(providers.get(module, []))
        if not {name.lower().replace("_", "-") for name in names} & declared:
            undeclared.append(module)
    assert undeclared == []


def test_installed_wheel_works_outside_the_checkout(wheel, tiny_model_dir, sample_movie, hub, tmp_path):
    target = tmp_path / "site"
    installed = run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)])
    assert installed.returncode == 0, installed.stderr[-2000:]
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = subprocess_env(hub, tmp_path / "home")
    env.update(PYTHONPATH=str(target), HF_TOKEN=HUB_TOKEN)
    poster, overview, _ = sample_movie
    done = run([sys.executable, "-c", OUTSIDE_SCRIPT, str(tiny_model_dir), str(poster), overview, str(outside / "saved")],
               cwd=outside, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["file"].startswith(str(target))  # the wheel's copy, not the checkout's
    assert result["same"] == [True, True, True] and "user/from-wheel" in result["url"]
    assert "movie genres from a poster and a plot overview" in result["card"]
    help_text = run([sys.executable, "-m", "genre_hf", "predict", "--help"], cwd=outside, env=env)
    assert help_text.returncode == 0 and "GENRE_HF_MODEL" in help_text.stdout and "HF_TOKEN" in help_text.stdout
