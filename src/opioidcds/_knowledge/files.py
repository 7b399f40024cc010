"""Shared machinery for reading versioned, cited knowledge files (TOML) strictly.

Every knowledge file has an ``id``, a ``version``, an ``effective_date``, an ``owner`` and a
list of ``citations``; rows cite citation ids. Unknown keys, duplicate ids and dangling citation
references are :class:`~opioidcds.KnowledgeBaseError` at load time, naming the file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from opioidcds._errors import KnowledgeBaseError

__all__ = [
    "MAX_KNOWLEDGE_FILE_BYTES",
    "Citation",
    "KnowledgeHeader",
    "KnowledgeModel",
    "canonical_json",
    "check_citations",
    "model_sha256",
    "read_knowledge_file",
    "read_toml_of_kind",
]

MAX_KNOWLEDGE_FILE_BYTES = 2_000_000
"""Largest knowledge file accepted; a cap against accidental or hostile huge inputs."""

M = TypeVar("M", bound=BaseModel)


class KnowledgeModel(BaseModel):
    """Base of knowledge models: frozen, unknown keys rejected, floats refused where declared."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", hide_input_in_errors=True, defer_build=True
    )


class Citation(KnowledgeModel):
    """A source a knowledge row relies on."""

    id: str = Field(min_length=1)
    text: str = Field(min_length=1)


class KnowledgeHeader(KnowledgeModel):
    """The fields every knowledge file carries."""

    id: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9.-]*$")
    version: str = Field(min_length=1)
    effective_date: dt.date
    owner: str = Field(min_length=1)
    title: str | None = None
    jurisdiction: str | None = None
    notes: tuple[str, ...] = ()
    citations: tuple[Citation, ...] = Field(min_length=1)


def read_toml_of_kind(path: str | Path, kind: str, max_bytes: int) -> dict[str, Any]:
    """Read a TOML knowledge file whose ``kind`` must be ``kind`` (for hand-validated files).

    Raises:
        KnowledgeBaseError: the file is missing, larger than ``max_bytes``, malformed, or of
            another kind (the message names the file, not its content).
    """
    p = Path(path)
    try:
        if p.stat().st_size > max_bytes:
            raise KnowledgeBaseError(f"{p.name}: larger than {max_bytes} bytes")
        data: dict[str, Any] = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        raise KnowledgeBaseError(f"{p.name}: unreadable or malformed TOML") from None
    if data.get("kind") != kind:
        raise KnowledgeBaseError(f"{p.name}: 'kind' must be \"{kind}\"")
    return data


def read_knowledge_file(path: Path, model: type[M]) -> M:
    """Read a TOML knowledge file into ``model``, validating strictly.

    Raises:
        KnowledgeBaseError: unreadable, too large, malformed TOML, or schema violations. The
            message names the file and the failing keys.
    """
    try:
        size = path.stat().st_size
        if size > MAX_KNOWLEDGE_FILE_BYTES:
            raise KnowledgeBaseError(f"{path.name}: larger than {MAX_KNOWLEDGE_FILE_BYTES} bytes")
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise KnowledgeBaseError(f"{path.name}: cannot be read") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise KnowledgeBaseError(f"{path.name}: not valid TOML ({exc})") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        )
        raise KnowledgeBaseError(f"{path.name}: {problems}") from exc


def check_citations(file_name: str, header: KnowledgeHeader, used: dict[str, list[str]]) -> None:
    """Check citation ids are unique and every row's citations exist.

    ``used`` maps a row description (e.g. ``"factors[3]"``) to the citation ids it names.

    Raises:
        KnowledgeBaseError: a duplicate citation id, a row without citations, or a dangling one.
    """
    ids = [c.id for c in header.citations]
    if len(ids) != len(set(ids)):
        raise KnowledgeBaseError(f"{file_name}: duplicate citation id")
    known = set(ids)
    for row, cites in used.items():
        if not cites:
            raise KnowledgeBaseError(f"{file_name}: {row} has no citation")
        missing = [c for c in cites if c not in known]
        if missing:
            raise KnowledgeBaseError(f"{file_name}: {row} cites unknown id {missing[0]!r}")


def canonical_json(data: object) -> bytes:
    """``data`` as canonical JSON bytes: sorted keys, no white space, ASCII only.

    Dates become ISO strings; anything else that JSON cannot hold is refused (no ``str()``
    fallback that could hide an object's identity or a memory address).

    Raises:
        TypeError: ``data`` holds a value JSON cannot represent.
    """
    return json.dumps(
        data,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        allow_nan=False,
        default=_json_default,
    ).encode("ascii")


class _Dumpable(Protocol):
    """A validated model that dumps itself to JSON-ready data (any pydantic model)."""

    def model_dump(self, *, mode: str) -> dict[str, Any]: ...


def model_sha256(model: _Dumpable) -> str:
    """The SHA-256 (hex) of a validated model's canonical JSON (:func:`canonical_json`).

    The ``sha256`` provenance records for a knowledge file model (``header_source`` in
    ``_knowledge/provenance.py`` hashes the same bytes), and so what tells two files of one id
    and version apart.
    """
    return hashlib.sha256(canonical_json(model.model_dump(mode="json"))).hexdigest()


def _json_default(value: object) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"not canonical JSON: {type(value).__name__}")
