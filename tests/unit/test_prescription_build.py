"""A prescription built from text fields as given is the one pydantic's validation builds.

Issue 20: ``Prescription(...)`` skips pydantic's validation when every value is a text field or
a flag that the validation would return unchanged (a dm+d code and a dosage text, as records
send them). These tests compare that path with pydantic's own validation of the same data (as
``BaseModel.__init__`` runs it): the same fields, the same fields recorded as given, the same
error for the same bad input.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from opioidcds import InvalidInputError, Prescription
from opioidcds._base import input_error_from

TEXT_FIELDS = (
    "dmd_code",
    "product_name",
    "drug",
    "form",
    "route",
    "strength",
    "dose_unit",
    "dosage_text",
    "id",
    "replaces",
)
FLAGS = ("prn", "dose_unknown", "dose_is_minimum")

# texts that pydantic strips, refuses or accepts: spaces around, empty, too long, digits of
# dm+d length and not, real names and dosage texts, and unicode spaces
texts = st.one_of(
    st.sampled_from(
        [
            "36120011000001101",
            "12345",
            "123456789012345678901",
            "oxycodone",
            "tablet",
            "10 mg",
            "25 microgram/hour",
            "one tablet twice a day",
            "apply one patch every 72 hours",
            " tablet",
            "tablet ",
            "\ttablet\n",
            "\u00a0tablet",
            "tablet\u2003",
            "\x1ctablet",
            "",
            " ",
            "x" * 500,
            "x" * 501,
            "x" * 201,
            "rx-1",
            "Oxycodone 10mg tablets",
        ]
    ),
    st.text(max_size=12),
    st.from_regex(r"[0-9]{4,22}", fullmatch=True),
)
values = st.one_of(texts, st.booleans(), st.integers(-1, 3), st.none())


def _outcome(build: Any, data: dict[str, Any]) -> tuple[str, Any]:
    try:
        rx = build(data)
    except InvalidInputError as exc:
        return "error", (exc.field, exc.rule, str(exc))
    return "built", (
        rx.model_dump(),
        rx.model_fields_set,
        rx.__pydantic_private__,
        rx.__pydantic_extra__,
        list(rx.__dict__),
    )


def _validated(data: dict[str, Any]) -> Prescription:
    """The prescription pydantic's validation builds (what ``BaseModel.__init__`` does)."""
    rx = Prescription.__new__(Prescription)
    try:
        Prescription.__pydantic_validator__.validate_python(data, self_instance=rx)
    except ValidationError as exc:
        raise input_error_from(exc) from None
    return rx


def _same(data: dict[str, Any]) -> None:
    fast = _outcome(lambda d: Prescription(**d), data)
    assert fast == _outcome(_validated, data)
    assert _outcome(Prescription.model_validate, data) == fast  # the same from a mapping


@settings(max_examples=600)
@given(
    st.dictionaries(st.sampled_from(TEXT_FIELDS), texts, max_size=4),
    st.dictionaries(st.sampled_from(FLAGS), st.booleans(), max_size=2),
)
def test_text_fields_and_flags_build_as_validated(
    text: dict[str, Any], flags: dict[str, Any]
) -> None:
    _same({**text, **flags})


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from((*TEXT_FIELDS, *FLAGS, "dose_quantity")), values))
def test_any_values_build_as_validated(data: dict[str, Any]) -> None:
    _same(data)


@pytest.mark.parametrize(
    "data",
    [
        {"dmd_code": "36120011000001101", "dosage_text": "one tablet twice a day"},
        {"drug": "oxycodone", "form": "tablet", "dosage_text": "1 tablet bd"},
        {"dmd_code": "36120011000001101", "dose_unknown": True},
        {"dmd_code": "36120011000001101"},  # no dose: refused the same way
        {"dmd_code": " 36120011000001101", "dosage_text": "one tablet twice a day"},
        {"drug": "oxycodone", "form": "tablet", "strength": "ten mg", "dosage_text": "1 bd"},
        {"drug": "oxycodone", "form": "tablet", "dose_unit": "tablet", "dosage_text": "1 bd"},
        {"dmd_code": "36120011000001101", "dosage_text": "1 bd", "id": "a", "replaces": "a"},
        {"dmd_code": "36120011000001101", "dosage_text": "1 bd", "nhs_number": "9434765919"},
    ],
)
def test_records_build_as_validated(data: dict[str, Any]) -> None:
    _same(data)


# dm+d codes near the pattern's edges: digits of other scripts, a final newline (which "$"
# alone would pass), lengths 5, 6, 20 and 21
codes = st.one_of(
    texts,
    st.sampled_from(
        ["\u0661\u0662\u0663\u0664\u0665\u0666", "123456\n", "123456", "1" * 20, "1" * 21]
    ),
)


@settings(max_examples=400)
@given(st.fixed_dictionaries({"dmd_code": codes, "dosage_text": texts}))
def test_a_code_and_a_text_build_as_validated(data: dict[str, Any]) -> None:
    """The commonest prescription (issue 20: built without pydantic or the model's checks)."""
    _same(data)
