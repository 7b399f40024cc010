"""Line numbers in load errors: the indexed key search equals a plain scan of the file.

The loader locates a key (``key = ...`` or a table header ending in the key) to give every
problem a line. It indexes the candidate lines once per file; this compares it with the
straightforward regular-expression scan of every line, for every word of every bundled
knowledge file and rule fixture, over the whole file and over a middle slice.
"""

from __future__ import annotations

import re
from pathlib import Path

from opioidcds._decide.rules.loader import _Lines

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted([*(ROOT / "rules").rglob("*.toml"), *(Path(__file__).parent).rglob("*.toml")])


def _scan(lines: list[str], key: str, start: int, end: int) -> int | None:
    pat = re.compile(rf'^\s*"?{re.escape(key)}"?\s*=|^\s*\[\[?[^\]]*\b{re.escape(key)}\]')
    for i in range(start, min(end, len(lines))):
        if pat.match(lines[i]):
            return i + 1
    return None


def test_indexed_search_equals_the_scan() -> None:
    assert len(FILES) > 10
    checked = 0
    for file in FILES:
        text = file.read_text(encoding="utf-8")
        lines = _Lines(text)
        n = len(lines.lines)
        for key in set(re.findall(r"[A-Za-z0-9_\-]+", text)):
            for start, end in ((0, n), (n // 3, 2 * n // 3)):
                assert lines._key_in(key, start, end) == _scan(lines.lines, key, start, end), (
                    file.name,
                    key,
                    start,
                    end,
                )
                checked += 1
    assert checked > 10_000
