"""Settings: frozen dataclasses with the product's defaults, loaded once at the edges.

:func:`load_settings` reads ``riskcore.toml`` (or the file named by
``RISKCORE_CONFIG``) and a few environment variables. Engine functions never
read settings themselves: the CLI, the dashboard and the API load them and
pass the values down.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Final, Literal, TypeVar, cast, get_args
from urllib.parse import urlsplit

from croniter import croniter

from riskcore.errors import ConfigError

__all__ = ["ALERT_RULES", "NAMED_SCHEDULES", "SEVERITIES", "AlertRules", "AuditRules", "CostMode", "Costs",
           "DeliveryRules", "GradingRules", "JobRules", "MailTarget", "Profile", "PromotionRules", "ProvisionRules",
           "RetrainingRules", "RiskBands", "ScorecardRules", "ServingRules", "Settings", "Severity", "SmtpSecurity",
           "SmtpServer", "TrainingConfig", "ValidationRules", "WebhookTarget", "database_url", "load_settings",
           "parse_candidates", "set_thread_defaults"]

CostMode = Literal["fixed", "exposure"]
Profile = Literal["quick", "full"]
RiskBands = Literal["master", "fixed"]
ModelKind = Literal["logistic", "lightgbm", "xgboost", "hist_gb", "random_forest", "scorecard", "ensemble"]
Calibration = Literal["isotonic", "platt"]
CalibrationRows = Literal["pooled", "validation"]
# how much an event that reaches people matters: a monitoring alert warns or fails; a job that failed or a fallback to
# an earlier champion is an error; a retraining decision (or the champion served again) is information
Severity = Literal["info", "warn", "fail", "error"]
SEVERITIES: Final[tuple[str, ...]] = get_args(Severity)
SmtpSecurity = Literal["starttls", "tls", "none"]
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ADDRESS = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+")


@dataclass(frozen=True)
class Costs:
    """What a wrong decision costs.

    ``fn``: a missed default (an ``accept`` that defaults); ``fp``: a false alarm
    (a ``refer`` that would have repaid: lost margin and review effort). In
    ``exposure`` mode a missed default instead costs ``lgd × exposure`` of that row.
    """

    fn: float = 50_000.0
    fp: float = 10_000.0
    lgd: float = 0.45
    mode: CostMode = "fixed"

    def __post_init__(self) -> None:
        problems = []
        if not (self.fn > 0 and self.fn < 1e12):
            problems.append(f"cost of a missed default fn={self.fn!r} must be a positive amount")
        if not (self.fp > 0 and self.fp < 1e12):
            problems.append(f"cost of a false alarm fp={self.fp!r} must be a positive amount")
        if not (0 < self.lgd <= 1):
            problems.append(f"lgd={self.lgd!r} must be in (0, 1], e.g. 0.45")
        if self.mode not in ("fixed", "exposure"):
            problems.append(f"mode={self.mode!r} must be 'fixed' or 'exposure'")
        if problems:
            raise ConfigError("; ".join(problems))


def _env_names(table: str, **names: str) -> list[str]:
    """Problems with settings that name environment variables (empty is allowed: not used)."""
    return [f"{table} setting {key}={value!r} must name an environment variable (letters, digits and _), e.g. "
            f"\"RISKCORE_{key.upper().removesuffix('_ENV')}\"" for key, value in names.items()
            if value and not _ENV_NAME.fullmatch(value)]


def _severities(table: str, severities: tuple[str, ...]) -> list[str]:
    unknown = [s for s in severities if s not in SEVERITIES]
    if unknown:
        return [f"{table} setting severities names unknown severities {unknown!r}; allowed: {', '.join(SEVERITIES)} "
                "(warn and fail: monitoring alerts; error: a job that failed, a fallback to an earlier champion; "
                "info: a retraining decision, the champion served again)"]
    return [] if severities else [f"{table} setting severities is empty: name at least one, e.g. [\"fail\", \"error\"]"]


@dataclass(frozen=True)
class WebhookTarget:
    """A webhook that receives alerts, one ``[[alerts.delivery.webhook]]`` entry in riskcore.toml.

    Each alert is a JSON POST whose body Slack and Microsoft Teams incoming webhooks accept (a ``text``) with the
    alert's fields beside it. ``url``, or ``url_env``: the environment variable holding it (a Slack or Teams URL is
    itself a secret). ``secret_env``: the environment variable holding a shared secret; with it every POST carries
    ``X-Riskcore-Signature`` (HMAC-SHA256, see :mod:`riskcore.lifecycle.delivery`). ``severities``: what it
    receives, of ``info``, ``warn``, ``fail``, ``error``. ``name``: how the records name it (default the URL's host,
    never its path).
    """

    url: str = ""
    url_env: str = ""
    secret_env: str = ""
    severities: tuple[str, ...] = ("fail", "error")
    name: str = ""

    def __post_init__(self) -> None:
        problems = []
        if bool(self.url) == bool(self.url_env):
            problems.append("webhook settings need exactly one of url (e.g. \"https://hooks.slack.com/services/"
                            "...\") and url_env (the environment variable holding it)")
        if self.url:
            parts = urlsplit(self.url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                problems.append(f"webhook setting url={self.url!r} must be an http(s) URL with a host, e.g. "
                                "\"https://hooks.slack.com/services/...\"")
        problems += _env_names("webhook", url_env=self.url_env, secret_env=self.secret_env)
        problems += _severities("webhook", self.severities)
        if len(self.name) > 100:
            problems.append("webhook setting name must be at most 100 characters")
        if problems:
            raise ConfigError("; ".join(problems))

    @property
    def label(self) -> str:
        """How records and messages name it: its name, else the URL's host (the path of a Slack URL is secret)."""
        if self.name:
            return self.name
        return f"webhook {urlsplit(self.url).hostname}" if self.url else f"webhook from ${self.url_env}"


@dataclass(frozen=True)
class MailTarget:
    """Recipients of alerts by e-mail, one ``[[alerts.delivery.email]]`` entry in riskcore.toml.

    ``to``: the addresses; ``severities``: what they receive (as :class:`WebhookTarget`); ``name``: how the
    records name them (default the addresses). The server is ``[alerts.delivery.smtp]``.
    """

    to: tuple[str, ...] = ()
    severities: tuple[str, ...] = ("fail", "error")
    name: str = ""

    def __post_init__(self) -> None:
        problems = []
        if not self.to:
            problems.append("email setting to needs at least one address, e.g. [\"model-risk@example.com\"]")
        bad = [a for a in self.to if not _ADDRESS.fullmatch(a)]
        if bad:
            problems.append(f"email setting to has addresses that are not one e-mail address each: {bad!r}")
        problems += _severities("email", self.severities)
        if len(self.name) > 100:
            problems.append("email setting name must be at most 100 characters")
        if problems:
            raise ConfigError("; ".join(problems))

    @property
    def label(self) -> str:
        """How records and messages name them: the name, else ``email to`` the addresses."""
        return self.name or "email to " + ", ".join(self.to)


@dataclass(frozen=True)
class SmtpServer:
    """The mail server alerts are sent through, ``[alerts.delivery.smtp]`` in riskcore.toml.

    ``security``: ``starttls`` (the default: the connection is upgraded before anything is sent, and refused when
    the server cannot), ``tls`` (implicit TLS, usually port 465) or ``none`` (a relay on the same host or network).
    ``username_env`` / ``password_env``: the environment variables holding the credentials (none: no login).
    ``ca_file``: a PEM file of certificate authorities to trust instead of the system's (an internal server).
    """

    host: str = ""
    port: int = 587
    security: SmtpSecurity = "starttls"
    sender: str = ""
    username_env: str = ""
    password_env: str = ""
    ca_file: str = ""

    def __post_init__(self) -> None:
        problems = []
        if not 1 <= self.port <= 65535:
            problems.append(f"smtp setting port={self.port!r} must be in [1, 65535], e.g. 587 (STARTTLS) or 465 (TLS)")
        if self.security not in get_args(SmtpSecurity):
            problems.append(f"smtp setting security={self.security!r} must be starttls, tls or none")
        if self.sender and not _ADDRESS.fullmatch(self.sender):
            problems.append(f"smtp setting sender={self.sender!r} must be one e-mail address, e.g. "
                            "\"riskcore@example.com\"")
        problems += _env_names("smtp", username_env=self.username_env, password_env=self.password_env)
        if bool(self.username_env) != bool(self.password_env):
            problems.append("smtp settings username_env and password_env go together: set both, or neither for a "
                            "server that needs no login")
        if problems:
            raise ConfigError("; ".join(problems))


@dataclass(frozen=True)
class DeliveryRules:
    """Where alerts go, ``[alerts.delivery]`` in riskcore.toml (see :mod:`riskcore.lifecycle.delivery`).

    ``webhook`` and ``email``: the targets, each with the severities it receives; ``smtp``: the mail server.
    ``repeat_hours``: an alert already sent (the same rule, model version and severity; the same event) is not
    sent to the same target again within this time. ``attempts``: tries per delivery, waiting ``backoff_seconds``,
    then twice that, and so on, between them; ``timeout_seconds``: per try. ``wait_seconds``: how long a command
    waits at its end for deliveries still in flight (the rest stay pending and a worker sends them).
    ``dashboard_url``: the dashboard's address, linked from each alert (empty: no link).
    """

    webhook: tuple[WebhookTarget, ...] = ()
    email: tuple[MailTarget, ...] = ()
    smtp: SmtpServer = field(default_factory=SmtpServer)
    repeat_hours: float = 24.0
    attempts: int = 3
    backoff_seconds: float = 1.0
    timeout_seconds: float = 10.0
    wait_seconds: float = 30.0
    dashboard_url: str = ""

    def __post_init__(self) -> None:
        problems = []
        if self.email and not (self.smtp.host and self.smtp.sender):
            problems.append("e-mail alerts need a mail server: set host and sender under [alerts.delivery.smtp], "
                            "e.g. host = \"smtp.example.com\" and sender = \"riskcore@example.com\"")
        if not 0 <= self.repeat_hours <= 24 * 366:
            problems.append(f"delivery setting repeat_hours={self.repeat_hours!r} must be in [0, 8784] (0: send every "
                            "time), e.g. 24")
        if not 1 <= self.attempts <= 10:
            problems.append(f"delivery setting attempts={self.attempts!r} must be in [1, 10], e.g. 3")
        if not 0 <= self.backoff_seconds <= 300:
            problems.append(f"delivery setting backoff_seconds={self.backoff_seconds!r} must be in [0, 300], e.g. 1")
        if not 0.1 <= self.timeout_seconds <= 300:
            problems.append(f"delivery setting timeout_seconds={self.timeout_seconds!r} must be in [0.1, 300], "
                            "e.g. 10")
        if not 0 <= self.wait_seconds <= 3600:
            problems.append(f"delivery setting wait_seconds={self.wait_seconds!r} must be in [0, 3600], e.g. 30")
        if self.dashboard_url:
            parts = urlsplit(self.dashboard_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                problems.append(f"delivery setting dashboard_url={self.dashboard_url!r} must be an http(s) URL, e.g. "
                                "\"https://riskcore.example.com\"")
        if problems:
            raise ConfigError("; ".join(problems))

    @property
    def targets(self) -> tuple[WebhookTarget | MailTarget, ...]:
        """Every target, the webhooks first."""
        return (*self.webhook, *self.email)


@dataclass(frozen=True)
class AlertRules:
    """When monitoring raises an alert: each rule fails beyond its limit and warns beyond its warning level.

    Set in ``riskcore.toml`` under ``[alerts]`` (same names). The defaults are the
    credit conventions: a feature whose PSI exceeds 0.25 (warning from 0.10), a
    score PSI above 0.10 (warning from 0.05), a realised AUC more than 0.05 below the
    test AUC (warning from 0.025), an ECE above 0.02 (warning from 0.015), and any
    red grade in the back-test (an amber grade warns). Features of the families in
    ``skip_families`` (macro series, which move every period by nature) are reported
    but do not raise the feature alert. ``delivery`` (``[alerts.delivery]``): where alerts are sent
    (:class:`DeliveryRules`).
    """

    feature_psi: float = 0.25
    feature_psi_warn: float = 0.10
    score_psi: float = 0.10
    score_psi_warn: float = 0.05
    auc_drop: float = 0.05
    auc_drop_warn: float = 0.025
    ece: float = 0.02
    ece_warn: float = 0.015
    red_grades: int = 1
    skip_families: tuple[str, ...] = ("macro",)
    delivery: DeliveryRules = field(default_factory=DeliveryRules)

    def __post_init__(self) -> None:
        for warn, fail in (("feature_psi_warn", "feature_psi"), ("score_psi_warn", "score_psi"),
                           ("auc_drop_warn", "auc_drop"), ("ece_warn", "ece")):
            w, f = getattr(self, warn), getattr(self, fail)
            if not (0 <= w <= f):
                raise ConfigError(f"alert setting {warn}={w!r} must be between 0 and {fail}={f!r}")
        if self.red_grades < 1:
            raise ConfigError(f"alert setting red_grades={self.red_grades!r} must be at least 1")


@dataclass(frozen=True)
class ValidationRules:
    """The traffic lights of the validation battery (``evaluation/validation.py``), set under ``[validation]``.

    A test judged by a p-value is amber below its ``*_p_amber`` and red below its ``*_p_red``; a
    measure of size (a concentration, a share, a PSI) is amber above its ``*_amber`` and red above its
    ``*_red``. The defaults: the per-grade binomial, Jeffreys and correlation-adjusted tests at 0.05
    and 0.001 (the back-test's zones), Hosmer–Lemeshow, Spiegelhalter and the AUC test at 0.05 and
    0.01; a Herfindahl index of the grade distribution above 0.40 (0.52: on ten grades, as concentrated as
    every company in four, or three, equally full grades); more than 10 % (20 %) of
    the companies moving more than one grade between two periods; a grade PSI above 0.10 (0.25).

    ``asset_correlation``: the one-factor (Vasicek) asset correlation of the correlation-adjusted
    binomial test, a number in [0, 1) (e.g. 0.12), or ``"basel"`` (the default) for the Basel
    formula for corporate exposures at each grade's PD, reduced for SMEs by the firm-size
    adjustment at ``sme_turnover_meur`` (annual turnover in € million; 50 or more: none).
    """

    binomial_p_amber: float = 0.05
    binomial_p_red: float = 0.001
    asset_correlation: float | str = "basel"
    sme_turnover_meur: float = 50.0
    hosmer_lemeshow_p_amber: float = 0.05
    hosmer_lemeshow_p_red: float = 0.01
    spiegelhalter_p_amber: float = 0.05
    spiegelhalter_p_red: float = 0.01
    auc_p_amber: float = 0.05
    auc_p_red: float = 0.01
    herfindahl_amber: float = 0.40
    herfindahl_red: float = 0.52
    migration_amber: float = 0.10
    migration_red: float = 0.20
    grade_psi_amber: float = 0.10
    grade_psi_red: float = 0.25

    def __post_init__(self) -> None:
        for test in ("binomial", "hosmer_lemeshow", "spiegelhalter", "auc"):
            amber, red = getattr(self, f"{test}_p_amber"), getattr(self, f"{test}_p_red")
            if not 0 < red <= amber < 1:
                raise ConfigError(f"validation settings {test}_p_red={red!r} and {test}_p_amber={amber!r} must be "
                                  "p-values with 0 < red <= amber < 1, e.g. 0.01 and 0.05")
        for test in ("herfindahl", "migration", "grade_psi"):
            amber, red = getattr(self, f"{test}_amber"), getattr(self, f"{test}_red")
            if not 0 <= amber <= red:
                raise ConfigError(f"validation settings {test}_amber={amber!r} and {test}_red={red!r} must be "
                                  "limits with 0 <= amber <= red, e.g. 0.10 and 0.25")
        rho = self.asset_correlation
        if rho != "basel" and (isinstance(rho, str | bool) or not 0 <= rho < 1):
            raise ConfigError(f"validation setting asset_correlation={rho!r} must be \"basel\" (the Basel formula "
                              "for corporate and SME exposures) or a number in [0, 1), e.g. 0.12")
        if not 0 < self.sme_turnover_meur:
            raise ConfigError(f"validation setting sme_turnover_meur={self.sme_turnover_meur!r} must be a turnover "
                              "in € million above 0 (50 or more: no SME adjustment), e.g. 20")


@dataclass(frozen=True)
class PromotionRules:
    """When a challenger may replace the champion: the promotion gate, set under ``[promotion]`` in riskcore.toml.

    The challenger must not be worse on cost with ``cost_confidence`` confidence: the
    one-sided upper bound of its extra cost (paired bootstrap, each model at its own
    cut-off) may exceed the champion's cost by at most ``cost_margin`` (a share of it;
    0 by default). And it must pass the calibration check on the same rows: an ECE of
    at most ``max_ece`` and no more than ``max_red_grades`` red grades in the back-test.
    """

    cost_confidence: float = 0.95
    cost_margin: float = 0.0
    max_ece: float = 0.02
    max_red_grades: int = 0
    n_resamples: int = 1000

    def __post_init__(self) -> None:
        if not 0.5 <= self.cost_confidence < 1:
            raise ConfigError(f"promotion setting cost_confidence={self.cost_confidence!r} must be in [0.5, 1), "
                              "e.g. 0.95")
        if not 0 <= self.cost_margin < 1:
            raise ConfigError(f"promotion setting cost_margin={self.cost_margin!r} must be a share in [0, 1), "
                              "e.g. 0.01")
        if not 0 < self.max_ece <= 1:
            raise ConfigError(f"promotion setting max_ece={self.max_ece!r} must be in (0, 1], e.g. 0.02")
        if self.max_red_grades < 0 or self.n_resamples < 100:
            raise ConfigError("promotion settings max_red_grades must be at least 0 and n_resamples at least 100")


@dataclass(frozen=True)
class ServingRules:
    """What the API serves besides the champion, set under ``[serving]`` in riskcore.toml.

    ``challenger`` (a model version, e.g. ``xgboost-20261201T101500Z``; empty for none)
    scores every API request in shadow: the answer stays the champion's and both
    scores go to the audit trail, the challenger's marked ``shadow``. With a
    ``canary_share`` above 0 that share of companies, chosen by a stable hash of the
    company id, is decided by the challenger instead (the champion's score is then the
    shadow one). ``check_seconds``: how often the API and the dashboard look for a new
    champion and re-verify the bundle they serve.
    """

    challenger: str = ""
    canary_share: float = 0.0
    check_seconds: float = 5.0

    def __post_init__(self) -> None:
        if not 0 <= self.canary_share <= 0.5:
            raise ConfigError(f"serving setting canary_share={self.canary_share!r} must be a share in [0, 0.5], "
                              "e.g. 0.1 for 10% of companies")
        if self.canary_share and not self.challenger:
            raise ConfigError("serving setting canary_share needs a challenger: set serving.challenger to the model "
                              "version that decides the canary share")
        if not 0 <= self.check_seconds <= 86_400:
            raise ConfigError(f"serving setting check_seconds={self.check_seconds!r} must be in [0, 86400], e.g. 5")


# the names of the monitoring alert rules (``evaluation/alerts.py``), which ``[retraining] on_alert`` may name
ALERT_RULES: Final[tuple[str, ...]] = ("feature_psi", "score_psi", "auc_drop", "ece", "red_grade")
# schedules that need no cron expression: at midnight UTC on the first day of each month, quarter or year
NAMED_SCHEDULES: Final[dict[str, str]] = {"monthly": "0 0 1 * *", "quarterly": "0 0 1 1,4,7,10 *",
                                          "yearly": "0 0 1 1 *"}


@dataclass(frozen=True)
class JobRules:
    """Long work run as durable jobs, set under ``[jobs]`` in riskcore.toml.

    ``upload_max_mb``: the largest file ``POST /jobs/score`` accepts (0: the dashboard's ``upload_max_mb``).
    ``keep_hours``: how long a finished job's files are kept before they are deleted, on record (24 h).
    ``lease_seconds``: how long a worker holds a job without a heartbeat before another may take it again;
    ``max_attempts``: how many times a job is started before it is failed. ``poll_seconds``: how often an
    idle worker looks for work. ``api_workers`` / ``dashboard_workers``: the worker processes each API or
    dashboard process starts (0: run ``python -m riskcore worker`` yourself). ``inline_max_mb``: the
    dashboard scores an upload at once up to this size and submits a larger one as a job. ``paths``: the
    folders a server-side file named by ``POST /jobs/score`` may come from (none by default).
    """

    upload_max_mb: int = 0
    keep_hours: float = 24.0
    lease_seconds: float = 60.0
    max_attempts: int = 3
    poll_seconds: float = 1.0
    api_workers: int = 1
    dashboard_workers: int = 1
    inline_max_mb: float = 5.0
    paths: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.upload_max_mb < 0:
            raise ConfigError(f"jobs setting upload_max_mb={self.upload_max_mb!r} must be at least 0 (0: the "
                              "dashboard's upload_max_mb), e.g. 1024")
        if not 0 < self.keep_hours <= 24 * 366:
            raise ConfigError(f"jobs setting keep_hours={self.keep_hours!r} must be in (0, 8784], e.g. 24")
        if not 1 <= self.lease_seconds <= 3600 or not 0.05 <= self.poll_seconds <= 60:
            raise ConfigError(f"jobs settings lease_seconds={self.lease_seconds!r} must be in [1, 3600] (e.g. 60) "
                              f"and poll_seconds={self.poll_seconds!r} in [0.05, 60] (e.g. 1)")
        if not 1 <= self.max_attempts <= 100:
            raise ConfigError(f"jobs setting max_attempts={self.max_attempts!r} must be in [1, 100], e.g. 3")
        if not 0 <= self.api_workers <= 64 or not 0 <= self.dashboard_workers <= 64:
            raise ConfigError(f"jobs settings api_workers={self.api_workers!r} and dashboard_workers="
                              f"{self.dashboard_workers!r} must be in [0, 64] (0: run python -m riskcore worker "
                              "yourself), e.g. 1")
        if not 0 <= self.inline_max_mb <= 1024:
            raise ConfigError(f"jobs setting inline_max_mb={self.inline_max_mb!r} must be in [0, 1024], e.g. 5")


@dataclass(frozen=True)
class RetrainingRules:
    """The retraining loop (``python -m riskcore retrain``), set under ``[retraining]`` in riskcore.toml.

    ``data``: the newest data, a file or a folder of partitions (CSV or Parquet files of whole
    companies). ``schedule``: ``monthly``, ``quarterly``, ``yearly`` or a five-field cron expression (UTC),
    run by the workers; empty for none. ``on_alert``: the monitoring alert rules whose failure starts the
    loop (of ``feature_psi``, ``score_psi``, ``auc_drop``, ``ece``, ``red_grade``). ``auto_promote``: promote
    a challenger that passes the gate; by default it waits for a validator's signature and an admin's
    promotion. ``profile``: ``quick`` or ``full``, or empty to train with the champion's recorded settings.
    ``identity``: who the loop is on record (never the promoter of what it trained).
    """

    data: str = ""
    schedule: str = ""
    on_alert: tuple[str, ...] = ()
    auto_promote: bool = False
    profile: str = ""
    identity: str = "retraining-loop"

    def __post_init__(self) -> None:
        schedule = self.schedule.strip()
        if schedule and schedule not in NAMED_SCHEDULES and not croniter.is_valid(schedule):
            raise ConfigError(f"retraining setting schedule={self.schedule!r} must be monthly, quarterly, yearly or "
                              "a cron expression of five fields (minute hour day month weekday, UTC), e.g. "
                              "\"0 6 1 */3 *\"")
        unknown = [r for r in self.on_alert if r not in ALERT_RULES]
        if unknown:
            raise ConfigError(f"retraining setting on_alert names unknown alert rules {unknown!r}; allowed: "
                              f"{', '.join(ALERT_RULES)}")
        if self.profile not in ("", "quick", "full"):
            raise ConfigError(f"retraining setting profile={self.profile!r} must be quick, full or empty (the "
                              "champion's recorded settings)")
        if not self.identity.strip() or len(self.identity) > 200:
            raise ConfigError("retraining setting identity must name the loop in 1 to 200 characters, e.g. "
                              "\"retraining-loop\"")

    @property
    def cron(self) -> str:
        """The schedule as a cron expression (empty when there is none)."""
        schedule = self.schedule.strip()
        return NAMED_SCHEDULES.get(schedule, schedule)


@dataclass(frozen=True)
class AuditRules:
    """The audit trail's keeping, set under ``[audit]`` in riskcore.toml.

    ``retain_years``: how many years of scores stay in the live database; ``python -m riskcore audit
    archive`` moves older whole requests into verified archives (0: keep everything live).
    ``redact``: input columns stored only as salted hashes, in addition to the product's default list of
    columns that name people or contacts.
    """

    retain_years: int = 0
    redact: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.retain_years <= 100:
            raise ConfigError(f"audit setting retain_years={self.retain_years!r} must be in [0, 100] (0: keep "
                              "every score in the live database), e.g. 7")
        if any(not name.strip() for name in self.redact):
            raise ConfigError(f"audit setting redact={list(self.redact)!r} names an empty column; list the input "
                              "columns to store only as salted hashes, e.g. [\"internal_notes\", \"customer_number\"]")


@dataclass(frozen=True)
class GradingRules:
    """Through-the-cycle grades, set under ``[grading]`` in riskcore.toml and frozen in the bundle at training.

    ``through_the_cycle``: grade each company on its through-the-cycle PD instead of its point-in-time PD
    (decisions keep the point-in-time PD); off by default, so the grades of existing users do not change.
    ``long_run_default_rate``: the rate the through-the-cycle PDs centre on, ``"training"`` (the average of
    the yearly default rates over the training periods) or a share such as ``0.03``. Both take effect for the
    models trained after the change (see :mod:`riskcore.modelling.cycle`).
    """

    through_the_cycle: bool = False
    long_run_default_rate: str | float = "training"

    def __post_init__(self) -> None:
        rate = self.long_run_default_rate
        if isinstance(rate, str) and rate.strip().casefold() == "training":
            object.__setattr__(self, "long_run_default_rate", "training")
            return
        number: float | None = None
        if isinstance(rate, (int, float)) and not isinstance(rate, bool):
            number = float(rate)
        elif isinstance(rate, str):
            try:
                number = float(rate.strip())
            except ValueError:
                number = None
        if number is None or not 0.0005 <= number < 0.5:
            raise ConfigError(f"grading setting long_run_default_rate={rate!r} must be \"training\" (the average of "
                              "the yearly default rates over the training periods) or a share between 0.0005 and "
                              "0.5, e.g. 0.03 for 3%")
        object.__setattr__(self, "long_run_default_rate", number)

    @property
    def long_run_rate(self) -> float | None:
        """The long-run default rate as a number, or None for the training periods' average."""
        rate = self.long_run_default_rate
        return None if isinstance(rate, str) else float(rate)


@dataclass(frozen=True)
class ProvisionRules:
    """Expected credit loss (``python -m riskcore provisions``), set under ``[provisions]`` in riskcore.toml.

    ``standard``: ``ifrs9`` (12 months of loss in stage 1, the whole remaining life in stages 2 and 3) or
    ``cecl`` (lifetime for every exposure). ``method``: how the 12-month PD is carried over the remaining
    life, ``hazard`` or ``migration`` (``evaluation/lifetime.py``); ``term_years``: the remaining term of an
    exposure without a ``term_column`` value. A significant increase in credit risk (stage 2) is a lifetime
    PD at least ``sicr_relative`` above the one expected at origination (1.0: doubled) *and* at least
    ``sicr_absolute`` above it in points of PD; or more than ``dpd_backstop`` days past due; or a company
    on the watch list. More than ``dpd_default`` days past due, or the ``defaulted_column`` set, is stage 3.
    ``lgd`` and ``eir`` (the effective interest rate the losses are discounted at) apply where the
    ``lgd_column`` / ``eir_column`` give none; ``ead_profile`` is ``constant`` or ``amortising`` (straight
    line to zero at the end of the term). The scenarios' weights must add up to 1; the downside and upside
    move the model's macro inputs by ``downside_severity`` / ``upside_severity`` times the model report's
    macro stress (2 points for inputs in percentage points, else one training standard deviation).
    ``prior_weight``: pseudo-observations each grade borrows from its neighbours in the term structures.
    """

    standard: str = "ifrs9"
    method: str = "hazard"
    term_years: float = 5.0
    sicr_relative: float = 1.0
    sicr_absolute: float = 0.02
    dpd_backstop: int = 30
    dpd_default: int = 90
    lgd: float = 0.45
    eir: float = 0.05
    ead_profile: str = "constant"
    base_weight: float = 0.5
    upside_weight: float = 0.2
    downside_weight: float = 0.3
    downside_severity: float = 1.0
    upside_severity: float = 0.5
    prior_weight: float = 20.0
    term_column: str = "remaining_term_years"
    origination_column: str = "origination_pd"
    dpd_column: str = "days_past_due"
    watchlist_column: str = "watch_list"
    defaulted_column: str = "defaulted"
    lgd_column: str = "lgd"
    eir_column: str = "eir"

    def __post_init__(self) -> None:
        if self.standard not in ("ifrs9", "cecl"):
            raise ConfigError(f"provisions setting standard={self.standard!r} must be ifrs9 or cecl")
        if self.method not in ("hazard", "migration"):
            raise ConfigError(f"provisions setting method={self.method!r} must be hazard or migration")
        if not 1 <= self.term_years <= 50:
            raise ConfigError(f"provisions setting term_years={self.term_years!r} must be in [1, 50], e.g. 5")
        if not 0 < self.sicr_relative <= 100 or not 0 <= self.sicr_absolute < 1:
            raise ConfigError(f"provisions settings sicr_relative={self.sicr_relative!r} must be in (0, 100] (1.0: "
                              f"the lifetime PD doubled since origination) and sicr_absolute={self.sicr_absolute!r} "
                              "a share of PD in [0, 1), e.g. 1.0 and 0.02")
        if not 0 < self.dpd_backstop < self.dpd_default <= 3650:
            raise ConfigError(f"provisions settings dpd_backstop={self.dpd_backstop!r} and dpd_default="
                              f"{self.dpd_default!r} must be days with 0 < dpd_backstop < dpd_default, e.g. 30 and 90")
        if not 0 < self.lgd <= 1:
            raise ConfigError(f"provisions setting lgd={self.lgd!r} must be in (0, 1], e.g. 0.45")
        if not 0 <= self.eir < 1:
            raise ConfigError(f"provisions setting eir={self.eir!r} must be a yearly rate in [0, 1), e.g. 0.05")
        if self.ead_profile not in ("constant", "amortising"):
            raise ConfigError(f"provisions setting ead_profile={self.ead_profile!r} must be constant or amortising")
        weights = (self.base_weight, self.upside_weight, self.downside_weight)
        if min(weights) < 0 or abs(sum(weights) - 1.0) > 1e-9:
            raise ConfigError(f"provisions settings base_weight, upside_weight and downside_weight ({weights[0]!r}, "
                              f"{weights[1]!r}, {weights[2]!r}) must be at least 0 and add up to 1, e.g. 0.5, "
                              "0.2 and 0.3")
        if not 0 <= self.downside_severity <= 10 or not 0 <= self.upside_severity <= 10:
            raise ConfigError(f"provisions settings downside_severity={self.downside_severity!r} and "
                              f"upside_severity={self.upside_severity!r} must be in [0, 10] (1: the model "
                              "report's macro stress), e.g. 1.0 and 0.5")
        if not 0 <= self.prior_weight <= 1e6:
            raise ConfigError(f"provisions setting prior_weight={self.prior_weight!r} must be in [0, 1000000], "
                              "e.g. 20")
        columns = (self.term_column, self.origination_column, self.dpd_column, self.watchlist_column,
                   self.defaulted_column, self.lgd_column, self.eir_column)
        if any(not c.strip() for c in columns):
            raise ConfigError("provisions settings *_column must each name a column, e.g. \"days_past_due\"")

    @property
    def weights(self) -> dict[str, float]:
        """The scenarios' weights by name (base, upside, downside)."""
        return {"base": self.base_weight, "upside": self.upside_weight, "downside": self.downside_weight}


@dataclass(frozen=True)
class ScorecardRules:
    """How the ``scorecard`` candidate's points are scaled, set under ``[scorecard]`` in riskcore.toml.

    ``pdo`` points double the odds against default, and ``base_points`` stand for odds of ``base_odds``
    to 1 against default; the defaults are the industry's common 20 points to double the odds and 600
    points at odds of 50 to 1. More points always mean lower risk.
    """

    pdo: float = 20.0
    base_points: float = 600.0
    base_odds: float = 50.0

    def __post_init__(self) -> None:
        if not 0 < self.pdo <= 1000:
            raise ConfigError(f"scorecard setting pdo={self.pdo!r} must be in (0, 1000] (points that double the "
                              "odds), e.g. 20")
        if not 0 <= self.base_points <= 100_000:
            raise ConfigError(f"scorecard setting base_points={self.base_points!r} must be in [0, 100000], e.g. 600")
        if not 0 < self.base_odds <= 1e6:
            raise ConfigError(f"scorecard setting base_odds={self.base_odds!r} must be positive odds against "
                              "default (good to bad), e.g. 50 for 50:1")


@dataclass(frozen=True)
class TrainingConfig:
    """How a training run searches, calibrates and chooses.

    ``quick`` is the profile of the dashboard's first start and of the tests;
    ``full`` searches every candidate with a larger budget.
    """

    profile: Profile = "full"
    candidates: tuple[ModelKind, ...] = ("logistic", "lightgbm", "xgboost", "hist_gb", "random_forest", "scorecard",
                                         "ensemble")
    n_iter: int = 6
    cv_folds: int = 4
    random_state: int = 7
    calibration: Calibration = "isotonic"
    # rows the calibrator learns from: "pooled" = the chosen candidate's out-of-fold training scores plus the
    # validation rows (cross-fitted, as scikit-learn's CalibratedClassifierCV(ensemble=False) does);
    # "validation" = the validation rows only
    calibrate_on: CalibrationRows = "pooled"
    smote: bool = False
    # constrain the boosted candidates to the spec's declared directions (train --monotone)
    monotone: bool = False
    allow_leaks: bool = False
    tie_tolerance: float = 0.003
    n_bootstrap: int = 1000
    max_search_rows: int = 60_000
    importance_warning: float = 0.5
    # cross-validation fits run this many at a time, each on one thread, in worker processes
    n_jobs: int = 2
    # through-the-cycle grades ([grading] of the settings, applied by the faces)
    grading: GradingRules = field(default_factory=GradingRules)
    # the scorecard candidate's points scaling ([scorecard] in riskcore.toml)
    scorecard: ScorecardRules = field(default_factory=ScorecardRules)

    def __post_init__(self) -> None:
        kinds = get_args(ModelKind)
        unknown = [k for k in self.candidates if k not in kinds]
        if unknown:
            raise ConfigError(f"unknown model kind(s) {', '.join(map(repr, unknown))}; choose from "
                              f"{', '.join(kinds)} (comma-separated, e.g. 'logistic,lightgbm')")
        if not self.candidates:
            raise ConfigError("no candidate model kinds; name at least one, e.g. 'lightgbm'")
        members = [k for k in self.candidates if k != "ensemble"]
        if "ensemble" in self.candidates and len(members) < 2:
            raise ConfigError("the ensemble averages other candidates: name at least two others with it, "
                              "e.g. 'logistic,lightgbm,ensemble'")

    @classmethod
    def quick(cls, **overrides: Any) -> TrainingConfig:
        """The quick profile: two strong, cheap candidates and a small search."""
        base = cls(profile="quick", candidates=("logistic", "lightgbm"), n_iter=3, cv_folds=3)
        return replace(base, **overrides)

    @classmethod
    def for_profile(cls, profile: Profile, **overrides: Any) -> TrainingConfig:
        """The config of a named profile, with overrides."""
        if profile == "quick":
            return cls.quick(**overrides)
        if profile == "full":
            return replace(cls(), **overrides)
        raise ConfigError(f"profile {profile!r} is unknown; use 'quick' or 'full'")


def database_url(url: str) -> str:
    """A database URL as SQLAlchemy (and MLflow) read it: ``postgres://`` becomes ``postgresql://``.

    Hosting services hand out ``postgres://user:password@host/db``; SQLAlchemy knows the dialect only as
    ``postgresql`` (which reaches the server through psycopg 3). Anything else is returned unchanged.

    Examples
    --------
    >>> database_url("postgres://ana@db.internal:5432/riskcore")
    'postgresql://ana@db.internal:5432/riskcore'
    >>> database_url("sqlite:////srv/riskcore/audit.db")
    'sqlite:////srv/riskcore/audit.db'
    """
    if isinstance(url, str) and url[:11].lower() == "postgres://":
        return "postgresql://" + url[11:]
    return url


def parse_candidates(text: str) -> tuple[ModelKind, ...]:
    """Model kinds from a comma-separated list such as ``"logistic,lightgbm"`` (spaces and case ignored).

    Raises
    ------
    ConfigError
        When a name is not a model kind (the message lists the kinds).
    """
    kinds = tuple(dict.fromkeys(k.strip().casefold().replace("-", "_") for k in str(text).split(",") if k.strip()))
    # TrainingConfig checks the names, with the message users see
    return TrainingConfig(candidates=cast("tuple[ModelKind, ...]", kinds)).candidates


@dataclass(frozen=True)
class Settings:
    """Everything the faces need: where state lives, costs, bands, API limits."""

    home: Path = field(default_factory=lambda: Path.cwd() / ".riskcore")
    tracking_uri: str = ""
    audit_url: str = ""
    model_name: str = "riskcore-pd"
    costs: Costs = field(default_factory=Costs)
    alerts: AlertRules = field(default_factory=AlertRules)
    promotion: PromotionRules = field(default_factory=PromotionRules)
    serving: ServingRules = field(default_factory=ServingRules)
    jobs: JobRules = field(default_factory=JobRules)
    retraining: RetrainingRules = field(default_factory=RetrainingRules)
    audit: AuditRules = field(default_factory=AuditRules)
    grading: GradingRules = field(default_factory=GradingRules)
    validation: ValidationRules = field(default_factory=ValidationRules)
    provisions: ProvisionRules = field(default_factory=ProvisionRules)
    scorecard: ScorecardRules = field(default_factory=ScorecardRules)
    risk_bands: RiskBands = "master"
    api_max_batch: int = 1000
    api_rate_limit: int = 100
    api_max_body_bytes: int = 5_000_000
    api_group_wait_ms: float = 2.0
    api_group_max: int = 64
    upload_max_mb: int = 1024
    demo_companies: int = 5000
    session_idle_minutes: int = 30

    @property
    def models_dir(self) -> Path:
        """Folder of model bundles."""
        return self.home / "models"

    @property
    def data_dir(self) -> Path:
        """Folder of generated data (the demo portfolio)."""
        return self.home / "data"

    @property
    def resolved_tracking_uri(self) -> str:
        """The MLflow tracking URI: the setting, or a SQLite file in ``home``."""
        if self.tracking_uri:
            return database_url(self.tracking_uri)
        return "sqlite:///" + str((self.home / "mlflow.db").resolve())

    @property
    def resolved_audit_url(self) -> str:
        """The audit database URL: the setting, or a SQLite file in ``home``."""
        if self.audit_url:
            return database_url(self.audit_url)
        return "sqlite:///" + str((self.home / "audit.db").resolve())

    @property
    def jobs_dir(self) -> Path:
        """Folder of the jobs' files: uploads, results and reject reports, each job in its own folder."""
        return self.home / "jobs"

    @property
    def job_upload_max_bytes(self) -> int:
        """The largest file a scoring job accepts: ``[jobs] upload_max_mb``, else the dashboard's limit."""
        return (self.jobs.upload_max_mb or self.upload_max_mb) * 1_000_000

    @property
    def keys_file(self) -> Path:
        """Where the API's hashed keys are kept."""
        return self.home / "api_keys.json"


def _where(source: str) -> str:
    """`` in 'riskcore.toml'`` or `` in $NAME``: where a value came from, for the message."""
    return f" in {source}" if source else ""


def _coerce(name: str, value: Any, default: Any, source: str = "") -> Any:
    """``value`` converted to the type of the setting's default.

    Raises
    ------
    ConfigError
        Naming the setting, the value and where it came from (the file or the
        environment variable) when the value has the wrong type.
    """
    where = _where(source)
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("1", "true", "yes"):
            return True
        if str(value).lower() in ("0", "false", "no"):
            return False
        raise ConfigError(f"setting {name}={value!r}{where} must be true or false")
    if isinstance(default, int):
        return _whole_number(name, value, where)
    if isinstance(default, float):
        return _number(name, value, where)
    if isinstance(default, Path):
        if not isinstance(value, str) or not value:
            raise ConfigError(f"setting {name}={value!r}{where} must be a folder path, e.g. \".riskcore\"")
        return Path(value).expanduser()
    if isinstance(default, str) and not isinstance(value, str):
        raise ConfigError(f"setting {name}={value!r}{where} must be text, e.g. {default or 'sqlite:///...'!r}")
    return value


def _whole_number(name: str, value: Any, where: str) -> int:
    """An integer setting: ``5``, ``"5"`` or ``5.0``; not ``true``, ``2.5`` or ``"abc"``."""
    number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not float(number).is_integer():
        raise ConfigError(f"setting {name}={value!r}{where} must be a whole number, e.g. 100")
    return int(number)


def _number(name: str, value: Any, where: str) -> float:
    """A number setting: ``0.45``, ``50000`` or ``"50000"``; not ``true`` or ``"abc"``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(f"setting {name}={value!r}{where} must be a number, e.g. 50000")
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"setting {name}={value!r}{where} must be a number, e.g. 50000") from None


def _costs(value: Any, source: str) -> Costs:
    """The ``[costs]`` table: each value checked and converted, every message naming its key and the file."""
    where = _where(source)
    if not isinstance(value, dict):
        raise ConfigError(f"[costs]{where} must be a table with fn, fp, lgd, mode")
    unknown = set(value) - {"fn", "fp", "lgd", "mode"}
    if unknown:
        raise ConfigError(f"unknown cost settings {sorted(unknown)!r}{where}; allowed: fn, fp, lgd, mode")
    numbers = {k: _number(f"costs.{k}", v, where) for k, v in value.items() if k != "mode"}
    mode = value.get("mode", Costs.mode)
    try:
        return Costs(**numbers, mode=mode)
    except ConfigError as err:
        raise ConfigError(f"[costs]{where}: {err}") from None


_RuleTable = TypeVar("_RuleTable", "AlertRules", "PromotionRules", "ServingRules", "JobRules", "RetrainingRules",
                      "AuditRules", "GradingRules", "ValidationRules", "ProvisionRules", "ScorecardRules",
                      "DeliveryRules", "WebhookTarget", "MailTarget", "SmtpServer")
# tables of a rule table that may be given several times ([[alerts.delivery.webhook]]): the class of each entry
_ENTRIES: Final[dict[str, type[Any]]] = {"webhook": WebhookTarget, "email": MailTarget}
_LIST_EXAMPLES: Final[dict[str, tuple[str, ...]]] = {"on_alert": ("auc_drop", "ece"), "paths": ("/srv/portfolios",),
                                                     "redact": ("company_name",), "to": ("model-risk@example.com",)}
# settings that are a word or a number ([grading] long_run_default_rate = "training" or 0.03)
_TEXT_OR_NUMBER: Final[frozenset[str]] = frozenset({"long_run_default_rate"})


def _rules(table: str, cls: type[_RuleTable], value: Any, source: str) -> _RuleTable:
    """Read a table of rules (``[alerts]``, ``[promotion]``, ``[alerts.delivery]``): each value checked and converted.

    A value whose default is itself a table of rules (``[alerts.delivery]``) is read the same way, and so is each
    entry of an array of tables (``[[alerts.delivery.webhook]]``). Every message names the key and the file.
    """
    where = _where(source)
    # the defaults without building an instance: a webhook's defaults alone are not a valid webhook
    defaults = {f.name: f.default_factory() if f.default is MISSING else f.default  # type: ignore[misc, operator]
                for f in fields(cls)}
    allowed = list(defaults)
    if not isinstance(value, dict):
        raise ConfigError(f"[{table}]{where} must be a table with {', '.join(allowed)}")
    unknown = set(value) - set(allowed)
    if unknown:
        what = {"alerts": "alert"}.get(table, table)
        raise ConfigError(f"unknown {what} settings {sorted(unknown)!r}{where}; allowed: {', '.join(allowed)}")
    kwargs: dict[str, Any] = {}
    for key, v in value.items():
        default = defaults[key]
        if key in _ENTRIES:
            entries = [v] if isinstance(v, dict) else v
            if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
                raise ConfigError(f"setting {table}.{key}{where} must be tables: write each as [[{table}.{key}]] "
                                  "followed by its settings")
            kwargs[key] = tuple(_rules(f"{table}.{key}" + (f" #{k + 1}" if len(entries) > 1 else ""), _ENTRIES[key],
                                       e, source) for k, e in enumerate(entries))
        elif key in _TEXT_OR_NUMBER:
            kwargs[key] = v  # the class checks it: a word or a number
        elif hasattr(default, "__dataclass_fields__"):
            kwargs[key] = _rules(f"{table}.{key}", type(default), v, source)
        elif isinstance(default, tuple):
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                example = ", ".join(f'"{x}"' for x in default or _LIST_EXAMPLES[key])
                items = {"skip_families": "family names", "to": "addresses"}.get(key, "names")
                raise ConfigError(f"setting {table}.{key}={v!r}{where} must be a list of {items}, e.g. [{example}]")
            kwargs[key] = tuple(v)
        else:
            kwargs[key] = _coerce(f"{table}.{key}", v, default, source)
    try:
        return cls(**kwargs)
    except ConfigError as err:
        raise ConfigError(f"[{table}]{where}: {err}") from None


def _validation_rules(value: Any, source: str) -> ValidationRules:
    """The ``[validation]`` table: ``asset_correlation`` is a number or ``"basel"``, the rest as any rule table."""
    if not isinstance(value, dict) or "asset_correlation" not in value:
        return _rules("validation", ValidationRules, value, source)
    rest = {k: v for k, v in value.items() if k != "asset_correlation"}
    given, where = value["asset_correlation"], _where(source)
    rho: float | str = given
    if given != "basel":
        try:
            rho = _number("validation.asset_correlation", given, where)
        except ConfigError:
            raise ConfigError(f"setting validation.asset_correlation={given!r}{where} must be \"basel\" (the Basel "
                              "formula for corporate and SME exposures) or a number in [0, 1), e.g. 0.12") from None
    try:
        return replace(_rules("validation", ValidationRules, rest, source), asset_correlation=rho)
    except ConfigError as err:
        raise ConfigError(f"[validation]{_where(source)}: {err}") from None


def _read_file(file: str | os.PathLike[str]) -> dict[str, Any]:
    """The settings file as a dict; ConfigError when it is missing or not valid TOML."""
    try:
        return tomllib.loads(Path(file).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"settings file {str(file)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"settings file {str(file)!r} cannot be read: {err}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"settings file {str(file)!r} is not valid TOML: {err}") from None


def _from_file(data: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Settings overrides from the file's keys, each converted to its setting's type."""
    base = Settings()
    known = {f.name for f in fields(Settings)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key == "costs":
            kwargs["costs"] = _costs(value, source)
        elif key == "alerts":
            kwargs["alerts"] = _rules("alerts", AlertRules, value, source)
        elif key == "promotion":
            kwargs["promotion"] = _rules("promotion", PromotionRules, value, source)
        elif key == "serving":
            kwargs["serving"] = _rules("serving", ServingRules, value, source)
        elif key == "jobs":
            kwargs["jobs"] = _rules("jobs", JobRules, value, source)
        elif key == "retraining":
            kwargs["retraining"] = _rules("retraining", RetrainingRules, value, source)
        elif key == "audit":
            kwargs["audit"] = _rules("audit", AuditRules, value, source)
        elif key == "grading":
            kwargs["grading"] = _rules("grading", GradingRules, value, source)
        elif key == "validation":
            kwargs["validation"] = _validation_rules(value, source)
        elif key == "provisions":
            kwargs["provisions"] = _rules("provisions", ProvisionRules, value, source)
        elif key == "scorecard":
            kwargs["scorecard"] = _rules("scorecard", ScorecardRules, value, source)
        elif key in known:
            kwargs[key] = _coerce(key, value, getattr(base, key), source)
        else:
            raise ConfigError(f"unknown setting {key!r}{_where(source)}; allowed: {', '.join(sorted(known))}")
    return kwargs


def load_settings(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Load settings from a TOML file and the environment.

    Order: defaults, then the file (``path``, else ``$RISKCORE_CONFIG``, else
    ``./riskcore.toml`` when it exists), then ``RISKCORE_HOME``,
    ``MLFLOW_TRACKING_URI``, ``RISKCORE_AUDIT_URL``, ``RISKCORE_DEMO_COMPANIES`` and ``RISKCORE_JOB_WORKERS``
    (the worker processes the API and the dashboard start, both ``[jobs]`` counts at once).

    Raises
    ------
    ConfigError
        When the file cannot be parsed or a value is invalid; the message names
        the setting and the file (or environment variable) it came from.
    """
    env = os.environ if env is None else env
    file = path or env.get("RISKCORE_CONFIG") or ("riskcore.toml" if Path("riskcore.toml").exists() else None)
    source = repr(str(file)) if file else ""
    kwargs = _from_file(_read_file(file), source) if file else {}
    if env.get("RISKCORE_HOME"):
        kwargs["home"] = Path(env["RISKCORE_HOME"]).expanduser()
    if env.get("MLFLOW_TRACKING_URI"):
        kwargs["tracking_uri"] = env["MLFLOW_TRACKING_URI"]
    if env.get("RISKCORE_AUDIT_URL"):
        kwargs["audit_url"] = env["RISKCORE_AUDIT_URL"]
    if env.get("RISKCORE_DEMO_COMPANIES"):
        kwargs["demo_companies"] = _coerce("demo_companies", env["RISKCORE_DEMO_COMPANIES"], 0,
                                           "$RISKCORE_DEMO_COMPANIES")
    settings = replace(Settings(), **kwargs)
    if env.get("RISKCORE_JOB_WORKERS"):
        count = _coerce("jobs.api_workers", env["RISKCORE_JOB_WORKERS"], 0, "$RISKCORE_JOB_WORKERS")
        try:
            settings = replace(settings, jobs=replace(settings.jobs, api_workers=count, dashboard_workers=count))
        except ConfigError as err:
            raise ConfigError(f"$RISKCORE_JOB_WORKERS: {err}") from None
    where = _where(source)
    if settings.risk_bands not in ("master", "fixed"):
        raise ConfigError(f"risk_bands={settings.risk_bands!r}{where} must be 'master' or 'fixed'")
    if settings.api_max_batch < 1 or settings.api_rate_limit < 1:
        raise ConfigError(f"api_max_batch and api_rate_limit{where} must be at least 1")
    if not 0 <= settings.api_group_wait_ms <= 1000 or settings.api_group_max < 1:
        raise ConfigError(f"api_group_wait_ms={settings.api_group_wait_ms!r}{where} must be between 0 and 1000 "
                          f"(milliseconds a request may wait for others to be scored with it) and "
                          f"api_group_max={settings.api_group_max!r} at least 1 (requests scored together), "
                          "e.g. 2 and 64")
    if settings.session_idle_minutes < 1:
        raise ConfigError(f"session_idle_minutes={settings.session_idle_minutes!r}{where} must be at least 1 "
                          "(minutes without a click before a dashboard session ends), e.g. 30")
    return settings


def set_thread_defaults() -> None:
    """Make OpenMP threads sleep instead of spin while they wait (call before importing the models).

    scikit-learn's histogram boosting and LightGBM use OpenMP. Its default
    spin-waiting collapses when another process shares the two cores this
    product targets: three HistGradientBoosting fits took 11.2 s spinning
    against 3.0 s passive with one other busy process. Explicit settings win.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
