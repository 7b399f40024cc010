"""Benchmark: distinct dosage texts parsed per second on one core (issue 3 target: >= 20,000).

Every text is distinct and the memos are cleared before each round, so each text is really
parsed. Rates are per CPU-second of this process (``time.process_time``), so that a busy shared
machine does not count other programs' time; wall-clock rates are printed too.

It also prints the cold start (issue 20, item 3; target <= 250 ms): ``import opioidcds`` plus a
first ``check_prescription`` whose prescription has only a dosage text, in a fresh interpreter,
wall clock and CPU time, median and maximum of 7 runs, with the on-disk knowledge cache written
by an untimed first run and read by the timed ones (every process of an install but its first),
and with the cache off. Run:
``python benchmarks/bench_dosage.py [N] [ROUNDS]`` (defaults 50,000 texts, 5 rounds).
"""

from __future__ import annotations

import itertools
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

from opioidcds import Dosage, parse_dosage
from opioidcds._resolve.dosage import clear_dosage_cache

_DOSES = [
    "{n}",
    "{n} tablet",
    "{n} tablets",
    "{n}-{m} tablets",
    "{n} or {m} capsules",
    "{n}mg",
    "{n} ml",
    "{n} patch",
    "{n} to {m} tablets",
]
_VERBS = ["", "take ", "TAKE ", "apply ", "use "]
_FREQS = [
    "twice a day",
    "every {h} hours",
    "every {h}-{k} hours",
    "{h} hourly",
    "bd",
    "qds",
    "at night",
    "in the morning and at night",
    "daily",
    "every {d} days",
    "twice weekly",
    "{t} times a day",
    "q{h}h",
    "three times daily",
]
_TAILS = [
    "",
    " when required",
    " as required for pain",
    " prn",
    " for {d} days",
    " when required max {x} in 24 hours",
    " with food",
    " (max {x} tablets in 24 hours)",
]


def distinct_texts(count: int, seed: int = 20261122) -> list[str]:
    """Make ``count`` distinct, realistic dosage texts (templates x numbers)."""
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[str] = []
    for _ in itertools.count():
        if len(out) >= count:
            break
        n = rng.randint(1, 40)
        text = (
            rng.choice(_VERBS)
            + rng.choice(_DOSES).format(n=n, m=n + rng.randint(1, 5))
            + " "
            + rng.choice(_FREQS).format(
                h=rng.randint(1, 24),
                k=rng.randint(25, 48),
                d=rng.randint(2, 30),
                t=rng.randint(1, 9),
            )
            + rng.choice(_TAILS).format(d=rng.randint(2, 60), x=rng.randint(2, 200))
        )
        if rng.random() < 0.3:
            text = text.upper()
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


FIRST_CHECK = """
import time
t0, c0 = time.perf_counter(), time.process_time()
import opioidcds
p = opioidcds.Prescription(drug="morphine", form="modified-release tablet", strength="15 mg",
                           dosage_text="one tablet twice a day")
opioidcds.check_prescription(opioidcds.Patient(age=70, sex="male", prescriptions=()), p)
print(time.perf_counter() - t0, time.process_time() - c0)
"""


def cold_start(
    script: str = FIRST_CHECK, runs: int = 7, *, knowledge_cache: bool = True
) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds of ``script`` (import + a first check), fresh processes.

    One untimed run first writes the modules' bytecode (as installing a wheel does), even where
    ``PYTHONDONTWRITEBYTECODE`` is set: otherwise every run would compile the package. With
    ``knowledge_cache`` that run also writes the on-disk knowledge cache (issue 20), in a
    temporary folder of this benchmark's own, which the timed runs read, as every process but
    the first one of an install does; without it the cache is off (``OPIOIDCDS_CACHE_DIR=``)
    and every run loads and checks the knowledge files.
    """
    with tempfile.TemporaryDirectory(prefix="opioidcds-bench-cache-") as folder:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["OPIOIDCDS_CACHE_DIR"] = folder if knowledge_cache else ""
        subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, env=env)
        timed_env = {**os.environ, "OPIOIDCDS_CACHE_DIR": env["OPIOIDCDS_CACHE_DIR"]}
        walls: list[float] = []
        cpus: list[float] = []
        for _ in range(runs):
            out = subprocess.run(
                [sys.executable, "-c", script],
                check=True,
                capture_output=True,
                text=True,
                env=timed_env,
            )
            wall, cpu = (float(x) * 1000 for x in out.stdout.split())
            walls.append(wall)
            cpus.append(cpu)
    return walls, cpus


def _timed(texts: list[str]) -> tuple[float, float, list[object]]:
    wall, cpu = time.perf_counter(), time.process_time()
    results: list[object] = [parse_dosage(t) for t in texts]
    return time.perf_counter() - wall, time.process_time() - cpu, results


def main(argv: list[str]) -> int:
    count = int(argv[1]) if len(argv) > 1 else 50_000
    rounds = int(argv[2]) if len(argv) > 2 else 5
    texts = distinct_texts(count)
    parse_dosage("take one tablet twice a day")  # build the parser once, outside the timing
    cpu_rates: list[float] = []
    wall_rates: list[float] = []
    results: list[object] = []
    for _ in range(rounds):
        clear_dosage_cache()  # the text memo and the per-shape plan memo: every parse is real
        wall, cpu, results = _timed(texts)
        cpu_rates.append(len(texts) / cpu)
        wall_rates.append(len(texts) / wall)
    parsed = sum(isinstance(r, Dosage) for r in results)
    print(f"distinct texts: {len(texts)}  parsed: {parsed}  unparsed: {len(texts) - parsed}")
    print(
        f"cold (memos cleared, every text distinct), {rounds} rounds: "
        f"best {max(cpu_rates):,.0f} / median {statistics.median(cpu_rates):,.0f} texts/s "
        f"per CPU-second on one core (wall clock: best {max(wall_rates):,.0f} texts/s)"
    )
    _, cpu, _ = _timed(texts)
    print(f"warm (memoised repeats): {len(texts) / cpu:,.0f} texts/s per CPU-second")
    for cached, label in ((True, "knowledge cache read"), (False, "knowledge cache off")):
        walls, cpus = cold_start(knowledge_cache=cached)
        print(
            "import opioidcds + first check_prescription with a dosage text, fresh process "
            f"(7 runs, {label}): median {statistics.median(walls):.0f} ms (CPU "
            f"{statistics.median(cpus):.0f} ms), max {max(walls):.0f} ms, bytecode cached"
            f"   (target <= 250 ms); load average {os.getloadavg()[0]:.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
