"""Mutation testing of the dosage grammar ``dosage.lark`` (mutmut mutates Python only).

The grammar decides what a dosage text means, so its changes must be caught by the dosage
tests too. This script makes one small change ("mutant") to the grammar at a time, runs the
dosage tests against it, and counts how many mutants the tests kill.

Mutation operators (each applied at every place it fits, one mutant per place):

* ``delete-alt``: delete one alternative of a rule that has several;
* ``drop-symbol``: drop one symbol (terminal or rule) from an alternative of two or more;
* ``swap-symbols``: swap two adjacent, different symbols of an alternative;
* ``make-required`` / ``make-optional``: remove a ``?`` from a symbol, or add one to a symbol
  of an alternative of two or more symbols;
* ``repeat``: ``X+`` -> ``X``, ``X*`` -> ``X?``;
* ``alias``: replace an alternative's ``-> alias`` by the next alias of the same rule, or drop it;
* ``terminal``: replace a terminal by the next of its family (``HOUR`` -> ``DAY``, ``ONCE`` ->
  ``TWICE``, ``MASS_UNIT`` -> ``VOLUME_UNIT``, ``AT`` -> ``IN`` ...). The grammar holds no numeric
  literals (its numbers come from the terminals: a DAY is 1 day, TWICE is 2), so this is the
  grammar's "change a number".

Each mutant runs in a forked child of this process: the child points
``opioidcds._resolve.dosage`` at
the mutated grammar text (its ``resources`` reader) and runs pytest in-process on the dosage
tests, stopping at the first failure (``-x``). Results: **killed** (a test failed),
**survived** (all passed), **refused** (lark cannot build an LALR(1) parser from the mutated
grammar: ``strict=True`` rejects conflicts, so the library cannot start; counted apart, not as
killed), **timeout** (killed after ``--timeout`` seconds; counted as killed).

Usage (``make mutation-grammar``)::

    python scripts/mutate_grammar.py [--sample N --seed S] [--timeout 120] [--json out.json]

Prints one line per mutant and a summary; exit status 0. Run it under ``nice`` on a shared
machine. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRAMMAR = ROOT / "src" / "opioidcds" / "_resolve" / "dosage.lark"
TESTS = [
    "tests/dosage/test_dosage_cases.py",
    "tests/dosage/test_mutation_kills.py",
    "tests/dosage/test_dosage_reference_examples.py",
    "tests/unit/test_ome_dosage_text.py",
    "tests/dosage/test_dosage_properties.py",
]

FAMILIES = [
    ["HOUR", "DAY", "WEEK", "FORTNIGHT", "MONTH"],
    ["HOURLY", "DAILY", "WEEKLY", "FORTNIGHTLY", "MONTHLY"],
    ["ONCE", "TWICE", "THRICE"],
    ["COUNT_UNIT", "DOSE", "MASS_UNIT", "VOLUME_UNIT"],
    ["DASH", "TO", "OR"],
    ["AT", "IN", "ON", "WITH", "AFTER", "BEFORE", "EVERY", "EACH", "PER"],
    ["TIMEWORD", "TIME_ABBR"],
    ["FOOD", "MEALS"],
    ["A", "THE"],
    ["PRN", "REQUIRED"],
]
# each terminal is replaced by the next one of its family (cyclic): one mutant per place
_SIBLING = {t: fam[(i + 1) % len(fam)] for fam in FAMILIES for i, t in enumerate(fam)}
_RULE_START = re.compile(r"^(\??[a-z_][a-z0-9_]*)\s*:(.*)$")
_ALT_CONT = re.compile(r"^(\s+)\|(.*)$")


@dataclass
class Alt:
    """One alternative of a rule: its symbols and optional alias, and where it is."""

    line: int
    symbols: list[str]
    alias: str | None
    comment: str


@dataclass
class Rule:
    """A grammar rule and its alternatives."""

    name: str
    alts: list[Alt]


@dataclass
class Mutant:
    """One change to the grammar."""

    ident: int
    operator: str
    rule: str
    line: int
    description: str
    text: str


@dataclass
class Result:
    """What the tests made of one mutant."""

    ident: int
    operator: str
    rule: str
    line: int
    description: str
    status: str
    seconds: float


def _split_alt(code: str, line: int, comment: str) -> Alt:
    code, _, alias = code.partition("->")
    return Alt(line, code.split(), alias.strip() or None, comment)


def _alts_of_line(body: str, line: int) -> list[Alt]:
    code, _, comment = body.partition("//")
    return [_split_alt(part, line, comment.strip()) for part in code.split("|")]


def parse_rules(lines: list[str]) -> list[Rule]:
    """The rules of the grammar with the line number of each alternative.

    Alternatives are separated by ``|``, on one line or on continuation lines.
    """
    rules: list[Rule] = []
    for i, raw in enumerate(lines):
        if raw.lstrip().startswith(("//", "%")) or not raw.strip():
            continue
        if m := _RULE_START.match(raw):
            rules.append(Rule(m.group(1), _alts_of_line(m.group(2), i)))
        elif (m := _ALT_CONT.match(raw)) and rules:
            rules[-1].alts.extend(_alts_of_line(m.group(2), i))
    return rules


def _render(rule: Rule, alts: list[Alt]) -> list[str]:
    out = []
    for k, alt in enumerate(alts):
        body = " ".join(alt.symbols)
        if alt.alias:
            body += f" -> {alt.alias}"
        out.append(f"{rule.name}: {body}" if k == 0 else f"    | {body}")
    return out


def _replace_rule(lines: list[str], rule: Rule, alts: list[Alt]) -> str:
    """The grammar with ``rule`` re-written (comments of its lines dropped) to ``alts``."""
    first, last = rule.alts[0].line, rule.alts[-1].line
    return "\n".join([*lines[:first], *_render(rule, alts), *lines[last + 1 :]]) + "\n"


def _with(alt: Alt, **changes: object) -> Alt:
    return Alt(**{**asdict(alt), **changes})


def _alt_mutants(rule: Rule, k: int, alt: Alt) -> Iterator[tuple[str, str, Alt | None]]:
    """(operator, description, new alternative or None to delete) for one alternative."""
    syms = alt.symbols
    if len(rule.alts) > 1:
        yield "delete-alt", f"delete `{' '.join(syms)}`", None
    for j, s in enumerate(syms):
        rest = syms[:j] + syms[j + 1 :]
        if len(syms) > 1:
            yield "drop-symbol", f"drop {s}", _with(alt, symbols=rest)
        base = s.rstrip("?+*")
        if s.endswith("?"):
            yield (
                "make-required",
                f"{s} -> {base}",
                _with(alt, symbols=[*syms[:j], base, *syms[j + 1 :]]),
            )
        elif s.endswith("+"):
            yield "repeat", f"{s} -> {base}", _with(alt, symbols=[*syms[:j], base, *syms[j + 1 :]])
        elif s.endswith("*"):
            yield (
                "repeat",
                f"{s} -> {base}?",
                _with(alt, symbols=[*syms[:j], base + "?", *syms[j + 1 :]]),
            )
        elif len(syms) > 1:
            yield (
                "make-optional",
                f"{s} -> {s}?",
                _with(alt, symbols=[*syms[:j], s + "?", *syms[j + 1 :]]),
            )
        suffix = s[len(base) :]
        if sib := _SIBLING.get(base):
            new = [*syms[:j], sib + suffix, *syms[j + 1 :]]
            yield "terminal", f"{s} -> {sib}{suffix}", _with(alt, symbols=new)
        if j + 1 < len(syms) and syms[j + 1] != s:
            swapped = [*syms[:j], syms[j + 1], s, *syms[j + 2 :]]
            yield "swap-symbols", f"swap {s} {syms[j + 1]}", _with(alt, symbols=swapped)
    if alt.alias:
        aliases = list(dict.fromkeys(a.alias for a in rule.alts if a.alias))
        if len(aliases) > 1:
            other = aliases[(aliases.index(alt.alias) + 1) % len(aliases)]
            yield "alias", f"-> {alt.alias} becomes -> {other}", _with(alt, alias=other)
        yield "alias", f"drop -> {alt.alias}", _with(alt, alias=None)
    del k


def mutants(text: str) -> list[Mutant]:
    """Every mutant of the grammar ``text``, in a fixed order (numbered from 1)."""
    lines = text.splitlines()
    out: list[Mutant] = []
    for rule in parse_rules(lines):
        for k, alt in enumerate(rule.alts):
            for operator, description, new in _alt_mutants(rule, k, alt):
                alts = [a for i, a in enumerate(rule.alts) if i != k]
                if new is not None:
                    alts.insert(k, new)
                mutated = _replace_rule(lines, rule, alts)
                if mutated != _replace_rule(lines, rule, rule.alts):  # not a no-op
                    out.append(
                        Mutant(
                            len(out) + 1, operator, rule.name, alt.line + 1, description, mutated
                        )
                    )
    return out


def _builds(text: str) -> bool:
    """Whether lark builds the library's strict LALR(1) parser from ``text``."""
    from lark import Lark  # noqa: PLC0415 - imported once, in the parent

    from opioidcds._resolve import dosage  # noqa: PLC0415

    try:
        Lark(
            text,
            parser="lalr",
            lexer=dosage.token_list_lexer(),
            transformer=dosage._Build(),
            strict=True,
            maybe_placeholders=False,
        )
    except Exception:
        return False
    return True


class _Files:
    """Stand-in for ``importlib.resources`` that serves the mutated grammar text."""

    def __init__(self, text: str) -> None:
        self.text = text

    def files(self, _package: str) -> _Files:
        return self

    def joinpath(self, _name: str) -> _Files:
        return self

    def read_text(self, encoding: str = "utf-8") -> str:
        del encoding
        return self.text


def _run_child(text: str) -> int:
    import pytest  # noqa: PLC0415

    from opioidcds._resolve import dosage  # noqa: PLC0415

    dosage.resources = _Files(text)  # type: ignore[attr-defined,assignment]
    for name in ("_parser", "_tables"):
        getattr(dosage, name).cache_clear()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    args = ["-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", *TESTS]
    return int(pytest.main(args))


def run_one(m: Mutant, timeout: float) -> Result:
    """Run the tests against one mutant in a forked child."""
    start = time.monotonic()
    if not _builds(m.text):
        return Result(m.ident, m.operator, m.rule, m.line, m.description, "refused", 0.0)
    pid = os.fork()
    if pid == 0:  # child
        code = 3
        try:
            code = _run_child(m.text)
        finally:
            os._exit(code)
    deadline = start + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return Result(m.ident, m.operator, m.rule, m.line, m.description, "timeout", timeout)
        time.sleep(0.05)
    code = os.waitstatus_to_exitcode(status)
    verdict = "survived" if code == 0 else "killed"
    if code not in (0, 1):  # 2+: pytest itself failed (usage/internal error): report it
        verdict = f"error (exit {code})"
    return Result(
        m.ident, m.operator, m.rule, m.line, m.description, verdict, time.monotonic() - start
    )


def main(argv: list[str] | None = None) -> int:
    """Run the grammar mutants; print each result and the score."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=0, help="run a random sample of N mutants")
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--only", type=int, nargs="*", help="run these mutant numbers only")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    os.environ.setdefault("HYPOTHESIS_PROFILE", "ci")
    text = GRAMMAR.read_text(encoding="utf-8")
    every = mutants(text)
    chosen = every
    if args.only:
        chosen = [m for m in every if m.ident in set(args.only)]
    elif args.sample:
        rng = random.Random(args.seed)  # noqa: S311 - a repeatable sample, not a secret
        chosen = sorted(rng.sample(every, args.sample), key=lambda m: m.ident)
    if args.list:
        for m in chosen:
            print(f"{m.ident:4} {m.operator:14} {m.rule}:{m.line} {m.description}")
        print(f"{len(chosen)} of {len(every)} mutants")
        return 0
    # import once in the parent what every child needs, so each fork starts warm (not
    # hypothesis: a pytest plugin imported before pytest starts cannot be assertion-rewritten)
    import pytest  # noqa: F401, PLC0415

    results: list[Result] = []
    started = time.monotonic()
    cpu0 = os.times()
    for m in chosen:
        r = run_one(m, args.timeout)
        results.append(r)
        print(
            f"{r.ident:4} {r.status:9} {r.seconds:6.1f}s {r.operator:14} "
            f"{r.rule}:{r.line} {r.description}",
            flush=True,
        )
    cpu1 = os.times()
    counts = {
        s: sum(r.status == s for r in results) for s in ("killed", "timeout", "survived", "refused")
    }
    valid = len(results) - counts["refused"]
    killed = counts["killed"] + counts["timeout"]
    wall = time.monotonic() - started
    cpu = (cpu1.children_user + cpu1.children_system + cpu1.user + cpu1.system) - (
        cpu0.children_user + cpu0.children_system + cpu0.user + cpu0.system
    )
    print(
        f"grammar mutants: {len(every)} generated, {len(chosen)} run"
        + (f" (random sample, seed {args.seed})" if args.sample else "")
    )
    print(
        f"refused by lark: {counts['refused']}; of the {valid} that build: killed {killed} "
        f"(timeouts {counts['timeout']}), survived {counts['survived']}"
        + (f", score {killed / valid:.1%}" if valid else "")
    )
    print(f"wall {wall:.0f} s, CPU {cpu:.0f} s")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
