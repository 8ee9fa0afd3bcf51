"""Training on several devices or machines with TensorFlow's own engine, `tf.distribute`.

- "none": one device, TensorFlow's default strategy;
- "mirrored": `MirroredStrategy`, one replica per local GPU (without GPUs, one per logical CPU
  device: `cpu_devices` splits the CPU, which is how it is tested here);
- "multiworker": `MultiWorkerMirroredStrategy`, one process per machine, the cluster given by the
  `TF_CONFIG` environment variable. The chief (the task named "chief", else worker 0) alone writes
  the model folder: every worker holds the same weights after each step.

Each replica reads `training.batch_size` movies a step, so the global batch is that times the number of
replicas. The TensorFlow guide "Distributed training with Keras"
(https://www.tensorflow.org/tutorials/distribute/keras) sets the global batch this way and says to
"tune the learning rate accordingly"; we scale it linearly with the number of replicas (the rule of
Goyal et al. 2017, "Accurate, Large Minibatch SGD", https://arxiv.org/abs/1706.02677), which keeps
the step per epoch of movies about the same. It is a heuristic (derived for SGD; our optimiser is
Adam): `scale_learning_rate=False` (`--no-lr-scaling`) keeps the configured rate.

Models are built and compiled inside `scope()` (Keras 3 on TensorFlow then creates mirrored
variables), and `fit` gets a distributed dataset made by `datasets()` (each input pipeline reads its
own shard, in per-replica batches).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass

STRATEGIES = ("none", "mirrored", "multiworker")
PEER_TIMEOUT = 300.0  # seconds a multi-worker run waits for its peers to come up (--peer-timeout)


class PeerTimeout(ValueError):
    """A multi-worker run's peers did not all come up in time; the message names those it waited for."""


@dataclass
class Distribution:
    kind: str  # one of STRATEGIES
    strategy: object = None  # the tf.distribute.Strategy; None for "none"
    devices: str = "1 device"
    workers: int = 1
    is_chief: bool = True

    @property
    def replicas(self) -> int:
        return self.strategy.num_replicas_in_sync if self.strategy is not None else 1

    def scope(self):
        """Where models must be built and compiled."""
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def global_batch(self, per_replica: int) -> int:
        return per_replica * self.replicas

    def learning_rate(self, rate: float, scale: bool = True) -> float:
        """Linear scaling with the number of replicas (see the module docstring)."""
        return rate * self.replicas if scale else rate

    def datasets(self, make):
        """`make(input_context)` -> tf.data.Dataset of per-replica batches, as `fit` should get it."""
        if self.strategy is None:
            return make(None)
        return self.strategy.distribute_datasets_from_function(make)

    def describe(self) -> dict:
        return {"strategy": self.kind, "replicas": self.replicas, "workers": self.workers, "devices": self.devices}


def check_settings(kind: str, cpu_devices: int = 0, peer_timeout: float = PEER_TIMEOUT) -> None:
    """A ValueError for settings that cannot work, before anything starts (TF_CONFIG read and checked too)."""
    if kind not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, not {kind!r}")
    if cpu_devices and kind != "mirrored":
        raise ValueError("cpu_devices (--cpu-devices) splits the CPU for a mirrored run: use it with --strategy mirrored")
    if cpu_devices < 0:
        raise ValueError(f"cpu_devices must be a positive number, not {cpu_devices}")
    if kind == "multiworker":
        if not peer_timeout > 0:
            raise ValueError(f"the time to wait for the other workers (--peer-timeout) must be positive, not {peer_timeout}")
        tf_config()


def make_distribution(kind: str = "none", cpu_devices: int = 0, log=print, peer_timeout: float = PEER_TIMEOUT) -> Distribution:
    """The strategy to train with. Call it before anything else uses TensorFlow: logical devices and
    the multi-worker runtime can only be set up before TensorFlow starts. A multi-worker run waits at
    most `peer_timeout` seconds for the other workers (see `_wait_for_peers`)."""
    check_settings(kind, cpu_devices, peer_timeout)
    if kind == "none":
        return Distribution("none")
    import tensorflow as tf

    if kind == "mirrored":
        if cpu_devices:
            _split_cpu(cpu_devices)
        gpus = tf.config.list_logical_devices("GPU")
        devices = gpus or tf.config.list_logical_devices("CPU")
        strategy = tf.distribute.MirroredStrategy(devices=[device.name for device in devices])
        what = f"{len(devices)} {'GPU' if gpus else 'logical CPU device'}{'s' if len(devices) > 1 else ''}"
        log(f"Strategy: mirrored over {what}")
        if not gpus and len(devices) == 1:
            log("  no GPU found: one replica on the CPU (--cpu-devices N splits the CPU into N, for testing)")
        return Distribution("mirrored", strategy, what)
    cluster, task = tf_config()
    peers = {f"{kind} {index} ({address})": address for kind, addresses in cluster.items() for index, address in enumerate(addresses)
             if (kind, index) != (task["type"], task["index"])}
    log(f"Strategy: multi-worker, waiting up to {peer_timeout:g} s for {', '.join(peers)}")
    _wait_for_peers(cluster[task["type"]][task["index"]], peers, peer_timeout)
    strategy = _keras_multi_worker_strategy()
    workers = len(cluster.get("chief", [])) + len(cluster.get("worker", []))
    chief = task["type"] == "chief" or (task["type"] == "worker" and task["index"] == 0 and "chief" not in cluster)
    log(f"Strategy: multi-worker, {task['type']} {task['index']} of {workers} workers ({'chief' if chief else 'not the chief'}), "
        f"{strategy.num_replicas_in_sync} replicas in all")
    return Distribution("multiworker", strategy, f"{workers} workers", workers, chief)


def _split_cpu(count: int) -> None:
    import tensorflow as tf

    if count < 1:
        raise ValueError(f"cpu_devices must be a positive number, not {count}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError:
        raise ValueError("the CPU can be split into logical devices only before TensorFlow starts: "
                         "make the distribution first in the process") from None


def tf_config() -> tuple[dict, dict]:
    """(cluster, task) from TF_CONFIG, or a ValueError that says what it should hold."""
    example = '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise ValueError(f"--strategy multiworker needs the TF_CONFIG environment variable on every worker, e.g. {example}")
    try:
        value = json.loads(text)
        cluster, task = value["cluster"], value["task"]
        if not isinstance(cluster, dict) or not cluster or set(cluster) - {"chief", "worker"}:
            raise KeyError("cluster")
        for addresses in cluster.values():
            if not isinstance(addresses, list) or not addresses or not all(_is_address(address) for address in addresses):
                raise KeyError("addresses")
        if not isinstance(task, dict) or isinstance(task.get("index"), bool):
            raise KeyError("task")
        task = {"type": str(task["type"]), "index": int(task["index"])}
        if task["type"] not in cluster or not 0 <= task["index"] < len(cluster[task["type"]]):
            raise KeyError("task")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ValueError(f"TF_CONFIG must name the cluster's workers and this task (addresses as host:port), e.g. {example}; it is {text!r}") from None
    addresses = [address for listed in cluster.values() for address in listed]
    repeated = sorted({address for address in addresses if addresses.count(address) > 1})
    if repeated:  # a worker would answer its own probe for its twin, then wait in TensorFlow for ever
        raise ValueError(f"TF_CONFIG names {', '.join(repeated)} for more than one task: each worker needs its own host:port")
    return cluster, task


def _is_address(address) -> bool:
    host, _, port = address.rpartition(":") if isinstance(address, str) else ("", "", "")
    return bool(host) and port.isdigit() and 0 < int(port) < 65536


def _wait_for_peers(own: str, peers: dict[str, str], timeout: float) -> None:
    """Return once every peer answers on its port, or raise PeerTimeout naming those that never did.

    Building the strategy blocks inside TensorFlow's runtime until every worker is up, for ever and
    deaf to Ctrl-C and SIGTERM; so the workers meet first, here, where waiting is bounded and
    interruptible. Each listens on its own cluster address (accepting the others' probes) while it
    probes the others; once all answer, it stops listening and its TensorFlow server takes the port.
    Ctrl-C or SIGTERM while waiting is a KeyboardInterrupt.
    """
    host, _, port = own.rpartition(":")
    listener = socket.socket(socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("", int(port)))
    except OSError as error:
        raise ValueError(f"this worker's address {own} (TF_CONFIG) cannot be listened on: {error.strerror}") from None
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()
    answering = threading.Thread(target=_answer_probes, args=(listener, stop), name="genre_hf-peer-probes", daemon=True)
    answering.start()
    previous = signal.signal(signal.SIGTERM, _interrupt) if threading.current_thread() is threading.main_thread() else None
    deadline, pending = time.monotonic() + timeout, dict(peers)
    try:
        while pending:
            pending = {name: address for name, address in pending.items() if not _answers(address)}
            if pending and time.monotonic() > deadline:
                raise PeerTimeout(f"gave up after {timeout:g} s waiting for {', '.join(pending)}: start it with the same "
                                  "TF_CONFIG and its own task index, or wait longer with --peer-timeout SECONDS")
            if pending:
                time.sleep(0.5)
    finally:
        stop.set()
        answering.join()  # its last accept returns within 0.2 s: then the port is free for TensorFlow's server
        listener.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _answer_probes(listener: socket.socket, stop: threading.Event) -> None:
    """Accept the other workers' probes; each prober closes first, so this port is left free for TensorFlow."""
    while not stop.is_set():
        try:
            connection, _ = listener.accept()
        except (TimeoutError, OSError):
            continue
        with connection:
            connection.settimeout(0.2)
            try:
                connection.recv(1)
            except OSError:
                pass


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _answers(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=1):
            return True
    except OSError:
        return False


def _keras_multi_worker_strategy():
    """`MultiWorkerMirroredStrategy` with two workarounds for Keras 3's `fit` on it (keras-team/keras
    #20329 and #20585, open as of Keras 3.15), both in `reduce`, which Keras calls in two ways the
    strategy refuses:

    - before training, to learn the shapes of a batch, Keras "reduces" the first batch, a nested
      structure of per-replica tensors ("unsupported type dict"): such a structure gets this
      worker's first replica's tensors, as the single-machine strategy effectively hands back;
    - after each step, Keras averages each replica's metrics with `axis=0`, which scalars do not
      have ("invalid reduction dimension 0"): a scalar is averaged over the replicas of every
      worker (axis None), so every worker logs, and KeepBestWeights acts on, the same numbers.

    Every other reduction is the strategy's own.
    """
    import tensorflow as tf

    class Strategy(tf.distribute.MultiWorkerMirroredStrategy):
        def reduce(self, reduce_op, value, axis):
            if axis is None and isinstance(value, (dict, list, tuple)):
                return tf.nest.map_structure(
                    lambda leaf: self.experimental_local_results(leaf)[0] if isinstance(leaf, tf.distribute.DistributedValues) else leaf,
                    value,
                )
            if axis is not None and getattr(self.experimental_local_results(value)[0], "shape", None) == ():
                axis = None  # a scalar (one local replica hands back a plain tensor, several a per-replica value)
            return super().reduce(reduce_op, value, axis)

    return Strategy()
