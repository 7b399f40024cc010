"""The HTTP layer in-process (httpx over ASGI): status codes, errors, feedback, logs."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sqlite3
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from opioidcds import __version__
from opioidcds.cdshooks import CDSHooksService, FeedbackStore
from opioidcds.cdshooks.app import LOGGER_NAME, JsonLinesFormatter, create_app
from opioidcds.cdshooks.models import FeedbackItem

from .hooks_helpers import (
    AsgiClient,
    condition,
    for_patient,
    high_dose_request,
    hook_request,
    med_request,
)

SIGN = "/cds-services/opioidcds-order-sign"


@pytest.fixture
def store(tmp_path: Path) -> FeedbackStore:
    return FeedbackStore(tmp_path / "feedback.sqlite3")


@pytest.fixture
def client(store: FeedbackStore) -> AsgiClient:
    service = CDSHooksService(today=lambda: dt.date(2026, 11, 22))
    app = create_app(service, feedback=store, max_body_bytes=200_000)
    return AsgiClient(app)


def test_discovery_and_health(client: AsgiClient) -> None:
    r = client.get("/cds-services")
    assert r.status_code == 200
    ids = {s["id"] for s in r.json()["services"]}
    assert ids == {"opioidcds-order-select", "opioidcds-order-sign", "opioidcds-patient-view"}
    h = client.get("/health")
    assert h.status_code == 200
    assert h.json()["status"] == "ok"
    assert "ruleset:prescribing-alerts" in h.json()["knowledge"]
    assert h.json()["knowledge"]["codelists"] == "risk-inputs-snomed 0.2.1"
    assert h.headers["x-request-id"]


def test_cards_over_http(client: AsgiClient) -> None:
    r = client.post(SIGN, json=high_dose_request())
    assert r.status_code == 200
    cards = r.json()["cards"]
    assert {c["indicator"] for c in cards} >= {"warning", "critical"}
    for c in cards:
        assert set(c) >= {"uuid", "summary", "indicator", "detail", "source"}
        assert len(c["summary"]) < 140
    assert any("**Total: 240 mg OME/day.**" in c["detail"] for c in cards)


def test_empty_cards(client: AsgiClient) -> None:
    body = hook_request("order-sign", [med_request("codeine-30", dose=1, per_day=1)])
    r = client.post(SIGN, json=body)
    assert r.status_code == 200
    assert r.json() == {"cards": []}


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"hookInstance": "x", "context": {}}, "hook"),
        ({"hook": "order-sign", "hookInstance": "x", "context": 3}, "context"),
        (
            {"hook": "order-sign", "hookInstance": "x", "context": {"patientId": "p"}},
            "context.draftOrders",
        ),
    ],
)
def test_400_names_the_field(client: AsgiClient, body: dict[str, Any], path: str) -> None:
    r = client.post(SIGN, json=body)
    assert r.status_code == 400
    assert path in [d["path"] for d in r.json()["details"]]


def test_another_patients_record_is_refused(client: AsgiClient) -> None:
    # A 240 mg OME/day order for patient "example" sent with the Patient of someone else:
    # no card is made from another patient's record; 400 names the field, not the ids.
    body = high_dose_request()
    body["prefetch"]["patient"]["id"] = "other-patient-77"
    r = client.post(SIGN, json=body)
    assert r.status_code == 400
    assert "prefetch.patient.id" in [d["path"] for d in r.json()["details"]]
    assert "other-patient-77" not in r.text
    # the same request with the Patient of the call, bare or as a reference, is decided on
    body["prefetch"]["patient"]["id"] = "example"
    assert client.post(SIGN, json=body).status_code == 200
    body["context"]["patientId"] = "Patient/example"
    assert client.post(SIGN, json=body).status_code == 200


@pytest.mark.parametrize(
    ("where", "path"),
    [
        ("draft", "context.draftOrders.entry[0].resource.subject.reference"),
        ("medications", "prefetch.medications.entry[0].resource.subject.reference"),
        ("statements", "prefetch.statements.entry[0].resource.subject.reference"),
        ("conditions", "prefetch.conditions.entry[1].resource.subject.reference"),
        ("encounters", "prefetch.encounters.entry[0].resource.subject.reference"),
    ],
)
def test_a_resource_of_another_patient_is_refused(
    client: AsgiClient, where: str, path: str
) -> None:
    # The 240 mg OME/day order of high_dose_request, with one resource that names another
    # Patient: the request is refused (400) at that resource's subject, and neither id is echoed.
    body = high_dose_request()
    other = {"reference": "https://ehr.example/fhir/Patient/other-patient-77/_history/3"}
    pre = body["prefetch"]
    if where == "draft":
        body["context"]["draftOrders"]["entry"][0]["resource"]["subject"] = other
    elif where == "medications":
        pre["medications"]["entry"][0]["resource"]["subject"] = other
    elif where == "statements":
        statement = {
            "resourceType": "MedicationStatement",
            "status": "active",
            "subject": other,
            "medicationCodeableConcept": med_request("codeine-30")["medicationCodeableConcept"],
        }
        pre["statements"] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": statement}],
        }
    elif where == "conditions":
        pre["conditions"]["entry"].append({"resource": {**condition("35489007"), "subject": other}})
    else:
        encounter = {
            "resourceType": "Encounter",
            "status": "finished",
            "class": {"code": "EMER"},
            "subject": other,
            "period": {"start": "2026-10-01"},
        }
        pre["encounters"] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": encounter}],
        }
    r = client.post(SIGN, json=body)
    assert r.status_code == 400
    assert path in [d["path"] for d in r.json()["details"]]
    assert "other-patient-77" not in r.text
    assert "example" not in json.dumps(r.json()["details"])


@pytest.mark.parametrize(
    "reference",
    [
        "Patient/example",  # the call's patient, relative
        "https://ehr.example/fhir/Patient/example/_history/2",  # absolute and versioned
        "urn:uuid:2b7c1f0e-5d6a-4c1b-9a61-0c1d2e3f4a5b",  # cannot be compared: read as sent
        "example-context",  # no resource type (cqframework rec-11 sends this): not comparable
    ],
)
def test_a_subject_that_is_the_patient_or_not_comparable_is_read(
    client: AsgiClient, reference: str
) -> None:
    body = high_dose_request()
    body["context"]["draftOrders"]["entry"][0]["resource"]["subject"] = {"reference": reference}
    r = client.post(SIGN, json=body)
    assert r.status_code == 200
    assert any("**Total: 240 mg OME/day.**" in c["detail"] for c in r.json()["cards"])


def test_400_never_echoes_values(client: AsgiClient) -> None:
    body = {"hook": "order-sign", "hookInstance": ["secret-value-123"], "context": {}}
    r = client.post(SIGN, json=body)
    assert r.status_code == 400
    assert "secret-value-123" not in r.text


def test_invalid_json_is_400(client: AsgiClient) -> None:
    r = client.post(SIGN, content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400


def test_404_412_413(client: AsgiClient) -> None:
    assert client.post("/cds-services/nope", json=high_dose_request()).status_code == 404
    body = high_dose_request()
    body.pop("prefetch")
    r = client.post(SIGN, json=body)
    assert r.status_code == 412
    assert [d["path"] for d in r.json()["details"]] == ["prefetch.patient", "prefetch.medications"]
    big = b'{"hook": "' + b"x" * 300_000 + b'"}'
    r = client.post(SIGN, content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_413_without_content_length(client: AsgiClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(30):
            yield b" " * 10_000

    r = client.post(SIGN, content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_feedback_is_stored_without_free_text(client: AsgiClient, store: FeedbackStore) -> None:
    cards = client.post(SIGN, json=high_dose_request()).json()["cards"]
    feedback = {
        "feedback": [
            {
                "card": cards[0]["uuid"],
                "outcome": "overridden",
                "overrideReason": {
                    "reason": {
                        "system": "urn:opioidcds:cds-hooks:override-reason",
                        "code": "specialist-advice",
                    },
                    "userComment": "Mrs Example agreed on the phone",
                },
                "outcomeTimestamp": "2026-11-22T10:00:00Z",
            },
            {
                "card": cards[1]["uuid"],
                "outcome": "accepted",
                "outcomeTimestamp": "2026-11-22T10:00:01Z",
            },
        ]
    }
    r = client.post(f"{SIGN}/feedback", json=feedback)
    assert r.status_code == 200
    assert r.json() == {"recorded": 2}
    rows = store.rows()
    assert [row["outcome"] for row in rows] == ["overridden", "accepted"]
    assert rows[0]["override_code"] == "specialist-advice"
    assert rows[0]["had_user_comment"] == 1
    with sqlite3.connect(store.path) as con:
        dump = "\n".join(con.iterdump())
    assert "Mrs Example" not in dump
    bad = client.post(f"{SIGN}/feedback", json={"feedback": [{"card": "x", "outcome": "maybe"}]})
    assert bad.status_code == 400
    assert client.post("/cds-services/nope/feedback", json=feedback).status_code == 404


def test_logs_carry_no_patient_data(client: AsgiClient, caplog: pytest.LogCaptureFixture) -> None:
    body = high_dose_request()
    for_patient(body, "patient-id-XYZ987")
    body["prefetch"]["patient"]["name"] = [{"family": "Zebedee-Quirk"}]
    secrets = ["XYZ987", "Zebedee", "Morphine", "Diazepam", "35489007", "1960", "36127311000001102"]
    formatter = JsonLinesFormatter()
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        assert client.post(SIGN, json=body).status_code == 200
        body.pop("prefetch")
        assert client.post(SIGN, json=body).status_code == 412
        client.post("/cds-services/Zebedee-Quirk", json=body)
        client.post(SIGN, json={"hook": "XYZ987"})
    lines = [formatter.format(r) for r in caplog.records if r.name == LOGGER_NAME]
    assert len(lines) == 4
    for line in lines:
        # Random and timing fields are checked by format, then left out of the search: a random
        # hex id or a duration can contain digits such as "1960" by chance (seen once in CI).
        record = json.loads(line)
        assert re.fullmatch(r"[0-9a-f]{32}", record.pop("request_id").replace("-", ""))
        assert isinstance(record.pop("duration_ms"), int | float)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}", record.pop("time"))
        rest = json.dumps(record)
        for secret in secrets:
            assert secret not in rest
    first = json.loads(lines[0])
    assert first["service_id"] == "opioidcds-order-sign"
    assert first["status"] == 200
    assert first["cards"] >= 2
    assert first["request_id"]
    assert first["duration_ms"] >= 0
    assert json.loads(lines[2])["route"] == "/cds-services/{id}"
    assert json.loads(lines[2])["service_id"] is None


def test_concurrent_requests_agree(client: AsgiClient) -> None:
    body = high_dose_request()
    expected = [c["summary"] for c in client.post(SIGN, json=body).json()["cards"]]

    def one(_: int) -> list[str]:
        r = client.post(SIGN, json=body)
        assert r.status_code == 200
        return [c["summary"] for c in r.json()["cards"]]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, range(40)))
    assert all(r == expected for r in results)


def test_unexpected_error_is_500_without_details(store: FeedbackStore) -> None:
    class Broken(CDSHooksService):
        def call(self, service_id: str, request: Any, fetched: Any = None) -> Any:
            raise RuntimeError("boom with patient-id-XYZ987")

    app = create_app(Broken(), feedback=store)
    r = AsgiClient(app).post(SIGN, json=high_dose_request())
    assert r.status_code == 500
    assert "XYZ987" not in r.text
    assert r.json()["error"] == "internal error"


def test_feedback_store_is_safe_across_threads(store: FeedbackStore) -> None:
    def item(n: int) -> FeedbackItem:
        return FeedbackItem.model_validate(
            {"card": f"c{n}", "outcome": "accepted", "outcomeTimestamp": "2026-11-22T10:00:00Z"}
        )

    def write(k: int) -> int:
        return sum(store.record("opioidcds-order-sign", [item(k * 10 + j)]) for j in range(10))

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert sum(pool.map(write, range(8))) == 80
    assert len(store.rows()) == 80


def test_feedback_retries_are_recorded_once(store: FeedbackStore) -> None:
    """A client retrying a feedback call (same card, outcome and outcome time) counts once."""
    same = {"card": "c1", "outcome": "overridden", "outcomeTimestamp": "2026-11-22T10:00:00Z"}
    item = FeedbackItem.model_validate(same)
    retried = FeedbackItem.model_validate({**same, "outcomeTimestamp": "2026-11-22T11:00:00+01:00"})
    later = FeedbackItem.model_validate({**same, "outcomeTimestamp": "2026-11-22T10:05:00Z"})
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(lambda _: store.record("s", [item]), range(8))) == [1] * 8
    assert store.record("s", [retried]) == 1  # the same instant in another offset
    assert len(store.rows()) == 1
    assert store.record("s", [later, item]) == 2  # a later outcome of the same card is new
    assert len(store.rows()) == 2


def test_alert_cards_carry_the_provenance_of_the_decision(client: AsgiClient) -> None:
    # HAZ-011: an EHR's audit record can say which library and knowledge base decided.
    cards = client.post(SIGN, json=high_dose_request()).json()["cards"]
    fired = [c for c in cards if c["indicator"] in ("warning", "critical")]
    assert fired
    hashes = set()
    for c in fired:
        prov = c["extension"]["org.opioidcds.provenance"]
        assert prov["library_version"] == __version__
        assert re.fullmatch(r"[0-9a-f]{64}", prov["knowledge_sha256"])
        hashes.add(prov["knowledge_sha256"])
    assert len(hashes) == 1  # one request, one knowledge base
