"""The knowledge a Spark job screened with, checked to be the driver's on every partition.

A Spark job's executors load the knowledge files of whatever installation of opioidcds they
have; the driver reports its own provenance. If the two differ (another wheel, an edited
knowledge folder), OME values, tiers and bands change while the provenance still names the
driver's knowledge (hazard HAZ-011: every result must name the knowledge that made it). So the
driver computes a **job knowledge hash**, every partition computes the same hash from the
knowledge *it* loaded and reports it, and the job fails with :class:`KnowledgeMismatchError`
on any difference.

The hash (SHA-256, hex) covers:

* the library version;
* the screening's provenance hash (``Provenance.knowledge_sha256``: every loaded table,
  vocabulary, catalogue, ruleset, the local profile and the screening method, as loaded; see
  ``docs/safety/provenance.md``);
* the bytes of every file in the bundled knowledge folders the installation reads
  (``conversion_tables``, ``rules``, ``catalogue``, ``codelists``, ``population_method``,
  ``instruments``, ``inputs``, found by :func:`~opioidcds._knowledge.paths.knowledge_dir`),
  by relative path, so a file read outside the provenance's sources is covered too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Final

from opioidcds._errors import OpioidCDSError
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds._version import __version__

if TYPE_CHECKING:
    from opioidcds._knowledge.provenance import Provenance

__all__ = [
    "KNOWLEDGE_FOLDERS",
    "KnowledgeMismatchError",
    "check_partition_hashes",
    "job_knowledge_hash",
    "knowledge_files_sha256",
]

# the folders the wheel packages under opioidcds/_knowledge (pyproject.toml, force-include)
KNOWLEDGE_FOLDERS: Final = (
    "conversion_tables",
    "rules",
    "catalogue",
    "codelists",
    "population_method",
    "instruments",
    "inputs",
)


class KnowledgeMismatchError(OpioidCDSError):
    """A Spark partition screened with knowledge other than the driver's: the job is refused.

    ``driver`` and ``executor`` are the two job knowledge hashes; ``partitions`` the number of
    partitions that reported a different hash.
    """

    def __init__(self, driver: str, executor: str, partitions: int) -> None:
        """Name both hashes and say what to do."""
        self.driver = driver
        self.executor = executor
        self.partitions = partitions
        super().__init__(
            f"the Spark executors screened with different knowledge from the driver's "
            f"(driver knowledge hash {driver}, executor knowledge hash {executor}, "
            f"{partitions} partition(s)): no result is returned. Install the same opioidcds "
            "wheel, with the same knowledge files, on the driver and every executor (on "
            "Databricks: the same wheel as a cluster library), and do not point executors at "
            "another copy of the knowledge."
        )


@cache
def knowledge_files_sha256() -> str:
    """SHA-256 (hex) of every file of the bundled knowledge folders, by relative path.

    Computed once per process (the folders are read-only data of the installation). A folder
    that is missing hashes as missing (never silently skipped: the hash then differs from an
    installation that has it).
    """
    digest = hashlib.sha256()
    for name in KNOWLEDGE_FOLDERS:
        try:
            root = knowledge_dir(name)
        except OpioidCDSError:
            digest.update(f"missing:{name}\0".encode())
            continue
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            if "__pycache__" in path.parts:
                continue
            rel = path.relative_to(root).as_posix()
            data = path.read_bytes()
            digest.update(f"{name}/{rel}\0{len(data)}\0".encode())
            digest.update(data)
    return digest.hexdigest()


def job_knowledge_hash(provenance: Provenance) -> str:
    """The job knowledge hash of this process for a screening with ``provenance`` (hex).

    ``provenance`` is the provenance of the screening this process made (the driver: of an
    empty screening with the job's knowledge, profile and method; a partition: of its own).
    """
    digest = hashlib.sha256()
    for part in (__version__, provenance.knowledge_sha256, knowledge_files_sha256()):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def check_partition_hashes(driver: str, reported: Mapping[int, str]) -> None:
    """Refuse a job any of whose partitions (index -> hash) used other knowledge than ``driver``.

    Raises:
        KnowledgeMismatchError: naming the driver's hash and the first other hash (by
            partition index), and how many partitions differ.
    """
    other = sorted((part, h) for part, h in reported.items() if h != driver)
    if other:
        raise KnowledgeMismatchError(driver, other[0][1], len(other))
