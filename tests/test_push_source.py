"""FeatureStore.push: push sources, all-or-nothing validation, the offline log, aggregated views."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pitstore import FeatureStore, ParquetSource, PushSource
from pitstore.errors import DefinitionError, NotFoundError, SchemaError, StoreUnavailableError
from pitstore.store.push_source import Origin
from push_helpers import (
    BATCH_SCHEMA,
    T0,
    event,
    log_files,
    logged_rows,
    make_repo,
    online,
    push_source,
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeatureStore]:
    s = make_repo(tmp_path, push_source())
    yield s
    s.close()


def test_push_online_then_read(store: FeatureStore) -> None:
    report = store.push("driver_push", [event(1, 0, conv=0.1), event(2, 1, conv=0.2)])
    assert report.rows == 2 and report.online == {"driver_stats": 2, "driver_activity": 2}
    got = online(store, [1, 2, 3])
    assert got["conv_rate"] == [0.1, 0.2, None]
    assert got["trips_count_1h"] == [1, 1, 0]
    assert log_files(store.repo_path) == []  # online only: nothing logged


def test_older_pushes_never_replace_newer(store: FeatureStore) -> None:
    store.push("driver_push", [event(1, 10, conv=0.9)])
    store.push("driver_push", [event(1, 5, conv=0.1)])  # late
    assert online(store, [1])["conv_rate"] == [0.9]


def test_offline_push_is_logged_not_online(store: FeatureStore) -> None:
    report = store.push("driver_push", [event(1, 0)], to="offline")
    assert report.logged == 1 and report.online == {}
    assert online(store, [1])["conv_rate"] == [None]
    (path,) = log_files(store.repo_path)
    assert path.parent.name == "date=2026-03-01" and path.name.startswith("part-")
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_bad_row_writes_nothing_anywhere(store: FeatureStore) -> None:
    rows = [event(1, 0), event(2, 0), {**event(3, 0), "trips": "many"}]
    with pytest.raises(SchemaError, match=r"row 2.*'trips'"):
        store.push("driver_push", rows, to="online_and_offline")
    assert log_files(store.repo_path) == []
    assert online(store, [1, 2])["conv_rate"] == [None, None]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"conv_rte": 1.0}, ["row 0", "unknown column 'conv_rte'", "conv_rate"]),
        ({"event_timestamp": None}, ["row 0", "event_timestamp", "null"]),
        ({"driver_id": "x"}, ["row 0", "driver_id"]),
        # before the year 1 once in UTC: an OverflowError, once a 500 in the server
        ({"event_timestamp": "0001-01-01T00:00:00+05:00"}, ["row 0", "event_timestamp"]),
    ],
)
def test_validation_messages(
    store: FeatureStore, change: dict[str, object], words: list[str]
) -> None:
    with pytest.raises(SchemaError) as info:
        store.push("driver_push", [{**event(1, 0), **change}])
    for word in words:
        assert word in str(info.value)


def test_missing_column_of_another_view_is_an_error(store: FeatureStore) -> None:
    row = event(1, 0)
    del row["conv_rate"]  # the aggregated view does not need it, the plain view does
    with pytest.raises(SchemaError, match="'conv_rate' is missing"):
        store.push("driver_push", [row])


def test_unknown_source_and_target(store: FeatureStore) -> None:
    with pytest.raises(NotFoundError, match="driver_push"):
        store.push("driver_psh", [event(1, 0)])
    with pytest.raises(SchemaError, match="online_and_offline"):
        store.push("driver_push", [event(1, 0)], to="both")


def test_historical_reads_batch_and_log(tmp_path: Path) -> None:
    batch = [{**event(1, 0, conv=0.1), "event_timestamp": T0.replace(tzinfo=None)}]
    store = make_repo(tmp_path, push_source(), batch_rows=batch)
    try:
        store.push("driver_push", [event(1, 30, conv=0.7), event(2, 30, conv=0.2)], "offline")
        entities = pa.table(
            {
                "driver_id": [1, 1, 2, 2],
                "event_timestamp": pa.array(
                    [T0 + timedelta(minutes=m) for m in (10, 40, 10, 40)],
                    pa.timestamp("us", tz="UTC"),
                ),
            }
        )
        refs = ["driver_stats:conv_rate", "driver_activity:trips_count_1h"]
        got = store.get_historical_features(entities, refs).to_arrow().to_pydict()
        assert got["conv_rate"] == [0.1, 0.7, None, 0.2]
        assert got["trips_count_1h"] == [1, 2, 0, 1]
        # the log takes the batch source's types (a naive timestamp stays naive)
        (path,) = log_files(tmp_path)
        import pyarrow.parquet as pq

        assert pq.read_schema(path).field("event_timestamp").type == pa.timestamp("us")
    finally:
        store.close()


def test_historical_reads_the_log_alone_when_no_batch_file(store: FeatureStore) -> None:
    store.push("driver_push", [event(1, 0, conv=0.3)], to="online_and_offline")
    entities = pa.table(
        {
            "driver_id": [1],
            "event_timestamp": pa.array([T0 + timedelta(minutes=5)], pa.timestamp("us", tz="UTC")),
        }
    )
    got = store.get_historical_features(entities, ["driver_stats:conv_rate"]).to_arrow()
    assert got.column("conv_rate").to_pylist() == [0.3]


def test_rows_are_partitioned_by_event_date(store: FeatureStore) -> None:
    store.push("driver_push", [event(1, 0), event(1, 60 * 24), event(2, 60 * 24)], "offline")
    folders = sorted({p.parent.name for p in log_files(store.repo_path)})
    assert folders == ["date=2026-03-01", "date=2026-03-02"]
    assert len(logged_rows(store.repo_path)) == 3


def test_replayed_messages_are_logged_once(store: FeatureStore) -> None:
    rows = [event(1, 0), event(2, 0)]
    first = Origin(["m1", "m2"], [False, False], [None, None])
    store.push("driver_push", rows, "online_and_offline", origin=first)
    again = Origin(["m1", "m2"], [True, True], [None, None])
    assert store.push("driver_push", rows, "online_and_offline", origin=again).logged == 0
    ids = sorted(r["_pitstore_message_id"] for r in logged_rows(store.repo_path))
    assert ids == ["m1", "m2"]
    assert online(store, [1])["trips_count_1h"] == [1]  # not counted twice online either


def test_columns_and_dataframes_are_accepted(store: FeatureStore) -> None:
    import pandas as pd

    frame = pd.DataFrame([event(1, 0, conv=0.4)])
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"])
    store.push("driver_push", frame)
    columns = {k: [v] for k, v in event(2, 0, conv=0.6).items()}
    store.push("driver_push", columns)
    assert online(store, [1, 2])["conv_rate"] == [0.4, 0.6]


def test_two_sources_with_one_name_are_rejected(tmp_path: Path) -> None:
    other = PushSource("driver_push", batch_source=ParquetSource("data/other.parquet"))
    from push_helpers import definitions

    a = definitions(push_source())
    b = definitions(other)[1]
    b2 = type(b).from_spec({**b.to_spec(), "name": "other_stats"})
    store = make_repo(tmp_path, push_source())
    try:
        with pytest.raises(DefinitionError, match="two different sources"):
            store.apply([*a, b2])
    finally:
        store.close()


def test_log_writes_are_atomic_under_failure(
    store: FeatureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A writer that dies half way leaves no visible file and no temporary file.
    import pyarrow.parquet as pq

    def broken(table: pa.Table, where: object) -> None:
        where.write(b"PAR1 half a file")  # type: ignore[attr-defined]
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", broken)
    with pytest.raises(OSError, match="disk full"):
        store.push("driver_push", [event(1, 0)], to="offline")
    root = store.repo_path / "data" / "_pushed" / "driver_push"
    assert [p for p in root.rglob("*") if p.is_file()] == []


# --- aggregated views -----------------------------------------------------------------------


def test_aggregated_view_reflects_each_pushed_event(store: FeatureStore) -> None:
    at = T0 + timedelta(minutes=30)
    for minute, trips in [(0, 2), (10, 3), (20, 5)]:
        store.push("driver_push", [event(7, minute, trips=trips)])
    got = online(store, [7], at)
    assert got["trips_sum_1h"] == [10] and got["trips_count_1h"] == [3]
    # a late event inside the window counts; one older than the window does not
    store.push("driver_push", [event(7, 5, trips=100), event(7, -120, trips=1000)])
    got = online(store, [7], at)
    assert got["trips_sum_1h"] == [110] and got["trips_count_1h"] == [4]
    # later reads drop events that left the window
    assert online(store, [7], T0 + timedelta(minutes=75))["trips_sum_1h"] == [5]


def test_aggregated_lists_drop_events_older_than_the_longest_window(store: FeatureStore) -> None:
    from pitstore.online.base import ViewRead
    from pitstore.online.keys import KeyEncoder
    from pitstore.types import Int64

    store.push("driver_push", [event(8, 0), event(8, 40), event(8, 90)])
    key = KeyEncoder(["driver_id"], [Int64]).encode([8])
    (rows,) = store.online.read([ViewRead("driver_activity", ("_ev_ts",), [key])])
    kept = rows.columns[0][0]
    assert len(kept) == 2  # the event at 0 is 90 min before the newest: no read counts it


def test_aggregated_view_matches_materialized_lists(tmp_path: Path) -> None:
    """Pushing events one by one gives the same online aggregates as materializing them."""
    rows = [event(1, m, trips=m) for m in (0, 7, 13, 50, 55)]
    pushed = make_repo(tmp_path / "a", push_source())
    batch = [
        {**r, "event_timestamp": T0.replace(tzinfo=None) + timedelta(minutes=m)}
        for r, m in zip(rows, (0, 7, 13, 50, 55), strict=True)
    ]
    materialized = make_repo(tmp_path / "b", push_source(), batch_rows=batch)
    try:
        for r in rows:
            pushed.push("driver_push", [r])
        materialized.materialize(T0 - timedelta(days=1), T0 + timedelta(hours=1))
        for minutes in (30, 56, 100):
            at = T0 + timedelta(minutes=minutes)
            assert (
                online(pushed, [1], at)["trips_sum_1h"]
                == online(materialized, [1], at)["trips_sum_1h"]
            )
    finally:
        pushed.close()
        materialized.close()


def test_no_online_view_with_online_target(tmp_path: Path) -> None:
    from pitstore import Entity, FeatureView, Field, Float64, Int64

    driver = Entity("driver", join_keys=["driver_id"], dtype=Int64)
    view = FeatureView(
        "quiet", [driver], [Field("conv_rate", Float64)], push_source(), online=False
    )
    store = make_repo(tmp_path, push_source())
    try:
        store.apply([driver, view], prune=True)
        row = {"driver_id": 1, "event_timestamp": T0, "conv_rate": 0.1}
        with pytest.raises(DefinitionError, match="no view fed by it is online"):
            store.push("driver_push", [row])
        with pytest.raises(DefinitionError, match="no view fed by it is online"):
            store.push("driver_push", [row], to="online_and_offline")
        assert log_files(store.repo_path) == []  # refused before anything was logged
        assert store.push("driver_push", [row], to="offline").logged == 1
    finally:
        store.close()


def test_log_folder_is_beside_a_folder_source(tmp_path: Path) -> None:
    from pitstore.store.push_log import log_root

    folder = PushSource("p", batch_source=ParquetSource("data/drivers/"))
    glob_source = PushSource("p", batch_source=ParquetSource("data/x/**/*.parquet", name="x"))
    assert log_root(folder, tmp_path) == tmp_path / "data" / "_pushed" / "p"
    assert log_root(glob_source, tmp_path) == tmp_path / "data" / "_pushed" / "p"
    assert os.path.isabs(log_root(folder, tmp_path))


def test_concurrent_pushes_of_one_entity_lose_no_event(store: FeatureStore) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def pushes(worker: int) -> None:
        for i in range(25):
            store.push("driver_push", [event(9, worker * 10 + i * 0.1, trips=1)])

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(pushes, range(4)))
    assert online(store, [9], T0 + timedelta(minutes=50))["trips_count_1h"] == [100]


def test_aggregated_push_on_redis(tmp_path: Path) -> None:
    import uuid

    from services import redis_url

    config = {"type": "redis", "url": redis_url(), "key_prefix": f"t{uuid.uuid4().hex[:8]}"}
    store = make_repo(tmp_path, push_source(), online=config)
    try:
        store.push("driver_push", [event(4, 1, conv=0.4, trips=2), event(4, 2, trips=3)])
        store.push("driver_push", [event(4, 0, conv=0.1, trips=5)])  # late, inside the window
        got = online(store, [4])
        assert got["trips_sum_1h"] == [10] and got["trips_count_1h"] == [3]
        assert got["conv_rate"] == [0.5]  # the event at minute 2 is the latest
    finally:
        store.online.delete_view("driver_stats")
        store.online.delete_view("driver_activity")
        store.close()


def test_values_a_narrow_type_cannot_hold_are_refused(tmp_path: Path) -> None:
    """An Int32 key shares the integer key encoding with Int64, and a Float32 past its range
    would be stored as infinity: both are refused, and nothing is written or logged."""
    from pitstore import Entity, FeatureView, Field, Float32, Int32

    rider = Entity("rider", join_keys=["rider_id"], dtype=Int32)
    view = FeatureView("rides", [rider], [Field("score", Float32)], push_source())
    store = make_repo(tmp_path, push_source())
    try:
        store.apply([rider, view], prune=True)
        good = {"rider_id": 7, "event_timestamp": T0, "score": 0.5}
        for bad, column in (({"rider_id": 2**40}, "rider_id"), ({"score": 1e300}, "score")):
            with pytest.raises(SchemaError, match=rf"row 0: column '{column}'.*range"):
                store.push("driver_push", [{**good, **bad}], to="online_and_offline")
        assert log_files(store.repo_path) == []
        assert store.push("driver_push", [{**good, "score": 3e38}]).online == {"rides": 1}
    finally:
        store.close()


def test_a_time_finer_than_the_batch_file_is_refused_before_any_write(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from push_helpers import BATCH_SCHEMA

    store = make_repo(tmp_path, push_source())
    schema = BATCH_SCHEMA.set(1, pa.field("event_timestamp", pa.timestamp("ms")))
    pq.write_table(schema.empty_table(), tmp_path / "data" / "drivers.parquet")
    finer = {**event(2, 1), "event_timestamp": (T0 + timedelta(microseconds=5)).isoformat()}
    try:
        with pytest.raises(SchemaError, match=r"'event_timestamp'.*timestamp\[ms\].*whole ms"):
            store.push("driver_push", [event(1, 1), finer], to="online_and_offline")
        assert log_files(tmp_path) == [] and online(store, [1, 2])["conv_rate"] == [None, None]
        store.push("driver_push", [event(1, 1), event(2, 1)], to="online_and_offline")
        assert [r["event_timestamp"] for r in logged_rows(tmp_path)] == [
            T0.replace(tzinfo=None, minute=1)
        ] * 2
    finally:
        store.close()


def test_views_of_one_source_must_agree_on_a_shared_column_type(tmp_path: Path) -> None:
    from pitstore import Entity, FeatureView, Field, Float32, Float64, Int64

    source = push_source()
    driver = Entity("driver", join_keys=["driver_id"], dtype=Int64)
    wide = FeatureView("wide", [driver], [Field("conv_rate", Float64)], source=source)
    narrow = FeatureView("narrow", [driver], [Field("conv_rate", Float32)], source=source)
    store = make_repo(tmp_path, source)  # its own views agree
    try:
        with pytest.raises(
            DefinitionError,
            match=r"'driver_stats' and 'narrow'.*'conv_rate'.*float64 and as float32",
        ):
            store.apply([driver, wide, narrow], prune=False)
    finally:
        store.close()


def test_an_older_clash_in_the_registry_does_not_block_other_applies(tmp_path: Path) -> None:
    from pitstore import Entity, FeatureView, Field, Float32, Int64
    from pitstore.registry.plan import make_plan

    source = push_source()
    store = make_repo(tmp_path, source)
    try:
        # a clash applied before the check existed (written past it, as the old code did)
        narrow = FeatureView("narrow", ["driver"], [Field("conv_rate", Float32)], source=source)
        current = {(o.kind, o.name): o.spec for o in store.registry.list_objects()}
        desired = {**current, ("feature_view", "narrow"): narrow.to_spec()}
        store.registry.apply(make_plan(current, desired, store.registry.revision()), "old")
        # an apply that touches none of those views goes through
        customer = Entity("customer", join_keys=["customer_id"], dtype=Int64)
        assert [c.name for c in store.apply([customer], prune=False).plan.changes] == ["customer"]
        # one that touches them is told
        with pytest.raises(DefinitionError, match="'narrow'"):
            store.apply([narrow], prune=False)
    finally:
        store.close()


def test_a_merge_that_keeps_losing_to_other_writers_fails_instead_of_dropping_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another process storing a newer event of the entity before each of our writes (a race
    # that one process cannot stage, so the store's write does it here): the merge gave up
    # after 5 tries and returned as if done, the event counted offline but not online.
    store = make_repo(tmp_path, push_source())
    try:
        store.push("driver_push", [event(4, 0)])
        write = store.online.write
        newer = iter(range(10, 1000))

        def behind_another_writer(view: str, batch: pa.RecordBatch) -> int:
            if view == "driver_activity":
                at = batch.schema.get_field_index("__ts")
                stamp = batch.column(at)[0].as_py() + next(newer) * 60_000_000
                write(view, batch.set_column(at, "__ts", pa.array([stamp], pa.int64())))
            return write(view, batch)

        monkeypatch.setattr(store.online, "write", behind_another_writer)
        with pytest.raises(StoreUnavailableError, match="do not resend all of it"):
            store.push("driver_push", [event(4, 5)])
    finally:
        store.close()


def test_a_folder_batch_source_without_files_yet_then_with_subfolders(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "drivers"
    folder.mkdir(parents=True)
    (folder / "_SUCCESS").write_bytes(b"")  # a job's marker: no rows yet
    source = PushSource("driver_push", batch_source=ParquetSource("data/drivers"))
    store = make_repo(tmp_path, source)
    try:
        store.push("driver_push", [event(1, 5, conv=0.1)], to="offline")
        frame = pa.table(
            {
                "driver_id": pa.array([1, 2], pa.int64()),
                "event_timestamp": pa.array([T0 + timedelta(minutes=30)] * 2),
            }
        )
        # the folder exists but holds no file to read: the log alone is read
        got = store.get_historical_features(frame, ["driver_stats:conv_rate"]).to_arrow()
        assert got["conv_rate"].to_pylist() == [0.1, None]
        naive = (T0 + timedelta(minutes=5)).replace(tzinfo=None)  # the batch's own type
        rows = [
            {"driver_id": d, "event_timestamp": naive, "conv_rate": c, "trips": 1}
            for d, c in ((1, 0.9), (2, 0.7))
        ]
        (folder / "date=2026-03-01").mkdir()
        pq.write_table(
            pa.Table.from_pylist(rows, schema=BATCH_SCHEMA),
            folder / "date=2026-03-01" / "p.parquet",
        )
        # batch rows in a subfolder are read, before the log: the pushed row wins the tie
        got = store.get_historical_features(frame, ["driver_stats:conv_rate"]).to_arrow()
        assert got["conv_rate"].to_pylist() == [0.1, 0.7]
    finally:
        store.close()
