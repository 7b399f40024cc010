"""A memoising rule engine for populations: one evaluation per *equivalence class* of inputs.

A rule's condition compares each input with constants and parameters only (the DSL has no
arithmetic between inputs), so two input vectors that sit on the same side of every constant
a ruleset compares an input with — and are equal for booleans and enumerations — get the same
truth for every rule, hence the same statuses and outcomes. :class:`MemoEngine` keys its cache
on that position (:func:`opioidcds._decide.rules.conditions.field_constants`, plus each input's
declared bounds so out-of-range values are still refused) and evaluates the first vector of
each class with the reference evaluator. A first, exact-value cache (same inputs exactly)
avoids even computing the class for repeated vectors.

Only the statuses and outcomes of a cached :class:`~opioidcds.Decisions` may be read:
its traces show the values of the first vector of the class. The population engine reads
nothing else; the differential test against :func:`opioidcds.assess` checks this.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Mapping
from decimal import Decimal
from typing import Final

from opioidcds._decide.rules import BoundRuleset, Decisions
from opioidcds._decide.rules.conditions import field_constants

__all__ = ["MemoEngine", "class_of", "cut_points"]

_MAX_ENTRIES: Final = 1_000_000  # memory cap, not clinical; the cache is cleared beyond it

_Spec = tuple[tuple[str, tuple[Decimal, ...] | None], ...]


def _spec(bound: BoundRuleset) -> _Spec:
    rs = bound.ruleset
    params = bound.binding.params
    cuts: dict[str, set[Decimal]] = {}
    for rule in rs.rules:
        for name, consts in field_constants(rule.condition, params).items():
            bucket = cuts.setdefault(name, set())
            bucket.update(
                Decimal(c)
                for c in consts
                if isinstance(c, int | Decimal) and not isinstance(c, bool)
            )
    out: list[tuple[str, tuple[Decimal, ...] | None]] = []
    for f in rs.inputs:
        if f.numeric:
            points = set(cuts.get(f.name, set()))
            for bound_value in (f.minimum, f.maximum):
                if bound_value is not None:
                    points.add(Decimal(bound_value))
            out.append((f.name, tuple(sorted(points))))
        else:
            out.append((f.name, None))
    return tuple(out)


def cut_points(bound: BoundRuleset) -> dict[str, tuple[Decimal, ...] | None]:
    """Per input of ``bound``: the sorted cut points, ``None`` for booleans and enumerations.

    The cut points are the constants the input is compared with, declared bounds included;
    booleans and enumerations are compared by value.
    """
    return dict(_spec(bound))


def class_of(cuts: tuple[Decimal, ...] | None, x: object) -> object:
    """The equivalence class of value ``x`` of an input with these cut points (hashable)."""
    if x is None or cuts is None or isinstance(x, bool) or not isinstance(x, int | Decimal):
        return x  # unknown, boolean, enumeration, or a value the evaluator will refuse
    i = bisect_left(cuts, x)
    integral = not isinstance(x, Decimal) or (x.is_finite() and x == x.to_integral_value())
    return (type(x), integral, i, i < len(cuts) and cuts[i] == x)


def _key(spec: _Spec, inputs: Mapping[str, object]) -> tuple[object, ...]:
    return tuple(class_of(cuts, inputs.get(name)) for name, cuts in spec)


class MemoEngine:
    """An ``assess`` engine (``(bound, inputs) -> Decisions``) with an equivalence-class cache.

    Thread-safe; one instance per screening run. ``hits`` and ``misses`` count lookups.
    """

    def __init__(self) -> None:
        """Start with an empty cache."""
        self._specs: dict[int, tuple[BoundRuleset, _Spec]] = {}
        self._cache: dict[tuple[object, ...], Decisions] = {}
        self._exact: dict[tuple[object, ...], Decisions] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def _spec_of(self, bound: BoundRuleset) -> _Spec:
        found = self._specs.get(id(bound))
        if found is None or found[0] is not bound:
            found = (bound, _spec(bound))
            with self._lock:
                self._specs[id(bound)] = found
        return found[1]

    def __call__(self, bound: BoundRuleset, inputs: Mapping[str, object]) -> Decisions:
        """Decisions of ``bound`` on ``inputs``; only statuses and outcomes are to be read."""
        exact = (id(bound), *inputs.items())
        try:
            found = self._exact.get(exact)
        except TypeError:  # an unhashable value: the evaluator will refuse it
            return bound.evaluate(inputs)
        if found is not None:
            self.hits += 1
            return found
        key = (id(bound), *_key(self._spec_of(bound), inputs))
        found = self._cache.get(key)
        if found is not None:
            self.hits += 1
            self._remember(exact, found)
            return found
        self.misses += 1
        decided = bound.evaluate(inputs)
        with self._lock:
            if len(self._cache) >= _MAX_ENTRIES:
                self._cache.clear()
            self._cache[key] = decided
        self._remember(exact, decided)
        return decided

    def _remember(self, exact: tuple[object, ...], decided: Decisions) -> None:
        with self._lock:
            if len(self._exact) >= _MAX_ENTRIES:
                self._exact.clear()
            self._exact[exact] = decided
