"""Hypothesis strategies and invariant checks for property-testing opioidcds and integrations.

Safety reviewers can build on these to property-test their own use of the library::

    from hypothesis import given
    from opioidcds.testing import prescriptions, check_ome_invariants

    @given(prescriptions())
    def test_my_integration(rxs):
        check_ome_invariants(rxs)

Needs the ``testing`` extra (hypothesis). The strategies draw only from the bundled knowledge
base (ingredients, forms and factor rows that exist), so every drawn prescription is valid.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from functools import cache
from typing import Any, TypeVar

from hypothesis import strategies as st

from opioidcds._errors import OpioidCDSError
from opioidcds._inputs.patient import Patient, medicine_classes
from opioidcds._inputs.prescription import Prescription, PrnPolicy
from opioidcds._knowledge.products import Catalogue, MedicineClass, Product, load_catalogue
from opioidcds._knowledge.tables import ConversionTable, default_table
from opioidcds._knowledge.vocabulary import FormKind, Vocabulary, default_vocabulary
from opioidcds._measure.ome import calculate_ome
from opioidcds._measure.results import ItemStatus, OMEResult

__all__ = [
    "check_ome_invariants",
    "check_only_typed_errors",
    "co_medicines",
    "convertible_prescriptions",
    "decimals",
    "dmd_excluded_products",
    "dmd_prescriptions",
    "dosage_texts",
    "explicit_equivalent",
    "fhir_medication_requests",
    "json_values",
    "patients",
    "prescription_dicts",
    "prescription_lists",
    "prescriptions",
    "tri_states",
]


def _require(condition: bool, message: str) -> None:
    """Raise AssertionError with ``message`` unless ``condition`` (works under python -O)."""
    if not condition:
        raise AssertionError(message)


def decimals(low: str = "0.5", high: str = "4", places: int = 1) -> st.SearchStrategy[Decimal]:
    """Positive decimals between ``low`` and ``high`` with ``places`` decimal places."""
    return st.decimals(
        min_value=Decimal(low),
        max_value=Decimal(high),
        places=places,
        allow_nan=False,
        allow_infinity=False,
    )


@cache
def _patch_strengths(ingredient: str) -> tuple[str, ...]:
    """The patch strengths of ``ingredient`` in the dm+d catalogue (real UK products)."""
    strengths = {
        p.strength
        for p in load_catalogue()
        if p.patch and p.strength and p.ingredient_names == (ingredient,)
    }
    return tuple(sorted(strengths))


def _form_names(kind: FormKind, route: str) -> list[str]:
    forms = default_vocabulary().forms()
    return sorted(f.name for f in forms if f.kind is kind and f.route == route)


@st.composite
def convertible_prescriptions(
    draw: st.DrawFn, table: ConversionTable | None = None, *, allow_prn: bool = True
) -> Prescription:
    """A single-ingredient prescription whose ingredient and route have a factor in ``table``.

    Draws patches, liquids (dose in mL or mg) and unit forms (dose in units or mg), with
    optional ranges and PRN maxima, at modest plausible doses.
    """
    tbl = table or default_table()
    rows = [  # a patch row only where the catalogue has patches of that ingredient
        r
        for r in tbl.rows()
        if r.convertible and (r.per != "microgram/hour" or _patch_strengths(r.ingredient))
    ]
    row = draw(st.sampled_from(rows))
    is_patch = row.per == "microgram/hour"
    if is_patch:
        return Prescription(
            drug=row.ingredient,
            form="transdermal patch",
            strength=draw(st.sampled_from(_patch_strengths(row.ingredient))),
            dose_quantity=draw(st.integers(1, 2)),
            dose_unit="patch",
            interval_hours=draw(st.sampled_from([72, 84, 168])),
        )
    liquid_forms = _form_names(FormKind.LIQUID, row.route)
    unit_forms = _form_names(FormKind.UNIT, row.route)
    use_liquid = bool(liquid_forms) and (not unit_forms or draw(st.booleans()))
    form = draw(st.sampled_from(liquid_forms if use_liquid else unit_forms))
    # Sizes keep any list of up to 6 drawn prescriptions under the 5 g/day plausibility limit
    # for one ingredient: a unit form at most 30 mg x 4 units x 6/day = 720 mg/day, a liquid at
    # most 10 mg/mL x 10 mL x 6/day = 600 mg/day.
    mass = draw(decimals("0.1", "30", 1))
    prn = allow_prn and draw(st.booleans())
    fields: dict[str, object] = {"drug": row.ingredient, "form": form, "prn": prn}
    if use_liquid:
        fields["strength"] = f"{mass} mg/{draw(st.sampled_from([1, 5, 10]))} mL"
        fields["dose_unit"] = draw(st.sampled_from(["mL", "mg"]))
        fields["dose_quantity"] = draw(decimals("0.5", "5", 1))
    else:
        fields["strength"] = f"{mass} mg"
        nouns = default_vocabulary().find_form(form)
        noun = nouns.nouns[0] if nouns is not None and nouns.nouns else "mg"
        fields["dose_unit"] = draw(st.sampled_from([noun, "mg"]))
        fields["dose_quantity"] = draw(decimals("0.5", "2", 1))
    if draw(st.booleans()):
        fields["dose_quantity_max"] = Decimal(str(fields["dose_quantity"])) * 2
    if draw(st.booleans()):
        fields["doses_per_day"] = draw(st.integers(1, 6))
    else:
        fields["interval_hours"] = draw(st.sampled_from([4, 6, 8, 12, 24]))
    if prn and draw(st.booleans()):
        fields["max_doses_per_day"] = draw(st.integers(1, 6))
    return Prescription(**fields)


@st.composite
def prescriptions(draw: st.DrawFn, table: ConversionTable | None = None) -> Prescription:
    """Any valid prescription: mostly convertible, sometimes a combination or no factor."""
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return Prescription(
            drug="co-codamol",
            form="tablet",
            strength=f"{draw(st.sampled_from([8, 15, 30]))} mg/500 mg",
            dose_quantity=draw(st.integers(1, 2)),
            dose_unit="tablet",
            doses_per_day=draw(st.integers(1, 4)),
        )
    if choice == 1:
        return Prescription(
            drug="methadone",
            form="oral solution",
            strength="1 mg/mL",
            dose_quantity=draw(decimals("1", "60", 0)),
            dose_unit="mL",
            doses_per_day=1,
        )
    return draw(convertible_prescriptions(table))


def prescription_lists(
    table: ConversionTable | None = None, max_size: int = 6
) -> st.SearchStrategy[list[Prescription]]:
    """Lists of 0 to ``max_size`` valid prescriptions."""
    return st.lists(prescriptions(table), max_size=max_size)


def check_ome_invariants(
    rxs: Sequence[Prescription], table: ConversionTable | None = None
) -> OMEResult:
    """Assert the calculator's invariants on ``rxs`` and return the default-policy result.

    - totality: every opioid item is converted (OME > 0) or says why not (a reason);
    - the total equals the sum of converted items; ``complete`` iff nothing is unconverted;
    - order independence: reversing the list gives the same total;
    - PRN policy order: maximum >= regular-only >= minimum;
    - determinism: a second call gives an equal result.

    Raises:
        AssertionError: an invariant does not hold.
    """
    result = calculate_ome(rxs, table=table)
    total = Decimal(0)
    for item in result.items:
        if item.status is ItemStatus.CONVERTED:
            ome = item.ome_mg_per_day
            _require(ome is not None and ome > 0, "a converted opioid item has no or zero OME")
            total += ome or Decimal(0)
        else:
            _require(bool(item.reason), "an item not converted must say why")
            _require(item.ome_mg_per_day is None, "an unconverted item must not carry an OME")
    _require(total == result.total_mg_per_day, "total differs from the sum of items")
    unconverted = any(i.status is ItemStatus.NOT_CONVERTIBLE for i in result.items)
    _require(result.complete is not unconverted, "complete flag wrong")
    reverse = calculate_ome(list(reversed(rxs)), table=table)
    _require(reverse.total_mg_per_day == result.total_mg_per_day, "order changed the total")
    regular = calculate_ome(rxs, table=table, prn_policy=PrnPolicy.REGULAR_ONLY)
    minimum = calculate_ome(rxs, table=table, prn_policy=PrnPolicy.MINIMUM)
    _require(
        result.total_mg_per_day >= regular.total_mg_per_day >= minimum.total_mg_per_day,
        "PRN policies out of order: maximum >= regular-only >= minimum must hold",
    )
    _require(calculate_ome(rxs, table=table) == result, "not deterministic")
    return result


# --- dm+d prescriptions, fuzzing inputs and a typed-error check (issue 9) ------------------------

_DMD_COUNTS = (1, 2)  # units per dose drawn for tablets, capsules, patches...
_DMD_VOLUMES = (Decimal("2.5"), Decimal(5), Decimal(10))  # mL per dose drawn for liquids
_DMD_MAX_PER_DAY = 4  # administrations per day drawn at most


def _dmd_dose(product: Product, vocabulary: Vocabulary) -> tuple[str, bool] | None:
    """The dose unit for a product (and whether it is a liquid), or None if unusable."""
    if product.strength is None:
        return None
    form = vocabulary.find_form(product.form)
    if form is None:
        return None
    if form.kind is FormKind.LIQUID:
        return "mL", True
    if form.nouns:
        return form.nouns[0], False
    return None


@cache  # a Catalogue is hashed by identity
def _usable_products(catalogue: Catalogue) -> tuple[tuple[Product, str, bool], ...]:
    """Catalogue products with a single strength whose largest drawn dose is computable.

    A product is kept when the prescription at the top of the drawn range (2 units or 10 mL,
    4 times a day) gives a result: this drops the few whose top dose crosses a plausibility
    limit (they are not valid prescriptions at that dose) without hiding any from review, since
    :func:`dmd_excluded_products` lists them.
    """
    vocab = default_vocabulary()
    usable: list[tuple[Product, str, bool]] = []
    for product in catalogue:
        dose = _dmd_dose(product, vocab)
        if dose is None:
            continue
        unit, liquid = dose
        top = Prescription(
            dmd_code=product.dmd_code,
            dose_quantity=_DMD_VOLUMES[-1] if liquid else _DMD_COUNTS[-1],
            dose_unit=unit,
            doses_per_day=_DMD_MAX_PER_DAY,
        )
        try:
            calculate_ome([top], catalogue=catalogue, item_errors="raise")
        except OpioidCDSError:
            continue
        usable.append((product, unit, liquid))
    return tuple(usable)


def _nameable(catalogue: Catalogue, product: Product) -> bool:
    try:
        catalogue.by_name(product.product_name)
    except OpioidCDSError:
        return False
    return True


def dmd_excluded_products(catalogue: Catalogue | None = None) -> tuple[str, ...]:
    """dm+d codes :func:`dmd_prescriptions` never draws (no single strength, or implausible)."""
    cat = catalogue if catalogue is not None else load_catalogue()
    drawn = {p.dmd_code for p, _u, _l in _usable_products(cat)}
    return tuple(p.dmd_code for p in cat if p.dmd_code not in drawn)


@st.composite
def dmd_prescriptions(
    draw: st.DrawFn, catalogue: Catalogue | None = None, *, by_name: bool | None = None
) -> Prescription:
    """A valid prescription of a catalogue product, by dm+d code or by dm+d product name.

    Draws any product with a single strength (tablets, capsules, liquids, injections, patches,
    sprays...) with a dose of 1-2 units (patches, tablets) or 2.5-10 mL (liquids), 1-4 times a
    day or every 6-24 hours, sometimes PRN with a daily maximum. ``by_name=False`` names every
    product by code; ``True`` names by product name where the name is in the catalogue (a
    superseded code's placeholder name is not, so those stay by code); by default both occur.
    """
    cat = catalogue if catalogue is not None else load_catalogue()
    product, unit, liquid = draw(st.sampled_from(_usable_products(cat)))
    named = draw(st.booleans()) if by_name is None else by_name
    if named and not _nameable(cat, product):
        # superseded codes have placeholder names ("VMP previous to ..."): code only
        named = False
    fields: dict[str, object] = (
        {"product_name": product.product_name} if named else {"dmd_code": product.dmd_code}
    )
    fields["dose_unit"] = unit
    fields["dose_quantity"] = draw(
        st.sampled_from(_DMD_VOLUMES) if liquid else st.sampled_from(_DMD_COUNTS)
    )
    if product.patch:
        fields["interval_hours"] = draw(st.sampled_from([72, 168]))
    elif draw(st.booleans()):
        fields["doses_per_day"] = draw(st.integers(1, _DMD_MAX_PER_DAY))
    else:
        fields["interval_hours"] = draw(st.sampled_from([6, 8, 12, 24]))
        if draw(st.booleans()):
            fields["prn"] = True
            fields["max_doses_per_day"] = draw(st.integers(1, _DMD_MAX_PER_DAY))
    return Prescription(**fields)


def explicit_equivalent(rx: Prescription, catalogue: Catalogue | None = None) -> Prescription:
    """The same prescription with its dm+d product written out as drug, form and strength.

    Only for single-ingredient products (a combination needs its combination name) whose patch,
    if any, releases its labelled rate. The OME of the two must be equal: a check that the
    catalogue row and the explicit fields agree. A patch with a delivered rate other than its
    label (``catalogue/delivered_rates.toml``: a fentanyl "12 microgram/hour" patch releases
    12.5) has no explicit equivalent: the written-out strength names no product, so it keeps
    the labelled rate.

    Raises:
        ValueError: ``rx`` names no product, the product has several ingredients or no
            strength, or its patch releases a rate other than its label.
    """
    cat = catalogue if catalogue is not None else load_catalogue()
    if rx.dmd_code is not None:
        product = cat.by_code(rx.dmd_code)
    elif rx.product_name is not None:
        product = cat.by_name(rx.product_name)
    else:
        raise ValueError("the prescription names no dm+d product")
    if len(product.ingredients) != 1 or product.strength is None:
        raise ValueError("only single-ingredient products with a strength")
    if product.delivered_rate is not None:
        raise ValueError("a patch whose delivered rate differs from its label has no equivalent")
    data = rx.model_dump(exclude_none=True, exclude={"dmd_code", "product_name"})
    data.update(drug=product.ingredients[0].name, form=product.form, strength=product.strength)
    return Prescription(**data)


def json_values(max_leaves: int = 20) -> st.SearchStrategy[Any]:
    """Arbitrary JSON-like values (None, booleans, numbers, text, lists, string-keyed dicts).

    Floats include NaN and infinities, as a careless JSON producer may emit them.
    """
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=True, allow_infinity=True)
        | st.decimals(allow_nan=True, allow_infinity=True)
        | st.text(max_size=30)
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=12), children, max_size=4)
        ),
        max_leaves=max_leaves,
    )


_FIELD_NAMES = tuple(Prescription.model_fields)
_NASTY_TEXT = st.sampled_from(
    [
        "",
        " ",
        "10 MG",
        "10 Mg",
        "5 gr",
        "1e400 mg",
        "NaN",
        "-1",
        "0",
        "\u00b5g",
        "10 mg/0 mL",
        "25 microgram/hour",
        "30 mg/500 mg",
        "10 mg/5 mL",
        "x" * 600,
        "\x00",
        "tablet",
        "patch",
        "mL",
        "mg",
    ]
)


@st.composite
def prescription_dicts(draw: st.DrawFn) -> dict[str, Any]:
    """Prescription-shaped JSON objects: a valid one with some fields replaced or removed.

    For fuzzing the input boundary of an integration: most draws are near-valid, so they reach
    the deeper validation and calculation code, not only the first type check.
    """
    base = draw(prescriptions() | dmd_prescriptions())
    data: dict[str, Any] = {
        k: (str(v) if isinstance(v, Decimal) else v)
        for k, v in base.model_dump(exclude_none=True).items()
    }
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from([*_FIELD_NAMES, "unexpected"]))
        action = draw(st.integers(0, 2))
        if action == 0:
            data.pop(key, None)
        elif action == 1:
            data[key] = draw(_NASTY_TEXT)
        else:
            data[key] = draw(json_values(max_leaves=3))
    return data


T = TypeVar("T")


def check_only_typed_errors(function: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:  # noqa: ANN401
    """Call ``function``; return its result, or None if it raised an :class:`OpioidCDSError`.

    Any other exception propagates: the library promises that bad input gives a typed error
    (fail closed), never a crash that an integrating system might read as "nothing to report".
    """
    try:
        return function(*args, **kwargs)
    except OpioidCDSError:
        return None


# --- dosage texts with a known meaning (for the dosage grammar, merged from issue 3) ----------

_NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 6: "six"}
_TIMES_A_DAY = {1: "once a day", 2: "twice a day", 3: "three times a day", 4: "four times a day"}


@st.composite
def dosage_texts(draw: st.DrawFn) -> tuple[str, dict[str, object]]:
    """A UK-style dosage instruction and the structured dose it means.

    Returns ``(text, fields)`` where ``fields`` are the :class:`Prescription` dose fields the
    text states (as :meth:`opioidcds.Dosage.to_prescription_fields` returns them), e.g.
    ``("take 1-2 tablets every 4-6 hours when required, max 8 doses in 24 hours",
    {"dose_quantity": 1, "dose_quantity_max": 2, ...})``. Covers digits and number words,
    dose and frequency ranges, "times a day" and "every n hours", PRN with and without a
    24-hour maximum, tablets, capsules, mL and mg, in lower or upper case.
    """
    fields: dict[str, object] = {}
    unit = draw(st.sampled_from(["tablet", "capsule", "mL", "mg"]))
    low = draw(st.sampled_from([1, 2, 3] if unit in {"tablet", "capsule"} else [5, 10, 20]))
    words = draw(st.booleans()) and low in _NUMBER_WORDS
    quantity = _NUMBER_WORDS[low] if words else str(low)
    fields["dose_quantity"] = Decimal(low)
    plural = low != 1
    if draw(st.booleans()):
        high = low * 2
        quantity = f"{low}-{high}"
        fields["dose_quantity_max"] = Decimal(high)
        plural = True
    noun = unit + ("s" if plural and unit in {"tablet", "capsule"} else "")
    fields["dose_unit"] = unit
    if draw(st.booleans()):
        per_day = draw(st.sampled_from(sorted(_TIMES_A_DAY)))
        frequency = _TIMES_A_DAY[per_day]
        fields["doses_per_day"] = Decimal(per_day)
    else:
        hours = draw(st.sampled_from([4, 6, 8, 12]))
        frequency = f"every {hours} hours"
        fields["interval_hours"] = Decimal(hours)
        if draw(st.booleans()):
            frequency = f"every {hours}-{hours * 2} hours"
            fields["interval_hours_max"] = Decimal(hours * 2)
    text = f"{draw(st.sampled_from(['', 'take ']))}{quantity} {noun} {frequency}"
    if draw(st.booleans()):
        text += " when required"
        fields["prn"] = True
        if draw(st.booleans()):
            cap = draw(st.sampled_from([4, 6, 8]))
            text += f", max {cap} doses in 24 hours"
            fields["max_doses_per_day"] = Decimal(cap)
    if draw(st.booleans()):
        text = text.upper()
    return text, fields


# --- FHIR R4 MedicationRequests (for the FHIR adapter, merged from issue 3) ------------------


def _json_number(value: Decimal) -> int | float:
    """A JSON number for ``value`` (the drawn values are exact in binary: 2.5, 5, 10...)."""
    return int(value) if value == value.to_integral_value() else float(value)


@st.composite
def fhir_medication_requests(
    draw: st.DrawFn, catalogue: Catalogue | None = None
) -> tuple[dict[str, Any], Prescription]:
    """A FHIR R4 MedicationRequest (parsed JSON) for a dm+d product, and the same prescription.

    Returns ``(resource, prescription)``: the resource codes the product by dm+d code and states
    the dose (``doseQuantity``), the timing (``frequency`` per day or one dose per ``period``
    hours), ``asNeededBoolean`` and, for a PRN, ``maxDosePerPeriod`` per 24 hours (in the dose
    unit: the drawn maximum number of doses times the dose). Reading the resource with
    :func:`opioidcds._resolve.fhir.from_medication_request` must give the prescription's OME.
    """
    rx = draw(dmd_prescriptions(catalogue, by_name=False))
    dose = rx.dose_quantity or Decimal(1)
    unit = rx.dose_unit or ""
    if rx.doses_per_day is not None:
        repeat: dict[str, Any] = {
            "frequency": _json_number(rx.doses_per_day),
            "period": 1,
            "periodUnit": "d",
        }
    else:
        hours = rx.interval_hours or Decimal(24)
        repeat = {"frequency": 1, "period": _json_number(hours), "periodUnit": "h"}
    dosage: dict[str, Any] = {
        "timing": {"repeat": repeat},
        "doseAndRate": [{"doseQuantity": {"value": _json_number(dose), "unit": unit}}],
    }
    if rx.prn:
        dosage["asNeededBoolean"] = True
    if rx.max_doses_per_day is not None:
        dosage["maxDosePerPeriod"] = {
            "numerator": {"value": _json_number(rx.max_doses_per_day * dose), "unit": unit},
            "denominator": {
                "value": 24,
                "unit": "hour",
                "system": "http://unitsofmeasure.org",
                "code": "h",
            },
        }
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/example"},
        "medicationCodeableConcept": {
            "coding": [{"system": "https://dmd.nhs.uk", "code": rx.dmd_code}]
        },
        "dosageInstruction": [dosage],
    }
    return resource, rx


# --- patients (issue 5: risk stratification) ---------------------------------------------------

_TRI_STATE_FIELDS = (
    "unemployed",
    "ae_attendance_recent",
    "family_history_dependence",
    "history_substance_or_alcohol_misuse",
    "preadolescent_sexual_abuse_history",
    "depression",
    "other_psychological_disease",
    "gabapentinoid_coprescribed",
)
"""Patient fields that are plain tri-state inputs (true / false / unknown)."""


def tri_states() -> st.SearchStrategy[bool | None]:
    """True, false or unknown (``None``)."""
    return st.sampled_from([True, False, None])


def co_medicines() -> st.SearchStrategy[Prescription]:
    """A benzodiazepine or gabapentinoid prescription (recognised by the medicine classes)."""
    return st.sampled_from(
        [
            Prescription(
                drug="diazepam",
                form="tablet",
                strength="5 mg",
                dose_quantity=1,
                dose_unit="tablet",
                doses_per_day=2,
            ),
            Prescription(
                drug="pregabalin",
                form="capsule",
                strength="75 mg",
                dose_quantity=1,
                dose_unit="capsule",
                doses_per_day=2,
            ),
        ]
    )


@st.composite
def patients(draw: st.DrawFn, *, max_opioids: int = 4, in_scope: bool | None = None) -> Patient:
    """Valid patients with tri-state inputs and up to ``max_opioids`` convertible opioids.

    Maybe a benzodiazepine or gabapentinoid prescription too, and (rarely) an exclusion flag.
    ``in_scope=True`` draws only adults with at least one opioid and no exclusion flag;
    ``False`` forces an exclusion; ``None`` leaves it to chance.
    """
    fields: dict[str, object] = {name: draw(tri_states()) for name in _TRI_STATE_FIELDS}
    fields["age"] = draw(st.one_of(st.none(), st.integers(18, 100)))
    fields["sex"] = draw(st.sampled_from(["male", "female", "unknown"]))
    low = 1 if in_scope else 0
    rxs = draw(st.lists(convertible_prescriptions(), min_size=low, max_size=max_opioids))
    if draw(st.booleans()):
        rxs.append(draw(co_medicines()))
    fields["prescriptions"] = tuple(rxs)
    if not any(MedicineClass.BENZODIAZEPINE in medicine_classes(rx) for rx in rxs):
        fields["benzodiazepine_coprescribed"] = draw(tri_states())
    if any(MedicineClass.GABAPENTINOID in medicine_classes(rx) for rx in rxs):
        fields["gabapentinoid_coprescribed"] = draw(st.sampled_from([True, None]))
    if in_scope is False or (in_scope is None and draw(st.integers(0, 9)) == 0):
        fields[draw(st.sampled_from(["cancer_pain", "palliative_care"]))] = True
    fields["opioid_substitution_therapy"] = False
    return Patient.model_validate(fields)
