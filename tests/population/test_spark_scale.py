"""Spark steps that scale, and parity with ``screen`` (issue 22 items 4 and 5).

Partitions sized by rows; ranks computed over several range partitions; a CSV read in several
splits, a folder of files and a DataFrame, each with problem rows traceable to their source
row; a multi-line CSV; outcomes against a baseline date; an existing session's settings kept.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import polars as pl
import pytest

from opioidcds.population import outcomes, screen
from opioidcds.population.report import worklist_frame
from opioidcds.population.spark import local_session, screen_spark

from .test_spark import _assert_same, _extract

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "population"


@pytest.mark.spark
def test_partitions_by_rows_and_outcomes_as_on_one_machine(spark: object) -> None:
    issues, patients = EXAMPLE / "issues.csv", EXAMPLE / "patients.csv"
    n_rows = pl.read_csv(issues).height + pl.read_csv(patients).height  # 1,619 + 108
    follow, baseline = dt.date(2026, 11, 1), dt.date(2026, 5, 1)
    want_screening, want = outcomes(issues, patients, baseline=baseline, follow_up=follow)
    assert want.status == "evaluated"  # the comparison has something to compare
    assert len(want.groups) > 2  # overall and more than one practice
    result = screen_spark(
        spark,  # type: ignore[arg-type]
        issues,
        patients,
        as_of=follow,
        baseline=baseline,
        max_partition_rows=500,
    )
    try:
        # 1,727 rows at most 500 a partition: ceil(1727 / 500) = 4 partitions (2 cores < 4)
        assert result.partitions == 4
        assert len(result.partition_costs) == 4
        assert sum(c.rows for c in result.partition_costs) == n_rows
        got_screening, got = result.outcomes()
        _assert_same(got_screening, want_screening)
        assert got == want
        frame = pl.from_arrow(result.worklist.toArrow())
        assert isinstance(frame, pl.DataFrame)
        assert frame.equals(worklist_frame(want_screening))  # ranks over 4 ranges
    finally:
        result.unpersist()


@pytest.mark.spark
def test_rank_over_several_ranges_is_the_global_rank(spark: object) -> None:
    from opioidcds.population.spark import _ranked  # noqa: PLC0415 - the step itself

    rng = random.Random(3)  # noqa: S311 - test data, not security
    # sort keys (text) and listed or not; listed and not listed rows interleave in the ranges
    rows = [(f"{rng.randrange(0, 10_000):05d}-P{i:03d}", rng.random() < 0.6) for i in range(300)]
    frame = spark.createDataFrame(  # type: ignore[attr-defined]
        [(key, f"P{i:03d}", listed) for i, (key, listed) in enumerate(rows)],
        "_sort string, patient_id string, _listed boolean",
    )
    ranked = _ranked(frame, 5).collect()
    # the rows were ranked in several ranges, listed rows in more than one of them
    assert len({r["_range"] for r in ranked}) == 5
    assert len({r["_range"] for r in ranked if r["_listed"]}) > 1
    # by hand: in key order, the n-th listed row has rank n; the others none
    want: list[tuple[str, int | None]] = []
    n = 0
    for key, listed in sorted(rows):
        n += listed
        want.append((key, n if listed else None))
    assert [(r["_sort"], r["rank"]) for r in ranked] == want
    # and the same again (the ranges have fixed bounds: a later action sees the same)
    assert [(r["_sort"], r["rank"]) for r in _ranked(frame, 5).collect()] == want


@pytest.mark.spark
def test_csv_splits_folders_and_frames_trace_problem_rows(spark: object, tmp_path: Path) -> None:
    issues, patients, _ = _extract(tmp_path)
    want = screen(issues, patients)
    assert len(want.problems) >= 5
    conf = spark.conf  # type: ignore[attr-defined]
    before = conf.get("spark.sql.files.maxPartitionBytes")
    conf.set("spark.sql.files.maxPartitionBytes", "8192")  # the CSV is read in several splits
    try:
        assert spark.read.csv(str(issues)).rdd.getNumPartitions() > 1  # type: ignore[attr-defined]
        one = screen_spark(spark, issues, patients, partitions=3)  # type: ignore[arg-type]
    finally:
        conf.set("spark.sql.files.maxPartitionBytes", before)
    try:
        _assert_same(one.to_screening(), want)
        for rec in one.problems.collect():  # one file: its own row numbers
            assert rec["row"] == rec["source_row"]
            assert str(rec["source"]).endswith(f"/{rec['file']}.csv")
    finally:
        one.unpersist()
    # the same issues in a folder of two files: rows counted in file-path order, and traced
    frame = pl.read_csv(issues, infer_schema=False)
    folder = tmp_path / "issues-folder"
    folder.mkdir()
    frame.head(300).write_csv(folder / "part-a.csv")
    frame.slice(300).write_csv(folder / "part-b.csv")
    two = screen_spark(spark, folder, patients, partitions=2)  # type: ignore[arg-type]
    try:
        _assert_same(two.to_screening(), want)
        traced = [r for r in two.problems.collect() if r["file"] == "issues"]
        assert any(str(r["source"]).endswith("part-b.csv") for r in traced)
        for rec in traced:
            first = str(rec["source"]).endswith("part-a.csv")
            assert rec["source_row"] == (rec["row"] if first else rec["row"] - 300)
    finally:
        two.unpersist()
    # a DataFrame that is not a file scan: rows in the order given, no source file
    data = spark.createDataFrame(frame.rows(), ", ".join(f"`{c}` string" for c in frame.columns))  # type: ignore[attr-defined]
    three = screen_spark(spark, data, patients, partitions=2)  # type: ignore[arg-type]
    try:
        _assert_same(three.to_screening(), want)
        traced = [r for r in three.problems.collect() if r["file"] == "issues"]
        assert all(r["source"] is None and r["source_row"] == r["row"] for r in traced)
    finally:
        three.unpersist()


@pytest.mark.spark
def test_multi_line_csv_is_read_as_on_one_machine(spark: object, tmp_path: Path) -> None:
    src = pl.read_csv(EXAMPLE / "issues.csv", infer_schema=False).head(200)
    # a line break inside a quoted dosage text: a multi-line CSV record
    texts = src.get_column("dosage_text").to_list()
    texts[7] = "take one tablet\ntwice a day"
    path = tmp_path / "issues.csv"
    src.with_columns(pl.Series("dosage_text", texts)).write_csv(path)
    assert path.read_text(encoding="utf-8").count("\n") == src.height + 2  # header + break
    want = screen(path)
    result = screen_spark(spark, path, partitions=2)  # type: ignore[arg-type]
    try:
        _assert_same(result.to_screening(), want)
    finally:
        result.unpersist()


@pytest.mark.spark
def test_an_existing_session_keeps_its_settings(spark: object) -> None:
    conf = spark.conf  # type: ignore[attr-defined]
    keys = ("spark.sql.shuffle.partitions", "spark.sql.session.timeZone")
    before = {k: conf.get(k) for k in keys}
    conf.set("spark.sql.shuffle.partitions", "7")
    conf.set("spark.sql.session.timeZone", "America/New_York")
    try:
        again = local_session("local[2]", config={"spark.sql.shuffle.partitions": "3"})
        assert again is spark
        result = screen_spark(spark, EXAMPLE / "issues.csv", partitions=2)  # narrowed above
        result.unpersist()
        assert conf.get("spark.sql.shuffle.partitions") == "7"
        assert conf.get("spark.sql.session.timeZone") == "America/New_York"
    finally:
        for k, v in before.items():
            conf.set(k, v)
