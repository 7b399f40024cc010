"""The FastAPI application of the CDS Hooks service (extra ``service``).

Endpoints: ``GET /cds-services`` (discovery), ``POST /cds-services/{id}`` (cards),
``POST /cds-services/{id}/feedback``, ``GET /health``. Operations:

- request bodies over ``max_body_bytes`` (default 1 MB) are refused with 413 before parsing;
- malformed requests get 400 with the path of each problem (never the submitted value);
- one JSON line per request on logger ``opioidcds.cdshooks``: request id, route template,
  service id, status, duration, card count, and an error code. No patient data, no URLs, no
  medicine names, no codes;
- the card handler runs on the event loop (it computes, it does not wait: a thread pool adds
  hand-offs and GIL contention, measured as a 3-10x worse p99); the feedback handler, which
  writes to SQLite, runs in the thread pool. The knowledge is immutable, the medication cache
  and the feedback store lock, so the app is also safe under threaded servers.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any, Final

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from opioidcds._version import __version__
from opioidcds.cdshooks.auth import AuthError, JWTVerifier
from opioidcds.cdshooks.feedback import FeedbackStore
from opioidcds.cdshooks.fetch import FhirFetcher
from opioidcds.cdshooks.models import (
    CardsResponse,
    DiscoveryResponse,
    ErrorDetail,
    ErrorResponse,
    FeedbackRequest,
    FeedbackResponse,
    HealthResponse,
    HookRequest,
)
from opioidcds.cdshooks.record import RequestError, clean_text
from opioidcds.cdshooks.service import (
    CDSHooksService,
    PrefetchMissingError,
    UnknownServiceError,
)

__all__ = [
    "DEFAULT_BODY_TIMEOUT_SECONDS",
    "DEFAULT_MAX_BODY_BYTES",
    "LOGGER_NAME",
    "JsonLinesFormatter",
    "create_app",
]

DEFAULT_MAX_BODY_BYTES: Final = 1_000_000
DEFAULT_BODY_TIMEOUT_SECONDS: Final = 10.0  # a whole request body, once headers are in
LOGGER_NAME: Final = "opioidcds.cdshooks"
_STATE_KEY: Final = "opioidcds"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_LOG_FIELDS: Final = (
    "request_id",
    "method",
    "route",
    "service_id",
    "status",
    "duration_ms",
    "cards",
    "error",
)


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per line: time, level, event, and the request fields of the record."""

    def format(self, record: logging.LogRecord) -> str:
        """Format ``record`` as JSON; only the known request fields are taken from extras."""
        out: dict[str, object] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key in _LOG_FIELDS:
            if hasattr(record, key):
                out[key] = getattr(record, key)
        return json.dumps(out, sort_keys=True)


def _info(scope: Scope) -> dict[str, object]:
    state = scope.setdefault("state", {})
    found = state.get(_STATE_KEY)
    if not isinstance(found, dict):
        found = {}
        state[_STATE_KEY] = found
    return found


def _route(path: str, service_ids: frozenset[str]) -> tuple[str, str | None]:
    """Route template and service id of ``path`` (unknown paths are not logged verbatim)."""
    if path in {"/health", "/cds-services", "/openapi.json", "/docs"}:
        return path, None
    parts = path.strip("/").split("/")
    if len(parts) >= 2 and parts[0] == "cds-services":
        sid = parts[1] if parts[1] in service_ids else None
        tail = "/feedback" if len(parts) == 3 and parts[2] == "feedback" else ""
        if len(parts) <= 3:
            return f"/cds-services/{{id}}{tail}", sid
    return "other", None


class _Guard:
    """ASGI middleware: request id, body size limit (413), one log line per request."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        logger: logging.Logger,
        service_ids: frozenset[str],
        verifier: JWTVerifier | None,
        allowed_hosts: frozenset[str] | None = None,
        body_timeout_seconds: float = DEFAULT_BODY_TIMEOUT_SECONDS,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.logger = logger
        self.service_ids = service_ids
        self.verifier = verifier
        self.allowed_hosts = allowed_hosts
        self.body_timeout = body_timeout_seconds

    def _host_allowed(self, scope: Scope) -> bool:
        """Whether the Host header names this service (DNS-rebinding guard; None: any)."""
        if self.allowed_hosts is None:
            return True
        for name, value in scope.get("headers", []):
            if name == b"host":
                host = value.decode("latin-1").strip().lower()
                bare = host.rsplit(":", 1)[0] if not host.endswith("]") else host
                return host in self.allowed_hosts or bare in self.allowed_hosts
        return False

    async def _authenticate(self, scope: Scope) -> AuthError | None:
        """None if the call may go on: not a service call, no trust configured, or a valid JWT.

        A token whose key is not at hand (it would mean fetching the issuer's JWK Set) is
        verified in a worker thread, so a slow or failing key endpoint never blocks the event
        loop; the verifier itself limits how often it fetches.
        """
        verifier = self.verifier
        if verifier is None or scope.get("method") != "POST":
            return None
        parts = str(scope.get("path", "")).strip("/").split("/")
        if len(parts) < 2 or parts[0] != "cds-services":
            return None
        feedback = len(parts) == 3 and parts[2] == "feedback"
        header: str | None = None
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        try:
            if verifier.may_fetch(header):
                await anyio.to_thread.run_sync(
                    functools.partial(verifier.verify, header, parts[1], feedback=feedback)
                )
            else:
                verifier.verify(header, parts[1], feedback=feedback)
        except AuthError as exc:
            return exc
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = uuid.uuid4().hex
        info = _info(scope)
        info["request_id"] = request_id
        status: dict[str, int] = {"code": 500, "started": 0}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["started"] = 1
                status["code"] = int(message["status"])
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            refusal = await self._refusal(scope, receive, request_id)
            if refusal is not None:
                code, response = refusal
                info["error"] = code
                await response(scope, receive, send_wrapper)
                return
            body = info.pop("body")
            sent = False

            async def replay() -> Message:
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            try:
                await self.app(scope, replay, send_wrapper)
            except Exception as exc:
                info["error"] = type(exc).__name__[:40]
                self.logger.error(
                    "unhandled error", extra={"request_id": request_id, "error": info["error"]}
                )
                if not status["started"]:
                    response = JSONResponse(
                        ErrorResponse(error="internal error", requestId=request_id).model_dump(
                            exclude_none=True
                        ),
                        status_code=500,
                    )
                    await response(scope, receive, send_wrapper)
        finally:
            route, sid = _route(str(scope.get("path", "")), self.service_ids)
            extra: dict[str, object] = {
                "request_id": request_id,
                "method": str(scope.get("method", ""))[:10],
                "route": route,
                "service_id": sid,
                "status": status["code"],
                "duration_ms": round((time.perf_counter() - start) * 1000, 3),
            }
            for key in ("cards", "error"):
                if key in info:
                    extra[key] = info[key]
            self.logger.info("request", extra=extra)

    async def _refusal(
        self, scope: Scope, receive: Receive, request_id: str
    ) -> tuple[str, JSONResponse] | None:
        """The log code and response refusing the request, or None (then ``body`` is read).

        Checks, in order: the Host header (421), the client's JWT (401), the body's arrival
        time (408) and size (413). The body read is left in the request's state.
        """

        def refuse(
            status: int,
            error: str,
            details: tuple[ErrorDetail, ...] = (),
            headers: Mapping[str, str] | None = None,
        ) -> JSONResponse:
            body = ErrorResponse(error=error, details=details, requestId=request_id)
            return JSONResponse(
                body.model_dump(exclude_none=True), status_code=status, headers=headers
            )

        if not self._host_allowed(scope):
            return "host_not_allowed", refuse(421, "the Host header does not name this service")
        refused = await self._authenticate(scope)
        if refused is not None:
            detail = ErrorDetail(path="header.Authorization", problem=refused.reason)
            return f"auth_{refused.code}", refuse(
                401,
                "unauthorized",
                (detail,),
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        try:
            body = await asyncio.wait_for(
                self._read_body(scope, receive), timeout=self.body_timeout
            )
        except TimeoutError:
            return "body_timeout", refuse(
                408, "the request body did not arrive in time", headers={"Connection": "close"}
            )
        if body is None:
            return "body_too_large", refuse(
                413, f"request body larger than {self.max_body_bytes} bytes"
            )
        _info(scope)["body"] = body
        return None

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        """The whole body, or None when it is over the limit (declared or actual)."""
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    if int(value) > self.max_body_bytes:
                        return None
                except ValueError:
                    return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _error(
    request: Request,
    status: int,
    error: str,
    details: list[ErrorDetail] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    info = _info(request.scope)
    info.setdefault("error", error.split(":", maxsplit=1)[0][:40])
    body = ErrorResponse(
        error=error, details=tuple(details or ()), requestId=str(info.get("request_id"))
    )
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=status, headers=dict(headers or {})
    )


def _loc(loc: tuple[int | str, ...]) -> str:
    """A validation error's location as a path (request keys cleaned: they are client text)."""
    parts = list(loc[1:] if loc and loc[0] == "body" else loc)
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return clean_text(out[:300]) or "body"


_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    400: {"model": ErrorResponse, "description": "Malformed request (paths of the problems)"},
    401: {
        "model": ErrorResponse,
        "description": "The CDS client's JWT is missing or not valid (when trust is configured)",
    },
    404: {"model": ErrorResponse, "description": "No service with this id"},
    408: {"model": ErrorResponse, "description": "The request body did not arrive in time"},
    413: {"model": ErrorResponse, "description": "Request body too large"},
    421: {"model": ErrorResponse, "description": "The Host header does not name this service"},
}


def create_app(
    service: CDSHooksService | None = None,
    *,
    feedback: FeedbackStore | str | Path | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    logger: logging.Logger | None = None,
    verifier: JWTVerifier | None = None,
    fetcher: FhirFetcher | None = None,
    cors_origins: Sequence[str] = (),
    allowed_hosts: Sequence[str] | None = None,
    body_timeout_seconds: float = DEFAULT_BODY_TIMEOUT_SECONDS,
) -> FastAPI:
    """Build the application.

    Args:
        service: the services (default: bundled knowledge, no profile).
        feedback: the feedback store or its SQLite path (default ``opioidcds-feedback.sqlite3``
            in the working directory).
        max_body_bytes: larger request bodies are refused with 413.
        logger: where request lines go (default: logger ``opioidcds.cdshooks``).
        verifier: checks the CDS client's JWT on every ``POST /cds-services/...`` (401 when it
            fails); None runs unauthenticated (``opioidcds serve`` allows that on loopback only).
        fetcher: reads what a request lacks from its ``fhirServer`` (with its bearer
            ``fhirAuthorization``); None never fetches (missing prefetch is then 412).
        cors_origins: browser origins allowed to call the service (CORS; none by default).
        allowed_hosts: the Host header values (with or without port) the service answers
            (others get 421, against DNS rebinding); None answers any.
        body_timeout_seconds: a request body that takes longer gets 408.
    """
    svc = service if service is not None else CDSHooksService()
    store = (
        feedback
        if isinstance(feedback, FeedbackStore)
        else FeedbackStore(feedback if feedback is not None else "opioidcds-feedback.sqlite3")
    )
    log = logger if logger is not None else logging.getLogger(LOGGER_NAME)
    app = FastAPI(
        title="opioidcds CDS Hooks service",
        version=__version__,
        description=(
            "CDS Hooks 2.0 order-select and order-sign services: oral morphine equivalent and "
            "prescribing alerts for long-term opioid prescribing. See docs/cdshooks.md."
        ),
        docs_url=None,
        redoc_url=None,
    )
    ids = frozenset(s.id for s in svc.discovery().services)
    app.add_middleware(
        _Guard,
        max_body_bytes=max_body_bytes,
        logger=log,
        service_ids=ids,
        verifier=verifier,
        allowed_hosts=frozenset(h.lower() for h in allowed_hosts) if allowed_hosts else None,
        body_timeout_seconds=body_timeout_seconds,
    )
    if cors_origins:  # outermost, so that refusals (401, 413) carry the CORS headers too
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["x-request-id"],
            max_age=600,
        )
    if fetcher is not None:
        app.router.on_shutdown.append(fetcher.aclose)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            ErrorDetail(path=_loc(tuple(e.get("loc", ()))), problem=str(e.get("msg", "invalid")))
            for e in exc.errors()[:20]
        ]
        return _error(request, 400, "malformed request", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        problem = "malformed request body" if exc.status_code == 400 else "request refused"
        if exc.status_code == 404:
            problem = "not found"
        elif exc.status_code == 405:
            problem = "method not allowed"
        return _error(request, exc.status_code, problem, headers=exc.headers)

    @app.get("/health", response_model=HealthResponse)
    def health() -> HealthResponse:
        """Liveness and the versions of the knowledge in use."""
        versions = svc.knowledge.versions()
        versions["codelists"] = f"{svc.codelists.id} {svc.codelists.version}"
        versions["card-content"] = f"{svc.card_content.id} {svc.card_content.version}"
        return HealthResponse(status="ok", version=__version__, knowledge=versions)

    @app.get("/cds-services", response_model=DiscoveryResponse, response_model_exclude_none=True)
    def discovery() -> DiscoveryResponse:
        """CDS Hooks discovery: the order-select and order-sign services."""
        return svc.discovery()

    @app.post(
        "/cds-services/{service_id}",
        response_model=CardsResponse,
        response_model_exclude_none=True,
        responses={
            **_ERRORS,
            412: {"model": ErrorResponse, "description": "Required prefetch missing"},
        },
    )
    async def call(service_id: str, body: HookRequest, request: Request) -> Response:
        """Cards for the draft orders of the request (``{"cards": []}``: nothing to say)."""
        try:
            result = await svc.call_async(service_id, body, fetcher)
        except UnknownServiceError:
            return _error(request, 404, "no such service")
        except RequestError as exc:
            return _error(
                request, 400, "malformed request", [ErrorDetail(path=exc.path, problem=exc.problem)]
            )
        except PrefetchMissingError as exc:
            return _error(
                request,
                412,
                "required prefetch missing and not read from the FHIR server",
                [
                    ErrorDetail(
                        path=f"prefetch.{k}",
                        problem=exc.reasons.get(k)
                        or "is required (send it, or fhirServer with fhirAuthorization)",
                    )
                    for k in exc.keys
                ],
            )
        _info(request.scope)["cards"] = len(result.cards)
        # serialised here: the model was validated when built (FastAPI would validate it again);
        # to bytes directly (model_dump_json's text would be decoded and encoded again)
        content = result.__pydantic_serializer__.to_json(result, exclude_none=True)
        return Response(content, media_type="application/json")

    @app.post(
        "/cds-services/{service_id}/feedback",
        response_model=FeedbackResponse,
        responses=_ERRORS,
    )
    def feedback_endpoint(
        service_id: str, body: FeedbackRequest, request: Request
    ) -> FeedbackResponse | JSONResponse:
        """Record accepted / overridden outcomes of cards."""
        try:
            svc.spec(service_id)
        except UnknownServiceError:
            return _error(request, 404, "no such service")
        return FeedbackResponse(recorded=store.record(service_id, body.feedback))

    return app
