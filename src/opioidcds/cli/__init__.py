"""The ``opioidcds`` command line (extra ``cli``: typer + rich).

Exit codes: 0 a result was computed (complete or not), 2 invalid input (message on stderr,
naming fields, never values), 1 a check that found problems. The commands only read input,
call the library and format its results (each result's own ``summary()`` where it has one).

May import: every layer below it, :mod:`opioidcds.population` and :mod:`opioidcds.cdshooks`.
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> None:
    """Entry point of the ``opioidcds`` console script."""
    try:
        from opioidcds.cli.app import app  # noqa: PLC0415 - the extra may be missing
    except ImportError:
        sys.stderr.write(
            "opioidcds: the command line needs the 'cli' extra: pip install 'opioidcds[cli]'\n"
        )
        raise SystemExit(2) from None
    app()
