"""Prometheus metrics of the server (``GET /metrics``).

Each app gets its own registry (not the global one), so tests can build many apps. With
several workers (``pitstore serve --workers N``) the workers share their counts through a
directory (:data:`SHARE_ENV`, made by ``pitstore serve``): each writes a snapshot of its
counters and histograms there every :data:`SHARE_SECONDS`, and the worker that answers a
scrape adds up its own live counts and the others' snapshots. So every scrape shows the whole
server (the other workers as of at most a second ago), whichever worker answers it. Gauges
(registry age and revision) are the answering worker's own.

Labels are bounded: endpoints are route names (never raw paths) and feature services are
only those that resolved.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

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
#: The directory where the workers of one ``pitstore serve`` share their counts.
SHARE_ENV: Final = "PITSTORE_METRICS_DIR"
#: Seconds between a worker's snapshots; a snapshot older than 3 of them is a worker gone.
SHARE_SECONDS: Final = 1.0

log = logging.getLogger("pitstore.server")

#: What a worker shares: collector name -> its snapshot (JSON).
Snapshot = dict[str, Any]


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

    def snapshot(self) -> dict[str, tuple[list[int], float]]:
        """label value -> (count per bucket, sum of seconds)."""
        with self._lock:
            return {k: (list(counts), total[0]) for k, (counts, total) in self._data.items()}

    def collect(self, others: list[Any]) -> Metric:
        """The histograms of this process plus ``others`` (other workers' snapshots)."""
        family = HistogramMetricFamily(self.name, self.doc, labels=[self.label])
        data = self.snapshot()
        for other in others:
            for value, (counts, total) in other.items():
                mine, mine_total = data.get(value, ([0] * len(counts), 0.0))
                summed = [a + b for a, b in zip(mine, counts, strict=True)]
                data[value] = (summed, mine_total + total)
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

    def snapshot(self) -> list[list[Any]]:
        """``[*label values, count]`` per series (a list: JSON has no tuple keys)."""
        with self._lock:
            return [[*values, count] for values, count in self._data.items()]

    def collect(self, others: list[Any]) -> Metric:
        """The counters of this process plus ``others`` (other workers' snapshots)."""
        family = CounterMetricFamily(self.name, self.doc, labels=self.labels)
        data: dict[tuple[str, ...], int] = {}
        for series in [self.snapshot(), *others]:
            for *values, count in series:
                data[tuple(values)] = data.get(tuple(values), 0) + count
        for values, count in sorted(data.items()):
            family.add_metric(list(values), count)
        return family


class Metrics:
    """The server's counters, histograms and gauges."""

    def __init__(
        self,
        refresh_age: Callable[[], float],
        revision: Callable[[], float],
        share_dir: Path | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        self._share_dir = share_dir
        self._stop_sharing = threading.Event()
        self._share_thread: threading.Thread | None = None
        self._workers = 1  # processes added up by the last scrape
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
        workers = Gauge(
            "pitstore_server_workers",
            "Worker processes whose counts this scrape adds up",
            registry=self.registry,
        )
        workers.set_function(lambda: self._workers)

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
        """The request metrics of every worker, for the registry (the gauges are registered
        on their own)."""
        others, live = self._others()
        self._workers = 1 + live
        for collector in self._collectors():
            yield collector.collect([other.get(collector.name, []) for other in others])

    def render(self) -> bytes:
        return generate_latest(self.registry)

    # --- sharing between the workers of one server --------------------------------------------

    def start_sharing(self) -> None:
        """Write this worker's snapshot every :data:`SHARE_SECONDS` (when there is a share
        directory: several workers)."""
        if self._share_dir is None or self._share_thread is not None:
            return
        self._stop_sharing.clear()
        self._share_thread = threading.Thread(
            target=self._share_loop, name="pitstore-metrics-share", daemon=True
        )
        self._share_thread.start()

    def stop_sharing(self) -> None:
        """Stop the snapshot thread after a last snapshot (the worker's final counts stay in
        the sum: counters never go down)."""
        if self._share_thread is None:
            return
        self._stop_sharing.set()
        self._share_thread.join(timeout=5)
        self._share_thread = None
        self._share()

    def _collectors(self) -> tuple[_Counters | _Histograms, ...]:
        return (self._requests, self._latency, self._service, self._store, self._errors)

    def _share_loop(self) -> None:
        self._share()
        while not self._stop_sharing.wait(SHARE_SECONDS):
            self._share()

    def _share(self) -> None:
        try:
            self._write_snapshot()
        except OSError as exc:  # e.g. the directory was removed: keep serving
            log.warning("could not share metrics in %s: %s", self._share_dir, exc)

    def _write_snapshot(self) -> None:
        assert self._share_dir is not None
        data = {c.name: c.snapshot() for c in self._collectors()}
        final = self._share_dir / f"{os.getpid()}.json"
        partial = final.with_suffix(".tmp")
        partial.write_text(json.dumps(data))
        os.replace(partial, final)  # a reader sees the old snapshot or the new, never half

    def _others(self) -> tuple[list[Snapshot], int]:
        """The other workers' snapshots from the share directory (none without one), and how
        many of those workers are alive (wrote lately). A gone worker's counts still count:
        its requests happened, and counters never go down."""
        if self._share_dir is None:
            return [], 0
        others, live = [], 0
        recent = time.time() - 3 * SHARE_SECONDS
        for path in self._share_dir.glob("*.json"):
            if path.stem == str(os.getpid()):
                continue  # this worker's own counts are live
            try:
                live += path.stat().st_mtime >= recent
                others.append(json.loads(path.read_text()))
            except (OSError, ValueError) as exc:
                log.warning("skipped the metrics of %s: %s", path.name, exc)
        return others, live
