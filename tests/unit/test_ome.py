"""The calculator's rules (docs/calculation.md), each with a hand-worked expectation."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from opioidcds import InvalidInputError, ItemStatus, Prescription, PrnPolicy, calculate_ome
from opioidcds._display import format_decimal


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
        ("12 microgram/hour", 72, "28.8"),  # 12 x 2.4 = 28.8: no product, so the labelled rate
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
    assert result.table_version == "1.1.1"
    assert result.table_effective_date == "2026-12-04"
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
        calculate_ome([Prescription(**fields)], item_errors="raise")
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
        calculate_ome([p], item_errors="raise")


def test_bad_policy_and_bad_items() -> None:
    with pytest.raises(InvalidInputError):
        calculate_ome([REGULAR], prn_policy="most", item_errors="raise")
    with pytest.raises(InvalidInputError):
        calculate_ome([{"drug": "morphine"}], item_errors="raise")  # type: ignore[list-item]


# --- killing tests for surviving mutants (docs/safety/mutation.md) ------------------------------
# The arithmetic string is the clinician's check of the number: each kind of item has its
# wording pinned, worked by hand.


def test_arithmetic_text_of_each_kind_of_item() -> None:
    cases = [
        (
            # 25 microgram/hour x 2 patches = 50 microgram/hour; x 2.4 = 120 mg/day
            rx(
                drug="fentanyl",
                form="transdermal patch",
                strength="25 microgram/hour",
                dose_quantity=2,
                dose_unit="patch",
                interval_hours=72,
            ),
            "fentanyl 25 microgram/hour x 2 patch = 50 microgram/hour x 2.4 = 120 mg OME/day"
            " (patch change interval does not change OME)",
            "microgram/hour",
        ),
        (
            # 10 mg/5 mL = 2 mg/mL; up to 5 mL every 4 h = 6 doses: 2 x 5 x 6 = 60 mg/day x 1
            rx(
                drug="morphine",
                form="oral solution",
                strength="10 mg/5 mL",
                dose_quantity="2.5",
                dose_quantity_max=5,
                dose_unit="mL",
                interval_hours=4,
            ),
            "morphine 10 mg/5 mL x 5 mL x (24 h / 4 h) = 60 mg/day x 1 = 60 mg OME/day"
            " (range counted at its upper end)",
            "mg",
        ),
        (
            # 10 mg (overrides the 60 mg tablet) x 2/day = 20 mg/day x 1.5 = 30
            rx(
                drug="oxycodone",
                form="modified-release tablet",
                strength="60 mg",
                dose_quantity=10,
                dose_unit="mg",
                doses_per_day=2,
            ),
            "oxycodone 10 mg x 2/day (a dose in mg overrides the 60 mg strength)"
            " = 20 mg/day x 1.5 = 30 mg OME/day",
            "mg",
        ),
    ]
    for prescription, arithmetic, per in cases:
        item = calculate_ome([prescription]).items[0]
        assert item.arithmetic == arithmetic
        assert item.factor_per == per
        assert item.factor_source in {"OA, BNF, OP", "OA, OP, SmPC-12"}  # the row's citation ids
    cdc = calculate_ome([cases[0][0]], table="cdc-2022").items[0]
    assert cdc.factor_source == "CDC2022, CQF"


def test_not_convertible_item_keeps_its_daily_amount_basis() -> None:
    # methadone 1 mg/mL x 10 mL x up to 2/day = 20 mg/day; no UK factor
    methadone = rx(
        drug="methadone",
        form="oral solution",
        strength="1 mg/mL",
        dose_quantity=10,
        dose_unit="mL",
        doses_per_day=1,
        doses_per_day_max=2,
    )
    item = calculate_ome([methadone]).items[0]
    assert item.status is ItemStatus.NOT_CONVERTIBLE
    assert item.daily_amount == Decimal(20)
    assert item.daily_amount_unit == "mg/day"
    assert item.policy_note == "range counted at its upper end"
    assert item.arithmetic.startswith("methadone 1 mg/mL x 10 mL x 2/day = 20 mg/day; not conv")
    # every 7 hours: 10 mg x 24 / 7 = 34.28571... does not terminate: flagged inexact
    fields = methadone.model_dump(exclude_none=True, exclude={"doses_per_day", "doses_per_day_max"})
    seven = rx(**fields, interval_hours=7)
    item7 = calculate_ome([seven]).items[0]
    assert item7.exact is False
    assert calculate_ome([seven]).exact is True  # no converted item: the total (0) is exact


def test_patch_rate_at_the_plausible_maximum_is_accepted_above_it_rejected() -> None:
    # plausibility.toml: 1,000 microgram/hour; at the limit: 1000 x 2.4 = 2400 mg OME/day
    at_limit = rx(
        drug="fentanyl",
        form="transdermal patch",
        strength="1000 microgram/hour",
        dose_quantity=1,
        dose_unit="patch",
    )
    assert calculate_ome([at_limit]).total_mg_per_day == Decimal(2400)
    above = rx(**{**at_limit.model_dump(exclude_none=True), "strength": "1001 microgram/hour"})
    with pytest.raises(InvalidInputError) as info:
        calculate_ome([above], item_errors="raise")
    assert info.value.field == "prescriptions[0].strength"
    assert info.value.rule == "patch rate above the plausible maximum"


def test_custom_table_with_a_factor_per_gram(tmp_path: Any) -> None:
    """A local table may state a factor per g (or per microgram): the multiplier path."""
    from opioidcds import load_table  # noqa: PLC0415 - appended test
    from opioidcds._knowledge.paths import knowledge_dir  # noqa: PLC0415 - appended test

    text = (knowledge_dir("conversion_tables") / "uk-opioids-aware.toml").read_text("utf-8")
    start = text.index('ingredient = "oxycodone"\nroute = "oral"')
    end = text.index("[[factors]]", start)
    row = text[start:end]
    assert 'factor = "1.5"\nper = "mg"' in row
    row = row.replace('factor = "1.5"\nper = "mg"', 'factor = "1500"\nper = "g"')
    path = tmp_path / "per-gram.toml"
    path.write_text(text[:start] + row + text[end:], "utf-8")
    table = load_table(path)
    # oxycodone 40 mg x 2/day = 80 mg/day = 0.08 g/day; x 1500 per g = 120 mg OME/day
    oxy = rx(
        drug="oxycodone",
        form="modified-release tablet",
        strength="40 mg",
        dose_quantity=1,
        dose_unit="tablet",
        doses_per_day=2,
    )
    item = calculate_ome([oxy], table=table).items[0]
    assert item.ome_mg_per_day == Decimal(120)
    assert item.factor == Decimal(1500)
    assert item.factor_per == "g"
    assert item.arithmetic == (
        "oxycodone 40 mg x 1 tablet x 2/day = 80 mg/day = 0.08 g/day x 1500 = 120 mg OME/day"
    )


def test_regular_range_of_doses_per_day() -> None:
    # oxycodone 10 mg, 1 tablet 2-3 times a day: maximum 3 x 10 = 30 mg x 1.5 = 45;
    # minimum 2 x 10 = 20 mg x 1.5 = 30
    p = rx(
        drug="oxycodone",
        form="tablet",
        strength="10 mg",
        dose_quantity=1,
        dose_unit="tablet",
        doses_per_day=2,
        doses_per_day_max=3,
    )
    assert calculate_ome([p]).total_mg_per_day == 45
    assert calculate_ome([p], prn_policy=PrnPolicy.MINIMUM).total_mg_per_day == 30
    assert calculate_ome([p]).items[0].arithmetic == (
        "oxycodone 10 mg x 1 tablet x 3/day = 30 mg/day x 1.5 = 45 mg OME/day"
        " (range counted at its upper end)"
    )


def test_prn_cap_applies_only_when_it_binds() -> None:
    base: dict[str, Any] = {
        "drug": "morphine",
        "form": "tablet",
        "strength": "10 mg",
        "dose_unit": "tablet",
        "prn": True,
    }
    # every 8 h = 3 doses/day; cap 4/day does not bind: 2 x 10 x 3 = 60 mg x 1 = 60
    loose = rx(**base, dose_quantity=2, interval_hours=8, max_doses_per_day=4)
    item = calculate_ome([loose]).items[0]
    assert item.ome_mg_per_day == 60
    assert item.policy_note == "PRN counted at its maximum permitted daily amount"
    # every 6 h = 4 doses/day = the cap exactly: not "capped"; 1 x 10 x 4 = 40
    equal = rx(**base, dose_quantity=1, interval_hours=6, max_doses_per_day=4)
    item = calculate_ome([equal]).items[0]
    assert item.ome_mg_per_day == 40
    assert item.policy_note == "PRN counted at its maximum permitted daily amount"
    # every 4 h = 6 doses/day, cap 4: 2 x 10 x 4 = 80
    tight = rx(**base, dose_quantity=2, interval_hours=4, max_doses_per_day=4)
    item = calculate_ome([tight]).items[0]
    assert item.ome_mg_per_day == 80
    assert item.policy_note == (
        "PRN counted at its maximum permitted daily amount; capped by the maximum doses per day"
    )
    assert item.arithmetic == (
        "morphine 10 mg x 2 tablet x (24 h / 4 h), capped at max 4 doses/day (8 tablet)"
        " = 80 mg/day x 1 = 80 mg OME/day (PRN counted at its maximum permitted daily amount;"
        " capped by the maximum doses per day)"
    )


def test_prn_reasons_and_daily_maximum_text() -> None:
    base: dict[str, Any] = {
        "drug": "morphine",
        "form": "tablet",
        "strength": "10 mg",
        "dose_quantity": 1,
        "dose_unit": "tablet",
        "prn": True,
    }
    unknown = calculate_ome([rx(**base)]).items[0]
    assert unknown.reason == "PRN with no frequency or maximum: the maximum daily amount is unknown"
    # at most 6 tablets a day: 6 x 10 = 60 mg x 1 = 60
    capped = calculate_ome([rx(**base, max_quantity_per_day=6)]).items[0]
    assert capped.arithmetic.startswith("morphine 10 mg x max 6 tablet/day = 60 mg/day")
    with pytest.raises(InvalidInputError) as info:
        calculate_ome([rx(**{**base, "prn": False})], item_errors="raise")
    assert info.value.rule == "doses_per_day, interval_hours or a daily maximum is required"


def test_items_without_arithmetic_are_exact() -> None:
    unknown = rx(
        drug="unknownol",
        form="tablet",
        strength="10 mg",
        dose_quantity=1,
        dose_unit="tablet",
        doses_per_day=1,
    )
    item = calculate_ome([unknown]).items[0]
    assert item.status is ItemStatus.NOT_CONVERTIBLE
    assert item.exact is True


def test_plural_count_nouns_fit_the_form() -> None:
    # 2 tablets x 2/day x 10 mg = 40 mg x 1.5 = 60; "capsules" likewise
    for form, noun in (("tablet", "tablets"), ("capsule", "capsules")):
        p = rx(
            drug="oxycodone",
            form=form,
            strength="10 mg",
            dose_quantity=2,
            dose_unit=noun,
            doses_per_day=2,
        )
        assert calculate_ome([p]).total_mg_per_day == 60


_TAB: dict[str, Any] = {"drug": "oxycodone", "form": "tablet", "doses_per_day": 1}


@pytest.mark.parametrize(
    ("fields", "field", "rule"),
    [
        (
            {**_TAB, "dose_quantity": 1, "dose_unit": "tablet"},
            "strength",
            "is required unless the dose is given as a mass",
        ),
        (
            {
                **_TAB,
                "drug": "codeine",
                "strength": "30 mg/500 mg",
                "dose_quantity": 1,
                "dose_unit": "tablet",
            },
            "strength",
            "a combination needs one mass per ingredient; a single ingredient needs one strength",
        ),
        (
            {
                **_TAB,
                "drug": "co-codamol",
                "strength": "30 mg/500 mg",
                "dose_quantity": 30,
                "dose_unit": "mg",
            },
            "dose_unit",
            "a dose in mg is ambiguous for a combination product: give the number of units",
        ),
        (
            {
                **_TAB,
                "drug": "fentanyl",
                "form": "transdermal patch",
                "strength": "25 mg",
                "dose_quantity": 1,
                "dose_unit": "patch",
            },
            "strength",
            "a patch has a strength per hour; other forms do not",
        ),
        (
            {**_TAB, "strength": "10 mg", "dose_quantity": 5, "dose_unit": "mL"},
            "dose_unit",
            "a dose in mL needs a strength per volume (mg/mL)",
        ),
        (
            {**_TAB, "strength": "10 mg", "dose_quantity": 1, "dose_unit": "patch"},
            "dose_unit",
            "does not fit the form",
        ),
    ],
)
def test_contradiction_rules_are_named(fields: dict[str, Any], field: str, rule: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        calculate_ome([rx(**fields)], item_errors="raise")
    assert info.value.field == f"prescriptions[0].{field}"
    assert info.value.rule == rule


def test_items_not_counted_name_their_ingredient() -> None:
    paracetamol = rx(
        drug="paracetamol",
        form="tablet",
        strength="500 mg",
        dose_quantity=2,
        dose_unit="tablet",
        doses_per_day=4,
    )
    item = calculate_ome([paracetamol]).items[0]
    assert item.ingredient == "paracetamol"
    assert item.reason == "no opioid ingredient: contributes no OME"
    assert item.arithmetic == "paracetamol: no opioid ingredient: contributes no OME"
    prn = rx(
        drug="morphine",
        form="tablet",
        strength="10 mg",
        dose_quantity=1,
        dose_unit="tablet",
        prn=True,
    )
    unknown = calculate_ome([prn]).items[0]
    assert unknown.ingredient == "morphine"
    excluded = calculate_ome([prn], prn_policy=PrnPolicy.MINIMUM).items[0]
    assert excluded.ingredient == "morphine"
    assert excluded.status is ItemStatus.EXCLUDED


def test_range_notes_name_the_end_and_caps_follow() -> None:
    # 1-2 tablets every 4-6 h, at most 8 tablets a day
    p = rx(
        drug="morphine",
        form="tablet",
        strength="10 mg",
        dose_quantity=1,
        dose_quantity_max=2,
        dose_unit="tablet",
        interval_hours=4,
        interval_hours_max=6,
        max_quantity_per_day=8,
    )
    # maximum: 2 x 24/4 = 12 tablets, capped at 8: 80 mg x 1 = 80
    high = calculate_ome([p]).items[0]
    assert high.ome_mg_per_day == 80
    assert (
        high.policy_note == "range counted at its upper end; capped by the maximum amount per day"
    )
    # minimum: 1 x 24/6 = 4 tablets (cap 8 does not bind): 40 mg
    low = calculate_ome([p], prn_policy=PrnPolicy.MINIMUM).items[0]
    assert low.ome_mg_per_day == 40
    assert low.policy_note == "range counted at its lower end"


def test_daily_amount_cap_applies_only_when_it_binds() -> None:
    base: dict[str, Any] = {
        "drug": "morphine",
        "form": "tablet",
        "strength": "10 mg",
        "dose_quantity": 1,
        "dose_unit": "tablet",
        "prn": True,
        "max_quantity_per_day": 4,
    }
    # every 8 h = 3 tablets/day, cap 4 does not bind: 30 mg
    assert calculate_ome([rx(**base, interval_hours=8)]).total_mg_per_day == 30
    # every 6 h = 4 tablets = the cap: 40 mg, not marked capped
    item = calculate_ome([rx(**base, interval_hours=6)]).items[0]
    assert item.ome_mg_per_day == 40
    assert item.policy_note == "PRN counted at its maximum permitted daily amount"
    # every 4 h = 6 tablets, capped at 4: 40 mg, marked
    item = calculate_ome([rx(**base, interval_hours=4)]).items[0]
    assert item.ome_mg_per_day == 40
    assert item.policy_note == (
        "PRN counted at its maximum permitted daily amount; capped by the maximum amount per day"
    )


def test_calculation_errors_name_field_and_rule() -> None:
    with pytest.raises(InvalidInputError) as info:
        calculate_ome([REGULAR], prn_policy="most", item_errors="raise")
    assert (info.value.field, info.value.rule) == (
        "prn_policy",
        "must be one of the PrnPolicy values",
    )
    with pytest.raises(InvalidInputError) as info:
        calculate_ome([REGULAR, "oxycodone"], item_errors="raise")  # type: ignore[list-item]
    assert (info.value.field, info.value.rule) == ("prescriptions[1]", "must be a Prescription")


def test_daily_amount_at_the_plausible_maximum_is_accepted() -> None:
    # plausibility.toml: 5 g/day of one opioid. 500 mg x 10/day = 5000 mg: at the limit, a
    # dose (x 1 = 5000 mg OME); 5001 mg/day is an input error naming the whole list
    at_limit = rx(
        drug="morphine",
        form="tablet",
        strength="500 mg",
        dose_quantity=1,
        dose_unit="tablet",
        doses_per_day=10,
    )
    assert calculate_ome([at_limit]).total_mg_per_day == 5000
    one_more = rx(
        drug="morphine",
        form="tablet",
        strength="1 mg",
        dose_quantity=1,
        dose_unit="tablet",
        doses_per_day=1,
    )
    with pytest.raises(InvalidInputError) as info:
        calculate_ome([at_limit, one_more], item_errors="raise")
    assert (info.value.field, info.value.rule) == (
        "prescriptions",
        "implies an implausible daily amount of one opioid (check units)",
    )


def test_total_keeps_full_precision_across_items() -> None:
    from decimal import localcontext  # noqa: PLC0415 - appended test

    # two items that do not terminate: 10 mg x 24/7 h and 5 mg x 24/7 h (CDC methadone 4.7)
    a = rx(
        drug="morphine",
        form="tablet",
        strength="10 mg",
        dose_quantity=1,
        dose_unit="tablet",
        interval_hours=7,
    )
    b = rx(
        drug="oxycodone",
        form="tablet",
        strength="5 mg",
        dose_quantity=1,
        dose_unit="tablet",
        interval_hours=7,
    )
    result = calculate_ome([a, b])
    ome_a, ome_b = (i.ome_mg_per_day for i in result.items)
    assert ome_a is not None
    assert ome_b is not None
    with localcontext() as ctx:
        ctx.prec = 150
        assert result.total_mg_per_day == ome_a + ome_b  # summed at 150 digits, not 28
    assert len(result.total_mg_per_day.as_tuple().digits) > 100


def test_a_callers_vocabulary_is_used(tmp_path: Any) -> None:
    import shutil  # noqa: PLC0415 - appended test

    from opioidcds import load_vocabulary  # noqa: PLC0415 - appended test
    from opioidcds._knowledge.paths import knowledge_dir  # noqa: PLC0415 - appended test

    source = knowledge_dir("conversion_tables")
    for name in ("ingredients.toml", "forms.toml", "plausibility.toml"):
        shutil.copy(source / name, tmp_path / name)
    limits = tmp_path / "plausibility.toml"
    text = limits.read_text("utf-8").replace('"5 g"', '"100 mg"')
    limits.write_text(text, "utf-8")
    strict = load_vocabulary(tmp_path)
    # 60 mg x 2/day = 120 mg/day: plausible by default, above this caller's 100 mg limit
    p = rx(
        drug="morphine",
        form="tablet",
        strength="60 mg",
        dose_quantity=1,
        dose_unit="tablet",
        doses_per_day=2,
    )
    assert calculate_ome([p]).total_mg_per_day == 120
    with pytest.raises(InvalidInputError):
        calculate_ome([p], vocabulary=strict, item_errors="raise")


def test_route_without_form_and_route_agreeing_with_form() -> None:
    # morphine 10 mg x 1 x 2/day = 20 mg x 1 = 20, by route alone and with an agreeing form
    base: dict[str, Any] = {
        "drug": "morphine",
        "strength": "10 mg",
        "dose_quantity": 1,
        "dose_unit": "tablet",
        "doses_per_day": 2,
    }
    by_route = calculate_ome([rx(**base, route="oral")]).items[0]
    assert by_route.ome_mg_per_day == 20
    assert by_route.route == "oral"
    both = calculate_ome([rx(**base, route="Oral", form="tablet")]).items[0]
    assert both.ome_mg_per_day == 20
    with pytest.raises(InvalidInputError) as info:
        calculate_ome([rx(**base, route="rectal", form="tablet")], item_errors="raise")
    assert info.value.rule == "contradicts the route of the form"


def test_unrecognised_drug_and_form_say_which() -> None:
    base: dict[str, Any] = {
        "strength": "10 mg",
        "dose_quantity": 1,
        "dose_unit": "tablet",
        "doses_per_day": 2,
    }
    drug = calculate_ome([rx(**base, drug="unknownol", form="tablet")]).items[0]
    assert drug.reason == "drug not recognised by the ingredient vocabulary"
    assert drug.route == "oral"
    form = calculate_ome([rx(**base, drug="morphine", form="blob")]).items[0]
    assert form.reason == "pharmaceutical form not recognised by the forms vocabulary"
    assert form.status is ItemStatus.NOT_CONVERTIBLE
    route = calculate_ome([rx(**base, drug="morphine", route="intergalactic")]).items[0]
    assert route.reason == "route not recognised by the forms vocabulary"


def test_dose_from_dosage_text_says_so_and_shows_its_caps() -> None:
    # "1-2 tablets every 4 hours when required, max 8 tablets in 24 hours": upper end 2 x 24/4
    # = 12 tablets, capped at 8 tablets = 80 mg x 1 = 80 mg OME/day
    p = rx(
        drug="morphine",
        form="tablet",
        strength="10 mg",
        dosage_text="1-2 tablets every 4 hours when required, max 8 tablets in 24 hours",
    )
    item = calculate_ome([p]).items[0]
    assert item.ome_mg_per_day == 80
    assert item.policy_note == (
        "dose read from the dosage text; PRN counted at its maximum permitted daily amount;"
        " capped by the maximum amount per day"
    )
    assert item.arithmetic == (
        "morphine 10 mg x 2 tablet x (24 h / 4 h), capped at max 8 tablet/day"
        " = 80 mg/day x 1 = 80 mg OME/day (dose read from the dosage text; PRN counted at its"
        " maximum permitted daily amount; capped by the maximum amount per day)"
    )


def test_text_without_daily_amount_keeps_the_forms_route() -> None:
    p = rx(drug="morphine", form="tablet", strength="10 mg", dosage_text="as directed")
    item = calculate_ome([p]).items[0]
    assert item.status is ItemStatus.NOT_CONVERTIBLE
    assert item.route == "oral"


def test_total_patch_rate_of_one_ingredient_is_checked() -> None:
    # each 1,000 microgram/hour patch is at the per-patch limit, but two of them (2,000
    # microgram/hour of fentanyl in total) are not a dose: unit confusion (HAZ-002)
    one = rx(
        drug="fentanyl",
        form="transdermal patch",
        strength="1000 microgram/hour",
        dose_quantity=1,
        dose_unit="patch",
    )
    calculate_ome([one])  # 1,000 microgram/hour: at the limit, accepted
    with pytest.raises(InvalidInputError, match="implausible"):
        calculate_ome([one, one])
    with pytest.raises(InvalidInputError, match="implausible"):
        calculate_ome([one.model_copy(update={"dose_quantity": Decimal(2)})])
