"""Questionnaire records and their scores, item by item, by the rules in ``instruments/``.

A record is one completed questionnaire: patient, date, instrument and the item responses
(``None`` for an item left blank). :func:`score_questionnaire` checks every response against
its item (a response outside the item's allowed values is an
:class:`~opioidcds.InvalidInputError` naming the item, never a score) and computes each score
by its method and missing-item rule (a score that the rule does not allow is "cannot score",
with the reason). :func:`read_questionnaires` reads a CSV/Parquet file of records, one row per
questionnaire. See ``docs/evaluation.md``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Final, Literal

import polars as pl
from pydantic import Field, StrictInt

from opioidcds._base import InputModel
from opioidcds._errors import InvalidInputError
from opioidcds.population.instruments import (
    Instrument,
    InstrumentScore,
    ValueSet,
    default_instruments,
)
from opioidcds.population.schema import RowProblem, read_table

__all__ = [
    "INDEX_SCORE",
    "QUESTIONNAIRE_COLUMNS",
    "QuestionnaireRecord",
    "ScoreResult",
    "ScoredQuestionnaire",
    "exact_decimal",
    "read_questionnaires",
    "score_questionnaire",
]

QUESTIONNAIRE_COLUMNS: Final = {
    "patient_id": "required: the pseudonymous patient identifier used in the issue extract",
    "completed_on": "required: the date the questionnaire was completed, YYYY-MM-DD",
    "instrument": "required: bpi-sf, wemwbs, swemwbs or eq-5d-5l (instruments/*.toml)",
    "practice_id": "optional: the patient's practice (else the extract's practice_id)",
    "<item id>": "one column per item id of the instruments (e.g. worst, mood, optimistic, "
    "mobility, vas): a whole number, blank when the item was not answered",
}
"""The columns of the questionnaire file (one row per completed questionnaire)."""

INDEX_SCORE: Final = "index"
"""The id of the EQ-5D-5L index score, present only when a value set is loaded."""

_MAX_ID = 64
_FIXED: Final = ("patient_id", "completed_on", "instrument", "practice_id")
_EARLIEST: Final = dt.date(1990, 1, 1)


class QuestionnaireRecord(InputModel):
    """One completed questionnaire.

    ``responses`` maps item ids of the instrument (``instruments/<instrument>.toml``) to the
    whole-number response, or ``None`` when the item was left blank; an item not given is
    blank too. Checked against the instrument by :func:`score_questionnaire`.
    """

    patient_id: str = Field(min_length=1, max_length=_MAX_ID)
    completed_on: dt.date
    instrument: str = Field(min_length=1, max_length=40)
    responses: dict[str, StrictInt | None]
    practice_id: str | None = Field(default=None, max_length=_MAX_ID)


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """One score of a questionnaire.

    ``status`` is ``"scored"`` or ``"cannot-score"`` (``reason`` then says which rule was not
    met; ``value`` is ``None``). ``value`` is exact (a mean of 7 items keeps its fraction in
    ``exact``; ``value`` is that fraction as a 28-digit decimal). A profile score has
    ``profile`` (e.g. ``"11121"``) and ``levels`` instead of a value. ``answered`` of ``of``
    items were answered.
    """

    score_id: str
    label: str
    status: Literal["scored", "cannot-score"]
    reason: str
    value: Decimal | None
    exact: Fraction | None
    profile: str | None
    levels: tuple[int, ...] | None
    answered: int
    of: int


@dataclass(frozen=True, slots=True)
class ScoredQuestionnaire:
    """A questionnaire record with its scores (in the instrument's order, then any index)."""

    record: QuestionnaireRecord
    instrument: Instrument
    scores: tuple[ScoreResult, ...]
    value_set: ValueSet | None = None

    def score(self, score_id: str) -> ScoreResult:
        """The score ``score_id``.

        Raises:
            KeyError: no such score.
        """
        for s in self.scores:
            if s.score_id == score_id:
                return s
        raise KeyError(score_id)


def exact_decimal(value: Fraction) -> Decimal:
    """``value`` as a Decimal: exact when it terminates, else to 28 significant digits.

    Equal fractions always give equal decimals (the conversion depends on the reduced fraction
    only), so ties between scores are never broken by rounding.
    """
    return Decimal(value.numerator) / Decimal(value.denominator)


def _check(inst: Instrument, responses: Mapping[str, int | None]) -> None:
    """Every response is an item of ``inst`` with an allowed value.

    Raises:
        InvalidInputError: an unknown item, or a response outside the item's allowed values
            (the field names the item; the message never holds the response).
    """
    known = {i.id for i in inst.items}
    for item_id in responses:
        if item_id not in known:
            raise InvalidInputError(
                f"responses.{item_id}", f"not an item of {inst.short_name} ({inst.id})"
            )
    for it in inst.items:
        value = responses.get(it.id)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not it.allows(value):
            raise InvalidInputError(
                f"responses.{it.id}",
                f"{inst.short_name} item {it.number} ({it.label}) {it.rule}",
            )


def _cannot(s: InstrumentScore, reason: str, answered: int) -> ScoreResult:
    return ScoreResult(
        score_id=s.id,
        label=s.label,
        status="cannot-score",
        reason=reason,
        value=None,
        exact=None,
        profile=None,
        levels=None,
        answered=answered,
        of=len(s.items),
    )


def _scored(
    s: InstrumentScore,
    exact: Fraction | None,
    answered: int,
    *,
    value: Decimal | None = None,
    levels: tuple[int, ...] | None = None,
) -> ScoreResult:
    return ScoreResult(
        score_id=s.id,
        label=s.label,
        status="scored",
        reason="",
        value=value if value is not None else (None if exact is None else exact_decimal(exact)),
        exact=exact,
        profile=None if levels is None else "".join(str(v) for v in levels),
        levels=levels,
        answered=answered,
        of=len(s.items),
    )


def _score_one(
    inst: Instrument, s: InstrumentScore, responses: Mapping[str, int | None]
) -> ScoreResult:
    given = [responses[i] for i in s.items if responses.get(i) is not None]
    answers = [int(v) for v in given if v is not None]
    n = len(answers)
    if n < s.min_answered:
        need = "all" if s.min_answered == len(s.items) else f"at least {s.min_answered}"
        return _cannot(
            s, f"{n} of {len(s.items)} items answered; {need} needed ({s.missing_rule})", n
        )
    if s.method == "profile":
        return _scored(s, None, n, levels=tuple(answers))
    if s.method == "item":
        return _scored(s, Fraction(answers[0]), n)
    if s.method == "sum":
        return _scored(s, Fraction(sum(answers)), n)
    if s.method == "mean":
        return _scored(s, Fraction(sum(answers), n), n)
    # lookup: the converted value of the complete raw sum (the table covers every raw sum)
    converted = inst.lookups[s.id][sum(answers)]
    return _scored(s, Fraction(converted), n, value=converted)


def _index(inst: Instrument, value_set: ValueSet, profile: ScoreResult) -> ScoreResult:
    dims = inst.score("profile").items
    base = ScoreResult(
        score_id=INDEX_SCORE,
        label=f"EQ-5D-5L index (value set {value_set.id} {value_set.version})",
        status="cannot-score",
        reason="the profile cannot be scored (all five dimensions are needed)",
        value=None,
        exact=None,
        profile=None,
        levels=None,
        answered=profile.answered,
        of=len(dims),
    )
    if profile.levels is None:
        return base
    value = value_set.index(profile.levels, dims)
    return ScoreResult(
        score_id=INDEX_SCORE,
        label=base.label,
        status="scored",
        reason="",
        value=value,
        exact=Fraction(value),
        profile=None,
        levels=None,
        answered=profile.answered,
        of=len(dims),
    )


def score_questionnaire(
    record: QuestionnaireRecord,
    *,
    instruments: Mapping[str, Instrument] | None = None,
    value_set: ValueSet | None = None,
) -> ScoredQuestionnaire:
    """Check ``record`` item by item and compute every score of its instrument.

    ``instruments``: by id (default: the bundled ``instruments/``). ``value_set``: an EQ-5D-5L
    value set loaded by the caller (:func:`~opioidcds.population.instruments.load_value_set`);
    with it, an EQ-5D-5L record also gets the ``index`` score.

    Raises:
        InvalidInputError: an unknown instrument, an item the instrument does not have, or a
            response outside its item's allowed values (the field names the item).
    """
    known = instruments if instruments is not None else default_instruments()
    inst = known.get(record.instrument)
    if inst is None:
        raise InvalidInputError(
            "instrument", "unknown instrument: one of " + ", ".join(sorted(known))
        )
    _check(inst, record.responses)
    scores = [_score_one(inst, s, record.responses) for s in inst.scores]
    if value_set is not None and inst.id == "eq-5d-5l":
        profile = next(s for s in scores if s.score_id == "profile")
        scores.append(_index(inst, value_set, profile))
    return ScoredQuestionnaire(
        record=record,
        instrument=inst,
        scores=tuple(scores),
        value_set=value_set if inst.id == "eq-5d-5l" else None,
    )


# --- the questionnaire file ----------------------------------------------------------------


def _cell(row: Mapping[str, object], col: str) -> str:
    value = row.get(col)
    return "" if value is None else str(value).strip()


def _responses(
    row: Mapping[str, object], inst: Instrument, present: Sequence[str]
) -> dict[str, int | None]:
    """The row's responses to ``inst``'s items (blank: ``None``).

    Raises:
        InvalidInputError: an answered item of another instrument, or a cell that is not a
            whole number (the field names the column).
    """
    own = {i.id for i in inst.items}
    responses: dict[str, int | None] = {}
    for col in present:
        cell = _cell(row, col)
        if col not in own:
            if cell:
                raise InvalidInputError(
                    col, f"answered, but not an item of {inst.short_name}: leave it blank"
                )
            continue
        if not cell:
            responses[col] = None
        elif cell.isdigit() and cell.isascii() and len(cell) <= 4:
            responses[col] = int(cell)
        else:
            it = inst.item(col)
            raise InvalidInputError(
                col, f"{inst.short_name} item {it.number} ({it.label}) {it.rule}"
            )
    return responses


def _row_record(
    row: Mapping[str, object], known: Mapping[str, Instrument], present: Sequence[str]
) -> QuestionnaireRecord:
    """One row as a checked record.

    Raises:
        InvalidInputError: the first problem of the row (the field names the column).
    """
    pid, when = _cell(row, "patient_id"), _cell(row, "completed_on")
    if not pid or len(pid) > _MAX_ID:
        raise InvalidInputError("patient_id", f"missing or longer than {_MAX_ID} characters")
    try:
        date = dt.date.fromisoformat(when)
    except ValueError:
        raise InvalidInputError("completed_on", "missing or not a date (YYYY-MM-DD)") from None
    if date < _EARLIEST:
        raise InvalidInputError("completed_on", f"before {_EARLIEST.isoformat()}")
    inst = known.get(_cell(row, "instrument").lower())
    if inst is None:
        raise InvalidInputError(
            "instrument", "missing or unknown: one of " + ", ".join(sorted(known))
        )
    practice = _cell(row, "practice_id") or None
    if practice is not None and len(practice) > _MAX_ID:
        raise InvalidInputError("practice_id", f"longer than {_MAX_ID} characters")
    record = QuestionnaireRecord(
        patient_id=pid,
        completed_on=date,
        instrument=inst.id,
        responses=_responses(row, inst, present),
        practice_id=practice,
    )
    _check(inst, record.responses)
    return record


def _row_records(
    df: pl.DataFrame, known: Mapping[str, Instrument], what: str
) -> tuple[list[tuple[int, QuestionnaireRecord]], list[RowProblem]]:
    """Each row as a checked record, or a problem naming the column or item (never a value)."""
    item_columns = {i.id for inst in known.values() for i in inst.items}
    present = [c for c in df.columns if c in item_columns]
    out: list[tuple[int, QuestionnaireRecord]] = []
    problems: list[RowProblem] = []
    for n, row in enumerate(df.iter_rows(named=True), start=1):
        try:
            out.append((n, _row_record(row, known, present)))
        except InvalidInputError as exc:
            field = exc.field.removeprefix("responses.")
            problems.append(RowProblem(what, n, f"{field}: {exc.rule}"))
    return out, problems


def read_questionnaires(
    source: str | Path | pl.DataFrame,
    *,
    instruments: Mapping[str, Instrument] | None = None,
    strict: bool = False,
) -> tuple[tuple[QuestionnaireRecord, ...], tuple[RowProblem, ...]]:
    """Read a questionnaire file (CSV or Parquet, one row per questionnaire; wide).

    Columns: :data:`QUESTIONNAIRE_COLUMNS`. Each row is checked item by item: a row with a
    response outside its item's allowed values, an answered item of another instrument, an
    unknown instrument or a bad date is excluded and listed (file, row, the column and the
    rule; never the value). Two rows of one patient, date and instrument are both excluded
    (which one is right cannot be told). Unknown columns are ignored.

    Returns:
        The usable records (in file order) and the problems.

    Raises:
        InvalidInputError: the file cannot be read or lacks a required column; with
            ``strict``, also the first problem row (the field names the row and column).
    """
    what = "questionnaires"
    known = instruments if instruments is not None else default_instruments()
    df = source if isinstance(source, pl.DataFrame) else read_table(source, what=what)
    df = df.rename({c: c.strip().lower() for c in df.columns}).cast(pl.String)
    missing = [c for c in _FIXED[:3] if c not in df.columns]
    if missing:
        raise InvalidInputError(what, "missing required column(s): " + ", ".join(missing))
    rows, problems = _row_records(df, known, what)
    seen: dict[tuple[str, dt.date, str], list[int]] = {}
    for n, rec in rows:
        seen.setdefault((rec.patient_id, rec.completed_on, rec.instrument), []).append(n)
    doubled = {n for ns in seen.values() if len(ns) > 1 for n in ns}
    problems += [
        RowProblem(what, n, "another row has the same patient_id, completed_on and instrument")
        for n in sorted(doubled)
    ]
    problems.sort(key=lambda p: p.row)
    if strict and problems:
        first = problems[0]
        raise InvalidInputError(f"{what} row {first.row}", first.reason)
    records = tuple(rec for n, rec in rows if n not in doubled)
    return records, tuple(problems)
