"""Per-script prescribing alerts, decided by the ``prescribing-alerts`` ruleset.

:func:`check_prescription` answers "what should the prescriber see before issuing this
prescription": the alerts of ruleset ``prescribing-alerts``, with the patient's OME before and
after, each alert's citations, actions and trace. All clinical numbers and wording are in the
ruleset; this module derives its inputs and presents its decisions.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache

from opioidcds._base import ResultModel
from opioidcds._decide.assessment import _is_opioid_item, _names_product, _ome
from opioidcds._decide.knowledge import (
    Backend,
    Knowledge,
    _parameter_note,
    _text,
    _texts,
    _truths,
    default_knowledge,
    for_knowledge,
)
from opioidcds._decide.rules import BoundRuleset, Citation, Profile, Stage
from opioidcds._decide.rules.conditions import Scalar, Truth
from opioidcds._display import format_decimal, most_serious_first
from opioidcds._errors import InvalidInputError
from opioidcds._inputs.patient import Patient, medicine_classes
from opioidcds._inputs.prescription import Prescription
from opioidcds._knowledge.products import MedicineClass
from opioidcds._knowledge.provenance import Provenance
from opioidcds._measure.results import ItemStatus, OMEItem

__all__ = ["Alert", "AlertSeverity", "check_prescription"]


class AlertSeverity(StrEnum):
    """How urgently a prescriber should read an alert."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


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

    def explain(self) -> str:
        """The alert in plain text: severity and summary, the figures, what to do, the basis."""
        lines = [f"{self.severity.value.upper()} {self.summary}", f"  {self.detail}"]
        lines.extend(f"  - {action}" for action in self.actions)
        sources = ", ".join(c.id for c in self.citations)
        lines.append(
            f"  rule {self.id} ({self.ruleset_id} {self.ruleset_version}); sources: {sources}"
        )
        return "\n".join(lines)

    def __repr__(self) -> str:
        """Short and readable: severity, rule and summary."""
        return f"<Alert {self.severity.value} {self.id}: {self.summary}>"


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
    ``prescribing-alerts``, most serious first (critical, warning, info) and in file order
    within a severity, each with its figures, citations, actions and trace.
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
    alerts = _present_alerts(bound, values, truths(bound, values), figures, provenance)
    return most_serious_first(alerts, lambda a: a.severity.value)


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
