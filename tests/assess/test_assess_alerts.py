"""Hand-worked prescribing alerts (rules/prescribing-alerts.toml).

Thresholds: Script Switch > 100 mg OME/day (new opioid), re-authorisation > 100, reminder when
the total first goes above 120. Factors: morphine 1, oxycodone 1.5, fentanyl patch 2.4 per
microgram/hour (UK Opioids Aware table).
"""

from __future__ import annotations

import pytest

from opioidcds import (
    AlertSeverity,
    InvalidInputError,
    Knowledge,
    Patient,
    Prescription,
    check_prescription,
    default_knowledge,
    load_knowledge,
)
from opioidcds._knowledge.paths import knowledge_dir


def morphine_mr(mg: int) -> Prescription:
    return Prescription(
        drug="morphine",
        form="modified-release tablet",
        strength=f"{mg} mg",
        dose_quantity=1,
        dose_unit="tablet",
        doses_per_day=2,
    )


def oxycodone_mr(mg: int) -> Prescription:
    return Prescription(
        drug="oxycodone",
        form="modified-release tablet",
        strength=f"{mg} mg",
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
PARACETAMOL = Prescription(
    drug="paracetamol", form="tablet", strength="500 mg", dose_quantity=2, dose_unit="tablet",
    doses_per_day=4,
)  # fmt: skip
FENTANYL_12 = Prescription(
    drug="fentanyl", form="transdermal patch", strength="12 microgram/hour", dose_quantity=1,
    dose_unit="patch", interval_hours=72,
)  # fmt: skip
METHADONE_TABLET = Prescription(
    drug="methadone", form="tablet", strength="5 mg", dose_quantity=1, dose_unit="tablet",
    doses_per_day=2,
)  # fmt: skip
KNOWN = {"medication_list_complete": True}  # the list given is the whole list (issue 15)


def ids(patient: Patient, new: Prescription, *, reauthorisation: bool = False) -> list[str]:
    return [a.id for a in check_prescription(patient, new, reauthorisation=reauthorisation)]


def test_script_switch_above_100() -> None:
    # before: morphine 30 mg x 2 = 60 mg OME/day; new oxycodone 20 mg x 2 = 40 x 1.5 = 60;
    # after 120 > 100 -> Script Switch. 120 is not > 120 -> no reminder. The step 60 -> 120 is
    # +60 mg (> 30) and +100% (> 20%): dose escalation too (issue 15, item 4).
    patient = Patient(prescriptions=(morphine_mr(30),), **KNOWN)
    alerts = check_prescription(patient, oxycodone_mr(20))
    assert [a.id for a in alerts] == ["script-switch-above-threshold", "dose-escalation"]
    alert = alerts[0]
    assert alert.severity is AlertSeverity.WARNING
    assert len(alert.summary) < 140
    assert "Total 120 mg OME/day with this prescription; 60 mg OME/day before." in alert.detail
    assert alert.citations
    assert alert.actions
    assert any("alert_threshold_mg_per_day=100" in line for line in alert.trace)


def test_exactly_100_is_not_above() -> None:
    # morphine 40 x 2 = 80 + new morphine 10 x 2 = 20 -> 100, not > 100: no alert. The step
    # 80 -> 100 is +20 mg (not > 30) and +25%: not a large increase either.
    patient = Patient(prescriptions=(morphine_mr(40),), **KNOWN)
    assert ids(patient, morphine_mr(10)) == []


def test_reaching_high_dose_reminds_to_check_risk_factors() -> None:
    # before 60; new oxycodone 30 x 2 = 60 x 1.5 = 90; after 150 > 100 and > 120, before 60
    # <= 120 -> Script Switch and the reminder; +90 mg, +150%: dose escalation
    patient = Patient(prescriptions=(morphine_mr(30),), **KNOWN)
    assert ids(patient, oxycodone_mr(30)) == [
        "script-switch-above-threshold",
        "dose-escalation",
        "check-risk-factors",
    ]


def test_reauthorisation_of_high_dose() -> None:
    # oxycodone 40 x 2 x 1.5 = 120 > 100, re-authorised: second Script Switch message only;
    # before = after = 120, so no "reaching high dose" reminder, no new-prescription alert
    rx = oxycodone_mr(40)
    patient = Patient(prescriptions=(rx,), **KNOWN)
    assert ids(patient, rx, reauthorisation=True) == ["reauthorisation-high-dose"]
    # the same item as a new prescription is not counted twice: after 120 > 100 -> Script
    # Switch; 120 is not > 120 -> no reminder
    # (the listed item is "before" only when re-authorised: as a new item, before is 0, so it
    # is also a start with a modified-release product)
    assert ids(patient, rx) == ["script-switch-above-threshold", "start-modified-release-or-patch"]


def test_opioid_with_benzodiazepine_either_way() -> None:
    patient = Patient(prescriptions=(morphine_mr(10),), gabapentinoid_coprescribed=False)
    alerts = check_prescription(patient, DIAZEPAM)
    assert [a.id for a in alerts] == ["opioid-with-benzodiazepine"]
    assert alerts[0].severity is AlertSeverity.CRITICAL
    on_benzo = Patient(prescriptions=(DIAZEPAM,), gabapentinoid_coprescribed=False)
    assert "opioid-with-benzodiazepine" in ids(on_benzo, morphine_mr(10))


def test_opioid_with_gabapentinoid() -> None:
    patient = Patient(prescriptions=(morphine_mr(10),), benzodiazepine_coprescribed=False)
    assert ids(patient, PREGABALIN) == ["opioid-with-gabapentinoid"]


def test_fentanyl_patch_for_opioid_naive() -> None:
    # no current opioid: critical. 12 microgram/hour x 2.4 = 28.8 mg OME/day (no dose alert);
    # and a patch is not for starting opioids (issue 15, item 6)
    naive = Patient(**KNOWN)
    alerts = check_prescription(naive, FENTANYL_12)
    assert [a.id for a in alerts] == [
        "fentanyl-patch-not-opioid-tolerant",
        "start-modified-release-or-patch",
    ]
    assert alerts[0].severity is AlertSeverity.CRITICAL
    # morphine 10 x 2 = 20 mg OME/day before: not opioid tolerant (< 60), so still critical
    # (issue 15, item 4: tolerance, not "any opioid"); 20 -> 48.8 is +28.8 mg (not > 30)
    on_morphine = Patient(prescriptions=(morphine_mr(10),), **KNOWN)
    assert ids(on_morphine, FENTANYL_12) == ["fentanyl-patch-not-opioid-tolerant"]


def test_incomplete_ome() -> None:
    # methadone has no factor in the UK table: total incomplete (lower bound 20)
    patient = Patient(prescriptions=(morphine_mr(10),), **KNOWN)
    # lower bound 20 <= 100 with an incomplete total: Script Switch (and the reminder) cannot
    # be decided, and the result says so
    alerts = check_prescription(patient, METHADONE_TABLET)
    assert [a.id for a in alerts] == ["ome-incomplete", "alerts-not-evaluated"]
    assert "at least 20 mg OME/day (incomplete)" in alerts[0].detail
    assert "script-switch-above-threshold" in alerts[1].not_checked
    assert "Total above the alert threshold (Script Switch)" in alerts[1].detail


def test_non_opioid_new_item_raises_no_opioid_alerts() -> None:
    patient = Patient(prescriptions=(morphine_mr(60),), **KNOWN)  # 120 mg OME/day
    assert ids(patient, PARACETAMOL) == []


def test_unknown_inputs_are_reported_not_silently_passed() -> None:
    # benzodiazepine, z-drug and gabapentinoid status unknown (the list is not said to be
    # complete): those alerts cannot be checked. Re-authorised: not a start.
    rx = morphine_mr(10)
    patient = Patient(prescriptions=(rx,))
    alerts = check_prescription(patient, rx, reauthorisation=True)
    assert [a.id for a in alerts] == ["alerts-not-evaluated"]
    assert alerts[0].severity is AlertSeverity.INFO
    assert {"benzodiazepine_coprescribed", "z_drug_coprescribed"} <= set(alerts[0].unknown_inputs)
    # in words for the prescriber: the rules' titles and what to record
    assert "Opioid with a benzodiazepine" in alerts[0].detail
    assert "record whether a benzodiazepine is co-prescribed" in alerts[0].detail
    assert "whether a z-drug (zopiclone, zolpidem, zaleplon) is co-prescribed" in alerts[0].detail


def test_bad_arguments() -> None:
    with pytest.raises(InvalidInputError):
        check_prescription("patient", morphine_mr(10))  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        check_prescription(Patient(), {"drug": "morphine"})  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        check_prescription(Patient(), morphine_mr(10), backend="fast")


def test_no_dose_threshold_alerts_in_palliative_care_but_safety_alerts_remain() -> None:
    # docs/risk-and-tiers.md, "Scope": palliative care is excluded from dose thresholds. morphine 60
    # x 2 = 120 + oxycodone 30 x 2 x 1.5 = 90 -> 210 > 100, yet no Script Switch; the benzodiazepine
    # alert still fires.
    # (no dose escalation either: it is a dose rule; +90 mg, +75% would otherwise fire)
    patient = Patient(
        palliative_care=True,
        prescriptions=(morphine_mr(60), DIAZEPAM),
        medication_list_complete=True,
    )
    # The dose alerts are not applied, and the check says so and why (prescribing-alerts 2.2.0):
    # 210 > 100 reaches the Script Switch threshold, so the palliative-care info is shown.
    assert ids(patient, oxycodone_mr(30)) == [
        "opioid-with-benzodiazepine",
        "dose-alerts-not-applied-palliative-care",
    ]


def test_dose_alerts_not_applied_name_the_first_recorded_reason() -> None:
    # On morphine MR 30 mg twice a day (60 mg OME/day), oxycodone MR 20 mg twice a day added:
    # 20 x 2 x 1.5 = 60, 60 + 60 = 120 mg OME/day > 100 (Script Switch); +60 mg, +100%.
    on = (morphine_mr(30),)
    # Cancer pain and palliative care both recorded: palliative care is named (the first of the
    # three, _dose_threshold_scope).
    both = Patient(cancer_pain=True, palliative_care=True, prescriptions=on, **KNOWN)
    assert ids(both, oxycodone_mr(20)) == ["dose-alerts-not-applied-palliative-care"]
    cancer = Patient(cancer_pain=True, prescriptions=on, **KNOWN)
    assert ids(cancer, oxycodone_mr(20)) == ["dose-alerts-not-applied-cancer-pain"]
    # Oxycodone MR 5 mg twice a day: 5 x 2 x 1.5 = 15, 60 + 15 = 75 mg OME/day, +15 mg (not
    # above 30): no dose alert reached, so nothing to say.
    assert ids(cancer, oxycodone_mr(5)) == []
    # Unknown (None) is not a reason: the Script Switch alert itself fires at 120 > 100.
    unknown = Patient(prescriptions=on, **KNOWN)
    assert "script-switch-above-threshold" in ids(unknown, oxycodone_mr(20))


DOSE_RULES = {
    "script-switch-above-threshold",
    "reauthorisation-high-dose",
    "dose-escalation",
    "very-high-dose",
}


def _fired(patient: Patient, new: Prescription, reauthorisation: bool, kb: Knowledge) -> set[str]:
    """The ids of the alerts ``check_prescription`` gives with ``kb``."""
    alerts = check_prescription(patient, new, reauthorisation=reauthorisation, knowledge=kb)
    return {a.id for a in alerts}


@pytest.mark.parametrize("profile", [None, "opioids-aware-90", "us-cdc-2022"])
def test_dose_alerts_not_applied_fires_exactly_when_a_dose_alert_would(profile: str | None) -> None:
    # The condition dose_alert_reached (prescribing-alerts 2.2.0) restates the four dose rules'
    # thresholds; this keeps the two in step (review): over a grid of totals, with and without
    # re-authorisation, under each bundled profile, the palliative-care information fires for a
    # palliative patient exactly when one of the four dose rules fires for the same patient
    # without it. Totals: morphine MR b mg twice a day = 2b; oxycodone MR n mg twice a day =
    # 2 x n x 1.5 = 3n mg OME/day.
    kb = (
        default_knowledge()
        if profile is None
        else load_knowledge(profile=knowledge_dir("rules") / "profiles" / f"{profile}.toml")
    )
    compared = reached = 0
    for before in (5, 10, 15, 30, 60, 100):
        on = (morphine_mr(before),)
        for new in (5, 10, 20, 40, 80):
            for reauthorisation in (False, True):
                plain = Patient(prescriptions=on, **KNOWN)
                palliative = Patient(palliative_care=True, prescriptions=on, **KNOWN)

                dose = DOSE_RULES & _fired(plain, oxycodone_mr(new), reauthorisation, kb)
                shown = _fired(palliative, oxycodone_mr(new), reauthorisation, kb)
                assert not DOSE_RULES & shown
                assert ("dose-alerts-not-applied-palliative-care" in shown) == bool(dose)
                compared += 1
                reached += bool(dose)
    assert 0 < reached < compared  # both sides of the equivalence were seen
