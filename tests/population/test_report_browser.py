"""The HTML report of ``opioidcds screen --html``, rendered in headless Chromium (issues 6, 19).

The report of the bundled example practice is opened from disk in Debian's Chromium through
chromedriver (selenium). Checks: the first screen (the browser window, 1280 x 1024) shows the
call-first list, sized to the practice's weekly capacity, each row with the tier's offer and
next step, and the legend of the priority bands with their counts; the charts are displayed,
paint something, show support tiers and risk levels in their order (most intensive or serious
first) and mark the thresholds in force on the OME distribution; the count tables show the
screening's counts; the rest of the worklist follows in order with its reasons; the page makes
no network request (the DevTools network log and the page's resource timing, with a control
page that does make one to show the check can fail); and a screenshot is not blank. Skipped
when Chromium or its driver is missing, except under ``OPIOIDCDS_CI=1`` (set by ``.ci/run``),
where that is a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import pytest

from opioidcds import default_knowledge
from opioidcds._decide.labels import display_words
from opioidcds.population import Screening, screen
from opioidcds.population.report import reasons

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "population"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Flags that work on this project's machines (closed network, root, no GPU): see
# /work/.library machine notes; without the background-networking ones Chromium keeps
# trying to reach Google's hosts, which would show up as network requests.
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,1024",
)
_CANVAS_STATS = """
const done = arguments[arguments.length - 1];
const img = new Image();
img.onload = () => {
  const c = document.createElement('canvas');
  c.width = img.width; c.height = img.height;
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  let nonWhite = 0, dark = 0, hued = 0;
  const colours = new Set();
  for (let i = 0; i < d.length; i += 4) {
    const [r, g, b] = [d[i], d[i + 1], d[i + 2]];
    colours.add((r << 16) | (g << 8) | b);
    if (r + g + b < 765) nonWhite++;
    if (r + g + b < 300) dark++;
    if (Math.max(r, g, b) - Math.min(r, g, b) > 60) hued++;
  }
  done({width: c.width, height: c.height, nonWhite: nonWhite, dark: dark, hued: hued,
        colours: colours.size});
};
img.onerror = () => done(null);
img.src = 'data:image/png;base64,' + arguments[0];
"""


def _need_browser() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        why = f"headless-browser test needs Debian chromium and chromium-driver: {missing} missing"
        if os.environ.get("OPIOIDCDS_CI") == "1":
            pytest.fail(f"CI must install them (.ci/run): {why}")
        pytest.skip(why)


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    _need_browser()
    from selenium import webdriver  # noqa: PLC0415
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    browser.set_page_load_timeout(60)
    browser.set_script_timeout(60)
    yield browser
    browser.quit()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Screening]:
    """The report written by ``opioidcds screen ... --html``, and the same screening."""
    out = tmp_path_factory.mktemp("report")
    issues, patients = EXAMPLE / "issues.csv", EXAMPLE / "patients.csv"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from opioidcds.cli import main; main()",
            "screen",
            str(issues),
            "--patients",
            str(patients),
            "--out",
            str(out),
            "--html",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return out / "report.html", screen(issues, patients)


_NETWORK: Final = frozenset({"http", "https", "ws", "wss", "ftp"})


def _requests(browser: Any, page: str) -> tuple[list[str], list[str]]:
    """From the DevTools performance log: requests the page started; any network request.

    The second list holds every request on a network scheme from anywhere in the browser
    (Chromium's own internal ``chrome://`` requests are not network requests).
    """
    mine, network = [], []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            params = message["params"]
            url = str(params["request"]["url"])
            if params.get("documentURL") == page:
                mine.append(url)
            if urlsplit(url).scheme in _NETWORK:
                network.append(url)
    return mine, network


def _image_stats(browser: Any, png_base64: str) -> dict[str, int]:
    """Pixel counts of a PNG, decoded by a blank page's canvas.

    ``nonWhite``; ``dark`` (text: r+g+b < 300); ``hued`` (coloured, e.g. chart bars);
    ``colours`` (distinct).
    """
    browser.get("about:blank")
    stats = browser.execute_async_script(_CANVAS_STATS, png_base64)
    assert stats is not None, "screenshot is not a readable PNG"
    return {k: int(v) for k, v in stats.items()}


class _Count(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.svg = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.svg += tag == "svg"


def _table(browser: Any, html_id: str) -> list[list[str]]:
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    table = browser.find_element(By.ID, html_id)
    assert table.is_displayed()
    return [
        [td.text.strip() for td in tr.find_elements(By.TAG_NAME, "td")]
        for tr in table.find_elements(By.TAG_NAME, "tr")[1:]  # after the header row
    ]


def _counts_after(browser: Any, header: str) -> dict[str, int]:
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    first_header = f"//table[.//tr[1]/th[1][normalize-space(.)='{header}']]"
    table = browser.find_element(By.XPATH, first_header)
    assert table.is_displayed()
    rows = [
        [td.text.strip() for td in tr.find_elements(By.TAG_NAME, "td")]
        for tr in table.find_elements(By.TAG_NAME, "tr")[1:]
    ]
    return {r[0]: int(r[1]) for r in rows}


def _chart_labels(browser: Any, html_id: str) -> list[str]:
    """The category labels drawn in a bar chart, top to bottom (every other text is a count)."""
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    chart = browser.find_element(By.ID, html_id)
    assert chart.is_displayed()
    texts = chart.find_elements(By.TAG_NAME, "text")
    return [t.text for t in texts[0::2]]


@pytest.mark.browser
def test_report_in_headless_chromium(driver: Any, report: tuple[Path, Screening]) -> None:
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    path, screening = report
    words = display_words(default_knowledge())
    url = path.resolve().as_uri()
    driver.get_log("performance")  # drop what the browser did before
    driver.get_log("browser")
    driver.get(url)
    assert driver.title.startswith("Opioid population screening")

    # no network: the page's only request is the report file itself, and nothing else in the
    # browser went to the network
    requests, network = _requests(driver, url)
    assert requests, "the DevTools network log recorded nothing (the check would be blind)"
    assert set(requests) == {url}, requests
    assert network == []
    assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0
    severe = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    assert severe == [], severe  # e.g. a Content-Security-Policy violation

    # the first screen: the call-first list starts within the window, sized to the weekly
    # capacity (default 1 session x 250 minutes // 60 minutes a first appointment = 4)
    window = driver.execute_script("return window.innerHeight")
    section = driver.find_element(By.ID, "call-first")
    assert section.is_displayed()
    assert section.rect["y"] < window
    assert screening.weekly_capacity == 4
    first = _table(driver, "call-first-list")
    assert len(first) == len(screening.call_first) == min(4, len(screening.worklist))
    labels = dict(screening.factor_labels)
    for i, (cells, row) in enumerate(zip(first, screening.call_first, strict=True), start=1):
        assert cells[0] == str(i)
        assert cells[1] == row.patient_id
        assert cells[2] == words.band(row.band)
        assert cells[3] == words.tier(row.tier)
        tier = words.tier_words(row.tier)
        assert tier is not None
        assert cells[-2] == " ".join(tier.offer.split())  # what to offer
        assert cells[-1] == " ".join(tier.next_steps[0].split())  # the next step
        assert cells[-3] == " ".join(reasons(row, labels, with_band=False).split())  # why
    # the legend of the priority bands, with the screening's counts
    legend = _table(driver, "band-legend")
    c = screening.counts
    assert [r[0] for r in legend] == [b.label for b in words.bands]
    assert [int(r[2]) for r in legend] == [c.get(f"band:{b.id}", 0) for b in words.bands]
    assert all(r[1] for r in legend)  # who is in each band
    assert sum(int(r[2]) for r in legend) == c["on_worklist"]

    # charts: every inline SVG of the file is in the page, displayed, with a size; tiers and
    # levels in their order; the OME distribution marks the thresholds in force
    parser = _Count()
    parser.feed(path.read_text(encoding="utf-8"))
    charts = driver.find_elements(By.TAG_NAME, "svg")
    assert len(charts) == parser.svg >= 3  # tiers, risk levels, OME distribution (at least)
    shots = []
    for chart in charts:
        assert chart.is_displayed()
        assert chart.size["width"] > 0
        assert chart.size["height"] > 0
        shots.append(chart.screenshot_as_base64)
    assert _chart_labels(driver, "chart-tiers") == [t.label for t in words.tiers]
    assert _chart_labels(driver, "chart-tiers")[:2] == ["Specialist MDT", "PCN service"]
    assert _chart_labels(driver, "chart-levels") == ["Very high", "High", "Moderate", "Low"]
    ome = driver.find_element(By.ID, "chart-ome")
    lines = ome.find_elements(By.CSS_SELECTOR, "line.threshold")
    assert len(lines) == 2
    assert all(line.rect["height"] > 0 for line in lines)  # drawn (a vertical line: no width)
    marks = [t.text for t in ome.find_elements(By.TAG_NAME, "text")]
    assert "Script Switch alert above 100" in marks
    assert "high dose above 120" in marks
    # the line sits at its value on the x axis: 120 is 120/240 of the way along the axis
    axis = [t for t in ome.find_elements(By.TAG_NAME, "text") if t.text in ("0", "240")]
    x0, x240 = (t.rect["x"] + t.rect["width"] / 2 for t in axis[:2])
    middle = x0 + (x240 - x0) / 2
    assert any(abs(line.rect["x"] - middle) < 3 for line in lines)

    # count tables: tier and risk-level counts as screened, in the same order as the charts
    tiers = _counts_after(driver, "support tier")
    assert list(tiers) == [t.label for t in words.tiers]
    assert [tiers[t.label] for t in words.tiers] == [c.get(f"tier:{t.id}", 0) for t in words.tiers]
    levels = _counts_after(driver, "risk level")
    assert list(levels) == [label for _, label in words.levels]
    assert [levels[label] for _, label in words.levels] == [
        c.get(f"level:{v}", 0) for v, _ in words.levels
    ]

    # the rest of the worklist follows, in order, with reasons, offers and next steps
    rest = _table(driver, "worklist-rest")
    expected = screening.worklist[len(first) : screening.method.report_rows]
    assert len(rest) == len(expected)
    for i, (cells, row) in enumerate(zip(rest, expected, strict=True), start=len(first) + 1):
        assert cells[0] == str(i)
        assert cells[1] == row.patient_id
        assert cells[-3] == " ".join(reasons(row, labels, with_band=False).split())
        assert cells[-2]
        assert cells[-1]

    # pixels: the page and each chart painted something (decoded by a blank page's canvas)
    driver.get(url)
    page = _image_stats(driver, driver.get_screenshot_as_base64())
    assert page["width"] > 0
    assert page["height"] > 0
    assert page["colours"] > 10
    area = page["width"] * page["height"]
    assert page["nonWhite"] > area // 100  # > 1% not white
    assert page["dark"] > area // 200  # text is drawn, > 0.5% of the window
    for shot in shots:
        chart_stats = _image_stats(driver, shot)
        assert chart_stats["colours"] > 2
        assert chart_stats["dark"] > 0  # labels
        assert chart_stats["hued"] > 0  # bars


@pytest.mark.browser
def test_network_check_sees_a_request(driver: Any, tmp_path: Path) -> None:
    """Control: the same check catches a page that does load something over the network."""
    page = tmp_path / "leaky.html"
    page.write_text(
        '<!DOCTYPE html><html><body><img src="http://127.0.0.1:9/pixel.png"></body></html>',
        encoding="utf-8",
    )
    driver.get_log("performance")
    url = page.resolve().as_uri()
    driver.get(url)
    requests, network = _requests(driver, url)
    assert "http://127.0.0.1:9/pixel.png" in requests
    assert "http://127.0.0.1:9/pixel.png" in network
