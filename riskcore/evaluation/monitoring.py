"""Monitoring a portfolio scored after training against the bundle's reference profile.

:class:`MonitorCounts` takes the scored rows a chunk at a time (a file of any
size is monitored in one pass): for every feature it counts the rows per frozen
bin, per period and per segment, and per KS grid cell; it keeps each row's id,
period and PD (16 bytes a row) for the expected AUC, the outcomes join and the
grade migration. :func:`monitor` turns the counts into a :class:`MonitorReport`:

- drift: PSI against the frozen bins with its band, the χ² p-value of the same
  bins (a small portfolio's noise is not drift), KS on the training percentiles,
  the shares of missing and out-of-range values; per period and per segment;
  score PSI and the grade mix;
- before outcomes: the expected default rate (mean PD, with its Poisson-binomial
  interval) and the AUC expected from the calibrated PDs themselves
  (:func:`riskcore.evaluation.backtest.expected_auc`);
- with outcomes: realised AUC, Gini, KS, ECE, calibration-in-the-large, the
  per-grade back-test and the back-test by vintage (period);
- the grade migration of companies present in consecutive periods;
- the alerts of :mod:`riskcore.evaluation.alerts`.

The report is typed data (:mod:`riskcore.evaluation.monitor_report`); its
:meth:`~riskcore.evaluation.monitor_report.MonitorReport.to_json` is ``monitor.json``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from riskcore.config import AlertRules, ValidationRules
from riskcore.evaluation.alerts import evaluate_alerts
from riskcore.evaluation.backtest import expected_auc
from riskcore.evaluation.drift import as_numbers, category_codes, chi2_p_value, psi, psi_band
from riskcore.evaluation.grading import grade_index
from riskcore.evaluation.monitor_report import (
    ALL_PERIODS,
    Expectation,
    FeatureDrift,
    GradeBacktest,
    GradeMigration,
    GradeShare,
    Intake,
    MonitorReport,
    PeriodDrift,
    PeriodExpectation,
    Realised,
    ReferenceFigures,
    ScoreDrift,
    SegmentDrift,
    VintageBacktest,
    period_order,
)
from riskcore.evaluation.realised import grade_migration, realised_performance
from riskcore.evaluation.reference import GRADE_NAMES, ReferenceProfile
from riskcore.evaluation.validation import ValidationBattery, validation_battery

__all__ = ["MIN_SEGMENT_ROWS", "SEGMENT_NATURAL_FACTOR", "MonitorCounts", "MonitorReport", "PriorMigration", "monitor",
           "period_order"]

MIN_SEGMENT_ROWS = 200
"""A segment's drift is reported only when the segment holds at least this many rows in the period."""
SEGMENT_NATURAL_FACTOR = 2.0
"""Drift within a segment is listed only beyond this multiple of the largest PSI a training year showed there."""


@dataclass
class _PeriodCounts:
    """Counts of one period: per feature (segments × bins), KS grid cells, score and grade bins."""

    rows: int = 0
    features: dict[str, np.ndarray] = field(default_factory=dict)
    grids: dict[str, np.ndarray] = field(default_factory=dict)
    score: np.ndarray | None = None
    grades: np.ndarray | None = None


def _add(target: dict[str, np.ndarray], key: str, value: np.ndarray) -> None:
    """``target[key] += value``, starting from zero."""
    if key in target:
        target[key] += value
    else:
        target[key] = value.copy()


class MonitorCounts:
    """Counts of a monitored portfolio, added chunk by chunk (see the module docstring).

    Parameters
    ----------
    reference : ReferenceProfile
        The bundle's reference profile.
    """

    def __init__(self, reference: ReferenceProfile):
        self.reference = reference
        self.segments: list[str] = sorted({s for f in reference.features.values() for s in f.segments})
        """The reference's segments, in the order of the counts' segment axis (a last slot holds the others)."""
        self.reset()

    def reset(self) -> None:
        """Forget everything added (a file read a second time starts again)."""
        self.periods: dict[Hashable, _PeriodCounts] = {}
        self._ids: list[np.ndarray] = []
        self._period_of_row: list[np.ndarray] = []
        self._period_order: dict[Hashable, int] = {}
        self._p: list[np.ndarray] = []

    @property
    def n(self) -> int:
        """Rows added."""
        return sum(c.rows for c in self.periods.values())

    def add(self, features: pd.DataFrame, p_default: ArrayLike, *, ids: ArrayLike | None = None,
            periods: ArrayLike | None = None, segments: ArrayLike | None = None) -> None:
        """Add the scored rows of one chunk.

        Parameters
        ----------
        features : DataFrame
            The rows' prepared raw features (columns named as the reference's; absent ones count as missing).
        p_default : array-like
            Their calibrated PDs.
        ids, periods, segments : array-like, optional
            Company id, period and segment of each row; without periods every row is in period ``"all"``.
        """
        p = np.asarray(p_default, dtype=np.float64).ravel()
        n = len(p)
        if n == 0:
            return
        period_codes, period_values = pd.factorize(pd.Series(periods if periods is not None else [ALL_PERIODS] * n),
                                                   use_na_sentinel=False)
        seg_codes = self._segment_codes(segments, n)
        n_periods, n_groups = len(period_values), len(self.segments) + 1
        group = period_codes.astype(np.int64) * n_groups + seg_codes
        slots = [self.periods.setdefault(v, _PeriodCounts()) for v in period_values]
        for slot, rows in zip(slots, np.bincount(period_codes, minlength=n_periods), strict=True):
            slot.rows += int(rows)
        for name, ref in self.reference.features.items():
            values = features[name].to_numpy() if name in features else np.full(n, np.nan)
            if ref.bins.kind == "numeric":
                values = as_numbers(values)  # once for the bins and the KS grid
            nb = ref.bins.n_bins
            counts = np.bincount(group * nb + ref.bins.codes(values), minlength=n_periods * n_groups * nb)
            counts = counts.reshape(n_periods, n_groups, nb)
            for k, slot in enumerate(slots):
                _add(slot.features, name, counts[k])
            if ref.grid is not None:
                self._add_grid(name, ref.grid, values, period_codes, slots)
        self._add_scores(p, period_codes, slots)
        self._ids.append(np.asarray(ids, dtype=object) if ids is not None else np.full(n, None, dtype=object))
        order = self._period_order
        global_codes = np.array([order.setdefault(v, len(order)) for v in period_values], dtype=np.int32)
        self._period_of_row.append(global_codes[period_codes])
        self._p.append(p)

    def merge(self, other: MonitorCounts) -> None:
        """Add the counts of another part of the portfolio (a partition counted elsewhere) after this one's rows.

        Every count is a sum and the rows are kept in the order added, so merging the parts in the order of
        their rows gives exactly the counts of the whole portfolio counted at once.

        Raises
        ------
        ValueError
            When ``other`` was counted against another reference profile.
        """
        if other.segments != self.segments or list(other.reference.features) != list(self.reference.features):
            raise ValueError("cannot merge monitoring counts of different reference profiles")
        for label, theirs in other.periods.items():
            mine = self.periods.setdefault(label, _PeriodCounts())
            mine.rows += theirs.rows
            for name, values in theirs.features.items():
                _add(mine.features, name, values)
            for name, values in theirs.grids.items():
                _add(mine.grids, name, values)
            if theirs.score is not None:
                mine.score = theirs.score.copy() if mine.score is None else mine.score + theirs.score
            if theirs.grades is not None:
                mine.grades = theirs.grades.copy() if mine.grades is None else mine.grades + theirs.grades
        order = self._period_order
        codes = np.array([order.setdefault(v, len(order)) for v in other._period_order], dtype=np.int32)
        for ids, rows, p in zip(other._ids, other._period_of_row, other._p, strict=True):
            self._ids.append(ids)
            self._period_of_row.append(codes[rows])
            self._p.append(p)

    def _segment_codes(self, segments: ArrayLike | None, n: int) -> np.ndarray:
        """Position of each row's segment among the reference's segments; unknown or absent: the last slot."""
        if segments is None or not self.segments:
            return np.full(n, len(self.segments), dtype=np.int64)
        codes = category_codes(np.asarray(segments, dtype=object), self.segments)
        return np.minimum(codes, len(self.segments))

    @staticmethod
    def _add_grid(name: str, grid: Any, values: np.ndarray, period_codes: np.ndarray,
                  slots: list[_PeriodCounts]) -> None:
        """Add the KS grid cells of one feature, per period."""
        x = as_numbers(values)
        finite = np.isfinite(x)
        n_cells = len(grid.points) + 1
        cells = np.searchsorted(np.asarray(grid.points, dtype=np.float64), x[finite], side="left")
        counts = np.bincount(period_codes[finite] * n_cells + cells, minlength=len(slots) * n_cells)
        for k, slot in enumerate(slots):
            _add(slot.grids, name, counts[k * n_cells:(k + 1) * n_cells])

    def _add_scores(self, p: np.ndarray, period_codes: np.ndarray, slots: list[_PeriodCounts]) -> None:
        """Add the score bins and the grade mix, per period."""
        ref = self.reference
        nb, ng = ref.score.n_bins, ref.grades.n_bins
        score = np.bincount(period_codes * nb + ref.score.codes(p), minlength=len(slots) * nb).reshape(-1, nb)
        grades = np.bincount(period_codes * ng + grade_index(p), minlength=len(slots) * ng).reshape(-1, ng)
        for k, slot in enumerate(slots):
            slot.score = score[k] if slot.score is None else slot.score + score[k]
            slot.grades = grades[k] if slot.grades is None else slot.grades + grades[k]

    def rows(self) -> pd.DataFrame:
        """Every added row's ``id``, ``period`` (categorical) and ``p_default``, in the order added."""
        labels = list(self._period_order)
        if not self._p:
            return pd.DataFrame({"id": pd.Series([], dtype=object),
                                 "period": pd.Categorical.from_codes([], categories=pd.Index(labels, dtype=object)),
                                 "p_default": pd.Series([], dtype=float)})
        periods = pd.Categorical.from_codes(np.concatenate(self._period_of_row),
                                            categories=pd.Index(labels, dtype=object))
        return pd.DataFrame({"id": np.concatenate(self._ids), "period": periods, "p_default": np.concatenate(self._p)})


def _drift_entry(ref_counts: np.ndarray, counts: np.ndarray) -> dict[str, Any]:
    """PSI, band and χ² p-value of one count vector against the reference."""
    value = psi(ref_counts, counts)
    return {"psi": value, "status": psi_band(value), "p_value": chi2_p_value(ref_counts, counts),
            "n": int(counts.sum())}


def _feature_rows(counts: MonitorCounts, labels: list[Hashable]) -> list[FeatureDrift]:
    """One entry per feature: pooled drift, shares, KS and the drift of every period; most drifted first."""
    ref = counts.reference
    out = []
    for name, fref in ref.features.items():
        per = {p: counts.periods[p].features[name] for p in labels}
        pooled = sum(c.sum(axis=0) for c in per.values())
        expected = np.asarray(fref.bins.reference_counts)
        n = max(int(pooled.sum()), 1)
        ks = float("nan")
        if fref.grid is not None:
            ks = fref.grid.ks_from_counts(sum(counts.periods[p].grids[name] for p in labels))
        out.append(FeatureDrift(
            name=name, label=fref.label, family=fref.family, **_drift_entry(expected, pooled),
            missing_share=float(pooled[-2] / n), out_of_range_share=float(pooled[-1] / n),
            reference_missing_share=float(expected[-2] / max(expected.sum(), 1)), natural_psi=fref.natural_psi,
            ks=ks, by_period=tuple(PeriodDrift(period=p, **_drift_entry(expected, per[p].sum(axis=0)))
                                   for p in labels)))
    out.sort(key=lambda e: -e.psi if e.psi is not None and e.psi == e.psi else 0.0)
    return out


def _segment_rows(counts: MonitorCounts, labels: list[Hashable], features: list[FeatureDrift]) -> list[SegmentDrift]:
    """Drift concentrated in one segment: a feature's band within a segment and period worse than its band overall.

    A change confined to one sector (its customers paying late, say) barely moves the
    whole portfolio's distribution; within the sector it is plain. A sector also has its
    own cycles: each training year already differed from the pooled training rows by up
    to the feature's natural PSI in that sector, and with a dozen sectors and dozens of
    features some sector-year exceeds its own record by chance (a ninth year beats the
    largest of eight one time in nine). So a segment's drift is listed only when it acts
    (PSI > 0.25) while the feature does not act over the whole portfolio, it is more than
    :data:`SEGMENT_NATURAL_FACTOR` times the sector's natural variation, the χ² test is sure
    of it (p < 0.001), and the segment's training and current rows number at least
    :data:`MIN_SEGMENT_ROWS`. A segment too small in every training period to measure its
    natural variation (see :data:`riskcore.evaluation.reference.MIN_PERIOD_ROWS`) is not
    judged. Worst first, at most 50.
    """
    ref = counts.reference
    overall = {(f.name, e.period): e.status for f in features for e in f.by_period}
    out = []
    for name, fref in ref.features.items():
        for j, segment in enumerate(counts.segments):
            expected = np.asarray(fref.segments.get(segment, ()), dtype=np.int64)
            if expected.sum() < MIN_SEGMENT_ROWS:
                continue
            for p in labels:
                current = counts.periods[p].features[name][j]
                if current.sum() < MIN_SEGMENT_ROWS:
                    continue
                natural = fref.segment_natural.get(segment)
                if natural is None:
                    continue  # no training period had enough of the segment's rows to know its own cycles
                value = psi(expected, current)
                if psi_band(value) != "act" or overall[(name, p)] == "act" or value <= SEGMENT_NATURAL_FACTOR * natural:
                    continue  # the χ² test only where the cheap criteria hold: thousands of cells
                entry = _drift_entry(expected, current)
                if entry["p_value"] < 0.001:
                    out.append(SegmentDrift(segment=segment, feature=name, family=fref.family, period=p,
                                            overall_status=overall[(name, p)], natural_psi=natural, **entry))
    out.sort(key=lambda e: -e.psi)
    return out[:50]


def _poisson_binomial_ci(p: np.ndarray) -> tuple[float, float]:
    """Normal-approximation 95 % interval of the default rate when each row defaults with its own PD."""
    if len(p) == 0:
        return float("nan"), float("nan")
    sd = float(np.sqrt(np.sum(p * (1 - p)))) / len(p)
    mean = float(p.mean())
    return max(mean - 1.96 * sd, 0.0), min(mean + 1.96 * sd, 1.0)


def _draws(n: int) -> int:
    """Simulated outcome vectors for the expected-AUC interval: 200, fewer for large portfolios.

    The interval's width shrinks with the rows (about ±0.002 at a million), so fewer
    draws estimate it as well, and each draw costs O(n).
    """
    return 200 if n <= 100_000 else 100 if n <= 400_000 else 50


def _expected(p: np.ndarray, random_state: int) -> dict[str, Any]:
    """Expected default rate and AUC of a set of calibrated PDs, with intervals."""
    auc, ci = expected_auc(p, n_draws=_draws(len(p)), random_state=random_state)
    return {"default_rate": float(p.mean()) if len(p) else float("nan"),
            "default_rate_ci": _poisson_binomial_ci(p), "auc": auc, "auc_ci": tuple(ci), "n": int(len(p))}


def _score_rows(counts: MonitorCounts, labels: list[Hashable]) -> tuple[ScoreDrift, tuple[GradeShare, ...], float]:
    """Score PSI (pooled and per period), the grade mix and its PSI."""
    ref = counts.reference
    expected = np.asarray(ref.score.reference_counts)
    per = {p: counts.periods[p].score for p in labels}
    pooled = sum(v for v in per.values() if v is not None)
    score = ScoreDrift(**_drift_entry(expected, np.asarray(pooled)),
                       by_period=tuple(PeriodDrift(period=p, **_drift_entry(expected, np.asarray(per[p])))
                                       for p in labels))
    g_ref = np.asarray(ref.grades.reference_counts, dtype=np.float64)
    g_cur = np.zeros(ref.grades.n_bins)
    for p in labels:
        grades = counts.periods[p].grades
        if grades is not None:
            g_cur += grades
    mix = tuple(GradeShare(grade=name, reference_share=float(g_ref[k] / max(g_ref.sum(), 1)),
                           share=float(g_cur[k] / max(g_cur.sum(), 1)), n=int(g_cur[k]))
                for k, name in enumerate(GRADE_NAMES))
    return score, mix, psi(g_ref, g_cur)


@dataclass(frozen=True)
class PriorMigration:
    """The grade migration into a one-period portfolio from the period before it, found elsewhere, and its note.

    A portfolio of one period has no migration of its own; its companies' grades of the period before are
    in the audit trail, recorded when that period was scored
    (:func:`riskcore.lifecycle.monitoring.monitor_file` reads them).
    """

    migration: GradeMigration
    note: str


def _reference(ref: ReferenceProfile) -> ReferenceFigures:
    """The reference's test figures that monitoring compares with."""
    return ReferenceFigures(test_auc=ref.test.get("auc"), test_ece=ref.test.get("ece"),
                            test_default_rate=ref.test.get("default_rate"), test_mean_pd=ref.test.get("mean_pd"),
                            test_grades=tuple(ref.test_grades), training_rows=ref.training_rows)


def _expectation(rows: pd.DataFrame, labels: list[Hashable], random_state: int) -> Expectation:
    """Expected default rate and AUC over the portfolio and per period."""
    p = rows["p_default"].to_numpy()
    codes = rows["period"].cat.codes.to_numpy()
    position = {lab: k for k, lab in enumerate(rows["period"].cat.categories)}
    return Expectation(**_expected(p, random_state),
                       by_period=tuple(PeriodExpectation(period=lab, **_expected(p[codes == position[lab]],
                                                                                 random_state))
                                       for lab in labels))


def monitor(counts: MonitorCounts, *, model_version: str, rules: AlertRules | None = None,
            outcomes: pd.DataFrame | None = None, period_column: str | None = None, source: str = "",
            random_state: int = 0, notes: Sequence[str] = (), prior_migration: PriorMigration | None = None,
            intake: Intake | None = None, validation: ValidationRules | None = None) -> MonitorReport:
    """Turn a portfolio's counts into the monitoring report, complete with its alerts.

    Parameters
    ----------
    counts : MonitorCounts
        The scored rows, added.
    model_version : str
        The model that scored them.
    rules : AlertRules, optional
        Alert thresholds (default: the product's, see :class:`riskcore.config.AlertRules`).
    outcomes : DataFrame, optional
        Columns ``id``, ``period``, ``y`` (0/1): outcomes that arrived, joined to the scored rows on id and
        period (on id alone when there are no periods).
    period_column : str, optional
        The name of the period column, for the report.
    source : str
        Where the portfolio came from (a file, an audit request).
    random_state : int
        Seed of the expected-AUC interval.
    notes : sequence of str
        Notes of the caller (rejected rows, outcomes left out when read), put before the report's own.
    prior_migration : PriorMigration, optional
        The migration from the period before, for a portfolio without a migration of its own; its note
        follows the report's own notes.
    intake : Intake, optional
        The scoring pass behind the counts (audit request, rows read, rows rejected).
    validation : ValidationRules, optional
        The lights of the validation battery, run when outcomes arrived (default: the product's).

    Returns
    -------
    MonitorReport
    """
    rules = rules or AlertRules()
    labels = sorted(counts.periods, key=period_order)
    rows = counts.rows()
    score, mix, grade_psi = _score_rows(counts, labels)
    features = _feature_rows(counts, labels)
    expected = _expectation(rows, labels, random_state)
    said = list(notes)
    realised = realised_performance(rows, outcomes, labels, said) if outcomes is not None else None
    migration = grade_migration(rows, labels) if labels != [ALL_PERIODS] else None
    found = None if migration is None else GradeMigration.from_json(migration)
    if found is None and prior_migration is not None:
        found = prior_migration.migration
        said.append(prior_migration.note)
    battery = None if realised is None else _battery(counts, realised.matched, mix, found,
                                                     validation or ValidationRules())
    report = MonitorReport(
        model_version=model_version, source=source, period_column=period_column, periods=tuple(labels),
        n=int(len(rows)), reference=_reference(counts.reference), features=tuple(features),
        segments=tuple(_segment_rows(counts, labels, features)), score=score, grade_mix=mix, grade_psi=grade_psi,
        expected=expected, realized=None if realised is None else Realised.from_json(realised.summary),
        grades=(tuple(GradeBacktest.from_json(g) for g in realised.grades) if realised is not None
                else _unrealised_grades(rows)),
        vintages=() if realised is None else tuple(VintageBacktest.from_json(v) for v in realised.vintages),
        migration=found, validation=battery, notes=tuple(said), intake=intake, alerts=())
    return replace(report, alerts=tuple(evaluate_alerts(report.data, rules)))


def _battery(counts: MonitorCounts, matched: pd.DataFrame, mix: tuple[GradeShare, ...],
             migration: GradeMigration | None, rules: ValidationRules) -> ValidationBattery:
    """The validation battery on the rows with outcomes, against the model's test rows at training.

    The concentration and the grade PSI judge the whole monitored portfolio's grade mix (outcomes
    or not) against the reference's held-out grade mix (its bins of the master scale's grades; the
    missing and out-of-range bins stay empty for a PD), so the grade PSI is the report's own
    ``grade_psi``; the AUC test takes the test AUC recorded at training as the initial validation's;
    the migration is the report's (consecutive periods, or the period before from the audit trail).
    """
    ref = counts.reference
    periods = "" if migration is None else ", ".join(f"{p.from_period} → {p.to_period}" for p in migration.pairs)
    return validation_battery(
        matched["p_default"].to_numpy(dtype=np.float64), matched["y"].to_numpy(dtype=np.int64), rules,
        sample="monitored rows with outcomes", grade_counts=[g.n or 0 for g in mix],
        reference_grade_counts=np.asarray(ref.grades.reference_counts, dtype=np.float64)[:len(GRADE_NAMES)],
        reference="the held-out rows at training", auc_initial=ref.test.get("auc"),
        initial="the test rows at training", migration=None if migration is None else migration.matrix,
        migration_periods=periods)


def _unrealised_grades(rows: pd.DataFrame) -> tuple[GradeBacktest, ...]:
    """Per grade before outcomes: rows and mean predicted PD (observed rate and light unknown)."""
    p = rows["p_default"].to_numpy()
    idx = grade_index(p) if len(p) else np.array([], dtype=np.int64)
    return tuple(GradeBacktest(grade=name, n=int((idx == k).sum()), predicted_pd=float(p[idx == k].mean()),
                               defaults=None, observed_rate=None, jeffreys_low=None, jeffreys_high=None,
                               p_value=None, traffic_light=None)
                 for k, name in enumerate(GRADE_NAMES) if (idx == k).any())
