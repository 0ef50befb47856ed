"""Alerts delivered to people: webhooks (Slack, Microsoft Teams, any receiver) and e-mail, from ``[alerts.delivery]``.

What is sent (a :class:`Notice`, built by :func:`monitoring_notices`, :func:`job_failed_notice`,
:func:`move_notice`, and the retraining loop's ``RetrainOutcome.notice``):

=====================  ========  ==========================================================================
event                  severity  when
=====================  ========  ==========================================================================
``monitoring_alert``   ``warn``  a monitoring run's alert rule warns or fails (one notice per rule)
                       ``fail``
``job_failed``         ``error`` a job failed (its error in words)
``fallback``           ``error`` a server stopped serving the champion and serves an earlier one (or nothing)
``restore``            ``info``  the champion verifies and is served again
``retraining``         ``info``  a run of the retraining loop decided (promoted, waiting, gate failed, stopped)
=====================  ========  ==========================================================================

Each target of :class:`~riskcore.config.DeliveryRules` receives the severities it names. :class:`Postman`
records each delivery in the audit trail's database (:class:`~riskcore.serving.audit.DeliveryLog`) before
sending it and sends it on a background thread, so the monitoring run, the job or the server that raised it
goes on at once: tried ``attempts`` times, waiting ``backoff_seconds``, then twice that, and so on, between
tries; a failure that a retry cannot mend (a 4xx answer, a refused login, a secret not set) is not retried.
Every outcome is recorded (sent, failed and why, each attempt with its time and error). A delivery whose event
(``Notice.key``: the same rule, model version and severity; the same job; the same fallback) was sent to the
same target within ``repeat_hours`` is recorded as ``repeat`` and not sent. Nothing here raises to its caller:
a bad URL, a refused connection, a timeout or a refused login is a failed delivery with its reason.

A process that ends waits up to ``wait_seconds`` for deliveries in flight (``atexit``); what is still pending
then is taken over by a worker (``python -m riskcore worker``, :meth:`Postman.resend_stale`) once its claim ran
out.

**The webhook body** is JSON that Slack's and Teams' incoming webhooks accept: ``{"text": "...", "riskcore":
{...}}``, the text one readable message and ``riskcore`` the fields (``event``, ``severity``, ``title``,
``detail``, ``rule``, ``value``, ``threshold``, ``model_version``, ``ref``, ``at``, ``link``, ``delivery_id``).

**The signature.** With ``secret_env`` set, every POST carries ``X-Riskcore-Signature: t=<unix seconds>,
sha256=<hex>``, the HMAC-SHA256 with the shared secret of ``<t>.`` followed by the body's bytes. A receiver
recomputes it over the raw body, compares in constant time and refuses a ``t`` more than five minutes from its
clock (:func:`verify_signature` does exactly that); ``X-Riskcore-Delivery`` (the delivery's id, the same on
every retry) lets it ignore a retry it already handled.
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import http.client
import json
import logging
import os
import smtplib
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Final, Literal, cast
from urllib.parse import urlsplit

from riskcore.config import DeliveryRules, MailTarget, Severity, SmtpServer, WebhookTarget
from riskcore.errors import AuditError
from riskcore.evaluation.monitor_report import MonitorReport
from riskcore.serving.audit import Delivery, DeliveryLog, Job, ModelMove

__all__ = ["SIGNATURE_HEADER", "Notice", "NoticeKind", "Postman", "job_failed_notice", "mail_message",
           "monitoring_notices", "move_notice", "signature", "target_id", "verify_signature", "webhook_body"]

log = logging.getLogger("riskcore.delivery")

NoticeKind = Literal["monitoring_alert", "job_failed", "fallback", "restore", "retraining"]
SIGNATURE_HEADER: Final = "X-Riskcore-Signature"
SIGNATURE_TOLERANCE_S: Final = 300.0
_RULE_TITLES: Final = {"feature_psi": "Feature drift", "score_psi": "Score drift", "auc_drop": "AUC drop",
                       "ece": "Calibration error (ECE)", "red_grade": "Back-test by grade"}
# how long a pending delivery whose process ended may still be sent by a worker: later, it would mislead
_STALE_MAX_AGE_S: Final = 24 * 3600.0
_NO_RETRY_HTTP: Final = frozenset({408, 425, 429})


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Notice:
    """One event to deliver (see the module docstring's table).

    ``key``: what a repeat of it has in common with it (sent once per target within ``repeat_hours``).
    ``ref``: what it is about (a monitoring run's id, a job's id). ``link``: the dashboard page it concerns
    (``monitoring``, ``training_runs``, ``portfolio_scoring``), joined to ``dashboard_url`` when that is set.
    """

    kind: NoticeKind
    severity: Severity
    title: str
    detail: str
    key: str
    model_version: str = ""
    rule: str = ""
    value: float | None = None
    threshold: float | None = None
    ref: str = ""
    link: str = ""
    at: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Plain data (recorded with each delivery, so a worker can send it again)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Notice:
        """A notice from :meth:`as_dict`'s form (unknown keys ignored)."""
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    def url(self, dashboard_url: str) -> str:
        """The dashboard page it concerns, or empty without a dashboard URL."""
        if not dashboard_url:
            return ""
        return dashboard_url.rstrip("/") + ("/" + self.link if self.link else "")

    def text(self, dashboard_url: str = "") -> str:
        """The message people read: the severity and title, the detail, the facts, the link."""
        facts = [f"model {self.model_version}" if self.model_version else "",
                 f"value {self.value:g}" if self.value is not None else "",
                 f"threshold {self.threshold:g}" if self.threshold is not None else "",
                 f"{self.kind.replace('_', ' ')} {self.ref}" if self.ref else "", self.at]
        lines = [f"[{self.severity.upper()}] {self.title}", self.detail, " · ".join(f for f in facts if f)]
        link = self.url(dashboard_url)
        return "\n".join(line for line in (*lines, link) if line)


# -------------------------------------------------------------------------------------------------- notices
def monitoring_notices(report: MonitorReport, *, run_id: str = "") -> list[Notice]:
    """One notice per alert rule of a monitoring report that warns or fails (none for those that pass)."""
    at = _now_iso()
    version = report.model_version
    return [Notice("monitoring_alert", cast(Severity, a.status),
                   f"{_RULE_TITLES.get(a.rule, a.rule)} {a.status}s for model {version}", a.detail,
                   f"monitoring_alert|{a.rule}|{a.status}|{version}",
                   model_version=report.model_version, rule=a.rule, value=a.value, threshold=a.threshold,
                   ref=run_id, link="monitoring", at=at)
            for a in report.alerts if a.status in ("warn", "fail")]


def job_failed_notice(job: Job, detail: str | None = None) -> Notice:
    """A job that failed, with its error in words.

    ``detail``: the error as people may be told it, without the data's values (:func:`riskcore.errors.loggable`);
    the job's own error (shown to who submitted it) when None.
    """
    model = str(job.params.get("model") or "")
    return Notice("job_failed", "error", f"{job.kind.capitalize()} job {job.id} failed",
                  detail or job.error or "the job failed", f"job_failed|{job.id}",
                  model_version="" if model == "champion" else model, ref=job.id,
                  link="training_runs" if job.kind == "retrain" else "portfolio_scoring", at=_now_iso())


def move_notice(move: ModelMove) -> Notice | None:
    """A server's fallback to an earlier champion (an error) or its return to the champion (information)."""
    if move.event == "fallback":
        title = (f"Serving fell back from champion {move.from_version} to {move.to_version}" if move.to_version
                 else f"Nothing can be served: champion {move.from_version} and every earlier one fail verification")
        return Notice("fallback", "error", title, move.reason, f"fallback|{move.from_version}|{move.to_version}",
                      model_version=move.to_version, link="training_runs", at=_now_iso())
    if move.event == "restore":
        return Notice("restore", "info", f"Champion {move.to_version} is served again", move.reason,
                      f"restore|{move.from_version}|{move.to_version}", model_version=move.to_version,
                      link="training_runs", at=_now_iso())
    return None


# -------------------------------------------------------------------------------------------------- formats
def webhook_body(notice: Notice, *, dashboard_url: str = "", delivery_id: str = "") -> bytes:
    """The JSON body of a webhook POST: ``text`` (what Slack and Teams show) and the fields under ``riskcore``."""
    fields = {"event": notice.kind, **{k: v for k, v in notice.as_dict().items() if k != "kind"},
              "link": notice.url(dashboard_url), "delivery_id": delivery_id}
    return json.dumps({"text": notice.text(dashboard_url), "riskcore": fields}, sort_keys=True,
                      ensure_ascii=False, allow_nan=False, default=str).encode("utf-8")


def signature(body: bytes, secret: str, timestamp: int) -> str:
    """The ``X-Riskcore-Signature`` value: ``t=<timestamp>,sha256=<HMAC-SHA256 of "<timestamp>." + body>``."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},sha256={mac}"


def verify_signature(body: bytes, header: str, secret: str, *, now: float | None = None,
                     tolerance_s: float = SIGNATURE_TOLERANCE_S) -> bool:
    """Whether a received body carries a valid signature made less than ``tolerance_s`` from ``now``.

    What a receiver does with the raw body and the ``X-Riskcore-Signature`` header: recompute the HMAC, compare
    in constant time, refuse an old (replayed) or future timestamp.

    Examples
    --------
    >>> header = signature(b'{"text": "hi"}', "s3cret", 1_800_000_000)
    >>> verify_signature(b'{"text": "hi"}', header, "s3cret", now=1_800_000_060)
    True
    >>> verify_signature(b'{"text": "hi!"}', header, "s3cret", now=1_800_000_060)
    False
    """
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    clock = time.time() if now is None else now
    if abs(clock - timestamp) > tolerance_s:
        return False
    expected = signature(body, secret, timestamp).rsplit("sha256=", 1)[1]
    return hmac.compare_digest(expected, parts.get("sha256", ""))


def mail_message(notice: Notice, *, sender: str, to: Sequence[str], dashboard_url: str = "",
                 delivery_id: str = "") -> EmailMessage:
    """The e-mail of a notice: a subject with its severity and title, the message as plain text."""
    message = EmailMessage()
    message["Subject"] = f"[riskcore {notice.severity}] {notice.title}"
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid("riskcore", domain=sender.rpartition("@")[2] or None)
    if delivery_id:
        message["X-Riskcore-Delivery"] = delivery_id
    facts = [f"{name}: {value}" for name, value in (
        ("event", notice.kind), ("severity", notice.severity), ("rule", notice.rule),
        ("value", "" if notice.value is None else f"{notice.value:g}"),
        ("threshold", "" if notice.threshold is None else f"{notice.threshold:g}"),
        ("model version", notice.model_version), ("about", notice.ref), ("time", notice.at)) if value]
    message.set_content(notice.text(dashboard_url) + "\n\n" + "\n".join(facts) + "\n")
    return message


# -------------------------------------------------------------------------------------------------- sending
class _Failed(Exception):
    """A try that did not deliver: why, and whether trying again could help."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A webhook that redirects is refused: following it would send the signed alert somewhere not configured."""

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> None:
        return None


def _env_value(env: Mapping[str, str], name: str, what: str) -> str:
    value = env.get(name, "")
    if not value:
        raise _Failed(f"the environment variable {name} ({what}) is not set: set it where riskcore runs",
                      permanent=True)
    return value


def _unreachable(reason: object, timeout: float) -> _Failed:
    """A connection that failed, in words; a certificate that is not trusted will not be trusted on a retry."""
    if isinstance(reason, ssl.SSLCertVerificationError):
        return _Failed(f"its TLS certificate is not trusted ({reason.verify_message})", permanent=True)
    if isinstance(reason, TimeoutError):
        return _Failed(f"no answer within {timeout:g} s")
    if isinstance(reason, ConnectionRefusedError):
        return _Failed("the connection was refused")
    if isinstance(reason, socket.gaierror):
        return _Failed(f"its host name cannot be resolved ({reason.strerror or reason})")
    return _Failed(str(reason) or type(reason).__name__)


def _send_webhook(target: WebhookTarget, body: bytes, *, delivery_id: str, timeout: float,
                  env: Mapping[str, str]) -> None:
    url = target.url or _env_value(env, target.url_env, "the webhook's url_env")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _Failed(f"the URL in ${target.url_env} is not an http(s) URL with a host", permanent=True)
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "riskcore-alerts",
               "X-Riskcore-Delivery": delivery_id}
    if target.secret_env:
        secret = _env_value(env, target.secret_env, "the webhook's secret_env")
        headers[SIGNATURE_HEADER] = signature(body, secret, int(time.time()))
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as answer:
            answer.read(1024)
    except urllib.error.HTTPError as err:
        said = err.read(300).decode("utf-8", "replace").strip() if err.fp is not None else ""
        what = "a redirect, not followed" if 300 <= err.code < 400 else err.reason
        raise _Failed(f"the webhook answered HTTP {err.code} ({what})" + (f": {said}" if said else ""),
                      permanent=err.code < 500 and err.code not in _NO_RETRY_HTTP) from None
    except urllib.error.URLError as err:
        failed = _unreachable(err.reason, timeout)
        raise _Failed(f"the webhook cannot be reached: {failed.reason}", permanent=failed.permanent) from None
    except TimeoutError:
        raise _Failed(f"the webhook did not answer within {timeout:g} s") from None
    except (OSError, http.client.HTTPException) as err:
        failed = _unreachable(err, timeout)
        raise _Failed(f"the webhook's answer was cut short: {failed.reason}", permanent=failed.permanent) from None


def _send_mail(smtp: SmtpServer, message: EmailMessage, *, timeout: float, env: Mapping[str, str]) -> None:
    user = _env_value(env, smtp.username_env, "the mail server's username_env") if smtp.username_env else ""
    password = _env_value(env, smtp.password_env, "the mail server's password_env") if smtp.password_env else ""
    try:
        context = ssl.create_default_context(cafile=smtp.ca_file or None)
    except (OSError, ssl.SSLError) as err:
        raise _Failed(f"the certificate authorities of ca_file {smtp.ca_file!r} cannot be read ({err})",
                      permanent=True) from None
    where = f"{smtp.host}:{smtp.port}"
    try:
        client = (smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=timeout, context=context)
                  if smtp.security == "tls" else smtplib.SMTP(smtp.host, smtp.port, timeout=timeout))
        with client:
            client.ehlo()
            if smtp.security == "starttls":
                if not client.has_extn("starttls"):
                    raise _Failed(f"the mail server {where} does not offer STARTTLS; nothing was sent in the clear "
                                  "(set security = \"none\" only for a relay on a trusted network)", permanent=True)
                client.starttls(context=context)
                client.ehlo()
            if user:
                client.login(user, password)
            refused = client.send_message(message)
    except smtplib.SMTPAuthenticationError as err:
        raise _Failed(f"the mail server {where} refused the login of {user!r} ({err.smtp_code} "
                      f"{_said(err.smtp_error)})", permanent=True) from None
    except smtplib.SMTPRecipientsRefused as err:
        raise _Failed(f"the mail server {where} refused every recipient: "
                      + "; ".join(f"{a} ({c} {_said(m)})" for a, (c, m) in err.recipients.items()),
                      permanent=True) from None
    except smtplib.SMTPResponseException as err:
        raise _Failed(f"the mail server {where} answered {err.smtp_code} {_said(err.smtp_error)}",
                      permanent=err.smtp_code >= 500) from None
    except smtplib.SMTPNotSupportedError as err:
        raise _Failed(f"the mail server {where} does not support what was asked ({err})", permanent=True) from None
    except (smtplib.SMTPException, OSError) as err:
        failed = _unreachable(err, timeout)
        raise _Failed(f"the mail server {where} cannot be reached: {failed.reason}", permanent=failed.permanent) \
            from None
    if refused:
        raise _Failed(f"the mail server {where} refused " + "; ".join(f"{a} ({c} {_said(m)})"
                                                                       for a, (c, m) in refused.items())
                      + " (the other recipients got it)", permanent=True)


def _said(text: bytes | str) -> str:
    return (text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)).strip()


def target_id(target: WebhookTarget | MailTarget) -> str:
    """A stable id of a target, as its deliveries record it (two webhooks of one host are two targets).

    16 hexadecimal characters of SHA-256 of the URL (or of its variable's name) or of the addresses, so the
    record tells targets apart without holding a webhook's URL, whose path is often its secret.
    """
    what = (f"webhook|{target.url or '$' + target.url_env}" if isinstance(target, WebhookTarget)
            else "email|" + ",".join(sorted(a.lower() for a in target.to)))
    return hashlib.sha256(what.encode("utf-8")).hexdigest()[:16]


def _channel(target: WebhookTarget | MailTarget) -> str:
    return "webhook" if isinstance(target, WebhookTarget) else "email"


class Postman:
    """Delivers notices to the targets of ``[alerts.delivery]`` in the background, each on record.

    Parameters
    ----------
    rules : the targets, the repeat time, the retries.
    deliveries : where every delivery is recorded and repeats are found (the audit trail's database); ``None``
        sends without a record (and without finding repeats).
    env : where the secrets named by the settings are read (default the process's environment).
    """

    def __init__(self, rules: DeliveryRules, deliveries: DeliveryLog | None = None, *,
                 env: Mapping[str, str] | None = None) -> None:
        self.rules = rules
        self.deliveries = deliveries
        self._env = os.environ if env is None else env
        self._done = threading.Condition()
        self._in_flight = 0
        self._closing = threading.Event()
        self._waits_at_exit = False

    @property
    def configured(self) -> bool:
        """Whether any target is set (without one, :meth:`notify` does nothing and records nothing)."""
        return bool(self.rules.targets)

    @property
    def lease_s(self) -> float:
        """How long a delivery being tried is this process's: every attempt and every wait, with a margin."""
        r = self.rules
        return r.attempts * (r.timeout_seconds * 2 + 1) + r.backoff_seconds * (2 ** max(r.attempts - 1, 0)) + 30

    def notify(self, notices: Iterable[Notice]) -> list[Delivery]:
        """Record each notice's deliveries and send the pending ones in the background; returns them at once.

        A target receives the notices of the severities it names; a notice already sent to it within
        ``repeat_hours`` is recorded as ``repeat`` and not sent. Never raises: when the record cannot be
        written the notice is sent all the same (and the log says so).
        """
        planned: list[Delivery] = []
        for notice in notices:
            targets = [t for t in self.rules.targets if notice.severity in t.severities]
            if not targets:
                continue
            described = [(_channel(t), target_id(t), t.label) for t in targets]
            found: list[Delivery] | None = None
            if self.deliveries is not None:
                try:
                    found = self.deliveries.plan(notice.as_dict(), described, repeat_s=self.rules.repeat_hours * 3600,
                                                 lease_s=self.lease_s)
                except AuditError as err:
                    log.warning("the deliveries of %r cannot be recorded (%s); sending them unrecorded", notice.title,
                                err)
            recorded = found is not None
            if found is None:
                found = [_unrecorded(notice, *d) for d in described]
            for delivery, target in zip(found, targets, strict=True):
                if delivery.state == "pending":
                    self._start(delivery, target, notice, recorded=recorded)
                else:
                    log.info("%s not sent to %s: %s", notice.title, delivery.target, delivery.error)
            planned += found
        return planned

    def resend_stale(self) -> list[Delivery]:
        """Take over deliveries left pending by a process that ended (a worker's periodic work) and send them."""
        if not self.configured or self.deliveries is None:
            return []
        try:
            stale = self.deliveries.claim_stale(lease_s=self.lease_s, max_age_s=_STALE_MAX_AGE_S)
        except AuditError as err:
            log.warning("pending deliveries cannot be read: %s", err)
            return []
        targets = {target_id(t): t for t in self.rules.targets}
        for delivery in stale:
            target = targets.get(delivery.target_id)
            if target is None:
                self._finish(delivery, sent=False, attempts=delivery.attempts,
                             error="not delivered: its target is no longer in [alerts.delivery]")
                continue
            self._start(delivery, target, Notice.from_dict(delivery.notice), recorded=True)
        return stale

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait until no delivery is in flight, at most ``timeout_s`` seconds; whether none is."""
        with self._done:
            return self._done.wait_for(lambda: self._in_flight == 0, timeout_s)

    def close(self) -> None:
        """Stop waiting between retries: what is still pending stays pending, for a worker to send."""
        self._closing.set()

    # -- in the background ------------------------------------------------------------------------------
    def _start(self, delivery: Delivery, target: WebhookTarget | MailTarget, notice: Notice, *, recorded: bool) -> None:
        with self._done:
            self._in_flight += 1
            if not self._waits_at_exit:
                atexit.register(self._at_exit)
                self._waits_at_exit = True
        threading.Thread(target=self._deliver, args=(delivery, target, notice, recorded), daemon=True,
                         name=f"riskcore-delivery-{delivery.id[:8]}").start()

    def _at_exit(self) -> None:
        """A process that ends waits a while for its deliveries; the rest stay pending for a worker."""
        if not self.wait(self.rules.wait_seconds):
            log.warning("%d alert deliveries were still being tried after %g s; a worker (python -m riskcore worker) "
                        "sends them", self._in_flight, self.rules.wait_seconds)
        self.close()

    def _deliver(self, delivery: Delivery, target: WebhookTarget | MailTarget, notice: Notice, recorded: bool) -> None:
        try:
            attempts, failed, tries = 0, None, []
            for attempt in range(1, self.rules.attempts + 1):
                attempts = attempt
                tries.append({"at": _now_iso(), "error": ""})
                try:
                    self._send(delivery, target, notice)
                    failed = None
                    break
                except _Failed as err:
                    failed = err
                    tries[-1]["error"] = err.reason
                    if err.permanent or attempt == self.rules.attempts:
                        break
                    if self._closing.wait(self.rules.backoff_seconds * 2 ** (attempt - 1)):
                        return  # the process is ending: left pending, a worker takes it over
            if failed is None:
                log.info("%s sent to %s (attempt %d)", notice.title, target.label, attempts)
                error = ""
            else:
                error = failed.reason + ("" if failed.permanent else f" (gave up after {attempts} attempts)")
                log.warning("%s not delivered to %s: %s", notice.title, target.label, error)
            if recorded:
                self._finish(delivery, sent=failed is None, attempts=attempts, error=error, tries=tries)
        except Exception:  # noqa: BLE001 - a bug must not pass unnoticed, nor stop what raised the alert
            log.exception("delivering %s to %s failed unexpectedly", notice.title, target.label)
        finally:
            with self._done:
                self._in_flight -= 1
                self._done.notify_all()

    def _send(self, delivery: Delivery, target: WebhookTarget | MailTarget, notice: Notice) -> None:
        rules = self.rules
        if isinstance(target, WebhookTarget):
            body = webhook_body(notice, dashboard_url=rules.dashboard_url, delivery_id=delivery.id)
            _send_webhook(target, body, delivery_id=delivery.id, timeout=rules.timeout_seconds, env=self._env)
        else:
            message = mail_message(notice, sender=rules.smtp.sender, to=target.to, dashboard_url=rules.dashboard_url,
                                   delivery_id=delivery.id)
            _send_mail(rules.smtp, message, timeout=rules.timeout_seconds, env=self._env)

    def _finish(self, delivery: Delivery, *, sent: bool, attempts: int, error: str,
                tries: Sequence[Mapping[str, str]] = ()) -> None:
        if self.deliveries is None:
            return
        try:
            self.deliveries.finish(delivery.id, sent=sent, attempts=attempts, error=error, tries=tries)
        except AuditError as err:
            log.warning("the outcome of delivery %s cannot be recorded: %s", delivery.id, err)


def _unrecorded(notice: Notice, channel: str, target_id: str, target: str) -> Delivery:
    """A delivery sent without a record (the audit trail's database could not be written)."""
    return Delivery(id=uuid.uuid4().hex, created=time.time(), kind=notice.kind, severity=notice.severity,
                    key=notice.key, channel=channel, target_id=target_id, target=target, ref=notice.ref,
                    model_version=notice.model_version, notice=notice.as_dict(), state="pending", attempts=0,
                    error="", claimed_until=0.0, finished=0.0)
