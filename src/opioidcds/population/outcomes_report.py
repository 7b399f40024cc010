"""Outcomes over time as files, terminal rows and an HTML section (docs/population.md).

``outcomes.csv``: one row per group (overall, then each practice); ``outcomes_patients.csv``:
one row per patient of the paired cohort; the HTML section and the terminal rows say why
there are no outcome figures when there are none. People read figures as they are reported
(seed style: "median 90 mg, IQR 60-240"; "p < 0.001"): daily OMEs in whole mg, p to three
decimal places or "< 0.001", counts that add up on the page; the files keep exact values.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from html import escape
from typing import Final

import polars as pl

from opioidcds._display import format_decimal
from opioidcds.population._html import Bar, bars, table
from opioidcds.population.outcomes import GroupOutcome, Outcomes, SignedRank, Snapshot, Spread

__all__ = [
    "NO_BASELINE",
    "format_p",
    "group_frame",
    "outcomes_html",
    "outcomes_summary",
    "patient_frame",
    "terminal_rows",
]

NO_BASELINE: Final = (
    "no baseline date was given: outcomes over time compare two dates of the same extract "
    "(opioidcds screen --baseline YYYY-MM-DD, or opioidcds.population.outcomes.outcomes)"
)


_P_FLOOR: Final = 0.001  # display: below this a p is shown as "p < 0.001"
_WHOLE: Final = Decimal(1)


def _mg(value: Decimal | None) -> str:
    return "" if value is None else format_decimal(value)


def _whole_mg(value: Decimal) -> str:
    """A daily OME as people read it in outcome figures: whole mg, half up."""
    return str(value.quantize(_WHOLE, rounding=ROUND_HALF_UP))


def _spread(s: Spread | None) -> str:
    if s is None:
        return "no pairs"
    return f"{_whole_mg(s.median)} (IQR {_whole_mg(s.q1)}-{_whole_mg(s.q3)})"


def format_p(p: float | None) -> str:
    """A p-value as people read it: "p < 0.001", else three decimal places ("p = 0.013").

    Trailing zeros are dropped ("p = 0.05", "p = 1"); ``None`` is "cannot evaluate".
    """
    if p is None:
        return "cannot evaluate"
    if p < _P_FLOOR:
        return "p < 0.001"
    shown = f"{p:.3f}".rstrip("0").rstrip(".")
    return f"p = {shown}"


def _p(t: SignedRank) -> str:
    return format_p(t.p_value)


def _test(t: SignedRank) -> str:
    if t.status != "evaluated":
        return f"cannot evaluate: {t.reason}"
    method = {
        "exact": "exact",
        "exact-enumeration": "exact, all sign changes enumerated (ties)",
        "normal-approximation": "normal approximation with tie correction",
    }.get(t.method, t.method)
    return (
        f"{_p(t)} (two-sided, {method}); W = {_mg(t.statistic)} (W+ {_mg(t.w_plus)}, "
        f"W- {_mg(t.w_minus)}); {t.nonzero_pairs} pairs with a change, "
        f"{t.zero_differences} without (left out of the test)"
    )


def _reconciled(g: GroupOutcome) -> str:
    """The cohort's change classes, adding up to the cohort, and the paired count."""
    parts = [
        f"{g.reduced} reduced",
        f"{g.increased} increased",
        f"{g.unchanged} unchanged",
        f"{g.stopped} stopped",
    ]
    if g.not_compared:
        parts.append(
            f"{g.not_compared} not compared (a daily OME is a lower bound, or not screened)"
        )
    text = f"{g.cohort} long-term users at baseline = " + " + ".join(parts) + "."
    text += (
        f" Paired (in the medians and the test): {g.pairs} = {g.reduced} + {g.increased} + "
        f"{g.unchanged} + {g.stopped_paired} stopped"
    )
    if g.stopped != g.stopped_paired:
        text += (
            f"; the other {g.stopped - g.stopped_paired} stopped from a baseline that was a "
            "lower bound (counted as stopped, not paired)"
        )
    return text + "."


def _share(s: Snapshot) -> str:
    share = s.high_dose_share
    if share is None:
        return "0 of 0"
    pct = (share * 100).quantize(Decimal("0.1"))
    text = f"{s.high_dose} of {s.patients} ({pct}%)"
    return text + (f"; {s.high_dose_unknown} unknown" if s.high_dose_unknown else "")


def _total(s: Snapshot) -> str:
    shown = _mg(s.total_daily_ome)
    if s.incomplete:
        return f"at least {shown} ({s.incomplete} lower bound(s))"
    return shown


def _group_dict(g: GroupOutcome) -> dict[str, object]:
    t = g.wilcoxon

    def spread(s: Spread | None, part: str) -> str | None:
        return None if s is None else str(getattr(s, part))

    return {
        "group": g.group,
        "cohort_in_scope_at_baseline": g.cohort,
        "pairs": g.pairs,
        "excluded_lower_bound": g.excluded_incomplete,
        "excluded_not_screened": g.excluded_not_screened,
        "baseline_median": spread(g.baseline, "median"),
        "baseline_q1": spread(g.baseline, "q1"),
        "baseline_q3": spread(g.baseline, "q3"),
        "follow_up_median": spread(g.follow_up, "median"),
        "follow_up_q1": spread(g.follow_up, "q1"),
        "follow_up_q3": spread(g.follow_up, "q3"),
        "wilcoxon_status": t.status,
        "wilcoxon_reason": t.reason,
        "wilcoxon_statistic": None if t.statistic is None else str(t.statistic),
        "wilcoxon_w_plus": None if t.w_plus is None else str(t.w_plus),
        "wilcoxon_w_minus": None if t.w_minus is None else str(t.w_minus),
        "wilcoxon_nonzero_pairs": t.nonzero_pairs,
        "wilcoxon_zero_differences": t.zero_differences,
        "wilcoxon_p": t.p_value,
        "wilcoxon_method": t.method,
        "reduced": g.reduced,
        "increased": g.increased,
        "unchanged": g.unchanged,
        "stopped": g.stopped,
        "cohort_high_dose_baseline": g.cohort_at_baseline.high_dose,
        "cohort_high_dose_follow_up": g.cohort_at_follow_up.high_dose,
        "cohort_high_dose_unknown_baseline": g.cohort_at_baseline.high_dose_unknown,
        "cohort_high_dose_unknown_follow_up": g.cohort_at_follow_up.high_dose_unknown,
        "cohort_total_daily_ome_baseline": str(g.cohort_at_baseline.total_daily_ome),
        "cohort_total_daily_ome_follow_up": str(g.cohort_at_follow_up.total_daily_ome),
        "cohort_lower_bounds_baseline": g.cohort_at_baseline.incomplete,
        "cohort_lower_bounds_follow_up": g.cohort_at_follow_up.incomplete,
        "current_patients_baseline": g.current_at_baseline.patients,
        "current_patients_follow_up": g.current_at_follow_up.patients,
        "current_high_dose_baseline": g.current_at_baseline.high_dose,
        "current_high_dose_follow_up": g.current_at_follow_up.high_dose,
        "current_total_daily_ome_baseline": str(g.current_at_baseline.total_daily_ome),
        "current_total_daily_ome_follow_up": str(g.current_at_follow_up.total_daily_ome),
        "current_lower_bounds_baseline": g.current_at_baseline.incomplete,
        "current_lower_bounds_follow_up": g.current_at_follow_up.incomplete,
    }


def group_frame(o: Outcomes) -> pl.DataFrame:
    """One row per group (exact decimals as text); empty when outcomes cannot be evaluated."""
    rows = [_group_dict(g) for g in o.groups]
    if not rows:
        return pl.DataFrame({"group": []}, schema={"group": pl.String})
    return pl.DataFrame(rows, infer_schema_length=None)


def patient_frame(o: Outcomes) -> pl.DataFrame:
    """One row per patient of the paired cohort (daily OMEs as exact decimal text)."""
    p = o.patients
    return pl.DataFrame(
        {
            "patient_id": [x.patient_id for x in p],
            "practice_id": [x.practice_id for x in p],
            "baseline_ome_mg_per_day": [str(x.baseline_ome) for x in p],
            "baseline_ome_complete": [x.baseline_complete for x in p],
            "follow_up_ome_mg_per_day": [
                None if x.follow_up_ome is None else str(x.follow_up_ome) for x in p
            ],
            "follow_up_ome_complete": [x.follow_up_complete for x in p],
            "change": [x.change for x in p],
            "paired": [x.paired for x in p],
            "note": [x.note for x in p],
        },
        schema={
            "patient_id": pl.String,
            "practice_id": pl.String,
            "baseline_ome_mg_per_day": pl.String,
            "baseline_ome_complete": pl.Boolean,
            "follow_up_ome_mg_per_day": pl.String,
            "follow_up_ome_complete": pl.Boolean,
            "change": pl.String,
            "paired": pl.Boolean,
            "note": pl.String,
        },
    )


def outcomes_summary(o: Outcomes | None, why_not: str = NO_BASELINE) -> dict[str, object]:
    """The outcomes part of ``summary.json`` (counts and figures, no identifiers).

    ``why_not``: the reason given when ``o`` is ``None``.
    """
    if o is None:
        return {"status": "not-computed", "reason": why_not}
    return {
        "status": o.status,
        "reason": o.reason,
        "baseline_date": o.baseline_date.isoformat(),
        "follow_up_date": o.follow_up_date.isoformat(),
        "high_dose_mg_per_day": str(o.high_dose_mg_per_day),
        "method": f"{o.method.id} {o.method.version}",
        "groups": [_group_dict(g) for g in o.groups],
    }


def terminal_rows(
    o: Outcomes | None, why_not: str = "give --baseline YYYY-MM-DD"
) -> list[tuple[str, str]]:
    """Rows for the terminal summary (overall figures only; no identifiers)."""
    if o is None:
        return [("outcomes", f"not computed: {why_not}")]
    head = f"outcomes {o.baseline_date} -> {o.follow_up_date}"
    g = o.overall
    if g is None:
        return [(head, f"cannot evaluate: {o.reason}")]
    return [
        (head, f"{g.cohort} long-term users at baseline, {g.pairs} paired"),
        ("  not paired: OME a lower bound / not screened", f"{g.excluded_incomplete} / "
         f"{g.excluded_not_screened}"),
        ("  median daily OME mg baseline (IQR)", _spread(g.baseline)),
        ("  median daily OME mg follow-up (IQR)", _spread(g.follow_up)),
        ("  Wilcoxon signed-rank test", _p(g.wilcoxon)),
        ("  reduced / increased / unchanged / stopped / not compared",
         f"{g.reduced} / {g.increased} / {g.unchanged} / {g.stopped} / {g.not_compared}"
         f" (= {g.cohort})"),
        ("  paired = reduced + increased + unchanged + stopped",
         f"{g.pairs} = {g.reduced} + {g.increased} + {g.unchanged} + {g.stopped_paired}"),
        (f"  high dose (above {_mg(o.high_dose_mg_per_day)}) baseline",
         _share(g.cohort_at_baseline)),
        (f"  high dose (above {_mg(o.high_dose_mg_per_day)}) follow-up",
         _share(g.cohort_at_follow_up)),
    ]  # fmt: skip


def _group_table(o: Outcomes, g: GroupOutcome) -> str:
    high = _mg(o.high_dose_mg_per_day)
    rows = [
        ("Long-term users at baseline (the paired cohort)", g.cohort, ""),
        ("Paired (both daily OMEs complete, or stopped)", g.pairs, ""),
        ("Left out: a daily OME is a lower bound", g.excluded_incomplete, ""),
        ("Left out: not screened at follow-up", g.excluded_not_screened, ""),
        ("Median daily OME mg (IQR), paired", _spread(g.baseline), _spread(g.follow_up)),
        ("Wilcoxon signed-rank test", _test(g.wilcoxon), ""),
        ("Reduced / increased / unchanged", f"{g.reduced} / {g.increased} / {g.unchanged}", ""),
        ("Stopped (no current opioid at follow-up)", g.stopped, ""),
        ("  of them paired (baseline complete)", g.stopped_paired, ""),
        ("Not compared (a daily OME a lower bound, or not screened)", g.not_compared, ""),
        (
            f"High dose (> {high} mg/day), cohort",
            _share(g.cohort_at_baseline),
            _share(g.cohort_at_follow_up),
        ),
        (
            "Total daily OME mg/day, cohort",
            _total(g.cohort_at_baseline),
            _total(g.cohort_at_follow_up),
        ),
        (
            "Everyone with a current opioid: patients",
            g.current_at_baseline.patients,
            g.current_at_follow_up.patients,
        ),
        (
            f"Everyone with a current opioid: high dose (> {high})",
            _share(g.current_at_baseline),
            _share(g.current_at_follow_up),
        ),
        (
            "Everyone with a current opioid: total daily OME mg/day",
            _total(g.current_at_baseline),
            _total(g.current_at_follow_up),
        ),
    ]
    return table(("", str(o.baseline_date), str(o.follow_up_date)), rows)


def _practice_table(o: Outcomes) -> str:
    rows = [
        (
            g.group,
            g.cohort,
            g.pairs,
            _spread(g.baseline),
            _spread(g.follow_up),
            _p(g.wilcoxon),
            g.reduced,
            g.stopped,
            f"{g.cohort_at_baseline.high_dose} -> {g.cohort_at_follow_up.high_dose}",
        )
        for g in o.groups[1:]
    ]
    head = (
        "practice",
        "cohort",
        "paired",
        "median OME baseline (IQR)",
        "median OME follow-up (IQR)",
        "Wilcoxon p",
        "reduced",
        "stopped",
        "high dose",
    )
    return table(head, rows)


def outcomes_html(o: Outcomes | None, why_not: str = NO_BASELINE) -> str:
    """The report's "Outcomes over time" section (says why there are none, when none)."""
    head = "<h2>Outcomes over time</h2>"
    if o is None:
        return f"{head}<p>Not computed: {escape(why_not)}.</p>"
    dates = f"{o.baseline_date.isoformat()} (baseline) and {o.follow_up_date.isoformat()}"
    if o.overall is None:
        return f"{head}<p>Between {escape(dates)}: cannot evaluate: {escape(o.reason)}.</p>"
    g = o.overall
    changes = [
        Bar("stopped", g.stopped, "#2e7d32"),
        Bar("reduced", g.reduced, "#66bb6a"),
        Bar("unchanged", g.unchanged, "#9e9e9e"),
        Bar("increased", g.increased, "#d9622b"),
        Bar("not compared", g.not_compared, "#b39ddb"),
    ]
    practices = (
        f"<h3>Per practice</h3>{_practice_table(o)}"
        if len(o.groups) > 1
        else '<p class="note">No practice_id column in the extract: overall figures only.</p>'
    )
    notes = "".join(f"<li>{escape(v)}</li>" for _, v in sorted(o.method.citations.items()))
    return f"""{head}
<p>Between {escape(dates)}: the patients in scope (long-term opioid use for chronic
non-cancer pain) at the baseline date, paired with their daily OME at follow-up, as the South
Gloucestershire opioid review pilot reported them. Stopped: no current opioid at follow-up.
Reduced: any fall in daily OME between two complete totals. A total that is a lower bound at
either date is left out of the medians and the test and counted. High dose: the risk-factor
rule at the threshold in use (above {escape(_mg(o.high_dose_mg_per_day))} mg/day).</p>
<p id="outcomes-reconciled"><strong>{escape(_reconciled(g))}</strong></p>
{bars("Long-term users at baseline by change at follow-up", changes, html_id="chart-changes")}
{_group_table(o, g)}
{practices}
<p class="note">Daily OMEs in whole mg (exact values in outcomes.csv); p below 0.001 shown
as "p &lt; 0.001". Outcomes method {escape(o.method.version)}: zero differences dropped
(Wilcoxon); fewer than {o.method.min_nonzero_pairs} pairs with a change: cannot evaluate;
quartiles by Hyndman-Fan definition 7. Per patient: outcomes_patients.csv.</p>
<ul>{notes}</ul>
"""
