"""Properties of assess and check_prescription (issue 5).

- adding a risk factor (an unknown or absent input becoming present) never lowers the level or
  the tier; raising any dose never lowers them;
- every in-scope patient gets exactly one tier; out-of-scope patients get "out-of-scope";
- each alert fires iff its condition holds (conditions recomputed here independently, with
  the thresholds read from the ruleset);
- the reference and durable-rules backends give identical results;
- 8 threads x many calls give the same results as serial calls.
"""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from opioidcds import (
    Assessment,
    FactorStatus,
    InvalidInputError,
    Patient,
    Prescription,
    calculate_ome,
    check_prescription,
    default_knowledge,
    load_vocabulary,
)
from opioidcds import assess as assess_patient
from opioidcds.testing import co_medicines, convertible_prescriptions, patients

KB = default_knowledge()
VOCAB = load_vocabulary()
LEVELS = KB.rulesets["risk-level"].outputs["level"].values
TIERS = KB.rulesets["support-tier"].outputs["tier"].values
ALERT_RULES = KB.rulesets["prescribing-alerts"].rules
ALERT_PARAMS = {n: p.value for n, p in KB.rulesets["prescribing-alerts"].parameters.items()}
FACTOR_FIELDS = (
    "unemployed",
    "ae_attendance_recent",
    "family_history_dependence",
    "history_substance_or_alcohol_misuse",
    "preadolescent_sexual_abuse_history",
    "depression",
    "other_psychological_disease",
    "benzodiazepine_coprescribed",
    "z_drug_coprescribed",
    "gabapentinoid_coprescribed",
)
SEDATIVES = (
    Prescription(
        drug="diazepam", form="tablet", strength="5 mg", dose_quantity=1, dose_unit="tablet",
        doses_per_day=2,
    ),
    Prescription(
        drug="zopiclone", form="tablet", strength="7.5 mg", dose_quantity=1, dose_unit="tablet",
        doses_per_day=1,
    ),
    Prescription(
        drug="pregabalin", form="capsule", strength="75 mg", dose_quantity=1,
        dose_unit="capsule", doses_per_day=2,
    ),
)  # fmt: skip


def rebuild(patient: Patient, **changes: Any) -> Patient:
    return Patient.model_validate({**patient.model_dump(), **changes})


def ranks(a: Assessment) -> tuple[int, int]:
    assert a.risk_level is not None
    return LEVELS.index(a.risk_level.level), TIERS.index(a.tier.tier)


def assess(patient: Patient) -> Assessment | None:
    try:
        return assess_patient(patient, knowledge=KB)
    except InvalidInputError:  # e.g. a doubled dose over the plausibility limit
        return None


def _is_ost(rx: Prescription) -> bool:
    """BNF 4.10.3 dependence presentations, restated for the drawn prescriptions.

    Methadone oral solution; buprenorphine sublingual/buccal/lyophilisate of 2 mg and above
    (``catalogue/medicine_classes.toml``, ost_rules).
    """
    form = (rx.form or "").lower()
    if rx.drug == "methadone":
        return any(w in form for w in ("oral solution", "mixture", "oral liquid", "concentrate"))
    if rx.drug == "buprenorphine" and any(
        w in form for w in ("sublingual", "buccal", "oral lyophilisate")
    ):
        amount, unit = (rx.strength or "0 mg").split()[:2]
        mg = Decimal(amount) / (1000 if unit.startswith("microgram") else 1)
        return mg >= 2
    return False


@given(patients(in_scope=True), st.sampled_from(FACTOR_FIELDS), st.integers(18, 100))
def test_adding_a_factor_never_lowers_level_or_tier(patient: Patient, name: str, age: int) -> None:
    before = assess(patient)
    assert before is not None
    assume(getattr(patient, name) is not True)
    after = assess(rebuild(patient, **{name: True}))
    assert after is not None
    assert ranks(after)[0] >= ranks(before)[0]
    assert ranks(after)[1] >= ranks(before)[1]
    older = assess(rebuild(patient, age=max(age, patient.age or 0)))
    assert older is not None
    assert ranks(older)[0] >= ranks(before)[0]
    assert ranks(older)[1] >= ranks(before)[1]


@given(patients(in_scope=True), st.data())
def test_raising_a_dose_never_lowers_level_or_tier(patient: Patient, data: st.DataObject) -> None:
    before = assess(patient)
    assert before is not None
    i = data.draw(st.integers(0, len(patient.prescriptions) - 1))
    rx = patient.prescriptions[i].model_dump(exclude_none=True)
    factor = data.draw(st.sampled_from([Decimal(2), Decimal("1.5"), Decimal(3)]))
    rx["dose_quantity"] = rx["dose_quantity"] * factor
    if "dose_quantity_max" in rx:
        rx["dose_quantity_max"] = rx["dose_quantity_max"] * factor
    rxs = list(patient.prescriptions)
    rxs[i] = Prescription.model_validate(rx)
    after = assess(rebuild(patient, prescriptions=rxs))
    assume(after is not None)
    assert after is not None
    assert ranks(after)[0] >= ranks(before)[0]
    assert ranks(after)[1] >= ranks(before)[1]


def upper(a: Assessment) -> int:
    return TIERS.index(a.tier.tier_if_unknown)


def compatible(patient: Patient, **changes: Any) -> Patient | None:
    try:
        return rebuild(patient, **changes)
    except InvalidInputError:  # e.g. a stated "false" contradicted by the added medicine
        return None


@given(patients(in_scope=True), st.sampled_from(SEDATIVES))
def test_adding_a_sedative_never_lowers_the_tier(patient: Patient, sedative: Prescription) -> None:
    # issue 15: a benzodiazepine, z-drug or gabapentinoid added to the list never lowers the
    # tier (with unknowns absent, or present)
    before = assess(patient)
    assert before is not None
    changed = compatible(patient, prescriptions=(*patient.prescriptions, sedative))
    assume(changed is not None)
    assert changed is not None
    after = assess(changed)
    assert after is not None
    assert ranks(after)[1] >= ranks(before)[1]
    assert upper(after) >= upper(before)


@given(patients(in_scope=True))
def test_a_dependence_history_never_lowers_the_tier_and_is_never_a_letter(
    patient: Patient,
) -> None:
    before = assess(patient)
    assert before is not None
    after = assess(rebuild(patient, history_substance_or_alcohol_misuse=True))
    assert after is not None
    assert ranks(after)[1] >= ranks(before)[1]
    assert after.tier.tier != "letter"
    benzo = compatible(patient, benzodiazepine_coprescribed=True)
    if benzo is not None:
        with_benzo = assess(benzo)
        assert with_benzo is not None
        assert with_benzo.tier.tier != "letter"  # MHRA 2020: never a letter


@given(patients(in_scope=True), convertible_prescriptions())
def test_adding_an_opioid_never_lowers_the_tier(patient: Patient, new: Prescription) -> None:
    before = assess(patient)
    assert before is not None
    after = assess(rebuild(patient, prescriptions=(*patient.prescriptions, new)))
    assume(after is not None)
    assert after is not None
    assert ranks(after)[1] >= ranks(before)[1]
    assert upper(after) >= upper(before)


@given(patients(), st.one_of(convertible_prescriptions(), co_medicines()), st.booleans())
def test_a_complete_list_never_gives_more_unknowns(
    patient: Patient, new: Prescription, reauthorisation: bool
) -> None:
    # issue 15, item 8: with medication_list_complete, absent classes are absent; nothing that
    # was known becomes unknown, and nothing present becomes absent
    complete = compatible(patient, medication_list_complete=True)
    assert complete is not None
    a, b = assess(patient), assess(complete)
    assume(a is not None and b is not None)
    assert a is not None
    assert b is not None
    assert set(b.unknown_factors) <= set(a.unknown_factors)
    for fa, fb in zip(a.factors, b.factors, strict=True):
        if fa.status is not FactorStatus.UNKNOWN:
            assert fb.status is fa.status
    try:
        open_alerts = check_prescription(patient, new, reauthorisation=reauthorisation)
    except InvalidInputError:
        assume(False)
        return
    closed = check_prescription(complete, new, reauthorisation=reauthorisation)

    def unchecked(alerts: list[Any]) -> set[str]:
        pending = [x for x in alerts if x.id == "alerts-not-evaluated"]
        return set(pending[0].not_checked) if pending else set()

    assert unchecked(closed) <= unchecked(open_alerts)
    assert {x.id for x in open_alerts} - {"alerts-not-evaluated"} <= {x.id for x in closed}


@given(patients(in_scope=True))
def test_the_headline_range_and_first_action(patient: Patient) -> None:
    # issue 15, item 7: a range with a first action exactly when the unknowns could move the
    # tier two or more steps, or a dose factor is unknown because the total is incomplete
    a = assess(patient)
    assert a is not None
    steps = upper(a) - TIERS.index(a.tier.tier)
    dose_unknown = any(
        f.status is FactorStatus.UNKNOWN
        for f in a.factors
        if f.id in ("high-dose", "very-high-dose")
    )
    assert a.tier.shown_as_range is (steps >= 2 or dose_unknown)
    if a.tier.shown_as_range:
        assert a.tier.first_action
        assert a.tier.next_steps[0] == a.tier.first_action
    else:
        assert a.tier.first_action is None


@given(patients(in_scope=True), st.data())
def test_a_replacing_prescription_is_counted_once(patient: Patient, data: st.DataObject) -> None:
    # issue 15, item 5: a dose change entered as a new item that replaces the current one
    # totals as if the current one were swapped for it, never both
    opioids = [i for i, c in enumerate(patient.prescription_classes) if "opioid" in c]
    assume(opioids)
    i = data.draw(st.sampled_from(opioids))
    old = patient.prescriptions[i].model_copy(update={"id": "current"})
    new = data.draw(convertible_prescriptions()).model_copy(update={"replaces": "current"})
    rxs = list(patient.prescriptions)
    rxs[i] = old
    both = assess(rebuild(patient, prescriptions=(*rxs, new)))
    swapped = list(patient.prescriptions)
    swapped[i] = new.model_copy(update={"replaces": None})
    once = assess(rebuild(patient, prescriptions=swapped))
    assume(both is not None and once is not None)
    assert both is not None
    assert once is not None
    assert both.ome is not None
    assert once.ome is not None
    assert both.ome.total_mg_per_day == once.ome.total_mg_per_day
    assert both.tier.tier == once.tier.tier


@given(patients())
def test_every_in_scope_patient_gets_exactly_one_tier(patient: Patient) -> None:
    a = assess(patient)
    assert a is not None
    tier_report = next(d for d in a.decisions if d.ruleset_id == "support-tier")
    assert len(tier_report.fired) == 1
    if a.scope.in_scope:
        assert a.tier.tier in TIERS[1:]
        assert a.risk_level is not None
        assert LEVELS.index(a.risk_level.level_if_unknown) >= LEVELS.index(a.risk_level.level)
        assert TIERS.index(a.tier.tier_if_unknown) >= TIERS.index(a.tier.tier)
        bounds_differ = (
            a.risk_level.level_if_unknown != a.risk_level.level
            or a.tier.tier_if_unknown != a.tier.tier
        )
        assert bool(a.unknowns_that_could_change) == bounds_differ
        assert set(a.risk_level.could_raise) <= set(a.unknown_factors)
    else:
        assert a.scope.in_scope is False
        assert a.tier.tier == "out-of-scope"
        assert a.scope.reason


def _is_co_medicine(rx: Prescription) -> bool:
    return rx.drug in ("diazepam", "pregabalin")


def _without_one(items: list[Prescription], item: Prescription) -> list[Prescription]:
    """``items`` without the first entry equal to ``item`` (all of them if none is)."""
    out = list(items)
    if item in out:
        out.remove(item)
    return out


_BUCCAL = Prescription(
    drug="fentanyl",
    form="buccal tablet",
    strength="0.1 mg",
    dose_quantity=Decimal("0.5"),
    dose_quantity_max=Decimal("1.0"),
    dose_unit="mg",
    interval_hours=Decimal(6),
)
"""Fentanyl 0.1 mg buccal tablets, 0.5-1 mg every 6 hours: at most 4 mg a day (x 130 = 520 mg
OME/day). Listed twice beside a new one equal to them (a random draw that once failed): the new
one is one of the two, the other was there before it: 520 mg OME/day before, 1,040 after."""


@given(
    patients(),
    st.one_of(convertible_prescriptions(), co_medicines()),
    st.booleans(),
)
@example(Patient(sex="male", prescriptions=(_BUCCAL, _BUCCAL)), _BUCCAL, False)
def test_alerts_fire_iff_their_condition_holds(
    patient: Patient, new: Prescription, reauthorisation: bool
) -> None:
    opioids = [rx for rx in patient.prescriptions if not _is_co_medicine(rx)]
    new_is_opioid = not _is_co_medicine(new)
    # the list may hold the new prescription already: it is counted once, as that entry; any
    # other entry equal to it is another prescription of the same (taken before this one)
    after_list = opioids + ([new] if new_is_opioid and new not in opioids else [])
    before_list = (
        after_list if reauthorisation or not new_is_opioid else _without_one(after_list, new)
    )
    try:
        after = calculate_ome(after_list).total_mg_per_day
        alerts = check_prescription(patient, new, reauthorisation=reauthorisation, knowledge=KB)
    except InvalidInputError:
        assume(False)
        return
    before = calculate_ome(before_list).total_mg_per_day
    benzo = True if new.drug == "diazepam" else patient.benzodiazepine
    gaba = True if new.drug == "pregabalin" else patient.gabapentinoid
    opioid_after = bool(after_list)
    # the patient is not on OST by strategy; a new OST presentation puts them on it
    thresholds = not (patient.cancer_pain or patient.palliative_care or _is_ost(new))
    issued = (
        "opioid"
        if new_is_opioid
        else ("benzodiazepine" if new.drug == "diazepam" else "gabapentinoid")
    )
    new_opioid = new_is_opioid and not reauthorisation
    others = _without_one(opioids, new)  # opioids before this prescription
    patch = new.form == "transdermal patch"
    form = VOCAB.find_form(new.form or "")
    modified_release = form.modified_release if form is not None else None
    # the strategy draws no prescription history: days of opioid use are unknown
    tolerant_dose = before >= ALERT_PARAMS["tolerance_mg_per_day"]
    # the dose-escalation step (issue 15): both totals are complete (convertible strategy)
    rise = after - before
    large_step = (
        before > 0
        and rise > ALERT_PARAMS["escalation_absolute_mg_per_day"]
        and rise * 100 / before > ALERT_PARAMS["escalation_relative_percent"]
    )
    # a buprenorphine patch's rate: its strength ("35 microgram/hour") x the patches worn
    bup_rate = (
        Decimal((new.strength or "0").split()[0]) * (new.dose_quantity or 0)
        if new.drug == "buprenorphine" and patch
        else Decimal(0)
    )
    # the recorded reason the dose thresholds do not apply (the first of three), and whether a
    # dose alert would otherwise have fired (prescribing-alerts 2.2.0, dose_alert_reached)
    reason = (
        "palliative_care"
        if patient.palliative_care
        else "cancer_pain"
        if patient.cancer_pain
        else "substitution_therapy"
        if _is_ost(new)
        else "none"
    )
    dose_reached = (
        (not reauthorisation and after > ALERT_PARAMS["alert_threshold_mg_per_day"])
        or (reauthorisation and after > ALERT_PARAMS["reauthorisation_threshold_mg_per_day"])
        or after >= ALERT_PARAMS["very_high_dose_mg_per_day"]
        or (bool(others) and large_step)
    )

    def not_applied(why: str) -> bool:
        return new_is_opioid and not thresholds and reason == why and dose_reached

    expected: dict[str, bool | None] = {
        "dose-alerts-not-applied-palliative-care": not_applied("palliative_care"),
        "dose-alerts-not-applied-cancer-pain": not_applied("cancer_pain"),
        "dose-alerts-not-applied-substitution-therapy": not_applied("substitution_therapy"),
        "script-switch-above-threshold": new_is_opioid
        and thresholds
        and not reauthorisation
        and after > ALERT_PARAMS["alert_threshold_mg_per_day"],
        "reauthorisation-high-dose": new_is_opioid
        and thresholds
        and reauthorisation
        and after > ALERT_PARAMS["reauthorisation_threshold_mg_per_day"],
        "opioid-with-benzodiazepine": (
            False if issued == "gabapentinoid" or not opioid_after else benzo
        ),
        "opioid-with-z-drug": (False if issued != "opioid" or not opioid_after else patient.z_drug),
        "opioid-with-gabapentinoid": (
            False if issued == "benzodiazepine" or not opioid_after else gaba
        ),
        # not tolerant: no opioid before, or below 60 mg OME/day; at or above 60 the week on
        # opioids cannot be confirmed without a history (unknown)
        "fentanyl-patch-not-opioid-tolerant": (
            False
            if not (new.drug == "fentanyl" and patch and not reauthorisation)
            else (True if not others or not tolerant_dose else None)
        ),
        "buprenorphine-patch-above-starting-strength": new_opioid
        and bup_rate > ALERT_PARAMS["buprenorphine_patch_start_max_microgram_per_hour"]
        and (not others or before < ALERT_PARAMS["buprenorphine_patch_higher_start_mg_per_day"]),
        "dose-escalation": new_is_opioid and bool(others) and thresholds and large_step,
        "start-opioid-chronic-primary-pain": False,  # no indication drawn: does not apply
        "start-modified-release-or-patch": (
            False
            if not (new_opioid and not others)
            else (True if patch or modified_release else modified_release)
        ),
        "acute-supply-over-limit": False,  # no indication drawn
        "long-term-review-due": False,  # no history drawn: long-term use not known
        "very-high-dose": new_is_opioid
        and thresholds
        and after >= ALERT_PARAMS["very_high_dose_mg_per_day"],
        "ome-incomplete": False,  # every drawn opioid is convertible
        "check-risk-factors": new_is_opioid
        and thresholds
        and not reauthorisation
        and after > ALERT_PARAMS["reminder_high_dose_mg_per_day"]
        and not before > ALERT_PARAMS["reminder_high_dose_mg_per_day"],
    }
    assert set(expected) == {r.id for r in KB.rulesets["prescribing-alerts"].rules}
    fired = {a.id for a in alerts if a.id != "alerts-not-evaluated"}
    assert fired == {k for k, v in expected.items() if v is True}
    pending = [a for a in alerts if a.id == "alerts-not-evaluated"]
    undecided = {k for k, v in expected.items() if v is None}
    if undecided:
        assert len(pending) == 1
        assert set(pending[0].not_checked) == undecided
    else:
        assert pending == []
    for a in alerts:
        assert len(a.summary) < 140


@settings(max_examples=20)
@given(patients(max_opioids=3), st.one_of(convertible_prescriptions(), co_medicines()))
def test_reference_and_durable_backends_agree(patient: Patient, new: Prescription) -> None:
    pytest.importorskip("durable")
    try:
        ref = assess_patient(patient, knowledge=KB)
    except InvalidInputError:
        assume(False)
        return
    dur = assess_patient(patient, knowledge=KB, backend="durable")
    assert ref.model_dump(exclude={"backend"}) == dur.model_dump(exclude={"backend"})
    for reauthorisation in (False, True):
        a = check_prescription(patient, new, reauthorisation=reauthorisation, knowledge=KB)
        b = check_prescription(
            patient, new, reauthorisation=reauthorisation, knowledge=KB, backend="durable"
        )
        assert a == b


def test_threads_give_the_same_results_as_serial() -> None:
    drawn: list[tuple[Patient, Prescription]] = []

    @settings(max_examples=25, database=None)
    @given(patients(), convertible_prescriptions())
    def collect(patient: Patient, new: Prescription) -> None:
        try:
            assess_patient(patient, knowledge=KB)
            check_prescription(patient, new, knowledge=KB)
        except InvalidInputError:
            return
        drawn.append((patient, new))

    collect()
    serial = [
        (assess_patient(p, knowledge=KB), check_prescription(p, n, knowledge=KB)) for p, n in drawn
    ]
    failures: list[int] = []

    def work() -> None:
        for _ in range(10):
            got = [
                (assess_patient(p, knowledge=KB), check_prescription(p, n, knowledge=KB))
                for p, n in drawn
            ]
            if got != serial:
                failures.append(1)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert len(drawn) > 5


def test_durable_backend_under_threads_matches_serial_reference() -> None:
    pytest.importorskip("durable")
    rx = Prescription(
        drug="oxycodone",
        form="modified-release tablet",
        strength="40 mg",
        dose_quantity=1,
        dose_unit="tablet",
        doses_per_day=2,
    )
    cases = [
        Patient(age=age, sex=sex, depression=dep, prescriptions=(rx,))
        for age, sex, dep in ((70, "male", None), (40, "female", True), (30, "unknown", False))
    ]
    expected = [assess_patient(p, knowledge=KB) for p in cases]
    failures: list[int] = []

    def work() -> None:
        for _ in range(3):
            got = [assess_patient(p, knowledge=KB, backend="durable") for p in cases]
            if [g.model_dump(exclude={"backend"}) for g in got] != [
                e.model_dump(exclude={"backend"}) for e in expected
            ]:
                failures.append(1)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
