"""The reading benchmark (benchmarks/reading.py): its quick mode runs and writes a sane report, and the pieces
its figures rest on (the number composer, the edit distance, the trade-off curve) do what they say.
The figures themselves are measured by running the script, not by tests."""

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks import reading

ROOT = Path(__file__).resolve().parent.parent
COMMITTED_MODEL = ROOT / "models" / "mnist-cnn"


def _column_runs(layer: np.ndarray) -> int:
    """How many separate runs of inked columns (digits side by side, apart) the layer has."""
    inked = (layer > 0.5).any(axis=0).astype(int)
    return int(np.count_nonzero(np.diff(np.concatenate([[0], inked])) == 1))


@pytest.fixture(scope="module")
def solid_digits():
    """Test digits whose pen strokes form one blob of columns (no broken strokes), 2 of each class."""
    from hub.data import load_mnist

    data = load_mnist()
    chosen = []
    for digit_class in range(10):
        for i in np.nonzero(data.y_test == digit_class)[0][:40]:
            if _column_runs(reading.brush_mask(data.x_test[i], 120, 10.0)) == 1:
                chosen.append(data.x_test[i])
            if len(chosen) == 2 * (digit_class + 1):
                break
    return np.stack(chosen)


def test_spaced_numbers_keep_their_digits_apart_and_touching_pairs_touch(solid_digits):
    rng = np.random.default_rng(0)
    for start in range(0, len(solid_digits) - 4, 3):
        digits = solid_digits[start:start + 4]
        spaced = reading.compose_number(digits, rng, height=120, pen=10.0, gaps=[0.2, 0.4, 0.6])
        assert _column_runs(spaced) == 4
        # the gaps are in digit heights: at least 0.2 * 120 px between the ink boxes
        inked = (spaced > 0.5).any(axis=0)
        blanks = np.diff(np.nonzero(inked)[0]) - 1
        assert sorted(blanks[blanks > 0])[0] >= 0.2 * 120 - 2
        pair = reading.compose_number(digits[:2], rng, height=120, pen=10.0, gaps=[None])
        assert _column_runs(pair) == 1  # no blank column between them: the ink of the two digits meets


@pytest.mark.parametrize("style", list(reading.NUMBER_CANVASES))
def test_every_number_style_renders_an_image_the_reader_accepts(style, solid_digits):
    from hub.images import load_image

    image = load_image(reading.render_number(solid_digits[:3], style, np.random.default_rng(1), [0.3, 0.3]))
    assert min(image.size) >= 28 and image.size[0] > image.size[1] * 0.9


def test_edit_distance_and_number_rows():
    assert reading.edit_distance("2024", "2024") == 0
    assert reading.edit_distance("2024", "224") == 1
    assert reading.edit_distance("2024", "2025") == 1
    assert reading.edit_distance("", "12") == 2
    def found(number):
        return [{"digit": d} for d in number]

    items = [("2024", {"status": "ok", "number": "2024", "digits": found("2024")}, 0.01),
             ("42", {"status": "ok", "number": "47", "digits": found("47")}, 0.02),
             ("17", {"status": "not_a_digit", "number": "", "digits": found("17")}, 0.03)]
    row = reading.number_rows(items)
    assert row["exact_pct"] == pytest.approx(100 / 3, abs=0.01)
    assert row["exact_ignoring_declines_pct"] == pytest.approx(200 / 3, abs=0.01)  # the declined 17 was read right
    assert row["digit_pct"] == pytest.approx(100 * (1 - 3 / 8), abs=0.01)  # 0 + 1 + 2 wrong of 8 digits
    assert row["declined_pct"] == pytest.approx(100 / 3, abs=0.01)


def test_tradeoff_curve_counts_declines_at_each_threshold():
    non_digits = np.array([0.9, 0.6, 0.3, np.nan])  # nan: nothing found, never declined
    clean = np.array([0.01, 0.02, 0.55, 0.0])
    styles = {"a": np.array([0.0, 0.7]), "b": np.array([0.0, 0.0])}
    curve = {row["threshold"]: row for row in reading.tradeoff_curve(non_digits, clean, styles, operating=0.5)}
    assert curve[0.5]["operating_point"] and sum(r["operating_point"] for r in curve.values()) == 1
    assert curve[0.5]["non_digits_declined_pct"] == 50.0
    assert curve[0.5]["mnist_test_declined_pct"] == 25.0
    assert curve[0.5]["styles_declined_pct"] == 25.0 and curve[0.5]["worst_style_declined_pct"] == 50.0
    assert curve[0.95]["non_digits_declined_pct"] == 0.0
    assert 0.45 in curve and 0.41 in curve  # finer steps around the operating point
    rates = [row["non_digits_declined_pct"] for row in curve.values()]
    assert rates == sorted(rates, reverse=True)


def test_quick_mode_writes_a_sane_report(tmp_path):
    """With the committed model (10 classes, no calibration), nothing is declined and T = 1 changes nothing."""
    output = tmp_path / "reading.json"
    assert reading.main(["--quick", "--model-dir", str(COMMITTED_MODEL), "--json", str(output)]) == 0
    result = json.loads(output.read_text())
    assert result["quick"] and result["machine"]["cores"] >= 1 and result["machine"]["cpu"]
    assert result["seconds"]["total"]["wall"] > 0 and result["seconds"]["total"]["cpu"] > 0
    lengths = result["spaced_numbers"]["by_length"]
    assert sorted(lengths, key=int) == [str(n) for n in reading.LENGTHS]
    for row in lengths.values():
        assert row["all"]["count"] == 3 * len(result["styles"])
        assert 0 <= row["all"]["exact_pct"] <= row["all"]["digit_pct"] <= 100
    assert result["touching_pairs"]["all"]["count"] == 3 * len(result["styles"])
    assert result["non_digits"]["all"]["count"] == 3 * len(result["styles"])
    assert set(result["single_digits"]) == set(result["single_styles"])
    assert result["mnist_test"]["count"] == 1000 and result["mnist_test"]["accuracy_pct"] > 97
    # the truth and the readings line up: most digits of spaced numbers are read (a reader that finds one digit
    # per image, or labels out of step with the images, stays near 15%)
    assert result["spaced_numbers"]["all"]["digit_pct"] > 40
    # version-1 model: never declines, and calibration is the identity
    labels = result["labels"]
    if "not_a_digit" not in labels:
        assert result["decline_threshold"] is None and result["temperature"] == 1.0
        assert result["mnist_test"]["declined_pct"] == 0 and result["non_digits"]["all"]["declined_pct"] == 0
        assert all(r["declined_pct"] == 0 for r in result["single_digits"].values())
        assert all(r["non_digits_declined_pct"] == 0 for r in result["tradeoff_curve"])
        assert result["mnist_test"]["before_pct"] == result["mnist_test"]["after_pct"]
    assert 0 <= result["mnist_test"]["after_pct"] < 5
    targets = result["targets"]
    assert all({"value", "target", "met", "required"} <= set(t) for t in targets.values())
    assert result["all_targets_met"] == all(t["met"] for t in targets.values() if t["required"])


def test_update_card_puts_the_runs_figures_in_the_model_card(tmp_path):
    """--update-card writes the summary into the model folder and the card shows it; check_card then notices a
    figure of reading.json that the card does not show."""
    import shutil

    from hub.card import check_card

    output = tmp_path / "reading.json"
    assert reading.main(["--quick", "--model-dir", str(COMMITTED_MODEL), "--json", str(output)]) == 0
    result = json.loads(output.read_text())
    folder = tmp_path / "model"
    shutil.copytree(COMMITTED_MODEL, folder)
    (folder / "reading.json").unlink(missing_ok=True)
    card = reading.update_card(folder, result).read_text(encoding="utf-8")
    assert "## On drawings, photos and whole numbers" in card
    for name, row in result["single_digits"].items():
        assert f"| {name.replace('_', ' ')} | {row['count']:,} | {row['read_number_pct']:.2f}% |" in card
        assert f"| {row['ece']['after_pct']:.2f}% | {row['ece']['floor_pct']:.2f}% |" in card
    assert f"{result['non_digits']['all']['declined_pct']:.1f}% are declined" in card
    touching = result["touching_pairs"]["all"]
    assert f"Touching pairs: {touching['exact_pct']:.1f}% read\n  exactly, {touching['declined_pct']:.1f}% declined" in card
    assert check_card(folder) == []
    summary = json.loads((folder / "reading.json").read_text())
    summary["touching_pairs_exact_pct"] = 42.42
    (folder / "reading.json").write_text(json.dumps(summary))
    assert any("42.4%" in problem for problem in check_card(folder))


def test_update_card_refuses_a_quick_run():
    with pytest.raises(SystemExit):
        reading.main(["--quick", "--update-card"])


def test_the_ece_floor_is_what_a_calibrated_model_shows_and_shrinks_with_more_items():
    """A set whose answers are right with exactly their confidence has an ECE near the floor, not near 0; the
    floor falls as the set grows (why 500 digits per style overstated the miscalibration)."""
    from hub.calibration import expected_calibration_error

    def calibrated_set(n, seed):
        rng = np.random.default_rng(seed)
        confidence = np.clip(1 - rng.exponential(0.03, n), 0.5, 1.0)  # mostly sure, as digits are
        p = np.tile(((1 - confidence) / 9)[:, None], (1, 10))
        p[:, 0] = confidence
        labels = np.where(rng.random(n) < confidence, 0, 1 + rng.integers(0, 9, n))
        return p, labels

    floors = {}
    for n in (500, 3000):
        eces = [expected_calibration_error(*calibrated_set(n, seed)) for seed in range(40)]
        p, _ = calibrated_set(n, 0)
        floors[n] = reading.calibrated_ece_floor(p)
        assert floors[n] == pytest.approx(np.mean(eces), rel=0.25)
    assert floors[500] > 1.8 * floors[3000]
