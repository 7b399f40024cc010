"""The UK opioid product catalogue (dm+d) and recognition of co-prescribed medicine classes.

The catalogue (``catalogue/uk-dmd-opioids.csv``, described by ``catalogue/catalogue.toml``) is
built by ``scripts/build_catalogue.py`` from the OpenSAFELY dm+d opioid codelists: each entry is
derived from its dm+d name by :mod:`~.product_names`; names the parser could not read
were reviewed by hand (``catalogue/review.toml``). See ``docs/products.md``.

Lookups are exact: :meth:`Catalogue.by_code` and :meth:`Catalogue.by_name` raise
:class:`~opioidcds.UnknownProductError` (a ``LookupError``) for anything not in the
catalogue, never a guess or a fuzzy match. Messages never contain the code or name looked up.

:func:`classify_medicine` recognises by name, from the cited vocabulary in
``catalogue/medicine_classes.toml``: opioids, benzodiazepines, z-drugs, gabapentinoids and
drugs for opioid dependence (BNF 4.1, 4.8, 4.7.3, 4.10.3).
"""

from __future__ import annotations

import csv
import hashlib
import pickle
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from functools import cache, lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from opioidcds._errors import KnowledgeBaseError, UnknownProductError
from opioidcds._knowledge.cache import cached
from opioidcds._knowledge.files import canonical_json
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds._knowledge.product_names import StrengthBasis
from opioidcds._knowledge.units import Strength, StrengthKind
from opioidcds._knowledge.vocabulary import Vocabulary, default_vocabulary, load_vocabulary

__all__ = [
    "CATALOGUE_COLUMNS",
    "Catalogue",
    "Derivation",
    "MedicineClass",
    "Product",
    "ProductIngredient",
    "ProductKind",
    "StrengthBasis",
    "classify_medicine",
    "is_opioid_dependence_treatment",
    "load_catalogue",
    "names_an_opioid",
    "normalise_name",
]

CATALOGUE_FILE = "uk-dmd-opioids.csv"
CATALOGUE_COLUMNS: tuple[str, ...] = (
    "dmd_code",
    "kind",
    "product_name",
    "ingredients",
    "amounts",
    "units",
    "basis",
    "volume_ml",
    "form",
    "route",
    "modified_release",
    "patch",
    "strength",
    "opioid_dependence_treatment",
    "derivation",
    "superseded_by",
    "note",
    "bnf_code",
    "source_codelists",
    "unit",
    "unit_volume_ml",
    "delivered_rate",
    "delivered_rate_source",
)


class ProductKind(StrEnum):
    """dm+d concept class: virtual (generic) or actual (branded/supplier) medicinal product."""

    VMP = "VMP"
    AMP = "AMP"
    UNKNOWN = "unknown"


class Derivation(StrEnum):
    """How a catalogue entry's fields were obtained."""

    PARSED = "parsed"  # by the name parser
    HAND_FIXED = "hand-fixed"  # from a reviewed override in catalogue/review.toml
    SUCCESSOR = "successor"  # a superseded VMP code: fields of the VMP that replaced it


_MODEL_CONFIG = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True, defer_build=True)


class ProductIngredient(BaseModel):
    """One ingredient of a product, in label order: canonical name, amount and mass unit.

    ``name`` is a canonical name of ``conversion_tables/ingredients.toml``; ``unit`` is
    ``mg``, ``g`` or ``microgram``. What the amount is *per* is the product's ``basis``.
    """

    model_config = _MODEL_CONFIG

    name: str = Field(min_length=1, max_length=60)
    amount: Decimal = Field(gt=0)
    unit: Literal["mg", "g", "microgram"]


class Product(BaseModel):
    """One dm+d product (VMP or AMP) of the catalogue.

    ``strength`` is in the syntax of :func:`opioidcds._knowledge.units.parse_strength` (``"40 mg"``,
    ``"10 mg/5 mL"``, ``"25 microgram/hour"``, ``"50 microgram/dose"``, ``"30 mg/500 mg"``),
    or ``None`` when that syntax cannot express the product (multi-ingredient liquids, powders
    for reconstitution); ``note`` then says why. The calculator reads the structured
    ``ingredients`` (:attr:`strength_value`), which express every product, per unit or per
    volume. Source: NHSBSA dm+d names via the OpenSAFELY codelists named in
    ``source_codelists``.

    ``unit`` is the container one unit of a liquid or powder is counted in (``"ampoule"``,
    ``"vial"``) and ``unit_volume_ml`` the volume of one, when the dm+d name states it (``"10mg/1ml
    solution for injection ampoules"``, ``"... 1ml ampoules"``; see ``docs/products.md``).
    ``delivered_rate`` is the microgram/hour a patch releases when its SmPC states a rate other
    than the labelled strength (``catalogue/delivered_rates.toml``), with a short
    ``delivered_rate_source``.
    """

    model_config = _MODEL_CONFIG

    dmd_code: str = Field(pattern=r"^[0-9]{6,20}$")
    kind: ProductKind
    product_name: str = Field(min_length=1, max_length=300)
    ingredients: tuple[ProductIngredient, ...] = Field(min_length=1)
    basis: StrengthBasis
    volume_ml: Decimal | None = Field(default=None, gt=0)
    form: str
    route: str
    modified_release: bool
    patch: bool
    strength: str | None
    opioid_dependence_treatment: bool
    derivation: Derivation
    superseded_by: str | None = Field(default=None, pattern=r"^[0-9]{6,20}$")
    note: str = ""
    bnf_code: str = ""
    source_codelists: tuple[str, ...] = Field(min_length=1)
    unit: Literal["ampoule", "vial"] | None = None
    unit_volume_ml: Decimal | None = Field(default=None, gt=0)
    delivered_rate: Decimal | None = Field(default=None, gt=0)
    delivered_rate_source: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> Product:
        if (self.basis is StrengthBasis.PER_VOLUME) != (self.volume_ml is not None):
            raise ValueError("volume_ml is given exactly when the basis is per-volume")
        if self.unit_volume_ml is not None and (
            self.unit is None or self.basis is not StrengthBasis.PER_VOLUME
        ):
            raise ValueError("unit_volume_ml needs a unit and a per-volume strength")
        if (self.delivered_rate is not None) != bool(self.delivered_rate_source):
            raise ValueError("a delivered_rate is given exactly with its source")
        if self.delivered_rate is not None and self.basis is not StrengthBasis.RATE:
            raise ValueError("only a patch (a rate) has a delivered_rate")
        if self.patch != (self.form == "transdermal patch"):
            raise ValueError("patch is true exactly for transdermal patches")
        if (self.derivation is Derivation.SUCCESSOR) != (self.superseded_by is not None):
            raise ValueError("superseded_by is given exactly for successor entries")
        if self.strength is None and not self.note:
            raise ValueError("a product without a strength string must say why in note")
        return self

    @property
    def ingredient_names(self) -> tuple[str, ...]:
        """The canonical ingredient names in label order."""
        return tuple(i.name for i in self.ingredients)

    @property
    def strength_value(self) -> Strength:
        """The strength of every ingredient in canonical units, from the structured amounts.

        Per unit (mg per tablet, ampoule of powder, spray; several ingredients: a
        combination), per volume (mg per ``volume_ml`` mL, one amount per ingredient: also
        combination liquids such as co-dydramol 10 mg/500 mg per 5 mL), or a patch rate
        (labelled microgram/hour). Equal to ``parse_strength(strength)`` where a strength
        string exists (checked by the catalogue tests).
        """
        return _strength_of(self)


def normalise_name(name: str) -> str:
    """Case- and whitespace-normalised form of a product name used by :meth:`Catalogue.by_name`."""
    return " ".join(name.split()).casefold()


def _clinical_key(p: Product) -> tuple[Any, ...]:
    ings = tuple((i.name, i.amount, i.unit) for i in p.ingredients)
    return (
        ings,
        p.basis,
        p.volume_ml,
        p.form,
        p.route,
        p.modified_release,
        p.strength,
        p.unit,
        p.unit_volume_ml,
        p.delivered_rate,
    )


_MASS_TO_MG = {"mg": Decimal(1), "g": Decimal(1000), "microgram": Decimal("0.001")}
_MASS_TO_MICROGRAM = {"mg": Decimal(1000), "g": Decimal(1000000), "microgram": Decimal(1)}


@lru_cache(maxsize=4096)
def _strength_cached(
    basis: StrengthBasis,
    amounts: tuple[tuple[Decimal, str], ...],
    volume_ml: Decimal | None,
) -> Strength:
    if basis is StrengthBasis.RATE:  # patch amounts are per hour: canonical microgram/hour
        return Strength(StrengthKind.RATE, tuple(a * _MASS_TO_MICROGRAM[u] for a, u in amounts))
    mg = tuple(a * _MASS_TO_MG[u] for a, u in amounts)
    if basis is StrengthBasis.PER_VOLUME:
        return Strength(StrengthKind.PER_VOLUME, mg, volume_ml=volume_ml)
    kind = StrengthKind.COMBINATION if len(mg) > 1 else StrengthKind.PER_UNIT
    return Strength(kind, mg)


def _strength_of(p: Product) -> Strength:
    amounts = tuple((i.amount, i.unit) for i in p.ingredients)
    return _strength_cached(p.basis, amounts, p.volume_ml)


class Catalogue:
    """An immutable, validated product catalogue with exact lookups.

    Safe to share between threads: it is never modified after :func:`load_catalogue` builds it.
    Compared and hashed by identity (like the tables and the vocabulary), so it can key the
    calculator's memo cheaply.

    The bundled catalogue read back from the on-disk knowledge cache (``_knowledge/cache.py``)
    keeps each product pickled until it is first looked up (a first check reads two products,
    not 2,000); the products are those the catalogue files gave when the cache was written.
    """

    __slots__ = ("_by_code", "_by_name", "_digest", "_products", "effective_date", "id", "version")

    id: str
    version: str
    effective_date: str | None  # ISO date from catalogue.toml (None: not stated)
    _by_code: Mapping[str, Product]
    _by_name: Mapping[str, Product]
    _products: tuple[Product, ...] | None
    _digest: str | None

    def __init__(
        self,
        *,
        id: str,
        version: str,
        products: tuple[Product, ...],
        _by_code: Mapping[str, Product],
        _by_name: Mapping[str, Product],
        effective_date: str | None = None,
    ) -> None:
        """A catalogue of ``products`` indexed by code and by normalised name (the loader's)."""
        put = object.__setattr__
        put(self, "id", id)
        put(self, "version", version)
        put(self, "effective_date", effective_date)
        put(self, "_products", tuple(products))
        put(self, "_by_code", _read_only(_by_code))
        put(self, "_by_name", _read_only(_by_name))
        put(self, "_digest", None)

    def __setattr__(self, name: str, value: object) -> None:
        """Refuse: a catalogue is immutable."""
        raise AttributeError(f"cannot assign to field {name!r}: a Catalogue is immutable")

    def __delattr__(self, name: str) -> None:
        """Refuse: a catalogue is immutable."""
        raise AttributeError(f"cannot delete field {name!r}: a Catalogue is immutable")

    def __repr__(self) -> str:
        """Short form: id, version and size (not 2,000 products)."""
        return f"Catalogue(id={self.id!r}, version={self.version!r}, products={len(self)})"

    def __reduce__(self) -> tuple[Callable[..., Catalogue], tuple[object, ...]]:
        """Pickle each product on its own, so that unpickling reads only those looked up."""
        rows = {p.dmd_code: pickle.dumps(p, protocol=pickle.HIGHEST_PROTOCOL) for p in self}
        names = {name: p.dmd_code for name, p in self._by_name.items()}
        parts = (self.id, self.version, self.effective_date, rows, names, self._digest)
        return _unpickled_catalogue, (parts,)

    @property
    def products(self) -> tuple[Product, ...]:
        """Every product, in catalogue (code) order."""
        found = self._products
        if found is None:
            found = tuple(self._by_code.values())
            object.__setattr__(self, "_products", found)
        return found

    def __len__(self) -> int:
        """Return the number of dm+d codes in the catalogue."""
        return len(self._by_code)

    def __iter__(self) -> Iterator[Product]:
        """Iterate over the products in catalogue (code) order."""
        return iter(self.products)

    def __contains__(self, code: object) -> bool:
        """Whether ``code`` is a dm+d code of the catalogue."""
        return isinstance(code, str) and code.strip() in self._by_code

    def by_code(self, code: str) -> Product:
        """Return the product with dm+d code ``code`` (surrounding whitespace ignored).

        Raises:
            UnknownProductError: the code is not in the catalogue (the message omits it).

        """
        product = self._by_code.get(code.strip()) if isinstance(code, str) else None
        if product is None:
            raise UnknownProductError("dmd_code: not in the product catalogue")
        return product

    def by_name(self, name: str) -> Product:
        """Return the product called ``name``, matched exactly after case/whitespace folding.

        Several dm+d codes often share a name (a VMP and its generic AMPs): all carry the same
        clinical content (checked at load), and the VMP is returned, else the lowest code.

        Raises:
            UnknownProductError: no product has that name (the message omits it).

        """
        product = self._by_name.get(normalise_name(name)) if isinstance(name, str) else None
        if product is None:
            raise UnknownProductError("product_name: not in the product catalogue")
        return product

    def content_sha256(self) -> str:
        """The SHA-256 of the catalogue's content (computed once and kept).

        The canonical JSON (:func:`~opioidcds._knowledge.files.canonical_json`) of its id,
        version and every product; the provenance of results names it
        (``docs/safety/provenance.md``). The bundled catalogue read back from the knowledge
        cache carries the value computed when the cache was written, from the catalogue the
        files gave.
        """
        found = self._digest
        if found is None:
            content = {
                "id": self.id,
                "version": self.version,
                "products": _PRODUCTS.dump_python(self.products, mode="json"),
            }
            found = hashlib.sha256(canonical_json(content)).hexdigest()
            object.__setattr__(self, "_digest", found)
        return found


def _read_only(mapping: Mapping[str, Product]) -> Mapping[str, Product]:
    return (
        mapping
        if isinstance(mapping, MappingProxyType | _Pickled)
        else MappingProxyType(dict(mapping))
    )


class _Pickled(Mapping[str, Product]):
    """Products by code, each unpickled the first time it is read (thread-safe; read-only)."""

    __slots__ = ("_made", "_rows")

    def __init__(self, rows: dict[str, bytes]) -> None:
        self._rows = rows
        self._made: dict[str, Product] = {}

    def __getitem__(self, code: str) -> Product:
        made = self._made.get(code)
        if made is None:
            # the rows were checked against their SHA-256 when the cache file was read
            made = self._made.setdefault(code, pickle.loads(self._rows[code]))  # noqa: S301
        return made

    def get(self, code: str, default: Any = None) -> Any:  # noqa: ANN401 - Mapping.get's type
        """The product of ``code``, or ``default``."""
        return self[code] if code in self._rows else default

    def __contains__(self, code: object) -> bool:
        return code in self._rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


class _PickledNames(Mapping[str, Product]):
    """Products by normalised name, through their codes (read-only)."""

    __slots__ = ("_by_code", "_codes")

    def __init__(self, codes: dict[str, str], by_code: _Pickled) -> None:
        self._codes = codes
        self._by_code = by_code

    def __getitem__(self, name: str) -> Product:
        return self._by_code[self._codes[name]]

    def get(self, name: str, default: Any = None) -> Any:  # noqa: ANN401 - Mapping.get's type
        """The product called ``name``, or ``default``."""
        code = self._codes.get(name)
        return default if code is None else self._by_code[code]

    def __iter__(self) -> Iterator[str]:
        return iter(self._codes)

    def __len__(self) -> int:
        return len(self._codes)


def _unpickled_catalogue(
    parts: tuple[str, str, str | None, dict[str, bytes], dict[str, str], str | None],
) -> Catalogue:
    """A catalogue whose products are unpickled on first look-up (:meth:`Catalogue.__reduce__`)."""
    id_, version, effective_date, rows, names, digest = parts
    catalogue = Catalogue.__new__(Catalogue)
    by_code = _Pickled(rows)
    put = object.__setattr__
    put(catalogue, "id", id_)
    put(catalogue, "version", version)
    put(catalogue, "effective_date", effective_date)
    put(catalogue, "_products", None)
    put(catalogue, "_by_code", by_code)
    put(catalogue, "_by_name", _PickledNames(names, by_code))
    put(catalogue, "_digest", digest)
    return catalogue


_PRODUCTS = TypeAdapter(tuple[Product, ...])


def _row_to_dict(values: list[str]) -> dict[str, Any]:
    if len(values) != _NCOLS:
        raise KnowledgeBaseError("catalogue: a row has the wrong number of fields")
    (code, kind, name, ings, amounts, units, basis, volume, form, route, mr, patch, strength,
     ost, derivation, superseded, note, bnf, sources, unit, unit_volume, delivered,
     delivered_source) = values  # fmt: skip
    names, amount_list, unit_list = ings.split(";"), amounts.split(";"), units.split(";")
    if not (len(names) == len(amount_list) == len(unit_list)):
        raise KnowledgeBaseError("catalogue: ingredients, amounts and units differ in length")
    return {
        "dmd_code": code,
        "kind": kind,
        "product_name": name,
        "ingredients": [
            {"name": n, "amount": a, "unit": u}
            for n, a, u in zip(names, amount_list, unit_list, strict=True)
        ],
        "basis": basis,
        "volume_ml": volume or None,
        "form": form,
        "route": route,
        "modified_release": _bool(mr),
        "patch": _bool(patch),
        "strength": strength or None,
        "opioid_dependence_treatment": _bool(ost),
        "derivation": derivation,
        "superseded_by": superseded or None,
        "note": note,
        "bnf_code": bnf,
        "source_codelists": sources.split(";") if sources else [],
        "unit": unit or None,
        "unit_volume_ml": unit_volume or None,
        "delivered_rate": delivered or None,
        "delivered_rate_source": delivered_source,
    }


_NCOLS = len(CATALOGUE_COLUMNS)


def _bool(text: str) -> bool:
    if text == "true":
        return True
    if text == "false":
        return False
    raise KnowledgeBaseError("catalogue: a flag must be 'true' or 'false'")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise KnowledgeBaseError(f"{path.name}: cannot be read as TOML") from exc


def _vocabularies(conversion_tables: Path) -> tuple[frozenset[str], dict[str, str]]:
    """Canonical ingredient names and form -> route, from the validated vocabulary."""
    vocabulary = load_vocabulary(conversion_tables)
    names = frozenset(vocabulary.ingredient_names())
    routes = {f.name: f.route for f in vocabulary.forms()}
    return names, routes


def load_catalogue(
    path: Path | str | None = None, *, conversion_tables: Path | None = None
) -> Catalogue:
    """Load and validate a product catalogue folder (default: the bundled ``catalogue/``).

    ``path`` may be the folder or the CSV file itself. Validation, once, at load: every row is a
    valid :class:`Product` (unknown columns or keys rejected), codes are unique, every ingredient
    and form is in ``conversion_tables`` and each route is its form's route, and products sharing
    a name agree on their clinical content. The default catalogue is loaded once and cached.

    Raises:
        KnowledgeBaseError: the catalogue or a vocabulary file is missing or invalid.

    """
    if path is None and conversion_tables is None:
        return _default_catalogue()
    return _load(path, conversion_tables)


@cache
def _default_catalogue() -> Catalogue:
    """The bundled catalogue, loaded once per process (immutable, so shared safely).

    Read back from the on-disk knowledge cache when it holds this install's
    (``_knowledge/cache.py``).
    """
    return cached("catalogue", Catalogue, _bundled_catalogue)


def _bundled_catalogue() -> Catalogue:
    """The bundled catalogue read from its files, its content hash computed (to be cached)."""
    catalogue = _load(None, None)
    catalogue.content_sha256()
    return catalogue


def _load(  # noqa: PLR0912 - each branch is one validation rule of the catalogue
    path: Path | str | None, conversion_tables: Path | None
) -> Catalogue:
    folder = knowledge_dir("catalogue") if path is None else Path(path)
    csv_path = folder if folder.suffix == ".csv" else folder / CATALOGUE_FILE
    meta_path = csv_path.parent / "catalogue.toml"
    meta = _read_toml(meta_path) if meta_path.is_file() else {}
    tables = conversion_tables or knowledge_dir("conversion_tables")
    ingredient_names, form_routes = _vocabularies(tables)
    try:
        with csv_path.open(encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            if tuple(next(reader, ())) != CATALOGUE_COLUMNS:
                raise KnowledgeBaseError("catalogue: the columns are not the expected ones")
            rows = [_row_to_dict(values) for values in reader]
    except OSError as exc:
        raise KnowledgeBaseError("catalogue: the catalogue file cannot be read") from exc
    except (csv.Error, KeyError, TypeError) as exc:
        raise KnowledgeBaseError("catalogue: the catalogue file is malformed") from exc
    try:
        products = _PRODUCTS.validate_python(rows)
    except ValidationError as exc:
        first = exc.errors(include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise KnowledgeBaseError(f"catalogue: row field {where}: {first['msg']}") from None
    by_code: dict[str, Product] = {}
    by_name: dict[str, Product] = {}
    for product in products:
        if product.dmd_code in by_code:
            raise KnowledgeBaseError("catalogue: a dm+d code appears twice")
        by_code[product.dmd_code] = product
        for ing in product.ingredients:
            if ing.name not in ingredient_names:
                raise KnowledgeBaseError("catalogue: an ingredient is not in ingredients.toml")
        if form_routes.get(product.form) != product.route:
            raise KnowledgeBaseError("catalogue: a form or its route is not in forms.toml")
        if product.derivation is Derivation.SUCCESSOR:
            continue  # "VMP previous to <code>" is a pointer, not a product name
        key = normalise_name(product.product_name)
        other = by_name.get(key)
        if other is None:
            by_name[key] = product
            continue
        if _clinical_key(other) != _clinical_key(product):
            raise KnowledgeBaseError("catalogue: products sharing a name differ in content")
        if _name_rank(product) < _name_rank(other):
            by_name[key] = product
    for product in products:
        if product.superseded_by is not None and product.superseded_by not in by_code:
            raise KnowledgeBaseError("catalogue: a superseded code points outside the catalogue")
    return Catalogue(
        id=str(meta.get("id", "")),
        version=str(meta.get("version", "")),
        products=products,
        _by_code=MappingProxyType(by_code),
        _by_name=MappingProxyType(by_name),
        effective_date=str(meta["effective_date"]) if "effective_date" in meta else None,
    )


def _name_rank(p: Product) -> tuple[int, int]:
    return (0 if p.kind is ProductKind.VMP else 1, int(p.dmd_code))


# --- medicine classes -------------------------------------------------------------------------
class MedicineClass(StrEnum):
    """Classes of medicine recognised by :func:`classify_medicine`."""

    OPIOID = "opioid"
    BENZODIAZEPINE = "benzodiazepine"
    Z_DRUG = "z_drug"
    GABAPENTINOID = "gabapentinoid"
    OPIOID_DEPENDENCE_TREATMENT = "opioid_dependence_treatment"


@dataclass(frozen=True, slots=True)
class _OstRule:
    id: str
    ingredient: str
    with_ingredient: str | None
    any_words: tuple[str, ...]
    none_words: tuple[str, ...]
    min_mg: Decimal | None


@dataclass(frozen=True, slots=True)
class _ClassVocabulary:
    terms: tuple[tuple[str, MedicineClass], ...]  # normalised phrase -> class
    ingredient_terms: tuple[tuple[str, str], ...]  # normalised phrase -> canonical ingredient
    ost_rules: tuple[_OstRule, ...]
    classes_of: Mapping[str, frozenset[MedicineClass]]  # phrase -> its classes
    ingredients_of: Mapping[str, frozenset[str]]  # phrase -> its canonical ingredients
    longest: int  # words in the longest phrase

    def __reduce__(self) -> tuple[Callable[..., _ClassVocabulary], tuple[object, ...]]:
        """Pickle the terms and rules; unpickling indexes them again (the knowledge cache)."""
        return _ClassVocabulary.indexed, (self.terms, self.ingredient_terms, self.ost_rules)

    @staticmethod
    def indexed(
        terms: tuple[tuple[str, MedicineClass], ...],
        ingredient_terms: tuple[tuple[str, str], ...],
        ost_rules: tuple[_OstRule, ...],
    ) -> _ClassVocabulary:
        """The vocabulary with its phrases indexed (a name is then classed by look-ups)."""
        classes: dict[str, set[MedicineClass]] = {}
        for term, cls in terms:
            if term:
                classes.setdefault(term, set()).add(cls)
        ingredients: dict[str, set[str]] = {}
        for term, name in ingredient_terms:
            if term:
                ingredients.setdefault(term, set()).add(name)
        phrases = [*classes, *ingredients]
        return _ClassVocabulary(
            terms,
            ingredient_terms,
            ost_rules,
            MappingProxyType({k: frozenset(v) for k, v in classes.items()}),
            MappingProxyType({k: frozenset(v) for k, v in ingredients.items()}),
            max((len(p.split(" ")) for p in phrases), default=0),
        )

    def phrases_in(self, text: str) -> Iterator[str]:
        """Every run of consecutive words of ``text`` (from :func:`_words`) up to the longest.

        A phrase of the vocabulary is in ``text`` as a whole-word match (:func:`_has`) exactly
        when it is one of these runs: both are words joined by single spaces.
        """
        words = text.split()
        for start in range(len(words)):
            for end in range(start + 1, min(start + self.longest, len(words)) + 1):
                yield " ".join(words[start:end])


_WORD_RE = re.compile(r"[a-z0-9][a-z0-9.\-]*")


def _words(text: str) -> str:
    """Lower-case words joined by single spaces, padded with spaces for whole-word search."""
    return " " + " ".join(m.group(0).rstrip(".") for m in _WORD_RE.finditer(text.lower())) + " "


def _has(haystack: str, phrase: str) -> bool:
    return f" {phrase} " in haystack


@lru_cache(maxsize=4)
def _class_vocabulary(catalogue_dir: Path, conversion_tables: Path) -> _ClassVocabulary:
    """The medicine-class vocabulary of these folders (the bundled one from the knowledge cache)."""
    if catalogue_dir == knowledge_dir("catalogue") and conversion_tables == knowledge_dir(
        "conversion_tables"
    ):
        return cached(
            "class-vocabulary",
            _ClassVocabulary,
            lambda: _read_class_vocabulary(catalogue_dir, conversion_tables),
        )
    return _read_class_vocabulary(catalogue_dir, conversion_tables)


def _read_class_vocabulary(catalogue_dir: Path, conversion_tables: Path) -> _ClassVocabulary:
    classes = _read_toml(catalogue_dir / "medicine_classes.toml")
    brands = _read_toml(catalogue_dir / "brands.toml")
    review = _read_toml(catalogue_dir / "review.toml")
    ingredients = _read_toml(conversion_tables / "ingredients.toml")
    terms: list[tuple[str, MedicineClass]] = []
    ingredient_terms: list[tuple[str, str]] = []
    try:
        for entry in classes["classes"]:
            cls = MedicineClass(entry["id"])
            terms.extend(
                (_words(str(term)).strip(), cls)
                for term in [*entry.get("members", []), *entry.get("brands", [])]
            )
        for entry in ingredients["ingredients"]:
            name = str(entry["name"])
            for term in [name, *entry.get("synonyms", [])]:
                ingredient_terms.append((_words(str(term)).strip(), name))
                if entry.get("opioid"):
                    terms.append((_words(str(term)).strip(), MedicineClass.OPIOID))
        opioid_names = {str(i["name"]) for i in ingredients["ingredients"] if i.get("opioid")}
        for combo in ingredients.get("combinations", []):
            members = [str(i) for i in combo["ingredients"]]
            combo_term = _words(str(combo["name"])).strip()
            ingredient_terms.extend((combo_term, member) for member in members)
            if opioid_names.intersection(members):
                terms.append((_words(str(combo["name"])).strip(), MedicineClass.OPIOID))
        for brand in brands["brands"]:
            members = [str(i) for i in brand["ingredients"]]
            brand_term = _words(str(brand["name"])).strip()
            ingredient_terms.extend((brand_term, member) for member in members)
            terms.append((_words(str(brand["name"])).strip(), MedicineClass.OPIOID))
        for fixed in review.get("fixed", []):  # hand-fixed names without a brand row
            members = [str(i) for i in fixed["ingredients"]]
            fixed_term = _words(str(fixed["name"])).strip()
            ingredient_terms.extend((fixed_term, member) for member in members)
            if opioid_names.intersection(members):
                terms.append((fixed_term, MedicineClass.OPIOID))
        for term, cls in list(terms):  # OST brands are opioid-containing too
            if cls is MedicineClass.OPIOID_DEPENDENCE_TREATMENT:
                terms.append((term, MedicineClass.OPIOID))
        rules = tuple(
            _OstRule(
                id=str(r["id"]),
                ingredient=str(r["ingredient"]),
                with_ingredient=r.get("with_ingredient"),
                any_words=tuple(_words(str(w)).strip() for w in r.get("any_words", [])),
                none_words=tuple(_words(str(w)).strip() for w in r.get("none_words", [])),
                min_mg=Decimal(str(r["min_mg"])) if "min_mg" in r else None,
            )
            for r in classes.get("ost_rules", [])
        )
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise KnowledgeBaseError("medicine_classes.toml: an entry is malformed") from exc
    return _ClassVocabulary.indexed(tuple(terms), tuple(ingredient_terms), rules)


_AMOUNT_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(mg|micrograms?|mcg|g)\b")
_TO_MG = {"mg": Decimal(1), "g": Decimal(1000), "microgram": Decimal("0.001")}


def _first_mass_mg(text: str) -> Decimal | None:
    match = _AMOUNT_RE.search(text.lower())
    if match is None:
        return None
    unit = match.group(2)
    unit = "microgram" if unit.startswith("microgram") or unit == "mcg" else unit
    return Decimal(match.group(1)) * _TO_MG[unit]


def is_opioid_dependence_treatment(
    name: str,
    *,
    catalogue_dir: Path | None = None,
    conversion_tables: Path | None = None,
) -> bool:
    """Whether a product name is a drug for opioid dependence (BNF 4.10.3), by name only.

    Rules and brand list: ``catalogue/medicine_classes.toml`` (class
    ``opioid_dependence_treatment`` and its ``ost_rules``). dm+d does not record indication,
    so this is a rule about presentations; see ``docs/products.md`` for its limits.
    """
    return MedicineClass.OPIOID_DEPENDENCE_TREATMENT in classify_medicine(
        name, catalogue_dir=catalogue_dir, conversion_tables=conversion_tables
    )


def classify_medicine(
    name: str,
    *,
    catalogue_dir: Path | None = None,
    conversion_tables: Path | None = None,
) -> frozenset[MedicineClass]:
    """Return the classes a medicine name belongs to (empty if none is recognised).

    Whole-word, case-insensitive matching of ingredient names, salts, BNF compound names and
    brand names from ``catalogue/medicine_classes.toml``, ``catalogue/brands.toml``,
    ``conversion_tables/ingredients.toml`` and the hand-fixed names of
    ``catalogue/review.toml``; plus the opioid-dependence rules. Never fuzzy:
    ``"Diazepam 5mg tablets"`` is a benzodiazepine, ``"Diazepan"`` is nothing.
    """
    if not isinstance(name, str):
        return frozenset()
    vocab = _class_vocabulary(
        catalogue_dir or knowledge_dir("catalogue"),
        conversion_tables or knowledge_dir("conversion_tables"),
    )
    text = _words(name)
    found: set[MedicineClass] = set()
    ingredients: set[str] = set()
    for phrase in vocab.phrases_in(text):  # each phrase of the name, looked up (issue 20)
        found.update(vocab.classes_of.get(phrase, ()))
        ingredients.update(vocab.ingredients_of.get(phrase, ()))
    for rule in vocab.ost_rules:
        if rule.ingredient not in ingredients:
            continue
        if rule.with_ingredient is not None and rule.with_ingredient not in ingredients:
            continue
        if rule.any_words and not any(_has(text, w) for w in rule.any_words):
            continue
        if any(_has(text, w) for w in rule.none_words):
            continue
        if rule.min_mg is not None:
            mg = _first_mass_mg(name)
            if mg is None or mg < rule.min_mg:
                continue
        found.add(MedicineClass.OPIOID_DEPENDENCE_TREATMENT)
        found.add(MedicineClass.OPIOID)
    return frozenset(found)


_LETTERS = re.compile(r"[a-z]+")


def names_an_opioid(name: str, vocabulary: Vocabulary | None = None) -> bool:
    """Whether a medicine's name names an opioid.

    True when :func:`classify_medicine` classes it as an opioid (an opioid ingredient, salt,
    compound name such as co-codamol, or brand) or when one of its words is an opioid
    ingredient of the vocabulary. Used to decide whether a medicine that could not be read may
    hide part of a patient's opioid total; a name that names no opioid ("Amlodipine 5mg
    tablets") is taken as not one, which its dm+d name would say.
    """
    if MedicineClass.OPIOID in classify_medicine(name):
        return True
    vocab = vocabulary if vocabulary is not None else default_vocabulary()
    for word in _LETTERS.findall(name.lower()):
        found = vocab.find_drug(word)
        if found and any(vocab.is_opioid(i) for i in found):
            return True
    return False
