"""Funnel limits and practice trends by hand-worked examples.

Funnel (Spiegelhalter 2005; population_method/evaluation.toml): exact binomial limits with
interpolation: r_p = smallest r with P(Y <= r) >= p; alpha = (P(Y <= r_p) - p) /
(P(Y <= r_p) - P(Y <= r_p - 1)); limit = (r_p - alpha)/n.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import polars as pl
import pytest

from opioidcds import InvalidInputError, KnowledgeBaseError
from opioidcds.population import default_evaluation_method, load_evaluation_method
from opioidcds.population.funnel import binomial_limit, funnel
from opioidcds.population.trends import month_ends, read_list_sizes

D = Decimal


def _cdf(n: int, theta: float, r: int) -> float:
    return sum(math.comb(n, k) * theta**k * (1 - theta) ** (n - k) for k in range(r + 1))


def test_binomial_limit_by_hand() -> None:
    # n = 10, target 0.2. P(Y <= 4) = 0.967207, P(Y <= 5) = 0.993631 (sums of C(10,k)
    # 0.2^k 0.8^(10-k)). Upper 97.5%: r = 5; alpha = (0.993631 - 0.975)/(0.993631 - 0.967207)
    # = 0.018631/0.026424 = 0.70507; limit = (5 - 0.70507)/10 = 0.429493
    assert _cdf(10, 0.2, 4) == pytest.approx(0.967207, abs=1e-6)
    assert _cdf(10, 0.2, 5) == pytest.approx(0.993631, abs=1e-6)
    assert binomial_limit(10, 0.2, 0.975) == pytest.approx(0.429493, abs=1e-6)
    # lower 2.5%: P(Y <= 0) = 0.8^10 = 0.107374 >= 0.025, so r = 0 and P(Y <= -1) = 0:
    # alpha = (0.107374 - 0.025)/0.107374 = 0.7672; (0 - 0.7672)/10 < 0 -> kept at 0
    assert binomial_limit(10, 0.2, 0.025) == 0.0
    # a target of 0 or 1 is its own limit
    assert binomial_limit(50, 0.0, 0.975) == 0.0
    with pytest.raises(InvalidInputError):
        binomial_limit(0, 0.2, 0.975)


def test_binomial_limits_agree_with_the_worked_example_of_the_research_note() -> None:
    # 3.0% target, n = 500: 95% exact 1.488%-4.488%, 99.8% exact 0.828%-5.520%
    assert binomial_limit(500, 0.03, 0.025) * 100 == pytest.approx(1.488, abs=5e-4)
    assert binomial_limit(500, 0.03, 0.975) * 100 == pytest.approx(4.488, abs=5e-4)
    assert binomial_limit(500, 0.03, 0.001) * 100 == pytest.approx(0.828, abs=5e-4)
    assert binomial_limit(500, 0.03, 0.999) * 100 == pytest.approx(5.520, abs=5e-4)


def test_funnel_target_is_the_pooled_rate_and_positions_by_limits() -> None:
    meth = default_evaluation_method()
    # pooled: (22 + 80 + 300) / (500 + 2000 + 8000) = 402 / 10500 = 38.2857 per 1,000
    f = funnel("x", "x", {"A": (22, 500), "B": (80, 2000), "C": (300, 8000)}, meth)
    assert f.target == D(402) * 1000 / 10500
    rates = {p.practice: p.rate for p in f.points}
    assert rates == {"A": D(44), "B": D(40), "C": D("37.5")}  # 22/500, 80/2000, 300/8000
    target = 402 / 10500
    for p in f.points:
        for (label, low, high), (lo_p, hi_p) in zip(p.limits, meth.funnel_limits, strict=True):
            assert low == pytest.approx(binomial_limit(p.size, target, float(lo_p)) * 1000)
            assert high == pytest.approx(binomial_limit(p.size, target, float(hi_p)) * 1000)
            assert label in ("95%", "99.8%")
        assert p.position == "within"
    # a practice far above: 60 of 500 = 120 per 1,000, beyond the 99.8% limit
    f = funnel("x", "x", {"A": (60, 500), "B": (80, 2000), "C": (300, 8000)}, meth)
    assert next(p for p in f.points if p.practice == "A").position == "above 99.8%"
    assert funnel("x", "x", {}, meth).status == "cannot-evaluate"
    with pytest.raises(InvalidInputError):
        funnel("x", "x", {"A": (600, 500)}, meth)


def test_month_ends() -> None:
    # 2026-11-01 is not a month's last day: October is the latest complete month
    assert month_ends(dt.date(2026, 11, 1), 3) == [
        dt.date(2026, 8, 31), dt.date(2026, 9, 30), dt.date(2026, 10, 31),
    ]  # fmt: skip
    assert month_ends(dt.date(2026, 2, 28), 2) == [dt.date(2026, 1, 31), dt.date(2026, 2, 28)]
    assert month_ends(dt.date(2025, 1, 15), 1) == [dt.date(2024, 12, 31)]


def test_list_sizes_per_practice_and_month() -> None:
    frame = pl.DataFrame(
        {
            "practice_id": ["P1", "P1", "P2", "P3", "P4", "P5", "P5"],
            "list_size": ["8000", "8100", "abc", "0", "5000", "4000", "4100"],
            "month": ["", "2026-10", "", "", "2026-13", "", ""],
        }
    )
    sizes, problems = read_list_sizes(frame)
    assert sizes.get("P1", dt.date(2026, 9, 30)) == 8000
    assert sizes.get("P1", dt.date(2026, 10, 31)) == 8100
    assert sizes.get("P2", dt.date(2026, 10, 31)) is None  # never a guess
    assert [(p.row, p.reason.split(" ")[0]) for p in problems] == [
        (3, "list_size"), (4, "list_size"), (5, "month"), (6, "another"), (7, "another"),
    ]  # fmt: skip
    mapping, none = read_list_sizes({"P9": 1200})
    assert (mapping.get("P9", dt.date(2026, 1, 31)), none) == (1200, ())
    with pytest.raises(InvalidInputError, match="missing required column"):
        read_list_sizes(pl.DataFrame({"practice_id": ["P1"]}))


def test_evaluation_method_file_is_checked(tmp_path: pytest.TempPathFactory) -> None:
    from opioidcds._knowledge.paths import knowledge_dir  # noqa: PLC0415

    text = (knowledge_dir("population_method") / "evaluation.toml").read_text("utf-8")
    path = tmp_path / "evaluation.toml"  # type: ignore[operator]
    path.write_text(text.replace("follow_up_min_days = 90", "follow_up_min_days = 30"), "utf-8")
    with pytest.raises(KnowledgeBaseError, match="windows"):
        load_evaluation_method(path)
    path.write_text(text.replace('["0.001", "0.999"]', '["0.001", "0.9"]'), "utf-8")
    with pytest.raises(KnowledgeBaseError, match="funnel limit"):
        load_evaluation_method(path)


def _code(name: str) -> str:
    from opioidcds import load_catalogue  # noqa: PLC0415

    return load_catalogue().by_name(name).dmd_code


def _every_28(pid: str, first: dt.date, last: dt.date, product: str, text: str, qty: str,
              practice: str) -> list[tuple[str, ...]]:  # fmt: skip
    out: list[tuple[str, ...]] = []
    day = first
    while day <= last:
        out.append((pid, day.isoformat(), _code(product), qty, text, "28", practice))
        day += dt.timedelta(days=28)
    return out


def test_practice_months_by_hand() -> None:
    from opioidcds.population import default_outcomes_method  # noqa: PLC0415
    from opioidcds.population.trends import ListSizes, practice_months  # noqa: PLC0415

    mor, oxy = "Morphine 30mg modified-release tablets", "Oxycodone 40mg modified-release tablets"
    end = dt.date(2026, 9, 25)
    rows = (
        # L (P1): oxycodone 40 mg MR two tablets twice a day: 160 mg x 1.5 = 240 mg OME/day,
        # above the high-dose threshold (120), long-term all along
        _every_28("L", dt.date(2025, 6, 1), end, oxy, "two tablets twice a day", "112", "P1")
        # S (P1): morphine 30 mg twice a day = 60; first issue 2026-05-20: at 2026-07-31 72
        # days (not long-term), at 2026-08-31 103 days and 4 issues: long-term in August;
        # 2026-05-20 is 353 days after the history start (2025-06-01), under the 365-day
        # look-back: "history too short to tell"
        + _every_28("S", dt.date(2026, 5, 20), end, mor, "one tablet twice a day", "56", "P1")
        # N (P1): first issue 2026-06-02 (366 days after the history start): at 2026-08-31 90
        # days (not more than 91), at 2026-09-30 120 days and 5 issues: a new long-term start
        # in September
        + _every_28("N", dt.date(2026, 6, 2), end, mor, "one tablet twice a day", "56", "P1")
        # M (P2): morphine 60 mg/day, long-term all along
        + _every_28("M", dt.date(2025, 6, 1), end, mor, "one tablet twice a day", "56", "P2")
    )
    head = ("patient_id", "issue_date", "dmd_code", "quantity", "dosage_text", "days_supply",
            "practice_id")  # fmt: skip
    issues = pl.DataFrame({h: [r[i] for r in rows] for i, h in enumerate(head)})
    months = [dt.date(2026, 7, 31), dt.date(2026, 8, 31), dt.date(2026, 9, 30)]
    out, screenings = practice_months(
        issues,
        None,
        ListSizes({"P1": 2000, "P2": 1000}, {}),
        months=months,
        method=default_evaluation_method(),
        outcomes_method=default_outcomes_method(),
        history_from=dt.date(2025, 6, 1),
    )
    assert set(screenings) == {dt.date(2026, 6, 30), *months}
    got = {
        (r.practice, r.month.month): (r.long_term, r.high_dose, r.new_long_term, r.new_unknown)
        for r in out
    }
    assert got == {
        ("P1", 7): (1, 1, 0, 0), ("P1", 8): (2, 1, 0, 1), ("P1", 9): (3, 1, 1, 0),
        ("P2", 7): (1, 0, 0, 0), ("P2", 8): (1, 0, 0, 0), ("P2", 9): (1, 0, 0, 0),
        ("all practices", 7): (2, 1, 0, 0), ("all practices", 8): (3, 1, 0, 1),
        ("all practices", 9): (4, 1, 1, 0),
    }  # fmt: skip
    p1 = next(r for r in out if r.practice == "P1" and r.month.month == 9)
    # per 1,000 registered: 3 / 2000 x 1000 = 1.5; high dose 1 / 2000 x 1000 = 0.5
    assert (p1.list_size, p1.long_term_rate, p1.high_dose_rate) == (2000, D("1.5"), D("0.5"))
    # daily OMEs 240, 60, 60 -> median 60
    assert p1.median_ome is not None
    assert p1.median_ome.median == D(60)
    everyone = next(r for r in out if r.practice == "all practices" and r.month.month == 9)
    assert everyone.list_size == 3000
    assert everyone.long_term_rate == D(4) * 1000 / 3000  # 1.333... per 1,000
    # without P2's list size its rate is unknown, never a guess, and so is the pooled one
    out, _ = practice_months(
        issues, None, ListSizes({"P1": 2000}, {}), months=months[-1:],
        method=default_evaluation_method(), outcomes_method=default_outcomes_method(),
    )  # fmt: skip
    rates = {r.practice: r.long_term_rate for r in out}
    assert rates == {"P1": D("1.5"), "P2": None, "all practices": None}
