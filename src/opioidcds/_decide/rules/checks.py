"""Folder-level checks: inputs nothing supplies, and what a profile switches off or moves.

These need more than one ruleset at a time (the catalogue of supplied inputs, the rulesets a
profile names), so they run where a folder is read: ``opioidcds rules check``
(:func:`~opioidcds._decide.rules.loader.lint_path`) and :func:`load_rulesets`.

* **Inputs nothing supplies** (error): a rule reads an input the library never derives for
  that ruleset (``inputs/supplied-inputs.toml``), so it would be unknown for every patient.
* **Disabled rules** (warning, naming each by its title); a disabled **safety alert** (a rule
  declared ``safety_critical = true``) is a warning of its own that names every one.
* **Thresholds** (error): a profile value outside the parameter's declared plausible range, or
  negative where none is declared; a warning when the profile moves a parameter that declares
  no plausible range.
* **The profile's own examples** (error): each ``[[examples]]`` entry, run under the profile.
"""

from __future__ import annotations

from collections.abc import Mapping

from opioidcds._decide.rules.evaluator import BoundRuleset, Ruleset, profile_example_failures
from opioidcds._decide.rules.linter import Finding, Severity
from opioidcds._decide.rules.profiles import Profile
from opioidcds._decide.rules.supplied import SuppliedInputs

__all__ = ["profile_example_findings", "profile_findings", "unsupplied_findings"]


def unsupplied_findings(
    rulesets: Mapping[str, Ruleset], catalogue: SuppliedInputs, family_rules: Mapping[str, Ruleset]
) -> list[Finding]:
    """Each rule that reads an input the library does not supply to its ruleset.

    ``family_rules`` gives the rulesets whose rule ids name a family of inputs (support-tier's
    ``factor_<id>``: the risk-factors ruleset in force). Rulesets the catalogue does not list
    are skipped: the library does not run them.
    """
    ids = {rid: frozenset(r.id for r in rs.rules) for rid, rs in family_rules.items()}
    out: list[Finding] = []
    for rid, rs in rulesets.items():
        entry = catalogue.entries.get(rid)
        if entry is None:
            continue
        for rule in rs.rules:
            out.extend(
                Finding(
                    Severity.ERROR,
                    "unsupplied-input",
                    f"reads input '{name}', which the library never supplies to ruleset "
                    f"'{rid}' (supplied by {entry.supplied_by}; see the catalogue "
                    f"{catalogue.id} {catalogue.version}): it would be unknown for every "
                    "patient",
                    rule.source or rs.source,
                    rule.id,
                    rule.line,
                )
                for name in rule.fields
                if not catalogue.supplies(rid, name, ids)
            )
    return out


def profile_findings(profile: Profile, rulesets: Mapping[str, Ruleset]) -> list[Finding]:
    """What the profile switches off and which thresholds it moves, as findings with lines.

    Sections naming a ruleset not in ``rulesets`` are left to the caller (reported there).
    """
    out: list[Finding] = []
    for rid, section in profile.sections.items():
        rs = rulesets.get(rid)
        if rs is None:
            continue
        for name, override in section.parameters.items():
            if name not in rs.parameters:
                continue  # reported when the profile is applied
            problem = rs.implausible(name, override.value)
            if problem:
                out.append(
                    Finding(
                        Severity.ERROR,
                        "implausible",
                        f"ruleset '{rid}': {problem}",
                        profile.source,
                        None,
                        override.line,
                    )
                )
            elif rs.parameters[name].plausible is None:
                out.append(
                    Finding(
                        Severity.WARNING,
                        "no-plausible-range",
                        f"ruleset '{rid}': changes {rs.parameter_label(name)} ({name}), "
                        "which declares no plausible range to check the new value against",
                        profile.source,
                        None,
                        override.line,
                    )
                )
        known = {r.id: r for r in rs.rules}
        safety = [d for d in section.disable if d.rule in known and known[d.rule].safety_critical]
        out.extend(
            Finding(
                Severity.WARNING,
                "disabled",
                f"ruleset '{rid}': disables rule '{known[d.rule].display}' ({d.reason})",
                profile.source,
                d.rule,
                d.line,
            )
            for d in section.disable
            if d.rule in known and not known[d.rule].safety_critical
        )
        if safety:
            out.append(
                Finding(
                    Severity.WARNING,
                    "safety-disabled",
                    f"ruleset '{rid}': disables {len(safety)} safety alert(s): "
                    + "; ".join(f"'{known[d.rule].display}'" for d in safety),
                    profile.source,
                    safety[0].rule,
                    safety[0].line,
                )
            )
    return out


def profile_example_findings(profile: Profile, bound: Mapping[str, BoundRuleset]) -> list[Finding]:
    """Each of the profile's own examples that fails under the profile (an error)."""
    return [
        Finding(Severity.ERROR, "example", why, profile.source, None, ex.line)
        for ex, why in profile_example_failures(bound, profile)
    ]
