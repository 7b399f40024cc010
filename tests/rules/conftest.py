"""Shared fixtures for the rules DSL tests (hypothesis profiles: ``tests/conftest.py``)."""

from __future__ import annotations

import pytest

from opioidcds import Profile, Ruleset, load_profile, load_ruleset

from .dsl_helpers import FIXTURES


@pytest.fixture(scope="session")
def alerts() -> Ruleset:
    return load_ruleset(FIXTURES / "alerts.toml")


@pytest.fixture(scope="session")
def tier() -> Ruleset:
    return load_ruleset(FIXTURES / "tier.toml")


@pytest.fixture(scope="session")
def level() -> Ruleset:
    return load_ruleset(FIXTURES / "level.toml")


@pytest.fixture(scope="session")
def ics90() -> Profile:
    return load_profile(FIXTURES / "profiles" / "ics-90.toml")
