"""Resolve: what a prescription means, read against the knowledge.

Holds the dosage-text grammar (``dosage``, with ``dosage.lark``), the effective dose of a
prescription from its fields or its text (``dose``), the resolution of a prescription to
ingredients, route and strength (``prescription``), and the FHIR R4 adapter that reads
MedicationRequests into prescriptions, resolving each to name a contradiction at its FHIR path
(``fhir``), and what a record read gave and left out (``record``).

May import: the foundation, ``_knowledge`` and ``_inputs``.
"""
