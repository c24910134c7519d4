"""Each benchmark runs on a tiny setting and writes its JSON (the figures themselves are measured by
running the scripts, not by tests)."""

import json

import pytest

from benchmarks import inference
from benchmarks import train as train_benchmark


def test_train_benchmark_times_a_whole_train_py_run_in_classic_epochs(tmp_path):
    output = tmp_path / "train.json"
    report = train_benchmark.main(["--tiny", "--recipes", "fast", "--work-dir", str(tmp_path / "runs"),
                                   "--output", str(output)])
    assert json.loads(output.read_text())["rows"] == report["rows"]
    [run] = report["runs"]
    assert (run["recipe"], run["seed"], run["train_samples"], run["epochs_run"]) == ("fast", 0, 2000, 1)
    assert (tmp_path / "runs" / "fast-seed0" / "model.tflite").is_file()  # the run wrote its whole model folder
    assert 0 < run["fit_seconds"] < run["run_seconds"] and report["classic_epoch_seconds"] > 0
    assert report["classic_epoch_seconds"] == min(report["classic_epoch_measurements"])
    [row] = report["rows"]
    assert row["run_c_ep"] == pytest.approx(run["run_seconds"] / report["classic_epoch_seconds"], rel=1e-3)
    assert set(row["targets"]) == {"fit_c_ep", "accuracy_mean"}
    assert report["machine"]["bfloat16_speedup"] > 0
    assert 0 <= run["val_non_digits_declined"] <= 1  # read from the run's metrics.json
    assert row["val_non_digits_declined"] == run["val_non_digits_declined"]


def test_summary_checks_the_targets_over_seeds():
    runs = [{"recipe": "default", "seed": s, "params": 2, "epochs_run": 14, "fit_seconds": fit, "run_seconds": run,
             "test_accuracy": acc} for s, fit, run, acc in [(0, 500.0, 600.0, 0.9960), (1, 520.0, 640.0, 0.9949),
                                                             (2, 510.0, 700.0, 0.9962)]]
    [row] = train_benchmark.summarize(runs, classic_epoch=10.0)
    assert row["seeds"] == [0, 1, 2] and row["fit_seconds"] == 510.0 and row["run_c_ep"] == 64.0
    assert row["accuracy_mean"] == pytest.approx(0.9957)
    assert row["accuracy_std"] == pytest.approx(0.0007)  # sample standard deviation of the 3 seeds
    targets = row["targets"]
    assert targets["run_c_ep"]["met"] and targets["accuracy_mean"]["met"]
    assert not targets["accuracy_min"]["met"]  # 99.49% < 99.5%: one seed below the floor fails the recipe
    assert row["val_non_digits_declined"] is None  # runs that recorded none
    runs[0]["val_non_digits_declined"], runs[1]["val_non_digits_declined"] = 0.9, 0.8
    assert train_benchmark.summarize(runs, classic_epoch=10.0)[0]["val_non_digits_declined"] == pytest.approx(0.85)


def test_inference_benchmark_runs(model_dir, tmp_path):
    output = tmp_path / "inference.json"
    assert inference.main(["--tiny", "--model-dir", str(model_dir), "--output", str(output)]) == 0
    result = json.loads(output.read_text())
    assert result["targets"] and all("met" in t for t in result["targets"].values())


def test_api_benchmark_runs_against_the_do_nothing_app(model_dir, tmp_path):
    from benchmarks import api

    output = tmp_path / "api.json"
    assert api.main(["--tiny", "--model-dir", str(model_dir), "--output", str(output)]) == 0
    result = json.loads(output.read_text())
    assert set(result["targets"]) >= {"dropped"} and result["targets"]["dropped"]["value"] == 0
    assert result["app"]["startup_s"] > 0 and result["noop"]["startup_s"] > 0
