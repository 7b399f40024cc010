"""How exact numbers are written for people (foundation layer: imports nothing of opioidcds).

Results keep exact decimals; only what people read is rounded, and a rounded figure says so.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Final, TypeVar

__all__ = [
    "SEVERITY_ORDER",
    "citation_title",
    "format_date",
    "format_decimal",
    "most_serious_first",
    "plural",
    "words",
]

_T = TypeVar("_T")

SEVERITY_ORDER: Final = ("critical", "warning", "info")
"""Alert severities, most serious first: the order people see alerts in, everywhere."""

_DISPLAY_PLACES = Decimal("0.01")  # display precision, not clinical: the values stay exact
_DISPLAY_CONTEXT: Final = Context(prec=1000, rounding=ROUND_HALF_EVEN, traps=[])
"""The context figures are rounded for people in, whatever the caller's current context (a
host's 3-digit precision made the rounding raise; review, issue 20 fifth round). Its flags
are never read."""


_UNIT_SYMBOLS: Final = frozenset({"mg", "mL", "g", "mcg"})


def plural(noun: str) -> str:
    """The plural of a count noun or a time unit; a unit symbol ("mg", "mL") stays as it is.

    "tablet" -> "tablets", "patch" -> "patches", "suppository" -> "suppositories",
    "microgram" -> "micrograms"; a noun already ending in "s" is kept.
    """
    if noun in _UNIT_SYMBOLS or noun.endswith("s"):
        return noun
    if noun.endswith("y") and noun[-2:-1] not in {"a", "e", "i", "o", "u"}:
        return noun[:-1] + "ies"
    return noun + ("es" if noun.endswith(("ch", "sh", "x")) else "s")


def format_decimal(value: Decimal) -> str:
    """Format ``value`` for people: plain notation, at most two decimal places.

    A value that needed rounding is prefixed with ``~`` so a reader knows it is not exact.
    """
    text = str(value)
    if "E" not in text:
        point = text.find(".")
        if point < 0:
            return text
        if len(text) - point <= 3:
            return text.rstrip("0").rstrip(".")
    ctx = _DISPLAY_CONTEXT
    rounded = value.quantize(_DISPLAY_PLACES, context=ctx)
    if rounded == value:
        return f"{value.normalize(ctx):f}"
    return f"~{rounded.normalize(ctx):f}"


def most_serious_first(items: Iterable[_T], severity: Callable[[_T], str]) -> list[_T]:
    """``items`` ordered most serious first (:data:`SEVERITY_ORDER`), stable within a severity.

    Items of the same severity keep their order (the ruleset's file order); a severity not in
    :data:`SEVERITY_ORDER` comes last.
    """
    last = len(_RANK)
    return sorted(items, key=lambda item: _RANK.get(str(severity(item)), last))


_RANK: Final = {name: i for i, name in enumerate(SEVERITY_ORDER)}


_TITLE_MAX = 140  # characters of a citation's title shown inline; display only


_COLON: Final = re.compile(r": ")
_OPENING_QUOTE: Final = re.compile(r"(?:^|(?<=[\s(]))'")
_CLOSING_QUOTE: Final = re.compile(r"'(?=[\s:;,.)]|$)")


def citation_title(text: str) -> str:
    """The short title of a citation's text, for a "Sources:" line people read.

    Knowledge files write a citation as its source, then ``": "``, then the quotation or
    detail ("MHRA Drug Safety Update, March 2020: ..."); the part before the first ``": "``
    is the title, unless that ``": "`` is inside a quoted title ("MHRA Drug Safety Update,
    March 2020, 'Benzodiazepines and opioids: reminder of risk ...': ..." keeps the quoted
    title whole). Without one, or when it is long, the text is cut at a word before 140
    characters and ends with "...".
    """
    head = text
    for m in _COLON.finditer(text):
        before = text[: m.start()]
        if len(_OPENING_QUOTE.findall(before)) <= len(_CLOSING_QUOTE.findall(before)):
            head = before
            break
    head = head.strip()
    if len(head) <= _TITLE_MAX:
        return head
    cut = head[:_TITLE_MAX].rsplit(" ", 1)[0].rstrip(",;:(")
    return cut + "..."


def words(name: str) -> str:
    """A field or id written as words for people (underscores and hyphens become spaces).

    ``"weaning_plan_recorded"`` -> ``"weaning plan recorded"``.
    """
    return name.replace("_", " ").replace("-", " ").strip()


def format_date(value: dt.date) -> str:
    """A date as people read it in every output: "4 Jan 2027" (no leading zero)."""
    return f"{value.day} {value:%b %Y}"
