"""Outputs of a screening: worklist files (CSV, Parquet, JSON), problems, summary, HTML report.

The HTML report is one self-contained file (no scripts, no network): counts by tier and risk
level, a bar chart of the OME distribution as inline SVG (bins from the thresholds of the
rulesets and profile in use), the top of the worklist with its reasons, the problems by
reason, the outcomes over time (or why there are none), and the method notes. Every text is
HTML-escaped; it holds pseudonymous ids only (whatever the extract used), never names.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Final

import polars as pl

from opioidcds._decide.knowledge import Knowledge, default_knowledge
from opioidcds._decide.rules import Profile
from opioidcds._display import format_decimal
from opioidcds._errors import InvalidInputError, KnowledgeBaseError
from opioidcds.population._html import CSS, bars, table
from opioidcds.population.engine import PatientRow, Screening, dose_sources_line
from opioidcds.population.outcomes import Outcomes, default_outcomes_method
from opioidcds.population.outcomes_report import (
    NO_BASELINE,
    group_frame,
    outcomes_html,
    outcomes_summary,
    patient_frame,
)

__all__ = [
    "OUTPUT_FORMATS",
    "OmeBin",
    "ome_bins",
    "reasons",
    "render_html",
    "worklist_frame",
    "write_outputs",
]

OUTPUT_FORMATS: Final = ("csv", "parquet", "json")
"""The worklist file formats :func:`write_outputs` writes."""
_TIERS: Final = ("specialist-mdt", "pcn-service", "brief-gp-intervention", "letter", "out-of-scope")
_LEVELS: Final = ("very-high", "high", "moderate", "low")
# Display only: the OME chart's bins are cut at half, once and twice the high-dose threshold
# in use, and at the Script Switch alert threshold (seed 002); none of these is decided here.
_HALF: Final = Decimal("0.5")
_TWICE: Final = Decimal(2)
_ALERT_RULESET: Final = "prescribing-alerts"
_ALERT_PARAMETER: Final = "alert_threshold_mg_per_day"


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


def _summary(
    screening: Screening, outcomes: Outcomes | None, why_not: str | None, *, synthetic: bool
) -> dict[str, object]:
    return {
        "synthetic_data": synthetic,
        "outcomes": outcomes_summary(outcomes, why_not or NO_BASELINE),
        "as_of": screening.as_of.isoformat() if screening.as_of else None,
        "engine": screening.engine,
        "counts": dict(screening.counts),
        "versions": dict(screening.versions),
        "provenance": screening.provenance.model_dump(mode="json"),
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


def _check_profile(
    screening: Screening, knowledge: Knowledge | None, profile: Profile | None
) -> Knowledge:
    kb = knowledge if knowledge is not None else default_knowledge()
    if screening.versions.get("profile") != kb.versions(profile)["profile"]:
        raise InvalidInputError("profile", "must be the profile the screening used")
    return kb


def write_outputs(
    screening: Screening,
    out_dir: str | Path,
    *,
    formats: Sequence[str] = ("csv",),
    html: bool = False,
    outcomes: Outcomes | None = None,
    outcomes_note: str | None = None,
    knowledge: Knowledge | None = None,
    profile: Profile | None = None,
    synthetic: bool = False,
) -> list[Path]:
    """Write the outputs of ``screening`` into ``out_dir``; return the paths written.

    ``worklist.<fmt>`` for each of ``formats`` (csv, parquet, json), ``problems.csv``,
    ``summary.json``, with ``outcomes`` also ``outcomes.csv`` (per group) and
    ``outcomes_patients.csv``, and with ``html`` ``report.html``; without ``outcomes``,
    ``outcomes_note`` says why (default: no baseline date was given). ``knowledge`` and
    ``profile`` must be those the screening used (the report's OME bins come from them).
    ``synthetic`` (the extract is marked synthetic: :func:`~.synthetic.marked_synthetic`) puts
    a SYNTHETIC banner on the report and ``synthetic_data: true`` in the summary.

    Raises:
        InvalidInputError: an unknown format, or a profile other than the screening's.
    """
    unknown = [f for f in formats if f not in OUTPUT_FORMATS]
    if unknown:
        raise InvalidInputError("formats", "must be csv, parquet and/or json")
    kb = _check_profile(screening, knowledge, profile)
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
        else:
            path.write_text(json.dumps(frame.to_dicts(), indent=1), encoding="utf-8")
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
        json.dumps(
            _summary(screening, outcomes, outcomes_note, synthetic=synthetic),
            indent=1,
            sort_keys=True,
        ),
        encoding="utf-8",
    )
    written.append(out / "summary.json")
    if outcomes is not None:
        group_frame(outcomes).write_csv(out / "outcomes.csv")
        patient_frame(outcomes).write_csv(out / "outcomes_patients.csv")
        written += [out / "outcomes.csv", out / "outcomes_patients.csv"]
    if html:
        page = render_html(
            screening,
            outcomes=outcomes,
            outcomes_note=outcomes_note,
            knowledge=kb,
            profile=profile,
            synthetic=synthetic,
        )
        (out / "report.html").write_text(page, encoding="utf-8")
        written.append(out / "report.html")
    return written


# --- HTML ------------------------------------------------------------------------------------

SYNTHETIC_BANNER: Final = (
    '<p class="synthetic"><strong>SYNTHETIC DATA</strong>: the extract is marked synthetic '
    '(column "synthetic"): invented people, not a real practice; not for clinical use.</p>'
)


@dataclass(frozen=True, slots=True)
class OmeBin:
    """One bar of the OME chart: daily OME above ``low`` (exclusive) up to ``high``.

    ``high`` is ``None`` for the last, open bin; ``source`` names where the edge comes from.
    """

    low: Decimal | None
    high: Decimal | None
    label: str
    source: str


def ome_bins(knowledge: Knowledge | None = None, profile: Profile | None = None) -> list[OmeBin]:
    """The OME chart's bins, cut at the thresholds of the rulesets and profile in use.

    Edges: half, once and twice the high-dose threshold of ruleset ``risk-factors`` and the
    Script Switch alert threshold of ``prescribing-alerts`` (when the bundle has it), so a
    profile that moves the high dose moves the bins. Bins are (low, high]: "high dose" is
    strictly above its threshold.

    Raises:
        KnowledgeBaseError: the high-dose parameter is missing.
    """
    kb = knowledge if knowledge is not None else default_knowledge()
    name = default_outcomes_method().high_dose_parameter
    high = kb.bound("risk-factors", profile).binding.params.get(name)
    if not isinstance(high, Decimal):
        raise KnowledgeBaseError(f"risk-factors has no parameter '{name}'")
    edges: dict[Decimal, str] = {}
    if _ALERT_RULESET in kb.rulesets:
        alert = kb.bound(_ALERT_RULESET, profile).binding.params.get(_ALERT_PARAMETER)
        if isinstance(alert, Decimal):
            edges[alert] = f"{_ALERT_RULESET} {_ALERT_PARAMETER} (Script Switch)"
    edges[high * _HALF] = f"half of risk-factors {name}"
    edges[high * _TWICE] = f"twice risk-factors {name}"
    edges[high] = f"risk-factors {name} (high dose)"
    bins: list[OmeBin] = []
    low: Decimal | None = None
    for edge in sorted(edges):
        shown = format_decimal(edge)
        label = f"up to {shown}" if low is None else f"over {format_decimal(low)} to {shown}"
        bins.append(OmeBin(low, edge, label, edges[edge]))
        low = edge
    top = sorted(edges)[-1]
    bins.append(OmeBin(top, None, f"over {format_decimal(top)}", edges[top]))
    return bins


def _ome_bars(rows: Sequence[PatientRow], bins: Sequence[OmeBin]) -> list[tuple[str, int]]:
    counts = [0] * len(bins)
    lower_bounds = 0
    for r in rows:
        if not r.in_scope or r.ome_mg_per_day is None:
            continue
        if not r.ome_complete:
            lower_bounds += 1
            continue
        for i, b in enumerate(bins):
            if b.high is None or r.ome_mg_per_day <= b.high:
                counts[i] += 1
                break
    items = [(f"{b.label} mg/day", n) for b, n in zip(bins, counts, strict=True)]
    items.append(("lower bound only (incomplete)", lower_bounds))
    return items


def render_html(
    screening: Screening,
    *,
    outcomes: Outcomes | None = None,
    outcomes_note: str | None = None,
    knowledge: Knowledge | None = None,
    profile: Profile | None = None,
    synthetic: bool = False,
) -> str:
    """The self-contained HTML report of ``screening`` (all text escaped).

    ``knowledge`` and ``profile`` must be those the screening used (the OME chart's bins come
    from their thresholds); ``outcomes``, when given, adds "Outcomes over time" (otherwise
    the section says why there are none: ``outcomes_note``, default "no baseline date").
    ``synthetic`` puts a SYNTHETIC DATA banner at the top.

    Raises:
        InvalidInputError: a profile other than the screening's.
    """
    kb = _check_profile(screening, knowledge, profile)
    banner = "\n" + SYNTHETIC_BANNER if synthetic else ""
    bins = ome_bins(kb, profile)
    edges = "; ".join(f"{format_decimal(b.high)} = {b.source}" for b in bins if b.high is not None)
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
    prov = screening.provenance
    provenance = (
        f"<p>opioidcds {escape(prov.library_version)}; knowledge-base SHA-256 "
        f"<code>{escape(prov.knowledge_sha256)}</code> over {len(prov.knowledge)} knowledge "
        "sources (docs/safety/provenance.md). Record it with the worklist: the same extract, "
        "library and knowledge give the same worklist.</p>"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Opioid population screening, as of {escape(as_of)}</title><style>{CSS}</style></head>
<body>
<h1>Opioid population screening</h1>{banner}
<p>As of {escape(as_of)}. Worklist of people on long-term opioids for chronic non-cancer pain,
in priority order, with the reasons. Every row is an offer of support to review with the
person, not an order. Identifiers are pseudonymous, as in the extract.</p>
<h2>Summary</h2>
{table(("", "count"), summary_rows, numeric=1)}
<p class="note">{escape(dose_sources_line(c))}</p>
<h2>Support tiers</h2>
{bars("Patients by support tier", tiers)}
{table(("tier", "patients"), tiers, numeric=1)}
<h2>Risk levels (in scope)</h2>
{bars("Patients by risk level", levels)}
{table(("risk level", "patients"), levels, numeric=1)}
<h2>Daily OME (in scope)</h2>
{bars("In-scope patients by daily OME", _ome_bars(screening.rows, bins))}
<p class="note">Bars: daily OME mg/day above the lower edge, up to and including the upper
edge. Edges from the rulesets and profile in use: {escape(edges)}. A total that is a lower
bound has its own bar (its true value is at least that).</p>
<h2>Worklist: the first {len(top)} of {len(screening.worklist)}</h2>
<p class="note">Order: priority band (rules/worklist-priority.toml), then
{escape(", ".join(method.order_within_band))} (largest first). The full worklist is in the
worklist file.</p>
{table(("#", "patient", "band", "tier", "risk level", "OME mg/day", "why"), work)}
<h2>Input rows excluded or not used</h2>
<p class="note">Row by row in problems.csv (file, row number, reason).</p>
{table(("reason", "rows"), problems, numeric=1)}
{outcomes_html(outcomes, outcomes_note or NO_BASELINE)}
<h2>Method</h2>
<p>Long-term use, scope, risk factors, risk level and tier are decided by the rulesets of
opioidcds exactly as <code>opioidcds._decide.assessment.assess</code> decides them for each patient.
Daily OME comes from the latest issue's dosage text when usable, else from the quantity
issued over the interval between issues (stated per patient). Method file
{escape(method.id)} {escape(method.version)}: current window {method.current_window_days}
days, quantity look-back {method.lookback_days} days, lone issue
{method.default_supply_days} days.</p>
<ul>{notes}</ul>
<h3>Versions</h3><ul>{versions}</ul>
<h3>Provenance</h3>{provenance}
</body></html>
"""
