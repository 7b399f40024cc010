"""``opioidcds screen-spark``: ``opioidcds screen`` run through PySpark (extra ``spark``).

The same worklist, problems and summary as ``opioidcds screen``, computed by
:func:`opioidcds.population.spark.screen_spark` on any Spark: a local master (default
``local[*]``, on loopback), a cluster (``--master spark://...``, ``yarn``, ``k8s://...``, or
whatever ``spark-submit`` launched this process with), or Spark Connect (``--remote sc://...``).
Inputs are paths, URIs (``s3a://``, ``abfss://``, ``file://``) or ``table:NAME`` /
``delta:URI`` / ``parquet:URI`` / ``csv:URI`` (:mod:`opioidcds.population.spark_io`).
``--output-dir URI`` / ``--output-table PREFIX`` write the worklist, problems, summary and
provenance as Parquet (or Delta) folders or tables, the rows written by the executors;
``--out FOLDER`` (the default when neither is given) collects the results into this machine
to write ``screen``'s files and report. Needs the extras ``cli`` and ``spark`` and a Java
runtime (17 or later): without them it exits with code 2 and says what is missing. See
``docs/spark.md``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from opioidcds._decide.profile_notes import local_rules_text
from opioidcds._errors import InvalidInputError, OpioidCDSError
from opioidcds.cli.io import fail
from opioidcds.cli.screen_cmd import echo_footer, local_knowledge, parse_date, summary_table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from opioidcds.population.engine import Screening
    from opioidcds.population.outcomes import Outcomes
    from opioidcds.population.spark import SparkScreening

__all__ = ["screen_spark_command"]

_FORMATS = ("csv", "parquet", "json")
_DEFAULT_OUT = Path("screening-out")


def screen_spark_command(  # noqa: PLR0917 - typer maps parameters to options
    issues: Annotated[
        str,
        typer.Argument(
            help="Issue extract, one row per issue: a CSV or Parquet path or URI (s3a://, "
            "abfss://, file://), or table:NAME, delta:URI, parquet:URI, csv:URI."
        ),
    ],
    patients: Annotated[
        str | None,
        typer.Option("--patients", help="Patient table (same forms as ISSUES).", metavar="SOURCE"),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", help="Screening date YYYY-MM-DD (default: latest issue).", metavar="DATE"
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Local output folder for screen's files (rows collected into this machine; "
            "default screening-out unless --output-dir or --output-table is given).",
            metavar="FOLDER",
        ),
    ] = None,
    output_dir: Annotated[
        str | None,
        typer.Option(
            "--output-dir",
            help="Write worklist/, problems/, summary/, provenance/ folders here (path or URI), "
            "from the executors.",
            metavar="URI",
        ),
    ] = None,
    output_table: Annotated[
        str | None,
        typer.Option(
            "--output-table",
            help="Write tables PREFIX_worklist, _problems, _summary, _provenance.",
            metavar="PREFIX",
        ),
    ] = None,
    output_format: Annotated[
        str,
        typer.Option(
            "--output-format", help="Format of --output-dir: parquet or delta.", metavar="FMT"
        ),
    ] = "parquet",
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Replace --output-dir/--output-table outputs."),
    ] = False,
    html: Annotated[
        bool, typer.Option("--html", help="Also write report.html (in --out).", metavar="")
    ] = False,
    formats: Annotated[
        str,
        typer.Option(
            "--format",
            help="Worklist formats in --out, comma-separated: csv,parquet,json.",
            metavar="LIST",
        ),
    ] = "csv",
    profile: Annotated[
        Path | None,
        typer.Option("--profile", help="Local profile (thresholds) TOML file.", metavar="FILE"),
    ] = None,
    master: Annotated[
        str | None,
        typer.Option(
            "--master",
            help="Spark master URL (default: spark-submit's, else local[*]).",
            metavar="URL",
        ),
    ] = None,
    remote: Annotated[
        str | None,
        typer.Option("--remote", help="Spark Connect URL (sc://host:port).", metavar="URL"),
    ] = None,
    conf: Annotated[
        list[str] | None,
        typer.Option("--conf", help="Spark setting key=value (repeatable).", metavar="KEY=VALUE"),
    ] = None,
    partitions: Annotated[
        int | None,
        typer.Option(
            "--partitions",
            help="Patient partitions (default: enough for --max-partition-rows).",
            metavar="N",
        ),
    ] = None,
    max_partition_rows: Annotated[
        int | None,
        typer.Option(
            "--max-partition-rows",
            help="Input rows a partition holds at most (bounds each Python worker's memory; "
            "default 200000).",
            metavar="N",
        ),
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline",
            help="Baseline date YYYY-MM-DD: also report outcomes from it to --as-of (in --out).",
            metavar="DATE",
        ),
    ] = None,
    capacity: Annotated[
        int | None,
        typer.Option(
            "--capacity",
            help="People the practice can contact in a week (as for screen).",
            metavar="N",
        ),
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
    """Screen ISSUES through PySpark: the same worklist and summary as `opioidcds screen`."""
    try:
        from opioidcds.population.outcomes_report import terminal_rows  # noqa: PLC0415
        from opioidcds.population.report import write_outputs  # noqa: PLC0415 - optional
        from opioidcds.population.spark import (  # noqa: PLC0415 - optional extra
            DEFAULT_MAX_PARTITION_ROWS,
            screen_spark,
        )
        from opioidcds.population.spark_io import (  # noqa: PLC0415 - optional extra
            cluster_session,
            default_partitions,
            is_connect,
            marked_synthetic_spark,
            parse_output,
            parse_source,
            read_source,
            summary_screening,
            write_spark_outputs,
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
        wanted = _formats(formats)
        target = parse_output(output_dir, output_table, output_format)
        local_out = _local_out(out, target is not None, html=html)
        issue_source = parse_source(issues, "issues")
        patient_source = parse_source(patients, "patients") if patients is not None else None
        prof = load_profile(profile) if profile is not None else None
        day = parse_date(as_of)
        spark = cluster_session(master, remote=remote, conf=conf or ())
        issue_input = read_source(spark, issue_source, "issues")
        patient_input = (
            read_source(spark, patient_source, "patients") if patient_source is not None else None
        )
        if partitions is None and is_connect(spark):
            partitions = default_partitions(spark)  # no sparkContext under Spark Connect
        base_date = _checked(partitions, capacity, baseline, local_out)
        result = screen_spark(
            spark,
            issue_input,
            patient_input,
            as_of=day,
            profile=prof,
            partitions=partitions,
            max_partition_rows=(
                DEFAULT_MAX_PARTITION_ROWS if max_partition_rows is None else max_partition_rows
            ),
            baseline=base_date,
            capacity=capacity,
            local_rules=rules,
        )
        synthetic = _synthetic(issue_input, marked_synthetic, marked_synthetic_spark)
        kb = local_knowledge(rules)
        # the outputs name the local rules in force (issue 23)
        local_text = local_rules_text(kb.rulesets) if kb is not None else None
        try:
            written = (
                write_spark_outputs(spark, result, target, synthetic=synthetic, overwrite=overwrite)
                if target is not None
                else ()
            )
            screening, outcomes, why_not = _collected(result, local_out, base_date)
        finally:
            result.unpersist()
        if screening is not None and local_text is not None:
            screening = replace(screening, local_rules=local_text)
        paths = (
            write_outputs(
                screening,
                local_out,
                formats=wanted,
                html=html,
                knowledge=kb,
                profile=prof,
                synthetic=synthetic,
                outcomes=outcomes,
                outcomes_note=why_not,
            )
            if screening is not None and local_out is not None
            else []
        )
    except OpioidCDSError as exc:
        raise typer.Exit(fail(exc)) from None
    if screening is None:  # only cluster outputs: the counts, without collecting the rows
        screening = summary_screening(result)
        listed = min(screening.weekly_capacity, int(screening.counts.get("on_worklist", 0)))
        Console().print(summary_table(screening, [], engine_note=" (Spark)", call_first=listed))
    else:
        rows = terminal_rows(outcomes, why_not or "give --baseline YYYY-MM-DD")
        Console().print(summary_table(screening, rows, engine_note=" (Spark)"))
    echo_footer(prof, synthetic=synthetic, paths=paths, local_rules=local_text)
    for name in written:
        typer.echo(f"wrote {name}")


def _synthetic(
    source: Path | DataFrame,
    local: Callable[[Path], bool],
    spark: Callable[[DataFrame], bool],
) -> bool:
    return local(source) if isinstance(source, Path) else spark(source)


def _formats(formats: str) -> tuple[str, ...]:
    wanted = tuple(f.strip() for f in formats.split(",") if f.strip())
    if not wanted or any(f not in _FORMATS for f in wanted):
        raise InvalidInputError("--format", "must be csv, parquet and/or json")
    return wanted


def _local_out(out: Path | None, cluster_target: bool, *, html: bool) -> Path | None:
    """The local output folder: ``--out``, else the default unless cluster outputs are given."""
    local_out = out if out is not None or cluster_target else _DEFAULT_OUT
    if html and local_out is None:
        raise InvalidInputError("--html", "writes report.html into --out: give --out FOLDER")
    return local_out


def _collected(
    result: SparkScreening, local_out: Path | None, base_date: dt.date | None
) -> tuple[Screening | None, Outcomes | None, str | None]:
    """The screening collected for ``--out`` (None without it), its outcomes, why none."""
    if local_out is None:
        return None, None, None
    if base_date is None:
        return result.to_screening(), None, None
    if result.as_of is None:
        return result.to_screening(), None, "the extract has no usable issue"
    screening, outcomes = result.outcomes()
    return screening, outcomes, None


def _checked(
    partitions: int | None, capacity: int | None, baseline: str | None, local_out: Path | None
) -> dt.date | None:
    """Check the numeric options; the baseline date (outcomes are written into ``--out``)."""
    if partitions is not None and partitions < 1:
        raise InvalidInputError("--partitions", "must be at least 1")
    if capacity is not None and capacity < 1:
        raise InvalidInputError("--capacity", "must be at least 1 person a week")
    base_date = parse_date(baseline, "--baseline")
    if base_date is not None and local_out is None:
        raise InvalidInputError("--baseline", "writes the outcomes into --out: give --out")
    return base_date
