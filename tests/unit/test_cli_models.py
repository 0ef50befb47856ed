"""``python -m riskcore models list | compare``: the registry's versions and the promotion gate's exit status."""

from __future__ import annotations

import json

import pytest
from samples import SEED

from riskcore.cli import main
from riskcore.config import TrainingConfig, load_settings
from riskcore.data.schema import DEMO_SPEC
from riskcore.modelling.tracking import Tracker


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A state folder with a registered logistic champion and a LightGBM challenger (not promoted)."""
    from riskcore.data.synth import generate_portfolio
    from riskcore.modelling.train import train

    folder = tmp_path_factory.mktemp("models_home")
    settings = load_settings(env={"RISKCORE_HOME": str(folder)})
    frame = generate_portfolio(800, seed=SEED).frame
    quick = {"n_iter": 1, "cv_folds": 2, "n_bootstrap": 200}
    versions = []
    for kind in ("logistic", "lightgbm"):
        result = train(frame, DEMO_SPEC, models_dir=settings.models_dir, tracker=Tracker.from_settings(settings),
                       config=TrainingConfig.quick(candidates=(kind,), **quick))
        versions.append(result.model_version)
    return folder, versions


@pytest.fixture
def env(home, tmp_path, monkeypatch):
    monkeypatch.setenv("RISKCORE_HOME", str(home[0]))
    config = tmp_path / "riskcore.toml"
    monkeypatch.setenv("RISKCORE_CONFIG", str(config))
    return config


def test_list_marks_the_champion(home, env, capsys):
    env.write_text("", encoding="utf-8")
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    champion, challenger = home[1]
    assert f"*        1  {champion}" in out and f"         2  {challenger}" in out


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
