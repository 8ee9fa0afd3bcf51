"""TensorFlow started without its start-up lines, unless the user asks for them.

TensorFlow 2.21 logs through absl before absl is initialised, so its start-up lines ("All log
messages before absl::InitializeLog()", oneDNN, cudart, cpu_feature_guard, and `E0000 ... cuInit`
on a machine without a GPU) go straight to file descriptor 2 whatever TF_CPP_MIN_LOG_LEVEL says.
So the command line starts TensorFlow with descriptor 2 pointed at a temporary file: kept back when
the start succeeds, written out when it fails. `GENRE_HF_TF_LOGS=1` shows them; TensorFlow's
later logs follow `TF_CPP_MIN_LOG_LEVEL` as usual (3, errors hidden too, unless the user sets it).
"""

from __future__ import annotations

import contextlib
import os

from genre_hf.held_stderr import descriptor_2_held


def wants_tensorflow_logs(environ=os.environ) -> bool:
    return environ.get("GENRE_HF_TF_LOGS", "").strip() == "1"


def descriptor_2_held_back():
    """Whatever is written to file descriptor 2 in the block is held back; replayed if the block fails."""
    return descriptor_2_held(lambda held, failed: held if failed else b"")


def start_tensorflow(show_logs: bool = False) -> None:
    """Import TensorFlow and Keras and find the devices, with their start-up lines held back.

    Finding the physical devices prints the last of them (cuInit) and starts no runtime: logical
    CPU devices and multi-worker strategies can still be set up afterwards.
    """
    quiet = contextlib.nullcontext() if show_logs else descriptor_2_held_back()
    with quiet:
        import keras  # noqa: F401
        import tensorflow as tf

        tf.config.list_physical_devices()
