"""Hazard HAZ-011 (control C2): every result names the library and every knowledge source it
used, with a content hash of that knowledge; results are byte-identical JSON across runs,
processes and ``PYTHONHASHSEED`` values; any change of one knowledge value changes the hash.

What the hash covers, and how an integrator records it: docs/safety/provenance.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

from opioidcds import (
    AcuteEpisode,
    Patient,
    Prescription,
    Provenance,
    __version__,
    assess,
    calculate_ome,
    check_discharge,
    check_inpatient,
    check_prescription,
    load_catalogue,
    load_knowledge,
    load_profile,
    load_table,
    load_taper_knowledge,
    load_vocabulary,
    taper_plan,
)
from opioidcds._decide.knowledge import REQUIRED_RULESETS
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds._knowledge.provenance import file_source
from opioidcds.population.engine import screen

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SEEDS = ("0", "31337", "random")

# One process's results over every public entry point, one JSON document per line: OME
# (both tables, a dm+d product), assess (with and without a profile), check_prescription,
# a taper plan, a discharge check and a screening of the bundled synthetic practice.
SCRIPT = """
import dataclasses, datetime as dt, json, sys
from pathlib import Path
from opioidcds import AcuteEpisode, assess, check_episode, check_prescription, default_knowledge
from opioidcds.cli.assess_cmd import parse_check, parse_patient
from opioidcds.cli.ome_cmd import parse_prescriptions
from opioidcds.cli.taper_cmd import parse_request
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds._measure.ome import calculate_ome
from opioidcds.population.engine import screen
from opioidcds._decide.rules import load_profile
from opioidcds._decide.taper import taper_plan

ex = Path(sys.argv[1])
def load(name):
    return json.loads((ex / name).read_text(encoding="utf-8"), parse_float=str)
def out(text):
    sys.stdout.write(text + "\\n")

rxs = parse_prescriptions(load("patient-example.json"))
for table in ("uk-opioids-aware", "cdc-2022"):
    out(calculate_ome(rxs, table=table).model_dump_json())
episode = load("discharge-example.json")
episode.pop("description")
dmd = [d["prescription"] for d in episode["discharge_prescriptions"][:2]]
out(calculate_ome(parse_prescriptions(dmd)).model_dump_json())
patient = parse_patient(load("patient-assess.json"))
profile = load_profile(knowledge_dir("rules") / "profiles" / "opioids-aware-90.toml")
out(assess(patient).model_dump_json())
out(assess(patient, profile=profile).model_dump_json())
who, new, reauth = parse_check(load("patient-check.json"))
for alert in check_prescription(who, new, reauthorisation=reauth):
    out(alert.model_dump_json())
taper_rxs, request = parse_request(load("taper-example.json"))
out(taper_plan(taper_rxs, start=request.start, hold_points=request.hold_points,
               pace=request.pace).model_dump_json())
out(check_episode(AcuteEpisode.model_validate(episode)).model_dump_json())
s = screen(ex / "population" / "issues.csv", ex / "population" / "patients.csv",
           as_of=dt.date(2026, 11, 22))
out(json.dumps({"rows": [dataclasses.asdict(r) for r in s.rows],
                "problems": [dataclasses.asdict(p) for p in s.problems],
                "counts": dict(s.counts), "versions": dict(s.versions),
                "provenance": s.provenance.model_dump(mode="json")}, default=str))
"""


def _run(seed: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(EXAMPLES)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


def test_results_are_byte_identical_across_processes_and_hash_seeds() -> None:
    procs = {seed: _run(seed) for seed in SEEDS}  # three processes at once
    outputs: dict[str, bytes] = {}
    for seed, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr.decode("utf-8", "replace")[-2000:]
        outputs[seed] = stdout
    first = outputs[SEEDS[0]]
    assert all(out == first for out in outputs.values()), "JSON differs between processes"
    lines = first.decode("utf-8").splitlines()
    # 3 OME + 2 assessments + at least one alert + plan + discharge + screening
    assert len(lines) >= 9
    for line in lines:
        prov = Provenance.model_validate(json.loads(line)["provenance"])
        assert prov.library_version == __version__
        assert len(prov.knowledge_sha256) == 64
    # the same knowledge in this process (a fourth run) gives the same provenance
    here = calculate_ome([Prescription.model_validate(_OXY)]).provenance
    assert json.loads(lines[0])["provenance"]["knowledge_sha256"] == here.knowledge_sha256


# --- what each result lists -------------------------------------------------------------------

_OXY = {
    "drug": "oxycodone",
    "form": "modified-release tablet",
    "strength": "40 mg",
    "dose_quantity": 1,
    "dose_unit": "tablet",
    "doses_per_day": 2,
}


def _kinds(prov: Provenance) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for s in prov.knowledge:
        out.setdefault(s.kind, []).append(s.id)
    return out


def _patient(**extra: Any) -> Patient:
    fields: dict[str, Any] = {"age": 60, "sex": "female", "prescriptions": [_OXY], **extra}
    return Patient.model_validate(fields)


def test_ome_result_names_table_vocabulary_and_catalogue_when_consulted() -> None:
    # the dose units (count groups of a dosage text) are knowledge of every vocabulary reading
    plain = calculate_ome([Prescription(**_OXY)]).provenance
    assert _kinds(plain) == {
        "conversion-table": ["uk-opioids-aware"],
        "vocabulary": ["forms", "ingredients", "plausibility"],
        "dose-units": ["dose-units"],
    }
    table = plain.sources("conversion-table")[0]
    assert (table.version, table.effective_date) == ("1.1.1", "2026-12-04")
    # a prescription by dm+d code consults the bundled catalogue: it is then listed
    by_code = calculate_ome(
        [
            Prescription(
                dmd_code="36129511000001101", dose_quantity=1, dose_unit="tablet", doses_per_day=2
            )
        ]
    ).provenance
    assert _kinds(by_code)["catalogue"] == ["uk-dmd-opioids"]
    assert by_code.knowledge_sha256 != plain.knowledge_sha256
    # the catalogue's own effective date (catalogue/catalogue.toml, read independently)
    header = tomllib.loads(
        (knowledge_dir("catalogue") / "catalogue.toml").read_text(encoding="utf-8")
    )
    assert by_code.sources("catalogue")[0].effective_date == str(header["effective_date"])
    # a catalogue passed by the caller is listed even when no prescription names a product
    passed = calculate_ome([Prescription(**_OXY)], catalogue=load_catalogue()).provenance
    assert passed == by_code
    assert (
        calculate_ome([Prescription(**_OXY)], table="cdc-2022")
        .provenance.sources("conversion-table")[0]
        .id
        == "cdc-2022"
    )


def test_every_result_type_carries_its_provenance() -> None:
    patient = _patient()
    assessment = assess(patient).provenance
    kinds = _kinds(assessment)
    assert sorted(kinds["ruleset"]) == sorted(REQUIRED_RULESETS)
    assert kinds["medicine-classes"] == [
        "dmd-opioid-brands",
        "dmd-opioid-catalogue-review",
        "medicine-classes",
    ]
    assert "profile" not in kinds
    assert "catalogue" not in kinds  # no record names a dm+d product
    profile = load_profile(knowledge_dir("rules") / "profiles" / "opioids-aware-90.toml")
    with_profile = assess(patient, profile=profile).provenance
    assert _kinds(with_profile)["profile"] == ["opioids-aware-90"]
    assert with_profile.knowledge_sha256 != assessment.knowledge_sha256
    new = Prescription(**{**_OXY, "strength": "10 mg"})
    alerts = check_prescription(patient, new)
    assert alerts, "expected at least one alert (OME 120 + 30 mg/day)"
    assert all(a.provenance == assessment for a in alerts)

    plan = taper_plan([Prescription(**_OXY)], start=dt.date(2027, 1, 4)).provenance
    assert _kinds(plan) == {
        "catalogue": ["uk-dmd-opioids"],
        "conversion-table": ["uk-opioids-aware"],
        "taper": ["taper-defaults"],
        "vocabulary": ["forms", "ingredients", "plausibility"],
        "dose-units": ["dose-units"],
    }
    now = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)
    discharge = check_discharge(
        AcuteEpisode(
            care_setting="discharge",
            discharge_prescriptions=[{"prescription": _OXY, "days_supply": 5}],
        ),
        profile=knowledge_dir("rules") / "profiles" / "example-acute-trust.toml",
    ).provenance
    dk = _kinds(discharge)
    assert dk["ruleset"] == ["discharge"]
    assert dk["profile"] == ["example-acute-trust"]
    assert {"conversion-table", "vocabulary", "medicine-classes"} <= set(dk)
    inpatient = check_inpatient(
        AcuteEpisode(care_setting="inpatient", assessment_time=now)
    ).provenance
    assert _kinds(inpatient) == {
        "ruleset": ["inpatient"],
        "vocabulary": ["forms", "ingredients", "plausibility"],
        "dose-units": ["dose-units"],
    }
    screening = screen(EXAMPLES / "population" / "issues.csv").provenance
    sk = _kinds(screening)
    assert "worklist-priority" in sk["ruleset"]
    assert sk["screening-method"] == ["population-screening"]
    assert sk["catalogue"] == ["uk-dmd-opioids"]
    method_header = tomllib.loads(
        (knowledge_dir("population_method") / "screening.toml").read_text(encoding="utf-8")
    )
    (method,) = screening.sources("screening-method")
    assert method.effective_date == str(method_header["effective_date"])


def test_provenance_is_computed_once_per_bundle() -> None:
    a = calculate_ome([Prescription(**_OXY)])
    b = calculate_ome([Prescription(**{**_OXY, "doses_per_day": 3})])
    assert a.provenance is b.provenance
    patient = _patient()
    assert assess(patient).provenance is assess(_patient(age=70)).provenance


def test_documented_hash_construction() -> None:
    """Recompute the hashes the way docs/safety/provenance.md describes, independently."""
    prov = assess(_patient()).provenance
    listed = sorted(
        (s.model_dump(mode="json") for s in prov.knowledge),
        key=lambda s: (s["kind"], s["id"], s["version"], s["sha256"]),
    )
    canonical = json.dumps(listed, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    assert prov.knowledge_sha256 == hashlib.sha256(canonical.encode("ascii")).hexdigest()
    rules = knowledge_dir("rules")
    for source in prov.sources("ruleset"):  # rulesets: SHA-256 of the file's bytes
        raw = (rules / f"{source.id}.toml").read_bytes()
        assert source.sha256 == hashlib.sha256(raw).hexdigest(), source.id
    brands = next(s for s in prov.knowledge if s.id == "dmd-opioid-brands")
    raw = (knowledge_dir("catalogue") / "brands.toml").read_bytes()
    assert brands.sha256 == hashlib.sha256(raw).hexdigest()
    text = prov.model_dump_json()
    assert str(ROOT) not in text  # no paths: the same knowledge anywhere gives the same hash


# --- a change of one knowledge value changes the hash ---------------------------------------


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} not found once in {path.name}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_hash_changes_when_one_factor_changes_in_a_copied_table(tmp_path: Path) -> None:
    copy = tmp_path / "conversion_tables"
    shutil.copytree(knowledge_dir("conversion_tables"), copy)
    rx = [Prescription(**_OXY)]
    bundled = calculate_ome(rx).provenance
    # an unedited copy elsewhere on disk is the same knowledge: the same hash
    same = calculate_ome(
        rx, table=load_table(copy / "uk-opioids-aware.toml"), vocabulary=load_vocabulary(copy)
    )
    assert same.provenance == bundled
    # one factor edited (oxycodone oral 1.5 -> 2), version left unchanged: a new hash
    table_text = (copy / "uk-opioids-aware.toml").read_text(encoding="utf-8")
    start = table_text.index('ingredient = "oxycodone"\nroute = "oral"')
    edited = table_text[:start] + table_text[start:].replace('factor = "1.5"', 'factor = "2"', 1)
    (copy / "uk-opioids-aware.toml").write_text(edited, encoding="utf-8")
    changed = calculate_ome(
        rx, table=load_table(copy / "uk-opioids-aware.toml"), vocabulary=load_vocabulary(copy)
    )
    # 40 mg x 2 tablets = 80 mg oxycodone/day; x 2 (edited factor) = 160 mg OME/day
    assert changed.total_mg_per_day == Decimal(160)
    assert changed.table_version == "1.1.1"
    assert changed.provenance.knowledge_sha256 != bundled.knowledge_sha256
    old_t, new_t = (
        bundled.sources("conversion-table")[0],
        changed.provenance.sources("conversion-table")[0],
    )
    assert (old_t.id, old_t.version) == (new_t.id, new_t.version)
    assert old_t.sha256 != new_t.sha256
    assert bundled.sources("vocabulary") == changed.provenance.sources("vocabulary")
    # one plausibility limit edited: the vocabulary entry and the hash change
    _edit(copy / "plausibility.toml", "version = ", 'notes = ["edited"]\nversion = ')
    vocab = calculate_ome(rx, vocabulary=load_vocabulary(copy)).provenance
    assert vocab.knowledge_sha256 != bundled.knowledge_sha256


def test_hash_changes_when_a_ruleset_or_profile_changes(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(knowledge_dir("rules"), rules)
    patient = _patient()
    bundled = assess(patient).provenance
    assert assess(patient, knowledge=load_knowledge(rules)).provenance == bundled
    _edit(
        rules / "support-tier.toml",
        "Send the practice's opioid information letter",
        "Send the practice's pain medicines information letter",
    )
    edited = assess(patient, knowledge=load_knowledge(rules)).provenance
    assert edited.knowledge_sha256 != bundled.knowledge_sha256
    profile_path = rules / "profiles" / "opioids-aware-90.toml"
    before = assess(patient, profile=load_profile(profile_path)).provenance
    _edit(  # 92 keeps the profile's own examples true (its reminder example is at 95)
        profile_path,
        "reminder_high_dose_mg_per_day]\nvalue = 90",
        "reminder_high_dose_mg_per_day]\nvalue = 92",
    )
    after = assess(patient, profile=load_profile(profile_path)).provenance
    assert after.knowledge_sha256 != before.knowledge_sha256
    assert before.sources("profile")[0].version == after.sources("profile")[0].version


def test_hash_changes_when_the_catalogue_or_taper_knowledge_changes(tmp_path: Path) -> None:
    folder = tmp_path / "catalogue"
    shutil.copytree(knowledge_dir("catalogue"), folder)
    rx = [Prescription(**_OXY)]
    bundled = calculate_ome(rx, catalogue=load_catalogue()).provenance
    assert calculate_ome(rx, catalogue=load_catalogue(folder)).provenance == bundled
    _edit(
        folder / "uk-dmd-opioids.csv",
        "fields are those of its successor Fentanyl 1.6mg lozenges.",
        "fields are those of its successor Fentanyl 1.6mg lozenges (edited).",
    )
    edited = calculate_ome(rx, catalogue=load_catalogue(folder)).provenance
    assert edited.knowledge_sha256 != bundled.knowledge_sha256
    taper_file = tmp_path / "taper.toml"
    shutil.copy(knowledge_dir("conversion_tables") / "taper.toml", taper_file)
    start = dt.date(2027, 1, 4)
    default_plan = taper_plan(rx, start=start)
    _edit(taper_file, 'reduction = "0.10"', 'reduction = "0.25"')
    plan = taper_plan(rx, start=start, knowledge=load_taper_knowledge(taper_file))
    assert plan.provenance.knowledge_sha256 != default_plan.provenance.knowledge_sha256


def test_file_source_for_knowledge_read_from_files(tmp_path: Path) -> None:
    """The helper the CDS Hooks service can use for its codelists: bytes hashed, header read."""
    cards = knowledge_dir("codelists") / "cards.toml"
    source = file_source("codelist", cards)
    header = tomllib.loads(cards.read_text(encoding="utf-8"))  # read independently
    assert (source.id, source.version, source.effective_date) == (
        header["id"],
        header["version"],
        str(header["effective_date"]),
    )
    assert source.sha256 == hashlib.sha256(cards.read_bytes()).hexdigest()
    copy = tmp_path / "cards.toml"
    copy.write_bytes(cards.read_bytes() + b"\n# a comment is a change of the file\n")
    assert file_source("codelist", copy).sha256 != source.sha256
