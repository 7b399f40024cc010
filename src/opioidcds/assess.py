"""Risk stratification, stratified-support tiers and per-script alerts, decided by rulesets.

:func:`assess` answers "how risky is this patient's opioid use, why, and what support to
offer": scope, OME, risk factors (present / absent / unknown, with evidence), risk level,
support tier with next steps, which unknowns could raise them, and every decision's trace.
:func:`check_prescription` answers "what should the prescriber see before issuing this
prescription": the alerts of ruleset ``prescribing-alerts``.

All clinical numbers and wording are in the rulesets of ``rules/`` (``scope``,
``risk-factors``, ``risk-level``, ``support-tier``, ``early-reordering``,
``prescribing-alerts``); this module only derives their inputs from the patient and presents
their decisions. The knowledge (conversion table, vocabulary, catalogue, rulesets, profile) is
loaded once into an immutable :class:`Knowledge` bundle and shared safely across threads.
See ``docs/risk-and-tiers.md``.
"""

from __future__ import annotations

import datetime as dt
import importlib
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from functools import cache, lru_cache
from itertools import pairwise
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

from opioidcds._version import __version__
from opioidcds.errors import InvalidInputError, KnowledgeBaseError
from opioidcds.knowledge_paths import knowledge_dir
from opioidcds.models import (
    ItemStatus,
    OMEItem,
    OMEResult,
    Prescription,
    Provenance,
    ResultModel,
)
from opioidcds.ome import calculate_ome, format_decimal
from opioidcds.patient import Patient, ReadinessToChange, medicine_classes
from opioidcds.products import Catalogue, MedicineClass
from opioidcds.provenance import for_knowledge, names_a_product
from opioidcds.rules import (
    BackendError,
    BoundRuleset,
    Citation,
    DecisionReport,
    Decisions,
    DecisionStatus,
    Profile,
    Ruleset,
    Stage,
    load_profile,
    load_rulesets,
)
from opioidcds.rules.conditions import Scalar, Truth
from opioidcds.tables import ConversionTable, default_table, load_table
from opioidcds.vocabulary import Vocabulary, default_vocabulary

if TYPE_CHECKING:
    from opioidcds.rules.durable_backend import DurableRuleset

__all__ = [
    "REQUIRED_RULESETS",
    "Alert",
    "AlertSeverity",
    "Assessment",
    "Backend",
    "FactorStatus",
    "Knowledge",
    "LevelResult",
    "PrescriptionUse",
    "RiskFactorResult",
    "ScopeResult",
    "TierResult",
    "assess",
    "check_prescription",
    "default_knowledge",
    "load_knowledge",
]

REQUIRED_RULESETS: Final = (
    "scope",
    "risk-factors",
    "risk-level",
    "support-tier",
    "early-reordering",
    "prescribing-alerts",
)
"""Ruleset ids a :class:`Knowledge` bundle must hold."""

_HIGH_DOSE_FACTOR: Final = "high-dose"
_COMPLEX_NEEDS_FACTOR: Final = "history-substance-misuse"
_HUNDRED: Final = Decimal(100)


class Backend(StrEnum):
    """Rule engine: the pure-Python reference evaluator, or durable-rules (extra ``durable``)."""

    REFERENCE = "reference"
    DURABLE = "durable"


class FactorStatus(StrEnum):
    """A risk factor's status. Unknown is not absent (CLINICAL.md section 3)."""

    PRESENT = "present"
    ABSENT = "absent"
    UNKNOWN = "unknown"


class AlertSeverity(StrEnum):
    """How urgently a prescriber should read an alert."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


# --- knowledge -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Knowledge:
    """Everything the decisions depend on, loaded and checked once; immutable, thread-safe.

    Build with :func:`load_knowledge` or use :func:`default_knowledge`. ``catalogue`` may be
    ``None``: the bundled catalogue is then loaded on first need by the OME calculator.
    """

    table: ConversionTable
    vocabulary: Vocabulary
    rulesets: Mapping[str, Ruleset]
    profile: Profile | None = None
    catalogue: Catalogue | None = None
    _bound: Mapping[str, BoundRuleset] = field(default_factory=dict, repr=False)
    _durable: dict[tuple[str, str | None], DurableRuleset] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        """Check the required rulesets are present and bind the profile once."""
        missing = [r for r in REQUIRED_RULESETS if r not in self.rulesets]
        if missing:
            raise KnowledgeBaseError(f"knowledge bundle lacks ruleset '{missing[0]}'")
        object.__setattr__(self, "rulesets", MappingProxyType(dict(self.rulesets)))
        bound = {rid: rs.bind(self.profile) for rid, rs in self.rulesets.items()}
        object.__setattr__(self, "_bound", MappingProxyType(bound))

    def bound(self, ruleset_id: str, profile: Profile | None = None) -> BoundRuleset:
        """The ruleset with ``profile`` applied (default: the bundle's own profile).

        Raises:
            ProfileError: the profile cannot be applied (unknown names, breaks a table).
        """
        if profile is None or profile is self.profile:
            return self._bound[ruleset_id]
        return self.rulesets[ruleset_id].bind(profile)

    def durable(self, bound: BoundRuleset) -> DurableRuleset:
        """The durable-rules compilation of ``bound``, built once per ruleset and profile.

        Raises:
            BackendError: the ``durable`` extra (durable-rules) is not installed.
        """
        key = (bound.ruleset.id, bound.profile.fingerprint if bound.profile else None)
        with self._lock:
            found = self._durable.get(key)
            if found is None:
                try:
                    module = importlib.import_module("opioidcds.rules.durable_backend")
                    found = module.DurableRuleset(bound)
                except ImportError:
                    raise BackendError("the durable-rules backend is not installed") from None
                self._durable[key] = found
        return found

    def versions(self, profile: Profile | None = None) -> dict[str, str]:
        """Library, table, vocabulary, ruleset (those assess uses) and profile versions."""
        out = {
            "opioidcds": __version__,
            "table": f"{self.table.id} {self.table.version}",
        }
        out.update({f"vocabulary:{k}": v for k, v in self.vocabulary.versions().items()})
        out.update({f"ruleset:{k}": self.rulesets[k].version for k in sorted(REQUIRED_RULESETS)})
        used = profile or self.profile
        out["profile"] = f"{used.id} {used.version}" if used is not None else "none"
        return out


def load_knowledge(
    rules: str | Path | None = None,
    *,
    table: ConversionTable | str | Path | None = None,
    profile: Profile | str | Path | None = None,
    vocabulary: Vocabulary | None = None,
    catalogue: Catalogue | None = None,
) -> Knowledge:
    """Load a knowledge bundle: rulesets from ``rules`` (default: bundled ``rules/``).

    Raises:
        KnowledgeBaseError: a file is missing or invalid, a required ruleset is absent, or the
            profile cannot be applied.
    """
    rulesets = load_rulesets(Path(rules) if rules is not None else knowledge_dir("rules"))
    if isinstance(table, ConversionTable):
        tbl = table
    elif table is None:
        tbl = default_table()
    else:
        tbl = load_table(table)
    prof = load_profile(profile) if isinstance(profile, str | Path) else profile
    return Knowledge(
        table=tbl,
        vocabulary=vocabulary if vocabulary is not None else default_vocabulary(),
        rulesets=rulesets,
        profile=prof,
        catalogue=catalogue,
    )


@cache
def default_knowledge() -> Knowledge:
    """The bundled knowledge (UK Opioids Aware table, bundled rulesets, no profile), loaded once.

    Raises:
        KnowledgeBaseError: the bundled knowledge is invalid (a packaging defect).
    """
    return load_knowledge()


# --- engines ---------------------------------------------------------------------------------

Engine = Callable[[BoundRuleset, Mapping[str, object]], Decisions]


def _reference(bound: BoundRuleset, inputs: Mapping[str, object]) -> Decisions:
    return bound.evaluate(inputs)


Truths = Callable[[BoundRuleset, tuple[Scalar | None, ...]], tuple[Truth | str, ...]]


def _reference_truths(
    bound: BoundRuleset, values: tuple[Scalar | None, ...]
) -> tuple[Truth | str, ...]:
    return bound.truths(values)


def _truths(backend: Backend | str, knowledge: Knowledge) -> Truths:
    """Each rule's condition value from the chosen engine (hit policy applied by the caller)."""
    if _backend(backend) is Backend.REFERENCE:
        return _reference_truths

    def durable(bound: BoundRuleset, values: tuple[Scalar | None, ...]) -> tuple[Truth | str, ...]:
        return knowledge.durable(bound).truths(values)

    return durable


def _backend(backend: Backend | str) -> Backend:
    try:
        return Backend(backend)
    except ValueError:
        raise InvalidInputError("backend", "must be 'reference' or 'durable'") from None


def _engine(backend: Backend | str, knowledge: Knowledge) -> Engine:
    try:
        chosen = Backend(backend)
    except ValueError:
        raise InvalidInputError("backend", "must be 'reference' or 'durable'") from None
    if chosen is Backend.REFERENCE:
        return _reference

    def durable(bound: BoundRuleset, inputs: Mapping[str, object]) -> Decisions:
        return knowledge.durable(bound).evaluate(inputs)

    return durable


# --- results ---------------------------------------------------------------------------------


class ScopeResult(ResultModel):
    """Whether the patient is in scope, the rule that decided and its reason.

    ``in_scope`` is ``None`` only if unknown inputs left the scope undetermined.
    ``history`` summarises the prescription history used (issues, span, early re-issues).
    ``long_term_use_checked`` is false when no prescription history was given: long-term use
    was then assumed, not checked.
    """

    in_scope: bool | None
    rule_id: str | None
    reason: str
    long_term_use_checked: bool
    history: str


class PrescriptionUse(ResultModel):
    """How one current prescription was used: counted for OME or not, and why.

    ``ome_index`` is its position in the list given to the OME calculator (the
    ``prescription_index`` of its OME items), ``None`` when not counted.
    """

    index: int
    label: str
    classes: tuple[str, ...]
    counted_for_ome: bool
    ome_index: int | None
    note: str


class RiskFactorResult(ResultModel):
    """One risk factor: status, the evidence behind it, its citations and trace."""

    id: str
    label: str
    kind: str
    status: FactorStatus
    evidence: str
    citations: tuple[Citation, ...]
    trace: tuple[str, ...]


class LevelResult(ResultModel):
    """The risk level and how it was reached.

    ``level`` counts unknown factors as absent (what the record shows); ``level_if_unknown``
    counts them all as present (the highest the unknowns could make it). ``could_raise`` lists
    the unknown factors that, found present on their own, would raise ``level``.
    """

    level: str
    level_if_unknown: str
    rule_id: str
    meaning: str
    factor_count: int
    high_dose: FactorStatus
    could_raise: tuple[str, ...]
    basis: str


class TierResult(ResultModel):
    """The support tier with what to offer, next steps and resources (ruleset wording).

    ``tier_if_unknown`` is the tier with every unknown factor present; ``could_raise`` lists
    the unknown factors that on their own would raise the tier.
    """

    tier: str
    tier_if_unknown: str
    rule_id: str
    offer: str
    next_steps: tuple[str, ...]
    resources: tuple[str, ...]
    could_raise: tuple[str, ...]


class Assessment(ResultModel):
    """The result of :func:`assess`, with its whole basis (CLINICAL.md section 7).

    ``risk_level`` is ``None`` for a patient out of scope (``tier.tier`` is then
    ``"out-of-scope"`` and ``scope.reason`` says why). ``unknown_factors`` lists every factor
    whose input is missing; ``unknowns_that_could_change`` those that could raise the level or
    tier: all of them when the level or tier with every unknown present is higher than with
    every unknown absent (each counts towards it), none otherwise (the tables are monotone).
    ``risk_level.could_raise`` and ``tier.could_raise`` name those that would raise it on
    their own. ``decisions`` holds every ruleset evaluation with per-rule traces.
    ``provenance`` names every knowledge source used, with a content hash of them all.
    """

    scope: ScopeResult
    ome: OMEResult | None
    prescriptions: tuple[PrescriptionUse, ...]
    factors: tuple[RiskFactorResult, ...]
    risk_level: LevelResult | None
    tier: TierResult
    unknown_factors: tuple[str, ...]
    unknowns_that_could_change: tuple[str, ...]
    readiness_to_change: ReadinessToChange | None
    decisions: tuple[DecisionReport, ...]
    versions: dict[str, str]
    backend: Backend
    provenance: Provenance

    def factor(self, factor_id: str) -> RiskFactorResult:
        """The factor with this id; raises ``KeyError`` if there is none."""
        for f in self.factors:
            if f.id == factor_id:
                return f
        raise KeyError(factor_id)


class Alert(ResultModel):
    """One alert for the prescriber: what, how urgent, why, what to do, and its basis.

    ``summary`` is under 140 characters; ``detail`` adds the patient's figures; ``trace``
    shows how the rule's condition was evaluated; ``provenance`` names the knowledge used.
    The alert ``alerts-not-evaluated`` (info) is not a rule: it says which alert rules could
    not be checked because inputs were unknown.
    """

    id: str
    severity: AlertSeverity
    title: str
    summary: str
    detail: str
    citations: tuple[Citation, ...]
    actions: tuple[str, ...]
    stage: Stage | None
    trace: tuple[str, ...]
    ruleset_id: str
    ruleset_version: str
    profile_id: str | None
    profile_version: str | None
    provenance: Provenance


# --- deriving inputs -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Split:
    """Current prescriptions split into those counted for OME and those not."""

    counted: tuple[Prescription, ...]
    counted_index: tuple[int, ...]  # position in the patient's list of each counted item
    uses: tuple[PrescriptionUse, ...]


_CLASS_NOTES: Final = {
    MedicineClass.BENZODIAZEPINE: "benzodiazepine",
    MedicineClass.GABAPENTINOID: "gabapentinoid",
    MedicineClass.Z_DRUG: "z-drug",
}


def _label(rx: Prescription) -> str:
    return rx.product_name or rx.drug or (f"dm+d {rx.dmd_code}" if rx.dmd_code else "?")


def _split(patient: Patient) -> _Split:
    counted: list[Prescription] = []
    counted_index: list[int] = []
    uses: list[PrescriptionUse] = []
    for i, (rx, classes) in enumerate(
        zip(patient.prescriptions, patient.prescription_classes, strict=True)
    ):
        names = tuple(sorted(c.value for c in classes))
        if classes and MedicineClass.OPIOID not in classes:
            kinds = ", ".join(_CLASS_NOTES.get(c, c.value) for c in sorted(classes))
            uses.append(
                PrescriptionUse(
                    index=i,
                    label=_label(rx),
                    classes=names,
                    counted_for_ome=False,
                    ome_index=None,
                    note=f"not an opioid ({kinds}): no OME; used for co-prescription factors",
                )
            )
            continue
        note = (
            "opioid: counted for OME"
            if classes
            else "not recognised by class: counted for OME so it is never silently dropped"
        )
        uses.append(
            PrescriptionUse(
                index=i,
                label=_label(rx),
                classes=names,
                counted_for_ome=True,
                ome_index=len(counted),
                note=note,
            )
        )
        counted.append(rx)
        counted_index.append(i)
    return _Split(tuple(counted), tuple(counted_index), tuple(uses))


@lru_cache(maxsize=1024)
def _ome(prescriptions: tuple[Prescription, ...], knowledge: Knowledge) -> OMEResult:
    """OME of ``prescriptions`` (memoised: frozen inputs, immutable result, no identifiers)."""
    return calculate_ome(
        prescriptions,
        table=knowledge.table,
        vocabulary=knowledge.vocabulary,
        catalogue=knowledge.catalogue,
    )


def _is_opioid_item(item: OMEItem) -> bool:
    return item.status is not ItemStatus.NOT_OPIOID


def _days(later: dt.date, earlier: dt.date) -> int:
    return (later - earlier).days


@dataclass(frozen=True, slots=True)
class _History:
    use_days: int | None
    issues: int | None
    early_known: int | None  # early re-issues found (None: no history)
    early_all_classed: bool
    reissues: int
    evidence: str
    decisions: tuple[Decisions, ...]


def _history(
    patient: Patient, knowledge: Knowledge, profile: Profile | None, run: Engine
) -> _History:
    history = patient.prescription_history
    as_of = patient.assessment_date
    if history is None or as_of is None:
        return _History(None, None, None, True, 0, "no prescription history given", ())
    opioid = [r for r in history if MedicineClass.OPIOID in medicine_classes(r)]
    if not opioid:
        return _History(0, 0, 0, True, 0, "no opioid issues in the history given", ())
    first = min(r.issue_date for r in opioid)
    bound = knowledge.bound("early-reordering", profile)
    groups: dict[str, list[tuple[dt.date, int | None]]] = {}
    for r in opioid:
        groups.setdefault(r.medicine_key, []).append((r.issue_date, r.days_supply))
    early = undetermined = reissues = 0
    decisions: list[Decisions] = []
    for issues in groups.values():
        issues.sort(key=lambda x: x[0])
        for (prev_date, prev_supply), (date, _) in pairwise(issues):
            reissues += 1
            percent = (
                Decimal(_days(date, prev_date)) * _HUNDRED / Decimal(prev_supply)
                if prev_supply
                else None
            )
            d = run(
                bound,
                {
                    "percent_of_supply_elapsed": percent,
                    "days_before_assessment": _days(as_of, date),
                },
            )
            status = d.statuses["early-reissue"]
            if status is DecisionStatus.FIRED:
                early += 1
            elif status is DecisionStatus.CANNOT_EVALUATE:
                undetermined += 1
            if status is not DecisionStatus.NOT_FIRED:  # keep the basis of what counted
                decisions.append(d)
    evidence = (
        f"{len(opioid)} opioid issues from {first.isoformat()} to {as_of.isoformat()} "
        f"({_days(as_of, first)} days); {early} early re-issue(s) of {reissues}"
    )
    if undetermined:
        evidence += f", {undetermined} without a supply period (could not be classed)"
    return _History(
        _days(as_of, first),
        len(opioid),
        early,
        undetermined == 0,
        reissues,
        evidence,
        tuple(decisions),
    )


_TRI: Final = {True: "yes", False: "no", None: "not recorded"}


def _parameter_note(bound: BoundRuleset, rule_id: str) -> str:
    """The parameters a rule reads, as applied (profile included): ``name = value unit``."""
    rs = bound.ruleset
    parts = []
    for name in rs.rule(rule_id).params:
        unit = rs.parameters[name].unit
        value = format_decimal(bound.binding.params[name])
        parts.append(f"{name} = {value}{' ' + unit if unit else ''}")
    return "; ".join(parts)


def _factor_inputs(
    patient: Patient, ome: OMEResult | None, hist: _History
) -> tuple[dict[str, object], dict[str, str]]:
    """Inputs of ruleset risk-factors, and the evidence text per factor id."""
    as_of = patient.assessment_date
    days_ae = (
        _days(as_of, patient.last_ae_attendance)
        if as_of is not None and patient.last_ae_attendance is not None
        else None
    )
    sex = None if patient.sex.value == "unknown" else patient.sex.value
    if ome is None:
        lower: Decimal | None = Decimal(0)
        total: Decimal | None = Decimal(0)
        ome_text = "no current opioid: 0 mg OME/day"
    else:
        lower = ome.total_mg_per_day
        total = ome.total_mg_per_day if ome.complete else None
        shown = format_decimal(ome.total_mg_per_day)
        ome_text = (
            f"total {shown} mg OME/day (complete, table {ome.table_id} {ome.table_version})"
            if ome.complete
            else f"total at least {shown} mg OME/day (INCOMPLETE: a lower bound)"
        )
    early_at_least = hist.early_known
    inputs: dict[str, object] = {
        "sex": sex,
        "age": patient.age,
        "benzodiazepine_coprescribed": patient.benzodiazepine,
        "unemployed": patient.unemployed,
        "ae_attendance_recent": patient.ae_attendance_recent,
        "days_since_ae_attendance": days_ae,
        "family_history_dependence": patient.family_history_dependence,
        "history_substance_or_alcohol_misuse": patient.history_substance_or_alcohol_misuse,
        "preadolescent_sexual_abuse_history": patient.preadolescent_sexual_abuse_history,
        "depression": patient.depression,
        "other_psychological_disease": patient.other_psychological_disease,
        "ome_lower_bound_mg_per_day": lower,
        "ome_mg_per_day": total,
        "gabapentinoid_coprescribed": patient.gabapentinoid,
        "early_reorders_at_least": early_at_least,
        "early_reorders": early_at_least if hist.early_all_classed else None,
    }

    def coprescribed(stated: bool | None, derived: bool | None, cls: MedicineClass) -> str:
        found = [
            _label(rx)
            for rx, c in zip(patient.prescriptions, patient.prescription_classes, strict=True)
            if cls in c
        ]
        if found:
            return "from the current prescriptions: " + ", ".join(found)
        return f"stated: {_TRI[stated]}" if stated is not None else f"{_TRI[derived]}"

    ae = f"stated: {_TRI[patient.ae_attendance_recent]}"
    if days_ae is not None:
        ae += f"; last attendance {days_ae} days before the assessment date"
    evidence = {
        "male-sex": f"sex: {patient.sex.value if sex else 'not recorded'}",
        "older-age": f"age: {patient.age}" if patient.age is not None else "age: not recorded",
        "benzodiazepine": coprescribed(
            patient.benzodiazepine_coprescribed,
            patient.benzodiazepine,
            MedicineClass.BENZODIAZEPINE,
        ),
        "unemployed": f"stated: {_TRI[patient.unemployed]}",
        "ae-attendance": ae,
        "family-history-dependence": f"stated: {_TRI[patient.family_history_dependence]}",
        "history-substance-misuse": (
            f"stated: {_TRI[patient.history_substance_or_alcohol_misuse]}"
        ),
        "preadolescent-sexual-abuse": (
            f"stated: {_TRI[patient.preadolescent_sexual_abuse_history]}; "
            f"sex: {patient.sex.value if sex else 'not recorded'}"
        ),
        "depression": f"stated: {_TRI[patient.depression]}",
        "other-psychological-disease": f"stated: {_TRI[patient.other_psychological_disease]}",
        _HIGH_DOSE_FACTOR: ome_text,
        "gabapentinoid": coprescribed(
            patient.gabapentinoid_coprescribed, patient.gabapentinoid, MedicineClass.GABAPENTINOID
        ),
        "early-reordering": hist.evidence,
    }
    return inputs, evidence


_STATUS: Final = {
    DecisionStatus.FIRED: FactorStatus.PRESENT,
    DecisionStatus.NOT_FIRED: FactorStatus.ABSENT,
    DecisionStatus.CANNOT_EVALUATE: FactorStatus.UNKNOWN,
    DecisionStatus.OVERRIDDEN: FactorStatus.UNKNOWN,
    DecisionStatus.DISABLED: FactorStatus.ABSENT,
}


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _texts(value: object) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, tuple) else ()


def _level_of(
    bound: BoundRuleset, run: Engine, count: int, high_dose: bool
) -> tuple[str, Decisions]:
    d = run(bound, {"factor_count": count, "high_dose": high_dose})
    outcome = d.outcome
    if outcome is None:  # pragma: no cover - the linter proves the table complete
        raise KnowledgeBaseError("ruleset risk-level gave no level for known inputs")
    return _text(outcome["level"]), d


def _tier_of(
    bound: BoundRuleset, run: Engine, level: str | None, complex_needs: bool, in_scope: bool
) -> Decisions:
    return run(
        bound,
        {"in_scope": in_scope, "risk_level": level, "complex_needs": complex_needs},
    )


def _rank(values: Sequence[str], value: str) -> int:
    return values.index(value)


def _scope(
    patient: Patient,
    kb: Knowledge,
    profile: Profile | None,
    run: Engine,
    hist: _History,
    *,
    current_opioid: bool,
) -> tuple[Decisions, ScopeResult]:
    bound = kb.bound("scope", profile)
    d = run(
        bound,
        {
            "cancer_pain": patient.cancer_pain,
            "palliative_care": patient.palliative_care,
            "opioid_substitution_therapy": bool(patient.on_opioid_substitution_therapy),
            "age": patient.age,
            "current_opioid": current_opioid,
            "opioid_use_days": hist.use_days,
            "opioid_issues": hist.issues,
        },
    )
    fired = d.fired
    checked = hist.use_days is not None
    if not fired:  # pragma: no cover - scope inputs that can be unknown do not block it
        reason = "scope undetermined: " + ", ".join(d.unknown_inputs) + " unknown"
        return d, ScopeResult(
            in_scope=None,
            rule_id=None,
            reason=reason,
            long_term_use_checked=checked,
            history=hist.evidence,
        )
    outcome = fired[0].outcome
    in_scope = outcome["in_scope"] is True
    reason = _text(outcome["reason"])
    note = _parameter_note(bound, fired[0].rule_id)
    if note and not in_scope:
        reason = f"{reason} ({note})"
    return d, ScopeResult(
        in_scope=in_scope,
        rule_id=fired[0].rule_id,
        reason=reason,
        long_term_use_checked=checked,
        history=hist.evidence,
    )


def _factors(
    patient: Patient,
    kb: Knowledge,
    *,
    profile: Profile | None,
    run: Engine,
    ome: OMEResult | None,
    hist: _History,
) -> tuple[Decisions, list[RiskFactorResult]]:
    inputs, evidence = _factor_inputs(patient, ome, hist)
    bound = kb.bound("risk-factors", profile)
    d = run(bound, inputs)
    notes = {r.id: _parameter_note(bound, r.id) for r in bound.ruleset.rules}
    return d, [
        RiskFactorResult(
            id=dec.rule_id,
            label=_text(dec.outcome.get("label")) or dec.rule_id,
            kind=_text(dec.outcome.get("kind")),
            status=_STATUS[dec.status],
            evidence="; ".join(x for x in (evidence.get(dec.rule_id), notes[dec.rule_id]) if x),
            citations=dec.citations,
            trace=dec.trace,
        )
        for dec in d.decisions
    ]


def _stratify(
    factors: Sequence[RiskFactorResult],
    kb: Knowledge,
    profile: Profile | None,
    run: Engine,
    *,
    in_scope: bool,
) -> tuple[LevelResult | None, TierResult, list[DecisionReport], set[str]]:
    """Level and tier with unknown factors absent, all present, and each present alone."""
    reports: list[DecisionReport] = []
    status = {f.id: f.status for f in factors}
    unknown = tuple(f.id for f in factors if f.status is FactorStatus.UNKNOWN)
    level_rs = kb.bound("risk-level", profile)
    tier_rs = kb.bound("support-tier", profile)
    levels = level_rs.ruleset.outputs["level"].values
    tiers = tier_rs.ruleset.outputs["tier"].values
    risk_level: LevelResult | None = None
    could_change: set[str] = set()
    if in_scope:
        others = [f for f in factors if f.id != _HIGH_DOSE_FACTOR]
        present = sum(1 for f in others if f.status is FactorStatus.PRESENT)
        unknown_others = sum(1 for f in others if f.status is FactorStatus.UNKNOWN)
        hd = status.get(_HIGH_DOSE_FACTOR, FactorStatus.ABSENT)
        cx = status.get(_COMPLEX_NEEDS_FACTOR, FactorStatus.ABSENT)

        def level_with(extra: set[str]) -> str:
            count = present + sum(1 for u in extra if u != _HIGH_DOSE_FACTOR)
            high = hd is FactorStatus.PRESENT or _HIGH_DOSE_FACTOR in extra
            return _level_of(level_rs, run, count, high)[0]

        def tier_with(extra: set[str]) -> str:
            complex_needs = cx is FactorStatus.PRESENT or _COMPLEX_NEEDS_FACTOR in extra
            d = _tier_of(tier_rs, run, level_with(extra), complex_needs, in_scope=True)
            return _text((d.outcome or {}).get("tier"))

        level, level_d = _level_of(level_rs, run, present, hd is FactorStatus.PRESENT)
        reports.append(level_d.report())
        upper_level, _ = _level_of(
            level_rs, run, present + unknown_others, hd is not FactorStatus.ABSENT
        )
        raise_level = tuple(
            u for u in unknown if _rank(levels, level_with({u})) > _rank(levels, level)
        )
        lo = level_d.outcome or {}
        basis = (
            f"{present} risk factor(s) present besides dose; high-dose factor {hd.value}"
            f" -> rule {level_d.fired_ids[0] if level_d.fired_ids else '?'}"
        )
        risk_level = LevelResult(
            level=level,
            level_if_unknown=upper_level,
            rule_id=level_d.fired_ids[0],
            meaning=_text(lo.get("meaning")),
            factor_count=present,
            high_dose=hd,
            could_raise=raise_level,
            basis=basis,
        )
        tier_d = _tier_of(tier_rs, run, level, cx is FactorStatus.PRESENT, in_scope=True)
        tier_now = _text((tier_d.outcome or {}).get("tier"))
        upper_tier = tier_with(set(unknown))
        raise_tier = tuple(
            u for u in unknown if _rank(tiers, tier_with({u})) > _rank(tiers, tier_now)
        )
        could_change.update(raise_level)
        could_change.update(raise_tier)
        if upper_level != level or upper_tier != tier_now:
            # together the unknowns could raise it: each one counts towards the total
            could_change.update(unknown)
    else:
        tier_d = _tier_of(tier_rs, run, None, False, in_scope=False)
        upper_tier = _text((tier_d.outcome or {}).get("tier"))
        raise_tier = ()
    reports.append(tier_d.report())
    tier_outcome = tier_d.outcome or {}
    tier = TierResult(
        tier=_text(tier_outcome.get("tier")),
        tier_if_unknown=upper_tier,
        rule_id=tier_d.fired_ids[0] if tier_d.fired_ids else "",
        offer=_text(tier_outcome.get("offer")),
        next_steps=_texts(tier_outcome.get("next_steps")),
        resources=_texts(tier_outcome.get("resources")),
        could_raise=raise_tier,
    )
    return risk_level, tier, reports, could_change


# --- assess ----------------------------------------------------------------------------------


def assess(
    patient: Patient,
    *,
    knowledge: Knowledge | None = None,
    profile: Profile | None = None,
    backend: Backend | str = Backend.REFERENCE,
) -> Assessment:
    """Assess a patient: scope, OME, risk factors, risk level and support tier, with basis.

    Args:
        patient: the patient (see :class:`~opioidcds.patient.Patient`).
        knowledge: the knowledge bundle (default: :func:`default_knowledge`).
        profile: a local profile overriding the bundle's (parameters, disabled rules).
        backend: ``"reference"`` (default) or ``"durable"`` (durable-rules, if installed).

    Returns:
        An :class:`Assessment`. An out-of-scope patient gets ``tier.tier == "out-of-scope"``
        and the reason in ``scope.reason``, never a silent pass. Unknown factors are counted
        as absent for ``risk_level.level`` and as present for ``level_if_unknown``.

    Raises:
        InvalidInputError: ``patient`` is not a Patient, or a prescription is invalid.
        UnknownProductError: a dm+d code or product name is not in the catalogue.
        BackendError: the durable backend was asked for but is not available.
    """
    if not isinstance(patient, Patient):
        raise InvalidInputError("patient", "must be a Patient")
    kb = knowledge if knowledge is not None else default_knowledge()
    run = _engine(backend, kb)
    split = _split(patient)
    ome = _ome(split.counted, kb) if split.counted else None
    current_opioid = ome is not None and any(_is_opioid_item(i) for i in ome.items)
    hist = _history(patient, kb, profile, run)
    reports: list[DecisionReport] = []

    scope_d, scope = _scope(patient, kb, profile, run, hist, current_opioid=current_opioid)
    reports.append(scope_d.report())
    in_scope = scope.in_scope
    factors_d, factors = _factors(patient, kb, profile=profile, run=run, ome=ome, hist=hist)
    reports.append(factors_d.report())
    reports.extend(d.report() for d in hist.decisions)
    unknown = tuple(f.id for f in factors if f.status is FactorStatus.UNKNOWN)
    risk_level, tier, tier_reports, could_change = _stratify(
        factors, kb, profile, run, in_scope=bool(in_scope)
    )
    reports.extend(tier_reports)
    return Assessment(
        scope=scope,
        ome=ome,
        prescriptions=split.uses,
        factors=tuple(factors),
        risk_level=risk_level,
        tier=tier,
        unknown_factors=unknown,
        unknowns_that_could_change=tuple(u for u in unknown if u in could_change),
        readiness_to_change=patient.readiness_to_change,
        decisions=tuple(reports),
        versions=kb.versions(profile),
        backend=Backend(backend),
        provenance=for_knowledge(kb, profile, _names_product(patient)),
    )


# --- check_prescription ----------------------------------------------------------------------


def _names_product(patient: Patient, *more: Prescription) -> bool:
    """Whether a record names a dm+d product (the bundled catalogue is then consulted)."""
    history = patient.prescription_history or ()
    return (
        names_a_product(patient.prescriptions)
        or names_a_product(history)
        or (names_a_product(more))
    )


def _new_class(classes: frozenset[MedicineClass], items: Sequence[OMEItem]) -> str:
    if MedicineClass.OPIOID in classes:
        return "opioid"
    if MedicineClass.BENZODIAZEPINE in classes:
        return "benzodiazepine"
    if MedicineClass.GABAPENTINOID in classes:
        return "gabapentinoid"
    if not classes and any(_is_opioid_item(i) for i in items):
        return "opioid"  # not recognised by class: treated as a possible opioid (fail closed)
    return "other"


def _total(items: Sequence[OMEItem]) -> tuple[Decimal, bool]:
    total = Decimal(0)
    complete = True
    for item in items:
        if item.ome_mg_per_day is not None:
            total += item.ome_mg_per_day
        if item.status is ItemStatus.NOT_CONVERTIBLE:
            complete = False
    return total, complete


def _figure(total: Decimal, complete: bool) -> str:
    shown = format_decimal(total)
    return f"{shown} mg OME/day" if complete else f"at least {shown} mg OME/day (incomplete)"


def check_prescription(
    patient: Patient,
    new_prescription: Prescription,
    *,
    reauthorisation: bool = False,
    knowledge: Knowledge | None = None,
    profile: Profile | None = None,
    backend: Backend | str = Backend.REFERENCE,
) -> list[Alert]:
    """Alerts to show before issuing ``new_prescription`` (or re-authorising it).

    The totals "before" and "after" are the OME of the patient's current opioid prescriptions
    without and with ``new_prescription`` (if it is already listed, it is not counted twice;
    for a re-authorisation before and after are the same). Alerts come from ruleset
    ``prescribing-alerts`` in file order, each with its figures, citations, actions and trace.
    If some alert rule could not be evaluated because inputs were unknown, a last ``info``
    alert ``alerts-not-evaluated`` names them (fail closed: never a silent "no alert").

    Raises:
        InvalidInputError: an argument is not a Patient/Prescription, or a prescription is
            invalid.
        UnknownProductError: a dm+d code or product name is not in the catalogue.
        BackendError: the durable backend was asked for but is not available.
    """
    if not isinstance(patient, Patient):
        raise InvalidInputError("patient", "must be a Patient")
    if not isinstance(new_prescription, Prescription):
        raise InvalidInputError("new_prescription", "must be a Prescription")
    if not isinstance(reauthorisation, bool):
        raise InvalidInputError("reauthorisation", "must be true or false")
    kb = knowledge if knowledge is not None else default_knowledge()
    truths = _truths(backend, kb)
    new_classes = medicine_classes(new_prescription)
    counted = list(patient.opioid_candidates)
    new_counted = not (new_classes and MedicineClass.OPIOID not in new_classes)
    new_pos: int | None = None
    if new_counted:
        new_pos = next(
            (i for i, rx in enumerate(counted) if rx is new_prescription or rx == new_prescription),
            None,
        )
        if new_pos is None:
            new_pos = len(counted)
            counted.append(new_prescription)
    ome = _ome(tuple(counted), kb) if counted else None
    items = ome.items if ome is not None else ()
    new_items = [i for i in items if i.prescription_index == new_pos]
    other_items = [i for i in items if i.prescription_index != new_pos]
    after_total, after_complete = _total(items)
    before_total, before_complete = _total(items if reauthorisation else other_items)
    new_class = _new_class(new_classes, new_items)
    bound = kb.bound("prescribing-alerts", profile)
    values = bound.normalise(
        {
            "new_item_class": new_class,
            "reauthorisation": reauthorisation,
            "total_ome_lower_bound_mg_per_day": after_total,
            "total_ome_mg_per_day": after_total if after_complete else None,
            "previous_ome_lower_bound_mg_per_day": before_total,
            "previous_ome_mg_per_day": before_total if before_complete else None,
            "ome_complete": after_complete,
            "opioid_before": any(_is_opioid_item(i) for i in other_items),
            "opioid_after": any(_is_opioid_item(i) for i in items),
            "benzodiazepine_coprescribed": (
                True if new_class == "benzodiazepine" else patient.benzodiazepine
            ),
            "gabapentinoid_coprescribed": (
                True if new_class == "gabapentinoid" else patient.gabapentinoid
            ),
            "dose_thresholds_apply": not (
                patient.cancer_pain
                or patient.palliative_care
                or patient.on_opioid_substitution_therapy
            ),
            "new_item_fentanyl_patch": any(
                i.ingredient == "fentanyl" and i.daily_amount_unit == "microgram/hour"
                for i in new_items
            ),
        }
    )
    figures = (
        f"Total {_figure(after_total, after_complete)} with this prescription; "
        f"{_figure(before_total, before_complete)} before."
    )
    provenance = for_knowledge(kb, profile, _names_product(patient, new_prescription))
    return list(_present_alerts(bound, values, truths(bound, values), figures, provenance))


def _alert_detail(bound: BoundRuleset, rule_id: str, text: str, figures: str) -> str:
    note = _parameter_note(bound, rule_id)
    return " ".join(x for x in (text, figures, f"Thresholds: {note}." if note else "") if x)


@lru_cache(maxsize=4096)
def _present_alerts(
    bound: BoundRuleset,
    values: tuple[Scalar | None, ...],
    truths: tuple[Truth | str, ...],
    figures: str,
    provenance: Provenance,
) -> tuple[Alert, ...]:
    """Alerts for one evaluation (memoised: a pure function of immutable arguments).

    Every call still runs the engine for ``truths``; only presenting the decisions (traces,
    citations, result models) is reused when the same inputs come again.
    """
    d = bound.decide(values, truths)
    rs = bound.ruleset
    alerts = [
        Alert(
            id=dec.rule_id,
            severity=AlertSeverity(_text(dec.outcome["severity"])),
            title=dec.title or dec.rule_id,
            summary=_text(dec.outcome["summary"]),
            detail=_alert_detail(bound, dec.rule_id, _text(dec.outcome.get("detail")), figures),
            citations=dec.citations,
            actions=_texts(dec.outcome.get("actions")),
            stage=dec.stage,
            trace=dec.trace,
            ruleset_id=rs.id,
            ruleset_version=rs.version,
            profile_id=dec.profile_id,
            profile_version=dec.profile_version,
            provenance=provenance,
        )
        for dec in d.fired
    ]
    pending = d.cannot_evaluate
    if pending:
        names = sorted({n for dec in pending for n in dec.unknown_inputs})
        alerts.append(
            Alert(
                id="alerts-not-evaluated",
                severity=AlertSeverity.INFO,
                title="Some alerts could not be checked",
                summary=f"{len(pending)} alert(s) could not be checked: inputs unknown.",
                detail=(
                    "Could not check: "
                    + ", ".join(dec.rule_id for dec in pending)
                    + ". Unknown: "
                    + ", ".join(names)
                    + f". {figures}"
                ),
                citations=(
                    Citation(
                        id="clinical-3",
                        text="opioidcds CLINICAL.md section 3: unknown is not absent.",
                    ),
                ),
                actions=("Record the unknown information to complete the checks.",),
                stage=None,
                trace=tuple(line for dec in pending for line in dec.trace),
                ruleset_id=rs.id,
                ruleset_version=rs.version,
                profile_id=d.profile_id,
                profile_version=d.profile_version,
                provenance=provenance,
            )
        )
    return tuple(alerts)
