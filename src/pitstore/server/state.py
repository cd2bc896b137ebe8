"""What the server keeps between requests: the store, a fresh registry snapshot, readiness.

The registry is read by a background thread every ``registry_refresh_seconds``; requests use
the snapshot it left (the store's catalog is built with an infinite refresh interval, so the
hot path never queries the registry). A failed refresh keeps the last good snapshot serving
and shows in ``/ready`` and in the refresh-age metric. Materialization runs in other processes
and writes whole batches in transactions: reads go on meanwhile (DESIGN.md §5).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Final

from pitstore.online.base import ViewRead
from pitstore.store import FeatureStore

if TYPE_CHECKING:
    from pitstore.config import ProjectConfig
    from pitstore.store.catalog import Snapshot

log = logging.getLogger("pitstore.server")

#: /ready fails when the last good registry read is older than this many refresh intervals.
STALE_INTERVALS: Final = 3
#: /ready answers from a check at most this old: the probe is open to anyone, and a flood of
#: probes must not become a flood of store reads.
READY_CHECK_SECONDS: Final = 1.0


class ServerState:
    """The feature store of a server process and its background registry refresh."""

    def __init__(self, repo: str | Path, config: ProjectConfig | None = None) -> None:
        # An infinite interval: only the refresher thread below ever reads the registry.
        self.store = FeatureStore(repo, config, registry_refresh_seconds=math.inf)
        self.config = self.store.config
        self.settings = self.config.server
        self.project = self.config.project
        # Whether online reads run in worker threads; "auto" is settled by start(), from the
        # store: reads that take microseconds (SQLite) to ~0.1 ms (Redis) and fail fast run
        # on the event loop (on Redis a thread hop per read cost a third of the throughput,
        # 4.0k vs 5.4k req/s at 8 connections); reads that may wait for a pooled connection
        # (Postgres: up to its connect timeout) run in threads, so the loop never waits.
        self.offload_reads = self.settings.offload_reads is True
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._refreshed_at: float | None = None
        self.refresh_error: str | None = None
        self._checked: tuple[float, dict[str, str]] | None = None  # (when, problems)
        self._checking = threading.Lock()  # one store check at a time

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Load the registry and open the online store (so no request pays for it), then
        start the refresher."""
        self.refresh()
        online = self.store.online
        if self.settings.offload_reads == "auto":
            self.offload_reads = online.capabilities.reads_may_wait
        self._thread = threading.Thread(
            target=self._refresh_loop, name="pitstore-registry-refresh", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the refresher and close the backends (after in-flight requests finished)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.store.close()

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self.settings.registry_refresh_seconds):
            try:
                self.refresh()
            except Exception as exc:  # keep serving the last good snapshot
                self.refresh_error = f"{type(exc).__name__}: {exc}"
                log.warning("registry refresh failed: %s", self.refresh_error)

    def refresh(self) -> Snapshot:
        """Read the registry now (one revision query; definitions only when it changed)."""
        snapshot = self.store.catalog.current()
        self._refreshed_at = time.monotonic()
        self.refresh_error = None
        return snapshot

    # --- what requests and probes see ---------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The cached definitions (no I/O once warm)."""
        return self.store.catalog.cached()

    def refresh_age(self) -> float:
        """Seconds since the last good registry read (infinite before the first)."""
        if self._refreshed_at is None:
            return math.inf
        return time.monotonic() - self._refreshed_at

    def revision(self) -> float:
        return float(self.snapshot().revision) if self._refreshed_at is not None else -1.0

    def readiness(self) -> dict[str, str]:
        """Problems that make the server unready, by component (empty when ready), as of a
        check at most :data:`READY_CHECK_SECONDS` old."""
        checked = self._checked
        if checked is not None and time.monotonic() - checked[0] < READY_CHECK_SECONDS:
            return checked[1]
        # Probes arriving while a check runs (a slow or unreachable store) answer with the
        # last result instead of starting checks of their own: each held a worker thread
        # for the whole check, and a flood of them took every thread the server has.
        if not self._checking.acquire(blocking=checked is None):
            assert checked is not None
            return checked[1]
        try:
            checked = self._checked  # another thread may have checked while this one waited
            if checked is not None and time.monotonic() - checked[0] < READY_CHECK_SECONDS:
                return checked[1]
            problems = self._check()
            self._checked = (time.monotonic(), problems)
            return problems
        finally:
            self._checking.release()

    def _check(self) -> dict[str, str]:
        problems: dict[str, str] = {}
        limit = STALE_INTERVALS * self.settings.registry_refresh_seconds + 1
        if self._refreshed_at is None:
            problems["registry"] = "not loaded yet"
        elif self.refresh_age() > limit:
            problems["registry"] = (
                f"last read {self.refresh_age():.0f}s ago ({self.refresh_error or 'no error'})"
            )
        try:
            self._probe_store()
        except Exception as exc:
            problems["online_store"] = f"{type(exc).__name__}: {exc}"
        return problems

    def _probe_store(self) -> None:
        """One real read of a key that does not exist, in the first online view."""
        views = [v for v in self.snapshot().contents.views.values() if v.online]
        if views:
            view = views[0]
            self.store.online.read([ViewRead(view.name, view.feature_names[:1], [b"\x00"])])
