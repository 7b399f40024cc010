"""Reading inputs and reporting errors for the command line."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from opioidcds._errors import InvalidInputError, OpioidCDSError

__all__ = ["MAX_INPUT_BYTES", "fail", "fhir_hint", "file_problem", "read_json"]

MAX_INPUT_BYTES = 10_000_000
"""Largest JSON input the command line reads (a cap against runaway input)."""


def file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as a file, with what to do; ``None`` if it looks readable.

    The path is the user's own command-line argument, so it is named (it is not patient data).
    """
    if not path.exists():
        return "no such file: check the path (or give - to read standard input)"
    if path.is_dir():
        return "is a folder, not a file: give the file inside it"
    if not os.access(path, os.R_OK):
        return "cannot be read (permission denied): check the file's permissions"
    return None


def read_json(source: str, *, what: str = "input") -> Any:  # noqa: ANN401 - JSON is untyped
    """Read JSON from a file path or ``-`` (standard input).

    Raises:
        InvalidInputError: missing, a folder, unreadable, too large or not JSON; the message
            names the file (``what`` and the path) and says what to do, never the content.
    """
    name = "standard input" if source == "-" else f"{what} file '{source}'"
    try:
        if source == "-":
            text = sys.stdin.read(MAX_INPUT_BYTES + 1)
        else:
            path = Path(source)
            problem = file_problem(path)
            if problem is not None:
                raise InvalidInputError(name, problem)
            if path.stat().st_size > MAX_INPUT_BYTES:
                raise InvalidInputError(name, f"larger than {MAX_INPUT_BYTES} bytes: split it")
            text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(name, f"cannot be read ({exc.strerror or 'error'})") from None
    except UnicodeDecodeError:
        raise InvalidInputError(name, "not UTF-8 text: save it as UTF-8 JSON") from None
    if len(text) > MAX_INPUT_BYTES:
        raise InvalidInputError(name, f"larger than {MAX_INPUT_BYTES} bytes: split it")
    try:
        return json.loads(text, parse_float=str, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            name, f"not valid JSON (line {exc.lineno}, column {exc.colno}): fix the syntax there"
        ) from None
    except RecursionError:
        raise InvalidInputError(name, "JSON nested too deeply") from None


def fhir_hint(data: object, command: str) -> None:
    """Refuse a FHIR resource given where opioidcds's own JSON is expected, saying what to do.

    Raises:
        InvalidInputError: ``data`` is a JSON object with a ``resourceType`` (a FHIR resource).
    """
    if isinstance(data, dict) and isinstance(data.get("resourceType"), str):
        if command == "ome":
            fix = "add --fhir to read FHIR R4 (a Bundle, MedicationRequests)"
        else:
            fix = (
                f"'opioidcds {command}' reads the JSON described in docs/cli.md; FHIR R4 "
                "prescriptions are read by 'opioidcds ome --fhir' and the CDS Hooks service"
            )
        raise InvalidInputError("input", f"this is a FHIR resource (resourceType): {fix}")


def _reject_constant(_name: str) -> Any:  # noqa: ANN401 - json hook signature
    raise InvalidInputError("input", "NaN and Infinity are not numbers: give a number")


def fail(exc: OpioidCDSError) -> int:
    """Print ``exc`` to stderr as an error line and return exit code 2."""
    sys.stderr.write(f"opioidcds: error: {exc}\n")
    return 2
