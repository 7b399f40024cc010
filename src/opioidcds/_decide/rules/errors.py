"""Errors raised by the rules DSL.

Every error names files, rules, fields and parameters, never an input's value: evaluation inputs
are patient data (DESIGN.md, "Conventions").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from opioidcds._errors import KnowledgeBaseError, OpioidCDSError

if TYPE_CHECKING:
    from pydantic import ValidationError

__all__ = [
    "BackendError",
    "LoadProblem",
    "ProfileError",
    "RulesetDefectError",
    "RulesetLoadError",
    "UnknownRuleError",
]


@dataclass(frozen=True, slots=True)
class LoadProblem:
    """One problem found while loading a knowledge file.

    ``line`` is the 1-based line of the nearest enclosing item found in the file (best effort:
    TOML parsers do not keep positions), ``rule_id`` the rule it belongs to, if any.
    """

    file: str
    message: str
    rule_id: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        """Render as ``file:line: rule 'id': message``."""
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        rule = f" rule '{self.rule_id}':" if self.rule_id else ""
        return f"{where}:{rule} {self.message}"


class RulesetLoadError(KnowledgeBaseError):
    """A ruleset or profile file is invalid; nothing from it is used.

    ``problems`` lists every problem found, each with file, rule id and line where known.
    """

    def __init__(self, problems: list[LoadProblem] | tuple[LoadProblem, ...]) -> None:
        """Build the error from one or more problems (the message lists them all)."""
        self.problems = tuple(problems)
        first = self.problems[0] if self.problems else None
        self.file = first.file if first else None
        self.rule_id = first.rule_id if first else None
        self.line = first.line if first else None
        super().__init__("; ".join(str(p) for p in self.problems) or "invalid knowledge file")

    @classmethod
    def from_validation(cls, path: str | Path, exc: ValidationError) -> RulesetLoadError:
        """One problem per schema error of the file at ``path``: its key path and message.

        The values are never included (``include_input=False``).
        """
        return cls(
            [
                LoadProblem(str(path), f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}")
                for e in exc.errors(include_input=False, include_url=False)
            ]
        )


class ProfileError(KnowledgeBaseError):
    """A profile cannot be applied to a ruleset (unknown parameter or rule, version pin, ...)."""


class RulesetDefectError(KnowledgeBaseError):
    """Evaluation met a defect of the ruleset itself (an overlap or a gap).

    An overlap: two rules hold in a ``unique`` table. A gap: no rule applies and none is
    undetermined in a single-hit table.

    The linter finds these before use; at run time the library fails closed rather than
    returning "no decision".
    """


class BackendError(OpioidCDSError):
    """The durable-rules backend cannot evaluate (not installed, session limit, engine error)."""


class UnknownRuleError(KeyError, OpioidCDSError):
    """A rule id that the ruleset does not have (also a ``KeyError``)."""
