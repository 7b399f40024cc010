"""The prescribing check's totals "before" and "after" are the sums they are defined as.

``_split`` (issue 20, round 6) sums the items' OME by prescription in one pass, and, when
nothing is replaced and the new prescription is the last one (or not counted), sums "after"
on from "before". Both must give what the definition gives (``check_prescription``'s
docstring): "after" the exact sum, in item order, of the items of every prescription not
replaced; "before" of every item but the new prescription's (all of them for a
re-authorisation that replaces nothing); each complete unless an item is not convertible.
Long decimals (a division that does not terminate, as the calculator's 150 digits keep them)
make the order of the additions visible in the current context.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import NamedTuple

from hypothesis import given
from hypothesis import strategies as st

from opioidcds import ItemStatus
from opioidcds._decide.alerts import _split


class Item(NamedTuple):
    """An item's figures (what the check reads)."""

    ingredient: str | None
    status: ItemStatus
    daily_amount: Decimal | None
    daily_amount_unit: str | None
    ome_mg_per_day: Decimal | None
    exact: bool


with localcontext() as ctx:
    ctx.prec = 150
    _SEVENTH = Decimal(1) / Decimal(7)  # 0.142857... to 150 digits

omes = st.one_of(
    st.none(),
    st.sampled_from([Decimal(0), Decimal("7.5"), Decimal("60.0"), Decimal(90), _SEVENTH * 40]),
)
items = st.builds(
    lambda status, ome: Item(
        "morphine",
        status,
        None,
        None,
        None if status is not ItemStatus.CONVERTED else ome,
        True,
    ),
    st.sampled_from(list(ItemStatus)),
    omes,
)
figures = st.lists(st.lists(items, max_size=3).map(tuple), max_size=6)


def _defined(
    figures: list[tuple[Item, ...]], new_pos: int | None, replaced: set[int], whole_before: bool
) -> tuple[object, ...]:
    after_items = [i for p, its in enumerate(figures) if p not in replaced for i in its]
    before_items = [i for p, its in enumerate(figures) if whole_before or p != new_pos for i in its]
    other_items = [i for p, its in enumerate(figures) if p != new_pos for i in its]

    def total(chosen: list[Item]) -> Decimal:
        # the check's own arithmetic, whatever the caller's context: 28 digits, half-even
        # (Python's default; review of issue 20 round 5)
        ctx = Context(prec=28, rounding=ROUND_HALF_EVEN)
        out = Decimal(0)
        for i in chosen:
            if i.ome_mg_per_day is not None:
                out = ctx.add(out, i.ome_mg_per_day)
        return out

    def complete(chosen: list[Item]) -> bool:
        return all(i.status is not ItemStatus.NOT_CONVERTIBLE for i in chosen)

    def opioid(chosen: list[Item]) -> bool:
        return any(i.status is not ItemStatus.NOT_OPIOID for i in chosen)

    new = figures[new_pos] if new_pos is not None else ()
    return (
        tuple(new),
        total(after_items),
        complete(after_items),
        total(before_items),
        complete(before_items),
        opioid(other_items),
        opioid(after_items),
    )


@given(figures, st.data(), st.booleans())
def test_the_totals_are_the_sums_defined(
    figs: list[tuple[Item, ...]], data: st.DataObject, whole_before: bool
) -> None:
    n = len(figs)
    positions = st.sampled_from([*range(n), None]) if n else st.none()
    # the commonest case (the new one last, nothing replaced) drawn often
    new_pos = data.draw(st.one_of(st.just(n - 1 if n else None), positions))
    replaced = data.draw(
        st.one_of(st.just(set()), st.sets(st.integers(0, max(n - 1, 0)), max_size=2))
    )
    replaced.discard(new_pos)  # as check_prescription does
    with localcontext() as caller:  # a caller's context of 3 digits must not reach the sums
        caller.prec = 3
        got = _split(figs, new_pos, replaced, whole_before=whole_before)
    want = _defined(figs, new_pos, replaced, whole_before)
    assert (tuple(got.new_items), *tuple(got)[1:]) == want
    # the same decimals as written (an exact sum keeps its exponent: 60.0 + 90 is 150.0)
    assert str(got.after_total) == str(want[1])
    assert str(got.before_total) == str(want[3])
