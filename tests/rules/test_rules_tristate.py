"""Tri-state semantics: a rule that is decided with unknown inputs stays decided whatever the
unknowns turn out to be, and a rule that is unknown names only inputs that were unknown."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from opioidcds import HitPolicy, Ruleset, RulesetDefectError
from opioidcds._decide.rules.conditions import AllOf, AnyOf, Condition, Known, Not, Ref

from .dsl_strategies import inputs, rulesets


def _asks_about_knowledge(node: Condition) -> bool:
    if isinstance(node, Known):
        return True
    if isinstance(node, AllOf | AnyOf):
        return any(_asks_about_knowledge(c) for c in node.children)
    if isinstance(node, Not | Ref):
        return _asks_about_knowledge(node.child)
    return False


full_inputs = st.fixed_dictionaries(
    {
        "dose": st.decimals(min_value=-50, max_value=500, places=3),
        "count": st.integers(0, 13),
        "flag": st.booleans(),
        "sex": st.sampled_from(["female", "male", "other"]),
    }
)


@given(rs=rulesets(), partial=inputs, fill=full_inputs)
def test_known_answers_survive_filling_unknowns(
    rs: Ruleset, partial: dict[str, object], fill: dict[str, object]
) -> None:
    bound = rs.bind(None)
    before = bound.truths(bound.normalise(partial))
    completed = {k: (fill[k] if v is None else v) for k, v in partial.items()}
    after = bound.truths(bound.normalise(completed))
    for rule, b, a in zip(rs.rules, before, after, strict=True):
        # 'x is known/unknown' asks about knowledge itself, so it may change when x becomes known
        if b is not None and not _asks_about_knowledge(rule.condition):
            assert a == b, rule.id


@given(rs=rulesets(), partial=inputs)
def test_unknown_inputs_are_unknown(rs: Ruleset, partial: dict[str, object]) -> None:
    try:
        d = rs.evaluate(partial)
    except RulesetDefectError:
        return
    unknown = {k for k, v in partial.items() if v is None}
    assert set(d.unknown_inputs) <= unknown
    for decision in d.cannot_evaluate:
        assert decision.unknown_inputs, decision.rule_id
        assert set(decision.unknown_inputs) <= unknown
    if rs.hit_policy is HitPolicy.COLLECT:
        assert d.complete == (not d.cannot_evaluate)
