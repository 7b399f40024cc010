"""Hazards HAZ-014 and HAZ-017: shared knowledge, many threads, many patients, one answer.

8 threads call the public functions on the shared (cached, immutable) knowledge at once and
must give exactly the serial results; patients interleaved in any order must not see each
other's prescriptions through the calculator's memo cache.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opioidcds import (
    InvalidInputError,
    Prescription,
    PrnPolicy,
    calculate_ome,
    classify_medicine,
    load_catalogue,
)
from opioidcds._knowledge.units import parse_strength
from opioidcds.testing import dmd_prescriptions, prescription_lists

THREADS = 8

patients = prescription_lists(max_size=4) | st.lists(dmd_prescriptions(), max_size=3)


def _ome_json(rxs: list[Prescription], table: str, policy: PrnPolicy) -> str:
    return calculate_ome(rxs, table=table, prn_policy=policy).model_dump_json()


def _dosage_json(text: str) -> str:
    from opioidcds import parse_dosage  # noqa: PLC0415 - merged in parallel

    return parse_dosage(text).model_dump_json()


def _rules_tasks() -> list[Callable[[], Any]]:
    """Each shipped ruleset on its own inline examples (different patients) and on nothing."""
    from opioidcds import load_rulesets  # noqa: PLC0415 - merged in parallel
    from opioidcds._knowledge.paths import knowledge_dir  # noqa: PLC0415

    return [
        partial(_decisions, ruleset.evaluate, inputs)
        for ruleset in load_rulesets(knowledge_dir("rules")).values()
        for inputs in [{}, *(dict(e.given) for e in ruleset.examples)]
    ]


def _decisions(evaluate: Callable[[dict[str, Any]], Any], inputs: dict[str, Any]) -> str:
    # "on nothing" is an input error for a ruleset with required inputs (prescribing-alerts
    # requires new_item_class): that typed error must be the same in every thread too
    try:
        decisions = evaluate(inputs)
    except InvalidInputError as exc:
        return f"InvalidInputError({exc.field})"
    return repr((decisions.statuses, decisions.fired_ids, decisions.complete))


def _fhir_tasks() -> list[Callable[[], Any]]:
    import json  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    from opioidcds._resolve.fhir import prescriptions_from_medication_request  # noqa: PLC0415

    data = Path(__file__).resolve().parents[1] / "fhir" / "data"
    resource = json.loads(
        (data / "uk-core-style-medicationrequest-r4.json").read_text(encoding="utf-8")
    )
    resource["medicationCodeableConcept"]["coding"][0]["code"] = "36126511000001106"
    return [partial(prescriptions_from_medication_request, resource)]


def workload(patient_lists: list[list[Prescription]]) -> list[Callable[[], Any]]:
    catalogue = load_catalogue()
    tasks: list[Callable[[], Any]] = []
    for rxs in patient_lists:
        tasks.extend(
            partial(_ome_json, rxs, table, policy)
            for table in ("uk-opioids-aware", "cdc-2022")
            for policy in PrnPolicy
        )
        for rx in rxs:
            if rx.strength is not None:
                tasks.append(partial(parse_strength, rx.strength))
            if rx.dmd_code is not None:
                tasks.append(partial(catalogue.by_code, rx.dmd_code))
            if rx.product_name is not None:
                tasks.append(partial(classify_medicine, rx.product_name))
    texts = ("1-2 tablets every 4-6 hours when required", "apply one patch every 72 hours")
    tasks.extend(partial(_dosage_json, text) for text in texts)
    return tasks + _rules_tasks() + _fhir_tasks()


@settings(max_examples=8, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(patients, min_size=4, max_size=8))
def test_threads_give_serial_results(patient_lists: list[list[Prescription]]) -> None:
    tasks = workload(patient_lists)
    serial = [task() for task in tasks]

    # every thread runs the whole workload, starting at a different offset, so the same
    # functions run at the same time on the same shared caches
    def run(offset: int) -> list[Any]:
        order = list(range(offset, len(tasks))) + list(range(offset))
        out: list[Any] = [None] * len(tasks)
        for i in order:
            out[i] = tasks[i]()
        return out

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        offsets = [(k * len(tasks)) // THREADS for k in range(THREADS)]
        results = list(pool.map(run, offsets))
    for result in results:
        assert result == serial


@settings(max_examples=30)
@given(prescription_lists(max_size=4), prescription_lists(max_size=4))
def test_interleaved_patients_do_not_share_state(
    a: list[Prescription], b: list[Prescription]
) -> None:
    alone_a = calculate_ome(a)
    alone_b = calculate_ome(b)
    # interleave: B, then A, then A+B, then B again; each answer depends only on its input
    assert calculate_ome(b) == alone_b
    assert calculate_ome(a) == alone_a
    both = calculate_ome(a + b)
    assert both.total_mg_per_day == alone_a.total_mg_per_day + alone_b.total_mg_per_day
    assert {i.prescription_index for i in both.items} == set(range(len(a) + len(b)))
    assert calculate_ome(b) == alone_b
