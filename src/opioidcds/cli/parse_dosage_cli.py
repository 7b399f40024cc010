"""``opioidcds parse-dosage "TEXT"``: show what the dosage-text grammar understood (issue 3).

:func:`parse_dosage_command` prints a table (rich) or JSON and returns the exit code: 0 when
the text was understood, 1 when it was not (the problems are listed), 2 for invalid input
(not text, blank, too long). The CLI's entry point wires it to the ``parse-dosage`` command.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from opioidcds._errors import InvalidInputError
from opioidcds._resolve.dosage import Dosage, UnparsedDosage, parse_dosage

__all__ = ["EXIT_INVALID", "EXIT_PARSED", "EXIT_UNPARSED", "parse_dosage_command"]

EXIT_PARSED = 0
EXIT_UNPARSED = 1
EXIT_INVALID = 2


def parse_dosage_command(text: str, as_json: bool) -> int:
    """Parse ``text`` with :func:`opioidcds.parse_dosage` and print what was understood.

    JSON output is one object: ``kind`` ("dosage" or "unparsed"), ``result`` (the model),
    ``prescription_fields`` (what maps onto ``Prescription``; parsed texts only) and
    ``not_convertible_reason`` (why the text gives no daily amount, or null). Errors go to
    standard error and never repeat the text.

    Returns:
        0 parsed, 1 not understood, 2 invalid input.

    """
    try:
        result = parse_dosage(text)
    except InvalidInputError as exc:
        if as_json:
            _write({"kind": "invalid", "field": exc.field, "error": exc.rule})
        sys.stderr.write(f"invalid input: {exc}\n")
        return EXIT_INVALID
    if as_json:
        _write(_as_json(result))
    else:
        _print_table(result)
    return EXIT_PARSED if isinstance(result, Dosage) else EXIT_UNPARSED


def _as_json(result: Dosage | UnparsedDosage) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": result.kind, "result": result.model_dump(mode="json")}
    if isinstance(result, Dosage):
        out["prescription_fields"] = {
            k: (v if isinstance(v, bool | str) else str(v))
            for k, v in result.to_prescription_fields().items()
        }
    out["not_convertible_reason"] = result.not_convertible_reason
    return out


def _write(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _print_table(result: Dosage | UnparsedDosage) -> None:
    from rich.console import Console  # noqa: PLC0415 - rich is the optional "cli" extra
    from rich.table import Table  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415 - cells as plain text: no markup from the input

    console = Console()
    if isinstance(result, UnparsedDosage):
        table = Table(title="Dosage text NOT understood", show_lines=False)
        table.add_column("normalised text")
        table.add_column("problem")
        for k, problem in enumerate(result.problems):
            table.add_row(Text(result.text if k == 0 else ""), Text(problem))
        console.print(table)
        console.print("Nothing is read from this text: it gives no daily amount.", markup=False)
        return
    table = Table(title="Dosage text understood")
    table.add_column("field")
    table.add_column("value")
    table.add_column("Prescription field?")
    mapped = result.to_prescription_fields()
    for name in result.model_dump(exclude_defaults=True):
        if name == "kind":
            continue
        value = getattr(result, name)  # the field itself: a TimedDose prints as people write it
        shown = ", ".join(map(str, value)) if isinstance(value, tuple) else str(value)
        table.add_row(name, Text(shown), "yes" if name in mapped else "")
    console.print(table)
    loading = result.loading_dose_note()
    if loading is not None:  # "2 immediately then 1 daily": the first dose is not the daily one
        console.print(f"Note: {loading}", markup=False)
    change = result.dose_change_note()
    if change is not None:  # "1 at night for 1 week then 2 at night": the highest step is used
        console.print(f"Note: {change}", markup=False)
    reason = result.not_convertible_reason
    if reason is not None:
        console.print(f"No daily amount: {reason}", markup=False)
