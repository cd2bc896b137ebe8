"""Rows equal in event and created time: the row read last wins, on every path.

"Read last": files in path order (a folder or glob), rows in file order; for a push source,
its batch file, then its log in push order. Training data, materialized values and pushed
values agree on it, whatever the row groups and the engine's threads.
"""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pitstore import FeatureView, Field, Float64, ParquetSource
from pitstore.store.materialize import BEGINNING
from push_helpers import T0, event, logged_rows, make_repo, online, push_source
from repo_helpers import TRIP_SCHEMA, city_driver, make_store

KEYS = 60


def tied_rows(rng: random.Random) -> list[dict[str, object]]:
    """For each key, 2-4 rows with one (event, created) time and distinct scores."""
    rows = []
    for driver in range(KEYS):
        for copy in range(rng.randint(2, 4)):
            rows.append(
                {
                    "city": "oslo",
                    "driver_id": driver,
                    "event_timestamp": T0,
                    "created": T0,
                    "score": float(driver * 10 + copy),
                    "label": f"{driver}-{copy}",
                }
            )
    rng.shuffle(rows)
    return rows


def test_the_row_read_last_wins_offline_and_online(tmp_path: Path) -> None:
    rng = random.Random(5)
    rows = tied_rows(rng)
    folder = tmp_path / "data" / "trips"
    folder.mkdir(parents=True)
    half = len(rows) // 2
    for name, part in (("b.parquet", rows[half:]), ("a.parquet", rows[:half])):
        table = pa.Table.from_pylist(part, schema=TRIP_SCHEMA)
        pq.write_table(table, folder / name, row_group_size=7)  # many row groups
    last = {}  # file a, then file b; rows in file order
    for row in [*rows[:half], *rows[half:]]:
        last[row["driver_id"]] = row["score"]
    store = make_store(tmp_path)
    view = folder_view()
    store.apply([city_driver, view])
    try:
        keys = sorted(last)
        entity_rows = [{"city": "oslo", "driver_id": k} for k in keys]
        frame = pa.table(
            {
                "city": ["oslo"] * len(keys),
                "driver_id": pa.array(keys, pa.int64()),
                "event_timestamp": pa.array([T0 + timedelta(hours=1)] * len(keys)),
            }
        )
        expected = [last[k] for k in keys]
        for _ in range(3):  # the same answer every time
            offline = store.get_historical_features(frame, ["trips:score"]).to_arrow()
            assert offline["score"].to_pylist() == expected
            store.materialize(BEGINNING, T0 + timedelta(hours=1))
            read = store.get_online_features(["trips:score"], entity_rows, now=T0)
            assert read.to_dict()["score"] == expected
    finally:
        store.close()


def test_the_row_pushed_last_wins_offline_and_online(tmp_path: Path) -> None:
    store = make_repo(tmp_path, push_source())
    try:
        for conv in (0.1, 0.2, 0.3):  # three pushes of one (event, created) time
            store.push("driver_push", [event(1, 5, conv=conv)], to="online_and_offline")
        store.push(
            "driver_push",
            [event(2, 5, conv=0.7), event(2, 5, conv=0.8)],  # one push, rows in order
            to="online_and_offline",
        )
        assert online(store, [1, 2])["conv_rate"] == [0.3, 0.8]
        assert len(logged_rows(tmp_path)) == 5
        frame = pa.table(
            {
                "driver_id": pa.array([1, 2], pa.int64()),
                "event_timestamp": pa.array([T0 + timedelta(minutes=30)] * 2),
            }
        )
        offline = store.get_historical_features(frame, ["driver_stats:conv_rate"]).to_arrow()
        assert offline["conv_rate"].to_pylist() == [0.3, 0.8]
    finally:
        store.close()


def test_log_files_of_older_versions_come_before_new_ones(tmp_path: Path) -> None:
    # files were named part-<uuid>: 15 in 16 of them sorted after part-<time>, so an old
    # push beat every later one on a tie offline (and materialize rolled online back)
    store = make_repo(tmp_path, push_source())
    try:
        store.push("driver_push", [event(1, 5, conv=0.1)], to="online_and_offline")
        (old,) = tmp_path.glob("data/_pushed/driver_push/date=*/part-*.parquet")
        old.rename(old.with_name("part-" + "f" * 32 + ".parquet"))  # an older version's name
        store.push("driver_push", [event(1, 5, conv=0.9)], to="online_and_offline")
        frame = pa.table(
            {
                "driver_id": pa.array([1], pa.int64()),
                "event_timestamp": pa.array([T0 + timedelta(minutes=30)]),
            }
        )
        offline = store.get_historical_features(frame, ["driver_stats:conv_rate"]).to_arrow()
        assert offline["conv_rate"].to_pylist() == [0.9] == online(store, [1])["conv_rate"]
    finally:
        store.close()


def test_concurrent_pushes_of_a_tie_agree_offline_and_online(tmp_path: Path) -> None:
    import threading

    store = make_repo(tmp_path, push_source())
    try:
        pushes = [
            threading.Thread(
                target=store.push,
                args=("driver_push", [event(1, 5, conv=c / 10)]),
                kwargs={"to": "online_and_offline"},
            )
            for c in range(1, 9)
        ]
        for push in pushes:
            push.start()
        for push in pushes:
            push.join()
        frame = pa.table(
            {
                "driver_id": pa.array([1], pa.int64()),
                "event_timestamp": pa.array([T0 + timedelta(minutes=30)]),
            }
        )
        offline = store.get_historical_features(frame, ["driver_stats:conv_rate"]).to_arrow()
        assert offline["conv_rate"].to_pylist() == online(store, [1])["conv_rate"]
    finally:
        store.close()


def test_a_tie_across_subfolders_goes_to_the_file_last_in_path_order(tmp_path: Path) -> None:
    # a folder source with date=... subfolders and a file of its own: files are read in the
    # order of their paths as text, whatever their depth (date=... < top.parquet, late/ <
    # part-0.parquet); DuckDB read a folder's own files before its subfolders' files
    folder = tmp_path / "data" / "trips"
    parts = {
        "date=2026-01-01/part-0.parquet": [(1, 1.0), (2, 2.0)],
        "date=2026-01-02/part-0.parquet": [(1, 1.5), (2, 2.5), (3, 3.0)],
        "date=2026-01-02/late/part-0.parquet": [(3, 3.5)],  # before part-0.parquet
        "top.parquet": [(1, 1.9)],
        "_temporary/0/part-0.parquet": [(2, 9.0)],  # unfinished output: not read
    }
    for name, rows in parts.items():
        table = pa.Table.from_pylist(
            [
                {"city": "oslo", "driver_id": d, "event_timestamp": T0, "created": T0, "score": s}
                for d, s in rows
            ],
            schema=TRIP_SCHEMA,
        )
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, folder / name)
    expected = [1.9, 2.5, 3.0]
    store = make_store(tmp_path)
    view = folder_view()
    store.apply([city_driver, view])
    try:
        frame = pa.table(
            {
                "city": ["oslo"] * 3,
                "driver_id": pa.array([1, 2, 3], pa.int64()),
                "event_timestamp": pa.array([T0 + timedelta(hours=1)] * 3),
            }
        )
        offline = store.get_historical_features(frame, ["trips:score"]).to_arrow()
        assert offline["score"].to_pylist() == expected
        store.materialize(BEGINNING, T0 + timedelta(hours=1))
        entity_rows = [{"city": "oslo", "driver_id": k} for k in (1, 2, 3)]
        read = store.get_online_features(["trips:score"], entity_rows, now=T0)
        assert read.to_dict()["score"] == expected
    finally:
        store.close()


def folder_view() -> FeatureView:
    """The trips' score, read from the folder ``data/trips``."""
    return FeatureView(
        "trips",
        [city_driver],
        [Field("score", Float64)],
        ParquetSource("data/trips", created_timestamp_field="created"),
    )
