"""Conversion tables: versioned, cited OME factors per ingredient and route.

A table file (``conversion_tables/<id>.toml``) carries ``id``, ``version``, ``effective_date``,
``citations`` and ``factors`` rows keyed by ``(ingredient, route)``. Each row gives an exact
decimal ``factor`` (a string, never a binary float) per unit ``per`` of the ingredient
(``"mg"`` per day, or ``"microgram/hour"`` for patches), or ``convertible = false`` with the
``reason`` there is no factor (methadone in the UK table). At load every ``per`` unit is checked
with pint, every ingredient and route against the vocabulary, every citation id against the
file's citations, and duplicate keys are rejected.

Bundled tables: ``uk-opioids-aware`` (default; Faculty of Pain Medicine *Opioids Aware* and the
BNF, see ``docs/calculation.md``) and ``cdc-2022``.
"""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, model_validator

from opioidcds._display import citation_title, format_date
from opioidcds._errors import InvalidInputError, KnowledgeBaseError
from opioidcds._knowledge.cache import cached
from opioidcds._knowledge.files import (
    KnowledgeHeader,
    KnowledgeModel,
    check_citations,
    model_sha256,
    read_knowledge_file,
)
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds._knowledge.units import Dimension, convert, pint_expression, unit_dimension
from opioidcds._knowledge.vocabulary import Vocabulary, default_vocabulary

__all__ = [
    "BUNDLED_TABLES",
    "DEFAULT_TABLE_ID",
    "ConversionTable",
    "FactorRow",
    "TableFile",
    "default_table",
    "load_table",
    "table_name",
    "table_sources",
]

DEFAULT_TABLE_ID = "uk-opioids-aware"
BUNDLED_TABLES = ("cdc-2022", "uk-opioids-aware")

# The units in which the calculator expresses an item's daily amount, by the item's kind:
# mass per day for everything but patches, delivery rate for patches.
_AMOUNT_UNITS: dict[Dimension, str] = {
    Dimension.MASS: "milligram / day",
    Dimension.RATE: "microgram / hour",
}


class FactorRow(KnowledgeModel):
    """One row of a conversion table."""

    ingredient: str = Field(min_length=1)
    route: str = Field(min_length=1)
    factor: str | None = Field(default=None, pattern=r"^\d+(\.\d+)?$")
    per: str | None = None
    convertible: bool = True
    reason: str | None = None
    citations: tuple[str, ...] = Field(min_length=1)
    note: str | None = None
    patch_rate: Literal["labelled", "delivered"] = "labelled"
    """For a row per microgram/hour: ``"delivered"`` applies the factor to the rate a patch
    releases where its SmPC states one (the catalogue's ``delivered_rate``: fentanyl "12"
    patches release 12.5), ``"labelled"`` (default) to the labelled strength."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.patch_rate == "delivered" and self.per is not None and "hour" not in self.per:
            raise ValueError("patch_rate applies only to a factor per microgram/hour")
        if self.convertible:
            if self.factor is None or self.per is None:
                raise ValueError("a convertible row needs factor and per")
            if Decimal(self.factor) <= 0:
                raise ValueError("factor must be greater than zero")
        elif self.factor is not None or not self.reason:
            raise ValueError("a row with convertible = false has a reason and no factor")
        return self


class TableFile(KnowledgeHeader):
    """A conversion table file as written."""

    factors: tuple[FactorRow, ...] = Field(min_length=1)


# Every distinct file of a table loaded in this process, by (id, version), with its SHA-256 (what
# provenance records): what :func:`table_name` and :func:`table_sources` name a result's table
# and sources by (a result keeps only the ids and the hash). Two files may share an id and a
# version (a local copy of a bundled table whose id was not changed): the hash tells them apart.
_LOADED: dict[tuple[str, str], dict[str, TableFile]] = {}
_LOADED_LOCK = threading.Lock()


def _remember(file: TableFile) -> None:
    """Record ``file`` as loaded in this process (see :data:`_LOADED`)."""
    digest = model_sha256(file)
    with _LOADED_LOCK:
        _LOADED.setdefault((file.id, file.version), {})[digest] = file


class ConversionTable:
    """An immutable, validated conversion table with O(1) look-up by (ingredient, route).

    ``multiplier(row, dimension)`` is the exact factor taking an item's daily amount (mg/day
    for mass items, microgram/hour for patches) into the row's ``per`` unit, derived by pint
    at load.
    """

    __slots__ = ("_index", "_multipliers", "file")

    def __init__(self, file: TableFile, vocabulary: Vocabulary, source: str) -> None:
        """Validate ``file`` against ``vocabulary``; raises KnowledgeBaseError naming ``source``."""
        self.file = file
        check_citations(
            source, file, {f"factors[{i}]": list(r.citations) for i, r in enumerate(file.factors)}
        )
        index: dict[tuple[str, str], FactorRow] = {}
        multipliers: dict[tuple[str, str, Dimension], tuple[Decimal, bool]] = {}
        for i, row in enumerate(file.factors):
            where = f"{source}: factors[{i}]"
            try:
                vocabulary.ingredient(row.ingredient)
            except LookupError:
                raise KnowledgeBaseError(f"{where}: ingredient not in the vocabulary") from None
            if row.route not in vocabulary.routes:
                raise KnowledgeBaseError(f"{where}: route not in the forms vocabulary")
            key = (row.ingredient, row.route)
            if key in index:
                raise KnowledgeBaseError(f"{where}: duplicate row for this ingredient and route")
            index[key] = row
            if row.per is not None:
                for dim, amount_unit in _AMOUNT_UNITS.items():
                    multipliers[(*key, dim)] = _multiplier(row.per, amount_unit, where)
        self._index = index
        self._multipliers = multipliers
        _remember(file)

    @property
    def id(self) -> str:
        """The table's id, e.g. ``"uk-opioids-aware"``."""
        return self.file.id

    @property
    def version(self) -> str:
        """The table's version."""
        return self.file.version

    def name(self) -> str:
        """This table as people read it: its title, version and effective date.

        Its own file's (:func:`table_name`, which names a result's table from what this
        process loaded).
        """
        return _name(self.file, self.id, self.version, None)

    def lookup(self, ingredient: str, route: str) -> FactorRow | None:
        """Return the row for ``(ingredient, route)``, or ``None`` if the table has none."""
        return self._index.get((ingredient, route))

    def multiplier(self, row: FactorRow, dimension: Dimension) -> tuple[Decimal, bool]:
        """Return (multiplier, exact) from an item's daily amount to ``row.per`` units."""
        return self._multipliers[(row.ingredient, row.route, dimension)]

    def rows(self) -> tuple[FactorRow, ...]:
        """All rows, in file order."""
        return self.file.factors


def _multiplier(per: str, amount_unit: str, where: str) -> tuple[Decimal, bool]:
    """Derive the multiplier from ``amount_unit`` to ``per`` (per day when ``per`` is a mass)."""
    try:
        dim = unit_dimension(per)
    except InvalidInputError:
        raise KnowledgeBaseError(f"{where}: 'per' is not an allow-listed unit") from None
    if dim is Dimension.MASS:
        target = f"{pint_expression(per)} / day"
    elif dim is Dimension.RATE:
        target = pint_expression(per)
    else:
        raise KnowledgeBaseError(f"{where}: 'per' must be a mass or a mass per time")
    value = convert(Decimal(1), amount_unit, target)
    # exact when the conversion round-trips to exactly 1 (every pair but mg/day ->
    # microgram/hour, which divides by 24 and so does not terminate in decimal)
    exact = Fraction(value) * Fraction(convert(Decimal(1), target, amount_unit)) == 1
    return value, exact


def load_table(source: str | Path, *, vocabulary: Vocabulary | None = None) -> ConversionTable:
    """Load a conversion table by bundled id (``"cdc-2022"``) or from a TOML file path.

    Raises:
        KnowledgeBaseError: unknown id, unreadable or invalid file.
    """
    vocab = vocabulary if vocabulary is not None else default_vocabulary()
    if isinstance(source, str) and source in BUNDLED_TABLES:
        path = knowledge_dir("conversion_tables") / f"{source}.toml"
    elif isinstance(source, Path) or source.endswith(".toml"):
        path = Path(source)
    else:
        raise KnowledgeBaseError("table: not a bundled table id nor a .toml path")
    return ConversionTable(read_knowledge_file(path, TableFile), vocab, path.name)


@cache
def default_table(table_id: str = DEFAULT_TABLE_ID) -> ConversionTable:
    """A bundled table, loaded once per process and shared (it is immutable).

    Read back from the on-disk knowledge cache when it holds this install's
    (``_knowledge/cache.py``).

    Raises:
        KnowledgeBaseError: ``table_id`` is not a bundled table.
    """
    if table_id not in BUNDLED_TABLES:
        raise KnowledgeBaseError("table: not a bundled table id")
    return cached(f"table:{table_id}", ConversionTable, lambda: load_table(table_id))


def _known_file(table_id: str, version: str, sha256: str | None) -> TableFile | None:
    """The file of the table with this id and version loaded in this process, if known.

    With ``sha256`` (the hash a result's provenance records), only the file with that hash;
    without, the one file of this id and version, or ``None`` when this process loaded two
    different ones (which of them is meant is not known). A bundled table read back from the
    knowledge cache (not built here, so not in :data:`_LOADED`) is recorded on first use.
    """
    bundled = default_table(table_id).file if table_id in BUNDLED_TABLES else None
    if bundled is not None and bundled.version == version:
        with _LOADED_LOCK:
            files = _LOADED.get((table_id, version), {})
            known = any(f is bundled for f in files.values())
        if not known:
            _remember(bundled)
    with _LOADED_LOCK:
        files = dict(_LOADED.get((table_id, version), {}))
    if sha256 is not None:
        return files.get(sha256)
    return next(iter(files.values())) if len(files) == 1 else None


def table_name(
    table_id: str, version: str, effective_date: str | None = None, *, sha256: str | None = None
) -> str:
    """What people read for a conversion table: its title, its version and its effective date.

    ``"UK oral morphine equivalents: Opioids Aware and BNF, with OpenPrescribing for products
    they do not cover, version 1.1.1, effective 4 Dec 2026"``: the ``title`` of the table's
    file, never its id. The file is the one loaded in this process with this id and version
    and, given ``sha256`` (the table's hash in a result's provenance), that hash: a local copy
    of a bundled table that kept its id and version is never named by the bundled title, nor
    the bundled table by the copy's. ``effective_date`` (ISO) is the one a result records;
    without it, that of the file (none when the file is not known). A table whose file gives
    no title (a local table may leave it out), or whose file is not known here (not loaded in
    this process, or two loaded with this id and version and no ``sha256``), is named by its
    id in quotes: ``'conversion table "my-table", version 0.1'``. For human text only: the
    machine-readable fields (``table_id``, ``table_version``, provenance) keep the id.
    """
    return _name(_known_file(table_id, version, sha256), table_id, version, effective_date)


def _name(file: TableFile | None, table_id: str, version: str, effective_date: str | None) -> str:
    """:func:`table_name` of ``file`` (``None``: not known)."""
    name = (file.title if file is not None else None) or f'conversion table "{table_id}"'
    if effective_date is not None:
        when: dt.date | None = dt.date.fromisoformat(effective_date)
    else:
        when = file.effective_date if file is not None else None
    effective = f", effective {format_date(when)}" if when is not None else ""
    return f"{name}, version {version}{effective}"


def table_sources(table_id: str, version: str, *, sha256: str | None = None) -> dict[str, str]:
    """The citations of a conversion table as people read them: id -> short title.

    ``{"OA": "Faculty of Pain Medicine of the Royal College of Anaesthetists. Opioids Aware",
    ...}`` (:func:`~opioidcds._display.citation_title` of each citation's text), from the file
    :func:`table_name` names the table by (the same ``sha256``); empty when it is not known
    (what a citation id stands for in another file is not this table's source).
    """
    file = _known_file(table_id, version, sha256)
    if file is None:
        return {}
    return {c.id: citation_title(c.text) for c in file.citations}
