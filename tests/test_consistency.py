"""The consistency invariant (DESIGN.md section 4): online(t) == historical(entity_ts = t).

Random rows for a view with a composite key, random TTLs and read times, ties on the event
timestamp broken by created: after materializing up to ``t``, every online value equals the
training-data value at ``t``, row by row, including expiry and unknown keys.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pitstore import (
    Array,
    Bool,
    Bytes,
    Entity,
    FeatureStore,
    FeatureView,
    Field,
    Float32,
    Int32,
    Int64,
    OnDemandFeatureView,
    ParquetSource,
    String,
    Timestamp,
    Vector,
)
from pitstore.store.materialize import BEGINNING
from repo_helpers import T0, TRIP_SCHEMA, TS, city_driver, make_store, trip_view, write_rows
from services import postgres_url, redis_url


@pytest.fixture(params=["sqlite", "redis", "postgres"])
def online(request: pytest.FixtureRequest) -> Iterator[dict[str, Any] | None]:
    """The online store config of each store the invariant must hold on."""
    suffix = uuid.uuid4().hex[:10]
    if request.param == "sqlite":
        yield None
    elif request.param == "redis":
        yield {"type": "redis", "url": redis_url(), "key_prefix": f"pitstore_test_{suffix}"}
    else:
        import psycopg

        schema = f"pitstore_test_{suffix}"
        yield {"type": "postgres", "dsn": postgres_url(), "schema_name": schema}
        with psycopg.connect(postgres_url(), autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


driver = Entity("driver", join_keys=["driver_id"], dtype=Int64)

KEYS = [("oslo", 1), ("oslo", 2), ("rome", 1), ("rome", 2)]

row_strategy = st.tuples(
    st.sampled_from(KEYS),
    st.integers(0, 20),  # event time, minutes after T0 (small range: many ties)
    st.floats(allow_nan=False, width=64) | st.none(),
    st.text(max_size=3) | st.none(),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    data=st.lists(row_strategy, max_size=25),
    ttl_minutes=st.none() | st.integers(1, 15),
    read_minute=st.integers(0, 25),
)
def test_online_equals_historical(
    online: dict[str, Any] | None,
    data: list[tuple[tuple[str, int], int, float | None, str | None]],
    ttl_minutes: int | None,
    read_minute: int,
) -> None:
    rows = [
        {
            "city": key[0],
            "driver_id": key[1],
            "event_timestamp": T0 + timedelta(minutes=minute),
            # unique created per row, so a tie on both timestamps never happens
            "created": T0 + timedelta(microseconds=i),
            "score": score,
            "label": label,
        }
        for i, (key, minute, score, label) in enumerate(data)
    ]
    now = T0 + timedelta(minutes=read_minute)
    ttl = timedelta(minutes=ttl_minutes) if ttl_minutes else None
    with tempfile.TemporaryDirectory() as folder:
        store = make_store(Path(folder), online)
        write_rows(Path(folder) / "data" / "trips.parquet", rows, TRIP_SCHEMA)
        store.apply([city_driver, trip_view(ttl)])
        try:
            store.materialize(BEGINNING, now)
            keys = [*KEYS, ("paris", 9)]
            features = ["trips:score", "trips:label"]
            online = store.get_online_features(
                features, [{"city": c, "driver_id": d} for c, d in keys], now=now
            ).to_dict()
            frame = pa.table(
                {
                    "city": [c for c, _ in keys],
                    "driver_id": [d for _, d in keys],
                    "event_timestamp": pa.array([now] * len(keys), pa.timestamp("us", tz="UTC")),
                }
            )
            offline = store.get_historical_features(frame, features).to_arrow().to_pydict()
        finally:
            store.teardown()
            store.close()
    assert online["score"] == offline["score"]
    assert online["label"] == offline["label"]


NESTED_SCHEMA = [
    Field("t", Timestamp),
    Field("ts", Array(Timestamp)),
    Field("blobs", Array(Bytes)),
    Field("flags", Array(Bool)),
    Field("f32s", Array(Float32)),
    Field("i32s", Array(Int32)),
    Field("vec", Vector(2)),
    Field("f32", Float32),
    Field("i32", Int32),
]
NESTED_FEATURES = [f"nested:{f.name}" for f in NESTED_SCHEMA]


def nested_rows() -> list[dict[str, Any]]:
    """Values with nulls inside arrays, a row of nulls and a row of empty arrays."""
    full = {
        "driver_id": 1,
        "event_timestamp": T0,
        "t": T0 + timedelta(hours=7, microseconds=5),
        "ts": [T0 + timedelta(hours=7), None, T0 - timedelta(days=40_000)],
        "blobs": [b"\x00a", None, b""],
        "flags": [True, None, False],
        "f32s": [0.1, None, -2.5],
        "i32s": [1, None, -(2**31)],
        "vec": [0.1, 0.2],
        "f32": 0.1,
        "i32": 2**31 - 1,
    }
    nulls = {k: None for k in full} | {"driver_id": 2, "event_timestamp": T0}
    empty = {k: [] for k in full} | {"driver_id": 3, "event_timestamp": T0}
    return [full, nulls, empty | {"t": None, "vec": [None, 1.5], "f32": None, "i32": None}]


def nested_view() -> FeatureView:
    return FeatureView("nested", [driver], NESTED_SCHEMA, ParquetSource("data/nested.parquet"))


def nested_store(folder: Path, online: dict[str, Any] | None) -> FeatureStore:
    """A store with :func:`nested_rows` materialized; drivers 1-3 stored, 4 unknown."""
    store = make_store(folder, online)
    schema = pa.schema(
        [("driver_id", pa.int64()), ("event_timestamp", TS)]
        + [(f.name, f.dtype.to_arrow()) for f in NESTED_SCHEMA]
    )
    write_rows(folder / "data" / "nested.parquet", nested_rows(), schema)
    return store


NESTED_NOW = T0 + timedelta(hours=1)
NESTED_ENTITIES = [1, 2, 3, 4]


def _historical(
    store: FeatureStore,
    features: list[str],
    drivers: list[int] = NESTED_ENTITIES,
    full: bool = False,
) -> pa.Table:
    frame = pa.table(
        {
            "driver_id": pa.array(drivers, pa.int64()),
            "event_timestamp": pa.array([NESTED_NOW] * len(drivers), TS),
        }
    )
    return store.get_historical_features(frame, features, full_feature_names=full).to_arrow()


def test_nested_types_online_equal_historical(online: dict[str, Any] | None) -> None:
    # Arrays of timestamps come back as datetimes (not the stores' microseconds), nulls inside
    # arrays stay null, and every output form has the declared types, as training data has.
    with tempfile.TemporaryDirectory() as folder:
        store = nested_store(Path(folder), online)
        store.apply([driver, nested_view()])
        try:
            store.materialize(BEGINNING, NESTED_NOW)
            offline = _historical(store, NESTED_FEATURES)
            response = store.get_online_features(
                NESTED_FEATURES, [{"driver_id": d} for d in NESTED_ENTITIES], now=NESTED_NOW
            )
            as_dict, as_arrow, as_pandas = (
                response.to_dict(),
                response.to_arrow(),
                response.to_pandas(),
            )
        finally:
            store.teardown()
            store.close()
    names = [f.name for f in NESTED_SCHEMA]
    expected = offline.select(names)
    for name in names:
        assert as_dict[name] == expected.column(name).to_pylist(), name
    assert as_dict["ts"][0][0] == T0 + timedelta(hours=7)
    assert as_arrow.select(names).equals(expected), as_arrow.select(names).schema
    assert repr(as_pandas[names].to_dict("list")) == repr(expected.to_pandas().to_dict("list"))


def _probe_python(row: dict[str, Any]) -> dict[str, Any]:
    return {"seen": repr(sorted(row.items()))}


def _probe_pandas(df: Any) -> Any:
    import pandas as pd

    types = repr(df.dtypes.to_dict())
    return pd.DataFrame({"seen": [types + repr(r) for r in df.to_dict("records")]})


def _probe_arrow(table: pa.Table) -> pa.Table:
    return pa.table({"seen": [str(table.schema) + repr(r) for r in table.to_pylist()]})


def probes() -> list[OnDemandFeatureView]:
    """One view per mode whose output is what its function saw: types and values."""
    functions = {"python": _probe_python, "pandas": _probe_pandas, "arrow": _probe_arrow}
    return [
        OnDemandFeatureView(
            f"probe_{mode}", [nested_view()], [Field("seen", String)], function, mode=mode
        )
        for mode, function in functions.items()
    ]


def test_functions_see_nested_types_online_as_offline(online: dict[str, Any] | None) -> None:
    # Each entity alone (a lone missing value made a null-typed column online) and together.
    refs = [f"probe_{mode}:seen" for mode in ("python", "pandas", "arrow")]
    with tempfile.TemporaryDirectory() as folder:
        store = nested_store(Path(folder), online)
        store.apply([driver, nested_view(), *probes()])
        try:
            store.materialize(BEGINNING, NESTED_NOW)
            for drivers in ([1], [2], [3], [4], NESTED_ENTITIES):
                offline = _historical(store, refs, drivers, full=True).to_pydict()
                rows = [{"driver_id": d} for d in drivers]
                response = store.get_online_features(
                    refs, rows, full_feature_names=True, now=NESTED_NOW
                )
                got = response.to_dict()
                for ref in refs:
                    name = ref.replace(":", "__")
                    assert got[name] == offline[name], (drivers, name)
        finally:
            store.teardown()
            store.close()


# --- nanosecond timestamps: floored to the microsecond online and offline ------------------

NS_T = 1_767_225_600 * 10**9  # 2026-01-01 in nanoseconds
SECOND_NS = 10**9
NS_TTL = timedelta(seconds=1)
#: (driver, ts in ns, score): at 1.5 us and 2.0 us after T, and at and before the epoch
NS_ROWS = [
    (1, NS_T + 1500, 1.0),
    (2, NS_T - SECOND_NS + 1000, 2.0),  # T - 1 s + 1 us: the TTL's edge for now = T + 1.5 us
    (2, NS_T + 2000, 2.5),  # 2.0 us: after now = T + 1.6 us (1 us), before T + 2.5 us
    (3, 0, 3.0),  # the epoch: after now = -1 ns (-1 us; truncated: 0, which sees it)
    (4, -SECOND_NS - 999, 4.0),  # -1 s - 999 ns is -1 s - 1 us: the TTL's edge at -1 ns
]
NS_NOWS = [NS_T + 1500, NS_T + 1600, NS_T + 2500, -1, -500, 0]


def _floor_us(nanos: int) -> int:
    return nanos // 1000


def _ns_expected(now: int) -> list[float | None]:
    """Each driver's score at ``now`` under the rule: every time floored to microseconds."""
    at = _floor_us(now)
    lowest = at - NS_TTL // timedelta(microseconds=1)
    out = []
    for driver in (1, 2, 3, 4):
        seen = [(_floor_us(t), s) for d, t, s in NS_ROWS if d == driver]
        alive = [(t, s) for t, s in seen if lowest <= t <= at]
        out.append(max(alive)[1] if alive else None)
    return out


def _stamp(nanos: int) -> Any:
    import pandas as pd

    return pd.Timestamp(nanos, unit="ns", tz="UTC")


def _ns_frame(rows: list[tuple[int, int, float]]) -> Any:
    """A pandas frame of (driver, ts, score) rows: timestamps in pandas' own unit (ns)."""
    import pandas as pd

    return pd.DataFrame(
        {
            "driver_id": pd.Series([d for d, _, _ in rows], dtype="int64"),
            "event_timestamp": pd.Series(
                [_stamp(t) for _, t, _ in rows], dtype="datetime64[ns, UTC]"
            ),
            "score": pd.Series([s for _, _, s in rows], dtype="float64"),
        }
    )


def _ns_store(folder: Path, source: Any, ttl: timedelta) -> Any:
    from pitstore import Entity, FeatureView, Field, Float64, Int64

    driver = Entity("driver", join_keys=["driver_id"], dtype=Int64)
    stats = FeatureView("stats", [driver], [Field("score", Float64)], source, ttl=ttl)
    store = make_store(folder)
    store.apply([driver, stats])
    return store


def _online_and_offline(store: Any, now: int) -> tuple[list[Any], list[Any]]:
    drivers = [1, 2, 3, 4]
    rows = [{"driver_id": d} for d in drivers]
    online = store.get_online_features(["stats:score"], rows, now=_stamp(now)).to_dict()
    entities = _ns_frame([(d, now, 0.0) for d in drivers]).drop(columns="score")
    offline = store.get_historical_features(entities, ["stats:score"]).to_arrow()
    return online["score"], offline["score"].to_pylist()


@pytest.mark.parametrize("now", NS_NOWS)
def test_nanoseconds_online_equals_offline_after_materialize(tmp_path: Path, now: int) -> None:
    # DuckDB rounded a source's nanoseconds (1.5 us -> 2 us) and Arrow truncated the entity
    # frame's toward zero (-1 ns -> 0 us), while materialize's end was floored
    from pitstore import ParquetSource

    (tmp_path / "data").mkdir()
    _ns_frame(NS_ROWS).to_parquet(tmp_path / "data" / "stats.parquet")  # timestamp[ns, UTC]
    store = _ns_store(tmp_path, ParquetSource("data/stats.parquet"), NS_TTL)
    try:
        store.materialize(_stamp(-2 * SECOND_NS), _stamp(now))
        online, offline = _online_and_offline(store, now)
    finally:
        store.close()
    assert offline == _ns_expected(now)
    assert online == offline


@pytest.mark.parametrize("now", NS_NOWS)
@pytest.mark.parametrize("form", ["pandas", "polars", "iso"])
def test_nanoseconds_online_equals_offline_after_push(tmp_path: Path, now: int, form: str) -> None:
    # the rows that happened by ``now`` (online keeps the latest row, whatever its time),
    # in nanoseconds (pandas, Polars) or as ISO strings with nine fractional digits; their
    # TTL edge before 1970 was kept online (floored), expired offline (the frame truncated)
    from pitstore import ParquetSource, PushSource

    (tmp_path / "data").mkdir()
    _ns_frame([]).to_parquet(tmp_path / "data" / "stats.parquet")  # no row yet, ns type
    source = PushSource("stats_push", batch_source=ParquetSource("data/stats.parquet"))
    store = _ns_store(tmp_path, source, NS_TTL)
    happened = [row for row in NS_ROWS if row[1] <= now]
    pushed: Any = _ns_frame(happened)
    if form == "polars":
        import polars as pl

        pushed = pl.from_pandas(pushed)  # Datetime("ns", "UTC")
    if form == "iso":
        pushed = [
            {"driver_id": d, "event_timestamp": _stamp(t).isoformat(), "score": s}
            for d, t, s in happened
        ]
    try:
        store.push("stats_push", pushed, to="online_and_offline")
        online, offline = _online_and_offline(store, now)
    finally:
        store.close()
    assert offline == _ns_expected(now)
    assert online == offline
