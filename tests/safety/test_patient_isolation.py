"""Hazard HAZ-014 (control C3): a patient's assessment joins only that patient's facts.

Two patients who differ in every fact the assessment reads (prescriptions, history, risk
factors, co-prescriptions, dates) are assessed and checked in alternation, in both rule
engines, and from 8 threads at once. Each result must equal the patient's result computed on
its own, and nothing identifying patient A (a medicine, a date, a figure) may appear anywhere
in patient B's result, nor the other way round.

By hand (UK Opioids Aware: oxycodone oral 1.5, tramadol oral 0.1):

- A: oxycodone MR 40 mg twice a day = 80 mg x 1.5 = 120 mg OME/day (not above 120: the
  high-dose factor is absent), diazepam (benzodiazepine factor), male, 71 (older age),
  depression; 7 oxycodone issues from 2026-03-02, two of them early (18 and 20 days into a
  28-day supply: 64% and 71%, below 75%): early re-ordering present.
- B: tramadol 50 mg twice a day = 100 mg x 0.1 = 10 mg OME/day, pregabalin (gabapentinoid
  factor), female, 44; 4 tramadol issues from 2025-12-15 every 30 days for 30-day supplies
  (none early).
"""

from __future__ import annotations

import datetime as dt
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from opioidcds import FactorStatus, Patient, Prescription, assess, check_prescription

THREADS = 8
ROUNDS = 25
BACKENDS = ("reference", "durable")


def _issues(drug: str, first: dt.date, gaps: list[int], supply: int) -> list[dict[str, Any]]:
    dates = [first]
    for gap in gaps:
        dates.append(dates[-1] + dt.timedelta(days=gap))
    return [{"issue_date": d, "drug": drug, "days_supply": supply} for d in dates]


A_HISTORY = _issues("oxycodone", dt.date(2026, 3, 2), [28, 28, 18, 28, 20, 28], 28)
A = Patient.model_validate(
    {
        "age": 71,
        "sex": "male",
        "unemployed": False,
        "ae_attendance_recent": False,
        "family_history_dependence": False,
        "history_substance_or_alcohol_misuse": False,
        "depression": True,
        "other_psychological_disease": False,
        "gabapentinoid_coprescribed": False,
        "prescriptions": [
            {"drug": "oxycodone", "form": "modified-release tablet", "strength": "40 mg",
             "dose_quantity": 1, "dose_unit": "tablet", "doses_per_day": 2},
            {"drug": "diazepam", "form": "tablet", "strength": "5 mg",
             "dose_quantity": 1, "dose_unit": "tablet", "doses_per_day": 2},
        ],
        "prescription_history": A_HISTORY,
        "as_of": dt.date(2026, 9, 20),
    }
)  # fmt: skip
B_HISTORY = _issues("tramadol", dt.date(2025, 12, 15), [30, 30, 30], 30)
B = Patient.model_validate(
    {
        "age": 44,
        "sex": "female",
        "unemployed": True,
        "ae_attendance_recent": True,
        "family_history_dependence": True,
        "history_substance_or_alcohol_misuse": False,
        "preadolescent_sexual_abuse_history": False,
        "depression": False,
        "other_psychological_disease": True,
        "benzodiazepine_coprescribed": False,
        "prescriptions": [
            {"drug": "tramadol", "form": "capsule", "strength": "50 mg",
             "dose_quantity": 1, "dose_unit": "capsule", "doses_per_day": 2},
            {"drug": "pregabalin", "form": "capsule", "strength": "75 mg",
             "dose_quantity": 1, "dose_unit": "capsule", "doses_per_day": 2},
        ],
        "prescription_history": B_HISTORY,
        "as_of": dt.date(2026, 4, 1),
    }
)  # fmt: skip
NEW_A = Prescription(
    drug="morphine", form="modified-release tablet", strength="15 mg", dose_quantity=1,
    dose_unit="tablet", doses_per_day=2,
)  # fmt: skip
NEW_B = Prescription(
    drug="codeine", form="tablet", strength="30 mg", dose_quantity=1, dose_unit="tablet",
    doses_per_day=4,
)  # fmt: skip

# What only A has, and what only B has, as each is written in its own results (checked below).
A_ONLY = ["oxycodone", "diazepam", "age: 71", "total 120 mg ome/day", "2026-03-02", "2026-09-20"]
B_ONLY = ["tramadol", "pregabalin", "age: 44", "total 10 mg ome/day", "2025-12-15", "2026-04-01"]


def _assessment(patient: Patient, backend: str) -> str:
    return assess(patient, backend=backend).model_dump_json()


def _alerts(patient: Patient, new: Prescription, backend: str) -> str:
    return json.dumps(
        [a.model_dump(mode="json") for a in check_prescription(patient, new, backend=backend)]
    )


def _calls(backend: str) -> list[tuple[str, Any]]:
    return [
        ("assess A", lambda: _assessment(A, backend)),
        ("assess B", lambda: _assessment(B, backend)),
        ("check A", lambda: _alerts(A, NEW_A, backend)),
        ("check B", lambda: _alerts(B, NEW_B, backend)),
    ]


def test_the_two_patients_differ_as_worked_out() -> None:
    a, b = assess(A), assess(B)
    assert a.ome is not None
    assert b.ome is not None
    assert a.ome.total_mg_per_day == 120  # 80 mg oxycodone x 1.5
    assert b.ome.total_mg_per_day == 10  # 100 mg tramadol x 0.1
    present_a = {f.id for f in a.factors if f.status is FactorStatus.PRESENT}
    present_b = {f.id for f in b.factors if f.status is FactorStatus.PRESENT}
    assert present_a == {
        "male-sex",
        "older-age",
        "benzodiazepine",
        "depression",
        "early-reordering",
    }
    assert present_b == {
        "unemployed",
        "ae-attendance",
        "family-history-dependence",
        "other-psychological-disease",
        "gabapentinoid",
    }
    assert a.scope.history.startswith("7 opioid issues from 2026-03-02")
    assert "2 early re-issue(s)" in a.scope.history
    assert b.scope.history.startswith("4 opioid issues from 2025-12-15")
    assert "0 early re-issue(s)" in b.scope.history


def _without_citations(data: object) -> object:
    """The result without its citations (source texts name medicines, not patients)."""
    if isinstance(data, dict):
        return {k: _without_citations(v) for k, v in data.items() if k != "citations"}
    if isinstance(data, list):
        return [_without_citations(v) for v in data]
    return data


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_fact_of_one_patient_appears_in_the_other(backend: str) -> None:
    own: dict[str, str] = {"A": "", "B": ""}
    for name, call in _calls(backend):
        text = json.dumps(_without_citations(json.loads(call()))).lower()
        who = name[-1]
        own[who] += text
        others = B_ONLY if who == "A" else A_ONLY
        leaked = [marker for marker in others if marker in text]
        assert leaked == [], f"{name} ({backend}) shows the other patient's {leaked}"
    # the markers are real: each patient's own results do show them
    assert [m for m in A_ONLY if m not in own["A"]] == []
    assert [m for m in B_ONLY if m not in own["B"]] == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_interleaved_calls_equal_the_serial_results(backend: str) -> None:
    calls = _calls(backend)
    serial = {name: call() for name, call in calls}
    for i in range(ROUNDS):  # A, B, A, B ... in both orders
        order = calls if i % 2 == 0 else list(reversed(calls))
        for name, call in order:
            assert call() == serial[name], f"{name} changed after the other patient (round {i})"


@pytest.mark.parametrize("backend", BACKENDS)
def test_threads_alternating_patients_equal_the_serial_results(backend: str) -> None:
    calls = _calls(backend)
    serial = {name: call() for name, call in calls}

    def worker(offset: int) -> list[tuple[str, str]]:
        out = []
        for i in range(ROUNDS):
            name, call = calls[(offset + i) % len(calls)]
            out.append((name, call()))
        return out

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        results = [r for chunk in pool.map(worker, range(THREADS)) for r in chunk]
    assert len(results) == THREADS * ROUNDS
    wrong = [name for name, got in results if got != serial[name]]
    assert wrong == []
