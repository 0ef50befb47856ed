"""What a server scores with: the canary's stable hash, how often it looks, a pinned bundle that changes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import binomtest

from riskcore.config import ServingRules, Settings
from riskcore.errors import ConfigError
from riskcore.modelling.bundle import load_bundle
from riskcore.serving.server import PINNED_CHANGED, ModelServer, in_canary

IDS = [f"company-{i}" for i in range(2000)]
ROOT = Path(__file__).resolve().parents[2]


def test_canary_assignment_is_the_same_in_another_process():
    here = [in_canary(i, 0.1) for i in IDS]
    code = ("import json, sys; from riskcore.serving.server import in_canary; "
            "print(json.dumps([in_canary(i, 0.1) for i in json.load(sys.stdin)]))")
    # a fresh interpreter with another hash seed: Python's own hash() would differ, SHA-256 does not
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(IDS), capture_output=True, text=True,
                         check=True, env={"PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert json.loads(out.stdout) == here


def test_canary_share_is_the_share_asked_for():
    chosen = sum(in_canary(i, 0.1) for i in IDS)
    assert binomtest(chosen, len(IDS), 0.1).pvalue > 1e-4
    assert not any(in_canary(i, 0.0) for i in IDS)


@given(st.text(max_size=40), st.floats(0, 0.5), st.floats(0, 0.5))
def test_a_company_in_a_smaller_canary_stays_in_a_larger_one(company_id, a, b):
    low, high = sorted((a, b))
    assert not in_canary(company_id, low) or in_canary(company_id, high)


def test_serving_rules_are_checked():
    with pytest.raises(ConfigError, match="canary_share needs a challenger"):
        ServingRules(canary_share=0.1)
    with pytest.raises(ConfigError, match="canary_share"):
        ServingRules(challenger="x", canary_share=0.9)


@pytest.fixture
def pinned(lgbm_bundle, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(lgbm_bundle.path, copy)
    return load_bundle(copy)


def test_the_server_looks_again_only_when_check_seconds_have_passed(pinned, tmp_path, monkeypatch):
    now = [0.0]
    server = ModelServer(Settings(home=tmp_path, serving=ServingRules(check_seconds=5)), pinned=pinned,
                         clock=lambda: now[0])
    looks = []
    choose = server._choose
    monkeypatch.setattr(server, "_choose", lambda: looks.append(now[0]) or choose())
    assert server.current().status == "ok"
    now[0] = 4.9
    server.current()
    assert server.due() is False
    now[0] = 5.0
    assert server.due() is True
    server.current()
    server.refresh()
    assert looks == [0.0, 5.0, 5.0]


def test_a_pinned_bundle_that_changes_on_disk_is_no_longer_served(pinned, tmp_path):
    server = ModelServer(Settings(home=tmp_path, serving=ServingRules(check_seconds=0)), pinned=pinned)
    assert server.current().bundle is pinned
    metrics = pinned.path / "metrics.json"
    text = metrics.read_text(encoding="utf-8")
    metrics.write_text(text + " ", encoding="utf-8")
    served = server.current()
    assert (served.bundle, served.status, served.reason) == (None, "unavailable", PINNED_CHANGED)
    metrics.write_text(text, encoding="utf-8")
    assert server.current().bundle is pinned  # verified again, not reloaded


def test_a_folder_that_does_not_load_yet_is_served_once_it_does(lgbm_bundle, tmp_path):
    folder = tmp_path / "later"
    server = ModelServer(Settings(home=tmp_path, serving=ServingRules(check_seconds=0)), pinned=folder)
    assert server.current().status == "unavailable"
    shutil.copytree(lgbm_bundle.path, folder)
    served = server.current()
    assert served.status == "ok" and served.version == lgbm_bundle.version
    assert np.isclose(served.bundle.threshold, lgbm_bundle.threshold)
