"""Differential test: the one function per ruleset gives each rule's reference closure value.

A bound ruleset evaluates every rule's condition in one generated function
(``compile_truths``, issue 20: per-call cost); the reference is each rule's own closure
(``compile_condition``), called in turn (``BoundRuleset.truths_by_rule``). Random rulesets
(every leaf kind, nested all/any/not, parameters) and every ruleset shipped in rules/ (with
each of their profiles, which disable rules and change parameters) must give the same truths
on the same inputs, and so the same decisions.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opioidcds import OpioidCDSError, Ruleset, default_knowledge, load_profile
from opioidcds._decide.rules.conditions import AllOf, AnyOf, Compare, Const, Known, Not
from opioidcds._decide.rules.evaluator import BoundRuleset

from .dsl_helpers import shipped_rulesets
from .dsl_strategies import inputs, inputs_for, rulesets


def _truths_both_ways(
    rs: Ruleset, values: dict[str, object], bound: BoundRuleset | None = None
) -> None:
    bound = bound if bound is not None else rs.bind(None)
    try:
        normalised = bound.normalise(values)
    except OpioidCDSError:
        return  # refused before any condition is evaluated, by both
    expected = bound.truths_by_rule(normalised)
    # the first evaluation of a bound ruleset runs the closures, the next ones the function
    assert bound.truths(normalised) == expected
    assert bound.truths(normalised) == expected
    assert not isinstance(bound._truths, bool)  # the generated function answered


@given(rs=rulesets(), cases=st.lists(inputs, min_size=1, max_size=8))
def test_random_rulesets_give_the_reference_truths(
    rs: Ruleset, cases: list[dict[str, object]]
) -> None:
    for values in cases:
        _truths_both_ways(rs, values)


@pytest.mark.parametrize(
    ("rs", "profile"),
    shipped_rulesets(),
    ids=lambda x: x if isinstance(x, str) else getattr(x, "id", "-"),
)
def test_every_shipped_ruleset_gives_the_reference_truths(rs: Ruleset, profile: str | None) -> None:
    from opioidcds._knowledge.paths import knowledge_dir  # noqa: PLC0415

    bound = default_knowledge().bound_all(
        load_profile((knowledge_dir("rules") / "profiles") / profile) if profile else None
    )[rs.id]

    @given(values=inputs_for(rs))
    def check(values: dict[str, object]) -> None:
        _truths_both_ways(rs, values, bound)

    check()


def test_kleene_logic_and_short_circuits_by_hand() -> None:
    """A junction stops at the first child that decides it; unknown only when none does."""
    from opioidcds._decide.rules.conditions import compile_truths  # noqa: PLC0415

    index = {"a": 0, "b": 1}
    a_true = Compare("a", "=", Const(True))
    b_big = Compare("b", ">", Const(Decimal(10)))
    truths = compile_truths(  # generated directly: the function itself, not the closures
        [
            AnyOf((a_true, b_big)),
            AllOf((a_true, b_big)),
            Not(b_big),
            Known("b", known=False),
            None,  # a rule the profile switched off
        ],
        index,
        {},
        "disabled",
    )
    # a true decides "any" at once; b unknown leaves "all" unknown; not(unknown) is unknown
    assert truths((True, None)) == (True, None, None, True, "disabled")
    # a false, b 11: any holds through b; all fails at a (b is not needed)
    assert truths((False, Decimal(11))) == (True, False, False, False, "disabled")
    # a unknown, b 5: any is false only if both are false, so unknown; all fails at b
    assert truths((None, Decimal(5))) == (None, False, True, False, "disabled")


def test_no_text_of_a_condition_is_written_into_the_generated_source() -> None:
    """Operators come from a fixed list; constants are passed as objects, never as source."""
    from opioidcds._decide.rules.conditions import (  # noqa: PLC0415
        ConditionSyntaxError,
        compile_truths,
    )

    hostile = "__import__('os').system('false') or"
    with pytest.raises(ConditionSyntaxError):
        compile_truths([Compare("a", hostile, Const(Decimal(1)))], {"a": 0}, {}, "disabled")
    # a constant that reads as code is compared as the text it is
    text = Compare("a", "=", Const("') or __import__('os').system('false') or ('"))
    truths = compile_truths([text], {"a": 0}, {}, "disabled")
    assert truths(("x",)) == (False,)
    assert truths(("') or __import__('os').system('false') or ('",)) == (True,)
