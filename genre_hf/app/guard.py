"""What a visitor may cost the Space: bounded overviews, bounded uploads, memory given back.

- An overview is read up to MAX_OVERVIEW_CHARS characters (the longest real one has 383); the rest
  is cut, with a note in the answer. The page's text box stops there too.
- Uploads: each at most MAX_FILE_SIZE (Gradio refuses larger), and per client (its address, or the
  first X-Forwarded-For address behind a Space's proxy) at most CLIENT_UPLOADS files and
  CLIENT_BYTES bytes, and overall at most TOTAL_BYTES bytes, within the time an upload lives
  (uploads are deleted once UPLOAD_AGE seconds old, checked every UPLOAD_SWEEP seconds: an upload
  lives at most 16 minutes). An upload over a limit gets HTTP 429 and a sentence saying which.
  GENRE_HF_CLIENT_UPLOADS, GENRE_HF_CLIENT_UPLOAD_MB and GENRE_HF_TOTAL_UPLOAD_MB change the three.
- After each call, memory the call freed is given back to the system (`release_memory`), so a
  burst of large inputs does not leave the server at its peak.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import json
import os
import threading
import time
from collections import deque

MAX_OVERVIEW_CHARS = 5_000
MAX_FILE_SIZE = 50 * 2**20  # a 10,000 x 10,000 photo fits; anything bigger is not a poster
CLIENT_UPLOADS = 100
CLIENT_BYTES = 500 * 2**20
TOTAL_BYTES = 2 * 2**30
UPLOAD_SWEEP, UPLOAD_AGE = 60, 900  # seconds (Gradio's delete_cache)
UPLOAD_PATH = "/gradio_api/upload"


def cut_overview(overview: str | None) -> tuple[str | None, list[str]]:
    """(the overview as the models read it, notes): cut at MAX_OVERVIEW_CHARS, said so when it is."""
    if isinstance(overview, str) and len(overview) > MAX_OVERVIEW_CHARS:
        return overview[:MAX_OVERVIEW_CHARS], [f"The overview was cut to its first {MAX_OVERVIEW_CHARS:,} characters (it had {len(overview):,})."]
    return overview, []


class UploadLimits:
    """ASGI middleware in front of Gradio's upload route: per-client and overall limits on what the
    uploads of the last UPLOAD_AGE seconds (the ones still on disk) may take."""

    def __init__(self, app, clock=time.monotonic, environ=os.environ):
        self.app, self.clock = app, clock
        self.client_uploads = int(environ.get("GENRE_HF_CLIENT_UPLOADS") or CLIENT_UPLOADS)
        self.client_bytes = int(float(environ.get("GENRE_HF_CLIENT_UPLOAD_MB") or CLIENT_BYTES / 2**20) * 2**20)
        self.total_bytes = int(float(environ.get("GENRE_HF_TOTAL_UPLOAD_MB") or TOTAL_BYTES / 2**20) * 2**20)
        self.recent: deque = deque()  # (time, client, bytes) of accepted uploads, oldest first
        self.lock = threading.Lock()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "POST" or not scope.get("path", "").endswith(UPLOAD_PATH):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        forwarded = headers.get(b"x-forwarded-for", b"").decode("latin-1").split(",")[0].strip()
        client = forwarded or (scope.get("client") or ("unknown", 0))[0]
        try:
            size = int(headers.get(b"content-length", b""))
        except ValueError:
            size = MAX_FILE_SIZE  # no length given: counted as the largest it may be
        refusal = self.admit(client, size)
        if refusal is None:
            return await self.app(scope, receive, send)
        body = json.dumps({"detail": refusal}).encode()
        await send({"type": "http.response.start", "status": 429,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

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
