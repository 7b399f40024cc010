"""FHIR R4 adapter: MedicationRequest resources and Bundles in, :class:`Prescription` out.

Reads HL7 FHIR R4 MedicationRequest resources (https://hl7.org/fhir/R4/medicationrequest.html)
as prescribing systems send them (UK Core style: a dm+d product as a SNOMED CT coding of
``medicationCodeableConcept``; US style: RxNorm codings) and turns each dosage instruction
(https://hl7.org/fhir/R4/dosage.html, timing: https://hl7.org/fhir/R4/datatypes.html#Timing)
into one :class:`~opioidcds.Prescription` for :func:`~opioidcds.calculate_ome`.

``fhir.resources`` (the optional ``fhir`` extra) is used only here, imported on first use, to
validate each MedicationRequest against its **R4B** model (R4B left MedicationRequest and
Dosage as in R4; the package's default R5 classes reject R4 resources). The fields are then read
from the JSON itself with the rules below; ``docs/fhir.md`` has the full mapping table.

- Medication: a dm+d code (system ``http://snomed.info/sct`` or ``https://dmd.nhs.uk``) found in
  the product catalogue gives ``dmd_code``. A dm+d code the catalogue does not know is an
  :class:`~opioidcds.UnknownProductError`, never replaced by its display text unless the
  caller opts in with ``match_display_name=True`` (then the display, or the concept's text, must
  be the exact name of a catalogue product). RxNorm codings are read from the RxNorm normalised
  name in ``display`` (clinical/branded drug: ingredient, strength, dose form) or, for
  ingredient-level codes without a usable display, from the ten opioid ingredient codes of the
  CDC MME CodeSystem supplement. Codings of other systems are alternative codes for the same
  concept (FHIR CodeableConcept) and are not read; when no coding is understood the request is
  refused.
- Dose: ``doseAndRate.doseQuantity`` or ``doseRange`` (low and high); timing from
  ``timing.repeat`` (frequency, frequencyMax, period, periodMax, periodUnit, timeOfDay, when) or
  an HL7 ``GTSAbbreviation`` timing code; ``asNeededBoolean``/``asNeededCodeableConcept`` ->
  ``prn``; ``maxDosePerPeriod`` -> ``max_quantity_per_day``. Structured dose wins over
  ``Dosage.text`` (the text is then not passed on); a dosage with only text is passed on as
  ``dosage_text`` with no structured dose field, for the dosage grammar to read.
- Several dosage instructions without distinct ``sequence`` values are concurrent (e.g. a regular
  and a PRN instruction): one Prescription each (:func:`prescriptions_from_medication_request`).
  Sequential instructions (distinct ``sequence``) are refused.

Every problem is an :class:`~opioidcds.InvalidInputError` (or ``UnknownProductError``)
whose ``field`` is a FHIR path (``dosageInstruction[0].timing.repeat.periodUnit``); messages never
contain a value from the resource.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, Inexact, InvalidOperation, localcontext
from types import MappingProxyType
from typing import Literal, NamedTuple

from opioidcds._errors import InvalidInputError, OpioidCDSError, UnknownProductError
from opioidcds._inputs.prescription import Prescription
from opioidcds._knowledge.dose_units import default_dose_units
from opioidcds._knowledge.products import Catalogue, load_catalogue, names_an_opioid
from opioidcds._knowledge.rxnorm import default_rxnorm_products
from opioidcds._knowledge.units import COUNT_NOUNS, StrengthKind, canonical_factor, unit_dimension
from opioidcds._knowledge.vocabulary import Form, Vocabulary, default_vocabulary
from opioidcds._resolve.dosage import Dosage, parse_dosage
from opioidcds._resolve.dose import default_unit, same_solid_dose
from opioidcds._resolve.prescription import resolve_prescription
from opioidcds._resolve.record import BundleRead, SkippedEntry, not_read_reason

__all__ = [
    "COUNTED_STATEMENT_STATUSES",
    "COUNTED_STATUSES",
    "DMD_SYSTEMS",
    "R4_STATUSES",
    "RXNORM_SYSTEM",
    "SNOMED_SYSTEM",
    "STATEMENT_STATUSES",
    "BundleRead",
    "RxNormProduct",
    "SkippedEntry",
    "from_bundle",
    "from_medication_request",
    "parse_rxnorm_name",
    "prescriptions_from_medication_request",
    "prescriptions_from_medication_statement",
    "read_bundle",
]

SNOMED_SYSTEM = "http://snomed.info/sct"
"""SNOMED CT: UK Core codes dm+d products (VMP/AMP) in this system."""
DMD_SYSTEMS = frozenset({SNOMED_SYSTEM, "https://dmd.nhs.uk", "http://dmd.nhs.uk"})
"""Coding systems whose codes are looked up in the dm+d product catalogue."""
RXNORM_SYSTEM = "http://www.nlm.nih.gov/research/umls/rxnorm"
"""RxNorm (US National Library of Medicine), as in the CDC MME calculator tests."""
UCUM_SYSTEM = "http://unitsofmeasure.org"
GTS_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation"

R4_STATUSES = frozenset(
    {
        "active",
        "on-hold",
        "cancelled",
        "completed",
        "entered-in-error",
        "stopped",
        "draft",
        "unknown",
    }
)
"""MedicationRequest.status codes of FHIR R4 (value set medicationrequest-status)."""

COUNTED_STATUSES = frozenset({"active", "draft"})
"""Statuses :func:`read_bundle` turns into prescriptions by default.

``active``: a current prescription. ``draft``: the prescription being written (the CDS Hooks
``order-select``/``order-sign`` context), which must count for a "this takes the patient above
N mg OME" alert. Everything else (on-hold, completed, stopped, cancelled, entered-in-error,
unknown) is skipped and listed in :attr:`BundleRead.skipped` with its reason.
"""

STATEMENT_STATUSES = frozenset(
    {
        "active",
        "completed",
        "entered-in-error",
        "intended",
        "stopped",
        "on-hold",
        "unknown",
        "not-taken",
    }
)
"""MedicationStatement.status codes of FHIR R4 (value set medication-statement-status)."""

COUNTED_STATEMENT_STATUSES = frozenset({"active"})
"""MedicationStatement statuses :func:`read_bundle` turns into prescriptions by default.

``active``: "the medication is still being taken" (FHIR R4 medication-statement-status).
"""

# What each status means for a total of what the patient takes now (FHIR R4 value sets
# medicationrequest-status, https://hl7.org/fhir/R4/valueset-medicationrequest-status.html, and
# medication-statement-status, https://hl7.org/fhir/R4/valueset-medication-statement-status.html).
# A status whose meaning leaves open whether the medicine is taken now ("unknown") makes a total
# over the rest a lower bound; the others say it is not taken now.
_STATUS_MEANING: Mapping[str, str] = {
    "on-hold": "on hold: not taken now",
    "cancelled": "cancelled: not taken",
    "completed": "completed: no longer taken",
    "entered-in-error": "entered in error",
    "stopped": "stopped: no longer taken",
    "draft": "a draft",
    "active": "current",
    "intended": "intended: to be taken later, not now",
    "not-taken": "not taken",
    "unknown": "status unknown: the medicine may be taken now",
}
_MAY_BE_CURRENT = frozenset({"unknown"})


# --- vocabularies of this adapter (data, each with its source) ------------------------------

# RxNorm ingredient (TTY=IN) codes of the CDC MME CodeSystem supplement
# (shared/reference/factor_sources/cqf_codesystem-CDCMMEClinicalConversionFactors_v3.0.0.json,
# cqframework opioid-mme-r4): code -> display. The display is resolved through the ingredient
# vocabulary. tests/fhir/test_fhir_vocabulary.py checks this table against a copy of that file.
RXNORM_INGREDIENTS: Mapping[str, str] = {
    "2670": "Codeine",
    "4337": "Fentanyl",
    "5489": "Hydrocodone",
    "3423": "Hydromorphone",
    "6813": "Methadone",
    "7052": "Morphine",
    "7804": "Oxycodone",
    "7814": "Oxymorphone",
    "787390": "Tapentadol",
    "10689": "Tramadol",
}

# RxNorm dose forms (TTY=DF; NLM RxNorm Technical Documentation, "RxNorm Dose Forms",
# https://www.nlm.nih.gov/research/umls/rxnorm/docs/appendix2.html) -> a form name of
# conversion_tables/forms.toml. Only forms whose meaning for OME is unambiguous are listed.
RXNORM_DOSE_FORMS: Mapping[str, str] = {
    "oral tablet": "tablet",
    "oral capsule": "capsule",
    "extended release oral tablet": "modified-release tablet",
    "extended release oral capsule": "modified-release capsule",
    "disintegrating oral tablet": "orodispersible tablet",
    "chewable tablet": "chewable tablet",
    "oral solution": "oral solution",
    "oral suspension": "oral suspension",
    "transdermal system": "transdermal patch",
    "sublingual tablet": "sublingual tablet",
    "buccal tablet": "buccal tablet",
    "buccal film": "buccal film",
    "nasal spray": "nasal spray",
    "rectal suppository": "suppository",
}

# RxNorm strength units (normalised form, upper case) -> opioidcds._knowledge.units spellings.
_RXNORM_UNITS: Mapping[str, str] = {
    "MG": "mg",
    "MCG": "microgram",
    "MG/ML": "mg/mL",
    "MG/HR": "mg/hour",
    "MCG/HR": "microgram/hour",
    "MG/ACTUAT": "mg/dose",
    "MCG/ACTUAT": "microgram/dose",
}

# Quantity codes (UCUM, HL7 v3 orderableDrugForm, dm+d units of measure as SNOMED CT) are
# mapped to dose units by the cited table conversion_tables/dose_units.toml
# (opioidcds._knowledge.dose_units), not here.

# Period units (UCUM codes of FHIR UnitsOfTime, and the words people write) -> hours.
# Calendar months and years (mo, a) are refused: their length varies. Seconds and minutes are
# refused too: no opioid dose is repeated on that scale outside infusions (rates are not read).
_HOURS: Mapping[str, Decimal] = {
    "h": Decimal(1),
    "d": Decimal(24),
    "wk": Decimal(168),
}
_TIME_WORDS: Mapping[str, str] = {
    "h": "h",
    "hr": "h",
    "hour": "h",
    "hours": "h",
    "d": "d",
    "day": "d",
    "days": "d",
    "wk": "wk",
    "week": "wk",
    "weeks": "wk",
}

# HL7 v3 GTSAbbreviation timing codes (https://terminology.hl7.org/CodeSystem-v3-GTSAbbreviation
# .html) with a fixed daily count or interval: code -> ("per_day" | "every_hours", number).
_GTS_CODES: Mapping[str, tuple[str, int]] = {
    "QD": ("per_day", 1),
    "AM": ("per_day", 1),
    "PM": ("per_day", 1),
    "BID": ("per_day", 2),
    "TID": ("per_day", 3),
    "QID": ("per_day", 4),
    "QOD": ("every_hours", 48),
    "Q4H": ("every_hours", 4),
    "Q6H": ("every_hours", 6),
    "Q8H": ("every_hours", 8),
    "Q12H": ("every_hours", 12),
}

# Timing.repeat.when codes (https://hl7.org/fhir/R4/valueset-event-timing.html) that happen
# once a day. C, AC, PC (any meal) are left out: their count per day is not fixed.
_ONCE_A_DAY_EVENTS = frozenset(
    {
        "MORN",
        "MORN.early",
        "MORN.late",
        "NOON",
        "AFT",
        "AFT.early",
        "AFT.late",
        "EVE",
        "EVE.early",
        "EVE.late",
        "NIGHT",
        "PHS",
        "HS",
        "WAKE",
        "CM",
        "CD",
        "CV",
        "ACM",
        "ACD",
        "ACV",
        "PCM",
        "PCD",
        "PCV",
    }
)

# SNOMED CT route of administration codes (dm+d route / UK Core) -> routes of forms.toml.
_SNOMED_ROUTES: Mapping[str, str] = {
    "26643006": "oral",  # Oral route
    "45890007": "transdermal",  # Transdermal route
    "37161004": "rectal",  # Rectal route
    "54471007": "buccal",  # Buccal route
    "37839007": "sublingual",  # Sublingual route
    "46713006": "nasal",  # Nasal route
    "78421000": "injection",  # Intramuscular route
    "34206005": "injection",  # Subcutaneous route
    "47625008": "injection",  # Intravenous route
}

_NUMERAL = re.compile(r"^\s*(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?\s*$")
_MAX_DECIMAL = Decimal(10) ** 9  # beyond any dose or count; keeps exponent arithmetic sane


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RxNormProduct:
    """An RxNorm clinical or branded drug name read into opioidcds terms.

    ``drug`` is the canonical ingredient (``"oxycodone"``) or ingredients joined by ``/``;
    ``strength`` is in :func:`~.units.parse_strength` syntax; ``form`` is a form name
    of ``conversion_tables/forms.toml``.
    """

    drug: str
    strength: str
    form: str


# --- public API ------------------------------------------------------------------------------


def from_medication_request(
    resource: Mapping[str, object],
    *,
    catalogue: Catalogue | None = None,
    vocabulary: Vocabulary | None = None,
    match_display_name: bool = False,
    medications: Mapping[str, Mapping[str, object]] | None = None,
) -> Prescription:
    """Read one FHIR R4 MedicationRequest with exactly one dosage instruction.

    See the module docstring and ``docs/fhir.md`` for the mapping. The status is not checked
    here (the caller chose this resource); :func:`read_bundle` filters by status.

    Args:
        resource: the MedicationRequest as parsed JSON.
        catalogue: the dm+d product catalogue (default: the bundled one).
        vocabulary: the ingredient/form vocabulary (default: the bundled one).
        match_display_name: opt in to reading a dm+d coding whose code is not in the
            catalogue by its ``display`` (or the concept's ``text``) as an exact catalogue
            product name. Off by default: an unknown code is an error, never a guess.
        medications: Medications a ``medicationReference`` may name, keyed by the reference
            string as written (``"Medication/abc"``, ``"urn:uuid:..."``, a full URL); values
            are the Medication resources' JSON. A contained Medication (``"#id"``) needs none.

    Raises:
        InvalidInputError: not a MedicationRequest, invalid FHIR R4, a part missing or not
            understood, a ``medicationReference`` that cannot be resolved (field
            ``medicationReference.reference``), or several dosage instructions (use
            :func:`prescriptions_from_medication_request`). ``field`` is the FHIR path.
        UnknownProductError: the medication's code is not in the catalogue, or an RxNorm
            name names an ingredient outside the vocabulary.
    """
    found = prescriptions_from_medication_request(
        resource,
        catalogue=catalogue,
        vocabulary=vocabulary,
        match_display_name=match_display_name,
        medications=medications,
    )
    if len(found) != 1:
        raise InvalidInputError(
            "dosageInstruction",
            "has several instructions: use prescriptions_from_medication_request",
        )
    return found[0]


def prescriptions_from_medication_request(
    resource: Mapping[str, object],
    *,
    catalogue: Catalogue | None = None,
    vocabulary: Vocabulary | None = None,
    match_display_name: bool = False,
    validator: Callable[[Mapping[str, object]], None] | None = None,
    medications: Mapping[str, Mapping[str, object]] | None = None,
) -> list[Prescription]:
    """Read a FHIR R4 MedicationRequest: one Prescription per dosage instruction.

    Instructions without distinct ``Dosage.sequence`` values apply together (FHIR R4 Dosage:
    "the same sequence number ... concurrently"), e.g. a regular dose and a PRN dose; each
    becomes its own Prescription and their OME adds up. Arguments and errors as for
    :func:`from_medication_request`; ``validator``, if given, replaces the fhir.resources R4B
    validation and must raise :class:`~opioidcds.InvalidInputError` (with the FHIR path)
    for a resource it refuses (the CDS Hooks service passes its own lean validator); a
    referenced Medication is then read with typed checks only, not the R4B model.
    ``medications`` as for :func:`from_medication_request`.
    """
    return [
        rx
        for _path, rx, _note in _read_request(
            resource,
            catalogue,
            vocabulary,
            match_display_name=match_display_name,
            validator=validator,
            lookup=_lookup(medications),
        )
    ]


def read_bundle(
    bundle_or_list: object,
    *,
    statuses: Collection[str] = COUNTED_STATUSES,
    catalogue: Catalogue | None = None,
    vocabulary: Vocabulary | None = None,
    match_display_name: bool = False,
    unknown_products: Literal["error", "skip"] = "skip",
    medications: Mapping[str, Mapping[str, object]] | None = None,
    statement_statuses: Collection[str] = COUNTED_STATEMENT_STATUSES,
    invalid_entries: Literal["error", "skip"] = "skip",
) -> BundleRead:
    """Read a FHIR Bundle, a JSON list of resources, or one MedicationRequest.

    Bundles of type searchset, collection, transaction or batch are read (their entries'
    ``resource``). MedicationRequests and MedicationStatements are read; every other entry,
    and every request or statement that gives no prescription, is listed in ``skipped`` with
    its reason:

    - a status not counted (``statuses``, default :data:`COUNTED_STATUSES`, for requests;
      ``statement_statuses``, default :data:`COUNTED_STATEMENT_STATUSES`, for statements),
      with what the status means; status ``unknown`` may be current and is marked
      ``affects_total``;
    - ``doNotPerform`` true, intent ``option`` (an alternative in a RequestGroup);
    - with ``unknown_products="skip"`` (default), a medication the catalogue and vocabulary do
      not know, marked ``affects_total`` unless its name names a medicine and no opioid;
    - with ``invalid_entries="skip"`` (default), a request or statement that cannot be read (a
      part missing, contradictory or not understood; a reference not resolved), with the FHIR
      path and rule, marked as above. One unreadable entry never refuses the others.

    A MedicationStatement is read like a request (its ``dosage`` as ``dosageInstruction``); one
    without a dosage gives a prescription whose dose is not known (``dose_unknown``), so the
    medicine is listed and a total is a lower bound.

    Args:
        bundle_or_list: parsed JSON.
        statuses: the MedicationRequest statuses to count (R4 codes).
        catalogue: see :func:`from_medication_request`.
        vocabulary: see :func:`from_medication_request`.
        match_display_name: see :func:`from_medication_request`.
        unknown_products: ``"skip"`` (default) lists an unknown medication; ``"error"``
            raises :class:`~opioidcds.UnknownProductError` instead.
        medications: Medications a ``medicationReference`` may name besides those contained
            in the resource or included in the Bundle (by ``fullUrl`` or ``Medication/<id>``);
            keys and values as for :func:`from_medication_request`.
        statement_statuses: the MedicationStatement statuses to count (R4 codes).
        invalid_entries: ``"skip"`` (default) lists an entry that cannot be read; ``"error"``
            raises its :class:`~opioidcds.InvalidInputError` instead.

    Raises:
        InvalidInputError: the input is not a Bundle/list/MedicationRequest, an argument is
            invalid, or (``invalid_entries="error"``) an entry cannot be read; ``field`` is
            the path of the entry (``entry[2].resource.status``).
        UnknownProductError: with ``unknown_products="error"``, as above.
    """
    _check_statuses(statuses, R4_STATUSES, "statuses")
    _check_statuses(statement_statuses, STATEMENT_STATUSES, "statement_statuses")
    if unknown_products not in {"error", "skip"}:
        raise InvalidInputError("unknown_products", "must be 'error' or 'skip'")
    if invalid_entries not in {"error", "skip"}:
        raise InvalidInputError("invalid_entries", "must be 'error' or 'skip'")
    items = _bundle_items(bundle_or_list)
    lookup = _lookup(medications, *_bundle_medications(items))
    counted = {"MedicationRequest": statuses, "MedicationStatement": statement_statuses}
    vocab = vocabulary if vocabulary is not None else default_vocabulary()
    rxs: list[Prescription] = []
    sources: list[str] = []
    notes: list[str] = []
    skipped: list[SkippedEntry] = []
    for prefix, item, _full_url in items:
        try:
            skip = _skip_reason(prefix, item, counted)
            if skip is not None or item is None:
                skipped.append(skip or SkippedEntry(prefix, None, None, "entry has no resource"))
                continue
            pairs = _read_resource(
                item,
                catalogue,
                vocab,
                match_display_name=match_display_name,
                lookup=lookup,
            )
        except InvalidInputError as exc:
            if invalid_entries == "error":
                raise InvalidInputError(_join(prefix, exc.field), exc.rule) from None
            reason = not_read_reason(_join(prefix, exc.field), exc.rule)
            skipped.append(_unread(prefix, item, reason, vocab))
            continue
        except UnknownProductError as exc:
            if unknown_products == "error":
                raise UnknownProductError(_join(prefix, str(exc))) from None
            reason = "medication not understood (not in the catalogue or vocabulary)"
            skipped.append(_unread(prefix, item, reason, vocab))
            continue
        for path, rx, note in pairs:
            rxs.append(rx)
            sources.append(_join(prefix, path))
            notes.append(note)
    return BundleRead(tuple(rxs), tuple(sources), tuple(skipped), tuple(notes))


def _check_statuses(given: Collection[str], allowed: Collection[str], name: str) -> None:
    if isinstance(given, str) or any(s not in allowed for s in given):
        raise InvalidInputError(name, "must be a collection of FHIR R4 status codes")


def _unread(
    prefix: str, item: Mapping[str, object] | None, reason: str, vocab: Vocabulary
) -> SkippedEntry:
    """A request or statement that could not be read: listed, and flagged if it may count."""
    rtype = item.get("resourceType") if item is not None else None
    status = item.get("status") if item is not None else None
    label = _medication_label(item) if item is not None else None
    maybe_opioid = label is None or names_an_opioid(label, vocab)
    return SkippedEntry(
        prefix,
        rtype if isinstance(rtype, str) else None,
        status if isinstance(status, str) else None,
        reason,
        affects_total=maybe_opioid,
        medication=label,
    )


def _medication_label(resource: Mapping[str, object]) -> str | None:
    """The medicine's name as the resource gives it: concept text or first coding display."""
    concept = resource.get("medicationCodeableConcept")
    if not isinstance(concept, Mapping):
        reference = resource.get("medicationReference")
        concept = None
        if isinstance(reference, Mapping):
            display = reference.get("display")
            if isinstance(display, str) and display.strip():
                return display.strip()[:_LABEL_MAX]
    if isinstance(concept, Mapping):
        text = concept.get("text")
        if isinstance(text, str) and text.strip():
            return text.strip()[:_LABEL_MAX]
        codings = concept.get("coding")
        if isinstance(codings, list):
            for coding in codings:
                display = coding.get("display") if isinstance(coding, Mapping) else None
                if isinstance(display, str) and display.strip():
                    return display.strip()[:_LABEL_MAX]
    return None


_LABEL_MAX = 200


def _skip_reason(
    prefix: str,
    item: Mapping[str, object] | None,
    counted: Mapping[str, Collection[str]],
) -> SkippedEntry | None:
    """Why an entry gives no prescription (None: read it). Raises for an invalid status."""
    if item is None:
        return SkippedEntry(prefix, None, None, "entry has no resource")
    rtype = item.get("resourceType")
    if not isinstance(rtype, str):
        raise InvalidInputError("resourceType", "is required (a string)")
    if rtype not in counted:
        reason = (
            "a Medication: read through the requests and statements that reference it"
            if rtype == "Medication"
            else "not a MedicationRequest or MedicationStatement"
        )
        return SkippedEntry(prefix, rtype, None, reason)
    allowed = R4_STATUSES if rtype == "MedicationRequest" else STATEMENT_STATUSES
    status = item.get("status")
    if not isinstance(status, str) or status not in allowed:
        raise InvalidInputError("status", f"must be a FHIR R4 {rtype} status code")
    if status not in counted[rtype]:
        names = ", ".join(sorted(counted[rtype])) or "none"
        reason = f"status not counted (counted: {names}): {_STATUS_MEANING[status]}"
        return SkippedEntry(
            prefix,
            rtype,
            status,
            reason,
            affects_total=status in _MAY_BE_CURRENT,
            medication=_medication_label(item),
        )
    return None if rtype == "MedicationStatement" else _request_skip(prefix, item, status)


def _request_skip(prefix: str, item: Mapping[str, object], status: str) -> SkippedEntry | None:
    """A counted MedicationRequest that is still no prescription (doNotPerform, an option)."""
    rtype = "MedicationRequest"
    _check_do_not_perform(item, "doNotPerform")
    if item.get("doNotPerform") is True:
        reason = "doNotPerform is true: an instruction not to give the medicine"
        return SkippedEntry(prefix, rtype, status, reason)
    if item.get("intent") == "option":
        reason = "intent 'option': one of several alternatives, not a prescription to add up"
        return SkippedEntry(prefix, rtype, status, reason)
    return None


def from_bundle(
    bundle_or_list: object,
    *,
    statuses: Collection[str] = COUNTED_STATUSES,
    catalogue: Catalogue | None = None,
    vocabulary: Vocabulary | None = None,
    match_display_name: bool = False,
    medications: Mapping[str, Mapping[str, object]] | None = None,
) -> list[Prescription]:
    """The prescriptions of :func:`read_bundle`, as a list; strict about what it cannot read.

    Entries that are deliberately not counted (other resources, statuses not counted,
    ``doNotPerform``, intent ``option``) are dropped; an entry that cannot be read or names an
    unknown medication raises, because a list of prescriptions has no place to say what was
    left out. Call :func:`read_bundle` (and pass its result to
    :func:`~opioidcds.calculate_ome`) to keep the rest and see every skipped entry.

    Raises:
        InvalidInputError: as :func:`read_bundle` with ``invalid_entries="error"``.
        UnknownProductError: as :func:`read_bundle` with ``unknown_products="error"``.
    """
    return list(
        read_bundle(
            bundle_or_list,
            statuses=statuses,
            catalogue=catalogue,
            vocabulary=vocabulary,
            match_display_name=match_display_name,
            medications=medications,
            unknown_products="error",
            invalid_entries="error",
        ).prescriptions
    )


def parse_rxnorm_name(name: str, vocabulary: Vocabulary | None = None) -> RxNormProduct:
    """Read an RxNorm normalised clinical/branded drug name (SCD/SBD).

    RxNorm names a clinical drug "Ingredient Strength Unit [/ Ingredient Strength Unit] Dose
    Form" (NLM RxNorm Technical Documentation, section 6 "Normalized names"), with an optional
    "NN HR" release/duration qualifier and a bracketed brand for a branded drug, e.g.
    ``"oxycodone hydrochloride 60 MG 12 HR Extended Release Oral Tablet"`` or ``"72 HR
    Fentanyl 0.075 MG/HR Transdermal System"``. Salts resolve through the ingredient
    vocabulary; dose forms through :data:`RXNORM_DOSE_FORMS`.

    Raises:
        InvalidInputError: (field ``display``) the name does not have that shape, or its dose
            form or unit is not in the adapter's tables.
        UnknownProductError: an ingredient is not in the ingredient vocabulary.
    """
    vocab = vocabulary if vocabulary is not None else default_vocabulary()
    text = " ".join(name.split())
    text = re.sub(r"\s*\[[^\[\]]*\]$", "", text)  # branded drug: "... [OxyContin]"
    text = re.sub(r"^\d+ HR ", "", text)  # patch wear time: "72 HR Fentanyl ..."
    lowered = text.casefold()
    form_key = next(
        (k for k in sorted(RXNORM_DOSE_FORMS, key=len, reverse=True) if lowered.endswith(" " + k)),
        None,
    )
    if form_key is None:
        raise InvalidInputError("display", "RxNorm dose form not in the adapter's table")
    body = text[: -len(form_key)].strip()
    body = re.sub(r"\s+\d+ HR$", "", body)  # "60 MG 12 HR Extended Release Oral Tablet"
    parts = [p.strip() for p in body.split(" / ")]
    names: list[str] = []
    amounts: list[tuple[str, str]] = []
    for part in parts:
        match = re.fullmatch(r"([A-Za-z][A-Za-z ,\-]*?) (\d+(?:\.\d+)?|\.\d+) ([A-Z/]+)", part)
        if match is None:
            raise InvalidInputError("display", "not an RxNorm 'Ingredient Strength Form' name")
        unit = _RXNORM_UNITS.get(match.group(3))
        if unit is None:
            raise InvalidInputError("display", "RxNorm strength unit not in the adapter's table")
        found = vocab.find_drug(match.group(1))
        if found is None or len(found) != 1:
            raise UnknownProductError("display: names an ingredient not in the vocabulary")
        names.append(found[0])
        amounts.append((match.group(2), unit))
    if len(amounts) > 1 and any(u != "mg" for _a, u in amounts):
        raise InvalidInputError("display", "a combination is read only with mg per unit")
    strength = "/".join(f"{a} {u}" for a, u in amounts)
    return RxNormProduct("/".join(names), strength, RXNORM_DOSE_FORMS[form_key])


# --- the reader ------------------------------------------------------------------------------


_FhirFields = dict[str, object]


class _Read(NamedTuple):
    """One prescription read from a resource: its path, the Prescription, how it was read."""

    path: str
    rx: Prescription
    note: str


def _medication_form(
    medication: _Medication, catalogue: Catalogue | None, vocab: Vocabulary
) -> Form | None:
    """The pharmaceutical form the medication names, if any (for the unit of a bare count)."""
    code = medication.fields.get("dmd_code")
    name = medication.fields.get("product_name")
    form_name = medication.fields.get("form")
    if isinstance(code, str) or isinstance(name, str):
        cat = catalogue if catalogue is not None else load_catalogue()
        product = cat.by_code(code) if isinstance(code, str) else cat.by_name(str(name))
        form_name = product.form
    return vocab.find_form(form_name) if isinstance(form_name, str) else None


def _read_request(
    resource: object,
    catalogue: Catalogue | None,
    vocabulary: Vocabulary | None,
    *,
    match_display_name: bool,
    validator: Callable[[Mapping[str, object]], None] | None = None,
    lookup: _MedicationLookup | None = None,
) -> list[_Read]:
    if not isinstance(resource, Mapping):
        raise InvalidInputError("(resource)", "must be a JSON object (a FHIR resource)")
    if resource.get("resourceType") != "MedicationRequest":
        raise InvalidInputError("resourceType", "must be MedicationRequest")
    if "medicationCodeableConcept" not in resource and "medicationReference" not in resource:
        # checked before fhir.resources, whose message for a missing choice element has no path
        raise InvalidInputError("medicationCodeableConcept", "is required (R4 medication[x])")
    (validator or _validate_r4)(resource)
    vocab = vocabulary if vocabulary is not None else default_vocabulary()
    _check_do_not_perform(resource, "doNotPerform")
    if resource.get("doNotPerform") is True:
        raise InvalidInputError(
            "doNotPerform", "is true: an instruction not to give the medicine is not a dose"
        )
    concept, base = _medication_concept(resource, lookup or _NO_LOOKUP, validate=validator is None)
    medication = _medication(concept, base, catalogue, vocab, match_display_name=match_display_name)
    form = _medication_form(medication, catalogue, vocab)
    dosages = _array(resource, "dosageInstruction", "dosageInstruction")
    if not dosages:
        raise InvalidInputError("dosageInstruction", "at least one dosage instruction is required")
    return _read_dosages(
        dosages, "dosageInstruction", medication, form, catalogue, vocab, _identity(resource)
    )


def _read_dosages(  # noqa: PLR0917 - the parts of one resource, read together
    dosages: Sequence[object],
    key: str,
    medication: _Medication,
    form: Form | None,
    catalogue: Catalogue | None,
    vocab: Vocabulary,
    identity: Mapping[str, str],
) -> list[_Read]:
    """One prescription per concurrent Dosage of ``key`` (``dosageInstruction``, ``dosage``).

    ``identity`` (the resource's ``id`` and what it ``replaces``) goes on every prescription.
    """
    _check_concurrent(dosages, key)
    result = []
    for i, dosage in enumerate(dosages):
        path = f"{key}[{i}]"
        fields, paths, note = _dosage(_as_object(dosage, path), path, vocab, form)
        fields = {**fields, **identity}
        rx = _build(
            medication,
            fields=fields,
            paths=paths,
            dosage_path=path,
            catalogue=catalogue,
            vocab=vocab,
        )
        result.append(_Read(path, rx, note))
    return result


def _read_resource(
    resource: Mapping[str, object],
    catalogue: Catalogue | None,
    vocab: Vocabulary,
    *,
    match_display_name: bool,
    lookup: _MedicationLookup,
) -> list[_Read]:
    """The prescriptions of a MedicationRequest or MedicationStatement, with their paths."""
    if resource.get("resourceType") == "MedicationStatement":
        return _read_statement(
            resource, catalogue, vocab, match_display_name=match_display_name, lookup=lookup
        )
    return _read_request(
        resource, catalogue, vocab, match_display_name=match_display_name, lookup=lookup
    )


def prescriptions_from_medication_statement(
    resource: Mapping[str, object],
    *,
    catalogue: Catalogue | None = None,
    vocabulary: Vocabulary | None = None,
    match_display_name: bool = False,
    validator: Callable[[Mapping[str, object]], None] | None = None,
    medications: Mapping[str, Mapping[str, object]] | None = None,
) -> list[Prescription]:
    """Read a FHIR R4 MedicationStatement: one Prescription per dosage.

    The product is read as for a MedicationRequest (``medicationCodeableConcept`` or
    ``medicationReference``) and each ``dosage`` as a ``dosageInstruction``. A statement with no
    dosage gives one Prescription whose dose is not known (``dose_unknown=True``): the
    calculator lists it as not convertible and the total is a lower bound. The status is not
    checked here (:func:`read_bundle` filters by it). Arguments as for
    :func:`prescriptions_from_medication_request`; ``validator`` replaces the R4B
    MedicationStatement validation.

    Raises:
        InvalidInputError: not a MedicationStatement, invalid, or a part not understood;
            ``field`` is the FHIR path.
        UnknownProductError: the medication is not in the catalogue or vocabulary.
    """
    vocab = vocabulary if vocabulary is not None else default_vocabulary()
    return [
        rx
        for _path, rx, _note in _read_statement(
            resource,
            catalogue,
            vocab,
            match_display_name=match_display_name,
            lookup=_lookup(medications),
            validator=validator,
        )
    ]


def _read_statement(
    resource: object,
    catalogue: Catalogue | None,
    vocab: Vocabulary,
    *,
    match_display_name: bool,
    lookup: _MedicationLookup,
    validator: Callable[[Mapping[str, object]], None] | None = None,
) -> list[_Read]:
    if not isinstance(resource, Mapping):
        raise InvalidInputError("(resource)", "must be a JSON object (a FHIR resource)")
    if resource.get("resourceType") != "MedicationStatement":
        raise InvalidInputError("resourceType", "must be MedicationStatement")
    if "medicationCodeableConcept" not in resource and "medicationReference" not in resource:
        raise InvalidInputError("medicationCodeableConcept", "is required (R4 medication[x])")
    (validator or _validate_statement)(resource)
    concept, base = _medication_concept(resource, lookup, validate=validator is None)
    medication = _medication(concept, base, catalogue, vocab, match_display_name=match_display_name)
    form = _medication_form(medication, catalogue, vocab)
    dosages = _array(resource, "dosage", "dosage")
    if not dosages:  # a medicine the patient takes, dose not stated: listed, never zero
        rx = _build_without_dose(medication, catalogue, vocab, _identity(resource))
        return [_Read("", rx, "a statement without dosage: the dose is not known")]
    return _read_dosages(dosages, "dosage", medication, form, catalogue, vocab, _identity(resource))


def _build_without_dose(
    medication: _Medication,
    catalogue: Catalogue | None,
    vocab: Vocabulary,
    identity: Mapping[str, str],
) -> Prescription:
    """A Prescription of the product with ``dose_unknown`` (a statement with no dosage)."""
    try:
        rx = Prescription(**{**medication.fields, **identity, "dose_unknown": True})
        resolve_prescription(rx, vocab, catalogue)
    except InvalidInputError as exc:
        raise InvalidInputError(medication.path, exc.rule) from None
    return rx


# --- referenced Medications ------------------------------------------------------------------

_REFERENCE = "medicationReference"
_RESOLVED = "medicationReference.resolve()"  # FHIRPath of the Medication a reference names


@dataclass(frozen=True, slots=True)
class _MedicationLookup:
    """Where a ``medicationReference`` may point outside the request itself.

    ``supplied``: the caller's Medications, keyed by the reference string as written
    (``"Medication/abc"``, ``"urn:uuid:..."``, a full URL). ``bundle``: the Medications of the
    Bundle being read, keyed by their entry's ``fullUrl`` and by ``Medication/<id>``;
    ``ambiguous`` holds keys that name two different Medications there (refused, not guessed).
    """

    supplied: Mapping[str, Mapping[str, object]]
    bundle: Mapping[str, Mapping[str, object]]
    ambiguous: frozenset[str]

    def find(self, reference: str) -> Mapping[str, object] | None:
        """The Medication ``reference`` names, or ``None``; raises when it is ambiguous."""
        keys = [reference]
        if "/_history/" in reference:  # a version-specific reference names the same resource
            keys.append(reference.split("/_history/", 1)[0])
        for key in keys:
            supplied = self.supplied.get(key)
            in_bundle = self.bundle.get(key)
            if key in self.ambiguous:
                raise InvalidInputError(
                    f"{_REFERENCE}.reference", "names two different Medications in the Bundle"
                )
            if supplied is not None and in_bundle is not None and supplied != in_bundle:
                raise InvalidInputError(
                    f"{_REFERENCE}.reference",
                    "resolves to different Medications in the Bundle and in those supplied",
                )
            found = supplied if supplied is not None else in_bundle
            if found is not None:
                return found
        return None


_NO_LOOKUP = _MedicationLookup(MappingProxyType({}), MappingProxyType({}), frozenset())


def _lookup(
    medications: Mapping[str, Mapping[str, object]] | None,
    bundle: Mapping[str, Mapping[str, object]] | None = None,
    ambiguous: frozenset[str] = frozenset(),
) -> _MedicationLookup:
    """A lookup of the caller's ``medications`` (checked: a mapping of strings to objects)."""
    supplied: dict[str, Mapping[str, object]] = {}
    if medications is not None:
        if not isinstance(medications, Mapping):
            raise InvalidInputError("medications", "must map reference strings to Medications")
        for key, value in medications.items():
            if not isinstance(key, str) or not isinstance(value, Mapping):
                raise InvalidInputError(
                    "medications", "must map reference strings to Medication JSON objects"
                )
            supplied[key.strip()] = value
    return _MedicationLookup(
        MappingProxyType(supplied), MappingProxyType(dict(bundle or {})), ambiguous
    )


def _bundle_medications(
    items: Sequence[tuple[str, Mapping[str, object] | None, str | None]],
) -> tuple[dict[str, Mapping[str, object]], frozenset[str]]:
    """The Bundle's Medications by ``fullUrl`` and by ``Medication/<id>``, and ambiguous keys."""
    index: dict[str, Mapping[str, object]] = {}
    ambiguous: set[str] = set()
    for _prefix, item, full_url in items:
        if item is None or item.get("resourceType") != "Medication":
            continue
        keys = [full_url] if full_url else []
        rid = item.get("id")
        if isinstance(rid, str) and rid.strip():
            keys.append(f"Medication/{rid.strip()}")
        for key in keys:
            if key in index and index[key] != item:
                ambiguous.add(key)
            index.setdefault(key, item)
    return index, frozenset(ambiguous)


def _medication_concept(
    resource: Mapping[str, object], lookup: _MedicationLookup, *, validate: bool
) -> tuple[Mapping[str, object], str]:
    """The concept naming the product, and its FHIR path.

    ``medicationCodeableConcept`` itself, or the ``code`` of the Medication that
    ``medicationReference`` names: contained (``#id``), in the Bundle being read, or supplied
    by the caller. A reference that cannot be resolved is refused, never skipped.
    """
    if _REFERENCE not in resource:
        base = "medicationCodeableConcept"
        concept = _object(resource, base, base)
        if concept is None:  # pragma: no cover - checked by _read_request
            raise InvalidInputError(base, "is required (R4 medication[x])")
        return concept, base
    ref = _object(resource, _REFERENCE, _REFERENCE)
    reference = None if ref is None else _string(ref, "reference", f"{_REFERENCE}.reference")
    if reference is None:
        raise InvalidInputError(
            f"{_REFERENCE}.reference",
            "is required: a Medication named only by identifier or display cannot be read",
        )
    if reference.startswith("#"):
        medication, base = _contained_medication(resource, reference[1:])
    else:
        found = lookup.find(reference)
        if found is None:
            raise InvalidInputError(
                f"{_REFERENCE}.reference",
                "cannot be resolved: the Medication is not contained in the request, not in "
                "the Bundle, and not supplied by the caller (medications=)",
            )
        medication, base = _as_object(found, _RESOLVED), _RESOLVED
        _check_medication_id(medication, reference)
    if medication.get("resourceType") != "Medication":
        raise InvalidInputError(f"{_REFERENCE}.reference", "does not resolve to a Medication")
    if validate:
        _validate_medication(medication, base)
    status = _string(medication, "status", f"{base}.status")
    if status == "entered-in-error":
        raise InvalidInputError(f"{base}.status", "is entered-in-error: not a medication to read")
    concept = _object(medication, "code", f"{base}.code")
    if concept is None:
        raise InvalidInputError(
            f"{base}.code", "is required: the referenced Medication names no product"
        )
    return concept, f"{base}.code"


def _contained_medication(
    resource: Mapping[str, object], local_id: str
) -> tuple[Mapping[str, object], str]:
    for i, raw in enumerate(_array(resource, "contained", "contained")):
        item = _as_object(raw, f"contained[{i}]")
        if item.get("id") == local_id:
            return item, f"contained[{i}]"
    raise InvalidInputError(
        f"{_REFERENCE}.reference", "names a contained resource the request does not contain"
    )


def _check_medication_id(medication: Mapping[str, object], reference: str) -> None:
    """A ``.../Medication/<id>`` reference must resolve to a Medication with that id."""
    parts = reference.split("/_history/", 1)[0].rstrip("/").split("/")
    if len(parts) < 2 or parts[-2] != "Medication":
        return  # urn:uuid: and other absolute references: the key itself identifies it
    rid = medication.get("id")
    if rid is not None and rid != parts[-1]:
        raise InvalidInputError(
            f"{_REFERENCE}.reference", "resolves to a Medication with another id"
        )


def _validate_medication(medication: Mapping[str, object], base: str) -> None:
    """Validate a referenced Medication against fhir.resources' R4B model (paths prefixed)."""
    try:
        _validate_model(medication, "Medication")
    except InvalidInputError as exc:
        raise InvalidInputError(_join(base, exc.field), exc.rule) from None


def _reference_id(reference: str) -> str:
    """The id of a relative or absolute reference: the part after the last "/".

    A FHIR reference is ``[base/]Type/id[/_history/version]``.
    """
    parts = reference.rstrip("/").split("/")
    if len(parts) >= 3 and parts[-2] == "_history":
        parts = parts[:-2]
    return parts[-1]


def _identity(resource: Mapping[str, object]) -> dict[str, str]:
    """``id`` (the resource id) and ``replaces`` (from ``priorPrescription``), when present.

    R4 ``priorPrescription``: "An order/prescription that is being replaced".
    """
    found: dict[str, str] = {}
    rid = resource.get("id")
    if isinstance(rid, str) and rid:
        found["id"] = rid
    prior = resource.get("priorPrescription")
    if isinstance(prior, Mapping):
        ref = prior.get("reference")
        if isinstance(ref, str) and ref.strip():
            replaced = _reference_id(ref.strip())
            if replaced and replaced != found.get("id"):
                found["replaces"] = replaced
    return found


def _validate_r4(resource: Mapping[str, object]) -> None:
    """Validate against fhir.resources' R4B MedicationRequest; errors become FHIR paths."""
    _validate_model(resource, "MedicationRequest")


def _validate_statement(resource: Mapping[str, object]) -> None:
    """Validate against fhir.resources' R4B MedicationStatement; errors become FHIR paths."""
    _validate_model(resource, "MedicationStatement")


def _validate_model(resource: Mapping[str, object], kind: str) -> None:
    """Validate ``resource`` with the R4B model of ``kind`` (R4B left these three as in R4)."""
    try:
        from pydantic import ValidationError  # noqa: PLC0415

        module = importlib.import_module(f"fhir.resources.R4B.{kind.lower()}")
    except ImportError as exc:  # pragma: no cover - the dev environment has the extra
        raise ImportError(
            "opioidcds._resolve.fhir needs the optional 'fhir' extra: pip install 'opioidcds[fhir]'"
        ) from exc
    model = getattr(module, kind)
    try:
        model.model_validate(dict(resource))
    except ValidationError as exc:
        raise _fhir_error(exc, kind) from None
    except OpioidCDSError:  # pragma: no cover - fhir.resources does not call opioidcds
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError):
        raise InvalidInputError("(resource)", f"is not a valid FHIR R4 {kind}") from None


def _fhir_error(exc: object, kind: str = "MedicationRequest") -> InvalidInputError:
    """An InvalidInputError from a pydantic ValidationError, naming paths and never values."""
    errors: list[Mapping[str, object]] = []
    getter = getattr(exc, "errors", None)
    if callable(getter):
        errors = list(getter(include_input=False, include_url=False, include_context=False))
    if not errors:  # pragma: no cover - a ValidationError always has at least one error
        return InvalidInputError("(resource)", f"is not a valid FHIR R4 {kind}")
    first = errors[0]
    kind = str(first.get("type", ""))
    loc = first.get("loc", ())
    path = _loc_path(loc if isinstance(loc, tuple) else (), unknown_last=kind == "extra_forbidden")
    if kind == "missing":
        rule = "is required (FHIR R4)"
    elif kind == "extra_forbidden":
        rule = f"is not an element of a FHIR R4 {kind} here"
    elif kind.startswith(("fhir", "value_error", "assertion_error")):
        rule = "is not valid FHIR R4"
    else:
        # pydantic's own messages state the rule (type, bound), without the input value
        rule = f"is not valid FHIR R4 ({str(first.get('msg', kind))[:120]})"
    return InvalidInputError(path or "(resource)", rule)


def _loc_path(loc: tuple[object, ...], *, unknown_last: bool) -> str:
    parts: list[str] = []
    for n, item in enumerate(loc):
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif unknown_last and n == len(loc) - 1:
            parts.append(".(unknown element)")  # the key is the caller's text: not echoed
        elif isinstance(item, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", item):
            parts.append(f".{item}")
    return "".join(parts).lstrip(".")


def _check_concurrent(dosages: Sequence[object], key: str = "dosageInstruction") -> None:
    seen: set[str] = set()
    for i, d in enumerate(dosages):
        if isinstance(d, Mapping) and "sequence" in d:
            seen.add(str(d.get("sequence")))
            if len(seen) > 1:
                raise InvalidInputError(
                    f"{key}[{i}].sequence",
                    "sequential dosage instructions (a dose changing over time) are not read",
                )


# --- medication ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Medication:
    fields: _FhirFields
    path: str  # the coding (or text) the product came from


def _medication(
    concept: Mapping[str, object],
    base: str,
    catalogue: Catalogue | None,
    vocab: Vocabulary,
    *,
    match_display_name: bool,
) -> _Medication:
    """The product a medication concept names.

    ``concept`` is ``medicationCodeableConcept`` or a referenced Medication's ``code``;
    ``base`` is its FHIR path, used in errors.
    """
    found = _codings(concept, vocab, base)
    text = _string(concept, "text", f"{base}.text")
    if found.dmd:
        return _dmd_medication(
            found.dmd, text, catalogue, match_display_name=match_display_name, base=base
        )
    if found.rx_products:
        return _rxnorm_medication(found.rx_products, found.rx_ingredients)
    if found.rx_ingredients:
        path, drug = found.rx_ingredients[0]
        for other_path, other in found.rx_ingredients[1:]:
            if other != drug:
                raise InvalidInputError(other_path, "names a different ingredient")
        return _Medication({"drug": drug}, path)
    if found.failures:
        raise found.failures[0]
    if match_display_name and text is not None:
        return _by_name(text, f"{base}.text", catalogue)
    raise InvalidInputError(
        f"{base}.coding",
        "no coding understood: a dm+d (SNOMED CT) code, or an RxNorm drug name or opioid "
        "ingredient code, is required; free text is not read",
    )


@dataclass(slots=True)
class _Codings:
    """A concept's codings sorted by what the adapter understood of them."""

    dmd: list[tuple[str, Mapping[str, object]]]
    rx_products: list[tuple[str, RxNormProduct]]
    rx_ingredients: list[tuple[str, str]]
    failures: list[OpioidCDSError]  # RxNorm displays not understood, each naming its path


def _codings(concept: Mapping[str, object], vocab: Vocabulary, base: str) -> _Codings:
    """Sort a concept's codings: dm+d ones, RxNorm drugs read from display, RxNorm ingredients.

    An RxNorm coding whose display cannot be read is kept as a failure: it is an error only
    when no other coding is understood (codings of one concept are alternative codes for it).
    """
    codings = _array(concept, "coding", f"{base}.coding")
    found = _Codings([], [], [], [])
    for i, raw in enumerate(codings):
        path = f"{base}.coding[{i}]"
        coding = _as_object(raw, path)
        system = _string(coding, "system", f"{path}.system")
        code = _string(coding, "code", f"{path}.code")
        display = _string(coding, "display", f"{path}.display")
        if system in DMD_SYSTEMS and code is not None:
            found.dmd.append((path, coding))
        elif (
            system == RXNORM_SYSTEM
            and code is not None
            and _rxnorm_coded(code, display, path, vocab, found)
        ):
            continue
        elif system == RXNORM_SYSTEM and code is not None and code in RXNORM_INGREDIENTS:
            name = vocab.find_drug(RXNORM_INGREDIENTS[code])
            if name is not None and len(name) == 1:
                found.rx_ingredients.append((path, name[0]))
        elif system == RXNORM_SYSTEM and display is not None:
            ingredient = vocab.find_drug(display)  # an ingredient's RxNorm name (IN, PIN)
            if ingredient is not None and len(ingredient) == 1:
                found.rx_ingredients.append((path, ingredient[0]))
                continue
            try:
                found.rx_products.append((path, _rxnorm_display(display, path, vocab)))
            except (InvalidInputError, UnknownProductError) as exc:
                found.failures.append(exc)
    return found


def _rxnorm_coded(
    code: str, display: str | None, path: str, vocab: Vocabulary, found: _Codings
) -> bool:
    """Read an RxNorm product code through the RxNorm product table (False: not in it).

    The table (``codelists/rxnorm-opioid-products.toml``, a cited subset of the CQF OMTK data)
    gives each product's opioid ingredients, strengths and dose form, so the code decides, not
    the coding's display. A display that reads as an RxNorm name of a *different* product is
    a contradiction and a failure (never a guess which one is right); a display that does not
    read as a name (a brand, Tall Man lettering) is not used. A product in a dose form with no
    form of ``forms.toml`` is a failure naming the code (identified, but not convertible).
    """
    table = default_rxnorm_products()
    rows = table.rows(code)
    if not rows:
        return False
    dose_form = table.dose_form(rows[0].dose_form)
    if dose_form.form is None or any(r.dose_form != rows[0].dose_form for r in rows):
        found.failures.append(
            InvalidInputError(f"{path}.code", "RxNorm dose form of this product is not read")
        )
        return True
    names: list[str] = []
    amounts: list[tuple[str, str]] = []
    for row in rows:
        drug = vocab.find_drug(RXNORM_INGREDIENTS.get(row.ingredient, row.ingredient_name))
        value, _space, unit_code = row.strength.partition(" ")
        unit = _RXNORM_UNITS.get(unit_code)
        if drug is None or len(drug) != 1 or unit is None:
            found.failures.append(
                UnknownProductError(f"{path}.code: RxNorm product's ingredient or unit not read")
            )
            return True
        names.append(drug[0])
        amounts.append((value, unit))
    if len(amounts) > 1 and any(u != "mg" for _a, u in amounts):
        found.failures.append(
            InvalidInputError(f"{path}.code", "a combination is read only with mg per unit")
        )
        return True
    strength = "/".join(f"{a} {u}" for a, u in amounts)
    product = RxNormProduct("/".join(names), strength, dose_form.form)
    if display is not None and not _same_rxnorm_product(product, display, vocab):
        found.failures.append(
            InvalidInputError(f"{path}.display", "names a different product from its RxNorm code")
        )
        return True
    found.rx_products.append((path, product))
    return True


def _same_rxnorm_product(product: RxNormProduct, display: str, vocab: Vocabulary) -> bool:
    """False only when ``display`` reads as an RxNorm name of another product.

    Only the opioid ingredients are compared (the OMTK table lists only those; a name such as
    "Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet" also names paracetamol),
    with the form; "10.0 MG" and "10 MG" are the same strength.
    """
    try:
        named = parse_rxnorm_name(display, vocab)
    except (InvalidInputError, UnknownProductError):
        return True  # not a normalised name (brand, Tall Man): the code decides

    def opioids(item: RxNormProduct) -> list[tuple[str, str]]:
        drugs = item.drug.split("/")
        strengths = item.strength.split("/") if len(drugs) > 1 else [item.strength]
        return [
            (drug, re.sub(r"\d+(?:\.\d+)?|\.\d+", _plain_number, strength))
            for drug, strength in zip(drugs, strengths, strict=True)
            if vocab.is_opioid(drug)
        ]

    return named.form == product.form and opioids(named) == opioids(product)


def _plain_number(match: re.Match[str]) -> str:
    return format(Decimal(match.group()).normalize(), "f")


def _rxnorm_display(display: str, path: str, vocab: Vocabulary) -> RxNormProduct:
    """Read an RxNorm display; errors name the coding's path."""
    try:
        return parse_rxnorm_name(display, vocab)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{path}.display", exc.rule) from None
    except UnknownProductError:
        raise UnknownProductError(
            f"{path}.display: names an ingredient not in the ingredient vocabulary"
        ) from None


def _dmd_medication(
    dmd: list[tuple[str, Mapping[str, object]]],
    text: str | None,
    catalogue: Catalogue | None,
    *,
    match_display_name: bool,
    base: str,
) -> _Medication:
    cat = catalogue if catalogue is not None else load_catalogue()
    chosen: tuple[str, str] | None = None
    for path, coding in dmd:
        code = str(coding.get("code", "")).strip()
        if code in cat:
            product = cat.by_code(code)
            if chosen is not None:
                first = cat.by_code(chosen[1])
                if (first.ingredients, first.form) != (product.ingredients, product.form):
                    raise InvalidInputError(path, "names a different product from another coding")
            else:
                chosen = (path, code)
    if chosen is not None:
        return _Medication({"dmd_code": chosen[1]}, chosen[0])
    path, coding = dmd[0]
    if match_display_name:
        display = coding.get("display")
        if isinstance(display, str) and display.strip():
            return _by_name(display, f"{path}.display", cat)
        if text is not None:
            return _by_name(text, f"{base}.text", cat)
    raise UnknownProductError(f"{path}.code: dm+d code not in the product catalogue")


def _by_name(name: str, path: str, catalogue: Catalogue | None) -> _Medication:
    cat = catalogue if catalogue is not None else load_catalogue()
    try:
        product = cat.by_name(name)
    except UnknownProductError:
        raise UnknownProductError(f"{path}: not the name of a catalogue product") from None
    return _Medication({"product_name": product.product_name}, path)


def _rxnorm_medication(
    products: list[tuple[str, RxNormProduct]], ingredients: list[tuple[str, str]]
) -> _Medication:
    path, product = products[0]
    for other_path, other in products[1:]:
        if other != product:
            raise InvalidInputError(other_path, "names a different product from another coding")
    for other_path, drug in ingredients:
        if drug not in product.drug.split("/"):
            raise InvalidInputError(other_path, "names an ingredient the product does not have")
    fields: _FhirFields = {"drug": product.drug, "form": product.form, "strength": product.strength}
    return _Medication(fields, path)


# --- dosage ----------------------------------------------------------------------------------


def _dosage(
    dosage: Mapping[str, object], path: str, vocab: Vocabulary, form: Form | None
) -> tuple[_FhirFields, dict[str, str], str]:
    """Prescription fields of one Dosage, the FHIR path each came from, and a note on how.

    The note is empty unless the dose was put together from two parts (a dose read from the
    text with the structured timing).
    """
    fields: _FhirFields = {}
    paths: dict[str, str] = {}
    text = _string(dosage, "text", f"{path}.text")
    route = _route(dosage, path, vocab)
    if route is not None:
        fields["route"] = route
        paths["route"] = f"{path}.route"
    dose_rates = _array(dosage, "doseAndRate", f"{path}.doseAndRate")
    if not dose_rates:
        if text is None:
            raise InvalidInputError(
                f"{path}.doseAndRate", "a dose (doseQuantity or doseRange) or a text is required"
            )
        timing: _FhirFields = {}
        timing_paths: dict[str, str] = {}
        _timing(dosage, path, timing, timing_paths)
        if timing:
            note = _text_dose_with_timing(
                text, dosage, path, form, out=(fields, paths), timing=(timing, timing_paths)
            )
            if note:
                return fields, paths, note
        # text only: the dosage grammar reads all of it; no structured dose field is set
        fields["dosage_text"] = text
        for name in ("dosage_text", "dose_quantity", "dose_unit", "doses_per_day"):
            paths[name] = f"{path}.text"
        return fields, paths, ""
    _dose(dose_rates, f"{path}.doseAndRate", fields, paths)
    _timing(dosage, path, fields, paths)
    prn = _as_needed(dosage, path)
    if prn:
        fields["prn"] = True
    _max_per_period(dosage, path, fields, paths)
    return fields, paths, ""


_FREQUENCY_FIELDS = ("doses_per_day", "doses_per_day_max", "interval_hours", "interval_hours_max")


def _text_dose_with_timing(
    text: str,
    dosage: Mapping[str, object],
    path: str,
    form: Form | None,
    *,
    out: tuple[_FhirFields, dict[str, str]],
    timing: tuple[_FhirFields, dict[str, str]],
) -> str:
    """A dose read from ``Dosage.text`` with the structured ``timing`` (issue 16 item 3).

    An EPS MedicationRequest may carry the frequency in ``timing`` and the dose only in the
    text ("twice a day - Oral route - One twice daily", no doseAndRate). When the grammar reads
    a dose from the text and any frequency the text states agrees with the timing, the two are
    combined: the dose (quantity, unit, a range) from the text, the frequency from the timing,
    "when required" if either says so, a maximum from ``maxDosePerPeriod`` or else from the
    text. Returns the note saying which part came from where, or "" when the text gives no dose
    to combine (the text is then read alone, as before).

    Raises:
        InvalidInputError: (``<path>.text``) the text's frequency or maximum disagrees with the
            structured one, or its count has no unit and the form implies none.
    """
    fields, paths = out
    timing_fields, timing_paths = timing
    parsed = parse_dosage(text)
    if not isinstance(parsed, Dosage) or parsed.dose_quantity is None:
        return ""
    stated = {name: getattr(parsed, name) for name in _FREQUENCY_FIELDS}
    stated = {name: value for name, value in stated.items() if value is not None}
    if stated and not _same_frequency(stated, timing_fields, up_to=parsed.frequency_is_upper_limit):
        raise InvalidInputError(f"{path}.text", "disagrees with the structured timing")
    unit = parsed.dose_unit or default_unit(form)
    if unit is None:
        raise InvalidInputError(
            f"{path}.text", "gives a count without a unit and the product's form implies none"
        )
    unit, unit_notes = same_solid_dose(unit, form)
    fields.update(timing_fields)
    paths.update(timing_paths)
    fields["dose_quantity"] = parsed.dose_quantity
    fields["dose_unit"] = unit
    paths["dose_quantity"] = paths["dose_unit"] = f"{path}.text"
    if parsed.dose_quantity_max is not None:
        fields["dose_quantity_max"] = parsed.dose_quantity_max
        paths["dose_quantity_max"] = f"{path}.text"
    if _as_needed(dosage, path) or parsed.prn:
        fields["prn"] = True
    _max_per_period(dosage, path, fields, paths)
    _text_maxima(parsed, path, fields, paths)
    parts = ["dose read from the dosage text", "frequency from the structured timing"]
    return "; ".join([*parts, *unit_notes])


def _same_frequency(
    stated: Mapping[str, object], timing: Mapping[str, object], *, up_to: bool
) -> bool:
    """Whether the text's frequency is the timing's (2 a day and every 12 hours agree).

    With ``up_to`` (the text says "up to N times a day") only the highest count is compared.
    """

    def per_day(fields: Mapping[str, object]) -> tuple[object, object]:
        low, high = fields.get("doses_per_day"), fields.get("doses_per_day_max")
        shortest, longest = fields.get("interval_hours"), fields.get("interval_hours_max")
        if isinstance(shortest, Decimal):
            high = Decimal(24) / shortest
            low = Decimal(24) / longest if isinstance(longest, Decimal) else high
            return (low, high if high != low else None)
        return (low, high)

    text_low, text_high = per_day(stated)
    low, high = per_day(timing)
    if up_to:
        return (text_high or text_low) == (high or low)
    return (text_low, text_high) == (low, high)


def _text_maxima(parsed: Dosage, path: str, fields: _FhirFields, paths: dict[str, str]) -> None:
    """The text's daily maxima, where the structure has none; equal to it where it has one."""
    for name in ("max_quantity_per_day", "max_doses_per_day"):
        value = getattr(parsed, name)
        if value is None:
            continue
        if name in fields and fields[name] != value:
            raise InvalidInputError(f"{path}.text", f"disagrees with the structured {name}")
        if name not in fields:
            fields[name] = value
            paths[name] = f"{path}.text"


def _route(dosage: Mapping[str, object], path: str, vocab: Vocabulary) -> str | None:
    concept = _object(dosage, "route", f"{path}.route")
    if concept is None:
        return None
    vocab_routes = vocab.routes
    codings = _array(concept, "coding", f"{path}.route.coding")
    for i, raw in enumerate(codings):
        coding = _as_object(raw, f"{path}.route.coding[{i}]")
        code = _string(coding, "code", f"{path}.route.coding[{i}].code")
        if coding.get("system") == SNOMED_SYSTEM and code is not None:
            found = _SNOMED_ROUTES.get(code.strip())
            if found is not None:
                return found
    # a route word as text or display ("oral", "Oral route") names the route itself
    candidates = [concept.get("text")]
    candidates += [c.get("display") for c in codings if isinstance(c, Mapping)]
    for candidate in candidates:
        if isinstance(candidate, str):
            word = " ".join(candidate.split()).casefold().removesuffix(" route")
            if word in vocab_routes:
                return word
    raise InvalidInputError(f"{path}.route", "route of administration not understood")


def _dose(
    dose_rates: Sequence[object], path: str, fields: _FhirFields, paths: dict[str, str]
) -> None:
    index = _pick_dose_and_rate(dose_rates, path)
    here = f"{path}[{index}]"
    entry = _as_object(dose_rates[index], here)
    for rate in ("rateRatio", "rateRange", "rateQuantity"):
        if rate in entry:
            raise InvalidInputError(f"{here}.{rate}", "rates (infusions) are not read")
    quantity = _object(entry, "doseQuantity", f"{here}.doseQuantity")
    dose_range = _object(entry, "doseRange", f"{here}.doseRange")
    if quantity is not None:
        value, unit = _quantity(quantity, f"{here}.doseQuantity")
        fields["dose_quantity"] = value
        fields["dose_unit"] = unit
        paths["dose_quantity"] = f"{here}.doseQuantity.value"
        paths["dose_unit"] = f"{here}.doseQuantity"
        return
    if dose_range is None:
        raise InvalidInputError(here, "doseQuantity or doseRange is required")
    low = _object(dose_range, "low", f"{here}.doseRange.low")
    high = _object(dose_range, "high", f"{here}.doseRange.high")
    if low is None or high is None:
        raise InvalidInputError(f"{here}.doseRange", "needs both low and high")
    low_value, low_unit = _quantity(low, f"{here}.doseRange.low")
    high_value, high_unit = _quantity(high, f"{here}.doseRange.high")
    if not _same_unit(low_unit, high_unit):
        raise InvalidInputError(f"{here}.doseRange.high", "unit differs from the low end's")
    fields["dose_quantity"] = low_value
    fields["dose_unit"] = low_unit
    if high_value != low_value:
        fields["dose_quantity_max"] = high_value
    paths["dose_quantity"] = f"{here}.doseRange.low.value"
    paths["dose_quantity_max"] = f"{here}.doseRange.high.value"
    paths["dose_unit"] = f"{here}.doseRange.low"


def _pick_dose_and_rate(dose_rates: Sequence[object], path: str) -> int:
    """Index of the dose to read: the only one, else the one typed ``ordered``."""
    if len(dose_rates) == 1:
        return 0
    ordered = []
    for i, raw in enumerate(dose_rates):
        entry = _as_object(raw, f"{path}[{i}]")
        kind = _object(entry, "type", f"{path}[{i}].type")
        codes = [] if kind is None else _array(kind, "coding", f"{path}[{i}].type.coding")
        if any(isinstance(c, Mapping) and c.get("code") == "ordered" for c in codes):
            ordered.append(i)
    if len(ordered) != 1:
        raise InvalidInputError(path, "several doses: exactly one must be of type 'ordered'")
    return ordered[0]


def _quantity(quantity: Mapping[str, object], path: str) -> tuple[Decimal, str]:
    if "comparator" in quantity:
        raise InvalidInputError(f"{path}.comparator", "a dose with a comparator is not read")
    value = _decimal(quantity, "value", f"{path}.value")
    if value is None:
        raise InvalidInputError(f"{path}.value", "is required")
    return value, _unit(quantity, path)


def _unit(quantity: Mapping[str, object], path: str) -> str:
    """The dose unit of a Quantity: its code if the dose-unit table knows it, else its unit text.

    Codes: ``conversion_tables/dose_units.toml`` (UCUM, HL7 v3 orderableDrugForm, dm+d units
    of measure), and any UCUM annotation whose label is a count noun (``{tablets}``: UCUM
    annotations are unity, the label names the thing counted). A unit text that means another
    unit than the code is refused.
    """
    system = _string(quantity, "system", f"{path}.system")
    code = _string(quantity, "code", f"{path}.code")
    text = _string(quantity, "unit", f"{path}.unit")
    from_code = default_dose_units().unit(system, code)
    if from_code is None and code is not None and system == UCUM_SYSTEM:
        annotation = re.fullmatch(r"\{([a-z]+)\}", code)
        if annotation and annotation.group(1) in COUNT_NOUNS:
            from_code = _singular(annotation.group(1))
    from_text = _unit_text(text)
    if from_code is not None:
        if from_text is not None and not _same_unit(from_text, from_code):
            raise InvalidInputError(f"{path}.unit", "contradicts the unit code")
        return from_code
    if from_text is not None:
        return from_text
    raise InvalidInputError(f"{path}.unit", "unit not understood (no known code or unit text)")


def _unit_text(text: str | None) -> str | None:
    """An allow-listed unit spelling, or a count noun in any case ("Tablet", "TABLETS")."""
    if text is None:
        return None
    word = text.strip()
    if word in COUNT_NOUNS:
        return word
    if word.casefold() in COUNT_NOUNS:  # a count noun has no case-dependent meaning (MG has)
        return word.casefold()
    try:
        unit_dimension(word)
    except InvalidInputError:
        return None
    return word


def _timing(
    dosage: Mapping[str, object], path: str, fields: _FhirFields, paths: dict[str, str]
) -> None:
    timing = _object(dosage, "timing", f"{path}.timing")
    if timing is None:
        return
    repeat = _object(timing, "repeat", f"{path}.timing.repeat")
    if repeat is not None and _repeat(repeat, f"{path}.timing.repeat", fields, paths):
        return
    code = _object(timing, "code", f"{path}.timing.code")
    if code is None:
        return
    codings = _array(code, "coding", f"{path}.timing.code.coding")
    for i, raw in enumerate(codings):
        coding = _as_object(raw, f"{path}.timing.code.coding[{i}]")
        if coding.get("system") != GTS_SYSTEM:
            continue
        spec = _GTS_CODES.get(str(coding.get("code", "")))
        if spec is None:
            raise InvalidInputError(f"{path}.timing.code.coding[{i}].code", "code not read")
        kind, number = spec
        field = "doses_per_day" if kind == "per_day" else "interval_hours"
        fields[field] = Decimal(number)
        paths[field] = f"{path}.timing.code"
        return


def _repeat(
    repeat: Mapping[str, object], path: str, fields: _FhirFields, paths: dict[str, str]
) -> bool:
    """Read Timing.repeat into the fields; False if it says nothing about frequency."""
    if "dayOfWeek" in repeat:
        raise InvalidInputError(f"{path}.dayOfWeek", "days of the week are not read")
    frequency = _decimal(repeat, "frequency", f"{path}.frequency")
    frequency_max = _decimal(repeat, "frequencyMax", f"{path}.frequencyMax")
    period = _decimal(repeat, "period", f"{path}.period")
    period_max = _decimal(repeat, "periodMax", f"{path}.periodMax")
    unit = _string(repeat, "periodUnit", f"{path}.periodUnit")
    times = _array(repeat, "timeOfDay", f"{path}.timeOfDay")
    events = _array(repeat, "when", f"{path}.when")
    if frequency is None and frequency_max is None and period is None:
        per_day = _count_per_day(times, events, path)
        if per_day is None:
            return False
        fields["doses_per_day"] = Decimal(per_day)
        paths["doses_per_day"] = f"{path}.timeOfDay" if times else f"{path}.when"
        return True
    if period is None or unit is None:
        raise InvalidInputError(f"{path}.period", "frequency needs period and periodUnit")
    hours = _HOURS.get(unit)
    if hours is None:
        raise InvalidInputError(
            f"{path}.periodUnit", "must be h, d or wk (months and years vary in length)"
        )
    low_f = frequency if frequency is not None else Decimal(1)
    high_f = frequency_max if frequency_max is not None else low_f
    if high_f < low_f:
        raise InvalidInputError(f"{path}.frequencyMax", "must not be below frequency")
    if period_max is not None and period_max < period:
        raise InvalidInputError(f"{path}.periodMax", "must not be below period")
    per_day_count = _count_per_day(times, events, path)
    if per_day_count is not None and not (
        unit == "d" and period == 1 and frequency_max is None and low_f == per_day_count
    ):
        where = f"{path}.timeOfDay" if times else f"{path}.when"
        raise InvalidInputError(where, "disagrees with frequency and period")
    _frequency_fields(
        (low_f, high_f), (period, period_max), hours, path, fields=fields, paths=paths
    )
    return True


def _frequency_fields(
    frequency: tuple[Decimal, Decimal],
    period: tuple[Decimal, Decimal | None],
    hours: Decimal,
    path: str,
    *,
    fields: _FhirFields,
    paths: dict[str, str],
) -> None:
    """Doses per day (a period of one day) or the interval in hours (any other period)."""
    low_f, high_f = frequency
    period_low, period_max = period
    with localcontext() as ctx:
        ctx.prec = 60
        ctx.clear_flags()
        if hours == 24 and period_low == 1 and period_max is None:
            fields["doses_per_day"] = low_f
            paths["doses_per_day"] = f"{path}.frequency"
            if high_f != low_f:
                fields["doses_per_day_max"] = high_f
                paths["doses_per_day_max"] = f"{path}.frequencyMax"
        else:
            # every N hours: the shortest interval (most doses) and the longest
            shortest = period_low * hours / high_f
            longest = (period_max if period_max is not None else period_low) * hours / low_f
            fields["interval_hours"] = _plain(shortest)
            paths["interval_hours"] = f"{path}.period"
            if longest != shortest:
                fields["interval_hours_max"] = _plain(longest)
                paths["interval_hours_max"] = f"{path}.periodMax"
        if ctx.flags[Inexact]:
            raise InvalidInputError(f"{path}.period", "does not give an exact interval in hours")


def _count_per_day(times: Sequence[object], events: Sequence[object], path: str) -> int | None:
    """Administrations per day named by timeOfDay or when (distinct entries), or None."""
    if times and events:
        raise InvalidInputError(f"{path}.when", "timeOfDay and when together are not read")
    if times:
        if not all(isinstance(t, str) for t in times):
            raise InvalidInputError(f"{path}.timeOfDay", "must be a list of times")
        return len(set(times))
    if events:
        for i, e in enumerate(events):
            if e not in _ONCE_A_DAY_EVENTS:
                raise InvalidInputError(
                    f"{path}.when[{i}]", "event code without a fixed count per day"
                )
        return len({str(e) for e in events})
    return None


def _as_needed(dosage: Mapping[str, object], path: str) -> bool:
    flag = dosage.get("asNeededBoolean")
    if flag is not None and not isinstance(flag, bool):
        raise InvalidInputError(f"{path}.asNeededBoolean", "must be true or false")
    if "asNeededCodeableConcept" in dosage:
        _object(dosage, "asNeededCodeableConcept", f"{path}.asNeededCodeableConcept")
        return True  # FHIR R4: a reason given means "as needed" for that reason
    return flag is True


def _max_per_period(
    dosage: Mapping[str, object], path: str, fields: _FhirFields, paths: dict[str, str]
) -> None:
    here = f"{path}.maxDosePerPeriod"
    ratio = _object(dosage, "maxDosePerPeriod", here)
    if ratio is None:
        return
    numerator = _object(ratio, "numerator", f"{here}.numerator")
    denominator = _object(ratio, "denominator", f"{here}.denominator")
    if numerator is None or denominator is None:
        raise InvalidInputError(here, "needs numerator and denominator")
    amount, unit = _quantity(numerator, f"{here}.numerator")
    dose_unit = fields.get("dose_unit")
    if not isinstance(dose_unit, str) or not _same_unit(unit, dose_unit):
        raise InvalidInputError(f"{here}.numerator", "unit must be the dose's unit")
    span = _decimal(denominator, "value", f"{here}.denominator.value")
    if span is None:
        raise InvalidInputError(f"{here}.denominator.value", "is required")
    code = _string(denominator, "code", f"{here}.denominator.code")
    word = _string(denominator, "unit", f"{here}.denominator.unit")
    key = _TIME_WORDS.get(code or "") or _TIME_WORDS.get((word or "").strip().casefold())
    if key is None:
        raise InvalidInputError(f"{here}.denominator", "must be a time (h, d, wk)")
    with localcontext() as ctx:
        ctx.prec = 60
        ctx.clear_flags()
        per_day = _plain(amount * Decimal(24) / (span * _HOURS[key]))
        if ctx.flags[Inexact]:
            raise InvalidInputError(f"{here}.denominator", "does not give an exact daily maximum")
    fields["max_quantity_per_day"] = per_day
    paths["max_quantity_per_day"] = here


# --- building the Prescription ---------------------------------------------------------------


def _build(
    medication: _Medication,
    *,
    fields: _FhirFields,
    paths: dict[str, str],
    dosage_path: str,
    catalogue: Catalogue | None,
    vocab: Vocabulary,
) -> Prescription:
    data = {**medication.fields, **fields}
    where = dict.fromkeys(("dmd_code", "product_name", "drug", "strength"), medication.path)
    where["form"] = medication.path
    where |= paths

    def relabel(exc: InvalidInputError) -> InvalidInputError:
        field, rule = exc.field.split(".")[0], exc.rule.removeprefix("(model): ")
        head, sep, tail = rule.partition(": ")
        if field == "(model)" and sep and head in where:  # a model-level rule names its field
            field, rule = head, tail
        return InvalidInputError(where.get(field, dosage_path), rule)

    try:
        rx = Prescription(**data)
    except InvalidInputError as exc:
        raise relabel(exc) from None
    try:  # contradictions (route vs form, dose unit vs strength) named at their FHIR path
        resolved = resolve_prescription(rx, vocab, catalogue)
    except InvalidInputError as exc:
        raise relabel(exc) from None
    if rx.dose_quantity is None:  # text only: the dosage grammar decides the rest
        return rx
    is_patch = resolved.strength is not None and resolved.strength.kind is StrengthKind.RATE
    has_schedule = any(
        getattr(rx, f) is not None
        for f in ("doses_per_day", "interval_hours", "max_doses_per_day", "max_quantity_per_day")
    )
    if not (is_patch or rx.prn or has_schedule):
        raise InvalidInputError(
            f"{dosage_path}.timing",
            "a regular dose needs a frequency (timing.repeat or a timing code)",
        )
    return rx


# --- bundles ---------------------------------------------------------------------------------

_BUNDLE_TYPES = frozenset({"searchset", "collection", "transaction", "batch"})


_BundleItem = tuple[str, Mapping[str, object] | None, str | None]
"""An entry's path, its resource (``None`` when it has none) and its ``fullUrl``."""


def _bundle_items(data: object) -> list[_BundleItem]:
    if isinstance(data, list):
        items: list[_BundleItem] = []
        for i, item in enumerate(data):
            if not isinstance(item, Mapping):
                raise InvalidInputError(f"[{i}]", "must be a JSON object (a FHIR resource)")
            if not isinstance(item.get("resourceType"), str):  # not a list of FHIR resources
                raise InvalidInputError(f"[{i}].resourceType", "is required (a string)")
            items.append((f"[{i}]", item, None))
        return items
    if not isinstance(data, Mapping):
        raise InvalidInputError(
            "input", "must be a FHIR Bundle, a MedicationRequest or a JSON list of them"
        )
    rtype = data.get("resourceType")
    if rtype == "MedicationRequest":
        return [("", data, None)]
    if rtype != "Bundle":
        raise InvalidInputError("resourceType", "must be Bundle or MedicationRequest")
    btype = data.get("type")
    if btype not in _BUNDLE_TYPES:
        raise InvalidInputError("type", "must be searchset, collection, transaction or batch")
    entries = _array(data, "entry", "entry")
    found: list[_BundleItem] = []
    for i, raw in enumerate(entries):
        entry = _as_object(raw, f"entry[{i}]")
        resource = _object(entry, "resource", f"entry[{i}].resource")
        full_url = _string(entry, "fullUrl", f"entry[{i}].fullUrl")
        found.append((f"entry[{i}].resource", resource, full_url))
    return found


# --- typed access to JSON --------------------------------------------------------------------


def _join(prefix: str, path: str) -> str:
    if not prefix:
        return path
    if not path or path == "(resource)":
        return prefix
    return f"{prefix}{path}" if path.startswith("[") else f"{prefix}.{path}"


def _as_object(value: object, path: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise InvalidInputError(path, "must be a JSON object")
    return value


def _object(parent: Mapping[str, object], key: str, path: str) -> Mapping[str, object] | None:
    value = parent.get(key)
    return None if value is None else _as_object(value, path)


def _array(parent: Mapping[str, object], key: str, path: str) -> Sequence[object]:
    value = parent.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidInputError(path, "must be a JSON array")
    return value


def _string(parent: Mapping[str, object], key: str, path: str) -> str | None:
    value = parent.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInputError(path, "must be a string")
    stripped = value.strip()
    return stripped or None


def _decimal(parent: Mapping[str, object], key: str, path: str) -> Decimal | None:
    """A JSON number (or numeral string, as read with ``parse_float=str``) as a Decimal."""
    value = parent.get(key)
    if value is None:
        return None
    number: Decimal
    if isinstance(value, bool):
        raise InvalidInputError(path, "must be a number")
    if isinstance(value, int | Decimal):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))  # the shortest decimal that reads back as this float
    elif isinstance(value, str) and _NUMERAL.match(value):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:  # pragma: no cover - the pattern admits only numerals
            raise InvalidInputError(path, "must be a number") from None
    else:
        raise InvalidInputError(path, "must be a number")
    if not number.is_finite() or number <= 0 or number > _MAX_DECIMAL:
        raise InvalidInputError(path, "must be a positive number of plausible size")
    return number


def _plain(value: Decimal) -> Decimal:
    """``value`` without trailing zeros and without an exponent (72.0 -> 72, 168 stays 168)."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def _same_unit(a: str, b: str) -> bool:
    """Whether two allow-listed unit spellings mean the same unit ("mg" and "milligrams")."""
    if _singular(a) == _singular(b):
        return True
    if a.strip() in COUNT_NOUNS or b.strip() in COUNT_NOUNS:
        return False
    try:
        return (unit_dimension(a), canonical_factor(a)) == (unit_dimension(b), canonical_factor(b))
    except InvalidInputError:  # pragma: no cover - both were checked against the allow-list
        return False


def _singular(noun: str) -> str:
    word = noun.strip()
    if word == "patches":
        return "patch"
    if word.endswith("s") and word[:-1] in COUNT_NOUNS:
        return word[:-1]
    return word


def _check_do_not_perform(resource: Mapping[str, object], path: str) -> None:
    """``doNotPerform`` must be a JSON boolean when present.

    fhir.resources coerces ``"true"`` and ``1`` to true; read as "not true", such an order would
    be counted as a dose although it says not to give the medicine (fail closed: refuse it).
    """
    value = resource.get("doNotPerform")
    if value is not None and not isinstance(value, bool):
        raise InvalidInputError(path, "must be a JSON boolean (true or false)")
