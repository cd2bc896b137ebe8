"""Online reads: resolve once, then encode keys, read the store, apply TTLs.

The resolved read plan of a feature list (or service) is cached per registry snapshot, so a
warm read does no registry I/O and no name resolution: it encodes keys, makes one store call
for all views, and marks values older than ``now - ttl`` as expired.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from pitstore.definitions import FeatureService, FeatureView
from pitstore.errors import SchemaError
from pitstore.online.base import ViewRead, ViewRows
from pitstore.online.keys import KeyEncoder
from pitstore.store.aggregates import (
    EVENT_CREATED,
    EVENT_TS,
    ReadAggregate,
    aggregate_columns,
)
from pitstore.store.catalog import Snapshot
from pitstore.store.resolve import Resolved, TransformSelection, resolve
from pitstore.store.transforms import run_transform
from pitstore.timeutil import from_micros, to_micros
from pitstore.types import Array, DType, Scalar, Timestamp

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from pitstore.store.feature_store import FeatureStore

PRESENT: Final = "PRESENT"
NOT_FOUND: Final = "NOT_FOUND"
EXPIRED: Final = "EXPIRED"

#: Read plans kept per store (one per distinct feature list or service).
MAX_CACHED_PLANS: Final = 1024

EntityRows = Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]


@dataclass(frozen=True, slots=True)
class _ViewPlan:
    view: str
    features: tuple[str, ...]
    outputs: tuple[str, ...]
    join_keys: tuple[str, ...]
    encoder: KeyEncoder
    ttl_micros: int | None
    arrow_types: tuple[Any, ...]
    converters: tuple[Callable[[Any], Any] | None, ...]
    """Per feature, how a stored value becomes the value training data holds (None: it
    already is). Stores return timestamps as microseconds, in arrays too."""
    aggregates: tuple[ReadAggregate, ...] = ()
    """For an aggregated view: how each output is computed from the stored event lists."""


@dataclass(frozen=True, slots=True)
class _ReadPlan:
    revision: int
    views: tuple[_ViewPlan, ...]
    entity_columns: tuple[str, ...]
    transforms: tuple[tuple[TransformSelection, Callable[..., Any], dict[str, Any]], ...] = ()
    """On-demand views to run: each with its function and its inputs' Arrow types."""
    columns: tuple[str, ...] = ()
    """Visible output columns in order (set when there are on-demand features)."""
    request_fields: tuple[str, ...] = ()
    arrow_types: dict[str, Any] = field(default_factory=dict)
    """Output column -> Arrow type, for every feature read from a store."""
    checked_requests: tuple[tuple[str, DType], ...] = ()
    """Request fields whose values are typed on arrival (:func:`_type_requests`)."""


class OnlineResponse:
    """Feature values per entity, columnar, with a status and event time per value."""

    def __init__(
        self,
        entities: dict[str, list[Any]],
        values: dict[str, list[Any]],
        statuses: dict[str, list[str]],
        timestamps: dict[str, list[int | None]],
        arrow_types: dict[str, Any],
    ) -> None:
        self.entities = entities
        self.values = values
        self.statuses = statuses
        self._timestamps = timestamps
        self._arrow_types = arrow_types

    @property
    def feature_names(self) -> list[str]:
        return list(self.values)

    def to_dict(self) -> dict[str, list[Any]]:
        """``{column: [values...]}``: the entity key columns, then the features."""
        return {**self.entities, **self.values}

    def event_micros(self) -> dict[str, list[int | None]]:
        """The event time of each value in microseconds since the epoch (None: not found)."""
        return self._timestamps

    def event_timestamps(self) -> dict[str, list[datetime | None]]:
        """The event time of each returned value (None when not found)."""
        return {
            name: [None if t is None else from_micros(t) for t in ts]
            for name, ts in self._timestamps.items()
        }

    def to_arrow(self) -> pa.Table:
        """The response as an Arrow table, feature columns typed as their views declare."""
        import pyarrow as pa

        columns = {k: pa.array(v) for k, v in self.entities.items()}
        for name, values in self.values.items():
            columns[name] = pa.array(values, type=self._arrow_types[name])
        return pa.table(columns)

    def to_pandas(self) -> pd.DataFrame:
        frame: pd.DataFrame = self.to_arrow().to_pandas()
        return frame


@dataclass(frozen=True, slots=True)
class PreparedRead:
    """An online read checked and encoded, waiting for its store rows."""

    plan: _ReadPlan
    columns: dict[str, Sequence[Any]]
    count: int
    now_micros: int
    reads: list[ViewRead]


class OnlineService:
    """Serves :meth:`FeatureStore.get_online_features` with cached read plans."""

    def __init__(self, store: FeatureStore) -> None:
        self._store = store
        self._plans: dict[tuple[Any, ...], _ReadPlan] = {}

    def read(
        self,
        features: list[str] | None,
        entity_rows: EntityRows | None,
        feature_service: str | FeatureService | None,
        full_feature_names: bool,
        now: datetime | None,
    ) -> OnlineResponse:
        prepared = self.prepare(features, entity_rows, feature_service, full_feature_names, now)
        return self.finish(prepared, self._store.online.read(prepared.reads))

    # A read in three steps, so that a server can read the store once for many requests:
    # prepare each (all request errors surface here), fetch them together, finish each.

    def prepare(
        self,
        features: list[str] | None,
        entity_rows: EntityRows | None,
        feature_service: str | FeatureService | None,
        full_feature_names: bool,
        now: datetime | None = None,
    ) -> PreparedRead:
        """Resolve the features and encode the keys: every error of the request, no I/O."""
        plan = self._plan(features, feature_service, full_feature_names)
        columns, count = _columns(entity_rows, plan.entity_columns, plan.request_fields)
        if plan.checked_requests:
            _type_requests(columns, plan.checked_requests)
        now_micros = to_micros(now) if now is not None else time.time_ns() // 1000
        reads = [ViewRead(v.view, v.features, _encode(v, columns, count)) for v in plan.views]
        return PreparedRead(plan, columns, count, now_micros, reads)

    def fetch(self, prepared: Sequence[PreparedRead]) -> list[list[ViewRows]]:
        """The stored rows of several prepared reads, in one online store call.

        Reads of the same view and features are merged into one (their keys concatenated),
        so a group of small requests costs the store one lookup per view, not per request.
        """
        merged: dict[tuple[str, tuple[str, ...]], list[bytes]] = {}
        spans = []  # per prepared read, per view read: (merged key, first key, end)
        for p in prepared:
            for r in p.reads:
                keys = merged.setdefault((r.view, r.features), [])
                spans.append(((r.view, r.features), len(keys), len(keys) + len(r.keys)))
                keys.extend(r.keys)
        reads = [ViewRead(view, features, keys) for (view, features), keys in merged.items()]
        rows = dict(zip(merged, self._store.online.read(reads), strict=True))
        out: list[list[ViewRows]] = []
        spans_left = iter(spans)
        for p in prepared:
            out.append([_slice(rows, *next(spans_left)) for _ in p.reads])
        return out

    def finish(self, prepared: PreparedRead, results: Sequence[ViewRows]) -> OnlineResponse:
        """The response of a prepared read from its stored rows: TTLs, aggregates, transforms."""
        plan, columns, count = prepared.plan, prepared.columns, prepared.count
        values: dict[str, list[Any]] = {}
        statuses: dict[str, list[str]] = {}
        stamps: dict[str, list[int | None]] = {}
        for view, rows in zip(plan.views, results, strict=True):
            status = _statuses(rows.event_ts, view.ttl_micros, prepared.now_micros)
            computed = rows.columns
            if view.aggregates:
                computed = aggregate_columns(view.aggregates, rows.columns, prepared.now_micros)
            expired = view.ttl_micros is not None and EXPIRED in status
            for j, output in enumerate(view.outputs):
                column = computed[j]
                convert = view.converters[j]
                if convert is not None:
                    column = [None if v is None else convert(v) for v in column]
                if expired:
                    column = [
                        None if s == EXPIRED else v for v, s in zip(column, status, strict=True)
                    ]
                values[output] = column
                statuses[output] = status
                stamps[output] = rows.event_ts
        entities = {k: list(columns[k]) for k in plan.entity_columns}
        types = plan.arrow_types  # shared by every response of the plan: never mutated
        if plan.transforms:
            types = dict(types)
            _run_transforms(plan, columns, count, (values, statuses, stamps, types))
        return OnlineResponse(entities, values, statuses, stamps, types)

    def entity_columns(
        self, features: list[str] | None, feature_service: str | FeatureService | None
    ) -> dict[str, DType]:
        """The columns an entity row of this read carries, with their declared types: the
        join keys of its views (as :meth:`RepoContents.join_keys` types them), then the
        request fields of its on-demand views but for times and bytes, which a function gets
        as the text sent (see :func:`_checked_requests`). For callers that get every value as
        text (the CLI)."""
        snapshot = self._store.catalog.cached()
        resolved = resolve(snapshot, features, feature_service, full_feature_names=False)
        types: dict[str, DType] = {}
        for selection in resolved.selections:
            for key, dtype in snapshot.contents.join_keys(selection.view):
                types.setdefault(key, dtype)
        for transform in resolved.transforms:
            for request in transform.view.requests:
                for field_ in request.schema:
                    if not _sent_as_text(field_.dtype):
                        types.setdefault(field_.name, field_.dtype)
        return types

    def _plan(
        self,
        features: list[str] | None,
        service: str | FeatureService | None,
        full_feature_names: bool,
    ) -> _ReadPlan:
        snapshot = self._store.catalog.cached()
        service_key = service.name if isinstance(service, FeatureService) else service
        key = (tuple(features) if features else None, service_key, full_feature_names)
        plan = self._plans.get(key)
        if plan is None or plan.revision != snapshot.revision:
            plan = _compile(self._store, snapshot, features, service, full_feature_names)
            if len(self._plans) >= MAX_CACHED_PLANS:
                self._plans.clear()  # many distinct feature lists: start over rather than grow
            self._plans[key] = plan
        return plan


def _slice(
    rows: dict[tuple[str, tuple[str, ...]], ViewRows],
    key: tuple[str, tuple[str, ...]],
    start: int,
    end: int,
) -> ViewRows:
    whole = rows[key]
    if start == 0 and end == len(whole.event_ts):
        return whole
    return ViewRows(whole.event_ts[start:end], [c[start:end] for c in whole.columns])


def _run_transforms(
    plan: _ReadPlan,
    request: Mapping[str, Sequence[Any]],
    count: int,
    tables: tuple[dict[str, list[Any]], dict[str, list[str]], dict[str, Any], dict[str, Any]],
) -> None:
    """Compute on-demand features in place, then drop hidden inputs and order the columns."""
    values, statuses, stamps, types = tables
    for transform, function, input_types in plan.transforms:
        inputs = {
            name: values[column] if column in values else request[column]
            for name, column in transform.inputs.items()
        }
        outputs = run_transform(transform.view, function, inputs, count, input_types)
        for feature, column in zip(transform.features, transform.outputs, strict=True):
            array = outputs[feature]
            values[column] = array.to_pylist()
            statuses[column] = [PRESENT] * count
            stamps[column] = [None] * count
            types[column] = array.type
    for table in tables:
        ordered = {name: table[name] for name in plan.columns}
        table.clear()
        table.update(ordered)


def _compile(
    store: FeatureStore,
    snapshot: Snapshot,
    features: list[str] | None,
    service: str | FeatureService | None,
    full_feature_names: bool,
) -> _ReadPlan:
    views = []
    entity_columns: list[str] = []
    resolved = resolve(snapshot, features, service, full_feature_names)
    for selection in resolved.selections:
        view = selection.view
        keys = snapshot.contents.join_keys(view)
        read_features, aggregates = _store_columns(view, selection.features)
        views.append(
            _ViewPlan(
                view.name,
                read_features,
                selection.outputs,
                selection.join_keys,
                KeyEncoder([k for k, _ in keys], [t for _, t in keys]),
                view.ttl // timedelta(microseconds=1) if view.ttl is not None else None,
                tuple(view.feature(f).dtype.to_arrow() for f in selection.features),
                tuple(_converter(view.feature(f).dtype) for f in selection.features),
                aggregates,
            )
        )
        entity_columns += [k for k in selection.join_keys if k not in entity_columns]
    transforms = tuple(
        (t, store.transform_function(t.view), _arrow_types(t.input_types))
        for t in resolved.transforms
    )
    types = {o: t for v in views for o, t in zip(v.outputs, v.arrow_types, strict=True)}
    return _ReadPlan(
        snapshot.revision,
        tuple(views),
        tuple(entity_columns),
        transforms,
        tuple(resolved.columns),
        tuple(resolved.request_fields),
        types,
        _checked_requests(resolved, entity_columns),
    )


def _arrow_types(types: Mapping[str, DType]) -> dict[str, Any]:
    return {name: dtype.to_arrow() for name, dtype in types.items()}


def _converter(dtype: DType) -> Callable[[Any], Any] | None:
    """How a stored non-null value of ``dtype`` becomes the Python value offline retrieval
    gives, or None when the store returns that value already (no per-value work)."""
    if dtype == Timestamp:
        return from_micros
    if isinstance(dtype, Array) and dtype.element == Timestamp:
        return _datetimes
    return None


def _datetimes(micros: list[int | None]) -> list[datetime | None]:
    return [None if t is None else from_micros(t) for t in micros]


def _checked_requests(
    resolved: Resolved, entity_columns: list[str]
) -> tuple[tuple[str, DType], ...]:
    """The request fields of ``resolved`` with their types, but for times and bytes, which
    arrive as text (JSON has neither) for the function to read as it likes, and for entity
    keys (the key encoder checks those, and needs them as they came)."""
    fields = {
        f.name: f.dtype for t in resolved.transforms for r in t.view.requests for f in r.schema
    }
    return tuple(
        (name, dtype)
        for name, dtype in fields.items()
        if not _sent_as_text(dtype) and name not in entity_columns
    )


def _sent_as_text(dtype: DType) -> bool:
    base = dtype.element if isinstance(dtype, Array) else dtype
    return isinstance(base, Scalar) and base.name in ("timestamp", "bytes")


def _type_requests(columns: dict[str, Any], fields: tuple[tuple[str, DType], ...]) -> None:
    """Request values as Arrow arrays of their fields' types, in place, so a function gets
    the declared types online as it does offline. A value the type cannot hold ("x" for a
    Float64) is the request's error, raised before any function runs on it."""
    import pyarrow as pa

    for name, dtype in fields:
        arrow_type = dtype.to_arrow()
        values = list(columns[name])
        try:
            if pa.types.is_floating(arrow_type):  # Arrow takes no int past int64 as a float
                values = [float(v) if type(v) is int else v for v in values]
            columns[name] = pa.array(values, type=arrow_type)
        except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
            raise SchemaError(
                f"request field {name!r} holds a value that is not {dtype}: {exc}"[:300]
            ) from None


def _store_columns(
    view: FeatureView, features: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[ReadAggregate, ...]]:
    """The columns to read from the store, and for an aggregated view how to aggregate them."""
    if not view.aggregations:
        return features, ()
    by_name = {a.name: a for a in view.aggregations}
    inputs: list[str] = []
    aggregates = []
    for feature in features:
        aggregation = by_name[feature]
        if aggregation.column not in inputs:
            inputs.append(aggregation.column)
        index = inputs.index(aggregation.column)
        aggregates.append(ReadAggregate(aggregation.function, aggregation.window_us, index))
    return (EVENT_TS, EVENT_CREATED, *inputs), tuple(aggregates)


def _columns(
    entity_rows: EntityRows | None, keys: tuple[str, ...], request_fields: tuple[str, ...] = ()
) -> tuple[dict[str, Sequence[Any]], int]:
    """Entity rows as columns of the needed join keys and request values, with the row count."""
    if entity_rows is None:
        raise SchemaError(f"entity_rows is missing; pass e.g. [{{{keys[0]!r}: 1001}}]")
    needed = keys + request_fields
    if type(entity_rows) is list:  # the common case, without the slower ABC checks below
        return _row_columns(entity_rows, needed, request_fields)
    if isinstance(entity_rows, Mapping):
        missing = [k for k in needed if k not in entity_rows]
        if missing:
            raise SchemaError(_missing_message(missing, list(entity_rows), request_fields))
        columns = {k: entity_rows[k] for k in needed}
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise SchemaError(
                "entity columns have different lengths: "
                + ", ".join(f"{k}={len(v)}" for k, v in columns.items())
            )
        return columns, lengths.pop() if lengths else 0
    return _row_columns(list(entity_rows), needed, request_fields)


def _row_columns(
    rows: list[Mapping[str, Any]], needed: tuple[str, ...], request_fields: tuple[str, ...]
) -> tuple[dict[str, Sequence[Any]], int]:
    try:
        return {k: [row[k] for row in rows] for k in needed}, len(rows)
    except (KeyError, TypeError):
        pass  # find the row at fault, for the message
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise SchemaError(f"entity row {i} must be a dict of column -> value, got {row!r}")
        missing = [k for k in needed if k not in row]
        if missing:
            raise SchemaError(
                f"entity row {i}: " + _missing_message(missing, list(row), request_fields)
            )
    raise AssertionError("unreachable: some row lacked a needed column")


def _missing_message(missing: list[str], present: list[str], requests: tuple[str, ...]) -> str:
    values = [m for m in missing if m in requests]
    keys = [m for m in missing if m not in requests]
    parts = []
    if keys:
        parts.append(f"join key column(s) {keys}")
    if values:
        parts.append(f"request value(s) {values} (inputs of on-demand features)")
    return (
        f"{' and '.join(parts)} missing from the entity rows (got {present}); every requested "
        "view needs its join keys, and on-demand features their request values"
    )


def _encode(view: _ViewPlan, columns: Mapping[str, Sequence[Any]], count: int) -> list[bytes]:
    encode = view.encoder.encode
    if len(view.join_keys) == 1:
        return [encode((v,)) for v in columns[view.join_keys[0]]]
    key_columns = [columns[k] for k in view.join_keys]
    return [encode(tuple(c[i] for c in key_columns)) for i in range(count)]


def _statuses(event_ts: list[int | None], ttl: int | None, now: int) -> list[str]:
    oldest = None if ttl is None else now - ttl
    return [
        NOT_FOUND if ts is None else EXPIRED if oldest is not None and ts < oldest else PRESENT
        for ts in event_ts
    ]
