"""Composite rules and corroboration, over the levels the engine itself has emitted.

The engine keeps, per (rule, subject), a `LevelRecord`: the level now, and for each level the time
the subject last fell below it. A composite member holds at time t when some subject of its rule
(filtered by subjects and areas) is at or above the member's level, or fell below it no longer
than `within` before t: "3 h rain above 40 mm in the catchment within the last 3 hours AND the
river rising now". `all` needs every member, `any` one of them.

Corroboration asks the same question of other rules (independent sources, such as a camera that
reads the water level of the gauge's river) for one alarm: is any of them at the alarm's level (or
a configured one), in the same area, now or within `within`? The alarm keeps its level; only its
confidence changes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hub.types import LEVEL_RANK

#: Levels by rank (info 0 ... red 3).
LEVELS_BY_RANK: tuple[str, ...] = ("info", "yellow", "orange", "red")


@dataclass(frozen=True, slots=True)
class LevelRecord:
    """The emitted level of one (rule, subject) and, per rank, when it last fell below that rank
    (None: never, or it is at or above it now)."""

    level: str | None = None
    fell_below_ms: tuple[int | None, int | None, int | None, int | None] = (None, None, None, None)
    changed_ms: int | None = None


def record_level(record: LevelRecord, level: str | None, ts_ms: int) -> LevelRecord:
    """The record after the subject moved to `level` at `ts_ms`."""
    new_rank = LEVEL_RANK[level] if level is not None else -1
    old_rank = LEVEL_RANK[record.level] if record.level is not None else -1
    fell = list(record.fell_below_ms)
    for rank in range(4):
        if rank <= new_rank:
            fell[rank] = None
        elif rank <= old_rank:
            fell[rank] = ts_ms
    return LevelRecord(level, (fell[0], fell[1], fell[2], fell[3]), ts_ms)


def holds(record: LevelRecord, min_level: str, now_ms: int, within_ms: int) -> bool:
    """True when the subject is at `min_level` or above, or fell below it at most `within_ms`
    before `now_ms`."""
    rank = LEVEL_RANK[min_level]
    if record.level is not None and LEVEL_RANK[record.level] >= rank:
        return True
    fell = record.fell_below_ms[rank]
    return fell is not None and now_ms - fell <= within_ms


def expires_ms(record: LevelRecord, min_level: str, within_ms: int) -> int | None:
    """When `holds` turns false with time alone (the first ms after the grace), or None."""
    rank = LEVEL_RANK[min_level]
    if record.level is not None and LEVEL_RANK[record.level] >= rank:
        return None
    fell = record.fell_below_ms[rank]
    return fell + within_ms + 1 if fell is not None else None


def combine(mode: str, member_holds: Iterable[bool]) -> bool:
    """`all` or `any` of the members."""
    return all(member_holds) if mode == "all" else any(member_holds)
