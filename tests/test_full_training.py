"""Full-size training runs with the accuracy targets (slow: minutes each, skipped by default).

    python -m pytest -m slow

Their time targets are measured by benchmarks/train.py and the README, not asserted here.
"""

import json

import pytest

import train


@pytest.mark.slow
@pytest.mark.parametrize("preset, target", [("fast", 0.990), ("default", 0.995)])
def test_preset_reaches_its_accuracy_target(preset, target, tmp_path):
    folder = tmp_path / preset
    assert train.main(["--preset", preset, "--output-dir", str(folder), "--verbose", "2"]) == 0
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["test_samples"] == 10000
    assert metrics["test_accuracy"] >= target, f"{preset}: {metrics['test_accuracy']:.4f} < {target}"


@pytest.mark.slow
def test_the_readme_quick_run_is_usable_and_records_what_it_changed(tmp_path):
    """`python train.py --epochs 1 --max-train-samples 3000` end to end (it used to end at 11%)."""
    folder = tmp_path / "quick"
    assert train.main(["--epochs", "1", "--max-train-samples", "3000", "--output-dir", str(folder),
                       "--verbose", "0"]) == 0
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["test_accuracy"] >= 0.90, metrics["test_accuracy"]
    assert metrics["hyperparameters"]["augment"] == {}
    assert metrics["hyperparameters"]["batchnorm_momentum"] < 0.9
