"""Base classes of every input and result model: frozen pydantic v2, silent about values.

Inputs validate strictly (``extra="forbid"``) and, when invalid, raise
:class:`~opioidcds.InvalidInputError` naming the field, never echoing the value
(``hide_input_in_errors=True``). Results are frozen and serialise decimals as strings.
A :class:`DeferredResultModel` renders its costly text fields (rule traces, arithmetic) when
they are first read. Foundation layer: imports only :mod:`opioidcds._errors`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
)

from opioidcds._errors import InvalidInputError

__all__ = [
    "DeferredResultModel",
    "InputModel",
    "ResultModel",
    "fill",
    "input_error_from",
    "set_dict",
    "set_extra",
    "set_fields_set",
    "set_private",
]

_SLOTS = BaseModel.__dict__
set_dict: Final = _SLOTS["__dict__"].__set__
"""``set_dict(model, values)``: a model's field values (the slot pydantic's construction sets)."""
set_fields_set: Final = _SLOTS["__pydantic_fields_set__"].__set__
"""``set_fields_set(model, names)``: the names given (``model_fields_set``)."""
set_extra: Final = _SLOTS["__pydantic_extra__"].__set__
"""``set_extra(model, None)``: no extra fields (every model here forbids them)."""
set_private: Final = _SLOTS["__pydantic_private__"].__set__
"""``set_private(model, private)``: the private attributes (``None`` when it has none)."""


def fill(
    obj: BaseModel,
    values: dict[str, Any],
    fields_set: set[str],
    private: dict[str, Any] | None = None,
) -> None:
    """Give a model made with ``__new__`` its field ``values`` (already typed), as pydantic does.

    What pydantic's own construction stores (the field values, the names given, no extras, the
    private attributes), written through the slots of :class:`pydantic.BaseModel` directly:
    the per-call path builds its results and its plainest inputs so (issue 20).
    """
    set_dict(obj, values)
    set_fields_set(obj, fields_set)
    set_extra(obj, None)
    set_private(obj, private)


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

    @classmethod
    def typed(cls, values: dict[str, Any]) -> Self:
        """The result of ``values``: every field, in field order, each already of its type.

        Not validated again (the per-call path builds its results from values it has typed
        itself, issue 20): the same result as the constructor gives for these values, with
        every field recorded as given.
        """
        obj = cls.__new__(cls)
        fill(obj, values, set(values))
        return obj


Render = Callable[[], Mapping[str, Any]]
"""Gives the values of a result's deferred fields, by field name (called at most once each)."""


class DeferredResultModel(ResultModel):
    """A result some of whose text fields are rendered when first read (issue 20).

    The per-call path builds it with :meth:`deferred`: the values it already has (typed, not
    validated again) and a function that renders the rest (a rule's trace, an item's
    arithmetic, an alert's detail), which a caller may never read. The first read of a
    deferred field, and anything that sees every field (``model_dump``, JSON, ``==``, hashing,
    copies, pickling, ``repr``), renders them once and stores them; from then on it is an
    ordinary frozen result. The values and their JSON are those the eager construction gives;
    rendering is deterministic and safe when two threads do it at once (each stores the same
    values). Built with the constructor, every field is given and nothing is deferred.
    """

    _render: Render | None = PrivateAttr(default=None)

    @classmethod
    def typed(cls, values: dict[str, Any]) -> Self:
        """As :meth:`ResultModel.typed` (nothing deferred)."""
        return cls.deferred(values, set(values), None)

    @classmethod
    def deferred(cls, values: dict[str, Any], fields_set: set[str], render: Render | None) -> Self:
        """A result with ``values`` now and the other fields from ``render()`` when read.

        ``values`` must hold every field ``render`` does not give, already of its field's type
        and in field order (they are not validated); ``fields_set`` is what the constructor
        would have recorded as given (``model_fields_set``). With no ``render``, ``values``
        holds every field.
        """
        obj = cls.__new__(cls)
        fill(obj, values, fields_set, {"_render": render})
        return obj

    def _rendered(self) -> Self:
        """Render the deferred fields, if any are pending, and store them in field order."""
        private = self.__pydantic_private__
        render = private.get("_render") if private is not None else None
        if render is None or private is None:
            return self
        given = render()
        current = self.__dict__
        fields = type(self).model_fields
        merged = {name: given[name] if name in given else current[name] for name in fields}
        object.__setattr__(self, "__dict__", merged)  # one swap: readers see old or whole
        private["_render"] = None
        return self

    if not TYPE_CHECKING:  # mypy keeps flagging unknown attributes, as for any model

        def __getattr__(self, name: str) -> Any:  # noqa: ANN401 - any field's type
            """A deferred field, rendered on first read (other names: pydantic's lookup)."""
            if name in type(self).model_fields:
                found = self._rendered().__dict__
                if name in found:
                    return found[name]
            return super().__getattr__(name)

    @model_serializer(mode="wrap")
    def _serialise_rendered(self, handler: SerializerFunctionWrapHandler) -> Any:  # noqa: ANN401
        """Serialise with every field rendered (the same output as an eager result)."""
        return handler(self._rendered())

    def __eq__(self, other: object) -> bool:
        """Equal when every field is (deferred fields rendered first)."""
        if isinstance(other, DeferredResultModel):
            other._rendered()
        return super(DeferredResultModel, self._rendered()).__eq__(other)

    def __hash__(self) -> int:
        """The hash of the field values, deferred ones rendered (as any frozen result)."""
        return hash(tuple(self._rendered().__dict__.values()))

    def __iter__(self) -> Any:  # noqa: ANN401 - pydantic's TupleGenerator
        """Field names and values, deferred ones rendered."""
        return super(DeferredResultModel, self._rendered()).__iter__()

    def __repr_args__(self) -> Any:  # noqa: ANN401 - pydantic's ReprArgs
        """What ``repr`` and ``str`` show, deferred fields rendered."""
        return super(DeferredResultModel, self._rendered()).__repr_args__()

    def __copy__(self) -> Self:
        """A shallow copy, deferred fields rendered (``model_copy``)."""
        return super(DeferredResultModel, self._rendered()).__copy__()

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Self:
        """A deep copy, deferred fields rendered (``model_copy(deep=True)``)."""
        return super(DeferredResultModel, self._rendered()).__deepcopy__(memo)

    def __getstate__(self) -> dict[Any, Any]:
        """The pickled state: every field rendered, no renderer (functions are not pickled)."""
        return super(DeferredResultModel, self._rendered()).__getstate__()
