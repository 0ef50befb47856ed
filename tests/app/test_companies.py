"""Company explorer and portfolio scoring."""

from __future__ import annotations

import pytest
from pagetools import ROOT, chart_specs, errors, metrics, open_page, table_with

SAMPLE = ROOT / "assets" / "sample_portfolio.csv"


def test_picking_a_company_shows_its_waterfall(at):
    open_page(at, "company_explorer")
    box = at.selectbox(key="company")
    assert len(box.options) > 100 and box.value == box.options[0]  # the riskiest company opens first
    riskiest = metrics(at)
    assert '"type":"waterfall"' in chart_specs(at)[0]
    box.select_index(len(box.options) - 1).run()  # the safest
    assert not at.exception
    specs = chart_specs(at)
    assert '"type":"waterfall"' in specs[0]
    m = metrics(at)
    assert m["Probability of default"].endswith("%") and m["Grade"] in {str(g) for g in range(1, 11)}
    assert m["Decision"] in {"accept", "refer for review"}
    pd_of = lambda m: float(m["Probability of default"].rstrip("%"))  # noqa: E731
    assert pd_of(m) < pd_of(riskiest)


def test_a_search_without_match_says_so(at):
    open_page(at, "company_explorer")
    at.text_input(key="company_query").input("no such company").run()
    assert not at.exception
    assert any("No company" in i.value for i in at.info)
    assert not chart_specs(at)


def test_company_search_and_what_if(at):
    open_page(at, "company_explorer")
    at.text_input(key="company_query").input("C0001").run()
    options = at.selectbox(key="company").options
    assert options and all(o.startswith("C0001") for o in options)
    at.selectbox(key="company").select_index(0).run()
    assert "PD with the changes" not in metrics(at)
    at.number_input(key="whatif_debt_to_assets").set_value(3.0).run()
    assert not at.exception
    assert "PD with the changes" in metrics(at)


def test_scoring_the_sample_shows_scored_rows_and_writes_the_audit_trail(at, app_env):
    from riskcore.config import load_settings
    from riskcore.serving.audit import AuditLog

    audit = AuditLog.from_settings(load_settings(env={"RISKCORE_HOME": str(app_env)}))
    before = audit.count()
    open_page(at, "portfolio_scoring")
    at.file_uploader(key="score_upload").set_value(("sample.csv", SAMPLE.read_bytes(), "text/csv")).run()
    assert not at.exception and not errors(at)
    m = metrics(at)
    scored = int(m["Scored"].replace(",", ""))
    assert scored > 200 and int(m["Rejected"]) >= 1
    rows = table_with(at, "p_default", "grade", "decision")
    assert len(rows) == scored
    assert audit.count() == before + scored
    assert len(chart_specs(at)) == 2
    # filtering reruns the page from the cached scores: no second scoring, no second audit entry
    at.multiselect(key="score_decisions").set_value(["refer"]).run()
    assert set(table_with(at, "p_default", "decision")["decision"]) == {"refer"}
    assert audit.count() == before + scored


def test_scoring_fails_closed_when_the_audit_trail_cannot_be_written(at, monkeypatch):
    from riskcore.errors import AuditError
    from riskcore.serving.audit import AuditLog

    def refuse(self, *args, **kwargs):
        raise AuditError("the audit database is read-only")

    monkeypatch.setattr(AuditLog, "check_writable", refuse)
    open_page(at, "portfolio_scoring")
    at.file_uploader(key="score_upload").set_value(("sample.csv", SAMPLE.read_bytes(), "text/csv")).run()
    assert not at.exception
    assert errors(at) == ["the audit database is read-only"]
    assert "Scored" not in metrics(at)
    assert not any("p_default" in d.value.columns for d in at.dataframe)


@pytest.mark.parametrize(("content", "message"), [
    (b"\x89PNG\r\n\x1a\n0000", "PNG"),
    (b"company_id,fiscal_year\nC1,2024\n", "required column"),
])
def test_bad_uploads_get_a_clear_message(at, content, message):
    open_page(at, "portfolio_scoring")
    at.file_uploader(key="score_upload").set_value(("bad.csv", content, "text/csv")).run()
    assert not at.exception
    assert any(message in e for e in errors(at))


@pytest.mark.parametrize("kind", ["xlsx", "parquet"])
def test_excel_and_parquet_uploads_score_like_the_csv(at, kind, tmp_path):
    import pandas as pd

    frame = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)
    path = tmp_path / f"sample.{kind}"
    if kind == "xlsx":
        frame.to_excel(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    open_page(at, "portfolio_scoring")
    at.file_uploader(key="score_upload").set_value((path.name, path.read_bytes(), "application/octet-stream")).run()
    assert not at.exception and not errors(at)
    from_file = table_with(at, "p_default", "grade", "decision")
    at.file_uploader(key="score_upload").set_value(("sample.csv", SAMPLE.read_bytes(), "text/csv")).run()
    from_csv = table_with(at, "p_default", "grade", "decision")
    assert len(from_file) == len(from_csv) > 200
    assert from_file["p_default"].round(12).tolist() == from_csv["p_default"].round(12).tolist()


def test_a_large_scored_file_shows_the_first_rows_and_offers_all_in_the_download(at, monkeypatch):
    import dashboard.widgets

    monkeypatch.setattr(dashboard.widgets, "MAX_TABLE_ROWS", 50)
    open_page(at, "portfolio_scoring")
    at.file_uploader(key="score_upload").set_value(("sample.csv", SAMPLE.read_bytes(), "text/csv")).run()
    assert not at.exception and not errors(at)
    scored = int(metrics(at)["Scored"].replace(",", ""))
    assert len(table_with(at, "p_default", "grade", "decision")) == 50 < scored
    assert any(f"Showing the first 50 of {scored:,} scored rows" in c.value for c in at.caption)
