"""Inference benchmark: the `hub` package's predict path vs plain `model.predict` and a bare model call.

Why: the Space must feel instant. Targets (issue 7, 2-core CPU): one 800x800 RGBA sketch (preprocess + model)
median <= 5 ms; batches of 28x28 images >= 2000 img/s and within 1.3x of a bare call of the same Keras model.

    python benchmarks/inference.py                       # the release model, models/mnist-cnn
    python benchmarks/inference.py --model-dir DIR --tiny  # quick check (few repeats, small batch)

Prints a table and writes benchmarks/results/inference.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from hub.machine import describe, summary

ROOT = Path(__file__).resolve().parent.parent

RESULTS = ROOT / "benchmarks" / "results" / "inference.json"
TARGET_SINGLE_MS = 5.0
TARGET_BATCH_IPS = 2000.0
TARGET_BATCH_RATIO = 1.3


def sketch(size: int = 800, background=(255, 255, 255, 255)) -> Image.Image:
    """A '7' drawn like a sketchpad does: black strokes on an RGBA canvas.

    The default, an opaque white canvas, is what Gradio 6.31's Sketchpad composite is (and what the
    Space's Draw tab sends); `background=(0, 0, 0, 0)` gives a transparent canvas, as many HTML
    canvases and PNG exports have.
    """
    image = Image.new("RGBA", (size, size), background)
    draw = ImageDraw.Draw(image)
    s = size / 800
    draw.line([(220 * s, 180 * s), (580 * s, 180 * s), (360 * s, 640 * s)], fill=(0, 0, 0, 255),
              width=int(40 * s), joint="curve")
    draw.line([(300 * s, 400 * s), (500 * s, 400 * s)], fill=(0, 0, 0, 255), width=int(30 * s))
    return image


def timings(fn, repeats: int, warmup: int = 2) -> dict:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    ms = np.array(samples) * 1000
    return {"median_ms": float(np.median(ms)), "p95_ms": float(np.percentile(ms, 95)), "min_ms": float(ms.min()),
            "repeats": repeats}


def mnist_batch(n: int) -> tuple[np.ndarray, str]:
    try:
        from hub.data import load_mnist

        return load_mnist().x_test[:n], "MNIST test set"
    except Exception:  # no data available: MNIST-like random digits (same cost for the model)
        x = np.zeros((n, 28, 28), np.uint8)
        x[:, 4:24, 4:24] = np.random.default_rng(0).integers(0, 256, size=(n, 20, 20), dtype=np.uint8)
        return x, "random 28x28 uint8"


def tiny_model_folder() -> Path:
    """An untrained CNN in a temp folder, for --tiny runs without a trained model."""
    from hub.model import build_model
    from hub.model_folder import save_model

    return save_model(build_model("default"), Path(tempfile.mkdtemp(prefix="bench-model-")) / "mnist-cnn")


def run(model_dir: Path, tiny: bool) -> dict:
    import keras
    import tensorflow as tf

    from hub import preprocess
    from hub.classifier import MnistClassifier

    from hub.model_folder import load_keras_model

    clf = MnistClassifier.from_pretrained(model_dir)
    model = load_keras_model(model_dir)  # the same weights as plain Keras, for the reference rows
    single_repeats, predict_repeats, batch_repeats = (10, 3, 2) if tiny else (200, 30, 7)
    batch_size = 512 if tiny else 10000

    image = sketch()
    array = np.asarray(image)
    transparent = sketch(background=(0, 0, 0, 0))
    x1 = preprocess.to_model_batch([array])
    results: dict = {"single": {}, "batch": {}}
    for name, source in (("numpy", array), ("PIL", image), ("transparent", np.asarray(transparent))):
        results["single"][name] = {
            "MnistClassifier.predict": timings(lambda: clf.predict(source), single_repeats),
            "preprocess + model.predict": timings(
                lambda: model.predict(preprocess.to_model_batch([source]), verbose=0), predict_repeats),
            "preprocess + bare model call": timings(
                lambda: np.asarray(model(preprocess.to_model_batch([source]), training=False)), single_repeats),
        }
    results["single"]["parts"] = {
        "preprocess only (numpy)": timings(lambda: preprocess.to_model_batch([array]), single_repeats),
        "classifier model call only": timings(lambda: clf.predict_proba(x1), single_repeats),
    }

    x_uint8, data_name = mnist_batch(batch_size)
    x_float = preprocess.mnist_to_input(x_uint8)
    batch_cases = {
        "MnistClassifier.predict_proba": lambda: clf.predict_proba(x_uint8),
        "model.predict (batch_size=1024)": lambda: model.predict(x_float, batch_size=1024, verbose=0),
        "bare model call": lambda: np.asarray(model(x_float, training=False)),
    }
    for name, fn in batch_cases.items():
        t = timings(fn, batch_repeats, warmup=1)
        t["images_per_s"] = batch_size / (t["median_ms"] / 1000)
        results["batch"][name] = t

    single = results["single"]["numpy"]["MnistClassifier.predict"]["median_ms"]
    single_pil = results["single"]["PIL"]["MnistClassifier.predict"]["median_ms"]
    single_transparent = results["single"]["transparent"]["MnistClassifier.predict"]["median_ms"]
    ours = results["batch"]["MnistClassifier.predict_proba"]
    bare = results["batch"]["bare model call"]
    ratio = ours["median_ms"] / bare["median_ms"]
    results["targets"] = {
        "single_median_ms<=5 (numpy)": {"value": single, "met": single <= TARGET_SINGLE_MS},
        "single_median_ms<=5 (PIL)": {"value": single_pil, "met": single_pil <= TARGET_SINGLE_MS},
        "single_median_ms<=5 (transparent, numpy)": {"value": single_transparent,
                                                     "met": single_transparent <= TARGET_SINGLE_MS},
        "batch_images_per_s>=2000": {"value": ours["images_per_s"], "met": ours["images_per_s"] >= TARGET_BATCH_IPS},
        "batch_time_ratio_vs_bare<=1.3": {"value": ratio, "met": ratio <= TARGET_BATCH_RATIO},
    }
    results["setup"] = {
        "model_dir": str(model_dir), "params": int(model.count_params()), "tiny": tiny,
        "sketch": "800x800 RGBA, black on opaque white (Gradio's Sketchpad composite); "
                  "'transparent': the same strokes on a transparent canvas", "batch_size": batch_size, "batch_data": data_name,
        "machine": describe(),
        "software": {"tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__},
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    return results


def print_table(results: dict) -> None:
    print(f"machine: {summary(results['setup']['machine'])}")
    print(f"\nSingle image: {results['setup']['sketch']}; ms per image")
    print(f"  {'input':11} {'method':32} {'median':>8} {'p95':>8} {'x ours':>7}")
    for kind in ("numpy", "PIL", "transparent"):
        rows = results["single"][kind]
        ours = rows["MnistClassifier.predict"]["median_ms"]
        for name, t in rows.items():
            print(f"  {kind:11} {name:32} {t['median_ms']:8.2f} {t['p95_ms']:8.2f} {t['median_ms'] / ours:7.2f}")
    for name, t in results["single"]["parts"].items():
        print(f"  {'':11} {name:32} {t['median_ms']:8.2f} {t['p95_ms']:8.2f}")
    n = results["setup"]["batch_size"]
    print(f"\nBatch of {n} 28x28 images ({results['setup']['batch_data']})")
    print(f"  {'method':39} {'ms':>9} {'img/s':>9} {'x bare':>7}")
    bare = results["batch"]["bare model call"]["median_ms"]
    for name, t in results["batch"].items():
        print(f"  {name:39} {t['median_ms']:9.1f} {t['images_per_s']:9.0f} {t['median_ms'] / bare:7.2f}")
    print("\nTargets")
    for name, t in results["targets"].items():
        print(f"  {name:42} {t['value']:10.2f}  {'met' if t['met'] else 'NOT MET'}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models" / "mnist-cnn")
    parser.add_argument("--tiny", action="store_true", help="quick check: few repeats, small batch")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    model_dir = args.model_dir
    if not (model_dir / "classifier.json").is_file():
        if not args.tiny:
            print(f"error: no model folder at {model_dir}; train one (python train.py) or pass --model-dir.",
                  file=sys.stderr)
            return 1
        model_dir = tiny_model_folder()
    results = run(model_dir, args.tiny)
    print_table(results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
