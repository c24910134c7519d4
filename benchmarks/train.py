"""Training benchmark: time to 99% test accuracy and final accuracy of our recipes against the
classic Keras `mnist_convnet` recipe, all trained in the same run on the same data split.

    python benchmarks/train.py                                  # classic, fast and default, one seed
    python benchmarks/train.py --recipes classic,fast,default:3 # and the default's spread over 3 seeds
    python benchmarks/train.py --tiny                           # a quick check that it runs

Test accuracy is measured after every epoch for reporting only (the recipes choose nothing by it);
the time spent measuring it is kept off the training clock. Prints a table, writes
benchmarks/results/train.json (or --output).

Seconds depend on the machine, so each recipe's fit time is also given in classic epochs: the
seconds of one epoch of the classic recipe in float32 over the same training images, measured
first in the same run (the second of two epochs, the first pays for tracing). That ratio can be
compared across machines (issue 14: the default run must cost at most 65 classic epochs).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from hub.data import load_mnist, split_validation  # noqa: E402
from hub.model import RECIPES  # noqa: E402
from hub.preprocess import mnist_to_input  # noqa: E402
from hub.training import train  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TARGET = 0.99


class TestAccuracyClock(keras.callbacks.Callback):
    """Test accuracy after each epoch, against training seconds that exclude this measuring."""

    def __init__(self, x_test, y_test):
        super().__init__()
        self.x_test, self.y_test = x_test, y_test

    def on_train_begin(self, logs=None):
        self.start, self.measuring, self.points = time.perf_counter(), 0.0, []

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        probabilities = self.model.predict(self.x_test, batch_size=1000, verbose=0)
        accuracy = float((probabilities.argmax(1) == self.y_test).mean())
        self.points.append((now - self.start - self.measuring, accuracy))
        self.measuring += time.perf_counter() - now


def training_images(recipe, data, seed, max_train_samples):
    (x_train, y_train), (x_val, y_val) = split_validation(data.x_train, data.y_train, recipe.validation_size, seed)
    return (x_train[:max_train_samples], y_train[:max_train_samples]), (x_val, y_val)


def classic_epoch_seconds(data, max_train_samples, verbose) -> float:
    """The yardstick: seconds of one steady epoch (the second of two) of the classic recipe in float32."""
    recipe = dataclasses.replace(RECIPES["classic"], epochs=2, precision="float32")
    (x_train, y_train), (x_val, y_val) = training_images(recipe, data, 0, max_train_samples)
    _, _, elapsed = train(recipe, mnist_to_input(x_train), y_train, mnist_to_input(x_val), y_val, seed=0,
                          verbose=verbose)
    return elapsed[1] - elapsed[0]


def run(recipe, data, seed, max_train_samples, verbose):
    (x_train, y_train), (x_val, y_val) = training_images(recipe, data, seed, max_train_samples)
    x_test = mnist_to_input(data.x_test)
    clock = TestAccuracyClock(x_test, data.y_test)
    model, history, _ = train(recipe, mnist_to_input(x_train), y_train, mnist_to_input(x_val), y_val,
                              seed=seed, verbose=verbose, callbacks=[clock])
    final = float((model.predict(x_test, batch_size=1000, verbose=0).argmax(1) == data.y_test).mean())
    reached = next(((t, e + 1) for e, (t, acc) in enumerate(clock.points) if acc >= TARGET), (None, None))
    return {
        "recipe": recipe.name, "seed": seed, "params": int(model.count_params()),
        "epochs_run": len(history["loss"]), "fit_seconds": round(clock.points[-1][0], 1),
        "seconds_to_99": None if reached[0] is None else round(reached[0], 1), "epochs_to_99": reached[1],
        "final_test_accuracy": final, "test_accuracy_per_epoch": [round(a, 4) for _, a in clock.points],
        "train_samples": len(x_train),
    }


def summarize(results, classic_epoch, reference="classic"):
    """One row per recipe: means over seeds, ratios against the reference recipe and the classic epoch."""
    rows = []
    by_recipe = {}
    for r in results:
        by_recipe.setdefault(r["recipe"], []).append(r)
    ref = by_recipe.get(reference)
    ref_t99 = statistics.median([r["seconds_to_99"] for r in ref]) if ref and all(
        r["seconds_to_99"] for r in ref) else None
    ref_acc = statistics.mean([r["final_test_accuracy"] for r in ref]) if ref else None
    for name, runs in by_recipe.items():
        accs = [r["final_test_accuracy"] for r in runs]
        t99 = [r["seconds_to_99"] for r in runs]
        row = {
            "recipe": name, "seeds": len(runs), "params": runs[0]["params"],
            "epochs": statistics.mean(r["epochs_run"] for r in runs),
            "fit_seconds": statistics.median(r["fit_seconds"] for r in runs),
            "fit_in_classic_epochs": statistics.median(r["fit_seconds"] for r in runs) / classic_epoch,
            "seconds_to_99": statistics.median(t99) if all(t is not None for t in t99) else None,
            "accuracy_mean": statistics.mean(accs),
            "accuracy_std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
            "accuracy_min": min(accs), "accuracy_max": max(accs),
        }
        row["time_to_99_vs_reference"] = (row["seconds_to_99"] / ref_t99
                                          if ref_t99 and row["seconds_to_99"] is not None else None)
        row["accuracy_vs_reference_points"] = (100 * (row["accuracy_mean"] - ref_acc)
                                               if ref_acc is not None else None)
        rows.append(row)
    return rows


def print_table(rows):
    def fmt(v, spec):
        return "—" if v is None else format(v, spec)

    print(f"\n{'recipe':<9} {'seeds':>5} {'params':>8} {'epochs':>6} {'fit s':>7} {'fit/c.ep':>8} {'s to 99%':>8} "
          f"{'test acc (mean ± sd)':>21} {'t99 / classic':>13} {'acc - classic':>13}")
    for r in rows:
        acc = f"{r['accuracy_mean']:.2%} ± {100 * r['accuracy_std']:.2f}"
        print(f"{r['recipe']:<9} {r['seeds']:>5} {r['params']:>8,} {r['epochs']:>6.1f} {r['fit_seconds']:>7.0f} "
              f"{r['fit_in_classic_epochs']:>8.1f} "
              f"{fmt(r['seconds_to_99'], '>8.0f')} {acc:>21} {fmt(r['time_to_99_vs_reference'], '>13.2f')} "
              f"{fmt(r['accuracy_vs_reference_points'], '>+12.2f')}{'' if r['accuracy_vs_reference_points'] is None else 'p'}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipes", default="classic,fast,default",
                        help="comma-separated recipe names, each with an optional :SEEDS (e.g. default:3)")
    parser.add_argument("--seeds", type=int, default=1, help="seeds (0, 1, ...) for recipes without :SEEDS")
    parser.add_argument("--max-train-samples", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None, help="override every recipe's epochs")
    parser.add_argument("--tiny", action="store_true", help="2,000 images, 1 epoch: checks that it runs")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "train.json")
    parser.add_argument("--verbose", type=int, default=2)
    args = parser.parse_args(argv)
    if args.tiny:
        args.max_train_samples, args.epochs, args.verbose = 2000, 1, 0

    data = load_mnist()
    print("== yardstick: the classic recipe in float32, 2 epochs", flush=True)
    classic_epoch = classic_epoch_seconds(data, args.max_train_samples, args.verbose)
    print(f"one classic epoch: {classic_epoch:.1f} s", flush=True)
    results = []
    for item in args.recipes.split(","):
        name, _, seeds = item.partition(":")
        recipe = RECIPES[name]
        if args.epochs:
            recipe = dataclasses.replace(recipe, epochs=args.epochs)
        for seed in range(int(seeds) if seeds else args.seeds):
            print(f"== {name}, seed {seed}", flush=True)
            results.append(run(recipe, data, seed, args.max_train_samples, args.verbose))
            print(json.dumps(results[-1]), flush=True)
    rows = summarize(results, classic_epoch)
    print_table(rows)
    print(f"fit/c.ep: whole fit time in epochs of the classic recipe in float32 ({classic_epoch:.1f} s here)")
    report = {
        "benchmark": "train", "target_accuracy": TARGET, "classic_epoch_seconds": round(classic_epoch, 4),
        "rows": rows, "runs": results,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "keras": keras.__version__},
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "argv": sys.argv[1:],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.output}")
    return report


if __name__ == "__main__":
    main()
