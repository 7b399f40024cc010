"""What people read instead of ids: display names and orders, from the rulesets' own labels.

The rulesets declare a label beside each enum value (``labels = { pcn-service = "PCN
service" }``) and list ordered categories lowest first; :func:`display_words` gathers what
the delivery layers need (CLI, report, handout) so every human output uses the same words in
the same order, and the JSON keeps the ids. Nothing here is clinical: the words and offers
are the rulesets'.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from opioidcds._decide.knowledge import Knowledge, _text, _texts

__all__ = ["BandWords", "DisplayWords", "TierWords", "display_words"]

_TIERS = "support-tier"
_LEVELS = "risk-level"
_BANDS = "worklist-priority"


@dataclass(frozen=True, slots=True)
class TierWords:
    """A support tier for people: its id, display name, offer and next steps (ruleset words)."""

    id: str
    label: str
    offer: str
    next_steps: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BandWords:
    """A worklist priority band: its id (``"1"``...), display name and who is in it."""

    id: str
    label: str
    meaning: str


@dataclass(frozen=True, slots=True)
class DisplayWords:
    """Display names and orders of the categories people read.

    ``tiers`` and ``levels`` are most intensive / most serious first (the reverse of the
    rulesets' declared order); ``bands`` are in priority order (band 1 first), without
    "not on the worklist".
    """

    tiers: tuple[TierWords, ...]
    levels: tuple[tuple[str, str], ...]
    bands: tuple[BandWords, ...]
    not_listed: str

    def tier(self, tier_id: str | None) -> str:
        """The display name of a tier ("" for none; the id itself if unknown)."""
        if not tier_id:
            return ""
        return next((t.label for t in self.tiers if t.id == tier_id), tier_id)

    def tier_words(self, tier_id: str | None) -> TierWords | None:
        """The offer and next steps of a tier (``None`` for none or an unknown tier)."""
        return next((t for t in self.tiers if t.id == tier_id), None)

    def level(self, level_id: str | None) -> str:
        """The display name of a risk level ("" for none; the id itself if unknown)."""
        if not level_id:
            return ""
        return next((label for v, label in self.levels if v == level_id), level_id)

    def band(self, band_id: str) -> str:
        """The display name of a band ("Band 1"; "Not on the worklist")."""
        found = next((b.label for b in self.bands if b.id == band_id), None)
        return found if found is not None else self.not_listed


@lru_cache(maxsize=8)
def display_words(knowledge: Knowledge) -> DisplayWords:
    """The words and orders of tiers, levels and bands in ``knowledge``'s rulesets.

    A profile changes thresholds and switches rules off; it does not change these words.
    """
    tier_rs = knowledge.rulesets[_TIERS]
    offers: dict[str, tuple[str, tuple[str, ...]]] = {}
    for rule in tier_rs.rules:
        out = dict(rule.outcome)
        offers.setdefault(
            _text(out.get("tier")), (_text(out.get("offer")), _texts(out.get("next_steps")))
        )
    tiers = tuple(
        TierWords(
            id=t,
            label=tier_rs.label("tier", t),
            offer=offers.get(t, ("", ()))[0],
            next_steps=offers.get(t, ("", ()))[1],
        )
        for t in tier_rs.values("tier")[::-1]
    )
    level_rs = knowledge.rulesets[_LEVELS]
    levels = tuple((v, level_rs.label("level", v)) for v in level_rs.values("level")[::-1])
    bands: list[BandWords] = []
    not_listed = "Not on the worklist"
    if _BANDS in knowledge.rulesets:
        band_rs = knowledge.rulesets[_BANDS]
        meaning: dict[str, str] = {}
        for rule in band_rs.rules:
            out = dict(rule.outcome)
            meaning.setdefault(_text(out.get("band")), _text(out.get("reason")))
        for value in band_rs.values("band"):
            if value.isdigit():
                bands.append(BandWords(value, band_rs.label("band", value), meaning.get(value, "")))
            else:
                not_listed = band_rs.label("band", value)
        bands.sort(key=lambda b: int(b.id))
    return DisplayWords(tiers=tiers, levels=levels, bands=tuple(bands), not_listed=not_listed)
