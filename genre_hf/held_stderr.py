"""File descriptor 2 held back for a block: what native libraries (TensorFlow, LiteRT) write there
bypasses Python's `sys.stderr` and every log setting, so the only way to keep their start-up lines
from a user is to point the descriptor elsewhere and decide afterwards what to show."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile


@contextlib.contextmanager
def descriptor_2_held(shown):
    """Run the block with descriptor 2 pointed at a temporary file; afterwards write out
    `shown(held: bytes, failed: bool)`, what of it the user should see (the block's exception, if
    any, propagates after that)."""
    sys.stderr.flush()
    saved = os.dup(2)
    failed = False
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            said = shown(held.read(), failed)
            if said:
                os.write(2, said)
