"""Fixtures of the product-catalogue tests: paths, vocabulary, parser, catalogue.

Hypothesis profiles are registered here only if no other conftest registered them first
(``HYPOTHESIS_PROFILE=ci`` -> derandomised, as ``make test`` sets it).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis.errors import InvalidArgument

from opioidcds.products import Catalogue, load_catalogue
from opioidcds.products_parser import NameParser, Vocabulary


def _register_profiles() -> None:
    """Register ci/dev/deep unless already registered (an existing registration wins)."""
    try:
        settings.get_profile("ci")
    except InvalidArgument:
        settings.register_profile("ci", derandomize=True, deadline=None)
    try:
        settings.get_profile("dev")
    except InvalidArgument:
        settings.register_profile("dev", max_examples=50)
    try:
        settings.get_profile("deep")
    except InvalidArgument:
        settings.register_profile("deep", max_examples=2000, deadline=None)
    wanted = os.environ.get("HYPOTHESIS_PROFILE")
    if wanted in {"ci", "dev", "deep"}:
        settings.load_profile(wanted)


_register_profiles()

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
