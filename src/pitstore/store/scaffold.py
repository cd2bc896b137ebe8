"""``pitstore init``: a runnable demo feature repo with generated data.

The data is made with the standard library's random generator (seeded, so every run makes the
same values relative to its end time) and written with pyarrow: no other dependency.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

from pitstore.config import CONFIG_FILE
from pitstore.errors import ConfigError
from pitstore.timeutil import utcnow

DRIVERS = range(1001, 1011)
CUSTOMERS = range(1, 6)
DAYS = 7

CONFIG_TEMPLATE = """\
# pitstore project file (see "Configuration" in the pitstore README)
project: {project}
registry:
  type: sqlite
  path: data/registry.db
offline_engine:
  type: duckdb
online_store:
  type: sqlite
  path: data/online.db
"""

FEATURES_TEMPLATE = '''\
"""Demo definitions: drivers and customers of a ride-hailing service."""

from datetime import timedelta

from pitstore import (
    Entity,
    FeatureService,
    FeatureView,
    Field,
    Float32,
    Float64,
    Int64,
    ParquetSource,
)

driver = Entity("driver", join_keys=["driver_id"], dtype=Int64, description="A driver")
customer = Entity("customer", join_keys=["customer_id"], dtype=Int64, description="A rider")

driver_stats = FeatureView(
    "driver_stats",
    entities=[driver],
    schema=[
        Field("conv_rate", Float32, description="Share of offers the driver accepted"),
        Field("acc_rate", Float32, description="Share of trips completed"),
        Field("avg_daily_trips", Int64, description="Trips per day, 30-day average"),
    ],
    source=ParquetSource(
        "data/driver_stats.parquet",
        timestamp_field="event_timestamp",
        created_timestamp_field="created",
    ),
    ttl=timedelta(days=1),
    owner="ml-platform@example.com",
    description="Hourly driver quality statistics",
    tags={"team": "drivers"},
)

customer_stats = FeatureView(
    "customer_stats",
    entities=[customer],
    schema=[
        Field("avg_rating", Float32, description="Average rating given"),
        Field("lifetime_trips", Int64, description="Trips taken so far"),
        Field("avg_spend", Float64, description="Average fare, in dollars"),
    ],
    source=ParquetSource("data/customer_stats.parquet", created_timestamp_field="created"),
    ttl=timedelta(hours=12),
    owner="ml-platform@example.com",
    description="Customer activity, refreshed every few hours",
    tags={"team": "riders"},
)

driver_activity = FeatureService(
    "driver_activity",
    features=[driver_stats, customer_stats[["avg_rating", "avg_spend"]]],
    description="Features of the trip-acceptance model",
    owner="ml-platform@example.com",
)
'''


#: Database files of data/ that a demo removes (it starts with a fresh registry and store).
_DEMO_DATABASES = tuple(
    db + suffix for db in ("registry.db", "online.db") for suffix in ("", "-wal", "-shm")
)
#: Files of data/ that a demo writes or removes.
_DEMO_DATA = (
    "driver_stats.parquet",
    "customer_stats.parquet",
    "entities.parquet",
    *_DEMO_DATABASES,
)


def init_repo(folder: Path, project: str | None = None, force: bool = False) -> Path:
    """Create a demo repo in ``folder``. Without ``force`` nothing the demo would overwrite or
    delete may exist there yet (checked before anything is written)."""
    from pitstore.names import suggest_name, validate_name

    folder = folder.resolve()
    name = validate_name(project, "project") if project else suggest_name(folder.name) or "demo"
    # the first path that exists on the way to data/ must be a folder (mkdir fails on a file)
    existing = next((p for p in (folder / "data", folder, *folder.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ConfigError(
            f"{existing} is a file, not a folder; pass `pitstore init` a new or empty folder"
        )
    demo_files = [CONFIG_FILE, "features.py", *(f"data/{f}" for f in _DEMO_DATA)]
    taken = [f for f in demo_files if (folder / f).exists()]
    if taken and not force:
        raise ConfigError(
            f"{folder} already holds {', '.join(taken)}, which the demo would overwrite; pick "
            "an empty folder, or pass --force to replace them"
        )
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / CONFIG_FILE).write_text(CONFIG_TEMPLATE.format(project=name), encoding="utf-8")
    (folder / "features.py").write_text(FEATURES_TEMPLATE, encoding="utf-8")
    for stale in _DEMO_DATABASES:
        (folder / "data" / stale).unlink(missing_ok=True)
    end = utcnow().replace(minute=0, second=0, microsecond=0)
    write_demo_data(folder / "data", end)
    return folder


def write_demo_data(data: Path, end: datetime) -> None:
    """Hourly driver rows and 3-hourly customer rows over the ``DAYS`` days before ``end``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(42)
    start = end - timedelta(days=DAYS)
    ts_type = pa.timestamp("us", tz="UTC")
    hours = [start + timedelta(hours=h) for h in range(DAYS * 24 + 1)]
    drivers = [(d, t) for t in hours for d in DRIVERS]
    pq.write_table(
        pa.table(
            {
                "driver_id": pa.array([d for d, _ in drivers], pa.int64()),
                "event_timestamp": pa.array([t for _, t in drivers], ts_type),
                "created": pa.array([t + timedelta(minutes=5) for _, t in drivers], ts_type),
                "conv_rate": pa.array([rng.random() for _ in drivers], pa.float32()),
                "acc_rate": pa.array([rng.uniform(0.5, 1) for _ in drivers], pa.float32()),
                "avg_daily_trips": pa.array([rng.randint(1, 40) for _ in drivers], pa.int64()),
            }
        ),
        data / "driver_stats.parquet",
    )
    customers = [(c, t) for t in hours[::3] for c in CUSTOMERS]
    pq.write_table(
        pa.table(
            {
                "customer_id": pa.array([c for c, _ in customers], pa.int64()),
                "event_timestamp": pa.array([t for _, t in customers], ts_type),
                "created": pa.array([t for _, t in customers], ts_type),
                "avg_rating": pa.array([rng.uniform(3, 5) for _ in customers], pa.float32()),
                "lifetime_trips": pa.array([i for i, _ in enumerate(customers)], pa.int64()),
                "avg_spend": pa.array([rng.uniform(5, 60) for _ in customers], pa.float64()),
            }
        ),
        data / "customer_stats.parquet",
    )
    _write_entities(data, start, end, rng)


def _write_entities(data: Path, start: datetime, end: datetime, rng: random.Random) -> None:
    """A small entity frame (trips with a label) for the training-data demo."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    span = int((end - start).total_seconds())
    times = sorted(start + timedelta(seconds=rng.randrange(span)) for _ in range(20))
    pq.write_table(
        pa.table(
            {
                "trip_id": pa.array(range(1, 21), pa.int64()),
                "driver_id": pa.array([rng.choice(DRIVERS) for _ in times], pa.int64()),
                "customer_id": pa.array([rng.choice(CUSTOMERS) for _ in times], pa.int64()),
                "event_timestamp": pa.array(times, pa.timestamp("us", tz="UTC")),
                "accepted": pa.array([rng.random() < 0.7 for _ in times], pa.bool_()),
            }
        ),
        data / "entities.parquet",
    )
