"""The knowledge bundle the decisions use, and the rule engines that evaluate it.

A :class:`Knowledge` bundle holds the conversion table, vocabulary, catalogue, rulesets and
profile, loaded and checked once; immutable and safe to share between threads. The engines
evaluate its rulesets: the pure-Python reference evaluator (default) or durable-rules (extra
``durable``). :func:`for_knowledge` describes a bundle for a result's provenance.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache, lru_cache
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import TYPE_CHECKING, Final

from opioidcds._decide.rules import (
    BackendError,
    BoundRuleset,
    Decisions,
    Profile,
    Ruleset,
    bind_profile,
)
from opioidcds._decide.rules.conditions import Scalar, Truth
from opioidcds._display import format_decimal
from opioidcds._errors import InvalidInputError, KnowledgeBaseError
from opioidcds._knowledge.cache import cached
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds._knowledge.products import Catalogue
from opioidcds._knowledge.provenance import (
    KnowledgeSource,
    Provenance,
    bundled_catalogue_if,
    fingerprint_source,
    knowledge_provenance,
)
from opioidcds._knowledge.tables import ConversionTable, default_table, load_table
from opioidcds._knowledge.vocabulary import Vocabulary, default_vocabulary
from opioidcds._version import __version__

if TYPE_CHECKING:
    from opioidcds._decide.rules.durable_backend import DurableRuleset

__all__ = [
    "REQUIRED_RULESETS",
    "Backend",
    "Engine",
    "Knowledge",
    "Truths",
    "bundled_rulesets",
    "default_knowledge",
    "for_knowledge",
    "load_knowledge",
    "rule_sources",
]

REQUIRED_RULESETS: Final = (
    "scope",
    "risk-factors",
    "risk-level",
    "support-tier",
    "early-reordering",
    "prescribing-alerts",
    "headline",
)
"""Ruleset ids a :class:`Knowledge` bundle must hold."""

_PROFILES_KEPT: Final = 16  # profiles kept bound per bundle; not clinical
_HIGH_DOSE_FACTOR: Final = "high-dose"
"""The risk factor the risk level reads on its own (not counted in ``factor_count``)."""
_FLOOR_KINDS: Final = frozenset({"dose-band", "floor"})
"""Factor kinds that only set a support-tier floor and are not counted as risk factors."""


def _counted_factors_fit(rulesets: Mapping[str, Ruleset]) -> None:
    """Refuse risk factors the risk level cannot count (a local extension adding one).

    ``risk-level`` declares the largest ``factor_count`` it decides; more counted factors in
    ``risk-factors`` would be refused at run time for a patient with all of them present or
    unknown, so the bundle is refused at load instead, naming the extensions.

    Raises:
        KnowledgeBaseError: more counted factors than ``factor_count`` allows.
    """
    factors, level = rulesets["risk-factors"], rulesets["risk-level"]
    spec = next((f for f in level.inputs if f.name == "factor_count"), None)
    if spec is None or spec.maximum is None:
        return
    counted = [
        r
        for r in factors.rules
        if r.id != _HIGH_DOSE_FACTOR and dict(r.outcome).get("kind") not in _FLOOR_KINDS
    ]
    if len(counted) > spec.maximum:
        added = ", ".join(f"{e.id} ({e.source})" for e in factors.extensions) or "none"
        raise KnowledgeBaseError(
            f"ruleset risk-factors has {len(counted)} counted risk factors, but ruleset "
            f"risk-level decides a factor count of at most {spec.maximum} (local extensions: "
            f'{added}); a local factor may only be a tier floor (kind = "floor") until '
            "risk-level's table covers more"
        )


class Backend(StrEnum):
    """Rule engine: the pure-Python reference evaluator, or durable-rules (extra ``durable``)."""

    REFERENCE = "reference"
    DURABLE = "durable"


# --- knowledge -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Knowledge:
    """Everything the decisions depend on, loaded and checked once; immutable, thread-safe.

    Build with :func:`load_knowledge` or use :func:`default_knowledge`. ``catalogue`` may be
    ``None``: the bundled catalogue is then loaded on first need by the OME calculator.
    """

    table: ConversionTable
    vocabulary: Vocabulary
    rulesets: Mapping[str, Ruleset]
    profile: Profile | None = None
    catalogue: Catalogue | None = None
    _bound: Mapping[str, BoundRuleset] = field(default_factory=dict, repr=False)
    _durable: dict[tuple[str, str | None], DurableRuleset] = field(default_factory=dict, repr=False)
    _profiled: dict[str, Mapping[str, BoundRuleset]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        """Check the required rulesets are present and bind the profile once."""
        missing = [r for r in REQUIRED_RULESETS if r not in self.rulesets]
        if missing:
            raise KnowledgeBaseError(f"knowledge bundle lacks ruleset '{missing[0]}'")
        _counted_factors_fit(self.rulesets)
        object.__setattr__(self, "rulesets", MappingProxyType(dict(self.rulesets)))
        object.__setattr__(self, "_bound", bind_profile(self.rulesets, self.profile))

    def bound(self, ruleset_id: str, profile: Profile | None = None) -> BoundRuleset:
        """The ruleset with ``profile`` applied (default: the bundle's own profile).

        The whole profile is applied to every ruleset of the bundle the first time it is used
        (:func:`~opioidcds._decide.rules.bind_profile`): its version pins are enforced the same
        way whichever ruleset a command reads.

        Raises:
            ProfileError: the profile cannot be applied (a ruleset missing or at another
                version than pinned, unknown names, breaks a table).
        """
        return self.bound_all(profile)[ruleset_id]

    def bound_all(self, profile: Profile | None = None) -> Mapping[str, BoundRuleset]:
        """Every ruleset with ``profile`` applied (default: the bundle's own profile).

        Raises:
            ProfileError: as :meth:`bound`.
        """
        if profile is None or profile is self.profile:
            return self._bound
        with self._lock:
            found = self._profiled.get(profile.fingerprint)
        if found is None:
            found = bind_profile(self.rulesets, profile)
            with self._lock:
                if len(self._profiled) >= _PROFILES_KEPT:
                    self._profiled.pop(next(iter(self._profiled)))
                self._profiled[profile.fingerprint] = found
        return found

    def durable(self, bound: BoundRuleset) -> DurableRuleset:
        """The durable-rules compilation of ``bound``, built once per ruleset and profile.

        Raises:
            BackendError: the ``durable`` extra (durable-rules) is not installed.
        """
        key = (bound.ruleset.id, bound.profile.fingerprint if bound.profile else None)
        with self._lock:
            found = self._durable.get(key)
            if found is None:
                try:
                    module = importlib.import_module("opioidcds._decide.rules.durable_backend")
                    found = module.DurableRuleset(bound)
                except ImportError:
                    raise BackendError("the durable-rules backend is not installed") from None
                self._durable[key] = found
        return found

    def versions(self, profile: Profile | None = None) -> dict[str, str]:
        """Versions of everything used: library, table, vocabulary, rulesets, extensions, profile.

        Rulesets: those ``assess`` uses; extensions: every local extension loaded; local
        rulesets: every one run for every patient (``runs_for``).
        """
        out = {
            "opioidcds": __version__,
            "table": f"{self.table.id} {self.table.version}",
        }
        out.update({f"vocabulary:{k}": v for k, v in self.vocabulary.versions().items()})
        out.update({f"ruleset:{k}": self.rulesets[k].version for k in sorted(REQUIRED_RULESETS)})
        out.update(
            {
                f"extension:{e.id}": f"{e.version} (adds to {k})"
                for k in sorted(self.rulesets)
                for e in self.rulesets[k].extensions
            }
        )
        out.update(
            {
                f"local-ruleset:{k}": f"{rs.version} ({rs.owner})"
                for k, rs in sorted(self.rulesets.items())
                if rs.runs_for is not None
            }
        )
        used = profile or self.profile
        out["profile"] = f"{used.id} {used.version}" if used is not None else "none"
        return out


def load_knowledge(
    rules: str | Path | None = None,
    *,
    table: ConversionTable | str | Path | None = None,
    profile: Profile | str | Path | None = None,
    vocabulary: Vocabulary | None = None,
    catalogue: Catalogue | None = None,
    local_rules: str | Path | None = None,
) -> Knowledge:
    """Load a knowledge bundle: rulesets from ``rules`` (default: bundled ``rules/``).

    ``local_rules`` is a folder of local rules beside them (``--rules DIR``): extensions that
    add rules to a ruleset, and whole new rulesets (:func:`load_local_rules`).

    Raises:
        KnowledgeBaseError: a file is missing or invalid, a required ruleset is absent, local
            rules do not load or lint clean, or the profile cannot be applied.
    """
    rulesets = _loader().load_rulesets(Path(rules)) if rules is not None else bundled_rulesets()
    if local_rules is not None:
        rulesets = _loader().load_local_rules(local_rules, rulesets)
    if isinstance(table, ConversionTable):
        tbl = table
    elif table is None:
        tbl = default_table()
    else:
        tbl = load_table(table)
    prof = _loader().load_profile(profile) if isinstance(profile, str | Path) else profile
    return Knowledge(
        table=tbl,
        vocabulary=vocabulary if vocabulary is not None else default_vocabulary(),
        rulesets=rulesets,
        profile=prof,
        catalogue=catalogue,
    )


def bundled_rulesets() -> dict[str, Ruleset]:
    """The bundled rulesets, loaded and checked; a new dict each call.

    Read back from the on-disk knowledge cache when it holds this install's
    (``_knowledge/cache.py``).

    Raises:
        KnowledgeBaseError: the bundled rulesets are invalid (a packaging defect).
    """
    return cached("rulesets", dict, lambda: _loader().load_rulesets(knowledge_dir("rules")))


def _loader() -> ModuleType:
    """The rules loader, imported when files are read (not when the knowledge cache is)."""
    return importlib.import_module("opioidcds._decide.rules.loader")


@cache
def default_knowledge() -> Knowledge:
    """The bundled knowledge (UK Opioids Aware table, bundled rulesets, no profile), loaded once.

    Raises:
        KnowledgeBaseError: the bundled knowledge is invalid (a packaging defect).
    """
    return load_knowledge()


# --- engines ---------------------------------------------------------------------------------

Engine = Callable[[BoundRuleset, Mapping[str, object]], Decisions]


def _reference(bound: BoundRuleset, inputs: Mapping[str, object]) -> Decisions:
    return bound.evaluate(inputs)


Truths = Callable[[BoundRuleset, tuple[Scalar | None, ...]], tuple[Truth | str, ...]]


def _reference_truths(
    bound: BoundRuleset, values: tuple[Scalar | None, ...]
) -> tuple[Truth | str, ...]:
    return bound.truths(values)


_REFERENCE_BACKEND: Final = Backend.REFERENCE
"""Looked up once: an enum member costs a look-up per call (issue 20; the check's path)."""


def _truths(backend: Backend | str, knowledge: Knowledge) -> Truths:
    """Each rule's condition value from the chosen engine (hit policy applied by the caller)."""
    if backend is _REFERENCE_BACKEND or _backend(backend) is _REFERENCE_BACKEND:
        return _reference_truths

    def durable(bound: BoundRuleset, values: tuple[Scalar | None, ...]) -> tuple[Truth | str, ...]:
        return knowledge.durable(bound).truths(values)

    return durable


def _backend(backend: Backend | str) -> Backend:
    try:
        return Backend(backend)
    except ValueError:
        raise InvalidInputError("backend", "must be 'reference' or 'durable'") from None


def _engine(backend: Backend | str, knowledge: Knowledge) -> Engine:
    try:
        chosen = Backend(backend)
    except ValueError:
        raise InvalidInputError("backend", "must be 'reference' or 'durable'") from None
    if chosen is Backend.REFERENCE:
        return _reference

    def durable(bound: BoundRuleset, inputs: Mapping[str, object]) -> Decisions:
        return knowledge.durable(bound).evaluate(inputs)

    return durable


def _parameter_note(bound: BoundRuleset, rule_id: str) -> str:
    """The parameters a rule reads, as applied (profile included), for people.

    Each as ``label value unit`` ("high dose above 120 mg/day"), with the parameter's display
    label from the ruleset (its name when it has none).
    """
    rs = bound.ruleset
    parts = []
    for name in rs.rule(rule_id).params:
        unit = rs.parameters[name].unit or ""
        value = format_decimal(bound.binding.params[name])
        gap = "" if unit in ("", "%") else " "
        parts.append(f"{rs.parameter_label(name)} {value}{gap}{unit}")
    return "; ".join(parts)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _texts(value: object) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, tuple) else ()


@lru_cache(maxsize=256)
def for_knowledge(
    knowledge: Knowledge,
    profile: Profile | None,
    bundled_catalogue: bool,
) -> Provenance:
    """Provenance of an assessment or prescribing check made with ``knowledge``.

    Covers the bundle's table, vocabulary and required rulesets, the profile applied
    (``profile``, else the bundle's own), the bundle's catalogue if it has one, the bundled
    catalogue when ``bundled_catalogue`` (an input named a dm+d product), and the medicine
    class files used to class the patient's medicines.
    """
    used = profile if profile is not None else knowledge.profile
    return knowledge_provenance(
        table=knowledge.table,
        vocabulary=knowledge.vocabulary,
        catalogues=(knowledge.catalogue, bundled_catalogue_if(bundled_catalogue)),
        sources=rule_sources(
            [
                *(knowledge.rulesets[r] for r in REQUIRED_RULESETS),
                *(r for _, r in sorted(knowledge.rulesets.items()) if r.runs_for is not None),
            ],
            used,
        ),
        medicine_classes=True,
    )


def rule_sources(
    rulesets: Iterable[Ruleset], profile: Profile | None
) -> tuple[KnowledgeSource, ...]:
    """The provenance entries of ``rulesets`` and of the ``profile`` applied (if any)."""
    sources = [fingerprint_source("ruleset", r) for r in rulesets]
    if profile is not None:
        sources.append(fingerprint_source("profile", profile))
    return tuple(sources)
