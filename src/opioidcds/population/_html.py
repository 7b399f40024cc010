"""Small HTML builders shared by the population reports: escaped tables and inline SVG bars.

No scripts and no external resources: every text passes through :func:`html.escape`.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Final

__all__ = ["CSS", "bars", "table"]

CSS: Final = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:75em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #bbb;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#eee} td.num{text-align:right} .note{color:#555;font-size:.9em}
.synthetic{background:#fff3cd;border:2px solid #b58100;padding:.6em;font-size:1.1em}
"""


def table(head: Sequence[str], rows: Sequence[Sequence[object]], numeric: int = 0) -> str:
    """An HTML table; the last ``numeric`` columns are right-aligned. Every cell is escaped."""
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            cls = ' class="num"' if i >= len(row) - numeric else ""
            cells.append(f"<td{cls}>{escape('' if v is None else str(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{th}</tr>{''.join(body)}</table>"


def bars(title: str, items: Sequence[tuple[str, int]]) -> str:
    """A horizontal bar chart as inline SVG (labels escaped)."""
    width, bar_h, label_w = 560, 22, 230
    top = max((n for _, n in items), default=0) or 1
    height = bar_h * len(items) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
        f'height="{height}" aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for i, (label, n) in enumerate(items):
        y = 10 + i * bar_h
        w = int((width - label_w - 60) * n / top)
        parts.append(
            f'<text x="0" y="{y + 15}" font-size="13">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w}" height="{bar_h - 6}" fill="#4a7ab5"/>'
            f'<text x="{label_w + w + 5}" y="{y + 15}" font-size="13">{n}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
