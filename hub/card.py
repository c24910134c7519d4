"""The model card (README.md of the model folder / Hub repo), rendered from the run's metrics.json.

The prose is a Markdown Jinja template (`model_card.md`, rendered by `huggingface_hub.ModelCard.from_template`);
this module turns a `RunMetrics` into the template's fields, every figure formatted once here, so the card always
describes the model it ships with. `write_model_card(folder, repo_id=..., space_id=...)` can be re-run at push
time, once the repo and Space ids are known: it fills in the widget URLs, the `hf://` snippets and the Space link.
`check_card(folder)` tells whether a folder's card still shows the figures of its metrics.json.

    python -m hub.card FOLDER [--repo-id ID] [--space-id ID]   # re-render a folder's card
    python -m hub.card FOLDER --check                          # exit 1 if its figures differ from metrics.json
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData, constants

from hub.metrics import RunMetrics
from hub.model_folder import (ASSET_NAMES, ASSETS_DIR, CARD_FILE, CLASSIFIER_CONFIG, CLASSIFIER_FILE, EXAMPLES_DIR,
                               READING_FILE)

TEMPLATE = Path(__file__).with_name("model_card.md")
DEFAULT_LICENSE = "cc-by-sa-3.0"
DATASET_ID = "ylecun/mnist"
TAGS = ["keras", "tensorflow", "tflite", "image-classification", "mnist", "digit-recognition"]
REPO_PLACEHOLDER = "<your-username>/mnist-cnn"
SPACE_PLACEHOLDER = "<your-username>/mnist-digits"
# Where `pip install "mnist-cnn-hub @ git+..."` fetches the package: set it once the project has a public URL.
SOURCE_URL = None
# The figures the card shows and where they sit in it (alt text of each plot).
IMAGE_ALT = {
    "training_curves": "Training curves: loss and accuracy per epoch, train vs. validation",
    "samples": "Random training images with their labels",
    "confusion_matrix": "Confusion matrix on the test set",
    "predictions": "Predictions on random test images, mistakes in red",
    "mistakes": "The most confident mistakes on the test set",
}
TRAINING_IMAGES = ("training_curves", "samples")
EXAMPLE_IMAGES = ("predictions", "mistakes")


class CardError(ValueError):
    """The card could not be rendered or does not match its metrics.json; the message says what to do."""


# ---------------------------------------------------------------- formatting


def _pct(x) -> str:
    return f"{float(x):.2%}"


def _num(x, digits=4) -> str:
    return f"{float(x):.{digits}f}"


def _duration(seconds) -> str:
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)} min {secs:.0f} s ({seconds:,.1f} s)"


def _size(n) -> str:
    return f"{int(n) / 1e6:.2f} MB ({int(n):,} bytes)"


def _value(v) -> str:
    if v is None:  # e.g. the classic recipe's batchnorm_momentum: it has no BatchNorm
        return "none"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (dict, list, tuple)):
        return f"`{json.dumps(v)}`"
    return f"`{v}`" if isinstance(v, str) else str(v)


def _per_class_rows(m: RunMetrics) -> list[dict]:
    cm = m.confusion_matrix

    def row(digit, entry, errors):
        return {"digit": digit, "precision": _num(entry["precision"]), "recall": _num(entry["recall"]),
                "f1": _num(entry["f1-score"]), "support": f"{int(entry['support']):,}", "errors": errors}

    rows = [row(digit, entry, f"{int(sum(cm[i])) - int(cm[i][i]):,}")
            for i, (digit, entry) in enumerate(sorted(m.per_class.items(), key=lambda kv: int(kv[0])))]
    return rows + [row("*macro avg*", m.macro_avg, ""), row("*weighted avg*", m.weighted_avg, "")]


def _top_confusions(cm, k: int = 5) -> str:
    pairs = [(cm[i][j], i, j) for i in range(len(cm)) for j in range(len(cm)) if i != j and cm[i][j] > 0]
    pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
    if not pairs:
        return "No test image was misclassified."
    items = [f"{i} read as {j}: {n:,}" for n, i, j in pairs[:k]]
    return "Most frequent confusions (true digit read as predicted digit: count): " + "; ".join(items) + "."


def _calibration(c: dict | None) -> dict | None:
    if not c:
        return None
    return {"temperature": f"{c['temperature']:.3f}", "bins": c.get("ece_bins", 15),
            "test_ece_before": _pct(c["test_ece_before"]), "test_ece_after": _pct(c["test_ece_after"])}


def _not_a_digit(d: dict | None) -> dict | None:
    if not d:
        return None
    return {"threshold": f"{d['threshold']:g}", "test_digits_declined": _pct(d["test_digits_declined"]),
            "val_non_digits_declined": _pct(d["val_non_digits_declined"])}


def _feature_distance(classifier: dict | None, not_a_digit: dict | None) -> dict | None:
    """classifier.json's feature-distance block (threshold, how it was fitted) and, when train.py measured them,
    its figures on this run."""
    block = (classifier or {}).get("feature_distance")
    if not block:
        return None
    measured = (not_a_digit or {}).get("feature_distance") or {}
    return {"threshold": f"{float(block['threshold']):.2f}", "fitted_on": block.get("fitted_on", ""),
            **{k: _pct(v) for k, v in measured.items() if k != "threshold"}}


def _initialized_from(start: dict | None) -> dict | None:
    if not start:
        return None
    return {**start, "accuracy": _pct(start["test_accuracy"]), "train_time": _duration(start["train_seconds"])}


def _reading(r: dict | None) -> dict | None:
    """The reading benchmark's summary (benchmarks/reading.py --update-card), formatted for the card."""
    if not r:
        return None

    def row(name, v):
        return {"name": name, "count": f"{int(v['count']):,}", "accuracy": f"{v['accuracy_pct']:.2f}%",
                "declined": f"{v['declined_pct']:.2f}%", "ece_before": f"{v['ece_before_pct']:.2f}%",
                "ece_after": f"{v['ece_after_pct']:.2f}%",
                "ece_floor": f"{v['ece_floor_pct']:.2f}%" if v.get("ece_floor_pct") is not None else "-"}

    nd = r["non_digits"]
    return {"date": r["date"], "machine": r["machine"], "command": r["command"],
            "digit_samples": f"{int(r['digit_samples']):,}", "threshold": f"{r['decline_threshold']:g}",
            "rows": [row("MNIST test (clean)", r["mnist_test"])]
            + [row(name.replace("_", " "), v) for name, v in r["styles"].items()],
            "non_digits": {"count": f"{int(nd['count']):,}", "declined": f"{nd['declined_pct']:.1f}%",
                           "by_kind": ", ".join(f"{k} {v:.0f}%" for k, v in nd["by_kind"].items())},
            "numbers": ", ".join(f"{n} digits {v:.1f}%" for n, v in r["spaced_numbers_exact_pct"].items()),
            "number_samples": f"{int(r['number_samples']):,}",
            "touching": f"{r['touching_pairs_exact_pct']:.1f}%",
            "touching_declined": (f"{r['touching_pairs_declined_pct']:.1f}%"
                                  if r.get("touching_pairs_declined_pct") is not None else None)}


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


def build_card_data(metrics: RunMetrics, *, repo_id: str | None = None, license: str = DEFAULT_LICENSE,
                    widget_examples: list[str] | None = None, endpoint: str | None = None,
                    revision: str = "main") -> ModelCardData:
    """YAML metadata: library, license, tags, dataset, pipeline tag and a model-index holding the test accuracy."""
    endpoint = (endpoint or constants.ENDPOINT).rstrip("/")
    widget = _widget(repo_id, widget_examples, endpoint, revision)
    return ModelCardData(
        library_name="keras",
        license=license,
        tags=list(TAGS),
        datasets=[DATASET_ID],
        metrics=["accuracy"],
        pipeline_tag="image-classification",
        model_name=repo_id.split("/")[-1] if repo_id else "mnist-cnn",
        eval_results=[EvalResult(
            task_type="image-classification", task_name="Image Classification", dataset_type=DATASET_ID,
            dataset_name="MNIST", dataset_split="test", metric_type="accuracy", metric_name="Test accuracy",
            metric_value=float(metrics.test_accuracy),
        )],
        **({"widget": widget} if widget else {}),
    )


# ---------------------------------------------------------------- the card


def template_fields(metrics: RunMetrics, *, repo_id=None, space_id=None, license=DEFAULT_LICENSE, assets=None,
                    architecture=None, classifier=None, source_url=None, reading=None) -> dict:
    """Everything `model_card.md` shows, formatted: the one place a figure of the run becomes text."""
    m = metrics
    cm = m.confusion_matrix
    inp = {**CLASSIFIER_CONFIG["input"], **((classifier or {}).get("input") or {})}
    assets = {key: f"{ASSETS_DIR}/{name}" for key, name in ASSET_NAMES.items()} if assets is None else assets

    def images(names):
        return [{"path": assets[name], "alt": IMAGE_ALT[name]} for name in names if name in assets]

    return {
        "name": repo_id.split("/")[-1] if repo_id else "mnist-cnn",
        "repo_id": repo_id,
        "repo": repo_id or REPO_PLACEHOLDER,
        "space_id": space_id,
        "space": space_id or SPACE_PLACEHOLDER,
        "space_url": f"https://huggingface.co/spaces/{space_id}" if space_id else None,
        "source_url": source_url or SOURCE_URL,  # None: the card says `pip install .` in a clone
        "source": f"[its source repository]({source_url or SOURCE_URL})" if source_url or SOURCE_URL
        else "its source repository (the Space bundles it too)",
        "license": license,
        "dataset_id": DATASET_ID,
        "input": inp,
        "preprocessing": {**CLASSIFIER_CONFIG["preprocessing"], **((classifier or {}).get("preprocessing") or {})},
        "shape": ", ".join(str(s) for s in inp["shape"]),
        # the run's figures
        "accuracy": _pct(m.test_accuracy),
        "test_loss": _num(m.test_loss),
        "test_samples": f"{int(m.test_samples):,}",
        "errors": f"{int(sum(map(sum, cm)) - sum(cm[i][i] for i in range(len(cm)))):,}",
        "params": f"{int(m.params):,}",
        "model_size": _size(m.model_bytes),
        "tflite_size": _size(m.tflite_bytes) if m.tflite_bytes is not None else None,
        "tflite_max_abs_diff": f"{m.tflite_max_abs_diff:.2g}" if m.tflite_max_abs_diff is not None else None,
        "train_samples": f"{int(m.train_samples):,}",
        "val_samples": f"{int(m.val_samples):,}",
        "val_accuracy": _pct(m.val_accuracy),
        "preset": m.preset,
        "seed": m.seed,
        "epochs_run": f"{int(m.epochs_run):,}",
        "best_epoch": m.best_epoch,
        "train_time": _duration(m.train_seconds),
        "total_time": _duration(m.total_seconds),
        "hardware": m.hardware,
        "software": ", ".join(f"{k} {v}" for k, v in m.software.items()) or "not recorded",
        "date": m.date,
        "hyperparameters": [(k, _value(v)) for k, v in m.hyperparameters.items()],
        "architecture": [{"type": layer["type"],
                          "settings": ", ".join(f"{k}={_value(v)}" for k, v in layer.get("settings", {}).items())}
                         for layer in architecture or []],
        "calibration": _calibration(m.calibration),
        "not_a_digit": _not_a_digit(m.not_a_digit),
        "feature_distance": _feature_distance(classifier, m.not_a_digit),
        "reading": _reading(reading),
        "non_digit_samples": f"{int(m.non_digit_samples['train']):,}" if m.non_digit_samples else None,
        "drawn_digit_samples": f"{int(m.drawn_digit_samples['train']):,}" if m.drawn_digit_samples else None,
        "touching_pairs": f"{int(m.non_digit_samples['touching_pairs']['train']):,}"
        if m.non_digit_samples and "touching_pairs" in m.non_digit_samples else None,
        "initialized_from": _initialized_from(m.initialized_from),
        "members": [{"name": member["name"], "seed": member["seed"], "accuracy": _pct(member["test_accuracy"])}
                    for member in m.members or []],
        "per_class": _per_class_rows(m),
        "top_confusions": _top_confusions(cm),
        "training_images": images(TRAINING_IMAGES),
        "confusion_images": images(["confusion_matrix"]),
        "example_images": images(EXAMPLE_IMAGES),
    }


def build_model_card(metrics: RunMetrics, *, repo_id: str | None = None, space_id: str | None = None,
                     license: str = DEFAULT_LICENSE, assets: dict[str, str] | None = None,
                     widget_examples: list[str] | None = None, architecture: list[dict] | None = None,
                     classifier: dict | None = None, source_url: str | None = None, endpoint: str | None = None,
                     revision: str = "main", reading: dict | None = None) -> ModelCard:
    """Model card for a run: YAML metadata + the template's prose, every figure taken from `metrics`.

    `assets` maps figure names (hub.model_folder.ASSET_NAMES) to relative paths to embed (default: all, under
    assets/); `widget_examples` are repo-relative image paths for the Hub widget (used only with a repo_id,
    as the widget needs absolute URLs). Without repo_id/space_id the snippets show placeholders. `reading` is the
    summary `benchmarks/reading.py --update-card` writes (the card then shows how it reads drawings and photos).
    """
    if not isinstance(metrics, RunMetrics):
        raise CardError(f"metrics must be a hub.metrics.RunMetrics (read one with RunMetrics.read(folder)), "
                        f"got {type(metrics).__name__}")
    data = build_card_data(metrics, repo_id=repo_id, license=license, widget_examples=widget_examples,
                           endpoint=endpoint, revision=revision)
    fields = template_fields(metrics, repo_id=repo_id, space_id=space_id, license=license, assets=assets,
                             architecture=architecture, classifier=classifier, source_url=source_url,
                             reading=reading)
    return ModelCard.from_template(data, template_path=str(TEMPLATE), **fields)


# ---------------------------------------------------------------- folder I/O


def architecture_from_config(config_path) -> list[dict] | None:
    """Layer list (type + key settings) from a Keras 3 `config.json`; None if unreadable."""
    try:
        config = json.loads(Path(config_path).read_text(encoding="utf-8"))
        layers = config["config"]["layers"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    members = [layer for layer in layers if layer.get("class_name") in ("Functional", "Model")]
    if members:  # an ensemble (hub.model.build_ensemble): the first member's layers, then the averaging
        rows = _layer_rows(members[0].get("config", {}).get("layers", []))
        rows.append({"type": f"Average of the {len(members)} members' probabilities", "settings": {}})
        return rows
    return _layer_rows(layers)


def _layer_rows(layers) -> list[dict]:
    keep = ("filters", "kernel_size", "strides", "pool_size", "units", "rate", "activation", "momentum", "factor")
    rows = []
    for layer in layers:
        cfg = layer.get("config", {})
        if layer.get("class_name") == "InputLayer":
            settings = {"shape": cfg.get("batch_shape", [None])[1:]}
        else:
            settings = {k: cfg[k] for k in keep if k in cfg and cfg[k] not in (None, "linear")}
            if "strides" in settings and settings["strides"] in ([1, 1], settings.get("pool_size")):  # defaults
                settings.pop("strides")
        rows.append({"type": layer.get("class_name", "?"), "settings": settings})
    return rows


def render_folder_card(folder, *, repo_id: str | None = None, space_id: str | None = None, **kwargs) -> ModelCard:
    """The card for a model folder, from its metrics.json, classifier.json, config.json, reading.json (if there)
    and the plots present."""
    folder = Path(folder)
    metrics = RunMetrics.read(folder)
    if "classifier" not in kwargs and (folder / CLASSIFIER_FILE).is_file():
        kwargs["classifier"] = json.loads((folder / CLASSIFIER_FILE).read_text(encoding="utf-8"))
    if "reading" not in kwargs and (folder / READING_FILE).is_file():
        kwargs["reading"] = json.loads((folder / READING_FILE).read_text(encoding="utf-8"))
    if "architecture" not in kwargs:
        kwargs["architecture"] = architecture_from_config(folder / "config.json")
    if "assets" not in kwargs:
        kwargs["assets"] = {key: f"{ASSETS_DIR}/{name}" for key, name in ASSET_NAMES.items()
                            if (folder / ASSETS_DIR / name).is_file()}
    if "widget_examples" not in kwargs:
        kwargs["widget_examples"] = [p.relative_to(folder).as_posix()
                                     for p in sorted((folder / ASSETS_DIR / EXAMPLES_DIR).glob("digit_*.png"))]
    return build_model_card(metrics, repo_id=repo_id, space_id=space_id, **kwargs)


def write_model_card(folder, *, repo_id: str | None = None, space_id: str | None = None, **kwargs) -> Path:
    """Render the card for a model folder into `folder/README.md` and return its path.

    Safe to call again at push time with the final ids.
    """
    out = Path(folder) / CARD_FILE
    render_folder_card(folder, repo_id=repo_id, space_id=space_id, **kwargs).save(out)
    return out


def check_card(folder) -> list[str]:
    """The ways a folder's README.md disagrees with its metrics.json (empty: the card shows this run's figures).

    Compares the model-index accuracy, and every line of a fresh rendering that carries a number (except lines
    naming the repo or Space, which depend on where the card was published) with the card on disk.
    """
    folder = Path(folder)
    path = folder / CARD_FILE
    if not path.is_file():
        return [f"{path} does not exist"]
    card = ModelCard.load(path)
    fresh = render_folder_card(folder)
    problems = []
    results = card.data.eval_results or []
    expected = fresh.data.eval_results[0].metric_value
    if [r.metric_value for r in results] != [expected]:
        problems.append(f"model-index accuracy is {[r.metric_value for r in results]}, metrics.json says {expected}")
    have = set(card.text.splitlines())
    for line in fresh.text.splitlines():
        if re.search(r"\d", line) and REPO_PLACEHOLDER not in line and SPACE_PLACEHOLDER not in line \
                and line not in have:
            problems.append(f"missing or different: {line.strip()}")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hub.card",
                                     description="Re-render a model folder's card from its metrics.json, or check it.")
    parser.add_argument("folder", type=Path, help="model folder written by train.py")
    parser.add_argument("--repo-id", help="the Hub repo the folder is published under (for the snippets)")
    parser.add_argument("--space-id", help="the Space that serves it, linked from the card")
    parser.add_argument("--check", action="store_true", help="only check that the card's figures match metrics.json")
    args = parser.parse_args(argv)
    if args.check:
        problems = check_card(args.folder)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print(f"{args.folder / CARD_FILE} does not match {args.folder}/metrics.json; re-render it with "
                  f"python -m hub.card {args.folder}", file=sys.stderr)
        return 1 if problems else 0
    print(write_model_card(args.folder, repo_id=args.repo_id, space_id=args.space_id))
    return 0


if __name__ == "__main__":
    sys.exit(main())
