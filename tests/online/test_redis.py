"""The Redis online store beyond the conformance suite: round trips, deletion, races, restarts.

Real servers: the shared test Redis (``services.redis_url()``, database 15 by default),
each test under its own key prefix whose keys are deleted afterwards, and for the restart test
a private ``redis-server`` on a spare port; a fake peer only for what Redis never sends (replies
that are not RESP).
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from pitstore.errors import ConfigError, PitstoreError, StoreUnavailableError
from pitstore.online.base import ViewRead
from pitstore.online.redis import RedisOnlineStore, layout
from pitstore.testing.online_values import key, make_batch, read_view
from services import redis_url

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def _raw(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url)


def delete_prefix(url: str, prefix: str) -> None:
    """Delete every key under ``prefix:`` (never anything else)."""
    client = _raw(url)
    try:
        pattern = layout.glob_escape(layout.head(prefix)) + b"*"
        batch = list(client.scan_iter(match=pattern, count=1000))
        for start in range(0, len(batch), 1000):
            client.unlink(*batch[start : start + 1000])
    finally:
        client.close()


@contextmanager
def fresh_prefix() -> Iterator[tuple[str, str]]:
    """``(url, key_prefix)``: a prefix no other test uses; its keys are deleted afterwards."""
    url = redis_url()
    prefix = f"pitstore_test:{uuid.uuid4().hex[:12]}"
    try:
        yield url, prefix
    finally:
        delete_prefix(url, prefix)


@pytest.fixture
def store() -> Iterator[RedisOnlineStore]:
    with fresh_prefix() as (url, prefix):
        store = RedisOnlineStore(url, key_prefix=prefix, background_purge=False)
        yield store
        store.close()


def _keys(store: RedisOnlineStore, url: str | None = None) -> list[bytes]:
    client = _raw(url or redis_url())
    try:
        pattern = layout.glob_escape(layout.head(store.key_prefix)) + b"*"
        return sorted(k for k in client.scan_iter(match=pattern, count=1000) if b"{#}" not in k)
    finally:
        client.close()


def _admin(url: str, *command: Any) -> None:
    client = _raw(url)
    try:
        client.execute_command(*command)
    finally:
        client.close()


def _evalsha_calls(url: str) -> int:
    client = _raw(url)
    try:
        return int(client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))
    finally:
        client.close()


@contextmanager
def count_round_trips(store: RedisOnlineStore) -> Iterator[list[int]]:
    """Wrap the store's connection layer: every ``execute`` is one round trip."""
    counts: list[int] = []
    execute = store._client.execute

    def counting(commands: Any) -> Any:
        counts.append(len(commands))
        return execute(commands)

    store._client.execute = counting  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        store._client.execute = execute  # type: ignore[method-assign]


# --- layout ---------------------------------------------------------------------------------


def test_key_layout(store: RedisOnlineStore) -> None:
    store.write("drivers", make_batch([key(7)], [5], [3], {"x": ("string", ["a"])}))
    p = store.key_prefix.encode() + b":"
    row = p + b"drivers:0:{" + key(7) + b"}"
    assert _keys(store) == [row]
    client = _raw(redis_url())
    try:
        assert client.hgetall(row) == {b"__ts": b"5", b"__created": b"3", b"x": b"sa"}
    finally:
        client.close()


def test_all_views_of_an_entity_share_a_cluster_slot(store: RedisOnlineStore) -> None:
    from redis.crc import key_slot

    for view in ("a", "b"):
        store.write(view, make_batch([key(1), key(125)], [1, 1], None, {"x": ("int64", [1, 2])}))
    rows = [k for k in _keys(store) if b"{" + key(1) + b"}" in k]
    assert len(rows) == 2 and len({key_slot(k) for k in rows}) == 1
    # 125 is 0x7d, a "}": the tag is cut short but still the same for both views
    rows = [k for k in _keys(store) if b"{" + key(125) + b"}" in k]
    assert len(rows) == 2 and len({key_slot(k) for k in rows}) == 1


def test_prefix_with_a_brace_is_refused() -> None:
    with pytest.raises(ConfigError, match="key_prefix"):
        RedisOnlineStore("redis://127.0.0.1:6379/15", key_prefix="a{b}")


def test_bad_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="url"):
        RedisOnlineStore("http://example.com")


def test_import_does_not_load_redis() -> None:
    code = "import sys, pitstore, pitstore.online.redis; sys.exit('redis' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# --- one round trip -------------------------------------------------------------------------


def test_a_read_of_many_views_is_one_command(store: RedisOnlineStore) -> None:
    """One round trip carrying one command (EVALSHA), for any number of views.

    Counted twice: at the store's connection layer, and by the server (INFO commandstats
    counts EVALSHA calls, whose HMGETs run inside the script).
    """
    url = redis_url()
    keys = [key(i) for i in range(50)]
    for view in ("a", "b", "c"):
        store.write(view, make_batch(keys, [1] * 50, None, {"x": ("int64", range(50))}))
    requests = [ViewRead(v, ("x",), keys) for v in ("a", "b", "c", "never_written")]
    store.read(requests)  # warm: scripts loaded, generations cached
    server_counts = []
    for _ in range(3):  # another client may run scripts too: keep the smallest delta
        before = _evalsha_calls(url)
        with count_round_trips(store) as trips:
            rows = store.read(requests)
        server_counts.append(_evalsha_calls(url) - before)
        assert trips == [1]
    assert min(server_counts) == 1
    assert rows[2].columns == [list(range(50))] and rows[3].event_ts == [None] * 50


def test_a_cold_read_is_one_round_trip(store: RedisOnlineStore) -> None:
    """A fresh store (no cached generation, scripts maybe not loaded) still reads in one."""
    store.write("a", make_batch([key(1)], [1], None, {"x": ("int64", [1])}))
    fresh = RedisOnlineStore(redis_url(), key_prefix=store.key_prefix)
    try:
        with count_round_trips(fresh) as trips:
            assert read_view(fresh, "a", ["x"], [key(1)]).columns == [[1]]
        assert trips == [1]
    finally:
        fresh.close()


def test_large_reads_are_chunked_in_one_round_trip() -> None:
    with fresh_prefix() as (url, prefix):
        store = RedisOnlineStore(url, key_prefix=prefix, read_chunk_keys=7)
        try:
            keys = [key(i) for i in range(30)]
            store.write("a", make_batch(keys, [1] * 30, None, {"x": ("int64", range(30))}))
            store.write("b", make_batch(keys, [2] * 30, None, {"y": ("string", ["s"] * 30)}))
            got = store.read([ViewRead("a", ("x",), keys), ViewRead("b", ("y",), keys[::-1])])
            assert got[0].columns == [list(range(30))]
            assert got[1].event_ts == [2] * 30 and got[1].columns == [["s"] * 30]
        finally:
            store.close()


# --- the monotonic rule at 64-bit extremes -----------------------------------------------------


def test_times_compared_exactly_beyond_double_precision(store: RedisOnlineStore) -> None:
    """Lua numbers are doubles; the write script compares decimal strings exactly."""
    big, small = 2**62, -(2**62)
    for view, base in (("pos", big), ("neg", small)):
        assert store.write(view, make_batch([key(1)], [base + 1], None, {"x": ("int64", [1])}))
        assert store.write(view, make_batch([key(1)], [base], None, {"x": ("int64", [0])})) == 0
        assert store.write(view, make_batch([key(1)], [base + 1], [2**63 - 2], None)) == 1
        assert store.write(view, make_batch([key(1)], [base + 1], [2**63 - 3], None)) == 0
        assert read_view(store, view, ["x"], [key(1)]).event_ts == [base + 1]
    edges = [-(2**63), -(2**63) + 1, -1, 0, 9, 10, 2**53, 2**53 + 1, 2**63 - 1]
    for i, ts in enumerate(edges):  # increasing: every write applies
        assert store.write("edge", make_batch([key(1)], [ts], None, {"x": ("int64", [i])})) == 1
    for ts in edges[:-1]:  # older: none applies
        assert store.write("edge", make_batch([key(1)], [ts], [2**63 - 1], None)) == 0
    assert read_view(store, "edge", ["x"], [key(1)]).columns == [[len(edges) - 1]]


def test_closed_store_refuses_calls(store: RedisOnlineStore) -> None:
    from pitstore.errors import PitstoreError

    store.close()
    with pytest.raises(PitstoreError, match="closed"):
        read_view(store, "v", ["x"], [key(1)])


# --- delete_view ------------------------------------------------------------------------------


def test_delete_view_touches_only_that_view(store: RedisOnlineStore) -> None:
    keys = [key(i) for i in range(100)]
    for view in ("gone", "kept", "gone_not"):
        store.write(view, make_batch(keys, [1] * 100, None, {"x": ("int64", range(100))}))
    before = _keys(store)
    store.delete_view("gone")
    assert read_view(store, "gone", ["x"], keys[:3]).event_ts == [None] * 3
    assert _keys(store) == before  # O(1): nothing removed yet, only the generation moved
    store.write("gone", make_batch(keys[:1], [2], None, {"x": ("string", ["new"])}))
    assert store.purge_deleted() == 100
    left = _keys(store)
    assert sum(b":gone:0:" in k for k in left) == 0
    assert sum(b":gone:1:" in k for k in left) == 1
    assert sum(b":kept:0:" in k for k in left) == 100
    assert sum(b":gone_not:0:" in k for k in left) == 100
    assert read_view(store, "kept", ["x"], keys).columns == [list(range(100))]
    assert read_view(store, "gone", ["x"], keys[:2]).columns == [["new", None]]
    assert store.purge_deleted() == 0  # nothing pending any more


def test_delete_from_another_process_is_seen(store: RedisOnlineStore) -> None:
    other = RedisOnlineStore(redis_url(), key_prefix=store.key_prefix, background_purge=False)
    try:
        store.write("v", make_batch([key(1)], [1], None, {"x": ("int64", [1])}))
        assert read_view(store, "v", ["x"], [key(1)]).columns == [[1]]  # caches generation 0
        other.delete_view("v")
        other.write("v", make_batch([key(1)], [1], None, {"x": ("int64", [2])}))
        assert read_view(store, "v", ["x"], [key(1)]).columns == [[2]]  # not the old row
        assert store.write("v", make_batch([key(1)], [2], None, {"x": ("int64", [3])})) == 1
        assert read_view(other, "v", ["x"], [key(1)]).columns == [[3]]
    finally:
        other.close()


def test_background_purge() -> None:
    with fresh_prefix() as (url, prefix):
        store = RedisOnlineStore(url, key_prefix=prefix)
        try:
            keys = [key(i) for i in range(10)]
            store.write("v", make_batch(keys, [1] * 10, None, {"x": ("int64", range(10))}))
            store.delete_view("v")
            deadline = time.monotonic() + 10
            while _keys(store, url) != [] and time.monotonic() < deadline:
                time.sleep(0.02)
            assert [k for k in _keys(store, url) if b":v:" in k] == []
        finally:
            store.close()


# --- native TTL -------------------------------------------------------------------------------


def test_native_ttl_expires_at_event_time_plus_ttl(store: RedisOnlineStore) -> None:
    store.set_view_ttl("v", 3600)
    now_us = int(time.time() * 1e6)
    store.write("v", make_batch([key(1)], [now_us], None, {"x": ("int64", [1])}))
    store.write("w", make_batch([key(1)], [now_us], None, {"x": ("int64", [1])}))
    client = _raw(redis_url())
    try:
        (row_v,) = [k for k in _keys(store) if b":v:" in k]
        (row_w,) = [k for k in _keys(store) if b":w:" in k]
        expected_ms = now_us // 1000 + 3600_000 + 60_000  # ts + ttl + grace
        remaining = client.pttl(row_v)
        assert abs(expected_ms - int(time.time() * 1000) - remaining) <= 2000
        assert client.pttl(row_w) == -1  # no TTL set for w
    finally:
        client.close()
    # a row already past ts + ttl + grace is dropped at once
    store.write("v", make_batch([key(2)], [0], None, {"x": ("int64", [1])}))
    assert read_view(store, "v", ["x"], [key(2)]).event_ts == [None]


# --- concurrency ------------------------------------------------------------------------------


def _race_writer(url: str, prefix: str, seed: int, rounds: int) -> None:
    import random

    store = RedisOnlineStore(url, key_prefix=prefix, background_purge=False)
    rng = random.Random(seed)
    pool = [key(i) for i in range(30)]
    try:
        for _ in range(rounds):
            ts = [rng.randint(0, 50) for _ in pool]
            created = [rng.choice([None, 0, 1, 2]) for _ in pool]
            values = [f"{t}:{c}" for t, c in zip(ts, created, strict=True)]
            store.write("v", make_batch(pool, ts, created, {"x": ("string", values)}))
    finally:
        store.close()


def test_racing_writer_processes_keep_the_greatest(store: RedisOnlineStore) -> None:
    import random

    url, rounds = redis_url(), 40
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_race_writer, args=(url, store.key_prefix, seed, rounds))
        for seed in (1, 2, 3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    # Replay the writers' random streams: the stored row must be the greatest pair written.
    best: dict[bytes, tuple[int, int]] = {}
    pool = [key(i) for i in range(30)]
    for seed in (1, 2, 3):
        rng = random.Random(seed)
        for _ in range(rounds):
            ts = [rng.randint(0, 50) for _ in pool]
            created = [rng.choice([None, 0, 1, 2]) for _ in pool]
            for k, t, c in zip(pool, ts, created, strict=True):
                pair = (t, -(2**63) if c is None else c)
                best[k] = max(best.get(k, pair), pair)
    rows = read_view(store, "v", ["x"], pool)
    for k, ts_read, value in zip(pool, rows.event_ts, rows.columns[0], strict=True):
        t, c = best[k]
        assert (ts_read, value) == (t, f"{t}:{None if c == -(2**63) else c}")


def test_write_racing_a_delete_lands_in_one_generation(store: RedisOnlineStore) -> None:
    other = RedisOnlineStore(redis_url(), key_prefix=store.key_prefix, background_purge=False)
    try:
        store.write("v", make_batch([key(1)], [1], None, {"x": ("int64", [1])}))  # caches gen 0
        other.delete_view("v")  # gen 1: store's cached generation is now stale
        assert store.write("v", make_batch([key(2)], [1], None, {"x": ("int64", [2])})) == 1
        assert read_view(other, "v", ["x"], [key(1), key(2)]).columns == [[None, 2]]
        assert other.purge_deleted() == 1
    finally:
        other.close()


def test_delete_during_a_chunked_write(store: RedisOnlineStore) -> None:
    """Chunks sent after a delete are refused by the script and resent to the new generation."""
    url, prefix = redis_url(), store.key_prefix
    chunked = RedisOnlineStore(
        url, key_prefix=prefix, write_chunk_rows=2, chunks_per_round_trip=1, background_purge=False
    )
    execute = chunked._client.execute
    trips: list[int] = []

    def delete_before_the_second_trip(commands: Any) -> Any:
        trips.append(len(commands))
        if len(trips) == 2:
            store.delete_view("v")
        return execute(commands)

    chunked._client.execute = delete_before_the_second_trip  # type: ignore[method-assign]
    try:
        keys = [key(i) for i in range(6)]
        batch = make_batch(keys, [1] * 6, None, {"x": ("int64", range(6))})
        assert chunked.write("v", batch) == 6
        assert trips == [1, 1, 1, 1]  # chunk 0, chunk 1 (stale), chunk 1 again, chunk 2
        # rows 0-1 were written before the delete, the rest after it
        assert read_view(store, "v", ["x"], keys).columns == [[None, None, 2, 3, 4, 5]]
    finally:
        chunked.close()


# --- failures and restarts --------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(port: int) -> subprocess.Popen[bytes]:
    args = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    args += ["--appendonly", "no", "--daemonize", "no", "--requirepass", "s3cret-pw"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.02)
    process.kill()
    raise AssertionError(f"redis-server did not start on port {port}")


@pytest.fixture
def private_server() -> Iterator[tuple[int, list[subprocess.Popen[bytes]]]]:
    if not os.path.exists(REDIS_SERVER):
        reason = f"no redis-server binary at {REDIS_SERVER} (install redis-server)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    port = _free_port()
    processes = [_start_server(port)]
    yield port, processes
    for process in processes:
        process.kill()
        process.wait()


def test_server_down_then_back(private_server: tuple[int, list[Any]]) -> None:
    port, processes = private_server
    timeout = 1.0
    url = f"redis://:s3cret-pw@127.0.0.1:{port}/0"
    store = RedisOnlineStore(url, key_prefix="t", socket_timeout_s=timeout)
    batch = make_batch([key(1)], [1], None, {"x": ("int64", [1])})
    try:
        assert store.write("v", batch) == 1
        assert read_view(store, "v", ["x"], [key(1)]).columns == [[1]]

        processes[0].kill()
        processes[0].wait()
        for call in (lambda: store.write("v", batch), lambda: read_view(store, "v", [], [key(1)])):
            started = time.monotonic()
            with pytest.raises(StoreUnavailableError) as caught:
                call()
            assert time.monotonic() - started < timeout + 1
            message = str(caught.value)
            assert f"127.0.0.1:{port}" in message and "s3cret-pw" not in message
            assert caught.value.__cause__ is not None
        with pytest.raises(StoreUnavailableError):
            store.delete_view("v")

        processes.append(_start_server(port))  # empty: no persistence, scripts forgotten
        assert read_view(store, "v", ["x"], [key(1)]).event_ts == [None]
        assert store.write("v", batch) == 1
        assert read_view(store, "v", ["x"], [key(1)]).columns == [[1]]
    finally:
        store.close()


def test_slow_server_times_out(private_server: tuple[int, list[Any]]) -> None:
    port, processes = private_server
    url = f"redis://:s3cret-pw@127.0.0.1:{port}/0"
    store = RedisOnlineStore(url, key_prefix="t", socket_timeout_s=0.3)
    try:
        assert store.write("v", make_batch([key(1)], [1], None, {"x": ("int64", [1])})) == 1
        processes[0].send_signal(19)  # SIGSTOP: the server hangs, sockets stay open
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError, match="unavailable"):
            read_view(store, "v", ["x"], [key(1)])
        assert time.monotonic() - started < 0.3 + 1
        processes[0].send_signal(18)  # SIGCONT
        assert read_view(store, "v", ["x"], [key(1)]).columns == [[1]]
    finally:
        store.close()


def test_wrong_password_is_a_config_error(private_server: tuple[int, list[Any]]) -> None:
    port, _ = private_server
    store = RedisOnlineStore(f"redis://:not-it@127.0.0.1:{port}/0", key_prefix="t")
    try:
        with pytest.raises(ConfigError, match="credentials") as caught:
            read_view(store, "v", ["x"], [key(1)])
        assert "not-it" not in str(caught.value) and f"127.0.0.1:{port}" in str(caught.value)
    finally:
        store.close()


def test_scripts_forgotten_are_loaded_again(private_server: tuple[int, list[Any]]) -> None:
    """NOSCRIPT (after SCRIPT FLUSH) loads the scripts and resends: the caller sees nothing."""
    port, _ = private_server
    url = f"redis://:s3cret-pw@127.0.0.1:{port}/0"
    store = RedisOnlineStore(url, key_prefix="t")
    try:
        assert store.write("v", make_batch([key(1)], [1], None, {"x": ("int64", [1])})) == 1
        _admin(url, "SCRIPT", "FLUSH")
        assert read_view(store, "v", ["x"], [key(1)]).columns == [[1]]
    finally:
        store.close()


def test_error_replies_are_translated(private_server: tuple[int, list[Any]]) -> None:
    """A refused command is a PitstoreError naming the server; a replica refusing writes
    (READONLY: try later, elsewhere) is StoreUnavailableError. Neither leaks the password."""
    port, _ = private_server
    url = f"redis://:s3cret-pw@127.0.0.1:{port}/0"
    store = RedisOnlineStore(url, key_prefix="t")
    batch = make_batch([key(1)], [1], None, {"x": ("int64", [1])})
    try:
        client = store._client
        (reply,) = client.execute([("NO-SUCH-COMMAND", "s3cret-pw")])
        with pytest.raises(PitstoreError, match="refused a command") as refused:
            client.check(reply)
        assert not isinstance(refused.value, StoreUnavailableError)
        assert f"127.0.0.1:{port}" in str(refused.value) and "s3cret-pw" not in str(refused.value)

        _admin(url, "REPLICAOF", "127.0.0.1", _free_port())  # a replica of nobody: read-only
        with pytest.raises(StoreUnavailableError, match="READONLY"):
            store.write("v", batch)
        assert client.execute([("PING",)]) == [b"PONG"]  # the connection is still good
    finally:
        store.close()


@pytest.mark.parametrize("when", ["handshake", "reply", "health check"])
def test_garbage_from_the_server_is_unavailable(when: str) -> None:
    """A peer that answers with something other than RESP, while the connection is made or
    in the reply to a read, or an error reply to the health check's PING (BUSY, while a
    script runs): StoreUnavailableError at once, not a driver error or a hang."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        thread = threading.Thread(target=_answer, args=(listener, when), daemon=True)
        thread.start()
        store = RedisOnlineStore(
            f"redis://127.0.0.1:{port}/0",
            key_prefix="t",
            socket_timeout_s=2,
            health_check_interval_s=0.001,  # a PING before every use
        )
        try:
            if when == "health check":  # a connection used once, then idle past the interval
                assert store._client.execute([("ECHO", "x")]) == [b"OK"]
                time.sleep(0.01)
            started = time.monotonic()
            with pytest.raises(StoreUnavailableError, match="unavailable") as caught:
                read_view(store, "v", ["x"], [key(1)])
            assert time.monotonic() - started < 1.5
            # the driver refused the handshake; pitstore's own reader refused the reply
            cause = type(caught.value.__cause__).__name__
            causes = {"handshake": "InvalidResponse", "reply": "ProtocolError"}
            assert cause == causes.get(when, "ResponseError")
        finally:
            store.close()


def _answer(listener: socket.socket, when: str) -> None:
    """A fake server. ``when="reply"``: redis-py's handshake answered as Redis 7 would and
    the read (EVALSHA) with a reply type that does not exist; ``"health check"``: PINGs after
    an ECHO answered BUSY; else garbage from the start."""
    connection, _ = listener.accept()
    used = False  # the test's first command (ECHO) went by: the connection is set up
    with connection:
        while data := connection.recv(65536):
            if when == "handshake" or b"EVALSHA" in data:
                connection.sendall(b"?not resp\r\n")
            elif b"HELLO" in data:
                connection.sendall(b"%2\r\n+server\r\n+redis\r\n+proto\r\n:3\r\n")
            elif b"PING" in data:
                busy = when == "health check" and used
                connection.sendall(b"-BUSY running a script\r\n" if busy else b"+PONG\r\n")
            else:  # CLIENT SETINFO and the like
                used = used or b"ECHO" in data
                connection.sendall(b"+OK\r\n" * data.count(b"\r\n*") + b"+OK\r\n")
