"""The RxNorm product table (codelists/rxnorm-opioid-products.toml): what it must hold for the
service to read RxNorm-coded orders by their code, and the checks on its one non-OMTK row."""

from __future__ import annotations

from pathlib import Path

import pytest

from opioidcds import KnowledgeBaseError, load_vocabulary
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds._knowledge.rxnorm import default_rxnorm_products, load_rxnorm_products

TABLE = knowledge_dir("codelists") / "rxnorm-opioid-products.toml"


def test_every_mapped_dose_form_is_a_form_of_the_vocabulary() -> None:
    forms = {f.name for f in load_vocabulary().forms()}
    mapped = [f for f in default_rxnorm_products().dose_forms if f.form is not None]
    assert mapped
    assert all(f.form in forms for f in mapped), [f.form for f in mapped if f.form not in forms]


def test_oral_strips_are_sublingual_films_and_all_buprenorphine() -> None:
    """OMTKData 3.0.0: every opioid product in dose form Oral Strip (704866) is buprenorphine
    with naloxone, so the strip reads as the 'sublingual film' form of forms.toml."""
    table = default_rxnorm_products()
    assert table.dose_form("704866").form == "sublingual film"
    strips = [p for p in table.products if p.dose_form == "704866"]
    assert {p.rxcui for p in strips} >= {"1010600", "1010603"}
    assert {p.ingredient_name for p in strips} == {"Buprenorphine"}


def test_the_kadian_component_is_derived_from_its_omtk_drug() -> None:
    (row,) = default_rxnorm_products().rows("892495")
    (source,) = default_rxnorm_products().rows("892496")
    assert row.derived_from == "892496"
    assert (row.dose_form, row.strength, row.ingredient) == (
        source.dose_form,
        source.strength,
        source.ingredient,
    )
    assert source.name == "Morphine Sulfate 10 MG Extended Release Oral Capsule [Kadian]"
    assert row.citations


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        # the derived row claims a tablet form its OMTK source (an ER capsule) does not have
        (
            'name = "Morphine Sulfate 10 MG [Kadian]"\ndose_form = "316943"',
            'name = "Morphine Sulfate 10 MG [Kadian]"\ndose_form = "317541"',
            "differs from derived_from",
        ),
        ('citations = ["RXNORM-TTY", "OMTK", "FDA-KADIAN"]\n', "", "needs citations and a note"),
        ('derived_from = "892496"', 'derived_from = "892499"', "names no OMTK row"),
    ],
)
def test_a_derived_row_that_does_not_hold_is_refused(
    tmp_path: Path, old: str, new: str, problem: str
) -> None:
    text = TABLE.read_text()
    assert old in text
    path = tmp_path / "rx.toml"
    path.write_text(text.replace(old, new))
    with pytest.raises(KnowledgeBaseError, match=problem):
        load_rxnorm_products(path)
