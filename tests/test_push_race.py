"""Pushes of one entity's events from several processes at once: online == offline.

An aggregated view's push reads the entity's event lists, merges and writes them back. Without
a lock across processes, another process's event stored between the read and the write was
overwritten: counted offline, lost online (about one in six here, before the lock).
"""

from __future__ import annotations

import multiprocessing
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from push_helpers import T0, event, logged_rows, make_repo, online, push_source
from services import postgres_url, redis_url

PROCESSES = 3
PUSHES = 40


def online_config(kind: str) -> dict[str, Any] | None:
    name = f"race_{uuid.uuid4().hex[:8]}"
    if kind == "redis":
        return {"type": "redis", "url": redis_url(), "key_prefix": name}
    if kind == "postgres":
        return {"type": "postgres", "dsn": postgres_url(), "schema_name": name}
    return None


def pusher(folder: str, config: dict[str, Any] | None, worker: int, start: float) -> None:
    from pitstore import FeatureStore
    from pitstore.config import parse_config

    settings: dict[str, Any] = {"project": "push"}
    if config is not None:
        settings["online_store"] = config
    store = FeatureStore(Path(folder), parse_config(settings), registry_refresh_seconds=3600)
    while time.time() < start:
        time.sleep(0.001)
    for i in range(PUSHES):
        row = event(9, 0)  # distinct times: in push order within a process, interleaved across
        stamp = T0 + timedelta(microseconds=(i * PROCESSES + worker) * 1000)
        row["event_timestamp"] = stamp.isoformat()
        store.push("driver_push", [row], to="online_and_offline")
    store.close()


@pytest.mark.parametrize("kind", ["sqlite", "redis", "postgres"])
def test_concurrent_pushes_of_one_entity_are_all_counted_online(tmp_path: Path, kind: str) -> None:
    config = online_config(kind)
    store = make_repo(tmp_path, push_source(), online=config, batch_rows=[])
    try:
        spawn = multiprocessing.get_context("spawn")
        start = time.time() + 2  # every process is up and has read the registry by then
        workers = [
            spawn.Process(target=pusher, args=(str(tmp_path), config, w, start))
            for w in range(PROCESSES)
        ]
        for process in workers:
            process.start()
        for process in workers:
            process.join(120)
            assert process.exitcode == 0
        at = T0 + timedelta(minutes=59)
        entity = pa.table(
            {"driver_id": [9], "event_timestamp": pa.array([at], pa.timestamp("us", "UTC"))}
        )
        offline = store.get_historical_features(entity, ["driver_activity:trips_count_1h"])
        assert len(logged_rows(tmp_path)) == PROCESSES * PUSHES
        assert offline.to_arrow()["trips_count_1h"].to_pylist() == [PROCESSES * PUSHES]
        assert online(store, [9], at)["trips_count_1h"] == [PROCESSES * PUSHES]
    finally:
        for view in ("driver_stats", "driver_activity"):
            store.online.delete_view(view)
        store.close()
        if kind == "postgres":
            import psycopg

            assert config is not None
            with psycopg.connect(postgres_url(), autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{config["schema_name"]}" CASCADE')


@pytest.mark.parametrize("kind", ["sqlite", "redis", "postgres"])
def test_a_merge_lock_held_elsewhere_is_waited_for_then_a_retryable_error(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pitstore.errors import StoreUnavailableError
    from pitstore.online import merge_lock

    monkeypatch.setattr(merge_lock, "WAIT_S", 0.3)
    config = online_config(kind)
    first = make_repo(tmp_path, push_source(), online=config, batch_rows=[])
    second = make_repo(tmp_path, push_source(), online=config)
    try:
        with first.online.merge_lock("driver_activity"):  # type: ignore[attr-defined]
            began = time.monotonic()
            waiting = second.online.merge_lock("driver_activity")  # type: ignore[attr-defined]
            with pytest.raises(StoreUnavailableError, match="retry the push"), waiting:
                pass
            assert time.monotonic() - began >= 0.3
            with second.online.merge_lock("driver_stats"):  # type: ignore[attr-defined]
                pass  # another view's lock is free
        with second.online.merge_lock("driver_activity"):  # type: ignore[attr-defined]
            pass  # released
    finally:
        first.close()
        second.close()
        if kind == "postgres":
            import psycopg

            assert config is not None
            with psycopg.connect(postgres_url(), autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{config["schema_name"]}" CASCADE')
