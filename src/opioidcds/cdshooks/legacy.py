"""Shapes real CDS clients send that are not CDS Hooks 2.0 / FHIR R4, read where it is safe.

Each rewrite here has a one-to-one R4 meaning, so the dose is never guessed; anything else is
left alone for the strict reading to refuse with its path. Every rewrite adds a fixed note
(no values) that the cards show, so the prescriber and the EHR's integrator see it.

- ``context.draftOrders`` as one bare MedicationRequest, or a JSON array of resources (the
  pre-1.0 CDS Hooks form, still in the cqframework opioid-cds-r4 examples): read as a Bundle of
  type ``collection`` holding them, in order.
- prefetch values wrapped as ``{"response": {...}, "resource": {...}}`` (the wrapper of a FHIR
  batch-response entry, sent by cqf-ruler-based clients): the ``resource`` is the value.
- ``MedicationRequest.category`` as one object (STU3 cardinality 0..1): a list of that object
  (R4 0..*).
- ``Dosage.doseQuantity`` / ``Dosage.doseRange`` directly on the dosage (STU3): the same
  quantity as ``Dosage.doseAndRate[0].doseQuantity`` / ``.doseRange`` (R4 moved them there
  unchanged: https://hl7.org/fhir/R4/dosage.html, "Dosage.doseAndRate"), only when the dosage
  has no ``doseAndRate`` of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = [
    "NOTE_ARRAY_DRAFTS",
    "NOTE_BARE_DRAFT",
    "NOTE_STU3_CATEGORY",
    "NOTE_STU3_DOSE",
    "NOTE_WRAPPED_PREFETCH",
    "normalise_draft_orders",
    "normalise_medication_request",
    "normalise_prefetch",
    "normalise_request",
    "unwrap_entry",
]

NOTE_BARE_DRAFT: Final = (
    "context.draftOrders was one MedicationRequest, not a Bundle (pre-1.0 CDS Hooks): read as "
    "a Bundle of that order"
)
NOTE_ARRAY_DRAFTS: Final = (
    "context.draftOrders was a JSON array, not a Bundle (pre-1.0 CDS Hooks): read as a Bundle "
    "of those orders"
)
NOTE_WRAPPED_PREFETCH: Final = (
    "a prefetch value came wrapped as a batch-response entry ({response, resource}): the "
    "resource was read"
)
NOTE_STU3_CATEGORY: Final = (
    "a MedicationRequest.category was one object (FHIR STU3): read as a list of one"
)
NOTE_STU3_DOSE: Final = (
    "a dose was given as Dosage.doseQuantity/doseRange (FHIR STU3): read as "
    "Dosage.doseAndRate (R4 moved the same element there)"
)


def normalise_draft_orders(value: object) -> tuple[object, tuple[str, ...]]:
    """``context.draftOrders`` as a Bundle, and the note of any rewrite (else unchanged).

    One bare MedicationRequest, or a non-empty JSON array of resources (objects with a
    ``resourceType``), is wrapped; anything else is returned unchanged (the reader refuses
    it with its path).
    """
    if isinstance(value, Mapping) and value.get("resourceType") == "MedicationRequest":
        bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": value}]}
        return bundle, (NOTE_BARE_DRAFT,)
    if (
        isinstance(value, list)
        and value
        and all(isinstance(v, Mapping) and isinstance(v.get("resourceType"), str) for v in value)
    ):
        entries = [{"resource": item} for item in value]
        return {"resourceType": "Bundle", "type": "collection", "entry": entries}, (
            NOTE_ARRAY_DRAFTS,
        )
    return value, ()


def unwrap_entry(value: object) -> tuple[object, bool]:
    """The resource of a ``{response, resource}`` wrapper, and whether it was one.

    A value that has a ``resourceType`` of its own is a resource (even if it also carries a
    stray ``resource`` key, as some examples do) and is not unwrapped.
    """
    if (
        isinstance(value, Mapping)
        and "resourceType" not in value
        and isinstance(value.get("resource"), Mapping)
        and set(value) <= {"resource", "response", "fullUrl", "search", "request"}
    ):
        return value["resource"], True
    return value, False


def normalise_prefetch(
    prefetch: Mapping[str, object | None] | None,
) -> tuple[dict[str, object | None], tuple[str, ...]]:
    """Prefetch with batch-response wrappers removed, and the note if any was."""
    out: dict[str, object | None] = {}
    wrapped = False
    for key, value in (prefetch or {}).items():
        out[key], was = unwrap_entry(value)
        wrapped = wrapped or was
    return out, ((NOTE_WRAPPED_PREFETCH,) if wrapped else ())


def normalise_medication_request(
    resource: Mapping[str, object],
) -> tuple[Mapping[str, object], tuple[str, ...]]:
    """A MedicationRequest with its STU3 category and dose elements in their R4 places.

    Returns the resource unchanged (the same object) when nothing needed rewriting.
    """
    notes: list[str] = []
    out: dict[str, object] | None = None
    category = resource.get("category")
    if isinstance(category, Mapping):
        out = dict(resource)
        out["category"] = [category]
        notes.append(NOTE_STU3_CATEGORY)
    dosages = resource.get("dosageInstruction")
    if isinstance(dosages, list) and any(_stu3_dose(d) for d in dosages):
        out = dict(out if out is not None else resource)
        out["dosageInstruction"] = [_r4_dosage(d) if _stu3_dose(d) else d for d in dosages]
        notes.append(NOTE_STU3_DOSE)
    return (out if out is not None else resource), tuple(notes)


def _stu3_dose(dosage: object) -> bool:
    return (
        isinstance(dosage, Mapping)
        and "doseAndRate" not in dosage
        and ("doseQuantity" in dosage or "doseRange" in dosage)
    )


def _r4_dosage(dosage: object) -> dict[str, object]:
    assert isinstance(dosage, Mapping)  # noqa: S101 - checked by _stu3_dose
    out = {k: v for k, v in dosage.items() if k not in {"doseQuantity", "doseRange"}}
    entry = {k: dosage[k] for k in ("doseQuantity", "doseRange") if k in dosage}
    out["doseAndRate"] = [entry]
    return out


def _normalise_resource(resource: object, notes: list[str]) -> object:
    """A MedicationRequest or MedicationStatement with its STU3 elements moved (else as is)."""
    if not isinstance(resource, Mapping):
        return resource
    kind = resource.get("resourceType")
    if kind == "MedicationRequest":
        out, more = normalise_medication_request(resource)
    elif kind == "MedicationStatement":
        out, more = _normalise_statement(resource)
    else:
        return resource
    notes.extend(n for n in more if n not in notes)
    return out


def _normalise_statement(
    resource: Mapping[str, object],
) -> tuple[Mapping[str, object], tuple[str, ...]]:
    dosages = resource.get("dosage")
    if isinstance(dosages, list) and any(_stu3_dose(d) for d in dosages):
        out = dict(resource)
        out["dosage"] = [_r4_dosage(d) if _stu3_dose(d) else d for d in dosages]
        return out, (NOTE_STU3_DOSE,)
    return resource, ()


def _normalise_bundle(value: object, notes: list[str]) -> object:
    """A Bundle whose entries' resources are normalised (a copy only if one changed)."""
    if not isinstance(value, Mapping) or value.get("resourceType") != "Bundle":
        return _normalise_resource(value, notes)
    entries = value.get("entry")
    if not isinstance(entries, list):
        return value
    changed = False
    new_entries: list[object] = []
    for entry in entries:
        if isinstance(entry, Mapping) and "resource" in entry:
            resource = _normalise_resource(entry["resource"], notes)
            if resource is not entry["resource"]:
                entry = {**entry, "resource": resource}  # noqa: PLW2901 - the entry, rewritten
                changed = True
        new_entries.append(entry)
    return {**value, "entry": new_entries} if changed else value


def normalise_request(
    context: Mapping[str, object], prefetch: Mapping[str, object | None] | None
) -> tuple[dict[str, object], dict[str, object | None], tuple[str, ...]]:
    """The request's context and prefetch with every rewrite above applied, and the notes.

    Returns new mappings; the resources inside are shared with the request where unchanged.
    """
    notes: list[str] = []
    ctx = dict(context)
    if "draftOrders" in ctx:
        drafts, more = normalise_draft_orders(ctx["draftOrders"])
        notes.extend(more)
        ctx["draftOrders"] = _normalise_bundle(drafts, notes)
    pre, more = normalise_prefetch(prefetch)
    notes.extend(more)
    for key, value in pre.items():
        pre[key] = _normalise_bundle(value, notes)
    return ctx, pre, tuple(notes)
