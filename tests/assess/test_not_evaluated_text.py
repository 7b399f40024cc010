"""The text of alerts that could not be checked names no id or variable (issue 19's standard).

A prescriber reads ``alerts-not-evaluated``: it named the rules by id and the unknown inputs by
variable name ("Could not check: opioid-with-benzodiazepine ... Unknown:
benzodiazepine_coprescribed"). It now names the rules by title, most serious first, the
inputs by the label their ruleset declares, and says what to record; the ids and names are
in the machine fields ``not_checked`` and ``unknown_inputs`` (and the trace). Checked over many
drawn patients with unknowns: no rule id, no input name and no other ``snake_case`` token
appears in any alert's human text (title, summary, detail, actions, ``explain()``).
"""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from human_text import knowledge_ids
from human_text import leaks as text_leaks
from opioidcds import (
    Alert,
    InvalidInputError,
    Patient,
    Prescription,
    check_prescription,
    default_knowledge,
)
from opioidcds.testing import co_medicines, patients, prescriptions

RULESET = default_knowledge().rulesets["prescribing-alerts"]
# ids as written (with a hyphen or an underscore): every id of the bundled knowledge (rule ids,
# input names, ruleset and table ids, ...), and the id of the alert itself
IDS = knowledge_ids() | {"alerts-not-evaluated"}


def leaks(text: str) -> list[str]:
    """The ids and ``snake_case`` words written in ``text`` (whole tokens)."""
    return text_leaks(text, IDS)


def human_text(alert: Alert) -> str:
    """Everything of ``alert`` that people read."""
    return "\n".join((alert.title, alert.summary, alert.detail, *alert.actions, alert.explain()))


def test_the_scan_finds_ids_and_variable_names() -> None:
    # controls: the old wording is caught; the new wording, and English words, are not
    old = (
        "Could not check: opioid-with-benzodiazepine, buprenorphine-patch-above-starting-"
        "strength. Unknown: benzodiazepine_coprescribed."
    )
    assert leaks(old) == [
        "benzodiazepine_coprescribed",
        "buprenorphine-patch-above-starting-strength",
        "opioid-with-benzodiazepine",
    ]
    assert leaks("at weekly_step") == ["weekly_step"]
    new = (
        "Could not check: Opioid with a benzodiazepine. To check it, record whether a "
        "benzodiazepine is co-prescribed. Re-authorising a high-dose opioid."
    )
    assert leaks(new) == []


@settings(max_examples=150, deadline=None)
@given(
    patients(max_opioids=3),
    st.one_of(prescriptions(), co_medicines()),
    st.booleans(),
)
def test_no_alert_text_names_an_id_or_a_variable(
    patient: Patient, new: Prescription, reauthorisation: bool
) -> None:
    try:
        alerts = check_prescription(patient, new, reauthorisation=reauthorisation)
    except InvalidInputError:
        assume(False)
        return
    pending = [a for a in alerts if a.id == "alerts-not-evaluated"]
    assume(pending)  # patients with unknowns: the alert this is about
    for alert in alerts:
        assert leaks(human_text(alert)) == [], alert.id
    # the machine fields hold what the text no longer does, and the text has a title and a
    # label for each (the ruleset's, never the id or the name)
    (alert,) = pending
    assert alert.not_checked
    assert alert.unknown_inputs
    for rule_id in alert.not_checked:
        title = RULESET.rule(rule_id).title
        assert title is not None  # every bundled rule has a title
        assert title in alert.detail
    for name in alert.unknown_inputs:
        assert RULESET.input_label(name) in alert.detail


def test_the_rules_are_named_most_serious_first_with_what_to_record() -> None:
    # Morphine 10 mg tablets, 1 twice a day: oral morphine, factor 1, 20 mg OME/day. New:
    # methadone 5 mg twice a day, which has no factor in the UK table: the total with it is at
    # least 20 (a lower bound). Nothing is recorded about benzodiazepines, z-drugs or
    # gabapentinoids. Not checked: the three co-prescribing rules (unknown classes) and the
    # four dose rules that need the complete total (Script Switch, escalation, very high dose,
    # risk-factor reminder). In the file, Script Switch comes first; the alert names them as
    # the alert list orders alerts: critical (benzodiazepine, z-drug), then warning (Script
    # Switch, gabapentinoid, escalation, very high dose, in file order), then info (reminder).
    morphine = Prescription(
        drug="morphine",
        form="tablet",
        strength="10 mg",
        dose_quantity=1,
        dose_unit="tablet",
        doses_per_day=2,
    )
    methadone = Prescription(
        drug="methadone",
        form="tablet",
        strength="5 mg",
        dose_quantity=1,
        dose_unit="tablet",
        doses_per_day=2,
    )
    alerts = check_prescription(Patient(age=60, prescriptions=(morphine,)), methadone)
    (alert,) = [a for a in alerts if a.id == "alerts-not-evaluated"]
    assert alert.not_checked == (
        "opioid-with-benzodiazepine",
        "opioid-with-z-drug",
        "script-switch-above-threshold",
        "opioid-with-gabapentinoid",
        "dose-escalation",
        "very-high-dose",
        "check-risk-factors",
    )
    assert alert.detail.startswith(
        "Could not check: Opioid with a benzodiazepine; Opioid with a z-drug; Total above the "
        "alert threshold (Script Switch); Opioid with a gabapentinoid; Large dose increase; "
        "Very high dose: ask for a specialist review; Reached high dose: check the risk "
        "factors. "
    )
    # what to record, each once, in the order of the rules that lack it (the four inputs of
    # the complete total share one label)
    assert (
        "To check them, record whether a benzodiazepine is co-prescribed; whether a z-drug "
        "(zopiclone, zolpidem, zaleplon) is co-prescribed; the full dose of every opioid, in a "
        "form that can be converted to OME; whether a gabapentinoid (gabapentin, pregabalin) "
        "is co-prescribed. "
    ) in alert.detail
    # the figures sentence stays: 20 before; at least 20 after (methadone not counted)
    assert alert.detail.endswith(
        ". Total at least 20 mg OME/day (incomplete) with this prescription; 20 mg OME/day before."
    )
