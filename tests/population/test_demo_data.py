"""``opioidcds demo-data``: a reproducible SYNTHETIC practice with real products and history."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from opioidcds import (
    Dosage,
    InvalidInputError,
    IssueRecord,
    MedicineClass,
    load_catalogue,
    parse_dosage,
)
from opioidcds._inputs.patient import medicine_classes
from opioidcds.cli.app import app
from opioidcds.population.outcomes import outcomes
from opioidcds.population.synthetic import (
    DEMO_AS_OF,
    DEMO_BASELINE,
    SYNTHETIC_MARK,
    demo_practice,
    generate,
)

runner = CliRunner()


def test_seeded_and_reproducible() -> None:
    a = demo_practice(40, seed=7)
    b = demo_practice(40, seed=7)
    c = demo_practice(40, seed=8)
    assert a.issues.equals(b.issues)
    assert a.patients.equals(b.patients)
    assert not a.issues.equals(c.issues)


def test_everything_says_synthetic() -> None:
    pop = demo_practice(30, seed=1)
    for frame in (pop.issues, pop.patients):
        assert set(frame.get_column("synthetic").unique()) == {SYNTHETIC_MARK}
        assert all(p.startswith("SYN-") for p in frame.get_column("patient_id"))
    assert set(pop.issues.get_column("practice_id").unique()) <= {"SYN-P1", "SYN-P2", "SYN-P3"}


def test_real_products_and_readable_dosage_texts() -> None:
    pop = demo_practice(60, seed=3, bad_rows=False)
    catalogue = load_catalogue()
    for code, name in pop.issues.select("dmd_code", "product_name").unique().iter_rows():
        if code:
            assert catalogue.by_code(code).dmd_code == code
            continue
        record = IssueRecord(issue_date=DEMO_AS_OF, product_name=name)
        classes = medicine_classes(record)
        if MedicineClass.OPIOID in classes:
            assert catalogue.by_name(name).product_name
        else:  # a co-prescribed benzodiazepine or gabapentinoid, recognised by name
            assert classes & {MedicineClass.BENZODIAZEPINE, MedicineClass.GABAPENTINOID}, name
    texts = {t for t in pop.issues.get_column("dosage_text").unique() if t}
    assert texts
    for text in texts:
        assert isinstance(parse_dosage(text), Dosage), text


def test_enough_history_for_outcomes() -> None:
    pop = demo_practice(150, seed=2032)
    _, o = outcomes(pop.issues, pop.patients, baseline=DEMO_BASELINE, follow_up=DEMO_AS_OF)
    assert o.status == "evaluated"
    overall = o.overall
    assert overall is not None
    assert overall.reduced > 0
    assert overall.stopped > 0
    assert overall.wilcoxon.status == "evaluated"
    assert [g.group for g in o.groups] == ["overall", "SYN-P1", "SYN-P2", "SYN-P3"]


def test_bad_arguments_fail_closed() -> None:
    with pytest.raises(InvalidInputError):
        demo_practice(0)
    with pytest.raises(InvalidInputError):
        demo_practice(5, practices=6)
    with pytest.raises(InvalidInputError):
        generate(5, taper_share=1.5)


def test_default_generate_has_no_practice_column() -> None:
    # benchmarks and the differential tests use generate() as before: no extra column
    assert "practice_id" not in generate(5, seed=0).issues.columns


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_cli_writes_files_that_say_synthetic(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "practice"
    args = ["demo-data", "--patients", "25", "--seed", "5", "--format", fmt, "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    assert "SYNTHETIC" in result.stdout
    assert "--baseline" in result.stdout  # tells how to screen it
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert readme.startswith("# SYNTHETIC practice: not real patient data")
    assert "--seed 5" in readme
    issues_path, patients_path = out / f"issues.{fmt}", out / f"patients.{fmt}"
    read = pl.read_csv if fmt == "csv" else pl.read_parquet
    issues = read(issues_path)
    assert set(issues.get_column("synthetic").unique()) == {SYNTHETIC_MARK}
    assert set(read(patients_path).get_column("synthetic").unique()) == {SYNTHETIC_MARK}
    if fmt == "parquet":
        assert "SYNTHETIC" in pl.read_parquet_metadata(issues_path)["opioidcds"]
    # the same command again needs --force (never overwrites silently), then is identical
    again = runner.invoke(app, args)
    assert again.exit_code == 2
    assert "--force" in again.stderr
    assert runner.invoke(app, [*args, "--force"]).exit_code == 0
    assert read(issues_path).equals(issues)


def test_cli_rejects_bad_options(tmp_path: Path) -> None:
    bad_format = ["demo-data", "--format", "xlsx", "--out", str(tmp_path)]
    result = runner.invoke(app, bad_format)
    assert result.exit_code == 2
    assert "--format" in result.stderr
    result = runner.invoke(app, ["demo-data", "--patients", "0", "--out", str(tmp_path)])
    assert result.exit_code == 2
