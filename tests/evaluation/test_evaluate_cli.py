"""``opioidcds evaluate`` on the SYNTHETIC demo service (questionnaires + extract + list sizes)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from opioidcds.cli.app import app

runner = CliRunner()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    done = runner.invoke(app, ["demo-data", "--patients", "150", "--out", str(out)])
    assert done.exit_code == 0, done.output
    return out


def _args(demo: Path, out: Path) -> list[str]:
    return [
        "evaluate",
        str(demo / "questionnaires.csv"),
        str(demo / "issues.csv"),
        "--patients",
        str(demo / "patients.csv"),
        "--list-sizes",
        str(demo / "list_sizes.csv"),
        "--out",
        str(out),
    ]


def test_evaluate_writes_the_tables_report_and_practice_pages(demo: Path, tmp_path: Path) -> None:
    done = runner.invoke(app, [*_args(demo, tmp_path), "--html", "--format", "csv,parquet"])
    assert done.exit_code == 0, done.output
    assert "SYN-0" not in done.output  # the terminal shows figures, never patient ids
    assert "Daily OME" in done.output
    assert "SYNTHETIC DATA" in done.output
    for name in ("evaluation_measures", "evaluation_patients", "trends", "funnel"):
        assert (tmp_path / f"{name}.csv").is_file()
        assert pl.read_parquet(tmp_path / f"{name}.parquet").equals(
            pl.read_parquet(tmp_path / f"{name}.parquet")
        )
    measures = pl.read_csv(tmp_path / "evaluation_measures.csv", infer_schema=False)
    overall = measures.filter(pl.col("group") == "overall")
    assert overall.get_column("measure").to_list()[0] == "dose"
    assert {"bpi-sf.severity", "bpi-sf.interference", "bpi-sf.relief", "swemwbs.metric",
            "eq-5d-5l.profile", "eq-5d-5l.vas"} <= set(overall.get_column("measure"))  # fmt: skip
    # every p-value names its method; a profile is not tested
    for row in overall.iter_rows(named=True):
        if row["measure"] == "eq-5d-5l.profile":
            assert row["wilcoxon_method"] is None
        elif row["wilcoxon_status"] == "evaluated":
            assert row["wilcoxon_method"] in ("exact", "exact-enumeration", "normal-approximation")
    summary = json.loads((tmp_path / "evaluation.json").read_text("utf-8"))
    assert summary["synthetic_data"] is True
    assert "SYN-0" not in json.dumps(summary["measures"]) + json.dumps(summary["trends"])
    problems = pl.read_csv(tmp_path / "problems.csv")
    # the demo's deliberately bad questionnaire row: named by item, never by value
    assert problems.height == 1
    assert problems.get_column("reason")[0].startswith("worst: BPI-SF item 3 (worst pain)")
    pages = sorted(p.name for p in tmp_path.glob("practice-*.html"))
    assert pages == ["practice-1.html", "practice-2.html", "practice-3.html"]
    trends = pl.read_csv(tmp_path / "trends.csv", infer_schema=False)
    assert trends.get_column("month").n_unique() == 12


def test_strict_stops_at_the_bad_row_without_its_value(demo: Path, tmp_path: Path) -> None:
    done = runner.invoke(app, [*_args(demo, tmp_path), "--strict"])
    assert done.exit_code == 2
    assert "questionnaires row" in done.output
    assert "worst: BPI-SF item 3 (worst pain) must be a whole number from 0 to 10" in done.output
    assert "11" not in done.output.replace("0 to 10", "")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--format", "xlsx"], "--format: must be csv and/or parquet"),
        (["--months", "0"], "--months: must be from 1 to 120"),
        (["--as-of", "1 Nov"], "--as-of: must be a date"),
    ],
)
def test_bad_options_exit_2(demo: Path, tmp_path: Path, extra: list[str], message: str) -> None:
    done = runner.invoke(app, [*_args(demo, tmp_path), *extra])
    assert done.exit_code == 2
    assert message in done.output


def test_without_list_sizes_rates_and_funnels_cannot_be_evaluated(
    demo: Path, tmp_path: Path
) -> None:
    args = _args(demo, tmp_path)
    cut = args.index("--list-sizes")
    done = runner.invoke(app, [*args[:cut], *args[cut + 2 :], "--months", "2"])
    assert done.exit_code == 0, done.output
    summary = json.loads((tmp_path / "evaluation.json").read_text("utf-8"))
    assert {f["status"] for f in summary["funnels"]} == {"cannot-evaluate"}
    assert {t["long_term_per_1000"] for t in summary["trends"]} == {None}
