"""The broker interface the consumer needs: fetch a bounded batch, acknowledge it.

A broker delivers each message at least once: a message fetched but not acknowledged (the
consumer crashed, or its write failed) is delivered again, to this consumer after a restart or
to another one of the same group, flagged ``redelivered``. Implementations never fetch more
than asked (no unbounded prefetch), so a consumer's memory is bounded by its batch size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(slots=True)
class Message:
    """One broker message."""

    id: str
    """The broker's id: ``<stream>:<entry id>`` (Redis) or ``<stream>:<sequence>`` (NATS)."""
    data: bytes
    redelivered: bool = False
    """Delivered before without an acknowledgement (a replay after a crash or a failure)."""
    produced_s: float | None = None
    """When the broker stored the message (POSIX seconds), when it says."""
    error: str | None = None
    """Why the broker could not give a payload (the message is dead-lettered)."""
    handle: Any = None
    """The client library's own message object, for acknowledging it."""


class Broker(Protocol):
    """A topic read by a consumer group (or durable consumer), at least once."""

    kind: str
    """``redis`` or ``nats`` (metrics and dead letters name it)."""
    topic: str

    def fetch(self, max_messages: int, timeout_s: float) -> list[Message]:
        """Up to ``max_messages`` messages, waiting at most ``timeout_s`` for the first one
        (``[]`` when none came). Redelivered messages come first."""
        ...

    def ack(self, messages: Sequence[Message]) -> None:
        """Acknowledge ``messages``: the broker will not deliver them again."""
        ...

    def lag(self) -> int | None:
        """Messages of the topic not yet delivered to the group (None when unknown)."""
        ...

    def close(self) -> None:
        """Release the connection (unacknowledged messages will be redelivered)."""
        ...
