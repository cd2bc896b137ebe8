"""Apply over real stores: the online rows a change drops or keeps, checked by reading online
what training data has (the plans themselves: tests/test_registry.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from pitstore import (
    Entity,
    FeatureStore,
    FeatureView,
    Field,
    Float64,
    Int64,
    ParquetSource,
    PushSource,
    String,
)
from repo_helpers import T0, TS, make_store, write_rows

END = T0 + timedelta(days=1)


def online_and_offline(
    store: FeatureStore, feature: str, keys: dict[str, list[Any]]
) -> tuple[list[Any], list[Any]]:
    """``feature`` read online at END and as training data at END, for ``keys``."""
    online = store.get_online_features([feature], keys, now=END).to_dict()
    rows = len(next(iter(keys.values())))
    frame = pa.table({**keys, "event_timestamp": pa.array([END] * rows, TS)})
    offline = store.get_historical_features(frame, [feature]).to_arrow()
    name = feature.split(":")[1]
    return online[name], offline[name].to_pylist()


def test_join_keys_put_in_another_order_reload_the_views(tmp_path: Path) -> None:
    # Keys are encoded in the declared order of the join keys: with the rows kept, (a=1, b=2)
    # read under [b, a] was the stored (a=2, b=1), another entity's value.
    schema = pa.schema([("a", pa.int64()), ("b", pa.int64()), ("val", pa.float64())])
    schema = schema.append(pa.field("event_timestamp", TS))
    rows = [{"a": 1, "b": 2, "val": 12.0, "event_timestamp": T0}]
    rows.append({"a": 2, "b": 1, "val": 21.0, "event_timestamp": T0})
    write_rows(tmp_path / "data" / "src.parquet", rows, schema)

    def apply(*keys: str) -> Any:
        pair = Entity("pair", join_keys=list(keys), dtype=Int64)
        view = FeatureView("v", [pair], [Field("val", Float64)], ParquetSource("data/src.parquet"))
        return store.apply([pair, view])

    store = make_store(tmp_path)
    try:
        apply("a", "b")
        store.materialize_incremental(END)
        plan = apply("b", "a").plan
        assert [(f.path, f.old, f.new) for f in plan.changes[0].fields] == [
            ("join_keys", ["a", "b"], ["b", "a"])
        ]
        assert [c.name for c in plan.changes if c.resets_data] == ["v"]
        store.materialize_incremental(END)
        keys = {"a": [1, 2], "b": [2, 1]}
        online, offline = online_and_offline(store, "v:val", keys)
        assert online == offline == [12.0, 21.0]
    finally:
        store.close()


def test_a_partial_apply_of_an_entity_rekeys_its_registered_views(tmp_path: Path) -> None:
    # store.apply([entity]) plans only the objects passed: the views registered with the
    # entity kept their integer-keyed rows and watermark, and never read a string key.
    schema = pa.schema([("driver_id", pa.int64()), ("val", pa.float64()), ("event_timestamp", TS)])
    path = tmp_path / "data" / "src.parquet"
    write_rows(path, [{"driver_id": 1001, "val": 1.5, "event_timestamp": T0}], schema)
    store = make_store(tmp_path)
    try:
        driver = Entity("driver", join_keys=["driver_id"], dtype=Int64)
        source = ParquetSource("data/src.parquet")
        store.apply([driver, FeatureView("v", [driver], [Field("val", Float64)], source)])
        store.materialize_incremental(END)
        schema = schema.set(0, pa.field("driver_id", pa.string()))
        write_rows(path, [{"driver_id": "1001", "val": 1.5, "event_timestamp": T0}], schema)
        plan = store.apply([Entity("driver", join_keys=["driver_id"], dtype=String)]).plan
        assert [(c.name, c.resets_data) for c in plan.changes] == [("driver", False), ("v", True)]
        assert store.registry.get_watermark("v") is None
        store.materialize_incremental(END)
        online, offline = online_and_offline(store, "v:val", {"driver_id": ["1001"]})
        assert online == offline == [1.5]
    finally:
        store.close()


def test_an_aggregated_views_input_type_change_reloads_its_event_lists(tmp_path: Path) -> None:
    # count_distinct is an Int64 whatever it counts: the plan saw no change of the features
    # and kept the stored lists of integers, which no later materialization could extend.
    from pitstore import Aggregation

    def apply(dtype: Any, tags: pa.Array) -> Any:
        times = pa.array([T0, T0 + timedelta(minutes=30)], TS)
        table = pa.table({"driver_id": [1, 1], "tag": tags, "event_timestamp": times})
        write_rows(tmp_path / "data" / "s.parquet", table.to_pylist(), table.schema)
        count = Aggregation("tag", "count_distinct", "1h", name="tags")
        source = ParquetSource("data/s.parquet")
        view = FeatureView("v", [driver], [Field("tag", dtype)], source, aggregations=[count])
        return store.apply([driver, view])

    driver = Entity("driver", join_keys=["driver_id"], dtype=Int64)
    store = make_store(tmp_path)
    try:
        apply(Int64, pa.array([5, 5]))
        store.materialize_incremental(END)
        plan = apply(String, pa.array(["a", "b"])).plan
        assert [(c.name, c.resets_data) for c in plan.changes] == [("v", True)]
        end = T0 + timedelta(minutes=45)
        store.materialize_incremental(end)
        online = store.get_online_features(["v:tags"], {"driver_id": [1]}, now=end).to_dict()
        frame = pa.table({"driver_id": [1], "event_timestamp": pa.array([end], TS)})
        offline = store.get_historical_features(frame, ["v:tags"]).to_arrow()
        assert online["tags"] == offline["tags"].to_pylist() == [2]
    finally:
        store.close()


def test_words_about_a_push_sources_history_keep_the_rows_pushed_online(tmp_path: Path) -> None:
    # A description of the batch source was read as a change of the source: apply dropped the
    # rows pushed online only, which no materialization can bring back.
    from push_helpers import definitions, event, make_repo, online, push_source

    store = make_repo(tmp_path, push_source(), batch_rows=[])
    try:
        store.push("driver_push", [event(1, 10, conv=0.7, trips=3)], to="online")
        before = online(store, [1])
        history = ParquetSource("data/drivers.parquet", description="trips before the pushes")
        plan = store.apply(definitions(PushSource("driver_push", history))).plan
        paths = {c.name: [f.path for f in c.fields] for c in plan.changes}
        assert paths["driver_stats"] == ["source.batch_source.description"]
        assert not any(c.resets_data or c.resets_watermark for c in plan.changes)
        assert online(store, [1]) == before
        assert before["conv_rate"] == [0.7] and before["trips_count_1h"] == [1]
    finally:
        store.close()


def test_a_streams_new_topic_keeps_the_rows_it_pushed(tmp_path: Path) -> None:
    from push_helpers import definitions, event, make_repo, online, stream_source

    store = make_repo(tmp_path, stream_source("redis", "trips"), batch_rows=[])
    try:
        store.push("driver_stream", [event(1, 10, conv=0.7)], to="online_and_offline")
        before = online(store, [1])
        plan = store.apply(definitions(stream_source("nats", "trips.v2"))).plan
        assert not any(c.resets_data or c.resets_watermark for c in plan.changes)
        assert online(store, [1]) == before and before["conv_rate"] == [0.7]
    finally:
        store.close()


def test_a_view_online_again_loads_what_was_pushed_meanwhile(tmp_path: Path) -> None:
    # While a view is offline, pushes reach only the push log; its watermark no longer says
    # what its online rows hold, and an incremental run from it missed the older rows.
    from push_helpers import T0 as t0
    from push_helpers import driver, event, make_repo, push_source

    source = push_source()
    store = make_repo(tmp_path, source, batch_rows=[])

    def apply(online: bool) -> Any:
        schema = [Field("conv_rate", Float64)]
        return store.apply([driver, FeatureView("v", [driver], schema, source, online=online)])

    try:
        apply(online=True)
        store.push("driver_push", [event(1, 10, conv=0.1)], to="online_and_offline")
        end = t0 + timedelta(hours=1)
        store.materialize_incremental(end)
        apply(online=False)
        store.push("driver_push", [event(1, 20, conv=0.2)], to="offline")  # before `end`
        plan = apply(online=True).plan
        assert [(c.resets_data, c.resets_watermark) for c in plan.changes] == [(False, True)]
        store.materialize_incremental(end + timedelta(minutes=1))
        read = store.get_online_features(["v:conv_rate"], [{"driver_id": 1}], now=end)
        frame = pa.table({"driver_id": [1], "event_timestamp": pa.array([end], TS)})
        offline = store.get_historical_features(frame, ["v:conv_rate"]).to_arrow()
        assert read.to_dict()["conv_rate"] == offline["conv_rate"].to_pylist() == [0.2]
    finally:
        store.close()
