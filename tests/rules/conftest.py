"""Shared fixtures for the rules DSL tests, and hypothesis profiles.

Profiles ``ci`` (derandomised, used by ``make test`` via HYPOTHESIS_PROFILE=ci) and ``deep`` are
registered here only if no top-level conftest has registered them already.
"""

from __future__ import annotations

import os

import pytest
from dsl_helpers import FIXTURES
from hypothesis import HealthCheck, settings

from opioidcds.rules import Profile, Ruleset, load_profile, load_ruleset

for _name, _examples, _derandomize in (("ci", 60, True), ("deep", 2_000, False)):
    try:
        settings.get_profile(_name)
    except Exception:  # hypothesis raises InvalidArgument for a profile not yet registered
        settings.register_profile(
            _name,
            derandomize=_derandomize,
            max_examples=_examples,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
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
