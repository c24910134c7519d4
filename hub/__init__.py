"""The MNIST digit model package shared by train.py and the Gradio Space (distribution `mnist-cnn-hub`).

    from hub import MnistClassifier
    clf = MnistClassifier.from_pretrained("your-name/mnist-cnn")   # or a local model folder
    clf.predict("digit.png")

Inference needs numpy, Pillow, SciPy, huggingface_hub and ai-edge-litert, not TensorFlow; training and the model
card need the `train` extra. Submodules are imported on first use, so `import hub` itself is cheap.
"""

__all__ = ["MnistClassifier", "ModelLoadError", "Prediction"]


def __getattr__(name):
    if name in __all__:
        from hub import classifier

        return getattr(classifier, name)
    raise AttributeError(f"module 'hub' has no attribute {name!r}")
