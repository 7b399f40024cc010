"""Outputs: worklist files, problems file, summary, HTML report (renders, escapes), the CLI."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
import tomllib
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from opioidcds import InvalidInputError, OpioidCDSError, load_profile, load_table
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds.cli.app import app
from opioidcds.population import Screening, screen
from opioidcds.population.outcomes import outcomes
from opioidcds.population.report import ome_bins, render_html, worklist_frame, write_outputs
from opioidcds.population.synthetic import marked_synthetic

from .helpers import AS_OF, code, day, issues, patients

ROOT = Path(__file__).resolve().parents[2]
CC = "Co-codamol 30mg/500mg tablets"
EVIL = '<script>alert("x")</script>&'


def _screening() -> Screening:
    rows = [
        (EVIL, day(150), None, CC, "224", "two tablets four times a day", "28"),
        (EVIL, day(100), None, CC, "224", None, "28"),
        (EVIL, day(50), None, CC, "224", None, "28"),
        (EVIL, day(2), None, CC, "224", "two tablets four times a day", "28"),
        ("p2", "not a date", None, CC, "1", None, None),
    ]
    table = patients([{"patient_id": EVIL, "age": "70", "sex": "male", "depression": "true"}])
    return screen(issues(rows), table, as_of=AS_OF)


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_renders_and_escapes() -> None:
    s = _screening()
    page = render_html(s)
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in page
    parser = _Collect()
    parser.feed(page)
    assert "script" not in parser.tags
    assert parser.tags.count("svg") == 3  # tiers, levels, OME distribution
    assert "table" in parser.tags
    text = "".join(parser.text)
    assert EVIL in text  # shown as text, not markup
    assert "Contact this week: 1 of 1" in text
    assert "issue_date missing or not a date" in text  # problems by reason
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", page)  # no network


def test_files_round_trip(tmp_path: Path) -> None:
    s = _screening()
    formats = ("csv", "parquet", "json")
    paths = write_outputs(s, tmp_path, formats=formats, html=True)
    assert {p.name for p in paths} == {
        "worklist.csv",
        "worklist.parquet",
        "worklist.json",
        "problems.csv",
        "summary.json",
        "report.html",
    }
    frame = worklist_frame(s)
    assert pl.read_parquet(tmp_path / "worklist.parquet").equals(frame)
    csv = pl.read_csv(tmp_path / "worklist.csv", schema=frame.schema)
    assert csv.equals(frame)
    assert json.loads((tmp_path / "worklist.json").read_text()) == frame.to_dicts()
    problems = pl.read_csv(tmp_path / "problems.csv")
    assert problems.to_dicts() == [
        {"file": "issues", "row": 5, "reason": "issue_date missing or not a date (YYYY-MM-DD)"}
    ]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["counts"]["on_worklist"] == 1
    # The summary records the provenance of the run (hazard HAZ-011): the same hash as the
    # screening's, and the rulesets among its sources.
    prov = summary["provenance"]
    assert prov["knowledge_sha256"] == s.provenance.knowledge_sha256
    assert len(prov["knowledge_sha256"]) == 64
    assert any(src["kind"] == "ruleset" for src in prov["knowledge"])
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert s.provenance.knowledge_sha256 in page
    first = frame.row(0, named=True)
    assert first["rank"] == 1
    assert "Depression" in first["reasons"]


def test_cli_screens_the_bundled_example(tmp_path: Path) -> None:
    example = ROOT / "examples" / "population"
    done = subprocess.run(
        [
            sys.executable, "-c", "from opioidcds.cli import main; main()", "screen",
            str(example / "issues.csv"), "--patients", str(example / "patients.csv"),
            "--out", str(tmp_path), "--html", "--format", "csv,json",
        ],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "on the worklist" in done.stdout
    assert "SYN-" not in done.stdout + done.stderr  # no identifiers on the terminal
    assert (tmp_path / "report.html").exists()
    assert (tmp_path / "worklist.csv").exists()
    # the example was made by `opioidcds demo-data`: every output says it is synthetic
    assert "SYNTHETIC DATA" in done.stdout
    assert "SYNTHETIC DATA" in (tmp_path / "report.html").read_text(encoding="utf-8")
    assert json.loads((tmp_path / "summary.json").read_text())["synthetic_data"] is True


def test_synthetic_banner_only_for_a_marked_extract(tmp_path: Path) -> None:
    s = _screening()
    assert "SYNTHETIC DATA" not in render_html(s)
    assert "SYNTHETIC DATA" in render_html(s, synthetic=True)
    plain = tmp_path / "plain.csv"
    issues([("p1", day(2), code(CC), None, "56", None, "28")]).write_csv(plain)
    assert marked_synthetic(plain) is False
    marked = tmp_path / "marked.csv"
    pl.read_csv(plain, infer_schema=False).with_columns(
        pl.lit("SYNTHETIC").alias("synthetic")
    ).write_csv(marked)
    assert marked_synthetic(marked) is True
    marked.with_suffix(".parquet").write_bytes(b"")  # unreadable: not marked, no crash
    assert marked_synthetic(marked.with_suffix(".parquet")) is False
    paths = write_outputs(s, tmp_path / "out", synthetic=False)
    summary = next(p for p in paths if p.name == "summary.json")
    assert json.loads(summary.read_text())["synthetic_data"] is False


def test_cli_missing_column_is_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("patient_id,issue_date\nx,2026-01-01\n")
    done = subprocess.run(
        [sys.executable, "-c", "from opioidcds.cli import main; main()", "screen", str(bad),
         "--out", str(tmp_path)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert "quantity" in done.stderr


# --- OME bins from the rulesets/profile, format errors, outcomes (issue 6 items 4 and 6) ------

PROFILE_90 = ROOT / "rules" / "profiles" / "opioids-aware-90.toml"


def _table_rows(page: str, html_id: str) -> list[list[str]]:
    """The cells of the table with ``html_id`` (text only), header row left out."""
    body = page.split(f'<table id="{html_id}">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body)[1:]
    return [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in rows]


def _ome_table(page: str) -> list[str]:
    """The OME table's band labels (the third counts table after the charts)."""
    part = page.split("<th>daily OME</th>", 1)[1].split("</table>", 1)[0]
    return re.findall(r"<tr><td>([^<]*)</td>", part)


def test_ome_bins_follow_the_high_dose_threshold() -> None:
    # default: high dose 120 (risk-factors), Script Switch 100 (prescribing-alerts):
    # edges 120/2 = 60, 100, 120, 2 x 120 = 240
    page = render_html(_screening())
    assert _ome_table(page) == [
        "up to 60 mg/day",
        "over 60 to 100 mg/day",
        "over 100 to 120 mg/day",
        "over 120 to 240 mg/day",
        "over 240 mg/day",
        "lower bound only (incomplete)",
    ]
    # the histogram marks the thresholds in force, with their labels
    chart = page.split('id="chart-ome"', 1)[1].split("</svg>", 1)[0]
    assert "Script Switch alert above 100" in chart
    assert "high dose above 120" in chart
    assert chart.count('class="threshold"') == 2
    # profile opioids-aware-90: high dose 90: edges 45, 90, 100 (Script Switch stays), 180
    profile = load_profile(PROFILE_90)
    rows = [
        ("p", day(150), None, CC, "224", "two tablets four times a day", "28"),
        ("p", day(100), None, CC, "224", None, "28"),
        ("p", day(2), None, CC, "224", "two tablets four times a day", "28"),
    ]
    s = screen(issues(rows), as_of=AS_OF, profile=profile)
    page90 = render_html(s, profile=profile)
    assert _ome_table(page90) == [
        "up to 45 mg/day",
        "over 45 to 90 mg/day",
        "over 90 to 100 mg/day",
        "over 100 to 180 mg/day",
        "over 180 mg/day",
        "lower bound only (incomplete)",
    ]
    chart90 = page90.split('id="chart-ome"', 1)[1].split("</svg>", 1)[0]
    assert "high dose above 90" in chart90
    assert "Script Switch alert above 100" in chart90
    assert [b.high for b in ome_bins(profile=profile)] == [45, 90, 100, 180, None]


def test_histogram_bars_by_hand() -> None:
    # co-codamol 30/500 two tablets qds = codeine 240 mg/day x 0.1 = 24 mg OME/day: with the
    # high dose 120 the bars are 120 / 6 = 20 mg wide, so 24 falls in the bar over 20 to 40
    page = render_html(_screening())
    chart = page.split('id="chart-ome"', 1)[1].split("</svg>", 1)[0]
    assert re.findall(r"<title>(over [^<]*): 1</title>", chart) == ["over 20 to 40 mg/day"]


def test_lower_bounds_get_their_own_bar() -> None:
    # fentanyl patches without a dosage text: one patch assumed, a lower bound (not binned)
    fen = "Fentanyl 25micrograms/hour transdermal patches"
    rows = [("f", day(o), code(fen), None, "10", None, "28") for o in (150, 120, 90, 60, 30, 2)]
    page = render_html(screen(issues(rows), as_of=AS_OF))
    chart = page.split('id="chart-ome"', 1)[1].split("</svg>", 1)[0]
    assert "<title>lower bound only: 1</title>" in chart
    assert re.findall(r"<title>over [^<]*: (\d+)</title>", chart) == ["0"] * 13
    part = page.split("<th>daily OME</th>", 1)[1].split("</table>", 1)[0]
    assert re.findall(r'class="num">(\d+)</td>', part) == ["0", "0", "0", "0", "0", "1"]


def test_report_refuses_another_profile_and_unknown_formats(tmp_path: Path) -> None:
    s = _screening()
    with pytest.raises(InvalidInputError, match="profile"):
        render_html(s, profile=load_profile(PROFILE_90))
    with pytest.raises(OpioidCDSError):
        write_outputs(s, tmp_path, formats=("xlsx",))
    with pytest.raises(InvalidInputError, match="formats"):
        write_outputs(s, tmp_path, formats=("csv", "xml"))


def test_report_says_why_there_are_no_outcomes() -> None:
    page = render_html(_screening())
    assert "Outcomes over time" in page
    assert "Not computed: no baseline date was given" in page


def _practice_extract() -> pl.DataFrame:
    # two patients per practice, 8 co-codamol tablets a day (24 mg), one reducing to 4 (12 mg)
    rows, practice = [], []
    for pid, pr, later in (
        ("a", "P1", "one tablet four times a day"),
        ("b", "P1", "two tablets four times a day"),
        ("c", "P2", "one tablet four times a day"),
    ):
        for o in range(350, 13, -28):
            text = "two tablets four times a day" if o > 154 else later
            rows.append((pid, day(o), code(CC), None, "224", text, "28"))
            practice.append(pr)
    return issues(rows).with_columns(practice_id=pl.Series(practice))


def test_outcomes_files_and_section(tmp_path: Path) -> None:
    baseline = AS_OF - dt.timedelta(days=182)
    later, o = outcomes(_practice_extract(), baseline=baseline, follow_up=AS_OF)
    paths = write_outputs(later, tmp_path, html=True, outcomes=o)
    assert {"outcomes.csv", "outcomes_patients.csv"} <= {p.name for p in paths}
    groups = pl.read_csv(tmp_path / "outcomes.csv")
    assert groups.get_column("group").to_list() == ["overall", "P1", "P2"]
    # a and c reduced 24 -> 12, b unchanged; 2 pairs with a change < 6: cannot evaluate
    first = groups.row(0, named=True)
    assert (first["reduced"], first["unchanged"], first["pairs"]) == (2, 1, 3)
    assert first["wilcoxon_status"] == "cannot-evaluate"
    assert first["wilcoxon_p"] is None
    per_patient = pl.read_csv(tmp_path / "outcomes_patients.csv")
    assert per_patient.get_column("change").to_list() == ["reduced", "unchanged", "reduced"]
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert page.count("<svg") == 4  # tiers, levels, OME, changes
    assert "Per practice" in page
    assert "cannot evaluate: 2 pair(s) with a change" in page
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["outcomes"]["status"] == "evaluated"


def _flat(table: str) -> str:
    """The terminal table's text with borders and wrapping removed (any terminal width)."""
    return " ".join(re.sub(r"[│┃┌┐└┘├┤┬┴┼─━]", " ", table).split())


def test_cli_baseline_adds_outcomes(tmp_path: Path) -> None:
    extract = tmp_path / "issues.csv"
    _practice_extract().write_csv(extract)
    runner = CliRunner(env={"COLUMNS": "200"})  # one table row per line, where honoured
    base = (AS_OF - dt.timedelta(days=182)).isoformat()
    args = ["screen", str(extract), "--as-of", AS_OF.isoformat(), "--out", str(tmp_path)]
    done = runner.invoke(app, [*args, "--baseline", base, "--html"])
    assert done.exit_code == 0, done.stderr
    assert "3 long-term users at baseline, 3 paired" in _flat(done.stdout)
    assert (tmp_path / "outcomes.csv").exists()
    no_base = runner.invoke(app, args)
    assert "not computed: give --baseline" in _flat(no_base.stdout)
    late = runner.invoke(app, [*args, "--baseline", AS_OF.isoformat()])
    assert late.exit_code == 2
    assert "--baseline" in late.stderr
    bad = runner.invoke(app, [*args, "--baseline", "2026-02-30"])
    assert bad.exit_code == 2


def test_cli_baseline_on_an_empty_extract_says_why(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("patient_id,issue_date,dmd_code,quantity\n")
    runner = CliRunner(env={"COLUMNS": "200"})  # one table row per line, where honoured
    args = ["screen", str(empty), "--baseline", "2026-01-01", "--out", str(tmp_path), "--html"]
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.stderr
    assert "not computed: the extract has no usable issue" in _flat(done.stdout)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Not computed: the extract has no usable issue" in page


def test_the_versions_name_the_table_the_screen_used(tmp_path: Path) -> None:
    # A copy of the bundled table with its id and version but another title, loaded in the
    # same process (an edit not versioned): the report of a screen with the bundled table
    # still names it by the bundled title (the file with its provenance's hash), never by the
    # copy's, nor by its id because two files share it.
    bundled = knowledge_dir("conversion_tables") / "uk-opioids-aware.toml"
    with bundled.open("rb") as f:
        data = tomllib.load(f)
    text = bundled.read_text(encoding="utf-8")
    copy = tmp_path / "copy.toml"
    copy.write_text(text.replace(data["title"], "Copied OME table"), encoding="utf-8")
    load_table(copy)
    page = render_html(_screening())
    assert f"conversion table: {data['title']}, version {data['version']}" in page
    assert "Copied OME table" not in page
    assert 'conversion table "uk-opioids-aware"' not in page
