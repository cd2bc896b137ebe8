"""The server keeps answering while its online store is down: here a PostgreSQL server that
refuses connections (a closed local port, so no server is needed). Reads that waited for a
pooled connection on the event loop froze every request, /health included, for the connect
timeout of each group of reads."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from conftest import Client

from pitstore.config import load_config
from pitstore.config.models import PostgresOnlineConfig
from pitstore.server import create_app
from tcp_proxy import free_port

READ = {"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1001]}}
#: The store's connect timeout: how long a read waits for its first connection.
CONNECT_TIMEOUT_S = 2.0
#: Far less than the connect timeout, far more than an answer takes.
QUICK_S = 0.5
#: When /health is sent, after the read.
HEALTH_AFTER_S = 0.1


def refusing_postgres(repo: Path, offload_reads: bool | None = None) -> Client:
    """A started app over ``repo`` whose online store is a PostgreSQL server that refuses."""
    config = load_config(repo)
    online = PostgresOnlineConfig(
        dsn=f"postgresql://127.0.0.1:{free_port()}/test", connect_timeout_s=CONNECT_TIMEOUT_S
    )
    server = config.server
    if offload_reads is not None:
        server = server.model_copy(update={"offload_reads": offload_reads})
    app = create_app(repo, config.model_copy(update={"online_store": online, "server": server}))
    app.startup()
    return Client(app)


async def read_then_health(http: httpx.AsyncClient) -> tuple[httpx.Response, float]:
    """A read, then /health while it is in flight: the read's answer, and how long after the
    read began /health was answered (a loop blocked by the read answers when it is done)."""
    began = time.perf_counter()
    read = asyncio.ensure_future(http.post("/get-online-features", json=READ))
    await asyncio.sleep(HEALTH_AFTER_S)
    health = await http.get("/health")
    answered = time.perf_counter() - began
    assert health.status_code == 200
    return await read, answered


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "store_unavailable"


def timed_read(client: Client) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = client.post("/get-online-features", json=READ)
    return response, time.perf_counter() - started


def test_health_answers_while_reads_wait_for_a_refusing_postgres(repo: Path) -> None:
    client = refusing_postgres(repo)
    try:
        assert client.app.state.offload_reads  # auto: PostgreSQL reads run in threads
        # the first read may wait for a connection (up to the connect timeout), elsewhere
        read, health_answered = client.run(read_then_health)
        assert health_answered < HEALTH_AFTER_S + QUICK_S
        assert_unavailable(read)
        # the ones after it fail at once (the store's breaker), and so does /ready's probe
        response, seconds = timed_read(client)
        assert_unavailable(response)
        assert seconds < QUICK_S
        started = time.perf_counter()
        assert client.get("/ready").status_code == 503
        assert time.perf_counter() - started < QUICK_S
    finally:
        client.close()
        client.app.shutdown()


def test_reads_on_the_event_loop_stall_it_at_most_once(repo: Path) -> None:
    """With reads on the loop (``offload_reads: false``), only the read that finds the server
    down may wait; the groups after it fail at once, and /health never waits for them."""
    client = refusing_postgres(repo, offload_reads=False)
    try:
        assert not client.app.state.offload_reads
        first, seconds = timed_read(client)
        assert_unavailable(first)
        assert seconds < CONNECT_TIMEOUT_S + QUICK_S
        for _ in range(3):
            read, health_answered = client.run(read_then_health)
            assert_unavailable(read)
            assert health_answered < HEALTH_AFTER_S + QUICK_S
    finally:
        client.close()
        client.app.shutdown()
