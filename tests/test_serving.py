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


def test_a_dead_worker_fails_only_its_own_request_and_is_replaced(digits, tmp_path):
    """What a decoder crash on a hostile image would do: that request fails, the next ones are answered."""
    from hub.serving import WorkerCrashedError

    path = _one(tmp_path)

    async def crash_during_a_request():
        pending = asyncio.ensure_future(digits.predict(path))
        await asyncio.sleep(0)  # submitted
        for process in list(digits._pool._processes.values()):
            os.kill(process.pid, signal.SIGKILL)
        return await pending

    asyncio.run(digits.predict(path))  # the worker is up
    try:
        asyncio.run(crash_during_a_request())
    except WorkerCrashedError:
        pass  # killed mid-request (it may also have finished first: both are fine)
    for _ in range(2):
        probabilities, _ = asyncio.run(digits.predict(path))
        assert max(probabilities, key=probabilities.get) == "1"

    for process in list(digits._pool._processes.values()):  # dies between requests: nobody's request fails
        os.kill(process.pid, signal.SIGKILL)
        process.join(timeout=10)
    probabilities, _ = asyncio.run(digits.predict(path))
    assert max(probabilities, key=probabilities.get) == "1"


def test_zero_workers_predicts_in_process(clf, tmp_path):
    from hub.serving import DigitPredictor

    predictor = DigitPredictor(clf, workers=0)
    assert predictor._pool is None
    probabilities, _ = asyncio.run(predictor.predict(_one(tmp_path)))
    assert max(probabilities, key=probabilities.get) == "1"
