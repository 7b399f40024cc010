"""Read a CDS Hooks request's FHIR R4 data into a :class:`~opioidcds.Patient`.

- ``context.draftOrders``: a Bundle; each MedicationRequest entry is read by the FHIR adapter
  (:func:`~.fhir.prescriptions_from_medication_request`), one prescription per dosage
  instruction. Entries of other resource types (ServiceRequest, ...) are not medicines and are
  passed over. A draft whose ``priorPrescription`` names an active order of the prefetch
  supersedes that order (:func:`link_replacements`); it is a re-authorisation only when it is
  the same medicine (same ingredients, form and route: :func:`same_medicine`). A draft that
  switches to another medicine, or whose ``priorPrescription`` names no active order, is
  checked as a new order, so the checks for a new item (a fentanyl patch for a patient who is
  not opioid tolerant) still run.
- prefetch ``patient``: sex from ``gender`` (male/female, otherwise unknown) and age in whole
  years from a full ``birthDate`` (a partial date leaves age unknown).
- prefetch ``medications``: a Bundle of the patient's MedicationRequests; those with status
  ``active`` (and ``doNotPerform`` not true) are the current prescriptions (drafts come from
  ``context.draftOrders`` only, so nothing is counted twice). A search Bundle that says it is
  not the whole list (a ``next`` link, ``total`` above its entries, an error OperationOutcome
  entry) is read, and reported as incomplete.
- prefetch ``statements``: a Bundle of the patient's MedicationStatements (what the patient
  says or is recorded as taking, including medicines prescribed elsewhere); those with status
  ``active`` are counted as current medicines, unless ``basedOn`` names a MedicationRequest of
  ``medications`` (already counted); status ``unknown`` is a problem (it may be current).
- Medications referenced by ``medicationReference`` are taken from the request (prefetch
  values and Bundle entries of type Medication, including ``draftOrders``) or from what the
  service fetched, and given to the FHIR adapter, which resolves the references.
- prefetch ``conditions`` / ``observations``: Conditions and Observations whose SNOMED CT codes
  are in the codelists set risk inputs (see :mod:`opioidcds.cdshooks.codelists`).
- prefetch ``encounters``: Encounters of class ``EMER`` give the date of the last A&E
  attendance. No such Encounter leaves A&E attendance unknown (it may be recorded elsewhere).

A medicine the adapter does not understand is never dropped silently: a non-opioid recognised by
name (benzodiazepine, gabapentinoid, z-drug) is kept for the co-prescription checks with its dose
not read (no OME is computed for it); anything else is a :class:`Problem` that the service turns
into a card. Problems name FHIR paths and fixed sentences, never values from the record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Final

from opioidcds._errors import InvalidInputError, OpioidCDSError, UnknownProductError
from opioidcds._inputs.patient import Sex
from opioidcds._inputs.prescription import Prescription
from opioidcds._knowledge.products import Catalogue, MedicineClass, classify_medicine
from opioidcds._knowledge.vocabulary import Vocabulary
from opioidcds._resolve.fhir import SNOMED_SYSTEM, prescriptions_from_medication_request
from opioidcds._resolve.prescription import product_fields, product_part
from opioidcds.cdshooks.codelists import Codelists
from opioidcds.cdshooks.r4 import validate_medication_request

__all__ = [
    "REQUIRED_PREFETCH",
    "DraftItem",
    "MedicationReader",
    "Problem",
    "Record",
    "RequestError",
    "clean_text",
    "collect_medications",
    "is_operation_outcome",
    "medication_references",
    "read_record",
    "replaced_again",
    "same_medicine",
    "search_incomplete",
]

REQUIRED_PREFETCH: Final = ("patient", "medications")
"""Prefetch keys without which the service cannot answer (412 unless it can fetch them)."""

_STATEMENT_SKIP: Final = frozenset(
    {"completed", "entered-in-error", "intended", "stopped", "on-hold", "not-taken"}
)
"""MedicationStatement statuses (R4 medication-statement-status) that are not current use."""
_MAX_CACHED_RESOURCE_BYTES: Final = 65_536  # larger resources are read but not cached
_MAX_CACHE_BYTES: Final = 32_000_000  # canonical JSON kept in the cache's results, at most
# An id both the R4 check (r4.Id, up to 512) and a Prescription (up to 200) accept, so a
# resource read with a placeholder id instead is valid exactly when it is with its own.
_SWAPPABLE_ID = re.compile(r"[A-Za-z0-9\-.]{1,200}")
_PLACEHOLDER_ID: Final = "0"
_PLACEHOLDER_SUBJECT: Final = "Patient/0"

_CURRENT_STATUSES: Final = frozenset({"active", "recurrence", "relapse"})
_IGNORED_VERIFICATION: Final = frozenset(
    {"entered-in-error", "unconfirmed", "provisional", "differential"}
)
_OBSERVATION_STATUSES: Final = frozenset({"final", "amended", "corrected"})
_ENCOUNTER_SKIP: Final = frozenset({"planned", "cancelled", "entered-in-error"})
_NOT_OPIOID_CLASSES: Final = frozenset(
    {MedicineClass.BENZODIAZEPINE, MedicineClass.GABAPENTINOID, MedicineClass.Z_DRUG}
)
_EARLIEST: Final = dt.date(1900, 1, 1)  # the Patient's sanity bound on record dates; not clinical
_NOT_READ_DOSE: Final = "dose not read: not an opioid, no OME is computed"
# A literal reference to a Patient (relative, absolute or versioned; FHIR R4 3.3.1 References):
# the logical id is the segment after "Patient/".
_PATIENT_REFERENCE = re.compile(r"(?:^|/)Patient/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


class RequestError(ValueError):
    """The request is malformed at ``path`` (answered 400); ``problem`` never holds a value."""

    def __init__(self, path: str, problem: str) -> None:
        """Record where and what."""
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


@dataclass(frozen=True, slots=True)
class Problem:
    """Something in the record that could not be read: where, and a fixed sentence.

    ``maybe_opioid`` is False only for a medicine not recognised whose name names no opioid
    ingredient of the vocabulary (an antibiotic, say): still reported, at a lower severity.
    """

    path: str
    what: str
    maybe_opioid: bool = True


@dataclass(frozen=True, slots=True)
class DraftItem:
    """One prescription read from a draft order (one per dosage instruction)."""

    order_index: int
    path: str
    label: str
    prescription: Prescription
    reauthorisation: bool
    resource_id: str | None = None  # the order's id as sent (identifies it; never decides)
    new_because: str | None = None
    """Why an order with a ``priorPrescription`` is checked as a new order (for its cards)."""


@dataclass(frozen=True, slots=True)
class Record:
    """What the request says about the patient, with what could not be read."""

    age: int | None
    sex: Sex
    risk: Mapping[str, bool | None]
    last_ae_attendance: dt.date | None
    current: tuple[Prescription, ...]
    current_labels: tuple[str, ...]
    drafts: tuple[DraftItem, ...]
    draft_problems: tuple[tuple[int, str, Problem], ...]
    record_problems: tuple[Problem, ...]
    missing_optional: tuple[str, ...]
    as_of: dt.date
    notes: tuple[str, ...] = field(default=())


# --- small JSON helpers ----------------------------------------------------------------------


def _check_subject(resource: Mapping[str, object], path: str, patient_id: str) -> None:
    """Refuse a resource whose ``subject`` names a Patient other than the call's (400).

    CDS Hooks 2.0.1 prefetch and draft orders are about the patient in context; a resource that
    names another Patient by a literal reference (``Patient/<id>``, absolute, or versioned) is
    another patient's record, and counting it would put their medicines or conditions on this
    patient's cards. A subject that cannot be compared (a ``urn:uuid:`` or contained reference,
    an identifier, a reference without a type) is read as the patient's: the request's own
    ``context.patientId`` decides, and the message never echoes either id.
    """
    subject = resource.get("subject")
    if not isinstance(subject, Mapping):
        return
    reference = subject.get("reference")
    if not isinstance(reference, str):
        return
    named = _PATIENT_REFERENCE.search(reference)
    if named is not None and named.group(1) != patient_id.rsplit("/", 1)[-1]:
        raise RequestError(
            f"{path}.subject.reference",
            "names another patient than context.patientId: send only this patient's records",
        )


def _obj(value: object, path: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise RequestError(path, "must be a JSON object")
    return value


def _list(value: object, path: str) -> Sequence[object]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise RequestError(path, "must be a JSON array")
    return value


def _bundle_entries(value: object, path: str) -> list[tuple[str, Mapping[str, object]]]:
    """``(path, resource)`` of each entry of a Bundle (entries without a resource: error)."""
    bundle = _obj(value, path)
    if bundle.get("resourceType") != "Bundle":
        raise RequestError(f"{path}.resourceType", "must be 'Bundle'")
    out = []
    for i, entry in enumerate(_list(bundle.get("entry"), f"{path}.entry")):
        epath = f"{path}.entry[{i}]"
        resource = _obj(entry, epath).get("resource")
        out.append((f"{epath}.resource", _obj(resource, f"{epath}.resource")))
    return out


def _text(value: object) -> str | None:
    """``value`` if it is a string (JSON can put anything where a code belongs)."""
    return value if isinstance(value, str) else None


def _codes(concept: object) -> list[str]:
    """SNOMED CT codes of a CodeableConcept (other systems and malformed codings: none)."""
    if not isinstance(concept, Mapping):
        return []
    codings = concept.get("coding")
    if not isinstance(codings, list):
        return []
    return [
        c["code"]
        for c in codings
        if isinstance(c, Mapping)
        and c.get("system") == SNOMED_SYSTEM
        and isinstance(c.get("code"), str)
    ]


def _first_code(concept: object) -> str | None:
    if not isinstance(concept, Mapping):
        return None
    codings = concept.get("coding")
    if not isinstance(codings, list):
        return None
    for c in codings:
        if isinstance(c, Mapping) and isinstance(c.get("code"), str):
            return str(c["code"])
    return None


def _date(value: object) -> dt.date | None:
    """A FHIR date or dateTime's calendar date (full dates only; else None)."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def clean_text(text: str) -> str:
    """``text`` with lone UTF-16 surrogates replaced by U+FFFD (JSON allows them; UTF-8 not).

    A lone surrogate in a name would make the response unencodable; pairs are kept.
    """
    if text.isascii():
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _concept_label(concept: object) -> str | None:
    if not isinstance(concept, Mapping):
        return None
    text = concept.get("text")
    if isinstance(text, str) and text.strip():
        return text.strip()
    codings = concept.get("coding")
    if isinstance(codings, list):
        for c in codings:
            if (
                isinstance(c, Mapping)
                and isinstance(c.get("display"), str)
                and c["display"].strip()
            ):
                return str(c["display"]).strip()
    return None


def medication_label(
    resource: Mapping[str, object], medications: Mapping[str, Mapping[str, object]] | None = None
) -> str:
    """The medication's text or first coding display (for the card; not logged).

    For a ``medicationReference``: the reference's ``display``, else the referenced
    Medication's code text or display (when ``medications`` has it).
    """
    label = _concept_label(resource.get("medicationCodeableConcept"))
    reference = resource.get("medicationReference")
    if label is None and isinstance(reference, Mapping):
        display = reference.get("display")
        if isinstance(display, str) and display.strip():
            label = display.strip()
        elif medications and isinstance(reference.get("reference"), str):
            found = medications.get(str(reference["reference"]))
            label = _concept_label(found.get("code")) if found else None
    return clean_text(label[:200]) if label else "medication"


def collect_medications(*values: object) -> dict[str, Mapping[str, object]]:
    """Medication resources found in ``values`` (resources or Bundles), by reference.

    Each is keyed ``Medication/{id}`` and, for a Bundle entry with a ``fullUrl``, by that
    URL too: the keys a ``medicationReference.reference`` may use.
    """
    out: dict[str, Mapping[str, object]] = {}

    def add(resource: object, full_url: object = None) -> None:
        if not isinstance(resource, Mapping) or resource.get("resourceType") != "Medication":
            return
        rid = resource.get("id")
        if isinstance(rid, str) and rid:
            out.setdefault(f"Medication/{rid}", resource)
        if isinstance(full_url, str) and full_url:
            out.setdefault(full_url, resource)

    for value in values:
        if isinstance(value, Mapping) and value.get("resourceType") == "Bundle":
            entries = value.get("entry")
            for entry in entries if isinstance(entries, list) else ():
                if isinstance(entry, Mapping):
                    add(entry.get("resource"), entry.get("fullUrl"))
        else:
            add(value)
    return out


def medication_references(resources: Sequence[Mapping[str, object]]) -> list[str]:
    """The ``medicationReference.reference`` values of ``resources``.

    Contained references (``#id``) are left out: the resource carries those Medications.
    """
    refs: list[str] = []
    for resource in resources:
        reference = resource.get("medicationReference")
        if isinstance(reference, Mapping):
            ref = reference.get("reference")
            if isinstance(ref, str) and ref and not ref.startswith("#"):
                refs.append(ref)
    return refs


# --- medicines -------------------------------------------------------------------------------


_WORD = re.compile(r"[a-z]+")


def _names_an_opioid(label: str, vocabulary: Vocabulary) -> bool:
    """Whether ``label`` names an opioid ingredient of the vocabulary (True without a name)."""
    if label == "medication":  # no text or display: nothing to go by, fail closed
        return True
    if MedicineClass.OPIOID in classify_medicine(label):
        return True
    for word in _WORD.findall(label.lower()):
        found = vocabulary.find_drug(word)
        if found and any(vocabulary.is_opioid(i) for i in found):
            return True
    return False


_Outcome = tuple[tuple[tuple[str, Prescription], ...], Problem | None]


def _read_uncached(  # noqa: PLR0911 - one outcome a return
    resource: Mapping[str, object],
    catalogue: Catalogue | None,
    vocabulary: Vocabulary,
    medications: Mapping[str, Mapping[str, object]],
) -> _Outcome:
    """Prescriptions (with paths relative to the resource) or the problem, for one request."""
    try:
        rxs = prescriptions_from_medication_request(
            resource,
            catalogue=catalogue,
            vocabulary=vocabulary,
            validator=validate_medication_request,
            medications=medications,
        )
    except UnknownProductError:
        label = medication_label(resource, medications)
        if classify_medicine(label) & _NOT_OPIOID_CLASSES:
            rx = Prescription(product_name=label, dosage_text=_NOT_READ_DOSE)
            return (("", rx),), None
        if _names_an_opioid(label, vocabulary):
            return (), Problem(
                ".medicationCodeableConcept",
                "medicine not recognised (not in the dm+d catalogue or the ingredient "
                "vocabulary); it may be an opioid",
            )
        return (), Problem(
            ".medicationCodeableConcept",
            "medicine not recognised (not in the dm+d opioid catalogue); its name names no "
            "opioid of the ingredient vocabulary, so it was taken as not an opioid",
            maybe_opioid=False,
        )
    except InvalidInputError as exc:
        label = medication_label(resource, medications)
        if exc.field.startswith("medicationCodeableConcept") and not _names_an_opioid(
            label, vocabulary
        ):  # the medicine's code or name was not understood, and no opioid is named
            return (), Problem(f".{exc.field}", exc.rule, maybe_opioid=False)
        return (), Problem(f".{exc.field}", exc.rule)
    except OpioidCDSError:
        return (), Problem("", "could not be read")
    return tuple((f".dosageInstruction[{i}]", rx) for i, rx in enumerate(rxs)), None


def _without_identifiers(
    resource: Mapping[str, object],
) -> tuple[Mapping[str, object], str | None]:
    """``resource`` with its ``id`` and ``subject.reference`` put as fixed placeholders, and its id.

    What is read from a MedicationRequest does not depend on them (the id is only copied into
    each prescription; the subject is only checked to be a non-empty string), so the reads of
    the same medicine and dose for different patients and orders share one cache key. Left
    as they are (and ``None`` returned for the id) where they could change the read: an id the
    checks would refuse, or a ``priorPrescription`` (compared with the id).
    """
    if "priorPrescription" in resource:
        return resource, None
    out = dict(resource)
    rid = out.get("id")
    swapped = None
    if isinstance(rid, str) and _SWAPPABLE_ID.fullmatch(rid):
        out["id"] = _PLACEHOLDER_ID
        swapped = rid
    subject = out.get("subject")
    if isinstance(subject, Mapping):
        reference = subject.get("reference")
        if isinstance(reference, str) and reference:
            out["subject"] = {**subject, "reference": _PLACEHOLDER_SUBJECT}
    return out, swapped


def _with_id(outcome: _Outcome, rid: str | None) -> _Outcome:
    """``outcome`` read with the placeholder id, with ``rid`` as each prescription's id."""
    if rid is None or rid == _PLACEHOLDER_ID:
        return outcome
    read, problem = outcome
    return tuple(
        (rel, rx.model_copy(update={"id": rid}) if rx.id == _PLACEHOLDER_ID else rx)
        for rel, rx in read
    ), problem


def _canonical(value: object) -> str | None:
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):  # not JSON data
        return None


class MedicationReader:
    """Reads MedicationRequests with the FHIR adapter, remembering recent results.

    A prescribing system re-sends the same active medication list on every call for a patient,
    and validating a resource against the R4 model is most of the cost of a request. Results are
    kept per SHA-256 digest of the resource's canonical JSON and of the Medication it
    references (so the cache holds no resource text, and any change is a different key), the
    resource's ``id`` and ``subject.reference`` put as placeholders first, so the same medicine
    and dose for another patient or order is the same key (issue 20), under
    a lock. The cache is bounded by entries (``size``) and by bytes: a resource over 64 KB is
    read but not kept, and the canonical JSON behind the kept results is at most
    ``max_bytes`` (a result holds at most about as much text as its resource: names and dosage
    texts), oldest first out. Results are immutable.
    """

    def __init__(
        self,
        catalogue: Catalogue | None,
        vocabulary: Vocabulary,
        *,
        size: int = 4096,
        max_bytes: int = _MAX_CACHE_BYTES,
    ) -> None:
        """Bind the catalogue and vocabulary the results depend on."""
        self.catalogue: Final = catalogue
        """The product catalogue the reads use."""
        self.vocabulary: Final = vocabulary
        """The ingredient and form vocabulary the reads use."""
        self._size = size
        self._max_bytes = max_bytes
        self._bytes = 0
        self._cache: OrderedDict[bytes, tuple[_Outcome, int]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def cached_bytes(self) -> int:
        """Bytes of canonical JSON behind the results kept now."""
        return self._bytes

    def __len__(self) -> int:
        """Results kept now."""
        return len(self._cache)

    def read(
        self,
        resource: Mapping[str, object],
        path: str,
        medications: Mapping[str, Mapping[str, object]] | None = None,
    ) -> tuple[list[tuple[str, Prescription]], Problem | None]:
        """``(path, prescription)`` per dosage instruction, or the problem (paths absolute).

        ``medications``: Medications by reference, for a ``medicationReference``.
        """
        meds = medications or {}
        keyed, rid = _without_identifiers(resource)
        text = _canonical(keyed)
        referenced = medication_references([resource])
        if text is not None and referenced:
            extra = _canonical([meds.get(r) for r in referenced])
            text = None if extra is None else text + extra
        if text is None or len(text) > _MAX_CACHED_RESOURCE_BYTES:
            outcome = _read_uncached(resource, self.catalogue, self.vocabulary, meds)
        else:
            outcome = _with_id(self._cached(text, keyed, meds), rid)
        read, problem = outcome
        return (
            [(f"{path}{rel}", rx) for rel, rx in read],
            Problem(f"{path}{problem.path}", problem.what, problem.maybe_opioid)
            if problem
            else None,
        )

    def _cached(
        self,
        text: str,
        resource: Mapping[str, object],
        medications: Mapping[str, Mapping[str, object]],
    ) -> _Outcome:
        key = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
                return found[0]
        outcome = _read_uncached(resource, self.catalogue, self.vocabulary, medications)
        cost = len(text)
        with self._lock:
            if key not in self._cache:
                self._cache[key] = (outcome, cost)
                self._bytes += cost
            while self._cache and (len(self._cache) > self._size or self._bytes > self._max_bytes):
                _old, (_outcome, old_cost) = self._cache.popitem(last=False)
                self._bytes -= old_cost
        return outcome


def _drafts(
    context: Mapping[str, object],
    hook: str,
    reader: MedicationReader,
    medications: Mapping[str, Mapping[str, object]],
    patient_id: str,
) -> tuple[list[DraftItem], list[tuple[int, str, Problem]]]:
    if "draftOrders" not in context:
        raise RequestError("context.draftOrders", "is required (a FHIR R4 Bundle)")
    entries = _bundle_entries(context["draftOrders"], "context.draftOrders")
    selected: set[str] | None = None
    if hook == "order-select" and context.get("selections") is not None:
        sel = _list(context.get("selections"), "context.selections")
        if not all(isinstance(s, str) for s in sel):
            raise RequestError("context.selections", "must be an array of strings")
        selected = {str(s) for s in sel}
    if selected is not None:
        named = {f"{r.get('resourceType')}/{r.get('id')}" for _p, r in entries}
        sel_list = list(_list(context.get("selections"), "context.selections"))
        for k, s in enumerate(sel_list):
            if s not in named:
                raise RequestError(
                    f"context.selections[{k}]", "does not name an order in context.draftOrders"
                )
    items: list[DraftItem] = []
    problems: list[tuple[int, str, Problem]] = []
    for i, (path, resource) in enumerate(entries):
        if resource.get("resourceType") != "MedicationRequest":
            continue
        rid = resource.get("id")
        if selected is not None and f"MedicationRequest/{rid}" not in selected:
            continue
        _check_subject(resource, path, patient_id)
        label = medication_label(resource, medications)
        reauth = resource.get("priorPrescription") is not None
        read, problem = reader.read(resource, path, medications)
        if problem is not None:
            problems.append((i, label, problem))
        order_id = rid if isinstance(rid, str) and rid else None
        items.extend(DraftItem(i, p, label, rx, reauth, order_id) for p, rx in read)
    return items, problems


# --- current medicines: MedicationRequests and MedicationStatements -----------------------------


def search_incomplete(bundle: object) -> bool:
    """Whether a search Bundle says it is not the whole result.

    A ``next`` link (CDS Hooks 2.0.1: a client "MAY paginate prefetch results"), a ``total``
    above the number of its ``match`` entries, or an OperationOutcome entry with an error or
    fatal issue (the server's way of saying the search failed in part).
    """
    if not isinstance(bundle, Mapping):
        return False
    links = bundle.get("link")
    if isinstance(links, list) and any(
        isinstance(link, Mapping) and link.get("relation") == "next" for link in links
    ):
        return True
    entries = bundle.get("entry")
    entries = entries if isinstance(entries, list) else []
    matches = 0
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        resource = entry.get("resource")
        search = entry.get("search")
        mode = search.get("mode") if isinstance(search, Mapping) else None
        if isinstance(resource, Mapping) and resource.get("resourceType") == "OperationOutcome":
            if _outcome_is_error(resource):
                return True
            continue
        if mode in (None, "match"):
            matches += 1
    total = bundle.get("total")
    return isinstance(total, int) and not isinstance(total, bool) and total > matches


def _outcome_is_error(resource: Mapping[str, object]) -> bool:
    issues = resource.get("issue")
    return isinstance(issues, list) and any(
        isinstance(i, Mapping) and i.get("severity") in {"error", "fatal"} for i in issues
    )


def is_operation_outcome(value: object) -> bool:
    """Whether a prefetch value is an OperationOutcome (the client could not prefetch it)."""
    return isinstance(value, Mapping) and value.get("resourceType") == "OperationOutcome"


def _statement_as_request(statement: Mapping[str, object]) -> dict[str, object]:
    """A MedicationStatement in the shape of an active MedicationRequest, for the adapter.

    Only the elements the adapter reads are carried: ``medication[x]``, ``subject`` and the
    ``dosage`` (R4 Dosage, the same datatype as ``dosageInstruction``).
    """
    out: dict[str, object] = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "subject": statement.get("subject"),
        "dosageInstruction": statement.get("dosage", []),
    }
    for key in ("id", "medicationCodeableConcept", "medicationReference", "contained"):
        if key in statement:
            out[key] = statement[key]
    return out


@dataclass
class _Current:
    rxs: list[Prescription] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    request_ids: set[str] = field(default_factory=set)


def _current_requests(
    value: object,
    key: str,
    reader: MedicationReader,
    meds: Mapping[str, Mapping[str, object]],
    patient_id: str,
) -> _Current:
    found = _Current()
    for path, resource in _bundle_entries(value, f"prefetch.{key}"):
        kind = resource.get("resourceType")
        if kind not in ("MedicationStatement", "MedicationRequest"):
            continue
        _check_subject(resource, path, patient_id)
        if kind == "MedicationStatement":
            _add_statement(found, resource, path, reader, meds)
            continue
        if resource.get("status") != "active" or resource.get("doNotPerform") is True:
            continue
        if isinstance(resource.get("id"), str):
            found.request_ids.add(f"MedicationRequest/{resource['id']}")
        read, problem = reader.read(resource, path, meds)
        if problem is not None:
            found.problems.append(problem)
        for _p, rx in read:
            found.rxs.append(rx)
            found.labels.append(medication_label(resource, meds))
    if search_incomplete(value):
        found.problems.append(_incomplete_problem(key))
    return found


def _incomplete_problem(key: str) -> Problem:
    return Problem(
        f"prefetch.{key}",
        "the list was not complete (more pages than were read, or the server reported an "
        "error): medicines on the missing part are not counted",
    )


def _add_statement(
    found: _Current,
    statement: Mapping[str, object],
    path: str,
    reader: MedicationReader,
    meds: Mapping[str, Mapping[str, object]],
) -> None:
    """Count one MedicationStatement (active ones, not already counted as a request)."""
    status = statement.get("status")
    if status in _STATEMENT_SKIP:
        return
    if status != "active":
        found.problems.append(
            Problem(f"{path}.status", "status is unknown or not a statement status: not counted")
        )
        return
    based = statement.get("basedOn")
    if isinstance(based, list) and any(
        isinstance(b, Mapping) and b.get("reference") in found.request_ids for b in based
    ):
        return  # the request it is based on is counted already
    as_request = _statement_as_request(statement)
    read, problem = reader.read(as_request, path, meds)
    if problem is not None:
        found.problems.append(
            Problem(
                problem.path.replace(".dosageInstruction", ".dosage"),
                problem.what,
                problem.maybe_opioid,
            )
        )
    listed = {r.without_identity() for r in found.rxs}
    for _p, rx in read:
        plain = rx.without_identity()
        if plain in listed:
            continue  # the same medicine and dose as a listed prescription: counted once
        # without its id: a draft's priorPrescription names a MedicationRequest, and a
        # statement sharing that bare id must not be taken off the totals in its place
        found.rxs.append(plain)
        found.labels.append(f"{medication_label(statement, meds)} (medication statement)")


def _current(
    prefetch: Mapping[str, object | None],
    reader: MedicationReader,
    meds: Mapping[str, Mapping[str, object]],
    incomplete: Collection[str],
    patient_id: str,
) -> tuple[list[Prescription], list[str], list[Problem]]:
    found = _current_requests(prefetch["medications"], "medications", reader, meds, patient_id)
    if "medications" in incomplete and not search_incomplete(prefetch["medications"]):
        found.problems.append(_incomplete_problem("medications"))
    statements = prefetch.get("statements")
    if statements is not None and not is_operation_outcome(statements):
        more = _Current(request_ids=found.request_ids, rxs=list(found.rxs))
        for path, resource in _bundle_entries(statements, "prefetch.statements"):
            if resource.get("resourceType") == "MedicationStatement":
                _check_subject(resource, path, patient_id)
                _add_statement(more, resource, path, reader, meds)
        if search_incomplete(statements) or "statements" in incomplete:
            more.problems.append(_incomplete_problem("statements"))
        found.rxs = more.rxs
        found.labels.extend(more.labels)
        found.problems.extend(more.problems)
    return found.rxs, found.labels, found.problems


# --- risk inputs -----------------------------------------------------------------------------


@dataclass
class _Evidence:
    present: list[dt.date | None] = field(default_factory=list)
    absent: list[dt.date | None] = field(default_factory=list)

    def value(self) -> bool | None:
        if not self.present and not self.absent:
            return None
        if not self.absent:
            return True
        if not self.present:
            return False
        # Both: the latest dated statement wins when every statement is dated; otherwise
        # "present" wins (flagging a risk is the safer error).
        if any(d is None for d in (*self.present, *self.absent)):
            return True
        return max(d for d in self.present if d) >= max(d for d in self.absent if d)


def _condition(
    resource: Mapping[str, object],
    path: str,
    lists: Codelists,
    evidence: dict[str, _Evidence],
    problems: list[Problem],
) -> None:
    codes = _codes(resource.get("code"))
    if not codes:
        if not isinstance(resource.get("code"), Mapping):
            problems.append(Problem(f"{path}.code", "is missing or not a CodeableConcept"))
        return
    verification = _first_code(resource.get("verificationStatus"))
    clinical = _first_code(resource.get("clinicalStatus"))
    when = _date(resource.get("recordedDate")) or _date(resource.get("onsetDateTime"))
    for code in codes:
        found = lists.lookup(code)
        if found is None or verification in _IGNORED_VERIFICATION:
            continue
        lst, entry = found
        refuted = verification == "refuted"
        if not refuted and lst.statuses == "current" and clinical not in (None, *_CURRENT_STATUSES):
            continue
        present = (entry.means == "present") != refuted
        target = evidence.setdefault(lst.input, _Evidence())
        (target.present if present else target.absent).append(when)


def _observation(
    resource: Mapping[str, object],
    lists: Codelists,
    evidence: dict[str, _Evidence],
) -> None:
    if _text(resource.get("status")) not in _OBSERVATION_STATUSES:
        return
    when = _date(resource.get("effectiveDateTime")) or _date(resource.get("issued"))
    for code in (*_codes(resource.get("code")), *_codes(resource.get("valueCodeableConcept"))):
        found = lists.lookup(code)
        if found is None:
            continue
        lst, entry = found
        target = evidence.setdefault(lst.input, _Evidence())
        (target.present if entry.means == "present" else target.absent).append(when)


def _last_emergency(
    value: object, today: dt.date, problems: list[Problem], patient_id: str
) -> dt.date | None:
    last: dt.date | None = None
    for path, resource in _bundle_entries(value, "prefetch.encounters"):
        if resource.get("resourceType") != "Encounter":
            continue
        _check_subject(resource, path, patient_id)
        cls = resource.get("class")
        if not isinstance(cls, Mapping) or cls.get("code") != "EMER":
            continue
        if _text(resource.get("status")) in _ENCOUNTER_SKIP:
            continue
        period = resource.get("period")
        start = _date(period.get("start")) if isinstance(period, Mapping) else None
        if start is None or start > today or start < _EARLIEST:
            problems.append(
                Problem(f"{path}.period.start", "missing, partial, implausible or in the future")
            )
            continue
        last = start if last is None or start > last else last
    return last


def _patient_resource(value: object, today: dt.date, patient_id: str) -> tuple[int | None, Sex]:
    """Age and sex from the prefetched Patient, which must be the patient of the call.

    A Patient whose ``id`` is not ``context.patientId`` (bare, or as ``Patient/<id>``) is
    another patient's record: the request is refused (400), never decided on (CDS Hooks 2.0.1:
    prefetch is about the patient in context).
    """
    resource = _obj(value, "prefetch.patient")
    if resource.get("resourceType") != "Patient":
        raise RequestError("prefetch.patient.resourceType", "must be 'Patient'")
    sent_id = resource.get("id")
    if sent_id is not None and sent_id != patient_id.rsplit("/", 1)[-1]:
        raise RequestError(
            "prefetch.patient.id",
            "is not the patient of context.patientId: send the Patient of this call",
        )
    gender = resource.get("gender")
    sex = Sex.MALE if gender == "male" else Sex.FEMALE if gender == "female" else Sex.UNKNOWN
    born = resource.get("birthDate")
    age: int | None = None
    if isinstance(born, str) and len(born) == 10:
        try:
            b = dt.date.fromisoformat(born)
        except ValueError:
            b = None
        if b is not None and b <= today:
            age = today.year - b.year - ((today.month, today.day) < (b.month, b.day))
            age = age if age <= 125 else None  # implausible: unknown (Patient caps at 125)
    return age, sex


_REPLACES_UNLISTED: Final = (
    "it replaces an order the record does not list as active, so it is checked as a new order"
)
_REPLACES_ANOTHER: Final = (
    "it replaces an active order of another medicine (a switch), so it is checked as a new order"
)

_REPLACES_ALREADY_REPLACED: Final = (
    "an earlier draft order of this request already replaces the order it replaces, so it is "
    "checked as a new order added to that one"
)


def replaced_again(draft: DraftItem) -> DraftItem:
    """``draft`` when an earlier, counted draft of the request replaces the same active order.

    That order is taken off the totals once, by the earlier draft; this one is an addition to
    it (a dose change written as two orders: morphine MR 30 mg and MR 10 mg, both naming the
    MR 30 mg order). Returns the draft without its ``replaces``, checked as a new order and
    saying why, so its "before" counts the earlier draft and not the replaced order again
    (counting it again hid the draft's own increase). Fail closed: the new-item checks run.
    """
    rx = draft.prescription.model_copy(update={"replaces": None})
    return replace(
        draft, prescription=rx, reauthorisation=False, new_because=_REPLACES_ALREADY_REPLACED
    )


def same_medicine(
    a: Prescription, b: Prescription, vocabulary: Vocabulary, catalogue: Catalogue | None
) -> bool:
    """Whether ``a`` and ``b`` are the same medicine: the same ingredients in the same form.

    Strength and dose may differ (a dose change of the same medicine), and so may the brand
    (a dm+d AMP and its VMP). The same dm+d code is the same medicine; otherwise both products
    must be placed by the knowledge (ingredients, form and route,
    :func:`~opioidcds._resolve.prescription.product_part`) and agree: modified-release and
    immediate-release tablets, or a patch and a lozenge of one opioid, are different medicines.
    A product the knowledge cannot place (a benzodiazepine kept by its name) is the same only
    by the same name (ignoring case) and form; otherwise it is not known to be the same, and the
    caller checks a new order.
    """
    if a.dmd_code is not None and a.dmd_code == b.dmd_code:
        return True
    try:
        one = product_part(product_fields(a.__dict__), vocabulary, catalogue)
        two = product_part(product_fields(b.__dict__), vocabulary, catalogue)
    except OpioidCDSError:
        return _same_name(a, b)
    if one.problem is not None or two.problem is not None or one.route is None:
        return _same_name(a, b)
    return set(one.names) == set(two.names) and (one.form, one.route) == (two.form, two.route)


def _same_name(a: Prescription, b: Prescription) -> bool:
    """Whether ``a`` and ``b`` name their product the same way (ignoring case), with a name."""

    def name(rx: Prescription) -> tuple[str | None, ...]:
        return tuple(
            None if x is None else x.casefold()
            for x in (rx.product_name, rx.drug, rx.form, rx.route)
        )

    given = name(a)
    return (given[0] is not None or given[1] is not None) and given == name(b)


def _why_new(
    draft: DraftItem,
    replaced: Prescription | None,
    vocabulary: Vocabulary,
    catalogue: Catalogue | None,
) -> str | None:
    """Why a draft with a ``priorPrescription`` is checked as a new order (``None``: it is not).

    ``replaced`` is the active order it replaces, if the record lists it.
    """
    if not draft.reauthorisation:
        return None
    if replaced is None:
        return _REPLACES_UNLISTED
    if not same_medicine(draft.prescription, replaced, vocabulary, catalogue):
        return _REPLACES_ANOTHER
    return None


def link_replacements(
    current: Sequence[Prescription],
    drafts: Sequence[DraftItem],
    vocabulary: Vocabulary,
    catalogue: Catalogue | None,
) -> tuple[list[Prescription], list[DraftItem]]:
    """Keep the FHIR ids only where a draft supersedes an active order (issue 15, item 5).

    The FHIR adapter gives each prescription its MedicationRequest id and, from
    ``priorPrescription``, the id it ``replaces``. A draft that replaces an active order of the
    prefetch keeps that link, so the check counts the active order before and not after; every
    other id is dropped, so that a draft identical to an active order is still recognised as
    the same prescription (a re-issue). A ``priorPrescription`` naming no active order is
    dropped too: there is nothing in the totals to take off.

    A draft with a ``priorPrescription`` is a re-authorisation only when the order it replaces
    is active and the same medicine (:func:`same_medicine`): a switch to another medicine
    (codeine tablets to a fentanyl patch) is a new item for the checks, and so is a draft
    replacing an order the record does not list as active (a stopped or expired order, whose
    medicine the patient may no longer be taking: fail closed, the new-item checks run).
    """
    by_id = {rx.id: rx for rx in current if rx.id is not None}
    linked = {
        d.prescription.replaces
        for d in drafts
        if d.prescription.replaces is not None and d.prescription.replaces in by_id
    }
    kept = []
    for rx in current:
        keep_id = rx.id if rx.id in linked else None
        if (rx.id, rx.replaces) != (keep_id, None):
            rx = rx.model_copy(update={"id": keep_id, "replaces": None})  # noqa: PLW2901
        kept.append(rx)
    out = []
    for d in drafts:
        rx = d.prescription
        keep = rx.replaces if rx.replaces in linked else None
        replaced = by_id[keep] if keep is not None else None
        new_because = _why_new(d, replaced, vocabulary, catalogue)
        if rx.id is not None or rx.replaces != keep:
            rx = rx.model_copy(update={"id": None, "replaces": keep})
        out.append(
            replace(
                d,
                prescription=rx,
                reauthorisation=d.reauthorisation and new_because is None,
                new_because=new_because,
            )
        )
    return kept, out


def read_record(
    hook: str,
    context: Mapping[str, object],
    prefetch: Mapping[str, object | None] | None,
    *,
    codelists: Codelists,
    reader: MedicationReader,
    today: dt.date,
    medications: Mapping[str, Mapping[str, object]] | None = None,
    incomplete: Collection[str] = (),
    notes: Sequence[str] = (),
) -> Record:
    """Read the request's context and prefetch.

    A prefetch value that is ``null`` or an OperationOutcome (CDS Hooks 2.0.1: the client's
    way of saying it could not prefetch) counts as missing. ``medications`` are Medications the
    service fetched (those in the request are collected here); ``incomplete`` names prefetch
    keys the service could not complete; ``notes`` are kept on the record for the cards.
    ``patient-view`` calls have no draft orders.

    Raises:
        RequestError: the request is malformed (400), with the path.
        LookupError: required prefetch is missing (412); ``args[0]`` lists the keys.
    """
    pre = {k: (None if is_operation_outcome(v) else v) for k, v in (prefetch or {}).items()}
    missing = [k for k in REQUIRED_PREFETCH if pre.get(k) is None]
    patient_id = context.get("patientId")
    if not isinstance(patient_id, str) or not patient_id:
        raise RequestError("context.patientId", "is required (a string)")
    meds = {
        **collect_medications(context.get("draftOrders"), *pre.values()),
        **(medications or {}),
    }
    drafts, draft_problems = (
        ([], []) if hook == "patient-view" else _drafts(context, hook, reader, meds, patient_id)
    )
    if missing:
        raise LookupError(tuple(missing))
    age, sex = _patient_resource(pre["patient"], today, patient_id)
    current, labels, problems = _current(pre, reader, meds, incomplete, patient_id)
    evidence: dict[str, _Evidence] = {}
    if pre.get("conditions") is not None:
        for path, resource in _bundle_entries(pre["conditions"], "prefetch.conditions"):
            if resource.get("resourceType") == "Condition":
                _check_subject(resource, path, patient_id)
                _condition(resource, path, codelists, evidence, problems)
    if pre.get("observations") is not None:
        for path, resource in _bundle_entries(pre["observations"], "prefetch.observations"):
            if resource.get("resourceType") == "Observation":
                _check_subject(resource, path, patient_id)
                _observation(resource, codelists, evidence)
    last_ae = (
        _last_emergency(pre["encounters"], today, problems, patient_id)
        if pre.get("encounters") is not None
        else None
    )
    current, drafts = link_replacements(current, drafts, reader.vocabulary, reader.catalogue)
    optional = ("conditions", "observations", "encounters")
    for key in optional:
        if pre.get(key) is not None and (search_incomplete(pre[key]) or key in incomplete):
            problems.append(_incomplete_problem(key))
    return Record(
        age=age,
        sex=sex,
        risk={
            lst.input: evidence[lst.input].value() if lst.input in evidence else None
            for lst in codelists.lists.values()
        },
        last_ae_attendance=last_ae,
        current=tuple(current),
        current_labels=tuple(labels),
        drafts=tuple(drafts),
        draft_problems=tuple(draft_problems),
        record_problems=tuple(problems),
        missing_optional=tuple(k for k in (*optional, "statements") if pre.get(k) is None),
        as_of=today,
        notes=tuple(notes),
    )
