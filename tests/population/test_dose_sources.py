"""Where each screened patient's daily doses came from: counts and one line (issue 16).

The screening counts, per way, the screened patients whose current opioids' daily doses were
obtained that way (a patient with two ways counts under both), and the HTML report and the
terminal summary say it in one line. The extract has no structured dose fields.
"""

from __future__ import annotations

import json
from pathlib import Path

from opioidcds.cli.screen_cmd import summary_table
from opioidcds.population import Screening, screen
from opioidcds.population.engine import DOSE_SOURCES, dose_sources, dose_sources_line
from opioidcds.population.report import render_html, write_outputs

from .helpers import AS_OF, code, day, issues, patients

CC = "Co-codamol 30mg/500mg tablets"
PATCH = "Fentanyl 25micrograms/hour transdermal patches"


def _screening() -> Screening:
    rows = [
        # a: the dosage text is read (two tablets four times a day)
        ("a", day(56), code(CC), None, "112", None, None),
        ("a", day(0), code(CC), None, "112", "TWO TABLETS FOUR TIMES A DAY", None),
        # b: the text says no dose ("twice a day"): the quantity estimate
        ("b", day(28), code(CC), None, "112", None, None),
        ("b", day(0), code(CC), None, "112", "TWICE A DAY", None),
        # c: a text read and a patch without a text: two ways
        ("c", day(0), code(CC), None, "56", "1 TWICE A DAY :[56]", None),
        ("c", day(30), None, PATCH, "10", None, None),
        ("c", day(2), None, PATCH, "10", None, None),
        # d: no current opioid (the last issue is older than the current window)
        ("d", day(400), code(CC), None, "100", "ONE DAILY", None),
    ]
    people = patients([{"patient_id": p, "age": "50"} for p in "abcd"])
    return screen(issues(rows), people, as_of=AS_OF)


def test_counts_per_way() -> None:
    s = _screening()
    counts = s.counts
    # a and c from the dosage text; b from the quantity estimate; c's patch assumed one
    assert counts["dose_source:dosage-text"] == 2
    assert counts["dose_source:quantity-interval"] == 1
    assert counts["dose_source:patch-assumed-one"] == 1
    assert "dose_source:not-computable" not in counts


def test_the_line_in_the_report_the_summary_and_the_terminal(tmp_path: Path) -> None:
    s = _screening()
    line = dose_sources_line(s.counts)
    assert line.startswith("Daily doses of current opioids, in patients: 2 from the dosage text, ")
    assert "1 from the quantity estimate, 1 patches assumed one at a time, 0 not computable" in line
    assert "none from structured dose fields" in line
    assert line in render_html(s)
    write_outputs(s, tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text("utf-8"))
    assert summary["counts"]["dose_source:dosage-text"] == 2
    table = summary_table(s, [])
    assert ("daily doses", line) in zip(table.columns[0].cells, table.columns[1].cells, strict=True)


def test_ways_read_from_the_method_text() -> None:
    text = (
        "dosage-text: dosage text of the latest issue | patch-assumed-one: the dosage text was "
        "not fully understood: unrecognised word at position 3; no usable dosage text: one "
        "patch worn at a time assumed (a lower bound)"
    )
    assert dose_sources(text) == {"dosage-text", "patch-assumed-one"}
    assert dose_sources("") == frozenset()
    assert dose_sources("no current opioid") == frozenset()
    assert {key for key, _ in DOSE_SOURCES} == {
        "dosage-text",
        "quantity-interval",
        "patch-assumed-one",
        "not-computable",
    }
