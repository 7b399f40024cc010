"""The service core without HTTP: records -> patient, cards with hand-worked OME figures."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest

from opioidcds import KnowledgeBaseError, load_knowledge
from opioidcds.cdshooks import (
    CDSHooksService,
    PrefetchMissingError,
    RequestError,
    UnknownServiceError,
    load_codelists,
)
from opioidcds.cdshooks.cards import escape_markdown, short_summary
from opioidcds.cdshooks.models import Card, HookRequest

from .hooks_helpers import bundle, condition, hook_request, med_request, named_request

SIGN = "opioidcds-order-sign"
SELECT = "opioidcds-order-select"
TODAY = dt.date(2026, 11, 22)


@pytest.fixture(scope="module")
def svc() -> CDSHooksService:
    return CDSHooksService(today=lambda: TODAY)


def call(svc: CDSHooksService, body: dict[str, Any], service: str = SIGN) -> list[Card]:
    return list(svc.call(service, HookRequest.model_validate(body)).cards)


def by_summary(cards: list[Card], text: str) -> Card:
    found = [c for c in cards if text in c.summary]
    assert len(found) == 1, [c.summary for c in cards]
    return found[0]


# --- hand-worked OME figures ------------------------------------------------------------------


def test_script_switch_card_shows_the_arithmetic(svc: CDSHooksService) -> None:
    # Current: morphine MR 30 mg, 1 tablet twice a day = 60 mg/day x 1 = 60 mg OME/day.
    # Draft: oxycodone 10 mg, 2 capsules twice a day = 40 mg/day x 1.5 = 60 mg OME/day.
    # Total 120 mg OME/day > 100 (Script Switch threshold of rules/prescribing-alerts.toml).
    body = hook_request(
        "order-sign",
        [med_request("oxycodone-10", dose=2, per_day=2, status="draft", rid="d1")],
        current=[med_request("morphine-mr-30", dose=1, per_day=2)],
    )
    cards = call(svc, body)
    card = by_summary(cards, "above the alert threshold")
    assert card.indicator == "warning"
    assert "morphine 30 mg x 1 tablet x 2/day = 60 mg/day x 1 = 60 mg OME/day" in card.detail
    assert "oxycodone 10 mg x 2 capsule x 2/day = 40 mg/day x 1.5 = 60 mg OME/day" in card.detail
    assert "**Total: 120 mg OME/day.**" in card.detail
    assert "Total 120 mg OME/day with this prescription; 60 mg OME/day before." in card.detail
    # why, in words, with the sources by name; the ids and the trace are in the extension
    assert '**Why:** the rule "Total above the alert threshold (Script Switch)"' in card.detail
    assert "- National analysis of opioid-reduction programmes: Script Switch" in card.detail
    assert "alert_threshold_mg_per_day" not in card.detail
    assert card.extension is not None
    trace = card.extension["org.opioidcds.rule-trace"]
    assert (trace["rule"], trace["ruleset"]) == (
        "script-switch-above-threshold",
        "prescribing-alerts",
    )
    assert any("alert_threshold_mg_per_day=100 -> true" in line for line in trace["trace"])
    assert card.overrideReasons, "warning cards offer override reasons"
    assert card.links is not None
    assert {lnk.url for lnk in card.links} >= {"https://www.fpm.ac.uk/opioids-aware"}
    # 120 is not above the 120 mg reminder threshold: no reminder card.
    assert not [c for c in cards if "high dose" in c.summary]
    # benzodiazepine / gabapentinoid: the whole medication list was read, none is one.
    assert not [c for c in cards if "could not be checked" in c.summary]


def test_fentanyl_patch_uses_the_patch_rate(svc: CDSHooksService) -> None:
    # 25 micrograms/hour x 2.4 = 60 mg OME/day, whatever the change interval (72 h here).
    body = hook_request(
        "order-sign",
        [med_request("fentanyl-25", dose=1, per_day=1, period_days=3, status="draft")],
    )
    cards = call(svc, body)
    naive = by_summary(cards, "Fentanyl patch")
    assert naive.indicator == "critical"
    assert "**Total: 60 mg OME/day.**" in naive.detail
    assert naive.source.url is not None
    assert "fentanyl" in naive.source.url


def test_nothing_to_say_is_an_empty_list(svc: CDSHooksService) -> None:
    # Codeine 30 mg, 2 tablets four times a day = 240 mg/day x 0.1 = 24 mg OME/day.
    body = hook_request(
        "order-sign", [med_request("codeine-30", dose=2, per_day=4, status="draft")]
    )
    assert call(svc, body) == []


def test_reauthorisation_from_prior_prescription(svc: CDSHooksService) -> None:
    # Morphine MR 30 mg, 2 tablets twice a day = 120 mg OME/day, re-authorised: the draft's
    # priorPrescription names the active order it replaces (the same medicine).
    body = hook_request(
        "order-sign",
        [med_request("morphine-mr-30", dose=2, per_day=2, status="draft", rid="draft", prior=True)],
        current=[med_request("morphine-mr-30", dose=2, per_day=2, rid="previous")],
    )
    cards = call(svc, body)
    assert cards
    assert all("(re-authorisation)" in c.detail for c in cards)
    assert all("**Total: 120 mg OME/day.**" in c.detail for c in cards)


def test_a_prior_prescription_not_listed_as_active_is_checked_as_a_new_order(
    svc: CDSHooksService,
) -> None:
    # The same draft, but the order it replaces is not in the active list (stopped, expired):
    # the record does not show the patient taking it, so it is checked as a new order (the
    # new-item checks run), and the card says why. 120 mg OME/day > 100: the new-order alert.
    body = hook_request(
        "order-sign",
        [med_request("morphine-mr-30", dose=2, per_day=2, status="draft", prior=True)],
    )
    cards = call(svc, body)
    assert cards
    assert all("re-authorisation" not in c.detail for c in cards)
    assert all("does not list as active" in c.detail for c in cards)
    assert all("**Total: 120 mg OME/day.**" in c.detail for c in cards)


def test_same_as_a_current_prescription_is_a_reissue(svc: CDSHooksService) -> None:
    # Morphine MR 30 mg, 2 tablets twice a day = 120 mg OME/day, current and re-ordered.
    body = hook_request(
        "order-sign",
        [med_request("morphine-mr-30", dose=2, per_day=2, status="draft")],
        current=[med_request("morphine-mr-30", dose=2, per_day=2)],
    )
    cards = call(svc, body)
    assert cards
    assert all("(re-authorisation)" in c.detail for c in cards)
    assert all("**Total: 120 mg OME/day.**" in c.detail for c in cards)


def test_drafts_add_up_in_order(svc: CDSHooksService) -> None:
    # Morphine MR 30 mg twice a day (60), then oxycodone 10 mg 2 twice a day (60): 120 in all.
    d1 = med_request("morphine-mr-30", dose=1, per_day=2, status="draft", rid="a")
    d2 = med_request("oxycodone-10", dose=2, per_day=2, status="draft", rid="b")
    cards = call(svc, hook_request("order-sign", [d1, d2]))
    card = by_summary(cards, "above the alert threshold")
    assert "draft order 2" in card.detail
    assert "**Total: 120 mg OME/day.**" in card.detail


def test_identical_orders_are_counted_once_and_said(svc: CDSHooksService) -> None:
    d1 = med_request("morphine-mr-30", dose=2, per_day=2, status="draft", rid="a")
    d2 = med_request("morphine-mr-30", dose=2, per_day=2, status="draft", rid="b")
    cards = call(svc, hook_request("order-sign", [d1, d2]))
    dup = by_summary(cards, "same medicine and dose")
    assert dup.indicator == "info"
    assert "draft order 1" in dup.detail
    others = [c for c in cards if c.uuid != dup.uuid]
    assert others
    assert all("**Total: 120 mg OME/day.**" in c.detail for c in others)
    # The second order holds only the repeated prescription: deleting it is a concrete action,
    # offered (not recommended: both may be meant) as a CDS Hooks 2.0.1 delete suggestion.
    assert dup.selectionBehavior == "at-most-one"
    assert dup.suggestions is not None
    (suggestion,) = dup.suggestions
    assert suggestion.isRecommended is False
    (action,) = suggestion.actions
    assert (action.type, action.resourceId) == ("delete", "MedicationRequest/b")


def test_a_repeated_dosage_inside_one_order_gets_no_delete_suggestion(
    svc: CDSHooksService,
) -> None:
    # One order with the same dosage instruction twice: deleting the order would remove both.
    d1 = med_request("morphine-mr-30", dose=2, per_day=2, status="draft", rid="a")
    d1["dosageInstruction"] = d1["dosageInstruction"] * 2
    cards = call(svc, hook_request("order-sign", [d1]))
    dup = by_summary(cards, "same medicine and dose")
    assert dup.suggestions is None
    assert dup.selectionBehavior is None


def test_order_select_checks_only_the_selection(svc: CDSHooksService) -> None:
    d1 = med_request("morphine-mr-30", dose=2, per_day=2, status="draft", rid="a")
    d2 = med_request("codeine-30", dose=1, per_day=1, status="draft", rid="b")
    body = hook_request("order-select", [d1, d2])
    body["context"]["selections"] = ["MedicationRequest/b"]
    assert call(svc, body, SELECT) == []
    body["context"]["selections"] = ["MedicationRequest/a"]
    assert call(svc, body, SELECT)
    body["context"]["selections"] = ["MedicationRequest/zzz"]
    with pytest.raises(RequestError) as err:
        call(svc, body, SELECT)
    assert err.value.path == "context.selections[0]"


def test_a_profile_changes_the_thresholds() -> None:
    # Morphine MR 30 mg 3 times a day = 90, codeine 30 mg twice a day = 60 mg x 0.1 = 6: 96 mg
    # OME/day. Default reminder threshold 120: no reminder; profile opioids-aware-90: reminder.
    body = hook_request(
        "order-sign",
        [med_request("codeine-30", dose=1, per_day=2, status="draft")],
        current=[med_request("morphine-mr-30", dose=1, per_day=3)],
    )
    default = call(CDSHooksService(today=lambda: TODAY), body)
    assert not [c for c in default if "high dose" in c.summary]
    kb = load_knowledge(profile=Path("rules/profiles/opioids-aware-90.toml"))
    profiled = call(CDSHooksService(kb, today=lambda: TODAY), body)
    card = by_summary(profiled, "high dose")
    assert "local profile opioids aware 90 1.1.2" in card.detail
    assert "**Total: 96 mg OME/day.**" in card.detail
    # issue 23: the card names what the profile changed (old -> new, from the profile file)
    changes = (
        "Local profile opioids aware 90, version 1.1.2 in force: high dose above 120 -> 90 mg/day "
        "(risk factors); risk-factor reminder above 120 -> 90 mg/day (prescribing alerts)."
    )
    assert f"**{escape_markdown(changes)}**" in card.detail


# --- never silence -----------------------------------------------------------------------------


SWITCH_OFF = """kind = "profile"
id = "no-sedative-alerts"
version = "0.1.0"
effective_date = 2026-12-05
owner = "tests"
description = "Switches the benzodiazepine and z-drug alerts off (a trial's mistake)."

[citations]
local = "Local policy (test)."

[rulesets.prescribing-alerts]
ruleset_version = "2.2.1"

[[rulesets.prescribing-alerts.disable]]
rule = "opioid-with-benzodiazepine"
reason = "Handled by the practice pharmacist."

[[rulesets.prescribing-alerts.disable]]
rule = "opioid-with-z-drug"
reason = "Handled by the practice pharmacist."
"""


def test_an_order_quiet_because_the_profile_switched_alerts_off_says_so(tmp_path: Path) -> None:
    # A re-issue of morphine MR 30 mg twice a day (60 mg OME/day) with diazepam: the bundled
    # rules raise the critical benzodiazepine card only. A profile that switches that alert off
    # must not leave the service silent: one card names the profile and the alerts it disabled.
    body = hook_request(
        "order-sign",
        [med_request("morphine-mr-30", dose=1, per_day=2, status="draft", rid="d1")],
        current=[
            med_request("morphine-mr-30", dose=1, per_day=2),
            named_request("Diazepam 5mg tablets"),
        ],
    )
    (bundled,) = call(CDSHooksService(today=lambda: TODAY), body)
    assert bundled.indicator == "critical"
    assert "benzodiazepine" in bundled.summary
    profile = tmp_path / "no-sedative-alerts.toml"
    profile.write_text(SWITCH_OFF)
    svc = CDSHooksService(load_knowledge(profile=profile), today=lambda: TODAY)
    (card,) = call(svc, body)
    assert card.summary == "No alert; 2 prescribing alert(s) switched off by the local profile."
    assert card.indicator == "warning"  # both are safety alerts
    assert "Opioid with a benzodiazepine" in card.detail
    assert "Opioid with a z-drug" in card.detail
    assert "local profile no sedative alerts, version 0.1.0 in force" in card.detail
    assert card.source.label == "Local profile no sedative alerts, version 0.1.0"
    # an order that raises an alert gets its alert card, which names the profile, and no extra
    high = hook_request(
        "order-sign", [med_request("morphine-mr-30", dose=4, per_day=2, status="draft")]
    )
    cards = call(svc, high)
    assert cards
    assert not [c for c in cards if "switched off" in c.summary]
    assert all("no sedative alerts, version 0.1.0" in c.detail for c in cards)


def test_unreadable_draft_gets_a_card(svc: CDSHooksService) -> None:
    # Not in the catalogue, and its name names an opioid: a warning.
    body = hook_request("order-sign", [named_request("Morphine special 5mg", status="draft")])
    (card,) = call(svc, body)
    assert card.indicator == "warning"
    assert "could not be checked" in card.summary
    assert "context.draftOrders.entry[0].resource.medicationCodeableConcept" in card.detail
    assert card.overrideReasons


def test_an_order_over_the_plausibility_limits_says_so_not_that_it_was_unread(
    svc: CDSHooksService,
) -> None:
    # Fentanyl 25 microgram/hour patches: the current order's patches reach the knowledge's
    # limit on the total patch rate exactly (limit / 25 patches x 25 = the limit: allowed);
    # the draft adds one more patch (25 microgram/hour over it): refused as implausible, which
    # is a unit or quantity entered wrongly, not a dose that could not be read.
    limit = svc.knowledge.vocabulary.limits.max_patch_rate_microgram_per_hour
    patches = int(limit / 25)
    body = hook_request(
        "order-sign",
        [med_request("fentanyl-25", dose=1, per_day=1, status="draft", rid="new")],
        current=[med_request("fentanyl-25", dose=patches, per_day=1, rid="old")],
    )
    (card,) = [c for c in call(svc, body) if c.summary.startswith("Draft order 1")]
    assert card.summary == (
        "Draft order 1 could not be checked as sent: its dose gives an implausible daily "
        "amount of one opioid."
    )
    assert card.indicator == "warning"
    assert "was refused as sent" in card.detail
    assert "could not be read" not in card.detail
    assert "plausibility limits" in card.detail
    assert "check this order by hand" in card.detail
    # the path people read is the order's, not the calculator's argument ("prescriptions")
    assert "`context.draftOrders.entry[0].resource" in card.detail
    assert "`prescriptions`" not in card.detail


@pytest.mark.parametrize(
    ("where", "value"),
    [("dose", 10**12), ("dose", 0), ("dose", -2), ("period", 0)],
)
def test_an_order_with_a_zero_negative_or_huge_number_is_refused_as_sent(
    svc: CDSHooksService, where: str, value: int
) -> None:
    # A coded order with a structured dose whose number cannot be a dose or a period (10^12
    # tablets, none, minus two; twice every 0 days): its own data are wrong, so it is refused
    # as sent and the card says to correct the number; not "could not be read", whose advice
    # (send a dm+d code and a structured dose) the order already follows.
    order = med_request("morphine-mr-30", dose=2, per_day=2, status="draft")
    dosage = order["dosageInstruction"][0]
    if where == "dose":
        dosage["doseAndRate"][0]["doseQuantity"]["value"] = value
    else:
        dosage["timing"]["repeat"]["period"] = value
    (card,) = [
        c
        for c in call(svc, hook_request("order-sign", [order]))
        if c.summary.startswith("Draft order 1")
    ]
    assert card.summary == (
        "Draft order 1 could not be checked as sent: a number in it is zero, negative or too "
        "large to be real."
    )
    assert card.indicator == "warning"
    assert "was refused as sent" in card.detail
    assert "could not be read" not in card.detail
    assert "structured dose" not in card.detail
    assert "Correct the number at the path shown" in card.detail


def test_unrecognised_non_opioid_draft_is_said_at_info(svc: CDSHooksService) -> None:
    # Not in the opioid catalogue, and its name names no opioid: still said, as info.
    body = hook_request("order-sign", [named_request("Amoxicillin 500mg capsules", status="draft")])
    (card,) = call(svc, body)
    assert card.indicator == "info"
    assert "not recognised as an opioid" in card.summary
    assert "taken as not an opioid" in card.detail


def test_unreadable_current_medicine_gets_a_card(svc: CDSHooksService) -> None:
    body = hook_request(
        "order-sign",
        [med_request("codeine-30", dose=1, per_day=1, status="draft")],
        current=[named_request("Oxycodone special 10mg tablets")],
    )
    cards = call(svc, body)
    card = by_summary(cards, "current medicine could not be read")
    assert card.indicator == "warning"
    assert "prefetch.medications.entry[0].resource" in card.detail
    # co-prescription is now unknown: the checks that need it say so
    assert any("could not be checked" in c.summary for c in cards)
    body["prefetch"]["medications"] = bundle(named_request("Amoxicillin 500mg capsules"))
    cards = call(svc, body)
    card = by_summary(cards, "not recognised (no opioid named)")
    assert card.indicator == "info"


def test_incomplete_ome_is_said(svc: CDSHooksService) -> None:
    # A dose in an unreadable unit makes the dosage unreadable: a card, not silence.
    draft = med_request("morphine-mr-30", status="draft")
    draft["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["unit"] = "furlong"
    cards = call(svc, hook_request("order-sign", [draft]))
    assert cards
    assert all(c.indicator in {"warning", "critical"} for c in cards)


def test_implausible_order_is_said_and_left_out_of_later_totals(svc: CDSHooksService) -> None:
    # 200 tablets of morphine 30 mg twice a day = 12 g/day: over the plausibility limit.
    bad = med_request("morphine-mr-30", dose=200, per_day=2, status="draft", rid="a")
    # then oxycodone 10 mg, 4 capsules twice a day = 80 mg/day x 1.5 = 120 mg OME/day
    good = med_request("oxycodone-10", dose=4, per_day=2, status="draft", rid="b")
    cards = call(svc, hook_request("order-sign", [bad, good]))
    unchecked = by_summary(cards, "Draft order 1 could not be checked")
    assert unchecked.indicator == "warning"
    checked = by_summary(cards, "above the alert threshold")
    assert "**Total: 120 mg OME/day.**" in checked.detail


def test_incomplete_ome_says_so(svc: CDSHooksService) -> None:
    # Morphine MR 30 mg, 2 twice a day = 120 mg OME/day; methadone has no UK factor: the total
    # is "at least 120", and the ruleset's incomplete-OME alert fires.
    body = hook_request(
        "order-sign",
        [med_request("methadone-5", dose=2, per_day=2, status="draft")],
        current=[med_request("morphine-mr-30", dose=2, per_day=2)],
    )
    cards = call(svc, body)
    incomplete = by_summary(cards, "incomplete")
    assert incomplete.indicator == "warning"
    assert "**Total: at least 120 mg OME/day** - incomplete" in incomplete.detail
    assert "| not converted |" in incomplete.detail
    assert incomplete.detail.count("No UK conversion factor") == 1


def test_benzodiazepine_by_name_is_kept_for_coprescription(svc: CDSHooksService) -> None:
    body = hook_request(
        "order-sign",
        [med_request("morphine-mr-30", dose=1, per_day=2, status="draft")],
        current=[named_request("Diazepam 5mg tablets")],
    )
    card = by_summary(call(svc, body), "benzodiazepine")
    assert card.indicator == "critical"
    assert card.source.url is not None
    assert "benzodiazepines-and-opioids" in card.source.url


# --- risk inputs from codelists ----------------------------------------------------------------


def test_palliative_care_lifts_dose_thresholds(svc: CDSHooksService) -> None:
    draft = med_request("morphine-mr-30", dose=2, per_day=2, status="draft")
    high = call(svc, hook_request("order-sign", [draft], conditions=[]))
    assert any("above the alert threshold" in c.summary for c in high)
    palliative = call(svc, hook_request("order-sign", [draft], conditions=[condition("103735009")]))
    assert not any("above the alert threshold" in c.summary for c in palliative)
    refuted = call(
        svc,
        hook_request(
            "order-sign", [draft], conditions=[condition("103735009", verification="refuted")]
        ),
    )
    assert any("above the alert threshold" in c.summary for c in refuted)
    assert any("palliative care: recorded absent" in c.detail for c in refuted)


def test_unknown_code_leaves_input_unknown(svc: CDSHooksService) -> None:
    draft = med_request("morphine-mr-30", dose=2, per_day=2, status="draft")
    cards = call(
        svc,
        hook_request(
            "order-sign",
            [draft],
            conditions=[condition("12345678"), condition("35489007", clinical="resolved")],
            observations=[],
        ),
    )
    detail = cards[0].detail
    assert "depression: unknown" in detail  # resolved depression is not current
    assert "Not sent by the EHR (inputs unknown): prefetch encounters, statements." in detail


def test_observation_employment_is_recorded_both_ways(svc: CDSHooksService) -> None:
    draft = med_request("morphine-mr-30", dose=2, per_day=2, status="draft")

    def obs(code: str, when: str) -> dict[str, Any]:
        return {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "224362002"}]},
            "valueCodeableConcept": {
                "coding": [{"system": "http://snomed.info/sct", "code": code}]
            },
            "effectiveDateTime": when,
        }

    later_employed = [obs("73438004", "2024-01-01"), obs("224363007", "2025-06-01")]
    cards = call(svc, hook_request("order-sign", [draft], observations=later_employed))
    assert "unemployed: recorded absent" in cards[0].detail
    later_unemployed = [obs("73438004", "2025-07-01"), obs("224363007", "2025-06-01")]
    cards = call(svc, hook_request("order-sign", [draft], observations=later_unemployed))
    assert "unemployed: recorded;" in cards[0].detail


def test_emergency_encounter_sets_last_ae_attendance(svc: CDSHooksService) -> None:
    draft = med_request("morphine-mr-30", dose=2, per_day=2, status="draft")
    enc = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER"},
        "period": {"start": "2026-10-01T10:00:00Z"},
    }
    cards = call(svc, hook_request("order-sign", [draft], encounters=[enc]))
    assert "A&E attendance date: recorded" in cards[0].detail
    enc["period"] = {"start": "1850-01-01"}
    cards = call(svc, hook_request("order-sign", [draft], encounters=[enc]))
    unread = by_summary(cards, "Some record entries could not be read")
    assert "prefetch.encounters.entry[0].resource.period.start" in unread.detail
    assert any("above the alert threshold" in c.summary for c in cards)


# --- request errors ----------------------------------------------------------------------------


def test_missing_prefetch_is_412(svc: CDSHooksService) -> None:
    body = hook_request("order-sign", [med_request("codeine-30", status="draft")], prefetch=False)
    with pytest.raises(PrefetchMissingError) as err:
        call(svc, body)
    assert err.value.keys == ("patient", "medications")


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda b: b["context"].pop("draftOrders"), "context.draftOrders"),
        (lambda b: b["context"].update(draftOrders="orders"), "context.draftOrders"),
        (lambda b: b["context"].update(draftOrders=[]), "context.draftOrders"),
        (
            lambda b: b["context"]["draftOrders"].update(resourceType="Patient"),
            "context.draftOrders.resourceType",
        ),
        (
            lambda b: b["context"]["draftOrders"]["entry"].append({"resource": 3}),
            "context.draftOrders.entry[1].resource",
        ),
        (lambda b: b["context"].pop("patientId"), "context.patientId"),
        (lambda b: b.update(hook="order-select"), "hook"),
        (
            lambda b: b["prefetch"].update(patient={"resourceType": "Practitioner"}),
            "prefetch.patient.resourceType",
        ),
        (
            lambda b: b["prefetch"].update(medications={"entry": []}),
            "prefetch.medications.resourceType",
        ),
    ],
)
def test_malformed_requests_name_the_path(svc: CDSHooksService, mutate: Any, path: str) -> None:
    body = hook_request("order-sign", [med_request("codeine-30", status="draft")])
    mutate(body)
    with pytest.raises(RequestError) as err:
        call(svc, body)
    assert err.value.path == path


def test_unknown_service(svc: CDSHooksService) -> None:
    body = hook_request("order-sign", [])
    with pytest.raises(UnknownServiceError):
        call(svc, body, "nope")


# --- card format -------------------------------------------------------------------------------


def test_every_card_is_well_formed(svc: CDSHooksService) -> None:
    body = hook_request(
        "order-sign",
        [
            med_request("morphine-mr-30", dose=4, per_day=2, status="draft", rid="a"),
            named_request("Pregabalin 75mg capsules", status="draft", rid="b"),
            named_request("Unknownium", status="draft", rid="c"),
        ],
        current=[named_request("Diazepam 5mg tablets")],
    )
    cards = call(svc, body)
    assert len(cards) >= 4
    assert len({c.uuid for c in cards}) == len(cards)
    for c in cards:
        uuid.UUID(c.uuid)
        assert len(c.summary) < 140
        assert c.indicator in {"info", "warning", "critical"}
        assert c.source.label


def test_markdown_is_escaped() -> None:
    assert escape_markdown("a|b <script> *x* [l](u)") == r"a\|b \<script\> \*x\* \[l\](u)"
    assert escape_markdown("two\nlines") == "two lines"


def test_summary_is_cut_below_140() -> None:
    assert short_summary("x" * 200).endswith("…")
    assert len(short_summary("x" * 200)) == 139
    assert short_summary("short") == "short"


def test_discovery_lists_both_hooks_with_prefetch(svc: CDSHooksService) -> None:
    services = svc.discovery().services
    assert {s.hook for s in services} == {"order-select", "order-sign", "patient-view"}
    for s in services:
        assert s.prefetch["patient"] == "Patient/{{context.patientId}}"
        assert "status=active" in s.prefetch["medications"]
        assert "35489007" in s.prefetch["conditions"]  # from the codelists, not code
        assert set(s.prefetch) >= {"conditions", "observations", "encounters"}


# --- codelists ---------------------------------------------------------------------------------


def test_bundled_codelists_are_cited_and_say_how_complete() -> None:
    lists = load_codelists()
    assert lists.version
    assert lists.effective_date
    for lst in lists.lists.values():
        assert lst.citations
        assert lst.completeness
    assert lists.lookup("35489007") is not None
    assert lists.lookup("0") is None


def test_every_codelist_states_its_review_status_honestly() -> None:
    # no list has been reviewed by a clinician yet: each must say so, and empty ones say why
    for lst in load_codelists().lists.values():
        assert lst.review.startswith("NOT clinically reviewed"), lst.input
        if not lst.codes:
            assert "empty on purpose" in lst.review, lst.input


def test_codelist_rejects_duplicate_codes(tmp_path: Path) -> None:
    text = Path("codelists/risk-inputs.toml").read_text(encoding="utf-8")
    text = text.replace('"58214004", display = "Schizophrenia', '"35489007", display = "Dup')
    bad = tmp_path / "bad.toml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="35489007"):
        load_codelists(bad)


def test_codelist_rejects_unknown_keys(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        Path("codelists/risk-inputs.toml").read_text(encoding="utf-8") + '\nsurprise = "x"\n',
        encoding="utf-8",
    )
    with pytest.raises(KnowledgeBaseError):
        load_codelists(bad)


def test_bundles_are_only_of_resources() -> None:
    assert bundle()["entry"] == []
