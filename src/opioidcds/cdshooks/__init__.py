"""A CDS Hooks 2.0 service for prescribing systems (extra ``service``: FastAPI + uvicorn).

The framework-free core (:class:`CDSHooksService`: discovery and request -> cards, the
codelists, the feedback store) imports no web framework; :func:`create_app` builds the FastAPI
application and imports FastAPI on first use. See ``docs/cdshooks.md``.

May import: every layer of :mod:`opioidcds` below the delivery packages; not the CLI or the
population screening.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opioidcds.cdshooks.codelists import (
    CardContent,
    Codelists,
    default_card_content,
    default_codelists,
    load_card_content,
    load_codelists,
)
from opioidcds.cdshooks.feedback import FeedbackStore
from opioidcds.cdshooks.record import RequestError
from opioidcds.cdshooks.service import (
    SERVICES,
    CDSHooksService,
    PrefetchMissingError,
    UnknownServiceError,
)

if TYPE_CHECKING:
    from opioidcds.cdshooks.app import create_app

__all__ = [
    "SERVICES",
    "CDSHooksService",
    "CardContent",
    "Codelists",
    "FeedbackStore",
    "PrefetchMissingError",
    "RequestError",
    "UnknownServiceError",
    "create_app",
    "default_card_content",
    "default_codelists",
    "load_card_content",
    "load_codelists",
]


def __getattr__(name: str) -> object:
    """Import :func:`opioidcds.cdshooks.app.create_app` on first use (FastAPI is optional).

    Raises:
        ImportError: the ``service`` extra (FastAPI) is not installed.
        AttributeError: no such name.
    """
    if name == "create_app":
        from opioidcds.cdshooks.app import create_app  # noqa: PLC0415 - optional extra

        return create_app
    raise AttributeError(name)
