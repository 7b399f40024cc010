"""Outputs of a screening: worklist files (CSV, Parquet, JSON), problems, summary, HTML report.

The HTML report is one self-contained file (no scripts, no network) whose first screen
answers "who do I contact this week, why, and what do I offer": the call-first list (the top
of the worklist, as many people as the practice can see in a week), each row with its reasons,
the tier's offer and the next step, and a legend of the priority bands; then charts (support
tiers and risk levels in their order, the daily OME distribution with the thresholds in force
marked), the rest of the worklist, counts that account for every patient and input row, the
outcomes over time (or why there are none) and the method. People read display names (the
rulesets' labels); the files keep the ids. Every text is HTML-escaped; it holds pseudonymous
ids only (whatever the extract used), never names.

Every CSV is spreadsheet-safe (:mod:`opioidcds._outputs`: a cell a spreadsheet would run as a
formula gets a leading apostrophe); outputs are never written through a symbolic link.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from html import escape
from pathlib import Path
from typing import Any, Final

import polars as pl

from opioidcds._decide.knowledge import Knowledge, default_knowledge
from opioidcds._decide.labels import DisplayWords, display_words
from opioidcds._decide.profile_notes import profile_summary
from opioidcds._decide.rules import Profile
from opioidcds._display import format_decimal
from opioidcds._display import words as as_words
from opioidcds._errors import InvalidInputError, KnowledgeBaseError
from opioidcds._knowledge.tables import table_name
from opioidcds._outputs import (
    FORMULA_START,
    PLAIN_NUMBER,
    SAFE_PREFIX,
    check_targets,
    open_output,
    prepare_folder,
    write_text,
)
from opioidcds.population._html import CSS, Bar, Marker, bars, histogram, table
from opioidcds.population.engine import PatientRow, Screening, dose_sources_line
from opioidcds.population.outcomes import Outcomes, default_outcomes_method
from opioidcds.population.outcomes_report import (
    NO_BASELINE,
    group_frame,
    outcomes_html,
    outcomes_summary,
    patient_frame,
)
from opioidcds.population.rows import BAND_NOT_LISTED, table_rows

__all__ = [
    "OUTPUT_FORMATS",
    "OmeBin",
    "ome_bins",
    "reasons",
    "render_html",
    "spreadsheet_safe_frame",
    "summary_dict",
    "version_text",
    "worklist_frame",
    "write_outputs",
]

OUTPUT_FORMATS: Final = ("csv", "parquet", "json")
"""The worklist file formats :func:`write_outputs` writes."""
# Display only: the OME table's bands are cut at half, once and twice the high-dose threshold
# in use, and at the Script Switch alert threshold; the histogram's bars are a sixth of the
# high-dose threshold wide, up to twice it. None of these is decided here.
_HALF: Final = Decimal("0.5")
_TWICE: Final = Decimal(2)
_HISTOGRAM_BARS_PER_THRESHOLD: Final = 6
_ALERT_RULESET: Final = "prescribing-alerts"
_ALERT_PARAMETER: Final = "alert_threshold_mg_per_day"
_METHOD_ID: Final = re.compile(r"(^|\| )[a-z][a-z-]*: ")
# Chart colours (display only): most intensive or serious dark, least light; grey: none.
_SCALE: Final = ("#8e1b1b", "#d9622b", "#e8b03a", "#5b9bd5", "#9e9e9e")
_BAR: Final = "#4a7ab5"
_LOWER_BOUND: Final = "#b39ddb"


def _ome_text(row: PatientRow) -> str:
    if row.ome_mg_per_day is None:
        return ""
    shown = format_decimal(row.ome_mg_per_day)
    return shown if row.ome_complete else f"at least {shown}"


def _method_words(text: str) -> str:
    """The OME method note without its ids ("dosage-text: ..." -> "..."), each note once."""
    notes = _METHOD_ID.sub(r"\1", text).split(" | ")
    return "; ".join(dict.fromkeys(notes))


def reasons(
    row: PatientRow, labels: dict[str, str] | None = None, *, with_band: bool = True
) -> str:
    """The worklist row's explanation in one paragraph, in words (factor names from ``labels``).

    ``with_band=False`` leaves out the band's reason (the report shows the band and explains
    it in the legend beside the list).
    """
    fields = {name: getattr(row, name) for name in _REASON_FIELDS}
    return _reasons_text(**fields, labels=labels, with_band=with_band)


_REASON_FIELDS: Final = (
    "band_reason",
    "status",
    "scope_reason",
    "in_scope",
    "factors_present",
    "ome_mg_per_day",
    "ome_complete",
    "ome_method",
    "unknowns_that_could_change",
)
"""The fields of a row its reasons are made from (the worklist makes them once per value)."""


def _reasons_text(  # the fields of _REASON_FIELDS
    *,
    band_reason: str,
    status: str,
    scope_reason: str,
    in_scope: bool | None,
    factors_present: Sequence[str],
    ome_mg_per_day: Decimal | None,
    ome_complete: bool,
    ome_method: str,
    unknowns_that_could_change: Sequence[str],
    labels: dict[str, str] | None,
    with_band: bool,
) -> str:
    names = labels or {}
    parts = [band_reason] if band_reason and with_band else []
    if status != "screened":
        return " ".join([*parts, scope_reason])
    if in_scope is False:
        parts.append(scope_reason)
    if factors_present:
        parts.append(
            "Risk factors present: " + ", ".join(names.get(f, f) for f in factors_present) + "."
        )
    if ome_mg_per_day is not None and in_scope:
        shown = format_decimal(ome_mg_per_day)
        ome = shown if ome_complete else f"at least {shown}"
        parts.append(f"Daily OME {ome} mg ({_method_words(ome_method)}).")
    if unknowns_that_could_change:
        parts.append(
            "Not recorded, could raise the level or tier: "
            + ", ".join(names.get(f, f) for f in unknowns_that_could_change)
            + "."
        )
    return " ".join(parts)


def _next_step(words: DisplayWords, row: PatientRow) -> tuple[str, str]:
    """The tier's offer and its first next step (the ruleset's words), for one row."""
    return _next_step_of(words, row.tier)


def worklist_frame(screening: Screening, knowledge: Knowledge | None = None) -> pl.DataFrame:
    """One row per patient in worklist order (``rank`` is 1-based on the worklist, else null).

    Ids (``tier``, ``risk_level``, ``band``, factor ids) for programs, and the same in words
    for people (``tier_name``, ``risk_level_name``, ``band_name``, ``reasons``, ``offer``,
    ``next_step``, from the rulesets of ``knowledge``, default the bundled ones). Built column
    by column from the screening's columns (``Screening.table``): each name, reason and next step
    is made once per distinct value, never one Python object per patient.
    """
    kb = knowledge if knowledge is not None else default_knowledge()
    words = display_words(kb)
    labels = dict(screening.factor_labels)
    t = screening.table
    listed = _per_value(t, "band", str.isdigit, pl.Boolean())
    steps = {tier: _next_step_of(words, tier) for tier in t.get_column("tier").unique()}
    rank = (
        pl.DataFrame({"_l": listed})
        .select(pl.when(pl.col("_l")).then(pl.col("_l").cast(pl.Int64).cum_sum()))
        .to_series()
    )
    columns: dict[str, pl.Series] = {
        "rank": rank,
        "patient_id": t.get_column("patient_id"),
        "band": t.get_column("band"),
        "band_name": _per_value(t, "band", words.band, pl.String()),
        "tier": t.get_column("tier"),
        "tier_name": _per_value(t, "tier", lambda x: words.tier(x) or None, pl.String()),
        "risk_level": t.get_column("risk_level"),
        "risk_level_name": _per_value(
            t, "risk_level", lambda x: words.level(x) or None, pl.String()
        ),
        "ome_mg_per_day": t.get_column("ome_mg_per_day"),
        "ome_complete": t.get_column("ome_complete"),
        "ome_method": t.get_column("ome_method"),
        "factors_present": t.get_column("factors_present").list.join(";"),
        "factors_unknown": t.get_column("factors_unknown").list.join(";"),
        "unknowns_that_could_change": t.get_column("unknowns_that_could_change").list.join(";"),
        "risk_level_if_unknown": t.get_column("risk_level_if_unknown"),
        "tier_if_unknown": t.get_column("tier_if_unknown"),
        "readiness_to_change": t.get_column("readiness_to_change"),
        "in_scope": t.get_column("in_scope"),
        "scope_rule": t.get_column("scope_rule"),
        "scope_reason": t.get_column("scope_reason"),
        "history": t.get_column("history"),
        "status": t.get_column("status"),
        "reasons": _reasons_column(t, labels),
        "offer": _per_value(t, "tier", lambda x: steps[x][0] or None, pl.String()),
        "next_step": _per_value(t, "tier", lambda x: steps[x][1] or None, pl.String()),
    }
    types = {"rank": pl.Int64, "ome_complete": pl.Boolean, "in_scope": pl.Boolean}
    return pl.DataFrame(
        [values.cast(types.get(name, pl.String)).alias(name) for name, values in columns.items()]
    )


def _per_value(
    table: pl.DataFrame, column: str, fn: Callable[[Any], object], dtype: pl.DataType
) -> pl.Series:
    """``fn`` of each value of ``column``, computed once per distinct value."""
    values = table.get_column(column).unique().to_list()
    mapping = pl.DataFrame(
        {column: values, "_v": [fn(v) if v is not None else None for v in values]},
        schema={column: table.schema[column], "_v": dtype},
    )
    return (
        table.select(column)
        .join(mapping, on=column, how="left", nulls_equal=True, maintain_order="left")
        .get_column("_v")
    )


def _reasons_column(table: pl.DataFrame, labels: dict[str, str]) -> pl.Series:
    """Each row's :func:`reasons`, made once per distinct combination of its fields."""
    lists = ("factors_present", "unknowns_that_could_change")
    keyed = table.select(
        *(pl.col(c).list.join(";") if c in lists else pl.col(c) for c in _REASON_FIELDS)
    )
    distinct = keyed.unique()
    texts = []
    for values in distinct.iter_rows(named=True):
        for c in lists:
            values[c] = tuple(values[c].split(";")) if values[c] else ()
        ome = values["ome_mg_per_day"]
        values["ome_mg_per_day"] = None if ome is None else Decimal(ome)
        texts.append(_reasons_text(**values, labels=labels, with_band=True))
    distinct = distinct.with_columns(pl.Series("_reasons", texts, dtype=pl.String))
    return keyed.join(
        distinct, on=list(_REASON_FIELDS), how="left", nulls_equal=True, maintain_order="left"
    ).get_column("_reasons")


def _next_step_of(words: DisplayWords, tier: str | None) -> tuple[str, str]:
    """The tier's offer and its first next step (the ruleset's words)."""
    found = words.tier_words(tier)
    if found is None:
        return "", ""
    return found.offer, found.next_steps[0] if found.next_steps else ""


def spreadsheet_safe_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with every text cell a spreadsheet would run as a formula made inert.

    A text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
    apostrophe (``'=1+1``), which spreadsheets show as text; a plain signed number (``-15``)
    is left as it is. Only the CSV files go through this: Parquet and JSON keep the values.
    """
    texts = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    if not texts:
        return frame
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(FORMULA_START) & ~pl.col(name).str.contains(PLAIN_NUMBER))
        .then(pl.lit(SAFE_PREFIX) + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name in texts
    )


def _write_csv(frame: pl.DataFrame, path: Path) -> None:
    with open_output(path) as f:
        spreadsheet_safe_frame(frame).write_csv(f)


def _summary(
    screening: Screening, outcomes: Outcomes | None, why_not: str | None, *, synthetic: bool
) -> dict[str, object]:
    return {
        "synthetic_data": synthetic,
        "outcomes": outcomes_summary(outcomes, why_not or NO_BASELINE),
        "as_of": screening.as_of.isoformat() if screening.as_of else None,
        "engine": screening.engine,
        "counts": dict(screening.counts),
        "weekly_capacity": screening.weekly_capacity,
        "versions": dict(screening.versions),
        "local_rules": screening.local_rules,  # the local rules in force, in words (issue 23)
        "local_results": {
            f"{rs} {v}: {result}": n
            for rs, v, result, n in screening.local.group_by("ruleset", "version", "result")
            .len()
            .sort("ruleset", "result")
            .iter_rows()
        },
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


def summary_dict(
    screening: Screening,
    outcomes: Outcomes | None = None,
    outcomes_note: str | None = None,
    *,
    synthetic: bool = False,
) -> dict[str, object]:
    """The content of ``summary.json`` for ``screening`` (counts, versions, provenance, method).

    What :func:`write_outputs` writes; also written by the Spark runner's cluster outputs
    (:func:`opioidcds.population.spark_io.write_spark_outputs`). No identifiers.
    """
    return _summary(screening, outcomes, outcomes_note, synthetic=synthetic)


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
    ``profile`` must be those the screening used (the report's words and OME thresholds
    come from them). ``synthetic`` (the extract is marked synthetic:
    :func:`~.synthetic.marked_synthetic`) puts a SYNTHETIC banner on the report and
    ``synthetic_data: true`` in the summary. The folder is created if missing; every CSV is
    spreadsheet-safe (:func:`spreadsheet_safe_frame`).

    Raises:
        InvalidInputError: an unknown format; a profile other than the screening's; an
            output folder that is a file or cannot be created; an output file that is a
            symbolic link or a folder (nothing is written then).
    """
    unknown = [f for f in formats if f not in OUTPUT_FORMATS]
    if unknown:
        raise InvalidInputError("formats", "must be csv, parquet and/or json")
    kb = _check_profile(screening, knowledge, profile)
    out = prepare_folder(out_dir)
    names = [f"worklist.{fmt}" for fmt in formats] + ["problems.csv", "summary.json"]
    if outcomes is not None:
        names += ["outcomes.csv", "outcomes_patients.csv"]
    if html:
        names.append("report.html")
    if not screening.local.is_empty():
        names.append("local-rules.csv")
    check_targets([out / name for name in names])
    frame = worklist_frame(screening, kb)
    written: list[Path] = []
    for fmt in formats:
        path = out / f"worklist.{fmt}"
        if fmt == "csv":
            _write_csv(frame, path)
        elif fmt == "parquet":
            with open_output(path) as f:
                frame.write_parquet(f)
        else:
            write_text(path, json.dumps(frame.to_dicts(), indent=1))
        written.append(path)
    problems = pl.DataFrame(
        {
            "file": [p.file for p in screening.problems],
            "row": [p.row for p in screening.problems],
            "reason": [p.reason for p in screening.problems],
        },
        schema={"file": pl.String, "row": pl.Int64, "reason": pl.String},
    )
    _write_csv(problems, out / "problems.csv")
    written.append(out / "problems.csv")
    write_text(
        out / "summary.json",
        json.dumps(
            _summary(screening, outcomes, outcomes_note, synthetic=synthetic),
            indent=1,
            sort_keys=True,
        ),
    )
    written.append(out / "summary.json")
    if not screening.local.is_empty():  # each patient's local rulesets (issue 23)
        local = screening.local.with_columns(
            pl.col("rules_fired").list.join("; "), pl.col("cannot_evaluate").list.join("; ")
        )
        _write_csv(local, out / "local-rules.csv")
        written.append(out / "local-rules.csv")
    if outcomes is not None:
        _write_csv(group_frame(outcomes), out / "outcomes.csv")
        _write_csv(patient_frame(outcomes), out / "outcomes_patients.csv")
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
        write_text(out / "report.html", page)
        written.append(out / "report.html")
    return written


# --- HTML ------------------------------------------------------------------------------------

SYNTHETIC_BANNER: Final = (
    '<p class="synthetic"><strong>SYNTHETIC DATA</strong>: the extract is marked synthetic '
    '(column "synthetic"): invented people, not a real practice; not for clinical use.</p>'
)


@dataclass(frozen=True, slots=True)
class OmeBin:
    """One band of the OME table: daily OME above ``low`` (exclusive) up to ``high``.

    ``high`` is ``None`` for the last, open band; ``source`` says where the edge comes from.
    """

    low: Decimal | None
    high: Decimal | None
    label: str
    source: str


def _thresholds(kb: Knowledge, profile: Profile | None) -> tuple[Decimal, Decimal | None]:
    """The high-dose threshold and the Script Switch alert threshold (if any) in force."""
    name = default_outcomes_method().high_dose_parameter
    high = kb.bound("risk-factors", profile).binding.params.get(name)
    if not isinstance(high, Decimal):
        raise KnowledgeBaseError(f"risk-factors has no parameter '{name}'")
    alert: Decimal | None = None
    if _ALERT_RULESET in kb.rulesets:
        value = kb.bound(_ALERT_RULESET, profile).binding.params.get(_ALERT_PARAMETER)
        alert = value if isinstance(value, Decimal) else None
    return high, alert


def ome_bins(knowledge: Knowledge | None = None, profile: Profile | None = None) -> list[OmeBin]:
    """The OME table's bands, cut at the thresholds of the rulesets and profile in use.

    Edges: half, once and twice the high-dose threshold of ruleset ``risk-factors`` and the
    Script Switch alert threshold of ``prescribing-alerts`` (when the bundle has it), so a
    profile that moves the high dose moves the bands. Bands are (low, high]: "high dose" is
    strictly above its threshold. ``source`` says, in words, what each edge is.

    Raises:
        KnowledgeBaseError: the high-dose parameter is missing.
    """
    kb = knowledge if knowledge is not None else default_knowledge()
    high, alert = _thresholds(kb, profile)
    edges: dict[Decimal, str] = {}
    if alert is not None:
        edges[alert] = "the Script Switch alert threshold"
    edges[high * _HALF] = "half the high-dose threshold"
    edges[high * _TWICE] = "twice the high-dose threshold"
    edges[high] = "the high-dose threshold"
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


def _in_scope_omes(screening: Screening) -> tuple[list[Decimal], int]:
    """Complete daily OMEs of in-scope patients, and how many are lower bounds only."""
    known = screening.table.filter(
        pl.col("in_scope").fill_null(value=False) & pl.col("ome_mg_per_day").is_not_null()
    )
    complete = known.filter(pl.col("ome_complete")).get_column("ome_mg_per_day")
    return [Decimal(v) for v in complete], known.height - complete.len()


def _ome_table_rows(screening: Screening, bins: Sequence[OmeBin]) -> list[tuple[str, int]]:
    omes, lower = _in_scope_omes(screening)
    counts = [0] * len(bins)
    for value in omes:
        for i, b in enumerate(bins):
            if b.high is None or value <= b.high:
                counts[i] += 1
                break
    items = [(f"{b.label} mg/day", n) for b, n in zip(bins, counts, strict=True)]
    items.append(("lower bound only (incomplete)", lower))
    return items


def _ome_histogram(screening: Screening, kb: Knowledge, profile: Profile | None) -> str:
    """The OME distribution: bars a sixth of the high dose wide, thresholds in force marked."""
    high, alert = _thresholds(kb, profile)
    step = high / _HISTOGRAM_BARS_PER_THRESHOLD
    top = high * _TWICE
    count = int(top / step)
    edges = [step * i for i in range(count + 1)]
    omes, lower = _in_scope_omes(screening)
    counts = [0] * count
    over = 0
    for value in omes:
        if value > top:
            over += 1
            continue
        # bars are (low, high]: the bar whose upper edge is the first at or above the value
        i = int((value / step).to_integral_value(rounding=ROUND_CEILING)) - 1
        counts[min(max(i, 0), count - 1)] += 1
    bins = [
        Bar(f"over {format_decimal(edges[i])} to {format_decimal(edges[i + 1])} mg/day", n, _BAR)
        for i, n in enumerate(counts)
    ]
    risk = kb.rulesets["risk-factors"]
    name = default_outcomes_method().high_dose_parameter
    markers = [Marker(float(high), f"{risk.parameter_label(name)} {format_decimal(high)}")]
    if alert is not None and alert != high:
        label = kb.rulesets[_ALERT_RULESET].parameter_label(_ALERT_PARAMETER)
        markers.insert(0, Marker(float(alert), f"{label} {format_decimal(alert)}"))
    extra = [
        Bar(f"over {format_decimal(top)}", over, _BAR),
        Bar("lower bound only", lower, _LOWER_BOUND),
    ]
    return histogram(
        "In-scope patients by daily OME (mg/day), with the thresholds in force",
        bins,
        [float(e) for e in edges],
        markers,
        extra,
        unit="daily oral morphine equivalent, mg/day",
        html_id="chart-ome",
    )


def _counts_html(screening: Screening, words: DisplayWords) -> str:
    """Counts that add up: patients by outcome of screening, and input rows by use."""
    c = screening.counts
    n = c.get("patients", 0)
    screened, not_screened = c.get("patients_screened", 0), c.get("patients_not_screened", 0)
    in_scope, out_scope = c.get("in_scope", 0), c.get("out_of_scope", 0)
    undetermined = screened - in_scope - out_scope
    patients = [
        ("Patients in the extract (with at least one usable issue)", n),
        ("  screened", screened),
        ("    in scope: on the worklist", in_scope),
        ("    out of scope (reason in the worklist file)", out_scope),
        *([("    scope undetermined", undetermined)] if undetermined else []),
        ("  not screened: review by hand (reason in the worklist file)", not_screened),
        ("In scope with an incomplete OME (a lower bound)", c.get("ome_incomplete_in_scope", 0)),
    ]
    bands = [(f"  {b.label}", c.get(f"band:{b.id}", 0)) for b in words.bands]
    parts = [
        "<h3>Patients</h3>",
        table(
            ("", "patients"),
            [*patients, ("On the worklist, by band", c.get("on_worklist", 0)), *bands],
            numeric=1,
        ),
    ]
    if "issue_rows_opioid" in c:
        rows = [
            ("Issue rows read", c.get("issue_rows_read", 0)),
            ("  opioids (screened)", c.get("issue_rows_opioid", 0)),
            ("  benzodiazepines (co-prescription)", c.get("issue_rows_benzodiazepine", 0)),
            ("  gabapentinoids (co-prescription)", c.get("issue_rows_gabapentinoid", 0)),
            ("  other medicines (not used)", c.get("issue_rows_other_medicines", 0)),
            ("  excluded or not used (problems.csv)", c.get("problem_rows_issues", 0)),
        ]
        parts += ["<h3>Input rows</h3>", table(("", "rows"), rows, numeric=1)]
        if c.get("problem_rows_patients", 0):
            parts.append(
                f'<p class="note">Patient-table rows excluded: {c["problem_rows_patients"]} '
                "(problems.csv; those patients are not screened).</p>"
            )
    return "\n".join(parts)


def _worklist_rows(
    rows: Sequence[PatientRow], start: int, words: DisplayWords, labels: dict[str, str]
) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for i, r in enumerate(rows, start=start):
        offer, step = _next_step(words, r)
        out.append(
            (
                i,
                r.patient_id,
                words.band(r.band),
                words.tier(r.tier),
                words.level(r.risk_level),
                _ome_text(r),
                reasons(r, labels, with_band=False),
                offer,
                step,
            )
        )
    return out


_WORKLIST_HEAD: Final = (
    "#",
    "patient",
    "priority",
    "support tier",
    "risk level",
    "OME mg/day",
    "why",
    "offer",
    "next step",
)


_SLUG: Final = re.compile(r"\b[a-z][a-z0-9]*(?:[-_][a-z0-9]+)+\b")  # an id, not a date


def version_text(key: str, version: str, table_sha256: str | None = None) -> str:
    """One entry of a report's list of versions (``Knowledge.versions`` and the like), in words.

    The conversion table by its title (:func:`~opioidcds._knowledge.tables.table_name`, of
    the file with ``table_sha256``, the hash of the report's provenance);
    every other id in the key or the value in words ("extension exampleshire gabapentinoid:
    0.1.2 (adds to prescribing alerts)", "method: population screening 1.1.0"); a bundled
    ruleset by its name alone ("risk factors: 2.1.1").
    """
    if key == "table":  # "<id> <version>"
        table_id, _, table_version = version.partition(" ")
        return f"conversion table: {table_name(table_id, table_version, sha256=table_sha256)}"
    name = key.removeprefix("ruleset:").replace(":", " ")
    return f"{as_words(name)}: {_SLUG.sub(lambda m: as_words(m.group()), version)}"


def _local_counts(screening: Screening) -> str:
    """A list of patients per local ruleset and outcome (each patient's in local-rules.csv)."""
    if screening.local.is_empty():
        return ""
    counts = (
        screening.local.group_by("ruleset", "version", "result").len().sort("ruleset", "result")
    )
    items = "".join(
        f"<li>Local ruleset {escape(as_words(rs))}, version {escape(v)}: {escape(outcome)}: "
        f"{n} people</li>"
        for rs, v, outcome, n in counts.iter_rows()
    )
    return f'\n<ul id="local-outcomes">{items}</ul><p>Each person\'s result: local-rules.csv.</p>'


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

    ``knowledge`` and ``profile`` must be those the screening used (the words, offers and
    OME thresholds come from them); ``outcomes``, when given, adds "Outcomes over time"
    (otherwise the section says why there are none: ``outcomes_note``, default "no baseline
    date"). ``synthetic`` puts a SYNTHETIC DATA banner at the top.

    Raises:
        InvalidInputError: a profile other than the screening's.
    """
    kb = _check_profile(screening, knowledge, profile)
    words = display_words(kb)
    banner = "\n" + SYNTHETIC_BANNER if synthetic else ""
    if profile is not None:  # a local profile is never silent (issue 23)
        changes = profile_summary(profile, kb.rulesets).text()
        banner += f'\n<p class="profile" id="profile"><strong>{escape(changes)}</strong></p>'
    if screening.local_rules is not None:  # local rules are never silent either
        banner += (
            f'\n<p class="profile" id="local-rules"><strong>{escape(screening.local_rules)}'
            "</strong></p>" + _local_counts(screening)
        )

    c = screening.counts
    labels = dict(screening.factor_labels)
    # only the rows shown are made into objects (the top of the worklist)
    listed = screening.table.filter(pl.col("band") != BAND_NOT_LISTED)
    first = table_rows(listed.head(screening.weekly_capacity))
    rest = table_rows(listed.slice(len(first), max(0, screening.method.report_rows - len(first))))
    as_of = f"{screening.as_of.day} {screening.as_of:%B %Y}" if screening.as_of else "n/a"
    capacity = screening.weekly_capacity
    method = screening.method
    if screening.capacity is None:
        sessions = (
            "one session"
            if method.sessions_per_week == 1
            else f"{method.sessions_per_week} sessions"
        )
        why_capacity = (
            f"{capacity} people a week: {sessions} of {method.session_minutes} minutes a week "
            f"holds {capacity} first appointments of {method.first_appointment_minutes} "
            "minutes (the default; set your practice's own with opioidcds screen --capacity N)"
        )
    else:
        why_capacity = f"{capacity} people a week (the capacity given for this practice)"
    tiers = [
        Bar(t.label, c.get(f"tier:{t.id}", 0), _SCALE[min(i, len(_SCALE) - 1)])
        for i, t in enumerate(words.tiers)
    ]
    levels = [
        Bar(label, c.get(f"level:{v}", 0), _SCALE[min(i, len(_SCALE) - 1)])
        for i, (v, label) in enumerate(words.levels)
    ]
    bins = ome_bins(kb, profile)
    edges = "; ".join(
        f"{format_decimal(b.high)} mg/day is {b.source}" for b in bins if b.high is not None
    )
    legend = [(b.label, b.meaning, c.get(f"band:{b.id}", 0)) for b in words.bands]
    problems = sorted(
        ((k.removeprefix("problem:"), n) for k, n in c.items() if k.startswith("problem:")),
        key=lambda x: -x[1],
    )
    notes = "".join(f"<li>{escape(v)}</li>" for _, v in sorted(method.citations.items()))
    table_sha = screening.provenance.sha256_of("conversion-table")
    versions = "".join(
        f"<li>{escape(version_text(k, v, table_sha))}</li>"
        for k, v in sorted(screening.versions.items())
    )
    prov = screening.provenance
    provenance = (
        f"<p>opioidcds {escape(prov.library_version)}; knowledge-base SHA-256 "
        f"<code>{escape(prov.knowledge_sha256)}</code> over {len(prov.knowledge)} knowledge "
        "sources (docs/safety/provenance.md). Record it with the worklist: the same extract, "
        "library and knowledge give the same worklist.</p>"
    )
    count_tables = "\n".join(
        (
            table(("support tier", "patients"), [(b.label, b.count) for b in tiers], 1),
            table(("risk level", "patients"), [(b.label, b.count) for b in levels], 1),
            table(("daily OME", "patients"), _ome_table_rows(screening, bins), 1),
        )
    )
    rest_rows = _worklist_rows(rest, len(first) + 1, words, labels)
    rest_table = table(_WORKLIST_HEAD, rest_rows, html_id="worklist-rest")
    more = listed.height - len(first)
    lead = (
        f"As of {escape(as_of)}: <strong>{listed.height}</strong> people on long-term opioids "
        f"for chronic non-cancer pain are on the worklist. Contact the first "
        f"<strong>{len(first)}</strong> this week"
        + (f"; the other {more} follow in the same order." if more else ".")
    )
    return f"""<!DOCTYPE html>
<html lang="en-GB"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Opioid population screening, as of {escape(as_of)}</title><style>{CSS}</style></head>
<body>
<h1>Opioid population screening</h1>{banner}
<p class="lead">{lead}</p>
<section class="callfirst" id="call-first">
<h2>Contact this week: {len(first)} of {listed.height}</h2>
<p>In priority order, with why, what to offer and the next step. Every row is an offer of
support to discuss with the person, never an order. The list holds {escape(why_capacity)}.
Identifiers are pseudonymous, as in the extract.</p>
{table(_WORKLIST_HEAD, _worklist_rows(first, 1, words, labels), html_id="call-first-list")}
<h3>Priority bands</h3>
{table(("band", "who is in it", "people"), legend, numeric=1, html_id="band-legend")}
<p class="note">Bands from the worklist priority ruleset; within a band, largest daily OME
first, then most risk factors. People out of scope are not on the worklist (they are in the
worklist file with the reason).</p>
</section>
<h2>At a glance</h2>
<div class="charts">
<figure><figcaption>Support tiers (most intensive first)</figcaption>
{bars("Patients by support tier, most intensive first", tiers, html_id="chart-tiers")}
</figure>
<figure><figcaption>Risk levels, in scope (most serious first)</figcaption>
{bars("In-scope patients by risk level, most serious first", levels, html_id="chart-levels")}
</figure>
</div>
<figure><figcaption>Daily OME of the people in scope, with the thresholds in force</figcaption>
{_ome_histogram(screening, kb, profile)}
</figure>
<div class="charts">
{count_tables}
</div>
<p class="note">Daily OME in mg/day: each bar or band is above its lower edge, up to and
including its upper edge. Thresholds of the rulesets and profile in use: {escape(edges)}.
A total that is a lower bound (something could not be converted or estimated) has its own bar:
its true value is at least that.</p>
<h2>The rest of the worklist: {len(rest)} more of {listed.height}</h2>
<p class="note">In the same order; the whole worklist, with every patient and the ids for
other programs, is in the worklist file.</p>
{rest_table}
<h2>Counts: every patient and every input row</h2>
<p class="note">{escape(dose_sources_line(screening.counts))}</p>
{_counts_html(screening, words)}
<h2>Input rows excluded or not used</h2>
<p class="note">Row by row in problems.csv (file, row number, reason).</p>
{table(("reason", "rows"), problems, numeric=1)}
{outcomes_html(outcomes, outcomes_note or NO_BASELINE)}
<h2>Method</h2>
<p>Long-term use, scope, risk factors, risk level and tier are decided by the rulesets of
opioidcds exactly as the assessment of one patient decides them (opioidcds assess).
Daily OME comes from the latest issue's dosage text when usable, else from the quantity
issued over the interval between issues (stated per patient). Screening method
{escape(method.version)}: a medicine is current when issued in the last
{method.current_window_days} days; quantities over the last {method.lookback_days} days; a
lone issue covers {method.default_supply_days} days.</p>
<ul>{notes}</ul>
<h3>Versions</h3><ul>{versions}</ul>
<h3>Provenance</h3>{provenance}
</body></html>
"""
