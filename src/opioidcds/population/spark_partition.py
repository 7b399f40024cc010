"""The partition side of the Spark runner: what each Python worker does with its patients.

Run inside ``mapInArrow`` by :mod:`opioidcds.population.spark` (which documents the job):
one partition's rows come in as Arrow batches; the partition hashes the knowledge it loaded
(:mod:`opioidcds.population.spark_knowledge`), sorts its rows back into read order, screens
them with the public :func:`~opioidcds.population.screen` (and, with a baseline date, again
at that date), and sends back its worklist rows (with the ``Screening.table`` columns the
worklist file does not hold, and one sort-key text), problem rows (with where each was read),
counts, practices, its knowledge hash and cost and, when the driver asks, whether a row of the
candidate default screening date passes the schema checks, as Arrow batches of the
Spark-declared types.
"""

from __future__ import annotations

import datetime as dt
import resource
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Final

import polars as pl

from opioidcds._decide.knowledge import Knowledge, default_knowledge, load_knowledge
from opioidcds._errors import InvalidInputError
from opioidcds.population.engine import Screening, for_screening, screen, shared_deciders
from opioidcds.population.method import ScreeningMethod
from opioidcds.population.report import worklist_frame
from opioidcds.population.rows import ROW_SCHEMA
from opioidcds.population.schema import read_issues, read_practices
from opioidcds.population.spark_knowledge import job_knowledge_hash

if TYPE_CHECKING:
    import pyarrow as pa

    from opioidcds._decide.rules import Profile

_ROW: Final = "row"
_PROBLEM: Final = "problem"
_COUNT: Final = "count"
_KNOWLEDGE: Final = "knowledge"
_PRACTICE: Final = "practice"
_BASE: Final = "baseline-"  # prefix of the kinds of the screening at the baseline date
_ISSUE_PREFIX: Final = "i__"
_PATIENT_PREFIX: Final = "p__"
_TABLE_PREFIX: Final = "t__"
# Screening.table columns that the worklist file holds unchanged (same name, same values):
# sent once, in the worklist column; the other table columns are sent as t__<name>.
_IN_WORKLIST: Final = (
    "patient_id",
    "status",
    "in_scope",
    "scope_rule",
    "scope_reason",
    "history",
    "ome_mg_per_day",
    "ome_complete",
    "ome_method",
    "risk_level",
    "risk_level_if_unknown",
    "tier",
    "tier_if_unknown",
    "readiness_to_change",
    "band",
)
_TABLE_ONLY: Final = tuple(n for n in ROW_SCHEMA if n not in _IN_WORKLIST)
_READ_ORDER: Final = ("_src", "_block", "_mid")  # file path, split start, id in read order
_INT_DIGITS: Final = 20  # sort-key width of the OME's integer part (fail closed beyond)
_FRAC_DIGITS: Final = 40  # and of its fraction


# --- partitions (run in Spark's Python workers) ----------------------------------------------


def _arrow(frame: pl.DataFrame, types: Sequence[tuple[str, str]]) -> list[pa.RecordBatch]:
    """``frame`` as Arrow batches of exactly the Spark-declared types (plain, not large)."""
    import pyarrow as pa  # noqa: PLC0415 - worker side

    arrow = {"string": pa.string(), "long": pa.int64(), "boolean": pa.bool_()}
    arrow |= {"binary": pa.binary(), "date": pa.date32(), "array<string>": pa.list_(pa.string())}
    schema = pa.schema([(name, arrow[kind]) for name, kind in types])
    missing = [pl.lit(None).alias(name) for name, _ in types if name not in frame.columns]
    table = frame.with_columns(missing).select([name for name, _ in types]).to_arrow()
    table = table.cast(schema)
    return table.to_batches() if table.num_rows else []


def _frame_of(batches: Iterator[pa.RecordBatch]) -> pl.DataFrame | None:
    import pyarrow as pa  # noqa: PLC0415 - worker side

    got = list(batches)
    if not got or sum(b.num_rows for b in got) == 0:
        return None
    frame = pl.from_arrow(pa.Table.from_batches(got))
    if not isinstance(frame, pl.DataFrame):  # pragma: no cover - a table is a frame
        raise InvalidInputError("spark partition", "is not a table")
    return frame


@dataclass(frozen=True)
class _Part:
    """One partition's issue rows and patient rows, each in read order, and where each was read."""

    issues: pl.DataFrame
    issue_where: pl.DataFrame  # _src, _block, _mid of each issue row, in the same order
    patients: pl.DataFrame | None
    patient_where: pl.DataFrame
    rows: int


def _partition(
    frame: pl.DataFrame, issue_cols: Sequence[str], patient_cols: Sequence[str]
) -> _Part:
    order = list(_READ_ORDER)
    iss = frame.filter(pl.col("_kind") == "issue").sort(order, nulls_last=True)
    issues = iss.select([pl.col(_ISSUE_PREFIX + c).cast(pl.String).alias(c) for c in issue_cols])
    pts = frame.filter(pl.col("_kind") == "patient").sort(order, nulls_last=True)
    patients = (
        pts.select([pl.col(_PATIENT_PREFIX + c).cast(pl.String).alias(c) for c in patient_cols])
        if patient_cols
        else None
    )
    return _Part(issues, iss.select(order), patients, pts.select(order), frame.height)


def _issue_day() -> pl.Expr:
    """The issue date, parsed as :func:`~opioidcds.population.schema.read_issues` does."""
    return (
        pl.col(_ISSUE_PREFIX + "issue_date")
        .str.strip_chars()
        .str.strptime(pl.Date, "%Y-%m-%d", strict=False)
    )


def _usable_on(issues: pl.DataFrame, day: dt.date, issue_cols: Sequence[str]) -> bool:
    """Whether some issue row dated ``day`` passes the schema checks.

    Whether a row passes depends on the row itself and on earlier rows of its duplicate key,
    which includes the date, so the rows of one date (in read order) decide it alone.
    """
    of_day = issues.filter(_issue_day() == day)
    if not of_day.height:
        return False
    good, _ = read_issues(_partition(of_day, issue_cols, ()).issues)
    return good.height > 0


def _latest_batches(
    batches: Iterator[pa.RecordBatch], issue_cols: Sequence[str]
) -> Iterator[pa.RecordBatch]:
    """The latest issue date among this partition's rows that pass the schema checks.

    Dates are tried latest first (:func:`_usable_on`).
    """
    frame = _frame_of(batches)
    if frame is None:
        return
    issues = frame.filter(pl.col("_kind") == "issue")
    days = issues.select(_issue_day().alias("_day")).get_column("_day").drop_nulls()
    latest = next(
        (
            d
            for d in days.unique().sort(descending=True).to_list()
            if _usable_on(issues, d, issue_cols)
        ),
        None,
    )
    yield from _arrow(
        pl.DataFrame({"latest": [latest]}, schema={"latest": pl.Date}), [("latest", "date")]
    )


def _ome_key(value: str | None) -> str:
    """A fixed-width text of the OME whose text order is its numeric order (exact)."""
    d = Decimal(value) if value is not None else Decimal(0)
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
    baseline: dt.date | None
    profile: Profile | None
    method: ScreeningMethod
    out_types: tuple[tuple[str, str], ...]
    knowledge_hash: str
    local_rules: str | None = None  # folder of local rules (issue 23), read in each executor
    check_date: dt.date | None = None  # report whether a row of this date passes (the as_of)


@cache
def local_knowledge(folder: str | None) -> Knowledge | None:
    """The knowledge with the local rules of ``folder`` (read once per process), or ``None``."""
    return load_knowledge(local_rules=folder) if folder is not None else None


_INVERT: Final = str.maketrans("0123456789", "9876543210")  # digit order reversed
_BAND_DIGITS: Final = 20
_FACTOR_DIGITS: Final = 9


def _sort_key(table: pl.DataFrame, method: ScreeningMethod) -> pl.Series:
    """``_sort``: one text whose byte order is the worklist order (see :func:`ordered`).

    Fixed-width parts, so comparing the texts compares the parts in turn: the band's number
    (not listed: 99), then each of the method's ``order_within_band`` keys largest first (the
    OME's exact decimal digits, and the count of factors present, each with its digits
    reversed), then the patient id.
    """
    band = table.get_column("band")
    band_order = pl.select(
        pl.when(band.str.contains(r"^\d+$"))
        .then(band.cast(pl.Int64, strict=False))
        .otherwise(pl.lit(99, pl.Int64))
    ).to_series()
    if band_order.null_count():
        raise InvalidInputError("band", "has a number too large to order")
    parts = [band_order.cast(pl.String).str.zfill(_BAND_DIGITS)]
    for k in method.order_within_band:
        if k == "ome_mg_per_day":
            omes = table.get_column("ome_mg_per_day")
            keys = {v: _ome_key(v).translate(_INVERT) for v in omes.unique().to_list()}
            parts.append(omes.replace_strict(keys, return_dtype=pl.String))
        elif k == "factors_present":
            count = table.get_column("factors_present").list.len().cast(pl.Int64)
            if count.max() is not None and int(count.max()) >= 10**_FACTOR_DIGITS:  # type: ignore[arg-type]
                raise InvalidInputError("factors_present", "too many to order")
            reversed_count = pl.lit(10**_FACTOR_DIGITS - 1, pl.Int64) - count
            parts.append(
                pl.select(reversed_count).to_series().cast(pl.String).str.zfill(_FACTOR_DIGITS)
            )
    parts.append(table.get_column("patient_id"))
    return pl.select(pl.concat_str(parts)).to_series().alias("_sort")


def _phase_frames(
    result: Screening, phase: str, part: _Part, method: ScreeningMethod, *, worklist: bool
) -> list[pl.DataFrame]:
    """One screening's rows (table columns, sort keys), problems and counts, tagged ``phase``."""
    table = result.table
    base = worklist_frame(result) if worklist else table.select(_IN_WORKLIST)
    listed = (
        base.get_column("rank").is_not_null()
        if worklist
        else pl.Series("_listed", [False] * table.height, pl.Boolean)
    )
    rows = base.with_columns(
        pl.lit(phase + _ROW).alias("_kind"),
        listed.alias("_listed"),
        _sort_key(table, method),
        *[table.get_column(n).alias(_TABLE_PREFIX + n) for n in _TABLE_ONLY],
    )
    where = {"issues": part.issue_where, "patients": part.patient_where}
    at = {
        name: [p.row - 1 for p in result.problems if p.file == name]
        for name in ("issues", "patients")
    }
    problems = [
        where[name][at[name]].with_columns(
            pl.lit(phase + _PROBLEM).alias("_kind"),
            pl.lit(name).alias("_file"),
            pl.Series("_reason", [p.reason for p in result.problems if p.file == name], pl.String),
        )
        for name in ("issues", "patients")
        if at[name]
    ]
    problems = [p.rename({"_src": "_psrc", "_block": "_pblock", "_mid": "_pmid"}) for p in problems]
    counts = pl.DataFrame(
        {
            "_kind": [phase + _COUNT] * len(result.counts),
            "_count_key": list(result.counts),
            "_count": [int(n) for n in result.counts.values()],
        },
        schema={"_kind": pl.String, "_count_key": pl.String, "_count": pl.Int64},
    )
    return [rows, *problems, counts]


def _knowledge_row(
    job: _Job, mine: str, rows: int, started: float, *, usable: bool = False, out: int = 0
) -> pl.DataFrame:
    from pyspark import TaskContext  # noqa: PLC0415 - worker side

    context = TaskContext.get()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # Linux: kilobytes
    return pl.DataFrame(
        {
            "_kind": [_KNOWLEDGE],
            "_kpart": [context.partitionId() if context is not None else -1],
            "_khash": [mine],
            "_krows": [rows],
            "_kms": [round((time.perf_counter() - started) * 1000)],
            "_kpeak": [int(peak_kb)],
            "_kdate": [usable],
            "_kout": [out],
        },
        schema={
            "_kind": pl.String,
            "_kpart": pl.Int64,
            "_khash": pl.String,
            "_krows": pl.Int64,
            "_kms": pl.Int64,
            "_kpeak": pl.Int64,
            "_kdate": pl.Boolean,
            "_kout": pl.Int64,
        },
    )


def _screen_batches(batches: Iterator[pa.RecordBatch], job: _Job) -> Iterator[pa.RecordBatch]:
    """Screen one partition with :func:`screen`; rows, problems, counts and knowledge hash.

    The partition first hashes the knowledge it loaded (:func:`job_knowledge_hash`); if that
    is not the driver's, it screens nothing and reports only its hash (the driver refuses the
    job).
    """
    started = time.perf_counter()
    kb = local_knowledge(job.local_rules)
    used = kb if kb is not None else default_knowledge()
    mine = job_knowledge_hash(for_screening(used, job.profile, job.method))
    frame = _frame_of(batches)
    if mine != job.knowledge_hash or frame is None:
        rows = 0 if frame is None else frame.height
        yield from _arrow(_knowledge_row(job, mine, rows, started), job.out_types)
        return
    part = _partition(frame, job.issue_cols, job.patient_cols)
    usable = job.check_date is not None and _usable_on(
        frame.filter(pl.col("_kind") == "issue"), job.check_date, job.issue_cols
    )
    out: list[pl.DataFrame] = []
    with shared_deciders():  # this worker's later partitions reuse the decisions worked out
        result = screen(
            part.issues,
            part.patients,
            as_of=job.as_of,
            knowledge=kb,
            profile=job.profile,
            method=job.method,
        )
    out.extend(_phase_frames(result, "", part, job.method, worklist=True))
    if job.baseline is not None and job.as_of is not None:
        with shared_deciders():
            earlier = screen(
                part.issues,
                part.patients,
                as_of=job.baseline,
                knowledge=kb,
                profile=job.profile,
                method=job.method,
            )
        out.extend(_phase_frames(earlier, _BASE, part, job.method, worklist=False))
        practices = read_practices(part.issues, up_to=job.as_of)
        out.append(
            pl.DataFrame(
                {
                    "_kind": [_PRACTICE] * len(practices),
                    "patient_id": list(practices),
                    "_practice": list(practices.values()),
                },
                schema={"_kind": pl.String, "patient_id": pl.String, "_practice": pl.String},
            )
        )
    out.append(
        _knowledge_row(job, mine, part.rows, started, usable=usable, out=result.table.height)
    )
    yield from _arrow(pl.concat(out, how="diagonal_relaxed"), job.out_types)
