"""Reliability (issue 15): no image is decoded in the server process, whatever function a client calls; strips get a
clear message; client-supplied strings never fill the log; upload requests carry few files; a worker that dies, even
while its replacement starts, never hangs the server. The app runs in this process (tests/test_app.py's fixtures),
so "the server process" is this one; its prediction workers are child processes."""

from __future__ import annotations

import io
import logging
import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageDraw, ImageFile

from benchmarks import reliability
from hub import images, web_limits
from tests.test_app import app_module, app_url, clf  # noqa: F401  (shared fixtures: one app per session)

DIGIT = (reliability.IMAGE).read_bytes()


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=9)
    return buffer.getvalue()


def strip(width: int, height: int) -> Image.Image:
    """A strip with ink on it (issue 15, defect 6)."""
    image = Image.new("L", (width, height), 255)
    ImageDraw.Draw(image).line([(width // 3, height // 3), (2 * width // 3, 2 * height // 3)], fill=0, width=3)
    return image


# --------------------------------------------------------------------------- defect 2: one guarded decode


def test_every_function_that_takes_an_image_leaves_decoding_to_the_worker(app_module, clf):  # noqa: F811
    """Gradio's own preprocessing (gr.Image, gr.Sketchpad) would decode in the server process, without our guards:
    every image input is either not preprocessed or the app's sketchpad, whose preprocess passes bytes or a path."""
    import gradio as gr

    demo = app_module.build_demo(clf, workers=0)
    image_inputs = [fn for fn in demo.fns.values()
                    if any(isinstance(block, (gr.Image, gr.ImageEditor)) for block in fn.inputs)]
    assert len(image_inputs) >= 3  # /predict, the sketchpad, the upload
    undecoded = app_module._undecoded_composite
    decoding = [fn.name for fn in image_inputs if fn.preprocess
                and not all(getattr(block.preprocess, "__func__", None) is undecoded for block in fn.inputs)]
    assert decoding == []


def test_the_sketchpad_passes_the_drawing_undecoded(app_module, decodes_in_this_process):  # noqa: F811
    """What the browser sends (blobs kept by accept_blobs, then the event with their id) reaches the function as
    bytes; oversized blobs are dropped and at most SKETCHES_WAITING drawings wait."""
    from types import SimpleNamespace

    from gradio.components.image_editor import EditorData

    pad = app_module.undecoded_sketchpad()
    drawing = png(strip(280, 280).convert("RGBA"))
    for i in range(app_module.SKETCHES_WAITING + 3):
        pad.accept_blobs(SimpleNamespace(data={"type": "composite", "index": None, "id": f"d{i}"},
                                         files=[("composite.png", drawing)]))
    assert len(pad.blob_storage) == app_module.SKETCHES_WAITING and "d0" not in pad.blob_storage
    huge = b"\x89PNG" + bytes(app_module.MAX_SKETCH_BLOB)
    pad.accept_blobs(SimpleNamespace(data={"type": "composite", "index": None, "id": "huge"},
                                     files=[("composite.png", huge)]))
    assert "huge" not in pad.blob_storage
    last = f"d{app_module.SKETCHES_WAITING + 2}"
    assert pad.preprocess(EditorData(id=last)) == drawing and last not in pad.blob_storage
    assert pad.preprocess(EditorData(composite={"path": "/tmp/x.png", "meta": {"_type": "gradio.FileData"}})) \
        == "/tmp/x.png"
    assert pad.preprocess(EditorData()) is None
    assert decodes_in_this_process == []


@pytest.fixture
def decodes_in_this_process(monkeypatch):
    """Every image file decoded in this (the server's) process: (size, format) of each."""
    seen = []
    original = ImageFile.ImageFile.load

    def spy(self):
        seen.append((self.size, self.format))
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    return seen


def test_hidden_functions_refuse_a_bomb_without_decoding_it_in_the_server(app_url, decodes_in_this_process):  # noqa: F811
    """The issue's 657 KB PNG of 13000x13000 RGBA, sent to every image function (hidden UI ones included) the way
    a browser calls them; before, the Sketchpad's took 8.8 s and 3 GB in the server process."""
    bomb = png(Image.new("RGBA", (13000, 13000)))
    url = app_url.rstrip("/")
    with httpx.Client(timeout=120) as client:
        functions = reliability.image_functions(client, url)
        assert {"predict"} < {fn["name"] for fn in functions}  # hidden functions are found too
        for fn in functions:
            path = reliability.upload(client, url, bomb, "bomb.png")
            with pytest.raises(reliability.CallError, match="too large"):
                reliability.call_fn(client, url, fn["fn_index"], reliability.payload_for(fn["kinds"], path))
            path = reliability.upload(client, url, DIGIT, "seven.png")  # and the function still works
            output = reliability.call_fn(client, url, fn["fn_index"], reliability.payload_for(fn["kinds"], path))
            assert '"7"' in str(output).replace("'", '"'), (fn, output)
    assert [size for size, _ in decodes_in_this_process if size[0] * size[1] > 1_000_000] == []


@pytest.mark.parametrize("size", [(1000, 8), (3000, 20), (8, 1000)], ids=str)
def test_a_strip_gets_a_clear_message(size):
    with pytest.raises(images.ImageInputError, match="too (wide|tall).*Crop it around the digit"):
        images.load_image(png(strip(*size)))


def test_a_strip_gets_a_clear_message_from_the_app(app_url):  # noqa: F811
    url = app_url.rstrip("/")
    with httpx.Client(timeout=60) as client, pytest.raises(reliability.CallError, match="too wide"):
        reliability.predict(client, url, png(strip(3000, 20)))


def test_pixel_limits_come_from_the_header_and_jpegs_are_decoded_reduced():
    over = Image.new("L", (4001, 3000), 255)
    with pytest.raises(images.ImageInputError, match="too large"):
        images.load_image(png(over))
    photo = Image.new("RGB", (6000, 4000), "white")
    ImageDraw.Draw(photo).line([(2500, 1000), (3500, 3000)], fill="black", width=60)
    buffer = io.BytesIO()
    photo.save(buffer, format="JPEG", quality=80)
    assert max(images.load_image(buffer.getvalue(), max_side=384).size) <= 1500  # 24 MP JPEG, draft-decoded
    with pytest.raises(images.ImageInputError, match="too large"):
        images.load_image(buffer.getvalue())  # without a reduced decode, the 12 MP limit holds


def test_only_common_formats_are_decoded():
    buffer = io.BytesIO()
    Image.new("L", (64, 64)).save(buffer, format="PPM")
    with pytest.raises(images.ImageInputError, match="not an image"):
        images.load_image(buffer.getvalue())


# --------------------------------------------------------------------------- defects 3 and 5: uploads and logs


def test_an_upload_request_carries_at_most_a_few_files(app_url):  # noqa: F811
    from gradio.utils import get_upload_folder

    def stored():
        return {p for p in Path(get_upload_folder()).rglob("*") if p.is_file()}

    url = app_url.rstrip("/")
    with httpx.Client(timeout=60) as client:
        files = [("files", (f"{i}.png", DIGIT, "image/png")) for i in range(web_limits.MAX_FILES_PER_REQUEST)]
        assert client.post(f"{url}/gradio_api/upload", files=files).status_code == 200
        before = stored()
        too_many = [("files", (f"{i}.bin", b"%d" % i, "application/octet-stream")) for i in range(1000)]
        response = client.post(f"{url}/gradio_api/upload", files=too_many)
        assert response.status_code == 413 and "Too many files" in response.json()["error"]
        time.sleep(1)  # other processes may share the upload folder: ours are the files of at most 4 bytes
        leftover = {p for p in stored() - before if p.exists() and p.stat().st_size <= 4}
        assert leftover == set()  # the files written before the cut were deleted


def test_refused_paths_cost_one_short_log_line(app_url, caplog):  # noqa: F811
    url = app_url.rstrip("/")
    caplog.set_level(logging.WARNING)
    with httpx.Client(timeout=60) as client:
        for path, status in (("A" * 5_000_000, 413), ("/etc/" + "x" * 20_000, 400),
                             ("https://example.com/digit.png", 400)):
            caplog.clear()
            response = client.post(f"{url}/gradio_api/call/predict", json={"data": [reliability.file_data(path)]})
            assert response.status_code == status
            assert "upload" in response.json()["error"].lower()
            records = [r for r in caplog.records if r.name == "hub.web_limits"]
            assert len(records) == 1 and records[0].exc_info is None
            assert len(records[0].getMessage()) < 400


def test_shorten_cuts_client_text_and_says_how_long_it_was():
    assert web_limits.shorten("abc") == "'abc'"
    cut = web_limits.shorten("x" * 5_000_000)
    assert len(cut) < web_limits.LOGGED_CHARS + 40 and "5,000,000 characters" in cut


def test_flood_filter_keeps_one_line_per_interval():
    flood = web_limits.FloodFilter(interval=60)
    record = logging.LogRecord("asyncio", logging.ERROR, __file__, 1, "socket.accept() out of system resource",
                               None, (OSError, OSError(24, "Too many open files"), None))
    passed = [flood.filter(record) for _ in range(1000)]
    assert passed[0] and sum(passed) == 1


# --------------------------------------------------------------------------- defect 1: no hang when a worker dies


def worker_pids() -> list[int]:
    return [p for p in reliability.children(os.getpid()) if "spawn_main" in reliability.cmdline(p)
            and "resource_tracker" not in reliability.cmdline(p)]


def test_killing_a_worker_and_its_replacement_never_hangs_the_server(app_url):  # noqa: F811
    """Defect 1: kill the worker, send a request, kill the replacement as it appears. Before, the server wrote the
    new worker's start-up payload into a pipe nobody read and stopped answering everything, GET / included."""
    url = app_url.rstrip("/")
    workers = reliability._wait_for(worker_pids, timeout=60, step=0.05)
    if not workers:
        pytest.skip("the app predicts in-process here (no worker processes)")
    old = set(workers)
    for pid in old:  # every worker of this test process: other tests' apps may be running here too
        os.kill(pid, signal.SIGKILL)
    outcome = {}

    def request():
        with httpx.Client(timeout=120) as client:
            try:
                outcome["label"] = reliability.predict(client, url, DIGIT)["label"]
            except (httpx.HTTPError, reliability.CallError) as e:
                outcome["error"] = str(e)

    thread = threading.Thread(target=request)
    thread.start()
    replacement = reliability._wait_for(lambda: [p for p in worker_pids() if p not in old], timeout=30)
    assert replacement, "no replacement worker was started"
    os.kill(replacement[0], signal.SIGKILL)
    with httpx.Client(timeout=5) as client:
        for _ in range(5):  # the server answers at once, again and again, while workers restart
            start = time.monotonic()
            assert client.get(f"{url}/gradio_api/info").status_code == 200
            assert time.monotonic() - start < 1.0
            time.sleep(0.2)
    thread.join(timeout=120)
    assert not thread.is_alive(), "the request hung"
    with httpx.Client(timeout=120) as client:  # and predictions work again
        assert reliability.predict(client, url, DIGIT)["label"] == "7"


# --------------------------------------------------------------------------- the benchmark


def test_reliability_benchmark_runs_quick(model_dir, tmp_path):
    output = tmp_path / "reliability.json"
    assert reliability.main(["--quick", "--model", str(model_dir), "--output", str(output)]) == 0
    import json

    result = json.loads(output.read_text())
    assert set(result["targets"]) >= {"failed_at_64_clients", "single_request_extra_mb", "upload_storage_bounded"}
    assert result["probes"]["hostile_images"]["unexpected"] == []
    assert result["probes"]["concurrent"]["failed"] == 0


def test_an_unknown_event_id_gets_an_error_event_not_a_dropped_connection(app_url):  # noqa: F811
    url = app_url.rstrip("/")
    with httpx.Client(timeout=60) as client:
        response = client.get(f"{url}/gradio_api/call/predict/{'0' * 32}")  # a dropped stream raises here
    assert "event: error" in response.text


def test_uploads_are_deleted_even_while_others_arrive():
    """Gradio 6.31's delete_cache sweep dies at the first upload that arrives while it walks its sets (then nothing
    is ever deleted); with web_limits.keep_cache_sweep_alive it keeps deleting old uploads under a flood."""
    import gradio as gr

    from tests.app_process import free_port

    with gr.Blocks() as demo:
        gr.Image(type="filepath")
    demo.queue()
    demo.delete_cache = (1, 1)
    web_limits.keep_cache_sweep_alive(demo)
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, server_name="127.0.0.1", server_port=free_port())
    paths = []

    def upload_for(seconds):
        with httpx.Client(timeout=30) as client:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                paths.append(reliability.upload(client, url.rstrip("/"), os.urandom(64), "u.bin"))

    try:
        threads = [threading.Thread(target=upload_for, args=(4,)) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(paths) > 50
        assert reliability._wait_for(lambda: not any(Path(p).exists() for p in paths), timeout=15, step=0.5)
    finally:
        demo.close()
