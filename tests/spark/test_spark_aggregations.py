"""Aggregated views on Spark: DuckDB and Spark agree row by row, and on ``events()`` lists.

The DuckDB engine is checked against a Python oracle in tests/test_aggregations.py; here it is
the reference for the Spark engine. The data has what breaks windowed aggregations: ties on ts
broken by created (null lowest), entity times exactly at an event and at the window's open end,
empty windows, null values, unknown and null keys, null entity times, events with a null ts or
key, several windows per input, a timestamp input, a narrower entity key type. Each
(key, ts, created) is unique, so ``last`` has one right answer.

Float sums and means may differ in the last bits (summation order): compared within 1e-9.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from offline.helpers import UTC_US, at, ts_array, view, write_parquet
from pitstore.errors import PitstoreError, SchemaError
from pitstore.offline.base import AggregateSpec, FeatureColumn, SourceSpec, ViewQuery
from pitstore.offline.duckdb import DuckDBEngine
from pitstore.offline.spark import SparkEngine

pytestmark = pytest.mark.spark

I64 = pa.int64()
F64 = pa.float64()
MINUTE = 60_000_000
#: (input column, function, window in minutes, output type); ``None``: the input's type.
AGGREGATIONS: list[tuple[str, str, int, pa.DataType | None]] = [
    ("amount", "sum", 10, F64),
    ("amount", "mean", 30, F64),
    ("amount", "last", 60, None),
    ("items", "sum", 10, I64),
    ("items", "count", 30, I64),
    ("items", "min", 30, None),
    ("items", "max", 60, None),
    ("items", "mean", 1, F64),
    ("shop", "last", 30, None),
    ("shop", "count_distinct", 60, I64),
    ("shop", "min", 10, None),
    ("shop", "count", 1, I64),
    ("seen", "max", 30, None),
    ("seen", "last", 10, None),
]
INPUT_TYPES = {"amount": F64, "items": I64, "shop": pa.string(), "seen": UTC_US}
FLOATY = {"amount_sum_10", "amount_mean_30", "items_mean_1"}


def aggregated_view(
    path: str, created: str | None = "created", extra: tuple[str, ...] = ()
) -> ViewQuery:
    base = view("activity", path, [("k", I64)], [], created=created)
    features, specs = [], []
    for column, function, minutes, out in AGGREGATIONS:
        name = f"{column}_{function}_{minutes}"
        features.append(FeatureColumn(column, name, out or INPUT_TYPES[column]))
        specs.append(AggregateSpec(function, minutes * MINUTE))
    source = SourceSpec(path, "ts", created, extra)
    return replace(base, source=source, features=tuple(features), aggregations=tuple(specs))


def events_table(
    rng: random.Random, rows: int, keys: int, minutes: int, created: bool = True
) -> pa.Table:
    """Events with ties on ts (a 15 s grid), unique (key, ts, created); without ``created``
    (the column is dropped), unique (key, ts)."""
    seen: set[tuple[Any, ...]] = set()
    data: dict[str, list[Any]] = {name: [] for name in ("k", "ts", "created", *INPUT_TYPES)}
    while len(data["k"]) < rows:
        k = None if rng.random() < 0.03 else rng.randint(1, keys)
        ts = None if rng.random() < 0.02 else rng.randrange(0, minutes * 4) * 15
        c = None if ts is None or not created else rng.choice([None, ts, ts + 1, ts + 7, ts - 2])
        if (k, ts, c) in seen:
            continue
        seen.add((k, ts, c))
        data["k"].append(k)
        data["ts"].append(ts)
        data["created"].append(c)
        data["amount"].append(None if rng.random() < 0.2 else rng.uniform(-1e3, 1e3))
        data["items"].append(None if rng.random() < 0.2 else rng.randint(-50, 50))
        data["shop"].append(None if rng.random() < 0.2 else rng.choice(["a", "b", "c", "ü"]))
        data["seen"].append(None if rng.random() < 0.2 else rng.randrange(0, 10_000))
    table = pa.table(
        {
            "k": pa.array(data["k"], I64),
            "ts": ts_array([at(t) for t in data["ts"]], "UTC"),
            "created": ts_array([at(c) for c in data["created"]], None),  # naive: read as UTC
            "amount": pa.array(data["amount"], F64),
            "items": pa.array(data["items"], I64),
            "shop": pa.array(data["shop"], pa.string()),
            "seen": ts_array([at(s) for s in data["seen"]], "UTC"),
        }
    )
    return table if created else table.drop_columns(["created"])


def entity_table(rng: random.Random, events: pa.Table, rows: int, keys: int) -> pa.Table:
    stamps = [t.timestamp() - at(0).timestamp() for t in events["ts"].to_pylist() if t]  # type: ignore[union-attr]
    ks, times = [], []
    for _ in range(rows):
        ks.append(rng.choice([*range(1, keys + 1), 999, None]))
        kind = rng.random()
        if kind < 0.3 and stamps:  # exactly at an event, or where it leaves a window
            offsets = [0, 0, 60, 600, 1800, 3600, 3600.000001]
            times.append(rng.choice(stamps) + rng.choice(offsets))
        elif kind < 0.35:
            times.append(None)
        else:
            times.append(rng.uniform(-600, 4 * 3600))
    return pa.table(
        {
            "row_id": pa.array(range(rows), I64),
            "k": pa.array(ks, pa.int32()),  # narrower than the source's int64
            "event_timestamp": ts_array([at(t) for t in times], "Europe/Paris"),
        }
    )


def assert_same_rows(got: pa.Table, want: pa.Table) -> None:
    assert got.schema == want.schema
    assert got.num_rows == want.num_rows
    for i, (a, b) in enumerate(zip(got.to_pylist(), want.to_pylist(), strict=True)):
        for name, expected in b.items():
            value = a[name]
            if name in FLOATY and value is not None and expected is not None:
                ok = math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-9)
            else:
                ok = value == expected
            where = f"row {i} ({b['k']}, {b['event_timestamp']})"
            assert ok, f"{where}: {name} {value!r} != {expected!r}"


def assert_same_events(got: pa.Table, want: pa.Table) -> None:
    """Same schema and rows; ``__created`` is also checked against the contract.

    The contract (OfflineEngine.events) is the created timestamp of the latest event, null when
    that event has none (the DuckDB engine once returned an older event's: a regression test).
    """
    assert got.schema == want.schema
    order = [("k", "ascending")]
    rows, expected = got.sort_by(order).to_pylist(), want.sort_by(order).to_pylist()
    assert len(rows) == len(expected)
    for row, other in zip(rows, expected, strict=True):
        last = row["_ev_created"][-1]
        assert row["__created"] == (None if last is None else at_us(last))
        assert row == other


def at_us(micros: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)


@pytest.fixture(scope="module")
def duck() -> Iterator[DuckDBEngine]:
    with DuckDBEngine(threads=1) as engine:
        yield engine


def test_aggregates_and_events_match_duckdb(
    tmp_path: Path, duck: DuckDBEngine, spark_engine: SparkEngine
) -> None:
    rng = random.Random(9)
    events = events_table(rng, 1500, keys=25, minutes=240)
    v = aggregated_view(write_parquet(tmp_path, events))
    entities = entity_table(rng, events, 800, keys=25)
    want = duck.historical(entities, [v]).to_arrow()
    assert want["items_count_30"].to_pylist().count(0) > 10  # empty windows happen
    assert want["amount_sum_10"].null_count < want.num_rows - 100  # and full ones
    assert_same_rows(spark_engine.historical(entities, [v]).to_arrow(), want)
    for end in [at(-1), at(0), at(1800), at(4 * 3600)]:
        assert end is not None
        expected = duck.events(v, end).read_all()
        assert_same_events(spark_engine.events(v, end).read_all(), expected)
    assert expected.num_rows == 25


def test_aggregated_view_with_a_plain_view_and_no_created(
    tmp_path: Path, duck: DuckDBEngine, spark_engine: SparkEngine
) -> None:
    rng = random.Random(10)
    events = events_table(rng, 300, keys=5, minutes=60, created=False)
    path = write_parquet(tmp_path, events)
    agg = aggregated_view(path, created=None)
    plain = view("plain", path, [("k", I64)], [("items", "plain_items", I64)], created=None)
    entities = entity_table(rng, events, 200, keys=5)
    want = duck.historical(entities, [plain, agg]).to_arrow()
    job = spark_engine.historical(entities, [plain, agg])
    assert job.strategies == ["union", "aggregate"]
    assert_same_rows(job.to_arrow(), want)
    end = at(1800)
    assert end is not None
    assert_same_events(spark_engine.events(agg, end).read_all(), duck.events(agg, end).read_all())


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.integers(0, 2**32), rows=st.integers(0, 40), keys=st.integers(1, 3))
def test_small_random_cases_match_duckdb(
    tmp_path: Path,
    duck: DuckDBEngine,
    spark_engine: SparkEngine,
    seed: int,
    rows: int,
    keys: int,
) -> None:
    rng = random.Random(seed)
    events = events_table(rng, rows, keys=keys, minutes=30)
    v = aggregated_view(write_parquet(tmp_path, events))
    entities = entity_table(rng, events, 12, keys=keys)
    assert_same_rows(
        spark_engine.historical(entities, [v]).to_arrow(), duck.historical(entities, [v]).to_arrow()
    )
    end = at(rng.choice([0, 600, 1800, 2400]))
    assert end is not None
    assert_same_events(spark_engine.events(v, end).read_all(), duck.events(v, end).read_all())


def test_push_log_is_read_with_the_batch_source(
    tmp_path: Path, duck: DuckDBEngine, spark_engine: SparkEngine
) -> None:
    rng = random.Random(11)
    events = events_table(rng, 400, keys=6, minutes=60)
    batch, log = events.slice(0, 250), events.slice(250)
    batch_path = write_parquet(tmp_path, batch)
    # The log: another column order, a column the views do not read, a `date=` folder, and
    # without `shop` (a column missing from some files reads as null).
    folder = tmp_path / "_pushed" / "src" / "date=2024-01-01"
    folder.mkdir(parents=True)
    log = log.select(["seen", "items", "created", "ts", "amount", "k"])
    log = log.append_column("__message_id", pa.array([None] * log.num_rows, pa.string()))
    pq.write_table(log, folder / "part-1.parquet")
    extra = (str(tmp_path / "_pushed" / "src" / "date=*" / "part-*.parquet"),)
    agg = aggregated_view(batch_path, extra=extra)
    features = [("items", "plain_items", I64), ("shop", "shop", pa.string())]
    plain = replace(
        view("plain", batch_path, [("k", I64)], features),
        source=SourceSpec(batch_path, "ts", "created", extra),
    )
    entities = entity_table(rng, events, 300, keys=6)
    want = duck.historical(entities, [agg, plain]).to_arrow()
    got = spark_engine.historical(entities, [agg, plain]).to_arrow()
    assert_same_rows(got, want)
    assert "date" not in got.column_names
    end = at(3600)
    start = at(0)
    assert end is not None and start is not None
    assert_same_events(spark_engine.events(agg, end).read_all(), duck.events(agg, end).read_all())
    latest = spark_engine.latest(plain, start, end).read_all()
    expected = duck.latest(plain, start, end).read_all()
    assert latest.schema == expected.schema
    assert latest.sort_by("k").to_pylist() == expected.sort_by("k").to_pylist()
    # without the log, some events are missing: the log is really read
    alone = replace(agg, source=SourceSpec(batch_path, "ts", "created"))
    assert spark_engine.historical(entities, [alone]).to_arrow() != got


def test_events_of_a_plain_view_is_an_error(tmp_path: Path, spark_engine: SparkEngine) -> None:
    events = events_table(random.Random(1), 10, keys=2, minutes=10)
    plain = view("plain", write_parquet(tmp_path, events), [("k", I64)], [("items", I64)])
    with pytest.raises(SchemaError, match="has no aggregations; use latest"):
        spark_engine.events(plain, at(0))  # type: ignore[arg-type]


def test_store_online_equals_offline_on_spark(tmp_path: Path, spark_engine: SparkEngine) -> None:
    """Through the store: materialize (``events()``) then online reads equal Spark's offline."""
    from pitstore import FeatureStore
    from pitstore.config import parse_config
    from pitstore.store.materialize import BEGINNING
    from repo_helpers import write_rows
    from test_aggregations import AGGREGATIONS as STORE_AGGREGATIONS
    from test_aggregations import SCHEMA, T0, TS, same, to_rows, user
    from test_aggregations import view as store_view

    rng = random.Random(12)
    drawn = [
        {
            "user_id": rng.randint(1, 3),
            "minute": rng.randint(0, 90),
            "amount": rng.choice([None, math.nan, 0.5, rng.uniform(-100, 100)]),
            "items": None if rng.random() < 0.2 else rng.randint(-10, 10),
            "shop": None if rng.random() < 0.2 else rng.choice(["a", "b", "ü"]),
        }
        for _ in range(60)
    ]
    (tmp_path / "pitstore.yaml").write_text("project: test\n")
    config = parse_config({"project": "test", "offline_engine": {"type": "spark"}})
    store = FeatureStore(tmp_path, config, registry_refresh_seconds=0)
    write_rows(tmp_path / "data" / "events.parquet", to_rows(drawn), SCHEMA)
    store.apply([user, store_view()])
    now = T0 + timedelta(minutes=70)
    keys = [1, 2, 3, 4]
    refs = [f"activity:{a.name}" for a in STORE_AGGREGATIONS]
    try:
        store.materialize(BEGINNING, now)
        online = store.get_online_features(refs, {"user_id": keys}, now=now).to_dict()
        frame = pa.table({"user_id": keys, "event_timestamp": pa.array([now] * 4, TS)})
        offline = store.get_historical_features(frame, refs).to_arrow().to_pydict()
        assert type(store.offline).__name__ == "SparkEngine"
    finally:
        store.close()
    assert spark_engine.session().range(1).count() == 1  # the suite's session is not stopped
    for agg in STORE_AGGREGATIONS:
        pairs = zip(online[agg.name], offline[agg.name], strict=True)
        assert all(same(agg.name, a, b) for a, b in pairs), agg.name
    assert offline["items_count_30m"] != [0, 0, 0, 0]


def test_integer_sum_and_mean_are_exact_as_on_duckdb(
    tmp_path: Path, duck: DuckDBEngine, spark_engine: SparkEngine
) -> None:
    """Integer sums are exact (no overflow midway) and means are the exact sum / n, as on DuckDB
    and online (Python ints); Spark's own sum of longs fails midway, its avg adds doubles."""
    values = {1: [2**53, 1, 1], 2: [2**62, 2**62, -(2**62)], 3: [-(2**63), 2**63 - 1, 5]}
    keys = [k for k, vs in values.items() for _ in vs]
    events = pa.table(
        {
            "k": pa.array(keys, I64),
            "ts": pa.array([at(i) for i in range(len(keys))], UTC_US),
            "x": pa.array([v for vs in values.values() for v in vs], I64),
        }
    )
    path = write_parquet(tmp_path, events)
    base = view("big", path, [("k", I64)], [], created=None)
    features = (FeatureColumn("x", "x_sum", I64), FeatureColumn("x", "x_mean", F64))
    specs = (AggregateSpec("sum", 60 * MINUTE), AggregateSpec("mean", 60 * MINUTE))
    v = replace(base, features=features, aggregations=specs)
    entities = pa.table(
        {"k": pa.array([1, 2, 3, 4], I64), "event_timestamp": ts_array([at(60)] * 4, "UTC")}
    )
    got = spark_engine.historical(entities, [v]).to_arrow()
    exact = [*(sum(vs) for vs in values.values()), None]
    assert got["x_sum"].to_pylist() == exact
    assert got["x_mean"].to_pylist() == [*(sum(vs) / len(vs) for vs in values.values()), None]
    assert got["x_mean"][0].as_py() == 3002399751580331.5  # avg of doubles: ...330.5
    assert got.equals(duck.historical(entities, [v]).to_arrow())


def test_integer_sum_outside_int64_fails_as_on_duckdb(
    tmp_path: Path, duck: DuckDBEngine, spark_engine: SparkEngine
) -> None:
    events = pa.table(
        {"k": pa.array([1, 1], I64), "ts": pa.array([at(0), at(1)], UTC_US), "x": [2**62, 2**62]}
    )
    base = view("big", write_parquet(tmp_path, events), [("k", I64)], [], created=None)
    v = replace(
        base,
        features=(FeatureColumn("x", "x_sum", I64),),
        aggregations=(AggregateSpec("sum", 60 * MINUTE),),
    )
    entities = pa.table({"k": pa.array([1], I64), "event_timestamp": pa.array([at(60)], UTC_US)})
    with pytest.raises(Exception, match=r"(?i)out of range"):
        duck.historical(entities, [v]).to_arrow()
    with pytest.raises(PitstoreError, match=r"(?i)overflow|out of range"):
        spark_engine.historical(entities, [v]).to_arrow()
