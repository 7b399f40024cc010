"""Reading a large issue extract in parts of whole patients, to bound memory.

An extract of more than ``PART_ROWS`` rows is read and checked
(:func:`opioidcds.population.schema.read_issues`) in parts: each part holds every row of the
patients whose (stripped) identifier hashes to it, so the duplicate check, which compares rows
of the same patient only, sees exactly what it would see on the whole file. Row numbers (in the
rows and in the problems) are those of the whole extract. Smaller extracts, and sources that
cannot be scanned, are read in one go exactly as before. A large CSV file is parsed once, into
a temporary Parquet file (streamed: bounded memory), and the parts are read from that, so the
text is not parsed again for every part.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import polars as pl

from opioidcds._errors import InvalidInputError
from opioidcds.population.schema import RowProblem, check_unchanged, read_issues, source_stamp

__all__ = ["PART_ROWS", "issue_parts"]

PART_ROWS: Final = 2_500_000  # memory bound, not clinical
_ROW: Final = "__opioidcds_source_row"
_PARQUET: Final = (".parquet", ".pq")


def _scan(source: str | Path | pl.DataFrame) -> pl.LazyFrame | None:
    """A lazy view of the extract with every column as text (as ``read_table`` reads it)."""
    if isinstance(source, pl.DataFrame):
        return source.lazy()
    p = Path(source)
    suffix = p.suffix.lower()
    if not p.is_file():
        return None
    if suffix in _PARQUET:
        return pl.scan_parquet(p).with_columns(pl.all().cast(pl.String))
    if suffix in (".csv", ".txt", ""):
        return pl.scan_csv(p, infer_schema=False)
    return None


def issue_parts(
    source: str | Path | pl.DataFrame, part_rows: int | None = None
) -> Iterator[tuple[pl.DataFrame, list[RowProblem]]]:
    """:func:`read_issues` of the extract, in parts of whole patients (see the module doc).

    Raises:
        InvalidInputError: as :func:`read_issues` (a file that cannot be read, a missing
            required column), or the file changed between the passes over its parts.
    """
    limit = part_rows if part_rows is not None else PART_ROWS
    stamp = source_stamp(source)
    lf = _scan(source)
    size = 0
    names: list[str] = []
    if lf is not None:
        try:
            names = lf.collect_schema().names()
            size = int(lf.select(pl.len()).collect().item())
        except (OSError, pl.exceptions.PolarsError):
            lf = None  # read_issues reports it as the file's error
    pid = next((c for c in names if c.strip().lower() == "patient_id"), None)
    if lf is None or pid is None or _ROW in names or size <= limit:
        yield read_issues(source)
        return
    with tempfile.TemporaryDirectory(prefix="opioidcds-parts-") as tmp:
        if not isinstance(source, pl.DataFrame) and Path(source).suffix.lower() not in _PARQUET:
            # the temporary copy is in a folder only this user can read, removed when done
            lf = _as_parquet(lf, Path(tmp) / "issues.parquet")
        yield from _parts(lf, pid, -(-size // limit))
    check_unchanged(source, stamp, "issues")  # the parts were read in several passes


def _as_parquet(lf: pl.LazyFrame, path: Path) -> pl.LazyFrame:
    """``lf`` (a CSV scan) written once to Parquet, in file order; a scan of that file.

    Raises:
        InvalidInputError: the file cannot be read as CSV.
    """
    try:
        lf.sink_parquet(path, compression="lz4", maintain_order=True)
    except (OSError, pl.exceptions.PolarsError):
        raise InvalidInputError("issues", "could not be read as CSV or Parquet") from None
    return pl.scan_parquet(path)


def _parts(
    lf: pl.LazyFrame, pid: str, parts: int
) -> Iterator[tuple[pl.DataFrame, list[RowProblem]]]:
    """Each part: :func:`read_issues` of the rows whose stripped patient id hashes to it."""
    key = pl.col(pid).cast(pl.String).str.strip_chars().hash(seed=0) % parts
    numbered = lf.with_row_index(_ROW)
    for k in range(parts):
        try:
            df = numbered.filter(key == k).collect()
        except (OSError, pl.exceptions.PolarsError):
            raise InvalidInputError("issues", "could not be read as CSV or Parquet") from None
        source_rows = df.get_column(_ROW)
        good, problems = read_issues(df.drop(_ROW))
        # rows are numbered from 1 within the part: map them back to the whole extract
        good = good.with_columns(
            (source_rows.gather(good.get_column("row") - 1) + 1)
            .cast(good.schema["row"])
            .alias("row")
        )
        back = source_rows.to_list()
        yield good, [RowProblem(p.file, back[p.row - 1] + 1, p.reason) for p in problems]
