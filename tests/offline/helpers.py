"""Building blocks for the offline engine tests: views, Parquet sources, timestamps."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq

from pitstore.offline.base import FeatureColumn, SourceSpec, ViewQuery

BASE = datetime(2024, 1, 1, tzinfo=UTC)
UTC_US = pa.timestamp("us", tz="UTC")
_counter = itertools.count()


def at(seconds: float | None) -> datetime | None:
    """BASE + seconds, as an aware UTC datetime (None stays None)."""
    return None if seconds is None else BASE + timedelta(seconds=seconds)


def render(value: datetime | None, zone: str | None) -> datetime | None:
    """An aware UTC datetime shown in ``zone``, or as a naive UTC wall-clock time if None."""
    if value is None:
        return None
    if zone is None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value.astimezone(ZoneInfo(zone))


def ts_array(values: Sequence[datetime | None], zone: str | None, unit: str = "us") -> pa.Array:
    """Timestamps as Arrow, naive (zone None) or aware in ``zone``."""
    return pa.array([render(v, zone) for v in values], pa.timestamp(unit, tz=zone))


def write_parquet(folder: Path, table: pa.Table, name: str = "src") -> str:
    """Write ``table`` to a new file in ``folder``; return its path."""
    path = folder / f"{name}_{next(_counter)}.parquet"
    pq.write_table(table, path)
    return str(path)


def view(
    name: str,
    path: str,
    keys: Sequence[tuple[str, pa.DataType]],
    features: Sequence[tuple[str, pa.DataType]] | Sequence[tuple[str, str, pa.DataType]],
    *,
    ts: str = "ts",
    created: str | None = "created",
    ttl: timedelta | None = None,
) -> ViewQuery:
    """A ViewQuery; a feature is (column, type) or (column, output, type)."""
    columns = []
    for feature in features:
        if len(feature) == 2:
            columns.append(FeatureColumn(feature[0], feature[0], feature[1]))  # type: ignore[misc]
        else:
            columns.append(FeatureColumn(*feature))  # type: ignore[misc]
    return ViewQuery(
        name=name,
        source=SourceSpec(path=path, timestamp_field=ts, created_timestamp_field=created),
        join_keys=tuple(k for k, _ in keys),
        key_types=tuple(t for _, t in keys),
        features=tuple(columns),
        ttl=ttl,
    )


def rows(table: pa.Table, columns: Sequence[str]) -> list[tuple[Any, ...]]:
    """The given columns of ``table`` as a list of tuples."""
    data = table.select(list(columns)).to_pylist()
    return [tuple(r[c] for c in columns) for r in data]
