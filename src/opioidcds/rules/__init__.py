"""The rules DSL: rulesets and profiles as reviewed data files, evaluated with tri-state logic.

Load a ruleset with :func:`load_ruleset`, a local policy with :func:`load_profile`, and call
:meth:`Ruleset.evaluate` to get :class:`Decisions` (each rule's status, outcome, citations and
trace). :func:`lint_path` checks a folder of files (``opioidcds rules check``). The language is
described in ``docs/dsl.md``; the durable-rules backend is in
:mod:`opioidcds.rules.durable_backend` (extra ``durable``).
"""

from __future__ import annotations

from opioidcds.rules.errors import (
    BackendError,
    LoadProblem,
    ProfileError,
    RulesetDefectError,
    RulesetLoadError,
    UnknownRuleError,
)
from opioidcds.rules.evaluator import (
    BoundRuleset,
    Citation,
    Decision,
    DecisionReport,
    Decisions,
    DecisionStatus,
    Rule,
    Ruleset,
)
from opioidcds.rules.linter import Finding, LintReport, Severity, lint_bound, lint_path
from opioidcds.rules.loader import load_profile, load_ruleset, load_rulesets
from opioidcds.rules.profiles import Profile
from opioidcds.rules.schema import HitPolicy, Stage

__all__ = [
    "BackendError",
    "BoundRuleset",
    "Citation",
    "Decision",
    "DecisionReport",
    "DecisionStatus",
    "Decisions",
    "Finding",
    "HitPolicy",
    "LintReport",
    "LoadProblem",
    "Profile",
    "ProfileError",
    "Rule",
    "Ruleset",
    "RulesetDefectError",
    "RulesetLoadError",
    "Severity",
    "Stage",
    "UnknownRuleError",
    "lint_bound",
    "lint_path",
    "load_profile",
    "load_ruleset",
    "load_rulesets",
]
