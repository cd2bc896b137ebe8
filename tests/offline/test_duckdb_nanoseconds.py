"""Nanosecond timestamps are floored to the microsecond, the same way for every input.

DuckDB's cast of TIMESTAMP_NS to TIMESTAMP rounds (1.5 us became 2 us) while Arrow's cast of an
in-memory frame truncates toward zero: a source row at the entity's own nanosecond was missed,
and an entity frame read from Parquet saw rows up to 0.5 us in its future.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from pitstore.offline.duckdb import DuckDBEngine
from pitstore.offline.duckdb.sql import epoch_us_expr, value_expr
from pitstore.timeutil import floor_micros

from . import nanos
from .helpers import view, write_parquet

KINDS = ["arrow", "pandas", "polars", "path", "sql"]


@pytest.fixture(scope="module")
def engine() -> Iterator[DuckDBEngine]:
    with DuckDBEngine(threads=1) as eng:
        yield eng


def entity_input(kind: str, table: pa.Table, folder: Path) -> Any:
    """``table`` as the given kind of entity input (pandas and Polars keep nanoseconds)."""
    if kind == "pandas":
        frame = table.to_pandas()
        assert str(frame["event_timestamp"].dtype).startswith("datetime64[ns")
        return frame
    if kind == "polars":
        import polars as pl

        return pl.from_arrow(table)
    path = write_parquet(folder, table, "entities")
    if kind == "sql":
        return f"SELECT * FROM read_parquet('{path}')"
    return path if kind == "path" else table


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("zone", ["UTC", None])
def test_nanoseconds_are_floored_for_every_entity_input(
    engine: DuckDBEngine, tmp_path: Path, kind: str, zone: str | None
) -> None:
    views = nanos.views(tmp_path)
    table = nanos.entity_table(zone)
    result = engine.historical(entity_input(kind, table, tmp_path), views).to_arrow()
    got = {name: result[name].to_pylist() for name in nanos.expected()}
    assert got == nanos.expected()
    assert result["row_id"].to_pylist() == list(range(table.num_rows))


@pytest.mark.parametrize("kind", ["arrow", "path", "sql"])
def test_aggregation_windows_floor_nanoseconds(
    engine: DuckDBEngine, tmp_path: Path, kind: str
) -> None:
    agg = nanos.aggregated_view(tmp_path)
    entities = entity_input(kind, nanos.event_entities(), tmp_path)
    result = engine.historical(entities, [agg]).to_arrow()
    got = {name: result[name].to_pylist() for name in nanos.EXPECTED_AGGREGATES}
    assert got == nanos.EXPECTED_AGGREGATES


def _micros(values: list[Any]) -> list[int | None]:
    return pa.array(values, nanos.UTC_US).cast(pa.int64()).to_pylist()


def test_latest_floors_timestamps_and_its_window(engine: DuckDBEngine, tmp_path: Path) -> None:
    t = nanos.T_US
    for v in nanos.views(tmp_path):
        start = datetime(1969, 12, 31, tzinfo=UTC)
        rows = engine.latest(v, start, datetime(2027, 1, 1, tzinfo=UTC)).read_all().sort_by("k")
        assert rows["k"].to_pylist() == [1, 2, 3, 4, 5, 6]
        assert _micros(rows["__ts"].to_pylist()) == [t + 1, t + 2, -1, 0, t, -5]
        assert _micros(rows["__created"].to_pylist()) == [t, t, -1, 0, t + 1, -1]
        assert rows[f"{v.name}_val"].to_pylist() == [1.0, 2.5, 3.0, 4.0, 5.5, 6.5]
        assert _micros(rows[f"{v.name}_seen"].to_pylist()) == _micros(rows["__ts"].to_pylist())
        # up to T + 1 us: the row at 1.5 us is in (1 us), the one at 2.0 us is not
        end = nanos._instant(t + 1)
        rows = engine.latest(v, start, end).read_all().sort_by("k")
        assert rows[f"{v.name}_val"].to_pylist() == [1.0, 2.0, 3.0, 4.0, 5.5, 6.5]


def test_events_floor_timestamps(engine: DuckDBEngine, tmp_path: Path) -> None:
    agg = nanos.aggregated_view(tmp_path)
    t = nanos.T_US
    rows = engine.events(agg, nanos._instant(t + 1)).read_all()
    assert rows["_ev_ts"].to_pylist() == [[t + 1, t + 1]]  # T - 1 s is not in (end - 1 s, end]
    assert rows["ts"].to_pylist() == [[t + 1, t + 1]]  # a timestamp input: microseconds too
    assert _micros(rows["__ts"].to_pylist()) == [t + 1]


def test_the_sql_floor_agrees_with_arrow_everywhere(tmp_path: Path) -> None:
    # the two floors the engines use (SQL for what DuckDB reads, Arrow for in-memory frames)
    rng = random.Random(3)
    # DuckDB reads -(2^63 - 1) and 2^63 - 1 as -infinity and infinity: the next ones in
    edges = [-(2**63) + 2, 2**63 - 2, -1, 0, 1, -999, -1000, -1001, 999, 1000, 1001, -1500]
    values = edges + [rng.randrange(-(2**63) + 2, 2**63 - 2) for _ in range(2000)]
    values += [rng.randrange(-(10**7), 10**7) for _ in range(2000)]
    table = pa.table(
        {
            "aware": pa.array(values, pa.timestamp("ns", "UTC")),
            "naive": pa.array(values, pa.timestamp("ns")),
            "lists": pa.array([[v, None] for v in values], pa.list_(pa.timestamp("ns"))),
        }
    )
    path = write_parquet(tmp_path, table, "edges")
    floors = [v // 1000 for v in values]
    assert floor_micros(table["aware"]).to_pylist() == floors
    assert floor_micros(table["naive"]).to_pylist() == floors
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    relation = con.sql(f"SELECT * FROM read_parquet('{path}')")
    types = dict(zip(relation.columns, (str(t) for t in relation.types), strict=True))
    assert "_NS" in types["aware"] and "_NS" in types["naive"]
    for column in ("aware", "naive"):
        micros = epoch_us_expr(column, types[column])
        value = f"epoch_us({value_expr(column, types[column])})"
        got = con.sql(f"SELECT {micros}, {value} FROM relation").fetchall()
        assert [a for a, _ in got] == floors, column
        assert [b for _, b in got] == floors, column
    lists = value_expr("lists", types["lists"])
    got = con.sql(f"SELECT [epoch_us(y) FOR y IN {lists}] FROM relation").fetchall()
    assert [row[0] for row in got] == [[f, None] for f in floors]


def test_a_list_of_nanosecond_timestamps_is_floored(engine: DuckDBEngine, tmp_path: Path) -> None:
    stamps = [-1, 1500, -1500, None]
    source = pa.table(
        {
            "k": pa.array([1], pa.int64()),
            "ts": pa.array([0], pa.timestamp("ns", "UTC")),
            "stamps": pa.array([stamps], pa.list_(pa.timestamp("ns", "UTC"))),
        }
    )
    v = view(
        "lists",
        write_parquet(tmp_path, source),
        [("k", pa.int64())],
        [("stamps", pa.list_(nanos.UTC_US))],
        created=None,
    )
    entities = pa.table(
        {"k": pa.array([1], pa.int64()), "event_timestamp": pa.array([0], nanos.UTC_US)}
    )
    got = engine.historical(entities, [v]).to_arrow()["stamps"].cast(pa.list_(pa.int64()))
    assert got.to_pylist() == [[-1, 1, -2, None]]
    start, end = datetime(1969, 1, 1, tzinfo=UTC), datetime(1971, 1, 1, tzinfo=UTC)
    latest = engine.latest(v, start, end).read_all()["stamps"].cast(pa.list_(pa.int64()))
    assert latest.to_pylist() == [[-1, 1, -2, None]]
