"""The exception hierarchy of opioidcds.

Every error the library raises on purpose derives from :class:`OpioidCDSError`. Each subclass
also inherits the builtin exception it refines, so callers may catch either (``except
LookupError`` catches :class:`UnknownDrugError`).

Messages name the field and the rule that was broken. They never contain a patient's values or
identifiers (DESIGN.md, "Conventions"; hazard "patient data leaking into logs"): a message says
``"strength: the unit is not on the allow-list"``, never ``"strength '10 MG' ..."``.
"""

from __future__ import annotations

__all__ = [
    "InvalidInputError",
    "KnowledgeBaseError",
    "OpioidCDSError",
    "UnknownDrugError",
    "UnknownProductError",
]


class OpioidCDSError(Exception):
    """Root of every error raised on purpose by opioidcds."""


class InvalidInputError(ValueError, OpioidCDSError):
    """An input is missing, malformed, out of range or implausible.

    ``field`` names the offending field (a dotted path where nested), without its value.
    """

    def __init__(self, field: str, rule: str) -> None:
        """Build the error from the field's name and the rule it broke (never its value)."""
        self.field = field
        self.rule = rule
        super().__init__(f"{field}: {rule}")


class UnknownDrugError(LookupError, OpioidCDSError):
    """A drug name is not in the ingredient vocabulary of the knowledge base."""


class UnknownProductError(LookupError, OpioidCDSError):
    """A dm+d code or product name is not in the product catalogue."""


class KnowledgeBaseError(OpioidCDSError):
    """A knowledge file (conversion table, vocabulary, ruleset, profile) is invalid.

    Raised at load time, so a broken knowledge base is never used partially.
    """
