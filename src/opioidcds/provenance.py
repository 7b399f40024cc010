"""Provenance of results: library version, every knowledge source used and a content hash.

Every result (OME, assessment, alerts, taper plan, acute check, population screening) carries a
:class:`~opioidcds.models.Provenance` (hazard HAZ-011, issue 9 item 8; CLINICAL.md section 7:
"the library and knowledge-base versions"). It is a pure function of the library version and
the knowledge objects used, computed once per knowledge bundle and cached, so results stay
fast and byte-identical across runs, processes and ``PYTHONHASHSEED`` values.

What each kind of knowledge hashes (``docs/safety/provenance.md``):

- ``conversion-table``, ``vocabulary`` (``ingredients``, ``forms``, ``plausibility``),
  ``taper``: the canonical JSON of the validated file model, as loaded (so a table built in
  code is covered as well as one read from a file);
- ``catalogue``: the canonical JSON of its id, version and every product, as loaded;
- ``ruleset``, ``profile``: the SHA-256 of the file's bytes, taken by the rules loader (the
  ``fingerprint`` a ruleset or profile carries);
- ``medicine-classes``: the bytes of the bundled ``catalogue/medicine_classes.toml``,
  ``brands.toml`` and ``review.toml`` (and, folded into ``medicine_classes``, the bundled
  ``conversion_tables/ingredients.toml``), which :func:`~opioidcds.products.classify_medicine`
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
import json
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, TypeAdapter

from opioidcds._version import __version__
from opioidcds.errors import KnowledgeBaseError
from opioidcds.knowledge_files import KnowledgeHeader
from opioidcds.knowledge_paths import knowledge_dir
from opioidcds.models import KnowledgeSource, Provenance
from opioidcds.products import Catalogue, Product, load_catalogue

if TYPE_CHECKING:
    from opioidcds.assess import Knowledge
    from opioidcds.models import Prescription
    from opioidcds.patient import IssueRecord
    from opioidcds.population.method import ScreeningMethod
    from opioidcds.rules import Profile, Ruleset
    from opioidcds.tables import ConversionTable
    from opioidcds.taper import TaperKnowledge
    from opioidcds.vocabulary import Vocabulary

__all__ = [
    "build",
    "bundled_catalogue_if",
    "canonical_json",
    "catalogue_source",
    "clear_cache",
    "combine",
    "file_source",
    "for_knowledge",
    "for_ome",
    "for_screening",
    "knowledge_provenance",
    "medicine_class_sources",
    "names_a_product",
    "profile_source",
    "ruleset_source",
    "screening_method_source",
    "table_source",
    "taper_source",
    "vocabulary_sources",
]

_PRODUCTS: TypeAdapter[tuple[Product, ...]] = TypeAdapter(tuple[Product, ...])
_CLASS_FILES = ("medicine_classes.toml", "brands.toml", "review.toml")


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


def _json_default(value: object) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"not canonical JSON: {type(value).__name__}")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _model_hash(model: BaseModel) -> str:
    return _sha256(canonical_json(model.model_dump(mode="json")))


def _header_source(kind: str, header: KnowledgeHeader) -> KnowledgeSource:
    return KnowledgeSource(
        kind=kind,
        id=header.id,
        version=header.version,
        effective_date=header.effective_date.isoformat(),
        sha256=_model_hash(header),
    )


# --- one source per knowledge object (each computed once) ---------------------------------------


@lru_cache(maxsize=64)
def table_source(table: ConversionTable) -> KnowledgeSource:
    """The source entry of a conversion table (hash of its validated file model)."""
    return _header_source("conversion-table", table.file)


@lru_cache(maxsize=64)
def vocabulary_sources(vocabulary: Vocabulary) -> tuple[KnowledgeSource, ...]:
    """One source entry per vocabulary file (ingredients, forms, plausibility)."""
    return tuple(_header_source("vocabulary", f) for f in vocabulary.files)


@lru_cache(maxsize=16)
def catalogue_source(catalogue: Catalogue) -> KnowledgeSource:
    """The source entry of a product catalogue (hash of its id, version and every product).

    ``effective_date`` is the catalogue's own (``catalogue.toml``), ``None`` when not stated.
    """
    content = {
        "id": catalogue.id,
        "version": catalogue.version,
        "products": _PRODUCTS.dump_python(catalogue.products, mode="json"),
    }
    return KnowledgeSource(
        kind="catalogue",
        id=catalogue.id,
        version=catalogue.version,
        effective_date=catalogue.effective_date,
        sha256=_sha256(canonical_json(content)),
    )


@lru_cache(maxsize=256)
def ruleset_source(ruleset: Ruleset) -> KnowledgeSource:
    """The source entry of a ruleset (the SHA-256 of its file's bytes, from the loader)."""
    return KnowledgeSource(
        kind="ruleset",
        id=ruleset.id,
        version=ruleset.version,
        effective_date=ruleset.effective_date.isoformat(),
        sha256=ruleset.fingerprint,
    )


@lru_cache(maxsize=64)
def profile_source(profile: Profile) -> KnowledgeSource:
    """The source entry of a local profile (the SHA-256 of its file's bytes, from the loader)."""
    return KnowledgeSource(
        kind="profile",
        id=profile.id,
        version=profile.version,
        effective_date=profile.effective_date.isoformat(),
        sha256=profile.fingerprint,
    )


@lru_cache(maxsize=16)
def taper_source(knowledge: TaperKnowledge) -> KnowledgeSource:
    """The source entry of taper knowledge (``taper.toml``: pace, dispensing, refusals)."""
    return _header_source("taper", knowledge)


def screening_method_source(method: ScreeningMethod) -> KnowledgeSource:
    """The source entry of a population screening method (not cached: it is cheap)."""
    return KnowledgeSource(
        kind="screening-method",
        id=method.id,
        version=method.version,
        effective_date=method.effective_date,
        sha256=_sha256(canonical_json(asdict(method))),
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
    """Source entries of the bundled files :func:`~opioidcds.products.classify_medicine` reads.

    ``medicine_classes.toml``, ``brands.toml`` and ``review.toml`` (bundled ``catalogue/``),
    each hashed over its bytes; the bundled ``conversion_tables/ingredients.toml``, which the
    classifier also reads, is folded into the ``medicine_classes.toml`` entry's hash.

    Raises:
        KnowledgeBaseError: a file is missing, unreadable or not valid TOML.
    """
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
    rulesets: tuple[Ruleset, ...],
    profile: Profile | None,
    taper: TaperKnowledge | None,
    medicine_classes: bool,
) -> Provenance:
    sources: list[KnowledgeSource] = []
    if table is not None:
        sources.append(table_source(table))
    if vocabulary is not None:
        sources.extend(vocabulary_sources(vocabulary))
    sources.extend(catalogue_source(c) for c in catalogues)
    sources.extend(ruleset_source(r) for r in rulesets)
    if profile is not None:
        sources.append(profile_source(profile))
    if taper is not None:
        sources.append(taper_source(taper))
    if medicine_classes:
        sources.extend(medicine_class_sources())
    return build(sources)


def knowledge_provenance(
    *,
    table: ConversionTable | None = None,
    vocabulary: Vocabulary | None = None,
    catalogues: Sequence[Catalogue | None] = (),
    rulesets: Sequence[Ruleset] = (),
    profile: Profile | None = None,
    taper: TaperKnowledge | None = None,
    medicine_classes: bool = False,
) -> Provenance:
    """The provenance of a result computed with exactly this knowledge (cached).

    ``catalogues`` may hold ``None`` entries (no catalogue) and repeats; both are dropped.
    """
    unique: list[Catalogue] = []
    for c in catalogues:
        if c is not None and all(c is not u for u in unique):
            unique.append(c)
    return _bundle(
        table=table,
        vocabulary=vocabulary,
        catalogues=tuple(unique),
        rulesets=tuple(rulesets),
        profile=profile,
        taper=taper,
        medicine_classes=medicine_classes,
    )


def names_a_product(records: Iterable[Prescription | IssueRecord]) -> bool:
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


@lru_cache(maxsize=256)
def for_knowledge(
    knowledge: Knowledge,
    profile: Profile | None,
    bundled_catalogue: bool,
) -> Provenance:
    """Provenance of an assessment or prescribing check made with ``knowledge``.

    Covers the bundle's table, vocabulary and required rulesets, the profile applied
    (``profile``, else the bundle's own), the bundle's catalogue if it has one, the bundled
    catalogue when ``bundled_catalogue`` (an input named a dm+d product), and the medicine
    class files used to class the patient's medicines.
    """
    from opioidcds.assess import REQUIRED_RULESETS  # noqa: PLC0415 - assess imports this module

    used = profile if profile is not None else knowledge.profile
    return knowledge_provenance(
        table=knowledge.table,
        vocabulary=knowledge.vocabulary,
        catalogues=(knowledge.catalogue, bundled_catalogue_if(bundled_catalogue)),
        rulesets=tuple(knowledge.rulesets[r] for r in REQUIRED_RULESETS),
        profile=used,
        medicine_classes=True,
    )


def for_screening(
    knowledge: Knowledge, profile: Profile | None, method: ScreeningMethod
) -> Provenance:
    """Provenance of a population screening.

    The assessment knowledge, the bundled catalogue (every issue's product is resolved against
    it), the ``worklist-priority`` ruleset and the screening method.
    """
    return combine(
        for_knowledge(knowledge, profile, True),
        build(
            [
                ruleset_source(knowledge.rulesets["worklist-priority"]),
                screening_method_source(method),
            ]
        ),
    )


def clear_cache() -> None:
    """Forget every cached provenance (for benchmarks and tests; results do not need it)."""
    for fn in (
        table_source,
        vocabulary_sources,
        catalogue_source,
        ruleset_source,
        profile_source,
        taper_source,
        medicine_class_sources,
        _bundle,
        for_ome,
        for_knowledge,
    ):
        fn.cache_clear()
