"""An on-disk cache of the bundled knowledge as loaded and checked (issue 20, cold start).

Loading the bundled knowledge (the rulesets parsed, validated and linted; the conversion table,
the vocabulary, the product catalogue and the medicine-class vocabulary read and checked) took
about 170 ms of a process's first prescribing check. The first process that loads it writes
what it loaded to one file of the user's cache folder; later processes read the file back.

What makes the file safe to trust:

- **Keyed by content.** The file is used only when its key equals the key of this install,
  computed in each process from: the SHA-256 of the bytes of every file of the bundled knowledge
  folders (``conversion_tables/``, ``rules/``, ``catalogue/``, ``inputs/``), their absolute
  paths, the SHA-256 of the library's own files whose objects are cached (the foundation
  modules, ``_knowledge/`` with ``units.pint``, ``_decide/rules/``), the library version, the
  Python version and pydantic's version. A changed knowledge file, a moved install, an edited module
  or another Python gives another key, so the file is not read and is built again.
- **Only the bundled knowledge.** Only the functions that load the *bundled* knowledge consult
  it (:func:`~opioidcds.default_knowledge`, the default table, vocabulary, catalogue and
  medicine classes); a table, catalogue, rules folder, local rules or profile a caller names is
  always read from its files.
- **Checked before it is unpickled.** Each entry's bytes carry their SHA-256 in the file's
  header and are unpickled only when it matches; an entry that is missing, damaged, of another
  type or fails to unpickle is ignored and built again from the files (and the file rewritten).
  The file and its folder must belong to the user running the process and not be writable by
  others (else the file is neither read nor written).
- **Written atomically** (a temporary file renamed over the old), so a reader never sees half a
  file; at most ``_KEPT_FILES`` files are kept (the oldest removed), one per install.

The cache changes nothing that results say: the objects read back are the objects the files
gave when the cache was written, and provenance is computed from them as before
(``tests/unit/test_knowledge_cache.py`` compares results and provenance with and without it).

Folder: ``$OPIOIDCDS_CACHE_DIR`` if set (set it empty to turn the cache off), else
``$XDG_CACHE_HOME/opioidcds``, else ``~/.cache/opioidcds``. Failing to read or write the
cache is never an error: the knowledge is then loaded from its files, as without a cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

from opioidcds._knowledge.paths import knowledge_dir
from opioidcds._version import __version__

__all__ = ["CACHE_ENV", "cache_dir", "cache_file", "cached", "forget", "knowledge_key"]

T = TypeVar("T")

CACHE_ENV: Final = "OPIOIDCDS_CACHE_DIR"
"""Environment variable naming the cache folder (empty: no cache)."""

_FORMAT: Final = 1  # the file layout below; a new layout gives a new key
_MAGIC: Final = b"opioidcds knowledge cache\n"
_BUNDLED: Final = ("conversion_tables", "rules", "catalogue", "inputs")
_KEPT_FILES: Final = 8  # cache files kept in the folder (one per install); not clinical
_PACKAGE: Final = Path(__file__).resolve().parents[1]  # opioidcds/
# the modules whose objects are kept, and the data files they read (units.pint: the tables'
# unit multipliers are derived from it when a table is loaded)
_CODE: Final = ("*.py", "_knowledge/*", "_decide/rules/*")

_lock = threading.Lock()
_state: dict[str, Any] = {}  # "key", "file" (path), "blob" (bytes), "entries" (header), once


def cache_dir() -> Path | None:
    """The cache folder, or ``None`` when the cache is turned off (``OPIOIDCDS_CACHE_DIR=``)."""
    named = os.environ.get(CACHE_ENV)
    if named is not None:
        return Path(named).expanduser() if named.strip() else None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "opioidcds"


def knowledge_key() -> str:
    """The key of this install's bundled knowledge and code (computed once per process).

    Raises:
        KnowledgeBaseError: a bundled knowledge folder is missing (a packaging defect).
    """
    with _lock:
        key = _state.get("key")
    if key is None:
        key = _compute_key()
        with _lock:
            _state["key"] = key
    return str(key)


def _compute_key() -> str:
    import pydantic  # noqa: PLC0415 - already imported by every caller; its version is keyed

    listing: list[object] = [_FORMAT, __version__, sys.version, pydantic.VERSION]
    for pattern in _CODE:
        listing.extend(
            (path.relative_to(_PACKAGE).as_posix(), _digest(path))
            for path in sorted(_PACKAGE.glob(pattern))
            if path.is_file() and path.suffix != ".pyc"
        )
    for name in _BUNDLED:
        folder = knowledge_dir(name)
        listing.append((name, str(folder)))
        listing.extend(
            (path.relative_to(folder).as_posix(), _digest(path))
            for path in sorted(folder.rglob("*"))
            if path.is_file()
        )
    text = json.dumps(listing, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cache_file() -> Path | None:
    """The cache file of this install (it may not exist yet), or ``None`` with no cache."""
    folder = cache_dir()
    if folder is None:
        return None
    return folder / f"knowledge-{knowledge_key()[:32]}.bin"


def cached(entry: str, kind: type[T], build: Callable[[], T]) -> T:
    """The bundled knowledge ``entry`` from the cache file, else ``build()`` (then kept).

    ``build`` must load bundled knowledge only, from the bundled folders the key covers. An
    entry read back that is not a ``kind`` is ignored and built again.

    Raises:
        whatever ``build`` raises (reading or writing the cache raises nothing).
    """
    found = _read_entry(entry)
    if isinstance(found, kind):
        return found
    value = build()
    _write_entry(entry, value)
    return value


def forget() -> None:
    """Forget the key and the file read in this process (for tests; the file stays)."""
    with _lock:
        _state.clear()


# --- reading ---------------------------------------------------------------------------------


def _read_entry(entry: str) -> object:
    """The unpickled entry, or ``None`` (no cache, no file, another key, damaged, missing)."""
    try:
        loaded = _loaded()
        if loaded is None:
            return None
        blob, entries = loaded
        where = entries.get(entry)
        if not (isinstance(where, list) and len(where) == 3):
            return None
        offset, length, sha = where
        data = blob[offset : offset + length]
        if len(data) != length or hashlib.sha256(data).hexdigest() != sha:
            return None
        return pickle.loads(data)  # noqa: S301 - our own file, checked: see the module docstring
    except Exception:
        return None


def _loaded() -> tuple[bytes, dict[str, Any]] | None:
    """The cache file's payload and header entries (read once per process), or ``None``."""
    with _lock:
        if "file" in _state:
            return _state["loaded"]  # type: ignore[no-any-return]
    path = cache_file()
    loaded = _read_file(path) if path is not None else None
    with _lock:
        _state["file"] = path
        _state["loaded"] = loaded
    return loaded


def _read_file(path: Path) -> tuple[bytes, dict[str, Any]] | None:
    """The payload and entries of the file at ``path`` if it is private and of this key."""
    try:
        if not (_private(path.parent) and _private(path)):
            return None
        raw = path.read_bytes()
    except OSError:
        return None
    end = raw.find(b"\n", len(_MAGIC))
    header: object = None
    if raw.startswith(_MAGIC) and end > 0:
        try:
            header = json.loads(raw[len(_MAGIC) : end])
        except ValueError:
            header = None
    if not isinstance(header, dict) or header.get("key") != knowledge_key():
        return None
    entries = header.get("entries")
    return (raw[end + 1 :], entries) if isinstance(entries, dict) else None


def _private(path: Path) -> bool:
    """Whether ``path`` belongs to this user and no one else may write to it (POSIX)."""
    if not hasattr(os, "getuid"):
        return True  # no owners to check (Windows): the user's own profile folder
    st = path.stat()
    return st.st_uid == os.getuid() and not st.st_mode & 0o022


# --- writing ---------------------------------------------------------------------------------


def _write_entry(entry: str, value: object) -> None:
    """Add ``entry`` to the cache file, keeping the entries there that are intact; never raises.

    An entry already in the file is kept only when its bytes still match the SHA-256 its header
    gave (never hashed again as they are: a damaged entry is dropped, not vouched for).
    """
    try:
        path = cache_file()
        if path is None:
            return
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        with _lock:
            loaded = _state.get("loaded")
        parts: dict[str, tuple[bytes, str]] = {}
        if loaded is not None:
            blob, entries = loaded
            for name, (offset, length, sha) in entries.items():
                kept = blob[offset : offset + length]
                if name != entry and hashlib.sha256(kept).hexdigest() == sha:
                    parts[name] = (kept, sha)
        parts[entry] = (data, hashlib.sha256(data).hexdigest())
        payload, header = _layout(parts)
        _write_atomically(path, header + payload)
        with _lock:
            _state["file"] = path
            _state["loaded"] = (payload, json.loads(header[len(_MAGIC) :])["entries"])
        _prune(path)
    except Exception:  # noqa: S110 - a cache that cannot be written is only slower
        pass


def _layout(parts: dict[str, tuple[bytes, str]]) -> tuple[bytes, bytes]:
    """The payload (the entries' bytes) and the header line naming each entry's place and hash."""
    entries: dict[str, list[object]] = {}
    offset = 0
    for name, (data, sha) in parts.items():
        entries[name] = [offset, len(data), sha]
        offset += len(data)
    header = {"format": _FORMAT, "key": knowledge_key(), "entries": entries}
    line = json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    return b"".join(data for data, _sha in parts.values()), _MAGIC + line + b"\n"


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not _private(path.parent):
        return
    temporary = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _prune(kept: Path) -> None:
    """Remove the oldest cache files beyond ``_KEPT_FILES`` (other installs' files too)."""
    files = sorted(kept.parent.glob("knowledge-*.bin"), key=lambda p: p.stat().st_mtime)
    for old in files[:-_KEPT_FILES]:
        if old != kept:
            old.unlink(missing_ok=True)
