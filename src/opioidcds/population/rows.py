"""The worklist rows, held as columns: one :class:`PatientRow` per patient, built when read.

A screening keeps its rows in one Polars frame (``ROW_SCHEMA``: a column per field of
:class:`PatientRow`; the OME as its exact text), ordered and counted in columns
(:func:`ordered`, :func:`counts`). The columnar engine writes the frame directly from the
per-class decisions (:func:`decided_table`); rows built one by one (the reference path, the
``assess`` engine) are turned into the same columns (:func:`rows_table`). Python objects are
made only for the code that reads :attr:`Screening.rows <opioidcds.population.Screening.rows>`
(:func:`table_rows`), once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

import polars as pl

from opioidcds._decide.assessment import FactorStatus
from opioidcds.population.method import ScreeningMethod
from opioidcds.population.schema import RowProblem
from opioidcds.population.vector import Decided, OmeSummary

__all__ = [
    "BAND_NOT_LISTED",
    "DOSE_SOURCES",
    "ROW_SCHEMA",
    "PatientRow",
    "counts",
    "decided_table",
    "dose_sources",
    "dose_sources_line",
    "ordered",
    "rows_table",
    "table_rows",
]

BAND_NOT_LISTED: Final = "not-listed"
_UNLISTED_ORDER: Final = 99  # bands are ordered by number; not listed after every band


@dataclass(frozen=True, slots=True)
class PatientRow:
    """One patient's screening result (what the worklist files hold).

    ``status`` is ``"screened"`` or ``"not-screened"`` (``scope_reason`` then says why).
    ``ome_complete`` is false when an opioid could not be converted (assess) *or* its daily dose
    could not be estimated from the extract (``ome_method``): the total is then a lower bound.
    ``band`` is the worklist priority band (``"1"`` first; ``"not-listed"`` when out of scope).
    """

    patient_id: str
    status: str
    in_scope: bool | None
    scope_rule: str | None
    scope_reason: str
    history: str
    ome_mg_per_day: Decimal | None
    ome_complete: bool
    ome_method: str
    factors_present: tuple[str, ...]
    factors_unknown: tuple[str, ...]
    risk_level: str | None
    risk_level_if_unknown: str | None
    tier: str | None
    tier_if_unknown: str | None
    unknowns_that_could_change: tuple[str, ...]
    readiness_to_change: str | None
    band: str
    band_reason: str


_TEXTS: Final = pl.List(pl.String())
ROW_SCHEMA: Final[dict[str, pl.DataType]] = {
    "patient_id": pl.String(),
    "status": pl.String(),
    "in_scope": pl.Boolean(),
    "scope_rule": pl.String(),
    "scope_reason": pl.String(),
    "history": pl.String(),
    "ome_mg_per_day": pl.String(),  # the exact decimal, as text
    "ome_complete": pl.Boolean(),
    "ome_method": pl.String(),
    "factors_present": _TEXTS,
    "factors_unknown": _TEXTS,
    "risk_level": pl.String(),
    "risk_level_if_unknown": pl.String(),
    "tier": pl.String(),
    "tier_if_unknown": pl.String(),
    "unknowns_that_could_change": _TEXTS,
    "readiness_to_change": pl.String(),
    "band": pl.String(),
    "band_reason": pl.String(),
}
"""The columns of a screening's rows: the fields of :class:`PatientRow`, in order."""
_TUPLES: Final = ("factors_present", "factors_unknown", "unknowns_that_could_change")


def rows_table(rows: Sequence[PatientRow]) -> pl.DataFrame:
    """The rows as columns (``ROW_SCHEMA``)."""
    data: dict[str, list[object]] = {name: [] for name in ROW_SCHEMA}
    for r in rows:
        for name in ROW_SCHEMA:
            value = getattr(r, name)
            if name == "ome_mg_per_day":
                value = None if value is None else str(value)
            elif name in _TUPLES:
                value = list(value)
            data[name].append(value)
    return pl.DataFrame(data, schema=ROW_SCHEMA)


def table_rows(table: pl.DataFrame) -> tuple[PatientRow, ...]:
    """The :class:`PatientRow` of each row of ``table`` (equal tuples and texts shared)."""
    shared: dict[object, object] = {}

    def one(value: object) -> object:
        return shared.setdefault(value, value)

    columns = []
    for name in ROW_SCHEMA:
        values = table.get_column(name).to_list()
        if name == "ome_mg_per_day":
            values = [None if v is None else Decimal(v) for v in values]
        elif name in _TUPLES:
            values = [one(tuple(v)) for v in values]
        elif ROW_SCHEMA[name] == pl.String() and name != "patient_id":
            values = [one(v) for v in values]
        columns.append(values)
    return tuple(PatientRow(*values) for values in zip(*columns, strict=True))


def decided_table(decided: Decided, omes: Sequence[OmeSummary | None]) -> pl.DataFrame:
    """The rows of the patients decided per class, in columns (as ``engine._row`` builds them).

    Each result list of ``decided`` (scopes, factor statuses, strata, bands) and each OME is
    turned into columns once and gathered by the patients' result ids.
    """
    f = decided.frame
    if not f.height:
        return pl.DataFrame(schema=ROW_SCHEMA)

    def gather(values: Sequence[object], dtype: pl.DataType, ids: str) -> pl.Series:
        return pl.Series(values=list(values), dtype=dtype).gather(f.get_column(ids))

    scopes, statuses, strats = decided.scopes, decided.statuses, decided.strats
    present = [[r for r, st in s if st is FactorStatus.PRESENT] for s in statuses]
    unknown = [[r for r, st in s if st is FactorStatus.UNKNOWN] for s in statuses]
    totals = ["0" if o is None else str(o.total) for o in omes]
    complete = [True if o is None else o.complete for o in omes]
    return pl.DataFrame(
        {
            "patient_id": f.get_column("patient_id"),
            "status": pl.repeat("screened", f.height, dtype=pl.String, eager=True),
            "in_scope": gather([s[0] for s in scopes], pl.Boolean(), "scope"),
            "scope_rule": gather([s[1] for s in scopes], pl.String(), "scope"),
            "scope_reason": gather([s[2] for s in scopes], pl.String(), "scope"),
            "history": f.get_column("evidence"),
            "ome_mg_per_day": gather(totals, pl.String(), "ome_id"),
            "ome_complete": gather(complete, pl.Boolean(), "ome_id") & ~f.get_column("assumed"),
            "ome_method": f.get_column("ome_method"),
            "factors_present": gather(present, _TEXTS, "status"),
            "factors_unknown": gather(unknown, _TEXTS, "status"),
            "risk_level": gather([s[0] for s in strats], pl.String(), "strat"),
            "risk_level_if_unknown": gather([s[1] for s in strats], pl.String(), "strat"),
            "tier": gather([s[2] for s in strats], pl.String(), "strat"),
            "tier_if_unknown": gather([s[3] for s in strats], pl.String(), "strat"),
            "unknowns_that_could_change": gather([list(s[4]) for s in strats], _TEXTS, "strat"),
            "readiness_to_change": f.get_column("readiness_to_change"),
            "band": gather([b[0] for b in decided.bands], pl.String(), "band"),
            "band_reason": gather([b[1] for b in decided.bands], pl.String(), "band"),
        },
        schema=ROW_SCHEMA,
    )


_SCALE: Final = 18  # decimal places of the exact sort key (the columnar OMEs fit; see ordered)
_SORT_DTYPE: Final = pl.Decimal(38, _SCALE)


def _exact_key(table: pl.DataFrame) -> pl.Series | None:
    """The OMEs as ``Decimal(38, 18)`` when every one converts exactly, else ``None``."""
    texts = table.get_column("ome_mg_per_day").fill_null("0")
    for text in texts.unique().to_list():
        value = Decimal(text)
        exponent = value.as_tuple().exponent
        if (
            "E" in text.upper()
            or not isinstance(exponent, int)
            or exponent < -_SCALE
            or value.adjusted() >= 38 - _SCALE
        ):
            return None
    return texts.cast(_SORT_DTYPE)


def ordered(table: pl.DataFrame, method: ScreeningMethod) -> pl.DataFrame:
    """``table`` in worklist order: band, then the method's keys (largest first), then id.

    The OME is compared exactly: as ``Decimal(38, 18)`` in columns when every value converts
    exactly (always, for the columnar engine's values), else by Python's :class:`Decimal`.
    """
    band = pl.col("band")
    by: list[pl.Expr] = [
        pl.when(band.str.contains(r"^\d+$"))
        .then(band.cast(pl.Int64, strict=False))
        .otherwise(pl.lit(_UNLISTED_ORDER))
    ]
    descending = [False]
    exact = _exact_key(table)
    if exact is None and "ome_mg_per_day" in method.order_within_band:
        return _ordered_in_python(table, method)
    for k in method.order_within_band:
        if k == "ome_mg_per_day" and exact is not None:
            by.append(pl.col("_ome_key"))
            descending.append(True)
        elif k == "factors_present":
            by.append(pl.col("factors_present").list.len())
            descending.append(True)
    by.append(pl.col("patient_id"))
    descending.append(False)
    keyed = table if exact is None else table.with_columns(exact.alias("_ome_key"))
    return keyed.sort(by, descending=descending, maintain_order=True).select(list(ROW_SCHEMA))


def _ordered_in_python(table: pl.DataFrame, method: ScreeningMethod) -> pl.DataFrame:
    rows = table_rows(table)

    def key(i: int) -> tuple[object, ...]:
        r = rows[i]
        extra: list[object] = []
        for k in method.order_within_band:
            if k == "ome_mg_per_day":
                extra.append((r.ome_mg_per_day or Decimal(0)).copy_negate())  # exact
            elif k == "factors_present":
                extra.append(-len(r.factors_present))
        band = int(r.band) if r.band.isdigit() else _UNLISTED_ORDER
        return (band, *extra, r.patient_id)

    return table[sorted(range(len(rows)), key=key)]


DOSE_SOURCES: Final = (
    ("dosage-text", "from the dosage text"),
    ("quantity-interval", "from the quantity estimate"),
    ("patch-assumed-one", "patches assumed one at a time"),
    ("not-computable", "not computable"),
)
"""The ways a current opioid's daily dose is obtained (build.py), with how people read them."""
_SOURCE_AT: Final = r"(?:^| \| ){}: "
_DOSE_SOURCE_IN_TEXT: Final = re.compile(
    _SOURCE_AT.format("(" + "|".join(re.escape(key) for key, _ in DOSE_SOURCES) + ")")
)


def dose_sources(ome_method: str) -> frozenset[str]:
    """The ways the daily doses of a row's current opioids were obtained (``DOSE_SOURCES`` keys).

    ``ome_method`` is a worklist row's method text ("dosage-text: ... | quantity-interval:
    ..."); empty for a patient without a current opioid or not screened.
    """
    return frozenset(m.group(1) for m in _DOSE_SOURCE_IN_TEXT.finditer(ome_method))


def dose_sources_line(counts: Mapping[str, int]) -> str:
    """One line for people: how many screened patients' daily doses came from where (issue 16).

    From the ``dose_source:...`` counts of a screening; a patient with several current
    opioids obtained in different ways counts once under each. The issue extract has no
    structured dose fields, so no dose comes from them.
    """
    parts = ", ".join(
        f"{counts.get(f'dose_source:{key}', 0):,} {label}" for key, label in DOSE_SOURCES
    )
    return (
        f"Daily doses of current opioids, in patients: {parts}; none from structured dose "
        "fields (the extract has none). A patient whose doses were obtained in two ways counts "
        "in both."
    )


def counts(table: pl.DataFrame, problems: Sequence[RowProblem]) -> dict[str, int]:
    """What :attr:`Screening.counts` holds, counted in columns (``table`` in worklist order).

    Per tier, level, band and dose source in the order each first appears in the worklist.
    """
    in_scope = pl.col("in_scope").fill_null(value=False)
    out_of_scope = (~pl.col("in_scope")).fill_null(value=False)
    sums = table.select(
        (pl.col("status") == "screened").sum().alias("screened"),
        in_scope.sum().alias("in_scope"),
        out_of_scope.sum().alias("out_of_scope"),
        (pl.col("band") != BAND_NOT_LISTED).sum().alias("on_worklist"),
        (~pl.col("ome_complete") & in_scope).sum().alias("incomplete"),
    ).row(0, named=True)
    out: dict[str, int] = {
        "patients": table.height,
        "patients_screened": int(sums["screened"] or 0),
        "patients_not_screened": table.height - int(sums["screened"] or 0),
        "in_scope": int(sums["in_scope"] or 0),
        "out_of_scope": int(sums["out_of_scope"] or 0),
        "on_worklist": int(sums["on_worklist"] or 0),
        "ome_incomplete_in_scope": int(sums["incomplete"] or 0),
        "problem_rows": len(problems),
        "problem_rows_issues": sum(p.file == "issues" for p in problems),
        "problem_rows_patients": sum(p.file == "patients" for p in problems),
    }
    out.update(_value_counts(table))
    for p in problems:
        out[f"problem:{p.reason}"] = out.get(f"problem:{p.reason}", 0) + 1
    return out


def _value_counts(table: pl.DataFrame) -> dict[str, int]:
    """``tier:``, ``level:``, ``band:`` and ``dose_source:`` counts, by first appearance."""
    at = pl.int_range(pl.len(), dtype=pl.Int64).alias("_at")
    found: list[tuple[int, int, str, int]] = []  # (first row, kind order, key, count)
    for order, (prefix, column) in enumerate(
        (("tier", "tier"), ("level", "risk_level"), ("band", "band"))
    ):
        groups = (
            table.select(pl.col(column).alias("_v"), at)
            .drop_nulls("_v")
            .group_by("_v")
            .agg(pl.col("_at").min(), pl.len().alias("_n"))
        )
        found.extend((a, order, f"{prefix}:{v}", n) for v, a, n in groups.iter_rows())
    for k, (key, _) in enumerate(DOSE_SOURCES):
        has = pl.col("ome_method").str.contains(_SOURCE_AT.format(re.escape(key)))
        row = table.select(at, has.alias("_has")).filter(pl.col("_has"))
        if row.height:
            found.append((int(row.item(0, "_at")), 3 + k, f"dose_source:{key}", row.height))
    return {key: n for _, _, key, n in sorted(found)}
