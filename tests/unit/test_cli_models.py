"""``python -m riskcore models list | compare``: the registry's versions and the promotion gate's exit status.

The state is kept in SQLite files in the state folder, and again in PostgreSQL databases (the experiment store
and the audit trail, see tests/databases.py): the promotion ledger and the registry's aliases on both.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from databases import BACKENDS, Database, new_database
from models import champion_and_challenger, panel_runs

from riskcore.cli import main
from riskcore.config import load_settings
from riskcore.modelling.tracking import Tracker


def _stores(backend: str, folder: Path) -> tuple[dict[str, str], list[Database]]:
    """The environment that puts the experiment store and the audit trail on ``backend``, and their databases.

    SQLite: nothing to set, the state folder holds both files. PostgreSQL: a fresh database for each.
    """
    if backend == "sqlite":
        return {}, []
    databases = [new_database(backend, folder, "mlflow"), new_database(backend, folder, "audit")]
    return {"MLFLOW_TRACKING_URI": databases[0].url, "RISKCORE_AUDIT_URL": databases[1].url}, databases


@pytest.fixture(scope="module", params=BACKENDS)
def home(request, model_cache, tmp_path_factory) -> Iterator[tuple[Path, list[str], str, dict[str, str]]]:
    """A state with a registered logistic champion and a LightGBM challenger (not promoted).

    (state folder, the two model versions, the back end, the environment variables of its stores). The
    SQLite state is a copy of the one the run shares (tests/models.py); on PostgreSQL the same two cached
    runs are logged and registered in fresh databases.
    """
    state = champion_and_challenger(model_cache)
    folder = tmp_path_factory.mktemp("models_home")
    urls, databases = _stores(request.param, folder)
    if request.param == "sqlite":
        folder = state.copy_to(folder / "home").folder
    else:
        settings = load_settings(env={"RISKCORE_HOME": str(folder), **urls})
        for run in panel_runs(model_cache).values():  # the champion first
            run.register(Tracker.from_settings(settings), settings.models_dir)
    versions = [state.results[name].model_version for name in ("champion", "challenger")]
    yield folder, versions, request.param, urls
    for db in databases:
        db.drop()


@pytest.fixture
def env(home, tmp_path, monkeypatch):
    """The commands' environment: the state folder, its stores and a config file (``env``) the test writes."""
    monkeypatch.setenv("RISKCORE_HOME", str(home[0]))
    for name, url in home[3].items():
        monkeypatch.setenv(name, url)
    config = tmp_path / "riskcore.toml"
    monkeypatch.setenv("RISKCORE_CONFIG", str(config))
    return config


@pytest.fixture
def audit(home, env, tmp_path, monkeypatch) -> Iterator[Database]:
    """A fresh audit trail on the state's back end, set as the commands' ``RISKCORE_AUDIT_URL`` (after ``env``)."""
    db = new_database(home[2], tmp_path)
    monkeypatch.setenv("RISKCORE_AUDIT_URL", db.url)
    yield db
    db.drop()


@pytest.fixture(params=BACKENDS)
def empty_state(request, tmp_path, monkeypatch) -> Iterator[str]:
    """An empty state folder whose stores are SQLite files, or fresh PostgreSQL databases; the back end."""
    urls, databases = _stores(request.param, tmp_path)
    monkeypatch.setenv("RISKCORE_HOME", str(tmp_path / "empty"))
    for name, url in {"RISKCORE_AUDIT_URL": "sqlite:///" + str(tmp_path / "audit.db"), **urls}.items():
        monkeypatch.setenv(name, url)
    yield request.param
    for db in databases:
        db.drop()


def test_list_marks_the_champion(home, env, capsys):
    env.write_text("", encoding="utf-8")
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    champion, challenger = home[1]
    assert f"*        1  {champion}" in out and f"2  {challenger}" in out  # the challenger: not the champion


@pytest.mark.parametrize("rules, status", [("max_ece = 1.0\nmax_red_grades = 10\ncost_margin = 0.99\n", 0),
                                           ("max_ece = 0.000001\n", 1)])
def test_compare_exits_by_the_gate_and_writes_the_report(home, env, tmp_path, capsys, rules, status):
    env.write_text("[promotion]\n" + rules, encoding="utf-8")
    out = tmp_path / "cmp"
    assert main(["models", "compare", home[1][1], "--out", str(out)]) == status
    text = capsys.readouterr().out
    assert ("PASSES" if status == 0 else "FAILS") in text
    report = json.loads((out / "comparison.json").read_text(encoding="utf-8"))
    assert report["challenger_version"] == home[1][1] and report["gate"]["passed"] is (status == 0)
    assert {"ece", "grades", "red_grades"} <= set(report["challenger"])
    assert len(report["digest"]) == 64


def test_an_unknown_challenger_exits_4(home, env, capsys):
    env.write_text("", encoding="utf-8")
    assert main(["models", "compare", "no-such-model"]) == 4
    assert "no-such-model" in capsys.readouterr().err


def test_promote_through_the_gate_override_rollback_and_history(home, env, audit, capsys):
    """One life cycle, each move in the ledger and in the chain; the registry's aliases follow."""
    from riskcore.serving.audit import AuditLog

    champion, challenger = home[1]
    audit_url = audit.url
    env.write_text("[promotion]\nmax_ece = 0.000001\n", encoding="utf-8")  # a gate no model passes
    assert load_settings().resolved_tracking_uri.startswith(home[2])  # the commands use the state's back end
    assert main(["models", "promote", challenger, "--reason", "better ranking"]) == 1
    assert "the champion stays" in capsys.readouterr().out
    assert AuditLog(audit_url).moves() == []
    assert main(["models", "promote", challenger, "--reason", "committee approved", "--override"]) == 0
    assert "overruling a failed gate (was" in capsys.readouterr().out
    tracker = Tracker.from_settings(load_settings())
    assert tracker.champion().model_version == challenger
    assert main(["models", "list"]) == 0
    listed = capsys.readouterr().out
    assert f"*        2  {challenger}" in listed and f"-        1  {champion}" in listed
    assert main(["models", "rollback", "--reason", "exposure review pending"]) == 0
    assert f"rolled back to {champion}" in capsys.readouterr().out
    assert tracker.champion().model_version == champion
    moves = AuditLog(audit_url).moves()
    assert [(m.event, m.from_version, m.to_version) for m in moves] == [("override", champion, challenger),
                                                                        ("rollback", challenger, champion)]
    assert moves[0].gate_digest and moves[0].reason == "committee approved" and moves[0].actor.startswith("cli:")
    assert AuditLog(audit_url).verify().ok
    assert main(["models", "history"]) == 0
    history = capsys.readouterr().out
    assert "override" in history and "rollback" in history and "exposure review pending" in history
    version = tracker.client.get_model_version(tracker.model_name, "2")
    assert version.tags["move_event"] == "override" and version.tags["moved_by"].startswith("cli:")
    assert audit.sql("SELECT count(*) FROM audit_requests WHERE source = 'ledger'") == [(2,)]


def test_a_rollback_without_a_previous_champion_says_so(empty_state, capsys):
    assert main(["models", "rollback", "--reason", "x"]) == 4
    assert "no previous champion" in capsys.readouterr().err


def test_a_move_needs_a_reason(home, env, capsys):
    env.write_text("", encoding="utf-8")
    assert main(["models", "promote", home[1][1], "--reason", "  "]) == 3
    assert "needs a reason" in capsys.readouterr().err
