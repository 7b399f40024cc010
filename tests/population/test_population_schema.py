"""Input schema: required columns, unknown columns, bad rows listed (never silently dropped)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from opioidcds import InvalidInputError
from opioidcds.population import screen
from opioidcds.population.schema import read_issues, read_patients

from .helpers import AS_OF, code, day, issues, patients

CC = "Co-codamol 30mg/500mg tablets"


def test_missing_required_columns_are_named() -> None:
    df = pl.DataFrame({"patient_id": ["a"], "dmd_code": ["123456"]})
    with pytest.raises(InvalidInputError) as err:
        read_issues(df)
    assert "issue_date" in str(err.value)
    assert "quantity" in str(err.value)


def test_product_columns_one_of_two_required() -> None:
    df = pl.DataFrame({"patient_id": ["a"], "issue_date": ["2026-01-01"], "quantity": ["1"]})
    with pytest.raises(InvalidInputError, match="dmd_code or product_name"):
        read_issues(df)


def test_patient_table_needs_patient_id() -> None:
    with pytest.raises(InvalidInputError, match="patient_id"):
        read_patients(pl.DataFrame({"age": ["70"]}))


def test_unknown_columns_ignored_and_names_case_insensitive() -> None:
    df = issues([("p1", day(10), code(CC), None, "100", None, None)]).with_columns(
        pl.lit("x").alias("surgery_notes")
    )
    df = df.rename({"patient_id": "Patient_ID"})
    good, problems = read_issues(df)
    assert good.height == 1
    assert not problems
    assert "surgery_notes" not in good.columns


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (("p1", "2026-13-01", "x", None, "1", None, None), "issue_date"),
        (("p1", "01/02/2026", None, CC, "1", None, None), "issue_date"),
        (("p1", day(5), None, CC, "-5", None, None), "quantity not a positive number"),
        (("p1", day(5), None, CC, "0", None, None), "quantity not a positive number"),
        (("p1", day(5), None, CC, "1e9", None, None), "quantity not a positive number"),
        (("p1", day(5), None, CC, None, None, None), "quantity missing"),
        (("", day(5), None, CC, "1", None, None), "patient_id missing"),
        (("p1", day(5), None, None, "1", None, None), "both missing"),
        (("p1", day(5), "12ab", None, "1", None, None), "6-20 digits"),
        (("p1", day(5), None, CC, "1", None, "400"), "days_supply"),
        (("p1", "1899-12-31", None, CC, "1", None, None), "before 1900-01-01"),
    ],
)
def test_bad_rows_are_listed_with_row_number(row: tuple[str | None, ...], reason: str) -> None:
    ok = ("p1", day(40), None, CC, "100", None, None)
    good, problems = read_issues(issues([ok, row]))
    assert good.height == 1
    assert len(problems) == 1
    assert problems[0].row == 2
    assert reason in problems[0].reason


def test_duplicates_unknown_products_and_late_rows_are_listed() -> None:
    rows = [
        ("p1", day(60), None, CC, "100", None, None),
        ("p1", day(60), None, CC, "100", None, None),  # duplicate
        ("p1", day(30), "999999999", None, "100", None, None),  # unknown code
        ("p1", day(20), None, "Paracetamol 500mg tablets", "100", None, None),  # not recognised
        ("p1", day(-3), None, CC, "100", None, None),  # after the as-of date
        ("p2", day(5), None, CC, "100", None, None),
    ]
    s = screen(issues(rows), as_of=AS_OF)
    reasons = {p.row: p.reason for p in s.problems}
    assert reasons[2].startswith("duplicate")
    assert reasons[3] == "dm+d code not in the catalogue"
    assert reasons[4] == "product not recognised"
    assert reasons[5] == "issued after the as-of date: not used"
    assert {r.patient_id for r in s.rows} == {"p1", "p2"}  # everyone else is still screened
    assert s.counts["problem_rows"] == 4


def test_problem_reasons_hold_no_values() -> None:
    value = "9876543210123"
    rows = [(value, "not-a-date", value, None, "-" + value, "take " + value, None)]
    s = screen(issues(rows), as_of=AS_OF)
    assert s.problems
    assert all(value not in p.reason for p in s.problems)


def test_empty_extract() -> None:
    s = screen(issues([]))
    assert s.rows == ()
    assert s.as_of is None
    assert s.counts["patients"] == 0


def test_bad_patient_rows_mean_not_screened() -> None:
    rows = [
        ("p1", day(100), None, CC, "100", None, None),
        ("p2", day(5), None, CC, "1", None, None),
    ]
    table = patients(
        [
            {"patient_id": "p1", "age": "seventy", "cancer_pain": "false"},
            {"patient_id": "p2", "age": "70", "cancer_pain": "maybe"},
        ]
    )
    s = screen(issues(rows), table, as_of=AS_OF)
    assert {r.status for r in s.rows} == {"not-screened"}
    assert {p.reason for p in s.problems} == {
        "age not a whole number",
        "cancer_pain not true/false",
    }


def test_csv_and_parquet_round_trip(tmp_path: Path) -> None:
    rows = [
        ("p1", day(150), None, CC, "224", "two tablets four times a day", "28"),
        ("p1", day(120), None, CC, "224", None, "28"),
        ("p1", day(90), None, CC, "224", None, None),
        ("p1", day(10), None, CC, "224", None, None),
        ("p2", day(20), code(CC), None, "100", None, None),
    ]
    df = issues(rows)
    table = patients([{"patient_id": "p1", "age": "70", "sex": "male"}])
    df.write_csv(tmp_path / "i.csv")
    df.write_parquet(tmp_path / "i.parquet")
    table.write_csv(tmp_path / "p.csv")
    table.write_parquet(tmp_path / "p.parquet")
    a = screen(tmp_path / "i.csv", tmp_path / "p.csv", as_of=AS_OF)
    b = screen(tmp_path / "i.parquet", tmp_path / "p.parquet", as_of=AS_OF)
    c = screen(df, table, as_of=AS_OF)
    assert a.rows == b.rows == c.rows
    assert a.problems == b.problems == c.problems


def test_unreadable_or_wrong_type_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="issues"):
        screen(tmp_path / "missing.csv")
    (tmp_path / "x.xlsx").write_text("x")
    with pytest.raises(InvalidInputError, match=r"\.csv or \.parquet"):
        screen(tmp_path / "x.xlsx")


def test_a_patient_with_thousands_of_issues_is_listed_not_screened() -> None:
    many = [("big", day(k % 400), None, CC, str(1 + k), None, None) for k in range(2_001)]
    rows = [*many, ("p2", day(5), None, CC, "100", None, None)]
    s = screen(issues(rows), as_of=AS_OF)
    by_id = {r.patient_id: r for r in s.rows}
    assert by_id["big"].status == "not-screened"
    assert "more than 2000 opioid issues" in by_id["big"].scope_reason
    assert by_id["p2"].status == "screened"
    assert s.counts["patients_not_screened"] == 1
