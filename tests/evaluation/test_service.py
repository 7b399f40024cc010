"""Service evaluation by hand-worked examples: windows, paired changes, test, effect size, counts.

Windows (population_method/evaluation.toml): index date = first questionnaire; baseline up to
42 days after it; follow-up 90 to 730 days after it (the latest questionnaire in it).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction

import polars as pl
import pytest

from opioidcds import load_catalogue
from opioidcds.population import (
    QuestionnaireRecord,
    default_evaluation_method,
    default_outcomes_method,
    evaluate,
    score_questionnaire,
)
from opioidcds.population.outcomes import Spread
from opioidcds.population.service import (
    measures_of,
    prom_changes,
    rank_biserial,
    service_cohort,
    summarise,
)

D = Decimal
AS_OF = dt.date(2026, 11, 1)
INDEX = dt.date(2026, 1, 10)
FOLLOW = dt.date(2026, 6, 10)
INTERFERENCE = ("general_activity", "mood", "walking", "normal_work", "relations", "sleep",
                "enjoyment")  # fmt: skip


def _bpi(pid: str, day: dt.date, items: tuple[int | None, ...], practice: str,
         interference: int | None = None) -> QuestionnaireRecord:  # fmt: skip
    responses: dict[str, int | None] = dict(
        zip(("worst", "least", "average", "now"), items, strict=True)
    )
    responses.update(dict.fromkeys(INTERFERENCE, interference))
    return QuestionnaireRecord(
        patient_id=pid, completed_on=day, instrument="bpi-sf", responses=responses,
        practice_id=practice,
    )  # fmt: skip


def _cohort_records() -> list[QuestionnaireRecord]:
    later = dt.date(2026, 10, 1)
    return [
        # severity = mean of the four items; change = follow-up minus baseline
        _bpi("A", INDEX, (8, 4, 6, 6), "X", 6), _bpi("A", FOLLOW, (6, 2, 4, 4), "X", 4),  # 6 -> 4
        _bpi("B", INDEX, (7, 3, 5, 5), "X"), _bpi("B", FOLLOW, (7, 3, 5, 5), "X"),  # 5 -> 5
        _bpi("C", INDEX, (6, 2, 4, 4), "X"), _bpi("C", FOLLOW, (8, 4, 6, 6), "X"),  # 4 -> 6
        _bpi("D", INDEX, (9, 5, 7, 7), "Y"), _bpi("D", FOLLOW, (5, 1, 3, 3), "Y"),  # 7 -> 3
        _bpi("E", INDEX, (8, 4, 6, 6), "Y"), _bpi("E", FOLLOW, (7, 3, 5, 5), "Y"),  # 6 -> 5
        _bpi("F", INDEX, (6, 2, 4, 4), "Y"), _bpi("F", FOLLOW, (5, 1, 3, 3), "Y"),  # 4 -> 3
        _bpi("K", INDEX, (9, 5, 7, 7), "X"), _bpi("K", FOLLOW, (6, 3, 5, 4), "X"),  # 7 -> 4.5
        _bpi("G", INDEX, (6, 2, 4, 4), "Y"),  # no follow-up, window long open
        _bpi("H", INDEX, (6, 2, 4, None), "Y"), _bpi("H", FOLLOW, (6, 2, 4, 4), "Y"),
        _bpi("I", later, (6, 2, 4, 4), "X"),  # follow-up window opens 2026-12-30: not due
        # J: first questionnaire a SWEMWBS at the index date, a BPI only later: no BPI baseline
        QuestionnaireRecord(patient_id="J", completed_on=INDEX, instrument="swemwbs",
                            responses={"optimistic": 3}, practice_id="X"),
        _bpi("J", FOLLOW, (6, 2, 4, 4), "X"),
    ]  # fmt: skip


def _severity() -> list:  # type: ignore[type-arg]
    scored = [score_questionnaire(r) for r in _cohort_records()]
    cohort = service_cohort(scored, as_of=AS_OF)
    inst = scored[0].instrument
    measures = {m.id: m for m, _ in measures_of(inst)}
    meth = default_evaluation_method()
    sev = prom_changes(cohort, inst, measures["bpi-sf.severity"], meth)
    inter = prom_changes(cohort, inst, measures["bpi-sf.interference"], meth)
    out = default_outcomes_method()
    return [sev, summarise(measures["bpi-sf.severity"], sev, out),
            summarise(measures["bpi-sf.interference"], inter, out)]  # fmt: skip


def test_statuses_follow_the_windows_and_are_never_imputed() -> None:
    changes, _, _ = _severity()
    status = {c.patient_id: c.status for c in changes}
    assert status == {
        "A": "paired", "B": "paired", "C": "paired", "D": "paired", "E": "paired",
        "F": "paired", "K": "paired", "G": "no-follow-up", "H": "baseline-not-scored",
        "I": "follow-up-not-due", "J": "no-baseline",
    }  # fmt: skip
    k = next(c for c in changes if c.patient_id == "K")
    # K: (9 + 5 + 7 + 7)/4 = 7 -> (6 + 3 + 5 + 4)/4 = 4.5: change -2.5, improved (lower better)
    assert (k.baseline, k.follow_up, k.change, k.direction) == (
        D(7),
        D("4.5"),
        D("-2.5"),
        "improved",
    )
    h = next(c for c in changes if c.patient_id == "H")
    assert "3 of 4 items answered" in h.note


def test_overall_summary_by_hand() -> None:
    _, severity, _ = _severity()
    overall = severity[0]
    assert (overall.group, overall.patients, overall.paired) == ("overall", 11, 7)
    assert {k: n for k, n in overall.excluded.items() if n} == {
        "no-baseline": 1, "baseline-not-scored": 1, "follow-up-not-due": 1, "no-follow-up": 1,
    }  # fmt: skip
    # baseline A..K paired: 6 5 4 7 6 4 7 -> sorted 4 4 5 6 6 7 7 (Hyndman-Fan 7, n = 7):
    # median h = 3 -> 6; q1 h = 1.5 -> 4 + 0.5 x 1 = 4.5; q3 h = 4.5 -> 6 + 0.5 x 1 = 6.5
    assert overall.baseline == Spread(7, D(6), D("4.5"), D("6.5"))
    # follow-up 4 5 6 3 5 3 4.5 -> sorted 3 3 4 4.5 5 5 6: median 4.5; q1 h=1.5 -> 3.5; q3 5
    assert overall.follow_up == Spread(7, D("4.5"), D("3.5"), D(5))
    # changes -2 0 +2 -4 -1 -1 -2.5 -> sorted -4 -2.5 -2 -1 -1 0 2: median -1;
    # q1 h=1.5 -> -2.5 + 0.5 x 0.5 = -2.25; q3 h=4.5 -> -1 + 0.5 x 1 = -0.5
    assert overall.change == Spread(7, D(-1), D("-2.25"), D("-0.5"))
    assert overall.mean_change == D("-8.5") / 7
    assert (overall.improved, overall.worsened, overall.unchanged) == (5, 1, 1)
    # Wilcoxon: non-zero |d| 2 2 4 1 1 2.5 -> ranks 1, 1 -> 1.5; 2, 2 -> 3.5; 2.5 -> 5; 4 -> 6.
    # W+ = 3.5 (C's +2), W- = 21 - 3.5 = 17.5. Exact with ties over 2^6 = 64 sign changes, in
    # doubled ranks 3 3 7 7 10 12 and W+ = 7: subsets summing to <= 7 are {}, {3}, {3'},
    # {3, 3'}, {7}, {7'} = 6, so p = 2 x 6/64 = 0.1875
    t = overall.wilcoxon
    assert t is not None
    assert (t.w_plus, t.w_minus, t.nonzero_pairs, t.zero_differences) == (D("3.5"), D("17.5"), 6, 1)
    assert t.method == "exact-enumeration"
    assert t.p_value == pytest.approx(0.1875, abs=1e-12)
    # rank-biserial (W+ - W-)/(W+ + W-) = (3.5 - 17.5)/21 = -2/3 (follow-up lower)
    assert overall.rank_biserial is not None
    assert Fraction(overall.rank_biserial).limit_denominator(100) == Fraction(-2, 3)
    assert overall.important_improved is None  # severity has no important-change threshold


def test_per_practice_groups_and_important_change() -> None:
    _, severity, interference = _severity()
    groups = {s.group: (s.patients, s.paired) for s in severity}
    # X: A B C I J K (paired A B C K); Y: D E F G H (paired D E F)
    assert groups == {"overall": (11, 7), "X": (6, 4), "Y": (5, 3)}
    assert severity[1].wilcoxon is not None
    assert severity[1].wilcoxon.status == "cannot-evaluate"  # 3 non-zero changes in X
    assert severity[1].wilcoxon.p_value is None
    # interference: only A answered it: 6 -> 4, a fall of 2 >= the 1-point IMMPACT threshold
    overall = interference[0]
    assert (overall.paired, overall.important_improved, overall.important_worsened) == (1, 1, 0)


def test_rank_biserial_by_hand() -> None:
    # +1 +2 +3 -4: ranks 1 2 3 4; W+ = 6, W- = 4; (6 - 4)/10 = 0.2; all zero: none
    assert rank_biserial([D(1), D(2), D(3), D(-4), D(0)]) == D("0.2")
    assert rank_biserial([D(0), D(0)]) is None
    assert rank_biserial([D(-1), D(-3)]) == D(-1)


MOR = "Morphine 30mg modified-release tablets"


def code(name: str) -> str:
    """dm+d code of a catalogue product, by name."""
    return load_catalogue().by_name(name).dmd_code


def _issue_rows() -> pl.DataFrame:
    rows = []
    start = dt.date(2025, 6, 1)
    for k in range(18):  # every 28 days from 2025-06-01 to 2026-10-05
        day = start + dt.timedelta(days=28 * k)
        twice = day < dt.date(2026, 3, 1)
        rows.append(("A", day, "one tablet twice a day" if twice else "one tablet once a day",
                     "56" if twice else "28", "X"))  # fmt: skip
        if day <= dt.date(2026, 2, 1):
            rows.append(("B", day, "one tablet twice a day", "56", "Y"))
        if day >= dt.date(2026, 2, 1):
            rows.append(("C", day, "one tablet twice a day", "56", "Y"))
    return pl.DataFrame(
        {
            "patient_id": [r[0] for r in rows],
            "issue_date": [r[1].isoformat() for r in rows],
            "dmd_code": [code(MOR)] * len(rows),
            "quantity": [r[3] for r in rows],
            "dosage_text": [r[2] for r in rows],
            "days_supply": ["28"] * len(rows),
            "practice_id": [r[4] for r in rows],
        }
    )


def test_dose_at_the_index_and_follow_up_dates_by_hand() -> None:
    # morphine 30 mg MR: one tablet twice a day = 60 mg OME/day (factor 1), once a day = 30.
    # A reduces (60 -> 30); B's last issue 2026-01-25 is over 56 days before 2026-06-10: no
    # current opioid at follow-up = stopped (60 -> 0); C's first issue comes after the index
    # date: no opioid at baseline, not in the dose figures.
    q = pl.DataFrame(
        {
            "patient_id": ["A", "A", "B", "B", "C", "C"],
            "completed_on": [INDEX.isoformat(), FOLLOW.isoformat()] * 3,
            "instrument": ["bpi-sf"] * 6,
            "worst": ["5"] * 6,
        }
    )
    result = evaluate(q, _issue_rows(), as_of=AS_OF, months=2)
    dose = {c.patient_id: c for c in result.changes if c.measure == "dose"}
    assert (dose["A"].status, dose["A"].baseline, dose["A"].follow_up) == ("paired", D(60), D(30))
    assert (dose["B"].status, dose["B"].baseline, dose["B"].follow_up) == ("paired", D(60), D(0))
    assert "stopped" in dose["B"].note
    assert dose["C"].status == "no-opioid-at-baseline"
    overall = next(s for s in result.summaries if s.measure.id == "dose" and s.group == "overall")
    assert (overall.paired, overall.improved) == (2, 2)
    assert overall.wilcoxon is not None
    assert overall.wilcoxon.status == "cannot-evaluate"  # 2 pairs: never a made-up p


def test_questionnaires_after_the_evaluation_date_are_counted_not_used() -> None:
    q = pl.DataFrame(
        {
            "patient_id": ["A", "A", "B"],
            "completed_on": [INDEX.isoformat(), FOLLOW.isoformat(), "2026-12-01"],
            "instrument": ["bpi-sf"] * 3,
            "worst": ["5"] * 3,
        }
    )
    result = evaluate(q, _issue_rows(), as_of=AS_OF, months=1)
    assert (result.cohort, result.questionnaires_used, result.questionnaires_after_as_of) == (
        1,
        2,
        1,
    )
