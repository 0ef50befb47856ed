"""Sign-in and roles on the dashboard: the form first, the pages and buttons of each role, the page reached by URL
without the role, a forged session, the idle timeout, the single local user, and the person on every audit row.

The users live in a copy of the session's trained home, so the other page tests keep the single-local-user mode.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from argon2 import PasswordHasher
from pagetools import APP, ROOT, clear_streamlit_caches, open_page
from streamlit.testing.v1 import AppTest

from dashboard import auth
from riskcore.identity import PAGES, USER_ROLES, SessionSigner, UserStore, can_open

TIMEOUT = 120
SAMPLE = ROOT / "assets" / "sample_portfolio.csv"
# one user per role, each named after it
USERS = {"vera": "viewer", "otto": "officer", "ana": "analyst", "val": "validator", "adam": "admin"}
TITLES = {"business_impact": "Business impact", "provisions": "Provisions", "performance": "Performance",
          "sectors": "Sectors",
          "company_explorer": "Company explorer", "portfolio_scoring": "Portfolio scoring",
          "data_quality": "Data quality", "training_runs": "Training runs", "costs_threshold": "Costs & threshold",
          "monitoring": "Monitoring", "model_report": "Model report", "calibration": "Calibration",
          "audit_trail": "Audit trail"}


def _password(name: str) -> str:
    return f"password-of-{name}"


@pytest.fixture(scope="module")
def users_home(app_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of the trained home with one user per role; the dashboard points at it for the whole module."""
    home = tmp_path_factory.mktemp("roles") / "home"
    shutil.copytree(app_home, home)
    store = UserStore(home / "users.json", hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    for name, role in USERS.items():
        store.add_user(name, role, _password(name))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RISKCORE_HOME", str(home))
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.delenv("RISKCORE_AUDIT_URL", raising=False)
        clear_streamlit_caches()
        yield home
    clear_streamlit_caches()


@pytest.fixture
def listed(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Title → visibility of every page the app registers in its navigation, as of the latest run."""
    seen: dict[str, str] = {}
    real = st.Page

    def recording(page, **kwargs):
        seen[str(kwargs.get("title"))] = kwargs.get("visibility", "visible")
        return real(page, **kwargs)

    monkeypatch.setattr(st, "Page", recording)
    return seen


def _audit(home: Path):
    from riskcore.config import load_settings
    from riskcore.serving.audit import AuditLog

    return AuditLog.from_settings(load_settings(env={"RISKCORE_HOME": str(home)}))


def _signed_in(name: str, password: str | None = None) -> AppTest:
    """The dashboard after signing in as ``name``."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert [t.value for t in at.title] == ["Sign in to riskcore"]
    at.text_input(key="sign_in_name").input(name)
    at.text_input(key=auth.PASSWORD).input(password or _password(name))
    at.button(key="sign_in_submit").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _only_the_sign_in_form(at: AppTest) -> bool:
    titles = [t.value for t in at.title]
    return titles == ["Sign in to riskcore"] and not at.metric and not at.sidebar.caption


def test_the_sign_in_form_comes_first_and_nothing_else(users_home):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    assert _only_the_sign_in_form(at)
    at.switch_page("../pages/training_runs.py").run()  # a page's URL: the form again, the page never runs
    assert _only_the_sign_in_form(at)


def test_a_wrong_password_is_refused_and_recorded(users_home):
    at = _signed_in("adam", password="not the password")
    assert _only_the_sign_in_form(at)
    assert any("Wrong user name or password" in e.value for e in at.error)
    last = _audit(users_home).access_events(limit=1)[0]
    assert (last.event, last.user) == ("denied", "adam") and "sign-in refused" in last.detail


@pytest.mark.parametrize("name", list(USERS))
def test_each_role_is_listed_the_pages_it_opens(users_home, listed, name):
    at = _signed_in(name)
    role = USERS[name]
    assert at.title[0].value == "Business impact"
    assert any(f"Signed in as **{name}** · {role}" in c.value for c in at.sidebar.caption)
    shown = {title for title, visibility in listed.items() if visibility == "visible"}
    assert shown == {TITLES[p] for p in PAGES if can_open(role, p)}
    assert set(listed) == set(TITLES.values())  # the others are registered, hidden, so their URL answers


@pytest.mark.parametrize("name", ["vera", "otto", "ana", "val"])
def test_a_page_reached_by_url_without_the_role_shows_the_role_it_needs_and_nothing_else(users_home, name):
    at = _signed_in(name)
    role = USERS[name]
    before = len(_audit(users_home).access_events(user=name))
    for page, needed in PAGES.items():
        open_page(at, page)
        assert not at.exception, (page, [e.value for e in at.exception])
        if can_open(role, page):
            assert at.title and at.title[0].value == TITLES[page], page
            continue
        assert [e.value for e in at.main.error] == [
            f"You need role {needed} to open this page; you are signed in as {name} with role {role}. "
            "Ask an administrator for the role."], page
        assert not at.title and not at.main.metric and not at.main.button and not at.main.dataframe, page
    denied = [e for e in _audit(users_home).access_events(user=name)[before:] if e.event == "denied"]
    assert len(denied) == sum(not can_open(role, p) for p in PAGES)


def test_the_training_runs_buttons_follow_the_role(users_home):
    """Analyst: start a run. Validator: + compare. Admin: + promote and roll back."""
    expected = {"ana": (True, False, False), "val": (True, True, False), "adam": (True, True, True)}
    for name, (train, compare, promote) in expected.items():
        at = open_page(_signed_in(name), "training_runs")
        assert not at.exception, [e.value for e in at.exception]
        keys = {b.key for b in at.button}
        assert ("train_start" in keys) is train, name
        assert ("compare_challenger" in {s.key for s in at.selectbox}) is compare, name
        assert ("promote_submit" in keys) is promote and ("rollback_submit" in keys) is promote, name


def test_the_portfolio_upload_is_the_officers_and_its_audit_rows_carry_the_user(users_home):
    audit = _audit(users_home)
    at = open_page(_signed_in("otto"), "portfolio_scoring")
    at.file_uploader(key="score_upload").set_value(("sample.csv", SAMPLE.read_bytes(), "text/csv")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    recent = audit.recent(5)
    assert set(recent["caller"]) == {"dashboard:otto"} and set(recent["source"]) == {"dashboard"}
    sign_ins = [e for e in audit.access_events(user="otto") if e.event == "sign_in"]
    assert sign_ins and audit.verify().ok


def test_a_forged_session_state_does_not_raise_a_role(users_home, listed):
    at = _signed_in("vera")
    token = at.session_state[auth.TOKEN]
    # claims that change nothing: the role is never read from the session
    for key, value in (("role", "admin"), ("user", "adam"), ("riskcore_role", "admin")):
        at.session_state[key] = value
    open_page(at, "calibration")
    assert [e.value for e in at.main.error][0].startswith("You need role validator")
    # the token with another name and its old signature: signed out, the sign-in form and nothing else
    at.session_state[auth.TOKEN] = token.replace("vera", "adam", 1)
    at.run()
    assert _only_the_sign_in_form(at)
    assert at.info[0].value.startswith("Your session could not be verified")
    last = _audit(users_home).access_events(limit=1)[0]
    assert (last.event, last.user) == ("denied", "unknown") and "does not verify" in last.detail


def test_the_role_is_read_from_the_users_file_on_every_run(users_home):
    at = open_page(_signed_in("ana"), "training_runs")
    assert at.title[0].value == "Training runs"
    store = UserStore(users_home / "users.json")
    store.remove_user("ana")
    store.add_user("ana", "viewer", _password("ana"))
    try:
        at.run()
        assert [e.value for e in at.main.error][0].startswith("You need role analyst")
        store.remove_user("ana")
        at.run()  # a removed user is signed out
        assert _only_the_sign_in_form(at) and "no longer exists" in at.info[0].value
    finally:
        if store.role_of("ana") is not None:
            store.remove_user("ana")
        store.add_user("ana", "analyst", _password("ana"))


def test_a_damaged_users_file_shows_its_message_and_nothing_else(users_home):
    at = _signed_in("vera")
    path = users_home / "users.json"
    kept = path.read_bytes()
    try:
        path.write_text("{not json")
        at.run()
        assert not at.exception and not at.title and not at.main.metric
        assert at.error[0].value.startswith("Sign-in cannot be checked, so nothing is shown: the users file")
    finally:
        path.write_bytes(kept)


def test_an_idle_session_ends_on_record(users_home):
    at = _signed_in("val")
    idle = 31 * 60  # the default idle time is 30 minutes
    at.session_state[auth.TOKEN] = SessionSigner(users_home / "session.key").issue("val", now=time.time() - idle)
    at.run()
    assert _only_the_sign_in_form(at)
    assert at.info[0].value == "Your session ended after 30 minutes without activity; sign in again."
    last = _audit(users_home).access_events(limit=1)[0]
    assert (last.event, last.user) == ("timeout", "val")


def test_signing_out_ends_the_session_on_record(users_home):
    at = _signed_in("adam")
    at.sidebar.button(key="sign_out").click().run()
    assert _only_the_sign_in_form(at)
    assert auth.TOKEN not in at.session_state
    events = [e.event for e in _audit(users_home).access_events(user="adam")]
    assert events[-2:] == ["sign_in", "sign_out"]


def test_without_users_the_dashboard_is_one_local_user_with_every_page(app_env, listed):
    clear_streamlit_caches()
    try:
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        at.run()
        assert not at.exception and at.title[0].value == "Business impact"
        assert any("Single local user — no sign-in" in c.value for c in at.sidebar.caption)
        assert set(listed.values()) == {"visible"} and len(listed) == len(PAGES)
        assert not (app_env / "users.json").exists()
    finally:
        clear_streamlit_caches()


def test_every_role_is_covered():
    assert set(USERS.values()) == set(USER_ROLES)
