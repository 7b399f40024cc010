"""Fuzzing the input boundary: only ``OpioidCDSError`` subclasses may escape (HAZ-012, HAZ-003).

Random JSON-like values and near-valid prescription objects go into the models, the CLI's
JSON reader and the calculator; random text goes into the unit and strength parsers. Anything
but a typed error (a ``TypeError``, ``KeyError``, ``decimal.InvalidOperation``...) fails the
test: an integrating system could read a crash as "nothing to report".

``FUZZ_EXAMPLES`` sets examples per test (default 60, derandomised under the ``ci`` profile);
``make fuzz-long`` runs many more with fresh randomness.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opioidcds import InvalidInputError, OpioidCDSError, Prescription, PrnPolicy, calculate_ome
from opioidcds._knowledge.units import (
    canonical_factor,
    parse_amount,
    parse_decimal,
    parse_strength,
    unit_dimension,
)
from opioidcds.cli.ome_cmd import parse_prescriptions
from opioidcds.testing import (
    check_only_typed_errors,
    json_values,
    prescription_dicts,
    prescription_lists,
)

fuzz = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

_UNITISH = st.sampled_from(
    [
        "mg",
        "MG",
        "Mg",
        "mG",
        "g",
        "gr",
        "grain",
        "mcg",
        "ug",
        "\u00b5g",
        "\u03bcg",
        "microgram",
        "mL",
        "ml",
        "L",
        "kg",
        "hour",
        "h",
        "dose",
        "tablet",
        "%",
        "mg/mL",
        "microgram/hour",
        "per",
        "/",
        " ",
        "\u00a0",
        "e",
        "E5",
        "-",
        ".",
    ]
)
unitish_text = st.lists(
    st.one_of(
        _UNITISH, st.from_regex(r"-?[0-9]{0,12}(\.[0-9]{0,12})?(e-?[0-9]{1,3})?", fullmatch=True)
    ),
    max_size=8,
).map(" ".join) | st.text(max_size=40)


def _as_json_object(value: Any) -> Any:
    """What the CLI's reader would give for ``value`` (floats as strings, as it reads them)."""
    try:
        text = json.dumps(value, default=str)
    except (ValueError, RecursionError):
        return None
    return json.loads(text, parse_float=str)


@fuzz
@given(json_values() | prescription_dicts())
def test_model_validate_only_typed_errors(data: Any) -> None:
    check_only_typed_errors(Prescription.model_validate, data)
    check_only_typed_errors(Prescription.model_validate, _as_json_object(data))
    try:
        text = json.dumps(data, default=str)
    except ValueError:
        return
    check_only_typed_errors(Prescription.model_validate_json, text)


_documents = (
    json_values()
    | st.lists(prescription_dicts(), max_size=4)
    | st.fixed_dictionaries(
        {"prescriptions": st.lists(prescription_dicts(), max_size=4)},
        optional={"description": json_values(max_leaves=2), "extra": st.integers()},
    )
)


@fuzz
@given(_documents)
def test_parse_prescriptions_only_typed_errors(document: Any) -> None:
    check_only_typed_errors(parse_prescriptions, document)
    check_only_typed_errors(parse_prescriptions, _as_json_object(document))


@fuzz
@given(
    st.lists(prescription_dicts(), max_size=4),
    st.sampled_from(["uk-opioids-aware", "cdc-2022", "us-2016", ""]),
    st.sampled_from([*PrnPolicy, "max", "", "MAXIMUM"]),
)
def test_calculate_ome_only_typed_errors(
    dicts: list[dict[str, Any]], table: str, policy: str
) -> None:
    rxs = check_only_typed_errors(parse_prescriptions, dicts)
    if rxs is None:
        return
    check_only_typed_errors(calculate_ome, rxs, table=table, prn_policy=policy)


@fuzz
@given(prescription_lists(max_size=6), st.sampled_from(list(PrnPolicy)))
def test_every_prescription_is_accounted_for(rxs: list[Prescription], policy: PrnPolicy) -> None:
    """HAZ-008: no prescription silently disappears between input and result."""
    result = calculate_ome(rxs, prn_policy=policy)
    assert {item.prescription_index for item in result.items} == set(range(len(rxs)))
    for item in result.items:
        assert (item.ome_mg_per_day is not None) or item.reason


@fuzz
@given(unitish_text)
def test_unit_parsers_only_typed_errors(text: str) -> None:
    strength = check_only_typed_errors(parse_strength, text)
    if strength is not None:
        assert strength.amounts
        assert all(a.is_finite() and a > 0 for a in strength.amounts)
    amount = check_only_typed_errors(parse_amount, text)
    if amount is not None:
        assert amount.value.is_finite()
        assert amount.value >= 0
    number = check_only_typed_errors(parse_decimal, text, "field")
    if number is not None:
        assert number.is_finite()
        assert number >= 0
    for function in (unit_dimension, canonical_factor):
        check_only_typed_errors(function, text)


def _case_variants(word: str) -> set[str]:
    variants = {""}
    for ch in word:
        variants = {v + c for v in variants for c in {ch.lower(), ch.upper()}}
    return variants


@fuzz
@given(
    st.sampled_from(sorted(_case_variants("mg") - {"mg"} | {"gr", "grain", "grains", "GR"})),
    st.decimals(min_value=Decimal("0.1"), max_value=Decimal(1000), places=1),
    st.sampled_from(["", "/5 mL", "/hour", "/500 mg"]),
)
def test_case_variants_of_mg_never_parse_as_other_units(
    unit: str, value: Decimal, tail: str
) -> None:
    """HAZ-003: 'MG', 'Mg', 'mG' and grain spellings are never read as any unit."""
    text = f"{value} {unit}{tail}"
    assert check_only_typed_errors(parse_strength, text) is None
    assert check_only_typed_errors(parse_amount, f"{value} {unit}") is None
    try:
        Prescription(
            drug="morphine",
            form="tablet",
            strength=f"{value} mg",
            dose_quantity=value,
            dose_unit=unit,
            doses_per_day=1,
        )
    except InvalidInputError as exc:
        assert exc.field == "dose_unit"
    else:
        raise AssertionError("a case variant of mg was accepted as a dose unit")


def test_typed_error_helper_lets_other_errors_through() -> None:
    def boom() -> None:
        raise KeyError("x")

    try:
        check_only_typed_errors(boom)
    except KeyError:
        pass
    else:
        raise AssertionError("check_only_typed_errors swallowed a KeyError")
    assert check_only_typed_errors(parse_strength, "10 MG") is None
    assert isinstance(OpioidCDSError(), Exception)
