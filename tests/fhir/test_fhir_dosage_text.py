"""Text-only FHIR dosages, end to end through the dosage grammar (merged from main).

A Dosage with no ``doseAndRate`` passes its ``text`` on as ``dosage_text`` and nothing else;
the calculator reads it with the grammar. A Dosage with a structured dose does not pass its text
on (structured wins): FHIR's frequency 1-4 per day and the grammar's reading of "up to four
times a day" (4 a day, at most 4) describe the same maximum in different fields, so comparing
them field by field would refuse good input.
"""

from __future__ import annotations

from typing import Any

import pytest
from fhir_cases import UK_EXAMPLE, load, request

from opioidcds import InvalidInputError, ItemStatus, PrnPolicy, calculate_ome
from opioidcds._resolve.fhir import from_medication_request, prescriptions_from_medication_request

MORPHINE_10_MR = "36126511000001106"  # VMP Morphine 10mg modified-release tablets
FENTANYL_25 = "36120011000001101"  # VMP Fentanyl 25micrograms/hour transdermal patches
SCT = "http://snomed.info/sct"


def _text_only(data: dict[str, Any]) -> dict[str, Any]:
    for dosage in data["dosageInstruction"]:
        for key in ("doseAndRate", "timing", "asNeededBoolean", "maxDosePerPeriod"):
            dosage.pop(key, None)
    return data


def test_uk_example_text_only() -> None:
    data = _text_only(load(UK_EXAMPLE))
    data["medicationCodeableConcept"]["coding"][0]["code"] = MORPHINE_10_MR
    regular, prn = prescriptions_from_medication_request(data)
    assert regular.dosage_text == "ONE TO BE TAKEN TWICE A DAY"
    assert regular.dose_quantity is None
    assert regular.doses_per_day is None
    assert regular.route == "oral"  # the route is still read
    assert not prn.prn  # the text says "when required": the grammar decides, not this field
    result = calculate_ome([regular, prn])
    # regular: ONE (tablet, from the form) x 2/day x 10 mg = 20
    # PRN: 1-2 tablets up to four times a day -> at most 2 x 4 = 8 tablets x 10 mg = 80
    assert result.total_mg_per_day == 100
    assert result.complete
    assert calculate_ome([regular, prn], prn_policy=PrnPolicy.REGULAR_ONLY).total_mg_per_day == 20


def test_patch_text_only() -> None:
    data = request(text="APPLY ONE PATCH EVERY 72 HOURS")
    data["medicationCodeableConcept"] = {"coding": [{"system": SCT, "code": FENTANYL_25}]}
    rx = from_medication_request(data)
    # 25 microgram/hour x 1 patch x 2.4 = 60 (the 72-hour change does not matter)
    assert calculate_ome([rx]).total_mg_per_day == 60


def test_as_directed_is_not_convertible() -> None:
    rx = from_medication_request(request(text="AS DIRECTED"))
    result = calculate_ome([rx])
    assert not result.complete
    assert result.items[0].status is ItemStatus.NOT_CONVERTIBLE
    assert result.total_mg_per_day == 0  # a lower bound, flagged as such


def test_cdc_morphine_fixture_text_is_not_guessed() -> None:
    # "Take 1 capsule (20 mg total) by mouth daily." with its structured dose removed: the
    # grammar does not fully understand it, so the item is not convertible (never guessed).
    data = _text_only(load("morphineMedRecMMECalc.json"))
    rx = from_medication_request(data)
    assert rx.dosage_text == "Take 1 capsule (20 mg total) by mouth daily."
    result = calculate_ome([rx], table="cdc-2022")
    assert not result.complete
    assert result.items[0].status is ItemStatus.NOT_CONVERTIBLE


def test_structured_dose_keeps_the_uk_example_readable() -> None:
    # with the structured doses the texts are not passed on, so no false disagreement
    data = load(UK_EXAMPLE)
    data["medicationCodeableConcept"]["coding"][0]["code"] = MORPHINE_10_MR
    rxs = prescriptions_from_medication_request(data)
    assert all(rx.dosage_text is None for rx in rxs)
    assert calculate_ome(rxs).total_mg_per_day == 100


def test_text_only_route_contradiction_is_named_at_the_route() -> None:
    data = request(text="ONE TO BE TAKEN TWICE A DAY")
    data["dosageInstruction"][0]["route"] = {
        "coding": [{"system": SCT, "code": "45890007", "display": "Transdermal route"}]
    }
    with pytest.raises(InvalidInputError) as info:
        from_medication_request(data)  # an oral tablet given transdermally
    assert info.value.field == "dosageInstruction[0].route"
