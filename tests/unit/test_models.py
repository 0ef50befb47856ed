import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import ParameterGrid

from riskcore.data.schema import DEMO_SPEC
from riskcore.modelling.features import add_panel_features
from riskcore.modelling.models import MODEL_KINDS, SIMPLICITY, EmptyColumnFiller, make_pipeline, raw_score, search_space


@pytest.fixture(scope="module")
def one_year(small_portfolio):
    """A single fiscal year: every year-on-year feature is empty."""
    f = small_portfolio.frame.drop_duplicates()
    f = f[f["fiscal_year"] == 2020].reset_index(drop=True)
    return add_panel_features(f, DEMO_SPEC)


@pytest.mark.parametrize("kind", [k for k in MODEL_KINDS if k != "ensemble"])
def test_every_candidate_fits_on_data_with_empty_columns_and_strings(one_year, kind):
    assert one_year["roa_delta"].isna().all()
    params = next(iter(ParameterGrid(search_space(kind))))
    pipe = make_pipeline(kind, DEMO_SPEC, params).fit(one_year, one_year["default_12m"])
    s = raw_score(pipe, one_year)
    assert np.isfinite(s).all() and s.std() > 0


def test_search_spaces_are_small_and_known():
    for kind in MODEL_KINDS:
        space = search_space(kind)
        assert len(ParameterGrid(space)) <= 2000 if space else kind == "ensemble"
        assert kind in SIMPLICITY
    assert SIMPLICITY["logistic"] < SIMPLICITY["lightgbm"] < SIMPLICITY["ensemble"]
    with pytest.raises(ValueError, match="unknown model kind"):
        search_space("deep_net")


def test_smote_resamples_training_rows_only(one_year):
    y = one_year["default_12m"].to_numpy()
    pipe = make_pipeline("lightgbm", DEMO_SPEC, {"n_estimators": 30}, smote=True).fit(one_year, y)
    # fitting oversamples defaults to a balanced set; predicting sees the rows as given
    steps = pipe.named_steps
    Xt = steps["impute"].transform(steps["features"].transform(one_year))
    _, y_res = steps["smote"].fit_resample(Xt, y)
    assert y_res.mean() == 0.5 and len(y_res) > len(y)
    assert len(pipe.predict_proba(one_year)) == len(y)


def test_ensemble_averages_member_probabilities(one_year):
    y = one_year["default_12m"].to_numpy()
    ens = make_pipeline("ensemble", DEMO_SPEC, members=[("logistic", {"C": 0.1}),
                                                        ("lightgbm", {"n_estimators": 50})]).fit(one_year, y)
    p = ens.predict_proba(one_year)[:, 1]
    expected = np.mean([m.predict_proba(one_year)[:, 1] for _, m in ens.members], axis=0)
    np.testing.assert_allclose(p, expected)


def test_empty_column_filler():
    X = np.array([[1.0, np.nan], [2.0, np.nan]])
    out = EmptyColumnFiller().fit(X).transform(np.array([[3.0, 5.0]]))
    np.testing.assert_array_equal(out, [[3.0, 0.0]])
    assert not np.isnan(EmptyColumnFiller().fit(X).transform(X)).any()
    assert pd.isna(X).sum() == 2  # the input is not modified
