"""The UK-Core-style example MedicationRequest (written for this project).

It carries two concurrent dosage instructions for "Morphine 10mg modified-release tablets":
a regular one (1 tablet twice a day) and a PRN one (1-2 tablets up to four times a day, at most
8 tablets in 24 hours). Its dm+d code, ``0000000``, is a placeholder that is in no catalogue.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from fhir_cases import UK_EXAMPLE, load

from opioidcds import (
    InvalidInputError,
    PrnPolicy,
    UnknownProductError,
    calculate_ome,
    from_bundle,
    read_bundle,
)
from opioidcds._resolve.fhir import from_medication_request, prescriptions_from_medication_request

MORPHINE_10_MR = "36126511000001106"  # VMP Morphine 10mg modified-release tablets (catalogue)


def test_valid_r4_and_parses_up_to_the_placeholder_code() -> None:
    # The placeholder code is pinned: an unknown dm+d code is an error naming the coding, and is
    # NOT silently replaced by the display name.
    with pytest.raises(UnknownProductError) as info:
        prescriptions_from_medication_request(load(UK_EXAMPLE))
    assert str(info.value) == (
        "medicationCodeableConcept.coding[0].code: dm+d code not in the product catalogue"
    )


def test_bundle_error_names_the_entry() -> None:
    data = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": load(UK_EXAMPLE)}],
    }
    with pytest.raises(UnknownProductError, match=r"^entry\[0\]\.resource\.medicationCode"):
        from_bundle(data)


def test_opt_in_display_name_reads_both_instructions() -> None:
    regular, prn = prescriptions_from_medication_request(load(UK_EXAMPLE), match_display_name=True)
    assert regular.product_name == prn.product_name == "Morphine 10mg modified-release tablets"
    assert regular.dmd_code is None  # the placeholder code is not passed on
    assert (regular.dose_quantity, regular.dose_unit, regular.doses_per_day) == (
        Decimal(1),
        "tablet",
        Decimal(2),
    )
    assert regular.route == "oral"  # SNOMED CT 26643006
    assert not regular.prn
    assert regular.dosage_text is None  # structured dose wins over the text
    assert prn.prn
    assert (prn.dose_quantity, prn.dose_quantity_max) == (Decimal(1), Decimal(2))
    assert (prn.doses_per_day, prn.doses_per_day_max) == (Decimal(1), Decimal(4))
    assert prn.max_quantity_per_day == Decimal(8)  # 8 tablets per 24 hours


def test_totals() -> None:
    rxs = prescriptions_from_medication_request(load(UK_EXAMPLE), match_display_name=True)
    # regular: 10 mg x 1 tablet x 2/day = 20 mg; PRN at its maximum: 2 tablets x 4/day = 8
    # tablets (the 8-per-24-hours cap equals it) x 10 mg = 80 mg. Morphine factor 1: 100.
    assert calculate_ome(rxs).total_mg_per_day == 100
    assert calculate_ome(rxs, table="cdc-2022").total_mg_per_day == 100
    # regular-only policy leaves the PRN instruction out: 20
    assert calculate_ome(rxs, prn_policy=PrnPolicy.REGULAR_ONLY).total_mg_per_day == 20


def test_a_real_dmd_code_needs_no_opt_in() -> None:
    data = load(UK_EXAMPLE)
    data["medicationCodeableConcept"]["coding"][0]["code"] = MORPHINE_10_MR
    rxs = prescriptions_from_medication_request(data)
    assert [rx.dmd_code for rx in rxs] == [MORPHINE_10_MR, MORPHINE_10_MR]
    assert calculate_ome(rxs).total_mg_per_day == 100
    read = read_bundle([data])
    assert read.sources == ("[0].dosageInstruction[0]", "[0].dosageInstruction[1]")


def test_single_reader_refuses_two_instructions() -> None:
    with pytest.raises(InvalidInputError) as info:
        from_medication_request(load(UK_EXAMPLE), match_display_name=True)
    assert info.value.field == "dosageInstruction"


def test_display_fallback_still_needs_a_catalogue_name() -> None:
    data = load(UK_EXAMPLE)
    data["medicationCodeableConcept"]["coding"][0]["display"] = "Morphine 11mg imaginary tablets"
    with pytest.raises(UnknownProductError, match=r"coding\[0\]\.display: not the name"):
        prescriptions_from_medication_request(data, match_display_name=True)
