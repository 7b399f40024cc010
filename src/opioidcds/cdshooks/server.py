"""Running the CDS Hooks service: its configuration, the application, and uvicorn's protocol.

``opioidcds serve`` builds a :class:`ServeConfig` from its options and runs uvicorn with:

- :class:`HeaderTimeoutProtocol`: uvicorn's httptools protocol with a deadline for a request's
  headers (from the connection's first byte, or from the connection itself), after which the
  connection is closed. uvicorn has a keep-alive timeout but no header timeout, so a client
  that opens connections and never finishes its headers would hold them forever (slowloris).
  The body has its own deadline in the application (408, ``create_app(body_timeout_seconds)``).
- ``--workers N`` > 1: uvicorn starts N processes, each building the application from the
  configuration passed in the environment variable ``OPIOIDCDS_SERVE_CONFIG`` (JSON), through
  :func:`app_factory`. Each process loads the knowledge once; the feedback store is one SQLite
  file (writes are idempotent); the JWT replay memory is per process (see ``docs/cdshooks.md``).
"""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
from asyncio import TimerHandle, Transport
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final

from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from opioidcds._decide.knowledge import Knowledge, default_knowledge, load_knowledge
from opioidcds._decide.rules import load_profile
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds.cdshooks.app import (
    DEFAULT_BODY_TIMEOUT_SECONDS,
    LOGGER_NAME,
    JsonLinesFormatter,
    create_app,
)
from opioidcds.cdshooks.auth import JWTVerifier, load_trusted_issuers
from opioidcds.cdshooks.feedback import FeedbackStore
from opioidcds.cdshooks.fetch import FhirFetcher
from opioidcds.cdshooks.models import Link
from opioidcds.cdshooks.service import CDSHooksService

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_HEADER_TIMEOUT_SECONDS",
    "HeaderTimeoutProtocol",
    "ServeConfig",
    "app_factory",
    "build_app",
    "load_service_knowledge",
]

CONFIG_ENV: Final = "OPIOIDCDS_SERVE_CONFIG"
HEADER_TIMEOUT_ENV: Final = "OPIOIDCDS_HEADER_TIMEOUT"
DEFAULT_HEADER_TIMEOUT_SECONDS: Final = 10.0


@dataclass(frozen=True)
class ServeConfig:
    """Everything ``opioidcds serve`` configures (JSON-serialisable, for worker processes)."""

    feedback_db: str = "opioidcds-feedback.sqlite3"
    profile: str | None = None
    acute_profile: str | None = None
    rules: str | None = None
    table: str | None = None
    trusted_issuers: str | None = None
    cors_origins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] | None = None
    fetch: bool = True
    fhir_servers: tuple[str, ...] = ()
    review_links: tuple[tuple[str, str, str], ...] = field(default=())  # (label, url, type)
    max_body_bytes: int = 1_000_000
    body_timeout_seconds: float = DEFAULT_BODY_TIMEOUT_SECONDS

    def to_json(self) -> str:
        """The configuration as JSON (for :data:`CONFIG_ENV`)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeConfig:
        """The configuration from :meth:`to_json`'s text."""
        data = json.loads(text)
        for key in ("cors_origins", "fhir_servers"):
            data[key] = tuple(data.get(key) or ())
        if data.get("allowed_hosts") is not None:
            data["allowed_hosts"] = tuple(data["allowed_hosts"])
        data["review_links"] = tuple(tuple(x) for x in data.get("review_links") or ())
        return cls(**data)


def load_service_knowledge(config: ServeConfig) -> Knowledge:
    """The knowledge the configuration selects: a table by id or path, and a profile.

    ``table`` is a bundled table id (``cdc-2022``, ``uk-opioids-aware``) or a path; ``profile``
    a bundled profile id (``us-cdc-2022``, ``opioids-aware-90``) or a path; ``rules`` a folder
    of local rules beside the bundled ones.

    Raises:
        KnowledgeBaseError: a table or profile that cannot be found or loaded.
    """
    table = _bundled(config.table, "conversion_tables")
    profile = _bundled(config.profile, "rules/profiles")
    if table is None and profile is None and config.rules is None:
        return default_knowledge()
    return load_knowledge(profile=profile, table=table, local_rules=config.rules)


def _bundled(name: str | None, folder: str) -> Path | None:
    """A bundled file ``folder/name.toml`` when ``name`` is an id, else ``name`` as a path."""
    if name is None:
        return None
    if "/" not in name and "\\" not in name and not name.endswith(".toml"):
        top, _sep, sub = folder.partition("/")
        base = knowledge_dir(top)
        return (base / sub if sub else base) / f"{name}.toml"
    return Path(name)


def build_app(config: ServeConfig, *, log_to_stderr: bool = True) -> FastAPI:
    """The application for ``config`` (knowledge loaded, caches warm, knowledge frozen for GC).

    Raises:
        KnowledgeBaseError: knowledge, profile or trusted-issuers file cannot be loaded.
        OSError, sqlite3.Error: the feedback store cannot be opened.
    """
    knowledge = load_service_knowledge(config)
    acute = load_profile(config.acute_profile) if config.acute_profile else None
    links = tuple(
        Link(label=label, url=url, type="smart" if kind == "smart" else "absolute")
        for label, url, kind in config.review_links
    )
    service = CDSHooksService(knowledge, acute_profile=acute, review_links=links)
    verifier = (
        JWTVerifier(load_trusted_issuers(config.trusted_issuers))
        if config.trusted_issuers
        else None
    )
    store = FeedbackStore(config.feedback_db)
    logger = logging.getLogger(LOGGER_NAME)
    if log_to_stderr and not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonLinesFormatter())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    fetcher = FhirFetcher(allowed_servers=config.fhir_servers or None) if config.fetch else None
    app = create_app(
        service,
        feedback=store,
        logger=logger,
        verifier=verifier,
        fetcher=fetcher,
        cors_origins=config.cors_origins,
        allowed_hosts=config.allowed_hosts,
        max_body_bytes=config.max_body_bytes,
        body_timeout_seconds=config.body_timeout_seconds,
    )
    service.warm_up()
    # The knowledge is loaded for good: move it out of the collector's generations so full
    # collections during requests do not walk it (shorter pauses, lower tail latency).
    gc.collect()
    gc.freeze()
    return app


def app_factory() -> FastAPI:
    """The application of a worker process (uvicorn ``--workers``): config from the env.

    Raises:
        RuntimeError: :data:`CONFIG_ENV` is not set (not started by ``opioidcds serve``).
    """
    text = os.environ.get(CONFIG_ENV)
    if text is None:
        raise RuntimeError(f"{CONFIG_ENV} is not set: start workers with 'opioidcds serve'")
    return build_app(ServeConfig.from_json(text))


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for request headers (then: close).

    The deadline (seconds, environment variable ``OPIOIDCDS_HEADER_TIMEOUT``, default 10)
    runs from the connection's opening and again from each request's first byte, and stops
    when the request's headers are complete.
    """

    header_timeout: float = float(
        os.environ.get(HEADER_TIMEOUT_ENV, str(DEFAULT_HEADER_TIMEOUT_SECONDS))
    )
    _header_timer: TimerHandle | None = None

    def connection_made(self, transport: Transport) -> None:  # type: ignore[override]
        """Start the deadline for the first request's headers."""
        super().connection_made(transport)
        self._start_header_timer()

    def on_message_begin(self) -> None:
        """A request begins: its headers are due within the deadline."""
        super().on_message_begin()
        if self._header_timer is None:
            self._start_header_timer()

    def on_headers_complete(self) -> None:
        """The headers are in: no deadline until the next request begins."""
        self._cancel_header_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop the deadline with the connection."""
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _start_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
