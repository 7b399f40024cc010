"""The quantity/interval method by hand-worked examples; long-term use and current boundaries.

Co-codamol 30mg/500mg: codeine 30 mg per tablet x 0.1 (Opioids Aware) = 3 mg OME per tablet.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from opioidcds import KnowledgeBaseError, default_knowledge
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds.population import PatientRow, default_method, screen
from opioidcds.population.method import load_method

from .helpers import AS_OF, code, day, issues, patients

CC = "Co-codamol 30mg/500mg tablets"
ADULT = patients([{"patient_id": "p", "age": "50"}])


def one(rows: list[tuple[str | None, ...]]) -> PatientRow:
    s = screen(issues(rows), ADULT, as_of=AS_OF)
    assert len(s.rows) == 1
    return s.rows[0]


def cc(
    offset: int, qty: str, text: str | None = None, supply: str | None = None
) -> tuple[str | None, ...]:
    return ("p", day(offset), code(CC), None, qty, text, supply)


def test_even_interval() -> None:
    # 3 x 112 tablets used over the 84 days from the first to the latest issue: 4/day -> 12 mg
    r = one([cc(84, "112"), cc(56, "112"), cc(28, "112"), cc(0, "112")])
    assert r.ome_mg_per_day == Decimal(12)
    assert r.ome_complete
    assert r.ome_method.startswith("quantity-interval: 3 issue(s) before the latest, 84 days")


def test_uneven_interval_rounded_to_ten_places() -> None:
    # (100 + 100) / 70 = 2.857142857142... -> 2.8571428571 tablets/day; x 3 mg = 8.5714285713
    r = one([cc(70, "100"), cc(35, "100"), cc(0, "50")])
    assert r.ome_mg_per_day == Decimal("8.5714285713")


def test_only_issues_in_the_lookback_count() -> None:
    lookback = default_method().lookback_days
    r = one([cc(lookback + 1, "1000"), cc(100, "112"), cc(72, "112"), cc(44, "112"), cc(16, "112")])
    assert r.ome_mg_per_day == Decimal(12)  # 336 tablets over 84 days


@pytest.mark.parametrize(
    ("supply", "expected", "note"),
    [("21", Decimal(12), "days_supply"), (None, Decimal(9), "28 days")],
)
def test_single_issue(supply: str | None, expected: Decimal, note: str) -> None:
    # 84 tablets over 21 days = 4/day -> 12 mg; over the default 28 days = 3/day -> 9 mg
    assert default_method().default_supply_days == 28
    r = one([cc(3, "84", supply=supply)])
    assert r.ome_mg_per_day == expected
    assert note in r.ome_method


def test_dosage_text_wins_when_usable() -> None:
    r = one([cc(56, "112"), cc(28, "112"), cc(0, "112", text="two tablets four times a day")])
    assert r.ome_mg_per_day == Decimal(24)  # 8 tablets x 3 mg
    assert r.ome_method.startswith("dosage-text")


def test_unusable_dosage_text_falls_back_and_says_so() -> None:
    r = one([cc(56, "112"), cc(28, "112"), cc(0, "112", text="as directed by the doctor")])
    assert r.ome_mg_per_day == Decimal(12)
    assert r.ome_method.startswith("quantity-interval: dosage text gives no daily amount")


def test_patch_without_text_is_a_lower_bound() -> None:
    patch = "Fentanyl 25micrograms/hour transdermal patches"
    r = one(
        [
            ("p", day(30), None, patch, "10", None, None),
            ("p", day(2), None, patch, "10", None, None),
        ]
    )
    assert r.ome_mg_per_day == Decimal(60)
    assert not r.ome_complete
    assert r.ome_method.startswith("patch-assumed-one")


def _scope_params() -> tuple[int, int]:
    params = default_knowledge().bound("scope").binding.params
    return int(params["long_term_min_days"]), int(params["long_term_min_issues"])


@pytest.mark.parametrize(
    ("extra_days", "extra_issues", "in_scope"), [(0, 0, False), (1, 0, True), (1, -1, False)]
)
def test_long_term_boundaries(extra_days: int, extra_issues: int, in_scope: bool) -> None:
    days, count = _scope_params()
    first = days + extra_days
    n = count + extra_issues
    offsets = [first] + [first * (n - 1 - k) // max(n - 1, 1) for k in range(1, n)]
    r = one([cc(o, "112") for o in offsets])
    assert r.in_scope is in_scope
    assert r.scope_rule == ("in-scope" if in_scope else "not-long-term")


@pytest.mark.parametrize(("extra", "current"), [(0, True), (1, False)])
def test_current_window(extra: int, current: bool) -> None:
    window = default_method().current_window_days
    last = window + extra
    r = one([cc(last + 200, "112"), cc(last + 100, "112"), cc(last, "112")])
    assert (r.scope_rule != "no-current-opioid") is current


def test_current_benzodiazepine_sets_the_factor() -> None:
    rows = [
        cc(120, "112"),
        cc(60, "112"),
        cc(0, "112"),
        ("p", day(5), None, "Diazepam 5mg tablets", "56", None, None),
    ]
    r = one(rows)
    assert "benzodiazepine" in r.factors_present


def test_method_file_is_checked(tmp_path: Path) -> None:
    good = knowledge_dir("population_method") / "screening.toml"
    text = good.read_text()
    bad = tmp_path / "m.toml"
    bad.write_text(text.replace("window_days = 56", "window_days = 0"))
    with pytest.raises(KnowledgeBaseError, match="window_days"):
        load_method(bad)
    bad.write_text(text.replace('kind = "population-method"', 'kind = "ruleset"'))
    with pytest.raises(KnowledgeBaseError, match="kind"):
        load_method(bad)
    bad.write_text(text.replace('"nhs-28-day", "opioidcds-current"', '"nowhere"'))
    with pytest.raises(KnowledgeBaseError, match="citation"):
        load_method(bad)
    assert load_method(good) == default_method()
