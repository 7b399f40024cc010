"""A Spark Connect client process for ``test_spark_connect.py`` (run as a script).

``python spark_connect_client.py URL ISSUES PATIENTS OUT``: connects to the Spark Connect
server at URL (a process of its own: PySpark allows no Connect session beside a classic one,
and a Connect session switches the whole process to Connect mode), screens the two CSV URIs
with :func:`~opioidcds.population.spark.screen_spark` and writes to the folder OUT what the
test compares with ``screen``: ``worklist.parquet`` (the Spark worklist DataFrame),
``screening.pickle`` (:meth:`SparkScreening.to_screening`) and ``session.json`` (what the
session is). Any failure exits non-zero with the traceback.
"""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import polars as pl

from opioidcds.population.spark import screen_spark
from opioidcds.population.spark_io import (
    cluster_session,
    default_partitions,
    is_connect,
    parse_source,
    read_source,
)


def main(url: str, issues: str, patients: str, out: Path) -> None:
    """Screen through the Connect server at ``url``; write the results into ``out``."""
    spark = cluster_session(remote=url)
    try:
        spark.sparkContext  # noqa: B018 - must raise: a Connect session has none
        has_context = True
    except Exception:  # pyspark's own not-supported error
        has_context = False
    partitions = default_partitions(spark)
    session = {
        "module": type(spark).__module__,
        "is_connect": is_connect(spark),
        "has_spark_context": has_context,
        "partitions": partitions,
    }
    frames = [
        read_source(spark, parse_source(uri, what), what)
        for uri, what in ((issues, "issues"), (patients, "patients"))
    ]
    result = screen_spark(spark, frames[0], frames[1], partitions=partitions)
    try:
        worklist = pl.from_arrow(result.worklist.toArrow())
        assert isinstance(worklist, pl.DataFrame)
        worklist.write_parquet(out / "worklist.parquet")
        (out / "screening.pickle").write_bytes(pickle.dumps(result.to_screening()))
    finally:
        result.unpersist()
    (out / "session.json").write_text(json.dumps(session), encoding="utf-8")
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4]))
