"""``opioidcds screen``: screen a practice's prescription-issue extract into a worklist.

Needs the extras ``cli`` and ``population`` (Polars, SciPy). Prints a summary table (never
patient identifiers: those go to the output files only) and writes ``worklist.csv`` (and
Parquet/JSON on request), ``problems.csv``, ``summary.json``, with ``--baseline`` the outcomes
over time (``outcomes.csv``, ``outcomes_patients.csv``) and, with ``--html``, ``report.html``.
Exit codes: 0 done, 2 invalid input (message names the file and columns, never values).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from opioidcds._errors import InvalidInputError, OpioidCDSError
from opioidcds.cli.io import fail

if TYPE_CHECKING:
    from opioidcds.population import Screening

__all__ = ["screen_command"]


def summary_table(
    result: Screening, extra: list[tuple[str, str]], *, engine_note: str = ""
) -> Table:
    """The terminal summary: counts only, never identifiers (also used by ``screen-spark``)."""
    c = result.counts
    title = f"Screening{engine_note} as of {result.as_of or 'n/a'}"
    table = Table(title=title, show_header=False)
    for label, key in (
        ("patients", "patients"),
        ("screened", "patients_screened"),
        ("not screened (review by hand)", "patients_not_screened"),
        ("in scope", "in_scope"),
        ("out of scope", "out_of_scope"),
        ("on the worklist", "on_worklist"),
        ("in scope, OME incomplete", "ome_incomplete_in_scope"),
        ("input rows excluded / not used", "problem_rows"),
    ):
        table.add_row(label, str(c.get(key, 0)))
    for prefix, name in (("tier:", "tier"), ("level:", "risk level")):
        for key, n in sorted(c.items()):
            if key.startswith(prefix):
                table.add_row(f"{name} {key.removeprefix(prefix)}", str(n))
    for key, n in sorted(c.items()):
        if key.startswith("problem:"):
            table.add_row(f"excluded: {key.removeprefix('problem:')}", str(n))
    from opioidcds.population.engine import dose_sources_line  # noqa: PLC0415 - optional extra

    table.add_row("daily doses", dose_sources_line(c))
    for label, value in extra:
        table.add_row(label, value)
    return table


def parse_date(text: str | None, option: str = "--as-of") -> dt.date | None:
    """The date of a command-line option, or ``None``; a typed error names the option."""
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(option, "must be a date YYYY-MM-DD") from None


def screen_command(  # noqa: PLR0917 - typer maps parameters to options
    issues: Annotated[
        Path, typer.Argument(help="Issue extract (CSV or Parquet), one row per issue.")
    ],
    patients: Annotated[
        Path | None, typer.Option("--patients", help="Patient table (CSV or Parquet).")
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", help="Screening (and follow-up) date YYYY-MM-DD (default: latest issue)."
        ),
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline",
            help="Baseline date YYYY-MM-DD: also report outcomes from it to --as-of.",
        ),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("screening-out"),
    html: Annotated[bool, typer.Option("--html", help="Also write report.html.")] = False,
    formats: Annotated[
        str, typer.Option("--format", help="Worklist formats, comma-separated: csv,parquet,json.")
    ] = "csv",
    profile: Annotated[
        Path | None, typer.Option("--profile", help="Local profile (thresholds) TOML file.")
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", help="Processes for large extracts (default 1).")
    ] = 1,
) -> None:
    """Screen ISSUES: a short, prioritised, explained worklist of people on long-term opioids."""
    try:
        from opioidcds.population import screen  # noqa: PLC0415 - optional extra
        from opioidcds.population.outcomes import compare  # noqa: PLC0415
        from opioidcds.population.outcomes_report import terminal_rows  # noqa: PLC0415
        from opioidcds.population.report import OUTPUT_FORMATS, write_outputs  # noqa: PLC0415
        from opioidcds.population.schema import read_practices  # noqa: PLC0415
        from opioidcds.population.synthetic import marked_synthetic  # noqa: PLC0415
    except ImportError:
        typer.echo(
            "opioidcds: screen needs the 'population' extra: pip install 'opioidcds[population]'",
            err=True,
        )
        raise typer.Exit(2) from None
    from opioidcds._decide.rules import load_profile  # noqa: PLC0415 - keep start-up light

    console = Console(stderr=True)
    try:
        wanted = tuple(f.strip() for f in formats.split(",") if f.strip())
        if not wanted or any(f not in OUTPUT_FORMATS for f in wanted):
            raise InvalidInputError("--format", "must be csv, parquet and/or json")
        prof = load_profile(profile) if profile is not None else None
        base_date = parse_date(baseline, "--baseline")
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("Screening", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            result = screen(
                issues, patients, as_of=parse_date(as_of), profile=prof, progress=progress
            )
            outcomes = None
            why_not = None
            if base_date is not None and result.as_of is None:
                why_not = "the extract has no usable issue"
            if base_date is not None and result.as_of is not None:
                if base_date >= result.as_of:
                    raise InvalidInputError("--baseline", "must be before the follow-up date")
                bar.update(task, description="Screening at the baseline date")
                earlier = screen(issues, patients, as_of=base_date, profile=prof)
                practices = read_practices(issues, up_to=result.as_of)
                outcomes = compare(earlier, result, practices=practices, profile=prof)
        synthetic = marked_synthetic(issues)
        paths = write_outputs(
            result,
            out,
            formats=wanted,
            html=html,
            outcomes=outcomes,
            outcomes_note=why_not,
            profile=prof,
            synthetic=synthetic,
        )
    except OpioidCDSError as exc:
        raise typer.Exit(fail(exc)) from None
    Console().print(
        summary_table(result, terminal_rows(outcomes, why_not or "give --baseline YYYY-MM-DD"))
    )
    if synthetic:
        typer.echo("SYNTHETIC DATA: the extract is marked synthetic (invented people).")
    for p in paths:
        typer.echo(f"wrote {p}")
