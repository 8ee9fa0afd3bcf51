"""Every class of error a user can fix ends in one line on stderr and exit status 2 (docs/cli.md, "Errors and
exit codes"), Ctrl-C in 130, and a bug keeps its traceback; TensorFlow's start-up lines are held back."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from genre_hf.cli import main
from tests.conftest import HUB_TOKEN, free_port, write_subset

ROOT = Path(__file__).resolve().parents[1]
TENSORFLOW_NOISE = ("absl::InitializeLog", "oneDNN custom operations", "cudart_stub", "cuInit", "cpu_feature_guard")


def one_line(capsys, argv: list[str]) -> str:
    """Run `genre-hf argv` here; it must end in exit status 2 and one line of error on stderr (after what it
    said it was doing, if anything), never a traceback."""
    status = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and err[-1].startswith("error: ") and sum(line.startswith("error") for line in err) == 1, (status, err)
    assert not any("Traceback" in line for line in err), err
    return err[-1]


def test_bad_arguments(capsys, subset_dir, tmp_path):
    assert "at least 1" in one_line(capsys, ["train", "--data", str(subset_dir), "--out", str(tmp_path / "m"), "--epochs", "0"])
    assert "at least 2 seeds" in one_line(capsys, ["benchmark", "--data", str(subset_dir), "--seeds", "1"])
    assert "--chunk-size must be at least 1" in one_line(capsys, ["predict", "--data", str(subset_dir), "--output", "x.csv", "--chunk-size", "0"])
    with pytest.raises(SystemExit) as exited:  # argparse's own usage errors: status 2 as well
        main(["train", "--no-such-option"])
    assert exited.value.code == 2


def test_bad_data(capsys, tiny_model_dir, tmp_path):
    assert "no data at" in one_line(capsys, ["predict", "--model", str(tiny_model_dir), "--data", str(tmp_path / "nothing"), "--output",
                                             str(tmp_path / "x.csv")])
    (tmp_path / "notes.txt").write_text("not movies")
    assert "cannot read movies from" in one_line(capsys, ["evaluate", "--model", str(tiny_model_dir), "--data", str(tmp_path / "notes.txt")])


def test_a_split_the_data_lacks_is_refused_before_tensorflow_starts(capsys, monkeypatch, tiny_model_dir, subset_dir, tmp_path):
    from genre_hf.cli import _quiet

    def started(show_logs):
        raise AssertionError("TensorFlow was started before the split was checked")

    monkeypatch.setattr(_quiet, "start_tensorflow", started)
    expected = "error: no split 'tset' in the data; it has ['test', 'train', 'validation']"
    assert one_line(capsys, ["evaluate", "--model", str(tiny_model_dir), "--data", str(subset_dir), "--split", "tset"]) == expected
    assert one_line(capsys, ["predict", "--model", str(tiny_model_dir), "--data", str(subset_dir), "--split", "tset",
                             "--output", str(tmp_path / "x.csv")]) == expected


def test_bad_model_folder(capsys, tmp_path, subset_dir):
    (tmp_path / "empty").mkdir()
    assert "not a complete genre_hf model folder" in one_line(capsys, ["predict", "--model", str(tmp_path / "empty"), "--data",
                                                                          str(subset_dir), "--output", str(tmp_path / "x.csv")])


def test_missing_extra(capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *rest: None if name == "gradio" else real(name, *rest))
    assert one_line(capsys, ["app"]) == 'error: genre-hf app needs the app extra: pip install "genre_hf[app]"'
    assert one_line(capsys, ["publish-space", "--space-id", "u/s", "--model-repo", "u/m"]).endswith('needs the app extra: pip install "genre_hf[app]"')


def test_the_hub_refuses(capsys, hub, tiny_model_dir, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "not-a-token-the-hub-knows")
    line = one_line(capsys, ["push", "--model", str(tiny_model_dir), "--repo", "user/refused"])
    assert "Push to user/refused failed" in line and "is intact" in line


def test_the_hub_cannot_be_reached(capsys, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("HF_TOKEN", HUB_TOKEN)
    assert "cannot reach the Hub at" in one_line(capsys, ["publish-space", "--space-id", "u/s", "--model-repo", "u/m"])


def test_the_file_system(capsys, tiny_model_dir, subset_dir, tmp_path):
    (tmp_path / "a-file").write_text("")
    line = one_line(capsys, ["predict", "--model", str(tiny_model_dir), "--data", str(subset_dir), "--output",
                             str(tmp_path / "a-file" / "genres.csv"), "--no-progress"])
    assert "a-file" in line


def test_a_busy_port(capsys, tiny_model_dir):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert "cannot serve on 127.0.0.1" in one_line(capsys, ["app", "--model", str(tiny_model_dir), "--port", str(port)])


def test_interrupted_is_130_and_a_bug_keeps_its_traceback(capsys, monkeypatch):
    import genre_hf.cli.push as push

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(push, "check", interrupted)
    assert main(["push", "--repo", "u/m"]) == 130 and capsys.readouterr().err.strip() == "interrupted"

    def bug(args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(push, "check", bug)
    with pytest.raises(RuntimeError, match="a bug"):  # not hidden behind one line: it is ours to fix
        main(["push", "--repo", "u/m"])


def test_tensorflow_start_up_lines_are_held_back_unless_asked_for(tiny_model_dir, data_dir, tmp_path):
    """`predict` starts no TensorFlow (and LiteRT's line about its CPU delegate is dropped); `evaluate`
    starts it with its start-up lines held back, unless GENRE_HF_TF_LOGS=1 asks for them."""
    env = {key: value for key, value in os.environ.items() if key not in ("TF_CPP_MIN_LOG_LEVEL", "GENRE_HF_TF_LOGS")}
    movies = write_subset(data_dir, tmp_path / "imdb", rows=20)  # the lines come at start-up, whatever the data's size
    predict = [sys.executable, "-m", "genre_hf", "predict", "--model", str(tiny_model_dir), "--data", str(movies), "--output",
               str(tmp_path / "genres.csv"), "--no-progress"]
    quiet = subprocess.run(predict, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert quiet.stderr.splitlines() == [f"Loading the model from {tiny_model_dir}", "Predicted 20 of 20 movies",
                                         f"Wrote {tmp_path / 'genres.csv'}"]
    command = [sys.executable, "-m", "genre_hf", "evaluate", "--model", str(tiny_model_dir), "--data", str(movies), "--output",
               str(tmp_path / "report.json")]
    held = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert held.returncode == 0 and not any(noise in held.stderr for noise in TENSORFLOW_NOISE), held.stderr
    shown = subprocess.run(command, cwd=ROOT, env={**env, "GENRE_HF_TF_LOGS": "1"}, capture_output=True, text=True, timeout=300)
    # Which start-up lines TensorFlow prints depends on the CPU (oneDNN's needs AVX-512; cudart's and absl's come on any).
    assert shown.returncode == 0 and any(noise in shown.stderr for noise in TENSORFLOW_NOISE), shown.stderr
