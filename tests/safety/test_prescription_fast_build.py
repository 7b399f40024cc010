"""A prescription given as a dm+d code and a dosage text is built as pydantic builds it.

``Prescription(dmd_code=..., dosage_text=...)`` skips pydantic's validation when both values are
as pydantic would keep them (issue 20, per-call cost). Each case here is built both ways (the
constructor, and ``model_validate``, which always validates) and compared: the same fields and
fields set, or the same typed error with the same message (no value echoed).
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opioidcds import InvalidInputError, Prescription

CODES: tuple[Any, ...] = (
    "36128011000001101",
    "12345",  # too short for the declared pattern
    "123456",  # the shortest accepted
    "1" * 20,  # the longest accepted
    "1" * 21,
    "36128011000001101\n",  # "$" alone would pass a final newline
    " 36128011000001101",  # stripped by pydantic: not as given
    "3612801100000110a",
    "\u0663\u0666\u0661\u0662\u0668\u0660\u0661",  # Arabic-Indic digits: not [0-9]
    36128011000001101,  # a number, not a text
    None,
    "",
)
TEXTS: tuple[Any, ...] = (
    "one twice a day",
    " one twice a day",  # stripped by pydantic
    "one twice a day\n",
    "",
    "   ",  # empty once stripped
    "x" * 500,  # the longest accepted
    "x" * 501,
    2,
    None,
)


def _both_ways(code: Any, text: Any) -> tuple[object, object]:
    """What the constructor and ``model_validate`` give: fields and fields set, or the error."""

    def outcome(build: Any) -> object:
        try:
            rx = build()
        except InvalidInputError as exc:
            return ("error", exc.field, exc.rule, str(exc))
        return ("ok", rx.model_dump(), rx.model_fields_set)

    data = {"dmd_code": code, "dosage_text": text}
    return (
        outcome(lambda: Prescription(**data)),
        outcome(lambda: Prescription.model_validate(data)),
    )


def test_every_edge_of_a_code_and_a_text_is_built_as_pydantic_builds_it() -> None:
    outcomes = set()
    for code in CODES:
        for text in TEXTS:
            built, validated = _both_ways(code, text)
            assert built == validated, (code, text)
            outcomes.add(str(built[0]))  # type: ignore[index]
    assert outcomes == {"ok", "error"}  # both were compared


def test_a_code_seen_before_is_checked_as_the_first_time() -> None:
    # The codes that match the pattern are kept, so that each is matched once: a code kept
    # must not let a different one through (each is looked up exactly as given).
    Prescription(dmd_code="36128011000001101", dosage_text="one twice a day")
    for code in ("361280110000\n01101", "036128011000001101x", "3612801100000110\u0661"):
        built, validated = _both_ways(code, "one twice a day")
        assert built == validated
        assert built[0] == "error"  # type: ignore[index]


@given(
    code=st.one_of(st.text(alphabet="0123456789 \n\t\u0663a", max_size=22), st.integers()),
    text=st.text(max_size=30),
)
def test_any_code_and_text_are_built_as_pydantic_builds_them(code: Any, text: str) -> None:
    built, validated = _both_ways(code, text)
    assert built == validated


def test_the_signature_is_every_field_by_name_as_pydantic_gives_it() -> None:
    # The fast path names dmd_code and dosage_text as parameters (no dictionary of keywords for
    # the commonest call); what callers and the documentation see is still every field, by
    # name only, in field order, with its default.
    params = inspect.signature(Prescription).parameters
    assert list(params) == list(Prescription.model_fields)
    assert {p.kind for p in params.values()} == {inspect.Parameter.KEYWORD_ONLY}
    assert [p.default for p in params.values()] == [
        f.default for f in Prescription.model_fields.values()
    ]
    with pytest.raises(TypeError):
        Prescription("36128011000001101", "one twice a day")  # type: ignore[call-arg]


def test_a_code_or_text_given_as_none_is_recorded_as_given() -> None:
    # None is a value a caller may give (and pydantic records as given): it is not "not given".
    fields: dict[str, Any] = {"drug": "morphine", "form": "tablet", "strength": "10 mg"}
    fields["dosage_text"] = "one twice a day"
    rx = Prescription(dmd_code=None, **fields)
    assert "dmd_code" in rx.model_fields_set
    validated = Prescription.model_validate({"dmd_code": None, **fields})
    assert rx.model_fields_set == validated.model_fields_set
