"""A bounded memo that keeps a result from the second time its arguments are seen (issue 20).

On a stream of different inputs (a different patient on every call) most arguments are seen
once. Keeping every result, as :func:`functools.lru_cache` does, then only fills the memo,
evicts what it held (freeing a whole result each call) and gives the garbage collector more to
scan: about a third of the cost of measuring a prescription the process has not seen. A
:class:`RepeatMemo` remembers the first sight of some arguments by their hash only (a bounded
set of integers: no content is kept), computes again on the second sight and keeps that
result, and returns it from then on. A caller that repeats itself (a prescribing plugin
re-sending the same patient) is answered from the memo from its third call.

Foundation layer: imports nothing of opioidcds.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from functools import update_wrapper
from typing import Any, Generic, NamedTuple, TypeVar

__all__ = ["CacheInfo", "RepeatMemo", "memo_on_repeat"]

R = TypeVar("R")


class CacheInfo(NamedTuple):
    """Hits, misses, bound and size, as :func:`functools.lru_cache` reports them."""

    hits: int
    misses: int
    maxsize: int
    currsize: int


class RepeatMemo(Generic[R]):
    """``fn`` memoised on its positional arguments, from their second sight (bounded).

    Keyed by the arguments' content (equal arguments, equal hashes); at most ``maxsize``
    results, the oldest kept dropped first; as many first sights remembered, by hash. An
    exception is not kept. Safe to call from several threads: each dictionary operation is
    atomic, and two threads computing the same result at once keep equal results.
    """

    def __init__(self, fn: Callable[..., R], maxsize: int) -> None:
        self.__wrapped__ = fn
        self._maxsize = maxsize
        # by the arguments' hash; ordered, so that the oldest is dropped in constant time
        self._results: OrderedDict[int, tuple[tuple[Hashable, ...], R]] = OrderedDict()
        self._seen: OrderedDict[int, None] = OrderedDict()
        self._hits = 0
        self._misses = 0
        update_wrapper(self, fn)

    def __call__(self, *args: Hashable) -> R:
        """``fn(*args)``, from the memo when kept (the arguments are hashed once)."""
        key = hash(args)
        kept = self._results.get(key)
        if kept is not None and kept[0] == args:
            self._hits += 1
            return kept[1]
        self._misses += 1
        result = self.__wrapped__(*args)
        seen = self._seen
        if key in seen:  # the second sight: keep it
            results = self._results
            results[key] = (args, result)  # another arguments' of the same hash: replaced
            if len(results) > self._maxsize:
                _drop_oldest(results)
        else:
            seen[key] = None
            if len(seen) > self._maxsize:
                _drop_oldest(seen)
        return result

    def cache_clear(self) -> None:
        """Forget every result and every first sight."""
        self._results.clear()
        self._seen.clear()
        self._hits = self._misses = 0

    def cache_info(self) -> CacheInfo:
        """Hits and misses since the last :meth:`cache_clear`, bound and results kept."""
        return CacheInfo(self._hits, self._misses, self._maxsize, len(self._results))


def _drop_oldest(entries: OrderedDict[Any, Any]) -> None:
    """Drop the entry kept longest (another thread may have emptied it already)."""
    try:  # noqa: SIM105 - not contextlib.suppress: runs on every first sight (issue 20)
        entries.popitem(last=False)
    except KeyError:
        pass


def memo_on_repeat(maxsize: int) -> Callable[[Callable[..., R]], RepeatMemo[R]]:
    """Decorate a function with a :class:`RepeatMemo` of ``maxsize`` results."""

    def decorate(fn: Callable[..., R]) -> RepeatMemo[R]:
        return RepeatMemo(fn, maxsize)

    return decorate
