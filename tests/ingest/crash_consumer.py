"""A consumer that dies by SIGKILL right after its first write, before acknowledging it.

Run as ``python crash_consumer.py REPO SOURCE CONSUMER``: it consumes one batch, writes it
(push log and online store), and kills itself where it would acknowledge the batch, the
worst moment for at-least-once delivery.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence

from pitstore import FeatureStore
from pitstore.ingest.broker import Message
from pitstore.ingest.run import build_consumer


def main() -> None:
    repo, source, name = sys.argv[1:4]
    store = FeatureStore(repo)
    consumer = build_consumer(store, source, consumer=name, batch_size=1000, max_wait_ms=300)

    def die(messages: Sequence[Message]) -> None:
        sys.stdout.write(f"wrote {len(messages)}\n")
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    consumer.broker.ack = die  # type: ignore[method-assign]
    consumer.run()


if __name__ == "__main__":
    main()
