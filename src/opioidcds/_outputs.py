"""Writing output files people open: safe folders, no writing through links, spreadsheet-safe cells.

Every command and function that writes files (worklists, reports, summaries, demo data, the
taper handout) goes through here, so each refusal is the same clear error:

- the output folder is created if missing; a path that is a file, or a folder that cannot be
  created, is an :class:`~opioidcds.InvalidInputError` saying so and what to do;
- an output file that is a symbolic link is refused, never followed (writing through it would
  overwrite whatever it points to); files are opened with ``O_NOFOLLOW`` where the system has
  it, so a link made between the check and the write is refused too;
- a text cell that a spreadsheet would run as a formula (it starts with ``=``, ``+``, ``-``,
  ``@``, a tab or a carriage return, OWASP "CSV Injection") is written with a leading
  apostrophe, ``'``, which spreadsheets show as text; a plain number such as ``-15`` or
  ``+2.5`` is left as it is (a spreadsheet reads it as a number, not a formula).

Foundation layer: imports only :mod:`opioidcds._errors`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO, Final

from opioidcds._errors import InvalidInputError

__all__ = [
    "FORMULA_START",
    "PLAIN_NUMBER",
    "SAFE_PREFIX",
    "check_targets",
    "open_output",
    "prepare_folder",
    "spreadsheet_safe",
    "write_text",
]

FORMULA_START: Final = r"^[=+\-@\t\r]"
"""A cell starting with one of these is read as a formula by spreadsheets (regex)."""
PLAIN_NUMBER: Final = r"^[+-]?[0-9]+(\.[0-9]+)?$"
"""A signed decimal number: safe as it is (a spreadsheet reads a number, runs nothing)."""
SAFE_PREFIX: Final = "'"
"""Put before a formula-like cell: spreadsheets show the cell as text and hide the mark."""

_FORMULA = re.compile(FORMULA_START)
_NUMBER = re.compile(PLAIN_NUMBER)


def spreadsheet_safe(value: str) -> str:
    """``value`` as a cell no spreadsheet runs: a formula-like text gets a leading ``'``."""
    if _FORMULA.match(value) and not _NUMBER.match(value):
        return SAFE_PREFIX + value
    return value


def prepare_folder(folder: str | Path, what: str = "output folder") -> Path:
    """Create ``folder`` (and its parents) if missing; return it.

    Raises:
        InvalidInputError: the path is a file, or the folder cannot be created (a parent is a
            file, no permission); the message names the folder and what to do.
    """
    path = Path(folder)
    name = f"{what} '{path}'"
    if path.exists() and not path.is_dir():
        raise InvalidInputError(name, "is a file, not a folder: give a folder (it is created)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        why = exc.strerror or "error"
        raise InvalidInputError(
            name, f"cannot be created ({why}): choose a folder you can write to"
        ) from None
    return path


def check_targets(paths: Iterable[Path], what: str = "output file") -> None:
    """Refuse before writing anything if an output path is a link or a folder.

    Raises:
        InvalidInputError: a path is a symbolic link (never written through) or a folder.
    """
    for path in paths:
        name = f"{what} '{path}'"
        if path.is_symlink():
            raise InvalidInputError(
                name,
                "is a symbolic link: remove it or choose another folder (opioidcds never "
                "writes through a link, which would overwrite the file it points to)",
            )
        if path.is_dir():
            raise InvalidInputError(name, "is a folder: remove it or choose another folder")


def open_output(path: Path, what: str = "output file") -> BinaryIO:
    """Open ``path`` for writing (created or emptied), refusing a symbolic link.

    Raises:
        InvalidInputError: the path is a link or a folder, or cannot be written.
    """
    check_targets((path,), what)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        raise InvalidInputError(
            f"{what} '{path}'",
            f"cannot be written ({exc.strerror or 'error'}): choose a folder you can write to",
        ) from None
    return os.fdopen(fd, "wb")


def write_text(path: Path, text: str, what: str = "output file") -> None:
    """Write ``text`` (UTF-8) to ``path`` through :func:`open_output`."""
    with open_output(path, what) as f:
        f.write(text.encode("utf-8"))
