"""Local policy profiles: override parameters and switch rules off, with stated reasons.

A profile (``kind = "profile"``) names the rulesets it changes; for each, new parameter values
(with citations and a reason) and rules to disable (with a reason). It never copies a ruleset.
Every decision made under a profile names the profile's id and version.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING

from opioidcds.rules.errors import ProfileError

if TYPE_CHECKING:
    from opioidcds.rules.evaluator import Ruleset

__all__ = ["DisabledRule", "ParameterOverride", "Profile", "ProfileSection"]


@dataclass(frozen=True, slots=True)
class ParameterOverride:
    """A profile's value for one parameter, the citations behind it and why it differs."""

    value: Decimal
    citations: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class DisabledRule:
    """A rule the profile switches off, and why."""

    rule: str
    reason: str


@dataclass(frozen=True, slots=True)
class ProfileSection:
    """What a profile changes in one ruleset (optionally pinned to one ruleset version)."""

    ruleset_id: str
    ruleset_version: str | None
    parameters: Mapping[str, ParameterOverride]
    disable: tuple[DisabledRule, ...]


@dataclass(frozen=True, slots=True)
class Profile:
    """A loaded, immutable profile (build it with :func:`load_profile`)."""

    id: str
    version: str
    effective_date: dt.date
    owner: str
    reviewer: str | None
    description: str
    citations: Mapping[str, str]
    sections: Mapping[str, ProfileSection]
    source: str
    fingerprint: str

    def __hash__(self) -> int:
        """Hash by content fingerprint."""
        return hash(self.fingerprint)

    def section_for(self, ruleset: Ruleset) -> ProfileSection | None:
        """Return the section for ``ruleset``, or ``None`` if the profile changes nothing there."""
        return self.sections.get(ruleset.id)

    def validate_against(self, ruleset: Ruleset) -> None:
        """Check the profile's section names only parameters and rules ``ruleset`` has.

        Raises:
            ProfileError: unknown parameter or rule, or the section pins another version.

        """
        section = self.section_for(ruleset)
        if section is None:
            return
        where = f"{self.source}: profile '{self.id}', ruleset '{ruleset.id}'"
        if section.ruleset_version is not None and section.ruleset_version != ruleset.version:
            raise ProfileError(
                f"{where}: written for version {section.ruleset_version}, "
                f"not {ruleset.version}; review the profile before using it"
            )
        for name in section.parameters:
            if name not in ruleset.parameters:
                raise ProfileError(f"{where}: unknown parameter '{name}'")
        rule_ids = {r.id for r in ruleset.rules}
        for d in section.disable:
            if d.rule not in rule_ids:
                raise ProfileError(f"{where}: cannot disable unknown rule '{d.rule}'")


def freeze_sections(sections: dict[str, ProfileSection]) -> Mapping[str, ProfileSection]:
    """Read-only view of a profile's sections (used by the loader)."""
    return MappingProxyType(dict(sections))
