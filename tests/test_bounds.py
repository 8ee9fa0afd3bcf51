"""Bounded cost for every input, and one line instead of a traceback: every JSON a folder or the Hub
gives is read by one bounded strict reader (genre_hf/reading.py), every Hub call has a deadline and
a floor on its pace (genre_hf/hub_calls.py), and data is known by what it holds. Each case is one
the issue "Hardening III" found."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time

import pytest

from genre_hf.cli import main
from genre_hf.hub.folder import FolderError
from tests.conftest import HUB_TOKEN


def copy_of(folder, target):
    shutil.copytree(folder, target)
    return target


def test_a_huge_config_is_refused_by_its_size_before_it_is_parsed(tiny_model_dir, tmp_path, monkeypatch):
    """Before: config.json was parsed whole before any check: 50 MB took 1.3 GB and 10 s."""
    from genre_hf import GenreClassifier, reading

    folder = copy_of(tiny_model_dir, tmp_path / "model")
    values = json.loads((folder / "config.json").read_text())
    values["genres"] = values["genres"] + [f"genre {i}" for i in range(300_000)]  # 4.5 MB of JSON
    (folder / "config.json").write_text(json.dumps(values))
    parsed = []
    monkeypatch.setattr(reading.json, "loads", lambda *args, **kwargs: parsed.append(1))
    started = time.perf_counter()
    with pytest.raises(FolderError, match=r"^config.json is 4.\d MB, more than the 1.0 MB it may take$"):
        GenreClassifier.from_pretrained(folder)
    assert parsed == [] and time.perf_counter() - started < 2


def test_json_is_read_strictly_and_never_from_something_that_does_not_end(tmp_path):
    from genre_hf import reading

    cases = {
        "deep.json": ("[" * 200_000 + "]" * 200_000, "nested more than 64 deep"),  # before: RecursionError
        "deep65.json": ("[" * 65 + "]" * 65, "nested more than 64 deep"),
        "nan.json": ('{"a": NaN}', "NaN is not a JSON number"),
        "twice.json": ('{"a": 1, "a": 2}', "a key is repeated"),
        "list.json": ("[1, 2]", "must hold a JSON object, not a list"),
        "latin1.json": (b'{"a": "caf\xe9"}', "is not UTF-8 text"),
    }
    for name, (text, message) in cases.items():
        (tmp_path / name).write_bytes(text if isinstance(text, bytes) else text.encode())
        with pytest.raises(reading.ReadError, match=message):
            reading.read_json(tmp_path / name, reading.MB)
    os.mkfifo(tmp_path / "fifo.json")  # before: a read that never ends
    (tmp_path / "zero.json").symlink_to("/dev/zero")
    for name in ("fifo.json", "zero.json"):
        with pytest.raises(reading.ReadError, match=f"{name} is not a regular file"):
            reading.read_json(tmp_path / name, reading.MB)
    (tmp_path / "ok.json").write_text('\ufeff{"a": [1, {"b": null}]}')
    assert reading.read_json(tmp_path / "ok.json", reading.KB) == {"a": [1, {"b": None}]}


def test_a_deeply_nested_config_in_an_out_folder_is_one_line(capsys, subset_dir, tmp_path):
    """Before: `train --out` a folder whose config.json is 200,000 nested [ ended in a RecursionError, exit 1."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "config.json").write_text("[" * 200_000)
    assert main(["train", "--data", str(subset_dir), "--out", str(out), "--epochs", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {out} exists and is not a genre_hf model folder: it is left as it is (choose another output folder, "
                   "or empty it first)"]


@pytest.mark.parametrize("report, message", [
    ("[]", "benchmark.json must hold a JSON object, not a list"),
    ('{"test": {"models": {"poster": {"tuned": "high"}}}}', "a split's report needs models, titles"),
])
def test_a_benchmark_json_the_app_cannot_show_is_refused_at_load(tiny_model_dir, tmp_path, report, message):
    """Before: from_pretrained accepted the folder and `genre-hf app` crashed on it (AttributeError, KeyError)."""
    from genre_hf import GenreClassifier
    from genre_hf.app.about import benchmark_report

    folder = copy_of(tiny_model_dir, tmp_path / "model")
    good = GenreClassifier.from_pretrained(folder)
    assert benchmark_report(good)["split"] == "test"
    (folder / "benchmark.json").write_text(report)
    with pytest.raises(FolderError, match=message):
        GenreClassifier.from_pretrained(folder)
    assert benchmark_report(good) is None  # changed after loading: the app shows no benchmark, never crashes
    wrong = json.loads((tiny_model_dir / "benchmark.json").read_text())
    wrong["test"]["models"]["fusion"]["per_genre"] = wrong["test"]["models"]["fusion"]["per_genre"][:-1]
    (folder / "benchmark.json").write_text(json.dumps(wrong))
    with pytest.raises(FolderError, match="a model's scores lack a figure"):
        GenreClassifier.from_pretrained(folder)


def test_a_csv_with_a_column_twice_is_refused(data_dir, tmp_path):
    """Before: a header with two Overview columns silently used the first."""
    from genre_hf.data.loader import load_movies
    from tests.conftest import write_subset

    folder = write_subset(data_dir, tmp_path / "imdb", rows=10)
    path = folder / "IMDB_overview_genres.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines = [lines[0] + ",Overview"] + [line + ",other text" for line in lines[1:]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="IMDB_overview_genres.csv has 2 Overview columns in its header: keep one"):
        load_movies(folder)


def test_the_training_data_by_another_path_is_still_the_training_data(tiny_model_dir, subset_dir, tmp_path):
    """Before: provenance compared path text, so a copy of the training data was "not the training data"."""
    from genre_hf import GenreClassifier
    from genre_hf.evaluation.heldout import evaluate_classifier
    from genre_hf.hub.folder import read_training_record

    copy = tmp_path / "elsewhere" / "my-copy"
    shutil.copytree(subset_dir, copy, symlinks=True)
    classifier = GenreClassifier.from_pretrained(tiny_model_dir)
    record = read_training_record(tiny_model_dir)
    found = evaluate_classifier(classifier, str(copy), split="validation", training=record, log=lambda message: None)
    origin = found.report["provenance"]
    assert origin["same_data_as_training"] is True and origin["used_in_training"] is True
    assert origin["note"].startswith("Scoring the validation split of the training data: epochs, temperatures and thresholds were tuned")
    changed = tmp_path / "changed"
    shutil.copytree(subset_dir, changed, symlinks=True)
    with open(changed / "IMDB_overview_genres.csv", "a", encoding="utf-8") as handle:
        handle.write("tt0000001,['Drama'],A late addition.\n")
    from genre_hf.data.sources import Source

    assert Source.of(changed).identity() != Source.of(copy).identity() == Source.of(subset_dir).identity() == record["data_identity"]


# ---- the Hub: a deadline for each call, and garbage in one line --------------------------------------


def pushed(hub, folder, repo_id="user/model"):
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub.url, token=HUB_TOKEN)
    api.create_repo(repo_id)
    api.upload_folder(folder_path=folder, repo_id=repo_id)
    return repo_id


def finishes_within(seconds: float, function):
    """(what `function` raised, seconds it took); fails if it has not ended after `seconds` (a hang)."""
    outcome = {}

    def run():
        started = time.monotonic()
        try:
            function()
        except BaseException as error:  # noqa: BLE001 - the outcome is what the test looks at
            outcome["error"] = error
        outcome["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    return outcome.get("error"), outcome["seconds"]


@pytest.mark.parametrize("variables, message", [
    ({"GENRE_HF_HUB_TIMEOUT": "2"}, "slower than 1,024 bytes a second"),  # the pace of an answer
    ({"GENRE_HF_HUB_TIMEOUT": "60", "GENRE_HF_HUB_DEADLINE": "3"}, "longer than its deadline"),  # the call as a whole
])
def test_a_hub_that_sends_one_byte_a_second_is_cut_off(hub, tiny_model_dir, monkeypatch, variables, message):
    """Before: with GENRE_HF_HUB_TIMEOUT=3 the command still hung past 100 s (the timeout is per read)."""
    from genre_hf import GenreClassifier

    repo_id = pushed(hub, tiny_model_dir)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    hub.misbehave["trickle"] = 0.5
    try:
        error, seconds = finishes_within(60, lambda: GenreClassifier.from_pretrained(repo_id, token=HUB_TOKEN))
    finally:
        hub.misbehave.clear()
    assert type(error).__name__ == "ReadTimeout" and message in str(error) and seconds < 20, (error, seconds)
    from genre_hf.cli._errors import exit_status

    status, line = exit_status(error)
    assert status == 2 and "\n" not in line and message in line


def test_a_hub_listing_that_is_not_a_list_is_one_line(hub, tiny_model_dir, data_dir, tmp_path, capsys):
    """Before: a tree listing that was a JSON object ended in a TypeError, exit 1."""
    from tests.conftest import write_subset

    repo_id = pushed(hub, tiny_model_dir)
    hub.misbehave["tree_object"] = True
    data = write_subset(data_dir, tmp_path / "imdb", rows=5)
    assert main(["predict", "--model", repo_id, "--data", str(data), "--output", str(tmp_path / "out.csv"), "--no-progress"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: the Hub's answer to the download of {repo_id} is not what the Hub API gives (TypeError); is HF_ENDPOINT a Hub?")


def test_a_hub_file_larger_than_its_kind_may_be_is_never_downloaded(hub, tiny_model_dir, tmp_path):
    from genre_hf import GenreClassifier

    folder = copy_of(tiny_model_dir, tmp_path / "model")
    (folder / "benchmark.json").write_bytes(b" " * (17 * 2**20) + (tiny_model_dir / "benchmark.json").read_bytes())
    repo_id = pushed(hub, folder)
    with pytest.raises(FolderError, match=r"benchmark.json of the Hub repo user/model is 17.\d MB, more than the 16.0 MB it may take"):
        GenreClassifier.from_pretrained(repo_id, token=HUB_TOKEN)
    assert not list((hub.root.parent / "hf_home").rglob("benchmark.json"))  # nothing of it reached the cache
