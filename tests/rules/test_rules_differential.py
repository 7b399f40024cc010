"""Differential test: random small rulesets and inputs give the same decisions on both engines.

Run derandomised in CI (HYPOTHESIS_PROFILE=ci). Any divergence hypothesis finds must be added
to test_rules_durable.py as an explicit regression case.
"""

from __future__ import annotations

import pytest
from hypothesis import given, reject
from hypothesis import strategies as st

from opioidcds import BackendError, OpioidCDSError, Ruleset

from .dsl_strategies import inputs, inputs_for, rulesets

pytest.importorskip("durable")

from opioidcds._decide.rules.durable_backend import DurableRuleset


def _outcome(engine: Ruleset | DurableRuleset, values: dict[str, object]) -> object:
    try:
        d = engine.evaluate(values)
    except OpioidCDSError as exc:
        return type(exc).__name__
    return dict(d.statuses), d.fired_ids, d.complete, d.unknown_inputs


@given(rs=rulesets(), cases=st.lists(inputs, min_size=1, max_size=8))
def test_backends_agree(rs: Ruleset, cases: list[dict[str, object]]) -> None:
    try:
        durable = DurableRuleset(rs)
    except BackendError:
        # durable-rules refused to compile (an engine size limit): a clear error, never a
        # wrong answer; such rulesets are outside what the backend can hold
        reject()
    with durable:
        for values in cases:
            assert _outcome(rs, values) == _outcome(durable, values), values


def _knowledge_rulesets() -> list[Ruleset]:
    from opioidcds import load_rulesets  # noqa: PLC0415
    from opioidcds._knowledge.paths import knowledge_dir  # noqa: PLC0415

    from .dsl_helpers import FIXTURES  # noqa: PLC0415

    found = dict(load_rulesets(FIXTURES))
    found.update(load_rulesets(knowledge_dir("rules")))
    return list(found.values())


@pytest.mark.parametrize("rs", _knowledge_rulesets(), ids=lambda rs: rs.id)
def test_backends_agree_on_every_ruleset(rs: Ruleset) -> None:
    """Every ruleset shipped in rules/ (and every fixture), on inputs drawn from its domains."""
    with DurableRuleset(rs) as durable:

        @given(values=inputs_for(rs))
        def check(values: dict[str, object]) -> None:
            assert _outcome(rs, values) == _outcome(durable, values), values

        check()
