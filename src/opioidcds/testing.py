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

from collections.abc import Sequence
from decimal import Decimal
from functools import cache

from hypothesis import strategies as st

from opioidcds.models import ItemStatus, OMEResult, Prescription, PrnPolicy
from opioidcds.ome import calculate_ome
from opioidcds.patient import Patient, medicine_classes
from opioidcds.products import MedicineClass, load_catalogue
from opioidcds.tables import ConversionTable, default_table
from opioidcds.vocabulary import FormKind, default_vocabulary

__all__ = [
    "check_ome_invariants",
    "co_medicines",
    "convertible_prescriptions",
    "decimals",
    "patients",
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
