"""Parse UK dm+d product names into ingredients, strengths and a dose form.

The names come from the NHSBSA dictionary of medicines and devices (dm+d) as carried by the
OpenSAFELY opioid codelists. The shapes understood (each with examples in
``tests/products/test_parser.py``):

* generic VMP names: ``"Oxycodone 40mg modified-release tablets"``,
  ``"Morphine sulfate 10mg/5ml oral solution"``,
  ``"Fentanyl 25micrograms/hour transdermal patches"``,
  ``"Fentanyl 100micrograms/dose nasal spray"``;
* BNF compound names: ``"Co-codamol 30mg/500mg tablets"`` (codeine 30 mg + paracetamol 500 mg,
  the order of ``conversion_tables/ingredients.toml``);
* multi-ingredient generic names joined by ``" / "``:
  ``"Oxycodone 10mg / Naloxone 5mg modified-release tablets"``;
* AMP names led by a brand in ``catalogue/brands.toml``: ``"OxyContin 40mg modified-release
  tablets"``, ``"Zydol SR 100mg tablets"`` (the brand declares modified release),
  ``"Targinact 10mg/5mg modified-release tablets"``.

Anything else is *not understood*: :func:`NameParser.parse` returns a :class:`ParseFailure`
with the reason, never a guess. Strength-less brand names ("Nurofen Plus tablets"), percentages
("0.1% nasal spray"), patches whose rate lacks "/hour" and forms outside the vocabulary all fail
and are reviewed by hand in ``catalogue/review.toml``.

The parser is deterministic and has no state beyond its vocabularies.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

__all__ = [
    "FORM_PHRASES",
    "NameParser",
    "ParseFailure",
    "ParsedIngredient",
    "ParsedName",
    "StrengthBasis",
    "Vocabulary",
    "container_of",
    "format_strength",
]


class StrengthBasis(StrEnum):
    """What a product's ingredient amounts are measured per."""

    PER_UNIT = "per-unit"  # per tablet, capsule, suppository, lozenge, film, sachet, vial
    PER_VOLUME = "per-volume"  # per ``volume_ml`` millilitres (liquids)
    RATE = "rate"  # per hour (transdermal patches)
    PER_DOSE = "per-dose"  # per metered dose (sprays)


@dataclass(frozen=True, slots=True)
class ParsedIngredient:
    """One ingredient as labelled: canonical name, amount and mass unit (mg, g or microgram)."""

    name: str
    amount: Decimal
    unit: str


@dataclass(frozen=True, slots=True)
class ParsedName:
    """What a product name says, in the library's vocabulary."""

    ingredients: tuple[ParsedIngredient, ...]
    basis: StrengthBasis
    volume_ml: Decimal | None
    form: str
    modified_release: bool
    powder: bool = False  # powder for reconstitution: amount per ampoule/vial, no volume
    brand: str | None = None


@dataclass(frozen=True, slots=True)
class ParseFailure:
    """A name the parser does not fully understand, and why (no guess is made)."""

    reason: str


# dm+d form wording (after the strength; qualifiers removed) -> (form name, modified release).
# The form names are the `name` values of conversion_tables/forms.toml.
FORM_PHRASES: dict[str, tuple[str, bool]] = {
    "tablets": ("tablet", False),
    "caplets": ("tablet", False),
    "effervescent tablets": ("tablet", False),
    "dispersible tablets": ("tablet", False),
    "soluble tablets": ("tablet", False),
    "orodispersible tablets": ("tablet", False),
    "chewable tablets": ("tablet", False),
    "modified-release tablets": ("modified-release tablet", True),
    "capsules": ("capsule", False),
    "modified-release capsules": ("modified-release capsule", True),
    "modified-release granules sachets": ("modified-release granules", True),
    "effervescent powder sachets": ("effervescent powder", False),
    "oral solution": ("oral solution", False),
    "oral suspension": ("oral solution", False),
    "concentrated oral solution": ("oral solution", False),
    "concentrate oral solution": ("oral solution", False),
    "linctus": ("oral solution", False),
    "syrup": ("oral solution", False),
    "oral drops": ("oral solution", False),
    "transdermal patches": ("transdermal patch", False),
    "buccal tablets": ("buccal tablet", False),
    "buccal films": ("buccal film", False),
    "sublingual tablets": ("sublingual tablet", False),
    "lozenges": ("lozenge", False),
    "nasal spray": ("nasal spray", False),
    "suppositories": ("suppository", False),
    "solution for injection ampoules": ("injection", False),
    "solution for injection vials": ("injection", False),
    "solution for injection pre-filled syringes": ("injection", False),
    "solution for injection minijet pre-filled syringes": ("injection", False),
    "solution for infusion vials": ("injection", False),
    "solution for infusion pre-filled syringes": ("injection", False),
    "infusion bags": ("injection", False),
    "powder for solution for injection ampoules": ("injection", False),
    "powder for solution for injection vials": ("injection", False),
}
# "tablets"/"capsules"/"granules sachets" under a brand that declares modified release.
_MR_OF: dict[str, str] = {
    "tablet": "modified-release tablet",
    "capsule": "modified-release capsule",
}
_MR_ONLY_PHRASES: dict[str, str] = {"granules sachets": "modified-release granules"}

# Trailing words that qualify a presentation without changing form or strength.
_QUALIFIERS = (
    "sugar free",
    "paediatric",
    "unit dose vials",
    "with integral oromucosal applicator",
)

# Salt words stripped when a salt is not itself listed as a synonym (e.g. "cyclizine tartrate").
_SALTS = frozenset(
    {
        "sulfate",
        "sulphate",
        "hydrochloride",
        "tartrate",
        "bitartrate",
        "citrate",
        "phosphate",
        "hydrobromide",
        "pectinate",
        "napsilate",
        "succinate",
        "lactate",
        "trometamol",
    }
)

_NUM = r"\d+(?:\.\d+)?"
_MASS = r"(?:mg|g|micrograms?)"
_STRENGTH_RE = re.compile(
    rf"^(?P<masses>{_NUM}{_MASS}(?:/{_NUM}{_MASS})*)"
    rf"(?:/(?:(?P<vol>{_NUM})?ml|(?P<hour>hour)|(?P<dose>dose)))?$"
)
_BRACKET_RE = re.compile(r"^(.*\S)\s*\(([^()]+)\)$")
_MASS_RE = re.compile(rf"({_NUM})({_MASS})")

_LIQUID_FORMS = frozenset({"oral solution", "injection"})
_SPRAY_FORMS = frozenset({"nasal spray", "oromucosal spray"})


def _unit(word: str) -> str:
    return "microgram" if word.startswith("microgram") else word


def _dec(text: str) -> str:
    """Decimal text as written in a strength string: no exponent, no trailing zeros."""
    value = Decimal(text).normalize()
    return f"{value:f}"


def format_strength(parsed: ParsedName) -> str | None:
    """Return the strength in the calculator's syntax (``units.parse_strength``).

    ``"40 mg"``, ``"10 mg/5 mL"``, ``"25 microgram/hour"``, ``"50 microgram/dose"``,
    ``"30 mg/500 mg"``. Returns ``None`` when that syntax cannot express the product: a
    multi-ingredient liquid, a powder for reconstitution (no concentration), or a non-unit
    strength of more than one ingredient.
    """
    ings = parsed.ingredients
    masses = [f"{_dec(str(i.amount))} {i.unit}" for i in ings]
    if parsed.powder:
        return None
    if parsed.basis is StrengthBasis.PER_UNIT:
        return "/".join(masses)
    if len(ings) != 1:
        return None
    if parsed.basis is StrengthBasis.PER_VOLUME:
        vol = parsed.volume_ml
        return f"{masses[0]}/mL" if vol is None or vol == 1 else f"{masses[0]}/{_dec(str(vol))} mL"
    if parsed.basis is StrengthBasis.RATE:
        return f"{masses[0]}/hour"
    return f"{masses[0]}/dose"


_CONTAINER_RE = re.compile(r"\b(?:(?P<fill>\d+(?:\.\d+)?)ml )?(?P<noun>ampoules|vials)\b")
_EXPLICIT_VOLUME_RE = re.compile(r"/(\d+(?:\.\d+)?)ml\b")


def container_of(name: str, parsed: ParsedName) -> tuple[str | None, Decimal | None]:
    """The container one unit of a liquid or powder is counted in, and its volume if stated.

    ``("ampoule", 1)`` for "Morphine 10mg/1ml solution for injection ampoules" and for
    "Cyclimorph 10 solution for injection 1ml ampoules"; ``("ampoule", None)`` for a powder
    (its amount is per ampoule already); ``("vial", None)`` for "Oramorph 10mg/5ml oral solution
    unit dose vials"; ``(None, None)`` for tablets, syringes, bags and bottles.

    The volume of one ampoule or vial is the volume the dm+d name states for it: a fill volume
    before the container ("1ml ampoules"), or, for a solution for injection or infusion, the
    explicit denominator of its strength ("10mg/1ml", "100mg/50ml"). dm+d names injections that
    way: products of one concentration in ampoules of different sizes are different VMPs
    ("Morphine sulfate 10mg/1ml", "20mg/2ml", "50mg/5ml", "100mg/10ml solution for injection
    ampoules"), so the denominator is the ampoule's volume. An oral solution's "/5ml" is a
    spoonful, not a fill volume: a unit dose vial's volume is not taken from it.
    """
    lowered = name.lower()
    match = _CONTAINER_RE.search(lowered)
    if match is None or parsed.basis not in {StrengthBasis.PER_VOLUME, StrengthBasis.PER_UNIT}:
        return None, None
    noun = match.group("noun")[:-1]
    if parsed.basis is StrengthBasis.PER_UNIT:
        return (noun, None) if parsed.powder or parsed.form == "injection" else (None, None)
    if match.group("fill") is not None:
        return noun, Decimal(match.group("fill"))
    explicit = _EXPLICIT_VOLUME_RE.search(lowered)
    if parsed.form == "injection" and explicit is not None:
        return noun, Decimal(explicit.group(1))
    return noun, None


def _read_toml(path: Path) -> dict[str, Any]:
    with path.open("rb") as fh:
        return tomllib.load(fh)


@dataclass(frozen=True, slots=True)
class Brand:
    """A brand-name prefix of AMP names (``catalogue/brands.toml``)."""

    name: str
    ingredients: tuple[str, ...]
    modified_release: bool


@dataclass(frozen=True)
class Vocabulary:
    """The words the parser knows: ingredients, compound names, brands and forms.

    Built from ``conversion_tables/ingredients.toml``, ``conversion_tables/forms.toml`` and
    ``catalogue/brands.toml``.
    """

    ingredients: dict[str, str]  # lower-case name or synonym -> canonical ingredient name
    opioids: frozenset[str]
    combinations: dict[str, tuple[str, ...]]  # lower-case compound name -> ingredients
    brands: tuple[Brand, ...]  # longest name first
    form_routes: dict[str, str]  # form name -> route

    @classmethod
    def load(cls, conversion_tables: Path, catalogue: Path) -> Vocabulary:
        """Read the vocabulary files from their folders."""
        ing = _read_toml(conversion_tables / "ingredients.toml")
        forms = _read_toml(conversion_tables / "forms.toml")
        brands = _read_toml(catalogue / "brands.toml")
        names: dict[str, str] = {}
        opioids: set[str] = set()
        for entry in ing["ingredients"]:
            canonical = str(entry["name"])
            names[canonical.lower()] = canonical
            for syn in entry.get("synonyms", []):
                names[str(syn).lower()] = canonical
            if entry.get("opioid"):
                opioids.add(canonical)
        combos = {
            str(c["name"]).lower(): tuple(str(i) for i in c["ingredients"])
            for c in ing.get("combinations", [])
        }
        brand_rows = tuple(
            sorted(
                (
                    Brand(
                        str(b["name"]),
                        tuple(str(i) for i in b["ingredients"]),
                        bool(b.get("modified_release", False)),
                    )
                    for b in brands["brands"]
                ),
                key=lambda b: (-len(b.name), b.name),
            )
        )
        routes = {str(f["name"]): str(f["route"]) for f in forms["forms"]}
        return cls(names, frozenset(opioids), combos, brand_rows, routes)

    def ingredient(self, text: str) -> str | None:
        """Resolve an ingredient as written (``"Morphine sulfate"``) to its canonical name."""
        key = " ".join(text.lower().split())
        if key in self.ingredients:
            return self.ingredients[key]
        words = key.split()
        if len(words) > 1 and words[-1] in _SALTS:
            return self.ingredients.get(" ".join(words[:-1]))
        return None


class NameParser:
    """Parse dm+d product names with a fixed :class:`Vocabulary`."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        """Bind the parser to its vocabulary."""
        self.vocab = vocabulary

    def parse(self, name: str) -> ParsedName | ParseFailure:
        """Parse one product name; a :class:`ParseFailure` says what was not understood."""
        text = " ".join(name.split())
        text = text.removeprefix("Generic ")
        bracketed = _BRACKET_RE.match(text)
        if bracketed is not None:  # "... tablets (OxyContin)" or "... (Sandoz Ltd)"
            result = self.parse(bracketed.group(1))
            brand_in_brackets = self._brand(bracketed.group(2))
            if isinstance(result, ParseFailure) or brand_in_brackets is None:
                return result
            if tuple(i.name for i in result.ingredients) != brand_in_brackets.ingredients:
                return ParseFailure("the bracketed brand does not contain these ingredients")
            return replace(result, brand=result.brand or brand_in_brackets.name)
        brand = self._brand(text)
        if brand is not None:
            rest = text[len(brand.name) :].strip()
            return self._branded(brand, rest)
        segments = text.split(" / ")
        return self._generic(segments)

    # -- brands ---------------------------------------------------------------------------
    def _brand(self, text: str) -> Brand | None:
        for brand in self.vocab.brands:
            if text.strip() == brand.name or text.startswith(brand.name + " "):
                return brand
        return None

    def _branded(self, brand: Brand, rest: str) -> ParsedName | ParseFailure:
        strength, _, phrase = rest.partition(" ")
        parsed = _parse_strength_token(strength)
        if isinstance(parsed, ParseFailure):
            return parsed
        masses, basis, volume = parsed
        if len(masses) != len(brand.ingredients):
            return ParseFailure("the number of strengths differs from the brand's ingredients")
        ings = tuple(
            ParsedIngredient(n, a, u) for n, (a, u) in zip(brand.ingredients, masses, strict=True)
        )
        return self._finish(
            ingredients=ings,
            basis=basis,
            volume=volume,
            phrase=phrase,
            brand_mr=brand.modified_release,
            brand=brand.name,
        )

    # -- generic names --------------------------------------------------------------------
    def _generic(self, segments: list[str]) -> ParsedName | ParseFailure:  # noqa: PLR0911
        ingredients: list[ParsedIngredient] = []
        bases: set[tuple[StrengthBasis, Decimal | None]] = set()
        phrase = ""
        for index, segment in enumerate(segments):
            words = segment.split(" ")
            pos = next((i for i, w in enumerate(words) if w[:1].isdigit()), None)
            if pos is None or pos == 0:
                return ParseFailure("no strength after an ingredient name")
            lead = " ".join(words[:pos])
            parsed = _parse_strength_token(words[pos])
            if isinstance(parsed, ParseFailure):
                return parsed
            masses, basis, volume = parsed
            tail = " ".join(words[pos + 1 :])
            if index < len(segments) - 1 and tail:
                return ParseFailure("words between an ingredient's strength and the next one")
            phrase = tail
            combo = self.vocab.combinations.get(lead.lower())
            if combo is not None:
                names: tuple[str, ...] = combo
            else:
                single = self.vocab.ingredient(lead)
                if single is None:
                    return ParseFailure("the ingredient is not in the ingredient vocabulary")
                names = (single,)
            if len(names) != len(masses):
                return ParseFailure("the number of strengths differs from the ingredients")
            ingredients += [
                ParsedIngredient(n, a, u) for n, (a, u) in zip(names, masses, strict=True)
            ]
            bases.add((basis, volume))
        if len(bases) != 1:
            return ParseFailure("the ingredients' strengths have different denominators")
        ((basis, volume),) = bases
        return self._finish(
            ingredients=tuple(ingredients),
            basis=basis,
            volume=volume,
            phrase=phrase,
            brand_mr=False,
            brand=None,
        )

    # -- form ------------------------------------------------------------------------------
    def _finish(  # noqa: PLR0911 - one early return per rule broken
        self,
        *,
        ingredients: tuple[ParsedIngredient, ...],
        basis: StrengthBasis,
        volume: Decimal | None,
        phrase: str,
        brand_mr: bool,
        brand: str | None,
    ) -> ParsedName | ParseFailure:
        names = [i.name for i in ingredients]
        if len(set(names)) != len(names):
            return ParseFailure("an ingredient is listed twice")
        if not any(n in self.vocab.opioids for n in names):
            return ParseFailure("no opioid ingredient")
        key = _strip_qualifiers(phrase.lower())
        if key in FORM_PHRASES:
            form, mr = FORM_PHRASES[key]
            if brand_mr and form in _MR_OF:
                form, mr = _MR_OF[form], True
        elif brand_mr and key in _MR_ONLY_PHRASES:
            form, mr = _MR_ONLY_PHRASES[key], True
        else:
            return ParseFailure("the dose form wording is not in the form vocabulary")
        if form not in self.vocab.form_routes:  # pragma: no cover - guards FORM_PHRASES
            return ParseFailure("the form is not in conversion_tables/forms.toml")
        powder = key.startswith("powder for")
        expected = _expected_basis(form)
        if powder:
            if basis is not StrengthBasis.PER_UNIT:
                return ParseFailure("a powder's strength should be per ampoule or vial")
        elif basis is not expected:
            return ParseFailure("the strength's denominator does not fit the dose form")
        return ParsedName(ingredients, basis, volume, form, mr, powder, brand)


def _expected_basis(form: str) -> StrengthBasis:
    if form in _LIQUID_FORMS:
        return StrengthBasis.PER_VOLUME
    if form == "transdermal patch":
        return StrengthBasis.RATE
    if form in _SPRAY_FORMS:
        return StrengthBasis.PER_DOSE
    return StrengthBasis.PER_UNIT


def _strip_qualifiers(phrase: str) -> str:
    changed = True
    while changed:
        changed = False
        for q in _QUALIFIERS:
            if phrase.endswith(" " + q):
                phrase = phrase[: -len(q) - 1]
                changed = True
    return phrase


def _parse_strength_token(  # noqa: PLR0911 - one return per strength shape
    token: str,
) -> tuple[list[tuple[Decimal, str]], StrengthBasis, Decimal | None] | ParseFailure:
    match = _STRENGTH_RE.match(token)
    if match is None:
        return ParseFailure("the strength is not in a recognised form")
    masses = [(Decimal(n), _unit(u)) for n, u in _MASS_RE.findall(match.group("masses"))]
    if any(a <= 0 for a, _ in masses):
        return ParseFailure("a strength is zero")
    if match.group("hour"):
        return masses, StrengthBasis.RATE, None
    if match.group("dose"):
        return masses, StrengthBasis.PER_DOSE, None
    if token.endswith("ml"):
        vol = Decimal(match.group("vol") or "1")
        if vol <= 0:
            return ParseFailure("a volume is zero")
        return masses, StrengthBasis.PER_VOLUME, vol
    return masses, StrengthBasis.PER_UNIT, None
