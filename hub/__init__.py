"""The MNIST digit model package shared by train.py and the Gradio Space.

    from hub import MnistClassifier
    clf = MnistClassifier.from_pretrained("your-name/mnist-cnn")   # or a local model folder
    clf.predict("digit.png")

Submodules import TensorFlow only when needed, so `import hub` itself is cheap.
"""

__all__ = ["MnistClassifier", "Prediction"]


def __getattr__(name):
    if name in __all__:
        from hub import classifier

        return getattr(classifier, name)
    raise AttributeError(f"module 'hub' has no attribute {name!r}")
