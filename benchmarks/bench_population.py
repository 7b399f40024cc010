"""Benchmark of population screening (issue 6). Prints figures; asserts nothing.

Generates a SYNTHETIC extract (opioidcds.population.synthetic: about 10 issues per patient,
real catalogue products and dosage texts) into Parquet files (not timed), then times the whole
job end to end: read and check the files, screen every patient, write the worklist CSV, the
problems file, the summary and the HTML report. Prints wall time, CPU time (this process and
its workers; CPU time counts every thread, so on 2 cores it can exceed wall time), rows per
second and peak resident memory of the screening process (the data are generated in a child
process first, so they do not count), and the load average (the machine may be shared).

Targets (issue 6): 1 million issue rows (about 100,000 patients) in <= 10 s on 2 cores;
10 million rows in <= 90 s with peak memory <= 4 GB. The 10 million case runs only with
``--ten-million`` (it takes minutes on a loaded machine).

Run: ``.venv/bin/python benchmarks/bench_population.py [--patients N] [--workers W]
[--ten-million]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from opioidcds.population import screen
from opioidcds.population.report import write_outputs
from opioidcds.population.synthetic import generate


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _peak_mb() -> tuple[float, float]:
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return me, kids  # children include the data generator


def _data(folder: Path, patients: int, copies: int) -> None:
    t = time.perf_counter()
    pop = generate(patients, seed=6)
    issues, people = pop.issues, pop.patients
    if copies > 1:
        issues = pl.concat(
            issues.with_columns(pl.col("patient_id") + f"-{k}") for k in range(copies)
        )
        people = pl.concat(
            people.with_columns(pl.col("patient_id") + f"-{k}") for k in range(copies)
        )
    ipath, ppath = folder / "issues.parquet", folder / "patients.parquet"
    issues.write_parquet(ipath)
    people.write_parquet(ppath)
    print(
        f"generated {issues.height:,} issue rows, {people.height:,} patient rows "
        f"in {time.perf_counter() - t:.1f} s (not timed below)"
    )


def _run(label: str, patients: int, copies: int, workers: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        # generate in a child process so this process's peak memory is the screening's own
        subprocess.run(
            [sys.executable, __file__, "--generate", tmp, str(patients), str(copies)], check=True
        )
        ipath, ppath = folder / "issues.parquet", folder / "patients.parquet"
        rows = pl.scan_parquet(ipath).select(pl.len()).collect().item()
        load0 = os.getloadavg()[0]
        wall0, cpu0 = time.perf_counter(), _cpu()
        result = screen(ipath, ppath, workers=workers)
        screened, cpu1 = time.perf_counter(), _cpu()
        write_outputs(result, folder / "out", formats=("csv",), html=True)
        wall = time.perf_counter() - wall0
        cpu = _cpu() - cpu0
        me, kids = _peak_mb()
        c = result.counts
        print(
            f"{label}: {rows:,} rows, {c['patients']:,} patients, workers={workers}: "
            f"wall {wall:.1f} s (screen {screened - wall0:.1f} s, outputs "
            f"{time.perf_counter() - screened:.1f} s), CPU {cpu:.1f} s (screen "
            f"{cpu1 - cpu0:.1f} s), {rows / wall:,.0f} rows/s (wall), {rows / cpu:,.0f} rows/s "
            f"(CPU); peak RSS {me:,.0f} MB (largest child {kids:,.0f} MB); "
            f"on worklist {c['on_worklist']:,}, problems {c['problem_rows']:,}; "
            f"1-min load average {load0:.1f} before, {os.getloadavg()[0]:.1f} after"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--ten-million", action="store_true")
    parser.add_argument("--generate", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        folder, n, copies = args.generate
        _data(Path(folder), int(n), int(copies))
        return
    print(f"CPUs available: {len(os.sched_getaffinity(0))}; load average {os.getloadavg()}")
    _run("base case", args.patients, 1, args.workers)
    if args.ten_million:
        _run("10x case", args.patients, 10, args.workers)


if __name__ == "__main__":
    main()
