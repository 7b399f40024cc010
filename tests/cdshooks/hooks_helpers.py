"""Builders of synthetic CDS Hooks requests (no real patient data) for the service tests."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from hypothesis import strategies as st

SNOMED = "http://snomed.info/sct"
DMD = {
    "morphine-mr-30": ("36127311000001102", "Morphine 30mg modified-release tablets", "tablet"),
    "oxycodone-10": ("42015811000001101", "Oxycodone 10mg capsules", "capsule"),
    "codeine-30": ("42010411000001105", "Codeine 30mg tablets", "tablet"),
    "fentanyl-25": ("36120011000001101", "Fentanyl 25micrograms/hour transdermal patches", "patch"),
    "methadone-5": ("42385311000001106", "Methadone 5mg tablets", "tablet"),
}


def med_request(
    key: str,
    *,
    dose: float = 1,
    per_day: int = 2,
    status: str = "active",
    rid: str = "mr-1",
    period_days: int = 1,
    prior: bool = False,
) -> dict[str, Any]:
    """A FHIR R4 MedicationRequest for the dm+d product ``key`` of :data:`DMD`."""
    code, name, unit = DMD[key]
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": status,
        "intent": "order",
        "subject": {"reference": "Patient/example"},
        "medicationCodeableConcept": {
            "coding": [{"system": SNOMED, "code": code, "display": name}]
        },
        "dosageInstruction": [
            {
                "timing": {
                    "repeat": {"frequency": per_day, "period": period_days, "periodUnit": "d"}
                },
                "doseAndRate": [{"doseQuantity": {"value": dose, "unit": unit}}],
            }
        ],
    }
    if prior:
        resource["priorPrescription"] = {"reference": "MedicationRequest/previous"}
    return resource


def named_request(name: str, *, rid: str = "mr-x", status: str = "active") -> dict[str, Any]:
    """A MedicationRequest coded by display name only, under an unknown code."""
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": status,
        "intent": "order",
        "subject": {"reference": "Patient/example"},
        "medicationCodeableConcept": {
            "coding": [{"system": SNOMED, "code": "999999999", "display": name}]
        },
        "dosageInstruction": [
            {
                "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}],
            }
        ],
    }


_known_drafts = st.builds(
    lambda key, dose, per_day, rid: med_request(
        key, dose=dose, per_day=per_day, status="draft", rid=rid
    ),
    st.sampled_from(sorted(DMD)),
    st.integers(1, 6),
    st.integers(1, 6),
    st.text("abc123", min_size=1, max_size=6),
)
_named_drafts = st.builds(
    lambda name: named_request(name, status="draft"),
    st.sampled_from(["Diazepam 5mg tablets", "Pregabalin 75mg capsules", "Unknownium 5mg"]),
)
draft_orders = st.lists(st.one_of(_known_drafts, _named_drafts), min_size=1, max_size=5)
"""1 to 5 draft MedicationRequests: products of :data:`DMD` at drawn doses, a benzodiazepine,
a gabapentinoid, or a product not recognised (coded by name under an unknown code)."""


def bundle(*resources: dict[str, Any], kind: str = "collection") -> dict[str, Any]:
    """A Bundle of ``resources``."""
    return {
        "resourceType": "Bundle",
        "type": kind,
        "entry": [{"resource": r} for r in resources],
    }


def condition(
    code: str, *, clinical: str = "active", verification: str = "confirmed"
) -> dict[str, Any]:
    """A Condition with one SNOMED CT code."""
    return {
        "resourceType": "Condition",
        "clinicalStatus": {"coding": [{"code": clinical}]},
        "verificationStatus": {"coding": [{"code": verification}]},
        "code": {"coding": [{"system": SNOMED, "code": code}]},
        "subject": {"reference": "Patient/example"},
    }


def patient(*, gender: str = "female", birth: str = "1960-05-01") -> dict[str, Any]:
    """A synthetic Patient resource."""
    return {"resourceType": "Patient", "id": "example", "gender": gender, "birthDate": birth}


def hook_request(
    hook: str,
    drafts: list[dict[str, Any]],
    *,
    current: list[dict[str, Any]] | None = None,
    conditions: list[dict[str, Any]] | None = None,
    observations: list[dict[str, Any]] | None = None,
    encounters: list[dict[str, Any]] | None = None,
    prefetch: bool = True,
) -> dict[str, Any]:
    """A CDS Hooks 2.0 request for ``hook`` with ``drafts`` as draftOrders."""
    body: dict[str, Any] = {
        "hook": hook,
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {
            "userId": "Practitioner/example",
            "patientId": "example",
            "draftOrders": bundle(*drafts),
        },
    }
    if prefetch:
        pre: dict[str, Any] = {
            "patient": patient(),
            "medications": bundle(*(current or []), kind="searchset"),
        }
        if conditions is not None:
            pre["conditions"] = bundle(*conditions, kind="searchset")
        if observations is not None:
            pre["observations"] = bundle(*observations, kind="searchset")
        if encounters is not None:
            pre["encounters"] = bundle(*encounters, kind="searchset")
        body["prefetch"] = pre
    return body


def for_patient(body: dict[str, Any], pid: str) -> dict[str, Any]:
    """``body`` made about patient ``pid``: ``context.patientId``, the prefetched Patient's id
    and every ``subject`` of the draft orders and prefetch Bundles (a resource naming another
    Patient is refused)."""

    def entries(value: Any) -> list[dict[str, Any]]:
        return [e["resource"] for e in value.get("entry", [])] if isinstance(value, dict) else []

    body["context"]["patientId"] = pid
    resources = entries(body["context"].get("draftOrders"))
    for key, value in body.get("prefetch", {}).items():
        if key == "patient":
            value["id"] = pid
        resources.extend(entries(value))
    for resource in resources:
        if "subject" in resource:
            resource["subject"] = {"reference": f"Patient/{pid}"}
    return body


class AsgiClient:
    """A small synchronous client over ``httpx.ASGITransport`` (no server, no lifespan).

    Starlette's TestClient is not used: its httpx support is deprecated (a warning, which the
    test configuration turns into an error).
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                return await c.request(method, url, **kwargs)

        return asyncio.run(go())

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)


def high_dose_request() -> dict[str, Any]:
    """An order-sign request: morphine MR 30 mg, 4 tablets twice a day = 240 mg OME/day, with
    diazepam, and a condition coded 35489007 (depressive disorder)."""
    return hook_request(
        "order-sign",
        [med_request("morphine-mr-30", dose=4, per_day=2, status="draft", rid="d1")],
        current=[named_request("Diazepam 5mg tablets")],
        conditions=[condition("35489007")],
    )
