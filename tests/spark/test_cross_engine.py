"""DuckDB and Spark give identical results, row by row, on generated data.

The data has what breaks point-in-time joins: ties on ts broken by created (nulls lowest), entity
timestamps exactly at a source row's ts and at ts + TTL, unknown and null keys, null entity
timestamps, duplicated entity rows, a composite key and three views with different TTLs. Each
(key, ts, created) is unique, so there is exactly one right answer and the engines must agree.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from offline import nanos
from offline.helpers import BASE, UTC_US, at, nested_folder, ts_array, view, write_parquet
from pitstore.errors import SchemaError
from pitstore.offline.base import AggregateSpec, FeatureColumn, ViewQuery
from pitstore.offline.duckdb import DuckDBEngine
from pitstore.offline.spark import SparkEngine

pytestmark = pytest.mark.spark

I64 = pa.int64()
KEYS = list(range(1, 41))


def _source(rng: random.Random, rows: int, composite: bool, created: bool) -> pa.Table:
    seen: set[tuple[object, ...]] = set()
    data: dict[str, list[object]] = {"k": [], "s": [], "ts": [], "created": []}
    while len(data["k"]) < rows:
        k = rng.choice([*KEYS, None]) if rng.random() < 0.02 else rng.choice(KEYS)
        s = rng.choice(["a", "b"]) if composite else None
        ts = rng.randrange(0, 600) * 10  # 10 s steps over 100 min: many ties on ts
        c = rng.choice([None, ts, ts + 1, ts + 5, ts - 3]) if created else None
        if (k, s, ts, c) in seen:
            continue
        seen.add((k, s, ts, c))
        for name, value in zip(data, (k, s, ts, c), strict=True):
            data[name].append(value)
    n = len(data["k"])
    columns: dict[str, pa.Array] = {"k": pa.array(data["k"], I64)}
    if composite:
        columns["s"] = pa.array(data["s"], pa.string())
    columns["ts"] = ts_array([at(t) for t in data["ts"]], "UTC")  # type: ignore[arg-type]
    if created:
        columns["created"] = ts_array([at(c) for c in data["created"]], None)  # type: ignore[arg-type]
    columns["val"] = pa.array([i * 1.5 for i in range(n)], pa.float64())
    columns["label"] = pa.array([f"row{i}" for i in range(n)], pa.string())
    return pa.table(columns)


def _entities(rng: random.Random, sources: list[pa.Table], rows: int) -> pa.Table:
    stamps = [t.timestamp() - BASE.timestamp() for src in sources for t in src["ts"].to_pylist()]
    keys, ss, times = [], [], []
    for _ in range(rows):
        keys.append(rng.choice([*KEYS, 999, None]))
        ss.append(rng.choice(["a", "b", "zz", None]))
        kind = rng.random()
        if kind < 0.3:  # exactly at a source ts, or at ts + one of the TTLs (inclusive edges)
            times.append(rng.choice(stamps) + rng.choice([0, 0, 60, 1800]))
        elif kind < 0.33:
            times.append(None)
        else:
            times.append(rng.uniform(-100, 6500))
    table = pa.table(
        {
            "row_id": pa.array(range(rows), I64),
            "k": pa.array(keys, pa.int32()),
            "s": pa.array(ss, pa.string()),
            "event_timestamp": ts_array([at(t) for t in times], "Europe/Paris"),
        }
    )
    dup = [rng.randrange(rows) for _ in range(rows // 50)]
    return pa.concat_tables([table, table.take(dup)])


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[ViewQuery], pa.Table, Path]:
    rng = random.Random(20240101)
    folder = tmp_path_factory.mktemp("cross")
    sources = [
        _source(rng, 3000, composite=False, created=True),
        _source(rng, 2000, composite=True, created=False),
        _source(rng, 3000, composite=False, created=True),
    ]
    paths = [write_parquet(folder, s) for s in sources]
    views = [
        view(
            "a",
            paths[0],
            [("k", I64)],
            [("val", "a_val", pa.float32()), ("ts", "a_ts", UTC_US)],
            ttl=timedelta(seconds=60),
        ),
        view(
            "b",
            paths[1],
            [("k", I64), ("s", pa.string())],
            [("label", "b_label", pa.string())],
            created=None,
        ),
        view(
            "c",
            paths[2],
            [("k", I64)],
            [("val", "c_val", pa.float64()), ("created", "c_created", UTC_US)],
            ttl=timedelta(minutes=30),
        ),
    ]
    return views, _entities(rng, sources, 4000), folder


@pytest.fixture(scope="module")
def duck() -> Iterator[DuckDBEngine]:
    with DuckDBEngine(threads=1) as engine:
        yield engine


def test_historical_is_identical_for_every_strategy(
    data: tuple[list[ViewQuery], pa.Table, Path], duck: DuckDBEngine, spark_engine: SparkEngine
) -> None:
    views, entities, _ = data
    expected = duck.historical(entities, views).to_arrow()
    assert expected["a_val"].null_count < expected.num_rows  # the data does produce matches
    for strategy in ("auto", "join", "union"):
        engine = SparkEngine(spark=spark_engine.session(), strategy=strategy)
        got = engine.historical(entities, views).to_arrow()
        assert got.schema == expected.schema
        assert got.to_pylist() == expected.to_pylist(), strategy


def test_parquet_input_and_output_are_identical(
    data: tuple[list[ViewQuery], pa.Table, Path], duck: DuckDBEngine, spark_engine: SparkEngine
) -> None:
    views, entities, folder = data
    # Several files and row groups, so that Spark's partition order differs from file order.
    parts = folder / "entity_parts"
    parts.mkdir()
    half = entities.num_rows // 2
    pq.write_table(entities.slice(0, half), parts / "p0.parquet", row_group_size=500)
    pq.write_table(entities.slice(half), parts / "p1.parquet", row_group_size=500)
    spark = spark_engine.session()
    spark.conf.set("spark.sql.files.maxPartitionBytes", "8192")
    try:
        got = spark_engine.historical(str(parts), views)
        expected = duck.historical(str(parts / "*.parquet"), views)
        assert got.to_arrow().to_pylist() == expected.to_arrow().to_pylist()
        got.to_parquet(str(folder / "spark_out"))
        expected.to_parquet(str(folder / "duck_out.parquet"))
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
    written = pq.read_table(folder / "spark_out")
    assert written.to_pylist() == pq.read_table(folder / "duck_out.parquet").to_pylist()


def test_latest_is_identical(
    data: tuple[list[ViewQuery], pa.Table, Path], duck: DuckDBEngine, spark_engine: SparkEngine
) -> None:
    views, _, _ = data
    for v in views:
        for start, end in [(at(-10), at(7000)), (at(1000), at(1000)), (at(2000), at(4005))]:
            assert start is not None and end is not None
            want = duck.latest(v, start, end).read_all()
            got = spark_engine.latest(v, start, end).read_all()
            order = [(k, "ascending") for k in v.join_keys]
            assert got.schema == want.schema, v.name
            assert got.sort_by(order).to_pylist() == want.sort_by(order).to_pylist(), v.name


def test_exact_ties_go_to_the_row_read_last_on_both_engines(
    tmp_path: Path, spark_engine: SparkEngine
) -> None:
    # rows equal in key, ts and created: files in path order, rows in file order, the last wins
    rng = random.Random(7)
    rows = [(k, copy) for k in range(1, 31) for copy in range(rng.randint(2, 4))]
    rng.shuffle(rows)
    folder = tmp_path / "ties"
    folder.mkdir()
    thirds = [rows[i::3] for i in range(3)]
    last: dict[int, float] = {}
    for n, part in enumerate(thirds):
        table = pa.table(
            {
                "k": pa.array([k for k, _ in part], I64),
                "ts": ts_array([at(60.0)] * len(part), "UTC"),
                "created": ts_array([at(30.0)] * len(part), "UTC"),
                "val": pa.array([k * 10.0 + c for k, c in part], pa.float64()),
            }
        )
        pq.write_table(table, folder / f"part-{n}.parquet", row_group_size=5)
        last.update({k: k * 10.0 + c for k, c in part})  # files in order, rows in order
    path = str(folder / "*.parquet")
    keys = sorted(last)
    entities = pa.table(
        {"k": pa.array(keys, I64), "event_timestamp": ts_array([at(90.0)] * len(keys), "UTC")}
    )
    expected = [last[k] for k in keys]
    with DuckDBEngine() as duck:  # several threads: the answer must not depend on them
        for ttl in (None, timedelta(hours=1)):  # Spark: union without a TTL, join with one
            v = view("v", path, [("k", I64)], [("val", pa.float64())], ttl=ttl)
            assert duck.historical(entities, [v]).to_arrow()["val"].to_pylist() == expected
            for strategy in ("join", "union"):
                engine = SparkEngine(spark=spark_engine.session(), strategy=strategy)
                got = engine.historical(entities, [v]).to_arrow()["val"].to_pylist()
                assert got == expected, (strategy, ttl)
        v = view("v", path, [("k", I64)], [("val", pa.float64())])
        window = (BASE, BASE + timedelta(hours=1))
        for engine_ in (duck, spark_engine):
            latest = engine_.latest(v, *window).read_all().sort_by("k")
            assert latest["val"].to_pylist() == expected, type(engine_).__name__


def _tied_file(path: Path, value: float, extra: dict[str, pa.Array] | None = None) -> None:
    columns = {
        "k": pa.array([1], I64),
        "ts": ts_array([at(60.0)], "UTC"),
        "created": ts_array([at(30.0)], "UTC"),
        "val": pa.array([value], pa.float64()),
        **(extra or {}),
    }
    pq.write_table(pa.table(columns), path)


def test_file_names_sort_as_text_on_both_engines(tmp_path: Path, spark_engine: SparkEngine) -> None:
    # Spark lists "a b.parquet" as "a%20b.parquet": sorted as URIs, it came after "a!.parquet"
    _tied_file(tmp_path / "a b.parquet", 1.0)
    _tied_file(tmp_path / "a!.parquet", 2.0)  # "!" sorts after " ": read last, wins
    v = view("v", str(tmp_path / "*.parquet"), [("k", I64)], [("val", pa.float64())])
    entities = pa.table({"k": pa.array([1], I64), "event_timestamp": ts_array([at(90.0)], "UTC")})
    with DuckDBEngine() as duck:
        assert duck.historical(entities, [v]).to_arrow()["val"].to_pylist() == [2.0]
    assert spark_engine.historical(entities, [v]).to_arrow()["val"].to_pylist() == [2.0]


def test_source_columns_named_like_engine_columns(
    tmp_path: Path, spark_engine: SparkEngine
) -> None:
    entities = pa.table({"k": pa.array([1], I64), "event_timestamp": ts_array([at(90.0)], "UTC")})
    # a real _metadata column must not hide Spark's hidden one (an AnalysisException)
    _tied_file(tmp_path / "meta.parquet", 3.0, {"_metadata": pa.array(["x"])})
    v = view("v", str(tmp_path / "meta.parquet"), [("k", I64)], [("val", pa.float64())])
    assert spark_engine.historical(entities, [v]).to_arrow()["val"].to_pylist() == [3.0]
    # file_index / file_row_number would hide DuckDB's place of a row: refused by both
    _tied_file(tmp_path / "place.parquet", 4.0, {"file_index": pa.array([5], I64)})
    v = view("v", str(tmp_path / "place.parquet"), [("k", I64)], [("val", pa.float64())])
    with DuckDBEngine() as duck:
        for engine in (duck, spark_engine):
            with pytest.raises(SchemaError, match=r"'file_index'.*rename the column"):
                engine.historical(entities, [v]).to_arrow()


AGES = [timedelta(days=1, microseconds=5), None, timedelta(seconds=-3)]


def test_durations_are_written_as_the_same_microseconds(
    tmp_path: Path, duck: DuckDBEngine, spark_engine: SparkEngine
) -> None:
    # Parquet has no duration type: both write INT64 microseconds (pitstore.offline.parquet);
    # DuckDB wrote a Parquet INTERVAL, which pyarrow read as 12 bytes of milliseconds.
    _tied_file(tmp_path / "src.parquet", 1.0)
    v = view("v", str(tmp_path / "src.parquet"), [("k", I64)], [("val", pa.float64())])
    entities = pa.table(
        {
            "row_id": pa.array([0, 1, 2], I64),
            "k": pa.array([1, 1, 2], I64),
            "event_timestamp": ts_array([at(90.0)] * 3, "UTC"),
        }
    )
    path = write_parquet(tmp_path, entities, "ents")
    duck_age = "INTERVAL 1 DAY + INTERVAL 5 MICROSECOND WHEN 2 THEN INTERVAL '-3 seconds'"
    spark_age = "INTERVAL 1 DAY + INTERVAL '0.000005' SECOND WHEN 2 THEN INTERVAL '-3' SECOND"
    inputs = [
        (entities.append_column("age", pa.array(AGES, pa.duration("ns"))),) * 2,
        tuple(
            f"SELECT *, CASE row_id WHEN 0 THEN {age} END AS age FROM {table}"
            for age, table in (
                (duck_age, f"read_parquet('{path}')"),
                (spark_age, f"parquet.`{path}`"),
            )
        ),
    ]
    for duck_input, spark_input in inputs:
        duck_job = duck.historical(duck_input, [v])
        spark_job = spark_engine.historical(spark_input, [v])
        assert duck_job.to_arrow()["age"].to_pylist() == AGES
        assert spark_job.to_arrow()["age"].to_pylist() == AGES
        duck_job.to_parquet(str(tmp_path / "duck.parquet"))
        spark_job.to_parquet(str(tmp_path / "spark_out"))
        duck_file = pq.read_table(tmp_path / "duck.parquet")
        assert duck_file["age"].to_pylist() == AGES  # with Arrow's schema: durations
        micros = pq.read_table(tmp_path / "spark_out")["age"]  # Spark's: int64 microseconds
        assert micros.to_pylist() == duck_file["age"].cast(I64).to_pylist()
        assert micros.to_pylist() == [86_400_000_005, None, -3_000_000]


def test_a_folder_with_subfolders_reads_alike_on_both_engines(
    tmp_path: Path, spark_engine: SparkEngine
) -> None:
    # DuckDB read a folder's own files before its subfolders' and *.parquet files only (and
    # _temporary/); Spark read the top level only, or with date=... subfolders, these alone
    expected = nested_folder(tmp_path / "nested")
    folder = str(tmp_path / "nested")
    keys = sorted(expected)
    entities = pa.table(
        {
            "row_id": pa.array(range(len(keys)), I64),
            "k": pa.array(keys, I64),
            "event_timestamp": ts_array([at(90.0)] * len(keys), "UTC"),
        }
    )
    want = [expected[k] for k in keys]
    with DuckDBEngine() as duck:
        for ttl in (None, timedelta(hours=1)):  # Spark: union without a TTL, join with one
            v = view("v", folder, [("k", I64)], [("val", pa.float64())], ttl=ttl)
            assert duck.historical(entities, [v]).to_arrow()["val"].to_pylist() == want
            for strategy in ("join", "union"):
                engine = SparkEngine(spark=spark_engine.session(), strategy=strategy)
                got = engine.historical(entities, [v]).to_arrow()["val"].to_pylist()
                assert got == want, (strategy, ttl)
        v = view("v", folder, [("k", I64)], [("val", pa.float64())])
        window = (BASE, BASE + timedelta(hours=1))
        latest = {k: val for k, val in expected.items() if val is not None}
        for engine_ in (duck, spark_engine):
            got = engine_.latest(v, *window).read_all()
            pairs = zip(got["k"].to_pylist(), got["val"].to_pylist(), strict=True)
            assert dict(pairs) == latest, type(engine_).__name__
        _same_events(duck, spark_engine, folder, entities)
        _same_entity_order(duck, spark_engine, tmp_path, entities, v)


def _same_events(
    duck: DuckDBEngine, spark_engine: SparkEngine, folder: str, entities: pa.Table
) -> None:
    """An aggregated view's lists and ``last`` (the row read last wins a tie) agree."""
    import dataclasses

    base = view("agg", folder, [("k", I64)], [])
    features = (
        FeatureColumn("val", "val_last", pa.float64()),
        FeatureColumn("val", "val_count", I64),
    )
    hour = 3_600_000_000
    agg = dataclasses.replace(
        base,
        features=features,
        aggregations=(AggregateSpec("last", hour), AggregateSpec("count", hour)),
    )
    want = duck.historical(entities, [agg]).to_arrow()
    assert want["val_last"].to_pylist() == [10.0, 22.0, 32.0, 40.0, None, 61.0]
    assert want["val_count"].to_pylist() == [3, 2, 3, 1, 0, 2]
    assert spark_engine.historical(entities, [agg]).to_arrow().to_pylist() == want.to_pylist()
    end = BASE + timedelta(minutes=30)
    lists = duck.events(agg, end).read_all().sort_by("k")
    assert spark_engine.events(agg, end).read_all().sort_by("k").to_pylist() == lists.to_pylist()


def _same_entity_order(
    duck: DuckDBEngine, spark_engine: SparkEngine, tmp_path: Path, entities: pa.Table, v: ViewQuery
) -> None:
    """An entity frame in a folder with subfolders: rows in file order on both engines."""
    frame = tmp_path / "frame"
    (frame / "a" / "date=1").mkdir(parents=True)
    pq.write_table(entities.slice(4), frame / "b.parquet")  # after a/...: "a/" < "b."
    pq.write_table(entities.slice(2, 2), frame / "a" / "y.parquet")
    pq.write_table(entities.slice(0, 2), frame / "a" / "date=1" / "x.parquet")
    pq.write_table(entities.slice(0, 1), frame / "a" / "_x.parquet")  # not read
    want = duck.historical(str(frame), [v]).to_arrow()
    assert want["row_id"].to_pylist() == list(range(entities.num_rows))
    assert want.column_names == ["row_id", "k", "event_timestamp", "val"]  # no date column
    assert spark_engine.historical(str(frame), [v]).to_arrow().to_pylist() == want.to_pylist()


def test_file_names_with_glob_characters_are_read_as_themselves(
    tmp_path: Path, spark_engine: SparkEngine
) -> None:
    # each file is named to the engines one by one: a [, {, * or ? in it must not glob
    names = ["x*.parquet", "x?.parquet", "x[1].parquet", "x{2}.parquet"]  # in path order
    for n, name in enumerate(names):
        _tied_file(tmp_path / name, float(n), {"k": pa.array([1], I64)})
        (tmp_path / f"only_{n}").mkdir()
        _tied_file(tmp_path / f"only_{n}" / name, 10.0 + n, {"k": pa.array([2 + n], I64)})
    keys = [1, 2, 3, 4, 5]
    entities = pa.table(
        {"k": pa.array(keys, I64), "event_timestamp": ts_array([at(90.0)] * len(keys), "UTC")}
    )
    v = view("v", str(tmp_path), [("k", I64)], [("val", pa.float64())])
    want = [3.0, 10.0, 11.0, 12.0, 13.0]  # x{2}.parquet, read last, wins the tie
    with DuckDBEngine() as duck:
        assert duck.historical(entities, [v]).to_arrow()["val"].to_pylist() == want
    assert spark_engine.historical(entities, [v]).to_arrow()["val"].to_pylist() == want


def test_nanoseconds_are_floored_on_both_engines(
    tmp_path: Path, duck: DuckDBEngine, spark_engine: SparkEngine
) -> None:
    # Spark reads a nanosecond Parquet column as int64 and divided it with div (toward zero):
    # -1 ns was 0 us, where DuckDB and the in-memory frames now floor it to -1 us
    views = nanos.views(tmp_path)
    inputs: list[object] = [nanos.entity_table(), nanos.entity_table().to_pandas()]
    inputs += [write_parquet(tmp_path, nanos.entity_table(z), "ents") for z in ("UTC", None)]
    for entities in inputs:
        for strategy in ("join", "union"):
            engine = SparkEngine(spark=spark_engine.session(), strategy=strategy)
            got = engine.historical(entities, views).to_arrow()
            assert {n: got[n].to_pylist() for n in nanos.expected()} == nanos.expected(), strategy
    agg = nanos.aggregated_view(tmp_path)
    for entities in [nanos.event_entities(), write_parquet(tmp_path, nanos.event_entities())]:
        got = spark_engine.historical(entities, [agg]).to_arrow()
        assert {n: got[n].to_pylist() for n in nanos.EXPECTED_AGGREGATES} == (
            nanos.EXPECTED_AGGREGATES
        )
    start, end = BASE.replace(year=1969), nanos._instant(nanos.T_US + 1)
    for v in views:
        for window in [(start, BASE.replace(year=2027)), (start, end)]:
            want = duck.latest(v, *window).read_all().sort_by("k")
            assert spark_engine.latest(v, *window).read_all().sort_by("k") == want, v.name
    want = duck.events(agg, end).read_all()
    assert spark_engine.events(agg, end).read_all().to_pylist() == want.to_pylist()


def test_lists_of_nanosecond_timestamps_are_floored_on_both_engines(
    tmp_path: Path, duck: DuckDBEngine, spark_engine: SparkEngine
) -> None:
    # Spark reads nested nanoseconds as int64 and cast array<bigint> to array<timestamp>,
    # reading each number as seconds (no error); DuckDB floors each element to the microsecond
    stamps = [[1_700_000_000_123_456_789, -1], [None, 5], None]
    want_us = [[1_700_000_000_123_456, -1], [None, 0], None]
    ts = ts_array([BASE, BASE, BASE], "UTC")
    for zone in ("UTC", None):
        for kind in ("list", "fixed"):
            ns, us = pa.timestamp("ns", tz=zone), pa.timestamp("us", tz=zone)
            make = (lambda t: pa.list_(t)) if kind == "list" else (lambda t: pa.list_(t, 2))
            source = pa.table({"k": pa.array([1, 2, 3]), "ts": ts, "l": pa.array(stamps, make(ns))})
            path = write_parquet(tmp_path, source, f"l-{kind}-{zone}")
            v = view("v", path, [("k", pa.int64())], [("l", make(us))], created=None)
            # a push source: a log beside the batch file, read as a second path and united
            log = write_parquet(tmp_path, source.slice(0, 1), f"log-{kind}-{zone}")
            pushed = ViewQuery(
                name="p",
                source=dataclasses.replace(v.source, extra_paths=(log,)),
                join_keys=v.join_keys,
                key_types=v.key_types,
                features=v.features,
            )
            ents = pa.table({"k": [1, 2, 3], "event_timestamp": ts_array([at(5)] * 3, "UTC")})
            want = pa.array(want_us, make(pa.int64())).cast(make(us)).to_pylist()
            assert duck.historical(ents, [v]).to_arrow()["l"].to_pylist() == want
            for strategy in ("join", "union"):
                engine = SparkEngine(spark=spark_engine.session(), strategy=strategy)
                for one in (v, pushed):
                    got = engine.historical(ents, [one]).to_arrow()["l"].to_pylist()
                    assert got == want, (kind, zone, strategy, one.name)
            for one in (v, pushed):
                latest = spark_engine.latest(one, BASE, BASE).read_all().sort_by("k")
                assert latest["l"].to_pylist() == want, (kind, zone, one.name)
                assert latest == duck.latest(one, BASE, BASE).read_all().sort_by("k")


def test_a_list_of_int64_is_refused_for_a_list_of_timestamps(
    tmp_path: Path, duck: DuckDBEngine, spark_engine: SparkEngine
) -> None:
    source = pa.table({"k": [1], "ts": ts_array([BASE], "UTC"), "l": [[1, 2]]})
    v = view(
        "v",
        write_parquet(tmp_path, source),
        [("k", pa.int64())],
        [("l", pa.list_(UTC_US))],
        created=None,
    )
    ents = pa.table({"k": [1], "event_timestamp": ts_array([at(5)], "UTC")})
    for engine in (duck, spark_engine):
        with pytest.raises(SchemaError, match=r"'l' is stored as list<.*int64>.*declares list"):
            engine.historical(ents, [v]).to_arrow()


@pytest.mark.parametrize(
    "key_type",
    [pa.uint8(), pa.uint16(), pa.uint32(), pa.uint64(), pa.string_view(), pa.binary_view()],
)
def test_unsigned_and_view_entity_columns_are_shipped_to_spark(
    tmp_path: Path, duck: DuckDBEngine, spark_engine: SparkEngine, key_type: pa.DataType
) -> None:
    """Key and label types the shared key check accepts and DuckDB joins (unsigned ints,
    string_view, binary_view) work on Spark, which has none of them: the labels keep their
    values (and their own type in to_arrow)."""
    import pyarrow.types as pat

    kind = "integer" if pat.is_integer(key_type) else str(key_type).split("_")[0]
    raw = {"integer": [1, 2, 3], "string": ["a", "b", "c"], "binary": [b"a", b"b", b"c"]}[kind]
    source_type = {"integer": I64, "string": pa.string(), "binary": pa.binary()}[kind]
    events = pa.table(
        {
            "k": pa.array(raw[:2], source_type),
            "ts": pa.array([at(0), at(0)], UTC_US),
            "x": [1.0, 2.0],
        }
    )
    v = view(
        "v",
        write_parquet(tmp_path, events),
        [("k", source_type)],
        [("x", pa.float64())],
        created=None,
    )
    entities = pa.table(
        {
            "k": pa.array(raw, key_type),
            "event_timestamp": pa.array([at(10)] * 3, UTC_US),
            "label": pa.array(raw, key_type),
        }
    )
    want = duck.historical(entities, [v]).to_arrow()
    assert want["x"].to_pylist() == [1.0, 2.0, None]
    for strategy in ("join", "union"):
        engine = SparkEngine(spark=spark_engine.session(), strategy=strategy)
        assert engine.historical(entities, [v]).to_arrow().equals(want), strategy
    out = str(tmp_path / "out")
    spark_engine.historical(entities, [v]).to_parquet(out)
    written = pq.read_table(out)
    assert written["label"].to_pylist() == raw
    assert written["x"].to_pylist() == [1.0, 2.0, None]


def test_a_uint64_entity_column_above_int64_is_a_schema_error(
    tmp_path: Path, spark_engine: SparkEngine
) -> None:
    events = pa.table({"k": pa.array([1], I64), "ts": pa.array([at(0)], UTC_US), "x": [1.0]})
    v = view(
        "v", write_parquet(tmp_path, events), [("k", I64)], [("x", pa.float64())], created=None
    )
    entities = pa.table(
        {"k": pa.array([1, 2**64 - 1], pa.uint64()), "event_timestamp": [at(10), at(10)]}
    )
    with pytest.raises(SchemaError, match="'k' is uint64 with a value"):
        spark_engine.historical(entities, [v]).to_arrow()
