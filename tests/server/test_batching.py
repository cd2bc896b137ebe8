"""Reads of concurrent requests share one store call (server/batch.py, OnlineService.fetch),
and each request still gets exactly the answer it would get alone."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import Client, start
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pitstore import FeatureStore
from pitstore.errors import StoreUnavailableError
from pitstore.server import batch

DRIVER = ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate"]
CUSTOMER = ["customer_stats:avg_rating", "customer_stats:lifetime_trips"]

#: Good bodies that overlap in views, features and keys, with unknown keys (9, 77)...
GOOD: list[dict[str, Any]] = [
    {"features": DRIVER[:1], "entities": {"driver_id": [1001]}},
    {"features": DRIVER, "entities": {"driver_id": [1002, 9, 1001]}},
    {"features": DRIVER[::-1], "entities": {"driver_id": [1003]}, "full_feature_names": True},
    {"features": [*DRIVER, *CUSTOMER], "entities": {"driver_id": [1001], "customer_id": [1]}},
    {"features": CUSTOMER, "entities": {"customer_id": [2, 77, 2]}},
    {"feature_service": "driver_activity_v1", "entities": {"driver_id": [1004, 1001]}},
]
#: ...and bad ones, whose errors must stay their own.
BAD: list[dict[str, Any]] = [
    {"features": ["driver_hourly_stats:nope"], "entities": {"driver_id": [1001]}},
    {"features": DRIVER, "entities": {"driver_id": ["not an int"]}},
]


def store_reads(client: Client) -> float:
    text = client.get("/metrics").text
    match = re.search(r'pitstore_store_duration_seconds_count\{operation="read"\} (\S+)', text)
    return float(match.group(1)) if match else 0.0


@pytest.mark.parametrize("offload", [False, True], ids=["inline", "threads"])
def test_concurrent_reads_share_one_store_call(repo: Path, offload: bool) -> None:
    client = start(repo, {"offload_reads": offload})
    try:
        alone = [client.post("/get-online-features", json=b) for b in GOOD + BAD]
        before = store_reads(client)
        together = client.post_together("/get-online-features", GOOD + BAD)
        # The good bodies were read in one store call; the bad ones never reached the store.
        assert store_reads(client) - before == 1
        for single, grouped in zip(alone, together, strict=True):
            assert grouped.status_code == single.status_code
            assert grouped.json() == single.json()
        assert [r.status_code for r in together] == [200] * len(GOOD) + [404, 422]
    finally:
        client.close()
        client.app.shutdown()


def test_a_large_group_is_split_by_keys(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch, "MAX_BATCH_KEYS", 4)
    alone = [client.post("/get-online-features", json=b) for b in GOOD]
    before = store_reads(client)
    together = client.post_together("/get-online-features", GOOD)
    # Keys per body: 1, 3, 1, 2, 3, 2. A group closes once it holds 4 keys or more:
    # [1, 3], [1, 2, 3], [2]: three store calls.
    assert store_reads(client) - before == 3
    assert [r.json() for r in together] == [r.json() for r in alone]


def test_a_store_failure_fails_every_read_of_its_group(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A backend outage cannot be caused for real with SQLite: this one fault is simulated.
    def down(*args: object) -> None:
        raise StoreUnavailableError("online store down")

    monkeypatch.setattr(client.app.state.store.online, "read", down)
    responses = client.post_together("/get-online-features", GOOD + BAD)
    assert [r.status_code for r in responses] == [503] * len(GOOD) + [404, 422]
    assert {r.json()["error"]["code"] for r in responses[: len(GOOD)]} == {"store_unavailable"}


def test_a_failed_read_does_not_hold_back_later_groups(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    online = client.app.state.store.online
    real = online.read
    calls = []

    def fails_once(requests: Any) -> Any:
        calls.append(len(requests))
        if len(calls) == 1:
            raise StoreUnavailableError("blip")
        return real(requests)

    monkeypatch.setattr(online, "read", fails_once)
    first = client.post_together("/get-online-features", GOOD[:2])
    second = client.post_together("/get-online-features", GOOD[:2])
    assert [r.status_code for r in first] == [503, 503]
    assert [r.status_code for r in second] == [200, 200]


# --- the store side: fetch() of many prepared reads == each read alone -----------------------

FEATURE_LISTS = [
    DRIVER[:1],
    DRIVER,
    ["driver_hourly_stats:avg_daily_trips", "driver_hourly_stats:conv_rate"],
    CUSTOMER,
    [*DRIVER, *CUSTOMER],
]
read_request = st.tuples(
    st.sampled_from(range(len(FEATURE_LISTS))),
    st.lists(st.sampled_from([1001, 1002, 1003, 1004, 1005, 7, 1001]), min_size=0, max_size=5),
    st.lists(st.sampled_from([1, 2, 3, 4, 5, 99]), min_size=5, max_size=5),
    st.booleans(),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(read_request, min_size=1, max_size=8))
def test_fetch_of_many_reads_equals_each_read_alone(
    repo: Path, requests: list[tuple[int, list[int], list[int], bool]]
) -> None:
    with FeatureStore(repo) as store:
        service = store.online_reads
        prepared = []
        expected = []
        for which, drivers, customers, full in requests:
            entities = {"driver_id": drivers, "customer_id": customers[: len(drivers)]}
            args = (FEATURE_LISTS[which], entities, None, full)
            prepared.append(service.prepare(*args))
            expected.append(service.read(*args, None))
        rows = service.fetch(prepared)
        for p, r, alone in zip(prepared, rows, expected, strict=True):
            got = service.finish(p, r)
            assert got.to_dict() == alone.to_dict()
            assert got.statuses == alone.statuses
            assert got.event_micros() == alone.event_micros()


def test_the_app_reads_on_a_new_loop_after_its_loop_stopped_mid_read(repo: Path) -> None:
    # A read was scheduled on a loop that was then closed (a test harness, an embedding
    # thread): its turns never came, and every read on a later loop waited for them.
    first = start(repo)
    body = {"features": DRIVER, "entities": {"driver_id": [1001]}}

    async def begin_a_read() -> asyncio.Task[Any]:
        task = asyncio.ensure_future(first._client.post("/get-online-features", json=body))
        for _ in range(3):  # the request reaches the batcher; its group is not read yet
            await asyncio.sleep(0)
        return task

    abandoned = first._loop.run_until_complete(begin_a_read())
    assert not abandoned.done()
    first._loop.close()  # stopped with the read pending
    second = Client(first.app)
    try:

        async def read() -> Any:
            return await asyncio.wait_for(second._client.post("/get-online-features", json=body), 5)

        response = second._loop.run_until_complete(read())
        assert response.status_code == 200
        assert response.json()["results"][1]["statuses"] == ["PRESENT"]
    finally:
        second.close()
        first.app.shutdown()


def test_two_loops_serving_one_app_at_once_each_get_every_answer(repo: Path) -> None:
    # Reads of one loop were dropped by a read on another loop (taken for a dead one)
    import threading

    app = start(repo).app
    body = {"features": DRIVER, "entities": {"driver_id": [1001]}}
    answered: list[int] = []

    def serve() -> None:
        client = Client(app)
        try:
            for _ in range(20):
                together = client.post_together("/get-online-features", [body] * 10)
                answered.extend(r.status_code for r in together)
        finally:
            client.close()

    threads = [threading.Thread(target=serve, daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive(), "a read was never answered"
    assert answered == [200] * 400
    app.shutdown()
