"""The Patient model: tri-state inputs, derived co-prescription, contradictions, no echo."""

from __future__ import annotations

import datetime as dt

import pytest

from opioidcds import InvalidInputError, IssueRecord, Patient, Prescription, Sex

OXY = Prescription(
    drug="oxycodone",
    form="modified-release tablet",
    strength="40 mg",
    dose_quantity=1,
    dose_unit="tablet",
    doses_per_day=2,
)
DIAZEPAM = Prescription(
    drug="diazepam", form="tablet", strength="5 mg", dose_quantity=1, dose_unit="tablet",
    doses_per_day=2,
)  # fmt: skip
PREGABALIN = Prescription(
    drug="pregabalin", form="capsule", strength="75 mg", dose_quantity=1, dose_unit="capsule",
    doses_per_day=2,
)  # fmt: skip
METHADONE_OST = Prescription(
    drug="methadone", form="oral solution", strength="1 mg/mL", dose_quantity=30,
    dose_unit="mL", doses_per_day=1,
)  # fmt: skip


def test_defaults_are_unknown_not_absent() -> None:
    p = Patient()
    assert p.age is None
    assert p.sex is Sex.UNKNOWN
    assert p.depression is None
    assert p.benzodiazepine is None
    assert p.gabapentinoid is None
    assert p.cancer_pain is False
    assert p.prescription_history is None


def test_benzodiazepine_derived_from_prescriptions() -> None:
    p = Patient(prescriptions=(OXY, DIAZEPAM))
    assert p.benzodiazepine is True  # derived true wins over stated unknown
    assert p.opioid_candidates == (OXY,)  # diazepam is not counted for OME


def test_stated_true_wins_and_stated_false_stands_without_a_benzodiazepine() -> None:
    assert Patient(benzodiazepine_coprescribed=True).benzodiazepine is True
    assert Patient(prescriptions=(OXY,), benzodiazepine_coprescribed=False).benzodiazepine is False


def test_stated_false_with_a_derived_benzodiazepine_is_a_contradiction() -> None:
    with pytest.raises(InvalidInputError) as err:
        Patient(prescriptions=(OXY, DIAZEPAM), benzodiazepine_coprescribed=False)
    assert "benzodiazepine_coprescribed" in str(err.value)
    assert "diazepam" not in str(err.value).lower()  # never echoes the record


def test_gabapentinoid_derived_and_contradiction() -> None:
    assert Patient(prescriptions=(PREGABALIN,)).gabapentinoid is True
    with pytest.raises(InvalidInputError):
        Patient(prescriptions=(PREGABALIN,), gabapentinoid_coprescribed=False)


def test_ost_derived_but_stated_false_wins() -> None:
    assert Patient(prescriptions=(METHADONE_OST,)).on_opioid_substitution_therapy is True
    stated = Patient(prescriptions=(METHADONE_OST,), opioid_substitution_therapy=False)
    assert stated.on_opioid_substitution_therapy is False


@pytest.mark.parametrize(
    "data",
    [
        {"age": -1},
        {"age": 126},
        {"age": "70"},
        {"age": True},
        {"sex": "M"},
        {"depression": "yes"},
        {"unknown_field": True},
        {"readiness_to_change": "maybe"},
    ],
)
def test_invalid_input_raises_without_echo(data: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError) as err:
        Patient.model_validate(data)
    for value in data.values():
        if isinstance(value, str) and len(value) > 2:
            assert value not in str(err.value)


def test_history_dates_and_as_of() -> None:
    rec = IssueRecord(issue_date=dt.date(2026, 1, 1), drug="oxycodone", days_supply=28)
    p = Patient(prescription_history=(rec,))
    assert p.assessment_date == dt.date(2026, 1, 1)  # default: latest issue date
    with pytest.raises(InvalidInputError) as err:
        Patient(prescription_history=(rec,), as_of=dt.date(2025, 12, 31))
    assert err.value.field.startswith("as_of") or "as_of" in str(err.value)
    with pytest.raises(InvalidInputError):
        IssueRecord(issue_date=dt.date(2026, 1, 1))  # no medicine named
    with pytest.raises(InvalidInputError):
        IssueRecord(issue_date=dt.date(2026, 1, 1), drug="oxycodone", days_supply=0)


def test_patient_is_frozen_and_json_round_trips() -> None:
    p = Patient(age=70, sex="male", prescriptions=(OXY, DIAZEPAM))
    with pytest.raises(Exception):  # noqa: B017, PT011 - pydantic's frozen-instance error
        p.age = 71  # type: ignore[misc]
    again = Patient.model_validate_json(p.model_dump_json())
    assert again == p
    assert again.benzodiazepine is True


def test_ae_attendance_after_the_assessment_date_is_refused() -> None:
    rec = IssueRecord(issue_date=dt.date(2026, 1, 1), drug="oxycodone")
    with pytest.raises(InvalidInputError) as err:
        Patient(prescription_history=(rec,), last_ae_attendance=dt.date(2026, 1, 2))
    assert "last_ae_attendance" in str(err.value)


def test_implausible_dates_are_refused() -> None:
    with pytest.raises(InvalidInputError):
        Patient(last_ae_attendance=dt.date(1, 1, 1))
    rec = IssueRecord(issue_date=dt.date(1850, 1, 1), drug="codeine")
    with pytest.raises(InvalidInputError):
        Patient(prescription_history=(rec,))
