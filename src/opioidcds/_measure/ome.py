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

import threading
from collections.abc import Iterable, Mapping, Sequence
from decimal import Context, Decimal, Inexact, getcontext, localcontext, setcontext
from enum import Enum
from functools import cached_property, lru_cache, partial
from sys import intern, maxsize
from typing import Any, Final, Literal, NamedTuple

from opioidcds._base import set_dict, set_extra, set_fields_set, set_private
from opioidcds._display import format_decimal
from opioidcds._errors import InvalidInputError, OpioidCDSError, UnknownProductError
from opioidcds._inputs.prescription import CODE_AND_TEXT, DoseUnitKind, Prescription, PrnPolicy
from opioidcds._knowledge.products import Catalogue, Product, load_catalogue
from opioidcds._knowledge.provenance import for_ome
from opioidcds._knowledge.tables import ConversionTable, default_table
from opioidcds._knowledge.units import Dimension, Strength, StrengthKind
from opioidcds._knowledge.vocabulary import Form, FormKind, Vocabulary, default_vocabulary
from opioidcds._measure.results import ItemAmounts, ItemFigures, ItemStatus, OMEItem, OMEResult
from opioidcds._memo import memo_on_repeat
from opioidcds._resolve.dose import Dose, dose_from_text
from opioidcds._resolve.prescription import (
    ProductFields,
    ResolvedIngredient,
    ResolvedPrescription,
    counts_containers,
    dose_unit_fits,
    product_fields,
    product_part,
    resolve_prescription,
)
from opioidcds._resolve.record import BundleRead, not_read_reason
from opioidcds._version import __version__

__all__ = ["IMPLAUSIBLE_RULES", "calculate_ome", "item_figures", "ome_figures"]

_CONTEXT = Context(prec=150, traps=[])
_SUMS: Final = _CONTEXT.copy()
"""The calculator's precision for its sums (``_SUMS.add``: no context entered per call; its
flags are never read)."""
_THREAD: Final = threading.local()


def _thread_context() -> Context:
    """This thread's copy of :data:`_CONTEXT`, for arithmetic whose flags are read.

    Used by its methods (``ctx.multiply``), never made current: no context is entered.
    """
    try:
        ctx: Context = _THREAD.context
    except AttributeError:
        ctx = _THREAD.context = _CONTEXT.copy()
    return ctx


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
    if table is None and vocabulary is None and prn_policy is _MAXIMUM:  # the default call
        plans = _plans_of(default_vocabulary(), catalogue, default_table(), _MAXIMUM)
    else:
        tbl = default_table(table) if isinstance(table, str) else table or default_table()
        vocab = vocabulary if vocabulary is not None else default_vocabulary()
        try:
            policy = prn_policy if type(prn_policy) is PrnPolicy else PrnPolicy(prn_policy)
        except ValueError:
            raise InvalidInputError("prn_policy", "must be one of the PrnPolicy values") from None
        plans = _plans_of(vocab, catalogue, tbl, policy)
    if item_errors not in {"list", "raise"}:
        raise InvalidInputError("item_errors", "must be 'list' or 'raise'")
    record: BundleRead | None
    given: Iterable[Prescription]
    if type(prescriptions) is not list and isinstance(prescriptions, BundleRead):
        record, given = prescriptions, prescriptions.prescriptions
    else:
        record, given = None, prescriptions
    # one unpacking of what was read (not an attribute read per use)
    parts, figures, total, exact, unconverted, named, minimum, pending, count = _read(
        given, plans, raise_errors=item_errors == "raise"
    )
    reasons = (
        _lower_bound_reasons(unconverted=unconverted, minimum=minimum, record=record, read=count)
        if unconverted or minimum or record is not None
        else ()
    )
    used = catalogue if catalogue is not None or not named else load_catalogue()
    if pending:  # some items are built when read: the header without them
        header = plans.deferred_headers.get(used)  # no method call when kept (issue 20)
        if header is None:
            header = plans.header(used, with_items=False)
        values = header.copy()  # typed: not validated again
    else:
        values = plans.header(used, with_items=True).copy()
        values["items"] = tuple([item for part in parts for item in part])
    values["total_mg_per_day"] = total
    values["complete"] = not reasons
    values["exact"] = exact
    values["lower_bound_reasons"] = reasons
    if record is not None:
        values["sources"] = record.sources
        values["skipped"] = record.skipped
        values["read_notes"] = record.notes
    if not pending:  # every item built already
        return OMEResult.typed(values)
    # OMEResult.deferred, written out (issue 20: the commonest result); every field is given
    result = _new_result(OMEResult)
    set_dict(result, values)
    set_fields_set(result, set(_RESULT_FIELDS))
    set_extra(result, None)
    set_private(result, {"_render": _Items((parts, figures, plans.setting))})
    return result


def ome_figures(
    prescriptions: Sequence[Prescription],
    *,
    table: ConversionTable,
    vocabulary: Vocabulary,
    catalogue: Catalogue | None,
) -> Sequence[tuple[ItemAmounts, ...]]:
    """What the items of ``calculate_ome(prescriptions, ...)`` say, by prescription, in order.

    Entry ``i`` holds the figures of prescription ``i``'s items, in item order: for a reader
    of the figures alone (the prescribing check: each item's status, ingredient, daily amount
    and OME). The same reading of each prescription (:func:`_read`, default PRN policy,
    ``item_errors="list"``: an unreadable prescription is one not-convertible item), the same
    plausibility refusal and the same figures as :func:`item_figures` of
    :func:`calculate_ome`'s result, without building the result, its header, its provenance,
    its lower-bound reasons or an object per item (issue 20). The figures alone do not say
    whether the total is complete: an item not convertible says so by its status, but a dose
    given as a minimum (``dose_is_minimum``, a lower-bound reason of :func:`calculate_ome`)
    gives the figures of the dose stated; a reader deciding on a total reads that flag from
    the prescriptions (the prescribing check does).

    Raises:
        InvalidInputError: as :func:`calculate_ome`: an entry is not a Prescription, or the
            input implies an implausible amount (over the plausibility limits).
    """
    plans = _plans_of(vocabulary, catalogue, table, _MAXIMUM)
    figures = _planned_figures(prescriptions, plans)
    if figures is not None:
        return figures
    # some are measured the full way: the whole list is read so, memoised from its second
    # sight (a full reading costs more than the key); identifiers never reach the memo
    plain = []
    for index, rx in enumerate(prescriptions):
        if type(rx) is not Prescription and not isinstance(rx, Prescription):
            raise InvalidInputError(f"prescriptions[{index}]", "must be a Prescription")
        plain.append(rx.without_identity())
    written = tuple([rx.written_numbers() for rx in plain])
    return _read_figures(tuple(plain), written, plans)


@memo_on_repeat(maxsize=1024)
def _read_figures(
    prescriptions: tuple[Prescription, ...],
    _written: tuple[tuple[str, ...] | None, ...],
    plans: _Plans,
) -> tuple[tuple[_Figure, ...], ...]:
    """The figures of ``prescriptions`` read as :func:`calculate_ome` reads them, by prescription.

    Keyed by content, with how each writes its numbers (``_written``: the figures keep them as
    written). Read-only: a tuple, shared by the calls that repeat the list.

    Raises:
        InvalidInputError: an implausible amount (over the plausibility limits; not kept).
    """
    return tuple(_read(prescriptions, plans, raise_errors=False)[1])  # checked as it is read


def _planned_figures(
    prescriptions: Sequence[Prescription], plans: _Plans
) -> list[tuple[_Figure, ...]] | None:
    """The figures of every prescription from its plan (:func:`_figures`), else ``None``.

    ``None`` as soon as one prescription is left to the full way (:func:`_read` then reads
    the list). Nothing is summed but each ingredient's daily amount, for the plausibility
    limits, as :func:`_read` sums it: only when the list is longer than an entry's cap
    (:data:`_Entry`), by :func:`_per_ingredient`. A prescription of a dm+d code and a text
    alone whose plan, text reading, dose unit and amounts are all kept, and whose product
    counts no containers, has its figures looked up here, as :func:`_read` looks them up (no
    call to :func:`_figures`, none of its checks for the other cases; issue 20, check round
    9); anything else goes to :func:`_figures`. Switching :func:`_figures` off switches this
    off too.

    Raises:
        InvalidInputError: an entry is not a Prescription, or an implausible amount.
    """
    figures: list[tuple[_Figure, ...]] = []
    cap = _NO_CAP  # the most prescriptions no limit can be passed by (_Entry); 0: summed
    figures_of = _figures  # looked up once per call (a test switches it off)
    by_code = plans.by_code if figures_of is _PLANNED else {}  # switched off with it
    code_and_text = CODE_AND_TEXT
    for rx in prescriptions:  # its position is len(figures)
        if type(rx) is not Prescription and not isinstance(rx, Prescription):
            raise InvalidInputError(f"prescriptions[{len(figures)}]", "must be a Prescription")
        d = rx.__dict__
        if rx.__pydantic_fields_set__ is code_and_text:  # built of a code and a text alone
            entry = None
            plan = by_code.get(d["dmd_code"])
            if plan is not None and plan is not _FULL_WAY and plan.containers is None:
                reading = plan.texts.get(d["dosage_text"])
                if type(reading) is tuple and reading[3] in plan.units:
                    kept = reading[2]  # the key of its amounts, None when no schedule
                    entry = plan.unconvertible if kept is None else plan.amounts.get(kept)
            if entry is None:
                entry = figures_of(d, plans, True)
        else:
            entry = figures_of(d, plans)
        if entry is None:
            return None
        figures.append(entry[0])
        if entry[4] < cap:  # noqa: PLR1730 - a comparison, not a call of min (issue 20)
            cap = entry[4]
    if len(figures) > cap:  # some ingredient's sum could pass its limit: summed exactly
        _check_plausible(_per_ingredient(figures), plans.limits)
    return figures


def _check_plausible(
    per_ingredient: Mapping[tuple[str, str], Decimal], limits: Mapping[str, Decimal]
) -> None:
    """Refuse an implausible daily amount of one opioid over all its prescriptions.

    Its daily mass, and the total rate of its patches (six 1,000 microgram/hour patches are
    not a dose; hazard HAZ-002); ``limits`` by unit, from the knowledge (``_Plans.limits``).

    Raises:
        InvalidInputError: an amount over its limit (unit confusion, not a dose).
    """
    for (_, unit), amount in per_ingredient.items():
        if amount > limits[unit]:
            raise InvalidInputError("prescriptions", _IMPLAUSIBLE)


def _per_ingredient(figures: Iterable[tuple[_Figure, ...]]) -> dict[tuple[str, str], Decimal]:
    """Each ingredient's daily amount summed over ``figures`` (by unit), in item order.

    At the calculator's precision (:data:`_SUMS`); an ingredient's first amount kept as it is.
    """
    sums: dict[tuple[str, str], Decimal] = {}
    add = _SUMS.add
    for found in figures:
        for _, _, daily, _, _, _, key in found:
            if key is not None and daily is not None:
                summed = sums.get(key)
                sums[key] = daily if summed is None else add(summed, daily)
    return sums


_NO_CAP: Final = maxsize
"""The cap of figures without a daily amount (:data:`_Entry`): no number of them passes a limit."""

_Entry = tuple[tuple["_Figure", ...], Decimal | tuple[Decimal, ...] | None, bool, bool, int]
"""One prescription's figures with what a calculation sums of them, computed once (issue 20).

``(figures, ome, exact, unconverted, cap)``: ``ome`` is the OME of its one item with one, added
to zero as a total's first amount is (a calculation takes the first prescription's as its
total and adds the others: the same number, written the same way, as adding every item to
zero in turn); the OME of its items in order when several have one (a product of two
opioids: each is added to the total in turn, as rounded sums at 150 digits do not associate,
review 11); ``None`` when no item has one. ``exact``: whether every item with an OME is exact;
``unconverted``: whether an item is not convertible; ``cap``: the number of prescriptions,
each giving at most these daily amounts, that no plausibility limit can be passed by: the
least, over its ingredients, of the limit divided by the ingredient's daily amount, rounded
down, or ``0`` when a sum of its amounts may be rounded (:func:`_cap`). A calculation over
``n`` prescriptions whose entries all have ``cap >= n`` passes no limit (each ingredient's sum
is at most ``n`` amounts of at most ``limit / cap`` each, summed exactly), so its sums are not
formed; otherwise they are, as always (:func:`_check_plausible`), and so they are for a list
holding a prescription measured the full way, which has no entry (:func:`_read`). The same
refusals as summing always, without summing by ingredient on every call.
"""


def _entry(figures: tuple[_Figure, ...], limits: Mapping[str, Decimal]) -> _Entry:
    """``figures`` with their OME, exactness, unconverted flag and cap (:data:`_Entry`)."""
    omes: list[Decimal] = []
    exact, unconverted = True, False
    for figure in figures:
        item_ome = figure.ome_mg_per_day
        if item_ome is not None:
            omes.append(item_ome)
            exact = exact and figure.exact
        elif figure.status is _NOT_CONVERTIBLE:
            unconverted = True
    ome: Decimal | tuple[Decimal, ...] | None = None
    if len(omes) == 1:
        ome = _SUMS.add(_ZERO, omes[0])  # as the first amount of a total is (_read)
    elif omes:
        ome = tuple(omes)  # added in turn (_read)
    return figures, ome, exact, unconverted, _cap(figures, limits)


def _cap(figures: tuple[_Figure, ...], limits: Mapping[str, Decimal]) -> int:
    """How many prescriptions of these daily amounts no plausibility limit can be passed by.

    The least, over the ingredients, of the limit divided by the ingredient's daily amount,
    rounded down (:data:`_Entry`; the limits of ``conversion_tables/plausibility.toml``, by
    unit). ``0`` (the sums are always formed, :func:`_check_plausible`) when an amount has a
    digit below the last of the calculator's 150 digits of a number as large as the limit: a
    sum of such amounts up to the limit may be rounded, and only summing them in order says
    whether the rounded sum passes it (five thousand 13ths of a mg, thirteen times: review 11);
    and the limit divided by so small an amount has more digits than the precision. Otherwise
    every sum up to the limit is exact, and ``n`` amounts of at most ``limit // amount`` pass
    no limit.
    """
    cap = _NO_CAP
    for (_, unit), amount in _per_ingredient((figures,)).items():
        if amount > _ZERO:
            limit = limits[unit]
            exponent = amount.as_tuple().exponent  # its last digit's (int: a finite amount)
            if not isinstance(exponent, int) or exponent < limit.adjusted() + 1 - _SUMS.prec:
                return 0  # its sums may be rounded: formed, whatever the list's length
            cap = min(cap, int(_SUMS.divide_int(limit, amount)))
    return cap


_IMPLAUSIBLE: Final = "implies an implausible daily amount of one opioid (check units)"
_IMPLAUSIBLE_RATE: Final = "patch rate above the plausible maximum"
IMPLAUSIBLE_RULES: Final = frozenset({_IMPLAUSIBLE, _IMPLAUSIBLE_RATE})
"""The rules of the errors refusing a calculation over the plausibility limits (HAZ-002): an
amount of one opioid, or a patch's rate, that no real prescription gives. A reader that says
why an order was refused (the CDS Hooks cards) tells these from an order that was not read."""


_Read = tuple[
    list[tuple[OMEItem, ...] | Prescription],  # parts
    list[tuple["_Figure", ...]],  # figures
    Decimal,  # total
    bool,  # exact
    bool,  # unconverted
    bool,  # named
    bool,  # minimum
    bool,  # pending
    int,  # read
]
"""What :func:`_read` found in the prescriptions: each one's part, and the sums, in order.

``(parts, figures, total, exact, unconverted, named, minimum, pending, read)``: ``parts[i]``
is prescription ``i``'s items when built (a ``tuple``), else the prescription itself (its
items are built when read: :class:`_Items`); ``figures[i]`` what its items say
(:class:`_Figure`), built or not. ``total`` and ``exact`` sum the OME of every item, in
order; ``unconverted``: an item is not convertible; ``named``: an item named a dm+d product
(the catalogue is knowledge used); ``minimum``: a dose was given as a minimum (the total is a
lower bound); ``pending``: some items are built when read; ``read``: how many prescriptions
were read. A plain tuple (issue 20: built once per call, unpacked at once).
"""


def _read(  # noqa: PLR0912, PLR0915 - one loop reads and sums each case (issue 20)
    given: Iterable[Prescription], plans: _Plans, *, raise_errors: bool
) -> _Read:
    """Measure each prescription, in order, sum the figures of its items and check the sums.

    Each prescription's figures come from its product's plan and its text's reading
    (:func:`_figures`), else from its items (:func:`_measure_one`). The total is summed in
    item order at the calculator's precision (:data:`_SUMS`), as the items list them. A new
    schedule of a product is computed by this thread's copy of the calculator's context
    (:func:`_thread_context`); the full way runs in the calculator's context, made current at
    the first prescription measured so and restored when the loop ends (once per call). Each
    ingredient's daily amount, summed over the prescriptions (:func:`_per_ingredient`), is then
    checked against the plausibility limits (:func:`_check_plausible`), when the list is longer
    than an entry's cap (:data:`_Entry`: a shorter list passes no limit) or has a prescription
    measured the full way (it has no entry: :func:`_measure_cached` keeps its items, not a cap).

    Raises:
        InvalidInputError: an entry is not a Prescription, an implausible amount, or (with
            ``raise_errors``) an unreadable prescription (:func:`_measure_one`).
        UnknownProductError: an unknown product, with ``raise_errors``.
    """
    parts: list[tuple[OMEItem, ...] | Prescription] = []
    figures: list[tuple[_Figure, ...]] = []
    setting, limits = plans.setting, plans.limits
    figures_of = _figures  # looked up once per call (a test switches it off)
    by_code = plans.by_code if figures_of is _PLANNED else {}  # switched off with it
    code_and_text = CODE_AND_TEXT
    add = _SUMS.add
    total, exact, unconverted, named, minimum, pending = _ZERO, True, False, False, False, False
    cap = _NO_CAP  # the most prescriptions no limit can be passed by (_Entry); 0: summed
    previous: Context | None = None  # the caller's context, while the calculator's is current
    try:
        for rx in given:  # its position is len(parts): one part per prescription read
            if type(rx) is not Prescription and not isinstance(rx, Prescription):
                raise InvalidInputError(f"prescriptions[{len(parts)}]", "must be a Prescription")
            d = rx.__dict__
            if rx.__pydantic_fields_set__ is code_and_text:  # built of a code and a text alone
                named = True
                # _figures written out for a product and a text both kept with all they need
                # (no containers to count, a unit that fits, amounts computed): one call and
                # its checks fewer per prescription (issue 20); anything else goes to it
                entry = None
                plan = by_code.get(d["dmd_code"])
                if plan is not None and plan is not _FULL_WAY and plan.containers is None:
                    reading = plan.texts.get(d["dosage_text"])
                    if type(reading) is tuple and reading[3] in plan.units:
                        kept = reading[2]  # the key of its amounts, None when no schedule
                        entry = plan.unconvertible if kept is None else plan.amounts.get(kept)
                if entry is None:
                    entry = figures_of(d, plans, True)
            else:
                named = named or d["dmd_code"] is not None or d["product_name"] is not None
                entry = figures_of(d, plans)
            if entry is None:  # measured the full way: its items built now, summed one by one
                if previous is None:  # the full way runs in the calculator's context: entered once
                    previous = getcontext()
                    setcontext(_CONTEXT.copy())
                measured, found = _measure_one(rx, len(parts), setting, raise_errors=raise_errors)
                if d["dose_is_minimum"]:  # a note added: the figures are the same
                    minimum = True
                    measured = tuple([_as_minimum(item) for item in measured])
                parts.append(measured)
                figures.append(found)
                for _, status, _, _, item_ome, item_exact, _ in found:
                    if item_ome is not None:
                        total = add(total, item_ome)
                        exact = exact and item_exact
                    elif status is _NOT_CONVERTIBLE:
                        unconverted = True
                # no entry, so no cap: _measure_cached keeps its items, and a cap worked out
                # on every call costs a division (issue 20): the list's sums are formed
                cap = 0
                continue
            parts.append(rx)  # its items are built if the result's items are read
            pending = True
            # what its figures sum to, computed once per entry (_Entry): not summed item by item
            found, ome, item_exact, item_unconverted, item_cap = entry
            figures.append(found)
            if isinstance(ome, tuple):  # several items with an OME: each added in turn
                for item_ome in ome:
                    total = add(total, item_ome)
                exact = exact and item_exact
            elif ome is not None:  # the first is the total so far: added to zero already
                total = ome if total is _ZERO else add(total, ome)
                exact = exact and item_exact
            if item_unconverted:
                unconverted = True
            if item_cap < cap:  # noqa: PLR1730 - a comparison, not a call of min (issue 20)
                cap = item_cap
    finally:
        if previous is not None:
            setcontext(previous)
    if len(parts) > cap:  # some ingredient's sum could pass its limit: summed exactly, checked
        _check_plausible(_per_ingredient(figures), limits)
    return parts, figures, total, exact, unconverted, named, minimum, pending, len(parts)


_NOT_CONVERTIBLE: Final = ItemStatus.NOT_CONVERTIBLE


def _figure_of(item: OMEItem) -> _Figure:
    """What a built item says, as :class:`_Figure`."""
    name, daily, unit = item.ingredient, item.daily_amount, item.daily_amount_unit
    key = (name, unit or "") if name is not None and daily is not None else None
    return _Figure(name, item.status, daily, unit, item.ome_mg_per_day, item.exact, key)


def _header(
    table: ConversionTable, vocab: Vocabulary, catalogue: Catalogue | None, policy: PrnPolicy
) -> dict[str, Any]:
    """The fields of a result that follow from its knowledge and policy alone, in field order.

    The others hold placeholders (``total_mg_per_day``, ``complete``, ``items``, ``exact``,
    ``lower_bound_reasons``) or their value without a record (``sources``, ``skipped``,
    ``read_notes``): :func:`calculate_ome` sets them.
    """
    return {
        "total_mg_per_day": _ZERO,
        "complete": True,
        "table_id": table.id,
        "table_version": table.version,
        "table_effective_date": table.file.effective_date.isoformat(),
        "prn_policy": policy,
        "items": (),
        "library_version": __version__,
        "provenance": for_ome(table, vocab, catalogue),
        "exact": True,
        "lower_bound_reasons": (),
        "sources": (),
        "skipped": (),
        "read_notes": (),
    }


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
) -> tuple[tuple[OMEItem, ...], tuple[_Figure, ...]]:
    """The items of one prescription, and what they say; one not-convertible item if unread.

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
        item = _unread_item(rx, index, not_read_reason(exc.field, exc.rule), setting.catalogue)
        return (item,), (_figure_of(item),)
    except UnknownProductError as exc:
        if raise_errors:
            raise
        item = _unread_item(rx, index, f"not read: {exc}", setting.catalogue)
        return (item,), (_figure_of(item),)
    if len(cores) == 1:  # one opioid ingredient, as most products have
        core = cores[0]
        return (core.at(index),), (core.figure,)
    return tuple([core.at(index) for core in cores]), tuple([core.figure for core in cores])


class _Measured(NamedTuple):
    """The figures of one item: what the total, the limits and the prescribing check read.

    The fields of :class:`OMEItem` they read, by the same names. The per-call path computes
    these for a prescription given by its product and dosage text and builds the items
    themselves only when a caller reads them (:class:`_Items`; issue 20).
    """

    prescription_index: int
    ingredient: str | None
    status: ItemStatus
    daily_amount: Decimal | None
    daily_amount_unit: str | None
    ome_mg_per_day: Decimal | None
    exact: bool


_measured: Final = partial(tuple.__new__, _Measured)
"""``_Measured`` of a tuple of its fields, in order (without the named tuple's own ``__new__``)."""


class _Plan(NamedTuple):
    """A product compiled once for the per-call path: what every dose of it is measured with.

    ``opioids`` are its opioid ingredients with their amount per unit, for a patch the rate
    it counts at (:func:`_patch_rate`), and the table's factor by the dimension of the daily
    amount (:func:`_factor`, kept on first need). ``texts`` holds each dosage text read for
    its form (shared by every product whose form reads a text the same way, :data:`_TextKey`):
    the dose, the schedule (or why it gives none) and the key of its amounts. ``units`` holds
    the dose units found to fit the product; ``containers`` the product when a dose may count
    its ampoules or vials (:func:`counts_containers`), else ``None``; ``amounts`` the figures
    of its opioid ingredients computed for each schedule (:data:`_AmountKey`), shared by every
    product measured the same way (:data:`_MeasureKey`: the many suppliers of one strength);
    ``unconvertible`` the figures of a text whose schedule gives no daily amount (each opioid
    not convertible).
    """

    form: Form | None
    route: str | None
    strength: Strength | None
    product: Product | None
    patch: bool
    opioids: tuple[tuple[str, Decimal | None, Decimal, dict[Dimension, _FactorOf]], ...]
    texts: dict[str, _Reading | str | _Leave]
    units: dict[str, bool]
    containers: Product | None
    amounts: dict[_AmountKey, _Entry]
    unconvertible: _Entry


_TextKey = tuple[tuple[FormKind, tuple[str, ...]] | None, bool]
"""What a dosage text's dose depends on besides the text: the form's kind and count nouns
(:func:`~opioidcds._resolve.dose.dose_from_text` reads no more of the form), and whether the
product is a patch (:func:`_schedule`). Tablets and modified-release tablets share one."""

_MeasureKey = tuple[str | None, StrengthKind | None, str, tuple[tuple[str, str, str], ...]]
"""What a product's daily amounts and OME are computed from, besides the schedule
(:func:`_amounts`): its route, the kind of its strength and the volume it is given per, and
each opioid ingredient's name, amount per unit and counted patch rate (numbers as written).
Products of different suppliers with the same strength share it (99 keys for 1,031 products)."""

_PLANS_MAX: Final = 8192
"""Bound of each memo of the per-call path (products; texts per form): emptied when full."""


class _Plans:
    """The compiled products and texts of one knowledge setting (one per setting, memoised).

    With the setting itself, its plausibility limits by unit, and the fields of a result that
    follow from it alone (:func:`_header`, per catalogue used).
    """

    __slots__ = (
        "_headers",
        "amounts",
        "by_code",
        "deferred_headers",
        "limits",
        "plans",
        "setting",
        "texts",
    )

    def __init__(self, setting: _Setting) -> None:
        self.setting = setting
        limits = setting.vocab.limits
        self.limits = {
            _MG_PER_DAY: limits.max_daily_mg,
            _RATE: limits.max_patch_rate_microgram_per_hour,
        }
        self.plans: dict[ProductFields, _Plan | _Leave] = {}
        self.by_code: dict[str, _Plan | _Leave] = {}
        """The plan of a product named by its dm+d code alone (the same plans, by code)."""
        self.texts: dict[_TextKey, dict[str, Any]] = {}
        self.amounts: dict[_MeasureKey, dict[_AmountKey, _Entry]] = {}
        self._headers: dict[tuple[Catalogue | None, bool], dict[str, Any]] = {}
        self.deferred_headers: dict[Catalogue | None, dict[str, Any]] = {}
        """The headers without ``items`` (:meth:`header`), by catalogue used: read per call."""

    def header(self, catalogue: Catalogue | None, *, with_items: bool) -> dict[str, Any]:
        """:func:`_header` of this setting with ``catalogue`` (the one used); kept, not changed.

        Without ``items`` unless ``with_items`` (a result whose items are built when read).
        """
        found = self._headers.get((catalogue, with_items))
        if found is None:
            table, policy, vocab, _ = self.setting
            found = _header(table, vocab, catalogue, policy)
            if not with_items:
                del found["items"]
                self.deferred_headers[catalogue] = found
            self._headers[catalogue, with_items] = found
        return found


@lru_cache(maxsize=64)
def _plans_of(
    vocab: Vocabulary, catalogue: Catalogue | None, table: ConversionTable, policy: PrnPolicy
) -> _Plans:
    """The memo of compiled products and texts for this knowledge and policy."""
    return _Plans(_Setting(table, policy, vocab, catalogue))


def _plan(fields: ProductFields, plans: _Plans) -> _Plan | None:
    """The compiled plan of a product (memoised by its fields and the knowledge), or ``None``.

    ``None`` for a product the per-call path leaves to :func:`_measure_one`: one the
    vocabulary cannot place, with no opioid ingredient, or a patch over the plausible rate
    (which refuses the calculation).

    Raises:
        UnknownProductError, InvalidInputError: as :func:`resolve_prescription` (the caller
            then measures the prescription the full way, which says so). Not memoised.
    """
    table, _, vocab, catalogue = plans.setting
    part = product_part(fields, vocab, catalogue)
    opioids = [ing for ing in part.ingredients if ing.opioid]
    if part.problem is not None or not opioids:
        return None
    strength = part.strength
    patch = strength is not None and strength.kind is StrengthKind.RATE
    compiled: list[tuple[str, Decimal | None, Decimal, dict[Dimension, _FactorOf]]] = []
    for ing in opioids:
        rate = _patch_rate(part.route, part.product, ing, table)[0] if patch else _ZERO
        if rate > vocab.limits.max_patch_rate_microgram_per_hour:
            return None
        compiled.append((ing.name, ing.amount, rate, {}))  # factors: looked up on first need
    form = part.form
    key = (None if form is None else (form.kind, form.nouns), patch)
    texts = plans.texts.get(key)
    if texts is None:
        texts = plans.texts.setdefault(key, {})
    measure: _MeasureKey = (
        part.route,
        None if strength is None else strength.kind,
        str(None if strength is None else strength.volume_ml),
        tuple([(name, str(amount), str(rate)) for name, amount, rate, _ in compiled]),
    )
    amounts = plans.amounts.get(measure)
    if amounts is None:  # the first product measured this way
        amounts = {}
        _put(plans.amounts, measure, amounts)
    product = part.product
    containers = (
        product
        if product is not None
        and product.unit is not None
        and strength is not None
        and strength.kind is StrengthKind.PER_VOLUME
        else None
    )
    return _Plan(
        form=part.form,
        route=part.route,
        strength=strength,
        product=product,
        patch=patch,
        opioids=tuple(compiled),
        texts=texts,
        units={},
        containers=containers,
        amounts=amounts,
        unconvertible=_entry(
            tuple(
                [
                    _Figure(name, ItemStatus.NOT_CONVERTIBLE, None, None, None, True, None)
                    for name, *_ in compiled
                ]
            ),
            plans.limits,
        ),
    )


def _reading(plan: _Plan, text: str, policy: PrnPolicy) -> _Reading | str | _Leave:
    """The dose ``text`` gives for the plan's form and its schedule, or why it gives none.

    With the key of what the daily amount is computed from (:data:`_AmountKey`; ``None`` when
    the schedule is a reason) and the dose's unit. :attr:`_Leave.FULL_WAY`: a PRN dose that a
    policy other than the maximum excludes, or an "up to" dose the minimum policy excludes,
    which the full way lists as excluded.

    Raises:
        InvalidInputError: as :func:`dose_from_text` and :func:`_schedule` (not memoised).
    """
    dose = dose_from_text(text, plan.form)
    if isinstance(dose, str):
        return dose
    if dose.prn and policy is not PrnPolicy.MAXIMUM:
        return _Leave.FULL_WAY
    if dose.up_to and policy is PrnPolicy.MINIMUM:
        return _Leave.FULL_WAY
    schedule = _text_schedule(text, plan.form, policy, plan.patch)
    if isinstance(schedule, str):
        return dose, schedule, None, intern(dose.unit)
    # the kind by its value: a key of four strings hashes without calling Python (an enum's
    # hash is a Python method), and each kind has its own value
    kind = dose.unit_kind.value
    key = _amount_key((str(schedule.quantity), str(schedule.per), kind, str(dose.unit_factor)))
    return dose, schedule, key, intern(dose.unit)  # one string per unit: looked up often


def _amount_key(content: tuple[str, str, str, str]) -> _AmountKey:
    """The one :class:`_AmountKey` of ``content`` (kept: bounded, emptied when full).

    Emptied, an equal content gets a new key: the memos it keys then hold the same figures
    twice, never other figures (they are a function of the content).
    """
    key = _AMOUNT_KEYS.get(content)
    if key is None:
        key = _AmountKey(content)
        _put(_AMOUNT_KEYS, content, key)
    return key


class _Leave(Enum):
    """What the per-call path keeps for a text or product it leaves to the full way."""

    FULL_WAY = "full way"


_FULL_WAY: Final = _Leave.FULL_WAY


class _AmountKey:
    """What a product's daily amounts are computed from, besides the product (:func:`_daily`).

    ``content``: the schedule's quantity and divisor and the dose unit's kind (its value) and
    factor, each as written (equal decimals written differently give results written
    differently). One object per content (:func:`_amount_key`), hashed and compared by
    identity: the memo of amounts (:attr:`_Plan.amounts`) finds it without hashing or
    comparing its four strings on every call (issue 20).
    """

    __slots__ = ("content",)

    def __init__(self, content: tuple[str, str, str, str]) -> None:
        self.content = content

    def __repr__(self) -> str:
        return f"_AmountKey({self.content!r})"


_AMOUNT_KEYS: Final[dict[tuple[str, str, str, str], _AmountKey]] = {}
"""The key of each content seen (:func:`_amount_key`)."""

_Reading = tuple[Dose, "_Schedule | str", _AmountKey | None, str]
"""What a dosage text gives for a way of reading it: the dose, its schedule (or why there is
none), the key of the amounts computed from them, and the dose's unit."""


class _Figure(NamedTuple):
    """An item's figures but its position: what the total, the limits and the check read.

    The fields of :class:`OMEItem` of the same names (an :class:`ItemAmounts`), and the key its
    daily amount is summed by for the plausibility limits (``limit_key``: ingredient and unit;
    ``None`` without a daily amount). Built once per schedule of a way of measuring (or per
    item built), never per call.
    """

    ingredient: str | None
    status: ItemStatus
    daily_amount: Decimal | None
    daily_amount_unit: str | None
    ome_mg_per_day: Decimal | None
    exact: bool
    limit_key: tuple[str, str] | None


def _put(memo: dict[Any, Any], key: Any, value: Any, bound: int = _PLANS_MAX) -> None:  # noqa: ANN401
    """Keep ``value`` in ``memo`` (emptied first when it holds ``bound``: bounded)."""
    if len(memo) >= bound:
        memo.clear()
    memo[key] = value


FIELDS_SEEN_BY_FIGURES: Final = frozenset(
    {
        # the product (product_fields) and the text: what the per-call path reads
        "dmd_code",
        "product_name",
        "drug",
        "form",
        "route",
        "strength",
        "dosage_text",
        # any of these set sends the prescription the full way (:func:`_figures`)
        "dose_quantity",
        "dose_is_minimum",
        "dose_unknown",
        # read by the full way only with a structured dose (dose_quantity and dose_unit), which
        # goes the full way: beside a text they change nothing (effective_dose)
        "dose_quantity_max",
        "dose_unit",
        "doses_per_day",
        "doses_per_day_max",
        "interval_hours",
        "interval_hours_max",
        "prn",
        "max_doses_per_day",
        "max_quantity_per_day",
        # not read by the calculator: identity, supply and indication
        "id",
        "replaces",
        "days_supply",
        "indication",
    }
)
"""Every field of :class:`~opioidcds.Prescription`, by how the per-call path treats it.

A field added to the model must be placed here (a test compares the two): one the
calculator reads must send the prescription the full way in :func:`_figures`, or the per-call
path would ignore it (as it once ignored ``dose_unknown``).
"""


def _figures(  # noqa: PLR0911, PLR0912 - one exit per case the full way takes over
    d: Mapping[str, Any], plans: _Plans, code_and_text: bool = False
) -> _Entry | None:
    """The figures of a prescription given by its product and dosage text, or ``None``.

    With what a calculation sums of them (:data:`_Entry`), kept with them.

    The same figures as the items :func:`_measure_one` builds (the same product and text
    readings, the same checks, the same arithmetic: :func:`_daily`, :func:`_ome_of`), without
    building the items. Each product is compiled once (:func:`_plan`) and each text read once
    per way of reading it (:func:`_reading`), per knowledge setting (``plans``): a product
    and a text never seen together cost the checks that they fit (containers, dose unit) and,
    the first time the product meets this schedule, the exact multiplication
    (:func:`_amounts`). ``None`` leaves the prescription to :func:`_measure_one`: a structured
    dose, a dose given as a minimum or as not known, a product or text that cannot be read
    (the full way lists or raises it), a dose counting ampoules or in a unit that does not
    fit the product, or a PRN or "up to" dose another policy excludes.

    ``code_and_text``: the prescription was built of a dm+d code and a dosage text alone
    (:data:`~opioidcds._inputs.prescription.CODE_AND_TEXT`; every other field holds its
    default), so its plan is looked up by its code (:attr:`_Plans.by_code`, issue 20).
    """
    text = d["dosage_text"]
    if code_and_text:  # no structured, minimum or unknown dose; the product is its code
        plan = plans.by_code.get(d["dmd_code"])
        if plan is None:  # not looked up by its code yet
            plan = _by_code(d, plans)
    else:
        if (
            text is None
            or d["dose_quantity"] is not None
            or d["dose_is_minimum"]
            or d["dose_unknown"]
        ):
            return None  # the full way: a structured, minimum or unknown dose (effective_dose)
        fields = product_fields(d)
        plan = plans.plans.get(fields)
        if plan is None:  # not compiled yet
            plan = _compiled(fields, plans)
    if plan is _FULL_WAY:
        return None
    reading = plan.texts.get(text)
    if reading is None:  # not read yet for this way of reading
        reading = _text_read(plan, text, plans.setting.policy)
    if reading is _FULL_WAY:
        return None
    if isinstance(reading, str):  # the text gives no dose: not convertible, as resolved
        return _NO_DOSE
    # read by position: the dose and the schedule are not touched unless needed (issue 20:
    # a patient's medicines are seldom in the processor's cache)
    product = plan.containers
    if product is not None and counts_containers(reading[0], plan.strength, product):
        return None  # a dose counting ampoules or vials: the full way reads their volume
    if reading[3] not in plan.units and not _unit_fits(
        plan, product_fields(d), reading[0], plans.setting
    ):
        return None
    key = reading[2]
    if key is None:  # the schedule is a reason (_reading): opioids not convertible
        return plan.unconvertible
    figures = plan.amounts.get(key)
    if figures is None:  # the first dose of a product measured so computed from these amounts
        dose, schedule, _, _ = reading
        if isinstance(schedule, str):  # never with a key (_reading): not a daily amount
            return plan.unconvertible
        amounts = _amounts(plan, dose, schedule, plans.setting.table, _thread_context())
        figures = _entry(amounts, plans.limits)
        _put(plan.amounts, key, figures, _AMOUNTS_MAX)
    return figures


_PLANNED: Final = _figures
""":func:`_figures` itself (:func:`_read` writes its commonest case out unless it is replaced)."""


def _by_code(d: Mapping[str, Any], plans: _Plans) -> _Plan | _Leave:
    """The plan of a product named by its dm+d code alone, kept by its code when it is kept."""
    fields = product_fields(d)
    plan = plans.plans.get(fields)
    if plan is None:  # not compiled yet
        plan = _compiled(fields, plans)
    if plans.plans.get(fields) is plan:  # kept (a product that cannot be read is not)
        _put(plans.by_code, d["dmd_code"], plan)
    return plan


def _compiled(fields: ProductFields, plans: _Plans) -> _Plan | _Leave:
    """:func:`_plan` of a product, kept (:attr:`_Leave.FULL_WAY`: left to the full way).

    A product that cannot be read (an error: not kept; the full way lists or raises it) is
    left to the full way.
    """
    try:
        plan = _plan(fields, plans)
    except OpioidCDSError:
        return _Leave.FULL_WAY
    kept = _Leave.FULL_WAY if plan is None else plan
    _put(plans.plans, fields, kept)
    return kept


def _text_read(plan: _Plan, text: str, policy: PrnPolicy) -> _Reading | str | _Leave:
    """:func:`_reading` of a text, kept in the plan's texts.

    A text that cannot be read (an error: not kept) is left to the full way.
    """
    try:
        reading = _reading(plan, text, policy)
    except OpioidCDSError:
        return _Leave.FULL_WAY
    _put(plan.texts, text, reading)
    return reading


def _unit_fits(plan: _Plan, fields: ProductFields, dose: Dose, setting: _Setting) -> bool:
    """Whether the dose's unit fits the product (:func:`dose_unit_fits`), kept when it does.

    The unit's kind follows from the unit (its text), so the plan keeps each unit that fits.
    """
    try:
        dose_unit_fits((fields, setting.vocab, setting.catalogue), dose.unit, dose.unit_kind, None)
    except OpioidCDSError:
        return False
    plan.units[dose.unit] = True
    return True


_NO_DOSE: Final[_Entry] = (
    (_Figure(None, ItemStatus.NOT_CONVERTIBLE, None, None, None, True, None),),
    None,
    True,
    True,
    _NO_CAP,
)
"""The figures of a prescription whose dosage text gives no dose (one item, not convertible)."""


_AMOUNTS_MAX: Final = 256
"""Bound of each memo of amounts (:data:`_AmountKey`, one per :data:`_MeasureKey`): emptied
when full."""


def _amounts(
    plan: _Plan, dose: Dose, schedule: _Schedule, table: ConversionTable, ctx: Context
) -> tuple[_Figure, ...]:
    """Each opioid ingredient's figures for this schedule (a pure function of its key).

    Computed by ``ctx`` (a context of the calculator's precision, this thread's: not entered),
    whose flags say whether the arithmetic was exact.
    """
    out: list[_Figure] = []
    for name, amount, rate, factors in plan.opioids:
        ctx.clear_flags()
        daily, unit_text, dim = _daily(schedule, dose, plan.strength, amount, None, rate, ctx)
        exact = not ctx.flags[Inexact]
        factor_of = factors.get(dim)
        if factor_of is None:
            factor_of = factors[dim] = _factor(table, name, plan.route, dim)
        if isinstance(factor_of, str):
            status, ome = ItemStatus.NOT_CONVERTIBLE, None
        else:
            factor, multiplier, exact_multiplier, _, _ = factor_of
            ctx.clear_flags()
            status, ome = ItemStatus.CONVERTED, _ome_of(daily, multiplier, factor, ctx)
            exact = exact and exact_multiplier and not ctx.flags[Inexact]
        out.append(_Figure(name, status, daily, unit_text, ome, exact, _limit_key(name, unit_text)))
    return tuple(out)


def _limit_key(name: str, unit: str) -> tuple[str, str]:
    """The key an ingredient's daily amount is summed by for the limits: one tuple per content.

    Shared by every figure of that ingredient and unit (kept, bounded), so the sums of a
    call look up a few tuples that are used often, not one per figure (issue 20).
    """
    key = (name, unit)
    found = _LIMIT_KEYS.get(key)
    if found is None:
        _put(_LIMIT_KEYS, key, key)
        found = key
    return found


_LIMIT_KEYS: Final[dict[tuple[str, str], tuple[str, str]]] = {}


class _Items(tuple[list[Any], list[tuple["_Figure", ...]], "_Setting"]):
    """Builds an :class:`OMEResult`'s items when they are first read (issue 20).

    ``_Items((parts, figures, setting))``: a tuple without an ``__init__`` of its own, so
    building one per result runs no Python code. ``parts`` holds, in order, each prescription's
    items already built or the prescription itself, whose items :func:`_measure_one` builds now,
    under the calculator's context: the items an eager calculation gives. :func:`_figures`
    measured it without an error, so building its items raises none; if one did (the two ways
    disagreeing), reading the items raises it rather than list items the total was not computed
    from (fail closed). ``figures`` holds what the items not built yet say (:class:`_Figure`),
    for the readers of the library that need only those (:func:`item_figures`).
    """

    def __call__(self) -> Mapping[str, Any]:
        """``{"items": ...}``: the deferred field of :class:`OMEResult`."""
        items: list[OMEItem] = []
        setting = self[2]
        with localcontext(_CONTEXT):
            for index, part in enumerate(self[0]):
                if type(part) is tuple:
                    items.extend(part)
                else:
                    built = _measure_one(part, index, setting, raise_errors=True)
                    items.extend(built[0])
        return {"items": tuple(items)}

    @cached_property
    def figures(self) -> list[OMEItem | _Measured]:
        """What each item says, in order (the items built, else :class:`_Measured`); kept."""
        return _figures_in_order(self[0], self[1])  # two threads may both build it: equal


def _figures_in_order(
    parts: list[tuple[OMEItem, ...] | Prescription], figures: list[tuple[_Figure, ...]]
) -> list[OMEItem | _Measured]:
    """What each item says, in order: the items built, else their figures (:class:`_Measured`).

    ``parts`` and ``figures`` as :class:`_Read` holds them.
    """
    measured: list[OMEItem | _Measured] = []
    for index, (part, found) in enumerate(zip(parts, figures, strict=True)):
        if type(part) is tuple:  # built
            measured.extend(part)
        else:
            measured.extend([_measured((index, *f[:6])) for f in found])
    return measured


def item_figures(result: OMEResult) -> Sequence[ItemFigures]:
    """What each item of ``result`` says (status, ingredient, daily amount, OME), in order.

    The items themselves once built; before that, their figures, so that a reader of the
    figures alone (the prescribing check) does not build them (issue 20).
    """
    private = result.__pydantic_private__
    render = private.get("_render") if private is not None else None
    if isinstance(render, _Items):
        return render.figures
    return result.items


_RESULT_FIELDS: Final = frozenset(OMEResult.model_fields)
"""The names given (``model_fields_set``) of a result whose items are built when read: every
field, as the constructor records them (each result gets a set of its own)."""
_new_result: Final = object.__new__
"""A model's instance before its slots are set (``BaseModel`` has no ``__new__`` of its own)."""
_MAXIMUM: Final = PrnPolicy.MAXIMUM


def _lower_bound_reasons(
    *, unconverted: bool, minimum: bool, record: BundleRead | None, read: int
) -> tuple[str, ...]:
    """Why the total is a lower bound (empty: it is complete), most serious first.

    ``unconverted``: an item is not convertible; ``read``: how many prescriptions were read.
    """
    reasons: list[str] = []
    if record is not None and read == 0:
        reasons.append(
            "nothing was read from the input: the total of 0 says only that no prescription "
            "was found"
        )
    if record is not None and any(entry.affects_total for entry in record.skipped):
        reasons.append("an entry of the input that may be a current opioid was not read")
    if unconverted:
        reasons.append("see the items not converted")
    if minimum:
        reasons.append("a dose was given as a minimum (the least the patient takes)")
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
    eager construction named; ``figure`` what the item says (:class:`_Figure`), which the
    calculator sums. The item at each position is built once and kept (results are
    immutable, so the same content at the same position gives the same object).
    """

    __slots__ = ("_built", "arithmetic", "figure", "given", "values")

    def __init__(
        self, values: dict[str, Any], given: frozenset[str], arithmetic: _Arithmetic | None = None
    ) -> None:
        self.values = values
        self.given = given
        self.arithmetic = arithmetic
        self._built: dict[int, OMEItem] = {}
        name, daily, unit = (
            values["ingredient"],
            values["daily_amount"],
            values["daily_amount_unit"],
        )
        key = (name, unit or "") if name is not None and daily is not None else None
        self.figure = _Figure(
            name,
            values["status"],
            daily,
            unit,
            values["ome_mg_per_day"],
            values["exact"],
            key,
        )

    def at(self, index: int) -> OMEItem:
        """The item at position ``index`` of the input list."""
        item = self._built.get(index)
        if item is None:
            values = self.values.copy()
            values["prescription_index"] = index
            item = OMEItem.deferred(values, set(self.given), self.arithmetic)
            self._built[index] = item  # two threads may both build it: the same item
        return item


_MINIMUM_NOTE = "dose given as a minimum (the least the patient takes): the total is a lower bound"


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
    if dose_info.up_to and policy is PrnPolicy.MINIMUM:
        reason = _UP_TO_EXCLUDED
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


_UP_TO_EXCLUDED: Final = (
    "excluded by prn_policy 'minimum': the dose is given only as a most (\"up to\", or a daily "
    "maximum with no frequency), so its lower end is not stated"
)
"""Why the minimum policy leaves out an "up to" dose (as it leaves out a PRN one: the least a
patient may take of either is none)."""


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


def _daily(  # noqa: PLR0917 - positional: called for every item measured
    schedule: _Schedule,
    dose: Dose,
    strength: Strength | None,
    amount: Decimal | None,
    count_volume_ml: Decimal | None,
    rate: Decimal,
    ctx: Context,
) -> tuple[Decimal, str, Dimension]:
    """The daily amount of one ingredient, its unit and dimension (exact, in ``ctx``).

    A dose in a mass overrides the strength; a patch counts its ``rate`` (microgram/hour) per
    patch worn; a liquid its concentration (per ``count_volume_ml`` mL when the dose counts
    ampoules or vials); other forms ``amount`` mg per unit. The one division is done last.
    ``ctx`` is a context of the calculator's precision (:data:`_CONTEXT`), whose flags the
    caller reads: the arithmetic is done by it, whether or not it is the current context.
    """
    mul, div = ctx.multiply, ctx.divide
    if dose.unit_kind is DoseUnitKind.MASS:
        daily = div(mul(schedule.quantity, dose.unit_factor), schedule.per)
        return daily, _MG_PER_DAY, Dimension.MASS
    if strength is not None and strength.kind is StrengthKind.RATE:
        return mul(rate, schedule.quantity), _RATE, Dimension.RATE
    if strength is not None and strength.kind is StrengthKind.PER_VOLUME:
        volume = strength.volume_ml or _ONE
        per_unit = count_volume_ml if count_volume_ml is not None else dose.unit_factor
        daily = div(
            mul(mul(schedule.quantity, per_unit), amount or _ZERO), mul(schedule.per, volume)
        )
        return daily, _MG_PER_DAY, Dimension.MASS
    daily = div(mul(schedule.quantity, amount or _ZERO), schedule.per)
    return daily, _MG_PER_DAY, Dimension.MASS


def _ome_of(daily: Decimal, multiplier: Decimal, factor: Decimal, ctx: Context) -> Decimal:
    """``daily`` x the table's ``multiplier`` (to the row's unit) x its ``factor``, in ``ctx``."""
    mul = ctx.multiply
    return mul(mul(daily, multiplier), factor) if multiplier != _ONE else mul(daily, factor)


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
    rate = _ZERO
    rate_text: Text = ()
    patch = strength is not None and strength.kind is StrengthKind.RATE
    if patch and dose.unit_kind is not DoseUnitKind.MASS:
        rate, rate_text = _patch_rate(r.route, r.product, ing, table)
        if rate > vocab.limits.max_patch_rate_microgram_per_hour:
            raise _ImplausibleError("strength", _IMPLAUSIBLE_RATE)
    daily, unit, dim = _daily(schedule, dose, strength, ing.amount, r.count_volume_ml, rate, ctx)
    if dose.unit_kind is DoseUnitKind.MASS:
        overrides = (
            f" (a dose in mg overrides the {_strength_text(r)} strength)"
            if strength is not None
            else ""
        )
        basis = (ing.name, " ", schedule.text, overrides)
    elif strength is not None and strength.kind is StrengthKind.RATE:
        basis = (ing.name, " ", rate_text, " x ", schedule.text)
    elif strength is not None and strength.kind is StrengthKind.PER_VOLUME:
        volume = strength.volume_ml or _ONE
        each = r.count_volume_ml
        basis = (ing.name, " ", _ingredient_strength(r, ing, volume), " x ", schedule.text)
        if each is not None:
            basis = (basis, " of ", each, " mL each")
    else:
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
    ome = _ome_of(daily, multiplier, factor, ctx)
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


_FactorOf = tuple[Decimal, Decimal, bool, str, str] | str
"""The table's factor of an ingredient by a route (:func:`_factor`), or why there is none."""


@lru_cache(maxsize=1024)
def _factor(
    table: ConversionTable, ingredient: str, route: str | None, dimension: Dimension
) -> _FactorOf:
    """The table's factor for an ingredient by a route, or why there is none (memoised).

    ``(factor, multiplier, exact multiplier, per, citations)``: the multiplier takes the daily
    amount (of ``dimension``) into the row's ``per`` unit (:meth:`ConversionTable.multiplier`).
    """
    row = table.lookup(ingredient, route or "")
    if row is None or not row.convertible or row.factor is None:
        return (
            row.reason
            if row is not None and row.reason
            else f"no factor for {ingredient} ({route}) in {table.name()}"
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
    route: str | None, product: Product | None, ing: ResolvedIngredient, table: ConversionTable
) -> tuple[Decimal, Text]:
    """The rate a patch counts at, and how it reads (written when read).

    The labelled rate, unless the table's row says the factor applies to the delivered rate
    (Opioids Aware) and the product's SmPC states one (``catalogue/delivered_rates.toml``): a
    fentanyl "12 microgram/hour" patch that releases 12.5 then counts at 12.5.
    """
    labelled = ing.amount or _ZERO
    row = table.lookup(ing.name, route or "")
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
