"""The instrument files of instruments/: complete, consistent, cited, and no questionnaire text."""

from __future__ import annotations

import shutil
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pytest

from opioidcds import KnowledgeBaseError
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds.population import default_instruments, load_instrument

FOLDER = knowledge_dir("instruments")


def test_the_four_instruments_load_with_their_scores() -> None:
    loaded = default_instruments()
    assert {i: [s.id for s in inst.scores] for i, inst in loaded.items()} == {
        "bpi-sf": ["severity", "interference", "relief"],
        "eq-5d-5l": ["profile", "vas"],
        "swemwbs": ["raw", "metric"],
        "wemwbs": ["total"],
    }
    for inst in loaded.values():
        assert inst.licence
        assert inst.citations
        for s in inst.scores:
            assert s.missing_rule
            assert inst.citation_text(s.citations)


def test_swemwbs_table_has_one_increasing_row_per_raw_total() -> None:
    table = default_instruments()["swemwbs"].lookups["metric"]
    assert sorted(table) == list(range(7, 36))  # 29 rows: raw totals 7..35
    values = [table[r] for r in range(7, 36)]
    assert all(b > a for a, b in pairwise(values))
    assert (table[7], table[35]) == (Decimal("7.00"), Decimal("35.00"))


def test_swemwbs_items_are_wemwbs_items_1_2_3_6_7_9_11() -> None:
    # Stewart-Brown 2009: the short form is WEMWBS items 1, 2, 3, 6, 7, 9 and 11
    wemwbs = {i.number: i.id for i in default_instruments()["wemwbs"].items}
    short = [i.id for i in default_instruments()["swemwbs"].items]
    assert short == [wemwbs[n] for n in ("1", "2", "3", "6", "7", "9", "11")]


def test_labels_are_short_construct_names_not_question_wording() -> None:
    for inst in default_instruments().values():
        for item in inst.items:
            assert len(item.label) <= 80
            assert "?" not in item.label
            assert not item.label.lower().startswith(("please", "how ", "what ", "i've", "i have"))


def _copy(tmp_path: Path, name: str) -> Path:
    for f in FOLDER.iterdir():
        shutil.copy(f, tmp_path / f.name)
    return tmp_path / name


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        ("bpi-sf.toml", 'citations = ["cleeland-2009", "eppoc"]\n', 'citations = ["nobody"]\n',
         "unknown id"),
        ("bpi-sf.toml", "min_answered = 4\n", "min_answered = 8\n", "min_answered"),
        ("wemwbs.toml", 'max = "70"', 'max = "75"', "range is not what its items give"),
        ("swemwbs-conversion.csv", "34,32.55\n", "", "one row per raw score"),
        ("swemwbs-conversion.csv", "34,32.55", "34,29.00", "increase strictly"),
        ("eq-5d-5l.toml", '"anxiety_depression"]', '"anxiety"]', "unknown item"),
    ],
)  # fmt: skip
def test_broken_instrument_files_are_refused(
    tmp_path: Path, file: str, old: str, new: str, message: str
) -> None:
    target = _copy(tmp_path, file)
    text = target.read_text(encoding="utf-8")
    assert old in text
    target.write_text(text.replace(old, new, 1), encoding="utf-8")
    toml = file if file.endswith(".toml") else "swemwbs.toml"
    with pytest.raises(KnowledgeBaseError, match=message):
        load_instrument(tmp_path / toml)
