"""Helpers of the FHIR adapter tests: the copied fixture files (see data/README.md)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"

UK_EXAMPLE = "uk-core-style-medicationrequest-r4.json"


def load(name: str) -> Any:
    """A fixture file's JSON (a fresh copy each call, so tests may change it)."""
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def bundle(*resources: dict[str, Any], kind: str = "searchset") -> dict[str, Any]:
    """A Bundle of the given resources."""
    return {
        "resourceType": "Bundle",
        "type": kind,
        "entry": [{"resource": copy.deepcopy(r)} for r in resources],
    }


def request(**dosage: Any) -> dict[str, Any]:
    """A minimal valid R4 MedicationRequest for oxycodone 10 mg tablets (RxNorm) with ``dosage``.

    With no ``dosage`` given: 1 tablet twice a day. The RxNorm code is illustrative: the adapter
    reads the RxNorm name in ``display`` (codes other than the ten opioid ingredient codes are
    not looked up).
    """
    instruction = dosage or {
        "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
        "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}],
    }
    return {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/example"},
        "medicationCodeableConcept": {
            "coding": [
                {
                    "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                    "code": "1049683",  # RxNorm: Oxycodone Hydrochloride 10 MG Oral Tablet
                    "display": "oxycodone hydrochloride 10 MG Oral Tablet",
                }
            ]
        },
        "dosageInstruction": [instruction],
    }
