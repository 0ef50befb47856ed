"""Numeric columns that identify a row, or count time, rather than describe the borrower.

A loan number is a number, so it reads as a numeric feature; but it says nothing about the
borrower that the model should learn, and, handed out in turn, it rises with time, so in an
out-of-time split every test value lies beyond every training value (on a public SME loan
export, a sequential loan number used as a feature had a PSI of 3.95 between the training and
the test years). :func:`identifier_reason` says why a numeric column looks like such a column,
or ``None``; :func:`riskcore.data.infer.infer_spec` then leaves it out of the features with that
reason in a note, unless the user names it as a feature, and the leakage check still tests it.

Two rules, each on the column's present values:

**Unique whole numbers spread evenly over their range.** At least :data:`UNIQUE_SHARE` (95 %)
of at least :data:`MIN_VALUES` values are distinct, every value is whole, and their distribution
is within :data:`EVEN_SPREAD` (Kolmogorov–Smirnov distance) of the uniform one between the
smallest and the largest. Why each condition:

- *distinct*: an identifier names one row; 95 % and not 100 % because exports repeat a few rows;
- *whole numbers*: a continuous ratio (a margin, a leverage) is also unique per row, only because
  it is a float; no identifier is written with decimals, so floats are never caught by this rule;
- *spread evenly*: numbers handed out in turn (or drawn at random from a block) cover their range
  evenly, while amounts in whole units, which can also be unique, crowd at the low end with a long
  tail (a turnover in whole euros is lognormal: its distance to the uniform is above 0.5). Money
  written with a currency sign is an amount and never caught by this rule.

**Rising (or falling) with the time column.** With a time column of at least
:data:`MIN_PERIODS` periods, the column takes many values within a period (at least half of its
values distinct) and orders like time: Goodman and Kruskal's γ between the column and the
period is at least :data:`TIME_ORDER` (0.95) in absolute value. γ counts, over the pairs of rows
from two different periods whose values differ, the pairs ordered like their periods minus those
ordered the other way, divided by both: 0.95 means that of two such rows the later one has the
larger value 97.5 % of the time. γ and not Spearman's correlation: the time column is tied within
each period, which caps Spearman's ρ of even a perfectly sequential number below 1 (about 0.94 with
three equal periods), while γ leaves the tied pairs out. A series that is one value per period (a
policy rate, a price index) has few distinct values and is not caught: it is a macro feature.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from riskcore.data.parsing import CONSISTENT_SHARE, parse_dates, parse_numbers

__all__ = ["EVEN_SPREAD", "MIN_PERIODS", "MIN_VALUES", "TIME_ORDER", "UNIQUE_SHARE", "even_spread",
           "identifier_reason", "period_order", "time_order"]

UNIQUE_SHARE = 0.95
"""Share of distinct values from which whole numbers look like an identifier."""
EVEN_SPREAD = 0.2
"""Largest Kolmogorov–Smirnov distance to the uniform distribution over the values' range."""
TIME_ORDER = 0.95
"""Smallest |γ| between a column and the period from which it is said to rise (or fall) with time."""
MIN_VALUES = 50
"""Fewer present values than this say nothing: a short column is easily unique."""
MIN_PERIODS = 3
"""Periods the time rule needs: with two, any column that differs between them would order like time."""
_TIME_DISTINCT = 0.5
_TIME_SAMPLE = 20_000  # γ is measured on at most this many rows (a seeded sample), to bound its cost


def period_order(values: pd.Series, decimal: str = ".") -> np.ndarray | None:
    """Each row's period as a number that orders like time: a year (or period number), or a date.

    Parameters
    ----------
    values : the time column as read (numbers, or dates).
    decimal : the file's decimal mark.

    Returns
    -------
    numpy.ndarray or None
        float64 per row (dates as nanoseconds since the epoch), NaN where missing or unreadable; ``None`` when
        the column holds neither numbers nor dates.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        dates = parse_dates(values)[0]
    else:
        numbers, bad = parse_numbers(values, decimal)
        present = int((~np.isnan(numbers)).sum()) + int(bad.sum())
        if present and int(np.isfinite(numbers).sum()) >= CONSISTENT_SHARE * present:
            return np.where(np.isfinite(numbers), numbers, np.nan)
        dates = parse_dates(values)[0]
        if int((~np.isnat(dates)).sum()) < CONSISTENT_SHARE * max(present, 1):
            return None
    return np.where(np.isnat(dates), np.nan, dates.astype("datetime64[ns]").astype(np.int64).astype(float))


def even_spread(values: np.ndarray) -> float:
    """Kolmogorov–Smirnov distance between the values and the uniform distribution over their range (0: even)."""
    v = np.sort(np.asarray(values, dtype=float))
    low, high = v[0], v[-1]
    if high == low:
        return 1.0
    return float(stats.kstest((v - low) / (high - low), "uniform").statistic)


def _tied_pairs(values: np.ndarray) -> float:
    """Pairs of rows with equal values."""
    counts = np.unique(values, return_counts=True)[1].astype(float)
    return float((counts * (counts - 1) / 2).sum())


def time_order(values: np.ndarray, periods: np.ndarray) -> float:
    """Goodman and Kruskal's γ between a column and the period: +1 rises with time, −1 falls, 0 unrelated.

    Pairs tied in either variable are left out. Computed from Kendall's τ-b and the ties
    (γ = τ_b √((n₀ − n₁)(n₀ − n₂)) / (n₀ − n₁ − n₂ + n₃)), in O(n log n).

    Parameters
    ----------
    values, periods : equal-length arrays of finite numbers (rows with a missing one removed beforehand).

    Returns
    -------
    float
        γ, or NaN when no pair differs in both.
    """
    x, t = np.asarray(values, dtype=float), np.asarray(periods, dtype=float)
    n = len(x)
    pairs = n * (n - 1) / 2
    x_ties, t_ties = _tied_pairs(x), _tied_pairs(t)
    both = _tied_pairs(np.unique(np.column_stack([x, t]), axis=0, return_inverse=True)[1].ravel())
    untied = pairs - x_ties - t_ties + both  # pairs that differ in both: concordant + discordant
    if untied <= 0 or x_ties == pairs or t_ties == pairs:
        return float("nan")
    tau = stats.kendalltau(x, t, variant="b").statistic
    return float(np.clip(tau * np.sqrt((pairs - x_ties) * (pairs - t_ties)) / untied, -1.0, 1.0))


def identifier_reason(values: np.ndarray, *, integer: bool, amount: bool = False,
                      periods: np.ndarray | None = None, time_name: str | None = None,
                      random_state: int = 7) -> str | None:
    """Why a numeric column looks like an identifier or a count of time rather than a feature, or ``None``.

    Parameters
    ----------
    values : the column's numbers (NaN where missing).
    integer : every present value is whole (:attr:`riskcore.data.parsing.ColumnFormat.integer`).
    amount : the column is money written with a currency sign (an amount, never an identifier by uniqueness).
    periods : each row's period (:func:`period_order`), or ``None`` without a time column.
    time_name : the time column's name, for the reason's sentence.
    random_state : seed of the sample γ is measured on when the column is long.

    Returns
    -------
    str or None
        The reason, as the end of a sentence naming the column.
    """
    x = np.asarray(values, dtype=float)
    present = np.isfinite(x)
    n = int(present.sum())
    if n < MIN_VALUES:
        return None
    distinct = len(np.unique(x[present]))
    share = distinct / n
    reasons = []
    if integer and not amount and share >= UNIQUE_SHARE and even_spread(x[present]) <= EVEN_SPREAD:
        reasons.append(f"{distinct:,} distinct whole numbers in {n:,} rows ({share:.0%}), spread evenly over their "
                       "range as numbers handed out in turn are: an identifier")
    if periods is not None and share >= _TIME_DISTINCT:
        gamma = _gamma_with_time(x, present, np.asarray(periods, dtype=float), random_state)
        if abs(gamma) >= TIME_ORDER:
            way, ordered = ("rises", (1 + gamma) / 2) if gamma > 0 else ("falls", (1 - gamma) / 2)
            reasons.append(f"it {way} with the time column{f' {time_name!r}' if time_name else ''} "
                           f"(Goodman–Kruskal γ {gamma:+.2f}: of two rows from different periods, the later has the "
                           f"{'larger' if gamma > 0 else 'smaller'} value {ordered:.0%} of the time), so it measures "
                           "when a row was recorded, not the borrower, and an out-of-time test lies beyond its "
                           "training range")
    return "; ".join(reasons) or None


def _gamma_with_time(x: np.ndarray, present: np.ndarray, periods: np.ndarray, random_state: int) -> float:
    """γ of the column with the period over the rows with both (a sample of them when long); 0 when unmeasurable."""
    both = present & np.isfinite(periods)
    if int(both.sum()) < MIN_VALUES or len(np.unique(periods[both])) < MIN_PERIODS:
        return 0.0
    rows = np.flatnonzero(both)
    if len(rows) > _TIME_SAMPLE:
        rows = np.sort(np.random.default_rng(random_state).choice(rows, _TIME_SAMPLE, replace=False))
    gamma = time_order(x[rows], periods[rows])
    return gamma if np.isfinite(gamma) else 0.0
