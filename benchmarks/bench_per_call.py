"""Per-call cost on realistic inputs: a different patient every call (issue 20). Prints figures.

10,000 distinct patients (about 3 prescriptions each: a dm+d code from about 1,000 real
products and a dosage text from about 3,000 distinct texts; ``realistic.py``), each timed once:

- **OME**: build the ``Prescription`` objects and call ``calculate_ome``;
- **check**: build the ``Patient`` and the new ``Prescription`` and call
  ``check_prescription``;

and, in the same process on the same inputs, a **floor**: a minimal hand-written calculator
that looks each product's OME per unit and each text's dose up in tables made before timing
(``realistic.floor_tables``) and multiplies, plus, for the check, the threshold comparisons.
The figure that counts is the ratio of medians. The warm figure (the same patient re-sent, as a
plugin retrying one prescription would) is printed beside it, never alone. Each patient is
timed once, from a process that has seen none of them: the products and texts a patient is the
first to send are read during its call, as in a service that has just started.

Targets (issue 20): build + ``calculate_ome`` at most 8x the floor; build + ``check_prescription``
at most 15x. The machine may be shared: the load average is printed before and after, with the
CPU time of each series (a loaded machine stretches the wall-clock figures, not the CPU).

The other benchmarks import :func:`distinct_ome` and :func:`distinct_check` to print a
distinct-patients figure beside their warm ones.

Run: ``.venv/bin/python benchmarks/bench_per_call.py [--patients N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from decimal import Decimal

from realistic import BenchPatient, FloorTables, floor_ome, floor_tables, patients, products

from opioidcds import (
    OpioidCDSError,
    Patient,
    Prescription,
    calculate_ome,
    check_prescription,
    default_knowledge,
)


def times(work: Callable[[BenchPatient], object], bench: list[BenchPatient]) -> list[float]:
    """Microseconds (wall clock) of ``work`` on each patient of ``bench``, once each."""
    out = []
    clock = time.perf_counter_ns
    for p in bench:
        t0 = clock()
        work(p)
        out.append((clock() - t0) / 1000)
    return out


def line(label: str, us: list[float]) -> str:
    """``label``, median and p99 of ``us``."""
    ordered = sorted(us)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    return f"{label:<48} median {statistics.median(ordered):8.1f} us   p99 {p99:8.1f} us"


ERRORS = {"input errors": 0}
"""Calls refused with a typed error (counted, not timed differently)."""


def ome(p: BenchPatient) -> object:
    """Build the patient's prescriptions and calculate their OME."""
    try:
        rxs = [Prescription(dmd_code=c, dosage_text=t) for c, t in p.prescriptions]
        return calculate_ome(rxs)
    except OpioidCDSError:
        ERRORS["input errors"] += 1
        return None


def check(p: BenchPatient) -> object:
    """Build the patient and the new prescription and check it."""
    try:
        rxs = tuple(Prescription(dmd_code=c, dosage_text=t) for c, t in p.prescriptions)
        patient = Patient(age=p.age, sex=p.sex, prescriptions=rxs)
        new = Prescription(dmd_code=p.new[0], dosage_text=p.new[1])
        return check_prescription(patient, new)
    except OpioidCDSError:
        ERRORS["input errors"] += 1
        return None


def distinct_ome(n: int = 3000, seed: int = 21) -> list[float]:
    """Per-call microseconds of build + ``calculate_ome`` for ``n`` distinct realistic patients.

    ``seed`` differs from this benchmark's, so the patients are new to a process that ran it.
    """
    return times(ome, patients(n, seed))


def distinct_check(n: int = 3000, seed: int = 21) -> list[float]:
    """Per-call microseconds of build + ``check_prescription`` for ``n`` distinct patients."""
    return times(check, patients(n, seed))


def _thresholds() -> tuple[Decimal, ...]:
    """The OME thresholds the prescribing-alerts ruleset compares with (read, not copied)."""
    rs = default_knowledge().rulesets["prescribing-alerts"]
    return tuple(p.value for p in rs.parameters.values() if p.unit is not None and "mg" in p.unit)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    args = parser.parse_args()
    bench = patients(args.patients)
    tables: FloorTables = floor_tables(bench)
    kinds = {p.dmd_code: p.kind for p in products()}
    limits = _thresholds()
    default_knowledge()  # loaded once per process, like any caller's first call
    n_rx = sum(len(p.prescriptions) for p in bench)
    print(
        f"{len(bench):,} distinct patients, {n_rx:,} prescriptions, "
        f"{len({c for p in bench for c, _ in p.prescriptions}):,} products, "
        f"{len({t for p in bench for _, t in p.prescriptions}):,} dosage texts; "
        f"load average {os.getloadavg()[0]:.1f}"
    )

    def floor(p: BenchPatient) -> object:
        return floor_ome(p.prescriptions, tables, kinds)

    def floor_check(p: BenchPatient) -> object:
        before = floor_ome(p.prescriptions, tables, kinds)
        after = before + floor_ome((p.new,), tables, kinds)
        return [limit for limit in limits if after > limit >= before]

    cpu: dict[str, float] = {}

    def timed(
        name: str, work: Callable[[BenchPatient], object], on: list[BenchPatient]
    ) -> list[float]:
        t0 = time.process_time()
        out = times(work, on)
        cpu[name] = (time.process_time() - t0) / len(on) * 1e6
        return out

    floor_us = timed("floor", floor, bench)
    ome_us = timed("ome", ome, bench)
    floor_check_us = timed("floor_check", floor_check, bench)
    check_us = timed("check", check, bench)
    errors = ERRORS["input errors"]  # of the distinct patients (before the warm series)
    same = [bench[0]] * min(len(bench), 5000)
    warm_ome = times(ome, same)
    warm_check = times(check, same)
    print(line("floor: hand-written OME (distinct patients)", floor_us))
    print(line("build + calculate_ome (distinct patients)", ome_us))
    print(line("  (warm: the same patient re-sent)", warm_ome))
    print(line("floor: OME before/after + thresholds", floor_check_us))
    print(line("build + check_prescription (distinct patients)", check_us))
    print(line("  (warm: the same patient re-sent)", warm_check))
    print(
        "mean CPU per patient (distinct): "
        + ", ".join(f"{k} {v:.1f} us" for k, v in cpu.items())
        + f"; load average now {os.getloadavg()[0]:.1f}"
    )
    med = statistics.median
    print(
        f"ratio to the floor (medians, distinct patients): OME {med(ome_us) / med(floor_us):.1f}x "
        f"(target <= 8x); check {med(check_us) / med(floor_check_us):.1f}x (target <= 15x); "
        f"{errors} input error(s) (counted, not timed differently)"
    )


if __name__ == "__main__":
    main()
