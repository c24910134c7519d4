"""Round trip against the real Hugging Face Hub. Skipped unless HF_TOKEN and MNIST_TEST_REPO_ID are set.

Run it with a token that can write to the test repo (it is created if needed, as private):

    HF_TOKEN=hf_... MNIST_TEST_REPO_ID=your-name/mnist-cnn-test pytest tests/test_hub_live.py -v

The test session points huggingface_hub at the local test server, so this test runs in a subprocess with the
environment the session started with (tests/hub_server.ORIGINAL_ENV).
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests import hub_server

ROOT = Path(__file__).resolve().parent.parent


def _real_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in hub_server._CLIENT_ENV}
    env.update(hub_server.ORIGINAL_ENV if hub_server._RESERVED_SOCKET is not None else
               {k: os.environ[k] for k in hub_server._CLIENT_ENV if k in os.environ})
    return env


LIVE = _real_env()


@pytest.mark.live
@pytest.mark.skipif(not (LIVE.get("HF_TOKEN") and LIVE.get("MNIST_TEST_REPO_ID")),
                    reason="live Hub test: set HF_TOKEN and MNIST_TEST_REPO_ID to run it")
def test_live_push_and_load(model_dir, tmp_path):
    script = textwrap.dedent(f"""
        import numpy as np, keras
        from hub.hub_io import check_token, push_model_folder
        from hub.classifier import MnistClassifier
        repo = {LIVE["MNIST_TEST_REPO_ID"]!r}
        check_token(repo)
        result = push_model_folder({str(model_dir)!r}, repo, private=True, commit_message="Live test upload")
        x = np.zeros((4, 28, 28), np.uint8)
        x[:, 4:24, 4:24] = np.random.default_rng(0).integers(0, 256, size=(4, 20, 20), dtype=np.uint8)
        local = MnistClassifier.from_pretrained({str(model_dir)!r})
        remote = MnistClassifier.from_pretrained(repo, revision=result.commit_sha, cache_dir={str(tmp_path)!r})
        np.testing.assert_allclose(remote.predict_proba(x), local.predict_proba(x), atol=1e-6)
        keras.saving.load_model("hf://" + repo)
        print("LIVE OK", result.commit_url)
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=LIVE, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0 and "LIVE OK" in proc.stdout, proc.stderr[-3000:]
