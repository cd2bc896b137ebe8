"""Pushed events of an aggregated view, merged into the online event lists.

An aggregated view keeps, per entity, the events of its longest window as aligned lists
(``_ev_ts``, ``_ev_created``, one list per input; see :mod:`pitstore.store.aggregates`); reads
aggregate them at read time. A push reads the lists of the entities it touches, appends the new
events, keeps them in (ts, created) order, drops those that no read can count any more
(``ts <= newest - longest window``) and writes the lists back, so the next read counts the
event: freshness is the time of one read and one write.

**What is atomic.** The store's write of each entity's lists is atomic and monotonic, but the
read-modify-write is not one transaction: it runs under a per-view lock in the process and,
on the SQLite, Redis and PostgreSQL stores, under the store's lock across processes
(:mod:`pitstore.online.merge_lock`), so concurrent pushes never lose an event (without it, an
older event stored by another process between our read and our write was overwritten). A
write that the store still rejects, because a writer without the lock (a materialization)
stored a newer row meanwhile, is detected (fewer rows applied) and merged again; a push
rejected after a few merges fails with ``StoreUnavailableError`` (its other rows written: a
stream consumer's retry is recognised as a replay, a client's resend of the whole push is not).

**Replays.** An event of a redelivered message identical to a stored event (same ts, created
and values) is taken to be the same event and not appended again, so at-least-once delivery
does not count an event twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any, Final

from pitstore.errors import StoreUnavailableError
from pitstore.online.base import CREATED_COLUMN, KEY_COLUMN, TS_COLUMN, ViewRead
from pitstore.store.aggregates import EVENT_CREATED, EVENT_TS
from pitstore.store.locks import NamedLocks
from pitstore.types import Timestamp

if TYPE_CHECKING:
    import pyarrow as pa

    from pitstore.store.feature_store import FeatureStore
    from pitstore.store.push import CheckedRows

Event = tuple[Any, ...]
"""(ts, created, input values...)."""

_NULL_CREATED: Final = -(2**63)
_MAX_ATTEMPTS: Final = 5
_lock = NamedLocks()  # one per view


def merge_events(
    store: FeatureStore, rows: CheckedRows, redelivered: Sequence[bool] | None = None
) -> int:
    """Merge ``rows`` (events of one aggregated view) into the stored lists; returns the
    number of entities written."""
    view = rows.view
    # The columns the aggregations read (what materialization stores), in a stable order.
    inputs = list(dict.fromkeys(a.column for a in view.aggregations))
    fields = [f for name in inputs for f in view.inputs if f.name == name]
    horizon = max(a.window_us for a in view.aggregations)
    incoming = _events_by_key(rows, inputs, redelivered)
    with _lock(view.name), _across_processes(store, view.name):
        pending = dict(incoming)
        written = 0
        for attempt in range(_MAX_ATTEMPTS):
            stored = _read_lists(store, view.name, inputs, list(pending))
            # After a rejected write, some of our events may already be stored: dedupe all.
            batch = _merged_batch(fields, pending, stored, horizon, dedupe_all=attempt > 0)
            applied = store.online.write(view.name, batch)
            written += applied
            if applied >= len(pending):
                return written
        # Not a silent success. A stream consumer retries (its replays are recognised); a
        # client must not resend the whole push, whose other events are stored.
        raise StoreUnavailableError(
            f"view {view.name!r}: a writer outside the merge lock (a materialization) stored "
            f"newer rows of some entities {_MAX_ATTEMPTS} times while this push merged their "
            "events, which are not online; the push's other rows were written, so do not "
            "resend all of it: materialize the view to rebuild its lists from the offline log"
        )


def _across_processes(store: FeatureStore, view: str) -> AbstractContextManager[None]:
    """The store's lock excluding other processes' merges of ``view``, where it has one."""
    online = store.online
    if online.capabilities.merge_lock:
        lock: AbstractContextManager[None] = online.merge_lock(view)  # type: ignore[attr-defined]
        return lock
    return nullcontext()


def _events_by_key(
    rows: CheckedRows, inputs: list[str], redelivered: Sequence[bool] | None
) -> dict[bytes, list[tuple[Event, bool]]]:
    """Each entity's new events, with whether each came from a redelivered message."""
    by_key: dict[bytes, list[tuple[Event, bool]]] = {}
    columns = [rows.values[name] for name in inputs]
    for i, key in enumerate(rows.keys):
        event = (rows.ts[i], rows.created[i], *(_plain(c[i]) for c in columns))
        replay = bool(redelivered[i]) if redelivered is not None else False
        by_key.setdefault(key, []).append((event, replay))
    return by_key


def _plain(value: Any) -> Any:
    """Timestamps as microseconds, as the store returns them inside lists."""
    from datetime import datetime

    from pitstore.timeutil import to_micros

    return to_micros(value) if isinstance(value, datetime) else value


def _read_lists(
    store: FeatureStore, view: str, inputs: list[str], keys: list[bytes]
) -> list[list[Event]]:
    """The stored events of each key (empty when the entity has none)."""
    request = ViewRead(view, (EVENT_TS, EVENT_CREATED, *inputs), keys)
    (result,) = store.online.read([request])
    stored: list[list[Event]] = []
    for i, ts in enumerate(result.event_ts):
        if ts is None or result.columns[0][i] is None:
            stored.append([])
            continue
        lists = [column[i] or [] for column in result.columns]
        stored.append(list(zip(*lists, strict=True)))
    return stored


def _merged_batch(
    fields: Sequence[Any],
    pending: dict[bytes, list[tuple[Event, bool]]],
    stored: list[list[Event]],
    horizon: int,
    dedupe_all: bool,
) -> pa.RecordBatch:
    merged = [
        merge(old, new, horizon, dedupe_all)
        for old, new in zip(stored, pending.values(), strict=True)
    ]
    return _lists_batch(fields, list(pending), merged)


def merge(
    old: list[Event], new: list[tuple[Event, bool]], horizon: int, dedupe_all: bool = False
) -> list[Event]:
    """``old`` plus ``new`` in (ts, created) order, without events no read can count.

    A new event flagged as replayed (or any, with ``dedupe_all``) that equals a stored one is
    dropped.
    """
    seen = set(old)
    events = list(old)
    for event, replay in new:
        if (replay or dedupe_all) and event in seen:
            continue
        events.append(event)
        seen.add(event)
    events.sort(key=_order)
    newest = events[-1][0]
    return [e for e in events if e[0] > newest - horizon]


def _order(event: Event) -> tuple[int, int]:
    created = event[1]
    return event[0], _NULL_CREATED if created is None else created


def _lists_batch(
    fields: Sequence[Any], keys: list[bytes], merged: list[list[Event]]
) -> pa.RecordBatch:
    """The write batch: one row per entity, its newest event's (ts, created), the lists."""
    import pyarrow as pa

    utc = pa.timestamp("us", tz="UTC")
    columns: dict[str, pa.Array] = {
        KEY_COLUMN: pa.array(keys, pa.binary()),
        TS_COLUMN: pa.array([m[-1][0] for m in merged], pa.int64()),
        CREATED_COLUMN: pa.array([m[-1][1] for m in merged], pa.int64()),
        EVENT_TS: pa.array([[e[0] for e in m] for m in merged], pa.list_(pa.int64())),
        EVENT_CREATED: pa.array([[e[1] for e in m] for m in merged], pa.list_(pa.int64())),
    }
    for j, field in enumerate(fields, start=2):
        values = [[e[j] for e in m] for m in merged]
        if field.dtype == Timestamp:
            columns[field.name] = pa.array(values, pa.list_(pa.int64())).cast(pa.list_(utc))
        else:
            columns[field.name] = pa.array(values, pa.list_(field.dtype.to_arrow()))
    return pa.RecordBatch.from_pydict(columns)
