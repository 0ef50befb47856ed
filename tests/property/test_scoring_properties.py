"""Invariants of the scoring path, on the production (LightGBM) bundle.

* the scores do not depend on the order of the rows;
* scoring a batch gives each row what scoring it alone gives (``score_frame`` vs ``score_one``),
  the rejected rows included;
* ``p_default`` is always a probability, at or above the floor;
* the fast (Arrow) pieces of reading and writing equal their plain-Python definitions.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from riskcore.data.schema import DEMO_SPEC
from riskcore.data.tabular import neutralise_formulas, parse_numbers
from riskcore.errors import SchemaError
from riskcore.evaluation.grading import PD_FLOOR
from riskcore.serving.scoring import score_frame, score_one

ID, YEAR = DEMO_SPEC.id, DEMO_SPEC.time
SLOW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])


# ---------------------------------------------------------------------------
# strategies from the spec
# ---------------------------------------------------------------------------

def _valid(f) -> st.SearchStrategy:
    if f.kind == "categorical":
        return st.sampled_from(f.categories).flatmap(
            lambda c: st.sampled_from([c, c.upper(), f"  {c.lower()} "]))
    lo = f.min if f.min is not None else -1e6
    hi = f.max if f.max is not None else 1e6
    typical = st.floats(f.typical_min if f.typical_min is not None else lo,
                        f.typical_max if f.typical_max is not None else hi)
    return st.one_of(typical, typical, st.floats(lo, hi), st.sampled_from([lo, hi]))


def _invalid(f) -> st.SearchStrategy:
    if f.kind == "categorical":
        return st.sampled_from(["Space Mining", "n/a?", "12"])
    options = [st.just("abc"), st.just(float("inf")), st.just("-inf")]
    if f.max is not None:
        options.append(st.just(f.max + 1))
    if f.min is not None:
        options.append(st.just(f.min - 1))
    return st.one_of(options)


def _value(f) -> st.SearchStrategy:
    valid = _valid(f)
    return valid if f.required else st.one_of(valid, st.none(), st.none())


_COLUMNS = [f.name for f in DEMO_SPEC.features]


@st.composite
def records(draw, bad: bool = False) -> dict:
    """One company: valid values (optional ones sometimes missing); with ``bad``, about a quarter get 1–2 bad cells."""
    record = {f.name: draw(_value(f)) for f in DEMO_SPEC.features}
    record[DEMO_SPEC.exposure] = draw(st.one_of(st.none(), st.floats(0, 5e8)))
    record.update({pf.name: draw(st.one_of(st.none(), st.floats(-2, 2))) for pf in DEMO_SPEC.panel_features})
    if bad and draw(st.integers(0, 3)) == 0:
        for name in draw(st.lists(st.sampled_from(_COLUMNS + ["exposure", "panel"]), min_size=1, max_size=2)):
            if name == "exposure":
                record[DEMO_SPEC.exposure] = draw(st.sampled_from([-1.0, "ten", float("inf")]))
            elif name == "panel":
                record[DEMO_SPEC.panel_features[0].name] = draw(st.sampled_from(["x", float("inf")]))
            else:
                f = DEMO_SPEC.feature(name)
                record[name] = draw(st.one_of(_invalid(f), st.none()) if f.required else _invalid(f))
    return record


def batches(bad: bool) -> st.SearchStrategy:
    def number(rs):
        return [{ID: f"C{i:04d}", YEAR: 2024, **r} for i, r in enumerate(rs)]
    return st.lists(records(bad), min_size=1, max_size=6).map(number)


# ---------------------------------------------------------------------------
# scoring
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def history(small_portfolio) -> pd.DataFrame:
    """Companies with several years each (panel features in play), one row per company and year."""
    frame = small_portfolio.frame.drop_duplicates(subset=[ID, YEAR], keep=False)
    companies = frame[ID].drop_duplicates().head(120)
    return frame[frame[ID].isin(companies)].reset_index(drop=True)


@SLOW
@given(seed=st.integers(0, 2**32 - 1))
def test_scores_do_not_depend_on_row_order(lgbm_bundle, history, seed):
    order = np.random.default_rng(seed).permutation(len(history))
    first = score_frame(lgbm_bundle, history)
    second = score_frame(lgbm_bundle, history.iloc[order].reset_index(drop=True))

    def by_key(result):
        s = result.scores
        return s.set_index([s[ID].astype(str), s[YEAR].astype(int)])["p_default"].sort_index()

    a, b = by_key(first), by_key(second)
    assert a.index.equals(b.index)
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())
    rejected = {history[ID].iloc[r - 1] for r in first.rejects["row"]}
    assert rejected == {history[ID].iloc[order[r - 1]] for r in second.rejects["row"]}


@SLOW
@given(batch=batches(bad=True))
def test_a_batch_scores_each_row_as_score_one_does(lgbm_bundle, batch):
    result = score_frame(lgbm_bundle, pd.DataFrame.from_records(batch))
    scores = result.scores.set_index("row")
    for i, record in enumerate(batch, start=1):
        try:
            one = score_one(lgbm_bundle, record)
        except SchemaError as err:
            assert i not in scores.index
            rejected = set(result.rejects.loc[result.rejects["row"] == i, "column"])
            assert rejected == {p.column for p in err.problems}
            continue
        assert i in scores.index, result.rejects.to_string()
        row = scores.loc[i]
        assert one["p_default"] == row["p_default"]
        assert one["score_raw"] == row["score_raw"]
        assert (one["decision"], one["grade"], one["risk_level"], one["n_missing"]) == \
            (row["decision"], row["grade"], row["risk_level"], row["n_missing"])
        if one["expected_loss"] is None:
            assert np.isnan(row["expected_loss"])
        else:
            assert one["expected_loss"] == pytest.approx(row["expected_loss"], rel=1e-12)


@SLOW
@given(batch=batches(bad=False))
def test_p_default_is_always_a_probability(lgbm_bundle, batch):
    result = score_frame(lgbm_bundle, pd.DataFrame.from_records(batch))
    assert result.n_scored == len(batch)
    p = result.scores["p_default"].to_numpy()
    assert np.isfinite(p).all() and (p >= PD_FLOOR).all() and (p <= 1).all()
    for record in batch[:2]:
        assert PD_FLOOR <= score_one(lgbm_bundle, record)["p_default"] <= 1


# ---------------------------------------------------------------------------
# the fast pieces against their definitions
# ---------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\x00")
_PLAIN = re.compile(r"[-+]?[0-9]+(?:[.,][0-9]+)?(?:[eE][-+]?[0-9]+)?")


def _neutralised(cell):
    """OWASP's rule, one cell at a time: text starting like a formula gets a leading quote."""
    if not isinstance(cell, str):
        return cell
    if cell.startswith(_FORMULA_START) and not _PLAIN.fullmatch(cell):
        return "'" + cell
    return cell


cells = st.one_of(
    st.text(alphabet=st.sampled_from(list("=+-@\t\r\x00 1234567890.,eE-abcé€'\"\n")), max_size=8),
    st.text(max_size=6),
    st.none(),
)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(cells, max_size=30))
def test_neutralise_formulas_equals_the_cell_by_cell_rule(values):
    for series in (pd.Series(values, dtype=object), pd.Series(values, dtype="str")):
        got = neutralise_formulas(series)
        expected = [_neutralised(v) if isinstance(v, str) else None for v in values]
        assert [None if (v is None or v is np.nan or (isinstance(v, float) and np.isnan(v))) else v
                for v in got.tolist()] == expected


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.one_of(cells, st.floats(allow_nan=False), st.integers(-5, 5)), max_size=20))
def test_neutralise_formulas_leaves_numbers_in_mixed_columns(values):
    got = neutralise_formulas(pd.Series(values, dtype=object)).tolist()
    assert got == [_neutralised(v) for v in values]


numberish = st.one_of(
    st.text(alphabet=st.sampled_from(list("0123456789+-.eE ,naifNIty_x")), max_size=10),
    st.floats(allow_nan=False).map(repr),
    st.sampled_from(["", "  ", " 1.5 ", "inf", "-Infinity", "1e400", "nan", "NaN", ".5", "5.", "+1", "1_0",
                     "0x10", "١٢", "1e5", "-0"]),
    st.none(),
)


def _reference_numbers(values, decimal):
    """The slow definition: pandas' to_numeric on each trimmed cell; blank is missing, 'nan' is not an error.

    Placeholders for "no value" in a numeric column (``-``, ``?``, ``.``, ``none`` …) are missing too, and
    ``5-`` is minus five.
    """
    from riskcore.data.parsing import MISSING_WORDS

    out, bad = [], []
    for v in values:
        text = None if v is None else v.strip()
        if text is not None and text.casefold() in MISSING_WORDS:
            text = ""
        if text is not None and re.fullmatch(r"[\d.,]+-", text):  # a trailing minus, as some ledgers write it
            text = "-" + text[:-1]
        if text is not None and decimal == ",":
            if re.fullmatch(r"[-+]?\d{1,3}(\.\d{3})+(,\d+)?", text):
                text = text.replace(".", "")
            text = text.replace(",", ".")
        if not text:
            out.append(np.nan)
            bad.append(False)
            continue
        x = pd.to_numeric(pd.Series([text], dtype=object), errors="coerce").iloc[0]
        out.append(float(x))
        bad.append(bool(np.isnan(x)) and not re.fullmatch(r"(?i)[-+]?nan", text))
    return np.array(out, dtype=float), np.array(bad, dtype=bool)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(numberish, max_size=12), decimal=st.sampled_from([".", ","]))
def test_parse_numbers_equals_pandas_to_numeric(values, decimal):
    # a column whose cells use the other decimal mark decides its own mark (tests/unit/test_parsing.py)
    other = "," if decimal == "." else "."
    assume(not any(v is not None and other in v and decimal not in v for v in values))
    for series in (pd.Series(values, dtype=object), pd.Series(values, dtype="str")):
        got, bad = parse_numbers(series, decimal)
        want, want_bad = _reference_numbers(values, decimal)
        np.testing.assert_array_equal(bad, want_bad)
        np.testing.assert_array_equal(got[~bad], want[~want_bad])
