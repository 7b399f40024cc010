"""FHIR R4 Dosage and medication elements -> Prescription fields, one rule per test.

Hand-worked OME values use the UK default table (oxycodone 1.5, morphine 1, fentanyl
transdermal 2.4 per microgram/hour) unless a test says otherwise.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from fhir_cases import request

from opioidcds import InvalidInputError, Prescription, calculate_ome
from opioidcds._resolve.fhir import from_medication_request, parse_rxnorm_name

UCUM = "http://unitsofmeasure.org"
SCT = "http://snomed.info/sct"
OXY_40_MR = "36130911000001104"  # VMP Oxycodone 40mg modified-release tablets
FENTANYL_25 = "36120011000001101"  # VMP Fentanyl 25micrograms/hour transdermal patches


def _tablets(value: int = 1) -> list[dict[str, Any]]:
    return [{"doseQuantity": {"value": value, "unit": "tablet"}}]


def _read(**dosage: Any) -> Prescription:
    return from_medication_request(request(**dosage))


def _with_dmd(code: str, **dosage: Any) -> Prescription:
    data = request(**dosage)
    data["medicationCodeableConcept"] = {"coding": [{"system": SCT, "code": code}]}
    return from_medication_request(data)


# --- medication -------------------------------------------------------------------------------


def test_dmd_code_in_the_catalogue() -> None:
    rx = _with_dmd(
        OXY_40_MR,
        timing={"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
        doseAndRate=_tablets(),
    )
    assert rx.dmd_code == OXY_40_MR
    assert rx.drug is None  # filled from the catalogue by the calculator
    # 40 mg x 1 x 2/day = 80 mg x 1.5 = 120
    assert calculate_ome([rx]).total_mg_per_day == 120


def test_dmd_system_url_is_accepted() -> None:
    data = request()
    data["medicationCodeableConcept"] = {
        "coding": [{"system": "https://dmd.nhs.uk", "code": OXY_40_MR}]
    }
    assert from_medication_request(data).dmd_code == OXY_40_MR


def test_rxnorm_display_gives_drug_strength_form() -> None:
    rx = _read(
        timing={"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
        doseAndRate=_tablets(2),
    )
    assert (rx.drug, rx.strength, rx.form) == ("oxycodone", "10 mg", "tablet")
    # 10 mg x 2 tablets x 2/day = 40 mg x 1.5 = 60
    assert calculate_ome([rx]).total_mg_per_day == 60


@pytest.mark.parametrize(
    ("name", "drug", "strength", "form"),
    [
        (
            "oxycodone hydrochloride 60 MG 12 HR Extended Release Oral Tablet",
            "oxycodone",
            "60 mg",
            "modified-release tablet",
        ),
        (
            "72 HR Fentanyl 0.075 MG/HR Transdermal System",
            "fentanyl",
            "0.075 mg/hour",
            "transdermal patch",
        ),
        ("Oxycodone Hydrochloride 10 MG Oral Tablet", "oxycodone", "10 mg", "tablet"),
        ("Morphine Sulfate 2 MG/ML Oral Solution", "morphine", "2 mg/mL", "oral solution"),
        (
            "24 HR morphine sulfate 30 MG Extended Release Oral Capsule",
            "morphine",
            "30 mg",
            "modified-release capsule",
        ),
        (
            "Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet",
            "paracetamol/oxycodone",
            "325 mg/5 mg",
            "tablet",
        ),
        (
            "oxycodone hydrochloride 10 MG 12 HR Extended Release Oral Tablet [OxyContin]",
            "oxycodone",
            "10 mg",
            "modified-release tablet",
        ),
        ("tramadol hydrochloride 50 MG Oral Tablet", "tramadol", "50 mg", "tablet"),
    ],
)
def test_parse_rxnorm_name(name: str, drug: str, strength: str, form: str) -> None:
    product = parse_rxnorm_name(name)
    assert (product.drug, product.strength, product.form) == (drug, strength, form)


def test_rxnorm_combination_end_to_end() -> None:
    data = request(
        timing={"repeat": {"frequency": 1, "period": 6, "periodUnit": "h"}},
        doseAndRate=_tablets(2),
    )
    data["medicationCodeableConcept"]["coding"][0]["display"] = (
        "Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet"
    )
    data["medicationCodeableConcept"]["coding"][0]["code"] = "1049221"  # that product's RXCUI
    rx = from_medication_request(data)
    # oxycodone 5 mg x 2 tablets x 24/6 = 40 mg/day x 1.5 (CDC 2022) = 60; paracetamol no OME
    assert calculate_ome([rx], table="cdc-2022").total_mg_per_day == 60


def test_rxnorm_ingredient_code_with_a_dose_in_mg_and_a_route() -> None:
    data = request(
        timing={"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}},
        doseAndRate=[{"doseQuantity": {"value": 5, "unit": "mg", "system": UCUM, "code": "mg"}}],
        route={"text": "Oral"},
    )
    data["medicationCodeableConcept"] = {
        "coding": [
            {"system": "http://www.whocc.no/atc", "code": "N02AA05"},  # not read
            {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "7804"},
        ],
        "text": "OXYCODONE 5 MG TABLET",  # not read
    }
    rx = from_medication_request(data)
    assert (rx.drug, rx.route, rx.form, rx.strength) == ("oxycodone", "oral", None, None)
    # 5 mg x 3/day = 15 mg x 1.5 = 22.5
    assert calculate_ome([rx]).total_mg_per_day == Decimal("22.5")


# --- dose -------------------------------------------------------------------------------------


def test_dose_range_and_frequency_max() -> None:
    rx = _read(
        timing={"repeat": {"frequency": 1, "frequencyMax": 4, "period": 1, "periodUnit": "d"}},
        doseAndRate=[
            {
                "doseRange": {
                    "low": {"value": 1, "unit": "tablet"},
                    "high": {"value": 2, "unit": "tablets"},
                }
            }
        ],
        asNeededBoolean=True,
    )
    assert (rx.dose_quantity, rx.dose_quantity_max, rx.dose_unit) == (
        Decimal(1),
        Decimal(2),
        "tablet",
    )
    assert (rx.doses_per_day, rx.doses_per_day_max, rx.prn) == (Decimal(1), Decimal(4), True)


def test_dose_units_from_codes() -> None:
    snomed_tablet = {"value": 1, "unit": "tablet", "system": SCT, "code": "428673006"}
    rx = _read(
        timing={"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
        doseAndRate=[{"doseQuantity": snomed_tablet}],
    )
    assert rx.dose_unit == "tablet"
    ucum_ug = {"value": 500, "unit": "MICROGRAM", "system": UCUM, "code": "ug"}
    rx = _read(
        timing={"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
        doseAndRate=[{"doseQuantity": ucum_ug}],
    )
    assert rx.dose_unit == "microgram"  # the code wins; "MICROGRAM" is not on the allow-list
    ucum_tab = {"value": 1, "system": UCUM, "code": "{tablets}"}
    rx = _read(
        timing={"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
        doseAndRate=[{"doseQuantity": ucum_tab}],
    )
    assert rx.dose_unit == "tablet"


def test_ordered_dose_is_chosen_among_several() -> None:
    ordered = {"coding": [{"code": "ordered"}]}
    calculated = {"coding": [{"code": "calculated"}]}
    rx = _read(
        timing={"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
        doseAndRate=[
            {"type": calculated, "doseQuantity": {"value": 10, "unit": "mg"}},
            {"type": ordered, "doseQuantity": {"value": 1, "unit": "tablet"}},
        ],
    )
    assert (rx.dose_quantity, rx.dose_unit) == (Decimal(1), "tablet")


# --- timing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("repeat", "per_day", "per_day_max", "hours", "hours_max"),
    [
        ({"frequency": 2, "period": 1, "periodUnit": "d"}, 2, None, None, None),
        ({"frequency": 1, "period": 12, "periodUnit": "h"}, None, None, 12, None),
        ({"frequency": 2, "period": 12, "periodUnit": "h"}, None, None, 6, None),
        # every 4-6 hours: shortest interval 4, longest 6
        ({"frequency": 1, "period": 4, "periodMax": 6, "periodUnit": "h"}, None, None, 4, 6),
        # 1-2 times every 12 hours: every 6 to 12 hours
        ({"frequency": 1, "frequencyMax": 2, "period": 12, "periodUnit": "h"}, None, None, 6, 12),
        ({"frequency": 1, "period": 3, "periodUnit": "d"}, None, None, 72, None),
        ({"frequency": 2, "period": 1, "periodUnit": "wk"}, None, None, 84, None),
        ({"timeOfDay": ["08:00:00", "20:00:00"]}, 2, None, None, None),
        ({"when": ["MORN", "NIGHT"]}, 2, None, None, None),
        # timeOfDay agreeing with frequency per day
        (
            {"frequency": 2, "period": 1, "periodUnit": "d", "timeOfDay": ["08:00:00", "20:00:00"]},
            2,
            None,
            None,
            None,
        ),
    ],
)
def test_timing_repeat(
    repeat: dict[str, Any],
    per_day: int | None,
    per_day_max: int | None,
    hours: int | None,
    hours_max: int | None,
) -> None:
    rx = _read(timing={"repeat": repeat}, doseAndRate=_tablets())
    assert rx.doses_per_day == (None if per_day is None else Decimal(per_day))
    assert rx.doses_per_day_max == (None if per_day_max is None else Decimal(per_day_max))
    assert rx.interval_hours == (None if hours is None else Decimal(hours))
    assert rx.interval_hours_max == (None if hours_max is None else Decimal(hours_max))


@pytest.mark.parametrize(
    ("code", "per_day", "hours"), [("BID", 2, None), ("QID", 4, None), ("Q4H", None, 4)]
)
def test_timing_code(code: str, per_day: int | None, hours: int | None) -> None:
    system = "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation"
    rx = _read(
        timing={"code": {"coding": [{"system": system, "code": code}]}}, doseAndRate=_tablets()
    )
    assert rx.doses_per_day == (None if per_day is None else Decimal(per_day))
    assert rx.interval_hours == (None if hours is None else Decimal(hours))


def test_repeat_wins_over_timing_code() -> None:
    system = "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation"
    rx = _read(
        timing={
            "repeat": {"frequency": 3, "period": 1, "periodUnit": "d"},
            "code": {"coding": [{"system": system, "code": "TID"}]},
        },
        doseAndRate=_tablets(),
    )
    assert rx.doses_per_day == Decimal(3)


def test_as_needed_codeable_concept_is_prn() -> None:
    rx = _read(
        timing={"repeat": {"frequency": 4, "period": 1, "periodUnit": "d"}},
        doseAndRate=_tablets(),
        asNeededCodeableConcept={"text": "pain"},
    )
    assert rx.prn


def test_prn_without_frequency_is_read_and_reported_by_the_calculator() -> None:
    rx = _read(doseAndRate=_tablets(), asNeededBoolean=True)
    assert rx.prn
    result = calculate_ome([rx])
    assert not result.complete  # the maximum daily amount is unknown: not guessed


@pytest.mark.parametrize(
    ("denominator", "per_day"),
    [
        ({"value": 24, "unit": "hour", "system": UCUM, "code": "h"}, 8),
        ({"value": 1, "unit": "day"}, 8),
        ({"value": 12, "unit": "hours"}, 16),
    ],
)
def test_max_dose_per_period(denominator: dict[str, Any], per_day: int) -> None:
    rx = _read(
        timing={"repeat": {"frequency": 1, "period": 4, "periodUnit": "h"}},
        doseAndRate=_tablets(2),
        asNeededBoolean=True,
        maxDosePerPeriod={"numerator": {"value": 8, "unit": "tablets"}, "denominator": denominator},
    )
    assert rx.max_quantity_per_day == Decimal(per_day)


def test_max_caps_the_prn_daily_amount() -> None:
    rx = _read(
        timing={"repeat": {"frequency": 1, "period": 4, "periodUnit": "h"}},
        doseAndRate=_tablets(2),
        asNeededBoolean=True,
        maxDosePerPeriod={
            "numerator": {"value": 8, "unit": "tablet"},
            "denominator": {"value": 24, "unit": "h"},
        },
    )
    # 2 tablets every 4 h = 12 tablets/day, capped at 8: 8 x 10 mg = 80 mg x 1.5 = 120
    assert calculate_ome([rx]).total_mg_per_day == 120


def test_patch_needs_no_timing() -> None:
    rx = _with_dmd(FENTANYL_25, doseAndRate=[{"doseQuantity": {"value": 1, "unit": "patch"}}])
    # 25 microgram/hour x 1 patch x 2.4 = 60
    assert calculate_ome([rx]).total_mg_per_day == 60


def test_structured_dose_wins_over_text() -> None:
    rx = _read(
        text="TWO TO BE TAKEN THREE TIMES A DAY",
        timing={"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
        doseAndRate=_tablets(),
    )
    assert rx.dosage_text is None
    assert (rx.dose_quantity, rx.doses_per_day) == (Decimal(1), Decimal(2))


RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def _with_codings(*codings: dict[str, Any]) -> dict[str, Any]:
    data = request(
        timing={"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
        doseAndRate=[{"doseQuantity": {"value": 10, "unit": "mg"}}],
        route={"coding": [{"system": SCT, "code": "26643006", "display": "Oral route"}]},
    )
    data["medicationCodeableConcept"] = {"coding": list(codings)}
    return data


def test_rxnorm_ingredient_name_in_display_is_read() -> None:
    # RxNorm precise ingredient "morphine sulfate": the ingredient, no strength or form
    rx = from_medication_request(
        _with_codings({"system": RXNORM, "code": "30236", "display": "morphine sulfate"})
    )
    assert (rx.drug, rx.route) == ("morphine", "oral")
    # 10 mg x 2/day = 20 mg x 1 = 20
    assert calculate_ome([rx]).total_mg_per_day == 20


def test_codings_that_disagree_are_refused() -> None:
    data = _with_codings(
        {"system": RXNORM, "code": "30236", "display": "morphine sulfate"},
        {"system": RXNORM, "code": "1", "display": "oxycodone hydrochloride 10 MG Oral Tablet"},
    )
    with pytest.raises(InvalidInputError) as info:
        from_medication_request(data)
    assert info.value.field == "medicationCodeableConcept.coding[0]"


def test_an_unreadable_alternative_coding_is_not_needed() -> None:
    # a pack name is not read, but the other coding of the same concept is
    data = _with_codings(
        {"system": RXNORM, "code": "2", "display": "{60 (oxycodone 10 MG Oral Tablet) } Pack"},
        {"system": RXNORM, "code": "7804"},
    )
    assert from_medication_request(data).drug == "oxycodone"


def test_an_unreadable_coding_alone_is_an_error_naming_it() -> None:
    data = _with_codings({"system": RXNORM, "code": "2", "display": "Oxycodone Oral Wafer"})
    with pytest.raises(InvalidInputError) as info:
        from_medication_request(data)
    assert info.value.field == "medicationCodeableConcept.coding[0].display"


def test_ingredient_code_with_a_count_dose_needs_a_product() -> None:
    data = _with_codings({"system": RXNORM, "code": "7804"})
    data["dosageInstruction"][0]["doseAndRate"] = _tablets()
    with pytest.raises(InvalidInputError) as info:
        from_medication_request(data)
    # no strength is known for "1 tablet" of an ingredient: named at the coding
    assert info.value.field == "medicationCodeableConcept.coding[0]"


def test_computed_numbers_are_plain() -> None:
    rx = _read(
        timing={"repeat": {"frequency": 1, "period": 1, "periodUnit": "wk"}}, doseAndRate=_tablets()
    )
    assert str(rx.interval_hours) == "168"  # not 1.68E+2


def test_unit_spellings_of_the_same_unit_agree() -> None:
    milligrams = {"value": 5, "unit": "milligrams", "system": UCUM, "code": "mg"}
    rx = _read(
        timing={"repeat": {"frequency": 1, "period": 4, "periodUnit": "h"}},
        doseAndRate=[{"doseQuantity": milligrams}],
        asNeededBoolean=True,
        maxDosePerPeriod={
            "numerator": {"value": 30, "unit": "mg"},
            "denominator": {"value": 24, "unit": "h"},
        },
    )
    assert (rx.dose_unit, rx.max_quantity_per_day) == ("mg", Decimal(30))
    # 5 mg every 4 h = 30 mg/day, the cap is the same: 30 x 1.5 = 45
    assert calculate_ome([rx]).total_mg_per_day == 45


def test_unit_text_contradicting_the_code_is_refused() -> None:
    wrong = {"value": 5, "unit": "mL", "system": UCUM, "code": "mg"}
    with pytest.raises(InvalidInputError) as info:
        _read(
            timing={"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
            doseAndRate=[{"doseQuantity": wrong}],
        )
    assert info.value.field == "dosageInstruction[0].doseAndRate[0].doseQuantity.unit"


def test_when_must_agree_with_frequency() -> None:
    rx = _read(
        timing={"repeat": {"frequency": 1, "period": 1, "periodUnit": "d", "when": ["HS"]}},
        doseAndRate=_tablets(),
    )
    assert rx.doses_per_day == Decimal(1)
    with pytest.raises(InvalidInputError) as info:
        _read(
            timing={"repeat": {"frequency": 3, "period": 1, "periodUnit": "d", "when": ["HS"]}},
            doseAndRate=_tablets(),
        )
    assert info.value.field == "dosageInstruction[0].timing.repeat.when"
