"""Reading a large extract in parts of whole patients gives the same screening as one read.

The part size is lowered so that a small synthetic practice (with bad rows and duplicates of
the same patient, which must land in the same part) is read in several parts; the rows, the
problems (with row numbers of the whole file) and the counts must equal those of one read.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from opioidcds.population import partition, screen
from opioidcds.population.synthetic import generate


def _with_problems(df: pl.DataFrame) -> pl.DataFrame:
    first = df.head(1)
    dup = first.with_columns(pl.col("patient_id") + "  ")  # same patient once stripped
    bad = df.slice(5, 1).with_columns(pl.lit("0").alias("quantity"))
    late = df.slice(9, 1).with_columns(pl.lit("2030-01-01").alias("issue_date"))
    return pl.concat([df, dup, bad, late, first])


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_parts_equal_one_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str) -> None:
    pop = generate(120, seed=12)
    extract = _with_problems(pop.issues)
    path = tmp_path / f"issues{suffix}"
    if suffix == ".csv":
        extract.write_csv(path)
    else:
        extract.write_parquet(path)
    whole = screen(path, pop.patients, as_of=pop.as_of)
    monkeypatch.setattr(partition, "PART_ROWS", 300)  # about 4 parts
    parts = list(partition.issue_parts(path))
    assert len(parts) > 2
    split = screen(path, pop.patients, as_of=pop.as_of)
    assert split.rows == whole.rows
    assert split.problems == whole.problems
    assert split.counts == whole.counts
    # the appended rows are listed with their row numbers in the whole file
    n = pop.issues.height
    reasons = {p.row: p.reason for p in split.problems if p.file == "issues"}
    assert reasons[n + 1].startswith("duplicate")
    assert reasons[n + 2] == "quantity not a positive number"
    assert reasons[n + 3] == "issued after the as-of date: not used"
    assert reasons[n + 4].startswith("duplicate")


def test_a_dataframe_is_read_in_parts_too(monkeypatch: pytest.MonkeyPatch) -> None:
    pop = generate(80, seed=13)
    whole = screen(pop.issues, pop.patients, as_of=pop.as_of)
    monkeypatch.setattr(partition, "PART_ROWS", 200)
    split = screen(pop.issues, pop.patients, as_of=pop.as_of)
    assert split.rows == whole.rows
    assert split.counts == whole.counts


def test_progress_counts_up_over_the_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    pop = generate(60, seed=14)
    monkeypatch.setattr(partition, "PART_ROWS", 150)
    calls: list[tuple[int, int]] = []
    s = screen(pop.issues, as_of=pop.as_of, progress=lambda d, t: calls.append((d, t)))
    assert len(calls) > 2
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert all(d <= t for d, t in calls)
    assert calls[-1] == (len(s.rows), len(s.rows)) == (60, 60)


@pytest.mark.parametrize(("suffix", "conversions"), [(".csv", 1), (".parquet", 0)])
def test_a_large_csv_is_parsed_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str, conversions: int
) -> None:
    """A CSV read in parts is converted to Parquet once, not parsed again for every part."""
    pop = generate(60, seed=15)
    path = tmp_path / f"issues{suffix}"
    if suffix == ".csv":
        pop.issues.write_csv(path)
    else:
        pop.issues.write_parquet(path)
    calls: list[Path] = []
    original = partition._as_parquet

    def counting(lf: pl.LazyFrame, target: Path) -> pl.LazyFrame:
        calls.append(target)
        return original(lf, target)

    monkeypatch.setattr(partition, "_as_parquet", counting)
    monkeypatch.setattr(partition, "PART_ROWS", 150)
    parts = list(partition.issue_parts(path))
    assert len(parts) > 2
    assert len(calls) == conversions
    assert not any(p.exists() for p in calls)  # the temporary copy is removed
    assert sum(df.height for df, _ in parts) == pop.issues.height
