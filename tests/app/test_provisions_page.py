"""Provisions: ECL by stage under both standards, its movement, the stage-2 drivers, the lifetime curves with the
demo's known truth, and a weight slider that moves the ECL without scoring anything again."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest
from pagetools import chart_specs, errors, metrics, open_page, table_with

from dashboard import provisions as loaders
from riskcore.data.schema import DEMO_SPEC
from riskcore.workbench import Workbench


def test_the_page_shows_the_demo_provisions_and_a_weight_moves_the_ecl(at):
    open_page(at, "provisions")
    assert not at.exception, [e.value for e in at.exception]
    assert not errors(at)
    before = metrics(at)
    assert set(before) >= {"ECL (IFRS 9)", "ECL (CECL)", "Coverage", "Companies in stage 2"}
    ifrs9, cecl = (float(before[k].replace(",", "")) for k in ("ECL (IFRS 9)", "ECL (CECL)"))
    assert 0 < ifrs9 < cecl  # CECL takes the whole life of stage 1 too
    specs = " ".join(chart_specs(at))
    assert "waterfall" in specs and "known truth" in specs and "Why companies are in stage 2" in specs
    assert table_with(at, "driver", "companies")["companies"].sum() == int(before["Companies in stage 2"]
                                                                          .replace(",", ""))
    # all the weight on the downside: a dearer book, and the weights, now adding up to 1.7, are scaled and said so
    at.slider(key="provision_weight_downside").set_value(1.0).run()
    assert not at.exception, [e.value for e in at.exception]
    after = metrics(at)
    assert float(after["ECL (IFRS 9)"].replace(",", "")) > ifrs9
    assert any("divided by 1.7" in i.value for i in at.info)
    # every weight at 0: refused, with what to do
    for name in ("base", "upside", "downside"):
        at.slider(key=f"provision_weight_{name}").set_value(0.0)
    at.run()
    assert not at.exception
    assert any("add up to 0" in e for e in errors(at))


def test_the_waterfall_opens_from_a_run_on_record(at, app_env, tmp_path):
    """Last quarter's run, recorded by the command, is the waterfall's opening; a run it cannot open is said so."""
    bench = Workbench()
    data = app_env / "data" / "demo_portfolio.csv"
    year = int(pd.read_csv(data, usecols=[DEMO_SPEC.time])[DEMO_SPEC.time].max()) - 1
    files = bench.provisions("champion", data, as_of=year, out=tmp_path / "last_quarter", standard="cecl",
                             caller="finance")
    # the same run as a trail written before runs named their folder holds it
    old = bench.audit.record_event(dataclasses.replace(files.record, folder="", ts="", seq=0))
    loaders.recorded_runs.clear()  # the page re-reads the runs on record every few seconds
    open_page(at, "provisions")
    box = at.selectbox(key="provision_compare")
    assert box.options[0].startswith("The previous year") and "computed now" in box.options[0]
    assert box.options[1].startswith(f"Run {old.seq} on record")  # newest first
    assert f"Run {files.record.seq} on record: as of {year}, CECL, ECL {files.record.ecl:,.0f}" in box.options[2]
    box.select_index(2).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not errors(at)
    [waterfall] = [json.loads(s) for s in chart_specs(at) if '"waterfall"' in s]
    trace = waterfall["data"][0]
    assert trace["x"][0] == f"On record, as of {year}" and trace["y"][0] == pytest.approx(files.record.ecl)
    assert any("From the run on record" in c.value and "checked against its SHA-256" in c.value
               and "part of the movement is the standards' difference" in c.value for c in at.caption)
    at.selectbox(key="provision_compare").select_index(1).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("recorded before provisions runs named their output folder" in e for e in errors(at))
