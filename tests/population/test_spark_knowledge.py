"""Spark executors must screen with the driver's knowledge, or the job fails (issue 22 item 1).

The executors' Python workers are pointed (``PYTHONPATH``, as another installation on an
executor would be) at a copy of opioidcds whose knowledge folders are laid out as in a wheel:
with the same files the job runs; with the oral morphine factor changed, it is refused with
:class:`KnowledgeMismatchError` naming both hashes, and nothing is returned.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from opioidcds import default_knowledge, load_profile
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds.population import default_method, screen
from opioidcds.population.engine import for_screening
from opioidcds.population.spark import KnowledgeMismatchError, screen_spark
from opioidcds.population.spark_knowledge import (
    KNOWLEDGE_FOLDERS,
    check_partition_hashes,
    job_knowledge_hash,
    knowledge_files_sha256,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "population"
SRC = ROOT / "src" / "opioidcds"
ORAL_MORPHINE = 'ingredient = "morphine"\nroute = "oral"\nfactor = "1"\n'


def _copy_of_the_package(tmp: Path, *, oral_morphine: str | None) -> Path:
    """A copy of opioidcds with its knowledge inside (wheel layout); the factor changed if given."""
    root = tmp / "site"
    shutil.copytree(SRC, root / "opioidcds", ignore=shutil.ignore_patterns("__pycache__"))
    for name in KNOWLEDGE_FOLDERS:
        shutil.copytree(knowledge_dir(name), root / "opioidcds" / "_knowledge" / name)
    if oral_morphine is not None:
        table = root / "opioidcds" / "_knowledge" / "conversion_tables" / "uk-opioids-aware.toml"
        text = table.read_text(encoding="utf-8")
        assert text.count(ORAL_MORPHINE) == 1  # the entry the change is meant for
        changed = ORAL_MORPHINE.replace('factor = "1"', f'factor = "{oral_morphine}"')
        table.write_text(text.replace(ORAL_MORPHINE, changed), encoding="utf-8")
    return root


@contextmanager
def _executors_import(spark: object, root: Path) -> Iterator[None]:
    """Python workers started from here on import opioidcds from ``root``."""
    env = spark.sparkContext.environment  # type: ignore[attr-defined]
    before = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(root)
    try:
        yield
    finally:
        if before is None:
            env.pop("PYTHONPATH", None)
        else:
            env["PYTHONPATH"] = before


def _driver_hash(profile: object = None) -> str:
    prov = for_screening(default_knowledge(), profile, default_method())  # type: ignore[arg-type]
    return job_knowledge_hash(prov)


def test_the_hash_covers_profile_and_files() -> None:
    plain = _driver_hash()
    assert plain == _driver_hash()  # a pure function of the knowledge
    assert len(plain) == 64
    profile = load_profile(knowledge_dir("rules") / "profiles" / "opioids-aware-90.toml")
    assert _driver_hash(profile) != plain  # the local profile is part of it
    assert len(knowledge_files_sha256()) == 64


def test_check_names_both_hashes_and_what_to_do() -> None:
    check_partition_hashes("a" * 64, {0: "a" * 64, 1: "a" * 64})  # all the same: no error
    with pytest.raises(KnowledgeMismatchError) as err:
        check_partition_hashes("a" * 64, {0: "a" * 64, 3: "b" * 64, 2: "c" * 64})
    message = str(err.value)
    assert "a" * 64 in message
    assert "c" * 64 in message  # the first differing partition, by index (2 before 3)
    assert "2 partition(s)" in message
    assert "same opioidcds wheel" in message
    assert (err.value.driver, err.value.executor, err.value.partitions) == ("a" * 64, "c" * 64, 2)


@pytest.mark.spark
def test_executors_with_the_same_knowledge_pass(spark: object, tmp_path: Path) -> None:
    issues, patients = EXAMPLE / "issues.csv", EXAMPLE / "patients.csv"
    root = _copy_of_the_package(tmp_path, oral_morphine=None)
    with _executors_import(spark, root):
        result = screen_spark(spark, issues, patients, partitions=2)  # type: ignore[arg-type]
    try:
        want = screen(issues, patients)
        assert result.to_screening().rows == want.rows
        assert result.knowledge_hash == _driver_hash()
        hashes = {r[0] for r in result.frames.knowledge.select("knowledge_hash").collect()}
        assert hashes == {result.knowledge_hash}
    finally:
        result.unpersist()


@pytest.mark.spark
def test_executors_with_other_knowledge_fail_the_job(spark: object, tmp_path: Path) -> None:
    issues, patients = EXAMPLE / "issues.csv", EXAMPLE / "patients.csv"
    # the copy the issue describes: the oral morphine factor changed on the executors
    root = _copy_of_the_package(tmp_path, oral_morphine="1.5")
    with _executors_import(spark, root), pytest.raises(KnowledgeMismatchError) as err:
        screen_spark(spark, issues, patients, partitions=2)  # type: ignore[arg-type]
    driver = _driver_hash()
    assert err.value.driver == driver
    assert err.value.executor != driver
    assert err.value.partitions == 2  # every partition reported the other knowledge
    assert driver in str(err.value)
    assert err.value.executor in str(err.value)
    assert "same opioidcds wheel" in str(err.value)
