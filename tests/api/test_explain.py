"""Results explain themselves: ``explain()`` is the plain text people read, ``repr`` is short.

Expected figures are worked by hand from the bundled Opioids Aware table (oral oxycodone x 1.5,
oral morphine x 1, transdermal fentanyl microgram/hour x 2.4).
"""

from __future__ import annotations

import datetime as dt

import opioidcds

OXY = opioidcds.Prescription(
    drug="oxycodone",
    form="modified-release tablet",
    strength="40 mg",
    dose_quantity=1,
    dose_unit="tablet",
    doses_per_day=2,
)
PATCH = opioidcds.Prescription(
    dmd_code="36120011000001101",  # Fentanyl 25micrograms/hour transdermal patches
    dose_quantity=1,
    dose_unit="patch",
    interval_hours=72,
)
MORPHINE = opioidcds.Prescription(
    drug="morphine",
    form="modified-release tablet",
    strength="30 mg",
    dose_quantity=1,
    dose_unit="tablet",
    doses_per_day=2,
)
DIAZEPAM = opioidcds.Prescription(
    drug="diazepam",
    form="tablet",
    strength="5 mg",
    dose_quantity=1,
    dose_unit="tablet",
    doses_per_day=2,
)


def test_ome_result_explains_each_item_and_the_total() -> None:
    result = opioidcds.calculate_ome([OXY, PATCH])
    text = result.explain()
    lines = text.splitlines()
    # oxycodone 40 mg x 2/day = 80 mg/day x 1.5 = 120; fentanyl 25 microgram/hour x 2.4 = 60
    assert lines[0] == "Oral morphine equivalent (OME) per prescription"
    assert lines[1].startswith("  1. oxycodone: converted. ")
    assert "= 120 mg OME/day" in lines[1]
    assert lines[2].startswith("  2. fentanyl: converted. ")
    assert "= 60 mg OME/day" in lines[2]
    assert lines[3] == "Total: 180 mg OME/day"  # 120 + 60
    assert "not a guide to converting between opioids" in lines[4]
    assert repr(result) == (
        f"<OMEResult 180 mg OME/day (complete), 2 item(s), table uk-opioids-aware "
        f"{result.table_version}>"
    )
    assert repr(result.items[0]) == "<OMEItem 0: oxycodone, 120 mg OME/day>"


def test_incomplete_total_says_it_is_a_lower_bound() -> None:
    unknown = opioidcds.Prescription(drug="methadone", form="oral solution", dose_unknown=True)
    result = opioidcds.calculate_ome([OXY, unknown])
    assert not result.complete
    text = result.explain()
    assert "Total: at least 120 mg OME/day (INCOMPLETE: a lower bound" in text  # 80 x 1.5
    assert "NOT CONVERTED" in text
    assert "INCOMPLETE, a lower bound" in repr(result)


def test_assessment_explains_scope_dose_level_and_tier() -> None:
    patient = opioidcds.Patient(age=40, sex="female", prescriptions=(OXY, PATCH))
    a = opioidcds.assess(patient)
    text = a.explain()
    assert text.startswith("In scope: ")
    assert "OME: 180 mg OME/day" in text  # 120 + 60 as above
    assert "Risk level: " in text
    assert "Support tier: " in text
    assert a.tier.offer in text
    assert text.splitlines()[-1].startswith("Basis: rulesets ")
    level = a.risk_level.level if a.risk_level is not None else "-"
    assert repr(a) == f"<Assessment 180 mg OME/day, risk {level}, tier {a.tier.tier}>"


def test_out_of_scope_assessment_says_why() -> None:
    patient = opioidcds.Patient(age=40, sex="female", cancer_pain=True, prescriptions=(OXY,))
    a = opioidcds.assess(patient)
    assert a.explain().startswith(f"Out of scope: {a.scope.reason}")
    assert repr(a) == f"<Assessment out of scope: {a.scope.rule_id}>"


def test_alert_explains_severity_figures_actions_and_basis() -> None:
    patient = opioidcds.Patient(age=40, sex="female", prescriptions=(MORPHINE,))
    alerts = opioidcds.check_prescription(patient, DIAZEPAM)
    benzo = [a for a in alerts if a.severity is opioidcds.AlertSeverity.CRITICAL]
    assert benzo, "an opioid with a benzodiazepine raises a critical alert"
    alert = benzo[0]
    lines = alert.explain().splitlines()
    assert lines[0] == f"CRITICAL {alert.summary}"
    assert lines[1] == f"  {alert.detail}"
    assert "60 mg OME/day" in alert.detail  # morphine 30 mg x 2/day x 1
    # the basis in words: the rule's title, ruleset and version, the profile (none here), the
    # sources' titles (no ids)
    assert lines[-1] == (
        f'  Basis: "{alert.title}", prescribing alerts rules {alert.ruleset_version}, no local '
        "profile; sources: MHRA Drug Safety Update, March 2020, 'Benzodiazepines and opioids: "
        "reminder of risk of potentially fatal respiratory depression'; NHS England analysis of "
        "opioid-reduction programmes (2023), 'Inequalities'"
    )
    assert repr(alert) == f"<Alert critical {alert.id}: {alert.summary}>"


def test_an_alert_decided_under_a_local_profile_names_it_in_its_basis() -> None:
    # The opioids-aware-90 profile moves the thresholds (high dose above 90, not 120 mg
    # OME/day): its alerts are decided by the profile as much as by the ruleset, so the basis
    # people read names it, as the cards' "Why" does ("local profile opioids aware 90 1.1.2").
    from opioidcds._knowledge.paths import knowledge_dir  # noqa: PLC0415

    profile = opioidcds.load_profile(knowledge_dir("rules") / "profiles" / "opioids-aware-90.toml")
    patient = opioidcds.Patient(age=40, sex="female", prescriptions=(MORPHINE,))
    alerts = opioidcds.check_prescription(patient, DIAZEPAM, profile=profile)
    alert = next(a for a in alerts if a.severity is opioidcds.AlertSeverity.CRITICAL)
    assert (alert.profile_id, alert.profile_version) == ("opioids-aware-90", "1.1.2")
    basis = alert.explain().splitlines()[-1]
    assert basis.startswith(
        f'  Basis: "{alert.title}", prescribing alerts rules {alert.ruleset_version}, local '
        "profile opioids aware 90 1.1.2; sources: MHRA Drug Safety Update"
    )
    # without a profile the basis says so, as the cards do
    plain = opioidcds.check_prescription(patient, DIAZEPAM)
    assert ", no local profile; sources: " in plain[0].explain().splitlines()[-1]


def test_taper_plan_explains_each_step_and_the_basis() -> None:
    plan = opioidcds.taper_plan([OXY], start=dt.date(2027, 1, 4))
    text = plan.explain()
    lines = text.splitlines()
    assert lines[0] == "Tapering plan"
    assert lines[1] == "Step 0: now until 3 Jan 2027: 120 mg OME/day"  # 40 x 2 x 1.5
    assert any(line.startswith("Step 1: 4 Jan 2027 to 17 Jan 2027: ") for line in lines)
    assert "OME is a measure of risk: the plan never converts between opioids." in lines[-1]
    assert repr(plan).startswith(f"<TaperPlan {plan.status.value}: 120 -> ")
