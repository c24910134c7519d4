"""hub.serving: predictions in a worker process give the in-process answers, and a dead worker is replaced."""

import asyncio
import os
import signal

import numpy as np
import pytest
from PIL import Image, ImageDraw


@pytest.fixture(scope="module")
def clf(model_dir):
    from hub.classifier import MnistClassifier

    return MnistClassifier.from_pretrained(model_dir)


@pytest.fixture(scope="module")
def digits(clf):
    from hub.serving import DigitPredictor

    predictor = DigitPredictor(clf, workers=1)
    yield predictor
    predictor.close()


def _one(tmp_path):
    image = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(image).line([(140, 50), (140, 230)], fill=0, width=22)
    path = tmp_path / "one.png"
    image.save(path)
    return str(path)


def test_worker_gives_the_in_process_answer(clf, digits, tmp_path):
    from hub import preprocess

    path = _one(tmp_path)
    probabilities, digit = asyncio.run(digits.predict(path))
    expected = clf.predict_proba(path)[0]
    assert list(probabilities) == clf.labels
    np.testing.assert_allclose(list(probabilities.values()), expected, atol=1e-6)
    np.testing.assert_array_equal(digit, preprocess.to_mnist(path))
    assert max(probabilities, key=probabilities.get) == "1"


def test_bad_input_raises_the_preprocessing_error_from_the_worker(digits, tmp_path):
    from hub import preprocess

    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(preprocess.ImageInputError, match="not an image Pillow can read"):
        asyncio.run(digits.predict(str(tmp_path / "notes.txt")))
    with pytest.raises(preprocess.NoDigitError):
        asyncio.run(digits.predict(np.full((100, 100), 255, np.uint8)))


def _kill_workers(digits):
    for worker in list(digits._idle):
        os.kill(worker.process.pid, signal.SIGKILL)


def test_a_dead_worker_is_replaced_and_the_request_answered(digits, tmp_path):
    """A worker the OS killed (between or during requests) costs nobody an answer."""
    path = _one(tmp_path)
    asyncio.run(digits.predict(path))  # the worker is up
    first = list(digits._idle)

    async def killed_during_the_request():
        pending = asyncio.ensure_future(digits.predict(path))
        await asyncio.sleep(0)  # sent
        for worker in first:
            os.kill(worker.process.pid, signal.SIGKILL)
        return await pending

    probabilities, _ = asyncio.run(killed_during_the_request())
    assert max(probabilities, key=probabilities.get) == "1"
    _kill_workers(digits)  # between requests
    probabilities, _ = asyncio.run(digits.predict(path))
    assert max(probabilities, key=probabilities.get) == "1"
    assert not set(digits._idle) & set(first)


class _KillsTheWorker:
    """An input that kills whichever process unpickles it, as a decoder crash on a hostile image would."""

    def __reduce__(self):
        return os._exit, (1,)


def test_an_input_that_kills_workers_fails_alone(digits, tmp_path):
    from hub.serving import WorkerCrashedError

    with pytest.raises(WorkerCrashedError, match="stopped while handling this image"):
        asyncio.run(digits.predict(_KillsTheWorker()))
    probabilities, _ = asyncio.run(digits.predict(_one(tmp_path)))
    assert max(probabilities, key=probabilities.get) == "1"


def test_zero_workers_predicts_in_process(clf, tmp_path):
    from hub.serving import DigitPredictor

    predictor = DigitPredictor(clf, workers=0)
    assert not predictor._idle
    probabilities, _ = asyncio.run(predictor.predict(_one(tmp_path)))
    assert max(probabilities, key=probabilities.get) == "1"


SERVER = """
import sys, types
from hub.serving import DigitPredictor
clf = types.SimpleNamespace(runtime=types.SimpleNamespace(flatbuffer=open(sys.argv[1], "rb").read()),
                            labels=[str(d) for d in range(10)])
predictor = DigitPredictor(clf, workers=1)
print(*(worker.process.pid for worker in predictor._idle), flush=True)
sys.stdin.read()  # until killed
"""


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads process states from /proc")
def test_workers_exit_when_the_server_is_killed(clf, tmp_path):
    import subprocess
    import sys
    import time
    from pathlib import Path

    (tmp_path / "model.tflite").write_bytes(clf.runtime.flatbuffer)
    root = Path(__file__).resolve().parent.parent
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(tmp_path / "model.tflite")], cwd=root,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    workers = [int(pid) for pid in server.stdout.readline().split()]
    assert workers and all(_running(pid) for pid in workers)
    server.kill()  # SIGKILL: no atexit, no executor shutdown
    server.wait()
    deadline = time.monotonic() + 10
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_running(pid) for pid in workers), "a worker outlived its server"


def test_a_cancelled_request_never_hands_its_answer_to_the_next(digits, tmp_path):
    """A client that goes away mid-request: its late answer is dropped, the next request gets its own."""
    one = _one(tmp_path)
    zero = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(zero).ellipse([(80, 50), (200, 230)], outline=0, width=22)
    zero_path = str(tmp_path / "zero.png")
    zero.save(zero_path)

    async def cancel_then_ask():
        first = asyncio.ensure_future(digits.predict(one))
        await asyncio.sleep(0)  # sent to the worker
        first.cancel()
        second = await digits.predict(zero_path)
        third = await digits.predict(one)
        return second, third

    for _ in range(3):
        (second, _), (third, _) = asyncio.run(cancel_then_ask())
        assert max(second, key=second.get) == "0"
        assert max(third, key=third.get) == "1"
    assert len(digits._idle) == digits.workers  # every worker came back
