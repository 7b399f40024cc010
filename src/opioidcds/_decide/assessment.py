"""Risk stratification and stratified-support tiers, decided by rulesets.

:func:`assess` answers "how risky is this patient's opioid use, why, and what support to
offer": scope, OME, risk factors (present / absent / unknown, with evidence), risk level,
support tier with next steps, which unknowns could raise them, and every decision's trace.

All clinical numbers and wording are in the rulesets of ``rules/`` (``scope``,
``risk-factors``, ``risk-level``, ``support-tier``, ``early-reordering``); this module only
derives their inputs from the patient and presents their decisions. See
``docs/risk-and-tiers.md``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from itertools import pairwise
from typing import Final

from opioidcds._base import ResultModel
from opioidcds._decide.knowledge import (
    _FLOOR_KINDS,
    _HIGH_DOSE_FACTOR,
    Backend,
    Engine,
    Knowledge,
    _engine,
    _parameter_note,
    _text,
    _texts,
    default_knowledge,
    for_knowledge,
)
from opioidcds._decide.local_results import LocalResult, local_rulesets
from opioidcds._decide.rules import (
    BoundRuleset,
    Citation,
    DecisionReport,
    Decisions,
    DecisionStatus,
    Profile,
)
from opioidcds._display import format_decimal, words
from opioidcds._errors import InvalidInputError, KnowledgeBaseError
from opioidcds._inputs.patient import Patient, ReadinessToChange, medicine_classes
from opioidcds._inputs.prescription import Prescription
from opioidcds._knowledge.products import MedicineClass
from opioidcds._knowledge.provenance import Provenance, names_a_product
from opioidcds._measure.ome import calculate_ome, item_figures
from opioidcds._measure.results import ItemAmounts, ItemStatus, OMEResult
from opioidcds._memo import memo_on_repeat

__all__ = [
    "Assessment",
    "FactorStatus",
    "LevelResult",
    "PrescriptionUse",
    "RiskFactorResult",
    "ScopeResult",
    "TierResult",
    "assess",
]

_VERY_HIGH_DOSE_FACTOR: Final = "very-high-dose"
_DOSE_FACTORS: Final = frozenset({_HIGH_DOSE_FACTOR, _VERY_HIGH_DOSE_FACTOR})
"""Dose factors: unknown when an incomplete total could cross them (ruleset headline)."""
_SEDATIVE_CLASSES: Final = (
    MedicineClass.BENZODIAZEPINE,
    MedicineClass.Z_DRUG,
    MedicineClass.GABAPENTINOID,
)
_TIER_FACTOR_PREFIX: Final = "factor_"
"""A support-tier input ``factor_<id>`` is the status of risk factor ``<id>`` (``_`` for ``-``)."""
_HUNDRED: Final = Decimal(100)


class FactorStatus(StrEnum):
    """A risk factor's status. Unknown is not absent (``docs/risk-and-tiers.md``, "Unknowns")."""

    PRESENT = "present"
    ABSENT = "absent"
    UNKNOWN = "unknown"


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
    next_steps: tuple[str, ...] = ()


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
    the unknown factors that, found present on their own, would raise ``level``. ``label`` and
    ``label_if_unknown`` are their display names (ruleset ``risk-level``).
    """

    level: str
    level_if_unknown: str
    rule_id: str
    meaning: str
    label: str = ""
    label_if_unknown: str = ""
    factor_count: int
    high_dose: FactorStatus
    could_raise: tuple[str, ...]
    basis: str


class TierResult(ResultModel):
    """The support tier with what to offer, next steps and resources (ruleset wording).

    ``tier_if_unknown`` is the tier with every unknown factor present; ``could_raise`` lists
    the unknown factors that on their own would raise the tier. ``label`` and
    ``label_if_unknown`` are the tiers' display names (ruleset ``support-tier``).
    ``shown_as_range`` is true when ruleset ``headline`` says the tier must be shown as the
    range ``tier`` to ``tier_if_unknown`` (unknowns could move it two or more steps, or an
    incomplete OME total could cross a dose threshold); ``first_action`` is then what to do
    first (also the first of ``next_steps``), else ``None``. For a patient out of scope,
    ``next_steps`` are the scope rule's (the pathway that fits the reason).
    """

    tier: str
    tier_if_unknown: str
    rule_id: str
    offer: str
    next_steps: tuple[str, ...]
    resources: tuple[str, ...]
    could_raise: tuple[str, ...]
    label: str = ""
    label_if_unknown: str = ""
    shown_as_range: bool = False
    first_action: str | None = None
    headline_rule_id: str | None = None


class Assessment(ResultModel):
    """The result of :func:`assess`, with its whole basis (``docs/safety/provenance.md``).

    ``risk_level`` is ``None`` for a patient out of scope (``tier.tier`` is then
    ``"out-of-scope"`` and ``scope.reason`` says why). ``unknown_factors`` lists every factor
    whose input is missing; ``unknowns_that_could_change`` those that could raise the level or
    tier: all of them when the level or tier with every unknown present is higher than with
    every unknown absent (each counts towards it), none otherwise (the tables are monotone).
    ``risk_level.could_raise`` and ``tier.could_raise`` name those that would raise it on
    their own. ``decisions`` holds every ruleset evaluation with per-rule traces.
    ``provenance`` names every knowledge source used, with a content hash of them all.
    ``local`` holds each local ruleset run for every patient (``--rules DIR``, issue 23),
    evaluated on the patient facts; empty without local rulesets.
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
    local: tuple[LocalResult, ...] = ()

    def factor(self, factor_id: str) -> RiskFactorResult:
        """The factor with this id; raises ``KeyError`` if there is none."""
        for f in self.factors:
            if f.id == factor_id:
                return f
        raise KeyError(factor_id)

    def explain(self) -> str:
        """The assessment in plain text for a GP: scope, OME, level, tier, next steps, factors.

        What the command line prints (``opioidcds assess``); every decision's trace is in the
        JSON form (``model_dump_json``).
        """
        lines = self._scope_lines()
        if self.ome is not None:
            total = format_decimal(self.ome.total_mg_per_day)
            shown = (
                f"{total} mg OME/day"
                if self.ome.complete
                else f"at least {total} mg OME/day (INCOMPLETE: a lower bound)"
            )
            lines.append(f"OME: {shown}; conversion table: {self.ome.table_name()}")
        skipped = [
            f"{u.label} ({', '.join(u.classes) or 'not an opioid'})"
            for u in self.prescriptions
            if not u.counted_for_ome
        ]
        if skipped:
            lines.append(f"  not counted for OME: {', '.join(skipped)}")
        if self.risk_level is not None:
            lines.extend(self._level_and_tier_lines(self.risk_level))
        if self.scope.in_scope:
            lines.extend(self._factor_lines())
        if self.readiness_to_change is not None:
            lines.append(f"Readiness to change: {words(self.readiness_to_change.value)}")
        lines.extend(r.text() for r in self.local)
        basis = ", ".join(
            f"{words(k.removeprefix('ruleset:'))} {v}"
            for k, v in self.versions.items()
            if k.startswith("ruleset:")
        )
        profile = self.versions["profile"]
        lines.append(
            f"Basis: rulesets {basis}; "
            f"{'no local profile' if profile == 'none' else 'profile ' + _profile_words(profile)}; "
            f"opioidcds {self.versions['opioidcds']}. Every decision's trace is in --json."
        )
        return "\n".join(lines)

    def _scope_lines(self) -> list[str]:
        lines = []
        if not self.scope.in_scope:
            lines.append(f"Out of scope: {self.scope.reason}")
            lines.append("Support tier: none")
            lines.extend(f"  - {step}" for step in self.tier.next_steps)
        else:
            assumed = (
                "" if self.scope.long_term_use_checked else " (long-term use assumed: no history)"
            )
            lines.append(f"In scope: {self.scope.reason}{assumed}")
        if self.scope.long_term_use_checked:
            lines.append(f"  History: {self.scope.history}")
        return lines

    def _level_and_tier_lines(self, lv: LevelResult) -> list[str]:
        uncertain = lv.level_if_unknown != lv.level
        upper = (
            f"; up to {lv.label_if_unknown or lv.level_if_unknown} if unknown factors are present"
            if uncertain
            else ""
        )
        tier = self.tier
        tier_uncertain = tier.tier_if_unknown != tier.tier
        upper_tier = (
            f" (could be {tier.label_if_unknown or tier.tier_if_unknown} if unknown factors "
            "are present)"
            if tier_uncertain
            else ""
        )
        shown = (
            f"{tier.label or tier.tier} to {tier.label_if_unknown or tier.tier_if_unknown}"
            " (a range: see the first step)"
            if tier.shown_as_range
            else f"{'at least ' if tier_uncertain else ''}{tier.label or tier.tier}{upper_tier}"
        )
        dose = {"present": "present", "absent": "absent", "unknown": "not known"}
        lines = [
            f"Risk level: {'at least ' if uncertain else ''}{lv.label or lv.level} "
            f"({lv.factor_count} factor(s) besides dose; high dose "
            f"{dose[lv.high_dose.value]}){upper}",
            f"Support tier: {shown}",
            f"  {tier.offer}",
        ]
        lines.extend(f"  - {step}" for step in tier.next_steps)
        if tier.resources:
            lines.append(f"  Resources: {'; '.join(tier.resources)}")
        return lines

    def _names(self, status: FactorStatus) -> str:
        found = [f.label for f in self.factors if f.status is status]
        return "; ".join(found) if found else "none"

    def _factor_lines(self) -> list[str]:
        lines = [
            f"Risk factors present: {self._names(FactorStatus.PRESENT)}",
            f"Unknown (not recorded): {self._names(FactorStatus.UNKNOWN)}",
        ]
        if self.unknowns_that_could_change:
            names = {f.id: f.label for f in self.factors}
            alone_ids = set(self.risk_level.could_raise if self.risk_level else ()) | set(
                self.tier.could_raise
            )
            alone = [names.get(f, f) for f in self.unknowns_that_could_change if f in alone_ids]
            lines.append(
                "  Recording these could raise the level or tier: "
                + "; ".join(names.get(f, f) for f in self.unknowns_that_could_change)
                + (f" (on its own: {'; '.join(alone)})" if alone else "")
            )
        return lines

    def __repr__(self) -> str:
        """Short and readable: scope, OME, level and tier."""
        if not self.scope.in_scope:
            return f"<Assessment out of scope: {self.scope.rule_id or 'undetermined'}>"
        ome = self.ome.total_text() if self.ome is not None else "no opioid"
        level = self.risk_level.level if self.risk_level is not None else "-"
        return f"<Assessment {ome}, risk {level}, tier {self.tier.tier}>"


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
    replaced = patient.replaced
    for i, (rx, classes) in enumerate(
        zip(patient.prescriptions, patient.prescription_classes, strict=True)
    ):
        names = tuple(sorted(c.value for c in classes))
        if i in replaced:
            uses.append(
                PrescriptionUse(
                    index=i,
                    label=_label(rx),
                    classes=names,
                    counted_for_ome=False,
                    ome_index=None,
                    note="replaced by another prescription of the list (a dose change): not "
                    "counted",
                )
            )
            continue
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
        counted.append(rx.without_identity())
        counted_index.append(i)
    return _Split(tuple(counted), tuple(counted_index), tuple(uses))


def _ome(prescriptions: tuple[Prescription, ...], knowledge: Knowledge) -> OMEResult:
    """OME of ``prescriptions`` (memoised from the second sight: frozen inputs, no identifiers).

    Keyed by content, with how each writes its numbers (the result shows them as written).
    """
    written = tuple([rx.written_numbers() for rx in prescriptions])
    return _ome_cached(prescriptions, written, knowledge)


@memo_on_repeat(maxsize=1024)
def _ome_cached(
    prescriptions: tuple[Prescription, ...],
    _written: tuple[tuple[str, ...] | None, ...],
    knowledge: Knowledge,
) -> OMEResult:
    return calculate_ome(
        prescriptions,
        table=knowledge.table,
        vocabulary=knowledge.vocabulary,
        catalogue=knowledge.catalogue,
    )


def _is_opioid_item(item: ItemAmounts) -> bool:
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


def opioid_use_days(patient: Patient) -> int | None:
    """Days from the earliest opioid issue of the history to the assessment date.

    ``None`` without a history (unknown); 0 when the history has no opioid issue.
    """
    history = patient.prescription_history
    if history is None:  # the commonest case: no history, no date to work out
        return None
    as_of = patient.assessment_date
    if as_of is None:
        return None
    dates = [r.issue_date for r in history if MedicineClass.OPIOID in medicine_classes(r)]
    return _days(as_of, min(dates)) if dates else 0


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


def _factor_inputs(
    patient: Patient, ome: OMEResult | None, hist: _History
) -> tuple[dict[str, object], dict[str, str]]:
    current_opioid = ome is not None and any(_is_opioid_item(i) for i in item_figures(ome))
    sedatives, sedatives_exact = sedative_medicines(patient, current_opioid=current_opioid)
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
            f"total {shown} mg OME/day (complete; conversion table: {ome.table_name()})"
            if ome.complete
            else f"total at least {shown} mg OME/day (INCOMPLETE: a lower bound)"
        )
    early_at_least = hist.early_known
    inputs: dict[str, object] = {
        "sex": sex,
        "age": patient.age,
        "benzodiazepine_coprescribed": patient.benzodiazepine,
        "z_drug_coprescribed": patient.z_drug,
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
        "sedative_medicines_at_least": sedatives,
        "sedative_medicines": sedatives_exact,
        "early_reorders_at_least": early_at_least,
        "early_reorders": early_at_least if hist.early_all_classed else None,
    }

    def coprescribed(stated: bool | None, derived: bool | None, cls: MedicineClass) -> str:
        found = [
            _label(rx)
            for i, (rx, c) in enumerate(
                zip(patient.prescriptions, patient.prescription_classes, strict=True)
            )
            if cls in c and i not in patient.replaced
        ]
        if found:
            return "from the current prescriptions: " + ", ".join(found)
        if stated is not None:
            return f"stated: {_TRI[stated]}"
        if derived is False:
            return "no: not in the complete medication list"
        return _TRI[derived]

    ae = f"stated: {_TRI[patient.ae_attendance_recent]}"
    if days_ae is not None:
        ae += f"; last attendance {days_ae} days before the assessment date"
    evidence = {
        "male-sex": f"sex: {patient.sex.value if sex else 'not recorded'}",
        "older-age": f"age: {patient.age}" if patient.age is not None else "age: not recorded",
        "benzodiazepine": "benzodiazepine "
        + coprescribed(
            patient.benzodiazepine_coprescribed,
            patient.benzodiazepine,
            MedicineClass.BENZODIAZEPINE,
        )
        + "; z-drug "
        + coprescribed(patient.z_drug_coprescribed, patient.z_drug, MedicineClass.Z_DRUG),
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
        "several-sedatives": (
            f"{sedatives} sedative medicine(s) known (the opioid once, each benzodiazepine, "
            "z-drug and gabapentinoid)"
            + ("" if sedatives_exact is not None else "; a sedative class is not recorded")
        ),
    }
    return inputs, evidence


_STATUS: Final = {
    DecisionStatus.FIRED: FactorStatus.PRESENT,
    DecisionStatus.NOT_FIRED: FactorStatus.ABSENT,
    DecisionStatus.CANNOT_EVALUATE: FactorStatus.UNKNOWN,
    DecisionStatus.OVERRIDDEN: FactorStatus.UNKNOWN,
    DecisionStatus.DISABLED: FactorStatus.ABSENT,
}


_FACT: Final = {
    FactorStatus.PRESENT: True,
    FactorStatus.ABSENT: False,
    FactorStatus.UNKNOWN: None,
}
"""A risk factor's status as a patient fact ``factor_<id>`` (unknown stays unknown)."""


def _level_of(
    bound: BoundRuleset, run: Engine, count: int, high_dose: bool
) -> tuple[str, Decisions]:
    d = run(bound, {"factor_count": count, "high_dose": high_dose})
    outcome = d.outcome
    if outcome is None:  # pragma: no cover - the linter proves the table complete
        raise KnowledgeBaseError("ruleset risk-level gave no level for known inputs")
    return _text(outcome["level"]), d


@lru_cache(maxsize=64)
def uncounted_factors(bound: BoundRuleset) -> frozenset[str]:
    """Factors not counted towards the risk level's factor count.

    The high-dose factor (the level reads it on its own) and every rule of ruleset
    ``risk-factors`` whose outcome ``kind`` is a dose band or a floor (they set a tier floor).
    """
    floors = {r.id for r in bound.ruleset.rules if dict(r.outcome).get("kind") in _FLOOR_KINDS}
    return frozenset({_HIGH_DOSE_FACTOR, *floors})


def sedative_medicines(patient: Patient, *, current_opioid: bool) -> tuple[int, int | None]:
    """The sedative medicines: (known at least, exact or ``None`` when a class is unknown).

    The opioid counts once (however many opioid products); each current benzodiazepine, z-drug
    or gabapentinoid prescription counts one; a class stated present with no prescription
    counts one. Exact only when every sedative class is known present or absent.
    """
    live = [c for i, c in enumerate(patient.prescription_classes) if i not in patient.replaced]
    flags = (patient.benzodiazepine, patient.z_drug, patient.gabapentinoid)
    count = int(current_opioid)
    for cls, flag in zip(_SEDATIVE_CLASSES, flags, strict=True):
        found = sum(1 for c in live if cls in c)
        count += max(found, 1 if flag is True else 0)
    return count, count if None not in flags else None


@lru_cache(maxsize=64)
def tier_factor_inputs(bound: BoundRuleset) -> tuple[tuple[str, str], ...]:
    """``(input, factor id)`` for each support-tier input that reads a risk factor's status.

    A support-tier input named ``factor_<id>`` (underscores for hyphens) is true when risk
    factor ``<id>`` is present: the tier's floors are data in ``rules/support-tier.toml``.
    """
    return tuple(
        (name, name.removeprefix(_TIER_FACTOR_PREFIX).replace("_", "-"))
        for name in bound.ruleset.input_names
        if name.startswith(_TIER_FACTOR_PREFIX)
    )


def tier_flags(
    bound: BoundRuleset, status: Mapping[str, FactorStatus], extra: AbstractSet[str]
) -> tuple[tuple[str, bool], ...]:
    """The support-tier factor inputs: present, or unknown and taken as present (``extra``).

    Raises:
        KnowledgeBaseError: a ``factor_<id>`` input names no risk factor (a knowledge defect:
            never read as absent).
    """
    flags = []
    for name, factor in tier_factor_inputs(bound):
        if factor not in status:
            raise KnowledgeBaseError(
                f"ruleset support-tier input '{name}' names no rule of ruleset risk-factors"
            )
        flags.append((name, status[factor] is FactorStatus.PRESENT or factor in extra))
    return tuple(flags)


def _tier_of(
    bound: BoundRuleset,
    run: Engine,
    level: str | None,
    flags: tuple[tuple[str, bool], ...],
    *,
    in_scope: bool,
) -> Decisions:
    return run(bound, {"in_scope": in_scope, "risk_level": level, **dict(flags)})


def headline_inputs(
    tiers: Sequence[str],
    status: Mapping[str, FactorStatus],
    tier_now: str | None,
    tier_upper: str | None,
    *,
    in_scope: bool,
) -> dict[str, object]:
    """Inputs of ruleset ``headline``.

    How many steps the unknowns could move the tier, and whether an incomplete OME total
    leaves a dose factor unknown.
    """
    if not in_scope or tier_now is None or tier_upper is None:
        return {"in_scope": False}
    return {
        "in_scope": True,
        "tier_steps_if_unknown": _rank(tiers, tier_upper) - _rank(tiers, tier_now),
        "dose_threshold_unknown": any(status.get(d) is FactorStatus.UNKNOWN for d in _DOSE_FACTORS),
    }


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
        next_steps=_texts(outcome.get("next_steps")),
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
    scope_steps: tuple[str, ...] = (),
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
        uncounted = uncounted_factors(kb.bound("risk-factors", profile))
        others = [f for f in factors if f.id not in uncounted]
        present = sum(1 for f in others if f.status is FactorStatus.PRESENT)
        unknown_others = sum(1 for f in others if f.status is FactorStatus.UNKNOWN)
        hd = status.get(_HIGH_DOSE_FACTOR, FactorStatus.ABSENT)

        def level_with(extra: set[str]) -> str:
            count = present + sum(1 for u in extra if u not in uncounted)
            high = hd is FactorStatus.PRESENT or _HIGH_DOSE_FACTOR in extra
            return _level_of(level_rs, run, count, high)[0]

        def tier_with(extra: set[str]) -> str:
            flags = tier_flags(tier_rs, status, extra)
            d = _tier_of(tier_rs, run, level_with(extra), flags, in_scope=True)
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
            f"{present} risk factor(s) present besides dose and floors; high-dose factor {hd.value}"
            f" -> rule {level_d.fired_ids[0] if level_d.fired_ids else '?'}"
        )
        risk_level = LevelResult(
            level=level,
            level_if_unknown=upper_level,
            label=level_rs.ruleset.label("level", level),
            label_if_unknown=level_rs.ruleset.label("level", upper_level),
            rule_id=level_d.fired_ids[0],
            meaning=_text(lo.get("meaning")),
            factor_count=present,
            high_dose=hd,
            could_raise=raise_level,
            basis=basis,
        )
        tier_d = _tier_of(tier_rs, run, level, tier_flags(tier_rs, status, set()), in_scope=True)
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
        tier_d = _tier_of(tier_rs, run, None, (), in_scope=False)
        upper_tier = _text((tier_d.outcome or {}).get("tier"))
        raise_tier = ()
        tier_now = upper_tier
    reports.append(tier_d.report())
    tier_outcome = tier_d.outcome or {}
    head_d = run(
        kb.bound("headline", profile),
        headline_inputs(tiers, status, tier_now, upper_tier, in_scope=in_scope),
    )
    reports.append(head_d.report())
    head = head_d.outcome or {}
    first_action = _text(head.get("first_action")) or None
    steps = scope_steps if not in_scope else _texts(tier_outcome.get("next_steps"))
    tier = TierResult(
        tier=_text(tier_outcome.get("tier")),
        tier_if_unknown=upper_tier,
        label=tier_rs.ruleset.label("tier", _text(tier_outcome.get("tier"))),
        label_if_unknown=tier_rs.ruleset.label("tier", upper_tier),
        rule_id=tier_d.fired_ids[0] if tier_d.fired_ids else "",
        offer=_text(tier_outcome.get("offer")),
        next_steps=(first_action, *steps) if first_action else steps,
        resources=_texts(tier_outcome.get("resources")),
        could_raise=raise_tier,
        shown_as_range=head.get("show_range") is True,
        first_action=first_action,
        headline_rule_id=head_d.fired_ids[0] if head_d.fired_ids else None,
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
        patient: the patient (see :class:`~opioidcds.Patient`).
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
    current_opioid = ome is not None and any(_is_opioid_item(i) for i in item_figures(ome))
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
        factors, kb, profile, run, in_scope=bool(in_scope), scope_steps=scope.next_steps
    )
    reports.extend(tier_reports)
    local: tuple[LocalResult, ...] = ()
    if local_rulesets(kb):
        # imported here: it reads the rules' file schema, which a check needs not import
        from opioidcds._decide.patient_facts import derive_facts, local_results  # noqa: PLC0415

        sedatives, _ = sedative_medicines(patient, current_opioid=current_opioid)
        facts = derive_facts(
            patient,
            ome=ome,
            current_opioid=current_opioid,
            opioid_use_days=hist.use_days,
            early_reorders_at_least=hist.early_known,
            sedative_medicines_at_least=sedatives,
            in_scope=in_scope,
            factors={f.id: _FACT[f.status] for f in factors},
            factor_count=risk_level.factor_count if risk_level is not None else None,
            risk_level=risk_level.level if risk_level is not None else None,
            risk_level_if_unknown=risk_level.level_if_unknown if risk_level is not None else None,
            tier=tier.tier or None,
        )
        local = local_results(kb, profile, facts, run)
        reports.extend(r.report for r in local)
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
        local=local,
    )


def _names_product(patient: Patient) -> bool:
    """Whether a record of ``patient`` names a dm+d product (the bundled catalogue is then used).

    Its current prescriptions or its history; the prescribing check reads its new
    prescription first, itself.
    """
    return names_a_product(patient.prescriptions) or names_a_product(
        patient.prescription_history or ()
    )


def _profile_words(versions_entry: str) -> str:
    """The ``"profile"`` entry of ``Knowledge.versions`` (``"<id> <version>"``) for people.

    ``"exampleshire 90, version 0.1.1"``: a profile file has no title, so its id in words.
    """
    profile_id, _, version = versions_entry.partition(" ")
    return f"{words(profile_id)}, version {version}" if version else words(profile_id)
