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


def nested_folder(root: Path) -> dict[int, float | None]:
    """A folder source with subfolders (Hive-style ``date=...`` ones, a deeper one, a plain one
    holding a file with no extension), a top-level file and files that are not to be read
    (``_SUCCESS``, ``_temporary/``, ``.crc``, ``.tmp``); columns k, ts, created, val.

    Every row has one ts and one created, so of a key's rows the one read last wins: files in
    the order of their paths as text, whatever their depth. Returns each key's winner (None:
    the key is only in a file that is not read).
    """
    at_60, at_30 = at(60.0), at(30.0)

    def part(path: str, rows: list[tuple[int, float]]) -> None:
        table = pa.table(
            {
                "k": pa.array([k for k, _ in rows], pa.int64()),
                "ts": pa.array([at_60] * len(rows), UTC_US),
                "created": pa.array([at_30] * len(rows), UTC_US),
                "val": pa.array([v for _, v in rows], pa.float64()),
            }
        )
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, root / path)

    # read in this order: date=2026-01-01/..., date=2026-01-02/..., plain/..., top.parquet
    part("date=2026-01-01/part-0.parquet", [(1, 11.0), (3, 30.0)])
    part("date=2026-01-01/part-1.parquet", [(2, 21.0)])
    part("date=2026-01-02/part-0.parquet", [(1, 12.0), (2, 22.0)])
    part("date=2026-01-02/sub/part-0.parquet", [(3, 31.0), (6, 60.0)])
    part("date=2026-01-02/z.parquet", [(3, 32.0)])  # after sub/: a file of a folder is not first
    part("plain/000000_0", [(4, 40.0)])  # Hive's part files have no extension
    part("top.parquet", [(1, 10.0), (6, 61.0)])  # after every subfolder's file: d, p < t
    part("_temporary/0/part-0.parquet", [(5, 50.0), (1, 99.0)])  # a job still writing
    part("date=2026-01-01/_hidden.parquet", [(5, 51.0)])
    (root / "_SUCCESS").write_bytes(b"")
    (root / ".part-0.parquet.crc").write_bytes(b"not parquet")
    (root / "date=2026-01-02" / ".part-1.parquet.tmp").write_bytes(b"half written")
    return {1: 10.0, 2: 22.0, 3: 32.0, 4: 40.0, 5: None, 6: 61.0}
