"""Measure: the oral morphine equivalent (OME) of resolved prescriptions, exact and explained.

Holds the calculator (``ome``) and its results (``results``: one item per opioid ingredient and
the total, with the arithmetic, factors, table and provenance).

May import: the foundation, ``_knowledge``, ``_inputs`` and ``_resolve``.
"""
