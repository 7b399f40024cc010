"""Import paths from before the layout change, kept for one release with a ``DeprecationWarning``.

Issue 14 moved the implementation into private packages that follow the flow of the data
(issue 14; ``docs/architecture.md``) and made ``opioidcds`` the one public module. Code that
still imports an old path (``from opioidcds.assess import assess``) gets the same objects as
before, with a warning that says what to import instead. A meta path finder serves the old
names: a module that moved is the new module itself (no second copy of any class); a module
that was split serves each name from its new home. Remove this module in the next minor release.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Sequence
from importlib.abc import Loader, MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType

__all__ = ["MOVED", "SPLIT", "install"]

MOVED: dict[str, str] = {
    "opioidcds.errors": "opioidcds._errors",
    "opioidcds.knowledge_paths": "opioidcds._knowledge.paths",
    "opioidcds.knowledge_files": "opioidcds._knowledge.files",
    "opioidcds.units": "opioidcds._knowledge.units",
    "opioidcds.tables": "opioidcds._knowledge.tables",
    "opioidcds.vocabulary": "opioidcds._knowledge.vocabulary",
    "opioidcds.products": "opioidcds._knowledge.products",
    "opioidcds.products_parser": "opioidcds._knowledge.product_names",
    "opioidcds.patient": "opioidcds._inputs.patient",
    "opioidcds.dosage": "opioidcds._resolve.dosage",
    "opioidcds.dose": "opioidcds._resolve.dose",
    "opioidcds.resolve": "opioidcds._resolve.prescription",
    "opioidcds.fhir": "opioidcds._resolve.fhir",
    "opioidcds.ome": "opioidcds._measure.ome",
    "opioidcds.taper": "opioidcds._decide.taper",
    "opioidcds.acute": "opioidcds._decide.hospital",
    "opioidcds.rules": "opioidcds._decide.rules",
    "opioidcds.rules.conditions": "opioidcds._decide.rules.conditions",
    "opioidcds.rules.durable_backend": "opioidcds._decide.rules.durable_backend",
    "opioidcds.rules.errors": "opioidcds._decide.rules.errors",
    "opioidcds.rules.evaluator": "opioidcds._decide.rules.evaluator",
    "opioidcds.rules.loader": "opioidcds._decide.rules.loader",
    "opioidcds.rules.profiles": "opioidcds._decide.rules.profiles",
    "opioidcds.rules.schema": "opioidcds._decide.rules.schema",
}
"""Old module path -> the module it became."""

SPLIT: dict[str, tuple[str, ...]] = {
    "opioidcds.models": (
        "opioidcds._base",
        "opioidcds._knowledge.provenance",
        "opioidcds._inputs.prescription",
        "opioidcds._measure.results",
    ),
    "opioidcds.assess": (
        "opioidcds._decide.knowledge",
        "opioidcds._decide.assessment",
        "opioidcds._decide.alerts",
    ),
    "opioidcds.provenance": ("opioidcds._knowledge.provenance", "opioidcds._decide.knowledge"),
    "opioidcds.rules.linter": ("opioidcds._decide.rules.linter", "opioidcds._decide.rules.loader"),
}
"""Old module path -> the modules its names now live in (searched in order)."""


def _caller_level() -> int:
    """Stack level of the first frame outside this module and the import machinery.

    ``warnings.warn`` itself skips the import machinery's frames when it counts, so only the
    frames of this module are counted here.
    """
    level = 1
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_code.co_filename
        if name == __file__:
            level += 1
        elif not ("importlib" in name and "_bootstrap" in name):
            return level
        frame = frame.f_back  # type: ignore[assignment]
    return 1  # pragma: no cover - there is always a caller


def _warn(old: str) -> None:
    warnings.warn(
        f"'{old}' is deprecated and will be removed in the next minor release: import the names "
        "from 'opioidcds' (for example 'from opioidcds import assess, Patient')",
        DeprecationWarning,
        stacklevel=_caller_level(),
    )


class _SplitModule(ModuleType):
    """An old module whose names now live in several modules; each is looked up on use."""

    __homes__: tuple[str, ...]

    def __getattr__(self, name: str) -> object:
        for home in self.__homes__:
            module = importlib.import_module(home)
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(f"module '{self.__name__}' has no attribute '{name}'")


class _OldPathLoader(Loader):
    """Loads an old path: the moved module itself, or a module that looks names up."""

    def __init__(self, old: str) -> None:
        self.old = old
        self.real_spec: ModuleSpec | None = None

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        """The module the old path became (or a look-up module for a split one)."""
        if self.old in MOVED:
            real = importlib.import_module(MOVED[self.old])
            self.real_spec = real.__spec__
            return real
        module = _SplitModule(self.old)
        module.__homes__ = SPLIT[self.old]
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Warn; give a moved module back its own spec (the import system set the old one)."""
        _warn(self.old)
        if self.real_spec is not None:
            module.__spec__ = self.real_spec


class _OldPathFinder(MetaPathFinder):
    """Finds the import paths used before the layout change (ahead of any other finder)."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> ModuleSpec | None:
        if fullname not in MOVED and fullname not in SPLIT:
            return None
        package = fullname == "opioidcds.rules"
        return ModuleSpec(fullname, _OldPathLoader(fullname), is_package=package)


_FINDER = _OldPathFinder()


def install() -> None:
    """Put the finder of old import paths first on ``sys.meta_path`` (once)."""
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
