"""Prescriptions given as dm+d products (code or name): filled from the catalogue."""

from __future__ import annotations

from decimal import Decimal

import pytest

from opioidcds.errors import InvalidInputError, UnknownProductError
from opioidcds.models import ItemStatus, Prescription
from opioidcds.ome import calculate_ome
from opioidcds.products import load_catalogue

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
        calculate_ome([p])
    assert info.value.field == f"prescriptions[0].{field}"


def test_unknown_code_and_name_are_lookup_errors_without_the_value() -> None:
    for fields in ({"dmd_code": "99999999999"}, {"product_name": "Oxycodone 41mg tablets"}):
        p = Prescription(dose_quantity=1, dose_unit="tablet", doses_per_day=2, **fields)
        with pytest.raises(UnknownProductError) as info:
            calculate_ome([p])
        assert isinstance(info.value, LookupError)
        assert "99999999999" not in str(info.value)
        assert "41mg" not in str(info.value)


def test_product_without_single_strength_needs_a_mass_dose() -> None:
    # Diamorphine 5mg powder for solution for injection: no strength string in the catalogue
    in_units = Prescription(
        dmd_code="322523005", dose_quantity=1, dose_unit="ampoule", doses_per_day=1
    )
    item = calculate_ome([in_units]).items[0]
    assert item.status is ItemStatus.NOT_CONVERTIBLE
    # 5 mg x 6/day = 30 mg x 3.3 (diamorphine injection, BNF) = 99
    in_mg = Prescription(dmd_code="322523005", dose_quantity=5, dose_unit="mg", interval_hours=4)
    assert calculate_ome([in_mg]).total_mg_per_day == Decimal(99)


def test_code_format_is_checked() -> None:
    with pytest.raises(InvalidInputError) as info:
        Prescription(dmd_code="12ab", dose_quantity=1, dose_unit="tablet", doses_per_day=1)
    assert "12ab" not in str(info.value)


def test_an_explicit_catalogue_can_be_passed() -> None:
    # regression: the memo hashed the catalogue's fields (a mappingproxy) -> TypeError
    catalogue = load_catalogue()
    p = Prescription(dmd_code=OXY_40_MR, dose_quantity=1, dose_unit="tablet", doses_per_day=2)
    assert calculate_ome([p], catalogue=catalogue).total_mg_per_day == 120
    assert hash(catalogue) == hash(load_catalogue())  # the same loaded object
