"""`python -m hub.push FOLDER REPO_ID [--private] [--revision BRANCH] [--message MSG]`: push a written model folder.

Why: lets a user publish (or re-publish after a failed push) without retraining. The token comes from HF_TOKEN or
`hf auth login`; there is deliberately no --token option (it would end up in shell history).
"""

from __future__ import annotations

import argparse
import sys

from hub.hub_io import HubError, check_token, push_model_folder, retry_command


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m hub.push",
        description="Push a model folder written by train.py to a Hugging Face Hub model repo, as one commit. "
                    "The token comes from HF_TOKEN or `hf auth login`.")
    parser.add_argument("folder", help="model folder written by train.py (e.g. outputs/mnist-cnn)")
    parser.add_argument("repo_id", help="Hub model repo, 'namespace/name'")
    parser.add_argument("--private", action="store_true", help="create the repo as private (if it does not exist)")
    parser.add_argument("--revision", default=None, help="branch to push to (created if needed; default main)")
    parser.add_argument("--message", default=None, help="commit message")
    parser.add_argument("--space-id", default=None, help="the Space that serves the model, linked from the card")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        user = check_token(args.repo_id)
        refresh_card(args.folder, args.repo_id, args.space_id)
        print(f"Pushing {args.folder} to {args.repo_id} as {user}...")
        result = push_model_folder(args.folder, args.repo_id, private=args.private or None, revision=args.revision,
                                   commit_message=args.message)
    except HubError as e:
        print(f"error: {e}", file=sys.stderr)
        retry = getattr(e, "retry_command", None)
        if retry is None:  # token problems: the retry is the same command once the token is fixed
            retry = retry_command(args.folder, args.repo_id, private=args.private, revision=args.revision,
                                  commit_message=args.message)
            print(f"The model folder is untouched. Once fixed, retry with:\n  {retry}", file=sys.stderr)
        return 1
    print(f"Pushed to {result.repo_url} (revision {result.revision}, commit {result.commit_sha[:12]}): "
          f"{result.commit_url}")
    return 0


def refresh_card(folder, repo_id: str, space_id: str | None) -> None:
    """Re-render the card for the repo it is going to, so its snippets and widget point there."""
    from pathlib import Path

    from hub import card
    from hub.metrics import MetricsError
    from hub.model_folder import METRICS_FILE

    if not (Path(folder) / METRICS_FILE).is_file():
        return
    try:
        card.write_model_card(folder, repo_id=repo_id, space_id=space_id)
    except MetricsError as e:  # a folder from another version of train.py: push its card as it is
        print(f"warning: the model card was not re-rendered for {repo_id}: {e}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
