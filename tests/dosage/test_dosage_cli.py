"""The parse-dosage command function: output and exit codes (0 parsed, 1 unparsed, 2 invalid)."""

from __future__ import annotations

import json

import pytest

from opioidcds.cli.parse_dosage_cli import parse_dosage_command


def test_json_parsed(capsys: pytest.CaptureFixture[str]) -> None:
    code = parse_dosage_command(
        "1-2 tablets every 4-6 hours when required, max 8 in 24 hours", True
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kind"] == "dosage"
    assert data["prescription_fields"] == {
        "dose_quantity": "1",
        "dose_quantity_max": "2",
        "dose_unit": "tablet",
        "interval_hours": "4",
        "interval_hours_max": "6",
        "prn": True,
        "max_quantity_per_day": "8",
    }
    assert data["not_convertible_reason"] is None


def test_json_unparsed(capsys: pytest.CaptureFixture[str]) -> None:
    code = parse_dosage_command("take one grain daily", True)
    assert code == 1
    data = json.loads(capsys.readouterr().out)
    assert data["kind"] == "unparsed"
    assert data["result"]["problems"] == ["unrecognised word at position 9"]
    assert "not fully understood" in data["not_convertible_reason"]


def test_json_as_directed(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_dosage_command("use as directed", True) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["prescription_fields"] == {}
    assert "as directed" in data["not_convertible_reason"]


def test_invalid_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_dosage_command("   ", True) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["kind"] == "invalid"
    assert "dosage_text" in captured.err
    assert parse_dosage_command("x" * 5000, False) == 2
    assert "xxxx" not in capsys.readouterr().err


def test_table_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_dosage_command("APPLY ONE PATCH EVERY 72 HOURS", False) == 0
    out = capsys.readouterr().out
    assert "interval_hours" in out
    assert "72" in out
    assert parse_dosage_command("one then two", False) == 1
    assert "sequence" in capsys.readouterr().out
    assert parse_dosage_command("as directed", False) == 0
    assert "No daily amount" in capsys.readouterr().out


def test_table_output_is_not_rich_markup(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_dosage_command("one [/bold] tablet twice a day [red]", False) == 1
    assert parse_dosage_command("one [twice a day]", False) == 0
    assert "[twice a day]" in capsys.readouterr().out


def test_a_split_dose_is_shown_as_people_write_it(capsys: pytest.CaptureFixture[str]) -> None:
    # "2 MANE & 3 NOCTE" (CPRD common dosages): 2 in the morning + 3 at night = 5 a day
    assert parse_dosage_command("2 MANE & 3 NOCTE", False) == 0
    out = capsys.readouterr().out
    assert "2 (morning), 3 (night)" in out
    assert "Decimal" not in out


def test_a_first_dose_is_said_under_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    # "2 STAT THEN 1 DAILY" (CPRD common dosages): the regular dose is 1 a day; the first 2 is
    # taken once and said beside it (issue 16, third round)
    assert parse_dosage_command("2 STAT THEN 1 DAILY", False) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "a first dose of 2 (stat) before the regular doses" in out


def test_a_dose_change_shows_its_steps_and_the_highest(capsys: pytest.CaptureFixture[str]) -> None:
    # "1 EVERY NIGHT FOR 1 WEEK THEN 2 EVERY NIGHT" (CPRD common dosages): 1 a night for a week,
    # then 2 a night; read up to the highest step, 2 a day (issue 16, fifth round)
    assert parse_dosage_command("1 EVERY NIGHT FOR 1 WEEK THEN 2 EVERY NIGHT", False) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "1 at night for 1 week, 2 at night" in out  # the dose_steps row
    assert "the dose goes up over time: 1 at night for 1 week, then 2 at night" in out
    assert "DoseStep(" not in out
