"""``pitstore ingest``: build a consumer for a stream source and run it until stopped."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

from pitstore.definitions import StreamSource
from pitstore.errors import DefinitionError
from pitstore.ingest.consumer import Consumer, IngestSettings
from pitstore.ingest.factory import broker_config, open_broker
from pitstore.ingest.metrics import IngestMetrics, Totals
from pitstore.store.push_source import check_target, source_views

if TYPE_CHECKING:
    from pitstore.store.feature_store import FeatureStore


def stream_source(store: FeatureStore, name: str) -> StreamSource:
    """The registered stream source ``name`` (NotFoundError/DefinitionError otherwise)."""
    source, _ = source_views(store.catalog.current(), name)
    if not isinstance(source, StreamSource):
        raise DefinitionError(
            f"source {name!r} is a push source, not a stream source: it has no broker topic to "
            "consume. Define it as StreamSource(name, broker=..., topic=..., batch_source=...)"
        )
    return source


def build_consumer(
    store: FeatureStore,
    name: str,
    *,
    to: str = "online_and_offline",
    batch_size: int | None = None,
    max_wait_ms: int | None = None,
    consumer: str | None = None,
    max_messages: int | None = None,
    idle_exit_s: float | None = None,
) -> Consumer:
    """A consumer of the stream source ``name``, with the project file's broker settings
    (``batch_size``/``max_wait_ms`` override them)."""
    source = stream_source(store, name)
    config = broker_config(store.config, source)
    settings = IngestSettings(
        batch_size=batch_size or config.batch_size,
        max_wait_s=(config.max_wait_ms if max_wait_ms is None else max_wait_ms) / 1000,
        to=check_target(to),
        max_messages=max_messages,
        idle_exit_s=idle_exit_s,
    )
    broker = open_broker(config, source, consumer, settings.batch_size)
    return Consumer(store, source, broker, settings, IngestMetrics(source.name))


def run_until_signalled(
    consumer: Consumer,
    metrics_port: int | None = None,
    on_stop: Callable[[], None] | None = None,
) -> Totals:
    """Run ``consumer``; SIGINT/SIGTERM finish the current batch, commit it and return."""

    def stop(signum: int, frame: FrameType | None) -> None:
        if on_stop is not None:
            on_stop()
        consumer.stop()

    if metrics_port is not None:
        consumer.metrics.serve(metrics_port)
    main = threading.current_thread() is threading.main_thread()
    previous = {}
    if main:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, stop)
    try:
        return consumer.run()
    finally:
        consumer.broker.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
