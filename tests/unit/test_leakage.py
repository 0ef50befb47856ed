import numpy as np
import pandas as pd
import pytest
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from riskcore.leakage import check_preprocessing, feature_aucs, population_stability, run_leakage_checks
from riskcore.quality import check_frame, clean_for_training, prepare_frame
from riskcore.schema import DEMO_SPEC, extend_spec
from riskcore.split import split_portfolio


@pytest.fixture(scope="module")
def clean_demo(small_portfolio):
    prepared = prepare_frame(small_portfolio.frame, DEMO_SPEC)
    frame, _ = clean_for_training(prepared, check_frame(prepared))
    return frame


def _run(frame, spec=DEMO_SPEC):
    y = frame["default_12m"].to_numpy()
    split = split_portfolio(frame, y, time="fiscal_year", id="company_id")
    return run_leakage_checks(frame, y, spec, split), split


def _status(report, check):
    return next(f for f in report.findings if f.check == check)


def test_clean_demo_has_no_failing_check(clean_demo):
    report, _ = _run(clean_demo)
    assert not report.failed, report.to_text()
    assert {f.check for f in report.findings} >= {"too_good", "signal_share", "post_event", "key_overlap",
                                                  "period_order", "shift"}


def test_renamed_true_pd_is_caught_by_b(clean_demo):
    frame = clean_demo.rename(columns={"true_pd": "internal_score"})
    spec = extend_spec(DEMO_SPEC, frame)
    report, _ = _run(frame, spec)
    assert "internal_score" in report.failed_columns
    assert "fail" in {_status(report, "too_good").status, _status(report, "signal_share").status}


def test_noisy_copy_of_true_pd_fails_signal_share(clean_demo):
    # a vendor score derived from the outcome, blurred just enough to stay under the too-good bar
    noise = np.exp(np.random.default_rng(0).normal(0, 0.5, len(clean_demo)))
    frame = clean_demo.assign(vendor_score=clean_demo["true_pd"] * noise).drop(columns="true_pd")
    report, _ = _run(frame, extend_spec(DEMO_SPEC, frame))
    assert _status(report, "too_good").status == "pass"
    share = _status(report, "signal_share")
    assert share.status == "fail" and share.columns == ("vendor_score",), share.detail


def test_perfect_column_fails_too_good(clean_demo):
    frame = clean_demo.assign(days_to_event=np.where(clean_demo["default_12m"] == 1, 10.0, 400.0)
                              + np.random.default_rng(0).normal(0, 1, len(clean_demo)))
    report, _ = _run(frame, extend_spec(DEMO_SPEC, frame))
    f = _status(report, "too_good")
    assert f.status == "fail" and f.columns == ("days_to_event",)
    assert "AUC" in f.detail and "--drop" in f.detail


def test_target_encoded_category_fails(clean_demo):
    # the reference design's mistake: a category whose codes were built with the outcome
    codes = np.where(clean_demo["default_12m"] == 1, "S" + clean_demo["sector"].str[:3], clean_demo["sector"])
    frame = clean_demo.assign(sector_code=codes)
    report, _ = _run(frame, extend_spec(DEMO_SPEC, frame))
    assert "sector_code" in report.failed_columns


def test_missingness_that_encodes_the_outcome_fails(clean_demo):
    recovery = np.where(clean_demo["default_12m"] == 1, 0.4, np.nan)
    frame = clean_demo.assign(recovered_share=recovery)
    report, _ = _run(frame, extend_spec(DEMO_SPEC, frame))
    f = _status(report, "too_good")
    assert f.status == "fail" and "missingness" in f.detail


def test_post_event_names_are_warned(clean_demo):
    frame = clean_demo.assign(collection_calls=np.random.default_rng(0).poisson(1, len(clean_demo)))
    report, _ = _run(frame, extend_spec(DEMO_SPEC, frame))
    assert _status(report, "post_event").status == "warn"


def test_key_overlap_is_caught(clean_demo):
    report, split = _run(clean_demo)
    # put a training row's key into the test part
    dup = clean_demo.iloc[[split.train[0]]].copy()
    frame = pd.concat([clean_demo, dup], ignore_index=True)
    from riskcore.split import Split
    bad = Split(split.mode, split.train, split.validation, np.append(split.test, len(frame) - 1), split.periods)
    y = frame["default_12m"].to_numpy()
    report = run_leakage_checks(frame, y, DEMO_SPEC, bad)
    assert _status(report, "key_overlap").status == "fail"
    assert _status(report, "period_order").status == "fail"


def test_macro_shift_is_warned_not_failed(clean_demo):
    report, _ = _run(clean_demo)
    f = _status(report, "shift")
    assert f.status == "warn" and "policy_rate" in f.columns
    assert report.shift.set_index("column").loc["policy_rate", "psi"] > 0.25


def test_psi_matches_a_hand_computation():
    rng = np.random.default_rng(0)
    e = pd.Series(rng.normal(size=5000))
    a = pd.Series(rng.normal(0.5, 1, size=5000))
    psi, ks = population_stability(e, a)
    edges = np.quantile(e, np.linspace(0, 1, 11)[1:-1])
    pe = np.bincount(np.searchsorted(edges, e, side="right"), minlength=10) / 5000
    pa = np.bincount(np.searchsorted(edges, a, side="right"), minlength=10) / 5000
    expected = np.sum((pa - pe) * np.log(pa / pe))
    assert psi == pytest.approx(expected, rel=1e-6)
    assert 0.15 < ks < 0.25
    assert population_stability(e, e)[0] == pytest.approx(0.0)


def test_feature_auc_cannot_be_fooled_by_an_identifier():
    rng = np.random.default_rng(0)
    y = (rng.random(2000) < 0.1).astype(int)
    frame = pd.DataFrame({"row_id": [f"r{i}" for i in range(2000)], "noise": rng.normal(size=2000)})
    aucs = feature_aucs(frame, y, ["row_id", "noise"]).set_index("column")
    auc = aucs.loc["row_id", "auc"]
    assert np.isnan(auc) or abs(auc - 0.5) < 0.1


def test_preprocessing_fitted_on_train_passes_and_on_all_rows_fails(clean_demo):
    cols = ["current_ratio", "roa", "debt_to_assets", "esg_governance"]
    X = clean_demo[cols]
    y = clean_demo["default_12m"].to_numpy()
    tr, other = X.iloc[:5000], X.iloc[5000:]
    pipe = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler()),
                     ("model", LogisticRegression())])
    pipe.fit(tr, y[:5000])
    ok = check_preprocessing(pipe, tr, other)
    assert ok.status == "pass" and "fitted on training rows only" in ok.detail
    leaky = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler()),
                      ("model", LogisticRegression())])
    leaky.fit(X, y)
    bad = check_preprocessing(leaky, tr, other)
    assert bad.status == "fail" and "'impute'" in bad.detail or "'scale'" in bad.detail
