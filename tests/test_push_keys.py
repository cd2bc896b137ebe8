"""Idempotency keys: a push resent with its key is logged once and counted once, wherever the
first attempt stopped; a key reused for other rows writes them."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pitstore import FeatureStore
from pitstore.errors import DefinitionError, SchemaError
from pitstore.store import push_keys, push_source
from pitstore.store.push_source import Origin
from push_helpers import event, logged_rows, make_repo, online
from push_helpers import push_source as make_source
from test_push_cli import run
from test_push_server import Client

BOTH = "online_and_offline"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeatureStore]:
    s = make_repo(tmp_path, make_source())
    yield s
    s.close()


def counts(store: FeatureStore, ids: list[int]) -> list[int]:
    return list(online(store, ids)["trips_count_1h"])


def key_root(store: FeatureStore) -> Path:
    return store.repo_path / "data" / "_pushed" / "driver_push"


def test_a_resent_push_is_logged_and_counted_once(store: FeatureStore) -> None:
    rows = [event(1, 0, trips=2), event(2, 5, trips=3)]
    first = store.push("driver_push", rows, BOTH, idempotency_key="order-17")
    again = store.push("driver_push", rows, BOTH, idempotency_key="order-17")
    assert (first.logged, again.logged) == (2, 0)
    assert len(logged_rows(store.repo_path)) == 2
    assert counts(store, [1, 2]) == [1, 1]
    # the same rows without a key are another push: logged and counted again
    store.push("driver_push", rows, BOTH)
    assert len(logged_rows(store.repo_path)) == 4 and counts(store, [1, 2]) == [2, 2]


def test_an_online_resend_is_not_counted_twice(store: FeatureStore) -> None:
    rows = [event(3, 0, trips=4)]
    for _ in range(3):
        store.push("driver_push", rows, idempotency_key="k-online")
    got = online(store, [3])
    assert got["trips_count_1h"] == [1] and got["trips_sum_1h"] == [4]


def test_a_key_reused_for_other_rows_writes_them(store: FeatureStore) -> None:
    store.push("driver_push", [event(1, 0)], BOTH, idempotency_key="reused")
    other = store.push("driver_push", [event(1, 9)], BOTH, idempotency_key="reused")
    assert other.logged == 1  # another row, not a resend of the first
    both = store.push("driver_push", [event(1, 0), event(1, 20)], BOTH, idempotency_key="reused")
    assert both.logged == 1  # the row sent before is recognised, the new one is not
    assert len(logged_rows(store.repo_path)) == 3 and counts(store, [1]) == [3]


def test_equal_rows_in_one_push_are_two_rows(store: FeatureStore) -> None:
    rows = [event(4, 0), event(4, 0)]
    assert store.push("driver_push", rows, "offline", idempotency_key="twins").logged == 2
    assert store.push("driver_push", rows, "offline", idempotency_key="twins").logged == 0
    ids = {r["_pitstore_message_id"] for r in logged_rows(store.repo_path)}
    assert len(ids) == 2


def test_a_resend_after_a_failure_half_way_completes_the_push(
    store: FeatureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first attempt logged its rows, then failed online (a fault we cannot cause on a
    local SQLite file: a mock). The resend writes them online and logs nothing again."""
    real = push_source.write_online

    def fail(*args: Any, **kwargs: Any) -> int:
        raise OSError("the online store went away")

    monkeypatch.setattr(push_source, "write_online", fail)
    rows = [event(5, 0, trips=7)]
    with pytest.raises(OSError):
        store.push("driver_push", rows, BOTH, idempotency_key="half")
    assert len(logged_rows(store.repo_path)) == 1 and counts(store, [5]) == [0]
    monkeypatch.setattr(push_source, "write_online", real)
    assert store.push("driver_push", rows, BOTH, idempotency_key="half").logged == 0
    assert len(logged_rows(store.repo_path)) == 1 and counts(store, [5]) == [1]


def test_a_resend_waits_for_an_attempt_still_running(store: FeatureStore) -> None:
    holding, release = threading.Event(), threading.Event()

    def first_attempt() -> None:
        with push_keys.claimed(key_root(store), "slow") as claimed_at:
            assert claimed_at is None
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=first_attempt)
    holder.start()
    assert holding.wait(10)
    done = threading.Event()
    resend = threading.Thread(
        target=lambda: (
            store.push("driver_push", [event(6, 0)], idempotency_key="slow"),
            done.set(),
        )
    )
    resend.start()
    time.sleep(0.3)
    assert not done.is_set()  # waiting on the lock, not racing the first attempt
    release.set()
    holder.join(10)
    resend.join(10)
    assert done.is_set() and counts(store, [6]) == [1]


def test_bad_keys_are_refused_before_any_write(store: FeatureStore) -> None:
    for key in ["", "x" * 256, "tab\there"]:
        with pytest.raises(SchemaError, match="idempotency key"):
            store.push("driver_push", [event(1, 0)], BOTH, idempotency_key=key)
    with pytest.raises(DefinitionError, match="origin"):
        origin = Origin(["m"], [False], [None])
        store.push("driver_push", [event(1, 0)], origin=origin, idempotency_key="k")
    assert logged_rows(store.repo_path) == [] and counts(store, [1]) == [0]


def test_expired_claims_are_swept(store: FeatureStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.push("driver_push", [event(1, 0)], "offline", idempotency_key="old")
    (claim,) = (key_root(store) / push_keys.KEY_FOLDER).iterdir()
    day_ago = time.time() - push_keys.KEEP_S - 60
    os.utime(claim, (day_ago, day_ago))
    monkeypatch.setattr(push_keys, "_last_sweep", {})
    store.push("driver_push", [event(2, 0)], "offline", idempotency_key="new")
    left = list((key_root(store) / push_keys.KEY_FOLDER).iterdir())
    assert claim not in left and len(left) == 1


def test_http_idempotency_key_header(tmp_path: Path) -> None:
    make_repo(tmp_path, make_source()).close()
    client = Client(tmp_path)
    try:
        body = {"push_source_name": "driver_push", "rows": [event(1, 0)], "to": BOTH}
        key = {"Idempotency-Key": "c0ffee"}
        first = client.post("/push", body, headers=key)
        again = client.post("/push", body, headers=key)
        assert (first.json()["logged"], again.json()["logged"]) == (1, 0), again.text
        view = client.post("/push", {"feature_view": "driver_stats", "rows": []}, headers=key)
        assert view.status_code == 422 and "push source" in view.json()["error"]["message"]
        bad = client.post("/push", body, headers={"Idempotency-Key": "x" * 300})
        assert bad.status_code == 422 and "idempotency key" in bad.json()["error"]["message"]
    finally:
        client.close()
    assert len(logged_rows(tmp_path)) == 1
    with FeatureStore(tmp_path) as store:
        assert counts(store, [1]) == [1]


def test_cli_idempotency_key(tmp_path: Path) -> None:
    make_repo(tmp_path, make_source()).close()
    rows = tmp_path / "rows.jsonl"
    rows.write_text("\n".join(json.dumps(event(i, 0)) for i in range(2)) + "\n")
    args = ("push", "driver_push", str(rows), "--to", BOTH, "--idempotency-key", "batch-1")
    assert "2 logged offline" in run(*args, cwd=tmp_path).stdout
    again = run(*args, cwd=tmp_path)
    assert again.returncode == 0 and "0 logged offline" in again.stdout, again.stderr
    assert len(logged_rows(tmp_path)) == 2
