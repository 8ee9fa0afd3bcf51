"""Every file a command writes follows one rule (genre_hf/staging.py): never an input, never a file or
folder the command did not write, a partial of its own beside it, moved in whole, and no partial
left behind even when closing fails. Each case is one the issue "Hardening III" found destroying or
corrupting a user's files with exit status 0."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest

from genre_hf.cli import main
from tests.conftest import write_subset


def refused(capsys, argv: list[str]) -> str:
    """`genre-hf argv` in this process: exit status 2 and one line of error (given before TensorFlow starts)."""
    status = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and err[0].startswith("error: "), (status, err)
    return err[0]


def test_predict_refuses_an_output_inside_the_data_folder_it_reads(capsys, tiny_model_dir, data_dir, tmp_path):
    """Before: --output D/IMDB_overview_genres.csv replaced the input CSV with the predictions (exit 0)."""
    data = write_subset(data_dir, tmp_path / "imdb", rows=20)
    csv_file = data / "IMDB_overview_genres.csv"
    before = csv_file.read_bytes()
    line = refused(capsys, ["predict", "--model", str(tiny_model_dir), "--data", str(data), "--output", str(csv_file), "--no-progress"])
    assert "which this command reads" in line and csv_file.read_bytes() == before
    line = refused(capsys, ["predict", "--model", str(tiny_model_dir), "--data", str(data), "--output",
                            str(tiny_model_dir / "predictions.csv")])  # the model folder is read too
    assert "inside" in line and not (tiny_model_dir / "predictions.csv").exists()
    (tmp_path / "notes.csv").write_text("mine,not predictions\n1,2\n")
    line = refused(capsys, ["predict", "--model", str(tiny_model_dir), "--data", str(data), "--output", str(tmp_path / "notes.csv")])
    assert "is not a predictions file genre_hf wrote" in line and (tmp_path / "notes.csv").read_text() == "mine,not predictions\n1,2\n"


def test_two_predict_runs_to_one_output_each_write_their_own_partial(tiny_model_dir, data_dir, tmp_path, monkeypatch):
    """Before: both wrote `.NAME.partial`; one reported success with a file of NUL bytes, the other
    failed, and the output mixed both. Here a second run starts and ends while the first is under way."""
    import pyarrow.parquet as pq

    from genre_hf import GenreClassifier
    from genre_hf.inference import batch

    classifier = GenreClassifier.from_pretrained(tiny_model_dir)
    long, short = write_subset(data_dir, tmp_path / "long", rows=12), write_subset(data_dir, tmp_path / "short", rows=3, start=40)
    output = tmp_path / "genres.parquet"
    real, partials = batch._predict_chunk, []

    def chunk_with_a_second_run(classifier, rows, writer, report):
        partials.append(sorted(path.name for path in tmp_path.glob(".genres.parquet-*.partial")))
        if len(partials) == 1:  # the first run's first chunk: the second run, whole, now
            batch.predict_file(classifier, short, output, chunk_size=2, progress=False)
            assert pq.read_table(output).num_rows == 3
        real(classifier, rows, writer, report)

    monkeypatch.setattr(batch, "_predict_chunk", chunk_with_a_second_run)
    report = batch.predict_file(classifier, long, output, chunk_size=4, progress=False)
    ids = [line.split(",", 1)[0] for line in (long / "IMDB_overview_genres.csv").read_text().splitlines()[1:]]
    assert report.predicted == 12 and pq.read_table(output).column("id").to_pylist() == ids  # the first run's, whole
    assert len(partials[1]) == 2 and partials[-1] == partials[0]  # the second run's partial beside the first's, which was kept
    assert not list(tmp_path.glob(".genres.parquet*"))  # none left behind


def test_predict_into_a_full_disk_keeps_the_old_output_and_leaves_no_partial(tiny_model_dir, data_dir, tmp_path, monkeypatch):
    """Before: the cleanup ran after a close that raised again, so the partial file stayed, filling the disk."""
    from genre_hf import GenreClassifier
    from genre_hf.inference import batch

    classifier = GenreClassifier.from_pretrained(tiny_model_dir)
    data = write_subset(data_dir, tmp_path / "imdb", rows=6)
    output = tmp_path / "genres.csv"
    batch.predict_file(classifier, data, output, progress=False)
    before = output.read_bytes()

    def full(self):  # what closing a file on a full disk does: the buffered rows cannot be written
        self.handle.close()
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(batch.CsvWriter, "close", full)
    with pytest.raises(OSError, match="No space left"):
        batch.predict_file(classifier, data, output, progress=False)
    assert output.read_bytes() == before and sorted(path.name for path in tmp_path.iterdir()) == ["genres.csv", "imdb"]


def test_evaluate_never_writes_over_its_data_or_a_file_beside_its_report(capsys, tiny_model_dir, subset_dir, tmp_path):
    """Before: --output movies.parquet turned the data into JSON; --output README.json replaced the
    user's README.md beside it (the report's .md sibling was written unchecked)."""
    from genre_hf.data.loader import load_movies

    movies, _ = load_movies(subset_dir)
    data = tmp_path / "movies.parquet"
    movies["test"].to_parquet(data)
    capsys.readouterr()  # the progress bar of writing it
    before = data.read_bytes()
    line = refused(capsys, ["evaluate", "--model", str(tiny_model_dir), "--data", str(data), "--output", str(data)])
    assert "which this command reads" in line and data.read_bytes() == before
    (tmp_path / "README.md").write_text("# my project\n")
    line = refused(capsys, ["evaluate", "--model", str(tiny_model_dir), "--data", str(data), "--output", str(tmp_path / "README.json")])
    assert "README.md exists and is not a genre_hf evaluation report" in line and (tmp_path / "README.md").read_text() == "# my project\n"
    assert not (tmp_path / "README.json").exists()
    line = refused(capsys, ["evaluate", "--model", str(tiny_model_dir), "--data", str(data), "--plots", str(tiny_model_dir)])
    assert "which this command reads" in line  # the model's own plots are not overwritten either


def test_benchmark_refuses_a_folder_of_the_users_own_files(capsys, subset_dir, tmp_path):
    """Before: --out PROJ replaced the user's PROJ/results.json and PROJ/benchmark.md (train refused such a folder, benchmark did not)."""
    project = tmp_path / "project"
    project.mkdir()
    mine = {"results.json": '{"mine": true}\n', "benchmark.md": "# my notes\n"}
    for name, text in mine.items():
        (project / name).write_text(text)
    line = refused(capsys, ["benchmark", "--data", str(subset_dir), "--out", str(project), "--epochs", "1"])
    assert "exists and is not a genre_hf benchmark folder" in line
    assert {name: (project / name).read_text() for name in mine} == mine
    assert "which this command reads" in refused(capsys, ["benchmark", "--data", str(subset_dir), "--out", str(subset_dir / "bench")])


def test_saving_into_a_symbolic_link_to_a_model_folder_replaces_what_it_points_to(tiny_model_dir, tmp_path):
    """Before: the link itself was replaced by a real folder, its target left old, and a
    `.link-PID-x.replaced` left behind for good."""
    from genre_hf import GenreClassifier

    classifier = GenreClassifier.from_pretrained(tiny_model_dir)
    real = tmp_path / "models" / "v1"
    shutil.copytree(tiny_model_dir, real)
    (real / "stale-report.png").write_bytes(b"old")
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    classifier.save_pretrained(link)
    assert link.is_symlink() and os.readlink(link) == str(real)  # the link kept, still pointing there
    assert not (real / "stale-report.png").exists() and GenreClassifier.from_pretrained(link).genres == classifier.genres
    assert sorted(path.name for path in tmp_path.iterdir()) == ["link", "models"]
    assert sorted(path.name for path in real.parent.iterdir()) == ["v1"]


def test_the_rule_refuses_each_kind_of_destination_in_one_sentence(tmp_path):
    from genre_hf import staging

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "movies.csv").write_text("x")
    (tmp_path / "folder").mkdir()
    (tmp_path / "mine.txt").write_text("mine")
    cases = {
        "data/movies.csv": "which this command reads", "data/sub/out.csv": "is inside", ".": "holds",
        "folder": "is a folder", "mine.txt": "exists and is not an output genre_hf wrote", "mine.txt/x.csv": "is a file, not a folder",
    }
    for target, message in cases.items():
        with pytest.raises(ValueError, match=message):
            staging.check_file(tmp_path / target, reads=[tmp_path / "data"])
    assert staging.check_file(tmp_path / "new.csv", reads=[tmp_path / "data", "user/hub-id"]) == (tmp_path / "new.csv").resolve()
    with staging.file(tmp_path / "mine.txt", ours=lambda path: path.read_text() == "mine") as partial:
        partial.write_text("new")  # a file the writer recognises as its own is replaced, whole
    assert (tmp_path / "mine.txt").read_text() == "new" and not list(tmp_path.glob(".mine.txt*"))
    with pytest.raises(RuntimeError), staging.file(tmp_path / "mine.txt", ours=lambda path: True) as partial:
        partial.write_text("half")
        raise RuntimeError("the run stopped")
    assert (tmp_path / "mine.txt").read_text() == "new" and not list(tmp_path.glob(".mine.txt*"))
    Path(tmp_path / "folder" / "x").write_text("y")
    with pytest.raises(ValueError, match="exists and is not an output folder"):
        staging.check_folder(tmp_path / "folder")
