"""Fitting a recipe: the input pipeline with augmentation, the learning-rate schedule, the callbacks.

Augmentation runs in tf.data, outside the model, so the saved model stays plain built-in layers
and XLA can compile the training step.
"""

from __future__ import annotations

import dataclasses
import functools
import time

import keras
import numpy as np
import tensorflow as tf

from .model import NUM_CLASSES, Recipe, build_ensemble, build_model


def make_dataset(x, y, recipe: Recipe, seed: int, training: bool) -> tf.data.Dataset:
    """Batches of (float32 images, one-hot labels); shuffled and augmented when training."""
    ds = tf.data.Dataset.from_tensor_slices((x, keras.utils.to_categorical(y, NUM_CLASSES)))
    if training:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(recipe.batch_size)
    if training and recipe.augment:
        ds = ds.map(lambda a, b: (augment(a, recipe.augment, seed), b), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def augment(images, settings: dict, seed: int):
    """Stroke width, then small shifts, rotations and zooms: the ways real handwriting differs from MNIST."""
    dilate, erode = settings.get("dilate", 0.0), settings.get("erode", 0.0)
    if dilate or erode:
        images = stroke_width(images, dilate, erode, seed)
    return random_affine(images, settings.get("shift", 0.0), settings.get("rotation", 0.0),
                         settings.get("zoom", 0.0), seed)


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


def random_affine(images, shift: float, rotation: float, zoom: float, seed: int):
    """Rotate (up to `rotation` of a turn), zoom (up to +-`zoom`) and shift (up to `shift` of the side) each image.

    One bilinear resampling per image for all three (keras.ops.image.affine_transform), where Keras'
    RandomRotation, RandomZoom and RandomTranslation layers resample three times: the augmentation cost
    0.5 s instead of 2.1-2.8 s per 20,000 images, and stole less of the two cores from training.
    """
    if not (shift or rotation or zoom):
        return images
    n = tf.shape(images)[0]
    side = tf.cast(tf.shape(images)[1], tf.float32)
    angle = tf.random.uniform([n], -rotation, rotation, seed=seed) * 2 * np.pi
    scale = 1.0 + tf.random.uniform([n], -zoom, zoom, seed=seed + 1)  # > 1 samples more input: a smaller digit
    dx, dy = (tf.random.uniform([n], -shift, shift, seed=seed + s) * side for s in (2, 4))
    center = (side - 1) / 2
    cos, sin = tf.cos(angle) * scale, tf.sin(angle) * scale
    # Each row maps an output pixel (x, y) to where it is read from: center + scale * R(angle) (p - center) - d.
    zeros = tf.zeros([n])
    transform = tf.stack([cos, -sin, center - cos * center + sin * center - dx,
                          sin, cos, center - sin * center - cos * center - dy, zeros, zeros], axis=1)
    return keras.ops.image.affine_transform(images, transform, interpolation="bilinear", fill_mode="constant")


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


class StepInStep(keras.callbacks.Callback):
    """A no-op batch hook, so that Keras runs the callbacks in step with training instead of in a thread pool.

    Why: when no callback has a batch hook, Keras (3.6 and later) hands each step's logs to a thread pool and lets
    the training loop run ahead. On the 2-core Intel Xeon the fast preset's `model.fit` then took 169 s in four of
    five runs, with both cores idle for seconds at a time in its second epoch; with this hook it took 84 s and
    86 s in two runs (epochs of 41 s and 38 s instead of 46 s and 83 s), and trained the same model (99.14%).
    """

    def on_train_batch_end(self, batch, logs=None):
        pass


def precision_policy(precision: str) -> str:
    """The Keras dtype policy for a recipe's precision setting; "auto" measures which is faster here.

    Mixed bfloat16 trained about 20% faster on an AMD EPYC with AVX512-BF16, gave nothing on an Intel Xeon
    (21.8 s against 22.1 s per epoch) and is several times slower where the CPU emulates it, and CPU flags
    do not say which (issue 14). So "auto" times a convolution's forward and backward pass, as the
    training step does them, in both precisions, and keeps float32 unless bfloat16 is clearly faster.
    The weights stay float32 either way.
    """
    if precision == "auto":
        return "mixed_bfloat16" if measured_bfloat16_speedup() >= BFLOAT16_MIN_SPEEDUP else "float32"
    if precision not in ("float32", "mixed_bfloat16"):
        raise ValueError(f"precision must be auto, float32 or mixed_bfloat16, got {precision!r}")
    return precision


BFLOAT16_MIN_SPEEDUP = 1.15  # below this the difference is within timing noise and float32 is the safe choice


@functools.lru_cache(maxsize=1)
def measured_bfloat16_speedup(repeats: int = 3) -> float:
    """float32 seconds / bfloat16 seconds for one 3x3 convolution layer's training step (about a second to measure)."""
    images = tf.random.uniform([64, 26, 26, 32])
    kernel = tf.random.normal([3, 3, 32, 32])

    def seconds(dtype):
        x, k = tf.cast(images, dtype), tf.Variable(tf.cast(kernel, dtype))

        @tf.function(jit_compile=False)
        def step():
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(tf.nn.relu(tf.nn.conv2d(x, k, 1, "VALID")))
            return tape.gradient(loss, k)

        step()  # trace
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            step().numpy()
            best = min(best, time.perf_counter() - started)
        return best

    return seconds(tf.float32) / seconds(tf.bfloat16)


def train(recipe: Recipe, x_train, y_train, x_val, y_val, seed: int, verbose="auto", callbacks=(),
          initial_weights=None):
    """Build, compile and fit a model; return it (float32) with its history and per-epoch timings.

    `initial_weights` (a trained network's `get_weights()`, same architecture) fine-tunes it instead of starting
    from random weights; a mismatch raises ValueError. Not for ensembles.

    An ensemble recipe (members > 1) trains its members one after another and returns them averaged in one
    model, the members' mean history (over the epochs all of them ran) and the seconds of all their epochs.
    """
    if recipe.members > 1:
        if initial_weights is not None:
            raise ValueError("fine-tuning an ensemble is not supported: fine-tune one network")
        return _train_ensemble(recipe, x_train, y_train, x_val, y_val, seed, verbose, callbacks)
    keras.utils.set_random_seed(seed)
    recipe = adapt_to_run_length(recipe, len(x_train))
    policy = precision_policy(recipe.precision)
    keras.mixed_precision.set_global_policy(policy)
    try:
        model, history, elapsed = _fit(recipe, x_train, y_train, x_val, y_val, seed, verbose, callbacks,
                                       initial_weights)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    if policy != "float32":  # ship and evaluate a plain float32 model with the trained weights
        trained, model = model, build_model(recipe.architecture, recipe.batchnorm_momentum)
        model.set_weights(trained.get_weights())
    return model, history, elapsed


def _train_ensemble(recipe, x_train, y_train, x_val, y_val, seed, verbose, callbacks):
    single = dataclasses.replace(recipe, members=1)
    members, histories, elapsed = [], [], []
    for i in range(recipe.members):
        print(f"\nMember {i + 1} of {recipe.members} (seed {seed + i})", flush=True)
        model, history, seconds = train(single, x_train, y_train, x_val, y_val, seed + i, verbose, callbacks)
        members.append(keras.Model(model.input, model.output, name=f"member_{i + 1}"))
        histories.append(history)
        elapsed += [(elapsed[-1] if elapsed else 0.0) + s for s in seconds]
    epochs = min(len(h["loss"]) for h in histories)
    mean_history = {key: [float(np.mean([h[key][e] for h in histories])) for e in range(epochs)]
                    for key in histories[0]}
    return build_ensemble(members), mean_history, elapsed


def watched_from(recipe: Recipe) -> int:
    """The first epoch (0-based) whose validation loss early stopping compares."""
    return recipe.epochs // 2 if recipe.schedule == "one-cycle" else 0


def kept_epoch(recipe: Recipe, history: dict) -> int:
    """The epoch (0-based) whose weights early stopping kept: the lowest validation loss among the watched ones.

    (Not the lowest of all: an early epoch, before the watch began, can have a lower loss than the weights kept.)
    """
    losses = history["val_loss"]
    start = min(watched_from(recipe), len(losses) - 1)
    return start + int(np.argmin(losses[start:]))


def _fit(recipe, x_train, y_train, x_val, y_val, seed, verbose, callbacks, initial_weights=None):
    model = build_model(recipe.architecture, recipe.batchnorm_momentum)
    if initial_weights is not None:
        model.set_weights(initial_weights)
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
        StepInStep(),
        *callbacks,
        # Validation loss, not accuracy: at the end of a one-cycle run several epochs tie on
        # accuracy (5,000 images, steps of 0.02%) and the first of them would be restored.
        keras.callbacks.EarlyStopping(
            monitor="val_loss",
            patience=recipe.early_stopping_patience,
            restore_best_weights=True,
            # Around a one-cycle schedule's peak the validation loss jumps (0.12 -> 0.32 -> 0.20 at epochs 4-6
            # of the default recipe) and would stop the run at epoch 7 with epoch 4's weights; only the second
            # half, where the rate decays, is watched.
            start_from_epoch=watched_from(recipe),
            verbose=1,
        ),
    ]
    history = model.fit(
        train_ds, validation_data=val_ds, epochs=recipe.epochs, callbacks=callbacks, verbose=verbose,
        shuffle=False,  # the dataset reshuffles itself every epoch
    )
    return model, history.history, timer.elapsed
