"""Provisions of a file read a chunk of companies at a time equal those of the whole panel in memory."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskcore.config import ProvisionRules
from riskcore.data.macro import stressed
from riskcore.serving.provisions import default_scenarios, provision_file, provision_frame
from riskcore.serving.scoring import Scenarios, score_frame

AS_OF = 2024


@pytest.fixture(scope="module")
def panel(small_portfolio):
    """The portfolio's last five years: several chunks of whole companies, and history enough."""
    frame = small_portfolio.frame
    return frame[frame["fiscal_year"] >= AS_OF - 4].reset_index(drop=True)


@pytest.fixture(scope="module")
def whole(quick_bundle, panel):
    return provision_frame(quick_bundle, panel, AS_OF, ProvisionRules())


def _same(a, b, id_column="company_id"):
    left = a.companies.set_index(id_column).sort_index()
    right = b.companies.set_index(id_column).sort_index()
    assert list(left.index) == list(right.index)
    pd.testing.assert_frame_equal(left, right[left.columns], check_exact=False, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(a.hazards.hazard, b.hazards.hazard, rtol=1e-12)
    np.testing.assert_allclose(a.migration.matrix, b.migration.matrix, rtol=1e-12)
    assert a.history_rows == b.history_rows


@pytest.mark.parametrize("order", ["company", "year"])
def test_a_file_in_small_chunks_gives_the_whole_panels_provisions(order, whole, quick_bundle, panel, tmp_path):
    frame = panel.sort_values(["company_id", "fiscal_year"] if order == "company"
                                              else ["fiscal_year", "company_id"], kind="stable")
    path = tmp_path / "panel.csv"
    frame.to_csv(path, index=False)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    run, info = provision_file(quick_bundle, path, AS_OF, ProvisionRules(), chunk_rows=700, scratch=scratch)
    _same(whole, run)
    assert info is not None and info.n_rows == len(frame)
    inputs = pd.concat(list(run.inputs()), ignore_index=True)
    assert len(inputs) == run.scored_now == (whole.companies["pd_12m_base"] < 1).sum()
    assert list(inputs["company_id"].astype(str)) == list(run.companies["company_id"].iloc[:run.scored_now])
    assert len(list(scratch.glob("inputs-*.pickle"))) > 1  # the as-of inputs went to disk, a part per chunk


def test_each_scenarios_pd_is_the_model_on_the_moved_inputs(quick_bundle, panel):
    rules = ProvisionRules()
    scenarios = default_scenarios(quick_bundle, rules)
    moves = {s.name: s.shifts for s in scenarios if s.shifts}
    assert moves and all(moves.values())
    frame = panel
    res = score_frame(quick_bundle, frame, passthrough=False, scenarios=Scenarios(AS_OF, moves))
    years = res.scores["fiscal_year"].to_numpy(dtype=float)
    for name, shifts in moves.items():
        rows = np.flatnonzero((frame["fiscal_year"] == AS_OF).to_numpy())
        again = score_frame(quick_bundle, stressed(frame, shifts, quick_bundle.spec, rows=rows), passthrough=False)
        expected = np.where(years == AS_OF, again.scores["p_default"].to_numpy(), np.nan)
        np.testing.assert_allclose(res.scenario_pd[name], expected, rtol=1e-12, atol=1e-15)
        assert np.isnan(res.scenario_pd[name][years != AS_OF]).all()


def test_rows_after_the_as_of_year_are_not_read(whole, quick_bundle, panel):
    frame = panel
    later = frame[frame["fiscal_year"] == AS_OF].assign(fiscal_year=AS_OF + 1, debt_to_assets=0.99)
    run = provision_frame(quick_bundle, pd.concat([frame, later], ignore_index=True), AS_OF, ProvisionRules())
    _same(whole, run)
    assert any(f"{len(later):,} row(s) after the as-of year {AS_OF} were not used" in n for n in run.notes)
