"""Provisions: ECL by stage under both standards, its movement, the stage-2 drivers, the lifetime curves with the
demo's known truth, and a weight slider that moves the ECL without scoring anything again."""

from __future__ import annotations

from pagetools import chart_specs, errors, metrics, open_page, table_with


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
