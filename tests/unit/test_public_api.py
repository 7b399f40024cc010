"""The public API is explicit: ``opioidcds.__all__`` is pinned and sorted."""

from __future__ import annotations

import opioidcds

EXPECTED = [
    "Catalogue",
    "ConversionTable",
    "InvalidInputError",
    "ItemStatus",
    "KnowledgeBaseError",
    "MedicineClass",
    "OMEItem",
    "OMEResult",
    "OpioidCDSError",
    "Prescription",
    "PrnPolicy",
    "Product",
    "UnknownDrugError",
    "UnknownProductError",
    "Vocabulary",
    "__version__",
    "calculate_ome",
    "classify_medicine",
    "load_catalogue",
    "load_table",
    "load_vocabulary",
]


def test_all_is_pinned_and_sorted() -> None:
    assert opioidcds.__all__ == EXPECTED
    assert sorted(opioidcds.__all__) == opioidcds.__all__


def test_every_public_name_exists_and_is_documented() -> None:
    for name in opioidcds.__all__:
        obj = getattr(opioidcds, name)
        if name != "__version__":
            assert obj.__doc__, name
