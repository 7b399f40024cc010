"""Base classes of every input and result model: frozen pydantic v2, silent about values.

Inputs validate strictly (``extra="forbid"``) and, when invalid, raise
:class:`~opioidcds.InvalidInputError` naming the field, never echoing the value
(``hide_input_in_errors=True``). Results are frozen and serialise decimals as strings.
Foundation layer: imports only :mod:`opioidcds._errors`.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from opioidcds._errors import InvalidInputError

__all__ = ["InputModel", "ResultModel", "input_error_from"]


def input_error_from(exc: ValidationError) -> InvalidInputError:
    """Turn a pydantic ``ValidationError`` into an :class:`InvalidInputError`.

    The message lists each failing field path and pydantic's description of the rule; inputs
    are hidden (models set ``hide_input_in_errors``), so no value reaches the message.
    """
    problems: dict[tuple[str, str], None] = {}  # (field, rule), in order, each once
    for err in exc.errors(include_input=False, include_url=False):
        path = ".".join(str(p) for p in err["loc"])
        original = err.get("ctx", {}).get("error")
        if isinstance(original, InvalidInputError):  # raised by our own validators
            field = f"{path}.{original.field}" if path else original.field
            rule = original.rule
        else:
            field, rule = path or "(model)", str(err["msg"]).removeprefix("Value error, ")
        problems[(field, rule)] = None
    found = list(problems) or [("(model)", "invalid")]
    (first, rule), rest = found[0], found[1:]
    # str(error) is "field: rule; other.field: rule": each field named once, never twice
    return InvalidInputError(first, "; ".join([rule, *(f"{f}: {r}" for f, r in rest)]))


class InputModel(BaseModel):
    """Base of every input model: frozen, strict about keys, silent about values."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        hide_input_in_errors=True,
        str_strip_whitespace=True,
        validate_default=False,
    )

    def __init__(self, /, **data: Any) -> None:  # noqa: ANN401 - pydantic's own signature
        """Validate ``data``; raises :class:`InvalidInputError` naming each bad field."""
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise input_error_from(exc) from None

    @classmethod
    def model_validate(
        cls,
        obj: Any,  # noqa: ANN401 - accepts whatever pydantic accepts
        **kwargs: Any,  # noqa: ANN401
    ) -> Self:
        """Validate a mapping; raises :class:`InvalidInputError` instead of ValidationError."""
        try:
            return super().model_validate(obj, **kwargs)
        except ValidationError as exc:
            raise input_error_from(exc) from None

    @classmethod
    def model_validate_json(
        cls,
        json_data: str | bytes | bytearray,
        **kwargs: Any,  # noqa: ANN401
    ) -> Self:
        """Validate JSON text; raises :class:`InvalidInputError` instead of ValidationError."""
        try:
            return super().model_validate_json(json_data, **kwargs)
        except ValidationError as exc:
            raise input_error_from(exc) from None


class ResultModel(BaseModel):
    """Base of every result model: frozen; decimals serialise as strings in JSON."""

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="strings")
