"""The reading side of the Spark runner: inputs as text columns that know where each row was read.

Used by :mod:`opioidcds.population.spark` (which documents the job). A CSV/Parquet path or a
Spark DataFrame becomes the known columns as text (names folded, required columns checked by
the schema reader's own check), a ``_bad`` flag (a CSV row whose number of fields differs
from the header's) and where the row was read: file (``_src``), file split (``_block``) and
an id increasing in read order within a task (``_mid``). The splits are then counted on the
driver (:func:`_blocks`) and turned into row numbers (:func:`_offsets`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

import polars as pl

from opioidcds._errors import InvalidInputError
from opioidcds.population.schema import (
    ISSUE_COLUMNS,
    PATIENT_COLUMNS,
    read_issues,
    read_patients,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_CORRUPT: Final = "_corrupt_record"
_CSV_OPTIONS: Final = {"header": "true", "escape": '"', "encoding": "UTF-8"}


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


def _is_csv(source: str | Path | DataFrame) -> bool:
    return isinstance(source, str | Path) and Path(source).suffix.lower() in (".csv", ".txt", "")


def _file_scan(frame: DataFrame) -> bool:
    """Whether ``frame`` is a file scan whose rows know their file and split (``_metadata``)."""
    from pyspark.errors import AnalysisException  # noqa: PLC0415

    try:
        frame.select("_metadata.file_path", "_metadata.file_block_start").schema  # noqa: B018
    except AnalysisException:
        return False
    return True


def _read(
    spark: SparkSession, source: str | Path | DataFrame, what: str, *, multi_line: bool
) -> DataFrame:
    """The known columns as text, ``_bad`` and where each row was read.

    A CSV/Parquet path (every column as text) or a Spark DataFrame. ``_bad``: a CSV row whose
    number of fields differs from the header's. Where: ``_src`` (file), ``_block`` (the start
    of the file split read by one task) and ``_mid`` (increasing in read order within a task);
    a DataFrame that is not a file scan has no file, and its Spark partition as ``_block``.
    A CSV is read line by line (splittable) unless ``multi_line``.
    """
    from pyspark.sql import DataFrame as SparkFrame  # noqa: PLC0415
    from pyspark.sql import functions as F  # noqa: N812, PLC0415
    from pyspark.sql.types import StringType, StructField, StructType  # noqa: PLC0415

    if isinstance(source, SparkFrame):
        frame = source
    else:
        path = Path(source)
        if not path.exists():
            raise InvalidInputError(what, "could not be read as CSV or Parquet")
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = spark.read.parquet(str(path))
        elif _is_csv(path):
            options = {**_CSV_OPTIONS, "multiLine": "true" if multi_line else "false"}
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
    bad = F.col(_CORRUPT).isNotNull() if _CORRUPT in frame.columns else F.lit(False)
    if _file_scan(frame):
        where = [
            F.col("_metadata.file_path").alias("_src"),
            F.col("_metadata.file_block_start").cast("long").alias("_block"),
        ]
        read = frame.select(*selected, bad.alias("_bad"), *where)
        return read.withColumn("_mid", F.monotonically_increasing_id())
    read = frame.select(*selected, bad.alias("_bad")).withColumn(
        "_mid", F.monotonically_increasing_id()
    )
    # monotonically_increasing_id: the partition in the upper 31 bits, the position below
    return read.withColumn("_src", F.lit(None).cast("string")).withColumn(
        "_block", F.shiftright(F.col("_mid"), 33)
    )


@dataclass(frozen=True)
class _Block:
    """One file split (or DataFrame partition) of one input, as counted on the driver."""

    kind: str  # "issues" or "patients"
    src: str | None
    block: int
    rows: int
    first: int  # the smallest _mid of the split
    bad: int
    first_bad: int | None


def _offsets(blocks: Sequence[_Block]) -> list[tuple[str, str | None, int, int, int, int]]:
    """(kind, src, block, first _mid, rows before it in the extract, rows before it in its file).

    Splits in read order: file path, then split start (a DataFrame: partition order).
    """
    out = []
    for kind in ("issues", "patients"):
        mine = sorted((b for b in blocks if b.kind == kind), key=lambda b: (b.src or "", b.block))
        total = 0
        per_file: dict[str | None, int] = {}
        for b in mine:
            before = per_file.get(b.src, 0)
            out.append((kind, b.src, b.block, b.first, total, before))
            total += b.rows
            per_file[b.src] = before + b.rows
    return out


def _first_bad(blocks: Sequence[_Block], kind: str) -> tuple[int, int] | None:
    """(bad rows, the first bad row's number in the extract) of one input, if any."""
    rows = {(o[1], o[2]): o[4] for o in _offsets(blocks) if o[0] == kind}
    found = [
        rows[(b.src, b.block)] + b.first_bad - b.first + 1
        for b in blocks
        if b.kind == kind and b.first_bad is not None
    ]
    if not found:
        return None
    return sum(b.bad for b in blocks if b.kind == kind), min(found)


_MAX_STAT_ROWS: Final = 100_000  # (split, issue date text) groups collected at most


@dataclass(frozen=True)
class _Stats:
    """What one pass over the read inputs found: their splits and the distinct issue dates.

    ``dates``: the distinct ``issue_date`` texts of the issue rows, or ``None`` when they were
    not asked for or were too many to collect (more than ``_MAX_STAT_ROWS`` groups).
    """

    blocks: tuple[_Block, ...]
    dates: tuple[str | None, ...] | None

    @property
    def rows(self) -> int:
        return sum(b.rows for b in self.blocks)


def _parsed_as_csv(source: str | Path | DataFrame) -> bool:
    """Whether ``source`` is read as CSV (its rows may be malformed): a path or a CSV frame."""
    if isinstance(source, str | Path):
        return _is_csv(source)
    return _CORRUPT in source.columns


def _blocks(frame: DataFrame, kind: str, *, dates: bool, csv: bool) -> _Stats:
    """Count the splits of one read input (and, with ``dates``, its distinct issue dates).

    One pass over the input as read (no shuffle): rows, first ``_mid``, malformed rows and the
    first of them, per split; with ``dates``, per split and ``issue_date`` text, so that the
    same pass gives the distinct texts. When that makes more than ``_MAX_STAT_ROWS`` groups,
    the splits are counted again without the dates (and ``dates`` is ``None``).

    With ``csv``, every known column is referenced, so that the rows are parsed, and marked
    malformed, exactly as the screening reads them (Spark parses only the columns a query
    uses).
    """
    from pyspark.sql import functions as F  # noqa: N812, PLC0415

    keys = ["_src", "_block"] + (["issue_date"] if dates else [])
    known = [c for c in frame.columns if c not in ("_bad", "_src", "_block", "_mid")]
    parsed = [F.max(F.hash(*[F.col(f"`{c}`") for c in known])).alias("_parsed")] if known else []
    stats = frame.groupBy(*keys).agg(
        F.count(F.lit(1)).alias("n"),
        F.min("_mid").alias("first"),
        F.sum(F.col("_bad").cast("long")).alias("bad"),
        F.min(F.when(F.col("_bad"), F.col("_mid"))).alias("first_bad"),
        *(parsed if csv else []),
    )
    got = stats.limit(_MAX_STAT_ROWS + 1).collect() if dates else stats.collect()
    if dates and len(got) > _MAX_STAT_ROWS:
        return _Stats(_blocks(frame, kind, dates=False, csv=csv).blocks, None)
    merged: dict[tuple[str | None, int], _Block] = {}
    for rec in got:
        src = None if rec["_src"] is None else str(rec["_src"])
        one = _Block(
            kind=kind,
            src=src,
            block=int(rec["_block"]),
            rows=int(rec["n"]),
            first=int(rec["first"]),
            bad=int(rec["bad"] or 0),
            first_bad=None if rec["first_bad"] is None else int(rec["first_bad"]),
        )
        had = merged.get((src, one.block))
        merged[(src, one.block)] = one if had is None else _joined(had, one)
    texts = tuple({rec["issue_date"] for rec in got}) if dates else None
    return _Stats(tuple(merged.values()), texts)


def _joined(a: _Block, b: _Block) -> _Block:
    """Two groups of one split (two issue dates) as one."""
    bads = [x for x in (a.first_bad, b.first_bad) if x is not None]
    return _Block(
        kind=a.kind,
        src=a.src,
        block=a.block,
        rows=a.rows + b.rows,
        first=min(a.first, b.first),
        bad=a.bad + b.bad,
        first_bad=min(bads) if bads else None,
    )


def _csv_spans(spark: SparkSession, path: str | Path) -> bool:
    """Whether a quoted field may span lines in a CSV file or folder, read as text.

    With ``"`` as quote and ``""`` as its escape, every quoted field holds an even number of
    quote characters, so a line with an odd number is part of a record that spans lines
    (also, harmlessly, a line with a stray quote: it is then read as multi-line CSV).
    """
    from pyspark.sql import functions as F  # noqa: N812, PLC0415

    text = F.col("value")
    quotes = F.length(text) - F.length(F.regexp_replace(text, '"', ""))
    got = spark.read.text(str(path)).agg(F.max((quotes % 2).cast("long")).alias("odd")).collect()
    return bool(got[0]["odd"])
