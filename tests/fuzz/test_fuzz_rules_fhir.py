"""Fuzzing the rule loader and the FHIR adapter: only ``OpioidCDSError`` subclasses escape.

Rule files: the shipped rulesets (``rules/*.toml``) with lines deleted, duplicated, swapped,
values replaced or text inserted are written to a temporary file and loaded; a file that still
loads is evaluated on empty and on random inputs. FHIR: the project's UK MedicationRequest
example with values at random paths replaced by arbitrary JSON goes into
``prescriptions_from_medication_request`` (the FHIR team's own fuzz tests mutate structure;
this one replaces values).
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opioidcds import OpioidCDSError, calculate_ome, load_ruleset
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds._resolve.fhir import prescriptions_from_medication_request
from opioidcds.testing import check_only_typed_errors, json_values

fuzz = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

RULE_FILES = sorted(p for p in knowledge_dir("rules").glob("*.toml"))
SOURCES = {p.name: p.read_text(encoding="utf-8").splitlines() for p in RULE_FILES}
ODD = ['"0"', '"-1"', '"1e5"', "1.5", "0", '""', "true", "[]", "{}", '"NaN"', '"x < 1"']
FHIR_DATA = Path(__file__).resolve().parents[1] / "fhir" / "data"
FHIR_EXAMPLE = json.loads(
    (FHIR_DATA / "uk-core-style-medicationrequest-r4.json").read_text(encoding="utf-8")
)
# its dm+d code is a placeholder; use the catalogue's Morphine 10mg MR tablets VMP so that the
# unmutated resource reads through to a calculation
FHIR_EXAMPLE["medicationCodeableConcept"]["coding"][0]["code"] = "36126511000001106"


@st.composite
def mutated_rule_files(draw: st.DrawFn) -> str:
    lines = list(SOURCES[draw(st.sampled_from(sorted(SOURCES)))])
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.integers(0, 4))
        if action == 0:
            del lines[i]
        elif action == 1:
            lines.insert(i, lines[i])
        elif action == 2:
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif action == 3 and "=" in lines[i]:
            lines[i] = lines[i].split("=", 1)[0] + "= " + draw(st.sampled_from(ODD))
        else:
            pos = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:pos] + draw(st.text(max_size=6)) + lines[i][pos:]
    return "\n".join(lines)


@fuzz
@given(mutated_rule_files(), st.dictionaries(st.text(max_size=20), json_values(max_leaves=2)))
def test_mutated_rule_files_fail_closed(text: str, inputs: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mutated.toml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        ruleset = check_only_typed_errors(load_ruleset, path)
    if ruleset is None:
        return
    check_only_typed_errors(ruleset.evaluate, {})
    check_only_typed_errors(ruleset.evaluate, inputs)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(_paths(child, (*prefix, index)))
    return found


PATHS = _paths(FHIR_EXAMPLE)


@fuzz
@given(st.lists(st.tuples(st.sampled_from(PATHS), json_values(max_leaves=3)), max_size=3))
def test_fhir_values_replaced_fail_closed(changes: list[tuple[tuple[Any, ...], Any]]) -> None:
    resource = copy.deepcopy(FHIR_EXAMPLE)
    for path, value in changes:
        target: Any = resource
        try:
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed this path
    rxs = check_only_typed_errors(prescriptions_from_medication_request, resource)
    if rxs is not None:
        check_only_typed_errors(calculate_ome, rxs)


def test_unchanged_fhir_example_reads() -> None:
    rxs = prescriptions_from_medication_request(FHIR_EXAMPLE)
    assert len(calculate_ome(rxs).items) == 2
    assert isinstance(OpioidCDSError("x"), Exception)
