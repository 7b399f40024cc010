"""Bad input to the patient model and the assess/check commands: typed errors, never echoed."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from opioidcds import InvalidInputError, OpioidCDSError, assess
from opioidcds.cli.assess_cmd import parse_check, parse_patient

IDENTIFIER = "Zq7-NHS-9434765919"  # looks like a patient identifier; must never be echoed
FIELDS = [
    "age",
    "sex",
    "depression",
    "unemployed",
    "cancer_pain",
    "prescriptions",
    "prescription_history",
    "as_of",
    "last_ae_attendance",
    "readiness_to_change",
    "benzodiazepine_coprescribed",
    "new_prescription",
    "nhs_number",
]
values: st.SearchStrategy[Any] = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-10, 10_000),
        st.just(IDENTIFIER),
        st.text(max_size=5),
        st.sampled_from(["male", "2026-01-01", "oxycodone", "1e400", "NaN"]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(FIELDS), inner, max_size=4)
    ),
    max_leaves=10,
)


@given(st.dictionaries(st.sampled_from(FIELDS), values, max_size=6))
def test_patient_input_is_valid_or_a_typed_error_without_echo(data: dict[str, Any]) -> None:
    try:
        patient = parse_patient(data)
    except InvalidInputError as exc:
        assert IDENTIFIER not in str(exc)
        return
    try:
        assess(patient)
    except OpioidCDSError as exc:
        assert IDENTIFIER not in str(exc)


@given(st.dictionaries(st.sampled_from(FIELDS), values, max_size=6))
def test_check_input_is_valid_or_a_typed_error_without_echo(data: dict[str, Any]) -> None:
    try:
        parse_check(data)
    except InvalidInputError as exc:
        assert IDENTIFIER not in str(exc)


def test_secret_in_a_prescription_is_not_echoed() -> None:
    data = json.loads(
        '{"age": 50, "prescriptions": [{"drug": "oxycodone", "form": "tablet",'
        ' "strength": "Zq7-NHS-9434765919", "dose_quantity": 1, "dose_unit": "tablet",'
        ' "doses_per_day": 2}]}'
    )
    try:
        parse_patient(data)
    except InvalidInputError as exc:
        assert IDENTIFIER not in str(exc)
        assert "prescriptions" in str(exc)
    else:  # pragma: no cover - the strength is not a strength
        raise AssertionError("expected an InvalidInputError")
