"""The prescribing check does not depend on the caller's decimal context (review, issue 20).

A host application may lower the precision of its current :mod:`decimal` context for its own
work. The check's totals, increases and percentages, and the figures it writes for people, are
computed in fixed contexts: the same alerts, wording and traces at 3 digits as at Python's
default 28. At 3 digits the check summed 60 + 30.03 to 90.0 and missed the dose-escalation
alert.
"""

from __future__ import annotations

import decimal
from decimal import Decimal

import pytest

from opioidcds import Patient, Prescription, calculate_ome, check_prescription


def _morphine(strength: str, **dose: object) -> Prescription:
    fields = {"drug": "morphine", "form": "tablet", "strength": strength, **dose}
    return Prescription(**fields, dose_quantity=1, dose_unit="tablet")


# oral morphine counts 1:1 (conversion_tables, oral morphine factor 1):
# current: 20 mg x 3 a day = 60 mg OME/day
PATIENT = Patient(
    prescriptions=(_morphine("20 mg", doses_per_day=3),),
    benzodiazepine_coprescribed=False,
    gabapentinoid_coprescribed=False,
    z_drug_coprescribed=False,
)
# new: 10.01 mg x 3 a day = 30.03 mg OME/day; after 90.03; increase 30.03 mg (> 30) and
# 30.03 / 60 = 50.05% (> 20%): the dose-escalation alert of rules/prescribing-alerts.toml
NEW = _morphine("10.01 mg", doses_per_day=3)
# 10 mg every 72 hours = 10 x 24 / 72 = 3.333... mg OME/day: a total that needs rounding
NEW_INEXACT = _morphine("10 mg", interval_hours=Decimal(72))


# the co-prescriptions not recorded: "alerts-not-evaluated" shows the total (~63.33)
UNRECORDED = Patient(prescriptions=PATIENT.prescriptions)


def _shown(patient: Patient, new: Prescription) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(a.id, a.detail, a.trace) for a in check_prescription(patient, new)]


@pytest.mark.parametrize(("patient", "new"), [(PATIENT, NEW), (UNRECORDED, NEW_INEXACT)])
def test_the_check_is_the_same_whatever_the_callers_precision(
    patient: Patient, new: Prescription
) -> None:
    expected = _shown(patient, new)
    assert expected  # an alert to compare
    with decimal.localcontext() as ctx:
        ctx.prec = 3
        got = _shown(patient, new)
    assert got == expected


def test_the_escalation_is_found_at_a_low_caller_precision() -> None:
    with decimal.localcontext() as ctx:
        ctx.prec = 3
        alerts = check_prescription(PATIENT, NEW)
        ids = [a.id for a in alerts]
        detail = alerts[0].detail if alerts else ""
    assert ids == ["dose-escalation"]
    assert "Total 90.03 mg OME/day with this prescription; 60 mg OME/day before." in detail


def test_the_calculator_is_the_same_whatever_the_callers_precision() -> None:
    rxs = [*PATIENT.prescriptions, NEW_INEXACT]
    expected = calculate_ome(rxs).model_dump_json()
    with decimal.localcontext() as ctx:
        ctx.prec = 3
        got = calculate_ome(rxs).model_dump_json()
    assert got == expected
