"""RxNorm opioid products: ingredient, strength and dose form per RxNorm code (RXCUI).

The data is ``codelists/rxnorm-opioid-products.toml``: a cited subset of the CQF Opioid
Management Terminology Knowledge (OMTK) table ``DrugIngredients`` (cqframework opioid-mme-r4,
OMTKData 3.0.0, an RxNav extract of 2020-01-13), and the RxNorm dose forms (TTY=DF) mapped to
form names of ``conversion_tables/forms.toml``. A row that is not an OMTK row (a branded drug
component, which RxNorm names without a dose form) says which OMTK row it takes its dose form
from (``derived_from``) and cites why; the loader checks that row agrees with it. The FHIR
adapter reads an RxNorm-coded order by its code through this table before it looks at the
coding's display.

Loaded and validated once; immutable.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from opioidcds._errors import KnowledgeBaseError
from opioidcds._knowledge.files import read_knowledge_file
from opioidcds._knowledge.paths import knowledge_dir

__all__ = ["RxNormDoseForm", "RxNormProductRow", "RxNormProducts", "default_rxnorm_products"]

_RXCUI = r"^[0-9]{1,10}$"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


class _Citation(_Model):
    id: str = Field(min_length=1, max_length=40)
    text: str = Field(min_length=1, max_length=1000)


class RxNormDoseForm(_Model):
    """An RxNorm dose form and the form name of ``forms.toml`` it is (None: no such form)."""

    rxcui: str = Field(pattern=_RXCUI)
    name: str = Field(min_length=1, max_length=200)
    form: str | None = Field(default=None, min_length=1, max_length=100)
    note: str | None = Field(default=None, max_length=1000)


class RxNormProductRow(_Model):
    """One opioid ingredient of one RxNorm product (OMTK ``DrugIngredients`` row).

    ``strength`` is RxNorm's strength text (``"10 MG"``, ``"0.075 MG/HR"``, ``"1 MG/ML"``).
    ``derived_from`` names the OMTK row a non-OMTK row takes its dose form from (same
    ingredient and strength); such a row carries its own ``citations`` and ``note``.
    """

    rxcui: str = Field(pattern=_RXCUI)
    name: str = Field(min_length=1, max_length=400)
    dose_form: str = Field(pattern=_RXCUI)
    ingredient: str = Field(pattern=_RXCUI)
    ingredient_name: str = Field(min_length=1, max_length=100)
    strength: str = Field(pattern=r"^(?:\d+(?:\.\d+)?|\.\d+) [A-Z]+(?:/[A-Z]+)?$")
    note: str | None = Field(default=None, max_length=1000)
    derived_from: str | None = Field(default=None, pattern=_RXCUI)
    citations: tuple[str, ...] = ()


class RxNormProducts(_Model):
    """The RxNorm product table (see the module docstring)."""

    id: str = Field(min_length=1, max_length=100)
    version: str = Field(min_length=1, max_length=40)
    effective_date: dt.date
    title: str = Field(min_length=1, max_length=300)
    owner: str = Field(min_length=1, max_length=200)
    reviewed: bool
    citations: tuple[_Citation, ...] = Field(min_length=1)
    dose_forms: tuple[RxNormDoseForm, ...] = Field(min_length=1)
    products: tuple[RxNormProductRow, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> RxNormProducts:
        forms = {f.rxcui for f in self.dose_forms}
        if len(forms) != len(self.dose_forms):
            raise ValueError("a dose form is listed twice")
        cited = {c.id for c in self.citations}
        seen: dict[tuple[str, str], RxNormProductRow] = {}
        for row in self.products:
            if row.dose_form not in forms:
                raise ValueError(f"product {row.rxcui}: dose form {row.dose_form} is not listed")
            key = (row.rxcui, row.ingredient)
            if key in seen:
                raise ValueError(f"product {row.rxcui}: ingredient {row.ingredient} listed twice")
            seen[key] = row
            if any(c not in cited for c in row.citations):
                raise ValueError(f"product {row.rxcui}: cites an id not in citations")
        for row in self.products:
            if row.derived_from is not None:
                _check_derived(row, seen.get((row.derived_from, row.ingredient)))
        return self

    def rows(self, rxcui: str) -> tuple[RxNormProductRow, ...]:
        """The opioid-ingredient rows of product ``rxcui`` (empty: not in the table)."""
        return self._index().get(rxcui.strip(), ())

    def dose_form(self, rxcui: str) -> RxNormDoseForm:
        """The dose form with code ``rxcui`` (every product's form is listed: validated)."""
        return next(f for f in self.dose_forms if f.rxcui == rxcui)

    def _index(self) -> dict[str, tuple[RxNormProductRow, ...]]:
        return _index_of(self)


def _check_derived(row: RxNormProductRow, source: RxNormProductRow | None) -> None:
    """A non-OMTK row must cite, explain itself, and agree with the OMTK row it derives from."""
    if not row.citations or not row.note:
        raise ValueError(f"product {row.rxcui}: a derived row needs citations and a note")
    if source is None or source.derived_from is not None:
        raise ValueError(f"product {row.rxcui}: derived_from names no OMTK row of its ingredient")
    if (source.dose_form, source.strength) != (row.dose_form, row.strength):
        raise ValueError(f"product {row.rxcui}: dose form or strength differs from derived_from")


@cache
def _index_of(table: RxNormProducts) -> dict[str, tuple[RxNormProductRow, ...]]:
    out: dict[str, list[RxNormProductRow]] = {}
    for row in table.products:
        out.setdefault(row.rxcui, []).append(row)
    return {k: tuple(v) for k, v in out.items()}


def load_rxnorm_products(path: str | Path) -> RxNormProducts:
    """Load and validate an RxNorm product table.

    Raises:
        KnowledgeBaseError: unreadable file, unknown keys, a product whose dose form is not
            listed, a product-ingredient pair listed twice.
    """
    return read_knowledge_file(Path(path), RxNormProducts)


@cache
def default_rxnorm_products() -> RxNormProducts:
    """The bundled table (``codelists/rxnorm-opioid-products.toml``), loaded once.

    Raises:
        KnowledgeBaseError: the bundled file is missing or invalid.
    """
    path = knowledge_dir("codelists") / "rxnorm-opioid-products.toml"
    if not path.is_file():
        raise KnowledgeBaseError("rxnorm-opioid-products.toml is missing from the install")
    return load_rxnorm_products(path)
