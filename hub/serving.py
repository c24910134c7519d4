"""Predictions for a web server, made in a worker process so the server's own process only serves HTTP.

Why: decoding and preprocessing an image is Python and numpy work that holds the GIL, and Gradio's event loop needs
that same GIL to answer every other request. On a 2-core machine with the work in the server process, 8 concurrent
API clients got about 70% of a do-nothing app's throughput; with it in a worker process, about 100%
(benchmarks/api.py). A worker also contains crashes: if an image kills it, a new worker is started and the server
keeps answering.

The worker needs no TensorFlow: it runs the network from the classifier's LiteRT flatbuffer (`LiteRTModel`).
Without LiteRT (another Keras backend) predictions run in a thread of the server process instead.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
import os
import threading
import time

import numpy as np

from hub import preprocess

log = logging.getLogger(__name__)

_worker_model = None  # in a worker process: (LiteRTModel, labels)


class WorkerCrashedError(RuntimeError):
    """The worker process died while handling an image (a new one has been started)."""


def predict_digit(source, model, labels) -> tuple[dict[str, float], np.ndarray]:
    """({label: probability}, the 28x28 model input) for one image: `preprocess.to_mnist`, then one model call."""
    digit = preprocess.to_mnist(source)
    probabilities = model(digit[np.newaxis, :, :, np.newaxis])[0]
    return {label: float(p) for label, p in zip(labels, probabilities)}, digit


def _start_worker(flatbuffer: bytes, labels: list[str], server_pid: int) -> None:
    global _worker_model
    from hub.classifier import LiteRTModel

    _worker_model = (LiteRTModel(flatbuffer), labels)
    threading.Thread(target=_exit_with_server, args=(server_pid,), name="exit-with-server", daemon=True).start()


def _exit_with_server(server_pid: int) -> None:
    """End this worker once the server is gone (killed, not shut down): nothing else would.

    Why: the worker waits on a queue it also holds the write end of, so it never sees the server's end of it
    close; without this, every SIGTERM'd or crashed server would leave its workers running.
    """
    while os.getppid() == server_pid:
        time.sleep(1.0)
    os._exit(0)


def _predict_in_worker(source):
    return predict_digit(source, *_worker_model)


def default_workers() -> int:
    """PREDICT_WORKERS, else half the cores (the server and its clients need the rest), at least one."""
    configured = os.environ.get("PREDICT_WORKERS", "").strip()
    return int(configured) if configured.isdigit() else max(1, (os.cpu_count() or 2) // 2)


class DigitPredictor:
    """`await predictor.predict(source)` -> ({label: probability}, 28x28 input), for any image `to_mnist` accepts.

    `workers=0` (or a classifier without LiteRT) predicts in a thread of this process.
    """

    def __init__(self, clf, workers: int | None = None):
        self.clf = clf
        self.labels = list(clf.labels)
        self.flatbuffer = getattr(clf.runtime, "flatbuffer", None)
        self.workers = default_workers() if workers is None else workers
        if self.flatbuffer is None:
            self.workers = 0
        self._lock = threading.Lock()
        self._pool = self._new_pool() if self.workers else None
        if self._pool is not None:  # start the worker now, not on the first user's request
            self._pool.submit(_start_worker_ready).result(timeout=120)

    def _new_pool(self):
        # "spawn": a fresh interpreter, safe next to TensorFlow's and the web server's threads (fork is not).
        return concurrent.futures.ProcessPoolExecutor(
            self.workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
            initargs=(self.flatbuffer, self.labels, os.getpid()))

    async def predict(self, source) -> tuple[dict[str, float], np.ndarray]:
        if self._pool is None:
            return await asyncio.to_thread(predict_digit, source, self.clf.runtime, self.labels)
        # A worker that died (an image crashed a decoder, the OS killed it) is replaced, and the request tried once
        # more on the new one: a request that only met a dead worker is answered; one that kills two fails alone.
        for attempt in (1, 2):
            pool = self._pool
            try:
                return await asyncio.wrap_future(pool.submit(_predict_in_worker, source))
            except concurrent.futures.process.BrokenProcessPool as e:
                self._replace(pool)
                if attempt == 2:
                    raise WorkerCrashedError("the prediction worker stopped while handling this image") from e

    def _replace(self, broken) -> None:
        with self._lock:
            if self._pool is broken:  # concurrent requests on the same broken pool replace it once
                log.warning("prediction worker died; starting a new one")
                broken.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _start_worker_ready() -> bool:
    """Runs in a new worker: one model call, so its interpreter exists before the first user's request."""
    model, _ = _worker_model
    model(np.zeros((1, 28, 28, 1), np.float32))
    return True
