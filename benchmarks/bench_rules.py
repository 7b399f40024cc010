"""Benchmark: one evaluation of a 20-rule ruleset on one input, reference vs durable-rules.

Prints median and p99 per call for each engine and their ratio (targets, issue 4: reference
median <= 10 microseconds and >= 10x faster than durable-rules). Figures only, no assertions.

``evaluate`` returns :class:`Decisions` with every rule's status, the hit-policy result and
completeness decided; per-rule decisions are built when read and their traces written when
read, so a line times evaluate + building every Decision (``report()``), and one more writes
every trace too (``model_dump_json``). The one input is timed again and again (warm); beside
it (issue 20), 5,000 distinct inputs drawn from the declared fields (seeded; some unknown), each
evaluated once.

Run: ``.venv/bin/python benchmarks/bench_rules.py``
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from opioidcds import BackendError, Ruleset, load_ruleset
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


def distinct_inputs(rs: Ruleset, n: int, seed: int = 20) -> list[dict[str, object]]:
    """``n`` different inputs for ``rs``: each declared field a value of its type or unknown."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        given: dict[str, object] = {}
        for f in rs.inputs:
            if rng.random() < 0.1 and not f.required:
                continue  # unknown
            if f.type == "boolean":
                given[f.name] = rng.random() < 0.5
            elif f.type == "enum":
                given[f.name] = rng.choice(f.values)
            else:
                low = int(f.minimum if f.minimum is not None else 0)
                high = int(f.maximum if f.maximum is not None else 1000)
                value = rng.randint(low, high)
                given[f.name] = value if f.type == "integer" else Decimal(value) / 2
        out.append(given)
    return out


def measure_each(
    call: Callable[[dict[str, object]], object], inputs: list[dict[str, object]]
) -> tuple[float, float]:
    """Median and p99 of one call on each input (microseconds)."""
    samples = []
    clock = time.perf_counter_ns
    for given in inputs:
        t0 = clock()
        call(given)
        samples.append(clock() - t0)
    samples.sort()
    return statistics.median(samples) / 1_000, samples[int(len(samples) * 0.99)] / 1_000


def main() -> int:
    rs = load_ruleset(RULESET)
    bound = rs.bind(None)
    inputs = distinct_inputs(rs, 5_000)
    rows = [
        ("reference evaluate()", measure(lambda: rs.evaluate(INPUT), 50_000)),
        ("  distinct inputs", measure_each(rs.evaluate, inputs)),
        ("reference, pre-bound", measure(lambda: bound.evaluate(INPUT), 50_000)),
        ("reference + report()", measure(lambda: rs.evaluate(INPUT).report(), 5_000)),
        ("  distinct inputs", measure_each(lambda i: rs.evaluate(i).report(), inputs)),
        (
            "reference + report() + JSON",
            measure(lambda: rs.evaluate(INPUT).report().model_dump_json(), 5_000),
        ),
        (
            "  distinct inputs",
            measure_each(lambda i: rs.evaluate(i).report().model_dump_json(), inputs),
        ),
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
