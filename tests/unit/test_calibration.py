"""Calibrators: isotonic and Platt fits against scikit-learn, their JSON form and their input checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
from samples import raw_score_sample as _scored
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from riskcore.errors import BundleError, SchemaError
from riskcore.evaluation.reliability import expected_calibration_error
from riskcore.modelling.calibration import Calibrator, fit_calibrator


@pytest.mark.parametrize("ties", [False, True])
def test_isotonic_predict_equals_sklearn_including_out_of_range(ties):
    score, y = _scored(ties=ties)
    cal = fit_calibrator(score, y, "isotonic", centred=False)
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1, increasing=True).fit(score, y)
    rng = np.random.default_rng(1)
    queries = np.concatenate([
        rng.uniform(score.min() - 5, score.max() + 5, 20_000),  # includes values outside the fitted range
        score,  # the knots themselves
        [-1e9, 1e9, score.min(), score.max()],
    ])
    np.testing.assert_allclose(cal.predict(queries), iso.predict(queries), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(cal.x_, iso.X_thresholds_)
    np.testing.assert_array_equal(cal.y_, iso.y_thresholds_)


def test_isotonic_with_sample_weight_equals_sklearn():
    score, y = _scored(500, ties=True)
    w = np.random.default_rng(3).uniform(0.2, 3.0, len(y))
    cal = fit_calibrator(score, y, "isotonic", sample_weight=w, centred=False)
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(score, y, sample_weight=w)
    q = np.linspace(-8, 5, 1001)
    np.testing.assert_allclose(cal.predict(q), iso.predict(q), atol=1e-12)


def test_platt_matches_unpenalised_logistic_regression():
    score, y = _scored()
    cal = fit_calibrator(score, y, "platt")
    lr = LogisticRegression(C=1e6, tol=1e-10, max_iter=1000).fit(score.reshape(-1, 1), y)
    q = np.linspace(-6, 4, 201)
    np.testing.assert_allclose(cal.predict(q), lr.predict_proba(q.reshape(-1, 1))[:, 1], atol=1e-7)
    assert cal.a_ > 0
    assert cal.x_ is None and cal.y_ is None


def test_platt_with_backwards_score_is_the_constant_default_rate():
    score, y = _scored()
    cal = fit_calibrator(-score, y, "platt")
    assert cal.a_ == 0.0
    np.testing.assert_allclose(cal.predict(np.array([-10.0, 0.0, 10.0])), y.mean(), rtol=1e-12)


def test_platt_on_constant_score_is_the_default_rate():
    y = np.array([0, 1, 0, 0])
    cal = fit_calibrator(np.full(4, 2.5), y, "platt")
    np.testing.assert_allclose(cal.predict(np.array([0.0, 2.5])), 0.25)


def test_platt_predict_has_no_overflow_warnings():
    cal = Calibrator("platt", a_=3.0, b_=0.0)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        p = cal.predict(np.array([-1e6, -800.0, 0.0, 800.0, 1e6]))
    np.testing.assert_allclose(p, [0.0, 0.0, 0.5, 1.0, 1.0])


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_round_trip_through_json_is_exact(method):
    score, y = _scored()
    cal = fit_calibrator(score, y, method)
    data = json.loads(json.dumps(cal.to_dict()))
    again = Calibrator.from_dict(data)
    assert again == cal
    q = np.linspace(-7, 4, 333)
    np.testing.assert_array_equal(again.predict(q), cal.predict(q))
    assert all(isinstance(v, (str, float, list)) for v in data.values())


@pytest.mark.parametrize("data", [
    {"method": "isotonic", "x": [0.0, 1.0]},
    {"method": "isotonic", "x": [1.0, 0.0], "y": [0.1, 0.2]},
    {"method": "isotonic", "x": [0.0, 1.0], "y": [0.5, 0.2]},
    {"method": "platt", "a": -1.0, "b": 0.0},
    {"method": "spline"},
    {},
])
def test_from_dict_rejects_invalid_parameters(data):
    with pytest.raises(BundleError, match="calibrator is not valid"):
        Calibrator.from_dict(data)


def test_calibrator_arrays_are_read_only_and_unhashable():
    cal = Calibrator("isotonic", x_=np.array([0.0, 1.0]), y_=np.array([0.1, 0.9]))
    with pytest.raises(ValueError):
        cal.x_[0] = 5.0
    with pytest.raises(TypeError):
        hash(cal)
    assert cal != Calibrator("platt", a_=1.0, b_=0.0)


def test_single_knot_isotonic_predicts_a_constant():
    cal = fit_calibrator(np.array([1.0, 1.0, 1.0, 1.0]), np.array([0, 1, 0, 0]), "isotonic")
    np.testing.assert_allclose(cal.predict(np.array([-3.0, 1.0, 9.0])), 0.25)


def test_fit_with_a_single_class_raises_a_clear_value_error():
    with pytest.raises(ValueError, match="needs both defaults"):
        fit_calibrator(np.arange(5.0), np.zeros(5), "isotonic")
    with pytest.raises(SchemaError, match="only 1"):
        fit_calibrator(np.arange(5.0), np.ones(5), "platt")


def test_fit_with_different_lengths_raises():
    with pytest.raises(ValueError, match="column 'raw_score': has 4 values but y_true has 5"):
        fit_calibrator(np.arange(4.0), np.array([0, 1, 0, 1, 0]))


def test_fit_with_labels_other_than_0_1_names_the_rows():
    with pytest.raises(SchemaError, match=r"row 3: 2"):
        fit_calibrator(np.arange(4.0), np.array([0, 1, 2, 1]))


def test_fit_with_missing_scores_names_the_rows():
    with pytest.raises(SchemaError, match=r"missing or infinite \(row 2: nan"):
        fit_calibrator(np.array([0.0, np.nan, 1.0]), np.array([0, 1, 1]))


def test_fit_with_unknown_method_raises():
    with pytest.raises(ValueError, match="'spline' is unknown"):
        fit_calibrator(np.arange(4.0), np.array([0, 1, 0, 1]), "spline")  # type: ignore[arg-type]


def test_empty_inputs_raise():
    with pytest.raises(SchemaError, match="empty"):
        fit_calibrator(np.array([]), np.array([]))
    with pytest.raises(SchemaError, match="empty"):
        expected_calibration_error(np.array([]), np.array([]))
    assert Calibrator("platt", a_=1.0, b_=0.0).predict(np.array([])).shape == (0,)


def test_centred_isotonic_passes_through_block_centres_without_plateaus():
    score, y = _scored(3000)
    plain = fit_calibrator(score, y, "isotonic", centred=False)
    cal = fit_calibrator(score, y, "isotonic")
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(score, y)
    # same fitted values at every block centre …
    np.testing.assert_allclose(cal.predict(cal.x_), iso.predict(cal.x_), atol=1e-12)
    assert set(np.round(cal.y_, 12)) == set(np.round(np.unique(iso.predict(score)), 12))
    # … strictly increasing between them, so distinct scores inside the range get distinct PDs
    assert np.all(np.diff(cal.y_) > 0)
    inside = score[(score > cal.x_[0]) & (score < cal.x_[-1])]
    assert len(np.unique(cal.predict(inside))) > 10 * len(np.unique(plain.predict(inside)))
    # and the average PD is preserved within a rounding error
    assert cal.predict(score).mean() == pytest.approx(y.mean(), abs=0.01)
