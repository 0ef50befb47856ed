"""How well one column, or a quick model on several, separates the classes."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from riskcore.modelling.signal import as_float, column_auc, feature_aucs


def test_feature_auc_cannot_be_fooled_by_an_identifier():
    rng = np.random.default_rng(0)
    y = (rng.random(2000) < 0.1).astype(int)
    frame = pd.DataFrame({"row_id": [f"r{i}" for i in range(2000)], "noise": rng.normal(size=2000)})
    aucs = feature_aucs(frame, y, ["row_id", "noise"]).set_index("column")
    auc = aucs.loc["row_id", "auc"]
    assert np.isnan(auc) or abs(auc - 0.5) < 0.1


def test_column_auc_uses_the_present_rows_and_is_nan_when_it_cannot_tell():
    rng = np.random.default_rng(2)
    y = (rng.random(200) < 0.3).astype(float)
    s = y + rng.normal(size=200)
    s[:20] = np.nan
    assert column_auc(y, s) == roc_auc_score(y[20:], s[20:])
    assert np.isnan(column_auc(y, np.full(200, 1.5)))  # constant: no evidence either way
    assert np.isnan(column_auc(y[:9], s[20:29]))  # fewer than 10 rows
    assert np.isnan(column_auc(np.ones(50), rng.normal(size=50)))  # one class


def test_feature_aucs_reports_values_and_missingness():
    rng = np.random.default_rng(3)
    y = (rng.random(1000) < 0.2).astype(int)
    frame = pd.DataFrame({"signal": y * 2.0 + rng.normal(size=1000),
                          "gaps": np.where(y == 1, np.nan, rng.normal(size=1000))})
    aucs = feature_aucs(frame, y, ["signal", "gaps"]).set_index("column")
    assert aucs.loc["signal", "kind"] == "numeric" and aucs.loc["signal", "auc"] > 0.8
    assert aucs.loc["gaps", "auc_missing"] == 1.0 and np.isnan(aucs.loc["gaps", "auc"])
    assert aucs.loc["gaps", "strength"] == 0.5


def test_as_float_reads_dates_as_nanoseconds_and_missing_as_nan():
    dates = pd.Series(pd.to_datetime(["1970-01-01", None, "1970-01-02"]))
    out = as_float(dates)
    assert out[0] == 0.0 and np.isnan(out[1]) and out[2] == 86_400e9
    assert as_float(pd.Series([1, None], dtype="Int64")).tolist()[0] == 1.0
