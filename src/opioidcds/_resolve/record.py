"""What was read from a record, and what was not: the input of an OME over real records.

A record (a FHIR Bundle, a list of resources, the command line's list of prescriptions) gives
prescriptions, each with the path it came from, and entries that gave none, each with its
reason. :func:`~opioidcds.calculate_ome` takes the whole :class:`BundleRead`, so a result
over a record shows every skipped entry and is a lower bound when one may hide a current opioid
(issue 18: one unreadable item never refuses the others, and is never silently dropped).
"""

from __future__ import annotations

from dataclasses import dataclass

from opioidcds._inputs.prescription import Prescription

__all__ = ["BundleRead", "SkippedEntry", "not_read_reason"]


@dataclass(frozen=True, slots=True)
class SkippedEntry:
    """An entry of the input (a Bundle entry, a list item) that gave no prescription, and why.

    ``path`` is the entry's path (``entry[3].resource``); ``resource_type`` and ``status`` are
    the resource's; ``reason`` is a fixed sentence (for an entry that could not be read: the
    FHIR path and the rule it broke, never a value from the resource). ``affects_total`` is
    true when the entry may be a current opioid whose dose is then missing from any total (a
    request that could not be read, a medicine not recognised whose name may be an opioid's,
    status ``unknown``): a total over the rest is a lower bound. ``medication`` is the
    medicine's name as the entry gives it (coding display or text, at most 200 characters),
    so people can see which one was left out.
    """

    path: str
    resource_type: str | None
    status: str | None
    reason: str
    affects_total: bool = False
    medication: str | None = None


@dataclass(frozen=True, slots=True)
class BundleRead:
    """What was read from a record, and what was left out.

    The record is a FHIR Bundle or list (:func:`~opioidcds.read_bundle`), or the command line's
    list of prescriptions.
    ``prescriptions[i]`` came from ``sources[i]`` (a FHIR path such as
    ``entry[1].resource.dosageInstruction[0]``, or ``prescriptions[2]``), so an OME item's
    ``prescription_index`` leads back to it. ``skipped`` lists every entry that gave no
    prescription, with its reason. Pass the whole object to :func:`~opioidcds.calculate_ome`:
    the result then carries both, and its total is a lower bound when an entry that may be a
    current opioid was not read, or when nothing was read.
    """

    prescriptions: tuple[Prescription, ...]
    sources: tuple[str, ...]
    skipped: tuple[SkippedEntry, ...]
    notes: tuple[str, ...] = ()  # how prescription i was read, when that needs saying, or ""


def not_read_reason(field: str, rule: str) -> str:
    """The reason an input part could not be read: ``"not read: <field>: <rule>"``.

    Model-level rules repeat their field (``"strength: the unit ..."``); it is said once.
    """
    prefix = f"{field.rsplit('.', 1)[-1]}: "
    while rule.startswith(prefix):
        rule = rule[len(prefix) :]
    return f"not read: {field}: {rule}"
