"""Differential test: the generated evaluation of positional inputs gives the reference's answer.

The prescribing check passes its inputs by position to one generated function that checks
them and decides every rule (``compile_evaluation``, ``BoundRuleset.evaluation``; issue 20,
round 8). Its reference is ``BoundRuleset.evaluate_by_field``: the inputs put in a dictionary,
checked field by field (``normalise_by_field``) and decided rule by rule (``truths_by_rule``).
On random rulesets and every shipped ruleset under each bundled profile, for valid inputs and
every kind of bad one (wrong types, floats, NaN, infinities, out-of-range and fractional
numbers, undeclared enum values, missing required inputs), in any order of names (some left
out, one repeated, undeclared or hostile ones added), both give the same values, written the
same way, and the same truths, or raise the same error with the same message.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from functools import partial

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opioidcds import InvalidInputError, Ruleset, default_knowledge, load_profile
from opioidcds._decide.alerts import _ALERT_INPUTS, ALERT_RULESET
from opioidcds._decide.rules.conditions import (
    Compare,
    Const,
    FieldSpec,
    FieldType,
    Known,
    Scalar,
    Truth,
)
from opioidcds._decide.rules.evaluator import BoundRuleset, Evaluation, compile_evaluation

from .dsl_helpers import shipped_rulesets
from .dsl_strategies import inputs_for, rulesets
from .test_compiled_inputs import _ANY_VALUE

_HOSTILE = "') or __import__('os').system('false') or ('"


def _compiled(bound: BoundRuleset, names: Sequence[str], reference: Evaluation) -> Evaluation:
    rs, binding = bound.ruleset, bound.binding
    return compile_evaluation(
        rs.inputs,
        rs.id,
        names,
        [None if r.id in binding.disabled else r.condition for r in rs.rules],
        binding.params,
        reference,
    )


def _outcome(evaluate: Evaluation, args: Sequence[object]) -> object:
    """The values (each with how it is written) and truths, or the error, as comparable data."""
    try:
        values, truths = evaluate(*args)
    except InvalidInputError as exc:
        return ("error", exc.field, str(exc))
    return ("values", [(type(v).__name__, str(v)) for v in values], values, truths)


def _same_both_ways(bound: BoundRuleset, names: Sequence[str], args: Sequence[object]) -> None:
    reference = partial(bound.evaluate_by_field, names)
    assert _outcome(_compiled(bound, names, reference), args) == _outcome(reference, args)


@st.composite
def _call(draw: st.DrawFn, rs: Ruleset, *, valid_only: bool = False) -> tuple[list[str], list]:  # type: ignore[type-arg]
    """An order of names (some declared ones left out, maybe one repeated or undeclared) and
    the arguments in that order: valid values, some replaced by anything unless
    ``valid_only``."""
    values = draw(inputs_for(rs))
    names = draw(st.permutations([f.name for f in rs.inputs]))
    if not valid_only:
        names = names[: draw(st.integers(0, len(names)))] if draw(st.booleans()) else names
        for name in draw(st.lists(st.sampled_from([f.name for f in rs.inputs]), max_size=3)):
            values[name] = draw(_ANY_VALUE)
        if draw(st.booleans()):
            names = [*names, draw(st.sampled_from(["undeclared", "Total", "", _HOSTILE]))]
        if names and draw(st.integers(0, 5)) == 0:
            names = [*names, draw(st.sampled_from(names))]  # repeated: the last one counts
    return list(names), [values.get(n, draw(_ANY_VALUE)) for n in names]


@given(rs=rulesets(), data=st.data())
def test_random_rulesets_evaluate_as_the_reference(rs: Ruleset, data: st.DataObject) -> None:
    bound = rs.bind(None)
    for _ in range(4):
        _same_both_ways(bound, *data.draw(_call(rs, valid_only=True)))
        _same_both_ways(bound, *data.draw(_call(rs)))


@pytest.mark.parametrize(
    ("rs", "profile"),
    shipped_rulesets(),
    ids=lambda x: x if isinstance(x, str) else getattr(x, "id", "-"),
)
def test_every_shipped_ruleset_evaluates_as_the_reference(rs: Ruleset, profile: str | None) -> None:
    from opioidcds._knowledge.paths import knowledge_dir  # noqa: PLC0415

    bound = default_knowledge().bound_all(
        load_profile((knowledge_dir("rules") / "profiles") / profile) if profile else None
    )[rs.id]

    @given(valid=_call(rs, valid_only=True), mangled=_call(rs))
    def check(
        valid: tuple[list[str], list[object]], mangled: tuple[list[str], list[object]]
    ) -> None:
        _same_both_ways(bound, *valid)
        _same_both_ways(bound, *mangled)

    check()


def _never(*_args: object) -> tuple[tuple[Scalar | None, ...], tuple[Truth | str, ...]]:
    raise AssertionError("the reference was asked")


@pytest.mark.parametrize(
    "profile", [None, *sorted({p for _, p in shipped_rulesets() if p is not None})]
)
def test_the_check_s_inputs_are_decided_by_the_generated_function(profile: str | None) -> None:
    """The prescribing check's order of inputs compiles (declared, every required one given),
    and valid inputs never reach the reference: the generated function answers them."""
    from opioidcds._knowledge.paths import knowledge_dir  # noqa: PLC0415

    bound = default_knowledge().bound_all(
        load_profile((knowledge_dir("rules") / "profiles") / profile) if profile else None
    )[ALERT_RULESET]
    fast = _compiled(bound, _ALERT_INPUTS, _never)
    assert fast is not _never
    names = list(_ALERT_INPUTS)
    rs = bound.ruleset

    @given(values=inputs_for(rs))
    def check(values: dict[str, object]) -> None:
        args = [values.get(n) for n in names]
        if any(isinstance(a, int) and not isinstance(a, bool) for a in args):
            args = [Decimal(a) if type(a) is int else a for a in args]  # as the check derives
        assert _outcome(fast, args) == _outcome(partial(bound.evaluate_by_field, names), args)

    check()


def test_the_generated_evaluation_answers_from_the_second_request() -> None:
    rs = default_knowledge().rulesets[ALERT_RULESET]
    bound = BoundRuleset(rs, None, rs.bind(None).binding)  # new: never evaluated before
    first = bound.evaluation(_ALERT_INPUTS)
    assert isinstance(first, partial)  # the reference (a cold start need not pay)
    second = bound.evaluation(_ALERT_INPUTS)
    assert not isinstance(second, partial)
    assert bound.evaluation(_ALERT_INPUTS) is second  # kept
    args: list[object] = [None] * len(_ALERT_INPUTS)
    given = {
        "new_item_class": "opioid",
        "reauthorisation": False,
        "total_ome_lower_bound_mg_per_day": Decimal("60.0"),
        "opioid_before": False,
        "opioid_after": True,
        "new_item_transdermal": False,
        "opioid_review_recorded": False,
        "new_item_fentanyl_patch": False,
    }
    for name, value in given.items():
        args[_ALERT_INPUTS.index(name)] = value
    assert _outcome(second, args) == _outcome(first, args)
    values, _ = second(*args)
    total = next(f.index for f in rs.inputs if f.name == "total_ome_lower_bound_mg_per_day")
    assert str(values[total]) == "60.0"  # kept as written
    args[_ALERT_INPUTS.index("new_item_class")] = "not-a-class"
    with pytest.raises(InvalidInputError, match="new_item_class"):
        second(*args)
    args[_ALERT_INPUTS.index("new_item_class")] = "opioid"
    args[_ALERT_INPUTS.index("total_ome_lower_bound_mg_per_day")] = 60.0
    with pytest.raises(InvalidInputError, match="binary floats"):
        second(*args)


def test_no_name_or_value_is_written_into_the_generated_source() -> None:
    """Input names, option sets, bounds and constants are passed as objects, never as source."""
    fields = (
        FieldSpec(_HOSTILE, FieldType.ENUM, 0, values=(_HOSTILE, "x')\n    return 1\n#")),
        FieldSpec("n", FieldType.NUMBER, 1, minimum=Decimal(0), maximum=Decimal(10)),
        FieldSpec("r", FieldType.BOOLEAN, 2, required=True),
    )
    rules = (
        Compare(_HOSTILE, "=", Const(_HOSTILE)),
        Compare("n", ">", Const(Decimal(5))),
        Known("r", known=True),
    )

    def reference(*_args: object) -> tuple[tuple[Scalar | None, ...], tuple[Truth | str, ...]]:
        raise InvalidInputError("reference", "answered")

    fast = compile_evaluation(fields, "hostile", ("r", "n", _HOSTILE), rules, {}, reference)
    assert fast is not reference
    assert fast(True, Decimal("2.50"), _HOSTILE) == (
        (_HOSTILE, Decimal("2.50"), True),
        (True, False, True),
    )
    assert fast(False, 7, None) == ((None, Decimal(7), False), (None, True, True))
    with pytest.raises(InvalidInputError, match="answered"):
        fast(True, None, "x")  # not a declared value: the reference decides
    with pytest.raises(InvalidInputError, match="answered"):
        fast(None, None, None)  # a required input missing: the reference decides
    with pytest.raises(InvalidInputError, match="above the declared maximum"):
        fast(True, Decimal(11), None)
    # an undeclared or repeated name, or a required one left out: always the reference
    for names in (("r", "n", "other"), ("r", "r", "n"), ("n", _HOSTILE)):
        assert compile_evaluation(fields, "hostile", names, rules, {}, reference) is reference
