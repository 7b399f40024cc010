"""What real CDS clients send: Epic's capture, RxNorm-coded orders, and the shapes around them
(legacy drafts, wrapped prefetch, STU3 dosage, long ids, statements, OperationOutcome prefetch,
lone surrogates). The cqframework opioid-cds-r4 examples are in test_cqframework_examples.py.
Synthetic patients only."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from opioidcds._decide.knowledge import load_knowledge
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds.cdshooks import CDSHooksService, FeedbackStore, PrefetchMissingError
from opioidcds.cdshooks.app import create_app
from opioidcds.cdshooks.legacy import NOTE_BARE_DRAFT, normalise_request
from opioidcds.cdshooks.models import HookRequest

from .hooks_helpers import AsgiClient, bundle, hook_request, med_request, named_request, patient

DATA = Path(__file__).parent / "data"
TODAY = dt.date(2026, 11, 22)
RX = "http://www.nlm.nih.gov/research/umls/rxnorm"


@pytest.fixture(scope="module")
def svc() -> CDSHooksService:
    return CDSHooksService(today=lambda: TODAY)


@pytest.fixture
def client(tmp_path: Path) -> AsgiClient:
    service = CDSHooksService(today=lambda: TODAY)
    return AsgiClient(create_app(service, feedback=FeedbackStore(tmp_path / "f.sqlite3")))


def call(svc: CDSHooksService, body: dict[str, Any]) -> Any:
    return svc.call(f"opioidcds-{body['hook']}", HookRequest.model_validate(body)).cards


def _oxycodone_er(
    rid: str, display: str = "12 HR Oxycodone Hydrochloride 10 MG Extended Release Oral Tablet"
) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/example"},
        "medicationCodeableConcept": {
            "coding": [{"system": RX, "code": "1049502", "display": display}]
        },
        "dosageInstruction": [
            {
                "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [
                    {
                        "doseQuantity": {
                            "value": 1,
                            "unit": "TAB",
                            "system": "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm",
                            "code": "TAB",
                        }
                    }
                ],
            }
        ],
    }


def test_rxnorm_code_read_through_the_product_table(svc: CDSHooksService) -> None:
    """RxNorm 1049502 with Epic's Tall Man display, dosed in HL7 'TAB' units, is read by code."""
    body = hook_request(
        "order-sign", [_oxycodone_er("d1", "oxyCODONE HCl 10 MG 12HR Extended Release Oral Tablet")]
    )
    body["prefetch"]["medications"] = bundle(
        med_request("morphine-mr-30", dose=2), kind="searchset"
    )
    detail = "\n".join(c.detail for c in call(svc, body))
    # oxycodone 10 mg x 1 tablet x 2/day = 20 mg/day x 1.5 (Opioids Aware) = 30 mg OME/day;
    # with morphine 30 mg x 2 x 2/day = 120: 150 mg OME/day
    assert "oxycodone 10 mg x 1 tablet x 2/day = 20 mg/day x 1.5 = 30 mg OME/day" in detail
    assert "**Total: 150 mg OME/day.**" in detail


def test_rxnorm_code_and_display_that_disagree_are_refused(svc: CDSHooksService) -> None:
    wrong = _oxycodone_er("d1", "12 HR Oxycodone Hydrochloride 80 MG Extended Release Oral Tablet")
    cards = call(svc, hook_request("order-sign", [wrong]))
    (card,) = [c for c in cards if "could not be checked" in c.summary]
    assert "names a different product from its RxNorm code" in card.detail


def test_us_table_and_profile_speak_mme_and_alert_above_50(tmp_path: Path) -> None:
    knowledge = load_knowledge(
        table=knowledge_dir("conversion_tables") / "cdc-2022.toml",
        profile=knowledge_dir("rules") / "profiles" / "us-cdc-2022.toml",
    )
    us = CDSHooksService(knowledge, today=lambda: TODAY)
    uk = CDSHooksService(today=lambda: TODAY)
    body = hook_request("order-sign", [_oxycodone_er("d1")])
    body["prefetch"]["medications"] = bundle(med_request("morphine-mr-30"), kind="searchset")
    # oxycodone 10 mg x 2/day = 20 mg x 1.5 (CDC 2022) = 30 MME; morphine 30 mg x 2/day = 60:
    # 90 MME/day, above the US profile's 50; under the UK defaults 90 mg OME/day is below 100.
    us_cards = call(us, body)
    assert any("above the alert threshold" in c.summary for c in us_cards)
    us_detail = "\n".join(c.detail for c in us_cards)
    assert "**Total: 90 mg MME/day.**" in us_detail
    assert "morphine milligram equivalent (MME)" in us_detail
    assert " OME" not in us_detail
    uk_cards = call(uk, body)
    assert not any("above the alert threshold" in c.summary for c in uk_cards)


def test_statement_semantics(svc: CDSHooksService) -> None:
    """Active statements count; completed, intended, not-taken do not; unknown is a problem;
    one based on a listed request is not counted twice."""

    def statement(sid: str, status: str, **extra: Any) -> dict[str, Any]:
        mr = med_request("morphine-mr-30", dose=2)
        return {
            "resourceType": "MedicationStatement",
            "id": sid,
            "status": status,
            "subject": {"reference": "Patient/example"},
            "medicationCodeableConcept": mr["medicationCodeableConcept"],
            "dosage": mr["dosageInstruction"],
            **extra,
        }

    listed = {**med_request("morphine-mr-30", dose=2, rid="m1"), "id": "m1"}
    body = hook_request("order-sign", [med_request("codeine-30", rid="d1")], current=[listed])
    body["prefetch"]["statements"] = bundle(
        statement("s1", "completed"),
        statement("s2", "not-taken"),
        statement("s3", "active", basedOn=[{"reference": "MedicationRequest/m1"}]),
        kind="searchset",
    )
    detail = "\n".join(c.detail for c in call(svc, body))
    # only the request counts: morphine 30 x 2 x 2 = 120, codeine 30 x 1 x 2 x 0.1 = 6: 126
    assert "**Total: 126 mg OME/day.**" in detail
    body["prefetch"]["statements"] = bundle(statement("s4", "unknown"), kind="searchset")
    cards = call(svc, body)
    assert any("prefetch.statements.entry[0].resource.status" in c.detail for c in cards), (
        "an unknown statement status is reported, never silently skipped"
    )


def test_a_statement_is_never_the_order_a_draft_replaces(svc: CDSHooksService) -> None:
    # An active statement of morphine MR 30 mg, 2 twice a day (30 x 2 x 2 = 120 mg OME/day),
    # whose id "x1" is also the bare id in a draft's priorPrescription
    # ("MedicationRequest/x1", an order the prefetch does not list). The draft, codeine 30 mg
    # twice a day (30 x 2 x 0.1 = 6 mg OME/day), replaces no listed order: the statement
    # stays counted, before (120) and after (126).
    mr = med_request("morphine-mr-30", dose=2)
    statement = {
        "resourceType": "MedicationStatement",
        "id": "x1",
        "status": "active",
        "subject": {"reference": "Patient/example"},
        "medicationCodeableConcept": mr["medicationCodeableConcept"],
        "dosage": mr["dosageInstruction"],
    }
    draft = med_request("codeine-30", rid="d1", status="draft")
    draft["priorPrescription"] = {"reference": "MedicationRequest/x1"}
    body = hook_request("order-sign", [draft])
    body["prefetch"]["statements"] = bundle(statement, kind="searchset")
    detail = "\n".join(c.detail for c in call(svc, body))
    assert "**Total: 126 mg OME/day.**" in detail


def test_operation_outcome_prefetch_without_a_server_is_412(svc: CDSHooksService) -> None:
    body = hook_request("order-sign", [med_request("codeine-30", rid="d1")])
    body["prefetch"]["medications"] = {"resourceType": "OperationOutcome", "issue": []}
    with pytest.raises(PrefetchMissingError) as err:
        call(svc, body)
    assert err.value.keys == ("medications",)


def test_epic_request_with_its_medication_in_prefetch_and_contained(svc: CDSHooksService) -> None:
    request = json.loads((DATA / "epic" / "opioidcds-08-request-prefetch.json").read_text())
    medication = json.loads((DATA / "epic" / "opioidcds-08-medication.json").read_text())
    pat = request["prefetch"]["item1"]["resource"]
    body = copy.deepcopy(request)
    body["prefetch"] = {"patient": pat, "medications": bundle(medication, kind="searchset")}
    detail = "\n".join(c.detail for c in call(svc, body))
    # 30 mg every 4 h as needed (maximum): 30 x 24/4 = 180 mg/day x 1 (morphine) = 180 OME
    assert "**Total: 180 mg OME/day.**" in detail
    contained = copy.deepcopy(request)
    draft = contained["context"]["draftOrders"]["entry"][0]["resource"]
    draft["contained"] = [{**medication, "id": "med1"}]
    draft["medicationReference"] = {"reference": "#med1"}
    contained["prefetch"] = {"patient": pat, "medications": bundle(kind="searchset")}
    assert "**Total: 180 mg OME/day.**" in "\n".join(c.detail for c in call(svc, contained))
    assert len(draft["id"]) > 64  # Epic's ids are longer than R4's 64 characters: tolerated


def test_ids_over_the_tolerated_length_are_refused(svc: CDSHooksService) -> None:
    body = hook_request("order-sign", [med_request("codeine-30", rid="a" * 513)])
    (card,) = call(svc, body)
    assert "could not be checked" in card.summary
    assert ".id`" in card.detail


def test_legacy_shapes_are_read_and_noted(svc: CDSHooksService) -> None:
    draft = med_request("oxycodone-10", rid="d1")
    dosage = draft["dosageInstruction"][0]
    dosage["doseQuantity"] = dosage.pop("doseAndRate")[0]["doseQuantity"]  # STU3 place
    draft["category"] = {"coding": [{"code": "community"}]}  # STU3 0..1
    body = hook_request("order-sign", [])
    body["context"]["draftOrders"] = draft  # one bare MedicationRequest (pre-1.0)
    body["prefetch"]["patient"] = {"response": {"status": "200 OK"}, "resource": patient()}
    _context, prefetch, notes = normalise_request(body["context"], body["prefetch"])
    assert NOTE_BARE_DRAFT in notes
    assert len(notes) == 4
    assert prefetch["patient"] == patient()
    body["prefetch"]["medications"] = bundle(
        med_request("morphine-mr-30", dose=2), kind="searchset"
    )
    detail = "\n".join(c.detail for c in call(svc, body))
    # oxycodone 10 mg x 1 x 2/day x 1.5 = 30 + morphine 120 = 150
    assert "**Total: 150 mg OME/day.**" in detail
    assert "**How the request was read:** context.draftOrders was one MedicationRequest" in detail


def test_cards_most_serious_first_and_no_empty_arrays(client: AsgiClient) -> None:
    body = hook_request(
        "order-sign",
        [
            named_request("Amoxicillin 500mg capsules", rid="d0", status="draft"),
            med_request("fentanyl-25", rid="d1", status="draft"),
        ],
        current=[named_request("Diazepam 5mg tablets")],
    )
    r = client.post("/cds-services/opioidcds-order-sign", json=body)
    cards = r.json()["cards"]
    order = {"critical": 0, "warning": 1, "info": 2}
    ranks = [order[c["indicator"]] for c in cards]
    assert ranks == sorted(ranks)
    assert ranks[0] == 0  # the critical benzodiazepine card first
    assert ranks[-1] == 2  # the info card (amoxicillin: no opioid named) last
    for card in cards:
        for key in ("overrideReasons", "links", "suggestions"):
            assert card.get(key, ["present"]) != [], f"{key} sent empty"
    info = next(c for c in cards if c["indicator"] == "info")
    assert "overrideReasons" not in info
    error = client.post("/cds-services/nope", json=body).json()
    assert "details" not in error


@pytest.mark.parametrize(
    "where",
    ["display", "prefetch key", "hook", "patient id", "selection"],
)
def test_lone_surrogates_never_give_500(client: AsgiClient, where: str) -> None:
    lone = "\ud800"
    body = hook_request("order-select", [named_request(f"Oxycodone{lone} 10mg", rid="d1")])
    if where == "prefetch key":
        body["prefetch"][f"key{lone}"] = {"resourceType": "Basic"}
    elif where == "hook":
        body["hook"] = f"order{lone}"
    elif where == "patient id":
        body["context"]["patientId"] = f"p{lone}"
    elif where == "selection":
        body["context"]["selections"] = [f"MedicationRequest/d{lone}"]
    raw = json.dumps(body).encode()  # \ud800 escaped: valid JSON text
    r = client.post(
        "/cds-services/opioidcds-order-select",
        content=raw,
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code in {200, 400}, r.text
    r.json()  # the answer is valid UTF-8 JSON
    if where == "display":
        assert "\ufffd" in r.text
