"""Prometheus metrics of one server process (``GET /metrics``).

Each app gets its own registry (not the global one), so tests can build many apps. With
several workers each process counts for itself; a scrape sees the worker that answered.
Labels are bounded: endpoints are route names (never raw paths) and feature services are
only those that resolved.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

# Sub-millisecond buckets: a warm online read takes tens of microseconds.
_LATENCY_BUCKETS: Final = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)
CONTENT_TYPE: Final = CONTENT_TYPE_LATEST


class Metrics:
    """The server's counters, histograms and gauges."""

    def __init__(self, refresh_age: Callable[[], float], revision: Callable[[], float]) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self._requests = Counter(
            "pitstore_http_requests", "HTTP requests", ["endpoint", "status"], registry=r
        )
        self._latency = Histogram(
            "pitstore_http_request_duration_seconds",
            "HTTP request latency, from the first byte read to the last byte sent",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self._service = Histogram(
            "pitstore_online_request_duration_seconds",
            "Online read latency per feature service ('-' for feature lists)",
            ["feature_service"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self._store = Histogram(
            "pitstore_store_duration_seconds",
            "Time in the store facade: key encoding, online store round trip, TTL checks",
            ["operation"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self._errors = Counter(
            "pitstore_http_errors", "Error responses by error code", ["code"], registry=r
        )
        age = Gauge(
            "pitstore_registry_refresh_age_seconds",
            "Seconds since the registry was last read successfully",
            registry=r,
        )
        age.set_function(refresh_age)
        rev = Gauge("pitstore_registry_revision", "Registry revision being served", registry=r)
        rev.set_function(revision)
        # Label children cached: .labels() takes a lock and builds a key on every call.
        self._counters: dict[tuple[str, ...], Counter] = {}
        self._histograms: dict[tuple[str, ...], Histogram] = {}

    def request(self, endpoint: str, status: int, seconds: float) -> None:
        self._count(self._requests, endpoint, str(status)).inc()
        self._hist(self._latency, endpoint).observe(seconds)

    def online(self, service: str | None, seconds: float) -> None:
        self._hist(self._service, service or "-").observe(seconds)

    def store(self, operation: str, seconds: float) -> None:
        self._hist(self._store, operation).observe(seconds)

    def error(self, code: str) -> None:
        self._count(self._errors, code).inc()

    def _count(self, metric: Counter, *labels: str) -> Counter:
        key = (metric._name, *labels)
        child = self._counters.get(key)
        if child is None:
            child = self._counters[key] = metric.labels(*labels)
        return child

    def _hist(self, metric: Histogram, *labels: str) -> Histogram:
        key = (metric._name, *labels)
        child = self._histograms.get(key)
        if child is None:
            child = self._histograms[key] = metric.labels(*labels)
        return child

    def render(self) -> bytes:
        return generate_latest(self.registry)
