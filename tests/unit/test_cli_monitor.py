"""``python -m riskcore monitor``: monitor.json, the printed summary, and exit statuses 0 / 1 / 2 (and 3, 4)."""

from __future__ import annotations

import json
import shutil

import pytest
from deliveries import Hook, free_port
from samples import SEED
from training_data import later_years_model

from riskcore.cli import main
from riskcore.config import load_settings
from riskcore.data.tabular import write_csv
from riskcore.modelling.bundle import write_json
from riskcore.modelling.tracking import Tracker


@pytest.fixture(scope="module")
def files(model_cache, tmp_path_factory):
    """A model trained once on 800 demo companies; the later years and their outcomes as CSV files."""
    folder = tmp_path_factory.mktemp("cli_monitor")
    result, portfolio = later_years_model(model_cache, folder, 800, 2, SEED)
    write_csv(portfolio.later.frame, folder / "later.csv")
    write_csv(portfolio.later.outcomes, folder / "outcomes.csv")
    return {"model": result.bundle_dir, "version": result.model_version, "later": folder / "later.csv",
            "outcomes": folder / "outcomes.csv", "n": len(portfolio.later.frame)}


@pytest.fixture
def env(tmp_path, monkeypatch, audit_url):
    """Own state folder and settings file for each test (the alert rules are read from it)."""
    monkeypatch.setenv("RISKCORE_HOME", str(tmp_path / "home"))
    config = tmp_path / "riskcore.toml"
    config.write_text("", encoding="utf-8")
    monkeypatch.setenv("RISKCORE_CONFIG", str(config))
    return config


def run(*args, capsys):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_failed_alert_exits_1_and_monitor_json_holds_the_promised_keys(files, env, tmp_path, capsys):
    out = tmp_path / "report"
    code, text, err = run("monitor", "--model", files["model"], "--data", files["later"], "--outcomes",
                          files["outcomes"], "--out", out, capsys=capsys)
    assert code == 1, err
    data = json.loads((out / "monitor.json").read_text(encoding="utf-8"))
    assert data["features"] and all({"name", "psi", "status", "p_value", "missing_share", "out_of_range_share"}
                                    <= set(f) for f in data["features"])
    assert {f["status"] for f in data["features"]} <= {"stable", "watch", "act"}
    assert {"psi", "status"} <= set(data["score"])
    assert {"default_rate", "auc", "auc_ci"} <= set(data["expected"]) and len(data["expected"]["auc_ci"]) == 2
    assert {"auc", "ece", "default_rate", "n"} <= set(data["realized"]) and data["realized"]["n"] == files["n"]
    assert data["grades"] and all({"grade", "n", "predicted_pd", "observed_rate", "traffic_light"} <= set(g)
                                  for g in data["grades"])
    assert all({"rule", "status", "detail"} <= set(a) for a in data["alerts"])
    assert any(a["rule"] == "feature_psi" and a["status"] == "fail" for a in data["alerts"])
    # the summary: scoring counts, alerts first (failed ones on top), then the features
    assert text.startswith(f"Scored {files['n']:,} of {files['n']:,} rows")
    assert text.index("Alerts:") < text.index("FAIL feature_psi") < text.index("Features, most drifted first")
    assert f"Wrote {out / 'monitor.json'}; monitoring run " in text
    assert (out / "summary.txt").exists() and "validating" in err
    runs = Tracker.from_settings(load_settings()).monitoring_runs(files["version"])
    assert len(runs) == 1 and runs.iloc[0]["run_id"] in text


def test_the_command_says_where_each_failed_alert_was_delivered(files, env, tmp_path, capsys):
    hook = Hook()
    try:
        env.write_text(f'[alerts.delivery]\nbackoff_seconds = 0.01\n[[alerts.delivery.webhook]]\nurl = "{hook.url}"\n'
                       f'name = "risk-hook"\n[[alerts.delivery.webhook]]\nurl = "http://127.0.0.1:{free_port()}/"\n'
                       'name = "nobody"\n', encoding="utf-8")
        code, text, err = run("monitor", "--model", files["model"], "--data", files["later"], "--outcomes",
                              files["outcomes"], "--out", tmp_path / "r", "--no-mlflow", capsys=capsys)
    finally:
        hook.close()
    assert code == 1, err
    failing = sorted(a["rule"] for a in json.loads((tmp_path / "r" / "monitor.json").read_text())["alerts"]
                     if a["status"] == "fail")
    assert sorted(r.json["riskcore"]["rule"] for r in hook.requests) == failing
    said = text.split("Alerts delivered:\n", 1)[1].splitlines()
    assert sorted(line for line in said if "risk-hook" in line) == sorted(
        f"  fail  {rule} -> risk-hook: sent (1 attempt)" for rule in failing)
    assert sorted(line for line in said if "nobody" in line) == sorted(
        f"  fail  {rule} -> nobody: FAILED: the webhook cannot be reached: the connection was refused (gave up after "
        "3 attempts)" for rule in failing)


def test_no_failed_alert_exits_0_and_no_mlflow_logs_nothing(files, env, tmp_path, capsys):
    env.write_text("[alerts]\nfeature_psi = 50.0\nfeature_psi_warn = 40.0\nscore_psi = 5.0\n", encoding="utf-8")
    code, text, err = run("monitor", "--model", files["model"], "--data", files["later"], "--out", tmp_path / "r",
                          "--no-mlflow", capsys=capsys)
    assert code == 0, err
    data = json.loads((tmp_path / "r" / "monitor.json").read_text(encoding="utf-8"))
    assert data["realized"] is None and not any(a["status"] == "fail" for a in data["alerts"])
    assert "monitoring run" not in text
    assert Tracker.from_settings(load_settings()).monitoring_runs().empty


@pytest.mark.parametrize("what", ["missing-data", "empty-data", "outcomes-without-columns"])
def test_unusable_input_exits_2(files, env, tmp_path, capsys, what):
    data, outcomes = files["later"], None
    if what == "missing-data":
        data = tmp_path / "nowhere.csv"
    elif what == "empty-data":
        data = tmp_path / "empty.csv"
        data.write_text("", encoding="utf-8")
    else:
        outcomes = tmp_path / "outcomes.csv"
        outcomes.write_text("name,score\nA,1\n", encoding="utf-8")
    args = ["monitor", "--model", files["model"], "--data", data, "--out", tmp_path / "r"]
    if outcomes is not None:
        args += ["--outcomes", outcomes]
    code, _, err = run(*args, capsys=capsys)
    assert code == 2 and "\nerror: " in "\n" + err and "Traceback" not in err
    assert not (tmp_path / "r" / "monitor.json").exists()


def test_an_invalid_alert_setting_exits_3(files, env, tmp_path, capsys):
    env.write_text("[alerts]\nece_warn = 0.5\n", encoding="utf-8")
    code, _, err = run("monitor", "--model", files["model"], "--data", files["later"], "--out", tmp_path / "r",
                       capsys=capsys)
    assert code == 3 and "ece_warn=0.5 must be between 0 and ece=0.02" in err


def test_a_model_without_a_reference_profile_exits_4_and_says_to_retrain(files, env, tmp_path, capsys):
    old = tmp_path / "old"
    shutil.copytree(files["model"], old)
    (old / "reference.json").unlink()
    manifest = json.loads((old / "manifest.json").read_text(encoding="utf-8"))
    del manifest["files"]["reference.json"]
    write_json(old / "manifest.json", manifest)
    code, _, err = run("monitor", "--model", old, "--data", files["later"], "--out", tmp_path / "r", capsys=capsys)
    assert code == 4 and "retrain it (python -m riskcore train)" in err


def test_the_model_can_be_named_by_its_version(files, env, tmp_path, capsys, monkeypatch):
    home = tmp_path / "home"
    shutil.copytree(files["model"], home / "models" / files["version"])
    out = tmp_path / "by_version"
    code, text, err = run("monitor", "--model", files["version"], "--data", files["later"], "--out", out,
                          "--no-mlflow", capsys=capsys)
    assert code in (0, 1), err
    assert json.loads((out / "monitor.json").read_text(encoding="utf-8"))["model_version"] == files["version"]
    code, _, err = run("monitor", "--model", "no-such-version", "--data", files["later"], "--out", out,
                       "--no-mlflow", capsys=capsys)
    assert code == 4 and "no-such-version" in err


def test_monitoring_from_the_audit_trail_after_scoring(files, env, tmp_path, capsys):
    code, _, err = run("score", "--model", files["model"], "--input", files["later"], "--output",
                       tmp_path / "scored.csv", capsys=capsys)
    assert code == 0, err
    out = tmp_path / "from_audit"
    code, text, err = run("monitor", "--model", files["model"], "--from-audit", "--since", "2000-01-01", "--out", out,
                          "--no-mlflow", capsys=capsys)
    assert code in (0, 1), err
    data = json.loads((out / "monitor.json").read_text(encoding="utf-8"))
    assert data["n"] == files["n"] and data["source"].startswith("audit trail")
    code, _, err = run("monitor", "--model", files["model"], "--from-audit", "--since", "2999-01-01", "--out", out,
                       capsys=capsys)
    assert code == 2 and "no score of model" in err
