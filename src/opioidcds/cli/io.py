"""Reading inputs and reporting errors for the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from opioidcds._errors import InvalidInputError, OpioidCDSError

__all__ = ["MAX_INPUT_BYTES", "fail", "read_json"]

MAX_INPUT_BYTES = 10_000_000
"""Largest JSON input the command line reads (a cap against runaway input)."""


def read_json(source: str) -> Any:  # noqa: ANN401 - JSON is untyped until validated
    """Read JSON from a file path or ``-`` (standard input).

    Raises:
        InvalidInputError: unreadable, too large or not JSON (the message omits the content).
    """
    try:
        if source == "-":
            text = sys.stdin.read(MAX_INPUT_BYTES + 1)
        else:
            path = Path(source)
            if path.stat().st_size > MAX_INPUT_BYTES:
                raise InvalidInputError("input", f"larger than {MAX_INPUT_BYTES} bytes")
            text = path.read_text(encoding="utf-8")
    except OSError:
        raise InvalidInputError("input", "the file cannot be read") from None
    except UnicodeDecodeError:
        raise InvalidInputError("input", "not UTF-8 text") from None
    if len(text) > MAX_INPUT_BYTES:
        raise InvalidInputError("input", f"larger than {MAX_INPUT_BYTES} bytes")
    try:
        return json.loads(text, parse_float=str, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InvalidInputError("input", f"not valid JSON (line {exc.lineno})") from None
    except RecursionError:
        raise InvalidInputError("input", "JSON nested too deeply") from None


def _reject_constant(_name: str) -> Any:  # noqa: ANN401 - json hook signature
    raise InvalidInputError("input", "NaN and Infinity are not numbers")


def fail(exc: OpioidCDSError) -> int:
    """Print ``exc`` to stderr as an error line and return exit code 2."""
    sys.stderr.write(f"opioidcds: error: {exc}\n")
    return 2
