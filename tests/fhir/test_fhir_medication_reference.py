"""``medicationReference``: contained, included in the Bundle, or supplied by the caller (issue 18).

GP Connect, UK Core and Epic name the product of a MedicationRequest by reference to a
Medication. The adapter resolves ``#id`` to a contained Medication, ``Medication/<id>`` or a
``fullUrl`` to a Medication included in the Bundle, and any reference string to a Medication the
caller supplies (``medications=``, keyed by the reference as written). A reference that cannot
be resolved is refused at ``medicationReference.reference``, never skipped.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from fhir_cases import load

from opioidcds import InvalidInputError, calculate_ome, from_bundle, read_bundle
from opioidcds._resolve.fhir import from_medication_request, prescriptions_from_medication_request

# Morphine sulfate 10mg modified-release tablets (dm+d VMP 36126511000001106, in the catalogue)
MORPHINE_MR_10 = "36126511000001106"
EPIC_REQUEST = "epic-sandbox-order-sign-medicationrequest.json"
EPIC_MEDICATION = "epic-sandbox-medication.json"
EPIC_REFERENCE = "Medication/eAfgatAovleK4GXF4MnFNxg3"


def medication(code: str = MORPHINE_MR_10, rid: str = "med1", **extra: Any) -> dict[str, Any]:
    """An R4 Medication naming a dm+d product."""
    return {
        "resourceType": "Medication",
        "id": rid,
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": code}]},
        **extra,
    }


def referencing(reference: str, **extra: Any) -> dict[str, Any]:
    """A MedicationRequest for 1 tablet twice a day whose product is ``reference``."""
    return {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationReference": {"reference": reference},
        "dosageInstruction": [
            {
                "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}],
            }
        ],
        **extra,
    }


def ome(rxs: Any, **kwargs: Any) -> Decimal:
    return calculate_ome(rxs, **kwargs).total_mg_per_day


# --- the three places a referenced Medication may be --------------------------------------------


def test_contained_medication_is_read() -> None:
    # Morphine 10 mg MR x 1 tablet x 2/day = 20 mg/day x 1 (oral morphine) = 20 mg OME/day
    mr = referencing("#med1", contained=[medication()])
    rx = from_medication_request(mr)
    assert rx.dmd_code == MORPHINE_MR_10
    assert ome([rx]) == 20


def test_contained_reference_to_a_missing_id_is_refused() -> None:
    mr = referencing("#other", contained=[medication()])
    with pytest.raises(InvalidInputError) as info:
        from_medication_request(mr)
    assert info.value.field == "medicationReference.reference"
    assert "contained" in info.value.rule


def test_medication_in_the_bundle_by_type_and_id() -> None:
    data = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": referencing("Medication/med1")}, {"resource": medication()}],
    }
    read = read_bundle(data)
    assert [rx.dmd_code for rx in read.prescriptions] == [MORPHINE_MR_10]
    assert read.sources == ("entry[0].resource.dosageInstruction[0]",)
    assert ome(read.prescriptions) == 20  # 10 mg x 2/day x 1, as above


def test_medication_in_the_bundle_by_full_url() -> None:
    uuid = "urn:uuid:5b2f3c1e-2f4e-4a8e-9d8b-6c2c0f7c9a11"
    data = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": "urn:uuid:0d1b", "resource": referencing(uuid)},
            {"fullUrl": uuid, "resource": medication(rid="x")},
        ],
    }
    assert [rx.dmd_code for rx in read_bundle(data).prescriptions] == [MORPHINE_MR_10]


def test_medication_supplied_by_the_caller_epic_sandbox_order() -> None:
    # Epic sandbox order-sign draft: Medication/eAfg... is RxNorm 7052 (morphine); dose the
    # "ordered" doseAndRate, 30 mg, every 4 hours as needed. CDC 2022 (maximum PRN policy):
    # 30 mg x 24/4 = 180 mg/day x 1 (morphine oral) = 180 MME/day, the total the shared
    # reference README gives for this request.
    mr = load(EPIC_REQUEST)
    supplied = {EPIC_REFERENCE: load(EPIC_MEDICATION)}
    rxs = prescriptions_from_medication_request(mr, medications=supplied)
    assert len(rxs) == 1
    assert (rxs[0].drug, rxs[0].dose_quantity, rxs[0].dose_unit) == ("morphine", Decimal(30), "mg")
    assert ome(rxs, table="cdc-2022") == 180


def test_epic_order_without_its_medication_is_refused_not_skipped() -> None:
    with pytest.raises(InvalidInputError) as info:
        prescriptions_from_medication_request(load(EPIC_REQUEST))
    assert info.value.field == "medicationReference.reference"
    assert "cannot be resolved" in info.value.rule
    assert "medications=" in info.value.rule


def test_caller_medications_reach_read_bundle_and_the_lean_validator_path() -> None:
    supplied = {"Medication/med1": medication()}
    data = [referencing("Medication/med1")]
    assert [rx.dmd_code for rx in read_bundle(data, medications=supplied).prescriptions] == [
        MORPHINE_MR_10
    ]
    rxs = prescriptions_from_medication_request(
        referencing("Medication/med1"), medications=supplied, validator=lambda _r: None
    )
    assert [rx.dmd_code for rx in rxs] == [MORPHINE_MR_10]


def test_version_specific_reference_finds_the_resource() -> None:
    supplied = {"Medication/med1": medication()}
    rx = from_medication_request(referencing("Medication/med1/_history/3"), medications=supplied)
    assert rx.dmd_code == MORPHINE_MR_10


# --- refusals, each at medicationReference or inside the resolved Medication -------------------


@pytest.mark.parametrize(
    ("supplied", "reference", "field", "words"),
    [
        ({}, "Medication/med1", "medicationReference.reference", "cannot be resolved"),
        (
            {"Medication/med1": medication(rid="other")},
            "Medication/med1",
            "medicationReference.reference",
            "another id",
        ),
        (
            {"Medication/med1": {"resourceType": "Substance", "id": "med1"}},
            "Medication/med1",
            "medicationReference.reference",
            "does not resolve to a Medication",
        ),
        (
            {"Medication/med1": medication(status="entered-in-error")},
            "Medication/med1",
            "medicationReference.resolve().status",
            "entered-in-error",
        ),
        (
            {"Medication/med1": {"resourceType": "Medication", "id": "med1"}},
            "Medication/med1",
            "medicationReference.resolve().code",
            "names no product",
        ),
        (
            {"Medication/med1": medication(code="999999999")},
            "Medication/med1",
            "",
            "",
        ),
    ],
)
def test_refused(supplied: dict[str, Any], reference: str, field: str, words: str) -> None:
    mr = referencing(reference)
    if not field:  # a dm+d code the catalogue does not know: UnknownProductError, with the path
        from opioidcds import UnknownProductError  # noqa: PLC0415

        with pytest.raises(UnknownProductError, match=r"medicationReference\.resolve\(\)\.code"):
            from_medication_request(mr, medications=supplied)
        return
    with pytest.raises(InvalidInputError) as info:
        from_medication_request(mr, medications=supplied)
    assert info.value.field == field
    assert words in info.value.rule


def test_reference_by_display_only_is_refused() -> None:
    mr = referencing("Medication/med1")
    mr["medicationReference"] = {"display": "Morphine 10mg modified-release tablets"}
    with pytest.raises(InvalidInputError) as info:
        from_medication_request(mr)
    assert info.value.field == "medicationReference.reference"
    assert "identifier or display" in info.value.rule


def test_invalid_referenced_medication_names_its_path() -> None:
    bad = medication(form="Tablet")  # Medication.form is a CodeableConcept, not a string
    with pytest.raises(InvalidInputError) as info:
        from_medication_request(
            referencing("Medication/med1"), medications={"Medication/med1": bad}
        )
    assert info.value.field.startswith("medicationReference.resolve().form")


def test_two_medications_with_one_reference_in_a_bundle_are_refused() -> None:
    data = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": referencing("Medication/med1")},
            {"fullUrl": "https://a.example/Medication/med1", "resource": medication()},
            {"fullUrl": "https://b.example/Medication/med1", "resource": medication(code="1")},
        ],
    }
    with pytest.raises(InvalidInputError) as info:
        from_bundle(data)
    assert info.value.field == "entry[0].resource.medicationReference.reference"
    assert "two different Medications" in info.value.rule
    (skip, *_others) = read_bundle(data).skipped  # read_bundle lists it instead
    assert skip.path == "entry[0].resource"
    assert skip.affects_total


def test_bundle_and_caller_disagreeing_is_refused() -> None:
    data = [referencing("Medication/med1"), medication()]
    other = {"Medication/med1": medication(code="36120011000001101")}
    with pytest.raises(InvalidInputError) as info:
        from_bundle(data, medications=other)
    assert "different Medications" in info.value.rule


def test_medications_argument_must_be_a_mapping_of_objects() -> None:
    with pytest.raises(InvalidInputError) as info:
        from_medication_request(
            referencing("Medication/med1"),
            medications={"Medication/med1": "not a resource"},  # type: ignore[dict-item]
        )
    assert info.value.field == "medications"


def test_message_never_holds_the_reference_value() -> None:
    planted = "Medication/9434765919"  # stand-in for an identifier-like value
    with pytest.raises(InvalidInputError) as info:
        from_medication_request(referencing(planted))
    assert "9434765919" not in str(info.value)


def test_the_supplied_medication_is_not_changed() -> None:
    supplied = {"Medication/med1": medication()}
    before = copy.deepcopy(supplied)
    from_medication_request(referencing("Medication/med1"), medications=supplied)
    assert supplied == before
