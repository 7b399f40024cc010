"""The catalogue of inputs the library supplies to each bundled ruleset.

The file is ``inputs/supplied-inputs.toml`` (``kind = "input-catalogue"``). A ruleset input
that no code supplies is unknown for every patient: a rule reading it can never fire (or is
"cannot evaluate" for ever). The catalogue lists, per ruleset id, the inputs the library
derives; the linter reports a rule that reads any other input
(:func:`opioidcds._decide.rules.checks.unsupplied_findings`; the bundled catalogue is read by
:func:`opioidcds._decide.rules.loader.bundled_supplied_inputs`). A ruleset id the catalogue
does not list is not run by the library, and is not checked against it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from pydantic import Field, ValidationError

from opioidcds._decide.rules.errors import RulesetLoadError
from opioidcds._decide.rules.schema import Date, Name, Slug, Text, Version, _Doc

__all__ = ["CATALOGUE_FILE", "SuppliedEntry", "SuppliedInputs", "supplied_from"]

CATALOGUE_FILE = "supplied-inputs.toml"
"""File name of the catalogue in the bundled ``inputs/`` folder."""


class _FamilyDoc(_Doc):
    """Inputs named ``<prefix><rule id>`` for each rule of another ruleset."""

    prefix: Name
    rules_of: Slug


class _EntryDoc(_Doc):
    supplied_by: Text
    inputs: list[Name] = Field(default_factory=list)
    family: _FamilyDoc | None = None


class _CatalogueDoc(_Doc):
    kind: Literal["input-catalogue"]
    id: Slug
    version: Version
    effective_date: Date
    owner: Text
    description: Text
    rulesets: dict[Slug, _EntryDoc] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class SuppliedEntry:
    """What the library supplies to one ruleset, and which part of it does."""

    supplied_by: str
    inputs: frozenset[str]
    family_prefix: str | None
    family_rules_of: str | None


@dataclass(frozen=True, slots=True)
class SuppliedInputs:
    """The loaded catalogue: ruleset id -> what the library supplies to it."""

    id: str
    version: str
    effective_date: dt.date
    source: str
    entries: Mapping[str, SuppliedEntry]

    def supplies(self, ruleset_id: str, name: str, rule_ids: Mapping[str, frozenset[str]]) -> bool:
        """Whether the library supplies input ``name`` to ruleset ``ruleset_id``.

        ``rule_ids`` gives the rule ids of the rulesets a family reads (``factor_<id>`` for
        each rule of ``risk-factors``). A ruleset the catalogue does not list supplies nothing
        and is not run by the library: callers skip it.
        """
        entry = self.entries.get(ruleset_id)
        if entry is None:
            return False
        if name in entry.inputs:
            return True
        if entry.family_prefix is None or entry.family_rules_of is None:
            return False
        if not name.startswith(entry.family_prefix):
            return False
        rule = name.removeprefix(entry.family_prefix).replace("_", "-")
        return rule in rule_ids.get(entry.family_rules_of, frozenset())


def supplied_from(path: Path, data: Mapping[str, object]) -> SuppliedInputs:
    """Build the catalogue from a parsed file.

    Raises:
        RulesetLoadError: unknown keys, a missing field, a bad name.
    """
    try:
        doc = _CatalogueDoc.model_validate(dict(data))
    except ValidationError as exc:
        raise RulesetLoadError.from_validation(path, exc) from None
    return SuppliedInputs(
        id=doc.id,
        version=doc.version,
        effective_date=doc.effective_date,
        source=str(path),
        entries=MappingProxyType(
            {
                rid: SuppliedEntry(
                    e.supplied_by,
                    frozenset(e.inputs),
                    e.family.prefix if e.family else None,
                    e.family.rules_of if e.family else None,
                )
                for rid, e in doc.rulesets.items()
            }
        ),
    )
