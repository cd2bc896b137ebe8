"""Training data: point-in-time retrieval through the offline engine."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pitstore.definitions import FeatureService, FeatureView, ParquetSource
from pitstore.errors import DefinitionError
from pitstore.offline.base import (
    AggregateSpec,
    FeatureColumn,
    RetrievalJob,
    SourceSpec,
    ViewQuery,
)
from pitstore.store.catalog import Snapshot
from pitstore.store.resolve import ViewSelection, resolve

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl
    import pyarrow as pa

    from pitstore.offline.base import EntityInput
    from pitstore.store.feature_store import FeatureStore


class HistoricalJob:
    """The result of :meth:`FeatureStore.get_historical_features`, computed on demand."""

    def __init__(self, job: RetrievalJob, selections: list[ViewSelection]) -> None:
        self._job = job
        self.selections = selections

    @property
    def feature_columns(self) -> list[str]:
        """The output feature columns, in order."""
        return [o for s in self.selections for o in s.outputs]

    def to_arrow(self) -> pa.Table:
        """The training frame as an Arrow table (input columns first, in input order)."""
        return self._job.to_arrow()

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
        """Write the training frame to Parquet, streamed by the engine (not via Python)."""
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
    selections = resolve(snapshot, features, feature_service, full_feature_names)
    queries = [view_query(snapshot, s, store.repo_path) for s in selections]
    job = store.offline.historical(entity_df, queries, store.config.entity_timestamp_column)
    return HistoricalJob(job, selections)


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
    """Where the engine reads ``view``'s rows (relative paths are from the repo folder)."""
    source = view.source
    if not isinstance(source, ParquetSource):
        raise DefinitionError(
            f"feature view {view.name!r}: the DuckDB engine cannot read source type "
            f"{source.type!r} yet"
        )
    path = Path(source.path)
    if not path.is_absolute() and "://" not in source.path:
        path = repo / path
    return SourceSpec(str(path), source.timestamp_field, source.created_timestamp_field)


def all_features(view: FeatureView) -> list[str]:
    """References to every feature of ``view``."""
    return [f"{view.name}:{f}" for f in view.feature_names]
