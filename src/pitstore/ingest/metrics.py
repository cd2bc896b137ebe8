"""Consumer metrics, in Prometheus form (prometheus-client) and as plain numbers.

Exported (label ``source``):

- ``pitstore_ingest_messages_total{outcome="written"|"dead_letter"}``: throughput is its rate;
- ``pitstore_ingest_batches_total`` and ``pitstore_ingest_batch_seconds`` (write + ack);
- ``pitstore_ingest_write_errors_total``: failed writes, retried (the batch is not acked);
- ``pitstore_ingest_lag_messages``: messages of the topic not yet delivered to the group;
- ``pitstore_ingest_freshness_seconds``: at the last commit, the time since the broker
  stored the newest message of the batch (end-to-end delay);
- ``pitstore_ingest_last_commit_timestamp_seconds``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Totals:
    """What a consumer did so far (also its report when it stops)."""

    written: int = 0
    dead_lettered: int = 0
    batches: int = 0
    write_errors: int = 0
    lag: int | None = None
    freshness_s: float | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def messages(self) -> int:
        return self.written + self.dead_lettered

    def rate(self) -> float:
        """Messages per second since the start."""
        return self.messages / max(time.monotonic() - self.started, 1e-9)


class IngestMetrics:
    """Counts a consumer's work; with prometheus-client, exports it too."""

    def __init__(self, source: str, registry: Any = None) -> None:
        self.totals = Totals()
        self.registry = registry
        self._prom: dict[str, Any] = {}
        try:
            import prometheus_client as prom
        except ImportError:  # pragma: no cover - plain numbers only
            return
        self.registry = registry or prom.CollectorRegistry()
        labels = {"source": source}
        p = "pitstore_ingest_"
        r = self.registry
        self._prom = {
            "messages": prom.Counter(p + "messages", "Messages", ["source", "outcome"], registry=r),
            "batches": prom.Counter(p + "batches", "Batches committed", ["source"], registry=r),
            "errors": prom.Counter(p + "write_errors", "Failed writes", ["source"], registry=r),
            "seconds": prom.Histogram(
                p + "batch_seconds",
                "Write and ack time of a batch",
                ["source"],
                registry=r,
                buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            ),
            "lag": prom.Gauge(p + "lag_messages", "Not yet delivered", ["source"], registry=r),
            "fresh": prom.Gauge(
                p + "freshness_seconds", "Produce to commit", ["source"], registry=r
            ),
            "commit": prom.Gauge(
                p + "last_commit_timestamp_seconds", "Last commit", ["source"], registry=r
            ),
        }
        self._labels = labels

    def committed(self, written: int, dead: int, seconds: float, produced: float | None) -> None:
        """A batch was written and acknowledged."""
        t = self.totals
        t.written += written
        t.dead_lettered += dead
        t.batches += 1
        now = time.time()
        if produced is not None:
            t.freshness_s = max(now - produced, 0.0)
        if self._prom:
            source = self._labels["source"]
            self._prom["messages"].labels(source, "written").inc(written)
            self._prom["messages"].labels(source, "dead_letter").inc(dead)
            self._prom["batches"].labels(source).inc()
            self._prom["seconds"].labels(source).observe(seconds)
            self._prom["commit"].labels(source).set(now)
            if t.freshness_s is not None:
                self._prom["fresh"].labels(source).set(t.freshness_s)

    def write_failed(self) -> None:
        self.totals.write_errors += 1
        if self._prom:
            self._prom["errors"].labels(self._labels["source"]).inc()

    def lag(self, messages: int | None) -> None:
        self.totals.lag = messages
        if self._prom and messages is not None:
            self._prom["lag"].labels(self._labels["source"]).set(messages)

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Expose the metrics at ``http://host:port/metrics`` (a daemon thread)."""
        import prometheus_client as prom

        prom.start_http_server(port, addr=host, registry=self.registry)
