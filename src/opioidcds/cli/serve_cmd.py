"""``opioidcds serve``: run the CDS Hooks service (extra ``service``: FastAPI + uvicorn).

FastAPI and uvicorn are imported only when the command runs; without them the command says how
to install the extra and exits 2. Logs are JSON lines on stderr (no patient data); uvicorn's
own access log is off (it would log URLs).
"""

from __future__ import annotations

import gc
import ipaddress
import logging
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


def _log_handler() -> logging.Handler:
    from opioidcds.cdshooks.app import JsonLinesFormatter  # noqa: PLC0415 - optional extra

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLinesFormatter())
    return handler


def _is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``); names are not resolved."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve_command(  # noqa: PLR0917 - typer maps each option to a parameter
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port.")] = 8080,
    profile: Annotated[
        Path | None, typer.Option(help="A local profile (TOML) overriding ruleset parameters.")
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
    trusted_issuers: Annotated[
        Path | None,
        typer.Option(
            help="JSON file of trusted CDS clients (issuer -> JWK Set, service URL); every "
            "service call must then carry a valid JWT. Without it the service runs "
            "unauthenticated, which is allowed on loopback only."
        ),
    ] = None,
) -> None:
    """Run the CDS Hooks 2.0 service (order-select, order-sign) until interrupted."""
    if trusted_issuers is None and not _is_loopback(host):
        sys.stderr.write(
            "opioidcds: error: refusing to listen on a non-loopback address without "
            "--trusted-issuers (CDS Hooks client JWTs would not be checked)\n"
        )
        raise typer.Exit(2)
    try:
        import uvicorn  # noqa: PLC0415 - optional extra

        from opioidcds.cdshooks.app import LOGGER_NAME, create_app  # noqa: PLC0415
    except ImportError:
        sys.stderr.write(_INSTALL_HINT)
        raise typer.Exit(2) from None
    from opioidcds._decide.knowledge import default_knowledge, load_knowledge  # noqa: PLC0415
    from opioidcds._decide.rules import load_profile  # noqa: PLC0415
    from opioidcds.cdshooks.auth import JWTVerifier, load_trusted_issuers  # noqa: PLC0415
    from opioidcds.cdshooks.feedback import FeedbackStore  # noqa: PLC0415
    from opioidcds.cdshooks.service import CDSHooksService  # noqa: PLC0415

    try:
        knowledge = load_knowledge(profile=profile) if profile else default_knowledge()
        acute = load_profile(acute_profile) if acute_profile else None
        service = CDSHooksService(knowledge, acute_profile=acute)
        verifier = JWTVerifier(load_trusted_issuers(trusted_issuers)) if trusted_issuers else None
        store = FeedbackStore(feedback_db)
    except OpioidCDSError as exc:
        raise typer.Exit(fail(exc)) from None
    except (OSError, sqlite3.Error) as exc:
        sys.stderr.write(
            f"opioidcds: error: cannot open the feedback store ({type(exc).__name__})\n"
        )
        raise typer.Exit(2) from None
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(_log_handler())
    app = create_app(service, feedback=store, logger=logger, verifier=verifier)
    if verifier is None:
        logger.warning(
            "authentication off: CDS client JWTs are not checked (allowed on loopback only; "
            "use --trusted-issuers to require them)"
        )
    else:
        logger.info(
            "authentication on: %d trusted issuer(s), algorithms %s",
            len(verifier.config.issuers),
            ",".join(verifier.config.algorithms),
        )
    service.warm_up()
    # The knowledge is loaded for good: move it out of the collector's generations so full
    # collections during requests do not walk it (shorter pauses, lower tail latency).
    gc.collect()
    gc.freeze()
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False, log_level="warning")
