"""Patient-reported outcome instruments as cited data (``instruments/``), read and checked once.

Each instrument file holds item identifiers with their allowed responses, the scores with
their method and missing-item rule, the direction of improvement, any important-change
threshold, citations and the licence statement; never the questionnaire's wording (the
instruments are copyrighted). See ``docs/evaluation.md`` and ``instruments/README.md``.

An EQ-5D-5L index needs a value set: none ships (its licence is not established), so a caller
loads one as data with :func:`load_value_set` (its citation and licence travel with the result).
"""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal, InvalidOperation
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from opioidcds._errors import KnowledgeBaseError
from opioidcds._knowledge.files import (
    Citation,
    KnowledgeHeader,
    KnowledgeModel,
    check_citations,
    read_knowledge_file,
)
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds._knowledge.provenance import KnowledgeSource, file_source

__all__ = [
    "Instrument",
    "InstrumentItem",
    "InstrumentScore",
    "ValueSet",
    "default_instruments",
    "load_instrument",
    "load_value_set",
]

_ID = r"^[a-z0-9][a-z0-9_.-]*$"
_MAX_TABLE_BYTES = 100_000


class InstrumentItem(KnowledgeModel):
    """One item: its id, number on the form, a short label, and the allowed whole responses.

    A response must be a whole number from ``min`` to ``max`` that is a multiple of ``step``
    counted from ``min`` (BPI relief: 0-100 in steps of 10).
    """

    id: str = Field(pattern=_ID)
    number: str = Field(min_length=1)
    label: str = Field(min_length=1, max_length=80)
    min: int = Field(ge=0)
    max: int = Field(ge=0, le=1000)
    step: int = Field(default=1, ge=1)
    citations: tuple[str, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _range(self) -> InstrumentItem:
        if self.max <= self.min or (self.max - self.min) % self.step:
            raise ValueError("max must be above min by a whole number of steps")
        return self

    def allows(self, value: int) -> bool:
        """Whether ``value`` is an allowed response of this item."""
        return self.min <= value <= self.max and (value - self.min) % self.step == 0

    @property
    def rule(self) -> str:
        """The allowed responses in words (for error messages: no response value in it)."""
        steps = f" in steps of {self.step}" if self.step != 1 else ""
        return f"must be a whole number from {self.min} to {self.max}{steps}"


ScoreMethod = Literal["mean", "sum", "item", "lookup", "profile"]


class InstrumentScore(KnowledgeModel):
    """One score of an instrument.

    ``method``: ``mean`` / ``sum`` of ``items`` (scored when at least ``min_answered`` are
    answered; a mean is over the answered items), ``item`` (one item), ``lookup`` (the score
    ``from_score`` converted by the CSV ``table``), ``profile`` (the items' levels as a text
    such as ``"11121"``). ``better``: the direction of improvement. ``important_change``: a
    change of at least this many points, in the better or worse direction, counts as important
    (its own citations).
    """

    id: str = Field(pattern=_ID)
    label: str = Field(min_length=1, max_length=100)
    method: ScoreMethod
    items: tuple[str, ...] = Field(min_length=1)
    min_answered: int = Field(ge=1)
    min: Decimal | None = None
    max: Decimal | None = None
    better: Literal["lower", "higher"]
    missing_rule: str = Field(min_length=1)
    from_score: str | None = None
    table: str | None = None
    important_change: Decimal | None = Field(default=None, gt=0)
    important_change_citations: tuple[str, ...] = ()
    citations: tuple[str, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _shape(self) -> InstrumentScore:
        if self.min_answered > len(self.items):
            raise ValueError("min_answered is more than the number of items")
        if self.method == "item" and len(self.items) != 1:
            raise ValueError("an 'item' score has exactly one item")
        if self.method in ("sum", "lookup", "profile") and self.min_answered != len(self.items):
            raise ValueError("a sum, lookup or profile needs every item answered")
        if self.method == "lookup" and (self.from_score is None or self.table is None):
            raise ValueError("a lookup score names from_score and table")
        if self.method != "profile" and (self.min is None or self.max is None):
            raise ValueError("a numeric score states its min and max")
        if self.important_change is not None and not self.important_change_citations:
            raise ValueError("an important_change needs important_change_citations")
        return self


class _InstrumentFile(KnowledgeHeader):
    kind: Literal["prom-instrument"]
    name: str = Field(min_length=1)
    short_name: str = Field(min_length=1, max_length=20)
    reviewer: str = Field(min_length=1)
    recall_period: str = Field(min_length=1)
    licence: str = Field(min_length=1)
    items: tuple[InstrumentItem, ...] = Field(min_length=1)
    scores: tuple[InstrumentScore, ...] = Field(min_length=1)


class Instrument(KnowledgeModel):
    """A loaded, checked instrument definition (see :func:`load_instrument`).

    ``lookups`` maps a lookup score's id to its table (whole raw score -> converted score).
    ``source``: the file's provenance entry (SHA-256 over the file and its tables).
    """

    id: str
    name: str
    short_name: str
    version: str
    effective_date: dt.date
    recall_period: str
    licence: str
    items: tuple[InstrumentItem, ...]
    scores: tuple[InstrumentScore, ...]
    citations: tuple[Citation, ...]
    lookups: dict[str, dict[int, Decimal]]
    source: KnowledgeSource

    def item(self, item_id: str) -> InstrumentItem:
        """The item ``item_id``.

        Raises:
            KeyError: no such item.
        """
        for it in self.items:
            if it.id == item_id:
                return it
        raise KeyError(item_id)

    def score(self, score_id: str) -> InstrumentScore:
        """The score ``score_id``.

        Raises:
            KeyError: no such score.
        """
        for s in self.scores:
            if s.id == score_id:
                return s
        raise KeyError(score_id)

    def citation_text(self, ids: tuple[str, ...]) -> tuple[str, ...]:
        """The texts of the citations ``ids`` (in that order)."""
        by_id = {c.id: c.text for c in self.citations}
        return tuple(by_id[i] for i in ids)


def _read_lookup(path: Path, score: InstrumentScore, source: InstrumentScore) -> dict[int, Decimal]:
    """A raw -> converted table: one row per whole raw score of ``source``, increasing values.

    Raises:
        KnowledgeBaseError: missing, malformed, incomplete, or not strictly increasing.
    """
    name = path.name
    try:
        if path.stat().st_size > _MAX_TABLE_BYTES:
            raise KnowledgeBaseError(f"{name}: larger than {_MAX_TABLE_BYTES} bytes")
        lines = [
            ln for ln in path.read_text(encoding="utf-8").splitlines() if not ln.startswith("#")
        ]
    except (OSError, UnicodeDecodeError):
        raise KnowledgeBaseError(f"{name}: cannot be read") from None
    rows = list(csv.reader(lines))
    if not rows or [c.strip() for c in rows[0]] != ["raw_score", "metric_score"]:
        raise KnowledgeBaseError(f"{name}: header must be raw_score,metric_score")
    table: dict[int, Decimal] = {}
    try:
        for row in rows[1:]:
            raw, metric = int(row[0]), Decimal(row[1])
            if raw in table or not metric.is_finite():
                raise KnowledgeBaseError(f"{name}: duplicate raw score or non-finite value")
            table[raw] = metric
    except (ValueError, IndexError, InvalidOperation):
        raise KnowledgeBaseError(f"{name}: every row is a whole raw score and a decimal") from None
    if source.min is None or source.max is None or score.min is None or score.max is None:
        raise KnowledgeBaseError(f"{name}: the scores must state their ranges")
    expected = list(range(int(source.min), int(source.max) + 1))
    if sorted(table) != expected:
        raise KnowledgeBaseError(f"{name}: needs exactly one row per raw score of '{source.id}'")
    values = [table[r] for r in expected]
    if any(b <= a for a, b in pairwise(values)):
        raise KnowledgeBaseError(f"{name}: converted scores must increase strictly")
    if values[0] < score.min or values[-1] > score.max:
        raise KnowledgeBaseError(f"{name}: converted scores outside the range of '{score.id}'")
    return table


def load_instrument(path: str | Path) -> Instrument:
    """Load and check an instrument file (and the lookup tables it names, beside it).

    Checks: citation ids exist; item ids are unique; every score's items exist; a lookup's
    source score exists and its table has one strictly increasing row per raw score; a score's
    range is what its items can give.

    Raises:
        KnowledgeBaseError: the file or a table is missing, malformed or inconsistent.
    """
    p = Path(path)
    data = read_knowledge_file(p, _InstrumentFile)
    used: dict[str, list[str]] = {f"items.{i.id}": list(i.citations) for i in data.items}
    for s in data.scores:
        used[f"scores.{s.id}"] = list(s.citations)
        if s.important_change_citations:
            used[f"scores.{s.id}.important_change"] = list(s.important_change_citations)
    check_citations(p.name, data, used)
    items = {i.id: i for i in data.items}
    if len(items) != len(data.items):
        raise KnowledgeBaseError(f"{p.name}: duplicate item id")
    scores = {s.id: s for s in data.scores}
    if len(scores) != len(data.scores):
        raise KnowledgeBaseError(f"{p.name}: duplicate score id")
    lookups: dict[str, dict[int, Decimal]] = {}
    for s in data.scores:
        missing = [i for i in s.items if i not in items]
        if missing:
            raise KnowledgeBaseError(f"{p.name}: score '{s.id}' names unknown item '{missing[0]}'")
        lows = [items[i].min for i in s.items]
        highs = [items[i].max for i in s.items]
        reach = {
            "sum": (sum(lows), sum(highs)),
            "mean": (min(lows), max(highs)),
            "item": (lows[0], highs[0]),
        }.get(s.method)
        if reach is not None and (s.min, s.max) != (Decimal(reach[0]), Decimal(reach[1])):
            raise KnowledgeBaseError(f"{p.name}: score '{s.id}' range is not what its items give")
        if s.method == "lookup":
            source = scores.get(s.from_score or "")
            if source is None or source.method != "sum" or source.items != s.items:
                raise KnowledgeBaseError(
                    f"{p.name}: lookup '{s.id}' needs a sum score of the same items"
                )
            lookups[s.id] = _read_lookup(p.parent / (s.table or ""), s, source)
    return Instrument(
        id=data.id,
        name=data.name,
        short_name=data.short_name,
        version=data.version,
        effective_date=data.effective_date,
        recall_period=data.recall_period,
        licence=data.licence,
        items=data.items,
        scores=data.scores,
        citations=data.citations,
        lookups=lookups,
        source=file_source(
            "instrument",
            p,
            also=[p.parent / (s.table or "") for s in data.scores if s.method == "lookup"],
        ),
    )


@cache
def default_instruments() -> dict[str, Instrument]:
    """The bundled instruments (``instruments/*.toml``) by id, loaded once.

    Raises:
        KnowledgeBaseError: a bundled file is invalid.
    """
    folder = knowledge_dir("instruments")
    loaded = [load_instrument(p) for p in sorted(folder.glob("*.toml"))]
    return {i.id: i for i in loaded}


# --- EQ-5D-5L value sets, loaded by the caller ---------------------------------------------


class _ValueSetFile(KnowledgeHeader):
    kind: Literal["eq5d-value-set"]
    instrument: Literal["eq-5d-5l"]
    licence: str = Field(min_length=1)
    model: Literal["additive-decrements"]
    start: Decimal
    constant: Decimal = Decimal(0)
    decrements: dict[str, tuple[Decimal, Decimal, Decimal, Decimal, Decimal]]


class ValueSet(KnowledgeModel):
    """An EQ-5D-5L value set the caller loaded (see :func:`load_value_set`).

    Index of a profile = ``start`` - ``constant`` (when any dimension is above level 1) - the
    sum over dimensions of ``decrements[dimension][level - 1]``. Only this additive form is
    read; value sets of another form are refused rather than approximated.
    """

    id: str
    version: str
    effective_date: dt.date
    licence: str
    citations: tuple[Citation, ...]
    start: Decimal
    constant: Decimal
    decrements: dict[str, tuple[Decimal, Decimal, Decimal, Decimal, Decimal]]
    source: KnowledgeSource

    def index(self, levels: tuple[int, ...], dimensions: tuple[str, ...]) -> Decimal:
        """The index of the profile ``levels`` (in the order of ``dimensions``), exactly."""
        total = self.start
        if any(level > 1 for level in levels):
            total -= self.constant
        for dim, level in zip(dimensions, levels, strict=True):
            total -= self.decrements[dim][level - 1]
        return total


def load_value_set(path: str | Path, instrument: Instrument | None = None) -> ValueSet:
    """Load an EQ-5D-5L value set file (``kind = "eq5d-value-set"``) with its citation and licence.

    The file gives ``start`` (the value of 11111, usually 1), an optional ``constant`` and, for
    each of the instrument's five dimensions, the five decrements of levels 1-5 (level 1 is 0).

    Raises:
        KnowledgeBaseError: malformed, a dimension missing or unknown, level 1 not 0, or
            decrements that fall as the level rises.
    """
    p = Path(path)
    data = read_knowledge_file(p, _ValueSetFile)
    check_citations(p.name, data, {"value set": [c.id for c in data.citations]})
    inst = instrument if instrument is not None else default_instruments()["eq-5d-5l"]
    dims = inst.score("profile").items
    if set(data.decrements) != set(dims):
        raise KnowledgeBaseError(f"{p.name}: decrements must name exactly {', '.join(dims)}")
    for dim, steps in data.decrements.items():
        if steps[0] != 0 or any(b < a for a, b in pairwise(steps)):
            raise KnowledgeBaseError(f"{p.name}: '{dim}' decrements must start at 0 and not fall")
    return ValueSet(
        id=data.id,
        version=data.version,
        effective_date=data.effective_date,
        licence=data.licence,
        citations=data.citations,
        start=data.start,
        constant=data.constant,
        decrements=data.decrements,
        source=file_source("eq5d-value-set", p),
    )
