"""The columnar path (module vector): it is really used, and its edges equal ``assess``.

The differential tests compare whole screenings; these check that the synthetic practices are
decided by the columnar path (not silently by the per-patient fallback, which would make the
differential test vacuous), that patients outside it are screened by the reference path with
the same rows, and that a local profile (changed parameters, a disabled rule) is read from the
rulesets, not from the code.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from opioidcds import load_profile
from opioidcds.population import engine, screen
from opioidcds.population.synthetic import generate

from .helpers import AS_OF, code, day, issues, patients


def _count_fallback(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    original = engine._screen_one

    def counting(ctx: object, pid: str, *args: object) -> engine.PatientRow:
        seen.append(pid)
        return original(ctx, pid, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "_screen_one", counting)
    return seen


def test_synthetic_practice_is_decided_in_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _count_fallback(monkeypatch)
    pop = generate(300, seed=4)
    s = screen(pop.issues, pop.patients, as_of=pop.as_of)
    assert len(s.rows) == 300
    assert seen == []  # nobody needed the per-patient path


COCODAMOL = "Co-codamol 30mg/500mg tablets"


def _edge_extract() -> tuple[object, object]:
    rows: list[tuple[str | None, ...]] = []
    for pid in ("ok", "ae-later", "excluded", "other-ok"):
        rows.extend(
            (pid, day(d), code(COCODAMOL), None, "112", "two tablets four times a day", "28")
            for d in (84, 56, 28, 0)
        )
    # 2,001 opioid issues: over the Patient input cap, not screened (review by hand)
    rows.extend(
        ("many", day(d % 300), code(COCODAMOL), None, str(1 + d), None, None) for d in range(2001)
    )
    table = patients(
        [
            {"patient_id": "ok", "age": "70", "depression": "true"},
            # an A&E date after the as-of date: Patient refuses it, so assess cannot run
            {"patient_id": "ae-later", "last_ae_attendance": "2027-01-01"},
            {"patient_id": "excluded", "age": "not a number"},
            {"patient_id": "other-ok", "age": "40", "last_ae_attendance": day(30)},
        ]
    )
    return issues(rows), table


def test_patients_outside_the_columns_are_screened_by_the_reference_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    extract, table = _edge_extract()
    seen = _count_fallback(monkeypatch)
    fast = screen(extract, table, as_of=AS_OF)  # type: ignore[arg-type]
    assert sorted(seen) == ["ae-later", "excluded", "many"]
    slow = screen(extract, table, as_of=AS_OF, engine="assess")  # type: ignore[arg-type]
    assert fast.rows == slow.rows
    by_id = {r.patient_id: r for r in fast.rows}
    assert by_id["ok"].status == "screened"
    assert by_id["other-ok"].status == "screened"
    assert by_id["ae-later"].status == "not-screened"
    assert by_id["excluded"].status == "not-screened"
    assert by_id["many"].status == "not-screened"


_PROFILE = """
kind = "profile"
id = "test-local"
version = "0.1.0"
effective_date = 2026-11-22
owner = "tests"
description = "Test profile: other thresholds, a factor disabled."

[citations]
t = "Test citation."

[rulesets.risk-factors]
disable = [{ rule = "unemployed", reason = "test" }]

[rulesets.risk-factors.parameters.older_age_years]
value = 70
citations = ["t"]
reason = "test"

[rulesets.risk-factors.parameters.high_dose_mg_per_day]
value = 50
citations = ["t"]
reason = "test"

[rulesets.scope.parameters.long_term_min_days]
value = 60
citations = ["t"]
reason = "test"
"""


def test_a_local_profile_changes_the_columnar_result(tmp_path: Path) -> None:
    path = tmp_path / "local.toml"
    path.write_text(_PROFILE, encoding="utf-8")
    profile = load_profile(path)
    pop = generate(250, seed=9)
    fast = screen(pop.issues, pop.patients, as_of=pop.as_of, profile=profile)
    slow = screen(pop.issues, pop.patients, as_of=pop.as_of, profile=profile, engine="assess")
    assert fast.rows == slow.rows
    plain = screen(pop.issues, pop.patients, as_of=pop.as_of)
    # the disabled rule is never present; the lower high-dose threshold finds more patients
    assert not any("unemployed" in r.factors_present for r in fast.rows)
    assert any("unemployed" in r.factors_present for r in plain.rows)
    high = sum("high-dose" in r.factors_present for r in fast.rows)
    assert high > sum("high-dose" in r.factors_present for r in plain.rows)
