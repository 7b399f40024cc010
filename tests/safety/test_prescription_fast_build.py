"""A prescription given as a dm+d code and a dosage text is built as pydantic builds it.

``Prescription(dmd_code=..., dosage_text=...)`` skips pydantic's validation when both values are
as pydantic would keep them (issue 20, per-call cost). Each case here is built both ways (the
constructor, and pydantic's own validation, :func:`_pydantic`) and compared: the same fields and
fields set, or the same typed error with the same message (no value echoed). (``model_validate``
is no oracle: pydantic calls a model's own ``__init__`` from it, so it takes the fast path too.)
"""

from __future__ import annotations

import copy
import inspect
import pickle
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from opioidcds import InvalidInputError, Prescription
from opioidcds._base import InputModel
from opioidcds._inputs.prescription import CODE_AND_TEXT

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
    """What the constructor and pydantic's own validation give: fields, names given, or error."""

    def outcome(build: Any) -> object:
        try:
            rx = build()
        except InvalidInputError as exc:
            return ("error", exc.field, exc.rule, str(exc))
        return ("ok", rx.model_dump(), rx.model_fields_set)

    data = {"dmd_code": code, "dosage_text": text}
    return (
        outcome(lambda: Prescription(**data)),
        outcome(lambda: _pydantic(data)),
    )


def _pydantic(data: dict[str, Any]) -> Prescription:
    """``data`` validated by pydantic itself: the model's ``__init__`` (and its fast path) not run.

    What the constructor runs for any input the fast path leaves (``InputModel.__init__``:
    pydantic's validation, its errors turned into ``InvalidInputError``).
    """
    rx = Prescription.__new__(Prescription)
    InputModel.__init__(rx, **data)
    return rx


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


def test_a_text_seen_before_is_checked_as_the_first_time() -> None:
    # The texts accepted as given are kept (issue 20, round 9), so that each is checked once: a
    # text kept must not let a different one through (each is looked up exactly as given), and
    # an equal text that is not a str (a subclass) still goes through pydantic.
    seen = "one twice a day"
    Prescription(dmd_code="36128011000001101", dosage_text=seen)
    for text in (f" {seen}", f"{seen}\n", f"{seen}\t", "x" * 501, "", " "):
        built, validated = _both_ways("36128011000001101", text)
        assert built == validated
        assert built[0] == "error" or built[1]["dosage_text"] != text  # type: ignore[index]

    class Text(str):
        __slots__ = ()

    built, validated = _both_ways("36128011000001101", Text(seen))
    assert built == validated
    assert built[0] == "ok"  # type: ignore[index]


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
    validated = _pydantic({"dmd_code": None, **fields})
    assert rx.model_fields_set == validated.model_fields_set


# Round 8 (issue 20): the fast path writes pydantic's slots itself and records the names given
# in one set shared by every prescription built so (CODE_AND_TEXT), which the calculator
# recognises by identity. A fast prescription must be the validated one in every way a
# caller can see it, and nothing a caller can do through pydantic may mutate the shared set.

_CODE = st.from_regex(r"[0-9]{6,20}", fullmatch=True)
_TEXT = st.text(min_size=1, max_size=500).filter(lambda t: t.strip() == t and t != "")


def _fast(code: str, text: str) -> Prescription:
    rx = Prescription(dmd_code=code, dosage_text=text)
    assert rx.model_fields_set is CODE_AND_TEXT  # the fast path was taken: not pydantic twice
    return rx


def _seen(rx: Prescription) -> tuple[object, ...]:
    """Everything a caller can read of ``rx``: fields in order, names given, slots, text."""
    return (
        list(rx.__dict__.items()),
        set(rx.model_fields_set),
        rx.__pydantic_extra__,
        rx.__pydantic_private__,
        rx.model_dump(),
        rx.model_dump_json(),
        repr(rx),
        hash(rx),
    )


@given(code=_CODE, text=_TEXT)
def test_a_code_and_text_built_fast_is_the_validated_one_in_every_way(code: str, text: str) -> None:
    fast = _fast(code, text)
    validated = _pydantic({"dmd_code": code, "dosage_text": text})
    assert validated.model_fields_set is not CODE_AND_TEXT
    assert _seen(fast) == _seen(validated)
    assert fast == validated
    assert validated == fast
    for copied, expected in (
        (copy.copy(fast), copy.copy(validated)),
        (copy.deepcopy(fast), copy.deepcopy(validated)),
        (pickle.loads(pickle.dumps(fast)), validated),  # noqa: S301 - our own bytes
        (fast.model_copy(), validated.model_copy()),
        (fast.model_copy(update={"id": "rx-1"}), validated.model_copy(update={"id": "rx-1"})),
    ):
        assert _seen(copied) == _seen(expected)
        assert copied == expected
        assert copied.model_fields_set is not CODE_AND_TEXT  # each copy has its own record
    assert {"dmd_code", "dosage_text"} == CODE_AND_TEXT  # and the shared one is untouched


def test_nothing_done_through_pydantic_mutates_the_shared_names_given() -> None:
    rx = _fast("36128011000001101", "one twice a day")
    with_id = rx.model_copy(update={"id": "rx-1", "replaces": "rx-0"})
    assert with_id.model_fields_set == {"dmd_code", "dosage_text", "id", "replaces"}
    assert with_id.without_identity().model_fields_set == with_id.model_fields_set
    assert rx.without_identity() is rx  # nothing to strip: the prescription itself
    with pytest.raises(ValidationError):  # frozen: pydantic refuses assignment (no record)
        rx.id = "rx-2"  # type: ignore[misc]
    for copied in (copy.copy(rx), copy.deepcopy(rx), pickle.loads(pickle.dumps(rx))):  # noqa: S301
        copied.model_fields_set.add("drug")  # a caller mutating a copy's record
    assert {"dmd_code", "dosage_text"} == CODE_AND_TEXT
    assert rx.model_fields_set == {"dmd_code", "dosage_text"}
    # a pickle of several fast prescriptions loads with a record of their own
    loaded = pickle.loads(pickle.dumps([rx, _fast("123456", "one at night")]))  # noqa: S301
    assert all(p.model_fields_set is not CODE_AND_TEXT for p in loaded)
    assert loaded == [
        rx,
        _pydantic({"dmd_code": "123456", "dosage_text": "one at night"}),
    ]
