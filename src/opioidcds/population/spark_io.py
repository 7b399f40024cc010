"""The outside of the Spark runner (extra ``spark``): sessions, sources and outputs on a cluster.

:func:`~opioidcds.population.spark.screen_spark` screens; this module gets it a session and
its inputs, and writes its results back where a lakehouse keeps them, without collecting the
rows into the driver:

* :func:`cluster_session`: a session for a master URL (``local[*]``, ``spark://``, ``yarn``,
  ``k8s://``), a Spark Connect URL (``sc://``), the session ``spark-submit`` launched this
  process with, or the one already running; cluster settings (``--conf``) passed through.
  Only a local master binds to loopback.
* :func:`parse_source` / :func:`read_source`: one clear notation for every input. A local path
  or a URI (``file://``, ``s3a://``, ``abfss://``, ``gs://``, ``hdfs://``, ``dbfs:/``) is CSV or
  Parquet by its suffix, as ``screen`` reads it; a prefix says otherwise: ``table:NAME`` (a
  catalogue table or view, ``spark.table``), ``delta:URI`` (a Delta table's folder; needs
  Delta Lake on the cluster), ``parquet:URI`` and ``csv:URI`` (a folder without a suffix).
* :func:`write_spark_outputs`: the worklist, the problems, the summary and the provenance as
  Parquet (or Delta) folders under a URI, or as tables ``PREFIX_worklist`` and so on. The
  worklist and problem rows are written by the executors; only the one-row summary and the
  provenance (one row per knowledge source) are built in the driver.
* :func:`is_connect`: whether a session is a Spark Connect session (Databricks serverless,
  shared clusters, Databricks Connect), which has no ``sparkContext`` and no RDDs.

Nothing here logs or raises with a value of the data: messages name the option and the rule.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal, TypeVar

from opioidcds._errors import InvalidInputError
from opioidcds.population.engine import Screening
from opioidcds.population.report import summary_dict
from opioidcds.population.rows import rows_table
from opioidcds.population.spark import (
    SparkScreening,
    SparkUnavailableError,
    local_session,
    require_spark,
)
from opioidcds.population.synthetic import SYNTHETIC_MARK

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = [
    "OUTPUT_NAMES",
    "OutputTarget",
    "Source",
    "SourceKind",
    "cluster_session",
    "default_partitions",
    "is_connect",
    "marked_synthetic_spark",
    "parse_output",
    "parse_source",
    "read_source",
    "spark_summary",
    "summary_screening",
    "write_spark_outputs",
]

SourceKind = Literal["csv", "parquet", "delta", "table"]
OUTPUT_NAMES: Final = ("worklist", "problems", "summary", "provenance")
"""The outputs written by :func:`write_spark_outputs`, in this order (folder or table suffix)."""

_PREFIXES: Final[tuple[SourceKind, ...]] = ("table", "delta", "parquet", "csv")
# a URI scheme of two letters or more ("C:\\..." is a Windows drive, not a scheme)
_URI: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:/")
_TABLE_NAME: Final = re.compile(r"^[A-Za-z_][\w$]*(\.[A-Za-z_][\w$]*){0,2}$|^(`[^`]+`\.?){1,3}$")
_CSV_OPTIONS: Final = {"header": "true", "multiLine": "true", "escape": '"', "encoding": "UTF-8"}
_CORRUPT: Final = "_corrupt_record"  # the column spark.screen_spark refuses rows by
_T = TypeVar("_T")
# set when spark-submit (or a Databricks runtime) started this Python: its session is the one
_PLATFORM_LAUNCHED: Final = ("PYSPARK_GATEWAY_PORT", "DATABRICKS_RUNTIME_VERSION")


# --- sessions ---------------------------------------------------------------------------------


def is_connect(spark: SparkSession) -> bool:
    """Whether ``spark`` is a Spark Connect session (``pyspark.sql.connect``): no sparkContext."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def default_partitions(spark: SparkSession) -> int:
    """The session's default parallelism, read without ``sparkContext`` under Spark Connect.

    Classic sessions: ``sparkContext.defaultParallelism``. Connect sessions have no
    ``sparkContext``: ``spark.default.parallelism`` if the server sets it, else
    ``spark.sql.shuffle.partitions`` (the partitions of any shuffle in that session).
    """
    if not is_connect(spark):
        return max(1, spark.sparkContext.defaultParallelism)
    for key in ("spark.default.parallelism", "spark.sql.shuffle.partitions"):
        value = spark.conf.get(key, None)
        if value is not None and str(value).isdigit() and int(value) > 0:
            return int(value)
    return 1


def _parse_conf(pairs: Sequence[str]) -> dict[str, str]:
    conf: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(
                "--conf", "must be key=value (for example spark.executor.cores=4)"
            )
        conf[key.strip()] = value
    return conf


def cluster_session(
    master: str | None = None,
    *,
    remote: str | None = None,
    conf: Sequence[str] | Mapping[str, str] = (),
) -> SparkSession:
    """A Spark session for the command line, honouring whatever launched this process.

    In this order: ``remote`` (or the environment's ``SPARK_REMOTE``): a Spark Connect
    session (``sc://host:port``; ``local[N]`` starts a Connect server in this process). A
    session already running in this process: used as it is (``conf`` must then be empty:
    a running session's static settings cannot change). Launched by ``spark-submit``
    (``PYSPARK_GATEWAY_PORT`` set) or a Databricks runtime (``DATABRICKS_RUNTIME_VERSION``)
    with no ``master``: that platform's session, with its master and settings, plus
    ``conf``. Otherwise ``master`` (default ``local[*]``): a local master through
    :func:`~opioidcds.population.spark.local_session` (loopback only, this interpreter for
    the workers); any other master (``spark://``, ``yarn``, ``k8s://``) as given, binding
    wherever the cluster's settings say. Executors must have the same opioidcds installed
    (set ``spark.pyspark.python`` with ``--conf`` where their Python differs).

    Args:
        master: the master URL, or ``None`` for the default described above.
        remote: a Spark Connect URL.
        conf: ``key=value`` strings (``--conf``) or a mapping of Spark settings.

    Raises:
        SparkUnavailableError: pyspark or Java is missing (:func:`require_spark`).
        InvalidInputError: a ``conf`` entry is not ``key=value``; ``conf`` given while a
            session is already running; ``master`` and ``remote`` both given.
    """
    settings = dict(conf) if isinstance(conf, Mapping) else _parse_conf(conf)
    connect = remote or os.environ.get("SPARK_REMOTE")
    if connect and master:
        raise InvalidInputError("--master", "cannot be combined with a Spark Connect --remote")
    if connect:
        missing = _connect_missing()
        if missing is not None:
            raise SparkUnavailableError(missing)
    else:
        require_spark()
    from pyspark.sql import SparkSession  # noqa: PLC0415 - optional extra

    if connect:
        builder = SparkSession.builder.remote(connect)
        for key, value in settings.items():
            builder = builder.config(key, value)
        return builder.getOrCreate()
    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        if settings:
            raise InvalidInputError(
                "--conf", "cannot change the Spark session already running: set it where it starts"
            )
        return active
    if master is None and any(os.environ.get(k) for k in _PLATFORM_LAUNCHED):
        builder = SparkSession.builder.appName("opioidcds-screen")
        for key, value in settings.items():
            builder = builder.config(key, value)
        return builder.getOrCreate()  # spark-submit's master and settings
    url = master or "local[*]"
    if url == "local" or url.startswith("local["):
        return local_session(url, config=settings)
    builder = SparkSession.builder.master(url).appName("opioidcds-screen")
    builder = builder.config("spark.sql.session.timeZone", "UTC")
    for key, value in settings.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def _connect_missing() -> str | None:
    from importlib.util import find_spec  # noqa: PLC0415

    if find_spec("pyspark") is None or any(
        find_spec(m) is None for m in ("grpc", "grpc_status", "google.rpc", "zstandard")
    ):
        return (
            "Spark Connect needs pyspark's 'connect' extra: pip install 'opioidcds[spark-connect]'"
        )
    return None


# --- sources ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Source:
    """An input, parsed from its notation (:func:`parse_source`).

    ``kind`` is how it is read; ``location`` the path, URI or table name; ``local`` the local
    file for a plain path (read exactly as ``screen_spark`` reads a path), else ``None``.
    """

    kind: SourceKind
    location: str
    local: Path | None


def _kind_by_suffix(location: str) -> SourceKind:
    name = location.rstrip("/").rsplit("/", 1)[-1].lower()
    return "parquet" if name.endswith((".parquet", ".pq")) else "csv"


def parse_source(text: str | Path, what: str = "issues") -> Source:
    """Parse an input's notation: a path, a URI, or ``table:``/``delta:``/``parquet:``/``csv:``.

    Raises:
        InvalidInputError: an empty location, or a table name that is not ``name``,
            ``schema.name`` or ``catalog.schema.name`` (back-quoted parts allowed).
    """
    raw = str(text).strip()
    kind: SourceKind | None = None
    location = raw
    for prefix in _PREFIXES:
        if raw.lower().startswith(prefix + ":") and not raw.lower().startswith(prefix + "://"):
            kind, location = prefix, raw[len(prefix) + 1 :].strip()
            break
    if not location:
        raise InvalidInputError(what, "is empty: give a path, a URI or table:NAME")
    if kind == "table":
        if not _TABLE_NAME.match(location):
            raise InvalidInputError(
                what, "table name must be name, schema.name or catalog.schema.name"
            )
        return Source("table", location, None)
    is_uri = bool(_URI.match(location))
    local = None if is_uri or kind is not None else Path(location)
    return Source(kind or _kind_by_suffix(location), location, local)


_NO_DELTA: Final = (
    "Delta tables need Delta Lake on the cluster (pip install delta-spark with its jars, or a "
    "Databricks runtime); use Parquet otherwise"
)
_NO_FILESYSTEM: Final = (
    "the cluster has no file system connector for this URI's scheme (s3a: hadoop-aws; "
    "abfss: hadoop-azure; gs: the GCS connector)"
)
# Spark's error conditions (and Hadoop's messages) -> the rule broken, in words
_READ_ERRORS: Final = (
    (("PATH_NOT_FOUND", "FileNotFoundException"), "no such file or folder: check the path or URI"),
    (("TABLE_OR_VIEW_NOT_FOUND",), "no such table or view: check its name"),
    (("UNABLE_TO_INFER_SCHEMA",), "is empty or not in the format its name says"),
    (
        ("ALREADY_EXISTS", "already exists"),
        "already exists: remove it, or pass --overwrite to replace it",
    ),
)


def _typed(what: str, exc: Exception) -> Exception | None:
    """The typed error for a failed Spark read or write (by Spark's error text), or ``None``."""
    text = str(exc)
    if "DATA_SOURCE_NOT_FOUND" in text and "delta" in text.lower():
        return SparkUnavailableError(f"{what}: {_NO_DELTA}")
    if "No FileSystem for scheme" in text or ("FileSystem" in text and "not found" in text):
        return SparkUnavailableError(f"{what}: {_NO_FILESYSTEM}")
    for markers, rule in _READ_ERRORS:
        if any(m in text for m in markers):
            return InvalidInputError(what, rule)
    return None


def _readable(what: str, action: Callable[[], _T]) -> _T:
    """Run a Spark read or write, turning the usual failures into typed errors naming ``what``."""
    try:
        return action()
    except Exception as exc:  # Py4J, captured and Connect errors share no base class
        typed = _typed(what, exc)
        if typed is None:
            raise
        raise typed from None


def _read_csv(spark: SparkSession, location: str) -> DataFrame:
    """Every column as text, malformed rows kept in ``_corrupt_record`` (refused by number)."""
    from pyspark.sql.types import StringType, StructField, StructType  # noqa: PLC0415

    header = spark.read.options(**_CSV_OPTIONS).csv(location).columns
    schema = StructType(
        [StructField(c, StringType()) for c in header] + [StructField(_CORRUPT, StringType())]
    )
    return (
        spark.read.options(**_CSV_OPTIONS, mode="PERMISSIVE", columnNameOfCorruptRecord=_CORRUPT)
        .schema(schema)
        .csv(location)
    )


def read_source(spark: SparkSession, source: Source, what: str = "issues") -> Path | DataFrame:
    """What to hand :func:`~opioidcds.population.spark.screen_spark` for ``source``.

    A local path is returned as it is (``screen_spark`` reads it: row numbers in the file's
    order, exactly as ``screen`` counts them). Anything else is read here into a DataFrame:
    CSV as text with malformed rows marked for refusal, Parquet, Delta, or a table.

    Raises:
        InvalidInputError: no such path, folder or table; an empty or unreadable source.
        SparkUnavailableError: Delta, or the URI's file system, is not installed on the cluster.
    """
    if source.local is not None:
        return source.local
    if source.kind == "table":
        frame = _readable(what, lambda: spark.table(source.location))
    elif source.kind == "delta":
        frame = _readable(what, lambda: spark.read.format("delta").load(source.location))
    elif source.kind == "parquet":
        frame = _readable(what, lambda: spark.read.parquet(source.location))
    else:
        frame = _readable(what, lambda: _read_csv(spark, source.location))
    _readable(what, lambda: frame.columns)  # analysed now (Connect analyses lazily)
    return frame


def marked_synthetic_spark(frame: DataFrame) -> bool:
    """:func:`~opioidcds.population.synthetic.marked_synthetic` for a Spark DataFrame.

    A ``synthetic`` column (case and spaces folded) with the mark on any row, computed by
    Spark (one row at most comes back).
    """
    from pyspark.sql import functions as F  # noqa: N812, PLC0415

    names = {c.strip().lower(): c for c in frame.columns}
    if "synthetic" not in names:
        return False
    mark = F.trim(F.col(f"`{names['synthetic']}`").cast("string")) == F.lit(SYNTHETIC_MARK)
    return len(frame.filter(mark).limit(1).collect()) > 0


# --- outputs ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutputTarget:
    """Where :func:`write_spark_outputs` writes: Parquet/Delta folders under a URI, or tables.

    ``kind`` ``folder``: ``location`` is a path or URI, each output a sub-folder
    (``worklist/``, ``problems/``, ``summary/``, ``provenance/``) in ``file_format``.
    ``kind`` ``table``: ``location`` is a table-name prefix, each output a table
    ``PREFIX_worklist`` and so on, in the catalogue's default format.
    """

    kind: Literal["folder", "table"]
    location: str
    file_format: Literal["parquet", "delta"] = "parquet"

    def names(self) -> tuple[str, ...]:
        """The folder URIs or table names of :data:`OUTPUT_NAMES`, in that order."""
        if self.kind == "table":
            return tuple(f"{self.location}_{n}" for n in OUTPUT_NAMES)
        base = self.location.rstrip("/")
        return tuple(f"{base}/{n}" for n in OUTPUT_NAMES)


def parse_output(
    folder: str | None, table: str | None, file_format: str = "parquet"
) -> OutputTarget | None:
    """The target of ``--output-dir``/``--output-table`` (at most one), or ``None``.

    A local folder is made absolute (every executor then writes the same path; on a
    cluster give a URI all executors reach).

    Raises:
        InvalidInputError: both given; an empty location; a prefix that is not a table name;
            a format other than parquet or delta.
    """
    if folder is not None and table is not None:
        raise InvalidInputError("--output-dir", "give --output-dir or --output-table, not both")
    if file_format not in ("parquet", "delta"):
        raise InvalidInputError("--output-format", "must be parquet or delta")
    fmt: Literal["parquet", "delta"] = "delta" if file_format == "delta" else "parquet"
    if table is not None:
        name = table.strip()
        if not _TABLE_NAME.match(name) or name.startswith("`"):
            raise InvalidInputError(
                "--output-table",
                "must be a table-name prefix: name, schema.name or catalog.schema.name",
            )
        return OutputTarget("table", name, fmt)
    if folder is None:
        return None
    where = folder.strip()
    if not where:
        raise InvalidInputError("--output-dir", "is empty: give a folder or a URI")
    if not _URI.match(where):
        where = str(Path(where).resolve())
    return OutputTarget("folder", where, fmt)


def spark_summary(result: SparkScreening, *, synthetic: bool) -> dict[str, object]:
    """``summary.json``'s content for a Spark result, built in the driver from its counts.

    The same keys and values as :func:`~opioidcds.population.report.write_outputs` writes
    for the same screening (``engine`` is ``spark``); no row is collected.
    """
    return summary_dict(summary_screening(result), synthetic=synthetic)


def summary_screening(result: SparkScreening) -> Screening:
    """A :class:`Screening` with the counts, versions and provenance of ``result``, no rows.

    For summaries built in the driver (``summary.json``, the terminal summary) without
    collecting a row; its ``rows``, ``worklist`` and ``problems`` are empty.
    """
    return Screening(
        as_of=result.as_of,
        table=rows_table([]),
        problems=(),
        counts=dict(result.counts),
        versions=dict(result.versions),
        method=result.method,
        engine="spark",
        provenance=result.provenance,
        factor_labels=dict(result.factor_labels),
    )


def _summary_frame(spark: SparkSession, summary: Mapping[str, object]) -> DataFrame:
    from pyspark.sql.types import (  # noqa: PLC0415
        BooleanType,
        DateType,
        LongType,
        MapType,
        StringType,
        StructField,
        StructType,
    )

    counts = summary["counts"]
    versions = summary["versions"]
    as_of = summary["as_of"]
    schema = StructType(
        [
            StructField("as_of", DateType()),
            StructField("engine", StringType()),
            StructField("synthetic_data", BooleanType()),
            StructField("weekly_capacity", LongType()),
            StructField("counts", MapType(StringType(), LongType())),
            StructField("versions", MapType(StringType(), StringType())),
            StructField("summary_json", StringType()),
        ]
    )
    row = (
        dt.date.fromisoformat(as_of) if isinstance(as_of, str) else None,
        str(summary["engine"]),
        bool(summary["synthetic_data"]),
        int(summary["weekly_capacity"]),  # type: ignore[call-overload]
        dict(counts) if isinstance(counts, Mapping) else {},
        dict(versions) if isinstance(versions, Mapping) else {},
        json.dumps(summary, indent=1, sort_keys=True),
    )
    return spark.createDataFrame([row], schema)


def _provenance_frame(spark: SparkSession, result: SparkScreening) -> DataFrame:
    prov = result.provenance
    schema = (
        "library_version string, knowledge_sha256 string, kind string, id string, "
        "version string, effective_date string, sha256 string"
    )
    rows = [
        (
            prov.library_version,
            prov.knowledge_sha256,
            s.kind,
            s.id,
            s.version,
            s.effective_date,
            s.sha256,
        )
        for s in prov.knowledge
    ]
    return spark.createDataFrame(rows, schema)


def write_spark_outputs(
    spark: SparkSession,
    result: SparkScreening,
    target: OutputTarget,
    *,
    synthetic: bool = False,
    overwrite: bool = False,
) -> tuple[str, ...]:
    """Write the worklist, problems, summary and provenance of ``result`` to ``target``.

    The worklist (the worklist file's columns, global ``rank``, sorted in worklist order) and
    the problems (``file``, ``row``, ``reason``, sorted by file and row) are written by the
    executors; the summary (one row: ``as_of``, ``engine``, ``synthetic_data``,
    ``weekly_capacity``, ``counts`` and ``versions`` as maps, and ``summary_json``, the text
    of ``screen``'s ``summary.json``) and the provenance (one row per knowledge source) are
    built in the driver from :attr:`SparkScreening.counts` and its provenance.

    Returns:
        The folder URIs or table names written, in :data:`OUTPUT_NAMES` order.

    Raises:
        InvalidInputError: an output already exists and ``overwrite`` is false (nothing of
            that output is changed).
        SparkUnavailableError: Delta was asked for and is not installed.
    """
    mode = "overwrite" if overwrite else "error"  # "errorifexists": Connect knows only "error"
    frames = (
        result.worklist,
        result.problems.orderBy("file", "row"),
        _summary_frame(spark, spark_summary(result, synthetic=synthetic)),
        _provenance_frame(spark, result),
    )
    names = target.names()
    what = "--output-table" if target.kind == "table" else "--output-dir"
    for name, frame in zip(names, frames, strict=True):
        writer = frame.write.mode(mode)
        if target.kind == "table":
            _readable(what, partial(writer.saveAsTable, name))
        else:
            _readable(what, partial(writer.format(target.file_format).save, name))
    return names
