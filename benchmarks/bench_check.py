"""Benchmark of check_prescription (issue 5). Prints figures; asserts nothing.

A patient with 5 current structured prescriptions (4 opioids and diazepam) and every input
known, checked against a new oxycodone prescription. Target: median <= 50 microseconds and
p99 <= 200 on the reference evaluator; the same call on the durable-rules backend (if
installed) is printed beside it, with the ratio.

"reference" is the warm case (a prescribing plugin re-sends the same current prescriptions:
the memos of OME items, the OME result and the presented alerts apply; the rule engine still
runs on every call). "ref. cold" clears the OME memos before every call. "distinct" (issue 20)
builds and checks 3,000 realistic patients never seen before, each once (a dm+d code and a
dosage text per prescription; ``bench_per_call.py`` compares them with a hand-written floor).

Run: ``.venv/bin/python benchmarks/bench_check.py``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from bench_per_call import distinct_check

from opioidcds import Patient, Prescription, check_prescription, default_knowledge
from opioidcds._decide.assessment import _ome_cached
from opioidcds._measure.ome import _measure_cached, _read_figures

RUNS = 20_000
WARMUP = 500

PATIENT = Patient(
    age=58,
    sex="female",
    unemployed=False,
    ae_attendance_recent=False,
    family_history_dependence=False,
    history_substance_or_alcohol_misuse=False,
    preadolescent_sexual_abuse_history=False,
    depression=True,
    other_psychological_disease=False,
    benzodiazepine_coprescribed=True,
    gabapentinoid_coprescribed=False,
    prescriptions=(
        Prescription(
            drug="oxycodone",
            form="modified-release tablet",
            strength="20 mg",
            dose_quantity=1,
            dose_unit="tablet",
            doses_per_day=2,
        ),
        Prescription(
            drug="co-codamol",
            form="tablet",
            strength="30 mg/500 mg",
            dose_quantity=2,
            dose_unit="tablet",
            doses_per_day=4,
        ),
        Prescription(
            drug="fentanyl",
            form="transdermal patch",
            strength="12 microgram/hour",
            dose_quantity=1,
            dose_unit="patch",
            interval_hours=72,
        ),
        Prescription(
            drug="tramadol",
            form="capsule",
            strength="50 mg",
            dose_quantity=1,
            dose_unit="capsule",
            doses_per_day=2,
        ),
        Prescription(
            drug="diazepam",
            form="tablet",
            strength="5 mg",
            dose_quantity=1,
            dose_unit="tablet",
            doses_per_day=2,
        ),
    ),
)
NEW = Prescription(
    drug="oxycodone",
    form="tablet",
    strength="5 mg",
    dose_quantity=1,
    dose_unit="tablet",
    interval_hours=6,
    prn=True,
    max_doses_per_day=4,
)


def measure(
    call: Callable[[], object], runs: int, before: Callable[[], object] | None = None
) -> list[float]:
    for _ in range(WARMUP):
        call()
    samples = []
    clock = time.perf_counter_ns
    for _ in range(runs):
        if before is not None:
            before()
        start = clock()
        call()
        samples.append((clock() - start) / 1000)
    return samples


def clear_memos() -> None:
    _ome_cached.cache_clear()  # the assessment's (the check's before issue 20, round 6)
    _read_figures.cache_clear()  # the check's figures of a list read the full way
    _measure_cached.cache_clear()


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1]


def main() -> None:
    knowledge = default_knowledge()
    alerts = check_prescription(PATIENT, NEW, knowledge=knowledge)
    print("alerts:", ", ".join(a.id for a in alerts))
    ref = summary(measure(lambda: check_prescription(PATIENT, NEW, knowledge=knowledge), RUNS))
    print(f"{'backend':<12}{'median us':>12}{'p99 us':>12}")
    print(f"{'reference':<12}{ref[0]:>12.1f}{ref[1]:>12.1f}   (target median <= 50, p99 <= 200)")
    cold = summary(
        measure(
            lambda: check_prescription(PATIENT, NEW, knowledge=knowledge),
            RUNS // 10,
            before=clear_memos,
        )
    )
    print(f"{'ref. cold':<12}{cold[0]:>12.1f}{cold[1]:>12.1f}   (memos cleared each call)")
    distinct = summary(distinct_check())
    print(
        f"{'distinct':<12}{distinct[0]:>12.1f}{distinct[1]:>12.1f}   (3,000 realistic patients, "
        "built and checked once each)"
    )
    try:
        durable_alerts = check_prescription(PATIENT, NEW, knowledge=knowledge, backend="durable")
    except Exception as exc:
        print(f"durable: not available ({type(exc).__name__})")
        return
    same = [a.id for a in durable_alerts] == [a.id for a in alerts]
    dur = summary(
        measure(
            lambda: check_prescription(PATIENT, NEW, knowledge=knowledge, backend="durable"),
            RUNS // 4,
        )
    )
    print(f"{'durable':<12}{dur[0]:>12.1f}{dur[1]:>12.1f}   (same alerts as reference: {same})")
    print(f"ratio durable/reference: median {dur[0] / ref[0]:.1f}x, p99 {dur[1] / ref[1]:.1f}x")


if __name__ == "__main__":
    main()
