"""Opening the broker of a stream source from the project file's ``brokers:`` section.

``StreamSource(broker="name")`` names an entry of ``brokers:`` in ``pitstore.yaml``; the
names ``redis`` and ``nats`` work without an entry (local default ports), so a quick start
needs no configuration. The definition says *what* is consumed (topic, group, format); the
project file says *where* the broker runs and how to batch, which differ between machines.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from pitstore.config.models import BrokerConfig, NatsBrokerConfig, RedisBrokerConfig
from pitstore.errors import ConfigError

if TYPE_CHECKING:
    from pitstore.config import ProjectConfig
    from pitstore.definitions import StreamSource
    from pitstore.ingest.broker import Broker

_DEFAULTS: dict[str, BrokerConfig] = {"redis": RedisBrokerConfig(), "nats": NatsBrokerConfig()}


def broker_config(config: ProjectConfig, source: StreamSource) -> BrokerConfig:
    """The configured broker of ``source`` (or the default of ``redis``/``nats``)."""
    found = config.brokers.get(source.broker) or _DEFAULTS.get(source.broker)
    if found is None:
        known = sorted({*config.brokers, *_DEFAULTS})
        raise ConfigError(
            f"stream source {source.name!r} names broker {source.broker!r}, which is not in "
            f"the brokers section of pitstore.yaml (known: {known}). Hint: add\n"
            f"brokers:\n  {source.broker}:\n    type: redis\n    url: redis://host:6379/0",
            key=f"brokers.{source.broker}",
        )
    return found


def default_consumer_name() -> str:
    """A consumer name stable across restarts on one host (Redis re-reads its pending)."""
    return f"{socket.gethostname()}"


def open_broker(
    config: BrokerConfig,
    source: StreamSource,
    consumer: str | None = None,
    batch_size: int | None = None,
) -> Broker:
    """Connect to the broker of ``source`` (imports its client only now)."""
    if isinstance(config, RedisBrokerConfig):
        from pitstore.ingest.redis_streams import RedisStreamBroker

        name = consumer or default_consumer_name()
        return RedisStreamBroker(config.url, source.topic, source.group, name, config.claim_idle_ms)
    from pitstore.ingest.nats_jetstream import NatsBroker

    batch = batch_size or config.batch_size
    return NatsBroker(
        config.url,
        source.topic,
        source.group,
        ack_wait_s=config.ack_wait_s,
        max_ack_pending=max(batch * 4, 1000),
    )
