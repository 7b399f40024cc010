"""Issue 15: the clinical safety of the decisions, patient by patient, worked by hand.

Each of the nine findings of the clinical review, as the realistic patient that showed it, run
through the primary-care assessment (``assess``), the prescribing check
(``check_prescription``), the discharge check and the population screen; the CDS Hooks service
is in tests/cdshooks/test_clinical_safety_hooks.py. The same patient gives the same decision
everywhere. Factors (UK Opioids Aware table): morphine 1, oxycodone 1.5, codeine 0.1,
tramadol 0.1, fentanyl and buprenorphine patches 2.4 per microgram/hour.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import polars as pl
import pytest

from opioidcds import (
    AcuteEpisode,
    FactorStatus,
    IssueRecord,
    Patient,
    Prescription,
    assess,
    check_discharge,
    check_prescription,
    load_profile,
    read_bundle,
)
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds.cli.assess_cmd import parse_check
from opioidcds.population import screen

AS_OF = dt.date(2026, 11, 1)
RECORDED_FALSE: dict[str, Any] = {
    "unemployed": False,
    "ae_attendance_recent": False,
    "family_history_dependence": False,
    "history_substance_or_alcohol_misuse": False,
    "preadolescent_sexual_abuse_history": False,
    "depression": False,
    "other_psychological_disease": False,
}


def tablets(drug: str, mg: str, per_day: int, form: str = "tablet", n: int = 1) -> Prescription:
    unit = "capsule" if form == "capsule" else "tablet"
    return Prescription(
        drug=drug,
        form=form,
        strength=f"{mg} mg",
        dose_quantity=n,
        dose_unit=unit,
        doses_per_day=per_day,
    )


def patch(drug: str, rate: str, hours: int = 72, n: int = 1) -> Prescription:
    return Prescription(
        drug=drug,
        form="transdermal patch",
        strength=f"{rate} microgram/hour",
        dose_quantity=n,
        dose_unit="patch",
        interval_hours=hours,
    )


def morphine_mg(mg: Decimal | str) -> Prescription:
    """Morphine oral solution, a dose of ``mg`` once a day: ``mg`` mg OME/day exactly."""
    return Prescription(
        drug="morphine",
        form="oral solution",
        strength="10 mg/5 mL",
        dose_quantity=Decimal(mg),
        dose_unit="mg",
        doses_per_day=1,
    )


MORPHINE_MR_30_BD = tablets("morphine", "30", 2, "modified-release tablet")  # 60 mg OME/day
DIAZEPAM_5_BD = tablets("diazepam", "5", 2)
ZOPICLONE = tablets("zopiclone", "7.5", 1)
PREGABALIN = tablets("pregabalin", "75", 2, "capsule")


def history(days_on: int, drug: str = "morphine") -> tuple[IssueRecord, ...]:
    """Opioid issues from ``days_on`` days before AS_OF, every 28 days, 28 days' supply each."""
    return tuple(
        IssueRecord(issue_date=AS_OF - dt.timedelta(days=d), drug=drug, days_supply=28)
        for d in range(days_on, -1, -28)
    )


def ids(alerts: list[Any]) -> list[str]:
    return [a.id for a in alerts]


# --- 1. a benzodiazepine with an opioid is never a letter ---------------------------------------


WOMAN_40 = Patient(
    age=40,
    sex="female",
    **RECORDED_FALSE,
    prescriptions=(MORPHINE_MR_30_BD, DIAZEPAM_5_BD),
    medication_list_complete=True,
)


def test_benzodiazepine_with_an_opioid_is_at_least_a_brief_gp_intervention() -> None:
    # morphine 30 mg x 2 = 60 mg OME/day (not > 120: no dose factor). Factors present:
    # benzodiazepine only (female, 40, all else recorded false; the list is complete, so no
    # z-drug or gabapentinoid): 1 factor -> level low. Before issue 15: a letter. Now the
    # benzodiazepine floor: brief GP intervention (MHRA 2020: only if no alternative).
    a = assess(WOMAN_40)
    assert a.risk_level is not None
    assert a.risk_level.level == "low"
    assert a.factor("benzodiazepine").status is FactorStatus.PRESENT
    assert a.unknown_factors == ("early-reordering",)  # no history given
    assert a.tier.tier == "brief-gp-intervention"
    assert a.tier.tier_if_unknown == "brief-gp-intervention"  # +1 factor: still moderate
    assert any("MHRA" in step for step in a.tier.next_steps)
    # the same patient at the prescribing check: the critical alert, as before
    alerts = check_prescription(WOMAN_40, MORPHINE_MR_30_BD, reauthorisation=True)
    assert ids(alerts) == ["opioid-with-benzodiazepine"]


def test_three_sedative_medicines_reach_the_pcn_service() -> None:
    # + pregabalin 75 mg twice a day: the opioid, diazepam, pregabalin = 3 sedative medicines.
    # Factors: benzodiazepine, gabapentinoid = 2 -> moderate; the several-sedatives floor (not
    # counted as a factor) raises it to the PCN service.
    p = Patient.model_validate(
        {**WOMAN_40.model_dump(), "prescriptions": (MORPHINE_MR_30_BD, DIAZEPAM_5_BD, PREGABALIN)}
    )
    a = assess(p)
    assert a.risk_level is not None
    assert a.risk_level.level == "moderate"
    assert a.risk_level.factor_count == 2
    assert a.factor("several-sedatives").status is FactorStatus.PRESENT
    assert a.tier.tier == "pcn-service"


def test_two_benzodiazepines_are_two_sedative_medicines() -> None:
    # morphine with diazepam and temazepam: 1 + 2 = 3 sedative medicines (one factor, the
    # benzodiazepine factor: level low) -> at least the PCN service
    temazepam = tablets("temazepam", "10", 1)
    p = Patient.model_validate(
        {**WOMAN_40.model_dump(), "prescriptions": (MORPHINE_MR_30_BD, DIAZEPAM_5_BD, temazepam)}
    )
    a = assess(p)
    assert a.risk_level is not None
    assert a.risk_level.level == "low"
    assert a.tier.tier == "pcn-service"
    # the same list, not said to be complete: z-drug and gabapentinoid unknown, 3 known anyway
    open_list = Patient.model_validate({**p.model_dump(), "medication_list_complete": False})
    assert assess(open_list).factor("several-sedatives").status is FactorStatus.PRESENT
    # morphine and diazepam only, the rest not recorded: 2 known, could be 3 -> unknown
    two = Patient(prescriptions=(MORPHINE_MR_30_BD, DIAZEPAM_5_BD))
    assert assess(two).factor("several-sedatives").status is FactorStatus.UNKNOWN


# --- 2. z-drugs count with benzodiazepines -------------------------------------------------------


def test_zopiclone_with_a_fentanyl_patch_is_a_critical_alert_naming_the_class() -> None:
    # man of 72 on fentanyl 50 microgram/hour (50 x 2.4 = 120 mg OME/day) issued zopiclone
    man = Patient(age=72, sex="male", prescriptions=(patch("fentanyl", "50"),))
    alerts = check_prescription(man, ZOPICLONE)
    assert ids(alerts) == ["opioid-with-z-drug"]
    assert alerts[0].severity.value == "critical"
    assert "z-drug" in alerts[0].summary
    assert "zopiclone" in alerts[0].summary
    # assess: the benzodiazepine factor is present, its evidence names the z-drug
    a = assess(Patient.model_validate({**man.model_dump(), "prescriptions": (
        patch("fentanyl", "50"), ZOPICLONE)}))  # fmt: skip
    factor = a.factor("benzodiazepine")
    assert factor.status is FactorStatus.PRESENT
    assert "z-drug from the current prescriptions: zopiclone" in factor.evidence


def test_discharge_with_diazepam_and_zopiclone_is_not_no_alerts() -> None:
    # oxycodone MR 40 mg twice a day: 80 mg/day x 1.5 = 120 mg OME/day (not > 120); the
    # patient was on it before admission; diazepam and zopiclone continue (other medicines)
    episode = AcuteEpisode(
        care_setting="discharge",
        opioid_before_admission=True,
        discharge_prescriptions=[
            {"prescription": tablets("oxycodone", "40", 2, "modified-release tablet"),
             "days_supply": 14},
        ],
        other_medicines=["Diazepam 5mg tablets", "Zopiclone 7.5mg tablets"],
        weaning_plan_recorded=True,
        gp_communication_recorded=True,
    )  # fmt: skip
    check = check_discharge(episode)
    assert check.ome.total_mg_per_day == Decimal(120)
    assert [a.rule_id for a in check.alerts] == ["opioid-with-benzodiazepine", "opioid-with-z-drug"]
    assert {a.severity for a in check.alerts} == {"critical"}
    assert check.complete


# --- 3. a history of dependence is never a letter -----------------------------------------------


def test_past_substance_misuse_at_low_risk_offers_specialist_liaison() -> None:
    # woman of 30, tramadol 50 mg four times a day: 200 mg x 0.1 = 20 mg OME/day; past
    # substance misuse is the only factor -> level low. Before: a letter. Now a brief GP
    # intervention with an offer of liaison with specialist services.
    p = Patient(
        age=30,
        sex="female",
        **{**RECORDED_FALSE, "history_substance_or_alcohol_misuse": True},
        prescriptions=(tablets("tramadol", "50", 4, "capsule"),),
        medication_list_complete=True,
    )
    a = assess(p)
    assert a.ome is not None
    assert a.ome.total_mg_per_day == Decimal(20)
    assert a.risk_level is not None
    assert a.risk_level.level == "low"
    assert a.tier.tier == "brief-gp-intervention"
    assert a.tier.rule_id == "brief-gp-intervention-with-specialist-liaison"
    assert any("liaison" in step for step in a.tier.next_steps)


def test_past_alcohol_dependence_at_moderate_risk_offers_liaison_and_mdt_at_high() -> None:
    # man, 50, morphine 60 mg OME/day, past alcohol dependence: male + history = 2 -> moderate
    base = {**RECORDED_FALSE, "history_substance_or_alcohol_misuse": True}
    p = Patient(age=50, sex="male", **base, prescriptions=(MORPHINE_MR_30_BD,),
                medication_list_complete=True)  # fmt: skip
    a = assess(p)
    assert a.risk_level is not None
    assert a.risk_level.level == "moderate"
    assert a.tier.rule_id == "brief-gp-intervention-with-specialist-liaison"
    # + depression and unemployed: 4 factors -> high; with past dependence: specialist MDT
    high = Patient.model_validate({**p.model_dump(), "depression": True, "unemployed": True})
    b = assess(high)
    assert b.risk_level is not None
    assert b.risk_level.level == "high"
    assert b.tier.tier == "specialist-mdt"


# --- 4. dose escalation and opioid tolerance ---------------------------------------------------


def test_codeine_then_a_fentanyl_25_patch_is_a_large_step_and_not_tolerant() -> None:
    # codeine 30 mg four times a day: 120 mg x 0.1 = 12 mg OME/day; fentanyl 25 microgram/hour
    # x 2.4 = 60 -> total 72. Step +60 mg (> 30), 60 x 100 / 12 = +500% (> 20%). Before,
    # "any current opioid" let the patch pass; 12 < 60 mg OME/day is not opioid tolerance.
    p = Patient(prescriptions=(tablets("codeine", "30", 4),), medication_list_complete=True)
    alerts = check_prescription(p, patch("fentanyl", "25"))
    assert ids(alerts) == ["fentanyl-patch-not-opioid-tolerant", "dose-escalation"]
    assert "Total 72 mg OME/day with this prescription; 12 mg OME/day before." in alerts[1].detail
    assert "dose increase of more than 20%; and more than 30 mg/day" in alerts[1].detail


@pytest.mark.parametrize(
    ("before", "added", "fires"),
    [
        # absolute step: 100 -> 130 is +30 mg (not > 30) and +30%; +30.001 fires
        ("100", "30", False),
        ("100", "30.001", True),
        # relative step: 200 -> 240 is +40 mg but 40 x 100 / 200 = 20% (not > 20); 40.001 ->
        # 20.0005% fires
        ("200", "40", False),
        ("200", "40.001", True),
    ],
)
def test_escalation_boundaries(before: str, added: str, fires: bool) -> None:
    p = Patient(prescriptions=(morphine_mg(before),), medication_list_complete=True)
    got = ids(check_prescription(p, morphine_mg(added)))
    assert ("dose-escalation" in got) is fires


@pytest.mark.parametrize(
    ("before", "days_on", "fires"),
    [
        ("60", 7, False),  # 60 mg OME/day for 7 days: tolerant (at least 60, a week)
        ("59.999", 7, True),  # below 60
        ("60", 6, True),  # not yet a week
    ],
)
def test_tolerance_boundary(before: str, days_on: int, fires: bool) -> None:
    p = Patient(
        prescriptions=(morphine_mg(before),),
        medication_list_complete=True,
        prescription_history=(
            IssueRecord(issue_date=AS_OF - dt.timedelta(days=days_on), drug="morphine"),
        ),
        as_of=AS_OF,
    )
    got = ids(check_prescription(p, patch("fentanyl", "25")))
    assert ("fentanyl-patch-not-opioid-tolerant" in got) is fires


def test_tolerance_unknown_without_a_history_is_reported() -> None:
    # 60 mg OME/day but no history: held for a week cannot be confirmed -> not checked, said
    p = Patient(prescriptions=(morphine_mg("60"),), medication_list_complete=True)
    alerts = check_prescription(p, patch("fentanyl", "25"))
    assert "fentanyl-patch-not-opioid-tolerant" not in ids(alerts)
    assert "fentanyl-patch-not-opioid-tolerant" in alerts[-1].not_checked
    assert "Fentanyl patch for a patient who is not opioid tolerant" in alerts[-1].detail


@pytest.mark.parametrize(
    ("before", "rate", "fires"),
    [
        ("119.999", "52.5", True),  # below about 120 mg: above the Transtec starting strength
        ("120", "52.5", False),  # about 120 mg of a strong opioid: the next strength is allowed
        ("0.001", "35", False),  # 35 microgram/hour is a starting strength
    ],
)
def test_buprenorphine_patch_boundary(before: str, rate: str, fires: bool) -> None:
    p = Patient(prescriptions=(morphine_mg(before),), medication_list_complete=True)
    got = ids(check_prescription(p, patch("buprenorphine", rate, hours=84)))
    assert ("buprenorphine-patch-above-starting-strength" in got) is fires


# --- 5. a dose change replaces the current prescription -----------------------------------------

OLD = MORPHINE_MR_30_BD.model_copy(update={"id": "rx-1"})  # 60 mg OME/day
NEW = tablets("morphine", "60", 2, "modified-release tablet").model_copy(
    update={"replaces": "rx-1"}
)  # 120 mg OME/day


def test_a_dose_change_is_counted_once() -> None:
    # both listed: 60 + 120 = 180 before issue 15; the replaced one is not counted: 120
    a = assess(Patient(prescriptions=(OLD, NEW), medication_list_complete=True))
    assert a.ome is not None
    assert a.ome.total_mg_per_day == Decimal(120)
    assert [u.counted_for_ome for u in a.prescriptions] == [False, True]
    # check: before 60 (the one replaced), after 120 (not 180). Script Switch (> 100),
    # dose escalation (+60, +100%); 120 is not > 120: no reminder
    alerts = check_prescription(Patient(prescriptions=(OLD,), medication_list_complete=True), NEW)
    assert ids(alerts) == ["script-switch-above-threshold", "dose-escalation"]
    assert "Total 120 mg OME/day with this prescription; 60 mg OME/day before." in alerts[0].detail


def test_replaces_by_product_and_unmatched() -> None:
    by_product = NEW.model_copy(update={"replaces": "Morphine 30mg modified-release tablets"})
    current = Patient(
        prescriptions=(Prescription(product_name="Morphine 30mg modified-release tablets",
                                    dose_quantity=1, dose_unit="tablet", doses_per_day=2),),
        medication_list_complete=True,
    )  # fmt: skip
    alerts = check_prescription(current, by_product)
    assert "Total 120 mg OME/day with this prescription; 60 mg OME/day before." in alerts[0].detail
    # naming nothing current: nothing is taken off (180), and the figures say so
    stray = NEW.model_copy(update={"replaces": "rx-unknown"})
    alerts = check_prescription(current, stray)
    assert "Total 180 mg OME/day" in alerts[0].detail
    assert "nothing was taken off the total" in alerts[0].detail


def test_replaces_from_the_cli_input_and_the_fhir_adapter() -> None:
    data = {  # the JSON the command line reads (opioidcds check)
        "prescriptions": [json.loads(OLD.model_dump_json(exclude_none=True))],
        "medication_list_complete": True,
        "new_prescription": json.loads(NEW.model_dump_json(exclude_none=True)),
    }
    patient, new, reauth = parse_check(data)
    assert new.replaces == "rx-1"
    assert patient.prescriptions[0].id == "rx-1"
    assert not reauth
    resource = {
        "resourceType": "MedicationRequest",
        "id": "draft-2",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/example"},
        "priorPrescription": {"reference": "MedicationRequest/rx-1"},
        "medicationCodeableConcept": {"coding": [{
            "system": "http://snomed.info/sct", "code": "36127311000001102",
            "display": "Morphine 30mg modified-release tablets"}]},
        "dosageInstruction": [{
            "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseQuantity": {"value": 2, "unit": "tablet"}}]}],
    }  # fmt: skip
    (rx,) = read_bundle(resource, statuses={"draft"}).prescriptions
    assert (rx.id, rx.replaces) == ("draft-2", "rx-1")
    # 2 x 30 mg twice a day = 120 mg OME/day replacing 60: before 60, after 120
    alerts = check_prescription(Patient(prescriptions=(OLD,), medication_list_complete=True), rx)
    assert "Total 120 mg OME/day with this prescription; 60 mg OME/day before." in alerts[0].detail


# --- 6. starting treatment ------------------------------------------------------------------------


def test_starting_with_morphine_mr_for_chronic_back_pain() -> None:
    naive = Patient(age=45, medication_list_complete=True)
    assert ids(check_prescription(naive, MORPHINE_MR_30_BD)) == ["start-modified-release-or-patch"]
    primary = Prescription.model_validate(
        {**MORPHINE_MR_30_BD.model_dump(exclude_none=True), "indication": "chronic-primary-pain"}
    )
    assert ids(check_prescription(naive, primary)) == [
        "start-opioid-chronic-primary-pain",
        "start-modified-release-or-patch",
    ]


def test_thirty_days_of_oxycodone_ir_for_acute_pain() -> None:
    naive = Patient(age=45, medication_list_complete=True)
    oxy = tablets("oxycodone", "5", 4, "capsule")  # 20 mg x 1.5 = 30 mg OME/day

    def acute(**more: object) -> Prescription:
        fields = {**oxy.model_dump(exclude_none=True), "indication": "acute-pain", **more}
        return Prescription.model_validate(fields)

    assert ids(check_prescription(naive, acute(days_supply=30))) == ["acute-supply-over-limit"]
    assert ids(check_prescription(naive, acute(days_supply=7))) == []  # 7 is not more than 7
    unknown = acute()
    assert ids(check_prescription(naive, unknown)) == ["alerts-not-evaluated"]


@pytest.mark.parametrize(("review_days_ago", "fires"), [(None, True), (92, True), (91, False)])
def test_review_prompt_for_long_term_use(review_days_ago: int | None, fires: bool) -> None:
    # 200 days of morphine in the history (> 91: long-term); review interval 91 days
    review = None if review_days_ago is None else AS_OF - dt.timedelta(days=review_days_ago)
    p = Patient(
        prescriptions=(MORPHINE_MR_30_BD,),
        medication_list_complete=True,
        prescription_history=history(200),
        last_opioid_review=review,
        as_of=AS_OF,
    )
    got = ids(check_prescription(p, MORPHINE_MR_30_BD, reauthorisation=True))
    assert ("long-term-review-due" in got) is fires


# --- 7. the headline shows what is unknown --------------------------------------------------------


def test_eight_unknown_factors_make_recording_them_the_first_action() -> None:
    # 60 mg OME/day, nothing recorded: level low, tier letter with the unknowns absent; all
    # present (9 factors) -> high -> with past dependence specialist MDT: 3 steps >= 2
    a = assess(Patient(age=40, sex="female", prescriptions=(MORPHINE_MR_30_BD,)))
    assert (a.tier.tier, a.tier.tier_if_unknown) == ("letter", "specialist-mdt")
    assert a.tier.shown_as_range
    assert a.tier.first_action is not None
    assert a.tier.first_action.startswith("First, record the missing information")
    assert a.tier.next_steps[0] == a.tier.first_action
    assert "Support tier: Letter to Specialist MDT (a range" in a.explain()


def test_methadone_for_pain_makes_specialist_advice_the_first_action() -> None:
    # methadone has no UK factor: at least 0 mg OME/day; the dose factors are unknown
    meth = Prescription(drug="methadone", form="oral solution", strength="1 mg/mL",
                        dose_quantity=10, dose_unit="mL", doses_per_day=1)  # fmt: skip
    p = Patient(age=50, sex="female", **RECORDED_FALSE, prescriptions=(meth,),
                opioid_substitution_therapy=False, medication_list_complete=True)  # fmt: skip
    a = assess(p)
    assert a.ome is not None
    assert not a.ome.complete
    assert a.factor("high-dose").status is FactorStatus.UNKNOWN
    assert a.tier.tier == "letter"
    assert a.tier.headline_rule_id == "incomplete-ome-could-cross-threshold"
    assert a.tier.first_action is not None
    assert "specialist advice" in a.tier.first_action


def test_not_yet_long_term_is_not_sent_to_cancer_palliative_or_drug_services() -> None:
    p = Patient(prescriptions=(MORPHINE_MR_30_BD,), prescription_history=history(56),
                as_of=AS_OF)  # fmt: skip
    a = assess(p)
    assert a.scope.rule_id == "not-long-term"
    text = " ".join(a.tier.next_steps).lower()
    for word in ("cancer", "palliative", "drug and alcohol"):
        assert word not in text
    assert "trial" in text
    cancer = assess(Patient(cancer_pain=True, prescriptions=(MORPHINE_MR_30_BD,)))
    assert "cancer pain pathway" in " ".join(cancer.tier.next_steps)


# --- 8. a complete medication list ------------------------------------------------------------


def test_a_complete_list_makes_absent_classes_absent() -> None:
    rxs = (MORPHINE_MR_30_BD,)
    open_list = check_prescription(Patient(prescriptions=rxs), MORPHINE_MR_30_BD,
                                   reauthorisation=True)  # fmt: skip
    assert ids(open_list) == ["alerts-not-evaluated"]
    assert "benzodiazepine_coprescribed" in open_list[0].unknown_inputs
    closed = check_prescription(Patient(prescriptions=rxs, medication_list_complete=True),
                                MORPHINE_MR_30_BD, reauthorisation=True)  # fmt: skip
    assert closed == []
    a = assess(Patient(prescriptions=rxs, medication_list_complete=True))
    assert a.factor("benzodiazepine").status is FactorStatus.ABSENT
    assert "not in the complete medication list" in a.factor("benzodiazepine").evidence
    # a stated value still wins; a stated "no" contradicted by the list is refused
    b = assess(Patient(prescriptions=rxs, medication_list_complete=True,
                       gabapentinoid_coprescribed=True))  # fmt: skip
    assert b.factor("gabapentinoid").status is FactorStatus.PRESENT


# --- 9. very high doses -----------------------------------------------------------------------


@pytest.mark.parametrize(("mg", "band"), [("199.999", False), ("200", True)])
def test_the_very_high_dose_band(mg: str, band: bool) -> None:
    p = Patient(age=50, sex="female", **RECORDED_FALSE, prescriptions=(morphine_mg(mg),),
                medication_list_complete=True)  # fmt: skip
    a = assess(p)
    want = FactorStatus.PRESENT if band else FactorStatus.ABSENT
    assert a.factor("very-high-dose").status is want
    assert a.risk_level is not None
    assert a.risk_level.factor_count == 0  # a dose band, not a risk factor
    assert a.tier.tier == ("specialist-mdt" if band else "pcn-service")
    alerts = check_prescription(p, morphine_mg(mg), reauthorisation=True)
    assert ("very-high-dose" in ids(alerts)) is band


def test_the_90_mg_profile_is_shown_in_every_output() -> None:
    profile = load_profile(knowledge_dir("rules") / "profiles" / "opioids-aware-90.toml")
    p = Patient(prescriptions=(morphine_mg("95"),), medication_list_complete=True)
    a = assess(p, profile=profile)
    assert a.versions["profile"] == "opioids-aware-90 1.1.2"
    assert a.factor("high-dose").status is FactorStatus.PRESENT  # 95 > 90
    alerts = check_prescription(p, morphine_mg("95"), reauthorisation=True, profile=profile)
    assert all(x.profile_id == "opioids-aware-90" for x in alerts)


# --- the population screen decides as assess ---------------------------------------------------


def _screen_one(rows: list[tuple[str, ...]], attributes: dict[str, str]) -> Any:
    head = ("patient_id", "issue_date", "dmd_code", "product_name", "quantity", "dosage_text",
            "days_supply")  # fmt: skip
    issues = pl.DataFrame({h: [r[i] for r in rows] for i, h in enumerate(head)},
                          schema=dict.fromkeys(head, pl.String))  # fmt: skip
    people = pl.DataFrame({k: [v] for k, v in {"patient_id": "p1", **attributes}.items()},
                          schema=dict.fromkeys(["patient_id", *attributes], pl.String))  # fmt: skip
    result = screen(issues, people, as_of=AS_OF)
    (row,) = [r for r in result.rows if r.patient_id == "p1"]
    return row


def _morphine_issues() -> list[tuple[str, ...]]:
    # morphine MR 30 mg, 56 tablets every 28 days from 120 days ago: long-term, none early
    return [
        ("p1", (AS_OF - dt.timedelta(days=d)).isoformat(), "36127311000001102", "",
         "56", "ONE TABLET TWICE A DAY", "28")
        for d in (120, 92, 64, 36, 8)
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "attributes", "tier"),
    [
        # 1: diazepam with the opioid, everything else recorded false: not a letter
        ([("Diazepam 5mg tablets", "56")], {}, "brief-gp-intervention"),
        # 2: zopiclone counts as the benzodiazepine factor
        ([("Zopiclone 7.5mg tablets", "28")], {}, "brief-gp-intervention"),
        # 1: diazepam and pregabalin: three sedative medicines with the opioid
        ([("Diazepam 5mg tablets", "56"), ("Pregabalin 75mg capsules", "56")], {},
         "pcn-service"),
        # 1: diazepam and zopiclone: three sedative medicines with the opioid
        ([("Diazepam 5mg tablets", "56"), ("Zopiclone 7.5mg tablets", "28")], {},
         "pcn-service"),
        # 3: past substance misuse at low risk
        ([], {"history_substance_or_alcohol_misuse": "true"}, "brief-gp-intervention"),
        # no sedative, nothing else: a letter
        ([], {}, "letter"),
    ],
)  # fmt: skip
def test_the_population_screen_gives_the_same_tier(
    extra: list[tuple[str, str]], attributes: dict[str, str], tier: str
) -> None:
    rows = _morphine_issues() + [
        ("p1", (AS_OF - dt.timedelta(days=8)).isoformat(), "", name, qty, "", "28")
        for name, qty in extra
    ]
    recorded = dict.fromkeys(RECORDED_FALSE, "false") | {
        "benzodiazepine_coprescribed": "false",
        "z_drug_coprescribed": "false",
        "gabapentinoid_coprescribed": "false",
        "sex": "female",
        "age": "40",
    }
    for name, _qty in extra:  # a current issue of the class sets it; do not contradict it
        if "Diazepam" in name:
            recorded.pop("benzodiazepine_coprescribed")
        if "Pregabalin" in name:
            recorded.pop("gabapentinoid_coprescribed")
        if "Zopiclone" in name:
            recorded.pop("z_drug_coprescribed")
    row = _screen_one(rows, recorded | attributes)
    assert row.status == "screened"
    assert row.ome_mg_per_day == Decimal(60)
    assert row.tier == tier
    assert row.tier_if_unknown == tier  # everything recorded: no unknown could raise it


def test_a_replacing_prescription_listed_with_the_patient() -> None:
    # the caller passes the whole list, the new item included: the old one is still "before"
    # (60), the new one "after" (120), nothing counted twice
    patient = Patient(prescriptions=(OLD, NEW), medication_list_complete=True)
    alerts = check_prescription(patient, NEW)
    assert ids(alerts) == ["script-switch-above-threshold", "dose-escalation"]
    assert "Total 120 mg OME/day with this prescription; 60 mg OME/day before." in alerts[0].detail
    assert "nothing was taken off" not in alerts[0].detail


def test_a_new_ost_prescription_is_outside_the_dose_thresholds() -> None:
    # Scope: opioid substitution therapy is excluded from dose thresholds (rules/scope.toml,
    # input dose_thresholds_apply of rules/prescribing-alerts.toml). A patient on morphine MR
    # 60 mg bd (60 x 2 x 1 = 120 mg OME/day), recorded as not on OST, is started on
    # buprenorphine 16 mg sublingual once a day (an OST presentation, BNF 4.10.3). The new
    # prescription puts the patient on OST, as the CDS Hooks service treats a draft order: no
    # dose-threshold alert. Before the fix it gave Script Switch, escalation, very-high-dose and
    # "check the risk factors" alerts.
    morphine = Prescription(drug="morphine", form="modified-release tablet", strength="60 mg",
                            dose_quantity=1, dose_unit="tablet", doses_per_day=2)  # fmt: skip
    ost = Prescription(drug="buprenorphine", form="sublingual tablet", strength="16 mg",
                       dose_quantity=1, dose_unit="tablet", doses_per_day=1)  # fmt: skip
    p = Patient(age=40, sex="female", **RECORDED_FALSE, prescriptions=(morphine,),
                opioid_substitution_therapy=False, medication_list_complete=True)  # fmt: skip
    dose_rules = {"script-switch-above-threshold", "dose-escalation", "very-high-dose",
                  "check-risk-factors"}  # fmt: skip
    assert not dose_rules & {a.id for a in check_prescription(p, ost)}
    # Control: the same patient given morphine MR 30 mg bd instead: 120 + 30 x 2 = 180 > 100,
    # the Script Switch alert fires, so the thresholds are live for this patient.
    more = Prescription(drug="morphine", form="modified-release tablet", strength="30 mg",
                        dose_quantity=1, dose_unit="tablet", doses_per_day=2)  # fmt: skip
    assert "script-switch-above-threshold" in {a.id for a in check_prescription(p, more)}
    # The co-prescription alerts still apply: with diazepam current, the OST start is flagged.
    with_benzo = Patient(**{**p.model_dump(), "prescriptions": (morphine, DIAZEPAM_5_BD)})
    ids = {a.id for a in check_prescription(with_benzo, ost)}
    assert not dose_rules & ids
    assert any("benzodiazepine" in i for i in ids)
