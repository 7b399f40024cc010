"""Dose-unit codes real systems send, from ``conversion_tables/dose_units.toml``.

FHIR Quantities carry a unit as a (system, code) pair: UCUM (``mg``, ``{tab}``, ``{tbl}``), HL7
v3 orderableDrugForm (``TAB``, ``CAP``), or a dm+d unit of measure as a SNOMED CT code
(``428673006`` tablet). This module maps those codes to the dose units of opioidcds, from a
versioned, cited knowledge file: the mapping is data, not code (issue 18). It also holds the
groups of count nouns that count the same solid dose (a dosage text that says "Tablets" for a
capsule product).

Look-ups are exact: a code the file does not list gives ``None`` (the caller then refuses or
falls back to the unit text), never a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from pydantic import Field

from opioidcds._errors import InvalidInputError, KnowledgeBaseError
from opioidcds._knowledge.files import (
    KnowledgeHeader,
    KnowledgeModel,
    check_citations,
    read_knowledge_file,
)
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds._knowledge.units import COUNT_NOUNS, unit_dimension

__all__ = [
    "DOSE_UNITS_FILE",
    "CountGroup",
    "DoseUnitCode",
    "DoseUnits",
    "DoseUnitsFile",
    "SystemAliases",
    "default_dose_units",
    "load_dose_units",
]

DOSE_UNITS_FILE = "dose_units.toml"


class DoseUnitCode(KnowledgeModel):
    """One code of a unit system and the opioidcds dose unit it means."""

    system: str = Field(min_length=1)
    code: str = Field(min_length=1)
    unit: str = Field(min_length=1)
    display: str | None = None
    citations: tuple[str, ...]
    note: str | None = None


class SystemAliases(KnowledgeModel):
    """A code system and the other URIs senders use for it."""

    uri: str = Field(min_length=1)
    aliases: tuple[str, ...] = Field(min_length=1)
    citations: tuple[str, ...]


class CountGroup(KnowledgeModel):
    """Count nouns that count the same dose of a product (``tablet`` and ``capsule``)."""

    name: str = Field(min_length=1)
    nouns: tuple[str, ...] = Field(min_length=2)
    applies_to: Literal["dosage text"]
    citations: tuple[str, ...]
    rationale: str = Field(min_length=1)


class DoseUnitsFile(KnowledgeHeader):
    """``conversion_tables/dose_units.toml`` as written."""

    systems: tuple[SystemAliases, ...] = ()
    codes: tuple[DoseUnitCode, ...] = Field(min_length=1)
    count_groups: tuple[CountGroup, ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class DoseUnits:
    """The validated dose-unit table, with exact look-ups (immutable; shared between threads)."""

    file: DoseUnitsFile
    _codes: Mapping[tuple[str, str], str]
    _aliases: Mapping[str, str]
    _groups: Mapping[str, frozenset[str]]

    @property
    def version(self) -> str:
        """The file's version."""
        return self.file.version

    def system(self, uri: str) -> str:
        """The canonical URI of a code system (an alias gives the system it stands for)."""
        return self._aliases.get(uri, uri)

    def unit(self, system: str | None, code: str | None) -> str | None:
        """The opioidcds dose unit of a (system, code) pair, or ``None`` if the table has none."""
        if system is None or code is None:
            return None
        return self._codes.get((self.system(system.strip()), code.strip()))

    def same_solid_dose(self, a: str, b: str) -> bool:
        """Whether two count nouns (singular) are in one group that applies to dosage text."""
        group = self._groups.get(a)
        return group is not None and b in group


def _singular(noun: str) -> str:
    if noun == "patches":
        return "patch"
    if noun == "suppositories":
        return "suppository"
    return noun[:-1] if noun.endswith("s") and noun[:-1] in COUNT_NOUNS else noun


def _check_unit(unit: str, where: str) -> None:
    if unit in COUNT_NOUNS and _singular(unit) == unit:
        return
    try:
        unit_dimension(unit)
    except InvalidInputError:
        raise KnowledgeBaseError(
            f"{where}: unit must be a singular count noun or an allow-listed unit"
        ) from None


def _build(file: DoseUnitsFile, source: str) -> DoseUnits:
    used = {f"codes[{i}]": list(c.citations) for i, c in enumerate(file.codes)}
    used |= {f"systems[{i}]": list(s.citations) for i, s in enumerate(file.systems)}
    used |= {f"count_groups[{i}]": list(g.citations) for i, g in enumerate(file.count_groups)}
    check_citations(source, file, used)
    aliases: dict[str, str] = {}
    for i, entry in enumerate(file.systems):
        for alias in entry.aliases:
            if alias in aliases or alias == entry.uri:
                raise KnowledgeBaseError(f"{source}: systems[{i}]: an alias appears twice")
            aliases[alias] = entry.uri
    codes: dict[tuple[str, str], str] = {}
    for i, row in enumerate(file.codes):
        where = f"{source}: codes[{i}]"
        if row.system in aliases:
            raise KnowledgeBaseError(f"{where}: use the system's canonical URI, not an alias")
        _check_unit(row.unit, where)
        key = (row.system, row.code)
        if key in codes:
            raise KnowledgeBaseError(f"{where}: this system and code appear twice")
        codes[key] = row.unit
    groups: dict[str, frozenset[str]] = {}
    for i, group in enumerate(file.count_groups):
        where = f"{source}: count_groups[{i}]"
        members = frozenset(group.nouns)
        for noun in group.nouns:
            if noun not in COUNT_NOUNS or _singular(noun) != noun:
                raise KnowledgeBaseError(f"{where}: nouns must be singular count nouns")
            if noun in groups:
                raise KnowledgeBaseError(f"{where}: a noun is in two groups")
            groups[noun] = members
    return DoseUnits(
        file, MappingProxyType(codes), MappingProxyType(aliases), MappingProxyType(groups)
    )


def load_dose_units(path: Path | str | None = None) -> DoseUnits:
    """Load and validate a dose-unit file (default: the bundled one, cached).

    Raises:
        KnowledgeBaseError: the file is missing or invalid (unknown keys, a unit off the
            allow-list, a duplicate code, a dangling citation).
    """
    if path is None:
        return default_dose_units()
    file_path = Path(path)
    return _build(read_knowledge_file(file_path, DoseUnitsFile), file_path.name)


@cache
def default_dose_units() -> DoseUnits:
    """The bundled ``conversion_tables/dose_units.toml``, loaded once per process."""
    path = knowledge_dir("conversion_tables") / DOSE_UNITS_FILE
    return _build(read_knowledge_file(path, DoseUnitsFile), path.name)
