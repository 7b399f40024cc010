"""Decide: the clinical decisions, made by the rulesets of the rules DSL.

Holds the rules engine (``rules``: schema, conditions, profiles, the reference evaluator, the
linter, the loader and the durable-rules backend, each importing only the ones before it), the
knowledge bundle and its engines (``knowledge``), risk and support tiers (``assessment``),
per-script alerts (``alerts``), tapering plans (``taper``) and hospital checks (``hospital``).

May import: the foundation, ``_knowledge``, ``_inputs``, ``_resolve`` and ``_measure``; the
rules engine imports none of the other modules here.
"""
