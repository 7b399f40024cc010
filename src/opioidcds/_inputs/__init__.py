"""Inputs: the frozen, strictly validated models of what a caller gives the library.

Holds the prescription (``prescription``: a product and its dose) and the patient
(``patient``: prescriptions, history and risk inputs).

May import: the foundation and ``_knowledge``.
"""
