"""CDS Hooks 2.0 request and response models (frozen pydantic v2).

Field names follow the specification (https://cds-hooks.hl7.org/2.0/), hence camelCase.
Requests ignore unknown top-level keys (forward compatibility, as the standard expects);
``context`` and ``prefetch`` are kept as parsed JSON and read field by field, so every problem
can be reported with its path.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

__all__ = [
    "Card",
    "CardsResponse",
    "Coding",
    "DiscoveryResponse",
    "ErrorDetail",
    "ErrorResponse",
    "FeedbackItem",
    "FeedbackRequest",
    "FeedbackResponse",
    "HealthResponse",
    "HookRequest",
    "Link",
    "OverrideReason",
    "ServiceDescription",
    "Source",
]

_ID = r"^[A-Za-z0-9\-\.]{1,64}$"


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)


class _Response(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _none_if_empty(value: object) -> object:
    """CDS Hooks 2.0: optional arrays are omitted rather than sent empty."""
    return None if isinstance(value, tuple | list) and not value else value


_Omitted = BeforeValidator(_none_if_empty)


class HookRequest(_Request):
    """A CDS Hooks 2.0 service call (``POST /cds-services/{id}``)."""

    hook: str = Field(min_length=1, max_length=100)
    hookInstance: str = Field(min_length=1, max_length=100)  # noqa: N815 - CDS Hooks name
    fhirServer: str | None = Field(default=None, max_length=2000)  # noqa: N815 - CDS Hooks name
    fhirAuthorization: dict[str, Any] | None = None  # noqa: N815 - CDS Hooks name
    context: dict[str, Any]
    prefetch: dict[str, dict[str, Any] | None] | None = None


class Coding(_Response):
    """A FHIR Coding as CDS Hooks uses it (override reasons)."""

    system: str
    code: str
    display: str


class Source(_Response):
    """Where a card's guidance comes from."""

    label: str
    url: str | None = None
    topic: Coding | None = None


class Link(_Response):
    """A link on a card (``absolute``: opened by the user's browser)."""

    label: str
    url: str
    type: Literal["absolute", "smart"] = "absolute"


class Action(_Response):
    """One action of a suggestion (CDS Hooks 2.0.1).

    Here ``delete`` of a duplicate draft order (``resourceId``) and ``create`` of a FHIR R4
    ``Task`` for the review card's next step (``resource``).
    """

    type: Literal["create", "update", "delete"]
    description: str
    resource: dict[str, Any] | None = None
    resourceId: str | None = None  # noqa: N815 - CDS Hooks name: a relative reference


class Suggestion(_Response):
    """A suggestion the user can accept from a card; its ``uuid`` comes back in feedback."""

    label: str
    uuid: str
    isRecommended: bool = False  # noqa: N815 - CDS Hooks name
    actions: tuple[Action, ...]


class Card(_Response):
    """One CDS Hooks 2.0 card."""

    uuid: str
    summary: str = Field(max_length=139)
    indicator: Literal["info", "warning", "critical"]
    detail: str
    source: Source
    overrideReasons: Annotated[tuple[Coding, ...] | None, _Omitted] = None  # noqa: N815
    links: Annotated[tuple[Link, ...] | None, _Omitted] = None
    suggestions: Annotated[tuple[Suggestion, ...] | None, _Omitted] = None
    selectionBehavior: Literal["at-most-one", "any"] | None = None  # noqa: N815 - CDS Hooks name
    # CDS Hooks 2.0 extension: on cards of fired rules, the provenance of the decision
    # (library version and knowledge-base hash; docs/safety/provenance.md).
    extension: dict[str, Any] | None = None


class CardsResponse(_Response):
    """The answer of a service call; ``cards`` is empty when there is nothing to say."""

    cards: tuple[Card, ...]


class ServiceDescription(_Response):
    """One service of the discovery response."""

    hook: str
    title: str
    description: str
    id: str
    prefetch: dict[str, str]
    usageRequirements: str | None = None  # noqa: N815 - CDS Hooks name


class DiscoveryResponse(_Response):
    """``GET /cds-services``."""

    services: tuple[ServiceDescription, ...]


class OverrideReason(_Request):
    """Why a card was overridden (the free-text ``userComment`` is accepted but not stored)."""

    reason: dict[str, Any] | None = None
    userComment: str | None = Field(default=None, max_length=10_000)  # noqa: N815 - CDS Hooks name


class FeedbackItem(_Request):
    """One card's outcome."""

    card: str = Field(min_length=1, max_length=100)
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[dict[str, Any]] | None = Field(default=None, max_length=100)  # noqa: N815
    overrideReason: OverrideReason | None = None  # noqa: N815 - CDS Hooks name
    outcomeTimestamp: dt.datetime  # noqa: N815 - CDS Hooks name


class FeedbackRequest(_Request):
    """``POST /cds-services/{id}/feedback``."""

    feedback: list[FeedbackItem] = Field(min_length=1, max_length=100)


class FeedbackResponse(_Response):
    """How many outcomes were recorded."""

    recorded: int


class HealthResponse(_Response):
    """``GET /health``."""

    status: Literal["ok"]
    version: str
    knowledge: dict[str, str]


class ErrorDetail(_Response):
    """One problem with a request: where (a path such as ``context.draftOrders.entry[0]``)."""

    path: str
    problem: str


class ErrorResponse(_Response):
    """A 4xx answer: what was wrong, by field path, never with the submitted values."""

    error: str
    details: Annotated[tuple[ErrorDetail, ...] | None, _Omitted] = None
    requestId: str | None = None  # noqa: N815 - response field name, camelCase like the spec


SERVICE_ID_PATTERN = _ID
