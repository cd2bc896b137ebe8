#!/usr/bin/env python3
"""Benchmark: stream ingestion, broker -> online store (Redis), for Redis Streams and NATS.

    .venv/bin/python bench/run_ingest.py [--events 100000] [--seconds 8] [--brokers redis,nats]

For each broker and batch size (1 and 500), on loopback, with the Redis online store:

1. **Throughput**: ``--events`` events (500 drivers, JSON rows) are produced first, then one
   consumer ingests them (``to=online``, and ``to=online_and_offline`` for batch 500, which
   also appends to the Parquet push log): events per second from the first fetch to the last
   ack. Batch size 1 ingests at most ``--events / 20`` events (it is bounded by round trips).
2. **Freshness**: a consumer runs in a child process (``pitstore ingest``) under a steady
   background load (``--load`` events/s with batch 500, 200/s with batch 1); every 20 ms a
   probe event with a new value is produced and ``get_online_features`` is polled until it
   returns that value: p50/p99 of produce -> visible, over ``--seconds``.

Feast has nothing comparable (it declares stream sources but ships no consumer). Numbers from
a shared 2-core machine are noisy: compare runs made back to back.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import table

REDIS = "redis://127.0.0.1:6379/14"
NATS = "nats://127.0.0.1:4222"
T0 = datetime(2026, 3, 1, tzinfo=UTC)
DRIVERS = 500
PROBE_EVERY_S = 0.02


# --- topics ------------------------------------------------------------------------------------


class RedisTopic:
    kind = "redis"

    def __init__(self, name: str | None = None) -> None:
        import redis

        self.name = name or f"bench-{uuid.uuid4().hex[:10]}"
        self.r = redis.Redis.from_url(REDIS)
        self.config = {"type": "redis", "url": REDIS}

    def send(self, payloads: list[bytes]) -> None:
        pipe = self.r.pipeline(transaction=False)
        for p in payloads:
            pipe.xadd(self.name, {"data": p})
        pipe.execute()

    def close(self) -> None:
        self.r.delete(self.name)


class NatsTopic:
    kind = "nats"

    def __init__(self, name: str | None = None) -> None:
        import asyncio

        self.loop = asyncio.new_event_loop()
        tag = uuid.uuid4().hex[:10]
        self.stream, self.name = f"BENCH_{tag}", name or f"bench.{tag}"
        self.config = {"type": "nats", "url": NATS}
        self.loop.run_until_complete(self._open(create=name is None))

    async def _open(self, create: bool) -> None:
        import nats
        from nats.js.api import StorageType, StreamConfig

        self.nc = await nats.connect(NATS)
        self.js = self.nc.jetstream()
        if create:
            await self.js.add_stream(
                StreamConfig(name=self.stream, subjects=[self.name], storage=StorageType.MEMORY)
            )

    def send(self, payloads: list[bytes]) -> None:
        import asyncio

        async def publish() -> None:
            for start in range(0, len(payloads), 2000):
                futures = [
                    await self.js.publish_async(self.name, p)
                    for p in payloads[start : start + 2000]
                ]
                await asyncio.gather(*futures)

        self.loop.run_until_complete(publish())

    def close(self) -> None:
        self.loop.run_until_complete(self.js.delete_stream(self.stream))
        self.loop.run_until_complete(self.nc.close())


def make_topic(kind: str, name: str | None = None) -> Any:
    """A new topic, or (with ``name``) a producer to an existing one."""
    return RedisTopic(name) if kind == "redis" else NatsTopic(name)


# --- repo --------------------------------------------------------------------------------------


def make_repo(folder: Path, topic: Any, prefix: str) -> Any:
    import yaml

    from pitstore import (
        Entity,
        FeatureStore,
        FeatureView,
        Field,
        Float64,
        Int64,
        ParquetSource,
        StreamSource,
    )

    config = {
        "project": "bench",
        "online_store": {"type": "redis", "url": REDIS, "key_prefix": prefix},
        "brokers": {"events": topic.config},
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pitstore.yaml").write_text(yaml.safe_dump(config))
    driver = Entity("driver", join_keys=["driver_id"], dtype=Int64)
    source = StreamSource(
        "trips", broker="events", topic=topic.name, batch_source=ParquetSource("data/trips.parquet")
    )
    view = FeatureView(
        "driver_stats",
        entities=[driver],
        schema=[Field("conv_rate", Float64), Field("trips", Int64)],
        source=source,
    )
    store = FeatureStore(folder)
    store.apply([driver, view])
    return store


def payload(driver: int, seconds: float, conv: float) -> bytes:
    ts = (T0 + timedelta(seconds=seconds)).isoformat()
    row = {"driver_id": driver, "event_timestamp": ts, "conv_rate": conv, "trips": 1}
    return json.dumps(row).encode()


# --- throughput --------------------------------------------------------------------------------


def throughput(kind: str, batch: int, events: int, to: str) -> float:
    from pitstore.ingest.run import build_consumer

    topic = make_topic(kind)
    prefix = f"b{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        store = make_repo(Path(tmp), topic, prefix)
        try:
            for start in range(0, events, 10_000):
                n = min(10_000, events - start)
                topic.send([payload(i % DRIVERS, start + i, i / events) for i in range(n)])
            # Warm up (imports, connections, script loads) on the first few batches.
            warm = min(events // 10, batch * 4)
            consumer = build_consumer(
                store, "trips", to=to, batch_size=batch, max_messages=warm, idle_exit_s=5
            )
            consumer.run()
            consumer.settings = replace(consumer.settings, max_messages=events)
            began = time.perf_counter()
            totals = consumer.run()
            seconds = time.perf_counter() - began
            consumer.broker.close()
            assert totals.written == events, totals
            return (events - warm) / seconds
        finally:
            store.online.delete_view("driver_stats")
            store.close()
            topic.close()


# --- freshness ---------------------------------------------------------------------------------


def freshness(kind: str, batch: int, seconds: float, load_per_s: int) -> list[float]:
    """Produce -> visible latencies (ms) of probe events under a steady background load."""
    topic = make_topic(kind)
    prefix = f"b{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        store = make_repo(Path(tmp), topic, prefix)
        pitstore = str(Path(sys.executable).parent / "pitstore")
        options = ["--batch-size", str(batch), "--max-wait-ms", "20"]
        child = subprocess.Popen(
            [pitstore, "ingest", "trips", "--repo", tmp, "--to", "online", *options],
            stdout=subprocess.DEVNULL,
            stderr=None if os.environ.get("BENCH_DEBUG") else subprocess.DEVNULL,
        )
        stop = threading.Event()
        try:
            time.sleep(2.0)  # the child starts and connects
            loader = threading.Thread(target=_load, args=(kind, topic.name, load_per_s, stop))
            loader.start()
            latencies = _probe(store, topic, seconds)
            stop.set()
            loader.join()
            return latencies
        finally:
            stop.set()
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
            store.online.delete_view("driver_stats")
            store.close()
            topic.close()


def _load(kind: str, name: str, per_s: int, stop: threading.Event) -> None:
    """Background events at ``per_s``, in 10 ms slices (its own broker connection)."""
    topic = make_topic(kind, name)
    sent = 0
    began = time.perf_counter()
    try:
        while not stop.is_set():
            due = int((time.perf_counter() - began) * per_s) - sent
            if due > 0:
                topic.send([payload(1 + (sent + i) % DRIVERS, sent + i, 0.5) for i in range(due)])
                sent += due
            time.sleep(0.01)
    finally:
        if kind == "nats":
            topic.loop.run_until_complete(topic.nc.close())


def _probe(store: Any, topic: Any, seconds: float) -> list[float]:
    latencies = []
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        n += 1
        sent = time.perf_counter()
        topic.send([payload(0, 10_000_000 + n, float(n))])
        while True:
            got = store.get_online_features(["driver_stats:conv_rate"], [{"driver_id": 0}])
            if got.to_dict()["conv_rate"][0] == float(n):
                break
            if time.perf_counter() - sent > 10:
                raise RuntimeError("a probe event was not visible within 10 s")
            time.sleep(0.0005)
        latencies.append((time.perf_counter() - sent) * 1000)
        time.sleep(max(0.0, PROBE_EVERY_S - (time.perf_counter() - sent)))
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--brokers", default="redis,nats")
    parser.add_argument(
        "--load", type=int, default=5_000, help="background events/s while probing (batch 500)"
    )
    args = parser.parse_args()
    rows = []
    for kind in args.brokers.split(","):
        for batch in (1, 500):
            events = args.events if batch > 1 else max(args.events // 20, 100)
            online = throughput(kind, batch, events, "online")
            both = throughput(kind, batch, events, "online_and_offline") if batch > 1 else None
            load = args.load if batch > 1 else 200
            lat = freshness(kind, batch, args.seconds, load)
            rows.append(
                [
                    kind,
                    batch,
                    f"{online:,.0f}",
                    "-" if both is None else f"{both:,.0f}",
                    f"{load:,}",
                    len(lat),
                    round(statistics.median(lat), 1),
                    round(percentile(lat, 0.99), 1),
                ]
            )
            print(rows[-1], flush=True)
    headers = [
        "broker",
        "batch",
        "events/s (online)",
        "events/s (online+log)",
        "load ev/s",
        "probes",
        "fresh p50 ms",
        "fresh p99 ms",
    ]
    print(table(headers, rows))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
