"""``opioidcds screen-spark``: ``opioidcds screen`` run through PySpark (extra ``spark``).

The same worklist, problems, summary and report as ``opioidcds screen``, computed by
:func:`opioidcds.population.spark.screen_spark` in a local Spark session (``--master``,
default ``local[*]``). Needs the extras ``cli`` and ``spark`` and a Java runtime (17 or later):
without them it exits with code 2 and says what is missing. The results are collected into
this machine to write the files, so this command is for checking the Spark route (or for
extracts that fit here); on a Spark platform call ``screen_spark`` and write
``result.worklist`` with Spark. See ``docs/population.md`` ("Spark").
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from opioidcds._errors import InvalidInputError, OpioidCDSError
from opioidcds.cli.io import fail
from opioidcds.cli.screen_cmd import echo_footer, local_knowledge, parse_date, summary_table

__all__ = ["screen_spark_command"]

_FORMATS = ("csv", "parquet", "json")


def screen_spark_command(  # noqa: PLR0917 - typer maps parameters to options
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
            "--as-of", help="Screening date YYYY-MM-DD (default: latest issue).", metavar="DATE"
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
    master: Annotated[
        str, typer.Option("--master", help="Spark master URL (default: local[*]).", metavar="URL")
    ] = "local[*]",
    partitions: Annotated[
        int | None,
        typer.Option("--partitions", help="Patient partitions (default: cores).", metavar="N"),
    ] = None,
    rules: Annotated[
        Path | None,
        typer.Option(
            "--rules",
            help="Folder of local rules (extensions) beside the bundled ones.",
            metavar="DIR",
        ),
    ] = None,
) -> None:
    """Screen ISSUES through PySpark: the same worklist and report as `opioidcds screen`."""
    try:
        from opioidcds.population.report import write_outputs  # noqa: PLC0415 - optional
        from opioidcds.population.spark import (  # noqa: PLC0415 - optional extra
            local_session,
            screen_spark,
        )
        from opioidcds.population.synthetic import marked_synthetic  # noqa: PLC0415
    except ImportError:
        typer.echo(
            "opioidcds: screen-spark needs the 'spark' extra: pip install 'opioidcds[spark]'",
            err=True,
        )
        raise typer.Exit(2) from None
    from opioidcds._decide.rules import load_profile  # noqa: PLC0415 - keep start-up light

    try:
        wanted = tuple(f.strip() for f in formats.split(",") if f.strip())
        if not wanted or any(f not in _FORMATS for f in wanted):
            raise InvalidInputError("--format", "must be csv, parquet and/or json")
        if partitions is not None and partitions < 1:
            raise InvalidInputError("--partitions", "must be at least 1")
        prof = load_profile(profile) if profile is not None else None
        day = parse_date(as_of)
        spark = local_session(master)
        result = screen_spark(
            spark,
            issues,
            patients,
            as_of=day,
            profile=prof,
            partitions=partitions,
            local_rules=rules,
        )
        screening = result.to_screening()
        result.unpersist()
        synthetic = marked_synthetic(issues)
        kb = local_knowledge(rules)
        if kb is not None:  # the report names the local rules in force (issue 23)
            from opioidcds._decide.profile_notes import local_rules_text  # noqa: PLC0415

            screening = replace(screening, local_rules=local_rules_text(kb.rulesets))
        paths = write_outputs(
            screening,
            out,
            formats=wanted,
            html=html,
            knowledge=kb,
            profile=prof,
            synthetic=synthetic,
        )
    except OpioidCDSError as exc:
        raise typer.Exit(fail(exc)) from None
    table = summary_table(screening, [], engine_note=" (Spark)")
    Console().print(table)
    echo_footer(
        prof,
        synthetic=synthetic,
        paths=paths,
        local_rules=screening.local_rules,
    )
