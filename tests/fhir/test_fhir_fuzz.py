"""Fuzz: random JSON-like input never escapes as anything but an OpioidCDSError.

Two generators: random JSON values built from FHIR element names (so they reach deep into the
reader), and random mutations of the valid fixtures (a subtree replaced or removed). Every
string a generator makes may carry a stand-in patient value, which must never appear in an
error message.
"""

from __future__ import annotations

import copy
from typing import Any

from fhir_cases import UK_EXAMPLE, load, request
from hypothesis import given
from hypothesis import strategies as st

from opioidcds import OpioidCDSError, calculate_ome, from_bundle
from opioidcds._resolve.fhir import from_medication_request

PATIENT_VALUE = "PATIENT-VALUE-4857773456"

KEYS = [
    "resourceType",
    "status",
    "intent",
    "subject",
    "reference",
    "medicationCodeableConcept",
    "medicationReference",
    "coding",
    "system",
    "code",
    "display",
    "text",
    "dosageInstruction",
    "timing",
    "repeat",
    "frequency",
    "frequencyMax",
    "period",
    "periodMax",
    "periodUnit",
    "timeOfDay",
    "when",
    "dayOfWeek",
    "doseAndRate",
    "doseQuantity",
    "doseRange",
    "low",
    "high",
    "value",
    "unit",
    "comparator",
    "asNeededBoolean",
    "asNeededCodeableConcept",
    "maxDosePerPeriod",
    "numerator",
    "denominator",
    "route",
    "sequence",
    "type",
    "entry",
    "resource",
    "doNotPerform",
    PATIENT_VALUE,
]
WORDS = [
    "MedicationRequest",
    "Bundle",
    "Patient",
    "active",
    "draft",
    "order",
    "collection",
    "d",
    "h",
    "wk",
    "mo",
    "mg",
    "tablet",
    "patch",
    "{patch}",
    "ug",
    "ordered",
    "08:00:00",
    "MORN",
    "http://snomed.info/sct",
    "http://www.nlm.nih.gov/research/umls/rxnorm",
    "http://unitsofmeasure.org",
    "36130911000001104",
    "7052",
    "oxycodone hydrochloride 10 MG Oral Tablet",
    "72 HR Fentanyl 0.075 MG/HR Transdermal System",
    PATIENT_VALUE,
    "1.5",
    "-1",
    "1e999",
    "NaN",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(WORDS),
    st.text(max_size=12).map(lambda t: t + PATIENT_VALUE),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(KEYS), children, max_size=6),
    ),
    max_leaves=40,
)
medication_request_like = st.fixed_dictionaries(
    {"resourceType": st.just("MedicationRequest"), "status": st.sampled_from(["active", "draft"])},
    optional=dict.fromkeys(KEYS[2:], json_values),
)


def _message(data: object, *, single: bool) -> str:
    """Read ``data`` and measure the result; the error message, or "" if none."""
    try:
        # any JSON on purpose, whatever the type hint says
        rxs = [from_medication_request(data)] if single else from_bundle(data)  # type: ignore[arg-type]
        calculate_ome(rxs, table="cdc-2022")
    except OpioidCDSError as exc:
        return str(exc)
    return ""


def _check(data: object) -> None:
    # anything but an OpioidCDSError propagates and fails the test
    for single in (False, True):
        assert PATIENT_VALUE not in _message(data, single=single)


@given(st.one_of(json_values, medication_request_like))
def test_random_json_raises_only_opioidcds_errors(data: object) -> None:
    _check(data)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, (*prefix, i))
    return found


BASES = [
    load(UK_EXAMPLE),
    load("example-rec-05-mme-greater-than-fifty-context.json"),
    load("morphineMedRecMMECalc.json"),
    request(),
]


@given(st.sampled_from(range(len(BASES))), st.data(), json_values, st.booleans())
def test_mutated_fixtures_raise_only_opioidcds_errors(
    which: int, data: st.DataObject, replacement: object, delete: bool
) -> None:
    doc = copy.deepcopy(BASES[which])
    paths = [p for p in _paths(doc) if p]
    path = data.draw(st.sampled_from(paths))
    parent: Any = doc
    for step in path[:-1]:
        parent = parent[step]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    _check(doc)


@given(st.text(max_size=80) | st.sampled_from(WORDS))
def test_random_dosage_text_raises_only_opioidcds_errors(text: str) -> None:
    data = request(text=text + PATIENT_VALUE)
    _check(data)
