"""Funnel plots: practices' proportions against the pooled ICS rate, with control limits.

Spiegelhalter DJ. Funnel plots for comparing institutional performance. Stat Med
2005;24:1185-1202: each practice's proportion y/n against its size n, around the target (here
the pooled rate of the practices compared), with limits from the binomial distribution under
the target at the probabilities of ``population_method/evaluation.toml`` (95% and 99.8%). The
limits are exact with interpolation (see :func:`binomial_limit`). See ``docs/evaluation.md``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from opioidcds._errors import InvalidInputError
from opioidcds.population.evaluation_method import EvaluationMethod

__all__ = ["Funnel", "FunnelPoint", "binomial_limit", "funnel"]

_CURVE_POINTS: Final = 60


def binomial_limit(n: int, target: float, p: float) -> float:
    """The ``p`` control limit of a proportion out of ``n`` under Binomial(n, ``target``).

    r_p is the smallest count r with P(Y <= r) >= p; alpha = (P(Y <= r_p) - p) /
    (P(Y <= r_p) - P(Y <= r_p - 1)); the limit is (r_p - alpha)/n, kept within 0-1. With a
    target of 0 or 1 the limit is the target.

    Raises:
        InvalidInputError: ``n`` below 1, or ``target`` / ``p`` outside 0-1.
    """
    if n < 1:
        raise InvalidInputError("n", "must be at least 1")
    if not 0.0 <= target <= 1.0 or not 0.0 < p < 1.0:
        raise InvalidInputError("target", "target must be in 0-1 and p strictly inside it")
    if target in (0.0, 1.0):
        return target
    from scipy import stats  # noqa: PLC0415 - optional extra

    dist = stats.binom(n, target)
    r = float(dist.ppf(p))
    upper, lower = float(dist.cdf(r)), float(dist.cdf(r - 1))
    alpha = (upper - p) / (upper - lower)
    return min(1.0, max(0.0, (r - alpha) / n))


@dataclass(frozen=True, slots=True)
class FunnelPoint:
    """One practice on the funnel: ``count`` of ``size`` registered patients.

    ``rate`` is per ``per`` registered patients; ``limits``: (label, lower, upper) per level,
    per ``per``; ``position``: ``"within"``, or ``"above <label>"`` / ``"below <label>"`` for
    the widest limit it crosses.
    """

    practice: str
    count: int
    size: int
    rate: Decimal
    limits: tuple[tuple[str, float, float], ...]
    position: str


@dataclass(frozen=True, slots=True)
class Funnel:
    """A funnel plot: the target (pooled rate per ``per``), the points and the limit curves.

    ``curve``: (size, ((lower, upper) per level)) at sizes spanning the practices, for drawing.
    ``status`` is ``"cannot-evaluate"`` (``reason``) without a practice with a list size.
    """

    indicator: str
    label: str
    per: int
    target: Decimal | None
    points: tuple[FunnelPoint, ...]
    curve: tuple[tuple[int, tuple[tuple[float, float], ...]], ...]
    labels: tuple[str, ...]
    status: str
    reason: str


def _position(rate: float, limits: Sequence[tuple[str, float, float]]) -> str:
    crossed = "within"
    for label, low, high in limits:  # narrowest first: the last crossed is the widest
        if rate > high:
            crossed = f"above {label}"
        elif rate < low:
            crossed = f"below {label}"
    return crossed


def funnel(
    indicator: str,
    label: str,
    counts: Mapping[str, tuple[int, int]],
    method: EvaluationMethod,
) -> Funnel:
    """The funnel of ``counts`` (practice -> (count, list size)) around their pooled rate.

    Practices are compared with the pooled rate of all of them (sum of counts / sum of list
    sizes): the ICS rate when the extract is the ICS's practices.

    Raises:
        InvalidInputError: a count that is negative or above its list size.
    """
    per = method.per
    labels = method.funnel_labels
    usable = {k: v for k, v in counts.items() if v[1] > 0}
    for count, size in usable.values():
        if not 0 <= count <= size:
            raise InvalidInputError("counts", "a count must be from 0 to the list size")
    if not usable:
        return Funnel(
            indicator,
            label,
            per,
            None,
            (),
            (),
            labels,
            "cannot-evaluate",
            "no practice has a registered list size",
        )
    total = sum(c for c, _ in usable.values())
    size_all = sum(n for _, n in usable.values())
    target = total / size_all
    points = []
    for practice in sorted(usable):
        count, size = usable[practice]
        limits = tuple(
            (
                lab,
                binomial_limit(size, target, float(lo)) * per,
                binomial_limit(size, target, float(hi)) * per,
            )
            for lab, (lo, hi) in zip(labels, method.funnel_limits, strict=True)
        )
        rate = Decimal(count) * per / size
        points.append(
            FunnelPoint(practice, count, size, rate, limits, _position(float(rate), limits))
        )
    lo_n = max(1, min(n for _, n in usable.values()) // 2)
    hi_n = max(n for _, n in usable.values()) * 3 // 2 + 1
    step = math.exp((math.log(hi_n) - math.log(lo_n)) / _CURVE_POINTS)
    sizes = sorted({max(1, round(lo_n * step**k)) for k in range(_CURVE_POINTS + 1)})
    curve = tuple(
        (
            n,
            tuple(
                (
                    binomial_limit(n, target, float(lo)) * per,
                    binomial_limit(n, target, float(hi)) * per,
                )
                for lo, hi in method.funnel_limits
            ),
        )
        for n in sizes
    )
    return Funnel(
        indicator=indicator,
        label=label,
        per=per,
        target=Decimal(total) * per / size_all,
        points=tuple(points),
        curve=curve,
        labels=labels,
        status="evaluated",
        reason="",
    )
