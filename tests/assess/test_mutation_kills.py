"""Assessment checks that kill mutants which survived the other tests (docs/safety/mutation.md).

Each test names the mutmut mutant it kills; expectations are worked by hand (UK Opioids Aware
factors: morphine 1, oxycodone 1.5; rules/prescribing-alerts.toml: Script Switch above 100 mg
OME/day).
"""

from __future__ import annotations

import pytest

from opioidcds import InvalidInputError, Patient, Prescription, check_prescription, load_knowledge

KNOWN = {"medication_list_complete": True}


def _mr(drug: str, mg: int) -> Prescription:
    return Prescription(
        drug=drug,
        form="modified-release tablet",
        strength=f"{mg} mg",
        dose_quantity=1,
        dose_unit="tablet",
        doses_per_day=2,
    )


def test_bad_arguments_name_their_field() -> None:
    """check_prescription mutants 7, 17 and _backend mutant 7: the error names the field."""
    with pytest.raises(InvalidInputError) as err:
        check_prescription("patient", _mr("morphine", 10))  # type: ignore[arg-type]
    assert err.value.field == "patient"
    with pytest.raises(InvalidInputError) as err:
        check_prescription(Patient(), {"drug": "morphine"})  # type: ignore[arg-type]
    assert err.value.field == "new_prescription"
    with pytest.raises(InvalidInputError) as err:
        check_prescription(Patient(), _mr("morphine", 10), backend="fast")
    assert err.value.field == "backend"


def test_alert_detail_is_text_figures_and_thresholds() -> None:
    """opioidcds.assess.x__alert_detail__mutmut_7: the three parts joined by single spaces.

    morphine 30 mg x 2 = 60 mg OME/day before; oxycodone 20 mg x 2 x 1.5 = 60; total 120 > 100.
    (The step 60 -> 120 is also a large increase, issue 15: that alert follows.)
    """
    patient = Patient(prescriptions=(_mr("morphine", 30),), **KNOWN)
    alert, escalation = check_prescription(patient, _mr("oxycodone", 20))
    assert escalation.id == "dose-escalation"
    assert alert.detail == (
        "Higher doses carry more risk of harm without more benefit in chronic non-cancer pain. "
        "Script Switch asked the prescriber to complete a risk assessment and talk with the "
        "patient about side effects, risks and benefits. "
        "Total 120 mg OME/day with this prescription; 60 mg OME/day before. "
        "Thresholds: Script Switch alert above 100 mg/day."
    )


def test_durable_backend_of_fresh_knowledge() -> None:
    """opioidcds.assess.xǁKnowledgeǁdurable__mutmut_7: a new Knowledge compiles its own backend.

    (The shared default knowledge compiles once and keeps it, so only fresh knowledge runs the
    compilation.) Same patient as above: Script Switch fires on both engines.
    """
    patient = Patient(prescriptions=(_mr("morphine", 30),), **KNOWN)
    knowledge = load_knowledge()
    ids = {
        backend: [
            a.id
            for a in check_prescription(
                patient, _mr("oxycodone", 20), knowledge=knowledge, backend=backend
            )
        ]
        for backend in ("reference", "durable")
    }
    both = ["script-switch-above-threshold", "dose-escalation"]  # 60 -> 120: +60 mg, +100%
    assert ids == {"reference": both, "durable": both}
