"""Differential test: the fast engine's rows equal those built from ``assess`` for every patient.

The fast engine shares rule evaluations between patients with equivalent inputs and mirrors
assess's derivations without traces; ``engine="assess"`` calls
:func:`opioidcds.assess` on each patient built by the same builder. Both must give
identical rows, on seeded synthetic practices and on hypothesis-generated extracts (with odd
products, unusable dosage texts, short histories and unknowns), with and without a profile.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from opioidcds import assess, default_knowledge, load_profile
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds.population import project_assessment, screen
from opioidcds.population.build import Issue, build_patient, resolve_product
from opioidcds.population.method import default_method
from opioidcds.population.synthetic import generate

from .helpers import AS_OF, ISSUE_HEAD

_PRODUCTS = (
    (
        "Co-codamol 30mg/500mg tablets",
        ("two tablets four times a day", "as directed", "1-2 tablets qds prn"),
    ),
    ("Oxycodone 40mg modified-release tablets", ("one tablet twice a day", "one every 12 hours")),
    (
        "Morphine sulfate 10mg/5ml oral solution",
        ("5ml four times a day", "10mg every 4 hours when required"),
    ),
    (
        "Fentanyl 25micrograms/hour transdermal patches",
        ("apply one patch every 72 hours", "two patches every 3 days"),
    ),
    ("Tramadol 50mg capsules", ("one or two capsules four times a day",)),
    ("Methadone 1mg/ml oral solution", ("30ml daily",)),
    ("Diazepam 5mg tablets", ("one tablet at night",)),
    ("Pregabalin 75mg capsules", ("one capsule twice a day",)),
)


def _same(a: tuple[object, ...], b: tuple[object, ...]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x == y


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_synthetic_practice_fast_equals_assess(seed: int) -> None:
    pop = generate(250, seed=seed)
    fast = screen(pop.issues, pop.patients, as_of=pop.as_of)
    slow = screen(pop.issues, pop.patients, as_of=pop.as_of, engine="assess")
    _same(fast.rows, slow.rows)
    assert fast.counts == slow.counts


def test_with_a_profile_fast_equals_assess() -> None:
    profile = load_profile(knowledge_dir("rules") / "profiles" / "opioids-aware-90.toml")
    pop = generate(200, seed=7)
    fast = screen(pop.issues, pop.patients, as_of=pop.as_of, profile=profile)
    slow = screen(pop.issues, pop.patients, as_of=pop.as_of, profile=profile, engine="assess")
    _same(fast.rows, slow.rows)
    plain = screen(pop.issues, pop.patients, as_of=pop.as_of)
    assert fast.rows != plain.rows  # the profile's threshold does change some results


def test_assess_engine_is_assess_itself() -> None:
    """Rows of engine "assess" are assess() on the builder's patient, projected."""
    pop = generate(40, seed=11)
    s = screen(pop.issues, pop.patients, as_of=pop.as_of, engine="assess")
    attrs = {
        r["patient_id"]: {k: v for k, v in r.items() if v not in (None, "") and k != "patient_id"}
        for r in pop.patients.to_dicts()
    }
    by_id = {r.patient_id: r for r in s.rows}
    kb = default_knowledge()
    for pid, group in pop.issues.group_by("patient_id"):
        issues = []
        for n, rec in enumerate(group.sort("issue_date").to_dicts()):
            issues.append(
                Issue(
                    row=n,
                    issue_date=dt.date.fromisoformat(rec["issue_date"]),
                    resolved=resolve_product(rec["dmd_code"] or None, rec["product_name"] or None),
                    quantity=__import__("decimal").Decimal(rec["quantity"]),
                    dosage_text=rec["dosage_text"] or None,
                    days_supply=int(rec["days_supply"]) if rec["days_supply"] else None,
                )
            )
        a = attrs.get(str(pid[0]), {})
        typed = {k: _typed(k, v) for k, v in a.items()}
        built = build_patient(issues, typed, as_of=pop.as_of, method=default_method())
        assert built.patient is not None
        expected = project_assessment(str(pid[0]), built, assess(built.patient, knowledge=kb))
        assert by_id[str(pid[0])] == expected


def _typed(key: str, value: str) -> object:
    if key == "age":
        return int(value)
    if value in ("true", "false"):
        return value == "true"
    return value


_day = st.integers(min_value=0, max_value=420)


@st.composite
def _extracts(draw: st.DrawFn) -> tuple[pl.DataFrame, pl.DataFrame]:
    n_patients = draw(st.integers(min_value=1, max_value=8))
    rows: list[tuple[str | None, ...]] = []
    people = []
    for p in range(n_patients):
        pid = f"h{p}"
        for _ in range(draw(st.integers(min_value=1, max_value=8))):
            name, texts = draw(st.sampled_from(_PRODUCTS))
            rows.append(
                (
                    pid,
                    (AS_OF - dt.timedelta(days=draw(_day))).isoformat(),
                    None,
                    name,
                    str(draw(st.integers(min_value=1, max_value=300))),
                    draw(st.none() | st.sampled_from(texts)),
                    draw(st.sampled_from((None, "7", "28", "56"))),
                )
            )
        tri = st.sampled_from((None, "true", "false"))
        people.append(
            {
                "patient_id": pid,
                "age": draw(st.none() | st.integers(min_value=15, max_value=99).map(str)),
                "sex": draw(st.sampled_from((None, "male", "female"))),
                "depression": draw(tri),
                "unemployed": draw(tri),
                "history_substance_or_alcohol_misuse": draw(tri),
                "ae_attendance_recent": draw(tri),
                "benzodiazepine_coprescribed": draw(tri),
                "gabapentinoid_coprescribed": draw(tri),
                "family_history_dependence": draw(tri),
                "preadolescent_sexual_abuse_history": draw(tri),
                "other_psychological_disease": draw(tri),
                "opioid_substitution_therapy": draw(tri),
                "cancer_pain": draw(st.sampled_from((None, "false", "true"))),
                "palliative_care": draw(st.sampled_from((None, "false", "true"))),
                # some after the as-of date (Patient refuses them: not screened)
                "last_ae_attendance": draw(
                    st.none()
                    | st.integers(min_value=-30, max_value=800).map(
                        lambda d: (AS_OF - dt.timedelta(days=d)).isoformat()
                    )
                ),
                "readiness_to_change": draw(
                    st.sampled_from((None, "ready", "considering", "not-considering"))
                ),
            }
        )
    issues = pl.DataFrame(
        {h: [r[i] for r in rows] for i, h in enumerate(ISSUE_HEAD)},
        schema=dict.fromkeys(ISSUE_HEAD, pl.String),
    )
    keys = list(people[0])
    table = pl.DataFrame(
        {k: [p[k] for p in people] for k in keys}, schema=dict.fromkeys(keys, pl.String)
    )
    return issues, table


@given(_extracts())
def test_generated_extracts_fast_equals_assess(extract: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    issues, table = extract
    fast = screen(issues, table, as_of=AS_OF)
    slow = screen(issues, table, as_of=AS_OF, engine="assess")
    _same(fast.rows, slow.rows)


def test_several_processes_give_the_same_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    from opioidcds.population import engine  # noqa: PLC0415

    monkeypatch.setattr(engine, "_PARALLEL_MIN_PATIENTS", 0)
    pop = generate(300, seed=5)
    one = screen(pop.issues, pop.patients, as_of=pop.as_of)
    two = screen(pop.issues, pop.patients, as_of=pop.as_of, workers=2)
    assert one.rows == two.rows
    assert one.counts == two.counts
