"""Trusting CDS Clients: verify the JWT bearer token a CDS Hooks client sends (extra ``service``).

CDS Hooks 2.0, "Trusting CDS Clients" (https://cds-hooks.hl7.org/2.0/#trusting-cds-clients):
the client (the EHR) signs a JSON Web Token (RFC 7519) with its private key and sends it as
``Authorization: Bearer <JWT>`` on every call. The header carries ``alg``, ``kid``, ``typ``
("JWT") and optionally ``jku`` (the URL of the client's JWK Set); the payload carries ``iss``,
``aud`` (the CDS Service endpoint being called), ``exp``, ``iat``, ``jti`` (a nonce against
replay) and optionally ``tenant`` (CDS Hooks 2.0.1 defines no ``sub``; a token may carry one).
The specification asks services to allow-list ``iss`` and ``jku`` and requires support for
ES384 and RS384. Feedback is authenticated the same way; its ``aud`` may be the feedback URL
(``.../cds-services/{id}/feedback``, the endpoint invoked) or the service's URL.

This module checks all of that against a **trusted-issuers file** (JSON; see
:func:`load_trusted_issuers` and ``docs/cdshooks.md``): each issuer's public keys as an inline
JWK Set and/or a JWK Set URL (the only ``jku`` accepted for that issuer), optionally its allowed
``sub`` and ``tenant`` values (when listed, the token must carry one of them). A JWK Set URL is
fetched at most once per ``jwks_refetch_seconds`` for an unknown ``kid``, and not at all for
``jwks_cooldown_seconds`` after a failed fetch (the service answers 401 at once meanwhile), so
forged tokens cannot make it wait on the key endpoint; the fetch itself runs in a worker
thread (see ``opioidcds.cdshooks.app``). A token is accepted only if every check passes; any
failure is an :class:`AuthError` with a fixed reason (answered 401). The token itself is
never logged or echoed. Replayed ``jti`` values are refused until the token expires; the
replay memory is per process (run one process per replay domain, or put a gateway in front).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import threading
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import jwt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from opioidcds._errors import KnowledgeBaseError

__all__ = [
    "DEFAULT_ALGORITHMS",
    "AuthError",
    "JWTVerifier",
    "TrustConfig",
    "TrustedIssuer",
    "load_trusted_issuers",
]

DEFAULT_ALGORITHMS: Final = ("RS384", "ES384")
"""The algorithms CDS Hooks 2.0 requires services to support (and, by default, the only ones)."""
_ASYMMETRIC: Final = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)
_REQUIRED_CLAIMS: Final = ("iss", "aud", "exp", "iat", "jti")  # CDS Hooks 2.0.1: no sub
_MAX_JWKS_BYTES: Final = 1_000_000  # a JWK Set larger than this is not one; not clinical
_MAX_TOKEN_CHARS: Final = 16_384  # longer is not a CDS Hooks JWT; not clinical
_MAX_FILE_BYTES: Final = 1_000_000


class AuthError(Exception):
    """The request is not authenticated (answered 401); ``reason`` is a fixed sentence."""

    def __init__(self, code: str, reason: str) -> None:
        """Record a short code (logged) and a reason (sent to the client); never token text."""
        self.code = code
        self.reason = reason
        super().__init__(f"{code}: {reason}")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


class TrustedIssuer(_Model):
    """One trusted CDS client: its ``iss``, its keys, and optionally its allowed ``sub`` values.

    ``jwks`` is an inline JWK Set (``{"keys": [...]}``, public keys only); ``jwks_url`` is the
    URL of the issuer's JWK Set, fetched when a token names it (or names no ``jku`` and no inline
    key matches). A token's ``jku`` header must equal ``jwks_url``: any other URL is refused.
    """

    iss: str = Field(min_length=1, max_length=2000)
    jwks: dict[str, Any] | None = None
    # https, or http to a loopback address (a key server on the same machine)
    jwks_url: str | None = Field(
        default=None,
        pattern=r"^(https://|http://(127\.0\.0\.1|localhost|\[::1\])(:[0-9]{1,5})?/)",
        max_length=2000,
    )
    sub: tuple[str, ...] | None = None
    tenant: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _keys(self) -> TrustedIssuer:
        if self.jwks is None and self.jwks_url is None:
            raise ValueError("an issuer needs jwks or jwks_url")
        return self


class TrustConfig(_Model):
    """The trusted-issuers file: where this service is, who may call it, and how."""

    service_base_url: str = Field(pattern=r"^https?://[^\s/]+(/[^\s]*)?$", max_length=2000)
    issuers: tuple[TrustedIssuer, ...] = Field(min_length=1)
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    leeway_seconds: int = Field(default=30, ge=0, le=300)
    max_lifetime_seconds: int = Field(default=300, ge=1, le=3600)
    jwks_timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    jwks_cache_seconds: int = Field(default=300, ge=1, le=86_400)
    jwks_refetch_seconds: int = Field(default=60, ge=1, le=3600)
    jwks_cooldown_seconds: int = Field(default=30, ge=1, le=3600)

    @model_validator(mode="after")
    def _check(self) -> TrustConfig:
        bad = [a for a in self.algorithms if a not in _ASYMMETRIC]
        if bad or not self.algorithms:
            raise ValueError("algorithms must be asymmetric JWS algorithms (RS*, PS*, ES*)")
        names = [i.iss for i in self.issuers]
        if len(set(names)) != len(names):
            raise ValueError("an issuer is listed twice")
        return self


def load_trusted_issuers(path: str | Path) -> TrustConfig:
    """Load and check a trusted-issuers JSON file.

    Shape: ``{"service_base_url": "https://cds.example.org", "issuers": [{"iss": ...,
    "jwks": {"keys": [...]}, "jwks_url": "https://...", "sub": [...]}], "algorithms":
    ["RS384", "ES384"], "leeway_seconds": 30, "max_lifetime_seconds": 300}``.

    Raises:
        KnowledgeBaseError: unreadable file, unknown keys, an issuer without keys, an inline
            key that is not a usable public key, a symmetric or unknown algorithm.
    """
    p = Path(path)
    try:
        if p.stat().st_size > _MAX_FILE_BYTES:
            raise KnowledgeBaseError("trusted-issuers file is too large")
        data = json.loads(p.read_text(encoding="utf-8"))
        config = TrustConfig.model_validate(data)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        name = type(exc).__name__
        raise KnowledgeBaseError(f"cannot read the trusted-issuers file ({name})") from None
    except ValidationError as exc:
        first = exc.errors(include_input=False)[0]
        where = ".".join(str(x) for x in first.get("loc", ())) or "(file)"
        raise KnowledgeBaseError(f"trusted-issuers file: {where}: {first.get('msg')}") from None
    for issuer in config.issuers:
        _inline_keys(issuer, config.algorithms)  # refuse unusable keys at start-up
    return config


@dataclass(frozen=True)
class _Key:
    jwk: jwt.PyJWK
    alg: str | None  # the JWK's own "alg" member, if it declares one


def _inline_keys(issuer: TrustedIssuer, algorithms: tuple[str, ...]) -> dict[str, _Key]:
    if issuer.jwks is None:
        return {}
    raw_keys = issuer.jwks.get("keys")
    if not isinstance(raw_keys, list) or not raw_keys:
        raise KnowledgeBaseError("trusted-issuers file: an inline jwks needs a keys array")
    out: dict[str, _Key] = {}
    for raw in raw_keys:
        if not isinstance(raw, dict) or raw.get("kty") not in {"RSA", "EC"}:
            raise KnowledgeBaseError("trusted-issuers file: inline keys must be RSA or EC keys")
        if "d" in raw:
            raise KnowledgeBaseError("trusted-issuers file: inline keys must be public keys")
        kid, declared = raw.get("kid"), raw.get("alg")
        if not isinstance(kid, str) or not kid or kid in out:
            raise KnowledgeBaseError("trusted-issuers file: every inline key needs its own kid")
        if declared is not None and declared not in algorithms:
            raise KnowledgeBaseError("trusted-issuers file: a key's alg is not allowed")
        try:
            out[kid] = _Key(jwt.PyJWK(raw), declared)
        except (jwt.PyJWKError, jwt.InvalidKeyError, TypeError, ValueError):
            raise KnowledgeBaseError("trusted-issuers file: an inline key is not usable") from None
    return out


class _RemoteKeys:
    """An issuer's JWK Set at ``jwks_url``: cached, fetched rarely, never hammered.

    - keys are kept for ``cache_seconds``;
    - a ``kid`` not in a fresh set triggers at most one fetch per ``refetch_seconds``;
    - after a failed fetch (unreachable, timeout, not JSON, no usable keys) nothing is fetched
      for ``cooldown_seconds``: tokens needing the set are refused at once;
    - one fetch at a time (others wait for it, then use its result).
    """

    def __init__(self, url: str, config: TrustConfig) -> None:
        self.url = url
        self._config = config
        self._keys: dict[str, _Key] = {}
        self._fetched_at = -math.inf
        self._failed_at = -math.inf
        self._lock = threading.Lock()
        self._fetch_lock = threading.Lock()

    def cached(self, kid: str) -> _Key | None:
        """The key with ``kid`` if a fresh copy is at hand."""
        with self._lock:
            fresh = time.monotonic() - self._fetched_at < self._config.jwks_cache_seconds
            return self._keys.get(kid) if fresh else None

    def would_fetch(self, kid: str) -> bool:
        """Whether :meth:`get` would go to the network for ``kid`` now."""
        now = time.monotonic()
        with self._lock:
            if now - self._failed_at < self._config.jwks_cooldown_seconds:
                return False
            age = now - self._fetched_at
            if age < self._config.jwks_cache_seconds and kid in self._keys:
                return False
            return age >= self._config.jwks_refetch_seconds
        return False  # pragma: no cover - unreachable

    def get(self, kid: str) -> _Key:
        """The key with ``kid``, fetching the set if allowed.

        Raises:
            AuthError: no such key, or the set could not be fetched (or is cooling down).
        """
        found = self.cached(kid)
        if found is not None:
            return found
        with self._fetch_lock:
            found = self.cached(kid)
            if found is not None:
                return found
            now = time.monotonic()
            with self._lock:
                cooling = now - self._failed_at < self._config.jwks_cooldown_seconds
                recent = now - self._fetched_at < self._config.jwks_refetch_seconds
            if cooling:
                raise AuthError("jwks", "the issuer's JWK Set is unavailable; try again later")
            if recent:
                raise AuthError("kid", "no trusted key with the token's kid")
            try:
                keys = self._fetch()
            except AuthError:
                with self._lock:
                    self._failed_at = time.monotonic()
                raise
            with self._lock:
                self._keys = keys
                self._fetched_at = time.monotonic()
        found = keys.get(kid)
        if found is None:
            raise AuthError("kid", "no trusted key with the token's kid")
        return found

    def _fetch(self) -> dict[str, _Key]:
        unusable = AuthError("jwks", "the issuer's JWK Set could not be fetched or read")
        request = urllib.request.Request(  # noqa: S310 - https only (checked at load)
            self.url, headers={"Accept": "application/json"}
        )
        try:
            with urllib.request.urlopen(  # noqa: S310 - https only (checked at load)
                request, timeout=self._config.jwks_timeout_seconds
            ) as response:
                body = response.read(_MAX_JWKS_BYTES + 1)
        except (OSError, ValueError):
            raise unusable from None
        if len(body) > _MAX_JWKS_BYTES:
            raise unusable
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise unusable from None
        raw_keys = data.get("keys") if isinstance(data, dict) else None
        if not isinstance(raw_keys, list):
            raise unusable
        out: dict[str, _Key] = {}
        for raw in raw_keys:
            if not isinstance(raw, dict) or "d" in raw:
                continue  # a private key is never used; other members are skipped
            kid, declared = raw.get("kid"), raw.get("alg")
            if not isinstance(kid, str) or not kid:
                continue
            if declared is not None and declared not in self._config.algorithms:
                continue
            try:
                out[kid] = _Key(jwt.PyJWK(raw), declared)
            except (jwt.PyJWKError, jwt.InvalidKeyError, TypeError, ValueError):
                continue
        if not out:
            raise unusable
        return out


@dataclass
class _Issuer:
    config: TrustedIssuer
    inline: dict[str, _Key]
    remote: _RemoteKeys | None


@dataclass
class _Replay:
    seen: dict[tuple[str, str], float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    limit: int = 100_000  # live tokens remembered at most; not clinical


class JWTVerifier:
    """Verifies CDS Hooks client JWTs against a :class:`TrustConfig` (safe across threads).

    Args:
        config: the trusted issuers and the service's public base URL.
    """

    def __init__(self, config: TrustConfig) -> None:
        """Prepare keys (inline keys checked here) and the replay memory."""
        self.config = config
        self._base = config.service_base_url.rstrip("/")
        self._issuers: Mapping[str, _Issuer] = {
            i.iss: _Issuer(
                i,
                _inline_keys(i, config.algorithms),
                _RemoteKeys(i.jwks_url, config) if i.jwks_url else None,
            )
            for i in config.issuers
        }
        self._replay = _Replay()

    def audience(self, service_id: str) -> str:
        """The ``aud`` a token must carry to call ``service_id``: the service's endpoint URL."""
        return f"{self._base}/cds-services/{service_id}"

    def feedback_audience(self, service_id: str) -> str:
        """The feedback endpoint's URL, also accepted as ``aud`` when feedback is posted."""
        return f"{self._base}/cds-services/{service_id}/feedback"

    def may_fetch(self, authorization: str | None) -> bool:
        """Whether verifying this header could fetch an issuer's JWK Set (network I/O).

        Cheap (the token is only parsed); a malformed token is False (it fails at once).
        """
        try:
            header, unverified = _peek(_bearer(authorization))
        except AuthError:
            return False
        iss, kid, jku = unverified.get("iss"), header.get("kid"), header.get("jku")
        issuer = self._issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None or issuer.remote is None or not isinstance(kid, str) or not kid:
            return False
        if jku is None and kid in issuer.inline:
            return False
        return issuer.remote.would_fetch(kid)

    def verify(
        self, authorization: str | None, service_id: str, *, feedback: bool = False
    ) -> Mapping[str, Any]:
        """Check the ``Authorization`` header value of a call to ``service_id``.

        ``feedback``: the call is to the service's feedback endpoint, whose URL is accepted as
        ``aud`` besides the service's.

        Returns:
            The verified claims.

        Raises:
            AuthError: missing or malformed header, an algorithm off the allow-list (``none``
                included), an unknown issuer, key or ``jku``, an unavailable key set, a bad
                signature, a wrong ``aud``, an expired or future token, a lifetime over the
                limit, a missing claim, a ``sub`` or ``tenant`` not allowed, or a ``jti``
                already used.
        """
        token = _bearer(authorization)
        header, unverified = _peek(token)
        alg = header.get("alg")
        if alg not in self.config.algorithms:
            raise AuthError("algorithm", "the token's algorithm is not allowed")
        if header.get("typ", "JWT") != "JWT":
            raise AuthError("typ", "the token's typ must be JWT")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("kid", "the token header has no kid")
        iss = unverified.get("iss")
        issuer = self._issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise AuthError("issuer", "the token's issuer is not trusted")
        key = self._key(issuer, header, kid)
        audiences = [self.audience(service_id)]
        if feedback:
            audiences.append(self.feedback_audience(service_id))
        claims = self._decode(token, key, str(alg), audiences, issuer.config.iss)
        self._check_claims(claims, issuer.config)
        return claims

    def _key(self, issuer: _Issuer, header: Mapping[str, Any], kid: str) -> _Key:
        jku = header.get("jku")
        if jku is not None and jku != issuer.config.jwks_url:
            raise AuthError("jku", "the token's jku is not on the issuer's allow-list")
        if jku is None and kid in issuer.inline:
            return issuer.inline[kid]
        if issuer.remote is None:
            raise AuthError("kid", "no trusted key with the token's kid")
        return issuer.remote.get(kid)

    def _decode(
        self, token: str, key: _Key, alg: str, audiences: list[str], iss: str
    ) -> dict[str, Any]:
        if key.alg is not None and key.alg != alg:
            raise AuthError("algorithm", "the token's algorithm does not match its key")
        try:
            return jwt.decode(
                token,
                key=key.jwk.key,
                algorithms=[alg],
                audience=audiences,
                issuer=iss,
                leeway=self.config.leeway_seconds,
                options={"require": list(_REQUIRED_CLAIMS), "verify_iat": True},
            )
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError("claim", f"the token has no {exc.claim} claim") from None
        except jwt.ExpiredSignatureError:
            raise AuthError("expired", "the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise AuthError("iat", "the token was issued in the future") from None
        except jwt.InvalidAudienceError:
            raise AuthError("audience", "the token's aud is not this service's endpoint") from None
        except jwt.InvalidIssuerError:  # pragma: no cover - the issuer was looked up by iss
            raise AuthError("issuer", "the token's issuer is not trusted") from None
        except jwt.InvalidSignatureError:
            raise AuthError("signature", "the token's signature does not verify") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise AuthError("invalid", "the token could not be verified") from None

    def _check_claims(self, claims: Mapping[str, Any], issuer: TrustedIssuer) -> None:
        jti = claims.get("jti")
        for name, allowed in (("sub", issuer.sub), ("tenant", issuer.tenant)):
            value = claims.get(name)
            if value is not None and (not isinstance(value, str) or not value):
                raise AuthError("claim", f"the token's {name} must be a non-empty string")
            if allowed is not None and value not in allowed:
                raise AuthError(name, f"the token's {name} is not allowed for its issuer")
        if not isinstance(jti, str) or not jti or len(jti) > 256:
            raise AuthError("claim", "the token's jti must be a string of 1 to 256 characters")
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int | float) or not isinstance(iat, int | float):
            raise AuthError("claim", "the token's exp and iat must be numbers")  # pragma: no cover
        if exp - iat > self.config.max_lifetime_seconds:
            raise AuthError("lifetime", "the token lives longer than this service accepts")
        self._remember(issuer.iss, jti, float(exp) + self.config.leeway_seconds)

    def _remember(self, iss: str, jti: str, until: float) -> None:
        now = time.time()
        replay = self._replay
        with replay.lock:
            if len(replay.seen) >= replay.limit:
                for k in [k for k, t in replay.seen.items() if t < now]:
                    del replay.seen[k]
            if (iss, jti) in replay.seen and replay.seen[(iss, jti)] >= now:
                raise AuthError("replay", "the token's jti has been used before")
            if len(replay.seen) >= replay.limit:
                raise AuthError("busy", "too many live tokens; try again later")
            replay.seen[(iss, jti)] = until


def _peek(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and the **unverified** claims of a compact JWS (only to pick the issuer).

    Parsed once with the standard library (PyJWT's own parse checks every character in Python
    and would run three times); the signature and every claim are then verified by PyJWT.
    """
    parts = token.split(".")
    if len(parts) != 3:  # a compact JWS has three parts (RFC 7515 section 7.1)
        raise AuthError("malformed", "the bearer token is not a JWT")
    try:
        decoded = [
            json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)).decode("utf-8"))
            for p in parts[:2]
        ]
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise AuthError("malformed", "the bearer token is not a JWT") from None
    header, claims = decoded
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise AuthError("malformed", "the bearer token is not a JWT")
    return header, claims


def _bearer(authorization: str | None) -> str:
    if authorization is None:
        raise AuthError("missing", "an Authorization: Bearer <JWT> header is required")
    scheme, _sep, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthError("missing", "an Authorization: Bearer <JWT> header is required")
    if len(token) > _MAX_TOKEN_CHARS:
        raise AuthError("malformed", "the bearer token is too long")
    return token
