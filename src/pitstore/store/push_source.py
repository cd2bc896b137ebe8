"""``FeatureStore.push``: rows of a push (or stream) source to the online store and its log.

1. **Validate everything first.** The rows are checked against every view fed by the source
   (each row carries the join keys, timestamps and fields of all of them); the first bad row
   raises :class:`~pitstore.errors.SchemaError` naming the row and column, and nothing is
   written anywhere: all or nothing.
2. **Offline, then online.** With ``to`` including ``offline`` the rows are appended to the
   source's log (:mod:`pitstore.store.push_log`, atomic files) before the online write, so
   the log, from which the online store can always be rebuilt, is never behind it.
3. **Online, monotonic.** Plain views use the store's monotonic write (an older row never
   replaces a newer one); aggregated views merge the events into the stored event lists
   (:mod:`pitstore.store.push_events`).

Stream ingestion passes a :class:`Origin` (message ids, redelivery flags): a redelivered
message already in the log is not logged again, and its events are not counted twice online.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from pitstore.definitions import FeatureView, PushSource
from pitstore.errors import DefinitionError, SchemaError
from pitstore.store import push_keys, push_log
from pitstore.store.locks import NamedLocks
from pitstore.store.push import CheckedRows, as_rows, check_rows, view_fields
from pitstore.timeutil import from_micros

if TYPE_CHECKING:
    import pyarrow as pa

    from pitstore.store.catalog import Snapshot
    from pitstore.store.feature_store import FeatureStore
    from pitstore.store.push import Rows

PushTarget = Literal["online", "offline", "online_and_offline"]
TARGETS: Final = ("online", "offline", "online_and_offline")
#: How much earlier than a message's produce time its log file may be dated (clock skew
#: between the producer's broker and this machine).
_CLOCK_SLACK_S: Final = 5.0
_DAY_US: Final = 86_400_000_000


@dataclass(frozen=True, slots=True)
class Origin:
    """Where stream rows came from, row by row (for replay-safe writes)."""

    message_ids: Sequence[str]
    redelivered: Sequence[bool]
    produced_s: Sequence[float | None]
    """When the broker stored each message (POSIX seconds), when known."""

    @property
    def any_redelivered(self) -> bool:
        return any(self.redelivered)


@dataclass(slots=True)
class PushReport:
    """What a push did: rows received, rows applied online per view, rows logged offline."""

    source: str
    rows: int
    online: dict[str, int] = field(default_factory=dict)
    logged: int = 0

    @property
    def written(self) -> int:
        """Rows applied online, summed over the views."""
        return sum(self.online.values())


def push(
    store: FeatureStore,
    source_name: str,
    rows: Rows,
    to: str = "online",
    origin: Origin | None = None,
    *,
    base64_bytes: bool = False,
    idempotency_key: str | None = None,
) -> PushReport:
    """Validate ``rows`` for every view fed by ``source_name``, then write them (see module).
    ``base64_bytes``: bytes features come as base64 text (rows parsed from JSON).
    ``idempotency_key``: a resend of a push with the same key is written once
    (:mod:`pitstore.store.push_keys`)."""
    target = check_target(to)
    if idempotency_key is not None:
        push_keys.check_key(idempotency_key)
        if origin is not None:
            raise DefinitionError("push: give an origin (stream rows) or an idempotency key")
    snapshot = store.catalog.cached()
    source, views = source_views(snapshot, source_name)
    row_list = as_rows(rows)
    checked = validate(snapshot, views, row_list, base64_bytes=base64_bytes)
    report = PushReport(source.name, len(row_list))
    online = [c for c in checked if c.view.online]
    if target != "offline" and not online:  # refused before anything is written
        raise DefinitionError(
            f"push to {source.name!r}: no view fed by it is online ({_names(views)}); "
            "push with to='offline', or set online=True on a view"
        )
    if not row_list:
        return report
    if idempotency_key is None:
        _write(store, source, checked, target, origin, report)
        return report
    root = push_log.log_root(source, store.repo_path)
    with push_keys.claimed(root, idempotency_key) as claimed_at:
        keyed = push_keys.origin(idempotency_key, checked, claimed_at)
        _write(store, source, checked, target, keyed, report)
    return report


def _write(
    store: FeatureStore,
    source: PushSource,
    checked: list[CheckedRows],
    target: PushTarget,
    origin: Origin | None,
    report: PushReport,
) -> None:
    """Log, then write online, the validated rows (``report`` counts what was written)."""
    # Log and online in one step per source (in this process): two pushes of rows equal in
    # event and created time reach both in the same order, so the same one wins on each.
    with _source_lock(source.name) if target == "online_and_offline" else nullcontext():
        if target != "online":
            report.logged = log_rows(store, source, checked, origin)
        if target != "offline":
            for rows_of_view in checked:
                if rows_of_view.view.online:
                    written = write_online(store, rows_of_view, origin)
                    report.online[rows_of_view.view.name] = written


_source_lock = NamedLocks()  # one per source


def check_target(to: str) -> PushTarget:
    """``to`` if it is a valid push target, else a SchemaError listing them."""
    if to not in TARGETS:
        raise SchemaError(f"push: to={to!r} is not a target; use one of {', '.join(TARGETS)}")
    return to  # type: ignore[return-value]


def source_views(snapshot: Snapshot, name: str) -> tuple[PushSource, list[FeatureView]]:
    """The push source called ``name`` and the views it feeds (NotFoundError if none)."""
    views = snapshot.contents.push_views(name)
    source = views[0].source
    assert isinstance(source, PushSource)
    return source, views


def validate(
    snapshot: Snapshot,
    views: list[FeatureView],
    rows: list[Mapping[str, Any]],
    *,
    base64_bytes: bool = False,
) -> list[CheckedRows]:
    """Every row checked against every view; SchemaError on the first bad row."""
    columns = _all_columns(snapshot, views)
    checked = []
    for view in views:
        keys = snapshot.contents.join_keys(view)
        checked.append(check_rows(view, keys, rows, columns, base64_bytes=base64_bytes))
    return checked


def bad_rows(
    snapshot: Snapshot,
    views: list[FeatureView],
    rows: list[Any],
    log_schema: pa.Schema | None = None,
    *,
    base64_bytes: bool = False,
) -> dict[int, str]:
    """Row index -> reason, for each row that fails validation on its own (slow path).

    With ``log_schema`` (the rows go to the log, see :func:`log_schema`), a row the log
    cannot store in the batch source's types is bad too (e.g. microseconds in an event time
    that the batch file stores in milliseconds)."""
    source = views[0].source
    assert isinstance(source, PushSource)
    bad: dict[int, str] = {}
    for i, row in enumerate(rows):
        try:
            checked = validate(snapshot, views, as_rows([row]), base64_bytes=base64_bytes)
            if log_schema is not None:
                push_log.conform(log_table(source, checked, None), log_schema)
        except SchemaError as exc:
            reason = str(exc)
            bad[i] = (
                reason.replace("row 0", f"row {i}", 1)
                if "row 0" in reason
                else f"row {i}: {reason}"
            )
    return bad


def _all_columns(snapshot: Snapshot, views: list[FeatureView]) -> set[str]:
    names: set[str] = set()
    for view in views:
        names.update(k for k, _ in snapshot.contents.join_keys(view))
        names.update(f.name for f in view_fields(view))
        names.add(view.source.timestamp_field)
        if view.source.created_timestamp_field:
            names.add(view.source.created_timestamp_field)
    return names


def _names(views: list[FeatureView]) -> str:
    return ", ".join(repr(v.name) for v in views)


# --- offline ---------------------------------------------------------------------------------


def log_rows(
    store: FeatureStore, source: PushSource, checked: list[CheckedRows], origin: Origin | None
) -> int:
    """Append the rows to the source's log; returns rows logged (replays already there skip)."""
    table = log_table(source, checked, origin)
    dates = _dates(checked[0].ts)
    root = push_log.log_root(source, store.repo_path)
    if origin is not None and origin.any_redelivered:
        keep = _not_yet_logged(root, dates, origin)
        if len(keep) < table.num_rows:
            import pyarrow as pa

            table = table.take(pa.array(keep, pa.int64()))
            dates = [dates[i] for i in keep]
    if table.num_rows == 0:
        return 0
    return push_log.append(root, table, dates, log_schema(store, source))


def log_schema(store: FeatureStore, source: PushSource) -> pa.Schema | None:
    """The types the log stores its columns in: the batch source's (None if it has no file
    yet, or is remote)."""
    return push_log.batch_schema(push_log.batch_path(source, store.repo_path))


def _dates(micros: list[int]) -> list[str]:
    """Each timestamp's UTC date, ``YYYY-MM-DD`` (formatted once per distinct day)."""
    names: dict[int, str] = {}
    out = []
    for t in micros:
        day = t // _DAY_US
        name = names.get(day)
        if name is None:
            name = names[day] = from_micros(day * _DAY_US).strftime("%Y-%m-%d")
        out.append(name)
    return out


def _not_yet_logged(root: Path, dates: list[str], origin: Origin) -> list[int]:
    replayed = [i for i, r in enumerate(origin.redelivered) if r]
    produced = [origin.produced_s[i] for i in replayed]
    known = [p for p in produced if p is not None]
    # A message was logged after it was produced: older files cannot hold it.
    since = min(known) - _CLOCK_SLACK_S if len(known) == len(produced) else 0.0
    logged = push_log.logged_message_ids(root, [dates[i] for i in replayed], since)
    ids: list[str | None] = [
        m if r else None for m, r in zip(origin.message_ids, origin.redelivered, strict=True)
    ]
    return push_log.drop_logged(ids, logged)


def log_table(source: PushSource, checked: list[CheckedRows], origin: Origin | None) -> pa.Table:
    """The rows as one Arrow table: keys, timestamps, every view's fields, message ids."""
    import pyarrow as pa

    utc = pa.timestamp("us", tz="UTC")
    first = checked[0]
    columns: dict[str, pa.Array] = {}
    types: dict[str, pa.DataType] = {}
    for rows in checked:
        for name, values in rows.key_values.items():
            _add(columns, types, name, values, rows.key_types[name].to_arrow())
        for f in view_fields(rows.view):
            _add(columns, types, f.name, rows.values[f.name], f.dtype.to_arrow())
    columns[source.timestamp_field] = pa.array(first.ts, pa.int64()).cast(utc)
    if source.created_timestamp_field:
        created = pa.array(first.created, pa.int64()).cast(utc)
        columns[source.created_timestamp_field] = created
    ids = list(origin.message_ids) if origin is not None else [None] * len(first.ts)
    columns[push_log.MESSAGE_ID_COLUMN] = pa.array(ids, pa.string())
    return pa.table(columns)


def _add(
    columns: dict[str, pa.Array],
    types: dict[str, pa.DataType],
    name: str,
    values: list[Any],
    arrow_type: pa.DataType,
) -> None:
    """Add a column once; two views declaring it with different types is an error."""
    import pyarrow as pa

    known = types.get(name)
    if known is not None:
        if known != arrow_type:
            raise SchemaError(
                f"push: views of one push source declare column {name!r} as {known} and as "
                f"{arrow_type}; give it one type in every view"
            )
        return
    types[name] = arrow_type
    columns[name] = pa.array(values, type=arrow_type)


# --- online ----------------------------------------------------------------------------------


def write_online(store: FeatureStore, rows: CheckedRows, origin: Origin | None = None) -> int:
    """Write checked rows of one view online; returns rows (or entities) applied."""
    if rows.view.aggregations:
        from pitstore.store.push_events import merge_events

        replayed = origin.redelivered if origin is not None else None
        return merge_events(store, rows, replayed)
    return store.online.write(rows.view.name, rows.online_batch())
