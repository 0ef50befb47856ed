import numpy as np
import pandas as pd
import pytest

from riskcore.modelling.split import cv_folds, split_portfolio


def test_out_of_time_split_of_the_demo(small_portfolio):
    f = small_portfolio.frame.drop_duplicates().reset_index(drop=True)
    y = f["default_12m"].to_numpy()
    s = split_portfolio(f, y, time="fiscal_year", id="company_id")
    assert s.mode == "out_of_time"
    years = f["fiscal_year"]
    assert years.iloc[s.train].max() < years.iloc[s.validation].min()
    assert years.iloc[s.validation].max() < years.iloc[s.test].min()
    assert s.periods["test"] == [2024] and s.periods["validation"] == [2023]
    assert len(s.train) + len(s.validation) + len(s.test) == len(f)
    summary = s.summary(y, f["company_id"], years)
    assert list(summary["part"]) == ["train", "validation", "test"]
    assert summary["share"].sum() == pytest.approx(1.0)


def test_stratified_without_time():
    rng = np.random.default_rng(0)
    f = pd.DataFrame({"x": rng.normal(size=800)})
    y = (rng.random(800) < 0.1).astype(int)
    s = split_portfolio(f, y)
    assert s.mode == "stratified"
    assert len(s.train) / 800 == pytest.approx(0.75, abs=0.03)
    for part in (s.validation, s.test):
        assert len(part) / 800 == pytest.approx(0.125, abs=0.02)
        assert y[part].mean() == pytest.approx(y.mean(), abs=0.03)


def test_too_few_periods_falls_back_with_a_note():
    f = pd.DataFrame({"t": [2020] * 100 + [2021] * 100})
    y = np.tile([0, 0, 0, 1], 50)
    s = split_portfolio(f, y, time="t")
    assert s.mode == "stratified" and "at least 3" in s.note


def test_stratified_keeps_companies_together():
    ids = np.repeat(np.arange(200), 4)
    f = pd.DataFrame({"id": ids})
    y = (np.random.default_rng(1).random(800) < 0.15).astype(int)
    s = split_portfolio(f, y, id="id")
    parts = [set(ids[p]) for p in (s.train, s.validation, s.test)]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])


def test_cv_folds_group_and_stratify():
    ids = np.repeat(np.arange(300), 3)
    y = (np.random.default_rng(2).random(900) < 0.1).astype(int)
    folds = cv_folds(y, ids, n_splits=5)
    assert len(folds) == 5
    seen = np.zeros(900, dtype=int)
    for tr, va in folds:
        assert not set(ids[tr]) & set(ids[va])
        seen[va] += 1
        assert y[va].sum() > 0
    assert (seen == 1).all()
