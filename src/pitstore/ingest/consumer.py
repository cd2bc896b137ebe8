"""The consumer loop: fetch a bounded batch, decode, push, dead-letter, then acknowledge.

**Commit rule.** A batch is acknowledged only after its rows were written (offline log, then
online) and its rejects dead-lettered. A crash anywhere before the ack leaves the whole batch
unacknowledged: the broker delivers it again (at least once), flagged as redelivered, and
the write path makes the replay harmless: online writes are monotonic, a redelivered message
already in the log is not logged again, and its events are not added twice to an aggregated
view's lists.

**Batches.** A batch closes at ``batch_size`` messages or ``max_wait_s`` after its first
message, whichever comes first. Only one batch is in memory at a time and nothing is fetched
while it is written: a slow store slows the reads (back-pressure), it never queues messages.

**Poison messages.** A payload that does not decode, or a row that fails validation, goes to
the dead-letter store with the reason; the rest of its batch is written and the consumer goes
on. A write that fails for another reason (the store is down) is retried with backoff, without
acknowledging and without fetching more; an error that a retry cannot fix (the source is no
longer registered) stops the consumer, its batch unacknowledged.

**Stopping.** :meth:`Consumer.stop` (the CLI calls it on SIGINT/SIGTERM) lets the current
batch finish (write and ack), then the loop returns.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from pitstore.errors import SchemaError, StoreUnavailableError
from pitstore.ingest.broker import Broker, Message
from pitstore.ingest.dead_letter import DeadLetters, Rejected
from pitstore.ingest.decode import DECODERS, DecodeError
from pitstore.ingest.metrics import IngestMetrics, Totals
from pitstore.store.push_log import log_root
from pitstore.store.push_source import Origin, bad_rows, log_schema, source_views

if TYPE_CHECKING:
    from pitstore.definitions import StreamSource
    from pitstore.store.feature_store import FeatureStore

_log = logging.getLogger(__name__)
#: How often the broker is asked for the lag (it costs a round trip).
_LAG_EVERY_S: Final = 1.0


@dataclass(frozen=True, slots=True)
class IngestSettings:
    """How a consumer batches and where it writes."""

    batch_size: int = 500
    max_wait_s: float = 0.05
    to: str = "online_and_offline"
    poll_s: float = 1.0
    """Longest single wait for a message (how quickly an idle consumer sees a stop)."""
    max_messages: int | None = None
    """Stop after this many messages (benchmarks, tests); None: run until stopped."""
    idle_exit_s: float | None = None
    """Stop after this long without a message; None: never."""
    retry_max_s: float = 30.0
    """Longest backoff between retries of a failed write."""


class Consumer:
    """Ingests ``source`` from ``broker`` into ``store`` (see the module docstring)."""

    def __init__(
        self,
        store: FeatureStore,
        source: StreamSource,
        broker: Broker,
        settings: IngestSettings | None = None,
        metrics: IngestMetrics | None = None,
    ) -> None:
        self.store = store
        self.source = source
        self.broker = broker
        self.settings = settings or IngestSettings()
        self.metrics = metrics or IngestMetrics(source.name)
        root = log_root(source, store.repo_path)
        self.dead_letters = DeadLetters(root, source.name, broker.kind, broker.topic)
        self._decode = DECODERS[source.format]
        self._stop = threading.Event()
        self._next_lag = 0.0

    def stop(self) -> None:
        """Finish the current batch (write and ack), then return from :meth:`run`."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> Totals:
        """Consume until stopped (or a limit of the settings is reached); returns totals."""
        settings = self.settings
        idle_since = time.monotonic()
        while not self._stop.is_set():
            batch = self._collect()
            self._report_lag()
            if not batch:
                idle = time.monotonic() - idle_since
                if settings.idle_exit_s is not None and idle >= settings.idle_exit_s:
                    break
                continue
            self._commit(batch)
            idle_since = time.monotonic()
            limit = settings.max_messages
            if limit is not None and self.metrics.totals.messages >= limit:
                break
        return self.metrics.totals

    def _collect(self) -> list[Message]:
        """One batch: up to ``batch_size`` messages, within ``max_wait_s`` of the first."""
        size = self.settings.batch_size
        limit = self.settings.max_messages
        if limit is not None:
            size = max(1, min(size, limit - self.metrics.totals.messages))
        poll = self.settings.poll_s
        if self.settings.idle_exit_s is not None:
            poll = min(poll, self.settings.idle_exit_s)
        batch = self.broker.fetch(size, poll)
        if not batch:
            return []
        deadline = time.monotonic() + self.settings.max_wait_s
        while len(batch) < size and not self._stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            more = self.broker.fetch(size - len(batch), remaining)
            if not more:
                break
            batch += more
        return batch

    def _commit(self, batch: list[Message]) -> None:
        """Write ``batch`` (retrying transient failures), then acknowledge it."""
        began = time.perf_counter()
        delay = 0.1
        while True:
            try:
                written, rejected = self._write(batch)
                self.broker.ack(batch)
                break
            except (StoreUnavailableError, OSError) as exc:
                self.metrics.write_failed()
                _log.warning("ingest %s: write failed, retrying: %s", self.source.name, exc)
                # What the failed attempt wrote (the log, a first view) stays written: the
                # retry is a replay, whose replay-safe writes skip rows already logged or
                # counted (else the log and aggregated views got them twice).
                for message in batch:
                    message.redelivered = True
                if self._stop.wait(delay):
                    # Stopping: leave the batch unacknowledged; the broker redelivers it.
                    raise
                delay = min(delay * 2, self.settings.retry_max_s)
        produced = max((m.produced_s for m in batch if m.produced_s is not None), default=None)
        seconds = time.perf_counter() - began
        self.metrics.committed(written, len(rejected), seconds, produced)

    def _write(self, batch: Sequence[Message]) -> tuple[int, list[Rejected]]:
        """Push the good rows, dead-letter the rest; returns (rows written, rejects)."""
        rejected: list[Rejected] = []
        rows: list[dict[str, Any]] = []
        kept: list[Message] = []
        for message in once_each(batch):
            if message.error is not None:
                rejected.append(Rejected(message, message.error))
                continue
            try:
                rows.append(self._decode(message.data))
                kept.append(message)
            except DecodeError as exc:
                rejected.append(Rejected(message, str(exc)))
        written = 0
        if rows:
            try:
                written = self._push(rows, kept)
            except SchemaError:
                written, invalid = self._push_valid(rows, kept)
                rejected += invalid
        self.dead_letters.write(rejected)
        return written, rejected

    def _push(self, rows: list[dict[str, Any]], messages: Sequence[Message]) -> int:
        origin = Origin(
            [m.id for m in messages],
            [m.redelivered for m in messages],
            [m.produced_s for m in messages],
        )
        # Messages are JSON: bytes come as base64 text
        self.store.push(self.source.name, rows, self.settings.to, origin=origin, base64_bytes=True)
        return len(rows)

    def _push_valid(
        self, rows: list[dict[str, Any]], messages: list[Message]
    ) -> tuple[int, list[Rejected]]:
        """The slow path of a batch with invalid rows: find them, push the others."""
        snapshot = self.store.catalog.cached()
        source, views = source_views(snapshot, self.source.name)
        logged = log_schema(self.store, source) if self.settings.to != "online" else None
        bad = bad_rows(snapshot, views, rows, logged, base64_bytes=True)
        rejected = [Rejected(messages[i], reason) for i, reason in sorted(bad.items())]
        good = [i for i in range(len(rows)) if i not in bad]
        if not good:
            return 0, rejected
        return self._push([rows[i] for i in good], [messages[i] for i in good]), rejected

    def _report_lag(self) -> None:
        now = time.monotonic()
        if now < self._next_lag:
            return
        self._next_lag = now + _LAG_EVERY_S
        try:
            self.metrics.lag(self.broker.lag())
        except StoreUnavailableError as exc:  # a metric only: the next fetch will tell
            _log.debug("ingest %s: lag unknown: %s", self.source.name, exc)


def once_each(batch: Sequence[Message]) -> list[Message]:
    """The batch with one message per id (every copy is still acknowledged with the batch).

    A message can come twice in one batch: JetStream redelivers it when its ack wait runs out
    while the batch before is still being written, and the pull still open brings both copies.
    The log's replay check looks only at what is already on disk, so both copies were logged
    (offline counts doubled). The copy kept counts as redelivered if any copy was.
    """
    first: dict[str, Message] = {}
    for message in batch:
        kept = first.setdefault(message.id, message)
        if message.redelivered and not kept.redelivered:
            kept.redelivered = True
    return list(first.values())
