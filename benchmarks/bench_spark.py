"""Spark against ``screen`` on one realistic-variety extract, and an estimate for 60 million.

Generates a SYNTHETIC extract with realistic variety (``realistic.extract``, as
``bench_population.py`` uses: about 1,000 real products, thousands of dosage texts, 1-4
medicines a patient, monthly issues; about 16 issue rows a patient) into Parquet (not timed).
Then, on the same extract, times (wall):

- ``screen`` from Parquet, its worklist frame written to Parquet (memos cleared first);
- ``screen_spark`` from Parquet in a local session (started before timing), its worklist and
  problems written to Parquet by Spark (nothing collected but counts and figures).

Both worklists are read back and compared (they must be identical). Prints both wall times,
the ratio, the partitions' costs (rows, seconds, Python worker peak memory: min, median, max)
and an estimate for 60 million patients on a stated cluster, derived from the measured cost a
row of a partition (and the measured share of the job spent outside the partitions).

Target (issue 22): Spark wall at most 3x ``screen``'s at 1 million patients, the memory of a
Python worker bounded by ``--max-partition-rows``. The machine may be shared: the load
average is printed. Run long jobs with ``nice``.

Run: ``.venv/bin/python benchmarks/bench_spark.py [--patients N] [--master local[2]]
[--max-partition-rows N] [--driver-memory 4g]``.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

import polars as pl
from realistic import clear_memos, extract

from opioidcds.population import screen
from opioidcds.population.report import worklist_frame
from opioidcds.population.spark import (
    DEFAULT_MAX_PARTITION_ROWS,
    PartitionCost,
    local_session,
    screen_spark,
)

AS_OF = "2026-11-01"
TARGET_PATIENTS = 60_000_000  # all of England (issue 22)
# The stated cluster for the estimate: 16 workers of 8 cores (one Python worker a core)
CLUSTER_WORKERS = 16
CORES_PER_WORKER = 8


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min)"


def _spread(values: list[float]) -> str:
    return f"min {min(values):.2f}, median {statistics.median(values):.2f}, max {max(values):.2f}"


def _estimate(
    costs: tuple[PartitionCost, ...], rows: int, patients: int, spark_wall: float, cores: int
) -> None:
    busy = sum(c.seconds for c in costs)
    per_row = busy / rows
    # the job's wall time on these cores beyond the partitions' own time (read, shuffle, rank)
    outside = max(0.0, spark_wall * cores - busy) / rows
    rows_60m = rows / patients * TARGET_PATIENTS
    cluster_cores = CLUSTER_WORKERS * CORES_PER_WORKER
    core_seconds = rows_60m * (per_row + outside)
    wall = core_seconds / cluster_cores
    print(
        f"\nestimate for {TARGET_PATIENTS:,} patients ({rows_60m:,.0f} rows at "
        f"{rows / patients:.1f} rows a patient), on {CLUSTER_WORKERS} workers x "
        f"{CORES_PER_WORKER} cores ({cluster_cores} cores):"
    )
    print(
        f"  partition cost {per_row * 1e6:.1f} us a row + the rest of the job "
        f"{outside * 1e6:.1f} us a row (measured here: {busy:.1f} s in partitions, "
        f"{spark_wall:.1f} s wall on {cores} cores)"
    )
    print(
        f"  = {core_seconds:,.0f} core-seconds / {cluster_cores} cores = {wall / 60:.1f} min "
        f"wall, {CLUSTER_WORKERS * wall / 3600:.1f} worker-hours (times your price a "
        "worker-hour; driver extra)"
    )
    parts = math.ceil(rows_60m / DEFAULT_MAX_PARTITION_ROWS)
    print(f"  partitions at the default {DEFAULT_MAX_PARTITION_ROWS:,} rows: {parts:,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--max-partition-rows", type=int, default=DEFAULT_MAX_PARTITION_ROWS)
    parser.add_argument("--driver-memory", default="4g", help="JVM heap of the local session")
    args = parser.parse_args()
    cores = int(args.master.removeprefix("local[").removesuffix("]") or 1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        issues_frame, people = extract(args.patients, as_of=AS_OF)
        issues_frame.write_parquet(folder / "issues.parquet")
        people.write_parquet(folder / "patients.parquet")
        rows = issues_frame.height + people.height
        print(
            f"generated {issues_frame.height:,} issue rows, {people.height:,} patients in "
            f"{time.perf_counter() - t:.0f} s (not timed); {_load()}"
        )
        del issues_frame, people
        issues, patients = folder / "issues.parquet", folder / "patients.parquet"

        clear_memos()
        t = time.perf_counter()
        single = screen(issues, patients)
        worklist_frame(single).write_parquet(folder / "single.parquet")
        single_wall = time.perf_counter() - t
        print(f"screen: {single_wall:.1f} s wall; {_load()}")
        del single

        t = time.perf_counter()
        spark = local_session(args.master, config={"spark.driver.memory": args.driver_memory})
        print(f"spark session started in {time.perf_counter() - t:.1f} s (not timed)")
        t = time.perf_counter()
        result = screen_spark(spark, issues, patients, max_partition_rows=args.max_partition_rows)
        result.worklist.write.parquet(str(folder / "spark-worklist"))
        result.problems.write.parquet(str(folder / "spark-problems"))
        spark_wall = time.perf_counter() - t
        costs = result.partition_costs
        result.unpersist()
        print(f"screen_spark: {spark_wall:.1f} s wall; {_load()}")
        print(f"ratio Spark / screen: {spark_wall / single_wall:.2f}x (target at most 3x)")
        print(
            f"partitions: {len(costs)} (max {args.max_partition_rows:,} rows); rows "
            f"{_spread([float(c.rows) for c in costs])}; "
            f"seconds {_spread([c.seconds for c in costs])}; "
            f"Python worker peak MB {_spread([c.worker_peak_mb for c in costs])}"
        )
        parts = sorted((folder / "spark-worklist").glob("part-*.parquet"))  # in partition order
        got = pl.concat([pl.read_parquet(p) for p in parts])
        want = pl.read_parquet(folder / "single.parquet")
        same = got.equals(want)
        print(f"worklists identical: {same} ({want.height:,} rows)")
        spark.stop()
        _estimate(costs, rows, args.patients, spark_wall, cores)
        if not same:
            raise SystemExit("the Spark worklist differs from screen's")


if __name__ == "__main__":
    main()
