"""Per-ingredient strengths, ampoules and vials, and patch delivered rates (issue 18).

The calculator reads every product from its structured ingredients (``Product.strength_value``),
so combination liquids, Cyclimorph and powders for injection have a strength; the dm+d name
gives the container one unit is counted in and, where it states one, its volume; six fentanyl
"12 microgram/hour" codes carry the rate their SmPC says they deliver.
"""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path

import pytest

from opioidcds import Catalogue
from opioidcds._knowledge.product_names import NameParser, ParseFailure, container_of
from opioidcds._knowledge.products import StrengthBasis
from opioidcds._knowledge.units import StrengthKind, parse_strength

REPO = Path(__file__).resolve().parents[2]
DELIVERED = REPO / "catalogue" / "delivered_rates.toml"


def test_strength_value_equals_the_strength_string_wherever_there_is_one(
    catalogue: Catalogue,
) -> None:
    for p in catalogue:
        if p.strength is not None:
            assert p.strength_value == parse_strength(p.strength), p.product_name


def test_every_product_has_a_strength_value(catalogue: Catalogue) -> None:
    kinds = {p.dmd_code: p.strength_value.kind for p in catalogue}
    assert len(kinds) == len(catalogue)
    # co-dydramol 10mg/500mg/5ml oral suspension: dihydrocodeine 10 mg and paracetamol 500 mg
    # per 5 mL (dm+d name), one amount per ingredient
    codydramol = catalogue.by_code("8427711000001105").strength_value
    assert (codydramol.kind, codydramol.amounts, codydramol.volume_ml) == (
        StrengthKind.PER_VOLUME,
        (Decimal(10), Decimal(500)),
        Decimal(5),
    )
    # diamorphine 5mg powder: 5 mg per ampoule
    powder = catalogue.by_code("22411000001100").strength_value
    assert (powder.kind, powder.amounts) == (StrengthKind.PER_UNIT, (Decimal(5),))


@pytest.mark.parametrize(
    ("code", "unit", "volume"),
    [
        ("3885111000001102", "ampoule", "1"),  # Cyclimorph 10 solution for injection 1ml ampoules
        ("3331611000001103", "vial", None),  # Oramorph 10mg/5ml oral solution unit dose vials
        ("22411000001100", "ampoule", None),  # Diamorphine 5mg powder ... ampoules (per unit)
        ("8427711000001105", None, None),  # Co-dydramol 10mg/500mg/5ml oral suspension
        ("9752311000001101", None, None),  # a patch
    ],
)
def test_containers(catalogue: Catalogue, code: str, unit: str | None, volume: str | None) -> None:
    p = catalogue.by_code(code)
    assert p.unit == unit
    assert p.unit_volume_ml == (Decimal(volume) if volume else None)


def test_injection_ampoules_take_their_volume_from_the_name(catalogue: Catalogue) -> None:
    # "Morphine sulfate 10mg/1ml", "20mg/2ml", "50mg/5ml", "100mg/10ml solution for injection
    # ampoules" are four VMPs of one concentration: the denominator is the ampoule's volume
    by_name = {p.product_name: p for p in catalogue}
    for name, volume in [
        ("Morphine sulfate 10mg/1ml solution for injection ampoules", 1),
        ("Morphine sulfate 20mg/2ml solution for injection ampoules", 2),
        ("Morphine sulfate 50mg/5ml solution for injection ampoules", 5),
        ("Morphine sulfate 100mg/10ml solution for injection ampoules", 10),
    ]:
        assert by_name[name].unit == "ampoule"
        assert by_name[name].unit_volume_ml == volume
    for p in catalogue:
        if p.unit_volume_ml is not None:
            assert p.basis is StrengthBasis.PER_VOLUME
            assert p.form == "injection", "only injections take a fill volume from the name"


def test_container_of_oral_solution_per_5ml_is_not_a_fill_volume(parser: NameParser) -> None:
    name = "Morphine sulfate 10mg/5ml oral solution unit dose vials sugar free"
    parsed = parser.parse(name)
    assert not isinstance(parsed, ParseFailure)
    assert container_of(name, parsed) == ("vial", None)
    name = "Morphine sulfate 10mg/ml solution for injection ampoules"  # no explicit volume
    parsed = parser.parse(name)
    assert not isinstance(parsed, ParseFailure)
    assert container_of(name, parsed) == ("ampoule", None)


def _delivered() -> dict[str, object]:
    data: dict[str, object] = tomllib.loads(DELIVERED.read_text(encoding="utf-8"))
    return data


def test_delivered_rates_are_those_of_the_file_and_only_those(catalogue: Catalogue) -> None:
    data = _delivered()
    products = data["products"]
    assert isinstance(products, list)
    expected = {str(e["dmd_code"]): Decimal(str(e["delivered"])) for e in products}
    found = {p.dmd_code: p.delivered_rate for p in catalogue if p.delivered_rate is not None}
    assert found == expected
    # Durogesic DTrans 12 and the generic VMP: 12.5; Matrifen 12 says 12
    assert found["9751111000001108"] == Decimal("12.5")
    assert found["9752311000001101"] == Decimal("12.5")
    assert found["11084511000001104"] == Decimal(12)
    unverified = data["unverified"]
    assert isinstance(unverified, list)
    for entry in unverified:  # listed for review, never applied
        assert catalogue.by_code(str(entry["dmd_code"])).delivered_rate is None


def test_every_delivered_rate_cites_a_citation_of_its_file() -> None:
    data = _delivered()
    citations = data["citations"]
    products = data["products"]
    assert isinstance(citations, list)
    assert isinstance(products, list)
    ids = {c["id"] for c in citations}
    for entry in products:
        assert entry["citations"]
        assert set(entry["citations"]) <= ids


def test_catalogue_lists_the_delivered_rates_file(repo: Path) -> None:
    meta = tomllib.loads((repo / "catalogue" / "catalogue.toml").read_text(encoding="utf-8"))
    assert meta["delivered_rates_file"] == "delivered_rates.toml"
    assert meta["counts"]["codes_with_delivered_rate"] == 6
