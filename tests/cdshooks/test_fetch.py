"""Fetching from the client's FHIR server, paging, statements: over real loopback HTTP.

A stdlib FHIR server (``loopback_fhir.py``) runs on 127.0.0.1; the service reads from it with
the request's bearer token, as CDS Hooks 2.0.1 "FHIR Resource Access" describes. Synthetic
patients only.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opioidcds._decide.knowledge import load_knowledge
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds.cdshooks import CDSHooksService, FeedbackStore
from opioidcds.cdshooks.app import create_app
from opioidcds.cdshooks.fetch import FetchLimits, FhirFetcher, fhir_id

from .hooks_helpers import AsgiClient, hook_request, med_request, named_request, patient
from .loopback_fhir import TOKEN, LoopbackFhir, loopback_fhir

SIGN = "/cds-services/opioidcds-order-sign"
TODAY = dt.date(2026, 11, 22)


@pytest.fixture
def fhir() -> Iterator[LoopbackFhir]:
    with loopback_fhir() as server:
        yield server


def make_client(tmp_path: Path, *, limits: FetchLimits | None = None, table: str = "") -> Any:
    knowledge = (
        load_knowledge(table=knowledge_dir("conversion_tables") / f"{table}.toml")
        if table
        else None
    )
    service = CDSHooksService(knowledge, today=lambda: TODAY)
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    return AsgiClient(create_app(service, feedback=store, fetcher=FhirFetcher(limits)))


def with_server(body: dict[str, Any], fhir: LoopbackFhir, token: str = TOKEN) -> dict[str, Any]:
    """``body`` pointing at the loopback server, with a bearer token and no prefetch."""
    out = copy.deepcopy(body)
    out.pop("prefetch", None)
    out["fhirServer"] = fhir.base
    out["fhirAuthorization"] = {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/Patient.read patient/MedicationRequest.read",
        "subject": "opioidcds",
    }
    return out


def summaries(r: Any) -> list[tuple[str, str]]:
    assert r.status_code == 200, r.text
    return [(c["indicator"], c["summary"]) for c in r.json()["cards"]]


def active(key: str, rid: str, **kw: Any) -> dict[str, Any]:
    return {**med_request(key, rid=rid, **kw), "id": rid}


def test_missing_prefetch_is_fetched_with_the_token(fhir: LoopbackFhir, tmp_path: Path) -> None:
    fhir.add(patient(), active("morphine-mr-30", "c1"))
    body = with_server(hook_request("order-sign", [med_request("oxycodone-10", rid="d1")]), fhir)
    r = make_client(tmp_path).post(SIGN, json=body)
    # morphine 30 mg x 1 x 2/day = 60 + oxycodone 10 mg x 1 x 2/day x 1.5 = 30: 90 mg OME/day,
    # under the Script Switch 100: no dose alert, and the record was read (no 412).
    cards = summaries(r)
    assert not any("above the alert threshold" in s for _i, s in cards)
    assert all(a == f"Bearer {TOKEN}" for a in fhir.authorizations)
    paths = sorted(p.split("?")[0] for p in fhir.requests)
    assert "/fhir/Patient/example" in paths
    assert "/fhir/MedicationRequest" in paths
    assert "/fhir/MedicationStatement" in paths


def test_fetched_list_crosses_the_threshold(fhir: LoopbackFhir, tmp_path: Path) -> None:
    fhir.add(patient(), active("morphine-mr-30", "c1", dose=2))
    body = with_server(hook_request("order-sign", [med_request("oxycodone-10", rid="d1")]), fhir)
    # morphine 30 mg x 2 x 2/day = 120 + oxycodone 30 = 150 mg OME/day > 100
    assert any(
        "above the alert threshold" in s
        for _i, s in summaries(make_client(tmp_path).post(SIGN, json=body))
    )


def test_benzodiazepine_on_page_two_is_found(fhir: LoopbackFhir, tmp_path: Path) -> None:
    """The issue's case: a benzodiazepine on page 2 of a paged list gave no card."""
    fhir.behaviour.page_size = 2
    fhir.add(
        patient(),
        active("codeine-30", "c1"),
        active("methadone-5", "c2"),
        {**named_request("Diazepam 5mg tablets", rid="c3"), "id": "c3"},
    )
    body = with_server(hook_request("order-sign", [med_request("oxycodone-10", rid="d1")]), fhir)
    cards = summaries(make_client(tmp_path).post(SIGN, json=body))
    assert ("critical", next(s for i, s in cards if "benzodiazepine" in s)) in cards
    pages = [p for p in fhir.requests if p.startswith("/fhir/MedicationRequest")]
    assert len(pages) == 2  # 3 resources, 2 per page: the next link was followed once


def test_a_paged_prefetch_is_completed_through_the_server(
    fhir: LoopbackFhir, tmp_path: Path
) -> None:
    """A client's prefetch with total > entries and a next link: the service reads it all."""
    fhir.add(
        patient(),
        active("codeine-30", "c1"),
        {**named_request("Diazepam 5mg tablets", rid="c3"), "id": "c3"},
    )
    body = with_server(hook_request("order-sign", [med_request("oxycodone-10", rid="d1")]), fhir)
    first = fhir._search("MedicationRequest", {"patient": ["example"]}, f"{fhir.base}/x")
    first["entry"] = first["entry"][:1]
    body["prefetch"] = {"patient": patient(), "medications": first}
    cards = summaries(make_client(tmp_path).post(SIGN, json=body))
    assert any(i == "critical" and "benzodiazepine" in s for i, s in cards)


def test_a_paged_prefetch_without_a_server_says_it_is_incomplete(tmp_path: Path) -> None:
    body = hook_request("order-sign", [med_request("oxycodone-10", rid="d1")])
    body["prefetch"]["medications"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": 3,
        "entry": [{"resource": active("codeine-30", "c1")}],
        "link": [{"relation": "next", "url": "https://ehr.example.org/fhir/MedicationRequest?p=2"}],
    }
    client = make_client(tmp_path)
    cards = summaries(client.post(SIGN, json=body))
    warning = [s for i, s in cards if i == "warning" and "current medicine" in s]
    assert warning, cards
    detail = "\n".join(c["detail"] for c in client.post(SIGN, json=body).json()["cards"])
    assert "was not complete" in detail
    # co-prescription could not be ruled out: the check says it could not run
    assert "could not be checked" in detail


def test_more_pages_than_allowed_is_incomplete(fhir: LoopbackFhir, tmp_path: Path) -> None:
    fhir.behaviour.page_size = 1
    fhir.add(patient(), *(active("codeine-30", f"c{i}") for i in range(5)))
    body = with_server(hook_request("order-sign", [med_request("oxycodone-10", rid="d1")]), fhir)
    client = make_client(tmp_path, limits=FetchLimits(max_pages=2))
    r = client.post(SIGN, json=body)
    assert any(i == "warning" and "current medicine" in s for i, s in summaries(r))
    assert "was not complete" in "\n".join(c["detail"] for c in r.json()["cards"])


def test_a_next_link_off_the_server_is_not_followed(fhir: LoopbackFhir, tmp_path: Path) -> None:
    fhir.behaviour.next_off_server = True
    fhir.add(patient(), *(active("codeine-30", f"c{i}") for i in range(3)))
    body = with_server(hook_request("order-sign", [med_request("oxycodone-10", rid="d1")]), fhir)
    r = make_client(tmp_path).post(SIGN, json=body)
    assert "was not complete" in "\n".join(c["detail"] for c in r.json()["cards"])
    assert all(not p.startswith("http") for p in fhir.requests)


def test_refused_token_is_412_with_the_reason(fhir: LoopbackFhir, tmp_path: Path) -> None:
    fhir.add(patient())
    body = with_server(hook_request("order-sign", [med_request("oxycodone-10")]), fhir, "wrong")
    r = make_client(tmp_path).post(SIGN, json=body)
    assert r.status_code == 412
    details = {d["path"]: d["problem"] for d in r.json()["details"]}
    assert details["prefetch.patient"] == "the FHIR server refused the request's token"
    assert "wrong" not in r.text


def test_no_token_no_fetch(fhir: LoopbackFhir, tmp_path: Path) -> None:
    body = with_server(hook_request("order-sign", [med_request("oxycodone-10")]), fhir)
    del body["fhirAuthorization"]
    r = make_client(tmp_path).post(SIGN, json=body)
    assert r.status_code == 412
    assert fhir.requests == []


def test_slow_server_is_412_within_the_deadline(fhir: LoopbackFhir, tmp_path: Path) -> None:
    fhir.behaviour.delay_seconds = 2.0
    fhir.add(patient())
    body = with_server(hook_request("order-sign", [med_request("oxycodone-10")]), fhir)
    limits = FetchLimits(read_seconds=0.3, deadline_seconds=1.0)
    r = make_client(tmp_path, limits=limits).post(SIGN, json=body)
    assert r.status_code == 412
    problems = {d["problem"] for d in r.json()["details"]}
    assert problems == {"the FHIR server did not answer in time"}


def test_an_answer_that_is_not_fhir(fhir: LoopbackFhir, tmp_path: Path) -> None:
    fhir.behaviour.not_json_for = {"Patient"}
    body = with_server(hook_request("order-sign", [med_request("oxycodone-10")]), fhir)
    r = make_client(tmp_path).post(SIGN, json=body)
    assert r.status_code == 412
    assert r.json()["details"][0]["problem"] == "the FHIR server's answer was not JSON"


def test_an_optional_list_that_fails_is_said_on_the_cards(
    fhir: LoopbackFhir, tmp_path: Path
) -> None:
    fhir.behaviour.not_json_for = {"Condition"}
    fhir.add(patient(), active("morphine-mr-30", "c1", dose=2))
    body = with_server(hook_request("order-sign", [med_request("oxycodone-10", rid="d1")]), fhir)
    r = make_client(tmp_path).post(SIGN, json=body)
    # morphine 30 mg x 2 x 2/day = 120 + oxycodone 10 mg x 1 x 2/day x 1.5 = 30: 150 > 100
    assert any("above the alert threshold" in s for _i, s in summaries(r))
    detail = "\n".join(c["detail"] for c in r.json()["cards"])
    assert "**How the request was read:** conditions: the FHIR server's answer was not JSON" in (
        detail
    )


def test_operation_outcome_prefetch_is_fetched(fhir: LoopbackFhir, tmp_path: Path) -> None:
    """CDS Hooks 2.0.1: an OperationOutcome as prefetch value says the client could not."""
    fhir.add(patient(), active("morphine-mr-30", "c1", dose=2))
    body = with_server(hook_request("order-sign", [med_request("oxycodone-10", rid="d1")]), fhir)
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "x"}]}
    body["prefetch"] = {"patient": patient(), "medications": outcome}
    cards = summaries(make_client(tmp_path).post(SIGN, json=body))
    assert any("above the alert threshold" in s for _i, s in cards)


def test_statements_are_fetched_and_counted(fhir: LoopbackFhir, tmp_path: Path) -> None:
    """A MedicationStatement for morphine 120 mg/day (prescribed elsewhere) is counted."""
    statement = {
        "resourceType": "MedicationStatement",
        "id": "s1",
        "status": "active",
        "subject": {"reference": "Patient/example"},
        "medicationCodeableConcept": med_request("morphine-mr-30")["medicationCodeableConcept"],
        "dosage": [
            {
                "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": 2, "unit": "tablet"}}],
            }
        ],
    }
    fhir.add(patient(), statement)
    body = with_server(hook_request("order-sign", [med_request("codeine-30", rid="d1")]), fhir)
    r = make_client(tmp_path).post(SIGN, json=body)
    # morphine 30 mg x 2 x 2/day = 120 (statement) + codeine 30 x 1 x 2 x 0.1 = 6: 126 > 100
    cards = summaries(r)
    assert any("above the alert threshold" in s for _i, s in cards)
    detail = "\n".join(c["detail"] for c in r.json()["cards"])
    assert "(medication statement)" in detail
    assert "**Total: 126 mg OME/day.**" in detail


def test_patient_view_reads_its_record_from_the_server(fhir: LoopbackFhir, tmp_path: Path) -> None:
    """patient-view with fhirServer and no prefetch: the review card from fetched lists, a
    statement and a prescription on page 2 included."""
    fhir.behaviour.page_size = 1
    statement = {
        "resourceType": "MedicationStatement",
        "id": "s1",
        "status": "active",
        "subject": {"reference": "Patient/example"},
        "medicationCodeableConcept": med_request("morphine-mr-30")["medicationCodeableConcept"],
        "dosage": [
            {
                "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}],
            }
        ],
    }
    fhir.add(patient(), active("codeine-30", "c1"), active("codeine-30", "c2", dose=2), statement)
    body = {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/example", "patientId": "example"},
    }
    r = make_client(tmp_path).post(
        "/cds-services/opioidcds-patient-view", json=with_server(body, fhir)
    )
    (card,) = r.json()["cards"]
    # morphine 30 mg x 1 x 2/day = 60 (statement); codeine 30 mg x 1 x 2/day = 60 x 0.1 = 6
    # and 30 mg x 2 x 2/day = 120 x 0.1 = 12 (the second on page 2): 78 mg OME/day
    assert card["summary"].startswith("Opioid review: 78 mg OME/day;"), card["summary"]
    assert "(medication statement)" in card["detail"]
    assert any("MedicationStatement" in p for p in fhir.requests)


def test_epic_shaped_request_end_to_end(fhir: LoopbackFhir, tmp_path: Path) -> None:
    """The Epic sandbox order-sign capture (cqf-ruler tests): 180-character ids, a
    medicationReference to a Medication the request does not carry, three typed doseAndRate
    entries, an Epic route code. The service reads the Medication from the FHIR server."""
    data = Path(__file__).parent / "data" / "epic"
    request = json.loads((data / "opioidcds-08-request-prefetch.json").read_text())
    medication = json.loads((data / "opioidcds-08-medication.json").read_text())
    pat = request["prefetch"]["item1"]["resource"]
    fhir.add(pat, medication)
    body = with_server(request, fhir)
    body["context"]["patientId"] = pat["id"]
    r = make_client(tmp_path, table="cdc-2022").post(SIGN, json=body)
    cards = r.json()["cards"]
    assert r.status_code == 200, r.text
    detail = "\n".join(c["detail"] for c in cards)
    # ordered 30 mg every 4 hours as needed (maximum policy): 30 x 24/4 = 180 mg/day x 1
    # (CDC 2022 morphine) = 180 MME/day; the Medication's RxNorm 7052 is morphine
    assert "**Total: 180 mg MME/day.**" in detail
    assert f"/fhir/Medication/{medication['id']}" in fhir.requests
    assert any("above the alert threshold" in c["summary"] for c in cards)


def test_fhir_id_and_usable_server_rules() -> None:
    assert fhir_id("Patient/abc-1.2") == "abc-1.2"
    assert fhir_id("a" * 180) == "a" * 180  # Epic-length ids are tolerated
    assert fhir_id("x/../y?z") is None
    assert fhir_id("a b") is None
    fetcher = FhirFetcher()
    auth = {"access_token": "t", "token_type": "Bearer"}
    assert fetcher.usable("https://ehr.example.org/fhir/", auth) == (
        "https://ehr.example.org/fhir",
        "t",
    )
    assert fetcher.usable("http://127.0.0.1:8080/fhir", auth) is not None
    assert fetcher.usable("http://ehr.example.org/fhir", auth) is None  # http off loopback
    assert fetcher.usable("https://user:pw@ehr.example.org/fhir", auth) is None
    assert fetcher.usable("https://ehr.example.org/fhir", {"access_token": "t"}) is None
    assert fetcher.usable("https://ehr.example.org/fhir", {**auth, "token_type": "MAC"}) is None
    narrowed = FhirFetcher(allowed_servers=["https://ehr.example.org/fhir"])
    assert narrowed.usable("https://other.example.org/fhir", auth) is None
    assert narrowed.usable("https://ehr.example.org/fhir", auth) is not None
