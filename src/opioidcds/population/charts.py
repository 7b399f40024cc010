"""Inline SVG charts of the evaluation report: time series and funnel plots.

No scripts and no external resources; every text passes through :func:`html.escape`. Each
chart has a ``<title>`` and an ``aria-label``, and every plotted value is also in a table or a
file beside it (a chart is never the only place a number is).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Final

from opioidcds.population.funnel import Funnel

__all__ = ["COLOURS", "funnel_chart", "line_chart"]

COLOURS: Final = ("#1f5fa8", "#c4511c", "#2a8a3e", "#8a2a8a", "#7a6a00", "#00798c", "#a31f4b")
_W: Final = 640
_H: Final = 300
_LEFT: Final = 60
_RIGHT: Final = 170
_TOP: Final = 30
_BOTTOM: Final = 50


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def _ticks(top: float) -> list[float]:
    """Round tick values from 0 to just above ``top`` (about five)."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [step * k for k in range(int(top // step) + 2)]


def line_chart(
    title: str,
    x_labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    y_label: str,
) -> str:
    """A line chart (one line per series; ``None`` leaves a gap) with a legend on the right."""
    values = [v for _, ys in series for v in ys if v is not None]
    ticks = _ticks(max(values, default=0.0))
    top = ticks[-1] or 1.0
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    n = max(len(x_labels), 1)

    def x(i: int) -> float:
        return _LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return _TOP + plot_h * (1 - v / top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{_W}" height="{_H}" '
        f'class="chart" aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<text x="{_LEFT}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    parts.extend(
        f'<line x1="{_LEFT}" x2="{_LEFT + plot_w}" y1="{y(t):.1f}" y2="{y(t):.1f}" '
        f'stroke="#ddd"/><text x="{_LEFT - 6}" y="{y(t) + 4:.1f}" font-size="11" '
        f'text-anchor="end">{escape(_fmt(t))}</text>'
        for t in ticks
    )
    every = max(1, -(-(n - 1) // 5))  # about five labels, counted back from the latest
    for i, lab in enumerate(x_labels):
        if (n - 1 - i) % every == 0:
            parts.append(
                f'<text x="{x(i):.1f}" y="{_TOP + plot_h + 16}" font-size="11" '
                f'text-anchor="middle">{escape(lab)}</text>'
            )
    parts.append(
        f'<text x="14" y="{_TOP + plot_h / 2:.1f}" font-size="11" '
        f'transform="rotate(-90 14 {_TOP + plot_h / 2:.1f})" text-anchor="middle">'
        f"{escape(y_label)}</text>"
    )
    for k, (name, ys) in enumerate(series):
        colour = COLOURS[k % len(COLOURS)]
        run: list[str] = []
        for i, v in enumerate(ys):
            if v is None:
                if len(run) > 1:
                    parts.append(_polyline(run, colour))
                run = []
                continue
            run.append(f"{x(i):.1f},{y(v):.1f}")
            parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" fill="{colour}"/>')
        if len(run) > 1:
            parts.append(_polyline(run, colour))
        ly = _TOP + 14 * k + 6
        parts.append(
            f'<rect x="{_W - _RIGHT + 10}" y="{ly - 8}" width="12" height="4" fill="{colour}"/>'
            f'<text x="{_W - _RIGHT + 26}" y="{ly}" font-size="11">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _polyline(points: Sequence[str], colour: str) -> str:
    return f'<polyline points="{" ".join(points)}" fill="none" stroke="{colour}" stroke-width="2"/>'


def funnel_chart(f: Funnel) -> str:
    """The funnel plot: rate per ``per`` against list size, target line and control limits."""
    title = f"{f.label}: practices against the pooled rate"
    if f.status != "evaluated" or f.target is None:
        return f'<p class="note">{escape(title)}: cannot evaluate: {escape(f.reason)}.</p>'
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    highs = [hi for _, lims in f.curve for _, hi in lims] + [float(p.rate) for p in f.points]
    ticks = _ticks(max(highs, default=1.0))
    top = ticks[-1] or 1.0
    sizes = [n for n, _ in f.curve]
    lo_n, hi_n = min(sizes), max(sizes)

    def x(n: float) -> float:
        return _LEFT + plot_w * (n - lo_n) / max(hi_n - lo_n, 1)

    def y(v: float) -> float:
        return _TOP + plot_h * (1 - min(v, top) / top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{_W}" height="{_H}" '
        f'class="chart funnel" aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<text x="{_LEFT}" y="16" font-size="13" font-weight="bold">{escape(f.label)}</text>',
    ]
    parts.extend(
        f'<line x1="{_LEFT}" x2="{_LEFT + plot_w}" y1="{y(t):.1f}" y2="{y(t):.1f}" '
        f'stroke="#eee"/><text x="{_LEFT - 6}" y="{y(t) + 4:.1f}" font-size="11" '
        f'text-anchor="end">{escape(_fmt(t))}</text>'
        for t in ticks
    )
    parts.extend(
        f'<text x="{x(n):.1f}" y="{_TOP + plot_h + 16}" font-size="11" '
        f'text-anchor="middle">{n:,}</text>'
        for n in (lo_n, (lo_n + hi_n) // 2, hi_n)
    )
    parts.append(
        f'<text x="{_LEFT + plot_w / 2:.1f}" y="{_H - 8}" font-size="11" text-anchor="middle">'
        "registered patients (list size)</text>"
    )
    target = float(f.target)
    parts.append(
        f'<line x1="{_LEFT}" x2="{_LEFT + plot_w}" y1="{y(target):.1f}" y2="{y(target):.1f}" '
        'stroke="#333" stroke-width="1.5"/>'
    )
    dashes = ("6,3", "2,3")
    for k, label in enumerate(f.labels):
        for side in (0, 1):
            pts = " ".join(f"{x(n):.1f},{y(lims[k][side]):.1f}" for n, lims in f.curve)
            parts.append(
                f'<polyline points="{pts}" fill="none" stroke="#777" '
                f'stroke-dasharray="{dashes[k % 2]}"/>'
            )
        ly = _TOP + 14 * (k + 1) + 6
        parts.append(
            f'<line x1="{_W - _RIGHT + 10}" x2="{_W - _RIGHT + 24}" y1="{ly - 4}" y2="{ly - 4}" '
            f'stroke="#777" stroke-dasharray="{dashes[k % 2]}"/><text x="{_W - _RIGHT + 28}" '
            f'y="{ly}" font-size="11">{escape(label)} limits</text>'
        )
    parts.append(
        f'<line x1="{_W - _RIGHT + 10}" x2="{_W - _RIGHT + 24}" y1="{_TOP + 2}" '
        f'y2="{_TOP + 2}" stroke="#333"/><text x="{_W - _RIGHT + 28}" y="{_TOP + 6}" '
        f'font-size="11">pooled {escape(_fmt(target))}</text>'
    )
    for k, p in enumerate(f.points):
        colour = COLOURS[k % len(COLOURS)]
        px, py = x(p.size), y(float(p.rate))
        parts.append(
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="5" fill="{colour}" stroke="#000">'
            f"<title>{escape(p.practice)}: {escape(_fmt(float(p.rate)))} "
            f"({escape(p.position)})</title></circle>"
            f'<text x="{px + 7:.1f}" y="{py - 6:.1f}" font-size="11">{escape(p.practice)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
