"""Shared fixtures. The local Hub server's environment must be set before anything imports
huggingface_hub (it reads HF_ENDPOINT at import time), so that comes first.

`train`, `tests.hub_server` and `hub` import from the checkout: pytest puts the repository root on sys.path
(`pythonpath` in pyproject.toml)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from tests.hub_server import prepare_environment  # noqa: E402

prepare_environment()

import pytest  # noqa: E402

from tests.hub_server import hub_server, hub_server_session  # noqa: E402,F401

# A few seconds of training: accurate enough (about 98%) for the app and round-trip tests to check real digits.
QUICK_TRAIN_ARGS = ["--preset", "fast", "--max-train-samples", "15000", "--epochs", "2", "--seed", "1"]


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    """A real model folder written by train.py on a subset of MNIST, shared by the whole session."""
    import train

    folder = tmp_path_factory.mktemp("trained") / "mnist-cnn"
    assert train.main([*QUICK_TRAIN_ARGS, "--output-dir", str(folder), "--verbose", "0"]) == 0
    return folder
