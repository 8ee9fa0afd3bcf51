"""The benchmarks users run (`benchmarks/`), each at a tiny size on real movies, so none of them rots:
each runs to its end and prints its figures. (The pretrained family's throughput benchmark runs in
tests/test_pretrained.py, beside the model it needs.) What the figures are is for the benchmarks to
say, on a quiet machine: no timing is asserted here."""

from __future__ import annotations

import importlib
import re

import pytest

from tests.conftest import write_subset


def benchmark(name: str):
    """The script benchmarks/<name>.py as a module (its `main(argv)` runs it)."""
    return importlib.import_module(f"benchmarks.{name}")


@pytest.fixture
def on_the_data(data_dir, monkeypatch):
    monkeypatch.setenv("GENRE_HF_DATA", str(data_dir))


def test_serving_and_explain_print_their_latencies(tiny_model_dir, on_the_data, capsys):
    benchmark("serving").main([str(tiny_model_dir), "--requests", "3"])
    benchmark("explain").main([str(tiny_model_dir), "--movies", "2", "--warmup", "1"])
    out = capsys.readouterr().out
    first, later = (float(value) for value in re.search(r"first call \(traces models\): +([\d.]+) ms.*\n"
                                                         r"later calls, median: +([\d.]+) ms", out).groups())
    assert first > 0 and later > 0
    assert re.search(r"2 real movies, overviews of \d+-\d+ words", out)
    assert re.search(r"full explanation: median [\d.]+ s, p95 [\d.]+ s, max [\d.]+ s \(bar: 0.5 s\)", out)
    assert re.search(r"poster alone \(both Grad-CAM heat maps with their overlays\): median [\d.]+ s, p95 [\d.]+ s \(bar: 0.5 s\)", out)


def test_cold_start_prints_its_ratio_to_importing_tensorflow(tiny_model_dir, on_the_data, capsys):
    benchmark("cold_start").main([str(tiny_model_dir), "--runs", "1"])
    out = capsys.readouterr().out
    floor = float(re.search(r"python -c 'import tensorflow': +([\d.]+) s", out).group(1))
    total = float(re.search(r"import \+ load \+ predict: +([\d.]+) s", out).group(1))
    ratio = float(re.search(r"ratio: +([\d.]+)x", out).group(1))
    assert floor > 0 and total > 0 and ratio == pytest.approx(total / floor, abs=0.01)  # on LiteRT, under the floor
    assert re.search(r"first predict: +[\d.]+ s", out) and re.search(r"heavy modules loaded: +none", out)


def test_scaling_prints_the_ratios_of_twice_the_data(data_dir, tmp_path, capsys):
    small = write_subset(data_dir, tmp_path / "small", rows=80)
    benchmark("scaling").main(["--scales", "1", "2", "--inputs", "stream", "--epochs", "1", "--data", str(small),
                               "--work", str(tmp_path / "work")])
    out = capsys.readouterr().out
    rows = re.findall(r"^\| (\d)x \| ([\d,]+) \(([\d,]+)\) \| stream \|", out, re.M)
    assert [(scale, int(movies.replace(",", ""))) for scale, movies, _ in rows] == [("1", 80), ("2", 160)]
    assert re.search(r"Ratios 2x / 1x \(data: 2x\):\n  stream: s/epoch x[\d.]+, features x[\d.]+, peak RSS x[\d.]+", out)
