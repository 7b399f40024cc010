"""Hospital settings in the CDS Hooks service: FHIR R4 -> :class:`~opioidcds.AcuteEpisode`.

Which draft orders are hospital orders, and the inputs of the ``discharge`` and ``inpatient``
rulesets (:func:`opioidcds.check_episode`), read from the request with the codes and URLs of the
data file ``codelists/acute-fhir.toml`` (each cited). See ``docs/cdshooks.md``, "Hospital settings":

- setting of a draft order: its ``category`` (HL7 medicationrequest-category: discharge,
  inpatient; outpatient and community are primary care); without one, the class of the
  encounter in context (``context.encounterId`` and prefetch ``encounter``: IMP, ACUTE, NONAC
  are inpatient); otherwise primary care (the primary-care checks, unchanged);
- days' supply: ``dispenseRequest.expectedSupplyDuration`` (UCUM h, d or wk; part days round
  up, so a supply over the limit by any amount stays over it);
- opioid before admission, weaning plan, GP communication: the documented ``valueBoolean``
  extensions on a discharge order; an active opioid prescription categorised community or
  outpatient in prefetch ``medications`` also says "on opioids before admission". Absent:
  unknown, never false;
- other medicines at discharge: the names of the active prescriptions in prefetch
  ``medications`` (gabapentinoids are recognised by name);
- IV morphine boluses: prefetch ``administrations`` (MedicationAdministration): the drug by
  the ingredient vocabulary, the route by SNOMED CT, the start from ``effective[x]``, a bolus
  unless a ``rate[x]`` (an infusion) or the administration-kind extension says otherwise; an
  active IV morphine order (draft or in ``medications``) without a rate is an active bolus order.

Anything that cannot be read makes its input unknown and is listed as a :class:`Problem` (FHIR
path and a fixed sentence, never a value), so the service answers with "could not be checked"
cards rather than silence.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import tomllib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from opioidcds._decide.hospital import (
    AcuteEpisode,
    AdministrationKind,
    CareSetting,
    DischargePrescription,
    ParenteralAdministration,
    ParenteralRoute,
)
from opioidcds._errors import KnowledgeBaseError
from opioidcds._knowledge.files import MAX_KNOWLEDGE_FILE_BYTES
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds._knowledge.products import MedicineClass, classify_medicine
from opioidcds._knowledge.vocabulary import Vocabulary
from opioidcds.cdshooks.record import DraftItem, Problem, medication_label

__all__ = [
    "AcuteMapping",
    "AcuteRead",
    "default_acute_mapping",
    "load_acute_mapping",
    "read_acute",
]

_WORD = re.compile(r"[a-z]+")
_ISO_AWARE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


class _Category(_Model):
    system: str
    citations: tuple[str, ...] = Field(min_length=1)
    codes: dict[str, Literal["discharge", "inpatient", "primary-care"]]


class _EncounterClass(_Model):
    system: str
    citations: tuple[str, ...] = Field(min_length=1)
    inpatient: tuple[str, ...] = Field(min_length=1)


class _Routes(_Model):
    system: str
    citations: tuple[str, ...] = Field(min_length=1)
    codes: dict[str, ParenteralRoute]


class _Administrations(_Model):
    citations: tuple[str, ...] = Field(min_length=1)
    counted_statuses: tuple[str, ...] = Field(min_length=1)
    kind_extension: str = Field(pattern=r"^(urn:|https?://)")


class _SupplyDuration(_Model):
    system: str
    citations: tuple[str, ...] = Field(min_length=1)
    hours: dict[str, int]


class _Extensions(_Model):
    citations: tuple[str, ...] = Field(min_length=1)
    opioid_before_admission: str = Field(pattern=r"^(urn:|https?://)")
    weaning_plan_recorded: str = Field(pattern=r"^(urn:|https?://)")
    gp_communication_recorded: str = Field(pattern=r"^(urn:|https?://)")


class AcuteMapping(_Model):
    """The validated ``codelists/acute-fhir.toml``: codes and URLs for the hospital settings."""

    kind: Literal["fhir-mapping"]
    id: str = Field(min_length=1)
    version: str = Field(min_length=1)
    effective_date: dt.date
    owner: str = Field(min_length=1)
    reviewer: str = Field(min_length=1)
    citations: dict[str, str]
    category: _Category
    encounter_class: _EncounterClass
    routes: _Routes
    administrations: _Administrations
    supply_duration: _SupplyDuration
    extensions: _Extensions

    @model_validator(mode="after")
    def _cited(self) -> AcuteMapping:
        parts: Sequence[tuple[str, tuple[str, ...]]] = [
            ("category", self.category.citations),
            ("encounter_class", self.encounter_class.citations),
            ("routes", self.routes.citations),
            ("administrations", self.administrations.citations),
            ("supply_duration", self.supply_duration.citations),
            ("extensions", self.extensions.citations),
        ]
        for name, cites in parts:
            for cid in cites:
                if cid not in self.citations:
                    raise ValueError(f"{name} cites unknown citation '{cid}'")
        return self


def load_acute_mapping(path: str | Path | None = None) -> AcuteMapping:
    """Load the mapping file (default: the bundled ``codelists/acute-fhir.toml``).

    Raises:
        KnowledgeBaseError: missing, not TOML, unknown keys or dangling citations.
    """
    file = Path(path) if path is not None else knowledge_dir("codelists") / "acute-fhir.toml"
    try:
        if file.stat().st_size > MAX_KNOWLEDGE_FILE_BYTES:
            raise KnowledgeBaseError(f"{file.name}: file too large")
        with file.open("rb") as fh:
            data = tomllib.load(fh)
        return AcuteMapping.model_validate(data)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise KnowledgeBaseError(f"{file.name}: cannot read ({type(exc).__name__})") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise KnowledgeBaseError(f"{file.name}: {loc}: {err['msg']}") from None


@cache
def default_acute_mapping() -> AcuteMapping:
    """The bundled mapping, loaded once."""
    return load_acute_mapping()


@dataclass(frozen=True, slots=True)
class AcuteRead:
    """What the request says for the hospital checks.

    ``settings`` maps each draft order's index to its setting (primary-care orders are absent).
    ``discharge`` / ``inpatient`` are the episodes to check (None: no such order).
    ``problems`` are the parts that could not be read (their inputs are unknown).
    ``administrations_incomplete``: some administration could not be read, so the inpatient
    episode holds only the readable ones (an alert they fire stands: more administrations never
    remove it; no alert means "could not be checked").
    ``unread_orders``: discharge orders whose medicine or dose could not be read (left out).
    """

    settings: Mapping[int, CareSetting]
    discharge: AcuteEpisode | None
    inpatient: AcuteEpisode | None
    problems: tuple[Problem, ...]
    unread_orders: tuple[int, ...]
    administrations_incomplete: bool


# --- small readers -----------------------------------------------------------------------------


def _entries(value: object) -> list[tuple[int, Mapping[str, object]]]:
    """``(index, resource)`` of a Bundle's entries (the caller validated the Bundle shape)."""
    if not isinstance(value, Mapping):
        return []
    entries = value.get("entry")
    out: list[tuple[int, Mapping[str, object]]] = []
    if isinstance(entries, list):
        for i, entry in enumerate(entries):
            resource = entry.get("resource") if isinstance(entry, Mapping) else None
            if isinstance(resource, Mapping):
                out.append((i, resource))
    return out


def _codings(concept: object) -> list[Mapping[str, object]]:
    if not isinstance(concept, Mapping):
        return []
    codings = concept.get("coding")
    return [c for c in codings if isinstance(c, Mapping)] if isinstance(codings, list) else []


def _order_setting(resource: Mapping[str, object], mapping: AcuteMapping) -> CareSetting | None:
    """The setting the order's category states (None: no category of the mapped system)."""
    found: set[str] = set()
    categories = resource.get("category")
    for concept in categories if isinstance(categories, list) else ():
        for c in _codings(concept):
            code = c.get("code")
            if c.get("system") == mapping.category.system and isinstance(code, str):
                setting = mapping.category.codes.get(code)
                if setting is not None:
                    found.add(setting)
    for setting in ("discharge", "inpatient", "primary-care"):  # the most specific wins
        if setting in found:
            return CareSetting(setting)
    return None


def _encounter_inpatient(
    context: Mapping[str, object], prefetch: Mapping[str, object | None], mapping: AcuteMapping
) -> bool:
    encounter_id = context.get("encounterId")
    resource = prefetch.get("encounter")
    if not isinstance(encounter_id, str) or not isinstance(resource, Mapping):
        return False
    if resource.get("resourceType") != "Encounter" or resource.get("id") != encounter_id:
        return False
    cls = resource.get("class")
    return (
        isinstance(cls, Mapping)
        and cls.get("system") == mapping.encounter_class.system
        and cls.get("code") in mapping.encounter_class.inpatient
    )


def _extension_bool(resource: Mapping[str, object], url: str) -> bool | None:
    extensions = resource.get("extension")
    for ext in extensions if isinstance(extensions, list) else ():
        if isinstance(ext, Mapping) and ext.get("url") == url:
            value = ext.get("valueBoolean")
            return value if isinstance(value, bool) else None
    return None


def _days_supply(
    resource: Mapping[str, object], path: str, mapping: AcuteMapping
) -> tuple[int | None, Problem | None]:
    dispense = resource.get("dispenseRequest")
    duration = dispense.get("expectedSupplyDuration") if isinstance(dispense, Mapping) else None
    if duration is None:
        return None, None
    where = f"{path}.dispenseRequest.expectedSupplyDuration"
    if not isinstance(duration, Mapping):
        return None, Problem(where, "must be a Duration")
    system = duration.get("system")
    code = duration.get("code") if system in (None, mapping.supply_duration.system) else None
    if code is None:
        code = duration.get("unit")
    hours = mapping.supply_duration.hours.get(code) if isinstance(code, str) else None
    value = duration.get("value")
    if hours is None:
        return None, Problem(where, "unit not read (send UCUM h, d or wk)")
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        return None, Problem(f"{where}.value", "must be a positive number")
    days = Decimal(repr(value)) * hours / 24
    if days > 3660:  # beyond ten years: not a supply; not clinical, a sanity bound
        return None, Problem(f"{where}.value", "implausible")
    return math.ceil(days), None


def _names_morphine(label: str, vocabulary: Vocabulary) -> bool | None:
    """True if ``label`` names morphine, False if it names other drugs only, None if none."""
    found: set[str] = set()
    for word in _WORD.findall(label.lower()):
        drugs = vocabulary.find_drug(word)
        if drugs:
            found.update(drugs)
    if not found:
        return None
    return "morphine" in found


def _opioid_named(label: str, vocabulary: Vocabulary) -> bool:
    if MedicineClass.OPIOID in classify_medicine(label):
        return True
    for word in _WORD.findall(label.lower()):
        drugs = vocabulary.find_drug(word)
        if drugs and any(vocabulary.is_opioid(d) for d in drugs):
            return True
    return False


def _route(
    concept: object, mapping: AcuteMapping
) -> tuple[ParenteralRoute | None, Literal["parenteral", "other", "missing"]]:
    codings = _codings(concept)
    for c in codings:
        code = c.get("code")
        if c.get("system") == mapping.routes.system and isinstance(code, str):
            route = mapping.routes.codes.get(code)
            if route is not None:
                return route, "parenteral"
    if any(c.get("system") == mapping.routes.system for c in codings):
        return None, "other"
    return None, "missing"


def _start(resource: Mapping[str, object]) -> dt.datetime | None:
    value = resource.get("effectiveDateTime")
    period = resource.get("effectivePeriod")
    if value is None and isinstance(period, Mapping):
        value = period.get("start")
    if not isinstance(value, str) or not _ISO_AWARE.match(value):
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _administration(  # noqa: PLR0911 - one early answer per reason to skip or refuse
    resource: Mapping[str, object], path: str, mapping: AcuteMapping, vocabulary: Vocabulary
) -> tuple[ParenteralAdministration | None, Problem | None]:
    """One MedicationAdministration: an administration, nothing (not relevant), or a problem."""
    status = resource.get("status")
    if status not in mapping.administrations.counted_statuses:
        return None, None
    label = medication_label(resource)
    if not _opioid_named(label, vocabulary):
        if label == "medication":
            return None, Problem(f"{path}.medicationCodeableConcept", "medicine not named")
        return None, None  # names no opioid (paracetamol, ...): not relevant here
    dosage = resource.get("dosage")
    dosage = dosage if isinstance(dosage, Mapping) else {}
    route, kind = _route(dosage.get("route"), mapping)
    if kind == "other":
        return None, None  # a coded non-parenteral route (oral, ...)
    if route is None:
        return None, Problem(f"{path}.dosage.route", "no coded route: parenteral or not unknown")
    start = _start(resource)
    if start is None:
        return None, Problem(
            f"{path}.effectiveDateTime", "missing, or not a full date-time with a time zone"
        )
    given_kind = AdministrationKind.INFUSION if _has_rate(dosage) else AdministrationKind.BOLUS
    extensions = resource.get("extension")
    for ext in extensions if isinstance(extensions, list) else ():
        if isinstance(ext, Mapping) and ext.get("url") == mapping.administrations.kind_extension:
            try:
                given_kind = AdministrationKind(str(ext.get("valueCode")))
            except ValueError:
                return None, Problem(f"{path}.extension", "administration kind not understood")
    drug = "morphine" if _names_morphine(label, vocabulary) else _first_drug(label, vocabulary)
    if drug is None:  # pragma: no cover - an opioid was named, so some drug was found
        return None, Problem(f"{path}.medicationCodeableConcept", "medicine not recognised")
    return ParenteralAdministration(drug=drug, route=route, kind=given_kind, start=start), None


def _first_drug(label: str, vocabulary: Vocabulary) -> str | None:
    for word in _WORD.findall(label.lower()):
        drugs = vocabulary.find_drug(word)
        if drugs:
            return drugs[0]
    return None


def _has_rate(dosage: Mapping[str, object]) -> bool:
    return any(k in dosage for k in ("rateQuantity", "rateRatio", "rateRange"))


def _iv_morphine_order(
    resource: Mapping[str, object], mapping: AcuteMapping, vocabulary: Vocabulary
) -> bool:
    if resource.get("status") not in ("active", "draft"):
        return False
    if _names_morphine(medication_label(resource), vocabulary) is not True:
        return False
    dosages = resource.get("dosageInstruction")
    for dosage in dosages if isinstance(dosages, list) else ():
        if not isinstance(dosage, Mapping):
            continue
        route, _kind = _route(dosage.get("route"), mapping)
        rates = dosage.get("doseAndRate")
        rated = isinstance(rates, list) and any(
            isinstance(r, Mapping) and _has_rate(r) for r in rates
        )
        if route is ParenteralRoute.INTRAVENOUS and not rated:
            return True
    return False


# --- the request -------------------------------------------------------------------------------


def _tri(values: Sequence[bool | None]) -> bool | None:
    """False if any says false; True if some say true and none false; None if none say."""
    said = [v for v in values if v is not None]
    if not said:
        return None
    return all(said)


def read_acute(
    context: Mapping[str, object],
    prefetch: Mapping[str, object | None] | None,
    drafts: Sequence[DraftItem],
    *,
    mapping: AcuteMapping,
    vocabulary: Vocabulary,
    now: dt.datetime,
    considered: Collection[int] | None = None,
) -> AcuteRead:
    """Read the hospital settings and episodes of a request (after :func:`read_record`).

    ``drafts`` are the prescriptions read from the draft orders (by order index); the raw
    resources are read again here for category, supply and extensions. ``considered`` are the
    order indexes the hook checks (order-select: the selected ones; None: all).
    """
    pre = dict(prefetch or {})
    orders = [
        (i, r)
        for i, r in _entries(context.get("draftOrders"))
        if considered is None or i in considered
    ]
    inpatient_encounter = _encounter_inpatient(context, pre, mapping)
    settings: dict[int, CareSetting] = {}
    for i, resource in orders:
        if resource.get("resourceType") != "MedicationRequest":
            continue
        setting = _order_setting(resource, mapping)
        if setting is None and inpatient_encounter:
            setting = CareSetting.INPATIENT
        if setting is not None and setting is not CareSetting.PRIMARY_CARE:
            settings[i] = setting
    if not settings:
        return AcuteRead({}, None, None, (), (), administrations_incomplete=False)
    problems: list[Problem] = []
    medications = [r for _i, r in _entries(pre.get("medications"))]
    active = [
        r
        for r in medications
        if r.get("resourceType") == "MedicationRequest"
        and r.get("status") == "active"
        and r.get("doNotPerform") is not True
    ]
    discharge = None
    by_index = dict(orders)
    discharge_orders = [i for i, s in settings.items() if s is CareSetting.DISCHARGE]
    if discharge_orders:
        discharge = _discharge_episode(
            discharge_orders, by_index, drafts, active, mapping, vocabulary, now, problems
        )
    inpatient = None
    incomplete = False
    if CareSetting.INPATIENT in settings.values():
        inpatient, incomplete = _inpatient_episode(
            pre, [by_index[i] for i in settings], active, mapping, vocabulary, now, problems
        )
    read_orders = {d.order_index for d in drafts}
    unread = tuple(i for i in discharge_orders if i not in read_orders)
    return AcuteRead(
        settings,
        discharge,
        inpatient,
        tuple(problems),
        unread,
        administrations_incomplete=incomplete,
    )


def _discharge_episode(  # noqa: PLR0917 - the parts of a request a discharge check reads
    order_indexes: Sequence[int],
    by_index: Mapping[int, Mapping[str, object]],
    drafts: Sequence[DraftItem],
    active: Sequence[Mapping[str, object]],
    mapping: AcuteMapping,
    vocabulary: Vocabulary,
    now: dt.datetime,
    problems: list[Problem],
) -> AcuteEpisode:
    ext = mapping.extensions
    prescriptions: list[DischargePrescription] = []
    before: list[bool | None] = []
    weaning: list[bool | None] = []
    gp: list[bool | None] = []
    for i in order_indexes:
        resource = by_index[i]
        path = f"context.draftOrders.entry[{i}].resource"
        days, problem = _days_supply(resource, path, mapping)
        if problem is not None:
            problems.append(problem)
        prescriptions.extend(
            DischargePrescription(prescription=d.prescription, days_supply=days)
            for d in drafts
            if d.order_index == i
        )
        before.append(_extension_bool(resource, ext.opioid_before_admission))
        weaning.append(_extension_bool(resource, ext.weaning_plan_recorded))
        gp.append(_extension_bool(resource, ext.gp_communication_recorded))
    for resource in active:  # an active community/outpatient opioid: on opioids before admission
        setting = _order_setting(resource, mapping)
        if setting is CareSetting.PRIMARY_CARE and _opioid_named(
            medication_label(resource), vocabulary
        ):
            before.append(True)
    return AcuteEpisode(
        care_setting=CareSetting.DISCHARGE,
        assessment_time=now,
        opioid_before_admission=True if True in before else _tri(before),
        discharge_prescriptions=tuple(prescriptions),
        other_medicines=tuple(medication_label(r) for r in active),
        weaning_plan_recorded=_tri(weaning),
        gp_communication_recorded=_tri(gp),
    )


def _inpatient_episode(  # noqa: PLR0917 - the parts of a request an inpatient check reads
    pre: Mapping[str, object | None],
    orders: Sequence[Mapping[str, object]],
    active: Sequence[Mapping[str, object]],
    mapping: AcuteMapping,
    vocabulary: Vocabulary,
    now: dt.datetime,
    problems: list[Problem],
) -> tuple[AcuteEpisode, bool]:
    administrations: list[ParenteralAdministration] | None = None
    unknown = False
    if pre.get("administrations") is not None:
        administrations = []
        for i, resource in _entries(pre["administrations"]):
            if resource.get("resourceType") != "MedicationAdministration":
                continue
            path = f"prefetch.administrations.entry[{i}].resource"
            admin, problem = _administration(resource, path, mapping, vocabulary)
            if problem is not None:
                problems.append(problem)
                unknown = True
            elif admin is not None:
                if admin.start > now:
                    problems.append(Problem(f"{path}.effectiveDateTime", "is in the future"))
                    unknown = True
                else:
                    administrations.append(admin)
    order_active = any(_iv_morphine_order(r, mapping, vocabulary) for r in (*orders, *active))
    episode = AcuteEpisode(
        care_setting=CareSetting.INPATIENT,
        assessment_time=now,
        parenteral_administrations=None if administrations is None else tuple(administrations),
        iv_morphine_bolus_order_active=order_active,
    )
    return episode, unknown
