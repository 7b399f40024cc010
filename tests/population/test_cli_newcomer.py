"""The command line as a newcomer meets it (issue 19): --version, help without type tags and
with examples that run as written, the README's commands, and errors with a way forward."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opioidcds import __version__
from opioidcds.cli.app import EXAMPLES, app

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = (
    ["ome"],
    ["taper"],
    ["assess"],
    ["check"],
    ["discharge"],
    ["serve"],
    ["screen"],
    ["demo-data"],
    ["screen-spark"],
    ["evaluate"],
    ["parse-dosage"],
    ["rules", "check"],
    ["rules", "explain"],
)
# examples not run here: a server that does not exit, a large synthetic practice (18 s of
# generation; its progress is tested in test_outputs_safe), and Spark (Java; tests/population/
# test_spark.py runs the same command)
NOT_RUN = ("opioidcds serve", "curl ", "--patients 200000", "opioidcds screen-spark")


def _bin() -> str:
    found = Path(sys.executable).parent / "opioidcds"
    if found.exists():
        return str(found.parent)
    pytest.skip("the opioidcds console script is not installed next to this Python")


def _sandbox(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A working folder that looks like the repository's root (examples, rules) for commands
    that write their outputs where they run."""
    for name in ("examples", "rules"):
        (tmp_path / name).symlink_to(ROOT / name)
    env = dict(os.environ, PATH=f"{_bin()}{os.pathsep}{os.environ.get('PATH', '')}", COLUMNS="120")
    return tmp_path, env


def test_version() -> None:
    done = CliRunner().invoke(app, ["--version"])
    assert done.exit_code == 0
    assert done.stdout.strip() == f"opioidcds {__version__}"


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_has_no_type_tags_for_flags_and_ends_with_examples(command: list[str]) -> None:
    done = CliRunner(env={"COLUMNS": "100"}).invoke(app, [*command, "--help"])
    assert done.exit_code == 0
    assert "<bool>" not in done.stdout
    assert "╭" not in done.stdout  # plain text, easy to copy
    if command[0] != "rules":
        assert "Examples:" in done.stdout
        assert EXAMPLES[command[0]].split("\n", 2)[2].split("\n")[0].strip() in done.stdout


def test_root_help_says_where_to_start() -> None:
    done = CliRunner(env={"COLUMNS": "100"}).invoke(app, ["--help"])
    assert done.exit_code == 0
    assert "--version" in done.stdout
    assert "opioidcds ome examples/prescriptions.json" in " ".join(done.stdout.split())


def _example_lines() -> list[str]:
    lines = []
    for text in EXAMPLES.values():
        lines += [line.strip() for line in text.splitlines()[2:] if line.strip()]
    return [line for line in lines if not any(skip in line for skip in NOT_RUN)]


@pytest.mark.parametrize("line", _example_lines())
def test_help_examples_run_as_written(tmp_path: Path, line: str) -> None:
    cwd, env = _sandbox(tmp_path)
    done = subprocess.run(  # noqa: S602 - the example is a shell line (< redirection)
        line, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, (line, done.stderr)
    assert "Traceback" not in done.stderr


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()  # noqa: PLW2901 - drop the comment
            line = line.replace(".venv/bin/opioidcds", "opioidcds")  # noqa: PLW2901
            if line.startswith("opioidcds") and not line.startswith("opioidcds serve"):
                commands.append(" ".join(line.split()))
    return commands


def test_readme_commands_work_as_written(tmp_path: Path) -> None:
    commands = _readme_commands()
    assert "opioidcds ome examples/prescriptions.json" in commands
    assert "opioidcds rules explain support-tier" in commands
    assert any(c.startswith("opioidcds screen ") for c in commands)
    cwd, env = _sandbox(tmp_path)
    for command in commands:  # in order: the screening reads what demo-data wrote
        done = subprocess.run(  # noqa: S602 - README lines are shell lines
            command, shell=True, cwd=cwd, env=env, capture_output=True, text=True,
            timeout=300, check=False,
        )  # fmt: skip
        assert done.returncode == 0, (command, done.stderr)
    assert (cwd / "screening-out" / "report.html").exists()


def test_examples_folder_has_a_fhir_bundle_and_a_cds_hooks_request() -> None:
    bundle = json.loads((ROOT / "examples" / "fhir-bundle.json").read_text(encoding="utf-8"))
    assert bundle["resourceType"] == "Bundle"
    request = json.loads((ROOT / "examples" / "cds-hooks-request.json").read_text(encoding="utf-8"))
    assert request["hook"] == "order-select"
    # the bundle's active MedicationRequests: oxycodone MR 10 mg bd = 20 mg x 1.5 = 30;
    # fentanyl 25 microgram/hour = 60; codeine 30 mg 1-2 tablets up to qds (PRN, maximum 8 a
    # day) = 240 mg x 0.1 = 24: 114 mg OME/day (the completed request is not counted)
    done = CliRunner().invoke(
        app, ["ome", str(ROOT / "examples" / "fhir-bundle.json"), "--fhir", "--json"]
    )
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["total_mg_per_day"] in {"114", "114.0", "114.00"}


def test_patient_example_is_in_scope_for_assess_and_readable_by_ome() -> None:
    # its methadone is prescribed for pain (opioid_substitution_therapy false), as the OME
    # page says: in scope, not "out of scope: substitution therapy"
    runner = CliRunner()
    path = str(ROOT / "examples" / "patient-example.json")
    done = runner.invoke(app, ["assess", path, "--json"])
    assert done.exit_code == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["scope"]["in_scope"] is True
    assert runner.invoke(app, ["ome", path]).exit_code == 0


@pytest.mark.parametrize(
    ("args", "stdin", "expected"),
    [
        (["ome", "missing.json"], None, "input file 'missing.json': no such file: check the path"),
        (["ome", "-"], '{"resourceType": "Bundle"}', "add --fhir to read FHIR R4"),
        (["assess", "-"], '{"resourceType": "Patient"}', "'opioidcds ome --fhir'"),
        (["ome", "-"], "{", "not valid JSON (line 1"),
        (["ome", "-"], '{"prescription": []}', "unknown key(s) prescription"),
        (["check", "-"], '{"age": 50}', "add the prescription to check"),
    ],
)
def test_errors_name_the_problem_and_the_fix(
    args: list[str], stdin: str | None, expected: str
) -> None:
    done = CliRunner().invoke(app, args, input=stdin)
    assert done.exit_code == 2
    assert expected in done.stderr
    assert "Traceback" not in done.stderr


def test_a_nested_field_is_named_once() -> None:
    rx = {"drug": "morphine", "strength": "10 mg", "dose_quantity": 1, "dose_unit": "tablet",
          "doses_per_day": 2}  # fmt: skip
    done = CliRunner().invoke(app, ["ome", "-"], input=json.dumps([rx]))
    assert done.exit_code == 2
    assert "prescriptions[0].form: form or route is required" in done.stderr
    assert "form: form:" not in done.stderr
    patient = {"age": 50, "prescriptions": [rx]}
    done = CliRunner().invoke(app, ["assess", "-"], input=json.dumps(patient))
    assert done.exit_code == 2
    assert done.stderr.count("prescriptions.0.form") == 1
