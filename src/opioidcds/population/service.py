"""Service evaluation: each measure at baseline and follow-up, paired per patient.

As the South Gloucestershire Opioid Pain Review Pilot evaluation reported it (Scott LJ, Kesten
JM et al., Br J Gen Pract 2020;70:e111-e119; ``population_method/evaluation.toml``).

Every patient with a questionnaire is in the service cohort; their index date is their first
questionnaire (enrolment). Per instrument, the baseline is the earliest questionnaire in the
baseline window after the index date and the follow-up the latest in the follow-up window
(``population_method/evaluation.toml``). The daily dose is measured by screening the extract
at the same two dates (the follow-up date is the patient's latest questionnaire in the
follow-up window). Per measure and per group (overall, then each practice): paired changes,
medians and IQRs (Hyndman-Fan 7), the Wilcoxon signed-rank test (the shared outcomes method:
exact for small samples, ties included, and the method named), the matched-pairs rank-biserial
correlation, and the counts improved / worsened / unchanged (and beyond the instrument's
important-change threshold). A patient without a usable baseline or follow-up is counted with
the reason, never imputed. See ``docs/evaluation.md``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final, Literal

import polars as pl

from opioidcds._decide.knowledge import Knowledge
from opioidcds._decide.rules import Profile
from opioidcds.population.engine import PatientRow, screen
from opioidcds.population.evaluation_method import EvaluationMethod
from opioidcds.population.instruments import Instrument, InstrumentScore, ValueSet
from opioidcds.population.outcomes import (
    NO_PRACTICE,
    OVERALL,
    OutcomesMethod,
    SignedRank,
    Spread,
    _average_ranks,
    _classify,
    _spread,
    signed_rank,
)
from opioidcds.population.prom import INDEX_SCORE, ScoredQuestionnaire, exact_decimal

__all__ = [
    "DOSE",
    "Measure",
    "MeasureSummary",
    "PatientChange",
    "ServiceCohort",
    "dose_changes",
    "prom_changes",
    "rank_biserial",
    "service_cohort",
    "summarise",
]

DOSE: Final = "dose"
"""The measure id of the daily oral morphine equivalent."""
_ZERO: Final = Decimal(0)
_SCREENED: Final = "screened"

Status = Literal[
    "paired",
    "no-baseline",
    "baseline-not-scored",
    "follow-up-not-due",
    "no-follow-up",
    "follow-up-not-scored",
    "no-opioid-at-baseline",
    "lower-bound",
]
STATUS_TEXT: Final[dict[str, str]] = {
    "paired": "paired",
    "no-baseline": "no baseline questionnaire in the baseline window",
    "baseline-not-scored": "baseline questionnaire could not be scored (missing items)",
    "follow-up-not-due": "follow-up window not yet reached at the evaluation date",
    "no-follow-up": "no follow-up questionnaire in the follow-up window",
    "follow-up-not-scored": "follow-up questionnaire could not be scored (missing items)",
    "no-opioid-at-baseline": "no current opioid at the baseline date",
    "lower-bound": "a daily OME is a lower bound (a medicine could not be converted)",
}
"""What each patient status means, for people (reports and files)."""
Direction = Literal["improved", "worsened", "unchanged", "mixed"]


@dataclass(frozen=True, slots=True)
class Measure:
    """One measure of the evaluation: the daily dose, a questionnaire score or the EQ-5D index.

    ``better``: the direction of improvement. ``kind``: ``"numeric"`` (paired test) or
    ``"profile"`` (EQ-5D-5L: Paretian classification of change, Devlin 2010).
    ``important_change``: a change of at least this size counts as important (cited).
    ``sources``: citation texts for the scoring and the threshold; ``short``: a short name
    for narrow displays (the terminal).
    """

    id: str
    label: str
    better: Literal["lower", "higher"]
    kind: Literal["numeric", "profile"]
    unit: str
    important_change: Decimal | None
    sources: tuple[str, ...]
    instrument: str | None = None
    score: str | None = None
    short: str = ""


@dataclass(frozen=True, slots=True)
class PatientChange:
    """One patient's baseline and follow-up of one measure.

    ``status`` says whether the pair enters the figures (``"paired"``) or why not (see
    :data:`STATUS_TEXT`). ``change`` is follow-up minus baseline; ``direction`` reads it with
    the measure's better direction (a profile: Paretian class); ``important`` is
    ``"improved"``/``"worsened"`` when the change reaches the important-change threshold.
    """

    patient_id: str
    practice: str
    measure: str
    status: Status
    baseline_date: dt.date | None
    follow_up_date: dt.date | None
    baseline: Decimal | None = None
    follow_up: Decimal | None = None
    baseline_profile: str | None = None
    follow_up_profile: str | None = None
    change: Decimal | None = None
    direction: Direction | None = None
    important: Literal["improved", "worsened", ""] = ""
    note: str = ""


@dataclass(frozen=True, slots=True)
class MeasureSummary:
    """A measure's figures in one group (``"overall"`` or a practice id).

    ``patients``: the group's service cohort; ``paired``: pairs in the figures; ``excluded``:
    the others by status (every status present, zero or not, in :data:`STATUS_TEXT` order).
    ``baseline`` / ``follow_up`` / ``change``: median and IQR of the paired values and of the
    changes; ``mean_change``: their mean (WEMWBS guidance reports means). ``wilcoxon``: the
    signed-rank test (``None`` for a profile); ``rank_biserial``: (W+ - W-)/(W+ + W-), positive
    when follow-up is higher, ``None`` without a non-zero change. ``important_*``: ``None``
    when the measure has no important-change threshold.
    """

    measure: Measure
    group: str
    patients: int
    paired: int
    excluded: Mapping[str, int]
    baseline: Spread | None
    follow_up: Spread | None
    change: Spread | None
    mean_change: Decimal | None
    wilcoxon: SignedRank | None
    rank_biserial: Decimal | None
    improved: int
    worsened: int
    unchanged: int
    mixed: int
    important_improved: int | None
    important_worsened: int | None


@dataclass(frozen=True, slots=True)
class ServiceCohort:
    """The service cohort: each patient's index date and practice, and the evaluation date."""

    index_dates: Mapping[str, dt.date]
    practices: Mapping[str, str]
    as_of: dt.date
    questionnaires: tuple[ScoredQuestionnaire, ...] = field(default=())


def service_cohort(
    scored: Sequence[ScoredQuestionnaire],
    *,
    as_of: dt.date,
    extract_practices: Mapping[str, str] | None = None,
) -> ServiceCohort:
    """Index date (first questionnaire) and practice of every patient with a questionnaire.

    A patient's practice: the ``practice_id`` of their latest questionnaire that gives one,
    else the extract's (``extract_practices``), else "practice not recorded". Questionnaires
    after ``as_of`` are not used.
    """
    index: dict[str, dt.date] = {}
    given: dict[str, tuple[dt.date, str]] = {}
    kept = tuple(q for q in scored if q.record.completed_on <= as_of)
    for q in kept:
        r = q.record
        if r.patient_id not in index or r.completed_on < index[r.patient_id]:
            index[r.patient_id] = r.completed_on
        if r.practice_id and (
            r.patient_id not in given or r.completed_on >= given[r.patient_id][0]
        ):
            given[r.patient_id] = (r.completed_on, r.practice_id)
    where = dict(extract_practices or {})
    practices = {
        pid: given[pid][1] if pid in given else where.get(pid) or NO_PRACTICE for pid in index
    }
    return ServiceCohort(index_dates=index, practices=practices, as_of=as_of, questionnaires=kept)


def _windows(
    index: dt.date, meth: EvaluationMethod
) -> tuple[tuple[dt.date, dt.date], tuple[dt.date, dt.date]]:
    day = dt.timedelta(days=1)
    return (
        (index, index + meth.baseline_window_days * day),
        (index + meth.follow_up_min_days * day, index + meth.follow_up_max_days * day),
    )


def measures_of(
    instrument: Instrument, value_set: ValueSet | None = None
) -> list[tuple[Measure, InstrumentScore | None]]:
    """The measures of an instrument's scores (and the EQ-5D index with a value set)."""
    out: list[tuple[Measure, InstrumentScore | None]] = []
    for s in instrument.scores:
        cites = instrument.citation_text(s.citations + s.important_change_citations)
        out.append(
            (
                Measure(
                    id=f"{instrument.id}.{s.id}",
                    label=s.label,
                    better=s.better,
                    kind="profile" if s.method == "profile" else "numeric",
                    unit="points" if s.method != "item" or s.max != 100 else "of 100",
                    important_change=s.important_change,
                    sources=cites,
                    instrument=instrument.id,
                    score=s.id,
                    short=f"{instrument.short_name} {s.id.replace('_', ' ')}",
                ),
                s,
            )
        )
    if value_set is not None and instrument.id == "eq-5d-5l":
        texts = (*(c.text for c in value_set.citations), f"Licence: {value_set.licence}")
        out.append(
            (
                Measure(
                    id=f"{instrument.id}.{INDEX_SCORE}",
                    label=f"EQ-5D-5L index (value set {value_set.id} {value_set.version})",
                    better="higher",
                    kind="numeric",
                    unit="index",
                    important_change=None,
                    sources=texts,
                    instrument=instrument.id,
                    score=INDEX_SCORE,
                    short=f"{instrument.short_name} index",
                ),
                None,
            )
        )
    return out


def _direction(change: Decimal, better: str) -> Direction:
    if change == 0:
        return "unchanged"
    return "improved" if (change < 0) == (better == "lower") else "worsened"


def _important(change: Decimal, m: Measure) -> Literal["improved", "worsened", ""]:
    if m.important_change is None or abs(change) < m.important_change:
        return ""
    return "improved" if (change < 0) == (m.better == "lower") else "worsened"


def _paretian(base: Sequence[int], follow: Sequence[int]) -> Direction:
    """Devlin 2010: better (some dimension better, none worse), worse, mixed or no change."""
    better = any(f < b for b, f in zip(base, follow, strict=True))
    worse = any(f > b for b, f in zip(base, follow, strict=True))
    if better and worse:
        return "mixed"
    if better:
        return "improved"
    return "worsened" if worse else "unchanged"


def _pair(
    measure: Measure, base: ScoredQuestionnaire, follow: ScoredQuestionnaire
) -> tuple[Status, dict[str, object]]:
    """The status and fields of one patient's baseline and follow-up questionnaire."""
    b = base.score(measure.score or "")
    if b.status != "scored":
        return "baseline-not-scored", {"note": b.reason}
    f = follow.score(measure.score or "")
    if f.status != "scored":
        return "follow-up-not-scored", {"note": f.reason}
    if b.levels is not None and f.levels is not None:  # a profile
        return "paired", {
            "baseline_profile": b.profile,
            "follow_up_profile": f.profile,
            "direction": _paretian(b.levels, f.levels),
        }
    if b.exact is None or f.exact is None:  # pragma: no cover - a scored number has a value
        return "baseline-not-scored", {"note": "no value"}
    delta = exact_decimal(f.exact - b.exact)
    return "paired", {
        "baseline": b.value,
        "follow_up": f.value,
        "change": delta,
        "direction": _direction(delta, measure.better),
        "important": _important(delta, measure),
    }


def prom_changes(
    cohort: ServiceCohort, instrument: Instrument, measure: Measure, meth: EvaluationMethod
) -> list[PatientChange]:
    """Every cohort patient's change in one questionnaire measure (see the module docstring)."""
    by_patient: dict[str, list[ScoredQuestionnaire]] = {}
    for q in cohort.questionnaires:
        if q.instrument.id == instrument.id:
            by_patient.setdefault(q.record.patient_id, []).append(q)
    out: list[PatientChange] = []
    for pid in sorted(cohort.index_dates):
        (b_from, b_to), (f_from, f_to) = _windows(cohort.index_dates[pid], meth)
        mine = sorted(by_patient.get(pid, []), key=lambda q: q.record.completed_on)
        base = next((q for q in mine if b_from <= q.record.completed_on <= b_to), None)
        follow = next((q for q in reversed(mine) if f_from <= q.record.completed_on <= f_to), None)
        fields: dict[str, object] = {}
        status: Status
        if base is None:
            status = "no-baseline"
        elif follow is None:
            status = "no-follow-up" if f_from <= cohort.as_of else "follow-up-not-due"
            if base.score(measure.score or "").status != "scored":
                status = "baseline-not-scored"
                fields["note"] = base.score(measure.score or "").reason
        else:
            status, fields = _pair(measure, base, follow)
        out.append(
            PatientChange(
                patient_id=pid,
                practice=cohort.practices[pid],
                measure=measure.id,
                status=status,
                baseline_date=None if base is None else base.record.completed_on,
                follow_up_date=None if follow is None else follow.record.completed_on,
                **fields,  # type: ignore[arg-type]
            )
        )
    return out


DOSE_MEASURE_SOURCES: Final = (
    "Daily oral morphine equivalent (mg/day) of each patient's current opioids, as the "
    "screening computes it from the extract at the patient's baseline and follow-up dates "
    "(population_method/screening.toml; conversion table and rulesets as named in the "
    "versions).",
)


def dose_measure() -> Measure:
    """The daily-dose measure (lower is better: the pilot's aim was a lower dose)."""
    return Measure(
        id=DOSE,
        label="Daily opioid dose, oral morphine equivalent (mg/day)",
        better="lower",
        kind="numeric",
        unit="mg/day",
        important_change=None,
        sources=DOSE_MEASURE_SOURCES,
        short="Daily OME mg/day",
    )


def _screen_at(
    issues: pl.DataFrame,
    patients: pl.DataFrame | None,
    wanted: Mapping[dt.date, set[str]],
    *,
    knowledge: Knowledge | None,
    profile: Profile | None,
) -> dict[tuple[str, dt.date], PatientRow]:
    """Screen each date's patients (only their issues) at that date."""
    ids = pl.col("patient_id").cast(pl.String).str.strip_chars()
    out: dict[tuple[str, dt.date], PatientRow] = {}
    for when in sorted(wanted):
        who = sorted(wanted[when])
        sub = issues.filter(ids.is_in(who))
        if sub.height == 0:
            continue
        pts = None if patients is None else patients.filter(ids.is_in(who))
        result = screen(sub, pts, as_of=when, knowledge=knowledge, profile=profile)
        for r in result.rows:
            out[(r.patient_id, when)] = r
    return out


def dose_changes(
    cohort: ServiceCohort,
    issues: pl.DataFrame,
    patients: pl.DataFrame | None,
    meth: EvaluationMethod,
    outcomes_method: OutcomesMethod,
    *,
    knowledge: Knowledge | None = None,
    profile: Profile | None = None,
) -> list[PatientChange]:
    """Every cohort patient's daily OME at their index date and follow-up date, paired.

    The follow-up date is the patient's latest questionnaire (any instrument) in the follow-up
    window. A patient with no current opioid at baseline is not in the dose figures (counted);
    no current opioid at follow-up is a dose of 0 (stopped); a daily OME that is a lower bound
    at either date is excluded and counted (as in the outcomes over time).
    """
    follow_dates: dict[str, dt.date | None] = {}
    for pid, index in cohort.index_dates.items():
        _, (f_from, f_to) = _windows(index, meth)
        dates = [
            q.record.completed_on
            for q in cohort.questionnaires
            if q.record.patient_id == pid and f_from <= q.record.completed_on <= f_to
        ]
        follow_dates[pid] = max(dates) if dates else None
    wanted: dict[dt.date, set[str]] = {}
    for pid, index in cohort.index_dates.items():
        wanted.setdefault(index, set()).add(pid)
        later = follow_dates[pid]
        if later is not None:
            wanted.setdefault(later, set()).add(pid)
    rows = _screen_at(issues, patients, wanted, knowledge=knowledge, profile=profile)
    return [
        _dose_change(
            cohort,
            pid,
            rows=rows,
            follow=follow_dates[pid],
            meth=meth,
            outcomes_method=outcomes_method,
        )
        for pid in sorted(cohort.index_dates)
    ]


def _dose_change(
    cohort: ServiceCohort,
    pid: str,
    *,
    rows: Mapping[tuple[str, dt.date], PatientRow],
    follow: dt.date | None,
    meth: EvaluationMethod,
    outcomes_method: OutcomesMethod,
) -> PatientChange:
    """One patient's daily OME at the index date and at ``follow`` (see :func:`dose_changes`)."""
    index = cohort.index_dates[pid]
    base_row = rows.get((pid, index))

    def change(status: Status, **fields: object) -> PatientChange:
        return PatientChange(
            patient_id=pid,
            practice=cohort.practices[pid],
            measure=DOSE,
            status=status,
            baseline_date=index,
            follow_up_date=follow,
            **fields,  # type: ignore[arg-type]
        )

    if (
        base_row is None
        or base_row.status != _SCREENED
        or base_row.scope_rule == outcomes_method.stopped_scope_rule
        or base_row.ome_mg_per_day is None
    ):
        return change("no-opioid-at-baseline")
    if follow is None:
        _, (f_from, _) = _windows(index, meth)
        return change("no-follow-up" if f_from <= cohort.as_of else "follow-up-not-due")
    outcome = _classify(base_row, rows.get((pid, follow)), None, outcomes_method)
    if not outcome.paired:
        return change("lower-bound", note=outcome.note)
    before, after = outcome.baseline_ome, outcome.follow_up_ome or _ZERO
    delta = after - before
    stopped = outcome.change == "stopped"
    return change(
        "paired",
        baseline=before,
        follow_up=after,
        change=delta,
        direction=_direction(delta, "lower"),
        note="stopped: no current opioid at follow-up" if stopped else "",
    )


def rank_biserial(changes: Iterable[Decimal]) -> Decimal | None:
    """Matched-pairs rank-biserial correlation (W+ - W-)/(W+ + W-) (Kerby 2014).

    Zero changes are dropped (as in the test); tied absolute changes share their average rank.
    ``None`` when no change is non-zero.
    """
    nonzero = [c for c in changes if c != 0]
    if not nonzero:
        return None
    ranks = _average_ranks([abs(c) for c in nonzero])
    plus = sum((r for r, c in zip(ranks, nonzero, strict=True) if c > 0), _ZERO)
    minus = sum((r for r, c in zip(ranks, nonzero, strict=True) if c < 0), _ZERO)
    return (plus - minus) / (plus + minus)


def _summary(
    measure: Measure,
    group: str,
    members: Sequence[PatientChange],
    outcomes_method: OutcomesMethod,
) -> MeasureSummary:
    paired = [c for c in members if c.status == "paired"]
    numeric = measure.kind == "numeric"
    pairs = [(c.baseline or _ZERO, c.follow_up or _ZERO) for c in paired] if numeric else []
    changes = [f - b for b, f in pairs]
    has_threshold = measure.important_change is not None
    return MeasureSummary(
        measure=measure,
        group=group,
        patients=len(members),
        paired=len(paired),
        excluded={s: sum(c.status == s for c in members) for s in STATUS_TEXT if s != "paired"},
        baseline=_spread(b for b, _ in pairs) if numeric else None,
        follow_up=_spread(f for _, f in pairs) if numeric else None,
        change=_spread(changes) if numeric else None,
        mean_change=(sum(changes, _ZERO) / len(changes)) if changes else None,
        wilcoxon=signed_rank(pairs, outcomes_method) if numeric else None,
        rank_biserial=rank_biserial(changes) if numeric else None,
        improved=sum(c.direction == "improved" for c in paired),
        worsened=sum(c.direction == "worsened" for c in paired),
        unchanged=sum(c.direction == "unchanged" for c in paired),
        mixed=sum(c.direction == "mixed" for c in paired),
        important_improved=sum(c.important == "improved" for c in paired)
        if has_threshold
        else None,
        important_worsened=sum(c.important == "worsened" for c in paired)
        if has_threshold
        else None,
    )


def summarise(
    measure: Measure, changes: Sequence[PatientChange], outcomes_method: OutcomesMethod
) -> list[MeasureSummary]:
    """The measure's summary overall, then per practice (sorted)."""
    out = [_summary(measure, OVERALL, changes, outcomes_method)]
    practices = sorted({c.practice for c in changes})
    if len(practices) > 1 or (practices and practices[0] != NO_PRACTICE):
        for name in practices:
            members = [c for c in changes if c.practice == name]
            out.append(_summary(measure, name, members, outcomes_method))
    return out
