"""A file over the line is scored by the dashboard's own worker process and offered for download, in a real browser."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "browser"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_large_upload_is_scored_by_the_dashboards_worker_and_downloaded(page, start_dashboard, wait_for_app,
                                                                          tmp_path):
    config = tmp_path / "riskcore.toml"
    config.write_text("[jobs]\ninline_max_mb = 0.05\n", encoding="utf-8")  # the sample (73 KB) is over the line
    url = start_dashboard({"RISKCORE_JOB_WORKERS": "1", "RISKCORE_CONFIG": str(config)})
    page.goto(f"{url}/portfolio_scoring")
    wait_for_app(page)
    page.get_by_role("heading", name="Portfolio scoring").first.wait_for()
    sample = ROOT / "assets" / "sample_portfolio.csv"
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(sample))
    # the job's panel polls the queue; the worker the dashboard started scores the file
    page.get_by_test_id("stMarkdownContainer").filter(has_text="succeeded").first.wait_for(timeout=180_000)
    button = page.get_by_test_id("stDownloadButton").filter(has_text="Download the scored rows").first
    button.wait_for()
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.get_by_test_id("stMetric").filter(has_text="Scored").count() >= 1
    with page.expect_download() as info:
        button.click()
    target = tmp_path / "scored.csv"
    info.value.save_as(target)
    lines = target.read_text(encoding="utf-8").splitlines()
    assert "p_default" in lines[0] and "grade" in lines[0] and "decision" in lines[0]
    assert len(lines) > 200
    (OUTPUT / "screenshots").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / "screenshots" / "portfolio_scoring_job.png"), full_page=True)
