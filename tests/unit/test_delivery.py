"""Alerts delivered to people: a real webhook receiver (http.server) and a real mail server (aiosmtpd), on record.

Each delivery is recorded in a real audit database (SQLite, and PostgreSQL where the log's own behaviour is
tested); back-off waits are a hundredth of a second so the retries cost nothing. The end-to-end tests (a
monitoring run, a job, the retraining loop, a fallback) go through the workbench as the faces do.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

import pytest
from deliveries import Hook, Mailbox, free_port, self_signed, start_smtp
from models import champion_and_challenger, demo_panel

from riskcore.config import (
    AlertRules,
    DeliveryRules,
    MailTarget,
    ServingRules,
    Settings,
    SmtpServer,
    WebhookTarget,
    load_settings,
)
from riskcore.data.tabular import write_csv
from riskcore.errors import ConfigError, Problem, SchemaError
from riskcore.lifecycle.delivery import (
    SIGNATURE_HEADER,
    Notice,
    Postman,
    mail_message,
    signature,
    target_id,
    verify_signature,
    webhook_body,
)
from riskcore.serving.audit import AuditLog, DeliveryLog, JobQueue
from riskcore.workbench import Workbench, Worker

SECRET = "correct horse battery staple"
FAST = {"backoff_seconds": 0.01, "timeout_seconds": 2.0}
ALERT = Notice("monitoring_alert", "fail", "Score drift fails for model logistic-1", "score PSI 0.312 (limit 0.1)",
               "monitoring_alert|score_psi|fail|logistic-1", model_version="logistic-1", rule="score_psi",
               value=0.312, threshold=0.1, ref="run-1", link="monitoring", at="2026-05-01T10:00:00Z")


@pytest.fixture
def hook():
    receiver = Hook()
    yield receiver
    receiver.close()


@pytest.fixture
def deliveries(tmp_path) -> DeliveryLog:
    return DeliveryLog(AuditLog("sqlite:///" + str(tmp_path / "audit.db")).store)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


def _postman(log: DeliveryLog | None, *targets, env: dict[str, str] | None = None, **rules) -> Postman:
    webhooks = tuple(t for t in targets if isinstance(t, WebhookTarget))
    mails = tuple(t for t in targets if isinstance(t, MailTarget))
    return Postman(DeliveryRules(webhook=webhooks, email=mails, **{**FAST, **rules}), log,
                   env={"HOOK_SECRET": SECRET} if env is None else env)


def _sent(postman: Postman, *notices: Notice) -> list:
    planned = postman.notify(notices)
    assert postman.wait(30)
    return planned


def _outcome(log: DeliveryLog, planned) -> list[tuple[str, int, str]]:
    found = {d.id: d for d in log.list(ids=[p.id for p in planned])}
    return [(found[p.id].state, found[p.id].attempts, found[p.id].error) for p in planned]


# ---------------------------------------------------------------------------
# webhooks
# ---------------------------------------------------------------------------

def test_an_alert_reaches_the_webhook_signed_with_a_body_slack_and_teams_accept(hook, deliveries):
    postman = _postman(deliveries, WebhookTarget(url=hook.url, secret_env="HOOK_SECRET", name="risk-slack"),
                       dashboard_url="https://riskcore.example.com/")
    (planned,) = _sent(postman, ALERT)
    (received,) = hook.requests
    body = received.json
    assert body["text"].startswith("[FAIL] Score drift fails for model logistic-1\nscore PSI 0.312 (limit 0.1)")
    assert body["text"].endswith("https://riskcore.example.com/monitoring")
    fields = body["riskcore"]
    assert (fields["event"], fields["severity"], fields["rule"], fields["value"], fields["threshold"]) == (
        "monitoring_alert", "fail", "score_psi", 0.312, 0.1)
    assert (fields["model_version"], fields["ref"], fields["at"], fields["link"], fields["delivery_id"]) == (
        "logistic-1", "run-1", "2026-05-01T10:00:00Z", "https://riskcore.example.com/monitoring", planned.id)
    assert received.headers["Content-Type"].startswith("application/json")
    assert received.headers["X-Riskcore-Delivery"] == planned.id
    assert verify_signature(received.body, received.headers[SIGNATURE_HEADER], SECRET)
    assert not verify_signature(received.body + b" ", received.headers[SIGNATURE_HEADER], SECRET)
    assert not verify_signature(received.body, received.headers[SIGNATURE_HEADER], "another secret")
    (recorded,) = deliveries.list(ref="run-1")
    assert (recorded.state, recorded.attempts, recorded.error, recorded.target, recorded.channel) == (
        "sent", 1, "", "risk-slack", "webhook")
    assert recorded.as_dict()["rule"] == "score_psi" and recorded.finished > 0


def test_a_signature_too_old_or_from_the_future_is_refused():
    body = webhook_body(ALERT)
    header = signature(body, SECRET, 1_800_000_000)
    assert verify_signature(body, header, SECRET, now=1_800_000_299)
    assert not verify_signature(body, header, SECRET, now=1_800_000_301)
    assert not verify_signature(body, header, SECRET, now=1_799_999_000)
    assert not verify_signature(body, "sha256=abc", SECRET) and not verify_signature(body, "t=x,sha256=1", SECRET)


def test_a_webhook_that_fails_twice_is_retried_with_the_same_delivery_id_and_sent(deliveries):
    hook = Hook([503, 500])
    try:
        planned = _sent(_postman(deliveries, WebhookTarget(url=hook.url)), ALERT)
    finally:
        hook.close()
    assert [r.headers["X-Riskcore-Delivery"] for r in hook.requests] == [planned[0].id] * 3
    assert len({r.body for r in hook.requests}) == 1
    assert _outcome(deliveries, planned) == [("sent", 3, "")]
    (recorded,) = deliveries.list(ids=[planned[0].id])
    assert [t["error"] for t in recorded.tries] == ["the webhook answered HTTP 503 (Service Unavailable): no_service",
                                                    "the webhook answered HTTP 500 (Internal Server Error): no_service",
                                                    ""]
    assert all(t["at"].endswith("Z") for t in recorded.tries)


def test_a_webhook_that_keeps_failing_is_recorded_failed_after_the_attempts(deliveries):
    hook = Hook([503] * 5)
    try:
        planned = _sent(_postman(deliveries, WebhookTarget(url=hook.url), attempts=4), ALERT)
    finally:
        hook.close()
    assert len(hook.requests) == 4
    assert _outcome(deliveries, planned) == [
        ("failed", 4, "the webhook answered HTTP 503 (Service Unavailable): no_service (gave up after 4 attempts)")]


@pytest.mark.parametrize("status, words", [
    (404, "the webhook answered HTTP 404 (Not Found): no_service"),
    (403, "the webhook answered HTTP 403 (Forbidden)"),
    (302, "the webhook answered HTTP 302 (a redirect, not followed)"),
])
def test_an_answer_a_retry_cannot_mend_is_not_retried(deliveries, status, words):
    hook = Hook([status])
    try:
        planned = _sent(_postman(deliveries, WebhookTarget(url=hook.url)), ALERT)
    finally:
        hook.close()
    assert len(hook.requests) == 1
    ((state, attempts, error),) = _outcome(deliveries, planned)
    assert (state, attempts) == ("failed", 1) and error.startswith(words)


def test_a_refused_connection_or_a_timeout_is_a_failure_with_its_reason_never_an_exception(deliveries):
    closed = f"http://127.0.0.1:{free_port()}/hook"
    slow = Hook(delay_s=1.0)
    try:
        planned = _sent(_postman(deliveries, WebhookTarget(url=closed, name="closed"),
                                 WebhookTarget(url=slow.url, name="slow"), attempts=2, timeout_seconds=0.2), ALERT)
    finally:
        slow.close()
    assert _outcome(deliveries, planned) == [
        ("failed", 2, "the webhook cannot be reached: the connection was refused (gave up after 2 attempts)"),
        ("failed", 2, "the webhook did not answer within 0.2 s (gave up after 2 attempts)")]


def test_an_unset_secret_or_url_variable_fails_without_sending(hook, deliveries):
    planned = _sent(_postman(deliveries, WebhookTarget(url=hook.url, secret_env="HOOK_SECRET"),
                             WebhookTarget(url_env="HOOK_URL", name="from env"), env={}), ALERT)
    assert hook.requests == []
    assert _outcome(deliveries, planned) == [
        ("failed", 1, "the environment variable HOOK_SECRET (the webhook's secret_env) is not set: set it where "
                      "riskcore runs"),
        ("failed", 1, "the environment variable HOOK_URL (the webhook's url_env) is not set: set it where riskcore "
                      "runs")]
    again = _sent(_postman(deliveries, WebhookTarget(url_env="HOOK_URL", name="from env"),
                           env={"HOOK_URL": hook.url}), replace(ALERT, key="other"))
    assert _outcome(deliveries, again) == [("sent", 1, "")] and len(hook.requests) == 1


def test_targets_receive_only_the_severities_they_name(hook, deliveries):
    failures = Hook()
    try:
        postman = _postman(deliveries, WebhookTarget(url=hook.url, severities=("warn", "fail", "error", "info")),
                           WebhookTarget(url=failures.url, severities=("fail",)))
        warning = replace(ALERT, severity="warn", key="warn-key")
        job = Notice("job_failed", "error", "Score job 1 failed", "the model is missing", "job_failed|1", ref="1")
        _sent(postman, warning, job, ALERT)
    finally:
        failures.close()
    assert sorted(r.json["riskcore"]["severity"] for r in hook.requests) == ["error", "fail", "warn"]
    assert [r.json["riskcore"]["severity"] for r in failures.requests] == ["fail"]


def test_without_a_record_the_alert_is_sent_all_the_same(hook):
    planned = _sent(_postman(None, WebhookTarget(url=hook.url)), ALERT)
    assert len(hook.requests) == 1 and planned[0].state == "pending"


# ---------------------------------------------------------------------------
# repeats and deliveries left pending
# ---------------------------------------------------------------------------

def test_a_repeated_alert_is_sent_once_per_period_across_processes(hook, database):
    clock = [1_800_000_000.0]
    store = AuditLog(database.url).store
    target = WebhookTarget(url=hook.url, severities=("warn", "fail"))
    first = _sent(_postman(DeliveryLog(store, clock=lambda: clock[0]), target), ALERT)
    clock[0] += 3600
    # another process: another log and postman on the same database
    other = DeliveryLog(AuditLog(database.url).store, clock=lambda: clock[0])
    second = _sent(_postman(other, target), ALERT)
    assert len(hook.requests) == 1 and [d.state for d in second] == ["repeat"]
    assert second[0].error == ("not sent again: the same alert was sent to this target at 2027-01-15T08:00:00Z, "
                               "within the repeat time of 24 hour(s)")
    worse = _sent(_postman(other, target), replace(ALERT, severity="warn", key="monitoring_alert|score_psi|warn|x"))
    assert [d.state for d in worse] == ["pending"] and len(hook.requests) == 2  # another severity is another alert
    clock[0] += 23 * 3600 + 1
    third = _sent(_postman(other, target), ALERT)
    assert [d.state for d in third] == ["pending"] and len(hook.requests) == 3  # a day after the first, again
    assert _outcome(other, first + second + third) == [("sent", 1, ""), ("repeat", 0, second[0].error),
                                                       ("sent", 1, "")]


def test_a_failed_delivery_is_not_a_repeat_and_another_target_is_another_delivery(deliveries):
    down, up = Hook([404]), Hook()
    try:
        _sent(_postman(deliveries, WebhookTarget(url=down.url)), ALERT)
        again = _sent(_postman(deliveries, WebhookTarget(url=down.url), WebhookTarget(url=up.url)), ALERT)
    finally:
        down.close()
        up.close()
    assert [d.state for d in again] == ["pending", "pending"]
    assert len(down.requests) == 2 and len(up.requests) == 1
    assert _outcome(deliveries, again) == [("sent", 1, ""), ("sent", 1, "")]


def test_a_delivery_left_pending_by_a_process_that_ended_is_sent_by_a_worker(hook, tmp_path):
    clock = [1_800_000_000.0]
    deliveries = DeliveryLog(AuditLog("sqlite:///" + str(tmp_path / "audit.db")).store, clock=lambda: clock[0])
    target = WebhookTarget(url=hook.url)
    postman = _postman(deliveries, target)
    # the process planned it, then ended before its thread sent it
    (left,) = deliveries.plan(ALERT.as_dict(), [("webhook", target_id(target), target.label)], repeat_s=86_400,
                              lease_s=postman.lease_s)
    assert postman.resend_stale() == [] and hook.requests == []  # still claimed by the process that planned it
    clock[0] += postman.lease_s + 1
    (taken,) = postman.resend_stale()
    assert postman.wait(30) and taken.id == left.id
    assert len(hook.requests) == 1 and hook.requests[0].headers["X-Riskcore-Delivery"] == left.id
    assert _outcome(deliveries, [left]) == [("sent", 1, "")]
    assert postman.resend_stale() == []
    (late,) = deliveries.plan(replace(ALERT, key="late").as_dict(), [("webhook", target_id(target), "t")],
                              repeat_s=0, lease_s=1)
    clock[0] += 25 * 3600
    assert postman.resend_stale() == []
    ((state, _, error),) = _outcome(deliveries, [late])
    assert state == "failed" and error.startswith("not delivered: the process that planned it ended")


# ---------------------------------------------------------------------------
# e-mail
# ---------------------------------------------------------------------------

def _smtp(controller, **changes) -> SmtpServer:
    return SmtpServer(host="127.0.0.1", port=controller.port, sender="riskcore@example.com", **changes)


def test_an_alert_reaches_the_mailbox_over_starttls_with_a_login(deliveries, certificate):
    mailbox = Mailbox()
    controller = start_smtp(mailbox, certificate=certificate, login=("alerts", "s3cret"))
    try:
        smtp = _smtp(controller, security="starttls", username_env="SMTP_USER", password_env="SMTP_PASSWORD",
                     ca_file=str(certificate[0]))
        planned = _sent(_postman(deliveries, MailTarget(to=("model-risk@example.com", "cro@example.com")), smtp=smtp,
                                 env={"SMTP_USER": "alerts", "SMTP_PASSWORD": "s3cret"},
                                 dashboard_url="https://riskcore.example.com"), ALERT)
    finally:
        controller.stop()
    ((sender, recipients, message),) = mailbox.messages
    assert (sender, recipients) == ("riskcore@example.com", ["model-risk@example.com", "cro@example.com"])
    assert message["Subject"] == "[riskcore fail] Score drift fails for model logistic-1"
    assert message["X-Riskcore-Delivery"] == planned[0].id
    text = message.get_payload(decode=True).decode()
    assert "score PSI 0.312 (limit 0.1)" in text and "https://riskcore.example.com/monitoring" in text
    assert "rule: score_psi" in text and "threshold: 0.1" in text
    assert _outcome(deliveries, planned) == [("sent", 1, "")]
    assert deliveries.list()[0].target == "email to model-risk@example.com, cro@example.com"


def test_an_alert_reaches_the_mailbox_over_implicit_tls_and_in_the_clear(deliveries, certificate):
    secure, plain = Mailbox(), Mailbox()
    tls = start_smtp(secure, certificate=certificate, implicit_tls=True)
    clear = start_smtp(plain)
    try:
        planned = _sent(_postman(deliveries, MailTarget(to=("a@example.com",)),
                                 smtp=_smtp(tls, security="tls", ca_file=str(certificate[0]))), ALERT)
        planned += _sent(_postman(deliveries, MailTarget(to=("b@example.com",)),
                                  smtp=_smtp(clear, security="none")), ALERT)
    finally:
        tls.stop()
        clear.stop()
    assert [m[1] for m in secure.messages] == [["a@example.com"]] and [m[1] for m in plain.messages] == [
        ["b@example.com"]]
    assert _outcome(deliveries, planned) == [("sent", 1, ""), ("sent", 1, "")]


def test_mail_failures_are_recorded_with_their_reason(deliveries, certificate):
    guarded, plain = Mailbox(), Mailbox()
    controller = start_smtp(guarded, certificate=certificate, login=("alerts", "s3cret"))
    clear = start_smtp(plain)
    env = {"SMTP_USER": "alerts", "SMTP_PASSWORD": "wrong"}
    login = {"username_env": "SMTP_USER", "password_env": "SMTP_PASSWORD"}
    cases = {
        "wrong password": _smtp(controller, ca_file=str(certificate[0]), **login),
        "untrusted certificate": _smtp(controller, **login),
        "no STARTTLS": _smtp(clear),
        "nobody listening": SmtpServer(host="127.0.0.1", port=free_port(), sender="riskcore@example.com",
                                       security="none"),
    }
    try:
        outcomes = {name: _outcome(deliveries, _sent(_postman(deliveries, MailTarget(to=("a@example.com",)),
                                                              smtp=smtp, env=env, attempts=2),
                                                     replace(ALERT, key=name)))[0]
                    for name, smtp in cases.items()}
    finally:
        controller.stop()
        clear.stop()
    assert guarded.messages == [] and plain.messages == []
    where = f"127.0.0.1:{controller.port}"
    assert outcomes["wrong password"][:2] == ("failed", 1)
    assert outcomes["wrong password"][2].startswith(f"the mail server {where} refused the login of 'alerts' (535 ")
    assert outcomes["untrusted certificate"][:2] == ("failed", 1)
    assert outcomes["untrusted certificate"][2].startswith(
        f"the mail server {where} cannot be reached: its TLS certificate is not trusted")
    assert outcomes["no STARTTLS"] == ("failed", 1, f"the mail server 127.0.0.1:{clear.port} does not offer STARTTLS; "
                                                    "nothing was sent in the clear (set security = \"none\" only for "
                                                    "a relay on a trusted network)")
    assert outcomes["nobody listening"][:2] == ("failed", 2)
    assert outcomes["nobody listening"][2].endswith("cannot be reached: the connection was refused (gave up after 2 "
                                                    "attempts)")


def test_the_mail_message_names_everything_a_reader_needs():
    message = mail_message(ALERT, sender="riskcore@example.com", to=["a@example.com"])
    assert message["To"] == "a@example.com" and message["From"] == "riskcore@example.com"
    assert "model version: logistic-1" in message.get_content() and "about: run-1" in message.get_content()


# ---------------------------------------------------------------------------
# the settings
# ---------------------------------------------------------------------------

GOOD = """
[alerts.delivery]
repeat_hours = 12
attempts = 4
backoff_seconds = 2
dashboard_url = "https://riskcore.example.com"

[[alerts.delivery.webhook]]
url = "https://hooks.slack.com/services/T000/B000/XXXX"
secret_env = "RISKCORE_WEBHOOK_SECRET"
name = "risk-slack"

[[alerts.delivery.webhook]]
url_env = "RISKCORE_TEAMS_URL"
severities = ["warn", "fail", "error", "info"]

[alerts.delivery.smtp]
host = "smtp.example.com"
sender = "riskcore@example.com"
username_env = "RISKCORE_SMTP_USER"
password_env = "RISKCORE_SMTP_PASSWORD"

[[alerts.delivery.email]]
to = ["model-risk@example.com"]
severities = ["fail", "error", "info"]
"""


def test_good_delivery_settings_are_read(tmp_path):
    config = tmp_path / "riskcore.toml"
    config.write_text(GOOD, encoding="utf-8")
    rules = load_settings(config, env={}).alerts.delivery
    assert rules.webhook == (WebhookTarget(url="https://hooks.slack.com/services/T000/B000/XXXX",
                                           secret_env="RISKCORE_WEBHOOK_SECRET", name="risk-slack"),
                             WebhookTarget(url_env="RISKCORE_TEAMS_URL", severities=("warn", "fail", "error", "info")))
    assert rules.email == (MailTarget(to=("model-risk@example.com",), severities=("fail", "error", "info")),)
    assert (rules.smtp.host, rules.smtp.port, rules.smtp.security) == ("smtp.example.com", 587, "starttls")
    assert (rules.repeat_hours, rules.attempts, rules.backoff_seconds) == (12.0, 4, 2.0)
    assert [t.label for t in rules.targets] == ["risk-slack", "webhook from $RISKCORE_TEAMS_URL",
                                                "email to model-risk@example.com"]
    assert load_settings(tmp_path / "riskcore.toml", env={}).alerts.feature_psi == AlertRules().feature_psi


def test_the_readme_example_is_valid(tmp_path):
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    example = readme.split("```toml\n[alerts.delivery]", 1)[1].split("```", 1)[0]
    config = tmp_path / "riskcore.toml"
    config.write_text("[alerts.delivery]" + example, encoding="utf-8")
    assert load_settings(config, env={}).alerts.delivery.targets


@pytest.mark.parametrize("text, words", [
    ("[alerts.delivery]\nretries = 3\n", "unknown alerts.delivery settings ['retries']"),
    ("[alerts.delivery]\nattempts = 0\n", "delivery setting attempts=0 must be in [1, 10]"),
    ('[alerts.delivery]\nrepeat_hours = "daily"\n', "setting alerts.delivery.repeat_hours='daily'"),
    ('[alerts.delivery]\ndashboard_url = "riskcore.example.com"\n', "dashboard_url='riskcore.example.com' must be"),
    ("[alerts.delivery]\nwebhook = 3\n", "write each as [[alerts.delivery.webhook]]"),
    ('[[alerts.delivery.webhook]]\nurl = "ftp://example.com/x"\n', "webhook setting url='ftp://example.com/x' must be "
                                                                   "an http(s) URL with a host"),
    ('[[alerts.delivery.webhook]]\nsecret_env = "S"\n', "webhook settings need exactly one of url"),
    ('[[alerts.delivery.webhook]]\nurl = "https://x.example"\nsecret_env = "my-secret"\n',
     "webhook setting secret_env='my-secret' must name an environment variable"),
    ('[[alerts.delivery.webhook]]\nurl = "https://x.example"\nseverities = ["critical"]\n',
     "unknown severities ['critical']; allowed: info, warn, fail, error"),
    ('[[alerts.delivery.webhook]]\nurl = "https://x.example"\n[[alerts.delivery.webhook]]\nurl = "https://y.example"\n'
     "severities = []\n", "[alerts.delivery.webhook #2]"),
    ('[[alerts.delivery.webhook]]\nurl = "https://x.example"\ncolour = "red"\n',
     "unknown alerts.delivery.webhook settings ['colour']"),
    ('[[alerts.delivery.email]]\nto = ["risk@example.com"]\n', "e-mail alerts need a mail server: set host and sender"),
    ('[[alerts.delivery.email]]\nto = "risk@example.com"\n', "must be a list of addresses"),
    ('[[alerts.delivery.email]]\nto = ["risk at example.com"]\n', "not one e-mail address each: ['risk at example"),
    ('[alerts.delivery.smtp]\nsecurity = "ssl"\n', "smtp setting security='ssl' must be starttls, tls or none"),
    ('[alerts.delivery.smtp]\nport = 70000\n', "smtp setting port=70000 must be in [1, 65535]"),
    ('[alerts.delivery.smtp]\nusername_env = "U"\n', "username_env and password_env go together"),
])
def test_bad_delivery_settings_are_named(tmp_path, text, words):
    config = tmp_path / "riskcore.toml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(config, env={})
    assert words in str(err.value) and "riskcore.toml" in str(err.value)


# ---------------------------------------------------------------------------
# through the workbench: monitoring, jobs, the retraining loop, fallbacks
# ---------------------------------------------------------------------------

def _delivery(hook: Hook, *, smtp: SmtpServer | None = None, to: tuple[str, ...] = (),
              severities=("warn", "fail", "error", "info")) -> DeliveryRules:
    return DeliveryRules(webhook=(WebhookTarget(url=hook.url, secret_env="RISKCORE_TEST_HOOK_SECRET",
                                                severities=severities),),
                         email=(MailTarget(to=to, severities=severities),) if to else (),
                         smtp=smtp or SmtpServer(), **FAST)


@pytest.fixture(scope="module")
def state(model_cache):
    """A state folder with a logistic champion (registry version 1) and a LightGBM version 2."""
    return champion_and_challenger(model_cache)


@pytest.fixture(scope="module")
def later_csv(model_cache, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("later") / "later.csv"
    write_csv(demo_panel(model_cache).later.frame, path)
    return path


def test_a_failing_monitoring_alert_reaches_the_webhook_and_the_mailbox(state, later_csv, hook, tmp_path,
                                                                        monkeypatch):
    monkeypatch.setenv("RISKCORE_TEST_HOOK_SECRET", SECRET)
    mailbox = Mailbox()
    controller = start_smtp(mailbox)
    try:
        smtp = SmtpServer(host="127.0.0.1", port=controller.port, sender="riskcore@example.com", security="none")
        touchy = AlertRules(score_psi=1e-6, score_psi_warn=0.0,
                            delivery=_delivery(hook, smtp=smtp, to=("model-risk@example.com",),
                                               severities=("fail",)))
        bench = Workbench(Settings(home=state.copy_to(tmp_path / "home").folder, alerts=touchy))
        run = bench.monitor("champion", later_csv)
        assert any(a.rule == "score_psi" and a.status == "fail" for a in run.report.alerts)
        failing = sorted(a.rule for a in run.report.alerts if a.status == "fail")
        assert sorted({d.notice["rule"] for d in run.deliveries}) == failing
        assert {d.state for d in run.deliveries} == {"pending"} and {d.ref for d in run.deliveries} == {run.run_id}
        assert bench.wait_for_deliveries()
        again = bench.monitor("champion", later_csv)  # the next run: the same failures are not sent twice
        assert bench.wait_for_deliveries()
    finally:
        controller.stop()
    hooked = [r.json["riskcore"] for r in hook.requests]
    assert sorted(h["rule"] for h in hooked) == failing
    score = next(h for h in hooked if h["rule"] == "score_psi")
    assert (score["severity"], score["model_version"], score["ref"]) == ("fail", run.report.model_version, run.run_id)
    assert all(verify_signature(r.body, r.headers[SIGNATURE_HEADER], SECRET) for r in hook.requests)
    subjects = sorted(m["Subject"] for _, _, m in mailbox.messages)
    assert len(subjects) == len(failing) and any("Score drift fails for model" in s for s in subjects)
    assert [m[1] for m in mailbox.messages] == [["model-risk@example.com"]] * len(failing)
    # the monitoring history shows where each run's alerts went
    latest = bench.latest_monitoring(run.report.model_version)
    assert latest.run_id == again.run_id and {d.state for d in latest.deliveries} == {"repeat"}
    first = bench.monitoring_deliveries(run.run_id)
    assert sorted((d.channel, d.state, d.attempts) for d in first) == sorted(
        [("webhook", "sent", 1), ("email", "sent", 1)] * len(failing))


def test_a_failed_job_reaches_the_people_named_for_errors(hook, tmp_path, monkeypatch):
    monkeypatch.setenv("RISKCORE_TEST_HOOK_SECRET", SECRET)
    bench = Workbench(Settings(home=tmp_path / "home", alerts=AlertRules(delivery=_delivery(hook))))
    job = bench.queue.submit("mystery", "cli:ops", {})
    ended = Worker(bench, name="w1").run_one()
    assert ended.state == "failed" and bench.wait_for_deliveries()
    (received,) = hook.requests
    fields = received.json["riskcore"]
    assert (fields["event"], fields["severity"], fields["ref"]) == ("job_failed", "error", job.id)
    assert fields["title"] == f"Mystery job {job.id} failed" and "cannot run ('mystery')" in fields["detail"]
    assert [(d.kind, d.state) for d in bench.deliveries(ref=job.id)] == [("job_failed", "sent")]
    # a job whose worker stopped answering too often fails when the next worker looks: that is told too
    clock = [1_800_000_000.0]
    queue = JobQueue(bench.audit.store, lease_s=60, clock=lambda: clock[0])
    lost = queue.submit("score", "cli:ops", {}, max_attempts=1)
    assert queue.claim("w2").id == lost.id
    clock[0] += 61
    told = []
    assert queue.claim("w3", lost=told.append) is None
    assert [(j.id, j.state) for j in told] == [(lost.id, "failed")] and "stopped answering" in told[0].error


def test_a_worker_sends_what_a_process_that_ended_left_pending(hook, tmp_path, monkeypatch):
    monkeypatch.setenv("RISKCORE_TEST_HOOK_SECRET", SECRET)
    bench = Workbench(Settings(home=tmp_path / "home", alerts=AlertRules(delivery=_delivery(hook))))
    (target,) = bench.settings.alerts.delivery.webhook
    (left,) = DeliveryLog(bench.audit.store).plan(ALERT.as_dict(), [("webhook", target_id(target), target.label)],
                                                  repeat_s=0, lease_s=0)
    done = Worker(bench, name="w1").tick(now=time.time())
    assert done == [f"alert delivery {left.id} (monitoring_alert to {target.label}) left pending, sent again"]
    assert bench.wait_for_deliveries()
    assert [r.headers["X-Riskcore-Delivery"] for r in hook.requests] == [left.id]
    assert [(d.state, d.attempts) for d in bench.deliveries(ids=[left.id])] == [("sent", 1)]


def test_a_retraining_decision_is_delivered_as_information(hook, tmp_path, monkeypatch):
    monkeypatch.setenv("RISKCORE_TEST_HOOK_SECRET", SECRET)
    bench = Workbench(Settings(home=tmp_path / "home", alerts=AlertRules(delivery=_delivery(hook))))
    outcome = bench.retrain(trigger="command", job_id="a" * 32)
    assert outcome.decision == "stopped" and bench.wait_for_deliveries()
    (received,) = hook.requests
    fields = received.json["riskcore"]
    assert (fields["event"], fields["severity"], fields["ref"], fields["link"]) == ("retraining", "info", "a" * 32, "")
    assert fields["title"] == "Retraining (command) stopped" and "there is no champion to retrain" in fields["detail"]


def test_a_fallback_to_the_previous_champion_and_the_return_are_delivered(state, hook, tmp_path, monkeypatch):
    monkeypatch.setenv("RISKCORE_TEST_HOOK_SECRET", SECRET)
    home = state.copy_to(tmp_path / "home").folder
    settings = Settings(home=home, serving=ServingRules(check_seconds=0), alerts=AlertRules(delivery=_delivery(hook)))
    first, second = (state.results[name].model_version for name in ("champion", "challenger"))
    bench = Workbench(settings)
    bench.tracker.move_champion("2", tags={"moved_by": "test", "move_reason": "test"})
    assert bench.served().version == second
    metrics = settings.models_dir / second / "metrics.json"
    metrics.write_text(metrics.read_text(encoding="utf-8") + " ", encoding="utf-8")
    served = bench.served()
    assert (served.status, served.version) == ("degraded", first)
    metrics.write_text(metrics.read_text(encoding="utf-8")[:-1], encoding="utf-8")
    assert bench.served().status == "ok"
    served = bench.served()  # nothing changed: nothing more to tell
    assert bench.wait_for_deliveries()
    events = [(r.json["riskcore"]["event"], r.json["riskcore"]["severity"]) for r in hook.requests]
    assert events == [("fallback", "error"), ("restore", "info")]
    fallback = hook.requests[0].json["riskcore"]
    assert fallback["title"] == f"Serving fell back from champion {second} to {first}"
    assert fallback["model_version"] == first and "cannot be served" in fallback["detail"]


def test_a_failed_jobs_alert_and_the_workers_log_hold_no_value_of_its_data(hook, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("RISKCORE_TEST_HOOK_SECRET", SECRET)
    bench = Workbench(Settings(home=tmp_path / "home", alerts=AlertRules(delivery=_delivery(hook))))

    def failing(job, beat):
        raise SchemaError(Problem(3, "contact_name", "Jan Kowalczyk", "'Jan Kowalczyk' is not a known category",
                                  check="unknown_category"))

    monkeypatch.setattr(bench, "run_job", failing)
    job = bench.queue.submit("score", "cli:ops", {})
    caplog.set_level(logging.INFO)
    ended = Worker(bench, name="w1").run_one()
    assert ended.state == "failed" and "Jan Kowalczyk" in ended.error  # who submitted it learns what to fix
    assert bench.wait_for_deliveries()
    (received,) = hook.requests
    detail = received.json["riskcore"]["detail"]
    assert detail == "SchemaError: 1 problem(s) in column(s) 'contact_name' (rules: unknown_category)"
    assert b"Kowalczyk" not in received.body and "Kowalczyk" not in caplog.text
    assert f"job {job.id} failed: SchemaError" in caplog.text
