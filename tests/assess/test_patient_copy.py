"""A patient copied with ``model_copy(update=...)`` is read by what the copy holds.

pydantic's own ``model_copy(update=...)`` skips validation, and a patient keeps the values it
derives from its prescriptions (their classes, the co-prescriptions, the medicines counted):
a copy given other prescriptions was checked with the old ones'. ``Patient.model_copy``
validates an update anew.
"""

from __future__ import annotations

import pytest

from opioidcds import InvalidInputError, Patient, Prescription, check_prescription


def _morphine(tablets: int, per_day: int) -> Prescription:
    """Morphine sulfate 10 mg oral tablets (Opioids Aware: oral morphine, factor 1)."""
    return Prescription(
        drug="morphine", form="tablet", strength="10 mg", dose_quantity=tablets,
        dose_unit="tablet", doses_per_day=per_day,
    )  # fmt: skip


NEW = _morphine(1, 1)  # 10 mg x 1 x 1 = 10 mg OME/day


def test_a_copy_with_other_prescriptions_is_checked_with_them() -> None:
    # The original: 10 mg x 1 x 1 = 10 mg OME/day; with NEW 20 mg: under the 100 mg alert.
    before = Patient(age=60, sex="female", prescriptions=(_morphine(1, 1),))
    assert not [
        a for a in check_prescription(before, NEW) if a.id == "script-switch-above-threshold"
    ]
    # The copy: 10 mg x 3 x 4 = 120 mg OME/day; with NEW 130 mg: above the 100 mg alert.
    copy = before.model_copy(update={"prescriptions": (_morphine(3, 4),)})
    (alert,) = [a for a in check_prescription(copy, NEW) if a.id == "script-switch-above-threshold"]
    assert "Total 130 mg OME/day with this prescription; 120 mg OME/day before." in alert.detail
    assert copy.prescriptions == (_morphine(3, 4),)
    assert copy.age == 60


def test_a_copy_with_a_bad_or_unknown_field_is_refused() -> None:
    patient = Patient(age=60, sex="female")
    with pytest.raises(InvalidInputError, match="age"):
        patient.model_copy(update={"age": -1})
    with pytest.raises(InvalidInputError, match="not_a_field"):
        patient.model_copy(update={"not_a_field": True})


def test_a_copy_without_an_update_is_the_same_patient() -> None:
    patient = Patient(age=60, sex="female", prescriptions=(_morphine(3, 4),))
    for copy in (patient.model_copy(), patient.model_copy(deep=True)):
        assert copy == patient
        assert [a.id for a in check_prescription(copy, NEW)] == [
            a.id for a in check_prescription(patient, NEW)
        ]
