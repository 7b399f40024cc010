"""``screen-spark`` on a cluster: URIs, tables and Delta in; Parquet folders and tables out.

Every mode is compared with ``opioidcds screen`` on the same extract (worklist, problems,
summary, provenance). Local mode (``local[2]``, marker ``spark``, part of ``make test``) covers
the readers and writers; the standalone master and worker on loopback (marker
``spark_cluster``, run by ``make test-spark-cluster`` from ``.ci/run``) cover ``--master
spark://`` and ``spark-submit``. Skipped without Java or pyspark, except under
``OPIOIDCDS_CI=1``, where that is a failure.
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

from opioidcds import InvalidInputError
from opioidcds.cli.app import app
from opioidcds.population import screen
from opioidcds.population.spark import SparkUnavailableError, local_session, screen_spark
from opioidcds.population.spark_io import (
    OUTPUT_NAMES,
    cluster_session,
    is_connect,
    marked_synthetic_spark,
    parse_output,
    parse_source,
    read_source,
)
from opioidcds.population.synthetic import marked_synthetic

from .spark_outputs import (
    FAST_JVM,
    assert_outputs,
    check_problem_kinds,
    need_spark,
    parquet_folder,
    write_extract,
)

ROOT = Path(__file__).resolve().parents[2]


DB = "opioidcds_cluster_test"  # a database in a temporary folder: the tables' files


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The session already running (left running), else a ``local[2]`` one (stopped after)."""
    need_spark()
    from pyspark.sql import SparkSession  # noqa: PLC0415 - optional extra

    running = SparkSession.getActiveSession()
    session = running or local_session(
        "local[2]", config={"spark.driver.extraJavaOptions": FAST_JVM}
    )
    location = tmp_path_factory.mktemp("tables").as_uri()
    session.sql(f"CREATE DATABASE IF NOT EXISTS {DB} LOCATION '{location}'")
    yield session
    session.sql(f"DROP DATABASE IF EXISTS {DB} CASCADE")
    if running is None:
        session.stop()


@pytest.fixture(scope="module")
def extract(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_extract(tmp_path_factory.mktemp("extract"))


# --- notation (no Spark needed) ---------------------------------------------------------------


def test_source_notation() -> None:
    plain = parse_source("data/issues.csv")
    assert (plain.kind, plain.local) == ("csv", Path("data/issues.csv"))
    assert parse_source("x.parquet").kind == "parquet"
    uri = parse_source("s3a://bucket/extract/issues.parquet")
    assert (uri.kind, uri.location, uri.local) == (
        "parquet",
        "s3a://bucket/extract/issues.parquet",
        None,
    )
    assert parse_source("abfss://c@acct.dfs.core.windows.net/x/issues.csv").kind == "csv"
    assert parse_source("file:///tmp/issues.csv").local is None  # read by Spark, not Polars
    table = parse_source("table:main.primary_care.opioid_issues")
    assert (table.kind, table.location) == ("table", "main.primary_care.opioid_issues")
    assert parse_source("delta:s3a://bucket/issues").kind == "delta"
    assert parse_source("parquet:abfss://c@a.dfs.core.windows.net/issues/").kind == "parquet"
    with pytest.raises(InvalidInputError, match="table name"):
        parse_source("table:not a name; DROP TABLE x")
    with pytest.raises(InvalidInputError, match="empty"):
        parse_source("table:")


def test_output_notation(tmp_path: Path) -> None:
    assert parse_output(None, None) is None
    folder = parse_output("s3a://bucket/out/", None)
    assert folder is not None
    assert folder.names() == tuple(f"s3a://bucket/out/{n}" for n in OUTPUT_NAMES)
    local = parse_output(str(tmp_path / "rel"), None)
    assert local is not None
    assert Path(local.location).is_absolute()
    table = parse_output(None, "main.cds.screen_2026_11")
    assert table is not None
    assert table.names()[0] == "main.cds.screen_2026_11_worklist"
    with pytest.raises(InvalidInputError, match="not both"):
        parse_output("out", "t")
    with pytest.raises(InvalidInputError, match="parquet or delta"):
        parse_output("out", None, "csv")
    with pytest.raises(InvalidInputError, match="table-name prefix"):
        parse_output(None, "bad name")


def test_bad_conf_and_master_with_remote() -> None:
    with pytest.raises(InvalidInputError, match="key=value"):
        cluster_session("local[1]", conf=["spark.executor.cores"])
    with pytest.raises(InvalidInputError, match="Spark Connect"):
        cluster_session("local[1]", remote="sc://localhost:15002")


# --- local mode: readers and writers ----------------------------------------------------------


@pytest.mark.spark
def test_uri_in_folders_out(spark: object, extract: tuple[Path, Path], tmp_path: Path) -> None:
    issues, patients = extract
    want = screen(issues, patients)
    check_problem_kinds(want)
    out = tmp_path / "out"
    args = ["screen-spark", issues.as_uri(), "--patients", patients.as_uri()]
    done = CliRunner().invoke(app, [*args, "--output-dir", out.as_uri(), "--partitions", "3"])
    assert done.exit_code == 0, done.output
    frames = {name: parquet_folder(out / name) for name in OUTPUT_NAMES}
    assert_outputs(frames, want, ordered=True)
    assert "Screening (Spark)" in done.output
    contact = min(want.weekly_capacity, want.counts["on_worklist"])
    assert f"{contact} (capacity {want.weekly_capacity} a week" in done.output
    for name in OUTPUT_NAMES:
        assert f"wrote {out.as_uri()}/{name}" in done.output
    # written again: refused (nothing replaced) unless --overwrite
    again = CliRunner().invoke(app, [*args, "--output-dir", out.as_uri()])
    assert again.exit_code == 2
    assert "--overwrite" in again.output
    replaced = CliRunner().invoke(app, [*args, "--output-dir", str(out), "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    assert_outputs({n: parquet_folder(out / n) for n in OUTPUT_NAMES}, want, ordered=True)


@pytest.mark.spark
def test_tables_in_tables_out(spark: object, extract: tuple[Path, Path], tmp_path: Path) -> None:
    issues, patients = extract
    want = screen(issues, patients)
    session = spark  # the module's session: the command finds it running
    for name, path in ((f"{DB}.issues", issues), (f"{DB}.patients", patients)):
        frame = read_source(session, parse_source(path.as_uri()), name)  # type: ignore[arg-type]
        assert not isinstance(frame, Path)
        # one file, so a table read back keeps the extract's order (and so its row numbers)
        frame.coalesce(1).write.mode("overwrite").saveAsTable(name)
    args = ["screen-spark", f"table:{DB}.issues", "--patients", f"table:{DB}.patients"]
    done = CliRunner().invoke(
        app, [*args, "--output-table", f"{DB}.screen", "--out", str(tmp_path)]
    )
    assert done.exit_code == 0, done.output
    frames = {}
    for name in OUTPUT_NAMES:
        got = pl.from_arrow(session.table(f"{DB}.screen_{name}").toArrow())  # type: ignore[attr-defined]
        assert isinstance(got, pl.DataFrame)
        frames[name] = got
    assert_outputs(frames, want, ordered=False)
    # --out still writes screen's own files, byte for byte
    local = tmp_path / "local"
    CliRunner().invoke(
        app, ["screen", str(issues), "--patients", str(patients), "--out", str(local)]
    )
    for name in ("worklist.csv", "problems.csv"):
        assert (tmp_path / name).read_bytes() == (local / name).read_bytes(), name


@pytest.mark.spark
def test_read_errors_are_typed(spark: object, tmp_path: Path) -> None:
    missing = (tmp_path / "none.parquet").as_uri()
    with pytest.raises(InvalidInputError, match="no such file or folder"):
        read_source(spark, parse_source(missing))  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="no such table"):
        read_source(spark, parse_source("table:default.no_such_issues"))  # type: ignore[arg-type]
    # Delta Lake is not installed here: refused, saying what to install (never a wrong read)
    with pytest.raises(SparkUnavailableError, match="Delta Lake"):
        read_source(spark, parse_source(f"delta:{tmp_path.as_uri()}"))  # type: ignore[arg-type]
    # the s3a connector (hadoop-aws) is not in pyspark's jars: refused, naming it
    with pytest.raises(SparkUnavailableError, match="hadoop-aws"):
        read_source(spark, parse_source("s3a://bucket/issues.csv"))  # type: ignore[arg-type]
    done = CliRunner().invoke(app, ["screen-spark", f"delta:{tmp_path.as_uri()}"])
    assert done.exit_code == 2
    assert "Delta Lake" in done.output


@pytest.mark.spark
def test_malformed_csv_uri_refused_by_row(spark: object, tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_text(
        "patient_id,issue_date,product_name,quantity\n"
        "P1,2026-01-01,Codeine 30mg tablets,28\n"
        "P2,2026-01-01,Codeine 30mg tablets,28,SECRET\n",
        encoding="utf-8",
    )
    frame = read_source(spark, parse_source(path.as_uri()))  # type: ignore[arg-type]
    assert not isinstance(frame, Path)
    with pytest.raises(InvalidInputError, match=r"first: data row 2\)") as bad:
        screen_spark(spark, frame)  # type: ignore[arg-type]
    assert "SECRET" not in str(bad.value)


@pytest.mark.spark
def test_existing_session_is_used_as_it_is(spark: object) -> None:
    assert cluster_session() is spark
    assert not is_connect(spark)
    with pytest.raises(InvalidInputError, match="already running"):
        cluster_session(conf=["spark.sql.shuffle.partitions=7"])


@pytest.mark.spark
def test_synthetic_mark_read_by_spark(spark: object, tmp_path: Path) -> None:
    marked, plain = tmp_path / "marked.csv", tmp_path / "plain.csv"
    head = "patient_id,issue_date, Synthetic \n"
    marked.write_text(head + "P1,2026-01-01,\nP2,2026-01-02, SYNTHETIC \n", encoding="utf-8")
    plain.write_text(head + "P1,2026-01-01,\nP2,2026-01-02,no\n", encoding="utf-8")
    for path, expected in ((marked, True), (plain, False)):
        frame = read_source(spark, parse_source(path.as_uri()))  # type: ignore[arg-type]
        assert not isinstance(frame, Path)
        assert marked_synthetic(path) is expected  # the single-machine reading
        assert marked_synthetic_spark(frame) is expected
    example = ROOT / "examples" / "population" / "issues.csv"  # marked in its own column
    frame = read_source(spark, parse_source(example.as_uri()))  # type: ignore[arg-type]
    assert not isinstance(frame, Path)
    assert marked_synthetic(example) is marked_synthetic_spark(frame) is True
    no_column = tmp_path / "none.csv"
    no_column.write_text("patient_id,issue_date\nP1,2026-01-01\n", encoding="utf-8")
    frame = read_source(spark, parse_source(no_column.as_uri()))  # type: ignore[arg-type]
    assert not isinstance(frame, Path)
    assert marked_synthetic_spark(frame) is False


# --- a standalone master and worker on loopback -----------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spark_home() -> Path:
    import pyspark  # noqa: PLC0415 - optional extra

    return Path(pyspark.__file__).resolve().parent


def _wait_for(log: Path, text: str, proc: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if text in log.read_text(encoding="utf-8", errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
    pytest.fail(f"standalone Spark did not start ({text!r} not logged): {tail}")


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A standalone master and one worker (2 cores, 1 GB) on 127.0.0.1; yields (URL, env)."""
    need_spark()
    folder = tmp_path_factory.mktemp("standalone")
    home = _spark_home()
    env = os.environ | {
        "SPARK_HOME": str(home),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": str(folder),
        "SPARK_WORKER_DIR": str(folder / "work"),
        "SPARK_DAEMON_JAVA_OPTS": FAST_JVM,
        "SPARK_DAEMON_MEMORY": "256m",
        "PYSPARK_PYTHON": sys.executable,
    }
    port = _free_port()
    url = f"spark://127.0.0.1:{port}"
    spark_class = str(home / "bin" / "spark-class")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        master_log = folder / "master.log"
        with master_log.open("wb") as log:
            procs.append(
                subprocess.Popen(
                    [
                        spark_class,
                        "org.apache.spark.deploy.master.Master",
                        *("--host", "127.0.0.1", "--port", str(port)),
                        *("--webui-port", str(_free_port())),
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            )
        _wait_for(master_log, "I have been elected leader", procs[0], 180)
        worker_log = folder / "worker.log"
        with worker_log.open("wb") as log:
            procs.append(
                subprocess.Popen(
                    [
                        spark_class,
                        "org.apache.spark.deploy.worker.Worker",
                        *("--host", "127.0.0.1", "--cores", "2", "--memory", "1g"),
                        *("--webui-port", str(_free_port()), "--work-dir", str(folder / "work")),
                        url,
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            )
        _wait_for(worker_log, "Successfully registered with master", procs[1], 180)
        yield url, env
    finally:
        for proc in reversed(procs):
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)


_CLUSTER_CONF = (
    "--conf",
    f"spark.pyspark.python={sys.executable}",
    "--conf",
    "spark.executor.memory=512m",
    "--conf",
    f"spark.executor.extraJavaOptions={FAST_JVM}",
    "--conf",
    f"spark.driver.extraJavaOptions={FAST_JVM}",
    "--conf",
    "spark.ui.enabled=false",
)


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        args, capture_output=True, text=True, env=env, cwd=cwd, timeout=540, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.mark.spark_cluster
def test_standalone_master(
    standalone: tuple[str, dict[str, str]], extract: tuple[Path, Path], tmp_path: Path
) -> None:
    url, env = standalone
    issues, patients = extract
    want = screen(issues, patients)
    check_problem_kinds(want)
    cli = str(Path(sys.executable).parent / "opioidcds")
    # 1. the command with --master: driver here, executors in the worker's processes
    out, local = tmp_path / "out", tmp_path / "local"
    args = [cli, "screen-spark", str(issues), "--patients", str(patients), "--master", url]
    done = _run([*args, *_CLUSTER_CONF, "--output-dir", str(out), "--out", str(local)], env, ROOT)
    assert "Screening (Spark)" in done.stdout
    assert_outputs({n: parquet_folder(out / n) for n in OUTPUT_NAMES}, want, ordered=True)
    single = tmp_path / "single"
    _run([cli, "screen", str(issues), "--patients", str(patients), "--out", str(single)], env, ROOT)
    for name in ("worklist.csv", "problems.csv"):
        assert (local / name).read_bytes() == (single / name).read_bytes(), name
    # the work really ran in the worker's executors (their folders hold the job's logs)
    assert any((tmp_path.parent).glob("standalone*/work/app-*/*/stderr"))
    # 2. spark-submit with the recipe's two-line script: spark-submit's master and settings
    script = tmp_path / "run_opioidcds.py"
    script.write_text("from opioidcds.cli import main\n\nmain()\n", encoding="utf-8")
    submit = str(_spark_home() / "bin" / "spark-submit")
    submitted = tmp_path / "submitted"
    _run(
        [
            *(submit, "--master", url, *_CLUSTER_CONF, str(script)),
            *("screen-spark", issues.as_uri(), "--patients", patients.as_uri()),
            *("--output-dir", submitted.as_uri()),
        ],
        env,
        ROOT,
    )
    assert_outputs({n: parquet_folder(submitted / n) for n in OUTPUT_NAMES}, want, ordered=True)
