"""Every page opens in a real browser without an exception box; one upload-and-download flow; a file over the line
is scored by the dashboard's own worker process and offered for download.

One module, so one dashboard server (and its worker) and one Chromium serve every test of it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "browser"

PAGES = [
    ("", "Business impact"),  # the landing page lives at the root
    ("data_quality", "Data quality"),
    ("training_runs", "Training runs"),
    ("calibration", "Calibration"),
    ("costs_threshold", "Costs & threshold"),
    ("performance", "Performance"),
    ("sectors", "Sectors"),
    ("company_explorer", "Company explorer"),
    ("portfolio_scoring", "Portfolio scoring"),
]

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.mark.parametrize("path,title", PAGES, ids=[p or "business_impact" for p, _ in PAGES])
def test_page_opens_without_exception(page, app_url, wait_for_app, path, title):
    page.goto(f"{app_url}/{path}")
    wait_for_app(page)
    page.get_by_role("heading", name=title).first.wait_for()
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.get_by_text("Page not found").count() == 0
    # every chart on the page has drawn its plot before the screenshot is taken
    charts = page.get_by_test_id("stPlotlyChart")
    for i in range(charts.count()):
        charts.nth(i).locator(".main-svg").first.wait_for(state="attached")  # charts in closed tabs stay hidden
    shots = OUTPUT / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / f"{path or 'business_impact'}.png"), full_page=True)


def test_navigation_from_the_sidebar(page, app_url, wait_for_app):
    page.goto(app_url)
    wait_for_app(page)
    page.get_by_role("heading", name="Business impact").first.wait_for()
    page.get_by_test_id("stMetric").nth(3).wait_for()
    assert page.get_by_test_id("stMetric").count() >= 4
    page.get_by_test_id("stSidebarNav").get_by_text("Calibration").click()
    wait_for_app(page)
    page.get_by_role("heading", name="Calibration").first.wait_for()
    assert "/calibration" in page.url


def test_upload_score_and_download(page, app_url, wait_for_app, tmp_path):
    page.goto(f"{app_url}/portfolio_scoring")
    wait_for_app(page)
    sample = ROOT / "assets" / "sample_portfolio.csv"
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(sample))
    wait_for_app(page)
    page.get_by_test_id("stDataFrame").first.wait_for()
    assert page.locator('[data-testid="stException"]').count() == 0
    button = page.get_by_test_id("stDownloadButton").filter(has_text="scored").first
    with page.expect_download() as info:
        button.click()
    target = tmp_path / "scored.csv"
    info.value.save_as(target)
    text = target.read_text(encoding="utf-8")
    header = text.splitlines()[0]
    assert "p_default" in header and "grade" in header and "decision" in header
    assert len(text.splitlines()) > 10
    page.screenshot(path=str(OUTPUT / "screenshots" / "portfolio_scoring_after_upload.png"), full_page=True)


def test_monitoring_page_monitors_an_upload_and_shows_its_alerts(page, app_url, wait_for_app, browser_home,
                                                                 tmp_path):
    from riskcore.data.schema import DEMO_SPEC as S

    demo = pd.read_csv(browser_home / "data" / "demo_portfolio.csv", dtype=str, keep_default_na=False)
    later = demo[demo[S.time] == max(demo[S.time], key=int)]  # the test year, as a portfolio and its outcomes
    later.drop(columns=[S.target]).to_csv(tmp_path / "later.csv", index=False)
    later[[S.id, S.time, S.target]].to_csv(tmp_path / "outcomes.csv", index=False)
    page.goto(f"{app_url}/monitoring")
    wait_for_app(page)
    page.get_by_role("heading", name="Monitoring").first.wait_for()
    page.get_by_text("Monitor a portfolio now").click()
    inputs = page.locator('[data-testid="stFileUploader"] input[type="file"]')
    inputs.nth(0).set_input_files(str(tmp_path / "later.csv"))
    wait_for_app(page)
    inputs.nth(1).set_input_files(str(tmp_path / "outcomes.csv"))
    wait_for_app(page)
    page.get_by_text("outcomes.csv").wait_for()  # both files reached the server before the button is pressed
    page.get_by_role("button", name="Monitor", exact=True).click()
    wait_for_app(page)
    page.get_by_text("added to the history").wait_for()
    # the alerts are drawn after the line that names the run: wait for them rather than count at once
    page.get_by_test_id("stAlert").filter(has_text="Score drift").first.wait_for()
    assert page.locator('[data-testid="stException"]').count() == 0
    (OUTPUT / "screenshots").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / "screenshots" / "monitoring.png"), full_page=True)


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


def _provisions_ecl(page) -> str:
    """The IFRS 9 ECL metric's value, as shown."""
    metric = page.get_by_test_id("stMetric").filter(has_text="ECL (IFRS 9)").first
    return metric.get_by_test_id("stMetricValue").inner_text().strip()


def test_the_provisions_page_draws_the_ecl_and_a_weight_moves_it(page, app_url, wait_for_app):
    page.goto(f"{app_url}/provisions")
    wait_for_app(page)
    page.get_by_role("heading", name="Provisions").first.wait_for()
    before = _provisions_ecl(page)
    assert float(before.replace(",", "")) > 0
    waterfall = page.get_by_test_id("stPlotlyChart").filter(has_text="Movement of the ECL since the previous period")
    waterfall.locator(".waterfalllayer").first.wait_for(state="attached")
    assert page.locator('[data-testid="stException"]').count() == 0

    # all the weight on the downside, from the keyboard: a dearer book
    slider = page.get_by_test_id("stSlider").filter(has_text="Downside")
    thumb = slider.get_by_role("slider")
    thumb.focus()
    thumb.press("End")
    page.wait_for_function(
        """before => {
            const metric = [...document.querySelectorAll('[data-testid="stMetric"]')]
                .find(m => m.innerText.includes('ECL (IFRS 9)'));
            const value = metric && metric.querySelector('[data-testid="stMetricValue"]');
            return value && value.innerText.trim() !== before;
        }""", arg=before, timeout=60_000)
    wait_for_app(page)
    assert slider.get_by_test_id("stSliderThumbValue").inner_text().strip() in ("1", "1.0", "1.00")
    assert float(_provisions_ecl(page).replace(",", "")) > float(before.replace(",", ""))
    page.get_by_text("The weights must add up to 1").first.wait_for()
    assert page.locator('[data-testid="stException"]').count() == 0
    (OUTPUT / "screenshots").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / "screenshots" / "provisions.png"), full_page=True)
