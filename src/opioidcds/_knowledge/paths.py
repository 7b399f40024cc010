"""Where the bundled knowledge (conversion tables, rulesets, catalogue) lives.

In a wheel the top-level ``conversion_tables/`` and ``rules/`` folders are packaged under
``opioidcds/_knowledge/``; in a source checkout (editable install) they are read from the
repository root. Callers may always pass their own files instead.
"""

from __future__ import annotations

from pathlib import Path

from opioidcds._errors import KnowledgeBaseError

__all__ = ["knowledge_dir"]

_HERE = Path(__file__).resolve().parent  # opioidcds/_knowledge


def knowledge_dir(name: str) -> Path:
    """Return the directory of bundled knowledge ``name`` (e.g. ``"conversion_tables"``).

    Raises:
        KnowledgeBaseError: neither the packaged nor the source-tree directory exists.
    """
    for candidate in (_HERE / name, _HERE.parents[2] / name):  # wheel, then src checkout
        if candidate.is_dir():
            return candidate
    raise KnowledgeBaseError(f"bundled knowledge folder '{name}' is missing from the install")
