"""``opioidcds discharge``: the acute-trust checks on one episode.

The hospital bundle of the NHS England analysis of opioid-reduction programmes (2023),
``docs/acute.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from opioidcds._decide.hospital import (
    AcuteCheck,
    AcuteEpisode,
    DischargeCheck,
    InpatientCheck,
    check_episode,
)
from opioidcds._decide.knowledge import load_knowledge
from opioidcds._decide.profile_notes import local_rules_text
from opioidcds._decide.rules import load_profile
from opioidcds._display import citation_title, format_decimal, words
from opioidcds._errors import OpioidCDSError
from opioidcds.cli.io import fail, read_json

__all__ = ["discharge_command", "render_check"]

_COLOUR = {"critical": "bold red", "warning": "yellow", "info": "cyan"}


def _print(console: Console, text: str) -> None:
    console.print(text, highlight=False)


def render_check(check: AcuteCheck, console: Console) -> None:
    """Print ``check`` for people: alerts most serious first, undecided rules, the basis.

    Rule ids and condition traces are in ``--json``; sources are shown by their titles.
    """
    profile = (
        f"; local profile {words(check.profile_id)}, version {check.profile_version}"
        if check.profile_id
        else ""
    )
    setting = "Discharge" if check.care_setting.value == "discharge" else "Inpatient"
    _print(
        console,
        f"[bold]{setting} check[/bold] (hospital opioid checks {check.ruleset_version}"
        f"{escape(profile)})",
    )
    summary = check.profile_summary
    if summary is not None:
        _print(console, f"[bold]{escape(summary.text())}[/bold]")
    if not check.alerts:
        _print(console, "No alerts.")
        off = summary.none_because_disabled(check.ruleset_id, "alert(s)") if summary else None
        if off:
            _print(console, f"[bold]{escape(off)}[/bold]")
    for alert in check.alerts:
        colour = _COLOUR.get(alert.severity, "bold")
        _print(console, f"\n[{colour}]{alert.severity.upper()}[/{colour}]  {escape(alert.summary)}")
        _print(console, f"  {escape(alert.detail)}")
        _print(console, f"  [bold]Suggested action:[/bold] {escape(alert.action)}")
        titles = dict.fromkeys(citation_title(c.text) for c in alert.citations)
        if titles:
            _print(console, f"  Sources: {escape('; '.join(titles))}")
    if check.cannot_evaluate:
        _print(console, "\n[bold red]Could not be checked (information not recorded):[/bold red]")
        for rule in check.cannot_evaluate:
            needs = "; ".join(rule.unknown_labels)
            fields = ", ".join(words(m) for m in rule.missing)
            needs = f"{needs} (record: {fields})" if needs else fields
            _print(console, f"  {escape(rule.title or words(rule.rule_id))}: needs {escape(needs)}")
    _print(console, "")
    _render_basis(check, console)
    _print(
        console,
        f"opioidcds {check.library_version}. Decision support, not a decision. Rule ids and "
        "the reasoning of each rule: --json.",
    )


def _render_basis(check: AcuteCheck, console: Console) -> None:
    if isinstance(check, DischargeCheck):
        total = format_decimal(check.ome.total_mg_per_day)
        if check.ome.complete:
            _print(console, f"Total daily OME of the discharge opioids: {total} mg/day")
        else:
            _print(
                console,
                f"[bold red]Total daily OME: at least {total} mg/day (INCOMPLETE: a lower "
                "bound; some prescription could not be converted)[/bold red]",
            )
        _print(
            console,
            f"Conversion table: {escape(check.ome.table_name())}; "
            f"PRN policy {check.ome.prn_policy.value}.",
        )
        for rx in check.prescriptions:
            mr = {True: "modified-release", False: "immediate-release", None: "release unknown"}
            opioid = {True: "opioid", False: "not an opioid", None: "not recognised"}
            days = f"{rx.days_supply} days" if rx.days_supply is not None else "days unknown"
            _print(
                console,
                f"  {rx.index + 1}. {escape(rx.label)}: {opioid[rx.opioid]}, "
                f"{mr[rx.modified_release]}, {days}",
            )
    if isinstance(check, InpatientCheck):
        first, latest = check.first_iv_morphine_bolus, check.latest_iv_morphine_bolus
        if first is not None and latest is not None:
            _print(
                console,
                f"IV morphine boluses: {check.iv_morphine_bolus_count}, first "
                f"{first.isoformat()}, latest {latest.isoformat()}",
            )
        hours = check.inputs.get("iv_morphine_bolus_span_hours")
        if hours is not None:
            _print(console, f"First to latest IV morphine bolus: {hours} hours")


def discharge_command(
    source: Annotated[str, typer.Argument(help="JSON file of an acute episode, or - for stdin.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON.", metavar="")
    ] = False,
    profile: Annotated[
        Path | None,
        typer.Option("--profile", help="A trust profile (TOML) to apply.", metavar="FILE"),
    ] = None,
    rules: Annotated[
        Path | None,
        typer.Option(
            "--rules",
            help="A folder of local rules beside the bundled ones (extensions adding rules).",
            metavar="DIR",
        ),
    ] = None,
) -> None:
    """Check a discharge (or inpatient) episode against the hospital-bundle rules."""
    try:
        data = read_json(source)
        if isinstance(data, dict):  # a top-level "description" documents an example file
            data = {k: v for k, v in data.items() if k != "description"}
        episode = AcuteEpisode.model_validate(data)
        prof = load_profile(profile) if profile is not None else None
        local = load_knowledge(local_rules=rules).rulesets if rules is not None else None
        check = check_episode(episode, profile=prof, rulesets=local)
    except OpioidCDSError as exc:
        raise typer.Exit(fail(exc)) from None
    if as_json:
        typer.echo(check.model_dump_json(indent=2))
    else:
        console = Console()
        note = local_rules_text(local) if local is not None else None
        if note:
            console.print(note, style="bold", markup=False, highlight=False)
        render_check(check, console)
