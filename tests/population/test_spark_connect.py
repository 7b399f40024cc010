"""Spark Connect (Databricks serverless, shared clusters, Databricks Connect): no sparkContext.

A real Spark Connect server (pyspark's own ``SparkConnectServer``, started with
``spark-submit`` as ``sbin/start-connect-server.sh`` does, ``local[2]``, gRPC on 127.0.0.1)
in a separate JVM. Its clients are processes of their own (PySpark allows no Connect session
beside a classic one, and a Connect session switches its whole process to Connect mode): the
command with ``--remote``, and ``spark_connect_client.py`` for the library, where
``sparkContext`` and RDDs raise. Their results are compared with ``screen``. Marker
``spark``; skipped without Java or the ``spark-connect`` extra, except under
``OPIOIDCDS_CI=1``, where that is a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from opioidcds.population import Screening, screen
from opioidcds.population.report import worklist_frame
from opioidcds.population.spark import SparkUnavailableError
from opioidcds.population.spark_io import OUTPUT_NAMES, cluster_session

from .spark_outputs import (
    FAST_JVM,
    assert_outputs,
    check_problem_kinds,
    need_spark,
    parquet_folder,
    write_extract,
)

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[2]
_PARTITIONS = 3  # the server's spark.sql.shuffle.partitions (its default is 200)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A Spark Connect server on 127.0.0.1 (its own JVM, local[2]).

    Yields its ``sc://`` URL and its warehouse folder (where its tables' files are).
    """
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
        yield f"sc://127.0.0.1:{port}", folder / "warehouse"
    finally:
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=30)
        if server.poll() is None:
            server.kill()
            server.wait(timeout=30)


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"SPARK_LOCAL_IP": "127.0.0.1"}
    done = subprocess.run(
        args, capture_output=True, text=True, env=env, cwd=ROOT, timeout=540, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_screen_spark_through_connect(connect_server: tuple[str, Path], tmp_path: Path) -> None:
    connect_url, _ = connect_server
    issues, patients = write_extract(tmp_path)
    want = screen(issues, patients)
    check_problem_kinds(want)
    out = tmp_path / "client"
    out.mkdir()
    client = str(Path(__file__).with_name("spark_connect_client.py"))
    _run([sys.executable, client, connect_url, issues.as_uri(), patients.as_uri(), str(out)])
    session = json.loads((out / "session.json").read_text(encoding="utf-8"))
    assert session == {
        "module": "pyspark.sql.connect.session",
        "is_connect": True,
        "has_spark_context": False,  # and yet the screening ran
        "partitions": _PARTITIONS,  # the server's shuffle partitions, read through spark.conf
    }
    got = pickle.loads((out / "screening.pickle").read_bytes())  # noqa: S301 - the test's own
    assert isinstance(got, Screening)
    assert got.as_of == want.as_of
    assert got.problems == want.problems
    assert dict(got.counts) == dict(want.counts)
    assert got.provenance == want.provenance
    assert got.rows == want.rows
    assert pl.read_parquet(out / "worklist.parquet").equals(worklist_frame(want))


def test_cli_through_connect(connect_server: tuple[str, Path], tmp_path: Path) -> None:
    connect_url, warehouse = connect_server
    issues, patients = write_extract(tmp_path / "extract")
    want = screen(issues, patients)
    out, local, single = tmp_path / "out", tmp_path / "local", tmp_path / "single"
    cli = str(Path(sys.executable).parent / "opioidcds")
    args = [cli, "screen-spark", issues.as_uri(), "--patients", patients.as_uri()]
    done = _run([*args, "--remote", connect_url, "--output-dir", str(out), "--out", str(local)])
    assert "Screening (Spark)" in done.stdout
    assert_outputs({n: parquet_folder(out / n) for n in OUTPUT_NAMES}, want, ordered=True)
    _run([cli, "screen", str(issues), "--patients", str(patients), "--out", str(single)])
    for name in ("worklist.csv", "problems.csv"):
        assert (local / name).read_bytes() == (single / name).read_bytes(), name
    # tables through Connect: written by the server into its catalogue (files in its warehouse)
    _run([*args, "--remote", connect_url, "--output-table", "connect_run"])
    tables = {n: parquet_folder(warehouse / f"connect_run_{n}") for n in OUTPUT_NAMES}
    assert_outputs(tables, want, ordered=False)  # a table's files: no defined row order


def test_connect_extra_missing_is_a_typed_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util  # noqa: PLC0415

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "grpc" else real(name, *a)
    )
    with pytest.raises(SparkUnavailableError, match="spark-connect"):
        cluster_session(remote="sc://127.0.0.1:1")
