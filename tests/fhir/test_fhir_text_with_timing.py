"""A dose in the text with the frequency in ``timing`` (EPS; issue 16 item 3, FHIR part).

An EPS MedicationRequest for morphine 15 mg MR can carry ``timing`` 2/day and the text "twice a
day - Oral route - One twice daily" with no ``doseAndRate``. The adapter combines the dose read
from the text with the structured timing when both agree, and says which part came from where.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from opioidcds import InvalidInputError, calculate_ome, read_bundle
from opioidcds._resolve.fhir import from_medication_request

MORPHINE_MR_15 = "36126811000001109"  # dm+d VMP Morphine 15mg modified-release tablets
TWICE_A_DAY = {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}}
ORAL = {"coding": [{"system": "http://snomed.info/sct", "code": "26643006", "display": "Oral"}]}
EPS_TEXT = "twice a day - Oral route - One twice daily"
NOTE = "dose read from the dosage text; frequency from the structured timing"


def eps(text: str, timing: dict[str, Any] | None = None, **dosage: Any) -> dict[str, Any]:
    """An EPS-style R4 MedicationRequest: dm+d product, timing, text, no doseAndRate."""
    instruction: dict[str, Any] = {"text": text, "route": ORAL, **dosage}
    instruction["timing"] = timing if timing is not None else TWICE_A_DAY
    return {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {
            "coding": [{"system": "http://snomed.info/sct", "code": MORPHINE_MR_15}]
        },
        "dosageInstruction": [instruction],
    }


def test_the_eps_case_of_the_issue() -> None:
    # dose from the text: one (tablet, the product's unit); frequency from timing: 2/day.
    # Morphine 15 mg x 1 x 2/day = 30 mg/day x 1 (oral morphine, Opioids Aware) = 30
    read = read_bundle([eps(EPS_TEXT)])
    result = calculate_ome(read)
    assert result.total_mg_per_day == 30
    assert result.complete
    assert read.notes == (NOTE,)


def test_a_text_dose_with_structured_timing_is_combined() -> None:
    # "One twice daily" (read by today's grammar): 15 mg x 1 x 2/day = 30 mg x 1 = 30
    read = read_bundle([eps("One twice daily")])
    (rx,) = read.prescriptions
    assert (rx.dose_quantity, rx.dose_unit, rx.doses_per_day) == (
        Decimal(1),
        "tablet",
        Decimal(2),
    )
    assert rx.dosage_text is None  # the dose is structured now; the text is not passed on
    assert read.notes == (NOTE,)
    result = calculate_ome(read)
    assert result.total_mg_per_day == 30
    assert result.complete
    assert f"[read: {NOTE}]" in result.explain()


def test_a_text_interval_agrees_with_a_daily_count() -> None:
    # "every 12 hours" is 2 a day: they agree, 30 as above
    rx = from_medication_request(eps("take one every 12 hours"))
    assert calculate_ome([rx]).total_mg_per_day == 30


def test_a_text_that_disagrees_with_the_timing_is_refused_and_listed() -> None:
    with pytest.raises(InvalidInputError) as info:
        from_medication_request(eps("One three times a day"))
    assert (info.value.field, info.value.rule) == (
        "dosageInstruction[0].text",
        "disagrees with the structured timing",
    )
    read = read_bundle([eps("One three times a day")])
    assert read.prescriptions == ()
    assert read.skipped[0].affects_total


def test_a_text_with_no_dose_is_read_alone_and_never_counted_as_zero() -> None:
    result = calculate_ome(read_bundle([eps("as directed")]))
    (item,) = result.items
    assert item.status.value == "not_convertible"
    assert not result.complete


def test_when_required_in_either_part_makes_it_prn() -> None:
    # PRN, 1 tablet twice a day at most: maximum policy 15 mg x 2 = 30; regular-only excludes it
    rx = from_medication_request(eps("One twice a day when required"))
    assert rx.prn
    assert calculate_ome([rx]).total_mg_per_day == 30
    assert calculate_ome([rx], prn_policy="regular-only").total_mg_per_day == 0
    rx = from_medication_request(eps("One twice daily", asNeededBoolean=True))
    assert rx.prn


def test_text_maximum_is_kept_and_must_agree_with_a_structured_one() -> None:
    # 1-2 tablets up to 4 times a day (timing 1-4/day), max 6 in 24 hours from the text:
    # maximum policy 2 x 4 = 8 tablets, capped at 6 = 6 x 15 mg = 90 mg x 1 = 90
    timing = {"repeat": {"frequency": 1, "frequencyMax": 4, "period": 1, "periodUnit": "d"}}
    text = "one or two up to four times a day. maximum 6 tablets in 24 hours"
    rx = from_medication_request(eps(text, timing))
    assert rx.max_quantity_per_day == 6
    assert calculate_ome([rx]).total_mg_per_day == 90
    per_period = {
        "numerator": {"value": 8, "unit": "tablet"},
        "denominator": {"value": 24, "unit": "h", "code": "h"},
    }
    with pytest.raises(InvalidInputError) as info:
        from_medication_request(eps(text, timing, maxDosePerPeriod=per_period))
    assert info.value.rule == "disagrees with the structured max_quantity_per_day"


def test_capsules_in_the_text_of_a_tablet_product_are_the_same_solid_dose() -> None:
    rx = from_medication_request(eps("one capsule twice daily"))
    assert rx.dose_unit == "tablet"
    assert calculate_ome([rx]).total_mg_per_day == 30  # 15 mg x 2 x 1, as above
    read = read_bundle([eps("one capsule twice daily")])
    assert "the same count of solid doses" in read.notes[0]
