"""The dosage grammar on the development half of real UK GP dosage text (issue 16).

The corpus is ``../shared/reference/dosage_real/dev.jsonl.gz`` (beside the repository, as in
CI; its README gives the sources, the caveats and the licence: testing use only). The test
prints coverage, agreement with the corpus labels and speed, as
``benchmarks/bench_dosage_real.py`` defines them (one definition, shared), and fails when:

* coverage or agreement falls below the floors reached when issue 16 was built;
* a text is read to a daily amount that disagrees with its label and is not a reviewed
  exception in ``data/real_corpus_exceptions.tsv`` (or its reading differs from the reviewed
  one, or an exception no longer disagrees: the file must be reviewed again);
* one of the texts issue 16 found read to a wrong daily amount is read wrongly again (these
  are quoted below and need no corpus).

Without the corpus beside the checkout the corpus tests are skipped, saying so (it may not be
copied into the repository); the texts quoted below run everywhere.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from opioidcds import Dosage, parse_dosage
from opioidcds._resolve.dosage import clear_dosage_cache

_BENCH_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_dosage_real.py"

# The floors: what issue 16 reached on the development half (third round, 2026-12-05); a
# regression below either fails. Raise them when the reader improves; never lower them without a
# review. The second round read 438 more texts (68.3% -> 70.9%) and moved both agreement
# figures down a little (98.18% -> 98.06%; 99.62% -> 99.56%): every new disagreement is a
# reviewed row of the exceptions file: label errors, and 9 texts whose label counts another
# unit (5 mL spoonfuls where the reading counts mL) or follows CPRD's convention (the lower
# interval, the average under a maximum frequency). The third round reads a first (loading)
# dose before the regular dosage ("2 IMMEDIATELY THEN 1 DAILY"), "after each loose stool" with
# its daily maximum, "2X5ML", "when required to 8 every day", patch wording (165 more texts,
# 70.9% -> 71.9%); its 15 new disagreements are reviewed rows too (CPRD adds the first dose to
# every day's, takes it as the daily amount, or averages the course), so the plain agreement
# floor moved from 0.980 to 0.979 while no reading is wrong. Reviewed: issue 16, third round.
# The fourth round reads 202 more texts of the long tail (71.9% -> 73.1%: a letter for a digit,
# "ON" at night, a trailing "MAX", "/" between timed doses, patch sites, typos of one reading,
# cautions and advice as notes); its 24 new disagreements are all reviewed label errors (CPRD
# reads "1OML" as 1, misses "every second/third day" and "TWICW", adds a dose for "DON'T CHEW"),
# so the plain agreement floor moved from 0.979 to 0.977 and the figure with the label errors
# set aside stayed at 99.56%. Reviewed: issue 16, fourth round.
# The fifth round reads a dose that goes up over time up to its highest step (titrations, "1
# EVERY NIGHT FOR 1 WEEK THEN 2 EVERY NIGHT": 43 more texts; CPRD labels the last step, which is
# the highest, so they agree) and refuses one that goes down (a taper: no one daily amount the
# patient stays on; NHS England's tests say it must not be mapped). Two whole dosages joined by
# "or" are read as a range too (8 texts, all agreeing). With the label errors set aside, still
# 99.56%. Reviewed: issue 16, fifth round.
COVERAGE_FLOOR = 0.733  # 12,408 of 16,908 texts read to a daily amount (73.4%)
AGREEMENT_FLOOR = 0.977  # 11,881 of 12,148 labelled readings agree (97.80%)
AGREEMENT_WHERE_LABEL_RIGHT_FLOOR = 0.995  # 99.56%: the reviewed label errors set aside

_CLASSES_LABEL_WRONG = ("label-", "patch-label")
_CLASSES_OTHER = ("convention-", "unit")


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_dosage_real", _BENCH_PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_dosage_real", module)
    spec.loader.exec_module(module)
    return module


BENCH = _bench()


def _say(capsys: pytest.CaptureFixture[str], line: str) -> None:
    with capsys.disabled():  # printed even when pytest captures output
        print(line)  # noqa: T201 - the test reports the figures issue 16 asks for


@pytest.fixture(scope="module")
def corpus() -> list[dict[str, Any]]:
    if not BENCH.CORPUS.is_file():
        # The corpus may not be shipped or copied into the repository (its licence: testing
        # only, quote only the texts a test needs), so nothing the project installs can supply
        # it: a checkout without ../shared beside it skips this measurement, saying so. The
        # corpus cases quoted in test_real_shapes.py and test_nhse_exclude.py always run.
        pytest.skip(
            "the real dosage corpus ../shared/reference/dosage_real/dev.jsonl.gz is not beside "
            "this checkout: the coverage and agreement measurement did not run"
        )
    rows: list[dict[str, Any]] = BENCH.load_corpus()
    return rows


@pytest.fixture(scope="module")
def measured(corpus: list[dict[str, Any]]) -> Iterator[tuple[Any, float]]:
    texts = [r["text"] for r in corpus]
    parse_dosage("take one tablet twice a day")  # the parser table, outside the timing
    clear_dosage_cache()
    start = time.process_time()
    results = [parse_dosage(t) for t in texts]
    rate = len(texts) / max(time.process_time() - start, 1e-9)
    yield BENCH.measure(corpus, results), rate
    clear_dosage_cache()


@pytest.fixture(scope="module")
def exceptions() -> dict[str, dict[str, str]]:
    rows: dict[str, dict[str, str]] = BENCH.read_exceptions()
    return rows


def test_coverage_agreement_and_speed(
    capsys: pytest.CaptureFixture[str],
    measured: tuple[Any, float],
    exceptions: dict[str, dict[str, str]],
) -> None:
    m, rate = measured
    label_wrong = sum(
        1
        for text in m.disagreements
        if exceptions.get(text, {}).get("class", "").startswith(_CLASSES_LABEL_WRONG)
        and exceptions[text]["corpus"] == "CPRD"
    )
    where_right = m.agree / (m.labelled_and_read - label_wrong)
    for line in BENCH.report(m):
        _say(capsys, line)
    _say(
        capsys,
        f"agreement where the label is right (setting aside {label_wrong} reviewed label "
        f"errors): {where_right:.2%}",
    )
    _say(capsys, f"speed, one cold round: {rate:,.0f} distinct texts per CPU-second")
    assert m.coverage >= COVERAGE_FLOOR
    assert m.agreement >= AGREEMENT_FLOOR
    assert where_right >= AGREEMENT_WHERE_LABEL_RIGHT_FLOOR


def test_every_disagreement_is_a_reviewed_exception(
    measured: tuple[Any, float], exceptions: dict[str, dict[str, str]]
) -> None:
    m, _ = measured
    unexplained = sorted(t for t in m.disagreements if t not in exceptions)
    assert unexplained == []
    changed = sorted(
        t
        for t, (reading, label) in m.disagreements.items()
        if (exceptions[t]["reading"], exceptions[t]["label"]) != (reading, label)
    )
    assert changed == []
    stale = sorted(t for t in exceptions if t not in m.disagreements)
    assert stale == []


def test_the_exceptions_file_is_reviewed_and_cited() -> None:
    text = BENCH.EXCEPTIONS.read_text(encoding="utf-8")
    assert "CHIP-SET/textmining.ro" in text
    assert "testing use only" in text
    rows = BENCH.read_exceptions()
    assert rows
    for row in rows.values():
        assert row["corpus"] in {"CPRD", "PATCH"}
        assert row["class"].startswith(_CLASSES_LABEL_WRONG + _CLASSES_OTHER)
        assert len(row["reason"]) > 20


# Texts of the development half that issue 16 found read to a wrong daily amount (its kinds:
# food and night as once a day; a supply quantity as the dose; "1-2" typed "102"; split doses
# at named times as one; a fused duplicate). Source: CPRD common dosages (as above). Each is
# now refused (None) or read to the daily amount its text states, as (average, maximum).
WRONG_BEFORE: list[tuple[str, tuple[str, str] | None]] = [
    # after food and at night = 4 times a day: 1 x 4; 5-10 mL x 4 = 30 average, 40 at most
    ("ONE AFTER FOOD AND EVERY NIGHT", ("4", "4")),
    ("5-10ML TO BE TAKEN AFTER FOOD AND AT NIGHT", ("30", "40")),
    ("10-20ML TO BE TAKEN AFTER FOOD AND AT NIGHT", ("60", "80")),
    ("TWO AFTER FOOD AND AT NIGHT", ("8", "8")),
    ("5-10 MLS AFTER FOOD AND AT BEDTIME", ("30", "40")),
    ("ONE OR TWO AFTER FOOD AND EVERY NIGHT WHEN REQUIRED", ("6", "8")),
    ("5ML AFTER FOOD AND EVERY NIGHT WHEN REQUIRED", ("20", "20")),
    # a number of 10 or more without a unit: mL left out? refused
    ("10 AFTER FOOD AND EVERY NIGHT", None),
    ("10 OR 20 AFTER FOOD AND EVERY NIGHT", None),
    ("10 BEFORE FOOD AND EVERY NIGHT", None),
    # a quantity supplied is not the dose
    ("ONCE A DAY :[84]", None),
    ("THREE TIMES A DAY :[100]", None),
    ("TWICE A DAY 12 OR 26", None),
    ("BD SIXTY", None),
    # "102" is "1-2" typed without the dash
    ("102 FOUR TIMES A DAY WHEN REQUIRED", None),
    ("102 EVERY NIGHT", None),
    # split doses: 2 every day + 2 at night = 4; a time without its own dose is refused
    ("TWO EVERY DAY TWO EVERY NIGHT", ("4", "4")),
    ("TWO EVERY DAY TWO AT NIGHT", ("4", "4")),
    ("EVERY MORNING TWO EVERY NIGHT", None),
    ("EVERY MORNING 2 EVERY NIGHT", None),
    ("IN THE MORNING TWO AT NIGHT", None),
    ("EVERY MORNING AND ONE AND A HALF EVERY NIGHT", None),
    ("ONE AFTER FOOD AND ONE AT NIGHT", None),
    # a duplicate typed with a fused token: refused
    ("1 OD1 EVERY DAY", None),
    ("1 TDS1 THREE TIMES A DAY", None),
    ("1 BD1 TWICE A DAY", None),
    ("TDS1 THREE TIMES A DAY", None),
]


@pytest.mark.parametrize(("text", "expected"), WRONG_BEFORE, ids=[t for t, _ in WRONG_BEFORE])
def test_texts_read_wrongly_before_issue_16(text: str, expected: tuple[str, str] | None) -> None:
    result = parse_dosage(text)
    amount = BENCH.daily(result)
    if expected is None:
        assert amount is None, result
        assert not isinstance(result, Dosage) or result.not_convertible_reason is not None
        return
    assert amount is not None, getattr(result, "problems", None)
    assert (f"{float(amount.avg):g}", f"{float(amount.max):g}") == expected


def test_every_reading_is_the_model_the_constructor_gives(corpus: list[dict[str, Any]]) -> None:
    # the reader makes its results without validating them again (speed, issue 16 fifth
    # round): each must equal, field for field and fields-as-given, the validated model
    for row in corpus:
        result = parse_dosage(row["text"])
        given = {name: getattr(result, name) for name in result.model_fields_set}
        validated = type(result).model_validate(given)
        assert result == validated
        assert hash(result) == hash(validated)
        assert result.model_fields_set == validated.model_fields_set
        assert result.model_dump_json() == validated.model_dump_json()
