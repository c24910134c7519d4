"""Everything that talks to the Hugging Face Hub, and the one place its errors become messages for humans.

Why one module: a push can fail (network, token, permissions, Hub outage) after minutes of training, and a
download can fail for as many reasons. `describe_error()` turns any huggingface_hub or network error into a
sentence that says what went wrong and what to do; `hub.classifier` (downloads), `hub.space_deploy` and the push
below all use it. `check_token()` fails fast before training starts, and `push_model_folder()` never touches
the folder and raises `PushError` with the exact command to retry (`python -m hub.push FOLDER REPO_ID ...`).
The token comes from the `token` argument, HF_TOKEN or the cached `hf auth login`, and is never printed.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from hub.model_folder import REQUIRED_FILES

LIBRARY_NAME = "mnist-cnn-hub"  # sent in the user agent of every Hub request


class HubError(RuntimeError):
    """A Hub operation failed; the message says what happened and what to do."""


class TokenError(HubError):
    """No usable token: missing, rejected by the Hub, read-only, or not allowed in the target namespace."""


class PushError(HubError):
    """A push failed. The local folder is untouched; `retry_command` redoes the push."""

    def __init__(self, message: str, retry_command: str, folder: str | Path | None = None):
        super().__init__(message)
        self.retry_command = retry_command
        self.folder = folder


@dataclass(frozen=True)
class PushResult:
    repo_id: str
    repo_url: str
    commit_sha: str
    commit_url: str
    revision: str


def api(token: str | None = None):
    """An HfApi client for this project (token: the argument, else HF_TOKEN, else `hf auth login`)."""
    from huggingface_hub import HfApi

    return HfApi(token=token, library_name=LIBRARY_NAME)


def endpoint() -> str:
    """The Hub this process talks to (HF_ENDPOINT, read by huggingface_hub at import)."""
    from huggingface_hub import constants

    return constants.ENDPOINT


def first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def describe_error(e: BaseException, *, repo_id: str, action: str, revision: str | None = None,
                   repo_type: str = "model", cache_dir=None, local_files_only: bool = False) -> str | None:
    """What went wrong and what to do, for an error raised by huggingface_hub; None if `e` is not such an error.

    `action` is "download" (loading a repo), "write" (creating a repo, pushing) or "token" (checking the token);
    the same error calls for different advice in each.
    """
    import httpx2
    from huggingface_hub import constants
    from huggingface_hub.errors import (GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError,
                                        LocalTokenNotFoundError, OfflineModeIsEnabled, RemoteEntryNotFoundError,
                                        RepositoryNotFoundError, RevisionNotFoundError)

    hub = endpoint()
    rev = revision or "main"
    kind = f"{repo_type} repo" if repo_type != "model" else "model repo"
    if isinstance(e, LocalTokenNotFoundError):
        return ("No Hugging Face token found. Create a token with write access at "
                "https://huggingface.co/settings/tokens, then set it in the HF_TOKEN environment variable or run "
                "`hf auth login`.")
    if isinstance(e, (LocalEntryNotFoundError, OfflineModeIsEnabled)):
        where = f"the cache ({cache_dir or constants.HF_HUB_CACHE})"
        if local_files_only or constants.is_offline_mode():
            why = "local_files_only=True" if local_files_only else "HF_HUB_OFFLINE=1"
            return (f"Model repo '{repo_id}' (revision '{rev}') is not in {where} and downloading is disabled "
                    f"({why}). Load it once with network access to cache it, or unset HF_HUB_OFFLINE / "
                    "local_files_only.")
        return (f"Could not reach the Hub at {hub} to download {kind} '{repo_id}' (revision '{rev}'), and it is "
                f"not in {where}. Check your network connection (or HF_ENDPOINT) and try again. Cause: {e}")
    if isinstance(e, HfHubHTTPError):
        status = e.response.status_code if e.response is not None else None
        server = (getattr(e, "server_message", None) or "").strip()
        detail = f" (server said: {server})" if server else ""
        if isinstance(e, GatedRepoError):
            return (f"Model repo '{repo_id}' is gated: request access at {hub}/{repo_id}, then pass a token of an "
                    "account that has access (token=..., the HF_TOKEN environment variable, or `hf auth login`).")
        if isinstance(e, RevisionNotFoundError):
            if action == "write":
                return (f"Revision '{rev}' cannot receive commits ({status}){detail}. Push to a branch name; tags "
                        "and commit shas are read-only.")
            return (f"Revision '{rev}' does not exist in {kind} '{repo_id}'. Use a branch, a tag or a full commit "
                    f"sha (list them with huggingface_hub.list_repo_refs('{repo_id}') / list_repo_commits).")
        if isinstance(e, RemoteEntryNotFoundError):
            return f"A file listed in {kind} '{repo_id}' could not be downloaded: {first_line(e)}"
        rejected = (f"The Hub at {hub} rejected the token (401 Unauthorized): it is invalid, expired or revoked. "
                    "Set a valid token in HF_TOKEN (it takes precedence over `hf auth login`), pass token=..., or "
                    "log in again with `hf auth login --force`.")
        if status == 401 and "Invalid credentials" in str(e):
            return rejected
        if isinstance(e, RepositoryNotFoundError) or status == 404:  # the Hub answers so for private repos too
            if action == "write":
                return (f"Repo '{repo_id}' was not found or is not accessible with this token ({status}){detail}. "
                        "Check the namespace is your user or one of your organisations.")
            return (f"Model repo '{repo_id}' was not found on {hub} (and there is no local folder of that name). "
                    "Check the id (namespace/name). If the repo is private, pass a token that can read it "
                    "(token=..., HF_TOKEN, or `hf auth login`).")
        if status == 401:
            return f"Not authenticated (401){detail}. Set HF_TOKEN or run `hf auth login`." if action == "write" \
                else rejected
        if status == 403:
            verb = "write to" if action == "write" else "read"
            return (f"The token is not allowed to {verb} '{repo_id}' (403 Forbidden){detail}. Use a token with "
                    f"{'write' if action == 'write' else 'read'} access to that namespace.")
        if status is not None and status >= 500:
            return (f"The Hub had a server error ({status}){detail}. It is usually temporary: retry in a few "
                    "minutes.")
        return f"The Hub at {hub} answered {status}{detail}: {first_line(e)}"
    if isinstance(e, (httpx2.HTTPError, OSError)):
        return (f"Could not reach the Hub at {hub} ({first_line(e)}). Check your network connection (or "
                "HF_ENDPOINT) and try again.")
    if isinstance(e, ValueError) and action == "write":  # e.g. README.md metadata rejected by the Hub
        return str(e)
    return None


def check_token(repo_id: str | None = None, token: str | None = None) -> str:
    """Check a token exists, the Hub accepts it, and it can write (to `repo_id`'s namespace if given).

    Returns the user name. Raises TokenError with a message saying what to do.
    """
    try:
        info = api(token).whoami()
    except Exception as e:
        message = describe_error(e, repo_id=repo_id or "", action="token")
        if message is None:
            raise
        raise TokenError(message) from e
    user = info.get("name") or "?"
    role = ((info.get("auth") or {}).get("accessToken") or {}).get("role")
    if role == "read":
        raise TokenError(f"The token of user '{user}' is read-only; pushing needs a token with the 'write' role "
                         "(or a fine-grained token with write access to the repo).")
    if repo_id is not None and "/" in repo_id:
        namespace = repo_id.split("/", 1)[0]
        allowed = {user} | {org.get("name") for org in info.get("orgs") or []}
        if namespace not in allowed:
            raise TokenError(f"The token belongs to user '{user}', who cannot write to namespace '{namespace}' "
                             f"(allowed: {', '.join(sorted(n for n in allowed if n))}). Use a repo id under your "
                             "user or one of your organisations, or a token of the owner.")
    return user


def download(repo_id: str, *, allow_patterns, revision=None, cache_dir=None, local_files_only: bool = False,
             token=None) -> str:
    """snapshot_download of a model repo; any failure becomes a HubError whose message says what to do."""
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(repo_id, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only,
                                 token=token, allow_patterns=allow_patterns, library_name=LIBRARY_NAME)
    except Exception as e:
        message = describe_error(e, repo_id=repo_id, action="download", revision=revision, cache_dir=cache_dir,
                                 local_files_only=local_files_only)
        if message is None:
            raise
        raise HubError(message) from e


def retry_command(folder, repo_id: str, *, private: bool | None = None, revision: str | None = None,
                  commit_message: str | None = None) -> str:
    """The shell command that redoes a push of `folder` with the same options."""
    args = ["python", "-m", "hub.push", str(folder), repo_id]
    if private:
        args.append("--private")
    if revision:
        args += ["--revision", revision]
    if commit_message:
        args += ["--message", commit_message]
    return shlex.join(args)


def push_model_folder(folder, repo_id: str, *, private: bool | None = None, revision: str | None = None,
                      commit_message: str | None = None, token: str | None = None) -> PushResult:
    """Upload a model folder (what train.py writes) to a Hub model repo as one commit.

    Creates the repo if needed (`private` applies on creation) and the branch `revision` if it does not exist.
    Raises PushError (folder untouched, `retry_command` set) on any failure.
    """
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    folder = Path(folder)
    retry = retry_command(folder, repo_id, private=private, revision=revision, commit_message=commit_message)

    def fail(message: str, cause: BaseException | None = None) -> PushError:
        error = PushError(f"Push of {folder} to '{repo_id}' failed: {message}\n"
                          f"The model folder is intact at {folder}. Retry with:\n  {retry}", retry, folder)
        error.__cause__ = cause
        return error

    try:
        validate_repo_id(repo_id)
    except HFValidationError as e:
        raise fail(f"'{repo_id}' is not a valid repo id ({e}). Use 'namespace/name', e.g. 'your-name/mnist-cnn'.",
                   e) from e
    if "/" not in repo_id:
        raise fail(f"'{repo_id}' has no namespace. Use 'namespace/name', e.g. 'your-name/{repo_id}'.")
    if revision is not None and re.fullmatch(r"[0-9a-f]{40}", revision):
        raise fail(f"revision '{revision}' is a commit sha; commits can only be pushed to a branch name.")
    if not folder.is_dir():
        raise fail("the folder does not exist. Train first (python train.py) or give the folder train.py wrote.")
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise fail(f"the folder is missing {', '.join(missing)}; it is not a complete model folder written by "
                   "train.py. Re-run training to write it.")

    branch = revision or "main"
    message = commit_message or f"Upload MNIST classifier from {folder.name}"
    client = api(token)
    try:
        repo_url = client.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        if branch != "main":
            refs = client.list_repo_refs(repo_id, repo_type="model")
            if branch in {tag.name for tag in refs.tags}:
                raise fail(f"'{branch}' is a tag of '{repo_id}'; tags are read-only, push to a branch name.")
            if branch not in {b.name for b in refs.branches}:
                client.create_branch(repo_id, branch=branch, repo_type="model")
        commit = client.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model", revision=branch,
                                      commit_message=message)
    except PushError:
        raise
    except Exception as e:
        explained = describe_error(e, repo_id=repo_id, action="write", revision=branch)
        if explained is None:
            raise
        raise fail(explained, e) from e
    return PushResult(repo_id=repo_url.repo_id, repo_url=str(repo_url), commit_sha=commit.oid,
                      commit_url=commit.commit_url, revision=branch)
