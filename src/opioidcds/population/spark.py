"""Population screening through PySpark (optional extra ``spark``): the same per-patient screen.

For extracts that outgrow one machine (NHS analytics platforms run Spark). The rows are
hash-partitioned by a key of the patient id (its letters and digits only: ids equal once
stripped, as :mod:`opioidcds.population.schema` compares them, share the key) so that every
row :func:`~opioidcds.population.screen` could relate (one patient's issues, their
duplicates, their patient-table rows) lands in one partition. Each partition is sorted back
into read order and screened by the public :func:`~opioidcds.population.screen`
(``mapInArrow``, Polars inside); the results are merged: the worklist is sorted and ranked
across partitions exactly as the single-machine engine sorts it (band, then the method's
``order_within_band`` keys largest first, then patient id).

Whole-extract steps, done once and never per partition:

* ``as_of``: the given date, or else the latest issue date among the rows that pass the
  schema checks (what :func:`screen` uses): the latest date among the distinct issue-date
  texts (collected when the input is counted), confirmed by the partitions as they screen
  (if no row of it passes, earlier dates are checked and the partitions screened again).
* The input: counted (file splits, malformed rows) in one pass as read, not persisted; the
  screening reads, shuffles and screens it in one pass.
* Row numbers: every row keeps where it was read (file, split, position); the extract's row
  numbers (1-based; a folder of files in file-path order) and the row within its own file are
  computed from those, so a problem row can be traced to its source row.
* Required columns and malformed CSV rows: checked before any screening.
* Duplicate rows and duplicate patient-table ids: all copies share a patient id, so they meet
  in one partition, where :func:`screen` finds them in row order.
* Counts: summed over partitions (each is a count of patients or rows).
* Knowledge: every partition reports the hash of the knowledge it loaded
  (:mod:`opioidcds.population.spark_knowledge`); any difference from the driver's fails the job.
* Rank: never in one partition. The worklist is cut into ranges of its order (fixed bounds
  from a seeded sample of the sort keys), each range counts its listed rows, and ranks are
  offset by the counts of the ranges before it; whole ranges are placed in partitions in
  order and sorted there, so the worklist comes out in order without a global sort.

The partition side is in :mod:`opioidcds.population.spark_partition`, the reading side in
:mod:`opioidcds.population.spark_read`. See ``docs/population.md`` ("Spark").
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Final

import polars as pl

from opioidcds._decide.patient_facts import local_rulesets
from opioidcds._errors import InvalidInputError, OpioidCDSError
from opioidcds._knowledge.provenance import Provenance
from opioidcds.population.engine import Screening, screen
from opioidcds.population.method import ScreeningMethod, default_method
from opioidcds.population.outcomes import Outcomes, compare
from opioidcds.population.report import worklist_frame
from opioidcds.population.rows import ROW_SCHEMA
from opioidcds.population.schema import (
    RowProblem,
)
from opioidcds.population.spark_knowledge import (
    KnowledgeMismatchError,
    check_partition_hashes,
    job_knowledge_hash,
)
from opioidcds.population.spark_partition import (
    _BASE,
    _COUNT,
    _IN_WORKLIST,
    _ISSUE_PREFIX,
    _KNOWLEDGE,
    _PATIENT_PREFIX,
    _PRACTICE,
    _PROBLEM,
    _ROW,
    _TABLE_ONLY,
    _TABLE_PREFIX,
    _Job,
    _latest_batches,
    _screen_batches,
    local_knowledge,
)
from opioidcds.population.spark_read import (
    _Block,
    _blocks,
    _csv_spans,
    _file_scan,
    _first_bad,
    _is_csv,
    _offsets,
    _parsed_as_csv,
    _read,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from opioidcds._decide.knowledge import Knowledge
    from opioidcds._decide.rules import Profile

__all__ = [
    "DEFAULT_MAX_PARTITION_ROWS",
    "KnowledgeMismatchError",
    "PartitionCost",
    "SparkFrames",
    "SparkScreening",
    "SparkUnavailableError",
    "local_session",
    "require_spark",
    "screen_spark",
    "screen_spark_frames",
]

# Input rows per patient partition (issue and patient-table rows together). A partition is
# screened in one Python worker, which holds it whole: about 1.6 kB of worker memory a row was
# measured (issue 22: 1.1 GB for 685,000 rows), so 200,000 rows bound a worker near 0.35 GB.
DEFAULT_MAX_PARTITION_ROWS: Final = 200_000
_LOG: Final = logging.getLogger(__name__)
_MIN_JAVA: Final = 17  # Spark 4 runs on Java 17 or 21
_NOT_ID: Final = r"[^\p{L}\p{N}]"  # Java regex: any character but a letter or a digit


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
    """A Spark session on this machine, or the active session, unchanged, if one is running.

    A new session: ``PYSPARK_PYTHON`` is set to this interpreter when it is unset (so Spark's
    Python workers import the same installation of opioidcds); it binds to loopback, has no web
    UI, uses UTC as its session time zone and as many shuffle partitions as cores, then
    ``config``. An active session is returned as it is: none of its settings (shuffle
    partitions, time zone, ``config``) is changed; the screening sets what it needs per job.

    Raises:
        SparkUnavailableError: see :func:`require_spark`.
    """
    require_spark()
    import sys  # noqa: PLC0415

    from pyspark.sql import SparkSession  # noqa: PLC0415 - optional extra

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
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
class PartitionCost:
    """What one patient partition cost its Python worker.

    ``rows``: input rows (issue and patient-table); ``seconds``: wall time of its screening(s);
    ``worker_peak_mb``: the worker process's peak resident memory so far (a worker may be
    reused for several partitions, so it is an upper bound for this one).
    """

    partition: int
    rows: int
    seconds: float
    worker_peak_mb: float


@dataclass(frozen=True)
class _Report:
    """What the partitions reported, collected in one pass: a few rows per partition."""

    hashes: Mapping[int, str]  # partition: the hash of the knowledge it screened with
    usable: bool  # some partition has a row of the checked date that passes
    costs: tuple[PartitionCost, ...]
    counts: Mapping[str, int]  # summed over partitions
    rows: int  # worklist rows (patients) in all


@dataclass(frozen=True)
class SparkFrames:
    """The lazy results of :func:`screen_spark_frames`: nothing here has been collected.

    ``worklist``: exactly the columns of the single-machine worklist file, global ``rank``,
    sorted in worklist order (write it with ``worklist.write``). ``problems``: ``file``
    (``"issues"``/``"patients"``), ``row`` (the extract's 1-based row number; a folder of files
    counts its files in path order), ``reason``, ``source`` (the file the row was read from;
    null for a DataFrame that is not a file scan) and ``source_row`` (the 1-based data row in
    that file; for a DataFrame, its row in Spark's partition order), sorted by file and row.
    ``counts``: ``key``, ``count`` (sum them per key: :attr:`SparkScreening.counts` does).
    ``knowledge``: ``partition``, ``knowledge_hash``, ``rows``, ``seconds``,
    ``worker_peak_mb``: one row per partition screened, already checked to equal
    ``knowledge_hash`` (the driver's; see :mod:`opioidcds.population.spark_knowledge`).
    ``result`` is the persisted per-partition output they are all computed from: call
    :meth:`unpersist` when done.
    """

    as_of: dt.date | None
    baseline: dt.date | None
    worklist: DataFrame
    problems: DataFrame
    counts: DataFrame
    knowledge: DataFrame
    knowledge_hash: str
    versions: Mapping[str, str]
    method: ScreeningMethod
    profile: Profile | None
    factor_labels: Mapping[str, str]
    provenance: Provenance
    capacity: int | None
    partitions: int
    result: DataFrame
    _ordered: DataFrame
    _offsets: DataFrame
    _count_keys: tuple[str, ...]
    _persisted: tuple[DataFrame, ...]
    _report: _Report

    def unpersist(self) -> None:
        """Release the persisted results: the partition output (and non-file inputs as read)."""
        for frame in self._persisted:
            frame.unpersist()


@dataclass(frozen=True)
class SparkScreening:
    """The result of :func:`screen_spark`.

    ``worklist`` is a Spark DataFrame with exactly the columns of the single-machine worklist
    file (``rank`` global), sorted in worklist order; ``problems`` has ``file``, ``row`` (the
    extract's row numbers), ``reason``, ``source`` and ``source_row`` (see
    :class:`SparkFrames`). ``counts`` are summed; ``partition_costs`` say what each partition
    cost. Both frames are computed from a persisted result: call :meth:`unpersist` when done.
    :meth:`to_screening` collects everything into the driver as a
    :class:`~opioidcds.population.Screening` (for the report), which needs the driver's
    memory; :meth:`outcomes` (with ``baseline``) too.
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
    knowledge_hash: str
    partition_costs: tuple[PartitionCost, ...]
    frames: SparkFrames

    def to_screening(self) -> Screening:
        """Collect into a :class:`Screening` (rows in worklist order; ``engine="spark"``)."""
        return _collected(self.frames, self.as_of, "", dict(self.counts))

    def outcomes(self) -> tuple[Screening, Outcomes]:
        """The follow-up screening and the outcomes against the baseline date (collected).

        As :func:`~opioidcds.population.outcomes`: each partition screened its patients at
        both dates; practices are each patient's latest issue up to the follow-up date.

        Raises:
            InvalidInputError: the job was run without ``baseline``, or the extract has no
                usable issue (nothing to compare).
        """
        fr = self.frames
        if fr.baseline is None:
            raise InvalidInputError("baseline", "was not given to screen_spark: no outcomes")
        if self.as_of is None:
            raise InvalidInputError("issues", "no usable issue: nothing to compare")
        later = self.to_screening()
        base_counts = _summed(fr.result, _BASE + _COUNT, fr._count_keys)
        earlier = _collected(fr, fr.baseline, _BASE, base_counts)
        practices = {
            str(r["patient_id"]): str(r["_practice"])
            for r in fr.result.filter(_kind(_PRACTICE)).select("patient_id", "_practice").collect()
        }
        found = compare(earlier, later, practices=practices, profile=fr.profile)
        return later, found

    def unpersist(self) -> None:
        """Release the cached intermediate results."""
        self.frames.unpersist()


def _kind(kind: str) -> Column:
    from pyspark.sql import functions as F  # noqa: N812, PLC0415

    return F.col("_kind") == F.lit(kind)


def _summed(result: DataFrame, kind: str, keys: Iterable[str]) -> dict[str, int]:
    """The counts of one phase summed over partitions, on top of ``keys`` (all zero)."""
    counts = dict.fromkeys(keys, 0)
    got = result.filter(_kind(kind)).groupBy("_count_key").sum("_count").collect()
    for rec in got:
        counts[str(rec[0])] = counts.get(str(rec[0]), 0) + int(rec[1])
    return counts


def _collected(
    frames: SparkFrames, as_of: dt.date | None, phase: str, counts: dict[str, int]
) -> Screening:
    """One phase's rows (worklist order), problems and counts as a driver-side Screening."""
    from pyspark.sql import functions as F  # noqa: N812, PLC0415

    names = list(ROW_SCHEMA)
    mine = frames.result.filter(_kind(phase + _ROW)).orderBy("_sort")
    rows = mine if phase else frames._ordered
    picked = rows.select(
        *[F.col(n if n in _IN_WORKLIST else _TABLE_PREFIX + n).alias(n) for n in names]
    )
    table = pl.from_arrow(picked.toArrow())
    if not isinstance(table, pl.DataFrame):  # pragma: no cover - a table is a frame
        raise InvalidInputError("spark result", "is not a table")
    table = table.cast(ROW_SCHEMA)  # type: ignore[arg-type]
    problems = tuple(
        RowProblem(str(rec["file"]), int(rec["row"]), str(rec["reason"]))
        for rec in _problems(frames.result, frames._offsets, phase + _PROBLEM).collect()
    )
    return Screening(
        as_of=as_of,
        table=table,
        problems=problems,
        counts=counts,
        versions=dict(frames.versions),
        method=frames.method,
        engine="spark",
        provenance=frames.provenance,
        factor_labels=dict(frames.factor_labels),
        capacity=frames.capacity,
    )


def _problems(result: DataFrame, offsets: DataFrame, kind: str) -> DataFrame:
    """Problem rows of ``kind`` with the extract's and the source file's row numbers."""
    from pyspark.sql import functions as F  # noqa: N812, PLC0415

    found = result.filter(_kind(kind))
    on = (
        (F.col("_file") == F.col("_okind"))
        & F.col("_psrc").eqNullSafe(F.col("_osrc"))
        & (F.col("_pblock") == F.col("_oblock"))
    )
    at = F.col("_pmid") - F.col("_ofirst") + F.lit(1)
    return (
        found.join(F.broadcast(offsets), on=on, how="left")
        .select(
            F.col("_file").alias("file"),
            (F.col("_orow") + at).alias("row"),
            F.col("_reason").alias("reason"),
            F.col("_osrc").alias("source"),
            (F.col("_osrow") + at).alias("source_row"),
        )
        .orderBy("file", "row")
    )


# --- the driver -------------------------------------------------------------------------------


def _combined(
    issues: DataFrame, patients: DataFrame | None, partitions: int
) -> tuple[DataFrame, tuple[str, ...], tuple[str, ...]]:
    """Issue and patient rows in one frame, keyed and partitioned by normalised patient id."""
    from pyspark.sql import functions as F  # noqa: N812, PLC0415

    where = ("_src", "_block", "_mid")
    helpers = (*where, "_bad")
    issue_cols = tuple(c for c in issues.columns if c not in helpers)
    patient_cols = tuple(c for c in patients.columns if c not in helpers) if patients else ()

    def keyed(frame: DataFrame) -> DataFrame:
        # Partition key: the id without any character that is not a letter or a digit. Ids
        # equal once stripped of white space (what the schema reader compares) have equal
        # keys, so every row screen() could relate meets in one partition; other ids that
        # share a key only share a partition.
        return frame.withColumn("_key", F.regexp_replace(F.col("patient_id"), _NOT_ID, ""))

    parts = [
        keyed(issues).select(
            F.lit("issue").alias("_kind"),
            "_key",
            *where,
            *[F.col(c).alias(_ISSUE_PREFIX + c) for c in issue_cols],
            *[F.lit(None).cast("string").alias(_PATIENT_PREFIX + c) for c in patient_cols],
        )
    ]
    if patients is not None:
        parts.append(
            keyed(patients).select(
                F.lit("patient").alias("_kind"),
                "_key",
                *where,
                *[F.lit(None).cast("string").alias(_ISSUE_PREFIX + c) for c in issue_cols],
                *[F.col(c).alias(_PATIENT_PREFIX + c) for c in patient_cols],
            )
        )
    combined = parts[0] if len(parts) == 1 else parts[0].unionByName(parts[1])
    return combined.repartition(partitions, "_key").drop("_key"), issue_cols, patient_cols


def _out_types(base: Screening) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """A partition's output columns and Spark types: the worklist file's, then helpers."""
    frame = worklist_frame(base)
    worklist = tuple((n, _spark_type(t)) for n, t in frame.schema.items())
    table = tuple(
        (_TABLE_PREFIX + n, _spark_type(t)) for n, t in ROW_SCHEMA.items() if n in _TABLE_ONLY
    )
    helpers = (
        ("_kind", "string"),
        ("_listed", "boolean"),
        ("_sort", "string"),
        ("_file", "string"),
        ("_psrc", "string"),
        ("_pblock", "long"),
        ("_pmid", "long"),
        ("_reason", "string"),
        ("_count_key", "string"),
        ("_count", "long"),
        ("_practice", "string"),
        ("_kpart", "long"),
        ("_khash", "string"),
        ("_krows", "long"),
        ("_kms", "long"),
        ("_kpeak", "long"),
        ("_kdate", "boolean"),
        ("_kout", "long"),
    )
    return (*worklist, *table, *helpers), tuple(frame.columns)


def _spark_type(dtype: pl.DataType) -> str:
    simple = ((pl.String, "string"), (pl.Int64, "long"), (pl.Boolean, "boolean"))
    for polars_type, name in simple:
        if dtype == polars_type:
            return name
    if dtype == pl.List(pl.String):
        return "array<string>"
    raise InvalidInputError("worklist column", "has a type the Spark runner does not map")


def _date_candidates(texts: Iterable[str | None]) -> list[tuple[dt.date, list[str]]]:
    """The dates of the distinct ``issue_date`` texts, latest first, each with its texts.

    Parsed on the driver as :func:`~opioidcds.population.schema.read_issues` parses them;
    texts that are not dates are left out.
    """
    parsed = pl.DataFrame({"text": list(texts)}, schema={"text": pl.String}).with_columns(
        pl.col("text")
        .str.strip_chars()
        .str.strptime(pl.Date, "%Y-%m-%d", strict=False)
        .alias("day")
    )
    return [
        (day, parsed.filter(pl.col("day") == day).get_column("text").to_list())
        for day in parsed.get_column("day").drop_nulls().unique().sort(descending=True).to_list()
    ]


def _latest_date(
    combined: DataFrame,
    issue_cols: tuple[str, ...],
    candidates: list[tuple[dt.date, list[str]]] | None,
) -> dt.date | None:
    """The latest issue date among the rows that pass the schema checks, checked date by date.

    ``candidates`` (:func:`_date_candidates`): latest first, only the rows with a text of
    that date are checked in the partitions (:func:`_latest_batches`), until a date has a row
    that passes. ``None`` (too many distinct texts to collect): every row, in one pass.
    """
    from pyspark.sql import functions as F  # noqa: N812, PLC0415

    issues = combined.filter(F.col("_kind") == "issue")
    column = F.col(_ISSUE_PREFIX + "issue_date")

    def latest_of(rows: DataFrame) -> dt.date | None:
        check = partial(_latest_batches, issue_cols=issue_cols)
        found = rows.mapInArrow(check, "latest date").agg(F.max("latest")).collect()[0][0]
        return found if isinstance(found, dt.date) else None

    if candidates is None:
        return latest_of(issues)
    for _, of_day in candidates:
        found = latest_of(issues.filter(column.isin(of_day)))
        if found is not None:
            return found
    return None


def _parallelism(spark: SparkSession) -> int:
    """The default parallelism (on Spark Connect, which has no SparkContext: shuffle partitions)."""
    try:
        return max(1, int(spark.sparkContext.defaultParallelism))
    except Exception:  # Spark Connect raises its own not-implemented error
        return max(1, int(spark.conf.get("spark.sql.shuffle.partitions") or 1))


_MAX_RANGES: Final = 200  # rank ranges at most (each row's range is a CASE over the bounds)
_SAMPLE_PER_RANGE: Final = 100


def _ranked(rows: DataFrame, ranges: int, n: int | None = None) -> DataFrame:
    """``rows`` with the global worklist ``rank``, in worklist order (``_sort``), in ranges.

    No step runs in one partition: a sample of the sort keys (fixed seed, collected) gives
    ``ranges`` ranges with fixed bounds; each range counts its listed rows (collected: one
    number a range); a row's rank is the listed rows of the ranges before its own plus its
    running count inside its range (a window per range). The rows are partitioned by range
    (in range order) and sorted within, once: the result is in worklist order, partition by
    partition, without a global sort. The bounds are literals, so every later action sees the
    same ranges.
    """
    from pyspark.sql import Window  # noqa: PLC0415
    from pyspark.sql import functions as F  # noqa: N812, PLC0415

    listed = F.col("_listed").cast("long")
    key = F.col("_sort")
    n = rows.count() if n is None else n
    ranges = max(1, min(ranges, _MAX_RANGES))
    fraction = min(1.0, _SAMPLE_PER_RANGE * ranges / max(n, 1))
    sample = sorted(
        str(r[0]) for r in rows.select(key).sample(fraction=fraction, seed=22).collect()
    )
    bounds = sorted(
        {sample[len(sample) * i // ranges] for i in range(1, ranges)} if sample else set()
    )

    def bucket(lo: int, hi: int) -> Column:
        # the range of ``key`` among ranges lo..hi (bounds[i] separates i from i + 1): the
        # number of bounds at or below it, found by halving (a few comparisons a row)
        if lo == hi:
            return F.lit(lo)
        mid = (lo + hi) // 2
        return F.when(key < F.lit(bounds[mid]), bucket(lo, mid)).otherwise(bucket(mid + 1, hi))

    bucketed = rows.drop("rank").withColumn("_range", bucket(0, len(bounds)))
    per = {
        int(r["_range"]): int(r["n"] or 0)
        for r in bucketed.groupBy("_range").agg(F.sum(listed).alias("n")).collect()
    }
    before, total = [], 0  # listed rows in the ranges before each range
    for at in range(len(bounds) + 1):
        before.append(total)
        total += per.get(at, 0)
    roff = F.element_at(F.array(*[F.lit(n).cast("long") for n in before]), F.col("_range") + 1)
    within = (
        Window.partitionBy("_range")
        .orderBy(key)
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    # One exchange: the rows go to partitions by range (ranges in order, a range never split)
    # and are sorted by range and key there, which both the window and the worklist order
    # need: no further shuffle, and the partitions, in order, hold the worklist in order.
    return (
        bucketed.repartitionByRange("_range")
        .sortWithinPartitions("_range", key)
        .withColumn("rank", F.when(F.col("_listed"), roff + F.sum(listed).over(within)))
    )


class _Clock:
    """Logs (DEBUG) the wall time of each step of a job: no data, only the step names."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        _LOG.debug("spark screening: %s took %.1f s", step, now - self.start)
        self.start = now


@dataclass(frozen=True)
class _Input:
    """The keyed, partitioned input (not persisted), its columns, splits and issue dates."""

    combined: DataFrame
    issue_cols: tuple[str, ...]
    patient_cols: tuple[str, ...]
    blocks: list[_Block]
    partitions: int
    dates: tuple[str | None, ...] | None  # distinct issue_date texts (None: too many)
    persisted: tuple[DataFrame, ...]  # inputs that are not file scans, persisted as read


def _prepared(
    spark: SparkSession,
    sources: Mapping[str, str | Path | DataFrame | None],
    partitions: int | None,
    max_partition_rows: int,
) -> _Input:
    """The inputs read, their splits counted (with the issue dates), bad rows refused.

    One pass over each input as read (:func:`_blocks`): no shuffle and nothing persisted,
    since a file scan reads the same rows, with the same positions, each time. A DataFrame
    that is not a file scan is persisted as read (its positions could differ between passes).
    The combined frame is keyed and partitioned by patient, lazily: the screening's own pass
    reads and shuffles it once.

    A CSV path is read line by line (splittable) when no quoted field spans lines; else, or
    when some row does not then have one field per column, as multi-line CSV; rows that are
    still malformed are refused.
    """
    from pyspark import StorageLevel  # noqa: PLC0415
    from pyspark.sql import DataFrame as SparkFrame  # noqa: PLC0415

    multi_line: dict[str, bool] = {}
    for what, source in sources.items():
        if source is not None and _is_csv(source) and Path(source).exists():  # type: ignore[arg-type]
            multi_line[what] = _csv_spans(spark, source)  # type: ignore[arg-type]
    while True:
        frames: dict[str, DataFrame] = {}
        persisted: list[DataFrame] = []
        for what, source in sources.items():
            if source is None:
                continue
            frame = _read(spark, source, what, multi_line=multi_line.get(what, False))
            if isinstance(source, SparkFrame) and not _file_scan(source):
                frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
                persisted.append(frame)
            frames[what] = frame
        try:
            stats = {
                what: _blocks(
                    frame,
                    what,
                    dates=what == "issues",
                    csv=_parsed_as_csv(sources[what]),  # type: ignore[arg-type]
                )
                for what, frame in frames.items()
            }
        except BaseException:
            for frame in persisted:
                frame.unpersist()
            raise
        blocks = [b for found in stats.values() for b in found.blocks]
        bad = {what: _first_bad(blocks, what) for what in frames}
        if not any(bad.values()):
            n_parts = partitions
            if n_parts is None:
                n_rows = sum(found.rows for found in stats.values())
                n_parts = max(_parallelism(spark), math.ceil(n_rows / max_partition_rows))
            combined, issue_cols, patient_cols = _combined(
                frames["issues"], frames.get("patients"), n_parts
            )
            return _Input(
                combined,
                issue_cols,
                patient_cols,
                blocks,
                n_parts,
                stats["issues"].dates,
                tuple(persisted),
            )
        for frame in persisted:
            frame.unpersist()
        retry = [w for w, b in bad.items() if b and w in multi_line and not multi_line[w]]
        if not retry:
            what, found = next((w, b) for w, b in bad.items() if b is not None)
            raise InvalidInputError(
                what,
                f"{found[0]} row(s) do not have one field per column (first: data row {found[1]})",
            )
        multi_line.update(dict.fromkeys(retry, True))


def _offsets_frame(
    spark: SparkSession, offsets: list[tuple[str, str | None, int, int, int, int]]
) -> DataFrame:
    """The splits' row offsets as a small DataFrame, sent as Arrow (no Python worker needed)."""
    import pyarrow as pa  # noqa: PLC0415 - optional extra

    names = ("_okind", "_osrc", "_oblock", "_ofirst", "_orow", "_osrow")
    types = (pa.string(), pa.string(), pa.int64(), pa.int64(), pa.int64(), pa.int64())
    rows = offsets or [("issues", None, 0, 0, 0, 0)]
    columns = [pa.array([r[i] for r in rows], t) for i, t in enumerate(types)]
    return spark.createDataFrame(pa.table(columns, names=list(names)))


def _screened(
    got: _Input,
    as_of: dt.date | None,
    check: dt.date | None,
    *,
    knowledge: Knowledge | None,
    profile: Profile | None,
    method: ScreeningMethod,
    baseline: dt.date | None,
    capacity: int | None,
    local_rules: str | None,
) -> tuple[Screening, str, tuple[str, ...], DataFrame]:
    """The partitions screened at ``as_of`` (persisted, not yet computed).

    Returns the driver's screening of nothing (versions, provenance, counts' keys), its
    knowledge hash, the worklist file's columns and the persisted partition output. With
    ``check``, each partition also reports whether a row of that date passes (``_kdate``).

    Raises:
        InvalidInputError: ``baseline`` is not before ``as_of``.
    """
    from pyspark import StorageLevel  # noqa: PLC0415

    if baseline is not None and as_of is not None and baseline >= as_of:
        raise InvalidInputError("baseline", "must be before the follow-up date")
    empty_issues = pl.DataFrame(schema=dict.fromkeys(got.issue_cols, pl.String))
    empty_patients = (
        pl.DataFrame(schema=dict.fromkeys(got.patient_cols, pl.String))
        if got.patient_cols
        else None
    )
    base = screen(
        empty_issues,
        empty_patients,
        as_of=as_of,
        knowledge=knowledge,
        profile=profile,
        method=method,
        capacity=capacity,
    )
    knowledge_hash = job_knowledge_hash(base.provenance)
    out_types, worklist_cols = _out_types(base)
    out_schema = ", ".join(f"`{n}` {t}" for n, t in out_types)
    job = _Job(
        got.issue_cols,
        got.patient_cols,
        as_of,
        baseline,
        profile,
        method,
        out_types,
        knowledge_hash,
        local_rules,
        check,
    )
    result = got.combined.mapInArrow(partial(_screen_batches, job=job), out_schema)
    return base, knowledge_hash, worklist_cols, result.persist(StorageLevel.MEMORY_AND_DISK)


def _reported(result: DataFrame) -> _Report:
    """Each partition's knowledge hash, date check, cost and counts (one pass, collected)."""
    from pyspark.sql import functions as F  # noqa: N812, PLC0415

    rows = (
        result.filter(F.col("_kind").isin(_KNOWLEDGE, _COUNT))
        .select(
            "_kind",
            "_kpart",
            "_khash",
            "_kdate",
            "_krows",
            "_kms",
            "_kpeak",
            "_kout",
            "_count_key",
            "_count",
        )
        .collect()
    )
    knowledge = sorted((r for r in rows if r["_kind"] == _KNOWLEDGE), key=lambda r: r["_kpart"])
    counts: dict[str, int] = {}
    for r in rows:
        if r["_kind"] == _COUNT:
            counts[str(r["_count_key"])] = counts.get(str(r["_count_key"]), 0) + int(r["_count"])
    return _Report(
        hashes={int(r["_kpart"]): str(r["_khash"]) for r in knowledge},
        usable=any(bool(r["_kdate"]) for r in knowledge),
        costs=tuple(
            PartitionCost(
                int(r["_kpart"]), int(r["_krows"]), r["_kms"] / 1000.0, r["_kpeak"] / 1024.0
            )
            for r in knowledge
        ),
        counts=counts,
        rows=sum(int(r["_kout"] or 0) for r in knowledge),
    )


def screen_spark_frames(
    spark: SparkSession,
    issues: str | Path | DataFrame,
    patients: str | Path | DataFrame | None = None,
    *,
    as_of: dt.date | None = None,
    profile: Profile | None = None,
    method: ScreeningMethod | None = None,
    partitions: int | None = None,
    max_partition_rows: int = DEFAULT_MAX_PARTITION_ROWS,
    baseline: dt.date | None = None,
    capacity: int | None = None,
    local_rules: str | Path | None = None,
) -> SparkFrames:
    """Screen with Spark up to the result DataFrames, collecting no patient's row.

    What :func:`screen_spark` does, for writing the worklist, problems and counts with Spark
    (``frames.worklist.write.parquet(...)``). The driver collects only small figures: per file
    split (row counts) and distinct issue-date text, per partition (its knowledge hash, cost,
    counts and whether a row of the latest date passes) and per rank range (its listed rows).
    The knowledge of every partition has been checked when this returns.

    Args:
        spark: the session (e.g. :func:`local_session`, or the platform's own).
        issues: CSV/Parquet path (every column read as text) or a Spark DataFrame.
        patients: the optional patient table (same forms).
        as_of: the screening date; default: the latest issue date over the whole extract
            among rows that pass the schema checks (computed once, before screening).
        profile: a local profile (thresholds), as for :func:`screen`.
        method: the screening method (default: the bundled one).
        partitions: number of patient partitions (default: enough that none holds more than
            about ``max_partition_rows`` input rows, and at least the default parallelism).
        max_partition_rows: input rows a partition should hold at most (the memory of one
            Python worker grows with it; default :data:`DEFAULT_MAX_PARTITION_ROWS`).
        baseline: also screen every partition at this earlier date, for
            :meth:`SparkScreening.outcomes` (as ``opioidcds screen --baseline``).
        capacity: people the practice can contact in a week (the report's list), as
            :func:`screen`.
        local_rules: a folder of local extensions (``--rules DIR``, issue 23), read by every
            executor (so the folder must be at the same path there; the knowledge check fails
            the job otherwise); a local ruleset run for every patient is refused here (its
            per-patient results are collected by :func:`screen` only).

    Returns:
        A :class:`SparkFrames`; call its ``unpersist`` when done.

    Raises:
        InvalidInputError: a file cannot be read, lacks required columns (named) or has rows
            with the wrong number of fields; ``baseline`` is not before the screening date;
            a setting is out of range.
        KnowledgeMismatchError: a partition screened with other knowledge than the driver's.
    """
    from pyspark.sql import functions as F  # noqa: N812, PLC0415

    if isinstance(max_partition_rows, bool) or max_partition_rows < 1:
        raise InvalidInputError("max_partition_rows", "must be at least 1")
    if partitions is not None and partitions < 1:
        raise InvalidInputError("partitions", "must be at least 1")
    meth = method if method is not None else default_method()
    folder = str(Path(local_rules).resolve()) if local_rules is not None else None
    kb = local_knowledge(folder)
    if kb is not None and local_rulesets(kb):
        raise InvalidInputError(
            "--rules",
            "holds a local ruleset run for every patient, whose results screen-spark does not "
            "collect yet: use opioidcds screen, or keep only extensions in the folder",
        )
    clock = _Clock()
    got = _prepared(spark, {"issues": issues, "patients": patients}, partitions, max_partition_rows)
    clock.lap("read and count the splits")
    persisted: list[DataFrame] = list(got.persisted)
    screened = partial(
        _screened,
        got,
        knowledge=kb,
        profile=profile,
        method=meth,
        baseline=baseline,
        capacity=capacity,
        local_rules=folder,
    )
    try:
        candidates = _date_candidates(got.dates) if got.dates is not None else None
        check = None
        if as_of is None and candidates is None:  # too many distinct texts: every row checked
            as_of = _latest_date(got.combined, got.issue_cols, None)
            clock.lap("as_of")
        elif as_of is None and candidates:
            as_of = check = candidates[0][0]  # checked by the partitions as they screen
        base, knowledge_hash, worklist_cols, result = screened(as_of, check)
        persisted.append(result)
        reported = _reported(result)
        clock.lap("screening")
        check_partition_hashes(knowledge_hash, reported.hashes)
        if check is not None and not reported.usable:
            # no row of the latest date passes: the earlier dates, checked one by one
            result.unpersist()
            persisted.remove(result)
            as_of = _latest_date(got.combined, got.issue_cols, (candidates or [])[1:])
            clock.lap("as_of")
            base, knowledge_hash, worklist_cols, result = screened(as_of, None)
            persisted.append(result)
            reported = _reported(result)
            clock.lap("screening at the earlier date")
            check_partition_hashes(knowledge_hash, reported.hashes)
        ordered = _ranked(result.filter(_kind(_ROW)), got.partitions, reported.rows)
        clock.lap("rank ranges")
    except BaseException:
        for frame in persisted:
            frame.unpersist()
        raise
    knowledge = result.filter(_kind(_KNOWLEDGE)).select(
        F.col("_kpart").alias("partition"),
        F.col("_khash").alias("knowledge_hash"),
        F.col("_krows").alias("rows"),
        (F.col("_kms") / F.lit(1000.0)).alias("seconds"),
        (F.col("_kpeak") / F.lit(1024.0)).alias("worker_peak_mb"),
    )
    offsets = _offsets_frame(spark, _offsets(got.blocks))
    return SparkFrames(
        as_of=as_of,
        baseline=baseline,
        worklist=ordered.select(*[F.col(f"`{c}`") for c in worklist_cols]),
        problems=_problems(result, offsets, _PROBLEM),
        counts=result.filter(_kind(_COUNT)).select(
            F.col("_count_key").alias("key"), F.col("_count").alias("count")
        ),
        knowledge=knowledge,
        knowledge_hash=knowledge_hash,
        versions=dict(base.versions),
        method=meth,
        profile=profile,
        factor_labels=dict(base.factor_labels),
        provenance=base.provenance,  # checked: the same knowledge as every partition's
        capacity=capacity,
        partitions=got.partitions,
        result=result,
        _ordered=ordered,
        _offsets=offsets,
        _count_keys=tuple(base.counts),
        _persisted=tuple(persisted),
        _report=reported,
    )


def screen_spark(
    spark: SparkSession,
    issues: str | Path | DataFrame,
    patients: str | Path | DataFrame | None = None,
    *,
    as_of: dt.date | None = None,
    profile: Profile | None = None,
    method: ScreeningMethod | None = None,
    partitions: int | None = None,
    max_partition_rows: int = DEFAULT_MAX_PARTITION_ROWS,
    baseline: dt.date | None = None,
    capacity: int | None = None,
    local_rules: str | Path | None = None,
) -> SparkScreening:
    """Screen an issue extract with Spark: the same rows as :func:`screen` on one machine.

    :func:`screen_spark_frames`, then the counts summed and the partition costs collected (a
    few numbers; no patient's row). Arguments as there.

    Returns:
        A :class:`SparkScreening` (counts computed; worklist and problems as DataFrames).

    Raises:
        InvalidInputError: as :func:`screen_spark_frames`.
        KnowledgeMismatchError: a partition screened with other knowledge than the driver's.
    """
    frames = screen_spark_frames(
        spark,
        issues,
        patients,
        as_of=as_of,
        profile=profile,
        method=method,
        partitions=partitions,
        max_partition_rows=max_partition_rows,
        baseline=baseline,
        capacity=capacity,
        local_rules=local_rules,
    )
    counts = dict.fromkeys(frames._count_keys, 0)
    for key, n in frames._report.counts.items():
        counts[key] = counts.get(key, 0) + n
    costs = frames._report.costs
    return SparkScreening(
        as_of=frames.as_of,
        worklist=frames.worklist,
        problems=frames.problems,
        counts=counts,
        versions=frames.versions,
        method=frames.method,
        factor_labels=frames.factor_labels,
        provenance=frames.provenance,
        partitions=frames.partitions,
        knowledge_hash=frames.knowledge_hash,
        partition_costs=costs,
        frames=frames,
    )
