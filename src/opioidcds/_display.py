"""How exact numbers are written for people (foundation layer: imports nothing of opioidcds).

Results keep exact decimals; only what people read is rounded, and a rounded figure says so.
"""

from __future__ import annotations

from decimal import Decimal

__all__ = ["format_decimal"]

_DISPLAY_PLACES = Decimal("0.01")  # display precision, not clinical: the values stay exact


def format_decimal(value: Decimal) -> str:
    """Format ``value`` for people: plain notation, at most two decimal places.

    A value that needed rounding is prefixed with ``~`` so a reader knows it is not exact.
    """
    text = str(value)
    if "E" not in text:
        point = text.find(".")
        if point < 0:
            return text
        if len(text) - point <= 3:
            return text.rstrip("0").rstrip(".")
    rounded = value.quantize(_DISPLAY_PLACES)
    if rounded == value:
        return f"{value.normalize():f}"
    return f"~{rounded.normalize():f}"
