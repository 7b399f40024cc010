"""The oral morphine equivalent (OME) calculator.

Daily OME of one prescription = daily amount of its opioid ingredient x the conversion factor for
that ingredient and route (Faculty of Pain Medicine *Opioids Aware*; ``docs/calculation.md``). The
patient's total is the sum over every opioid ingredient of every current prescription. Rules the
calculator keeps:

- Patches: daily OME comes from the delivery rate (microgram/hour), never from how often the
  patch is changed; two patches double it.
- Liquids: strength per volume (10 mg/5 mL); a dose in mL or in mg.
- A dose given as a mass overrides the product strength.
- PRN doses and ranges follow the ``prn_policy`` (default: the maximum permitted amount), and
  the result says which policy applied.
- An item without a factor (methadone in the UK table, an unknown drug or form) is *not
  convertible*: it is listed with its reason, ``complete`` is false and the total is a lower
  bound. It never counts as zero silently.
- One unreadable item never refuses the others (issue 18): a prescription that contradicts
  itself or its product, whose dosage text disagrees with its structured dose, or whose dm+d
  code is unknown is listed as not convertible with the field and rule it broke, and the rest
  is computed (``item_errors="raise"`` restores the old refusal). Plausibility limits (unit
  confusion: more than 5 g/day of one opioid, a patch rate over the limit) still refuse the
  whole calculation: such an input is an error, not a dose (hazard HAZ-002).
- Input read from a record (a :class:`~opioidcds.BundleRead`) carries what was not read: an
  entry that may be a current opioid makes the total a lower bound, and so does a record from
  which nothing was read (a total over nothing read is never complete).
- Arithmetic is exact :class:`~decimal.Decimal` at 150 digits; the one division (by an interval
  in hours or a volume) is done last. Where it does not terminate (e.g. every 7 hours) the item
  says ``exact=False``: the value is then within 1e-140 relative of the true rational, which no
  threshold with fewer than 100 significant digits can tell apart. Round only to display.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Context, Decimal, Inexact, getcontext, localcontext
from functools import lru_cache
from typing import Any, Final, Literal, NamedTuple

from opioidcds._display import format_decimal
from opioidcds._errors import InvalidInputError, UnknownProductError
from opioidcds._inputs.prescription import DoseUnitKind, Prescription, PrnPolicy
from opioidcds._knowledge.products import Catalogue, load_catalogue
from opioidcds._knowledge.provenance import for_ome
from opioidcds._knowledge.tables import ConversionTable, default_table
from opioidcds._knowledge.units import Dimension, StrengthKind
from opioidcds._knowledge.vocabulary import Form, Vocabulary, default_vocabulary
from opioidcds._measure.results import ItemStatus, OMEItem, OMEResult
from opioidcds._memo import memo_on_repeat
from opioidcds._resolve.dose import Dose, dose_from_text
from opioidcds._resolve.prescription import (
    ResolvedIngredient,
    ResolvedPrescription,
    resolve_prescription,
)
from opioidcds._resolve.record import BundleRead, not_read_reason
from opioidcds._version import __version__

__all__ = ["calculate_ome"]

_CONTEXT = Context(prec=150, traps=[])
_HOURS_PER_DAY = Decimal(24)  # a unit conversion (hours in a day), not a clinical number
_ZERO = Decimal(0)
_ONE = Decimal(1)


def calculate_ome(
    prescriptions: Iterable[Prescription] | BundleRead,
    *,
    table: ConversionTable | str | None = None,
    prn_policy: PrnPolicy | str = PrnPolicy.MAXIMUM,
    vocabulary: Vocabulary | None = None,
    catalogue: Catalogue | None = None,
    item_errors: Literal["list", "raise"] = "list",
) -> OMEResult:
    """Calculate the total daily OME of ``prescriptions`` with its basis.

    Args:
        prescriptions: the patient's current prescriptions (opioid and combination products),
            or what was read from a record (:func:`~opioidcds.read_bundle`): its sources and
            skipped entries are then carried into the result.
        table: a :class:`ConversionTable`, a bundled table id (``"uk-opioids-aware"``,
            the default, or ``"cdc-2022"``).
        prn_policy: how PRN doses and ranges count (:class:`PrnPolicy`; default maximum).
        vocabulary: the ingredient/form vocabulary (default: the bundled one).
        catalogue: the dm+d product catalogue for prescriptions given by ``dmd_code`` or
            ``product_name`` (default: the bundled one, loaded on first need).
        item_errors: ``"list"`` (default): a prescription that cannot be read (contradictory,
            incomplete, an unknown dm+d code) becomes a not-convertible item naming the field
            and rule, and the rest is computed; ``"raise"``: it refuses the whole call.

    Returns:
        An :class:`OMEResult`: exact total in mg/day, ``complete`` (false when the total is a
        lower bound, with ``lower_bound_reasons``), and one item per opioid ingredient with
        its daily amount, factor, citation and arithmetic.

    Raises:
        InvalidInputError: the input implies an implausible amount (over the plausibility
            limits: unit confusion, not a dose), a list entry is not a Prescription, or (with
            ``item_errors="raise"``) a prescription is contradictory or incomplete.
        UnknownProductError: with ``item_errors="raise"``, a ``dmd_code`` or ``product_name``
            is not in the catalogue.
        KnowledgeBaseError: the table id is unknown or a table file is invalid.
    """
    tbl = default_table(table) if isinstance(table, str) else table or default_table()
    vocab = vocabulary if vocabulary is not None else default_vocabulary()
    try:
        policy = prn_policy if type(prn_policy) is PrnPolicy else PrnPolicy(prn_policy)
    except ValueError:
        raise InvalidInputError("prn_policy", "must be one of the PrnPolicy values") from None
    if item_errors not in {"list", "raise"}:
        raise InvalidInputError("item_errors", "must be 'list' or 'raise'")
    record: BundleRead | None
    given: Iterable[Prescription]
    if isinstance(prescriptions, BundleRead):
        record, given = prescriptions, prescriptions.prescriptions
    else:
        record, given = None, prescriptions
    items: list[OMEItem] = []
    named = False  # an item named a dm+d product: the catalogue is then knowledge used
    minimum = False  # a dose was given as a minimum: the total is then a lower bound
    count = 0
    setting = _Setting(tbl, policy, vocab, catalogue)
    raise_errors = item_errors == "raise"
    with localcontext(_CONTEXT):
        for index, rx in enumerate(given):
            count += 1
            if not isinstance(rx, Prescription):
                raise InvalidInputError(f"prescriptions[{index}]", "must be a Prescription")
            named = named or rx.dmd_code is not None or rx.product_name is not None
            measured = _measure_one(rx, index, setting, raise_errors=raise_errors)
            if rx.dose_is_minimum:
                minimum = True
                measured = tuple(_as_minimum(item) for item in measured)
            items.extend(measured)
        total = _ZERO
        exact = True
        per_ingredient: dict[tuple[str, str], Decimal] = {}
        for item in items:
            if item.ome_mg_per_day is not None:
                total += item.ome_mg_per_day
                exact = exact and item.exact
            if item.ingredient is not None and item.daily_amount is not None:
                key = (item.ingredient, item.daily_amount_unit or "")
                per_ingredient[key] = per_ingredient.get(key, _ZERO) + item.daily_amount
    reasons = _lower_bound_reasons(items, minimum=minimum, record=record, read=count)
    # Plausibility over all prescriptions of one ingredient: its daily mass, and the total rate
    # of its patches (six 1,000 microgram/hour patches are not a dose; hazard HAZ-002).
    limits = {
        _MG_PER_DAY: vocab.limits.max_daily_mg,
        _RATE: vocab.limits.max_patch_rate_microgram_per_hour,
    }
    if any(amount > limits[unit] for (_, unit), amount in per_ingredient.items()):
        raise InvalidInputError(
            "prescriptions", "implies an implausible daily amount of one opioid (check units)"
        )
    return OMEResult.typed(  # every value typed above: not validated again (issue 20)
        {
            "total_mg_per_day": total,
            "complete": not reasons,
            "table_id": tbl.id,
            "table_version": tbl.version,
            "table_effective_date": tbl.file.effective_date.isoformat(),
            "prn_policy": policy,
            "items": tuple(items),
            "library_version": __version__,
            "provenance": for_ome(
                tbl,
                vocab,
                catalogue if catalogue is not None or not named else load_catalogue(),
            ),
            "exact": exact,
            "lower_bound_reasons": reasons,
            "sources": record.sources if record is not None else (),
            "skipped": record.skipped if record is not None else (),
            "read_notes": record.notes if record is not None else (),
        }
    )


_MG_PER_DAY = "mg/day"
_RATE = "microgram/hour"


class _ImplausibleError(InvalidInputError):
    """An amount beyond the plausibility limits: refuses the whole calculation (HAZ-002)."""


class _Setting(NamedTuple):
    """What one prescription is measured with (a named tuple: built on every call)."""

    table: ConversionTable
    policy: PrnPolicy
    vocab: Vocabulary
    catalogue: Catalogue | None


def _measure_one(
    rx: Prescription, index: int, setting: _Setting, *, raise_errors: bool
) -> tuple[OMEItem, ...]:
    """The items of one prescription; one not-convertible item if it cannot be read.

    Raises:
        InvalidInputError: an implausible amount (always), or an unreadable prescription when
            ``raise_errors`` (field prefixed with the prescription's position).
        UnknownProductError: an unknown product when ``raise_errors``.
    """
    try:
        plain = rx.without_identity()  # identifiers (id, replaces) never reach a cache
        cores = _measure_cached(
            plain,
            plain.written_numbers(),
            setting.table,
            setting.policy,
            setting.vocab,
            setting.catalogue,
        )
    except _ImplausibleError as exc:
        raise InvalidInputError(f"prescriptions[{index}].{exc.field}", exc.rule) from None
    except InvalidInputError as exc:
        if raise_errors:
            raise InvalidInputError(f"prescriptions[{index}].{exc.field}", exc.rule) from None
        return (_unread_item(rx, index, not_read_reason(exc.field, exc.rule), setting.catalogue),)
    except UnknownProductError as exc:
        if raise_errors:
            raise
        return (_unread_item(rx, index, f"not read: {exc}", setting.catalogue),)
    if len(cores) == 1:  # one opioid ingredient, as most products have
        return (cores[0].at(index),)
    return tuple([core.at(index) for core in cores])


def _lower_bound_reasons(
    items: list[OMEItem], *, minimum: bool, record: BundleRead | None, read: int
) -> tuple[str, ...]:
    """Why the total is a lower bound (empty: it is complete), most serious first."""
    reasons: list[str] = []
    if record is not None and read == 0:
        reasons.append(
            "nothing was read from the input: the total of 0 says only that no prescription "
            "was found"
        )
    if record is not None and any(entry.affects_total for entry in record.skipped):
        reasons.append("an entry of the input that may be a current opioid was not read")
    if any(item.status is ItemStatus.NOT_CONVERTIBLE for item in items):
        reasons.append("see the items not converted")
    if minimum:
        reasons.append("a dose was given as a minimum (dose_is_minimum)")
    return tuple(reasons)


def _unread_item(
    rx: Prescription, index: int, problem: str, catalogue: Catalogue | None
) -> OMEItem:
    """A prescription that could not be read, listed as not convertible with the rule it broke."""
    label = _label(rx, catalogue)
    reason = problem
    return OMEItem(
        prescription_index=index,
        drug=label,
        ingredient=None,
        route=None,
        status=ItemStatus.NOT_CONVERTIBLE,
        reason=reason,
        arithmetic=f"{label}: {reason}",
    )


def _label(rx: Prescription, catalogue: Catalogue | None) -> str:
    """How people know the prescription: its dm+d product name, product name or drug."""
    if rx.dmd_code is not None:
        cat = catalogue if catalogue is not None else load_catalogue()
        if rx.dmd_code in cat:
            return cat.by_code(rx.dmd_code).product_name
        return rx.product_name or "dm+d product not in the catalogue"
    return rx.product_name or rx.drug or "prescription"


Text = tuple["str | Decimal | Text", ...]
"""A piece of an item's arithmetic: words, numbers (written as people read them when read) and
other pieces, in order.

Nested tuples of strings and decimals: cheap to build, and not tracked by the garbage collector
once it has seen them (the memo holds thousands).
"""


class _Arithmetic:
    """An item's arithmetic, written when first read (under the calculator's precision), kept.

    Shared by every item measured from the same prescription content, so it is written once
    however often that content is measured (issue 20: what a caller may never read is not
    built on the per-call path).
    """

    __slots__ = ("_parts", "_text")

    def __init__(self, parts: Text) -> None:
        self._parts = parts
        self._text: Mapping[str, str] | None = None

    def __call__(self) -> Mapping[str, str]:
        """``{"arithmetic": text}``: the deferred field of :class:`OMEItem`."""
        text = self._text
        if text is None:
            with localcontext(_CONTEXT):  # as the eager text was: display rounding is exact
                text = {"arithmetic": _write(self._parts)}
            self._text = text
        return text


def _write(parts: Text) -> str:
    """The text of ``parts``: numbers as people read them (:func:`format_decimal`)."""
    return "".join([_piece(p) for p in parts])


def _piece(part: str | Decimal | Text) -> str:
    if isinstance(part, str):
        return part
    if isinstance(part, Decimal):
        return _fmt(part)
    return _write(part)


_ALL_GIVEN: Final = frozenset(
    {"prescription_index", "drug", "ingredient", "route", "status", "reason", "daily_amount"}
    | {"daily_amount_unit", "policy_note", "arithmetic", "exact"}
)
_CONVERTED_GIVEN: Final = frozenset(
    {"prescription_index", "drug", "ingredient", "route", "status", "daily_amount"}
    | {"daily_amount_unit", "factor", "factor_per", "factor_source", "ome_mg_per_day"}
    | {"policy_note", "arithmetic", "exact"}
)


class _Core:
    """One OME item of a prescription without its position in the list (so it can be memoised).

    ``values`` are the item's fields in field order (``prescription_index`` 0), without
    ``arithmetic`` when ``arithmetic`` writes it on first read; ``given`` are the fields an
    eager construction named. The item at each position is built once and kept (results are
    immutable, so the same content at the same position gives the same object).
    """

    __slots__ = ("_built", "arithmetic", "given", "values")

    def __init__(
        self, values: dict[str, Any], given: frozenset[str], arithmetic: _Arithmetic | None = None
    ) -> None:
        self.values = values
        self.given = given
        self.arithmetic = arithmetic
        self._built: dict[int, OMEItem] = {}

    def at(self, index: int) -> OMEItem:
        """The item at position ``index`` of the input list."""
        item = self._built.get(index)
        if item is None:
            values = self.values.copy()
            values["prescription_index"] = index
            item = OMEItem.deferred(values, set(self.given), self.arithmetic)
            self._built[index] = item  # two threads may both build it: the same item
        return item


_MINIMUM_NOTE = "dose given as a minimum (dose_is_minimum): the total is a lower bound"


def _as_minimum(item: OMEItem) -> OMEItem:
    """The item of a dose given as a minimum: counted, and it says the total is a lower bound."""
    if item.status is not ItemStatus.CONVERTED:
        return item
    note = _MINIMUM_NOTE if item.policy_note is None else f"{item.policy_note}; {_MINIMUM_NOTE}"
    return item.model_copy(update={"policy_note": note})


@memo_on_repeat(maxsize=8192)
def _measure_cached(  # noqa: PLR0917 - positional: the memo's key, built fast
    rx: Prescription,
    written: tuple[str, ...] | None,
    table: ConversionTable,
    policy: PrnPolicy,
    vocab: Vocabulary,
    catalogue: Catalogue | None,
) -> tuple[_Core, ...]:
    """Resolve and measure one prescription; memoised on the immutable inputs.

    A frozen Prescription, the table, policy and vocabulary fully determine the (immutable)
    items but for their position in the list, so repeated prescriptions (a prescribing-alert
    plugin re-sends the patient's current ones on every call; a population repeats the same
    products and doses) are measured once, wherever they stand. Keyed by content, bounded,
    kept from the second sight (:class:`~opioidcds._memo.RepeatMemo`: a stream of different
    patients does not churn it); exceptions are not memoised. ``written``
    (:meth:`Prescription.written_numbers`) keeps apart equal prescriptions whose numbers are
    written differently, whose results show them
    differently. The cache holds no patient identifiers: the prescriptions it is given carry
    none (:meth:`Prescription.without_identity`). Called only under the calculator's decimal
    context (:func:`calculate_ome` enters it once per call), whose flags it reads.
    """
    ctx = getcontext()  # the calculator's (calculate_ome holds it): not switched per item
    resolved = resolve_prescription(rx, vocab, catalogue)
    return tuple(_measure(resolved, table, policy, vocab, ctx))


def _measure(
    r: ResolvedPrescription,
    table: ConversionTable,
    policy: PrnPolicy,
    vocab: Vocabulary,
    ctx: Context,
) -> list[_Core]:
    drug = r.label
    if r.problem is not None:
        return [_item(r, None, ItemStatus.NOT_CONVERTIBLE, r.problem, f"{drug}: {r.problem}")]
    opioids = [ing for ing in r.ingredients if ing.opioid]
    if not opioids:
        reason = "no opioid ingredient: contributes no OME"
        return [_item(r, r.ingredients[0].name, ItemStatus.NOT_OPIOID, reason, f"{drug}: {reason}")]
    dose_info = r.dose
    if dose_info is None:  # pragma: no cover - resolve sets a dose or a problem
        raise InvalidInputError("dose_quantity", "is required")
    if dose_info.prn and policy is not PrnPolicy.MAXIMUM:
        reason = f"PRN prescription excluded by prn_policy {policy.value!r}"
        return [
            _item(r, ing.name, ItemStatus.EXCLUDED, reason, f"{ing.name}: {reason}")
            for ing in opioids
        ]
    rate = r.strength is not None and r.strength.kind is StrengthKind.RATE
    if dose_info.source == "dosage text":  # the text's dose for this form: read once
        schedule = _text_schedule(r.prescription.dosage_text or "", r.form, policy, rate)
    else:
        schedule = _schedule(dose_info, policy, rate=rate)
    if isinstance(schedule, str):
        return [
            _item(r, ing.name, ItemStatus.NOT_CONVERTIBLE, schedule, f"{ing.name}: {schedule}")
            for ing in opioids
        ]
    return [_convert(r, ing, schedule, table, vocab, ctx) for ing in opioids]


class _Schedule:
    """Product per day: ``quantity / per`` of the dose unit, and how that was reached.

    The quantity is kept as a numerator and a denominator (the interval in hours, or 1) so that
    the one division of the whole calculation happens last (35 mg x 24 / 7 h = 120 exactly).
    ``text`` writes the schedule as people read it ("1 tablet x 2/day"), when it is read.
    """

    __slots__ = ("note", "per", "quantity", "text")

    def __init__(self, quantity: Decimal, per: Decimal, text: Text, note: str | None) -> None:
        self.quantity = quantity
        self.per = per
        self.text = text
        self.note = note


@lru_cache(maxsize=8192)
def _text_schedule(text: str, form: Form | None, policy: PrnPolicy, rate: bool) -> _Schedule | str:
    """:func:`_schedule` of the dose ``text`` gives for ``form`` (memoised by content).

    ``rate``: the product is a patch (see :func:`_schedule`).
    """
    dose = dose_from_text(text, form)
    if isinstance(dose, str):  # pragma: no cover - the caller has the dose of this text
        return dose
    return _schedule(dose, policy, rate=rate)


def _daily_quantity(r: ResolvedPrescription, policy: PrnPolicy) -> _Schedule | str:
    """Quantity of the dose unit per day of ``r`` under ``policy``, or why it is unknown.

    :func:`_schedule` of ``r``'s dose (a patch when its strength is a rate).

    Raises:
        InvalidInputError: a regular (non-PRN) prescription with no frequency at all.
    """
    if r.dose is None:  # pragma: no cover - resolve sets a dose or a problem
        raise InvalidInputError("dose_quantity", "is required")
    rate = r.strength is not None and r.strength.kind is StrengthKind.RATE
    return _schedule(r.dose, policy, rate=rate)


def _schedule(d: Dose, policy: PrnPolicy, *, rate: bool) -> _Schedule | str:
    """Quantity of the dose unit per day under ``policy``, or the reason it is unknown.

    ``rate``: the product is a patch (its rate, not its change interval, sets the amount).

    Raises:
        InvalidInputError: a regular (non-PRN) prescription with no frequency at all.
    """
    high = policy is not PrnPolicy.MINIMUM
    dose = d.quantity_max if high and d.quantity_max is not None else d.quantity
    if dose is None:  # pragma: no cover - Prescription validation requires it
        raise InvalidInputError("dose_quantity", "is required")
    unit = d.unit
    if rate:  # patches: the delivery rate sets the daily amount; the change interval does not
        return _Schedule(dose, _ONE, (dose, " ", unit), "patch change interval does not change OME")
    notes: list[str] = []
    per = _ONE
    if d.doses_per_day is not None:
        per_day = (
            d.doses_per_day_max if high and d.doses_per_day_max is not None else d.doses_per_day
        )
        quantity = dose * per_day
        text: Text = (dose, " ", unit, " x ", per_day, "/day")
    elif d.interval_hours is not None:
        hours = d.interval_hours if high or d.interval_hours_max is None else d.interval_hours_max
        quantity = dose * _HOURS_PER_DAY
        per = hours
        text = (dose, " ", unit, " x (24 h / ", hours, " h)")
    elif d.max_doses_per_day is not None:
        quantity = dose * d.max_doses_per_day
        text = (dose, " ", unit, " x max ", d.max_doses_per_day, "/day")
    elif d.max_quantity_per_day is not None:
        quantity = d.max_quantity_per_day
        text = ("max ", quantity, " ", unit, "/day")
    elif d.prn:
        return "PRN with no frequency or maximum: the maximum daily amount is unknown"
    else:
        raise InvalidInputError(
            "doses_per_day",
            "doses_per_day, interval_hours or a daily maximum is required",
        )
    quantity, per, text = _apply_caps(d, dose, quantity, per, text=text, notes=notes)
    if d.prn:
        notes.insert(0, "PRN counted at its maximum permitted daily amount")
    elif d.is_range:
        end = "upper" if high else "lower"
        notes.insert(0, f"range counted at its {end} end")
    if d.source == "dosage text":
        notes[0:0] = ["dose read from the dosage text", *d.notes]
    return _Schedule(quantity, per, text, "; ".join(notes) or None)


def _apply_caps(
    d: Dose, dose: Decimal, quantity: Decimal, per: Decimal, *, text: Text, notes: list[str]
) -> tuple[Decimal, Decimal, Text]:
    """Cap ``quantity / per`` (units per day) by the dose's daily maxima, saying so."""
    unit = d.unit
    if d.max_doses_per_day is not None and d.max_doses_per_day * dose * per < quantity:
        quantity, per = d.max_doses_per_day * dose, _ONE
        text = (
            text,
            ", capped at max ",
            d.max_doses_per_day,
            " doses/day (",
            quantity,
            " ",
            unit,
            ")",
        )
        notes.append("capped by the maximum doses per day")
    if d.max_quantity_per_day is not None and d.max_quantity_per_day * per < quantity:
        quantity, per = d.max_quantity_per_day, _ONE
        text = (text, ", capped at max ", quantity, " ", unit, "/day")
        notes.append("capped by the maximum amount per day")
    return quantity, per, text


def _convert(  # noqa: PLR0917 - positional: called for every item measured
    r: ResolvedPrescription,
    ing: ResolvedIngredient,
    schedule: _Schedule,
    table: ConversionTable,
    vocab: Vocabulary,
    ctx: Context,
) -> _Core:
    strength = r.strength
    ctx.clear_flags()
    dose = r.dose
    if dose is None:  # pragma: no cover - resolve sets a dose or a problem
        raise InvalidInputError("dose_quantity", "is required")
    basis: Text
    if dose.unit_kind is DoseUnitKind.MASS:
        daily = schedule.quantity * dose.unit_factor / schedule.per
        unit, dim = _MG_PER_DAY, Dimension.MASS
        overrides = (
            f" (a dose in mg overrides the {_strength_text(r)} strength)"
            if strength is not None
            else ""
        )
        basis = (ing.name, " ", schedule.text, overrides)
    elif strength is not None and strength.kind is StrengthKind.RATE:
        rate, rate_text = _patch_rate(r, ing, table)
        if rate > vocab.limits.max_patch_rate_microgram_per_hour:
            raise _ImplausibleError("strength", "patch rate above the plausible maximum")
        daily = rate * schedule.quantity
        unit, dim = _RATE, Dimension.RATE
        basis = (ing.name, " ", rate_text, " x ", schedule.text)
    elif strength is not None and strength.kind is StrengthKind.PER_VOLUME:
        volume = strength.volume_ml or _ONE
        per_unit = r.count_volume_ml if r.count_volume_ml is not None else dose.unit_factor
        daily = schedule.quantity * per_unit * (ing.amount or _ZERO) / (schedule.per * volume)
        unit, dim = _MG_PER_DAY, Dimension.MASS
        each = r.count_volume_ml
        basis = (ing.name, " ", _ingredient_strength(r, ing, volume), " x ", schedule.text)
        if each is not None:
            basis = (basis, " of ", each, " mL each")
    else:
        daily = schedule.quantity * (ing.amount or _ZERO) / schedule.per
        unit, dim = _MG_PER_DAY, Dimension.MASS
        basis = (ing.name, " ", ing.amount or _ZERO, " mg x ", schedule.text)
    exact = not ctx.flags[Inexact]
    factor_of = _factor(table, ing.name, r.route, dim)
    amount_text = (basis, " = ", daily, " ", unit)
    if isinstance(factor_of, str):
        return _item(
            r,
            ing.name,
            ItemStatus.NOT_CONVERTIBLE,
            factor_of,
            (amount_text, "; not convertible: ", factor_of),
            daily=daily,
            unit=unit,
            note=schedule.note,
            exact=exact,
        )
    factor, multiplier, exact_multiplier, per, source = factor_of
    ctx.clear_flags()
    ome = daily * multiplier * factor if multiplier != _ONE else daily * factor
    exact = exact and exact_multiplier and not ctx.flags[Inexact]
    note = schedule.note
    arithmetic: Text = (
        amount_text,
        "" if multiplier == _ONE else (" = ", daily * multiplier, " ", per, "/day"),
        " x ",
        factor,
        " = ",
        ome,
        " mg OME/day",
        f" ({note})" if note else "",
    )
    return _Core(
        {
            "prescription_index": 0,
            "drug": r.label,
            "ingredient": ing.name,
            "route": r.route,
            "status": ItemStatus.CONVERTED,
            "reason": None,
            "daily_amount": daily,
            "daily_amount_unit": unit,
            "factor": factor,
            "factor_per": per,
            "factor_source": source,
            "ome_mg_per_day": ome,
            "policy_note": note,
            "exact": exact,
        },
        _CONVERTED_GIVEN,
        _Arithmetic(arithmetic),
    )


@lru_cache(maxsize=1024)
def _factor(
    table: ConversionTable, ingredient: str, route: str | None, dimension: Dimension
) -> tuple[Decimal, Decimal, bool, str, str] | str:
    """The table's factor for an ingredient by a route, or why there is none (memoised).

    ``(factor, multiplier, exact multiplier, per, citations)``: the multiplier takes the daily
    amount (of ``dimension``) into the row's ``per`` unit (:meth:`ConversionTable.multiplier`).
    """
    row = table.lookup(ingredient, route or "")
    if row is None or not row.convertible or row.factor is None:
        return (
            row.reason
            if row is not None and row.reason
            else f"no factor for {ingredient} ({route}) in table {table.id} {table.version}"
        )
    multiplier, exact = table.multiplier(row, dimension)
    return Decimal(row.factor), multiplier, exact, row.per or "", ", ".join(row.citations)


def _item(
    r: ResolvedPrescription,
    ingredient: str | None,
    status: ItemStatus,
    reason: str,
    arithmetic: str | Text,
    *,
    daily: Decimal | None = None,
    unit: str | None = None,
    note: str | None = None,
    exact: bool = True,
) -> _Core:
    values: dict[str, Any] = {
        "prescription_index": 0,
        "drug": r.label,
        "ingredient": ingredient,
        "route": r.route,
        "status": status,
        "reason": reason,
        "daily_amount": daily,
        "daily_amount_unit": unit,
        "factor": None,
        "factor_per": None,
        "factor_source": None,
        "ome_mg_per_day": None,
        "policy_note": note,
    }
    if isinstance(arithmetic, str):
        values["arithmetic"] = arithmetic
        values["exact"] = exact
        return _Core(values, _ALL_GIVEN)
    values["exact"] = exact
    return _Core(values, _ALL_GIVEN, _Arithmetic(arithmetic))


def _strength_text(r: ResolvedPrescription) -> str:
    return r.strength_text or ""


def _ingredient_strength(r: ResolvedPrescription, ing: ResolvedIngredient, volume: Decimal) -> Text:
    """One ingredient's concentration, as people read it.

    The product's strength text, or for a combination liquid the ingredient's own amount per
    volume ("10 mg/5 mL").
    """
    if r.strength_text and len(r.ingredients) == 1:
        return (r.strength_text,)
    if volume == _ONE:
        return (ing.amount or _ZERO, " mg/mL")
    return (ing.amount or _ZERO, " mg/", volume, " mL")


def _patch_rate(
    r: ResolvedPrescription, ing: ResolvedIngredient, table: ConversionTable
) -> tuple[Decimal, Text]:
    """The rate a patch counts at, and how it reads (written when read).

    The labelled rate, unless the table's row says the factor applies to the delivered rate
    (Opioids Aware) and the product's SmPC states one (``catalogue/delivered_rates.toml``): a
    fentanyl "12 microgram/hour" patch that releases 12.5 then counts at 12.5.
    """
    labelled = ing.amount or _ZERO
    row = table.lookup(ing.name, r.route or "")
    product = r.product
    if (
        row is None
        or row.patch_rate != "delivered"
        or product is None
        or product.delivered_rate is None
        or product.delivered_rate == labelled
    ):
        return labelled, (labelled, " microgram/hour")
    delivered = product.delivered_rate
    source = product.delivered_rate_source
    return delivered, (
        delivered,
        " microgram/hour delivered (labelled ",
        labelled,
        "; ",
        source,
        ")",
    )


def _fmt(value: Decimal) -> str:
    return format_decimal(value)
