"""The supervisors' validation battery: each test with its statistic, its p-value or band, its rule and its light.

Computed at training on the test rows (``metrics.json``'s ``validation_battery``) and in every
monitoring run that has outcomes (``monitor.json``'s ``validation``). The lights follow
:class:`riskcore.config.ValidationRules` (``[validation]``); each result states the rule it was
judged by, so a reader of a stored battery knows what its light meant.

====================================  =====================================================================
test                                  what it asks
====================================  =====================================================================
:class:`GradeTest` (per grade)        too many defaults for the grade's PD? One-sided binomial test, the
                                      same test with correlated defaults (Vasicek one-factor), and the
                                      Jeffreys test (the posterior of the default rate under a Jeffreys
                                      prior, as the ECB's instructions use)
:class:`HosmerLemeshow`               do predicted and observed defaults agree over the grades / deciles?
:class:`Spiegelhalter`                is the Brier score what calibrated PDs would give?
:class:`Herfindahl`                   are the companies concentrated in few grades?
:class:`AucTest`                      has the AUC fallen below the AUC of the initial validation?
:class:`MigrationStability`           do companies jump more than one grade between two periods?
:class:`GradePsi`                     has the grade distribution shifted against its reference?
====================================  =====================================================================

Formulas of the concentration, AUC and migration tests follow the ECB's *Instructions for reporting
the validation results of internal models — IRB Pillar I models for credit risk* (February 2019),
section 2.5 (PD) and annex 1: the Herfindahl index through the coefficient of variation of the grade
shares, the AUC test statistic against the initial validation with the current AUC's standard error,
and the upper and lower matrix weighted bandwidths of a migration matrix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import integrate, special, stats

from riskcore.config import ValidationRules
from riskcore.evaluation.backtest import TrafficLight, binomial_p_value, jeffreys_interval
from riskcore.evaluation.compare import auc_standard_error
from riskcore.evaluation.drift import psi
from riskcore.evaluation.grading import grade_index
from riskcore.evaluation.outcomes import strict_json
from riskcore.evaluation.reference import GRADE_NAMES

__all__ = ["BATTERY_COLUMNS", "GRADE_COLUMNS", "AucTest", "GradePsi", "GradeTest", "Herfindahl", "HosmerLemeshow",
           "MigrationStability", "Spiegelhalter", "ValidationBattery", "asset_correlation", "auc_test",
           "basel_correlation", "decile_groups", "grade_psi_test", "grade_tests", "herfindahl", "hosmer_lemeshow",
           "jeffreys_p_value", "migration_stability", "spiegelhalter", "validation_battery", "vasicek_p_value",
           "worst_light"]

BATTERY_COLUMNS = ["test", "statistic", "p_value", "detail", "rule", "light"]
"""Columns of :meth:`ValidationBattery.frame`: one row per test (the per-grade tests summed up by their worst grade)."""
GRADE_COLUMNS = ["grade", "n", "defaults", "predicted_pd", "observed_rate", "jeffreys_low", "jeffreys_high",
                 "jeffreys_p", "jeffreys_light", "binomial_p", "binomial_light", "correlation", "vasicek_p",
                 "vasicek_light"]
"""Columns of :meth:`ValidationBattery.grades_frame`: one row per grade with rows."""

_Z_LIMIT = 9.0  # P(|Z| > 9) is about 2e-19: the systematic factor's integral stops there
_ORDER: dict[str | None, int] = {None: -1, "green": 0, "amber": 1, "red": 2}


def worst_light(lights: Sequence[TrafficLight | None]) -> TrafficLight | None:
    """The worst of some lights (red over amber over green); None when none was judged."""
    judged = [light for light in lights if light is not None]
    return max(judged, key=lambda light: _ORDER[light]) if judged else None


def _p_light(p_value: float | None, amber: float, red: float) -> TrafficLight | None:
    """Red below ``red``, amber below ``amber``, else green; None when there is no p-value."""
    if p_value is None or not np.isfinite(p_value):
        return None
    return "red" if p_value < red else "amber" if p_value < amber else "green"


def _size_light(value: float | None, amber: float, red: float) -> TrafficLight | None:
    """Red above ``red``, amber above ``amber``, else green; None when there is no value."""
    if value is None or not np.isfinite(value):
        return None
    return "red" if value > red else "amber" if value > amber else "green"


def _finite(value: Any) -> float | None:
    """A JSON-safe number: None for NaN, infinities and None."""
    return None if value is None or not np.isfinite(value) else float(value)


@dataclass(frozen=True)
class _Result:
    """A test's result: its fields are its JSON object's keys, in order; a missing key reads as None."""

    TEST: ClassVar[str] = ""
    """The test's name in the battery's table."""

    def as_dict(self) -> dict[str, Any]:
        """Plain data in field order, NaN as None."""
        return {f.name: strict_json(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Read the result back from its JSON object."""
        return cls(**{f.name: data.get(f.name) for f in fields(cls)})


# --- per grade ---------------------------------------------------------------------------------------------------


def basel_correlation(p_default: ArrayLike, turnover_meur: float = 50.0) -> np.ndarray:
    """Asset correlation of the Basel IRB formula for corporate exposures, with the SME firm-size adjustment.

    ``R = 0.12 w + 0.24 (1 - w)`` with ``w = (1 - exp(-50 PD)) / (1 - exp(-50))`` (Basel II §272;
    CRR Art. 153(1)), minus ``0.04 (1 - (S - 5) / 45)`` for an annual turnover ``S`` between €5m and
    €50m (Basel II §273; CRR Art. 153(4)), ``S`` below 5 counted as 5.

    Parameters
    ----------
    p_default : array-like
        PDs, in [0, 1].
    turnover_meur : float
        Annual turnover in € million; 50 or more: no SME adjustment.

    Returns
    -------
    ndarray
        The correlation of each PD, between 0.08 and 0.24.
    """
    p = np.asarray(p_default, dtype=np.float64)
    w = (1 - np.exp(-50 * p)) / (1 - np.exp(-50))
    rho = 0.12 * w + 0.24 * (1 - w)
    if turnover_meur < 50:
        rho = rho - 0.04 * (1 - (max(turnover_meur, 5.0) - 5) / 45)
    return np.asarray(rho, dtype=np.float64)


def asset_correlation(p_default: float, rules: ValidationRules) -> float:
    """The asset correlation the rules give for a grade of mean PD ``p_default`` (a number, or the Basel formula)."""
    if rules.asset_correlation == "basel":
        return float(basel_correlation(p_default, rules.sme_turnover_meur))
    return float(rules.asset_correlation)


def vasicek_p_value(defaults: int, n: int, p_default: float, correlation: float) -> float:
    """One-sided p-value of at least ``defaults`` defaults among ``n`` when defaults are correlated.

    In the one-factor (Vasicek) model a company defaults when ``sqrt(rho) Z + sqrt(1 - rho) e`` falls
    below ``Φ⁻¹(PD)``; given the systematic factor ``Z = z`` (written here so that a higher ``z`` is a
    worse year) defaults are independent with the conditional PD ``Φ((Φ⁻¹(PD) + sqrt(rho) z) /
    sqrt(1 - rho))``. The p-value is ``∫ P(Bin(n, PD(z)) >= d) φ(z) dz``, integrated with
    :func:`scipy.integrate.quad` over ``|z| <= 9`` with a break point where ``n PD(z) = d``, the
    step of the conditional tail. With ``rho = 0`` it is the plain binomial p-value; correlation
    widens the distribution of the default count, so a year of many defaults is less surprising.

    Parameters
    ----------
    defaults, n : int
        Observed defaults and rows.
    p_default : float
        The grade's PD, in [0, 1].
    correlation : float
        Asset correlation ``rho``, in [0, 1).

    Returns
    -------
    float
        The p-value, in [0, 1]; 1.0 when ``n == 0`` or there was no default.
    """
    if n < 0 or not 0 <= defaults <= n:
        raise ValueError(f"defaults must be between 0 and n; got defaults={defaults!r}, n={n!r}")
    if not 0 <= correlation < 1:
        raise ValueError(f"correlation must be in [0, 1), got {correlation!r}")
    if n == 0 or defaults == 0:
        return 1.0
    if correlation == 0:
        return binomial_p_value(defaults, n, p_default)
    if p_default <= 0:
        return 0.0
    if p_default >= 1:
        return 1.0
    a, s, c = float(special.ndtri(p_default)), float(np.sqrt(correlation)), float(np.sqrt(1 - correlation))

    def tail(z: float) -> float:
        return float(stats.binom.sf(defaults - 1, n, special.ndtr((a + s * z) / c)) * stats.norm.pdf(z))

    step = (c * float(special.ndtri(min(defaults / n, 1 - 1e-12))) - a) / s
    points = [step] if -_Z_LIMIT < step < _Z_LIMIT else None
    value, _ = integrate.quad(tail, -_Z_LIMIT, _Z_LIMIT, points=points, limit=200, epsabs=1e-13, epsrel=1e-9)
    return float(min(max(value, 0.0), 1.0))


def jeffreys_p_value(defaults: int, n: int, p_default: float) -> float:
    """The Jeffreys test's one-sided p-value: the Beta(d + ½, n − d + ½) posterior's probability below the PD.

    Small when the default rate is very likely above the PD (the PD underestimates). This is the
    test of the ECB's instructions (section 2.5.3.1), next to the Jeffreys interval the back-test shows.

    Returns
    -------
    float
        In [0, 1]; 1.0 when ``n == 0``.
    """
    if n < 0 or not 0 <= defaults <= n:
        raise ValueError(f"defaults must be between 0 and n; got defaults={defaults!r}, n={n!r}")
    if n == 0:
        return 1.0
    return float(stats.beta.cdf(p_default, defaults + 0.5, n - defaults + 0.5))


@dataclass(frozen=True)
class GradeTest(_Result):
    """One grade's calibration tests: the plain and correlation-adjusted binomial tests and the Jeffreys test.

    Each p-value is one-sided (too many defaults); each light follows ``binomial_p_amber`` and
    ``binomial_p_red``. ``correlation`` is the asset correlation the adjusted test used.
    """

    TEST: ClassVar[str] = "binomial (per grade)"

    grade: str
    n: int
    defaults: int
    predicted_pd: float | None
    observed_rate: float | None
    jeffreys_low: float | None
    jeffreys_high: float | None
    jeffreys_p: float | None
    jeffreys_light: TrafficLight | None
    binomial_p: float | None
    binomial_light: TrafficLight | None
    correlation: float | None
    vasicek_p: float | None
    vasicek_light: TrafficLight | None


def grade_tests(p_default: ArrayLike, y: ArrayLike, rules: ValidationRules) -> tuple[GradeTest, ...]:
    """Every grade of the master scale that holds rows, tested (see :class:`GradeTest`).

    The tests use the grade's mean PD, as the back-test does.

    Parameters
    ----------
    p_default : array-like of shape (n,)
        Calibrated PDs.
    y : array-like of shape (n,)
        Outcomes (1 = default).
    rules : ValidationRules

    Returns
    -------
    tuple of GradeTest
        In the master scale's order.
    """
    p = np.asarray(p_default, dtype=np.float64).ravel()
    outcomes = np.asarray(y, dtype=np.int64).ravel()
    idx = grade_index(p) if len(p) else np.array([], dtype=np.int64)
    out = []
    for k, name in enumerate(GRADE_NAMES):
        rows = idx == k
        n = int(rows.sum())
        if not n:
            continue
        d, pd_ = int(outcomes[rows].sum()), float(p[rows].mean())
        low, high = jeffreys_interval(d, n)
        rho = asset_correlation(pd_, rules)
        binomial, jeffreys, vasicek = binomial_p_value(d, n, pd_), jeffreys_p_value(d, n, pd_), \
            vasicek_p_value(d, n, pd_, rho)
        amber, red = rules.binomial_p_amber, rules.binomial_p_red
        out.append(GradeTest(grade=name, n=n, defaults=d, predicted_pd=pd_, observed_rate=d / n, jeffreys_low=low,
                             jeffreys_high=high, jeffreys_p=jeffreys, jeffreys_light=_p_light(jeffreys, amber, red),
                             binomial_p=binomial, binomial_light=_p_light(binomial, amber, red), correlation=rho,
                             vasicek_p=vasicek, vasicek_light=_p_light(vasicek, amber, red)))
    return tuple(out)


# --- over the portfolio ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HosmerLemeshow(_Result):
    """Hosmer–Lemeshow's χ² over groups (``by``: ``grades`` or ``deciles``): statistic, degrees of freedom, p-value.

    ``statistic = Σ_g (O_g − E_g)² / (E_g (1 − E_g / n_g))`` with ``O_g`` the defaults, ``E_g`` the
    sum of the PDs and ``n_g`` the rows of group ``g``. The degrees of freedom are the number of
    groups ``G``, not ``G − 2``: ``G − 2`` holds on the rows the model was fitted on (two parameters
    of a logistic fit estimated from them, Hosmer and Lemeshow 2000, §5.2.2); the test rows and a
    monitored portfolio are out of sample, where the PDs are fixed in advance and the statistic is
    χ² with ``G`` degrees of freedom (Hosmer and Lemeshow 2000, §5.3.1, for validation samples).
    """

    TEST: ClassVar[str] = "Hosmer–Lemeshow"

    by: str
    statistic: float | None
    df: int
    p_value: float | None
    n: int
    rule: str
    light: TrafficLight | None


def decile_groups(p_default: ArrayLike) -> np.ndarray:
    """Each row's PD decile (0–9), by rank (ties share a decile, so a decile can be empty and is then dropped)."""
    p = np.asarray(p_default, dtype=np.float64).ravel()
    if not len(p):
        return np.array([], dtype=np.int64)
    ranks = stats.rankdata(p, method="min") - 1
    return np.minimum((ranks * 10) // len(p), 9).astype(np.int64)


def hosmer_lemeshow(p_default: ArrayLike, y: ArrayLike, groups: ArrayLike, rules: ValidationRules,
                    by: str = "grades") -> HosmerLemeshow:
    """Hosmer–Lemeshow's test over the given groups (see :class:`HosmerLemeshow`).

    A group whose expected variance ``E_g (1 − E_g / n_g)`` is 0 (every PD 0, or every PD 1) adds
    nothing and is not counted.

    Parameters
    ----------
    p_default, y : array-like of shape (n,)
        Calibrated PDs and outcomes.
    groups : array-like of shape (n,)
        Each row's group (a grade, or :func:`decile_groups`).
    rules : ValidationRules
    by : str
        What the groups are, for the record.

    Returns
    -------
    HosmerLemeshow
    """
    frame = pd.DataFrame({"g": np.asarray(groups).ravel(), "p": np.asarray(p_default, dtype=np.float64).ravel(),
                          "y": np.asarray(y, dtype=np.float64).ravel()})
    sums = frame.groupby("g", sort=True).agg(n=("y", "size"), observed=("y", "sum"), expected=("p", "sum"))
    variance = sums["expected"] * (1 - sums["expected"] / sums["n"])
    used = sums[variance > 0]
    df = int(len(used))
    statistic = float(((used["observed"] - used["expected"]) ** 2 / variance[variance > 0]).sum()) if df else None
    p_value = float(stats.chi2.sf(statistic, df)) if statistic is not None else None
    rule = (f"χ² with {df} degrees of freedom (one per {'grade' if by == 'grades' else 'decile'}: out of sample); "
            f"amber below p {rules.hosmer_lemeshow_p_amber:g}, red below {rules.hosmer_lemeshow_p_red:g}")
    return HosmerLemeshow(by=by, statistic=statistic, df=df, p_value=p_value, n=int(len(frame)), rule=rule,
                          light=_p_light(p_value, rules.hosmer_lemeshow_p_amber, rules.hosmer_lemeshow_p_red))


@dataclass(frozen=True)
class Spiegelhalter(_Result):
    """Spiegelhalter's z: the Brier score against its expectation and variance when the PDs are right.

    ``z = Σ (y − p)(1 − 2p) / sqrt(Σ (1 − 2p)² p (1 − p))`` (Spiegelhalter 1986), two-sided p-value
    from the standard normal.
    """

    TEST: ClassVar[str] = "Spiegelhalter"

    statistic: float | None
    p_value: float | None
    brier: float | None
    n: int
    rule: str
    light: TrafficLight | None


def spiegelhalter(p_default: ArrayLike, y: ArrayLike, rules: ValidationRules) -> Spiegelhalter:
    """Spiegelhalter's test of the PDs (see :class:`Spiegelhalter`).

    Returns
    -------
    Spiegelhalter
        No statistic when every PD is 0 or 1 (the variance is 0).
    """
    p = np.asarray(p_default, dtype=np.float64).ravel()
    outcomes = np.asarray(y, dtype=np.float64).ravel()
    variance = float(np.sum((1 - 2 * p) ** 2 * p * (1 - p)))
    z = float(np.sum((outcomes - p) * (1 - 2 * p)) / np.sqrt(variance)) if variance > 0 else None
    p_value = float(2 * stats.norm.sf(abs(z))) if z is not None else None
    rule = (f"two-sided, standard normal; amber below p {rules.spiegelhalter_p_amber:g}, red below "
            f"{rules.spiegelhalter_p_red:g}")
    return Spiegelhalter(statistic=z, p_value=p_value, brier=float(np.mean((outcomes - p) ** 2)) if len(p) else None,
                         n=int(len(p)), rule=rule,
                         light=_p_light(p_value, rules.spiegelhalter_p_amber, rules.spiegelhalter_p_red))


@dataclass(frozen=True)
class Herfindahl(_Result):
    """Concentration of the companies in the grades: the Herfindahl index, the largest grade, and against a reference.

    ``CV = sqrt(K Σ (R_i − 1/K)²)`` over the shares ``R_i`` of the ``K`` grades of the master scale, and
    ``HI = 1 + ln((CV² + 1) / K) / ln K`` (the ECB's instructions, section 2.5.3.2): 0 when every grade holds
    the same share, 1 when one grade holds everything (it equals ``1 + ln(Σ R_i²) / ln K``). With a
    reference distribution (the test rows at training), ``p_value`` is the one-sided test of a higher
    concentration now, ``1 − Φ(sqrt(K − 1) (CV_now − CV_ref) / sqrt(CV_now² (0.5 + CV_now²)))``; it is
    shown, the light follows the index.
    """

    TEST: ClassVar[str] = "Herfindahl"

    statistic: float | None
    cv: float | None
    largest_grade: str | None
    largest_share: float | None
    reference: float | None
    p_value: float | None
    n: int
    rule: str
    light: TrafficLight | None


def _cv(counts: np.ndarray) -> float:
    """Coefficient of variation of the grade shares, as the ECB defines it."""
    k = len(counts)
    shares = counts / counts.sum()
    return float(np.sqrt(k * np.sum((shares - 1 / k) ** 2)))


def herfindahl(counts: ArrayLike, rules: ValidationRules, reference_counts: ArrayLike | None = None) -> Herfindahl:
    """The Herfindahl test of a grade distribution (see :class:`Herfindahl`).

    Parameters
    ----------
    counts : array-like of shape (K,)
        Companies per grade of the master scale (K >= 2).
    rules : ValidationRules
    reference_counts : array-like of shape (K,), optional
        The distribution at initial validation.

    Returns
    -------
    Herfindahl
    """
    c = np.asarray(counts, dtype=np.float64).ravel()
    k, n = len(c), int(c.sum())
    rule = f"amber above {rules.herfindahl_amber:g}, red above {rules.herfindahl_red:g}"
    if k < 2 or n == 0:
        return Herfindahl(statistic=None, cv=None, largest_grade=None, largest_share=None, reference=None,
                          p_value=None, n=n, rule=rule, light=None)
    cv = _cv(c)
    index = 1 + float(np.log((cv**2 + 1) / k) / np.log(k))
    reference = p_value = None
    ref = None if reference_counts is None else np.asarray(reference_counts, dtype=np.float64).ravel()
    if ref is not None and len(ref) == k and ref.sum() > 0:
        cv_ref = _cv(ref)
        reference = 1 + float(np.log((cv_ref**2 + 1) / k) / np.log(k))
        spread = np.sqrt(cv**2 * (0.5 + cv**2))
        p_value = float(stats.norm.sf(np.sqrt(k - 1) * (cv - cv_ref) / spread)) if spread > 0 else None
        rule += "; p-value: one-sided test of a higher concentration than the reference's"
    top = int(np.argmax(c))
    names = GRADE_NAMES if k == len(GRADE_NAMES) else tuple(str(j + 1) for j in range(k))
    return Herfindahl(statistic=index, cv=cv, largest_grade=names[top], largest_share=float(c[top] / n),
                      reference=reference, p_value=p_value, n=n, rule=rule,
                      light=_size_light(index, rules.herfindahl_amber, rules.herfindahl_red))


@dataclass(frozen=True)
class AucTest(_Result):
    """The current AUC against the AUC of the initial validation (the ECB's instructions, section 2.5.4).

    ``S = (AUC_init − AUC_now) / σ_now`` with ``σ_now`` DeLong's standard error of the current AUC;
    the one-sided p-value ``1 − Φ(S)`` is small when the AUC fell by more than its noise.
    ``initial`` names what the initial AUC is (at training: the validation rows; in monitoring: the
    test rows, recorded at training).
    """

    TEST: ClassVar[str] = "AUC against initial validation"

    auc_initial: float | None
    auc_current: float | None
    se: float | None
    statistic: float | None
    p_value: float | None
    initial: str
    n: int
    rule: str
    light: TrafficLight | None


def auc_test(y: ArrayLike, p_default: ArrayLike, auc_initial: float | None, rules: ValidationRules,
             initial: str = "the test rows at training") -> AucTest:
    """The ECB's AUC test (see :class:`AucTest`).

    Parameters
    ----------
    y, p_default : array-like of shape (n,)
        The current outcomes and PDs.
    auc_initial : float or None
        The AUC recorded at initial validation (None: no test).
    rules : ValidationRules
    initial : str
        What the initial AUC was measured on, for the record.

    Returns
    -------
    AucTest
    """
    auc, se = auc_standard_error(y, p_default)
    rule = (f"one-sided, S = (AUC initial − AUC now) / σ now; amber below p {rules.auc_p_amber:g}, red below "
            f"{rules.auc_p_red:g}")
    statistic = p_value = None
    if auc_initial is not None and np.isfinite(auc_initial) and np.isfinite(se) and se > 0:
        statistic = float((auc_initial - auc) / se)
        p_value = float(stats.norm.sf(statistic))
    return AucTest(auc_initial=_finite(auc_initial), auc_current=_finite(auc), se=_finite(se), statistic=statistic,
                   p_value=p_value, initial=initial, n=int(np.asarray(y).size), rule=rule,
                   light=_p_light(p_value, rules.auc_p_amber, rules.auc_p_red))


@dataclass(frozen=True)
class MigrationStability(_Result):
    """How far companies moved between grades from one period to the next.

    ``statistic``: the share of companies moving more than one grade (``beyond_up``: upgrades by two
    grades or more, ``beyond_down``: downgrades). The matrix weighted bandwidths (the ECB's
    instructions, section 2.5.5) weigh each move by its distance, normalised by the largest distance
    possible from its grade: ``MWB_upper = Σ_{i<j} |i − j| N_ij / Σ_i max(|i − K|, |i − 1|) Σ_{j>i} N_ij``
    over the downgrades (to a higher grade, a higher PD), ``MWB_lower`` likewise over the upgrades.
    """

    TEST: ClassVar[str] = "grade migration"

    companies: int
    statistic: float | None
    beyond_up: float | None
    beyond_down: float | None
    mwb_upper: float | None
    mwb_lower: float | None
    periods: str
    rule: str
    light: TrafficLight | None


def migration_stability(matrix: ArrayLike, rules: ValidationRules, periods: str = "") -> MigrationStability:
    """The stability of a migration matrix (see :class:`MigrationStability`).

    Parameters
    ----------
    matrix : array-like of shape (K, K)
        ``matrix[i][j]``: companies from grade ``i`` to grade ``j`` (``j > i``: a downgrade).
    rules : ValidationRules
    periods : str
        The periods compared, for the record.

    Returns
    -------
    MigrationStability
    """
    m = np.asarray(matrix, dtype=np.float64)
    k, total = m.shape[0], float(m.sum())
    rule = (f"share moving more than one grade: amber above {rules.migration_amber:.0%}, red above "
            f"{rules.migration_red:.0%}")
    if total == 0:
        return MigrationStability(companies=0, statistic=None, beyond_up=None, beyond_down=None, mwb_upper=None,
                                  mwb_lower=None, periods=periods, rule=rule, light=None)
    i, j = np.indices(m.shape)
    up, down = float(m[j < i - 1].sum() / total), float(m[j > i + 1].sum() / total)
    grade = np.arange(1, k + 1)
    reach = np.maximum(np.abs(grade - k), np.abs(grade - 1)).astype(np.float64)
    distance = np.abs(i - j)

    def bandwidth(side: Any) -> float | None:
        denominator = float(np.sum(reach * np.where(side, m, 0).sum(axis=1)))
        return float(np.sum(distance * np.where(side, m, 0)) / denominator) if denominator > 0 else None

    return MigrationStability(companies=int(total), statistic=up + down, beyond_up=up, beyond_down=down,
                              mwb_upper=bandwidth(j > i), mwb_lower=bandwidth(j < i), periods=periods, rule=rule,
                              light=_size_light(up + down, rules.migration_amber, rules.migration_red))


@dataclass(frozen=True)
class GradePsi(_Result):
    """The PSI of the grade distribution against its reference (the held-out rows at training)."""

    TEST: ClassVar[str] = "grade PSI"

    statistic: float | None
    reference: str
    n: int
    rule: str
    light: TrafficLight | None


def grade_psi_test(reference_counts: ArrayLike, counts: ArrayLike, rules: ValidationRules,
                   reference: str = "") -> GradePsi:
    """The grade PSI with its light (:func:`riskcore.evaluation.drift.psi` of the two grade distributions)."""
    value = psi(reference_counts, counts)
    return GradePsi(statistic=_finite(value), reference=reference, n=int(np.asarray(counts).sum()),
                    rule=f"amber above {rules.grade_psi_amber:g}, red above {rules.grade_psi_red:g}",
                    light=_size_light(value, rules.grade_psi_amber, rules.grade_psi_red))


# --- the battery -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValidationBattery:
    """Every test of the battery on one sample; a test that could not run is None and a note says why.

    Attributes
    ----------
    sample : str
        The rows tested (``"test rows"``, ``"monitored rows with outcomes"``).
    n, defaults : int
        Rows and defaults tested.
    grades : tuple of GradeTest
    hosmer_lemeshow_grades, hosmer_lemeshow_deciles : HosmerLemeshow or None
    spiegelhalter : Spiegelhalter or None
    herfindahl : Herfindahl or None
    auc : AucTest or None
    migration : MigrationStability or None
    grade_psi : GradePsi or None
    asset_correlation : float or str
        The setting the adjusted binomial test used (a number, or ``"basel"``).
    notes : tuple of str
    """

    sample: str
    n: int
    defaults: int
    grades: tuple[GradeTest, ...]
    hosmer_lemeshow_grades: HosmerLemeshow | None
    hosmer_lemeshow_deciles: HosmerLemeshow | None
    spiegelhalter: Spiegelhalter | None
    herfindahl: Herfindahl | None
    auc: AucTest | None
    migration: MigrationStability | None
    grade_psi: GradePsi | None
    asset_correlation: float | str
    notes: tuple[str, ...] = ()

    _TESTS: ClassVar[dict[str, type[_Result]]] = {
        "hosmer_lemeshow_grades": HosmerLemeshow, "hosmer_lemeshow_deciles": HosmerLemeshow,
        "spiegelhalter": Spiegelhalter, "herfindahl": Herfindahl, "auc": AucTest, "migration": MigrationStability,
        "grade_psi": GradePsi}

    def to_json(self) -> dict[str, Any]:
        """Strict JSON data (NaN as null); :meth:`from_json` reads it back equal."""
        out: dict[str, Any] = {"sample": self.sample, "n": self.n, "defaults": self.defaults,
                               "asset_correlation": self.asset_correlation,
                               "grades": [g.as_dict() for g in self.grades]}
        for key in self._TESTS:
            result = getattr(self, key)
            out[key] = None if result is None else result.as_dict()
        out["notes"] = list(self.notes)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ValidationBattery:
        """Read a battery from its JSON object (a missing test reads as None)."""
        tests = {key: None if data.get(key) is None else kind.from_json(data[key]) for key, kind in cls._TESTS.items()}
        return cls(sample=data.get("sample", ""), n=int(data.get("n") or 0), defaults=int(data.get("defaults") or 0),
                   grades=tuple(GradeTest.from_json(g) for g in data.get("grades") or ()),
                   asset_correlation=data.get("asset_correlation", "basel"), notes=tuple(data.get("notes") or ()),
                   **tests)  # type: ignore[arg-type]

    @property
    def lights(self) -> dict[str, TrafficLight | None]:
        """Each row of :meth:`frame` by its test name and its light."""
        table = self.frame()
        return dict(zip(table["test"], table["light"], strict=True))

    def summary(self) -> dict[str, Any]:
        """Plain strict-JSON data for a reader (``GET /monitoring``): the table's rows, the grades, the notes."""
        rows = [strict_json(row) for row in self.frame().to_dict(orient="records")]
        return {"sample": self.sample, "n": self.n, "defaults": self.defaults,
                "asset_correlation": self.asset_correlation, "tests": rows,
                "grades": [g.as_dict() for g in self.grades], "notes": list(self.notes)}

    def grades_frame(self) -> pd.DataFrame:
        """The per-grade tests, one row per grade (columns :data:`GRADE_COLUMNS`)."""
        return pd.DataFrame([g.as_dict() for g in self.grades], columns=GRADE_COLUMNS)

    def frame(self) -> pd.DataFrame:
        """One row per test (columns :data:`BATTERY_COLUMNS`); a per-grade test shows its worst grade."""
        rows: list[dict[str, Any]] = []
        for label, key in (("binomial (per grade)", "binomial"), ("binomial, correlation-adjusted (per grade)",
                                                                  "vasicek"), ("Jeffreys (per grade)", "jeffreys")):
            if not self.grades:
                continue
            worst = min(self.grades, key=lambda g: (getattr(g, f"{key}_p") if getattr(g, f"{key}_p") is not None
                                                    else 1.0))
            light = worst_light([getattr(g, f"{key}_light") for g in self.grades])
            rho = ("Basel formula" if self.asset_correlation == "basel" else f"ρ = {float(self.asset_correlation):g}")
            detail = f"lowest in grade {worst.grade} ({worst.defaults} defaults of {worst.n:,}, PD " \
                     f"{(worst.predicted_pd or 0):.2%})" + (f"; {rho}" if key == "vasicek" else "")
            rows.append({"test": label, "statistic": float(worst.defaults), "p_value": getattr(worst, f"{key}_p"),
                         "detail": detail, "rule": "one-sided, each grade at its mean PD; light of the worst grade",
                         "light": light})
        for key in self._TESTS:
            result = getattr(self, key)
            if result is not None:
                rows.append(_row(key, result))
        return pd.DataFrame(rows, columns=BATTERY_COLUMNS)


def _row(key: str, result: Any) -> dict[str, Any]:
    """One test's row of the battery's table."""
    details = {
        "hosmer_lemeshow_grades": lambda r: f"over grades, {r.df} degrees of freedom",
        "hosmer_lemeshow_deciles": lambda r: f"over PD deciles, {r.df} degrees of freedom",
        "spiegelhalter": lambda r: "z" + ("" if r.brier is None else f"; Brier {r.brier:.4f}"),
        "herfindahl": lambda r: (f"largest grade {r.largest_grade} ({(r.largest_share or 0):.0%})"
                                 + ("" if r.reference is None else f"; reference {r.reference:.3f}")),
        "auc": lambda r: (f"AUC {(r.auc_current or float('nan')):.3f} (σ {(r.se or float('nan')):.3f}) against "
                          + ("no initial AUC" if r.auc_initial is None else f"{r.auc_initial:.3f} on {r.initial}")),
        "migration": lambda r: (f"{r.companies:,} companies {r.periods}; up {(r.beyond_up or 0):.1%}, down "
                                f"{(r.beyond_down or 0):.1%}; MWB upper {_fmt(r.mwb_upper)}, "
                                f"lower {_fmt(r.mwb_lower)}"),
        "grade_psi": lambda r: f"against {r.reference}",
    }
    label = {"hosmer_lemeshow_grades": "Hosmer–Lemeshow (grades)", "hosmer_lemeshow_deciles":
             "Hosmer–Lemeshow (deciles)"}.get(key, result.TEST)
    return {"test": label, "statistic": result.statistic, "p_value": getattr(result, "p_value", None),
            "detail": details[key](result), "rule": result.rule, "light": result.light}


def _fmt(value: float | None) -> str:
    """A bandwidth for the table's text."""
    return "—" if value is None else f"{value:.3f}"


def validation_battery(p_default: ArrayLike, y: ArrayLike, rules: ValidationRules, *, sample: str,
                       grade_counts: ArrayLike | None = None, reference_grade_counts: ArrayLike | None = None,
                       reference: str = "", auc_initial: float | None = None, initial: str = "",
                       migration: ArrayLike | None = None, migration_periods: str = "") -> ValidationBattery:
    """Run the battery on rows with outcomes.

    Parameters
    ----------
    p_default, y : array-like of shape (n,)
        Calibrated PDs and outcomes of the rows tested.
    rules : ValidationRules
        The lights' thresholds.
    sample : str
        What the rows are, for the record.
    grade_counts : array-like of shape (10,), optional
        The grade distribution to judge for concentration and shift (default: the tested rows'; a
        monitored portfolio passes all its rows, outcomes or not).
    reference_grade_counts : array-like of shape (10,), optional
        The reference grade distribution (of the Herfindahl comparison and the grade PSI); without
        it neither comparison is made.
    reference : str
        What the reference distribution is.
    auc_initial : float, optional
        The AUC of the initial validation; without it no AUC test.
    initial : str
        What the initial AUC was measured on.
    migration : array-like of shape (10, 10), optional
        The migration matrix between two periods; without it no migration test.
    migration_periods : str
        The periods of the matrix, for the record.

    Returns
    -------
    ValidationBattery
    """
    p = np.asarray(p_default, dtype=np.float64).ravel()
    outcomes = np.asarray(y, dtype=np.int64).ravel()
    if len(p) != len(outcomes):
        raise ValueError(f"p_default and y differ in length: {len(p)} vs {len(outcomes)}")
    notes: list[str] = []
    idx = grade_index(p) if len(p) else np.array([], dtype=np.int64)
    counts = (np.bincount(idx, minlength=len(GRADE_NAMES)) if grade_counts is None
              else np.asarray(grade_counts, dtype=np.float64))
    has_outcomes = len(p) > 0
    if not has_outcomes:
        notes.append("no rows with outcomes: the calibration and AUC tests need them")
    hl_grades = hosmer_lemeshow(p, outcomes, idx, rules, by="grades") if has_outcomes else None
    hl_deciles = hosmer_lemeshow(p, outcomes, decile_groups(p), rules, by="deciles") if has_outcomes else None
    auc = None
    if has_outcomes and auc_initial is not None:
        auc = auc_test(outcomes, p, auc_initial, rules, initial=initial)
    elif has_outcomes:
        notes.append("no AUC of an initial validation to test the current AUC against")
    if migration is None:
        notes.append("no company was graded in two consecutive periods: no migration test")
    psi_test = None
    if reference_grade_counts is not None:
        psi_test = grade_psi_test(reference_grade_counts, counts, rules, reference=reference)
    else:
        notes.append("no reference grade distribution: no grade PSI")
    return ValidationBattery(
        sample=sample, n=int(len(p)), defaults=int(outcomes.sum()), grades=grade_tests(p, outcomes, rules),
        hosmer_lemeshow_grades=hl_grades, hosmer_lemeshow_deciles=hl_deciles,
        spiegelhalter=spiegelhalter(p, outcomes, rules) if has_outcomes else None,
        herfindahl=herfindahl(counts, rules, reference_grade_counts), auc=auc,
        migration=None if migration is None else migration_stability(migration, rules, migration_periods),
        grade_psi=psi_test, asset_correlation=rules.asset_correlation, notes=tuple(notes))
