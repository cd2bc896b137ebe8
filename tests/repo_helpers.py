"""Building small feature repos in a temp folder for facade-level tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pitstore import Entity, FeatureStore, FeatureView, Field, Float64, Int64, ParquetSource, String
from pitstore.config import parse_config

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")


def make_store(folder: Path, online: dict[str, Any] | None = None) -> FeatureStore:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pitstore.yaml").write_text("project: test\n")
    config: dict[str, Any] = {"project": "test"}
    if online is not None:
        config["online_store"] = online
    return FeatureStore(folder, parse_config(config), registry_refresh_seconds=0)


def write_rows(path: Path, rows: list[dict[str, Any]], schema: pa.Schema) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)


TRIP_SCHEMA = pa.schema(
    [
        ("city", pa.string()),
        ("driver_id", pa.int64()),
        ("event_timestamp", TS),
        ("created", TS),
        ("score", pa.float64()),
        ("label", pa.string()),
    ]
)

city_driver = Entity("city_driver", join_keys=["city", "driver_id"], dtype=[String, Int64])


def trip_view(ttl: timedelta | None) -> FeatureView:
    return FeatureView(
        "trips",
        entities=[city_driver],
        schema=[Field("score", Float64), Field("label", String)],
        source=ParquetSource("data/trips.parquet", created_timestamp_field="created"),
        ttl=ttl,
    )
