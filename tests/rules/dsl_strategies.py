"""Hypothesis strategies for small random rulesets and their inputs (rules DSL tests)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import strategies as st

from opioidcds import HitPolicy, Ruleset, Stage
from opioidcds._decide.rules.conditions import (
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
from opioidcds._decide.rules.evaluator import Parameter, Rule

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


def inputs_for(rs: Ruleset) -> st.SearchStrategy[dict[str, object]]:
    """Inputs for any ruleset, from its declared domains, biased to the linter's cut points."""
    from opioidcds._decide.rules.conditions import field_constants  # noqa: PLC0415
    from opioidcds._decide.rules.linter import representatives  # noqa: PLC0415

    consts: dict[str, set[object]] = {}
    for rule in rs.rules:
        for name, values in field_constants(rule.condition, rs.bind(None).binding.params).items():
            consts.setdefault(name, set()).update(values)
    fields: dict[str, st.SearchStrategy[object]] = {}
    for spec in rs.inputs:
        edge = [v for v in representatives(spec, consts.get(spec.name, set())) if v is not None]  # type: ignore[arg-type]
        if spec.type is FieldType.BOOLEAN:
            base: st.SearchStrategy[object] = st.booleans()
        elif spec.type is FieldType.ENUM:
            base = st.sampled_from(spec.values)
        elif spec.type is FieldType.INTEGER:
            lo = int(spec.minimum) if spec.minimum is not None else -1_000
            hi = int(spec.maximum) if spec.maximum is not None else 1_000
            base = (
                st.one_of(st.sampled_from(edge), st.integers(lo, hi))
                if edge
                else st.integers(lo, hi)
            )
        else:
            lo_d = spec.minimum if spec.minimum is not None else Decimal(-10_000)
            hi_d = spec.maximum if spec.maximum is not None else Decimal(10_000)
            numbers = st.decimals(
                min_value=lo_d, max_value=hi_d, allow_nan=False, allow_infinity=False, places=4
            )
            base = st.one_of(st.sampled_from(edge), numbers) if edge else numbers
        fields[spec.name] = base if spec.required else st.one_of(st.none(), base)
    return st.fixed_dictionaries(fields)
