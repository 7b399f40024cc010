"""Benchmark of calculate_ome (issue 2). Prints figures; asserts nothing.

- latency of calculate_ome for a patient with 5 structured prescriptions (targets: median
  <= 20 microseconds, p99 <= 100), measured two ways:
    * warm: the same prescriptions again (a prescribing-alert plugin re-sends the patient's
      current prescriptions on every call; the memo of per-prescription results applies);
    * cold: the memo cleared before every call (every prescription never seen before);
- import of opioidcds plus the first call, in a fresh interpreter (target <= 400 ms).

Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_ome.py``.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable

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
t0 = time.perf_counter()
import opioidcds
p = opioidcds.Prescription(drug="oxycodone", form="modified-release tablet", strength="40 mg",
                           dose_quantity=1, dose_unit="tablet", doses_per_day=2)
opioidcds.calculate_ome([p])
print(time.perf_counter() - t0)
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
    firsts = []
    for _ in range(7):
        out = subprocess.run(
            [sys.executable, "-c", FIRST_CALL], check=True, capture_output=True, text=True
        )
        firsts.append(float(out.stdout) * 1000)
    print(
        f"import opioidcds + first call, fresh process (7 runs): median "
        f"{statistics.median(firsts):.0f} ms, max {max(firsts):.0f} ms   (target <= 400 ms)"
    )


if __name__ == "__main__":
    main()
