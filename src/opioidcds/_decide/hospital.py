"""Hospital (acute-trust) checks: discharge prescriptions and IV morphine boluses.

The "hospital bundle" of the NHS England analysis of opioid-reduction programmes (2023;
De-escalate stage) as two rulesets of the rules DSL,
``rules/discharge.toml`` and ``rules/inpatient.toml``. This module describes an admission as an
:class:`AcuteEpisode`, derives the rulesets' inputs from it (OME from
:func:`~opioidcds.calculate_ome`, modified-release from the dm+d catalogue or the forms
vocabulary, gabapentinoids from :func:`~opioidcds.classify_medicine`) and returns the
alerts with their basis. It is a sibling of the primary-care assessment, not part of it.

Unknown is not absent: every tri-state input left ``None`` is *unknown*, and a rule that an
unknown could change is reported in ``cannot_evaluate`` with the episode fields that would
decide it, never as a silent "no alert". See ``docs/acute.md``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import ROUND_CEILING, Context, Decimal, localcontext
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Literal, Self

from pydantic import AwareDatetime, Field, StrictBool, StrictInt, model_validator

from opioidcds._base import InputModel, ResultModel
from opioidcds._decide.knowledge import default_knowledge, rule_sources
from opioidcds._decide.profile_notes import ProfileSummary, profile_summary
from opioidcds._decide.rules import (
    Citation,
    Decision,
    DecisionReport,
    Decisions,
    Profile,
    Ruleset,
    Stage,
    load_profile,
    load_ruleset,
)
from opioidcds._display import most_serious_first
from opioidcds._errors import InvalidInputError, UnknownProductError
from opioidcds._inputs.prescription import Prescription
from opioidcds._knowledge.products import (
    Catalogue,
    MedicineClass,
    classify_medicine,
    load_catalogue,
)
from opioidcds._knowledge.provenance import (
    Provenance,
    bundled_catalogue_if,
    knowledge_provenance,
    names_a_product,
)
from opioidcds._knowledge.tables import ConversionTable, default_table
from opioidcds._knowledge.vocabulary import Vocabulary, default_vocabulary
from opioidcds._measure.ome import calculate_ome
from opioidcds._measure.results import OMEResult
from opioidcds._resolve.prescription import resolve_prescription
from opioidcds._version import __version__

__all__ = [
    "AcuteAlert",
    "AcuteCheck",
    "AcuteEpisode",
    "AdministrationKind",
    "Backend",
    "CareSetting",
    "DischargeCheck",
    "DischargePrescription",
    "InpatientCheck",
    "ParenteralAdministration",
    "ParenteralRoute",
    "PrescriptionBasis",
    "UnevaluatedRule",
    "check_discharge",
    "check_episode",
    "check_inpatient",
    "discharge_inputs",
    "discharge_ruleset",
    "inpatient_inputs",
    "inpatient_ruleset",
]

Backend = Literal["reference", "durable"]
"""Which engine evaluates the rules: the pure-Python reference, or durable-rules."""

_TEXT_MAX = 500  # longest free-text field accepted (a medicine name); not clinical
_MAX_ITEMS = 200  # most prescriptions or administrations in one episode; not clinical
_HOURS_PLACES = Decimal("0.000001")  # durations are rounded *up* to 1e-6 h; not clinical
_MICROSECONDS_PER_HOUR = Decimal(3_600_000_000)  # a unit conversion, not clinical
_CONTEXT = Context(prec=60)


class CareSetting(StrEnum):
    """Where the patient is when the check runs."""

    PRIMARY_CARE = "primary-care"
    INPATIENT = "inpatient"
    DISCHARGE = "discharge"


class ParenteralRoute(StrEnum):
    """Route of a parenteral administration."""

    INTRAVENOUS = "intravenous"
    SUBCUTANEOUS = "subcutaneous"
    INTRAMUSCULAR = "intramuscular"


class AdministrationKind(StrEnum):
    """How a parenteral dose was given. Only ``bolus`` counts for the IV morphine rule."""

    BOLUS = "bolus"
    """A single dose pushed by a nurse or doctor (the hospital bundle's 'IV morphine bolus')."""
    INFUSION = "infusion"
    """A continuous infusion (not a bolus)."""
    PCA = "pca"
    """Patient-controlled analgesia: governed by the PCA protocol, not counted as a bolus."""


class DischargePrescription(InputModel):
    """One medicine on the discharge prescription (TTO) and how many days it supplies.

    ``prescription`` may be any medicine (opioids, gabapentinoids, others); opioid, modified-
    release and gabapentinoid status come from the catalogue and vocabulary, never from here.
    ``days_supply`` is the number of days the supplied quantity lasts at the prescribed dose
    (a whole number of at least 1; ``None`` when not recorded, which is *unknown*).
    """

    prescription: Prescription
    days_supply: StrictInt | None = Field(default=None, ge=1)


class ParenteralAdministration(InputModel):
    """One recorded parenteral opioid administration (from the drug chart / EPMA).

    ``drug`` is an ingredient name the vocabulary knows ("morphine", "morphine sulfate",
    "diamorphine"); ``start`` must be timezone-aware (ISO 8601 with an offset, e.g.
    ``2026-11-20T08:00:00+00:00``): naive times are refused because a clock change would shift
    the 48-hour window by an hour.
    """

    drug: str = Field(min_length=1, max_length=_TEXT_MAX)
    route: ParenteralRoute
    kind: AdministrationKind
    start: AwareDatetime


class AcuteEpisode(InputModel):
    """A hospital episode as the acute checks see it.

    Tri-state fields (``None`` = not recorded = *unknown*, never read as false):

    * ``opioid_before_admission``: true if the patient was on opioids before this admission
      (established), false if opioid-naive (the opioid was newly started in hospital).
    * ``weaning_plan_recorded``, ``gp_communication_recorded``: whether a weaning plan for the
      opioid is recorded, and whether it (or the opioid plan) was communicated to the GP.
    * ``other_medicines``: names of other medicines the patient takes after discharge that
      are not in ``discharge_prescriptions`` (e.g. "Pregabalin 75mg capsules"); ``None`` when
      the list was not supplied, ``[]`` when it is known to be empty.
    * ``parenteral_administrations``: ``None`` when not supplied, ``[]`` when none were given.
    * ``iv_morphine_bolus_order_active``: an IV morphine bolus order is still active at
      ``assessment_time``.

    ``assessment_time`` (timezone-aware) is when the check runs; it is required for the
    inpatient check, and every administration must start at or before it.

    Raises:
        InvalidInputError: a wrong type, a naive datetime, days' supply below 1, an
            administration after the assessment time, or a missing assessment time for an
            inpatient episode. The message names fields, never values.
    """

    care_setting: CareSetting
    assessment_time: AwareDatetime | None = None
    opioid_before_admission: StrictBool | None = None
    discharge_prescriptions: tuple[DischargePrescription, ...] = Field(
        default=(), max_length=_MAX_ITEMS
    )
    other_medicines: tuple[str, ...] | None = Field(default=None, max_length=_MAX_ITEMS)
    parenteral_administrations: tuple[ParenteralAdministration, ...] | None = Field(
        default=None, max_length=_MAX_ITEMS
    )
    iv_morphine_bolus_order_active: StrictBool | None = None
    weaning_plan_recorded: StrictBool | None = None
    gp_communication_recorded: StrictBool | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        for i, name in enumerate(self.other_medicines or ()):
            if not name or len(name) > _TEXT_MAX:
                raise InvalidInputError(
                    f"other_medicines[{i}]", f"must be 1 to {_TEXT_MAX} characters"
                )
        if self.care_setting is CareSetting.INPATIENT and self.assessment_time is None:
            raise InvalidInputError("assessment_time", "is required for an inpatient episode")
        if self.assessment_time is not None:
            for i, admin in enumerate(self.parenteral_administrations or ()):
                if admin.start > self.assessment_time:
                    raise InvalidInputError(
                        f"parenteral_administrations[{i}].start",
                        "is after assessment_time (times in the wrong order)",
                    )
        return self


# --- results ----------------------------------------------------------------------------------


class AcuteAlert(ResultModel):
    """One alert: a rule that fired, with its outcome, citations and trace."""

    rule_id: str
    title: str | None
    stage: Stage
    severity: str
    summary: str
    detail: str
    action: str
    citations: tuple[Citation, ...]
    rationale: str
    trace: tuple[str, ...]


class UnevaluatedRule(ResultModel):
    """A rule the check could not decide: which ruleset inputs and episode fields it needs.

    ``unknown_inputs`` are the ruleset's input names; ``missing`` names the episode fields
    (or the condition, such as an unconverted prescription) that would decide it, for the
    software that sends them; ``unknown_labels`` are the unknown inputs' labels (the
    ruleset's display names), for people.
    """

    rule_id: str
    title: str | None
    unknown_inputs: tuple[str, ...]
    missing: tuple[str, ...]
    trace: tuple[str, ...]
    unknown_labels: tuple[str, ...] = ()


class PrescriptionBasis(ResultModel):
    """What the check derived about one discharge prescription, and from where.

    ``opioid``, ``modified_release`` and ``gabapentinoid`` are ``None`` when not derivable
    (an unrecognised name or form); ``modified_release_source`` says which knowledge file
    decided (``"dm+d catalogue"`` or ``"forms vocabulary"``).
    """

    index: int
    label: str
    opioid: bool | None
    gabapentinoid: bool
    benzodiazepine: bool = False
    z_drug: bool = False
    modified_release: bool | None
    modified_release_source: str | None
    days_supply: int | None


class AcuteCheck(ResultModel):
    """What an acute check returns: alerts, undecided rules and the basis of both.

    ``alerts`` are most serious first (critical, warning, info), in the ruleset's file order
    within a severity. ``complete`` is true when every rule was decided (``cannot_evaluate``
    is empty). ``inputs`` are the ruleset inputs derived from the episode (``None`` =
    unknown), as strings for numbers so nothing is rounded. ``provenance`` names every
    knowledge source used (ruleset, profile, and for a discharge the table, vocabulary,
    catalogue and medicine classes; for an inpatient check the vocabulary), with a content
    hash of them all.
    """

    care_setting: CareSetting
    alerts: tuple[AcuteAlert, ...]
    cannot_evaluate: tuple[UnevaluatedRule, ...]
    complete: bool
    unknown_inputs: tuple[str, ...]
    inputs: dict[str, bool | str | None]
    ruleset_id: str
    ruleset_version: str
    profile_id: str | None
    profile_version: str | None
    backend: str
    decisions: DecisionReport
    library_version: str
    provenance: Provenance
    profile_summary: ProfileSummary | None = None
    """The local profile in force and what it changed, in words (``None``: no profile)."""


class DischargeCheck(AcuteCheck):
    """Result of :func:`check_discharge`: adds the OME basis and each prescription's basis.

    ``ome`` covers the discharge prescriptions that are (or may be) opioids; its item
    ``prescription_index`` values are positions in ``episode.discharge_prescriptions``.
    """

    ome: OMEResult
    prescriptions: tuple[PrescriptionBasis, ...]


class InpatientCheck(AcuteCheck):
    """Result of :func:`check_inpatient`: adds the IV morphine bolus times it used."""

    first_iv_morphine_bolus: dt.datetime | None
    latest_iv_morphine_bolus: dt.datetime | None
    iv_morphine_bolus_count: int | None


# --- rulesets ---------------------------------------------------------------------------------


@cache
def discharge_ruleset() -> Ruleset:
    """The bundled ``rules/discharge.toml``, loaded and checked once per process (immutable)."""
    from opioidcds._knowledge.paths import knowledge_dir  # noqa: PLC0415 - cheap, lazy

    return load_ruleset(knowledge_dir("rules") / "discharge.toml")


@cache
def inpatient_ruleset() -> Ruleset:
    """The bundled ``rules/inpatient.toml``, loaded and checked once per process (immutable)."""
    from opioidcds._knowledge.paths import knowledge_dir  # noqa: PLC0415 - cheap, lazy

    return load_ruleset(knowledge_dir("rules") / "inpatient.toml")


# --- deriving the ruleset inputs --------------------------------------------------------------


def _kleene_and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


def _kleene_any(values: Iterable[bool | None]) -> bool | None:
    result: bool | None = False
    for v in values:
        if v is True:
            return True
        if v is None:
            result = None
    return result


def _basis(
    index: int, item: DischargePrescription, vocab: Vocabulary, catalogue: Catalogue | None
) -> PrescriptionBasis:
    rx = item.prescription
    names = [n for n in (rx.product_name, rx.drug) if n]
    classes: frozenset[MedicineClass] = frozenset().union(*(classify_medicine(n) for n in names))
    try:
        resolved = resolve_prescription(rx, vocab, catalogue)
    except InvalidInputError as exc:
        field = f"discharge_prescriptions[{index}].prescription.{exc.field}"
        raise InvalidInputError(field, exc.rule) from None
    except UnknownProductError:
        # the dm+d catalogue holds opioids only: a product it lacks that is named as a known
        # non-opioid class (e.g. "Pregabalin 75mg capsules") is that medicine, not an error
        if not classes or MedicineClass.OPIOID in classes:
            raise
        return PrescriptionBasis(
            index=index,
            label=rx.product_name or rx.drug or "",
            opioid=False,
            gabapentinoid=MedicineClass.GABAPENTINOID in classes,
            benzodiazepine=MedicineClass.BENZODIAZEPINE in classes,
            z_drug=MedicineClass.Z_DRUG in classes,
            modified_release=None,
            modified_release_source=None,
            days_supply=item.days_supply,
        )
    opioid: bool | None
    if resolved.problem is None:
        opioid = any(ing.opioid for ing in resolved.ingredients)
    elif MedicineClass.OPIOID in classes:
        opioid = True
    elif classes:
        opioid = False  # a recognised non-opioid class (gabapentinoid, benzodiazepine, ...)
    else:
        opioid = None  # not recognised: could be an opioid
    modified_release: bool | None = None
    source: str | None = None
    if rx.dmd_code is not None or rx.product_name is not None:
        cat = catalogue if catalogue is not None else load_catalogue()
        product = cat.by_code(rx.dmd_code) if rx.dmd_code is not None else None
        if product is None and rx.product_name is not None:
            product = cat.by_name(rx.product_name)
        if product is not None:
            modified_release, source = product.modified_release, "dm+d catalogue"
    elif resolved.form is not None:
        modified_release, source = resolved.form.modified_release, "forms vocabulary"
    return PrescriptionBasis(
        index=index,
        label=resolved.label,
        opioid=opioid,
        gabapentinoid=MedicineClass.GABAPENTINOID in classes,
        benzodiazepine=MedicineClass.BENZODIAZEPINE in classes,
        z_drug=MedicineClass.Z_DRUG in classes,
        modified_release=modified_release,
        modified_release_source=source,
        days_supply=item.days_supply,
    )


def _measure(
    episode: AcuteEpisode,
    *,
    table: ConversionTable | str | None,
    vocabulary: Vocabulary | None,
    catalogue: Catalogue | None,
) -> tuple[tuple[PrescriptionBasis, ...], OMEResult]:
    vocab = vocabulary if vocabulary is not None else default_vocabulary()
    bases = tuple(
        _basis(i, item, vocab, catalogue) for i, item in enumerate(episode.discharge_prescriptions)
    )
    # OME over the prescriptions that are or may be opioids: an unrecognised one is then "not
    # convertible" and the total a lower bound (fail closed), a known non-opioid is left out.
    positions = [b.index for b in bases if b.opioid is not False]
    rxs = [episode.discharge_prescriptions[i].prescription for i in positions]
    try:
        ome = calculate_ome(rxs, table=table, vocabulary=vocab, catalogue=catalogue)
    except InvalidInputError as exc:
        field = exc.field
        if field.startswith("prescriptions["):
            sub = int(field[len("prescriptions[") : field.index("]")])
            rest = field[field.index("]") + 1 :]
            field = f"discharge_prescriptions[{positions[sub]}].prescription{rest}"
        elif field == "prescriptions":  # a limit over several prescriptions together
            field = "discharge_prescriptions"
        error = InvalidInputError(field, exc.rule)
        raise error from None
    items = tuple(
        item.model_copy(update={"prescription_index": positions[item.prescription_index]})
        for item in ome.items
    )
    return bases, ome.model_copy(update={"items": items})


def discharge_inputs(
    episode: AcuteEpisode,
    *,
    table: ConversionTable | str | None = None,
    vocabulary: Vocabulary | None = None,
    catalogue: Catalogue | None = None,
) -> tuple[dict[str, object], tuple[PrescriptionBasis, ...], OMEResult]:
    """Derive the ``discharge`` ruleset's inputs from ``episode`` (see ``docs/acute.md``).

    Returns:
        The inputs (``None`` = unknown), each discharge prescription's basis, and the OME.

    Raises:
        InvalidInputError: a prescription is contradictory or implausible (field path named).
        UnknownProductError: a ``dmd_code`` or ``product_name`` is not in the catalogue.
    """
    bases, ome = _measure(episode, table=table, vocabulary=vocabulary, catalogue=catalogue)
    opioid_flags = [b.opioid for b in bases]
    known_opioids = [b for b in bases if b.opioid is True]
    known_days = [b.days_supply for b in known_opioids if b.days_supply is not None]
    all_days = (
        len(known_days) == len(known_opioids) and None not in opioid_flags and bool(known_days)
    )
    other = episode.other_medicines

    def at_discharge(cls: MedicineClass, found: bool) -> bool | None:
        """Present in a discharge prescription or another medicine.

        Absent only when the other medicines were supplied (unknown is not absent).
        """
        if found or any(cls in classify_medicine(n) for n in other or ()):
            return True
        return None if other is None else False

    gabapentinoid = at_discharge(MedicineClass.GABAPENTINOID, any(b.gabapentinoid for b in bases))
    before = episode.opioid_before_admission
    inputs: dict[str, object] = {
        "opioid_at_discharge": _kleene_any(opioid_flags),
        "newly_started": None if before is None else not before,
        "longest_days_supply": max(known_days) if all_days else None,
        "longest_known_days_supply": max(known_days) if known_days else None,
        "modified_release_opioid": _kleene_any(
            _kleene_and(b.opioid, b.modified_release) for b in bases
        ),
        "gabapentinoid_at_discharge": gabapentinoid,
        "benzodiazepine_at_discharge": at_discharge(
            MedicineClass.BENZODIAZEPINE, any(b.benzodiazepine for b in bases)
        ),
        "z_drug_at_discharge": at_discharge(MedicineClass.Z_DRUG, any(b.z_drug for b in bases)),
        "weaning_plan_recorded": episode.weaning_plan_recorded,
        "gp_communication_recorded": episode.gp_communication_recorded,
        "total_ome_mg_per_day": ome.total_mg_per_day if ome.complete else None,
        "ome_lower_bound_mg_per_day": ome.total_mg_per_day,
    }
    return inputs, bases, ome


def _hours(delta: dt.timedelta) -> Decimal:
    """Hours in ``delta``, rounded up to 1e-6 h (so any time past a limit stays past it)."""
    with localcontext(_CONTEXT):
        exact = Decimal(delta // dt.timedelta(microseconds=1)) / _MICROSECONDS_PER_HOUR
        return exact.quantize(_HOURS_PLACES, rounding=ROUND_CEILING).normalize()


def _iv_morphine_boluses(
    episode: AcuteEpisode, vocab: Vocabulary
) -> tuple[dt.datetime, ...] | None:
    admins = episode.parenteral_administrations
    if admins is None:
        return None
    starts = []
    for i, admin in enumerate(admins):
        found = vocab.find_drug(admin.drug)
        if found is None:
            raise InvalidInputError(
                f"parenteral_administrations[{i}].drug",
                "not recognised by the ingredient vocabulary",
            )
        if (
            found == ("morphine",)
            and admin.route is ParenteralRoute.INTRAVENOUS
            and admin.kind is AdministrationKind.BOLUS
        ):
            starts.append(admin.start)
    return tuple(sorted(starts))


def inpatient_inputs(
    episode: AcuteEpisode, *, vocabulary: Vocabulary | None = None
) -> tuple[dict[str, object], tuple[dt.datetime, ...] | None]:
    """Derive the ``inpatient`` ruleset's inputs from ``episode`` (see ``docs/acute.md``).

    The IV morphine bolus span is from the start of the first to the start of the latest
    recorded IV morphine bolus; the time since the first is to ``assessment_time``.

    Returns:
        The inputs (``None`` = unknown) and the sorted IV morphine bolus start times
        (``None`` when administrations were not supplied).

    Raises:
        InvalidInputError: an administration's drug is not in the ingredient vocabulary.
    """
    vocab = vocabulary if vocabulary is not None else default_vocabulary()
    starts = _iv_morphine_boluses(episode, vocab)
    given = None if starts is None else bool(starts)
    span = since = None
    if starts:
        span = _hours(starts[-1] - starts[0])
        if episode.assessment_time is not None:
            since = _hours(episode.assessment_time - starts[0])
    inputs: dict[str, object] = {
        "iv_morphine_bolus_given": given,
        "iv_morphine_bolus_span_hours": span,
        "iv_morphine_bolus_order_active": episode.iv_morphine_bolus_order_active,
        "hours_since_first_iv_morphine_bolus": since,
    }
    return inputs, starts


# --- evaluating -------------------------------------------------------------------------------

# Which episode fields decide each ruleset input, for "cannot evaluate" messages.
_DISCHARGE_FIELDS: Mapping[str, str] = {
    "opioid_at_discharge": "discharge_prescriptions (a medicine name not recognised)",
    "newly_started": "opioid_before_admission",
    "longest_days_supply": "discharge_prescriptions[].days_supply",
    "longest_known_days_supply": "discharge_prescriptions[].days_supply",
    "modified_release_opioid": "discharge_prescriptions (product or form not recognised)",
    "gabapentinoid_at_discharge": "other_medicines",
    "benzodiazepine_at_discharge": "other_medicines",
    "z_drug_at_discharge": "other_medicines",
    "weaning_plan_recorded": "weaning_plan_recorded",
    "gp_communication_recorded": "gp_communication_recorded",
    "total_ome_mg_per_day": "discharge_prescriptions (an opioid not convertible to OME)",
    "ome_lower_bound_mg_per_day": "discharge_prescriptions",
}
_INPATIENT_FIELDS: Mapping[str, str] = {
    "iv_morphine_bolus_given": "parenteral_administrations",
    "iv_morphine_bolus_span_hours": "parenteral_administrations",
    "iv_morphine_bolus_order_active": "iv_morphine_bolus_order_active",
    "hours_since_first_iv_morphine_bolus": "assessment_time",
}


def _profile(profile: Profile | str | Path | None, ruleset: Ruleset) -> Profile | None:
    """The profile, loaded if a path, and checked against every bundled ruleset it names.

    The pins are enforced as every other command does (:meth:`Knowledge.bound_all`): a profile
    whose pin on any ruleset does not hold is refused, not applied in part.

    Raises:
        ProfileError: a pin does not hold, or the profile names unknown rules or parameters.
    """
    if profile is None:
        return None
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    default_knowledge().bound_all(prof)  # every pin, once per profile (kept bound)
    ruleset.bind(prof)  # the ruleset used, if it is another one
    return prof


def _summary(profile: Profile | None, ruleset: Ruleset) -> ProfileSummary | None:
    """What the profile changed, over the bundled rulesets and the one used."""
    if profile is None:
        return None
    return profile_summary(profile, {**default_knowledge().rulesets, ruleset.id: ruleset})


def _evaluate(
    ruleset: Ruleset,
    inputs: Mapping[str, object],
    profile: Profile | None,
    backend: str,
    fields: Mapping[str, str],
) -> Decisions:
    if backend not in {"reference", "durable"}:
        raise InvalidInputError("backend", "must be 'reference' or 'durable'")
    try:
        if backend == "reference":
            return ruleset.evaluate(inputs, profile=profile)
        from opioidcds._decide.rules.durable_backend import DurableRuleset  # noqa: PLC0415 - extra

        with DurableRuleset(ruleset, profile) as engine:
            return engine.evaluate(inputs)
    except InvalidInputError as exc:  # out of the ruleset's declared bounds: name the episode
        field = fields.get(exc.field, exc.field)
        raise InvalidInputError(f"{field} ({exc.field})", exc.rule) from None


def _alert(d: Decision) -> AcuteAlert:
    out = d.outcome
    return AcuteAlert(
        rule_id=d.rule_id,
        title=d.title,
        stage=d.stage,
        severity=str(out["severity"]),
        summary=str(out["summary"]),
        detail=str(out["detail"]),
        action=str(out["action"]),
        citations=d.citations,
        rationale=d.rationale,
        trace=d.trace,
    )


def _severity(alert: AcuteAlert) -> str:
    return alert.severity


def _unevaluated(d: Decision, fields: Mapping[str, str], ruleset: Ruleset) -> UnevaluatedRule:
    missing = tuple(dict.fromkeys(fields.get(n, n) for n in d.unknown_inputs))
    return UnevaluatedRule(
        rule_id=d.rule_id,
        title=d.title,
        unknown_inputs=d.unknown_inputs,
        missing=missing,
        trace=d.trace,
        unknown_labels=tuple(dict.fromkeys(ruleset.input_label(n) for n in d.unknown_inputs)),
    )


def _shown(value: object) -> bool | str | None:
    if value is None or isinstance(value, bool):
        return value
    return str(value)


def _common(
    setting: CareSetting,
    decisions: Decisions,
    inputs: Mapping[str, object],
    fields: Mapping[str, str],
    backend: str,
    *,
    provenance: Provenance,
) -> dict[str, object]:
    return {
        "care_setting": setting,
        "alerts": tuple(most_serious_first((_alert(d) for d in decisions.fired), _severity)),
        "cannot_evaluate": tuple(
            _unevaluated(d, fields, decisions.ruleset) for d in decisions.cannot_evaluate
        ),
        "complete": decisions.complete,
        "unknown_inputs": decisions.unknown_inputs,
        "inputs": {k: _shown(v) for k, v in inputs.items()},
        "ruleset_id": decisions.ruleset_id,
        "ruleset_version": decisions.ruleset_version,
        "profile_id": decisions.profile_id,
        "profile_version": decisions.profile_version,
        "backend": backend,
        "decisions": decisions.report(),
        "library_version": __version__,
        "provenance": provenance,
    }


def _require(episode: object, setting: CareSetting) -> AcuteEpisode:
    if not isinstance(episode, AcuteEpisode):
        raise InvalidInputError("episode", "must be an AcuteEpisode")
    if episode.care_setting is not setting:
        raise InvalidInputError("care_setting", f"must be '{setting.value}' for this check")
    return episode


def check_discharge(
    episode: AcuteEpisode,
    *,
    profile: Profile | str | Path | None = None,
    backend: Backend = "reference",
    ruleset: Ruleset | None = None,
    table: ConversionTable | str | None = None,
    vocabulary: Vocabulary | None = None,
    catalogue: Catalogue | None = None,
) -> DischargeCheck:
    """Check a discharge prescription against the ``discharge`` ruleset (the hospital bundle).

    Args:
        episode: an :class:`AcuteEpisode` with ``care_setting = "discharge"``.
        profile: a trust :class:`~opioidcds.Profile` or the path of one (changes the
            days' supply limit and the high-dose threshold).
        backend: ``"reference"`` (default) or ``"durable"`` (extra ``durable``; same results).
        ruleset: another ``discharge`` ruleset (default: the bundled one).
        table: the OME conversion table, as for :func:`~opioidcds.calculate_ome`.
        vocabulary: the ingredient/form vocabulary (default: the bundled one).
        catalogue: the dm+d product catalogue (default: the bundled one).

    Returns:
        A :class:`DischargeCheck`: alerts (each with severity, summary, detail, action,
        citations and trace), rules that could not be evaluated with what is missing, the OME
        basis, each prescription's basis, and the ruleset and profile ids and versions.

    Raises:
        InvalidInputError: the episode is not a discharge episode, or a prescription is
            invalid (the message names fields, never values).
        UnknownProductError: a prescribed dm+d product is not in the catalogue.
        ProfileError: the profile cannot be applied to the ruleset.
        BackendError: the durable backend cannot run.
    """
    ep = _require(episode, CareSetting.DISCHARGE)
    inputs, bases, ome = discharge_inputs(
        ep, table=table, vocabulary=vocabulary, catalogue=catalogue
    )
    rs = ruleset if ruleset is not None else discharge_ruleset()
    prof = _profile(profile, rs)
    decisions = _evaluate(rs, inputs, prof, backend, _DISCHARGE_FIELDS)
    rxs = [item.prescription for item in ep.discharge_prescriptions]
    provenance = knowledge_provenance(
        table=default_table(table) if isinstance(table, str) else table or default_table(),
        vocabulary=vocabulary if vocabulary is not None else default_vocabulary(),
        catalogues=(
            catalogue if catalogue is not None else bundled_catalogue_if(names_a_product(rxs)),
        ),
        sources=rule_sources((rs,), prof),
        medicine_classes=True,
    )
    common = _common(
        CareSetting.DISCHARGE,
        decisions,
        inputs,
        _DISCHARGE_FIELDS,
        backend,
        provenance=provenance,
    )
    return DischargeCheck.model_validate(
        {**common, "ome": ome, "prescriptions": bases, "profile_summary": _summary(prof, rs)}
    )


def check_inpatient(
    episode: AcuteEpisode,
    *,
    profile: Profile | str | Path | None = None,
    backend: Backend = "reference",
    ruleset: Ruleset | None = None,
    vocabulary: Vocabulary | None = None,
) -> InpatientCheck:
    """Check an inpatient episode against the ``inpatient`` ruleset (IV morphine boluses).

    Args:
        episode: an :class:`AcuteEpisode` with ``care_setting = "inpatient"`` and an
            ``assessment_time``.
        profile: a trust profile or its path (changes the 48-hour limit).
        backend: ``"reference"`` (default) or ``"durable"``.
        ruleset: another ``inpatient`` ruleset (default: the bundled one).
        vocabulary: the ingredient vocabulary (default: the bundled one).

    Returns:
        An :class:`InpatientCheck` with the alert (if any), undecided rules and the bolus times.

    Raises:
        InvalidInputError: not an inpatient episode, or an administration's drug is unknown.
        ProfileError: the profile cannot be applied to the ruleset.
        BackendError: the durable backend cannot run.
    """
    ep = _require(episode, CareSetting.INPATIENT)
    inputs, starts = inpatient_inputs(ep, vocabulary=vocabulary)
    rs = ruleset if ruleset is not None else inpatient_ruleset()
    prof = _profile(profile, rs)
    decisions = _evaluate(rs, inputs, prof, backend, _INPATIENT_FIELDS)
    provenance = knowledge_provenance(
        vocabulary=vocabulary if vocabulary is not None else default_vocabulary(),
        sources=rule_sources((rs,), prof),
    )
    common = _common(
        CareSetting.INPATIENT,
        decisions,
        inputs,
        _INPATIENT_FIELDS,
        backend,
        provenance=provenance,
    )
    return InpatientCheck.model_validate(
        {
            **common,
            "first_iv_morphine_bolus": starts[0] if starts else None,
            "latest_iv_morphine_bolus": starts[-1] if starts else None,
            "iv_morphine_bolus_count": None if starts is None else len(starts),
            "profile_summary": _summary(prof, rs),
        }
    )


def check_episode(
    episode: AcuteEpisode,
    *,
    profile: Profile | str | Path | None = None,
    backend: Backend = "reference",
    rulesets: Mapping[str, Ruleset] | None = None,
) -> DischargeCheck | InpatientCheck:
    """Run the check for the episode's ``care_setting`` (discharge or inpatient).

    ``rulesets`` may give the ``discharge`` and ``inpatient`` rulesets to use (a knowledge
    bundle's, with local rules: ``load_knowledge(local_rules=...).rulesets``); default: the
    bundled ones.

    Raises:
        InvalidInputError: ``care_setting`` is ``primary-care`` (use the primary-care
            assessment), or as :func:`check_discharge` / :func:`check_inpatient`.
    """
    if not isinstance(episode, AcuteEpisode):
        raise InvalidInputError("episode", "must be an AcuteEpisode")
    given = rulesets or {}
    if episode.care_setting is CareSetting.DISCHARGE:
        return check_discharge(
            episode, profile=profile, backend=backend, ruleset=given.get("discharge")
        )
    if episode.care_setting is CareSetting.INPATIENT:
        return check_inpatient(
            episode, profile=profile, backend=backend, ruleset=given.get("inpatient")
        )
    raise InvalidInputError(
        "care_setting", "primary care is checked by the primary-care assessment, not here"
    )
