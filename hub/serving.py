"""Predictions for a web server, made in worker processes so the server's own process only serves HTTP.

Why processes: decoding and preprocessing an image is Python and numpy work that holds the GIL, which Gradio's
event loop needs to answer everyone else (on 2 cores, 8 API clients got about 65% of a do-nothing app's throughput
with the work in the server process). A process also contains what a thread cannot: an image that crashes a
decoder, or runs past the time limit, ends only its own worker, which is replaced.

How: each worker is a `concurrent.futures.ProcessPoolExecutor` of one process. One executor per worker, not one of
N, because a process that dies breaks its whole executor: with one each, a death fails at most the request that
worker held. There is one queue, Gradio's: the app gives every predicting event the concurrency group
`CONCURRENCY_ID` limited to `DigitPredictor.workers`, so a request always finds a free worker here.

A worker loads the classifier from its model folder (model.tflite: no TensorFlow) and runs what the package runs:
`predict_digit` and `predict_batch` take `MnistClassifier.predict`'s steps (`preprocess.to_model_batch` then
`predict_proba`), `read_number` is `MnistClassifier.read_number`, so the app, the API and the Python package give the
same answer for every input.
"""

from __future__ import annotations

import asyncio
import io
import logging
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from hub import preprocess

log = logging.getLogger(__name__)

CONCURRENCY_ID = "predict"  # the Gradio concurrency group of every event that predicts
DEFAULT_TIME_LIMIT_S = 5.0  # per image; the largest image hub.images accepts takes about 1 s on 2 cores
MAX_BATCH = 256  # images in one predict_batch call


class WorkerError(RuntimeError):
    """The image was not answered because its worker process ended (a new worker has been started)."""


class WorkerCrashedError(WorkerError):
    """The worker process died while handling the image."""


class NoWorkerError(WorkerCrashedError):
    """No worker process could be started, so the image never reached one."""


class TimeLimitError(WorkerError):
    """The image took longer than the time limit; its worker was ended."""


def predict_digit(clf, source) -> tuple[dict[str, float], np.ndarray]:
    """({label: probability}, the 28x28 model input) for one image, by the steps `MnistClassifier.predict` takes."""
    batch = preprocess.to_model_batch([source])
    return _by_label(clf, clf.predict_proba(batch))[0], batch[0, :, :, 0]


def predict_batch(clf, sources) -> list[dict[str, float] | str]:
    """For each image, in order: {label: probability} by predict_digit's steps, or why that image could not be read.

    Each file is decoded and preprocessed on its own (one bad file costs only its own answer); the model then runs
    once on all the good ones, which is what makes a batch cheaper than as many single calls.
    """
    answers: list = [None] * len(sources)
    inputs, good = [], []
    for i, source in enumerate(sources):
        try:
            inputs.append(preprocess.to_model_batch([source]))
            good.append(i)
        except preprocess.ImageInputError as e:  # includes NoDigitError
            answers[i] = str(e)
        except Exception as e:  # a bug or a decoder failure on this file: the others are still answered
            log.exception("unexpected error while preprocessing image %d of a batch", i)
            answers[i] = f"This image could not be processed ({type(e).__name__}). Try a PNG or JPEG."
    if inputs:
        for i, probabilities in zip(good, _by_label(clf, clf.predict_proba(np.concatenate(inputs)))):
            answers[i] = probabilities
    return answers


def read_number(clf, source) -> tuple[dict, np.ndarray]:
    """(`MnistClassifier.read_number(source).to_dict()`, its (n, 28, 28) crops: what the model saw, one per digit)."""
    reading = clf.read_number(source)
    return reading.to_dict(), np.asarray(reading.crops, np.float32)


def _by_label(clf, probabilities: np.ndarray) -> list[dict[str, float]]:
    labels = getattr(clf, "digit_labels", clf.labels)  # the 10 digits predict_proba returns
    return [{label: float(p) for label, p in zip(labels, row)} for row in probabilities]


def default_workers() -> int:
    """PREDICT_WORKERS, else half the cores (the server and its clients need the rest), at least one."""
    configured = os.environ.get("PREDICT_WORKERS", "").strip()
    return int(configured) if configured.isdigit() else max(1, (os.cpu_count() or 2) // 2)


def default_time_limit() -> float:
    """PREDICT_TIME_LIMIT (seconds per image), else DEFAULT_TIME_LIMIT_S."""
    configured = os.environ.get("PREDICT_TIME_LIMIT", "").strip()
    try:
        return float(configured) if configured else DEFAULT_TIME_LIMIT_S
    except ValueError:
        raise ValueError(f"PREDICT_TIME_LIMIT must be a number of seconds, not {configured!r}") from None


# --------------------------------------------------------------------------- inside a worker process

_worker_clf = None


def _start_worker(folder: str) -> None:
    """Worker initializer: leave with the server, load the classifier once."""
    global _worker_clf
    from hub.classifier import MnistClassifier

    threading.Thread(target=_exit_with_server, name="exit-with-server", daemon=True).start()
    signal.signal(signal.SIGALRM, signal.SIG_DFL)  # the time limit's alarm ends the process
    _worker_clf = MnistClassifier.from_pretrained(folder)
    predict_digit(_worker_clf, _warm_up_png())  # lazy imports and the interpreter now, not on the first request
    if hasattr(_worker_clf, "read_number"):
        read_number(_worker_clf, _warm_up_png())


def _warm_up_png() -> bytes:
    """A PNG of one stroke, so warming up takes the path an uploaded file takes."""
    from PIL import Image

    stroke = np.zeros((56, 56), np.uint8)
    stroke[8:48, 26:30] = 255
    buffer = io.BytesIO()
    Image.fromarray(stroke).save(buffer, format="PNG")
    return buffer.getvalue()


def _exit_with_server() -> None:
    """End this worker once the server is gone, even killed (its executor cannot tell the worker then)."""
    multiprocessing.parent_process().join()
    os._exit(0)


def _ready() -> int:
    return os.getpid()


def _run_in_worker(fn, source, time_limit: float):
    """fn(classifier, source) under a hard time limit: past it the kernel ends this process, whatever code runs."""
    signal.setitimer(signal.ITIMER_REAL, time_limit)
    try:
        return fn(_worker_clf, source)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


# --------------------------------------------------------------------------- in the server


class _Worker:
    """One worker process behind its own executor; `pending` holds the futures it has not answered yet.

    The process is started by a short-lived thread, not by the caller: starting a Python process takes 20-100 ms
    of this process's time on a busy 2-core machine, and the caller may be the event loop, replacing a dead worker.
    `started` is done once the process exists, `ready` (its pid) once it has loaded the model, at `loaded_at`.
    """

    def __init__(self, folder: str):
        self.executor = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_start_worker, initargs=(folder,))
        self.pending: set = set()
        self.started: Future = Future()
        self.ready: Future = Future()
        self.loaded_at: float | None = None
        threading.Thread(target=self._start, name="start-prediction-worker", daemon=True).start()

    def _start(self) -> None:
        try:
            loaded = self.submit(_ready)  # the executor starts its process here
        except Exception as e:  # it died at once (its pipe broke): the worker is broken, callers replace it
            self.started.set_exception(e)
            self.ready.set_exception(e)
            return
        loaded.add_done_callback(self._loaded)
        self.started.set_result(None)

    def _loaded(self, future: Future) -> None:
        if future.exception() is not None:
            self.ready.set_exception(future.exception())
        else:
            self.loaded_at = time.monotonic()
            self.ready.set_result(future.result())

    def submit(self, fn, *args):
        future = self.executor.submit(fn, *args)
        self.pending.add(future)
        future.add_done_callback(self.pending.discard)
        return future

    def stop(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


class DigitPredictor:
    """`await predictor.predict(source)` -> ({label: probability}, 28x28 input), for any image `to_mnist` accepts;
    `read_number(source)` -> (reading dict, crops); `predict_batch(sources)` -> one answer or error text per image.

    `workers` processes (default PREDICT_WORKERS, else half the cores) each answer one image at a time, within
    `time_limit` seconds (default PREDICT_TIME_LIMIT, else 5). `workers=0`, or a classifier without a model
    folder, predicts in a thread of this process, without a time limit.
    """

    def __init__(self, clf, workers: int | None = None, time_limit: float | None = None):
        self.clf = clf
        self.workers = default_workers() if workers is None else workers
        self.time_limit = default_time_limit() if time_limit is None else time_limit
        self.folder = str(clf.folder) if getattr(clf, "folder", None) is not None else None
        if self.folder is None:
            self.workers = 0
        self._pool = [_Worker(self.folder) for _ in range(self.workers)]

    def wait_ready(self, timeout: float = 120) -> None:
        """Block until every worker has loaded the model (for callers that must not answer before)."""
        for worker in list(self._pool):
            worker.ready.result(timeout=timeout)

    async def predict(self, source) -> tuple[dict[str, float], np.ndarray]:
        """predict_digit in a worker."""
        return await self._run(predict_digit, source, self.time_limit, "This image")

    async def read_number(self, source) -> tuple[dict, np.ndarray]:
        """read_number in a worker: (the reading's to_dict(), its crops)."""
        return await self._run(read_number, source, self.time_limit, "This image")

    async def predict_batch(self, sources) -> list[dict[str, float] | str]:
        """predict_batch in a worker, within the time limit times the number of images.

        If the batch ends its worker twice (an image that crashes the decoder), each image is tried on its own, so
        only the images that end workers get the error.
        """
        sources = list(sources)
        if len(sources) > MAX_BATCH:
            raise ValueError(f"At most {MAX_BATCH} images per batch, not {len(sources)}.")
        if not sources:
            return []
        try:
            return await self._run(predict_batch, sources, self.time_limit * len(sources),
                                   f"This batch of {len(sources)} images" if len(sources) > 1 else "This image")
        except NoWorkerError:
            raise
        except WorkerCrashedError as e:
            if len(sources) == 1:
                return [str(e)]
        answers = []
        for source in sources:
            try:
                answers += await self._run(predict_batch, [source], self.time_limit, "This image")
            except WorkerError as e:
                answers.append(str(e))
        return answers

    async def _run(self, fn, source, time_limit: float, what: str):
        """fn(classifier, source) in a worker process (in a thread without workers), at most `time_limit` seconds."""
        if not self.workers:
            return await asyncio.to_thread(fn, self.clf, source)
        # A worker that died before its request could reach it (killed, or as it started) costs the request
        # nothing: the request goes to its replacement. One that dies while it may be running the request is replaced
        # and the request tried once more, so only an image that ends two workers, or one past the time limit, fails,
        # and it fails alone.
        deaths = unreached = 0
        while True:
            worker = min(self._pool, key=lambda w: len(w.pending))  # an idle one under Gradio's concurrency limit
            submitted = time.monotonic()
            try:
                await asyncio.wrap_future(worker.started)
                future = worker.submit(_run_in_worker, fn, source, time_limit)
            except Exception as e:  # a broken executor: this request never reached it
                failure, reached = e, False
            else:
                try:
                    return await asyncio.wrap_future(future)
                except BrokenProcessPool as e:
                    failure, reached = e, worker.loaded_at is not None  # unloaded: it never ran this request
            self._replace(worker)
            if not reached:
                unreached += 1
                if unreached == 3:
                    raise NoWorkerError("No prediction worker could be started (see the server's log); the "
                                        "image was not classified.") from failure
            elif time.monotonic() - max(submitted, worker.loaded_at) >= time_limit:
                raise TimeLimitError(
                    f"{what} took longer than {time_limit:g} s to process and was stopped. "
                    "Try a smaller image (a photo of one digit, under a few megapixels).") from failure
            else:
                deaths += 1
                if deaths == 2:
                    raise WorkerCrashedError(f"The prediction worker stopped while handling {what.lower()} (twice), "
                                             "so it was not classified. Try another file (PNG or JPEG).") from failure

    def _replace(self, worker: _Worker) -> None:
        """A new worker in the dead one's place (once, however many requests saw it die)."""
        if worker in self._pool and self.workers:
            log.warning("prediction worker ended; starting a new one")
            self._pool[self._pool.index(worker)] = _Worker(self.folder)
            worker.stop()

    def close(self) -> None:
        pool, self._pool, self.workers = self._pool, [], 0
        for worker in pool:
            worker.stop()
