"""Training data: point-in-time retrieval through the offline engine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pitstore.definitions import FeatureService, FeatureView, ParquetSource, PushSource
from pitstore.errors import DefinitionError, SchemaError
from pitstore.offline.base import (
    AggregateSpec,
    FeatureColumn,
    RetrievalJob,
    SourceSpec,
    ViewQuery,
)
from pitstore.offline.files import has_files
from pitstore.offline.parquet import write_parquet
from pitstore.store.catalog import Snapshot
from pitstore.store.resolve import Resolved, ViewSelection, resolve
from pitstore.store.transforms import run_transform

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl
    import pyarrow as pa

    from pitstore.offline.base import EntityInput
    from pitstore.store.feature_store import FeatureStore


class HistoricalJob:
    """The result of :meth:`FeatureStore.get_historical_features`, computed on demand."""

    def __init__(
        self,
        job: RetrievalJob,
        resolved: Resolved,
        functions: list[Callable[..., Any]],
    ) -> None:
        self._job = job
        self.resolved = resolved
        self._functions = functions

    @property
    def feature_columns(self) -> list[str]:
        """The output feature columns, in order."""
        return list(self.resolved.columns)

    def to_arrow(self) -> pa.Table:
        """The training frame as an Arrow table (input columns first, in input order)."""
        table = self._job.to_arrow()
        if not self.resolved.transforms and not self.resolved.hidden:
            return table
        return self._finish(table)

    def _finish(self, table: pa.Table) -> pa.Table:
        """Run the on-demand functions on the frame, drop hidden inputs, order the features."""
        features = set(self.resolved.columns) | set(self.resolved.hidden)
        check_entity_columns(self.resolved, table.column_names)
        for transform, function in zip(self.resolved.transforms, self._functions, strict=True):
            inputs = {name: table.column(col) for name, col in transform.inputs.items()}
            types = {name: dtype.to_arrow() for name, dtype in transform.input_types.items()}
            outputs = run_transform(transform.view, function, inputs, table.num_rows, types)
            for feature, column in zip(transform.features, transform.outputs, strict=True):
                table = table.append_column(column, outputs[feature])
        inputs_first = [c for c in table.column_names if c not in features]
        return table.select([*inputs_first, *self.resolved.columns])

    def to_pandas(self) -> pd.DataFrame:
        """The training frame as a pandas DataFrame."""
        frame: pd.DataFrame = self.to_arrow().to_pandas()
        return frame

    def to_polars(self) -> pl.DataFrame:
        """The training frame as a Polars DataFrame."""
        import polars as pl

        frame = pl.from_arrow(self.to_arrow())
        assert isinstance(frame, pl.DataFrame)
        return frame

    def to_parquet(self, path: str | Path) -> None:
        """Write the training frame to Parquet.

        Streamed by the engine (not via Python memory), except when on-demand features must
        be computed on the frame first. Durations are written as the engines write them
        (:mod:`pitstore.offline.parquet`).
        """
        if self.resolved.transforms:
            write_parquet(self.to_arrow(), str(path))
        else:
            self._job.to_parquet(str(path))


def historical(
    store: FeatureStore,
    entity_df: EntityInput,
    features: list[str] | None,
    feature_service: str | FeatureService | None,
    full_feature_names: bool,
) -> HistoricalJob:
    """Resolve the request against the registry and run it on the offline engine."""
    snapshot = store.catalog.current()
    resolved = resolve(snapshot, features, feature_service, full_feature_names)
    functions = [store.transform_function(t.view) for t in resolved.transforms]
    queries = [view_query(snapshot, s, store.repo_path) for s in resolved.selections]
    job = store.offline.historical(entity_df, queries, store.config.entity_timestamp_column)
    check_entity_columns(resolved, _column_names(entity_df))
    return HistoricalJob(job, resolved, functions)


def _column_names(entity_df: EntityInput) -> list[str] | None:
    """The entity frame's columns when known without running anything (frames and tables)."""
    names = getattr(entity_df, "column_names", None) or getattr(entity_df, "columns", None)
    return [str(n) for n in names] if names is not None else None


def check_entity_columns(resolved: Resolved, columns: list[str] | None) -> None:
    """On-demand request values come from entity-frame columns: each must be there; and an
    on-demand output must not have the name of one (the frame would hold two columns of that
    name: a bare KeyError when the result was put together)."""
    if columns is None:
        return
    for transform in resolved.transforms:
        for output in transform.outputs:
            if output in columns:
                raise SchemaError(
                    f"on-demand view {transform.view.name!r}: output {output!r} clashes with "
                    "a column of that name in the frame (of the entity frame, or a feature "
                    "read for a function); rename one, or use full feature names"
                )
        for request in transform.view.requests:
            for field in request.schema:
                if field.name not in columns:
                    raise SchemaError(
                        f"request value {field.name!r} (request source {request.name!r} of "
                        f"on-demand view {transform.view.name!r}) is not a column of the "
                        f"entity frame (columns: {columns}); add it"
                    )


def view_query(snapshot: Snapshot, selection: ViewSelection, repo: Path) -> ViewQuery:
    """The engine's query object for one view selection."""
    view = selection.view
    keys = snapshot.contents.join_keys(view)
    aggregations = {a.name: a for a in view.aggregations}
    columns = []
    specs = []
    for feature, output in zip(selection.features, selection.outputs, strict=True):
        dtype = view.feature(feature).dtype.to_arrow()
        aggregation = aggregations.get(feature)
        if aggregation is None:
            columns.append(FeatureColumn(feature, output, dtype))
        else:
            columns.append(FeatureColumn(aggregation.column, output, dtype))
            specs.append(AggregateSpec(aggregation.function, aggregation.window_us))
    return ViewQuery(
        name=view.name,
        source=source_spec(view, repo),
        join_keys=tuple(k for k, _ in keys),
        key_types=tuple(t.to_arrow() for _, t in keys),
        features=tuple(columns),
        ttl=view.ttl,
        aggregations=tuple(specs),
    )


def source_spec(view: FeatureView, repo: Path) -> SourceSpec:
    """Where the engine reads ``view``'s rows (relative paths are from the repo folder).

    A push or stream source is read as its batch source plus its push log (the log's glob is
    in ``extra_paths`` once it holds a file; alone in ``path`` when the batch source has no
    file yet).
    """
    source = view.source
    if isinstance(source, PushSource):
        return _push_spec(source, repo)
    if not isinstance(source, ParquetSource):
        raise DefinitionError(
            f"feature view {view.name!r}: the offline engines cannot read source type "
            f"{source.type!r} yet"
        )
    return SourceSpec(
        _absolute(source.path, repo), source.timestamp_field, source.created_timestamp_field
    )


def _absolute(path: str, repo: Path) -> str:
    if "://" in path or Path(path).is_absolute():
        return path
    return str(repo / path)


def _push_spec(source: PushSource, repo: Path) -> SourceSpec:
    from pitstore.store import push_log

    batch = _absolute(source.batch_source.path, repo)
    root = push_log.log_root(source, repo)
    paths = [batch] if _has_data(batch) or not push_log.has_files(root) else []
    if push_log.has_files(root):
        paths.append(push_log.log_glob(root))
    return SourceSpec(
        paths[0], source.timestamp_field, source.created_timestamp_field, tuple(paths[1:])
    )


def _has_data(path: str) -> bool:
    """Whether a batch path is remote (assumed present) or stands for a local file."""
    return has_files(path)


def all_features(view: FeatureView) -> list[str]:
    """References to every feature of ``view``."""
    return [f"{view.name}:{f}" for f in view.feature_names]
