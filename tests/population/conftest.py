"""One local Spark session for every Spark test module of this folder (one JVM start).

Skipped when Java or pyspark is missing, except under ``OPIOIDCDS_CI=1`` (set by ``.ci/run``),
where that is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


def need_spark() -> None:
    """Skip (or, in CI, fail) when Spark cannot run here."""
    from opioidcds.population.spark import SparkUnavailableError, require_spark  # noqa: PLC0415

    try:
        require_spark()
    except SparkUnavailableError as exc:
        if os.environ.get("OPIOIDCDS_CI") == "1":
            pytest.fail(f"CI must provide Java and pyspark (.ci/run): {exc}")
        pytest.skip(f"Spark tests need Java 17+ and the 'spark' extra: {exc}")


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    """A ``local[2]`` session, stopped after the last test that used it."""
    need_spark()
    from opioidcds.population.spark import local_session  # noqa: PLC0415

    # C1-only JIT and the serial collector: about half the JVM's CPU time for a run this
    # small (measured here: 31 s instead of 54 s for a session and two screenings)
    fast_start = {"spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"}
    session = local_session("local[2]", config=fast_start)
    yield session
    session.stop()
