"""Practice comparison and trends, per practice and month.

The "Sustain" stage of the NHS England analysis of opioid-reduction programmes (2023):
practices monitor their opioid prescribing over time.

At the end of each month the extract is screened as of that date (the same screening as the
worklist). Per practice: patients on long-term opioids (in scope), their median daily OME,
patients above the high-dose threshold (the risk-factor rule at the threshold in use) and
their rate per 1,000 registered patients (the list size is data the caller gives), and new
long-term starts. Read like OpenPrescribing's practice measures: a practice's value per month
per 1,000 registered patients, against the other practices. See ``docs/evaluation.md``.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Final

import polars as pl

from opioidcds._decide.knowledge import Knowledge
from opioidcds._decide.rules import Profile
from opioidcds._errors import InvalidInputError
from opioidcds.population.build import resolve_product
from opioidcds.population.engine import PatientRow, Screening, _is_opioid_record, screen
from opioidcds.population.evaluation_method import EvaluationMethod
from opioidcds.population.outcomes import (
    NO_PRACTICE,
    OutcomesMethod,
    Spread,
    _snapshot,
    _spread,
)
from opioidcds.population.schema import RowProblem, read_issues, read_practices, read_table

__all__ = [
    "LIST_SIZE_COLUMNS",
    "ListSizes",
    "PracticeMonth",
    "month_ends",
    "practice_months",
    "read_list_sizes",
]

LIST_SIZE_COLUMNS: Final = {
    "practice_id": "required: the practice, as in the extract's practice_id column",
    "list_size": "required: registered patients, a whole number from 1 to 1,000,000",
    "month": "optional: YYYY-MM the size applies to (blank: every month without its own row)",
}
"""The columns of the list-size file (one row per practice, or per practice and month)."""

_MAX_LIST: Final = 1_000_000
_MAX_ID: Final = 64


@dataclass(frozen=True, slots=True)
class ListSizes:
    """Registered list sizes: ``default[practice]`` and ``by_month[(practice, 'YYYY-MM')]``."""

    default: Mapping[str, int]
    by_month: Mapping[tuple[str, str], int]

    def get(self, practice: str, month: dt.date) -> int | None:
        """The list size of ``practice`` in the month of ``month`` (``None`` when not given)."""
        key = (practice, month.strftime("%Y-%m"))
        return self.by_month.get(key, self.default.get(practice))


def read_list_sizes(
    source: str | Path | pl.DataFrame | Mapping[str, int],
) -> tuple[ListSizes, tuple[RowProblem, ...]]:
    """Read registered list sizes (a CSV/Parquet file, a frame, or a practice -> size mapping).

    A row with a missing practice, a size that is not a whole number from 1 to 1,000,000, or
    a bad month is excluded and listed; two rows for one practice and month are both excluded.

    Raises:
        InvalidInputError: the file cannot be read or lacks a required column.
    """
    what = "list sizes"
    if isinstance(source, Mapping):
        source = pl.DataFrame(
            {"practice_id": list(source), "list_size": [str(v) for v in source.values()]},
            schema={"practice_id": pl.String, "list_size": pl.String},
        )
    df = source if isinstance(source, pl.DataFrame) else read_table(source, what=what)
    df = df.rename({c: c.strip().lower() for c in df.columns}).cast(pl.String)
    missing = [c for c in ("practice_id", "list_size") if c not in df.columns]
    if missing:
        raise InvalidInputError(what, "missing required column(s): " + ", ".join(missing))
    has_month = "month" in df.columns
    rows: list[tuple[int, str, str, int]] = []
    problems: list[RowProblem] = []
    for n, rec in enumerate(df.iter_rows(named=True), start=1):
        practice = (rec.get("practice_id") or "").strip()
        size = (rec.get("list_size") or "").strip()
        month = (rec.get("month") or "").strip() if has_month else ""
        if not practice or len(practice) > _MAX_ID:
            problems.append(RowProblem(what, n, "practice_id missing or longer than 64"))
        elif not (size.isdigit() and size.isascii() and 1 <= int(size) <= _MAX_LIST):
            problems.append(RowProblem(what, n, "list_size not a whole number from 1 to 1000000"))
        elif month and not _is_month(month):
            problems.append(RowProblem(what, n, "month not YYYY-MM"))
        else:
            rows.append((n, practice, month, int(size)))
    keys: dict[tuple[str, str], list[int]] = {}
    for n, practice, month, _ in rows:
        keys.setdefault((practice, month), []).append(n)
    doubled = {n for ns in keys.values() if len(ns) > 1 for n in ns}
    problems += [
        RowProblem(what, n, "another row has the same practice_id and month")
        for n in sorted(doubled)
    ]
    default = {p: s for n, p, m, s in rows if n not in doubled and not m}
    by_month = {(p, m): s for n, p, m, s in rows if n not in doubled and m}
    return ListSizes(default, by_month), tuple(sorted(problems, key=lambda p: p.row))


def _is_month(text: str) -> bool:
    try:
        dt.datetime.strptime(text, "%Y-%m")
    except ValueError:
        return False
    return len(text) == 7


def month_ends(last: dt.date, months: int) -> list[dt.date]:
    """The last days of the ``months`` calendar months ending at ``last``'s month.

    ``last``'s own month counts only when ``last`` is its final day (a month is reported
    complete); oldest first.
    """
    year, month = last.year, last.month
    if last.day != calendar.monthrange(year, month)[1]:
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    out: list[dt.date] = []
    for _ in range(months):
        out.append(dt.date(year, month, calendar.monthrange(year, month)[1]))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


@dataclass(frozen=True, slots=True)
class PracticeMonth:
    """One practice (or ``"all practices"``) at one month's end.

    ``long_term``: patients on long-term opioids (in scope); ``median_ome``: median and IQR
    of their complete daily OMEs (``lower_bounds`` more are lower bounds, left out);
    ``high_dose``: above the high-dose threshold (``high_dose_unknown``: a lower bound below it
    or the factor unknown); ``list_size``: registered patients (``None`` when not given: the
    rates are then ``None``, never a guess); rates per ``per`` registered patients.
    ``new_long_term``: new long-term starts this month; ``new_unknown``: patients who became
    long-term this month whose history is too short to tell whether the start was new.
    """

    practice: str
    month: dt.date
    list_size: int | None
    per: int
    long_term: int
    median_ome: Spread | None
    lower_bounds: int
    high_dose: int
    high_dose_unknown: int
    high_dose_rate: Decimal | None
    long_term_rate: Decimal | None
    new_long_term: int
    new_unknown: int


ALL_PRACTICES: Final = "all practices"


def _first_opioid_issue(issues: pl.DataFrame) -> tuple[dict[str, dt.date], dt.date | None]:
    """Each patient's first opioid issue date in the extract, and the extract's first date."""
    good, _ = read_issues(issues)
    if good.height == 0:
        return {}, None
    pairs = good.select("dmd_code", "product_name").unique()
    opioid = []
    for code, name in pairs.iter_rows():
        r = resolve_product(code, name)
        if r.kind is not None and _is_opioid_record(r.dmd_code, r.product_name, None):
            opioid.append((code, name))
    start = good.get_column("issue_date").min()
    if not opioid:
        return {}, start if isinstance(start, dt.date) else None
    keys = pl.DataFrame(
        opioid, schema={"dmd_code": pl.String, "product_name": pl.String}, orient="row"
    )
    firsts = (
        good.join(keys, on=["dmd_code", "product_name"], how="semi", nulls_equal=True)
        .group_by("patient_id")
        .agg(pl.col("issue_date").min())
    )
    return (
        dict(zip(firsts.get_column("patient_id"), firsts.get_column("issue_date"), strict=True)),
        start if isinstance(start, dt.date) else None,
    )


def _rate(count: int, size: int | None, per: int) -> Decimal | None:
    return None if size is None else Decimal(count) * per / size


def practice_months(
    issues: pl.DataFrame,
    patients: pl.DataFrame | None,
    list_sizes: ListSizes,
    *,
    months: Sequence[dt.date],
    method: EvaluationMethod,
    outcomes_method: OutcomesMethod,
    knowledge: Knowledge | None = None,
    profile: Profile | None = None,
    history_from: dt.date | None = None,
) -> tuple[list[PracticeMonth], dict[dt.date, Screening]]:
    """Per practice and month (and all practices together): the figures of :class:`PracticeMonth`.

    ``months``: month-end dates, oldest first; the month before the first is screened too, to
    find who became long-term. ``history_from``: the date from which the extract holds every
    opioid issue (default: its first issue date); a start is new when the first opioid issue
    is at least ``method.new_start_washout_days`` after it.

    Returns:
        The rows (each month: every practice seen, sorted, then all practices) and the
        screening of each month end.
    """
    if not months:
        return [], {}
    first = months[0]
    before = first.replace(day=1) - dt.timedelta(days=1)
    firsts, start = _first_opioid_issue(issues)
    since = history_from or start
    washout = dt.timedelta(days=method.new_start_washout_days)
    screenings: dict[dt.date, Screening] = {}
    in_scope: dict[dt.date, set[str]] = {}
    for when in [before, *months]:
        s = screen(issues, patients, as_of=when, knowledge=knowledge, profile=profile)
        screenings[when] = s
        in_scope[when] = {r.patient_id for r in s.rows if r.in_scope is True}
    out: list[PracticeMonth] = []
    prev = before
    for when in months:
        where = read_practices(issues, up_to=when)
        rows = [r for r in screenings[when].rows if r.in_scope is True]
        became = in_scope[when] - in_scope[prev]
        groups: dict[str, list[PatientRow]] = {}
        for r in rows:
            groups.setdefault(where.get(r.patient_id) or NO_PRACTICE, []).append(r)
        names = sorted(set(groups) | set(list_sizes.default) | {p for p, _ in list_sizes.by_month})
        sizes = {n: list_sizes.get(n, when) for n in names}
        # the pooled list only when every practice with patients has its size
        pooled = (
            sum(v for v in sizes.values() if v is not None)
            if all(sizes[n] is not None for n in groups) and any(sizes.values())
            else None
        )
        for name in [*names, ALL_PRACTICES]:
            members = rows if name == ALL_PRACTICES else groups.get(name, [])
            total_size = pooled if name == ALL_PRACTICES else sizes[name]
            snap = _snapshot(members, outcomes_method.high_dose_rule)
            new = unknown = 0
            for r in members:
                if r.patient_id not in became:
                    continue
                first_issue = firsts.get(r.patient_id)
                if since is not None and first_issue is not None and first_issue - since >= washout:
                    new += 1
                else:
                    unknown += 1
            out.append(
                PracticeMonth(
                    practice=name,
                    month=when,
                    list_size=total_size,
                    per=method.per,
                    long_term=snap.patients,
                    median_ome=_spread(
                        r.ome_mg_per_day
                        for r in members
                        if r.ome_complete and r.ome_mg_per_day is not None
                    ),
                    lower_bounds=snap.incomplete,
                    high_dose=snap.high_dose,
                    high_dose_unknown=snap.high_dose_unknown,
                    high_dose_rate=_rate(snap.high_dose, total_size, method.per),
                    long_term_rate=_rate(snap.patients, total_size, method.per),
                    new_long_term=new,
                    new_unknown=unknown,
                )
            )
        prev = when
    return out, screenings
