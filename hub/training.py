"""Fitting a recipe: the input pipeline with augmentation, the learning-rate schedule, the callbacks.

Augmentation runs in tf.data, outside the model, so the saved model stays plain built-in layers
and XLA can compile the training step.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from .model import NUM_CLASSES, Recipe, build_model


def make_dataset(x, y, recipe: Recipe, seed: int, training: bool) -> tf.data.Dataset:
    """Batches of (float32 images, one-hot labels); shuffled and augmented when training."""
    ds = tf.data.Dataset.from_tensor_slices((x, keras.utils.to_categorical(y, NUM_CLASSES)))
    if training:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(recipe.batch_size)
    if training and recipe.augment:
        augment = augmentation(recipe.augment, seed)
        dilate, erode = recipe.augment.get("dilate", 0.0), recipe.augment.get("erode", 0.0)
        if dilate or erode:
            ds = ds.map(lambda a, b: (stroke_width(a, dilate, erode, seed), b), num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.map(lambda a, b: (augment(a, training=True), b), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def stroke_width(images, dilate: float, erode: float, seed: int):
    """Make a random share of the images' strokes one pixel bolder (`dilate`) or thinner (`erode`).

    Why: people draw with felt markers and fine pens; MNIST's strokes are all about 2 px. The preprocessing brings
    extreme widths back into range (hub.preprocess._normalise_width), but what it returns is still bolder or
    thinner than MNIST, and a model that never saw that reads bold 3s as 8s. A 2x2 grey-level max (min) filter
    adds (removes) one pixel of width; the half-pixel shift it causes is smaller than the shift augmentation.
    """
    u = tf.random.uniform([tf.shape(images)[0], 1, 1, 1], seed=seed + 3)
    bolder = tf.nn.max_pool2d(images, 2, 1, "SAME")
    thinner = -tf.nn.max_pool2d(-images, 2, 1, "SAME")
    return tf.where(u < dilate, bolder, tf.where(u < dilate + erode, thinner, images))


def augmentation(settings: dict, seed: int) -> keras.Sequential:
    """Small shifts, rotations and zooms: the ways real handwriting differs from MNIST's centering."""
    shift, rotation, zoom = settings.get("shift", 0), settings.get("rotation", 0), settings.get("zoom", 0)
    steps = []
    if rotation:
        steps.append(keras.layers.RandomRotation(rotation, fill_mode="constant", seed=seed))
    if zoom:
        steps.append(keras.layers.RandomZoom(zoom, zoom, fill_mode="constant", seed=seed + 1))
    if shift:
        steps.append(keras.layers.RandomTranslation(shift, shift, fill_mode="constant", seed=seed + 2))
    return keras.Sequential(steps, name="augmentation")


def learning_rate(recipe: Recipe, steps_per_epoch: int):
    """One-cycle: linear warm-up to the peak, then cosine decay to nearly zero."""
    if recipe.schedule == "constant":
        return recipe.learning_rate
    total = recipe.epochs * steps_per_epoch
    warmup = int(total * recipe.warmup_fraction)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=recipe.learning_rate / 25,
        decay_steps=total - warmup,
        alpha=0.002,
        warmup_target=recipe.learning_rate,
        warmup_steps=warmup,
    )


# A run keeps BatchNorm's averaging window (about 1 / (1 - momentum) steps) within its last tenth.
BATCHNORM_WINDOW_FRACTION = 0.1


def adapt_to_run_length(recipe: Recipe, train_samples: int) -> Recipe:
    """The recipe fitted to a run this short, with a loud note of anything changed; long runs pass unchanged.

    A quick run (`--epochs 1 --max-train-samples 3000` of the default recipe: 24 steps) used to end at
    11% test accuracy, answering "1" for everything, while the same weights were right 89% of the time
    with batch statistics. Two things only a short run meets:
    - BatchNorm's moving mean and variance start at 0 and 1 and take in each step with weight
      (1 - momentum): at 0.9 they average over about 10 steps, the settled end of a full run but most
      of a 24-step one, so they still held 8% of their starting values and described early weights.
      The momentum is lowered until the window is a tenth of the run (runs of 100+ steps keep 0.9).
    - Augmentation guards against memorising images seen again and again; a single epoch sees each
      image once, so there it only slows learning (88-91% with it, 93% without, for that quick run).
    """
    steps = recipe.epochs * int(np.ceil(train_samples / recipe.batch_size))
    changes = {}
    momentum = max(0.0, 1.0 - 1.0 / (BATCHNORM_WINDOW_FRACTION * steps))
    if recipe.batchnorm_momentum is not None and momentum < recipe.batchnorm_momentum:
        changes["batchnorm_momentum"] = round(momentum, 4)
    if recipe.epochs == 1 and recipe.augment:
        changes["augment"] = {}
    if not changes:
        return recipe
    print(f"WARNING: a short run ({steps} steps) for the '{recipe.name}' recipe, which is made for full runs.\n"
          f"  BatchNorm momentum {recipe.batchnorm_momentum} -> {changes.get('batchnorm_momentum', '(kept)')}, "
          f"augmentation {recipe.augment or 'none'} -> {changes.get('augment', '(kept)') or 'none'}.\n"
          f"  Expect a usable but weaker model; drop --epochs/--max-train-samples for the recipe's accuracy.")
    return dataclasses.replace(recipe, **changes)


class EpochTimer(keras.callbacks.Callback):
    """Records seconds since the start of training at each epoch end (for time-to-accuracy)."""

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()
        self.elapsed = []

    def on_epoch_end(self, epoch, logs=None):
        self.elapsed.append(time.perf_counter() - self.start)


def cpu_has_native_bfloat16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def precision_policy(precision: str) -> str:
    """The Keras dtype policy for a recipe's precision setting.

    Mixed bfloat16 trains about 20% faster where the CPU has bfloat16 instructions and is much
    slower where it must emulate them, so "auto" decides by the CPU's flags. The weights stay
    float32 either way.
    """
    if precision == "auto":
        return "mixed_bfloat16" if cpu_has_native_bfloat16() else "float32"
    if precision not in ("float32", "mixed_bfloat16"):
        raise ValueError(f"precision must be auto, float32 or mixed_bfloat16, got {precision!r}")
    return precision


def train(recipe: Recipe, x_train, y_train, x_val, y_val, seed: int, verbose="auto", callbacks=()):
    """Build, compile and fit a model; return it (float32) with its history and per-epoch timings."""
    keras.utils.set_random_seed(seed)
    recipe = adapt_to_run_length(recipe, len(x_train))
    policy = precision_policy(recipe.precision)
    keras.mixed_precision.set_global_policy(policy)
    try:
        model, history, elapsed = _fit(recipe, x_train, y_train, x_val, y_val, seed, verbose, callbacks)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    if policy != "float32":  # ship and evaluate a plain float32 model with the trained weights
        trained, model = model, build_model(recipe.architecture, recipe.batchnorm_momentum)
        model.set_weights(trained.get_weights())
    return model, history, elapsed


def _fit(recipe, x_train, y_train, x_val, y_val, seed, verbose, callbacks):
    model = build_model(recipe.architecture, recipe.batchnorm_momentum)
    train_ds = make_dataset(x_train, y_train, recipe, seed, training=True)
    val_ds = make_dataset(x_val, y_val, recipe, seed, training=False)
    steps = int(np.ceil(len(x_train) / recipe.batch_size))
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate(recipe, steps)),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    timer = EpochTimer()
    callbacks = [
        timer,
        *callbacks,
        # Validation loss, not accuracy: at the end of a one-cycle run several epochs tie on
        # accuracy (5,000 images, steps of 0.02%) and the first of them would be restored.
        keras.callbacks.EarlyStopping(
            monitor="val_loss",
            patience=recipe.early_stopping_patience,
            restore_best_weights=True,
            verbose=1,
        ),
    ]
    history = model.fit(
        train_ds, validation_data=val_ds, epochs=recipe.epochs, callbacks=callbacks, verbose=verbose,
        shuffle=False,  # the dataset reshuffles itself every epoch
    )
    return model, history.history, timer.elapsed
