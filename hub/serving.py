"""Predictions for a web server, made in a worker process so the server's own process only serves HTTP.

Why: decoding and preprocessing an image is Python and numpy work that holds the GIL, and Gradio's event loop needs
that same GIL to answer every other request. On a 2-core machine, with the work in the server process, 8 concurrent
API clients got about 60-70% of a do-nothing app's throughput and one client waited ~1.5 ms longer per call than
with the work in a worker process (benchmarks/api.py). A worker also contains crashes: if an image kills it, a new
worker is started and the server keeps answering.

The worker needs no TensorFlow: it runs the network from the classifier's LiteRT flatbuffer (`LiteRTModel`).
Without LiteRT (another Keras backend) predictions run in a thread of the server process instead.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import multiprocessing
import os
import threading
import time

import numpy as np

from hub import preprocess

log = logging.getLogger(__name__)


class WorkerCrashedError(RuntimeError):
    """The worker process died while handling an image (a new one has been started)."""


def predict_digit(source, model, labels) -> tuple[dict[str, float], np.ndarray]:
    """({label: probability}, the 28x28 model input) for one image: `preprocess.to_mnist`, then one model call."""
    digit = preprocess.to_mnist(source)
    probabilities = model(digit[np.newaxis, :, :, np.newaxis])[0]
    return {label: float(p) for label, p in zip(labels, probabilities)}, digit


def _serve(conn, flatbuffer: bytes, labels: list[str], server_pid: int) -> None:
    """A worker process: load the model, say ready, then answer one image at a time until the pipe closes."""
    from hub.classifier import LiteRTModel

    threading.Thread(target=_exit_with_server, args=(server_pid,), name="exit-with-server", daemon=True).start()
    model = LiteRTModel(flatbuffer)
    model(np.zeros((1, 28, 28, 1), np.float32))  # its interpreter exists before the first request
    conn.send("ready")
    while True:
        try:
            source = conn.recv()
        except EOFError:  # the server closed its end
            return
        try:
            answer = (True, predict_digit(source, model, labels))
        except Exception as e:  # ImageInputError and friends go back to the server, to be raised there
            answer = (False, e)
        try:
            conn.send(answer)
        except Exception:  # an exception that cannot be pickled
            conn.send((False, RuntimeError(f"{type(answer[1]).__name__}: {answer[1]}")))


def _exit_with_server(server_pid: int) -> None:
    """End this worker once the server is gone (killed, not shut down), whatever the worker is doing."""
    while os.getppid() == server_pid:
        time.sleep(1.0)
    os._exit(0)


def default_workers() -> int:
    """PREDICT_WORKERS, else half the cores (the server and its clients need the rest), at least one."""
    configured = os.environ.get("PREDICT_WORKERS", "").strip()
    return int(configured) if configured.isdigit() else max(1, (os.cpu_count() or 2) // 2)


class _Worker:
    """One worker process and the server's end of its pipe, read from the event loop itself.

    Why not concurrent.futures.ProcessPoolExecutor: its results travel through two helper threads, and each
    hand-over waits for the GIL that the busy event loop holds (measured: ~1.5 ms more per request than
    answering in-process). Here the event loop writes the request and is woken by the answer's bytes.
    """

    def __init__(self, flatbuffer: bytes, labels: list[str]):
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: fork is unsafe next to threads
        self.conn, theirs = context.Pipe()
        self.process = context.Process(target=_serve, args=(theirs, flatbuffer, labels, os.getpid()),
                                       name="mnist-predict", daemon=True)
        self.process.start()
        theirs.close()

    def wait_ready(self, timeout: float) -> None:
        if not self.conn.poll(timeout) or self.conn.recv() != "ready":
            raise RuntimeError(f"the prediction worker did not start within {timeout:.0f} s")

    async def call(self, source, on_late_answer):
        """Send one image, await the answer; EOFError/OSError if the worker is (or becomes) dead.

        If the caller is cancelled first (a client went away), the answer still arrives: it is read and dropped
        here, so the next request cannot receive it, and `on_late_answer()` then says the worker is free again.
        """
        loop = asyncio.get_running_loop()
        answered = loop.create_future()
        fd = self.conn.fileno()

        def readable():
            try:
                message = self.conn.recv()
            except (EOFError, OSError) as e:
                message = e
            if message == "ready":  # a new worker announcing itself: keep waiting
                return
            loop.remove_reader(fd)
            if answered.cancelled():
                on_late_answer()
            elif isinstance(message, Exception):
                answered.set_exception(message)
            else:
                answered.set_result(message)

        self.conn.send(source)
        loop.add_reader(fd, readable)
        ok, value = await answered  # cancelled: the reader stays until the answer is in
        if not ok:
            raise value
        return value

    def stop(self) -> None:
        self.conn.close()
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()


class DigitPredictor:
    """`await predictor.predict(source)` -> ({label: probability}, 28x28 input), for any image `to_mnist` accepts.

    Each worker handles one image at a time; requests beyond the number of workers wait for one to be free.
    `workers=0` (or a classifier without LiteRT) predicts in a thread of this process.
    """

    def __init__(self, clf, workers: int | None = None):
        self.clf = clf
        self.labels = list(clf.labels)
        self.flatbuffer = getattr(clf.runtime, "flatbuffer", None)
        self.workers = default_workers() if workers is None else workers
        if self.flatbuffer is None:
            self.workers = 0
        self._lock = threading.Lock()  # guards _idle and _waiting (requests may come from several event loops)
        self._idle = [_Worker(self.flatbuffer, self.labels) for _ in range(self.workers)]
        self._waiting: collections.deque = collections.deque()
        for worker in self._idle:  # started now, not on the first user's request
            worker.wait_ready(timeout=120)

    async def predict(self, source) -> tuple[dict[str, float], np.ndarray]:
        if not self.workers:
            return await asyncio.to_thread(predict_digit, source, self.clf.runtime, self.labels)
        worker = await self._acquire()
        release = True
        try:
            # A worker that died (an image crashed a decoder, the OS killed it) is replaced and the request tried
            # once more: a request that only met a dead worker is answered, one that kills two fails alone.
            for attempt in (1, 2):
                try:
                    return await worker.call(source, on_late_answer=lambda w=worker: self._release(w))
                except (EOFError, OSError) as e:
                    log.warning("prediction worker died; starting a new one")
                    worker.stop()
                    worker = _Worker(self.flatbuffer, self.labels)
                    if attempt == 2:
                        raise WorkerCrashedError("the prediction worker stopped while handling this image") from e
        except asyncio.CancelledError:
            release = False  # still busy with this image: call() releases it once the answer is read
            raise
        finally:
            if release:
                self._release(worker)

    async def _acquire(self) -> _Worker:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            loop = asyncio.get_running_loop()
            turn = loop.create_future()
            self._waiting.append((loop, turn))
        return await turn

    def _release(self, worker: _Worker) -> None:
        with self._lock:
            while self._waiting:
                loop, turn = self._waiting.popleft()
                if not turn.done():  # a cancelled request no longer wants it
                    loop.call_soon_threadsafe(_hand_over, turn, worker, self)
                    return
            self._idle.append(worker)

    def close(self) -> None:
        with self._lock:
            idle, self._idle, self.workers = self._idle, [], 0
        for worker in idle:
            worker.stop()


def _hand_over(turn: asyncio.Future, worker: _Worker, predictor: DigitPredictor) -> None:
    if turn.done():  # cancelled between release and now: pass the worker on
        predictor._release(worker)
    else:
        turn.set_result(worker)
