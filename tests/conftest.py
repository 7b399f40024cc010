"""Shared test configuration: hypothesis profiles, and a knowledge cache of the session's own.

``HYPOTHESIS_PROFILE=ci`` (set by ``make test`` and so by CI) derandomises hypothesis so a run
is reproducible; ``deep`` (``make test-deep``) runs many more examples.

The on-disk knowledge cache (``_knowledge/cache.py``) is put in a fresh temporary folder for
the session (inherited by the processes the tests start; removed when the session ends),
unless ``OPIOIDCDS_CACHE_DIR`` is set: the tests neither read nor leave a cache in the user's
folder, and the first load of the session writes the cache that the later processes read.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=100,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile(
    "deep", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

if "OPIOIDCDS_CACHE_DIR" not in os.environ:
    _CACHE_DIR = tempfile.mkdtemp(prefix="opioidcds-test-cache-")
    os.environ["OPIOIDCDS_CACHE_DIR"] = _CACHE_DIR
    atexit.register(shutil.rmtree, _CACHE_DIR, ignore_errors=True)  # removed after the session
