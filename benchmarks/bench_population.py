"""Population screening on a realistic-variety practice, against a Polars floor (issue 20).

Generates a SYNTHETIC extract with realistic variety (``realistic.extract``: about 1,000 real
products and 4,500 distinct dosage texts, 1-4 medicines a patient, monthly issues) into
Parquet and CSV (not timed). Then, in this one process and on the same extract, times:

- the **floor**: a minimal Polars per-patient OME screen (``realistic.polars_floor``: latest
  issue per product, daily units from the text or the quantity, OME summed and flagged);
- ``screen`` from Parquet, with its outputs (worklist CSV, problems, summary, HTML report);
- ``screen`` from CSV (reading only; the same screening).

The figure that counts is the ratio of CPU seconds, library to floor (CPU time counts every
thread; on 2 cores it can exceed wall time). Peak resident memory is printed (of this process,
which ran the floor too). The machine may be shared: the load average is printed.

Targets (issue 20): CPU at most 5x the floor's at 30,000 and at 1,000,000 patients; CSV at
most 1.5x Parquet; peak memory under 4 GB at 10 million rows. With the screen from Parquet it
prints the time spent in garbage collection and the page faults (minor/major) it caused.

``--memory-rows N`` (e.g. 10000000) measures memory apart: an extract of about ``N`` rows
(about 16 per patient) is screened, and its outputs written, in a fresh process that does
nothing else, whose peak resident memory is printed.

Run: ``.venv/bin/python benchmarks/bench_population.py [--patients N ...] [--workers W]
[--memory-rows N]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import polars as pl
from realistic import clear_memos, extract, ome_per_unit_frame, polars_floor

from opioidcds import default_knowledge
from opioidcds.population import default_method, screen, write_outputs

AS_OF = "2026-11-01"
T = TypeVar("T")


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _generate(folder: Path, patients: int) -> None:
    t = time.perf_counter()
    issues, people = extract(patients, as_of=AS_OF)
    issues.write_parquet(folder / "issues.parquet")
    people.write_parquet(folder / "patients.parquet")
    issues.write_csv(folder / "issues.csv")
    people.write_csv(folder / "patients.csv")
    print(
        f"generated {issues.height:,} issue rows, {people.height:,} patients, "
        f"{issues.get_column('dmd_code').n_unique():,} products, "
        f"{issues.get_column('dosage_text').n_unique():,} dosage texts "
        f"in {time.perf_counter() - t:.0f} s (not timed)"
    )


def _high_dose_threshold() -> float:
    """The high-dose threshold of the bundled risk-factors ruleset (read, not copied)."""
    rs = default_knowledge().rulesets["risk-factors"]
    values = [p.value for n, p in rs.parameters.items() if "high" in n or "dose" in n]
    return float(max(values))


def _timed(work: Callable[[], T]) -> tuple[float, float, T]:
    wall0, cpu0 = time.perf_counter(), _cpu()
    out = work()
    return time.perf_counter() - wall0, _cpu() - cpu0, out


class _GcClock:
    """Wall time spent in the garbage collector while it is installed (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = 0
        self._start = 0.0

    def __call__(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._start
            self.collections += 1

    def __enter__(self) -> _GcClock:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *_exc: object) -> None:
        gc.callbacks.remove(self)


def _faults() -> tuple[int, int]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_minflt, me.ru_majflt


def _run(patients: int, workers: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        subprocess.run([sys.executable, __file__, "--generate", tmp, str(patients)], check=True)
        rows = pl.scan_parquet(folder / "issues.parquet").select(pl.len()).collect().item()
        per_unit = ome_per_unit_frame()
        threshold = _high_dose_threshold()
        window = default_method().current_window_days
        load0 = os.getloadavg()[0]
        frame = pl.read_parquet(folder / "issues.parquet")
        f_wall, f_cpu, _ = _timed(lambda: polars_floor(frame, AS_OF, window, threshold, per_unit))
        as_of = dt.date.fromisoformat(AS_OF)
        clear_memos()  # the floor read the texts with the library's grammar: start cold
        faults0 = _faults()
        with _GcClock() as gc_clock:
            p_wall, p_cpu, result = _timed(
                lambda: screen(
                    folder / "issues.parquet",
                    folder / "patients.parquet",
                    as_of=as_of,
                    workers=workers,
                )
            )
        faults = [b - a for a, b in zip(faults0, _faults(), strict=True)]
        o_wall, o_cpu, _ = _timed(
            lambda: write_outputs(result, folder / "out", formats=("csv",), html=True)
        )
        clear_memos()
        c_wall, c_cpu, _ = _timed(
            lambda: screen(
                folder / "issues.csv", folder / "patients.csv", as_of=as_of, workers=workers
            )
        )
        print(
            f"{patients:,} patients, {rows:,} rows, workers={workers}, "
            f"load {load0:.1f} -> {os.getloadavg()[0]:.1f}\n"
            f"  floor (Polars, minimal)       wall {f_wall:7.1f} s  CPU {f_cpu:7.1f} s\n"
            f"  screen from Parquet           wall {p_wall:7.1f} s  CPU {p_cpu:7.1f} s"
            f"   ({p_cpu / f_cpu:.1f}x the floor's CPU; target <= 5x)\n"
            f"    of which garbage collection {gc_clock.seconds:.1f} s "
            f"({gc_clock.collections} collections); page faults {faults[0]:,} minor, "
            f"{faults[1]:,} major\n"
            f"  outputs (CSV + HTML report)   wall {o_wall:7.1f} s  CPU {o_cpu:7.1f} s\n"
            f"  screen from CSV               wall {c_wall:7.1f} s  CPU {c_cpu:7.1f} s"
            f"   ({c_wall / p_wall:.2f}x Parquet's wall; target <= 1.5x)\n"
            f"  peak RSS of this process {_peak_mb():,.0f} MB"
        )


_ROWS_PER_PATIENT = 16.26  # of realistic.extract (measured): to size the memory run


def _screen_only(folder: Path, workers: int) -> None:
    """Screen the extract in ``folder`` and write its outputs; print this process's peak RSS."""
    wall, cpu, result = _timed(
        lambda: screen(
            folder / "issues.parquet",
            folder / "patients.parquet",
            as_of=dt.date.fromisoformat(AS_OF),
            workers=workers,
        )
    )
    after_screen = _peak_mb()
    o_wall, _, _ = _timed(lambda: write_outputs(result, folder / "out", formats=("csv",)))
    print(
        f"  screen wall {wall:.1f} s, CPU {cpu:.1f} s; peak RSS after the screen "
        f"{after_screen:,.0f} MB, after writing the worklist CSV ({o_wall:.1f} s) "
        f"{_peak_mb():,.0f} MB (target < 4,096 MB)"
    )


def _memory(rows: int, workers: int) -> None:
    patients = max(1, round(rows / _ROWS_PER_PATIENT))
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, __file__, "--generate", tmp, str(patients)], check=True)
        n = pl.scan_parquet(Path(tmp) / "issues.parquet").select(pl.len()).collect().item()
        print(f"memory: {n:,} rows, {patients:,} patients, screened in a fresh process:")
        args = ["--screen-only", tmp, "--workers", str(workers)]
        subprocess.run([sys.executable, __file__, *args], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, nargs="*", default=[30_000])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--memory-rows", type=int, default=0, help="e.g. 10000000")
    parser.add_argument("--generate", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--screen-only", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        folder, n = args.generate
        _generate(Path(folder), int(n))
        return
    if args.screen_only:
        _screen_only(Path(args.screen_only), args.workers)
        return
    print(f"CPUs available: {len(os.sched_getaffinity(0))}; load average {os.getloadavg()}")
    for n in args.patients:
        _run(n, args.workers)
    if args.memory_rows:
        _memory(args.memory_rows, args.workers)


if __name__ == "__main__":
    main()
