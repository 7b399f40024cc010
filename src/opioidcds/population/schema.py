"""The input schema of population screening: prescription issues and (optional) patients.

Columns are read as text and checked here, row by row, in Polars (vectorised). A missing
required column is an :class:`~opioidcds.InvalidInputError` naming the column; unknown
columns are ignored; a bad row is excluded and listed (row number and reason, never its values).
See ``docs/population.md``.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import polars as pl

from opioidcds._errors import InvalidInputError
from opioidcds._inputs.patient import _EARLIEST  # Patient's own bound on record dates

__all__ = [
    "ISSUE_COLUMNS",
    "PATIENT_BOOLEAN_COLUMNS",
    "PATIENT_COLUMNS",
    "RowProblem",
    "SourceStamp",
    "check_unchanged",
    "read_issues",
    "read_patients",
    "read_practices",
    "read_table",
    "source_stamp",
]

ISSUE_COLUMNS: Final = {
    "patient_id": "required: pseudonymous patient identifier (text, at most 64 characters)",
    "issue_date": "required: date of issue, ISO 8601 (YYYY-MM-DD)",
    "dmd_code": "dm+d code (6-20 digits); this and/or product_name is required per row",
    "product_name": "dm+d product name (exact, case-insensitive); this and/or dmd_code",
    "quantity": "required: quantity issued, a positive number in the product's units",
    "dosage_text": "optional: the dosage instruction as written",
    "days_supply": "optional: intended supply period in days (1-366)",
    "practice_id": "optional: the issuing practice (e.g. ODS code), for outcomes per practice",
}
"""The columns of the issue extract and what each holds."""

PATIENT_BOOLEAN_COLUMNS: Final = (
    "unemployed",
    "ae_attendance_recent",
    "family_history_dependence",
    "history_substance_or_alcohol_misuse",
    "preadolescent_sexual_abuse_history",
    "depression",
    "other_psychological_disease",
    "benzodiazepine_coprescribed",
    "z_drug_coprescribed",
    "gabapentinoid_coprescribed",
    "cancer_pain",
    "palliative_care",
    "opioid_substitution_therapy",
)
"""Tri-state patient columns: true/false/yes/no/1/0, empty for not recorded."""

PATIENT_COLUMNS: Final = {
    "patient_id": "required: the same pseudonymous identifier as in the issue extract",
    "age": "whole years (0-125); empty: not recorded",
    "sex": "male / female / unknown; empty: unknown",
    "last_ae_attendance": "date of the last A&E attendance (YYYY-MM-DD)",
    "readiness_to_change": "not-considering / considering / ready",
    **dict.fromkeys(
        PATIENT_BOOLEAN_COLUMNS,
        "true / false (empty: not recorded; cancer_pain and palliative_care: false)",
    ),
}
"""The columns of the optional patient table and what each holds."""

_MAX_ID = 64
_MAX_TEXT = 500
_TRUE: Final = ("true", "yes", "y", "1")
_FALSE: Final = ("false", "no", "n", "0")


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One input row excluded or noted: file, 1-based data row (header excluded), reason."""

    file: str
    row: int
    reason: str


SourceStamp = tuple[int, int, int, int]
"""What identifies a file's version: device, inode, size and modification time (ns)."""


def source_stamp(source: str | Path | pl.DataFrame | None) -> SourceStamp | None:
    """The stamp of a file source (``None`` for a DataFrame, nothing, or a missing file)."""
    if source is None or isinstance(source, pl.DataFrame):
        return None
    try:
        st = os.stat(source)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def check_unchanged(
    source: str | Path | pl.DataFrame | None, stamp: SourceStamp | None, what: str
) -> None:
    """Refuse results made from a file that changed while it was being read several times.

    A screening reads its files more than once (screen, baseline, practices); a file replaced
    or still being written in between would give a silently mixed worklist.

    Raises:
        InvalidInputError: the file's stamp differs from ``stamp`` (replaced, rewritten,
            removed).
    """
    if stamp is not None and source_stamp(source) != stamp:
        raise InvalidInputError(
            what,
            "the file changed while it was being screened (replaced or still being written): "
            "wait until the extract is complete, then screen again",
        )


def _file_problem(p: Path, what: str) -> None:
    """Say which file cannot be read and why, before a reader's own error."""
    name = f"{what} file '{p}'"
    if not p.exists():
        raise InvalidInputError(name, "no such file: check the path")
    if p.is_dir():
        raise InvalidInputError(name, "is a folder, not a file: give the CSV or Parquet file")
    if not os.access(p, os.R_OK):
        raise InvalidInputError(name, "cannot be read (permission denied): check its permissions")


def _check_headers(names: list[str], what: str) -> None:
    """Two headers that are one column once case and spaces are ignored are refused.

    Raises:
        InvalidInputError: such headers (named: headers are not patient data).
    """
    seen: dict[str, str] = {}
    for name in names:
        key = name.strip().lower()
        if key in seen:
            raise InvalidInputError(
                what,
                f"the headers '{seen[key]}' and '{name}' name the same column (case and spaces "
                "are ignored): keep one of them",
            )
        seen[key] = name


def read_table(path: str | Path, *, what: str) -> pl.DataFrame:
    """Read a CSV or Parquet file with every column as text.

    Raises:
        InvalidInputError: the file is missing, a folder, unreadable or not CSV/Parquet, or
            two of its headers differ only in case or spaces (field ``what`` and the path).
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv", ".txt", ""):
        raise InvalidInputError(f"{what} file '{p}'", "must be a .csv or .parquet file")
    _file_problem(p, what)
    try:
        if suffix in (".parquet", ".pq"):
            df = pl.read_parquet(p)
            df = df.with_columns(pl.all().cast(pl.String))
        else:
            df = pl.read_csv(p, infer_schema=False)
    except pl.exceptions.DuplicateError:
        raise InvalidInputError(
            f"{what} file '{p}'", "a header appears twice: keep one of each column"
        ) from None
    except (OSError, pl.exceptions.PolarsError):
        raise InvalidInputError(
            f"{what} file '{p}'",
            "could not be read as CSV or Parquet: check it is a comma-separated file with a "
            "header row (or Parquet)",
        ) from None
    _check_headers(df.columns, what)
    return df


def _require(df: pl.DataFrame, required: tuple[str, ...], what: str) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InvalidInputError(what, "missing required column(s): " + ", ".join(missing))


def _text(name: str) -> pl.Expr:
    return pl.col(name).str.strip_chars()


def _blank(name: str) -> pl.Expr:
    return pl.col(name).is_null() | (pl.col(name).str.strip_chars() == "")


def _normalise(df: pl.DataFrame, columns: dict[str, str]) -> pl.DataFrame:
    """Keep the known columns (adding absent optional ones as null), lower-cased names."""
    df = df.rename({c: c.strip().lower() for c in df.columns})
    keep = [c for c in columns if c in df.columns]
    df = df.select(keep)
    absent = [pl.lit(None, dtype=pl.String).alias(c) for c in columns if c not in df.columns]
    return df.with_columns(absent) if absent else df


def read_issues(source: str | Path | pl.DataFrame) -> tuple[pl.DataFrame, list[RowProblem]]:
    """Read and check an issue extract: the usable rows and the problems found.

    The returned frame has columns ``row`` (1-based data row), ``patient_id``, ``issue_date``
    (date), ``dmd_code``, ``product_name``, ``quantity`` (text, checked positive decimal),
    ``dosage_text``, ``days_supply`` (int) for the rows that passed; exact duplicate rows after
    the first are excluded as duplicates.

    Raises:
        InvalidInputError: the file cannot be read, or required columns are missing (named).
    """
    what = "issues"
    df = source if isinstance(source, pl.DataFrame) else read_table(source, what=what)
    _check_headers(df.columns, what)
    df = df.rename({c: c.strip().lower() for c in df.columns})
    _require(df, ("patient_id", "issue_date", "quantity"), what)
    if "dmd_code" not in df.columns and "product_name" not in df.columns:
        raise InvalidInputError(what, "missing required column(s): dmd_code or product_name")
    df = _normalise(df.cast(pl.String), ISSUE_COLUMNS).with_row_index("row", offset=1)
    df = df.with_columns(
        _text("patient_id").alias("patient_id"),
        _text("issue_date").str.strptime(pl.Date, "%Y-%m-%d", strict=False).alias("issue_date"),
        _text("dmd_code").replace("", None).alias("dmd_code"),
        _text("product_name").replace("", None).alias("product_name"),
        _text("quantity").alias("quantity"),
        _text("dosage_text").replace("", None).alias("dosage_text"),
        _text("days_supply").replace("", None).alias("days_supply_text"),
        pl.col("issue_date").alias("issue_date_text"),
    ).with_columns(pl.col("days_supply_text").cast(pl.Int64, strict=False).alias("days_supply"))
    quantity_ok = pl.col("quantity").str.contains(r"^[0-9]{1,10}(\.[0-9]{1,10})?$") & (
        pl.col("quantity").cast(pl.Float64, strict=False) > 0
    )
    reason = (
        pl.when(pl.col("patient_id").is_null() | (pl.col("patient_id") == ""))
        .then(pl.lit("patient_id missing"))
        .when(pl.col("patient_id").str.len_chars() > _MAX_ID)
        .then(pl.lit(f"patient_id longer than {_MAX_ID} characters"))
        .when(pl.col("issue_date").is_null())
        .then(pl.lit("issue_date missing or not a date (YYYY-MM-DD)"))
        .when(pl.col("issue_date") < _EARLIEST)
        .then(pl.lit(f"issue_date before {_EARLIEST.isoformat()}"))
        .when(pl.col("quantity").is_null() | (pl.col("quantity") == ""))
        .then(pl.lit("quantity missing"))
        .when(~quantity_ok.fill_null(value=False))
        .then(pl.lit("quantity not a positive number"))
        .when(pl.col("dmd_code").is_null() & pl.col("product_name").is_null())
        .then(pl.lit("dmd_code and product_name both missing"))
        .when(
            pl.col("dmd_code").is_not_null()
            & ~pl.col("dmd_code").str.contains(r"^[0-9]{6,20}$").fill_null(value=False)
        )
        .then(pl.lit("dmd_code not 6-20 digits"))
        .when(pl.col("product_name").str.len_chars() > _MAX_TEXT)
        .then(pl.lit(f"product_name longer than {_MAX_TEXT} characters"))
        .when(pl.col("dosage_text").str.len_chars() > _MAX_TEXT)
        .then(pl.lit(f"dosage_text longer than {_MAX_TEXT} characters"))
        .when(
            pl.col("days_supply_text").is_not_null()
            & ~pl.col("days_supply").is_between(1, 366).fill_null(value=False)
        )
        .then(pl.lit("days_supply not a whole number of days from 1 to 366"))
        .otherwise(None)
        .alias("reason")
    )
    df = df.with_columns(reason)
    key = ["patient_id", "issue_date", "dmd_code", "product_name", "quantity", "dosage_text"]
    df = df.with_columns(
        pl.when(pl.col("reason").is_null() & ~pl.struct(key).is_first_distinct())
        .then(pl.lit("duplicate of an earlier row (same patient, date, product, quantity, dosage)"))
        .otherwise(pl.col("reason"))
        .alias("reason")
    )
    bad = df.filter(pl.col("reason").is_not_null()).select("row", "reason")
    problems = [RowProblem(what, int(r), str(why)) for r, why in bad.iter_rows()]
    good = df.filter(pl.col("reason").is_null()).select(
        "row",
        "patient_id",
        "issue_date",
        "dmd_code",
        "product_name",
        "quantity",
        "dosage_text",
        "days_supply",
    )
    return good, problems


def _bool_expr(name: str) -> pl.Expr:
    v = pl.col(name).str.strip_chars().str.to_lowercase()
    return (
        pl.when(v.is_null() | (v == ""))
        .then(None)
        .when(v.is_in(_TRUE))
        .then(pl.lit(value=True))
        .when(v.is_in(_FALSE))
        .then(pl.lit(value=False))
        .otherwise(None)
        .alias(name)
    )


def _bool_bad(name: str) -> pl.Expr:
    v = pl.col(name).str.strip_chars().str.to_lowercase()
    return v.is_not_null() & (v != "") & ~v.is_in((*_TRUE, *_FALSE))


def read_patients(
    source: str | Path | pl.DataFrame,
) -> tuple[pl.DataFrame, list[RowProblem], frozenset[str]]:
    """Read and check the optional patient table: usable rows, problems, excluded patient ids.

    A patient whose row is excluded is not screened (their scope could depend on it); the row
    and the reason are listed. A patient id given twice is a problem for both rows.

    Raises:
        InvalidInputError: the file cannot be read, or ``patient_id`` is missing.
    """
    what = "patients"
    df = source if isinstance(source, pl.DataFrame) else read_table(source, what=what)
    _check_headers(df.columns, what)
    df = df.rename({c: c.strip().lower() for c in df.columns})
    _require(df, ("patient_id",), what)
    df = _normalise(df.cast(pl.String), PATIENT_COLUMNS).with_row_index("row", offset=1)
    age_text = _text("age").replace("", None)
    sex = _text("sex").str.to_lowercase().replace("", None)
    ready = _text("readiness_to_change").str.to_lowercase().replace("", None)
    ae_text = _text("last_ae_attendance").replace("", None)
    ae_date = ae_text.str.strptime(pl.Date, "%Y-%m-%d", strict=False)
    bad_bool = [
        pl.when(_bool_bad(c)).then(pl.lit(f"{c} not true/false")) for c in PATIENT_BOOLEAN_COLUMNS
    ]
    reason = (
        pl.when(pl.col("patient_id").is_null() | (_text("patient_id") == ""))
        .then(pl.lit("patient_id missing"))
        .when(_text("patient_id").is_duplicated())
        .then(pl.lit("patient_id appears more than once in the patient table"))
        .when(
            age_text.is_not_null() & ~age_text.str.contains(r"^[0-9]{1,3}$").fill_null(value=False)
        )
        .then(pl.lit("age not a whole number"))
        .when(age_text.cast(pl.Int64, strict=False) > 125)
        .then(pl.lit("age above 125"))
        .when(sex.is_not_null() & ~sex.is_in(("male", "female", "unknown")))
        .then(pl.lit("sex not male/female/unknown"))
        .when(ready.is_not_null() & ~ready.is_in(("not-considering", "considering", "ready")))
        .then(pl.lit("readiness_to_change not one of not-considering/considering/ready"))
        .when(ae_text.is_not_null() & ae_date.is_null())
        .then(pl.lit("last_ae_attendance not a date (YYYY-MM-DD)"))
        .when(ae_date < _EARLIEST)
        .then(pl.lit(f"last_ae_attendance before {_EARLIEST.isoformat()}"))
        .otherwise(pl.coalesce(bad_bool))
        .alias("reason")
    )
    df = df.with_columns(reason)
    problems = [
        RowProblem(what, int(r), str(why))
        for r, why in df.filter(pl.col("reason").is_not_null()).select("row", "reason").iter_rows()
    ]
    excluded_ids = (
        df.filter(pl.col("reason").is_not_null())
        .select(_text("patient_id").alias("patient_id"))
        .drop_nulls()
    )
    good = df.filter(pl.col("reason").is_null()).select(
        "row",
        _text("patient_id").alias("patient_id"),
        age_text.cast(pl.Int64).alias("age"),
        sex.alias("sex"),
        ae_date.alias("last_ae_attendance"),
        ready.alias("readiness_to_change"),
        *[_bool_expr(c) for c in PATIENT_BOOLEAN_COLUMNS],
    )
    return good, problems, frozenset(str(x) for x in excluded_ids.to_series().to_list())


def read_practices(source: str | Path | pl.DataFrame, *, up_to: dt.date) -> dict[str, str]:
    """Each patient's practice: the ``practice_id`` of their latest issue up to ``up_to``.

    Used only to group outcomes per practice (screening ignores the column). Rows without a
    usable patient id, date or practice id (empty, or longer than 64 characters) are not used
    here (screening lists bad rows itself); ties on the latest date go to the last row. An
    extract without the column gives an empty mapping (overall figures only).

    Raises:
        InvalidInputError: the file cannot be read.
    """
    df = source if isinstance(source, pl.DataFrame) else read_table(source, what="issues")
    _check_headers(df.columns, "issues")
    df = df.rename({c: c.strip().lower() for c in df.columns})
    if not {"practice_id", "patient_id", "issue_date"} <= set(df.columns):
        return {}
    df = (
        df.select(pl.col("patient_id", "practice_id", "issue_date").cast(pl.String))
        .select(
            _text("patient_id").alias("patient_id"),
            _text("practice_id").alias("practice_id"),
            _text("issue_date").str.strptime(pl.Date, "%Y-%m-%d", strict=False),
        )
        .with_row_index("row")
        .filter(
            pl.col("patient_id").is_not_null()
            & (pl.col("patient_id") != "")
            & (pl.col("patient_id").str.len_chars() <= _MAX_ID)
            & pl.col("practice_id").is_not_null()
            & (pl.col("practice_id") != "")
            & (pl.col("practice_id").str.len_chars() <= _MAX_ID)
            & pl.col("issue_date").is_not_null()
            & (pl.col("issue_date") <= up_to)
        )
        .sort("issue_date", "row")
        .group_by("patient_id", maintain_order=True)
        .last()
    )
    return dict(zip(df.get_column("patient_id"), df.get_column("practice_id"), strict=True))
