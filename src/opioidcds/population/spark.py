"""Population screening through PySpark (optional extra ``spark``): the same per-patient screen.

For extracts that outgrow one machine (NHS analytics platforms run Spark). Each input row gets
its 1-based row number in read order; the rows are hash-partitioned by the *normalised* patient
id (stripped exactly as :mod:`opioidcds.population.schema` strips it, computed in Polars) so
that every row :func:`~opioidcds.population.screen` could relate (one patient's issues, their
duplicates, their patient-table rows) lands in one partition. Each partition is sorted back
into row order and screened by the public :func:`~opioidcds.population.screen` (``mapInArrow``,
Polars inside); its row numbers are mapped back to the extract's, and the results are merged:
the worklist is sorted and ranked across partitions exactly as the single-machine engine
sorts it (band, then the method's ``order_within_band`` keys largest first, then patient id).

Whole-extract steps, done once and never per partition:

* ``as_of``: the given date, or else the latest issue date among the rows that pass the
  schema checks (what :func:`screen` uses), computed over the whole extract in a first pass.
* Row numbers: assigned before partitioning, in the order Spark reads the input (for one CSV
  or Parquet file: the file's own order, as the single-machine reader counts).
* Required columns and malformed CSV rows: checked before any screening.
* Duplicate rows and duplicate patient-table ids: all copies share a patient id, so they meet
  in one partition, where :func:`screen` finds them in row order.
* Counts: summed over partitions (each is a count of patients or rows).

Outcomes over time are not computed here. See ``docs/population.md`` ("Spark").
"""

from __future__ import annotations

import datetime as dt
import os
import pickle
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache, partial
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Final

import polars as pl

from opioidcds._decide.knowledge import Knowledge, load_knowledge
from opioidcds._decide.patient_facts import local_rulesets
from opioidcds._errors import InvalidInputError, OpioidCDSError
from opioidcds._knowledge.provenance import Provenance
from opioidcds.population.engine import PatientRow, Screening, screen
from opioidcds.population.method import ScreeningMethod, default_method
from opioidcds.population.report import worklist_frame
from opioidcds.population.rows import rows_table
from opioidcds.population.schema import (
    ISSUE_COLUMNS,
    PATIENT_COLUMNS,
    RowProblem,
    read_issues,
    read_patients,
)

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import Column, DataFrame, SparkSession

    from opioidcds._decide.rules import Profile

__all__ = [
    "SparkScreening",
    "SparkUnavailableError",
    "local_session",
    "require_spark",
    "screen_spark",
]

_MIN_JAVA: Final = 17  # Spark 4 runs on Java 17 or 21
_KIND_ROW: Final = "row"
_KIND_PROBLEM: Final = "problem"
_KIND_COUNT: Final = "count"
_ISSUE_PREFIX: Final = "i__"
_PATIENT_PREFIX: Final = "p__"
_CORRUPT: Final = "_corrupt_record"
_INT_DIGITS: Final = 20  # sort-key width of the OME's integer part (fail closed beyond)
_FRAC_DIGITS: Final = 40  # and of its fraction


class SparkUnavailableError(RuntimeError, OpioidCDSError):
    """The ``spark`` extra (pyspark) or a Java runtime (17 or later) is not available."""


def _java_major(java: str) -> int | None:
    try:
        done = subprocess.run(  # noqa: S603 - a fixed argument list, no shell
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr + done.stdout)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major  # "1.8" is Java 8


def require_spark() -> None:
    """Check that pyspark and a Java runtime (17 or later) are available.

    Raises:
        SparkUnavailableError: pyspark is not installed (the extra ``spark``), or no ``java``
            is found (``JAVA_HOME``, else ``PATH``), or it is older than Java 17.
    """
    if find_spec("pyspark") is None or find_spec("pyarrow") is None:
        raise SparkUnavailableError(
            "spark screening needs the 'spark' extra: pip install 'opioidcds[spark]'"
        )
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if java is None or not Path(java).exists():
        raise SparkUnavailableError(
            "spark screening needs a Java runtime (17 or later): none found on JAVA_HOME or "
            "PATH (Debian: apt-get install openjdk-17-jre-headless)"
        )
    major = _java_major(java)
    if major is None or major < _MIN_JAVA:
        raise SparkUnavailableError(
            f"spark screening needs Java {_MIN_JAVA} or later; the java found is older or did "
            "not report its version"
        )


def _local_cores(master: str) -> int:
    match = re.fullmatch(r"local\[(\d+)\]", master)
    return int(match.group(1)) if match else max(1, os.cpu_count() or 1)


def local_session(
    master: str = "local[*]", *, config: Mapping[str, str] | None = None
) -> SparkSession:
    """A Spark session on this machine (or the active session, if one is running).

    Sets ``PYSPARK_PYTHON`` to this interpreter when it is unset, so Spark's Python workers
    import the same installation of opioidcds; binds to loopback; no web UI.

    Raises:
        SparkUnavailableError: see :func:`require_spark`.
    """
    require_spark()
    import sys  # noqa: PLC0415

    from pyspark.sql import SparkSession  # noqa: PLC0415 - optional extra

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = (
        SparkSession.builder.master(master)
        .appName("opioidcds-screen")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(_local_cores(master)))
    )
    for key, value in (config or {}).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


@dataclass(frozen=True)
class SparkScreening:
    """The result of :func:`screen_spark`.

    ``worklist`` is a Spark DataFrame with exactly the columns of the single-machine worklist
    file (``rank`` global), sorted in worklist order; ``problems`` has ``file``, ``row`` (the
    extract's row numbers), ``reason``. Both are computed from a persisted result: call
    :meth:`unpersist` when done. :meth:`to_screening` collects everything into the driver as a
    :class:`~opioidcds.population.Screening` (for the report), which needs the driver's memory.
    """

    as_of: dt.date | None
    worklist: DataFrame
    problems: DataFrame
    counts: Mapping[str, int]
    versions: Mapping[str, str]
    method: ScreeningMethod
    factor_labels: Mapping[str, str]
    provenance: Provenance
    partitions: int
    _result: DataFrame
    _order: tuple[Column, ...]
    _persisted: tuple[DataFrame, ...]

    def to_screening(self) -> Screening:
        """Collect into a :class:`Screening` (rows in worklist order; ``engine="spark"``)."""
        rows: list[PatientRow] = []
        ordered = self._result.filter(_kind(_KIND_ROW)).orderBy(*self._order)
        for rec in ordered.select("_pickled").collect():
            row = pickle.loads(rec["_pickled"])  # noqa: S301 - written by this job's own workers
            if not isinstance(row, PatientRow):  # pragma: no cover - defensive
                raise InvalidInputError("spark result", "is not a worklist row")
            rows.append(row)
        problems = tuple(
            RowProblem(str(rec["file"]), int(rec["row"]), str(rec["reason"]))
            for rec in self.problems.orderBy("file", "row").collect()
        )
        return Screening(
            as_of=self.as_of,
            table=rows_table(rows),
            problems=problems,
            counts=dict(self.counts),
            versions=dict(self.versions),
            method=self.method,
            engine="spark",
            provenance=self.provenance,
            factor_labels=dict(self.factor_labels),
        )

    def unpersist(self) -> None:
        """Release the cached intermediate results."""
        for frame in self._persisted:
            frame.unpersist()


def _kind(kind: str) -> Column:
    from pyspark.sql import functions as F  # noqa: N812, PLC0415

    return F.col("_kind") == F.lit(kind)


# --- reading ----------------------------------------------------------------------------------


def _columns_checked(columns: Sequence[str], what: str) -> list[str]:
    """Normalised column names; required columns checked exactly as the schema reader does."""
    names = [c.strip().lower() for c in columns]
    if len(set(names)) != len(names):
        raise InvalidInputError(what, "column names repeat (case and spaces folded)")
    empty = pl.DataFrame(schema=dict.fromkeys(names, pl.String))
    if what == "issues":
        read_issues(empty)  # raises InvalidInputError naming missing required columns
        known = ISSUE_COLUMNS
    else:
        read_patients(empty)
        known = PATIENT_COLUMNS
    return [n for n in names if n in known]


def _read(spark: SparkSession, source: str | Path | DataFrame, what: str) -> DataFrame:
    """Read a CSV/Parquet path (every column as text) or take a Spark DataFrame."""
    from pyspark.sql import DataFrame as SparkFrame  # noqa: PLC0415
    from pyspark.sql import functions as F  # noqa: N812, PLC0415
    from pyspark.sql.types import StringType, StructField, StructType  # noqa: PLC0415

    if isinstance(source, SparkFrame):
        frame = source
    else:
        path = Path(source)
        suffix = path.suffix.lower()
        if not path.exists():
            raise InvalidInputError(what, "could not be read as CSV or Parquet")
        if suffix in (".parquet", ".pq"):
            frame = spark.read.parquet(str(path))
        elif suffix in (".csv", ".txt", ""):
            options = {"header": "true", "multiLine": "true", "escape": '"', "encoding": "UTF-8"}
            header = spark.read.options(**options).csv(str(path)).columns
            schema = StructType(
                [StructField(c, StringType()) for c in header]
                + [StructField(_CORRUPT, StringType())]
            )
            frame = (
                spark.read.options(**options, mode="PERMISSIVE", columnNameOfCorruptRecord=_CORRUPT)
                .schema(schema)
                .csv(str(path))
            )
        else:
            raise InvalidInputError(what, "must be a .csv or .parquet file")
    given = [c for c in frame.columns if c != _CORRUPT]
    names = [c.strip().lower() for c in given]
    keep = _columns_checked(given, what)
    selected = [
        F.col(f"`{orig}`").cast("string").alias(name)
        for orig, name in zip(given, names, strict=True)
        if name in keep
    ]
    if _CORRUPT in frame.columns:
        selected.append(F.col(_CORRUPT))
    return frame.select(*selected)


def _numbered(frame: DataFrame, what: str) -> tuple[DataFrame, DataFrame]:
    """Add ``_row`` (1-based, read order); refuse malformed CSV rows. Returns (rows, cache)."""
    from pyspark import StorageLevel  # noqa: PLC0415
    from pyspark.sql import functions as F  # noqa: N812, PLC0415

    # monotonically_increasing_id: partition index in the upper 31 bits, position in the lower 33
    cached = frame.withColumn("_mid", F.monotonically_increasing_id()).persist(
        StorageLevel.MEMORY_AND_DISK
    )
    part = F.shiftright(F.col("_mid"), 33)
    corrupt = F.col(_CORRUPT).isNotNull().cast("long") if _CORRUPT in frame.columns else F.lit(0)
    stats = cached.groupBy(part.alias("p")).agg(F.count("*"), F.sum(corrupt)).collect()
    offsets, total, bad = [], 0, 0
    for p, n, b in sorted((int(p), int(n), int(b or 0)) for p, n, b in stats):
        offsets.append((p, total))
        total += n
        bad += b
    spark = frame.sparkSession
    table = spark.createDataFrame(offsets or [(0, 0)], "p long, offset long")
    numbered = (
        cached.withColumn("p", part)
        .join(F.broadcast(table), on="p", how="left")
        .withColumn(
            "_row", F.col("_mid") - F.shiftleft(F.col("p"), 33) + F.col("offset") + F.lit(1)
        )
        .drop("_mid", "p", "offset")
    )
    if bad:
        first = numbered.filter(F.col(_CORRUPT).isNotNull()).agg(F.min("_row")).collect()
        raise InvalidInputError(
            what,
            f"{bad} row(s) do not have one field per column (first: data row {first[0][0]})",
        )
    if _CORRUPT in numbered.columns:
        numbered = numbered.drop(_CORRUPT)
    return numbered, cached


# --- partitions (run in Spark's Python workers) ----------------------------------------------


def _arrow(frame: pl.DataFrame, types: Sequence[tuple[str, str]]) -> list[pa.RecordBatch]:
    """``frame`` as Arrow batches of exactly the Spark-declared types (plain, not large)."""
    import pyarrow as pa  # noqa: PLC0415 - worker side

    arrow = {"string": pa.string(), "long": pa.int64(), "boolean": pa.bool_()}
    arrow |= {"binary": pa.binary(), "date": pa.date32()}
    schema = pa.schema([(name, arrow[kind]) for name, kind in types])
    table = frame.select([name for name, _ in types]).to_arrow().cast(schema)
    return table.to_batches() if table.num_rows else []


def _key_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Add ``_key``: the patient id stripped exactly as the schema reader strips it."""
    for batch in batches:
        frame = pl.from_arrow(batch)
        if not isinstance(frame, pl.DataFrame):  # pragma: no cover - a batch is a table
            raise InvalidInputError("spark batch", "is not a table")
        keyed = frame.with_columns(pl.col("patient_id").str.strip_chars().alias("_key"))
        types = [(c, "long" if c == "_row" else "string") for c in keyed.columns]
        yield from _arrow(keyed, types)


def _partition_frames(
    batches: Iterator[pa.RecordBatch], issue_cols: Sequence[str], patient_cols: Sequence[str]
) -> tuple[pl.DataFrame, list[int], pl.DataFrame | None, list[int]] | None:
    """One partition's issue rows and patient rows, each back in row order, and their numbers."""
    import pyarrow as pa  # noqa: PLC0415 - worker side

    got = list(batches)
    if not got or sum(b.num_rows for b in got) == 0:
        return None
    frame = pl.from_arrow(pa.Table.from_batches(got))
    if not isinstance(frame, pl.DataFrame):  # pragma: no cover
        raise InvalidInputError("spark partition", "is not a table")
    iss = frame.filter(pl.col("_kind") == "issue").sort("_row")
    issues = iss.select([pl.col(_ISSUE_PREFIX + c).cast(pl.String).alias(c) for c in issue_cols])
    patients: pl.DataFrame | None = None
    patient_rows: list[int] = []
    if patient_cols:
        pts = frame.filter(pl.col("_kind") == "patient").sort("_row")
        patients = pts.select(
            [pl.col(_PATIENT_PREFIX + c).cast(pl.String).alias(c) for c in patient_cols]
        )
        patient_rows = [int(x) for x in pts.get_column("_row").to_list()]
    return issues, [int(x) for x in iss.get_column("_row").to_list()], patients, patient_rows


def _latest_batches(
    batches: Iterator[pa.RecordBatch], issue_cols: Sequence[str]
) -> Iterator[pa.RecordBatch]:
    """The latest issue date among this partition's rows that pass the schema checks."""
    parts = _partition_frames(batches, issue_cols, ())
    if parts is None or parts[0].height == 0:
        return
    good, _ = read_issues(parts[0])
    latest = good.get_column("issue_date").max() if good.height else None
    yield from _arrow(
        pl.DataFrame({"latest": [latest]}, schema={"latest": pl.Date}), [("latest", "date")]
    )


def _ome_key(value: Decimal | None) -> str:
    """A fixed-width text of the OME whose text order is its numeric order (exact)."""
    d = value if value is not None else Decimal(0)
    if not d.is_finite() or d < 0:
        raise InvalidInputError("ome_mg_per_day", "cannot be ordered (negative or not finite)")
    whole, _, frac = format(d, "f").partition(".")
    if len(whole) > _INT_DIGITS or len(frac) > _FRAC_DIGITS:
        raise InvalidInputError("ome_mg_per_day", "has too many digits to order exactly")
    return whole.rjust(_INT_DIGITS, "0") + "." + frac.ljust(_FRAC_DIGITS, "0")


@dataclass(frozen=True)
class _Job:
    issue_cols: tuple[str, ...]
    patient_cols: tuple[str, ...]
    as_of: dt.date | None
    profile: Profile | None
    method: ScreeningMethod
    out_types: tuple[tuple[str, str], ...]
    local_rules: str | None = None  # folder of local rules (issue 23), read in each executor


@cache
def _local_knowledge(folder: str | None) -> Knowledge | None:
    """The knowledge with the local rules of ``folder`` (read once per process), or ``None``."""
    return load_knowledge(local_rules=folder) if folder is not None else None


def _screen_batches(batches: Iterator[pa.RecordBatch], job: _Job) -> Iterator[pa.RecordBatch]:
    """Screen one partition with :func:`screen`; rows, problems and counts in one frame."""
    parts = _partition_frames(batches, job.issue_cols, job.patient_cols)
    if parts is None:
        return
    issues, issue_rows, patients, patient_rows = parts
    result = screen(
        issues,
        patients,
        as_of=job.as_of,
        knowledge=_local_knowledge(job.local_rules),
        profile=job.profile,
        method=job.method,
    )
    original = {"issues": issue_rows, "patients": patient_rows}
    frame = worklist_frame(result).with_columns(
        pl.lit(_KIND_ROW).alias("_kind"),
        pl.Series(
            "_band_order", [int(r.band) if r.band.isdigit() else 99 for r in result.rows], pl.Int64
        ),
        pl.Series("_listed", [r.band.isdigit() for r in result.rows], dtype=pl.Boolean),
        pl.Series("_ome_key", [_ome_key(r.ome_mg_per_day) for r in result.rows], pl.String),
        pl.Series("_factors", [len(r.factors_present) for r in result.rows], pl.Int64),
        pl.Series("_pickled", [pickle.dumps(r, protocol=5) for r in result.rows], pl.Binary),
    )
    problems = pl.DataFrame(
        {
            "_kind": [_KIND_PROBLEM] * len(result.problems),
            "_file": [p.file for p in result.problems],
            "_prow": [original[p.file][p.row - 1] for p in result.problems],
            "_reason": [p.reason for p in result.problems],
        },
        schema={"_kind": pl.String, "_file": pl.String, "_prow": pl.Int64, "_reason": pl.String},
    )
    counts = pl.DataFrame(
        {
            "_kind": [_KIND_COUNT] * len(result.counts),
            "_count_key": list(result.counts),
            "_count": [int(n) for n in result.counts.values()],
        },
        schema={"_kind": pl.String, "_count_key": pl.String, "_count": pl.Int64},
    )
    out = pl.concat([frame, problems, counts], how="diagonal_relaxed")
    yield from _arrow(out, job.out_types)


# --- the driver -------------------------------------------------------------------------------


def _combined(
    issues: DataFrame, patients: DataFrame | None, partitions: int
) -> tuple[DataFrame, tuple[str, ...], tuple[str, ...]]:
    """Issue and patient rows in one frame, keyed and partitioned by normalised patient id."""
    from pyspark.sql import functions as F  # noqa: N812, PLC0415

    issue_cols = tuple(c for c in issues.columns if c != "_row")
    patient_cols = tuple(c for c in patients.columns if c != "_row") if patients else ()

    def keyed(frame: DataFrame) -> DataFrame:
        schema = ", ".join(f"`{c}` {'long' if c == '_row' else 'string'}" for c in frame.columns)
        return frame.mapInArrow(_key_batches, schema + ", _key string")

    parts = [
        keyed(issues).select(
            F.lit("issue").alias("_kind"),
            "_row",
            "_key",
            *[F.col(c).alias(_ISSUE_PREFIX + c) for c in issue_cols],
            *[F.lit(None).cast("string").alias(_PATIENT_PREFIX + c) for c in patient_cols],
        )
    ]
    if patients is not None:
        parts.append(
            keyed(patients).select(
                F.lit("patient").alias("_kind"),
                "_row",
                "_key",
                *[F.lit(None).cast("string").alias(_ISSUE_PREFIX + c) for c in issue_cols],
                *[F.col(c).alias(_PATIENT_PREFIX + c) for c in patient_cols],
            )
        )
    combined = parts[0] if len(parts) == 1 else parts[0].unionByName(parts[1])
    return combined.repartition(partitions, "_key"), issue_cols, patient_cols


def _out_types(base: Screening) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """A partition's output columns and Spark types: the worklist file's, then helpers."""
    frame = worklist_frame(base)
    worklist = tuple((n, _spark_type(t)) for n, t in frame.schema.items())
    helpers = (
        ("_kind", "string"),
        ("_band_order", "long"),
        ("_listed", "boolean"),
        ("_ome_key", "string"),
        ("_factors", "long"),
        ("_pickled", "binary"),
        ("_file", "string"),
        ("_prow", "long"),
        ("_reason", "string"),
        ("_count_key", "string"),
        ("_count", "long"),
    )
    return (*worklist, *helpers), tuple(frame.columns)


def _spark_type(dtype: pl.DataType) -> str:
    for polars_type, name in ((pl.String, "string"), (pl.Int64, "long"), (pl.Boolean, "boolean")):
        if dtype == polars_type:
            return name
    raise InvalidInputError("worklist column", "has a type the Spark runner does not map")


def _order(method: ScreeningMethod) -> tuple[Column, ...]:
    """The worklist order: band, the method's keys (largest first), patient id."""
    from pyspark.sql import functions as F  # noqa: N812, PLC0415

    keys = [F.col("_band_order").asc()]
    for k in method.order_within_band:
        if k == "ome_mg_per_day":
            keys.append(F.col("_ome_key").desc())
        elif k == "factors_present":
            keys.append(F.col("_factors").desc())
    keys.append(F.col("patient_id").asc())
    return tuple(keys)


def screen_spark(
    spark: SparkSession,
    issues: str | Path | DataFrame,
    patients: str | Path | DataFrame | None = None,
    *,
    as_of: dt.date | None = None,
    profile: Profile | None = None,
    method: ScreeningMethod | None = None,
    partitions: int | None = None,
    local_rules: str | Path | None = None,
) -> SparkScreening:
    """Screen an issue extract with Spark: the same rows as :func:`screen` on one machine.

    Args:
        spark: the session (e.g. :func:`local_session`, or the platform's own).
        issues: CSV/Parquet path (every column read as text) or a Spark DataFrame.
        patients: the optional patient table (same forms).
        as_of: the screening date; default: the latest issue date over the whole extract
            among rows that pass the schema checks (computed once, before screening).
        profile: a local profile (thresholds), as for :func:`screen`.
        method: the screening method (default: the bundled one).
        partitions: number of patient partitions (default: Spark's default parallelism).
        local_rules: a folder of local extensions (``--rules DIR``, issue 23), read by every
            executor; a local ruleset run for every patient is refused here (its per-patient
            results are collected by :func:`screen` only).

    Returns:
        A :class:`SparkScreening` (counts computed; worklist and problems as DataFrames).

    Raises:
        InvalidInputError: a file cannot be read, lacks required columns (named) or has rows
            with the wrong number of fields.
    """
    from pyspark import StorageLevel  # noqa: PLC0415
    from pyspark.sql import Window  # noqa: PLC0415
    from pyspark.sql import functions as F  # noqa: N812, PLC0415

    meth = method if method is not None else default_method()
    n_parts = partitions or max(1, spark.sparkContext.defaultParallelism)
    issue_frame, issue_cache = _numbered(_read(spark, issues, "issues"), "issues")
    persisted = [issue_cache]
    patient_frame = None
    if patients is not None:
        patient_frame, patient_cache = _numbered(_read(spark, patients, "patients"), "patients")
        persisted.append(patient_cache)
    combined, issue_cols, patient_cols = _combined(issue_frame, patient_frame, n_parts)
    combined = combined.persist(StorageLevel.MEMORY_AND_DISK)
    persisted.append(combined)
    if as_of is None:
        latest = combined.mapInArrow(
            partial(_latest_batches, issue_cols=issue_cols), "latest date"
        ).agg(F.max("latest").alias("latest"))
        found = latest.collect()[0]["latest"]
        as_of = found if isinstance(found, dt.date) else None
    empty_issues = pl.DataFrame(schema=dict.fromkeys(issue_cols, pl.String))
    empty_patients = (
        pl.DataFrame(schema=dict.fromkeys(patient_cols, pl.String)) if patients else None
    )
    folder = str(Path(local_rules).resolve()) if local_rules is not None else None
    kb = _local_knowledge(folder)
    if kb is not None and local_rulesets(kb):
        raise InvalidInputError(
            "--rules",
            "holds a local ruleset run for every patient, whose results screen-spark does not "
            "collect yet: use opioidcds screen, or keep only extensions in the folder",
        )
    base = screen(
        empty_issues, empty_patients, as_of=as_of, knowledge=kb, profile=profile, method=meth
    )
    out_types, worklist_cols = _out_types(base)
    out_schema = ", ".join(f"`{n}` {t}" for n, t in out_types)
    job = _Job(issue_cols, patient_cols, as_of, profile, meth, out_types, folder)
    result = combined.mapInArrow(partial(_screen_batches, job=job), out_schema).persist(
        StorageLevel.MEMORY_AND_DISK
    )
    persisted.append(result)
    counts = {k: int(v) for k, v in base.counts.items()}
    for rec in result.filter(_kind(_KIND_COUNT)).groupBy("_count_key").sum("_count").collect():
        counts[str(rec[0])] = counts.get(str(rec[0]), 0) + int(rec[1])
    order = _order(meth)
    ranked = result.filter(_kind(_KIND_ROW)).withColumn(
        "rank",
        F.when(
            F.col("_listed"),
            F.sum(F.col("_listed").cast("long")).over(
                Window.orderBy(*order).rowsBetween(Window.unboundedPreceding, Window.currentRow)
            ),
        ),
    )
    worklist = ranked.orderBy(*order).select(*[F.col(f"`{c}`") for c in worklist_cols])
    problems = result.filter(_kind(_KIND_PROBLEM)).select(
        F.col("_file").alias("file"), F.col("_prow").alias("row"), F.col("_reason").alias("reason")
    )
    return SparkScreening(
        as_of=as_of,
        worklist=worklist,
        problems=problems,
        counts=counts,
        versions=dict(base.versions),
        method=meth,
        factor_labels=dict(base.factor_labels),
        provenance=base.provenance,  # the same knowledge, profile and method as every partition
        partitions=n_parts,
        _result=result,
        _order=order,
        _persisted=tuple(persisted),
    )
