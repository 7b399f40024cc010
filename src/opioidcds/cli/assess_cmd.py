"""``opioidcds assess`` and ``opioidcds check``: risk, tier and prescribing alerts for a patient.

Input is a JSON object with the fields of :class:`~opioidcds.Patient` (and, for
``check``, ``new_prescription`` and optionally ``reauthorisation``); ``description`` is
allowed and ignored. Exit codes as for ``ome``: 0 a result was computed, 2 invalid input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from opioidcds._decide.alerts import ALERT_RULESET, Alert, check_prescription
from opioidcds._decide.assessment import Assessment, assess
from opioidcds._decide.knowledge import Knowledge, default_knowledge, load_knowledge
from opioidcds._decide.profile_notes import ProfileSummary, in_force, profile_summary
from opioidcds._decide.rules import Profile, load_profile
from opioidcds._display import citation_title
from opioidcds._errors import InvalidInputError, OpioidCDSError
from opioidcds._inputs.patient import Patient
from opioidcds._inputs.prescription import Prescription
from opioidcds.cli.io import fail, fhir_hint, read_json

__all__ = [
    "alert_lines",
    "assess_command",
    "check_command",
    "parse_check",
    "parse_patient",
    "print_in_force",
    "render_alerts",
    "render_assessment",
]

_CHECK_KEYS = frozenset({"new_prescription", "reauthorisation"})


def parse_patient(data: Any) -> Patient:  # noqa: ANN401 - untyped JSON
    """Validate a JSON object as a :class:`Patient` (``description`` ignored).

    Raises:
        InvalidInputError: not an object, or a field is invalid (named, never echoed).
    """
    fhir_hint(data, "assess")
    if not isinstance(data, dict):
        raise InvalidInputError(
            "input",
            "must be a JSON object describing the patient (see examples/patient-assess.json)",
        )
    fields = {k: v for k, v in data.items() if k != "description"}
    return Patient.model_validate(fields)


def parse_check(data: Any) -> tuple[Patient, Prescription, bool]:  # noqa: ANN401 - JSON
    """Validate the ``check`` input: the patient, ``new_prescription``, ``reauthorisation``.

    Raises:
        InvalidInputError: as :func:`parse_patient`, or ``new_prescription`` missing/invalid.
    """
    fhir_hint(data, "check")
    if not isinstance(data, dict):
        raise InvalidInputError(
            "input",
            "must be a JSON object describing the patient (see examples/patient-check.json)",
        )
    raw = data.get("new_prescription")
    if raw is None:
        raise InvalidInputError(
            "new_prescription",
            "is required: add the prescription to check (see examples/patient-check.json); "
            "to assess the patient without one, use 'opioidcds assess'",
        )
    try:
        new = Prescription.model_validate(raw)
    except InvalidInputError as exc:
        raise InvalidInputError(f"new_prescription.{exc.field}", exc.rule) from None
    reauthorisation = data.get("reauthorisation", False)
    if not isinstance(reauthorisation, bool):
        raise InvalidInputError("reauthorisation", "must be true or false")
    patient = parse_patient({k: v for k, v in data.items() if k not in _CHECK_KEYS})
    return patient, new, reauthorisation


def _knowledge(profile: Path | None, rules: Path | None) -> tuple[Knowledge, Profile | None]:
    """The knowledge (with the local rules of ``rules``) and the profile, checked together."""
    prof = load_profile(profile) if profile is not None else None
    if rules is None:
        return default_knowledge(), prof
    return load_knowledge(local_rules=rules), prof


def _summary(knowledge: Knowledge, profile: Profile | None) -> ProfileSummary | None:
    return profile_summary(profile, knowledge.rulesets) if profile is not None else None


_SEVERITY_STYLE = {"info": "cyan", "warning": "yellow", "critical": "bold red"}
_HEADINGS = (
    "In scope:",
    "Out of scope:",
    "OME:",
    "Risk level:",
    "Support tier:",
    "Risk factors present:",
    "Unknown (not recorded):",
)


def _print_text(console: Console, text: str) -> None:
    """Print plain text literally (never read as markup), headings in bold."""
    for line in text.splitlines():
        bold = line.startswith(_HEADINGS)
        console.print(line, style="bold" if bold else None, markup=False, highlight=False)


def render_assessment(a: Assessment, console: Console) -> None:
    """Print an assessment for a GP: its own plain-text explanation (:meth:`Assessment.explain`)."""
    _print_text(console, a.explain())


def alert_lines(alert: Alert) -> list[str]:
    """An alert as lines people read: severity and summary, figures, actions, sources.

    Most serious first is the order of the list given (:func:`check_prescription` sorts);
    the rule's id and its condition trace are in ``--json``, the sources by their titles.
    """
    lines = [f"{alert.severity.value.upper()}  {alert.summary}", f"  {alert.detail}"]
    lines.extend(f"  - {action}" for action in alert.actions)
    titles = dict.fromkeys(citation_title(c.text) for c in alert.citations)
    if titles:
        lines.append(f"  Sources: {'; '.join(titles)}")
    return lines


def print_in_force(knowledge: Knowledge, profile: Profile | None, console: Console) -> None:
    """Print the local profile and local rules in force and what they changed (if any)."""
    for line in in_force(knowledge.rulesets, profile):
        console.print(line, style="bold", markup=False, highlight=False)


def render_alerts(
    alerts: list[Alert],
    console: Console,
    summary: ProfileSummary | None = None,
    notes: tuple[str, ...] = (),
) -> None:
    """Print alerts for a prescriber, most serious first, the severity in colour.

    ``notes`` (the profile and local rules in force, :func:`in_force`) come first; "No alerts"
    then says which prescribing alerts the profile (``summary``) switched off.
    """
    for line in notes:
        console.print(line, style="bold", markup=False, highlight=False)
    if not alerts:
        console.print("No alerts for this prescription.", highlight=False)
        off = (
            summary.none_because_disabled(ALERT_RULESET, "prescribing alert(s)")
            if summary
            else None
        )
        if off:
            console.print(off, style="bold", markup=False, highlight=False)
        return
    console.print(f"[bold]{len(alerts)} alert(s), most serious first[/bold]", highlight=False)
    for alert in alerts:
        first, *rest = alert_lines(alert)
        style = _SEVERITY_STYLE.get(alert.severity.value)
        console.print(first, style=style, markup=False, highlight=False)
        for line in rest:
            console.print(line, markup=False, highlight=False)


SourceArg = Annotated[str, typer.Argument(help="JSON file describing the patient, or - for stdin.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.", metavar="")]
RulesOpt = Annotated[
    Path | None,
    typer.Option(
        "--rules",
        help="A folder of local rules beside the bundled ones (extensions adding rules).",
        metavar="DIR",
    ),
]
ProfileOpt = Annotated[
    Path | None,
    typer.Option(
        "--profile",
        help="A local profile (.toml) overriding thresholds or rules.",
        metavar="FILE",
    ),
]


def assess_command(
    source: SourceArg, as_json: JsonOpt = False, profile: ProfileOpt = None, rules: RulesOpt = None
) -> None:
    """Assess a patient: scope, OME, risk factors, risk level and support tier."""
    try:
        patient = parse_patient(read_json(source))
        knowledge, prof = _knowledge(profile, rules)
        result = assess(patient, knowledge=knowledge, profile=prof)
    except OpioidCDSError as exc:
        raise typer.Exit(fail(exc)) from None
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
    else:
        console = Console()
        print_in_force(knowledge, prof, console)
        render_assessment(result, console)


def check_command(
    source: SourceArg, as_json: JsonOpt = False, profile: ProfileOpt = None, rules: RulesOpt = None
) -> None:
    """Check a new (or re-authorised) prescription: the alerts a prescriber should see."""
    try:
        patient, new, reauthorisation = parse_check(read_json(source))
        knowledge, prof = _knowledge(profile, rules)
        alerts = check_prescription(
            patient, new, reauthorisation=reauthorisation, knowledge=knowledge, profile=prof
        )
    except OpioidCDSError as exc:
        raise typer.Exit(fail(exc)) from None
    if as_json:
        typer.echo("[" + ",\n".join(a.model_dump_json(indent=2) for a in alerts) + "]")
    else:
        render_alerts(
            alerts, Console(), _summary(knowledge, prof), in_force(knowledge.rulesets, prof)
        )
