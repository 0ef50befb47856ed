"""Users, roles, the page and action table, session tokens, and access events in the audit trail."""

from __future__ import annotations

import json
import stat
import sys

import pytest
from argon2 import PasswordHasher
from sqlalchemy import create_engine, text

from riskcore.errors import AuditError, ConfigError
from riskcore.identity import ACTIONS, PAGES, USER_ROLES, SessionSigner, UserStore, can_do, can_open, role_at_least
from riskcore.serving.audit import AccessEvent, AuditLog, AuditRecord

FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)  # the same argon2id, cheap for tests


@pytest.fixture
def store(tmp_path) -> UserStore:
    return UserStore(tmp_path / "users.json", hasher=FAST)


# -- passwords -----------------------------------------------------------------

def test_a_password_is_stored_as_an_argon2id_hash_in_a_private_file(store):
    store.add_user("alice", "analyst", "correct horse battery")
    raw = store.path.read_text()
    assert "correct horse battery" not in raw
    (entry,) = json.loads(raw)["users"]
    assert entry["hash"].startswith("$argon2id$")
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_the_right_password_signs_in_and_a_wrong_one_does_not(store):
    store.add_user("alice", "analyst", "correct horse battery")
    assert store.authenticate("alice", "correct horse battery").role == "analyst"
    assert store.authenticate("Alice", "correct horse battery").name == "alice"  # names ignore case
    assert store.authenticate("alice", "correct horse battery ") is None
    assert store.authenticate("alice", "") is None
    assert store.authenticate("bob", "correct horse battery") is None  # unknown user


def test_the_default_hasher_is_argon2id(tmp_path):
    store = UserStore(tmp_path / "users.json")
    store.add_user("vera", "viewer", "a long enough password")
    assert json.loads(store.path.read_text())["users"][0]["hash"].startswith("$argon2id$v=19$")
    assert store.authenticate("vera", "a long enough password") is not None


@pytest.mark.parametrize(("name", "role", "password", "message"), [
    ("al ice", "viewer", "password1", "user name 'al ice' is not allowed"),
    ("", "viewer", "password1", "is not allowed"),
    ("bob", "superuser", "password1", "role 'superuser' is unknown; use one of viewer, officer"),
    ("bob", "viewer", "short", "8 to 1024 characters"),
])
def test_bad_users_are_refused_with_what_to_do(store, name, role, password, message):
    with pytest.raises(ConfigError, match=message):
        store.add_user(name, role, password)
    assert not store.path.exists()


def test_a_name_is_taken_whatever_its_case_and_remove_names_the_known_users(store):
    store.add_user("alice", "admin", "password-one")
    with pytest.raises(ConfigError, match="a user named 'alice' exists already"):
        store.add_user("ALICE", "viewer", "password-two")
    with pytest.raises(ConfigError, match="no user named 'bob'; users: alice"):
        store.remove_user("bob")
    assert store.remove_user("Alice").name == "alice"
    assert store.list_users() == [] and not store.has_users()


def test_another_process_writing_the_file_is_seen_without_a_restart(store):
    store.add_user("alice", "viewer", "password-one")
    assert store.role_of("alice") == "viewer"
    other = UserStore(store.path, hasher=FAST)  # the command line, in another process
    other.remove_user("alice")
    other.add_user("alice", "admin", "password-one")
    assert store.role_of("alice") == "admin"
    assert [u.role for u in store.list_users()] == ["admin"]


def test_a_damaged_users_file_says_how_to_repair_it(store):
    store.path.write_text('{"users": [{"name": "x", "role": "emperor", "hash": "h"}]}')
    with pytest.raises(ConfigError, match="cannot be read .* python -m riskcore users add"):
        store.has_users()


# -- roles, pages and actions ----------------------------------------------------

def test_roles_are_ordered_and_cumulative():
    assert USER_ROLES == ("viewer", "officer", "analyst", "validator", "admin")
    assert role_at_least("admin", "viewer") and role_at_least("analyst", "analyst")
    assert not role_at_least("officer", "analyst")
    assert not role_at_least("emperor", "viewer") and not role_at_least("admin", "emperor")


def test_the_page_table_is_the_issues_list():
    opens = {role: {p for p in PAGES if can_open(role, p)} for role in USER_ROLES}
    assert opens["viewer"] == {"business_impact", "provisions", "performance", "sectors"}
    assert opens["officer"] - opens["viewer"] == {"company_explorer", "portfolio_scoring"}
    assert opens["analyst"] - opens["officer"] == {"data_quality", "training_runs", "monitoring", "model_report",
                                                  "costs_threshold"}
    assert opens["validator"] - opens["analyst"] == {"calibration", "audit_trail"}
    assert opens["admin"] == set(PAGES)


def test_every_page_file_has_an_entry_and_guards_itself():
    from pathlib import Path

    pages = Path(__file__).resolve().parents[2] / "pages"
    files = {p.stem for p in pages.glob("*.py")}
    assert files == set(PAGES)
    for stem in files:
        source = (pages / f"{stem}.py").read_text()
        assert f'auth.require_page("{stem}")' in source, stem


def test_the_action_table_is_the_issues_list():
    does = {role: {a for a in ACTIONS if can_do(role, a)} for role in USER_ROLES}
    assert does["viewer"] == set()
    assert does["officer"] == {"score_upload"}
    assert does["analyst"] - does["officer"] == {"start_training", "monitor_upload"}
    assert does["validator"] - does["analyst"] == {"compare_versions", "sign_report", "export_audit"}
    assert does["admin"] - does["validator"] == {"promote", "rollback", "manage_users"}


def test_an_unknown_page_is_a_bug_not_a_page_anyone_opens():
    with pytest.raises(KeyError):
        can_open("admin", "secret_page")


# -- session tokens --------------------------------------------------------------

def test_a_token_proves_the_name_and_time_it_was_issued_with(tmp_path):
    signer = SessionSigner(tmp_path / "session.key")
    token = signer.issue("alice", now=1000.0)
    session = signer.verify(token)
    assert (session.user, session.issued) == ("alice", 1000.0)
    assert session.idle_seconds(now=1600.0) == 600.0
    assert stat.S_IMODE((tmp_path / "session.key").stat().st_mode) == 0o600
    assert SessionSigner(tmp_path / "session.key").verify(token) == session  # the key is kept, not remade


@pytest.mark.parametrize("tamper", [
    lambda t: t.replace("alice", "admin", 1),  # another name, same signature
    lambda t: t.replace("1000.000", "9999999999.000", 1),  # a later time: never idle
    lambda t: t[:-1] + ("0" if t[-1] != "0" else "1"),
    lambda t: "admin|1000.000|" + "0" * 64,
    lambda t: "admin",
    lambda t: None,
    lambda t: {"user": "admin"},
])
def test_a_tampered_token_proves_nothing(tmp_path, tamper):
    signer = SessionSigner(tmp_path / "session.key")
    assert signer.verify(tamper(signer.issue("alice", now=1000.0))) is None


def test_a_token_from_another_key_proves_nothing(tmp_path):
    token = SessionSigner(tmp_path / "a.key").issue("alice")
    assert SessionSigner(tmp_path / "b.key").verify(token) is None


def test_a_damaged_key_file_says_what_to_do(tmp_path):
    (tmp_path / "session.key").write_text("not hex")
    with pytest.raises(ConfigError, match="remove it and restart the dashboard"):
        SessionSigner(tmp_path / "session.key")


def test_the_role_comes_from_the_users_file_not_from_the_token(store, tmp_path):
    """A token carries no role: demoting a user takes effect on their next check, removing them ends it."""
    store.add_user("alice", "admin", "password-one")
    signer = SessionSigner(tmp_path / "session.key")
    session = signer.verify(signer.issue("alice"))
    assert store.role_of(session.user) == "admin"
    store.remove_user("alice")
    store.add_user("alice", "viewer", "password-one")
    assert store.role_of(session.user) == "viewer"
    store.remove_user("alice")
    assert store.role_of(session.user) is None


# -- access events in the audit trail -------------------------------------------

def test_access_events_are_chained_with_the_scores_and_read_back(tmp_path):
    log = AuditLog("sqlite:///" + str(tmp_path / "audit.db"))
    log.record([AuditRecord("C1", {"roa": 0.1}, 0.02, "accept", "5")], source="dashboard", caller="dashboard:ana",
               model_version="v1", bundle_hash="ab" * 32)
    first = log.record_access(AccessEvent("sign_in", "ana", "dashboard"))
    log.record_access(AccessEvent("denied", "ana", "dashboard page calibration needs role validator"))
    log.record_access(AccessEvent("sign_in", "bob", "dashboard"))
    assert [e.event for e in log.access_events()] == ["sign_in", "denied", "sign_in"]
    assert [e.user for e in log.access_events(user="ana")] == ["ana", "ana"]
    assert [e.user for e in log.access_events(limit=1)] == ["bob"]
    assert log.access_events()[0] == first and first.seq == 2 and first.ts
    assert log.count() == 1 and len(log.recent(10)) == 1  # an access event holds no scores
    result = log.verify()
    assert result.ok and result.requests == 4, result.message


def test_an_edited_access_event_breaks_the_chain(tmp_path):
    url = "sqlite:///" + str(tmp_path / "audit.db")
    log = AuditLog(url)
    log.record_access(AccessEvent("denied", "eve", "dashboard page training_runs needs role analyst"))
    log.record_access(AccessEvent("sign_in", "ana", "dashboard"))
    with create_engine(url).begin() as conn:
        conn.execute(text("UPDATE audit_requests SET columns = REPLACE(columns, 'denied', 'sign_in') WHERE seq = 1"))
    assert not log.verify().ok


@pytest.mark.parametrize(("event", "message"), [
    (AccessEvent("promote", "ana"), "event='promote' is unknown"),  # type: ignore[arg-type]
    (AccessEvent("sign_in", ""), "names its user"),
    (AccessEvent("sign_in", "x" * 256), "names its user"),
])
def test_an_incomplete_access_event_is_refused(event, message):
    log = AuditLog("sqlite://")
    with pytest.raises(AuditError, match=message):
        log.record_access(event)
    assert log.access_events() == []


# -- the command line -----------------------------------------------------------

def _users_command(*args: str, stdin: str = "") -> tuple[int, str]:
    """Run ``users …`` as ``python -m riskcore`` does (its parser, its exit statuses); status and output."""
    import argparse
    import contextlib
    import io

    from riskcore.cli.users import add_users_parser
    from riskcore.errors import RiskcoreError

    parser = argparse.ArgumentParser()
    add_users_parser(parser.add_subparsers(dest="command", required=True))
    parsed = parser.parse_args(args)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "stdin", io.StringIO(stdin))
        try:
            status = parsed.func(parsed)
        except RiskcoreError as err:
            return err.exit_status, str(err)
    return status, out.getvalue()


def test_users_add_list_remove_from_the_command_line(tmp_path, monkeypatch):
    monkeypatch.setenv("RISKCORE_HOME", str(tmp_path))
    status, said = _users_command("users", "add", "ana", "--role", "officer", "--password-stdin",
                                  stdin="a long password\n")
    assert status == 0 and "Added ana (officer)" in said and "now asks everyone to sign in" in said
    assert UserStore(tmp_path / "users.json").authenticate("ana", "a long password").role == "officer"
    assert _users_command("users", "add", "ANA", "--role", "viewer", "--password-stdin", stdin="password2\n") \
        == (3, "a user named 'ana' exists already; remove it first (python -m riskcore users remove NAME) or "
               "choose another name")
    status, said = _users_command("users", "list")
    assert status == 0 and said.splitlines()[1].split()[:2] == ["ana", "officer"]
    status, said = _users_command("users", "remove", "ana")
    assert status == 0 and "one local user without sign-in again" in said
    status, said = _users_command("users", "remove", "ana")
    assert status == 3 and "no user named 'ana'" in said
    assert _users_command("users", "add", "bob", "--role", "viewer", "--password-stdin")[0] == 3  # nothing piped in


def test_an_unknown_role_is_a_usage_error():
    with pytest.raises(SystemExit) as stopped:
        _users_command("users", "add", "bob", "--role", "emperor")
    assert stopped.value.code == 2


def test_the_typed_passwords_must_match(monkeypatch):
    from riskcore.cli import users

    typed = iter(["first password", "second password"])
    monkeypatch.setattr(users.getpass, "getpass", lambda prompt: next(typed))
    with pytest.raises(ConfigError, match="the two passwords differ"):
        users.read_password(from_stdin=False)
