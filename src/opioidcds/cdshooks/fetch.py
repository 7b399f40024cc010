"""Fetching what a CDS Hooks request did not send, from the client's FHIR server (httpx, async).

CDS Hooks 2.0.1, "Prefetch" and "FHIR Resource Access": a client MAY leave prefetch keys out
(it MUST omit a key it could not satisfy, and MAY page its results); a service that needs the
data then reads it from ``fhirServer`` with the bearer token of ``fhirAuthorization``, or
answers 412 when it cannot. This module does the reading:

- only with both ``fhirServer`` and ``fhirAuthorization`` (``token_type`` Bearer); the token is
  sent only to that server and is never logged or echoed;
- ``https`` only, except to a loopback address (a local test server); an optional allow-list of
  server base URLs (``opioidcds serve --fhir-server``) narrows it further;
- the queries of the service's prefetch templates (patient, active MedicationRequests and
  MedicationStatements, the codelists' Conditions, social-history Observations, A&E Encounters),
  run concurrently;
- searches follow ``Bundle.link`` ``next`` (only links under the same server base URL), at most
  ``max_pages`` pages and ``max_resources`` resources per search; a search cut short is
  returned as *incomplete*, and the service says so on a card;
- referenced Medications (``medicationReference``) not sent with the request are read one by
  one (at most ``max_medications``);
- every call has connect/read/write/pool timeouts and the whole fetch a deadline; responses over
  ``max_response_bytes`` are refused.

Problems are fixed sentences naming the prefetch key or resource type, never a URL, a token or
a value.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final
from urllib.parse import quote, urlsplit

if TYPE_CHECKING:
    import httpx

__all__ = [
    "FetchLimits",
    "FetchResult",
    "FhirFetcher",
    "fhir_id",
]

_ID_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.")


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """Bounds of one request's fetching (operational limits, not clinical numbers)."""

    connect_seconds: float = 2.0
    read_seconds: float = 5.0
    deadline_seconds: float = 10.0
    max_pages: int = 10
    max_resources: int = 2000
    max_medications: int = 50
    max_response_bytes: int = 5_000_000


@dataclass(slots=True)
class FetchResult:
    """What a fetch added: prefetch values by key, Medications by reference, and problems.

    ``incomplete`` names the keys whose search could not be completed (more pages than
    allowed, a failed page, a ``next`` link off the server); ``failed`` names keys that could
    not be read at all.
    """

    values: dict[str, object] = field(default_factory=dict)
    medications: dict[str, Mapping[str, object]] = field(default_factory=dict)
    incomplete: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    problems: list[tuple[str, str]] = field(default_factory=list)


class _FetchError(Exception):
    """A read failed; ``reason`` is a fixed sentence."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def fhir_id(value: object) -> str | None:
    """The bare id of ``value`` (``"123"`` or ``"Patient/123"``), if it is a usable FHIR id.

    Ids are tolerated up to 512 characters (EHRs send longer ids than R4's 64); anything with
    other characters is refused, so it can never change the query it is put into.
    """
    if not isinstance(value, str):
        return None
    bare = value.rsplit("/", 1)[-1]
    if not 1 <= len(bare) <= 512 or not set(bare) <= _ID_CHARS:
        return None
    return bare


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class FhirFetcher:
    """Reads from CDS clients' FHIR servers; one shared :class:`httpx.AsyncClient`.

    Args:
        limits: timeouts and bounds.
        allowed_servers: base URLs (prefixes) that may be read; None allows any ``https``
            server and loopback ``http``.
        transport: an httpx transport (tests); default: the network.
    """

    def __init__(
        self,
        limits: FetchLimits | None = None,
        *,
        allowed_servers: Sequence[str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """Create the client (no connection is opened until the first read).

        Raises:
            ImportError: httpx (the ``service`` extra) is not installed.
        """
        import httpx  # noqa: PLC0415 - optional extra, needed only to fetch

        self.limits = limits or FetchLimits()
        self.allowed = tuple(s.rstrip("/") + "/" for s in allowed_servers or ())
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        del httpx

    def _http(self) -> httpx.AsyncClient:
        """The connection pool of the running event loop (a pool is bound to its loop)."""
        import httpx  # noqa: PLC0415 - optional extra

        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            lim = self.limits
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(
                    connect=lim.connect_seconds,
                    read=lim.read_seconds,
                    write=lim.read_seconds,
                    pool=lim.connect_seconds,
                ),
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
                follow_redirects=False,
                transport=self._transport,
                headers={"Accept": "application/fhir+json"},
            )
            self._loop = loop
        return self._client

    async def aclose(self) -> None:
        """Close the connection pool of the running loop, if it has one."""
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.aclose()
        self._client = None

    def usable(  # noqa: PLR0911 - one refusal a line
        self, fhir_server: object, authorization: object
    ) -> tuple[str, str] | None:
        """``(base URL, bearer token)`` when the request allows fetching, else None."""
        if not isinstance(fhir_server, str) or not isinstance(authorization, Mapping):
            return None
        token = authorization.get("access_token")
        kind = authorization.get("token_type")
        if not isinstance(token, str) or not token or not isinstance(kind, str):
            return None
        if kind.lower() != "bearer" or any(c.isspace() for c in token) or len(token) > 16_384:
            return None
        base = fhir_server.rstrip("/")
        parts = urlsplit(base)
        if parts.username or parts.password or parts.query or parts.fragment or not parts.hostname:
            return None
        if parts.scheme != "https" and not (
            parts.scheme == "http" and _is_loopback(parts.hostname)
        ):
            return None
        if self.allowed and not (base + "/").startswith(self.allowed):
            return None
        return base, token

    async def fetch(
        self,
        base: str,
        token: str,
        queries: Mapping[str, str],
        medication_refs: Sequence[str],
    ) -> FetchResult:
        """Run ``queries`` (prefetch key -> relative URL) and read ``medication_refs``.

        A relative URL naming one resource (``Patient/1``) is a read; one with ``?`` a search
        whose pages are followed. Never raises for the server's failures: they are reported in
        the result.
        """
        result = FetchResult()
        try:
            async with asyncio.timeout(self.limits.deadline_seconds):
                await asyncio.gather(
                    *(self._one(base, token, key, rel, result) for key, rel in queries.items()),
                    self._medications(base, token, medication_refs, result),
                )
        except TimeoutError:
            for key in queries:
                if key not in result.values:
                    result.failed.add(key)
                    result.problems.append((key, "the FHIR server did not answer in time"))
                elif key in result.values:
                    result.incomplete.add(key)
        return result

    async def _one(self, base: str, token: str, key: str, rel: str, result: FetchResult) -> None:
        try:
            if "?" in rel:
                bundle, complete = await self._search(base, token, rel)
                result.values[key] = bundle
                if not complete:
                    result.incomplete.add(key)
                    result.problems.append(
                        (key, "the search had more pages or resources than the service reads")
                    )
            else:
                result.values[key] = await self._get(base, token, f"{base}/{rel}")
        except _FetchError as exc:
            result.failed.add(key)
            result.problems.append((key, exc.reason))

    async def _search(self, base: str, token: str, rel: str) -> tuple[dict[str, object], bool]:
        url = f"{base}/{rel}"
        entries: list[object] = []
        for _page in range(self.limits.max_pages):
            page = await self._get(base, token, url)
            if page.get("resourceType") != "Bundle":
                raise _FetchError("the FHIR server's search answer was not a Bundle")
            found = page.get("entry")
            if isinstance(found, list):
                entries.extend(found)
            if len(entries) > self.limits.max_resources:
                return _bundle(entries[: self.limits.max_resources]), False
            link = _next_link(page)
            if link is None:
                return _bundle(entries), True
            if not link.startswith(base + "/"):
                return _bundle(entries), False  # never follow a link off the server
            url = link
        return _bundle(entries), False

    async def _medications(
        self, base: str, token: str, refs: Sequence[str], result: FetchResult
    ) -> None:
        wanted = list(dict.fromkeys(refs))[: self.limits.max_medications]
        if len(set(refs)) > len(wanted):
            result.problems.append(
                ("medications", "more referenced Medications than the service reads")
            )

        async def read(ref: str) -> None:
            mid = fhir_id(ref)
            if mid is None or not ref.removeprefix(base + "/").startswith("Medication/"):
                return
            try:
                med = await self._get(base, token, f"{base}/Medication/{quote(mid, safe='')}")
            except _FetchError as exc:
                result.problems.append(("medications", f"a referenced Medication: {exc.reason}"))
                return
            if med.get("resourceType") == "Medication":
                result.medications[ref] = med

        await asyncio.gather(*(read(r) for r in wanted))

    async def _get(self, base: str, token: str, url: str) -> dict[str, object]:
        import httpx  # noqa: PLC0415 - imported by __init__ already (optional extra)

        if not url.startswith(base + "/"):
            raise _FetchError("a link pointed off the FHIR server")
        try:
            async with self._http().stream(
                "GET", url, headers={"Authorization": f"Bearer {token}"}
            ) as response:
                if response.status_code in {401, 403}:
                    raise _FetchError("the FHIR server refused the request's token")
                if response.status_code == 404:
                    raise _FetchError("the FHIR server has no such resource")
                if response.status_code != 200:
                    raise _FetchError("the FHIR server answered with an error")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > self.limits.max_response_bytes:
                        raise _FetchError("the FHIR server's answer was too large")
        except httpx.TimeoutException:
            raise _FetchError("the FHIR server did not answer in time") from None
        except httpx.HTTPError:
            raise _FetchError("the FHIR server could not be reached") from None
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise _FetchError("the FHIR server's answer was not JSON") from None
        if not isinstance(data, dict):
            raise _FetchError("the FHIR server's answer was not a resource")
        return data


def _bundle(entries: list[object]) -> dict[str, object]:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries}


def _next_link(bundle: Mapping[str, object]) -> str | None:
    links = bundle.get("link")
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, Mapping) and link.get("relation") == "next":
            url = link.get("url")
            return url if isinstance(url, str) else None
    return None
