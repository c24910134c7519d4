"""`python -m hub.space_deploy SPACE_ID --model-id REPO_ID [--private]`: publish space/ + the hub package as a Space.

Why: the Gradio app (space/app.py) imports the `hub` package and loads the model from the Hub at start-up. This
uploads, in one commit to a Gradio Space repo: every file of space/ (app.py, README.md, requirements.txt,
examples/...) at the repo root, and the hub/ package (modules and the card template) under hub/, which app.py
imports from beside it (space/requirements.txt installs the package's inference dependencies, not TensorFlow).
The model the Space loads is named by the `models:` list in the Space README's front matter (the app falls back
to its first entry when MODEL_ID is unset), so the deploy rewrites that list to `--model-id` with huggingface_hub's SpaceCard, and checks the front
matter the Hub needs (sdk gradio, app_file present, sdk_version equal to the gradio pinned in requirements.txt).
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from pathlib import Path

from hub.hub_io import HubError, PushError, api, describe_error, endpoint

ROOT = Path(__file__).resolve().parent.parent
SPACE_DIR = ROOT / "space"
HUB_DIR = Path(__file__).resolve().parent
SKIP_PARTS = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints", ".git"}
SKIP_SUFFIXES = {".pyc", ".pyo"}
SKIP_NAMES = {".DS_Store", "flagged"}


class SpaceConfigError(HubError):
    """space/ is not deployable as is (bad or missing README front matter, app file, requirements)."""


def _files(folder: Path):
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not (set(rel.parts) & SKIP_PARTS) and path.suffix not in SKIP_SUFFIXES \
                and path.name not in SKIP_NAMES:
            yield rel.as_posix(), path


def space_readme(space_dir: Path, model_id: str) -> str:
    """space/README.md with `models:` set to [model_id], after checking the front matter a Gradio Space needs."""
    from huggingface_hub import SpaceCard

    readme = space_dir / "README.md"
    if not readme.is_file():
        raise SpaceConfigError(f"{readme} is missing: a Space needs a README.md with YAML front matter "
                               "(title, emoji, colorFrom, colorTo, sdk: gradio, sdk_version, app_file, models).")
    text = readme.read_text(encoding="utf-8")
    if not text.startswith("---"):
        raise SpaceConfigError(f"{readme} has no YAML front matter (a '---' block at the top).")
    card = SpaceCard(text)
    meta = card.data
    if meta.sdk != "gradio":
        raise SpaceConfigError(f"{readme}: front matter says sdk: {meta.sdk!r}; this app needs sdk: gradio.")
    app_file = meta.app_file or "app.py"
    if not (space_dir / app_file).is_file():
        raise SpaceConfigError(f"{readme}: app_file {app_file!r} does not exist in {space_dir}.")
    pinned = _pinned_gradio(space_dir / "requirements.txt")
    if meta.sdk_version is None:
        raise SpaceConfigError(f"{readme}: sdk_version is missing (the gradio version the Space runs).")
    if pinned is not None and str(meta.sdk_version) != pinned:
        raise SpaceConfigError(f"{readme}: sdk_version {meta.sdk_version} differs from gradio=={pinned} in "
                               "requirements.txt; make them equal.")
    meta.models = [model_id]
    return card.content


def _pinned_gradio(requirements: Path) -> str | None:
    if not requirements.is_file():
        return None
    for line in requirements.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\s*gradio\s*==\s*([^\s;#]+)", line)
        if match:
            return match.group(1)
    return None


def build_operations(model_id: str, space_dir: Path = SPACE_DIR, hub_dir: Path = HUB_DIR):
    """The commit: space/* at the root (README.md rewritten), hub/*.py etc. under hub/."""
    from huggingface_hub import CommitOperationAdd

    space_dir, hub_dir = Path(space_dir), Path(hub_dir)
    if not space_dir.is_dir():
        raise SpaceConfigError(f"{space_dir} does not exist: nothing to deploy.")
    operations = [CommitOperationAdd("README.md", space_readme(space_dir, model_id).encode("utf-8"))]
    for rel, path in _files(space_dir):
        if rel != "README.md":
            operations.append(CommitOperationAdd(rel, path))
    for rel, path in _files(hub_dir):
        operations.append(CommitOperationAdd(f"hub/{rel}", path))
    return operations


def deploy_space(space_id: str, model_id: str, *, private: bool | None = None, commit_message: str | None = None,
                 space_dir: Path = SPACE_DIR, hub_dir: Path = HUB_DIR, token: str | None = None):
    """Create/update the Gradio Space `space_id` so it serves `model_id`. Returns the CommitInfo.

    Raises SpaceConfigError for a bad space/ folder, PushError (with the retry command) for Hub failures.
    """
    from huggingface_hub.errors import RepositoryNotFoundError

    args = ["python", "-m", "hub.space_deploy", space_id, "--model-id", model_id] + (["--private"] if private else [])
    retry = shlex.join(args)

    def fail(message, cause):
        error = PushError(f"Deploying Space '{space_id}' failed: {message}\nRetry with:\n  {retry}", retry)
        error.__cause__ = cause
        return error

    operations = build_operations(model_id, space_dir, hub_dir)
    client = api(token)
    try:
        model = client.model_info(model_id)
    except RepositoryNotFoundError as e:  # the Space would start with nothing to serve
        raise fail(f"{describe_error(e, repo_id=model_id, action='download')} Push the model first: "
                   f"python -m hub.push outputs/mnist-cnn {model_id}", e) from e
    except Exception as e:
        explained = describe_error(e, repo_id=model_id, action="download")
        if explained is None:
            raise
        raise fail(explained, e) from e
    if model.private:
        print(f"warning: model repo '{model_id}' is private; the Space can only load it if you add an HF_TOKEN "
              "secret with read access in the Space settings.", file=sys.stderr)
    try:
        client.create_repo(space_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
        return client.create_commit(space_id, operations, repo_type="space",
                                    commit_message=commit_message or f"Deploy MNIST demo for {model_id}")
    except Exception as e:
        explained = describe_error(e, repo_id=space_id, action="write", repo_type="space")
        if explained is None:
            raise
        raise fail(explained, e) from e


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hub.space_deploy",
                                     description="Publish space/ and the hub package as a Gradio Space.")
    parser.add_argument("space_id", help="Space repo, 'namespace/name'")
    parser.add_argument("--model-id", required=True, help="model repo the Space loads, 'namespace/name'")
    parser.add_argument("--private", action="store_true", help="create the Space as private (if it does not exist)")
    parser.add_argument("--message", default=None, help="commit message")
    args = parser.parse_args(argv)
    try:
        commit = deploy_space(args.space_id, args.model_id, private=args.private or None,
                              commit_message=args.message)
    except HubError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"Deployed {args.space_id} (model {args.model_id}), commit {commit.oid[:12]}: "
          f"{endpoint()}/spaces/{args.space_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
