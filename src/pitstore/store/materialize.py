"""Materialization: the latest value per entity, from the offline engine to the online store.

The engine deduplicates (one row per entity, inside DuckDB); this module encodes keys, writes
Arrow batches, and advances a view's watermark only after all its batches were written. A run
that dies half way leaves the old watermark; writes are monotonic, so rerunning is harmless
and ends in the same state as an uninterrupted run.

A run reads the definitions once, at its start. An ``apply`` during the run may change a view
it is writing: the watermark is then recorded only against the version the run read (one
registry transaction), and a change that makes the written rows stale drops them again (the
apply cleared them, perhaps before this run wrote the old definition's rows): see
:func:`_record`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from pitstore.definitions import FeatureView
from pitstore.errors import ConflictError, DefinitionError
from pitstore.online.base import CREATED_COLUMN, KEY_COLUMN, TS_COLUMN
from pitstore.store.aggregates import EVENT_CREATED, EVENT_TS
from pitstore.store.resolve import ViewSelection
from pitstore.store.retrieval import view_query
from pitstore.timeutil import to_utc

if TYPE_CHECKING:
    import pyarrow as pa

    from pitstore.offline.base import ViewQuery
    from pitstore.registry.plan import ObjectChange
    from pitstore.store.catalog import Snapshot
    from pitstore.store.feature_store import FeatureStore

#: Where an incremental run starts for a view with no watermark and no TTL: the first instant
#: a timestamp can hold (rows before 1970 are rows too; training data reads them).
BEGINNING = datetime(1, 1, 1, tzinfo=UTC)
DEFAULT_BATCH_ROWS = 100_000
#: How long a failed run tries to stop the query it read ahead before leaving it behind.
STOP_WAIT_S = 5.0


class Progress(Protocol):
    """Receives progress of a materialization (the CLI shows it as progress bars)."""

    def view_started(self, view: str, start: datetime, end: datetime) -> None: ...

    def rows_written(self, view: str, rows: int) -> None: ...

    def view_finished(self, view: str, rows: int, seconds: float) -> None: ...


@dataclass
class ViewReport:
    """What materialization did for one view."""

    view: str
    start: datetime
    end: datetime
    rows: int
    seconds: float
    skipped: bool = False
    """Incremental, and the view was already materialized past the run's end."""


@dataclass
class MaterializeReport:
    """What a materialization run did, view by view."""

    views: list[ViewReport] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(v.rows for v in self.views)


def materialize(
    store: FeatureStore,
    start: datetime | None,
    end: datetime,
    views: list[str] | None,
    *,
    progress: Progress | None = None,
    incremental: bool,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> MaterializeReport:
    """Materialize ``views`` (default: every online view) over ``[start, end]``."""
    end = to_utc(end)
    if start is not None and to_utc(start) > end:  # refused before any view is written
        raise DefinitionError(f"materialize: start {to_utc(start)} is after end {end}")
    snapshot = store.catalog.current()
    targets = _targets(list(snapshot.contents.views.values()), views)
    report = MaterializeReport()
    jobs: list[_Job] = []
    for view in targets:
        keys = tuple(k for k, _ in snapshot.contents.join_keys(view))
        selection = ViewSelection(view, view.feature_names, view.feature_names, keys)
        query = view_query(snapshot, selection, store.repo_path)
        begin = _start(store, view, end) if incremental else to_utc(_require(start))
        if begin > end:
            # Incremental, and this view is already materialized past ``end``: nothing to
            # do for it (an error here stopped the run half-way, after the views before it).
            report.views.append(ViewReport(view.name, begin, begin, 0, 0.0, skipped=True))
            continue
        report.views.append(ViewReport(view.name, begin, end, 0, 0.0))  # filled in below
        version = snapshot.stored[("feature_view", view.name)].version
        jobs.append(_Job(query, begin, end, len(report.views) - 1, version, snapshot))
    for job, done in zip(jobs, _write_all(store, jobs, progress, batch_rows), strict=True):
        report.views[job.slot] = done
    return report


@dataclass(frozen=True, slots=True)
class _Job:
    query: ViewQuery
    start: datetime
    end: datetime
    slot: int
    """Its place in the report."""
    version: int
    """The view's registered version the run read."""
    snapshot: Snapshot
    """The definitions the run read."""


def _read(store: FeatureStore, job: _Job) -> pa.RecordBatchReader:
    """The rows to write for ``job``: an aggregated view keeps every entity's events of its
    longest window (its start is unused), a plain view its latest row."""
    if job.query.aggregations:
        return store.offline.events(job.query, job.end)
    return store.offline.latest(job.query, job.start, job.end)


def _write_all(
    store: FeatureStore, jobs: list[_Job], progress: Progress | None, batch_rows: int
) -> Iterator[ViewReport]:
    """Each job's report, its rows written; the next job's query runs while a job's rows are
    written.

    The engine's query (its aggregation runs before the first batch) and the online writes
    (often the store server's CPU) then overlap instead of taking turns. One query runs at a
    time, at most one ahead, in a daemon thread: a failed or interrupted run (Ctrl-C)
    interrupts the query still running and returns at once (a thread pool would wait for
    it, and so would the interpreter before exiting); its result, if it comes, is closed.
    """
    ahead = _start_read(store, jobs[0]) if jobs else None
    try:
        for i, job in enumerate(jobs):
            began = time.perf_counter()
            if progress:
                progress.view_started(job.query.name, job.start, job.end)
            assert ahead is not None
            reader = ahead.result()
            ahead = _start_read(store, jobs[i + 1]) if i + 1 < len(jobs) else None
            yield _one_view(store, job, reader, began, progress, batch_rows)
    finally:
        if ahead is not None:  # a failed or interrupted run: the query read ahead is not used
            _stop(store, ahead)


class _Reading(Future["pa.RecordBatchReader"]):
    """A view's rows to come, read in a thread of their own (:attr:`thread`, its ident)."""

    thread: int | None = None


def _start_read(store: FeatureStore, job: _Job) -> _Reading:
    """``job``'s rows, read in a daemon thread."""
    import threading

    future = _Reading()

    def run() -> None:
        future.set_running_or_notify_cancel()
        try:
            future.set_result(_read(store, job))
        except BaseException as exc:  # raised where the result is awaited
            future.set_exception(exc)

    worker = threading.Thread(target=run, name="pitstore-materialize", daemon=True)
    worker.start()
    future.thread = worker.ident
    return future


def _stop(store: FeatureStore, ahead: _Reading) -> None:
    """Interrupt the query read ahead until it ends (it may not have started at the first
    try), for at most :data:`STOP_WAIT_S`; its result, if any, is closed."""
    from concurrent.futures import TimeoutError as Pending

    deadline = time.monotonic() + STOP_WAIT_S
    while not ahead.done() and time.monotonic() < deadline:
        store.offline.interrupt(ahead.thread)  # its queries only: not another thread's
        try:
            ahead.exception(timeout=0.05)
        except Pending:
            continue
    ahead.add_done_callback(_close_result)


def _close_result(future: Future[pa.RecordBatchReader]) -> None:
    if future.exception() is None:
        future.result().close()


def _require(start: datetime | None) -> datetime:
    assert start is not None
    return start


def _targets(all_views: list[FeatureView], names: list[str] | None) -> list[FeatureView]:
    if names is None:
        return [v for v in all_views if v.online]
    by_name = {v.name: v for v in all_views}
    chosen = []
    for name in names:
        if name not in by_name:
            from pitstore.errors import NotFoundError

            raise NotFoundError("feature view", name, by_name)
        if not by_name[name].online:
            raise DefinitionError(
                f"feature view {name!r} has online=False; set online=True to materialize it"
            )
        chosen.append(by_name[name])
    return chosen


def _start(store: FeatureStore, view: FeatureView, end: datetime) -> datetime:
    """Where an incremental run of ``view`` starts: its watermark, else ``end - ttl``."""
    watermark = store.registry.get_watermark(view.name)
    if watermark is not None:
        return watermark
    if view.ttl is None:
        return BEGINNING
    try:
        return end - view.ttl
    except OverflowError:  # a TTL longer than the calendar before `end`: everything
        return BEGINNING


def _one_view(
    store: FeatureStore,
    job: _Job,
    reader: pa.RecordBatchReader,
    began: float,
    progress: Progress | None,
    batch_rows: int,
) -> ViewReport:
    """Write ``job``'s rows; ``began`` is when the run turned to it (its seconds count what
    of its query was not overlapped with the view before)."""
    query = job.query
    rows = 0
    online = store.online
    native = getattr(store.config.online_store, "native_expiry", False)
    if native and online.capabilities.native_ttl and query.ttl is not None:
        # A storage optimisation only (reads apply the TTL rule themselves). Off by default:
        # the server expires rows by its clock, so reads at an earlier `now` would miss them.
        online.set_view_ttl(query.name, query.ttl.total_seconds())  # type: ignore[attr-defined]
    convert = to_events_batch if query.aggregations else to_write_batch
    for batch in _rechunk(reader, batch_rows):
        rows += store.online.write(query.name, convert(batch, query))
        if progress:
            progress.rows_written(query.name, batch.num_rows)
    # Only now, with every batch written, may the watermark move (never backwards).
    old = store.registry.get_watermark(query.name)
    if old is None or old < job.end:
        _record(store, job)
    seconds = time.perf_counter() - began
    if progress:
        progress.view_finished(query.name, rows, seconds)
    return ViewReport(query.name, job.start, job.end, rows, seconds)


def _record(store: FeatureStore, job: _Job) -> None:
    """Move the view's watermark to ``job.end`` if the view is still as the run read it.

    If an apply changed it meanwhile: a change that keeps its data (a description) is
    recorded against the new version; one that restarts its watermark (a longer TTL) leaves
    it cleared; one that makes the written rows stale (a feature, key or source; a removed
    view) drops them, since this run may have written them after the apply cleared the view,
    and fails the run so that it is run again.
    """
    name = job.query.name
    version = job.version
    for _ in range(3):  # a few applies in a row that each keep the data
        if store.registry.set_watermark(name, job.end, version):
            return
        change = _change_since(store, job.snapshot, name)
        if change is not None and change.resets_data:
            store.online.delete_view(name)
            raise ConflictError(
                f"feature view {name!r} was changed by an apply while it was materialized; "
                "the rows written from its old definition were dropped: materialize it again"
            )
        if change is not None and change.resets_watermark:
            return  # the rows fit; the next incremental run reloads the longer TTL
        current = store.registry.get_object("feature_view", name)
        if current is None:  # removed: a change that resets data, handled above
            return
        version = current.version


def _change_since(store: FeatureStore, snapshot: Snapshot, view: str) -> ObjectChange | None:
    """How feature view ``view`` changed between ``snapshot`` and the registry now (as a plan
    from one to the other sees it: an entity's new key type re-keys its views too)."""
    from pitstore.registry.plan import make_plan

    now = {(o.kind, o.name): o.spec for o in store.registry.list_objects()}
    was = {key: stored.spec for key, stored in snapshot.stored.items()}
    changes = make_plan(was, now, snapshot.revision).changes
    return next((c for c in changes if c.kind == "feature_view" and c.name == view), None)


def _rechunk(reader: pa.RecordBatchReader, batch_rows: int) -> Iterator[pa.RecordBatch]:
    for batch in reader:
        for offset in range(0, batch.num_rows, batch_rows):
            yield batch.slice(offset, batch_rows)


def to_write_batch(batch: pa.RecordBatch, query: ViewQuery) -> pa.RecordBatch:
    """The engine's latest-rows batch as the online store's write batch."""
    columns = _key_and_times(batch, query)
    for feature in query.features:
        columns[feature.output] = batch.column(feature.output)
    return _batch(columns)


def to_events_batch(batch: pa.RecordBatch, query: ViewQuery) -> pa.RecordBatch:
    """The engine's event lists of an aggregated view as the online store's write batch."""
    columns = _key_and_times(batch, query)
    for name in (EVENT_TS, EVENT_CREATED, *dict.fromkeys(f.column for f in query.features)):
        columns[name] = batch.column(name)
    return _batch(columns)


def _key_and_times(batch: pa.RecordBatch, query: ViewQuery) -> dict[str, pa.Array]:
    import pyarrow as pa

    from pitstore.online.keys import encode_columns

    utc = pa.timestamp("us", tz="UTC")
    return {
        KEY_COLUMN: encode_columns(
            list(query.join_keys), [batch.column(k) for k in query.join_keys]
        ),
        TS_COLUMN: batch.column(TS_COLUMN).cast(utc).cast(pa.int64()),
        CREATED_COLUMN: batch.column(CREATED_COLUMN).cast(utc).cast(pa.int64()),
    }


def _batch(columns: dict[str, pa.Array]) -> pa.RecordBatch:
    import pyarrow as pa

    return pa.RecordBatch.from_pydict(columns)
