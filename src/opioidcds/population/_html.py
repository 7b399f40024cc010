"""Small HTML builders shared by the population reports: escaped tables and inline SVG charts.

No scripts and no external resources: every text passes through :func:`html.escape`. The
charts are plain SVG with a ``<title>`` and an ``aria-label`` (what a screen reader says) and
the numbers written on them; the same numbers are in a table beside each chart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Final

__all__ = ["CSS", "Bar", "Marker", "bars", "histogram", "table"]

CSS: Final = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:80em;color:#222;line-height:1.4}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #bbb;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#eee} td.num{text-align:right} .note{color:#555;font-size:.9em}
.synthetic{background:#fff3cd;border:2px solid #b58100;padding:.6em;font-size:1.1em}
.lead{font-size:1.15em}
.callfirst{border:2px solid #1d4f91;padding:.2em 1em 1em;margin:1em 0;background:#f4f8fd}
.callfirst table{background:#fff}
.charts{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}
.charts figure{margin:0} figcaption{font-weight:600;margin:.2em 0}
.swatch{display:inline-block;width:.9em;height:.9em;vertical-align:middle;margin-right:.4em}
"""


def table(
    head: Sequence[str],
    rows: Sequence[Sequence[object]],
    numeric: int = 0,
    *,
    html_id: str | None = None,
) -> str:
    """An HTML table; the last ``numeric`` columns are right-aligned. Every cell is escaped."""
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            cls = ' class="num"' if i >= len(row) - numeric else ""
            cells.append(f"<td{cls}>{escape('' if v is None else str(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    ident = f' id="{escape(html_id)}"' if html_id else ""
    return f"<table{ident}><tr>{th}</tr>{''.join(body)}</table>"


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar of a chart: its label, count and fill colour (any CSS colour)."""

    label: str
    count: int
    colour: str = "#4a7ab5"


@dataclass(frozen=True, slots=True)
class Marker:
    """A threshold drawn across a histogram at ``value`` (in the x axis's units), labelled."""

    value: float
    label: str


def bars(title: str, items: Sequence[Bar | tuple[str, int]], *, html_id: str | None = None) -> str:
    """A horizontal bar chart as inline SVG, in the order given, counts and shares written on.

    Shares are of the sum of the counts shown. Labels are escaped.
    """
    entries = [b if isinstance(b, Bar) else Bar(b[0], b[1]) for b in items]
    width, bar_h, label_w = 600, 26, 220
    top = max((b.count for b in entries), default=0) or 1
    total = sum(b.count for b in entries)
    height = bar_h * len(entries) + 16
    ident = f' id="{escape(html_id)}"' if html_id else ""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg"{ident} role="img" width="{width}" '
        f'height="{height}" aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for i, b in enumerate(entries):
        y = 8 + i * bar_h
        w = int((width - label_w - 90) * b.count / top)
        share = f" ({round(100 * b.count / total)}%)" if total else ""
        parts.append(
            f'<text x="0" y="{y + 17}" font-size="14">{escape(b.label)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w}" height="{bar_h - 6}" '
            f'fill="{escape(b.colour)}" rx="2"/>'
            f'<text x="{label_w + w + 6}" y="{y + 17}" font-size="14">{b.count}{share}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def histogram(
    title: str,
    bins: Sequence[Bar],
    edges: Sequence[float],
    markers: Sequence[Marker],
    extra: Sequence[Bar] = (),
    *,
    unit: str = "",
    html_id: str | None = None,
) -> str:
    """A vertical histogram as inline SVG, with threshold lines and separate extra bars.

    ``bins[i]`` covers ``edges[i]`` to ``edges[i + 1]`` (so ``len(edges) == len(bins) + 1``),
    drawn to scale on the x axis; ``markers`` are dashed lines at their values, labelled
    (thresholds in force); ``extra`` bars (an open last bin, totals that are lower bounds)
    stand apart on the right with their own labels. Counts are written above the bars.
    """
    if len(edges) != len(bins) + 1:
        raise ValueError("a histogram needs one more edge than bins")
    left, plot_w, gap, extra_w = 40, 520, 30, 70
    width = left + plot_w + gap + extra_w * len(extra) + 10
    plot_h, top_pad, bottom = 200, 44, 52
    height = top_pad + plot_h + bottom
    counts = [b.count for b in (*bins, *extra)]
    top = max(counts, default=0) or 1
    lo, hi = edges[0], edges[-1]
    span = (hi - lo) or 1.0

    def x(v: float) -> float:
        return left + plot_w * (v - lo) / span

    def bar_h(n: int) -> float:
        return plot_h * n / top

    base = top_pad + plot_h
    ident = f' id="{escape(html_id)}"' if html_id else ""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg"{ident} role="img" width="{width:.0f}" '
        f'height="{height}" aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="#444"/>',
    ]
    for i, b in enumerate(bins):
        x0, x1 = x(edges[i]), x(edges[i + 1])
        h = bar_h(b.count)
        parts.append(
            f'<rect x="{x0 + 1:.1f}" y="{base - h:.1f}" width="{max(x1 - x0 - 2, 1):.1f}" '
            f'height="{h:.1f}" fill="{escape(b.colour)}"><title>{escape(b.label)}: '
            f"{b.count}</title></rect>"
        )
        if b.count:
            parts.append(
                f'<text x="{(x0 + x1) / 2:.1f}" y="{base - h - 3:.1f}" font-size="11" '
                f'text-anchor="middle">{b.count}</text>'
            )
    step = max(1, len(edges) // 7)  # about seven axis labels, whatever the number of bins
    parts.extend(
        f'<text x="{x(edges[i]):.1f}" y="{base + 15}" font-size="11" text-anchor="middle">'
        f"{edges[i]:g}</text>"
        for i in range(0, len(edges), step)
    )
    parts.append(
        f'<text x="{left + plot_w / 2:.0f}" y="{base + 32}" font-size="12" '
        f'text-anchor="middle">{escape(unit)}</text>'
    )
    for k, m in enumerate(markers):
        if not lo <= m.value <= hi:
            continue
        mx = x(m.value)
        ty = 12 + 14 * k
        parts.append(
            f'<line class="threshold" x1="{mx:.1f}" y1="{ty + 4}" x2="{mx:.1f}" y2="{base}" '
            'stroke="#b00020" stroke-width="2" stroke-dasharray="5,3"/>'
            f'<text x="{mx + 4:.1f}" y="{ty + 2}" font-size="12" fill="#b00020">'
            f"{escape(m.label)}</text>"
        )
    for j, b in enumerate(extra):
        x0 = left + plot_w + gap + j * extra_w
        h = bar_h(b.count)
        parts.append(
            f'<rect x="{x0:.1f}" y="{base - h:.1f}" width="{extra_w - 14}" height="{h:.1f}" '
            f'fill="{escape(b.colour)}"><title>{escape(b.label)}: {b.count}</title></rect>'
            f'<text x="{x0 + (extra_w - 14) / 2:.1f}" y="{base - h - 3:.1f}" font-size="11" '
            f'text-anchor="middle">{b.count}</text>'
        )
        for line_no, word in enumerate(b.label.split(" ", 2)[:3]):
            parts.append(
                f'<text x="{x0 + (extra_w - 14) / 2:.1f}" y="{base + 15 + 12 * line_no}" '
                f'font-size="10" text-anchor="middle">{escape(word)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
