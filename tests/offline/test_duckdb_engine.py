"""Hand-written cases for the DuckDB engine: one per rule of DESIGN.md section 3, each input
kind, each bad input, the outputs (Arrow, Parquet, batches) and ``latest``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pitstore.errors import ConfigError, NotFoundError, SchemaError
from pitstore.offline.base import ViewQuery
from pitstore.offline.duckdb import DuckDBEngine
from pitstore.offline.duckdb.entities import is_sql

from .helpers import BASE, UTC_US, at, nested_folder, ts_array, view, write_parquet

I64 = pa.int64()


@pytest.fixture(scope="module")
def engine() -> Iterator[DuckDBEngine]:
    with DuckDBEngine() as eng:
        yield eng


def source(tmp_path: Path, rows: list[tuple[Any, ...]], zone: str | None = "UTC") -> str:
    """A source with columns k, ts, created, val from (k, ts_seconds, created_seconds, val)."""
    table = pa.table(
        {
            "k": pa.array([r[0] for r in rows], I64),
            "ts": ts_array([at(r[1]) for r in rows], zone),
            "created": ts_array([at(r[2]) for r in rows], zone),
            "val": pa.array([r[3] for r in rows], pa.float64()),
        }
    )
    return write_parquet(tmp_path, table)


def entities(keys: list[Any], seconds: list[float | None], zone: str | None = "UTC") -> pa.Table:
    return pa.table(
        {
            "row_id": pa.array(range(len(keys)), I64),
            "k": pa.array(keys, I64),
            "event_timestamp": ts_array([at(s) for s in seconds], zone),
        }
    )


def vals(engine: DuckDBEngine, ents: Any, path: str, ttl: timedelta | None = None) -> list[Any]:
    v = view("v", path, [("k", I64)], [("val", pa.float64())], ttl=ttl)
    return list(engine.historical(ents, [v]).to_arrow()["val"].to_pylist())


# --- the rules -------------------------------------------------------------------------------


def test_latest_row_at_or_before_the_entity_time(engine: DuckDBEngine, tmp_path: Path) -> None:
    path = source(tmp_path, [(1, 10, 10, 1.0), (1, 20, 20, 2.0), (1, 30, 30, 3.0)])
    got = vals(engine, entities([1, 1, 1, 1], [5, 10, 25, 30]), path)
    assert got == [None, 1.0, 2.0, 3.0]  # before all rows, exact hit, between, exact hit


def test_ttl_bounds_are_inclusive(engine: DuckDBEngine, tmp_path: Path) -> None:
    path = source(tmp_path, [(1, 10, 10, 1.0)])
    ttl = timedelta(seconds=5)
    got = vals(engine, entities([1, 1, 1], [15, 15.000001, 10]), path, ttl)
    assert got == [1.0, None, 1.0]


def test_ties_on_ts_are_broken_by_greatest_created_null_lowest(
    engine: DuckDBEngine, tmp_path: Path
) -> None:
    rows = [(1, 10, 3, 1.0), (1, 10, 7, 2.0), (1, 10, None, 3.0), (2, 10, None, 4.0)]
    rows += [(2, 10, 1, 5.0), (2, 10, None, 6.0)]
    path = source(tmp_path, rows)
    assert vals(engine, entities([1, 2], [10, 11]), path) == [2.0, 5.0]


def test_unknown_and_null_keys_and_null_times_give_nulls(
    engine: DuckDBEngine, tmp_path: Path
) -> None:
    path = source(tmp_path, [(1, 10, 10, 1.0), (None, 10, 10, 9.0)])
    got = vals(engine, entities([1, 42, None, 1], [20, 20, 20, None]), path)
    assert got == [1.0, None, None, None]


def test_order_and_duplicates_are_kept(engine: DuckDBEngine, tmp_path: Path) -> None:
    path = source(tmp_path, [(k, t, t, k * 100 + t) for k in (1, 2, 3) for t in (10, 20)])
    ents = entities([3, 1, 2, 1, 3, 3], [25, 15, 21, 15, 10, 25])
    result = engine.historical(ents, [view("v", path, [("k", I64)], [("val", pa.float64())])])
    table = result.to_arrow()
    assert table["row_id"].to_pylist() == [0, 1, 2, 3, 4, 5]
    assert table["val"].to_pylist() == [320.0, 110.0, 220.0, 110.0, 310.0, 320.0]


def test_naive_times_are_utc_and_aware_times_are_converted(
    engine: DuckDBEngine, tmp_path: Path
) -> None:
    # Source naive (UTC wall clock); entity times in +05:30, one second on each side of 10 s.
    path = source(tmp_path, [(1, 10, 10, 1.0)], zone=None)
    ents = entities([1, 1], [9, 10], zone="Asia/Kolkata")
    assert vals(engine, ents, path) == [None, 1.0]
    naive_entities = entities([1, 1], [9, 10], zone=None)
    aware_source = source(tmp_path, [(1, 10, 10, 1.0)], zone="America/Los_Angeles")
    assert vals(engine, naive_entities, aware_source) == [None, 1.0]


def test_composite_keys_and_narrower_int_keys(engine: DuckDBEngine, tmp_path: Path) -> None:
    table = pa.table(
        {
            "k": pa.array([1, 1], I64),
            "s": ["a", "b"],
            "ts": ts_array([at(0), at(0)], "UTC"),
            "val": [1.0, 2.0],
        }
    )
    v = view(
        "v",
        write_parquet(tmp_path, table),
        [("k", I64), ("s", pa.string())],
        [("val", pa.float64())],
        created=None,
    )
    ents = pa.table(
        {
            "k": pa.array([1, 1, 1], pa.int32()),
            "s": ["b", "a", "c"],
            "event_timestamp": ts_array([at(1)] * 3, "UTC"),
        }
    )
    assert engine.historical(ents, [v]).to_arrow()["val"].to_pylist() == [2.0, 1.0, None]


def test_several_views_with_their_own_ttl_and_output_types(
    engine: DuckDBEngine, tmp_path: Path
) -> None:
    path = source(tmp_path, [(1, 10, 10, 1.5)])
    short = view(
        "short", path, [("k", I64)], [("val", "short_val", pa.float32())], ttl=timedelta(seconds=1)
    )
    forever = view(
        "forever",
        path,
        [("k", I64)],
        [("val", "forever_val", pa.float64()), ("ts", "seen", UTC_US)],
    )
    table = engine.historical(entities([1, 1], [10.5, 20]), [short, forever]).to_arrow()
    assert table.column_names == [
        "row_id",
        "k",
        "event_timestamp",
        "short_val",
        "forever_val",
        "seen",
    ]
    assert table.schema.field("short_val").type == pa.float32()
    assert table["short_val"].to_pylist() == [1.5, None]
    assert table["forever_val"].to_pylist() == [1.5, 1.5]
    assert table["seen"].to_pylist() == [at(10), at(10)]


def test_input_columns_come_back_unchanged(engine: DuckDBEngine, tmp_path: Path) -> None:
    path = source(tmp_path, [(1, 10, 10, 1.0)])
    ents = pa.table(
        {
            "k": pa.array([1, 1], I64),
            "event_timestamp": ts_array([at(11), at(12)], "Europe/Paris", unit="ns"),
            "label": pa.array(["x", "y"]).dictionary_encode(),
            "big": pa.array(["p", "q"], pa.large_string()),
        }
    )
    table = engine.historical(
        ents, [view("v", path, [("k", I64)], [("val", pa.float64())])]
    ).to_arrow()
    assert table.select(ents.column_names).equals(ents)


# --- entity inputs ---------------------------------------------------------------------------


@pytest.fixture
def simple(tmp_path: Path) -> tuple[ViewQuery, pa.Table]:
    path = source(tmp_path, [(1, 10, 10, 1.0), (2, 10, 10, 2.0)])
    return view("v", path, [("k", I64)], [("val", pa.float64())]), entities([2, 1, 3], [11, 11, 11])


def test_pandas_polars_arrow_and_reader_inputs(
    engine: DuckDBEngine, simple: tuple[ViewQuery, pa.Table]
) -> None:
    v, ents = simple
    inputs = [ents, ents.to_pandas(), pl.from_arrow(ents), ents.to_reader(), ents.to_batches()[0]]
    for given in inputs:
        assert engine.historical(given, [v]).to_arrow()["val"].to_pylist() == [2.0, 1.0, None]


def test_parquet_path_folder_glob_and_sql_inputs(
    engine: DuckDBEngine, simple: tuple[ViewQuery, pa.Table], tmp_path: Path
) -> None:
    v, ents = simple
    folder = tmp_path / "entities"
    folder.mkdir()
    pq.write_table(ents, folder / "part.parquet")
    file = str(folder / "part.parquet")
    queries = [
        f"SELECT * FROM read_parquet('{file}') ORDER BY row_id",
        f"  with t AS (SELECT * FROM '{file}') SELECT * FROM t ORDER BY row_id;",
        f"FROM '{file}' ORDER BY row_id",
    ]
    for given in [file, str(folder), str(folder / "*.parquet"), *queries]:
        table = engine.historical(given, [v]).to_arrow()
        assert table["val"].to_pylist() == [2.0, 1.0, None], given
        assert table.column_names == ["row_id", "k", "event_timestamp", "val"]


def test_an_input_column_named_rowid_is_carried_through(
    engine: DuckDBEngine, simple: tuple[ViewQuery, pa.Table], tmp_path: Path
) -> None:
    # DuckDB's rowid pseudo-column is shadowed by a column of that name: the rows were
    # numbered by the user's values (duplicates gave extra rows, others the wrong features)
    v, ents = simple
    ents = ents.append_column("rowid", pa.array([7] * ents.num_rows, I64))
    file = str(tmp_path / "with_rowid.parquet")
    pq.write_table(ents, file)
    for given in [file, f"SELECT * FROM '{file}' ORDER BY row_id -- the rows, in order"]:
        table = engine.historical(given, [v]).to_arrow()
        assert table["val"].to_pylist() == [2.0, 1.0, None], given
        assert table["rowid"].to_pylist() == [7] * ents.num_rows
        assert table["row_id"].to_pylist() == ents["row_id"].to_pylist()


@pytest.mark.parametrize("name", ["__pitstore_rn", "__PITSTORE_TS", "__pitstore_other"])
def test_engine_column_names_are_refused_in_the_entity_frame(
    engine: DuckDBEngine, simple: tuple[ViewQuery, pa.Table], name: str
) -> None:
    v, ents = simple
    ents = ents.append_column(name, pa.array(range(ents.num_rows), I64))
    with pytest.raises(SchemaError, match=f"{name}.*rename the column"):
        engine.historical(ents, [v]).to_arrow()


def test_sql_or_path_rule() -> None:
    assert is_sql("SELECT 1") and is_sql("  with x as (select 1) select * from x")
    assert is_sql("(SELECT 1)") and is_sql("from t") and is_sql("Select\n*")
    assert not is_sql("select_rows.parquet") and not is_sql("from/x.parquet")
    assert not is_sql("/data/entities/*.parquet")


# --- outputs ---------------------------------------------------------------------------------


def test_to_parquet_to_batches_and_to_pandas_match_to_arrow(
    engine: DuckDBEngine, simple: tuple[ViewQuery, pa.Table], tmp_path: Path
) -> None:
    v, ents = simple
    for given in [ents, str(write_parquet(tmp_path, ents, "ents"))]:
        job = engine.historical(given, [v])
        expected = job.to_arrow()
        out = tmp_path / "out.parquet"
        job.to_parquet(str(out))
        written = pq.read_table(out)
        assert written.column_names == expected.column_names
        assert written.to_pylist() == expected.to_pylist()
        assert job.to_batches().read_all().equals(expected)
        assert job.to_pandas()["val"].tolist()[:2] == [2.0, 1.0]
        assert job.to_polars()["val"].to_list()[:2] == [2.0, 1.0]


AGES = [timedelta(days=1, microseconds=5), None, timedelta(seconds=-3)]


def test_durations_are_written_as_durations(
    engine: DuckDBEngine, simple: tuple[ViewQuery, pa.Table], tmp_path: Path
) -> None:
    # DuckDB's COPY wrote them as Parquet INTERVALs: milliseconds, read by pyarrow as 12 bytes.
    v, ents = simple
    path = write_parquet(tmp_path, ents, "ents")
    interval = (
        "CASE row_id WHEN 0 THEN INTERVAL 1 DAY + INTERVAL 5 MICROSECOND WHEN 2 THEN "
        "INTERVAL '-3 seconds' END"
    )
    inputs = [
        ents.append_column("age", pa.array(AGES, pa.duration("us"))),
        ents.append_column("age", pa.array(AGES, pa.duration("ns"))),  # pandas' unit
        f"SELECT *, {interval} AS age FROM read_parquet('{path}')",
    ]
    for given in inputs:
        job = engine.historical(given, [v])
        expected = job.to_arrow()
        assert pa.types.is_duration(expected.schema.field("age").type), given
        assert expected["age"].to_pylist() == AGES, given
        out = tmp_path / "out.parquet"
        job.to_parquet(str(out))
        written = pq.read_table(out)
        assert written.schema.field("age").type == pa.duration("us"), given
        assert written.to_pylist() == expected.to_pylist(), given
        assert job.to_batches().read_all().equals(expected), given


def test_an_interval_of_months_is_not_a_duration(
    engine: DuckDBEngine, simple: tuple[ViewQuery, pa.Table], tmp_path: Path
) -> None:
    v, ents = simple
    path = write_parquet(tmp_path, ents, "ents")
    query = f"SELECT *, INTERVAL 14 MONTH AS age FROM read_parquet('{path}')"
    pattern = r"column 'age' holds the interval 1 year 2 months.*no fixed length.*ts1 - ts2"
    with pytest.raises(SchemaError, match=pattern):
        engine.historical(query, [v]).to_arrow()
    with pytest.raises(SchemaError, match=pattern):
        engine.historical(query, [v]).to_parquet(str(tmp_path / "out.parquet"))
    assert not (tmp_path / "out.parquet").exists()  # no file holding the rows before the error


# --- bad input -------------------------------------------------------------------------------


def test_missing_join_key_names_view_column_and_available(
    engine: DuckDBEngine, simple: tuple[ViewQuery, pa.Table]
) -> None:
    v, ents = simple
    with pytest.raises(SchemaError, match=r"view 'v' needs join key column 'k'.*'row_id'"):
        engine.historical(ents.drop_columns(["k"]), [v])


def test_missing_timestamp_column(engine: DuckDBEngine, simple: tuple[ViewQuery, pa.Table]) -> None:
    v, ents = simple
    with pytest.raises(SchemaError, match=r"no timestamp column 'when'.*timestamp_column="):
        engine.historical(ents, [v], timestamp_column="when")


@pytest.mark.parametrize(
    ("column", "pattern"),
    [
        (pa.array(["2024-01-01"]), "has type string, not a timestamp; strings are not parsed"),
        (pa.array([datetime(2024, 1, 1).date()]), "has type date32.*ambiguous"),
        (pa.array([1], I64), "has type int64, not a timestamp"),
    ],
)
def test_timestamp_column_of_wrong_type(
    engine: DuckDBEngine, simple: tuple[ViewQuery, pa.Table], column: pa.Array, pattern: str
) -> None:
    v, _ = simple
    ents = pa.table({"k": pa.array([1], I64), "event_timestamp": column})
    with pytest.raises(SchemaError, match=pattern):
        engine.historical(ents, [v])


def test_key_of_incomparable_type(engine: DuckDBEngine, simple: tuple[ViewQuery, pa.Table]) -> None:
    v, _ = simple
    ents = pa.table({"k": ["1"], "event_timestamp": ts_array([at(1)], "UTC")})
    with pytest.raises(SchemaError, match=r"view 'v': entity column 'k' has type string.*int64"):
        engine.historical(ents, [v])


def test_source_column_missing_names_view_column_path(
    engine: DuckDBEngine, simple: tuple[ViewQuery, pa.Table]
) -> None:
    v, ents = simple
    bad = view("v", v.source.path, [("k", I64)], [("conv_rate", pa.float64())])
    with pytest.raises(
        SchemaError,
        match=r"view 'v': column 'conv_rate' not in source .*src_\d+\.parquet "
        r"\(columns: k, ts, created, val\)",
    ):
        engine.historical(ents, [bad])


def test_source_key_type_mismatch(engine: DuckDBEngine, simple: tuple[ViewQuery, pa.Table]) -> None:
    v, _ = simple
    bad = view("v", v.source.path, [("k", pa.string())], [("val", pa.float64())])
    ents = pa.table({"k": ["1"], "event_timestamp": ts_array([at(1)], "UTC")})
    with pytest.raises(
        SchemaError, match=r"key column 'k' has type int64, but the view declares string"
    ):
        engine.historical(ents, [bad])


def test_missing_source_file_and_entity_path(
    engine: DuckDBEngine, simple: tuple[ViewQuery, pa.Table]
) -> None:
    v, ents = simple
    missing = v.source.path.replace(".parquet", "x.parquet")
    bad = view("v", missing, [("k", I64)], [("val", pa.float64())])
    with pytest.raises(
        NotFoundError, match=r"view 'v': no Parquet .* at '.*x\.parquet'; did you mean"
    ):
        engine.historical(ents, [bad])
    with pytest.raises(NotFoundError, match=r"entity frame: no Parquet .*nowhere\.parquet"):
        engine.historical("/nowhere.parquet", [v])
    with pytest.raises(NotFoundError, match="no Parquet"):
        engine.historical(
            ents, [view("v", "/nowhere/*.parquet", [("k", I64)], [("val", pa.float64())])]
        )


def test_an_empty_source_folder_says_so(
    engine: DuckDBEngine, simple: tuple[ViewQuery, pa.Table], tmp_path: Path
) -> None:
    _, ents = simple
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = view("v", str(empty), [("k", I64)], [("val", pa.float64())])
    with pytest.raises(NotFoundError, match=r"the folder .*empty' holds no Parquet file") as info:
        engine.historical(ents, [bad]).to_arrow()
    assert "did you mean" not in str(info.value)  # it suggested the folder itself


def test_bad_sql_and_bad_input_type(
    engine: DuckDBEngine, simple: tuple[ViewQuery, pa.Table]
) -> None:
    v, _ = simple
    with pytest.raises(SchemaError, match=r"entity frame query.*no_such_table"):
        engine.historical("SELECT * FROM no_such_table", [v])
    with pytest.raises(SchemaError, match=r"got builtins\.dict"):
        engine.historical({"k": [1]}, [v])


def test_output_name_clashes(engine: DuckDBEngine, simple: tuple[ViewQuery, pa.Table]) -> None:
    v, ents = simple
    with pytest.raises(SchemaError, match="feature output 'row_id' clashes"):
        engine.historical(
            ents, [view("v", v.source.path, [("k", I64)], [("val", "row_id", pa.float64())])]
        )
    other = view("w", v.source.path, [("k", I64)], [("val", pa.float64())])
    with pytest.raises(SchemaError, match="both views 'v' and 'w'"):
        engine.historical(ents, [v, other])


# --- latest ----------------------------------------------------------------------------------


def test_latest_per_entity_in_inclusive_range(engine: DuckDBEngine, tmp_path: Path) -> None:
    rows = [(1, 10, 5, 1.0), (1, 20, 3, 2.0), (1, 20, 9, 3.0), (1, 20, None, 4.0), (1, 31, 1, 9.0)]
    rows += [(2, 5, 5, 5.0), (2, 10, None, 6.0), (3, 40, 40, 7.0), (None, 15, 15, 8.0)]
    v = view("v", source(tmp_path, rows), [("k", I64)], [("val", "out", pa.float32())])
    start = BASE_NAIVE + timedelta(seconds=5)  # naive: read as UTC
    end = datetime(2024, 1, 1, 0, 0, 30, tzinfo=timezone(timedelta(hours=0)))
    table = engine.latest(v, start, end + timedelta(seconds=0)).read_all().sort_by("k")
    assert table.schema == pa.schema(
        [("k", I64), ("__ts", UTC_US), ("__created", UTC_US), ("out", pa.float32())]
    )
    assert table.to_pylist() == [
        {"k": 1, "__ts": at(20), "__created": at(9), "out": 3.0},
        {"k": 2, "__ts": at(10), "__created": None, "out": 6.0},
    ]
    edge = engine.latest(v, BASE_NAIVE + timedelta(seconds=31), BASE_NAIVE + timedelta(seconds=31))
    assert edge.read_all()["out"].to_pylist() == [9.0]


def test_latest_without_created_column(engine: DuckDBEngine, tmp_path: Path) -> None:
    path = source(tmp_path, [(1, 10, None, 1.0), (1, 12, None, 2.0)])
    v = view("v", path, [("k", I64)], [("val", pa.float64())], created=None)
    table = engine.latest(v, BASE_NAIVE, BASE_NAIVE + timedelta(days=1)).read_all()
    assert table.to_pylist() == [{"k": 1, "__ts": at(12), "__created": None, "val": 2.0}]


BASE_NAIVE = datetime(2024, 1, 1)


# --- engine ----------------------------------------------------------------------------------


def test_settings_are_applied_and_bad_ones_are_config_errors(tmp_path: Path) -> None:
    with DuckDBEngine(memory_limit="1GB", temp_directory=str(tmp_path), threads=1) as eng:
        cur = eng.cursor()
        settings = dict(
            cur.sql(
                "SELECT name, value FROM duckdb_settings() WHERE name IN "
                "('threads', 'temp_directory', 'TimeZone', 'memory_limit')"
            ).fetchall()
        )
        cur.close()
    assert settings["threads"] == "1" and settings["temp_directory"] == str(tmp_path)
    assert settings["TimeZone"] == "UTC" and settings["memory_limit"].startswith("9")
    with pytest.raises(ConfigError, match="memory_limit"):
        DuckDBEngine(memory_limit="lots").cursor()


def test_import_is_lazy() -> None:
    code = (
        "import sys, pitstore.offline.duckdb; "
        "print(sorted(m for m in ('duckdb', 'pyarrow', 'pandas', 'polars') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_utc_constant() -> None:
    assert at(0) == datetime(2024, 1, 1, tzinfo=UTC)


# --- the ends of the calendar ----------------------------------------------------------------

FIRST = datetime(1, 1, 1, tzinfo=UTC)
LAST = datetime(9999, 12, 31, 23, 59, tzinfo=UTC)


def _edge_source(tmp_path: Path, unit: str, stamps: list[datetime]) -> str:
    table = pa.table(
        {
            "k": pa.array([1] * len(stamps), I64),
            "ts": pa.array(stamps, pa.timestamp(unit, tz="UTC")),
            "val": pa.array([float(i + 1) for i in range(len(stamps))], pa.float64()),
        }
    )
    return write_parquet(tmp_path, table)


def _edge_vals(
    engine: DuckDBEngine, path: str, when: list[datetime], ttl: timedelta | None = None
) -> list[Any]:
    v = view("v", path, [("k", I64)], [("val", pa.float64())], created=None, ttl=ttl)
    ents = pa.table(
        {"k": pa.array([1] * len(when), I64), "event_timestamp": pa.array(when, UTC_US)}
    )
    return list(engine.historical(ents, [v]).to_arrow()["val"].to_pylist())


def test_rows_at_the_ends_of_the_calendar_are_found(engine: DuckDBEngine, tmp_path: Path) -> None:
    # the pruning bounds were clamped to 0001-01-02 and 9999-12-31 00:00: rows beyond were lost
    path = _edge_source(tmp_path, "us", [FIRST, LAST])
    end = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert _edge_vals(engine, path, [end, FIRST]) == [2.0, 1.0]
    assert _edge_vals(engine, path, [FIRST], ttl=timedelta(days=1)) == [1.0]
    v = view("v", path, [("k", I64)], [("val", pa.float64())], created=None)
    assert engine.latest(v, datetime(1, 1, 1), end).read_all()["val"].to_pylist() == [2.0]


def test_a_nanosecond_source_takes_bounds_it_cannot_hold(
    engine: DuckDBEngine, tmp_path: Path
) -> None:
    # a bound past 2262 (or before 1677) was cast to TIMESTAMP_NS: a conversion error
    stamps = [datetime(2000, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)]
    path = _edge_source(tmp_path, "ns", stamps)
    far = datetime(2300, 1, 1, tzinfo=UTC)
    assert _edge_vals(engine, path, [far, datetime(2100, 1, 1, tzinfo=UTC)]) == [2.0, 1.0]
    assert _edge_vals(engine, path, [far], ttl=timedelta(days=400 * 365)) == [2.0]
    v = view("v", path, [("k", I64)], [("val", pa.float64())], created=None)
    assert engine.latest(v, datetime(1, 1, 1), far).read_all()["val"].to_pylist() == [2.0]


def test_entity_frames_arrow_cannot_read_or_with_a_repeated_column_are_clear_errors(
    engine: DuckDBEngine, simple: tuple[ViewQuery, pa.Table]
) -> None:
    v, ents = simple
    frame = ents.to_pandas()
    frame["label"] = [1, "x", None][: len(frame)] + [None] * (len(frame) - 3)
    with pytest.raises(SchemaError, match=r"cannot be read as Arrow.*label"):
        engine.historical(frame, [v])
    twice = pa.Table.from_arrays([*ents.columns, ents["k"]], names=[*ents.column_names, "k"])
    with pytest.raises(SchemaError, match="'k' more than once"):
        engine.historical(twice, [v]).to_arrow()


def test_a_feature_stored_in_a_type_its_declaration_would_change_is_refused(
    engine: DuckDBEngine, tmp_path: Path
) -> None:
    stamps = [datetime(2024, 1, 1, tzinfo=UTC)] * 2
    table = pa.table(
        {
            "k": pa.array([1, 2], I64),
            "ts": pa.array(stamps, UTC_US),
            "half": pa.array([1.5, 2.5], pa.float64()),
            "word": pa.array(["1", "x"], pa.string()),
            "whole": pa.array([1, 2], I64),
            "nothing": pa.nulls(2),
            "dec0": pa.array([12345, 7], pa.decimal128(18, 0)),
            "dec2": pa.array([1, 2], pa.decimal128(10, 2)),
            "day": pa.array([datetime(2023, 1, 1).date()] * 2, pa.date32()),
            "flag": pa.array([True, False]),
        }
    )
    path = write_parquet(tmp_path, table)
    ents = pa.table({"k": pa.array([1, 2], I64), "event_timestamp": pa.array(stamps, UTC_US)})

    def read(column: str, declared: pa.DataType) -> list[Any]:
        v = view("v", path, [("k", I64)], [(column, declared)], created=None)
        return list(engine.historical(ents, [v]).to_arrow()[column].to_pylist())

    # 1.5 and 2.5 were read as 2 and 2; "x" failed in the middle of the join
    for column, declared in (("half", I64), ("word", pa.float64()), ("dec2", I64)):
        with pytest.raises(SchemaError, match=f"'{column}' is stored as .*declare the type"):
            read(column, declared)
    # reads that keep each value's meaning, as before the check
    assert read("whole", pa.float64()) == [1.0, 2.0]
    assert read("whole", pa.int32()) == [1, 2]  # narrowing within a family: values checked
    assert read("half", pa.float32()) == [1.5, 2.5]
    assert read("nothing", I64) == [None, None]
    assert read("dec0", I64) == [12345, 7]  # Spark reads a uint64 column as decimal(20, 0)
    assert read("day", UTC_US) == [datetime(2023, 1, 1, tzinfo=UTC)] * 2
    assert read("whole", pa.bool_()) == [True, True]
    assert read("flag", I64) == [1, 0]
    assert read("whole", pa.string()) == ["1", "2"]


def test_ties_and_ttls_at_the_ends_of_the_calendar(engine: DuckDBEngine, tmp_path: Path) -> None:
    # Ties on (ts, created) go to the row read last; a null created ranks lowest; TTL floors
    # and entity times at the ends of the calendar.
    tied = datetime(2024, 1, 1, tzinfo=UTC)
    table = pa.table(
        {
            "k": pa.array([1, 1, 1, 1, 1, 2], I64),
            "ts": pa.array([FIRST, LAST, tied, tied, tied, FIRST], UTC_US),
            "created": pa.array([LAST, FIRST, tied, None, tied, None], UTC_US),
            "val": pa.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], pa.float64()),
        }
    )
    path = write_parquet(tmp_path, table)
    when = [FIRST, tied, LAST, FIRST, tied]
    ents = pa.table(
        {"k": pa.array([1, 1, 1, 2, 2], I64), "event_timestamp": pa.array(when, UTC_US)}
    )
    v = view("v", path, [("k", I64)], [("val", pa.float64())])
    # at ``tied``: rows 3 and 5 tie on (ts, created) above row 4 (null created): 5 is read last
    assert engine.historical(ents, [v]).to_arrow()["val"].to_pylist() == [1.0, 5.0, 2.0, 6.0, 6.0]
    fresh = view("v", path, [("k", I64)], [("val", pa.float64())], ttl=timedelta(days=1))
    got = engine.historical(ents, [fresh]).to_arrow()["val"].to_pylist()
    assert got == [1.0, 5.0, 2.0, 6.0, None]
    assert engine.latest(v, FIRST, LAST).read_all().sort_by("k")["val"].to_pylist() == [2.0, 6.0]
    assert engine.latest(v, FIRST, tied).read_all().sort_by("k")["val"].to_pylist() == [5.0, 6.0]


def test_source_columns_named_like_the_engines_own_are_read(
    engine: DuckDBEngine, tmp_path: Path
) -> None:
    # materialization joined the source with columns of its own names: a source column of
    # the same name was an ambiguous reference
    table = pa.table(
        {
            "__pitstore_k0": pa.array([1, 1, 2], I64),
            "__pitstore_ts": ts_array([at(0), at(5), at(1)], "UTC"),
            "__pitstore_c": ts_array([at(0), at(0), at(0)], "UTC"),
            "__pitstore_v0": pa.array([1.0, 2.0, 3.0], pa.float64()),
        }
    )
    path = write_parquet(tmp_path, table)
    v = view(
        "v",
        path,
        [("__pitstore_k0", I64)],
        [("__pitstore_v0", pa.float64())],
        ts="__pitstore_ts",
        created="__pitstore_c",
    )
    latest = engine.latest(v, at(0), at(9)).read_all().sort_by("__pitstore_k0")  # type: ignore[arg-type]
    assert latest["__pitstore_v0"].to_pylist() == [2.0, 3.0]


def test_a_folder_is_read_with_its_subfolders_in_path_order(
    engine: DuckDBEngine, tmp_path: Path
) -> None:
    # DuckDB alone read the files of a folder before its subfolders', *.parquet files only,
    # and _temporary/ (a Spark job's unfinished output) with them
    expected = nested_folder(tmp_path / "nested")
    keys = sorted(expected)
    ents = entities(keys, [90.0] * len(keys))
    folder = str(tmp_path / "nested")
    assert vals(engine, ents, folder) == [expected[k] for k in keys]
    v = view("v", folder, [("k", I64)], [("val", pa.float64())])
    latest = engine.latest(v, BASE, BASE + timedelta(hours=1)).read_all()
    assert dict(zip(latest["k"].to_pylist(), latest["val"].to_pylist(), strict=True)) == {
        k: val for k, val in expected.items() if val is not None
    }
    # the same files in a glob, and the folder as an entity frame: rows in file order
    assert vals(engine, ents, str(tmp_path / "nested" / "**")) == [expected[k] for k in keys]
    frame = tmp_path / "frame"
    (frame / "a").mkdir(parents=True)
    pq.write_table(ents.slice(3), frame / "b.parquet")
    pq.write_table(ents.slice(0, 3), frame / "a" / "x.parquet")
    got = engine.historical(str(frame), [v]).to_arrow()
    assert got["row_id"].to_pylist() == list(range(len(keys)))  # a/x.parquet, then b.parquet


def test_folder_names_add_no_column(engine: DuckDBEngine, tmp_path: Path) -> None:
    # DuckDB read date=... as a column (Spark too, but not for every layout, and typed its own
    # way): a column comes from the files only
    folder = tmp_path / "hive"
    for day in ("2026-01-01", "2026-01-02"):
        (folder / f"date={day}").mkdir(parents=True)
        source(folder / f"date={day}", [(1, 10, 10, 1.0)])
    v = view("v", str(folder), [("k", I64)], [("date", pa.date32())])
    with pytest.raises(SchemaError, match=r"'date'"):
        engine.historical(entities([1], [20]), [v]).to_arrow()
