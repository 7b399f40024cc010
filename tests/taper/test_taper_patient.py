"""taper_plan_for_patient: out-of-scope patients get no plan, with the scope ruleset's reason
(rules/scope.toml; docs/risk-and-tiers.md, "Scope")."""

from __future__ import annotations

import datetime as dt

import pytest

from opioidcds import InvalidInputError, Patient, Prescription, taper_plan, taper_plan_for_patient
from opioidcds._decide.taper import PlanStatus

START = dt.date(2027, 1, 4)
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
    doses_per_day=1,
)  # fmt: skip


def test_in_scope_patient_gets_the_plan() -> None:
    patient = Patient(age=55, prescriptions=(OXY,))
    plan = taper_plan_for_patient(patient, start=START)
    assert plan.status is PlanStatus.PLANNED
    assert plan.scope_rule is not None
    expected = taper_plan([OXY], start=START)
    assert plan.steps == expected.steps  # the same plan: 120 -> ... -> 0 in 9 steps
    assert len(plan.steps) == 10


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"cancer_pain": True}, "cancer"),
        ({"palliative_care": True}, "alliative"),
        ({"opioid_substitution_therapy": True}, "substitution"),
        ({"age": 16}, "18"),
    ],
)
def test_out_of_scope_patients_get_no_plan_with_the_reason(
    fields: dict[str, object], words: str
) -> None:
    patient = Patient.model_validate({"age": 55, "prescriptions": (OXY,)} | fields)
    plan = taper_plan_for_patient(patient, start=START)
    assert plan.status is PlanStatus.OUT_OF_SCOPE
    assert plan.steps == ()
    assert plan.reason is not None
    assert words in plan.reason
    assert plan.scope_rule is not None


def test_no_current_opioid_is_out_of_scope() -> None:
    plan = taper_plan_for_patient(Patient(age=55, prescriptions=(DIAZEPAM,)), start=START)
    assert plan.status is PlanStatus.OUT_OF_SCOPE
    assert plan.reason is not None


def test_non_opioids_of_the_patient_are_listed_not_planned() -> None:
    plan = taper_plan_for_patient(Patient(age=55, prescriptions=(DIAZEPAM, OXY)), start=START)
    assert plan.status is PlanStatus.PLANNED
    assert [(n.prescription_index, n.opioid) for n in plan.not_planned] == [(0, False)]
    assert "benzodiazepine" in plan.not_planned[0].reason


def test_not_a_patient() -> None:
    with pytest.raises(InvalidInputError):
        taper_plan_for_patient(OXY, start=START)  # type: ignore[arg-type]
