"""The OME of each distinct current prescription of an extract, from a few library calls.

A practice repeats about a thousand products and a few thousand dosage texts in tens of
thousands of combinations, almost every patient with a set of their own: calling the
calculator once per combination (or once per set) is the cost of a screening. A prescription's
daily OME is linear in its units a day, so here the library's own calculator
(:func:`opioidcds.calculate_ome`) is run only:

* once per **product and dose unit**: one unit of the product once a day (its *unit items*:
  each ingredient's daily amount and OME, status, exactness; patches: one patch worn);
* once per **dose** (a text read by the grammar for a form, or a quantity/interval estimate):
  the units a day, ``quantity / per`` of the calculator's own schedule (ranges at their upper
  end, caps, PRN maxima; a patch's rate does not depend on how often it is changed).

A prescription's items are the unit items times the units a day. That is exact, and equals the
calculator's own value for the prescription, whenever the unit items are exact and the units a
day is a terminating decimal: then every step of the calculator's arithmetic (at 150 digits) is
exact too, so both are the same rational number. Anything else (a unit or dose the calculator
refuses or cannot read, a schedule that does not terminate, such as every 7 hours, more digits
than the columns hold) is *not* estimated here: the caller leaves that prescription to the
library (the reference path), so the fast engine never differs from ``assess``
(tests/population/test_population_differential.py and test_prescription_ome.py check it).

A dosage text is usable (:func:`~opioidcds.population.build.dosage_usable`) when the
calculator reads a daily amount from it for the product without refusing it; here that is
decided from the same unit items and schedule when they say so unambiguously, else by
``dosage_usable`` itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Context, Decimal, Inexact, localcontext
from functools import lru_cache
from typing import Final

from opioidcds._errors import OpioidCDSError
from opioidcds._inputs.patient import medicine_classes
from opioidcds._inputs.prescription import Prescription, PrnPolicy
from opioidcds._knowledge.products import Catalogue, MedicineClass, Product, load_catalogue
from opioidcds._knowledge.tables import ConversionTable, default_table
from opioidcds._knowledge.units import Strength, StrengthKind
from opioidcds._knowledge.vocabulary import Form, Vocabulary, default_vocabulary
from opioidcds._measure.ome import _MG_PER_DAY, _RATE, _daily_quantity, calculate_ome
from opioidcds._measure.results import ItemStatus, OMEItem
from opioidcds._resolve.dose import Dose, effective_dose
from opioidcds._resolve.prescription import ResolvedPrescription
from opioidcds.population.build import Resolved

__all__ = ["RxOme", "Setting", "UnitMeasures", "record_classes"]

_EXACT: Final = Context(prec=150, traps=[Inexact])  # the calculator's precision; refuse rounding
_MAX_DIGITS: Final = 30  # digits of a unit amount or a units-a-day kept exact (columns: 38)
_SCALE: Final = 18  # decimal places of the OME columns (Decimal(38, 18))
_BLANK: Final = Prescription.model_construct()  # what the dose and schedule readers need
_RATE_STRENGTH: Final = Strength(StrengthKind.RATE, (Decimal(1),))  # the schedule reads the kind
_UNIT_STRENGTH: Final = Strength(StrengthKind.PER_UNIT, (Decimal(1),))


@dataclass(frozen=True, slots=True)
class Setting:
    """What the calculator measures with: table, vocabulary, catalogue (``None``: bundled)."""

    table: ConversionTable
    vocabulary: Vocabulary
    catalogue: Catalogue | None


@dataclass(frozen=True, slots=True)
class RxOme:
    """What a screening needs of one prescription's OME items.

    ``ome``: the sum of its converted items' daily OME (exact, mg/day); ``unconverted``: an
    item is not convertible (the patient's total is then a lower bound); ``opioid_item``: an
    item of an opioid ingredient (``assess``'s current opioid); ``amounts``: each item's
    (ingredient, unit, daily amount) for the plausibility limits of a patient's whole list.
    """

    ome: Decimal
    unconverted: bool
    opioid_item: bool
    amounts: tuple[tuple[str, str, Decimal], ...]
    all_counted: bool = True  # every item has a daily amount (a usable dosage text)


@lru_cache(maxsize=65_536)
def record_classes(dmd_code: str | None, product_name: str | None) -> frozenset[MedicineClass]:
    """The medicine classes of a product, as :func:`medicine_classes` gives them.

    The same for a prescription or an issue of the product: both read only code and name.
    """
    rx = Prescription.model_construct(dmd_code=dmd_code, product_name=product_name)
    return medicine_classes(rx)


def _digits_ok(value: Decimal) -> bool:
    return len(value.as_tuple().digits) <= _MAX_DIGITS


def _fits_columns(value: Decimal) -> bool:
    exponent = value.as_tuple().exponent
    return isinstance(exponent, int) and exponent >= -_SCALE and value.adjusted() < 38 - _SCALE


@dataclass(frozen=True, slots=True)
class _Product:
    """A product as the calculator resolves it: catalogue entry, form, a patch rate or not."""

    product: Product | None
    form: Form | None
    rate: bool | None  # None: the strength cannot be read here (left to the library)


@dataclass(frozen=True, slots=True)
class _Unit:
    """The unit items of a product in one dose unit, prepared for scaling.

    ``counted``: (ingredient, unit, daily amount, OME or ``None``) of the items with an
    amount, or ``None`` when one is not exact or too long (left to the library).
    """

    counted: tuple[tuple[str, str, Decimal, Decimal | None], ...] | None
    all_counted: bool
    unconverted: bool
    opioid_item: bool


def _unit_of(items: tuple[OMEItem, ...]) -> _Unit:
    counted: list[tuple[str, str, Decimal, Decimal | None]] | None = []
    for i in items:
        if i.daily_amount is None or counted is None:
            continue
        ok = (
            i.exact
            and i.ingredient is not None
            and i.daily_amount_unit is not None
            and _digits_ok(i.daily_amount)
            and (i.ome_mg_per_day is None or _digits_ok(i.ome_mg_per_day))
        )
        if ok and i.ingredient is not None and i.daily_amount_unit is not None:
            counted.append((i.ingredient, i.daily_amount_unit, i.daily_amount, i.ome_mg_per_day))
        else:
            counted = None
    return _Unit(
        counted=None if counted is None else tuple(counted),
        all_counted=all(i.daily_amount is not None for i in items),
        unconverted=any(i.status is ItemStatus.NOT_CONVERTIBLE for i in items),
        opioid_item=any(i.status is not ItemStatus.NOT_OPIOID for i in items),
    )


class UnitMeasures:
    """The unit items, doses and schedules of one screening, each computed once.

    ``setting`` is the screening's (``assess``'s OME: the knowledge bundle's table, vocabulary
    and catalogue); usability of a dosage text is judged with the bundled ones, as
    :func:`~opioidcds.population.build.dosage_usable` judges it. Doses are numbered
    (:meth:`text_dose`, :meth:`structured_dose`) and measured by number (:meth:`measure`).
    """

    def __init__(self, setting: Setting) -> None:
        """Start empty for ``setting``."""
        default = Setting(default_table(), default_vocabulary(), None)
        same = (
            setting.table is default.table
            and setting.vocabulary is default.vocabulary
            and setting.catalogue in (None, load_catalogue())
        )
        # 0: the screening's setting; 1: the bundled one (index 0 again when they are equal)
        self.settings: tuple[Setting, ...] = (setting, default)
        self._same = same
        self._products: dict[tuple[int, str | None, str | None], _Product] = {}
        self._units: dict[tuple[int, str | None, str | None, str], _Unit | None] = {}
        self._texts: dict[str, Prescription] = {}
        self._text_doses: dict[tuple[int, str, str], int | None] = {}
        self._dose_ids: dict[Dose, int] = {}
        self.doses: list[Dose] = []
        self._per_day: dict[tuple[int, bool], Decimal | None] = {}
        self._measured: dict[tuple[int, str | None, str | None, int], RxOme | None] = {}

    def _index(self, which: int) -> int:
        return 0 if which == 0 or self._same else 1

    # --- the library's calls, once each ---------------------------------------------------

    def _product(self, which: int, r: Resolved) -> _Product:
        """The catalogue product of ``r`` as the calculator resolves it."""
        key = (which, r.dmd_code, r.product_name)
        found = self._products.get(key)
        if found is not None:
            return found
        setting = self.settings[which]
        cat = setting.catalogue if setting.catalogue is not None else load_catalogue()
        product: Product | None = None
        rate: bool | None = None
        try:
            if r.dmd_code is not None:
                product = cat.by_code(r.dmd_code)
            elif r.product_name is not None:
                product = cat.by_name(r.product_name)
            if product is not None:
                rate = product.strength_value.kind is StrengthKind.RATE
        except (OpioidCDSError, KeyError, ValueError):
            rate = None
        form = setting.vocabulary.find_form(product.form) if product is not None else None
        found = self._products[key] = _Product(product, form, rate)
        return found

    def _unit(self, which: int, r: Resolved, unit: str) -> _Unit | None:
        """The calculator's items for one ``unit`` of the product once a day, or ``None``.

        ``None`` when the calculator refuses it (the unit does not fit the product, ...).
        """
        key = (which, r.dmd_code, r.product_name, unit)
        if key in self._units:
            return self._units[key]
        setting = self.settings[which]
        found: _Unit | None
        try:
            probe = Prescription(
                dmd_code=r.dmd_code,
                product_name=r.product_name,
                dose_quantity=Decimal(1),
                dose_unit=unit,
                doses_per_day=Decimal(1),
            )
            items = calculate_ome(
                [probe],
                table=setting.table,
                vocabulary=setting.vocabulary,
                catalogue=setting.catalogue,
                item_errors="raise",
            ).items
            found = _unit_of(items) if items else None
        except OpioidCDSError:
            found = None
        self._units[key] = found
        return found

    def _number(self, dose: Dose) -> int:
        found = self._dose_ids.get(dose)
        if found is None:
            found = self._dose_ids[dose] = len(self.doses)
            self.doses.append(dose)
        return found

    def text_dose(self, which: int, r: Resolved, text: str) -> int | None:
        """The number of the dose the calculator reads from ``text`` for the product's form.

        ``None`` when it reads none (the text is unusable) or the product cannot be placed.
        """
        form = self.form_key(which, r)
        return None if form is None else self.form_dose(which, form, text)

    def structured_dose(
        self, r: Resolved, quantity: Decimal, unit: str, per_day: Decimal | None
    ) -> int | None:
        """The number of the dose of a structured prescription (screening setting).

        As ``rx_dose`` (a daily quantity once a day) or ``rx_patch_at_least_one`` gives it.
        """
        p = self._product(0, r)
        if p.product is None:
            return None
        rx = _BLANK.model_copy(
            update={"dose_quantity": quantity, "dose_unit": unit, "doses_per_day": per_day}
        )
        try:
            dose = effective_dose(rx, p.form)
        except OpioidCDSError:
            return None
        return self._number(dose) if isinstance(dose, Dose) else None

    def _ratio(self, dose_id: int, rate: bool) -> Decimal | None:
        """Units a day of a dose (the calculator's schedule), if exact.

        ``None`` when the schedule cannot be read, or is not a terminating decimal of at most
        ``_MAX_DIGITS`` digits.
        """
        key = (dose_id, rate)
        if key in self._per_day:
            return self._per_day[key]
        found: Decimal | None = None
        strength = _RATE_STRENGTH if rate else _UNIT_STRENGTH
        dose = self.doses[dose_id]
        resolved = ResolvedPrescription(_BLANK, "", (), None, None, strength, None, dose=dose)
        try:
            schedule = _daily_quantity(resolved, PrnPolicy.MAXIMUM)
        except OpioidCDSError:
            schedule = "refused"
        if not isinstance(schedule, str):
            try:
                with localcontext(_EXACT):
                    ratio = schedule.quantity / schedule.per
                found = ratio if _digits_ok(ratio) else None
            except Inexact:
                found = None
        self._per_day[key] = found
        return found

    # --- what the screening asks ----------------------------------------------------------

    def measure(self, r: Resolved, dose_id: int) -> RxOme | None:
        """The OME of the product at a dose (screening setting), or ``None``: ask the library."""
        return self._measure(0, r, dose_id)

    def _measure(self, which: int, r: Resolved, dose_id: int) -> RxOme | None:
        key = (which, r.dmd_code, r.product_name, dose_id)
        if key in self._measured:
            return self._measured[key]
        found = self._measure_new(which, r, dose_id)
        self._measured[key] = found
        return found

    def _measure_new(self, which: int, r: Resolved, dose_id: int) -> RxOme | None:
        unit = self._unit(which, r, self.doses[dose_id].unit)
        if unit is None or unit.counted is None:
            return None
        ratio = Decimal(1)
        if unit.counted:  # items without an amount do not depend on the schedule (resolved first)
            rate = self._product(which, r).rate
            per_day = None if rate is None else self._ratio(dose_id, rate)
            if per_day is None:
                return None
            ratio = per_day
        scaled = _scaled(unit.counted, ratio)
        if scaled is None:
            return None
        ome, amounts = scaled
        return RxOme(ome, unit.unconverted, unit.opioid_item, amounts, unit.all_counted)

    def form_key(self, which: int, r: Resolved) -> str | None:
        """The pharmaceutical form the product's dosage texts are read for (``None``: unplaced).

        Texts are read once per (form, text): :meth:`form_dose`.
        """
        p = self._product(self._index(which), r)
        return None if p.product is None else p.product.form

    def form_dose(self, which: int, form: str, text: str) -> int | None:
        """:meth:`text_dose` for every product of ``form`` (the text is read for the form)."""
        which = self._index(which)
        key = (which, form, text)
        if key in self._text_doses:
            return self._text_doses[key]
        rx = self._texts.get(text)
        if rx is None:
            rx = self._texts[text] = _BLANK.model_copy(update={"dosage_text": text})
        found: int | None = None
        try:
            dose = effective_dose(rx, self.settings[which].vocabulary.find_form(form))
            found = self._number(dose) if isinstance(dose, Dose) else None
        except OpioidCDSError:
            found = None
        self._text_doses[key] = found
        return found

    def usable_fast(self, r: Resolved, dose_id: int) -> bool:
        """Whether ``dosage_usable`` would say the text of this dose is usable, known here.

        True when the calculator reads a daily amount for every item, within the plausibility
        limits (bundled setting, as ``dosage_usable``); False means "ask ``dosage_usable``".
        """
        which = self._index(1)
        m = self._measure(which, r, dose_id)
        return (
            m is not None
            and m.all_counted
            and within_limits(m.amounts, self.settings[which].vocabulary)
        )


def _scaled(
    counted: tuple[tuple[str, str, Decimal, Decimal | None], ...], ratio: Decimal
) -> tuple[Decimal, tuple[tuple[str, str, Decimal], ...]] | None:
    """The items' OME and amounts times ``ratio``; ``None`` unless exact and in the columns."""
    multiply, add = _EXACT.multiply, _EXACT.add  # signal Inexact instead of rounding
    ome = Decimal(0)
    try:
        amounts = tuple((ing, unit, multiply(daily, ratio)) for ing, unit, daily, _ in counted)
        for *_, item_ome in counted:
            if item_ome is not None:
                ome = add(ome, multiply(item_ome, ratio))
    except Inexact:
        return None
    return (ome, amounts) if _fits_columns(ome) else None


def within_limits(amounts: Sequence[tuple[str, str, Decimal]], vocabulary: Vocabulary) -> bool:
    """Whether the daily amounts of one ingredient stay within the plausibility limits.

    The calculator refuses a list whose daily mass of one opioid, or total patch rate, is over
    the vocabulary's limits (HAZ-002); amounts in another unit are not judged here (False).
    """
    limits = {
        _MG_PER_DAY: vocabulary.limits.max_daily_mg,
        _RATE: vocabulary.limits.max_patch_rate_microgram_per_hour,
    }
    totals: dict[tuple[str, str], Decimal] = {}
    for ingredient, unit, amount in amounts:
        if unit not in limits:
            return False
        totals[(ingredient, unit)] = totals.get((ingredient, unit), Decimal(0)) + amount
    return all(total <= limits[unit] for (_, unit), total in totals.items())
