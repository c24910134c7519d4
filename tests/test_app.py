"""The Space app (space/app.py) over its real HTTP API with gradio_client: answers, label format, concurrency,
bad input, model selection. The app runs in this process on a free port against the shared `model_dir`
(tests/conftest.py)."""

from __future__ import annotations

import concurrent.futures
import importlib.util
import io
import json
import os
import struct
import zlib
from pathlib import Path

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from tests.app_process import free_port  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p for p in (ROOT / "space" / "examples").iterdir() if p.suffix in (".png", ".jpg"))


def load_app_module():
    """space/app.py as a module (space/ is not a package: it is the Space's root folder)."""
    spec = importlib.util.spec_from_file_location("space_app", ROOT / "space" / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def app_module():
    return load_app_module()


@pytest.fixture(scope="session")
def clf(app_module, model_dir):
    from hub.classifier import MnistClassifier

    return MnistClassifier.from_pretrained(model_dir)


@pytest.fixture(scope="session")
def app_url(app_module, clf):
    demo = app_module.build_demo(clf)
    _, url, _ = app_module.launch(demo, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True,
                                  quiet=True)
    yield url
    demo.close()


@pytest.fixture(scope="session")
def client(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False)


def predict(client, path):
    from gradio_client import handle_file

    return client.predict(handle_file(str(path)), api_name="/predict")


# --------------------------------------------------------------------------- answers and format


def test_examples_cover_every_digit_in_several_styles():
    assert len(EXAMPLES) >= 10
    assert {p.name[0] for p in EXAMPLES} == set("0123456789")
    styles = {p.stem.split("_", 1)[1] for p in EXAMPLES}
    assert {"mnist", "drawing", "photo"} <= styles


def test_the_api_answers_as_mnist_classifier_predict(client, clf, tmp_path):
    """One prediction path: the same file through /predict and through MnistClassifier.predict, same probabilities
    (including a 28x28 MNIST-form PNG, which both take as it is)."""
    mnist_form = tmp_path / "mnist_form.png"
    pixels = np.zeros((28, 28), np.uint8)
    pixels[4:24, 12:16] = 255
    Image.fromarray(pixels).save(mnist_form)
    for path in [*EXAMPLES[:3], mnist_form]:
        result = predict(client, path)
        got = {c["label"]: c["confidence"] for c in result["confidences"]}
        expected = clf.predict(str(path))
        assert result["label"] == str(expected.label)
        assert got == pytest.approx(expected.probabilities, abs=1e-6), path.name


def test_label_format_has_all_ten_digits(client):
    result = predict(client, EXAMPLES[0])
    assert set(result) == {"label", "confidences"}
    confidences = result["confidences"]
    assert sorted(c["label"] for c in confidences) == [str(d) for d in range(10)]
    values = [c["confidence"] for c in confidences]
    assert values == sorted(values, reverse=True)
    assert result["label"] == confidences[0]["label"]
    assert sum(values) == pytest.approx(1.0, abs=1e-3)


def test_api_page_shows_only_the_named_endpoints(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert list(endpoints) == ["/predict", "/read_number", "/predict_batch"]
    for name in ("/predict", "/read_number"):
        parameters = endpoints[name]["parameters"]
        assert len(parameters) == 1 and parameters[0]["python_type"]["type"] == "filepath"
    parameters = endpoints["/predict_batch"]["parameters"]
    assert len(parameters) == 1 and parameters[0]["python_type"]["type"] == "list[filepath]"


def test_eight_concurrent_clients_are_all_served(app_url):
    from gradio_client import Client, handle_file

    paths = EXAMPLES[:8]

    def one_client(path):
        c = Client(app_url, verbose=False)
        return [c.predict(handle_file(str(path)), api_name="/predict")["label"] for _ in range(3)]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one_client, paths))
    assert results == [[p.name[0]] * 3 for p in paths]


# --------------------------------------------------------------------------- bad input


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def bomb_png(side: int = 30000) -> bytes:
    """A valid 1-bit PNG of side x side pixels (~110 MB decoded) that compresses to a few hundred KB."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + b"\x00" * ((side + 7) // 8)
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def digit_image(name="7_drawing.png") -> Image.Image:
    return Image.open(ROOT / "space" / "examples" / name).convert("L")


BAD_INPUTS = {
    "not_an_image.png": lambda: b"this is a text file, not a picture\n" * 20,
    "truncated.png": lambda: png_bytes(digit_image())[:300],
    "empty.png": lambda: b"",
    "one_by_fifty.png": lambda: png_bytes(Image.new("L", (1, 50), 0)),
    "bomb.png": bomb_png,
    "blank.png": lambda: png_bytes(Image.new("RGB", (200, 200), "white")),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_gets_a_clear_error_and_the_app_keeps_serving(client, tmp_path, name):
    from gradio_client.exceptions import AppError

    path = tmp_path / name
    path.write_bytes(BAD_INPUTS[name]())
    with pytest.raises(AppError) as caught:
        predict(client, path)
    message = str(caught.value)
    assert len(message) > 25 and "Traceback" not in message, message
    assert predict(client, EXAMPLES[0])["label"] == EXAMPLES[0].name[0]  # still serving


def test_sixteen_bit_png_is_read(client, tmp_path):
    pixels = (np.asarray(digit_image("3_mnist.png"), np.uint16) * 257).astype(np.uint16)
    path = tmp_path / "digit16.png"
    Image.fromarray(pixels).save(path)
    assert Image.open(path).mode.startswith("I")
    assert predict(client, path)["label"] == "3"


def test_animated_gif_uses_its_first_frame(client, tmp_path):
    path = tmp_path / "animated.gif"
    first, second = digit_image("7_drawing.png"), digit_image("1_drawing.png")
    first.save(path, save_all=True, append_images=[second], duration=200, loop=0)
    assert Image.open(path).n_frames == 2
    assert predict(client, path)["label"] == "7"


# --------------------------------------------------------------------------- which model, start-up messages


def test_model_source_order(app_module, tmp_path, monkeypatch):
    """MODEL_ID, else the folder train.py writes, else the committed release model, else the Space's `models:`."""
    def model_folder(name):
        (tmp_path / name).mkdir()
        (tmp_path / name / "classifier.json").write_text("{}")
        return str(tmp_path / name)

    readme = tmp_path / "README.md"
    readme.write_text("---\ntitle: t\nsdk: gradio\nmodels:\n- someone/mnist-cnn\n---\n")
    monkeypatch.setattr(app_module, "SPACE_README", readme)
    monkeypatch.setattr(app_module, "DEFAULT_FOLDER", tmp_path / "trained")
    monkeypatch.setattr(app_module, "RELEASE_FOLDER", tmp_path / "release")
    assert app_module.model_source({})[::2] == ("someone/mnist-cnn", "models: in space/README.md")
    release = model_folder("release")
    assert app_module.model_source({})[0] == release
    trained = model_folder("trained")
    assert app_module.model_source({})[0] == trained
    assert app_module.model_source({"MODEL_ID": "user/repo", "MODEL_REVISION": "v1"})[:2] == ("user/repo", "v1")


def test_a_fresh_clone_serves_the_committed_release_model(app_module, tmp_path, monkeypatch):
    """Nothing configured, nothing trained: the app loads models/mnist-cnn, offline, and it reads the examples."""
    monkeypatch.setattr(app_module, "DEFAULT_FOLDER", tmp_path / "not-trained")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert app_module.model_source({})[0] == str(app_module.RELEASE_FOLDER)
    clf = app_module.load_classifier({})
    assert clf.metrics["test_accuracy"] >= 0.99
    right = [clf.predict(path).label == int(path.name[0]) for path in EXAMPLES]
    assert sum(right) >= 0.9 * len(right)  # photos and drawings included


def test_published_model_id_comes_from_readme_front_matter(app_module, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("---\ntitle: t\nsdk: gradio\nmodels:\n- someone/mnist-cnn\n- other/x\n---\n\ntext\n")
    assert app_module.published_model_id(readme) == "someone/mnist-cnn"
    readme.write_text("---\ntitle: t\nsdk: gradio\n---\n\ntext\n")
    assert app_module.published_model_id(readme) is None
    assert app_module.published_model_id(tmp_path / "missing.md") is None


def test_missing_model_says_what_to_run(app_module, tmp_path):
    with pytest.raises(SystemExit) as caught:
        app_module.load_classifier({"MODEL_ID": str(tmp_path / "nothing-here")})
    assert "python train.py" in str(caught.value.code)


def test_description_reads_accuracy_from_the_model_folder(app_module, clf):
    accuracy = json.loads((clf.folder / "metrics.json").read_text())["test_accuracy"]
    assert f"{accuracy:.2%}" in app_module.description(clf)


# --------------------------------------------------------------------------- issue 12 inputs, one prediction path

FIXTURES = sorted(p for p in (ROOT / "tests" / "fixtures").iterdir() if p.suffix in (".png", ".jpg"))


def test_each_new_kind_of_input_is_read_through_the_api_as_predict_reads_it(client, clf):
    """Bold marker, thin pen, low resolution (8 and 12 px), ruled paper, heavy ink (tests/fixtures/, one each):
    the API gives MnistClassifier.predict's answer for every one, and reads most of them right with the
    session's quick 2-epoch model (threshold: 4 of 6; it read 4 when this test was written, the default model 6)."""
    assert len(FIXTURES) == 6
    right = 0
    for path in FIXTURES:
        answer = predict(client, path)
        expected = clf.predict(path)
        assert answer["label"] == str(expected.label), path.name
        top = answer["confidences"][0]["confidence"]
        assert top == pytest.approx(expected.confidence, abs=1e-4), path.name
        right += answer["label"] == path.name[0]
    assert right >= 4, f"{right} of {len(FIXTURES)} read right"


def test_a_28x28_mnist_digit_gets_the_same_answer_from_a_file_and_an_array(client, clf, tmp_path):
    from hub.data import load_mnist

    x = load_mnist().x_test[:5]
    for i, digit in enumerate(x):
        path = tmp_path / f"mnist_{i}.png"
        Image.fromarray(digit).save(path)
        answer = predict(client, path)
        expected = clf.predict(digit)
        assert answer["label"] == str(expected.label)
        assert answer["confidences"][0]["confidence"] == pytest.approx(expected.confidence, abs=1e-4)


# --------------------------------------------------------------------------- issue 11: reading numbers

def http_call(url: str, api_name: str, data: list, timeout: float = 120) -> dict:
    """One call over plain HTTP (POST /gradio_api/call/NAME, then its result stream): {"event": ..., "data": ...}."""
    import httpx

    with httpx.Client(timeout=timeout) as http:
        response = http.post(f"{url}gradio_api/call/{api_name}", json={"data": data})
        assert response.status_code == 200, response.text
        event_id, event = response.json()["event_id"], None
        with http.stream("GET", f"{url}gradio_api/call/{api_name}/{event_id}") as stream:
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event in ("complete", "error"):
                    return {"event": event, "data": json.loads(line.split(":", 1)[1])}
    return {"event": event, "data": None}


def http_upload(url: str, path) -> dict:
    import httpx

    with open(path, "rb") as handle:
        response = httpx.post(f"{url}gradio_api/upload", files={"files": (Path(path).name, handle, "image/png")})
    response.raise_for_status()
    return {"path": response.json()[0], "orig_name": Path(path).name, "meta": {"_type": "gradio.FileData"}}


def model_labels(folder) -> list[str]:
    return json.loads((Path(folder) / "classifier.json").read_text())["labels"]


def written_number(clf, text: str, size=(560, 280)) -> Image.Image:
    """`text` as a user draws it on the Draw tab's canvas: MNIST *test* digits (ones `clf` reads right on their
    own, so that the test is about finding the digits) redrawn with a round brush (hub.strokes), dark on white,
    spaced left to right."""
    from hub.data import load_mnist
    from hub.strokes import MNIST_STROKE, brush_mask

    mnist = load_mnist()
    x, y = mnist.x_test[:2000], mnist.y_test[:2000]
    right = np.array([p.label for p in clf.predict(x)]) == y
    canvas = np.full(size[::-1], 255, np.uint8)
    step = size[0] // (len(text) + 1)
    height = min(int(size[1] * 0.6), step)  # a digit is at most about 3/4 as wide as tall: gaps between digits
    used: set[int] = set()
    for k, char in enumerate(text):
        index = next(i for i in np.flatnonzero(right & (y == int(char))) if i not in used)
        used.add(index)
        ink = brush_mask(x[index], height, MNIST_STROKE * height)
        top, left = (size[1] - ink.shape[0]) // 2, step * (k + 1) - ink.shape[1] // 2
        region = canvas[top:top + ink.shape[0], left:left + ink.shape[1]]
        np.minimum(region, (255 * (1 - ink)).round().astype(np.uint8), out=region)
    return Image.fromarray(canvas)


def drawn_letter_a(size=(560, 280)) -> Image.Image:
    """A capital A drawn with the canvas brush: two slanted strokes and a bar."""
    from PIL import ImageDraw

    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    top, bottom, middle = (size[0] // 2, 40), size[1] - 40, size[0] // 2
    draw.line([(middle - 80, bottom), top, (middle + 80, bottom)], fill=0, width=22, joint="curve")
    draw.line([(middle - 45, 160), (middle + 45, 160)], fill=0, width=22)
    return image


def read_number(client, path) -> dict:
    from gradio_client import handle_file

    return client.predict(handle_file(str(path)), api_name="/read_number")


def test_a_drawn_number_reads_as_read_number_reads_it(client, clf, tmp_path):
    path = tmp_path / "2024.png"
    written_number(clf, "2024").save(path)
    reading = read_number(client, path)
    assert reading == clf.read_number(str(path)).to_dict()
    assert (reading["status"], reading["number"]) == ("ok", "2024"), reading
    assert [d["digit"] for d in reading["digits"]] == list("2024")
    lefts = [d["box"][0] for d in reading["digits"]]
    assert lefts == sorted(lefts) and all(0 <= d["box"][0] < d["box"][2] <= 560 for d in reading["digits"])
    assert 0 < reading["confidence"] <= min(d["confidence"] for d in reading["digits"]) + 1e-6


def test_a_single_digit_reads_as_a_one_character_number(client):
    reading = read_number(client, ROOT / "space" / "examples" / "7_drawing.png")
    assert (reading["status"], reading["number"], len(reading["digits"])) == ("ok", "7", 1)
    assert len(reading["digits"][0]["top3"]) == 3


def test_a_blank_canvas_is_no_digit_not_an_error(client, tmp_path):
    path = tmp_path / "blank.png"
    Image.new("RGB", (560, 280), "white").save(path)
    reading = read_number(client, path)
    assert (reading["status"], reading["number"], reading["digits"]) == ("no_digit", "", [])


@pytest.mark.parametrize("name", [n for n in BAD_INPUTS if n != "blank.png"])
def test_read_number_gives_bad_files_a_clear_error(client, tmp_path, name):
    from gradio_client.exceptions import AppError

    path = tmp_path / name
    path.write_bytes(BAD_INPUTS[name]())
    with pytest.raises(AppError) as caught:
        read_number(client, path)
    message = str(caught.value)
    assert len(message) > 25 and "Traceback" not in message, message


RELEASE_FOLDER = ROOT / "models" / "mnist-cnn"


@pytest.fixture(scope="module")
def release_client(app_module):
    """The app serving the committed release model, which has the "not_a_digit" class (the session's quick model
    is too little trained to decline reliably)."""
    from gradio_client import Client
    from hub.classifier import MnistClassifier

    assert "not_a_digit" in model_labels(RELEASE_FOLDER)
    demo = app_module.build_demo(MnistClassifier.from_pretrained(RELEASE_FOLDER))
    _, url, _ = app_module.launch(demo, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True,
                                  quiet=True)
    yield Client(url, verbose=False)
    demo.close()


def test_a_drawn_letter_is_not_a_digit(release_client, tmp_path):
    path = tmp_path / "A.png"
    drawn_letter_a().save(path)
    reading = read_number(release_client, path)
    assert (reading["status"], reading["number"]) == ("not_a_digit", ""), reading


def drawn_face(size=(560, 280)) -> Image.Image:
    """A smiley drawn with the canvas brush: a circle, two eyes and a mouth (the release model alone reads it "0")."""
    from PIL import ImageDraw

    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    x, y, r = size[0] // 2, size[1] // 2, 110
    draw.ellipse((x - r, y - r, x + r, y + r), outline=0, width=16)
    for dx in (-40, 40):
        draw.line([(x + dx, y - 50), (x + dx, y - 20)], fill=0, width=16)
    draw.arc((x - 60, y - 30, x + 60, y + 65), 20, 160, fill=0, width=16)
    return image


def test_a_drawn_face_is_not_a_digit_and_the_page_says_why(release_client, app_module, tmp_path):
    path = tmp_path / "face.png"
    drawn_face().save(path)
    reading = read_number(release_client, path)
    assert (reading["status"], reading["number"], reading["reason"]) == ("not_a_digit", "", "marks_inside_a_loop")
    label, html_text, seen = app_module.shown_reading(reading, np.zeros((1, 28, 28), np.float32), "hint")
    assert label == app_module.NOT_A_DIGIT and "marks inside a closed loop" in html_text and seen is not None
    letter = {"number": "", "status": "not_a_digit", "confidence": 0.99, "digits": [], "reason": "model"}
    assert "marks inside" not in app_module.shown_reading(letter, np.zeros((0, 28, 28)), "hint")[1]


def test_touching_digits_taken_for_one_are_declined_and_the_page_says_to_space_them(release_client, app_module):
    reading = read_number(release_client, ROOT / "tests" / "fixtures" / "reading" / "unlike_touching_21.png")
    assert (reading["status"], reading["number"], reading["reason"]) == ("not_a_digit", "", "unlike_any_digit")
    assert all(d["feature_distance"] > 0 for d in reading["digits"])
    label, html_text, _ = app_module.shown_reading(reading, np.zeros((1, 28, 28), np.float32), "hint")
    assert label == app_module.NOT_A_DIGIT and "space between them" in html_text


# --------------------------------------------------------------------------- issue 14: /predict_batch


def test_predict_batch_answers_each_file_in_order_and_bad_files_alone(client, clf, tmp_path):
    from gradio_client import handle_file

    bad = tmp_path / "notes.png"
    bad.write_bytes(BAD_INPUTS["not_an_image.png"]())
    blank = tmp_path / "blank.png"
    blank.write_bytes(BAD_INPUTS["blank.png"]())
    files = [EXAMPLES[0], bad, EXAMPLES[4], blank, EXAMPLES[9]]
    answers = client.predict([handle_file(str(p)) for p in files], api_name="/predict_batch")
    assert len(answers) == len(files)
    for i in (0, 2, 4):
        expected = clf.predict(str(files[i]))
        assert answers[i]["label"] == str(expected.label)
        got = {c["label"]: c["confidence"] for c in answers[i]["confidences"]}
        assert got == pytest.approx(expected.probabilities, abs=1e-6)
        values = [c["confidence"] for c in answers[i]["confidences"]]
        assert values == sorted(values, reverse=True) and len(values) == 10
    assert set(answers[1]) == {"error"} and answers[1]["error"].startswith("Image 1 (notes.png): ")
    assert "not an image" in answers[1]["error"]
    assert set(answers[3]) == {"error"} and answers[3]["error"].startswith("Image 3 (blank.png): ")


def test_predict_batch_takes_256_files_and_refuses_more(app_url):
    """256 files in one call (the request limits let it through), 257 get a clear error."""
    uploaded = http_upload(app_url, EXAMPLES[0])
    answer = http_call(app_url, "predict_batch", [[uploaded] * 256])
    assert answer["event"] == "complete"
    assert [a["label"] for a in answer["data"][0]] == [EXAMPLES[0].name[0]] * 256
    answer = http_call(app_url, "predict_batch", [[uploaded] * 257])
    assert answer["event"] == "error"
    assert "at most 256" in json.dumps(answer["data"]), answer
