"""Bad input (issue 2): every class of error is typed, names the field, and never echoes a value."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opioidcds import (
    InvalidInputError,
    KnowledgeBaseError,
    OpioidCDSError,
    Prescription,
    UnknownDrugError,
    UnknownProductError,
    calculate_ome,
)
from opioidcds._knowledge.vocabulary import default_vocabulary

BASE: dict[str, Any] = {
    "drug": "oxycodone",
    "form": "tablet",
    "strength": "10 mg",
    "dose_quantity": 1,
    "dose_unit": "tablet",
    "doses_per_day": 2,
}


def test_hierarchy() -> None:
    assert issubclass(InvalidInputError, ValueError)
    assert issubclass(InvalidInputError, OpioidCDSError)
    assert issubclass(UnknownDrugError, LookupError)
    assert issubclass(UnknownDrugError, OpioidCDSError)
    assert issubclass(UnknownProductError, LookupError)
    assert issubclass(KnowledgeBaseError, OpioidCDSError)


@pytest.mark.parametrize(
    "strength",
    [
        "10 MG",
        "10 Mg",
        "nan mg",
        "NaN mg",
        "-5 mg",
        "1e400 mg",
        "5 gr",
        "10 kg",
        "10 megagram",
        "inf mg",
        "0 mg",
        "10",
        "mg",
        "10 mg/0 mL",
        "10 mg/5 L",
    ],
)
def test_bad_strengths(strength: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        Prescription(**{**BASE, "strength": strength})
    assert info.value.field == "strength"
    assert strength not in str(info.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("dose_quantity", float("nan")),
        ("dose_quantity", float("inf")),
        ("dose_quantity", -5),
        ("dose_quantity", 0),
        ("dose_quantity", "1e400"),
        ("doses_per_day", 0),
        ("doses_per_day", -2),
        ("interval_hours", float("nan")),
        ("dose_unit", "MG"),
        ("dose_unit", "furlong"),
        ("dose_quantity", None),
        ("dose_unit", None),
    ],
)
def test_bad_numbers_and_units(field: str, value: Any) -> None:
    with pytest.raises(InvalidInputError) as info:
        Prescription(**{**BASE, field: value})
    assert field in str(info.value)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"drug": None}, "drug"),
        ({"form": None}, "form"),
        ({"interval_hours": 4}, "doses_per_day"),  # both frequency forms
        ({"dose_quantity_max": "0.5"}, "dose_quantity_max"),  # range upside down
        ({"doses_per_day_max": 1}, "doses_per_day_max"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_missing_or_contradictory(change: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        Prescription(**{**BASE, **change})
    assert field in str(info.value)


def test_unknown_drug() -> None:
    with pytest.raises(UnknownDrugError):
        default_vocabulary().resolve_drug("oxycodne")
    # in a calculation an unknown drug is an explicit not-convertible item (test_ome.py)


def test_unknown_table_id() -> None:
    with pytest.raises(KnowledgeBaseError):
        calculate_ome([Prescription(**BASE)], table="us-2016", item_errors="raise")


def test_model_validate_and_json_raise_typed_errors() -> None:
    with pytest.raises(InvalidInputError):
        Prescription.model_validate({**BASE, "strength": "10 MG"})
    with pytest.raises(InvalidInputError):
        Prescription.model_validate_json('{"drug": "oxycodone", "dose_quantity": "x"}')
    with pytest.raises(InvalidInputError):
        Prescription.model_validate("not a mapping")


# Sentinel values that would be recognisable if echoed. No error message may contain them.
_SENTINELS = st.from_regex(r"[A-Z][a-z]{3}zz[0-9]{5}", fullmatch=True)


@given(
    _SENTINELS,
    st.sampled_from(
        [
            "drug",
            "form",
            "strength",
            "dose_unit",
            "route",
            "product_name",
            "dmd_code",
            "dosage_text",
        ]
    ),
)
def test_no_input_value_in_any_error_message(sentinel: str, field: str) -> None:
    fields = {**BASE, field: sentinel}
    try:
        calculate_ome([Prescription(**fields)])
    except OpioidCDSError as exc:
        assert sentinel not in str(exc)
        assert sentinel not in repr(exc)
    # no error is fine too (e.g. an unknown drug name is a not-convertible item, not an error)


@given(
    _SENTINELS
    | st.floats(min_value=1e11, allow_infinity=True)  # more than 10 whole digits
    | st.floats(max_value=-10_000, allow_infinity=True)
    | st.integers(min_value=10**22)
)
def test_numeric_fields_reject_without_echo(value: object) -> None:
    # values that are invalid for dose_quantity and recognisable if echoed
    with pytest.raises(InvalidInputError) as info:
        Prescription(**{**BASE, "dose_quantity": value})
    assert str(value) not in str(info.value)
    assert repr(value) not in str(info.value)
