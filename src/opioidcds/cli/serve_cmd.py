"""``opioidcds serve``: run the CDS Hooks service (extra ``service``: FastAPI + uvicorn).

FastAPI and uvicorn are imported only when the command runs; without them the command says how
to install the extra and exits 2. Logs are JSON lines on stderr (no patient data); uvicorn's
own access log is off (it would log URLs). The application and uvicorn's protocol are built by
:mod:`opioidcds.cdshooks.server`.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import sqlite3
import sys
from pathlib import Path
from typing import Annotated

import typer

from opioidcds._errors import OpioidCDSError
from opioidcds.cli.io import fail

__all__ = ["serve_command"]

_INSTALL_HINT = (
    "opioidcds: 'serve' needs the 'service' extra (FastAPI + uvicorn): "
    "pip install 'opioidcds[service]'\n"
)
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")


def _is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``); names are not resolved."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _links(values: list[str], kind: str) -> list[tuple[str, str, str]]:
    out = []
    for value in values:
        label, sep, url = value.partition("=")
        if not sep or not label.strip() or not url.startswith("https://"):
            sys.stderr.write(
                "opioidcds: error: a review link is LABEL=https://URL (label, '=', https URL)\n"
            )
            raise typer.Exit(2)
        out.append((label.strip(), url.strip(), kind))
    return out


def serve_command(  # noqa: PLR0917 - typer maps each option to a parameter
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port.")] = 8080,
    profile: Annotated[
        str | None,
        typer.Option(
            help="A local profile overriding ruleset parameters: a TOML file, or a bundled "
            "profile id (us-cdc-2022, opioids-aware-90)."
        ),
    ] = None,
    table: Annotated[
        str | None,
        typer.Option(
            help="The conversion table: a bundled id (uk-opioids-aware, the default; "
            "cdc-2022, the US CDC 2022 MME table) or a TOML file. Cards then say OME or MME."
        ),
    ] = None,
    feedback_db: Annotated[
        Path, typer.Option(help="SQLite file for card feedback (created if missing).")
    ] = Path("opioidcds-feedback.sqlite3"),
    acute_profile: Annotated[
        Path | None,
        typer.Option(
            help="A trust profile (TOML) for the hospital rulesets (discharge, inpatient)."
        ),
    ] = None,
    rules: Annotated[
        Path | None,
        typer.Option(
            "--rules",
            help="A folder of local rules beside the bundled ones (extensions adding rules).",
            metavar="DIR",
        ),
    ] = None,
    trusted_issuers: Annotated[
        Path | None,
        typer.Option(
            help="JSON file of trusted CDS clients (issuer -> JWK Set, service URL); every "
            "service call must then carry a valid JWT. Without it the service runs "
            "unauthenticated, which is allowed on loopback only."
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Worker processes (each loads the knowledge).")
    ] = 1,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(
            help="A browser origin allowed to call the service (CORS), e.g. "
            "https://sandbox.cds-hooks.org; repeat for more. Off by default."
        ),
    ] = None,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            help="A Host header value the service answers (others get 421); repeat for more. "
            "Default on loopback: localhost, 127.0.0.1, [::1]; otherwise any."
        ),
    ] = None,
    fhir_server: Annotated[
        list[str] | None,
        typer.Option(
            help="A FHIR server base URL the service may read from (with the request's "
            "fhirAuthorization); repeat for more. Default: any https server, http on loopback."
        ),
    ] = None,
    no_fetch: Annotated[
        bool,
        typer.Option(
            "--no-fetch", help="Never read from the client's FHIR server (missing prefetch: 412)."
        ),
    ] = False,
    review_link: Annotated[
        list[str] | None,
        typer.Option(
            help="LABEL=https://URL: a link on the patient-view review card (a taper plan or a "
            "report); repeat for more."
        ),
    ] = None,
    review_smart_link: Annotated[
        list[str] | None,
        typer.Option(help="LABEL=https://URL of a SMART app launched from the review card."),
    ] = None,
    header_timeout: Annotated[
        float, typer.Option(min=1, max=300, help="Seconds for a request's headers to arrive.")
    ] = 10.0,
    body_timeout: Annotated[
        float, typer.Option(min=1, max=300, help="Seconds for a request's body to arrive.")
    ] = 10.0,
) -> None:
    """Run the CDS Hooks 2.0 service (order-select, order-sign, patient-view) until interrupted."""
    if trusted_issuers is None and not _is_loopback(host):
        sys.stderr.write(
            "opioidcds: error: refusing to listen on a non-loopback address without "
            "--trusted-issuers (CDS Hooks client JWTs would not be checked)\n"
        )
        raise typer.Exit(2)
    try:
        import uvicorn  # noqa: PLC0415 - optional extra

        from opioidcds.cdshooks.server import (  # noqa: PLC0415 - optional extra
            CONFIG_ENV,
            HEADER_TIMEOUT_ENV,
            ServeConfig,
            build_app,
        )
    except ImportError:
        sys.stderr.write(_INSTALL_HINT)
        raise typer.Exit(2) from None
    hosts = allowed_host or None
    if hosts is None and _is_loopback(host):
        hosts = [*_LOOPBACK_HOSTS]
    links = _links(review_link or [], "absolute") + _links(review_smart_link or [], "smart")
    config = ServeConfig(
        feedback_db=str(feedback_db),
        profile=profile,
        acute_profile=str(acute_profile) if acute_profile else None,
        rules=str(rules) if rules else None,
        table=table,
        trusted_issuers=str(trusted_issuers) if trusted_issuers else None,
        cors_origins=tuple(cors_origin or ()),
        allowed_hosts=tuple(hosts) if hosts else None,
        fetch=not no_fetch,
        fhir_servers=tuple(fhir_server or ()),
        review_links=tuple(links),
        body_timeout_seconds=body_timeout,
    )
    os.environ[HEADER_TIMEOUT_ENV] = str(header_timeout)  # read by the protocol class
    try:
        app = build_app(config)  # in this process too: refuses bad knowledge before serving
    except OpioidCDSError as exc:
        raise typer.Exit(fail(exc)) from None
    except (OSError, sqlite3.Error) as exc:
        sys.stderr.write(
            f"opioidcds: error: cannot open the feedback store ({type(exc).__name__})\n"
        )
        raise typer.Exit(2) from None
    logger = logging.getLogger("opioidcds.cdshooks")
    if trusted_issuers is None:
        logger.warning(
            "authentication off: CDS client JWTs are not checked (allowed on loopback only; "
            "use --trusted-issuers to require them)"
        )
    else:
        from opioidcds.cdshooks.auth import load_trusted_issuers  # noqa: PLC0415

        trust = load_trusted_issuers(trusted_issuers)
        logger.info(
            "authentication on: %d trusted issuer(s), algorithms %s",
            len(trust.issuers),
            ",".join(trust.algorithms),
        )
    from opioidcds.cdshooks.server import HeaderTimeoutProtocol  # noqa: PLC0415

    HeaderTimeoutProtocol.header_timeout = header_timeout
    common = {
        "host": host,
        "port": port,
        "log_config": None,
        "access_log": False,
        "log_level": "warning",
        "http": HeaderTimeoutProtocol,
    }
    if workers == 1:
        uvicorn.run(app, **common)  # type: ignore[arg-type]
        return
    os.environ[CONFIG_ENV] = config.to_json()
    uvicorn.run(
        "opioidcds.cdshooks.server:app_factory",
        factory=True,
        workers=workers,
        **common,  # type: ignore[arg-type]
    )
