"""``opioidcds ome``: the daily OME of a list of prescriptions, with its basis."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from opioidcds._errors import InvalidInputError, OpioidCDSError
from opioidcds._inputs.patient import Patient
from opioidcds._inputs.prescription import Prescription, PrnPolicy
from opioidcds._knowledge.tables import BUNDLED_TABLES, DEFAULT_TABLE_ID, load_table
from opioidcds._measure.ome import calculate_ome
from opioidcds._measure.results import OMEResult
from opioidcds.cli.fhir_input import prescriptions_from_fhir_json
from opioidcds.cli.io import fail, fhir_hint, read_json

__all__ = ["ome_command", "parse_prescriptions", "render_ome"]


def parse_prescriptions(data: Any) -> list[Prescription]:  # noqa: ANN401 - untyped JSON
    """Validate a JSON list of prescriptions, or an object with a ``prescriptions`` list.

    The object may be a whole patient (the JSON ``assess`` reads): its other fields are not
    used here. A FHIR resource gets a hint to use ``--fhir``.

    Raises:
        InvalidInputError: the shape is wrong or a prescription is invalid (field path named).
    """
    fhir_hint(data, "ome")
    if isinstance(data, dict):
        # a list of prescriptions in an object, or a whole patient (as `assess` reads it):
        # the other patient fields are allowed and not used; anything else is a typo
        allowed = {"prescriptions", "description", *Patient.model_fields}
        extra = sorted(set(data) - allowed)
        if extra:
            raise InvalidInputError(
                "input",
                f"unknown key(s) {', '.join(extra)}: give a JSON list of prescriptions, or an "
                "object with 'prescriptions' (and, for a patient, the fields 'assess' reads); "
                "see examples/prescriptions.json",
            )
        data = data.get("prescriptions")
    if not isinstance(data, list):
        raise InvalidInputError(
            "input",
            "must be a JSON list of prescriptions, or an object with 'prescriptions' "
            "(see examples/prescriptions.json)",
        )
    result = []
    for i, item in enumerate(data):
        try:
            result.append(Prescription.model_validate(item))
        except InvalidInputError as exc:
            raise InvalidInputError(f"prescriptions[{i}].{exc.field}", exc.rule) from None
    return result


def render_ome(result: OMEResult, console: Console) -> None:
    """Print ``result`` for people: its own plain-text explanation, the total in bold."""
    for line in result.explain().splitlines():
        style = "bold" if line.startswith("Total:") else None
        if style and not result.complete:
            style = "bold red"
        console.print(line, style=style, markup=False, highlight=False)


def ome_command(
    source: Annotated[str, typer.Argument(help="JSON file of prescriptions, or - for stdin.")],
    table: Annotated[
        str,
        typer.Option(
            help=f"Conversion table: {' or '.join(BUNDLED_TABLES)}, or a .toml path.",
            metavar="TABLE",
        ),
    ] = DEFAULT_TABLE_ID,
    prn_policy: Annotated[
        PrnPolicy, typer.Option(help="How PRN doses and ranges count.", metavar="POLICY")
    ] = PrnPolicy.MAXIMUM,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON.", metavar="")
    ] = False,
    fhir: Annotated[
        bool,
        typer.Option(
            "--fhir",
            help="Input is FHIR R4: a Bundle, a list of, or one MedicationRequest.",
            metavar="",
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
