"""Free-text dosage instructions -> structured doses (issue 3, part 2: the dosage-text grammar).

:func:`parse_dosage` reads a UK dosage instruction ("ONE TO BE TAKEN TWICE A DAY", "1-2 tablets
every 4-6 hours when required, max 8 in 24 hours", "APPLY ONE PATCH EVERY 72 HOURS") and returns
either a :class:`Dosage` or an :class:`UnparsedDosage` that says what was not understood. It never
guesses: a word outside the lexicon (unless it is part of a note with no dosing content, "for
blood pressure"), a clause outside the grammar, clauses that contradict one another, or a
number beyond the limits of ``conversion_tables/plausibility.toml`` make the whole text
unparsed.

Issue 16 taught it the shapes of real UK GP text (the CPRD common-dosages lookup): notes,
supply and dispensing notes (":[28]", "dispense weekly"), different doses at named times
("2 mane & 3 nocte", summed), meals and night ("after food and at night": four times), "5ml
spoonful(s)", clock times, "/" forms, "up to" doses, frequency alternatives, patch totals and
sites; and to refuse what is not a dosage (bare and fused numbers, a quantity after the
frequency, implausible doses and intervals), each with the reason.

How it works: a normalising tokenizer (this module) maps each word of the text onto a terminal
of the grammar in ``dosage.lark``; lark builds the LALR(1) table of that grammar (``strict``:
conflict-free), and a lean driver here runs it, memoising the table walk per token-type
sequence (tests check it against lark's own driver); a semantic pass checks that the clauses
agree and assembles the result. The language is documented in ``dosage.lark`` and
``docs/dosage.md``.

Sources of the phrasing and of the rules: issue 3 ("Dosage-text grammar", "Bad input");
issue 16 (real UK GP dosage text; the reviewed exceptions of ``tests/dosage/data``);
``docs/calculation.md`` (PRN and range policy; patch rate, not change interval, sets OME);
NHS England ``dosage_instructions``, Public Health Scotland ``dose_instruction_parser`` and the
NHS Dose Syntax examples (``shared/reference/dosage_examples.jsonl``).

Messages name the kind of fragment and its position in the normalised text ("unrecognised
word at position 12"), never the fragment itself, and exceptions never carry the text.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import math
import re
import tomllib
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from functools import cache, lru_cache
from importlib import resources
from typing import Any, Literal, NamedTuple

from opioidcds._base import ResultModel, fill
from opioidcds._display import format_decimal, plural
from opioidcds._errors import InvalidInputError, KnowledgeBaseError
from opioidcds._inputs.prescription import DOSE_FIELDS
from opioidcds._knowledge.dose_units import default_dose_units
from opioidcds._knowledge.vocabulary import DosageTextLimits, default_vocabulary

__all__ = [
    "MAX_DOSAGE_TEXT_LENGTH",
    "Dosage",
    "DoseStep",
    "TimedDose",
    "UnparsedDosage",
    "clear_dosage_cache",
    "dosage_cache_info",
    "parse_dosage",
]

MAX_DOSAGE_TEXT_LENGTH = 1000
"""Longest dosage text accepted (characters). Real instructions are far shorter (not clinical)."""

_CACHE_SIZE = 65536
_FIELD = "dosage_text"

# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


class TimedDose(ResultModel):
    """One dose of a day whose doses differ by time of day ("2 in the morning, 1 at night").

    ``times`` are the named times it is taken at ("morning", "night", a clock time "08:00"),
    or ``("day",)`` for a once-daily dose beside doses at named times ("three every day three
    every night").
    """

    times: tuple[str, ...]
    dose_quantity: Decimal
    dose_quantity_max: Decimal | None = None

    def __str__(self) -> str:
        """The dose and its times as people write them: "2 (morning)", "1-2 (morning, night)"."""
        dose = format_decimal(self.dose_quantity)
        if self.dose_quantity_max is not None:
            dose += "-" + format_decimal(self.dose_quantity_max)
        return f"{dose} ({', '.join(self.times)})"


_ONE_TIME_WORDS = {"night": "at night", "morning": "in the morning", "evening": "in the evening"}


class DoseStep(ResultModel):
    """One step of a dose that changes over time ("1 a night for 1 week, then 2 a night").

    Each step is what the text says of it, read completely by itself (issue 16, fifth round):
    its dose (``dose_quantity``, to ``dose_quantity_max`` for a range), its doses a day, the
    named times of day it names, and how long it lasts (``duration_value``, to
    ``duration_value_max``, of ``duration_unit``), when the text says so.
    """

    dose_quantity: Decimal
    dose_quantity_max: Decimal | None = None
    doses_per_day: Decimal
    doses_per_day_max: Decimal | None = None
    named_times: tuple[str, ...] = ()
    duration_value: Decimal | None = None
    duration_value_max: Decimal | None = None
    duration_unit: str | None = None

    @property
    def daily_amount_max(self) -> Decimal:
        """The most of the dose unit this step gives in a day (upper ends of its ranges)."""
        dose = self.dose_quantity if self.dose_quantity_max is None else self.dose_quantity_max
        high = self.doses_per_day_max
        return dose * (self.doses_per_day if high is None else high)

    def __str__(self) -> str:
        """The step as people write it, without a unit: "1 at night for 1 week"."""
        return self.describe()

    def describe(self, unit: str | None = None, *, with_duration: bool = True) -> str:
        """The step as people write it: "1 tablet at night for 1 week", "1-2 twice a day"."""
        dose = format_decimal(self.dose_quantity)
        if self.dose_quantity_max is not None:
            dose += "-" + format_decimal(self.dose_quantity_max)
        if unit:
            many = self.dose_quantity_max is not None or self.dose_quantity != 1
            dose += f" {plural(unit) if many else unit}"
        low, high = self.doses_per_day, self.doses_per_day_max
        if high is None and low == 1 and len(self.named_times) == 1:
            how_often = _ONE_TIME_WORDS.get(self.named_times[0], "a day")
        elif high is None and low == 1:
            how_often = "a day"
        elif high is None and low == 2:
            how_often = "twice a day"
        else:
            count = format_decimal(low) + ("" if high is None else "-" + format_decimal(high))
            how_often = f"{count} times a day"
        text = f"{dose} {how_often}"
        if with_duration and self.duration_value is not None and self.duration_unit:
            length = format_decimal(self.duration_value)
            if self.duration_value_max is not None:
                length += "-" + format_decimal(self.duration_value_max)
            single = self.duration_value == 1 and self.duration_value_max is None
            text += f" for {length} {self.duration_unit if single else plural(self.duration_unit)}"
        return text


class Dosage(ResultModel):
    """A dosage instruction that the grammar understood completely.

    Field names follow :class:`opioidcds.Prescription` where they map onto it (see
    :meth:`to_prescription_fields`). ``dose_quantity_max``, ``doses_per_day_max`` and
    ``interval_hours_max`` are set only for ranges ("1-2 tablets", "every 4-6 hours"). A patch
    change interval is ``interval_hours`` (72; "twice weekly" 84; "every 7 days" 168): it does
    not affect OME (``docs/calculation.md``, "patches").

    Different doses at named times ("2 in the morning and 1 at night", issue 16) are summed:
    ``dose_quantity`` (and ``dose_quantity_max``) is then the day's total, ``doses_per_day`` 1,
    and ``dose_schedule`` keeps each dose with its times. An "up to" dose ("up to two four
    times a day") is ``dose_quantity`` with ``dose_is_upper_limit``.

    The other fields keep what does not map: the PRN reason or indication, duration, supply
    note, "as directed", named times, routes, food notes, a strength stated in the text
    ("one 10mg tablet") and bracketed quantities ("(300mg)"), which are never read as the dose;
    ``supply_notes`` (":[28]", "dispense weekly"), ``notes`` (words with no dosing content:
    "(to thin blood)", "(total dose 37mcg)", "with 12mcg patch") and ``weekday`` ("on
    mondays", with once a week only).

    A first dose that differs from the regular one ("2 immediately then 1 daily", "two first
    day then one a day"; issue 16, third round) is ``loading_dose_quantity`` (in
    ``dose_unit``) with the words that said when (``loading_dose_when``: "immediately",
    "stat", "now", "today", "first day" ...). It is taken once, at the start: every other
    field is the regular dosage, and so is the daily amount; the first day's amount differs
    from it, and :meth:`loading_dose_note` says so.

    A dose that goes up over time (a titration: "1 every night for 1 week then 2 every
    night", "one every night increasing to two every night"; issue 16, fifth round; a taper,
    "2 BD for 2 weeks then 1 BD", is refused) keeps each step, read completely by itself, in
    ``dose_steps``; the dose fields are then the range from the lowest step to the highest
    (``dose_quantity`` to ``dose_quantity_max``, ``doses_per_day`` to ``doses_per_day_max``),
    read only when one step is highest in both its dose and its doses a day and one is lowest
    in both, so the upper ends are exactly the highest step: the dose never exceeds it while
    the prescription is followed, and every consumer counts it as the maximum of a range
    (docs/calculation.md, "PRN and ranges"). :meth:`dose_change_note` says so.
    """

    kind: Literal["dosage"] = "dosage"
    text: str
    dose_quantity: Decimal | None = None
    dose_quantity_max: Decimal | None = None
    dose_unit: str | None = None
    dose_is_upper_limit: bool = False
    dose_schedule: tuple[TimedDose, ...] = ()
    stated_strength: str | None = None
    bracketed_quantities: tuple[str, ...] = ()
    doses_per_day: Decimal | None = None
    doses_per_day_max: Decimal | None = None
    interval_hours: Decimal | None = None
    interval_hours_max: Decimal | None = None
    frequency_is_upper_limit: bool = False
    named_times: tuple[str, ...] = ()
    weekday: str | None = None
    prn: bool = False
    prn_reason: str | None = None
    indication: str | None = None
    max_doses_per_day: Decimal | None = None
    max_quantity_per_day: Decimal | None = None
    duration_value: Decimal | None = None
    duration_value_max: Decimal | None = None
    duration_unit: str | None = None
    supply_value: Decimal | None = None
    supply_unit: str | None = None
    supply_notes: tuple[str, ...] = ()
    as_directed: bool = False
    routes: tuple[str, ...] = ()
    administration_notes: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    loading_dose_quantity: Decimal | None = None
    loading_dose_when: str | None = None
    dose_steps: tuple[DoseStep, ...] = ()

    @property
    def is_patch(self) -> bool:
        """True when the text names patches as the dose unit."""
        return self.dose_unit == "patch"

    @property
    def patch_change_interval_hours(self) -> Decimal | None:
        """Hours between patch changes (``interval_hours`` of a patch dose), else ``None``."""
        return self.interval_hours if self.is_patch else None

    def loading_dose_note(self, unit: str | None = None) -> str | None:
        """For people: the first dose differs from the regular one, or ``None`` when it does not.

        "a first dose of 2 tablets (immediately) before the regular doses: the daily amount is
        the regular dose's; the first day's amount differs". ``unit`` names the dose's count
        noun when the text leaves it out (the product's form: "2 immediately then 1 daily" of
        a tablet); by default ``dose_unit``.
        """
        if self.loading_dose_quantity is None:
            return None
        noun = unit or self.dose_unit
        if noun and self.loading_dose_quantity != 1:  # a count noun (tablet, capsule ...)
            noun = plural(noun)
        unit = f" {noun}" if noun else ""
        return (
            f"a first dose of {format_decimal(self.loading_dose_quantity)}{unit} "
            f"({self.loading_dose_when}) before the regular doses: the daily amount is the "
            "regular dose's; the first day's amount differs"
        )

    def dose_change_note(self, unit: str | None = None) -> str | None:
        """For people: the dose goes up over time, step by step, or ``None``.

        "the dose goes up over time: 1 tablet at night for 1 week, then 2 tablets at night; it
        never exceeds the highest step, 2 tablets at night, while the prescription is
        followed". Which end of the range a calculation counts is its policy's, said beside
        it ("range counted at its upper end"). ``unit`` names the dose's count noun when the
        text leaves it out (the product's form); by default ``dose_unit``.
        """
        if not self.dose_steps:
            return None
        noun = unit or self.dose_unit
        steps = ", then ".join(step.describe(noun) for step in self.dose_steps)
        highest = max(self.dose_steps, key=lambda step: step.daily_amount_max)
        return (
            f"the dose goes up over time: {steps}; it never exceeds the highest step, "
            f"{highest.describe(noun, with_duration=False)}, while the prescription is followed"
        )

    @property
    def not_convertible_reason(self) -> str | None:
        """Why the text alone gives no daily amount, or ``None`` when it gives one.

        "As directed" without a frequency gives no daily amount (issue 3); neither does a text
        without a dose quantity or without any frequency or 24-hour maximum.
        """
        has_frequency = self.doses_per_day is not None or self.interval_hours is not None
        has_max = self.max_doses_per_day is not None or self.max_quantity_per_day is not None
        if self.as_directed and not has_frequency:
            return "the dosage is 'as directed': the text gives no daily amount"
        if self.dose_quantity is None and self.max_quantity_per_day is None:
            return "the dosage text gives no dose quantity"
        if not has_frequency and not has_max:
            return "the dosage text gives no frequency and no maximum per 24 hours"
        return None

    def to_prescription_fields(self) -> dict[str, object]:
        """Return the :class:`~opioidcds.Prescription` dose fields the text determines.

        Keys are among ``dose_quantity``, ``dose_quantity_max``, ``dose_unit``,
        ``doses_per_day``, ``doses_per_day_max``, ``interval_hours``, ``interval_hours_max``,
        ``prn``, ``max_doses_per_day`` and ``max_quantity_per_day``; a key is present only when
        the text states it (``prn`` only when the text says "when required" or similar).
        Values are :class:`~decimal.Decimal`, ``True`` or a canonical unit ("tablet", "patch",
        "mg", "microgram", "mL").
        """
        out: dict[str, object] = {}
        for name in DOSE_FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.prn:
            out["prn"] = True
        return out


class UnparsedDosage(ResultModel):
    """A dosage text that was not fully understood, with what was not understood.

    ``problems`` name the kind of fragment and its position in ``text`` (the normalised text),
    e.g. "unrecognised word at position 12". Nothing is guessed from such a text: it gives no
    daily amount (issue 3, "never guessed").
    """

    kind: Literal["unparsed"] = "unparsed"
    text: str
    problems: tuple[str, ...]

    @property
    def not_convertible_reason(self) -> str:
        """Why no daily amount can be taken from this text."""
        return "the dosage text was not fully understood: " + "; ".join(self.problems)


# ---------------------------------------------------------------------------------------------
# Lexicon
# ---------------------------------------------------------------------------------------------

_D = Decimal
_NUMBER_MEMO: dict[str, Decimal] = {}


def _num(text: str) -> Decimal:
    """``Decimal(text)`` for a number of the text, memoised (decimals are immutable)."""
    value = _NUMBER_MEMO.get(text)
    if value is None:
        value = Decimal(text)
        if len(_NUMBER_MEMO) < 4096:
            _NUMBER_MEMO[text] = value
    return value


_WORD_NUMBERS: dict[str, int] = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
_TENS: dict[str, int] = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_ONE_TO_NINE = frozenset(str(k) for k in range(1, 10))
_HALF = Decimal("0.5")
_ONE, _TWO, _THREE = Decimal(1), Decimal(2), Decimal(3)
_HOURS_A_DAY = Decimal(24)
_UNITS_WORDS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

_COUNT_WORDS: dict[str, str] = {}
for _singular, _plurals in (
    ("tablet", ("tablet", "tablets", "tab", "tabs", "tbl", "tbls")),
    ("capsule", ("capsule", "capsules", "cap", "caps")),
    ("patch", ("patch", "patches", "patchs", "patche")),  # two misspellings of real patch texts
    ("spray", ("spray", "sprays")),
    # "2INH TWICE A DAY": inhalations, one actuation each (issue 16, fourth round)
    (
        "actuation",
        (
            "actuation",
            "actuations",
            "puff",
            "puffs",
            "puf",
            "pufs",
            "inh",
            "inhalation",
            "inhalations",
        ),
    ),
    ("suppository", ("suppository", "suppositories")),
    ("lozenge", ("lozenge", "lozenges")),
    ("film", ("film", "films")),
    ("sachet", ("sachet", "sachets")),
    ("ampoule", ("ampoule", "ampoules")),
    ("vial", ("vial", "vials")),
    ("pessary", ("pessary", "pessaries")),
):
    for _w in _plurals:
        _COUNT_WORDS[_w] = _singular

_COUNT_UNITS = frozenset(_COUNT_WORDS.values())
_MASS_WORDS: dict[str, str] = {
    "mg": "mg",
    "milligram": "mg",
    "milligrams": "mg",
    "g": "g",
    "gram": "g",
    "grams": "g",
    "microgram": "microgram",
    "micrograms": "microgram",
    "mcg": "microgram",
    "ug": "microgram",
    "\u03bcg": "microgram",  # NFKC turns the micro sign into Greek mu
    "mgs": "mg",
    "mcgs": "microgram",
    "microgramme": "microgram",
    "microgrammes": "microgram",
}
_VOLUME_WORDS = ("ml", "mls", "millilitre", "millilitres", "milliliter", "milliliters")

_FREQ_ABBR: dict[str, int] = {"od": 1, "bd": 2, "bid": 2, "tds": 3, "tid": 3, "qds": 4, "qid": 4}
_TIME_SLOTS: dict[str, str] = {
    "morning": "morning",
    "mornings": "morning",
    "breakfast": "morning",
    "midday": "midday",
    "noon": "midday",
    "lunch": "midday",
    "lunchtime": "midday",
    "afternoon": "afternoon",
    "teatime": "teatime",
    "tea": "teatime",
    "evening": "evening",
    "evenings": "evening",
    "dinner": "evening",
    "supper": "evening",
    "night": "night",
    "nights": "night",
    "nighttime": "night",
    "bedtime": "night",
    "bed": "night",
}
_TIME_ABBR: dict[str, str] = {
    "mane": "morning",
    "om": "morning",
    "nocte": "night",
    "noct": "night",
    "nightly": "night",
}
_REASONS = frozenset(
    {
        "pain",
        "nerve",
        "breakthrough",
        "severe",
        "moderate",
        "mild",
        "back",
        "neuropathic",
        "headache",
        "headaches",
        "migraine",
        "nausea",
        "vomiting",
        "cough",
        "diarrhoea",
        "anxiety",
        "agitation",
        "breathlessness",
        "spasm",
        "spasms",
        "cramp",
        "cramps",
        "constipation",
        "sleep",
        "insomnia",
        "toothache",
    }
)
_VERBS = frozenset(
    {
        "take",
        "taken",
        "apply",
        "applied",
        "use",
        "used",
        "give",
        "given",
        "change",
        "changed",
        "replace",
        "replaced",
        "inhale",
        "inhaled",
        "insert",
        "inserted",
        "dissolve",
        "dissolved",
        "chew",
        "chewed",
        "swallow",
        "swallowed",
        "suck",
        "sucked",
        "spray",
        "sprayed",
        "place",
        "placed",
        "put",
        "crush",
        "break",
        "open",
        "changing",
        "applying",
        "replacing",
    }
)
_ROUTES: dict[str, str] = {
    "orally": "oral",
    "oral": "oral",
    "sublingual": "sublingual",
    "sublingually": "sublingual",
    "buccal": "buccal",
    "buccally": "buccal",
    "topically": "topical",
    "transdermally": "transdermal",
    "transdermal": "transdermal",
    "rectally": "rectal",
    "po": "oral",
    "pr": "rectal",  # per rectum
    "topical": "topical",
}
_DRUGS = frozenset(
    {
        "buprenorphine",
        "fentanyl",
        "morphine",
        "oxycodone",
        "codeine",
        "dihydrocodeine",
        "tramadol",
        "tapentadol",
        "hydromorphone",
        "methadone",
        "diamorphine",
        "co-codamol",
        "cocodamol",
    }
)
_DIRECTORS = frozenset(
    {
        "doctor",
        "gp",
        "prescriber",
        "physician",
        "consultant",
        "specialist",
        "clinic",
        "hospital",
        "team",
        "nurse",
        "pharmacist",
        "dr",
    }
)
_SIMPLE: dict[str, str] = {
    "a": "A",
    "an": "A",
    "and": "AND",
    "or": "OR",
    "to": "TO",
    "at": "AT",
    "in": "IN",
    "the": "THE",
    "on": "ON",
    "with": "WITH",
    "after": "AFTER",
    "before": "BEFORE",
    "for": "FOR",
    "when": "WHEN",
    "if": "IF",
    "as": "AS",
    "every": "EVERY",
    "each": "EACH",
    "per": "PER",
    "other": "OTHER",
    "alternate": "ALTERNATE",
    "q": "Q",
    "up": "UP",
    "of": "OF",
    "no": "NO",
    "not": "NOT",
    "do": "DO",
    "more": "MORE",
    "than": "THAN",
    "exceed": "EXCEED",
    "any": "ANY",
    "period": "PERIOD",
    "this": "THIS",
    "is": "IS",
    "by": "BY",
    "your": "YOUR",
    "directed": "DIRECTED",
    "times": "TIMES",
    "x": "TIMES",
    "once": "ONCE",
    "twice": "TWICE",
    "thrice": "THRICE",
    "prn": "PRN",
    "required": "REQUIRED",
    "needed": "REQUIRED",
    "necessary": "REQUIRED",
    "max": "MAX",
    "maximum": "MAX",
    "dose": "DOSE",
    "doses": "DOSE",
    "hour": "HOUR",
    "hours": "HOUR",
    "hr": "HOUR",
    "hrs": "HOUR",
    "h": "HOUR",
    "day": "DAY",
    "days": "DAY",
    "week": "WEEK",
    "weeks": "WEEK",
    "wk": "WEEK",
    "wks": "WEEK",
    "fortnight": "FORTNIGHT",
    "fortnights": "FORTNIGHT",
    "month": "MONTH",
    "months": "MONTH",
    "hourly": "HOURLY",
    "hrly": "HOURLY",
    "daily": "DAILY",
    "weekly": "WEEKLY",
    "wkly": "WEEKLY",
    "fortnightly": "FORTNIGHTLY",
    "monthly": "MONTHLY",
    "food": "FOOD",
    "milk": "FOOD",
    "water": "FOOD",
    "meal": "MEALS",
    "meals": "MEALS",
    "mealtime": "MEALS",
    "mealtimes": "MEALS",
    "supply": "SUPPLY",
    "whole": "WHOLE",
    # words used only inside merged phrases ("by mouth", "under the tongue", "night time")
    "mouth": "_MOUTH",
    "under": "_UNDER",
    "tongue": "_TONGUE",
    "skin": "_SKIN",
    "time": "_TIME",
    "half": "_HALF",
    "be": "_BE",
    "remove": "_REMOVE",
    "old": "_OLD",
    "previous": "_OLD",
    "new": "_DROP",
    "fresh": "_DROP",
    # words that add nothing to the dose: "please", "only as required", "take regularly",
    # "exactly as directed", the prescription endorsement "SLS" (Selected List Scheme)
    "please": "_DROP",
    "only": "_DROP",
    "regularly": "_DROP",
    "exactly": "_DROP",
    "sls": "_DROP",
    "acbs": "_DROP",  # the endorsement "ACBS" (Advisory Committee on Borderline Substances)
    # issue 16, fourth round: "SIG 1 NOCTE" (signa: label it), "TAKE ONE DAILY PREFERABLY AT
    # NIGHT" (a preference for a time the text names or not), "APPLY 2 PATCHES TOGETHER"
    "sig": "_DROP",
    "preferably": "_DROP",
    "together": "_DROP",
    "dir": "DIRECTED",  # "as dir"
    "route": "_DROP",  # "oral route"
    "&": "AND",
    "*": "_DROP",
    "#": "_DROP",
    "reqd": "REQUIRED",
    "req": "REQUIRED",
    "am": "_AMPM",
    "pm": "_AMPM",
    "minute": "_MINUTE",
    "minutes": "_MINUTE",
    "mins": "_MINUTE",
    "min": "_MINUTE",
    "spoon": "_SPOON",
    "spoons": "_SPOON",
    "spoonful": "_SPOON",
    "spoonfuls": "_SPOON",
    "spoonsful": "_SPOON",
    "teaspoon": "_SPOON",  # always with its volume ("one 5ml teaspoon"): alone it is refused
    "teaspoons": "_SPOON",
    "teaspoonful": "_SPOON",
    "teaspoonfuls": "_SPOON",
    "teaspoonsful": "_SPOON",
    "tsp": "_SPOON",
    "metered": "_DROP",  # "1 metered dose"
    "/": "_SLASH",
}
# one word that stands for several terminals: "upto" = "up to", "pc" (post cibum) = "after
# food", "ac" (ante cibum) = "before food"
_EXPANSIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "upto": (("UP", "up"), ("TO", "to")),
    # a verb or a number word run into the next word: one reading only ("takeone at night")
    "takeone": (("VERB", "take"), ("_WORDNUM", "1")),
    "taketwo": (("VERB", "take"), ("_WORDNUM", "2")),
    "oneor": (("_WORDNUM", "1"), ("OR", "or")),
    "onetwice": (("_WORDNUM", "1"), ("TWICE", "twice")),
    "aday": (("A", "a"), ("DAY", "day")),
    "mdu": (("AS", "as"), ("DIRECTED", "directed")),  # more dicto utendus: as directed
    # "1 EVERY DAY ASD", "TWICE A DAY ASDIR": as directed (issue 16, fourth round); with a dose
    # and a frequency the daily amount stands, without one none. ("UD" is not read: ut dictum,
    # as directed, or a unit dose?)
    "asd": (("AS", "as"), ("DIRECTED", "directed")),
    "asdir": (("AS", "as"), ("DIRECTED", "directed")),
    "pc": (("AFTER", "after"), ("FOOD", "food")),
    "ac": (("BEFORE", "before"), ("FOOD", "food")),
}
_DAY_NAMES: dict[str, str] = {}
for _day, _spellings in (
    ("monday", ("monday", "mondays", "mon")),
    ("tuesday", ("tuesday", "tuesdays", "tue", "tues")),
    ("wednesday", ("wednesday", "wednesdays", "wed")),
    ("thursday", ("thursday", "thursdays", "thu", "thur", "thurs")),
    ("friday", ("friday", "fridays", "fri")),
    ("saturday", ("saturday", "saturdays", "sat")),
    ("sunday", ("sunday", "sundays", "sun")),
):
    for _w in _spellings:
        _DAY_NAMES[_w] = _day
_REFUSED: dict[str, str] = {
    "then": "a sequence of instructions ('then')",
    "nostril": "a dose per site (nostril)",
    "nostrils": "a dose per site (nostril)",
    "eye": "a dose per site (eye)",
    "eyes": "a dose per site (eye)",
    "ear": "a dose per site (ear)",
    "ears": "a dose per site (ear)",
    "increase": "a dose change (titration)",
    "increasing": "a dose change (titration)",
    "reduce": "a dose change (titration)",
    "reduces": "a dose change (titration)",
    "reducing": "a dose change (titration)",
    "decrease": "a dose change (titration)",
    "titrate": "a dose change (titration)",
    "stat": "a single immediate dose ('stat')",
    "until": "a conditional stop ('until')",
    "repeat": "a conditional repeat",
    "repeated": "a conditional repeat",
}
# Words that change what a dose means wherever they stand, so they are refused even inside a
# note ("for blood pressure"): sequences and conditions, extra or changed doses, doses that
# depend on a measurement, days off, and units this grammar does not read (issue 16).
for _reason, _words in (
    ("a sequence of instructions", "till later next initially immediately loading"),
    ("a condition", "unless except excluding instead"),
    (
        "a negation or a hedge",
        "avoid never dont cannot cant without usually normally sometimes occasionally",
    ),
    ("a start or stop condition", "start starting started stop stopping stopped"),
    ("a missed or omitted dose", "omit omitted skip miss missed off"),
    (
        "an extra or changed dose",
        "extra additional another further plus double halve triple less fewer alternating "
        "alternately",
    ),
    (
        "a dose change (titration)",
        "wean weaning taper tapering titration increased decreased reduced reduction "
        "decreasing gradually slowly",
    ),
    ("a dose that depends on a measurement", "according depending dependent sliding inr"),
    ("days of the week", "weekend weekends weekday weekdays"),
    ("a fraction in words other than a half", "quarter quarters third thirds"),
    ("a total dose", "total"),
    ("a number or date left out of the record", "non-numeric date"),
    (
        "a dose unit this grammar does not read",
        "drop drops pump pumps unit units iu mmol litre litres liter liters l cc scoop scoops "
        "measure measures capful capfuls application applications bottle bottles sheet sheets "
        "stick sticks nebule nebules injection injections pen pens pack packs packet packets "
        "blister blisters",
    ),
):
    for _w in _words.split():
        _REFUSED[_w] = _reason


# Words read only inside a note closed by a separator or the end, each followed by a word of the
# note ("to reduce cholesterol", "(avoid grapefruit juice)"); anywhere else refused with their
# reason in _REFUSED (a titration; a negation). Issue 16, second round.
_NOTE_ONLY = ("reduce", "reduces", "avoid")
_NOTES_FILE = "dosage_notes.toml"


def _notes_data() -> dict[str, Any]:
    """The parsed ``dosage_notes.toml`` (shipped beside the grammar).

    Raises:
        KnowledgeBaseError: the file is missing or not TOML.
    """
    try:
        text = resources.files("opioidcds._resolve").joinpath(_NOTES_FILE).read_text("utf-8")
        return tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise KnowledgeBaseError(f"{_NOTES_FILE}: cannot be read ({type(exc).__name__})") from exc


def _note_vocabulary() -> frozenset[str]:
    """The note vocabulary of ``dosage_notes.toml`` (shipped beside the grammar; data, not code).

    Words of the advice and indications real GP text adds to an instruction (the CPRD common
    dosages, issue 16), none of which says anything about a dose, a number, a unit, a time, a
    frequency, a sequence, a site or a condition. A run of these (with the small linking words)
    is a note wherever it stands, when a separator or the end of the text closes it ("TAKE ONE
    DAILY BLOOD PRESSURE"); any other unknown word needs a separator, "for" or "to" before it.
    The file says how it was derived and reviewed.

    Raises:
        KnowledgeBaseError: the file is missing, not TOML, or holds a word that is not plain
            lower-case letters (a number or a symbol is never a note word).
    """
    try:
        words = frozenset(w for g in _NOTES_DATA["groups"] for w in str(g["words"]).split())
    except (KeyError, TypeError) as exc:
        raise KnowledgeBaseError(f"{_NOTES_FILE}: cannot be read ({type(exc).__name__})") from exc
    if not words or not all(w.isalpha() and w.islower() and w.isascii() for w in words):
        raise KnowledgeBaseError(f"{_NOTES_FILE}: every note word must be lower-case letters")
    return words


def _typos() -> dict[str, tuple[tuple[str, str], ...]]:
    """The whole words typed wrongly of ``dosage_notes.toml`` ``[[typos]]``: written -> terminals.

    Each is read as the words it can only be ("EVERT 3 DAYS": every; "THREETIMES": three
    times), given as the terminals of the lexicon; the file says how they were found. The
    words read as must be words of the lexicon, and a written word must not be one (it would
    never be looked up).

    Raises:
        KnowledgeBaseError: an entry lacks a field, reads as a word outside the lexicon, or
            writes a word of the lexicon.
    """
    try:
        typos = {str(t["written"]): str(t["read_as"]) for t in _NOTES_DATA.get("typos", ())}
    except (KeyError, TypeError) as exc:
        raise KnowledgeBaseError(f"{_NOTES_FILE}: cannot be read ({type(exc).__name__})") from exc
    for written, read_as in typos.items():
        if written in _LEXICON or not all(w in _LEXICON for w in read_as.split() or ("",)):
            raise KnowledgeBaseError(
                f"{_NOTES_FILE}: a typo must be outside the lexicon and read as words of it"
            )
    return {w: tuple(_LEXICON[r] for r in read_as.split()) for w, read_as in typos.items()}


_NOTES_DATA = _notes_data()
_NOTE_VOCABULARY = _note_vocabulary()
# the note words of the groups marked ``site``: where a patch or a cream is put on ("to body",
# "to upper arm"), read as a note after "one to" (never a range)
_SITE_WORDS = frozenset(
    w for g in _NOTES_DATA["groups"] if g.get("site") is True for w in str(g["words"]).split()
)


def _build_lexicon() -> dict[str, tuple[str, str]]:  # noqa: PLR0912 - one loop per word class
    lex: dict[str, tuple[str, str]] = {}
    for word, type_ in _SIMPLE.items():
        lex[word] = (type_, word)
    for word, n in _WORD_NUMBERS.items():
        lex[word] = ("_WORDNUM", str(n))
    for word, n in _TENS.items():
        lex[word] = ("_TENS", str(n))
    for word, unit in _COUNT_WORDS.items():
        lex[word] = ("COUNT_UNIT", unit)
    for word, unit in _MASS_WORDS.items():
        lex[word] = ("MASS_UNIT", unit)
    for word in _VOLUME_WORDS:
        lex[word] = ("VOLUME_UNIT", "mL")
    for word, n in _FREQ_ABBR.items():
        lex[word] = ("FREQ_ABBR", str(n))
    for word, slot in _TIME_SLOTS.items():
        lex[word] = ("TIMEWORD", slot)
    for word, slot in _TIME_ABBR.items():
        lex[word] = ("TIME_ABBR", slot)
    for word in _REASONS:
        lex.setdefault(word, ("REASON", word))
    for word in _VERBS:
        lex.setdefault(word, ("VERB", word))
    for word, route in _ROUTES.items():
        lex[word] = ("ROUTE", route)
    for word in _DRUGS:
        lex[word] = ("DRUG", word)
    for word in _DIRECTORS:
        lex.setdefault(word, ("DIRECTOR", word))
    for word, day in _DAY_NAMES.items():
        lex[word] = ("_DAYNAME", day)
    for n in range(1000):  # the usual numerals, looked up like words (speed only)
        lex.setdefault(str(n), ("NUMBER", str(n)))
    lex["dose"] = ("DOSE", "dose")
    lex["doses"] = ("DOSE", "dose")
    lex["advised"] = ("DIRECTED", "advised")  # "as advised (by the hospital)": as directed
    for word in _NOTE_ONLY:
        lex[word] = ("_SOFT", word)
    for word in _NOTE_VOCABULARY:
        lex.setdefault(word, ("_NOTEWORD", word))
    return lex


_LEXICON: dict[str, tuple[str, str]] = _build_lexicon()
_TYPOS: dict[str, tuple[tuple[str, str], ...]] = _typos()

_DESCRIBE: dict[str, str] = {
    "NUMBER": "number",
    "STRENGTH": "strength",
    "BRACKET_QTY": "bracketed quantity",
    "COUNT_UNIT": "dose unit",
    "DOSE": "the word 'dose'",
    "MASS_UNIT": "mass unit",
    "VOLUME_UNIT": "volume unit",
    "FREQ_ABBR": "frequency abbreviation",
    "TIME_ABBR": "time-of-day abbreviation",
    "TIMEWORD": "time of day",
    "REASON": "indication word",
    "VERB": "verb",
    "ROUTE": "route",
    "DRUG": "drug name",
    "DIRECTOR": "prescriber word",
    "COMMA": "comma or bracket",
    "STOP": "full stop",
    "DASH": "dash",
    "NOTE": "note",
    "REASON_NOTE": "note",
    "SUPPLY_NOTE": "supply note",
    "TOTAL_NOTE": "stated total",
    "OTHER_PATCH": "note of another patch",
    "CLOCK": "clock time",
    "DAYNAME": "day of the week",
    "MEALS_NIGHT": "meals and night",
    "DOSE_UP_TO": "'up to'",
    "SLASH": "slash",
}

# ---------------------------------------------------------------------------------------------
# Normalisation and tokenizing
# ---------------------------------------------------------------------------------------------

_VULGAR = re.compile(r"(\d*)\s*([\u00bd\u00bc\u00be])")
_VULGAR_VALUE = {"\u00bd": "5", "\u00bc": "25", "\u00be": "75"}
_DOTTED = re.compile(r"\b[a-z](?:\.[a-z])+\.?(?![a-z])")
_MAX_DOT = re.compile(r"\bmax\.")
_TENS_HYPHEN = re.compile(r"\b(" + "|".join(_TENS) + r")-(" + "|".join(_UNITS_WORDS) + r")\b")
_PLURAL_S = re.compile(r"([a-z])\((e?s)\)")  # "tablet(s)" -> "tablets", "patch(es)" -> "patches"
_PIECES = re.compile(r"\d+/\d+|\d+(?:\.\d+)?|\.\d+|[a-z\u03bc]+(?:-[a-z]+)*|\S")
_SYMBOLS: dict[str, str] = {
    "-": "DASH",
    "\u2013": "DASH",
    "\u2014": "DASH",
    ",": "COMMA",
    ".": "STOP",
    ";": "STOP",
    ":": "STOP",
    "!": "STOP",  # "TAKE ONE DAILY !(FOR BLOOD PRESSURE)": an exclamation ends a sentence
    "(": "_LPAR",
    ")": "_RPAR",
    "[": "_LPAR",
    "]": "_RPAR",
}
for _sym, _type in _SYMBOLS.items():
    _LEXICON[_sym] = (_type, _sym)
_MAX_INT_DIGITS = 6
_MAX_FRAC_DIGITS = 3
_FRACTION_DENOMINATORS = frozenset({2, 4, 8})  # "1/2", "1/4", "3/4", "1/8": parts of a tablet

# Phrases read as one terminal before the words are looked up (issue 16): supply and
# dispensing notes ("ONCE A DAY :[84]", "QUANTITY: 56", "DISPENSE WEEKLY", "BLISTER PACK",
# "(IP FEB 15)"), a stated total patch strength ("(TOTAL DOSE 37MCG)") and another patch worn
# with this one ("WITH 12MCG PATCH"). None of them is ever read as the dose.
_Q = r"\d+(?:\.\d+)?"
# the longer spellings first: "microgrammes" is never cut to "microgram" (issue 16, fourth round:
# "TOTAL DOSE 225 MICROGRAMMES/HOUR")
_MCG = r"(?:mcgs?|microgrammes?|micrograms?|ug)"
_PER_HOUR = r"(?:\s*/\s*(?:hr|hour|h)\b|\s+per\s+hour\b|\s*hrs?\b)?"
_DISPENSING = (
    r"(?:weekly|wkly|daily|fortnightly|monthly|in|as|into|via|a|the|blister|packs?|dos+et+e?s?|"
    r"box(?:es)?|nomad|trays?|medipacks?|compliance|aids?|system|mds|please|every|week|"
    r"\d+\s*days?)"
)
# number words before "nights" or after "for the first" (a duration: "for seven nights")
_NIGHT_COUNTS = tuple(word for word, n in _WORD_NUMBERS.items() if 1 <= n <= 19 and " " not in word)
_PHRASES: tuple[tuple[tuple[str, ...], str, str], ...] = tuple(
    (literals, kind, pattern)
    for literals, kind, pattern in (
        (  # ":[28]", "[28 DAYS]", "[X28]", "[56 TABS]": the quantity supplied
            ("[",),
            "SUPPLY_NOTE",
            r"\[\s*x?\s*\d+\s*(?:x\s*\d+\s*)?(?:days?|tabs?|tablets?|caps?|capsules?|mls?|cc|g|op)?"
            r"\s*\.?\s*\]",
        ),
        (  # ": QUANTITY: 28", "QUANTITY PRESCRIBED 56 TABS", "QUANTITY PRESCRIBED
            # (NON-NUMERIC)=28X3" (a system's field, issue 16 third round), "=100G", "=1XOP"
            ("quantit",),
            "SUPPLY_NOTE",
            r"\bquantity(?:\s+prescribed)?\s*(?:\(\s*non-numeric\s*\)\s*=)?\s*:?\s*\d+"
            r"(?:\s*x\s*(?:\d+|o\s?p\b))?"
            r"(?:\s*(?:tabs?|tablets?|caps?|capsules?|mls?|g|o\s?p|packs?)\b)?",
        ),
        (  # "DISPENSE WEEKLY", "DISP WEEKLY IN DOSETTE BOX", "WEEKLY SCRIPT", "7 DAY SCRIPTS"
            ("disp", "supplied", "script", "prescription"),
            "SUPPLY_NOTE",
            r"\b(?:to\s+be\s+)?(?:please\s+)?(?:dispensed?|dispence|disp|supplied)(?:\s+"
            + _DISPENSING
            + r")+\b"
            r"|\b(?:weekly|daily|fortnightly|monthly|\d+\s*days?|\d+\s*weeks?|7\s*day)\s+"
            r"(?:scripts?|prescriptions?|dispensing|dispensed?|disp)\b"
            # "twice daily dispense weekly": "daily" is the frequency, "dispense weekly" the note
            r"(?!\s+(?:weekly|daily|fortnightly|monthly|wkly)\b)(?:\s+" + _DISPENSING + r")*\b",
        ),
        (  # "IN BLISTER PACK", "VIA WEEKLY DOSSET BOX SYSTEM", "MEDIPACK", "NOMAD"
            (
                "blister",
                "bubble",
                "doset",
                "dosset",
                "dossett",
                "medipack",
                "nomad",
                "mds",
                "compliance",
            ),
            "SUPPLY_NOTE",
            r"\b(?:(?:in|via|into)\s+)?(?:(?:a|the|weekly)\s+)*(?:(?:blister|bubble)\s+packs?"
            r"|dos+et+e?\s+box(?:es)?|dos+et+e?s?|nomad(?:\s+trays?)?|medipacks?|compliance\s+aids?"
            r"|mds(?:\s+trays?)?)(?:\s+system)?\b",
        ),
        (  # "(IP FEB 15)": an issue stamp
            ("(ip", "( ip", "(opc", "( opc"),
            "SUPPLY_NOTE",
            r"\(\s*(?:ip|opc)\s+[a-z]{3,5}\s*\d{2,4}\s*\)",
        ),
        (  # "MITTE 28 DAYS" (mitte: send)
            ("mitte",),
            "SUPPLY_NOTE",
            r"\bmitte\s*:?\s*\d+(?:\s*(?:days?|tabs?|tablets?|caps?|capsules?|weeks?)\b)?",
        ),
        (  # "PLEASE SUPPLY 5 (FIVE) PATCHES"
            ("supply",),
            "SUPPLY_NOTE",
            r"\b(?:please\s+)?supply\s+(?:[a-z]+|\d+)\s*(?:\(\s*(?:[a-z]+|\d+)\s*\)\s*)?"
            r"(?:patches|tablets|tabs|capsules|caps)\b",
        ),
        (  # "1 AFTER EACH LOOSE STOOL, MAX 8 DAILY": a dose each time, so when required; with
            # its daily maximum it gives a daily amount, without one none (issue 16, third round)
            ("loose",),
            "PRN",
            r"\b(?:(?:after|with|at)\s+(?:each|every)|every)\s+loose\s+(?:stools?|motions?)\b",
        ),
        (  # "(WATER TABLET)", "BETWEEN MEALS": notes with no number of doses
            ("water tab", "between meals"),
            "NOTE",
            r"\bwater\s+tablets?\b|\bbetween\s+meals\b",
        ),
        (  # "(TOTAL DOSE 37MCG)", "TOTAL DOSE= 62MCG/HOUR", "(15MCG IN TOTAL)": a cross-check
            ("total",),
            "TOTAL_NOTE",
            r"\b(?:note\s+)?(?:so\s+)?total\s+(?:daily\s+|patch\s+)?(?:dose|strength)?\s*"
            r"(?:=|is\s+now|is|of|will\s+be|now)?\s*"
            + _Q
            + r"\s*"
            + _MCG
            + r"?"
            + _PER_HOUR
            + r"|\b"
            + _Q
            + r"\s*"
            + _MCG
            + r"(?:\s+in)?\s+total\b",
        ),
        (  # "WITH 12MCG PATCH", "IN ADDITION TO THE 25MCG PATCH": another patch worn too
            ("patch",),
            "OTHER_PATCH",
            r"\b(?:along\s*side(?:\s+with)?|along\s+with|together\s+with|in\s+addition\s+to|plus|"
            r"(?:to\s+be\s+)?used\s+with|use\s+with|with)\s+(?:a\s+|the\s+)?"
            + _Q
            + r"\s*"
            + _MCG
            + _PER_HOUR
            + r"(?:\s+and\s+"
            + _Q
            + r"\s*"
            + _MCG
            + _PER_HOUR
            + r")?"
            r"\s+(?:[a-z]+\s+)?patch(?:es)?\b",
        ),
        (  # "PER RECTUM": the route (issue 16, second round)
            ("rectum",),
            "ROUTE=rectal",
            r"\b(?:per|via\s+the|into\s+the)\s+rectum\b",
        ),
        (  # "WITH MAIN MEALS", "AT MAIN MEALTIMES", "AT MEAL TIMES": meals, without their number
            # (issue 16, fourth round; counted only with a frequency, as "with meals")
            ("main meal", "meal times"),
            "MEALS",
            r"\b(?:(?:the|your)\s+)?main\s+meal(?:s|\s*times?)\b|\bmeal\s+times\b",
        ),
        (  # "WITH A MEAL", "AFTER A MEAL": one meal, a food note like "with food" (issue 16,
            # fourth round)
            ("a meal",),
            "FOOD=a meal",
            r"(?:(?<=with )|(?<=after )|(?<=before ))a\s+meal\b",
        ),
        (  # "SWALLOW WHOLE DON'T CHEW": as "do not crush or chew", advice on taking it
            ("dont c",),
            "NOTE",
            r"\bdont\s+(?:crush\s+or\s+chew|chew\s+or\s+crush|chew|crush)\b",
        ),
        (  # "WITH MAIN MEAL", "AFTER THE MAIN MEAL": one meal, a food note (no count of doses)
            ("main meal",),
            "_MAINMEAL=main meal",
            r"\b(?:(?:the|a|your)\s+)?main\s+meal\b",
        ),
        (  # "WITH OR WITHOUT FOOD": a food note
            ("without food",),
            "FOOD=with or without food",
            r"\bwith\s+or\s+without\s+food\b",
        ),
        (  # "AT THE SAME TIME (EVERY DAY)": the time is not named, only kept; "every day" stays
            ("same time",),
            "NOTE",
            r"\b(?:at\s+)?(?:about\s+)?(?:the\s+)?same\s+time(?:\s+of\s+(?:the\s+)?day)?\b",
        ),
        (  # "NOT TO BE TAKEN WITH OTHER TABLETS/MEDICINES CONTAINING PARACETAMOL", "NOT TO BE
            # TAKEN WITH GRAPEFRUIT", "DO NOT DRINK GRAPEFRUIT JUICE": cautions about another
            # medicine or a food, never about this dose (issue 16, fourth round); "DO NOT TAKE
            # CODEINE WITH THIS PATCH": another opioid named, a caution kept as a note
            ("not to be taken with", "grapefruit", "with this"),
            "NOTE",
            r"\b(?:not\s+to\s+be\s+taken|do\s+not\s+take)\s+with\s+(?:any\s+)?other\s+"
            r"(?:tablets|medicines|medication)(?:\s*/\s*(?:tablets|medicines|medication))?\s+"
            r"containing\s+paracetamol\b"
            r"|\b(?:not\s+to\s+be\s+taken\s+with|do\s+not\s+(?:drink|take|eat))\s+grapefruit"
            r"(?:\s+juice)?\b"
            r"|\bdo\s+not\s+take\s+(?:"
            + "|".join(
                re.escape(d) for d in sorted(_DRUGS | {"paracetamol"}, key=len, reverse=True)
            )
            + r")\s+with\s+this\s+(?:patch|medicine|medication)\b",
        ),
        (  # "AT LEAST HALF AN HOUR BEFORE FOOD", "AT LEAST 30 MINUTES BEFORE BREAKFAST": a note
            ("least",),
            "NOTE",
            r"\bat\s+least\s+(?:half\s+an?\s+hour|an\s+hour|one\s+hour|\d+\s*(?:minutes?|mins?)|"
            r"thirty\s+minutes)\s+(?:before|after)\s+(?:(?:the\s+|your\s+)?(?:first\s+)?"
            r"(?:food|meals?|breakfast|eating))\b",
        ),
        (  # "ONE M/R CAPSULE": the formulation (modified release, enteric coated), not the dose
            ("m/r", "s/r", "e/c", "m /", "s /", "e /"),
            "_DROP",
            r"\b(?:m|s|e)\s*/\s*(?:r|c)\b",
        ),
        (  # "ONE EVERY DAY AS SHOWN ON THE PACK" (a calendar pack), "IN THE USUAL MANNER",
            # "WHEN THE COUGH IS TROUBLESOME": notes; the dose and frequency must be stated too
            ("shown on", "usual manner", "troublesome"),
            "NOTE",
            r"\bas\s+shown\s+on\s+the\s+(?:pack|packet|box|strip|calendar\s+pack)\b"
            r"|\bin\s+the\s+usual\s+manner\b"
            r"|\bwhen\s+(?:the\s+|your\s+)?cough\s+is\s+troublesome\b",
        ),
        (  # "FOR 3 NIGHTS", "FOR SEVEN NIGHTS": a duration in days, one night each (issue 16,
            # fifth round: "1 AT NIGHT FOR 3 NIGHTS THEN 2 AT NIGHT"); only after a number
            ("nights",),
            "DAY=nights",
            r"(?:(?<=\d )|(?<=\d)|"
            + "|".join(f"(?<=\\b{word} )" for word in _NIGHT_COUNTS)
            + r")nights\b",
        ),
        (  # "FOR THE FIRST 6 DAYS", "FOR FIRST 6 DAYS": the duration of a first step (issue 16,
            # fifth round: "1 EVERY DAY FOR THE FIRST 6 DAYS THEN 1 TWICE A DAY"); only between
            # "for" and a number
            ("first",),
            "_DROP",
            r"(?<=\bfor )(?:the\s+)?first(?=\s+(?:\d+|" + "|".join(_NIGHT_COUNTS) + r")\b)",
        ),
        (  # "TWO TO BE TAKEN AT A TIME", "AT ONE TIME": the dose is taken at once; nothing more
            ("at time", "at a time", "at one time"),
            "_DROP",
            r"\bat\s+(?:a\s+|one\s+)?time\b",
        ),
    )
)


def _trie_pattern(words: Sequence[str]) -> str:
    """A regular expression matching any of ``words``, its alternatives factored as a trie.

    ``re`` tries the alternatives of "a|b|c" one by one at every position; factored by their
    common prefixes it takes one branch per character, about twice as fast on these texts.
    A word that has another as its prefix is matched by the shorter one (only a hint is needed).
    """
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def branch(node: dict[str, Any]) -> str:
        if "" in node:
            return ""
        alternatives = [re.escape(char) + branch(node[char]) for char in sorted(node)]
        return alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"

    return branch(trie)


# whether a text may hold a phrase of _PHRASES (one search for all of their literals)
_PHRASE_HINT = re.compile(
    _trie_pattern(sorted({literal for literals, _, _ in _PHRASES for literal in literals}))
)
_GLUED = re.compile(r"(?<![a-z])([a-z]+)\d")  # letters run into a number: "bd36", "tds1"
_GLUE_OK = frozenset({"q", "x", "take", "or", "to"})  # "q4h", "2x5ml", "x28", "take2", "1or2"


def _normalise(text: str) -> str:
    """NFKC, lower case, single spaces; vulgar fractions, dotted abbreviations, apostrophes."""
    if not text.isascii():
        text = _VULGAR.sub(lambda m: f" {m.group(1) or '0'}.{_VULGAR_VALUE[m.group(2)]}", text)
        text = unicodedata.normalize("NFKC", text)
        text = text.replace("\u2044", "/").replace("\u2019", "")
    text = text.lower()
    if "'" in text:
        text = text.replace("'", "")
    if "." in text:
        text = _DOTTED.sub(lambda m: m.group(0).replace(".", ""), _MAX_DOT.sub("max", text))
    if "-" in text:
        text = _TENS_HYPHEN.sub(r"\1 \2", text)
    if "(" in text:
        text = _PLURAL_S.sub(r"\1\2", text)
    return " ".join(text.split())


class _Tok:
    """A terminal of the grammar: type, text value, and index of its piece (lark-compatible).

    ``start_pos`` is the index of the token's first piece in the normalised text's pieces;
    :func:`_char_positions` turns it into a character position for messages (error path only).
    """

    __slots__ = ("start_pos", "type", "value")

    def __init__(self, type_: str, value: str, start_pos: int) -> None:
        self.type = type_
        self.value = value
        self.start_pos = start_pos


_Raw = tuple[str, str, int]  # (terminal, value, index of the piece in the text)
_Problem = tuple[int, str]  # (index of the piece, what is wrong: "unrecognised word")


@lru_cache(maxsize=4)
def _char_positions(text: str) -> tuple[int, ...]:
    """Character position of each piece of normalised ``text`` (phrases and messages only).

    Memoised for the few texts in hand: one parse asks for them up to three times.
    """
    return tuple([m.start() for m in _PIECES.finditer(text)])


def _piece_at(text: str, pos: int) -> int:
    """Index of the piece of ``text`` that covers character ``pos`` (error path only)."""
    return max(bisect.bisect_right(_char_positions(text), pos) - 1, 0)


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    """The compiled phrase pattern (compiled on first need: a faster import, issue 20)."""
    return re.compile(pattern)


def _phrases(text: str) -> dict[int, tuple[str, str] | None]:
    """Map the pieces of ``text`` inside a phrase of ``_PHRASES`` to their terminal.

    The first piece of each phrase maps to (terminal, phrase), the others to ``None``
    (skipped); ``{}`` when there is no phrase.
    """
    if _PHRASE_HINT.search(text) is None:
        return {}
    out: dict[int, tuple[str, str] | None] = {}
    starts: tuple[int, ...] | None = None
    for literals, kind, pattern in _PHRASES:
        if not any(literal in text for literal in literals):
            continue
        terminal, _, fixed = kind.partition("=")  # "ROUTE=rectal": the terminal and its value
        for m in _compiled(pattern).finditer(text):
            if starts is None:
                starts = _char_positions(text)
            first = True
            for idx in range(bisect.bisect_left(starts, m.start()), len(starts)):
                if starts[idx] >= m.end():
                    break
                if idx not in out:
                    out[idx] = (terminal, fixed or m.group(0).strip()) if first else None
                first = False
    return out


def _scan(text: str, problems: list[_Problem]) -> list[_Raw]:  # noqa: PLR0912 - one branch per kind
    """Map each word, number and symbol of normalised ``text`` to a raw terminal."""
    raw: list[_Raw] = []
    append = raw.append
    lex = _LEXICON
    phrases = _phrases(text)
    measures = _glued(text, phrases, problems) if _LETTER_DIGIT.search(text) else _NO_PIECES
    pieces = _PIECES.findall(text)
    for idx, piece in enumerate(pieces):
        if phrases and idx in phrases:
            phrase = phrases[idx]
            if phrase is not None:
                append((phrase[0], phrase[1], idx))
            continue
        entry = lex.get(piece)
        if entry is not None:
            append((entry[0], _GLUED_X if measures and idx in measures else entry[1], idx))
            continue
        first = piece[0]
        if first.isdigit() or first == ".":
            if "/" in piece:
                num, _, den = piece.partition("/")
                value = _fraction(num, den)
                if value is None:
                    problems.append((idx, "unsupported fraction"))
                else:
                    append(("_FRAC", value, idx))
            else:
                whole, _, frac = piece.partition(".")
                if len(whole.lstrip("0")) > _MAX_INT_DIGITS or len(frac) > _MAX_FRAC_DIGITS:
                    problems.append((idx, "number too long"))
                else:
                    append(("NUMBER", piece if whole else "0" + piece, idx))
        elif piece in _REFUSED:
            if piece != "third" or not _slip(text, pieces, idx, raw):  # "every third day"
                problems.append((idx, f"{_REFUSED[piece]} is not supported"))
        elif piece in _EXPANSIONS:
            for type_, value in _EXPANSIONS[piece]:
                append((type_, value, idx))
        elif "-" in piece and first.isalpha():  # "night-time", "one-two", "twice-daily"
            for k, part in enumerate(piece.split("-")):
                if k:
                    append(("_HYPH", "-", idx))
                if part in _REFUSED:
                    problems.append((idx, f"{_REFUSED[part]} is not supported"))
                    continue
                entry = lex.get(part)
                append((entry[0], entry[1], idx) if entry is not None else ("_UNK", part, idx))
        elif first.isalpha():
            if not _slip(text, pieces, idx, raw):
                append(("_UNK", piece, idx))
        else:
            problems.append((idx, "unrecognised symbol"))
    return raw


# what may follow a capital I for the digit 1 ("I DAILY", "TAKE I TABLET(S) EVERY DAY", "I
# THREE TIMES A DAY"): a unit, a frequency or a time, never a verb of a sentence ("if I need")
_AFTER_I = frozenset(
    {
        "COUNT_UNIT",
        "FREQ_ABBR",
        "TIME_ABBR",
        "EVERY",
        "EACH",
        "ONCE",
        "TWICE",
        "DAILY",
        "AT",
        "IN",
        "WHEN",
        "PRN",
        "A",
        "_WORDNUM",
    }
)
_BEFORE_I = frozenset({"VERB", "COMMA", "STOP", "_LPAR", "DASH"})


def _slip(text: str, pieces: list[str], idx: int, raw: list[_Raw]) -> bool:
    """Read the unknown word ``pieces[idx]`` as a slip of the keyboard with one reading.

    Appends to (or mends the last entry of) ``raw`` and returns ``True``; ``False`` when the
    word is no known slip. The slips, all of real UK GP text (the CPRD common dosages, issue
    16, fourth round; docs/dosage.md, "Slips of the keyboard"):

    * a whole word typed wrongly, listed in ``dosage_notes.toml`` ``[[typos]]`` ("EVERT");
    * a capital I for the digit 1, at the start of the text or after a verb or a separator and
      before a unit, a frequency or a time ("I DAILY", "TAKE I AT NIGHT"): nowhere else (the
      pronoun, "Q I D");
    * a zero for the letter O in "one", written as one word ("0NE DAILY");
    * the letter O for a zero in a volume, written as one word with its digit ("1OML TDS",
      "1O MLS", "IO ML": 10 mL) or before a decimal point ("O.5 BD": 0.5).

    A slip that could be two things ("ON": one, or at night?; "T": a tablet or a teaspoon?)
    is not read. A few words the lexicon lacks are read here too, each where it has one
    reading: "every second day" is every other day, "every third day" every 3 days, and "but"
    before a maximum ("but no more than 8 daily") is dropped.
    """
    piece = pieces[idx]
    typo = _TYPOS.get(piece)
    if typo is not None:
        raw.extend((type_, value, idx) for type_, value in typo)
        return True
    read = _SLIPS.get(piece)
    if read is None:
        return False
    at = _At(
        text,
        pieces,
        idx,
        raw[-1] if raw and raw[-1][2] == idx - 1 else None,
        pieces[idx + 1] if idx + 1 < len(pieces) else "",
    )
    return read(at, raw)


class _At(NamedTuple):
    """Where an unknown word stands (read by :func:`_slip`).

    The text, its pieces, the word's index, the raw terminal of the piece right before it
    (``None`` if that piece gave none) and the next piece.
    """

    text: str
    pieces: list[str]
    idx: int
    prev: _Raw | None
    nxt: str

    def starts_dose(self) -> bool:
        """Whether a dose may start here: the text's start, or after a verb or a separator."""
        if self.prev is None:
            return self.idx == 0 or self.pieces[self.idx - 1] in ("(", ",", ".", "-", ":", ";")
        return self.prev[0] in _BEFORE_I

    def after_digits(self) -> str:
        """The whole number written right before the word, run into it ("1" of "1oml"), or ""."""
        if self.prev is None or self.prev[0] != "NUMBER" or self.idx == 0:
            return ""
        before = self.pieces[self.idx - 1]
        starts = _char_positions(self.text)
        joined = starts[self.idx] == starts[self.idx - 1] + len(before)
        return before if joined and before.isdigit() else ""

    def volume_next(self) -> bool:
        """Whether the next piece is a volume unit ("ml", "mls")."""
        return _LEXICON.get(self.nxt, ("",))[0] == "VOLUME_UNIT"


def _slip_nth(at: _At, raw: list[_Raw]) -> bool:
    """Read "second" or "third" in "every second day" (every other day), "every third day"."""
    if at.prev is None or at.prev[0] != "EVERY" or at.nxt != "day":
        return False
    second = at.pieces[at.idx] == "second"
    raw.append(("OTHER", "other", at.idx) if second else ("NUMBER", "3", at.idx))
    return True


def _slip_but(at: _At, _raw: list[_Raw]) -> bool:
    """Drop "but" before a maximum ("EVERY 4 OR 6 HOURS BUT NO MORE THAN 8 DAILY") only."""
    after = at.pieces[at.idx + 2] if at.idx + 2 < len(at.pieces) else ""
    return at.nxt in ("no", "max", "maximum") or (at.nxt, after) in (("not", "more"), ("do", "not"))


def _slip_th(at: _At, raw: list[_Raw]) -> bool:
    """Read "th" as "the" between "in" and a time of day ("2 IN TH MORNING") only.

    Elsewhere "th" may be an ordinal's ending ("EVERY 4TH DAY") or Thursday: it stays an
    unknown word, and a refusal names it as written.
    """
    if at.prev is None or at.prev[0] != "IN" or _LEXICON.get(at.nxt, ("",))[0] != "TIMEWORD":
        return False
    raw.append(("THE", "the", at.idx))
    return True


def _slip_i(at: _At, raw: list[_Raw]) -> bool:
    """A capital I for 1 where a dose starts, before a unit, a frequency or a time."""
    if not at.starts_dose() or _LEXICON.get(at.nxt, ("",))[0] not in _AFTER_I:
        return False
    raw.append(("_WORDNUM", "1", at.idx))
    return True


def _slip_ne(at: _At, raw: list[_Raw]) -> bool:
    """Read "0ne" (a zero for the letter O) as one."""
    if at.after_digits() != "0":
        return False
    raw[-1] = ("_WORDNUM", "1", at.idx - 1)
    return True


def _slip_oml(at: _At, raw: list[_Raw]) -> bool:
    """Read "1oml", "1omls" (the letter O for a zero) as 10 mL.

    Only after a lone 1, as every such text of the corpus: "25oml" could as well be 25 mL with
    a stray O as 250 mL, so it has two readings and is refused.
    """
    digits = at.after_digits()
    if digits != "1":
        return False
    raw[-1] = ("NUMBER", digits + "0", at.idx - 1)
    raw.append(("VOLUME_UNIT", "mL", at.idx))
    return True


def _slip_io(at: _At, raw: list[_Raw]) -> bool:
    """Read "io ml" (letters for the digits) as 10 mL."""
    if not at.volume_next() or not at.starts_dose():
        return False
    raw.append(("NUMBER", "10", at.idx))
    return True


def _slip_o(at: _At, raw: list[_Raw]) -> bool:
    """Read "1o mls" (a lone 1 before, a volume after) as 10 mL, "o.5" as 0.5.

    Only after a lone 1, as :func:`_slip_oml` ("2o mls" may be 2 mL or 20 mL).
    """
    digits = at.after_digits()
    if digits == "1" and at.volume_next():
        raw[-1] = ("NUMBER", digits + "0", at.idx - 1)
        return True
    starts = _char_positions(at.text)
    point = at.nxt[:1] == "." and at.nxt[1:].isdigit() and starts[at.idx + 1] == starts[at.idx] + 1
    return point and at.starts_dose()  # the ".5" that follows is read as 0.5


_SLIPS: dict[str, Callable[[_At, list[_Raw]], bool]] = {
    "second": _slip_nth,
    "third": _slip_nth,
    "but": _slip_but,
    "i": _slip_i,
    "th": _slip_th,
    "ne": _slip_ne,
    "oml": _slip_oml,
    "omls": _slip_oml,
    "io": _slip_io,
    "o": _slip_o,
}


def _glued(
    text: str, phrases: dict[int, tuple[str, str] | None], problems: list[_Problem]
) -> frozenset[int]:
    """Refuse numbers run into words ("bd36"); return the pieces that are the "x" of "2x5ml"."""
    for m in _GLUED.finditer(text):
        at = _piece_at(text, m.end() - 1)
        if m.group(1) not in _GLUE_OK and at not in phrases:  # "(ip june14)" is a stamp
            problems.append((at, "a number run into a word"))
    return frozenset(_piece_at(text, m.start() + 1) for m in _MEASURE_X.finditer(text))


_NO_PIECES: frozenset[int] = frozenset()
_LETTER_DIGIT = re.compile(r"[a-z]\d")
_MEASURE_X = re.compile(r"(?<![\d.])\dx\d")  # "2x5ml": one digit, "x", the measure's volume
_GLUED_X = "x (glued)"


def _fraction(num: str, den: str) -> str | None:
    """The value of the fraction of a tablet ``num/den`` (1/2, 1/4, 3/4, 1/8), else ``None``.

    Only halves, quarters and eighths in lowest terms: "5/10" is a range or a strength typed with a
    slash, never a half, and "5/7" is "5 days" in UK shorthand.
    """
    if len(num) > 1 or len(den) > 1:
        return None
    n, d = int(num), int(den)
    if d not in _FRACTION_DENOMINATORS or n == 0 or n >= d or math.gcd(n, d) != 1:
        return None
    return str(_D(n) / _D(d))


_MERGING = frozenset(
    {
        "_TENS",
        "NUMBER",
        "_WORDNUM",
        "_FRAC",
        "A",
        "_HALF",
        "TO",
        "TIMEWORD",
        "BY",
        "_UNDER",
        "_LPAR",
        "_RPAR",
        "_REMOVE",
        "_UNK",
        "DASH",
        "_HYPH",
        "_SLASH",
        "FOR",
        "UP",
        "AFTER",
        "WITH",
        "BEFORE",
        "_SPOON",
        "_AMPM",
        "_MINUTE",
        "_DAYNAME",
        "_TIME",
        "OR",
        "REASON",
        "AT",
        "THE",
        "ONCE",
        "EVERY",
        "TIMES",
        "_MAINMEAL",
        "_SOFT",
        "_NOTEWORD",
        "ON",
    }
)
_NUMBERS = frozenset({"NUMBER", "_WORDNUM"})
_NUMBER_LIKE = frozenset({"NUMBER", "_WORDNUM", "_FRAC", "_HALF", "_TENS", "A"})
_AFTER_NUMBER = frozenset({"AND", "_FRAC", "NUMBER", "_WORDNUM", "_AMPM", "VOLUME_UNIT", "_MINUTE"})
_AFTER_NUMBER_MERGE = _AFTER_NUMBER | {"DASH"}
# merging terminals that stand for themselves unless the next terminal is one of these
_PLAIN_UNLESS: dict[str, frozenset[str]] = {
    "NUMBER": _AFTER_NUMBER_MERGE,
    "_WORDNUM": _AFTER_NUMBER_MERGE,
    "TIMES": _NUMBERS,
    "_TENS": frozenset({"_WORDNUM"}),
    "_FRAC": frozenset(),
    "A": frozenset({"_HALF", "TIMEWORD"}),
    "TO": frozenset({"THE", "_SKIN", "_BE", "MAX", "A", "NUMBER", "_WORDNUM", "EVERY"}),
    "FOR": frozenset({"FOR"}),
    "OR": frozenset({"AS", "WHEN", "IF", "PRN", "NUMBER", "_WORDNUM", "OR"}),
    "REASON": frozenset({"REASON", "TO", "OR"}),
    "UP": frozenset({"TO"}),
    "AFTER": frozenset({"FOOD", "MEALS", "EACH"}),
    "WITH": frozenset({"FOOD", "MEALS", "EACH"}),
    "BEFORE": frozenset({"FOOD", "MEALS", "EACH"}),
    "TIMEWORD": frozenset({"_TIME", "DASH", "_HYPH", "MEALS"}),
    "AT": frozenset({"AT", "NUMBER"}),
    "THE": frozenset({"THE"}),
    "BY": frozenset({"_MOUTH"}),
    "_DAYNAME": frozenset(),
    "ONCE": frozenset({"AT", "IN", "EVERY", "EACH", "TIMEWORD", "TIME_ABBR"}),
    "EVERY": frozenset({"DAY", "FORTNIGHT"}),
    "ON": frozenset({"", "PRN", "WHEN", "AS", "_SLASH", "COMMA", "STOP"}),
}
# "ON" (omni nocte, at night) after a dose by mouth: a number, or a tablet, capsule or volume
# unit after its number ("1 TAB ON", "10 MLS ON", "2 MANE 1 ON", "1 ON PRN"); never after a
# patch ("APPLY ... A NEW PATCH ON": the text cut short) or a frequency ("TAKE ONE DAILY ON")
_ON_AFTER = frozenset({"tablet", "capsule", "mL"})
_PLAIN_AS = {"_WORDNUM": "NUMBER", "_TENS": "NUMBER", "_FRAC": "NUMBER", "_DAYNAME": "DAYNAME"}
_BRACKETABLE = frozenset({"MASS_UNIT", "VOLUME_UNIT", "COUNT_UNIT"})
_UNITS = frozenset({"COUNT_UNIT", "DOSE", "MASS_UNIT", "VOLUME_UNIT"})
_RANGE_WORDS = frozenset({"OR", "TO", "DASH"})
# what may follow "up to N (unit)" for N to be a dose ("up to two four times a day"), not a
# maximum ("up to 8 tablets in 24 hours", "up to 8 tablets daily")
_FREQ_AFTER_UP_TO = frozenset(
    {"NUMBER", "_WORDNUM", "ONCE", "TWICE", "THRICE", "FREQ_ABBR", "TIME_ABBR", "TIMEWORD", "AT"}
)
# a note ("for blood pressure", "(to thin blood)"): words outside the lexicon, with these
_NOTE_WORDS = frozenset(
    {"_UNK", "_NOTEWORD", "_SOFT", "REASON", "FOOD", "DRUG", "DIRECTOR", "_DROP"}
)
_NOTE_STARTS = frozenset({"_UNK", "_NOTEWORD", "_SOFT"})
_NOT_AFTER_FORTNIGHT = (_NOTE_WORDS - {"_DROP"}) | _NUMBER_LIKE | {"THE"}
# what must follow "reduce(s)" or "avoid" for them to be read in a note: a word of the note
# ("to reduce cholesterol", "avoid grapefruit juice"), never a number, dose or time
_NOTE_FOLLOWS = {"_UNK": True, "_NOTEWORD": True, "REASON": True, "FOOD": True, "DRUG": True}
_NOTE_LINKS = frozenset(
    {
        "NO",  # "no driving no alcohol"
        "THE",
        "A",
        "YOUR",
        "OF",
        "AND",
        "OR",
        "TO",
        "IN",
        "ON",
        "WITH",
        "FOR",
        "BY",
        "IS",
        "THIS",
        "_HYPH",
    }
)
_NOTE_BEFORE = frozenset(
    {
        "THE",
        "A",
        "YOUR",
        "OF",
        "AND",
        "OR",
        "IN",
        "ON",
        "WITH",
        "THIS",
        "IS",
        "REASON",
        "FOOD",
        "DRUG",
        "DIRECTOR",
        "AS",  # "as a prevention for strokes", "as supplement"
        "NO",  # "no alcohol"
    }
)
_NOTE_AFTER_SEPARATOR = frozenset({"COMMA", "STOP", "SLASH"})
# what may follow a note: the end, a separator, another note, or "when required" / "as
# directed"; after "for ..." or "to ..." anything but a number ("apply one to body every 3
# days")
_AFTER_NOTE = frozenset(
    {
        "",
        "COMMA",
        "STOP",
        "_LPAR",
        "_RPAR",
        "DASH",
        "_SLASH",
        "PRN",
        "WHEN",
        "AS",
        "IF",
        "SUPPLY_NOTE",
        "TOTAL_NOTE",
        "OTHER_PATCH",
    }
)


def _note(  # noqa: PLR0912 - one branch per kind of note and of refusal
    raw: list[_Raw], types: list[str], i: int, out: list[_Tok], problems: list[_Problem]
) -> int:
    """Read the run of words around the unknown word ``raw[i]`` as a note, or refuse it.

    A note is a run of words outside the lexicon (with indication, food, drug and prescriber
    words and small linking words) that starts the text, follows a separator (comma, full
    stop, colon, bracket, dash, slash), or follows "for" (an indication: "for blood
    pressure") or "to" ("to lower cholesterol", "to chest or upper arm"). It holds no number,
    unit, frequency, time or dosing word (those end it) and no refused word (those are
    refused wherever they stand). A run of words of the note vocabulary only (``_NOTE_WORDS``
    of ``_NOTE_VOCABULARY``, from ``dosage_notes.toml``: "blood pressure", "antibiotic",
    "assorted flavours") is a note wherever it stands, when the end of the text or a separator
    closes it ("TAKE ONE DAILY BLOOD PRESSURE"). "Reduce(s)" and "avoid" are read only inside a
    note closed so, each followed by a word of the note ("to reduce cholesterol", "(avoid
    grapefruit juice)"): elsewhere they are refused (a titration; a negation). Anywhere else an
    unknown word is unrecognised. Returns the index of the first raw terminal after the run.
    """
    j = len(out)
    while j and out[j - 1].type in _NOTE_BEFORE:
        j -= 1
    lead = out[j - 1].type if j else ""
    kind = "NOTE"
    after_for = j
    if lead == "FOR":
        j -= 1
        kind = "REASON_NOTE"
        while j and out[j - 1].type in ("THIS", "IS"):  # "(this is for depression)"
            j -= 1
    k = last = i
    unknown = False
    soft: list[int] = []
    while True:
        t = types[k]
        if t in _NOTE_WORDS:
            last = k
            if t == "_UNK":
                unknown = True
            elif t == "_SOFT":
                soft.append(k)
        elif t not in _NOTE_LINKS:
            break
        k += 1
    sites = all(raw[m][1] in _SITE_WORDS for m in range(i, last + 1) if types[m] in _NOTE_WORDS)
    if lead == "TO" and (
        j < 2
        or out[j - 2].type not in ("UP", "NUMBER")
        # "apply one to body every 3 days": a site after the number, never a range ("one to
        # two"); only the words where a patch or a cream is put on, so a misspelt number
        # ("one to tw") is no site
        or (out[j - 2].type == "NUMBER" and sites)
    ):
        j -= 1
    after = types[last + 1]
    closed = after in _AFTER_NOTE
    if sites and lead in _NOTE_AFTER_SEPARATOR and after not in _NUMBER_LIKE:
        # where a patch is put on, and nothing else, after a separator ("UPPER BODY/ARM EVERY 72
        # HOURS"): no dosing content, so the instruction may go on after it (issue 16, 4th round)
        readable = True
    elif lead and lead not in _NOTE_AFTER_SEPARATOR and lead not in ("FOR", "TO"):
        # after a dosing word only words of the note vocabulary make a note, closed
        readable = closed and not unknown
    else:
        # the note must not run into the instruction ("ONEOR TWO EVERY NIGHT", "AVOID USING
        # EVERY DAY"): its words may be part of it
        readable = closed or (lead in ("FOR", "TO") and after not in _NUMBER_LIKE)
    if soft and readable:
        readable = closed and all(
            _NOTE_FOLLOWS.get(types[_skip_links(types, m + 1)], False)
            and _skip_links(types, m + 1) <= last
            for m in soft
        )
    if not readable:
        for m in range(i, last + 1):
            if types[m] in ("_UNK", "_NOTEWORD"):
                problems.append((raw[m][2], "unrecognised word"))
            elif types[m] == "_SOFT":
                problems.append((raw[m][2], f"{_REFUSED[raw[m][1]]} is not supported"))
        return last + 1
    words = [t.value for t in out[j if kind == "NOTE" else after_for :]]
    words += [raw[m][1] for m in range(i, last + 1) if types[m] not in ("_DROP", "_HYPH")]
    start = out[j].start_pos if j < len(out) else raw[i][2]
    del out[j:]
    out.append(_Tok(kind, " ".join(words), start))
    return last + 1


def _skip_links(types: list[str], k: int) -> int:
    """Index of the first terminal from ``k`` on that is not "the", "a" or "your"."""
    while types[k] in ("THE", "A", "YOUR"):
        k += 1
    return k


def _spoon(raw: list[_Raw], i: int, out: list[_Tok], unit_at: int) -> None:
    """Read "N 5ml spoonful(s)", "1-2 x 5ml spoon", "a 5ml spoonful" as a dose in mL.

    ``raw[i]`` is the volume of one spoon; a count before it (a number, a range, "a") multiplies
    it, and is replaced in ``out`` by the volume; then the volume unit is appended.
    """
    volume = _D(raw[i][1])
    if out and out[-1].type == "TIMES":  # "2 x 5ml"
        out.pop()
    if out and out[-1].type == "NUMBER":
        out[-1].value = str(_D(out[-1].value) * volume)
        if len(out) > 2 and out[-2].type in _RANGE_WORDS and out[-3].type == "NUMBER":
            out[-3].value = str(_D(out[-3].value) * volume)
    elif out and out[-1].type == "A":  # "a 5ml spoonful"
        out[-1] = _Tok("NUMBER", str(volume), out[-1].start_pos)
    else:
        out.append(_Tok("NUMBER", str(volume), raw[i][2]))
    out.append(_Tok("VOLUME_UNIT", raw[unit_at][1], raw[unit_at][2]))


def _after_when_required(out: list[_Tok]) -> bool:
    """``out`` ends with "when/as/if required" (a "to" after it is "up to", issue 16)."""
    return len(out) > 1 and out[-1].type == "REQUIRED" and out[-2].type in ("WHEN", "AS", "IF")


def _before_a_new_one(raw: list[_Raw], types: list[str], i: int) -> int:
    """Past "before applying (a) new one/patch" after "remove the old patch", or ``i``.

    "REMOVE OLD PATCH BEFORE APPLYING A NEW ONE" (PATCH): how to change a patch, no dosing
    content (the "one" is the patch, not a dose).
    """
    if types[i] != "BEFORE" or raw[i + 1][1] not in ("applying", "replacing"):
        return i
    k = i + 2
    if types[k] == "A":
        k += 1
    if types[k] == "_DROP" and raw[k][1] == "new":
        k += 1
        if types[k] == "COUNT_UNIT" or (types[k] in _NUMBERS and raw[k][1] == "1"):
            return k + 1
    return i


def _measures(out: list[_Tok]) -> bool:
    """``out`` ends with a one-digit count and "x" run into a volume: "2x5ml" (issue 16).

    "2X5ML TWICE A DAY", "1X5MLS THREE TIMES A DAY" (CPRD) are counts of a measure with the
    word "spoon" left out ("2X5ML SPOON TWICE A DAY" is read the same): two 5 mL measures,
    10 mL. Only the form written as one word is read: "Two x 2ml daily" is one of NHS England's
    must-not-map texts and stays refused. The volume is then checked like any other.
    """
    return (
        len(out) > 1
        and out[-1].type == "TIMES"
        and out[-1].value == _GLUED_X
        and out[-2].type == "NUMBER"
    )


def _clock(value: str, ampm: str) -> str | None:
    """Return the clock time of "8" + "am" ("08:00"), "2.30" + "pm" ("14:30"), else ``None``."""
    hour_text, _, minute_text = value.partition(".")
    hour, minute = int(hour_text), int(minute_text or 0)
    if not 1 <= hour <= 12 or minute > 59 or len(minute_text) not in (0, 2):
        return None
    hour = hour % 12 + (12 if ampm == "pm" else 0)
    return f"{hour:02d}:{minute:02d}"


def _unit_after_amount(raw: list[_Raw], types: list[str], at: int) -> None:
    """Move the count unit at ``at`` after the amount that follows it ("tablet(s) 1-2 daily").

    Only at the start of the text (or after its verb), and only when nothing after the amount
    could belong to it (a unit, a fraction, "and a half").
    """
    k = at + 2
    if types[k] in _RANGE_WORDS and types[k + 1] in _NUMBERS:
        k += 2
    if types[k] in _UNITS or (types[k] in _AFTER_NUMBER and types[k] != "_WORDNUM"):
        return  # "tablets 1 three times a day" is moved; "tablets 1 1/2", "tabs 1 5ml" are not
    unit, unit_type = raw[at], types[at]
    raw[at : k - 1] = raw[at + 1 : k]
    types[at : k - 1] = types[at + 1 : k]
    raw[k - 1], types[k - 1] = unit, unit_type


def _clock24(value: str, hours_follow: bool) -> str | None:
    """The clock time of "2200", "0800 (hrs)" or "09.00 hrs" (24-hour clock), else ``None``.

    Four digits are a time of day only after "at"; "09.00" only with "hrs" after it.
    """
    hour_text, dot, minute_text = value.partition(".")
    if not dot and len(value) == 4:
        hour_text, minute_text = value[:2], value[2:]
    elif not (dot and hours_follow and len(minute_text) == 2 and len(hour_text) == 2):
        return None
    hour, minute = int(hour_text), int(minute_text)
    if hour > 23 or minute > 59:
        return None
    return f"{hour:02d}:{minute:02d}"


def _meals_and_night(raw: list[_Raw], types: list[str], i: int) -> int:
    """Length of "after food and at night" / "with meals & at bedtime" at ``i``, else 0.

    After (with, before) food or meals AND at night or bedtime names four times of day: the
    three meals and the night (issue 16; Public Health Scotland reads "after meals and at night
    time" the same way). Without "and" ("with meals at night") it is one time.
    """
    k = i + 1
    if types[k] == "EACH":
        k += 1
    if types[k] not in ("FOOD", "MEALS") or raw[k][1] not in ("food", "meal", "meals"):
        return 0
    k += 1
    if types[k] != "AND":
        return 0
    k += 1
    if types[k] in ("AT", "EVERY", "BEFORE", "IN"):
        k += 1
        if types[k] == "THE":
            k += 1
    if types[k] in ("TIMEWORD", "TIME_ABBR") and raw[k][1] == "night":  # night, bedtime, nocte
        if types[k + 1] == "_TIME":  # "night time"
            return k + 2 - i
        if types[k + 1] in ("DASH", "_HYPH") and types[k + 2] == "_TIME":  # "bed-time"
            return k + 3 - i
        return k + 1 - i
    return 0


def _up_to_dose(types: list[str], raw: list[_Raw], i: int) -> bool:
    """Whether "up to" at ``i`` bounds a dose ("up to two four times a day")."""
    if types[i + 1] != "TO" or types[i + 2] not in _NUMBERS:
        return False
    k = i + 3
    if types[k] in _UNITS:
        k += 1
    after = types[k]
    if after == "EVERY":  # "every 24 hours" is a window for a maximum, "every 4 hours" a dose
        return (types[k + 1] in _NUMBERS and raw[k + 1][1] != "24") or types[k + 1] == "TIMEWORD"
    if after == "IN":
        return types[k + 1] in ("THE", "TIMEWORD")
    if after == "UP":  # "up to 2 up to four times a day": a dose, then a frequency's limit
        return types[k + 1] == "TO" and (
            types[k + 2] == "FREQ_ABBR" or (types[k + 2] in _NUMBERS and types[k + 3] == "TIMES")
        )
    return after in _FREQ_AFTER_UP_TO


def _merge(raw: list[_Raw], problems: list[_Problem]) -> list[_Tok]:  # noqa: PLR0912, PLR0915
    """Merge multi-word forms into single terminals and drop filler; returns the tokens."""
    out: list[_Tok] = []
    append = out.append
    types = [r[0] for r in raw]
    types.extend(("", "", "", "", ""))  # look-ahead padding
    n = len(raw)
    first = 1 if types[0] == "VERB" else 0
    if types[first] == "COUNT_UNIT" and types[first + 1] in _NUMBERS:
        _unit_after_amount(raw, types, first)  # "TABLET(S) 1 THREE TIMES A DAY"
    i = 0
    depth = 0
    while i < n:
        type_, value, idx = raw[i]
        if type_ not in _MERGING:
            if type_[0] == "_":
                if type_ != "_DROP":
                    problems.append((idx, "unrecognised word"))
            else:
                append(_Tok(type_, value, idx))
            i += 1
            continue
        nxt = types[i + 1]
        unless = _PLAIN_UNLESS.get(type_)
        if unless is not None and nxt not in unless:  # the usual case: nothing to merge
            append(_Tok(_PLAIN_AS.get(type_, type_), value, idx))
            i += 1
            continue
        if type_ in _NUMBERS:
            if nxt == "AND" and types[i + 2] == "A" and types[i + 3] == "_HALF":
                append(_Tok("NUMBER", str(_D(value) + _HALF), idx))  # "one and a half"
                i += 4
            elif nxt == "AND" and types[i + 2] == "_HALF":
                append(_Tok("NUMBER", str(_D(value) + _HALF), idx))  # "one and half"
                i += 3
            elif nxt == "_FRAC":
                append(_Tok("NUMBER", str(_D(value) + _D(raw[i + 1][1])), idx))  # "1 1/2"
                i += 2
            elif nxt == "VOLUME_UNIT" and types[i + 2] == "_SPOON":
                _spoon(raw, i, out, i + 1)  # "two 5ml spoonfuls"
                i += 3
            elif nxt == "DASH" and types[i + 2] == "VOLUME_UNIT" and types[i + 3] == "_SPOON":
                _spoon(raw, i, out, i + 2)  # "one 5-ml spoonful"
                i += 4
            elif nxt == "VOLUME_UNIT" and _measures(out):
                _spoon(raw, i, out, i + 1)  # "2x5ml twice a day": two 5 mL measures, 10 mL
                i += 2
            elif nxt == "_AMPM":
                clock = _clock(value, raw[i + 1][1]) if type_ == "NUMBER" else None
                if clock is None:
                    problems.append((raw[i + 1][2], "unrecognised word"))
                else:
                    append(_Tok("CLOCK", clock, idx))  # "8am", "2.30pm"
                i += 2
            elif nxt == "_MINUTE":  # "20 minutes (before food)": a note on the timing
                append(_Tok("NOTE", f"{value} minutes", idx))
                i += 2
            elif nxt in _NUMBERS and types[i + 2] == "MASS_UNIT" and types[i + 3] == "COUNT_UNIT":
                append(_Tok("NUMBER", value, idx))  # "one 10mg tablet": 10mg is a strength
                append(_Tok("STRENGTH", f"{raw[i + 1][1]} {raw[i + 1 + 1][1]}", raw[i + 1][2]))
                i += 3
            else:
                if (
                    type_ == "NUMBER"
                    and nxt == "NUMBER"
                    and (i == 0 or types[i - 1] not in _RANGE_WORDS)
                    and not (types[i + 2] == "VOLUME_UNIT" and types[i + 3] == "_SPOON")
                    and not (
                        types[i + 2] in _RANGE_WORDS
                        and types[i + 3] in _NUMBERS
                        and types[i + 4] in ("HOURLY", "HOUR")
                    )
                ):  # "1 3 times a day": one to three, thirteen, or 1 x 3? ("2 4-6 hrly": 2)
                    problems.append((raw[i + 1][2], "two numbers side by side"))
                append(_Tok("NUMBER", value, idx))
                i += 1
        elif type_ in _NOTE_STARTS:
            i = _note(raw, types, i, out, problems)
        elif type_ == "TIMES":  # "20ml x 3 daily", "half tab x 2 daily": 3 (2) times daily
            per_day = types[i + 2] == "DAILY" or (
                types[i + 2] in ("A", "PER", "EVERY") and types[i + 3] == "DAY"
            )
            if out and out[-1].type in _UNITS and out[-1].type != "DOSE" and per_day:
                append(_Tok("NUMBER", raw[i + 1][1], raw[i + 1][2]))
                append(_Tok("TIMES", value, idx))
                i += 2
            else:
                append(_Tok("TIMES", value, idx))
                i += 1
        elif type_ == "ONCE":  # "once at night", "once in the morning": the time says it
            k = i + 2 if nxt in ("AT", "IN", "EVERY", "EACH") else i + 1
            if types[k] == "THE":
                k += 1
            if types[k] not in ("TIMEWORD", "TIME_ABBR"):
                append(_Tok("ONCE", value, idx))
            i += 1
        elif type_ == "EVERY":
            if nxt == "DAY":  # "every day" is "daily" ("every day or twice a day")
                append(_Tok("DAILY", "every day", idx))
                i += 2
                continue
            if types[i + 2] in _NOT_AFTER_FORTNIGHT:
                # "FOR THINNING EVERY FORTNIGHT BLOOD", "MAXIMUM EVERY FORTNIGHT 8": in the CPRD
                # texts "every fortnight" stands where "of" was written; not a frequency
                problems.append((idx, "'every fortnight' inside a phrase (where 'of' stood?)"))
            append(_Tok("EVERY", value, idx))
            i += 1
        elif type_ == "_MAINMEAL":  # "with main meal": a food note; "and at night": refused
            if nxt == "AND" or (i and types[i - 1] == "AND"):
                problems.append((idx, "a meal and another time of day joined by 'and'"))
            else:
                append(_Tok("FOOD", value, idx))
            i += 1
        elif type_ in {"DASH", "_HYPH"}:
            # a range ("1-2", "2.5ml - 5ml") between amounts; else a separator ("twice a day -
            # oral route - one twice daily"), or a hyphen inside a word ("twice-daily")
            prev = out[-1].type if out else ""
            amount_before = prev == "NUMBER" or (
                prev in _UNITS and len(out) > 1 and out[-2].type == "NUMBER"
            )
            if amount_before and nxt in _NUMBER_LIKE:
                append(_Tok("DASH", "-", idx))
            else:
                append(_Tok("COMMA", "-", idx))
            i += 1
        elif type_ == "FOR":
            if nxt != "FOR":  # "for for pain": the word typed twice
                append(_Tok("FOR", value, idx))
            i += 1
        elif type_ == "REASON":  # "breakthrough pain": the words of one reason
            k = i + 1
            while types[k] == "REASON" or (
                types[k] in ("TO", "OR") and types[k + 1] == "REASON"
            ):  # "moderate to severe pain", "nausea or vomiting"
                k += 1
            append(_Tok("REASON", " ".join(r[1] for r in raw[i:k]), idx))
            i = k
        elif type_ == "OR":
            if nxt == "OR":  # "one or or two": the word typed twice
                i += 1
                continue
            if (
                nxt in _NUMBERS
                and len(out) > 2
                and out[-1].type == "NUMBER"
                and out[-2].type == "OR"
                and out[-3].type == "NUMBER"
                and _D(out[-1].value) == _D(out[-3].value) + 1 == _D(raw[i + 1][1]) - 1
                and types[i + 2] not in _AFTER_NUMBER
            ):  # "1 or 2 or 3 at night": one to three
                out[-1] = _Tok("NUMBER", raw[i + 1][1], raw[i + 1][2])
                i += 2
                continue
            if not (
                nxt == "PRN"
                or (nxt == "AS" and types[i + 2] in ("DIRECTED", "REQUIRED"))
                or (nxt in ("WHEN", "IF") and types[i + 2] == "REQUIRED")
            ):
                append(_Tok("OR", value, idx))
            i += 1  # "twice a day or when required", "or as directed": one instruction
        elif type_ == "_SLASH":
            if nxt in ("DAY", "WEEK", "HOUR") or (
                nxt in _NUMBERS and types[i + 2] in ("HOUR", "DAY", "WEEK")
            ):
                append(_Tok("PER", "/", idx))  # "4 times/day", "max 8/24 hours"
            else:
                append(_Tok("SLASH", "/", idx))  # "qds/prn", "bd/tds" (refused: two frequencies)
            i += 1
        elif type_ in ("AFTER", "WITH", "BEFORE"):
            length = _meals_and_night(raw, types, i)
            if length:
                append(_Tok("MEALS_NIGHT", "meals and night", idx))
                i += length
            else:
                append(_Tok(type_, value, idx))
                i += 1
        elif type_ == "UP":
            if _up_to_dose(types, raw, i):
                append(_Tok("DOSE_UP_TO", "up to", idx))
                i += 2
            else:
                append(_Tok("UP", value, idx))
                i += 1
        elif type_ == "_TENS":
            if nxt == "_WORDNUM" and raw[i + 1][1] in _ONE_TO_NINE:  # "twenty four"
                append(_Tok("NUMBER", str(int(value) + int(raw[i + 1][1])), idx))
                i += 2
            else:
                append(_Tok("NUMBER", value, idx))
                i += 1
        elif type_ == "_FRAC":
            append(_Tok("NUMBER", value, idx))
            i += 1
        elif type_ == "A":
            if nxt == "_HALF":
                append(_Tok("NUMBER", "0.5", idx))  # "a half"
                i += 2
            elif nxt == "TIMEWORD" and out and out[-1].type == "IN":
                i += 1  # "in a morning": in the morning
            else:
                append(_Tok("A", value, idx))
                i += 1
        elif type_ == "_HALF":
            append(_Tok("NUMBER", "0.5", idx))  # "half", "half a"
            i += 2 if nxt == "A" else 1
        elif type_ == "TO":
            if nxt == "THE" and types[i + 2] == "_SKIN":
                append(_Tok("ROUTE", "skin", idx))  # "to the skin"
                i += 3
            elif nxt == "_SKIN":
                append(_Tok("ROUTE", "skin", idx))  # "to skin"
                i += 2
            elif nxt == "_BE":
                append(_Tok("TOBE", "to be", idx))
                i += 2
            elif (nxt == "MAX" or (nxt == "A" and types[i + 2] == "MAX")) and (
                not out or out[-1].type != "UP"
            ):  # "every 4-6 hrs to a maximum of 8 in 24 hrs": "up to a maximum of"
                append(_Tok("UP", "", idx))
                append(_Tok("TO", value, idx))
                i += 1
            elif (nxt in _NUMBERS or nxt == "EVERY") and _after_when_required(out):
                # "two when required to eight every day", "when required to three times a
                # day" (CPRD): "when required, up to"
                append(_Tok("UP", "", idx))
                append(_Tok("TO", value, idx))
                i += 1
            else:
                append(_Tok("TO", value, idx))
                i += 1
        elif type_ == "AT" and nxt == "NUMBER":  # "at 2200", "at 0800 hrs", "at 09.00 hrs"
            clock = _clock24(raw[i + 1][1], types[i + 2] == "HOUR")
            append(_Tok("AT", value, idx))
            if clock is None:
                i += 1
            else:
                append(_Tok("CLOCK", clock, raw[i + 1][2]))
                i += 3 if types[i + 2] == "HOUR" else 2
        elif type_ in ("AT", "THE"):  # "2 at at night": the word typed twice
            i += 1
        elif type_ == "TIMEWORD":
            append(_Tok("TIMEWORD", value, idx))
            if nxt in ("_TIME", "MEALS"):  # "night time", "evening meal"
                i += 2
            elif nxt in ("DASH", "_HYPH") and types[i + 2] == "_TIME":  # "night-time"
                i += 3
            else:
                i += 1
        elif type_ == "_TIME":
            if out and out[-1].type == "NUMBER":
                append(_Tok("TIMES", "time", idx))  # "one time a day"
            else:
                problems.append((idx, "unrecognised word"))
            i += 1
        elif type_ == "_DAYNAME":
            append(_Tok("DAYNAME", value, idx))
            i += 1
        elif type_ == "ON":  # "1 TAB ON", "1 ON PRN": omni nocte, at night
            dose = out[-1] if out else None
            nocte = dose is not None and (
                dose.type == "NUMBER"
                or (dose.value in _ON_AFTER and len(out) > 1 and out[-2].type == "NUMBER")
            )
            append(_Tok("TIME_ABBR", "night", idx) if nocte else _Tok("ON", value, idx))
            i += 1
        elif type_ == "BY":
            if nxt == "_MOUTH":
                append(_Tok("ROUTE", "oral", idx))
                i += 2
            else:
                append(_Tok("BY", value, idx))
                i += 1
        elif type_ == "_UNDER":
            if nxt == "THE" and types[i + 2] == "_TONGUE":
                append(_Tok("ROUTE", "sublingual", idx))
                i += 3
            elif nxt == "_TONGUE":  # "under tongue"
                append(_Tok("ROUTE", "sublingual", idx))
                i += 2
            else:
                problems.append((idx, "unrecognised word"))
                i += 1
        elif type_ == "_REMOVE":  # "remove (the) old patch": no dosing content
            k = i + 2 if nxt == "THE" else i + 1
            after = types[k + 1]
            if types[k] == "_OLD" and (
                after == "COUNT_UNIT" or (after in _NUMBERS and raw[k + 1][1] == "1")
            ):
                i = _before_a_new_one(raw, types, k + 2)
            else:
                problems.append((idx, "unrecognised word"))
                i += 1
        elif type_ == "_LPAR":
            if nxt in _NUMBERS and types[i + 2] in _BRACKETABLE and types[i + 3] == "_RPAR":
                append(_Tok("BRACKET_QTY", f"{raw[i + 1][1]} {raw[i + 2][1]}", idx))
                i += 4
            elif (
                nxt == "_TENS"
                and types[i + 2] == "_WORDNUM"
                and raw[i + 2][1] in _ONE_TO_NINE
                and types[i + 3] == "_RPAR"
                and out
                and out[-1].type == "NUMBER"
                and out[-1].value == str(int(raw[i + 1][1]) + int(raw[i + 2][1]))
            ):  # "every 72 (seventy-two) hours": the number said again in words
                i += 4
            elif nxt in _NUMBERS and types[i + 2] == "_RPAR":
                number = raw[i + 1][1]
                restated = (out and out[-1].type == "NUMBER" and out[-1].value == number) or (
                    types[i + 3] in _NUMBERS and raw[i + 3][1] == number
                )
                if not restated:  # "(28)": a number, not the dose; "72 (seventy-two)": the same
                    append(_Tok("BRACKET_QTY", number, idx))
                i += 3
            elif (
                nxt in _NUMBERS
                and types[i + 2] in ("HOUR", "DAY", "WEEK")
                and types[i + 3] == "_RPAR"
            ):  # "every 3 days (72 hours)": the interval said again, checked like any other
                append(_Tok("EVERY", "every", idx))
                append(_Tok("NUMBER", raw[i + 1][1], raw[i + 1][2]))
                append(_Tok(types[i + 2], raw[i + 2][1], raw[i + 2][2]))
                i += 4
            else:
                depth += 1
                append(_Tok("COMMA", "(", idx))
                i += 1
        elif type_ == "_RPAR":
            depth -= 1
            if depth < 0:
                problems.append((idx, "unbalanced bracket"))
                depth = 0
            append(_Tok("COMMA", ")", idx))
            i += 1
        elif type_ == "_SPOON":
            problems.append((idx, "a spoon without its volume"))
            i += 1
        elif type_ == "_AMPM":  # "1 daily am", "5 tabs am and 4 tabs pm": a time of day
            append(_Tok("TIMEWORD", "morning" if value == "am" else "evening", idx))
            i += 1
        else:  # "_MINUTE" without its number
            problems.append((idx, "unrecognised word"))
            i += 1
    if depth > 0:
        problems.append((n and raw[-1][2], "unbalanced bracket"))
    return out


_SEPARATORS = frozenset({"COMMA", "STOP", "AND"})


def _tokenize(text: str, problems: list[_Problem]) -> list[_Tok]:
    """The terminals of normalised ``text`` for the parser, separators left out.

    Separators (commas, full stops, brackets, "and") only separate clauses in the grammar
    (``_sep``); the tokenizer has used them (notes, ranges, "one and a half"), so the parser
    does not need them, and texts that differ only in punctuation share one parse plan.
    """
    return [t for t in _merge(_scan(text, problems), problems) if t.type not in _SEPARATORS]


def _describe_problems(text: str, problems: list[_Problem]) -> tuple[str, ...]:
    """Turn (piece index, what) pairs into messages with character positions, in text order."""
    positions = _char_positions(text)
    out: dict[str, None] = {}
    for idx, what in sorted(problems):
        pos = positions[idx] if idx < len(positions) else len(text)
        out[f"{what} at position {pos}"] = None
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Grammar and tree building
# ---------------------------------------------------------------------------------------------

_HOURS_PER: dict[str, Decimal | None] = {
    "HOUR": _D(1),
    "DAY": _D(24),
    "WEEK": _D(168),
    "FORTNIGHT": _D(336),
    "MONTH": None,  # no fixed length
}
_PERIOD_HOURS: dict[str, Decimal | None] = {
    "day": _D(24),
    "week": _D(168),
    "fortnight": _D(336),
    "month": None,
}
_MEALS_AND_NIGHT = ("morning", "midday", "evening", "night")
_EVERY_PERIOD = {
    "DAY": "day",
    "WEEK": "week",
    "FORTNIGHT": "fortnight",
    "MONTH": "month",
}  # the three meals and the night
_DURATION_UNIT = {
    "HOUR": "hour",
    "DAY": "day",
    "WEEK": "week",
    "FORTNIGHT": "fortnight",
    "MONTH": "month",
}

_Amount = tuple[Decimal, Decimal | None]
_Clause = tuple[Any, ...]


def _toks(children: Sequence[object]) -> Iterator[_Tok]:
    # tokens of the lean driver (_Tok) or of lark's (lark.Token, in the tests): both have .type
    return (c for c in children if hasattr(c, "type"))  # type: ignore[misc]


def _first(children: Sequence[object], type_: str) -> _Tok:
    for c in _toks(children):
        if c.type == type_:
            return c
    raise LookupError(type_)  # pragma: no cover - the grammar guarantees the token


def _amount_of(children: Sequence[object]) -> _Amount:
    for c in children:
        if isinstance(c, tuple):
            return c
    raise LookupError("amount")  # pragma: no cover - the grammar guarantees the amount


class _Build:
    """Turn each grammar rule into a small clause tuple; ``start`` returns the clause list."""

    def start(self, children: list[object]) -> list[_Clause]:
        return [c for c in children if isinstance(c, tuple)]

    # amounts and units
    def amount_one(self, c: list[_Tok]) -> _Amount:
        return (_num(c[0].value), None)

    def amount_range(self, c: list[_Tok]) -> _Amount:
        return (_num(c[0].value), _num(c[-1].value))

    def unit(self, c: list[_Tok]) -> str:
        return str(c[0].value)

    # doses
    def dose_with_unit(self, c: list[Any]) -> _Clause:
        return ("dose", c[0], c[1], None, False)

    def dose_bare(self, c: list[Any]) -> _Clause:
        return ("dose", c[0], None, None, False)

    def dose_up_to(self, c: list[Any]) -> _Clause:
        unit = c[2] if len(c) > 2 else None
        return ("dose", c[1], unit, None, True)

    def dose_range_units(self, c: list[Any]) -> _Clause:
        low, high = c[0], c[-2]
        first_unit, second_unit = c[1], c[-1]
        if low[1] is not None or first_unit != second_unit:
            return ("problem", "a dose range whose two ends are not alike")
        return ("dose", (low[0], _num(high.value)), first_unit, None, False)

    def dose_a(self, c: list[Any]) -> _Clause:
        return ("dose", (_D(1), None), c[-1], None, False)

    def dose_unit_only(self, c: list[_Tok]) -> _Clause:
        return ("dose", None, c[-1].value, None, False)

    def dose_strength(self, c: list[_Tok]) -> _Clause:
        return ("dose", (_num(c[0].value), None), c[2].value, c[1].value, False)

    def bracket(self, c: list[_Tok]) -> _Clause:
        return ("bracket", c[0].value)

    # frequency
    def count_once(self, _c: list[_Tok]) -> _Amount:
        return (_ONE, None)

    def count_twice(self, _c: list[_Tok]) -> _Amount:
        return (_TWO, None)

    def count_thrice(self, _c: list[_Tok]) -> _Amount:
        return (_THREE, None)

    def count_times(self, c: list[Any]) -> _Amount:
        return _amount_of(c)

    def count_once_or_twice(self, _c: list[_Tok]) -> _Amount:
        return (_ONE, _TWO)

    def count_twice_or_thrice(self, _c: list[_Tok]) -> _Amount:
        return (_TWO, _THREE)

    def count_twice_or_n(self, c: list[_Tok]) -> _Amount:
        return (_TWO, _num(c[2].value))

    def per_day(self, _c: list[_Tok]) -> str:
        return "day"

    def per_week(self, _c: list[_Tok]) -> str:
        return "week"

    def per_fortnight(self, _c: list[_Tok]) -> str:
        return "fortnight"

    def per_month(self, _c: list[_Tok]) -> str:
        return "month"

    def time_unit(self, c: list[_Tok]) -> str:
        return c[0].type

    def freq_count(self, c: list[Any]) -> _Clause:
        return _per_period(c[0], c[1], up_to=False)

    def freq_count_day(self, c: list[Any]) -> _Clause:
        return _per_period(c[0], "day", up_to=False)

    def freq_count_week(self, c: list[Any]) -> _Clause:
        return _per_period(c[0], "week", up_to=False)

    def freq_up_to(self, c: list[Any]) -> _Clause:
        return _per_period(c[2], c[3], up_to=True)

    def freq_once(self, c: list[Any]) -> _Clause:
        return _per_period((_ONE, None), c[0], up_to=False)

    def freq_or(self, c: list[Any]) -> _Clause:
        first, second = c[0], c[-1]
        if (
            first[0] != "per_day"
            or second[0] != "per_day"
            or first[2] is not None
            or second[2] is not None
            or first[3]
            or second[3]
        ):
            return ("problem", "two frequencies joined by 'or' or 'to' other than times a day")
        low, high = sorted((first[1], second[1]))
        return ("per_day", low, high if high != low else None, False)

    def freq_count_every(self, c: list[Any]) -> _Clause:
        period = _EVERY_PERIOD.get(str(c[-1]))
        if period is None:
            return ("problem", "a number of times every hour")
        return _per_period(c[0], period, up_to=False)

    def freq_up_to_abbr(self, c: list[_Tok]) -> _Clause:
        return ("per_day", _num(c[-1].value), None, True)

    def freq_abbr(self, c: list[_Tok]) -> _Clause:
        return ("per_day", _num(c[0].value), None, False)

    def freq_every(self, c: list[Any]) -> _Clause:
        low, high = _amount_of(c)
        unit = str(c[-1])
        factor = _HOURS_PER[unit]
        if factor is None:
            return ("problem", "a monthly interval (no fixed number of hours)")
        return ("interval", low * factor, None if high is None else high * factor, unit)

    def freq_every_one(self, c: list[Any]) -> _Clause:
        unit = str(c[-1])
        if unit == "DAY":
            return ("per_day", _ONE, None, False)
        factor = _HOURS_PER[unit]
        if factor is None:
            return ("problem", "a monthly interval (no fixed number of hours)")
        return ("interval", factor, None, unit)

    def freq_alternate(self, _c: list[_Tok]) -> _Clause:
        return ("interval", _D(48), None, "DAY")

    def freq_weekday(self, c: list[_Tok]) -> _Clause:
        return ("weekday", c[-1].value, True)  # "every monday": once a week

    def freq_hourly(self, c: list[Any]) -> _Clause:
        low, high = _amount_of(c)
        return ("interval", low, high, "HOUR")

    # named times, PRN, reasons
    def timing(self, c: list[_Tok]) -> _Clause:
        for tok in c:
            if tok.type in ("TIMEWORD", "TIME_ABBR"):
                return ("time", (tok.value,))
        return ("problem", "a time of day")  # pragma: no cover - the grammar guarantees one

    def clock(self, c: list[_Tok]) -> _Clause:
        return ("time", (c[-1].value,))

    def meals_and_night(self, _c: list[_Tok]) -> _Clause:
        return ("time", _MEALS_AND_NIGHT)

    def weekday(self, c: list[_Tok]) -> _Clause:
        return ("weekday", c[-1].value, False)

    def note(self, c: list[_Tok]) -> _Clause:
        return ("note", c[0].value)

    def reason_note(self, c: list[_Tok]) -> _Clause:
        return ("reason", c[0].value)

    def supply_note(self, c: list[_Tok]) -> _Clause:
        return ("supply_note", c[0].value)

    def slash(self, _c: list[_Tok]) -> _Clause:
        return ("slash",)

    def prn(self, _c: list[_Tok]) -> _Clause:
        return ("prn",)

    def indication(self, c: list[_Tok]) -> _Clause:
        return ("reason", " ".join(t.value for t in c if t.type == "REASON"))

    # maximum per 24 hours
    def per_hours(self, c: list[_Tok]) -> Decimal:
        return _D(_first(c, "NUMBER").value)

    def per_days(self, c: list[_Tok]) -> Decimal:
        return _D(_first(c, "NUMBER").value) * 24

    def per_one_day(self, _c: list[_Tok]) -> Decimal:
        return _D(24)

    def max_quantity(self, c: list[Any]) -> _Clause:
        number = _D(_first(c, "NUMBER").value)
        unit = next((x for x in c if type(x) is str), None)
        hours = c[-1]
        return ("max_qty", number, unit, hours)

    def max_times(self, c: list[Any]) -> _Clause:
        return ("max_times", _D(_first(c, "NUMBER").value), c[-1])

    def max_daily(self, c: list[Any]) -> _Clause:
        return ("max_qty", _D(_first(c, "NUMBER").value), c[-1], _D(24))

    # duration, supply, directions, notes
    def duration_n(self, c: list[Any]) -> _Clause:
        low, high = _amount_of(c)
        return ("duration", low, high, _DURATION_UNIT[str(c[-1])])

    def duration_bare(self, c: list[Any]) -> _Clause:
        return ("duration_bare", _num(c[0].value), None, _DURATION_UNIT[str(c[-1])])

    def duration_a(self, c: list[Any]) -> _Clause:
        return ("duration", _D(1), None, _DURATION_UNIT[str(c[-1])])

    def supply(self, c: list[Any]) -> _Clause:
        unit = next(x for x in c if type(x) is str)
        return ("supply", _D(_first(c, "NUMBER").value), _DURATION_UNIT[unit])

    def as_directed(self, _c: list[_Tok]) -> _Clause:
        return ("directed",)

    def verb(self, _c: list[_Tok]) -> _Clause:
        return ("verb",)

    def route(self, c: list[_Tok]) -> _Clause:
        return ("route", c[0].value)

    def food(self, c: list[_Tok]) -> _Clause:
        return ("food", " ".join(t.value for t in c))

    def caution(self, c: list[_Tok]) -> _Clause:
        return ("food", " ".join(t.value for t in c))

    def meals(self, c: list[_Tok]) -> _Clause:
        return ("meals", " ".join(t.value for t in c))


# the tree builder's rule methods: the only callbacks a parse table may name
_BUILD_METHODS = frozenset(name for name in vars(_Build) if not name.startswith("_"))


def _per_period(count: _Amount, period: str, *, up_to: bool) -> _Clause:
    low, high = count
    hours = _PERIOD_HOURS[period]
    if hours is None:
        return ("problem", "a monthly frequency (no fixed number of hours)")
    if period == "day":
        return ("per_day", low, high, up_to)
    if low == 0 or (high is not None and high == 0):
        return ("problem", "a frequency of zero")
    # n times a week -> every 168/n hours (exact decimals only)
    shortest = _exact_div(hours, high if high is not None else low)
    longest = _exact_div(hours, low) if high is not None else None
    if shortest is None or (high is not None and longest is None):
        return ("problem", "a frequency whose interval is not an exact number of hours")
    return ("interval", shortest, longest, "PERIOD")


def _exact_div(a: Decimal, b: Decimal) -> Decimal | None:
    quotient = a / b
    return quotient if quotient * b == a and len(str(quotient)) <= 12 else None


_GRAMMAR_FILE = "dosage.lark"
_TABLE_FILE = "dosage_table.json"
_TABLE_FORMAT = 1


def _grammar_text() -> str:
    """The text of ``dosage.lark`` as shipped in the package."""
    return resources.files("opioidcds._resolve").joinpath(_GRAMMAR_FILE).read_text(encoding="utf-8")


def grammar_digest(grammar: str) -> str:
    """SHA-256 of the grammar text: the key of the shipped parse table (``dosage_table.json``)."""
    return hashlib.sha256(grammar.encode("utf-8")).hexdigest()


@cache
def token_list_lexer() -> type:
    """The lark lexer class that hands over the tokens the normalising tokenizer made.

    Built on first use, so that parsing never imports lark (only building or checking the parse
    table does: :func:`_parser`, ``scripts/mutate_grammar.py``).
    """
    from lark.lexer import Lexer  # noqa: PLC0415 - lark is needed only to build the table

    class _TokenListLexer(Lexer):
        """A lark lexer that hands over tokens already made by the normalising tokenizer."""

        def __init__(self, lexer_conf: object) -> None:
            """Nothing to set up: the tokens arrive ready-made."""

        def lex(self, data: Any) -> Iterator[Any]:  # type: ignore[override]  # noqa: ANN401
            """Yield the ready-made tokens (lark's interface-0 custom lexer)."""
            return iter(data)

    return _TokenListLexer


@cache
def _parser() -> Any:  # noqa: ANN401 - lark.Lark, imported only when needed
    """Build lark's LALR(1) parser of ``dosage.lark`` (strict: conflict-free).

    Used only when the shipped table is missing or stale (:func:`_tables`), by the tests (lark's
    own driver is the reference for the lean one) and by :func:`parse_table_from_grammar`.
    """
    from lark import Lark  # noqa: PLC0415 - lark is needed only to build or check the table

    return Lark(
        _grammar_text(),
        parser="lalr",
        lexer=token_list_lexer(),
        transformer=_Build(),
        strict=True,
        maybe_placeholders=False,
    )


def parse_table_from_grammar() -> dict[str, Any]:
    """Build the LALR(1) table of ``dosage.lark`` with lark (``strict``: conflict-free).

    Returns the table as stored in ``dosage_table.json``: ``format``, ``grammar_sha256`` (of the
    grammar text it was built from), ``start`` and ``end`` (state numbers), ``rules`` (each
    ``[rule, size, inline, expand1, callback]``: reduce by ``rule``, taking ``size`` symbols;
    ``callback`` names the method of the tree builder, or ``null``) and ``states``, one object a
    state mapping each symbol to a number: ``n >= 0`` shifts (or goes to, after a reduction)
    to state ``n``, ``n < 0`` reduces by rule ``-n - 1``. States are numbered breadth-first
    from the start state over sorted symbols, and rules in order of first use, so the table does
    not depend on how a lark version numbers its states; ``tests/dosage/test_parse_table.py``
    checks that the shipped file equals this function's result.

    Raises:
        lark.exceptions.GrammarError: the grammar has an LALR(1) conflict.

    """
    from lark.parsers.lalr_analysis import Shift  # noqa: PLC0415 - lark internals, used here only

    table = _parser().parser.parser._parse_table
    start = table.start_states["start"]
    number: dict[Any, int] = {start: 0}
    order = [start]
    for state in order:  # breadth-first: `order` grows while it is walked
        for symbol in sorted(table.states[state]):
            action, arg = table.states[state][symbol]
            if action is Shift and arg not in number:
                number[arg] = len(order)
                order.append(arg)
    rules: list[list[Any]] = []
    rule_number: dict[tuple[Any, ...], int] = {}
    states: list[dict[str, int]] = []
    for state in order:
        row: dict[str, int] = {}
        for symbol in sorted(table.states[state]):
            action, arg = table.states[state][symbol]
            if action is Shift:
                row[str(symbol)] = number[arg]
                continue
            origin = str(arg.origin.name)
            name = str(arg.alias or origin)
            inline = origin.startswith("_")
            callback = name if not inline and name in _BUILD_METHODS else None
            rule = (origin, len(arg.expansion), inline, bool(arg.options.expand1), callback)
            if rule not in rule_number:
                rule_number[rule] = len(rules)
                rules.append(list(rule))
            row[str(symbol)] = -rule_number[rule] - 1
        states.append(row)
    return {
        "format": _TABLE_FORMAT,
        "grammar_sha256": grammar_digest(_grammar_text()),
        "start": 0,
        "end": number[table.end_states["start"]],
        "rules": rules,
        "states": states,
    }


def dump_parse_table(table: dict[str, Any]) -> str:
    """The text of ``dosage_table.json`` for ``table``: JSON, one rule and one state a line."""
    lines = ["{"]
    lines += [f"{json.dumps(k)}: {json.dumps(table[k])}," for k in ("format", "grammar_sha256")]
    lines += [f"{json.dumps(k)}: {json.dumps(table[k])}," for k in ("start", "end")]
    for key in ("rules", "states"):
        rows = [json.dumps(row, separators=(",", ":")) for row in table[key]]
        lines.append(f"{json.dumps(key)}: [")
        lines.append(",\n".join(rows))
        lines.append("]," if key == "rules" else "]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _shipped_table(grammar: str) -> dict[str, Any] | None:
    """The parse table shipped beside the grammar, if it was built from this very grammar text.

    ``None`` when the file is missing, unreadable, of another format or built from another
    grammar text (stale): the caller then builds the table with lark. The shape of every entry
    is checked by :func:`_compile_table`.
    """
    try:
        data = json.loads(
            resources.files("opioidcds._resolve").joinpath(_TABLE_FILE).read_text(encoding="utf-8")
        )
    except (OSError, ValueError):
        return None
    if (
        not isinstance(data, dict)
        or data.get("format") != _TABLE_FORMAT
        or data.get("grammar_sha256") != grammar_digest(grammar)
    ):
        return None
    return data


class _ParseError(Exception):
    """The token stream does not fit the grammar; carries the offending token (or end)."""

    def __init__(self, token: _Tok | None) -> None:
        super().__init__("syntax")
        self.token = token


_Reduction = tuple[str, int, bool, bool, Any]  # rule, size, inline, expand1, callback
_Tables = tuple[list[dict[str, int]], list[_Reduction], int, int]


def _compile_table(data: dict[str, Any]) -> _Tables | None:
    """The table of :func:`parse_table_from_grammar` bound for :func:`_plan`, else ``None``.

    The states are used as stored (``n >= 0``: shift or go to state ``n``; ``n < 0``: reduce by
    rule ``-n - 1``); each rule gets its callback. Checks the shape of every entry (state and
    rule numbers in range, callbacks among the tree builder's rule methods), so a damaged file
    is rebuilt, never driven.
    """
    build = _Build()
    try:
        rows: list[dict[str, int]] = data["states"]
        count = len(rows)
        start, end = data["start"], data["end"]
        reductions: list[_Reduction] = []
        for origin, size, inline, expand1, name in data["rules"]:
            if (
                not isinstance(origin, str)
                or type(size) is not int
                or size < 0
                or type(inline) is not bool
                or type(expand1) is not bool
                or (name is not None and name not in _BUILD_METHODS)
            ):
                return None
            callback = None if name is None else getattr(build, name)
            reductions.append((origin, size, inline, expand1, callback))
        lowest = -len(reductions)
        in_range = all(
            type(row) is dict and all(type(n) is int and lowest <= n < count for n in row.values())
            for row in rows
        )
        if not in_range or type(start) is not int or type(end) is not int:
            return None
        if not (0 <= start < count and 0 <= end < count):
            return None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        return None
    return rows, reductions, start, end


@cache
def _tables() -> _Tables:
    """Return the LALR(1) table of ``dosage.lark``, bound for :func:`_drive`.

    The table ships with the package (``dosage_table.json``: built by lark with ``strict=True``
    from the grammar text whose SHA-256 it records; a test checks that it equals a fresh build),
    so a process's first parse does not build it (issue 20, cold start). When the file is
    missing, unreadable, damaged or built from another grammar text, lark builds the table in
    memory (conflict-free, or it raises). This module drives the table with a lean loop,
    because lark's general-purpose driver costs about two thirds of the parse time;
    ``tests/dosage`` checks that both drivers agree.
    """
    data = _shipped_table(_grammar_text())
    compiled = _compile_table(data) if data is not None else None
    if compiled is None:
        compiled = _compile_table(parse_table_from_grammar())
    if compiled is None:  # pragma: no cover - lark's own table always has the expected shape
        raise RuntimeError("the dosage grammar's parse table could not be built")
    return compiled


_Op = tuple[Any, int, int]  # (callback, values it takes) or (None, first, end): shift tokens
_Plan = tuple[_Op, ...]


@lru_cache(maxsize=8192)
def _plan(types: tuple[str, ...]) -> _Plan | int:
    """Return the steps that parse a sequence of token types: shifts and callbacks, in order.

    LALR actions depend on token types only, never on their values, so texts of the same shape
    ("2 tablets every 4 hours", "1 tablet every 6 hours") share one plan; this memo (bounded,
    like the text memo) saves the table walk for every text after the first of its shape.
    The walk also resolves lark's tree-shaping rules once: an inlined rule (``_item``) leaves
    its children on the stack, a ``?rule`` with one child is a no-op, so at run time only the
    rules with callbacks remain, each told how many values to take; consecutive shifts become
    one step. Returns the index of the token at which the sequence stops fitting the grammar
    instead (``len(types)`` when it ends too soon).
    """
    states, reductions, start, end = _tables()
    state_stack: list[int] = [start]
    widths: list[int] = []  # run-time values standing for each grammar symbol on the stack
    plan: list[_Op] = []
    shift_from = 0
    for index, ttype in enumerate((*types, "$END")):
        while True:
            act = states[state_stack[-1]].get(ttype)
            if act is None:
                return index
            if act >= 0:  # shift
                state_stack.append(act)
                widths.append(1)
                break
            origin, size, inline, expand1, callback = reductions[-act - 1]
            taken = sum(widths[-size:]) if size else 0
            if size:
                del state_stack[-size:]
                del widths[-size:]
            if inline or (expand1 and taken == 1):
                widths.append(taken)
            else:
                if shift_from < index:
                    plan.append((None, shift_from, index))
                    shift_from = index
                plan.append((callback, taken, 0))
                widths.append(1)
            state_stack.append(states[state_stack[-1]][origin])
            if ttype == "$END" and state_stack[-1] == end:
                return tuple(plan)
    return len(types)  # pragma: no cover - the end state is always reached or refused


def _drive(tokens: list[_Tok]) -> list[_Clause]:
    """Run the plan of ``tokens``' shape: shift the tokens, call the callbacks in between."""
    plan = _plan(tuple([t.type for t in tokens]))
    if isinstance(plan, int):
        raise _ParseError(tokens[plan] if plan < len(tokens) else None)
    stack: list[Any] = []
    push = stack.append
    for callback, a, b in plan:
        if callback is None:
            stack.extend(tokens[a:b])
        elif a:
            children = stack[-a:]
            del stack[-a:]
            push(callback(children))
        else:
            push(callback([]))
    result: list[_Clause] = stack[-1]
    return result


def _parse_with_lark(tokens: list[_Tok]) -> list[_Clause]:
    """Parse with lark's own LALR driver (reference for tests of :func:`_drive`)."""
    from lark import Token  # noqa: PLC0415 - the tests' reference driver only

    lark_tokens = [Token(t.type, t.value, t.start_pos) for t in tokens]
    result: list[_Clause] = _parser().parse(lark_tokens)
    return result


# ---------------------------------------------------------------------------------------------
# Assembly: clauses -> Dosage, with the consistency checks
# ---------------------------------------------------------------------------------------------


def _unique(items: list[Any]) -> list[Any]:
    return list(dict.fromkeys(items)) if len(items) > 1 else items


@cache
def _limits() -> DosageTextLimits:
    """The dosage-text limits of ``conversion_tables/plausibility.toml`` (loaded once)."""
    return default_vocabulary().dosage_text_limits


_TIMING = frozenset({"per_day", "interval", "time", "weekday"})
_DAY_DOSE = (
    "day"  # a dose "daily" or "every day" beside doses at named times ("2 daily 1 at night")
)


_AFTER_BARE_DURATION = frozenset(
    {"note", "reason", "supply_note", "supply", "prn", "food", "meals", "route", "bracket", "verb"}
)
_DOSE_AFTER_FREQUENCY = (
    "a number after the frequency or time of day (it may be the quantity supplied) is not "
    "read as the dose"
)


def _timing_key(c: _Clause) -> tuple[Any, ...]:
    return c[:3] if c[0] in ("interval", "weekday") else c


def _restated(clauses: list[_Clause], dose: _Clause) -> bool:
    """Whether ``dose``, after a frequency, starts a second reading of the same frequency.

    "twice a day - oral route - one twice daily" (an EPS text, issue 16) says the frequency
    twice, the second time with the dose: the frequency or times before the dose equal those
    after it. "EVERY MORNING TWO EVERY NIGHT" (a time without its own dose) and "BD SIXTY"
    (nothing after) are not.
    """
    at = clauses.index(dose)
    before = {_timing_key(c) for c in clauses[:at] if c[0] in _TIMING}
    after: set[tuple[Any, ...]] = set()
    for c in clauses[at + 1 :]:
        if c[0] == "dose":
            break
        if c[0] in _TIMING:
            after.add(_timing_key(c))
    return bool(before) and before == after


_Segment = tuple[_Clause, list[str]]  # a dose and the times of day it is taken at


def _segments(clauses: list[_Clause]) -> list[_Segment] | None:
    """Different doses at named times ("2 in the morning and 1 at night"), else ``None``.

    Each dose starts a segment that holds the times of day after it; a once-daily frequency
    without a named time ("three every day three every night") is the day's dose. The reading
    stands only when every dose has its own times, no time comes before the first dose, no
    segment has an interval or a frequency other than once a day, and no time is named twice.
    """
    segments: list[_Segment] = []
    for c in clauses:
        kind = c[0]
        if kind == "dose":
            segments.append((c, []))
        elif kind == "time":
            if not segments:
                return None
            segments[-1][1].extend(c[1])
        elif kind == "per_day":
            if not segments or c[1] != 1 or c[2] is not None or c[3]:
                return None
            segments[-1][1].append(_DAY_DOSE)
        elif kind in ("interval", "weekday"):
            return None
    seen: set[str] = set()
    for _, times in segments:
        if _DAY_DOSE in times and len(times) > 1:
            times.remove(_DAY_DOSE)  # "1 daily at night": the time names the daily dose
        if not times or seen.intersection(times) or len(set(times)) < len(times):
            return None
        seen.update(times)
    return segments


def _slash_between_timed_doses(clauses: list[_Clause]) -> bool:
    """Whether every "/" stands between a time of day and the next dose, each dose at its times.

    "1 MANE/1 NOCTE", "2TABS NOCTE/1 TAB MANE", "TAKE 1 MANE/1 AT NIGHT" (CPRD; issue 16,
    fourth round): the slash closes one timed dose and opens the next, so it is "and" (a day's
    schedule), as "2 mane & 3 nocte"; a choice between two times would name the times of one
    dose ("1 mane or nocte"). The doses must read as different doses at named times
    (:func:`_segments`: no time named twice, no other frequency), else the slash stays refused
    ("one/two", "1 nocte/2 nocte").
    """
    for k, c in enumerate(clauses):
        if c[0] != "slash":
            continue
        after = k + 1
        while after < len(clauses) and clauses[after][0] == "verb":
            after += 1
        if not (k and clauses[k - 1][0] == "time" and after < len(clauses)):
            return False
        if clauses[after][0] != "dose":
            return False
    return _segments(clauses) is not None


def _each_dose_timed(clauses: list[_Clause]) -> bool:
    """Whether each dose is followed, before the next dose, by a frequency or time of day.

    Changing a patch ("change (the) patch", "replace patch": a verb with the unit and no
    number) names the unit of the one dose, not a second dose, when at most one time of day is
    named: "APPLY ONE PATCH TO SKIN AND REPLACE PATCH EVERY 72 HOURS (6PM)". Anything else
    without a number ("take 2 tablets at night, take tablets in the morning": how many in the
    morning?) still counts as a dose.
    """
    times = sum(len(c[1]) for c in clauses if c[0] == "time")
    timed = True
    for c in clauses:
        if c[0] == "dose" and (c[1] is not None or c[2] != "patch" or times > 1):
            if not timed:
                return False
            timed = False
        elif c[0] in _TIMING:
            timed = True
    return timed


def _dose_problems(doses: list[_Clause], limits: DosageTextLimits) -> list[str]:
    """Doses beyond the plausibility limits of ``plausibility.toml`` ``[dosage_text]``."""
    problems: list[str] = []
    for c in doses:
        quantity = c[1]
        if quantity is None:
            continue
        top = quantity[1] if quantity[1] is not None else quantity[0]
        unit = c[2]
        if unit is None:
            if top >= limits.unitless_per_dose_limit:
                problems.append(
                    f"a number of {limits.unitless_per_dose_limit} or more without a unit "
                    "(a count, or mg or mL left out?) is not read as a dose"
                )
        elif unit in _COUNT_UNITS or unit == "dose":
            if top >= limits.count_per_dose_limit:
                problems.append(
                    f"a dose of {limits.count_per_dose_limit} or more units (tablets, "
                    "capsules, patches ...) is not plausible"
                )
        elif unit == "mL" and top > limits.oral_volume_per_dose_max_ml:
            problems.append(
                f"a volume above {limits.oral_volume_per_dose_max} in one dose is not plausible"
            )
    return problems


def _interval_problems(intervals: list[_Clause], limits: DosageTextLimits) -> list[str]:
    """A single interval stated in hours that no dosing schedule uses ("16 hourly": 1-6?).

    The ends of a range ("every 4-6 hours", "6-8 hourly") are not checked: a range states a
    flexible schedule, and its upper end need not be one of the usual intervals.
    """
    usual = limits.interval_hours_within_a_day
    for c in intervals:
        hours = c[1]
        if c[3] != "HOUR" or c[2] is not None:
            continue
        whole_days = hours >= _HOURS_A_DAY and hours % _HOURS_A_DAY == 0
        if not whole_days and hours not in usual:
            return [
                "an interval in hours other than "
                + ", ".join(str(h) for h in usual)
                + " or whole days is not read"
            ]
    return []


_DAYS_IN_A_PERIOD = (
    "a duration shorter than the time between doses ('for 2 nights a week': a number of days "
    "in each week?) is not supported"
)


def _shorter_than(duration: _Clause, interval: Decimal) -> bool:
    """Whether ``duration`` (a duration clause) ends before one ``interval`` (hours) passes.

    "1 at night for 2 nights a week" reads as a duration of 2 days and an interval of a week:
    taken literally, one dose in a course of 2 days; meant, 2 doses a week. No course is
    shorter than the time between its doses, so such a text is refused rather than read as
    one dose a week (review, issue 16 fifth round). Only durations in days or longer are
    compared: one of no fixed length (a month) is not, nor one in hours ("(MON 18.00HR)" after
    "every 1 week" of a patch is read as a time, not as days in a week).
    """
    _, low, high, unit = duration
    hours = _PERIOD_HOURS.get(unit)
    if hours is None:
        return False
    longest: Decimal = low if high is None else high
    return longest * hours < interval


def _assemble(text: str, clauses: list[_Clause]) -> Dosage | UnparsedDosage:  # noqa: PLR0912, PLR0915
    """Check that the clauses agree and build the result (the semantic pass)."""
    limits = _limits()
    problems: list[str] = []
    doses: list[_Clause] = []
    per_day: list[_Clause] = []
    intervals: list[_Clause] = []
    maxima: list[_Clause] = []
    durations: list[_Clause] = []
    supplies: list[_Clause] = []
    slots: list[str] = []
    reasons: list[str] = []
    routes: list[str] = []
    notes: list[str] = []
    free_notes: list[str] = []
    supply_notes: list[str] = []
    brackets: list[str] = []
    weekdays: list[tuple[str, bool]] = []
    prn = as_directed = meals = slash = timed = False
    previous = last_content = ""  # the kind of the clause before; of the last non-verb one
    for index, c in enumerate(clauses):
        kind = c[0]
        if kind == "verb":
            previous = kind
            continue
        if kind == "dose":
            # where a dose cannot be (issue 16): after the frequency or time of day unless
            # a verb stands right before it ("ONCE A DAY :[84]", "BD SIXTY", "take every day
            # 1": often the quantity supplied), or side by side with another ("1 TAB 1 DAILY")
            if timed and not doses and previous != "verb" and not _restated(clauses, c):
                problems.append(_DOSE_AFTER_FREQUENCY)
            if last_content == "dose":
                problems.append("two doses side by side are not read")
            doses.append(c)
        elif kind == "per_day":
            per_day.append(c)
            timed = True
        elif kind == "interval":
            intervals.append(c)
            timed = True
        elif kind == "prn":
            prn = True
        elif kind == "time":
            slots.extend(c[1])
            timed = True
        elif kind in ("max_qty", "max_times"):
            maxima.append(c)
        elif kind == "reason":
            reasons.append(c[1])
        elif kind == "route":
            routes.append(c[1])
        elif kind == "food":
            notes.append(c[1])
        elif kind == "meals":
            notes.append(c[1])
            meals = True
        elif kind == "note":
            free_notes.append(c[1])
        elif kind == "supply_note":
            supply_notes.append(c[1])
        elif kind == "weekday":
            weekdays.append((c[1], c[2]))
            timed = True
        elif kind == "slash":
            slash = True
        elif kind == "duration":
            durations.append(c)
        elif kind == "duration_bare":  # "twice a day 7 days": only at the end of the text
            if any(later[0] not in _AFTER_BARE_DURATION for later in clauses[index + 1 :]):
                problems.append(
                    "a number of days without 'for' before the rest of the instruction "
                    "('3 days a week'?) is not supported"
                )
            durations.append(("duration", *c[1:]))
        elif kind == "supply":
            supplies.append(c)
        elif kind == "bracket":
            brackets.append(c[1])
        elif kind == "directed":
            as_directed = True
        else:  # "problem"
            problems.append(c[1] + " is not supported")
        previous = last_content = kind
    problems += _dose_problems(doses, limits)
    problems += _interval_problems(intervals, limits)
    # the same clause twice says nothing new ("weekly - every 7 days": one interval)
    if len(per_day) > 1:
        per_day = _unique(per_day)
    if len(maxima) > 1:
        maxima = _unique(maxima)
    if intervals:
        intervals = _unique([c[:3] for c in intervals])
    if len(durations) > 1:
        durations = _unique(durations)
    if len(supplies) > 1:
        supplies = _unique(supplies)
    clock = [s for s in slots if ":" in s]
    if clock and len(clock) < len(slots):
        problems.append("clock times together with named times of day are not supported")
    if slash and len(doses) > 1 and not _slash_between_timed_doses(clauses):
        problems.append("two doses joined by '/' (one or the other?) are not supported")

    # the dose
    dose_low: Decimal | None = None
    dose_high: Decimal | None = None
    dose_unit: str | None = None
    strength: str | None = None
    has_quantity = up_to_dose = False
    schedule: list[TimedDose] = []
    split_per_day: Decimal | None = None
    if len(doses) == 1:  # the usual case
        _, quantity, dose_unit, strength, up_to_dose = doses[0]
        if quantity is not None:
            has_quantity = True
            dose_low, dose_high = quantity
    elif doses:
        segments = _segments(clauses)
        quantities = {(c[1], c[4]) for c in doses if c[1] is not None}
        units = {c[2] for c in doses if c[2] is not None}
        strengths = {c[3] for c in doses if c[3] is not None}
        if len(units) > 1:
            problems.append("doses in different units are not supported")
        elif units:
            dose_unit = next(iter(units))
            if dose_unit not in _COUNT_UNITS and any(c[2] is None for c in doses):
                problems.append("a dose without a unit beside a dose in mass or volume")
        if len(strengths) == 1:
            strength = next(iter(strengths))
        if segments is not None and all(c[1] is not None for c in doses):
            # doses at named times: each dose with its own times, summed over the day
            if len(quantities) == 1:
                (dose_low, dose_high), up_to_dose = next(iter(quantities))
                split_per_day = _D(sum(len(times) for _, times in segments))
            elif any(c[4] for c in doses):
                problems.append("an 'up to' dose beside other doses is not supported")
            else:
                for c, times in segments:
                    low, high = c[1]
                    schedule.append(
                        TimedDose(times=tuple(times), dose_quantity=low, dose_quantity_max=high)
                    )
                dose_low = sum((t.dose_quantity * len(t.times) for t in schedule), _D(0))
                if any(t.dose_quantity_max is not None for t in schedule):
                    dose_high = sum(
                        ((t.dose_quantity_max or t.dose_quantity) * len(t.times) for t in schedule),
                        _D(0),
                    )
                split_per_day = _D(1)
            has_quantity = True
            slots = [t for _, times in segments for t in times if t != _DAY_DOSE]
            per_day, intervals = [], []
        elif len(quantities) > 1:
            problems.append(
                "different doses in one instruction are not supported (unless each dose has "
                "its own times of day)"
            )
        elif quantities:
            if not _each_dose_timed(clauses):  # "one after food and one at night"
                problems.append(
                    "the same dose stated twice, not each with its own time or frequency"
                )
            elif len(slots) > 1 and any(c[1] is None for c in doses):
                # "take 2 tablets at night, take tablets in the morning": how many then?
                problems.append("a dose without its number beside a counted dose")
            has_quantity = True
            (dose_low, dose_high), up_to_dose = next(iter(quantities))
    if dose_low is not None:
        if dose_low <= 0:
            problems.append("a dose of zero is not supported")
        if dose_high is not None:
            if dose_high < dose_low:
                problems.append("a dose range whose lower end is above its upper end")
            elif dose_high == dose_low:
                dose_high = None

    # a day of the week: only with once a week ("every 7 days on a monday", "every monday")
    if weekdays:
        if len(_unique(weekdays)) > 1:
            problems.append("more than one day of the week is not supported")
        elif weekdays[0][1] and not (per_day or intervals):
            intervals = [("interval", _HOURS_PER["WEEK"], None)]
        if not (
            len(intervals) == 1
            and not per_day
            and intervals[0][1] == _HOURS_PER["WEEK"]
            and intervals[0][2] is None
        ):
            problems.append("a day of the week without 'once a week' is not supported")

    # frequency
    doses_per_day: Decimal | None = None
    doses_per_day_max: Decimal | None = None
    interval: Decimal | None = None
    interval_max: Decimal | None = None
    up_to = False
    max_doses: Decimal | None = None
    up_to_per_day = [f for f in per_day if f[3]] if per_day else per_day
    if (
        len(intervals) == 1
        and len(per_day) == 1
        and not up_to_per_day
        and intervals[0][2] is None
        and per_day[0][2] is None
        and intervals[0][1] * per_day[0][1] == _HOURS_A_DAY
    ):
        per_day = []  # "every 12 hours (twice a day)": the same frequency said twice
    if split_per_day is not None:
        doses_per_day = split_per_day
    elif (
        len(intervals) > 1 or len(per_day) > 1 or (intervals and len(up_to_per_day) < len(per_day))
    ):
        problems.append("more than one frequency in one instruction is not supported")
    elif intervals:
        interval, interval_max = intervals[0][1], intervals[0][2]
        if up_to_per_day:  # "every 4 hours, up to 4 times a day": a cap on administrations
            low, high = up_to_per_day[0][1], up_to_per_day[0][2]
            max_doses = high if high is not None else low
    elif per_day:
        _, doses_per_day, doses_per_day_max, up_to = per_day[0]
        if up_to and doses_per_day_max is None:
            max_doses = doses_per_day
    if slots:
        slots = _unique(slots)
        if split_per_day is not None:
            pass  # the times belong to the doses (checked by _segments)
        elif intervals:
            longest = interval_max if interval_max is not None else interval
            if len(slots) > 1 or interval is None or interval < _HOURS_A_DAY or longest is None:
                problems.append("times of day together with an interval are not supported")
        elif per_day:
            if up_to or doses_per_day_max is not None or doses_per_day != len(slots):
                problems.append("the times of day do not match the stated frequency")
        else:
            doses_per_day = _D(len(slots))
    if doses_per_day is not None:
        if doses_per_day <= 0:
            problems.append("a frequency or interval of zero is not supported")
        if doses_per_day_max is not None:
            if doses_per_day_max < doses_per_day:
                problems.append("a frequency range whose lower end is above its upper end")
            elif doses_per_day_max == doses_per_day:
                doses_per_day_max = None
    if interval is not None:
        if interval <= 0:
            problems.append("a frequency or interval of zero is not supported")
        if interval_max is not None:
            if interval_max < interval:
                problems.append("a frequency range whose lower end is above its upper end")
            elif interval_max == interval:
                interval_max = None
    has_frequency = doses_per_day is not None or interval is not None
    if meals and not (per_day or intervals or slots):
        problems.append("timing by meals without a number of doses is not supported")

    # maximum per 24 hours
    max_quantity: Decimal | None = None
    if len(maxima) > 1:
        problems.append("more than one maximum in one instruction is not supported")
    elif maxima:
        clause = maxima[0]
        if clause[-1] != 24:
            problems.append("a maximum over a period other than 24 hours is not supported")
        if clause[1] <= 0:
            problems.append("a maximum of zero is not supported")
        if clause[0] == "max_times" or clause[2] == "dose":
            if max_doses is not None and max_doses != clause[1]:
                problems.append("two different maximum numbers of doses")
            max_doses = clause[1]
        else:
            max_unit = clause[2]
            if max_unit is None and dose_unit is not None and dose_unit not in _COUNT_UNITS:
                # "10mg ... max 6 in 24 hours": six doses or six mg? Not said, so not read.
                problems.append("a maximum without a unit for a dose in mass or volume")
            if max_unit is not None:
                if dose_unit is None and max_unit in _COUNT_UNITS:
                    dose_unit = max_unit  # "one or two ..., max 8 tablets": the doses are tablets
                elif max_unit != dose_unit and not (
                    dose_unit is not None
                    and default_dose_units().same_solid_dose(max_unit, dose_unit)
                ):
                    # "1 or 2 capsules ... Maximum 8 Tablets" counts the same solid doses (the
                    # count groups of conversion_tables/dose_units.toml); anything else differs
                    problems.append("a maximum in a unit other than the dose's")
            max_quantity = clause[1]

    # duration and supply
    if len(durations) > 1:
        problems.append("more than one duration in one instruction is not supported")
    elif durations and durations[0][1] <= 0:
        problems.append("a duration of zero is not supported")
    elif durations and interval is not None and _shorter_than(durations[0], interval):
        problems.append(_DAYS_IN_A_PERIOD)
    if len(supplies) > 1:
        problems.append("more than one supply note is not supported")

    if not (has_quantity or dose_unit or has_frequency or prn or maxima or as_directed or slots):
        problems.append("no dose, frequency, 'when required' or 'as directed' was found")
    elif (
        has_quantity
        and dose_unit is None
        and not (has_frequency or prn or maxima or as_directed or slots or durations)
    ):
        problems.append("a number alone is not a dosage instruction")
    if problems:
        return _unparsed(text, tuple(dict.fromkeys(problems)))

    fields: dict[str, Any] = {"text": text}
    if dose_low is not None:
        fields["dose_quantity"] = dose_low
        if dose_high is not None:
            fields["dose_quantity_max"] = dose_high
    if up_to_dose:
        fields["dose_is_upper_limit"] = True
    if schedule:
        fields["dose_schedule"] = tuple(schedule)
    if dose_unit is not None:
        fields["dose_unit"] = dose_unit
    if strength is not None:
        fields["stated_strength"] = strength
    if doses_per_day is not None:
        fields["doses_per_day"] = doses_per_day
        if doses_per_day_max is not None:
            fields["doses_per_day_max"] = doses_per_day_max
    if interval is not None:
        fields["interval_hours"] = interval
        if interval_max is not None:
            fields["interval_hours_max"] = interval_max
    if max_doses is not None:
        fields["max_doses_per_day"] = max_doses
    if max_quantity is not None:
        fields["max_quantity_per_day"] = max_quantity
    if up_to:
        fields["frequency_is_upper_limit"] = True
    if slots:
        fields["named_times"] = tuple(slots)
    if weekdays:
        fields["weekday"] = weekdays[0][0]
    reason = " and ".join(_unique(reasons)) if reasons else None
    if prn:
        fields["prn"] = True
        fields["prn_reason"] = reason
    elif reason is not None:
        fields["indication"] = reason
    if durations:
        _, fields["duration_value"], fields["duration_value_max"], fields["duration_unit"] = (
            durations[0]
        )
    if supplies:
        _, fields["supply_value"], fields["supply_unit"] = supplies[0]
    if supply_notes:
        fields["supply_notes"] = tuple(_unique(supply_notes))
    if as_directed:
        fields["as_directed"] = True
    if brackets:
        fields["bracketed_quantities"] = tuple(_unique(brackets))
    if routes:
        fields["routes"] = tuple(_unique(routes))
    if notes:
        fields["administration_notes"] = tuple(_unique(notes))
    if free_notes:
        fields["notes"] = tuple(_unique(free_notes))
    return _new_dosage(fields)


def _new_dosage(fields: dict[str, Any]) -> Dosage:
    """``Dosage.model_validate(fields)`` without validating again (issue 16, fifth round).

    The reader types every value itself (decimals, tuples of strings, :class:`TimedDose` and
    :class:`DoseStep`, which are validated when made), so the result is the one the
    constructor gives, with the same fields recorded as given; validation took about a tenth
    of a cold parse. The tests compare every reading of the real corpus with the validated one.
    """
    dosage = Dosage.__new__(Dosage)
    fill(dosage, {**_DOSAGE_DEFAULTS, **fields}, set(fields))
    return dosage


def _unparsed(text: str, problems: tuple[str, ...]) -> UnparsedDosage:
    """``UnparsedDosage(text=text, problems=problems)`` without validating again (as above)."""
    unparsed = UnparsedDosage.__new__(UnparsedDosage)
    fill(unparsed, {"kind": "unparsed", "text": text, "problems": problems}, {"text", "problems"})
    return unparsed


# every field in field order (the text is always given: its place is kept here)
_DOSAGE_DEFAULTS: dict[str, Any] = {
    name: None if info.is_required() else info.default for name, info in Dosage.model_fields.items()
}


# ---------------------------------------------------------------------------------------------
# Public entry point
# ---------------------------------------------------------------------------------------------


def parse_dosage(text: str) -> Dosage | UnparsedDosage:
    """Parse a free-text dosage instruction; see the module docstring and ``docs/dosage.md``.

    The result is deterministic and memoised: each distinct text is parsed once (a bounded
    least-recently-used cache of 65,536 texts; :func:`clear_dosage_cache` empties it).

    Raises:
        InvalidInputError: (field ``dosage_text``) ``text`` is not a string, is empty or blank,
            or is longer than :data:`MAX_DOSAGE_TEXT_LENGTH`. The message never contains
            the text.

    """
    if not isinstance(text, str):
        raise InvalidInputError(_FIELD, "must be a string")
    if len(text) > MAX_DOSAGE_TEXT_LENGTH:
        raise InvalidInputError(_FIELD, f"must be at most {MAX_DOSAGE_TEXT_LENGTH} characters")
    if not text or text.isspace():
        raise InvalidInputError(_FIELD, "must not be empty")
    return _parse_cached(text)


@lru_cache(maxsize=_CACHE_SIZE)
def _parse_cached(text: str) -> Dosage | UnparsedDosage:
    normal = _normalise(text)
    if not normal:
        return UnparsedDosage(text=normal, problems=("no words were found",))
    try:
        result = _parse_normalised(normal)
        if isinstance(result, UnparsedDosage):
            result = _with_loading_dose(normal, result)
        if isinstance(result, UnparsedDosage):
            result = _with_trailing_maximum(normal, result)
        if isinstance(result, UnparsedDosage):
            result = _with_dose_steps(normal, result)
        if isinstance(result, UnparsedDosage):
            result = _with_alternatives(normal, result)
        elif "first" in normal and not result.dose_steps and _FOR_FIRST.search(normal):
            # "2 EVERY DAY FOR THE FIRST 14 DAYS": and then? Only a step of a dose change
            result = UnparsedDosage(text=normal, problems=(_FIRST_ALONE,))
        if isinstance(result, UnparsedDosage):
            result = _cycle_refusal(normal, result)
        return result
    except (ArithmeticError, LookupError, ValueError, TypeError):  # pragma: no cover
        # defensive: a fault in this module must not escape as a bare KeyError or IndexError,
        # and must not be read as a dose either
        return UnparsedDosage(text=normal, problems=("the instruction could not be read",))


def _parse_normalised(normal: str) -> Dosage | UnparsedDosage:
    problems: list[_Problem] = []
    tokens = _tokenize(normal, problems)
    if problems:
        return _unparsed(normal, _describe_problems(normal, problems))
    if not tokens:
        return UnparsedDosage(text=normal, problems=("no dose or instruction was found",))
    try:
        clauses = _drive(tokens)
    except _ParseError as exc:
        if exc.token is None:
            message = "the instruction ends before its last clause is complete"
        else:
            what = _DESCRIBE.get(exc.token.type, f"word '{exc.token.type.lower()}'")
            pos = _char_positions(normal)[exc.token.start_pos]
            message = f"unexpected {what} at position {pos}"
        return _unparsed(normal, (message,))
    return _assemble(normal, clauses)


# A first (loading) dose before the regular one (issue 16, third round): "2 immediately then 1
# daily", "take two now and then one daily", "2 stat then 1 daily", "two first day then one a
# day", "two capsules initially then one 6hrly as required". Only a count (digits or a number
# word up to ten, with a tablet or capsule noun or none) said to be taken once at the start,
# then a regular dosage that the grammar reads completely on its own. The reading is the
# regular dosage with the first dose kept beside it (``loading_dose_quantity``,
# ``loading_dose_when``), so the daily amount is the regular one and every result says the
# first dose differs; any other sequence ("1 daily for a week then 2 daily", "2 immediately
# then 1 after each loose stool") stays refused.
_LOADING = re.compile(
    r"(?:take )?(?P<amount>\d{1,2}(?:\.\d{1,3})?|one|two|three|four|five|six|seven|eight|nine|ten)"
    r"(?: (?P<unit>tablets?|tabs?|capsules?|caps?))?(?: to be taken)?"
    r" (?P<when>immediately|now|stat|initially|today|at once|straight away|on the first day"
    r"|first day)(?: |[,.;] ?)+(?:and |& )?(?:then |followed by )?(?P<rest>[a-z0-9(].*)"
)


# A cycle of days on and days off ("1 daily for 21 days then a 7 day break", "1 od 3 weeks in
# 4", "... followed by a 7-day tablet-free interval"; issue 16, third round): its average per
# day is not what is taken on any day, and the project's result has no field for a cycle, so
# it is refused with that reason (beside the others). A course of three weeks or 21 days and a
# break, a gap, a free interval, a week off or "N weeks in 4" after it must both be there.
_CYCLE_COURSE = re.compile(r"\b(?:21|twenty one|three|3)[ -]days?\b|\b(?:three|3) weeks?\b")
_CYCLE_BREAK = re.compile(
    r"\b(?:breaks?|gaps?|(?:pill|tablet)[ -]*free|weeks? off|weeks? in (?:4|four)|omit for"
    r"|stop for|day interval)\b"
)
_CYCLE = "a cycle of days on and days off (a break between courses) is not supported"


def _cycle_refusal(normal: str, refused: UnparsedDosage) -> UnparsedDosage:
    """``refused`` with the cycle named first when ``normal`` is one, else ``refused``."""
    course = _CYCLE_COURSE.search(normal)
    found = None if course is None else _CYCLE_BREAK.search(normal, course.start())
    if found is None:  # no course, or no break after it ("break one in half for 3 days")
        return refused
    reason = f"{_CYCLE} at position {found.start()}"
    return UnparsedDosage(text=normal, problems=(reason, *refused.problems))


def _with_loading_dose(normal: str, refused: UnparsedDosage) -> Dosage | UnparsedDosage:
    """``normal`` read as a first dose then a regular dosage (``_LOADING``), or ``refused``.

    The regular part must give a daily amount by itself, with a dose of its own in the same
    count unit as the first dose (or none: the first dose's noun is then the dose unit), and
    the first dose must be within the limits of ``plausibility.toml`` ``[dosage_text]``.
    """
    m = _LOADING.fullmatch(normal)
    if m is None:
        return refused
    regular = _parse_normalised(m["rest"])
    if not isinstance(regular, Dosage) or regular.not_convertible_reason is not None:
        return refused
    amount = m["amount"]
    first = _D(_WORD_NUMBERS[amount]) if amount in _WORD_NUMBERS else _num(amount)
    unit = _COUNT_WORDS[m["unit"]] if m["unit"] else None
    limits = _limits()
    limit = limits.count_per_dose_limit if unit else limits.unitless_per_dose_limit
    regular_unit = regular.dose_unit
    fits = (
        regular.dose_quantity is not None  # "2 immediately then every day": no regular dose
        and not regular.as_directed
        and 0 < first < limit
        # "2 immediately then 10mg daily": two doses or two mg? Capsules first, tablets after?
        and (regular_unit is None or regular_unit in _COUNT_UNITS)
        and (unit is None or regular_unit is None or unit == regular_unit)
    )
    if not fits:
        return refused
    update: dict[str, object] = {
        "text": normal,
        "loading_dose_quantity": first,
        "loading_dose_when": m["when"],
    }
    if regular_unit is None and unit is not None:
        update["dose_unit"] = unit
    return regular.model_copy(update=update)


# "MAX" after the whole instruction (issue 16, fourth round): "1 QDS MAX", "2 TABLETS 4
# TIMES/DAY PRN MAX", "1-2 FOUR TIMES A DAY MAXIMUM DOSE": the frequency is the most often
# the dose may be taken, as "up to four times a day".
_TRAILING_MAX = re.compile(r"(?P<rest>.*[a-z0-9)\]])[ .,;:-]*\b(?:max|maximum)(?: dose)?[ .]*")


def _with_trailing_maximum(normal: str, refused: UnparsedDosage) -> Dosage | UnparsedDosage:
    """``normal`` read as a dosage with its frequency marked a maximum by "max" at the end.

    The instruction before "max" must give a daily amount by itself, with a number of doses a
    day ("four times a day", "qds", "daily") and no maximum of its own; the reading is that of
    "up to" the frequency (``max_doses_per_day`` = the frequency, ``frequency_is_upper_limit``),
    so the project counts the frequency at its maximum (docs/calculation.md, "PRN and
    ranges"). Otherwise (an interval, "6-8 MAX", "TDS MAX") ``refused``.
    """
    if "max" not in normal[-16:]:  # most refused texts: one cheap look before the pattern
        return refused
    m = _TRAILING_MAX.fullmatch(normal)
    if m is None:
        return refused
    read = _parse_normalised(m["rest"])
    if (
        not isinstance(read, Dosage)
        or read.not_convertible_reason is not None
        or read.doses_per_day is None
        or read.max_doses_per_day is not None
        or read.max_quantity_per_day is not None
    ):
        return refused
    most = read.doses_per_day_max if read.doses_per_day_max is not None else read.doses_per_day
    return read.model_copy(
        update={"text": normal, "max_doses_per_day": most, "frequency_is_upper_limit": True}
    )


# A dose that goes up over time (issue 16, fifth round): a titration ("1 every night for 1 week
# then 2 every night", "one every night increasing to two every night", "1 every day for 6 days
# then 1 twice a day"). Such a prescription has, honestly, a highest daily amount, its last
# step, where the dose stays: it never exceeds it while the prescription is followed. The text
# is read as the range from its lowest step to its highest, so every consumer counts the highest
# step as it counts the upper end of "1-2 four times a day" (docs/dosage.md, "Doses that change
# over time"), and only when:
# * no step is lower than a step before it: a taper ("2 bd for 2 weeks then 1 bd", "two every
#   night reducing to one every night") ends below its highest step, so no one amount is the
#   dose the patient stays on, and NHS England's dose-syntax tests list a taper among the texts
#   that must not be mapped ("take 2 tablets twice a day for 5 days then 1 tablet per day"):
#   refused with that reason;
# * every step is read completely by itself, to a dose and a number of doses a day, with no
#   maximum, "up to", "as directed", split doses or interval, all in one unit (a bare count
#   takes the count noun of another step), all when required or none ("1 tds increasing to 2
#   tds if needed" is a condition: refused);
# * a step joined by "then" or "followed by" has a duration ("for 1 week", "one week"): without
#   one "1 every morning then 1 at midday" may be two doses of the same day, never a change;
#   "increasing to", "reducing to" say a change by themselves;
# * one step is highest in both its dose and its doses a day, and one lowest in both ("2 od then
#   1 bd" is refused: no range of dose and frequency is exactly its steps);
# * it is no cycle of days on and days off (refused with that reason).
# Anything else stays refused ("1 increasing to 3 at night": the first step has no frequency;
# "then stop", "until", "if needed", "reducing by one each week").
_STEP_JOIN = re.compile(
    r"[ ,.;:]*\b(?:(?P<then>(?:and )?then|followed by)(?: (?:increase|increasing|reduce|reducing)"
    r" to)?|(?:increase|increasing|reduce|reducing) to)\b[ ,.;:]*"
)
_FOR_FIRST = re.compile(r"\bfor (?:the )?first\b")
_FIRST_ALONE = (
    "a sequence of instructions ('for the first' days, and then?) is not supported unless a "
    "step follows"
)
_STEP_HINT = re.compile(r"\b(?:then|followed|increas|reduc)")
_STEPS_UNORDERED = (
    "a dose change whose steps are not each higher (or lower) in both dose and doses a day "
    "is not read"
)
_STEPS_DOWN = (
    "a dose that goes down over time (a taper) is not read: it has no one daily amount the "
    "patient stays on"
)
_STEPS_UNTIMED = (
    "a sequence ('then') without a duration for each step but the last is not read (a change "
    "of dose, or more doses later the same day?)"
)


def _with_dose_steps(normal: str, refused: UnparsedDosage) -> Dosage | UnparsedDosage:
    """``normal`` read as a dose that changes over time (see ``_STEP_JOIN``), or ``refused``.

    ``refused`` comes back with a reason first when every step is read but they do not make
    one range (unordered steps; "then" without durations), else unchanged.
    """
    if _STEP_HINT.search(normal) is None or _unknown_words(refused):
        return refused
    found = _step_readings(normal)
    if found is None:
        return refused
    steps, thens = found
    units = _one_unit(steps)
    if units is None:
        return refused
    ends = _steps_ends(steps, thens)
    if isinstance(ends, str):
        return UnparsedDosage(text=normal, problems=(ends, *refused.problems))
    return _stepped(normal, steps, ends, units, keep_steps=True)


def _steps_ends(steps: list[Dosage], thens: list[bool]) -> _Ends | str:
    """The range of a dose change's ``steps`` (see ``_ordered_ends``), or why it is refused.

    Refused: a step followed by "then" without a duration; steps that make no one range; a dose
    that goes down (a step's dose or doses a day, either end, lower than a step's before it).
    """
    if any(then and step.duration_value is None for then, step in zip(thens, steps, strict=False)):
        return _STEPS_UNTIMED
    ends = _ordered_ends(steps)
    if ends is None:
        return _STEPS_UNORDERED
    each = [_step_ends(step) for step in steps]
    if any(
        any(later < earlier for earlier, later in zip(before, after, strict=True))
        for before, after in itertools.pairwise(each)
    ):
        return _STEPS_DOWN
    return ends


# Two alternatives joined by "or", each a whole dosage by itself (issue 16, fifth round): "ONE
# EVERY DAY OR ONE TWICE A DAY", "TAKE ONE DAILY OR TWO DAILY", "ONE AT NIGHT OR ONE TWICE A DAY":
# the prescriber allows either, so the reading is the range from the lower alternative to the
# higher, as "one once or twice a day" and "1 or 2 daily" are read, under the same conditions as
# the steps of a dose change (one unit, both when required or neither, one alternative highest
# in both dose and doses a day). "ONE FOUR TIMES A DAY OR TWO TWICE A DAY" (neither higher in
# both: 1-2 x 2-4 would be more than either) and "1 EVERY DAY OR 1 EVERY DAY WHEN REQUIRED"
# stay refused.
_ALTERNATIVE = re.compile(r" or ")


def _with_alternatives(normal: str, refused: UnparsedDosage) -> Dosage | UnparsedDosage:
    """``normal`` read as two alternatives joined by "or" (see ``_ALTERNATIVE``), or ``refused``."""
    pieces = _ALTERNATIVE.split(normal) if " or " in normal else ()
    if len(pieces) != 2 or _unknown_words(refused):  # two alternatives, no more
        return refused
    steps: list[Dosage] = []
    for piece in pieces:
        step = _parse_normalised(piece)
        if not isinstance(step, Dosage) or not _whole_step(step) or step.duration_value is not None:
            return refused
        steps.append(step)
    units = _one_unit(steps)
    ends = None if units is None else _ordered_ends(steps)
    if units is None or ends is None:
        return refused
    return _stepped(normal, steps, ends, units, keep_steps=False)


def _unknown_words(refused: UnparsedDosage) -> bool:
    """True when ``refused`` has a word or symbol outside the lexicon: no step of it is read.

    A step is read by the same lexicon, so such a word refuses it too (a cheap look first: the
    steps of most refused texts are never read).
    """
    return any(problem.startswith("unrecognised") for problem in refused.problems)


def _one_unit(steps: list[Dosage]) -> set[str] | None:
    """The unit of ``steps`` (empty: none named), or ``None`` when they may not be one range.

    One unit (a bare count takes the count noun another step names), one stated strength, no
    note (another medicine?), all when required or none.
    """
    units = {unit for step in steps if (unit := step.dose_unit) is not None}
    if (
        len({(step.prn, step.stated_strength, step.bracketed_quantities) for step in steps}) > 1
        or any(step.notes for step in steps)  # "then calcium 1 every day": another medicine?
        or len(units) > 1
        or (units and None in {step.dose_unit for step in steps} and not units <= _COUNT_UNITS)
    ):
        return None
    return units


_Ends = tuple[tuple[Decimal, Decimal], tuple[Decimal, Decimal]]


def _ordered_ends(steps: list[Dosage]) -> _Ends | None:
    """The (lowest, highest) dose and doses a day of ``steps``, or ``None``.

    ``None`` when no step is highest in both or none lowest in both: the range would not be
    exactly its steps.
    """
    ends = [_step_ends(step) for step in steps]  # (dose low, high, doses a day low, high)
    low_dose, high_dose = min(e[0] for e in ends), max(e[1] for e in ends)
    low_freq, high_freq = min(e[2] for e in ends), max(e[3] for e in ends)
    highest = any(e[1] == high_dose and e[3] == high_freq for e in ends)
    lowest = any(e[0] == low_dose and e[2] == low_freq for e in ends)
    if not (highest and lowest):
        return None
    return (low_dose, high_dose), (low_freq, high_freq)


def _step_ends(step: Dosage) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """A step's dose (lower end, upper end) and doses a day (lower end, upper end)."""
    dose, per_day = step.dose_quantity, step.doses_per_day
    if dose is None or per_day is None:  # pragma: no cover - _whole_step checked both
        raise ValueError("a step without a dose or a frequency")
    dose_max, per_day_max = step.dose_quantity_max, step.doses_per_day_max
    return (
        dose,
        dose if dose_max is None else dose_max,
        per_day,
        per_day if per_day_max is None else per_day_max,
    )


def _step_readings(normal: str) -> tuple[list[Dosage], list[bool]] | None:
    """Each step of ``normal`` read by itself, and whether "then" follows it, or ``None``.

    ``None`` when a step is refused alone, when there is one step, or for a cycle of days on
    and days off.
    """
    pieces = _STEP_JOIN.split(normal)
    if len(pieces) < 3 or not pieces[0] or not pieces[-1]:
        return None
    course = _CYCLE_COURSE.search(normal)
    if course is not None and _CYCLE_BREAK.search(normal, course.start()) is not None:
        return None
    steps: list[Dosage] = []
    for piece in pieces[0::2]:
        step = _parse_normalised(piece)
        if not isinstance(step, Dosage) or not _whole_step(step):
            return None  # a step refused alone keeps the whole text refused
        steps.append(step)
    return steps, [join is not None for join in pieces[1::2]]


def _whole_step(step: Dosage) -> bool:
    """True when ``step`` is a step of a dose change by itself (see ``_STEP_JOIN``)."""
    return (
        step.not_convertible_reason is None
        and step.dose_quantity is not None
        and step.doses_per_day is not None
        and step.interval_hours is None
        and not step.dose_schedule
        and not step.as_directed
        and not step.dose_is_upper_limit
        and not step.frequency_is_upper_limit
        and step.max_doses_per_day is None
        and step.max_quantity_per_day is None
    )


def _stepped(
    normal: str, steps: list[Dosage], ends: _Ends, units: set[str], *, keep_steps: bool
) -> Dosage:
    """The range of ``steps``; with ``keep_steps`` (a dose change) each step is kept too."""
    dose, freq = ends
    fields: dict[str, Any] = {"text": normal, "dose_quantity": dose[0], "doses_per_day": freq[0]}
    if keep_steps:
        fields["dose_steps"] = tuple(
            DoseStep(
                dose_quantity=s.dose_quantity,
                dose_quantity_max=s.dose_quantity_max,
                doses_per_day=s.doses_per_day,
                doses_per_day_max=s.doses_per_day_max,
                named_times=s.named_times,
                duration_value=s.duration_value,
                duration_value_max=s.duration_value_max,
                duration_unit=s.duration_unit,
            )
            for s in steps
        )
    if dose[1] != dose[0]:
        fields["dose_quantity_max"] = dose[1]
    if freq[1] != freq[0]:
        fields["doses_per_day_max"] = freq[1]
    if units:
        fields["dose_unit"] = next(iter(units))
    if len({s.named_times for s in steps}) == 1:
        fields["named_times"] = steps[0].named_times
    if steps[0].prn:
        fields["prn"] = True
    reasons = _unique([r for s in steps for r in (s.prn_reason, s.indication) if r is not None])
    if reasons:
        fields["prn_reason" if steps[0].prn else "indication"] = " and ".join(reasons)
    for name in ("routes", "administration_notes", "notes", "supply_notes", "bracketed_quantities"):
        values = _unique([v for s in steps for v in getattr(s, name)])
        if values:
            fields[name] = tuple(values)
    strengths = {s.stated_strength for s in steps} - {None}
    if len(strengths) == 1:
        fields["stated_strength"] = strengths.pop()
    return _new_dosage(fields)


def clear_dosage_cache() -> None:
    """Empty the memos of parsed dosage texts and of parse plans (benchmarks and tests)."""
    _parse_cached.cache_clear()
    _plan.cache_clear()


def dosage_cache_info() -> Any:  # noqa: ANN401 - functools' _CacheInfo is private
    """Hits, misses and size of the memo of parsed dosage texts."""
    return _parse_cached.cache_info()
