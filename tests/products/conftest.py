"""Fixtures of the product-catalogue tests: paths, vocabulary, parser, catalogue.

Hypothesis profiles are registered once, in ``tests/conftest.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from opioidcds import Catalogue, load_catalogue
from opioidcds._knowledge.product_names import NameParser, Vocabulary

REPO = Path(__file__).resolve().parents[2]
CODELISTS = REPO.parent / "shared" / "reference" / "dmd_codelists"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def codelists() -> Path:
    if not CODELISTS.is_dir():
        pytest.skip(
            "../shared/reference/dmd_codelists is absent (CI has ../shared beside the repo)"
        )
    return CODELISTS


@pytest.fixture(scope="session")
def vocab() -> Vocabulary:
    return Vocabulary.load(REPO / "conversion_tables", REPO / "catalogue")


@pytest.fixture(scope="session")
def parser(vocab: Vocabulary) -> NameParser:
    return NameParser(vocab)


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return load_catalogue()
