"""Where the bundled knowledge (conversion tables, rulesets, catalogue) lives.

In a wheel the top-level ``conversion_tables/`` and ``rules/`` folders are packaged under
``opioidcds/_knowledge/``; in a source checkout (editable install) they are read from the
repository root. Callers may always pass their own files instead.
"""

from __future__ import annotations

from pathlib import Path

from opioidcds.errors import KnowledgeBaseError

__all__ = ["knowledge_dir"]

_PACKAGE = Path(__file__).resolve().parent


def knowledge_dir(name: str) -> Path:
    """Return the directory of bundled knowledge ``name`` (e.g. ``"conversion_tables"``).

    Raises:
        KnowledgeBaseError: neither the packaged nor the source-tree directory exists.
    """
    for candidate in (_PACKAGE / "_knowledge" / name, _PACKAGE.parent.parent / name):
        if candidate.is_dir():
            return candidate
    raise KnowledgeBaseError(f"bundled knowledge folder '{name}' is missing from the install")
