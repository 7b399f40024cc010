"""A second engine: the same rulesets compiled to durable-rules 2.0.28 (extra ``durable``).

The reference evaluator is the specification; this backend exists so that a production rule
engine is held to it by differential tests (``tests/rules/test_rules_differential.py``). It
computes each rule's Kleene truth value inside durable-rules and then applies the same hit
policy code as the reference, so :class:`~opioidcds.Decisions` are comparable.
Traces are rendered by the reference formatter from the same inputs.

How each rule is compiled: two durable rules per DSL rule, ``t<i>`` matching exactly when the
condition is *true* and ``f<i>`` exactly when it is *false* (Kleene: ``T(all) = and T``,
``F(all) = or F``, ``T(not x) = F(x)``, ...). Neither firing means *unknown*.

Measured defects of durable-rules 2.0.28 (DESIGN.md) and how each is guarded here:

* ``post`` of an event fires only one rule: every input is asserted as a **fact**.
* facts with no session id join across patients, and its 32-bit fact hash can reject a
  distinct fact as a duplicate: every evaluation uses a **fresh session id** holding exactly
  one fact, and the session is **deleted afterwards** (in ``finally``).
* it is not thread-safe: every call into it holds **one process-wide lock**.
* numbers such as ``1e-05`` are rejected (JSON exponent form): numbers are sent as **scaled
  integers** (value x 10^s, floored and ceilinged), which also keeps decimal comparisons exact;
  ``s`` is the most decimal places of any constant the input is compared with.
* exceptions raised inside actions are swallowed into session state: actions record their own
  errors and the session state is inspected; either is **raised** as :class:`BackendError`.
* at most 1,024 live session ids: live sessions are counted process-wide and the backend
  **refuses** (``BackendError``) rather than run past the limit.
* its ``Host`` starts background dispatch threads: the backend drives ``durable.engine.Ruleset``
  directly, so no threads are started.
* measured here: deleting the session of a fact that matched no rule crashes the process
  (segmentation fault): every fact carries ``seen = 1`` and a sentinel rule matches it, so every
  fact is handled; the sentinel not firing is itself an error.
* measured here: a comparison on an absent field never matches, so comparisons need no
  presence guard (and must not have one: the extra terms push some rules over an engine limit,
  ``Could not create ruleset, error code: 113``); a ruleset durable-rules cannot compile is a
  :class:`BackendError` at construction, never a wrong answer.
* measured here as well: ``$nex``/``$ex`` (field absent/present) rules can hang
  ``complete_and_start_action``; known-ness is sent as an explicit ``k_<field>`` flag instead,
  and an ``$or`` may fire the same rule more than once (results are keyed by rule, so repeats
  are harmless).
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Final

from opioidcds._decide.rules.conditions import (
    AllOf,
    AnyOf,
    Between,
    Compare,
    Condition,
    Const,
    FieldSpec,
    Known,
    Member,
    Not,
    Operand,
    Ref,
    Scalar,
    Truth,
    field_constants,
)
from opioidcds._decide.rules.errors import BackendError
from opioidcds._decide.rules.evaluator import DISABLED, BoundRuleset, Decisions, Ruleset
from opioidcds._decide.rules.profiles import Profile

__all__ = ["MAX_LIVE_SESSIONS", "DurableRuleset", "live_sessions"]

MAX_LIVE_SESSIONS: Final = 1024
"""durable-rules 2.0.28 keeps at most 1,024 live session ids; the backend refuses beyond."""
_MAX_EXACT: Final = 2**53  # largest scaled integer sent (exact in a double as well as int64)

Json = dict[str, Any]

_LOCK: Final = threading.Lock()
"""The one process-wide lock around every call into durable-rules (it is not thread-safe)."""


class _Sessions:
    """Process-wide count of live durable sessions and the session id sequence.

    The only mutable module state in opioidcds, forced by durable-rules being process-global;
    touched only while holding ``_LOCK``.
    """

    def __init__(self) -> None:
        self.live = 0
        self.ids = itertools.count(1)
        self.rulesets = itertools.count(1)


_SESSIONS: Final = _Sessions()


def live_sessions() -> int:
    """Return how many durable-rules sessions are open now (0 between evaluations)."""
    with _LOCK:
        return _SESSIONS.live


def _durable() -> Any:  # noqa: ANN401 - the untyped durable.engine module
    try:
        from durable import engine  # noqa: PLC0415 - optional dependency, imported on use
    except ImportError:  # pragma: no cover - the dev extra installs it
        raise BackendError(
            "the durable-rules backend needs the 'durable' extra: pip install 'opioidcds[durable]'"
        ) from None
    return engine


# --- compiling conditions ----------------------------------------------------------------------


def _junction(op: str, parts: list[Json]) -> Json:
    """Flatten nested same-operator junctions and drop repeated terms.

    durable-rules limits the size of a rule (error 113 when exceeded).
    """
    flat: dict[str, Json] = {}
    for part in parts:
        for item in part[op] if set(part) == {op} else [part]:
            flat.setdefault(json.dumps(item, sort_keys=True), item)
    items = list(flat.values())
    return items[0] if len(items) == 1 else {op: items}


def _and(parts: list[Json]) -> Json:
    return _junction("$and", parts)


def _or(parts: list[Json]) -> Json:
    return _junction("$or", parts)


@dataclass(frozen=True, slots=True)
class _Compiler:
    params: Mapping[str, Decimal]
    fields: Mapping[str, FieldSpec]
    scales: Mapping[str, int]

    def const(self, op: Operand) -> Scalar:
        return op.value if isinstance(op, Const) else self.params[op.name]

    def scaled(self, field: str, c: Scalar) -> int:
        """``c`` x 10^scale as an exact integer (the scale covers every constant's places)."""
        assert isinstance(c, Decimal)  # noqa: S101 - numeric fields only
        shifted = c.scaleb(self.scales[field])
        whole = shifted.to_integral_value(rounding=ROUND_FLOOR)
        assert whole == shifted  # noqa: S101 - see _scales
        return int(whole)

    # number comparisons on v = floor(x * 10^s) and w = ceil(x * 10^s), C = c * 10^s:
    # x < c <=> v < C; x >= c <=> v >= C; x > c <=> w > C; x <= c <=> w <= C
    def num(self, field: str, op: str, c: Scalar) -> Json:
        v, w = f"v_{field}", f"w_{field}"
        big = self.scaled(field, c)
        if op == "<":
            body = {"$lt": {v: big}}
        elif op == ">=":
            body = {"$gte": {v: big}}
        elif op == ">":
            body = {"$gt": {w: big}}
        elif op == "<=":
            body = {"$lte": {w: big}}
        elif op == "=":
            body = _and([{v: big}, {w: big}])
        else:  # "!="
            body = _or([{"$lt": {v: big}}, {"$gt": {w: big}}])
        return body

    def leaf(self, field: str, op: str, c: Scalar) -> Json:
        if self.fields[field].numeric:
            return self.num(field, op, c)
        if op == "=":
            return {f"v_{field}": c}
        return {"$neq": {f"v_{field}": c}}

    def compile(self, node: Condition, want: bool) -> Json:  # noqa: PLR0911 - one per node kind
        """Durable expression true exactly when ``node`` has Kleene value ``want``."""
        if isinstance(node, Ref):
            return self.compile(node.child, want)
        if isinstance(node, Not):
            return self.compile(node.child, not want)
        if isinstance(node, AllOf | AnyOf):
            parts = [self.compile(c, want) for c in node.children]
            conj = isinstance(node, AllOf) == want
            return _and(parts) if conj else _or(parts)
        if isinstance(node, Known):
            return {f"k_{node.field}": 1 if node.known == want else 0}
        if isinstance(node, Compare):
            op = node.op if want else _NEGATE[node.op]
            return self.leaf(node.field, op, self.const(node.operand))
        if isinstance(node, Member):
            inside = want != node.negated
            options = [self.const(o) for o in node.options]
            if inside:
                return _or([self.leaf(node.field, "=", c) for c in options])
            return _and([self.leaf(node.field, "!=", c) for c in options])
        return self.between(node, want)

    def between(self, node: Between, want: bool) -> Json:
        lo_op = ">=" if node.low_closed else ">"
        hi_op = "<=" if node.high_closed else "<"
        lo, hi = self.const(node.low), self.const(node.high)
        if want:
            return _and([self.leaf(node.field, lo_op, lo), self.leaf(node.field, hi_op, hi)])
        return _or(
            [
                self.leaf(node.field, _NEGATE[lo_op], lo),
                self.leaf(node.field, _NEGATE[hi_op], hi),
            ]
        )


_SEEN: Final = -1  # result key of the sentinel rule that every fact matches

_NEGATE: Final = {"<": ">=", ">=": "<", ">": "<=", "<=": ">", "=": "!=", "!=": "="}


def _scales(bound: BoundRuleset) -> dict[str, int]:
    scales: dict[str, int] = {}
    for rule in bound.ruleset.rules:
        for name, consts in field_constants(rule.condition, bound.binding.params).items():
            for c in consts:
                if isinstance(c, Decimal):
                    exp = c.normalize().as_tuple().exponent
                    places = -exp if isinstance(exp, int) and exp < 0 else 0
                    scales[name] = max(scales.get(name, 0), places)
    return scales


# --- the backend ---------------------------------------------------------------------------------


class DurableRuleset:
    """A ruleset (with an optional profile) compiled to durable-rules.

    ``evaluate`` returns the same :class:`Decisions` as the reference evaluator would. Close
    it (or use it as a context manager) to free the engine's ruleset handle.

    Raises:
        BackendError: durable-rules is missing, refuses a fact, hits its session limit, or an
            action raised.

    """

    def __init__(self, ruleset: Ruleset | BoundRuleset, profile: Profile | None = None) -> None:
        """Compile ``ruleset`` (bound with ``profile`` if given) into a new durable ruleset."""
        bound = ruleset if isinstance(ruleset, BoundRuleset) else ruleset.bind(profile)
        self.bound = bound
        engine = _durable()
        fields = {f.name: f for f in bound.ruleset.inputs}
        self._scales = _scales(bound)
        compiler = _Compiler(bound.binding.params, fields, self._scales)
        self._results: dict[str, dict[int, bool]] = {}
        self._errors: dict[str, str] = {}
        definition: Json = {}
        for i, rule in enumerate(bound.ruleset.rules):
            if rule.id in bound.binding.disabled:
                continue
            for want in (True, False):
                name = f"{'t' if want else 'f'}{i}"
                definition[name] = {
                    "all": [{"m": compiler.compile(rule.condition, want)}],
                    "run": self._action(i, want),
                }
        definition["seen"] = {"all": [{"m": {"seen": 1}}], "run": self._action(_SEEN, True)}
        with _LOCK:
            self._name = f"opioidcds-{bound.ruleset.id}-{next(_SESSIONS.rulesets)}"
            try:
                self._engine_ruleset: Any = engine.Ruleset(self._name, None, definition)
            except Exception as exc:
                raise BackendError(
                    f"durable-rules cannot compile ruleset '{bound.ruleset.id}' "
                    f"(engine limit or error: {exc})"
                ) from None
        self._closed = False

    def _action(self, index: int, truth: bool) -> Callable[[Any], None]:
        def action(c: Any) -> None:  # noqa: ANN401 - durable's untyped closure
            sid = str(c.s.sid)
            try:
                self._record(sid, index, truth)
            except Exception as exc:
                self._errors[sid] = type(exc).__name__

        return action

    def _record(self, sid: str, index: int, truth: bool) -> None:
        seen = self._results.setdefault(sid, {})
        if seen.get(index, truth) != truth:
            raise BackendError("durable-rules matched a rule as both true and false")
        seen[index] = truth

    def __enter__(self) -> DurableRuleset:
        """Use as a context manager; closes on exit."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the engine ruleset."""
        self.close()

    def close(self) -> None:
        """Free the durable-rules ruleset handle (idempotent)."""
        if self._closed:
            return
        native = _durable().durable_rules_engine  # the C extension durable.engine wraps
        with _LOCK:
            native.delete_ruleset(self._engine_ruleset._handle)
        self._closed = True

    def fact(self, values: tuple[Scalar | None, ...]) -> Json:
        """Build the durable fact for normalised input values (without its session id)."""
        fact: Json = {"seen": 1}
        for spec in self.bound.ruleset.inputs:
            x = values[spec.index]
            if x is None:
                fact[f"k_{spec.name}"] = 0
                continue
            fact[f"k_{spec.name}"] = 1
            if spec.numeric:
                assert isinstance(x, Decimal)  # noqa: S101 - normalised
                scaled = x.scaleb(self._scales.get(spec.name, 0))
                floor = scaled.to_integral_value(rounding=ROUND_FLOOR)
                ceil = scaled.to_integral_value(rounding=ROUND_CEILING)
                if max(abs(floor), abs(ceil)) >= _MAX_EXACT:
                    raise BackendError(
                        f"input '{spec.name}' is too large for exact comparison in durable-rules"
                    )
                fact[f"v_{spec.name}"] = int(floor)
                fact[f"w_{spec.name}"] = int(ceil)
            else:
                fact[f"v_{spec.name}"] = x
        return fact

    def truths(self, values: tuple[Scalar | None, ...]) -> tuple[Truth | str, ...]:
        """Each rule's condition value as computed by durable-rules."""
        if self._closed:
            raise BackendError("this durable ruleset is closed")
        found = self._run(self._engine_ruleset, self.fact(values))
        disabled = self.bound.binding.disabled
        return tuple(
            DISABLED if r.id in disabled else found.get(i)
            for i, r in enumerate(self.bound.ruleset.rules)
        )

    def _run(self, rs: Any, fact: Json) -> dict[int, bool]:  # noqa: ANN401 - untyped durable
        engine = _durable()
        with _LOCK:
            if _SESSIONS.live >= MAX_LIVE_SESSIONS:
                raise BackendError(
                    f"durable-rules session limit reached ({MAX_LIVE_SESSIONS} live sessions)"
                )
            sid = f"s{next(_SESSIONS.ids)}"
            _SESSIONS.live += 1
            errors: list[BaseException] = []
            try:
                try:
                    handle = rs.assert_fact({**fact, "sid": sid})
                except engine.MessageNotHandledException:
                    # never expected (the sentinel matches every fact); the session must not
                    # be deleted (that crashes durable-rules), so it stays counted as live
                    raise BackendError("durable-rules did not handle the fact") from None
                except Exception as exc:
                    _SESSIONS.live -= 1  # the fact was refused: no session was created
                    raise BackendError(
                        f"durable-rules refused the fact ({type(exc).__name__})"
                    ) from None
                try:
                    rs.do_actions(handle, lambda e, _state: errors.append(e) if e else None)
                    state = rs.get_state(sid)
                    if "exception" in state or errors or sid in self._errors:
                        raise BackendError("an action raised inside durable-rules")
                    found = dict(self._results.get(sid, {}))
                    if found.pop(_SEEN, None) is not True:
                        raise BackendError("durable-rules did not run the sentinel rule")
                    return found
                finally:
                    rs.delete_state(sid)
                    _SESSIONS.live -= 1
            finally:
                self._results.pop(sid, None)
                self._errors.pop(sid, None)

    def evaluate(self, inputs: Mapping[str, object]) -> Decisions:
        """Evaluate on ``inputs`` with durable-rules; same contract as the reference.

        Raises:
            InvalidInputError: as :meth:`Ruleset.evaluate`.
            RulesetDefectError: as :meth:`Ruleset.evaluate`.
            BackendError: see the class.

        """
        values = self.bound.normalise(inputs)
        return self.bound.decide(values, self.truths(values))
