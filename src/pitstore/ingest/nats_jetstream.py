"""NATS JetStream as a :class:`~pitstore.ingest.broker.Broker`: a durable pull consumer.

- **Messages.** A message's payload is the row as JSON. The subject (the stream source's
  ``topic``) must be captured by a JetStream stream, created on the producing side
  (``nats stream add``); the consumer finds the stream by subject.
- **Durable consumer.** Named after the source's ``group``, explicit acks, created on first
  use (delivering the stream from its start) and shared by every consumer process of the
  source. A message not acked within ``ack_wait_s`` is redelivered (``num_delivered > 1``
  flags it), so a crashed consumer's batch is replayed after at most ``ack_wait_s``.
- **Bounded.** Pull requests ask for at most the batch size, and ``max_ack_pending`` caps the
  messages out for processing, so nothing is pushed at the consumer beyond what it asked for.

nats-py is asyncio-only; this class runs its own event loop and exposes the synchronous
:class:`Broker` interface (one consumer thread, no event loop of the caller's needed). It
sends the pull requests itself (``$JS.API.CONSUMER.MSG.NEXT``, at most one open at a time,
for at most the batch size) into a subscription whose callback fills a buffer: nats-py's own
``fetch`` waits on every message with a timer task, which caps it near 15k messages/s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import Coroutine, Sequence
from typing import Any, Final, TypeVar

from pitstore.dsn import redact_url
from pitstore.errors import ConfigError, StoreUnavailableError
from pitstore.ingest.broker import Message

T = TypeVar("T")
_CONNECT_TIMEOUT_S: Final = 5.0
#: Pull requests live at least this long (the server handles shorter ones poorly).
_MIN_EXPIRES_S: Final = 0.01
#: After this long past its expiry, a request is over even if no status message came.
_EXPIRY_GRACE_S: Final = 0.05


class NatsBroker:
    """Consume ``topic`` through the durable consumer ``group`` on the NATS at ``url``."""

    kind = "nats"

    def __init__(
        self,
        url: str,
        topic: str,
        group: str,
        ack_wait_s: float = 30.0,
        max_ack_pending: int = 10_000,
    ) -> None:
        self.topic = topic
        self.group = group
        self._url = url
        self._shown_url = redact_url(url)  # for messages: no password
        self._loop = asyncio.new_event_loop()
        self._nc: Any = None
        self._js: Any = None
        self.stream = ""
        self._run(self._connect(ack_wait_s, max_ack_pending))

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self._loop.run_until_complete(coroutine)

    async def _connect(self, ack_wait_s: float, max_ack_pending: int) -> None:
        import nats
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        try:
            self._nc = await nats.connect(
                self._url,
                connect_timeout=_CONNECT_TIMEOUT_S,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
            )
        except (OSError, nats.errors.Error) as exc:
            raise StoreUnavailableError(f"NATS at {self._shown_url} is unreachable: {exc}") from exc
        self._js = self._nc.jetstream()
        try:
            self.stream = await self._js.find_stream_name_by_subject(self.topic)
        except nats.js.errors.NotFoundError:
            raise ConfigError(
                f"no JetStream stream captures subject {self.topic!r} on {self._shown_url}; create "
                f"one, e.g. `nats stream add EVENTS --subjects {self.topic!r}`",
                key="topic",
            ) from None
        config = ConsumerConfig(
            durable_name=self.group,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=ack_wait_s,
            max_ack_pending=max_ack_pending,
            filter_subject=self.topic,
        )
        try:
            await self._js.add_consumer(self.stream, config)  # idempotent for one config
        except nats.js.errors.BadRequestError:
            # It exists with other settings (an older ack_wait...): use it as it is.
            await self._js.consumer_info(self.stream, self.group)
        self._next = f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{self.group}"
        self._inbox = self._nc.new_inbox()
        self._buffer: deque[Any] = deque()
        self._arrived = asyncio.Event()
        self._open = 0  # messages requested by the open pull request, not yet received
        self._open_until = 0.0  # when that request has surely expired (loop time)
        await self._nc.subscribe(self._inbox, cb=self._on_message)

    async def _on_message(self, msg: Any) -> None:
        status = msg.headers.get("Status") if msg.headers else None
        if status is None:
            self._open = max(self._open - 1, 0)
            self._buffer.append(msg)
        elif status != "100":  # 404 no messages, 408 expired, 409...: the request is over
            self._open = 0
        self._arrived.set()

    def fetch(self, max_messages: int, timeout_s: float) -> list[Message]:
        import nats

        try:
            raw = self._run(self._fetch(max_messages, max(timeout_s, 0.001)))
        except nats.errors.Error as exc:
            raise StoreUnavailableError(f"NATS fetch from {self.topic!r} failed: {exc}") from exc
        return [self._message(m) for m in raw]

    async def _fetch(self, count: int, timeout_s: float) -> list[Any]:
        now = self._loop.time()
        if self._open and now > self._open_until:
            self._open = 0  # expired without a status message reaching us: it is over
        if not self._buffer and not self._open:
            # One request at a time, for at most `count`: nothing beyond it is delivered.
            expires = max(timeout_s, _MIN_EXPIRES_S)
            body = {"batch": count, "expires": int(expires * 1e9)}
            self._open = count
            self._open_until = now + expires + _EXPIRY_GRACE_S
            await self._nc.publish(self._next, json.dumps(body).encode(), reply=self._inbox)
        if not self._buffer:
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), timeout_s)
        out: list[Any] = []
        while self._buffer and len(out) < count:
            out.append(self._buffer.popleft())
        return out

    def _message(self, msg: Any) -> Message:
        meta = msg.metadata
        produced = meta.timestamp.timestamp() if meta.timestamp is not None else None
        return Message(
            f"{self.stream}:{meta.sequence.stream}",
            msg.data,
            redelivered=meta.num_delivered > 1,
            produced_s=produced,
            handle=msg,
        )

    def ack(self, messages: Sequence[Message]) -> None:
        import nats

        async def ack_all() -> None:
            for message in messages:
                await message.handle.ack()
            await self._nc.flush()

        try:
            self._run(ack_all())
        except nats.errors.Error as exc:
            raise StoreUnavailableError(f"NATS ack on {self.topic!r} failed: {exc}") from exc

    def lag(self) -> int | None:
        import nats

        try:
            info = self._run(self._js.consumer_info(self.stream, self.group))
        except nats.errors.Error:
            return None
        return int(info.num_pending)

    def close(self) -> None:
        if self._nc is not None:
            # Not drain(): it waits for the open pull request to expire. Acks were flushed
            # by ack(); a message fetched but not acked is redelivered, as it should be.
            with contextlib.suppress(Exception):  # the server may already be gone
                self._run(self._nc.close())
        self._loop.close()
