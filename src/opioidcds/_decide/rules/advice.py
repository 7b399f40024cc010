"""Numbers in advice text that disagree with the parameters a rule reads (issue 23).

A rule's wording is written once, but its thresholds are parameters a profile may move: advice
saying "above 120 mg OME/day" while the rule compares with a high dose of 90 tells people the
wrong threshold. :func:`advice_mismatches` reads every number written with a unit in a
rule's title and text outcomes ("120 mg", "7 days", "75%", "35 microgram/hour") and, when the
rule reads at least one parameter in that unit, reports a number equal to none of their values
(as bound: a profile's values included), with the rule's file and line. A number in a unit the
rule has no parameter for is not judged (it is not a threshold of this rule).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from opioidcds._decide.rules.evaluator import BoundRuleset, Rule
from opioidcds._display import format_decimal

__all__ = ["AdviceMismatch", "advice_mismatches"]

_NUMBER: Final = r"(?<![\d.])(\d+(?:\.\d+)?)"
_UNITS: Final = {
    "mg/day": re.compile(_NUMBER + r"\s*mg\b(?!/(?:ml|hour|h)\b)", re.IGNORECASE),
    "days": re.compile(_NUMBER + r"\s*days?\b", re.IGNORECASE),
    "%": re.compile(_NUMBER + r"\s*(?:%|percent\b)", re.IGNORECASE),
    "microgram/hour": re.compile(
        _NUMBER + r"\s*(?:micrograms?|mcg|µg)\s*(?:/|per\s*)h(?:ou)?r?\b", re.IGNORECASE
    ),
}
"""Parameter units, and how a number in that unit is written in advice text."""
_TEXT_TYPES: Final = frozenset({"text", "text_list"})


def _texts(bound: BoundRuleset, rule: Rule) -> Iterator[str]:
    if rule.title:
        yield rule.title
    outputs = bound.ruleset.outputs
    for name, value in rule.outcome:
        spec = outputs.get(name)
        if spec is None or spec.type not in _TEXT_TYPES:
            continue
        if isinstance(value, str):
            yield value
        elif isinstance(value, tuple):
            yield from (v for v in value if isinstance(v, str))


@dataclass(frozen=True, slots=True)
class AdviceMismatch:
    """A number written in a rule's advice text that none of its parameters in that unit has."""

    rule: Rule
    written: str
    unit: str
    parameters: str  # the rule's parameters in that unit, as bound, for people

    def message(self) -> str:
        """What the linter says."""
        return (
            f"advice text says '{self.written}', but the rule's parameters in {self.unit} are: "
            f"{self.parameters}; reword the text or the parameter"
        )


def advice_mismatches(bound: BoundRuleset) -> list[AdviceMismatch]:
    """Each number in a rule's advice text that no parameter of the rule in its unit has.

    Parameters as bound (a profile's values included); disabled rules are skipped.
    """
    rs = bound.ruleset
    params = bound.binding.params
    out: list[AdviceMismatch] = []
    for rule in rs.rules:
        if rule.id in bound.binding.disabled:
            continue
        by_unit: dict[str, dict[Decimal, str]] = {}
        for name in rule.params:
            unit = rs.parameters[name].unit
            if unit in _UNITS:
                by_unit.setdefault(unit, {})[params[name]] = name
        if not by_unit:
            continue
        seen: set[tuple[str, Decimal]] = set()
        for text in _texts(bound, rule):
            for unit, values in by_unit.items():
                for match in _UNITS[unit].finditer(text):
                    number = Decimal(match.group(1))
                    if number in values or (unit, number) in seen:
                        continue
                    seen.add((unit, number))
                    shown = "; ".join(
                        f"{rs.parameter_label(n)} ({n}) {format_decimal(v)} {unit}"
                        for v, n in sorted(values.items())
                    )
                    out.append(AdviceMismatch(rule, match.group(0), unit, shown))
    return out
