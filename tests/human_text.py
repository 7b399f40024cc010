"""What the human-text tests look for: knowledge ids and variable names written in text.

The standard (issue 19): human text (command line, report, cards, handouts, ``explain()``)
names knowledge by display names and human citations, never by ids or variable names. The
tests that check it share these helpers: :func:`leaks` finds, as whole tokens, the ids of a
given set and every ``snake_case`` word; :func:`knowledge_ids` gathers the ids of the loaded
knowledge, including the ids of the knowledge files themselves (conversion tables, rulesets,
extensions, profiles, the tapering defaults), which every output names by title or in words.

Imported as ``from human_text import ...``: the test folders are not all packages, and pytest
puts ``tests/`` (the folder of the root ``conftest.py``) on ``sys.path`` before any test module
is imported (its default "prepend" import mode).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from opioidcds import Knowledge, Ruleset, default_knowledge, load_taper_knowledge
from opioidcds._knowledge.tables import BUNDLED_TABLES, load_table

__all__ = [
    "ENGLISH",
    "SNAKE",
    "ids_in",
    "knowledge_ids",
    "leaks",
    "ruleset_ids",
    "unescape_markdown",
]

ENGLISH = frozenset({"high-dose"})
"""Ids that are also English compounds: "above the high-dose threshold" is a phrase."""

_FILE = r"(?!\.(?:csv|json|parquet|html|toml)\b)"  # a file name people open is not an id

SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b" + _FILE)
"""A ``snake_case`` word: a variable or input name (``benzodiazepine_coprescribed``), but not
the name of a file (``opioid_ing_form_ome.csv``)."""


def written_as_ids(names: Iterable[str]) -> frozenset[str]:
    """The names that are written as ids: with a hyphen or an underscore.

    A one-word name ("reauthorisation", "scope") is also an English word, so it is left out.
    """
    return frozenset(n for n in names if "-" in n or "_" in n)


def ruleset_ids(ruleset: Ruleset) -> frozenset[str]:
    """A ruleset's own id, its rule ids and its input names, as written as ids."""
    return written_as_ids((ruleset.id, *(r.id for r in ruleset.rules), *ruleset.input_names))


def knowledge_ids(knowledge: Knowledge | None = None) -> frozenset[str]:
    """Every id of ``knowledge`` (default: the bundled) that people must not read.

    The ids of the knowledge files (every ruleset and extension, the profile in force, the
    bundled conversion tables, the tapering defaults), the citation ids of the bundled tables
    and, per ruleset, its rule ids, citation ids, input names and the declared values of its
    enum inputs and outputs; only
    those written as ids (:func:`written_as_ids`), but the English compounds (:data:`ENGLISH`).
    """
    kb = knowledge if knowledge is not None else default_knowledge()
    found: set[str] = {*BUNDLED_TABLES, load_taper_knowledge().id}
    for table_id in BUNDLED_TABLES:
        found.update(c.id for c in load_table(table_id).file.citations)
    if kb.profile is not None:
        found.add(kb.profile.id)
    for rs in kb.rulesets.values():
        found.update(ruleset_ids(rs))
        found.update(e.id for e in rs.extensions)
        found.update(rs.citations)
        for spec in rs.outputs.values():
            found.update(spec.values)
        for field in rs.inputs:
            found.update(field.values)
    return written_as_ids(found) - ENGLISH


def unescape_markdown(text: str) -> str:
    """``text`` as people see its markdown: escapes undone (``total\\_ome`` -> ``total_ome``)."""
    return re.sub(r"\\(.)", r"\1", text)


def ids_in(text: str, ids: Iterable[str]) -> list[str]:
    """The ``ids`` written in ``text`` as whole tokens, sorted.

    Not inside a longer id, nor as the name of a file (``group-programme.toml`` names the file
    people edit).
    """
    return sorted(i for i in set(ids) if re.search(_WHOLE_ID.format(re.escape(i)), text))


_WHOLE_ID = r"(?<![\w-]){}(?![\w-])" + _FILE


def leaks(text: str, ids: Iterable[str]) -> list[str]:
    """The ``ids`` and the ``snake_case`` words written in ``text`` (whole tokens), sorted."""
    return sorted(set(ids_in(text, ids)) | set(SNAKE.findall(text)))
