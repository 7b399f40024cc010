"""Monotonicity of ordered outputs: a tier or level must not go down as an ordered input goes up.

A ruleset declares an enum output ``ordered = true`` (its ``values`` lowest first: risk level
``low`` ... ``very-high``, support tier ``letter`` ... ``specialist-mdt``) and inputs
``ordered = true`` (an enum by its ``values``, lowest first; a number by value; a boolean false
below true). The search visits every combination of the *known* representative values of the
inputs the rules read (the linter's representatives: every comparison keeps one truth value
between them, so they cover the whole declared domain) and compares each combination with the
one where a single ordered input takes its next higher representative. A single-hit table's
output is its selected rule's value; a ``collect`` table's is the highest value among the rules
that fired (none fired counts below the lowest). Unknown inputs are not varied: a decision that
waits on an unknown is "cannot evaluate", not a level.

Example of what it finds: a copy-paste error that gives the high-risk rule the outcome
``tier = "letter"``: with every other input the same, moving the risk level from moderate to
high moves the tier down from brief GP intervention to letter.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import product

from opioidcds._decide.rules.conditions import Scalar
from opioidcds._decide.rules.errors import RulesetDefectError
from opioidcds._decide.rules.evaluator import BoundRuleset, Decisions
from opioidcds._decide.rules.kinds import HitPolicy
from opioidcds._errors import InvalidInputError

__all__ = ["TooLarge", "Violation", "violations"]


class TooLarge(Exception):  # noqa: N818 - a result of the search, named for what it says
    """The combinations to visit exceed the search budget."""


@dataclass(frozen=True, slots=True)
class Violation:
    """An ordered output that goes down as one ordered input goes up, everything else equal.

    ``lower``/``higher`` are the input's two values; ``before``/``after`` the output's values
    there (``after`` is below ``before``); ``rule_id`` the rule that gave ``after`` (``None``
    in a collect table when no rule fired); ``inputs`` the other inputs, as given.
    """

    output: str
    field: str
    lower: Scalar
    higher: Scalar
    before: str | None
    after: str | None
    rule_id: str | None
    inputs: tuple[tuple[str, Scalar], ...]


def _rank(bound: BoundRuleset, d: Decisions, output: str, order: Sequence[str]) -> int | None:
    """The output's position in ``order`` (-1: a collect table fired nothing with it)."""
    rules = bound.ruleset.rules
    if bound.ruleset.hit_policy is HitPolicy.COLLECT:
        if d.cannot_evaluate_indices:
            return None
        ranks = [
            order.index(str(v))
            for i in d.fired_indices
            for k, v in rules[i].outcome
            if k == output and str(v) in order
        ]
        return max(ranks, default=-1)
    fired = d.fired_indices
    if len(fired) != 1:
        return None
    value = dict(rules[fired[0]].outcome).get(output)
    return order.index(str(value)) if value is not None and str(value) in order else None


def _decide(bound: BoundRuleset, given: Mapping[str, Scalar]) -> Decisions | None:
    try:
        values = bound.normalise(given)
        return bound.decide(values, bound.truths(values))
    except (RulesetDefectError, InvalidInputError):  # gaps and overlaps are reported apart
        return None


def _combinations(
    names: Sequence[str], reps: Mapping[str, Sequence[Scalar]], budget: int
) -> Iterator[tuple[Scalar, ...]]:
    size = 1
    for n in names:
        size *= max(len(reps[n]), 1)
        if size > budget:
            raise TooLarge
    return product(*(reps[n] for n in names))


def violations(
    bound: BoundRuleset,
    reps: Mapping[str, Sequence[Scalar]],
    *,
    budget: int,
    limit: int,
) -> list[Violation]:
    """Every ordered output that goes down as an ordered input goes up (at most ``limit``).

    ``reps`` gives each input the rules read its known representative values, lowest first.

    Raises:
        TooLarge: more than ``budget`` combinations to visit.
    """
    rs = bound.ruleset
    outputs = [o for o in rs.outputs.values() if o.ordered]
    varied = [n for n in reps if n in rs.ordered_inputs]
    if not outputs or not varied:
        return []
    names = list(reps)
    decided: dict[tuple[Scalar, ...], Decisions | None] = {}
    for combo in _combinations(names, reps, budget):
        decided[combo] = _decide(bound, dict(zip(names, combo, strict=True)))
    found: list[Violation] = []
    for out in outputs:
        for combo, d in decided.items():
            if d is None:
                continue
            for name in varied:
                k = names.index(name)
                values = list(reps[name])
                position = values.index(combo[k])
                if position + 1 >= len(values):
                    continue
                up = (*combo[:k], values[position + 1], *combo[k + 1 :])
                d_up = decided.get(up)
                if d_up is None:
                    continue
                before = _rank(bound, d, out.name, out.values)
                after = _rank(bound, d_up, out.name, out.values)
                if before is None or after is None or after >= before:
                    continue
                fired = d_up.fired_indices
                found.append(
                    Violation(
                        output=out.name,
                        field=name,
                        lower=combo[k],
                        higher=values[position + 1],
                        before=out.values[before] if before >= 0 else None,
                        after=out.values[after] if after >= 0 else None,
                        rule_id=rs.rules[fired[0]].id if len(fired) == 1 else None,
                        inputs=tuple(
                            (n, v) for n, v in zip(names, combo, strict=True) if n != name
                        ),
                    )
                )
                if len(found) >= limit:
                    return found
    return found
