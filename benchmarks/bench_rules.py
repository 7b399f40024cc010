"""Benchmark: one evaluation of a 20-rule ruleset on one input, reference vs durable-rules.

Prints median and p99 per call for each engine and their ratio (targets, issue 4: reference
median <= 10 microseconds and >= 10x faster than durable-rules). Figures only, no assertions.

``evaluate`` returns :class:`Decisions` with every rule's status, the hit-policy result and
completeness decided; per-rule traces and citations are formatted lazily when read, so a
second line times evaluate + building every Decision (``report()``) as well.

Run: ``.venv/bin/python benchmarks/bench_rules.py``
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from opioidcds import BackendError, load_ruleset
from opioidcds._decide.rules.durable_backend import DurableRuleset

RULESET = Path(__file__).resolve().parent.parent / "tests" / "rules" / "fixtures" / "bench20.toml"
INPUT: dict[str, object] = {
    "mg_per_day": Decimal("130"),
    "ome_complete": True,
    "benzodiazepine": True,
    "gabapentinoid": False,
    "age": 70,
    "sex": "male",
    "unemployed": False,
    "ae_attendance": True,
    "family_history": False,
    "substance_history": False,
    "early_adversity": False,
    "depression": True,
    "other_psych": False,
    "new_item_form": "oral",
    "opioid_naive": False,
    "reauthorisation": True,
}


def measure(call: Callable[[], object], n: int) -> tuple[float, float]:
    """Median and p99 of ``n`` timed calls, in microseconds (after a warm-up)."""
    for _ in range(min(n, 1_000)):
        call()
    samples = []
    clock = time.perf_counter_ns
    for _ in range(n):
        t0 = clock()
        call()
        samples.append(clock() - t0)
    samples.sort()
    return statistics.median(samples) / 1_000, samples[int(len(samples) * 0.99)] / 1_000


def main() -> int:
    rs = load_ruleset(RULESET)
    bound = rs.bind(None)
    rows = [
        ("reference evaluate()", measure(lambda: rs.evaluate(INPUT), 50_000)),
        ("reference, pre-bound", measure(lambda: bound.evaluate(INPUT), 50_000)),
        ("reference + report()", measure(lambda: rs.evaluate(INPUT).report(), 5_000)),
    ]
    durable_row = None
    try:
        durable = DurableRuleset(rs)
    except BackendError as exc:  # the 'durable' extra is not installed
        print(f"durable-rules backend unavailable: {exc}")
    else:
        with durable:
            assert durable.evaluate(INPUT).statuses == rs.evaluate(INPUT).statuses  # noqa: S101
            timing = measure(lambda: durable.evaluate(INPUT), 5_000)
            durable_row = ("durable-rules evaluate()", timing)
            rows.append(durable_row)
    print(f"{rs.id} {rs.version}: {len(rs.rules)} rules, {len(rs.inputs)} inputs, one input")
    print(f"{'engine':<28}{'median us':>12}{'p99 us':>12}")
    for name, (median, p99) in rows:
        print(f"{name:<28}{median:>12.2f}{p99:>12.2f}")
    if durable_row is not None:
        ref_median = rows[0][1][0]
        ratio = durable_row[1][0] / ref_median
        print(f"ratio durable/reference (median): {ratio:.1f}x")
        print(
            f"target: reference median <= 10 us -> {'met' if ref_median <= 10 else 'NOT met'}; "
            f">= 10x faster than durable -> {'met' if ratio >= 10 else 'NOT met'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
