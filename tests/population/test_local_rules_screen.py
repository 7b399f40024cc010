"""Issue 23: ``screen --rules DIR``: local rules decided for every patient of a population.

* A local **extension** (here a local risk factor added to ``risk-factors``) is decided by the
  fast columnar engine: its rows must equal those of ``engine="assess"``, which calls
  :func:`opioidcds.assess` per patient (the differential test of the population engine).
* A whole local **ruleset** (``examples/local-rules/group-programme.toml``) is decided for every
  screened patient on the patient facts (``Screening.local``, ``local-rules.csv``); its
  decisions must agree with the worklist rows (a group programme only at moderate risk, in
  scope) and with ``assess`` on the same built patient.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opioidcds import Knowledge, KnowledgeBaseError, assess, load_knowledge
from opioidcds.cli.app import app
from opioidcds.population import Screening, screen
from opioidcds.population.build import build_patient
from opioidcds.population.engine import _patient_groups, _usable
from opioidcds.population.method import default_method
from opioidcds.population.partition import issue_parts
from opioidcds.population.schema import RowProblem
from opioidcds.population.synthetic import SyntheticPopulation, generate

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / "examples" / "local-rules"
OFFERED = "Group programme (like I-WOTCH)"

LOCAL_FACTOR = """kind = "extension"
id = "test-older-with-gabapentinoid"
version = "0.1.0"
effective_date = 2026-12-05
owner = "tests"
reviewer = "tests"
description = "A local risk factor: 65 or older with a gabapentinoid."
extends = "risk-factors"
extends_version = "2.1.1"

[citations]
local = "A local policy invented for this test."

[[rules]]
id = "older-with-gabapentinoid"
title = "65 or older with a gabapentinoid"
stage = "find"
when = { all = ["age >= 65", "gabapentinoid_coprescribed = true"] }
citations = ["local"]
rationale = "Local choice for the test."
outcome = { label = "65 or older with a gabapentinoid", kind = "floor" }

[[rules.examples]]
given = { age = 70, gabapentinoid_coprescribed = true }
expect = "fired"
"""


@pytest.mark.parametrize("seed", [1, 2])
def test_a_local_extension_is_decided_identically_by_both_engines(
    tmp_path: Path, seed: int
) -> None:
    (tmp_path / "factor.toml").write_text(LOCAL_FACTOR)
    kb = load_knowledge(local_rules=tmp_path)
    pop = generate(300, seed=seed)
    fast = screen(pop.issues, pop.patients, as_of=pop.as_of, knowledge=kb)
    slow = screen(pop.issues, pop.patients, as_of=pop.as_of, knowledge=kb, engine="assess")
    assert fast.rows == slow.rows
    with_factor = [r for r in fast.rows if "older-with-gabapentinoid" in r.factors_present]
    assert with_factor  # the local factor is present for somebody: the test compares it
    # and it is the extension's: without it, nobody has it
    plain = {r.patient_id: r for r in screen(pop.issues, pop.patients, as_of=pop.as_of).rows}
    assert all(
        "older-with-gabapentinoid" not in plain[r.patient_id].factors_present for r in with_factor
    )
    assert fast.local.is_empty()  # an extension has no per-patient local table
    assert fast.local_rules is not None
    assert fast.local_rules.startswith("Local rules in force: test older with gabapentinoid")


@pytest.fixture(scope="module")
def local_screening() -> tuple[SyntheticPopulation, Knowledge, Screening]:
    kb = load_knowledge(local_rules=LOCAL)
    pop = generate(300, seed=3)
    return pop, kb, screen(pop.issues, pop.patients, as_of=pop.as_of, knowledge=kb)


def test_a_local_ruleset_is_decided_for_every_screened_patient(
    local_screening: tuple[SyntheticPopulation, Knowledge, Screening],
) -> None:
    _, _, result = local_screening
    rows = {r.patient_id: r for r in result.rows}
    screened = {pid for pid, r in rows.items() if r.status == "screened"}
    local = result.local
    assert set(local.get_column("patient_id")) == screened
    assert set(local.get_column("ruleset")) == {"exampleshire-group-programme"}
    offered = local.filter(local.get_column("result") == OFFERED)
    assert offered.height > 0
    assert offered.height < local.height
    for pid in offered.get_column("patient_id"):
        # the programme is for moderate risk, in scope: the fast engine's row agrees
        assert rows[pid].in_scope is True
        assert rows[pid].risk_level == "moderate"


def test_the_local_results_equal_assess_on_the_same_patient(
    local_screening: tuple[SyntheticPopulation, Knowledge, Screening],
) -> None:
    """Screened without a patient table, each patient built as the screen builds it."""
    pop, kb, _ = local_screening
    result = screen(pop.issues, None, as_of=pop.as_of, knowledge=kb)
    by_id = {
        pid: (fired, text)
        for pid, fired, text in result.local.select(
            "patient_id", "rules_fired", "outcome"
        ).iter_rows()
    }
    problems: list[RowProblem] = []
    counts: dict[str, int] = {"issue_rows_read": 0}
    checked = 0
    for part, _ in issue_parts(pop.issues):
        df, products = _usable(part, pop.as_of, problems, counts)
        for pid, group in _patient_groups(df, products):
            built = build_patient(group, None, as_of=pop.as_of, method=default_method())
            if built.patient is None:
                assert pid not in by_id
                continue
            (own,) = assess(built.patient, knowledge=kb).local
            assert by_id[pid] == ([o.rule_id for o in own.fired], own.summary())
            checked += 1
    assert checked == len(by_id)


def test_screen_cli_writes_and_names_the_local_rules(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "screen",
            str(ROOT / "examples" / "population" / "issues.csv"),
            "--patients",
            str(ROOT / "examples" / "population" / "patients.csv"),
            "--rules",
            str(LOCAL),
            "--out",
            str(out),
            "--html",
        ],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "Local rules in force: exampleshire gabapentinoid, version 0.1.2" in result.output
    assert "local ruleset exampleshire-group-programme 0.1.1" in result.output
    csv = (out / "local-rules.csv").read_text().splitlines()
    assert csv[0] == "patient_id,ruleset,version,rules_fired,result,outcome,cannot_evaluate"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["local_rules"].startswith("Local rules in force:")
    assert summary["local_results"]["exampleshire-group-programme 0.1.1: " + OFFERED] > 0
    report = (out / "report.html").read_text()
    assert 'id="local-rules"' in report
    assert "Local ruleset exampleshire group programme, version 0.1.1: " + OFFERED in report


def test_a_local_factor_the_risk_level_cannot_count_is_refused(tmp_path: Path) -> None:
    """risk-level decides at most 12 counted factors: a 13th, counted, is refused at load."""
    (tmp_path / "factor.toml").write_text(
        LOCAL_FACTOR.replace('kind = "floor"', 'kind = "additional"')
    )
    with pytest.raises(KnowledgeBaseError, match="13 counted risk factors") as info:
        load_knowledge(local_rules=tmp_path)
    assert "test-older-with-gabapentinoid" in str(info.value)
