"""Differential test: random small rulesets and inputs give the same decisions on both engines.

Run derandomised in CI (HYPOTHESIS_PROFILE=ci). Any divergence hypothesis finds must be added
to test_rules_durable.py as an explicit regression case.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, reject
from hypothesis import strategies as st

from opioidcds.errors import OpioidCDSError
from opioidcds.rules import BackendError, HitPolicy, Ruleset, Stage
from opioidcds.rules.conditions import (
    AllOf,
    AnyOf,
    Between,
    Compare,
    Condition,
    Const,
    FieldSpec,
    FieldType,
    Known,
    Member,
    Not,
    Operand,
    Param,
    condition_fields,
    condition_params,
)
from opioidcds.rules.evaluator import Parameter, Rule

pytest.importorskip("durable")

from opioidcds.rules.durable_backend import DurableRuleset

FIELDS = (
    FieldSpec("dose", FieldType.NUMBER, 0, minimum=Decimal(-50), maximum=Decimal(500)),
    FieldSpec("count", FieldType.INTEGER, 1, minimum=Decimal(0), maximum=Decimal(13)),
    FieldSpec("flag", FieldType.BOOLEAN, 2),
    FieldSpec("sex", FieldType.ENUM, 3, values=("female", "male", "other")),
)
ENUM = FIELDS[3].values

decimals = st.decimals(
    min_value=Decimal(-50), max_value=Decimal(500), places=3, allow_nan=False, allow_infinity=False
)
wide_decimals = st.one_of(
    decimals,
    st.decimals(
        min_value=Decimal(-50), max_value=Decimal(500), allow_nan=False, allow_infinity=False
    ),
)
ops = st.sampled_from(["=", "!=", "<", "<=", ">", ">="])
num_operand: st.SearchStrategy[Operand] = st.one_of(
    decimals.map(Const), st.sampled_from([Param("limit"), Param("low")])
)
int_operand: st.SearchStrategy[Operand] = st.integers(-1, 14).map(lambda n: Const(Decimal(n)))


def _between(field: str, a: Decimal, b: Decimal, lc: bool, hc: bool) -> Between:
    lo, hi = sorted((a, b))
    if lo == hi:
        lc = hc = True
    return Between(field, Const(lo), Const(hi), lc, hc)


leaves: st.SearchStrategy[Condition] = st.one_of(
    st.builds(Compare, st.just("dose"), ops, num_operand),
    st.builds(Compare, st.just("count"), ops, int_operand),
    st.builds(Compare, st.just("flag"), st.sampled_from(["=", "!="]), st.booleans().map(Const)),
    st.builds(
        Compare, st.just("sex"), st.sampled_from(["=", "!="]), st.sampled_from(ENUM).map(Const)
    ),
    st.builds(
        Member,
        st.just("sex"),
        st.lists(st.sampled_from(ENUM).map(Const), min_size=1, max_size=3).map(tuple),
        st.booleans(),
    ),
    st.builds(
        Member,
        st.just("count"),
        st.lists(int_operand, min_size=1, max_size=3).map(tuple),
        st.booleans(),
    ),
    st.builds(_between, st.just("dose"), decimals, decimals, st.booleans(), st.booleans()),
    st.builds(Known, st.sampled_from([f.name for f in FIELDS]), st.booleans()),
)

conditions: st.SearchStrategy[Condition] = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda c: AllOf(tuple(c))),
        st.lists(inner, min_size=1, max_size=3).map(lambda c: AnyOf(tuple(c))),
        inner.map(Not),
    ),
    max_leaves=6,
)


@st.composite
def rulesets(draw: st.DrawFn) -> Ruleset:
    policy = draw(st.sampled_from(list(HitPolicy)))
    conds = draw(st.lists(conditions, min_size=1, max_size=5))
    params = {
        "limit": Parameter("limit", draw(decimals), ("src",)),
        "low": Parameter("low", draw(decimals), ("src",)),
    }
    rules = tuple(
        Rule(
            id=f"r{i}",
            stage=Stage.FIND,
            condition=c,
            outcome=(),
            citations=("src",),
            rationale="random",
            priority=(len(conds) - i) if policy is HitPolicy.PRIORITY else None,
            fields=condition_fields(c),
            params=condition_params(c),
        )
        for i, c in enumerate(conds)
    )
    return Ruleset(
        id="random",
        version="0.0.0",
        effective_date=dt.date(2026, 11, 22),
        owner="tests",
        reviewer="tests",
        description="random ruleset",
        hit_policy=policy,
        hit_policy_reason="random" if policy is HitPolicy.FIRST else None,
        citations={"src": "random"},
        inputs=FIELDS,
        parameters=params,
        outputs={},
        named_conditions={},
        rules=rules,
        examples=(),
        source="<random>",
        fingerprint="random",
    )


inputs = st.fixed_dictionaries(
    {
        "dose": st.one_of(st.none(), wide_decimals),
        "count": st.one_of(st.none(), st.integers(0, 13)),
        "flag": st.one_of(st.none(), st.booleans()),
        "sex": st.one_of(st.none(), st.sampled_from(ENUM)),
    }
)


def _outcome(engine: Ruleset | DurableRuleset, values: dict[str, object]) -> object:
    try:
        d = engine.evaluate(values)
    except OpioidCDSError as exc:
        return type(exc).__name__
    return dict(d.statuses), d.fired_ids, d.complete, d.unknown_inputs


@given(rs=rulesets(), cases=st.lists(inputs, min_size=1, max_size=8))
def test_backends_agree(rs: Ruleset, cases: list[dict[str, object]]) -> None:
    try:
        durable = DurableRuleset(rs)
    except BackendError:
        # durable-rules refused to compile (an engine size limit): a clear error, never a
        # wrong answer; such rulesets are outside what the backend can hold
        reject()
    with durable:
        for values in cases:
            assert _outcome(rs, values) == _outcome(durable, values), values
