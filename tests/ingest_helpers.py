"""Real Redis Streams and NATS JetStream topics for the ingest tests (unique per test, removed
afterwards), their producers, and a repo whose stream source reads them."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

from pitstore import FeatureStore
from push_helpers import make_repo, stream_source
from services import nats_url, redis_url


class Topic:
    """A broker topic of one test: its broker config, and a producer."""

    kind: str
    name: str
    config: dict[str, Any]

    def send(self, payloads: list[bytes]) -> None:
        raise NotImplementedError

    def send_rows(self, rows: list[dict[str, Any]]) -> None:
        self.send([json.dumps(r).encode() for r in rows])

    def close(self) -> None:
        raise NotImplementedError


class RedisTopic(Topic):
    kind = "redis"

    def __init__(self) -> None:
        import redis

        self.url = redis_url()
        self.name = f"pitstore-test-{uuid.uuid4().hex[:12]}"
        self.redis = redis.Redis.from_url(self.url)
        # Short claim time: a dead consumer's entries are taken over quickly in tests.
        self.config = {"type": "redis", "url": self.url, "claim_idle_ms": 300}

    def send(self, payloads: list[bytes]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for payload in payloads:
            pipe.xadd(self.name, {"data": payload})
        pipe.execute()

    def pending(self, group: str) -> int:
        return int(self.redis.xpending(self.name, group)["pending"])

    def close(self) -> None:
        self.redis.delete(self.name)
        self.redis.close()


class NatsTopic(Topic):
    kind = "nats"

    def __init__(self) -> None:
        self.url = nats_url()
        tag = uuid.uuid4().hex[:12]
        self.stream = f"PITSTORE_TEST_{tag}"
        self.name = f"pitstore.test.{tag}"
        # Short ack wait: a dead consumer's batch is redelivered quickly in tests.
        self.config = {"type": "nats", "url": self.url, "ack_wait_s": 1.0}
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self._open())

    async def _open(self) -> None:
        import nats
        from nats.js.api import StorageType, StreamConfig

        self.nc = await nats.connect(self.url)
        self.js = self.nc.jetstream()
        config = StreamConfig(name=self.stream, subjects=[self.name], storage=StorageType.MEMORY)
        await self.js.add_stream(config)

    def send(self, payloads: list[bytes]) -> None:
        async def publish() -> None:
            futures = [await self.js.publish_async(self.name, p) for p in payloads]
            await asyncio.gather(*futures)

        self.loop.run_until_complete(publish())

    def pending(self, group: str) -> int:
        info = self.loop.run_until_complete(self.js.consumer_info(self.stream, group))
        return int(info.num_ack_pending + info.num_pending)

    def close(self) -> None:
        async def close() -> None:
            await self.js.delete_stream(self.stream)
            await self.nc.close()

        self.loop.run_until_complete(close())
        self.loop.close()


def stream_repo(folder: Path, topic: Topic) -> FeatureStore:
    """A repo whose stream source ``driver_stream`` reads ``topic`` (SQLite online store)."""
    source = stream_source("events", topic.name)
    return make_repo(folder, source, brokers={"events": topic.config})
