"""Hazard HAZ-015: output wording of the shipped rulesets is non-stigmatising and explained.

CLINICAL.md section 4: outputs are offers of support, never orders to the patient; patient-
and clinician-facing text avoids words such as "addict" or "abuse" (seed 001/004: a patient was
upset by an invitation letter). Every rule's title and outcome text in ``rules/`` is checked,
and every rule gives its rationale and at least one citation.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from opioidcds.knowledge_paths import knowledge_dir

# "sexual abuse" is exempt: it names harm done *to* the patient (seed 002's risk factor "women
# with a history of pre-adolescent sexual abuse", and the Patient field issue 5 names), not a
# label for the patient's own drug use, which is what CLINICAL.md section 4 rules out.
STIGMATISING = re.compile(
    r"\b(addict\w*|(?<!sexual )abus\w*|junkie\w*|drug[- ]seek\w*|misuser\w*|narcotic\w*)\b",
    re.IGNORECASE,
)
RULE_FILES = sorted(knowledge_dir("rules").rglob("*.toml"))


def _texts(rule: dict[str, Any]) -> list[str]:
    texts = [str(rule.get("title", ""))]
    outcome = rule.get("outcome", {})
    if isinstance(outcome, dict):
        texts.extend(str(v) for k, v in outcome.items() if k in {"summary", "detail", "action"})
    return texts


def _rules(path: Path) -> list[dict[str, Any]]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    rules = data.get("rules", [])
    return rules if isinstance(rules, list) else []


def test_there_are_rules_to_check() -> None:
    assert sum(len(_rules(p)) for p in RULE_FILES) > 0


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_rule_wording_is_not_stigmatising(path: Path) -> None:
    found = [
        f"{rule.get('id')}: {match.group(0)}"
        for rule in _rules(path)
        for text in _texts(rule)
        for match in STIGMATISING.finditer(text)
    ]
    assert found == []


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_every_rule_is_explained_and_cited(path: Path) -> None:
    for rule in _rules(path):
        assert str(rule.get("rationale", "")).strip(), rule.get("id")
        assert rule.get("citations"), rule.get("id")


def test_the_word_list_catches_what_it_should() -> None:
    for text in ("opioid abuse", "Addiction service", "drug-seeking", "a junkie"):
        assert STIGMATISING.search(text), text
    for text in ("opioid use disorder", "dependence", "review the combination"):
        assert not STIGMATISING.search(text), text
