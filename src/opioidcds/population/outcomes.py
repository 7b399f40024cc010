"""Outcomes over time: a baseline date against a follow-up date, per practice and overall.

The South Gloucestershire Opioid Pain Review Pilot evaluation (Scott LJ, Kesten JM et al., Br J Gen
Pract 2020;70:e111-e119) reports a paired comparison of daily opioid dose (median with IQR at
baseline and at follow-up, Wilcoxon signed-rank test); the NHS England analysis of opioid-reduction
programmes (2023) counts patients supported to reduce or stop, high-dose patients and total OME
prescribed. :func:`compare` computes these from two screenings of the same extract
(:func:`~opioidcds.population.screen` at each date), using only their public rows, so every daily
OME is the one the worklist shows. The definitions and the test's settings live in the cited data
file ``population_method/outcomes.toml``; see ``docs/population.md`` ("Outcomes over time").

Needs the optional extra ``population`` (Polars, SciPy).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Final, Literal

import polars as pl

from opioidcds._decide.knowledge import Knowledge, default_knowledge
from opioidcds._decide.rules import Profile
from opioidcds._errors import InvalidInputError, KnowledgeBaseError
from opioidcds._knowledge.files import read_toml_of_kind
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds.population.engine import PatientRow, Screening, screen
from opioidcds.population.schema import check_unchanged, read_practices, source_stamp

__all__ = [
    "Change",
    "GroupOutcome",
    "Outcomes",
    "OutcomesMethod",
    "PatientOutcome",
    "SignedRank",
    "Snapshot",
    "Spread",
    "compare",
    "default_outcomes_method",
    "enumerated_p",
    "load_outcomes_method",
    "outcomes",
    "quantile",
    "signed_rank",
]

Change = Literal["reduced", "increased", "unchanged", "stopped", "cannot-evaluate"]
OVERALL: Final = "overall"
NO_PRACTICE: Final = "practice not recorded"
_MAX_BYTES: Final = 100_000
_ZERO: Final = Decimal(0)
_SCREENED: Final = "screened"


# --- the method file -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutcomesMethod:
    """The outcome definitions and test settings (``population_method/outcomes.toml``).

    ``stopped_scope_rule``: the scope rule that means "no current opioid" at follow-up.
    ``high_dose_rule`` / ``high_dose_parameter``: the risk-factor rule that decides high dose
    and its threshold parameter (the value comes from the rulesets and profile in use).
    ``zero_method``: how zero differences enter the signed-rank test (``"wilcox"``: dropped).
    ``min_nonzero_pairs``: fewer pairs with a change than this is "cannot evaluate".
    ``exact_max_pairs`` / ``permutation_max_pairs``: the largest number of non-zero pairs
    for the exact null distribution (no ties) and for full enumeration of the 2^n sign
    changes (ties, counted exactly by :func:`enumerated_p`); above them, the normal
    approximation with tie correction.
    """

    id: str
    version: str
    stopped_scope_rule: str
    high_dose_rule: str
    high_dose_parameter: str
    zero_method: str
    min_nonzero_pairs: int
    exact_max_pairs: int
    permutation_max_pairs: int
    citations: Mapping[str, str]


def _int(section: Mapping[str, object], key: str, name: str) -> int:
    value = section.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise KnowledgeBaseError(f"{name}: '{key}' must be a positive integer")
    return value


def _str(section: Mapping[str, object], key: str, name: str) -> str:
    value = section.get(key)
    if not isinstance(value, str) or not value:
        raise KnowledgeBaseError(f"{name}: '{key}' must be a non-empty text")
    return value


def load_outcomes_method(path: str | Path) -> OutcomesMethod:
    """Load an outcomes-method file.

    Raises:
        KnowledgeBaseError: the file is missing, too large, malformed or incomplete.
    """
    p = Path(path)
    data = read_toml_of_kind(p, "population-outcomes", _MAX_BYTES)
    try:
        citations = {str(k): str(v) for k, v in data["citations"].items()}
        change, high, test = data["change"], data["high_dose"], data["wilcoxon"]
        sections = (data["cohort"], change, high, test, data["quantiles"])
    except (KeyError, TypeError, AttributeError):
        raise KnowledgeBaseError(f"{p.name}: missing sections or keys") from None
    for section in sections:
        for cite in section.get("citations", []):
            if cite not in citations:
                raise KnowledgeBaseError(f"{p.name}: unknown citation '{cite}'")
    if data["cohort"].get("definition") != "in-scope-at-baseline":
        raise KnowledgeBaseError(f"{p.name}: cohort.definition must be 'in-scope-at-baseline'")
    if change.get("reduced") != "any-fall":
        raise KnowledgeBaseError(f"{p.name}: change.reduced must be 'any-fall'")
    if data["quantiles"].get("definition") != "hyndman-fan-7":
        raise KnowledgeBaseError(f"{p.name}: quantiles.definition must be 'hyndman-fan-7'")
    if test.get("zero_method") != "wilcox":
        raise KnowledgeBaseError(f"{p.name}: wilcoxon.zero_method must be 'wilcox'")
    return OutcomesMethod(
        id=str(data.get("id", "")),
        version=str(data.get("version", "")),
        stopped_scope_rule=_str(change, "stopped_scope_rule", p.name),
        high_dose_rule=_str(high, "factor_rule", p.name),
        high_dose_parameter=_str(high, "parameter", p.name),
        zero_method="wilcox",
        min_nonzero_pairs=_int(test, "min_nonzero_pairs", p.name),
        exact_max_pairs=_int(test, "exact_max_pairs", p.name),
        permutation_max_pairs=_int(test, "permutation_max_pairs", p.name),
        citations=citations,
    )


@cache
def default_outcomes_method() -> OutcomesMethod:
    """The bundled outcomes method (``population_method/outcomes.toml``), loaded once."""
    return load_outcomes_method(knowledge_dir("population_method") / "outcomes.toml")


# --- statistics ----------------------------------------------------------------------------


def quantile(ordered: Sequence[Decimal], p: Decimal) -> Decimal:
    """The ``p`` quantile of ``ordered`` (sorted), Hyndman-Fan definition 7, exactly.

    h = (n - 1) p; the value is x[floor h] + (h - floor h)(x[floor h + 1] - x[floor h])
    (Hyndman & Fan 1996; NumPy's and R's default). The median is ``p = 0.5``.

    Raises:
        InvalidInputError: no values, or ``p`` outside 0-1.
    """
    if not ordered:
        raise InvalidInputError("values", "a quantile needs at least one value")
    if not _ZERO <= p <= 1:
        raise InvalidInputError("p", "must be between 0 and 1")
    h = (len(ordered) - 1) * p
    lo = int(h.to_integral_value(rounding=ROUND_FLOOR))
    if lo + 1 >= len(ordered):
        return ordered[lo]
    return ordered[lo] + (h - lo) * (ordered[lo + 1] - ordered[lo])


@dataclass(frozen=True, slots=True)
class Spread:
    """Median and interquartile range (quartiles by Hyndman-Fan definition 7) of ``n`` values."""

    n: int
    median: Decimal
    q1: Decimal
    q3: Decimal


def _spread(values: Iterable[Decimal]) -> Spread | None:
    ordered = sorted(values)
    if not ordered:
        return None
    return Spread(
        n=len(ordered),
        median=quantile(ordered, Decimal("0.5")),
        q1=quantile(ordered, Decimal("0.25")),
        q3=quantile(ordered, Decimal("0.75")),
    )


@dataclass(frozen=True, slots=True)
class SignedRank:
    """A two-sided Wilcoxon signed-rank test of follow-up against baseline daily OME.

    ``status`` is ``"evaluated"`` or ``"cannot-evaluate"`` (``reason`` says why; ``p_value``
    is then ``None``: never a made-up p). Differences are follow-up minus baseline; zero
    differences are dropped (``zero_differences`` counts them, Wilcoxon 1945); tied absolute
    differences get the average rank. ``w_plus`` / ``w_minus`` are the rank sums of rises and
    falls; ``statistic`` is the smaller (as SciPy reports it). ``method`` is ``"exact"`` (no
    ties), ``"exact-enumeration"`` (ties: all 2^n sign changes, :func:`enumerated_p`) or
    ``"normal-approximation"``
    (with tie correction, no continuity correction).
    """

    status: Literal["evaluated", "cannot-evaluate"]
    reason: str
    pairs: int
    zero_differences: int
    nonzero_pairs: int
    w_plus: Decimal | None
    w_minus: Decimal | None
    statistic: Decimal | None
    p_value: float | None
    method: str


def _average_ranks(values: Sequence[Decimal]) -> list[Decimal]:
    """Ranks 1..n of ``values`` (ascending), ties sharing their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [_ZERO] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        shared = Decimal(i + 1 + j + 1) / 2
        for k in range(i, j + 1):
            ranks[order[k]] = shared
        i = j + 1
    return ranks


def enumerated_p(ranks: Sequence[Decimal], w_plus: Decimal) -> float:
    """Exact two-sided p of the signed-rank statistic ``w_plus`` over all 2^n sign changes.

    ``ranks`` are the average ranks of the absolute non-zero differences (multiples of 1/2).
    The null distribution of W+ (each rank positive or negative with probability 1/2) is
    counted exactly by adding one rank at a time (integer counts of doubled ranks), so ties
    and any n up to the method's limit are exact; p = 2 min(P(W+ <= w), P(W+ >= w)), at most
    1: the same as enumerating every sign change one by one, without its 2^n cost.

    Raises:
        InvalidInputError: a rank that is not a multiple of 1/2.
    """
    doubled = [int(r * 2) for r in ranks]
    if any(Decimal(d) != r * 2 for d, r in zip(doubled, ranks, strict=True)):
        raise InvalidInputError("ranks", "must be multiples of 1/2 (average ranks)")
    total = sum(doubled)
    counts = [0] * (total + 1)
    counts[0] = 1
    for d in doubled:
        for s in range(total, d - 1, -1):
            counts[s] += counts[s - d]
    t = int(w_plus * 2)
    lower, upper = sum(counts[: t + 1]), sum(counts[t:])
    return min(1.0, float(Fraction(2 * min(lower, upper), 2 ** len(doubled))))


def _scipy_p(differences: Sequence[Decimal], method: str) -> float:
    """Two-sided p of SciPy's signed-rank test on non-zero ``differences``."""
    from scipy import stats  # noqa: PLC0415 - optional extra, loaded only when testing

    chosen: object = method
    if method == "normal-approximation":
        chosen = "asymptotic"
    result = stats.wilcoxon(
        [float(d) for d in differences],
        zero_method="wilcox",
        correction=False,
        alternative="two-sided",
        method=chosen,
    )
    p = float(result.pvalue)
    if not math.isfinite(p) or not 0.0 <= p <= 1.0:  # pragma: no cover - SciPy guarantees
        raise InvalidInputError("wilcoxon", "the test gave no valid p-value")
    return p


def signed_rank(
    pairs: Sequence[tuple[Decimal, Decimal]], method: OutcomesMethod | None = None
) -> SignedRank:
    """The Wilcoxon signed-rank test of ``(baseline, follow_up)`` pairs (see :class:`SignedRank`).

    Fewer than ``method.min_nonzero_pairs`` pairs with a change: ``"cannot-evaluate"``.
    """
    meth = method if method is not None else default_outcomes_method()
    diffs = [f - b for b, f in pairs]
    nonzero = [d for d in diffs if d != 0]
    zeros = len(diffs) - len(nonzero)
    n = len(nonzero)
    if n < meth.min_nonzero_pairs:
        return SignedRank(
            status="cannot-evaluate",
            reason=(
                f"{n} pair(s) with a change: the test needs at least "
                f"{meth.min_nonzero_pairs} (below that it cannot reach p < 0.05)"
            ),
            pairs=len(diffs),
            zero_differences=zeros,
            nonzero_pairs=n,
            w_plus=None,
            w_minus=None,
            statistic=None,
            p_value=None,
            method="",
        )
    magnitudes = [abs(d) for d in nonzero]
    ranks = _average_ranks(magnitudes)
    w_plus = sum((r for r, d in zip(ranks, nonzero, strict=True) if d > 0), _ZERO)
    w_minus = sum((r for r, d in zip(ranks, nonzero, strict=True) if d < 0), _ZERO)
    ties = len(set(magnitudes)) < n
    if not ties and n <= meth.exact_max_pairs:
        how = "exact"
    elif ties and n <= meth.permutation_max_pairs:
        how = "exact-enumeration"
    else:
        how = "normal-approximation"
    return SignedRank(
        status="evaluated",
        reason="",
        pairs=len(diffs),
        zero_differences=zeros,
        nonzero_pairs=n,
        w_plus=w_plus,
        w_minus=w_minus,
        statistic=min(w_plus, w_minus),
        p_value=(
            enumerated_p(ranks, w_plus) if how == "exact-enumeration" else _scipy_p(nonzero, how)
        ),
        method=how,
    )


# --- per patient and per group -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PatientOutcome:
    """One patient of the paired cohort (in scope at baseline).

    ``paired`` is true when both daily OMEs are complete (or the patient stopped: 0 at
    follow-up) and the pair enters the medians and the test. ``change`` is
    ``"cannot-evaluate"`` when a total is a lower bound or the patient was not screened at
    follow-up (``note`` says which).
    """

    patient_id: str
    practice_id: str | None
    baseline_ome: Decimal
    baseline_complete: bool
    follow_up_ome: Decimal | None
    follow_up_complete: bool
    change: Change
    paired: bool
    note: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Figures of a set of screened patients at one date.

    ``patients``: the patients counted; ``high_dose``: those with the high-dose risk factor
    present (``high_dose_unknown``: not present and the total is a lower bound, or the factor
    is unknown);
    ``total_daily_ome``: the sum of their daily OMEs in mg/day, a lower bound when
    ``incomplete`` > 0 (that many totals are lower bounds).
    """

    patients: int
    high_dose: int
    high_dose_unknown: int
    total_daily_ome: Decimal
    incomplete: int

    @property
    def high_dose_share(self) -> Decimal | None:
        """``high_dose / patients`` (``None`` with no patients)."""
        return Decimal(self.high_dose) / self.patients if self.patients else None


def _snapshot(rows: Iterable[PatientRow], high_rule: str) -> Snapshot:
    n = high = unknown = incomplete = 0
    total = _ZERO
    for r in rows:
        n += 1
        present = high_rule in r.factors_present
        high += present
        # a lower-bound total not decided "present" is unknown, whatever the row says
        unknown += not present and (high_rule in r.factors_unknown or not r.ome_complete)
        incomplete += not r.ome_complete
        total += r.ome_mg_per_day if r.ome_mg_per_day is not None else _ZERO
    return Snapshot(
        patients=n,
        high_dose=high,
        high_dose_unknown=unknown,
        total_daily_ome=total,
        incomplete=incomplete,
    )


@dataclass(frozen=True, slots=True)
class GroupOutcome:
    """Outcomes of one group (``"overall"`` or a practice id).

    ``cohort``: patients in scope at baseline; ``pairs``: those in the paired figures;
    ``excluded_incomplete`` / ``excluded_not_screened``: cohort patients left out of them
    because a daily OME is a lower bound, or because they were not screened at follow-up.
    ``baseline`` / ``follow_up``: median and IQR of the paired daily OMEs (``None`` without
    pairs). ``cohort_at_*``: the cohort at each date (stopped patients count with 0);
    ``current_at_*``: every screened patient of the group with a current opioid at that date
    (new starters included), for practice-wide high-dose and total OME figures.
    """

    group: str
    cohort: int
    pairs: int
    excluded_incomplete: int
    excluded_not_screened: int
    baseline: Spread | None
    follow_up: Spread | None
    wilcoxon: SignedRank
    reduced: int
    increased: int
    unchanged: int
    stopped: int
    cohort_at_baseline: Snapshot
    cohort_at_follow_up: Snapshot
    current_at_baseline: Snapshot
    current_at_follow_up: Snapshot

    @property
    def stopped_paired(self) -> int:
        """Stopped patients in the paired figures (their baseline daily OME is complete).

        The paired cohort is exactly reduced + increased + unchanged + these; a patient who
        stopped from a baseline that was a lower bound counts as stopped, but not as paired.
        """
        return self.pairs - self.reduced - self.increased - self.unchanged

    @property
    def not_compared(self) -> int:
        """Cohort patients with no change class: a daily OME a lower bound, or not screened.

        ``cohort`` = reduced + increased + unchanged + stopped + ``not_compared``.
        """
        return self.cohort - self.reduced - self.increased - self.unchanged - self.stopped


@dataclass(frozen=True, slots=True)
class Outcomes:
    """Outcomes between two screenings of one extract (see :func:`compare`).

    ``status`` is ``"cannot-evaluate"`` when no patient is in scope at the baseline date
    (``reason`` says why); the groups are then empty. ``groups`` starts with ``"overall"``,
    then each practice (when the extract has a ``practice_id`` column).
    """

    baseline_date: dt.date
    follow_up_date: dt.date
    status: Literal["evaluated", "cannot-evaluate"]
    reason: str
    high_dose_mg_per_day: Decimal
    groups: tuple[GroupOutcome, ...]
    patients: tuple[PatientOutcome, ...]
    method: OutcomesMethod
    versions: Mapping[str, str]

    @property
    def overall(self) -> GroupOutcome | None:
        """The overall group (``None`` when the outcomes cannot be evaluated)."""
        return self.groups[0] if self.groups else None


def _classify(
    base: PatientRow, follow: PatientRow | None, practice: str | None, meth: OutcomesMethod
) -> PatientOutcome:
    b = base.ome_mg_per_day if base.ome_mg_per_day is not None else _ZERO

    def out(f: Decimal | None, change: Change, *, paired: bool, note: str) -> PatientOutcome:
        return PatientOutcome(
            patient_id=base.patient_id,
            practice_id=practice,
            baseline_ome=b,
            baseline_complete=base.ome_complete,
            follow_up_ome=f,
            follow_up_complete=follow.ome_complete if follow is not None else False,
            change=change,
            paired=paired,
            note=note,
        )

    if follow is None or follow.status != _SCREENED:
        return out(None, "cannot-evaluate", paired=False, note="not screened at follow-up")
    f = follow.ome_mg_per_day if follow.ome_mg_per_day is not None else _ZERO
    if follow.scope_rule == meth.stopped_scope_rule:
        note = "" if base.ome_complete else "baseline daily OME a lower bound: not paired"
        return out(f, "stopped", paired=base.ome_complete, note=note)
    if not base.ome_complete or not follow.ome_complete:
        which = [
            d
            for d, ok in (("baseline", base.ome_complete), ("follow-up", follow.ome_complete))
            if not ok
        ]
        note = "daily OME a lower bound at " + " and ".join(which)
        return out(f, "cannot-evaluate", paired=False, note=note)
    change: Change = "reduced" if f < b else "increased" if f > b else "unchanged"
    return out(f, change, paired=True, note="")


def _group(
    name: str,
    members: Sequence[PatientOutcome],
    *,
    base_rows: Mapping[str, PatientRow],
    follow_rows: Mapping[str, PatientRow],
    current: tuple[Sequence[PatientRow], Sequence[PatientRow]],
    meth: OutcomesMethod,
) -> GroupOutcome:
    paired = [m for m in members if m.paired]
    pairs = [(m.baseline_ome, m.follow_up_ome or _ZERO) for m in paired]
    at_follow = [
        follow_rows[m.patient_id]
        for m in members
        if m.patient_id in follow_rows and follow_rows[m.patient_id].status == _SCREENED
    ]
    counts = {c: sum(m.change == c for m in members) for c in ("reduced", "increased")}
    return GroupOutcome(
        group=name,
        cohort=len(members),
        pairs=len(paired),
        excluded_incomplete=sum(
            not m.paired and m.note != "not screened at follow-up" for m in members
        ),
        excluded_not_screened=sum(m.note == "not screened at follow-up" for m in members),
        baseline=_spread(b for b, _ in pairs),
        follow_up=_spread(f for _, f in pairs),
        wilcoxon=signed_rank(pairs, meth),
        reduced=counts["reduced"],
        increased=counts["increased"],
        unchanged=sum(m.change == "unchanged" for m in members),
        stopped=sum(m.change == "stopped" for m in members),
        cohort_at_baseline=_snapshot(
            (base_rows[m.patient_id] for m in members), meth.high_dose_rule
        ),
        cohort_at_follow_up=_snapshot(at_follow, meth.high_dose_rule),
        current_at_baseline=_snapshot(current[0], meth.high_dose_rule),
        current_at_follow_up=_snapshot(current[1], meth.high_dose_rule),
    )


def _check_knowledge(kb: Knowledge, profile: Profile | None, meth: OutcomesMethod) -> Decimal:
    """The high-dose threshold in use; the rule ids the method names must exist."""
    scope_ids = {r.id for r in kb.rulesets["scope"].rules}
    factors = kb.bound("risk-factors", profile)
    factor_ids = {r.id for r in factors.ruleset.rules}
    if meth.stopped_scope_rule not in scope_ids:
        raise KnowledgeBaseError(f"outcomes method: no scope rule '{meth.stopped_scope_rule}'")
    if meth.high_dose_rule not in factor_ids:
        raise KnowledgeBaseError(f"outcomes method: no risk-factor rule '{meth.high_dose_rule}'")
    value = factors.binding.params.get(meth.high_dose_parameter)
    if not isinstance(value, Decimal):
        raise KnowledgeBaseError(
            f"outcomes method: risk-factors has no parameter '{meth.high_dose_parameter}'"
        )
    return value


def _current(rows: Iterable[PatientRow], stopped_rule: str) -> list[PatientRow]:
    return [r for r in rows if r.status == _SCREENED and r.scope_rule != stopped_rule]


def compare(
    baseline: Screening,
    follow_up: Screening,
    *,
    practices: Mapping[str, str] | None = None,
    knowledge: Knowledge | None = None,
    profile: Profile | None = None,
    method: OutcomesMethod | None = None,
) -> Outcomes:
    """Outcomes between ``baseline`` and ``follow_up``: two screenings of the same extract.

    The paired cohort is every patient screened and in scope at baseline (long-term use for
    chronic non-cancer pain, ruleset ``scope``). Each is classified as stopped (no current
    opioid at follow-up), reduced (any fall in daily OME, both totals complete), increased,
    unchanged, or cannot evaluate (a total is a lower bound, or not screened at follow-up:
    counted, never dropped silently). Per group (overall, then each practice of
    ``practices``: patient id to practice id): medians and IQRs of the paired daily OMEs, the
    Wilcoxon signed-rank test, the counts, and the high-dose and total-OME snapshots. High
    dose is the risk-factor rule's own decision, at the threshold of the rulesets and
    ``profile`` in use (the same ``profile`` both screenings used).

    Raises:
        InvalidInputError: a screening has no date, the baseline is not before the
            follow-up, or the screenings were made with different profiles.
        KnowledgeBaseError: the outcomes method names a rule or parameter that is missing.
    """
    kb = knowledge if knowledge is not None else default_knowledge()
    meth = method if method is not None else default_outcomes_method()
    if baseline.as_of is None or follow_up.as_of is None:
        raise InvalidInputError("baseline", "both screenings need a date (an empty extract?)")
    if baseline.as_of >= follow_up.as_of:
        raise InvalidInputError("baseline", "must be before the follow-up date")
    expected = kb.versions(profile)["profile"]
    if not baseline.versions.get("profile") == follow_up.versions.get("profile") == expected:
        raise InvalidInputError("profile", "both screenings and the outcomes must use one profile")
    threshold = _check_knowledge(kb, profile, meth)
    where = dict(practices or {})
    base_rows = {r.patient_id: r for r in baseline.rows}
    follow_rows = {r.patient_id: r for r in follow_up.rows}
    cohort = [r for r in baseline.rows if r.status == _SCREENED and r.in_scope is True]
    members = tuple(
        _classify(r, follow_rows.get(r.patient_id), where.get(r.patient_id), meth)
        for r in sorted(cohort, key=lambda r: r.patient_id)
    )
    versions = {
        **follow_up.versions,
        "outcomes-method": f"{meth.id} {meth.version}",
    }
    if not members:
        return Outcomes(
            baseline_date=baseline.as_of,
            follow_up_date=follow_up.as_of,
            status="cannot-evaluate",
            reason=(
                "no patient in scope (long-term opioid use) at the baseline date: the "
                "extract's history does not reach far enough before it"
            ),
            high_dose_mg_per_day=threshold,
            groups=(),
            patients=(),
            method=meth,
            versions=versions,
        )
    cur_base = _current(baseline.rows, meth.stopped_scope_rule)
    cur_follow = _current(follow_up.rows, meth.stopped_scope_rule)
    groups = [
        _group(
            OVERALL,
            members,
            base_rows=base_rows,
            follow_rows=follow_rows,
            current=(cur_base, cur_follow),
            meth=meth,
        )
    ]
    if where:
        names = sorted({where.get(m.patient_id) or NO_PRACTICE for m in members})

        def of(name: str) -> Callable[[str], bool]:
            return lambda pid: (where.get(pid) or NO_PRACTICE) == name

        for name in names:
            inside = of(name)
            groups.append(
                _group(
                    name,
                    [m for m in members if inside(m.patient_id)],
                    base_rows=base_rows,
                    follow_rows=follow_rows,
                    current=(
                        [r for r in cur_base if inside(r.patient_id)],
                        [r for r in cur_follow if inside(r.patient_id)],
                    ),
                    meth=meth,
                )
            )
    return Outcomes(
        baseline_date=baseline.as_of,
        follow_up_date=follow_up.as_of,
        status="evaluated",
        reason="",
        high_dose_mg_per_day=threshold,
        groups=tuple(groups),
        patients=members,
        method=meth,
        versions=versions,
    )


def outcomes(
    issues: str | Path | pl.DataFrame,
    patients: str | Path | pl.DataFrame | None = None,
    *,
    baseline: dt.date,
    follow_up: dt.date | None = None,
    knowledge: Knowledge | None = None,
    profile: Profile | None = None,
) -> tuple[Screening, Outcomes]:
    """Screen ``issues`` at ``follow_up`` (default: latest issue) and at ``baseline``; compare.

    Returns the follow-up screening (the worklist) and the :class:`Outcomes`. Practices come
    from the extract's optional ``practice_id`` column (each patient's latest issue up to the
    follow-up date).

    Raises:
        InvalidInputError: as :func:`~opioidcds.population.screen` and :func:`compare`, or a
            file changed between the screenings (a mixed result is never returned).
    """
    stamps = (source_stamp(issues), source_stamp(patients))
    later = screen(issues, patients, as_of=follow_up, knowledge=knowledge, profile=profile)
    if later.as_of is None:
        raise InvalidInputError("issues", "no usable issue: nothing to compare")
    earlier = screen(issues, patients, as_of=baseline, knowledge=knowledge, profile=profile)
    practices = read_practices(issues, up_to=later.as_of)
    check_unchanged(issues, stamps[0], "issues")  # one extract, read three times
    check_unchanged(patients, stamps[1], "patients")
    result = compare(earlier, later, practices=practices, knowledge=knowledge, profile=profile)
    return later, result
