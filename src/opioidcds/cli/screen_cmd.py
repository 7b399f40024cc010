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
    from opioidcds._decide.knowledge import Knowledge
    from opioidcds._decide.rules import Profile
    from opioidcds.population import Screening

__all__ = ["screen_command"]


def summary_table(
    result: Screening,
    extra: list[tuple[str, str]],
    *,
    engine_note: str = "",
    call_first: int | None = None,
) -> Table:
    """The terminal summary: counts only, never identifiers (also used by ``screen-spark``).

    Categories in words and in their order (bands, then tiers and levels most serious
    first); the input rows add up to the rows read. ``call_first``: the number of people to
    contact this week when ``result`` holds no rows (a Spark result written on the cluster);
    default ``len(result.call_first)``.
    """
    from opioidcds._decide.knowledge import default_knowledge  # noqa: PLC0415
    from opioidcds._decide.labels import display_words  # noqa: PLC0415

    words = display_words(default_knowledge())  # a profile changes no word
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
    ):
        table.add_row(label, str(c.get(key, 0)))
    first = len(result.call_first) if call_first is None else call_first
    table.add_row(
        "contact this week (the report's first list)",
        f"{first} (capacity {result.weekly_capacity} a week; --capacity)",
    )
    for band in words.bands:
        table.add_row(f"  {band.label}: {band.meaning}", str(c.get(f"band:{band.id}", 0)))
    table.add_row(
        "in scope, OME incomplete (a lower bound)", str(c.get("ome_incomplete_in_scope", 0))
    )
    for tier in words.tiers:
        table.add_row(f"support tier: {tier.label}", str(c.get(f"tier:{tier.id}", 0)))
    for level, label in words.levels:
        table.add_row(f"risk level: {label}", str(c.get(f"level:{level}", 0)))
    if "issue_rows_opioid" in c:
        parts = (
            ("opioid", "issue_rows_opioid"),
            ("benzodiazepine", "issue_rows_benzodiazepine"),
            ("gabapentinoid", "issue_rows_gabapentinoid"),
            ("other medicine", "issue_rows_other_medicines"),
            ("excluded", "problem_rows_issues"),
        )
        table.add_row(
            "issue rows read = " + " + ".join(name for name, _ in parts),
            f"{c.get('issue_rows_read', 0)} = " + " + ".join(str(c.get(k, 0)) for _, k in parts),
        )
    else:
        table.add_row("input rows excluded / not used", str(c.get("problem_rows", 0)))
    if c.get("problem_rows_patients", 0):
        table.add_row("patient-table rows excluded", str(c["problem_rows_patients"]))
    for key, n in sorted(c.items()):
        if key.startswith("problem:"):
            table.add_row(f"  excluded: {key.removeprefix('problem:')}", str(n))
    from opioidcds.population.engine import dose_sources_line  # noqa: PLC0415 - optional extra

    table.add_row("daily doses", dose_sources_line(c))
    for label, value in extra:
        table.add_row(label, value)
    return table


def local_knowledge(rules: Path | None) -> Knowledge | None:
    """The knowledge with the local rules of folder ``rules`` (``--rules DIR``), or ``None``.

    Raises:
        KnowledgeBaseError: the local rules do not load or lint clean.
    """
    if rules is None:
        return None
    from opioidcds._decide.knowledge import load_knowledge  # noqa: PLC0415 - light start

    return load_knowledge(local_rules=rules)


def local_rows(result: Screening) -> list[tuple[str, str]]:
    """Summary rows of the local rulesets: patients per ruleset and outcome (counts only)."""
    if result.local.is_empty():
        return []
    counts = result.local.group_by("ruleset", "version", "result").len().sort("ruleset", "result")
    return [
        (f"local ruleset {rs} {v}: {outcome}", str(n)) for rs, v, outcome, n in counts.iter_rows()
    ]


def parse_date(text: str | None, option: str = "--as-of") -> dt.date | None:
    """The date of a command-line option, or ``None``; a typed error names the option."""
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(option, "must be a date YYYY-MM-DD") from None


def echo_footer(
    profile: Profile | None,
    *,
    synthetic: bool,
    paths: list[Path],
    local_rules: str | None = None,
) -> None:
    """Print the profile and local rules in force, a synthetic-data note, the files written.

    ``local_rules`` is :attr:`Screening.local_rules` (the local rules in force, in words).

    A profile is never silent (issue 23): its summary is the same text as in the report.
    """
    if profile is not None:
        from opioidcds._decide.knowledge import default_knowledge  # noqa: PLC0415 - light start
        from opioidcds._decide.profile_notes import profile_summary  # noqa: PLC0415

        typer.echo(profile_summary(profile, default_knowledge().rulesets).text())
    if local_rules is not None:
        typer.echo(local_rules)
    if synthetic:
        typer.echo("SYNTHETIC DATA: the extract is marked synthetic (invented people).")
    for p in paths:
        typer.echo(f"wrote {p}")


def screen_command(  # noqa: PLR0917 - typer maps parameters to options
    issues: Annotated[
        Path, typer.Argument(help="Issue extract (CSV or Parquet), one row per issue.")
    ],
    patients: Annotated[
        Path | None,
        typer.Option("--patients", help="Patient table (CSV or Parquet).", metavar="FILE"),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Screening (and follow-up) date YYYY-MM-DD (default: latest issue).",
            metavar="DATE",
        ),
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline",
            help="Baseline date YYYY-MM-DD: also report outcomes from it to --as-of.",
            metavar="DATE",
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", help="Output folder (created if missing).", metavar="FOLDER")
    ] = Path("screening-out"),
    html: Annotated[
        bool, typer.Option("--html", help="Also write report.html.", metavar="")
    ] = False,
    formats: Annotated[
        str,
        typer.Option(
            "--format", help="Worklist formats, comma-separated: csv,parquet,json.", metavar="LIST"
        ),
    ] = "csv",
    profile: Annotated[
        Path | None,
        typer.Option("--profile", help="Local profile (thresholds) TOML file.", metavar="FILE"),
    ] = None,
    rules: Annotated[
        Path | None,
        typer.Option(
            "--rules",
            help="Folder of local rules (extensions and local rulesets) beside the bundled ones.",
            metavar="DIR",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option("--workers", help="Processes for large extracts (default 1).", metavar="N"),
    ] = 1,
    capacity: Annotated[
        int | None,
        typer.Option(
            "--capacity",
            help="People the practice can contact in a week: the size of the report's "
            "'contact this week' list (default 4: one 250-minute session of 1-hour first "
            "appointments; population_method/screening.toml).",
            metavar="N",
        ),
    ] = None,
) -> None:
    """Screen ISSUES: a short, prioritised, explained worklist of people on long-term opioids.

    Writes worklist.csv, problems.csv, summary.json (and with --html report.html, whose first
    screen is the people to contact this week, why and what to offer).
    """
    try:
        from opioidcds.population import screen  # noqa: PLC0415 - optional extra
        from opioidcds.population.outcomes import compare  # noqa: PLC0415
        from opioidcds.population.outcomes_report import terminal_rows  # noqa: PLC0415
        from opioidcds.population.report import OUTPUT_FORMATS, write_outputs  # noqa: PLC0415
        from opioidcds.population.schema import (  # noqa: PLC0415
            check_unchanged,
            read_practices,
            source_stamp,
        )
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
        if capacity is not None and capacity < 1:
            raise InvalidInputError("--capacity", "must be at least 1 person a week")
        prof = load_profile(profile) if profile is not None else None
        kb = local_knowledge(rules)
        base_date = parse_date(baseline, "--baseline")
        stamps = (source_stamp(issues), source_stamp(patients))
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("Screening", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            result = screen(
                issues,
                patients,
                as_of=parse_date(as_of),
                knowledge=kb,
                profile=prof,
                progress=progress,
                workers=workers,
                capacity=capacity,
            )
            outcomes = None
            why_not = None
            if base_date is not None and result.as_of is None:
                why_not = "the extract has no usable issue"
            if base_date is not None and result.as_of is not None:
                if base_date >= result.as_of:
                    raise InvalidInputError("--baseline", "must be before the follow-up date")
                bar.update(
                    task, description="Screening at the baseline date", completed=0, total=None
                )
                earlier = screen(
                    issues,
                    patients,
                    as_of=base_date,
                    knowledge=kb,
                    profile=prof,
                    progress=progress,
                )
                bar.update(task, description="Outcomes per practice", completed=0, total=None)
                practices = read_practices(issues, up_to=result.as_of)
                outcomes = compare(earlier, result, practices=practices, profile=prof)
            synthetic = marked_synthetic(issues)
            check_unchanged(issues, stamps[0], "issues")  # read more than once: one version
            check_unchanged(patients, stamps[1], "patients")
            bar.update(task, description="Writing the outputs", completed=0, total=None)
            paths = write_outputs(
                result,
                out,
                formats=wanted,
                html=html,
                outcomes=outcomes,
                outcomes_note=why_not,
                knowledge=kb,
                profile=prof,
                synthetic=synthetic,
            )
    except OpioidCDSError as exc:
        raise typer.Exit(fail(exc)) from None
    Console().print(
        summary_table(
            result,
            terminal_rows(outcomes, why_not or "give --baseline YYYY-MM-DD") + local_rows(result),
        )
    )
    echo_footer(prof, synthetic=synthetic, paths=paths, local_rules=result.local_rules)
