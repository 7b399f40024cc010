"""The service's lean R4 validation (``opioidcds.cdshooks.r4``) against the fhir.resources path.

Both paths run the same FHIR adapter (``prescriptions_from_medication_request``); only the
validation before it differs. On the fixtures and on generated resources (a valid resource with
one element the service reads replaced, removed, or given a wrong JSON type), the outcome must
be the same (the same prescriptions, or both refused), except in the documented places where the
lean path is stricter: a JSON value of the wrong type where FHIR JSON wants a number or a
boolean (``"2"``, ``true`` or ``2.0`` as an integer, ``"true"`` or ``1`` as a boolean), which
fhir.resources coerces. Unknown elements are ignored by the lean path (tested separately).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opioidcds import InvalidInputError, OpioidCDSError
from opioidcds._resolve.fhir import prescriptions_from_medication_request
from opioidcds.cdshooks.r4 import validate_medication_request

from . import cdc_convert
from .hooks_helpers import med_request, named_request

FHIR_DATA = Path(__file__).resolve().parents[1] / "fhir" / "data"
CDC_DATA = Path(__file__).parent / "data"


def outcome(resource: object, validator: Callable[[Mapping[str, object]], None] | None) -> object:
    try:
        return tuple(
            prescriptions_from_medication_request(resource, validator=validator)  # type: ignore[arg-type]
        )
    except OpioidCDSError as exc:
        return ("refused", type(exc).__name__)


def both(resource: object) -> tuple[object, object]:
    return outcome(resource, None), outcome(resource, validate_medication_request)


def _requests_in(data: object) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(data, dict):
        if data.get("resourceType") == "MedicationRequest":
            found.append(data)
        for value in data.values():
            found.extend(_requests_in(value))
    elif isinstance(data, list):
        for value in data:
            found.extend(_requests_in(value))
    return found


def fixtures() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted(FHIR_DATA.glob("*.json")):
        out.extend(_requests_in(json.loads(path.read_text(encoding="utf-8"))))
    for path in sorted(CDC_DATA.glob("*.json")):
        converted = cdc_convert.convert(cdc_convert.load(path.name))
        out.extend(_requests_in(converted))
    out.extend(
        [
            med_request("morphine-mr-30", dose=4),
            med_request("oxycodone-10", per_day=3, status="draft", prior=True),
            med_request("fentanyl-25", period_days=3),
            med_request("methadone-5"),
            named_request("Diazepam 5mg tablets"),
        ]
    )
    return out


FIXTURES = fixtures()


def test_fixtures_are_many() -> None:
    assert len(FIXTURES) >= 20


@pytest.mark.parametrize("index", range(len(FIXTURES)))
def test_same_outcome_on_fixtures(index: int) -> None:
    full, lean = both(FIXTURES[index])
    assert full == lean


# --- generated resources ------------------------------------------------------------------------

Path_ = list[str | int]
DOSE: Path_ = ["dosageInstruction", 0]
REPEAT: Path_ = [*DOSE, "timing", "repeat"]
QUANTITY: Path_ = [*DOSE, "doseAndRate", 0, "doseQuantity"]
CODING: Path_ = ["medicationCodeableConcept", "coding", 0]

# element path -> its FHIR JSON kind ("int" and "bool" are where the lean path is stricter)
ELEMENTS: list[tuple[list[str | int], str]] = [
    (["status"], "required"),
    (["intent"], "required"),
    (["id"], "id"),
    (["doNotPerform"], "bool"),
    (["subject"], "required"),
    (["subject", "reference"], "str"),
    (["priorPrescription"], "obj"),
    (["medicationCodeableConcept"], "obj"),
    (["medicationCodeableConcept", "text"], "str"),
    (["medicationCodeableConcept", "coding"], "list"),
    ([*CODING, "system"], "uri"),
    ([*CODING, "code"], "str"),
    ([*CODING, "display"], "str"),
    (["dosageInstruction"], "list"),
    ([*DOSE, "text"], "str"),
    ([*DOSE, "sequence"], "int"),
    ([*DOSE, "asNeededBoolean"], "bool"),
    ([*DOSE, "timing"], "obj"),
    ([*DOSE, "timing", "repeat"], "obj"),
    ([*REPEAT, "frequency"], "int"),
    ([*REPEAT, "frequencyMax"], "int"),
    ([*REPEAT, "period"], "num"),
    ([*REPEAT, "periodMax"], "num"),
    ([*REPEAT, "periodUnit"], "str"),
    ([*REPEAT, "timeOfDay"], "list"),
    ([*REPEAT, "when"], "list"),
    ([*DOSE, "doseAndRate"], "list"),
    (QUANTITY, "obj"),
    ([*QUANTITY, "value"], "num"),
    ([*QUANTITY, "unit"], "str"),
    ([*QUANTITY, "code"], "str"),
    ([*QUANTITY, "system"], "uri"),
    ([*DOSE, "route"], "obj"),
]

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=10**10),
    st.floats(min_value=-5, max_value=1e6, allow_nan=False),
    st.sampled_from([0.5, 2.0, 1e300, float("nan"), float("inf")]),
    st.sampled_from(
        ["", " ", "2", "1.5", "true", "d", "h", "wk", "mo", "draft", "active", "order", "a  b"]
    ),
    st.sampled_from([" x", "08:00:00", "25:00:00", "08:00", "MORN", "mg", "tablet", "a_b"]),
    st.sampled_from(["http://snomed.info/sct", "a b", "36127311000001102", "x" * 65]),
)
VALUES = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=2),
    st.dictionaries(st.sampled_from(["value", "unit", "text", "reference"]), SCALARS, max_size=2),
    st.just({}),
    st.just([]),
)
BASES = [
    med_request("morphine-mr-30", dose=4),
    med_request("oxycodone-10", per_day=3, status="draft"),
]
for _b in BASES:
    _b["dosageInstruction"][0]["route"] = {
        "coding": [{"system": "http://snomed.info/sct", "code": "26643006"}]
    }


REFERENCE = {"reference", "type", "display", "identifier"}
OBJECT_ELEMENTS: dict[str, set[str]] = {
    "subject": REFERENCE,
    "priorPrescription": REFERENCE,
    "medicationCodeableConcept": {"coding", "text"},
    "route": {"coding", "text"},
    "timing": {"event", "repeat", "code"},
    "repeat": {"frequency", "period", "periodUnit", "when", "timeOfDay"},
    "doseQuantity": {"value", "unit", "system", "code", "comparator"},
}


def _unknown_elements(path: list[str | int], value: object) -> bool:
    """Whether ``value`` is an object with elements its datatype does not have (lean ignores)."""
    known = OBJECT_ELEMENTS.get(str(path[-1]))
    return isinstance(value, dict) and known is not None and not set(value) <= known


def _wrong_json_type(kind: str, value: object) -> bool:  # noqa: PLR0911 - one rule a line
    """Whether ``value`` breaks a FHIR rule that lean enforces and fhir.resources does not.

    JSON types (a string, a boolean or a fractional number where an integer belongs; a string
    or number for a boolean; a string or boolean for a decimal), a null for a required element,
    whitespace in a uri, an id longer than 512 characters (the lean path tolerates R4-invalid
    ids of 65-512 characters, as EHRs send them; fhir.resources takes any length).
    """
    if kind == "uri" and isinstance(value, str):
        return any(c.isspace() for c in value)
    if kind == "id" and isinstance(value, str):
        return len(value) > 512
    if value is None:  # null is not FHIR JSON; fhir.resources takes it even for a required element
        return kind == "required"
    if kind == "bool":
        return not isinstance(value, bool)
    if kind == "int":
        return isinstance(value, bool) or not isinstance(value, int)
    if kind == "num":
        return isinstance(value, bool | str)
    return False


def _set(resource: dict[str, Any], path: list[str | int], value: object, *, delete: bool) -> None:
    parent: Any = resource
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        parent.pop(path[-1], None)
    else:
        parent[path[-1]] = value


@given(
    base=st.sampled_from(BASES),
    element=st.sampled_from(ELEMENTS),
    value=VALUES,
    delete=st.booleans(),
)
def test_same_outcome_on_generated_resources(
    base: dict[str, Any], element: tuple[list[str | int], str], value: object, delete: bool
) -> None:
    resource = copy.deepcopy(base)
    path, kind = element
    _set(resource, path, value, delete=delete)
    full, lean = both(resource)
    if not delete and _wrong_json_type(kind, value):
        assert lean == ("refused", "InvalidInputError")  # stricter: fhir.resources may coerce
        return
    if not delete and _unknown_elements(path, value):
        assert full == ("refused", "InvalidInputError")  # fhir.resources forbids them
        return
    assert full == lean, (path, value, delete)


def test_stricter_on_json_types_and_names_the_path() -> None:
    resource = copy.deepcopy(BASES[0])
    resource["doNotPerform"] = "true"  # fhir.resources coerces; the adapter would then count it
    with pytest.raises(InvalidInputError) as info:
        validate_medication_request(resource)
    assert info.value.field == "doNotPerform"
    resource = copy.deepcopy(BASES[0])
    resource["dosageInstruction"][0]["timing"]["repeat"]["frequency"] = "2"
    with pytest.raises(InvalidInputError) as info:
        validate_medication_request(resource)
    assert info.value.field == "dosageInstruction[0].timing.repeat.frequency"
    assert "2" not in info.value.rule


def test_unknown_and_unread_elements_are_ignored() -> None:
    resource = copy.deepcopy(BASES[0])
    resource["futureElement"] = {"anything": 1}
    resource["note"] = "not an Annotation array, and not read"
    full, lean = both(resource)
    assert full == ("refused", "InvalidInputError")
    assert lean == outcome(BASES[0], None)


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"status": None}, "status"),
        ({"subject": None}, "subject"),
        ({"medicationCodeableConcept": None}, "(resource)"),
        ({"medicationReference": {"reference": "Medication/1"}}, "(resource)"),
    ],
)
def test_required_and_choice_elements(change: dict[str, Any], path: str) -> None:
    resource = copy.deepcopy(BASES[0])
    for key, value in change.items():
        if value is None:
            del resource[key]
        else:
            resource[key] = value
    with pytest.raises(InvalidInputError) as info:
        validate_medication_request(resource)
    assert info.value.field == path
