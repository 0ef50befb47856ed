"""The one identity model: the role table on every face, the one private file store, files of earlier versions,
and the identity settings read in one place."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import threading
from pathlib import Path

import pytest
from argon2 import PasswordHasher

import riskcore.identity as identity
from riskcore.config import Settings
from riskcore.errors import ConfigError
from riskcore.identity import (
    ACTIONS,
    GRANTS,
    KEY_ROLES,
    PAGES,
    ROLES,
    USER_ROLES,
    IdentitySettings,
    JsonFileStore,
    KeyFileError,
    KeyStore,
    OidcSettings,
    UserStore,
    allowed_roles,
    can_call,
    can_do,
    can_open,
    claimed_roles,
)

FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)

# -- the tables of the two systems this model replaces, as they were written -------------------------------------
LEGACY_USER_ROLES = ("viewer", "officer", "analyst", "validator", "admin")
LEGACY_PAGES = {
    "business_impact": "viewer", "performance": "viewer", "sectors": "viewer",
    "company_explorer": "officer", "portfolio_scoring": "officer",
    "data_quality": "analyst", "training_runs": "analyst", "costs_threshold": "analyst", "monitoring": "analyst",
    "model_report": "analyst",
    "calibration": "validator",
}
LEGACY_ACTIONS = {
    "score_upload": "officer",
    "start_training": "analyst", "monitor_upload": "analyst",
    "compare_versions": "validator", "sign_report": "validator",
    "promote": "admin", "rollback": "admin", "manage_users": "admin",
}
# added since the two tables were merged: the audit trail page and its export, for those who may audit
LEGACY_PAGES["audit_trail"] = "validator"
LEGACY_ACTIONS["export_audit"] = "validator"
# and the provisions page, for everyone who reads the results
LEGACY_PAGES["provisions"] = "viewer"
LEGACY_KEY_ROLES = ("admin", "analyst", "service", "viewer")
LEGACY_PERMISSIONS = {
    "admin": {"score", "explain", "model_info", "retrain", "all_jobs"},
    "analyst": {"explain", "model_info", "retrain"},
    "service": {"score"},
    "viewer": {"model_info"},
}


def _legacy_least(role: str, needed: str) -> bool:
    return LEGACY_USER_ROLES.index(role) >= LEGACY_USER_ROLES.index(needed)


# -- the role table ----------------------------------------------------------------------------------------------

def test_one_table_names_every_role_once():
    assert set(GRANTS) == set(ROLES) == set(USER_ROLES) | set(KEY_ROLES)
    assert USER_ROLES == LEGACY_USER_ROLES and KEY_ROLES == LEGACY_KEY_ROLES
    assert all(GRANTS[r].role == r and GRANTS[r].meaning for r in ROLES)


@pytest.mark.parametrize("role", ROLES)
def test_every_page_and_action_is_resolved_from_the_table_as_before(role):
    for page in PAGES:
        assert can_open(role, page) is (page in GRANTS[role].pages)
        assert can_open(role, page) is (role in LEGACY_USER_ROLES and _legacy_least(role, LEGACY_PAGES[page]))
    for action in ACTIONS:
        assert can_do(role, action) is (action in GRANTS[role].actions)
        assert can_do(role, action) is (role in LEGACY_USER_ROLES and _legacy_least(role, LEGACY_ACTIONS[action]))
    assert PAGES == LEGACY_PAGES and ACTIONS == LEGACY_ACTIONS


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("permission", ["score", "explain", "model_info"])
def test_every_api_permission_is_resolved_from_the_table_as_before(role, permission):
    assert can_call(role, permission) is (permission in GRANTS[role].permissions)
    assert can_call(role, permission) is (permission in LEGACY_PERMISSIONS.get(role, set()))


def test_the_roles_that_hold_each_permission_are_listed_in_the_old_order():
    assert allowed_roles("score") == ["admin", "service"]
    assert allowed_roles("explain") == ["admin", "analyst"]
    assert allowed_roles("model_info") == ["admin", "analyst", "viewer"]


def test_the_machine_role_reaches_no_page_and_people_without_api_roles_reach_no_endpoint():
    service = GRANTS["service"]
    assert not service.pages and not service.actions and service.permissions == {"score"}
    assert not GRANTS["officer"].permissions and not GRANTS["validator"].permissions
    assert "service" not in USER_ROLES and {"officer", "validator"}.isdisjoint(KEY_ROLES)


def test_an_unknown_role_holds_nothing_and_an_unknown_name_is_a_bug():
    assert not can_open("emperor", "performance") and not can_do("emperor", "promote")
    assert not can_call("emperor", "model_info")
    with pytest.raises(KeyError):
        can_call("admin", "delete_everything")  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        can_do("admin", "delete_everything")  # type: ignore[arg-type]


def test_a_claim_maps_to_the_roles_a_face_accepts():
    claims = {"groups": ["risk-ops", "viewer", "credit"]}
    role_map = {"risk-ops": "service", "credit": "officer"}
    assert claimed_roles(claims, "groups", role_map, KEY_ROLES) == ("service", "viewer")
    assert claimed_roles(claims, "groups", role_map, USER_ROLES) == ("viewer", "officer")
    assert claimed_roles(claims, "groups", {"x": "superuser"}, USER_ROLES) == ("viewer",)


def test_a_person_cannot_be_given_the_machine_role_nor_a_key_a_dashboard_only_role(tmp_path):
    with pytest.raises(ConfigError, match="role 'service' is for a machine calling the API"):
        UserStore(tmp_path / "users.json", hasher=FAST).add_user("bot", "service", "password-one")
    with pytest.raises(KeyFileError, match="role 'officer' opens dashboard pages only"):
        KeyStore(tmp_path / "keys.json").add("officer")
    assert not (tmp_path / "users.json").exists() and not (tmp_path / "keys.json").exists()


def test_a_key_given_by_the_operator_is_stored_hashed_and_authenticates(tmp_path):
    store = KeyStore(tmp_path / "keys.json")
    given = "f3" * 16
    record, secret = store.add("admin", "first key", secret=given)
    assert secret == given and record.role == "admin"
    assert store.authenticate(given) == record
    assert given not in (tmp_path / "keys.json").read_text()
    with pytest.raises(KeyFileError, match="stored already"):
        store.add("service", secret=given)
    for unfit in ("short-key", "x" * 257, "spaces are " + "x" * 30, "tab\t" + "x" * 30, "é" * 30):
        with pytest.raises(KeyFileError, match="24 to 256 visible ASCII characters without spaces"):
            store.add("service", secret=unfit)
    assert [k.id for k in store.keys()] == [record.id]


def test_the_readme_describes_the_one_table():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    rows = {m[1]: m[2] for m in re.finditer(r"^\| \*\*(\w+)\*\* \|(.*)$", readme, re.M)}
    assert list(rows) == list(ROLES)
    for role, row in rows.items():
        api = row.rsplit("|", 2)[-2]
        assert set(re.findall(r"`(\w+)`", api)) == set(GRANTS[role].permissions), role


def test_the_package_exports_each_public_name_of_its_modules_once():
    assert identity.__all__ == sorted(identity.__all__, key=lambda n: (not n.isupper(), not n[0].isupper(), n))
    modules = [m for name, m in vars(identity).items() if name.startswith("_") and hasattr(m, "__all__")]
    assert len(modules) == 6
    assert sorted(n for m in modules for n in m.__all__) == sorted(identity.__all__)
    for name in identity.__all__:
        assert getattr(identity, name) is not None


# -- the one file store ------------------------------------------------------------------------------------------

def _store(path: Path, error: type[Exception] = ConfigError) -> JsonFileStore:
    def check(record: dict) -> None:
        if not isinstance(record.get("name"), str):
            raise ValueError("a record lacks a name")

    return JsonFileStore(path, records="things", what="things file", error=error, repair="remove it", check=check)


def test_the_store_writes_a_private_file_whole(tmp_path):
    path = tmp_path / "state" / "things.json"
    store = _store(path)
    assert store.records() == []  # no file: no records
    with store.updating() as records:
        store.write([*records, {"name": "a"}])
    assert json.loads(path.read_text()) == {"format": 1, "things": [{"name": "a"}]}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)  # a file made readable by others is private again after the next write
    store.write([{"name": "b"}])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_the_store_reads_the_file_again_only_when_it_changed(tmp_path, monkeypatch):
    path = tmp_path / "things.json"
    reader, writer = _store(path), _store(path)  # e.g. the running API and the command line
    writer.write([{"name": "a"}])
    first = reader.records()
    assert first == [{"name": "a"}] and reader.records() is first  # unchanged: not parsed again
    writer.write([{"name": "a"}, {"name": "b"}])
    assert [r["name"] for r in reader.records()] == ["a", "b"]
    path.write_text(json.dumps({"format": 1, "things": [{"name": "edited by hand"}]}))
    assert reader.records() == [{"name": "edited by hand"}]
    path.unlink()
    assert reader.records() == []


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "things.json"
    store = _store(path, KeyFileError)
    store.write([{"name": "kept"}])

    def fail(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(KeyFileError, match="cannot write the things file .*No space left on device"):
        store.write([{"name": "lost"}])
    monkeypatch.undo()
    assert store.records() == [{"name": "kept"}]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["things.json"]


def test_a_reader_never_sees_half_a_file(tmp_path):
    path = tmp_path / "things.json"
    writer = _store(path)
    writer.write([{"name": "x" * 5000}])
    stop = threading.Event()

    def write_again() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            writer.write([{"name": str(n) * (1 + n % 4000)}])

    thread = threading.Thread(target=write_again)
    thread.start()
    try:
        for _ in range(300):
            assert json.loads(path.read_text())["format"] == 1  # the old file or the new one, whole
            assert _store(path).records()
    finally:
        stop.set()
        thread.join()


def test_writers_at_once_keep_every_change(tmp_path):
    path = tmp_path / "keys.json"

    def add_keys() -> None:
        store = KeyStore(path)  # one store per writer, as two ``keys add`` commands would have
        for _ in range(10):
            store.add("service")

    threads = [threading.Thread(target=add_keys) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(KeyStore(path).keys()) == 40


def test_a_damaged_file_raises_the_owners_error_with_the_repair(tmp_path):
    path = tmp_path / "things.json"
    path.write_text(json.dumps({"format": 1, "things": [{"id": 1}]}))
    with pytest.raises(KeyFileError, match=r"the things file .* cannot be read \(a record lacks a name\); remove it"):
        _store(path, KeyFileError).records()
    path.write_text("{ not json")
    with pytest.raises(ConfigError, match="cannot be read"):
        _store(path).records()


# -- files written by earlier versions ---------------------------------------------------------------------------

def test_a_users_file_of_an_earlier_version_loads_unchanged(tmp_path):
    path = tmp_path / "users.json"
    hashed = FAST.hash("password-of-ana")
    legacy = {"format": 1, "users": [
        {"created_at": "2024-05-01T09:00:00+00:00", "hash": hashed, "name": "ana", "role": "analyst"},
        {"created_at": "2024-05-02T09:00:00+00:00", "hash": FAST.hash("password-of-val"), "name": "val",
         "role": "validator"}]}
    path.write_text(json.dumps(legacy, indent=1, sort_keys=True))
    store = UserStore(path, hasher=FAST)
    assert [(u.name, u.role, u.created_at) for u in store.list_users()] == [
        ("ana", "analyst", "2024-05-01T09:00:00+00:00"), ("val", "validator", "2024-05-02T09:00:00+00:00")]
    assert store.authenticate("ana", "password-of-ana").role == "analyst"
    store.remove_user("val")  # a write keeps the format and the other entries as they were
    assert path.read_text() == json.dumps({"format": 1, "users": legacy["users"][:1]}, indent=1, sort_keys=True)


def test_a_keys_file_of_an_earlier_version_loads_unchanged(tmp_path):
    path = tmp_path / "api_keys.json"
    secrets = {"k_000000000001": "rk_the-service-key", "k_000000000002": "rk_the-viewer-key"}
    legacy = {"format": 1, "keys": [
        {"created_at": "2024-05-01T09:00:00+00:00", "id": "k_000000000001", "name": "billing", "revoked": False,
         "revoked_at": None, "role": "service", "sha256": hashlib.sha256(b"rk_the-service-key").hexdigest()},
        {"created_at": "2024-05-01T09:01:00+00:00", "id": "k_000000000002", "name": "", "revoked": False,
         "revoked_at": None, "role": "viewer", "sha256": hashlib.sha256(b"rk_the-viewer-key").hexdigest()}]}
    path.write_text(json.dumps(legacy, indent=1, sort_keys=True))
    store = KeyStore(path)
    assert [(k.id, k.role, k.name) for k in store.keys()] == [("k_000000000001", "service", "billing"),
                                                              ("k_000000000002", "viewer", "")]
    found = store.authenticate(secrets["k_000000000001"])
    assert found is not None and found.role == "service" and can_call(found.role, "score")
    revoked = store.revoke("k_000000000002")
    assert store.authenticate(secrets["k_000000000002"]) is None
    expected = legacy["keys"][1] | {"revoked": True, "revoked_at": revoked.revoked_at}
    assert path.read_text() == json.dumps({"format": 1, "keys": [legacy["keys"][0], expected]}, indent=1,
                                          sort_keys=True)


# -- identity settings, read in one place ------------------------------------------------------------------------

def test_identity_settings_come_from_the_settings_and_the_environment(tmp_path):
    settings = Settings(home=tmp_path / "home", session_idle_minutes=12)
    env = {"RISKCORE_OIDC_ISSUER": "https://idp.example.com", "RISKCORE_OIDC_AUDIENCE": "riskcore-api",
           "RISKCORE_OIDC_ROLE_MAP": "risk-ops=service"}
    found = IdentitySettings.from_settings(settings, env)
    assert found == IdentitySettings(users_file=tmp_path / "home" / "users.json", keys_file=settings.keys_file,
                                     session_key_file=tmp_path / "home" / "session.key", idle_minutes=12,
                                     oidc=OidcSettings("https://idp.example.com", "riskcore-api", "roles",
                                                       {"risk-ops": "service"}))
    assert found.keys_file == tmp_path / "home" / "api_keys.json"
    assert IdentitySettings.from_settings(settings, {}).oidc is None


def test_invalid_provider_settings_are_kept_as_a_problem_not_raised(tmp_path):
    env = {"RISKCORE_OIDC_ISSUER": "https://idp", "RISKCORE_OIDC_AUDIENCE": "a",
           "RISKCORE_OIDC_ROLE_MAP": "ops=officer"}  # a dashboard-only role cannot be an API role
    found = IdentitySettings.from_settings(Settings(home=tmp_path), env)
    assert found.oidc is None
    assert "must be claim-value=role with a role among admin, analyst, service, viewer" in found.oidc_problem
