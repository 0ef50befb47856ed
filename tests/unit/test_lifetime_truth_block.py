"""The demo's known truth in the training's lifetime block: against_truth itself, its summary, the report's table."""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd
import pytest

from riskcore.data.demo_truth import demo_lifetime_truth
from riskcore.data.schema import DEMO_SPEC
from riskcore.evaluation.lifetime import PanelOutcomes, against_truth, grade_hazards, lifetime_curves, migration_matrix
from riskcore.lifecycle.report.markup import Numbers
from riskcore.lifecycle.report.sections.lifetime import lifetime_section
from riskcore.modelling.demo import write_demo_data
from riskcore.modelling.lifetime_backtest import SUMMARY_MIN_COMPANIES, lifetime_block, truth_block

YEARS, PATHS = 4, 8
_DATA = re.compile(r'<data class="m" value="([^"]*)" data-key="([^"]*)">')


def _p_of(rows: pd.DataFrame) -> np.ndarray:
    """A stand-in for the model's calibrated PD: the true PD, a little off."""
    return np.clip(0.8 * rows["true_pd"].to_numpy(dtype=float) + 0.004, 0.0, 1.0)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A small demo on disk, its known truth made again from the manifest, and a block trained on its early years."""
    files = write_demo_data(tmp_path_factory.mktemp("truth") / "demo.csv", companies=300, seed=5)
    truth = demo_lifetime_truth(files.portfolio, YEARS, n_paths=PATHS)
    assert truth is not None
    frame = pd.read_csv(files.portfolio).drop_duplicates([DEMO_SPEC.id, DEMO_SPEC.time]).reset_index(drop=True)
    train = np.flatnonzero(frame[DEMO_SPEC.time].to_numpy() <= files.manifest.last_year - 2)
    y = frame[DEMO_SPEC.target].to_numpy()
    block = lifetime_block(_p_of, frame, y, train, DEMO_SPEC, years=YEARS, truth=truth, truth_paths=PATHS)
    return files, truth, frame, train, block


def test_the_block_is_against_truth_at_the_last_year_with_the_training_term_structures(demo):
    files, truth, frame, train, block = demo
    known = block["truth"]
    rows = frame.iloc[train]
    panel = PanelOutcomes(rows[DEMO_SPEC.id].astype(str).to_numpy(), rows[DEMO_SPEC.time].to_numpy(np.int64),
                          _p_of(rows), rows[DEMO_SPEC.target].to_numpy(np.int64))
    last = frame[frame[DEMO_SPEC.time] == files.manifest.last_year].set_index(DEMO_SPEC.id).loc[truth[DEMO_SPEC.id]]
    expected = against_truth(_p_of(last), truth[[f"true_cum_pd_{k}" for k in range(1, YEARS + 1)]].to_numpy(),
                             hazards=grade_hazards(panel, YEARS), migration=migration_matrix(panel))
    got = pd.DataFrame(known["by_grade"])
    assert list(got.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(got, expected.astype({"hazard_error": float, "migration_error": float}),
                                  check_dtype=False)
    assert known["year"] == files.manifest.last_year and known["years"] == YEARS and known["paths"] == PATHS
    assert known["companies"] == len(truth) and known["training_rows"] == 0  # the last year is held out
    judged = expected[(expected["year"] == 3) & (expected["companies"] >= SUMMARY_MIN_COMPANIES)]
    summary = known["summary"]
    assert summary["year"] == 3 and summary["grades"] == len(judged)
    for method in ("hazard", "migration"):
        mean = judged[f"{method}_error"].abs().mean() if len(judged) else None
        assert summary[f"{method}_error"] == (pytest.approx(mean) if mean is not None else None)


def test_the_better_method_is_the_one_nearer_the_truth():
    rng = np.random.default_rng(4)
    ids = np.array([f"C{i:05d}" for i in range(600)])
    p = rng.choice([0.012, 0.03, 0.08], size=600)
    periods = np.repeat(np.arange(2015, 2021), 100)
    panel = PanelOutcomes(ids, periods, p, (rng.random(600) < p).astype(np.int64))
    hazards, migration = grade_hazards(panel, 3), migration_matrix(panel)
    # a truth that is the migration method's own curve: that method is exact, the hazard method is not
    exact = lifetime_curves(p, 3, "migration", hazards=hazards, migration=migration).cumulative
    truth = pd.DataFrame({DEMO_SPEC.id: ids, DEMO_SPEC.time: 2020,
                          **{f"true_cum_pd_{k + 1}": exact[:, k] for k in range(3)}})
    known = truth_block(p, ids, truth, DEMO_SPEC, hazards=hazards, migration=migration,
                        training=np.ones(600, dtype=bool), paths=PATHS, years=3)
    assert known is not None
    summary = known["summary"]
    assert summary["grades"] == 3 and summary["migration_error"] == pytest.approx(0.0, abs=1e-12)
    assert summary["hazard_error"] > 0 and summary["better"] == "migration"
    assert known["training_rows"] == 600
    # no company of the truth in the panel: no block
    assert truth_block(p, np.array([f"X{i}" for i in range(600)]), truth, DEMO_SPEC, hazards=hazards,
                       migration=migration, training=np.ones(600, dtype=bool), paths=PATHS) is None


def test_data_without_a_known_truth_has_no_truth_block(demo):
    _, truth, frame, train, block = demo
    plain = lifetime_block(_p_of, frame, frame[DEMO_SPEC.target].to_numpy(), train, DEMO_SPEC, years=YEARS)
    assert "truth" not in plain
    assert {k: v for k, v in block.items() if k != "truth"} == plain
    other = truth.assign(**{DEMO_SPEC.id: "not a company"})
    assert "truth" not in lifetime_block(_p_of, frame, frame[DEMO_SPEC.target].to_numpy(), train, DEMO_SPEC,
                                         years=YEARS, truth=other)
    # and the report's section says nothing of a truth
    assert "known truth" not in lifetime_section(None, Numbers({"lifetime": plain}))  # type: ignore[arg-type]


def test_the_report_shows_the_truth_table_and_figure_with_every_number_traced(demo):
    *_, block = demo
    metrics = {"lifetime": block}
    text = lifetime_section(None, Numbers(metrics))  # type: ignore[arg-type]  # the section reads metrics.json only
    part = text[text.index("<h3>Against the known truth</h3>"):]
    assert "<figure><svg" in part and "<th>Migration error</th>" in part
    keys = {key for _, key in _DATA.findall(part)}
    for i, row in enumerate(block["truth"]["by_grade"]):
        for field in ("year", "true_pd", "hazard_pd", "migration_pd", "hazard_error", "migration_error"):
            if row[field] is not None:
                assert f"lifetime.truth.by_grade.{i}.{field}" in keys
    assert {"lifetime.truth.year", "lifetime.truth.companies", "lifetime.truth.paths"} <= keys
    for value, key in _DATA.findall(part):
        node = metrics
        for step in key.split("."):
            node = node[int(step)] if isinstance(node, list) else node[step]
        assert float(html.unescape(value)) == node, key
    if not block["truth"]["summary"]["grades"]:
        assert "neither method is judged" in part
    judged = {"year": 3, "grades": 2, "hazard_error": 0.25, "migration_error": 0.125, "better": "migration"}
    judged_block = {**block, "truth": {**block["truth"], "summary": judged, "by_grade": []}}  # no figure again
    text = lifetime_section(None, Numbers({"lifetime": judged_block}))  # type: ignore[arg-type]
    said = re.sub(r"<[^>]+>", "", text)
    assert ("12.5% for the migration method: the better of the two methods is the migration method" in said
            and "25.0% for the hazard method" in said)
