"""Lifetime PD term structures: marginal and cumulative PD by year ahead, two ways, from a scored panel.

A provision needs the probability of default in each year of an exposure's remaining life, not only in
the next twelve months. Both methods here start from the model's 12-month PD (so year 1 is the PD the
credit decision used) and differ in how they carry it forward; both are estimated from a panel of
company-years with the model's PD and the observed 12-month default flag:

* **hazard** (:func:`grade_hazards`, :func:`hazard_term_structure`) — a discrete-time hazard per grade
  of the master scale: of the companies in grade *g* in some year, the share that default in the *k*-th
  year after it among those still observed at its start (withdrawals leave the risk set, defaulters are
  absorbed). A company's year-*k* hazard is its grade's year-*k* hazard times the company's 12-month PD
  relative to the grade's mean PD (proportional hazards), so the company keeps its place within
  its grade while the grade's observed survival shapes the later years.
* **migration** (:func:`migration_matrix`, :func:`migration_term_structure`) — the cohort method: a
  one-year grade migration matrix from consecutive years (from the grade in year *t* to the grade in
  *t + 1*, or to default when the company defaulted in the 12 months after *t*; companies that leave
  without defaulting are withdrawn and left out, the usual "WR-adjusted" cohort), with default as an
  absorbing state; later years are matrix powers (a time-homogeneous Markov chain). A company's first
  year is its own PD (its grade's row with the default entry replaced and the other entries rescaled),
  the later ones follow the chain from there.

Sparse rows. A grade with few companies gives a noisy row (a grade seen a dozen times may show no
default at all, and a row seen never is undefined). Each observed row is therefore shrunk toward a
prior built from its neighbouring grades: the counts of grades *g − 1*, *g* and *g + 1* pooled as
*moves* (a move of *m* notches from a neighbour counts as a move of *m* notches from *g*, clipped to
the scale; defaults count as defaults), the window widening until it holds a transition. The row is
``(counts + w · prior) / (n + w)``, a Dirichlet posterior mean with ``w`` pseudo-transitions
(:data:`PRIOR_WEIGHT`): a grade with thousands of transitions is its own, a grade with a handful
borrows the shape of its neighbours (a credit scale's rows look alike when read as moves), and an empty
grade is its neighbours'. The hazard method shrinks each grade's hazards the same way, toward the
pooled hazard of the neighbouring grades in the same year ahead. Neighbours rather than a flat prior
because a flat prior would move mass to far grades and default, which no credit scale shows.

All outputs are plain arrays; :class:`LifetimeCurves` holds a portfolio's curves with a ``frame()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from riskcore.evaluation.grading import MASTER_SCALE, grade_index

__all__ = ["DEFAULT_STATE", "LIFETIME_METHODS", "PRIOR_WEIGHT", "GradeHazards", "LifetimeCurves", "LifetimeMethod",
           "MigrationMatrix", "PanelCounts", "PanelOutcomes", "against_truth", "cumulative_from_marginal",
           "grade_hazards", "hazard_term_structure", "hazards_from_counts", "lifetime_curves", "migration_from_counts",
           "migration_matrix", "migration_term_structure", "panel_counts", "term_structures", "transition_counts"]

LifetimeMethod = Literal["hazard", "migration"]
LIFETIME_METHODS: tuple[str, ...] = ("hazard", "migration")
PRIOR_WEIGHT = 20.0
"""Pseudo-transitions (or pseudo-companies at risk) of the neighbouring grades' prior in each row."""
DEFAULT_STATE = "D"
_GRADES: tuple[str, ...] = tuple(g.name for g in MASTER_SCALE)
_K = len(_GRADES)


@dataclass(frozen=True)
class PanelOutcomes:
    """A scored panel of company-years: who, which year, the model's 12-month PD and whether it defaulted.

    ``ids`` and ``periods`` (whole years) identify the rows; ``p_default`` is the model's PD of the row,
    ``defaults`` 1 when the company defaulted in the 12 months after it. A company with a default has no
    later row (it left the portfolio). Rows whose outcome is not known yet must be left out.
    """

    ids: np.ndarray
    periods: np.ndarray
    p_default: np.ndarray
    defaults: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.ids)
        if not (len(self.periods) == len(self.p_default) == len(self.defaults) == n):
            raise ValueError("ids, periods, p_default and defaults must have the same length")
        if n == 0:
            raise ValueError("the panel has no company-years with a known outcome; lifetime PDs need at least two "
                             "consecutive years of history with the default flag")
        if pd.MultiIndex.from_arrays([self.ids, self.periods]).has_duplicates:
            raise ValueError("the panel holds a company-year more than once; keep one row per company and year")

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, *, id_column: str, period_column: str, pd_column: str,
                   default_column: str) -> PanelOutcomes:
        """The panel from a frame's columns (rows with a missing PD or outcome left out)."""
        keep = frame[pd_column].notna() & frame[default_column].notna()
        f = frame.loc[keep]
        return cls(f[id_column].to_numpy(), f[period_column].to_numpy(dtype=np.int64),
                   f[pd_column].to_numpy(dtype=float), f[default_column].to_numpy(dtype=np.int64))

    def ahead(self, years: int) -> np.ndarray:
        """For each row, the index of the same company's row ``years`` later (-1 when there is none)."""
        keys = pd.MultiIndex.from_arrays([self.ids, self.periods])
        later = pd.MultiIndex.from_arrays([self.ids, self.periods + years])
        found = keys.get_indexer(later)
        return np.asarray(found, dtype=np.int64)


def _neighbour_prior(counts: np.ndarray, row: int, pool: str) -> np.ndarray:
    """The prior of one row: neighbouring grades' counts pooled (as notch moves for migrations), widened when empty."""
    for width in range(1, _K):
        lo, hi = max(row - width, 0), min(row + width, _K - 1)
        if pool == "hazard":
            block = counts[lo:hi + 1]
            if block[:, 1].sum() > 0:
                return block.sum(axis=0)
            continue
        prior = np.zeros(_K + 1)
        for src in range(lo, hi + 1):
            moved = np.clip(np.arange(_K) - src + row, 0, _K - 1)
            np.add.at(prior, moved, counts[src, :_K])
            prior[_K] += counts[src, _K]
        if prior.sum() > 0:
            return prior / prior.sum()
    if pool == "hazard":
        raise ValueError("the panel has no default to estimate hazards from; lifetime PDs need company-years "
                         "with the default flag and some defaults among them")
    raise ValueError("the panel has no transitions to estimate from; it needs companies observed in two "
                     "consecutive years, or a default")


def transition_counts(panel: PanelOutcomes) -> np.ndarray:
    """One-year transitions: a (10, 11) array of counts from each grade to each grade and to default (last column).

    A company-year counts when its company defaulted in the 12 months after it (to default) or has a row the
    next year (to that row's grade); a company that left without defaulting is withdrawn and not counted.
    """
    src = grade_index(panel.p_default)
    nxt = panel.ahead(1)
    dest = np.where(panel.defaults == 1, _K, -1)
    moved = (panel.defaults == 0) & (nxt >= 0)
    dest[moved] = grade_index(panel.p_default[nxt[moved]])
    counts = np.zeros((_K, _K + 1))
    ok = dest >= 0
    np.add.at(counts, (src[ok], dest[ok]), 1.0)
    return counts


@dataclass(frozen=True)
class MigrationMatrix:
    """A one-year grade migration matrix with an absorbing default state (the cohort method, rows shrunk).

    Attributes
    ----------
    states : the ten grades of the master scale and ``"D"``.
    counts : (10, 11) observed transitions (:func:`transition_counts`).
    matrix : (11, 11) row-stochastic; the last row is default, absorbing.
    prior_weight : the pseudo-transitions each row borrows from its neighbouring grades.
    """

    states: tuple[str, ...]
    counts: np.ndarray
    matrix: np.ndarray
    prior_weight: float

    def power(self, years: int) -> np.ndarray:
        """The ``years``-year transition matrix (``matrix`` to that power; the identity for 0)."""
        return np.linalg.matrix_power(self.matrix, int(years))

    def cumulative_pd(self, years: int) -> np.ndarray:
        """Each grade's probability of default within ``years`` years (the default column of the power)."""
        return self.power(years)[:_K, _K]

    def frame(self) -> pd.DataFrame:
        """The matrix as a table: one row per grade (``from_grade``, ``observed``), a column per state."""
        out = pd.DataFrame(self.matrix[:_K], columns=list(self.states))
        out.insert(0, "observed", self.counts.sum(axis=1).astype(int))
        out.insert(0, "from_grade", list(self.states[:_K]))
        return out


def migration_matrix(panel: PanelOutcomes, *, prior_weight: float = PRIOR_WEIGHT) -> MigrationMatrix:
    """The cohort-method migration matrix of a scored panel, each row shrunk toward its neighbours (module notes).

    Raises
    ------
    ValueError
        When the panel holds no transition at all, or ``prior_weight`` is negative.
    """
    return migration_from_counts(transition_counts(panel), prior_weight=prior_weight)


def migration_from_counts(counts: np.ndarray, *, prior_weight: float = PRIOR_WEIGHT) -> MigrationMatrix:
    """:func:`migration_matrix` from (10, 11) transition counts (:func:`transition_counts`, summed over parts).

    Raises
    ------
    ValueError
        When the counts hold no transition at all, or ``prior_weight`` is negative.
    """
    if prior_weight < 0:
        raise ValueError(f"prior_weight={prior_weight!r} must be at least 0, e.g. {PRIOR_WEIGHT}")
    matrix = np.zeros((_K + 1, _K + 1))
    matrix[_K, _K] = 1.0
    for g in range(_K):
        n = counts[g].sum()
        if n == 0 or prior_weight > 0:
            prior = _neighbour_prior(counts, g, "migration")
            matrix[g] = (counts[g] + prior_weight * prior) / (n + prior_weight) if n + prior_weight > 0 else prior
        else:
            matrix[g] = counts[g] / n
    return MigrationMatrix((*_GRADES, DEFAULT_STATE), counts, matrix, float(prior_weight))


@dataclass(frozen=True)
class GradeHazards:
    """Each grade's observed default hazard by year ahead, shrunk toward the neighbouring grades.

    Attributes
    ----------
    at_risk, defaults : (10, horizon) companies observed at the start of year *k* after being in the grade,
        and those that defaulted in that year.
    hazard : (10, horizon) the shrunk hazards (the share defaulting in year *k* among those at risk).
    mean_pd : (10,) the mean 12-month PD of the grade's company-years (the grade's own PD as the model sees it;
        the midpoint of the grade's PD range when the panel has none).
    """

    at_risk: np.ndarray
    defaults: np.ndarray
    hazard: np.ndarray
    mean_pd: np.ndarray
    prior_weight: float

    @property
    def horizon(self) -> int:
        """Years ahead the hazards cover."""
        return int(self.hazard.shape[1])

    def frame(self) -> pd.DataFrame:
        """A long table: grade, year, at_risk, defaults, hazard, cumulative_pd (the grade's own survival)."""
        cum = 1.0 - np.cumprod(1.0 - self.hazard, axis=1)
        k = np.arange(1, self.horizon + 1)
        return pd.DataFrame({"grade": np.repeat(np.array(_GRADES, dtype=object), self.horizon),
                             "year": np.tile(k, _K), "at_risk": self.at_risk.ravel().astype(int),
                             "defaults": self.defaults.ravel().astype(int), "hazard": self.hazard.ravel(),
                             "cumulative_pd": cum.ravel()})


@dataclass(frozen=True)
class PanelCounts:
    """What both term structures are estimated from, as counts that add up over parts of a panel.

    A panel read a part at a time (a file of any size) gives the same term structures as the whole panel,
    provided each company's rows are all in one part: ``at_risk`` and ``defaults`` (10, years) of the hazard
    method, ``pd_sum`` and ``seen`` (10,) for each grade's mean PD, ``transitions`` (10, 11) of the migration
    method (:func:`transition_counts`).
    """

    at_risk: np.ndarray
    defaults: np.ndarray
    pd_sum: np.ndarray
    seen: np.ndarray
    transitions: np.ndarray

    @classmethod
    def empty(cls, years: int) -> PanelCounts:
        """No company-year yet, for ``years`` years ahead."""
        return cls(np.zeros((_K, years)), np.zeros((_K, years)), np.zeros(_K), np.zeros(_K), np.zeros((_K, _K + 1)))

    def __add__(self, other: PanelCounts) -> PanelCounts:
        if self.at_risk.shape != other.at_risk.shape:
            raise ValueError(f"counts of {self.at_risk.shape[1]} and {other.at_risk.shape[1]} years ahead do not add")
        return PanelCounts(self.at_risk + other.at_risk, self.defaults + other.defaults, self.pd_sum + other.pd_sum,
                           self.seen + other.seen, self.transitions + other.transitions)

    @property
    def company_years(self) -> int:
        """The company-years counted."""
        return int(self.seen.sum())


def panel_counts(panel: PanelOutcomes, years: int) -> PanelCounts:
    """The counts of a scored panel for 1 … ``years`` years ahead (see :func:`grade_hazards` for who is at risk)."""
    if years < 1:
        raise ValueError(f"years={years!r} must be at least 1")
    src = grade_index(panel.p_default)
    at_risk = np.zeros((_K, years))
    defaults = np.zeros((_K, years))
    alive = np.arange(len(src))
    for k in range(years):
        if k:
            step = panel.ahead(k)
            # observed k years later, and every year between (no gap): the history runs unbroken
            alive = np.where((alive >= 0) & (step >= 0), step, -1)
        ok = alive >= 0
        if not ok.any():
            break
        np.add.at(at_risk[:, k], src[ok], 1.0)
        np.add.at(defaults[:, k], src[ok], panel.defaults[alive[ok]].astype(float))
    return PanelCounts(at_risk, defaults, np.bincount(src, weights=panel.p_default, minlength=_K).astype(float),
                       np.bincount(src, minlength=_K).astype(float), transition_counts(panel))


def grade_hazards(panel: PanelOutcomes, horizon: int, *, prior_weight: float = PRIOR_WEIGHT) -> GradeHazards:
    """The per-grade discrete-time hazards of a scored panel for years 1 … ``horizon`` ahead.

    A company in grade *g* in year *t* is at risk in year *k* when it has a row in year *t + k − 1* (it
    survived and was still observed; a gap or an exit ends its history) and defaults in year *k* when that
    row's default flag is 1. Years ahead with no default in the panel at all (beyond its history) repeat the
    hazards of the last year that has one.

    Raises
    ------
    ValueError
        When ``horizon`` is below 1 or the panel has no default-flagged company-year.
    """
    if horizon < 1:
        raise ValueError(f"horizon={horizon!r} must be at least 1 year")
    return hazards_from_counts(panel_counts(panel, horizon), horizon, prior_weight=prior_weight)


def hazards_from_counts(counts: PanelCounts, horizon: int, *, prior_weight: float = PRIOR_WEIGHT) -> GradeHazards:
    """:func:`grade_hazards` from a panel's counts (years beyond the counts' repeat the last year with a default).

    Raises
    ------
    ValueError
        When ``horizon`` is below 1, ``prior_weight`` negative, or the counts hold no default.
    """
    if horizon < 1:
        raise ValueError(f"horizon={horizon!r} must be at least 1 year")
    if prior_weight < 0:
        raise ValueError(f"prior_weight={prior_weight!r} must be at least 0, e.g. {PRIOR_WEIGHT}")
    middle = np.array([np.sqrt(max(g.lower, 1e-4) * min(g.upper, 1.0)) for g in MASTER_SCALE])
    mean_pd = np.divide(counts.pd_sum, counts.seen, out=middle, where=counts.seen > 0)
    width = counts.at_risk.shape[1]
    at_risk = np.zeros((_K, horizon))
    defaults = np.zeros((_K, horizon))
    at_risk[:, :min(width, horizon)] = counts.at_risk[:, :horizon]
    defaults[:, :min(width, horizon)] = counts.defaults[:, :horizon]
    hazard = np.zeros((_K, horizon))
    for k in range(horizon):
        pair = np.column_stack([at_risk[:, k], defaults[:, k]])
        if k and pair[:, 1].sum() == 0:
            # beyond what the panel's history shows (no default that many years ahead): the last year it shows
            hazard[:, k] = hazard[:, k - 1]
            continue
        for g in range(_K):
            prior = _neighbour_prior(pair, g, "hazard") if (prior_weight > 0 or at_risk[g, k] == 0) else pair[g]
            p0 = prior[1] / prior[0]
            w = prior_weight if at_risk[g, k] > 0 else 1.0
            hazard[g, k] = (defaults[g, k] + w * p0) / (at_risk[g, k] + w)
    return GradeHazards(at_risk, defaults, hazard, mean_pd, float(prior_weight))


def cumulative_from_marginal(marginal: np.ndarray) -> np.ndarray:
    """Cumulative PD by year from marginal (unconditional) PDs: their running sum, clipped to 1."""
    return np.minimum(np.cumsum(marginal, axis=1), 1.0)


def _marginal_from_hazard(hazard: np.ndarray) -> np.ndarray:
    """Marginal PDs from conditional hazards: year *k*'s hazard times the survival to its start."""
    survival = np.cumprod(1.0 - hazard, axis=1)
    before = np.column_stack([np.ones(len(hazard)), survival[:, :-1]])
    return before * hazard


def hazard_term_structure(p_default: np.ndarray, hazards: GradeHazards, horizon: int) -> np.ndarray:
    """Marginal PDs (n, horizon) by the hazard method: the 12-month PD carried forward with its grade's survival.

    Year 1's hazard is the PD itself; year *k*'s is ``PD × h_g(k) / PD̄_g`` (capped at 1): the grade's observed
    hazard scaled by the company's PD relative to the grade's mean PD, *g* the PD's grade. The grade's mean PD
    rather than its observed first-year default rate, which is a noisy count in the good grades.
    """
    if horizon > hazards.horizon:
        raise ValueError(f"horizon={horizon!r} is beyond the {hazards.horizon} years the hazards were estimated for")
    p = np.asarray(p_default, dtype=float)
    g = grade_index(p)
    rel = hazards.hazard[:, :horizon] / hazards.mean_pd[:, None]
    h = np.minimum(p[:, None] * rel[g], 1.0)
    h[:, 0] = p
    return _marginal_from_hazard(h)


def migration_term_structure(p_default: np.ndarray, migration: MigrationMatrix, horizon: int) -> np.ndarray:
    """Marginal PDs (n, horizon) by the migration method: year 1 the company's PD, then the Markov chain.

    The first year's distribution is the company's grade row with its own PD in the default column and the
    other entries rescaled to the rest; year *k*'s state distribution is that row times the matrix to the
    power *k − 1*.
    """
    p = np.asarray(p_default, dtype=float)
    g = grade_index(p)
    rows = migration.matrix[g].copy()
    rest = 1.0 - rows[:, _K]
    scale = np.divide(1.0 - p, rest, out=np.zeros_like(p), where=rest > 0)
    rows[:, :_K] *= scale[:, None]
    rows[:, _K] = p
    cumulative = np.empty((len(p), horizon))
    step = np.eye(_K + 1)
    for k in range(horizon):
        cumulative[:, k] = rows @ step[:, _K]
        step = step @ migration.matrix
    return np.diff(np.column_stack([np.zeros(len(p)), cumulative]), axis=1)


@dataclass(frozen=True)
class LifetimeCurves:
    """A portfolio's lifetime PD curves: marginal and cumulative PD per company and year ahead.

    ``marginal`` and ``cumulative`` are (n, horizon); years after a company's remaining term have a marginal
    PD of 0 (its cumulative PD stays at its lifetime PD). ``terms`` holds each company's years.
    """

    method: str
    marginal: np.ndarray
    cumulative: np.ndarray
    terms: np.ndarray

    @property
    def twelve_month(self) -> np.ndarray:
        """The first year's PD."""
        return self.cumulative[:, 0]

    @property
    def lifetime(self) -> np.ndarray:
        """The PD over each company's remaining term."""
        return self.cumulative[:, -1]

    def frame(self, ids: np.ndarray | None = None) -> pd.DataFrame:
        """A long table: row (or id), year, marginal_pd, cumulative_pd, for the years within each term."""
        n, h = self.marginal.shape
        year = np.tile(np.arange(1, h + 1), n)
        who = np.repeat(np.arange(n) if ids is None else np.asarray(ids), h)
        keep = year <= np.repeat(self.terms, h)
        return pd.DataFrame({"id": who[keep], "year": year[keep], "marginal_pd": self.marginal.ravel()[keep],
                             "cumulative_pd": self.cumulative.ravel()[keep]})


def lifetime_curves(p_default: np.ndarray, terms: np.ndarray | int, method: LifetimeMethod, *,
                    hazards: GradeHazards | None = None, migration: MigrationMatrix | None = None) -> LifetimeCurves:
    """Each company's lifetime curve up to its remaining term (whole years, at least 1), by one method.

    Raises
    ------
    ValueError
        When the method is unknown, its estimate is missing, or a term is below 1 year.
    """
    p = np.asarray(p_default, dtype=float)
    term = np.broadcast_to(np.asarray(terms), p.shape).astype(float)
    if np.isnan(term).any() or (term < 1).any():
        raise ValueError(f"{int((np.isnan(term) | (term < 1)).sum())} remaining term(s) are missing or below 1 year; "
                         "give each exposure's remaining years (at least 1)")
    years = np.ceil(term - 1e-9).astype(np.int64)  # a part-year counts as a year of exposure
    horizon = int(years.max()) if len(years) else 1
    if method == "hazard":
        if hazards is None:
            raise ValueError("the hazard method needs the grades' hazards (grade_hazards)")
        marginal = hazard_term_structure(p, hazards, horizon)
    elif method == "migration":
        if migration is None:
            raise ValueError("the migration method needs a migration matrix (migration_matrix)")
        marginal = migration_term_structure(p, migration, horizon)
    else:
        raise ValueError(f"lifetime method {method!r} is unknown; use one of {', '.join(LIFETIME_METHODS)}")
    marginal = np.where(np.arange(1, horizon + 1)[None, :] <= years[:, None], marginal, 0.0)
    return LifetimeCurves(method, marginal, cumulative_from_marginal(marginal), years)


def against_truth(p_default: np.ndarray, true_cumulative: np.ndarray, *, hazards: GradeHazards,
                  migration: MigrationMatrix) -> pd.DataFrame:
    """Estimated against true cumulative PD per grade and horizon, for both methods (the demo's known truth).

    Parameters
    ----------
    p_default : (n,) the model's 12-month PD of each company.
    true_cumulative : (n, horizon) each company's true cumulative PD for 1 … horizon years
        (:func:`riskcore.data.synth.true_lifetime_pd`).

    Returns
    -------
    pandas.DataFrame
        ``grade``, ``year``, ``companies``, ``true_pd``, ``hazard_pd``, ``migration_pd`` (grade means of the
        cumulative PDs) and ``hazard_error``, ``migration_error`` (relative to the truth), in grade order.
    """
    p = np.asarray(p_default, dtype=float)
    truth = np.asarray(true_cumulative, dtype=float)
    if truth.ndim != 2 or len(truth) != len(p):
        raise ValueError(f"true_cumulative must hold one row of horizons per company ({len(p)}), not "
                         f"{truth.shape}")
    horizon = truth.shape[1]
    est = {m: lifetime_curves(p, horizon, m, hazards=hazards, migration=migration).cumulative
           for m in ("hazard", "migration")}
    g = grade_index(p)
    rows = []
    for gi in np.unique(g):
        sel = g == gi
        for k in range(horizon):
            true_k = float(truth[sel, k].mean())
            row = {"grade": _GRADES[gi], "year": k + 1, "companies": int(sel.sum()), "true_pd": true_k}
            for m, values in est.items():
                row[f"{m}_pd"] = float(values[sel, k].mean())
                row[f"{m}_error"] = row[f"{m}_pd"] / true_k - 1.0 if true_k > 0 else np.nan
            rows.append(row)
    return pd.DataFrame(rows)


def term_structures(hazards: GradeHazards, migration: MigrationMatrix, horizon: int | None = None) -> pd.DataFrame:
    """Each grade's cumulative PD by year ahead under both methods, for a company at the grade's mean PD.

    Returns
    -------
    pandas.DataFrame
        ``grade``, ``year`` (1 … ``horizon``, default the hazards' horizon), ``mean_pd`` (the grade's mean
        12-month PD), ``hazard_pd`` and ``migration_pd`` (cumulative), in grade order.
    """
    h = hazards.horizon if horizon is None else min(int(horizon), hazards.horizon)
    p = hazards.mean_pd
    est = {m: lifetime_curves(p, h, m, hazards=hazards, migration=migration).cumulative  # type: ignore[arg-type]
           for m in LIFETIME_METHODS}
    return pd.DataFrame({"grade": np.repeat(np.array(_GRADES, dtype=object), h),
                         "year": np.tile(np.arange(1, h + 1), _K), "mean_pd": np.repeat(p, h),
                         "hazard_pd": est["hazard"].ravel(), "migration_pd": est["migration"].ravel()})
