"""Shared pieces of the benchmark scripts: data set-up, child-process timing, tables."""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
DATA = BENCH / "data"
FEAST_PY = BENCH / ".feast-venv" / "bin" / "python"

#: The two feature views of the shared generator's data: join key, features, TTL.
VIEWS = {
    "driver_stats": ("driver_id", ["conv_rate", "acc_rate", "avg_daily_trips"], timedelta(days=1)),
    "customer_stats": (
        "customer_id",
        ["avg_rating", "lifetime_trips", "avg_spend"],
        timedelta(hours=12),
    ),
}
#: pitstore type name of each feature (resolved lazily: the parent processes skip pitstore).
FEATURE_TYPES = {
    "conv_rate": "Float32",
    "acc_rate": "Float32",
    "avg_daily_trips": "Int64",
    "avg_rating": "Float32",
    "lifetime_trips": "Int64",
    "avg_spend": "Float64",
}

#: The benchmark servers (issue 5): database 14 of the shared Redis, the `test` database.
REDIS_URL = "redis://127.0.0.1:6379/14"
POSTGRES_DSN = "postgresql://127.0.0.1:5432/test"
ONLINE_STORES = ("sqlite", "redis", "postgres")


def ensure_data(preset: str) -> Path:
    """The shared generator's data for ``preset`` (generated on first use)."""
    folder = DATA / preset
    if not (folder / "meta.json").exists():
        subprocess.run(["bash", str(BENCH / "setup_data.sh"), preset], check=True)
    return folder


def ensure_feast() -> bool:
    """Whether the Feast 0.67 environment is there (created on first use)."""
    if not FEAST_PY.exists():
        result = subprocess.run(["bash", str(BENCH / "setup_feast.sh")], check=False)
        return result.returncode == 0 and FEAST_PY.exists()
    return True


def peak_rss_mib() -> float:
    """Peak RSS of this process so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(figures: dict[str, Any]) -> None:
    """Print a child's figures as the last stdout line (JSON)."""
    print(json.dumps(figures), flush=True)


def run_child(args: Sequence[str], python: str = sys.executable) -> dict[str, Any]:
    """Run a child measurement and return the JSON object on its last stdout line."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    out = subprocess.run([python, *args], capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (printed, and pasted into RESULTS.md)."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:,.2f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


# --- pitstore stores -------------------------------------------------------------------------


def make_store(
    data: Path,
    repo: Path,
    *,
    online: dict[str, Any] | None = None,
    offline_engine: dict[str, Any] | None = None,
    registry_refresh_seconds: float = 60,
) -> Any:
    """A pitstore FeatureStore in ``repo`` with both views of ``data`` applied.

    ``online`` and ``offline_engine`` are the config sections (default: SQLite, DuckDB).
    """
    import pitstore
    from pitstore import Entity, FeatureStore, FeatureView, Field, ParquetSource
    from pitstore.config import parse_config

    config: dict[str, Any] = {"project": "bench"}
    if online:
        config["online_store"] = online
    if offline_engine:
        config["offline_engine"] = offline_engine
    store = FeatureStore(
        repo, parse_config(config), registry_refresh_seconds=registry_refresh_seconds
    )
    objects: list[Any] = []
    for name, (key, features, ttl) in VIEWS.items():
        entity = Entity(key.removesuffix("_id"), join_keys=[key])
        fields = [Field(f, getattr(pitstore, FEATURE_TYPES[f])) for f in features]
        source = ParquetSource(str(data / f"{name}.parquet"), created_timestamp_field="created")
        objects += [entity, FeatureView(name, [entity], fields, source, ttl=ttl)]
    store.apply(objects)
    return store


def unique_name(tag: str) -> str:
    """A fresh name (Redis key prefix, Postgres schema): letters, digits and ``_`` only."""
    return f"{tag}_{uuid.uuid4().hex[:10]}"


def online_config(kind: str, name: str) -> dict[str, Any] | None:
    """pitstore's ``online_store`` section for ``kind``; ``name`` isolates this run's data
    (Redis key prefix, Postgres schema). None: the default SQLite file in the repo."""
    if kind == "redis":
        return {"type": "redis", "url": REDIS_URL, "key_prefix": name}
    if kind == "postgres":
        return {"type": "postgres", "dsn": POSTGRES_DSN, "schema_name": name}
    if kind == "sqlite":
        return None
    raise ValueError(f"unknown online store {kind!r}")


def drop_online_data(kind: str, name: str) -> int:
    """Delete what a run with :func:`online_config` (``kind``, ``name``) wrote; returns the
    number of Redis keys removed (Postgres: the schema is dropped; SQLite: nothing)."""
    if kind == "redis":
        return redis_unlink(REDIS_URL, name.encode() + b":*")
    if kind == "postgres":
        import psycopg
        from psycopg import sql

        with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
    return 0


def redis_unlink(url: str, pattern: bytes) -> int:
    """UNLINK every key matching ``pattern`` (SCAN; never FLUSHDB); returns how many."""
    import redis

    client = redis.Redis.from_url(url)
    removed = 0
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=pattern, count=5000):
            batch.append(key)
            if len(batch) == 5000:
                removed += client.unlink(*batch)
                batch = []
        if batch:
            removed += client.unlink(*batch)
    finally:
        client.close()
    return removed


def load_averages() -> str:
    """The machine's 1/5/15-minute load averages, for the record of a run."""
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_times() -> tuple[int, int]:
    """(idle, total) jiffies over all CPUs, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return fields[3] + fields[4], sum(fields)


def wait_for_quiet(max_wait_s: float, busy_threshold: float = 0.25) -> float:
    """Wait (1 s samples, at most ``max_wait_s``) until machine-wide CPU use is at most
    ``busy_threshold``; return the last sample (0..1). Called while this process idles, so
    the figure is other processes' load: how contended the next measurement is likely to be.
    ``feast_baseline.py --quiet-wait`` uses it too."""
    deadline = time.monotonic() + max_wait_s
    while True:
        idle0, total0 = cpu_times()
        time.sleep(1.0)
        idle1, total1 = cpu_times()
        busy = 1.0 - (idle1 - idle0) / max(1, total1 - total0)
        if busy <= busy_threshold or time.monotonic() >= deadline:
            return round(busy, 2)
