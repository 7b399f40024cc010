"""Outcomes over time by hand-worked examples: medians, IQRs, Wilcoxon, reduced/stopped, practices.

Daily OMEs (Opioids Aware factors, dosage text of the latest issue):
co-codamol 30mg/500mg: codeine 30 mg x 0.1 = 3 mg OME per tablet;
Morphine 30mg MR tablets: 30 mg x 1 = 30 mg per tablet;
Oxycodone 40mg MR tablets: 40 mg x 1.5 = 60 mg per tablet.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from opioidcds import InvalidInputError, KnowledgeBaseError, Profile, load_profile
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds.population import screen
from opioidcds.population.outcomes import (
    GroupOutcome,
    Outcomes,
    Spread,
    compare,
    default_outcomes_method,
    load_outcomes_method,
    outcomes,
    quantile,
    signed_rank,
)

from .helpers import AS_OF, code, day, issues

CC = "Co-codamol 30mg/500mg tablets"
MOR = "Morphine 30mg modified-release tablets"
OXY = "Oxycodone 40mg modified-release tablets"
FEN = "Fentanyl 25micrograms/hour transdermal patches"
BASE_OFFSET = 182
BASELINE = AS_OF - dt.timedelta(days=BASE_OFFSET)
# issues every 28 days, 350 .. 14 days before AS_OF (182 = the baseline date itself)
OFFSETS = tuple(range(350, 13, -28))
PROFILE_90 = knowledge_dir("rules") / "profiles" / "opioids-aware-90.toml"

D = Decimal


def _history(
    pid: str,
    practice: str,
    product: str,
    before: str | None,
    after: str | None,
    *,
    switch: int = 154,
    last: int = 14,
    first: int = 350,
    qty: str = "56",
) -> list[tuple[str | None, ...]]:
    """Issues of one product; dosage text ``before`` at offsets > switch, else ``after``."""
    return [
        (pid, day(o), code(product), None, qty, before if o > switch else after, "28", practice)
        for o in OFFSETS
        if last <= o <= first
    ]


def population() -> list[tuple[str | None, ...]]:
    """Eight long-term users at baseline (A-H) and one new starter (I); practices P1, P2."""
    rows: list[tuple[str | None, ...]] = []
    four = "one tablet four times a day"
    eight = "two tablets four times a day"
    bd = "one tablet twice a day"
    # A: 8 tablets/day throughout: 24 -> 24 (unchanged)
    rows += _history("A", "P1", CC, eight, eight)
    # B: 8 -> 4 tablets/day: 24 -> 12 (reduced, difference -12)
    rows += _history("B", "P1", CC, eight, four)
    # C: morphine 30 mg twice a day = 60; last issue 98 days before follow-up, beyond the
    # 56-day current window: no current opioid at follow-up -> stopped (60 -> 0, -60)
    rows += _history("C", "P1", MOR, bd, bd, last=98)
    # D: oxycodone 40 mg 2 twice a day = 4 x 60 = 240 -> 1 twice a day = 120 (-120)
    rows += _history("D", "P2", OXY, "two tablets twice a day", bd)
    # E: 4 -> 8 tablets/day: 12 -> 24 (increased, +12)
    rows += _history("E", "P2", CC, four, eight)
    # F: morphine 30 mg twice a day = 60 -> once a day = 30 (-30)
    rows += _history("F", "P2", MOR, bd, "one tablet once a day")
    # G: 8 -> 2 tablets/day: 24 -> 6 (-18)
    rows += _history("G", "P1", CC, eight, bd)
    # H: fentanyl patches without a dosage text: one patch assumed, a lower bound at both dates
    rows += _history("H", "P2", FEN, None, None, qty="10")
    # I: starts after the baseline (issues 98 .. 14 days before follow-up): not in the cohort
    rows += _history("I", "P1", CC, eight, eight, first=98)
    return rows


def _frame() -> pl.DataFrame:
    frame = issues([r[:7] for r in population()])
    return frame.with_columns(practice_id=pl.Series([r[7] for r in population()]))


def _overall(o: Outcomes) -> GroupOutcome:
    assert o.overall is not None
    return o.overall


def _s(spread: Spread | None) -> Spread:
    assert spread is not None
    return spread


def _outcomes(profile: Profile | None = None) -> Outcomes:
    _, o = outcomes(_frame(), baseline=BASELINE, follow_up=AS_OF, profile=profile)
    return o


def test_quantile_definition_7_by_hand() -> None:
    v = [D(10), D(20), D(30), D(40)]
    # h = (n - 1) p: median h = 1.5 -> 20 + 0.5 x 10 = 25; q1 h = 0.75 -> 10 + 0.75 x 10 = 17.5;
    # q3 h = 2.25 -> 30 + 0.25 x 10 = 32.5
    assert quantile(v, D("0.5")) == D(25)
    assert quantile(v, D("0.25")) == D("17.5")
    assert quantile(v, D("0.75")) == D("32.5")
    assert quantile([D(7)], D("0.25")) == D(7)
    with pytest.raises(InvalidInputError):
        quantile([], D("0.5"))


def test_signed_rank_exact_by_hand() -> None:
    # differences -10 -20 -30 -40 -50 -60 +5: |d| ranks 5->1, 10->2, ..., 60->7
    # W+ = 1, W- = 2+3+4+5+6+7 = 27 (sum 28 = 7 x 8 / 2). Exact: P(W+ <= 1) = #{sum 0, sum 1}
    # of 2^7 = 2/128; two-sided p = 4/128 = 0.03125
    pairs = [(D(100), D(100) + d) for d in (-10, -20, -30, -40, -50, -60, 5)]
    pairs.append((D(50), D(50)))  # a zero difference: dropped, counted
    t = signed_rank(pairs)
    assert t.status == "evaluated"
    assert (t.w_plus, t.w_minus, t.statistic) == (D(1), D(27), D(1))
    assert (t.pairs, t.zero_differences, t.nonzero_pairs) == (8, 1, 7)
    assert t.method == "exact"
    assert t.p_value == pytest.approx(0.03125, abs=1e-12)


def test_signed_rank_ties_enumerated_by_hand() -> None:
    # differences -10 -10 -20 -30 -40 +10: |d| 10,10,10 share ranks 1-3 -> 2 each; 20->4,
    # 30->5, 40->6. W+ = 2, W- = 2+2+4+5+6 = 19 (sum 21). Of the 2^6 = 64 sign assignments,
    # W+ <= 2 for {} and each single rank-2 value: 4 -> two-sided p = 2 x 4/64 = 0.125
    pairs = [(D(100), D(100) + d) for d in (-10, -10, -20, -30, -40, 10)]
    t = signed_rank(pairs)
    assert (t.w_plus, t.w_minus, t.statistic) == (D(2), D(19), D(2))
    assert t.method == "exact-enumeration"
    assert t.p_value == pytest.approx(0.125, abs=1e-12)


def test_signed_rank_normal_approximation_by_hand() -> None:
    # 51 equal falls of 10 (more than permutation_max_pairs = 50): all tied, rank 26 each;
    # W+ = 0, W- = 1326. Mean n(n+1)/4 = 51 x 52 / 4 = 663; variance
    # n(n+1)(2n+1)/24 - (t^3 - t)/48 = 51 x 52 x 103 / 24 - (132651 - 51)/48
    # = 11381.5 - 2762.5 = 8619; z = (0 - 663)/sqrt(8619); two-sided p = erfc(|z| / sqrt 2)
    # (no continuity correction)
    pairs = [(D(50), D(40))] * 51
    t = signed_rank(pairs)
    z = 663 / math.sqrt(8619)
    assert t.method == "normal-approximation"
    assert t.statistic == D(0)
    assert t.p_value == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-9)


def test_signed_rank_ties_exact_up_to_fifty_pairs_by_hand() -> None:
    # 14 equal falls of 10 (the old limit of enumeration was 13): all tied, W+ = 0. Of the
    # 2^14 = 16384 sign assignments only "all negative" gives W+ <= 0 -> two-sided
    # p = 2 x 1/16384 = 0.0001220703125, exactly (outcomes.toml 1.1.0)
    pairs = [(D(50), D(40))] * 14
    t = signed_rank(pairs)
    assert t.method == "exact-enumeration"
    assert t.p_value == pytest.approx(2 / 16384, rel=1e-12)


def test_enumerated_p_equals_scipy_permutation_with_ties() -> None:
    # the counted distribution against SciPy's own enumeration of every sign change (n <= 12)
    from scipy import stats  # noqa: PLC0415

    from opioidcds.population.outcomes import _average_ranks, enumerated_p  # noqa: PLC0415

    for diffs in ((-3, -3, 2, -1, 1, -2, -3, 4), (1, 1, 1, -1, 2, 2, -2, 3, -3, 3, 1, -1)):
        d = [D(x) for x in diffs]
        ranks = _average_ranks([abs(x) for x in d])
        w_plus = sum((r for r, x in zip(ranks, d, strict=True) if x > 0), D(0))
        expected = stats.wilcoxon(
            [float(x) for x in d],
            method=stats.PermutationMethod(n_resamples=2 ** len(d)),
            correction=False,
        ).pvalue
        assert enumerated_p(ranks, w_plus) == pytest.approx(float(expected), abs=1e-12)


def test_too_few_pairs_cannot_evaluate_never_a_p() -> None:
    minimum = default_outcomes_method().min_nonzero_pairs
    assert minimum == 6  # 2/2^5 = 0.0625: five pairs can never reach p < 0.05
    pairs = [(D(60), D(30))] * (minimum - 1) + [(D(20), D(20))] * 10
    t = signed_rank(pairs)
    assert t.status == "cannot-evaluate"
    assert t.p_value is None
    assert t.statistic is None
    assert (t.nonzero_pairs, t.zero_differences) == (5, 10)
    assert "at least 6" in t.reason


def test_population_outcomes_by_hand() -> None:
    o = _outcomes()
    assert o.status == "evaluated"
    assert o.high_dose_mg_per_day == D(120)
    overall = _overall(o)
    changes = {p.patient_id: p.change for p in o.patients}
    assert changes == {
        "A": "unchanged",
        "B": "reduced",
        "C": "stopped",
        "D": "reduced",
        "E": "increased",
        "F": "reduced",
        "G": "reduced",
        "H": "cannot-evaluate",  # a lower bound at both dates: counted, not paired
    }
    assert (overall.cohort, overall.pairs, overall.excluded_incomplete) == (8, 7, 1)
    assert (overall.reduced, overall.increased, overall.unchanged, overall.stopped) == (4, 1, 1, 1)
    # paired baseline A-G: 24 24 60 240 12 60 24 -> sorted 12 24 24 24 60 60 240 (n = 7):
    # median h = 3 -> 24; q1 h = 1.5 -> 24; q3 h = 4.5 -> 60
    assert _s(overall.baseline) == Spread(7, D(24), D(24), D(60))
    # follow-up A-G: 24 12 0 120 24 30 6 -> sorted 0 6 12 24 24 30 120:
    # median 24; q1 h = 1.5 -> 6 + 0.5 x 6 = 9; q3 h = 4.5 -> 24 + 0.5 x 6 = 27
    assert _s(overall.follow_up) == Spread(7, D(24), D(9), D(27))
    # differences 0 -12 -60 -120 +12 -30 -18: zero dropped; |d| 12 12 18 30 60 120 -> ranks
    # 1.5 1.5 3 4 5 6; W+ = 1.5 (E), W- = 19.5. Ties: all 64 sign assignments; W+ <= 1.5 for {}
    # and either 1.5 alone: 3 -> two-sided p = 6/64 = 0.09375
    t = overall.wilcoxon
    assert (t.w_plus, t.w_minus, t.nonzero_pairs, t.zero_differences) == (
        D("1.5"),
        D("19.5"),
        6,
        1,
    )
    assert t.p_value == pytest.approx(0.09375, abs=1e-12)
    # high dose (> 120): D at baseline (240) only; H's total is a lower bound (one patch
    # assumed): not known to be below the threshold, so unknown at both dates
    assert (overall.cohort_at_baseline.high_dose, overall.cohort_at_follow_up.high_dose) == (1, 0)
    assert overall.cohort_at_baseline.high_dose_unknown == 1
    assert overall.cohort_at_follow_up.high_dose_unknown == 1
    assert overall.cohort_at_baseline.high_dose_share == D(1) / 8
    # totals (mg/day) A-G: baseline 444, follow-up 216, plus H's lower bound at each date
    h_base = next(p for p in o.patients if p.patient_id == "H").baseline_ome
    assert overall.cohort_at_baseline.total_daily_ome == 444 + h_base
    assert overall.cohort_at_baseline.incomplete == 1
    assert overall.cohort_at_follow_up.patients == 8  # C counts with 0
    # practice-wide at follow-up: current opioid: A B D E F G H I (C stopped) = 8
    assert overall.current_at_follow_up.patients == 8
    assert overall.current_at_baseline.patients == 8  # A-H; I had not started


def test_per_practice_by_hand() -> None:
    o = _outcomes()
    groups = {g.group: g for g in o.groups}
    assert list(groups) == ["overall", "P1", "P2"]
    p1 = groups["P1"]
    # P1: A B C G paired; differences 0 -12 -60 -18: 3 with a change -> cannot evaluate
    assert (p1.cohort, p1.pairs) == (4, 4)
    assert p1.wilcoxon.status == "cannot-evaluate"
    assert p1.wilcoxon.p_value is None
    # baseline 24 24 24 60 -> median h = 1.5 -> 24; q3 h = 2.25 -> 24 + 0.25 x 36 = 33
    assert (_s(p1.baseline).median, _s(p1.baseline).q3) == (D(24), D(33))
    # follow-up 0 6 12 24 -> median 6 + 0.5 x 6 = 9; q1 h = 0.75 -> 4.5; q3 h = 2.25 -> 15
    assert _s(p1.follow_up) == Spread(4, D(9), D("4.5"), D(15))
    p2 = groups["P2"]
    assert (p2.cohort, p2.pairs, p2.excluded_incomplete) == (4, 3, 1)  # D E F; H lower bound
    assert p2.current_at_follow_up.patients == 4  # D E F H (I is in P1)


def test_profile_moves_the_high_dose_threshold() -> None:
    o = _outcomes(load_profile(PROFILE_90))
    assert o.high_dose_mg_per_day == D(90)
    overall = _overall(o)
    # D: 240 and 120 are both above 90; nobody else is above 90
    assert (overall.cohort_at_baseline.high_dose, overall.cohort_at_follow_up.high_dose) == (1, 1)


def test_no_history_before_baseline_cannot_evaluate() -> None:
    early = AS_OF - dt.timedelta(days=400)
    _, o = outcomes(_frame(), baseline=early, follow_up=AS_OF)
    assert o.status == "cannot-evaluate"
    assert o.groups == ()
    assert "baseline" in o.reason


def test_bad_dates_and_profiles_fail_closed() -> None:
    later = screen(issues([r[:7] for r in population()]), as_of=AS_OF)
    earlier = screen(issues([r[:7] for r in population()]), as_of=BASELINE)
    with pytest.raises(InvalidInputError, match="before the follow-up"):
        compare(later, earlier)
    with pytest.raises(InvalidInputError, match="profile"):
        compare(earlier, later, profile=load_profile(PROFILE_90))
    assert compare(earlier, later).groups[0].group == "overall"  # no practices: overall only
    assert len(compare(earlier, later).groups) == 1


def test_method_file_is_checked(tmp_path: Path) -> None:
    p = tmp_path / "bad.toml"
    src = (knowledge_dir("population_method") / "outcomes.toml").read_text(encoding="utf-8")
    p.write_text(src.replace('zero_method = "wilcox"', 'zero_method = "pratt"'), "utf-8")
    with pytest.raises(KnowledgeBaseError, match="zero_method"):
        load_outcomes_method(p)
    p.write_text(src.replace("min_nonzero_pairs = 6", "min_nonzero_pairs = 0"), "utf-8")
    with pytest.raises(KnowledgeBaseError, match="min_nonzero_pairs"):
        load_outcomes_method(p)
