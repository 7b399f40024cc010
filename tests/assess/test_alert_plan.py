"""The alerts of ``check_prescription``, planned once per set of fired rules (issue 20, round 5).

Which alerts a check shows, in which order and with which fixed wording, is worked out once per
set of rule condition values and kept (``_alert_plan``); each call fills in its own figures and
trace. Differential test: for drawn patients and new prescriptions, every alert equals the one
read eagerly from the reference engine's decisions for the same inputs (each rule's own
compiled condition, ``truths_by_rule``; the :class:`Decision` objects' outcome, citations and
trace), in the same order (most serious first, file order within a severity), and the plan
kept for an earlier patient never leaks that patient's figures or trace into a later one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from hypothesis import assume, given, settings
from hypothesis import strategies as st

import opioidcds._decide.alerts as alerts_module
from opioidcds import (
    InvalidInputError,
    Patient,
    Prescription,
    check_prescription,
    default_knowledge,
)
from opioidcds._decide.knowledge import _parameter_note
from opioidcds._decide.rules import BoundRuleset
from opioidcds._display import most_serious_first
from opioidcds.testing import co_medicines, convertible_prescriptions, patients

KB = default_knowledge()


@contextmanager
def _captured() -> Iterator[list[tuple[Any, ...]]]:
    """The arguments of every alert presentation made while the block runs."""
    calls: list[tuple[Any, ...]] = []
    present = alerts_module._present_alerts

    def spy(*args: Any) -> Any:
        calls.append(args)
        return present(*args)

    with mock.patch.object(alerts_module, "_present_alerts", spy):
        yield calls


def _reference(bound: BoundRuleset, values: tuple[Any, ...], figures: Any) -> list[dict[str, Any]]:
    """The alerts read eagerly from the reference engine's decisions, most serious first."""
    d = bound.decide(values, bound.truths_by_rule(values))
    out: list[dict[str, Any]] = []
    for dec in d.fired:
        outcome = dec.outcome
        actions = outcome.get("actions") or ()
        assert isinstance(actions, (list, tuple))
        note = _parameter_note(bound, dec.rule_id)  # the thresholds the rule compares with
        detail = (
            str(outcome.get("detail") or ""),
            figures.text(),
            f"Thresholds: {note}." if note else "",
        )
        out.append(
            {
                "id": dec.rule_id,
                "severity": str(outcome["severity"]),
                "title": dec.title or dec.rule_id,
                "summary": str(outcome.get("summary") or ""),
                "citations": dec.citations,
                "actions": tuple(str(a) for a in actions),
                "stage": dec.stage,
                "trace": dec.trace,
                "figures": figures.text(),
                "detail": " ".join(x for x in detail if x),
            }
        )
    pending = d.cannot_evaluate
    if pending:
        rs = bound.ruleset
        # the rules not checked, most serious first (file order within a severity)
        shown = most_serious_first(
            [dec.rule_id for dec in pending], lambda r: str(dict(rs.rule(r).outcome)["severity"])
        )
        unknown = sorted({n for dec in pending for n in dec.unknown_inputs})
        out.append(
            {
                "id": "alerts-not-evaluated",
                "severity": "info",
                "trace": tuple(line for dec in pending for line in dec.trace),
                "rules": tuple(shown),
                "titles": [rs.rule(r).title for r in shown],
                "unknown": tuple(unknown),
                "labels": [rs.input_label(n) for n in unknown],
                "figures": figures.text(),
            }
        )
    return most_serious_first(out, lambda a: a["severity"])


def _agrees(alert: Any, expected: dict[str, Any], bound: BoundRuleset) -> None:
    assert alert.id == expected["id"]
    assert alert.severity.value == expected["severity"]
    assert alert.trace == expected["trace"]
    assert expected["figures"] in alert.detail
    assert alert.ruleset_id == bound.ruleset.id
    assert alert.ruleset_version == bound.ruleset.version
    if alert.id == "alerts-not-evaluated":
        # the ids in the machine fields; titles and labels (never ids) in the text
        assert alert.not_checked == expected["rules"]
        assert alert.unknown_inputs == expected["unknown"]
        assert alert.detail.startswith("Could not check: " + "; ".join(expected["titles"]) + ".")
        for label in expected["labels"]:
            assert label in alert.detail
        for name in (*expected["rules"], *expected["unknown"]):
            assert name not in alert.detail
        return
    assert (alert.not_checked, alert.unknown_inputs) == ((), ())
    for name in ("title", "summary", "citations", "actions", "stage", "detail"):
        assert getattr(alert, name) == expected[name], name


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            patients(max_opioids=3),
            st.one_of(convertible_prescriptions(), co_medicines()),
            st.booleans(),
        ),
        min_size=2,
        max_size=4,
    )
)
def test_planned_alerts_equal_the_reference_engines_decisions(
    cases: list[tuple[Patient, Prescription, bool]],
) -> None:
    # several checks in a row: a plan kept for one must give the next its own figures/trace
    with _captured() as calls:
        results = []
        for patient, new, reauthorisation in cases:
            try:
                results.append(
                    check_prescription(patient, new, reauthorisation=reauthorisation, knowledge=KB)
                )
            except InvalidInputError:
                assume(False)
    assert len(calls) == len(results)
    for got, (bound, values, _truths, figures, _provenance) in zip(results, calls, strict=True):
        expected = _reference(bound, values, figures)
        assert [a.id for a in got] == [e["id"] for e in expected]
        for alert, wanted in zip(got, expected, strict=True):
            _agrees(alert, wanted, bound)


def test_the_same_fired_rules_give_each_patient_its_own_figures() -> None:
    # two patients, the same rules fire (a new opioid above 90 mg OME/day, no history):
    # oxycodone 10 mg x 4/day = 40 mg/day x 1.5 = 60 mg OME/day before; the new one adds
    # 20 mg x 2/day = 40 mg/day x 1.5 = 60 -> 120 after. With 15 mg x 4/day = 60 x 1.5 = 90
    # before, 90 + 60 = 150 after.
    def oxycodone(strength: str, per_day: int) -> Prescription:
        return Prescription(
            drug="oxycodone",
            form="tablet",
            strength=strength,
            dose_quantity=1,
            dose_unit="tablet",
            doses_per_day=per_day,
        )

    new = oxycodone("20 mg", 2)
    first = check_prescription(Patient(prescriptions=(oxycodone("10 mg", 4),)), new)
    second = check_prescription(Patient(prescriptions=(oxycodone("15 mg", 4),)), new)
    switch = [a for a in first if a.id == "script-switch-above-threshold"]
    again = [a for a in second if a.id == "script-switch-above-threshold"]
    assert switch
    assert again
    assert "Total 120 mg OME/day with this prescription; 60 mg OME/day before." in switch[0].detail
    assert "Total 150 mg OME/day with this prescription; 90 mg OME/day before." in again[0].detail
    assert any("=120" in line for line in switch[0].trace)
    assert any("=150" in line for line in again[0].trace)
    assert not any("=150" in line for line in switch[0].trace)
