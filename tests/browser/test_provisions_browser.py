"""The Provisions page in a real browser: the ECL and its waterfall drawn, a scenario weight moved from the keyboard."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "browser"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _ecl(page) -> str:
    """The IFRS 9 ECL metric's value, as shown."""
    metric = page.get_by_test_id("stMetric").filter(has_text="ECL (IFRS 9)").first
    return metric.get_by_test_id("stMetricValue").inner_text().strip()


def test_the_provisions_page_draws_the_ecl_and_a_weight_moves_it(page, app_url, wait_for_app):
    page.goto(f"{app_url}/provisions")
    wait_for_app(page)
    page.get_by_role("heading", name="Provisions").first.wait_for()
    before = _ecl(page)
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
    assert float(_ecl(page).replace(",", "")) > float(before.replace(",", ""))
    page.get_by_text("The weights must add up to 1").first.wait_for()
    assert page.locator('[data-testid="stException"]').count() == 0
    (OUTPUT / "screenshots").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / "screenshots" / "provisions.png"), full_page=True)
