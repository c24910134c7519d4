"""Each benchmark runs on a tiny setting and writes its JSON (the figures themselves are measured by
running the scripts, not by tests)."""

import json

from benchmarks import inference
from benchmarks import train as train_benchmark


def test_train_benchmark_runs_and_compares_with_the_classic_recipe(tmp_path):
    output = tmp_path / "train.json"
    report = train_benchmark.main(["--tiny", "--recipes", "classic,fast:2", "--output", str(output)])
    assert json.loads(output.read_text())["rows"] == report["rows"]
    rows = {r["recipe"]: r for r in report["rows"]}
    assert rows["classic"]["accuracy_vs_reference_points"] == 0
    assert rows["fast"]["seeds"] == 2 and rows["fast"]["accuracy_std"] >= 0
    assert len(report["runs"]) == 3 and all(r["train_samples"] == 2000 for r in report["runs"])


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
