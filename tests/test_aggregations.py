"""Windowed aggregations: the DuckDB engine against a slow Python oracle, and online == offline.

The oracle reads the rule straight from its definition: for an entity row at ``t``, the events
of the same key with ``t - window < ts <= t`` and a non-null value; count and count_distinct
of nothing are 0, the other functions null; ``last`` takes the greatest (ts, created).
"""

from __future__ import annotations

import math
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pitstore import (
    Aggregation,
    DefinitionError,
    Entity,
    FeatureView,
    Field,
    Float64,
    Int64,
    NotFoundError,
    ParquetSource,
    String,
)
from pitstore.store.materialize import BEGINNING
from repo_helpers import make_store, write_rows

T0 = datetime(2026, 3, 1, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")
SCHEMA = pa.schema(
    [
        ("user_id", pa.int64()),
        ("event_timestamp", TS),
        ("created", TS),
        ("amount", pa.float64()),
        ("items", pa.int64()),
        ("shop", pa.string()),
    ]
)
user = Entity("user", join_keys=["user_id"])
AGGREGATIONS = [
    Aggregation("amount", "sum", "10m"),
    Aggregation("amount", "mean", "30m"),
    Aggregation("amount", "min", "30m"),
    Aggregation("amount", "max", "1h"),
    Aggregation("amount", "count_distinct", "1h"),
    Aggregation("items", "sum", "10m"),
    Aggregation("items", "count", "30m"),
    Aggregation("items", "min", "30m"),
    Aggregation("items", "max", "1h"),
    Aggregation("shop", "last", "30m"),
    Aggregation("shop", "count_distinct", "1h"),
]
FLOATY = {"amount_sum_10m", "amount_mean_30m"}


def view() -> FeatureView:
    return FeatureView(
        "activity",
        [user],
        [Field("amount", Float64), Field("items", Int64), Field("shop", String)],
        ParquetSource("data/events.parquet", created_timestamp_field="created"),
        aggregations=AGGREGATIONS,
    )


def oracle(events: list[dict[str, Any]], key: int | None, at: datetime | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for agg in AGGREGATIONS:
        if key is None or at is None:
            out[agg.name] = None
            continue
        inside = [
            e
            for e in events
            if e["user_id"] == key
            and at - agg.window < e["event_timestamp"] <= at
            and e[agg.column] is not None
        ]
        values = [e[agg.column] for e in inside]
        if agg.function == "count":
            out[agg.name] = len(values)
        elif agg.function == "count_distinct":  # NaN is one value
            out[agg.name] = len({"NaN" if is_nan(v) else v for v in values})
        elif not values:
            out[agg.name] = None
        elif agg.function == "sum":
            out[agg.name] = sum(values)
        elif agg.function == "mean":
            out[agg.name] = sum(values) / len(values)
        elif agg.function == "min":  # NaN is greater than every number
            out[agg.name] = min(values, key=nan_last)
        elif agg.function == "max":
            out[agg.name] = max(values, key=nan_last)
        else:  # last
            latest = max(inside, key=lambda e: (e["event_timestamp"], e["created"]))
            out[agg.name] = latest[agg.column]
    return out


def is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def nan_last(value: Any) -> tuple[bool, Any]:
    """An order with NaN above every number (DuckDB's and Spark's)."""
    return (True, 0.0) if is_nan(value) else (False, value)


def same(name: str, a: Any, b: Any) -> bool:
    if is_nan(a) or is_nan(b):
        return is_nan(a) and is_nan(b)
    if name in FLOATY and a is not None and b is not None:
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return bool(a == b)


event_strategy = st.fixed_dictionaries(
    {
        "user_id": st.integers(1, 3),
        "minute": st.integers(0, 90),
        # NaN and a few repeated values: windows holding NaN, and equal values to count once
        "amount": st.none()
        | st.floats(-1e6, 1e6, allow_nan=False)
        | st.sampled_from([math.nan, 0.5, 1.5]),
        "items": st.none() | st.integers(-1000, 1000),
        "shop": st.none() | st.sampled_from(["a", "b", "c", "ü"]),
    }
)


def to_rows(drawn: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "user_id": d["user_id"],
            "event_timestamp": T0 + timedelta(minutes=d["minute"]),
            "created": T0 + timedelta(microseconds=i),  # unique: no full ties
            "amount": d["amount"],
            "items": d["items"],
            "shop": d["shop"],
        }
        for i, d in enumerate(drawn)
    ]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    drawn=st.lists(event_strategy, max_size=30),
    asks=st.lists(
        st.tuples(st.none() | st.integers(1, 4), st.none() | st.integers(-5, 100)),
        min_size=1,
        max_size=12,
    ),
)
def test_engine_matches_oracle(drawn: list[dict[str, Any]], asks: list[tuple[Any, Any]]) -> None:
    events = to_rows(drawn)
    times = [None if m is None else T0 + timedelta(minutes=m) for _, m in asks]
    with tempfile.TemporaryDirectory() as folder:
        store = make_store(Path(folder))
        write_rows(Path(folder) / "data" / "events.parquet", events, SCHEMA)
        store.apply([user, view()])
        frame = pa.table(
            {
                "user_id": pa.array([k for k, _ in asks], pa.int64()),
                "event_timestamp": pa.array(times, TS),
            }
        )
        refs = [f"activity:{a.name}" for a in AGGREGATIONS]
        result = store.get_historical_features(frame, refs).to_arrow().to_pylist()
        store.close()
    assert len(result) == len(asks)
    for row, (key, _), at in zip(result, asks, times, strict=True):
        expected = oracle(events, key, at)
        for name, value in expected.items():
            assert same(name, row[name], value), (name, key, at, row[name], value)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawn=st.lists(event_strategy, max_size=30), read_minute=st.integers(0, 100))
def test_online_equals_offline(drawn: list[dict[str, Any]], read_minute: int) -> None:
    events = to_rows(drawn)
    now = T0 + timedelta(minutes=read_minute)
    keys = [1, 2, 3, 4]
    refs = [f"activity:{a.name}" for a in AGGREGATIONS]
    with tempfile.TemporaryDirectory() as folder:
        store = make_store(Path(folder))
        write_rows(Path(folder) / "data" / "events.parquet", events, SCHEMA)
        store.apply([user, view()])
        store.materialize(BEGINNING, now)
        online = store.get_online_features(refs, {"user_id": keys}, now=now).to_dict()
        frame = pa.table({"user_id": keys, "event_timestamp": pa.array([now] * 4, TS)})
        offline = store.get_historical_features(frame, refs).to_arrow().to_pydict()
        store.close()
    for agg in AGGREGATIONS:
        for a, b in zip(online[agg.name], offline[agg.name], strict=True):
            assert same(agg.name, a, b), (agg.name, online[agg.name], offline[agg.name])


def test_online_read_later_than_materialization_drops_old_events(tmp_path: Path) -> None:
    events = to_rows(
        [
            {"user_id": 1, "minute": 0, "amount": 1.0, "items": 1, "shop": "a"},
            {"user_id": 1, "minute": 20, "amount": 2.0, "items": 2, "shop": "b"},
        ]
    )
    store = make_store(tmp_path)
    write_rows(tmp_path / "data" / "events.parquet", events, SCHEMA)
    store.apply([user, view()])
    store.materialize_incremental(T0 + timedelta(minutes=20))
    later = T0 + timedelta(minutes=35)
    online = store.get_online_features(
        ["activity:items_count_30m", "activity:shop_last_30m", "activity:items_sum_10m"],
        [{"user_id": 1}],
        now=later,
    ).to_dict()
    assert online["items_count_30m"] == [1]  # the minute-0 event left the window
    assert online["shop_last_30m"] == ["b"]
    assert online["items_sum_10m"] == [None]


@pytest.mark.parametrize(
    ("build", "needle"),
    [
        (lambda: Aggregation("amount", "median", "1h"), "'median'"),
        (lambda: Aggregation("amount", "sum", "0s"), "positive"),
        (lambda: Aggregation("amount", "sum", "an hour"), "'an hour'"),
        (
            lambda: FeatureView(
                "v",
                [user],
                [Field("shop", String)],
                ParquetSource("x.parquet"),
                aggregations=[Aggregation("shop", "sum", "1h")],
            ),
            "numeric",
        ),
        (
            lambda: FeatureView(
                "v",
                [user],
                [Field("shop", String)],
                ParquetSource("x.parquet"),
                aggregations=[Aggregation("amount", "sum", "1h")],
            ),
            "'amount'",
        ),
        (
            lambda: FeatureView(
                "v",
                [user],
                [Field("items", Int64)],
                ParquetSource("x.parquet"),
                aggregations=[Aggregation("items", "sum", "1h")],
                ttl="1d",
            ),
            "remove ttl",
        ),
    ],
)
def test_bad_aggregations_name_the_problem(build: Any, needle: str) -> None:
    with pytest.raises((DefinitionError, NotFoundError)) as info:
        build()
    assert needle in str(info.value)


def test_aggregated_view_spec_round_trip_and_types() -> None:
    from pitstore.definitions import from_spec

    v = view()
    assert from_spec("feature_view", v.to_spec()) == v
    types = {f.name: str(f.dtype) for f in v.features}
    assert types["items_sum_10m"] == "int64" and types["amount_mean_30m"] == "float64"
    assert types["items_count_30m"] == "int64" and types["shop_last_30m"] == "string"
