"""Hazard HAZ-015: output wording is non-stigmatising, offers rather than orders, and explained.

docs/risk-and-tiers.md, "Support tier": outputs are offers of support, never orders to the
patient; patient- and clinician-facing text avoids words such as "addict" or "abuse" (a patient
of the South Gloucestershire service was upset by an invitation letter's wording: Kesten JM et
al., Br J Gen Pract 2020;70(691):e120-e129). Checked here (control C2, then C1):

- every rule's title and outcome text in ``rules/``, and every rule gives its rationale and at
  least one citation;
- every other string of the rulesets and profiles (descriptions, rationales, every text
  output, parameter descriptions, override reasons, citations: see ``QUOTED_SOURCES``);
- the templates and renderings people read: the patient's taper handout, the population
  report, the command-line renderings of assessments, alerts, discharge checks and taper
  plans (each rendered from the examples), the CDS Hooks card content, and every string
  literal of the package's code (docstrings aside);
- no order to the patient in patient-facing text (the handout, the tier resources, the card
  resources), and no "tell the patient to ..." anywhere; every tier's offer is an offer;
- each tier's output names its reasons and citations.
"""

from __future__ import annotations

import ast
import datetime as dt
import html
import io
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from opioidcds import (
    AcuteEpisode,
    Patient,
    assess,
    check_episode,
    check_prescription,
    load_profile,
    load_ruleset,
    taper_plan,
)
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds.population.engine import screen
from opioidcds.population.report import render_html

# "sexual abuse" is exempt: it names harm done *to* the patient (the NHS England analysis's risk
# factor "women with a history of pre-adolescent sexual abuse", and the Patient field issue 5
# names), not a label for the patient's own drug use, which is what the wording rule rules out. The
# factor id spells it "preadolescent-sexual-abuse".
STIGMATISING = re.compile(
    r"\b(addict\w*|(?<!sexual )(?<!sexual-)abus\w*|junkie\w*|drug[- ]seek\w*|misuser\w*"
    r"|narcotic\w*)\b",
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


# --- HAZ-015-C1: every string people read ----------------------------------------------------

# Orders to the patient, in patient-facing text (offers of support only, docs/risk-and-tiers.md).
ORDERS_TO_PATIENT = re.compile(
    r"\b(you must|you need to|you have to|you should|you are required|you will be "
    r"(?:stopped|removed|discharged|struck off)|failure to|non-?complian\w*|comply|compliance"
    r"|mandatory|compulsory|must (?:stop|reduce|attend|accept))\b",
    re.IGNORECASE,
)
# Orders about the patient, in any text (clinicians are addressed; patients are offered).
ORDERS_ABOUT_PATIENT = re.compile(
    r"\b((?:tell|instruct|order|require)s? (?:the )?(?:patient|person) to"
    r"|(?:the )?(?:patient|person) (?:must|is required to|has to))\b",
    re.IGNORECASE,
)
# Citation texts reproduce their source's words so a reviewer can find the passage; they are
# exempt only where listed here, with the reason.
QUOTED_SOURCES = {
    ("support-tier", "seed-002-complex"): (
        "the NHS England analysis's own words ('an addiction profile') and a service name "
        "('addiction services'); the tier text itself says 'dependence'"
    ),
}
# SNOMED CT terms in codelists are the terminology's own display strings, matched against
# records and never written by this project (e.g. 15167005 "Alcohol abuse (disorder)").
CODELIST_TERM_KEYS = frozenset({"display"})
CODELIST_NOTES_NAMING_TERMS = {
    "risk-inputs.toml.lists.history_substance_or_alcohol_misuse.completeness": (
        "names the SNOMED CT concepts the list holds by their terms ('alcohol abuse')"
    ),
}
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PACKAGE = Path(__file__).resolve().parents[2] / "src" / "opioidcds"


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, tuple | list):
        return [s for v in value for s in _strings(v)]
    return []


def _ruleset_texts(path: Path) -> list[tuple[str, str]]:
    """(where, text) for every string of a loaded ruleset but its citations."""
    rs = load_ruleset(path)
    out = [(f"{rs.id}: description", rs.description)]
    out.extend((f"{rs.id}: parameter {n}", p.description or "") for n, p in rs.parameters.items())
    for rule in rs.rules:
        out.append((f"{rs.id}/{rule.id}: title", rule.title or ""))
        out.append((f"{rs.id}/{rule.id}: rationale", rule.rationale))
        for key, value in dict(rule.outcome).items():
            out.extend((f"{rs.id}/{rule.id}: {key}", text) for text in _strings(value))
    return out


def _citation_texts() -> list[tuple[tuple[str, str], str]]:
    rules = knowledge_dir("rules")
    out = [
        ((rs.id, cid), text)
        for rs in (load_ruleset(p) for p in sorted(rules.glob("*.toml")))
        for cid, text in rs.citations.items()
    ]
    for path in sorted((rules / "profiles").glob("*.toml")):
        prof = load_profile(path)
        out.extend(((prof.id, cid), text) for cid, text in prof.citations.items())
    return out


def _profile_texts(path: Path) -> list[tuple[str, str]]:
    prof = load_profile(path)
    out = [(f"{prof.id}: description", prof.description)]
    for rid, section in prof.sections.items():
        out.extend(
            (f"{prof.id}/{rid}/{n}: reason", o.reason) for n, o in section.parameters.items()
        )
        out.extend((f"{prof.id}/{rid}/{d.rule}: reason", d.reason) for d in section.disable)
    return out


def _toml_strings(data: object, where: str = "") -> list[tuple[str, str]]:
    if isinstance(data, dict):
        return [
            found
            for k, v in data.items()
            if k not in CODELIST_TERM_KEYS
            for found in _toml_strings(v, f"{where}.{k}")
        ]
    if isinstance(data, list):
        return [found for i, v in enumerate(data) for found in _toml_strings(v, f"{where}[{i}]")]
    return [(where, data)] if isinstance(data, str) else []


def _stigmatising(texts: list[tuple[str, str]]) -> list[str]:
    return [f"{w}: {m.group(0)}" for w, t in texts for m in STIGMATISING.finditer(t)]


def _orders(texts: list[tuple[str, str]], pattern: re.Pattern[str]) -> list[str]:
    return [f"{w}: {m.group(0)}" for w, t in texts for m in pattern.finditer(t)]


RULESET_PATHS = sorted(knowledge_dir("rules").glob("*.toml"))
PROFILE_PATHS = sorted((knowledge_dir("rules") / "profiles").glob("*.toml"))


@pytest.mark.parametrize("path", RULESET_PATHS + PROFILE_PATHS, ids=lambda p: p.name)
def test_every_ruleset_and_profile_string_is_respectful(path: Path) -> None:
    texts = _profile_texts(path) if path.parent.name == "profiles" else _ruleset_texts(path)
    assert texts
    assert _stigmatising(texts) == []
    assert _orders(texts, ORDERS_ABOUT_PATIENT) == []


def test_citations_are_clean_or_listed_as_quotations() -> None:
    flagged = {key for key, text in _citation_texts() if STIGMATISING.search(text)}
    assert flagged == set(QUOTED_SOURCES), "a citation uses a stigmatising word: reword or list"


def test_tier_offers_are_offers_and_patient_resources_give_no_orders() -> None:
    tier = load_ruleset(knowledge_dir("rules") / "support-tier.toml")
    patient_facing: list[tuple[str, str]] = []
    for rule in tier.rules:
        outcome = dict(rule.outcome)
        offer = outcome["offer"]
        assert isinstance(offer, str)
        if rule.id != "out-of-scope":
            assert offer.startswith("Offer "), rule.id
        patient_facing += [(f"{rule.id}: resources", t) for t in _strings(outcome.get("resources"))]
    cards = tomllib.loads((knowledge_dir("codelists") / "cards.toml").read_text(encoding="utf-8"))
    patient_facing += _toml_strings(cards.get("patient_resources", {}), "patient_resources")
    assert len(patient_facing) > 3
    assert _orders(patient_facing, ORDERS_TO_PATIENT) == []


def test_codelist_content_is_respectful() -> None:
    texts = [
        found
        for path in sorted(knowledge_dir("codelists").glob("*.toml"))
        for found in _toml_strings(tomllib.loads(path.read_text(encoding="utf-8")), path.name)
    ]
    assert texts
    flagged = {w.partition(": ")[0] for w in _stigmatising(texts)}
    assert flagged == set(CODELIST_NOTES_NAMING_TERMS)


def _docstring_nodes(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def test_string_literals_of_the_code_are_respectful() -> None:
    """Every string literal of the package (templates, labels, messages), docstrings aside."""
    texts: list[tuple[str, str]] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = _docstring_nodes(tree)
        texts.extend(
            (f"{path.name}:{node.lineno}", node.value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docs
        )
    assert len(texts) > 1000
    assert _stigmatising(texts) == []
    assert _orders(texts, ORDERS_ABOUT_PATIENT) == []


def _example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (EXAMPLES / name).read_text(encoding="utf-8"), parse_float=str
    )
    data.pop("description", None)
    return data


def _console() -> Console:
    return Console(record=True, width=160, file=io.StringIO(), color_system=None)


def _html_text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_rendered_outputs_are_respectful() -> None:
    """The renderings people read, produced from the examples (patient, check, taper, ...)."""
    from opioidcds.cli.assess_cmd import (  # noqa: PLC0415 - CLI extra
        parse_check,
        parse_patient,
        render_alerts,
        render_assessment,
    )
    from opioidcds.cli.discharge_cmd import render_check  # noqa: PLC0415
    from opioidcds.cli.taper_cmd import parse_request, render_handout, render_plan  # noqa: PLC0415

    clinician = _console()
    render_assessment(assess(parse_patient(_example("patient-assess.json"))), clinician)
    who, new, reauth = parse_check(_example("patient-check.json"))
    render_alerts(check_prescription(who, new, reauthorisation=reauth), clinician)
    render_check(
        check_episode(AcuteEpisode.model_validate(_example("discharge-example.json"))), clinician
    )
    rxs, request = parse_request(_example("taper-example.json"))
    plan = taper_plan(rxs, start=dt.date(2027, 1, 4), hold_points=request.hold_points)
    assert plan.not_planned, "the example's methadone exercises the 'not part of this plan' text"
    render_plan(plan, clinician)
    screening = screen(
        EXAMPLES / "population" / "issues.csv", EXAMPLES / "population" / "patients.csv"
    )
    texts = [
        ("command-line renderings", clinician.export_text()),
        ("population report", _html_text(render_html(screening))),
    ]
    handout = [("taper handout", _html_text(render_handout(plan, request.contacts)))]
    assert all(len(t) > 500 for _, t in texts + handout)
    assert _stigmatising(texts + handout) == []
    assert _orders(texts + handout, ORDERS_ABOUT_PATIENT) == []
    assert _orders(handout, ORDERS_TO_PATIENT) == []


def test_the_order_lists_catch_what_they_should() -> None:
    for text in ("You must reduce your dose", "failure to attend", "Tell the patient to stop"):
        assert ORDERS_TO_PATIENT.search(text) or ORDERS_ABOUT_PATIENT.search(text), text
    for text in ("If a step is hard, tell us.", "Offer a conversation", "Keep taking these"):
        assert not ORDERS_TO_PATIENT.search(text), text
        assert not ORDERS_ABOUT_PATIENT.search(text), text
    assert STIGMATISING.search("preadolescent-sexual-abuse") is None
    assert STIGMATISING.search("substance-abuse") is not None


# One patient per tier (docs/risk-and-tiers.md; rules/risk-level.toml and support-tier.toml):
# - out-of-scope: cancer pain;
# - letter: low level = not at high dose (oxycodone 10 mg x 2 x 1.5 = 30 mg OME/day), at most
#   one other factor (none here);
# - brief GP intervention: moderate = not at high dose, 2-3 other factors (depression,
#   unemployed);
# - PCN service: high = not at high dose, 4+ other factors (+ family history, other
#   psychological disease), no past substance misuse;
# - specialist MDT: very high = above 120 (oxycodone 50 mg x 2 x 1.5 = 150 mg OME/day) with 3+
#   other factors.
_ALL_ABSENT = {
    "unemployed": False,
    "ae_attendance_recent": False,
    "family_history_dependence": False,
    "history_substance_or_alcohol_misuse": False,
    "preadolescent_sexual_abuse_history": False,
    "depression": False,
    "other_psychological_disease": False,
    "benzodiazepine_coprescribed": False,
    "gabapentinoid_coprescribed": False,
}
_FOUR = {
    "depression": True,
    "unemployed": True,
    "family_history_dependence": True,
    "other_psychological_disease": True,
}
TIER_PATIENTS = {
    "out-of-scope": ({"cancer_pain": True}, 10),
    "letter": ({}, 10),
    "brief-gp-intervention": ({"depression": True, "unemployed": True}, 10),
    "pcn-service": (_FOUR, 10),
    "specialist-mdt": (_FOUR, 50),
}


def test_every_tier_is_reached_below() -> None:
    tiers = load_ruleset(knowledge_dir("rules") / "support-tier.toml").outputs["tier"].values
    assert set(TIER_PATIENTS) == set(tiers)


@pytest.mark.parametrize("tier", sorted(TIER_PATIENTS))
def test_each_tier_names_its_reasons_and_citations(tier: str) -> None:
    facts, oxycodone_mg = TIER_PATIENTS[tier]
    rx = {
        "drug": "oxycodone",
        "form": "modified-release tablet",
        "strength": f"{oxycodone_mg} mg",
        "dose_quantity": 1,
        "dose_unit": "tablet",
        "doses_per_day": 2,
    }
    patient = Patient.model_validate(
        {"age": 50, "sex": "female", **_ALL_ABSENT, **facts, "prescriptions": [rx]}
    )
    a = assess(patient)
    assert a.tier.tier == tier
    assert a.tier.offer
    assert a.tier.next_steps
    report = next(r for r in a.decisions if r.ruleset_id == "support-tier")
    fired = next(d for d in report.decisions if d.rule_id == a.tier.rule_id)
    assert fired.citations
    assert all(c.text.strip() for c in fired.citations)
    assert fired.rationale.strip()
    if tier == "out-of-scope":
        assert a.scope.reason
        assert a.risk_level is None
        return
    assert a.risk_level is not None
    assert a.risk_level.basis
    assert a.risk_level.meaning
    level = next(r for r in a.decisions if r.ruleset_id == "risk-level")
    assert next(d for d in level.decisions if d.rule_id == a.risk_level.rule_id).citations
    for factor in a.factors:  # each factor counted is shown with its evidence and sources
        if factor.status.value == "present":
            assert factor.evidence
            assert factor.citations
