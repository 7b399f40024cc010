"""``opioidcds taper``: a tapering plan from a JSON request, as a table, JSON or HTML handout.

The request is a JSON object::

    {"prescriptions": [...], "start": "2027-01-04", "reduction": "0.10", "every_days": 14,
     "target": "0", "reduce_from": "current", "order": [1, 0],
     "hold_points": [{"at_step": 2, "intervals": 1}],
     "pace": [{"from_step": 4, "every_days": 28, "reduction": "0.05"}],
     "contacts": {"practice_name": "...", "practice_phone": "...",
                  "pharmacy_name": "...", "pharmacy_phone": "..."}}

Only ``prescriptions`` is required (a bare list of prescriptions is accepted too); defaults
come from ``conversion_tables/taper.toml``. The handout (``--html``) is one printable page for
the patient and the community pharmacy (NHS England analysis of opioid-reduction programmes,
2023, "Treat": plans are shared with the practice team and the pharmacy), in plain words that
avoid stigmatising terms (``docs/tapering.md``; a patient of the South Gloucestershire service
was upset by an invitation letter's wording: Kesten et al., Br J Gen Pract 2020;70:e120-e129).
Every value from the input is HTML-escaped.
"""

from __future__ import annotations

import datetime as dt
import html
from decimal import Decimal
from pathlib import Path
from string import Template
from typing import Annotated, Any

import typer
from pydantic import Field
from rich.console import Console

from opioidcds._base import InputModel
from opioidcds._decide.taper import (
    HoldPoint,
    PaceChange,
    ReduceFrom,
    TaperPlan,
    taper_plan,
)
from opioidcds._display import format_date, format_decimal
from opioidcds._errors import InvalidInputError, OpioidCDSError
from opioidcds._knowledge.tables import BUNDLED_TABLES, DEFAULT_TABLE_ID, load_table
from opioidcds._outputs import write_text
from opioidcds.cli.io import fail, read_json
from opioidcds.cli.ome_cmd import parse_prescriptions

__all__ = ["Contacts", "TaperRequest", "parse_request", "render_handout", "taper_command"]

_TEXT = 200  # longest contact field accepted (not clinical)


class Contacts(InputModel):
    """Who the patient and the pharmacy contact about the plan (shown on the handout)."""

    practice_name: str | None = Field(default=None, max_length=_TEXT)
    practice_phone: str | None = Field(default=None, max_length=_TEXT)
    prescriber: str | None = Field(default=None, max_length=_TEXT)
    pharmacy_name: str | None = Field(default=None, max_length=_TEXT)
    pharmacy_phone: str | None = Field(default=None, max_length=_TEXT)


class TaperRequest(InputModel):
    """The options of a taper request (prescriptions are validated separately)."""

    description: str | None = Field(default=None, max_length=2000)
    start: dt.date | None = None
    reduction: Decimal | None = Field(default=None, gt=0, lt=1, max_digits=12, decimal_places=10)
    every_days: int | None = Field(default=None, ge=1, le=366)
    target: Decimal = Field(default=Decimal(0), ge=0, max_digits=20, decimal_places=10)
    reduce_from: ReduceFrom = ReduceFrom.CURRENT
    order: tuple[int, ...] | None = None
    hold_points: tuple[HoldPoint, ...] = ()
    pace: tuple[PaceChange, ...] = ()
    contacts: Contacts = Contacts()


def parse_request(data: Any) -> tuple[list[Any], TaperRequest]:  # noqa: ANN401 - untyped JSON
    """Split a request into validated prescriptions and options.

    Raises:
        InvalidInputError: the shape is wrong or a field is invalid (field path named).
    """
    if isinstance(data, list):
        return parse_prescriptions(data), TaperRequest()
    if not isinstance(data, dict):
        raise InvalidInputError("input", "must be a JSON object with 'prescriptions'")
    options = {k: v for k, v in data.items() if k != "prescriptions"}
    return parse_prescriptions(data.get("prescriptions")), TaperRequest.model_validate(options)


def render_plan(plan: TaperPlan, console: Console) -> None:
    """Print ``plan`` for a prescriber or pharmacist: its own text (:meth:`TaperPlan.explain`).

    Step headings are bold; refusals bold red.
    """
    for line in plan.explain().splitlines():
        style = None
        if line.startswith("Step "):
            style = "bold"
        elif line.startswith("NOT PLANNED"):
            style = "bold red"
        console.print(line, style=style, markup=False, highlight=False)


_HANDOUT = Template("""<!DOCTYPE html>
<html lang="en-GB">
<head>
<meta charset="utf-8">
<title>Your medicine reduction plan</title>
<style>
  @page { size: A4; margin: 12mm; }
  body { font-family: Arial, Helvetica, sans-serif; font-size: 10.5pt; line-height: 1.35;
         color: #000; max-width: 190mm; margin: 0 auto; }
  h1 { font-size: 15pt; margin: 0 0 4pt; }
  h2 { font-size: 11.5pt; margin: 9pt 0 3pt; }
  p, ul { margin: 3pt 0; }
  ul { padding-left: 16pt; }
  table { border-collapse: collapse; width: 100%; margin: 4pt 0; }
  th, td { border: 1px solid #444; padding: 1pt 3pt; text-align: left; vertical-align: top;
           font-size: 9pt; }
  tr { page-break-inside: avoid; }
  th { background: #e8e8e8; }
  .small { font-size: 8.5pt; color: #333; }
  .box { border: 2px solid #000; padding: 4pt 6pt; margin: 6pt 0; }
  .cols { display: flex; gap: 10pt; }
  .cols > div { flex: 1; }
</style>
</head>
<body>
<h1>Your medicine reduction plan</h1>
<p>This plan was agreed with you to reduce your pain medicine slowly and safely. It goes at a
pace that suits you: if a step is hard, tell us. We can stay at a dose for longer, or go more
slowly. You will not be left without support.</p>
$refused
<h2>Your plan</h2>
<p>Each step changes one medicine; your other medicines stay as they are.</p>
<table>
<tr><th>From</th><th>To</th><th>What to take</th></tr>
$rows
</table>
<h2>What you may notice when the dose goes down</h2>
<p>Some people notice changes for a few days after each step. You may feel restless, anxious or
irritable; have a runny nose, yawning, sweating or goosebumps; stomach cramps, loose stools or
feeling sick; aches; or trouble sleeping. Your pain may feel worse for a while. These feelings
usually settle within a few days. Gentle activity, regular meals, drinks of water and keeping to
your usual routine can help.</p>
<div class="box"><strong>Important:</strong> take your medicine only as this plan says. Do not
go back to an earlier, higher dose on your own: after a reduction your body is used to less,
and a higher dose could be dangerous. If you take a break from the plan, speak to us before
restarting.</div>
<h2>When to get help</h2>
<ul>
<li>Contact your practice or pharmacy if the symptoms do not settle after a few days, if you
cannot keep food or drink down, if your pain becomes too hard to manage, or if you feel very
low or worried.</li>
<li>For urgent advice when the practice is closed, call NHS 111.</li>
<li>Call 999 if someone is very drowsy, hard to wake, confused, or breathing slowly.</li>
</ul>
<h2>Who to contact</h2>
<div class="cols">
<div><strong>Your practice:</strong> $practice_name<br>Phone: $practice_phone<br>
Prescriber: $prescriber</div>
<div><strong>Your pharmacy:</strong> $pharmacy_name<br>Phone: $pharmacy_phone</div>
</div>
<p class="small">For the practice team and the community pharmacy: this plan is shared so that
everyone gives the same doses on the same dates. Each step changes one medicine only; the
products to prescribe at each step (dm+d codes and names, the patient's brand kept) are in the
plan the practice holds (opioidcds taper, table or JSON). $basis</p>
$local
</body>
</html>
""")

_BLANK = "____________________"


def _handout_date(value: dt.date | None) -> str:
    return "Now" if value is None else format_date(value)


def _handout_rows(plan: TaperPlan) -> str:
    """One row per step: every medicine at the start, then only the one that changes."""
    rows = []
    first = plan.steps[0].number if plan.steps else 0
    for step in plan.steps:
        changed = [
            item
            for item in step.items
            if step.number == first or item.prescription_index == step.changed_prescription
        ]
        what = "<br>".join(html.escape(item.summary) for item in changed)
        # "to" is the last day on this dose (the day before the next step starts), as in
        # every output of the plan (TaperStep.last_day)
        until = "&mdash;" if step.last_day is None else html.escape(format_date(step.last_day))
        when = html.escape(_handout_date(step.date))
        rows.append(f"<tr><td>{when}</td><td>{until}</td><td>{what}</td></tr>")
    return "\n".join(rows)


def render_handout(plan: TaperPlan, contacts: Contacts) -> str:
    """Return the one-page printable HTML handout for ``plan`` (every input value escaped)."""

    def field(value: str | None) -> str:
        return html.escape(value) if value else _BLANK

    refused = ""
    if plan.not_planned:
        names = ", ".join(html.escape(n.label) for n in plan.not_planned)
        refused = (
            f"<p><strong>Not part of this plan:</strong> {names}. Keep taking these as "
            "prescribed; your prescriber will talk to you about them.</p>"
        )
    local = "".join(f'<p class="small">{html.escape(t)}</p>' for t in plan.local_rules)
    basis = html.escape(
        f"Reduction {format_decimal(plan.reduction * 100)}% of the {plan.reduce_from.value} "
        f"daily dose every {plan.interval_days} days (Faculty of Pain Medicine default, "
        f"adjusted with the patient); total oral morphine equivalent from "
        f"{format_decimal(plan.start_ome_mg)} to {format_decimal(plan.final_ome_mg)} mg/day. "
        f"Tapering defaults {plan.knowledge_version}; conversion table: {plan.table_name()}; "
        f"dm+d catalogue {plan.catalogue_version}; opioidcds "
        f"{plan.library_version}."
    )
    return _HANDOUT.substitute(
        refused=refused,
        rows=_handout_rows(plan),
        practice_name=field(contacts.practice_name),
        practice_phone=field(contacts.practice_phone),
        prescriber=field(contacts.prescriber),
        pharmacy_name=field(contacts.pharmacy_name),
        pharmacy_phone=field(contacts.pharmacy_phone),
        basis=basis,
        local=local,
    )


def taper_command(  # noqa: PLR0917 - typer maps parameters to options
    source: Annotated[str, typer.Argument(help="JSON request (prescriptions, options), or -.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the plan as JSON.", metavar="")
    ] = False,
    html_out: Annotated[
        Path | None,
        typer.Option(
            "--html", help="Also write a printable HTML handout to this file.", metavar="FILE"
        ),
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="Date of the first reduction (YYYY-MM-DD).", metavar="DATE")
    ] = None,
    table: Annotated[
        str,
        typer.Option(
            help=f"Conversion table: {' or '.join(BUNDLED_TABLES)}, or a .toml path.",
            metavar="TABLE",
        ),
    ] = DEFAULT_TABLE_ID,
    rules: Annotated[
        Path | None,
        typer.Option(
            "--rules",
            help="Folder of local rules in force (checked and named on the plan and handout; "
            "the steps read no ruleset).",
            metavar="DIR",
        ),
    ] = None,
) -> None:
    """Plan a gradual opioid reduction (default 10% every 2 weeks; the patient sets the pace)."""
    try:
        named: tuple[str, ...] = ()
        if rules is not None:
            from opioidcds._decide.knowledge import load_knowledge  # noqa: PLC0415 - light start
            from opioidcds._decide.profile_notes import in_force  # noqa: PLC0415

            named = in_force(load_knowledge(local_rules=rules).rulesets, None)
        prescriptions, request = parse_request(read_json(source))
        first = _start_date(start, request.start)
        tbl = load_table(Path(table) if table.endswith(".toml") else table)
        plan = taper_plan(
            prescriptions,
            start=first,
            reduction=request.reduction,
            every=dt.timedelta(days=request.every_days) if request.every_days else None,
            target=request.target,
            reduce_from=request.reduce_from,
            pace=request.pace,
            hold_points=request.hold_points,
            order=request.order,
            table=tbl,
        ).model_copy(update={"local_rules": named})
    except OpioidCDSError as exc:
        raise typer.Exit(fail(exc)) from None
    if html_out is not None:
        try:
            write_text(html_out, render_handout(plan, request.contacts), "--html file")
        except OpioidCDSError as exc:
            raise typer.Exit(fail(exc)) from None
    if as_json:
        typer.echo(plan.model_dump_json(indent=2))
    else:
        render_plan(plan, Console())


def _start_date(option: str | None, given: dt.date | None) -> dt.date:
    if option is not None:
        try:
            return dt.date.fromisoformat(option)
        except ValueError:
            raise InvalidInputError("--start", "must be a date YYYY-MM-DD") from None
    return given if given is not None else dt.date.today()
