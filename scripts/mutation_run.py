"""Run mutation testing by module group, whole or as a systematic sample (``make mutation``).

Groups (``[tool.mutmut]`` in ``pyproject.toml`` lists the mutated files and the tests):

* ``ome``: ``ome.py``, ``resolve.py``, ``units.py`` (the OME calculator core);
* ``dosage``: ``dosage.py`` (the dosage-text reader);
* ``rules``: ``rules/conditions.py``, ``evaluator.py``, ``loader.py``, ``profiles.py``;
* ``assess``: ``assess.py``;
* ``grammar``: ``dosage.lark``, by ``scripts/mutate_grammar.py`` (mutmut mutates Python only).

One ``mutmut run`` for all the chosen mutmut groups: each run first re-measures which lines
the tests cover (the whole test selection under coverage, minutes), so it is done once. mutmut
generates every mutant, maps each function to the tests that reach it, and runs for each
mutant only those tests. ``--sample D`` (a digit) runs only the mutants whose number ends in
``D`` (``*__mutmut_*D``) in every chosen group: a systematic
one-in-ten sample spread over every function and every kind of mutation, the same mutants on
every run of unchanged code; a full run of ``dosage``, ``rules`` and ``assess`` takes hours on
a shared 2-core machine. Prints mutmut's progress, then a score per group computed from
mutmut's own result files (``mutants/**/*.meta``) over the mutants run, and the survivors.
The grammar group takes ``--grammar-sample N`` (a seeded
random sample of N grammar mutants; 0: all).

Usage: ``python scripts/mutation_run.py [--sample D] [--grammar-sample N] [GROUP ...]``
(from the repository root with ``PYTHONPATH=tests/safety`` and ``HYPOTHESIS_PROFILE=ci``, as
``make mutation`` does).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
GROUPS = {
    "ome": (
        "opioidcds._measure.ome.",
        "opioidcds._resolve.prescription.",
        "opioidcds._knowledge.units.",
    ),
    "dosage": ("opioidcds._resolve.dosage.",),
    "rules": ("opioidcds._decide.rules.",),
    "assess": (
        "opioidcds._decide.knowledge.",
        "opioidcds._decide.assessment.",
        "opioidcds._decide.alerts.",
    ),
}
_KILLED = {1, 3, 36, 24, -24, 152, 255, 37}  # killed, pytest error, timeouts, type check
_SURVIVED = {0}


def results() -> dict[str, int | None]:
    """Every mutant's exit code from mutmut's result files (None: not run)."""
    codes: dict[str, int | None] = {}
    for meta in (ROOT / "mutants").glob("**/*.meta"):
        codes.update(json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"])
    return codes


def _mutmut(patterns: list[str]) -> None:
    cmd = [str(BIN / "mutmut"), "run", "--max-children", "2", *patterns]
    subprocess.run(cmd, cwd=ROOT, check=True)  # noqa: S603 - our own venv's mutmut


def _suffix(group: str, sample: str) -> str:
    del group  # the sample applies to every mutmut group alike
    return sample


def _members(name: str, group: str, sample: str) -> bool:
    suffix = _suffix(group, sample)
    return name.startswith(GROUPS[group]) and fnmatch.fnmatch(name, f"*__mutmut_*{suffix}")


def main(argv: list[str] | None = None) -> int:
    """Run the chosen groups; print each group's score and survivors."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", default="", help="a digit: mutants numbered *D only")
    parser.add_argument("--grammar-sample", type=int, default=0)
    parser.add_argument("--seed", type=int, default=20261122, help="of the grammar sample")
    parser.add_argument(
        "--report", action="store_true", help="only report the results of the last run"
    )
    parser.add_argument("groups", nargs="*", default=[*GROUPS, "grammar"])
    args = parser.parse_args(argv)
    unknown = set(args.groups) - {*GROUPS, "grammar"}
    if unknown:
        parser.error(f"unknown group(s): {', '.join(sorted(unknown))}")
    if args.sample not in ("", *"0123456789"):
        parser.error("--sample takes one digit")
    started = time.monotonic()
    groups = [g for g in args.groups if g in GROUPS]
    if groups and not args.report:
        _mutmut([f"{p}*__mutmut_*{args.sample}" for g in groups for p in GROUPS[g]])
    codes = results()
    for group in groups:
        members = [n for n in codes if _members(n, group, args.sample)]
        run = [n for n in members if codes.get(n) is not None]
        killed = [n for n in run if codes[n] in _KILLED]
        survived = sorted(n for n in run if codes[n] in _SURVIVED)
        other = len(run) - len(killed) - len(survived)
        total = len(killed) + len(survived)
        suffix = _suffix(group, args.sample)
        sample = f" (sample: numbers ending in {suffix})" if suffix else ""
        score = f"{len(killed) / total:.1%}" if total else "n/a"
        print(
            f"{group}: {len(run)} of {len(members)} mutants run{sample}: killed {len(killed)}, "
            f"survived {len(survived)}, other {other} (no tests/suspicious), score {score}"
        )
        for name in survived:
            print(f"    survived: {name}")
    if "grammar" in args.groups and not args.report:
        cmd = [sys.executable, str(ROOT / "scripts" / "mutate_grammar.py")]
        if args.grammar_sample:
            cmd += ["--sample", str(args.grammar_sample), "--seed", str(args.seed)]
        subprocess.run(cmd, cwd=ROOT, check=True)  # noqa: S603 - our own script
    print(f"wall time {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
