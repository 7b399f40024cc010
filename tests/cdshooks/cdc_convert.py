"""Convert the CDC opioid-cds example requests (STU3, pre-1.0 CDS Hooks) to CDS Hooks 2.0 / R4.

Only what opioidcds reads is converted (see ``data/README.md``); everything else is kept.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"


def load(name: str) -> dict[str, Any]:
    """One example request as parsed JSON."""
    data: dict[str, Any] = json.loads((DATA / name).read_text(encoding="utf-8"))
    return data


def _codeable(code: object) -> object:
    return {"coding": [{"code": code}]} if isinstance(code, str) else code


def _r4(resource: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(resource)
    rtype = out.get("resourceType")
    if rtype == "MedicationRequest":
        if "context" in out:
            out["encounter"] = out.pop("context")
        if isinstance(out.get("category"), dict):
            out["category"] = [out["category"]]
        for dosage in out.get("dosageInstruction", []):
            if "doseQuantity" in dosage:
                dosage["doseAndRate"] = [{"doseQuantity": dosage.pop("doseQuantity")}]
    elif rtype == "Condition":
        for key in ("clinicalStatus", "verificationStatus"):
            if key in out:
                out[key] = _codeable(out[key])
        if "context" in out:
            out["encounter"] = out.pop("context")
    return out


def _bundle(resources: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": [{"resource": r} for r in resources]}


def convert(request: dict[str, Any]) -> dict[str, Any]:
    """The request as CDS Hooks 2.0 with R4 resources under opioidcds's prefetch keys."""
    context = dict(request["context"])
    orders = context.pop("medications", None) or context.pop("draftOrders")
    if isinstance(orders, dict):
        orders = [orders]
    context["draftOrders"] = _bundle([_r4(o) for o in orders], "collection")
    pid = context["patientId"]
    context["patientId"] = pid.split("/", 1)[1] if pid.startswith("Patient/") else pid
    groups: dict[str, list[dict[str, Any]]] = {
        "MedicationRequest": [],
        "Condition": [],
        "Encounter": [],
        "Observation": [],
    }
    patient = None
    for item in (request.get("prefetch") or {}).values():
        if not item or "resource" not in item:
            continue
        resource = _r4(item["resource"])
        if resource["resourceType"] == "Patient":
            patient = resource
        elif resource["resourceType"] in groups:
            groups[resource["resourceType"]].append(resource)
    prefetch = {
        "patient": patient,
        "medications": _bundle(groups["MedicationRequest"], "searchset"),
        "conditions": _bundle(groups["Condition"], "searchset"),
        "observations": _bundle(groups["Observation"], "searchset"),
        "encounters": _bundle(groups["Encounter"], "searchset"),
    }
    return {
        "hook": request["hook"],
        "hookInstance": request["hookInstance"],
        "fhirServer": request.get("fhirServer"),
        "context": context,
        "prefetch": prefetch,
    }
