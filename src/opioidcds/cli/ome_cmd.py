"""``opioidcds ome``: the daily OME of a list of prescriptions, with its basis."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from opioidcds.cli.fhir_input import prescriptions_from_fhir_json
from opioidcds.cli.io import fail, read_json
from opioidcds.errors import InvalidInputError, OpioidCDSError
from opioidcds.models import ItemStatus, OMEResult, Prescription, PrnPolicy
from opioidcds.ome import calculate_ome, format_decimal
from opioidcds.tables import BUNDLED_TABLES, DEFAULT_TABLE_ID, load_table

__all__ = ["ome_command", "parse_prescriptions", "render_ome"]


def parse_prescriptions(data: Any) -> list[Prescription]:  # noqa: ANN401 - untyped JSON
    """Validate a JSON list of prescriptions, or an object with a ``prescriptions`` list.

    Raises:
        InvalidInputError: the shape is wrong or a prescription is invalid (field path named).
    """
    if isinstance(data, dict):
        extra = set(data) - {"prescriptions", "description"}
        if extra:
            raise InvalidInputError(
                "input", "an object may have only 'prescriptions' and 'description'"
            )
        data = data.get("prescriptions")
    if not isinstance(data, list):
        raise InvalidInputError("input", "must be a JSON list of prescriptions")
    result = []
    for i, item in enumerate(data):
        try:
            result.append(Prescription.model_validate(item))
        except InvalidInputError as exc:
            error = InvalidInputError(f"prescriptions[{i}].{exc.field}", exc.rule)
            error.args = (f"prescriptions[{i}]: {exc}",)
            raise error from None
    return result


_STATUS = {
    ItemStatus.CONVERTED: "converted",
    ItemStatus.NOT_CONVERTIBLE: "[red]NOT CONVERTED[/red]",
    ItemStatus.EXCLUDED: "excluded (policy)",
    ItemStatus.NOT_OPIOID: "not an opioid",
}


def render_ome(result: OMEResult, console: Console) -> None:
    """Print ``result`` for people: a table of items, each item's arithmetic, the total."""
    table = Table(title="Oral morphine equivalent (OME) per prescription")
    table.add_column("#", justify="right")
    table.add_column("ingredient")
    table.add_column("route")
    table.add_column("daily amount", justify="right")
    table.add_column("factor", justify="right")
    table.add_column("OME mg/day", justify="right")
    table.add_column("status")
    for item in result.items:
        amount = (
            f"{format_decimal(item.daily_amount)} {item.daily_amount_unit}"
            if item.daily_amount is not None
            else "-"
        )
        factor = format_decimal(item.factor) if item.factor is not None else "-"
        ome = format_decimal(item.ome_mg_per_day) if item.ome_mg_per_day is not None else "-"
        table.add_row(
            str(item.prescription_index + 1),
            item.ingredient or item.drug,
            item.route or "?",
            amount,
            factor,
            ome,
            _STATUS[item.status],
        )
    console.print(table)
    console.print("[bold]Arithmetic[/bold]")
    for item in result.items:
        source = f" \\[source: {item.factor_source}]" if item.factor_source else ""
        console.print(
            f"  {item.prescription_index + 1}. {item.arithmetic}{source}", highlight=False
        )
    total = format_decimal(result.total_mg_per_day)
    if result.complete:
        console.print(f"[bold]Total: {total} mg OME/day[/bold]", highlight=False)
    else:
        console.print(
            f"[bold red]Total: at least {total} mg OME/day (INCOMPLETE: a lower bound; "
            "see the items not converted)[/bold red]",
            highlight=False,
        )
    console.print(
        f"Table {result.table_id} {result.table_version} "
        f"(effective {result.table_effective_date}); "
        f"PRN policy {result.prn_policy.value}; opioidcds {result.library_version}. "
        "OME is a measure of risk, not a guide to converting between opioids.",
        highlight=False,
    )


def ome_command(
    source: Annotated[str, typer.Argument(help="JSON file of prescriptions, or - for stdin.")],
    table: Annotated[
        str,
        typer.Option(help=f"Conversion table: {' or '.join(BUNDLED_TABLES)}, or a .toml path."),
    ] = DEFAULT_TABLE_ID,
    prn_policy: Annotated[
        PrnPolicy, typer.Option(help="How PRN doses and ranges count.")
    ] = PrnPolicy.MAXIMUM,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    fhir: Annotated[
        bool,
        typer.Option(
            "--fhir", help="Input is FHIR R4: a Bundle, a list of, or one MedicationRequest."
        ),
    ] = False,
) -> None:
    """Calculate the total daily oral morphine equivalent of a list of prescriptions."""
    try:
        data = read_json(source)
        prescriptions = prescriptions_from_fhir_json(data) if fhir else parse_prescriptions(data)
        tbl = load_table(Path(table) if table.endswith(".toml") else table)
        result = calculate_ome(prescriptions, table=tbl, prn_policy=prn_policy)
    except OpioidCDSError as exc:
        raise typer.Exit(fail(exc)) from None
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
    else:
        render_ome(result, Console())
