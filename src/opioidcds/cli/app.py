"""The typer application: one sub-command per job, each in its own module.

Help is plain text (no boxes, no ``<bool>`` type tags), every command ends with examples that
work from the repository's root, and ``opioidcds --version`` prints the version.
"""

from __future__ import annotations

from typing import Annotated, Final

import typer

from opioidcds._version import __version__
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

__all__ = ["EXAMPLES", "app"]


def _examples(*lines: str) -> str:
    # "\b" keeps the lines as written (click does not rewrap the paragraph)
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


EXAMPLES: Final = {
    "ome": _examples(
        "opioidcds ome examples/prescriptions.json",
        "opioidcds ome - --json < examples/prescriptions.json",
        "opioidcds ome examples/prescriptions.json --table cdc-2022 --prn-policy regular-only",
        "opioidcds ome examples/fhir-bundle.json --fhir",
    ),
    "taper": _examples(
        "opioidcds taper examples/taper-example.json",
        "opioidcds taper examples/taper-example.json --html plan.html",
        "opioidcds taper examples/taper-example.json --json --start 2027-01-04",
    ),
    "assess": _examples(
        "opioidcds assess examples/patient-assess.json",
        "opioidcds assess examples/patient-assess.json --json",
        "opioidcds assess examples/patient-assess.json --profile "
        "rules/profiles/opioids-aware-90.toml",
    ),
    "check": _examples(
        "opioidcds check examples/patient-check.json",
        "opioidcds check examples/patient-check.json --json",
    ),
    "discharge": _examples(
        "opioidcds discharge examples/discharge-example.json",
        "opioidcds discharge examples/discharge-example.json --profile "
        "rules/profiles/example-acute-trust.toml",
    ),
    "serve": _examples(
        "opioidcds serve --port 8080",
        "curl -s -X POST http://127.0.0.1:8080/cds-services/opioidcds-order-select "
        "-H 'Content-Type: application/json' -d @examples/cds-hooks-request.json",
    ),
    "screen": _examples(
        "opioidcds screen examples/population/issues.csv --patients "
        "examples/population/patients.csv --out screening-out --html",
        "opioidcds screen examples/population/issues.csv --as-of 2026-11-01 "
        "--baseline 2026-05-03 --capacity 6 --out screening-out --html",
    ),
    "demo-data": _examples(
        "opioidcds demo-data --patients 300 --seed 2032 --out demo-practice",
        "opioidcds demo-data --patients 200000 --format parquet --out big-practice",
    ),
    "evaluate": _examples(
        "opioidcds evaluate examples/evaluation/questionnaires.csv examples/evaluation/issues.csv "
        "--patients examples/evaluation/patients.csv --list-sizes "
        "examples/evaluation/list_sizes.csv --out evaluation-out --html",
    ),
    "screen-spark": _examples(
        "opioidcds screen-spark examples/population/issues.csv --patients "
        "examples/population/patients.csv --out spark-out --html",
    ),
    "parse-dosage": _examples(
        'opioidcds parse-dosage "1-2 tablets up to four times a day when required"',
        'opioidcds parse-dosage "ONE TO BE TAKEN TWICE A DAY" --json',
    ),
}
"""Each command's examples, shown at the end of its ``--help`` (tested to run as written)."""

app = typer.Typer(
    name="opioidcds",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.command("ome", epilog=EXAMPLES["ome"])(ome_command)
app.command("taper", epilog=EXAMPLES["taper"])(taper_command)
app.command("assess", epilog=EXAMPLES["assess"])(assess_command)
app.command("check", epilog=EXAMPLES["check"])(check_command)
app.command("discharge", epilog=EXAMPLES["discharge"])(discharge_command)
app.command("serve", epilog=EXAMPLES["serve"])(serve_command)
app.command("screen", epilog=EXAMPLES["screen"])(screen_command)
app.command("demo-data", epilog=EXAMPLES["demo-data"])(demo_data_command)
app.command("screen-spark", epilog=EXAMPLES["screen-spark"])(screen_spark_command)
app.command("evaluate", epilog=EXAMPLES["evaluate"])(evaluate_command)
app.add_typer(rules_app, name="rules", help="Check and explain rulesets of the rules DSL.")


@app.command("parse-dosage", epilog=EXAMPLES["parse-dosage"])
def _parse_dosage(
    text: Annotated[
        str, typer.Argument(help="A dosage instruction, e.g. 'ONE TWICE A DAY'.", metavar="TEXT")
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON.", metavar="")
    ] = False,
) -> None:
    """Show what the dosage grammar understood of TEXT (exit 1 if not fully understood)."""
    raise typer.Exit(parse_dosage_command(text, as_json))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"opioidcds {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version and exit.",
            callback=_version,
            is_eager=True,
            metavar="",
        ),
    ] = False,
) -> None:
    """Clinical decision support for long-term opioid prescribing (UK primary care first).

    Start with: opioidcds ome examples/prescriptions.json (daily OME with its arithmetic),
    opioidcds assess examples/patient-assess.json (risk and support tier), or make demo
    (a synthetic practice screened into a worklist report).
    """
