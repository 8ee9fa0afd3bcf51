"""A small Hugging Face Hub look-alike for tests (stdlib only).

It speaks enough of the Hub HTTP API for the *real* ``huggingface_hub`` client
(``create_repo``, ``upload_folder``/``create_commit``, ``model_info``,
``hf_hub_download``, ``snapshot_download``, ``HfFileSystem``) and for
``datasets.load_dataset("user/ds")`` to work against it with
``HF_ENDPOINT=http://127.0.0.1:PORT``. The endpoints and their shapes follow
what huggingface_hub 2.4.0 sends and parses (see ``hf_api.py``,
``_commit_api.py``, ``lfs.py``, ``file_download.py``, ``hf_file_system.py``,
``utils/_http.py``).

Two ports: the Hub itself (``url``) and a storage host (``storage_url``) that
plays the part of S3 and the CDN. Storage URLs are signed and expire, as the
Hub's presigned ones do; the client sends them no token.

Storage, one branch (``main``) per repo::

    ROOT/{models|datasets|spaces}/{namespace}/{name}/...    current files of main (LFS files as pointers)
    ROOT/_meta/{models|datasets|spaces}/{namespace}/{name}.json   flags + commit history
    ROOT/_lfs/{models|datasets|spaces}/{namespace}/{name}/{sha256}   LFS objects of that repo

What behaves as on the Hub:

* Access. Tokens map to accounts (``token`` acts as ``user``; ``tokens`` adds
  others). A private repo is hidden from everyone but its owner: every read
  and write of it is answered as for a repo that does not exist, 401 with
  ``X-Error-Code: RepoNotFound`` without a token and 404 with someone else's,
  so the client raises ``RepositoryNotFoundError``. A token the server does
  not know is a 401 "Invalid credentials in Authorization header" on any
  endpoint, public repos included (the client then does not blame the repo).
  Writing to someone else's public repo is a 403 (the Hub's "pass
  ``create_pr=1``" answer), and so is creating a repo in someone else's
  namespace (``create_repo(exist_ok=True)`` relies on that 403). Public repos
  are readable without a token.
* Deleting a repo (``delete_repo``): its owner only; a missing or hidden one is a 404.
* LFS. A new repo starts with the Hub's default ``.gitattributes``. The
  preupload answer says ``lfs`` for a file a ``filter=lfs`` pattern of the
  repo's ``.gitattributes`` matches, for 10 MiB or more (``lfs_threshold``),
  and for binary content (a NUL byte in the 512-byte sample the client sends,
  git's test). Such content goes through the LFS batch API
  (``{repo}.git/info/lfs/objects/batch``), a PUT to a signed storage URL
  (``basic``; above ``lfs_part_size``, ``multipart``: signed part URLs and a
  completion call) and the verify call; the commit then carries ``lfsFile``
  (sha256 + size) and the repo keeps a pointer file. A commit with a binary
  or too big regular ``file``, or with an ``lfsFile`` whose object was never
  uploaded, is refused, as the Hub refuses such a push; an LFS path no pattern
  covers is added to ``.gitattributes``. ``/resolve`` answers an LFS file
  with a 302 to a signed storage URL plus ``X-Linked-Etag`` (the sha256) and
  ``X-Linked-Size``; tree, paths-info and ``blobs=True`` listings carry
  ``lfs``. ``HubServer.lfs_uploads`` records every object stored.

Simplifications (on purpose):

* No Xet. huggingface_hub uploads through Xet whenever ``hf_xet`` is
  installed, whatever the server says, and Xet is a storage service of its
  own; clients must run with ``HF_HUB_DISABLE_XET=1`` (``client_env`` and
  ``hub_env`` set it) and then take the LFS path, which the Hub still serves.
  A Xet token request gets an error that says so and is recorded in
  ``unhandled``.
* The Hub's exact LFS rules and part size are server-side and unpublished;
  the rules above follow its documented 10 MiB limit, its default
  ``.gitattributes`` and git's binary test.
* One branch, no pull requests, no ``.gitignore`` handling, no gated repos,
  no organisations (a namespace is one account): the project only commits to
  ``main`` of its own repos.
* Old commits are not kept: any known commit sha of a repo serves the
  *current* files (under that sha, so client caches stay consistent).
* Without any token the server is open: every request acts as ``user``
  (handy by hand; the tests always give it a token).
* Unknown endpoints answer a JSON 404, are logged to stderr and recorded in
  ``HubServer.unhandled`` so a test can see what the client missed.

Run standalone: ``python tests/hub_server.py --root DIR --port 8080 [--token T] [--serve REPO_ID=FOLDER]``
(``--port 0`` picks a free port; the first stdout line is ``Serving on URL``; ``--serve`` publishes a
folder as a public model repo, as .ci/run serves the text encoder).
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import hmac
import json
import math
import mimetypes
import os
import re
import shutil
import sys
import threading
import time
import traceback
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

USER = "user"  # the account HubServer(token=...) stands for
REPO_TYPES = ("model", "dataset", "space")
LFS_THRESHOLD = 10 * 1024 * 1024  # the Hub refuses regular files of 10 MiB or more
LFS_PART_SIZE = 10 * 1024 * 1024  # bigger LFS objects are uploaded in parts of this size
URL_LIFETIME = 3600  # seconds a signed storage URL stays valid
_SHA_RE = re.compile(r"[0-9a-f]{7,40}")
_OID_RE = re.compile(r"[0-9a-f]{64}")
_RANGE_RE = re.compile(r"bytes=(\d*)-(\d*)")
_POINTER_RE = re.compile(rb"version https://git-lfs\.github\.com/spec/v1\noid sha256:([0-9a-f]{64})\nsize (\d+)\n")

# The .gitattributes the Hub puts in a new repo; datasets also track media files.
_LFS_PATTERNS = (
    "*.7z *.arrow *.bin *.bz2 *.ckpt *.ftz *.gz *.h5 *.joblib *.lfs.* *.mlmodel *.model *.msgpack *.npy *.npz"
    " *.onnx *.ot *.parquet *.pb *.pickle *.pkl *.pt *.pth *.rar *.safetensors saved_model/**/* *.tar.* *.tar"
    " *.tflite *.tgz *.wasm *.xz *.zip *.zst *tfevents*"
).split()
_DATASET_LFS_PATTERNS = {
    "Audio files - uncompressed": ["*.pcm", "*.sam", "*.raw"],
    "Audio files - compressed": ["*.aac", "*.flac", "*.mp3", "*.ogg", "*.wav"],
    "Image files - uncompressed": ["*.bmp", "*.gif", "*.png", "*.tiff"],
    "Image files - compressed": ["*.jpg", "*.jpeg", "*.webp"],
    "Video files - compressed": ["*.mp4", "*.webm"],
}
_LFS_ATTRS = "filter=lfs diff=lfs merge=lfs -text"


def default_gitattributes(repo_type: str) -> str:
    lines = [f"{pattern} {_LFS_ATTRS}" for pattern in _LFS_PATTERNS]
    if repo_type == "dataset":
        lines.insert(lines.index(f"*.mlmodel {_LFS_ATTRS}"), f"*.lz4 {_LFS_ATTRS}")
        for title, patterns in _DATASET_LFS_PATTERNS.items():
            lines += [f"# {title}", *(f"{pattern} {_LFS_ATTRS}" for pattern in patterns)]
    return "\n".join(lines) + "\n"


def _attribute_regex(pattern: str) -> tuple[re.Pattern, bool]:
    """A gitattributes pattern as a regex, and whether it is matched against the whole path.

    As in git: a pattern without a slash matches the file name at any depth;
    ``**`` crosses folders, ``*`` and ``?`` do not; the Hub writes spaces as ``[[:space:]]``.
    """
    anchored = "/" in pattern
    pattern, out, i = pattern.lstrip("/"), [], 0
    while i < len(pattern):
        if pattern.startswith("[[:space:]]", i):
            out.append(r"\s")
            i += len("[[:space:]]")
        elif pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] in "*?":
            out.append("[^/]*" if pattern[i] == "*" else "[^/]")
            i += 1
        elif pattern[i] == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out)), anchored


def lfs_tracked(gitattributes: str, path: str) -> bool:
    """Whether `path` gets ``filter=lfs`` from a .gitattributes text (the last matching line wins)."""
    tracked = False
    for line in gitattributes.splitlines():
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        attrs = fields[1:]
        if "filter=lfs" in attrs:
            value = True
        elif "-filter" in attrs or "!filter" in attrs or any(a.startswith("filter=") for a in attrs):
            value = False
        else:
            continue
        regex, anchored = _attribute_regex(fields[0])
        if regex.fullmatch(path if anchored else path.rpartition("/")[2]):
            tracked = value
    return tracked


def _attribute_pattern(path: str) -> str:
    """The .gitattributes line pattern that matches exactly `path` (the Hub's escaping)."""
    escaped = re.sub(r"([*?\[\\])", r"\\\1", path)
    return escaped.replace(" ", "[[:space:]]")


def is_binary(sample: bytes) -> bool:
    """Git's test, on the 512-byte sample the client sends to preupload: a NUL byte means binary."""
    return b"\0" in sample[:512]


def git_blob_sha1(data: bytes) -> str:
    """The oid git gives a blob; the Hub uses it as a regular file's oid and ETag."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(oid: str, size: int) -> bytes:
    """The git-lfs pointer file that stands in the repo for an LFS object."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n".encode()


def parse_lfs_pointer(data: bytes) -> tuple[str, int] | None:
    """(sha256, size) if `data` is an LFS pointer file, else None."""
    match = _POINTER_RE.fullmatch(data) if len(data) < 200 else None
    return (match[1].decode(), int(match[2])) if match else None


def _now() -> str:
    """Timestamps in the one format ``huggingface_hub.utils.parse_datetime`` reads."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _mib(size: int) -> str:
    return f"{size / 1024 / 1024:g} MiB"


class HubError(Exception):
    """Raised by handlers; turned into a JSON error response.

    ``code`` goes into ``X-Error-Code``, which is what the client maps to its
    exception classes (RepoNotFound, RevisionNotFound, EntryNotFound).
    """

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


def _check_path(path: str) -> str:
    """Reject repo paths that could escape the repo folder on disk."""
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise HubError(400, f"Invalid path in repo: {path!r}")
    return path


class Repo:
    """One repo: its files on disk, its LFS objects, and a JSON with flags and the commit history."""

    def __init__(self, root: Path, repo_type: str, repo_id: str):
        self.type, self.id = repo_type, repo_id
        self.owner = repo_id.split("/")[0]
        self.dir = root / f"{repo_type}s" / repo_id
        self.meta_path = root / "_meta" / f"{repo_type}s" / f"{repo_id}.json"
        self.lfs_dir = root / "_lfs" / f"{repo_type}s" / repo_id

    @property
    def url_prefix(self) -> str:
        """Web path of the repo: models have no ``models/`` prefix on the Hub."""
        return self.id if self.type == "model" else f"{self.type}s/{self.id}"

    def exists(self) -> bool:
        return self.meta_path.is_file()

    def meta(self) -> dict:
        if not self.exists():
            raise HubError(404, "Repository not found", "RepoNotFound")
        return json.loads(self.meta_path.read_text())

    def _save(self, meta: dict) -> None:
        self.meta_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.meta_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(meta, indent=2))
        tmp.replace(self.meta_path)

    def create(self, private: bool, sdk: str | None) -> None:
        """Create the repo with a first commit holding the default .gitattributes, as the Hub does."""
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / ".gitattributes").write_text(default_gitattributes(self.type))
        date = _now()
        sha = hashlib.sha1(f"{self.type}/{self.id}\n{time.time_ns()}".encode()).hexdigest()
        commit = {"id": sha, "parent": None, "title": "initial commit", "message": "", "date": date}
        self._save({"private": private, "sdk": sdk, "createdAt": date, "commits": [commit]})

    def resolve(self, revision: str) -> dict:
        """The commit a revision names: ``main`` (head) or a (prefix of a) known sha."""
        commits = self.meta()["commits"]
        if revision == "main":
            return commits[-1]
        if _SHA_RE.fullmatch(revision):
            for commit in reversed(commits):
                if commit["id"].startswith(revision):
                    return commit
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    def files(self) -> dict[str, Path]:
        """Current files as {posix path in repo: path on disk}, sorted."""
        found = {}
        for dirpath, _, filenames in os.walk(self.dir):
            for filename in filenames:
                full = Path(dirpath) / filename
                found[full.relative_to(self.dir).as_posix()] = full
        return dict(sorted(found.items()))

    def gitattributes(self) -> str:
        path = self.dir / ".gitattributes"
        return path.read_text(errors="replace") if path.is_file() else ""

    # -- LFS objects ------------------------------------------------------
    def lfs_object(self, oid: str) -> Path:
        if not _OID_RE.fullmatch(oid):
            raise HubError(400, f"Invalid LFS oid (a sha256 in hex): {oid!r}")
        return self.lfs_dir / oid

    def lfs_size(self, oid: str) -> int | None:
        """Size of the stored object, None if this repo has no such object."""
        path = self.lfs_object(oid)
        return path.stat().st_size if path.is_file() else None

    def store_lfs_object(self, oid: str, data: bytes) -> None:
        if hashlib.sha256(data).hexdigest() != oid:
            raise HubError(400, f"The uploaded content does not hash to its oid {oid}")
        path = self.lfs_object(oid)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{oid}.{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)

    def entries(self, expand_commit: dict | None = None) -> dict[str, dict]:
        """Tree entries (files and directories) keyed by path, as the tree API returns them.

        An LFS file's ``oid`` is its pointer's blob id and ``size`` the object's size; its
        ``lfs`` field holds the sha256, as on the Hub.
        """
        files = {path: full.read_bytes() for path, full in self.files().items()}
        entries: dict[str, dict] = {}
        for path, data in files.items():
            entry = {"type": "file", "oid": git_blob_sha1(data), "size": len(data), "path": path}
            pointer = parse_lfs_pointer(data)
            if pointer:
                entry["size"] = pointer[1]
                entry["lfs"] = {"oid": pointer[0], "size": pointer[1], "pointerSize": len(data)}
            entries[path] = entry
            parent = path.rpartition("/")[0]
            while parent and parent not in entries:
                entries[parent] = {"type": "directory", "size": 0, "path": parent}
                parent = parent.rpartition("/")[0]
        for path, entry in entries.items():
            if entry["type"] == "directory":
                # Any stable id that changes with the content is good enough for a tree oid.
                inside = [
                    f"{p} {e['oid']}" for p, e in entries.items() if e["type"] == "file" and p.startswith(path + "/")
                ]
                entry["oid"] = hashlib.sha1("\n".join([f"tree {path}", *inside]).encode()).hexdigest()
            if expand_commit is not None:
                # Simplification: report the head commit as every entry's last commit.
                entry["lastCommit"] = {key: expand_commit[key] for key in ("id", "title", "date")}
        return dict(sorted(entries.items()))

    def commit(
        self, summary: str, description: str, operations: list[dict], parent: str | None, lfs_threshold: int
    ) -> dict:
        """Apply the NDJSON operations of one commit and record a new head.

        The operations are first checked against the current path set (so a bad
        delete, path or upload mode fails the whole commit before anything is
        written), then applied to disk in order.
        """
        meta = self.meta()
        head = meta["commits"][-1]
        if parent is not None and parent != head["id"]:
            raise HubError(412, f"parentCommit {parent} is not the head of main ({head['id']})")
        paths = set(self.files())
        actions = []  # (kind, path, bytes | None)
        lfs_paths = []

        def add(path: str, data: bytes) -> None:
            conflicts = [p for p in paths if p.startswith(path + "/") or path.startswith(p + "/")]
            if conflicts:
                raise HubError(400, f"Cannot add {path!r}: it clashes with {conflicts[0]!r} (file vs folder)")
            paths.add(path)
            actions.append(("add", path, data))

        for op in operations:
            key, value = op.get("key"), op.get("value") or {}
            if key == "file":
                path = _check_path(value.get("path", ""))
                content = value.get("content", "")
                data = base64.b64decode(content) if value.get("encoding", "base64") == "base64" else content.encode()
                # What the Hub's pre-receive checks refuse; preupload sends such files to LFS.
                if len(data) >= lfs_threshold:
                    raise HubError(
                        400,
                        f"Your push was rejected because it contains files larger than {_mib(lfs_threshold)}: "
                        f"{path}. Upload it through LFS.",
                    )
                if is_binary(data):
                    raise HubError(
                        400, f"Your push was rejected because it contains binary files: {path}. Upload it through LFS."
                    )
                add(path, data)
            elif key == "lfsFile":
                path = _check_path(value.get("path", ""))
                if value.get("algo", "sha256") != "sha256":
                    raise HubError(400, f"lfsFile {path}: only sha256 oids are supported")
                oid = str(value.get("oid", ""))
                size = self.lfs_size(oid)
                if size is None or value.get("size", size) != size:
                    raise HubError(
                        400,
                        f"Your push was rejected because an LFS pointer pointed to a file that does not exist: "
                        f"{path} (sha256 {oid}, size {value.get('size')}). Upload it with the LFS batch API first.",
                    )
                add(path, lfs_pointer(oid, size))
                lfs_paths.append(path)
            elif key == "deletedFile":
                path = _check_path(value.get("path", ""))
                if path not in paths:
                    # The client looks for this exact wording to add a hint about folders.
                    raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
                paths.discard(path)
                actions.append(("delete", path, None))
            elif key == "deletedFolder":
                path = _check_path(value.get("path", "").rstrip("/"))
                paths = {p for p in paths if not p.startswith(path + "/")}
                actions.append(("delete", path, None))
            else:
                raise HubError(400, f"Unknown commit operation key: {key!r}")

        # Like the Hub, make .gitattributes track every LFS path no pattern covers yet.
        attributes = self.gitattributes()
        for kind, path, data in actions:
            if path == ".gitattributes":
                attributes = data.decode(errors="replace") if kind == "add" else ""
        untracked = [path for path in lfs_paths if not lfs_tracked(attributes, path)]
        if untracked:
            if attributes and not attributes.endswith("\n"):
                attributes += "\n"
            attributes += "".join(f"{_attribute_pattern(path)} {_LFS_ATTRS}\n" for path in untracked)
            add(".gitattributes", attributes.encode())

        for kind, path, data in actions:
            target = self.dir.joinpath(*path.split("/"))
            if kind == "add":
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            elif target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        self._prune_empty_dirs()

        listing = "\n".join(f"{p} {git_blob_sha1(f.read_bytes())}" for p, f in self.files().items())
        sha = hashlib.sha1(f"{head['id']}\n{summary}\n{time.time_ns()}\n{listing}".encode()).hexdigest()
        commit = {"id": sha, "parent": head["id"], "title": summary, "message": description, "date": _now()}
        meta["commits"].append(commit)
        self._save(meta)
        return commit

    def _prune_empty_dirs(self) -> None:
        """Git has no empty folders, so neither do we."""
        for dirpath, _, _ in sorted(os.walk(self.dir), key=lambda w: -len(w[0])):
            if Path(dirpath) != self.dir and not any(Path(dirpath).iterdir()):
                Path(dirpath).rmdir()


class _Handler(BaseHTTPRequestHandler):
    """Routes one request. HTTP/1.0: one request per connection, so ``stop()`` really stops serving."""

    server_version = "test-hub/1.0"
    server: "_HTTPServer"

    # -- plumbing ---------------------------------------------------------
    def do_GET(self):  # noqa: N802 (http.server naming)
        self._dispatch()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def log_message(self, format, *args):  # noqa: A002
        if self.server.hub.log_requests:
            super().log_message(format, *args)

    def _dispatch(self) -> None:
        hub = self.server.hub
        split = urlsplit(self.path)
        # Split before unquoting: a quoted revision such as refs%2Fconvert%2Fparquet stays one segment.
        self.parts = [unquote(p) for p in split.path.split("/")[1:]]
        self.query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        try:
            self.body = self._read_body()
            handler, args = self._route() if self.server.role == "hub" else self._storage_route()
            if handler is None:
                self._unhandled(f"no handler for {self.command} {split.path}")
            # Storage URLs carry their own signature; on the Hub an unknown token fails any request.
            self.user = self._account() if self.server.role == "hub" else None
            with hub.lock:  # one request at a time touches the store: simple and safe
                handler(*args)
        except HubError as e:
            headers = dict(e.headers)
            if e.code:
                headers["X-Error-Code"] = e.code
            # Headers must be latin-1 and one line; the JSON body keeps the exact message.
            headers["X-Error-Message"] = " ".join(e.message.encode("ascii", "replace").decode().split())
            self._send_json({"error": e.message}, e.status, headers)
        except Exception as e:  # a bug in this server: make it loud
            traceback.print_exc()
            self._send_json({"error": f"test hub server crashed: {e!r}"}, 500)

    def _unhandled(self, message: str, status: int = 404) -> None:
        """Record a request the server does not serve, so the `hub` fixture fails the test."""
        self.server.hub.unhandled.append(f"{self.command} {self.path}")
        sys.stderr.write(f"[hub_server] {message}\n")
        raise HubError(status, f"test hub server: {message}")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while (size := int(self.rfile.readline().split(b";")[0], 16)) > 0:
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            body = b"".join(chunks)
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        # huggingface_hub 2.4.0 does not compress request bodies; accept gzip anyway.
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            body = gzip.decompress(body)
        return body

    def _send(self, status: int, body: bytes, headers: dict | None = None, content_type="application/json") -> None:
        trickle = self.server.hub.misbehave.get("trickle")
        if trickle:
            return self._trickle(status, body if self.command != "HEAD" else b"", headers, content_type, trickle)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _trickle(self, status: int, body: bytes, headers: dict | None, content_type: str, seconds: float) -> None:
        """Misbehave: the whole answer (status line and headers too), one byte every `seconds`, until
        the client hangs up or the misbehaviour is switched off."""
        lines = [f"HTTP/1.0 {status} {self.responses.get(status, ('',))[0]}", f"Content-Type: {content_type}",
                 f"Content-Length: {len(body)}", *(f"{key}: {value}" for key, value in (headers or {}).items())]
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        for index in range(len(raw)):
            if not self.server.hub.misbehave.get("trickle"):
                self.wfile.write(raw[index:])
                return
            try:
                self.wfile.write(raw[index:index + 1])
                self.wfile.flush()
            except OSError:  # the client gave up: what it should do
                return
            time.sleep(seconds)

    def _send_json(self, payload, status: int = 200, headers: dict | None = None, content_type="application/json"):
        self._send(status, json.dumps(payload).encode(), headers, content_type)

    def _json_body(self) -> dict:
        try:
            body = json.loads(self.body or b"{}")
        except ValueError:
            raise HubError(400, "Request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise HubError(400, "Request body must be a JSON object")
        return body

    def _flag(self, name: str) -> bool:
        return str(self.query.get(name, "")).lower() in ("1", "true")

    def _repo(self, type_plural: str, namespace: str, name: str) -> Repo:
        return Repo(self.server.hub.root, type_plural[:-1], f"{namespace}/{name}")

    # -- who may do what ----------------------------------------------------
    def _account(self) -> str | None:
        """The account the request acts as, None without a token; an unknown token is refused."""
        tokens = self.server.hub.tokens
        if not tokens:
            return USER  # an open server: no token configured
        header = self.headers.get("Authorization")
        if header is None:
            return None
        scheme, _, token = header.partition(" ")
        account = tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if account is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        return account

    def _require_account(self) -> str:
        if self.user is None:
            raise HubError(401, "Invalid username or password.")
        return self.user

    def _readable(self, repo: Repo) -> dict:
        """The repo's meta if this request may read it; else the Hub's "not found", which hides private repos."""
        meta = json.loads(repo.meta_path.read_text()) if repo.exists() else None
        if meta is None or (meta["private"] and self.user != repo.owner):
            if self.user is None:
                raise HubError(401, "Invalid username or password.", "RepoNotFound")
            raise HubError(404, "Repository not found", "RepoNotFound")
        return meta

    def _writable(self, repo: Repo) -> dict:
        meta = self._readable(repo)
        self._require_account()
        if self.user != repo.owner:
            raise HubError(403, "Forbidden: pass `create_pr=1` as a query parameter to create a Pull Request")
        return meta

    # -- routing ----------------------------------------------------------
    def _route(self):
        p, method = self.parts, self.command
        api_types = {f"{t}s" for t in REPO_TYPES}
        if p == ["api", "whoami-v2"] and method == "GET":
            return self.whoami, ()
        if p == ["api", "repos", "create"] and method == "POST":
            return self.create_repo, ()
        if p == ["api", "repos", "delete"] and method == "DELETE":
            return self.delete_repo, ()
        if p == ["api", "validate-yaml"] and method == "POST":
            return self.validate_yaml, ()
        if p == ["api", "complete_multipart"] and method == "POST":
            return self.lfs_complete_multipart, ()
        if len(p) >= 4 and p[0] == "api" and p[1] in api_types:
            repo, rest = self._repo(*p[1:4]), p[4:]
            if method == "GET" and not rest:
                return self.repo_info, (repo, "main")
            if method == "GET" and len(rest) == 2 and rest[0] == "revision":
                return self.repo_info, (repo, rest[1])
            if method == "GET" and len(rest) >= 2 and rest[0] == "tree":
                return self.tree, (repo, rest[1], "/".join(rest[2:]).strip("/"))
            if method == "POST" and len(rest) == 2 and rest[0] == "paths-info":
                return self.paths_info, (repo, rest[1])
            if method == "GET" and len(rest) == 2 and rest[0] == "commits":
                return self.commits, (repo, rest[1])
            if method == "GET" and rest == ["refs"]:
                return self.refs, (repo,)
            if method == "POST" and len(rest) == 2 and rest[0] == "preupload":
                return self.preupload, (repo, rest[1])
            if method == "POST" and len(rest) == 2 and rest[0] == "commit":
                return self.commit, (repo, rest[1])
            if len(rest) == 2 and rest[0] in ("xet-write-token", "xet-read-token"):
                return self.no_xet, ()
            return None, ()
        # Git LFS: /{ns}/{name}.git/info/lfs/objects/{batch|verify} (models) or /{datasets|spaces}/...
        typed = p[0] in ("datasets", "spaces")
        lfs = p[1:] if typed else p
        if method == "POST" and len(lfs) == 6 and lfs[1].endswith(".git") and lfs[2:5] == ["info", "lfs", "objects"]:
            repo = self._repo(p[0] if typed else "models", lfs[0], lfs[1].removesuffix(".git"))
            if lfs[5] == "batch":
                return self.lfs_batch, (repo,)
            if lfs[5] == "verify":
                return self.lfs_verify, (repo,)
        # File downloads: /{ns}/{name}/resolve/... (models) or /{datasets|spaces}/{ns}/{name}/resolve/...
        if method in ("GET", "HEAD"):
            if len(p) >= 6 and p[0] in ("datasets", "spaces") and p[3] == "resolve":
                return self.resolve, (self._repo(*p[0:3]), p[4], "/".join(p[5:]))
            if len(p) >= 5 and p[2] == "resolve":
                return self.resolve, (self._repo("models", p[0], p[1]), p[3], "/".join(p[4:]))
        return None, ()

    def _storage_route(self):
        """The storage host: /upload/... (PUT an object or a part) and /blob/... (GET an object)."""
        p, method = self.parts, self.command
        if len(p) in (5, 6) and p[0] in ("upload", "blob") and p[1] in {f"{t}s" for t in REPO_TYPES}:
            repo = self._repo(*p[1:4])
            if p[0] == "upload" and method == "PUT":
                return (self.storage_put_part, (repo, p[4], p[5])) if len(p) == 6 else (self.storage_put, (repo, p[4]))
            if p[0] == "blob" and method in ("GET", "HEAD") and len(p) == 5:
                return self.storage_get, (repo, p[4])
        return None, ()

    # -- endpoints --------------------------------------------------------
    def whoami(self) -> None:
        name = self._require_account()
        self._send_json(
            {
                "type": "user",
                "id": hashlib.sha1(name.encode()).hexdigest()[:24],
                "name": name,
                "fullname": f"Test account {name}",
                "orgs": [],
                "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": "write"}},
            }
        )

    def validate_yaml(self) -> None:
        """Called by create_commit before uploading a README.md; we accept any card."""
        self._send_json({"errors": [], "warnings": []})

    def no_xet(self) -> None:
        self._unhandled(
            f"{self.command} {urlsplit(self.path).path}: this test Hub has no Xet storage; run the client with "
            "HF_HUB_DISABLE_XET=1 (tests/hub_server.client_env and hub_env set it) so it uploads through LFS",
            status=400,
        )

    def create_repo(self) -> None:
        account = self._require_account()
        body = self._json_body()
        repo_type = body.get("type") or "model"
        if repo_type not in REPO_TYPES:
            raise HubError(400, f"Invalid repo type: {repo_type!r}")
        name, namespace = body.get("name"), body.get("organization") or account
        if not name or "/" in name:
            raise HubError(400, f"Invalid repo name: {name!r}")
        if namespace != account:
            raise HubError(403, f'You don\'t have the rights to create a {repo_type} under the namespace "{namespace}"')
        if repo_type == "space" and not body.get("sdk"):
            raise HubError(400, "A space needs an sdk")
        repo = Repo(self.server.hub.root, repo_type, f"{namespace}/{name}")
        url = f"{self.server.hub.url}/{repo.url_prefix}"
        if repo.exists():
            # create_repo(exist_ok=True) treats 409 as "already there".
            self._send_json({"error": "You already created this repo", "url": url}, 409)
            return
        # 2.4.0 sends `visibility`; older clients sent `private`.
        private = body.get("visibility", "private" if body.get("private") else "public") != "public"
        repo.create(private=private, sdk=body.get("sdk") if repo_type == "space" else None)
        self._send_json({"url": url, "name": repo.id, "id": repo.id})

    def delete_repo(self) -> None:
        """DELETE /api/repos/delete {name, organization, type}: as on the Hub, only the owner may, and
        a repo that does not exist (or is someone else's private one) is a 404."""
        account = self._require_account()
        body = self._json_body()
        repo_type = body.get("type") or "model"
        namespace = body.get("organization") or account
        repo = Repo(self.server.hub.root, repo_type, f"{namespace}/{body.get('name')}")
        self._writable(repo)  # 404 for a missing or hidden repo, 403 for someone else's
        shutil.rmtree(repo.dir, ignore_errors=True)
        shutil.rmtree(repo.lfs_dir, ignore_errors=True)
        repo.meta_path.unlink()
        self._send_json({})

    def repo_info(self, repo: Repo, revision: str) -> None:
        meta = self._readable(repo)
        commit = repo.resolve(revision)
        blobs = self._flag("blobs")
        siblings = []
        for entry in repo.entries().values():
            if entry["type"] == "file":
                sibling = {"rfilename": entry["path"]}
                if blobs:
                    sibling.update(size=entry["size"], blobId=entry["oid"])
                    if "lfs" in entry:
                        lfs = entry["lfs"]
                        sibling["lfs"] = {"size": lfs["size"], "sha256": lfs["oid"], "pointerSize": lfs["pointerSize"]}
                siblings.append(sibling)
        info = {
            "id": repo.id,
            "author": repo.owner,
            "sha": commit["id"],
            "private": meta["private"],
            "disabled": False,
            "gated": False,
            "createdAt": meta["createdAt"],
            "lastModified": commit["date"],
            "tags": [],
            "likes": 0,
            "downloads": 0,
            "siblings": siblings,
        }
        if repo.type == "space":
            info["sdk"] = meta["sdk"]
        self._send_json(info)

    def tree(self, repo: Repo, revision: str, path: str) -> None:
        self._readable(repo)
        commit = repo.resolve(revision)
        entries = repo.entries(expand_commit=commit if self._flag("expand") else None)
        if path and entries.get(path, {}).get("type") != "directory":
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound", {"X-Repo-Commit": commit["id"]})
        prefix = f"{path}/" if path else ""
        recursive = self._flag("recursive")
        listing = [
            entry
            for p, entry in entries.items()
            if p.startswith(prefix) and (recursive or "/" not in p[len(prefix) :])
        ]
        if self.server.hub.misbehave.get("tree_object"):  # misbehave: an object where the Hub API gives a list
            return self._send_json({"entries": listing})
        self._send_json(listing)  # everything in one page: no Link header, so no pagination

    def paths_info(self, repo: Repo, revision: str) -> None:
        self._readable(repo)
        # The client posts a form (paths=a&paths=b&expand=False); accept JSON too.
        if self.headers.get("Content-Type", "").startswith("application/json"):
            body = self._json_body()
            paths, expand = body.get("paths", []), bool(body.get("expand"))
        else:
            form = parse_qs(self.body.decode())
            paths = form.get("paths", [])
            expand = form.get("expand", ["false"])[-1].lower() in ("1", "true")
        if isinstance(paths, str):
            paths = [paths]
        commit = repo.resolve(revision)
        entries = repo.entries(expand_commit=commit if expand else None)
        # Unknown paths are skipped silently, as on the Hub.
        self._send_json([entries[p.strip("/")] for p in paths if p.strip("/") in entries])

    def commits(self, repo: Repo, revision: str) -> None:
        commits = self._readable(repo)["commits"]
        head = repo.resolve(revision)
        upto = commits[: [c["id"] for c in commits].index(head["id"]) + 1]
        fields = ("id", "title", "message", "date")
        newest_first = [{**{k: c[k] for k in fields}, "authors": [{"user": repo.owner}]} for c in reversed(upto)]
        self._send_json(newest_first)

    def refs(self, repo: Repo) -> None:
        self._readable(repo)
        head = repo.resolve("main")
        branch = {"name": "main", "ref": "refs/heads/main", "targetCommit": head["id"]}
        self._send_json({"branches": [branch], "converts": [], "tags": []})

    def preupload(self, repo: Repo, revision: str) -> None:
        """Say ``lfs`` for what the Hub stores in LFS (see the module docstring), ``regular`` otherwise.

        ``oid`` is the current id of that path, a sha256 for an LFS file and a
        blob sha1 for a regular one: the client skips files whose content did
        not change, like on the Hub.
        """
        self._writable(repo)
        repo.resolve(revision)
        entries, attributes = repo.entries(), repo.gitattributes()
        threshold = self.server.hub.lfs_threshold
        files = []
        for f in self._json_body().get("files", []):
            path, size = f.get("path", ""), int(f.get("size") or 0)
            sample = base64.b64decode(f.get("sample") or "")
            lfs = size >= threshold or is_binary(sample) or lfs_tracked(attributes, path)
            entry = entries.get(path, {})
            oid = entry.get("lfs", {}).get("oid", entry.get("oid")) if entry.get("type") == "file" else None
            files.append({"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid})
        self._send_json({"files": files, "commitOid": repo.resolve("main")["id"]})

    def commit(self, repo: Repo, revision: str) -> None:
        self._writable(repo)
        if self._flag("create_pr"):
            raise HubError(400, "Pull requests are not supported by the test hub server")
        if revision != "main":
            raise HubError(400, "The test hub server only commits to main")
        lines = [json.loads(line) for line in self.body.decode().splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "Commit payload must start with a header line")
        header = lines[0].get("value", {})
        commit = repo.commit(
            summary=header.get("summary", ""),
            description=header.get("description", ""),
            operations=lines[1:],
            parent=header.get("parentCommit"),
            lfs_threshold=self.server.hub.lfs_threshold,
        )
        self._send_json(
            {
                "success": True,
                "commitOid": commit["id"],
                "commitUrl": f"{self.server.hub.url}/{repo.url_prefix}/commit/{commit['id']}",
                "pullRequestUrl": None,
            }
        )

    def resolve(self, repo: Repo, revision: str, path: str) -> None:
        self._readable(repo)
        commit = repo.resolve(revision)
        full = repo.dir.joinpath(*path.split("/")) if path else None
        if full is None or ".." in path.split("/") or not full.is_file():
            # X-Repo-Commit lets the client cache the non-existence of the file.
            raise HubError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": commit["id"]})
        data = full.read_bytes()
        headers = {
            # A sha revision is answered with that sha (see module docstring).
            "X-Repo-Commit": commit["id"],
            "ETag": f'"{git_blob_sha1(data)}"',
            "Accept-Ranges": "bytes",
        }
        pointer = parse_lfs_pointer(data)
        if pointer:
            # As the Hub: a redirect to signed storage; the client takes etag and size from these headers.
            oid, size = pointer
            location = self.server.hub.signed_storage_url("blob", repo, oid)
            headers.update({"X-Linked-Etag": f'"{oid}"', "X-Linked-Size": str(size), "Location": location})
            self._send(302, f"Found. Redirecting to {location}".encode(), headers, "text/plain; charset=utf-8")
            return
        content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        self._send_range(data, headers, content_type)

    def _send_range(self, data: bytes, headers: dict, content_type: str) -> None:
        """200 with everything, or 206 with the bytes a ``Range: bytes=a-b`` header asks for."""
        status, body = 200, data
        match = _RANGE_RE.fullmatch(self.headers.get("Range", "").strip())
        if match and (match[1] or match[2]):
            size = len(data)
            if match[1]:
                start, end = int(match[1]), min(int(match[2]) if match[2] else size - 1, size - 1)
            else:  # suffix range: the last N bytes
                start, end = max(size - int(match[2]), 0), size - 1
            if start >= size or start > end:
                raise HubError(416, "Requested range not satisfiable", headers={"Content-Range": f"bytes */{size}"})
            status, body = 206, data[start : end + 1]
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        self._send(status, body, headers, content_type)

    # -- Git LFS ------------------------------------------------------------
    def lfs_batch(self, repo: Repo) -> None:
        """The LFS batch API, upload side: where to PUT each object the repo does not hold yet.

        https://github.com/git-lfs/git-lfs/blob/main/docs/api/batch.md; the Hub's
        ``multipart`` transfer puts the part URLs and ``chunk_size`` in the upload
        action's ``header`` and the completion URL in its ``href``.
        """
        hub = self.server.hub
        self._writable(repo)
        body = self._json_body()
        if body.get("operation") != "upload":
            raise HubError(400, "The test hub's LFS batch API handles uploads; downloads go through /resolve")
        if body.get("hash_algo", "sha256") != "sha256":
            raise HubError(409, f"Unsupported hash algorithm: {body.get('hash_algo')!r}")
        if (body.get("ref") or {}).get("name"):
            repo.resolve(body["ref"]["name"])
        transfers = body.get("transfers") or ["basic"]
        if "basic" not in transfers and "multipart" not in transfers:
            raise HubError(422, f"No transfer adapter in common: the server speaks basic and multipart, not {transfers}")
        multipart_used = False
        objects = []
        for item in body.get("objects") or []:
            oid, size = item.get("oid"), item.get("size")
            if not isinstance(oid, str) or not _OID_RE.fullmatch(oid) or not isinstance(size, int) or size < 0:
                objects.append(
                    {"oid": str(oid), "size": size if isinstance(size, int) else 0,
                     "error": {"code": 422, "message": "oid must be a sha256 in hex and size an integer >= 0"}}
                )
                continue
            entry = {"oid": oid, "size": size, "authenticated": True}
            if repo.lfs_size(oid) != size:  # already there: no actions, the client skips the upload
                verify = {"href": f"{hub.url}/{repo.url_prefix}.git/info/lfs/objects/verify"}
                if "multipart" in transfers and size > hub.lfs_part_size:
                    upload = hub.start_multipart(repo, oid, size)
                    multipart_used = True
                else:
                    upload = {"href": hub.signed_storage_url("upload", repo, oid)}
                upload["expires_at"] = datetime.fromtimestamp(time.time() + URL_LIFETIME, timezone.utc).isoformat()
                entry["actions"] = {"upload": upload, "verify": verify}
            objects.append(entry)
        payload = {"transfer": "multipart" if multipart_used else "basic", "objects": objects}
        self._send_json(payload, content_type="application/vnd.git-lfs+json")

    def lfs_verify(self, repo: Repo) -> None:
        self._writable(repo)
        body = self._json_body()
        oid, size = str(body.get("oid", "")), body.get("size")
        stored = repo.lfs_size(oid)
        if stored is None or stored != size:
            raise HubError(404, f"LFS object {oid} (size {size}) was not uploaded to {repo.type}s/{repo.id}")
        for upload in self.server.hub.lfs_uploads:
            if upload["repo_type"] == repo.type and upload["repo_id"] == repo.id and upload["oid"] == oid:
                upload["verified"] = True
        self._send_json({"success": True})

    def lfs_complete_multipart(self) -> None:
        """POST {oid, parts: [{partNumber, etag}]} to the signed completion URL: join the parts."""
        hub = self.server.hub
        hub.check_signature("/" + "/".join(self.parts), self.query)
        upload = hub.multipart.get(self.query.get("upload_id", ""))
        if upload is None:
            raise HubError(404, "NoSuchUpload: this multipart upload is unknown or already completed")
        body = self._json_body()
        parts = body.get("parts") or []
        if body.get("oid") != upload["oid"]:
            raise HubError(400, f"The completion is for {body.get('oid')}, the upload for {upload['oid']}")
        numbers = [part.get("partNumber") for part in parts]
        if numbers != list(range(1, upload["count"] + 1)):
            raise HubError(400, f"InvalidPart: expected parts 1..{upload['count']} in order, got {numbers}")
        for part in parts:
            if part.get("etag") != upload["etags"].get(part["partNumber"]):
                raise HubError(400, f"InvalidPart: part {part['partNumber']} was not uploaded with etag {part.get('etag')}")
        folder = upload["folder"]
        data = b"".join((folder / str(n)).read_bytes() for n in numbers)
        if len(data) != upload["size"]:
            raise HubError(400, f"The parts add up to {len(data)} bytes, not {upload['size']}")
        repo = upload["repo"]
        repo.store_lfs_object(upload["oid"], data)
        shutil.rmtree(folder, ignore_errors=True)
        del hub.multipart[self.query["upload_id"]]
        hub.record_lfs_upload(repo, upload["oid"], len(data), "multipart", len(numbers))
        self._send_json({"oid": upload["oid"], "size": len(data)})

    # -- the storage host -------------------------------------------------
    def storage_put(self, repo: Repo, oid: str) -> None:
        hub = self.server.hub
        hub.check_signature("/" + "/".join(self.parts), self.query)
        repo.store_lfs_object(oid, self.body)
        hub.record_lfs_upload(repo, oid, len(self.body), "basic", 1)
        self._send(200, b"", {"ETag": f'"{hashlib.md5(self.body).hexdigest()}"'})

    def storage_put_part(self, repo: Repo, oid: str, number: str) -> None:
        hub = self.server.hub
        hub.check_signature("/" + "/".join(self.parts), self.query)
        upload = hub.multipart.get(self.query.get("upload_id", ""))
        if upload is None or upload["oid"] != oid or not number.isdigit() or not 1 <= int(number) <= upload["count"]:
            raise HubError(404, "NoSuchUpload: unknown multipart upload or part number")
        expected = min(hub.lfs_part_size, upload["size"] - (int(number) - 1) * hub.lfs_part_size)
        if len(self.body) != expected:
            raise HubError(400, f"Part {number} has {len(self.body)} bytes; this upload expects {expected}")
        (upload["folder"] / str(int(number))).write_bytes(self.body)
        etag = f'"{hashlib.md5(self.body).hexdigest()}"'
        upload["etags"][int(number)] = etag
        self._send(200, b"", {"ETag": etag})

    def storage_get(self, repo: Repo, oid: str) -> None:
        self.server.hub.check_signature("/" + "/".join(self.parts), self.query)
        if repo.lfs_size(oid) is None:
            raise HubError(404, "NoSuchKey")
        data = repo.lfs_object(oid).read_bytes()
        self._send_range(data, {"ETag": f'"{oid}"', "Accept-Ranges": "bytes"}, "application/octet-stream")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    hub: "HubServer"
    role: str  # "hub" or "storage"


class HubServer:
    """The test Hub: ``with HubServer(tmp_path, token="secret") as hub: ... hub.url ...``.

    `token` acts as the account ``user``; `tokens` ({token: account}) adds more
    accounts, e.g. someone whose private repos ``user`` must not see.
    `lfs_threshold` and `lfs_part_size` default to the Hub's 10 MiB.
    """

    def __init__(
        self,
        root: str | Path,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        tokens: dict[str, str] | None = None,
        lfs_threshold: int = LFS_THRESHOLD,
        lfs_part_size: int = LFS_PART_SIZE,
    ):
        self.root = Path(root)
        self.host, self.port, self.token = host, port, token
        self.tokens = dict(tokens or {})
        if token is not None:
            self.tokens[token] = USER
        self.lfs_threshold, self.lfs_part_size = lfs_threshold, lfs_part_size
        self.lock = threading.RLock()
        self.log_requests = False  # log every request to stderr (the CLI turns it on)
        self.unhandled: list[str] = []  # "METHOD /path" of requests no endpoint answered
        # Misbehaviours, for tests of a Hub that is slow or answers garbage: "trickle" (seconds between
        # the bytes of every answer, headers included), "tree_object" (the tree listing as a JSON object).
        self.misbehave: dict[str, object] = {}
        # One dict per LFS object stored: repo_type, repo_id, oid, size, transfer, parts, verified.
        self.lfs_uploads: list[dict] = []
        self.multipart: dict[str, dict] = {}  # upload id -> state of a multipart upload in progress
        self._secret = os.urandom(32)  # signs storage URLs
        self._servers: list[_HTTPServer] = []
        self._threads: list[threading.Thread] = []
        self.storage_port: int | None = None

    @property
    def url(self) -> str:
        """Base URL to use as HF_ENDPOINT (the bound port once started)."""
        return f"http://{self.host}:{self.port}"

    @property
    def storage_url(self) -> str:
        """Base URL of the storage host (another origin, as S3 and the CDN are for the Hub)."""
        return f"http://{self.host}:{self.storage_port}"

    def import_folder(self, repo_id: str, folder: str | Path, repo_type: str = "model") -> None:
        """A public repo `repo_id` holding `folder`'s files, as its owner's upload would leave it (binary
        and large files through LFS): a pretrained model served the way the Hub serves it."""
        folder = Path(folder)
        repo = Repo(self.root, repo_type, repo_id)
        operations = []
        with self.lock:
            repo.create(private=False, sdk=None)
            for path in sorted(item for item in folder.rglob("*") if item.is_file()):
                data, name = path.read_bytes(), path.relative_to(folder).as_posix()
                if len(data) >= self.lfs_threshold or is_binary(data[:512]) or lfs_tracked(repo.gitattributes(), name):
                    oid = hashlib.sha256(data).hexdigest()
                    repo.store_lfs_object(oid, data)
                    operations.append({"key": "lfsFile", "value": {"path": name, "algo": "sha256", "oid": oid, "size": len(data)}})
                else:
                    operations.append({"key": "file", "value": {"path": name, "content": base64.b64encode(data).decode()}})
            repo.commit(f"Upload {folder.name}", "", operations, None, self.lfs_threshold)

    # -- signed storage URLs ------------------------------------------------
    def _signature(self, path: str, params: dict) -> str:
        message = f"{path}?{urlencode(sorted(params.items()))}"
        return hmac.new(self._secret, message.encode(), hashlib.sha256).hexdigest()

    def _signed(self, base: str, path: str, **params) -> str:
        params["expires"] = str(int(time.time()) + URL_LIFETIME)
        params["signature"] = self._signature(path, params)
        return f"{base}{quote(path)}?{urlencode(params)}"

    def signed_storage_url(self, kind: str, repo: Repo, oid: str, part: int | None = None, **params) -> str:
        path = f"/{kind}/{repo.type}s/{repo.id}/{oid}" + (f"/{part}" if part is not None else "")
        return self._signed(self.storage_url, path, **params)

    def check_signature(self, path: str, query: dict) -> None:
        params = dict(query)
        signature = params.pop("signature", "")
        if not hmac.compare_digest(signature, self._signature(path, params)):
            raise HubError(403, "SignatureDoesNotMatch: this URL was not signed by the test hub")
        expires = params.get("expires", "")
        if not expires.isdigit() or int(expires) < time.time():
            raise HubError(403, "Request has expired")

    # -- LFS bookkeeping ------------------------------------------------------
    def start_multipart(self, repo: Repo, oid: str, size: int) -> dict:
        """A multipart upload action: signed part URLs in ``header`` and the completion URL as ``href``."""
        upload_id = uuid.uuid4().hex
        count = math.ceil(size / self.lfs_part_size)
        folder = self.root / "_lfs" / "_parts" / upload_id
        folder.mkdir(parents=True)
        self.multipart[upload_id] = {
            "repo": repo, "oid": oid, "size": size, "count": count, "folder": folder, "etags": {}
        }
        header = {"chunk_size": str(self.lfs_part_size)}
        for number in range(1, count + 1):
            header[f"{number:05d}"] = self.signed_storage_url("upload", repo, oid, number, upload_id=upload_id)
        return {"href": self._signed(self.url, "/api/complete_multipart", upload_id=upload_id), "header": header}

    def record_lfs_upload(self, repo: Repo, oid: str, size: int, transfer: str, parts: int) -> None:
        self.lfs_uploads.append(
            {"repo_type": repo.type, "repo_id": repo.id, "oid": oid, "size": size, "transfer": transfer,
             "parts": parts, "verified": False}
        )

    # -- serving ----------------------------------------------------------------
    def _bind(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        for role, port in (("hub", self.port), ("storage", 0)):
            httpd = _HTTPServer((self.host, port), _Handler)
            httpd.hub, httpd.role = self, role
            self._servers.append(httpd)
        self.port = self._servers[0].server_address[1]
        self.storage_port = self._servers[1].server_address[1]

    def start(self) -> "HubServer":
        """Serve in daemon threads; returns self so ``HubServer(root).start()`` chains."""
        self._bind()
        for httpd in self._servers:
            thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop serving and free both ports; connections to them are refused afterwards."""
        for httpd in self._servers:
            httpd.shutdown()
            httpd.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers, self._threads = [], []

    def __enter__(self) -> "HubServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# -- pointing clients at the server ---------------------------------------

# Variables that would make a client ignore the server or use someone's real credentials/caches.
CLIENT_ENV_REMOVE = (
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HUGGINGFACE_CO_STAGING",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_TOKEN_PATH",
    "HF_HUB_CACHE",
    "HUGGINGFACE_HUB_CACHE",
    "HF_ASSETS_CACHE",
    "HUGGINGFACE_ASSETS_CACHE",
    "HF_XET_CACHE",
    "HF_DATASETS_CACHE",
    "HF_MODULES_CACHE",
)


def client_env(server: "HubServer | str", hf_home: str | Path | None = None) -> dict[str, str]:
    """Environment variables that point a *fresh* Python process at `server`.

    huggingface_hub and datasets read these at import time, so they work as-is
    for subprocesses; for the current process use `hub_env`. Also remove the
    names in `CLIENT_ENV_REMOVE` (see `subprocess_env`).
    """
    url = server if isinstance(server, str) else server.url
    no_proxy = ",".join(filter(None, [os.environ.get("NO_PROXY", ""), "127.0.0.1", "localhost"]))
    env = {
        "HF_ENDPOINT": url,
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_UPDATE_CHECK": "1",
        "HF_HUB_DISABLE_XET": "1",  # with hf_xet installed the client would upload through Xet; the server has LFS
        "NO_PROXY": no_proxy,
        "no_proxy": no_proxy,
    }
    if hf_home is not None:
        env["HF_HOME"] = str(hf_home)
    return env


def subprocess_env(server: "HubServer | str", hf_home: str | Path, base: dict | None = None) -> dict[str, str]:
    """A full environment for ``subprocess.run(..., env=...)``: `base` (os.environ) + `client_env`."""
    base = dict(os.environ if base is None else base)
    env = {k: v for k, v in base.items() if k not in CLIENT_ENV_REMOVE}
    env.update(client_env(server, hf_home))
    return env


def hub_env(monkeypatch, server: HubServer, hf_home: str | Path) -> dict[str, str]:
    """Point the *current* process's huggingface_hub (and datasets, if imported) at `server`.

    Setting HF_ENDPOINT is not enough once huggingface_hub is imported:
    ``constants.ENDPOINT``, ``constants.HUGGINGFACE_CO_URL_TEMPLATE`` (which
    ``hf_hub_url`` formats, so downloads without ``endpoint=`` go there), the
    cache/token paths and the module-level ``hf_api.api`` (behind
    ``huggingface_hub.model_info`` & co) are all frozen at import. `monkeypatch`
    is pytest's fixture; everything is undone after the test.
    """
    home = Path(hf_home)
    env = client_env(server, home)
    for name in CLIENT_ENV_REMOVE:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    from huggingface_hub import constants, hf_api
    from huggingface_hub.utils import _cache_manager

    url = server.url
    for name, value in {
        "ENDPOINT": url,
        "HUGGINGFACE_CO_URL_TEMPLATE": url + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_URL_HOSTS": constants.HF_URL_HOSTS | {server.host},  # lets RepoUrl parse our URLs
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(home / "hub"),
        "HUGGINGFACE_HUB_CACHE": str(home / "hub"),
        "HF_ASSETS_CACHE": str(home / "assets"),
        "HUGGINGFACE_ASSETS_CACHE": str(home / "assets"),
        "HF_XET_CACHE": str(home / "xet"),
        "HF_TOKEN_PATH": str(home / "token"),
        "HF_STORED_TOKENS_PATH": str(home / "stored_tokens"),
        "HF_HUB_OFFLINE": False,
        "HF_HUB_DISABLE_TELEMETRY": True,
        "HF_HUB_DISABLE_XET": True,
    }.items():
        monkeypatch.setattr(constants, name, value)
    monkeypatch.setattr(hf_api.api, "endpoint", url)
    monkeypatch.setattr(_cache_manager, "HF_HUB_CACHE", str(home / "hub"))

    if "datasets.config" in sys.modules:  # not imported yet => it will read the env vars above
        from datasets import config as ds_config

        for name, value in {
            "HF_ENDPOINT": url,
            "HUB_DATASETS_URL": url + "/datasets/{repo_id}/resolve/{revision}/{path}",
            "HF_HUB_OFFLINE": False,
            "HF_DATASETS_OFFLINE": False,
            "HF_CACHE_HOME": str(home),
            "HF_DATASETS_CACHE": home / "datasets",
            "HF_MODULES_CACHE": home / "modules",
            "DOWNLOADED_DATASETS_PATH": home / "datasets" / "downloads",
            "EXTRACTED_DATASETS_PATH": home / "datasets" / "downloads" / "extracted",
        }.items():
            monkeypatch.setattr(ds_config, name, value)
    return env


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a small Hugging Face Hub look-alike for tests.")
    parser.add_argument("--root", required=True, help="folder holding the repos")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--token", default=None, help="the token of the account 'user' (none: an open server)")
    parser.add_argument("--quiet", action="store_true", help="do not log every request")
    parser.add_argument("--serve", action="append", default=[], metavar="REPO_ID=FOLDER",
                        help="a public model repo holding FOLDER's files (repeatable)")
    args = parser.parse_args(argv)
    server = HubServer(args.root, host=args.host, port=args.port, token=args.token)
    server.log_requests = not args.quiet
    for item in args.serve:
        repo_id, _, folder = item.partition("=")
        server.import_folder(repo_id, folder)
    server.start()
    print(f"Serving on {server.url}", flush=True)  # first line: a parent process reads the URL from it
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
