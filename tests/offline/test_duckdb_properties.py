"""Property tests: the DuckDB engine agrees with the row-by-row oracle on random small data.

Times start in 2024 or just before 1970; nanosecond columns (sources and entity frames) hold
nanoseconds past the microsecond, which the oracle floors as the engines must.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pitstore.offline.base import ViewQuery
from pitstore.offline.duckdb import DuckDBEngine

from .helpers import BASE, UTC_US, render, ts_array, view, write_parquet
from .oracle import OracleView, oracle

ZONES = [None, "UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"]
TTLS = [None, timedelta(0), timedelta(seconds=1), timedelta(seconds=2.5), timedelta(days=1)]
# Few distinct half-second steps: many ties on ts, and on (ts, created).
SECONDS = st.integers(0, 12).map(lambda half: half / 2)
#: Where the half-second steps start: 2024, or 3 s before the epoch (times before 1970 too).
BASES = [BASE, datetime(1969, 12, 31, 23, 59, 57, tzinfo=UTC)]
#: Nanoseconds past a step, in nanosecond columns: the floor to microseconds tells them from a
#: rounding (1500 -> 2 us) or a truncation toward zero (-1 -> 0 us); mostly none, for ties.
JITTER_NS = st.sampled_from([0, 0, 0, 0, 1, 500, 999, 1000, 1500, 1999, -1, -500, -1000, -1500])


def _time(base: datetime, seconds: float, nanos: int = 0) -> Any:
    """``base`` + ``seconds`` (+ ``nanos``, as a pandas Timestamp: a datetime has no ns)."""
    value = base + timedelta(seconds=seconds)
    return pd.Timestamp(value) + pd.Timedelta(nanoseconds=nanos) if nanos else value


@st.composite
def times(draw: Any, base: datetime, nanos: bool) -> Any:
    """A time on the grid, with nanoseconds past it when the column holds them."""
    return _time(base, draw(SECONDS), draw(JITTER_NS) if nanos else 0)


@pytest.fixture(scope="module")
def engine() -> Iterator[DuckDBEngine]:
    with DuckDBEngine(threads=2) as eng:
        yield eng


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


@st.composite
def source_rows(
    draw: Any, composite: bool, created: bool, base: datetime, unit: str
) -> list[dict[str, Any]]:
    """Rows of a source; each row has unique feature values, to see which row won."""
    n = draw(st.integers(0, 14))
    nanos = unit == "ns"
    out = []
    for i in range(n):
        row: dict[str, Any] = {
            "k": draw(st.sampled_from([1, 2, 3, None])),
            "ts": draw(times(base, nanos)),
            "val": i + 0.25,
            "label": f"r{i}",
            "n": 100 + i,
        }
        if composite:
            row["s"] = draw(st.sampled_from(["a", "b", None]))
        if created:
            step = draw(st.sampled_from([None, 0, 1, 2]))
            jitter = draw(JITTER_NS) if nanos else 0
            row["created"] = None if step is None else _time(base, step, jitter)
        out.append(row)
    return out


@st.composite
def entity_rows(
    draw: Any,
    sources: list[list[dict[str, Any]]],
    ttls: list[Any],
    base: datetime,
    nanos: bool,
) -> list[Any]:
    """Entity rows with unknown and null keys, null and early timestamps, duplicates, and
    timestamps exactly at a source row's ts or at its ts + ttl (the inclusive boundaries)."""
    hits = [r["ts"] for rows in sources for r in rows if r["ts"] is not None]
    hits += [t + ttl for t in hits for ttl in ttls if ttl is not None]
    stamps = st.one_of(st.none(), times(base, nanos), st.just(_time(base, -1)))
    if hits:
        stamps = st.one_of(stamps, st.sampled_from(hits), st.sampled_from(hits))
    n = draw(st.integers(0, 10))
    out = [
        {
            "k": draw(st.sampled_from([1, 2, 3, 99, None])),
            "s": draw(st.sampled_from(["a", "b", "zz", None])),
            "event_timestamp": draw(stamps),
        }
        for _ in range(n)
    ]
    for _ in range(draw(st.integers(0, 3)) if out else 0):
        out.append(dict(out[draw(st.integers(0, len(out) - 1))]))
    order = draw(st.permutations(range(len(out))))
    return [{"row_id": i, **out[j]} for i, j in enumerate(order)]


@dataclass
class Scenario:
    entities: list[dict[str, Any]]
    sources: list[list[dict[str, Any]]]
    ttls: list[timedelta | None]
    entity_zone: str | None
    entity_kind: str
    source_zones: list[str | None]
    units: list[str]
    entity_unit: str
    """The entity frame's timestamp unit (pandas: nanoseconds whatever it is)."""


@st.composite
def scenarios(draw: Any) -> Scenario:
    base = draw(st.sampled_from(BASES))
    units = [draw(st.sampled_from(["us", "ms", "ns"])) for _ in range(3)]
    sources = [
        draw(source_rows(False, True, base, units[0])),
        draw(source_rows(True, True, base, units[1])),
        draw(source_rows(False, False, base, units[2])),
    ]
    ttls = [draw(st.sampled_from(TTLS)) for _ in range(3)]
    entity_unit = draw(st.sampled_from(["us", "ns"]))
    return Scenario(
        entities=draw(entity_rows(sources, ttls, base, entity_unit == "ns")),
        sources=sources,
        ttls=ttls,
        entity_zone=draw(st.sampled_from(ZONES)),
        entity_kind=draw(st.sampled_from(["arrow", "pandas", "polars", "path", "sql"])),
        source_zones=[draw(st.sampled_from(ZONES)) for _ in range(3)],
        units=units,
        entity_unit=entity_unit,
    )


def _source_table(rows: list[dict[str, Any]], zone: str | None, unit: str, index: int) -> pa.Table:
    cols: dict[str, pa.Array] = {"k": pa.array([r["k"] for r in rows], pa.int64())}
    if index == 1:
        cols["s"] = pa.array([r["s"] for r in rows], pa.string())
    cols["ts"] = ts_array([r["ts"] for r in rows], zone, unit)
    if index != 2:
        cols["created"] = ts_array([r["created"] for r in rows], zone, unit)
    cols["val"] = pa.array([r["val"] for r in rows], pa.float64())
    cols["label"] = pa.array([r["label"] for r in rows], pa.string())
    cols["n"] = pa.array([r["n"] for r in rows], pa.int64())
    return pa.table(cols)


def _views(sc: Scenario, folder: Path) -> list[ViewQuery]:
    paths = [
        write_parquet(folder, _source_table(rows, sc.source_zones[i], sc.units[i], i))
        for i, rows in enumerate(sc.sources)
    ]
    int64 = pa.int64()
    return [
        view(
            "a",
            paths[0],
            [("k", int64)],
            [("val", "a_val", pa.float64()), ("ts", "a_seen", UTC_US)],
            ttl=sc.ttls[0],
        ),
        view(
            "b",
            paths[1],
            [("k", int64), ("s", pa.string())],
            [("label", "b_label", pa.string())],
            ttl=sc.ttls[1],
        ),
        view(
            "c", paths[2], [("k", int64)], [("n", "c_n", pa.int64())], created=None, ttl=sc.ttls[2]
        ),
    ]


def _entity_table(sc: Scenario) -> pa.Table:
    ents = sc.entities
    return pa.table(
        {
            "row_id": pa.array([e["row_id"] for e in ents], pa.int64()),
            "k": pa.array([e["k"] for e in ents], pa.int64()),
            "s": pa.array([e["s"] for e in ents], pa.string()),
            "event_timestamp": ts_array(
                [e["event_timestamp"] for e in ents], sc.entity_zone, sc.entity_unit
            ),
        }
    )


def _entity_input(sc: Scenario, table: pa.Table, folder: Path) -> Any:
    if sc.entity_kind == "pandas":
        times = [render(e["event_timestamp"], sc.entity_zone) for e in sc.entities]
        return pd.DataFrame(
            {
                "row_id": pd.array([e["row_id"] for e in sc.entities], dtype="Int64"),
                "k": pd.array([e["k"] for e in sc.entities], dtype="Int64"),
                "s": pd.array([e["s"] for e in sc.entities], dtype=object),
                "event_timestamp": pd.to_datetime(pd.Series(times, dtype=object)),
            }
        )
    if sc.entity_kind == "polars":
        return pl.from_arrow(table)
    path = write_parquet(folder, table, "entities")
    if sc.entity_kind == "path":
        return path
    if sc.entity_kind == "sql":
        return f"SELECT * FROM read_parquet('{path}') ORDER BY row_id"
    return table


def _oracle_views(sc: Scenario, views: list[ViewQuery]) -> list[OracleView]:
    out = []
    for rows, v in zip(sc.sources, views, strict=True):
        out.append(
            OracleView(
                keys=v.join_keys,
                rows=rows,
                timestamp_field="ts",
                created_field=v.source.created_timestamp_field,
                features=tuple(f.column for f in v.features),
                ttl=v.ttl,
            )
        )
    return out


@settings(
    max_examples=90,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sc=scenarios())
def test_engine_matches_oracle(engine: DuckDBEngine, folder: Path, sc: Scenario) -> None:
    views = _views(sc, folder)
    table = _entity_table(sc)
    result = engine.historical(_entity_input(sc, table, folder), views).to_arrow()

    assert result.num_rows == len(sc.entities)
    assert result.column_names[:4] == ["row_id", "k", "s", "event_timestamp"]
    assert result["row_id"].to_pylist() == list(range(len(sc.entities)))
    if sc.entity_kind == "arrow":
        assert result.select(table.column_names).equals(table)
    if sc.entity_kind == "polars":
        assert result.select(table.column_names).equals(pl.from_arrow(table).to_arrow())
    assert result.schema.field("a_seen").type == UTC_US
    assert result.schema.field("c_n").type == pa.int64()

    expected = oracle(sc.entities, _oracle_views(sc, views), "event_timestamp")
    outputs = [[f.output for f in v.features] for v in views]
    got = result.to_pylist()
    for i, (row, per_view) in enumerate(zip(got, expected, strict=True)):
        for v, names, ok in zip(views, outputs, per_view, strict=True):
            value = tuple(row[n] for n in names)
            assert value in ok, f"row {i} ({sc.entities[i]}), view {v.name}: {value} not in {ok}"
