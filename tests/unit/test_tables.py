"""Conversion tables and vocabularies: versioned, cited, validated once at load."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from opioidcds import KnowledgeBaseError, load_table, load_vocabulary
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds._knowledge.tables import BUNDLED_TABLES, default_table

TABLES = knowledge_dir("conversion_tables")


@pytest.mark.parametrize("table_id", BUNDLED_TABLES)
def test_bundled_tables_carry_metadata_and_citations(table_id: str) -> None:
    table = default_table(table_id)
    assert table.id == table_id
    assert table.version
    assert table.file.effective_date.year >= 2016
    assert table.file.notes
    cited = {c.id for c in table.file.citations}
    for row in table.rows():
        assert row.citations
        assert set(row.citations) <= cited
    assert default_table(table_id) is table  # loaded once


def test_uk_methadone_has_no_factor() -> None:
    row = default_table().lookup("methadone", "oral")
    assert row is not None
    assert not row.convertible
    assert row.factor is None
    assert "specialist" in (row.reason or "")


def test_key_factors_match_the_published_sources() -> None:
    # Faculty of Pain Medicine Opioids Aware dose equivalents and the BNF (UK; as OpenPrescribing's
    # opioid_ing_form_ome.csv uses them) and CDC 2022 Table 1, read off the sources by hand
    uk = {
        ("morphine", "oral"): "1",
        ("codeine", "oral"): "0.1",
        ("dihydrocodeine", "oral"): "0.1",
        ("tramadol", "oral"): "0.1",
        ("tapentadol", "oral"): "0.4",
        ("oxycodone", "oral"): "1.5",
        ("hydromorphone", "oral"): "5",
        ("fentanyl", "transdermal"): "2.4",
        ("buprenorphine", "transdermal"): "2.4",
    }
    cdc = {
        ("codeine", "oral"): "0.15",
        ("tramadol", "oral"): "0.2",
        ("methadone", "oral"): "4.7",
        ("hydromorphone", "oral"): "5",
        ("fentanyl", "transdermal"): "2.4",
    }
    for table_id, expected in (("uk-opioids-aware", uk), ("cdc-2022", cdc)):
        for (ingredient, route), factor in expected.items():
            row = default_table(table_id).lookup(ingredient, route)
            assert row is not None
            assert row.factor == factor


def _copy_table(tmp_path: Path, text_edit: tuple[str, str]) -> Path:
    target = tmp_path / "t.toml"
    text = (TABLES / "uk-opioids-aware.toml").read_text(encoding="utf-8")
    old, new = text_edit
    assert old in text
    target.write_text(text.replace(old, new, 1), encoding="utf-8")
    return target


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (('factor = "1.5"', "factor = 1.5"), "factor"),  # binary float refused
        (('factor = "1.5"', 'factor = "1.5"\nfudge = true'), "fudge"),  # unknown key
        (('ingredient = "tapentadol"', 'ingredient = "morphine"'), "duplicate"),
        (('ingredient = "tapentadol"', 'ingredient = "tapentadolum"'), "ingredient"),
        (('route = "transdermal"', 'route = "ocular"'), "route"),
        # anchored on the factor line: the file's header comment also mentions per = ...
        (('"2.4"\nper = "microgram/hour"', '"2.4"\nper = "MG"'), "per"),
        (('"2.4"\nper = "microgram/hour"', '"2.4"\nper = "mL"'), "per"),
        (('citations = ["OA", "OP"]', 'citations = ["NICE"]'), "unknown id"),
        (('citations = ["OA", "OP"]', "citations = []"), "citations"),
        (('factor = "1.5"', 'factor = "0"'), "greater than zero"),
        (('version = "1.1.1"', ""), "version"),
        (('id = "uk-opioids-aware"', 'id = "uk-opioids-aware"\n[broken'), "not valid TOML"),
    ],
)
def test_invalid_table_files_are_rejected(
    tmp_path: Path, edit: tuple[str, str], words: str
) -> None:
    with pytest.raises(KnowledgeBaseError, match=words):
        load_table(_copy_table(tmp_path, edit))


def test_oversized_table_file(tmp_path: Path) -> None:
    target = tmp_path / "big.toml"
    target.write_text("# x\n" * 600_000, encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="larger"):
        load_table(target)


def test_vocabulary_rejects_duplicate_names(tmp_path: Path) -> None:
    for name in ("ingredients.toml", "forms.toml", "plausibility.toml"):
        shutil.copy(TABLES / name, tmp_path / name)
    path = tmp_path / "ingredients.toml"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            'synonyms = ["codeine phosphate"]', 'synonyms = ["codeine phosphate", "morphine"]'
        ),
        encoding="utf-8",
    )
    with pytest.raises(KnowledgeBaseError, match="defined twice"):
        load_vocabulary(tmp_path)


def test_vocabulary_resolves_salts_combinations_and_generic_pairs() -> None:
    vocab = load_vocabulary()
    assert vocab.resolve_drug("Morphine Sulfate") == ("morphine",)
    assert vocab.resolve_drug("co-codamol") == ("codeine", "paracetamol")
    assert vocab.resolve_drug("tramadol/paracetamol") == ("tramadol", "paracetamol")
    assert vocab.resolve_drug("oxycodone + naloxone") == ("oxycodone", "naloxone")
    assert vocab.find_drug("oxycodone/unknownium") is None
