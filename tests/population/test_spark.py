"""The Spark runner (extra ``spark``) gives the single-machine engine's results, in local mode.

Same generated practice (plus bad rows that exercise the whole-extract steps), read from the
same files by both engines; the Spark run uses several patient partitions of shuffled rows.
Marked ``spark``; skipped when Java or pyspark is missing, except under ``OPIOIDCDS_CI=1``
(set by ``.ci/run``), where that is a failure.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from opioidcds import InvalidInputError, load_profile
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds.cli.app import app
from opioidcds.population import Screening, screen
from opioidcds.population.report import worklist_frame
from opioidcds.population.spark import SparkUnavailableError, require_spark, screen_spark
from opioidcds.population.synthetic import generate

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "population"


def _extract(tmp: Path) -> tuple[Path, Path, dt.date]:
    """A synthetic practice with bad rows added, rows shuffled, written as CSV."""
    pop = generate(120, seed=11)
    rows = pop.issues.rows()
    late = (pop.as_of + dt.timedelta(days=5)).isoformat()
    first = rows[0]
    extra = [
        # same patient as first[0] once stripped: must meet its other rows in one partition
        (f"  {first[0]} ", *first[1:4], first[4], "one tablet twice a day", ""),
        (first[0], "2026-13-01", *first[2:]),  # not a date
        ("SYN-NEG", first[1], first[2], first[3], "-5", None, None),  # negative quantity
        ("SYN-UNK", first[1], "99999999999", None, "28", None, None),  # unknown dm+d code
        rows[5],  # exact duplicate of an earlier row
    ]
    all_rows = rows + extra
    random.Random(5).shuffle(all_rows)  # noqa: S311 - test data order, not security
    # A later date on a row excluded (days_supply), then its copy: the copy is a duplicate of
    # the excluded row, so neither sets as_of (whole-extract steps in row order, not per part)
    all_rows.insert(10, ("SYN-LATE", late, first[2], first[3], "28", None, "999"))
    all_rows.insert(len(all_rows) - 10, ("SYN-LATE", late, first[2], first[3], "28", None, "28"))
    issues = pl.DataFrame(all_rows, schema=pop.issues.schema, orient="row")
    pts = pop.patients.rows()
    bad_patients = [
        (pts[0][0], *pts[1][1:]),  # patient id given twice
        ("SYN-NOISSUES", "50", *pts[2][2:]),  # in the table, no issues
        (pts[3][0].strip(), "abc", *pts[3][2:]),  # age not a number (and a duplicate id)
    ]
    patients = pl.DataFrame(pts + bad_patients, schema=pop.patients.schema, orient="row")
    issues.write_csv(tmp / "issues.csv")
    patients.write_csv(tmp / "patients.csv")
    latest = dt.date.fromisoformat(max(r[1] for r in rows))  # of the generated rows
    return tmp / "issues.csv", tmp / "patients.csv", latest


def _assert_same(got: Screening, want: Screening) -> None:
    assert got.as_of == want.as_of
    assert got.problems == want.problems
    assert dict(got.counts) == dict(want.counts)
    assert dict(got.versions) == dict(want.versions)
    assert dict(got.factor_labels) == dict(want.factor_labels)
    assert got.provenance == want.provenance  # same knowledge, profile and method (HAZ-011)
    assert len(got.rows) == len(want.rows)
    for a, b in zip(got.rows, want.rows, strict=True):
        assert a == b, a.patient_id
    assert got.engine == "spark"


@pytest.mark.spark
def test_spark_equals_single_machine(spark: object, tmp_path: Path) -> None:
    issues, patients, as_of = _extract(tmp_path)
    want = screen(issues, patients)
    # the bad rows are really there, so the comparison covers them
    reasons = {p.reason for p in want.problems}
    assert "issue_date missing or not a date (YYYY-MM-DD)" in reasons
    assert "quantity not a positive number" in reasons
    assert any(r.startswith("duplicate") for r in reasons)
    assert "patient_id appears more than once in the patient table" in reasons
    assert want.as_of == as_of  # not the later date of the excluded rows
    assert want.counts["patients_in_table_without_issues"] == 1
    result = screen_spark(spark, issues, patients, partitions=3)  # type: ignore[arg-type]
    try:
        got = result.to_screening()
        _assert_same(got, want)
        # the Spark worklist has the worklist file's columns, global ranks, same order
        frame = pl.from_arrow(result.worklist.toArrow())
        assert isinstance(frame, pl.DataFrame)
        expected = worklist_frame(want)
        assert frame.schema == expected.schema
        assert frame.equals(expected)
        # the patients really were spread over several partitions, each reporting its cost
        assert len(result.partition_costs) == 3
        assert sum(c.rows > 0 for c in result.partition_costs) > 1
        assert sum(c.rows for c in result.partition_costs) == (
            want.counts["issue_rows_read"] + pl.read_csv(patients).height
        )
    finally:
        result.unpersist()


@pytest.mark.spark
def test_spark_with_given_as_of_and_profile(spark: object, tmp_path: Path) -> None:
    issues, patients, as_of = _extract(tmp_path)
    day = as_of - dt.timedelta(days=20)  # later issues are listed as not used
    profile = load_profile(knowledge_dir("rules") / "profiles" / "opioids-aware-90.toml")
    want = screen(issues, patients, as_of=day, profile=profile)
    assert any(p.reason == "issued after the as-of date: not used" for p in want.problems)
    result = screen_spark(spark, issues, patients, as_of=day, profile=profile, partitions=2)  # type: ignore[arg-type]
    try:
        _assert_same(result.to_screening(), want)
    finally:
        result.unpersist()


@pytest.mark.spark
def test_spark_input_errors_are_typed(spark: object, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("patient_id,issue_date\nP1,2026-01-01\n", encoding="utf-8")
    with pytest.raises(InvalidInputError) as single:
        screen(tmp_path / "a.csv")
    with pytest.raises(InvalidInputError) as spark_error:
        screen_spark(spark, tmp_path / "a.csv")  # type: ignore[arg-type]
    assert str(spark_error.value) == str(single.value)  # names the missing columns
    # a row with more fields than the header: refused, by row number (never its values)
    (tmp_path / "b.csv").write_text(
        "patient_id,issue_date,product_name,quantity\n"
        "P1,2026-01-01,Codeine 30mg tablets,28\n"
        "P2,2026-01-01,Codeine 30mg tablets,28,SECRET\n",
        encoding="utf-8",
    )
    with pytest.raises(InvalidInputError, match=r"first: data row 2\)") as bad:
        screen_spark(spark, tmp_path / "b.csv")  # type: ignore[arg-type]
    assert "SECRET" not in str(bad.value)
    assert "P2" not in str(bad.value)
    # and a row with fewer fields (Spark would fill the rest with nulls)
    (tmp_path / "c.csv").write_text(
        "patient_id,issue_date,product_name,quantity\nP1,2026-01-01,Codeine 30mg tablets\n",
        encoding="utf-8",
    )
    with pytest.raises(InvalidInputError, match=r"1 row\(s\) .*first: data row 1\)"):
        screen_spark(spark, tmp_path / "c.csv")  # type: ignore[arg-type]


@pytest.mark.spark
def test_cli_screen_spark_writes_the_same_files(spark: object, tmp_path: Path) -> None:
    runner = CliRunner()
    issues, patients = str(EXAMPLE / "issues.csv"), str(EXAMPLE / "patients.csv")
    first, second = tmp_path / "one", tmp_path / "two"
    one = runner.invoke(app, ["screen", issues, "--patients", patients, "--out", str(first)])
    args = ["screen-spark", issues, "--patients", patients, "--out", str(second)]
    two = runner.invoke(app, [*args, "--partitions", "2", "--master", "local[2]"])
    assert one.exit_code == 0, one.output
    assert two.exit_code == 0, two.output
    for name in ("worklist.csv", "problems.csv"):
        assert (second / name).read_bytes() == (first / name).read_bytes(), name
    assert "Screening (Spark)" in two.output


def test_missing_java_is_a_typed_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))  # no bin/java there
    with pytest.raises(SparkUnavailableError, match="Java runtime"):
        require_spark()
    monkeypatch.delenv("JAVA_HOME")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SparkUnavailableError, match="JAVA_HOME or PATH"):
        require_spark()
    (tmp_path / "java").write_text("#!/bin/sh\necho 'java version \"1.8.0_392\"' >&2\n")
    (tmp_path / "java").chmod(0o755)
    with pytest.raises(SparkUnavailableError, match="Java 17 or later"):
        require_spark()


def test_cli_without_java_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    done = CliRunner().invoke(app, ["screen-spark", str(EXAMPLE / "issues.csv")])
    assert done.exit_code == 2
    assert "Java runtime" in done.output


@pytest.mark.spark
def test_cli_screen_spark_baseline_writes_the_same_outcomes(spark: object, tmp_path: Path) -> None:
    # issue 22, item 5: --baseline and --capacity on screen-spark, as on screen. The follow-up
    # date is fixed and the baseline before it; both commands write the same outcome files.
    runner = CliRunner()
    issues, patients = str(EXAMPLE / "issues.csv"), str(EXAMPLE / "patients.csv")
    first, second = tmp_path / "one", tmp_path / "two"
    dates = ["--as-of", "2025-11-30", "--baseline", "2025-05-31", "--capacity", "6"]
    one = runner.invoke(
        app, ["screen", issues, "--patients", patients, "--out", str(first), *dates]
    )
    args = ["screen-spark", issues, "--patients", patients, "--out", str(second), *dates]
    two = runner.invoke(app, [*args, "--max-partition-rows", "400", "--master", "local[2]"])
    assert one.exit_code == 0, one.output
    assert two.exit_code == 0, two.output
    for name in ("worklist.csv", "problems.csv", "outcomes.csv", "outcomes_patients.csv"):
        assert (second / name).read_bytes() == (first / name).read_bytes(), name
    # without --out there is nowhere to write the outcomes: refused, naming the option
    three = runner.invoke(
        app, ["screen-spark", issues, "--output-dir", str(tmp_path / "c"), *dates]
    )
    assert three.exit_code == 2
    assert "--baseline" in three.output


@pytest.mark.spark
def test_default_as_of_checked_by_the_partitions_and_every_row(
    spark: object, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import logging  # noqa: PLC0415

    from opioidcds.population import spark_read  # noqa: PLC0415 - the counting step itself

    issues, patients, as_of = _extract(tmp_path)
    want = screen(issues, patients)
    assert want.as_of == as_of
    caplog.set_level(logging.DEBUG, logger="opioidcds.population.spark")
    # the latest date's only rows are excluded: no partition finds a row of it that passes,
    # so the earlier dates are checked and the partitions screened again at the one found
    result = screen_spark(spark, issues, patients, partitions=2)  # type: ignore[arg-type]
    try:
        _assert_same(result.to_screening(), want)
    finally:
        result.unpersist()
    steps = [r.getMessage() for r in caplog.records]
    assert any("screening at the earlier date" in m for m in steps)
    # too many (split, date text) groups to collect: every row checked in a pass of its own
    caplog.clear()
    monkeypatch.setattr(spark_read, "_MAX_STAT_ROWS", 1)
    result = screen_spark(spark, issues, patients, partitions=2)  # type: ignore[arg-type]
    try:
        _assert_same(result.to_screening(), want)
    finally:
        result.unpersist()
    steps = [r.getMessage() for r in caplog.records]
    assert any("as_of took" in m for m in steps)
    assert not any("earlier date" in m for m in steps)
