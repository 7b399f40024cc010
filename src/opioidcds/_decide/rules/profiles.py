"""Local policy profiles: override parameters and switch rules off, with stated reasons.

A profile (``kind = "profile"``) names the rulesets it changes; for each, new parameter values
(with citations and a reason) and rules to disable (with a reason). It never copies a ruleset.
Every decision made under a profile names the profile's id and version. This module holds the
loaded profile only; the ruleset checks and applies it (:meth:`Ruleset.bind`), and the loader
reads it from its file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

__all__ = ["DisabledRule", "ParameterOverride", "Profile", "ProfileExample", "ProfileSection"]


@dataclass(frozen=True, slots=True)
class ParameterOverride:
    """A profile's value for one parameter, the citations behind it and why it differs."""

    value: Decimal
    citations: tuple[str, ...]
    reason: str
    line: int | None = None


@dataclass(frozen=True, slots=True)
class DisabledRule:
    """A rule the profile switches off, and why."""

    rule: str
    reason: str
    line: int | None = None


@dataclass(frozen=True, slots=True)
class ProfileSection:
    """What a profile changes in one ruleset (optionally pinned to one ruleset version)."""

    ruleset_id: str
    ruleset_version: str | None
    parameters: Mapping[str, ParameterOverride]
    disable: tuple[DisabledRule, ...]


@dataclass(frozen=True, slots=True)
class ProfileExample:
    """A profile's own example: inputs of one ruleset and the decision it must then make.

    Values are as written in the file (checked against the ruleset's inputs when run).
    ``expect_fired``: the rules that must fire (exactly these); ``expect_outcome``: the
    single-hit table's outcome fields that must hold; ``expect_status``: the status of named
    rules. ``line`` is where it is in the file.
    """

    ruleset_id: str
    given: tuple[tuple[str, object], ...]
    expect_fired: tuple[str, ...] | None
    expect_outcome: tuple[tuple[str, object], ...] | None
    description: str | None
    line: int | None
    expect_status: tuple[tuple[str, str], ...] | None = None


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
    examples: tuple[ProfileExample, ...] = ()

    def __hash__(self) -> int:
        """Hash by content fingerprint."""
        return hash(self.fingerprint)

    def section_for(self, ruleset_id: str) -> ProfileSection | None:
        """Return the section for ruleset ``ruleset_id``, or ``None`` if it changes nothing there.

        Whether the section fits the ruleset (known parameters and rules, the version it pins)
        is checked when the profile is applied (:meth:`Ruleset.bind`).
        """
        return self.sections.get(ruleset_id)


def freeze_sections(sections: dict[str, ProfileSection]) -> Mapping[str, ProfileSection]:
    """Read-only view of a profile's sections (used by the loader)."""
    return MappingProxyType(dict(sections))
