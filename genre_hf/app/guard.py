"""What a visitor may cost the Space, keyed on what the sender cannot forge: bounded overviews,
requests and uploads, a bounded number of sessions kept, memory given back.

- An overview is read up to MAX_OVERVIEW_CHARS characters (the longest real one has 383); the rest
  is cut, with a note in the answer. The page's text box stops there too.
- A request other than an upload may carry MAX_REQUEST_BYTES (an overview of 200,000 characters
  fits); a larger one gets HTTP 413. So no call can bring a file inline: a poster arrives by upload
  or not at all (`upload_only` refuses a `data:` URL or a web address in its place).
- Uploads: each at most MAX_FILE_SIZE (Gradio refuses larger), and per client at most
  CLIENT_UPLOADS files and CLIENT_BYTES bytes, and overall at most TOTAL_BYTES bytes, within the
  time an upload lives (uploads are deleted once UPLOAD_AGE seconds old, checked every UPLOAD_SWEEP
  seconds: an upload lives at most 16 minutes). An upload over a limit gets HTTP 429 and a sentence
  saying which; each file of an upload of several counts as one. GENRE_HF_CLIENT_UPLOADS, GENRE_HF_CLIENT_UPLOAD_MB and GENRE_HF_TOTAL_UPLOAD_MB
  change the three.
- The client is the address that connected, which a sender cannot choose. Behind a reverse proxy
  (a Space's) every visitor connects from the proxy: GENRE_HF_TRUSTED_PROXIES lists the proxies'
  addresses or networks, and for a request from one of them the client is the address its
  X-Forwarded-For header names last before the trusted proxies (what the proxy itself saw; the
  addresses before it are the sender's to write). Unset, no forwarding header is believed.
- Gradio keeps each session's inputs and outputs; at most SESSIONS sessions are kept (the least
  recently used goes first), so what sessions hold is bounded: SESSIONS x MAX_REQUEST_BYTES at most.
- After each call, memory the call freed is given back to the system (`release_memory`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import ipaddress
import json
import os
import threading
import time
from collections import deque

MAX_OVERVIEW_CHARS = 5_000
MAX_REQUEST_BYTES = 2**20  # a call's body: the overview and the parameters, never a file
MAX_FILE_SIZE = 50 * 2**20  # a 10,000 x 10,000 photo fits; anything bigger is not a poster
CLIENT_UPLOADS = 100
CLIENT_BYTES = 500 * 2**20
TOTAL_BYTES = 2 * 2**30
SESSIONS = 200  # sessions Gradio keeps (its default, 10,000, let inputs pile up: 9 MB a session, never freed)
UPLOAD_SWEEP, UPLOAD_AGE = 60, 900  # seconds (Gradio's delete_cache)
UPLOAD_PATH = "/gradio_api/upload"
TRUSTED_PROXIES = "GENRE_HF_TRUSTED_PROXIES"  # comma-separated addresses or networks (10.0.0.0/8); unset: none


def cut_overview(overview: str | None) -> tuple[str | None, list[str]]:
    """(the overview as the models read it, notes): cut at MAX_OVERVIEW_CHARS, said so when it is."""
    if isinstance(overview, str) and len(overview) > MAX_OVERVIEW_CHARS:
        return overview[:MAX_OVERVIEW_CHARS], [f"The overview was cut to its first {MAX_OVERVIEW_CHARS:,} characters (it had {len(overview):,})."]
    return overview, []


def trusted_proxies(environ=os.environ) -> list:
    """The networks whose forwarding headers are believed ($GENRE_HF_TRUSTED_PROXIES); a clear error for a bad entry."""
    networks = []
    for entry in environ.get(TRUSTED_PROXIES, "").split(","):
        if entry.strip():
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                raise ValueError(f"{TRUSTED_PROXIES}: {entry.strip()[:50]!r} is not an address or network (e.g. 10.0.0.0/8)") from None
    return networks


def client_address(scope, proxies: list) -> str:
    """Who sent the request: the address that connected, or, when that is a trusted proxy, the last
    address in X-Forwarded-For that is not one (the nearest hop no trusted proxy vouches for)."""
    peer = (scope.get("client") or ("unknown", 0))[0]
    if not _trusted(peer, proxies):
        return peer
    forwarded = ",".join(value.decode("latin-1") for key, value in scope.get("headers") or [] if key.lower() == b"x-forwarded-for")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop
    return hops[0] if hops else peer


def _trusted(address: str, proxies: list) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


class UploadLimits:
    """ASGI middleware in front of Gradio: a request's body within MAX_REQUEST_BYTES (an upload's
    within MAX_FILE_SIZE, which Gradio enforces), and per-client and overall limits on what the
    uploads of the last UPLOAD_AGE seconds (the ones still on disk) may take."""

    def __init__(self, app, clock=time.monotonic, environ=os.environ):
        self.app, self.clock = app, clock
        self.client_uploads = int(environ.get("GENRE_HF_CLIENT_UPLOADS") or CLIENT_UPLOADS)
        self.client_bytes = int(float(environ.get("GENRE_HF_CLIENT_UPLOAD_MB") or CLIENT_BYTES / 2**20) * 2**20)
        self.total_bytes = int(float(environ.get("GENRE_HF_TOTAL_UPLOAD_MB") or TOTAL_BYTES / 2**20) * 2**20)
        self.proxies = trusted_proxies(environ)
        self.recent: deque = deque()  # (time, client, bytes) of accepted uploads, oldest first
        self.lock = threading.Lock()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        try:
            size = int(headers.get(b"content-length", b""))
        except ValueError:
            size = None  # no length given (chunked): counted as it arrives
        if not scope.get("path", "").endswith(UPLOAD_PATH):
            if size is not None and size > MAX_REQUEST_BYTES:
                return await _refuse(send, 413, f"The request is {size / 2**20:,.1f} MB; a call may send {MAX_REQUEST_BYTES // 2**20} MB at "
                                                f"most (an overview is read up to its first {MAX_OVERVIEW_CHARS:,} characters; send a poster "
                                                "as an upload).")
            return await self.app(scope, _bounded(receive, MAX_REQUEST_BYTES), send)
        client = client_address(scope, self.proxies)
        refusal = self.admit(client, MAX_FILE_SIZE if size is None else size)
        if refusal is None:
            return await self.app(scope, self._each_file_counted(receive, headers, client), send)
        await _refuse(send, 429, refusal)

    def _each_file_counted(self, receive, headers: dict, client: str):
        """`receive`, counting each file after the first of a multipart upload as an upload of its own
        (its bytes are counted already): past the client's limit the request ends as a disconnect."""
        boundary = headers.get(b"content-type", b"").partition(b"boundary=")[2].split(b";")[0].strip(b'"')
        if not boundary:
            return receive
        delimiter, seen, tail = b"--" + boundary, 0, b""

        async def counted():
            nonlocal seen, tail
            message = await receive()
            if message["type"] == "http.request":
                chunk = tail + message.get("body", b"")
                found = chunk.count(delimiter)  # each found holds a byte of the new body: none counted twice
                tail = chunk[-(len(delimiter) - 1):]
                for _ in range(max(0, seen + found - 2) - max(0, seen - 2)):  # n files: n + 1 delimiters
                    if self.admit(client, 0) is not None:
                        return {"type": "http.disconnect"}
                seen += found
            return message

        return counted

    def admit(self, client: str, size: int) -> str | None:
        """None when an upload of `size` bytes from `client` fits the limits (and it is counted), else why not."""
        now = self.clock()
        with self.lock:
            while self.recent and now - self.recent[0][0] > UPLOAD_AGE:
                self.recent.popleft()
            mine = [entry for entry in self.recent if entry[1] == client]
            if len(mine) >= self.client_uploads:
                return f"Too many uploads: at most {self.client_uploads} every {UPLOAD_AGE // 60} minutes. Try again later."
            if sum(entry[2] for entry in mine) + size > self.client_bytes:
                return f"Too much uploaded: at most {self.client_bytes // 2**20} MB every {UPLOAD_AGE // 60} minutes. Try again later."
            if sum(entry[2] for entry in self.recent) + size > self.total_bytes:
                return "The Space is busy with uploads just now. Try again in a few minutes."
            self.recent.append((now, client, size))
        return None


async def _refuse(send, status: int, sentence: str) -> None:
    body = json.dumps({"detail": sentence}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _bounded(receive, limit: int):
    """`receive`, ending the request as a disconnect once its body passes `limit` bytes (a body sent
    without a length)."""
    received = 0

    async def bounded():
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                return {"type": "http.disconnect"}
        return message

    return bounded


UPLOAD_ONLY = "Send the poster as an upload (gradio_client: handle_file(path)), not inline or as a web address."


def upload_only(component: type) -> type:
    """A file input class (decorated, so Gradio still draws it as its base) whose file may arrive only
    by upload, where its size and the visitor's limits are checked: a `data:` URL in its place (the
    whole file inside a call) or a web address (which the server would fetch) is refused in one sentence."""
    preprocess, move = component.preprocess, component.async_move_resource_to_block_cache

    def preprocess_uploads(self, payload):
        if payload is not None and (payload.url or "").startswith("data:") and not payload.path:
            _refuse_inline()
        return preprocess(self, payload)

    async def move_uploads(self, url_or_file_path):
        if isinstance(url_or_file_path, str) and url_or_file_path.startswith(("http://", "https://", "data:")):
            _refuse_inline()
        return await move(self, url_or_file_path)

    component.preprocess, component.async_move_resource_to_block_cache = preprocess_uploads, move_uploads
    return component


def _refuse_inline():
    import gradio as gr

    raise gr.Error(UPLOAD_ONLY)


_libc = None


def release_memory() -> None:
    """Collect garbage and hand freed heap pages back to the system (glibc's malloc_trim, where there is one)."""
    global _libc
    gc.collect()
    if _libc is None:
        name = ctypes.util.find_library("c")
        _libc = ctypes.CDLL(name) if name else False
    if _libc and hasattr(_libc, "malloc_trim"):
        _libc.malloc_trim(0)
