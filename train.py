"""Train a CNN on MNIST, evaluate it on the 10,000 test images, and write a Hub-ready model folder.

    python train.py                           # the default recipe (about 99.5% in minutes on a CPU)
    python train.py --preset fast             # 99% in a few minutes
    python train.py --preset best             # three default networks averaged in one model (3x the default)
    python train.py --push-to-hub you/mnist-cnn

Reads top to bottom: data, samples plot, model, training, evaluation, plots, model folder, push.
The work is done by the `hub` package, which the Gradio Space shares.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

# ----------------------------------------------------------------------------- configuration
PRESETS = ("default", "fast", "best", "classic")
DEFAULT_OUTPUT_DIR = Path("outputs") / "mnist-cnn"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Train a CNN on MNIST and write a Hub-ready model folder (model, card, plots, metrics).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--preset", choices=PRESETS, default="default",
                        help="training recipe (see hub/model.py): default = accurate in minutes, fast = 99%% in a few "
                             "minutes, best = three default networks averaged, "
                             "classic = the Keras mnist_convnet example")
    parser.add_argument("--epochs", type=_positive_int, help="epochs (default: the preset's)")
    parser.add_argument("--batch-size", type=_positive_int, help="batch size (default: the preset's)")
    parser.add_argument("--learning-rate", type=float, help="peak learning rate for Adam (default: the preset's)")
    parser.add_argument("--seed", type=int, default=42, help="random seed for the split, the weights and the batches")
    parser.add_argument("--validation-size", type=_positive_int,
                        help="training images held out for validation (default: the preset's, 5000)")
    parser.add_argument("--max-train-samples", type=_positive_int,
                        help="train on at most N images (quick checks and tests); validation and test sets stay")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder with the four gzipped MNIST IDX files and SHA256SUMS.uncompressed "
                             "(default: the copy in data/mnist)")
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR, help="where the model folder goes")
    parser.add_argument("--init-from", type=Path, metavar="FOLDER",
                        help="fine-tune: start from this model folder's weights (same network as the preset's) "
                             "instead of random ones; give a lower --learning-rate and fewer --epochs")
    parser.add_argument("--push-to-hub", metavar="REPO_ID",
                        help="after training, upload the model folder to this Hub model repo (e.g. you/mnist-cnn); "
                             "the token comes from HF_TOKEN or `hf auth login`")
    parser.add_argument("--private", action="store_true", help="with --push-to-hub: create the repo as private")
    parser.add_argument("--revision", help="with --push-to-hub: branch to push to (created if missing)")
    parser.add_argument("--space-id", help="the Space that serves this model, linked from the model card")
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=None,
                        help="Keras progress output: 1 = progress bar, 2 = one line per epoch (default: auto)")
    args = parser.parse_args(argv)
    if (args.private or args.revision) and not args.push_to_hub:
        parser.error("--private and --revision only make sense with --push-to-hub REPO_ID")
    if args.push_to_hub and args.push_to_hub.count("/") != 1:
        parser.error(f"--push-to-hub takes a repo id like 'your-name/mnist-cnn', got {args.push_to_hub!r}")
    if args.learning_rate is not None and not 0 < args.learning_rate < 1:
        parser.error(f"--learning-rate must be between 0 and 1, got {args.learning_rate}")
    if args.init_from is not None and args.init_from.resolve() == args.output_dir.resolve():
        parser.error("--init-from and --output-dir must differ: the new folder would overwrite the weights it starts "
                     "from while training")
    return args


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {value}")
    return value


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's C++ start-up chatter
    started = time.perf_counter()

    # Imported after argument parsing so that --help and argument errors answer at once.
    import dataclasses

    import keras
    import numpy as np
    import tensorflow as tf
    from sklearn.metrics import classification_report

    from hub import calibration, card, data, evaluate, feature_distance, hub_io, model_folder, negatives, plots
    from hub.metrics import MetricsError, RunMetrics
    from hub.model import RECIPES, build_model, ensemble_members, with_features
    from hub.preprocess import mnist_to_input
    from hub.training import adapt_to_run_length, kept_epoch, precision_policy, train

    # Fail before training, not after, if the push could not succeed.
    if args.push_to_hub:
        try:
            user = hub_io.check_token(args.push_to_hub)
        except hub_io.HubError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"Hub token OK (user {user}); will push to {args.push_to_hub} after training.")

    recipe = RECIPES[args.preset]
    initial = None
    if args.init_from is not None:  # fine-tuning: the starting weights, and where they came from
        try:
            initial = model_folder.load_keras_model(args.init_from)
            start = RunMetrics.read(args.init_from)
        except (OSError, ValueError, MetricsError) as err:
            print(f"error: --init-from {args.init_from}: {err}", file=sys.stderr)
            return 2
        if recipe.members > 1 or ensemble_members(initial):
            print(f"error: --init-from {args.init_from}: fine-tuning works on one network, not on an ensemble "
                  f"(the 'best' preset)", file=sys.stderr)
            return 2
        if _shapes(initial) != _shapes(build_model(recipe.architecture)):
            print(f"error: --init-from {args.init_from}: its network is not the '{recipe.name}' preset's; fine-tune "
                  f"with the preset it was trained with (it was: '{start.preset}')", file=sys.stderr)
            return 2
        initialized_from = {"folder": str(args.init_from), "test_accuracy": start.test_accuracy,
                            "preset": start.preset, "seed": start.seed, "date": start.date,
                            "hardware": start.hardware, "train_seconds": start.train_seconds}
        print(f"Fine-tuning from {args.init_from} ({start.preset} recipe, seed {start.seed}, "
              f"{start.test_accuracy:.2%}, {start.date})")
    overrides = {"epochs": args.epochs, "batch_size": args.batch_size, "learning_rate": args.learning_rate,
                 "validation_size": args.validation_size}
    recipe = dataclasses.replace(recipe, **{k: v for k, v in overrides.items() if v is not None})

    # ------------------------------------------------------------------------- data
    try:
        mnist = data.load_mnist(args.data_dir)
    except data.DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        (x_train, y_train), (x_val, y_val) = data.split_validation(
            mnist.x_train, mnist.y_train, recipe.validation_size, args.seed)
    except ValueError as err:
        print(f"error: --validation-size: {err} (the training set has {len(mnist.x_train):,} images)",
              file=sys.stderr)
        return 2
    if args.max_train_samples and args.max_train_samples < len(x_train):
        x_train, y_train = x_train[: args.max_train_samples], y_train[: args.max_train_samples]
    recipe = adapt_to_run_length(recipe, len(x_train))  # a quick run's changes, recorded in metrics.json
    print(f"MNIST from {mnist.source}: {len(x_train):,} training, {len(x_val):,} validation "
          f"(held out from the training set), {len(mnist.x_test):,} test images")
    # The 11th class: drawn letters, scribbles, shapes and doodles, one for every NEGATIVES_PER digits.
    # A share of the digits is redrawn the way users draw (pen, thumbnail), so that "drawn" does not mean
    # "not a digit". Validation gets its own of both, from another seed; the test set stays MNIST's 10,000 digits.
    drawing_started = time.perf_counter()
    (x_train, drawn_train), neg_train, neg_val, (x_val, drawn_val) = _draw_on_every_core(x_train, x_val, args.seed)
    # Two digits of the same split written so close that they touch are no one digit either (hub.negatives).
    pairs_train = negatives.make_touching_pairs(x_train, len(x_train) // PAIRS_PER, args.seed + 2)
    pairs_val = negatives.make_touching_pairs(x_val, len(x_val) // PAIRS_PER, args.seed + 3)
    neg_train, neg_val = np.concatenate([neg_train, pairs_train]), np.concatenate([neg_val, pairs_val])
    print(f"Non-digits (class '{model_folder.NOT_A_DIGIT}'): {len(neg_train):,} training, {len(neg_val):,} "
          f"validation (of them touching pairs of digits: {len(pairs_train):,} and {len(pairs_val):,}); digits "
          f"redrawn like users' drawings: {drawn_train:,} training, {drawn_val:,} validation "
          f"({time.perf_counter() - drawing_started:.0f} s)")

    output_dir = args.output_dir
    assets = output_dir / model_folder.ASSETS_DIR
    assets.mkdir(parents=True, exist_ok=True)
    plots.plot_samples(x_train, y_train, assets / model_folder.ASSET_NAMES["samples"], seed=args.seed)

    # ------------------------------------------------------------------------- model and training
    print(f"\nRecipe '{recipe.name}': {recipe.description}")
    print(f"  {recipe.epochs} epochs, batch {recipe.batch_size}, Adam peak lr {recipe.learning_rate}, "
          f"{recipe.schedule} schedule, augmentation {recipe.augment or 'none'}, "
          f"{precision_policy(recipe.precision)} compute")
    train_started = time.perf_counter()
    x_fit, y_fit = _with_negatives(mnist_to_input(x_train), y_train, mnist_to_input(neg_train))
    x_val_all, y_val_all = _with_negatives(mnist_to_input(x_val), y_val, mnist_to_input(neg_val))
    model, history, epoch_seconds = train(
        recipe, x_fit, y_fit, x_val_all, y_val_all, seed=args.seed,
        verbose="auto" if args.verbose is None else args.verbose,
        initial_weights=None if initial is None else initial.get_weights())
    train_seconds = time.perf_counter() - train_started
    model.summary()

    # ------------------------------------------------------------------------- evaluation
    x_test = mnist_to_input(mnist.x_test)
    result = evaluate.evaluate(model, x_test, mnist.y_test)
    best_epoch = kept_epoch(recipe, history)
    print(f"\nTest accuracy {result.metrics['test_accuracy']:.2%}, loss {result.metrics['test_loss']:.4f} "
          f"on {len(x_test):,} images")
    print(classification_report(result.labels, result.predictions, digits=4))
    members = [{"name": member.name, "seed": args.seed + i,
                "test_accuracy": evaluate.evaluate(member, x_test, mnist.y_test).metrics["test_accuracy"]}
               for i, member in enumerate(ensemble_members(model))]
    if members:
        print(f"The {len(members)} members alone: " + ", ".join(
            f"{m['test_accuracy']:.2%} (seed {m['seed']})" for m in members) + "; averaged: "
            f"{result.metrics['test_accuracy']:.2%}")

    # ------------------------------------------------------------------------- calibration
    # One temperature, fitted on the validation split (digits and non-digits), never on the test set.
    val_outputs = evaluate.predict_proba(model, x_val_all)
    val_accuracy = float(np.mean(val_outputs.argmax(1) == y_val_all))  # digits and non-digits, the kept weights
    temperature = calibration.fit_temperature(val_outputs, y_val_all)
    test_calibrated = calibration.apply_temperature(result.outputs, temperature)
    val_calibrated = calibration.apply_temperature(val_outputs, temperature)
    val_digits = y_val_all < model_folder.NOT_A_DIGIT_INDEX
    threshold = model_folder.DEFAULT_DECLINE_THRESHOLD

    def ece(outputs, labels):
        return round(calibration.expected_calibration_error(evaluate.digit_probabilities(outputs), labels), 5)

    def declined(outputs):
        return round(float(np.mean(evaluate.not_a_digit_probability(outputs) >= threshold)), 5)

    calibration_metrics = {
        "method": "temperature scaling, fitted on the validation split (digits and non-digits)",
        "temperature": round(temperature, 4),
        "ece_bins": calibration.ECE_BINS,
        "test_ece_before": ece(result.outputs, result.labels),
        "test_ece_after": ece(test_calibrated, result.labels),
        "val_ece_before": ece(val_outputs[val_digits], y_val_all[val_digits]),
        "val_ece_after": ece(val_calibrated[val_digits], y_val_all[val_digits]),
    }
    decline_metrics = {
        "threshold": threshold,
        "test_digits_declined": declined(test_calibrated),
        "val_digits_declined": declined(val_calibrated[val_digits]),
        "val_non_digits_declined": declined(val_calibrated[~val_digits]),
    }
    print(f"Calibration: temperature {temperature:.3f}; expected calibration error on the test set "
          f"{calibration_metrics['test_ece_before']:.2%} -> {calibration_metrics['test_ece_after']:.2%}")
    print(f"Not a digit (P >= {threshold}): {decline_metrics['test_digits_declined']:.2%} of test digits declined, "
          f"{decline_metrics['val_non_digits_declined']:.2%} of validation non-digits")

    # ------------------------------------------------------------------------- feature distance
    # How unlike every training digit an image is (hub.feature_distance): the reader declines a symbol when the
    # not_a_digit class or this distance says so. Fitted on training digits, its threshold on validation digits.
    distance, distance_fitted_on = feature_distance.fit_for_model(model, mnist, recipe.validation_size, args.seed)
    features = with_features(model)
    test_far = distance.is_far(features.predict(x_test, batch_size=1024, verbose=0)[0])
    val_far = distance.is_far(features.predict(x_val_all, batch_size=1024, verbose=0)[0])
    either = val_far | (evaluate.not_a_digit_probability(val_calibrated) >= threshold)
    decline_metrics["feature_distance"] = {
        "threshold": round(distance.threshold, 3),
        "test_digits_declined": round(float(np.mean(test_far)), 5),
        "val_non_digits_declined": round(float(np.mean(val_far[~val_digits])), 5),
        "val_non_digits_declined_either": round(float(np.mean(either[~val_digits])), 5),
    }
    print(f"Unlike any digit (feature distance >= {distance.threshold:.2f}): {np.mean(test_far):.2%} of test digits, "
          f"{np.mean(val_far[~val_digits]):.2%} of validation non-digits; either way: "
          f"{np.mean(either[~val_digits]):.2%} of validation non-digits declined")

    figure = {name: assets / file_name for name, file_name in model_folder.ASSET_NAMES.items()}
    plots.plot_training_curves(history, figure["training_curves"])
    plots.plot_confusion_matrix(result.metrics["confusion_matrix"], figure["confusion_matrix"])
    plots.plot_predictions(x_test, result.labels, result.probabilities, figure["predictions"], seed=args.seed)
    plots.plot_mistakes(x_test, result.labels, result.probabilities, figure["mistakes"])
    plots.save_digit_examples(mnist.x_test, mnist.y_test, assets / model_folder.EXAMPLES_DIR, seed=args.seed)

    # ------------------------------------------------------------------------- model folder
    config = model_folder.classifier_config(temperature, fitted_on=f"validation split ({len(x_val_all):,} images)",
                                            decline_threshold=threshold)
    config["feature_distance"] = distance.config(distance_fitted_on)
    model_folder.save_model(model, output_dir, config)  # the Keras files, model.tflite, classifier.json
    distance.save(output_dir)
    try:  # the LiteRT file is what MnistClassifier runs: it must answer like the model we just evaluated
        tflite_max_abs_diff = model_folder.check_tflite(output_dir, x_test, result.outputs)
    except model_folder.LiteRTMismatchError as err:
        print(f"\nerror: {err}", file=sys.stderr)
        return 1
    print(f"{model_folder.TFLITE_FILE}: same digit as Keras on all {len(x_test):,} test images, largest "
          f"probability difference {tflite_max_abs_diff:.2g}")
    metrics = RunMetrics(
        **result.metrics,
        val_accuracy=val_accuracy,
        members=members or None,
        val_samples=len(x_val),
        train_samples=len(x_train),
        non_digit_samples={"train": len(neg_train) - len(pairs_train), "val": len(neg_val) - len(pairs_val),
                           "touching_pairs": {"train": len(pairs_train), "val": len(pairs_val)}},
        initialized_from=None if initial is None else initialized_from,
        drawn_digit_samples={"train": drawn_train, "val": drawn_val},
        calibration=calibration_metrics,
        not_a_digit=decline_metrics,
        epochs_run=len(history["loss"]),
        best_epoch=best_epoch + 1,
        epoch_seconds=[round(s, 2) for s in epoch_seconds],
        train_seconds=round(train_seconds, 2),
        total_seconds=round(time.perf_counter() - started, 2),  # everything but writing the card
        history={k: [float(v) for v in vs] for k, vs in history.items()},
        hyperparameters={**recipe.as_dict(), "seed": args.seed, "optimizer": "Adam",
                         "loss": "categorical_crossentropy", "dtype_policy": precision_policy(recipe.precision)},
        preset=recipe.name,
        seed=args.seed,
        data_source=mnist.source,
        params=int(model.count_params()),
        model_bytes=model_folder.model_bytes(output_dir),
        tflite_bytes=(output_dir / model_folder.TFLITE_FILE).stat().st_size,
        tflite_max_abs_diff=tflite_max_abs_diff,
        hardware=_hardware(),
        software={"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__},
        date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    )
    metrics.write(output_dir)
    card.write_model_card(output_dir, repo_id=args.push_to_hub, space_id=args.space_id)

    print(f"\nDone in {metrics.total_seconds:.0f} s (training {train_seconds:.0f} s, "
          f"{metrics.epochs_run} epochs, best epoch {best_epoch + 1}).")
    print(f"  test accuracy   {metrics.test_accuracy:.2%} ({len(x_test):,} images)")
    print(f"  parameters      {metrics.params:,} ({metrics.model_bytes / 1e6:.1f} MB on disk as Keras, "
          f"{metrics.tflite_bytes / 1e6:.1f} MB as {model_folder.TFLITE_FILE})")
    print(f"  model folder    {output_dir}/  (load: keras.saving.load_model('{output_dir}'))")
    print(f"  model card      {output_dir / model_folder.CARD_FILE}")
    print(f"  plots           {assets}/")
    print(f"  try it          MODEL_ID={output_dir} python space/app.py")

    # ------------------------------------------------------------------------- push
    if args.push_to_hub:
        try:
            pushed = hub_io.push_model_folder(
                output_dir, args.push_to_hub, private=args.private, revision=args.revision,
                commit_message=f"Train {recipe.name} recipe: test accuracy {metrics.test_accuracy:.2%}")
        except hub_io.PushError as err:
            print(f"\nerror: {err}", file=sys.stderr)
            return 1
        print(f"\nPushed to {pushed.repo_url} (commit {pushed.commit_url})")
    return 0


# One non-digit per this many training digits. A/B with the fast preset (seed 42, this commit's families against
# the previous ones at 1 per 10): 5-6 points more held-out non-digits declined at equal digit declines.
NEGATIVES_PER = 6
# One pair of touching digits per this many training digits (on top of the non-digits above).
PAIRS_PER = 20


def _shapes(model) -> list[tuple]:
    return [tuple(weight.shape) for weight in model.weights]


def _draw_on_every_core(x_train, x_val, seed):
    """The redrawn training digits, the training and validation non-digits, the redrawn validation digits.

    Four independent jobs, each with its own seed, so the result is the same as drawing them one after another;
    a process per core (the standard library's pool) because drawing is Python and numpy, held by the GIL.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from hub import negatives

    # "spawn": the parent has already started TensorFlow's threads, which a forked child must not inherit
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(4, os.cpu_count() or 1), mp_context=context) as pool:
        jobs = [pool.submit(_redraw_share, x_train, seed),  # the longest job first
                pool.submit(negatives.make_negatives, len(x_train) // NEGATIVES_PER, seed),
                pool.submit(negatives.make_negatives, len(x_val) // NEGATIVES_PER, seed + 1),
                pool.submit(_redraw_share, x_val, seed + 1)]
        return [job.result() for job in jobs]


def _redraw_share(digits, seed):
    """(digits with hub.drawn_digits.DRAWN_SHARE of them redrawn like users' drawings, how many were)."""
    import numpy as np

    from hub import drawn_digits

    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(digits), size=round(len(digits) * drawn_digits.DRAWN_SHARE), replace=False)
    digits = digits.copy()
    digits[chosen] = drawn_digits.draw_like_users(digits[chosen], seed)
    return digits, len(chosen)


def _with_negatives(x_digits, y_digits, x_negatives):
    """Digits plus non-digits (label 10, "not_a_digit") as one training or validation set."""
    import numpy as np

    from hub.model_folder import NOT_A_DIGIT_INDEX

    y_digits = np.asarray(y_digits)
    labels = np.concatenate([y_digits, np.full(len(x_negatives), NOT_A_DIGIT_INDEX, y_digits.dtype)])
    return np.concatenate([x_digits, x_negatives]), labels


def _hardware() -> str:
    """A short description of the machine, for the model card ("where was this figure measured")."""
    from hub.machine import cpu_name

    cpu = cpu_name()
    return f"{os.cpu_count()} CPU cores ({cpu}), no GPU" if not _has_gpu() else f"{cpu} with GPU"


def _has_gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


if __name__ == "__main__":
    sys.exit(main())
