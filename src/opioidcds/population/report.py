"""Outputs of a screening: worklist files (CSV, Parquet, JSON), problems, summary, HTML report.

The HTML report is one self-contained file (no scripts, no network): counts by tier and risk
level, a bar chart of the OME distribution as inline SVG, the top of the worklist with its
reasons, the problems by reason, and the method notes. Every text is HTML-escaped; it holds
pseudonymous ids only (whatever the extract used), never names.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from html import escape
from itertools import pairwise
from pathlib import Path
from typing import Final

import polars as pl

from opioidcds.ome import format_decimal
from opioidcds.population.engine import PatientRow, Screening

__all__ = ["reasons", "render_html", "worklist_frame", "write_outputs"]

_TIERS: Final = ("specialist-mdt", "pcn-service", "brief-gp-intervention", "letter", "out-of-scope")
_LEVELS: Final = ("very-high", "high", "moderate", "low")
_OME_BINS: Final = (0, 50, 90, 120, 200)  # display bins of the chart only (not thresholds)


def _ome_text(row: PatientRow) -> str:
    if row.ome_mg_per_day is None:
        return ""
    shown = format_decimal(row.ome_mg_per_day)
    return shown if row.ome_complete else f"at least {shown}"


def reasons(row: PatientRow, labels: dict[str, str] | None = None) -> str:
    """The worklist row's explanation in one paragraph."""
    names = labels or {}
    parts = [row.band_reason] if row.band_reason else []
    if row.status != "screened":
        return " ".join(parts)
    if row.in_scope is False:
        parts.append(row.scope_reason)
    if row.factors_present:
        parts.append(
            "Risk factors present: " + ", ".join(names.get(f, f) for f in row.factors_present) + "."
        )
    if row.ome_mg_per_day is not None and row.in_scope:
        parts.append(f"Daily OME {_ome_text(row)} mg ({row.ome_method}).")
    if row.unknowns_that_could_change:
        parts.append(
            "Not recorded, could raise the level or tier: "
            + ", ".join(names.get(f, f) for f in row.unknowns_that_could_change)
            + "."
        )
    return " ".join(parts)


def worklist_frame(screening: Screening) -> pl.DataFrame:
    """One row per patient in worklist order (``rank`` is 1-based on the worklist, else null).

    Built column by column (not a list of per-row dicts) to keep memory low on large runs.
    """
    labels = dict(screening.factor_labels)
    rows = screening.rows
    ranks: list[int | None] = []
    rank = 0
    for r in rows:
        if r.band.isdigit():
            rank += 1
            ranks.append(rank)
        else:
            ranks.append(None)
    columns: dict[str, list[object]] = {
        "rank": list(ranks),
        "patient_id": [r.patient_id for r in rows],
        "band": [r.band for r in rows],
        "tier": [r.tier for r in rows],
        "risk_level": [r.risk_level for r in rows],
        "ome_mg_per_day": [
            str(r.ome_mg_per_day) if r.ome_mg_per_day is not None else None for r in rows
        ],
        "ome_complete": [r.ome_complete for r in rows],
        "ome_method": [r.ome_method for r in rows],
        "factors_present": [";".join(r.factors_present) for r in rows],
        "factors_unknown": [";".join(r.factors_unknown) for r in rows],
        "unknowns_that_could_change": [";".join(r.unknowns_that_could_change) for r in rows],
        "risk_level_if_unknown": [r.risk_level_if_unknown for r in rows],
        "tier_if_unknown": [r.tier_if_unknown for r in rows],
        "readiness_to_change": [r.readiness_to_change for r in rows],
        "in_scope": [r.in_scope for r in rows],
        "scope_rule": [r.scope_rule for r in rows],
        "scope_reason": [r.scope_reason for r in rows],
        "history": [r.history for r in rows],
        "status": [r.status for r in rows],
        "reasons": [reasons(r, labels) for r in rows],
    }
    types = {"rank": pl.Int64, "ome_complete": pl.Boolean, "in_scope": pl.Boolean}
    return pl.DataFrame(
        {
            name: pl.Series(name, values, dtype=types.get(name, pl.String))
            for name, values in columns.items()
        }
    )


def _summary(screening: Screening) -> dict[str, object]:
    return {
        "as_of": screening.as_of.isoformat() if screening.as_of else None,
        "engine": screening.engine,
        "counts": dict(screening.counts),
        "versions": dict(screening.versions),
        "method": {
            "id": screening.method.id,
            "version": screening.method.version,
            "current_window_days": screening.method.current_window_days,
            "lookback_days": screening.method.lookback_days,
            "default_supply_days": screening.method.default_supply_days,
            "order_within_band": list(screening.method.order_within_band),
        },
        "synthetic_note": "Identifiers are as given in the extract (pseudonymous).",
    }


def write_outputs(
    screening: Screening,
    out_dir: str | Path,
    *,
    formats: Sequence[str] = ("csv",),
    html: bool = False,
) -> list[Path]:
    """Write the outputs of ``screening`` into ``out_dir``; return the paths written.

    ``worklist.<fmt>`` for each of ``formats`` (csv, parquet, json), ``problems.csv``,
    ``summary.json`` and, with ``html``, ``report.html``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame = worklist_frame(screening)
    written: list[Path] = []
    for fmt in formats:
        path = out / f"worklist.{fmt}"
        if fmt == "csv":
            frame.write_csv(path)
        elif fmt == "parquet":
            frame.write_parquet(path)
        elif fmt == "json":
            path.write_text(json.dumps(frame.to_dicts(), indent=1), encoding="utf-8")
        else:
            raise ValueError(f"unknown output format {fmt!r}")
        written.append(path)
    problems = pl.DataFrame(
        {
            "file": [p.file for p in screening.problems],
            "row": [p.row for p in screening.problems],
            "reason": [p.reason for p in screening.problems],
        },
        schema={"file": pl.String, "row": pl.Int64, "reason": pl.String},
    )
    problems.write_csv(out / "problems.csv")
    written.append(out / "problems.csv")
    (out / "summary.json").write_text(
        json.dumps(_summary(screening), indent=1, sort_keys=True), encoding="utf-8"
    )
    written.append(out / "summary.json")
    if html:
        (out / "report.html").write_text(render_html(screening), encoding="utf-8")
        written.append(out / "report.html")
    return written


# --- HTML ------------------------------------------------------------------------------------

_CSS: Final = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:75em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #bbb;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#eee} td.num{text-align:right} .note{color:#555;font-size:.9em}
"""


def _table(head: Sequence[str], rows: Sequence[Sequence[object]], numeric: int = 0) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            cls = ' class="num"' if i >= len(row) - numeric else ""
            cells.append(f"<td{cls}>{escape('' if v is None else str(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{th}</tr>{''.join(body)}</table>"


def _bars(title: str, items: Sequence[tuple[str, int]]) -> str:
    """A horizontal bar chart as inline SVG (labels escaped)."""
    width, bar_h, label_w = 520, 22, 190
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


def _ome_bins(rows: Sequence[PatientRow]) -> list[tuple[str, int]]:
    edges = [Decimal(e) for e in _OME_BINS]
    labels = [f"{a}-<{b}" for a, b in pairwise(_OME_BINS)]
    labels.append(f">= {_OME_BINS[-1]}")
    counts = [0] * len(labels)
    for r in rows:
        if r.in_scope and r.ome_mg_per_day is not None:
            i = sum(1 for e in edges[1:] if r.ome_mg_per_day >= e)
            counts[i] += 1
    return [(f"{lab} mg/day", n) for lab, n in zip(labels, counts, strict=True)]


def render_html(screening: Screening) -> str:
    """The self-contained HTML report of ``screening`` (all text escaped)."""
    c = screening.counts
    labels = dict(screening.factor_labels)
    tiers = [(t, c.get(f"tier:{t}", 0)) for t in _TIERS]
    levels = [(lv, c.get(f"level:{lv}", 0)) for lv in _LEVELS]
    top = screening.worklist[: screening.method.report_rows]
    as_of = screening.as_of.isoformat() if screening.as_of else "n/a"
    summary_rows = [
        ("Patients", c.get("patients", 0)),
        ("Screened", c.get("patients_screened", 0)),
        ("Not screened (review by hand)", c.get("patients_not_screened", 0)),
        ("In scope", c.get("in_scope", 0)),
        ("Out of scope", c.get("out_of_scope", 0)),
        ("On the worklist", c.get("on_worklist", 0)),
        ("In scope with an incomplete OME (lower bound)", c.get("ome_incomplete_in_scope", 0)),
        ("Input rows excluded or not used", c.get("problem_rows", 0)),
    ]
    work = [
        (
            i,
            r.patient_id,
            r.band,
            r.tier,
            r.risk_level,
            _ome_text(r),
            reasons(r, labels),
        )
        for i, r in enumerate(top, start=1)
    ]
    problems = sorted(
        ((k.removeprefix("problem:"), n) for k, n in c.items() if k.startswith("problem:")),
        key=lambda x: -x[1],
    )
    method = screening.method
    notes = "".join(
        f"<li>{escape(k)}: {escape(v)}</li>" for k, v in sorted(method.citations.items())
    )
    versions = "".join(
        f"<li>{escape(k)}: {escape(v)}</li>" for k, v in sorted(screening.versions.items())
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Opioid population screening, as of {escape(as_of)}</title><style>{_CSS}</style></head>
<body>
<h1>Opioid population screening</h1>
<p>As of {escape(as_of)}. Worklist of people on long-term opioids for chronic non-cancer pain,
in priority order, with the reasons. Every row is an offer of support to review with the
person, not an order. Identifiers are pseudonymous, as in the extract.</p>
<h2>Summary</h2>
{_table(("", "count"), summary_rows, numeric=1)}
<h2>Support tiers</h2>
{_bars("Patients by support tier", tiers)}
{_table(("tier", "patients"), tiers, numeric=1)}
<h2>Risk levels (in scope)</h2>
{_bars("Patients by risk level", levels)}
{_table(("risk level", "patients"), levels, numeric=1)}
<h2>Daily OME (in scope)</h2>
{_bars("In-scope patients by daily OME", _ome_bins(screening.rows))}
<h2>Worklist: the first {len(top)} of {len(screening.worklist)}</h2>
<p class="note">Order: priority band (rules/worklist-priority.toml), then
{escape(", ".join(method.order_within_band))} (largest first). The full worklist is in the
worklist file.</p>
{_table(("#", "patient", "band", "tier", "risk level", "OME mg/day", "why"), work)}
<h2>Input rows excluded or not used</h2>
<p class="note">Row by row in problems.csv (file, row number, reason).</p>
{_table(("reason", "rows"), problems, numeric=1)}
<h2>Method</h2>
<p>Long-term use, scope, risk factors, risk level and tier are decided by the rulesets of
opioidcds exactly as <code>opioidcds.assess.assess</code> decides them for each patient.
Daily OME comes from the latest issue's dosage text when usable, else from the quantity
issued over the interval between issues (stated per patient). Method file
{escape(method.id)} {escape(method.version)}: current window {method.current_window_days}
days, quantity look-back {method.lookback_days} days, lone issue
{method.default_supply_days} days.</p>
<ul>{notes}</ul>
<h3>Versions</h3><ul>{versions}</ul>
</body></html>
"""
