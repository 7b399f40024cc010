"""What a local profile changed, in words, for every human output (issue 23).

One function, :func:`profile_summary`, derives the summary from the profile and the rulesets
it is applied to (data only): each threshold it moves (display label, old -> new value, unit,
ruleset), and each rule it switches off (display title, ruleset, whether it is a safety alert,
the profile's reason). The command line, the population report and the CDS Hooks cards all
print :meth:`ProfileSummary.text`, so a profile in force is never silent.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from opioidcds._base import ResultModel
from opioidcds._decide.rules import Profile, Ruleset
from opioidcds._display import format_decimal, words

__all__ = [
    "DisabledNote",
    "ParameterChange",
    "ProfileSummary",
    "in_force",
    "local_rules_text",
    "profile_summary",
]


class ParameterChange(ResultModel):
    """A threshold the profile moves: its display label, ruleset, old and new value, unit."""

    ruleset: str
    label: str
    old: str
    new: str
    unit: str | None

    def text(self) -> str:
        """``"high dose above 120 -> 90 mg/day (risk factors)"``."""
        unit = f" {self.unit}" if self.unit and self.unit != "%" else (self.unit or "")
        return f"{self.label} {self.old} -> {self.new}{unit} ({self.ruleset})"


class DisabledNote(ResultModel):
    """A rule the profile switches off: its title, ruleset, safety flag and the reason."""

    ruleset: str
    ruleset_id: str
    title: str
    safety_critical: bool
    reason: str

    def text(self) -> str:
        """``"Opioid with a gabapentinoid (prescribing alerts; a safety alert): reason"``."""
        safety = "; a safety alert" if self.safety_critical else ""
        return f"{self.title} ({self.ruleset}{safety}): {self.reason.rstrip('.')}"


class ProfileSummary(ResultModel):
    """A profile in force and what it changed (empty lists: it changes nothing here)."""

    profile_id: str
    profile_version: str
    owner: str
    parameters: tuple[ParameterChange, ...]
    disabled: tuple[DisabledNote, ...]

    @property
    def name(self) -> str:
        """``"local profile opioids aware 90, version 1.1.2"``.

        A profile file has no title: it is named by its id in words (hyphens as spaces); the
        id stays in ``profile_id``.
        """
        return f"local profile {words(self.profile_id)}, version {self.profile_version}"

    @property
    def heading(self) -> str:
        """:attr:`name` at the start of a sentence: ``"Local profile opioids aware 90, ..."``."""
        return "L" + self.name[1:]

    def text(self) -> str:
        """One paragraph: the profile, each threshold moved, each rule disabled (safety first).

        ``"Local profile opioids aware 90, version 1.1.2 in force: high dose above 120 -> 90
        mg/day (risk factors); 1 rule disabled: ..."``.
        """
        parts = [p.text() for p in self.parameters]
        if self.disabled:
            ordered = sorted(self.disabled, key=lambda d: not d.safety_critical)
            parts.append(
                f"{len(ordered)} rule(s) disabled: " + "; ".join(d.text() for d in ordered)
            )
        changes = "; ".join(parts) if parts else "no threshold or rule changed"
        return f"{self.heading} in force: {changes}."

    def disabled_in(self, ruleset_id: str) -> tuple[DisabledNote, ...]:
        """The rules of ruleset ``ruleset_id`` the profile switched off."""
        return tuple(d for d in self.disabled if d.ruleset_id == ruleset_id)

    def none_because_disabled(self, ruleset_id: str, what: str) -> str | None:
        """Said after "No alerts": which ``what`` (alerts) of the ruleset the profile disabled.

        ``None`` when it disabled none there.
        """
        off = self.disabled_in(ruleset_id)
        if not off:
            return None
        return (
            f"The {self.name} disabled {len(off)} {what}, which could not be shown: "
            + "; ".join(d.title for d in off)
            + "."
        )


def profile_summary(profile: Profile, rulesets: Mapping[str, Ruleset]) -> ProfileSummary:
    """What ``profile`` changes in ``rulesets``, in words (display labels and titles).

    Rulesets the profile names but ``rulesets`` lacks are left out (applying the profile
    refuses them first: :func:`~opioidcds._decide.rules.bind_profile`).
    """
    return _summary(profile, tuple(sorted(rulesets.items())))


@lru_cache(maxsize=64)
def _summary(profile: Profile, rulesets: tuple[tuple[str, Ruleset], ...]) -> ProfileSummary:
    found = dict(rulesets)
    changes: list[ParameterChange] = []
    disabled: list[DisabledNote] = []
    for rid, section in profile.sections.items():
        rs = found.get(rid)
        if rs is None:
            continue
        for name, override in section.parameters.items():
            param = rs.parameters.get(name)
            if param is None:
                continue
            changes.append(
                ParameterChange(
                    ruleset=words(rid),
                    label=rs.parameter_label(name),
                    old=format_decimal(param.value),
                    new=format_decimal(override.value),
                    unit=param.unit,
                )
            )
        rules = {r.id: r for r in rs.rules}
        disabled.extend(
            DisabledNote(
                ruleset=words(rid),
                ruleset_id=rid,
                title=rules[d.rule].display,
                safety_critical=rules[d.rule].safety_critical,
                reason=d.reason,
            )
            for d in section.disable
            if d.rule in rules
        )
    return ProfileSummary(
        profile_id=profile.id,
        profile_version=profile.version,
        owner=profile.owner,
        parameters=tuple(changes),
        disabled=tuple(disabled),
    )


def local_rules_text(rulesets: Mapping[str, Ruleset]) -> str | None:
    """The local rules in force, in words; ``None`` when there are none.

    ``"Local rules in force: exampleshire gabapentinoid, version 0.1.2 (owner) adds 1 rule
    to prescribing alerts: Gabapentinoid with an opioid at 50 mg OME/day or more."``; a whole
    local ruleset (``runs_for``) is named as run for every patient, with its file. Extensions
    and rulesets have no title: each is named by its id in words (hyphens as spaces).
    """
    parts: list[str] = []
    for rid, rs in sorted(rulesets.items()):
        titles = {r.id: r.display for r in rs.rules}
        parts.extend(
            f"{words(e.id)}, version {e.version} ({e.owner}) adds {len(e.rule_ids)} rule(s) "
            f"to {words(rid)}: " + "; ".join(titles[r] for r in e.rule_ids if r in titles)
            for e in rs.extensions
        )
    parts.extend(
        f"{words(rs.id)}, version {rs.version} ({rs.owner}), a local ruleset run for every "
        f"patient ({rs.source.rsplit('/', 1)[-1]})"
        for _, rs in sorted(rulesets.items())
        if rs.runs_for is not None
    )
    if not parts:
        return None
    return "Local rules in force: " + "; ".join(parts) + "."


def in_force(rulesets: Mapping[str, Ruleset], profile: Profile | None) -> tuple[str, ...]:
    """Every line people must read about local knowledge: the profile, then the local rules."""
    lines = [profile_summary(profile, rulesets).text()] if profile is not None else []
    local = local_rules_text(rulesets)
    if local is not None:
        lines.append(local)
    return tuple(lines)
