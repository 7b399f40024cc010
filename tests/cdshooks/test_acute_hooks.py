"""Issue 10 through the CDS Hooks service: discharge and inpatient orders get the hospital rules.

Limits are the rulesets' defaults (rules/discharge.toml: max_days_supply_new_opioid = 7;
rules/inpatient.toml: max_iv_morphine_bolus_hours = 48), each from the De-escalate stage of the
NHS England analysis of opioid-reduction programmes (2023). Expected
cards are worked out from those rules by hand (comments give the arithmetic).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opioidcds import KnowledgeBaseError
from opioidcds.cdshooks import CDSHooksService
from opioidcds.cdshooks.acute_fhir import load_acute_mapping
from opioidcds.cdshooks.models import CardsResponse, HookRequest

from .hooks_helpers import hook_request, med_request, named_request

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
SIGN = "opioidcds-order-sign"
CATEGORY = "http://terminology.hl7.org/CodeSystem/medicationrequest-category"
EXT = "urn:opioidcds:fhir:"
SUPPLY_SUMMARY = "supplied for more than the discharge maximum"
GABA_SUMMARY = "Opioid and gabapentinoid prescribed together at discharge"
IV_SUMMARY = "IV morphine boluses beyond the trust limit"
SCRIPT_SWITCH = "above the alert threshold"


@pytest.fixture(scope="module")
def service() -> CDSHooksService:
    return CDSHooksService(today=NOW.date, now=lambda: NOW)


def hospital(
    resource: dict[str, Any],
    *,
    category: str | None = "discharge",
    days: float | None = None,
    unit: str = "d",
    before: bool | None = False,
    weaning: bool | None = True,
    gp: bool | None = True,
) -> dict[str, Any]:
    """``resource`` as a hospital order: category, supply and the documented extensions."""
    if category is not None:
        resource["category"] = [{"coding": [{"system": CATEGORY, "code": category}]}]
    if days is not None:
        resource["dispenseRequest"] = {
            "expectedSupplyDuration": {
                "value": days,
                "unit": unit,
                "system": "http://unitsofmeasure.org",
                "code": unit,
            }
        }
    ext = []
    for name, value in (
        ("opioid-before-admission", before),
        ("weaning-plan-recorded", weaning),
        ("gp-communication-recorded", gp),
    ):
        if value is not None:
            ext.append({"url": f"{EXT}{name}", "valueBoolean": value})
    if ext:
        resource["extension"] = ext
    return resource


def call(service: CDSHooksService, body: dict[str, Any]) -> CardsResponse:
    return service.call(SIGN, HookRequest.model_validate(body))


def summaries(response: CardsResponse) -> list[str]:
    return [c.summary for c in response.cards]


def has(response: CardsResponse, text: str) -> bool:
    return any(text in s for s in summaries(response))


def codeine(days: float | None, **kw: Any) -> dict[str, Any]:
    # Codeine 30 mg tablets, 1 tablet twice a day: 60 mg codeine = 6 mg OME/day (x 0.1)
    return hospital(med_request("codeine-30", status="draft", rid="d1"), days=days, **kw)


@pytest.mark.parametrize(("days", "fires"), [(7, False), (8, True)])
def test_discharge_supply_boundary(service: CDSHooksService, days: int, fires: bool) -> None:
    # new opioid (before admission: false); 8 > 7 fires, 7 > 7 does not
    response = call(service, hook_request("order-sign", [codeine(days)]))
    assert has(response, SUPPLY_SUMMARY) is fires
    card = next((c for c in response.cards if SUPPLY_SUMMARY in c.summary), None)
    if card is not None:
        assert card.indicator == "warning"
        assert card.source.label.startswith("National analysis of opioid-reduction programmes")
        assert f"longest days supply | {days}" in card.detail  # the input, in words
        assert card.extension is not None
        trace = card.extension["org.opioidcds.rule-trace"]["trace"]
        assert any("max_days_supply_new_opioid" in line for line in trace)  # names the limit
        assert card.extension is not None  # the decision's provenance (HAZ-011)
        assert len(card.extension["org.opioidcds.provenance"]["knowledge_sha256"]) == 64
    # weaning plan and GP letter recorded, low dose, immediate-release: nothing else to say
    assert all("could not be checked" not in s for s in summaries(response))


def test_part_days_and_weeks(service: CDSHooksService) -> None:
    # 7.5 days rounds up to 8 (> 7); 1 week = 7 days (not > 7)
    assert has(call(service, hook_request("order-sign", [codeine(7.5)])), SUPPLY_SUMMARY)
    week = codeine(1, unit="wk")
    assert not has(call(service, hook_request("order-sign", [week])), SUPPLY_SUMMARY)


def test_established_patient_is_not_held_to_the_new_opioid_limit(service: CDSHooksService) -> None:
    body = hook_request("order-sign", [codeine(28, before=True)])
    assert not has(call(service, body), SUPPLY_SUMMARY)
    # an active community opioid prescription also says "on opioids before admission"
    community = med_request("codeine-30", rid="c1")
    community["category"] = [{"coding": [{"system": CATEGORY, "code": "community"}]}]
    body = hook_request("order-sign", [codeine(28, before=None)], current=[community])
    assert not has(call(service, body), SUPPLY_SUMMARY)


def test_gabapentinoid_co_prescription_at_discharge(service: CDSHooksService) -> None:
    pregabalin = hospital(named_request("Pregabalin 75mg capsules", rid="d2", status="draft"))
    response = call(service, hook_request("order-sign", [codeine(5), pregabalin]))
    assert has(response, GABA_SUMMARY)
    # the gabapentinoid continued from the active list counts as well
    current = named_request("Gabapentin 300mg capsules", rid="c2")
    response = call(service, hook_request("order-sign", [codeine(5)], current=[current]))
    assert has(response, GABA_SUMMARY)
    # and without one, no such card
    assert not has(call(service, hook_request("order-sign", [codeine(5)])), GABA_SUMMARY)


def test_modified_release_new_opioid(service: CDSHooksService) -> None:
    mr = hospital(med_request("morphine-mr-30", status="draft", rid="d1"), days=5)
    assert has(call(service, hook_request("order-sign", [mr])), "Modified-release opioid")


def test_missing_inputs_give_cannot_evaluate_cards(service: CDSHooksService) -> None:
    bare = codeine(None, before=None, weaning=None, gp=None)
    response = call(service, hook_request("order-sign", [bare]))
    card = next(c for c in response.cards if "could not be checked" in c.summary)
    assert card.indicator == "info"
    # people read what the record lacks, in the ruleset's words (the inputs' labels) ...
    assert "not known: whether the opioid was started in hospital" in card.detail
    assert "whether a weaning plan is recorded" in card.detail
    assert "the days' supply of every discharge opioid" in card.detail
    for fhir in ("expectedSupplyDuration", "opioid-before-admission", "weaning-plan-recorded"):
        assert fhir not in card.detail
    # ... and the software what to send, in the card's extension with the rules' ids
    assert card.extension is not None
    ext = card.extension["org.opioidcds.not-checked"]
    assert ext["ruleset"] == "discharge"
    by_rule = {r["rule"]: r for r in ext["rules"]}
    assert (
        "dispenseRequest.expectedSupplyDuration on the order"
        in (by_rule["supply-over-limit-new-opioid"]["send"])
    )
    weaning = by_rule["new-opioid-no-weaning-plan-or-gp-communication"]
    assert "weaning_plan_recorded" in weaning["unknown_inputs"]
    assert any("weaning-plan-recorded" in x for x in weaning["send"])
    # an unreadable supply is named by its path
    odd = codeine(8)
    odd["dispenseRequest"]["expectedSupplyDuration"].update(code="mo", unit="mo")
    response = call(service, hook_request("order-sign", [odd]))
    text = " ".join(c.detail for c in response.cards)
    assert "context.draftOrders.entry[0].resource.dispenseRequest.expectedSupplyDuration" in text


def test_primary_care_request_unchanged(service: CDSHooksService) -> None:
    # Morphine MR 30 mg, 4 tablets twice a day = 240 mg OME/day: Script Switch (> 100)
    plain = med_request("morphine-mr-30", dose=4, per_day=2, status="draft", rid="d1")
    before = call(service, hook_request("order-sign", [plain]))
    assert has(before, SCRIPT_SWITCH)
    community = hospital(
        med_request("morphine-mr-30", dose=4, per_day=2, status="draft", rid="d1"),
        category="community",
        before=None,
        weaning=None,
        gp=None,
    )
    after = call(service, hook_request("order-sign", [community]))
    assert summaries(after) == summaries(before)
    assert not any("hospital" in s.lower() or "discharge" in s.lower() for s in summaries(after))
    # the same order at discharge gets the hospital rules instead of the primary-care ones
    discharge = hospital(
        med_request("morphine-mr-30", dose=4, per_day=2, status="draft", rid="d1"), days=5
    )
    response = call(service, hook_request("order-sign", [discharge]))
    assert not has(response, SCRIPT_SWITCH)
    # 240 > 120 mg OME/day (high_dose_mg_per_day default)
    assert has(response, "above the high-dose threshold")


# --- inpatient: IV morphine boluses -------------------------------------------------------------

ENCOUNTER = {
    "resourceType": "Encounter",
    "id": "enc-1",
    "status": "in-progress",
    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
}


def administration(
    start: dt.datetime, *, rate: bool = False, route: str | None = "47625008"
) -> dict[str, Any]:
    dosage: dict[str, Any] = {"dose": {"value": 2, "unit": "mg"}}
    if route is not None:
        dosage["route"] = {"coding": [{"system": "http://snomed.info/sct", "code": route}]}
    if rate:
        dosage["rateQuantity"] = {"value": 1, "unit": "mg/h"}
    return {
        "resourceType": "MedicationAdministration",
        "status": "completed",
        "medicationCodeableConcept": {"text": "Morphine 10mg/1ml solution for injection"},
        "subject": {"reference": "Patient/example"},
        "effectiveDateTime": start.isoformat(),
        "dosage": dosage,
    }


def inpatient_request(admins: list[dict[str, Any]] | None) -> dict[str, Any]:
    # an oral codeine order during an inpatient stay: no category, the encounter decides
    body = hook_request("order-sign", [med_request("codeine-30", status="draft", rid="d1")])
    body["context"]["encounterId"] = "enc-1"
    body["prefetch"]["encounter"] = ENCOUNTER
    if admins is not None:
        body["prefetch"]["administrations"] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": a} for a in admins],
        }
    return body


@pytest.mark.parametrize(("hours", "fires"), [(47, False), (49, True)])
def test_iv_morphine_boluses_boundary(service: CDSHooksService, hours: int, fires: bool) -> None:
    first = NOW - dt.timedelta(hours=60)
    # span first -> latest bolus: 47 h (not > 48) or 49 h (> 48); no bolus order still active
    admins = [administration(first), administration(first + dt.timedelta(hours=hours))]
    response = call(service, inpatient_request(admins))
    assert has(response, IV_SUMMARY) is fires
    assert not has(response, SUPPLY_SUMMARY)


def test_infusions_and_other_routes_do_not_count(service: CDSHooksService) -> None:
    first = NOW - dt.timedelta(hours=60)
    late = first + dt.timedelta(hours=49)
    oral = administration(late, route="26643006")  # oral route: not parenteral
    for admins in (
        [administration(first), administration(late, rate=True)],
        [administration(first), oral],
    ):
        assert not has(call(service, inpatient_request(admins)), IV_SUMMARY)


def test_inpatient_unknowns_are_reported(service: CDSHooksService) -> None:
    response = call(service, inpatient_request(None))
    card = next(c for c in response.cards if "could not be checked" in c.summary)
    assert "not known: whether an IV morphine bolus was given this admission" in card.detail
    assert card.extension is not None
    (rule,) = card.extension["org.opioidcds.not-checked"]["rules"]
    assert any("prefetch 'administrations'" in x for x in rule["send"])
    first = NOW - dt.timedelta(hours=10)
    response = call(service, inpatient_request([administration(first, route=None)]))
    card = next(c for c in response.cards if "could not be checked" in c.summary)
    assert "prefetch.administrations.entry[0].resource.dosage.route" in card.detail


def test_readable_boluses_still_alert_when_another_is_unreadable(service: CDSHooksService) -> None:
    first = NOW - dt.timedelta(hours=60)
    admins = [
        administration(first),
        administration(first + dt.timedelta(hours=49)),
        administration(first, route=None),
    ]
    response = call(service, inpatient_request(admins))
    assert has(response, IV_SUMMARY)
    assert any("could not be read" in c.detail.lower() for c in response.cards)


def test_mapping_file_is_checked(tmp_path: Any) -> None:
    text = (
        (load_acute_mapping.__globals__["knowledge_dir"]("codelists") / "acute-fhir.toml")
        .read_text(encoding="utf-8")
        .replace('citations = ["snomed-route"]', 'citations = ["nowhere"]')
    )
    path = tmp_path / "acute-fhir.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="unknown citation"):
        load_acute_mapping(path)


def test_trust_profile_changes_the_limit() -> None:
    # rules/profiles/example-acute-trust.toml: max_days_supply_new_opioid = 5, so 6 > 5 fires
    # there while the default 7 does not
    from opioidcds import load_profile  # noqa: PLC0415 - only this test needs it

    root = load_acute_mapping.__globals__["knowledge_dir"]("rules")
    profile = load_profile(root / "profiles" / "example-acute-trust.toml")
    trust = CDSHooksService(today=NOW.date, now=lambda: NOW, acute_profile=profile)
    plain = CDSHooksService(today=NOW.date, now=lambda: NOW)
    body = hook_request("order-sign", [codeine(6)])
    assert has(call(trust, body), SUPPLY_SUMMARY)
    assert not has(call(plain, body), SUPPLY_SUMMARY)


def test_order_select_checks_only_the_selected_hospital_orders(service: CDSHooksService) -> None:
    # d1 would fire the supply rule (8 > 7) and says "no weaning plan"; d2 is fine
    over = codeine(8, weaning=False)
    other = hospital(med_request("oxycodone-10", status="draft", rid="d2"), days=3)
    body = hook_request("order-select", [over, other])
    body["context"]["selections"] = ["MedicationRequest/d2"]
    response = service.call("opioidcds-order-select", HookRequest.model_validate(body))
    assert not has(response, SUPPLY_SUMMARY)
    assert not has(response, "weaning plan or GP communication not recorded")
    body["context"]["selections"] = ["MedicationRequest/d1"]
    response = service.call("opioidcds-order-select", HookRequest.model_validate(body))
    assert has(response, SUPPLY_SUMMARY)


@given(
    value=st.decimals(min_value="0.01", max_value="400", places=2),
    unit=st.sampled_from(["h", "d", "wk"]),
)
def test_supply_rule_fires_exactly_past_seven_days(value: Any, unit: str) -> None:
    # the supply in hours is value x (1, 24 or 168); rounding part days up, the rule fires
    # exactly when the supply is over 7 days = 168 hours (ceil(x) > 7 <=> x > 7); a supply
    # over the ruleset's input range is a warning that the check could not run, never silence
    service = CDSHooksService(today=NOW.date, now=lambda: NOW)
    hours = value * {"h": 1, "d": 24, "wk": 168}[unit]
    response = call(service, hook_request("order-sign", [codeine(float(value), unit=unit)]))
    if hours > 366 * 24:  # beyond the ruleset's declared input range (max 366 days)
        assert has(response, "discharge prescription checks could not run")
        return
    assert has(response, SUPPLY_SUMMARY) is (hours > 168)
