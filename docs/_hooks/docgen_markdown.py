"""Small Markdown helpers shared by the docs generators (escaping, tables, anchors)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

__all__ = ["anchor", "code", "esc", "slug", "table"]

_URL = re.compile(r"https?://[^\s<>)\]]+[^\s<>)\].,;:'\"]")
_SPECIAL = re.compile(r"([\\`*_\[\]|#])")


def _esc_plain(text: str) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SPECIAL.sub(r"\\\1", text).replace("\n", " ")


def esc(text: object) -> str:
    """Escape free text for a Markdown paragraph or table cell; URLs become links."""
    s = str(text)
    out: list[str] = []
    pos = 0
    for m in _URL.finditer(s):
        out.append(_esc_plain(s[pos : m.start()]))
        out.append(f"<{m.group(0)}>")
        pos = m.end()
    out.append(_esc_plain(s[pos:]))
    return "".join(out)


def code(text: object) -> str:
    """A code span for ``text`` (identifiers, values), safe inside a table cell."""
    s = str(text).replace("|", "\\|").replace("\n", " ")
    fence = "``" if "`" in s else "`"
    return f"{fence}{s}{fence}" if s else ""


def slug(*parts: str) -> str:
    """A stable HTML id from parts: lower case, runs of other characters become '-'."""
    joined = "--".join(re.sub(r"[^a-z0-9]+", "-", p.lower()).strip("-") for p in parts)
    return joined or "x"


def anchor(ident: str) -> str:
    """An empty element carrying ``ident``, so that ``#ident`` links here."""
    return f'<span id="{ident}"></span>'


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A pipe table: ``header`` names and already-escaped cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.extend("| " + " | ".join(cell or " " for cell in row) + " |" for row in rows)
    return [*lines, ""]
