"""Outputs: worklist files, problems file, summary, HTML report (renders, escapes), the CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import polars as pl

from opioidcds.population import screen
from opioidcds.population.report import render_html, worklist_frame, write_outputs

from .helpers import AS_OF, day, issues, patients

ROOT = Path(__file__).resolve().parents[2]
CC = "Co-codamol 30mg/500mg tablets"
EVIL = '<script>alert("x")</script>&'


def _screening() -> object:
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
    page = render_html(s)  # type: ignore[arg-type]
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in page
    parser = _Collect()
    parser.feed(page)
    assert "script" not in parser.tags
    assert parser.tags.count("svg") == 3  # tiers, levels, OME distribution
    assert "table" in parser.tags
    text = "".join(parser.text)
    assert EVIL in text  # shown as text, not markup
    assert "Worklist: the first 1 of 1" in text
    assert "issue_date missing or not a date" in text  # problems by reason
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", page)  # no network


def test_files_round_trip(tmp_path: Path) -> None:
    s = _screening()
    formats = ("csv", "parquet", "json")
    paths = write_outputs(s, tmp_path, formats=formats, html=True)  # type: ignore[arg-type]
    assert {p.name for p in paths} == {
        "worklist.csv",
        "worklist.parquet",
        "worklist.json",
        "problems.csv",
        "summary.json",
        "report.html",
    }
    frame = worklist_frame(s)  # type: ignore[arg-type]
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
