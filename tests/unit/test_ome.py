"""The calculator's rules (CLINICAL.md section 2), each with a hand-worked expectation."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from opioidcds.errors import InvalidInputError
from opioidcds.models import ItemStatus, Prescription, PrnPolicy
from opioidcds.ome import calculate_ome, format_decimal


def rx(**fields: Any) -> Prescription:
    return Prescription(**fields)


CO_CODAMOL = rx(
    drug="co-codamol",
    form="tablet",
    strength="30 mg/500 mg",
    dose_quantity=2,
    dose_unit="tablet",
    doses_per_day=4,
)


# --- the named examples -----------------------------------------------------------
def test_co_codamol_uk_and_cdc() -> None:
    # codeine 30 mg x 2 tablets x 4/day = 240 mg/day; UK x 0.1 = 24, CDC x 0.15 = 36
    assert calculate_ome([CO_CODAMOL]).total_mg_per_day == 24
    assert calculate_ome([CO_CODAMOL], table="cdc-2022").total_mg_per_day == 36


def test_combination_contributes_its_opioid_only() -> None:
    (item,) = calculate_ome([CO_CODAMOL]).items
    assert item.ingredient == "codeine"
    assert item.daily_amount == 240  # paracetamol's 4,000 mg/day is not counted
    assert item.arithmetic == "codeine 30 mg x 2 tablet x 4/day = 240 mg/day x 0.1 = 24 mg OME/day"


@pytest.mark.parametrize(
    ("strength", "interval", "expected"),
    [
        ("25 microgram/hour", 72, "60"),  # 25 x 2.4 = 60
        ("12 microgram/hour", 72, "28.8"),  # 12 x 2.4 = 28.8 (OA prints a rounded 30)
        ("25 microgram/hour", 48, "60"),  # change interval does not matter
    ],
)
def test_fentanyl_patch_from_rate(strength: str, interval: int, expected: str) -> None:
    p = rx(
        drug="fentanyl",
        form="transdermal patch",
        strength=strength,
        dose_quantity=1,
        dose_unit="patch",
        interval_hours=interval,
    )
    assert calculate_ome([p]).total_mg_per_day == Decimal(expected)


def test_two_patches_double() -> None:
    # 2 x 25 microgram/hour = 50 microgram/hour x 2.4 = 120
    p = rx(
        drug="fentanyl",
        form="transdermal patch",
        strength="25 microgram/hour",
        dose_quantity=2,
        dose_unit="patch",
        interval_hours=72,
    )
    assert calculate_ome([p]).total_mg_per_day == 120


def test_buprenorphine_weekly_patch_uk_12_cdc_not_convertible() -> None:
    p = rx(
        drug="buprenorphine",
        form="transdermal patch",
        strength="5 microgram/hour",
        dose_quantity=1,
        dose_unit="patch",
        interval_hours=168,
    )
    assert calculate_ome([p]).total_mg_per_day == 12  # 5 x 2.4
    cdc = calculate_ome([p], table="cdc-2022")
    assert not cdc.complete
    assert cdc.items[0].status is ItemStatus.NOT_CONVERTIBLE


def test_morphine_liquid_dose_in_ml() -> None:
    # 10 mg/5 mL = 2 mg/mL; 5 mL = 10 mg; x 4/day = 40 mg/day x 1 = 40
    p = rx(
        drug="morphine",
        form="oral solution",
        strength="10 mg/5 mL",
        dose_quantity=5,
        dose_unit="mL",
        doses_per_day=4,
    )
    assert calculate_ome([p]).total_mg_per_day == 40


def test_morphine_liquid_dose_in_mg() -> None:
    # 10 mg (whatever the volume) x 4/day = 40 mg/day
    p = rx(
        drug="morphine",
        form="oral solution",
        strength="10 mg/5 mL",
        dose_quantity=10,
        dose_unit="mg",
        doses_per_day=4,
    )
    assert calculate_ome([p]).total_mg_per_day == 40


def test_oxycodone_40_mr_twice_daily_is_120() -> None:
    p = rx(
        drug="oxycodone",
        form="modified-release tablet",
        strength="40 mg",
        dose_quantity=1,
        dose_unit="tablet",
        doses_per_day=2,
    )
    result = calculate_ome([p])
    assert result.total_mg_per_day == 120  # 40 x 2 = 80 mg x 1.5
    assert result.items[0].arithmetic == (
        "oxycodone 40 mg x 1 tablet x 2/day = 80 mg/day x 1.5 = 120 mg OME/day"
    )


def test_mg_dose_overrides_strength() -> None:
    # 10 mg of a 60 mg MR product twice daily: 20 mg/day x 1.5 = 30 (not 60 x 2 x 1.5 = 180)
    p = rx(
        drug="oxycodone",
        form="modified-release tablet",
        strength="60 mg",
        dose_quantity=10,
        dose_unit="mg",
        doses_per_day=2,
    )
    result = calculate_ome([p])
    assert result.total_mg_per_day == 30
    assert "overrides" in result.items[0].arithmetic


def test_microgram_dose_overrides_strength() -> None:
    # 200 microgram = 0.2 mg x 3/day = 0.6 mg x 60 (buprenorphine sublingual, UK) = 36
    p = rx(
        drug="buprenorphine",
        form="sublingual tablet",
        strength="400 microgram",
        dose_quantity=200,
        dose_unit="microgram",
        doses_per_day=3,
    )
    assert calculate_ome([p]).total_mg_per_day == 36


# --- PRN and ranges ----------------------------------------------------------------------------
PRN = rx(
    drug="morphine",
    form="oral solution",
    strength="10 mg/5 mL",
    dose_quantity="2.5",
    dose_quantity_max=5,
    dose_unit="mL",
    interval_hours=2,
    interval_hours_max=4,
    prn=True,
    max_doses_per_day=6,
)
REGULAR = rx(
    drug="morphine",
    form="modified-release tablet",
    strength="30 mg",
    dose_quantity=1,
    dose_unit="tablet",
    doses_per_day=2,
)


def test_prn_maximum_policy_is_default() -> None:
    # max dose 5 mL, every 2 h = 12/day, capped at 6 doses/day: 30 mL x 2 mg/mL = 60 mg
    # plus regular 30 mg x 2 = 60: total 120
    result = calculate_ome([PRN, REGULAR])
    assert result.prn_policy is PrnPolicy.MAXIMUM
    assert result.items[0].ome_mg_per_day == 60
    assert result.total_mg_per_day == 120
    assert "PRN" in (result.items[0].policy_note or "")


def test_prn_excluded_under_regular_only_and_minimum() -> None:
    for policy in (PrnPolicy.REGULAR_ONLY, PrnPolicy.MINIMUM):
        result = calculate_ome([PRN, REGULAR], prn_policy=policy)
        assert result.items[0].status is ItemStatus.EXCLUDED
        assert policy.value in (result.items[0].reason or "")
        assert result.total_mg_per_day == 60
        assert result.complete  # excluded by a stated policy is not a gap


def test_regular_range_minimum_and_maximum() -> None:
    # 1-2 tablets of 10 mg every 4-6 hours, regular:
    # maximum: 2 x 10 x 24/4 = 120 mg; minimum: 1 x 10 x 24/6 = 40 mg
    p = rx(
        drug="morphine",
        form="tablet",
        strength="10 mg",
        dose_quantity=1,
        dose_quantity_max=2,
        dose_unit="tablet",
        interval_hours=4,
        interval_hours_max=6,
    )
    assert calculate_ome([p]).total_mg_per_day == 120
    assert calculate_ome([p], prn_policy="regular-only").total_mg_per_day == 120
    assert calculate_ome([p], prn_policy="minimum").total_mg_per_day == 40


def test_prn_with_only_a_daily_maximum() -> None:
    # "1-2 tablets when required, max 8 in 24 hours": 8 tablets x 30 mg codeine = 240 x 0.1 = 24
    p = rx(
        drug="codeine",
        form="tablet",
        strength="30 mg",
        dose_quantity=1,
        dose_quantity_max=2,
        dose_unit="tablet",
        prn=True,
        max_quantity_per_day=8,
    )
    assert calculate_ome([p]).total_mg_per_day == 24


def test_prn_without_any_maximum_is_not_convertible() -> None:
    p = rx(
        drug="codeine",
        form="tablet",
        strength="30 mg",
        dose_quantity=1,
        dose_unit="tablet",
        prn=True,
    )
    result = calculate_ome([p])
    assert result.items[0].status is ItemStatus.NOT_CONVERTIBLE
    assert "maximum" in (result.items[0].reason or "")
    assert not result.complete


# --- incomplete results ------------------------------------------------------------------------
def test_methadone_uk_makes_total_a_lower_bound() -> None:
    methadone = rx(
        drug="methadone",
        form="oral solution",
        strength="1 mg/mL",
        dose_quantity=30,
        dose_unit="mL",
        doses_per_day=1,
    )
    result = calculate_ome([REGULAR, methadone])
    assert not result.complete
    assert result.is_lower_bound
    assert result.total_mg_per_day == 60  # the morphine only, flagged as a lower bound
    assert result.items[1].daily_amount == 30  # its daily amount is still shown


def test_unknown_drug_is_not_convertible_not_zero() -> None:
    p = rx(
        drug="unobtainium",
        form="tablet",
        strength="10 mg",
        dose_quantity=1,
        dose_unit="tablet",
        doses_per_day=1,
    )
    result = calculate_ome([p])
    assert result.items[0].status is ItemStatus.NOT_CONVERTIBLE
    assert "not recognised" in (result.items[0].reason or "")
    assert not result.complete


def test_no_factor_for_route_is_not_convertible() -> None:
    # oxycodone injection has a UK row but no CDC 2022 row
    p = rx(
        drug="oxycodone",
        form="injection",
        strength="10 mg/mL",
        dose_quantity=1,
        dose_unit="mL",
        doses_per_day=1,
    )
    result = calculate_ome([p], table="cdc-2022")
    assert "no factor for oxycodone (injection)" in (result.items[0].reason or "")


def test_non_opioid_is_said_not_hidden() -> None:
    p = rx(
        drug="paracetamol",
        form="tablet",
        strength="500 mg",
        dose_quantity=2,
        dose_unit="tablet",
        doses_per_day=4,
    )
    result = calculate_ome([p])
    assert result.items[0].status is ItemStatus.NOT_OPIOID
    assert result.complete


def test_empty_list_is_zero_and_complete() -> None:
    result = calculate_ome([])
    assert result.total_mg_per_day == 0
    assert result.complete
    assert result.items == ()


# --- exactness ---------------------------------------------------------------------------------
def test_decimal_exactness() -> None:
    # 0.1 factor x 3 mg/day must be 0.3 exactly (binary floats give 0.30000000000000004)
    p = rx(
        drug="codeine",
        form="tablet",
        strength="1 mg",
        dose_quantity=1,
        dose_unit="tablet",
        doses_per_day=3,
    )
    assert calculate_ome([p]).total_mg_per_day == Decimal("0.3")


def test_threshold_exact_after_division() -> None:
    # 35 mg every 7 hours = 35 x 24/7 = 120 mg/day exactly (division done last)
    p = rx(
        drug="morphine",
        form="tablet",
        strength="35 mg",
        dose_quantity=1,
        dose_unit="tablet",
        interval_hours=7,
    )
    result = calculate_ome([p])
    assert result.total_mg_per_day == 120
    assert result.exact


def test_non_terminating_division_is_flagged() -> None:
    # 10 mg every 7 hours = 240/7 mg/day, which has no finite decimal expansion
    p = rx(
        drug="morphine",
        form="tablet",
        strength="10 mg",
        dose_quantity=1,
        dose_unit="tablet",
        interval_hours=7,
    )
    result = calculate_ome([p])
    assert not result.exact
    assert abs(result.total_mg_per_day * 7 - 240) < Decimal("1e-100")
    assert "~34.29" in result.items[0].arithmetic


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("120", "120"),
        ("120.0", "120"),
        ("28.80", "28.8"),
        ("0.3", "0.3"),
        ("1E+3", "1000"),
        ("30.954", "~30.95"),
    ],
)
def test_format_decimal(value: str, text: str) -> None:
    assert format_decimal(Decimal(value)) == text


# --- result basis ------------------------------------------------------------------------------
def test_result_names_table_policy_and_versions() -> None:
    result = calculate_ome([REGULAR])
    assert result.table_id == "uk-opioids-aware"
    assert result.table_version == "1.0.0"
    assert result.table_effective_date == "2024-08-01"
    item = result.items[0]
    assert item.factor == 1
    assert item.factor_source is not None
    assert "OA" in item.factor_source


def test_json_has_decimals_as_strings() -> None:
    text = calculate_ome([CO_CODAMOL]).model_dump_json()
    assert '"total_mg_per_day":"24.0"' in text.replace(" ", "")


# --- input errors inside the calculation --------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        (
            {
                "drug": "co-codamol",
                "form": "tablet",
                "strength": "30 mg/500 mg",
                "dose_quantity": 30,
                "dose_unit": "mg",
                "doses_per_day": 4,
            },
            "prescriptions[0].dose_unit",
        ),
        (
            {
                "drug": "oxycodone",
                "form": "tablet",
                "strength": "10 mg",
                "dose_quantity": 5,
                "dose_unit": "mL",
                "doses_per_day": 4,
            },
            "prescriptions[0].dose_unit",
        ),
        (
            {
                "drug": "oxycodone",
                "form": "tablet",
                "dose_quantity": 1,
                "dose_unit": "tablet",
                "doses_per_day": 4,
            },
            "prescriptions[0].strength",
        ),
        (
            {
                "drug": "oxycodone",
                "form": "tablet",
                "strength": "10 mg",
                "dose_quantity": 1,
                "dose_unit": "tablet",
            },
            "prescriptions[0].doses_per_day",
        ),
        (
            {
                "drug": "fentanyl",
                "form": "transdermal patch",
                "strength": "25 mg",
                "dose_quantity": 1,
                "dose_unit": "patch",
            },
            "prescriptions[0].strength",
        ),
        (
            {
                "drug": "oxycodone",
                "form": "tablet",
                "strength": "10 mg",
                "dose_quantity": 1,
                "dose_unit": "patch",
                "doses_per_day": 1,
            },
            "prescriptions[0].dose_unit",
        ),
        (
            {
                "drug": "oxycodone",
                "form": "tablet",
                "route": "rectal",
                "strength": "10 mg",
                "dose_quantity": 1,
                "dose_unit": "tablet",
                "doses_per_day": 1,
            },
            "prescriptions[0].route",
        ),
        (
            {
                "drug": "codeine",
                "form": "tablet",
                "strength": "30 mg/500 mg",
                "dose_quantity": 1,
                "dose_unit": "tablet",
                "doses_per_day": 1,
            },
            "prescriptions[0].strength",
        ),
    ],
)
def test_contradictory_or_incomplete_input(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        calculate_ome([Prescription(**fields)])
    assert info.value.field == field


def test_implausible_daily_amount() -> None:
    # 600 mg x 10/day = 6 g/day of one opioid: above the 5 g plausibility limit
    p = rx(
        drug="morphine",
        form="tablet",
        strength="600 mg",
        dose_quantity=1,
        dose_unit="tablet",
        doses_per_day=10,
    )
    with pytest.raises(InvalidInputError, match="implausible"):
        calculate_ome([p])


def test_implausible_sum_over_prescriptions_of_one_ingredient() -> None:
    # 3 x (200 mg x 10/day = 2 g/day) = 6 g/day of morphine in total
    p = rx(
        drug="morphine",
        form="tablet",
        strength="200 mg",
        dose_quantity=1,
        dose_unit="tablet",
        doses_per_day=10,
    )
    calculate_ome([p, p])  # 4 g/day: plausible
    with pytest.raises(InvalidInputError, match="implausible"):
        calculate_ome([p, p, p])


def test_implausible_patch_rate() -> None:
    p = rx(
        drug="fentanyl",
        form="transdermal patch",
        strength="1200 microgram/hour",
        dose_quantity=1,
        dose_unit="patch",
    )
    with pytest.raises(InvalidInputError, match="patch rate"):
        calculate_ome([p])


def test_bad_policy_and_bad_items() -> None:
    with pytest.raises(InvalidInputError):
        calculate_ome([REGULAR], prn_policy="most")
    with pytest.raises(InvalidInputError):
        calculate_ome([{"drug": "morphine"}])  # type: ignore[list-item]
