"""train.py end to end on a subset (the shared `model_dir` fixture) and its command line."""

import json
import subprocess
import sys

import numpy as np
import pytest
from huggingface_hub import ModelCard

import train
from hub import model_folder
from hub.data import load_mnist
from hub.model_folder import ASSET_NAMES
from hub.preprocess import mnist_to_input

ROOT = train.__file__.rsplit("/", 1)[0]


def test_help_answers_without_training():
    out = subprocess.run([sys.executable, "train.py", "--help"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0
    for option in ("--epochs", "--batch-size", "--seed", "--output-dir", "--data-dir", "--max-train-samples",
                   "--push-to-hub", "--preset"):
        assert option in out.stdout


@pytest.mark.parametrize("argv, message", [
    (["--epochs", "0"], "expected a number of at least 1"),
    (["--epochs", "many"], "expected a whole number"),
    (["--preset", "huge"], "invalid choice: 'huge'"),
    (["--private"], "only make sense with --push-to-hub"),
    (["--push-to-hub", "no-namespace"], "repo id like 'your-name/mnist-cnn'"),
])
def test_bad_arguments_say_what_is_wrong(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train.parse_args(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_fine_tuning_cannot_write_over_the_folder_it_starts_from(tmp_path, capsys):
    with pytest.raises(SystemExit):
        train.parse_args(["--init-from", str(tmp_path), "--output-dir", str(tmp_path)])
    assert "--init-from and --output-dir must differ" in capsys.readouterr().err


def test_fine_tuning_another_presets_network_says_which_preset_to_use(model_dir, tmp_path, capsys):
    assert train.main(["--init-from", str(model_dir), "--output-dir", str(tmp_path / "out")]) == 2
    assert "is not the 'default' preset's; fine-tune with the preset it was trained with (it was: 'fast')" \
        in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_fine_tuning_an_ensemble_is_refused_with_a_message(model_dir, tmp_path, capsys):
    assert train.main(["--preset", "best", "--init-from", str(model_dir), "--output-dir", str(tmp_path / "out")]) == 2
    assert "fine-tuning works on one network, not on an ensemble" in capsys.readouterr().err


def test_fine_tuning_starts_from_the_folders_weights(model_dir, tmp_path):
    """One epoch on 3,000 images at a tenth of the rate: from random weights that is far from the start's accuracy;
    from the folder's weights it keeps it. The new folder says where it started."""
    out = tmp_path / "tuned"
    assert train.main(["--preset", "fast", "--init-from", str(model_dir), "--max-train-samples", "3000", "--epochs",
                       "1", "--learning-rate", "4e-4", "--seed", "1", "--output-dir", str(out), "--verbose", "0"]) == 0
    start = json.loads((model_dir / "metrics.json").read_text())
    tuned = json.loads((out / "metrics.json").read_text())
    assert tuned["initialized_from"]["folder"] == str(model_dir)
    assert tuned["initialized_from"]["test_accuracy"] == start["test_accuracy"]
    assert tuned["test_accuracy"] >= start["test_accuracy"] - 0.01
    assert tuned["non_digit_samples"]["touching_pairs"] == {"train": 3000 // train.PAIRS_PER,
                                                            "val": start["val_samples"] // train.PAIRS_PER}


def test_missing_data_dir_files_give_a_clear_error(tmp_path, capsys):
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"")  # a partial copy is not a download trigger
    assert train.main(["--data-dir", str(tmp_path), "--output-dir", str(tmp_path / "out")]) == 2
    assert "SHA256SUMS.uncompressed is missing" in capsys.readouterr().err


def test_validation_set_larger_than_the_training_set(tmp_path, capsys):
    assert train.main(["--validation-size", "60000", "--output-dir", str(tmp_path / "out")]) == 2
    assert "--validation-size: validation size must be between 1 and 59999" in capsys.readouterr().err


def test_model_folder_is_complete(model_dir):
    for name in (*model_folder.KERAS_FILES, model_folder.TFLITE_FILE, model_folder.CLASSIFIER_FILE,
                 model_folder.METRICS_FILE, model_folder.CARD_FILE):
        assert (model_dir / name).is_file(), name
    for name in ASSET_NAMES.values():
        assert (model_dir / "assets" / name).stat().st_size > 1000, name
    assert sorted(p.name for p in (model_dir / "assets" / "examples").glob("digit_*.png")) == [
        f"digit_{d}.png" for d in range(10)]


def test_reloaded_model_predicts_like_the_metrics_say(model_dir):
    metrics = json.loads((model_dir / "metrics.json").read_text())
    model = model_folder.load_keras_model(model_dir)
    mnist = load_mnist()
    probabilities = np.asarray(model.predict(mnist_to_input(mnist.x_test), batch_size=1000, verbose=0))
    accuracy = float((probabilities[:, :10].argmax(1) == mnist.y_test).mean())  # the digit /predict names
    assert accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-9)
    assert accuracy > 0.95
    assert metrics["test_samples"] == 10000 and metrics["train_samples"] == 15000
    assert metrics["val_samples"] == 5000 and metrics["epochs_run"] == 2
    assert metrics["params"] == model.count_params()


def test_tflite_answers_like_the_keras_model_on_the_test_set(model_dir):
    """The figure train.py recorded is the one a re-run of the check finds (all 10,000 images, same digits)."""
    metrics = json.loads((model_dir / "metrics.json").read_text())
    model = model_folder.load_keras_model(model_dir)
    x_test = mnist_to_input(load_mnist().x_test)
    keras_probabilities = model.predict(x_test, batch_size=1024, verbose=0)
    difference = model_folder.check_tflite(model_dir, x_test, keras_probabilities)
    assert difference == pytest.approx(metrics["tflite_max_abs_diff"], rel=1e-3, abs=1e-9)
    assert difference < 1e-4
    assert metrics["tflite_bytes"] == (model_dir / model_folder.TFLITE_FILE).stat().st_size


def test_card_holds_this_runs_accuracy(model_dir):
    metrics = json.loads((model_dir / "metrics.json").read_text())
    card = ModelCard.load(model_dir / "README.md")
    assert card.data.library_name == "keras"
    assert card.data.eval_results[0].metric_value == pytest.approx(metrics["test_accuracy"])
    assert f"{metrics['test_accuracy']:.2%}" in card.text


def test_calibration_and_the_not_a_digit_class_travel_with_the_model(model_dir):
    """classifier.json carries the temperature fitted on validation; metrics.json says what it changed."""
    config = json.loads((model_dir / model_folder.CLASSIFIER_FILE).read_text())
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert config["format_version"] == 2 and config["labels"] == model_folder.LABELS
    temperature = config["calibration"]["temperature"]
    assert temperature == pytest.approx(metrics["calibration"]["temperature"], abs=1e-4)
    assert 0.3 < temperature < 5 and temperature != 1.0
    assert metrics["calibration"]["val_ece_after"] <= metrics["calibration"]["val_ece_before"] + 0.002
    # one non-digit per train.NEGATIVES_PER digits, of the 15,000 training and 5,000 validation digits, and one
    # pair of touching digits per train.PAIRS_PER
    assert metrics["non_digit_samples"] == {
        "train": 15000 // train.NEGATIVES_PER, "val": 5000 // train.NEGATIVES_PER,
        "touching_pairs": {"train": 15000 // train.PAIRS_PER, "val": 5000 // train.PAIRS_PER}}
    assert metrics["drawn_digit_samples"] == {"train": 4500, "val": 1500}
    # Even the 2-epoch test model tells most drawn non-digits from digits.
    assert metrics["not_a_digit"]["val_non_digits_declined"] > 0.7
    assert metrics["not_a_digit"]["test_digits_declined"] < 0.05
