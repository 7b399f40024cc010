"""Properties of the linter on random tables: it finds every run-time gap or overlap, and every
counter-example it reports really is one."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from opioidcds import HitPolicy, Ruleset, RulesetDefectError
from opioidcds._decide.rules import lint_bound
from opioidcds._decide.rules.conditions import FieldType

from .dsl_strategies import FIELDS, inputs, rulesets

TABLE_CODES = ("gap", "overlap", "too-large")


def _value(name: str, text: str) -> object:
    spec = next(f for f in FIELDS if f.name == name)
    if text == "unknown":
        return None
    if spec.type is FieldType.BOOLEAN:
        return text == "true"
    if spec.type is FieldType.ENUM:
        return text
    return Decimal(text)


@given(rs=rulesets(), cases=st.lists(inputs, min_size=1, max_size=10))
def test_linter_finds_every_runtime_defect(rs: Ruleset, cases: list[dict[str, object]]) -> None:
    assume(rs.hit_policy is not HitPolicy.COLLECT)
    report = lint_bound(rs.bind(None), examples=False)
    table_errors = [f for f in report.errors if f.code in TABLE_CODES]
    for values in cases:
        try:
            rs.evaluate(values)
        except RulesetDefectError:
            assert table_errors, f"run-time defect at {values} but the linter found none"


@given(rs=rulesets())
def test_counterexamples_reproduce(rs: Ruleset) -> None:
    assume(rs.hit_policy is not HitPolicy.COLLECT)
    report = lint_bound(rs.bind(None), examples=False)
    for finding in report.errors:
        if finding.code not in ("gap", "overlap"):
            continue
        given_values = {k: _value(k, v) for k, v in finding.counterexample}
        expected = "a gap" if finding.code == "gap" else "overlapping rules"
        with pytest.raises(RulesetDefectError, match=expected):
            rs.evaluate(given_values)
