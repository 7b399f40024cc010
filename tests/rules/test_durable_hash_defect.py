"""HAZ-016-C2: durable-rules' 32-bit fact hash rejects distinct facts; the backend contains it.

The defect (durable-rules 2.0.28, measured here): a fact asserted without an ``id`` gets one
computed from its properties (a 64-bit FNV-1a hash written as ``$`` + 20 digits), but the
session's message index stores and looks facts up by a 32-bit FNV-1a hash of the first 20
characters of that id, and only compares those 32 bits. Two distinct facts in one session
whose 32-bit hashes collide: the second is refused as "already observed" (``ERR_EVENT_OBSERVED``,
``MessageObservedException``). By the birthday bound a collision is expected among ~77,000
distinct facts in one session, so a long-lived session shared across evaluations would lose
decisions.

The pair below was found offline by a collision search over the facts the backend builds for
``x`` = 0, 1, 2, ... in session ``s1`` (the first hit: x = 10424 and x = 26354); the first
test shows it still triggers the defect in the installed engine, so the other tests are not
vacuous.

The containment (``durable_backend.py``): every evaluation asserts exactly one fact in a fresh
session, and the session is deleted afterwards, so no two facts ever share a session.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path

import pytest

from opioidcds import Ruleset, load_ruleset
from opioidcds._decide.rules import durable_backend as backend
from opioidcds._decide.rules.durable_backend import DurableRuleset, live_sessions

from .dsl_helpers import MINIMAL, write

durable_engine = pytest.importorskip("durable.engine")

# the two inputs whose facts collide in session "s1" (see the module docstring)
X_LOW, X_HIGH = 10424, 26354
COLLIDING_SID = "s1"


@pytest.fixture
def ruleset(tmp_path: Path) -> Ruleset:
    # MINIMAL (x number, flag, colour; r1: x > limit) with room for the colliding values and
    # the limit between them, so the two facts must get different answers:
    # r1(10424) = 10424 > 20000 = false; r1(26354) = 26354 > 20000 = true
    text = MINIMAL.replace("max = 1000\n", "max = 100000\n").replace(
        "value = 10\n", "value = 20000\n"
    )
    return load_ruleset(write(tmp_path, text))


def _fact(d: DurableRuleset, x: int) -> dict[str, object]:
    return d.fact(d.bound.normalise({"x": x}))


def test_the_colliding_facts_still_trigger_the_defect(ruleset: Ruleset) -> None:
    """Two distinct facts, one session: durable-rules refuses the second as a duplicate."""
    with DurableRuleset(ruleset) as d:
        low, high = _fact(d, X_LOW), _fact(d, X_HIGH)
    assert low != high
    assert (low["v_x"], high["v_x"]) == (X_LOW, X_HIGH)  # integers: every constant is whole
    engine_ruleset = durable_engine.Ruleset(
        "haz-016-c2-probe", None, {"seen": {"all": [{"m": {"seen": 1}}], "run": lambda _c: None}}
    )
    handle = engine_ruleset.assert_fact({**low, "sid": COLLIDING_SID})
    engine_ruleset.do_actions(handle, lambda _e, _s: None)
    try:
        with pytest.raises(durable_engine.MessageObservedException):
            engine_ruleset.assert_fact({**high, "sid": COLLIDING_SID})
        # a distinct fact that does not collide is accepted in the same session (control)
        handle = engine_ruleset.assert_fact({**_fact_with(low, X_LOW + 1), "sid": COLLIDING_SID})
        engine_ruleset.do_actions(handle, lambda _e, _s: None)
    finally:
        engine_ruleset.delete_state(COLLIDING_SID)
        durable_engine.durable_rules_engine.delete_ruleset(engine_ruleset._handle)


def _fact_with(fact: dict[str, object], x: int) -> dict[str, object]:
    return {**fact, "v_x": x, "w_x": x}


@pytest.mark.parametrize("order", [(X_LOW, X_HIGH), (X_HIGH, X_LOW)])
def test_backend_gives_the_reference_result_for_colliding_facts(
    ruleset: Ruleset, order: tuple[int, int]
) -> None:
    """Fresh session ids (the normal path): both facts decided, as the reference decides."""
    with DurableRuleset(ruleset) as d:
        for x in (*order, *order):
            ref, dur = ruleset.evaluate({"x": x}), d.evaluate({"x": x})
            assert dur.statuses == ref.statuses
            assert dur.fired_ids == ref.fired_ids
            # worked by hand: fires exactly when x > 20000
            assert dur.fired_ids == (("r1",) if x > 20000 else ())
    assert live_sessions() == 0


def test_containment_holds_even_when_the_session_id_repeats(
    ruleset: Ruleset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Force every evaluation into session "s1", the session the pair collides in.

    Only deleting each session after its one fact keeps the second fact from being refused:
    a backend that kept facts in a reused session would raise BackendError (or lose the
    decision) here.
    """
    monkeypatch.setattr(backend._SESSIONS, "ids", itertools.repeat(1))
    with DurableRuleset(ruleset) as d:
        assert _fact(d, X_LOW) != _fact(d, X_HIGH)
        for x in (X_LOW, X_HIGH, X_LOW, X_HIGH):
            decided = d.evaluate({"x": Decimal(x)})
            assert decided.statuses == ruleset.evaluate({"x": x}).statuses
            assert decided.fired_ids == (("r1",) if x == X_HIGH else ())
    assert live_sessions() == 0
