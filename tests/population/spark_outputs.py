"""Helpers for the Spark cluster and Connect tests: an extract, and outputs compared with screen.

The extract is a generated practice with bad rows added (each kind of problem ``screen``
reports), shuffled; the comparisons check every output of ``screen-spark``'s cluster mode
(worklist, problems, summary, provenance) against ``screen`` on the same files.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
from collections.abc import Mapping
from pathlib import Path

import polars as pl
import pytest

from opioidcds.population import Screening
from opioidcds.population.report import summary_dict, worklist_frame
from opioidcds.population.spark import SparkUnavailableError, require_spark
from opioidcds.population.synthetic import generate

# C1-only JIT and the serial collector: about half the JVM's CPU time for runs this small
FAST_JVM = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


def need_spark() -> None:
    """Skip without Java or pyspark, except under ``OPIOIDCDS_CI=1`` (then fail)."""
    try:
        require_spark()
    except SparkUnavailableError as exc:
        if os.environ.get("OPIOIDCDS_CI") == "1":
            pytest.fail(f"CI must provide Java and pyspark (.ci/run): {exc}")
        pytest.skip(f"Spark tests need Java 17+ and the 'spark' extra: {exc}")


def write_extract(folder: Path, patients: int = 80, seed: int = 23) -> tuple[Path, Path]:
    """A generated practice with bad rows, shuffled, as ``issues.csv`` and ``patients.csv``."""
    pop = generate(patients, seed=seed)
    rows = pop.issues.rows()
    first = rows[0]
    extra = [
        (f"  {first[0]} ", *first[1:]),  # the same patient once stripped
        (first[0], "2026-02-30", *first[2:]),  # not a date
        ("SYN-NEG", first[1], first[2], first[3], "-5", None, None),  # negative quantity
        rows[3],  # exact duplicate of an earlier row
    ]
    all_rows = rows + extra
    random.Random(seed).shuffle(all_rows)  # noqa: S311 - test data order, not security
    issues = pl.DataFrame(all_rows, schema=pop.issues.schema, orient="row")
    pts = pop.patients.rows()
    bad = [(pts[0][0], *pts[1][1:]), ("SYN-NOISSUES", "abc", *pts[2][2:])]  # twice; bad age
    table = pl.DataFrame(pts + bad, schema=pop.patients.schema, orient="row")
    folder.mkdir(parents=True, exist_ok=True)
    issues.write_csv(folder / "issues.csv")
    table.write_csv(folder / "patients.csv")
    return folder / "issues.csv", folder / "patients.csv"


def check_problem_kinds(want: Screening) -> None:
    """The extract's bad rows really are there, so the comparisons cover them."""
    reasons = {p.reason for p in want.problems}
    assert "issue_date missing or not a date (YYYY-MM-DD)" in reasons
    assert "quantity not a positive number" in reasons
    assert any(r.startswith("duplicate") for r in reasons)
    assert "patient_id appears more than once in the patient table" in reasons


def parquet_folder(folder: Path) -> pl.DataFrame:
    """A Parquet folder written by Spark, its part files in order (Spark's output order)."""
    parts = sorted(folder.glob("part-*.parquet"))
    assert parts, f"no part files in {folder.name}"
    assert (folder / "_SUCCESS").exists()
    return pl.concat([pl.read_parquet(p) for p in parts], how="vertical")


def assert_outputs(frames: Mapping[str, pl.DataFrame], want: Screening, *, ordered: bool) -> None:
    """Worklist, problems, summary and provenance frames equal ``screen``'s outputs.

    ``ordered``: the worklist's rows must come in worklist order (a Parquet folder); for a
    table read back (no defined order) they are compared by patient id, ``rank`` included.
    """
    expected = worklist_frame(want)
    worklist = frames["worklist"]
    assert worklist.columns == expected.columns
    assert worklist.schema == expected.schema
    if not ordered:
        worklist, expected = worklist.sort("patient_id"), expected.sort("patient_id")
    assert worklist.equals(expected)
    problems = frames["problems"].sort("file", "row").select("file", "row", "reason")
    assert [tuple(r) for r in problems.iter_rows()] == [
        (p.file, p.row, p.reason) for p in want.problems
    ]
    summary = frames["summary"]
    assert summary.height == 1
    got = json.loads(summary.item(0, "summary_json"))
    expected_summary = json.loads(json.dumps(summary_dict(want), sort_keys=True))
    assert expected_summary.pop("engine") == want.engine
    assert got.pop("engine") == "spark"
    assert got == expected_summary
    assert summary.item(0, "as_of") == want.as_of
    assert isinstance(want.as_of, dt.date)
    counts = summary.item(0, "counts")  # a Spark map: a dict, or key/value structs
    if not isinstance(counts, dict):
        counts = {c["key"]: c["value"] for c in counts}
    assert counts == dict(want.counts)
    provenance = frames["provenance"].sort("kind", "id")
    sources = sorted(want.provenance.knowledge, key=lambda s: (s.kind, s.id))
    assert provenance.height == len(sources) > 0
    for row, source in zip(provenance.iter_rows(named=True), sources, strict=True):
        assert row["library_version"] == want.provenance.library_version
        assert row["knowledge_sha256"] == want.provenance.knowledge_sha256
        assert (row["kind"], row["id"], row["version"], row["sha256"]) == (
            source.kind,
            source.id,
            source.version,
            source.sha256,
        )
