"""LiteRT: a traced forward pass converted once into a .tflite file, and run without TensorFlow.

`convert` (TensorFlow's converter, at training or saving time only) freezes a traced pass's
variables into constants, as Keras 3 variables are otherwise kept as uninitialised resources, and
writes builtin ops only, optionally with int8 weights (dynamic range: the weights stored in int8,
the activations quantized on the fly). `LiteModel` runs such a file with the `ai-edge-litert`
interpreter, which imports neither TensorFlow nor Keras: from the bytes on disk to a first answer
takes milliseconds where building and tracing the Keras models takes seconds.

A converted file is trusted only by its sha256, recorded where it was made (`file_sha256`): every
reader checks it before the interpreter sees a byte.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
from pathlib import Path

import numpy as np

from genre_hf.held_stderr import descriptor_2_held

QUANTIZATIONS = ("float32", "int8")  # int8: dynamic-range int8 weights


def convert(function, int8: bool = False) -> bytes:
    """The traced `function` (a `tf.function` with a fixed input signature) as a .tflite file's bytes."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    quiet = logging.getLogger("absl")  # "consider providing trackable_obj": the variables are constants already
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        frozen = convert_variables_to_constants_v2(function.get_concrete_function())
        converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if int8:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        return converter.convert()
    finally:
        quiet.setLevel(level)


def content_sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def threads() -> int:
    """The interpreter's threads: TF_NUM_INTRAOP_THREADS when set (as TensorFlow reads it), else every core this process may use."""
    given = os.environ.get("TF_NUM_INTRAOP_THREADS", "")
    if given.isdigit() and int(given) > 0:
        return int(given)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class LiteModel:
    """A .tflite file's pass, run by the LiteRT interpreter: named inputs in, its outputs in order out.

    Each call resizes the inputs to the batch's shape (any batch size, and any sequence length where
    the file allows one). One call at a time: an interpreter holds its tensors between calls, so
    calls from several threads (a served app) take turns.
    """

    def __init__(self, content: bytes, what: str):
        from ai_edge_litert.interpreter import Interpreter

        self.what = what
        try:
            self._interpreter = Interpreter(model_content=content, num_threads=threads())
        except ValueError as error:
            raise ValueError(f"{what} is not a LiteRT model the runtime can read ({str(error).splitlines()[0][:200]})") from None
        self._inputs = {detail["name"]: detail for detail in self._interpreter.get_input_details()}
        self._outputs = [detail["index"] for detail in self._interpreter.get_output_details()]
        self._shapes: dict[str, tuple] = {}
        self._lock = threading.Lock()

    @property
    def input_names(self) -> list[str]:
        return list(self._inputs)

    def output_shapes(self) -> list[tuple]:
        """Each output's shape, -1 where it depends on the batch."""
        return [tuple(detail["shape_signature"]) for detail in self._interpreter.get_output_details()]

    def __call__(self, inputs: dict[str, np.ndarray] | np.ndarray) -> list[np.ndarray]:
        """The outputs for `inputs` ({input name: array}, or the array of a pass with one input)."""
        interpreter = self._interpreter
        if not isinstance(inputs, dict):
            inputs = {next(iter(self._inputs)): inputs}
        with self._lock, _delegate_line_dropped():
            shapes = {name: np.shape(inputs[name]) for name in self._inputs}
            if shapes != self._shapes:
                for name, detail in self._inputs.items():
                    interpreter.resize_tensor_input(detail["index"], shapes[name], strict=False)
                interpreter.allocate_tensors()
                self._shapes = shapes
            for name, detail in self._inputs.items():
                interpreter.set_tensor(detail["index"], np.ascontiguousarray(inputs[name], detail["dtype"]))
            interpreter.invoke()
            return [interpreter.get_tensor(index).copy() for index in self._outputs]


# The runtime writes this line to file descriptor 2 at its first run in a process (its CPU delegate),
# whatever the caller's log settings: a user of `predict` or `genre-hf predict` has no use for it.
DELEGATE_LINE = b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"
_first_run = {"done": False, "lock": threading.Lock()}


@contextlib.contextmanager
def _delegate_line_dropped():
    """The process's first run with descriptor 2 held, and written back without DELEGATE_LINE
    (anything else the runtime says comes through as it was)."""
    if _first_run["done"]:  # every later run: nothing held
        yield
        return
    with _first_run["lock"]:
        if _first_run["done"]:
            yield
            return
        try:
            with descriptor_2_held(lambda held, failed: held.replace(DELEGATE_LINE, b"")):
                yield
        finally:
            _first_run["done"] = True


class LiteNetwork:
    """The three models converted into one LiteRT pass (a model folder's model.tflite): their named inputs
    in, each model's uncalibrated sigmoid outputs out, as `GenreNetwork.raw_outputs` gives them."""

    def __init__(self, content: bytes, rows_per_pass: int, modalities_input: str, what: str = "model.tflite"):
        """`modalities_input`: the input that says which of poster and overview each movie has (all by default)."""
        self.content, self.model = content, LiteModel(content, what)
        self.rows_per_pass, self.modalities_input = rows_per_pass, modalities_input

    def raw_outputs(self, inputs: dict[str, np.ndarray], present: np.ndarray | None = None) -> dict[str, np.ndarray]:
        from genre_hf.modeling import MODEL_NAMES

        names, modalities = self.model.input_names, self.modalities_input
        count = len(next(inputs[name] for name in names if name != modalities))
        arrays = {name: inputs[name] for name in names if name != modalities}
        arrays[modalities] = np.ones((count, 2), np.float32) if present is None else present
        rows = self.rows_per_pass
        chunks = [self.model({name: value[start : start + rows] for name, value in arrays.items()}) for start in range(0, count, rows)]
        if not chunks:
            genres = self.model.output_shapes()[0][-1]
            return {name: np.zeros((0, genres), np.float32) for name in MODEL_NAMES}
        return {name: np.concatenate([chunk[index] for chunk in chunks]) for index, name in enumerate(MODEL_NAMES)}


def read_verified(path: Path, sha256: str, limit: int, what: str | None = None) -> bytes:
    """The bytes of a converted file, read within `limit` bytes, refused unless their sha256 is `sha256`."""
    from genre_hf import reading

    what = what or path.name
    content = reading.read_bytes(path, limit, what)
    if content_sha256(content) != sha256:
        raise reading.ReadError(f"{what} is not the converted model it was saved as (its sha256 differs): it was changed or replaced")
    return content
