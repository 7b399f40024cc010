"""Reading a questionnaire file: row by row, item by item; problems named, never a value."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from opioidcds import InvalidInputError
from opioidcds.population import read_questionnaires

HEAD = ("patient_id", "completed_on", "instrument", "practice_id", "worst", "least", "average",
        "now", "relief", "optimistic", "notes")  # fmt: skip


def _frame(rows: list[tuple[str, ...]]) -> pl.DataFrame:
    return pl.DataFrame(
        {h: [r[i] for r in rows] for i, h in enumerate(HEAD)}, schema=dict.fromkeys(HEAD, pl.String)
    )


GOOD = ("P1", "2026-03-01", "bpi-sf", "X1", "8", "3", "6", "5", "30", "", "free text ignored")


def test_good_rows_become_records_with_blank_items_as_none() -> None:
    records, problems = read_questionnaires(
        _frame([GOOD, ("P2", "2026-03-02", "BPI-SF", "", "7", "", "", "", "", "", "")])
    )
    assert problems == ()
    first, second = records
    assert first.completed_on == dt.date(2026, 3, 1)
    assert first.responses == {"worst": 8, "least": 3, "average": 6, "now": 5, "relief": 30}
    assert first.practice_id == "X1"
    assert second.instrument == "bpi-sf"  # case-insensitive instrument id
    assert second.responses["least"] is None
    assert second.practice_id is None


@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        ({"worst": "57"}, "worst: BPI-SF item 3 (worst pain) must be a whole number from 0 to 10"),
        ({"relief": "35"}, "relief: BPI-SF item 8"),
        ({"now": "5.5"}, "now: BPI-SF item 6 (pain right now) must be a whole number"),
        ({"now": "five"}, "now: BPI-SF item 6"),
        ({"optimistic": "4"}, "optimistic: answered, but not an item of BPI-SF"),
        ({"instrument": "phq-9"}, "instrument: missing or unknown"),
        ({"completed_on": "01/03/2026"}, "completed_on: missing or not a date"),
        ({"patient_id": ""}, "patient_id: missing"),
    ],
)
def test_a_bad_row_is_excluded_and_named_without_its_value(
    cells: dict[str, str], reason: str
) -> None:
    bad = dict(zip(HEAD, GOOD, strict=True))
    bad.update(cells)
    records, problems = read_questionnaires(_frame([GOOD, tuple(bad[h] for h in HEAD)]))
    assert len(records) == 1
    assert len(problems) == 1
    problem = problems[0]
    assert (problem.file, problem.row) == ("questionnaires", 2)
    assert problem.reason.startswith(reason)
    for value in cells.values():
        if value:
            assert value not in problem.reason.removeprefix(reason.split(":", maxsplit=1)[0])


def test_two_rows_of_one_patient_date_and_instrument_are_both_excluded() -> None:
    other = (*GOOD[:4], "2", *GOOD[5:])
    records, problems = read_questionnaires(_frame([GOOD, other]))
    assert records == ()
    assert [p.row for p in problems] == [1, 2]
    assert "same patient_id, completed_on and instrument" in problems[0].reason


def test_strict_stops_at_the_first_bad_row_naming_row_and_column() -> None:
    bad = ("P1", "2026-03-02", "bpi-sf", "X1", "11", "3", "6", "5", "30", "", "")
    with pytest.raises(InvalidInputError) as err:
        read_questionnaires(_frame([GOOD, bad]), strict=True)
    assert err.value.field == "questionnaires row 2"
    assert "worst: BPI-SF item 3" in str(err.value)
    assert "11" not in str(err.value)


def test_files_and_required_columns(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    _frame([GOOD]).write_csv(path)
    assert len(read_questionnaires(path)[0]) == 1
    _frame([GOOD]).write_parquet(tmp_path / "q.parquet")
    assert len(read_questionnaires(tmp_path / "q.parquet")[0]) == 1
    _frame([GOOD]).drop("instrument").write_csv(path)
    with pytest.raises(InvalidInputError, match="missing required column"):
        read_questionnaires(path)
    with pytest.raises(InvalidInputError, match="no such file: check the path"):
        read_questionnaires(tmp_path / "absent.csv")
