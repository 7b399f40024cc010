"""Prescriptions given as dm+d products (code or name): filled from the catalogue."""

from __future__ import annotations

from decimal import Decimal

import pytest

from opioidcds import (
    InvalidInputError,
    ItemStatus,
    Prescription,
    UnknownProductError,
    calculate_ome,
    load_catalogue,
)

OXY_40_MR = "36130911000001104"  # VMP Oxycodone 40mg modified-release tablets
FENTANYL_25 = "36120011000001101"  # VMP Fentanyl 25micrograms/hour transdermal patches
OLD_OXY_40 = "322696002"  # superseded VMP code whose successor is OXY_40_MR


def test_by_code() -> None:
    # 40 mg x 1 x 2/day = 80 mg x 1.5 = 120
    p = Prescription(dmd_code=OXY_40_MR, dose_quantity=1, dose_unit="tablet", doses_per_day=2)
    result = calculate_ome([p])
    assert result.total_mg_per_day == 120
    assert result.items[0].drug == "Oxycodone 40mg modified-release tablets"


def test_superseded_code_resolves_like_its_successor() -> None:
    p = Prescription(dmd_code=OLD_OXY_40, dose_quantity=1, dose_unit="tablet", doses_per_day=2)
    assert calculate_ome([p]).total_mg_per_day == 120


def test_by_name_any_case() -> None:
    # codeine 30 mg x 2 x 4/day = 240 x 0.1 = 24
    p = Prescription(
        product_name="CO-CODAMOL 30MG/500MG TABLETS",
        dose_quantity=2,
        dose_unit="tablet",
        doses_per_day=4,
    )
    assert calculate_ome([p]).total_mg_per_day == 24


def test_patch_by_code() -> None:
    p = Prescription(dmd_code=FENTANYL_25, dose_quantity=1, dose_unit="patch", interval_hours=72)
    assert calculate_ome([p]).total_mg_per_day == 60  # 25 x 2.4


def test_liquid_by_name() -> None:
    # 10 mg/5 mL, 2.5 mL x 6/day = 15 mL = 30 mg x 1 = 30
    p = Prescription(
        product_name="Morphine sulfate 10mg/5ml oral solution",
        dose_quantity="2.5",
        dose_unit="mL",
        interval_hours=4,
    )
    assert calculate_ome([p]).total_mg_per_day == 30


def test_agreeing_explicit_fields_are_accepted() -> None:
    p = Prescription(
        dmd_code=OXY_40_MR,
        drug="oxycodone hydrochloride",
        strength="40 mg",
        form="MR tablet",
        dose_quantity=1,
        dose_unit="tablet",
        doses_per_day=2,
    )
    assert calculate_ome([p]).total_mg_per_day == 120


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"strength": "10 mg"}, "strength"),
        ({"drug": "morphine"}, "drug"),
        ({"form": "capsule"}, "form"),
        ({"product_name": "Co-codamol 30mg/500mg tablets"}, "product_name"),
    ],
)
def test_contradicting_fields(extra: dict[str, str], field: str) -> None:
    p = Prescription(
        dmd_code=OXY_40_MR, dose_quantity=1, dose_unit="tablet", doses_per_day=2, **extra
    )
    with pytest.raises(InvalidInputError) as info:
        calculate_ome([p], item_errors="raise")
    assert info.value.field == f"prescriptions[0].{field}"


def test_unknown_code_and_name_are_lookup_errors_without_the_value() -> None:
    for fields in ({"dmd_code": "99999999999"}, {"product_name": "Oxycodone 41mg tablets"}):
        p = Prescription(dose_quantity=1, dose_unit="tablet", doses_per_day=2, **fields)
        with pytest.raises(UnknownProductError) as info:
            calculate_ome([p], item_errors="raise")
        assert isinstance(info.value, LookupError)
        assert "99999999999" not in str(info.value)
        assert "41mg" not in str(info.value)


def test_powder_ampoules_count_the_amount_per_ampoule() -> None:
    # Diamorphine 5mg powder for solution for injection ampoules (superseded VMP 322523005,
    # fields of 34819611000001105): the amount is per ampoule (issue 18; was not convertible).
    # 1 ampoule x 1/day = 5 mg/day x 3.3 (diamorphine injection, BNF) = 16.5
    in_units = Prescription(
        dmd_code="322523005", dose_quantity=1, dose_unit="ampoule", doses_per_day=1
    )
    assert calculate_ome([in_units]).total_mg_per_day == Decimal("16.5")
    # 5 mg x 6/day = 30 mg x 3.3 = 99
    in_mg = Prescription(dmd_code="322523005", dose_quantity=5, dose_unit="mg", interval_hours=4)
    assert calculate_ome([in_mg]).total_mg_per_day == Decimal(99)


def test_code_format_is_checked() -> None:
    with pytest.raises(InvalidInputError) as info:
        Prescription(dmd_code="12ab", dose_quantity=1, dose_unit="tablet", doses_per_day=1)
    assert "12ab" not in str(info.value)


# --- killing tests for surviving mutants (docs/safety/mutation.md) ------------------------------

OXYCONTIN_40_NAME = "OxyContin 40mg modified-release tablets"  # an AMP of the OXY_40_MR VMP
ORAMORPH_10_5 = "36128311000001101"  # VMP Morphine sulfate 10mg/5ml oral solution


def test_code_and_name_of_the_same_clinical_product_are_accepted() -> None:
    # VMP code + the name of one of its AMPs: same ingredients and form; 40 x 2 x 1.5 = 120
    p = Prescription(
        dmd_code=OXY_40_MR,
        product_name=OXYCONTIN_40_NAME,
        route="oral",
        dose_quantity=1,
        dose_unit="tablets",
        doses_per_day=2,
    )
    assert calculate_ome([p]).total_mg_per_day == 120


@pytest.mark.parametrize(
    ("extra", "field", "rule"),
    [
        ({"strength": "10 mg"}, "strength", "contradicts the dm+d product's strength"),
        ({"drug": "morphine"}, "drug", "contradicts the dm+d product's ingredients"),
        ({"form": "capsule"}, "form", "contradicts the dm+d product's form"),
        ({"route": "rectal"}, "route", "contradicts the dm+d product's route"),
        (
            {"product_name": "Co-codamol 30mg/500mg tablets"},
            "product_name",
            "names a different product from dmd_code",
        ),
    ],
)
def test_contradiction_rules_are_named(extra: dict[str, str], field: str, rule: str) -> None:
    p = Prescription(
        dmd_code=OXY_40_MR, dose_quantity=1, dose_unit="tablet", doses_per_day=2, **extra
    )
    with pytest.raises(InvalidInputError) as info:
        calculate_ome([p], item_errors="raise")
    assert info.value.field == f"prescriptions[0].{field}"
    assert info.value.rule == rule


def test_equal_concentrations_written_differently_agree() -> None:
    # product 10 mg/5 mL = 2 mg/mL; 5 mL x 4/day = 20 mL = 40 mg x 1 = 40
    for given in ("2 mg/mL", "10 mg/5 mL", "20 mg/10 mL"):
        p = Prescription(
            dmd_code=ORAMORPH_10_5,
            strength=given,
            dose_quantity=5,
            dose_unit="mL",
            doses_per_day=4,
        )
        assert calculate_ome([p]).total_mg_per_day == 40
    for wrong in ("10 mg/mL", "2 mg/5 mL", "10 mg"):
        p = Prescription(
            dmd_code=ORAMORPH_10_5,
            strength=wrong,
            dose_quantity=5,
            dose_unit="mL",
            doses_per_day=4,
        )
        with pytest.raises(InvalidInputError) as info:
            calculate_ome([p], item_errors="raise")
        assert info.value.field == "prescriptions[0].strength"


def test_powder_in_ml_is_not_read_and_names_route_and_form() -> None:
    # a powder's concentration depends on reconstitution: a dose in mL cannot be read; the item
    # is listed with the rule, under the product's own name
    in_ml = Prescription(dmd_code="322523005", dose_quantity=1, dose_unit="mL", doses_per_day=1)
    result = calculate_ome([in_ml])
    item = result.items[0]
    assert item.reason == "not read: dose_unit: a dose in mL needs a strength per volume (mg/mL)"
    assert item.drug == "VMP previous to 34819611000001105"
    assert result.complete is False


def test_mass_dose_of_a_product_names_the_product_strength() -> None:
    # 20 mg (overrides the 40 mg tablet) x 2/day = 40 mg x 1.5 = 60
    p = Prescription(dmd_code=OXY_40_MR, dose_quantity=20, dose_unit="mg", doses_per_day=2)
    item = calculate_ome([p]).items[0]
    assert item.ome_mg_per_day == 60
    assert "(a dose in mg overrides the 40 mg strength)" in item.arithmetic


def test_code_and_name_of_the_same_ingredient_in_another_form_are_rejected() -> None:
    # OxyContin 10mg MR tablets (code) vs OxyNorm 10mg capsules (name): same ingredient and
    # amount, different form: a different product
    p = Prescription(
        dmd_code="2891711000001108",
        product_name="OxyNorm 10mg capsules",
        dose_quantity=1,
        dose_unit="tablet",
        doses_per_day=2,
    )
    with pytest.raises(InvalidInputError) as info:
        calculate_ome([p], item_errors="raise")
    assert info.value.rule == "names a different product from dmd_code"


def test_text_without_daily_amount_keeps_the_products_route() -> None:
    p = Prescription(dmd_code=OXY_40_MR, dosage_text="as directed")
    item = calculate_ome([p]).items[0]
    assert item.status is ItemStatus.NOT_CONVERTIBLE
    assert item.route == "oral"
    assert item.reason == "the dosage is 'as directed': the text gives no daily amount"


def test_a_per_unit_strength_never_matches_a_concentration() -> None:
    # "2 mg" (per unit) against 10 mg/5 mL (= 2 mg per mL): different kinds, never equal
    p = Prescription(
        dmd_code=ORAMORPH_10_5, strength="2 mg", dose_quantity=5, dose_unit="mL", doses_per_day=4
    )
    with pytest.raises(InvalidInputError) as info:
        calculate_ome([p], item_errors="raise")
    assert info.value.rule == "contradicts the dm+d product's strength"


def test_dose_unit_must_fit_the_products_form() -> None:
    # OXY_40_MR is a tablet: a dose in capsules does not fit it
    p = Prescription(dmd_code=OXY_40_MR, dose_quantity=1, dose_unit="capsule", doses_per_day=2)
    with pytest.raises(InvalidInputError) as info:
        calculate_ome([p], item_errors="raise")
    assert (info.value.field, info.value.rule) == (
        "prescriptions[0].dose_unit",
        "does not fit the form",
    )


def test_an_explicit_catalogue_can_be_passed() -> None:
    # regression: the memo hashed the catalogue's fields (a mappingproxy) -> TypeError
    catalogue = load_catalogue()
    p = Prescription(dmd_code=OXY_40_MR, dose_quantity=1, dose_unit="tablet", doses_per_day=2)
    assert calculate_ome([p], catalogue=catalogue).total_mg_per_day == 120
    assert hash(catalogue) == hash(load_catalogue())  # the same loaded object
