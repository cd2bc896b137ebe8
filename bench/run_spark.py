#!/usr/bin/env python3
"""Benchmark: point-in-time training data on the DuckDB engine vs the Spark engine (local[N]).

    .venv/bin/python bench/run_spark.py [--preset medium] [--master local[2]] [--no-union]

Data: the shared generator's preset (medium: driver_stats 10M rows / 100k keys, TTL 1 day;
customer_stats 5M rows / 50k keys, TTL 12 h; entity frame 1M rows, read from its Parquet file
by each engine). One process: the DuckDB cases first, then one Spark session for every Spark
case. The JVM and session start-up, and a first tiny job (class loading, JIT), are timed apart
from the queries. Each result is collected as Arrow and compared row by row with DuckDB's.
Timings are single runs on a shared machine: read them as +-15 %.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ensure_data, peak_rss_mib, table

VIEWS = {
    "driver_stats": (
        "driver_id",
        {"conv_rate": "f32", "acc_rate": "f32", "avg_daily_trips": "i64"},
        timedelta(days=1),
    ),
    "customer_stats": (
        "customer_id",
        {"avg_rating": "f32", "lifetime_trips": "i64", "avg_spend": "f64"},
        timedelta(hours=12),
    ),
}
VIEW_SETS = {
    "one view": ["driver_stats"],
    "two views": ["driver_stats", "customer_stats"],
    "one view, no TTL": ["driver_stats"],
}


def view_queries(data: Path, names: list[str], ttl: bool = True) -> list[Any]:
    """The engine's query objects for the benchmark views (what the facade would build)."""
    import pyarrow as pa

    from pitstore.offline.base import FeatureColumn, SourceSpec, ViewQuery

    types = {"f32": pa.float32(), "i64": pa.int64(), "f64": pa.float64()}
    queries = []
    for name in names:
        key, features, view_ttl = VIEWS[name]
        queries.append(
            ViewQuery(
                name=name,
                source=SourceSpec(str(data / f"{name}.parquet"), "event_timestamp", "created"),
                join_keys=(key,),
                key_types=(pa.int64(),),
                features=tuple(FeatureColumn(f, f, types[t]) for f, t in features.items()),
                ttl=view_ttl if ttl else None,
            )
        )
    return queries


def timed(run: Any) -> tuple[float, Any]:
    began = time.perf_counter()
    result = run()
    return time.perf_counter() - began, result


def retrieve(engine: Any, entities: str, data: Path, label: str) -> tuple[Any, Any]:
    """Validation, planning and the run to Arrow: what a user waits for."""
    views = view_queries(data, VIEW_SETS[label], ttl="no TTL" not in label)
    job = engine.historical(entities, views)
    return job, job.to_arrow()


def differing_rows(reference: Any, other: Any) -> int:
    """Rows whose values differ between two results of the same shape, in order."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if reference.num_rows != other.num_rows or reference.column_names != other.column_names:
        return max(reference.num_rows, other.num_rows)
    other = other.cast(reference.schema)
    differs = pa.array([False] * reference.num_rows)
    for name in reference.column_names:
        a, b = reference[name], other[name]
        same = pc.or_kleene(pc.equal(a, b), pc.and_(pc.is_null(a), pc.is_null(b)))
        differs = pc.or_(differs, pc.invert(pc.fill_null(same, False)))
    return int(pc.sum(differs).as_py() or 0)


def spark_conf(shuffle_partitions: int) -> dict[str, str]:
    return {
        "spark.driver.memory": "8g",
        "spark.sql.shuffle.partitions": str(shuffle_partitions),
        "spark.ui.enabled": "false",
        "spark.local.dir": tempfile.mkdtemp(prefix="pitbench-spark"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--shuffle-partitions", type=int, default=16)
    parser.add_argument(
        "--no-union", action="store_true", help="skip the runs of the non-default strategies"
    )
    args = parser.parse_args()
    data = ensure_data(args.preset)
    entities = str(data / "entity_df.parquet")

    from pitstore.offline.duckdb import DuckDBEngine
    from pitstore.offline.spark import SparkEngine

    rows: list[list[Any]] = []
    expected: dict[str, Any] = {}
    with DuckDBEngine() as duck:
        for label in VIEW_SETS:
            seconds, (_, result) = timed(lambda n=label: retrieve(duck, entities, data, n))
            expected[label] = result
            rows.append([label, "duckdb", "asof", seconds, result.num_rows, 0])
    duck_rss = peak_rss_mib()

    engine = SparkEngine(args.master, spark_conf(args.shuffle_partitions), "pitbench")
    startup, spark = timed(engine.session)
    spark.sparkContext.setLogLevel("ERROR")
    # Class loading and code generation happen on the first queries: warm up on 10k rows.
    sample = f"SELECT * FROM parquet.`{entities}` LIMIT 10000"
    warmup, _ = timed(lambda: retrieve(engine, sample, data, "two views"))
    cases = [(label, "auto") for label in VIEW_SETS]
    if not args.no_union:  # the other strategy, with and without a TTL
        cases.insert(1, ("one view", "union"))
        cases.append(("one view, no TTL", "join"))
    for label, strategy in cases:
        runner = SparkEngine(spark=spark, strategy=strategy)  # type: ignore[arg-type]
        seconds, (job, result) = timed(lambda r=runner, n=label: retrieve(r, entities, data, n))
        name = f"spark {args.master}"
        plan = "+".join(job.strategies)
        rows.append(
            [label, name, plan, seconds, result.num_rows, differing_rows(expected[label], result)]
        )
    engine.close()

    print(
        f"\nPoint-in-time join, preset {args.preset} ({entities}), single runs, to_arrow().\n"
        f"Spark {args.master}: JVM + session start {startup:.1f} s, warm-up query on 10k rows "
        f"{warmup:.1f} s (neither included below); DuckDB process peak RSS {duck_rss:,.0f} MiB.\n"
    )
    print(table(["views", "engine", "plan", "seconds", "rows", "rows differing"], rows))


if __name__ == "__main__":
    main()
