"""The evaluation as files and HTML: the pilot's kind of table, practice trends and funnels.

:func:`write_evaluation` writes ``evaluation_measures.<fmt>`` (one row per measure and group),
``evaluation_patients.<fmt>`` (one row per patient and measure), ``trends.<fmt>`` (one row
per practice and month), ``funnel.<fmt>`` (one row per practice and indicator) for each of the
formats (CSV, Parquet), ``problems.csv`` (input rows excluded), ``evaluation.json`` (the
figures, no identifiers) and, with ``html``, ``evaluation.html`` with one page per practice
(``practice-N.html``). Pages are self-contained (no scripts, no network); every text is
escaped. See ``docs/evaluation.md``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Final

import polars as pl

from opioidcds._display import format_decimal
from opioidcds._errors import InvalidInputError
from opioidcds._outputs import check_targets, open_output, prepare_folder, write_text
from opioidcds.population._html import CSS, table
from opioidcds.population.charts import funnel_chart, line_chart
from opioidcds.population.evaluation import Evaluation
from opioidcds.population.outcomes import OVERALL, SignedRank, Spread
from opioidcds.population.report import SYNTHETIC_BANNER, spreadsheet_safe_frame, version_text
from opioidcds.population.service import STATUS_TEXT, MeasureSummary
from opioidcds.population.trends import ALL_PRACTICES, PracticeMonth

__all__ = [
    "EVALUATION_FORMATS",
    "evaluation_summary",
    "funnel_frame",
    "measure_frame",
    "p_text",
    "patient_change_frame",
    "render_evaluation_html",
    "render_practice_html",
    "trend_frame",
    "write_evaluation",
]

EVALUATION_FORMATS: Final = ("csv", "parquet")
"""The table formats :func:`write_evaluation` writes."""
_PLACES: Final = Decimal("0.01")


def _num(value: Decimal | None) -> str:
    return "" if value is None else format_decimal(value)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _spread(s: Spread | None) -> str:
    if s is None:
        return "no pairs"
    return f"{_num(s.median)} ({_num(s.q1)} to {_num(s.q3)})"


def p_text(t: SignedRank | None) -> str:
    """A test's p-value and its method in words ("0.0021 (exact)"), or why there is none."""
    return _p(t)


def _p(t: SignedRank | None) -> str:
    if t is None:
        return "not tested (profile)"
    if t.p_value is None:
        return f"cannot evaluate: {t.reason}"
    method = {
        "exact": "exact",
        "exact-enumeration": "exact, ties",
        "normal-approximation": "normal approximation",
    }.get(t.method, t.method)
    return f"{t.p_value:.2g} ({method})"


def _r(value: Decimal | None) -> str:
    return "" if value is None else str(value.quantize(_PLACES))


def _missing(s: MeasureSummary) -> str:
    parts = [f"{n} {STATUS_TEXT[k]}" for k, n in s.excluded.items() if n]
    return "; ".join(parts) if parts else "none"


# --- frames --------------------------------------------------------------------------------


def _measure_row(s: MeasureSummary) -> dict[str, object]:
    t = s.wilcoxon

    def part(sp: Spread | None, name: str) -> str | None:
        return None if sp is None else str(getattr(sp, name))

    return {
        "measure": s.measure.id,
        "label": s.measure.label,
        "group": s.group,
        "better": s.measure.better,
        "patients": s.patients,
        "paired": s.paired,
        **{f"excluded_{k.replace('-', '_')}": n for k, n in s.excluded.items()},
        "baseline_median": part(s.baseline, "median"),
        "baseline_q1": part(s.baseline, "q1"),
        "baseline_q3": part(s.baseline, "q3"),
        "follow_up_median": part(s.follow_up, "median"),
        "follow_up_q1": part(s.follow_up, "q1"),
        "follow_up_q3": part(s.follow_up, "q3"),
        "change_median": part(s.change, "median"),
        "change_q1": part(s.change, "q1"),
        "change_q3": part(s.change, "q3"),
        "mean_change": _text(s.mean_change),
        "wilcoxon_status": None if t is None else t.status,
        "wilcoxon_reason": None if t is None else t.reason,
        "wilcoxon_w_plus": None if t is None else _text(t.w_plus),
        "wilcoxon_w_minus": None if t is None else _text(t.w_minus),
        "wilcoxon_nonzero_pairs": None if t is None else t.nonzero_pairs,
        "wilcoxon_zero_differences": None if t is None else t.zero_differences,
        "wilcoxon_p": None if t is None else t.p_value,
        "wilcoxon_method": None if t is None else t.method,
        "rank_biserial": _text(s.rank_biserial),
        "improved": s.improved,
        "worsened": s.worsened,
        "unchanged": s.unchanged,
        "mixed": s.mixed,
        "important_change": _text(s.measure.important_change),
        "important_improved": s.important_improved,
        "important_worsened": s.important_worsened,
    }


def measure_frame(ev: Evaluation) -> pl.DataFrame:
    """One row per measure and group (exact decimals as text)."""
    return pl.DataFrame([_measure_row(s) for s in ev.summaries], infer_schema_length=None)


def patient_change_frame(ev: Evaluation) -> pl.DataFrame:
    """One row per patient and measure (pseudonymous ids as in the inputs)."""
    rows = [
        {
            "patient_id": c.patient_id,
            "practice": c.practice,
            "measure": c.measure,
            "status": c.status,
            "baseline_date": None if c.baseline_date is None else c.baseline_date.isoformat(),
            "follow_up_date": None if c.follow_up_date is None else c.follow_up_date.isoformat(),
            "baseline": _text(c.baseline) if c.baseline_profile is None else c.baseline_profile,
            "follow_up": _text(c.follow_up) if c.follow_up_profile is None else c.follow_up_profile,
            "change": _text(c.change),
            "direction": c.direction,
            "important": c.important,
            "note": c.note,
        }
        for c in ev.changes
    ]
    schema = dict.fromkeys(
        (
            "patient_id",
            "practice",
            "measure",
            "status",
            "baseline_date",
            "follow_up_date",
            "baseline",
            "follow_up",
            "change",
            "direction",
            "important",
            "note",
        ),
        pl.String,
    )
    return pl.DataFrame(rows, schema=schema)


def trend_frame(ev: Evaluation) -> pl.DataFrame:
    """One row per practice (and "all practices") and month end."""
    rows = [
        {
            "practice": r.practice,
            "month": r.month.strftime("%Y-%m"),
            "month_end": r.month.isoformat(),
            "list_size": r.list_size,
            "long_term_patients": r.long_term,
            "long_term_per_1000": _text(r.long_term_rate),
            "median_daily_ome": _text(None if r.median_ome is None else r.median_ome.median),
            "daily_ome_q1": _text(None if r.median_ome is None else r.median_ome.q1),
            "daily_ome_q3": _text(None if r.median_ome is None else r.median_ome.q3),
            "daily_ome_lower_bounds": r.lower_bounds,
            "high_dose_patients": r.high_dose,
            "high_dose_unknown": r.high_dose_unknown,
            "high_dose_per_1000": _text(r.high_dose_rate),
            "new_long_term_starts": r.new_long_term,
            "became_long_term_history_too_short": r.new_unknown,
        }
        for r in ev.trends
    ]
    if not rows:
        return pl.DataFrame({"practice": []}, schema={"practice": pl.String})
    return pl.DataFrame(rows, infer_schema_length=None)


def funnel_frame(ev: Evaluation) -> pl.DataFrame:
    """One row per indicator and practice: count, list size, rate, target, limits, position."""
    rows: list[dict[str, object]] = []
    for f in ev.funnels:
        for p in f.points:
            row: dict[str, object] = {
                "indicator": f.indicator,
                "practice": p.practice,
                "count": p.count,
                "list_size": p.size,
                "rate_per_1000": str(p.rate),
                "pooled_rate_per_1000": _text(f.target),
                "position": p.position,
            }
            for label, low, high in p.limits:
                key = re.sub(r"[^0-9a-z]+", "_", label.lower()).strip("_")
                row[f"lower_{key}"] = low
                row[f"upper_{key}"] = high
            rows.append(row)
    if not rows:
        return pl.DataFrame({"indicator": []}, schema={"indicator": pl.String})
    return pl.DataFrame(rows, infer_schema_length=None)


def evaluation_summary(ev: Evaluation) -> dict[str, object]:
    """The figures of ``evaluation.json``: counts and statistics, no patient identifiers."""
    return {
        "synthetic_data": ev.synthetic,
        "as_of": ev.as_of.isoformat(),
        "service_cohort": ev.cohort,
        "questionnaires_used": ev.questionnaires_used,
        "questionnaires_after_as_of": ev.questionnaires_after_as_of,
        "measures": [_measure_row(s) for s in ev.summaries],
        "months": [m.isoformat() for m in ev.months],
        "trends": trend_frame(ev).to_dicts(),
        "funnels": [
            {
                "indicator": f.indicator,
                "label": f.label,
                "status": f.status,
                "reason": f.reason,
                "pooled_rate_per_1000": _text(f.target),
                "points": [
                    {
                        "practice": p.practice,
                        "count": p.count,
                        "list_size": p.size,
                        "rate_per_1000": str(p.rate),
                        "position": p.position,
                    }
                    for p in f.points
                ],
            }
            for f in ev.funnels
        ],
        "problems": [{"file": p.file, "row": p.row, "reason": p.reason} for p in ev.problems],
        "versions": dict(ev.versions),
        "provenance": ev.provenance.model_dump(mode="json"),
    }


# --- HTML ----------------------------------------------------------------------------------


def _pilot_table(summaries: Sequence[MeasureSummary], group: str) -> str:
    rows = [
        (
            s.measure.label,
            s.measure.better + " is better",
            f"{s.paired} of {s.patients}",
            _spread(s.baseline) if s.measure.kind == "numeric" else "profile",
            _spread(s.follow_up) if s.measure.kind == "numeric" else "profile",
            _spread(s.change) if s.measure.kind == "numeric" else "",
            _p(s.wilcoxon),
            _r(s.rank_biserial),
            (
                f"{s.improved} / {s.worsened} / {s.unchanged}"
                + (f" / {s.mixed} mixed" if s.measure.kind == "profile" else "")
            ),
            (
                ""
                if s.important_improved is None
                else f"{s.important_improved} / {s.important_worsened} "
                f"(change of {_num(s.measure.important_change)} or more)"
            ),
            _missing(s),
        )
        for s in summaries
        if s.group == group
    ]
    head = (
        "measure",
        "direction",
        "paired",
        "baseline median (IQR)",
        "follow-up median (IQR)",
        "change median (IQR)",
        "Wilcoxon signed-rank p",
        "effect size r (rank-biserial)",
        "improved / worsened / unchanged",
        "important change: improved / worsened",
        "not paired (why)",
    )
    return table(head, rows)


def _series(
    trends: Sequence[PracticeMonth], practices: Sequence[str], attr: str
) -> list[tuple[str, list[float | None]]]:
    out: list[tuple[str, list[float | None]]] = []
    for name in practices:
        rows = sorted((r for r in trends if r.practice == name), key=lambda r: r.month)
        values: list[float | None] = []
        for r in rows:
            v = getattr(r, attr)
            if isinstance(v, Decimal):
                values.append(float(v))
            elif attr == "median_ome":
                values.append(None if r.median_ome is None else float(r.median_ome.median))
            elif isinstance(v, int):
                values.append(float(v))
            else:
                values.append(None)
        out.append((name, values))
    return out


_TREND_CHARTS: Final = (
    ("long_term_rate", "Patients on long-term opioids per 1,000 registered", "per 1,000"),
    ("high_dose_rate", "Patients above the high-dose threshold per 1,000 registered", "per 1,000"),
    ("median_ome", "Median daily OME of long-term patients", "mg/day"),
    ("new_long_term", "New long-term starts", "patients"),
)


def _trend_section(ev: Evaluation, practices: Sequence[str]) -> str:
    labels = [m.strftime("%Y-%m") for m in ev.months]
    charts = "".join(
        line_chart(title, labels, _series(ev.trends, practices, attr), unit)
        for attr, title, unit in _TREND_CHARTS
    )
    rows = [
        (
            r.practice,
            r.month.strftime("%Y-%m"),
            "" if r.list_size is None else r.list_size,
            r.long_term,
            _r(r.long_term_rate) or "no list size",
            "" if r.median_ome is None else _num(r.median_ome.median),
            r.high_dose,
            _r(r.high_dose_rate) or "no list size",
            r.new_long_term,
            r.new_unknown,
        )
        for r in ev.trends
        if r.practice in practices
    ]
    head = (
        "practice",
        "month",
        "list size",
        "long-term patients",
        "per 1,000",
        "median daily OME mg",
        "above high dose",
        "per 1,000",
        "new long-term starts",
        "became long-term, history too short",
    )
    return f'<div class="charts">{charts}</div>{table(head, rows, numeric=8)}'


def _head(title: str, synthetic: bool) -> str:
    banner = "\n" + SYNTHETIC_BANNER if synthetic else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{escape(title)}</title><style>{CSS}
.charts svg{{margin:.5em 1em .5em 0}}</style></head>
<body>
<h1>{escape(title)}</h1>{banner}"""


def _practice_names(ev: Evaluation) -> list[str]:
    names = {r.practice for r in ev.trends if r.practice != ALL_PRACTICES}
    names |= {s.group for s in ev.summaries if s.group != OVERALL}
    return sorted(names)


def practice_pages(ev: Evaluation) -> dict[str, str]:
    """Each practice's page file name (``practice-N.html``, in practice order)."""
    return {name: f"practice-{k}.html" for k, name in enumerate(_practice_names(ev), start=1)}


def _method_section(ev: Evaluation) -> str:
    m = ev.method
    notes = "".join(f"<li>{escape(v)}</li>" for _, v in sorted(m.citations.items()))
    instruments = "".join(
        f"<li><strong>{escape(i.name)}</strong> ({escape(i.short_name)}, version "
        f"{escape(i.version)}), recall {escape(i.recall_period)}. {escape(i.licence)}<ul>"
        + "".join(f"<li>{escape(c.text)}</li>" for c in i.citations)
        + "</ul></li>"
        for i in ev.instruments
    )
    value_set = (
        f"<p>EQ-5D-5L index from the value set {escape(ev.value_set.id)} "
        f"{escape(ev.value_set.version)} loaded by the user. Licence: "
        f"{escape(ev.value_set.licence)}</p>"
        if ev.value_set is not None
        else "<p>No EQ-5D-5L value set loaded: the profile (Paretian classification of change) "
        "and the EQ VAS are reported; an index needs a value set loaded as cited data.</p>"
    )
    short = {f"instrument:{i.id}": i.short_name for i in ev.instruments}
    sha = ev.provenance.sha256_of("conversion-table")
    versions = "".join(
        f"<li>{escape(f'{short[k]}: {v}' if k in short else version_text(k, v, sha))}</li>"
        for k, v in sorted(ev.versions.items())
    )
    prov = ev.provenance
    return f"""<h2>Method</h2>
<p>Service cohort: every patient with a questionnaire; index date: their first questionnaire.
Baseline: the earliest questionnaire of an instrument up to {m.baseline_window_days} days after
the index date; follow-up: the latest from {m.follow_up_min_days} to {m.follow_up_max_days}
days after it. The daily dose is the screening's daily OME at the index date and at the
latest follow-up questionnaire. A patient without a usable baseline or follow-up is counted
with the reason and never imputed. Medians and quartiles: Hyndman-Fan definition 7. Wilcoxon
signed-rank test, two-sided, zero changes dropped (counted); the p-value's method is named:
exact (no ties), exact with ties (all 2<sup>n</sup> sign changes counted) or the normal
approximation (over {ev.outcomes_method.permutation_max_pairs} pairs with a change); fewer than
{ev.outcomes_method.min_nonzero_pairs} pairs with a change: cannot evaluate. Effect size: the
matched-pairs rank-biserial correlation (W+ - W-)/(W+ + W-), from -1 to 1, positive when
follow-up values are higher. Improved / worsened: any change in the better / worse direction
of the measure; important change: at least the instrument's cited threshold.</p>
<p>Trends: each month's end, the extract screened as of that date; long-term: in scope
(rules/scope.toml); high dose: the risk-factor rule above
{escape(_num(ev.high_dose_mg_per_day))}
mg/day (the threshold in use); rates per {m.per:,} registered patients from the list sizes
given. Funnel: each practice's proportion of its list against the pooled rate of the
practices compared, with exact binomial control limits ({escape(", ".join(m.funnel_labels))}).</p>
<ul>{notes}</ul>
<h3>Instruments</h3>
<p>Only item identifiers, short labels and published scoring rules are held by opioidcds;
administering each questionnaire needs its owner's registration or licence.</p>
<ul>{instruments}</ul>
{value_set}
<h3>Versions</h3><ul>{versions}</ul>
<h3>Provenance</h3><p>opioidcds {escape(prov.library_version)}; knowledge-base SHA-256
<code>{escape(prov.knowledge_sha256)}</code> over {len(prov.knowledge)} knowledge sources
(the screening's rulesets, tables and catalogue, the instruments, the evaluation method and any
value set): the same inputs, library and knowledge give the same evaluation.</p>"""


def render_evaluation_html(ev: Evaluation) -> str:
    """The main evaluation report (links to each practice's page)."""
    pages = practice_pages(ev)
    practice_tables = "".join(
        f'<h3><a href="{escape(pages[s])}">{escape(s)}</a></h3>{_pilot_table(ev.summaries, s)}'
        for s in sorted({x.group for x in ev.summaries if x.group != OVERALL})
    )
    funnels = "".join(
        f'<div class="charts">{funnel_chart(f)}</div>'
        + table(
            ("practice", "list size", "count", "per 1,000", "position"),
            [(p.practice, p.size, p.count, _r(p.rate), p.position) for p in f.points],
            numeric=3,
        )
        for f in ev.funnels
    )
    problems = table(("file", "row", "reason"), [(p.file, p.row, p.reason) for p in ev.problems])
    links = "".join(
        f'<li><a href="{escape(file)}">{escape(name)}</a></li>' for name, file in pages.items()
    )
    last = ev.months[-1].strftime("%Y-%m") if ev.months else "n/a"
    title = f"Service evaluation and practice trends, as of {ev.as_of.isoformat()}"
    return f"""{_head(title, ev.synthetic)}
<p>As of {escape(ev.as_of.isoformat())}: {ev.cohort} patients in the service cohort,
{ev.questionnaires_used} questionnaires used, {ev.questionnaires_after_as_of} completed after
the evaluation date (not used), {len(ev.problems)} input rows excluded (listed below).
Identifiers are pseudonymous, as in the inputs.</p>
<h2>Service evaluation: baseline against follow-up</h2>
<p>The South Gloucestershire pilot's kind of table: each measure's median and IQR at baseline and at
follow-up, paired per patient, with the Wilcoxon signed-rank test.</p>
{_pilot_table(ev.summaries, OVERALL)}
<h3>Per practice</h3>
{practice_tables or '<p class="note">No practice recorded: overall figures only.</p>'}
<h2>Practice comparison, {escape(last)}</h2>
{funnels}
<h2>Trends per practice and month</h2>
<p>Practice pages, each with its own trend: </p><ul>{links}</ul>
{_trend_section(ev, [*pages, ALL_PRACTICES])}
<h2>Input rows excluded</h2>
<p class="note">Row by row in problems.csv (file, row number, reason; never the value).</p>
{problems}
{_method_section(ev)}
</body></html>
"""


def render_practice_html(ev: Evaluation, practice: str) -> str:
    """One practice's page: its service evaluation and its own trend against all practices."""
    return f"""{_head(f"Practice {practice}: service evaluation and trend", ev.synthetic)}
<p><a href="evaluation.html">Back to the evaluation of all practices</a>. As of
{escape(ev.as_of.isoformat())}.</p>
<h2>Service evaluation</h2>
{_pilot_table(ev.summaries, practice)}
<h2>Trend</h2>
{_trend_section(ev, [practice, ALL_PRACTICES])}
</body></html>
"""


def write_evaluation(
    ev: Evaluation,
    out_dir: str | Path,
    *,
    formats: Sequence[str] = ("csv",),
    html: bool = False,
) -> list[Path]:
    """Write the evaluation's files into ``out_dir``; return the paths written.

    As the screening's outputs (:func:`~opioidcds.population.report.write_outputs`): the folder
    is created if missing, every CSV is spreadsheet-safe, and no file is written through a
    symbolic link.

    Raises:
        InvalidInputError: an unknown format; an output folder that is a file or cannot be
            created; an output file that is a symbolic link or a folder.
    """
    if not formats or any(f not in EVALUATION_FORMATS for f in formats):
        raise InvalidInputError("formats", "must be csv and/or parquet")
    out = prepare_folder(out_dir)
    written: list[Path] = []
    frames = {
        "evaluation_measures": measure_frame(ev),
        "evaluation_patients": patient_change_frame(ev),
        "trends": trend_frame(ev),
        "funnel": funnel_frame(ev),
    }
    pages = practice_pages(ev) if html else {}
    names = [f"{name}.{fmt}" for name in frames for fmt in formats]
    names += ["problems.csv", "evaluation.json"]
    names += ["evaluation.html", *pages.values()] if html else []
    check_targets([out / name for name in names])
    for name, frame in frames.items():
        for fmt in formats:
            path = out / f"{name}.{fmt}"
            with open_output(path) as f:
                if fmt == "csv":
                    spreadsheet_safe_frame(frame).write_csv(f)
                else:
                    frame.write_parquet(f)
            written.append(path)
    problems = pl.DataFrame(
        {
            "file": [p.file for p in ev.problems],
            "row": [p.row for p in ev.problems],
            "reason": [p.reason for p in ev.problems],
        },
        schema={"file": pl.String, "row": pl.Int64, "reason": pl.String},
    )
    with open_output(out / "problems.csv") as f:
        spreadsheet_safe_frame(problems).write_csv(f)
    written.append(out / "problems.csv")
    summary = out / "evaluation.json"
    write_text(summary, json.dumps(evaluation_summary(ev), indent=1, sort_keys=True))
    written.append(summary)
    if html:
        page = out / "evaluation.html"
        write_text(page, render_evaluation_html(ev))
        written.append(page)
        for name, file in pages.items():
            write_text(out / file, render_practice_html(ev, name))
            written.append(out / file)
    return written
