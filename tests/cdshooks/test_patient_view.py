"""The patient-view opioid review card (synthetic patients; expected values by hand)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from opioidcds._decide.knowledge import load_knowledge
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds.cdshooks import CDSHooksService, FeedbackStore, PrefetchMissingError
from opioidcds.cdshooks.app import create_app
from opioidcds.cdshooks.models import HookRequest, Link

from .hooks_helpers import AsgiClient, bundle, condition, med_request, named_request, patient

TODAY = dt.date(2026, 11, 22)
VIEW = "opioidcds-patient-view"
DEPRESSION = "35489007"  # SNOMED CT Depressive disorder (codelists/risk-inputs.toml)


def view_request(current: list[dict[str, Any]], **prefetch: Any) -> dict[str, Any]:
    return {
        "hook": "patient-view",
        "hookInstance": "5b1c8b1e-7f0c-4f7e-9a6e-3f2b0c9d1a22",
        "context": {"userId": "Practitioner/example", "patientId": "example"},
        "prefetch": {
            "patient": patient(gender="male", birth="1955-03-01"),
            "medications": bundle(*current, kind="searchset"),
            **prefetch,
        },
    }


@pytest.fixture(scope="module")
def svc() -> CDSHooksService:
    link = Link(label="Tapering plan", url="https://plans.example.nhs.uk/taper", type="smart")
    return CDSHooksService(today=lambda: TODAY, review_links=(link,))


def cards(svc: CDSHooksService, body: dict[str, Any]) -> Any:
    return svc.call(VIEW, HookRequest.model_validate(body)).cards


def test_review_card_with_arithmetic_level_tier_and_unknowns(svc: CDSHooksService) -> None:
    body = view_request(
        [med_request("morphine-mr-30", dose=2)],
        conditions=bundle(condition(DEPRESSION), kind="searchset"),
    )
    (card,) = cards(svc, body)
    # morphine 30 mg x 2 tablets x 2/day = 120 mg/day x 1 = 120 mg OME/day (Opioids Aware)
    assert card.summary.startswith("Opioid review: 120 mg OME/day;")
    assert "morphine 30 mg x 2 tablet x 2/day = 120 mg/day x 1 = 120 mg OME/day" in card.detail
    assert "**Total: 120 mg OME/day.**" in card.detail
    assert "**Risk level:**" in card.detail
    assert "**Support tier:**" in card.detail
    assert "**Next step:**" in card.detail
    assert "Unknown in the record, and could change this:" in card.detail
    assert "depression: recorded" in card.detail
    assert card.links is not None
    assert any(link.type == "smart" and link.label == "Tapering plan" for link in card.links)
    assert card.extension is not None  # provenance of the decision
    assert card.indicator in {"info", "warning"}


def test_indicator_follows_the_support_tier(svc: CDSHooksService) -> None:
    # male, aged 71, morphine 30 mg x 4 x 2/day = 240 mg OME/day (high dose), depression
    body = view_request(
        [med_request("morphine-mr-30", dose=4)],
        conditions=bundle(condition(DEPRESSION), kind="searchset"),
    )
    (card,) = cards(svc, body)
    tier = card.summary.rsplit("support: ", 1)[1].rstrip(".")
    content = svc.card_content.review
    expected = next(
        content.indicator_by_tier[t] for t, label in content.tier_labels.items() if label == tier
    )
    assert card.indicator == expected


def test_no_opioid_no_review_card(svc: CDSHooksService) -> None:
    assert cards(svc, view_request([named_request("Diazepam 5mg tablets")])) == ()
    (info,) = cards(svc, view_request([named_request("Amoxicillin 500mg capsules")]))
    assert info.indicator == "info"  # an unrecognised medicine naming no opioid is still said
    assert "not recognised" in info.summary


def test_an_unreadable_medicine_is_said(svc: CDSHooksService) -> None:
    unknown = named_request("Oxycodone 10mg wonder-tablets")
    found = cards(svc, view_request([unknown, med_request("codeine-30")]))
    summaries = [c.summary for c in found]
    assert any("current medicine could not be read" in s for s in summaries)
    assert any(s.startswith("Opioid review:") for s in summaries)
    assert found[0].indicator == "warning"  # the problem first (most serious first)


def test_missing_prefetch_is_412(svc: CDSHooksService) -> None:
    body = view_request([])
    del body["prefetch"]["medications"]
    with pytest.raises(PrefetchMissingError):
        cards(svc, body)


def test_us_table_review_speaks_mme() -> None:
    knowledge = load_knowledge(table=knowledge_dir("conversion_tables") / "cdc-2022.toml")
    us = CDSHooksService(knowledge, today=lambda: TODAY)
    (card,) = cards(us, view_request([med_request("oxycodone-10")]))
    # oxycodone 10 mg x 1 capsule x 2/day = 20 mg/day x 1.5 (CDC 2022) = 30 MME/day
    assert card.summary.startswith("Opioid review: 30 mg MME/day;")
    assert "OME" not in card.detail


def test_over_http(tmp_path: Path) -> None:
    service = CDSHooksService(today=lambda: TODAY)
    client = AsgiClient(create_app(service, feedback=FeedbackStore(tmp_path / "f.sqlite3")))
    r = client.post(f"/cds-services/{VIEW}", json=view_request([med_request("codeine-30")]))
    assert r.status_code == 200, r.text
    (card,) = r.json()["cards"]
    # codeine 30 mg x 1 tablet x 2/day = 60 mg/day x 0.1 = 6 mg OME/day
    assert card["summary"].startswith("Opioid review: 6 mg OME/day;")
    discovery = client.get("/cds-services").json()
    view = next(s for s in discovery["services"] if s["id"] == VIEW)
    assert view["hook"] == "patient-view"
    assert set(view["prefetch"]) == {
        "patient",
        "medications",
        "statements",
        "conditions",
        "observations",
        "encounters",
    }


def _next_step(detail: str) -> tuple[str, list[str]]:
    """The card's "Next step" section: the offer and its steps, as the card shows them."""
    lines = detail.splitlines()
    i = next(n for n, line in enumerate(lines) if line.startswith("**Next step:** "))
    offer = lines[i].removeprefix("**Next step:** ")
    steps = []
    for line in lines[i + 1 :]:
        if not line.startswith("- "):
            break
        steps.append(line.removeprefix("- "))
    return offer, steps


def test_review_card_suggests_a_task_for_its_next_step(svc: CDSHooksService) -> None:
    """One suggestion: create a FHIR R4 Task holding the support tier's offer and next steps,
    the ruleset's words the card shows under "Next step" (rules/support-tier.toml)."""
    body = view_request([med_request("morphine-mr-30", dose=2)])
    (card,) = cards(svc, body)
    (suggestion,) = card.suggestions
    assert card.selectionBehavior == "at-most-one"
    assert suggestion.isRecommended is False
    (action,) = suggestion.actions
    assert action.type == "create"
    task = action.resource
    offer, steps = _next_step(card.detail)
    assert task == {
        "resourceType": "Task",
        "status": "requested",
        "intent": "plan",
        "description": offer,
        "for": {"reference": "Patient/example"},
        "authoredOn": "2026-11-22",
        "reasonCode": {"text": card.summary},
        "note": [{"text": step} for step in steps],
    }
    ruleset = (knowledge_dir("rules") / "support-tier.toml").read_text()
    assert f'offer = "{offer}"' in ruleset  # the ruleset's words, not the service's


def test_no_task_suggested_out_of_scope(svc: CDSHooksService) -> None:
    """A buprenorphine with naloxone film (RxNorm 1010603) is opioid substitution therapy,
    outside the scope's support tiers: the review says so and suggests nothing."""
    film = {
        "resourceType": "MedicationRequest",
        "id": "film",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/example"},
        "medicationCodeableConcept": {
            "coding": [
                {
                    "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                    "code": "1010603",
                    "display": "Suboxone 2 MG / 0.5 MG Sublingual Film",
                }
            ]
        },
        "dosageInstruction": [
            {
                "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "film"}}],
            }
        ],
    }
    (card,) = cards(svc, view_request([film]))
    assert "**Scope:**" in card.detail
    assert card.suggestions is None
    assert card.selectionBehavior is None


def test_unreadable_only_opioid_is_a_review_not_done(svc: CDSHooksService) -> None:
    """The only opioid cannot be read: no total to review. One card says so, with the path and
    why, instead of a "could not be read" card pointing at other cards that do not exist."""
    oxycodone = med_request("oxycodone-10")
    oxycodone["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["unit"] = "patch"
    (card,) = cards(svc, view_request([oxycodone]))
    assert card.summary.startswith("Opioid review not done:")
    assert "prefetch.medications.entry[0].resource.dosageInstruction[0]" in card.detail
    assert "not this medicine's form" in card.detail
    assert "other cards" not in card.detail


def test_suggestion_over_http_is_cds_hooks_json(tmp_path: Path) -> None:
    """Served as JSON (and checked against the CDS Hooks 2.0.1 schema by conftest)."""
    service = CDSHooksService(today=lambda: TODAY)
    client = AsgiClient(create_app(service, feedback=FeedbackStore(tmp_path / "f.sqlite3")))
    r = client.post(f"/cds-services/{VIEW}", json=view_request([med_request("codeine-30")]))
    (card,) = r.json()["cards"]
    (suggestion,) = card["suggestions"]
    (action,) = suggestion["actions"]
    assert action["type"] == "create"
    assert action["resource"]["resourceType"] == "Task"
    assert "resourceId" not in action
