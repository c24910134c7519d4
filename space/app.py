"""The Gradio Space: draw or upload a digit or a number, get the model's reading; `/predict`, `/read_number` and
`/predict_batch` for programmatic clients.

Run locally with `python space/app.py` (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT are honoured). The model comes
from MODEL_ID (a Hub repo id, with optional MODEL_REVISION, or a local folder); without it, from the folder
train.py writes (outputs/mnist-cnn) if you trained one, else the release model committed in models/mnist-cnn (so a
fresh clone serves offline), else the repo named first under `models:` in this folder's README.md front matter
(`python -m hub.space_deploy` sets that list; on a Space only space/ and hub/ are uploaded). Loading and
preprocessing are the `hub` package's, so the app, the API and `MnistClassifier.predict` answer alike.
"""

from __future__ import annotations

import html
import logging
import os
import types
from pathlib import Path

SPACE_DIR = Path(__file__).resolve().parent
REPO_ROOT = SPACE_DIR.parent

# Gradio recomputes a pandas summary of up to 10,000 past events after every event, for its optional /monitoring
# dashboard: 3-8 ms of CPU per request on a 2-core machine, more than a prediction costs. Every 1,000 is plenty.
# (Read when Gradio builds its queue; benchmarks/api.py also runs its no-op app with these settings.)
GRADIO_SETTINGS = {"GRADIO_ANALYTICS_CACHE_FREQUENCY": "1000"}
for _name, _value in GRADIO_SETTINGS.items():
    os.environ.setdefault(_name, _value)

if __name__ != "__mp_main__":  # hub.serving's worker processes re-run this script under that name ("spawn"):
    # they need none of the UI (about 65 MB and 2 s less per worker).
    from hub.gradio_stubs import skip_stub_writing  # noqa: E402

    skip_stub_writing()  # Gradio rewrites its own type stubs at every import: ~1.7 s of start-up (see there)
    import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from hub import preprocess, serving, web_limits  # noqa: E402

log = logging.getLogger("mnist-space")

DEFAULT_FOLDER = REPO_ROOT / "outputs" / "mnist-cnn"  # what train.py writes
RELEASE_FOLDER = REPO_ROOT / "models" / "mnist-cnn"  # the trained model committed with the code
SPACE_README = SPACE_DIR / "README.md"
EXAMPLES_DIR = SPACE_DIR / "examples"
CANVAS = 280  # sketch canvas height in px: 10x MNIST, so one digit is drawn about as tall as before
CANVAS_WIDTH = 2 * CANVAS  # wide enough for a number of several digits, and still 180 px tall on a 390 px phone
BRUSH_RADIUS = 11  # px on that canvas: after scaling to MNIST's 20 px box, close to MNIST's pen width
SEEN_SCALE = 8  # the 28x28 "what the model sees" images, enlarged without smoothing
SEEN_GAP = 6  # px of grey between the enlarged crops of a number
DRAW_HINT = "✏️ Draw a digit or a number"
UPLOAD_HINT = "Upload, paste or photograph a digit or a number"
NOT_A_DIGIT = "Not a digit"
NOT_A_DIGIT_TEXT = ("This doesn't look like a digit. The model reads the digits 0–9 and numbers made of them; "
                    "letters, shapes and scribbles are declined rather than guessed.")
MARKS_INSIDE_TEXT = ("This doesn't look like a digit: it has separate marks inside a closed loop, as a face does, and "
                     "no digit has those. Draw the digits 0–9 one by one, side by side.")
UNLIKE_TEXT = ("This doesn't look like a digit: it is unlike every digit the model learned from. Two digits that "
               "touch can look like this: leave a little space between them.")
MAX_BATCH = serving.MAX_BATCH  # images per /predict_batch call
MAX_FILE_SIZE = 25 * 1024 * 1024  # bytes per uploaded file (25 MB)
DELETE_CACHE = (60, 600)  # every 60 s Gradio deletes uploads and cached files older than 600 s (all at shutdown)
CONCURRENCY = 8  # events that do not predict (clear, examples) run this many at once
# Gradio keeps a copy of every block's config per session (33 KB here) for its newest 10,000 sessions by default,
# and each API call is a new session: +330 MB after 10,000 calls. The app keeps no per-session state it needs.
SESSION_CAPACITY = 1000


# --------------------------------------------------------------------------- which model


def published_model_id(readme: Path | None = None) -> str | None:
    """First entry of `models:` in the Space README front matter (set by `python -m hub.space_deploy`)."""
    from huggingface_hub import SpaceCard

    readme = SPACE_README if readme is None else readme
    if not readme.is_file():
        return None
    models = SpaceCard.load(readme).data.get("models") or []
    return str(models[0]) if models else None


def model_source(env=os.environ) -> tuple[str, str | None, str]:
    """(repo id or folder, revision, where that choice came from)."""
    if env.get("MODEL_ID"):
        return env["MODEL_ID"], env.get("MODEL_REVISION") or None, "MODEL_ID"
    if (DEFAULT_FOLDER / "classifier.json").is_file():
        return str(DEFAULT_FOLDER), None, "the folder train.py writes"
    if (RELEASE_FOLDER / "classifier.json").is_file():
        return str(RELEASE_FOLDER), None, "the release model in models/"
    published = published_model_id()
    if published:
        return published, env.get("MODEL_REVISION") or None, "models: in space/README.md"
    return str(DEFAULT_FOLDER), None, "default"


def load_classifier(env=os.environ):
    """Load the model once at start-up; exit with what to run when there is none."""
    from hub.classifier import MnistClassifier

    source, revision, why = model_source(env)
    try:
        return MnistClassifier.from_pretrained(source, revision=revision)
    except Exception as e:  # ModelLoadError and friends carry a message for humans
        raise SystemExit(
            f"No model could be loaded from {source!r} ({why}): {e}\n\n"
            "To get one, train it:    python train.py            (writes outputs/mnist-cnn, which the app uses)\n"
            "or point the app at one: MODEL_ID=user/mnist-cnn python space/app.py  (a Hub repo id or a folder)"
        ) from e


def model_card_url(clf) -> str | None:
    from huggingface_hub import constants

    source = clf.source or ""
    if source and not Path(source).exists():
        return f"{constants.ENDPOINT}/{source}"
    return None


# --------------------------------------------------------------------------- prediction


class Predictor:
    """Turns what the UI and the API receive into component values; the work runs in hub.serving's workers."""

    def __init__(self, clf, workers: int | None = None):
        self.digits = serving.DigitPredictor(clf, workers)
        # Gradio's queue is the only queue: every predicting event shares one concurrency group, as wide as the
        # worker pool, so a request is only started when a worker is free (in-process: CONCURRENCY threads).
        self.events = {"concurrency_id": serving.CONCURRENCY_ID,
                       "concurrency_limit": self.digits.workers or CONCURRENCY}

    async def api(self, image: dict | None) -> dict[str, float]:
        """`/predict`: one image file -> probabilities of all 10 digits (a gr.Label value)."""
        path = _sent_path(image)
        try:
            return (await self.digits.predict(path))[0]
        except (preprocess.ImageInputError, serving.WorkerError) as e:  # ImageInputError includes NoDigitError
            raise _user_error(str(e)) from e
        except Exception as e:
            raise _unexpected(e) from e

    async def api_read_number(self, image: dict | None) -> dict:
        """`/read_number`: one image file -> MnistClassifier.read_number's reading as a dict."""
        return (await self._read(_sent_path(image)))[0]

    async def api_batch(self, files: list[dict] | None) -> list[dict]:
        """`/predict_batch`: up to MAX_BATCH image files -> per file, in order, a gr.Label value or {"error": ...}."""
        if not files:
            raise _user_error("No images were sent: pass a list of image files, e.g. "
                              "[handle_file('a.png'), handle_file('b.png')].")
        if len(files) > MAX_BATCH:
            raise _user_error(f"{len(files):,} images were sent in one call; at most {MAX_BATCH} are taken. Split "
                              f"them into calls of {MAX_BATCH} or fewer.")
        try:
            answers = await self.digits.predict_batch([f["path"] for f in files])
        except serving.WorkerError as e:
            raise _user_error(str(e)) from e
        except Exception as e:
            raise _unexpected(e) from e
        return [label_value(answer) if isinstance(answer, dict)
                else {"error": f"Image {i} ({files[i].get('orig_name') or 'unnamed'}): {answer}"}
                for i, answer in enumerate(answers)]

    async def _read(self, source) -> tuple[dict, np.ndarray]:
        """(reading dict, crops); a blank image is a reading with status "no_digit", bad files a gr.Error."""
        try:
            return await self.digits.read_number(source)
        except preprocess.NoDigitError:
            return {"number": "", "status": "no_digit", "confidence": 0.0, "digits": []}, np.zeros((0, 28, 28))
        except (preprocess.ImageInputError, serving.WorkerError) as e:
            raise _user_error(str(e)) from e
        except Exception as e:
            raise _unexpected(e) from e

    async def ui(self, source, hint: str):
        """(label value, reading HTML, what-the-model-sees image) for the Draw and Upload tabs."""
        if source is None:
            return hint, "", None
        return shown_reading(*(await self._read(source)), hint)

    async def sketch(self, composite: bytes | str | None):
        """The drawing as undecoded_sketchpad passes it: PNG bytes or an uploaded file's path."""
        return await self.ui(composite, DRAW_HINT)

    async def upload(self, image: dict | None):
        return await self.ui(image.get("path") if image else None, UPLOAD_HINT)


def _sent_path(image: dict | None) -> str:
    if not image or not image.get("path"):
        raise _user_error("No image was sent: pass one image file, e.g. handle_file('digit.png').")
    return image["path"]


def _user_error(message: str) -> gr.Error:
    """A problem with what was sent (not a bug): shown to the user, not logged with a traceback."""
    return gr.Error(message, title="Can't read this image", print_exception=False)


def _unexpected(e: Exception) -> gr.Error:
    log.exception("unexpected error while predicting")
    return gr.Error(f"This image could not be processed ({type(e).__name__}). Try a PNG or JPEG of one digit.")


def label_value(probabilities: dict[str, float]) -> dict:
    """{label: probability} as gr.Label sends it: the top label and every label's confidence, most likely first."""
    ranked = sorted(probabilities.items(), key=lambda item: item[1], reverse=True)
    return {"label": ranked[0][0], "confidences": [{"label": k, "confidence": v} for k, v in ranked]}


def shown_reading(reading: dict, crops: np.ndarray, hint: str):
    """(label value, HTML, crops strip) for a reading: one digit keeps its top 3; a number is shown in large type
    with each digit's confidence; something that is not a digit is said in plain words."""
    status, digits = reading["status"], reading["digits"]
    seen = seen_image(crops) if len(crops) else None
    if status == "no_digit":
        return f"{hint} — no digit found", "", None
    if status == "not_a_digit":
        text = {"marks_inside_a_loop": MARKS_INSIDE_TEXT, "unlike_any_digit": UNLIKE_TEXT}.get(reading.get("reason"),
                                                                                              NOT_A_DIGIT_TEXT)
        return NOT_A_DIGIT, f'<p class="declined">{html.escape(text)}</p>', seen
    if len(digits) == 1:
        return {top["digit"]: top["confidence"] for top in digits[0]["top3"]}, "", seen
    tiles = "".join(f'<span class="digit"><b>{html.escape(d["digit"])}</b><small>{d["confidence"]:.0%}</small></span>'
                    for d in digits)
    return (reading["number"],
            f'<div class="number">{tiles}</div><p class="whole">All {len(digits)} digits right: '
            f'{reading["confidence"]:.0%} likely</p>', seen)


def seen_image(crops: np.ndarray) -> Image.Image:
    """The model's 28x28 inputs (white on black) side by side, enlarged with nearest-neighbour so pixels stay visible.

    Accepts one 28x28 image or a stack (n, 28, 28)."""
    crops = np.asarray(crops, np.float32).reshape(-1, 28, 28)
    side = 28 * SEEN_SCALE
    strip = np.full((side, len(crops) * (side + SEEN_GAP) - SEEN_GAP), 96, np.uint8)
    for i, crop in enumerate(crops):
        pixels = (np.clip(crop, 0.0, 1.0) * 255).round().astype(np.uint8)
        strip[:, i * (side + SEEN_GAP):i * (side + SEEN_GAP) + side] = np.kron(pixels, np.ones((SEEN_SCALE,) * 2,
                                                                                              np.uint8))
    return Image.fromarray(strip, mode="L")


MAX_SKETCH_BLOB = 2 * 1024 * 1024  # bytes; a drawing on the 560x280 canvas is a PNG of a few KB
SKETCHES_WAITING = 64  # drawings kept between their upload (accept_blobs) and their event, all sessions together


def undecoded_sketchpad(**kwargs) -> gr.Sketchpad:
    """A gr.Sketchpad whose drawing reaches the event function undecoded: the composite's PNG bytes or file path.

    Why: gr.Sketchpad's own preprocessing decodes the image in the server process, without hub.images' checks,
    and any client can send it any image (issue 15: a 13000x13000 PNG took 8.8 s and 3 GB); the prediction worker
    decodes it instead. The browser uploads a drawing as blobs (accept_blobs) that wait in the component's
    `blob_storage`, shared by all sessions, for their event: blobs larger than MAX_SKETCH_BLOB are dropped and at
    most SKETCHES_WAITING drawings wait. Methods are replaced on the instance, not in a subclass: Gradio writes a
    .pyi file next to the module of every Component subclass.
    """
    pad = gr.Sketchpad(**kwargs)
    pad.preprocess = types.MethodType(_undecoded_composite, pad)
    pad.accept_blobs = types.MethodType(_bounded_accept_blobs, pad)
    return pad


def _undecoded_composite(pad, payload):
    if payload is None:
        return None
    blobs = pad.blob_storage.pop(payload.id, None) if payload.id is not None else None
    composite = blobs.composite if blobs is not None else payload.composite
    if isinstance(composite, (bytes, bytearray)):
        return bytes(composite)
    return getattr(composite, "path", None)  # an uploaded file (API callers); None: nothing drawn


def _bounded_accept_blobs(pad, data):
    if len(data.files[0][1]) > MAX_SKETCH_BLOB:
        log.warning("dropped a sketch blob of %s bytes (at most %s)", f"{len(data.files[0][1]):,}",
                    f"{MAX_SKETCH_BLOB:,}")
        return
    type(pad).accept_blobs(pad, data)
    while len(pad.blob_storage) > SKETCHES_WAITING:
        pad.blob_storage.pop(next(iter(pad.blob_storage)))


_bounded_accept_blobs._is_server_fn = True  # what Gradio's @server marks: callable by the browser


def blank_canvas() -> dict:
    """A white background for the sketchpad.

    Why: with an empty value Gradio 6.31's Sketchpad starts in its "image" tool ("select the draw tool to
    start") and ignores strokes; with a background it starts with the brush selected.
    """
    return {"background": np.full((CANVAS, CANVAS_WIDTH, 3), 255, np.uint8), "layers": [], "composite": None}


# Gradio 6.31 drops the first "change" of a Sketchpad after page load (it takes it for the initial mount), so the
# user's first stroke would get no prediction. Fire one harmless change as soon as the editor is ready. If a future
# Gradio changes these internals this does nothing, and tests/test_browser.py (first stroke) says so.
PRIME_SKETCHPAD_JS = """
() => {
  let tries = 0;
  const timer = setInterval(() => {
    const editor = window.editor;
    const ready = editor && editor.event_callbacks && (editor.event_callbacks.get("change") || []).length > 0;
    if (ready || ++tries > 150) {
      clearInterval(timer);
      if (ready) { try { editor.notify("change"); } catch (e) { console.warn("sketchpad priming failed", e); } }
    }
  }, 100);
}
"""

CSS = """
#seen img { image-rendering: pixelated; }
#draw-hint p { margin: 0; }
#reading .number { display: flex; flex-wrap: wrap; gap: 0.2em 0.9em; }
#reading .digit { display: flex; flex-direction: column; align-items: center; }
#reading .digit b { font-size: 3.5em; line-height: 1.1; }
#reading .digit small, #reading .whole { color: var(--body-text-color-subdued); }
#reading .declined { font-size: 1.2em; }
"""


# --------------------------------------------------------------------------- the app


def example_paths(folder: Path = EXAMPLES_DIR) -> list[str]:
    return sorted(str(p) for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg")) if folder.is_dir() else []


def description(clf) -> str:
    metrics = clf.metrics or {}
    accuracy = metrics.get("test_accuracy")
    samples = metrics.get("test_samples", 10000)
    figure = (f"**{accuracy:.2%} accuracy** on the {samples:,} MNIST test digits" if isinstance(accuracy, float)
              else "test accuracy not recorded in the model folder (no metrics.json)")
    params = f" ({metrics['params']:,} parameters)" if isinstance(metrics.get("params"), int) else ""
    url = model_card_url(clf)
    folder = Path(clf.source or "").name  # the folder's name only: the page (and /config) never shows server paths
    where = f"[{clf.source}]({url})" if url else f"local folder `{folder}` (its model card is README.md there)"
    return (f"A small convolutional network{params} trained on MNIST: {figure}. Model: {where}.\n\n"
            "Draw a digit or a number, upload a photo of one, or click an example. Each digit is found, cropped, "
            "scaled and centred like MNIST before the model sees it (right), so you can tell why an answer is wrong; "
            "what is not a digit is declined.")


def build_demo(clf, workers: int | None = None) -> gr.Blocks:
    """The Blocks UI plus the public `/predict`, `/read_number` and `/predict_batch` endpoints; every UI event is
    hidden from the API page.

    `workers`: prediction worker processes (hub.serving; default PREDICT_WORKERS or half the cores, 0 = in-process).
    """
    predictor = Predictor(clf, workers)
    private = {"api_visibility": "private", "show_progress": "hidden"}
    with gr.Blocks(title="MNIST digit recognizer") as demo:
        gr.Markdown("# ✍️ MNIST digit recognizer")
        gr.Markdown(description(clf))
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                with gr.Tabs() as tabs:
                    with gr.Tab("Draw", id="draw"):
                        gr.Markdown("**Draw a digit (0–9) or a number in the white box** with your mouse or finger. "
                                    "The answer updates each time you lift the pen.", elem_id="draw-hint")
                        pad = undecoded_sketchpad(
                            value=blank_canvas(), canvas_size=(CANVAS_WIDTH, CANVAS), fixed_canvas=True,
                            height=CANVAS + 100, image_mode="L", type="filepath", label="Your digit or number",
                            show_label=False,
                            brush=gr.Brush(default_size=BRUSH_RADIUS, colors=["#000000"], color_mode="fixed"),
                            eraser=gr.Eraser(default_size=BRUSH_RADIUS * 2), layers=False, transforms=(),
                            buttons=[], elem_id="sketchpad",
                        )
                        clear = gr.Button("Clear", variant="secondary", elem_id="clear")
                    with gr.Tab("Upload", id="upload"):
                        upload = gr.Image(type="filepath", sources=["upload", "clipboard", "webcam"],
                                          label="A photo or image of a digit or a number", height=CANVAS + 60,
                                          elem_id="upload")
            with gr.Column(scale=2):  # beside the input on wide screens, right under it on phones
                label = gr.Label(value=DRAW_HINT, num_top_classes=3, label="Prediction", elem_id="prediction")
                reading = gr.HTML(elem_id="reading")
                seen = gr.Image(label="What the model sees (28×28 per digit)", type="pil", interactive=False,
                                height=28 * SEEN_SCALE, buttons=[], elem_id="seen")
        examples = example_paths()
        if examples:  # clicking one puts it in the Upload tab (and shows that tab); upload.change predicts
            # No fn on the Examples: Gradio would call it with the upload preprocessed, decoded in this process.
            shown = gr.Examples(examples, inputs=upload, cache_examples=False, examples_per_page=len(examples),
                                label="Examples (click one)", api_visibility="private")
            shown.dataset.click(lambda: gr.Tabs(selected="upload"), None, tabs, **private)

        outputs = [label, reading, seen]
        pad.change(predictor.sketch, pad, outputs, trigger_mode="always_last", **private, **predictor.events)
        pad.clear(lambda: (blank_canvas(), DRAW_HINT, "", None), None, [pad, *outputs], **private)
        clear.click(lambda: (blank_canvas(), DRAW_HINT, "", None), None, [pad, *outputs], **private)
        upload.change(predictor.upload, upload, outputs, preprocess=False, **private, **predictor.events)
        demo.load(None, None, None, js=PRIME_SKETCHPAD_JS, **private)

        # The programmatic API: invisible components, so the UI keeps its own top-3 label.
        api_image = gr.Image(type="filepath", label="image", visible=False)
        api_label = gr.Label(label="probabilities", visible=False)
        api_image.change(predictor.api, api_image, api_label, preprocess=False, api_name="predict",
                         api_description="Classify one image of a handwritten digit (PNG, JPEG, ...; any size, "
                                         "dark-on-light or light-on-dark). Returns the probabilities of all 10 digits.",
                         **predictor.events)
        number_image = gr.Image(type="filepath", label="image", visible=False)
        number_reading = gr.JSON(label="reading", visible=False)
        number_image.change(predictor.api_read_number, number_image, number_reading, preprocess=False,
                            api_name="read_number",
                            api_description="Read a handwritten number (one digit or several, left to right) in one "
                                            "image. Returns {number, status: ok | no_digit | not_a_digit, confidence, "
                                            "digits: [{digit, confidence, box, top3, not_a_digit, feature_distance}, "
                                            "...], reason (not_a_digit only): model | unlike_any_digit | "
                                            "marks_inside_a_loop}.",
                            **predictor.events)
        batch_files = gr.File(file_count="multiple", type="filepath", label="images", visible=False)
        batch_answers = gr.JSON(label="answers", visible=False)
        batch_files.change(predictor.api_batch, batch_files, batch_answers, preprocess=False, api_name="predict_batch",
                           api_description=f"Classify up to {MAX_BATCH} images of one digit each. Returns one entry "
                                           "per file, in order: {label, confidences} as /predict, or {error} for a "
                                           "file that could not be read (the others are still answered).",
                           **predictor.events)
    return demo


def launch(demo: gr.Blocks, **kwargs):
    """Queue and launch with the app's settings (used by main, the tests and the benchmarks).

    Limits on what clients can make the server hold (README, "Reliability"): files of at most MAX_FILE_SIZE, at most
    web_limits.MAX_FILES_PER_REQUEST per upload request, calls that only name uploaded files, and uploads deleted
    DELETE_CACHE[1] seconds after they arrive. Slow or idle connections are a reverse proxy's job (Spaces have one):
    Gradio's launch() sets no uvicorn timeout for requests whose headers never end.
    """
    from gradio.utils import get_upload_folder
    from starlette.middleware import Middleware

    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=None)
    demo.delete_cache = DELETE_CACHE  # read by launch() when it builds the server
    web_limits.keep_cache_sweep_alive(demo)  # Gradio 6.31's sweep otherwise dies at the first concurrent upload
    limits = Middleware(web_limits.RequestLimits, upload_dir=get_upload_folder(), max_file_size=MAX_FILE_SIZE)
    return demo.launch(css=CSS, max_file_size=MAX_FILE_SIZE, footer_links=["api", "gradio"],
                       state_session_capacity=SESSION_CAPACITY, app_kwargs={"middleware": [limits]}, **kwargs)


def main():
    # Our own messages at INFO; other libraries' (httpx logs every request at INFO) only from WARNING.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    log.setLevel(logging.INFO)
    for name in ("asyncio", "uvicorn.error", "python_multipart.multipart"):  # per-connection errors: one line per kind
        # every 10 s, not a flood (asyncio logs "Too many open files" with a traceback at every accept)
        logging.getLogger(name).addFilter(web_limits.FloodFilter(10.0))
    clf = load_classifier()
    log.info("model loaded from %s", clf.source)
    launch(build_demo(clf))


if __name__ == "__main__":
    main()
