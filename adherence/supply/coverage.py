"""PQA's carry-forward rule, shared by supply on hand and the PDC measures.

Each fill starts when the earlier supply runs out (an early refill's overlap is shifted
forward, not lost); a day counts once; cover stops at the end of the period. Days are
ordinals (``date.toordinal()``), as floats so that a twice-daily dose can supply half a day.
"""

from __future__ import annotations

from collections.abc import Iterable


def cover_chain(
    fills: Iterable[tuple[float, float]], index: float, end: float
) -> tuple[float, float, list[tuple[float, float]]]:
    """PQA's rule on (fill day, days supplied) in fill order: each fill starts when the
    earlier supply runs out (overlap shifted forward). Returns days covered inside
    [index, end), the longest uncovered stretch there, and the merged cover intervals."""
    cursor = float("-inf")
    merged: list[tuple[float, float]] = []
    for day, supply in fills:
        begin = max(day, cursor)
        cursor = begin + supply
        lo, hi = max(begin, index), min(cursor, end)
        if hi <= lo:
            continue
        if merged and merged[-1][1] >= lo - 1e-9:
            merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    covered, gap = covered_and_gap(merged, index, end)
    return covered, gap, merged


def covered_and_gap(
    merged: list[tuple[float, float]], index: float, end: float
) -> tuple[float, float]:
    """Days covered by ``merged`` (sorted, disjoint) and the longest gap in [index, end)."""
    covered = sum(hi - lo for lo, hi in merged)
    edges = [index, *(x for pair in merged for x in pair), end]
    gap = max(edges[i + 1] - edges[i] for i in range(0, len(edges), 2))
    return round(covered, 9), round(max(gap, 0.0), 9)


def chain_end(fills: Iterable[tuple[float, float]]) -> float:
    """The day after the carried-forward supply of ``fills`` (sorted by day) runs out."""
    cursor = float("-inf")
    for day, supply in fills:
        cursor = max(day, cursor) + supply
    return cursor


def union(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Overlapping or touching intervals merged, in order (a day counts once)."""
    out: list[tuple[float, float]] = []
    for lo, hi in sorted(intervals):
        if out and out[-1][1] >= lo - 1e-9:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out
