"""``opioidcds ome``: the daily OME of a list of prescriptions, with its basis."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from opioidcds._errors import InvalidInputError, OpioidCDSError
from opioidcds._inputs.patient import Patient
from opioidcds._inputs.prescription import Prescription, PrnPolicy
from opioidcds._knowledge.products import names_an_opioid
from opioidcds._knowledge.tables import BUNDLED_TABLES, DEFAULT_TABLE_ID, load_table
from opioidcds._measure.ome import calculate_ome
from opioidcds._measure.results import OMEResult
from opioidcds._resolve.record import BundleRead, SkippedEntry, not_read_reason
from opioidcds.cli.fhir_input import read_fhir_json
from opioidcds.cli.io import fail, fhir_hint, read_json

__all__ = ["ome_command", "parse_prescriptions", "read_prescriptions", "render_ome"]


def read_prescriptions(data: Any) -> BundleRead:  # noqa: ANN401 - untyped JSON
    """Read a JSON list of prescriptions (or an object with a ``prescriptions`` list) item by item.

    One invalid item never refuses the others (issue 18): it is listed in ``skipped`` with the
    field and rule it broke (never its value), flagged ``affects_total`` unless its drug or
    product name names a medicine and no opioid, and the rest is read. The object may be a
    whole patient (the JSON ``assess`` reads): its other fields are not used here. A FHIR
    resource gets a hint to use ``--fhir``.

    Raises:
        InvalidInputError: the shape is wrong (not a list, or an object with unknown keys).
    """
    items = _items(data)
    rxs: list[Prescription] = []
    sources: list[str] = []
    skipped: list[SkippedEntry] = []
    for i, item in enumerate(items):
        try:
            rxs.append(Prescription.model_validate(item))
            sources.append(f"prescriptions[{i}]")
        except InvalidInputError as exc:
            label = _label(item)
            skipped.append(
                SkippedEntry(
                    f"prescriptions[{i}]",
                    None,
                    None,
                    not_read_reason(exc.field, exc.rule),
                    affects_total=label is None or names_an_opioid(label),
                    medication=label,
                )
            )
    return BundleRead(tuple(rxs), tuple(sources), tuple(skipped))


def _label(item: object) -> str | None:
    """The product name or drug an unreadable item gives (at most 200 characters), if any."""
    if isinstance(item, dict):
        for key in ("product_name", "drug"):
            value = item.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()[:200]
    return None


def _items(data: Any) -> list[Any]:  # noqa: ANN401 - untyped JSON
    """The list of prescriptions of the input, its shape checked (a FHIR resource: a hint)."""
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
    return data


def parse_prescriptions(data: Any) -> list[Prescription]:  # noqa: ANN401 - untyped JSON
    """Validate a JSON list of prescriptions strictly: the first invalid one refuses them all.

    For commands that act on every prescription (``taper``); ``opioidcds ome`` uses
    :func:`read_prescriptions`, which keeps the rest. Shapes as for :func:`read_prescriptions`.

    Raises:
        InvalidInputError: the shape is wrong or a prescription is invalid (field path named).
    """
    result = []
    for i, item in enumerate(_items(data)):
        try:
            result.append(Prescription.model_validate(item))
        except InvalidInputError as exc:
            raise InvalidInputError(f"prescriptions[{i}].{exc.field}", exc.rule) from None
    return result


def render_ome(result: OMEResult, console: Console) -> None:
    """Print ``result`` for people: its own plain-text explanation, the total in bold.

    The explanation lists every item, every entry of the input that was not read (with its
    reason), and why a total is a lower bound.
    """
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
            help="Input is FHIR R4: a Bundle, a list of resources, or one MedicationRequest "
            "(MedicationRequests and MedicationStatements are read).",
            metavar="",
        ),
    ] = False,
) -> None:
    """Calculate the total daily oral morphine equivalent of a list of prescriptions.

    An item or entry that cannot be read is listed with its reason and the rest is computed;
    the total is then marked as a lower bound when what was left out may be an opioid. A list
    of which no prescription can be read at all is refused (exit 2), naming the first problem.
    """
    try:
        data = read_json(source)
        record = read_fhir_json(data) if fhir else read_prescriptions(data)
        if not fhir and record.skipped and not record.prescriptions:
            parse_prescriptions(data)  # nothing to compute: raise the first item's error
        tbl = load_table(Path(table) if table.endswith(".toml") else table)
        result = calculate_ome(record, table=tbl, prn_policy=prn_policy)
    except OpioidCDSError as exc:
        raise typer.Exit(fail(exc)) from None
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
    else:
        render_ome(result, Console())
