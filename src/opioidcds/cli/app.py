"""The typer application: one sub-command per job, each in its own module."""

from __future__ import annotations

import typer

from opioidcds.cli.assess_cmd import assess_command, check_command
from opioidcds.cli.ome_cmd import ome_command

__all__ = ["app"]

app = typer.Typer(
    name="opioidcds",
    help="Clinical decision support for long-term opioid prescribing (UK primary care first).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("ome")(ome_command)
app.command("assess")(assess_command)
app.command("check")(check_command)


@app.callback()
def _root() -> None:
    """Clinical decision support for long-term opioid prescribing (UK primary care first)."""
