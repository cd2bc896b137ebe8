"""The FeatureStore facade over real DuckDB and SQLite: retrieval, materialization, reads."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from pitstore import (
    DefinitionError,
    FeatureService,
    FeatureView,
    Field,
    Float64,
    NotFoundError,
    ParquetSource,
    SchemaError,
    StoreUnavailableError,
    String,
)
from pitstore.errors import ConflictError
from pitstore.store.materialize import BEGINNING
from repo_helpers import T0, TRIP_SCHEMA, city_driver, make_store, trip_view, write_rows


def rows() -> list[dict[str, object]]:
    return [
        {
            "city": "oslo",
            "driver_id": 1,
            "event_timestamp": T0,
            "created": T0,
            "score": 1.0,
            "label": "a",
        },
        {
            "city": "oslo",
            "driver_id": 1,
            "event_timestamp": T0 + timedelta(hours=1),
            "created": T0,
            "score": 2.0,
            "label": "b",
        },
        # a tie on event_timestamp: the later created wins
        {
            "city": "oslo",
            "driver_id": 1,
            "event_timestamp": T0 + timedelta(hours=1),
            "created": T0 + timedelta(minutes=1),
            "score": 3.0,
            "label": "c",
        },
        {
            "city": "rome",
            "driver_id": 1,
            "event_timestamp": T0,
            "created": T0,
            "score": 9.0,
            "label": "z",
        },
    ]


def score_view(name: str, path: str = "data/trips.parquet") -> FeatureView:
    """A view of the trips' score under another name (or over another file)."""
    source = ParquetSource(path, created_timestamp_field="created")
    return FeatureView(name, [city_driver], [Field("score", Float64)], source)


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    store = make_store(tmp_path)
    write_rows(tmp_path / "data" / "trips.parquet", rows(), TRIP_SCHEMA)
    view = trip_view(ttl=timedelta(hours=2))
    store.apply([city_driver, view, FeatureService("svc", [view[["score"]]])])
    yield store
    store.close()


def entity_frame(*items: tuple[str | None, int | None, object]) -> pa.Table:
    return pa.table(
        {
            "city": pa.array([i[0] for i in items], pa.string()),
            "driver_id": pa.array([i[1] for i in items], pa.int64()),
            "event_timestamp": pa.array([i[2] for i in items], pa.timestamp("us", tz="UTC")),
        }
    )


def test_historical_through_the_facade(store) -> None:  # type: ignore[no-untyped-def]
    frame = entity_frame(
        ("oslo", 1, T0 + timedelta(hours=3)),  # ttl 2h: the 1h row is exactly at the edge
        ("oslo", 1, T0 + timedelta(minutes=30)),
        ("rome", 1, T0 - timedelta(seconds=1)),  # before any row
        ("oslo", 1, T0 + timedelta(hours=3, microseconds=1)),  # just past the ttl
        (None, 1, T0),
    )
    result = store.get_historical_features(frame, ["trips:score", "trips:label"]).to_arrow()
    assert result.column_names == ["city", "driver_id", "event_timestamp", "score", "label"]
    assert result.column("score").to_pylist() == [3.0, 1.0, None, None, None]
    assert result.column("label").to_pylist() == ["c", "a", None, None, None]

    by_service = store.get_historical_features(frame, feature_service="svc").to_pandas()
    assert list(by_service.columns) == ["city", "driver_id", "event_timestamp", "score"]
    full = store.get_historical_features(frame, ["trips:score"], full_feature_names=True)
    assert full.to_arrow().column_names[-1] == "trips__score"
    assert full.to_polars().shape == (5, 4)


def test_request_errors(store) -> None:  # type: ignore[no-untyped-def]
    frame = entity_frame(("oslo", 1, T0))
    with pytest.raises(NotFoundError, match="did you mean 'score'"):
        store.get_historical_features(frame, ["trips:scor"])
    with pytest.raises(NotFoundError, match="'trip'"):
        store.get_historical_features(frame, ["trip:score"])
    with pytest.raises(DefinitionError, match=r"'trips\.score'"):
        store.get_historical_features(frame, ["trips.score"])
    with pytest.raises(SchemaError, match="city"):
        store.get_historical_features(frame.drop_columns(["city"]), ["trips:score"])
    with pytest.raises(DefinitionError, match="either features"):
        store.get_historical_features(frame)


def test_name_clash_without_full_names_names_both_views(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    write_rows(tmp_path / "data" / "trips.parquet", rows(), TRIP_SCHEMA)
    other = FeatureView(
        "trips2",
        [city_driver],
        [Field("score", Float64)],
        ParquetSource("data/trips.parquet"),
    )
    store.apply([city_driver, trip_view(None), other])
    with pytest.raises(DefinitionError, match=r"'trips' and 'trips2'.*full_feature_names"):
        store.get_historical_features(
            entity_frame(("oslo", 1, T0)), ["trips:score", "trips2:score"]
        )


def test_materialize_then_read_online(store) -> None:  # type: ignore[no-untyped-def]
    end = T0 + timedelta(hours=1)
    report = store.materialize(BEGINNING, end)
    assert report.rows == 2
    assert store.registry.get_watermark("trips") == end
    rows_in = [
        {"city": "oslo", "driver_id": 1},
        {"city": "rome", "driver_id": 1},
        {"city": "oslo", "driver_id": 2},
    ]
    response = store.get_online_features(["trips:score", "trips:label"], rows_in, now=end)
    assert response.to_dict() == {
        "city": ["oslo", "rome", "oslo"],
        "driver_id": [1, 1, 2],
        "score": [3.0, 9.0, None],
        "label": ["c", "z", None],
    }
    assert response.statuses["score"] == ["PRESENT", "PRESENT", "NOT_FOUND"]
    later = store.get_online_features(
        ["trips:score"], rows_in, now=end + timedelta(hours=1, seconds=1)
    )
    assert later.statuses["score"] == ["PRESENT", "EXPIRED", "NOT_FOUND"]
    assert later.to_dict()["score"] == [3.0, None, None]
    assert later.to_arrow().schema.field("score").type == pa.float64()
    columnar = store.get_online_features(
        feature_service="svc", entity_rows={"city": ["oslo"], "driver_id": [1]}, now=end
    )
    assert columnar.to_dict()["score"] == [3.0]


def test_online_bad_input(store) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SchemaError, match=r"\['city'\] missing"):
        store.get_online_features(["trips:score"], [{"driver_id": 1}])
    with pytest.raises(SchemaError, match="'1'"):
        store.get_online_features(["trips:score"], [{"city": "oslo", "driver_id": "1"}])
    with pytest.raises(NotFoundError, match="'nope'"):
        store.get_online_features(["trips:nope"], [{"city": "oslo", "driver_id": 1}])


def test_monotonic_materialization_and_incremental_watermark(store) -> None:  # type: ignore[no-untyped-def]
    store.materialize_incremental(T0 + timedelta(hours=1))
    # an older range materialized later must not roll the value back
    store.materialize(BEGINNING, T0)
    response = store.get_online_features(
        ["trips:score"], [{"city": "oslo", "driver_id": 1}], now=T0 + timedelta(hours=1)
    )
    assert response.to_dict()["score"] == [3.0]
    assert store.registry.get_watermark("trips") == T0 + timedelta(hours=1)


def test_incremental_skips_a_view_already_past_the_end_and_runs_the_others(
    store,
) -> None:  # type: ignore[no-untyped-def]
    store.apply([score_view("trips_copy")], prune=False)
    later = T0 + timedelta(hours=2)
    store.materialize_incremental(later, views=["trips_copy"])
    # "trips" comes first and runs; "trips_copy" is already at `later`: skipped, not an error
    report = store.materialize_incremental(T0 + timedelta(hours=1))
    ran = [(v.view, v.rows > 0, v.skipped) for v in report.views]
    assert ran == [("trips", True, False), ("trips_copy", False, True)]
    assert store.registry.get_watermark("trips") == T0 + timedelta(hours=1)
    assert store.registry.get_watermark("trips_copy") == later
    # a plain run with start after end is refused before any view is written
    with pytest.raises(DefinitionError, match="after end"):
        store.materialize(later, T0, views=["trips"])
    assert store.registry.get_watermark("trips") == T0 + timedelta(hours=1)


def test_a_view_that_fails_stops_the_run_after_the_views_before_it(
    store,
) -> None:  # type: ignore[no-untyped-def]
    # The next view's query runs ahead while a view is written: a failure in it surfaces in
    # view order, after the views before it were written, and the views after it never are.
    folder = store.repo_path / "data"
    (folder / "gone.parquet").write_bytes((folder / "trips.parquet").read_bytes())
    views = [score_view("b_gone", "data/gone.parquet"), score_view("c_after")]
    store.apply(views, prune=False)
    (folder / "gone.parquet").unlink()
    end = T0 + timedelta(hours=1)
    with pytest.raises(NotFoundError, match=r"gone\.parquet"):
        store.materialize(BEGINNING, end, views=["trips", "b_gone", "c_after"])
    marks = [store.registry.get_watermark(v) for v in ("trips", "b_gone", "c_after")]
    assert marks == [end, None, None]
    entity = [{"city": "oslo", "driver_id": 1}]
    read = store.get_online_features(
        ["trips:score", "c_after:score"], entity, now=end, full_feature_names=True
    )
    assert read.to_dict()["trips__score"] == [3.0]
    assert read.to_dict()["c_after__score"] == [None]
    # the run left nothing behind: the same store materializes again
    report = store.materialize(BEGINNING, end, views=["trips", "c_after"])
    assert [v.rows for v in report.views] == [2, 2]


def test_incremental_with_a_ttl_longer_than_the_calendar(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    write_rows(tmp_path / "data" / "trips.parquet", rows(), TRIP_SCHEMA)
    store.apply([city_driver, trip_view(ttl=timedelta(days=365 * 3000))])
    try:  # end - ttl was a raw OverflowError
        report = store.materialize_incremental(T0 + timedelta(hours=1))
        assert report.views[0].rows == 2
    finally:
        store.close()


def test_a_longer_ttl_is_loaded_by_the_next_incremental_run(tmp_path: Path) -> None:
    """Online equals training data after the TTL grows: the first run loaded only the rows
    inside the old TTL, so the watermark restarts (the online rows stay meanwhile)."""
    store = make_store(tmp_path)
    write_rows(tmp_path / "data" / "trips.parquet", rows(), TRIP_SCHEMA)
    store.apply([city_driver, trip_view(ttl=timedelta(minutes=30))])
    entities = [{"city": "oslo", "driver_id": 1}, {"city": "rome", "driver_id": 1}]
    try:
        first = T0 + timedelta(hours=1, minutes=10)
        store.materialize_incremental(first)  # from first - 30 min: rome's row is older
        applied = store.apply([city_driver, trip_view(ttl=timedelta(hours=4))])
        assert [c.resets_watermark for c in applied.plan.changes] == [True]
        assert store.registry.get_watermark("trips") is None
        kept = store.get_online_features(["trips:score"], entities[:1], now=first)
        assert kept.to_dict()["score"] == [3.0]  # not dropped: the rows still fit the view
        now = first + timedelta(minutes=10)
        store.materialize_incremental(now)
        online = store.get_online_features(["trips:score"], entities, now=now).to_dict()
        frame = entity_frame(("oslo", 1, now), ("rome", 1, now))
        offline = store.get_historical_features(frame, ["trips:score"]).to_arrow()
        assert online["score"] == offline["score"].to_pylist() == [3.0, 9.0]
    finally:
        store.close()


def test_incremental_loads_rows_before_1970(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    old = {**rows()[3], "event_timestamp": T0.replace(year=1969), "created": None}
    write_rows(tmp_path / "data" / "trips.parquet", [rows()[0], old], TRIP_SCHEMA)
    store.apply([city_driver, trip_view(ttl=None)])
    try:  # an incremental run without watermark or TTL started at 1970: rome was never loaded
        now = T0 + timedelta(hours=1)
        store.materialize_incremental(now)
        entities = [{"city": "oslo", "driver_id": 1}, {"city": "rome", "driver_id": 1}]
        online = store.get_online_features(["trips:score"], entities, now=now).to_dict()
        assert online["score"] == [1.0, 9.0]
    finally:
        store.close()


def trips_like(
    path: str = "data/trips.parquet", ttl: timedelta = timedelta(hours=2), description: str = ""
) -> FeatureView:
    """The fixture's trips view, with one thing changed."""
    return FeatureView(
        "trips",
        [city_driver],
        [Field("score", Float64), Field("label", String)],
        ParquetSource(path, created_timestamp_field="created"),
        ttl=ttl,
        description=description,
    )


class PauseBeforeWriting:
    """A progress callback that holds the run after it read the definitions, before it
    writes, while the test applies a change (as a deploy during a nightly run would)."""

    def __init__(self, change: Callable[[], None]) -> None:
        self.change = change

    def view_started(self, view: str, start: object, end: object) -> None:
        self.change()

    def rows_written(self, view: str, rows: int) -> None:
        pass

    def view_finished(self, view: str, rows: int, seconds: float) -> None:
        pass


def test_an_apply_during_materialization_is_not_undone(store) -> None:  # type: ignore[no-untyped-def]
    """The source changes while a run of the old definition writes: the run's rows and
    watermark would have stayed, online serving the old source for good."""
    folder = store.repo_path / "data"
    write_rows(
        folder / "new.parquet", [{**r, "score": 10 * r["score"]} for r in rows()], TRIP_SCHEMA
    )
    moved = trips_like(path="data/new.parquet")
    other = make_store(store.repo_path)  # another process's apply
    end = T0 + timedelta(hours=1)
    pause = PauseBeforeWriting(lambda: other.apply([city_driver, moved], prune=False))
    with pytest.raises(ConflictError, match="changed by an apply while it was materialized"):
        store.materialize_incremental(end, progress=pause)
    assert store.registry.get_watermark("trips") is None
    entity = [{"city": "oslo", "driver_id": 1}]
    assert store.get_online_features(["trips:score"], entity, now=end).to_dict()["score"] == [None]
    store.materialize_incremental(end)  # the rerun the error asks for
    assert store.get_online_features(["trips:score"], entity, now=end).to_dict()["score"] == [30.0]
    other.close()


@pytest.mark.parametrize(
    ("change", "watermark"),
    [("description", True), ("longer ttl", False)],
)
def test_an_apply_that_keeps_the_data_during_materialization(
    store, change: str, watermark: bool
) -> None:  # type: ignore[no-untyped-def]
    if change == "description":
        view = trips_like(description="scores")
    else:
        view = trips_like(ttl=timedelta(days=2))
    other = make_store(store.repo_path)
    end = T0 + timedelta(hours=1)
    store.materialize_incremental(
        end, progress=PauseBeforeWriting(lambda: other.apply([view], prune=False))
    )
    # the rows fit the new definition: kept; the watermark too, unless the TTL grew
    expected = end if watermark else None
    assert store.registry.get_watermark("trips") == expected
    entity = [{"city": "oslo", "driver_id": 1}]
    assert store.get_online_features(["trips:score"], entity, now=end).to_dict()["score"] == [3.0]
    other.close()


def narrower_trips() -> FeatureView:
    """The trips view without its label: a change that makes its online rows stale."""
    return FeatureView(
        "trips",
        [city_driver],
        [Field("score", Float64)],
        ParquetSource("data/trips.parquet", created_timestamp_field="created"),
        ttl=timedelta(hours=2),
    )


def test_changing_a_view_drops_its_online_data(store) -> None:  # type: ignore[no-untyped-def]
    store.materialize(BEGINNING, T0 + timedelta(hours=1))
    narrower = narrower_trips()
    store.apply([narrower], prune=False)
    assert store.registry.get_watermark("trips") is None
    response = store.get_online_features(["trips:score"], [{"city": "oslo", "driver_id": 1}])
    assert response.statuses["score"] == ["NOT_FOUND"]


def test_a_store_failing_to_clear_a_changed_view_leaves_the_registry_as_it_was(
    store, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    store.materialize(BEGINNING, T0 + timedelta(hours=1))
    revision, watermark = store.registry.revision(), store.registry.get_watermark("trips")
    narrower = narrower_trips()
    # the same registry, with an online store that refuses connections
    unreachable = make_store(tmp_path, online={"type": "redis", "url": "redis://127.0.0.1:1/0"})
    try:
        with pytest.raises(StoreUnavailableError):
            unreachable.apply([narrower], prune=False)
    finally:
        unreachable.close()
    assert store.registry.revision() == revision
    # The watermark goes before any row (a failure half-way must not leave cleared rows behind
    # an old watermark): the next incremental run reads everything again, the rows stay.
    assert watermark is not None and store.registry.get_watermark("trips") is None
    key, now = [{"city": "oslo", "driver_id": 1}], T0 + timedelta(hours=1)
    read = store.get_online_features(["trips:label"], key, now=now)
    assert read.statuses["label"] == ["PRESENT"]  # the old definition, over its own rows
    # the next apply sees the change still to make, and clears the rows this time
    assert [c.name for c in store.apply([narrower], prune=False).plan.changes] == ["trips"]
    read = store.get_online_features(["trips:score"], key, now=now)
    assert read.statuses["score"] == ["NOT_FOUND"]


def test_reads_continue_during_materialization(store) -> None:  # type: ignore[no-untyped-def]
    store.materialize(BEGINNING, T0)
    errors: list[BaseException] = []
    done = threading.Event()

    def reader() -> None:
        try:
            while not done.is_set():
                store.get_online_features(
                    ["trips:score"], [{"city": "rome", "driver_id": 1}], now=T0
                )
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    for _ in range(20):
        store.materialize(BEGINNING, T0 + timedelta(hours=1))
    done.set()
    thread.join()
    assert errors == []


_KILL_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from datetime import datetime
    from pitstore import FeatureStore
    from pitstore.config import parse_config
    from pitstore.store.materialize import BEGINNING, materialize

    class Stop:
        def view_started(self, *a): pass
        def rows_written(self, view, rows):
            print("wrote", rows, flush=True)
            time.sleep(60)  # the test kills us here, between two batches
        def view_finished(self, *a): pass

    store = FeatureStore(sys.argv[1], parse_config({"project": "test"}))
    materialize(store, BEGINNING, datetime.fromisoformat(sys.argv[2]), None,
                progress=Stop(), incremental=False, batch_rows=10)
    """
)


def test_killed_materialization_reruns_to_the_same_state(tmp_path: Path) -> None:
    from repo_helpers import T0 as t0

    many = [
        {
            "city": f"c{i % 7}",
            "driver_id": i,
            "event_timestamp": t0 + timedelta(minutes=i % 50),
            "created": t0,
            "score": float(i),
            "label": str(i),
        }
        for i in range(200)
    ]
    repos = []
    for name in ("killed", "clean"):
        store = make_store(tmp_path / name)
        write_rows(tmp_path / name / "data" / "trips.parquet", many, TRIP_SCHEMA)
        store.apply([city_driver, trip_view(None)])
        repos.append(store)
    killed, clean = repos
    end = t0 + timedelta(hours=1)
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILL_SCRIPT, str(tmp_path / "killed"), end.isoformat()],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().startswith("wrote 10")
    proc.kill()
    proc.wait()
    assert killed.registry.get_watermark("trips") is None  # never ahead of the data
    killed.materialize(BEGINNING, end)
    clean.materialize(BEGINNING, end)
    keys = {"city": [r["city"] for r in many], "driver_id": [r["driver_id"] for r in many]}
    features = ["trips:score", "trips:label"]
    assert (
        killed.get_online_features(features, keys, now=end).to_dict()
        == clean.get_online_features(features, keys, now=end).to_dict()
    )
    assert killed.registry.get_watermark("trips") == end


def test_an_apply_that_fails_half_way_leaves_the_views_to_be_refilled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The apply clears the online rows of the views it changes, then commits. A store that
    # failed after the first clear left that view empty under its old definition and old
    # watermark: the next incremental run started from there and never refilled it.
    store = make_store(tmp_path)
    write_rows(tmp_path / "data" / "trips.parquet", rows(), TRIP_SCHEMA)

    (tmp_path / "data" / "copy.parquet").write_bytes(
        (tmp_path / "data" / "trips.parquet").read_bytes()
    )
    store.apply([city_driver, score_view("a"), score_view("b")])
    end = T0 + timedelta(hours=2)  # after every row: a run from this watermark reads none
    store.materialize_incremental(end)
    delete = store.online.delete_view
    calls: list[str] = []

    def fails_second(name: str) -> None:
        calls.append(name)
        if len(calls) == 2:
            raise StoreUnavailableError("the online store went away")
        delete(name)

    monkeypatch.setattr(store.online, "delete_view", fails_second)
    moved = [score_view("a", "data/copy.parquet"), score_view("b", "data/copy.parquet")]
    with pytest.raises(StoreUnavailableError):
        store.apply(moved, prune=False)
    monkeypatch.undo()
    assert store.registry.history("feature_view", "a")[-1].version == 1  # not applied
    store.materialize_incremental(end)
    entity = [{"city": "oslo", "driver_id": 1}]
    read = store.get_online_features(
        ["a:score", "b:score"], entity, now=end, full_feature_names=True
    )
    assert read.to_dict()["a__score"] == [3.0] and read.to_dict()["b__score"] == [3.0]
    store.close()


def test_a_failed_run_does_not_wait_for_the_query_read_ahead(
    store, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    # The next view's query runs while a view is written. A run that fails (or is
    # interrupted) returns at once; it waited for that query, and Ctrl-C for the whole of it.
    store.apply([score_view("trips_copy")], prune=False)
    latest = store.offline.latest

    def slow_second(query, start, end):  # type: ignore[no-untyped-def]
        if query.name == "trips_copy":  # a long query of the engine's own
            cur = store.offline.cursor()
            try:
                cur.sql("SELECT count(*) FROM range(100000000000)").fetchall()
            finally:
                cur.close()
        return latest(query, start, end)

    def failing_write(view: str, batch: object) -> int:
        raise StoreUnavailableError("the online store went away")

    monkeypatch.setattr(store.offline, "latest", slow_second)
    monkeypatch.setattr(store.online, "write", failing_write)
    began = time.monotonic()
    with pytest.raises(StoreUnavailableError):
        store.materialize(BEGINNING, T0 + timedelta(hours=1), views=["trips", "trips_copy"])
    assert time.monotonic() - began < 5
    # and the query read ahead was interrupted, not left running to its end
    deadline = time.monotonic() + 5
    while any(t.name == "pitstore-materialize" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the query read ahead still runs"
        time.sleep(0.02)


def test_a_registry_holding_a_reserved_column_name_still_loads(tmp_path: Path) -> None:
    """A view applied before names such as '__ts' were refused: the registry still reads and
    other objects still apply; only defining the view again is refused."""
    from pitstore.names import reading_stored

    def old_view() -> FeatureView:
        source = ParquetSource("data/trips.parquet")
        return FeatureView("old", [city_driver], [Field("__ts", Float64)], source)

    store = make_store(tmp_path)
    with reading_stored():  # as an older pitstore let it through
        store.apply([city_driver, old_view()])
    store.close()
    store = make_store(tmp_path)
    try:
        assert store.get_feature_view("old").feature_names == ("__ts",)
        store.apply([score_view("scores")])  # checked together with the registered objects
        assert {v.name for v in store.list_feature_views()} == {"old", "scores"}
        with pytest.raises(DefinitionError, match="'__ts' uses a reserved name"):
            old_view()
    finally:
        store.close()
