"""Declining non-digits, two ways measured against each other: the model's extra class, an out-of-distribution
score on its features, and both.

Why: issue 11 offered both ways and asked to measure them before choosing; the app uses the extra class
("not_a_digit", trained on `hub.negatives`), declined at the calibrated P(not a digit) >= the folder's
decline_threshold. The alternative scored here is the Mahalanobis distance of the network's penultimate
features to the nearest digit class (`hub.feature_distance`: class means and one shared covariance, fitted on
training digits; Lee et al., 2018), declined above its 99.9th percentile on the validation digits, so neither
threshold looks at the sets below. The app declines by "either" (`hub.reading`) when the model folder carries
the distance (`feature_distance.npz`); this benchmark fits it afresh from the Keras files, the same way, so
that it also measures folders without one. The sets are the reading benchmark's (same seeds): MNIST test, its 3,000 single
digits per robustness style and its non-digits in the four number styles, each cropped by
`hub.preprocess.to_mnist` (the `/predict` path).

The ceilings at the end pick each method's thresholds on these very sets (the best share of non-digits
declined with at most 1% of the digits of any style and of MNIST test declined): what a method could give
at best, not an operating point.

Needs Keras (the `[train]` extras): the model's features come from its Keras files.

    python benchmarks/decline_methods.py [--model-dir models/mnist-cnn] [--samples 200] [--digit-samples 3000]

Prints a table, writes benchmarks/results/decline_methods.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from hub.classifier import MnistClassifier
from hub.data import load_mnist
from hub.feature_distance import fit_for_model
from hub.machine import describe, summary
from hub.model import with_features
from hub.model_folder import load_keras_model
from hub.preprocess import NoDigitError, mnist_to_input, to_mnist

if __package__:  # imported as benchmarks.decline_methods (the tests, from the repository root)
    from benchmarks.reading import NUMBER_CANVASES
    from benchmarks.render_negatives import make_benchmark_negatives
    from benchmarks.render_styles import STYLES
    from benchmarks.robustness import DIGITS_PER_STYLE, style_seed
else:  # run as a script: Python puts the script's folder on sys.path
    from reading import NUMBER_CANVASES
    from render_negatives import make_benchmark_negatives
    from render_styles import STYLES
    from robustness import DIGITS_PER_STYLE, style_seed

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DIGIT_BUDGET = 1.0  # % of digits (MNIST test and every style) a ceiling may decline


def crops(images, style: str, rng) -> np.ndarray:
    """Each image drawn in `style`, cropped to MNIST form (images where no ink is found are left out)."""
    out = []
    for image in images:
        try:
            out.append(to_mnist(STYLES[style](image, rng)))
        except NoDigitError:
            pass
    return np.stack(out)[..., None] if out else np.zeros((0, 28, 28, 1), np.float32)


def declined(scores: dict, rule) -> dict:
    return {name: round(float(np.mean(rule(*s))) * 100, 2) if len(s[0]) else 0.0 for name, s in scores.items()}


def ceiling(digit_sets: dict, negative: tuple, grid_a, grid_b, rule) -> dict:
    """The best % of non-digits declined over a threshold grid, with every digit set at most DIGIT_BUDGET%."""
    best = {"non_digits_pct": 0.0}
    for a in grid_a:
        for b in grid_b:
            worst = max(np.mean(rule(*s, a, b)) for s in digit_sets.values()) * 100
            if worst <= DIGIT_BUDGET:
                share = float(np.mean(rule(*negative, a, b))) * 100
                if share > best["non_digits_pct"]:
                    best = {"non_digits_pct": round(share, 1), "thresholds": [round(float(a), 4), round(float(b), 2)],
                            "worst_digit_set_pct": round(float(worst), 2)}
    return best


def run(model_dir: Path, samples: int, digit_samples: int, seed: int = 0) -> dict:
    started = time.perf_counter()
    clf = MnistClassifier.from_pretrained(model_dir)
    metrics = json.loads((Path(model_dir) / "metrics.json").read_text())
    keras_model = load_keras_model(model_dir)
    net = with_features(keras_model)

    def run_net(batch):
        features, _ = net.predict(batch, batch_size=1024, verbose=0)
        _, not_a_digit = clf.probabilities(batch)  # the classifier's own calibrated P(not a digit)
        return features.astype(np.float64), np.asarray(not_a_digit, np.float64)

    # Fitted on training digits of the model's own split, the threshold on its validation digits (as train.py).
    data = load_mnist()
    gaussians, fitted_on = fit_for_model(keras_model, data, metrics["hyperparameters"].get("validation_size", 5000),
                                         metrics["seed"])
    distance_threshold = gaussians.threshold

    def scores(batch):
        features, not_a_digit = run_net(batch)
        return not_a_digit, gaussians.distance(features)

    # The reading benchmark's sets, same seeds.
    digit_sets = {"mnist_test": scores(mnist_to_input(data.x_test))}
    index = np.random.default_rng(seed).choice(len(data.x_test), size=min(digit_samples, len(data.x_test)),
                                               replace=False)
    for style in STYLES:
        digit_sets[style] = scores(crops(data.x_test[index], style, np.random.default_rng([seed, style_seed(style)])))
    negatives, kinds, _ = make_benchmark_negatives(samples, seed)
    negative_parts, negative_kinds = [], []
    for style in NUMBER_CANVASES:
        rng = np.random.default_rng([seed, style_seed(style), 1])
        for image, kind in zip(negatives, kinds):
            try:
                negative_parts.append(to_mnist(STYLES[style](image, rng)))
                negative_kinds.append(kind)
            except NoDigitError:
                pass
    negative = scores(np.stack(negative_parts)[..., None])
    negative_kinds = np.array(negative_kinds)

    threshold = clf.decline_threshold
    rules = {
        "extra class": lambda q, d: q >= threshold,
        "feature distance": lambda q, d: d >= distance_threshold,
        "either": lambda q, d: (q >= threshold) | (d >= distance_threshold),
    }
    methods = {}
    for name, rule in rules.items():
        digits = declined(digit_sets, rule)
        styles = {k: v for k, v in digits.items() if k != "mnist_test"}
        worst = max(styles, key=styles.get)
        methods[name] = {
            "non_digits_pct": round(float(np.mean(rule(*negative))) * 100, 1),
            "by_kind": {k: round(float(np.mean(rule(negative[0][negative_kinds == k], negative[1][negative_kinds == k])))
                                 * 100, 1) for k in sorted(set(negative_kinds))},
            "mnist_test_pct": digits["mnist_test"], "styles_mean_pct": round(float(np.mean(list(styles.values()))), 2),
            "worst_style_pct": styles[worst], "worst_style": worst,
            "digits_declined_pct": digits,
        }
    q_grid = np.unique(np.concatenate([np.round(np.arange(0.05, 1.0, 0.025), 3), [threshold]]))
    all_d = np.concatenate([d for _, d in digit_sets.values()])
    d_grid = np.unique(np.quantile(all_d, np.linspace(0.95, 1.0, 41)))
    ceilings = {
        "extra class": ceiling(digit_sets, negative, q_grid, [np.inf], lambda q, d, a, b: q >= a),
        "feature distance": ceiling(digit_sets, negative, [np.inf], d_grid, lambda q, d, a, b: d >= b),
        "either": ceiling(digit_sets, negative, q_grid, d_grid, lambda q, d, a, b: (q >= a) | (d >= b)),
    }
    return {
        "model_dir": str(model_dir), "samples": samples, "digit_samples": int(len(index)), "seed": seed,
        "decline_threshold": threshold, "distance_threshold": round(distance_threshold, 3),
        "distance_fitted_on": fitted_on,
        "folder_distance_threshold": (clf.feature_distance.threshold if clf.feature_distance is not None else None),
        "non_digit_count": int(len(negative[0])),
        "methods": methods, "ceilings": ceilings,
        "machine": describe(), "seconds": round(time.perf_counter() - started, 1),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def print_table(result: dict) -> None:
    print(f"model: {result['model_dir']}   non-digits: {result['non_digit_count']}   "
          f"digits per style: {result['digit_samples']}")
    print(f"extra class: calibrated P(not a digit) >= {result['decline_threshold']}; feature distance: Mahalanobis "
          f">= {result['distance_threshold']} ({result['distance_fitted_on']})\n")
    kinds = list(next(iter(result["methods"].values()))["by_kind"])
    print(f"{'method':<18}{'non-digits %':>13}" + "".join(f"{k:>11}" for k in kinds)
          + f"{'MNIST test %':>14}{'styles mean %':>15}{'worst style %':>15}")
    for name, m in result["methods"].items():
        print(f"{name:<18}{m['non_digits_pct']:>13.1f}" + "".join(f"{m['by_kind'][k]:>11.1f}" for k in kinds)
              + f"{m['mnist_test_pct']:>14.2f}{m['styles_mean_pct']:>15.2f}{m['worst_style_pct']:>9.2f} "
              + f"{m['worst_style']}")
    print(f"\nCeilings (thresholds picked on these sets; every digit set <= {DIGIT_BUDGET:g}% declined):")
    for name, c in result["ceilings"].items():
        print(f"  {name:<18}{c['non_digits_pct']:>6.1f}% of non-digits"
              + (f"  (thresholds {c['thresholds']}, worst digit set {c['worst_digit_set_pct']}%)"
                 if "thresholds" in c else ""))
    print(f"\n{summary(result['machine'])}, {result['seconds']:.0f} s")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models" / "mnist-cnn")
    parser.add_argument("--samples", type=int, default=200, help="non-digits per style (default 200, as reading.py)")
    parser.add_argument("--digit-samples", type=int, default=DIGITS_PER_STYLE,
                        help=f"single digits per style (default {DIGITS_PER_STYLE}, as reading.py)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=RESULTS / "decline_methods.json")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    result = run(args.model_dir, args.samples, args.digit_samples, args.seed)
    print_table(result)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
