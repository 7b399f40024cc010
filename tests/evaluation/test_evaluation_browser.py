"""The evaluation report of ``opioidcds evaluate --html`` in headless Chromium (issue 21).

The SYNTHETIC demo service (``opioidcds demo-data``) is evaluated and its report opened from
disk in Debian's Chromium through chromedriver (selenium), with the same flags and network
check as the screening report's test. Checks: the pilot's kind of table shows every measure
with its p-value and method; every chart (four trend charts, two funnel plots) is displayed
with a non-zero size and draws its lines and points; a practice's page opens from its link and
shows its own trend; the pages make no network request; a screenshot is not blank. Skipped
when Chromium or its driver is missing, except under ``OPIOIDCDS_CI=1``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from population.test_report_browser import (  # the same browser, flags and checks
    _image_stats,
    _requests,
    driver,
)

__all__ = ["driver"]  # the module-scoped headless-Chromium fixture, shared


def _cli(*args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from opioidcds.cli import main; main()", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report written by ``opioidcds evaluate ... --html`` on the demo service."""
    demo = tmp_path_factory.mktemp("demo")
    out = tmp_path_factory.mktemp("evaluation")
    _cli("demo-data", "--patients", "150", "--out", str(demo))
    _cli(
        "evaluate", str(demo / "questionnaires.csv"), str(demo / "issues.csv"),
        "--patients", str(demo / "patients.csv"), "--list-sizes", str(demo / "list_sizes.csv"),
        "--out", str(out), "--html",
    )  # fmt: skip
    return out / "evaluation.html"


def _charts(browser: Any) -> list[dict[str, Any]]:
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    return [
        {
            "label": svg.get_attribute("aria-label"),
            "shown": svg.is_displayed(),
            "width": svg.size["width"],
            "height": svg.size["height"],
            "lines": len(svg.find_elements(By.TAG_NAME, "polyline")),
            "points": len(svg.find_elements(By.TAG_NAME, "circle")),
        }
        for svg in browser.find_elements(By.CSS_SELECTOR, "svg.chart")
    ]


@pytest.mark.browser
def test_evaluation_report_in_headless_chromium(driver: Any, report: Path) -> None:
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    url = report.resolve().as_uri()
    driver.get_log("performance")
    driver.get(url)
    assert driver.title.startswith("Service evaluation and practice trends")
    requests, network = _requests(driver, url)
    assert requests, "the DevTools network log recorded nothing (the check would be blind)"
    assert set(requests) == {url}, requests
    assert network == []

    # the pilot's kind of table: one row per measure, p-values with their method
    table = driver.find_element(
        By.XPATH, "//h2[starts-with(normalize-space(.), 'Service evaluation')]"
        "/following-sibling::table[1]",
    )  # fmt: skip
    assert table.is_displayed()
    rows = [
        [td.text.strip() for td in tr.find_elements(By.TAG_NAME, "td")]
        for tr in table.find_elements(By.TAG_NAME, "tr")[1:]
    ]
    measures = [r[0] for r in rows]
    assert measures[0].startswith("Daily opioid dose")
    assert any(m.startswith("BPI pain severity") for m in measures)
    assert any(m.startswith("SWEMWBS metric") for m in measures)
    assert any(m.startswith("EQ-5D-5L profile") for m in measures)
    tested = [r[6] for r in rows if not r[0].startswith("EQ-5D-5L profile")]
    assert all(
        ("exact" in p or "normal approximation" in p or "cannot evaluate" in p) for p in tested
    )

    charts = _charts(driver)
    labels = [c["label"] for c in charts]
    assert sum("practices against the pooled rate" in (lab or "") for lab in labels) == 2
    assert len(charts) == 6
    for c in charts:
        assert c["shown"], c
        assert c["width"] > 300, c
        assert c["height"] > 200, c
        assert c["lines"] >= 1, c  # trend lines or funnel limits
        assert c["points"] >= 3, c  # monthly points or practices

    shot = _image_stats(driver, driver.get_screenshot_as_base64())
    assert shot["dark"] > 1000  # text is drawn
    assert shot["hued"] > 500  # coloured lines and points are drawn

    # a practice's own page, from its link: its table and its own trend charts
    driver.get(url)
    link = driver.find_element(By.LINK_TEXT, "SYN-P1")
    page = link.get_attribute("href")
    driver.get_log("performance")
    link.click()
    assert driver.current_url == page
    assert driver.title == "Practice SYN-P1: service evaluation and trend"
    requests, network = _requests(driver, page)
    assert set(requests) == {page}
    assert network == []
    own = _charts(driver)
    assert len(own) == 4
    assert all(c["shown"] and c["points"] >= 2 for c in own)
    legend = driver.find_element(By.CSS_SELECTOR, "svg.chart").text
    assert "SYN-P1" in legend
    assert "all practices" in legend
