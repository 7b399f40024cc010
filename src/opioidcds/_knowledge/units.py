"""Units: one pint registry, built once, and an allow-list of the spellings people write.

Why an allow-list: pint's default registry reads ``"MG"`` as megagauss, ``"Mg"`` as megagram and
``"gr"`` as grain. A dose calculator must never do that, so user text is matched against a fixed
table of spellings (case-sensitive where case carries meaning: ``mg`` yes, ``MG`` no) and mapped
onto the handful of units defined in ``units.pint``. Conversion factors are derived exactly
from that file's linear definitions (``name = number * other = symbol``) by a small reader here,
so neither the per-call path nor loading knowledge imports pint (issue 20: pint's import costs
about 100 ms of a cold start); the tests check every derived factor against pint's own reading of
the same file (:func:`registry`, which builds pint's registry on request).

Canonical units: mass ``mg``, volume ``mL``, patch rate ``microgram/hour``, time ``hour``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from opioidcds._errors import InvalidInputError, KnowledgeBaseError

__all__ = [
    "COUNT_NOUNS",
    "Dimension",
    "ParsedQuantity",
    "Strength",
    "StrengthKind",
    "canonical_factor",
    "convert",
    "parse_amount",
    "parse_decimal",
    "parse_strength",
    "pint_expression",
    "registry",
    "unit_dimension",
]


class Dimension(StrEnum):
    """The physical kind of a unit, as opioidcds uses it."""

    MASS = "mass"
    VOLUME = "volume"
    RATE = "rate"  # mass per time: patch strengths
    TIME = "time"


# spelling -> (pint unit name, dimension). Case-sensitive: "MG" and "Mg" are absent on purpose.
_MASS: dict[str, str] = {
    "mg": "milligram",
    "milligram": "milligram",
    "milligrams": "milligram",
    "g": "gram",
    "gram": "gram",
    "grams": "gram",
    "microgram": "microgram",
    "micrograms": "microgram",
    "mcg": "microgram",
    "ug": "microgram",
    "\u00b5g": "microgram",  # micro sign
    "\u03bcg": "microgram",  # Greek small letter mu
}
_VOLUME: dict[str, str] = {
    "mL": "millilitre",
    "ml": "millilitre",
    "millilitre": "millilitre",
    "millilitres": "millilitre",
    "milliliter": "millilitre",
    "milliliters": "millilitre",
}
_TIME: dict[str, str] = {
    "hour": "hour",
    "hours": "hour",
    "h": "hour",
    "hr": "hour",
    "hrs": "hour",
}
# Dose units that count whole units of a product ("2 tablets", "1 patch"), singular and plural.
_NOUNS = (
    "tablet",
    "capsule",
    "patch",
    "spray",
    "dose",
    "actuation",
    "suppository",
    "lozenge",
    "film",
    "sachet",
    "ampoule",
    "vial",
    "pessary",
)
COUNT_NOUNS: frozenset[str] = frozenset(
    {*_NOUNS, *(f"{n}s" for n in _NOUNS), "patches", "suppositories", "sprays"}
)

# Denominators that mean "per one unit of the product" (a tablet, a spray, an actuation).
_PER_UNIT_WORDS = frozenset({"dose", "actuation", "spray", "unit", "tablet", "capsule"})

_CANONICAL: dict[Dimension, str] = {
    Dimension.MASS: "milligram",
    Dimension.VOLUME: "millilitre",
    Dimension.TIME: "hour",
}
_CANONICAL_RATE = "microgram / hour"
_CANONICAL_SYMBOL: dict[Dimension, str] = {
    Dimension.MASS: "mg",
    Dimension.VOLUME: "mL",
    Dimension.RATE: "microgram/hour",
    Dimension.TIME: "hour",
}


@cache
def registry() -> Any:  # noqa: ANN401 - pint's UnitRegistry is generic and untyped here
    """Return a pint registry of ``units.pint``, built on first use (pint imported then).

    The registry defines only gram, milligram, microgram, litre, millilitre, hour and day. The
    library's own conversions do not use it (see the module docstring); it is how the tests, and
    callers who want pint quantities, read the same definitions with pint.
    """
    import pint  # noqa: PLC0415 - deferred: pint costs ~100 ms of import; needed at knowledge load

    text = (
        resources.files("opioidcds._knowledge").joinpath("units.pint").read_text(encoding="utf-8")
    )
    reg: Any = pint.UnitRegistry(None, autoconvert_offset_to_baseunit=False, non_int_type=Decimal)
    reg.load_definitions(text.splitlines())
    return reg


def unit_dimension(unit: str) -> Dimension:
    """Return the dimension of an allow-listed unit spelling (``"mg"``, ``"microgram/hour"``...).

    Raises:
        InvalidInputError: the spelling is not on the allow-list.
    """
    return _unit_spec(unit)[1]


def pint_expression(unit: str) -> str:
    """Return the ``units.pint`` expression of an allow-listed spelling (``"mcg"`` -> microgram).

    Raises:
        InvalidInputError: the spelling is not on the allow-list.
    """
    return _unit_spec(unit)[0]


@lru_cache(maxsize=256)
def _unit_spec(unit: str) -> tuple[str, Dimension]:
    """Map an allow-listed spelling to (pint expression, dimension); checked against pint."""
    text = unit.strip()
    if text in _MASS:
        spec = (_MASS[text], Dimension.MASS)
    elif text in _VOLUME:
        spec = (_VOLUME[text], Dimension.VOLUME)
    elif text in _TIME:
        spec = (_TIME[text], Dimension.TIME)
    else:
        num, sep, den = text.partition("/")
        if not sep or num.strip() not in _MASS or den.strip() not in _TIME:
            raise InvalidInputError("unit", "the unit is not on the allow-list")
        spec = (f"{_MASS[num.strip()]} / {_TIME[den.strip()]}", Dimension.RATE)
    return spec


@lru_cache(maxsize=256)
def canonical_factor(unit: str) -> Decimal:
    """Return the exact multiplier taking a value in ``unit`` to the canonical unit.

    Canonical units: mg (mass), mL (volume), microgram/hour (rate), hour (time). The factor is
    derived exactly from ``units.pint`` (:func:`convert`).

    Raises:
        InvalidInputError: the spelling is not on the allow-list.
    """
    expr, dim = _unit_spec(unit)
    target = _CANONICAL_RATE if dim is Dimension.RATE else _CANONICAL[dim]
    factor = convert(Decimal(1), expr, target)
    if factor <= 0:  # pragma: no cover - guards the definitions file itself
        raise KnowledgeBaseError("units.pint: a conversion factor is not positive")
    return factor


def convert(value: Decimal, from_unit: str, to_unit: str) -> Decimal:
    """Convert ``value`` between two unit expressions of ``units.pint``, exactly.

    An expression is a unit name or ``name / name`` (``"milligram / day"``). Derived from the
    definitions file without pint (see the module docstring); checked against pint in the tests.

    Raises:
        KnowledgeBaseError: the units are undefined or of different dimensions.
    """
    f_factor, f_dims = _expression(from_unit)
    t_factor, t_dims = _expression(to_unit)
    if f_dims != t_dims:
        raise KnowledgeBaseError("units: cannot convert between the given units")
    return (value * f_factor / t_factor).normalize()


@lru_cache(maxsize=64)
def _expression(expr: str) -> tuple[Decimal, tuple[str, str]]:
    """(factor to the base units, (numerator dimension, denominator dimension)) of ``expr``."""
    num, sep, den = expr.partition("/")
    units = _definitions()
    try:
        n_factor, n_dim = units[num.strip()]
        d_factor, d_dim = units[den.strip()] if sep else (Decimal(1), "")
    except KeyError:
        raise KnowledgeBaseError("units: cannot convert between the given units") from None
    return n_factor / d_factor, (n_dim, d_dim)


_DEFINITION = re.compile(
    r"^(?P<name>\w+)\s*=\s*(?:\[(?P<dim>\w+)\]|(?P<num>[0-9.eE+-]+)\s*\*\s*(?P<of>\w+))"
    r"\s*=\s*\w+$"
)


@cache
def _definitions() -> dict[str, tuple[Decimal, str]]:
    """Each unit of ``units.pint``: its exact factor to its dimension's base unit, and dimension.

    Raises:
        KnowledgeBaseError: a line is not a base unit (``name = [dim] = sym``) or a linear
            definition (``name = number * defined = sym``): this reader takes nothing else.
    """
    text = (
        resources.files("opioidcds._knowledge").joinpath("units.pint").read_text(encoding="utf-8")
    )
    units: dict[str, tuple[Decimal, str]] = {}
    for line in text.splitlines():
        stripped = line.split("#", 1)[0].strip()
        if not stripped:
            continue
        m = _DEFINITION.match(stripped)
        if m is None:
            raise KnowledgeBaseError("units.pint: a definition is not in the supported form")
        if m["dim"] is not None:
            units[m["name"]] = (Decimal(1), m["dim"])
            continue
        if m["of"] not in units:
            raise KnowledgeBaseError("units.pint: a unit is defined from an undefined one")
        try:
            number = Decimal(m["num"])
        except InvalidOperation:
            raise KnowledgeBaseError("units.pint: a factor is not a number") from None
        base, dim = units[m["of"]]
        units[m["name"]] = (number * base, dim)
    return units


_NUMBER = r"(?:\d+(?:\.\d+)?|\.\d+)"
_NUMBER_RE = re.compile(rf"^{_NUMBER}$")
_AMOUNT_RE = re.compile(rf"^\s*({_NUMBER})\s*([^\d\s/][^/]*?(?:/\s*[^\d\s/][^/]*?)?)\s*$")


def parse_decimal(text: str, field: str) -> Decimal:
    """Parse a plain non-negative decimal numeral (no sign, exponent, NaN or infinity).

    Raises:
        InvalidInputError: ``text`` is not such a numeral. The message names ``field`` only.
    """
    stripped = text.strip()
    if not _NUMBER_RE.match(stripped):
        raise InvalidInputError(field, "must be a plain decimal number (digits, optional point)")
    try:
        return Decimal(stripped)
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only valid numerals
        raise InvalidInputError(field, "must be a plain decimal number") from exc


@dataclass(frozen=True, slots=True)
class ParsedQuantity:
    """A number with an allow-listed unit, in canonical units (mg, mL, microgram/hour, hour)."""

    value: Decimal
    dimension: Dimension

    @property
    def unit(self) -> str:
        """The canonical unit symbol of this quantity."""
        return _CANONICAL_SYMBOL[self.dimension]


def parse_amount(text: str, field: str = "amount") -> ParsedQuantity:
    """Parse ``"<number> <unit>"`` (e.g. ``"40 mg"``, ``"25 microgram/hour"``) to canonical units.

    Raises:
        InvalidInputError: malformed number, unit not on the allow-list.
    """
    return _parse_amount_cached(text, field)


@lru_cache(maxsize=4096)
def _parse_amount_cached(text: str, field: str) -> ParsedQuantity:
    match = _AMOUNT_RE.match(text)
    if match is None:
        raise InvalidInputError(field, "must be a number followed by an allow-listed unit")
    number = parse_decimal(match.group(1), field)
    try:
        dim = unit_dimension(match.group(2))
        factor = canonical_factor(match.group(2))
    except InvalidInputError as exc:
        raise InvalidInputError(field, "the unit is not on the allow-list") from exc
    return ParsedQuantity(number * factor, dim)


class StrengthKind(StrEnum):
    """How a product's strength is expressed."""

    PER_UNIT = "per-unit"  # mg per tablet/capsule/suppository/spray: "40 mg"
    PER_VOLUME = "per-volume"  # mg per mL: "10 mg/5 mL"
    RATE = "rate"  # patch: "25 microgram/hour"
    COMBINATION = "combination"  # "30 mg/500 mg": one mass per ingredient, per unit


@dataclass(frozen=True, slots=True)
class Strength:
    """A parsed product strength in canonical units.

    ``amounts`` holds one value per ingredient (one, except for combinations): mg per unit,
    mg per ``volume_ml`` mL, or microgram/hour by ``kind``. The volume is kept apart, not
    divided in, so that "10 mg/3 mL" stays exact until the single final division.
    """

    kind: StrengthKind
    amounts: tuple[Decimal, ...]
    volume_ml: Decimal | None = None  # PER_VOLUME only: amounts are mg in this many mL

    @property
    def unit(self) -> str:
        """The canonical unit of each amount."""
        if self.kind is StrengthKind.PER_VOLUME:
            return f"mg/{self.volume_ml} mL"
        if self.kind is StrengthKind.RATE:
            return "microgram/hour"
        return "mg"


def parse_strength(text: str) -> Strength:
    """Parse a product strength: ``"40 mg"``, ``"10 mg/5 mL"``, ``"25 microgram/hour"``...

    Also ``"30 mg/500 mg"`` (a combination, one mass per ingredient) and ``"50 microgram/dose"``.

    Raises:
        InvalidInputError: (field ``strength``) malformed, unknown unit, zero amount.
    """
    return _parse_strength_cached(text)


_FIELD = "strength"


@lru_cache(maxsize=4096)
def _parse_strength_cached(text: str) -> Strength:
    parts = [p.strip() for p in re.split(r"/|\bper\b", text)]
    if not parts or any(not p for p in parts) or len(parts) > 4:
        raise InvalidInputError(_FIELD, "must be like '40 mg', '10 mg/5 mL' or '30 mg/500 mg'")
    first = parse_amount(parts[0], _FIELD)
    if first.dimension is not Dimension.MASS:
        raise InvalidInputError(_FIELD, "must start with an amount of mass")
    rest = parts[1:]
    if not rest:
        strength = Strength(StrengthKind.PER_UNIT, (first.value,))
    elif len(rest) == 1:
        strength = _two_part(first.value, rest[0])
    else:
        masses = [first.value]
        for part in rest:
            q = parse_amount(part, _FIELD)
            if q.dimension is not Dimension.MASS:
                raise InvalidInputError(_FIELD, "a combination lists one mass per ingredient")
            masses.append(q.value)
        strength = Strength(StrengthKind.COMBINATION, tuple(masses))
    if any(a <= 0 for a in strength.amounts):
        raise InvalidInputError(_FIELD, "every amount must be greater than zero")
    return strength


def _two_part(mass_mg: Decimal, den: str) -> Strength:
    """Interpret ``<mass>/<den>``: per dose, per hour (patch), per volume, or a combination."""
    if den in _PER_UNIT_WORDS or den.removesuffix("s") in _PER_UNIT_WORDS:
        return Strength(StrengthKind.PER_UNIT, (mass_mg,))
    if den in _TIME:
        # mass_mg is in mg, so the strength is mg per <den>; canonical is microgram/hour.
        return Strength(StrengthKind.RATE, (mass_mg * canonical_factor(f"mg/{den}"),))
    if den in _VOLUME or den in _MASS:
        den = f"1 {den}"
    q = parse_amount(den, _FIELD)
    if q.dimension is Dimension.VOLUME:
        if q.value <= 0:
            raise InvalidInputError(_FIELD, "the volume must be greater than zero")
        return Strength(StrengthKind.PER_VOLUME, (mass_mg,), volume_ml=q.value)
    if q.dimension is Dimension.MASS:
        return Strength(StrengthKind.COMBINATION, (mass_mg, q.value))
    raise InvalidInputError(_FIELD, "the denominator must be a volume, an hour or a mass")
