"""What the OME calculator returns: one item per opioid ingredient and the patient's total.

Results carry their basis (the arithmetic, the factor and its source, the table and its
version, the provenance of the knowledge used).
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from opioidcds._base import ResultModel
from opioidcds._display import format_decimal
from opioidcds._inputs.prescription import PrnPolicy
from opioidcds._knowledge.provenance import Provenance

__all__ = ["ItemStatus", "OMEItem", "OMEResult"]


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


class OMEItem(ResultModel):
    """The OME basis of one opioid ingredient of one prescription.

    ``daily_amount`` is the ingredient per day in ``daily_amount_unit`` (``mg/day``, or
    ``microgram/hour`` for patches); ``ome_mg_per_day`` = daily amount x ``factor``. For an
    item that is not converted, ``ome_mg_per_day`` is ``None`` and ``reason`` says why.
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

    def explain(self) -> str:
        """One line: what was counted, how (the arithmetic), and the source of the factor."""
        status = _STATUS_TEXT[self.status]
        source = f" [source: {self.factor_source}]" if self.factor_source else ""
        return f"{self.ingredient or self.drug}: {status}. {self.arithmetic}{source}"

    def __repr__(self) -> str:
        """Short and readable: the ingredient, its status and its OME."""
        ome = (
            f"{format_decimal(self.ome_mg_per_day)} mg OME/day"
            if self.ome_mg_per_day is not None
            else self.status.value
        )
        return f"<OMEItem {self.prescription_index}: {self.ingredient or self.drug}, {ome}>"


class OMEResult(ResultModel):
    """A patient's total daily oral morphine equivalent and its basis.

    ``total_mg_per_day`` is exact (not rounded). When ``complete`` is false at least one item
    could not be converted and the total is a *lower bound*: never read it as the whole dose.
    ``provenance`` names the table, the vocabulary files and (when one was consulted) the
    product catalogue, with a content hash of that knowledge.
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

    @property
    def is_lower_bound(self) -> bool:
        """True when the total leaves out items that could not be converted."""
        return not self.complete

    def total_text(self) -> str:
        """The total as people read it: ``"180 mg OME/day"`` or ``"at least 40 mg OME/day"``."""
        total = format_decimal(self.total_mg_per_day)
        return f"{total} mg OME/day" if self.complete else f"at least {total} mg OME/day"

    def explain(self) -> str:
        """The result in plain text: each item with its arithmetic, the total, the basis.

        What the command line prints (``opioidcds ome``). An incomplete total says it is a lower
        bound and points to the items not converted.
        """
        lines = ["Oral morphine equivalent (OME) per prescription"]
        lines.extend(f"  {i.prescription_index + 1}. {i.explain()}" for i in self.items)
        if self.complete:
            lines.append(f"Total: {self.total_text()}")
        else:
            lines.append(
                f"Total: {self.total_text()} (INCOMPLETE: a lower bound; see the items not "
                "converted)"
            )
        lines.append(
            f"Table {self.table_id} {self.table_version} (effective {self.table_effective_date}); "
            f"PRN policy {self.prn_policy.value}; opioidcds {self.library_version}. "
            "OME is a measure of risk, not a guide to converting between opioids."
        )
        return "\n".join(lines)

    def __repr__(self) -> str:
        """Short and readable: the total, whether complete, the items and the table."""
        state = "complete" if self.complete else "INCOMPLETE, a lower bound"
        return (
            f"<OMEResult {format_decimal(self.total_mg_per_day)} mg OME/day ({state}), "
            f"{len(self.items)} item(s), table {self.table_id} {self.table_version}>"
        )
