"""The rules DSL: rulesets and profiles as reviewed data files, evaluated with tri-state logic.

Load a ruleset with :func:`load_ruleset`, a local policy with :func:`load_profile`, and call
:meth:`Ruleset.evaluate` to get :class:`Decisions` (each rule's status, outcome, citations and
trace). :func:`lint_path` checks a folder of files (``opioidcds rules check``). The language is
described in ``docs/dsl.md``; the durable-rules backend is in
:mod:`opioidcds._decide.rules.durable_backend` (extra ``durable``). The public names are
re-exported from :mod:`opioidcds`.

The modules read in one direction: ``errors`` -> ``conditions`` (the condition language) ->
``kinds`` (hit policies, stages) -> ``schema`` (the file models) -> ``profiles`` (a loaded
profile) -> ``evaluator`` (rulesets and the reference engine; it applies a profile) -> ``linter``
-> ``supplied`` and ``facts`` (the catalogues of supplied inputs and of patient facts) ->
``loader`` (reads files, lints them and gives each ruleset the linter's check for profiles) ->
``durable_backend``. May import: the foundation (``opioidcds._errors``, ``_base``) only.

The linter's and the loader's names are imported when first used (issue 20, cold start): a
process that reads the bundled rulesets back from the knowledge cache never imports the file
schema or the loader.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from opioidcds._decide.rules.errors import (
    BackendError,
    LoadProblem,
    ProfileError,
    RulesetDefectError,
    RulesetLoadError,
    UnknownRuleError,
)
from opioidcds._decide.rules.evaluator import (
    BoundRuleset,
    Citation,
    Decision,
    DecisionReport,
    Decisions,
    DecisionStatus,
    Rule,
    Ruleset,
    bind_profile,
)
from opioidcds._decide.rules.kinds import HitPolicy, Stage
from opioidcds._decide.rules.profiles import Profile

if TYPE_CHECKING:
    from opioidcds._decide.rules.linter import Finding, LintReport, Severity, lint_bound
    from opioidcds._decide.rules.loader import (
        extend_ruleset,
        lint_path,
        load_local_rules,
        load_profile,
        load_ruleset,
        load_rulesets,
    )

_LAZY = {
    "Finding": "linter",
    "LintReport": "linter",
    "Severity": "linter",
    "lint_bound": "linter",
    "extend_ruleset": "loader",
    "lint_path": "loader",
    "load_local_rules": "loader",
    "load_profile": "loader",
    "load_ruleset": "loader",
    "load_rulesets": "loader",
}

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
    "bind_profile",
    "extend_ruleset",
    "lint_bound",
    "lint_path",
    "load_local_rules",
    "load_profile",
    "load_ruleset",
    "load_rulesets",
]


def __getattr__(name: str) -> object:
    """The linter's and the loader's names, imported on first use."""
    home = _LAZY.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
