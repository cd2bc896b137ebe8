"""A slow, obviously correct point-in-time join (DESIGN.md section 3), row by row.

It works on plain Python values: each timestamp is a ``datetime`` (naive = UTC), a pandas
``Timestamp`` with nanoseconds, or None; every time is floored to the microsecond first, the
rule of pitstore (timeutil). For every entity row and view it returns the *set* of acceptable
feature tuples: one tuple, except when several candidate rows tie on both ts and created, in
which case any of them is correct.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

Row = Mapping[str, Any]


@dataclass(frozen=True)
class OracleView:
    """A view as the oracle sees it: its rows and how to read them."""

    keys: tuple[str, ...]
    rows: Sequence[Row]
    timestamp_field: str
    created_field: str | None
    features: tuple[str, ...]
    ttl: timedelta | None = None


def utc(value: datetime | None) -> datetime | None:
    """A comparable UTC datetime: naive values are UTC, aware ones are converted, and
    nanoseconds are floored to the microsecond (toward the past, also before 1970)."""
    if value is None:
        return None
    if hasattr(value, "nanosecond"):  # a pandas Timestamp: as a datetime (hashes alike)
        value = value.floor("us").to_pydatetime()
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _feature(value: Any) -> Any:
    """A feature value as an engine returns it: timestamps floored to the microsecond."""
    return utc(value) if isinstance(value, datetime) else value


def candidates(entity: Row, view: OracleView, timestamp_column: str) -> list[Row]:
    """The rows of ``view`` that entity row ``entity`` may see."""
    ts = utc(entity[timestamp_column])
    if ts is None or any(entity[k] is None for k in view.keys):
        return []
    found = []
    for row in view.rows:
        row_ts = utc(row[view.timestamp_field])
        if row_ts is None or any(row[k] != entity[k] for k in view.keys):
            continue
        if row_ts > ts:
            continue
        if view.ttl is not None and row_ts < ts - view.ttl:
            continue
        found.append(row)
    return found


def _created_rank(row: Row, view: OracleView) -> tuple[int, datetime]:
    """Created timestamps compare with null lowest."""
    created = utc(row[view.created_field]) if view.created_field else None
    if created is None:
        return (0, datetime.min.replace(tzinfo=UTC))
    return (1, created)


def acceptable(entity: Row, view: OracleView, timestamp_column: str) -> set[tuple[Any, ...]]:
    """Every feature tuple a correct engine may return for this entity row and view."""
    found = candidates(entity, view, timestamp_column)
    if not found:
        return {tuple(None for _ in view.features)}
    best_ts = max(utc(r[view.timestamp_field]) for r in found)  # type: ignore[type-var]
    at_best = [r for r in found if utc(r[view.timestamp_field]) == best_ts]
    best_created = max(_created_rank(r, view) for r in at_best)
    return {
        tuple(_feature(r[f]) for f in view.features)
        for r in at_best
        if _created_rank(r, view) == best_created
    }


def oracle(
    entities: Sequence[Row], views: Sequence[OracleView], timestamp_column: str
) -> list[list[set[tuple[Any, ...]]]]:
    """For each entity row (in order) and each view: the acceptable feature tuples."""
    return [[acceptable(e, v, timestamp_column) for v in views] for e in entities]
