"""What the OME calculator returns: one item per opioid ingredient and the patient's total.

Results carry their basis (the arithmetic, the factor and its source, the table and its
version, the provenance of the knowledge used).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from opioidcds._base import DeferredResultModel
from opioidcds._display import format_decimal
from opioidcds._inputs.prescription import PrnPolicy
from opioidcds._knowledge.provenance import Provenance
from opioidcds._knowledge.tables import table_name, table_sources
from opioidcds._resolve.record import SkippedEntry

__all__ = ["ItemAmounts", "ItemFigures", "ItemStatus", "OMEItem", "OMEResult", "place"]


class ItemStatus(StrEnum):
    """What happened to one opioid ingredient of one prescription."""

    CONVERTED = "converted"
    NOT_CONVERTIBLE = "not_convertible"
    EXCLUDED = "excluded"  # by the PRN policy, stated in ``reason``
    NOT_OPIOID = "not_opioid"  # a known non-opioid medicine: contributes no OME, says so


_STATUS_TEXT = {
    ItemStatus.CONVERTED: "converted",
    ItemStatus.NOT_CONVERTIBLE: "NOT CONVERTED",
    ItemStatus.EXCLUDED: "excluded by the PRN policy",
    ItemStatus.NOT_OPIOID: "not an opioid",
}


class ItemAmounts(Protocol):
    """What one item says, without its text or position: read by the decisions made from it.

    An :class:`OMEItem` has these; so has what the calculator keeps of an item before it is
    built (``opioidcds._measure.ome.ome_figures``, by prescription).
    """

    @property
    def ingredient(self) -> str | None:
        """The opioid ingredient (``None``: the prescription could not be read)."""

    @property
    def status(self) -> ItemStatus:
        """What happened to the ingredient."""

    @property
    def daily_amount(self) -> Decimal | None:
        """The ingredient per day, in ``daily_amount_unit``."""

    @property
    def daily_amount_unit(self) -> str | None:
        """``mg/day``, or ``microgram/hour`` for a patch."""

    @property
    def ome_mg_per_day(self) -> Decimal | None:
        """The item's OME (``None`` when not converted)."""

    @property
    def exact(self) -> bool:
        """Whether the OME is exact (no rounding in the arithmetic)."""


class ItemFigures(ItemAmounts, Protocol):
    """What one item says, without its text, and its prescription's position.

    An :class:`OMEItem` has these; so has what the calculator keeps of an item before it is
    built (``opioidcds._measure.ome.item_figures``).
    """

    @property
    def prescription_index(self) -> int:
        """Position of the item's prescription in the input list."""


class OMEItem(DeferredResultModel):
    """The OME basis of one opioid ingredient of one prescription.

    ``daily_amount`` is the ingredient per day in ``daily_amount_unit`` (``mg/day``, or
    ``microgram/hour`` for patches); ``ome_mg_per_day`` = daily amount x ``factor``. For an
    item that is not converted, ``ome_mg_per_day`` is ``None`` and ``reason`` says why.
    ``arithmetic`` is written when first read (or serialised): the calculator does not build
    text a caller may never read.
    """

    prescription_index: int
    drug: str
    ingredient: str | None
    route: str | None
    status: ItemStatus
    reason: str | None = None
    daily_amount: Decimal | None = None
    daily_amount_unit: str | None = None
    factor: Decimal | None = None
    factor_per: str | None = None
    factor_source: str | None = None
    ome_mg_per_day: Decimal | None = None
    policy_note: str | None = None
    arithmetic: str
    exact: bool = True

    def explain(self, notes: Mapping[str, str] | None = None) -> str:
        """One line: what was counted, how (the arithmetic), and the sources of the factor.

        With ``notes`` (citation id -> its footnote mark, as :meth:`OMEResult.explain` numbers
        the table's sources) the sources are marked ``[1][3]``; without, or for an id
        ``notes`` lacks, they are named by the table's citation ids (``[source: OA, OP]``).
        """
        status = _STATUS_TEXT[self.status]
        cited = self.citation_ids()
        if notes is not None and cited and all(c in notes for c in cited):
            source = " " + "".join(f"[{notes[c]}]" for c in cited)
        else:
            source = f" [source: {self.factor_source}]" if self.factor_source else ""
        return f"{self.ingredient or self.drug}: {status}. {self.arithmetic}{source}"

    def citation_ids(self) -> tuple[str, ...]:
        """The ids of the table citations behind the factor (``factor_source`` split)."""
        return tuple(self.factor_source.split(", ")) if self.factor_source else ()

    def __repr__(self) -> str:
        """Short and readable: the ingredient, its status and its OME."""
        ome = (
            f"{format_decimal(self.ome_mg_per_day)} mg OME/day"
            if self.ome_mg_per_day is not None
            else self.status.value
        )
        return f"<OMEItem {self.prescription_index}: {self.ingredient or self.drug}, {ome}>"


class OMEResult(DeferredResultModel):
    """A patient's total daily oral morphine equivalent and its basis.

    ``total_mg_per_day`` is exact (not rounded). When ``complete`` is false the total is a
    *lower bound* (never read it as the whole dose) and ``lower_bound_reasons`` says why: an
    item could not be read or converted, a dose was given as a minimum, an entry of the input
    that may be a current opioid was not read, or nothing was read at all. ``provenance``
    names the table, the vocabulary files and (when one was consulted) the product catalogue,
    with a content hash of that knowledge.

    When the input was a record (a :class:`~opioidcds.BundleRead`: FHIR, or the command
    line's list), ``sources[i]`` is where prescription ``i`` came from (a FHIR path such as
    ``entry[1].resource.dosageInstruction[0]``) and ``skipped`` lists every entry that gave no
    prescription, with its reason; ``SkippedEntry.affects_total`` marks those that may be a
    current opioid (the total is then a lower bound). ``read_notes[i]`` says how prescription
    ``i`` was put together when that needs saying (a dose read from the dosage text with the
    structured timing), else "". ``items`` may be built when first read (or serialised): the
    calculator computes the total from each item's figures and does not build objects a caller
    may never read (issue 20).
    """

    total_mg_per_day: Decimal
    complete: bool
    table_id: str
    table_version: str
    table_effective_date: str
    prn_policy: PrnPolicy
    items: tuple[OMEItem, ...]
    library_version: str
    provenance: Provenance
    exact: bool = True
    lower_bound_reasons: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    skipped: tuple[SkippedEntry, ...] = ()
    read_notes: tuple[str, ...] = ()

    @property
    def is_lower_bound(self) -> bool:
        """True when the total leaves out items that could not be converted."""
        return not self.complete

    def total_text(self) -> str:
        """The total as people read it: ``"180 mg OME/day"`` or ``"at least 40 mg OME/day"``."""
        total = format_decimal(self.total_mg_per_day)
        return f"{total} mg OME/day" if self.complete else f"at least {total} mg OME/day"

    def table_name(self) -> str:
        """The conversion table used, as people read it: title, version and effective date.

        ``"UK oral morphine equivalents: Opioids Aware and BNF, ..., version 1.1.1, effective
        4 Dec 2026"`` (:func:`opioidcds._knowledge.tables.table_name`); the id stays in
        ``table_id``.
        """
        return table_name(
            self.table_id,
            self.table_version,
            self.table_effective_date,
            sha256=self.provenance.sha256_of("conversion-table"),
        )

    def explain(self) -> str:
        """The result in plain text: each item with its arithmetic, the total, the basis.

        What the command line prints (``opioidcds ome``). An incomplete total says it is a lower
        bound and points to the items not converted.
        """
        titles = table_sources(
            self.table_id, self.table_version, sha256=self.provenance.sha256_of("conversion-table")
        )
        cited = [c for item in self.items for c in item.citation_ids() if c in titles]
        notes = {c: str(n) for n, c in enumerate(dict.fromkeys(cited), start=1)}
        lines = ["Oral morphine equivalent (OME) per prescription"]
        for item in self.items:
            where = self._source(item.prescription_index)
            number = f"{where}:" if where else f"{item.prescription_index + 1}."
            note = self._read_note(item.prescription_index)
            lines.append(f"  {number} {item.explain(notes)}{note}")
        if not self.items:
            lines.append("  (no prescription)")
        if self.skipped:
            lines.append(f"Not read from the input ({len(self.skipped)}):")
            lines.extend(f"  - {_skipped_text(entry)}" for entry in self.skipped)
        if self.complete:
            lines.append(f"Total: {self.total_text()}")
        else:
            why = "; ".join(self.lower_bound_reasons) or "see the items not converted"
            lines.append(f"Total: {self.total_text()} (INCOMPLETE: a lower bound; {why})")
        lines.append(
            f"Conversion table: {self.table_name()}; "
            f"PRN policy {self.prn_policy.value}; opioidcds {self.library_version}. "
            "OME is a measure of risk, not a guide to converting between opioids."
        )
        if notes:
            lines.append("Sources of the factors:")
            lines.extend(f"  [{mark}] {titles[c]}" for c, mark in notes.items())
        return "\n".join(lines)

    def _read_note(self, index: int) -> str:
        if 0 <= index < len(self.read_notes) and self.read_notes[index]:
            return f" [read: {self.read_notes[index]}]"
        return ""

    def _source(self, index: int) -> str:
        """Where prescription ``index`` came from, for people ("entry 2, dosage 1"), or ""."""
        if 0 <= index < len(self.sources) and self.sources[index]:
            return place(self.sources[index])
        return ""

    def __repr__(self) -> str:
        """Short and readable: the total, whether complete, the items and the table."""
        state = "complete" if self.complete else "INCOMPLETE, a lower bound"
        return (
            f"<OMEResult {format_decimal(self.total_mg_per_day)} mg OME/day ({state}), "
            f"{len(self.items)} item(s), table {self.table_id} {self.table_version}>"
        )


def _skipped_text(entry: SkippedEntry) -> str:
    """One line for a skipped input entry: where, what, why, and whether the total lacks it."""
    what = ", ".join(
        part
        for part in (
            entry.resource_type,
            f"status {entry.status}" if entry.status else None,
            entry.medication,
        )
        if part
    )
    where = place(entry.path) if entry.path else "the input"
    head = f"{where} ({what})" if what else where
    flag = " [may be a current opioid: the total is a lower bound]" if entry.affects_total else ""
    return f"{head}: {entry.reason}{flag}"


_PATH_PART = re.compile(r"([A-Za-z]*)\[(\d+)\]")
_PART_NAMES = {
    "": "item",
    "prescriptions": "item",
    "entry": "entry",
    "dosageInstruction": "dosage instruction",
    "dosage": "dosage",
}


def place(path: str) -> str:
    """A path of the input as people read it (1-based), or the path itself if not understood.

    ``entry[1].resource.dosageInstruction[0]`` is "entry 2, dosage instruction 1";
    ``prescriptions[2]`` is "item 3".
    """
    parts = []
    for name, index in _PATH_PART.findall(path):
        label = _PART_NAMES.get(name)
        if label is None:
            return path
        parts.append(f"{label} {int(index) + 1}")
    return ", ".join(parts) or path
