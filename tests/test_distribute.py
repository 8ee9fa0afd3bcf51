"""tf.distribute: a mirrored run over 2 logical CPU devices and a 2-worker run on 127.0.0.1 train
models that load and predict; only the chief writes the model folder; bad settings are clear errors.

Each run is a fresh process: logical devices and the multi-worker runtime are set up before
TensorFlow starts, once per process.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from genre_hf.training.distribute import make_distribution
from tests.conftest import END_SCRIPT, free_port, write_subset

ROOT = Path(__file__).resolve().parents[1]
RUN = """
import json, sys
from genre_hf.training.trainer import TrainOptions
from genre_hf.pipeline import train_and_save
from tests.conftest import tiny_config

arguments = json.loads(sys.argv[1])
config = tiny_config(epochs=1, poster={"epochs": 2}, training={"batch_size": 32})
result = train_and_save(arguments["data"], arguments["out"], config=config, options=TrainOptions(**arguments["options"]))
print("SAVED" if result is not None else "NOT SAVED")
""" + END_SCRIPT


@pytest.fixture(scope="module")
def small_dir(data_dir, tmp_path_factory) -> Path:
    return write_subset(data_dir, tmp_path_factory.mktemp("small") / "imdb", rows=240)


def start(arguments: dict, env: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.Popen([sys.executable, "-c", RUN, json.dumps(arguments)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(*processes: subprocess.Popen, timeout: float = 400) -> list[str]:
    """Each process's output once all have exited 0; otherwise all are stopped and every one's status
    and output shown (a worker that died is why its peer waits)."""
    deadline, outputs, timed_out = time.monotonic() + timeout, [], False
    try:
        for process in processes:
            outputs.append(process.communicate(timeout=max(1.0, deadline - time.monotonic()))[0])
    except subprocess.TimeoutExpired:
        timed_out = True
    if not timed_out and all(process.returncode == 0 for process in processes):
        return outputs
    for process in processes:
        process.kill()
    outputs += [process.communicate()[0] for process in processes[len(outputs):]]  # the rest, the hung one's included
    raise AssertionError((f"timed out after {timeout:g} s\n" if timed_out else "") + "\n".join(
        f"process {index}, status {process.returncode}:\n{output[-3000:]}" for index, (process, output) in enumerate(zip(processes, outputs))))


def check_model(out: Path, sample_movie, replicas: int, workers: int) -> dict:
    from genre_hf import GenreClassifier
    from tests.conftest import tiny_config

    report = json.loads((out / "training_report.json").read_text())
    config = tiny_config()
    assert report["distribution"] == {
        "strategy": report["distribution"]["strategy"], "replicas": replicas, "workers": workers,
        "devices": report["distribution"]["devices"], "batch_size_per_replica": 32, "global_batch_size": 32 * replicas,
    }
    assert report["models"]["poster"]["learning_rate"] == pytest.approx(config.training.learning_rate * replicas)
    assert report["models"]["fusion"]["learning_rate"] == pytest.approx(config.fusion.learning_rate * replicas)
    assert len(report["models"]["poster"]["history"]["loss"]) == 2
    classifier = GenreClassifier.from_pretrained(out)
    poster, overview, _ = sample_movie
    result = classifier.predict(poster=poster, overview=overview)
    probabilities = np.array(list(result["fusion"]["probabilities"].values()))
    assert set(result) == {"poster", "overview", "fusion"} and ((probabilities > 0) & (probabilities < 1)).all()
    return report


def test_a_mirrored_run_on_two_logical_cpus_saves_a_model_that_loads(small_dir, tmp_path, sample_movie):
    out = tmp_path / "model"
    options = {"strategy": "mirrored", "cpu_devices": 2, "input": "memory"}
    output, = finish(start({"data": str(small_dir), "out": str(out), "options": options}))
    assert "Strategy: mirrored over 2 logical CPU devices" in output
    assert "2 replicas: global batch 64 (32 a replica), learning rates x2" in output and "SAVED" in output
    report = check_model(out, sample_movie, replicas=2, workers=1)
    assert report["distribution"]["strategy"] == "mirrored" and report["input"] == "memory"


def test_two_workers_on_localhost_train_together_and_the_chief_saves(small_dir, tmp_path, sample_movie):
    """Two processes, one per 'machine' (each its own feature cache, streamed), TF_CONFIG naming both."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    out = tmp_path / "model"
    processes = []
    for index in (0, 1):
        options = {"strategy": "multiworker", "input": "stream", "cache_dir": str(tmp_path / f"cache{index}")}
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        processes.append(start({"data": str(small_dir), "out": str(out), "options": options}, {"TF_CONFIG": tf_config}))
    outputs = finish(*processes)
    assert "worker 0 of 2 workers (chief)" in outputs[0] and outputs[0].rstrip().endswith("SAVED")
    assert "worker 1 of 2 workers (not the chief)" in outputs[1] and outputs[1].rstrip().endswith("NOT SAVED")
    assert "this worker is not the chief" in outputs[1]
    for index in (0, 1):  # each worker featurized the data into its own cache
        assert any((tmp_path / f"cache{index}" / "features").glob("train-*/meta.json"))
    assert not any(path.name.startswith(".model") for path in tmp_path.iterdir())  # nothing half-written
    report = check_model(out, sample_movie, replicas=2, workers=2)
    assert report["distribution"]["strategy"] == "multiworker" and report["input"] == "stream"


@pytest.mark.parametrize("tf_config, message", [
    (None, "needs the TF_CONFIG environment variable"),
    ("{not json", "TF_CONFIG must name the cluster's workers and this task"),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 3}}', "TF_CONFIG must name"),
    ('{"cluster": {"worker": ["127.0.0.1:7", "127.0.0.1:7"]}, "task": {"type": "worker", "index": 0}}',
     "TF_CONFIG names 127.0.0.1:7 for more than one task: each worker needs its own host:port"),
])
def test_multiworker_without_a_usable_tf_config_is_a_clear_error(monkeypatch, tf_config, message):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(ValueError, match=message):
        make_distribution("multiworker", log=lambda message: None)


def test_bad_strategy_settings_are_clear_errors():
    with pytest.raises(ValueError, match="strategy must be one of"):
        make_distribution("horovod")
    with pytest.raises(ValueError, match="use it with --strategy mirrored"):
        make_distribution("none", cpu_devices=2)
    none = make_distribution("none")
    assert none.replicas == 1 and none.is_chief and none.learning_rate(0.002) == 0.002 and none.global_batch(64) == 64


# A background job of a non-interactive shell (as CI runs this suite) inherits SIGINT ignored, and
# Python then leaves it ignored; a user at a terminal has Ctrl-C, so the command starts with it.
AS_AT_A_TERMINAL = "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); runpy.run_module('genre_hf', run_name='__main__')"


def command(arguments: list[str], env: dict | None = None) -> subprocess.Popen:
    """`genre-hf ...` in a fresh process, as a user at a terminal runs it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return subprocess.Popen([sys.executable, "-c", AS_AT_A_TERMINAL, *arguments], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_a_mirrored_run_on_one_device_trains_all_three_models(small_dir, tmp_path, sample_movie):
    """The common case (one GPU, or a CPU without --cpu-devices): one replica, the fusion step included."""
    from genre_hf import GenreClassifier

    process = command(["train", "--data", str(small_dir), "--out", str(tmp_path / "model"), "--strategy", "mirrored", "--epochs", "1"])
    output, errors = process.communicate(timeout=400)
    assert process.returncode == 0, errors[-3000:]
    assert "Strategy: mirrored over 1 logical CPU device" in output and "Training fusion" in output
    report = json.loads((tmp_path / "model" / "training_report.json").read_text())
    assert report["distribution"]["strategy"] == "mirrored" and report["distribution"]["replicas"] == 1
    assert set(report["models"]) == {"poster", "overview", "fusion"}
    assert set(GenreClassifier.from_pretrained(tmp_path / "model").predict(poster=sample_movie[0], overview=sample_movie[1])) == {
        "poster", "overview", "fusion"}


def free_ports(count: int) -> list[int]:
    """`count` free ports, bound at once so no two are the same (two free_port() calls can be)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@contextlib.contextmanager
def config_with_a_peer_that_never_starts(index: int):
    """TF_CONFIG for worker `index` of two on 127.0.0.1, and the other worker's address. Its port stays
    bound (not listening) meanwhile: a probe of it is refused, and no other process of the test run can
    take the port and answer for the worker that never starts (the waiting worker would then go on
    into TensorFlow's runtime, which Ctrl-C cannot interrupt)."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        ports = {index: free_port(), 1 - index: held.getsockname()[1]}  # distinct: the held port is taken
        workers = [f"127.0.0.1:{ports[0]}", f"127.0.0.1:{ports[1]}"]
        yield json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}), workers[1 - index]


def test_a_worker_whose_peer_never_comes_up_gives_up_naming_it(small_dir, tmp_path):
    started = time.monotonic()
    with config_with_a_peer_that_never_starts(0) as (tf_config, peer):
        process = command(["train", "--data", str(small_dir), "--out", str(tmp_path / "model"), "--strategy", "multiworker",
                           "--peer-timeout", "3"], {"TF_CONFIG": tf_config})
        _, errors = process.communicate(timeout=120)
    assert process.returncode == 2
    assert errors.strip().splitlines() == [f"error: gave up after 3 s waiting for worker 1 ({peer}): start it with the same TF_CONFIG "
                                           "and its own task index, or wait longer with --peer-timeout SECONDS"]
    assert time.monotonic() - started < 60 and not (tmp_path / "model").exists()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_stops_a_worker_waiting_for_its_peer(small_dir, tmp_path, signum):
    with config_with_a_peer_that_never_starts(1) as (tf_config, _):
        process = command(["train", "--data", str(small_dir), "--out", str(tmp_path / "model"), "--strategy", "multiworker"],
                          {"TF_CONFIG": tf_config})
        for line in process.stdout:  # it waits for worker 0, for up to 300 s
            if "waiting up to 300 s for worker 0" in line:
                break
        time.sleep(1)
        process.send_signal(signum)
        _, errors = process.communicate(timeout=30)
    assert process.returncode == 130 and errors.strip().splitlines() == ["interrupted"]


@pytest.mark.parametrize("tf_config", [
    '{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 1}}',  # the index is out of range
    '{"cluster": {"worker": "127.0.0.1:1"}, "task": {"type": "worker", "index": 0}}',  # not a list of addresses
    '{"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}',  # no port
    '{"cluster": {"ps": ["127.0.0.1:1"]}, "task": {"type": "ps", "index": 0}}',  # parameter servers are not supported
])
def test_an_invalid_tf_config_is_one_line(small_dir, tmp_path, tf_config):
    process = command(["train", "--data", str(small_dir), "--out", str(tmp_path / "model"), "--strategy", "multiworker"],
                      {"TF_CONFIG": tf_config})
    _, errors = process.communicate(timeout=120)
    assert process.returncode == 2 and len(errors.strip().splitlines()) == 1
    assert errors.startswith("error: TF_CONFIG must name the cluster's workers and this task (addresses as host:port)")
