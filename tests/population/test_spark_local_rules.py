"""Issue 23: ``screen-spark --rules DIR``: local extensions reach every Spark executor.

Marked ``spark``; skipped when Java or pyspark is missing (as ``test_spark.py``). A local risk
factor (a tier floor, so ``risk-level`` can still count the factors) added to ``risk-factors``
gives the same worklist through Spark as ``screen`` with the same local rules; a folder holding
a local ruleset run for every patient is refused (Spark does not collect its per-patient
results yet).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from opioidcds import InvalidInputError, load_knowledge
from opioidcds.population import screen
from opioidcds.population.spark import (
    SparkUnavailableError,
    local_session,
    require_spark,
    screen_spark,
)
from opioidcds.population.synthetic import generate

from .test_local_rules_screen import LOCAL, LOCAL_FACTOR


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    try:
        require_spark()
    except SparkUnavailableError as exc:
        if os.environ.get("OPIOIDCDS_CI") == "1":
            pytest.fail(f"CI must provide Java and pyspark (.ci/run): {exc}")
        pytest.skip(f"Spark tests need Java 17+ and the 'spark' extra: {exc}")
    fast_start = {"spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"}
    session = local_session("local[2]", config=fast_start)
    yield session
    session.stop()


@pytest.mark.spark
def test_spark_applies_the_local_extension(spark: object, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "factor.toml").write_text(LOCAL_FACTOR)
    pop = generate(150, seed=1)
    pop.issues.write_csv(tmp_path / "issues.csv")
    pop.patients.write_csv(tmp_path / "patients.csv")
    issues, patients = tmp_path / "issues.csv", tmp_path / "patients.csv"
    want = screen(issues, patients, knowledge=load_knowledge(local_rules=rules))
    assert any("older-with-gabapentinoid" in r.factors_present for r in want.rows)
    result = screen_spark(spark, issues, patients, partitions=2, local_rules=rules)  # type: ignore[arg-type]
    try:
        got = result.to_screening()
    finally:
        result.unpersist()
    assert got.rows == want.rows
    assert dict(got.versions) == dict(want.versions)  # the extension is named in both


@pytest.mark.spark
def test_spark_refuses_a_local_ruleset_it_cannot_collect(spark: object, tmp_path: Path) -> None:
    pop = generate(20, seed=2)
    pop.issues.write_csv(tmp_path / "issues.csv")
    with pytest.raises(InvalidInputError, match="--rules"):
        screen_spark(spark, tmp_path / "issues.csv", local_rules=LOCAL)  # type: ignore[arg-type]
