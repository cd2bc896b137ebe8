"""The offline engine interface: plain query objects in, Arrow out.

The facade resolves feature references against the registry and hands the engine fully
resolved :class:`ViewQuery` objects (absolute paths, column names, Arrow types), so an engine
needs no knowledge of definitions or of the registry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pyarrow as pa

#: What an entity frame may be: a pandas or Polars DataFrame, a pyarrow Table or RecordBatchReader,
#: a path to a Parquet file/folder/glob, or a SQL query string run by the engine.
EntityInput = Any


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """Where a view's rows live and which columns hold their timestamps."""

    path: str
    """Absolute path, folder or glob of Parquet files; which files, in which order: files.py."""
    timestamp_field: str
    created_timestamp_field: str | None = None
    extra_paths: tuple[str, ...] = ()
    """More Parquet globs read together with ``path`` (a push source's log), columns matched
    by name (a column missing from some files reads as null). Each matches at least one file."""


@dataclass(frozen=True, slots=True)
class FeatureColumn:
    """One feature to return: its column in the source, its output name, its Arrow type."""

    column: str
    output: str
    arrow_type: pa.DataType


@dataclass(frozen=True, slots=True)
class AggregateSpec:
    """How one feature of an aggregated view is computed from its column."""

    function: str
    """count, count_distinct, sum, mean, min, max or last."""
    window_us: int
    """The window: events with ``t - window < ts <= t`` count at time ``t``."""


@dataclass(frozen=True, slots=True)
class ViewQuery:
    """A feature view as the engine needs it for one request."""

    name: str
    source: SourceSpec
    join_keys: tuple[str, ...]
    """Key columns in the source (also the key columns expected in the entity frame)."""
    key_types: tuple[pa.DataType, ...]
    """Declared Arrow type of each join key (for the key-type check on the entity frame)."""
    features: tuple[FeatureColumn, ...]
    ttl: timedelta | None = None
    aggregations: tuple[AggregateSpec, ...] = ()
    """For an aggregated view, one spec per feature (``features[i].column`` is its input)."""

    @property
    def lookback_us(self) -> int | None:
        """How far before an entity timestamp a source row can matter (None: no limit)."""
        if self.aggregations:
            return max(a.window_us for a in self.aggregations)
        if self.ttl is None:
            return None
        return self.ttl // timedelta(microseconds=1)


class RetrievalJob(Protocol):
    """A lazily run retrieval; each ``to_*`` runs it (once for Arrow, streaming for Parquet)."""

    def to_arrow(self) -> pa.Table:
        """The whole result as one Arrow table."""
        ...

    def to_parquet(self, path: str) -> None:
        """Write the result to a Parquet file without building it in Python memory."""
        ...


class OfflineEngine(Protocol):
    """What the store facade needs from an offline engine."""

    def historical(
        self,
        entities: EntityInput,
        views: Sequence[ViewQuery],
        timestamp_column: str = "event_timestamp",
    ) -> RetrievalJob:
        """Point-in-time join of ``entities`` with each view (DESIGN.md section 3).

        Validates the entity frame (columns present, timestamp type, key types) and raises
        :class:`~pitstore.errors.SchemaError` before any heavy work.
        """
        ...

    def latest(self, view: ViewQuery, start: datetime, end: datetime) -> pa.RecordBatchReader:
        """Latest row per entity among rows with ``start <= ts <= end``.

        Columns: the join keys, ``__ts`` and ``__created`` (timestamp[us, UTC]; ``__created`` null
        when the view has no created column), then the features under their output names.
        Ties on ``ts`` are broken by the greatest created timestamp (nulls lowest).
        """
        ...

    def events(self, view: ViewQuery, end: datetime) -> pa.RecordBatchReader:
        """For an aggregated view: every entity's events in ``(end - longest window, end]``.

        One row per entity: the join keys, ``__ts`` and ``__created`` of its latest event
        (timestamp[us, UTC]), then lists in event order (ts, then created): ``_ev_ts`` and
        ``_ev_created`` (int64 microseconds) and one list per input column, named after it.
        The online store keeps these lists, and reads aggregate them at read time.
        """
        ...

    def interrupt(self, thread: int | None = None) -> None:
        """Stop the queries running now that thread ``thread`` (an ident) started, or all
        of them; callable from any thread (they raise where they run)."""
        ...

    def close(self) -> None:
        """Release connections and temporary files."""
        ...
