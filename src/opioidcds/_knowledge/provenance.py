"""Provenance of results: library version, every knowledge source used and a content hash.

Every result (OME, assessment, alerts, taper plan, acute check, population screening) carries a
:class:`Provenance` (hazard HAZ-011, issue 9 item 8; ``docs/safety/provenance.md``: every result
names the library and knowledge-base versions it used). It is a pure function of the library version
and the knowledge objects used, computed once per knowledge bundle and cached, so results stay fast
and byte-identical across runs, processes and ``PYTHONHASHSEED`` values. This module describes the
knowledge it is given; the layers that decide (rules, assessment, tapering, screening) pass their
own knowledge in as sources, so it imports none of them.

What each kind of knowledge hashes (``docs/safety/provenance.md``):

- ``conversion-table``, ``vocabulary`` (``ingredients``, ``forms``, ``plausibility``),
  ``taper``: the canonical JSON of the validated file model, as loaded (so a table built in
  code is covered as well as one read from a file);
- ``catalogue``: the canonical JSON of its id, version and every product, as loaded;
- ``ruleset``, ``profile``: the SHA-256 of the file's bytes, taken by the rules loader (the
  ``fingerprint`` a ruleset or profile carries);
- ``medicine-classes``: the bytes of the bundled ``catalogue/medicine_classes.toml``,
  ``brands.toml`` and ``review.toml`` (and, folded into ``medicine_classes``, the bundled
  ``conversion_tables/ingredients.toml``), which :func:`~opioidcds.classify_medicine`
  reads to class a patient's medicines;
- ``screening-method``: the canonical JSON of the loaded method.

Canonical JSON: keys sorted, no white space, ASCII, UTF-8 bytes; dates as ISO strings, decimals
as strings. ``knowledge_sha256`` is the SHA-256 of the canonical JSON of the sorted list of
sources (kind, id, version, effective date, sha256). It does not cover the library version,
which is a field of its own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tomllib
from collections.abc import Iterable, Sequence
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Protocol

from opioidcds._base import ResultModel
from opioidcds._errors import KnowledgeBaseError
from opioidcds._knowledge.cache import cached
from opioidcds._knowledge.files import KnowledgeHeader, canonical_json, model_sha256
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds._knowledge.products import Catalogue, load_catalogue
from opioidcds._knowledge.tables import ConversionTable
from opioidcds._knowledge.vocabulary import Vocabulary
from opioidcds._version import __version__

__all__ = [
    "Fingerprinted",
    "HeadedModel",
    "KnowledgeSource",
    "NamesProduct",
    "Provenance",
    "build",
    "bundled_catalogue_if",
    "canonical_json",
    "catalogue_source",
    "clear_cache",
    "combine",
    "dose_units_source",
    "file_source",
    "fingerprint_source",
    "for_ome",
    "header_source",
    "knowledge_provenance",
    "medicine_class_sources",
    "names_a_product",
    "table_source",
    "vocabulary_sources",
]


class KnowledgeSource(ResultModel):
    """One piece of knowledge a result was computed with: a knowledge file or loaded object.

    ``kind`` says what it is (``"conversion-table"``, ``"vocabulary"``, ``"catalogue"``,
    ``"medicine-classes"``, ``"ruleset"``, ``"profile"``, ``"taper"``,
    ``"screening-method"``); ``id``, ``version`` and ``effective_date`` (ISO date, ``None``
    where the knowledge does not record one) are its own; ``sha256`` is the SHA-256 of its
    content as loaded (docs/safety/provenance.md says exactly what each kind hashes).
    """

    kind: str
    id: str
    version: str
    effective_date: str | None
    sha256: str


class Provenance(ResultModel):
    """Which library and which knowledge produced a result (hazard HAZ-011, issue 9 item 8).

    ``knowledge`` lists every knowledge source used, sorted by kind, id and version;
    ``knowledge_sha256`` is the SHA-256 of their canonical JSON, so any change of any
    knowledge value, including a local table, catalogue or profile, changes it. Nothing here
    depends on the time, the machine, paths or the process: the same library and knowledge
    give the same provenance everywhere. Built by :mod:`opioidcds.provenance`, cached per
    knowledge bundle.
    """

    library_version: str
    knowledge: tuple[KnowledgeSource, ...]
    knowledge_sha256: str

    def __hash__(self) -> int:
        """Hash by library version and knowledge hash (cheap: results memoise on it)."""
        return hash((self.library_version, self.knowledge_sha256))

    def sources(self, kind: str) -> tuple[KnowledgeSource, ...]:
        """The knowledge sources of one ``kind`` (e.g. every ``"ruleset"``), in order."""
        return tuple(s for s in self.knowledge if s.kind == kind)

    def sha256_of(self, kind: str) -> str | None:
        """The ``sha256`` of the one source of ``kind`` (``None``: none, or more than one).

        What tells two files of one id and version apart (a local copy of a bundled table
        that kept its id): ``OMEResult.table_name()`` names the table loaded with this hash.
        """
        found = self.sources(kind)
        return found[0].sha256 if len(found) == 1 else None


class _Named(Protocol):
    """Knowledge that names itself: an id, a version and the date it takes effect."""

    @property
    def id(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def effective_date(self) -> dt.date: ...


class Fingerprinted(_Named, Protocol):
    """Knowledge identified by the SHA-256 of its file's bytes (a ruleset or a profile)."""

    @property
    def fingerprint(self) -> str: ...


class NamesProduct(Protocol):
    """An input that may name a dm+d product (a prescription or an issue record)."""

    @property
    def dmd_code(self) -> str | None: ...

    @property
    def product_name(self) -> str | None: ...


_CLASS_FILES = ("medicine_classes.toml", "brands.toml", "review.toml")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class HeadedModel(_Named, Protocol):
    """A validated knowledge file model that names itself (every bundled file does)."""

    def model_dump(self, *, mode: str) -> dict[str, Any]: ...


def header_source(kind: str, header: KnowledgeHeader | HeadedModel) -> KnowledgeSource:
    """The source entry of a knowledge file model with a header (hash of the validated model).

    ``header`` is a :class:`KnowledgeHeader` model or any validated file model with ``id``,
    ``version`` and ``effective_date`` (the CDS Hooks codelists, card content and mappings).
    """
    return KnowledgeSource(
        kind=kind,
        id=header.id,
        version=header.version,
        effective_date=header.effective_date.isoformat(),
        sha256=model_sha256(header),
    )


# --- one source per knowledge object (each computed once) ---------------------------------------


@lru_cache(maxsize=64)
def table_source(table: ConversionTable) -> KnowledgeSource:
    """The source entry of a conversion table (hash of its validated file model)."""
    return header_source("conversion-table", table.file)


@lru_cache(maxsize=64)
def vocabulary_sources(vocabulary: Vocabulary) -> tuple[KnowledgeSource, ...]:
    """One source entry per vocabulary file (ingredients, forms, plausibility)."""
    return tuple(header_source("vocabulary", f) for f in vocabulary.files)


@lru_cache(maxsize=16)
def catalogue_source(catalogue: Catalogue) -> KnowledgeSource:
    """The source entry of a product catalogue (hash of its id, version and every product).

    ``effective_date`` is the catalogue's own (``catalogue.toml``), ``None`` when not stated.
    """
    return KnowledgeSource(
        kind="catalogue",
        id=catalogue.id,
        version=catalogue.version,
        effective_date=catalogue.effective_date,
        sha256=catalogue.content_sha256(),
    )


@lru_cache(maxsize=256)
def fingerprint_source(kind: str, item: Fingerprinted) -> KnowledgeSource:
    """The source entry of a ruleset or profile (``kind``): the SHA-256 of its file's bytes.

    The rules loader takes the ``fingerprint`` when it reads the file.
    """
    return KnowledgeSource(
        kind=kind,
        id=item.id,
        version=item.version,
        effective_date=item.effective_date.isoformat(),
        sha256=item.fingerprint,
    )


def file_source(kind: str, path: Path, *, also: Sequence[Path] = ()) -> KnowledgeSource:
    """The source entry of a TOML knowledge file hashed over its bytes (e.g. a codelist).

    ``id``, ``version`` and ``effective_date`` are read from the file's top-level keys (the
    file name and an empty version if absent). With ``also``, the hash covers those files too:
    SHA-256 of the canonical JSON of the list of each file's SHA-256, ``path`` first. For
    knowledge read straight from files (the CDS Hooks codelists, the medicine-class files);
    not cached: cache the result where it is used.

    Raises:
        KnowledgeBaseError: a file is missing, unreadable or not valid TOML.
    """
    raw = _read_bytes(path)
    try:
        header: dict[str, Any] = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise KnowledgeBaseError(f"{path.name}: not valid TOML") from exc
    digest = _sha256(raw)
    if also:
        digest = _sha256(canonical_json([digest, *(_sha256(_read_bytes(p)) for p in also)]))
    effective = header.get("effective_date")
    return KnowledgeSource(
        kind=kind,
        id=str(header.get("id", path.name)),
        version=str(header.get("version", "")),
        effective_date=None if effective is None else str(effective),
        sha256=digest,
    )


@cache
def medicine_class_sources() -> tuple[KnowledgeSource, ...]:
    """Source entries of the bundled files :func:`~opioidcds.classify_medicine` reads.

    ``medicine_classes.toml``, ``brands.toml`` and ``review.toml`` (bundled ``catalogue/``),
    each hashed over its bytes; the bundled ``conversion_tables/ingredients.toml``, which the
    classifier also reads, is folded into the ``medicine_classes.toml`` entry's hash.

    Read back from the on-disk knowledge cache when it holds this install's
    (``_knowledge/cache.py``).

    Raises:
        KnowledgeBaseError: a file is missing, unreadable or not valid TOML.
    """
    return cached("medicine-class-sources", tuple, _read_medicine_class_sources)


def _read_medicine_class_sources() -> tuple[KnowledgeSource, ...]:
    """:func:`medicine_class_sources` from the files (bytes hashed, headers read)."""
    folder = knowledge_dir("catalogue")
    ingredients = knowledge_dir("conversion_tables") / "ingredients.toml"
    return tuple(
        file_source(
            "medicine-classes",
            folder / name,
            also=(ingredients,) if name == "medicine_classes.toml" else (),
        )
        for name in _CLASS_FILES
    )


@cache
def dose_units_source() -> KnowledgeSource:
    """Source entry of the bundled ``conversion_tables/dose_units.toml`` (its bytes hashed).

    Reading a dosage text uses its count groups (tablets in a text of a capsule product are the
    same count of solid doses) and the FHIR reader its unit codes, so every result computed
    with a vocabulary names it beside the vocabulary's files. Read back from the on-disk
    knowledge cache when it holds this install's (``_knowledge/cache.py``).

    Raises:
        KnowledgeBaseError: the file is missing, unreadable or not valid TOML.
    """
    return cached("dose-units-source", KnowledgeSource, _read_dose_units_source)


def _read_dose_units_source() -> KnowledgeSource:
    """:func:`dose_units_source` from the file."""
    return file_source("dose-units", knowledge_dir("conversion_tables") / "dose_units.toml")


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KnowledgeBaseError(f"{path.name}: cannot be read") from exc


# --- assembling a provenance ---------------------------------------------------------------------


def build(sources: Iterable[KnowledgeSource]) -> Provenance:
    """A :class:`Provenance` over ``sources`` (duplicates dropped, sorted, hashed)."""
    unique = sorted(set(sources), key=lambda s: (s.kind, s.id, s.version, s.sha256))
    listed = [s.model_dump(mode="json") for s in unique]
    return Provenance(
        library_version=__version__,
        knowledge=tuple(unique),
        knowledge_sha256=_sha256(canonical_json(listed)),
    )


def combine(*provenances: Provenance) -> Provenance:
    """One provenance covering every source of ``provenances`` (e.g. a plan and its scope)."""
    return build(s for p in provenances for s in p.knowledge)


@lru_cache(maxsize=256)
def _bundle(
    *,
    table: ConversionTable | None,
    vocabulary: Vocabulary | None,
    catalogues: tuple[Catalogue, ...],
    sources: tuple[KnowledgeSource, ...],
    medicine_classes: bool,
) -> Provenance:
    listed: list[KnowledgeSource] = []
    if table is not None:
        listed.append(table_source(table))
    if vocabulary is not None:
        listed.extend(vocabulary_sources(vocabulary))
        listed.append(dose_units_source())  # the units a text or a FHIR dose is read with
    listed.extend(catalogue_source(c) for c in catalogues)
    listed.extend(sources)
    if medicine_classes:
        listed.extend(medicine_class_sources())
    return build(listed)


def knowledge_provenance(
    *,
    table: ConversionTable | None = None,
    vocabulary: Vocabulary | None = None,
    catalogues: Sequence[Catalogue | None] = (),
    sources: Sequence[KnowledgeSource] = (),
    medicine_classes: bool = False,
) -> Provenance:
    """The provenance of a result computed with exactly this knowledge (cached).

    ``catalogues`` may hold ``None`` entries (no catalogue) and repeats; both are dropped.
    ``sources`` are the entries of the other knowledge used (rulesets and profile from
    :func:`fingerprint_source`, taper knowledge from :func:`header_source`, ...): the layers
    that use such knowledge describe it here, so this module imports none of them.
    """
    unique: list[Catalogue] = []
    for c in catalogues:
        if c is not None and all(c is not u for u in unique):
            unique.append(c)
    return _bundle(
        table=table,
        vocabulary=vocabulary,
        catalogues=tuple(unique),
        sources=tuple(sources),
        medicine_classes=medicine_classes,
    )


def names_a_product(records: Iterable[NamesProduct]) -> bool:
    """Whether any prescription or issue record names a dm+d product (code or name).

    Such a record makes the library consult the bundled catalogue when no catalogue was
    passed (and, for a dm+d code, when classing the medicine), so the catalogue is then part
    of the knowledge used.
    """
    for r in records:  # noqa: SIM110 - a plain loop is about twice as fast as any(): hot path
        if r.dmd_code is not None or r.product_name is not None:
            return True
    return False


def bundled_catalogue_if(named: bool) -> Catalogue | None:
    """The bundled catalogue when ``named`` (an input named a product), else ``None``."""
    return load_catalogue() if named else None


@lru_cache(maxsize=256)
def for_ome(
    table: ConversionTable, vocabulary: Vocabulary, catalogue: Catalogue | None
) -> Provenance:
    """Provenance of an OME result: table, vocabulary and the catalogue consulted (if any)."""
    return knowledge_provenance(table=table, vocabulary=vocabulary, catalogues=(catalogue,))


def clear_cache() -> None:
    """Forget every cached provenance (for benchmarks and tests; results do not need it)."""
    for fn in (
        table_source,
        vocabulary_sources,
        catalogue_source,
        fingerprint_source,
        medicine_class_sources,
        dose_units_source,
        _bundle,
        for_ome,
    ):
        fn.cache_clear()
