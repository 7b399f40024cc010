"""``opioidcds assess`` and ``opioidcds check``: risk, tier and prescribing alerts for a patient.

Input is a JSON object with the fields of :class:`~opioidcds.patient.Patient` (and, for
``check``, ``new_prescription`` and optionally ``reauthorisation``); ``description`` is
allowed and ignored. Exit codes as for ``ome``: 0 a result was computed, 2 invalid input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from opioidcds.assess import (
    Alert,
    Assessment,
    FactorStatus,
    Knowledge,
    assess,
    check_prescription,
    default_knowledge,
)
from opioidcds.cli.io import fail, read_json
from opioidcds.errors import InvalidInputError, OpioidCDSError
from opioidcds.models import Prescription
from opioidcds.ome import format_decimal
from opioidcds.patient import Patient
from opioidcds.rules import Profile, load_profile

__all__ = [
    "assess_command",
    "check_command",
    "parse_check",
    "parse_patient",
    "render_alerts",
    "render_assessment",
]

_CHECK_KEYS = frozenset({"new_prescription", "reauthorisation"})


def parse_patient(data: Any) -> Patient:  # noqa: ANN401 - untyped JSON
    """Validate a JSON object as a :class:`Patient` (``description`` ignored).

    Raises:
        InvalidInputError: not an object, or a field is invalid (named, never echoed).
    """
    if not isinstance(data, dict):
        raise InvalidInputError("input", "must be a JSON object describing the patient")
    fields = {k: v for k, v in data.items() if k != "description"}
    return Patient.model_validate(fields)


def parse_check(data: Any) -> tuple[Patient, Prescription, bool]:  # noqa: ANN401 - JSON
    """Validate the ``check`` input: the patient, ``new_prescription``, ``reauthorisation``.

    Raises:
        InvalidInputError: as :func:`parse_patient`, or ``new_prescription`` missing/invalid.
    """
    if not isinstance(data, dict):
        raise InvalidInputError("input", "must be a JSON object describing the patient")
    raw = data.get("new_prescription")
    if raw is None:
        raise InvalidInputError("new_prescription", "is required")
    try:
        new = Prescription.model_validate(raw)
    except InvalidInputError as exc:
        raise InvalidInputError(f"new_prescription.{exc.field}", exc.rule) from None
    reauthorisation = data.get("reauthorisation", False)
    if not isinstance(reauthorisation, bool):
        raise InvalidInputError("reauthorisation", "must be true or false")
    patient = parse_patient({k: v for k, v in data.items() if k not in _CHECK_KEYS})
    return patient, new, reauthorisation


def _knowledge(profile: Path | None) -> tuple[Knowledge, Profile | None]:
    return default_knowledge(), (load_profile(profile) if profile is not None else None)


_LEVEL_STYLE = {"low": "green", "moderate": "yellow", "high": "red", "very-high": "bold red"}
_SEVERITY_STYLE = {"info": "cyan", "warning": "yellow", "critical": "bold red"}


def _names(a: Assessment, status: FactorStatus) -> str:
    found = [f.label for f in a.factors if f.status is status]
    return "; ".join(found) if found else "none"


def render_assessment(a: Assessment, console: Console) -> None:
    """Print an assessment for a GP: scope, OME, level, tier, next steps, factors, basis."""
    p = console.print
    if not a.scope.in_scope:
        p(f"[bold]Out of scope:[/bold] {escape(a.scope.reason)}", highlight=False)
        p("[bold]Support tier:[/bold] none", highlight=False)
        for step in a.tier.next_steps:
            p(f"  - {escape(step)}", highlight=False)
    else:
        assumed = "" if a.scope.long_term_use_checked else " (long-term use assumed: no history)"
        p(f"[bold]In scope:[/bold] {escape(a.scope.reason)}{assumed}", highlight=False)
    if a.scope.long_term_use_checked:
        p(f"  History: {escape(a.scope.history)}", highlight=False)
    if a.ome is not None:
        total = format_decimal(a.ome.total_mg_per_day)
        shown = (
            f"{total} mg OME/day"
            if a.ome.complete
            else f"at least {total} mg OME/day (INCOMPLETE: a lower bound)"
        )
        p(
            f"[bold]OME:[/bold] {shown}; table {a.ome.table_id} {a.ome.table_version}",
            highlight=False,
        )
    skipped = [
        f"{u.label} ({', '.join(u.classes) or 'not an opioid'})"
        for u in a.prescriptions
        if not u.counted_for_ome
    ]
    if skipped:
        p(f"  not counted for OME: {escape(', '.join(skipped))}", highlight=False)
    if a.risk_level is not None:
        lv = a.risk_level
        style = _LEVEL_STYLE.get(lv.level, "bold")
        uncertain = lv.level_if_unknown != lv.level
        upper = (
            f"; up to {lv.level_if_unknown.upper()} if unknown factors are present"
            if uncertain
            else ""
        )
        p(
            f"[bold]Risk level:[/bold] {'at least ' if uncertain else ''}"
            f"[{style}]{lv.level.upper()}[/{style}] "
            f"({lv.factor_count} factor(s) besides dose; dose factor {lv.high_dose.value}){upper}",
            highlight=False,
        )
        tier = a.tier
        tier_uncertain = tier.tier_if_unknown != tier.tier
        upper_tier = (
            f" (could be {tier.tier_if_unknown} if unknown factors are present)"
            if tier_uncertain
            else ""
        )
        p(
            f"[bold]Support tier:[/bold] {'at least ' if tier_uncertain else ''}"
            f"{tier.tier}{upper_tier}",
            highlight=False,
        )
        p(f"  {escape(tier.offer)}", highlight=False)
        for step in tier.next_steps:
            p(f"  - {escape(step)}", highlight=False)
        if tier.resources:
            p(f"  Resources: {escape('; '.join(tier.resources))}", highlight=False)
    if a.scope.in_scope:
        _render_factors(a, console)
    if a.readiness_to_change is not None:
        p(f"Readiness to change: {a.readiness_to_change.value}", highlight=False)
    basis = ", ".join(f"{k} {v}" for k, v in a.versions.items() if k.startswith("ruleset:"))
    p(
        f"Basis: {basis}; profile {a.versions['profile']}; opioidcds {a.versions['opioidcds']}. "
        "Every decision's trace is in --json.",
        highlight=False,
    )


def _render_factors(a: Assessment, console: Console) -> None:
    p = console.print
    p(f"[bold]Risk factors present:[/bold] {escape(_names(a, FactorStatus.PRESENT))}")
    unknown = _names(a, FactorStatus.UNKNOWN)
    p(f"[bold]Unknown (not recorded):[/bold] {escape(unknown)}", highlight=False)
    if a.unknowns_that_could_change:
        alone = sorted(
            set(a.risk_level.could_raise if a.risk_level else ()) | set(a.tier.could_raise)
        )
        p(
            "  Recording these could raise the level or tier: "
            + escape(", ".join(a.unknowns_that_could_change))
            + (f" (on its own: {escape(', '.join(alone))})" if alone else ""),
            highlight=False,
        )


def render_alerts(alerts: list[Alert], console: Console) -> None:
    """Print alerts for a prescriber: severity, summary, figures and actions."""
    p = console.print
    if not alerts:
        p("No alerts for this prescription.", highlight=False)
        return
    p(f"[bold]{len(alerts)} alert(s)[/bold]", highlight=False)
    for alert in alerts:
        style = _SEVERITY_STYLE.get(alert.severity.value, "bold")
        p(
            f"[{style}]{alert.severity.value.upper()}[/{style}] {escape(alert.summary)}",
            highlight=False,
        )
        p(f"  {escape(alert.detail)}", highlight=False)
        for action in alert.actions:
            p(f"  - {escape(action)}", highlight=False)
        sources = ", ".join(c.id for c in alert.citations)
        p(
            f"  [dim]rule {alert.id} ({alert.ruleset_id} {alert.ruleset_version}); "
            f"sources: {sources}[/dim]"
        )


SourceArg = Annotated[str, typer.Argument(help="JSON file describing the patient, or - for stdin.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
ProfileOpt = Annotated[
    Path | None,
    typer.Option("--profile", help="A local profile (.toml) overriding thresholds or rules."),
]


def assess_command(source: SourceArg, as_json: JsonOpt = False, profile: ProfileOpt = None) -> None:
    """Assess a patient: scope, OME, risk factors, risk level and support tier."""
    try:
        patient = parse_patient(read_json(source))
        knowledge, prof = _knowledge(profile)
        result = assess(patient, knowledge=knowledge, profile=prof)
    except OpioidCDSError as exc:
        raise typer.Exit(fail(exc)) from None
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
    else:
        render_assessment(result, Console())


def check_command(source: SourceArg, as_json: JsonOpt = False, profile: ProfileOpt = None) -> None:
    """Check a new (or re-authorised) prescription: the alerts a prescriber should see."""
    try:
        patient, new, reauthorisation = parse_check(read_json(source))
        knowledge, prof = _knowledge(profile)
        alerts = check_prescription(
            patient, new, reauthorisation=reauthorisation, knowledge=knowledge, profile=prof
        )
    except OpioidCDSError as exc:
        raise typer.Exit(fail(exc)) from None
    if as_json:
        typer.echo("[" + ",\n".join(a.model_dump_json(indent=2) for a in alerts) + "]")
    else:
        render_alerts(alerts, Console())
