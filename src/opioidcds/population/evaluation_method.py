"""The service-evaluation and trend method (``population_method/evaluation.toml``), read once.

The baseline and follow-up windows, the effect size, the months of a trend, the look-back that
makes a long-term start "new", and the funnel plot's control limits live in that cited data
file, never in code. See ``docs/evaluation.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Final

from opioidcds._errors import KnowledgeBaseError
from opioidcds._knowledge.files import read_toml_of_kind
from opioidcds._knowledge.paths import knowledge_dir
from opioidcds._knowledge.provenance import KnowledgeSource, file_source
from opioidcds.population.outcomes import _int

__all__ = ["EvaluationMethod", "default_evaluation_method", "load_evaluation_method"]

_MAX_BYTES: Final = 100_000


@dataclass(frozen=True, slots=True)
class EvaluationMethod:
    """How a service is evaluated and practices compared (``population_method/evaluation.toml``).

    ``baseline_window_days``: a baseline questionnaire is at most this many days after the
    patient's index date (their first questionnaire). ``follow_up_min_days`` /
    ``follow_up_max_days``: the follow-up window after the index date (the latest
    questionnaire in it is used). ``months``: months of a trend by default.
    ``new_start_washout_days``: a long-term start is new when the extract shows no opioid
    issue this many days before the first one. ``per``: rates per this many registered
    patients. ``funnel_limits``: (lower, upper) probabilities of each pair of control limits,
    labelled ``funnel_labels``. ``source``: the file's provenance entry.
    """

    id: str
    version: str
    effective_date: str
    baseline_window_days: int
    follow_up_min_days: int
    follow_up_max_days: int
    effect_size: str
    months: int
    new_start_washout_days: int
    per: int
    funnel_limits: tuple[tuple[Decimal, Decimal], ...]
    funnel_labels: tuple[str, ...]
    funnel_method: str
    citations: Mapping[str, str]
    source: KnowledgeSource | None = None


def _limits(funnel: Mapping[str, object], name: str) -> tuple[tuple[Decimal, Decimal], ...]:
    raw = funnel.get("limits")
    if not isinstance(raw, list) or not raw:
        raise KnowledgeBaseError(f"{name}: funnel.limits must be a list of [lower, upper] pairs")
    out: list[tuple[Decimal, Decimal]] = []
    for pair in raw:
        if not isinstance(pair, list) or len(pair) != 2:
            raise KnowledgeBaseError(f"{name}: each funnel limit is a [lower, upper] pair")
        try:
            lo, hi = Decimal(str(pair[0])), Decimal(str(pair[1]))
        except (InvalidOperation, ValueError):
            raise KnowledgeBaseError(f"{name}: funnel.limits must be decimals as text") from None
        if not 0 < lo < Decimal("0.5") or lo + hi != 1:
            raise KnowledgeBaseError(f"{name}: each funnel limit pair is p, 1 - p with p < 0.5")
        out.append((lo, hi))
    return tuple(out)


def load_evaluation_method(path: str | Path) -> EvaluationMethod:
    """Load an evaluation-method file.

    Raises:
        KnowledgeBaseError: the file is missing, too large, malformed, incomplete or
            inconsistent (a follow-up window that starts inside the baseline window).
    """
    p = Path(path)
    data = read_toml_of_kind(p, "population-evaluation", _MAX_BYTES)
    try:
        citations = {str(k): str(v) for k, v in data["citations"].items()}
        windows, effect, trends, funnel = (
            data["windows"],
            data["effect_size"],
            data["trends"],
            data["funnel"],
        )
        labels = tuple(str(x) for x in funnel["labels"])
    except (KeyError, TypeError, AttributeError):
        raise KnowledgeBaseError(f"{p.name}: missing sections or keys") from None
    for section in (windows, effect, trends, funnel):
        for cite in section.get("citations", []):
            if cite not in citations:
                raise KnowledgeBaseError(f"{p.name}: unknown citation '{cite}'")
        if not section.get("citations"):
            raise KnowledgeBaseError(f"{p.name}: every section needs citations")
    if effect.get("definition") != "matched-pairs-rank-biserial":
        raise KnowledgeBaseError(
            f"{p.name}: effect_size.definition must be matched-pairs-rank-biserial"
        )
    if funnel.get("method") != "exact-binomial-interpolated":
        raise KnowledgeBaseError(f"{p.name}: funnel.method must be exact-binomial-interpolated")
    limits = _limits(funnel, p.name)
    if len(labels) != len(limits):
        raise KnowledgeBaseError(f"{p.name}: one funnel label per limit pair")
    method = EvaluationMethod(
        id=str(data.get("id", "")),
        version=str(data.get("version", "")),
        effective_date=str(data.get("effective_date", "")),
        baseline_window_days=_int(windows, "baseline_window_days", p.name),
        follow_up_min_days=_int(windows, "follow_up_min_days", p.name),
        follow_up_max_days=_int(windows, "follow_up_max_days", p.name),
        effect_size="matched-pairs-rank-biserial",
        months=_int(trends, "months", p.name),
        new_start_washout_days=_int(trends, "new_start_washout_days", p.name),
        per=_int(trends, "per", p.name),
        funnel_limits=limits,
        funnel_labels=labels,
        funnel_method="exact-binomial-interpolated",
        citations=citations,
        source=file_source("evaluation-method", p),
    )
    if not method.baseline_window_days < method.follow_up_min_days < method.follow_up_max_days:
        raise KnowledgeBaseError(
            f"{p.name}: windows must satisfy baseline_window_days < follow_up_min_days < "
            "follow_up_max_days"
        )
    return method


@cache
def default_evaluation_method() -> EvaluationMethod:
    """The bundled evaluation method (``population_method/evaluation.toml``), loaded once."""
    return load_evaluation_method(knowledge_dir("population_method") / "evaluation.toml")
