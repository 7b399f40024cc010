"""Codelists (SNOMED CT -> risk inputs) and card content (guidance links, override reasons).

Both are data in the repository's ``codelists/`` folder (bundled in the wheel), loaded and
validated once into immutable objects. Unknown keys, dangling citation ids and duplicate codes
are :class:`~opioidcds.KnowledgeBaseError` at load time.

A codelist maps exact codes (no SNOMED CT hierarchy expansion) to a value of one
:class:`~opioidcds.Patient` input: ``means = "present"`` sets it true, ``means =
"absent"`` sets it false (the record says the input was checked). A code not in any list says
nothing: the input stays unknown.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from functools import cache
from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from opioidcds._errors import KnowledgeBaseError
from opioidcds._knowledge.files import MAX_KNOWLEDGE_FILE_BYTES
from opioidcds._knowledge.paths import knowledge_dir

__all__ = [
    "RISK_INPUTS",
    "CardContent",
    "CodeEntry",
    "Codelist",
    "Codelists",
    "GuidanceLink",
    "ReviewCard",
    "Terms",
    "default_card_content",
    "default_codelists",
    "load_card_content",
    "load_codelists",
]

RiskInput = Literal[
    "depression",
    "other_psychological_disease",
    "history_substance_or_alcohol_misuse",
    "family_history_dependence",
    "unemployed",
    "preadolescent_sexual_abuse_history",
    "cancer_pain",
    "palliative_care",
    "opioid_substitution_therapy",
]

RISK_INPUTS: tuple[str, ...] = get_args(RiskInput)
"""The Patient fields a codelist may set (A&E attendance comes from Encounters instead)."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


class CodeEntry(_Model):
    """One code of a codelist and what it says about the input."""

    code: str = Field(pattern=r"^[0-9]{6,18}$")
    display: str = Field(min_length=1, max_length=300)
    means: Literal["present", "absent"]


class Codelist(_Model):
    """The codes that set one risk input.

    ``statuses``: ``"current"`` counts a Condition only while its clinicalStatus is active,
    recurrence or relapse (or not given); ``"any"`` also counts inactive/resolved ones (a
    history of something stays a history). ``review`` states who has (or has not) reviewed the
    list clinically.
    """

    input: RiskInput
    statuses: Literal["current", "any"]
    completeness: str = Field(min_length=1, max_length=1000)
    review: str = Field(min_length=1, max_length=1000)
    citations: tuple[str, ...] = Field(min_length=1)
    codes: tuple[CodeEntry, ...] = ()


class Codelists(_Model):
    """A validated codelist file: header, citations, and one list per risk input."""

    kind: Literal["codelists"]
    id: str = Field(min_length=1)
    version: str = Field(min_length=1)
    effective_date: dt.date
    owner: str = Field(min_length=1)
    reviewer: str = Field(min_length=1)
    code_system: str = Field(min_length=1)
    citations: dict[str, str]
    lists: dict[str, Codelist]
    _by_code: dict[str, tuple[Codelist, CodeEntry]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> Codelists:
        seen: dict[str, str] = {}
        for name, lst in self.lists.items():
            for cid in lst.citations:
                if cid not in self.citations:
                    raise ValueError(f"list '{name}' cites unknown citation '{cid}'")
            for entry in lst.codes:
                if entry.code in seen:
                    raise ValueError(
                        f"code {entry.code} is in lists '{seen[entry.code]}' and '{name}'"
                    )
                seen[entry.code] = name
        inputs = [lst.input for lst in self.lists.values()]
        if len(set(inputs)) != len(inputs):
            raise ValueError("two lists set the same input")
        self._by_code = {e.code: (lst, e) for lst in self.lists.values() for e in lst.codes}
        return self

    def lookup(self, code: str) -> tuple[Codelist, CodeEntry] | None:
        """The list and entry of ``code`` (None: not in any list)."""
        found: dict[str, tuple[Codelist, CodeEntry]] = self.__pydantic_private__["_by_code"]  # type: ignore[index]
        return found.get(code)

    def all_codes(self) -> tuple[str, ...]:
        """Every code of every list, sorted (for prefetch queries)."""
        return tuple(sorted(e.code for lst in self.lists.values() for e in lst.codes))


class GuidanceLink(_Model):
    """A label, and a URL where the guidance is public."""

    label: str = Field(min_length=1, max_length=200)
    url: str | None = Field(default=None, pattern=r"^https://")
    citation: str | None = None


class _OverrideCode(_Model):
    display: str = Field(min_length=1, max_length=200)


class _OverrideReasons(_Model):
    system: str = Field(min_length=1)
    codes: dict[str, _OverrideCode] = Field(min_length=1)


class Terms(_Model):
    """How cards name the daily morphine equivalent under a table's jurisdiction."""

    short: str = Field(min_length=1, max_length=20)
    long: str = Field(min_length=1, max_length=100)
    citation: str = Field(min_length=1, max_length=500)


Indicator = Literal["info", "warning", "critical"]


class ReviewCard(_Model):
    """The patient-view opioid review card: its source and the indicator per support tier."""

    source: str = Field(min_length=1, max_length=200)
    tier_labels: dict[str, str] = Field(min_length=1)
    level_labels: dict[str, str] = Field(min_length=1)
    indicator_by_tier: dict[str, Indicator] = Field(min_length=1)
    default_indicator: Indicator
    citation: str = Field(min_length=1, max_length=500)


class CardContent(_Model):
    """What the service puts around alerts on cards.

    Links for card sources, patient resources, the override reasons offered, the terms of each
    jurisdiction and the patient-view review card.
    """

    kind: Literal["card-content"]
    id: str
    version: str
    effective_date: dt.date
    owner: str
    links: dict[str, GuidanceLink]
    patient_resources: dict[str, GuidanceLink]
    override_reasons: _OverrideReasons
    terms: dict[str, Terms] = Field(min_length=1)
    review: ReviewCard

    def terms_for(self, jurisdiction: str | None) -> Terms:
        """The terms of ``jurisdiction`` (a table's), else those of ``UK``."""
        return self.terms.get(jurisdiction or "UK") or self.terms["UK"]

    @model_validator(mode="after")
    def _uk_terms(self) -> CardContent:
        if "UK" not in self.terms:
            raise ValueError("terms.UK is required (the default wording)")
        return self


def _read(path: Path) -> dict[str, object]:
    try:
        if path.stat().st_size > MAX_KNOWLEDGE_FILE_BYTES:
            raise KnowledgeBaseError(f"{path.name}: file too large")
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise KnowledgeBaseError(f"{path.name}: cannot read ({type(exc).__name__})") from None


def _problem(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    return f"{loc}: {err['msg']}" if loc else str(err["msg"])


def load_codelists(path: str | Path | None = None) -> Codelists:
    """Load a codelist file (default: the bundled ``codelists/risk-inputs.toml``).

    Raises:
        KnowledgeBaseError: the file is missing, not TOML, or breaks the schema.
    """
    file = Path(path) if path is not None else knowledge_dir("codelists") / "risk-inputs.toml"
    try:
        return Codelists.model_validate(_read(file))
    except ValidationError as exc:
        raise KnowledgeBaseError(f"{file.name}: {_problem(exc)}") from None


def load_card_content(path: str | Path | None = None) -> CardContent:
    """Load the card content file (default: the bundled ``codelists/cards.toml``).

    Raises:
        KnowledgeBaseError: the file is missing, not TOML, or breaks the schema.
    """
    file = Path(path) if path is not None else knowledge_dir("codelists") / "cards.toml"
    try:
        return CardContent.model_validate(_read(file))
    except ValidationError as exc:
        raise KnowledgeBaseError(f"{file.name}: {_problem(exc)}") from None


@cache
def default_codelists() -> Codelists:
    """The bundled codelists, loaded once."""
    return load_codelists()


@cache
def default_card_content() -> CardContent:
    """The bundled card content, loaded once."""
    return load_card_content()
