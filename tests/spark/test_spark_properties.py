"""Property tests: the Spark engine agrees with the row-by-row oracle on random small data.

The scenarios are the DuckDB engine's (tests/offline/test_duckdb_properties.py: ties on ts and
on (ts, created), TTL edges, unknown and null keys, zones, ms/us/ns sources with nanoseconds
past the microsecond, times before 1970); here the entity frame may also be Spark SQL or a
Spark DataFrame, and each example draws the plan strategy.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from offline.helpers import UTC_US, write_parquet
from offline.oracle import oracle
from offline.test_duckdb_properties import (
    Scenario,
    _entity_input,
    _entity_table,
    _oracle_views,
    _views,
    scenarios,
)
from pitstore.offline.spark import SparkEngine

pytestmark = pytest.mark.spark

SPARK_KINDS = ["arrow", "pandas", "polars", "path", "spark_sql", "spark_frame"]


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def _input(
    spark_engine: SparkEngine, sc: Scenario, kind: str, table: pa.Table, folder: Path
) -> Any:
    if kind == "spark_sql":
        path = write_parquet(folder, table, "entities")
        return f"SELECT * FROM parquet.`{path}` ORDER BY row_id"
    if kind == "spark_frame":
        path = write_parquet(folder, table, "entities")
        return spark_engine.session().read.parquet(path).orderBy("row_id")
    sc.entity_kind = kind
    return _entity_input(sc, table, folder)


@settings(
    max_examples=int(os.environ.get("PITSTORE_SPARK_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    sc=scenarios(),
    kind=st.sampled_from(SPARK_KINDS),
    strategy=st.sampled_from(["auto", "join", "union"]),
)
def test_engine_matches_oracle(
    spark_engine: SparkEngine, folder: Path, sc: Scenario, kind: str, strategy: Any
) -> None:
    engine = SparkEngine(spark=spark_engine.session(), strategy=strategy)
    views = _views(sc, folder)
    if kind.startswith("spark_"):
        sc.entity_unit = "us"  # Spark reads a nanosecond column as int64, not a timestamp
    table = _entity_table(sc)
    result = engine.historical(_input(spark_engine, sc, kind, table, folder), views).to_arrow()

    assert result.num_rows == len(sc.entities)
    assert result.column_names[:4] == ["row_id", "k", "s", "event_timestamp"]
    assert result["row_id"].to_pylist() == list(range(len(sc.entities)))
    if kind == "arrow":
        assert result.select(table.column_names).equals(table)
    if kind == "polars":
        assert result.select(table.column_names).equals(pl.from_arrow(table).to_arrow())
    assert result.schema.field("a_seen").type == UTC_US
    assert result.schema.field("c_n").type == pa.int64()

    expected = oracle(sc.entities, _oracle_views(sc, views), "event_timestamp")
    outputs = [[f.output for f in v.features] for v in views]
    for i, (row, per_view) in enumerate(zip(result.to_pylist(), expected, strict=True)):
        for v, names, ok in zip(views, outputs, per_view, strict=True):
            value = tuple(row[n] for n in names)
            assert value in ok, f"row {i} ({sc.entities[i]}), view {v.name}: {value} not in {ok}"
