"""The key store (hashed, constant-time, reloaded on change) and ``python -m api``."""

from __future__ import annotations

import json
import stat
import subprocess
import sys

import pytest

from api.__main__ import main
from riskcore.errors import ConfigError
from riskcore.identity import KeyFileError, KeyStore


def test_keys_are_stored_hashed_and_never_in_clear(tmp_path):
    store = KeyStore(tmp_path / "keys.json")
    record, secret = store.add("service", "billing")
    assert secret.startswith("rk_") and len(secret) > 40
    text = (tmp_path / "keys.json").read_text()
    assert secret not in text
    entry = json.loads(text)["keys"][0]
    assert set(entry) == {"id", "name", "role", "created_at", "revoked", "revoked_at", "sha256"}
    assert (entry["id"], entry["role"], entry["name"], entry["revoked"]) == (record.id, "service", "billing", False)
    assert stat.S_IMODE((tmp_path / "keys.json").stat().st_mode) == 0o600
    assert store.authenticate(secret) == record
    assert store.authenticate(secret + "x") is None
    assert store.authenticate("") is None


def test_two_keys_of_the_same_role_are_distinct(tmp_path):
    store = KeyStore(tmp_path / "keys.json")
    (a, sa), (b, sb) = store.add("viewer"), store.add("viewer")
    assert a.id != b.id and sa != sb
    assert store.authenticate(sa).id == a.id and store.authenticate(sb).id == b.id


def test_a_running_store_sees_a_revocation_made_elsewhere(tmp_path):
    server = KeyStore(tmp_path / "keys.json")
    record, secret = KeyStore(tmp_path / "keys.json").add("admin")
    assert server.authenticate(secret) is not None
    revoked = KeyStore(tmp_path / "keys.json").revoke(record.id)
    assert revoked.revoked and revoked.revoked_at
    assert server.authenticate(secret) is None
    assert [k.revoked for k in server.keys()] == [True]


def test_unknown_role_and_unknown_id_and_damaged_file(tmp_path):
    store = KeyStore(tmp_path / "keys.json")
    with pytest.raises(KeyFileError, match="role 'boss' is unknown"):
        store.add("boss")
    store.add("viewer")
    with pytest.raises(KeyFileError, match="no API key has the id 'k_nope'"):
        store.revoke("k_nope")
    (tmp_path / "keys.json").write_text('{"keys": [{"id": 1}]}')
    with pytest.raises(KeyFileError, match="cannot be read"):
        store.keys()


def test_a_missing_file_means_no_keys(tmp_path):
    store = KeyStore(tmp_path / "none" / "keys.json")
    assert store.keys() == []
    assert store.authenticate("rk_anything") is None


# -- python -m api -----------------------------------------------------------------

@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("RISKCORE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RISKCORE_CONFIG", raising=False)
    return tmp_path / "home"


def test_cli_add_list_revoke(home, capsys):
    assert main(["keys", "add", "--role", "service", "--name", "billing"]) == 0
    out = capsys.readouterr().out
    secret = out.strip().splitlines()[-1]
    assert secret.startswith("rk_")
    store = KeyStore(home / "api_keys.json")
    key = store.authenticate(secret)
    assert key is not None and key.role == "service" and key.name == "billing"

    assert main(["keys", "list"]) == 0
    listing = capsys.readouterr().out
    assert key.id in listing and "active" in listing and secret not in listing

    assert main(["keys", "revoke", key.id]) == 0
    assert "revoked" in capsys.readouterr().out
    assert store.authenticate(secret) is None
    assert main(["keys", "list"]) == 0
    assert "revoked" in capsys.readouterr().out


def test_cli_bad_input_exits_cleanly(home, capsys):
    assert main(["keys", "revoke", "k_missing"]) == 1
    err = capsys.readouterr().err
    assert "no API key has the id 'k_missing'" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as exc:
        main(["keys", "add", "--role", "boss"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
    assert main(["--port", "70000"]) == 2
    assert main(["serve", "--workers", "0"]) == 2
    home.mkdir(parents=True, exist_ok=True)
    (home / "api_keys.json").write_text("{ damaged")
    assert main(["keys", "list"]) == 1
    assert "cannot be read" in capsys.readouterr().err


def test_cli_bad_settings_exit_cleanly(home, tmp_path, monkeypatch, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("api_rate_limit = 0\n")
    monkeypatch.setenv("RISKCORE_CONFIG", str(bad))
    assert main(["keys", "list"]) == ConfigError.exit_status == 3
    assert "api_rate_limit" in capsys.readouterr().err


@pytest.mark.parametrize("argv,expected", [
    ([], {"host": "127.0.0.1", "port": 8000, "workers": 1}),
    (["--port", "9000", "--workers", "2"], {"host": "127.0.0.1", "port": 9000, "workers": 2}),
    (["serve", "--host", "0.0.0.0", "--port", "9001"], {"host": "0.0.0.0", "port": 9001, "workers": 1}),
    (["--port", "9002", "serve"], {"host": "127.0.0.1", "port": 9002, "workers": 1}),
])
def test_serve_runs_uvicorn_with_the_app_factory(monkeypatch, argv, expected):
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    assert main(argv) == 0
    app, kw = calls[0]
    assert app == "api.app:create_app" and kw["factory"] is True
    assert {k: kw[k] for k in expected} == expected


def test_python_m_api_help_runs():
    out = subprocess.run([sys.executable, "-m", "api", "keys", "--help"], capture_output=True, text=True, check=True)
    assert "add" in out.stdout and "revoke" in out.stdout
