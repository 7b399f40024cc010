"""The effective dose of a prescription: from its structured fields, or from its dosage text.

Issue 3: the structured dose, if given, wins; a dosage text that disagrees with it is an input
error. Without a structured dose the text is read by the dosage grammar
(:func:`opioidcds.parse_dosage`); a text the grammar does not fully understand, or one
that gives no daily amount ("as directed"), leaves the prescription *not convertible* with that
reason, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from opioidcds._display import format_decimal
from opioidcds._errors import InvalidInputError
from opioidcds._inputs.prescription import DOSE_FIELDS, DoseUnitKind, Prescription, dose_unit_kind
from opioidcds._knowledge.dose_units import default_dose_units
from opioidcds._knowledge.units import COUNT_NOUNS
from opioidcds._knowledge.vocabulary import Form, FormKind
from opioidcds._resolve.dosage import Dosage, parse_dosage

__all__ = [
    "Dose",
    "DoseSource",
    "default_unit",
    "dose_from_text",
    "effective_dose",
    "same_solid_dose",
]

DoseSource = str
"""``"structured"`` or ``"dosage text"``: where the dose came from."""

_NUMERIC_DOSE_FIELDS = tuple(name for name in DOSE_FIELDS if name != "dose_unit")


@dataclass(frozen=True, slots=True)
class Dose:
    """A dose as the calculator uses it (the structured fields of :class:`Prescription`)."""

    quantity: Decimal
    quantity_max: Decimal | None
    unit: str
    unit_kind: DoseUnitKind
    unit_factor: Decimal
    doses_per_day: Decimal | None
    doses_per_day_max: Decimal | None
    interval_hours: Decimal | None
    interval_hours_max: Decimal | None
    prn: bool
    max_doses_per_day: Decimal | None
    max_quantity_per_day: Decimal | None
    source: DoseSource
    notes: tuple[str, ...] = ()  # how the dose was read, when that needs saying
    up_to: bool = False
    """The dose or its frequency is given only as a most ("UP TO 2", "UP TO 4 TIMES A DAY"), or
    the daily amount is only a maximum with no frequency ("MAX 8 TABLETS IN 24 HOURS", a FHIR
    ``maxDosePerPeriod`` with no timing): its lower end is not stated, so the minimum policy
    counts it as it counts a PRN (:func:`_only_a_daily_most`)."""

    @property
    def is_range(self) -> bool:
        """True when the dose or its frequency is a range ("1-2", "every 4-6 hours")."""
        return (
            self.quantity_max is not None
            or self.doses_per_day_max is not None
            or self.interval_hours_max is not None
        )


def effective_dose(rx: Prescription, form: Form | None) -> Dose | str:
    """Return the dose of ``rx``, or the reason no dose can be taken from it.

    ``form`` (resolved from the product or the ``form`` field) supplies the unit when the text
    gives a count without one ("ONE TO BE TAKEN TWICE A DAY" of a tablet is one tablet).

    Raises:
        InvalidInputError: (field ``dosage_text``) the text disagrees with the structured dose.
    """
    if rx.dose_unknown:
        return "the dose is not known (stated with the prescription): not counted"
    if rx.dose_quantity is not None and rx.dose_unit is not None:
        structured = _structured(rx)
        if rx.dosage_text is not None:
            _check_agreement(rx, structured, form)
        return structured
    return dose_from_text(rx.dosage_text or "", form)


@lru_cache(maxsize=8192)
def dose_from_text(text: str, form: Form | None) -> Dose | str:
    """The dose ``text`` gives for a product of ``form``, or why it gives none.

    Memoised by content (the text and the form; bounded): a practice writes the same few
    thousand texts for the same few forms, so each is read once per process (issue 20).
    Errors (a text over the plausibility limits) are not memoised.
    """
    parsed = parse_dosage(text)
    reason = parsed.not_convertible_reason
    if reason is not None or not isinstance(parsed, Dosage):
        return reason or "the dosage text gives no daily amount"
    return _from_text(parsed, form)


def _structured(rx: Prescription) -> Dose:
    quantity = rx.dose_quantity
    if quantity is None or rx.dose_unit is None:  # pragma: no cover - checked by the caller
        raise InvalidInputError("dose_quantity", "is required")
    kind, factor = dose_unit_kind(rx.dose_unit)
    return Dose(
        quantity=quantity,
        quantity_max=rx.dose_quantity_max,
        unit=rx.dose_unit,
        unit_kind=kind,
        unit_factor=factor,
        doses_per_day=rx.doses_per_day,
        doses_per_day_max=rx.doses_per_day_max,
        interval_hours=rx.interval_hours,
        interval_hours_max=rx.interval_hours_max,
        prn=rx.prn,
        max_doses_per_day=rx.max_doses_per_day,
        max_quantity_per_day=rx.max_quantity_per_day,
        source="structured",
        up_to=_only_a_daily_most(
            rx.doses_per_day, rx.interval_hours, rx.max_doses_per_day, rx.max_quantity_per_day
        ),
    )


def _only_a_daily_most(
    doses_per_day: Decimal | None,
    interval_hours: Decimal | None,
    max_doses_per_day: Decimal | None,
    max_quantity_per_day: Decimal | None,
) -> bool:
    """Whether a dose has no frequency and only a daily maximum (its amount is a most).

    "ONE MAX 4 A DAY", "MAX 8 TABLETS IN 24 HOURS", or a FHIR ``doseQuantity`` with
    ``maxDosePerPeriod`` and no timing: the daily amount counted is the stated maximum, and
    the least the patient may take is not stated (docs/calculation.md, "PRN and ranges").
    """
    return (
        doses_per_day is None
        and interval_hours is None
        and (max_doses_per_day is not None or max_quantity_per_day is not None)
    )


def default_unit(form: Form | None) -> str | None:
    """The unit a bare count means for ``form``: its one count noun, or a patch."""
    if form is None:
        return None
    if form.kind is FormKind.PATCH:
        return "patch"
    if form.kind is FormKind.UNIT and len(form.nouns) == 1:
        return form.nouns[0]
    return None


def _from_text(parsed: Dosage, form: Form | None) -> Dose | str:
    unit = parsed.dose_unit or default_unit(form)
    if unit is None:
        return "the dosage text gives a number without a unit and the form does not imply one"
    unit, notes = same_solid_dose(unit, form)
    loading = parsed.loading_dose_note(unit)  # "2 immediately then 1 daily": said, not summed
    if loading is not None:
        notes = (*notes, loading)
    steps = parsed.dose_change_note(unit)  # "1 at night for 1 week then 2 at night": each step
    if steps is not None:
        notes = (*notes, steps)
    average = _average_note(parsed, unit)
    if average is not None:
        notes = (*notes, average)
    quantity = parsed.dose_quantity
    if quantity is None:  # "max 8 tablets in 24 hours" alone: the maximum is the daily amount
        quantity = parsed.max_quantity_per_day
    if quantity is None:  # pragma: no cover - not_convertible_reason covers it
        return "the dosage text gives no dose quantity"
    kind, factor = dose_unit_kind(unit)
    return Dose(
        quantity=quantity,
        quantity_max=parsed.dose_quantity_max,
        unit=unit,
        unit_kind=kind,
        unit_factor=factor,
        doses_per_day=parsed.doses_per_day,
        doses_per_day_max=parsed.doses_per_day_max,
        interval_hours=parsed.interval_hours,
        interval_hours_max=parsed.interval_hours_max,
        prn=parsed.prn,
        max_doses_per_day=parsed.max_doses_per_day,
        max_quantity_per_day=parsed.max_quantity_per_day,
        source="dosage text",
        notes=notes,
        up_to=parsed.dose_is_upper_limit
        or parsed.frequency_is_upper_limit
        or _only_a_daily_most(
            parsed.doses_per_day,
            parsed.interval_hours,
            parsed.max_doses_per_day,
            parsed.max_quantity_per_day,
        ),
    )


_HOURS_PER_DAY = Decimal(24)  # a unit conversion (hours in a day), not a clinical number


def _average_note(parsed: Dosage, unit: str) -> str | None:
    """Say that a dose taken less often than daily gives an average per day (issue 16).

    "One on alternate days" is one dose every 48 hours: half a dose a day on average, never
    half a dose on any day. A patch's change interval does not set its daily amount (its rate
    does), so it gets no such note.
    """
    hours = parsed.interval_hours
    if hours is None or hours <= _HOURS_PER_DAY or unit == "patch":
        return None
    longest = parsed.interval_hours_max or hours
    every = format_decimal(hours)
    if longest != hours:
        every += "-" + format_decimal(longest)
    return (
        f"taken less often than daily (every {every} hours): the daily amount is its average "
        "per day"
    )


def same_solid_dose(unit: str, form: Form | None) -> tuple[str, tuple[str, ...]]:
    """The form's own noun when the text counts another noun of the same solid dose.

    EMIS Web writes "Maximum 8 Tablets in 24 Hours" for capsules too: tablets and capsules in
    a dosage text are the same count of the product's solid doses (the count groups of
    ``conversion_tables/dose_units.toml``, issue 18). Any other mismatch is left for the
    consistency check to refuse.
    """
    noun = _singular(unit.strip())
    if form is None or noun not in COUNT_NOUNS or noun in form.nouns or len(form.nouns) != 1:
        return unit, ()
    own = form.nouns[0]
    if not default_dose_units().same_solid_dose(noun, own):
        return unit, ()
    note = (
        f"the dosage text counts {noun}s; the product's unit is the {own}: read as the same "
        "count of solid doses"
    )
    return own, (note,)


def _singular(noun: str) -> str:
    return noun[:-1] if noun.endswith("s") and noun[:-1] in COUNT_NOUNS else noun


def _check_agreement(rx: Prescription, structured: Dose, form: Form | None) -> None:
    """Structured dose and dosage text must not disagree on anything the text states."""
    parsed = parse_dosage(rx.dosage_text or "")
    if not isinstance(parsed, Dosage):
        return  # an unparsed text cannot be compared; the structured dose wins (issue 3)
    fields = parsed.to_prescription_fields()
    for name in _NUMERIC_DOSE_FIELDS:  # compared where both state it
        given = getattr(rx, name)
        if name in fields and given is not None and fields[name] != given:
            raise InvalidInputError("dosage_text", f"disagrees with the structured {name}")
    text_unit = fields.get("dose_unit") or default_unit(form)
    if text_unit is not None and dose_unit_kind(str(text_unit)) != dose_unit_kind(structured.unit):
        raise InvalidInputError("dosage_text", "disagrees with the structured dose_unit")
    if fields.get("prn") is True and not rx.prn:
        raise InvalidInputError("dosage_text", "says when required; the structured dose does not")
