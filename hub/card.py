"""The model card (README.md of the model folder / Hub repo), rendered from the run's metrics.json.

Every number in the card comes from the `metrics` dict, so the card always describes the model it ships
with. `write_model_card(folder, repo_id=..., space_id=...)` can be re-run at push time, once the repo and
Space ids are known: it fills in the widget URLs, the `hf://` snippets and the Space link.
"""

from __future__ import annotations

import json
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData, constants

from hub.model_folder import CARD_FILE as CARD_NAME
from hub.model_folder import CLASSIFIER_CONFIG
from hub.model_folder import CLASSIFIER_FILE as CLASSIFIER_NAME
from hub.model_folder import METRICS_FILE as METRICS_NAME
from hub.plots import ASSET_NAMES

DEFAULT_LICENSE = "cc-by-sa-3.0"
DATASET_ID = "ylecun/mnist"
TAGS = ["keras", "tensorflow", "image-classification", "mnist", "digit-recognition"]
REPO_PLACEHOLDER = "<your-username>/mnist-cnn"
SPACE_PLACEHOLDER = "<your-username>/mnist-digits"
REQUIRED_KEYS = ("test_accuracy", "test_loss", "test_samples", "per_class", "confusion_matrix")
DEFAULT_INPUT = CLASSIFIER_CONFIG["input"]
DEFAULT_PREPROCESSING = CLASSIFIER_CONFIG["preprocessing"]

CITATION = """@article{lecun1998gradient,
  title   = {Gradient-based learning applied to document recognition},
  author  = {LeCun, Yann and Bottou, L{\\'e}on and Bengio, Yoshua and Haffner, Patrick},
  journal = {Proceedings of the IEEE},
  volume  = {86},
  number  = {11},
  pages   = {2278--2324},
  year    = {1998},
  doi     = {10.1109/5.726791}
}"""


class CardError(ValueError):
    """The metrics given to the card are incomplete or malformed."""


# ---------------------------------------------------------------- formatting helpers


def _pct(x) -> str:
    return f"{float(x):.2%}"


def _num(x, digits=4) -> str:
    return f"{float(x):.{digits}f}"


def _duration(seconds) -> str:
    if seconds is None:
        return "not recorded"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)} min {secs:.0f} s ({seconds:,.1f} s)"


def _size(n) -> str:
    if n is None:
        return "not recorded"
    return f"{int(n) / 1e6:.2f} MB ({int(n):,} bytes)"


def _count(n) -> str:
    return "not recorded" if n is None else f"{int(n):,}"


def _value(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (dict, list, tuple)):
        return f"`{json.dumps(v)}`"
    return f"`{v}`" if isinstance(v, str) else str(v)


def _check(metrics: dict) -> None:
    if not isinstance(metrics, dict):
        raise CardError(f"metrics must be a dict (the content of {METRICS_NAME}), got {type(metrics).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in metrics]
    if missing:
        raise CardError(
            f"metrics is missing {', '.join(missing)}: pass the dict written by train.py "
            f"(hub.evaluate.evaluate(...).metrics merged with the training figures)"
        )


# ---------------------------------------------------------------- metadata


def _widget(repo_id: str | None, examples, endpoint: str, revision: str) -> list[dict] | None:
    """Widget entries need absolute URLs: point at files in the model repo itself (only possible with a repo id)."""
    if not repo_id or not examples:
        return None
    widget = []
    for rel in examples:
        rel = Path(rel).as_posix()
        stem = Path(rel).stem
        title = f"Digit {stem.rsplit('_', 1)[-1]}" if stem.startswith("digit_") else stem
        widget.append({"src": f"{endpoint}/{repo_id}/resolve/{revision}/{rel}", "example_title": title})
    return widget


def build_card_data(
    metrics: dict,
    *,
    repo_id: str | None = None,
    license: str = DEFAULT_LICENSE,
    widget_examples: list[str] | None = None,
    endpoint: str | None = None,
    revision: str = "main",
) -> ModelCardData:
    """YAML metadata: library, license, tags, dataset, pipeline tag and a model-index holding the test accuracy."""
    _check(metrics)
    model_name = repo_id.split("/")[-1] if repo_id else "mnist-cnn"
    endpoint = (endpoint or constants.ENDPOINT).rstrip("/")
    extra = {}
    widget = _widget(repo_id, widget_examples, endpoint, revision)
    if widget:
        extra["widget"] = widget
    return ModelCardData(
        library_name="keras",
        license=license,
        tags=list(TAGS),
        datasets=[DATASET_ID],
        metrics=["accuracy"],
        pipeline_tag="image-classification",
        model_name=model_name,
        eval_results=[
            EvalResult(
                task_type="image-classification",
                task_name="Image Classification",
                dataset_type=DATASET_ID,
                dataset_name="MNIST",
                dataset_split="test",
                metric_type="accuracy",
                metric_name="Test accuracy",
                metric_value=float(metrics["test_accuracy"]),
            )
        ],
        **extra,
    )


# ---------------------------------------------------------------- prose sections


def _per_class_table(metrics: dict) -> str:
    cm = metrics["confusion_matrix"]
    lines = [
        "| digit | precision | recall | F1 | support | errors |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for i, (digit, row) in enumerate(sorted(metrics["per_class"].items(), key=lambda kv: int(kv[0]))):
        errors = int(sum(cm[i])) - int(cm[i][i])
        lines.append(
            f"| {digit} | {_num(row['precision'])} | {_num(row['recall'])} | {_num(row['f1-score'])} "
            f"| {int(row['support']):,} | {errors:,} |"
        )
    for key, name in (("macro_avg", "macro avg"), ("weighted_avg", "weighted avg")):
        if key in metrics:
            row = metrics[key]
            lines.append(
                f"| *{name}* | {_num(row['precision'])} | {_num(row['recall'])} | {_num(row['f1-score'])} "
                f"| {int(row['support']):,} | |"
            )
    return "\n".join(lines)


def _top_confusions(cm, k: int = 5) -> str:
    pairs = [(cm[i][j], i, j) for i in range(len(cm)) for j in range(len(cm)) if i != j and cm[i][j] > 0]
    pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
    if not pairs:
        return "No test image was misclassified."
    items = [f"{i} read as {j}: {n:,}" for n, i, j in pairs[:k]]
    return "Most frequent confusions (true digit read as predicted digit: count): " + "; ".join(items) + "."


def _hyperparameter_table(hp: dict | None) -> str:
    if not hp:
        return "Hyperparameters were not recorded for this run."
    lines = ["| hyperparameter | value |", "| --- | --- |"]
    lines += [f"| {k} | {_value(v)} |" for k, v in hp.items()]
    return "\n".join(lines)


def _architecture_table(layers: list[dict] | None) -> str:
    if not layers:
        return ""
    lines = ["| # | layer | settings |", "| ---: | --- | --- |"]
    for i, layer in enumerate(layers, 1):
        settings = ", ".join(f"{k}={_value(v)}" for k, v in layer.get("settings", {}).items())
        lines.append(f"| {i} | {layer['type']} | {settings} |")
    return "Layers (from `config.json`):\n\n" + "\n".join(lines) + "\n"


def _image(assets: dict, name: str, alt: str) -> str:
    return f"![{alt}]({assets[name]})\n" if name in assets else ""


def _body(metrics, *, repo_id, space_id, license, assets, architecture, classifier, source_url) -> str:
    repo = repo_id or REPO_PLACEHOLDER
    space = space_id or SPACE_PLACEHOLDER
    acc = _pct(metrics["test_accuracy"])
    n_test = int(metrics["test_samples"])
    cm = metrics["confusion_matrix"]
    errors = int(sum(map(sum, cm)) - sum(cm[i][i] for i in range(len(cm))))
    inp = {**DEFAULT_INPUT, **((classifier or {}).get("input") or {})}
    prep = {**DEFAULT_PREPROCESSING, **((classifier or {}).get("preprocessing") or {})}
    shape = ", ".join(str(s) for s in inp["shape"])
    lo, hi = inp["range"]
    canvas, box = prep["canvas"], prep["digit_box"]
    name = repo_id.split("/")[-1] if repo_id else "mnist-cnn"
    sw = metrics.get("software") or {}
    software = ", ".join(f"{k} {v}" for k, v in sw.items()) or "not recorded"
    hub_pkg = f"[`hub` package]({source_url})" if source_url else "`hub` package (from its source repository; the Space bundles it too)"

    if space_id:
        space_url = f"https://huggingface.co/spaces/{space_id}"
        try_it = (
            f"**Try it:** draw or upload a digit in the Space [{space_id}]({space_url}), "
            "or call the Space from Python (below)."
        )
    else:
        try_it = (
            "**Try it:** no Space is linked to this card yet; deploy one with "
            f"`python -m hub.space_deploy {SPACE_PLACEHOLDER} --model-id {repo}` and rerun "
            "`hub.card.write_model_card(folder, repo_id=..., space_id=...)` to link it here."
        )
    repo_note = (
        ""
        if repo_id
        else (
            f"\nThis card was rendered before the model was published: replace `{REPO_PLACEHOLDER}` with the "
            "repository id the model is published under, or load the local folder with "
            "`keras.saving.load_model(\"path/to/folder\")`.\n"
        )
    )
    val = (
        f"{_count(metrics.get('val_samples'))} images held out from the training set "
        f"(validation accuracy {_pct(metrics['val_accuracy'])})"
        if metrics.get("val_accuracy") is not None
        else f"{_count(metrics.get('val_samples'))} images held out from the training set"
    )

    return f"""
# {name}: handwritten digit classifier (Keras CNN, MNIST)

A small convolutional neural network, built with Keras 3 on the TensorFlow backend, that recognises a
single handwritten digit (0-9) in a 28x28 grayscale image. It reaches **{acc} accuracy** on the
{n_test:,} images of the MNIST test set ({errors:,} errors). It has {_count(metrics.get("params"))} parameters;
model size {_size(metrics.get("model_bytes"))}.

{try_it}
{repo_note}
## Input and output

- **Input:** a `{inp["dtype"]}` array of shape `(N, {shape})`, pixel values in `[{lo}, {hi}]` (uint8 / 255),
  **white digit on a black background** ({inp["polarity"]}), prepared like MNIST: the digit scaled so that
  its longer side is {box} px (aspect ratio kept) and placed in a {canvas}x{canvas} canvas, centred by its
  {str(prep["centering"]).replace("-", " ")}.
- **Output:** softmax probabilities of shape `(N, 10)`; column `d` is the probability of digit `d`, the
  prediction is the argmax.
- Photos, scans and drawings (dark ink on white, any size or colour mode) must be converted to that form
  first: the `hub` package and the Space do it (`hub.preprocess.to_mnist`).

## How to use

With plain Keras (needs `keras>=3`, `tensorflow` and `huggingface_hub`); the input must already be in the
form above:

```python
import keras

model = keras.saving.load_model("hf://{repo}")  # safe_mode=True by default
probabilities = model.predict(x)                 # x: float32 (N, {shape}) in [{lo}, {hi}]
digits = probabilities.argmax(axis=1)
```

With this project's {hub_pkg}, which applies the MNIST preprocessing to any image
(path, PIL image or numpy array):

```python
from hub import MnistClassifier

clf = MnistClassifier.from_pretrained("{repo}")
prediction = clf.predict("digit.png")
print(prediction.label, prediction.confidence)
```

Through the Space's API with `gradio_client`:

```python
from gradio_client import Client, handle_file

client = Client("{space}")
result = client.predict(handle_file("digit.png"), api_name="/predict")
print(result)  # top label and the confidence of each digit
```

## Training

- **Data:** MNIST training set, {_count(metrics.get("train_samples"))} images for training and {val}.
  The test set was never used to choose anything; it is only reported below.
- **Recipe:** preset `{metrics.get("preset", "not recorded")}`, seed {metrics.get("seed", "not recorded")},
  {_count(metrics.get("epochs_run"))} epochs run, categorical cross-entropy loss (hyperparameters below).
- **Time:** training {_duration(metrics.get("train_seconds"))}; whole run (training, evaluation, plots,
  model folder) {_duration(metrics.get("total_seconds"))}.
- **Hardware:** {metrics.get("hardware", "not recorded")}.
- **Software:** {software}.
- **Size:** {_count(metrics.get("params"))} parameters, {_size(metrics.get("model_bytes"))}.
- **Date:** {metrics.get("date", "not recorded")}.

{_hyperparameter_table(metrics.get("hyperparameters"))}

{_architecture_table(architecture)}
{_image(assets, "training_curves", "Training curves: loss and accuracy per epoch, train vs. validation")}
{_image(assets, "samples", "Random training images with their labels")}
## Evaluation

On the MNIST test set ({n_test:,} images, never seen during training or model selection):

| metric | value |
| --- | ---: |
| accuracy | {acc} |
| loss (categorical cross-entropy) | {_num(metrics["test_loss"])} |
| errors | {errors:,} of {n_test:,} |

Per class (scikit-learn's classification report; errors = support minus correct):

{_per_class_table(metrics)}

{_image(assets, "confusion_matrix", "Confusion matrix on the test set")}
{_top_confusions(cm)}

{_image(assets, "predictions", "Predictions on random test images, mistakes in red")}
{_image(assets, "mistakes", "The most confident mistakes on the test set")}
## Intended use and limitations

- Intended for learning and demos: recognising **one** handwritten digit per image, in images that look
  like MNIST after preprocessing.
- Not for multi-digit numbers, letters, printed text, or anything that is not a digit: the model always
  answers one of 0-9, even for an empty or unrelated image (the `hub` package rejects empty canvases).
- Accuracy on real photos and drawings depends on the preprocessing (finding, cropping, scaling and centring
  the digit); the test figure above is for clean MNIST digits. MNIST's writers are American census employees
  and high-school students, so unusual writing styles may be recognised less well.
- Not suitable for decisions with consequences for people (e.g. reading forms, cheques or IDs) without
  validation on the target data.

## License

The MNIST data is © Yann LeCun, Corinna Cortes and Christopher J. C. Burges, licensed under
[CC BY-SA 3.0](https://creativecommons.org/licenses/by-sa/3.0/). Because these weights are trained on it,
the model weights and this card are released under the same share-alike license (`{license}`).

## Citation

MNIST ([dataset on the Hub](https://huggingface.co/datasets/{DATASET_ID})):

```bibtex
{CITATION}
```
"""


def build_model_card(
    metrics: dict,
    *,
    repo_id: str | None = None,
    space_id: str | None = None,
    license: str = DEFAULT_LICENSE,
    assets: dict[str, str] | None = None,
    widget_examples: list[str] | None = None,
    architecture: list[dict] | None = None,
    classifier: dict | None = None,
    source_url: str | None = None,
    endpoint: str | None = None,
    revision: str = "main",
) -> ModelCard:
    """Model card for a run: YAML metadata + prose, every figure taken from `metrics` (metrics.json content).

    `assets` maps figure names (see hub.plots.ASSET_NAMES) to relative paths to embed (default: all, under
    assets/); `widget_examples` are repo-relative image paths for the Hub widget (used only with a repo_id,
    as the widget needs absolute URLs). Without repo_id/space_id the snippets show placeholders.
    """
    data = build_card_data(
        metrics,
        repo_id=repo_id,
        license=license,
        widget_examples=widget_examples,
        endpoint=endpoint,
        revision=revision,
    )
    if assets is None:
        assets = {key: f"assets/{fname}" for key, fname in ASSET_NAMES.items()}
    body = _body(
        metrics,
        repo_id=repo_id,
        space_id=space_id,
        license=license,
        assets=assets,
        architecture=architecture,
        classifier=classifier,
        source_url=source_url,
    )
    return ModelCard(f"---\n{data.to_yaml()}\n---\n{body}")


# ---------------------------------------------------------------- folder I/O


def architecture_from_config(config_path) -> list[dict] | None:
    """Layer list (type + key settings) from a Keras 3 `config.json`; None if unreadable."""
    keep = ("filters", "kernel_size", "strides", "pool_size", "units", "rate", "activation", "momentum", "factor")
    try:
        config = json.loads(Path(config_path).read_text(encoding="utf-8"))
        layers = config["config"]["layers"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    rows = []
    for layer in layers:
        cfg = layer.get("config", {})
        if layer.get("class_name") == "InputLayer":
            settings = {"shape": cfg.get("batch_shape", [None])[1:]}
        else:
            settings = {k: cfg[k] for k in keep if k in cfg and cfg[k] not in (None, "linear")}
            if "strides" in settings and settings["strides"] in ([1, 1], settings.get("pool_size")):  # Keras defaults: noise
                settings.pop("strides")
        rows.append({"type": layer.get("class_name", "?"), "settings": settings})
    return rows


def write_model_card(
    folder,
    *,
    repo_id: str | None = None,
    space_id: str | None = None,
    metrics: dict | None = None,
    **kwargs,
) -> Path:
    """Render the card for a model folder into `folder/README.md` and return its path.

    Reads `metrics.json` (unless `metrics` is given), `classifier.json` and `config.json` from the folder, and
    embeds only the figures present under `assets/`. Safe to call again at push time with the final ids.
    """
    folder = Path(folder)
    if metrics is None:
        path = folder / METRICS_NAME
        if not path.is_file():
            raise CardError(f"{path} not found: write the model folder with train.py first, or pass metrics=")
        metrics = json.loads(path.read_text(encoding="utf-8"))
    if "classifier" not in kwargs and (folder / CLASSIFIER_NAME).is_file():
        kwargs["classifier"] = json.loads((folder / CLASSIFIER_NAME).read_text(encoding="utf-8"))
    if "architecture" not in kwargs:
        kwargs["architecture"] = architecture_from_config(folder / "config.json")
    if "assets" not in kwargs:
        kwargs["assets"] = {
            key: f"assets/{fname}" for key, fname in ASSET_NAMES.items() if (folder / "assets" / fname).is_file()
        }
    if "widget_examples" not in kwargs:
        kwargs["widget_examples"] = [
            p.relative_to(folder).as_posix() for p in sorted((folder / "assets" / "examples").glob("digit_*.png"))
        ]
    card = build_model_card(metrics, repo_id=repo_id, space_id=space_id, **kwargs)
    out = folder / CARD_NAME
    card.save(out)
    return out
