"""The network as a LiteRT (TensorFlow Lite) flatbuffer: converted once with TensorFlow, run without it.

Why: for this small network most of a TensorFlow call is fixed per-call cost (Python, op dispatch), and
TensorFlow is most of the install. The flatbuffer holds the same float32 weights and math (train.py checks
it against Keras on the 10,000 test images and records the largest difference in metrics.json); running it
needs only `ai_edge_litert` and numpy, and the interpreter releases the GIL while it computes.
"""

from __future__ import annotations

import os
import tempfile
import threading

import numpy as np

INPUT_SHAPE = (28, 28, 1)
SMALL_BATCH = 16  # up to this many images per call, one CPU thread (a web request); more: every core


def convert(model) -> bytes:
    """A loaded Keras model (TensorFlow backend) as a LiteRT flatbuffer, with TensorFlow's converter.

    Goes through a SavedModel export, which is what `TFLiteConverter.from_keras_model` does, minus its logging.
    """
    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="mnist-litert-") as saved:
        model.export(saved, format="tf_saved_model", verbose=False)
        return tf.lite.TFLiteConverter.from_saved_model(saved).convert()


class LiteRTModel:
    """numpy (N, 28, 28, 1) float32 -> (N, classes) probabilities, from the bytes in `flatbuffer`; `run` also
    gives the features of a model that outputs them second (`hub.model.with_features`), else None.

    Interpreters are not thread-safe: each calling thread gets its own, with one CPU thread for small batches
    (a web request; concurrency comes from the server) and every core for big ones. Resizing an interpreter to
    a new batch size is cheap (~0.1 ms). Worker processes can be built from `flatbuffer` alone.
    """

    def __init__(self, flatbuffer: bytes):
        from ai_edge_litert.interpreter import Interpreter

        self.flatbuffer = bytes(flatbuffer)
        self._new = Interpreter
        self._local = threading.local()
        self.cpus = os.cpu_count() or 1
        probe = Interpreter(model_content=self.flatbuffer)  # fails here, not on the first request, if unreadable
        outputs = probe.get_output_details()
        self.num_outputs = int(outputs[0]["shape"][-1])
        self.num_features = int(outputs[1]["shape"][-1]) if len(outputs) > 1 else None

    def _interpreter(self, batch: int):
        """(interpreter, input index, probabilities' index, features' index or None), sized for `batch` images."""
        threads = 1 if batch <= SMALL_BATCH else self.cpus
        cache = self._local.__dict__.setdefault("interpreters", {})
        if threads not in cache:
            interpreter = self._new(model_content=self.flatbuffer, num_threads=threads)
            outputs = [d["index"] for d in interpreter.get_output_details()]
            cache[threads] = [interpreter, interpreter.get_input_details()[0]["index"], outputs[0],
                              outputs[1] if len(outputs) > 1 else None, None]
        entry = cache[threads]
        if entry[4] != batch:
            entry[0].resize_tensor_input(entry[1], [batch, *INPUT_SHAPE])
            entry[0].allocate_tensors()
            entry[4] = batch
        return entry[:4]

    def run(self, x) -> tuple[np.ndarray, np.ndarray | None]:
        """(probabilities, features or None): copies, safe to keep after the next call."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        interpreter, inputs, probabilities, features = self._interpreter(len(x))
        interpreter.set_tensor(inputs, x)
        interpreter.invoke()
        return interpreter.get_tensor(probabilities), (
            interpreter.get_tensor(features) if features is not None else None)

    def __call__(self, x):
        return self.run(x)[0]
