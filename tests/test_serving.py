"""hub.serving: predictions in worker processes give MnistClassifier's answers; a worker that dies, at any moment,
costs at most the request it held; an image past the time limit ends its worker and gets a clear error."""

import asyncio
import io
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.app_process import running_app

ROOT = Path(__file__).resolve().parent.parent
needs_proc = pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads process states from /proc")


@pytest.fixture(scope="module")
def clf(model_dir):
    from hub.classifier import MnistClassifier

    return MnistClassifier.from_pretrained(model_dir)


@pytest.fixture(scope="module")
def digits(clf):
    from hub.serving import DigitPredictor

    predictor = DigitPredictor(clf, workers=1)
    predictor.wait_ready()
    yield predictor
    predictor.close()


def _one(tmp_path):
    image = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(image).line([(140, 50), (140, 230)], fill=0, width=22)
    path = tmp_path / "one.png"
    image.save(path)
    return str(path)


def _top(probabilities):
    return max(probabilities, key=probabilities.get)


def _worker_pids(digits):
    return [worker.ready.result(timeout=120) for worker in digits._pool]


def test_worker_gives_mnist_classifiers_answer(clf, digits, tmp_path):
    """The same steps as MnistClassifier.predict, for a file, a sketch array and an MNIST-form 28x28 array."""
    from hub import preprocess

    mnist_form = np.zeros((28, 28), np.uint8)
    mnist_form[4:24, 13:16] = 255
    for source in (_one(tmp_path), np.asarray(Image.open(_one(tmp_path))), mnist_form):
        probabilities, digit = asyncio.run(digits.predict(source))
        expected = clf.predict(source)
        assert list(probabilities) == clf.digit_labels
        np.testing.assert_allclose(list(probabilities.values()), list(expected.probabilities.values()), atol=1e-6)
        np.testing.assert_array_equal(digit, preprocess.to_model_batch([source])[0, :, :, 0])
        assert _top(probabilities) == str(expected.label) == "1"


def test_bad_input_raises_the_preprocessing_error_from_the_worker(digits, tmp_path):
    from hub import preprocess

    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(preprocess.ImageInputError, match="not an image Pillow can read"):
        asyncio.run(digits.predict(str(tmp_path / "notes.txt")))
    with pytest.raises(preprocess.NoDigitError):
        asyncio.run(digits.predict(np.full((100, 100), 255, np.uint8)))


def test_a_dead_worker_is_replaced_and_the_request_answered(digits, tmp_path):
    """A worker the OS killed (between or during requests) costs nobody an answer."""
    path = _one(tmp_path)
    first = _worker_pids(digits)

    async def killed_during_the_request():
        pending = asyncio.ensure_future(digits.predict(SlowFile(Path(path).read_bytes(), delay=1.0)))
        await asyncio.sleep(0.3)  # the worker is reading the file now, for another 0.7 s at least
        assert not pending.done()
        for pid in first:
            os.kill(pid, signal.SIGKILL)
        return await pending

    probabilities, _ = asyncio.run(killed_during_the_request())
    assert _top(probabilities) == "1"
    second = _worker_pids(digits)
    assert not set(second) & set(first)
    for pid in second:  # between requests
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    probabilities, _ = asyncio.run(digits.predict(path))
    assert _top(probabilities) == "1"
    assert not set(_worker_pids(digits)) & set(second)


class _KillsTheWorker:
    """An input that kills whichever process unpickles it, as a decoder crash on a hostile image would."""

    def __reduce__(self):
        return os._exit, (1,)


def test_an_input_that_kills_workers_fails_alone(digits, tmp_path):
    from hub.serving import WorkerCrashedError

    with pytest.raises(WorkerCrashedError, match="stopped while handling this image"):
        asyncio.run(digits.predict(_KillsTheWorker()))
    probabilities, _ = asyncio.run(digits.predict(_one(tmp_path)))
    assert _top(probabilities) == "1"


def test_a_batch_answers_each_image_in_order_and_bad_ones_alone(clf, digits, tmp_path):
    """predict_batch: MnistClassifier.predict's probabilities for each good image, the reason for each bad one."""
    one = _one(tmp_path)
    (tmp_path / "notes.txt").write_text("not an image")
    sources = [one, str(tmp_path / "notes.txt"), np.full((100, 100), 255, np.uint8), one]
    answers = asyncio.run(digits.predict_batch(sources))
    assert len(answers) == 4
    for answer in (answers[0], answers[3]):
        np.testing.assert_allclose(list(answer.values()), list(clf.predict(one).probabilities.values()), atol=1e-6)
    assert "not an image Pillow can read" in answers[1]
    assert isinstance(answers[2], str) and answers[2]
    assert asyncio.run(digits.predict_batch([])) == []


def test_an_image_that_kills_workers_fails_alone_in_its_batch(digits, tmp_path):
    """The batch is retried image by image, so only the killer gets an error."""
    one = _one(tmp_path)
    answers = asyncio.run(digits.predict_batch([one, _KillsTheWorker(), one]))
    assert _top(answers[0]) == _top(answers[2]) == "1"
    assert "stopped while handling this image" in answers[1]


def test_read_number_in_a_worker_gives_mnist_classifiers_reading(clf, digits, tmp_path):
    one = _one(tmp_path)
    reading, crops = asyncio.run(digits.read_number(one))
    expected = clf.read_number(one)
    assert reading == expected.to_dict()
    np.testing.assert_array_equal(crops, expected.crops)
    assert (reading["status"], reading["number"]) == ("ok", "1") and crops.shape == (1, 28, 28)
    blank, _ = asyncio.run(digits.read_number(np.full((100, 100), 255, np.uint8)))
    assert blank["status"] == "no_digit"


class SlowFile(io.BytesIO):
    """A file whose first read takes `delay` seconds (60 by default: never in time, as a pathological image's
    decoding would not). It is pickled to the worker with its bytes, so each worker that reads it waits."""

    def __init__(self, data: bytes, delay: float = 60):
        super().__init__(data)
        self.delay = delay

    def read(self, *args):
        if self.delay:
            time.sleep(self.delay)
            self.delay = 0
        return super().read(*args)


def test_an_image_past_the_time_limit_ends_its_worker_and_gets_a_clear_error(clf, tmp_path):
    from hub.serving import DigitPredictor, TimeLimitError

    predictor = DigitPredictor(clf, workers=1, time_limit=1.0)
    try:
        predictor.wait_ready()
        before = _worker_pids(predictor)
        start = time.monotonic()
        with pytest.raises(TimeLimitError, match="longer than 1 s"):
            asyncio.run(predictor.predict(SlowFile(b"slow")))
        assert time.monotonic() - start < 10
        probabilities, _ = asyncio.run(predictor.predict(_one(tmp_path)))  # a new worker answers the next one
        assert _top(probabilities) == "1"
        assert not set(_worker_pids(predictor)) & set(before)
    finally:
        predictor.close()


def test_zero_workers_predicts_in_process(clf, tmp_path):
    from hub.serving import DigitPredictor

    predictor = DigitPredictor(clf, workers=0)
    assert not predictor._pool
    probabilities, _ = asyncio.run(predictor.predict(_one(tmp_path)))
    assert _top(probabilities) == "1"


def test_a_cancelled_request_never_hands_its_answer_to_the_next(digits, tmp_path):
    """A client that goes away mid-request: its late answer is dropped, the next request gets its own."""
    one = _one(tmp_path)
    zero = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(zero).ellipse([(80, 50), (200, 230)], outline=0, width=22)
    zero_path = str(tmp_path / "zero.png")
    zero.save(zero_path)

    async def cancel_then_ask():
        first = asyncio.ensure_future(digits.predict(one))
        await asyncio.sleep(0.001)  # sent to the worker
        first.cancel()
        second = await digits.predict(zero_path)
        third = await digits.predict(one)
        return second, third

    for _ in range(3):
        (second, _), (third, _) = asyncio.run(cancel_then_ask())
        assert _top(second) == "0"
        assert _top(third) == "1"


# --------------------------------------------------------------------------- the server as a user starts it


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


def _spawned_children(pid: int) -> set[int]:
    """The multiprocessing "spawn" children of process `pid` (its prediction workers)."""
    children = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                command = cmdline.read()
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
        if ppid == pid and b"spawn_main" in command:
            children.add(int(entry))
    return children


SERVER = """
import sys
from hub.classifier import MnistClassifier
from hub.serving import DigitPredictor
if __name__ == "__main__":
    predictor = DigitPredictor(MnistClassifier.from_pretrained(sys.argv[1]), workers=1)
    predictor.wait_ready()
    print(*(worker.ready.result() for worker in predictor._pool), flush=True)
    sys.stdin.read()  # until killed
"""


@needs_proc
def test_workers_exit_when_the_server_is_killed(model_dir, tmp_path):
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    server = subprocess.Popen([sys.executable, str(script), str(model_dir)], cwd=ROOT, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    workers = [int(pid) for pid in server.stdout.readline().split()]
    assert workers and all(_running(pid) for pid in workers)
    server.kill()  # SIGKILL: no atexit, no executor shutdown
    server.wait()
    deadline = time.monotonic() + 10
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_running(pid) for pid in workers), "a worker outlived its server"


def _http_predict(url: str, path: str, timeout: float = 60) -> dict:
    """/predict over plain HTTP (upload, call, read the result stream): what curl users do."""
    import json

    with httpx.Client(timeout=timeout) as client:
        with open(path, "rb") as handle:
            uploaded = client.post(f"{url}/gradio_api/upload", files={"files": ("digit.png", handle, "image/png")})
        data = {"data": [{"path": uploaded.json()[0], "meta": {"_type": "gradio.FileData"}}]}
        event_id = client.post(f"{url}/gradio_api/call/predict", json=data).json()["event_id"]
        event = None
        with client.stream("GET", f"{url}/gradio_api/call/predict/{event_id}") as stream:
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event in ("complete", "error"):
                    return {"event": event, "data": json.loads(line.split(":", 1)[1])}
    return {"event": event, "data": None}


@pytest.fixture(scope="module")
def app_server(model_dir, tmp_path_factory):
    """`python space/app.py` with one worker, as a user starts it: (url, server pid)."""
    with running_app(model_dir, tmp_path_factory.mktemp("app"), PREDICT_WORKERS="1") as (url, process):
        yield url, process.pid


@needs_proc
def test_the_server_keeps_answering_when_workers_die_as_they_start(app_server):
    """Issue 15 defect 1: kill the worker, send a request, kill its replacement as it appears. The server answers
    every other request within 1 s meanwhile, and the request is answered (only a second death could fail it)."""
    url, server_pid = app_server
    image = str(ROOT / "space" / "examples" / "7_drawing.png")
    assert _http_predict(url, image)["data"][0]["label"] == "7"
    first = _spawned_children(server_pid)
    assert len(first) == 1
    for pid in first:
        os.kill(pid, signal.SIGKILL)

    answer = {}
    request = threading.Thread(target=lambda: answer.update(_http_predict(url, image)))
    request.start()
    killed, deadline = set(), time.monotonic() + 30
    while not killed and time.monotonic() < deadline:  # the replacement, as soon as it exists
        for pid in _spawned_children(server_pid) - first:
            os.kill(pid, signal.SIGKILL)
            killed.add(pid)
        time.sleep(0.002)
    assert killed, "no replacement worker was started"

    slowest = 0.0
    while request.is_alive():
        start = time.monotonic()
        assert httpx.get(f"{url}/gradio_api/info", timeout=5).status_code == 200
        slowest = max(slowest, time.monotonic() - start)
        request.join(timeout=0.05)
    assert slowest < 1.0, f"the server took {slowest:.2f} s to answer while its worker restarted"
    assert answer["event"] == "complete" and answer["data"][0]["label"] == "7", answer
    assert _http_predict(url, image)["data"][0]["label"] == "7"
    assert not (_spawned_children(server_pid) & (first | killed))


@needs_proc
def test_the_server_and_its_workers_never_load_tensorflow(app_server):
    """With model.tflite in the folder nothing converts or imports TensorFlow (the Space does not install it)."""
    url, server_pid = app_server
    assert _http_predict(url, str(ROOT / "space" / "examples" / "7_drawing.png"))["event"] == "complete"
    for pid in {server_pid, *_spawned_children(server_pid)}:
        with open(f"/proc/{pid}/maps") as maps:
            assert "tensorflow" not in maps.read(), f"process {pid} loaded TensorFlow"
