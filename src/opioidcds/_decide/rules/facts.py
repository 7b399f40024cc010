"""The typed catalogue of patient facts a local ruleset may read (issue 23).

The file is ``inputs/patient-facts.toml`` (``kind = "fact-catalogue"``). A local ruleset that
declares ``runs_for = "every-patient"`` is evaluated by the library for every patient (assess
and screen) on these facts, derived once per patient
(:func:`opioidcds._decide.patient_facts.derive_facts`). :func:`fact_findings` reports, with
the rule's file and line, every rule of such a ruleset that reads a name the catalogue does
not list, or declares it with another type, unit or fewer enum values than the library
supplies (it would be unknown for every patient, or refused at run time).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from pydantic import Field, ValidationError

from opioidcds._decide.rules.conditions import FieldSpec
from opioidcds._decide.rules.errors import RulesetLoadError
from opioidcds._decide.rules.evaluator import Ruleset
from opioidcds._decide.rules.kinds import RUNS_FOR_EVERY_PATIENT
from opioidcds._decide.rules.linter import Finding, Severity
from opioidcds._decide.rules.schema import Date, InputDoc, Name, Slug, Text, Version, _Doc

__all__ = [
    "FACTS_FILE",
    "RUNS_FOR_EVERY_PATIENT",
    "Fact",
    "FactCatalogue",
    "fact_findings",
    "facts_from",
]

FACTS_FILE = "patient-facts.toml"
"""File name of the catalogue in the bundled ``inputs/`` folder."""


class _FactDoc(InputDoc):
    derived_from: Text


class _FamilyDoc(_Doc):
    prefix: Name
    rules_of: Slug
    type: Literal["boolean"]
    description: Text


class _CatalogueDoc(_Doc):
    kind: Literal["fact-catalogue"]
    id: Slug
    version: Version
    effective_date: Date
    owner: Text
    description: Text
    supplied_by: Text
    facts: dict[Name, _FactDoc] = Field(min_length=1)
    family: _FamilyDoc | None = None


@dataclass(frozen=True, slots=True)
class Fact:
    """One patient fact: its name, type, unit, enum values (lowest first) and derivation."""

    name: str
    type: str
    unit: str | None
    values: tuple[str, ...]
    ordered: bool
    description: str
    derived_from: str
    minimum: Decimal | None = None
    maximum: Decimal | None = None


@dataclass(frozen=True, slots=True)
class FactCatalogue:
    """The loaded catalogue: fact name -> fact, and the ``factor_<id>`` family."""

    id: str
    version: str
    effective_date: dt.date
    source: str
    supplied_by: str
    facts: Mapping[str, Fact]
    family_prefix: str | None
    family_rules_of: str | None
    family_description: str | None

    def fact(self, name: str, family_ids: frozenset[str]) -> Fact | None:
        """The fact ``name`` (a listed fact, or ``factor_<id>`` for a rule id in ``family_ids``).

        ``None`` when the library supplies no such fact.
        """
        found = self.facts.get(name)
        if found is not None:
            return found
        prefix = self.family_prefix
        if prefix is None or not name.startswith(prefix):
            return None
        if name.removeprefix(prefix).replace("_", "-") not in family_ids:
            return None
        return Fact(name, "boolean", None, (), True, self.family_description or "", "family")


def facts_from(path: Path, data: Mapping[str, object]) -> FactCatalogue:
    """Build the catalogue from a parsed file.

    Raises:
        RulesetLoadError: unknown keys, a missing field, a bad name or type.
    """
    try:
        doc = _CatalogueDoc.model_validate(dict(data))
    except ValidationError as exc:
        raise RulesetLoadError.from_validation(path, exc) from None
    return FactCatalogue(
        id=doc.id,
        version=doc.version,
        effective_date=doc.effective_date,
        source=str(path),
        supplied_by=doc.supplied_by,
        facts=MappingProxyType(
            {
                name: Fact(
                    name,
                    f.type,
                    f.unit,
                    tuple(f.values or ()),
                    f.ordered,
                    f.description or "",
                    f.derived_from,
                    f.min,
                    f.max,
                )
                for name, f in doc.facts.items()
            }
        ),
        family_prefix=doc.family.prefix if doc.family else None,
        family_rules_of=doc.family.rules_of if doc.family else None,
        family_description=doc.family.description if doc.family else None,
    )


def _mismatch(spec: FieldSpec, fact: Fact) -> str | None:
    """Why the ruleset's declaration of ``spec`` cannot hold the fact, or ``None``."""
    missing = [v for v in fact.values if v not in spec.values]
    problems = (
        (spec.required, "declared required, but a patient fact may be unknown (remove 'required')"),
        (spec.type.value != fact.type, f"declared {spec.type.value}, but the fact is {fact.type}"),
        (
            fact.unit is not None and spec.unit is not None and spec.unit != fact.unit,
            f"declared in {spec.unit}, but the fact is in {fact.unit}",
        ),
        (
            spec.minimum is not None and (fact.minimum is None or spec.minimum > fact.minimum),
            "declares a minimum the fact may be below (remove 'min' or lower it)",
        ),
        (
            spec.maximum is not None and (fact.maximum is None or spec.maximum < fact.maximum),
            "declares a maximum the fact may be above (remove 'max' or raise it)",
        ),
        (
            bool(missing),
            "declares fewer values than the fact can take (missing "
            + ", ".join(f"'{v}'" for v in missing)
            + ")",
        ),
    )
    return next((why for wrong, why in problems if wrong), None)


def fact_findings(
    rulesets: Mapping[str, Ruleset], catalogue: FactCatalogue, family_ids: frozenset[str]
) -> list[Finding]:
    """Each rule of an every-patient ruleset that reads a fact the library does not supply.

    Also a declared input whose type, unit or enum values cannot hold the fact. Rulesets
    without ``runs_for`` are skipped (no command runs them on the facts).
    """
    out: list[Finding] = []
    for rid, rs in rulesets.items():
        if rs.runs_for != RUNS_FOR_EVERY_PATIENT:
            continue
        specs = {f.name: f for f in rs.inputs}
        for rule in rs.rules:
            for name in rule.fields:
                fact = catalogue.fact(name, family_ids)
                if fact is None:
                    why = (
                        f"reads input '{name}', which is not a patient fact the library "
                        f"supplies (catalogue {catalogue.id} {catalogue.version}, "
                        "docs/local-rules.md): it would be unknown for every patient"
                    )
                else:
                    problem = _mismatch(specs[name], fact)
                    if problem is None:
                        continue
                    why = f"input '{name}': {problem} (catalogue {catalogue.id})"
                out.append(
                    Finding(
                        Severity.ERROR,
                        "unsupplied-input",
                        f"ruleset '{rid}' {why}",
                        rule.source or rs.source,
                        rule.id,
                        rule.line,
                    )
                )
    return out
