"""Nanosecond timestamps for both engines' tests: each is floored to the microsecond.

The rows are placed where rounding (DuckDB's cast of TIMESTAMP_NS) or truncation toward zero
(Arrow's unsafe cast, Spark's ``div``) gives another answer than the floor: 1.5 us, 1.6 us
and 2.0 us after a second, and a few nanoseconds before 1970.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pyarrow as pa

from pitstore.offline.base import AggregateSpec, FeatureColumn, ViewQuery

from .helpers import UTC_US, view, write_parquet

T = 1_767_225_600 * 10**9
"""2026-01-01 00:00:00 UTC in nanoseconds since the epoch."""
T_US = T // 1000
SECOND = 10**9
I64 = pa.int64()

#: Source rows (key, ts ns, created ns, val), in file order: of rows equal in ts and created,
#: the one read last wins.
SOURCE = [
    (1, T + 1500, T, 1.0),  # (a) the entity at the same nanosecond sees it
    (2, T - SECOND, T - SECOND, 2.0),
    (2, T + 2000, T, 2.5),  # (b) 2.0 us: after the entity at 1.6 us (1.6 -> 1, not 2)
    (3, -1, -1, 3.0),  # -1 ns is -1 us (truncated or rounded: 0, after the entity)
    (4, 0, 0, 4.0),  # 0: after the entity at -1 ns (-1 us; truncated: 0, which sees it)
    (5, T, T + 1999, 5.0),  # created 1.999 us and 1.0 us floor alike: a tie on created...
    (5, T, T + 1000, 5.5),  # ...that the row read last wins (rounded: 5.0 wins, 2 us > 1 us)
    (6, -5000, -1, 6.0),  # the same before 1970: created -1 ns and -1000 ns are both -1 us
    (6, -5000, -1000, 6.5),
]

#: Entity rows (key, ts ns) and the expected val and ``seen`` (the chosen row's ts, us).
ENTITIES = [
    (1, T + 1500, 1.0, T_US + 1),
    (2, T + 1600, 2.0, T_US - 10**6),
    (3, -1000, 3.0, -1),
    (4, -1, None, None),
    (5, T + 5000, 5.5, T_US),
    (6, -5000, 6.5, -5),
]


def _ns(values: list[int], zone: str | None) -> pa.Array:
    return pa.array(values, pa.timestamp("ns", tz=zone))


def source_table(zone: str | None) -> pa.Table:
    """The source rows, timestamps in nanoseconds (aware in ``zone``, or naive)."""
    return pa.table(
        {
            "k": pa.array([r[0] for r in SOURCE], I64),
            "ts": _ns([r[1] for r in SOURCE], zone),
            "created": _ns([r[2] for r in SOURCE], zone),
            "val": pa.array([r[3] for r in SOURCE], pa.float64()),
        }
    )


def entity_table(zone: str | None = "UTC") -> pa.Table:
    """The entity rows, timestamps in nanoseconds (pandas' unit)."""
    return pa.table(
        {
            "row_id": pa.array(range(len(ENTITIES)), I64),
            "k": pa.array([e[0] for e in ENTITIES], I64),
            "event_timestamp": _ns([e[1] for e in ENTITIES], zone),
        }
    )


def views(folder: Path) -> list[ViewQuery]:
    """One view on an aware source and one on a naive source (TIMESTAMPTZ_NS, TIMESTAMP_NS)."""
    return [
        view(
            name,
            write_parquet(folder, source_table(zone), name),
            [("k", I64)],
            [("val", f"{name}_val", pa.float64()), ("ts", f"{name}_seen", UTC_US)],
        )
        for name, zone in (("aware", "UTC"), ("naive", None))
    ]


def expected() -> dict[str, list[Any]]:
    """The features each view must give the entity rows (see :data:`ENTITIES`)."""
    vals = [e[2] for e in ENTITIES]
    seen = [None if e[3] is None else _instant(e[3]) for e in ENTITIES]
    return {f"{n}_{c}": v for n in ("aware", "naive") for c, v in (("val", vals), ("seen", seen))}


def _instant(micros: int) -> Any:
    return pa.scalar(micros, I64).cast(UTC_US).as_py()


#: Events of key 8 for the aggregated view (a 1 s window), and the entity ts that reads them.
EVENTS = [T - SECOND + 500, T + 1500, T + 1999]
EVENT_ENTITY = T + 1500


def aggregated_view(folder: Path) -> ViewQuery:
    """``count(val)`` and ``max(ts)`` over 1 s, on events 1 s - 500 ns, 1.5 us and 1.999 us
    around T: floored, the first is at T - 1 s, just outside ``(e - 1 s, e]`` for the entity
    at 1.5 us (1 us), the second inside, the third (1 us as well) inside too."""
    table = pa.table(
        {
            "k": pa.array([8] * len(EVENTS), I64),
            "ts": _ns(EVENTS, "UTC"),
            "val": pa.array([1.0] * len(EVENTS), pa.float64()),
        }
    )
    base = view("agg", write_parquet(folder, table, "agg"), [("k", I64)], [], created=None)
    return dataclasses.replace(
        base,
        features=(
            FeatureColumn("val", "val_count", I64),
            FeatureColumn("ts", "ts_max", UTC_US),
        ),
        aggregations=(AggregateSpec("count", 10**6), AggregateSpec("max", 10**6)),
    )


def event_entities() -> pa.Table:
    """The one entity row that reads :func:`aggregated_view`."""
    return pa.table({"k": pa.array([8], I64), "event_timestamp": _ns([EVENT_ENTITY], "UTC")})


#: What :func:`aggregated_view` gives :func:`event_entities`.
EXPECTED_AGGREGATES = {"val_count": [2], "ts_max": [_instant(T_US + 1)]}
