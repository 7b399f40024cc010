"""Hypothesis profiles for the dosage tests; chosen by the HYPOTHESIS_PROFILE variable.

``ci`` is derandomised (the Makefile's ``make test`` sets it); ``deep`` runs longer. Profiles
are registered here only if no other conftest registered them first.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings


def _register(name: str, make: object) -> None:
    try:
        settings.get_profile(name)
    except Exception:  # hypothesis raises InvalidArgument for an unknown profile
        settings.register_profile(name, make)  # type: ignore[arg-type]


_SLOW = [HealthCheck.too_slow]
_register(
    "ci", settings(derandomize=True, max_examples=200, deadline=None, suppress_health_check=_SLOW)
)
_register("dev", settings(max_examples=200, deadline=None, suppress_health_check=_SLOW))
_register("deep", settings(max_examples=5000, deadline=None, suppress_health_check=_SLOW))

_chosen = os.environ.get("HYPOTHESIS_PROFILE")
if _chosen:
    settings.load_profile(_chosen)
