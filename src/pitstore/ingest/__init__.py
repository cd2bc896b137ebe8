"""Stream ingestion: broker consumers that push micro-batches into a stream source (layer 6).

``pitstore ingest SOURCE`` runs :class:`~pitstore.ingest.consumer.Consumer` over a
:class:`~pitstore.ingest.broker.Broker` (Redis Streams or NATS JetStream). Importing this
package loads no broker client; each broker module imports its client where it connects.
"""

from __future__ import annotations
