"""The prescription: one product and its dose, as a frozen, strictly validated input model.

Inputs validate strictly (``extra="forbid"``) and, when invalid, raise
:class:`~opioidcds.InvalidInputError` naming the field, never echoing the value
(``hide_input_in_errors=True``).
"""

from __future__ import annotations

import inspect
import re
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from operator import itemgetter
from typing import Any, Final, Self, cast

from annotated_types import MaxLen, MinLen
from pydantic import Field, model_validator

from opioidcds._base import InputModel, fill, set_dict, set_extra, set_fields_set, set_private
from opioidcds._errors import InvalidInputError
from opioidcds._knowledge.units import (
    COUNT_NOUNS,
    Dimension,
    Strength,
    canonical_factor,
    parse_strength,
    unit_dimension,
)

__all__ = [
    "CODE_AND_TEXT",
    "DOSE_FIELDS",
    "DoseUnitKind",
    "PainIndication",
    "Prescription",
    "PrnPolicy",
    "dose_unit_kind",
]

_TEXT_MAX = 500  # longest free-text field accepted (a product name or a form); not clinical
_ID_MAX = 200  # longest prescription identifier accepted; not clinical
_MAX_DAYS_SUPPLY = 366  # plausibility cap on one supply (a year), as IssueRecord; not clinical


class PrnPolicy(StrEnum):
    """How "when required" (PRN) doses and dose ranges count towards the daily amount.

    The maximum permitted daily amount is the default for alerting (``docs/calculation.md``,
    "PRN and ranges"); every result names the policy it applied.
    """

    MAXIMUM = "maximum"
    """Upper end of every range; PRN at its maximum permitted daily amount (default)."""
    REGULAR_ONLY = "regular-only"
    """Upper end of every range; PRN prescriptions excluded, each listed as excluded."""
    MINIMUM = "minimum"
    """Lower end of every range; PRN prescriptions excluded, each listed as excluded."""


class PainIndication(StrEnum):
    """What a prescription is for, when the prescriber records it (the starting checks read it).

    NICE NG193 (2021) separates chronic primary pain (no opioid to be started) from chronic
    secondary pain; acute pain has its own supply limit (rules/prescribing-alerts.toml).
    """

    ACUTE = "acute-pain"
    CHRONIC_PRIMARY = "chronic-primary-pain"
    CHRONIC_SECONDARY = "chronic-secondary-pain"


class DoseUnitKind(StrEnum):
    """What a ``dose_unit`` counts: mass, volume, or whole units of the product."""

    MASS = "mass"
    VOLUME = "volume"
    COUNT = "count"


# Positive, finite, at most 10 digits before and 10 after the point: keeps every product of
# inputs exact at the calculator's 150-digit precision and refuses "1e400"-style magnitudes.
_Positive = Field(default=None, gt=0, allow_inf_nan=False, max_digits=20, decimal_places=10)


DOSE_FIELDS = (
    "dose_quantity",
    "dose_quantity_max",
    "dose_unit",
    "doses_per_day",
    "doses_per_day_max",
    "interval_hours",
    "interval_hours_max",
    "max_doses_per_day",
    "max_quantity_per_day",
)
"""The structured dose fields of :class:`Prescription` (with ``prn``), in one place."""

_STRUCTURED_DOSE = (*DOSE_FIELDS[1:], "prn")  # all but dose_quantity itself
_structured_dose: Final = itemgetter(*_STRUCTURED_DOSE)  # their values, as one tuple
_NUMBER_FIELDS = tuple(name for name in DOSE_FIELDS if name != "dose_unit")
_numbers: Final = itemgetter(*_NUMBER_FIELDS)
_hashed: Final = itemgetter("dmd_code", "product_name", "drug", "dosage_text", "dose_quantity")
_NO_NUMBERS: Final = (None,) * len(_NUMBER_FIELDS)


_UNSET: Final[Any] = object()
"""A field not given to :class:`Prescription` (``None`` is a value a caller may give)."""


class Prescription(InputModel):
    """One prescription: a product (dm+d code or name, or structured fields) and a dose.

    ``dmd_code`` (a dm+d VMP/AMP SNOMED CT code) or ``product_name`` (its dm+d name) fill the
    drug, form and strength from the product catalogue; explicit fields that contradict the
    product are an input error. Otherwise ``drug`` is the ingredient ("oxycodone") or a
    combination name ("co-codamol"); ``form`` names the pharmaceutical form
    ("modified-release tablet", "transdermal patch", "oral solution") and so the route;
    ``strength`` is "40 mg", "25 microgram/hour", "10 mg/5 mL" or, for a combination, one mass
    per ingredient in the order of its name ("30 mg/500 mg").

    The dose is ``dose_quantity`` (to ``dose_quantity_max`` for a range) of ``dose_unit``
    ("tablet", "patch", "mL", "mg", ...), taken ``doses_per_day`` times a day (to
    ``doses_per_day_max``) or every ``interval_hours`` hours (to ``interval_hours_max``).
    ``prn`` marks "when required"; ``max_doses_per_day`` caps administrations and
    ``max_quantity_per_day`` caps the amount (in ``dose_unit``) per 24 hours. ``dosage_text``
    is the free-text dosage ("ONE TO BE TAKEN TWICE A DAY"): read by the dosage grammar when no
    structured dose is given; when both are given, the structured dose wins and they must agree.

    Two flags let a caller say what it does not know instead of guessing (fail closed):
    ``dose_unknown`` is a current medicine whose dose cannot be stated (no dose fields and no
    text): the calculator lists it as not convertible and the total becomes a lower bound.
    ``dose_is_minimum`` marks a dose that is the least the patient takes (e.g. one patch
    assumed worn at a time): it is counted, and the total is a lower bound.

    Identity and replacement: ``id`` is the caller's identifier of the prescription (a FHIR
    MedicationRequest id, a practice system's item id); ``replaces`` names the current
    prescription this one replaces (a dose change): its ``id``, else its ``dmd_code`` or
    ``product_name`` (FHIR ``MedicationRequest.priorPrescription``, "an order/prescription that
    is being replaced"). A replaced prescription counts in the total *before* and not *after*,
    so a dose change is never counted twice. ``days_supply`` is the number of days the supplied
    quantity lasts; ``indication`` what it is for (:class:`PainIndication`), both optional and
    read only by the prescribing alerts.

    Raises:
        InvalidInputError: missing, contradictory, non-finite, negative or zero values, or a
            strength or unit off the allow-list. The message names fields, not values.
    """

    dmd_code: str | None = Field(default=None, pattern=r"^[0-9]{6,20}$")
    product_name: str | None = Field(default=None, min_length=1, max_length=_TEXT_MAX)
    drug: str | None = Field(default=None, min_length=1, max_length=_TEXT_MAX)
    form: str | None = Field(default=None, min_length=1, max_length=_TEXT_MAX)
    route: str | None = Field(default=None, min_length=1, max_length=_TEXT_MAX)
    strength: str | None = Field(default=None, min_length=1, max_length=_TEXT_MAX)
    dose_quantity: Decimal | None = _Positive
    dose_quantity_max: Decimal | None = _Positive
    dose_unit: str | None = Field(default=None, min_length=1, max_length=_TEXT_MAX)
    doses_per_day: Decimal | None = _Positive
    doses_per_day_max: Decimal | None = _Positive
    interval_hours: Decimal | None = _Positive
    interval_hours_max: Decimal | None = _Positive
    prn: bool = False
    max_doses_per_day: Decimal | None = _Positive
    max_quantity_per_day: Decimal | None = _Positive
    dosage_text: str | None = Field(default=None, min_length=1, max_length=_TEXT_MAX)
    dose_unknown: bool = False
    dose_is_minimum: bool = False
    id: str | None = Field(default=None, min_length=1, max_length=_ID_MAX)
    replaces: str | None = Field(default=None, min_length=1, max_length=_TEXT_MAX)
    days_supply: int | None = Field(default=None, ge=1, le=_MAX_DAYS_SUPPLY)
    indication: PainIndication | None = None

    def __init__(
        self,
        /,
        *,
        dmd_code: Any = _UNSET,  # noqa: ANN401 - whatever a caller sends (validated)
        dosage_text: Any = _UNSET,  # noqa: ANN401
        **data: Any,  # noqa: ANN401 - pydantic's own signature
    ) -> None:
        """Validate the fields given; raises :class:`InvalidInputError` naming each bad field.

        A prescription given only as text fields and flags that pydantic would accept as they
        are (no surrounding whitespace, within their lengths and patterns, true booleans: a dm+d
        code and a dosage text, as a record sends) is built without going through pydantic's
        validation, which would return the same values (issue 20: about 2 microseconds a
        prescription); the model's own checks run as always. Anything else (numbers, a value
        to strip or to refuse) goes through pydantic, so every error reads as before. The code
        and the text are named parameters so that the commonest call, with these two alone,
        builds no dictionary of keywords.
        """
        if (
            not data
            and type(self) is Prescription  # a subclass may add defaults, fields, validators
            and type(dmd_code) is str
            and type(dosage_text) is str
            and (dmd_code in _CODES_SEEN or _is_code(dmd_code))
            and (dosage_text in _TEXTS_SEEN or _is_text(dosage_text))
        ):
            # the commonest prescription a record sends: a dm+d code and a dosage text, as
            # given. _validate has nothing to refuse in it (a product is named; no identity,
            # structured dose, flag or strength), so it is not run (issue 20).
            values = _DEFAULTS.copy()
            values["dmd_code"] = dmd_code
            values["dosage_text"] = dosage_text
            # fill, written out (one call fewer per prescription); the names given are one
            # set shared by every prescription built so, which nothing mutates (CODE_AND_TEXT)
            set_dict(self, values)
            set_fields_set(self, CODE_AND_TEXT)
            set_extra(self, None)
            set_private(self, None)
            return
        if dmd_code is not _UNSET:
            data["dmd_code"] = dmd_code
        if dosage_text is not _UNSET:
            data["dosage_text"] = dosage_text
        if type(self) is not Prescription or not _as_given(data):
            super().__init__(**data)  # pydantic: a subclass's own defaults, fields, validators
            return
        values = _DEFAULTS.copy()
        values.update(data)
        fill(self, values, set(data))
        self._validate()

    @classmethod
    def model_construct(  # type: ignore[override] # pydantic's own signature, not the plugin's
        cls,
        _fields_set: set[str] | None = None,
        **values: Any,  # noqa: ANN401 - pydantic's own signature
    ) -> Self:
        """Build without validation, as pydantic does, never with the shared record.

        A prescription built of a code and a text alone records the names given in one set
        shared by all of them (:data:`CODE_AND_TEXT`), by which the calculator recognises them;
        pydantic keeps a ``_fields_set`` as it is given, so a prescription constructed with
        another's ``model_fields_set`` gets its own copy and is read by its fields.
        """
        if _fields_set is CODE_AND_TEXT:
            _fields_set = set(_fields_set)
        return cast(Self, super().model_construct(_fields_set, **values))

    @model_validator(mode="after")
    def _check(self) -> Self:
        return self._validate()

    def _validate(self) -> Self:
        # Reads the validated values from __dict__ once: this runs for every prescription
        # built (issue 20). What the strength and dose unit mean is looked up by their text
        # (parsed_strength, dose_unit_kind): checked here, memoised there, never stored.
        d = self.__dict__
        self._check_product()
        replaces = d["replaces"]
        if replaces is not None and replaces == d["id"]:
            raise InvalidInputError("replaces", "names the prescription itself (use another id)")
        if d["dose_unknown"]:
            return self._check_without_dose()
        quantity, text = d["dose_quantity"], d["dosage_text"]
        if quantity is None and text is not None:
            if any(_structured_dose(d)):  # never drop part of a structured dose silently
                raise InvalidInputError(
                    "dose_quantity", "is required when other structured dose fields are given"
                )
            # the dose is the text alone (no structured dose field is set): only the strength
            # is left to check
            if d["strength"] is not None:
                parse_strength(d["strength"])  # raises for a malformed strength
            return self
        if quantity is None:
            raise InvalidInputError("dose_quantity", "is required (or a dosage_text)")
        if d["dose_unit"] is None:
            raise InvalidInputError("dose_unit", "is required with dose_quantity")
        _check_range(quantity, d["dose_quantity_max"], "dose_quantity_max")
        per_day, interval = d["doses_per_day"], d["interval_hours"]
        if per_day is not None and interval is not None:
            raise InvalidInputError(
                "doses_per_day", "give doses_per_day or interval_hours, not both"
            )
        if d["doses_per_day_max"] is not None and per_day is None:
            raise InvalidInputError("doses_per_day_max", "needs doses_per_day")
        if d["interval_hours_max"] is not None and interval is None:
            raise InvalidInputError("interval_hours_max", "needs interval_hours")
        _check_range(per_day, d["doses_per_day_max"], "doses_per_day_max")
        _check_range(interval, d["interval_hours_max"], "interval_hours_max")
        if d["strength"] is not None:
            parse_strength(d["strength"])  # raises for a malformed strength
        if d["dose_unit"] is not None:
            dose_unit_kind(d["dose_unit"])  # raises for a unit off the allow-list
        return self

    def _check_product(self) -> None:
        has_product = self.dmd_code is not None or self.product_name is not None
        if self.drug is None and not has_product:
            raise InvalidInputError("drug", "drug, dmd_code or product_name is required")
        if self.form is None and self.route is None and not has_product:
            raise InvalidInputError("form", "form or route is required (or a dm+d product)")

    def _check_without_dose(self) -> Self:
        given = [name for name in _STRUCTURED_DOSE if getattr(self, name)]
        if given or self.dose_quantity is not None or self.dosage_text is not None:
            raise InvalidInputError("dose_unknown", "is only for a prescription with no dose")
        if self.dose_is_minimum:
            raise InvalidInputError("dose_is_minimum", "needs a dose (not dose_unknown)")
        if self.strength is not None:
            parse_strength(self.strength)  # raises for a malformed strength
        return self

    def __hash__(self) -> int:
        """The hash of the fields that name the medicine and the dose's quantity and text.

        Equal prescriptions have these equal, so equal prescriptions hash equal; the memos of
        the per-call path hash every prescription, and this costs half of hashing every field
        (issue 20).
        """
        return hash(_hashed(self.__dict__))

    def without_identity(self) -> Prescription:
        """This prescription without ``id`` and ``replaces`` (itself when it has neither).

        What the OME calculator and every cache see: an identifier is never an input of the
        calculation (tests/safety/test_privacy.py), only of deciding which item is replaced.
        """
        if self.id is None and self.replaces is None:
            return self
        return self.model_copy(update={"id": None, "replaces": None})

    def written_numbers(self) -> tuple[str, ...] | None:
        """How the dose's numbers are written, in field order (``None`` when it gives none).

        Equal prescriptions may write a number differently (``1`` and ``1.0`` are equal
        decimals), and a result shows an amount as its inputs write it (``30.0`` or ``30.00``
        mg/day). A memo keyed by a prescription adds this to its key, so that its answer never
        depends on how an earlier, equal prescription wrote its numbers. (Equal prescriptions
        give the same numbers, so the numbers given are enough: not where they stand.)
        """
        numbers = _numbers(self.__dict__)
        if numbers == _NO_NUMBERS:
            return None
        return tuple([str(n) for n in numbers if n is not None])

    def replaces_item(self, other: Prescription) -> bool:
        """Whether ``other`` is the prescription this one replaces (by id, else by product).

        ``replaces`` matches ``other.id`` exactly, or ``other.dmd_code`` exactly, or
        ``other.product_name`` ignoring case. A prescription never replaces itself.
        """
        key = self.replaces
        if key is None or other is self:
            return False
        if other.id is not None and other.id == key:
            return True
        if other.dmd_code is not None and other.dmd_code == key:
            return True
        return other.product_name is not None and other.product_name.casefold() == key.casefold()

    @property
    def parsed_strength(self) -> Strength | None:
        """The strength parsed to canonical units, or ``None`` if none was given."""
        text = self.strength
        return None if text is None else parse_strength(text)  # memoised by its text

    @property
    def dose_unit_kind(self) -> DoseUnitKind | None:
        """Whether ``dose_unit`` is a mass, a volume or a count (``None`` without a unit)."""
        unit = self.dose_unit
        return None if unit is None else dose_unit_kind(unit)[0]

    @property
    def dose_unit_factor(self) -> Decimal:
        """Multiplier taking ``dose_quantity`` to canonical units (mg or mL; 1 for counts)."""
        unit = self.dose_unit
        return _ONE if unit is None else dose_unit_kind(unit)[1]


_DEFAULTS: Final = {name: f.default for name, f in Prescription.model_fields.items()}
"""Every field's default, in field order."""

CODE_AND_TEXT: Final[set[str]] = {"dmd_code", "dosage_text"}
"""The names given (``model_fields_set``) of every prescription built of a code and a text alone.

One set, shared: nothing mutates a model's fields set in place (pydantic copies it for
``model_copy``, ``copy`` and ``deepcopy``; a frozen model refuses assignment; unpickling
gives its own), so none is built per prescription (issue 20). A prescription whose fields set
*is* this set was built so: a dm+d code and a dosage text as given, every other field at its
default (the OME calculator reads it so). A caller that mutates ``model_fields_set`` mutates
pydantic's record of the names given (of every prescription built so), never a field.
"""


def _fields_signature() -> inspect.Signature:
    """What ``Prescription(...)`` takes: each field by name, in field order, with its default.

    The signature pydantic gives a model whose ``__init__`` takes ``**data``: the fast path's
    named ``dmd_code`` and ``dosage_text`` (and their "not given" marker) are not part of it.
    """
    return inspect.Signature(
        [
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=field.default,
                annotation=field.rebuild_annotation(),
            )
            for name, field in Prescription.model_fields.items()
        ],
        return_annotation=None,
    )


Prescription.__signature__ = _fields_signature()


def _text_rules() -> dict[str, tuple[int, int, re.Pattern[str] | None]]:
    """``(min length, max length, pattern)`` of each optional text field, from its declaration.

    A field with any other constraint is left out (it always goes through pydantic).
    """
    rules: dict[str, tuple[int, int, re.Pattern[str] | None]] = {}
    for name, field in Prescription.model_fields.items():
        if field.annotation != str | None:
            continue
        low, high, pattern = 0, _NO_LIMIT, None
        for item in field.metadata:
            if isinstance(item, MinLen):
                low = item.min_length
            elif isinstance(item, MaxLen):
                high = item.max_length
            elif set(vars(item)) == {"pattern"}:  # pydantic's general metadata, pattern only
                pattern = re.compile(vars(item)["pattern"])
            else:
                break
        else:
            rules[name] = (low, high, pattern)
    return rules


_NO_LIMIT: Final = 1 << 62
_TEXT_RULES: Final = _text_rules()
_FLAGS: Final = frozenset(
    name for name, f in Prescription.model_fields.items() if f.annotation is bool and not f.metadata
)


def _as_given(data: dict[str, Any]) -> bool:
    """Whether pydantic would accept every value of ``data`` as it is, unchanged.

    Text fields: a ``str`` with no surrounding whitespace (so nothing to strip) within the
    field's lengths and pattern; flags: ``True`` or ``False``. Anything else: ``False``.
    """
    for name, value in data.items():
        rule = _TEXT_RULES.get(name)
        if rule is None:
            if name in _FLAGS and (value is True or value is False):
                continue
            return False
        if type(value) is not str:
            return False
        low, high, pattern = rule
        if not low <= len(value) <= high or value.strip() != value:
            return False
        if pattern is not None and pattern.match(value) is None:
            return False
    return True


_CODE_PATTERN: Final = _TEXT_RULES["dmd_code"][2]


_TEXT_LOW, _TEXT_HIGH, _ = _TEXT_RULES["dosage_text"]
_CODES_SEEN: Final[set[str]] = set()
"""dm+d codes seen to match the declared pattern of ``dmd_code`` (bounded: emptied when full)."""
_CODES_MAX: Final = 8192


def _is_code(code: str) -> bool:
    """Whether ``code`` matches the declared pattern of ``dmd_code`` (as pydantic checks it).

    A full match: the pattern's ``$`` would pass a final newline. Codes that match are kept
    (:data:`_CODES_SEEN`), so a code seen before is not matched again.
    """
    pattern = _CODE_PATTERN
    if pattern is None or pattern.fullmatch(code) is None:
        return False
    if len(_CODES_SEEN) >= _CODES_MAX:
        _CODES_SEEN.clear()
    _CODES_SEEN.add(code)
    return True


_TEXTS_SEEN: Final[set[str]] = set()
"""Dosage texts seen to be accepted as given (bounded: emptied when full; issue 20)."""


def _is_text(text: str) -> bool:
    """Whether pydantic would accept ``text`` as a ``dosage_text`` as it is, unchanged.

    Within the field's declared lengths, with no surrounding whitespace (nothing to strip).
    Texts that are are kept (:data:`_TEXTS_SEEN`), so a text seen before is not checked again.
    """
    if not _TEXT_LOW <= len(text) <= _TEXT_HIGH or text.strip() != text:
        return False
    if len(_TEXTS_SEEN) >= _CODES_MAX:
        _TEXTS_SEEN.clear()
    _TEXTS_SEEN.add(text)
    return True


def _check_range(low: Decimal | None, high: Decimal | None, field: str) -> None:
    if low is not None and high is not None and high < low:
        raise InvalidInputError(field, "must not be below the lower end of the range")


_ONE: Final = Decimal(1)


def dose_unit_kind(unit: str) -> tuple[DoseUnitKind, Decimal]:
    """Classify a dose unit and give its factor to canonical units (mg, mL; 1 for counts).

    Memoised by the unit's text (bounded; a refused unit is not kept).

    Raises:
        InvalidInputError: (field ``dose_unit``) not a count noun, an allow-listed mass or mL.
    """
    return _dose_unit_kind(unit)


@lru_cache(maxsize=1024)
def _dose_unit_kind(unit: str) -> tuple[DoseUnitKind, Decimal]:
    noun = unit.strip()
    if noun in COUNT_NOUNS:
        return DoseUnitKind.COUNT, _ONE
    try:
        dim = unit_dimension(noun)
    except InvalidInputError:
        raise InvalidInputError(
            "dose_unit", "must be a count (tablet, patch, ...), an allow-listed mass or mL"
        ) from None
    if dim is Dimension.MASS:
        return DoseUnitKind.MASS, canonical_factor(noun)
    if dim is Dimension.VOLUME:
        return DoseUnitKind.VOLUME, canonical_factor(noun)
    raise InvalidInputError("dose_unit", "must be a count, a mass or a volume")
