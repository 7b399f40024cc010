"""Read a CDS Hooks request's FHIR R4 data into a :class:`~opioidcds.Patient`.

- ``context.draftOrders``: a Bundle; each MedicationRequest entry is read by the FHIR adapter
  (:func:`~.fhir.prescriptions_from_medication_request`), one prescription per dosage
  instruction. Entries of other resource types (ServiceRequest, ...) are not medicines and are
  passed over. ``priorPrescription`` present means a re-authorisation; when it names an active
  order of the prefetch, the draft supersedes that order (:func:`link_replacements`).
- prefetch ``patient``: sex from ``gender`` (male/female, otherwise unknown) and age in whole
  years from a full ``birthDate`` (a partial date leaves age unknown).
- prefetch ``medications``: a Bundle of the patient's MedicationRequests; those with status
  ``active`` (and ``doNotPerform`` not true) are the current prescriptions (drafts come from
  ``context.draftOrders`` only, so nothing is counted twice).
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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Final

from opioidcds._errors import InvalidInputError, OpioidCDSError, UnknownProductError
from opioidcds._inputs.patient import Sex
from opioidcds._inputs.prescription import Prescription
from opioidcds._knowledge.products import Catalogue, MedicineClass, classify_medicine
from opioidcds._knowledge.vocabulary import Vocabulary
from opioidcds._resolve.fhir import SNOMED_SYSTEM, prescriptions_from_medication_request
from opioidcds.cdshooks.codelists import Codelists
from opioidcds.cdshooks.r4 import validate_medication_request

__all__ = [
    "REQUIRED_PREFETCH",
    "DraftItem",
    "MedicationReader",
    "Problem",
    "Record",
    "RequestError",
    "read_record",
]

REQUIRED_PREFETCH: Final = ("patient", "medications")
"""Prefetch keys without which the service cannot answer (412): it does not query FHIR."""

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


def medication_label(resource: Mapping[str, object]) -> str:
    """The medication's text or first coding display (for the card; not logged)."""
    concept = resource.get("medicationCodeableConcept")
    if isinstance(concept, Mapping):
        text = concept.get("text")
        if isinstance(text, str) and text.strip():
            return text.strip()[:200]
        codings = concept.get("coding")
        if isinstance(codings, list):
            for c in codings:
                if isinstance(c, Mapping) and isinstance(c.get("display"), str):
                    return str(c["display"]).strip()[:200] or "medication"
    return "medication"


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


def _read_uncached(
    resource: Mapping[str, object], catalogue: Catalogue | None, vocabulary: Vocabulary
) -> _Outcome:
    """Prescriptions (with paths relative to the resource) or the problem, for one request."""
    try:
        rxs = prescriptions_from_medication_request(
            resource,
            catalogue=catalogue,
            vocabulary=vocabulary,
            validator=validate_medication_request,
        )
    except UnknownProductError:
        label = medication_label(resource)
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
        return (), Problem(f".{exc.field}", exc.rule)
    except OpioidCDSError:
        return (), Problem("", "could not be read")
    return tuple((f".dosageInstruction[{i}]", rx) for i, rx in enumerate(rxs)), None


class MedicationReader:
    """Reads MedicationRequests with the FHIR adapter, remembering recent results.

    A prescribing system re-sends the same active medication list on every call for a patient,
    and validating a resource against the R4 model is most of the cost of a request. Results are
    kept per SHA-256 digest of the resource's canonical JSON (so the cache holds no resource
    text, and any change to a resource is a different key), at most ``size`` of them, under a
    lock. Results are immutable.
    """

    def __init__(
        self, catalogue: Catalogue | None, vocabulary: Vocabulary, *, size: int = 4096
    ) -> None:
        """Bind the catalogue and vocabulary the results depend on."""
        self._catalogue = catalogue
        self._vocabulary = vocabulary
        self._size = size
        self._cache: OrderedDict[bytes, _Outcome] = OrderedDict()
        self._lock = threading.Lock()

    def read(
        self, resource: Mapping[str, object], path: str
    ) -> tuple[list[tuple[str, Prescription]], Problem | None]:
        """``(path, prescription)`` per dosage instruction, or the problem (paths absolute)."""
        try:
            text = json.dumps(resource, sort_keys=True, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError):  # not JSON data: read it without the cache
            outcome = _read_uncached(resource, self._catalogue, self._vocabulary)
        else:
            key = hashlib.sha256(text.encode()).digest()
            with self._lock:
                found = self._cache.get(key)
                if found is not None:
                    self._cache.move_to_end(key)
            if found is None:
                found = _read_uncached(resource, self._catalogue, self._vocabulary)
                with self._lock:
                    self._cache[key] = found
                    if len(self._cache) > self._size:
                        self._cache.popitem(last=False)
            outcome = found
        read, problem = outcome
        return (
            [(f"{path}{rel}", rx) for rel, rx in read],
            Problem(f"{path}{problem.path}", problem.what, problem.maybe_opioid)
            if problem
            else None,
        )


def _drafts(
    context: Mapping[str, object],
    hook: str,
    reader: MedicationReader,
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
        label = medication_label(resource)
        reauth = resource.get("priorPrescription") is not None
        read, problem = reader.read(resource, path)
        if problem is not None:
            problems.append((i, label, problem))
        items.extend(DraftItem(i, p, label, rx, reauth) for p, rx in read)
    return items, problems


def _current(
    prefetch: Mapping[str, object], reader: MedicationReader
) -> tuple[list[Prescription], list[str], list[Problem]]:
    rxs: list[Prescription] = []
    labels: list[str] = []
    problems: list[Problem] = []
    for path, resource in _bundle_entries(prefetch["medications"], "prefetch.medications"):
        if resource.get("resourceType") != "MedicationRequest":
            continue
        if resource.get("status") != "active" or resource.get("doNotPerform") is True:
            continue
        read, problem = reader.read(resource, path)
        if problem is not None:
            problems.append(problem)
        for _p, rx in read:
            rxs.append(rx)
            labels.append(medication_label(resource))
    return rxs, labels, problems


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


def _last_emergency(value: object, today: dt.date, problems: list[Problem]) -> dt.date | None:
    last: dt.date | None = None
    for path, resource in _bundle_entries(value, "prefetch.encounters"):
        if resource.get("resourceType") != "Encounter":
            continue
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


def _patient_resource(value: object, today: dt.date) -> tuple[int | None, Sex]:
    resource = _obj(value, "prefetch.patient")
    if resource.get("resourceType") != "Patient":
        raise RequestError("prefetch.patient.resourceType", "must be 'Patient'")
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


def link_replacements(
    current: Sequence[Prescription], drafts: Sequence[DraftItem]
) -> tuple[list[Prescription], list[DraftItem]]:
    """Keep the FHIR ids only where a draft supersedes an active order (issue 15, item 5).

    The FHIR adapter gives each prescription its MedicationRequest id and, from
    ``priorPrescription``, the id it ``replaces``. A draft that replaces an active order of the
    prefetch keeps that link, so the check counts the active order before and not after; every
    other id is dropped, so that a draft identical to an active order is still recognised as
    the same prescription (a re-issue). A ``priorPrescription`` naming no active order is
    dropped too: there is nothing in the totals to take off.
    """
    linked = {
        d.prescription.replaces
        for d in drafts
        if d.prescription.replaces is not None
        and any(rx.id == d.prescription.replaces for rx in current)
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
        if rx.id is not None or rx.replaces != keep:
            rx = rx.model_copy(update={"id": None, "replaces": keep})
        out.append(replace(d, prescription=rx))
    return kept, out


def read_record(
    hook: str,
    context: Mapping[str, object],
    prefetch: Mapping[str, object | None] | None,
    *,
    codelists: Codelists,
    reader: MedicationReader,
    today: dt.date,
) -> Record:
    """Read the request's context and prefetch.

    Raises:
        RequestError: the request is malformed (400), with the path.
        LookupError: required prefetch is missing (412); ``args[0]`` lists the keys.
    """
    pre = dict(prefetch or {})
    missing = [k for k in REQUIRED_PREFETCH if pre.get(k) is None]
    patient_id = context.get("patientId")
    if not isinstance(patient_id, str) or not patient_id:
        raise RequestError("context.patientId", "is required (a string)")
    drafts, draft_problems = _drafts(context, hook, reader)
    if missing:
        raise LookupError(tuple(missing))
    age, sex = _patient_resource(pre["patient"], today)
    current, labels, problems = _current(pre, reader)
    evidence: dict[str, _Evidence] = {}
    if pre.get("conditions") is not None:
        for path, resource in _bundle_entries(pre["conditions"], "prefetch.conditions"):
            if resource.get("resourceType") == "Condition":
                _condition(resource, path, codelists, evidence, problems)
    if pre.get("observations") is not None:
        for _path, resource in _bundle_entries(pre["observations"], "prefetch.observations"):
            if resource.get("resourceType") == "Observation":
                _observation(resource, codelists, evidence)
    last_ae = (
        _last_emergency(pre["encounters"], today, problems)
        if pre.get("encounters") is not None
        else None
    )
    current, drafts = link_replacements(current, drafts)
    optional = ("conditions", "observations", "encounters")
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
        missing_optional=tuple(k for k in optional if pre.get(k) is None),
        as_of=today,
    )
