"""`python space/app.py` started as a user starts it, for the tests that talk to a real server (the browser test,
the serving tests): one implementation of starting it, waiting for its page and stopping it."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 180  # a busy 2-core CI machine importing Gradio and loading the model


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(model, log_dir: Path, **env):
    """Yields (url, process) once the app's page answers; `env` adds to the environment (PREDICT_WORKERS=...).
    Fails the test with the end of the app's log if it exits or does not answer in time."""
    port = free_port()
    env = {**os.environ, "MODEL_ID": str(model), "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_ANALYTICS_ENABLED": "False", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT), **env}
    log_path = log_dir / "app.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, str(ROOT / "space" / "app.py")], env=env, cwd=ROOT,
                                   stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"space/app.py did not start (exit code {process.poll()}):\n"
                            + log_path.read_text(errors="replace")[-3000:])
            try:
                if httpx.get(url, timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
