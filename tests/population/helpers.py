"""Helpers for population tests: small extracts written by hand."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from opioidcds import load_catalogue

AS_OF = dt.date(2026, 11, 1)

ISSUE_HEAD = (
    "patient_id",
    "issue_date",
    "dmd_code",
    "product_name",
    "quantity",
    "dosage_text",
    "days_supply",
)


def code(name: str) -> str:
    """dm+d code of a catalogue product, by name."""
    return load_catalogue().by_name(name).dmd_code


def day(offset: int) -> str:
    """ISO date ``offset`` days before AS_OF."""
    return (AS_OF - dt.timedelta(days=offset)).isoformat()


def issues(rows: Sequence[Sequence[str | None]]) -> pl.DataFrame:
    """An issue extract (text columns) from tuples in ISSUE_HEAD order."""
    cols = {h: [r[i] for r in rows] for i, h in enumerate(ISSUE_HEAD)}
    return pl.DataFrame(cols, schema=dict.fromkeys(ISSUE_HEAD, pl.String))


def patients(rows: Sequence[dict[str, str]]) -> pl.DataFrame:
    """A patient table (text columns) from dicts."""
    keys: list[str] = []
    for r in rows:
        keys.extend(k for k in r if k not in keys)
    return pl.DataFrame(
        {k: [r.get(k) for r in rows] for k in keys}, schema=dict.fromkeys(keys, pl.String)
    )
