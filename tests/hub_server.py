"""A small Hugging Face Hub look-alike for tests (stdlib only).

It speaks enough of the Hub HTTP API for the *real* ``huggingface_hub`` client
(``create_repo``, ``upload_folder``/``create_commit``, ``model_info``,
``hf_hub_download``, ``snapshot_download``, ``HfFileSystem``) and for
``datasets.load_dataset("user/ds")`` to work against it with
``HF_ENDPOINT=http://127.0.0.1:PORT``. The endpoints and their shapes follow
what huggingface_hub 2.4.0 sends and parses (see ``hf_api.py``,
``_commit_api.py``, ``file_download.py``, ``hf_file_system.py``,
``utils/_http.py``).

Storage, one branch (``main``) per repo::

    ROOT/{models|datasets|spaces}/{namespace}/{name}/...    current files of main
    ROOT/_meta/{models|datasets|spaces}/{namespace}/{name}.json   flags + commit history

Simplifications (on purpose):

* Every upload is a "regular" git upload (base64 inside the commit payload):
  the preupload answer never says ``lfs``, so neither LFS nor Xet is used.
* Old commits are not kept: any known commit sha of a repo serves the
  *current* files (under that sha, so client caches stay consistent).
* Reads are always allowed (even for repos created ``private``); when the
  server has a token, writes need ``Authorization: Bearer <token>``.
* Unknown endpoints answer a JSON 404, are logged to stderr and recorded in
  ``HubServer.unhandled`` so a test can see what the client missed.

Run standalone: ``python tests/hub_server.py --root DIR --port 8080 [--token T]``
(``--port 0`` picks a free port; the first stdout line is ``Serving on URL``).
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import json
import mimetypes
import os
import re
import shutil
import sys
import threading
import time
import traceback
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

USER = "user"  # the account every token (or no token) acts as
REPO_TYPES = ("model", "dataset", "space")
_SHA_RE = re.compile(r"[0-9a-f]{7,40}")
_RANGE_RE = re.compile(r"bytes=(\d*)-(\d*)")


def git_blob_sha1(data: bytes) -> str:
    """The oid git gives a blob; the Hub uses it as a regular file's oid and ETag."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _now() -> str:
    """Timestamps in the one format ``huggingface_hub.utils.parse_datetime`` reads."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


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
    """One repo: its files on disk plus a JSON with flags and the commit history."""

    def __init__(self, root: Path, repo_type: str, repo_id: str):
        self.type, self.id = repo_type, repo_id
        self.dir = root / f"{repo_type}s" / repo_id
        self.meta_path = root / "_meta" / f"{repo_type}s" / f"{repo_id}.json"

    @property
    def url_prefix(self) -> str:
        """Web path of the repo: models have no ``models/`` prefix on the Hub."""
        return self.id if self.type == "model" else f"{self.type}s/{self.id}"

    def exists(self) -> bool:
        return self.meta_path.is_file()

    def meta(self) -> dict:
        if not self.exists():
            raise HubError(404, f"Repository {self.type}s/{self.id} not found", "RepoNotFound")
        return json.loads(self.meta_path.read_text())

    def _save(self, meta: dict) -> None:
        self.meta_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.meta_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(meta, indent=2))
        tmp.replace(self.meta_path)

    def create(self, private: bool, sdk: str | None) -> None:
        """Create the repo with an empty first commit, so it has a sha right away."""
        self.dir.mkdir(parents=True, exist_ok=True)
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

    def entries(self, expand_commit: dict | None = None) -> dict[str, dict]:
        """Tree entries (files and directories) keyed by path, as the tree API returns them."""
        files = {path: full.read_bytes() for path, full in self.files().items()}
        entries: dict[str, dict] = {}
        for path, data in files.items():
            entries[path] = {"type": "file", "oid": git_blob_sha1(data), "size": len(data), "path": path}
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

    def commit(self, summary: str, description: str, operations: list[dict], parent: str | None) -> dict:
        """Apply the NDJSON operations of one commit and record a new head.

        The operations are first checked against the current path set (so a bad
        delete or path fails the whole commit before anything is written), then
        applied to disk in order.
        """
        meta = self.meta()
        head = meta["commits"][-1]
        if parent is not None and parent != head["id"]:
            raise HubError(412, f"parentCommit {parent} is not the head of main ({head['id']})")
        paths = set(self.files())
        actions = []  # (kind, path, bytes | None)
        for op in operations:
            key, value = op.get("key"), op.get("value") or {}
            if key == "file":
                path = _check_path(value.get("path", ""))
                content = value.get("content", "")
                if value.get("encoding", "base64") == "base64":
                    data = base64.b64decode(content)
                else:
                    data = content.encode()
                conflicts = [p for p in paths if p.startswith(path + "/") or path.startswith(p + "/")]
                if conflicts:
                    raise HubError(400, f"Cannot add {path!r}: it clashes with {conflicts[0]!r} (file vs folder)")
                paths.add(path)
                actions.append(("add", path, data))
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
            elif key == "lfsFile":
                raise HubError(400, "This test Hub stores no LFS/Xet objects: every file must be a regular upload")
            else:
                raise HubError(400, f"Unknown commit operation key: {key!r}")

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
            handler, args = self._route()
            if handler is None:
                hub.unhandled.append(f"{self.command} {self.path}")
                sys.stderr.write(f"[hub_server] no handler for {self.command} {self.path}\n")
                raise HubError(404, f"test hub server: no handler for {self.command} {split.path}")
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
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, payload, status: int = 200, headers: dict | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), headers)

    def _json_body(self) -> dict:
        try:
            return json.loads(self.body or b"{}")
        except ValueError:
            raise HubError(400, "Request body is not valid JSON") from None

    def _flag(self, name: str) -> bool:
        return str(self.query.get(name, "")).lower() in ("1", "true")

    def _require_write(self) -> None:
        token = self.server.hub.token
        if token is not None and self.headers.get("Authorization") != f"Bearer {token}":
            raise HubError(401, "Invalid credentials in Authorization header")

    def _repo(self, type_plural: str, namespace: str, name: str) -> Repo:
        return Repo(self.server.hub.root, type_plural[:-1], f"{namespace}/{name}")

    # -- routing ----------------------------------------------------------
    def _route(self):
        p, method = self.parts, self.command
        api_types = {f"{t}s" for t in REPO_TYPES}
        if p == ["api", "whoami-v2"] and method == "GET":
            return self.whoami, ()
        if p == ["api", "repos", "create"] and method == "POST":
            return self.create_repo, ()
        if p == ["api", "validate-yaml"] and method == "POST":
            return self.validate_yaml, ()
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
            return None, ()
        # File downloads: /{ns}/{name}/resolve/... (models) or /{datasets|spaces}/{ns}/{name}/resolve/...
        if method in ("GET", "HEAD"):
            if len(p) >= 6 and p[0] in ("datasets", "spaces") and p[3] == "resolve":
                return self.resolve, (self._repo(*p[0:3]), p[4], "/".join(p[5:]))
            if len(p) >= 5 and p[2] == "resolve":
                return self.resolve, (self._repo("models", p[0], p[1]), p[3], "/".join(p[4:]))
        return None, ()

    # -- endpoints --------------------------------------------------------
    def whoami(self) -> None:
        token = self.server.hub.token
        if token is not None and self.headers.get("Authorization") != f"Bearer {token}":
            raise HubError(401, "Invalid credentials in Authorization header")
        self._send_json(
            {
                "type": "user",
                "id": "0" * 24,
                "name": USER,
                "fullname": "Test User",
                "orgs": [],
                "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": "write"}},
            }
        )

    def validate_yaml(self) -> None:
        """Called by create_commit before uploading a README.md; we accept any card."""
        self._send_json({"errors": [], "warnings": []})

    def create_repo(self) -> None:
        self._require_write()
        body = self._json_body()
        repo_type = body.get("type") or "model"
        if repo_type not in REPO_TYPES:
            raise HubError(400, f"Invalid repo type: {repo_type!r}")
        name, namespace = body.get("name"), body.get("organization") or USER
        if not name or "/" in name:
            raise HubError(400, f"Invalid repo name: {name!r}")
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

    def repo_info(self, repo: Repo, revision: str) -> None:
        meta, commit = repo.meta(), repo.resolve(revision)
        blobs = self._flag("blobs")
        siblings = []
        for entry in repo.entries().values():
            if entry["type"] == "file":
                sibling = {"rfilename": entry["path"]}
                if blobs:
                    sibling.update(size=entry["size"], blobId=entry["oid"])
                siblings.append(sibling)
        info = {
            "id": repo.id,
            "author": repo.id.split("/")[0],
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
        self._send_json(listing)  # everything in one page: no Link header, so no pagination

    def paths_info(self, repo: Repo, revision: str) -> None:
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
        commits = repo.meta()["commits"]
        head = repo.resolve(revision)
        upto = commits[: [c["id"] for c in commits].index(head["id"]) + 1]
        fields = ("id", "title", "message", "date")
        newest_first = [{**{k: c[k] for k in fields}, "authors": [{"user": USER}]} for c in reversed(upto)]
        self._send_json(newest_first)

    def refs(self, repo: Repo) -> None:
        head = repo.resolve("main")
        branch = {"name": "main", "ref": "refs/heads/main", "targetCommit": head["id"]}
        self._send_json({"branches": [branch], "converts": [], "tags": []})

    def preupload(self, repo: Repo, revision: str) -> None:
        """Say "regular" for every file so the client never needs LFS or Xet.

        ``oid`` is the current blob id of that path: the client skips files
        whose content did not change, like on the Hub.
        """
        self._require_write()
        repo.resolve(revision)
        entries = repo.entries()
        files = [
            {
                "path": f["path"],
                "uploadMode": "regular",
                "shouldIgnore": False,
                "oid": entries.get(f["path"], {}).get("oid"),
            }
            for f in self._json_body().get("files", [])
        ]
        self._send_json({"files": files, "commitOid": repo.resolve("main")["id"]})

    def commit(self, repo: Repo, revision: str) -> None:
        self._require_write()
        if self._flag("create_pr"):
            raise HubError(400, "Pull requests are not supported by the test hub server")
        repo.meta()  # 404 for an unknown repo before looking at the revision
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
        content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        self._send(status, body, headers, content_type)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    hub: "HubServer"


class HubServer:
    """The test Hub: ``with HubServer(tmp_path) as hub: ... hub.url ...``."""

    def __init__(self, root: str | Path, host: str = "127.0.0.1", port: int = 0, token: str | None = None):
        self.root = Path(root)
        self.host, self.port, self.token = host, port, token
        self.lock = threading.RLock()
        self.log_requests = False  # log every request to stderr (the CLI turns it on)
        self.unhandled: list[str] = []  # "METHOD /path" of requests no endpoint answered
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL to use as HF_ENDPOINT (the bound port once started)."""
        return f"http://{self.host}:{self.port}"

    def _bind(self) -> _HTTPServer:
        self.root.mkdir(parents=True, exist_ok=True)
        httpd = _HTTPServer((self.host, self.port), _Handler)
        httpd.hub = self
        self.port = httpd.server_address[1]
        self._httpd = httpd
        return httpd

    def start(self) -> "HubServer":
        """Serve in a daemon thread; returns self so ``HubServer(root).start()`` chains."""
        httpd = self._bind()
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port; connections to it are refused afterwards."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

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
        "HF_HUB_DISABLE_XET": "1",
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
    parser.add_argument("--token", default=None, help="if set, writes need 'Authorization: Bearer TOKEN'")
    parser.add_argument("--quiet", action="store_true", help="do not log every request")
    args = parser.parse_args(argv)
    server = HubServer(args.root, host=args.host, port=args.port, token=args.token)
    server.log_requests = not args.quiet
    httpd = server._bind()
    print(f"Serving on {server.url}", flush=True)  # first line: a parent process reads the URL from it
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()


if __name__ == "__main__":
    main()
