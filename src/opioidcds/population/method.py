"""The screening method's parameters (``population_method/screening.toml``), read once.

Numbers live in that cited data file, never here: the "current" window, the quantity/interval
look-back, the worklist ordering, the report length and the default weekly capacity. See
``docs/population.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final

from opioidcds._errors import KnowledgeBaseError
from opioidcds._knowledge.files import read_toml_of_kind
from opioidcds._knowledge.paths import knowledge_dir

__all__ = ["ScreeningMethod", "default_method", "load_method"]

_ORDER_KEYS: Final = ("ome_mg_per_day", "factors_present")
_MAX_BYTES: Final = 100_000


@dataclass(frozen=True, slots=True)
class ScreeningMethod:
    """How an issue extract becomes patients, and how the worklist is ordered.

    ``current_window_days``: a medicine is current when its latest issue is at most this many
    days before the as-of date. ``lookback_days``: issues used by the quantity/interval
    estimate; ``default_supply_days``: the period of a lone issue without ``days_supply``.
    ``order_within_band``: worklist keys after the priority band, largest first.
    ``report_rows``: worklist rows shown in the HTML report (all rows are in the files).
    ``sessions_per_week`` x ``session_minutes`` // ``first_appointment_minutes``: the default
    size of the report's "contact this week" list (:attr:`weekly_capacity`).
    ``effective_date``: the method file's own (ISO), shown in every screening's provenance.
    """

    id: str
    version: str
    current_window_days: int
    lookback_days: int
    default_supply_days: int
    order_within_band: tuple[str, ...]
    report_rows: int
    citations: dict[str, str]
    effective_date: str | None = None  # ISO date stated by the method file
    sessions_per_week: int = 1
    session_minutes: int = 1
    first_appointment_minutes: int = 1

    @property
    def weekly_capacity(self) -> int:
        """People a practice can give a first appointment in a week (at least 1).

        ``sessions_per_week`` x ``session_minutes`` // ``first_appointment_minutes``: with
        the bundled file 1 x 250 // 60 = 4.
        """
        minutes = self.sessions_per_week * self.session_minutes
        return max(1, minutes // self.first_appointment_minutes)


def _positive_int(data: dict[str, object], key: str, file: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise KnowledgeBaseError(f"{file}: '{key}' must be a positive integer")
    return value


def load_method(path: str | Path) -> ScreeningMethod:
    """Load a screening-method file.

    Raises:
        KnowledgeBaseError: the file is missing, too large, malformed or incomplete.
    """
    p = Path(path)
    data = read_toml_of_kind(p, "population-method", _MAX_BYTES)
    try:
        current, qi, worklist = data["current"], data["quantity_interval"], data["worklist"]
        call_first = data["call_first"]
        citations = {str(k): str(v) for k, v in data["citations"].items()}
        order = tuple(str(k) for k in worklist["order_within_band"])
    except (KeyError, TypeError, AttributeError):
        raise KnowledgeBaseError(f"{p.name}: missing sections or keys") from None
    for section in (current, qi, worklist, call_first):
        for cite in section.get("citations", []):
            if cite not in citations:
                raise KnowledgeBaseError(f"{p.name}: unknown citation '{cite}'")
    if not set(order) <= set(_ORDER_KEYS):
        raise KnowledgeBaseError(f"{p.name}: order_within_band keys must be in {_ORDER_KEYS}")
    return ScreeningMethod(
        id=str(data.get("id", "")),
        version=str(data.get("version", "")),
        current_window_days=_positive_int(current, "window_days", p.name),
        lookback_days=_positive_int(qi, "lookback_days", p.name),
        default_supply_days=_positive_int(qi, "default_supply_days", p.name),
        order_within_band=order,
        report_rows=_positive_int(worklist, "report_rows", p.name),
        citations=citations,
        effective_date=str(data["effective_date"]) if "effective_date" in data else None,
        sessions_per_week=_positive_int(call_first, "sessions_per_week", p.name),
        session_minutes=_positive_int(call_first, "session_minutes", p.name),
        first_appointment_minutes=_positive_int(call_first, "first_appointment_minutes", p.name),
    )


@cache
def default_method() -> ScreeningMethod:
    """The bundled method (``population_method/screening.toml``), loaded once."""
    return load_method(knowledge_dir("population_method") / "screening.toml")
