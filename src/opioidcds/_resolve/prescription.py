"""Resolve a prescription against the vocabulary: which ingredients, which route, what strength.

This is the "resolve" stage of the data flow (inputs -> resolve -> measure -> decide ->
present). Knowledge gaps (an unknown drug or form) are not errors here: they are returned as a
reason, so the calculator can report the item as *not convertible* and the total as a lower
bound. Contradictory or incomplete input is an :class:`~opioidcds.InvalidInputError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from opioidcds._errors import InvalidInputError
from opioidcds._inputs.prescription import DoseUnitKind, Prescription
from opioidcds._knowledge.products import Catalogue, Product, load_catalogue
from opioidcds._knowledge.units import COUNT_NOUNS, Strength, StrengthKind
from opioidcds._knowledge.vocabulary import Form, FormKind, Vocabulary, normalise_name
from opioidcds._resolve.dose import Dose, effective_dose

__all__ = ["ResolvedIngredient", "ResolvedPrescription", "resolve_prescription"]


@dataclass(frozen=True, slots=True)
class ResolvedIngredient:
    """One ingredient of a resolved prescription with its amount per unit of product.

    ``amount`` is mg per unit (tablet, spray...), mg per ``volume_ml`` mL, or microgram/hour per
    patch; ``None`` when the dose is given as a mass (which then overrides the strength).
    """

    name: str
    opioid: bool
    amount: Decimal | None


@dataclass(frozen=True, slots=True)
class ResolvedPrescription:
    """A prescription tied to canonical ingredients, a route and a strength kind.

    ``problem`` is set (and ``ingredients`` empty) when the knowledge base cannot place the
    drug or form: the item is then reported as not convertible with that reason.
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

    The catalogue is loaded (once per process) only when a prescription names a product.

    Raises:
        UnknownProductError: ``dmd_code`` or ``product_name`` is not in the catalogue.
        InvalidInputError: the strength, dose unit and form contradict each other or the named
            product, or a needed part is missing (e.g. a dose in tablets with no strength).
            ``field`` names the prescription's field; the caller prefixes its position.
    """
    if rx.dmd_code is not None or rx.product_name is not None:
        return _resolve_product(
            rx, vocabulary, catalogue if catalogue is not None else load_catalogue()
        )
    drug = rx.drug or ""
    names = vocabulary.find_drug(drug)
    form = vocabulary.find_form(rx.form) if rx.form is not None else None
    route = form.route if form is not None else None
    if rx.route is not None:
        given = normalise_name(rx.route)
        if route is not None and given != route:
            raise InvalidInputError("route", "contradicts the route of the form")
        route = given if given in vocabulary.routes else None
    problem = None
    if names is None:
        problem = "drug not recognised by the ingredient vocabulary"
    elif rx.form is not None and form is None:
        problem = "pharmaceutical form not recognised by the forms vocabulary"
    elif route is None:
        problem = "route not recognised by the forms vocabulary"
    strength = rx.parsed_strength
    if problem is not None or names is None:
        return ResolvedPrescription(rx, drug, (), route, form, strength, rx.strength, problem)
    dose = effective_dose(rx, form)
    if isinstance(dose, str):
        return ResolvedPrescription(rx, drug, (), route, form, strength, rx.strength, dose)
    return _finish(
        dose,
        rx,
        label=drug,
        names=names,
        form=form,
        route=route,
        strength=strength,
        strength_text=rx.strength,
        vocabulary=vocabulary,
    )


def _finish(
    dose: Dose,
    rx: Prescription,
    *,
    label: str,
    names: tuple[str, ...],
    form: Form | None,
    route: str | None,
    strength: Strength | None,
    strength_text: str | None,
    vocabulary: Vocabulary,
    product: Product | None = None,
    count_volume_ml: Decimal | None = None,
) -> ResolvedPrescription:
    container = product.unit if product is not None else None
    _check_consistency(
        dose, names, form, strength, container=container, count_volume_ml=count_volume_ml
    )
    opioid = [vocabulary.is_opioid(n) for n in names]
    ingredients: tuple[ResolvedIngredient, ...]
    if strength is None:  # a dose in mg of a single-ingredient product
        ingredients = (ResolvedIngredient(names[0], opioid[0], None),)
    else:
        ingredients = tuple(
            ResolvedIngredient(n, o, a)
            for n, o, a in zip(names, opioid, strength.amounts, strict=True)
        )
    return ResolvedPrescription(
        rx,
        label,
        ingredients,
        route,
        form,
        strength,
        strength_text,
        None,
        dose,
        product,
        count_volume_ml,
    )


def _find_product(rx: Prescription, catalogue: Catalogue) -> Product:
    by_code = catalogue.by_code(rx.dmd_code) if rx.dmd_code is not None else None
    by_name = catalogue.by_name(rx.product_name) if rx.product_name is not None else None
    if by_code is not None and by_name is not None and by_code is not by_name:
        same = by_code.ingredients == by_name.ingredients and by_code.form == by_name.form
        if not same:
            raise InvalidInputError("product_name", "names a different product from dmd_code")
    product = by_code or by_name
    if product is None:  # pragma: no cover - the caller checked one of them is given
        raise InvalidInputError("dmd_code", "dmd_code or product_name is required")
    return product


def _resolve_product(
    rx: Prescription, vocabulary: Vocabulary, catalogue: Catalogue
) -> ResolvedPrescription:
    product = _find_product(rx, catalogue)
    names = product.ingredient_names
    form = vocabulary.find_form(product.form)
    if rx.drug is not None and vocabulary.find_drug(rx.drug) != names:
        raise InvalidInputError("drug", "contradicts the dm+d product's ingredients")
    if rx.form is not None and vocabulary.find_form(rx.form) is not form:
        raise InvalidInputError("form", "contradicts the dm+d product's form")
    if rx.route is not None and normalise_name(rx.route) != product.route:
        raise InvalidInputError("route", "contradicts the dm+d product's route")
    strength = product.strength_value
    given = rx.parsed_strength
    if given is not None and not _same_strength(given, strength):
        raise InvalidInputError("strength", "contradicts the dm+d product's strength")
    dose = effective_dose(rx, form)
    if isinstance(dose, str):
        return ResolvedPrescription(
            rx, product.product_name, (), product.route, form, strength, product.strength, dose
        )
    count_volume = None
    if _counts_containers(dose, strength, product):
        count_volume = product.unit_volume_ml
        if count_volume is None:
            problem = (
                f"the volume of one {product.unit} of this product is not known from a citable "
                "source: give the dose in mL or mg"
            )
            return ResolvedPrescription(
                rx, product.product_name, (), product.route, form, strength, None, problem
            )
    return _finish(
        dose,
        rx,
        label=product.product_name,
        names=names,
        form=form,
        route=product.route,
        strength=strength,
        strength_text=product.strength,
        vocabulary=vocabulary,
        product=product,
        count_volume_ml=count_volume,
    )


def _counts_containers(dose: Dose, strength: Strength, product: Product) -> bool:
    """Whether the dose counts ampoules or vials of a liquid (``"1 ampoule"``)."""
    return (
        dose.unit_kind is DoseUnitKind.COUNT
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
    dose: Dose,
    names: tuple[str, ...],
    form: Form | None,
    strength: Strength | None,
    *,
    container: str | None = None,
    count_volume_ml: Decimal | None = None,
) -> None:
    kind = dose.unit_kind
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
        noun = _singular(dose.unit.strip())
        if form is not None and form.nouns and noun not in form.nouns and noun != container:
            raise InvalidInputError("dose_unit", "does not fit the form")


_IRREGULAR_PLURALS = {"patches": "patch", "suppositories": "suppository"}


def _singular(noun: str) -> str:
    if noun in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[noun]
    if noun.endswith("s") and noun[:-1] in COUNT_NOUNS:
        return noun[:-1]
    return noun
