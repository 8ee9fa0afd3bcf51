"""Leaving the process once a command is done, without Python's teardown of TensorFlow.

After `import tensorflow`, the interpreter's teardown (freeing every module's objects one by one)
takes about 1.3 s, a quarter of a bare `python -c "import tensorflow"` on our 2-core machines
(`benchmarks/cold_start.py` prints it). The operating system frees a process's memory at once, so
a finished command exits as Python would, minus that: other threads are waited for, the `atexit`
handlers run (logging, temporary folders, the app's upload folder) and the standard streams are
flushed, then the process ends.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn


def exit_now(status: int) -> NoReturn:
    """Exit with `status`; skip the teardown only when TensorFlow was imported (otherwise it costs nothing)."""
    if "tensorflow" not in sys.modules:
        sys.exit(status)
    for thread in threading.enumerate():  # what a normal exit waits for first
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()  # the handlers a normal exit runs next (the standard library's own hook)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(status)
