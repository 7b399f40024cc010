"""Shared fixtures for the rules DSL tests, and hypothesis profiles.

Profiles ``ci`` (derandomised, used by ``make test`` via HYPOTHESIS_PROFILE=ci) and ``deep`` are
registered here only if no top-level conftest has registered them already.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from opioidcds.rules import Profile, Ruleset, load_profile, load_ruleset

from dsl_helpers import FIXTURES

for _name, _kwargs in (
    ("ci", {"derandomize": True, "max_examples": 60, "deadline": None}),
    ("deep", {"max_examples": 2_000, "deadline": None}),
):
    try:
        settings.get_profile(_name)
    except Exception:  # noqa: BLE001 - hypothesis raises InvalidArgument for unknown profiles
        settings.register_profile(
            _name, suppress_health_check=[HealthCheck.too_slow], **_kwargs
        )
if os.environ.get("HYPOTHESIS_PROFILE"):
    settings.load_profile(os.environ["HYPOTHESIS_PROFILE"])


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
