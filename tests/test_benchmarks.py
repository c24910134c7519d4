"""Each benchmark runs on a tiny setting and writes its JSON (the figures themselves are measured by
running the scripts, not by tests)."""

import json

import pytest

from benchmarks import inference
from benchmarks import train as train_benchmark


def test_train_benchmark_runs_and_writes_its_report(tmp_path):
    output = tmp_path / "train.json"
    report = train_benchmark.main(["--tiny", "--recipes", "classic,fast:2", "--output", str(output)])
    assert json.loads(output.read_text())["rows"] == report["rows"]
    assert [(r["recipe"], r["seed"]) for r in report["runs"]] == [("classic", 0), ("fast", 0), ("fast", 1)]
    assert all(r["train_samples"] == 2000 and r["epochs_run"] == 1 for r in report["runs"])
    assert report["classic_epoch_seconds"] > 0
    fast = next(r for r in report["rows"] if r["recipe"] == "fast")
    assert fast["fit_in_classic_epochs"] == pytest.approx(fast["fit_seconds"] / report["classic_epoch_seconds"],
                                                          rel=0.01)


def test_summary_averages_seeds_and_compares_with_classic():
    runs = [
        {"recipe": "classic", "params": 1, "epochs_run": 15, "fit_seconds": 150.0, "seconds_to_99": 40.0,
         "final_test_accuracy": 0.9900},
        {"recipe": "fast", "params": 2, "epochs_run": 3, "fit_seconds": 40.0, "seconds_to_99": 20.0,
         "final_test_accuracy": 0.9910},
        {"recipe": "fast", "params": 2, "epochs_run": 3, "fit_seconds": 50.0, "seconds_to_99": 30.0,
         "final_test_accuracy": 0.9930},
    ]
    rows = {r["recipe"]: r for r in train_benchmark.summarize(runs, classic_epoch=10.0)}
    fast = rows["fast"]
    assert fast["seeds"] == 2 and fast["fit_seconds"] == 45.0 and fast["fit_in_classic_epochs"] == 4.5
    assert fast["accuracy_mean"] == pytest.approx(0.9920)
    assert fast["accuracy_std"] == pytest.approx(0.0014142, rel=1e-4)  # sample standard deviation of the 2 seeds
    assert fast["time_to_99_vs_reference"] == pytest.approx(25.0 / 40.0)
    assert fast["accuracy_vs_reference_points"] == pytest.approx(0.20)
    assert rows["classic"]["accuracy_std"] == 0.0 and rows["classic"]["fit_in_classic_epochs"] == 15.0


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
