"""Resolve a prescription against the vocabulary: which ingredients, which route, what strength.

This is the "resolve" stage of the data flow (inputs -> resolve -> measure -> decide ->
present). Knowledge gaps (an unknown drug or form) are not errors here: they are returned as a
reason, so the calculator can report the item as *not convertible* and the total as a lower
bound. Contradictory or incomplete input is an :class:`~opioidcds.InvalidInputError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from operator import itemgetter
from typing import Any, NamedTuple

from opioidcds._errors import InvalidInputError
from opioidcds._inputs.prescription import DoseUnitKind, Prescription
from opioidcds._knowledge.products import Catalogue, Product, load_catalogue
from opioidcds._knowledge.units import COUNT_NOUNS, Strength, StrengthKind, parse_strength
from opioidcds._knowledge.vocabulary import Form, FormKind, Vocabulary, normalise_name
from opioidcds._resolve.dose import Dose, effective_dose

__all__ = [
    "ProductFields",
    "ProductPart",
    "ResolvedIngredient",
    "ResolvedPrescription",
    "counts_containers",
    "dose_unit_fits",
    "product_fields",
    "product_part",
    "resolve_prescription",
]


@dataclass(frozen=True, slots=True)
class ResolvedIngredient:
    """One ingredient of a resolved prescription with its amount per unit of product.

    ``amount`` is mg per unit (tablet, spray...), mg per ``volume_ml`` mL, or microgram/hour per
    patch; ``None`` when the dose is given as a mass (which then overrides the strength).
    """

    name: str
    opioid: bool
    amount: Decimal | None


class ResolvedPrescription(NamedTuple):
    """A prescription tied to canonical ingredients, a route and a strength kind.

    ``problem`` is set (and ``ingredients`` empty) when the knowledge base cannot place the
    drug or form: the item is then reported as not convertible with that reason. An immutable
    named tuple: built for every prescription measured, it costs a third of a frozen
    dataclass (issue 20).
    """

    prescription: Prescription
    label: str
    ingredients: tuple[ResolvedIngredient, ...]
    route: str | None
    form: Form | None
    strength: Strength | None
    strength_text: str | None
    problem: str | None = None
    dose: Dose | None = None
    product: Product | None = None  # the dm+d product, when the prescription names one
    count_volume_ml: Decimal | None = None  # mL in one counted ampoule/vial of a liquid


def resolve_prescription(
    rx: Prescription, vocabulary: Vocabulary, catalogue: Catalogue | None = None
) -> ResolvedPrescription:
    """Resolve ``rx`` against ``vocabulary`` (and, for a dm+d product, the ``catalogue``).

    The catalogue is loaded (once per process) only when a prescription names a product. What
    the product fields mean (ingredients, form, route, strength) is worked out once per
    content and knowledge (:func:`product_part`, memoised); the dose is read each time (its
    dosage text once per text and form, :func:`~opioidcds._resolve.dose.effective_dose`).

    Raises:
        UnknownProductError: ``dmd_code`` or ``product_name`` is not in the catalogue.
        InvalidInputError: the strength, dose unit and form contradict each other or the named
            product, or a needed part is missing (e.g. a dose in tablets with no strength).
            ``field`` names the prescription's field; the caller prefixes its position.
    """
    knowledge = (product_fields(rx.__dict__), vocabulary, catalogue)
    part = product_part(*knowledge)
    if part.problem is not None:
        return ResolvedPrescription(
            rx,
            part.label,
            (),
            part.route,
            part.form,
            part.strength,
            part.strength_text,
            part.problem,
        )
    dose = effective_dose(rx, part.form)
    if isinstance(dose, str):
        return ResolvedPrescription(
            rx, part.label, (), part.route, part.form, part.strength, part.strength_text, dose
        )
    product = part.product
    count_volume = None
    if product is not None and counts_containers(dose, part.strength, product):
        count_volume = product.unit_volume_ml
        if count_volume is None:
            problem = (
                f"the volume of one {product.unit} of this product is not known from a citable "
                "source: give the dose in mL or mg"
            )
            return ResolvedPrescription(
                rx, part.label, (), part.route, part.form, part.strength, None, problem
            )
    dose_unit_fits(knowledge, dose.unit, dose.unit_kind, count_volume)
    return ResolvedPrescription(
        rx,
        part.label,
        part.ingredients,
        part.route,
        part.form,
        part.strength,
        part.strength_text,
        None,
        dose,
        product,
        count_volume,
    )


@dataclass(frozen=True, slots=True)
class ProductPart:
    """What a prescription's product fields mean, whatever its dose.

    ``problem`` is set when the vocabulary cannot place the drug, form or route (the item is
    then not convertible); ``ingredients`` holds the amounts of the strength (empty when the
    strength does not fit the ingredients: the consistency check then refuses the dose).
    """

    label: str
    names: tuple[str, ...]
    form: Form | None
    route: str | None
    strength: Strength | None
    strength_text: str | None
    ingredients: tuple[ResolvedIngredient, ...] = ()
    product: Product | None = None
    problem: str | None = None


ProductFields = tuple[str | None, str | None, str | None, str | None, str | None, str | None]
"""A prescription's ``dmd_code``, ``product_name``, ``drug``, ``form``, ``route``, ``strength``."""

product_fields: Callable[[Mapping[str, Any]], ProductFields] = itemgetter(
    "dmd_code", "product_name", "drug", "form", "route", "strength"
)


@lru_cache(maxsize=4096)
def product_part(
    fields: ProductFields, vocabulary: Vocabulary, catalogue: Catalogue | None
) -> ProductPart:
    """The product fields resolved against the knowledge; memoised on those fields.

    Keyed by content (the product fields of the prescription, never its dose, identifiers or
    position) and the knowledge (compared by identity); bounded. Errors are not memoised.

    Raises:
        UnknownProductError: the dm+d code or product name is not in the catalogue.
        InvalidInputError: a field contradicts the named product, or the route contradicts the
            form.
    """
    if fields[0] is not None or fields[1] is not None:
        return _dmd_part(
            fields, vocabulary, catalogue if catalogue is not None else load_catalogue()
        )
    _, _, drug, form_name, route_name, strength_text = fields
    label = drug or ""
    names = vocabulary.find_drug(label)
    form = vocabulary.find_form(form_name) if form_name is not None else None
    route = form.route if form is not None else None
    if route_name is not None:
        given = normalise_name(route_name)
        if route is not None and given != route:
            raise InvalidInputError("route", "contradicts the route of the form")
        route = given if given in vocabulary.routes else None
    problem = None
    if names is None:
        problem = "drug not recognised by the ingredient vocabulary"
    elif form_name is not None and form is None:
        problem = "pharmaceutical form not recognised by the forms vocabulary"
    elif route is None:
        problem = "route not recognised by the forms vocabulary"
    strength = parse_strength(strength_text) if strength_text is not None else None
    if problem is not None or names is None:
        return ProductPart(label, (), form, route, strength, strength_text, problem=problem)
    return ProductPart(
        label,
        names,
        form,
        route,
        strength,
        strength_text,
        _ingredients(names, strength, vocabulary),
    )


def _dmd_part(fields: ProductFields, vocabulary: Vocabulary, catalogue: Catalogue) -> ProductPart:
    dmd_code, product_name, drug, form_name, route_name, strength_text = fields
    product = _find_product(dmd_code, product_name, catalogue)
    names = product.ingredient_names
    form = vocabulary.find_form(product.form)
    if drug is not None and vocabulary.find_drug(drug) != names:
        raise InvalidInputError("drug", "contradicts the dm+d product's ingredients")
    if form_name is not None and vocabulary.find_form(form_name) is not form:
        raise InvalidInputError("form", "contradicts the dm+d product's form")
    if route_name is not None and normalise_name(route_name) != product.route:
        raise InvalidInputError("route", "contradicts the dm+d product's route")
    strength = product.strength_value
    if strength_text is not None and not _same_strength(parse_strength(strength_text), strength):
        raise InvalidInputError("strength", "contradicts the dm+d product's strength")
    return ProductPart(
        product.product_name,
        names,
        form,
        product.route,
        strength,
        product.strength,
        _ingredients(names, strength, vocabulary),
        product,
    )


def _ingredients(
    names: tuple[str, ...], strength: Strength | None, vocabulary: Vocabulary
) -> tuple[ResolvedIngredient, ...]:
    """Each ingredient with its amount from the strength (``None``: a dose given as a mass).

    Empty when the strength lists another number of amounts than there are ingredients (the
    consistency check refuses any dose of it).
    """
    if strength is None:
        return (ResolvedIngredient(names[0], vocabulary.is_opioid(names[0]), None),)
    if len(strength.amounts) != len(names):
        return ()
    return tuple(
        ResolvedIngredient(n, vocabulary.is_opioid(n), a)
        for n, a in zip(names, strength.amounts, strict=True)
    )


def _find_product(dmd_code: str | None, product_name: str | None, catalogue: Catalogue) -> Product:
    by_code = catalogue.by_code(dmd_code) if dmd_code is not None else None
    by_name = catalogue.by_name(product_name) if product_name is not None else None
    if by_code is not None and by_name is not None and by_code is not by_name:
        same = by_code.ingredients == by_name.ingredients and by_code.form == by_name.form
        if not same:
            raise InvalidInputError("product_name", "names a different product from dmd_code")
    product = by_code or by_name
    if product is None:  # pragma: no cover - the caller checked one of them is given
        raise InvalidInputError("dmd_code", "dmd_code or product_name is required")
    return product


@lru_cache(maxsize=8192)
def dose_unit_fits(
    knowledge: tuple[ProductFields, Vocabulary, Catalogue | None],
    unit: str,
    kind: DoseUnitKind,
    count_volume_ml: Decimal | None,
) -> bool:
    """Whether a dose in ``unit`` fits the product (``True``), memoised per product and unit.

    Raises:
        InvalidInputError: it does not (see :func:`_check_consistency`); not memoised.
    """
    part = product_part(*knowledge)
    product = part.product
    _check_consistency(
        unit,
        kind,
        part.names,
        part.form,
        part.strength,
        container=product.unit if product is not None else None,
        count_volume_ml=count_volume_ml,
    )
    return True


def counts_containers(dose: Dose, strength: Strength | None, product: Product) -> bool:
    """Whether the dose counts ampoules or vials of a liquid (``"1 ampoule"``)."""
    return (
        dose.unit_kind is DoseUnitKind.COUNT
        and strength is not None
        and strength.kind is StrengthKind.PER_VOLUME
        and product.unit is not None
        and _singular(dose.unit.strip()) in _CONTAINERS
    )


_CONTAINERS = frozenset({"ampoule", "vial"})


def _same_strength(a: Strength, b: Strength) -> bool:
    """Equal strengths, comparing concentrations (10 mg/5 mL equals 2 mg/mL)."""
    if a.kind is not b.kind or len(a.amounts) != len(b.amounts):
        return False
    va, vb = a.volume_ml or 1, b.volume_ml or 1
    return all(x * vb == y * va for x, y in zip(a.amounts, b.amounts, strict=True))


def _check_consistency(
    unit: str,
    kind: DoseUnitKind,
    names: tuple[str, ...],
    form: Form | None,
    strength: Strength | None,
    *,
    container: str | None = None,
    count_volume_ml: Decimal | None = None,
) -> None:
    combination = len(names) > 1
    if strength is None:
        if kind is not DoseUnitKind.MASS:
            raise InvalidInputError(("strength"), "is required unless the dose is given as a mass")
        if combination:
            raise InvalidInputError(("strength"), "a combination product needs its strength")
        return
    several = strength.kind is StrengthKind.COMBINATION or (
        strength.kind is StrengthKind.PER_VOLUME and len(strength.amounts) > 1
    )
    if combination != several:
        raise InvalidInputError(
            ("strength"),
            "a combination needs one mass per ingredient; a single ingredient needs one strength",
        )
    if len(strength.amounts) != len(names):
        raise InvalidInputError(("strength"), "the number of masses differs from the ingredients")
    if combination and kind is DoseUnitKind.MASS:
        raise InvalidInputError(
            ("dose_unit"),
            "a dose in mg is ambiguous for a combination product: give the number of units",
        )
    is_patch = strength.kind is StrengthKind.RATE
    if form is not None and (form.kind is FormKind.PATCH) != is_patch:
        raise InvalidInputError(("strength"), "a patch has a strength per hour; other forms do not")
    if is_patch and kind is not DoseUnitKind.COUNT:
        raise InvalidInputError("dose_unit", "a patch dose is a number of patches")
    if kind is DoseUnitKind.VOLUME and strength.kind is not StrengthKind.PER_VOLUME:
        raise InvalidInputError(("dose_unit"), "a dose in mL needs a strength per volume (mg/mL)")
    if kind is DoseUnitKind.COUNT:
        if strength.kind is StrengthKind.PER_VOLUME and count_volume_ml is None:
            raise InvalidInputError(
                ("dose_unit"), "a liquid's dose is a volume (mL) or a mass (mg)"
            )
        noun = _singular(unit.strip())
        if form is not None and form.nouns and noun not in form.nouns and noun != container:
            raise InvalidInputError("dose_unit", "does not fit the form")


_IRREGULAR_PLURALS = {"patches": "patch", "suppositories": "suppository"}


def _singular(noun: str) -> str:
    if noun in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[noun]
    if noun.endswith("s") and noun[:-1] in COUNT_NOUNS:
        return noun[:-1]
    return noun
