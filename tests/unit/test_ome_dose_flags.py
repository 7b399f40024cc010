"""``dose_unknown`` and ``dose_is_minimum``: saying what is not known instead of guessing.

A current opioid whose dose cannot be stated, or a dose that is only the least the patient
takes, must make the total a lower bound, so a threshold the lower bound does not reach is
"unknown", never "no" (fail closed; hazard HAZ-008, silent omission). Factors from
conversion_tables/uk-opioids-aware.toml: oxycodone oral 1.5 per mg, fentanyl transdermal 2.4
per microgram/hour (Opioids Aware; "25 microgram/hour = 60 mg OME/day").
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from opioidcds import (
    FactorStatus,
    InvalidInputError,
    ItemStatus,
    Patient,
    Prescription,
    assess,
    calculate_ome,
)

FENTANYL_25 = "10724711000001109"  # Fentanyl 25micrograms/hour transdermal patches (AMP)
OXY_MR_40 = Prescription(
    drug="oxycodone",
    form="modified-release tablet",
    strength="40 mg",
    dose_quantity=1,
    dose_unit="tablet",
    doses_per_day=2,
)  # 40 mg x 1 x 2/day = 80 mg/day x 1.5 = 120 mg OME/day


def test_dose_unknown_is_listed_not_counted_and_the_total_is_a_lower_bound() -> None:
    result = calculate_ome([OXY_MR_40, Prescription(dmd_code=FENTANYL_25, dose_unknown=True)])
    assert result.total_mg_per_day == Decimal(120)  # oxycodone only
    assert result.complete is False
    item = result.items[1]
    assert item.status is ItemStatus.NOT_CONVERTIBLE
    assert item.ome_mg_per_day is None
    assert item.reason is not None
    assert "not known" in item.reason


def test_dose_is_minimum_is_counted_and_the_total_is_a_lower_bound() -> None:
    rx = Prescription(
        dmd_code=FENTANYL_25, dose_quantity=1, dose_unit="patch", dose_is_minimum=True
    )
    result = calculate_ome([rx])
    # 25 microgram/hour x 1 patch = 25 microgram/hour x 2.4 = 60 mg OME/day
    assert result.total_mg_per_day == Decimal(60)
    assert result.complete is False
    note = result.items[0].policy_note
    assert note is not None
    assert "lower bound" in note
    # the same dose without the flag is complete
    plain = calculate_ome([rx.model_copy(update={"dose_is_minimum": False})])
    assert plain.total_mg_per_day == Decimal(60)
    assert plain.complete is True


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"dose_quantity": 1, "dose_unit": "patch"}, "dose_unknown"),
        ({"dosage_text": "apply one patch every 72 hours"}, "dose_unknown"),
        ({"dose_is_minimum": True}, "dose_is_minimum"),
    ],
)
def test_dose_unknown_with_a_dose_is_an_input_error(fields: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        Prescription(dmd_code=FENTANYL_25, dose_unknown=True, **fields)
    assert caught.value.field == field


def test_high_dose_is_unknown_not_absent_when_a_dose_is_unknown() -> None:
    # Complete 120 mg OME/day is not above the high-dose threshold (> 120, rules/risk-factors
    # .toml "high-dose"): absent. With a second opioid of unknown dose the 120 is a lower
    # bound that does not exceed the threshold: unknown (the rule's rationale says so).
    as_of = dt.date(2026, 11, 1)
    complete = assess(Patient(age=50, sex="female", prescriptions=(OXY_MR_40,), as_of=as_of))
    assert complete.factor("high-dose").status is FactorStatus.ABSENT
    unknown_dose = Prescription(dmd_code=FENTANYL_25, dose_unknown=True)
    partial = assess(
        Patient(age=50, sex="female", prescriptions=(OXY_MR_40, unknown_dose), as_of=as_of)
    )
    assert partial.factor("high-dose").status is FactorStatus.UNKNOWN
