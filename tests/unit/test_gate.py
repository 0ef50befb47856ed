"""The promotion gate: not worse on cost with 95 % confidence, and calibrated; the report's digest."""

from __future__ import annotations

import numpy as np
import pytest

from riskcore.config import Costs, PromotionRules, load_settings
from riskcore.errors import ConfigError
from riskcore.evaluation.gate import compare_models, evaluate_gate


def _figures(high: float, champion_cost: float = 1_000_000.0, ece: float = 0.01, red: int = 0) -> dict:
    return {"cost": {"cost_champion": champion_cost, "difference": high / 2, "high": high},
            "challenger": {"ece": ece, "red_grades": red}}


@pytest.mark.parametrize("high, margin, passed", [(-1.0, 0.0, True), (0.0, 0.0, True), (1.0, 0.0, False),
                                                   (9_999.0, 0.01, True), (10_001.0, 0.01, False)])
def test_cost_check_holds_the_upper_bound_to_the_margin(high, margin, passed):
    cost, _ = evaluate_gate(_figures(high), PromotionRules(cost_margin=margin))
    assert cost.passed is passed
    assert ("may cost more" in cost.detail) is (not passed)


@pytest.mark.parametrize("ece, red, passed", [(0.02, 0, True), (0.0201, 0, False), (0.01, 1, False)])
def test_calibration_check(ece, red, passed):
    _, calibration = evaluate_gate(_figures(-1.0, ece=ece, red=red), PromotionRules())
    assert calibration.passed is passed


def _calibrated(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Outcomes and PDs that are calibrated by construction (the PD is the truth seen through noise, recalibrated)."""
    z = rng.normal(size=n)
    truth = 1 / (1 + np.exp(-(-2.8 + 1.2 * z)))
    y = (rng.random(n) < truth).astype(int)
    return y, truth if noise == 0 else 1 / (1 + np.exp(-(-2.8 + 1.2 * (z + rng.normal(0, noise, n)) / np.sqrt(
        1 + noise**2))))


def test_a_sharper_model_passes_and_a_blunter_one_fails_on_cost():
    rng = np.random.default_rng(8)
    y, sharp = _calibrated(20_000, 0.0, rng)
    z_blunt = 1 / (1 + np.exp(-(-2.8 + 0.4 * rng.normal(size=20_000))))  # nearly uninformative
    better = compare_models(y, z_blunt, sharp, threshold_champion=0.1, threshold_challenger=0.1, costs=Costs())
    assert better.as_dict()["auc"]["difference"] > 0
    assert next(c for c in better.checks if c.name == "cost").passed
    worse = compare_models(y, sharp, z_blunt, threshold_champion=0.1, threshold_challenger=0.1, costs=Costs())
    assert not next(c for c in worse.checks if c.name == "cost").passed
    assert not worse.passed


def test_the_report_and_its_digest_are_reproducible():
    rng = np.random.default_rng(9)
    y, p = _calibrated(3000, 0.5, rng)
    q = np.clip(p * 1.1, 0, 1)
    kw = {"threshold_champion": 0.1, "threshold_challenger": 0.1, "costs": Costs(), "random_state": 3}
    one, two = compare_models(y, p, q, **kw), compare_models(y, p, q, **kw)
    assert one.digest() == two.digest() and len(one.digest()) == 64
    report = one.as_dict()
    assert {"rows", "defaults", "auc", "cost", "swap", "score_psi", "champion", "challenger", "gate"} <= set(report)
    assert report["gate"]["passed"] == one.passed


def test_promotion_rules_are_read_from_the_settings_file(tmp_path):
    config = tmp_path / "riskcore.toml"
    config.write_text("[promotion]\ncost_margin = 0.02\nmax_ece = 0.03\n", encoding="utf-8")
    rules = load_settings(config, env={}).promotion
    assert (rules.cost_margin, rules.max_ece, rules.cost_confidence) == (0.02, 0.03, 0.95)
    config.write_text("[promotion]\ncost_confidence = 1.5\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[promotion\] in .*cost_confidence=1.5 must be in"):
        load_settings(config, env={})
    config.write_text("[promotion]\ncost_margn = 0.1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown promotion settings"):
        load_settings(config, env={})
