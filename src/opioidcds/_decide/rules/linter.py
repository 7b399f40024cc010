"""The rules linter: gaps, overlaps, never-firing rules, inline examples, tidiness.

Gaps and overlaps are found by exhaustive search over *representative* inputs: for a number
input, each constant it is compared with (literal or parameter), a point between each pair of
neighbouring constants, and points beyond the ends within its declared bounds; for an enum each
value; for a boolean true and false; plus unknown unless the input is ``required``. Every
comparison keeps one truth value between neighbouring constants, so these points cover the whole
declared domain. The search assigns one input at a time and stops early with Kleene logic
(a rule true under a partial assignment is true for every completion), and reports a concrete
counter-example input for each problem.

Definitions (single-hit tables: ``unique``, ``priority``, ``first``):

* **gap**: an input at which every rule is false. (An input at which no rule is true but some
  are unknown is not a gap: the table answers "cannot evaluate" and names the unknown inputs.)
* **overlap** (``unique`` only): an input at which two rules are true.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from itertools import pairwise
from typing import Final

from opioidcds._decide.rules.advice import advice_mismatches
from opioidcds._decide.rules.conditions import (
    PENDING,
    Condition,
    FieldSpec,
    FieldType,
    Known,
    Scalar,
    evaluate_partial,
    field_constants,
    format_value,
)
from opioidcds._decide.rules.errors import ProfileError
from opioidcds._decide.rules.evaluator import BoundRuleset, Decisions, Ruleset
from opioidcds._decide.rules.kinds import HitPolicy
from opioidcds._decide.rules.monotone import TooLarge, violations
from opioidcds._errors import OpioidCDSError

__all__ = [
    "MAX_SEARCH_NODES",
    "Finding",
    "LintReport",
    "Severity",
    "lint_bound",
    "representatives",
    "require_clean",
]

MAX_SEARCH_NODES: Final = 200_000
"""Most partial assignments explored per table; a larger table is reported as unverifiable."""
_MAX_REPORTED: Final = 5  # counter-examples reported per kind of problem; not clinical


class Severity(StrEnum):
    """How serious a finding is: errors block loading and fail ``rules check``."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem the linter found, with where it is and a counter-example if it has one."""

    severity: Severity
    code: str
    message: str
    file: str
    rule_id: str | None = None
    line: int | None = None
    counterexample: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        """Render as ``file:line: severity [code] rule 'id': message (inputs)``."""
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        rule = f" rule '{self.rule_id}':" if self.rule_id else ""
        example = ""
        if self.counterexample:
            example = (
                " [counter-example: " + ", ".join(f"{k}={v}" for k, v in self.counterexample) + "]"
            )
        return f"{where}: {self.severity} [{self.code}]{rule} {self.message}{example}"


@dataclass(frozen=True, slots=True)
class LintReport:
    """All findings for one or more files, and what was checked."""

    findings: tuple[Finding, ...] = ()
    checked: tuple[str, ...] = field(default=())

    @property
    def errors(self) -> tuple[Finding, ...]:
        """Findings of severity error."""
        return tuple(f for f in self.findings if f.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        """Findings of severity warning."""
        return tuple(f for f in self.findings if f.severity is Severity.WARNING)

    @property
    def ok(self) -> bool:
        """True when there are no errors (warnings allowed)."""
        return not self.errors


# --- representatives -----------------------------------------------------------------------------


def representatives(spec: FieldSpec, constants: set[Scalar]) -> list[Scalar | None]:
    """Return inputs that between them give every truth value a condition on ``spec`` can have.

    ``constants`` are the values the field is compared with. Unknown (``None``) comes last and
    only for inputs that are not ``required``.
    """
    reps: list[Scalar | None]
    if spec.type is FieldType.BOOLEAN:
        reps = [True, False]
    elif spec.type is FieldType.ENUM:
        reps = list(spec.values)
    else:
        reps = list(_numeric_reps(spec, {c for c in constants if isinstance(c, Decimal)}))
    if not spec.required:
        reps.append(None)
    return reps


def _numeric_reps(spec: FieldSpec, consts: set[Decimal]) -> list[Decimal]:
    lo, hi = spec.minimum, spec.maximum

    def inside(x: Decimal) -> bool:
        return (lo is None or x >= lo) and (hi is None or x <= hi)

    bounds = {b for b in (lo, hi) if b is not None}
    if spec.type is FieldType.INTEGER:
        cands: set[Decimal] = set(bounds)
        for c in consts:
            f, ce = Decimal(math.floor(c)), Decimal(math.ceil(c))
            cands.update((f - 1, f, ce, ce + 1))
        if not cands:
            cands = {Decimal(0)}
        out = sorted(x for x in cands if inside(x))
        return out or [lo if lo is not None else (hi if hi is not None else Decimal(0))]
    pts = sorted({c for c in consts if inside(c)} | bounds)
    if not pts:
        return [Decimal(0)]
    reps = list(pts)
    reps.extend((a + b) / 2 for a, b in pairwise(pts))
    if lo is None:
        reps.append(pts[0] - 1)
    if hi is None:
        reps.append(pts[-1] + 1)
    return sorted(set(reps))


# --- the search ----------------------------------------------------------------------------------


class _Budget(Exception):  # noqa: N818 - internal control flow, never escapes this module
    pass


@dataclass
class _Search:
    bound: BoundRuleset
    active: list[int]
    reps: Mapping[str, list[Scalar | None]]
    order: list[str]
    nodes: int = 0

    def tick(self) -> None:
        self.nodes += 1
        if self.nodes > MAX_SEARCH_NODES:
            raise _Budget

    def values(self, assigned: Mapping[str, Scalar | None]) -> list[object]:
        rules = self.bound.ruleset.rules
        params = self.bound.binding.params
        return [evaluate_partial(rules[i].condition, assigned, params) for i in self.active]

    def complete(self, assigned: Mapping[str, Scalar | None]) -> tuple[tuple[str, str], ...]:
        return tuple(
            (name, format_value(assigned[name] if name in assigned else self.reps[name][0]))
            for name in self.order
        )

    def next_field(self, assigned: Mapping[str, Scalar | None], idx: Sequence[int]) -> str:
        """Pick the unassigned input read by the most undecided rules (ties: declaration order)."""
        rules = self.bound.ruleset.rules
        counts: dict[str, int] = {}
        for i in idx:
            for f in rules[i].fields:
                if f not in assigned:
                    counts[f] = counts.get(f, 0) + 1
        if not counts:  # pragma: no cover - a pending rule always reads an unassigned input
            raise AssertionError("pending rule without an unassigned field")
        return max(self.order, key=lambda f: counts.get(f, 0))


def _table_findings(bound: BoundRuleset) -> list[Finding]:
    rs = bound.ruleset
    policy = rs.hit_policy
    active = [i for i in bound.rule_order if rs.rules[i].id not in bound.binding.disabled]
    search = _make_search(bound, active, [rs.rules[i].condition for i in active])
    gaps: list[tuple[tuple[str, str], ...]] = []
    overlaps: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {}

    def rec(assigned: dict[str, Scalar | None]) -> None:
        search.tick()
        vals = search.values(assigned)
        true_at = [k for k, v in enumerate(vals) if v is True]
        if policy is HitPolicy.UNIQUE and len(true_at) >= 2:
            pair = (rs.rules[active[true_at[0]]].id, rs.rules[active[true_at[1]]].id)
            if pair not in overlaps and len(overlaps) < _MAX_REPORTED:
                overlaps[pair] = search.complete(assigned)
            return
        if all(v is False for v in vals):
            if len(gaps) < _MAX_REPORTED:
                gaps.append(search.complete(assigned))
            return
        pending = [active[k] for k, v in enumerate(vals) if v == PENDING]
        if not pending or (true_at and policy is not HitPolicy.UNIQUE):
            return
        name = search.next_field(assigned, pending)
        for value in search.reps[name]:
            assigned[name] = value
            rec(assigned)
            del assigned[name]

    findings: list[Finding] = []
    try:
        rec({})
    except _Budget:
        findings.append(
            Finding(
                Severity.ERROR,
                "too-large",
                f"{policy} table too large to verify for gaps/overlaps "
                f"(over {MAX_SEARCH_NODES} cases); split it",
                rs.source,
            )
        )
    where = f" (profile {bound.profile_id})" if bound.profile is not None else ""
    findings.extend(
        Finding(
            Severity.ERROR,
            "gap",
            f"no rule applies at this input{where}",
            rs.source,
            None,
            None,
            ex,
        )
        for ex in gaps
    )
    for (a, b), ex in overlaps.items():
        findings.append(
            Finding(
                Severity.ERROR,
                "overlap",
                f"rules '{a}' and '{b}' both apply at this input{where}",
                rs.rule(a).source or rs.source,
                a,
                rs.rule(a).line,
                ex,
            )
        )
    return findings


def _make_search(bound: BoundRuleset, active: list[int], conds: Sequence[Condition]) -> _Search:
    rs = bound.ruleset
    consts: dict[str, set[Scalar]] = {}
    for cond in conds:
        for name, values in field_constants(cond, bound.binding.params).items():
            consts.setdefault(name, set()).update(values)
    order = [f.name for f in rs.inputs if f.name in consts]
    reps = {f.name: representatives(f, consts[f.name]) for f in rs.inputs if f.name in consts}
    return _Search(bound, active, reps, order)


def _satisfiable(bound: BoundRuleset, target: int, must_be_false: Sequence[int]) -> bool | None:
    """Find whether some input makes rule ``target`` hold and every ``must_be_false`` rule fail.

    ``None`` when the search budget ran out.
    """
    rs = bound.ruleset
    idx = [target, *must_be_false]
    search = _make_search(bound, idx, [rs.rules[i].condition for i in idx])

    def rec(assigned: dict[str, Scalar | None]) -> bool:
        search.tick()
        vals = search.values(assigned)
        if vals[0] is False or vals[0] is None:
            return False
        if any(v is True or v is None for v in vals[1:]):
            return False
        if vals[0] is True and all(v is False for v in vals[1:]):
            return True
        pending = [idx[k] for k, v in enumerate(vals) if v == PENDING]
        name = search.next_field(assigned, pending)
        for value in search.reps[name]:
            assigned[name] = value
            if rec(assigned):
                return True
            del assigned[name]
        return False

    try:
        return rec({})
    except _Budget:
        return None


# --- examples ------------------------------------------------------------------------------------


def _run(bound: BoundRuleset, given: tuple[tuple[str, Scalar | None], ...]) -> Decisions | str:
    try:
        return bound.evaluate(dict(given))
    except OpioidCDSError as exc:
        return f"raised {type(exc).__name__}: {exc}"


def _example_findings(bound: BoundRuleset) -> list[Finding]:
    rs = bound.ruleset
    out: list[Finding] = []
    for rule in rs.rules:
        if rule.id in bound.binding.disabled:
            continue
        for n, ex in enumerate(rule.examples, start=1):
            result = _run(bound, ex.given)
            got = result if isinstance(result, str) else str(result.statuses[rule.id])
            if got != ex.expect:
                out.append(
                    Finding(
                        Severity.ERROR,
                        "example",
                        f"example {n}: expected {ex.expect}, got {got}",
                        rule.source or rs.source,
                        rule.id,
                        rule.line,
                        _given(ex.given),
                    )
                )
    for n, tex in enumerate(rs.examples, start=1):
        result = _run(bound, tex.given)
        if isinstance(result, str):
            out.append(
                Finding(
                    Severity.ERROR,
                    "example",
                    f"table example {n}: {result}",
                    rs.source,
                    None,
                    None,
                    _given(tex.given),
                )
            )
            continue
        if set(result.fired_ids) != set(tex.expect_fired):
            out.append(
                Finding(
                    Severity.ERROR,
                    "example",
                    f"table example {n}: expected fired {sorted(tex.expect_fired)}, "
                    f"got {sorted(result.fired_ids)}",
                    rs.source,
                    None,
                    None,
                    _given(tex.given),
                )
            )
        if tex.expect_complete is not None and result.complete != tex.expect_complete:
            out.append(
                Finding(
                    Severity.ERROR,
                    "example",
                    f"table example {n}: expected complete={tex.expect_complete}",
                    rs.source,
                    None,
                    None,
                    _given(tex.given),
                )
            )
    return out


def _given(given: tuple[tuple[str, Scalar | None], ...]) -> tuple[tuple[str, str], ...]:
    return tuple((k, format_value(v)) for k, v in given)


# --- tidiness ------------------------------------------------------------------------------------


def _walk_known(node: Condition) -> Iterator[Known]:
    from opioidcds._decide.rules.conditions import AllOf, AnyOf, Not, Ref  # noqa: PLC0415

    if isinstance(node, Known):
        yield node
    elif isinstance(node, AllOf | AnyOf):
        for c in node.children:
            yield from _walk_known(c)
    elif isinstance(node, Not | Ref):
        yield from _walk_known(node.child)


def _refs(node: Condition) -> Iterator[str]:
    from opioidcds._decide.rules.conditions import AllOf, AnyOf, Not, Ref  # noqa: PLC0415

    if isinstance(node, Ref):
        yield node.name
        yield from _refs(node.child)
    elif isinstance(node, AllOf | AnyOf):
        for c in node.children:
            yield from _refs(c)
    elif isinstance(node, Not):
        yield from _refs(node.child)


def _tidiness(rs: Ruleset) -> list[Finding]:
    def warn(
        code: str, message: str, rule_id: str | None = None, line: int | None = None
    ) -> Finding:
        rule = next((r for r in rs.rules if r.id == rule_id), None) if rule_id else None
        where = (rule.source if rule is not None else None) or rs.source
        return Finding(Severity.WARNING, code, message, where, rule_id, line)

    out: list[Finding] = []
    if not rs.reviewer:
        out.append(warn("no-reviewer", "ruleset names no reviewer"))
    used_cites = {c for r in rs.rules for c in r.citations}
    used_cites.update(c for p in rs.parameters.values() for c in p.citations)
    used_cites.update(c for p in rs.parameters.values() for c in p.plausible_citations)
    out.extend(
        warn("unused", f"citation '{c}' is never cited")
        for c in rs.citations
        if c not in used_cites
    )
    used_params = {p for r in rs.rules for p in r.params}
    out.extend(
        warn("unused", f"parameter '{p}' is never used")
        for p in rs.parameters
        if p not in used_params
    )
    used_inputs = {f for r in rs.rules for f in r.fields}
    out.extend(
        warn("unused", f"input '{f.name}' is never used")
        for f in rs.inputs
        if f.name not in used_inputs
    )
    used_named = {name for r in rs.rules for name in _refs(r.condition)} | {
        name for cond in rs.named_conditions.values() for name in _refs(cond)
    }
    out.extend(
        warn("unused", f"named condition '{n}' is never used")
        for n in rs.named_conditions
        if n not in used_named
    )
    required = {f.name for f in rs.inputs if f.required}
    for r in rs.rules:
        if not r.examples and not rs.examples:
            out.append(warn("no-example", "rule has no inline example", r.id, r.line))
        out.extend(
            warn(
                "always-known",
                f"'{k.field}' is required, so 'is known/unknown' is constant",
                r.id,
                r.line,
            )
            for k in _walk_known(r.condition)
            if k.field in required
        )
    return out


# --- entry points --------------------------------------------------------------------------------


def lint_bound(bound: BoundRuleset, *, examples: bool | None = None) -> LintReport:
    """Lint one ruleset as bound (with its profile, if any).

    Runs inline examples (by default only without a profile: a profile's new thresholds
    legitimately change them), gap/overlap search for single-hit tables, never-firing and
    shadowed rules, and tidiness checks.
    """
    rs = bound.ruleset
    findings: list[Finding] = []
    run_examples = bound.profile is None if examples is None else examples
    if run_examples:
        findings.extend(_example_findings(bound))
    if rs.hit_policy is not HitPolicy.COLLECT:
        findings.extend(_table_findings(bound))
    active = [i for i in bound.rule_order if rs.rules[i].id not in bound.binding.disabled]
    ordered = rs.hit_policy in (HitPolicy.PRIORITY, HitPolicy.FIRST)
    live: set[int] = set()
    for pos, i in enumerate(active):
        rule = rs.rules[i]
        ok = _satisfiable(bound, i, ())
        if ok is not False and not (
            ok and ordered and pos > 0 and _satisfiable(bound, i, active[:pos]) is False
        ):
            live.add(i)
        if ok is False:
            findings.append(
                Finding(
                    Severity.WARNING,
                    "never-fires",
                    "condition can never be true over the declared inputs",
                    rule.source or rs.source,
                    rule.id,
                    rule.line,
                )
            )
        elif ok and ordered and pos > 0 and _satisfiable(bound, i, active[:pos]) is False:
            findings.append(
                Finding(
                    Severity.WARNING,
                    "shadowed",
                    "never selected: a higher-ranked rule always applies first",
                    rule.source or rs.source,
                    rule.id,
                    rule.line,
                )
            )
    findings.extend(_unreachable(bound, live))
    findings.extend(_monotonicity(bound, active))
    if bound.profile is None:
        findings.extend(_tidiness(rs))
        findings.extend(advice_findings(bound, Severity.ERROR))
    return LintReport(tuple(findings), (rs.source,))


def advice_findings(bound: BoundRuleset, severity: Severity, note: str = "") -> list[Finding]:
    """Numbers in advice text that disagree with the rule's parameters (``advice-number``).

    At the rule's file and line; ``note`` (the profile in force) is added to each message.
    """
    rs = bound.ruleset
    return [
        Finding(
            severity,
            "advice-number",
            m.message() + note,
            m.rule.source or rs.source,
            m.rule.id,
            m.rule.line,
        )
        for m in advice_mismatches(bound)
    ]


def _unreachable(bound: BoundRuleset, live: set[int]) -> list[Finding]:
    """Declared values of enum outputs that no rule able to fire produces.

    Checked for the enum outputs of single-hit tables (a tier, a level) and for ordered
    outputs; a collect table's other enums (an alert severity scale) need not use every value.

    An error for the ruleset as written (a tier nobody can reach is a mistake); a warning
    under a profile (it follows from the rules the profile disables, reported there too).
    """
    rs = bound.ruleset
    where = f" (profile {bound.profile_id})" if bound.profile is not None else ""
    severity = Severity.ERROR if bound.profile is None else Severity.WARNING
    out: list[Finding] = []
    single = rs.hit_policy is not HitPolicy.COLLECT
    for spec in rs.outputs.values():
        if spec.type != "enum" or not (single or spec.ordered):
            continue
        produced = {str(v) for i in live for k, v in rs.rules[i].outcome if k == spec.name}
        missing = [v for v in spec.values if v not in produced]
        if missing:
            names = ", ".join(f"'{rs.label(spec.name, v)}' ({v})" for v in missing)
            out.append(
                Finding(
                    severity,
                    "unreachable",
                    f"output '{spec.name}': no rule that can apply gives {names}{where}",
                    rs.source,
                    None,
                    rs.lines.get(f"outputs.{spec.name}"),
                )
            )
    return out


def _ordered_reps(spec: FieldSpec, reps: Sequence[Scalar | None]) -> list[Scalar]:
    """The known representatives of ``spec``, lowest first (false below true)."""
    known = [v for v in reps if v is not None]
    if spec.type is FieldType.BOOLEAN:
        return [v for v in (False, True) if v in known]
    if spec.type is FieldType.ENUM:
        return [v for v in spec.values if v in known]
    return sorted(known, key=lambda v: v if isinstance(v, Decimal) else Decimal(0))


def _monotonicity(bound: BoundRuleset, active: list[int]) -> list[Finding]:
    """Ordered outputs that go down as an ordered input goes up, with a counter-example each."""
    rs = bound.ruleset
    if not any(o.ordered for o in rs.outputs.values()) or not rs.ordered_inputs:
        return []
    search = _make_search(bound, active, [rs.rules[i].condition for i in active])
    specs = {f.name: f for f in rs.inputs}
    reps = {name: _ordered_reps(specs[name], search.reps[name]) for name in search.order}
    where = f" (profile {bound.profile_id})" if bound.profile is not None else ""
    try:
        found = violations(bound, reps, budget=MAX_SEARCH_NODES, limit=200)
    except TooLarge:
        return [
            Finding(
                Severity.ERROR,
                "too-large",
                f"too many input combinations to check the ordered outputs (over "
                f"{MAX_SEARCH_NODES}){where}; split the table",
                rs.source,
            )
        ]
    out: list[Finding] = []
    seen: set[tuple[str, str, str | None]] = set()
    for v in found:
        key = (v.output, v.field, v.rule_id)
        if key in seen or len(out) >= _MAX_REPORTED:
            continue
        seen.add(key)

        def shown(value: str | None, output: str = v.output) -> str:
            return "no value" if value is None else f"'{rs.label(output, value)}'"

        rule = rs.rule(v.rule_id) if v.rule_id is not None else None
        example = (
            *((n, format_value(x)) for n, x in v.inputs),
            (v.field, f"{format_value(v.lower)} -> {format_value(v.higher)}"),
        )
        out.append(
            Finding(
                Severity.ERROR,
                "monotonicity",
                f"ordered output '{v.output}' goes down from {shown(v.before)} to "
                f"{shown(v.after)} as ordered input '{v.field}' goes up from "
                f"{format_value(v.lower)} to {format_value(v.higher)}, all else equal{where}",
                (rule.source if rule is not None else None) or rs.source,
                v.rule_id,
                rule.line if rule is not None else rs.lines.get(f"outputs.{v.output}"),
                example,
            )
        )
    return out


def require_clean(bound: BoundRuleset) -> None:
    """Raise :class:`ProfileError` when a bound (profiled) ruleset has lint errors."""
    report = lint_bound(bound)
    if report.errors:
        raise ProfileError("; ".join(str(f) for f in report.errors))
