"""Outputs safe to open and errors with a way forward (issue 19): spreadsheet-safe CSVs, output
folders and links, duplicate headers, counts that add up, a file changed between passes, the
weekly capacity and progress."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from opioidcds import InvalidInputError
from opioidcds._outputs import spreadsheet_safe
from opioidcds.cli.app import app
from opioidcds.population import screen
from opioidcds.population.method import default_method
from opioidcds.population.outcomes import outcomes
from opioidcds.population.report import spreadsheet_safe_frame, write_outputs
from opioidcds.population.schema import check_unchanged, source_stamp
from opioidcds.population.synthetic import demo_practice

from .helpers import AS_OF, code, day, issues

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "population"
CC = "Co-codamol 30mg/500mg tablets"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = r"^[+-]?[0-9]+(\.[0-9]+)?$"


def _evil_extract() -> pl.DataFrame:
    """Three long-term co-codamol users (24 mg OME/day) with formula-like ids, in two practices
    whose ids are formula-like too; one reduces to 12 mg in the last six months."""
    rows, practice = [], []
    for pid, pr, later in (
        ("=1+1", "=HYPERLINK(1)", "one tablet four times a day"),
        ("@SUM(A1)", "=HYPERLINK(1)", "two tablets four times a day"),
        ("-2+3", "+P2", "two tablets four times a day"),
    ):
        for o in range(350, 13, -28):
            text = "two tablets four times a day" if o > 154 else later
            rows.append((pid, day(o), code(CC), None, "224", text, "28"))
            practice.append(pr)
    return issues(rows).with_columns(practice_id=pl.Series(practice))


def _risky(cells: list[str]) -> list[str]:
    return [
        c
        for c in cells
        if c.startswith(FORMULA_START) and not pl.Series([c]).str.contains(PLAIN_NUMBER)[0]
    ]


def test_every_csv_is_spreadsheet_safe(tmp_path: Path) -> None:
    later, o = outcomes(_evil_extract(), baseline=AS_OF - dt.timedelta(days=182), follow_up=AS_OF)
    paths = write_outputs(later, tmp_path, formats=("csv", "json"), outcomes=o)
    csvs = [p for p in paths if p.suffix == ".csv"]
    assert {p.name for p in csvs} == {
        "worklist.csv",
        "problems.csv",
        "outcomes.csv",
        "outcomes_patients.csv",
    }
    for path in csvs:
        frame = pl.read_csv(path, infer_schema=False)
        cells = [str(v) for col in frame.columns for v in frame.get_column(col).drop_nulls()]
        assert _risky(cells) == [], path.name
    worklist = pl.read_csv(tmp_path / "worklist.csv", infer_schema=False)
    assert sorted(worklist.get_column("patient_id")) == ["'-2+3", "'=1+1", "'@SUM(A1)"]
    groups = pl.read_csv(tmp_path / "outcomes.csv", infer_schema=False).get_column("group")
    assert set(groups) == {"overall", "'=HYPERLINK(1)", "'+P2"}
    per_patient = pl.read_csv(tmp_path / "outcomes_patients.csv", infer_schema=False)
    assert set(per_patient.get_column("practice_id")) == {"'=HYPERLINK(1)", "'+P2"}
    # the JSON worklist keeps the ids as given (only the CSV files are made inert)
    assert "=1+1" in (tmp_path / "worklist.json").read_text(encoding="utf-8")


def test_spreadsheet_safe_rule_by_hand() -> None:
    assert spreadsheet_safe("=1+1") == "'=1+1"
    assert spreadsheet_safe("+44 1234") == "'+44 1234"
    assert spreadsheet_safe("-2+3") == "'-2+3"
    assert spreadsheet_safe("@SUM(A1)") == "'@SUM(A1)"
    assert spreadsheet_safe("\tx") == "'\tx"
    assert spreadsheet_safe("\rx") == "'\rx"
    # plain numbers are read as numbers, not formulas: left as they are
    assert spreadsheet_safe("-15") == "-15"
    assert spreadsheet_safe("+2.5") == "+2.5"
    assert spreadsheet_safe("SYN-001") == "SYN-001"
    frame = pl.DataFrame({"a": ["\tTAB", "-0.88", "ok", None], "n": [1, 2, 3, 4]})
    assert spreadsheet_safe_frame(frame).get_column("a").to_list() == [
        "'\tTAB",
        "-0.88",
        "ok",
        None,
    ]


def _screen_args(out: Path) -> list[str]:
    return ["screen", str(EXAMPLE / "issues.csv"), "--out", str(out)]


def test_out_is_a_file_or_cannot_be_created(tmp_path: Path) -> None:
    runner = CliRunner()
    afile = tmp_path / "afile"
    afile.write_text("x", encoding="utf-8")
    done = runner.invoke(app, _screen_args(afile))
    assert done.exit_code == 2
    assert "is a file, not a folder" in done.stderr
    assert str(afile) in done.stderr
    done = runner.invoke(app, _screen_args(afile / "sub"))
    assert done.exit_code == 2
    assert "cannot be created" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    with pytest.raises(InvalidInputError, match="is a file, not a folder"):
        write_outputs(screen(issues([])), afile)


def test_a_symlinked_output_file_is_never_written_through(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    target = tmp_path / "precious.csv"
    target.write_text("keep me\n", encoding="utf-8")
    (out / "worklist.csv").symlink_to(target)
    done = CliRunner().invoke(app, _screen_args(out))
    assert done.exit_code == 2
    assert "symbolic link" in done.stderr
    assert target.read_text(encoding="utf-8") == "keep me\n"
    assert not (out / "problems.csv").exists()  # refused before anything was written


def test_headers_that_differ_only_in_case_are_a_clear_error(tmp_path: Path) -> None:
    extract = tmp_path / "dup.csv"
    extract.write_text(
        "patient_id,PATIENT_ID,issue_date,dmd_code,quantity\np1,p1,2026-10-01,123456,1\n",
        encoding="utf-8",
    )
    done = CliRunner().invoke(app, ["screen", str(extract), "--out", str(tmp_path / "out")])
    assert done.exit_code == 2
    assert "'patient_id' and 'PATIENT_ID' name the same column" in done.stderr
    assert "keep one" in done.stderr


def test_missing_and_folder_extract_name_the_file(tmp_path: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(app, ["screen", str(tmp_path / "nope.csv"), "--out", str(tmp_path)])
    assert done.exit_code == 2
    assert f"issues file '{tmp_path / 'nope.csv'}': no such file" in done.stderr
    done = runner.invoke(app, ["screen", str(tmp_path), "--out", str(tmp_path / "o")])
    assert done.exit_code == 2
    assert "is a folder, not a file" in done.stderr


def test_counts_account_for_every_row_by_hand() -> None:
    # 1 opioid row, 1 benzodiazepine row, 1 gabapentinoid row, 1 unrecognised product,
    # 1 bad date: read 5 = 1 + 1 + 1 + 0 other + 2 excluded
    rows = [
        ("p", day(10), code(CC), None, "56", None, "28"),
        ("p", day(10), None, "Diazepam 2mg tablets", "28", None, "28"),
        ("p", day(10), None, "Pregabalin 75mg capsules", "56", None, "28"),
        ("p", day(10), "99999999999999", None, "28", None, "28"),
        ("p", "not a date", code(CC), None, "56", None, "28"),
    ]
    c = screen(issues(rows), as_of=AS_OF).counts
    assert c["issue_rows_read"] == 5
    assert (
        c["issue_rows_opioid"],
        c["issue_rows_benzodiazepine"],
        c["issue_rows_gabapentinoid"],
        c["issue_rows_other_medicines"],
        c["problem_rows_issues"],
    ) == (1, 1, 1, 0, 2)


def test_counts_add_up_on_the_example_practice() -> None:
    s = screen(EXAMPLE / "issues.csv", EXAMPLE / "patients.csv")
    c = s.counts
    parts = ("opioid", "benzodiazepine", "gabapentinoid", "other_medicines")
    assert (
        c["issue_rows_read"] == sum(c[f"issue_rows_{p}"] for p in parts) + c["problem_rows_issues"]
    )
    assert c["issue_rows_benzodiazepine"] + c["issue_rows_gabapentinoid"] > 0
    assert c["patients"] == c["patients_screened"] + c["patients_not_screened"]
    assert c["patients_screened"] == c["in_scope"] + c["out_of_scope"]
    assert c["on_worklist"] == sum(
        v for k, v in c.items() if k.startswith("band:") and k[5:].isdigit()
    )
    assert c["problem_rows"] == c["problem_rows_issues"] + c["problem_rows_patients"]


def test_an_extract_replaced_between_passes_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extract = tmp_path / "issues.csv"
    extract.write_bytes((EXAMPLE / "issues.csv").read_bytes())
    stamp = source_stamp(extract)
    check_unchanged(extract, stamp, "issues")  # unchanged: fine
    from opioidcds.population import schema  # noqa: PLC0415

    original = schema.read_practices

    def replace_then_read(source: object, *, up_to: dt.date) -> dict[str, str]:
        # another program writes a new extract while the screening is on its second pass
        (tmp_path / "new.csv").write_bytes((EXAMPLE / "issues.csv").read_bytes())
        (tmp_path / "new.csv").replace(extract)
        return original(source, up_to=up_to)  # type: ignore[arg-type]

    monkeypatch.setattr(schema, "read_practices", replace_then_read)
    args = ["screen", str(extract), "--as-of", "2026-11-01", "--baseline", "2026-05-03"]
    done = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "out")])
    assert done.exit_code == 2
    assert "changed while it was being screened" in done.stderr
    assert not (tmp_path / "out" / "worklist.csv").exists()
    # the package re-exports the function outcomes() under the module's name
    outcomes_module = sys.modules["opioidcds.population.outcomes"]
    monkeypatch.setattr(outcomes_module, "read_practices", replace_then_read)
    with pytest.raises(InvalidInputError, match="changed while it was being screened"):
        outcomes(extract, baseline=dt.date(2026, 5, 3), follow_up=AS_OF)


def test_weekly_capacity_sizes_the_call_first_list(tmp_path: Path) -> None:
    # default: 1 session a week x 250 minutes // 60 minutes a first appointment = 4
    method = default_method()
    assert (method.sessions_per_week, method.session_minutes) == (1, 250)
    assert method.first_appointment_minutes == 60
    assert method.weekly_capacity == 4
    s = screen(EXAMPLE / "issues.csv", EXAMPLE / "patients.csv")
    assert s.weekly_capacity == 4
    assert s.call_first == s.worklist[:4]
    wider = screen(EXAMPLE / "issues.csv", EXAMPLE / "patients.csv", capacity=7)
    assert wider.call_first == wider.worklist[:7]
    assert wider.worklist == s.worklist  # capacity orders nothing
    for bad in (0, -1, True, 100_001):
        with pytest.raises(InvalidInputError, match="capacity"):
            screen(EXAMPLE / "issues.csv", capacity=bad)
    done = CliRunner().invoke(app, [*_screen_args(tmp_path), "--capacity", "0"])
    assert done.exit_code == 2
    assert "--capacity" in done.stderr
    done = CliRunner(env={"COLUMNS": "200"}).invoke(
        app, [*_screen_args(tmp_path), "--capacity", "6", "--html"]
    )
    assert done.exit_code == 0, done.stderr
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Contact this week: 6 of" in page
    assert "6 people a week (the capacity given for this practice)" in page


def test_progress_is_reported() -> None:
    seen: list[tuple[int, int]] = []
    demo_practice(12_000, seed=1, progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, 12_000)
    assert (5_000, 12_000) in seen
    assert (10_000, 12_000) in seen
    assert seen[-1] == (12_000, 12_000)
    calls: list[tuple[int, int]] = []
    screen(EXAMPLE / "issues.csv", progress=lambda d, t: calls.append((d, t)))
    assert calls
    assert calls[-1][0] == calls[-1][1]


def test_evaluation_csvs_are_spreadsheet_safe_too(tmp_path: Path) -> None:
    # the service evaluation's files follow the same rules: patient ids like a formula
    from opioidcds.population.evaluation import evaluate  # noqa: PLC0415
    from opioidcds.population.evaluation_report import write_evaluation  # noqa: PLC0415

    folder = ROOT / "examples" / "evaluation"

    def evil(name: str) -> pl.DataFrame:
        frame = pl.read_csv(folder / name, infer_schema=False)
        return frame.with_columns((pl.lit("=") + pl.col("patient_id")).alias("patient_id"))

    ev = evaluate(
        evil("questionnaires.csv"),
        evil("issues.csv"),
        patients=evil("patients.csv"),
        list_sizes=folder / "list_sizes.csv",
    )
    paths = write_evaluation(ev, tmp_path, html=True)
    csvs = [p for p in paths if p.suffix == ".csv"]
    assert csvs
    for path in csvs:
        frame = pl.read_csv(path, infer_schema=False)
        cells = [str(v) for col in frame.columns for v in frame.get_column(col).drop_nulls()]
        assert _risky(cells) == [], path.name
    per_patient = pl.read_csv(tmp_path / "evaluation_patients.csv", infer_schema=False)
    assert all(v.startswith("'=SYN-") for v in per_patient.get_column("patient_id"))
    link = tmp_path / "linked"
    link.mkdir()
    (link / "trends.csv").symlink_to(tmp_path / "trends.csv")
    before = (tmp_path / "trends.csv").read_text(encoding="utf-8")
    with pytest.raises(InvalidInputError, match="symbolic link"):
        write_evaluation(ev, link)
    assert (tmp_path / "trends.csv").read_text(encoding="utf-8") == before
