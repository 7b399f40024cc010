"""Hypothesis profiles for the dosage tests; chosen by the HYPOTHESIS_PROFILE variable.

``ci`` is derandomised (the Makefile's ``make test`` sets it); ``deep`` runs longer. Profiles
are registered here only if no other conftest registered them first.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_PROFILES = {
    "ci": {"derandomize": True, "max_examples": 200, "deadline": None},
    "dev": {"max_examples": 200, "deadline": None},
    "deep": {"max_examples": 5000, "deadline": None},
}

for _name, _options in _PROFILES.items():
    try:
        settings.get_profile(_name)
    except Exception:  # noqa: BLE001 - hypothesis raises InvalidArgument for unknown profiles
        settings.register_profile(
            _name, suppress_health_check=[HealthCheck.too_slow], **_options
        )

_chosen = os.environ.get("HYPOTHESIS_PROFILE")
if _chosen:
    settings.load_profile(_chosen)
