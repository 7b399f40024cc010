"""The typer application: one sub-command per job, each in its own module."""

from __future__ import annotations

from typing import Annotated

import typer

from opioidcds.cli.assess_cmd import assess_command, check_command
from opioidcds.cli.demo_data_cmd import demo_data_command
from opioidcds.cli.discharge_cmd import discharge_command
from opioidcds.cli.evaluate_cmd import evaluate_command
from opioidcds.cli.ome_cmd import ome_command
from opioidcds.cli.parse_dosage_cli import parse_dosage_command
from opioidcds.cli.rules_cli import rules_app
from opioidcds.cli.screen_cmd import screen_command
from opioidcds.cli.screen_spark_cmd import screen_spark_command
from opioidcds.cli.serve_cmd import serve_command
from opioidcds.cli.taper_cmd import taper_command

__all__ = ["app"]

app = typer.Typer(
    name="opioidcds",
    help="Clinical decision support for long-term opioid prescribing (UK primary care first).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("ome")(ome_command)
app.command("taper")(taper_command)
app.command("assess")(assess_command)
app.command("check")(check_command)
app.command("discharge")(discharge_command)
app.command("serve")(serve_command)
app.command("screen")(screen_command)
app.command("demo-data")(demo_data_command)
app.command("screen-spark")(screen_spark_command)
app.command("evaluate")(evaluate_command)
app.add_typer(rules_app, name="rules", help="Check and explain rulesets of the rules DSL.")


@app.command("parse-dosage")
def _parse_dosage(
    text: Annotated[str, typer.Argument(help="A dosage instruction, e.g. 'ONE TWICE A DAY'.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Show what the dosage grammar understood of TEXT (exit 1 if not fully understood)."""
    raise typer.Exit(parse_dosage_command(text, as_json))


@app.callback()
def _root() -> None:
    """Clinical decision support for long-term opioid prescribing (UK primary care first)."""
