"""The app's limits cannot be gamed (genre_hf/app/guard.py): keyed on the address that connected (a
forwarding header believed only from a configured proxy), applied to every way a file can arrive,
and what sessions keep bounded. Each case is one the issue "Hardening III" found."""

from __future__ import annotations

import asyncio
import base64
import io
import json

import httpx
import pytest
from PIL import Image

from tests.conftest import free_port

SESSIONS = 3  # sessions the app under test keeps


def upload(limits, peer: str, forwarded: str | None = None) -> int:
    """The status the middleware gives an upload of 1 kB from `peer` (with an X-Forwarded-For header)."""
    headers = [(b"content-length", b"1024")] + ([(b"x-forwarded-for", forwarded.encode())] if forwarded else [])
    scope = {"type": "http", "method": "POST", "path": "/gradio_api/upload", "headers": headers, "client": (peer, 40000)}
    sent = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})

    async def send(message):
        sent.append(message)

    limits.app = app
    asyncio.run(limits(scope, None, send))
    return sent[0]["status"]


def test_a_forged_forwarding_header_neither_escapes_the_limit_nor_spends_someone_elses():
    """Before: the client was the first X-Forwarded-For address, which the sender writes: forged
    addresses got 8 uploads past a limit of 5, and could use up someone else's."""
    from genre_hf.app.guard import UploadLimits

    limits = UploadLimits(None, environ={"GENRE_HF_CLIENT_UPLOADS": "3"})
    assert [upload(limits, "203.0.113.7", f"198.51.100.{i}") for i in range(5)] == [200, 200, 200, 429, 429]
    assert upload(limits, "203.0.113.8", "203.0.113.7") == 200  # naming another visitor spends nothing of theirs
    behind_proxy = UploadLimits(None, environ={"GENRE_HF_CLIENT_UPLOADS": "2", "GENRE_HF_TRUSTED_PROXIES": "10.0.0.0/8"})
    # Through a trusted proxy the visitor is the address the proxy appended, whatever they wrote before it.
    assert [upload(behind_proxy, "10.16.3.80", f"6.6.6.{i}, 192.0.2.1") for i in range(3)] == [200, 200, 429]
    assert upload(behind_proxy, "10.16.3.81", "192.0.2.2") == 200
    assert upload(behind_proxy, "192.0.2.1", "192.0.2.9") == 429  # not a proxy: its header is not believed


def test_each_file_of_an_upload_of_several_counts():
    """A request may carry several files: each counts as an upload, so the count limit holds."""
    from genre_hf.app.guard import UploadLimits

    limits = UploadLimits(None, environ={"GENRE_HF_CLIENT_UPLOADS": "3"})
    boundary = b"b0undary"
    body = b"".join(b"--" + boundary + b'\r\nContent-Disposition: form-data; name="files"; filename="p.png"\r\n\r\nxx\r\n'
                    for _ in range(5)) + b"--" + boundary + b"--\r\n"
    chunks = [body[i:i + 7] for i in range(0, len(body), 7)]  # delimiters split across chunks too
    received = []

    async def app(scope, receive, send):
        while True:
            message = await receive()
            received.append(message["type"])
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                break

    async def receive():
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    limits.app = app
    scope = {"type": "http", "method": "POST", "path": "/gradio_api/upload", "client": ("203.0.113.7", 1),
             "headers": [(b"content-length", str(len(body)).encode()), (b"content-type", b"multipart/form-data; boundary=" + boundary)]}
    asyncio.run(limits(scope, receive, None))
    assert received[-1] == "http.disconnect" and len(limits.recent) == 3  # files 4 and 5 were refused
    limits = UploadLimits(app, environ={"GENRE_HF_CLIENT_UPLOADS": "10"})
    chunks[:] = [body[i:i + 7] for i in range(0, len(body), 7)]
    received.clear()
    asyncio.run(limits(scope, receive, None))
    assert received[-1] == "http.request" and len(limits.recent) == 5


def test_a_bad_trusted_proxies_setting_is_one_line(capsys, monkeypatch, tiny_model_dir):
    from genre_hf.cli import main

    monkeypatch.setenv("GENRE_HF_TRUSTED_PROXIES", "10.0.0.0/8, the proxy")
    assert main(["app", "--model", str(tiny_model_dir), "--port", str(free_port())]) == 2
    assert capsys.readouterr().err.strip() == "error: GENRE_HF_TRUSTED_PROXIES: 'the proxy' is not an address or network (e.g. 10.0.0.0/8)"


@pytest.fixture(scope="module")
def served(tiny_model_dir):
    """The page, served in this process, keeping at most SESSIONS sessions."""
    from genre_hf import GenreClassifier
    from genre_hf.app import serve
    from genre_hf.app.page import build_demo

    demo = build_demo(GenreClassifier.from_pretrained(tiny_model_dir))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(serve, "SESSIONS", SESSIONS, raising=False)
        _, url, _ = serve.launch(demo, port=free_port(), prevent_thread_lock=True, quiet=True)
    yield demo, url
    demo.close()


def call(url: str, poster, overview: str, session: str | None = None) -> tuple[int, str]:
    """(status, the answer's last event) of POST /gradio_api/call/predict, as any HTTP client sends it."""
    body = {"data": [poster, overview, "From scratch: Poster CNN + Overview LSTM"], **({"session_hash": session} if session else {})}
    response = httpx.post(url + "gradio_api/call/predict", json=body, timeout=60)
    if response.status_code != 200:
        return response.status_code, response.text
    events = httpx.get(url + f"gradio_api/call/predict/{response.json()['event_id']}", timeout=60).text
    return 200, events.strip().splitlines()[-1]


def data_url(size: int) -> str:
    import numpy as np

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_a_poster_arrives_by_upload_or_not_at_all(served):
    """Before: a poster sent as a data: URL to /gradio_api/call/predict skipped every upload limit (10
    images after a 429, and a 58 MB PNG past the 50 MB cap, the server at 1.93 GB)."""
    _, url = served
    refused = "Send the poster as an upload (gradio_client: handle_file(path)), not inline or as a web address."
    for poster in ({"path": None, "url": data_url(64), "meta": {"_type": "gradio.FileData"}},
                   {"path": "https://example.com/poster.png", "meta": {"_type": "gradio.FileData"}}):
        status, event = call(url, poster, "A heist goes wrong.")
        assert status == 200 and json.loads(event.removeprefix("data: "))["error"] == refused, event
    status, answer = call(url, {"path": None, "url": data_url(700), "meta": {"_type": "gradio.FileData"}}, "A heist.")
    assert status == 413 and "a call may send 1 MB at most" in json.loads(answer)["detail"]  # a large one is not even read


def test_sessions_keep_a_bounded_number_of_bounded_inputs(served):
    """Before: each new session kept its raw inputs (20 calls of a 9 MB overview, each with a new
    session hash: 1,001 -> 1,183 MB, never freed)."""
    demo, url = served
    status, _ = call(url, None, "x" * 9_000_000, session="big")
    assert status == 413
    from genre_hf.app.guard import MAX_REQUEST_BYTES

    overview = "A retired hitman seeks revenge. " * 30_000  # 960,000 characters: under the cap, cut to 5,000 when read
    for index in range(2 * SESSIONS):
        status, event = call(url, None, overview, session=f"visitor-{index}")
        assert status == 200 and "cut to its first 5,000 characters" in event, event
    kept = demo.state_holder.session_data
    assert len(kept) <= SESSIONS and f"visitor-{2 * SESSIONS - 1}" in kept
    held = sum(len(json.dumps(session.config_values, default=str)) for session in kept.values())
    assert held <= SESSIONS * (MAX_REQUEST_BYTES + 200_000), held
