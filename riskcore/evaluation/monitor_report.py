"""The monitoring report of one portfolio as typed, frozen data, and its JSON form ``monitor.json``.

:func:`riskcore.evaluation.monitoring.monitor` builds a :class:`MonitorReport` whole;
:meth:`MonitorReport.to_json` is what ``monitor.json`` holds and :meth:`MonitorReport.from_json`
reads it back, so ``MonitorReport.from_json(data).to_json() == data`` for every ``monitor.json``
riskcore writes (same keys, same order, same values). Every record keeps the JSON's field
names and order; a number that was not a finite number (NaN in memory) is ``null`` in JSON and
``None`` once read back. Reading is lenient: a key an older or hand-written report lacks reads as
``None`` (an empty tuple for a list), so every reader sees the same typed shape.

=====================  ================================================================
record                 ``monitor.json`` key
=====================  ================================================================
:class:`ReferenceFigures`  ``reference``: the model's test figures monitoring compares with
:class:`FeatureDrift`      ``features[]``: drift of one feature, pooled and per period
:class:`SegmentDrift`      ``segments[]``: drift within one segment (sector) and period
:class:`ScoreDrift`        ``score``: drift of the calibrated PD
:class:`GradeShare`        ``grade_mix[]``: a grade's share against the reference's
:class:`Expectation`       ``expected``: default rate and AUC expected from the PDs
:class:`Realised`          ``realized``: what the outcomes say, once they arrived
:class:`GradeBacktest`     ``grades[]``: one grade's back-test (observed figures null before outcomes)
:class:`VintageBacktest`   ``vintages[]``: one period's back-test
:class:`GradeMigration`    ``migration``: companies' moves between grades in consecutive periods
:class:`ValidationBattery`  ``validation``: the validation battery (only with outcomes)
:class:`Intake`            ``audit_request``, ``rows_in_file``, ``rejected``: the scoring pass behind it
=====================  ================================================================
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Self

from riskcore.evaluation.alerts import Alert
from riskcore.evaluation.outcomes import strict_json
from riskcore.evaluation.validation import ValidationBattery

__all__ = ["ALL_PERIODS", "Expectation", "FeatureDrift", "GradeBacktest", "GradeMigration", "GradeShare", "Intake",
           "MigrationPair", "MonitorReport", "Period", "PeriodDrift", "PeriodExpectation", "RealisedCalibration",
           "Realised", "ReferenceFigures", "ScoreDrift", "SegmentDrift", "VintageBacktest", "period_order"]

Period = Hashable
"""A period label as the portfolio names it: a fiscal year (``2026``), a text (``"2026Q1"``) or ``"all"``."""
ALL_PERIODS = "all"
"""The one period of a portfolio monitored without periods."""


def period_order(value: Hashable) -> tuple[int, Any]:
    """Sort key of a period: numbers (fiscal years, ``"2024"``) by value, then anything else by its text."""
    try:
        return 0, float(str(value))
    except ValueError:
        return 1, str(value)


def _plain(value: Any) -> Any:
    """A field's value as plain data: records as dicts, tuples as lists."""
    if isinstance(value, _Record):
        return value.as_dict()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _pair(value: Any) -> tuple[Any, Any] | None:
    """An interval ``[low, high]`` as a pair; None when absent."""
    return None if value is None else (value[0], value[1])


@dataclass(frozen=True)
class _Record:
    """A record of the report: its fields are the JSON object's keys, in order."""

    _KEYS: ClassVar[dict[str, str]] = {}
    """Field → JSON key, where the key is not a Python name."""

    def as_dict(self) -> dict[str, Any]:
        """The record as plain data, in its JSON key order (NaN kept as NaN)."""
        return {self._KEYS.get(f.name, f.name): _plain(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Read the record from its JSON object, or from plain data of the same shape (a missing key reads as None)."""
        return cls(**{f.name: data.get(cls._KEYS.get(f.name, f.name)) for f in fields(cls)})


@dataclass(frozen=True)
class PeriodDrift(_Record):
    """PSI with its band (``stable``, ``watch``, ``act``), the χ² p-value and the rows of one period."""

    period: Period
    psi: float | None
    status: str | None
    p_value: float | None
    n: int | None


@dataclass(frozen=True)
class _DriftByPeriod(_Record):
    """A record whose ``by_period`` holds one :class:`PeriodDrift` per period."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Read the record from its JSON object, each period's drift typed."""
        return super().from_json({**data, "by_period": tuple(PeriodDrift.from_json(e)
                                                             for e in data.get("by_period") or ())})


@dataclass(frozen=True)
class FeatureDrift(_DriftByPeriod):
    """One feature's drift over the portfolio, its missing and out-of-range shares, its KS, and per period."""

    name: str
    label: str | None
    family: str | None
    psi: float | None
    status: str | None
    p_value: float | None
    n: int | None
    missing_share: float | None
    out_of_range_share: float | None
    reference_missing_share: float | None
    natural_psi: float | None
    ks: float | None
    by_period: tuple[PeriodDrift, ...]


@dataclass(frozen=True)
class SegmentDrift(_Record):
    """Drift of one feature within one segment and period, worse than over the whole portfolio."""

    segment: str
    feature: str
    family: str | None
    period: Period
    overall_status: str | None
    natural_psi: float | None
    psi: float
    status: str | None
    p_value: float | None
    n: int | None


@dataclass(frozen=True)
class ScoreDrift(_DriftByPeriod):
    """The calibrated PD's drift over the portfolio and per period."""

    psi: float | None
    status: str | None
    p_value: float | None
    n: int | None
    by_period: tuple[PeriodDrift, ...]


@dataclass(frozen=True)
class GradeShare(_Record):
    """A grade's share of the portfolio against its share of the reference's held-out rows."""

    grade: str
    reference_share: float | None
    share: float | None
    n: int | None


@dataclass(frozen=True)
class PeriodExpectation(_Record):
    """Default rate and AUC expected from one period's PDs, with their 95% intervals."""

    period: Period
    default_rate: float | None
    default_rate_ci: tuple[float | None, float | None] | None
    auc: float | None
    auc_ci: tuple[float | None, float | None] | None
    n: int | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Read one period's expectation from its JSON object."""
        return super().from_json({**data, "default_rate_ci": _pair(data.get("default_rate_ci")),
                                  "auc_ci": _pair(data.get("auc_ci"))})


@dataclass(frozen=True)
class Expectation(_Record):
    """Default rate and AUC expected from the PDs before outcomes arrive, over the portfolio and per period."""

    default_rate: float | None
    default_rate_ci: tuple[float | None, float | None] | None
    auc: float | None
    auc_ci: tuple[float | None, float | None] | None
    n: int | None
    by_period: tuple[PeriodExpectation, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Read the expectation from its JSON object."""
        return super().from_json({**data, "default_rate_ci": _pair(data.get("default_rate_ci")),
                                  "auc_ci": _pair(data.get("auc_ci")),
                                  "by_period": tuple(PeriodExpectation.from_json(e)
                                                     for e in data.get("by_period") or ())})


@dataclass(frozen=True)
class RealisedCalibration(_Record):
    """Calibration in the large: mean PD against the observed default rate, with the binomial p-value."""

    predicted: float | None
    observed: float | None
    difference: float | None
    p_value: float | None


@dataclass(frozen=True)
class Realised(_Record):
    """The realised figures on the rows whose outcomes arrived."""

    n: int
    defaults: int | None
    default_rate: float | None
    auc: float | None
    gini: float | None
    ks: float | None
    ece: float | None
    calibration_in_the_large: RealisedCalibration | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Read the realised figures from their JSON object."""
        citl = data.get("calibration_in_the_large")
        return super().from_json({**data, "calibration_in_the_large":
                                  None if citl is None else RealisedCalibration.from_json(citl)})


@dataclass(frozen=True)
class GradeBacktest(_Record):
    """One grade's back-test: rows, mean PD, and once outcomes arrived the defaults, interval, p-value and light."""

    grade: str
    n: int | None
    predicted_pd: float | None
    defaults: int | None
    observed_rate: float | None
    jeffreys_low: float | None
    jeffreys_high: float | None
    p_value: float | None
    traffic_light: str | None


@dataclass(frozen=True)
class VintageBacktest(_Record):
    """One period's back-test, with its realised and expected AUC."""

    period: Period
    n: int | None
    predicted_pd: float | None
    defaults: int | None
    observed_rate: float | None
    jeffreys_low: float | None
    jeffreys_high: float | None
    p_value: float | None
    traffic_light: str | None
    auc: float | None
    expected_auc: float | None


@dataclass(frozen=True)
class MigrationPair(_Record):
    """Two consecutive periods and the companies scored in both (JSON keys ``from``, ``to``)."""

    _KEYS: ClassVar[dict[str, str]] = {"from_period": "from", "to_period": "to"}

    from_period: Period
    to_period: Period
    companies: int


@dataclass(frozen=True)
class GradeMigration(_Record):
    """Companies' moves between grades: ``matrix[i][j]`` moved from grade ``i`` to ``j`` (``j > i``: a downgrade)."""

    grades: tuple[str, ...]
    matrix: tuple[tuple[int, ...], ...]
    pairs: tuple[MigrationPair, ...]
    companies: int
    upgrades: int
    downgrades: int
    unchanged: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Read the migration from its JSON object (as :func:`riskcore.evaluation.realised.grade_migration` gives)."""
        return super().from_json({**data, "grades": tuple(data.get("grades") or ()),
                                  "matrix": tuple(tuple(row) for row in data.get("matrix") or ()),
                                  "pairs": tuple(MigrationPair.from_json(p) for p in data.get("pairs") or ())})


@dataclass(frozen=True)
class ReferenceFigures(_Record):
    """The model's figures on its test rows, frozen at training, that monitoring compares with."""

    test_auc: float | None
    test_ece: float | None
    test_default_rate: float | None
    test_mean_pd: float | None
    test_grades: tuple[dict[str, Any], ...]
    """Per grade on the test rows, as the bundle's ``reference.json`` holds them."""
    training_rows: int | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Read the reference figures from their JSON object."""
        return super().from_json({**data, "test_grades": tuple(dict(g) for g in data.get("test_grades") or ())})


@dataclass(frozen=True)
class Intake(_Record):
    """The scoring pass behind a report: its audit request (None when read from the audit trail), rows, rejects."""

    audit_request: str | None
    rows_in_file: int
    rejected: int


def _num(value: float | None) -> float:
    """A figure for the summary's text: None (a JSON null) as NaN."""
    return float("nan") if value is None else value


@dataclass(frozen=True)
class MonitorReport:
    """The monitoring of one portfolio against the model's reference profile (see the module docstring).

    Attributes
    ----------
    model_version, source, period_column : str
        The model that scored the portfolio, where the portfolio came from, its period column (None without).
    periods : tuple
        The periods monitored, in order (``("all",)`` without periods).
    n : int
        Rows monitored.
    reference : ReferenceFigures
    features : tuple of FeatureDrift
        Most drifted first.
    segments : tuple of SegmentDrift
        Drift concentrated in one segment, worst first.
    score : ScoreDrift
    grade_mix : tuple of GradeShare
    grade_psi : float
        PSI of the grade mix.
    expected : Expectation
    realized : Realised or None
        None before outcomes arrive.
    grades : tuple of GradeBacktest
    vintages : tuple of VintageBacktest
    migration : GradeMigration or None
    validation : ValidationBattery or None
        The validation battery on the rows with outcomes (None before outcomes arrive).
    notes : tuple of str
        What a reader should know about the numbers (rejected rows, unmatched outcomes, …).
    intake : Intake or None
        The scoring pass behind the report; None for a report built from counts alone.
    alerts : tuple of Alert
        Each rule's verdict, in the rules' order (:func:`riskcore.evaluation.alerts.evaluate_alerts`).
    """

    model_version: str
    source: str
    period_column: str | None
    periods: tuple[Period, ...]
    n: int
    reference: ReferenceFigures
    features: tuple[FeatureDrift, ...]
    segments: tuple[SegmentDrift, ...]
    score: ScoreDrift
    grade_mix: tuple[GradeShare, ...]
    grade_psi: float | None
    expected: Expectation
    realized: Realised | None
    grades: tuple[GradeBacktest, ...]
    vintages: tuple[VintageBacktest, ...]
    migration: GradeMigration | None
    validation: ValidationBattery | None
    notes: tuple[str, ...]
    intake: Intake | None
    alerts: tuple[Alert, ...]

    @property
    def failed(self) -> bool:
        """Whether an alert failed (the CLI then exits with status 1)."""
        return any(a.status == "fail" for a in self.alerts)

    @property
    def data(self) -> dict[str, Any]:
        """The report as plain data without its alerts (the figures the alert rules read)."""
        out = self.as_dict()
        del out["alerts"]
        return out

    def as_dict(self) -> dict[str, Any]:
        """The report as plain data in ``monitor.json``'s key order (NaN kept as NaN, periods as given)."""
        out: dict[str, Any] = {
            "model_version": self.model_version, "source": self.source, "period_column": self.period_column,
            "periods": list(self.periods), "n": self.n, "reference": self.reference.as_dict(),
            "features": _plain(self.features), "segments": _plain(self.segments), "score": self.score.as_dict(),
            "grade_mix": _plain(self.grade_mix), "grade_psi": self.grade_psi, "expected": self.expected.as_dict(),
            "realized": _plain(self.realized), "grades": _plain(self.grades), "vintages": _plain(self.vintages),
            "migration": _plain(self.migration)}
        if self.validation is not None:  # absent before outcomes (and in reports written before the battery)
            out["validation"] = self.validation.to_json()
        out["notes"] = list(self.notes)
        if self.intake is not None:
            out.update(self.intake.as_dict())
        out["alerts"] = [a.as_dict() for a in self.alerts]
        return out

    def to_json(self) -> dict[str, Any]:
        """What ``monitor.json`` holds: :meth:`as_dict` as strict JSON data (NaN and infinities as None)."""
        data: dict[str, Any] = strict_json(self.as_dict())
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MonitorReport:
        """Read a ``monitor.json`` (see the module docstring for what a missing key reads as).

        Parameters
        ----------
        data : mapping
            The parsed JSON object.

        Returns
        -------
        MonitorReport
        """
        realised, migration, battery = data.get("realized"), data.get("migration"), data.get("validation")
        intake = Intake.from_json(data) if "rows_in_file" in data else None
        return cls(
            model_version=data.get("model_version", ""), source=data.get("source", ""),
            period_column=data.get("period_column"), periods=tuple(data.get("periods") or ()), n=data.get("n", 0),
            reference=ReferenceFigures.from_json(data.get("reference") or {}),
            features=_records(FeatureDrift, data.get("features")),
            segments=_records(SegmentDrift, data.get("segments")), score=ScoreDrift.from_json(data.get("score") or {}),
            grade_mix=_records(GradeShare, data.get("grade_mix")),
            grade_psi=data.get("grade_psi"), expected=Expectation.from_json(data.get("expected") or {}),
            realized=None if realised is None else Realised.from_json(realised),
            grades=_records(GradeBacktest, data.get("grades")),
            vintages=_records(VintageBacktest, data.get("vintages")),
            migration=None if migration is None else GradeMigration.from_json(migration),
            validation=None if battery is None else ValidationBattery.from_json(battery),
            notes=tuple(data.get("notes") or ()), intake=intake,
            alerts=tuple(Alert.from_json(a) for a in data.get("alerts") or ()))

    def to_text(self, top: int = 10) -> str:
        """A summary a risk manager reads: alerts first, then the worst features, score, expectations, outcomes."""
        periods = [str(p) for p in self.periods]
        lines = [f"Monitoring model {self.model_version} on {self.n:,} rows"
                 + ("" if periods == [ALL_PERIODS] else f" of {periods[0]}" if len(periods) == 1
                    else f" over {len(periods)} periods ({', '.join(periods)})")]
        lines.append("Alerts:")
        order = {"fail": 0, "warn": 1, "pass": 2}
        for a in sorted(self.alerts, key=lambda a: order[a.status]):
            lines.append(f"  {a.status.upper():4s} {a.rule}: {a.detail}")
        lines.append("Features, most drifted first (PSI against the training bins; χ² p-value; KS):")
        for f in self.features[:top]:
            ks = f"  KS {f.ks:.3f}" if f.ks is not None and f.ks == f.ks else ""
            lines.append(f"  {f.name:28s} PSI {_num(f.psi):.3f} {f.status or '':6s} p {_num(f.p_value):.2g}{ks}"
                         f"  missing {_num(f.missing_share):.1%}  out of range {_num(f.out_of_range_share):.1%}")
        for s in self.segments[:5]:
            lines.append(f"  within {s.segment} ({s.period}): {s.feature} PSI {s.psi:.3f} {s.status}")
        lines.append(f"Score (calibrated PD): PSI {_num(self.score.psi):.3f} {self.score.status}; grade-mix PSI "
                     f"{_num(self.grade_psi):.3f}")
        e = self.expected
        rate_ci, auc_ci = e.default_rate_ci or (None, None), e.auc_ci or (None, None)
        lines.append(f"Expected before outcomes: default rate {_num(e.default_rate):.2%} "
                     f"[{_num(rate_ci[0]):.2%}, {_num(rate_ci[1]):.2%}], AUC {_num(e.auc):.3f} "
                     f"[{_num(auc_ci[0]):.3f}, {_num(auc_ci[1]):.3f}] (test AUC {_num(self.reference.test_auc):.3f})")
        r = self.realized
        if r:
            lines.append(f"Realised ({r.n:,} rows with outcomes): default rate {_num(r.default_rate):.2%}, AUC "
                         f"{_num(r.auc):.3f}, Gini {_num(r.gini):.3f}, KS {_num(r.ks):.3f}, ECE {_num(r.ece):.4f}")
            bad = [g for g in self.grades if g.traffic_light in ("amber", "red")]
            lines.append("  grades: " + (", ".join(f"{g.grade} {g.traffic_light} ({g.defaults} defaults "
                                                   f"of {g.n}, PD {_num(g.predicted_pd):.2%})" for g in bad)
                                         or "every grade green"))
        if self.validation is not None:
            table = self.validation.frame()
            judged = table[table["light"].isin(["amber", "red"])]
            lines.append("  validation battery: " + ("; ".join(f"{t} {light} (p {_num(p):.2g})" if p == p else
                                                              f"{t} {light}" for t, light, p in
                                                              zip(judged["test"], judged["light"], judged["p_value"],
                                                                  strict=True)) or "every test green"))
        for note in self.notes:
            lines.append(f"Note: {note}")
        return "\n".join(lines)


def _records(kind: type[_Record], items: Sequence[Mapping[str, Any]] | None) -> tuple[Any, ...]:
    """Records of one kind from a JSON list (a missing list reads as none)."""
    return tuple(kind.from_json(e) for e in items or ())
