"""Redis Streams as a :class:`~pitstore.ingest.broker.Broker`: a consumer group, XREADGROUP/XACK.

- **Messages.** A stream entry carries its row as JSON in the field ``data`` (``XADD <topic> *
  data '{"driver_id": 1, ...}'``); an entry without it is dead-lettered.
- **Group.** Created on first use at the start of the stream (``XGROUP CREATE ... 0
  MKSTREAM``), so rows produced before the first consumer started are ingested too.
- **Recovery.** On start, the consumer first re-reads its own pending entries (delivered to
  its name but never acknowledged: the previous run died between write and ack), then every
  ``claim_idle_ms`` it takes over entries another consumer left pending that long
  (``XAUTOCLAIM``: that consumer is presumed dead). Both come flagged ``redelivered``.
- **Bounded.** ``COUNT`` caps every read; ``BLOCK`` waits for the first entry only.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

from pitstore.dsn import redact_url
from pitstore.errors import StoreUnavailableError
from pitstore.ingest.broker import Message

if TYPE_CHECKING:
    import redis

DATA_FIELD: Final = b"data"
_ACK_CHUNK: Final = 1000


class RedisStreamBroker:
    """Consume the stream ``topic`` as ``consumer`` of ``group`` on the Redis at ``url``."""

    kind = "redis"

    def __init__(
        self, url: str, topic: str, group: str, consumer: str, claim_idle_ms: int = 60_000
    ) -> None:
        import redis

        self.topic = topic
        self.group = group
        self.consumer = consumer
        self._claim_idle_ms = claim_idle_ms
        self._url = url
        self._shown_url = redact_url(url)  # for messages: no password
        # The socket timeout must outlast the longest BLOCK (fetch caps it at 5 s).
        self._redis: redis.Redis = redis.Redis.from_url(url, socket_timeout=15.0)
        self._pending_from: str | None = "0"  # own pending entries first, then new ones
        self._claim_from = "0-0"
        self._next_claim = 0.0
        with self._errors():
            self._create_group()

    def _create_group(self) -> None:
        import redis

        try:
            self._redis.xgroup_create(self.topic, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    @contextmanager
    def _errors(self) -> Iterator[None]:
        import redis

        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailableError(
                f"Redis broker at {self._shown_url} (stream {self.topic!r}) is unreachable: {exc}"
            ) from exc

    def fetch(self, max_messages: int, timeout_s: float) -> list[Message]:
        with self._errors():
            if self._pending_from is not None:
                own = self._read_own_pending(max_messages)
                if own:
                    return own
            if time.monotonic() >= self._next_claim:
                claimed = self._claim(max_messages)
                if claimed:
                    return claimed
            return self._read_new(max_messages, timeout_s)

    def _read_own_pending(self, count: int) -> list[Message]:
        assert self._pending_from is not None
        reply = self._redis.xreadgroup(
            self.group, self.consumer, {self.topic: self._pending_from}, count=count
        )
        entries = _entries(reply)
        if not entries:
            self._pending_from = None
            return []
        self._pending_from = _decode_id(entries[-1][0])
        return self._messages(entries, redelivered=True)

    def _claim(self, count: int) -> list[Message]:
        self._next_claim = time.monotonic() + max(self._claim_idle_ms / 2000, 0.5)
        reply = self._redis.xautoclaim(
            self.topic,
            self.group,
            self.consumer,
            min_idle_time=self._claim_idle_ms,
            start_id=self._claim_from,
            count=count,
        )
        cursor, entries = reply[0], reply[1]
        self._claim_from = _decode_id(cursor)
        if self._claim_from != "0-0":
            self._next_claim = 0.0  # more to claim: look again on the next fetch
        return self._messages(entries, redelivered=True)

    def _read_new(self, count: int, timeout_s: float) -> list[Message]:
        block = min(int(timeout_s * 1000), 5000)
        # BLOCK 0 would wait forever: no BLOCK at all when there is no time left.
        reply = self._redis.xreadgroup(
            self.group, self.consumer, {self.topic: ">"}, count=count, block=block or None
        )
        return self._messages(_entries(reply), redelivered=False)

    def _messages(self, entries: Sequence[Any], redelivered: bool) -> list[Message]:
        messages = []
        gone = []
        for raw_id, fields in entries:
            entry_id = _decode_id(raw_id)
            if fields is None:  # trimmed or deleted while pending: nothing left to ingest
                gone.append(entry_id)
                continue
            messages.append(_message(self.topic, entry_id, fields, redelivered))
        if gone:
            self._redis.xack(self.topic, self.group, *gone)
        return messages

    def ack(self, messages: Sequence[Message]) -> None:
        ids = [m.handle for m in messages]
        with self._errors():
            pipe = self._redis.pipeline(transaction=False)
            for start in range(0, len(ids), _ACK_CHUNK):
                pipe.xack(self.topic, self.group, *ids[start : start + _ACK_CHUNK])
            pipe.execute()

    def lag(self) -> int | None:
        with self._errors():
            for group in self._redis.xinfo_groups(self.topic):
                if _text(group.get("name")) == self.group:
                    lag = group.get("lag")
                    return None if lag is None else int(lag)
        return None

    def close(self) -> None:
        self._redis.close()


def _entries(reply: Any) -> list[Any]:
    """The entries of an XREADGROUP reply over one stream."""
    if not reply:
        return []
    if isinstance(reply, dict):  # RESP3
        return list(next(iter(reply.values()))[0])
    return list(reply[0][1])


def _message(topic: str, entry_id: str, fields: dict[Any, Any], redelivered: bool) -> Message:
    data = fields.get(DATA_FIELD, fields.get("data"))
    ms = int(entry_id.split("-", 1)[0])
    message = Message(f"{topic}:{entry_id}", b"", redelivered, ms / 1000, handle=entry_id)
    if data is None:
        names = sorted(_text(k) for k in fields)
        message.error = (
            f"Redis stream entry has no 'data' field (fields: {names}); put the row's JSON "
            "in 'data'"
        )
    else:
        message.data = data if isinstance(data, bytes) else str(data).encode()
    return message


def _decode_id(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
