"""A dose given as a minimum makes the check's totals lower bounds, as ``calculate_ome`` does.

Found in the fifth round of issue 20: the prescribing check read completeness from the items'
status alone, so a current prescription with ``dose_is_minimum`` gave "Total 190 mg OME/day"
as if complete, where ``calculate_ome`` says the total is a lower bound; the very-high-dose and
escalation rules were then decided on a total that may be higher (not fail-closed).
"""

from __future__ import annotations

from opioidcds import Patient, Prescription, calculate_ome, check_prescription

# Morphine 10 mg tablets (oral morphine: factor 1, Opioids Aware). Current: 6 tablets three times
# a day = 18 x 10 mg = 180 mg OME/day, "at least" (dose_is_minimum). New: 1 tablet once a day =
# 10 mg OME/day. After: 180 + 10 = 190 mg OME/day, at least.
CURRENT = Prescription(
    drug="morphine",
    form="tablet",
    strength="10 mg",
    dose_quantity=6,
    dose_unit="tablet",
    doses_per_day=3,
    dose_is_minimum=True,
    id="current",
)
NEW = Prescription(
    drug="morphine",
    form="tablet",
    strength="10 mg",
    dose_quantity=1,
    dose_unit="tablet",
    doses_per_day=1,
)


def test_the_calculator_says_lower_bound() -> None:
    result = calculate_ome([CURRENT, NEW])
    assert result.total_mg_per_day == 190
    assert not result.complete


def test_the_check_says_at_least_and_leaves_the_exact_rules_unevaluated() -> None:
    alerts = check_prescription(Patient(age=50, sex="female", prescriptions=(CURRENT,)), NEW)
    details = " ".join(a.detail for a in alerts)
    assert "Total 190 mg OME/day" not in details
    assert "at least 190 mg OME/day" in details
    assert "at least 180 mg OME/day" in details
    not_evaluated = next(a for a in alerts if a.id == "alerts-not-evaluated")
    # the rules that need the exact total or increase are named, not silently passed: by id
    # in the machine field, by title in the text, with what to record
    assert {"very-high-dose", "dose-escalation"} <= set(not_evaluated.not_checked)
    assert "Very high dose: ask for a specialist review" in not_evaluated.detail
    assert "Large dose increase" in not_evaluated.detail
    assert "the full dose of every opioid, in a form that can be converted" in not_evaluated.detail


def test_the_incomplete_total_alert_names_a_minimum_dose_as_its_cause() -> None:
    # Every item converts (morphine, factor 1): the total is a lower bound only because the
    # current dose is a minimum. The alert said "could not be converted" alone, untrue here;
    # it names both causes and says the real total may be higher (prescribing-alerts 2.2.1).
    alerts = check_prescription(Patient(age=50, sex="female", prescriptions=(CURRENT,)), NEW)
    assert all(item.factor is not None for item in calculate_ome([CURRENT, NEW]).items)
    incomplete = next(a for a in alerts if a.id == "ome-incomplete")
    assert "its dose was given only as a minimum" in incomplete.detail
    assert "may be higher where a dose was given only as a minimum" in incomplete.detail
    assert any("doses given only as a minimum" in action for action in incomplete.actions)


def test_a_minimum_dose_the_new_prescription_replaces_leaves_after_complete() -> None:
    # the new prescription replaces the minimum one: after = 10 mg OME/day, complete; before
    # (the minimum one) is still a lower bound: at least 180
    new = NEW.model_copy(update={"replaces": "current"})
    alerts = check_prescription(Patient(age=50, sex="female", prescriptions=(CURRENT,)), new)
    details = " ".join(a.detail for a in alerts)
    assert "Total 10 mg OME/day with this prescription; at least 180 mg OME/day" in details


# Buprenorphine 35 microgram/hour patches (Transtec 35: the highest UK starting strength), one
# patch every 4 days (doses_per_day 0.25); current: codeine 30 mg four times a day (120 mg x 0.1
# = 12 mg OME/day, below the 120 mg OME/day of a strong-opioid history). The rule
# buprenorphine-patch-above-starting-strength fires when the patches worn release more than 35
# microgram/hour: 1 patch is 35 (not above), 2 patches 70 (above).
CODEINE = Prescription(
    drug="codeine",
    form="tablet",
    strength="30 mg",
    dose_quantity=1,
    dose_unit="tablet",
    doses_per_day=4,
)


def _buprenorphine(patches: int, *, minimum: bool) -> Prescription:
    return Prescription(
        drug="buprenorphine",
        form="transdermal patch",
        strength="35 microgram/hour",
        dose_quantity=patches,
        dose_unit="patch",
        doses_per_day="0.25",
        dose_is_minimum=minimum,
    )


def test_a_patch_rate_given_as_a_minimum_is_not_read_as_the_rate_worn() -> None:
    # "at least 1 patch" is at least 35 microgram/hour: it may be 70. Read as exactly 35 the
    # rule said "not above the starting strength", silently (review of issue 20 round 6); the
    # rate is not known, so the rule is listed as not checked (fail closed)
    patient = Patient(age=50, sex="female", prescriptions=(CODEINE,))
    alerts = check_prescription(patient, _buprenorphine(1, minimum=True))
    ids = [a.id for a in alerts]
    assert "buprenorphine-patch-above-starting-strength" not in ids
    pending = next(a for a in alerts if a.id == "alerts-not-evaluated")
    assert "buprenorphine-patch-above-starting-strength" in pending.not_checked
    assert "new_item_buprenorphine_patch_microgram_per_hour" in pending.unknown_inputs
    # the same patch given as an exact dose: 35 is not above 35, the rule is checked (not
    # fired); 2 patches (70 > 35) fire it
    exact = check_prescription(patient, _buprenorphine(1, minimum=False))
    assert all("buprenorphine-patch-above-starting-strength" not in a.not_checked for a in exact)
    assert "buprenorphine-patch-above-starting-strength" in [
        a.id for a in check_prescription(patient, _buprenorphine(2, minimum=False))
    ]


# Morphine 10mg tablets (dm+d 42014811000001102; oral morphine, factor 1, Opioids Aware): one
# tablet twice a day = 2 x 10 = 20 mg OME/day, given as a code and a text (no minimum). The new
# prescription is the minimum one: 6 tablets three times a day = 180 mg OME/day, at least.
# After: 20 + 180 = 200 mg OME/day, at least; before: 20 mg OME/day, complete. As a structured
# dose, the current one is NEW above: 1 x 10 = 10 mg OME/day; after 10 + 180 = 190, at least.
CODE_AND_TEXT_CURRENT = Prescription(
    dmd_code="42014811000001102", dosage_text="one tablet twice a day"
)
NEW_AT_LEAST = CURRENT.model_copy(update={"id": None})


def test_a_new_prescription_given_as_a_minimum_makes_after_a_lower_bound() -> None:
    # The patient's own prescriptions give no minimum dose (the patient records none: check
    # round 9 reads the flag from the counted prescriptions only when the patient or the new
    # prescription may have one); the new one alone is the minimum, so "after" is a lower
    # bound and "before" is complete. Both a code and a text, and a structured dose, as the
    # patient's prescription (the first is classified by its code alone).
    for current, after, before in ((CODE_AND_TEXT_CURRENT, 200, 20), (NEW, 190, 10)):
        patient = Patient(age=50, sex="female", prescriptions=(current,))
        alerts = check_prescription(patient, NEW_AT_LEAST)
        details = " ".join(a.detail for a in alerts)
        assert (
            f"Total at least {after} mg OME/day (incomplete) with this prescription; "
            f"{before} mg OME/day before." in details
        )
        assert "ome-incomplete" in [a.id for a in alerts]
        # at least 200 reaches the very high dose (200 mg OME/day, Opioids Aware) already;
        # at least 190 may be above it or not: the rule is listed as not checked
        not_evaluated = [a.not_checked for a in alerts if a.id == "alerts-not-evaluated"]
        if after == 200:
            assert "very-high-dose" in [a.id for a in alerts]
        else:
            assert "very-high-dose" in not_evaluated[0]
