"""A small repo with a push source feeding a plain view and an aggregated view."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pitstore import (
    Aggregation,
    Entity,
    FeatureStore,
    FeatureView,
    Field,
    Float64,
    Int64,
    ParquetSource,
    PushSource,
    StreamSource,
)
from pitstore.config import parse_config

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
UTC_US = pa.timestamp("us", tz="UTC")
BATCH_SCHEMA = pa.schema(
    [
        ("driver_id", pa.int64()),
        ("event_timestamp", pa.timestamp("us")),  # naive on purpose: read as UTC
        ("conv_rate", pa.float64()),
        ("trips", pa.int64()),
    ]
)

driver = Entity("driver", join_keys=["driver_id"], dtype=Int64)


def definitions(source: PushSource) -> list[Any]:
    """The entity, a plain view and an aggregated view, both fed by ``source``."""
    stats = FeatureView(
        "driver_stats",
        entities=[driver],
        schema=[Field("conv_rate", Float64), Field("trips", Int64)],
        source=source,
    )
    activity = FeatureView(
        "driver_activity",
        entities=[driver],
        schema=[Field("trips", Int64)],
        source=source,
        aggregations=[
            Aggregation("trips", "sum", "1h"),
            Aggregation("trips", "count", "1h"),
        ],
    )
    return [driver, stats, activity]


def push_source(name: str = "driver_push") -> PushSource:
    return PushSource(name, batch_source=ParquetSource("data/drivers.parquet"))


def stream_source(broker: str, topic: str, name: str = "driver_stream") -> StreamSource:
    batch = ParquetSource("data/drivers.parquet")
    return StreamSource(name, broker=broker, topic=topic, batch_source=batch)


def make_repo(
    folder: Path,
    source: PushSource,
    *,
    online: dict[str, Any] | None = None,
    batch_rows: list[dict[str, Any]] | None = None,
    brokers: dict[str, Any] | None = None,
) -> FeatureStore:
    """A repo in ``folder`` with ``source``'s views applied (and a batch file, if given)."""
    folder.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {"project": "push"}
    if online is not None:
        config["online_store"] = online
    if brokers is not None:
        config["brokers"] = brokers
    import yaml

    (folder / "pitstore.yaml").write_text(yaml.safe_dump(config))
    if batch_rows is not None:
        (folder / "data").mkdir(exist_ok=True)
        table = pa.Table.from_pylist(batch_rows, schema=BATCH_SCHEMA)
        pq.write_table(table, folder / "data" / "drivers.parquet")
    store = FeatureStore(folder, parse_config(config), registry_refresh_seconds=0)
    store.apply(definitions(source))
    return store


def event(driver_id: int, minutes: float, conv: float = 0.5, trips: int = 1) -> dict[str, Any]:
    """A row of the push source, ``minutes`` after T0."""
    return {
        "driver_id": driver_id,
        "event_timestamp": (T0 + timedelta(minutes=minutes)).isoformat(),
        "conv_rate": conv,
        "trips": trips,
    }


def online(store: FeatureStore, ids: list[int], at: datetime | None = None) -> dict[str, Any]:
    refs = [
        "driver_stats:conv_rate",
        "driver_stats:trips",
        "driver_activity:trips_sum_1h",
        "driver_activity:trips_count_1h",
    ]
    rows = [{"driver_id": i} for i in ids]
    return store.get_online_features(refs, rows, now=at or T0 + timedelta(minutes=30)).to_dict()


def log_files(folder: Path, source: str = "driver_push") -> list[Path]:
    return sorted((folder / "data" / "_pushed" / source).glob("date=*/part-*.parquet"))


def logged_rows(folder: Path, source: str = "driver_push") -> list[dict[str, Any]]:
    files = log_files(folder, source)
    if not files:
        return []
    return pa.concat_tables(
        [pq.read_table(f) for f in files], promote_options="permissive"
    ).to_pylist()
