"""Separation of duties: the person who trained a version cannot promote it; an override is on record."""

from __future__ import annotations

import pytest
from models import CHALLENGER_TRAINER, champion_and_challenger

from riskcore.config import PromotionRules, Settings
from riskcore.lifecycle import promote
from riskcore.lifecycle.versions import person, same_person
from riskcore.modelling.tracking import Tracker
from riskcore.serving.audit import AuditLog

RULES = PromotionRules(max_ece=1.0, max_red_grades=100, cost_margin=0.99)  # every challenger passes the gate


@pytest.fixture(scope="module")
def trained(model_cache):
    """A state with a champion, and a challenger alice trained (tests/models.py: made once per run)."""
    state = champion_and_challenger(model_cache)
    return state, state.results["challenger"]


@pytest.fixture
def home(trained, tmp_path):
    """This test's copy of the state folder (its registry pointing at its own bundles) and the challenger."""
    state, challenger = trained
    settings = Settings(home=tmp_path / "home", promotion=RULES)
    state.copy_to(settings.home)
    return settings, challenger


def test_the_trainer_is_recorded_with_the_model(home):
    _, challenger = home
    assert challenger.metrics["model"]["trained_by"] == CHALLENGER_TRAINER == "dashboard:alice"


def test_the_person_who_trained_it_cannot_promote_it(home):
    settings, challenger = home
    move = promote(settings, challenger.model_version, reason="mine is better", actor="cli:alice")
    assert not move.moved and "separation of duties" in move.message and "alice" in move.message
    assert Tracker.from_settings(settings).champion().model_version != challenger.model_version
    assert AuditLog.from_settings(settings).moves() == []


def test_an_override_with_a_reason_is_on_record(home):
    settings, challenger = home
    move = promote(settings, challenger.model_version, reason="committee approved, only alice on call",
                   actor="dashboard:alice", override=True)
    assert move.moved
    entry = AuditLog.from_settings(settings).moves()[-1]
    assert (entry.event, entry.overrode, entry.actor) == ("override", "duties", "dashboard:alice")
    assert AuditLog.from_settings(settings).verify().ok


def test_another_person_promotes_it_as_usual(home):
    settings, challenger = home
    move = promote(settings, challenger.model_version, reason="reviewed", actor="cli:bob")
    assert move.moved and AuditLog.from_settings(settings).moves()[-1].event == "promote"


@pytest.mark.parametrize(("actor", "trainer", "same"), [
    ("cli:alice", "dashboard:Alice", True), ("cli:alice", "cli:bob", False), ("dashboard", "dashboard", False),
    ("cli:unknown", "cli:unknown", False), ("cli:alice", None, False), ("alice", "cli:alice", False)])
def test_who_counts_as_the_same_person(actor, trainer, same):
    assert same_person(actor, trainer) is same
    assert person("dashboard:alice") == "alice"
