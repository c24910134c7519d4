"""hub.card: the card parses, holds this run's accuracy, every figure in it comes from the metrics, and
check_card notices a card that no longer matches its metrics.json (the committed release model's included)."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from huggingface_hub import ModelCard, constants

from hub.card import CardError, build_model_card, check_card, write_model_card
from hub.evaluate import metrics_from_probabilities
from hub.metrics import MetricsError, RunMetrics

RELEASE_MODEL = Path(__file__).resolve().parent.parent / "models" / "mnist-cnn"

REPO, SPACE = "alice/mnist-cnn", "alice/mnist-digits"


def make_metrics(seed: int, boost: float) -> RunMetrics:
    """Complete metrics whose every figure depends on the seed."""
    rng = np.random.default_rng(seed)
    n = 10_000 - 7 * seed
    y = rng.integers(0, 10, n)
    logits = rng.normal(size=(n, 10))
    logits[np.arange(n), y] += boost
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return RunMetrics(
        **metrics_from_probabilities(probs, y),
        val_accuracy=0.9900 + seed / 1000,
        val_samples=5000 + seed,
        train_samples=55000 - seed,
        epochs_run=10 + seed,
        best_epoch=7 + seed,
        epoch_seconds=[30.5 + seed, 31.25 + seed],
        train_seconds=400.5 + 37 * seed,
        total_seconds=455.25 + 41 * seed,
        params=469_386 + 1001 * seed,
        model_bytes=5_712_345 + 1_000_003 * seed,
        tflite_bytes=5_698_765 + 1_000_033 * seed,
        tflite_max_abs_diff=1.3e-6 * 10**seed * (1 + seed / 10),
        hyperparameters={"batch_size": 128 + 16 * seed, "peak_lr": 0.003 + 0.0011 * seed, "optimizer": f"adam{seed}"},
        preset=f"preset{seed}",
        seed=40 + seed,
        data_source=f"data-{seed}",
        hardware=f"machine-{seed} (2 CPU cores)",
        software={"tensorflow": f"2.{21 + seed}.0", "keras": f"3.{15 + seed}.1"},
        history={"loss": [0.3, 0.1], "accuracy": [0.9, 0.98], "val_loss": [0.2, 0.1], "val_accuracy": [0.95, 0.99]},
        date=f"{2024 + seed}-11-{10 + seed}",
    )


@pytest.fixture(scope="module")
def metrics_a():
    return make_metrics(1, 5.0)


@pytest.fixture(scope="module")
def metrics_b():
    return make_metrics(2, 4.2)


def test_card_parses_and_holds_accuracy(tmp_path, metrics_a):
    path = tmp_path / "README.md"
    build_model_card(metrics_a, repo_id=REPO, space_id=SPACE).save(path)
    card = ModelCard.load(path)
    data = card.data
    assert data.library_name == "keras"
    assert data.license == "cc-by-sa-3.0"
    assert {"keras", "tensorflow", "image-classification", "mnist", "digit-recognition"} <= set(data.tags)
    assert data.datasets == ["ylecun/mnist"]
    assert data.pipeline_tag == "image-classification"
    assert data.metrics == ["accuracy"]
    (result,) = data.eval_results
    assert result.metric_type == "accuracy"
    assert result.metric_value == metrics_a.test_accuracy
    assert result.task_type == "image-classification"
    assert result.dataset_type == "ylecun/mnist" and result.dataset_split == "test"
    assert data.model_name == "mnist-cnn"


def test_two_runs_show_their_own_accuracy(metrics_a, metrics_b):
    acc_a, acc_b = (f"{m.test_accuracy:.2%}" for m in (metrics_a, metrics_b))
    assert acc_a != acc_b
    text_a = str(build_model_card(metrics_a, repo_id=REPO))
    text_b = str(build_model_card(metrics_b, repo_id=REPO))
    assert acc_a in text_a and acc_a not in text_b
    assert acc_b in text_b and acc_b not in text_a
    assert ModelCard(text_b).data.eval_results[0].metric_value == metrics_b.test_accuracy


# Numbers that describe the format, not the run: input geometry, digit labels, license and citation.
CONSTANTS = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "20", "28", "0.0", "1.0", "3.0",
             "255", "1998", "86", "11", "2278", "2324"}


def _numbers(text: str) -> set[str]:
    # whole numbers only: not the 32 of "float32", nor pieces of the DOI
    return set(re.findall(r"(?<![\w./])\d+(?:,\d{3})*(?:\.\d+)?(?![\w/])", text))


def test_no_typed_in_figures(metrics_a, metrics_b):
    """Any number that stays the same when every run figure changes must be a documented constant."""
    a = build_model_card(metrics_a, repo_id=REPO, space_id=SPACE)
    b = build_model_card(metrics_b, repo_id=REPO, space_id=SPACE)
    common = _numbers(a.text) & _numbers(b.text)
    assert common <= CONSTANTS, f"figures not taken from metrics: {sorted(common - CONSTANTS)}"


def test_run_figures_appear(metrics_a):
    text = build_model_card(metrics_a, repo_id=REPO, space_id=SPACE).text
    m = metrics_a
    for needle in [
        f"{m.test_loss:.4f}",
        f"{m.test_samples:,}",
        f"{m.params:,}",
        f"{m.model_bytes:,}",
        f"{m.tflite_bytes:,}",
        f"no probability\ndiffers by more than {m.tflite_max_abs_diff:.2g}.",
        f"{m.train_seconds:,.1f} s",
        f"{m.total_seconds:,.1f} s",
        f"{m.train_samples:,}",
        f"{m.val_samples:,}",
        f"{m.val_accuracy:.2%}",
        f"weights of epoch {m.best_epoch} kept",
        m.hardware,
        m.software["tensorflow"],
        m.software["keras"],
        m.preset,
        m.date,
        "| batch_size | 144 |",
        f"| peak_lr | {m.hyperparameters['peak_lr']:g} |",
    ]:
        assert needle in text, needle


def test_per_class_table(metrics_a):
    text = build_model_card(metrics_a).text
    cm = metrics_a.confusion_matrix
    for d in range(10):
        row = metrics_a.per_class[str(d)]
        errors = sum(cm[d]) - cm[d][d]
        expected = (
            f"| {d} | {row['precision']:.4f} | {row['recall']:.4f} | {row['f1-score']:.4f} "
            f"| {row['support']:,} | {errors:,} |"
        )
        assert expected in text


def test_a_known_source_url_gives_a_pip_install_from_git(metrics_a):
    text = build_model_card(metrics_a, repo_id=REPO, source_url="https://github.com/alice/mnist").text
    assert 'pip install "mnist-cnn-hub @ git+https://github.com/alice/mnist"' in text
    assert "[its source repository](https://github.com/alice/mnist)" in text


def test_snippets_and_space_link(metrics_a):
    text = build_model_card(metrics_a, repo_id=REPO, space_id=SPACE).text
    assert 'keras.saving.load_model("hf://alice/mnist-cnn")' in text
    assert "from hub import MnistClassifier" in text
    assert "pip install .    # in a clone of the source repository" in text  # no public URL known: no placeholder
    assert "<owner>" not in text
    assert 'MnistClassifier.from_pretrained("alice/mnist-cnn")' in text
    assert 'clf.predict("digit.png")' in text
    assert "from gradio_client import Client, handle_file" in text
    assert 'Client("alice/mnist-digits")' in text
    assert 'api_name="/predict"' in text
    assert "https://huggingface.co/spaces/alice/mnist-digits" in text
    assert "(N, 28, 28, 1)" in text and "float32" in text and "white digit on a black background" in text
    assert "CC BY-SA 3.0" in text and "@article{lecun1998gradient" in text
    assert "<your-username>" not in text


def test_widget_endpoint_and_revision(metrics_a):
    card = build_model_card(
        metrics_a, repo_id=REPO, widget_examples=["assets/examples/digit_5.png"],
        endpoint="https://huggingface.co/", revision="v1",
    )
    assert card.data.to_dict()["widget"] == [
        {"src": f"https://huggingface.co/{REPO}/resolve/v1/assets/examples/digit_5.png", "example_title": "Digit 5"}
    ]


def test_placeholders_without_ids(metrics_a):
    card = build_model_card(metrics_a)
    assert 'load_model("hf://<your-username>/mnist-cnn")' in card.text
    assert 'Client("<your-username>/mnist-digits")' in card.text
    assert "no Space is linked" in card.text
    assert "widget" not in card.data.to_dict()  # widget needs absolute URLs: only with a repo id


def test_write_model_card_from_folder(tmp_path, metrics_a):
    folder = tmp_path / "model"
    (folder / "assets" / "examples").mkdir(parents=True)
    metrics_a.write(folder)
    for name in ("confusion_matrix.png", "training_curves.png"):
        (folder / "assets" / name).write_bytes(b"png")
    for d in (3, 7):
        (folder / "assets" / "examples" / f"digit_{d}.png").write_bytes(b"png")

    layers = [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 28, 28, 1]}},
        {"class_name": "Conv2D", "config": {"filters": 32, "kernel_size": [3, 3], "strides": [1, 1], "activation": "relu"}},
        {"class_name": "MaxPooling2D", "config": {"pool_size": [2, 2], "strides": [2, 2]}},
        {"class_name": "Flatten", "config": {}},
        {"class_name": "Dense", "config": {"units": 10, "activation": "softmax"}},
    ]
    (folder / "config.json").write_text(json.dumps({"class_name": "Sequential", "config": {"layers": layers}}))

    path = write_model_card(folder, repo_id=REPO, space_id=SPACE)
    assert path == folder / "README.md"
    card = ModelCard.load(path)
    assert card.data.eval_results[0].metric_value == metrics_a.test_accuracy
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", card.text)
    assert sorted(linked) == ["assets/confusion_matrix.png", "assets/training_curves.png"]
    assert all((folder / rel).is_file() for rel in linked)
    widget = card.data.to_dict()["widget"]
    endpoint = constants.ENDPOINT.rstrip("/")  # the Hub the card is published to (the local test Hub here)
    assert [w["src"] for w in widget] == [
        f"{endpoint}/{REPO}/resolve/main/assets/examples/digit_{d}.png" for d in (3, 7)
    ]
    assert [w["example_title"] for w in widget] == ["Digit 3", "Digit 7"]
    assert "| 2 | Conv2D | filters=32, kernel_size=`[3, 3]`, activation=`relu` |" in card.text
    assert "| 5 | Dense | units=10, activation=`softmax` |" in card.text


def test_without_tflite_the_card_says_nothing_about_it(metrics_a):
    import dataclasses

    text = build_model_card(dataclasses.replace(metrics_a, tflite_bytes=None, tflite_max_abs_diff=None)).text
    assert "model.tflite" not in text.split("## How to use")[0]
    assert "model.tflite" in build_model_card(metrics_a).text.split("## How to use")[0]


def test_clear_errors(tmp_path, metrics_a):
    broken = {k: v for k, v in metrics_a.to_dict().items() if k != "test_accuracy"}
    with pytest.raises(MetricsError, match="missing test_accuracy"):
        RunMetrics.from_dict(broken)
    with pytest.raises(MetricsError, match="unknown note"):
        RunMetrics.from_dict({**metrics_a.to_dict(), "note": "x"})
    with pytest.raises(CardError, match="RunMetrics"):
        build_model_card(metrics_a.to_dict())
    with pytest.raises(MetricsError, match="metrics.json not found"):
        write_model_card(tmp_path)


def test_metrics_round_trip_through_metrics_json(tmp_path, metrics_a):
    metrics_a.write(tmp_path)
    assert RunMetrics.read(tmp_path) == metrics_a


# ----------------------------------------------------------------------------- check_card


def test_check_card_on_a_trained_folder(model_dir, tmp_path):
    """The card train.py wrote matches its metrics.json; a changed figure on either side is reported."""
    assert check_card(model_dir) == []
    folder = shutil.copytree(model_dir, tmp_path / "model")
    metrics = RunMetrics.read(folder)
    card = folder / "README.md"
    original = card.read_text()
    accuracy = f"{metrics.test_accuracy:.2%}"
    card.write_text(original.replace(f"| accuracy | {accuracy} |", "| accuracy | 12.34% |"))
    assert any("| accuracy |" in problem for problem in check_card(folder))

    card.write_text(original)
    import dataclasses

    digit = str(int(np.argmax([row["support"] for row in metrics.per_class.values()])))
    changed = {**metrics.per_class, digit: {**metrics.per_class[digit], "recall": 0.5}}
    dataclasses.replace(metrics, per_class=changed, test_accuracy=metrics.test_accuracy - 0.01).write(folder)
    problems = check_card(folder)
    assert any("model-index accuracy" in problem for problem in problems)
    assert any(problem.startswith(f"missing or different: | {digit} | ") for problem in problems)


def test_check_card_accepts_a_card_rendered_for_a_repo(model_dir, tmp_path):
    folder = shutil.copytree(model_dir, tmp_path / "model")
    write_model_card(folder, repo_id="alice/mnist-cnn-2", space_id="alice/digits-3")
    assert check_card(folder) == []


def test_the_release_models_card_matches_its_metrics():
    problems = check_card(RELEASE_MODEL)
    assert problems == [], "models/mnist-cnn/README.md differs from its metrics.json; re-render it with " \
                           "`python -m hub.card models/mnist-cnn`:\n" + "\n".join(problems)


def test_an_ensembles_card_names_its_members_and_their_layers(tmp_path, metrics_a):
    import dataclasses

    from hub.card import architecture_from_config

    members = [{"name": f"member_{i + 1}", "seed": 41 + i, "test_accuracy": acc}
               for i, acc in enumerate((0.9951, 0.9948, 0.9957))]
    card = build_model_card(dataclasses.replace(metrics_a, members=members))
    assert "an ensemble of 3 networks" in card.text and "seeds 41, 42, 43" in card.text
    assert "score\n  99.51%, 99.48%, 99.57% on the test set" in card.text
    assert "ensemble" not in build_model_card(metrics_a).text  # one network: the usual recipe line

    member = {"class_name": "Functional", "config": {"layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 28, 28, 1]}},
        {"class_name": "Dense", "config": {"units": 11, "activation": "softmax"}}]}}
    config = {"class_name": "Functional", "config": {"layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 28, 28, 1]}}, member, member, member,
        {"class_name": "Average", "config": {}}]}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    rows = architecture_from_config(tmp_path / "config.json")
    assert [r["type"] for r in rows] == ["InputLayer", "Dense", "Average of the 3 members' probabilities"]


def test_the_reading_section_needs_a_reading_summary(metrics_a):
    """Without benchmarks/reading.py's summary the card claims nothing about drawings; the release model has one."""
    assert "## On drawings" not in build_model_card(metrics_a).text
    assert (RELEASE_MODEL / "reading.json").is_file()
    assert "## On drawings, photos and whole numbers" in (RELEASE_MODEL / "README.md").read_text(encoding="utf-8")
