"""A file over the line is scored by the dashboard's own worker process and offered for download, in a real browser."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "browser"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _over_the_line(tmp_path: Path) -> tuple[Path, int]:
    """The sample portfolio repeated, each copy with its own company ids, past the default 5 MB line."""
    sample = pd.read_csv(ROOT / "assets" / "sample_portfolio.csv", dtype=str, keep_default_na=False)
    copies = [sample.assign(company_id=sample["company_id"] + f"-{k}") for k in range(80)]
    path = tmp_path / "large_portfolio.csv"
    pd.concat(copies, ignore_index=True).to_csv(path, index=False)
    assert path.stat().st_size > 5_000_000  # over [jobs] inline_max_mb's default
    return path, len(sample) * len(copies)


def test_a_large_upload_is_scored_by_the_dashboards_worker_and_downloaded(page, app_url, wait_for_app, tmp_path):
    large, rows = _over_the_line(tmp_path)
    page.goto(f"{app_url}/portfolio_scoring")
    wait_for_app(page)
    page.get_by_role("heading", name="Portfolio scoring").first.wait_for()
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(large))
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
    assert len(lines) > rows // 2
    (OUTPUT / "screenshots").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / "screenshots" / "portfolio_scoring_job.png"), full_page=True)
