"""A local stand-in for the Hugging Face Hub HTTP API, so Hub round trips can be tested offline.

Why: publishing and loading go through the real `huggingface_hub` client (and Keras' `hf://` loader), which
talks HTTP to `HF_ENDPOINT`. This server answers the requests that client (2.4) actually sends, with the
status codes, JSON shapes and headers it reads (see hf_api.py, _commit_api.py, _upload_pipeline.py,
file_download.py, _snapshot_download.py, utils/_http.py::hf_raise_for_status). It keeps repos in memory as a
tiny git: commits with parents, branches, tags, git blob oids.

What it covers: whoami-v2 (token check), repo create/delete/settings (private, gated), model/dataset/space info
(optionally at a revision), tree listing, paths-info, refs, commits, branch/tag creation, validate-yaml,
preupload (answers "regular" for every file: the client then inlines the content in the commit, so no LFS/Xet
storage is needed), commit (ndjson: file / deletedFile / deletedFolder), and HEAD/GET `/resolve/` with
ETag, X-Repo-Commit, Content-Length and Range. Errors use the X-Error-Code values the client maps to
RepositoryNotFoundError / RevisionNotFoundError / EntryNotFoundError / GatedRepoError, and 401 "Invalid
credentials in Authorization header" for an unknown token. Not covered: LFS/Xet uploads, pull requests,
pagination (lists are returned in one page), organisations.

Usage in tests: `huggingface_hub` reads HF_ENDPOINT (and HF_HOME, HF_HUB_OFFLINE, ...) when it is imported
(and Keras imports it), so call `prepare_environment()` before anything imports keras/huggingface_hub, e.g.
at the very top of tests/conftest.py:

    from tests.hub_server import prepare_environment
    prepare_environment()
    from tests.hub_server import hub_server, hub_server_session  # noqa: F401  (pytest fixtures)

`prepare_environment()` reserves a free 127.0.0.1 port (the socket is kept and handed to uvicorn later),
points HF_ENDPOINT at it and gives the client a throw-away HF_HOME (cache + token file). The real
environment is kept in ORIGINAL_ENV for live tests run in a subprocess.
"""

from __future__ import annotations

import base64
import datetime as _dt
import fnmatch
import hashlib
import json
import os
import re
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import unquote

WRITE_TOKEN = "hf_local_tester_write_token"
READ_TOKEN = "hf_local_tester_read_token"
OTHER_TOKEN = "hf_local_other_write_token"
USER = "tester"
OTHER_USER = "other"

ORIGINAL_ENV: dict[str, str] = {}
_RESERVED_SOCKET: socket.socket | None = None

_CLIENT_ENV = ("HF_ENDPOINT", "HF_HOME", "HF_HUB_CACHE", "HF_TOKEN", "HF_HUB_OFFLINE", "HF_HUB_DISABLE_TELEMETRY",
               "HF_HUB_DISABLE_UPDATE_CHECK", "HF_HUB_DISABLE_PROGRESS_BARS", "HUGGINGFACE_HUB_CACHE",
               "HF_HUB_DISABLE_IMPLICIT_TOKEN", "HF_TOKEN_PATH", "HF_STORED_TOKENS_PATH", "HF_HUB_DISABLE_XET")


def prepare_environment(home: str | None = None) -> str:
    """Point `huggingface_hub` at the local server; must run before huggingface_hub is imported. Returns the URL."""
    global _RESERVED_SOCKET
    if _RESERVED_SOCKET is not None:
        return os.environ["HF_ENDPOINT"]
    import sys

    if "huggingface_hub" in sys.modules:
        raise RuntimeError(
            "huggingface_hub was imported before tests/hub_server.prepare_environment(): it reads HF_ENDPOINT at "
            "import time, so the tests would talk to the real Hub. Call prepare_environment() at the top of "
            "tests/conftest.py, before importing keras, tensorflow, gradio or hub modules."
        )
    for name in _CLIENT_ENV:
        if name in os.environ:
            ORIGINAL_ENV[name] = os.environ[name]
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    _RESERVED_SOCKET = sock
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    if home is None:
        import atexit
        import shutil

        home = tempfile.mkdtemp(prefix="hf-home-")
        atexit.register(shutil.rmtree, home, ignore_errors=True)
    for name in _CLIENT_ENV:
        os.environ.pop(name, None)
    os.environ.update({
        "HF_ENDPOINT": url,
        "HF_HOME": home,
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_UPDATE_CHECK": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    })
    return url


# --------------------------------------------------------------------------- storage


def git_blob_oid(data: bytes) -> str:
    """The git object id of a blob, as the Hub reports it for regular files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class Commit:
    oid: str
    parent: str | None
    files: dict[str, bytes]
    title: str
    message: str
    author: str
    date: str


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    owner: str
    private: bool = False
    gated: str | bool = False
    sdk: str | None = None
    created_at: str = field(default_factory=_now)
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    granted: set[str] = field(default_factory=set)

    def resolve(self, revision: str) -> str | None:
        """Branch, tag or full commit sha -> commit oid (None if unknown)."""
        for prefix, table in (("refs/heads/", self.branches), ("refs/tags/", self.tags)):
            if revision.startswith(prefix):
                return table.get(revision[len(prefix):])
        if revision in self.branches:
            return self.branches[revision]
        if revision in self.tags:
            return self.tags[revision]
        if re.fullmatch(r"[0-9a-f]{40}", revision) and revision in self.commits:
            return revision
        return None


_GITATTRIBUTES = b"""*.7z filter=lfs diff=lfs merge=lfs -text
*.bin filter=lfs diff=lfs merge=lfs -text
*.h5 filter=lfs diff=lfs merge=lfs -text
*.keras filter=lfs diff=lfs merge=lfs -text
*.safetensors filter=lfs diff=lfs merge=lfs -text
*.zip filter=lfs diff=lfs merge=lfs -text
"""

SPACE_COLORS = {"red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray"}


class HubState:
    """In-memory users, tokens and repos. Tests may use the helpers (set_gated, fail_next) to arrange cases."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.tokens = {WRITE_TOKEN: (USER, "write"), READ_TOKEN: (USER, "read"), OTHER_TOKEN: (OTHER_USER, "write")}
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path) log, handy when debugging a test
        self._faults: list[tuple[str, int, int]] = []  # (path regex, status, remaining count)
        self._counter = 0

    # -- helpers for tests --------------------------------------------------
    def repo(self, repo_id: str, repo_type: str = "model") -> Repo:
        return self.repos[(repo_type, repo_id)]

    def set_gated(self, repo_id: str, gated: str | bool = "manual", repo_type: str = "model") -> None:
        self.repo(repo_id, repo_type).gated = gated

    def fail_next(self, path_regex: str, status: int = 503, count: int = 1) -> None:
        """Answer the next `count` requests whose path matches `path_regex` with `status` (server trouble)."""
        with self.lock:
            self._faults.append((path_regex, status, count))

    def take_fault(self, path: str) -> int | None:
        with self.lock:
            for i, (rx, status, count) in enumerate(self._faults):
                if re.search(rx, path):
                    if count <= 1:
                        self._faults.pop(i)
                    else:
                        self._faults[i] = (rx, status, count - 1)
                    return status
        return None

    # -- git-ish operations ---------------------------------------------------
    def new_commit(self, repo: Repo, parent: str | None, files: dict[str, bytes], title: str, message: str,
                   author: str) -> Commit:
        with self.lock:
            self._counter += 1
            digest = hashlib.sha1()
            digest.update(f"{repo.repo_type}/{repo.repo_id}\n{parent}\n{title}\n{message}\n{self._counter}\n".encode())
            for path in sorted(files):
                digest.update(f"{path} {git_blob_oid(files[path])}\n".encode())
            commit = Commit(digest.hexdigest(), parent, dict(files), title, message, author, _now())
            repo.commits[commit.oid] = commit
            return commit


# --------------------------------------------------------------------------- HTTP app


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


def _type_prefix(repo_type: str) -> str:
    return {"model": "", "dataset": "datasets/", "space": "spaces/"}[repo_type]


def build_app(state: HubState):
    """The Starlette app: one function per route, picked by `dispatch` from two tables (`api_routes`,
    `repo_routes`) by method and path. Routing is done on the raw (still %-encoded) path, like the Hub: the
    client sends revisions quoted with safe='' (e.g. refs%2Fpr%2F1), so a decoded path would be ambiguous."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    def base_url(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def current_user(request: Request) -> tuple[str | None, str | None]:
        auth = request.headers.get("authorization")
        if not auth:
            return None, None
        token = auth.split(" ", 1)[1].strip() if auth.lower().startswith("bearer ") else auth
        if token not in state.tokens:
            raise HubError(401, "Invalid credentials in Authorization header")
        return state.tokens[token]

    def get_repo(request: Request, repo_type: str, repo_id: str, write: bool = False) -> Repo:
        user, role = current_user(request)
        repo = state.repos.get((repo_type, repo_id))
        if repo is None or (repo.private and user != repo.owner):
            # The Hub answers 401 to anonymous callers and 404 to authenticated ones, never telling if it exists.
            raise HubError(401 if user is None else 404, "Repository not found", "RepoNotFound")
        if write:
            if user is None:
                raise HubError(401, "You must be authenticated to write to this repository", "RepoNotFound")
            if user != repo.owner:
                raise HubError(403, f"You don't have the rights to write to {repo_type}s/{repo_id}")
            if role != "write":
                raise HubError(403, "Your token does not have write access (it was created with the 'read' role)")
        return repo

    def resolve(repo: Repo, revision: str) -> str:
        oid = repo.resolve(revision)
        if oid is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return oid

    def card_data(files: dict[str, bytes]) -> dict | None:
        import yaml

        text = files.get("README.md", b"").decode("utf-8", "replace")
        match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", text, re.S)
        if not match:
            return None
        try:
            data = yaml.safe_load(match.group(1))
        except yaml.YAMLError:
            return None
        return data if isinstance(data, dict) else None

    def tree_entries(files: dict[str, bytes], prefix: str, recursive: bool) -> list[dict]:
        prefix = prefix.strip("/")
        under = {p: b for p, b in files.items() if not prefix or p.startswith(prefix + "/")}
        if prefix and not under:
            if prefix in files:
                return []
            raise HubError(404, f"Entry not found: {prefix}", "EntryNotFound")
        entries: dict[str, dict] = {}
        for path, data in sorted(under.items()):
            rel = path[len(prefix) + 1:] if prefix else path
            parts = rel.split("/")
            for depth in range(1, len(parts)):
                if not recursive and depth > 1:
                    break
                folder = "/".join(([prefix] if prefix else []) + parts[:depth])
                if folder not in entries:
                    folder_oid = hashlib.sha1("".join(
                        f"{p}{git_blob_oid(b)}" for p, b in sorted(files.items()) if p.startswith(folder + "/")
                    ).encode()).hexdigest()
                    entries[folder] = {"type": "directory", "oid": folder_oid, "size": 0, "path": folder}
            if recursive or len(parts) == 1:
                entries[path] = {"type": "file", "oid": git_blob_oid(data), "size": len(data), "path": path}
        return sorted(entries.values(), key=lambda e: e["path"])

    def repo_info_json(request: Request, repo: Repo, oid: str, blobs: bool) -> dict:
        commit = repo.commits[oid]
        siblings = []
        for path, data in sorted(commit.files.items()):
            sibling = {"rfilename": path}
            if blobs:
                sibling.update(size=len(data), blobId=git_blob_oid(data))
            siblings.append(sibling)
        card = card_data(commit.files)
        info = {
            "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "author": repo.owner,
            "sha": oid,
            "lastModified": commit.date,
            "createdAt": repo.created_at,
            "private": repo.private,
            "gated": repo.gated,
            "disabled": False,
            "likes": 0,
            "tags": list((card or {}).get("tags") or []),
            "siblings": siblings,
            "usedStorage": sum(len(b) for b in commit.files.values()),
        }
        if card is not None:
            info["cardData"] = card
        if repo.repo_type == "model":
            info.update(downloads=0, library_name=(card or {}).get("library_name"),
                        pipeline_tag=(card or {}).get("pipeline_tag"))
        if repo.repo_type == "space":
            name = repo.repo_id.replace("/", "-").replace("_", "-").lower()
            info.update(
                sdk=(card or {}).get("sdk", repo.sdk),
                subdomain=name,
                host=f"{base_url(request)}/spaces/{repo.repo_id}",
                models=list((card or {}).get("models") or []),
                datasets=list((card or {}).get("datasets") or []),
                runtime={"stage": "BUILDING", "hardware": {"current": None, "requested": "cpu-basic"},
                         "storage": None, "gcTimeout": 172800, "replicas": {"current": 1, "requested": 1}},
            )
        return info

    async def whoami(request: Request):
        user, role = current_user(request)
        if user is None:
            raise HubError(401, "Invalid username or password.")
        return JSONResponse({
            "type": "user", "id": hashlib.sha1(user.encode()).hexdigest()[:24], "name": user,
            "fullname": user.title(), "email": f"{user}@example.invalid", "emailVerified": True,
            "canPay": False, "isPro": False, "periodEnd": None, "avatarUrl": "", "orgs": [],
            "auth": {"type": "access_token",
                     "accessToken": {"displayName": "local-test-token", "role": role, "createdAt": _now()}},
        })

    async def create_repo(request: Request):
        user, role = current_user(request)
        body = await request.json()
        repo_type = body.get("type") or "model"
        name, namespace = body.get("name"), body.get("organization") or user
        if user is None:
            raise HubError(401, "You must be authenticated to create a repository")
        if repo_type not in ("model", "dataset", "space"):
            raise HubError(400, f"Invalid repo type: {repo_type}")
        if not name or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}", name) or ".." in name:
            raise HubError(400, f"Invalid repo name: {name!r}")
        if namespace != user:
            raise HubError(403, f'You don\'t have the rights to create a {repo_type} under the namespace "{namespace}"')
        if role != "write":
            raise HubError(403, "You don't have the rights to create a repository: token role is 'read'")
        repo_id = f"{namespace}/{name}"
        url = f"{base_url(request)}/{_type_prefix(repo_type)}{repo_id}"
        with state.lock:
            if (repo_type, repo_id) in state.repos:
                return JSONResponse({"error": f"You already created this {repo_type} repo", "url": url},
                                    status_code=409)
            if repo_type == "space":
                sdk = body.get("sdk")
                if sdk not in ("gradio", "streamlit", "docker", "static"):
                    raise HubError(400, f"Invalid sdk: {sdk!r}")
            repo = Repo(repo_type, repo_id, owner=user, private=body.get("visibility") == "private",
                        sdk=body.get("sdk"))
            commit = state.new_commit(repo, None, {".gitattributes": _GITATTRIBUTES}, "initial commit", "", user)
            repo.branches["main"] = commit.oid
            state.repos[(repo_type, repo_id)] = repo
        return JSONResponse({"url": url, "name": repo_id, "id": repo_id})

    async def delete_repo(request: Request):
        body = await request.json()
        repo_type = body.get("type") or "model"
        user, _ = current_user(request)
        repo_id = f"{body.get('organization') or user}/{body.get('name')}"
        get_repo(request, repo_type, repo_id, write=True)
        with state.lock:
            del state.repos[(repo_type, repo_id)]
        return Response(status_code=200)

    async def validate_yaml(request: Request):
        import yaml

        body = await request.json()
        content, repo_type = body.get("content", ""), body.get("repoType", "model")
        match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", content, re.S)
        if not match:
            return JSONResponse({"warnings": [{"message": "Empty or missing yaml metadata in repo card"}]})
        try:
            meta = yaml.safe_load(match.group(1))
        except yaml.YAMLError as e:
            return JSONResponse({"errors": [{"message": f"Invalid YAML: {e}"}]}, status_code=400)
        errors = []
        if not isinstance(meta, dict):
            errors.append("Metadata must be a YAML mapping")
        elif repo_type == "space":
            if meta.get("sdk") not in ("gradio", "streamlit", "docker", "static"):
                errors.append('"sdk" must be one of gradio, streamlit, docker, static')
            for key in ("colorFrom", "colorTo"):
                if key in meta and meta[key] not in SPACE_COLORS:
                    errors.append(f'"{key}" must be one of {sorted(SPACE_COLORS)}')
            if "models" in meta and not (isinstance(meta["models"], list)
                                         and all(isinstance(m, str) for m in meta["models"])):
                errors.append('"models" must be a list of repo ids')
        if errors:
            return JSONResponse({"errors": [{"message": m} for m in errors]}, status_code=400)
        return JSONResponse({"warnings": []})

    # Routes under /api/{models,datasets,spaces}/{namespace}/{name}/...: each gets (request, repo_type,
    # repo_id, args), args being the path segments after the action.

    async def repo_info(request: Request, repo_type: str, repo_id: str, args: list[str]):
        repo = get_repo(request, repo_type, repo_id)
        oid = resolve(repo, args[0] if args else "main")
        blobs = request.query_params.get("blobs") in ("true", "True", "1")
        return JSONResponse(repo_info_json(request, repo, oid, blobs))

    async def list_tree(request: Request, repo_type: str, repo_id: str, args: list[str]):
        repo = get_repo(request, repo_type, repo_id)
        oid = resolve(repo, args[0] if args else "main")
        recursive = request.query_params.get("recursive") in ("true", "True", "1")
        return JSONResponse(tree_entries(repo.commits[oid].files, "/".join(args[1:]), recursive))

    async def paths_info(request: Request, repo_type: str, repo_id: str, args: list[str]):
        repo = get_repo(request, repo_type, repo_id)
        files = repo.commits[resolve(repo, args[0] if args else "main")].files
        form = await request.form()
        out = []
        for path in form.getlist("paths"):
            path = str(path).strip("/")
            if path in files:
                data = files[path]
                out.append({"type": "file", "oid": git_blob_oid(data), "size": len(data), "path": path})
            elif any(p.startswith(path + "/") for p in files):
                out.append({"type": "directory", "oid": hashlib.sha1(path.encode()).hexdigest(), "size": 0,
                            "path": path})
        return JSONResponse(out)

    async def list_refs(request: Request, repo_type: str, repo_id: str, args: list[str]):
        repo = get_repo(request, repo_type, repo_id)
        data = {
            "branches": [{"name": n, "ref": f"refs/heads/{n}", "targetCommit": o} for n, o in repo.branches.items()],
            "converts": [],
            "tags": [{"name": n, "ref": f"refs/tags/{n}", "targetCommit": o} for n, o in repo.tags.items()],
        }
        if request.query_params.get("include_prs"):
            data["pullRequests"] = []
        return JSONResponse(data)

    async def list_commits(request: Request, repo_type: str, repo_id: str, args: list[str]):
        repo = get_repo(request, repo_type, repo_id)
        oid, items = resolve(repo, args[0] if args else "main"), []
        while oid is not None:
            c = repo.commits[oid]
            items.append({"id": c.oid, "title": c.title, "message": c.message, "date": c.date,
                          "authors": [{"user": c.author, "avatar": ""}]})
            oid = c.parent
        return JSONResponse(items)

    async def preupload(request: Request, repo_type: str, repo_id: str, args: list[str]):
        repo = get_repo(request, repo_type, repo_id, write=True)
        files = repo.commits[resolve(repo, args[0] if args else "main")].files
        body = await request.json()
        ignore = [line.strip() for line in (body.get("gitIgnore") or "").splitlines()
                  if line.strip() and not line.startswith("#")]
        out = []
        for f in body.get("files", []):
            path = f["path"]
            out.append({
                "path": path,
                "uploadMode": "regular",
                "shouldIgnore": any(fnmatch.fnmatch(path, pat) for pat in ignore),
                "oid": git_blob_oid(files[path]) if path in files else None,
            })
        return JSONResponse({"files": out, "commitOid": resolve(repo, args[0] if args else "main")})

    async def commit(request: Request, repo_type: str, repo_id: str, args: list[str]):
        revision = args[0] if args else "main"
        repo = get_repo(request, repo_type, repo_id, write=True)
        if request.query_params.get("create_pr"):
            raise HubError(400, "Pull requests are not supported by this local test server")
        if revision not in repo.branches:
            # Commits go to branches only; unknown branches must be created first (create_branch).
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        lines = [json.loads(line) for line in (await request.body()).splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "The first line of the commit payload must be the header")
        header = lines[0]["value"]
        user, _ = current_user(request)
        with state.lock:
            head = repo.branches[revision]
            parent = header.get("parentCommit")
            if parent is not None and parent != head:
                raise HubError(412, f"A commit has happened since {parent}. Please pull and retry.")
            files = dict(repo.commits[head].files)
            for item in lines[1:]:
                key, value = item.get("key"), item.get("value", {})
                path = value.get("path", "")
                if key == "file":
                    if value.get("encoding", "base64") != "base64":
                        raise HubError(400, f"Unsupported encoding for {path}")
                    files[path] = base64.b64decode(value["content"])
                elif key == "deletedFile":
                    if path not in files:
                        raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
                    del files[path]
                elif key == "deletedFolder":
                    prefix = path.rstrip("/") + "/"
                    for p in [p for p in files if p.startswith(prefix)]:
                        del files[p]
                elif key in ("lfsFile", "copyFile"):
                    raise HubError(400, f"{key} operations need LFS storage, which this local test server has not")
                else:
                    raise HubError(400, f"Unknown commit operation: {key}")
            new = state.new_commit(repo, head, files, header.get("summary") or "Update",
                                   header.get("description") or "", user)
            repo.branches[revision] = new.oid
        url = f"{base_url(request)}/{_type_prefix(repo_type)}{repo_id}/commit/{new.oid}"
        return JSONResponse({"success": True, "commitOid": new.oid, "commitUrl": url, "hookOutput": "",
                             "pullRequestUrl": None})

    async def create_branch(request: Request, repo_type: str, repo_id: str, args: list[str]):
        repo = get_repo(request, repo_type, repo_id, write=True)
        branch = args[0]
        if branch.startswith("refs/") or not re.fullmatch(r"[A-Za-z0-9._/-]+", branch):
            raise HubError(400, f"Invalid reference for a branch: {branch}")
        if branch in repo.branches:
            raise HubError(409, f"Reference already exists: refs/heads/{branch}")
        body = await request.json() if await request.body() else {}
        repo.branches[branch] = resolve(repo, body.get("startingPoint") or "main")
        return Response(status_code=200)

    async def delete_branch(request: Request, repo_type: str, repo_id: str, args: list[str]):
        repo = get_repo(request, repo_type, repo_id, write=True)
        branch = args[0]
        if branch == "main" or branch not in repo.branches:
            raise HubError(403 if branch == "main" else 404, f"Cannot delete branch {branch}")
        del repo.branches[branch]
        return Response(status_code=200)

    async def create_tag(request: Request, repo_type: str, repo_id: str, args: list[str]):
        repo = get_repo(request, repo_type, repo_id, write=True)
        body = await request.json()
        if body["tag"] in repo.tags:
            raise HubError(409, f"Tag {body['tag']} already exists")
        repo.tags[body["tag"]] = resolve(repo, args[0])
        return Response(status_code=200)

    async def delete_tag(request: Request, repo_type: str, repo_id: str, args: list[str]):
        repo = get_repo(request, repo_type, repo_id, write=True)
        if args[0] not in repo.tags:
            raise HubError(404, f"Tag {args[0]} not found")
        del repo.tags[args[0]]
        return Response(status_code=200)

    async def update_settings(request: Request, repo_type: str, repo_id: str, args: list[str]):
        repo = get_repo(request, repo_type, repo_id, write=True)
        body = await request.json()
        if "gated" in body:
            repo.gated = body["gated"]
        if "visibility" in body:
            repo.private = body["visibility"] == "private"
        if "private" in body:
            repo.private = bool(body["private"])
        return JSONResponse({})

    # (method, action) -> route; None is the repo itself (/api/models/{id}), "revision" the repo at a revision.
    repo_routes = {
        ("GET", None): repo_info,
        ("GET", "revision"): repo_info,
        ("GET", "tree"): list_tree,
        ("POST", "paths-info"): paths_info,
        ("GET", "refs"): list_refs,
        ("GET", "commits"): list_commits,
        ("POST", "preupload"): preupload,
        ("POST", "commit"): commit,
        ("POST", "branch"): create_branch,
        ("DELETE", "branch"): delete_branch,
        ("POST", "tag"): create_tag,
        ("DELETE", "tag"): delete_tag,
        ("PUT", "settings"): update_settings,
    }
    needs_argument = {"branch", "tag"}  # /branch/{name}, /tag/{revision}

    async def repo_api(request: Request, repo_type: str, repo_id: str, rest: list[str]):
        action, args = (rest[0], rest[1:]) if rest else (None, [])
        route = repo_routes.get((request.method, action))
        if route is None or (action in needs_argument and not args):
            if action in (None, "revision"):
                raise HubError(405, "Method not allowed")
            raise HubError(404, "Not found")
        return await route(request, repo_type, repo_id, args)

    async def resolve_file(request: Request, repo_type: str, repo_id: str, revision: str, path: str):
        user, _ = current_user(request)
        repo = get_repo(request, repo_type, repo_id)
        oid = resolve(repo, revision)
        if repo.gated and user != repo.owner and user not in repo.granted:
            if user is None:
                raise HubError(401, f"Access to {repo_type} {repo_id} is restricted. You must have access to it and be "
                                    "authenticated to access it. Please log in.", "GatedRepo")
            raise HubError(403, f"Access to {repo_type} {repo_id} is restricted and you are not in the authorized "
                                f"list. Visit {base_url(request)}/{_type_prefix(repo_type)}{repo_id} to ask for access.",
                           "GatedRepo")
        files = repo.commits[oid].files
        if path not in files:
            raise HubError(404, "Entry not found", "EntryNotFound", headers={"X-Repo-Commit": oid})
        data = files[path]
        headers = {"ETag": f'"{git_blob_oid(data)}"', "X-Repo-Commit": oid, "Accept-Ranges": "bytes",
                   "Content-Disposition": f'inline; filename="{path.rsplit("/", 1)[-1]}"'}
        status = 200
        rng = request.headers.get("range")
        if rng and request.method == "GET":
            match = re.fullmatch(r"bytes=(\d+)-(\d*)", rng.strip())
            if not match or int(match.group(1)) >= len(data):
                return Response(status_code=416, headers={"Content-Range": f"bytes */{len(data)}"})
            start = int(match.group(1))
            end = int(match.group(2)) if match.group(2) else len(data) - 1
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            data, status = data[start:end + 1], 206
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(data))
            return Response(b"", status_code=status, headers=headers, media_type="application/octet-stream")
        return Response(data, status_code=status, headers=headers, media_type="application/octet-stream")

    repo_types = {"models": "model", "datasets": "dataset", "spaces": "space"}
    api_routes = {  # (method, path) -> route, for the /api/... paths that name no repo
        ("GET", "api/whoami-v2"): whoami,
        ("POST", "api/repos/create"): create_repo,
        ("DELETE", "api/repos/delete"): delete_repo,
        ("POST", "api/validate-yaml"): validate_yaml,
    }

    async def dispatch(request: Request):
        raw = request.scope.get("raw_path") or request.url.path.encode()
        raw_path = raw.decode("latin-1").split("?", 1)[0]
        state.requests.append((request.method, raw_path))
        segs = [unquote(s) for s in raw_path.strip("/").split("/")]
        try:
            status = state.take_fault(raw_path)
            if status is not None:
                raise HubError(status, "Simulated server error (injected by the test)")
            route = api_routes.get((request.method, "/".join(segs)))
            if route is not None:
                return await route(request)
            if len(segs) >= 4 and segs[0] == "api" and segs[1] in repo_types:
                return await repo_api(request, repo_types[segs[1]], f"{segs[2]}/{segs[3]}", segs[4:])
            repo_type = "model"
            if segs and segs[0] in ("datasets", "spaces"):
                repo_type, segs = repo_types[segs[0]], segs[1:]
            if len(segs) >= 5 and segs[2] == "resolve" and request.method in ("GET", "HEAD"):
                return await resolve_file(request, repo_type, f"{segs[0]}/{segs[1]}", segs[3], "/".join(segs[4:]))
            raise HubError(404, "Not found")
        except HubError as e:
            headers = dict(e.headers)
            headers["X-Error-Message"] = e.message
            if e.code:
                headers["X-Error-Code"] = e.code
            return JSONResponse({"error": e.message}, status_code=e.status, headers=headers)

    methods = ["GET", "HEAD", "POST", "PUT", "DELETE"]
    return Starlette(routes=[Route("/{path:path}", dispatch, methods=methods)])


# --------------------------------------------------------------------------- server process


class HubServer:
    """Runs the app with uvicorn in a daemon thread on 127.0.0.1. `stop()` makes the port refuse connections."""

    def __init__(self, sock: socket.socket | None = None, state: HubState | None = None):
        self.state = state or HubState()
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))
        self.sock = sock
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._server = None
        self._thread: threading.Thread | None = None

    def start(self) -> "HubServer":
        import uvicorn

        config = uvicorn.Config(build_app(self.state), log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self.sock]}, daemon=True,
                                        name="local-hub-server")
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("The local Hub server did not start within 10 s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
            self._server = None
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "HubServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# --------------------------------------------------------------------------- pytest fixtures

try:
    import pytest
except ImportError:  # pragma: no cover - the module is also usable without pytest
    pytest = None

if pytest is not None:

    @pytest.fixture(scope="session")
    def hub_server_session():
        """The local Hub server for the whole session, on the port HF_ENDPOINT points at."""
        if _RESERVED_SOCKET is None:
            raise RuntimeError("Call tests.hub_server.prepare_environment() at the top of tests/conftest.py first.")
        import huggingface_hub.constants as hf_constants

        if hf_constants.ENDPOINT != os.environ["HF_ENDPOINT"]:
            raise RuntimeError(
                f"huggingface_hub is configured for {hf_constants.ENDPOINT}, not the local server "
                f"{os.environ['HF_ENDPOINT']}: it was imported before prepare_environment()."
            )
        server = HubServer(_RESERVED_SOCKET).start()
        yield server
        server.stop()

    @pytest.fixture
    def hub_server(hub_server_session, monkeypatch):
        """The local Hub server, with HF_TOKEN set to a write token of user `tester` for this test."""
        monkeypatch.setenv("HF_TOKEN", WRITE_TOKEN)
        return hub_server_session
