"""Benchmark of calculate_ome (issues 2 and 20). Prints figures; asserts nothing.

- latency of calculate_ome for a patient with 5 structured prescriptions (targets, issue 2:
  median <= 20 microseconds, p99 <= 100), measured three ways:
    * warm: the same prescriptions again (a prescribing-alert plugin re-sends the patient's
      current prescriptions on every call; the memo of per-prescription results applies);
    * cold: that memo cleared before every call (the products and texts already read);
    * distinct patients (issue 20): building the prescriptions and calculating for 3,000
      realistic patients never seen before, each once (dm+d codes and dosage texts from
      ``realistic.py``; ``bench_per_call.py`` compares them with a hand-written floor);
- cold start (issue 20): importing opioidcds and a first ``check_prescription`` whose
  prescriptions are a dm+d code and a dosage text, in a fresh interpreter (target <= 250 ms),
  and the same up to a first ``calculate_ome`` on structured fields; with the on-disk
  knowledge cache written by an untimed first run and read by the timed ones, and with it off
  (``bench_dosage.cold_start``).

Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_ome.py``.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

from bench_dosage import cold_start
from bench_per_call import distinct_ome

from opioidcds import Prescription, calculate_ome
from opioidcds._measure.ome import _measure_cached

PATIENT = [
    Prescription(
        drug="oxycodone",
        form="modified-release tablet",
        strength="40 mg",
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
        strength="25 microgram/hour",
        dose_quantity=1,
        dose_unit="patch",
        interval_hours=72,
    ),
    Prescription(
        drug="morphine",
        form="oral solution",
        strength="10 mg/5 mL",
        dose_quantity=5,
        dose_unit="mL",
        interval_hours=4,
        prn=True,
        max_doses_per_day=4,
    ),
    Prescription(
        drug="tramadol",
        form="capsule",
        strength="50 mg",
        dose_quantity=1,
        dose_quantity_max=2,
        dose_unit="capsule",
        interval_hours=4,
        interval_hours_max=6,
        prn=True,
        max_quantity_per_day=8,
    ),
]

FIRST_CALL = """
import time
t0, c0 = time.perf_counter(), time.process_time()
import opioidcds
p = opioidcds.Prescription(drug="oxycodone", form="modified-release tablet", strength="40 mg",
                           dose_quantity=1, dose_unit="tablet", doses_per_day=2)
opioidcds.calculate_ome([p])
print(time.perf_counter() - t0, time.process_time() - c0)
"""

FIRST_CHECK = """
import time
t0, c0 = time.perf_counter(), time.process_time()
import opioidcds
current = opioidcds.Prescription(dmd_code="36120011000001101",  # fentanyl 25 microgram/hour
                                 dosage_text="apply one patch every 72 hours")
new = opioidcds.Prescription(dmd_code="38752211000001108",  # oxycodone 10 mg tablets
                             dosage_text="one tablet every 6 hours when required, max 4 a day")
patient = opioidcds.Patient(age=70, prescriptions=(current,))
opioidcds.check_prescription(patient, new)
print(time.perf_counter() - t0, time.process_time() - c0)
"""


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1]


def _time(
    fn: Callable[[], object], runs: int, before: Callable[[], None] | None = None
) -> list[float]:
    samples = []
    for _ in range(runs):
        if before is not None:
            before()
        start = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - start) / 1000)
    return samples


def main() -> None:
    calculate_ome(PATIENT)  # load knowledge
    runs = 20_000
    warm = _time(lambda: calculate_ome(PATIENT), runs)
    cold = _time(lambda: calculate_ome(PATIENT), runs // 4, before=_measure_cached.cache_clear)
    wm, wp = _percentiles(warm)
    cm, cp = _percentiles(cold)
    print(f"calculate_ome, 5 structured prescriptions ({runs} warm / {runs // 4} cold calls)")
    print(
        f"  warm (same prescriptions again): median {wm:7.1f} us   p99 {wp:7.1f} us"
        "   (target median <= 20, p99 <= 100)"
    )
    print(f"  cold (memo cleared every call):  median {cm:7.1f} us   p99 {cp:7.1f} us")
    dm, dp = _percentiles(distinct_ome())
    print(
        f"  distinct patients (3,000, build + calculate, each once): median {dm:7.1f} us   "
        f"p99 {dp:7.1f} us"
    )
    for script, what, target in (
        (FIRST_CHECK, "first check_prescription (dm+d code + dosage text)", 250),
        (FIRST_CALL, "first calculate_ome (structured fields)", 400),
    ):
        for cached, label in ((True, "knowledge cache read"), (False, "knowledge cache off")):
            # bytecode and (when on) the knowledge cache written by one untimed run
            walls, cpus = cold_start(script, knowledge_cache=cached)
            print(
                f"import opioidcds + {what}, fresh process (7 runs, {label}): median "
                f"{statistics.median(walls):.0f} ms (CPU {statistics.median(cpus):.0f} ms), "
                f"max {max(walls):.0f} ms, bytecode cached   (target <= {target} ms); "
                f"load average {os.getloadavg()[0]:.1f}"
            )


if __name__ == "__main__":
    main()
