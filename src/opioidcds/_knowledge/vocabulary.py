"""The vocabulary of drugs, forms and plausibility limits, loaded once from knowledge files.

``conversion_tables/ingredients.toml`` maps drug names (salts, spellings, combination names) to
canonical ingredients; ``forms.toml`` maps pharmaceutical forms to routes and strength kinds;
``plausibility.toml`` holds the limits beyond which an input is an error, not a dose.
"""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Self

from pydantic import Field, PrivateAttr, model_validator

from opioidcds._errors import InvalidInputError, KnowledgeBaseError, UnknownDrugError
from opioidcds._knowledge.cache import cached
from opioidcds._knowledge.files import (
    KnowledgeHeader,
    KnowledgeModel,
    check_citations,
    read_knowledge_file,
)
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds._knowledge.units import Dimension, parse_amount

__all__ = [
    "Combination",
    "DosageTextLimits",
    "Form",
    "FormKind",
    "FormsFile",
    "Ingredient",
    "IngredientsFile",
    "PlausibilityFile",
    "PlausibilityLimits",
    "Vocabulary",
    "default_vocabulary",
    "load_vocabulary",
    "normalise_name",
]

_SPACES = re.compile(r"\s+")


def normalise_name(name: str) -> str:
    """Lower-case ``name`` and fold runs of white space, for vocabulary look-ups."""
    return _SPACES.sub(" ", name.strip().lower())


class Ingredient(KnowledgeModel):
    """A canonical ingredient and the names that mean it."""

    name: str = Field(min_length=1)
    opioid: bool
    synonyms: tuple[str, ...] = ()
    citation: str = Field(min_length=1)
    note: str | None = None


class Combination(KnowledgeModel):
    """A combination product whose name fixes the order of its strengths."""

    name: str = Field(min_length=1)
    ingredients: tuple[str, ...] = Field(min_length=2)
    synonyms: tuple[str, ...] = ()
    citation: str = Field(min_length=1)


class IngredientsFile(KnowledgeHeader):
    """``ingredients.toml``."""

    ingredients: tuple[Ingredient, ...] = Field(min_length=1)
    combinations: tuple[Combination, ...] = ()


class FormKind(StrEnum):
    """How a form's strength is expressed: per unit, per volume, or as a patch rate."""

    UNIT = "unit"
    LIQUID = "liquid"
    PATCH = "patch"


class Form(KnowledgeModel):
    """A pharmaceutical form and the route it is given by."""

    name: str = Field(min_length=1)
    route: str = Field(min_length=1)
    kind: FormKind
    nouns: tuple[str, ...] = ()
    synonyms: tuple[str, ...] = ()
    modified_release: bool = False
    citation: str = Field(min_length=1)

    def __hash__(self) -> int:
        """The hash of the name and route (equal forms have both equal).

        Memo keys hash the form of every prescription measured: this costs half of hashing
        every field (issue 20).
        """
        return hash((self.name, self.route))


class FormsFile(KnowledgeHeader):
    """``forms.toml``."""

    forms: tuple[Form, ...] = Field(min_length=1)


class PlausibilityLimits(KnowledgeModel):
    """Limits beyond which an input is an error (unit confusion), not a dose."""

    max_daily_amount_per_ingredient: str
    max_patch_rate: str
    citation: str = Field(min_length=1)
    _max_daily_mg: Decimal = PrivateAttr()
    _max_rate: Decimal = PrivateAttr()

    @model_validator(mode="after")
    def _parse(self) -> Self:
        try:
            daily = parse_amount(self.max_daily_amount_per_ingredient, "limits")
            rate = parse_amount(self.max_patch_rate, "limits")
        except InvalidInputError as exc:
            raise ValueError(str(exc)) from exc
        if daily.dimension is not Dimension.MASS or rate.dimension is not Dimension.RATE:
            raise ValueError("limits: daily amount must be a mass, patch rate a mass per time")
        self._max_daily_mg = daily.value
        self._max_rate = rate.value
        return self

    @property
    def max_daily_mg(self) -> Decimal:
        """Largest plausible daily amount of one opioid ingredient, in mg."""
        # read directly: pydantic's private-attribute hook costs microseconds per call
        return self.__pydantic_private__["_max_daily_mg"]  # type: ignore[index,no-any-return]

    @property
    def max_patch_rate_microgram_per_hour(self) -> Decimal:
        """Largest plausible patch strength, in microgram/hour."""
        return self.__pydantic_private__["_max_rate"]  # type: ignore[index,no-any-return]


class DosageTextLimits(KnowledgeModel):
    """Limits beyond which a number in a dosage text is not read as a dose (issue 16).

    ``count_per_dose_limit``: a dose of this many units (tablets, capsules, patches ...) or more;
    ``unitless_per_dose_limit``: a number without a unit this large or larger (a count, or mg or
    mL with the unit left out?); ``oral_volume_per_dose_max``: a volume per dose above this;
    ``interval_hours_within_a_day``: the only intervals under 24 hours that are read (longer
    ones must be whole days).
    """

    count_per_dose_limit: int = Field(gt=1)
    unitless_per_dose_limit: int = Field(gt=1)
    oral_volume_per_dose_max: str
    interval_hours_within_a_day: tuple[int, ...] = Field(min_length=1)
    citations: tuple[str, ...] = Field(min_length=1)
    _max_ml: Decimal = PrivateAttr()

    @model_validator(mode="after")
    def _parse(self) -> Self:
        try:
            volume = parse_amount(self.oral_volume_per_dose_max, "dosage_text")
        except InvalidInputError as exc:
            raise ValueError(str(exc)) from exc
        if volume.dimension is not Dimension.VOLUME or volume.value <= 0:
            raise ValueError("dosage_text: oral_volume_per_dose_max must be a positive volume")
        if any(h <= 0 or h >= 24 or 24 % h for h in self.interval_hours_within_a_day):
            raise ValueError("dosage_text: each interval within a day must divide 24 hours")
        self._max_ml = volume.value
        return self

    @property
    def oral_volume_per_dose_max_ml(self) -> Decimal:
        """Largest plausible volume of one oral dose, in mL."""
        return self.__pydantic_private__["_max_ml"]  # type: ignore[index,no-any-return]


class PlausibilityFile(KnowledgeHeader):
    """``plausibility.toml``."""

    limits: PlausibilityLimits
    dosage_text: DosageTextLimits


class Vocabulary:
    """Immutable, validated look-ups over the three vocabulary files.

    Build with :func:`load_vocabulary` (or use :func:`default_vocabulary`). Safe to share
    across threads: nothing changes after construction.
    """

    __slots__ = (
        "_all_forms",
        "_drugs",
        "_forms",
        "_ingredients",
        "_routes",
        "dosage_text_limits",
        "files",
        "limits",
    )

    def __init__(
        self, ingredients: IngredientsFile, forms: FormsFile, plausibility: PlausibilityFile
    ) -> None:
        """Index the files; raises KnowledgeBaseError on duplicates or dangling names."""
        self.files: tuple[KnowledgeHeader, ...] = (ingredients, forms, plausibility)
        self.limits = plausibility.limits
        check_citations(
            "ingredients.toml",
            ingredients,
            {f"ingredients[{i}]": [x.citation] for i, x in enumerate(ingredients.ingredients)}
            | {f"combinations[{i}]": [x.citation] for i, x in enumerate(ingredients.combinations)},
        )
        check_citations(
            "forms.toml", forms, {f"forms[{i}]": [f.citation] for i, f in enumerate(forms.forms)}
        )
        check_citations(
            "plausibility.toml",
            plausibility,
            {
                "limits": [self.limits.citation],
                "dosage_text": list(plausibility.dosage_text.citations),
            },
        )
        self.dosage_text_limits = plausibility.dosage_text
        self._ingredients = {i.name: i for i in ingredients.ingredients}
        if len(self._ingredients) != len(ingredients.ingredients):
            raise KnowledgeBaseError("ingredients.toml: duplicate ingredient name")
        drugs: dict[str, tuple[str, ...]] = {}

        def add(key: str, value: tuple[str, ...], file: str) -> None:
            norm = normalise_name(key)
            if norm in drugs:
                raise KnowledgeBaseError(f"{file}: the name {norm!r} is defined twice")
            drugs[norm] = value

        for ing in ingredients.ingredients:
            for name in (ing.name, *ing.synonyms):
                add(name, (ing.name,), "ingredients.toml")
        for combo in ingredients.combinations:
            unknown = [n for n in combo.ingredients if n not in self._ingredients]
            if unknown:
                raise KnowledgeBaseError(
                    f"ingredients.toml: combination {combo.name!r} names unknown {unknown[0]!r}"
                )
            for name in (combo.name, *combo.synonyms):
                add(name, combo.ingredients, "ingredients.toml")
        self._drugs = drugs
        form_index: dict[str, Form] = {}
        for form in forms.forms:
            for name in (form.name, *form.synonyms):
                norm = normalise_name(name)
                if norm in form_index:
                    raise KnowledgeBaseError(f"forms.toml: the form {norm!r} is defined twice")
                form_index[norm] = form
        self._forms = form_index
        self._all_forms = forms.forms
        self._routes = frozenset(f.route for f in forms.forms)

    @property
    def routes(self) -> frozenset[str]:
        """Every route a form can have: the route keys of the conversion tables."""
        return self._routes

    def ingredient_names(self) -> tuple[str, ...]:
        """Every canonical ingredient name, in file order."""
        return tuple(self._ingredients)

    def forms(self) -> tuple[Form, ...]:
        """Every form, in file order."""
        return self._all_forms

    def versions(self) -> dict[str, str]:
        """Each vocabulary file's id and version, for a result's basis."""
        return {f.id: f.version for f in self.files}

    def ingredient(self, name: str) -> Ingredient:
        """Return the canonical ingredient ``name``.

        Raises:
            UnknownDrugError: not a canonical ingredient name.
        """
        try:
            return self._ingredients[name]
        except KeyError:
            raise UnknownDrugError("ingredient: not in the ingredient vocabulary") from None

    def find_drug(self, name: str) -> tuple[str, ...] | None:
        """Return the canonical ingredients ``name`` means, in label order, or ``None``.

        A name of the form ``"a/b"`` or ``"a + b"`` whose parts are all known ingredients is read
        as a combination in that order (e.g. ``"tramadol/paracetamol"``).
        """
        found = self._drugs.get(name)  # fast path: already canonical
        if found is not None:
            return found
        norm = normalise_name(name)
        found = self._drugs.get(norm)
        if found is not None:
            return found
        parts = [p.strip() for p in re.split(r"\s*(?:/|\+|\band\b)\s*", norm) if p.strip()]
        if len(parts) < 2:
            return None
        resolved = [self._drugs.get(p) for p in parts]
        if any(r is None or len(r) != 1 for r in resolved):
            return None
        return tuple(r[0] for r in resolved if r is not None)

    def resolve_drug(self, name: str) -> tuple[str, ...]:
        """Like :meth:`find_drug`, but raises for an unknown name.

        Raises:
            UnknownDrugError: the name is not in the vocabulary (the message omits the name).
        """
        found = self.find_drug(name)
        if found is None:
            raise UnknownDrugError("drug: not in the ingredient vocabulary")
        return found

    def find_form(self, name: str) -> Form | None:
        """Return the form ``name`` means (by name or synonym), or ``None``."""
        found = self._forms.get(name)  # fast path: already canonical
        return found if found is not None else self._forms.get(normalise_name(name))

    def is_opioid(self, ingredient: str) -> bool:
        """Whether the canonical ``ingredient`` is an opioid (False for unknown names)."""
        ing = self._ingredients.get(ingredient)
        return ing is not None and ing.opioid


def load_vocabulary(directory: Path | None = None) -> Vocabulary:
    """Load and validate ``ingredients.toml``, ``forms.toml`` and ``plausibility.toml``.

    ``directory`` defaults to the bundled ``conversion_tables/``.

    Raises:
        KnowledgeBaseError: a file is missing, malformed or inconsistent.
    """
    base = directory if directory is not None else knowledge_dir("conversion_tables")
    return Vocabulary(
        read_knowledge_file(base / "ingredients.toml", IngredientsFile),
        read_knowledge_file(base / "forms.toml", FormsFile),
        read_knowledge_file(base / "plausibility.toml", PlausibilityFile),
    )


@cache
def default_vocabulary() -> Vocabulary:
    """The bundled vocabulary, loaded once per process and shared (it is immutable).

    Read back from the on-disk knowledge cache when it holds this install's
    (``_knowledge/cache.py``).
    """
    return cached("vocabulary", Vocabulary, load_vocabulary)
