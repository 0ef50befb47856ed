import io
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from riskcore.data.infer import extend_spec, infer_spec
from riskcore.data.quality import check_frame, clean_for_training, prepare_frame
from riskcore.data.schema import DEMO_SPEC
from riskcore.data.tabular import read_table
from riskcore.modelling.leakage import check_preprocessing, run_leakage_checks
from riskcore.modelling.signal import quick_model_auc as _quick_model_auc
from riskcore.modelling.split import Split, split_portfolio


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
    from riskcore.modelling.split import Split
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


# ---------------------------------------------------------------------------
# awkward data never crashes
# ---------------------------------------------------------------------------

def _degenerate(kind, n=200, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    frame = pd.DataFrame({"company_id": [f"C{i}" for i in range(n)], "fiscal_year": 2000 + np.arange(n) % 8,
                          "x": rng.normal(size=n), "default_12m": y})
    if kind == "all_missing":
        frame["empty"] = np.nan
        frame["empty_text"] = pd.Series([None] * n, dtype=object)
    elif kind == "single_value":
        frame["one"] = 1.0
        frame["one_text"] = "A"
    elif kind == "thousand_levels":
        frame = pd.concat([frame] * 6, ignore_index=True)
        frame["company_id"] = [f"C{i}" for i in range(len(frame))]
        frame["city"] = [f"City {i % 1000}" for i in range(len(frame))]
        frame["x"] = np.random.default_rng(1).normal(size=len(frame)) + frame["default_12m"] * 3
    elif kind == "one_class":
        frame["default_12m"] = 0
    elif kind == "tiny":
        frame = frame.iloc[:10].copy()
    elif kind == "near_empty_early_periods":
        frame["fiscal_year"] = np.where(np.arange(n) < 3, 1962 + np.arange(n), 2010 + np.arange(n) % 6)
    elif kind == "money_text":
        frame["amount"] = [f"${v:,.2f}" for v in rng.lognormal(10, 1, n)]
    elif kind == "post_event_dates":
        frame["lost_on"] = np.where(frame["default_12m"] == 1, "28-Feb-07", None)
    elif kind == "datetimes":
        frame["when"] = pd.to_datetime("2020-01-01") + pd.to_timedelta(np.arange(n), unit="D")
    elif kind == "missing_ids":
        frame.loc[::3, "company_id"] = None
    return frame


@pytest.mark.parametrize("kind", ["all_missing", "single_value", "thousand_levels", "one_class", "tiny",
                                  "near_empty_early_periods", "money_text", "post_event_dates", "datetimes",
                                  "missing_ids"])
def test_leakage_checks_never_crash(kind):
    frame = _degenerate(kind)
    spec = infer_spec(frame, target="default_12m", id="company_id", time="fiscal_year")
    if kind == "post_event_dates":
        spec = replace(spec, post_event=("lost_on",))
    y = frame["default_12m"].to_numpy()
    if len(np.unique(y)) > 1 and len(frame) >= 20:
        split = split_portfolio(frame, y, time="fiscal_year", id="company_id")
    else:  # split_portfolio needs both classes; hand the checks a split as it comes
        idx = np.arange(len(frame))
        split = Split("out_of_time", idx[: len(idx) * 3 // 4], idx[len(idx) * 3 // 4:len(idx) * 7 // 8],
                      idx[len(idx) * 7 // 8:])
    report = run_leakage_checks(frame, y, spec, split)
    checks = {f.check: f for f in report.findings}
    assert {"too_good", "signal_share", "post_event", "key_overlap", "shift"} <= set(checks)
    assert all(f.status in ("pass", "warn", "fail", "skip") and f.detail for f in report.findings)
    if kind in ("one_class", "tiny"):
        assert checks["too_good"].status == "skip" and "outcome" in checks["too_good"].detail
    if kind == "post_event_dates":
        assert "lost_on" in report.failed_columns


def test_quick_model_skips_text_with_too_many_levels():
    frame = _degenerate("thousand_levels")
    y = frame["default_12m"].to_numpy()
    auc, why = _quick_model_auc(frame, y, ["city", "x"], np.arange(len(frame)), 7)
    assert auc > 0.8 and not why
    auc, why = _quick_model_auc(frame, y, ["city"], np.arange(len(frame)), 7)
    assert np.isnan(auc) and why


def test_loan_export_fails_both_post_outcome_columns():
    table = read_table(_loan_export())
    spec = infer_spec(table.frame, target="MIS_Status", id="LoanNr_ChkDgt", time="ApprovalFY", positive="CHGOFF",
                      decimal=table.info.decimal)
    assert spec.feature("ChgOffPrinGr").kind == "numeric"  # money, so the outcome itself is tested as a number
    assert "ChgOffDate" in spec.post_event
    assert spec.feature("ApprovalDate").from_date and "Bank" in spec.never
    prepared = prepare_frame(table, spec)
    report = check_frame(prepared)
    assert any("money written as" in n for n in report.notes)
    frame, _ = clean_for_training(prepared, report, "CHGOFF")
    y = frame["MIS_Status"].to_numpy()
    split = split_portfolio(frame, y, time=spec.time, id=spec.id)
    for columns in (None, [c for c in spec.model_inputs if c in frame]):  # as `check` and as `train` call it
        leak = run_leakage_checks(frame, y, spec, split, columns=columns)
        assert {"ChgOffPrinGr", "ChgOffDate"} <= set(leak.failed_columns), leak.to_text()
        detail = next(f for f in leak.failed if f.check == "too_good").detail
        assert "'ChgOffPrinGr'" in detail and "'ChgOffDate'" in detail



def _loan_export(n: int = 6000, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    # 60 fiscal years, the first ones near-empty
    years = np.arange(1962, 2022)
    weight = np.where(years < 1970, 0.0, np.exp((years - 1970) / 12.0))
    fy = rng.choice(years, size=n, p=weight / weight.sum())
    fy[:8] = [1962, 1962, 1963, 1964, 1964, 1964, 1966, 1968]
    start = pd.to_datetime(pd.Series(fy.astype(str)) + "-01-01")
    approval = start + pd.to_timedelta(rng.integers(0, 365, n), unit="D")
    disburse = approval + pd.to_timedelta(rng.integers(5, 60, n), unit="D")
    amount = np.round(rng.lognormal(11, 1, n), -2)
    jobs = rng.poisson(0.7, n) * rng.integers(0, 2, n)
    employees = rng.poisson(8, n)
    term = rng.choice([60, 84, 120, 240, 300], n)
    logit = -2.0 + 0.8 * (term < 100) - 0.05 * employees + rng.normal(0, 1, n)
    default = rng.random(n) < 1 / (1 + np.exp(-logit))
    lost = np.where(default, np.round(amount * rng.uniform(0.1, 0.9, n), 2), 0.0)
    loss_date = approval + pd.to_timedelta(rng.integers(365, 5 * 365, n), unit="D")
    banks = np.array([f"Bank {i:03d} National" for i in range(300)])
    cities = np.array([f"City {i}" for i in range(1000)])
    frame = pd.DataFrame({
        "LoanNr_ChkDgt": [str(1000000 + i) for i in range(n)],
        "Name": [f"Company {i} Inc" for i in range(n)],
        "City": rng.choice(cities, n),
        "Bank": rng.choice(banks, n),
        "ApprovalDate": approval.dt.strftime("%d-%b-%y"),
        "ApprovalFY": fy.astype(str),
        "Term": term.astype(str),
        "NoEmp": employees.astype(str),
        "CreateJob": jobs.astype(str),
        "RevLineCr": rng.choice(["Y", "N", "none", "0", "T"], n),
        "DisbursementDate": disburse.dt.strftime("%d-%b-%y"),
        "DisbursementGross": [f"${v:,.2f}" for v in amount],
        "GrAppv": [f"${v:,.2f}" for v in amount],
        "ChgOffDate": np.where(default, loss_date.dt.strftime("%d-%b-%y"), ""),
        "ChgOffPrinGr": [f"${v:,.2f}" for v in lost],
        "MIS_Status": np.where(default, "CHGOFF", "P I F"),
    })
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    return buf.getvalue().encode()
