"""Properties: scores stay in range, missing items follow the manual's rule, one patient's
change changes only that patient's contribution.

Hypothesis runs derandomised under HYPOTHESIS_PROFILE=ci (conftest.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opioidcds import InvalidInputError
from opioidcds.population import (
    Instrument,
    QuestionnaireRecord,
    default_evaluation_method,
    default_instruments,
    default_outcomes_method,
    score_questionnaire,
)
from opioidcds.population.service import measures_of, prom_changes, service_cohort, summarise

INSTRUMENTS = default_instruments()
DAY = dt.date(2026, 3, 1)


@st.composite
def responses(draw: st.DrawFn, inst: Instrument) -> dict[str, int | None]:
    """Allowed responses of every item, each possibly blank."""
    out: dict[str, int | None] = {}
    for it in inst.items:
        steps = draw(st.integers(0, (it.max - it.min) // it.step))
        value = it.min + steps * it.step
        out[it.id] = None if draw(st.booleans()) and draw(st.booleans()) else value
    return out


@given(
    st.sampled_from(sorted(INSTRUMENTS)).flatmap(
        lambda i: st.tuples(st.just(i), responses(INSTRUMENTS[i]))
    )
)
def test_scores_stay_in_range_and_follow_the_missing_item_rule(
    case: tuple[str, dict[str, int | None]],
) -> None:
    name, answers = case
    inst = INSTRUMENTS[name]
    rec = QuestionnaireRecord(patient_id="P", completed_on=DAY, instrument=name, responses=answers)
    for s in score_questionnaire(rec).scores:
        rule = inst.score(s.score_id)
        answered = sum(answers.get(i) is not None for i in rule.items)
        assert s.answered == answered
        # scored exactly when the manual's minimum is met; never a partial score otherwise
        assert (s.status == "scored") == (answered >= rule.min_answered)
        if s.status != "scored":
            assert s.value is None
            assert s.profile is None
            continue
        if rule.method == "profile":
            assert s.profile is not None
            assert len(s.profile) == len(rule.items)
            continue
        assert s.value is not None
        assert rule.min is not None
        assert rule.max is not None
        assert rule.min <= s.value <= rule.max


@given(
    st.sampled_from(sorted(INSTRUMENTS)).flatmap(
        lambda i: st.tuples(
            st.just(i),
            st.sampled_from([it.id for it in INSTRUMENTS[i].items]),
            st.integers(-1000, 1000),
        )
    )
)
def test_a_response_outside_its_item_is_always_an_error(case: tuple[str, str, int]) -> None:
    name, item_id, value = case
    item = INSTRUMENTS[name].item(item_id)
    rec = QuestionnaireRecord(
        patient_id="P", completed_on=DAY, instrument=name, responses={item_id: value}
    )
    if item.allows(value):
        assert score_questionnaire(rec)
        return
    with pytest.raises(InvalidInputError) as err:
        score_questionnaire(rec)
    assert err.value.field == f"responses.{item_id}"


def _bpi(pid: str, day: dt.date, level: int, practice: str) -> QuestionnaireRecord:
    items = ("worst", "least", "average", "now")
    return QuestionnaireRecord(
        patient_id=pid,
        completed_on=day,
        instrument="bpi-sf",
        responses=dict.fromkeys(items, level),
        practice_id=practice,
    )


@given(
    st.lists(st.tuples(st.integers(0, 10), st.integers(0, 10)), min_size=2, max_size=12),
    st.integers(0, 10),
    st.data(),
)
def test_changing_one_patient_changes_only_that_patient(
    levels: list[tuple[int, int]], new_follow: int, data: st.DataObject
) -> None:
    inst = INSTRUMENTS["bpi-sf"]
    measure = next(m for m, _ in measures_of(inst) if m.score == "severity")
    meth, out = default_evaluation_method(), default_outcomes_method()
    follow_day = dt.date(2026, 8, 1)

    def evaluate(pairs: list[tuple[int, int]]) -> tuple[list, list]:  # type: ignore[type-arg]
        records = []
        for k, (b, f) in enumerate(pairs):
            practice = "X" if k % 2 == 0 else "Y"
            records += [
                _bpi(f"P{k:02d}", DAY, b, practice),
                _bpi(f"P{k:02d}", follow_day, f, practice),
            ]
        scored = [score_questionnaire(r) for r in records]
        cohort = service_cohort(scored, as_of=dt.date(2026, 11, 1))
        changes = prom_changes(cohort, inst, measure, meth)
        return changes, summarise(measure, changes, out)

    who = data.draw(st.integers(0, len(levels) - 1))
    changed = list(levels)
    changed[who] = (levels[who][0], new_follow)
    before, groups_before = evaluate(levels)
    after, groups_after = evaluate(changed)
    for a, b in zip(before, after, strict=True):
        if a.patient_id != f"P{who:02d}":
            assert a == b  # every other patient's pair is untouched
    other = "Y" if who % 2 == 0 else "X"
    by_group = {g.group: g for g in groups_before}
    for g in groups_after:
        if g.group == other:  # the other practice's figures are unchanged
            assert dataclasses.astuple(g) == dataclasses.astuple(by_group[g.group])
    own = f"P{who:02d}"
    mine_after = next(c for c in after if c.patient_id == own)
    assert mine_after.follow_up == Decimal(new_follow)
