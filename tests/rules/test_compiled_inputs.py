"""Differential test: the generated input checks give the reference's values and errors.

A bound ruleset checks and converts its inputs in one generated function from its second
evaluation on (``compile_inputs``, issue 20: per-call cost); the reference checks field by
field (``BoundRuleset.normalise_by_field``). On random rulesets and every shipped ruleset
(with each bundled profile), for valid inputs and for every kind of bad one (wrong types,
floats, NaN, infinities, out-of-range and fractional numbers, undeclared enum values, missing
required inputs, undeclared names, mappings that are not dicts), both give the same values,
written the same way (``60.0`` stays ``60.0``), or raise the same error with the same message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opioidcds import InvalidInputError, Ruleset, default_knowledge, load_profile
from opioidcds._decide.rules.conditions import FieldSpec, FieldType, Scalar
from opioidcds._decide.rules.evaluator import BoundRuleset, compile_inputs

from .dsl_helpers import shipped_rulesets
from .dsl_strategies import inputs, inputs_for, rulesets

_ANY_VALUE: st.SearchStrategy[object] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-100, 1_000),
    st.decimals(allow_nan=True, allow_infinity=True, places=3),
    st.decimals(min_value=-60, max_value=600, places=2),
    st.floats(allow_nan=True),
    st.text(max_size=6),
    st.sampled_from(["female", "male", "other", "opioid", " 12 ", "1e3", "NaN", "none"]),
    st.just(Decimal("12.0")),
    st.just(Decimal("-0")),
    st.just(Decimal("sNaN")),
)


def _outcome(normalise: Callable[[Mapping[str, object]], object], given: object) -> object:
    """The values (each with how it is written) or the error, as comparable data."""
    try:
        values = normalise(given)  # type: ignore[arg-type]
    except InvalidInputError as exc:
        return ("error", exc.field, str(exc))
    assert isinstance(values, tuple)
    return ("values", [(type(v).__name__, str(v)) for v in values], values)


def _same_both_ways(bound: BoundRuleset, given: object) -> None:
    fast = compile_inputs(bound.ruleset.inputs, bound.ruleset.id, bound.normalise_by_field)
    assert _outcome(fast, given) == _outcome(bound.normalise_by_field, given)


def _mangled(rs: Ruleset) -> st.SearchStrategy[object]:
    """Inputs of ``rs`` with some values replaced by anything, or names added or dropped."""
    names = [f.name for f in rs.inputs]
    valid = inputs_for(rs)

    @st.composite
    def draw(draw: st.DrawFn) -> object:
        values = dict(draw(valid))
        for name in draw(st.lists(st.sampled_from(names), max_size=3)):
            values[name] = draw(_ANY_VALUE)
        for name in draw(st.lists(st.sampled_from(names), max_size=2)):
            values.pop(name, None)
        if draw(st.booleans()):
            values[draw(st.sampled_from(["undeclared", "Total", ""]))] = draw(_ANY_VALUE)
        kind = draw(st.sampled_from(["dict", "dict", "dict", "proxy", "list"]))
        if kind == "proxy":
            return MappingProxyType(values)
        if kind == "list":
            return list(values.items())
        return values

    return draw()


@given(rs=rulesets(), cases=st.lists(inputs, min_size=1, max_size=6), data=st.data())
def test_random_rulesets_check_inputs_as_the_reference(
    rs: Ruleset, cases: list[dict[str, object]], data: st.DataObject
) -> None:
    bound = rs.bind(None)
    for values in cases:
        _same_both_ways(bound, values)
        _same_both_ways(bound, data.draw(_mangled(rs)))


@pytest.mark.parametrize(
    ("rs", "profile"),
    shipped_rulesets(),
    ids=lambda x: x if isinstance(x, str) else getattr(x, "id", "-"),
)
def test_every_shipped_ruleset_checks_inputs_as_the_reference(
    rs: Ruleset, profile: str | None
) -> None:
    from opioidcds._knowledge.paths import knowledge_dir  # noqa: PLC0415

    bound = default_knowledge().bound_all(
        load_profile((knowledge_dir("rules") / "profiles") / profile) if profile else None
    )[rs.id]

    @given(valid=inputs_for(rs), mangled=_mangled(rs))
    def check(valid: dict[str, object], mangled: object) -> None:
        _same_both_ways(bound, valid)
        _same_both_ways(bound, mangled)

    check()


def test_the_generated_checks_answer_from_the_second_evaluation() -> None:
    rs = default_knowledge().rulesets["prescribing-alerts"]
    bound = BoundRuleset(rs, None, rs.bind(None).binding)  # new: never evaluated before
    given: dict[str, object] = {
        f.name: False
        if f.type is FieldType.BOOLEAN
        else (f.values[0] if f.type is FieldType.ENUM else (f.minimum or Decimal(0)))
        for f in rs.inputs
        if f.required
    }
    given |= {"new_item_class": "opioid", "total_ome_lower_bound_mg_per_day": Decimal("60.0")}
    first = bound.normalise(given)
    assert bound._normalise is True  # the reference answered; generated on the next call
    assert bound.normalise(given) == first
    assert callable(bound._normalise)
    again = bound.normalise(given)
    assert again == first
    total = next(f.index for f in rs.inputs if f.name == "total_ome_lower_bound_mg_per_day")
    assert str(again[total]) == "60.0"  # kept as written
    with pytest.raises(InvalidInputError, match="new_item_class"):
        bound.normalise({**given, "new_item_class": "not-a-class"})
    with pytest.raises(InvalidInputError, match="binary floats"):
        bound.normalise({**given, "total_ome_lower_bound_mg_per_day": 60.0})


def test_no_text_of_the_rules_file_is_written_into_the_generated_source() -> None:
    """Input names, option sets and bounds are passed as objects, never as source."""
    hostile = "') or __import__('os').system('false') or ('"
    fields = (
        FieldSpec(hostile, FieldType.ENUM, 0, values=(hostile, "x')\n    return 1\n#")),
        FieldSpec("n", FieldType.NUMBER, 1, minimum=Decimal(0), maximum=Decimal(10)),
    )

    def reference(given: Mapping[str, object]) -> tuple[Scalar | None, ...]:
        raise InvalidInputError("reference", "answered")

    fast = compile_inputs(fields, "hostile", reference)
    assert fast({hostile: hostile, "n": Decimal("2.50")}) == (hostile, Decimal("2.50"))
    assert fast({hostile: None, "n": 3}) == (None, Decimal(3))
    with pytest.raises(InvalidInputError, match="answered"):
        fast({hostile: "x"})  # not a declared value: the reference decides
    with pytest.raises(InvalidInputError, match="above the declared maximum"):
        fast({"n": Decimal(11)})
