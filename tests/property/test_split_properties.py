"""Split invariants over generated panels: no key in two parts, periods ordered, proportions close."""

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from riskcore.modelling.split import cv_folds, split_portfolio


@st.composite
def panels(draw):
    n_periods = draw(st.integers(3, 12))
    sizes = draw(st.lists(st.integers(40, 300), min_size=n_periods, max_size=n_periods))
    rate = draw(st.floats(0.05, 0.4))
    seed = draw(st.integers(0, 10_000))
    rng = np.random.default_rng(seed)
    rows = []
    for p, n in enumerate(sizes):
        ids = rng.choice(5000, n, replace=False)
        rows.append(pd.DataFrame({"id": ids.astype(str), "t": 2000 + p}))
    frame = pd.concat(rows, ignore_index=True)
    y = (rng.random(len(frame)) < rate).astype(int)
    y[: 3] = 1
    y[3:6] = 0
    return frame, y


@given(panels())
def test_out_of_time_split_invariants(panel):
    frame, y = panel
    s = split_portfolio(frame, y, time="t", id="id")
    n = len(frame)
    all_idx = np.concatenate([s.train, s.validation, s.test])
    assert len(all_idx) == n and len(np.unique(all_idx)) == n
    if s.mode == "out_of_time":
        t = frame["t"].to_numpy()
        assert t[s.train].max() < t[s.validation].min() <= t[s.validation].max() < t[s.test].min()
        keys = [set(zip(frame["id"].iloc[p], frame["t"].iloc[p])) for p in (s.train, s.validation, s.test)]
        assert not (keys[0] & keys[1]) and not (keys[0] & keys[2]) and not (keys[1] & keys[2])
        # whole periods: each part's share is the closest achievable to the target given whole periods
        counts = frame.groupby("t").size().to_numpy()
        assert len(s.test) >= counts[-1]
        for part in (s.validation, s.test):
            assert y[part].min() == 0 and y[part].max() == 1


@given(st.integers(200, 2000), st.floats(0.05, 0.3), st.integers(0, 1000))
def test_stratified_proportions(n, rate, seed):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < rate).astype(int)
    y[:10] = 1
    s = split_portfolio(pd.DataFrame({"x": np.zeros(n)}), y, random_state=seed)
    assert abs(len(s.train) / n - 0.75) < 0.05
    assert abs(len(s.test) / n - 0.125) < 0.04
    assert abs(y[s.test].mean() - y.mean()) < 0.05


@given(st.integers(50, 400), st.integers(2, 5), st.integers(0, 1000))
def test_cv_folds_keep_each_company_in_one_fold(n_companies, rows_each, seed):
    rng = np.random.default_rng(seed)
    ids = np.repeat(np.arange(n_companies), rows_each)
    y = (rng.random(len(ids)) < 0.2).astype(int)
    y[:5] = 1
    for tr, va in cv_folds(y, ids, n_splits=4, random_state=seed):
        assert not set(ids[tr]) & set(ids[va])
