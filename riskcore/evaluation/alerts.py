"""Monitoring alerts: each rule of :class:`riskcore.config.AlertRules` read as pass, warn or fail, with its evidence.

A rule is evaluated on the whole portfolio and on each of its periods; its
status is the worst, and the detail names the periods and values behind it, so
a risk manager sees at once what moved and when.

=================  ==============================================================
rule               fails when (warns when)
=================  ==============================================================
``feature_psi``    a feature's PSI is above ``feature_psi`` (``feature_psi_warn``), over
                   the portfolio or within one segment; families in
                   ``skip_families`` are named but never alert
``score_psi``      the calibrated PD's PSI is above ``score_psi`` (``score_psi_warn``)
``auc_drop``       the realised AUC is more than ``auc_drop`` below the test AUC
                   (``auc_drop_warn``); before outcomes the expected AUC is used and
                   the rule can only warn, since it is an estimate
``ece``            the realised ECE is above ``ece`` (``ece_warn``); passes before outcomes
``red_grade``      at least ``red_grades`` grades are red in the back-test (a grade is amber)
=================  ==============================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from riskcore.config import AlertRules

__all__ = ["Alert", "AlertStatus", "evaluate_alerts"]

AlertStatus = Literal["pass", "warn", "fail"]


@dataclass(frozen=True)
class Alert:
    """One rule's verdict: its status, the evidence in a sentence, the worst value and the limit it was held to."""

    rule: str
    status: AlertStatus
    detail: str
    value: float | None = None
    threshold: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form (``monitor.json``)."""
        return {"rule": self.rule, "status": self.status, "detail": self.detail, "value": self.value,
                "threshold": self.threshold}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Alert:
        """Read an alert back from its plain-data form (``value`` and ``threshold`` may be absent)."""
        return cls(data["rule"], data["status"], data.get("detail", ""), data.get("value"), data.get("threshold"))


def _level(value: float, warn: float, fail: float) -> AlertStatus:
    """``fail`` above ``fail``, ``warn`` above ``warn``, else ``pass`` (NaN passes: nothing to judge)."""
    if value > fail:
        return "fail"
    return "warn" if value > warn else "pass"


def _where(period: Any, periods: list[Any]) -> str:
    """`` in 2026`` for a period of a multi-period portfolio, nothing otherwise."""
    return f" in {period}" if len(periods) > 1 and period is not None else ""


def _feature_alert(data: dict[str, Any], rules: AlertRules) -> Alert:
    """The worst feature PSI over the periods, outside the skipped families."""
    periods = data["periods"]
    hits: list[tuple[float, str, Any]] = []
    skipped: set[str] = set()
    for f in data["features"]:
        for entry in [{"period": None, **f}, *f["by_period"]] if len(periods) > 1 else [{"period": None, **f}]:
            value = entry["psi"]
            if not value > rules.feature_psi_warn:
                continue
            if f["family"] in rules.skip_families:
                skipped.add(f["name"])
            else:
                hits.append((value, f["name"], entry["period"]))
    for seg in data.get("segments", []):
        if seg["psi"] > rules.feature_psi_warn and seg["family"] not in rules.skip_families:
            hits.append((seg["psi"], f"{seg['feature']} within {seg['segment']}", seg["period"]))
    note = (f"; {', '.join(sorted(skipped))} moved too ({'/'.join(rules.skip_families)} series, reported, "
            "not alerted)") if skipped else ""
    if not hits:
        return Alert("feature_psi", "pass", f"no feature's PSI above {rules.feature_psi_warn:g}{note}", None,
                     rules.feature_psi)
    worst = max(v for v, _, _ in hits)
    status = _level(worst, rules.feature_psi_warn, rules.feature_psi)
    named: dict[str, tuple[float, Any]] = {}
    for value, name, period in sorted(hits, key=lambda h: -h[0]):
        named.setdefault(name, (value, period))
    acting = [(n, v, p) for n, (v, p) in named.items() if v > rules.feature_psi]
    watched = [(n, v, p) for n, (v, p) in named.items() if v <= rules.feature_psi]
    parts = [f"{label} {', '.join(f'{n} {v:.2f}{_where(p, periods)}' for n, v, p in found[:6])}"
             + (f" and {len(found) - 6} more" if len(found) > 6 else "")
             for label, found in ((f"PSI above {rules.feature_psi:g}:", acting),
                                  (f"watch (PSI above {rules.feature_psi_warn:g}):", watched)) if found]
    return Alert("feature_psi", status, "; ".join(parts) + note, worst, rules.feature_psi)


def _score_alert(data: dict[str, Any], rules: AlertRules) -> Alert:
    """The worst score PSI, pooled or in one period."""
    periods = data["periods"]
    entries = [{"period": None, **data["score"]}]
    if len(periods) > 1:
        entries += data["score"]["by_period"]
    worst = max(entries, key=lambda e: e["psi"] if e["psi"] == e["psi"] else -1.0)
    status = _level(worst["psi"], rules.score_psi_warn, rules.score_psi)
    return Alert("score_psi", status, f"score PSI {worst['psi']:.3f}{_where(worst['period'], periods)} "
                 f"(limit {rules.score_psi:g}, warning from {rules.score_psi_warn:g})", worst["psi"], rules.score_psi)


def _auc_alert(data: dict[str, Any], rules: AlertRules) -> Alert:
    """Realised (or, before outcomes, expected) AUC against the test AUC."""
    test = data["reference"]["test_auc"]
    realised = data.get("realized")
    if test is None or test != test:
        return Alert("auc_drop", "pass", "the model has no test AUC to compare with")
    if realised and realised["n"] and realised["auc"] == realised["auc"]:
        auc, what = realised["auc"], f"realised AUC {realised['auc']:.3f} on {realised['n']:,} rows with outcomes"
        estimate = False
    else:
        auc, what = data["expected"]["auc"], f"expected AUC {data['expected']['auc']:.3f} (before outcomes)"
        estimate = True
    if auc != auc:
        return Alert("auc_drop", "pass", "no AUC could be measured or expected (a single outcome class)")
    drop = test - auc
    status = _level(drop, rules.auc_drop_warn, rules.auc_drop)
    if estimate and status == "fail":
        status = "warn"
    return Alert("auc_drop", status, f"{what} vs test AUC {test:.3f}: drop {drop:+.3f} (limit {rules.auc_drop:g})",
                 drop, rules.auc_drop)


def _ece_alert(data: dict[str, Any], rules: AlertRules) -> Alert:
    """Realised calibration error."""
    realised = data.get("realized")
    if not realised or not realised["n"]:
        return Alert("ece", "pass", "no outcomes yet: calibration is checked when they arrive", None, rules.ece)
    ece = realised["ece"]
    return Alert("ece", _level(ece, rules.ece_warn, rules.ece),
                 f"ECE {ece:.4f} on {realised['n']:,} rows (limit {rules.ece:g}, warning from {rules.ece_warn:g})",
                 ece, rules.ece)


def _grade_alert(data: dict[str, Any], rules: AlertRules) -> Alert:
    """Red and amber grades of the back-test."""
    lights = [g for g in data["grades"] if g.get("traffic_light")]
    if not lights:
        return Alert("red_grade", "pass", "no outcomes yet: grades are back-tested when they arrive")
    red = [g for g in lights if g["traffic_light"] == "red"]
    amber = [g for g in lights if g["traffic_light"] == "amber"]

    def said(gs: list[dict[str, Any]]) -> str:
        return ", ".join(f"grade {g['grade']} ({g['defaults']} defaults of {g['n']:,}, PD {g['predicted_pd']:.2%})"
                         for g in gs)

    if len(red) >= rules.red_grades:
        return Alert("red_grade", "fail", f"red: {said(red)}" + (f"; amber: {said(amber)}" if amber else ""),
                     float(len(red)), float(rules.red_grades))
    if red or amber:
        return Alert("red_grade", "warn", "; ".join(x for x in (f"red: {said(red)}" if red else "",
                                                               f"amber: {said(amber)}" if amber else "") if x),
                     float(len(red)), float(rules.red_grades))
    return Alert("red_grade", "pass", f"all {len(lights)} grades with outcomes are green", 0.0,
                 float(rules.red_grades))


def evaluate_alerts(data: dict[str, Any], rules: AlertRules) -> list[Alert]:
    """Every rule's verdict on a monitoring report's data (see the module docstring).

    Parameters
    ----------
    data : dict
        The report's plain data (``features``, ``score``, ``expected``, ``realized``, ``grades``, ``reference``,
        ``periods``), as :func:`riskcore.evaluation.monitoring.monitor` assembles it.
    rules : AlertRules
        The thresholds.

    Returns
    -------
    list of Alert
        In the order of the table above.
    """
    return [_feature_alert(data, rules), _score_alert(data, rules), _auc_alert(data, rules),
            _ece_alert(data, rules), _grade_alert(data, rules)]
