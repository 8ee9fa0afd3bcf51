"""Every call to the Hub, bounded in time and size, and its answer read or refused in one line.

huggingface_hub's HTTP client has no timeout, and a per-read timeout alone does not bound a call:
a server that sends one byte a second never lets a read time out. So every socket read of the
client goes through here (`use_timeouts`), and:

- connecting may take GENRE_HF_HUB_CONNECT_TIMEOUT (10 s), each read GENRE_HF_HUB_TIMEOUT (60 s);
- an answer must arrive at MIN_RATE bytes a second at least, over each GENRE_HF_HUB_TIMEOUT seconds
  (a trickle is cut off after that long, whatever it sends);
- each call as a whole (`call`: a model's download, an upload, a preset, a data set's listing) ends
  within GENRE_HF_HUB_DEADLINE seconds (1,800), retries included;
- a JSON answer may take MAX_JSON_BYTES, and one huggingface_hub cannot read (a listing that is an
  object where a list belongs, a key missing) is a `HubAnswerError`, one line, not a traceback.

What is read through Xet (hf_xet, where the Hub serves it) has its own client, not bounded here.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from pathlib import Path

CONNECT_TIMEOUT, READ_TIMEOUT, DEADLINE = 10.0, 60.0, 1800.0  # seconds, unless the variables below say otherwise
VARIABLES = {"connect": "GENRE_HF_HUB_CONNECT_TIMEOUT", "read": "GENRE_HF_HUB_TIMEOUT", "deadline": "GENRE_HF_HUB_DEADLINE"}
MIN_RATE = 1024  # bytes a second: a Hub slower than this for a whole read timeout is cut off
MAX_JSON_BYTES = 64 * 2**20  # the Hub pages its listings (1,000 files to a page: about 300 kB)
LIBRARIES = ("huggingface_hub", "datasets", "httpx2", "httpcore2")  # where an unreadable answer shows up
_installed = False
_deadline: list[float] = []  # monotonic deadlines of the calls under way in this process (any thread), earliest wins
_lock = threading.Lock()


class HubAnswerError(ValueError):
    """The Hub answered something huggingface_hub cannot read (not what the Hub API gives)."""


def seconds(name: str) -> float:
    """A limit in seconds: its variable (`VARIABLES`), else its default; a clear error for a bad value."""
    variable = VARIABLES[name]
    default = {"connect": CONNECT_TIMEOUT, "read": READ_TIMEOUT, "deadline": DEADLINE}[name]
    text = os.environ.get(variable, "").strip()
    try:
        value = float(text) if text else default
    except ValueError:
        raise ValueError(f"{variable} must be a number of seconds, not {text[:20]!r}") from None
    if not value > 0:
        raise ValueError(f"{variable} must be a positive number of seconds, not {text[:20]}")
    return value


@contextlib.contextmanager
def call(what: str):
    """Bound the Hub call in the block (`what`: what it does, for its errors): timeouts installed, the
    deadline set (the earliest of nested calls wins), and an answer huggingface_hub cannot read
    turned into a `HubAnswerError`."""
    use_timeouts()
    deadline = time.monotonic() + seconds("deadline")
    with _lock:
        _deadline.append(deadline)
    try:
        yield
    except (TypeError, KeyError, AttributeError, IndexError, json.JSONDecodeError) as error:
        if not _raised_in_libraries(error):
            raise  # ours: a bug keeps its traceback
        raise HubAnswerError(f"the Hub's answer to the {what} is not what the Hub API gives ({type(error).__name__}); "
                             f"is HF_ENDPOINT a Hub?") from None
    finally:
        with _lock:
            _deadline.remove(deadline)


def remaining() -> float | None:
    """Seconds left before the earliest deadline of the calls under way (None: no call under way)."""
    with _lock:
        return min(_deadline) - time.monotonic() if _deadline else None


def use_timeouts() -> None:
    """Route every request of huggingface_hub's shared HTTP client through the bounds above.

    The client has no timeout, and many calls pass `timeout=None` per request, which overrides a
    client default; so the bounds are set where the request reaches the network (the transport, and
    below it each socket read).
    """
    global _installed
    if _installed:
        return
    import httpx2
    from huggingface_hub import set_client_factory
    from huggingface_hub.utils import _http

    def defaults() -> dict:  # read at each request, so a changed variable takes effect
        connect, read = seconds("connect"), seconds("read")
        return {"connect": connect, "read": read, "write": read, "pool": read}

    class Capped(httpx2.SyncByteStream):
        """A JSON answer's body, which may take at most MAX_JSON_BYTES."""

        def __init__(self, inner):
            self.inner = inner

        def __iter__(self):
            received = 0
            for chunk in self.inner:
                received += len(chunk)
                if received > MAX_JSON_BYTES:
                    raise httpx2.ReadError(f"the Hub's JSON answer is over {MAX_JSON_BYTES // 2**20} MB: not an answer the Hub API gives")
                yield chunk

        def close(self) -> None:
            self.inner.close()

    class Bounded(httpx2.HTTPTransport):
        def __init__(self):
            super().__init__()
            self._pool._network_backend = _Backend(self._pool._network_backend)  # every socket read and connect

        def handle_request(self, request):
            given = request.extensions.get("timeout") or {}
            request.extensions["timeout"] = {key: given.get(key) if given.get(key) is not None else value for key, value in defaults().items()}
            response = super().handle_request(request)
            if "json" in response.headers.get("content-type", ""):
                response.stream = Capped(response.stream)
            return response

    def client():
        with _http.default_client_factory() as default:  # huggingface_hub's own client, for its request hooks
            hooks = default.event_hooks
        limits = defaults()
        return httpx2.Client(event_hooks=hooks, follow_redirects=True, timeout=httpx2.Timeout(limits["read"], connect=limits["connect"]),
                             transport=Bounded())

    set_client_factory(client)
    _installed = True


def _raised_in_libraries(error: BaseException) -> bool:
    """Whether `error` was raised inside huggingface_hub or the libraries under it (its innermost frame)."""
    traceback = error.__traceback__
    while traceback is not None and traceback.tb_next is not None:
        traceback = traceback.tb_next
    parts = Path(traceback.tb_frame.f_code.co_filename).parts if traceback is not None else ()
    return any(library in parts for library in LIBRARIES)


class _Backend:
    """httpcore's network backend, each connection's reads bounded (`_Stream`)."""

    def __init__(self, inner):
        self.inner = inner

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        timeout = _within_deadline(timeout)
        return _Stream(self.inner.connect_tcp(host, port, timeout, local_address, socket_options), seconds("read"))

    def __getattr__(self, name):  # connect_unix_socket, sleep
        return getattr(self.inner, name)


class _Stream:
    """A connection whose reads end by the call's deadline and fail when the answer trickles: fewer
    than MIN_RATE bytes a second over a window of one read timeout."""

    def __init__(self, inner, window: float):
        self.inner, self.window = inner, window
        self.started, self.received = None, 0

    def _restart(self) -> None:
        self.started, self.received = None, 0

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        import httpcore2

        try:
            data = self.inner.read(max_bytes, _within_deadline(timeout))
        except httpcore2.ReadTimeout:
            _within_deadline(None)  # says so when it is the deadline that ran out
            raise
        now = time.monotonic()
        if self.started is None:  # the answer's first bytes: its pace is measured from here
            self.started = now
            return data
        self.received += len(data)
        elapsed = now - self.started
        if elapsed >= self.window:
            if data and self.received < MIN_RATE * elapsed:
                raise httpcore2.ReadTimeout(f"the Hub sent {self.received:,} bytes in {elapsed:.0f} s, slower than {MIN_RATE:,} "
                                            f"bytes a second ({VARIABLES['read']})")
            self.started, self.received = now, 0
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._restart()  # a request starts: its answer gets a window of its own
        self.inner.write(buffer, _within_deadline(timeout))

    def __getattr__(self, name):  # close, start_tls, get_extra_info
        return getattr(self.inner, name)


def _within_deadline(timeout: float | None) -> float | None:
    """`timeout`, shortened to the time left before the call's deadline; past it, a ReadTimeout."""
    import httpcore2

    left = remaining()
    if left is None:
        return timeout
    if left <= 0:
        raise httpcore2.ReadTimeout(f"the Hub call took longer than its deadline ({VARIABLES['deadline']}, {seconds('deadline'):g} s)")
    return left if timeout is None else min(timeout, left)
