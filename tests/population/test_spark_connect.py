"""Spark Connect (Databricks serverless, shared clusters, Databricks Connect): no sparkContext.

A real Spark Connect server (pyspark's own ``SparkConnectServer``, started with
``spark-submit`` as ``sbin/start-connect-server.sh`` does, ``local[2]``, gRPC on 127.0.0.1)
in a separate JVM; this process is only its client (``pyspark[connect]``), where
``sparkContext`` and RDDs raise. The library and the command are run through it and compared
with ``screen``. Marker ``spark``; skipped without Java or the ``spark-connect`` extra, except
under ``OPIOIDCDS_CI=1``, where that is a failure.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from opioidcds.cli.app import app
from opioidcds.population import screen
from opioidcds.population.report import worklist_frame
from opioidcds.population.spark import SparkUnavailableError, screen_spark
from opioidcds.population.spark_io import (
    OUTPUT_NAMES,
    cluster_session,
    default_partitions,
    is_connect,
    parse_source,
    read_source,
)

from .spark_outputs import (
    FAST_JVM,
    assert_outputs,
    check_problem_kinds,
    need_spark,
    parquet_folder,
    write_extract,
)

pytestmark = [
    pytest.mark.spark,
    # The Connect client warns that the worklist's global rank (a Window without partitions)
    # runs in one partition: issue 22's item 4, fixed in spark.py by a separate change. This
    # filter only hides that warning; remove it once the rank needs no single partition.
    pytest.mark.filterwarnings("ignore:WARN WindowExpression. No Partition Defined:UserWarning"),
]

_PARTITIONS = 3  # the server's spark.sql.shuffle.partitions (its default is 200)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def connect_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Spark Connect server on 127.0.0.1 (its own JVM, local[2]); yields its sc:// URL."""
    need_spark()
    try:
        import pyspark  # noqa: PLC0415 - optional extra
        from pyspark.sql.connect.utils import check_dependencies  # noqa: PLC0415

        check_dependencies()  # grpc, grpcio-status, protobufs, zstandard
    except ImportError as exc:
        if os.environ.get("OPIOIDCDS_CI") == "1":
            pytest.fail(f"CI must install the 'spark-connect' extra: {exc}")
        pytest.skip(f"Spark Connect needs the 'spark-connect' extra: {exc}")
    home = Path(pyspark.__file__).resolve().parent
    folder = tmp_path_factory.mktemp("connect")
    port = _free_port()
    env = os.environ | {
        "SPARK_HOME": str(home),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
    }
    conf = {
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": str(port),
        "spark.ui.enabled": "false",
        "spark.driver.extraJavaOptions": FAST_JVM,
        "spark.sql.shuffle.partitions": str(_PARTITIONS),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.warehouse.dir": str(folder / "warehouse"),
    }
    args = [str(home / "bin" / "spark-submit"), "--master", "local[2]"]
    args += ["--class", "org.apache.spark.sql.connect.service.SparkConnectServer"]
    for key, value in conf.items():
        args += ["--conf", f"{key}={value}"]
    log_path = folder / "server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [*args, "spark-internal"], stdout=log, stderr=subprocess.STDOUT, env=env
        )
    try:
        deadline = time.monotonic() + 180
        while "Spark Connect server started" not in log_path.read_text(errors="replace"):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Spark Connect server did not start: {log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield f"sc://127.0.0.1:{port}"
    finally:
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=30)
        if server.poll() is None:
            server.kill()
            server.wait(timeout=30)


@pytest.fixture(scope="module")
def connect(connect_url: str) -> Iterator[object]:
    session = cluster_session(remote=connect_url)
    yield session
    session.stop()


def test_connect_session_has_no_spark_context(connect: object) -> None:
    assert is_connect(connect)  # type: ignore[arg-type]
    assert type(connect).__module__ == "pyspark.sql.connect.session"
    with pytest.raises(Exception, match=r"JVM_ATTRIBUTE_NOT_SUPPORTED|sparkContext"):
        _ = connect.sparkContext  # type: ignore[attr-defined]
    assert default_partitions(connect) == _PARTITIONS  # type: ignore[arg-type]


def test_screen_spark_through_connect(connect: object, tmp_path: Path) -> None:
    issues, patients = write_extract(tmp_path)
    want = screen(issues, patients)
    check_problem_kinds(want)
    frames = [
        read_source(connect, parse_source(p.as_uri()), what)  # type: ignore[arg-type]
        for p, what in ((issues, "issues"), (patients, "patients"))
    ]
    result = screen_spark(
        connect,  # type: ignore[arg-type]
        frames[0],
        frames[1],
        partitions=default_partitions(connect),  # type: ignore[arg-type]
    )
    try:
        got = result.to_screening()
        assert got.as_of == want.as_of
        assert got.problems == want.problems
        assert dict(got.counts) == dict(want.counts)
        assert got.provenance == want.provenance
        assert got.rows == want.rows
        frame = pl.from_arrow(result.worklist.toArrow())
        assert isinstance(frame, pl.DataFrame)
        assert frame.equals(worklist_frame(want))
    finally:
        result.unpersist()


def test_cli_through_connect(connect_url: str, connect: object, tmp_path: Path) -> None:
    issues, patients = write_extract(tmp_path / "extract")
    want = screen(issues, patients)
    out, local, single = tmp_path / "out", tmp_path / "local", tmp_path / "single"
    runner = CliRunner()
    args = ["screen-spark", issues.as_uri(), "--patients", patients.as_uri()]
    done = runner.invoke(
        app, [*args, "--remote", connect_url, "--output-dir", str(out), "--out", str(local)]
    )
    assert done.exit_code == 0, (done.output, repr(done.exception))
    assert_outputs({n: parquet_folder(out / n) for n in OUTPUT_NAMES}, want, ordered=True)
    one = runner.invoke(
        app, ["screen", str(issues), "--patients", str(patients), "--out", str(single)]
    )
    assert one.exit_code == 0, one.output
    for name in ("worklist.csv", "problems.csv"):
        assert (local / name).read_bytes() == (single / name).read_bytes(), name
    # tables through Connect: written and read back by the server's catalogue
    done = runner.invoke(app, [*args, "--remote", connect_url, "--output-table", "connect_run"])
    assert done.exit_code == 0, done.output
    tables = {}
    for name in OUTPUT_NAMES:
        got = pl.from_arrow(connect.table(f"connect_run_{name}").toArrow())  # type: ignore[attr-defined]
        assert isinstance(got, pl.DataFrame)
        tables[name] = got
    assert_outputs(tables, want, ordered=False)


def test_connect_extra_missing_is_a_typed_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util  # noqa: PLC0415

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "grpc" else real(name, *a)
    )
    with pytest.raises(SparkUnavailableError, match="spark-connect"):
        cluster_session(remote="sc://127.0.0.1:1")
