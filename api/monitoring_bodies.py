"""The response body of ``GET /monitoring``: the newest monitoring run of the model serving, summarised.

Re-exported by :mod:`api.schemas` with the other request and response models.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["AlertDelivery", "DeliveryTry", "ExpectedPerformance", "GradeBacktest", "MonitoredFeature", "MonitoredScore",
           "MonitoringAlert", "MonitoringSummary", "RealisedPerformance", "ValidationGrade", "ValidationSummary",
           "ValidationTest"]

Light = Literal["green", "amber", "red"]


class MonitoringAlert(BaseModel):
    """One alert rule's verdict."""

    rule: str
    status: Literal["pass", "warn", "fail"]
    detail: str


class DeliveryTry(BaseModel):
    """One attempt of a delivery: when, and what went wrong (empty for the one that was sent)."""

    at: str
    error: str


class AlertDelivery(BaseModel):
    """Where one of the run's alerts was delivered (``[alerts.delivery]``), and how it went."""

    id: str
    created: str = Field(description="When the delivery was planned (ISO 8601, UTC).")
    kind: str
    severity: Literal["info", "warn", "fail", "error"]
    rule: str
    channel: Literal["webhook", "email"]
    target: str = Field(description="The target's name (a webhook's host, never its URL; or the addresses).")
    ref: str
    model_version: str
    state: Literal["pending", "sent", "failed", "repeat"] = Field(
        description="pending: being tried; repeat: the same alert was sent to this target lately, not sent again.")
    attempts: int
    error: str = Field(description="Why it failed or was not sent; empty when it was sent.")
    tries: list[DeliveryTry] = Field(description="Each attempt, oldest first.")
    finished: str | None


class MonitoredFeature(BaseModel):
    """One feature's drift against the training bins."""

    name: str
    family: str
    psi: float | None = Field(description="Population stability index against the bins frozen at training.")
    status: Literal["stable", "watch", "act"]
    p_value: float | None = Field(description="χ² p-value of the same bins: small portfolios' noise is not drift.")
    ks: float | None = Field(description="KS statistic on the training percentiles (numbers only).")
    missing_share: float | None
    out_of_range_share: float | None


class MonitoredScore(BaseModel):
    """Drift of the calibrated PD."""

    psi: float | None
    status: Literal["stable", "watch", "act"] | None


class ExpectedPerformance(BaseModel):
    """What the calibrated PDs themselves predict before outcomes arrive."""

    default_rate: float | None
    auc: float | None
    auc_ci: list[float | None] | None


class RealisedPerformance(BaseModel):
    """Performance once outcomes arrived."""

    n: int
    defaults: int
    default_rate: float | None
    auc: float | None
    gini: float | None
    ks: float | None
    ece: float | None


class GradeBacktest(BaseModel):
    """One grade: rows, predicted PD, observed default rate and its traffic light (null before outcomes)."""

    grade: str
    n: int
    predicted_pd: float | None
    observed_rate: float | None
    traffic_light: Literal["green", "amber", "red"] | None


class ValidationTest(BaseModel):
    """One test of the validation battery: its statistic, p-value, what it found, the rule it was judged by."""

    test: str
    statistic: float | None
    p_value: float | None
    detail: str
    rule: str = Field(description="The rule of the light, with the thresholds of [validation] it was judged by.")
    light: Light | None = Field(description="null when the test could not be judged.")


class ValidationGrade(BaseModel):
    """One grade's calibration tests (one-sided p-values: too many defaults for the grade's PD)."""

    grade: str
    n: int
    defaults: int
    predicted_pd: float | None
    observed_rate: float | None
    jeffreys_low: float | None
    jeffreys_high: float | None
    jeffreys_p: float | None
    jeffreys_light: Light | None
    binomial_p: float | None
    binomial_light: Light | None
    correlation: float | None = Field(description="The asset correlation of the correlation-adjusted test.")
    vasicek_p: float | None = Field(description="The binomial p-value with defaults correlated (Vasicek one-factor).")
    vasicek_light: Light | None


class ValidationSummary(BaseModel):
    """The validation battery on the rows whose outcomes arrived."""

    sample: str
    n: int
    defaults: int
    asset_correlation: float | str = Field(description="The [validation] setting: a number, or \"basel\".")
    tests: list[ValidationTest]
    grades: list[ValidationGrade]
    notes: list[str]


class MonitoringSummary(BaseModel):
    """The newest monitoring run of the deployed model."""

    model_version: str
    run_id: str = Field(description="The monitoring run in the experiment store; its monitor.json has every detail.")
    recorded_at: str
    periods: list[str]
    rows: int
    alerts: list[MonitoringAlert]
    features: list[MonitoredFeature] = Field(description="The most drifted features first (up to 20).")
    score: MonitoredScore
    expected: ExpectedPerformance
    realized: RealisedPerformance | None
    grades: list[GradeBacktest]
    validation: ValidationSummary | None = Field(
        default=None, description="The validation battery, once outcomes arrived (null before).")
    deliveries: list[AlertDelivery] = Field(default_factory=list,
                                            description="Where the run's alerts were delivered, newest first.")
