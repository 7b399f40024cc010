"""``opioidcds evaluate``: questionnaires + extract -> the service evaluation and practice trends.

Needs the extras ``cli`` and ``population``. Prints the overall table (never patient
identifiers: those go to the files only) and writes ``evaluation_measures``,
``evaluation_patients``, ``trends`` and ``funnel`` tables (CSV, and Parquet on request),
``problems.csv``, ``evaluation.json`` and, with ``--html``, ``evaluation.html`` with a page per
practice. Exit codes: 0 done, 2 invalid input (the message names the file, row and column,
never a value). See ``docs/evaluation.md``.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final

import typer
from rich.console import Console
from rich.table import Table

from opioidcds._errors import InvalidInputError, OpioidCDSError
from opioidcds.cli.io import fail
from opioidcds.cli.screen_cmd import parse_date

if TYPE_CHECKING:
    from opioidcds.population.evaluation import Evaluation
    from opioidcds.population.outcomes import Spread

__all__ = ["evaluate_command"]

_TWO: Final = Decimal("0.01")  # display precision only: the files keep exact values


def _spread(s: Spread | None) -> str:
    if s is None:
        return "no pairs"
    return f"{s.median.quantize(_TWO)} ({s.q1.quantize(_TWO)}-{s.q3.quantize(_TWO)})"


def _table(result: Evaluation) -> Table:
    """The overall figures for the terminal (no patient identifiers)."""
    from opioidcds.population.evaluation_report import p_text  # noqa: PLC0415
    from opioidcds.population.outcomes import OVERALL  # noqa: PLC0415

    title = (
        f"Service evaluation as of {result.as_of}: {result.cohort} patients, "
        f"{result.questionnaires_used} questionnaires"
    )
    table = Table(title=title)
    for head in ("measure", "paired", "baseline median (IQR)", "follow-up median (IQR)", "p"):
        table.add_column(head)
    for s in result.summaries:
        if s.group != OVERALL:
            continue
        if s.measure.kind == "profile":
            spread = (f"{s.improved} better, {s.worsened} worse, {s.mixed} mixed",
                      f"{s.unchanged} unchanged")  # fmt: skip
        else:
            spread = (_spread(s.baseline), _spread(s.follow_up))
        table.add_row(s.measure.short, f"{s.paired} of {s.patients}", *spread, p_text(s.wilcoxon))
    return table


def evaluate_command(  # noqa: PLR0917 - typer maps parameters to options
    questionnaires: Annotated[
        Path, typer.Argument(help="Questionnaire file (CSV or Parquet), one row per questionnaire.")
    ],
    issues: Annotated[
        Path, typer.Argument(help="Issue extract (CSV or Parquet), one row per issue.")
    ],
    patients: Annotated[
        Path | None, typer.Option("--patients", help="Patient table (CSV or Parquet).")
    ] = None,
    list_sizes: Annotated[
        Path | None,
        typer.Option("--list-sizes", help="Registered list size per practice (CSV or Parquet)."),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Evaluation date YYYY-MM-DD (default: latest issue)."),
    ] = None,
    months: Annotated[
        int | None, typer.Option("--months", help="Months of trends (default: the method's).")
    ] = None,
    value_set: Annotated[
        Path | None,
        typer.Option("--value-set", help="EQ-5D-5L value set TOML (cited data) for an index."),
    ] = None,
    history_from: Annotated[
        str | None,
        typer.Option(
            "--history-from",
            help="Date YYYY-MM-DD from which the extract holds every opioid issue (new starts).",
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", help="Output folder (created if missing).", metavar="FOLDER")
    ] = Path("evaluation-out"),
    html: Annotated[
        bool, typer.Option("--html", help="Also write the HTML report.", metavar="")
    ] = False,
    formats: Annotated[
        str, typer.Option("--format", help="Table formats, comma-separated: csv,parquet.")
    ] = "csv",
    profile: Annotated[
        Path | None, typer.Option("--profile", help="Local profile (thresholds) TOML file.")
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help="Stop at the first bad questionnaire row (exit 2).", metavar=""
        ),
    ] = False,
) -> None:
    """Evaluate a service: PROMs and dose at baseline and follow-up, practice trends, funnels."""
    try:
        from opioidcds.population.evaluation import evaluate  # noqa: PLC0415 - optional extra
        from opioidcds.population.evaluation_report import (  # noqa: PLC0415
            EVALUATION_FORMATS,
            write_evaluation,
        )
        from opioidcds.population.instruments import load_value_set  # noqa: PLC0415
    except ImportError:
        typer.echo(
            "opioidcds: evaluate needs the 'population' extra: pip install 'opioidcds[population]'",
            err=True,
        )
        raise typer.Exit(2) from None
    from opioidcds._decide.rules import load_profile  # noqa: PLC0415 - keep start-up light

    try:
        wanted = tuple(f.strip() for f in formats.split(",") if f.strip())
        if not wanted or any(f not in EVALUATION_FORMATS for f in wanted):
            raise InvalidInputError("--format", "must be csv and/or parquet")
        if months is not None and not 1 <= months <= 120:
            raise InvalidInputError("--months", "must be from 1 to 120")
        result = evaluate(
            questionnaires,
            issues,
            patients=patients,
            list_sizes=list_sizes,
            as_of=parse_date(as_of),
            months=months,
            value_set=load_value_set(value_set) if value_set is not None else None,
            profile=load_profile(profile) if profile is not None else None,
            history_from=parse_date(history_from, "--history-from"),
            strict=strict,
        )
        paths = write_evaluation(result, out, formats=wanted, html=html)
    except OpioidCDSError as exc:
        raise typer.Exit(fail(exc)) from None
    except OSError:
        raise typer.Exit(fail(InvalidInputError("--out", "cannot be written"))) from None
    Console().print(_table(result))
    if result.problems:
        typer.echo(f"{len(result.problems)} input row(s) excluded: see problems.csv")
    if result.synthetic:
        typer.echo("SYNTHETIC DATA: the extract is marked synthetic (invented people).")
    for path in paths:
        typer.echo(f"wrote {path}")
