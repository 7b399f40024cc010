"""Questionnaire scoring by hand-worked examples, one rule of each instrument file at a time.

Sources (instruments/*.toml): BPI-SF, Cleeland 2009 user guide (severity = mean of items 3-6;
interference = mean of the answered items of 9A-9G when at least 4 of 7 are answered; relief
0-100% in steps of 10); WEMWBS, sum of 14 items 1-5 (Warwick); SWEMWBS, sum of 7 items
converted with the Stewart-Brown 2009 table; EQ-5D-5L, five dimensions 1-5 as a profile, EQ
VAS 0-100 (EuroQol).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from opioidcds import InvalidInputError, KnowledgeBaseError
from opioidcds.population import (
    QuestionnaireRecord,
    default_instruments,
    load_value_set,
    score_questionnaire,
)

D = Decimal
DAY = dt.date(2026, 6, 1)
BPI_SEVERITY = ("worst", "least", "average", "now")
BPI_INTERFERENCE = (
    "general_activity",
    "mood",
    "walking",
    "normal_work",
    "relations",
    "sleep",
    "enjoyment",
)
SWEMWBS = (
    "optimistic",
    "useful",
    "relaxed",
    "dealing_with_problems",
    "thinking_clearly",
    "close_to_others",
    "own_mind",
)


def _score(instrument: str, **responses: int | None) -> dict[str, tuple[str, object]]:
    rec = QuestionnaireRecord(
        patient_id="P1", completed_on=DAY, instrument=instrument, responses=responses
    )
    scored = score_questionnaire(rec)
    return {
        s.score_id: (s.status, s.profile if s.profile is not None else s.value)
        for s in scored.scores
    }


def test_bpi_severity_is_the_mean_of_the_four_intensity_items() -> None:
    # worst 8, least 3, average 6, now 5: (8 + 3 + 6 + 5) / 4 = 22 / 4 = 5.5
    scores = _score("bpi-sf", worst=8, least=3, average=6, now=5)
    assert scores["severity"] == ("scored", D("5.5"))


def test_bpi_severity_needs_all_four_items() -> None:
    # the user guide gives no rule for a missing severity item: opioidcds needs all four
    rec = QuestionnaireRecord(
        patient_id="P1",
        completed_on=DAY,
        instrument="bpi-sf",
        responses={"worst": 8, "least": 3, "average": 6, "now": None},
    )
    severity = score_questionnaire(rec).score("severity")
    assert severity.status == "cannot-score"
    assert severity.value is None
    assert "3 of 4 items answered; all needed" in severity.reason


def test_bpi_interference_mean_of_all_seven() -> None:
    # 5 + 6 + 7 + 4 + 3 + 8 + 9 = 42; 42 / 7 = 6
    values = dict(zip(BPI_INTERFERENCE, (5, 6, 7, 4, 3, 8, 9), strict=True))
    assert _score("bpi-sf", **values)["interference"] == ("scored", D(6))


def test_bpi_interference_with_four_of_seven_is_the_mean_of_the_four() -> None:
    # 4 of 7 answered (the user guide's minimum): 6 + 7 + 8 + 3 = 24; 24 / 4 = 6 (the mean of
    # the answered items, not 24 / 7)
    values: dict[str, int | None] = dict.fromkeys(BPI_INTERFERENCE)
    values.update(general_activity=6, mood=7, walking=8, normal_work=3)
    rec = QuestionnaireRecord(
        patient_id="P1", completed_on=DAY, instrument="bpi-sf", responses=values
    )
    result = score_questionnaire(rec).score("interference")
    assert (result.status, result.value, result.answered, result.of) == ("scored", D(6), 4, 7)


def test_bpi_interference_of_five_items_keeps_its_fraction() -> None:
    # 1 + 2 + 2 + 2 + 2 = 9 of five answered: 9 / 5 = 1.8; 6 answered 1,1,1,1,1,2: 7/6
    values: dict[str, int | None] = dict.fromkeys(BPI_INTERFERENCE)
    values.update(general_activity=1, mood=2, walking=2, normal_work=2, relations=2)
    rec = QuestionnaireRecord(
        patient_id="P1", completed_on=DAY, instrument="bpi-sf", responses=values
    )
    assert score_questionnaire(rec).score("interference").value == D("1.8")
    values.update(general_activity=1, mood=1, walking=1, normal_work=1, relations=1, sleep=2)
    rec = QuestionnaireRecord(
        patient_id="P1", completed_on=DAY, instrument="bpi-sf", responses=values
    )
    assert score_questionnaire(rec).score("interference").exact == Fraction(7, 6)


def test_bpi_interference_with_three_of_seven_cannot_be_scored() -> None:
    values: dict[str, int | None] = dict.fromkeys(BPI_INTERFERENCE)
    values.update(general_activity=6, mood=7, walking=8)
    rec = QuestionnaireRecord(
        patient_id="P1", completed_on=DAY, instrument="bpi-sf", responses=values
    )
    result = score_questionnaire(rec).score("interference")
    assert result.status == "cannot-score"
    assert "3 of 7 items answered; at least 4 needed" in result.reason


def test_bpi_relief_is_the_percentage() -> None:
    assert _score("bpi-sf", relief=30)["relief"] == ("scored", D(30))
    assert _score("bpi-sf", relief=0)["relief"] == ("scored", D(0))
    assert _score("bpi-sf", relief=None)["relief"][0] == "cannot-score"


@pytest.mark.parametrize(
    ("item", "value", "words"),
    [
        ("worst", 57, "BPI-SF item 3 (worst pain) must be a whole number from 0 to 10"),
        ("now", -3, "BPI-SF item 6 (pain right now) must be a whole number from 0 to 10"),
        ("relief", 35, "item 8 (relief from treatments or medication (percent)) must be a whole "
         "number from 0 to 100 in steps of 10"),
        ("relief", 130, "in steps of 10"),
        ("mood", 13, "BPI-SF item 9B (interference: mood)"),
    ],
)  # fmt: skip
def test_out_of_range_response_is_an_error_naming_the_item(
    item: str, value: int, words: str
) -> None:
    rec = QuestionnaireRecord(
        patient_id="P1", completed_on=DAY, instrument="bpi-sf", responses={item: value}
    )
    with pytest.raises(InvalidInputError) as err:
        score_questionnaire(rec)
    assert err.value.field == f"responses.{item}"
    assert words in str(err.value)
    assert str(value) not in str(err.value).replace("0 to 100", "").replace("0 to 10", "")


def test_unknown_item_instrument_and_non_integer_are_errors() -> None:
    rec = QuestionnaireRecord(
        patient_id="P1", completed_on=DAY, instrument="bpi-sf", responses={"optimistic": 3}
    )
    with pytest.raises(InvalidInputError, match="not an item of BPI-SF"):
        score_questionnaire(rec)
    rec = QuestionnaireRecord(patient_id="P1", completed_on=DAY, instrument="phq-9", responses={})
    with pytest.raises(InvalidInputError, match="unknown instrument"):
        score_questionnaire(rec)
    with pytest.raises(InvalidInputError):  # a float or a bool is not a response
        QuestionnaireRecord(
            patient_id="P1", completed_on=DAY, instrument="bpi-sf", responses={"worst": 2.5}
        )
    with pytest.raises(InvalidInputError):
        QuestionnaireRecord(
            patient_id="P1", completed_on=DAY, instrument="bpi-sf", responses={"worst": True}
        )


def test_wemwbs_total_is_the_sum_of_fourteen_items() -> None:
    inst = default_instruments()["wemwbs"]
    items = [i.id for i in inst.items]
    # items 1..14 answered 1,2,3,4,5,1,2,3,4,5,1,2,3,4: sum = 15 + 15 + 10 = 40
    values: dict[str, int | None] = dict(
        zip(items, (1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2, 3, 4), strict=True)
    )
    assert _score("wemwbs", **values)["total"] == ("scored", D(40))
    assert _score("wemwbs", **dict.fromkeys(items, 5))["total"] == ("scored", D(70))
    values["cheerful"] = None  # no missing-item rule is applied
    assert _score("wemwbs", **values)["total"][0] == "cannot-score"


@pytest.mark.parametrize(
    ("answers", "raw", "metric"),
    [
        # 4+3+3+4+3+4+3 = 24 -> table row 24: 21.54
        ((4, 3, 3, 4, 3, 4, 3), 24, "21.54"),
        ((1,) * 7, 7, "7.00"),  # lowest raw total -> 7.00
        ((5,) * 7, 35, "35.00"),  # highest -> 35.00
        ((2, 2, 2, 2, 2, 2, 3), 15, "15.84"),  # 2 x 6 + 3 = 15 -> 15.84
    ],
)
def test_swemwbs_raw_total_converted_by_the_table(
    answers: tuple[int, ...], raw: int, metric: str
) -> None:
    scores = _score("swemwbs", **dict(zip(SWEMWBS, answers, strict=True)))
    assert scores["raw"] == ("scored", D(raw))
    assert scores["metric"] == ("scored", D(metric))


def test_swemwbs_needs_all_seven_items() -> None:
    values: dict[str, int | None] = dict.fromkeys(SWEMWBS, 3)
    values["own_mind"] = None
    scores = _score("swemwbs", **values)
    assert scores["raw"][0] == scores["metric"][0] == "cannot-score"


def test_eq5d_profile_and_vas() -> None:
    scores = _score(
        "eq-5d-5l",
        mobility=1,
        self_care=2,
        usual_activities=3,
        pain_discomfort=2,
        anxiety_depression=1,
        vas=70,
    )
    assert scores["profile"] == ("scored", "12321")
    assert scores["vas"] == ("scored", D(70))
    assert "index" not in scores  # no value set ships, so no index
    # a missing dimension: no profile, the EQ VAS still scores; 9 (a missing code in some
    # exports) is out of range, never read as a level
    partial = _score("eq-5d-5l", mobility=1, self_care=2, usual_activities=3, vas=55)
    assert partial["profile"][0] == "cannot-score"
    assert partial["vas"] == ("scored", D(55))
    with pytest.raises(InvalidInputError, match="mobility"):
        _score("eq-5d-5l", mobility=9)


VALUE_SET = """
kind = "eq5d-value-set"
instrument = "eq-5d-5l"
id = "test-additive"
version = "0.1"
effective_date = 2026-12-01
owner = "tests"
licence = "Made up for this test: not a real value set."
model = "additive-decrements"
start = "1"
constant = "0.05"
[[citations]]
id = "made-up"
text = "Invented decrements for a hand-worked test; not any published value set."
[decrements]
mobility = ["0", "0.05", "0.10", "0.20", "0.30"]
self_care = ["0", "0.04", "0.08", "0.16", "0.20"]
usual_activities = ["0", "0.03", "0.06", "0.12", "0.18"]
pain_discomfort = ["0", "0.06", "0.12", "0.24", "0.36"]
anxiety_depression = ["0", "0.05", "0.10", "0.20", "0.30"]
"""


def test_eq5d_index_only_from_a_loaded_value_set(tmp_path: Path) -> None:
    path = tmp_path / "vs.toml"
    path.write_text(VALUE_SET, encoding="utf-8")
    vs = load_value_set(path)
    rec = QuestionnaireRecord(
        patient_id="P1",
        completed_on=DAY,
        instrument="eq-5d-5l",
        responses={
            "mobility": 1,
            "self_care": 2,
            "usual_activities": 3,
            "pain_discomfort": 2,
            "anxiety_depression": 1,
        },
    )
    index = score_questionnaire(rec, value_set=vs).score("index")
    # 12321: 1 - 0.05 (constant: some dimension above 1) - 0 - 0.04 - 0.06 - 0.06 - 0 = 0.79
    assert (index.status, index.value) == ("scored", D("0.79"))
    best = rec.model_copy(update={"responses": dict.fromkeys(rec.responses, 1)})
    assert score_questionnaire(best, value_set=vs).score("index").value == D(1)  # no constant
    # a value set with a falling decrement or a missing dimension is refused
    path.write_text(VALUE_SET.replace('"0.20", "0.30"]\nself', '"0.20", "0.10"]\nself'), "utf-8")
    with pytest.raises(KnowledgeBaseError, match="mobility"):
        load_value_set(path)
    path.write_text(VALUE_SET.replace("anxiety_depression =", "anxiety =", 1), "utf-8")
    with pytest.raises(KnowledgeBaseError, match="decrements must name"):
        load_value_set(path)
