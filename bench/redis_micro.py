#!/usr/bin/env python3
"""Micro-benchmark: the Redis online store beside raw redis-py on the same keys.

    .venv/bin/python bench/redis_micro.py [--url redis://127.0.0.1:6379/15] [--rows 150000]

Reads (median and p99 of single calls, after warm-up):
  1 entity x 3 features         store.read  vs  a redis-py pipeline with one HMGET
  100 entities x 6 features     store.read  vs  a redis-py pipeline of 200 HMGETs
  over 2 views                  (the raw reads return bytes: no decoding, no monotonic check)
Write: ``--rows`` rows x 3 features (int64, float32, string) through ``store.write`` (Lua,
monotonic, chunked), beside raw pipelined HSETs of the same fields (no comparison).

Keys live under a fresh prefix on the given database and are deleted at the end.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from pitstore.online.base import ViewRead
from pitstore.online.keys import encode_columns
from pitstore.online.redis import RedisOnlineStore
from pitstore.testing.online_values import make_batch


def timed(fn: Callable[[], Any], calls: int, warmup: int = 200) -> tuple[float, float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    samples.sort()
    return statistics.median(samples) * 1e6, samples[int(len(samples) * 0.99)] * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--rows", type=int, default=150_000)
    parser.add_argument("--calls", type=int, default=3000)
    options = parser.parse_args()

    import redis

    prefix = f"pitstore_bench:{uuid.uuid4().hex[:8]}"
    store = RedisOnlineStore(options.url, key_prefix=prefix, background_purge=False)
    raw = redis.Redis.from_url(options.url)
    n = options.rows
    keys = encode_columns(["id"], [pa.array(range(n), pa.int64())]).to_pylist()
    features = {
        "trips": ("int64", range(n)),
        "rate": ("float32", [i / 7 for i in range(n)]),
        "city": ("string", [f"city_{i % 1000}" for i in range(n)]),
    }
    other = {
        "a": ("int64", range(n)),
        "b": ("float64", [i / 3 for i in range(n)]),
        "c": ("string", [f"s{i}" for i in range(n)]),
    }
    rows: list[tuple[str, str, str]] = []
    try:
        batch = make_batch(keys, [1_700_000_000_000_000] * n, None, features)
        start = time.perf_counter()
        applied = store.write("drivers", batch)
        write_s = time.perf_counter() - start
        assert applied == n
        start = time.perf_counter()
        again = store.write("drivers", batch)  # every row ties: all re-applied
        rewrite_s = time.perf_counter() - start
        store.write("other", make_batch(keys, [1] * n, None, other))

        head = f"{prefix}:raw:".encode()
        start = time.perf_counter()
        pipe = raw.pipeline(transaction=False)
        columns = [batch.column(name).to_pylist() for name in features]
        for i, k in enumerate(keys):
            pipe.hset(
                head + k,
                mapping={
                    "__ts": 1,
                    "trips": columns[0][i],
                    "rate": columns[1][i],
                    "city": columns[2][i],
                },
            )
            if len(pipe) == 10_000:
                pipe.execute()
        pipe.execute()
        raw_write_s = time.perf_counter() - start

        drivers = f"{prefix}:drivers:0:{{".encode()
        others = f"{prefix}:other:0:{{".encode()
        one = [keys[12345]]
        one_request = [ViewRead("drivers", ("trips", "rate", "city"), one)]

        def raw_one() -> Any:
            pipe = raw.pipeline(transaction=False)
            pipe.hmget(drivers + one[0] + b"}", "__ts", "trips", "rate", "city")
            return pipe.execute()

        hundred = keys[5000:5100]
        hundred_request = [
            ViewRead("drivers", ("trips", "rate", "city"), hundred),
            ViewRead("other", ("a", "b", "c"), hundred),
        ]

        def raw_hundred() -> Any:
            pipe = raw.pipeline(transaction=False)
            for k in hundred:
                pipe.hmget(drivers + k + b"}", "__ts", "trips", "rate", "city")
            for k in hundred:
                pipe.hmget(others + k + b"}", "__ts", "a", "b", "c")
            return pipe.execute()

        assert store.read(one_request)[0].columns[0] == [12345]
        for label, fn, calls in [
            ("1 x 3      store.read", lambda: store.read(one_request), options.calls),
            ("1 x 3      raw pipeline HMGET", raw_one, options.calls),
            ("100 x 6/2v store.read", lambda: store.read(hundred_request), options.calls // 5),
            ("100 x 6/2v raw pipeline 200 HMGET", raw_hundred, options.calls // 5),
        ]:
            p50, p99 = timed(fn, calls)
            rows.append((label, f"{p50:8.1f}", f"{p99:8.1f}"))
        print(f"{'read':36} {'p50 us':>8} {'p99 us':>8}")
        for row in rows:
            print(f"{row[0]:36} {row[1]:>8} {row[2]:>8}")
        print()
        print(
            f"write {n} rows x 3 features   store.write  {write_s:6.2f} s "
            f"({n / write_s / 1000:.0f}k rows/s); again (all ties) {rewrite_s:6.2f} s "
            f"({again} applied)"
        )
        print(f"write {n} rows x 3 features   raw HSET pipeline {raw_write_s:6.2f} s")
        start = time.perf_counter()
        store.delete_view("drivers")
        delete_s = time.perf_counter() - start
        start = time.perf_counter()
        purged = store.purge_deleted()
        purge_s = time.perf_counter() - start
        print(
            f"delete_view('drivers') {delete_s * 1e3:.2f} ms; purge_deleted {purge_s:.2f} s "
            f"({purged} keys removed, {raw.dbsize()} keys left in the database)"
        )
    finally:
        store.close()
        doomed = list(raw.scan_iter(match=prefix.encode() + b":*", count=5000))
        for start in range(0, len(doomed), 5000):
            raw.unlink(*doomed[start : start + 5000])
        raw.close()


if __name__ == "__main__":
    main()
