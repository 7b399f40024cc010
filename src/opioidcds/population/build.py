"""From one patient's issue rows to a :class:`~opioidcds.Patient` (the shared builder).

Both the population engine and the differential test build patients here, so "the same
patient" means the same object. The rules of the construction (docs/population.md):

* **History**: every opioid issue on or before the as-of date, as an
  :class:`~opioidcds.IssueRecord` (dm+d code when the catalogue knows it, else the
  product name; ``days_supply`` when given).
* **Current**: a medicine (same dm+d code, else same product name) is current when its latest
  issue is at most ``current_window_days`` before the as-of date.
* **Daily dose of a current opioid**: the latest issue's dosage text when present and
  usable; otherwise **quantity over interval**: of that medicine's issues in the
  ``lookback_days`` up to the as-of date, the quantities of all but the latest, summed and
  divided by the days from the first to the latest issue (the latest supply is not yet used
  up). With one issue (or all on one day): the latest quantity over its ``days_supply`` when
  given, else over ``default_supply_days``. The daily quantity is rounded half-up to 10
  decimal places (the input precision of a :class:`~opioidcds.Prescription`).
  Patches are never estimated this way (their OME comes from the rate and the number worn,
  which quantity does not tell): without a usable dosage text one patch worn at a time is
  assumed, a lower bound. A current opioid whose dose cannot be estimated at all (no
  countable unit) leaves the total incomplete; if it is the only current opioid the patient
  is not screened (review by hand) rather than read as "no current opioid".
* **Co-prescription**: a current benzodiazepine or gabapentinoid issue sets that input true
  (the record wins over a stated "no").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Final

from opioidcds._errors import OpioidCDSError
from opioidcds._inputs.patient import IssueRecord, Patient, medicine_classes
from opioidcds._inputs.prescription import Prescription
from opioidcds._knowledge.products import MedicineClass, load_catalogue
from opioidcds._measure.ome import calculate_ome
from opioidcds.population.method import ScreeningMethod

__all__ = [
    "MAX_OPIOID_ISSUES",
    "NO_UNIT_NOTE",
    "PATCH_NOTE",
    "TEXT_NOTE",
    "BuiltPatient",
    "Issue",
    "MedicineMethod",
    "Resolved",
    "build_patient",
    "dosage_usable",
    "interval_note",
    "per_day",
    "resolve_product",
    "rx_dose",
    "rx_text",
    "supply_note",
]

MAX_OPIOID_ISSUES: Final = 2_000
"""Input cap of :class:`Patient` history (not clinical): more issues are not screened."""

_PLACES: Final = Decimal("1E-10")
_CO_PRESCRIBED: Final = {
    "benzodiazepine": "benzodiazepine_coprescribed",
    "z-drug": "z_drug_coprescribed",
    "gabapentinoid": "gabapentinoid_coprescribed",
}


@dataclass(frozen=True, slots=True)
class Resolved:
    """What a (dm+d code, product name) pair of the extract is.

    ``dmd_code``/``product_name``: the identifier passed on (code when the catalogue knows it).
    ``kind``: ``"opioid"``, ``"benzodiazepine"``, ``"z-drug"``, ``"gabapentinoid"``, ``"other"``
    (recognised, not used) or ``None`` (not recognised: the rows are excluded and listed).
    ``unit``: the count or volume unit for the quantity/interval estimate, ``None`` when it
    cannot apply.
    """

    dmd_code: str | None
    product_name: str | None
    kind: str | None
    unit: str | None
    reason: str | None
    patch: bool = False


def _not_in_catalogue(dmd_code: str | None, product_name: str) -> Resolved:
    record = IssueRecord(issue_date=dt.date(2000, 1, 1), product_name=product_name)
    classes = medicine_classes(record)
    if MedicineClass.OPIOID in classes:
        return Resolved(None, None, None, None, "opioid product name not in the catalogue")
    if MedicineClass.BENZODIAZEPINE in classes:
        return Resolved(None, product_name, "benzodiazepine", None, None)
    if MedicineClass.Z_DRUG in classes:
        return Resolved(None, product_name, "z-drug", None, None)
    if MedicineClass.GABAPENTINOID in classes:
        return Resolved(None, product_name, "gabapentinoid", None, None)
    if classes:
        return Resolved(None, product_name, "other", None, None)
    why = "dm+d code not in the catalogue" if dmd_code else "product not recognised"
    return Resolved(None, None, None, None, why)


def resolve_product(dmd_code: str | None, product_name: str | None) -> Resolved:
    """Resolve one distinct product of the extract (called once per distinct pair)."""
    catalogue = load_catalogue()
    product = None
    code: str | None = None
    name: str | None = None
    if dmd_code is not None and dmd_code in catalogue:
        product = catalogue.by_code(dmd_code)
        code = dmd_code
    elif product_name is not None:
        try:
            product = catalogue.by_name(product_name)
        except OpioidCDSError:
            return _not_in_catalogue(dmd_code, product_name)
        name = product_name
    else:
        return Resolved(None, None, None, None, "dm+d code not in the catalogue")
    unit = None if product.patch else _count_unit(product.dmd_code)
    return Resolved(code, name, "opioid", unit, None, patch=product.patch)


_UNITS: Final = (
    "tablet",
    "capsule",
    "sachet",
    "lozenge",
    "film",
    "suppository",
    "dose",
    "spray",
    "actuation",
    "ampoule",
    "vial",
    "pessary",
    "mL",
)


@lru_cache(maxsize=4096)
def _count_unit(dmd_code: str) -> str | None:
    """The first unit in which the product takes a dose (tablet, capsule, ..., mL), if any."""
    for unit in _UNITS:
        try:
            calculate_ome(
                [
                    Prescription(
                        dmd_code=dmd_code,
                        dose_quantity=Decimal(1),
                        dose_unit=unit,
                        doses_per_day=Decimal(1),
                    )
                ],
                item_errors="raise",  # a unit that does not fit must raise, not be listed
            )
        except OpioidCDSError:
            continue
        return unit
    return None


@lru_cache(maxsize=65_536)
def dosage_usable(dmd_code: str | None, product_name: str | None, text: str) -> str | None:
    """``None`` if ``text`` gives a daily amount for the product, else why not (no values).

    A text the grammar reads but that gives no amount ("as directed") is not usable either.

    Called once per distinct (product, text) pair (memoised).
    """
    try:
        result = calculate_ome(
            [Prescription(dmd_code=dmd_code, product_name=product_name, dosage_text=text)],
            item_errors="raise",
        )
    except OpioidCDSError as exc:
        field = getattr(exc, "field", None)
        return f"dosage text not usable ({field})" if field else "dosage text not usable"
    if any(item.daily_amount is None for item in result.items):
        return "dosage text gives no daily amount"
    return None


@lru_cache(maxsize=65_536)
def rx_text(dmd_code: str | None, product_name: str | None, text: str) -> Prescription:
    """One immutable Prescription per distinct (product, dosage text), shared by patients."""
    return Prescription(dmd_code=dmd_code, product_name=product_name, dosage_text=text)


@lru_cache(maxsize=65_536)
def rx_dose(
    dmd_code: str | None,
    product_name: str | None,
    quantity: Decimal,
    unit: str,
    per_day: Decimal | None,
) -> Prescription:
    """One immutable Prescription per distinct structured dose, shared by patients."""
    return Prescription(
        dmd_code=dmd_code,
        product_name=product_name,
        dose_quantity=quantity,
        dose_unit=unit,
        doses_per_day=per_day,
    )


@lru_cache(maxsize=65_536)
def rx_patch_at_least_one(dmd_code: str | None, product_name: str | None) -> Prescription:
    """A patch with no usable dosage text: one worn at a time, counted as a minimum.

    The OME then counts one patch and says the total is a lower bound (more may be worn at a
    time), so a threshold the lower bound does not reach is "unknown", never "no".
    """
    return Prescription(
        dmd_code=dmd_code,
        product_name=product_name,
        dose_quantity=Decimal(1),
        dose_unit="patch",
        dose_is_minimum=True,
    )


@lru_cache(maxsize=65_536)
def rx_dose_unknown(dmd_code: str | None, product_name: str | None) -> Prescription:
    """A current opioid whose daily dose cannot be estimated: listed, not counted.

    The OME lists it as not convertible and the total is a lower bound, so the decisions see
    an incomplete total (fail closed) instead of a patient without this medicine.
    """
    return Prescription(dmd_code=dmd_code, product_name=product_name, dose_unknown=True)


@dataclass(frozen=True, slots=True)
class Issue:
    """One usable issue row of a patient (already checked and resolved)."""

    row: int
    issue_date: dt.date
    resolved: Resolved
    quantity: Decimal
    dosage_text: str | None
    days_supply: int | None

    @property
    def key(self) -> str:
        """Same medicine: same dm+d code, else same product name (case-insensitive)."""
        r = self.resolved
        return (r.dmd_code or r.product_name or "").strip().lower()


@dataclass(frozen=True, slots=True)
class MedicineMethod:
    """How one current opioid's daily dose was obtained, with a one-line explanation.

    ``method`` is ``dosage-text``, ``quantity-interval``, ``patch-assumed-one`` (a lower
    bound) or ``not-computable``.
    """

    key: str
    method: str
    note: str


@dataclass(frozen=True, slots=True)
class BuiltPatient:
    """A built patient (or the reason it could not be built) and the method notes."""

    patient: Patient | None
    methods: tuple[MedicineMethod, ...]
    not_screened: str | None


def per_day(quantity: Decimal, days: int) -> Decimal | None:
    """``quantity / days`` rounded half-up to 10 places; ``None`` when that is not positive.

    The one place the quantity/interval arithmetic is done (the columnar engine calls it once
    per distinct pair).
    """
    daily = (quantity / Decimal(days)).quantize(_PLACES, rounding=ROUND_HALF_UP)
    return daily if daily > 0 else None


def interval_note(before: int, days: int, lookback: int) -> str:
    """The method note of a quantity/interval estimate over several issues."""
    return (
        f"{before} issue(s) before the latest, "
        f"{days} days from the first to the latest issue in the last {lookback} days"
    )


def supply_note(*, days_supply_given: bool, default_supply: int) -> str:
    """The method note of a quantity/interval estimate from one recent issue."""
    if days_supply_given:
        return "quantity over the days_supply of the only recent issue"
    return f"quantity over {default_supply} days (one recent issue, no days_supply given)"


PATCH_NOTE: Final = "no usable dosage text: one patch worn at a time assumed (a lower bound)"
TEXT_NOTE: Final = "dosage text of the latest issue"
NO_UNIT_NOTE: Final = "no countable unit for the quantity"


def _daily_quantity(
    issues: Sequence[Issue], as_of: dt.date, lookback: int, default_supply: int
) -> tuple[Decimal | None, str]:
    recent = [i for i in issues if (as_of - i.issue_date).days <= lookback]
    last = recent[-1]
    first = recent[0]
    days = (last.issue_date - first.issue_date).days
    if days > 0:
        used = sum((i.quantity for i in recent[:-1]), Decimal(0))
        return per_day(used, days), interval_note(len(recent) - 1, days, lookback)
    given = last.days_supply is not None
    supply = last.days_supply if last.days_supply is not None else default_supply
    note = supply_note(days_supply_given=given, default_supply=default_supply)
    return per_day(last.quantity, supply), note


def build_patient(
    issues: Sequence[Issue],
    attributes: Mapping[str, object] | None,
    *,
    as_of: dt.date,
    method: ScreeningMethod,
    with_history: bool = True,
) -> BuiltPatient:
    """Build the :class:`Patient` of one person's usable issue rows (sorted by date).

    ``attributes`` are the patient-table values (``None``: no row). Issues after ``as_of`` must
    already be left out. Returns ``not_screened`` with the reason (no values) when the patient
    cannot be built. ``with_history=False`` leaves ``prescription_history`` out: the population
    engine then derives the history's figures from the same issues in columns (everything else
    is identical).
    """
    opioid = [i for i in issues if i.resolved.kind == "opioid"]
    if len(opioid) > MAX_OPIOID_ISSUES:
        return BuiltPatient(
            None, (), f"more than {MAX_OPIOID_ISSUES} opioid issues (input cap): review by hand"
        )
    window = method.current_window_days
    by_key: dict[str, list[Issue]] = {}
    for i in opioid:
        by_key.setdefault(i.key, []).append(i)
    prescriptions: list[Prescription] = []
    methods: list[MedicineMethod] = []
    for key, group in by_key.items():
        last = group[-1]
        if (as_of - last.issue_date).days > window:
            continue
        r = last.resolved
        text = last.dosage_text
        why = dosage_usable(r.dmd_code, r.product_name, text) if text is not None else None
        if text is not None and why is None:
            prescriptions.append(rx_text(r.dmd_code, r.product_name, text))
            methods.append(MedicineMethod(key, "dosage-text", TEXT_NOTE))
            continue
        prefix = f"{why}; " if why else ""
        if r.patch:
            prescriptions.append(rx_patch_at_least_one(r.dmd_code, r.product_name))
            methods.append(MedicineMethod(key, "patch-assumed-one", prefix + PATCH_NOTE))
            continue
        if r.unit is None:
            prescriptions.append(rx_dose_unknown(r.dmd_code, r.product_name))
            methods.append(MedicineMethod(key, "not-computable", prefix + NO_UNIT_NOTE))
            continue
        daily, note = _daily_quantity(
            group, as_of, method.lookback_days, method.default_supply_days
        )
        if daily is None:
            prescriptions.append(rx_dose_unknown(r.dmd_code, r.product_name))
            methods.append(MedicineMethod(key, "not-computable", prefix + note))
            continue
        prescriptions.append(rx_dose(r.dmd_code, r.product_name, daily, r.unit, Decimal(1)))
        methods.append(MedicineMethod(key, "quantity-interval", prefix + note))
    if methods and all(m.method == "not-computable" for m in methods):
        return BuiltPatient(
            None,
            tuple(methods),
            "current opioid whose daily dose could not be estimated: review by hand",
        )
    current = [i for i in issues if (as_of - i.issue_date).days <= window]
    current_kinds = {i.resolved.kind for i in current}
    # each current sedative medicine (benzodiazepine, z-drug, gabapentinoid) once, dose unknown:
    # the patient's medicine list, as assess counts sedative medicines (no OME: not opioids)
    sedatives = {i.key: i.resolved for i in current if i.resolved.kind in _CO_PRESCRIBED}
    prescriptions.extend(
        Prescription(product_name=r.product_name, dmd_code=r.dmd_code, dose_unknown=True)
        for r in sedatives.values()
    )
    attrs = dict(attributes or {})
    # a current issue of a co-prescription class sets its input true (as Patient derives it)
    attrs.update({field: True for kind, field in _CO_PRESCRIBED.items() if kind in current_kinds})
    # Rows were checked by the schema and resolved (date, code pattern, days_supply 1-366, a
    # code or a name): construct without re-validating each record (hot path).
    history = (
        None
        if not with_history
        else tuple(
            IssueRecord.model_construct(
                issue_date=i.issue_date,
                dmd_code=i.resolved.dmd_code,
                product_name=i.resolved.product_name,
                days_supply=i.days_supply,
            )
            for i in opioid
        )
    )
    try:
        patient = Patient.model_validate(
            {
                **attrs,
                "prescriptions": tuple(prescriptions),
                "prescription_history": history,
                "as_of": as_of,
            }
        )
    except OpioidCDSError as exc:
        field = getattr(exc, "field", None)
        return BuiltPatient(None, tuple(methods), f"invalid patient input ({field or 'record'})")
    return BuiltPatient(patient, tuple(methods), None)
