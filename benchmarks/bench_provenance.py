"""Benchmark of provenance in results (issue 9 item 8). Prints figures; asserts nothing.

- warm latency of ``calculate_ome`` (the 5 prescriptions of ``bench_ome.py``), ``assess`` and
  ``check_prescription`` (the patient of ``bench_check.py``): wall-clock and CPU time per call,
  so a reading on a shared, loaded machine can be judged (print ``uptime`` beside it), with
  the same calls on 2,000 distinct realistic patients beside them (issue 20: each built and
  called once; provenance is in every result either way);
- the one-off cost of computing a knowledge bundle's provenance (hashing its content), which
  is cached per bundle and so paid once per process.

Run: ``.venv/bin/python benchmarks/bench_provenance.py``.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

from bench_check import NEW, PATIENT
from bench_ome import PATIENT as PRESCRIPTIONS
from bench_per_call import check, line, ome, times
from realistic import BenchPatient, patients

from opioidcds import (
    OpioidCDSError,
    Patient,
    Prescription,
    assess,
    calculate_ome,
    check_prescription,
    default_knowledge,
)

RUNS = 20_000


def _measure(name: str, fn: Callable[[], object], runs: int) -> None:
    for _ in range(200):
        fn()
    samples = []
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    for _ in range(runs):
        start = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - start) / 1000)
    wall = (time.perf_counter() - wall0) / runs * 1e6
    cpu = (time.process_time() - cpu0) / runs * 1e6
    ordered = sorted(samples)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    print(
        f"{name:<34} median {statistics.median(ordered):7.1f} us  p99 {p99:7.1f} us"
        f"  mean wall {wall:7.1f} us  mean CPU {cpu:7.1f} us"
    )


def _provenance_cost() -> None:
    try:
        from opioidcds._decide.knowledge import for_knowledge  # noqa: PLC0415
        from opioidcds._knowledge.provenance import clear_cache  # noqa: PLC0415
    except ImportError:  # before provenance existed
        print("provenance: not in this version")
        return
    kb = default_knowledge()
    clear_cache()
    for_knowledge.cache_clear()  # the bundle's own memo, or the figure would be a cache hit
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    for_knowledge(kb, None, False)
    print(
        f"{'provenance of the default bundle':<34} first {(time.perf_counter() - wall0) * 1e3:.1f}"
        f" ms wall, {(time.process_time() - cpu0) * 1e3:.1f} ms CPU (cached afterwards)"
    )


def _assess(p: BenchPatient) -> object:
    try:
        rxs = tuple(Prescription(dmd_code=c, dosage_text=t) for c, t in p.prescriptions)
        return assess(Patient(age=p.age, sex=p.sex, prescriptions=rxs))
    except OpioidCDSError:
        return None


def main() -> None:
    print(f"load average: {os.getloadavg()[0]:.2f} (1 min)")
    _measure("calculate_ome, 5 prescriptions", lambda: calculate_ome(PRESCRIPTIONS), RUNS)
    _measure("assess, 5 prescriptions", lambda: assess(PATIENT), RUNS // 10)
    _measure("check_prescription", lambda: check_prescription(PATIENT, NEW), RUNS)
    for label, work, seed in (
        ("  distinct: build + calculate_ome", ome, 22),
        ("  distinct: build + assess", _assess, 23),
        ("  distinct: build + check", check, 24),
    ):
        print(line(label, times(work, patients(2000, seed))))
    print("  (distinct: 2,000 realistic patients each, built and called once each)")
    _provenance_cost()


if __name__ == "__main__":
    main()
