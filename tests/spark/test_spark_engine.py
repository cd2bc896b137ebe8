"""Spark-specific cases: Spark SQL, tables and DataFrames as entity frames, the row order of
multi-file Parquet input, the Parquet folder output, nanosecond timestamps, engine settings."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from offline.helpers import at, ts_array, view, write_parquet
from pitstore.errors import ConfigError, NotFoundError, SchemaError
from pitstore.offline.base import ViewQuery
from pitstore.offline.spark import SparkEngine

pytestmark = pytest.mark.spark

I64 = pa.int64()


@pytest.fixture
def simple(tmp_path: Path) -> tuple[ViewQuery, pa.Table, str]:
    """A view (k=1 -> 1.0, k=2 -> 2.0 at t=10) and entities [2, 1, 3] at t=11, also as a file."""
    source = pa.table(
        {
            "k": pa.array([1, 2], I64),
            "ts": ts_array([at(10), at(10)], "UTC"),
            "created": ts_array([at(10), at(10)], "UTC"),
            "val": [1.0, 2.0],
        }
    )
    v = view("v", write_parquet(tmp_path, source), [("k", I64)], [("val", pa.float64())])
    ents = pa.table(
        {
            "row_id": pa.array([0, 1, 2], I64),
            "k": pa.array([2, 1, 3], I64),
            "event_timestamp": ts_array([at(11)] * 3, "UTC"),
        }
    )
    return v, ents, write_parquet(tmp_path, ents, "ents")


def test_spark_sql_table_and_dataframe_inputs(
    spark_engine: SparkEngine, simple: tuple[ViewQuery, pa.Table, str]
) -> None:
    v, _, path = simple
    spark = spark_engine.session()
    spark.read.parquet(path).createOrReplaceTempView("pitstore_test_entities")
    inputs = [
        f"SELECT * FROM parquet.`{path}` ORDER BY row_id",
        "  with t AS (SELECT * FROM pitstore_test_entities) SELECT * FROM t ORDER BY row_id;",
        "FROM pitstore_test_entities SELECT * ORDER BY row_id",
        "pitstore_test_entities",
        spark.table("pitstore_test_entities").orderBy("row_id"),
    ]
    for given in inputs:
        table = spark_engine.historical(given, [v]).to_arrow()
        assert table.column_names == ["row_id", "k", "event_timestamp", "val"], given
        assert table["val"].to_pylist() == [2.0, 1.0, None], given


def test_unknown_table_and_bad_sql(
    spark_engine: SparkEngine, simple: tuple[ViewQuery, pa.Table, str]
) -> None:
    v, _, _ = simple
    with pytest.raises(NotFoundError, match=r"'no_such_table' is neither a table .* nor a Parquet"):
        spark_engine.historical("no_such_table", [v])
    with pytest.raises(SchemaError, match=r"entity frame query.*no_such_table"):
        spark_engine.historical("SELECT * FROM no_such_table", [v])
    with pytest.raises(SchemaError, match=r"got builtins\.dict"):
        spark_engine.historical({"k": [1]}, [v])


def test_to_parquet_folder_to_spark_pandas_polars(
    spark_engine: SparkEngine, simple: tuple[ViewQuery, pa.Table, str], tmp_path: Path
) -> None:
    v, ents, path = simple
    for given in [ents, path]:
        job = spark_engine.historical(given, [v])
        expected = job.to_arrow()
        out = tmp_path / "out"
        job.to_parquet(str(out))
        job.to_parquet(str(out))  # a second write replaces the folder
        assert out.is_dir()
        assert pq.read_table(out).to_pylist() == expected.to_pylist()
        rows = job.to_spark().select("row_id", "val").collect()
        assert [tuple(r) for r in rows] == [(r["row_id"], r["val"]) for r in expected.to_pylist()]
        assert job.to_pandas()["val"].tolist()[:2] == [2.0, 1.0]
        assert job.to_polars()["val"].to_list()[:2] == [2.0, 1.0]


def test_nanosecond_parquet_timestamps(spark_engine: SparkEngine, tmp_path: Path) -> None:
    # pandas writes nanoseconds by default; Spark cannot read them as timestamps.
    source = pa.table(
        {
            "k": pa.array([1, 1], I64),
            "ts": ts_array([at(10), at(20)], None, unit="ns"),
            "val": [1.0, 2.0],
        }
    )
    v = view(
        "v",
        write_parquet(tmp_path, source),
        [("k", I64)],
        [("val", pa.float64()), ("ts", "seen", pa.timestamp("us", tz="UTC"))],
        created=None,
        ttl=timedelta(seconds=5),
    )
    ents = pa.table(
        {
            "k": pa.array([1, 1, 1], I64),
            "event_timestamp": ts_array([at(15), at(21), at(9)], "UTC", "ns"),
        }
    )
    path = write_parquet(tmp_path, ents, "ents")
    table = spark_engine.historical(path, [v]).to_arrow()
    assert table["val"].to_pylist() == [1.0, 2.0, None]
    assert table["seen"].to_pylist() == [at(10), at(20), None]
    assert table["event_timestamp"].to_pylist() == [at(15), at(21), at(9)]


def test_adopted_session_survives_close(spark_engine: SparkEngine) -> None:
    spark = spark_engine.session()
    SparkEngine(spark=spark).close()
    assert spark.range(3).count() == 3
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"


def test_local_input_is_checked_before_spark_starts(
    simple: tuple[ViewQuery, pa.Table, str],
) -> None:
    v, ents, _ = simple
    engine = SparkEngine(master="no-such-master")  # would fail to start
    with pytest.raises(SchemaError, match="needs join key column 'k'"):
        engine.historical(ents.drop_columns(["k"]), [v])
    assert engine._spark is None


def test_unknown_strategy_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown Spark point-in-time strategy 'fast'"):
        SparkEngine(strategy="fast")  # type: ignore[arg-type]


def test_a_session_zone_changed_after_adoption_is_refused_on_every_call(
    spark_engine: SparkEngine, simple: tuple[ViewQuery, pa.Table, str]
) -> None:
    # The engine sets UTC when it adopts a session; the application may set another zone later,
    # which read naive timestamps in that zone: the match moved silently by the offset
    v, ents, _ = simple
    spark = spark_engine.session()
    job = spark_engine.historical(ents, [v])
    spark.conf.set("spark.sql.session.timeZone", "America/Los_Angeles")
    try:
        calls = [
            lambda: spark_engine.historical(ents, [v]),
            job.to_arrow,
            job.to_spark,
            lambda: spark_engine.latest(v, at(0), at(100)),  # type: ignore[arg-type]
        ]
        for call in calls:
            with pytest.raises(ConfigError, match=r"time zone is 'America/Los_Angeles'.*UTC"):
                call()
        assert spark.conf.get("spark.sql.session.timeZone") == "America/Los_Angeles"  # untouched
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")
    assert job.to_arrow().num_rows == ents.num_rows
