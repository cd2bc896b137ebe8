"""Prometheus metrics of one server process (``GET /metrics``).

Each app gets its own registry (not the global one), so tests can build many apps. With
several workers each process counts for itself; a scrape sees the worker that answered.
Labels are bounded: endpoints are route names (never raw paths) and feature services are
only those that resolved.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import Final

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
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


class _Histograms:
    """Latency histograms by one label, kept as plain numbers and exported at scrape time.

    Every request observes two or three of them: prometheus_client's ``Histogram.observe``
    costs about a microsecond each (label lookup, a lock per value); this is a third of that.
    """

    def __init__(self, name: str, doc: str, label: str, lock: threading.Lock) -> None:
        self.name, self.doc, self.label = name, doc, label
        self._lock = lock
        self._data: dict[str, tuple[list[int], list[float]]] = {}

    def observe(self, value: str, seconds: float) -> None:
        with self._lock:
            entry = self._data.get(value)
            if entry is None:
                entry = self._data[value] = ([0] * (len(_LATENCY_BUCKETS) + 1), [0.0])
            entry[0][bisect_left(_LATENCY_BUCKETS, seconds)] += 1  # le: bound >= seconds
            entry[1][0] += seconds

    def collect(self) -> Metric:
        family = HistogramMetricFamily(self.name, self.doc, labels=[self.label])
        with self._lock:
            data = {k: (list(counts), total[0]) for k, (counts, total) in self._data.items()}
        for value, (counts, total) in sorted(data.items()):
            bounds = [*(repr(b) for b in _LATENCY_BUCKETS), "+Inf"]
            cumulative, buckets = 0, []
            for bound, count in zip(bounds, counts, strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            family.add_metric([value], buckets, total)
        return family


class _Counters:
    """Counters by label values, kept as plain integers and exported at scrape time."""

    def __init__(self, name: str, doc: str, labels: list[str], lock: threading.Lock) -> None:
        self.name, self.doc, self.labels = name, doc, labels
        self._lock = lock
        self._data: dict[tuple[str, ...], int] = {}

    def inc(self, *values: str) -> None:
        with self._lock:
            self._data[values] = self._data.get(values, 0) + 1

    def collect(self) -> Metric:
        family = CounterMetricFamily(self.name, self.doc, labels=self.labels)
        with self._lock:
            data = dict(self._data)
        for values, count in sorted(data.items()):
            family.add_metric(list(values), count)
        return family


class Metrics:
    """The server's counters, histograms and gauges."""

    def __init__(self, refresh_age: Callable[[], float], revision: Callable[[], float]) -> None:
        self.registry = CollectorRegistry()
        lock = threading.Lock()  # one for all: observations are on the event loop thread
        self._requests = _Counters(
            "pitstore_http_requests", "HTTP requests", ["endpoint", "status"], lock
        )
        self._latency = _Histograms(
            "pitstore_http_request_duration_seconds",
            "HTTP request latency, from the first byte read to the last byte sent",
            "endpoint",
            lock,
        )
        self._service = _Histograms(
            "pitstore_online_request_duration_seconds",
            "Online read latency per feature service ('-' for feature lists)",
            "feature_service",
            lock,
        )
        self._store = _Histograms(
            "pitstore_store_duration_seconds",
            "Time in the online store: one call per group of concurrent reads, or per write",
            "operation",
            lock,
        )
        self._errors = _Counters(
            "pitstore_http_errors", "Error responses by error code", ["code"], lock
        )
        self.registry.register(self)  # collect() below
        age = Gauge(
            "pitstore_registry_refresh_age_seconds",
            "Seconds since the registry was last read successfully",
            registry=self.registry,
        )
        age.set_function(refresh_age)
        rev = Gauge(
            "pitstore_registry_revision",
            "Registry revision being served",
            registry=self.registry,
        )
        rev.set_function(revision)

    def request(self, endpoint: str, status: int, seconds: float) -> None:
        self._requests.inc(endpoint, str(status))
        self._latency.observe(endpoint, seconds)

    def online(self, service: str | None, seconds: float) -> None:
        self._service.observe(service or "-", seconds)

    def store(self, operation: str, seconds: float) -> None:
        self._store.observe(operation, seconds)

    def error(self, code: str) -> None:
        self._errors.inc(code)

    def collect(self) -> Iterator[Metric]:
        """The request metrics, for the registry (the gauges are registered on their own)."""
        yield self._requests.collect()
        yield self._latency.collect()
        yield self._service.collect()
        yield self._store.collect()
        yield self._errors.collect()

    def render(self) -> bytes:
        return generate_latest(self.registry)
