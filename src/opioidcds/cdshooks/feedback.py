"""Card feedback (CDS Hooks 2.0 ``/feedback``) in a local SQLite file (stdlib ``sqlite3``).

Stored per outcome: service id, card uuid, outcome (accepted / overridden), the override
reason's code and system, the EHR's outcome timestamp and the time it was received. Nothing
else: the free-text ``userComment`` may name the patient, so it is not stored (only whether one
was given); accepted suggestions are stored as a count.

Writes are idempotent: an outcome is identified by the service, the card's uuid, the outcome
and the EHR's outcome timestamp, so a client that retries a feedback call (CDS Hooks clients
retry on timeouts) records nothing twice. Each call opens its own connection and writes under
one lock, so the store is safe to use from concurrent requests; SQLite's own locking protects
several processes sharing a file (``opioidcds serve --workers``).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Final

from opioidcds.cdshooks.models import FeedbackItem

__all__ = ["FeedbackStore"]

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    service_id TEXT NOT NULL,
    card_uuid TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('accepted', 'overridden')),
    override_system TEXT,
    override_code TEXT,
    had_user_comment INTEGER NOT NULL,
    accepted_suggestions INTEGER NOT NULL,
    outcome_timestamp TEXT NOT NULL,
    received_at TEXT NOT NULL
)
"""
_DEDUPLICATE: Final = (  # a store written before outcomes were unique: keep each one once
    "DELETE FROM feedback WHERE id NOT IN (SELECT MIN(id) FROM feedback "
    "GROUP BY service_id, card_uuid, outcome, outcome_timestamp)"
)
_UNIQUE: Final = (
    "CREATE UNIQUE INDEX IF NOT EXISTS feedback_once "
    "ON feedback (service_id, card_uuid, outcome, outcome_timestamp)"
)
_INSERT: Final = (
    "INSERT OR IGNORE INTO feedback (service_id, card_uuid, outcome, override_system, "
    "override_code, "
    "had_user_comment, accepted_suggestions, outcome_timestamp, received_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_TEXT_MAX: Final = 200


def _short(value: object) -> str | None:
    return value[:_TEXT_MAX] if isinstance(value, str) and value else None


class FeedbackStore:
    """Outcomes of cards in a SQLite file (created with its table on first use)."""

    def __init__(self, path: str | Path) -> None:
        """Open (or create) the store at ``path``.

        Raises:
            sqlite3.Error: the file cannot be opened or is not a SQLite database.
        """
        self.path = Path(path)
        self._lock = threading.Lock()
        with self._lock, closing(self._connect()) as con, con:
            con.execute(_SCHEMA)
            con.execute(_DEDUPLICATE)
            con.execute(_UNIQUE)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10)

    def record(
        self, service_id: str, items: Sequence[FeedbackItem], *, now: dt.datetime | None = None
    ) -> int:
        """Store the outcomes; return how many are on record for this call.

        An outcome already stored (the same service, card, outcome and outcome timestamp: a
        retried call) is not stored again but counts as recorded. All or none: one
        transaction.
        """
        received = (now or dt.datetime.now(dt.UTC)).isoformat()
        rows = []
        for item in items:
            reason = item.overrideReason.reason if item.overrideReason else None
            comment = bool(item.overrideReason and item.overrideReason.userComment)
            rows.append(
                (
                    service_id,
                    item.card[:_TEXT_MAX],
                    item.outcome,
                    _short(reason.get("system")) if reason else None,
                    _short(reason.get("code")) if reason else None,
                    int(comment),
                    len(item.acceptedSuggestions or ()),
                    item.outcomeTimestamp.astimezone(dt.UTC).isoformat()
                    if item.outcomeTimestamp.tzinfo is not None
                    else item.outcomeTimestamp.isoformat(),
                    received,
                )
            )
        with self._lock, closing(self._connect()) as con, con:
            con.executemany(_INSERT, rows)
        return len(rows)

    def rows(self) -> list[dict[str, object]]:
        """Every stored outcome, oldest first (for audit and tests)."""
        with self._lock, closing(self._connect()) as con:
            con.row_factory = sqlite3.Row
            return [dict(r) for r in con.execute("SELECT * FROM feedback ORDER BY id")]
