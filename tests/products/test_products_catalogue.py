"""The committed catalogue: integrity, agreement with the calculator's strength syntax, a rebuild
from the shared codelists, exact look-ups and their errors."""

from __future__ import annotations

import csv
import shutil
import sys
import threading
import tomllib
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from opioidcds import Catalogue, KnowledgeBaseError, Product, UnknownProductError, load_catalogue
from opioidcds._knowledge.product_names import StrengthBasis
from opioidcds._knowledge.products import CATALOGUE_COLUMNS, Derivation, ProductKind
from opioidcds._knowledge.units import StrengthKind, canonical_factor, parse_strength

REPO = Path(__file__).resolve().parents[2]
CATALOGUE_DIR = REPO / "catalogue"


def _toml(path: Path) -> dict[str, object]:
    with path.open("rb") as fh:
        return tomllib.load(fh)


# --- integrity ---------------------------------------------------------------------------------
def test_catalogue_size_and_metadata(catalogue: Catalogue) -> None:
    meta = _toml(CATALOGUE_DIR / "catalogue.toml")
    counts = meta["counts"]
    assert isinstance(counts, dict)
    assert catalogue.id == "uk-dmd-opioids"
    assert catalogue.version == meta["version"]
    assert len(catalogue) == counts["codes_in_catalogue"]
    # every code of the codelists is either in the catalogue or excluded in review
    assert counts["codes_in_codelists"] == counts["codes_in_catalogue"] + counts["codes_excluded"]
    assert counts["codes_in_catalogue"] == (
        counts["codes_parsed"] + counts["codes_hand_fixed"] + counts["codes_successor"]
    )
    assert len(catalogue) > 1900


def test_codes_unique_and_digits(catalogue: Catalogue) -> None:
    codes = [p.dmd_code for p in catalogue]
    assert len(codes) == len(set(codes))
    assert all(c.isdigit() for c in codes)
    assert codes == sorted(codes, key=int)


def test_vocabularies(catalogue: Catalogue) -> None:
    ingredients = _toml(REPO / "conversion_tables" / "ingredients.toml")
    forms = _toml(REPO / "conversion_tables" / "forms.toml")
    assert isinstance(ingredients["ingredients"], list)
    assert isinstance(forms["forms"], list)
    names = {i["name"] for i in ingredients["ingredients"]}
    opioids = {i["name"] for i in ingredients["ingredients"] if i["opioid"]}
    routes = {f["name"]: f["route"] for f in forms["forms"]}
    for p in catalogue:
        assert set(p.ingredient_names) <= names
        assert set(p.ingredient_names) & opioids, "every product contains an opioid"
        assert routes[p.form] == p.route
        assert p.patch == (p.form == "transdermal patch")
        if p.form.startswith("modified-release"):
            assert p.modified_release


def test_every_strength_parses_and_matches_ingredients(catalogue: Catalogue) -> None:
    with_strength = [p for p in catalogue if p.strength is not None]
    assert len(with_strength) > 1800
    for p in with_strength:
        assert p.strength is not None
        s = parse_strength(p.strength)
        assert len(s.amounts) == len(p.ingredients), p.product_name
        for parsed, ing in zip(s.amounts, p.ingredients, strict=True):
            if p.basis is StrengthBasis.RATE:
                assert s.kind is StrengthKind.RATE
                expected = ing.amount * canonical_factor(f"{ing.unit}/hour")
            else:
                expected = ing.amount * canonical_factor(ing.unit)
            assert parsed == expected, p.product_name
        if p.basis is StrengthBasis.PER_VOLUME:
            assert s.kind is StrengthKind.PER_VOLUME
            assert s.volume_ml == p.volume_ml
        elif p.basis is StrengthBasis.PER_UNIT and len(p.ingredients) > 1:
            assert s.kind is StrengthKind.COMBINATION
        elif p.basis in {StrengthBasis.PER_UNIT, StrengthBasis.PER_DOSE}:
            assert s.kind is StrengthKind.PER_UNIT


def test_products_without_strength_say_why(catalogue: Catalogue) -> None:
    without = [p for p in catalogue if p.strength is None]
    assert without
    for p in without:
        assert p.note
        name = p.product_name
        if p.superseded_by is not None:
            name = catalogue.by_code(p.superseded_by).product_name
        powder = "powder for" in name.lower()
        assert powder or len(p.ingredients) > 1, p.product_name


def test_kinds_from_codelists(catalogue: Catalogue) -> None:
    kinds = Counter(p.kind for p in catalogue)
    assert set(kinds) <= {ProductKind.VMP, ProductKind.AMP}
    assert catalogue.by_code("36057211000001102").kind is ProductKind.VMP
    assert catalogue.by_code("4001411000001107").kind is ProductKind.AMP


def test_successor_entries(catalogue: Catalogue) -> None:
    old = catalogue.by_code("322672007")  # "VMP previous to 36057211000001102"
    assert old.derivation is Derivation.SUCCESSOR
    assert old.superseded_by == "36057211000001102"
    new = catalogue.by_code("36057211000001102")  # Hydromorphone 16mg modified-release capsules
    assert old.ingredients == new.ingredients
    assert old.form == new.form == "modified-release capsule"
    with pytest.raises(UnknownProductError):
        catalogue.by_name("VMP previous to 36057211000001102")


def test_hand_fixes_applied(catalogue: Catalogue) -> None:
    nurofen = catalogue.by_name("Nurofen Plus tablets")
    assert nurofen.derivation is Derivation.HAND_FIXED
    assert [(i.name, i.amount) for i in nurofen.ingredients] == [
        ("ibuprofen", Decimal(200)),
        ("codeine", Decimal("12.8")),
    ]
    assert nurofen.strength == "200 mg/12.8 mg"
    durogesic = catalogue.by_name("Durogesic 25micrograms transdermal patches")
    assert durogesic.strength == "25 microgram/hour"
    assert durogesic.patch


def test_excluded_names_are_not_in_catalogue(catalogue: Catalogue) -> None:
    review = _toml(CATALOGUE_DIR / "review.toml")
    excluded = review["excluded"]
    assert isinstance(excluded, list)
    assert excluded
    for entry in excluded:
        assert entry["reason"]
        with pytest.raises(UnknownProductError):
            catalogue.by_name(entry["name"])


# AMP names whose strength legitimately differs from their BNF generic equivalent's name:
# (AMP name, generic-equivalent VMP name, why).
KNOWN_DIFFERENT: list[tuple[str, str, str]] = [
    (
        "Doloxene 100mg capsules",
        "Dextropropoxyphene 60mg capsules",
        "Doloxene states the napsilate salt (100 mg ~ 65 mg hydrochloride); the label is kept.",
    ),
]
KNOWN_DIFFERENT_FROM_GENERIC_EQUIVALENT = [(a, v) for a, v, _ in KNOWN_DIFFERENT]


def _content(p: Product) -> list[tuple[str, Decimal]]:
    """Ingredient amounts in mg (or microgram/hour), per mL for liquids, sorted by name."""
    per = p.volume_ml if p.volume_ml is not None else Decimal(1)
    return sorted((i.name, i.amount * canonical_factor(i.unit) / per) for i in p.ingredients)


def test_amp_agrees_with_generic_equivalent_vmp(catalogue: Catalogue) -> None:
    """AMPs (parsed with the brand table) agree with their BNF generic-equivalent VMP on
    ingredients, amounts (per mL for liquids), form, route, modified release and patch."""
    vmp_by_bnf: dict[str, Product] = {}
    for p in catalogue:
        if p.kind is ProductKind.VMP and p.derivation is Derivation.PARSED:
            vmp_by_bnf.setdefault(p.bnf_code, p)
    checked = 0
    mismatches: list[tuple[str, str]] = []
    for p in catalogue:
        if p.kind is not ProductKind.AMP or len(p.bnf_code) != 15:
            continue
        equivalent = p.bnf_code[:9] + "AA" + p.bnf_code[13:15] * 2
        vmp = vmp_by_bnf.get(equivalent)
        if vmp is None:
            continue
        checked += 1
        mine = (_content(p), p.form, p.route, p.modified_release, p.patch)
        same = mine == (_content(vmp), vmp.form, vmp.route, vmp.modified_release, vmp.patch)
        if not same:
            mismatches.append((p.product_name, vmp.product_name))
    assert sorted(set(mismatches)) == sorted(KNOWN_DIFFERENT_FROM_GENERIC_EQUIVALENT)
    assert checked > 1400


# --- rebuild -------------------------------------------------------------------------------
def test_committed_catalogue_equals_rebuild(codelists: Path) -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import build_catalogue  # noqa: PLC0415 - a script, importable only from scripts/
    finally:
        sys.path.remove(str(REPO / "scripts"))
    files = build_catalogue.build(codelists, CATALOGUE_DIR, REPO / "conversion_tables")
    for name, text in files.items():
        assert (CATALOGUE_DIR / name).read_text(encoding="utf-8") == text, (
            f"{name} is out of date: run scripts/build_catalogue.py"
        )
    again = build_catalogue.build(codelists, CATALOGUE_DIR, REPO / "conversion_tables")
    assert again == files


# --- look-ups ------------------------------------------------------------------------------
def test_by_code(catalogue: Catalogue) -> None:
    p = catalogue.by_code("2897211000001106")
    assert p.product_name == "OxyContin 40mg modified-release tablets"
    assert p.ingredient_names == ("oxycodone",)
    assert p.strength == "40 mg"
    assert p.modified_release
    assert catalogue.by_code(" 2897211000001106 ") is p
    assert "2897211000001106" in catalogue


def test_by_name_normalises_case_and_space_only(catalogue: Catalogue) -> None:
    p = catalogue.by_name("Co-codamol 30mg/500mg tablets")
    assert p.kind is ProductKind.VMP  # the VMP wins over same-named generic AMPs
    assert catalogue.by_name("  co-codamol   30MG/500MG TABLETS ") is p
    assert p.strength == "30 mg/500 mg"
    assert p.ingredient_names == ("codeine", "paracetamol")
    for near_miss in [
        "Co-codamol 30mg/500mg tablet",
        "Co-codamol 30/500 tablets",
        "Cocodamol 30mg/500mg tablets",
        "Co-codamol 30mg/500mg",
    ]:
        with pytest.raises(UnknownProductError):
            catalogue.by_name(near_miss)


@pytest.mark.parametrize("code", ["", "0", "123", "99999999999999999", "abc", "2897211000001106x"])
def test_unknown_code(catalogue: Catalogue, code: str) -> None:
    with pytest.raises(UnknownProductError) as info:
        catalogue.by_code(code)
    assert isinstance(info.value, LookupError)
    assert str(info.value) == "dmd_code: not in the product catalogue"
    if code:
        assert code not in str(info.value)


def test_unknown_name_message_has_no_name(catalogue: Catalogue) -> None:
    unknown = "Zzyzx 40mg modified-release tablets"
    with pytest.raises(UnknownProductError) as info:
        catalogue.by_name(unknown)
    assert str(info.value) == "product_name: not in the product catalogue"
    assert "Zzyzx" not in str(info.value)


def test_non_string_lookups_are_unknown(catalogue: Catalogue) -> None:
    with pytest.raises(UnknownProductError):
        catalogue.by_code(2897211000001106)  # type: ignore[arg-type]
    with pytest.raises(UnknownProductError):
        catalogue.by_name(None)  # type: ignore[arg-type]


# --- immutability, speed, threads -------------------------------------------------------------
def test_products_are_frozen(catalogue: Catalogue) -> None:
    p = catalogue.by_code("2897211000001106")
    with pytest.raises(ValidationError):
        p.strength = "80 mg"
    with pytest.raises(TypeError):
        catalogue._by_code["1"] = p  # type: ignore[index]
    with pytest.raises(AttributeError):
        catalogue.products = ()  # type: ignore[misc]


def test_default_catalogue_is_loaded_once() -> None:
    assert load_catalogue() is load_catalogue()


def test_threads_share_one_catalogue(catalogue: Catalogue) -> None:
    results: list[str] = []

    def work() -> None:
        cat = load_catalogue()
        results.extend(cat.by_code("2897211000001106").strength or "" for _ in range(100))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["40 mg"] * 800


# --- bad catalogue files are rejected ------------------------------------------------------
def _copy(tmp_path: Path) -> Path:
    dest = tmp_path / "catalogue"
    shutil.copytree(CATALOGUE_DIR, dest)
    return dest


def _rewrite(folder: Path, edit: object) -> None:
    path = folder / "uk-dmd-opioids.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert callable(edit)
    rows = edit(rows)
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


def test_duplicate_code_rejected(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    _rewrite(folder, lambda rows: [*rows, rows[1]])
    with pytest.raises(KnowledgeBaseError, match="appears twice"):
        load_catalogue(folder)


def test_unknown_column_rejected(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    _rewrite(folder, lambda rows: [[*r, "x"] for r in rows])
    with pytest.raises(KnowledgeBaseError, match="columns"):
        load_catalogue(folder)


def test_unknown_ingredient_rejected(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    col = CATALOGUE_COLUMNS.index("ingredients")

    def edit(rows: list[list[str]]) -> list[list[str]]:
        rows[1][col] = "unobtainium"
        return rows

    _rewrite(folder, edit)
    with pytest.raises(KnowledgeBaseError, match="ingredient"):
        load_catalogue(folder)


def test_wrong_route_rejected(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    col = CATALOGUE_COLUMNS.index("route")

    def edit(rows: list[list[str]]) -> list[list[str]]:
        rows[1][col] = "rectal" if rows[1][col] != "rectal" else "oral"
        return rows

    _rewrite(folder, edit)
    with pytest.raises(KnowledgeBaseError, match="route"):
        load_catalogue(folder)


def test_bad_flag_and_bad_code_rejected(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    col = CATALOGUE_COLUMNS.index("patch")
    _rewrite(folder, lambda rows: [rows[0], [*rows[1][:col], "yes", *rows[1][col + 1 :]]])
    with pytest.raises(KnowledgeBaseError):
        load_catalogue(folder)
    folder2 = _copy(tmp_path / "b")
    _rewrite(folder2, lambda rows: [rows[0], ["12ab", *rows[1][1:]]])
    with pytest.raises(KnowledgeBaseError, match="dmd_code"):
        load_catalogue(folder2)


def test_product_model_forbids_unknown_keys(catalogue: Catalogue) -> None:
    data = catalogue.by_code("2897211000001106").model_dump()
    data["colour"] = "yellow"
    with pytest.raises(ValidationError):
        Product.model_validate(data)


def test_missing_catalogue_is_a_knowledge_error(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeBaseError):
        load_catalogue(tmp_path)
