"""The kinds of ruleset table (hit policies), of rule (pathway stages) and of local ruleset.

Read by the file schema, the evaluator and the linter; a module of their own, so that using a
loaded ruleset (read back from the knowledge cache) does not import the file schema.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["RUNS_FOR_EVERY_PATIENT", "HitPolicy", "Stage"]


class HitPolicy(StrEnum):
    """How a ruleset's rules combine into a result.

    ``collect``: every rule whose condition holds fires (alerts). ``unique``: exactly one rule
    holds for any input (decision tables; overlaps and gaps are load errors). ``priority``: the
    rule with the lowest ``priority`` number among those that hold fires. ``first``: the first
    rule in file order that holds fires (needs ``hit_policy_reason``).
    """

    COLLECT = "collect"
    UNIQUE = "unique"
    PRIORITY = "priority"
    FIRST = "first"


class Stage(StrEnum):
    """Pathway stage a rule belongs to: Prevent, De-escalate, Find, Treat, Sustain.

    The stages of the NHS England analysis of opioid-reduction programmes (2023).
    """

    PREVENT = "prevent"
    DE_ESCALATE = "de-escalate"
    FIND = "find"
    TREAT = "treat"
    SUSTAIN = "sustain"


RUNS_FOR_EVERY_PATIENT = "every-patient"
"""``runs_for`` of a local ruleset the library evaluates for every patient."""
