"""A challenger against the champion on the same rows: which rows, both models' scores, and the gate."""

from __future__ import annotations

import pytest
from models import demo_panel, panel_runs, quick

from riskcore.config import Costs, PromotionRules
from riskcore.errors import MissingColumnError, SchemaError
from riskcore.lifecycle import compare_versions
from riskcore.modelling.bundle import load_bundle
from riskcore.serving.scoring import score_frame


@pytest.fixture(scope="module")
def models(model_cache, tmp_path_factory):
    """A logistic champion and a LightGBM challenger on the same 800-company panel; a third on fewer years."""
    folder = tmp_path_factory.mktemp("versions")
    frame = demo_panel(model_cache).frame
    runs = {**panel_runs(model_cache),
            "earlier": model_cache.train(frame[frame["fiscal_year"] <= frame["fiscal_year"].max() - 2],
                                         quick("logistic"))}
    found = {name: load_bundle(run.copy_to(folder / "models").bundle_dir) for name, run in runs.items()}
    return {**found, "frame": frame, "folder": folder}


def test_by_default_both_are_judged_on_the_challengers_test_rows(models):
    champion, challenger = models["champion"], models["challenger"]
    found = compare_versions(champion, challenger, costs=Costs())
    test = challenger.holdout().query("part == 'test'")
    report = found.comparison.as_dict()
    assert report["rows"] == len(test) and report["defaults"] == int(test["y"].sum())
    assert found.rows_from.startswith("the challenger's test rows")
    # each model's PDs are its own scores of those rows
    p_champion = score_frame(champion, test.reset_index(drop=True), passthrough=False).scores["p_default"]
    assert report["auc"]["auc_champion"] == pytest.approx(
        __import__("sklearn.metrics").metrics.roc_auc_score(test["y"], p_champion), abs=1e-12)
    assert report["thresholds"] == {"champion": champion.threshold, "challenger": challenger.threshold}
    assert "Promotion gate:" in found.summary() and "DeLong" in found.summary()


def test_a_champion_that_trained_on_the_rows_is_not_judged_on_them(models):
    with pytest.raises(SchemaError, match="among the champion's training periods"):
        compare_versions(models["champion"], models["earlier"], costs=Costs())


def test_a_file_with_outcomes_and_the_gate_it_decides(models, tmp_path):
    frame = models["frame"]
    last = frame[frame["fiscal_year"] == frame["fiscal_year"].max()]
    path = tmp_path / "rows.csv"
    last.to_csv(path, index=False)
    strict = compare_versions(models["champion"], models["challenger"], costs=Costs(), data=str(path),
                              rules=PromotionRules(max_ece=1e-6))
    assert not strict.comparison.passed  # no model is calibrated to 1e-6
    lenient = compare_versions(models["champion"], models["champion"], costs=Costs(), data=str(path),
                               rules=PromotionRules(max_ece=1.0, max_red_grades=10))
    assert lenient.comparison.passed  # the same model costs the same
    assert lenient.comparison.as_dict()["cost"]["difference"] == 0
    last.drop(columns=["default_12m"]).to_csv(path, index=False)
    with pytest.raises(MissingColumnError, match="no outcome column 'default_12m'"):
        compare_versions(models["champion"], models["challenger"], costs=Costs(), data=str(path))
