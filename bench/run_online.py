#!/usr/bin/env python3
"""Benchmark: materialization into SQLite and SDK online reads, pitstore vs raw SQLite vs Feast.

    .venv/bin/python bench/run_online.py [--preset medium] [--runs 3] [--calls 2000] [--no-feast]

1. Materialize both views of the medium preset (15M source rows, 150k keys) into a fresh SQLite
   file: median seconds and peak RSS over ``--runs`` child processes.
2. Online reads after materialization, 1 entity x 3 features and 100 entities x 6 features
   from 2 views: p50/p99 over ``--calls`` calls after 200 warm-up calls, beside a raw SQLite
   lookup of the same keys on the same file (the limit).
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    FEAST_PY,
    ensure_data,
    ensure_feast,
    median_of,
    peak_rss_mib,
    report,
    run_child,
    table,
)
from run_historical import VIEWS

WARMUP = 200


def make_store(data: Path, repo: Path) -> Any:
    from pitstore import (
        Entity,
        FeatureStore,
        FeatureView,
        Field,
        Float32,
        Float64,
        Int64,
        ParquetSource,
    )
    from pitstore.config import parse_config

    types = {
        "conv_rate": Float32,
        "acc_rate": Float32,
        "avg_daily_trips": Int64,
        "avg_rating": Float32,
        "lifetime_trips": Int64,
        "avg_spend": Float64,
    }
    store = FeatureStore(repo, parse_config({"project": "bench"}), registry_refresh_seconds=60)
    objects: list[Any] = []
    for name, (key, features, ttl) in VIEWS.items():
        entity = Entity(key.removesuffix("_id"), join_keys=[key])
        objects += [
            entity,
            FeatureView(
                name,
                [entity],
                [Field(f, types[f]) for f in features],
                ParquetSource(str(data / f"{name}.parquet"), created_timestamp_field="created"),
                ttl=ttl,
            ),
        ]
    store.apply(objects)
    return store


def data_end(data: Path) -> Any:
    import duckdb

    return duckdb.sql(
        f"SELECT max(event_timestamp) FROM read_parquet('{data / 'driver_stats.parquet'}')"
    ).fetchall()[0][0]


def worker_materialize(data: Path, repo: Path) -> None:
    from pitstore.store.materialize import BEGINNING

    store = make_store(data, repo)
    end = data_end(data)
    began = time.perf_counter()
    result = store.materialize(BEGINNING, end)
    seconds = time.perf_counter() - began
    report({"seconds": seconds, "rows": result.rows, "peak_rss_mib": peak_rss_mib()})


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return p50 * 1000, p99 * 1000


def timed(call: Callable[[int], Any], calls: int) -> tuple[float, float]:
    for i in range(WARMUP):
        call(i)
    samples = []
    for i in range(calls):
        began = time.perf_counter()
        call(i)
        samples.append(time.perf_counter() - began)
    return percentiles(samples)


def worker_reads(data: Path, repo: Path, calls: int) -> None:
    from pitstore.online.keys import KeyEncoder

    store = make_store(data, repo)
    end = data_end(data)
    meta = json.loads((data / "meta.json").read_text())
    del meta
    rng = random.Random(7)
    drivers = [1001 + rng.randrange(100_000) for _ in range(calls + WARMUP)]
    pairs = [
        [(1001 + rng.randrange(100_000), 1 + rng.randrange(50_000)) for _ in range(100)]
        for _ in range(64)
    ]
    f3 = [f"driver_stats:{f}" for f in VIEWS["driver_stats"][1]]
    f6 = f3 + [f"customer_stats:{f}" for f in VIEWS["customer_stats"][1]]

    def one(i: int) -> Any:
        return store.get_online_features(f3, [{"driver_id": drivers[i]}], now=end).to_dict()

    def hundred(i: int) -> Any:
        batch = pairs[i % len(pairs)]
        return store.get_online_features(
            f6, {"driver_id": [d for d, _ in batch], "customer_id": [c for _, c in batch]}, now=end
        ).to_dict()

    results = {"1x3": timed(one, calls), "100x6": timed(hundred, calls)}
    present = store.get_online_features(f3, [{"driver_id": d} for d in drivers[:500]], now=end)
    found = sum(s == "PRESENT" for s in present.statuses["conv_rate"]) / 500

    conn = sqlite3.connect(str(repo / "data" / "online.db"))
    tables = dict(conn.execute("SELECT view, id FROM __pitstore_views").fetchall())
    enc = KeyEncoder(["k"])
    d_table = f'"fv_driver_stats_{tables["driver_stats"]}"'
    c_table = f'"fv_customer_stats_{tables["customer_stats"]}"'
    d_sql = f"SELECT conv_rate, acc_rate, avg_daily_trips, __ts FROM {d_table} WHERE __key=?"

    def raw_one(i: int) -> Any:
        return conn.execute(d_sql, (enc.encode((drivers[i],)),)).fetchone()

    marks = ",".join("?" * 100)
    d_many = (
        f"SELECT __key, conv_rate, acc_rate, avg_daily_trips, __ts FROM {d_table} "
        f"WHERE __key IN ({marks})"
    )
    c_many = (
        f"SELECT __key, avg_rating, lifetime_trips, avg_spend, __ts FROM {c_table} "
        f"WHERE __key IN ({marks})"
    )

    def raw_hundred(i: int) -> Any:
        batch = pairs[i % len(pairs)]
        a = conn.execute(d_many, [enc.encode((d,)) for d, _ in batch]).fetchall()
        b = conn.execute(c_many, [enc.encode((c,)) for _, c in batch]).fetchall()
        return a, b

    results["raw 1x3"] = timed(raw_one, calls)
    results["raw 100x6"] = timed(raw_hundred, calls)
    report({"reads": results, "found_share": found, "peak_rss_mib": peak_rss_mib()})


def feast(data: Path, runs: int, calls: int) -> tuple[dict[str, Any], dict[str, Any]] | None:
    if not ensure_feast():
        return None
    script = str(Path(__file__).parent / "feast_baseline.py")
    mat = run_child(
        [script, "materialize", "--data", str(data), "--runs", str(runs)], python=str(FEAST_PY)
    )
    online = run_child(
        [script, "online", "--data", str(data), "--calls", str(calls)], python=str(FEAST_PY)
    )
    return mat, online


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--no-feast", action="store_true")
    args = parser.parse_args()
    data = ensure_data(args.preset)
    runs = []
    for _ in range(args.runs):
        repo = Path(tempfile.mkdtemp(prefix="pitbench-mat"))
        runs.append(run_child([__file__, "_materialize", str(data), str(repo)]))
    reads = run_child([__file__, "_reads", str(data), str(repo), str(args.calls)])
    baseline = None if args.no_feast else feast(data, args.runs, args.calls)

    mat_rows = [
        ["pitstore", median_of(runs, "seconds"), runs[0]["rows"], median_of(runs, "peak_rss_mib")]
    ]
    if baseline:
        m = baseline[0]
        mat_rows.append(
            [
                "feast 0.67",
                m.get("median_s", m.get("seconds")),
                m.get("rows", "-"),
                m.get("peak_rss_mb", m.get("median_peak_rss_mb", "-")),
            ]
        )
    print(
        f"\nMaterialize both views of preset {args.preset} into SQLite "
        f"(median of {args.runs} runs)\n"
    )
    print(table(["engine", "seconds", "rows written", "peak RSS MiB"], mat_rows))

    r = reads["reads"]
    read_rows = [
        ["1 x 3", *r["1x3"], *r["raw 1x3"], r["1x3"][0] / r["raw 1x3"][0]],
        ["100 x 6 (2 views)", *r["100x6"], *r["raw 100x6"], r["100x6"][0] / r["raw 100x6"][0]],
    ]
    print(
        f"\nSDK online reads, {args.calls} calls after {WARMUP} warm-up "
        f"(share of keys found: {reads['found_share']:.0%})\n"
    )
    print(
        table(
            ["read", "pitstore p50 ms", "p99 ms", "raw SQLite p50 ms", "p99 ms", "p50 ratio"],
            read_rows,
        )
    )
    if baseline:
        print("\nFeast 0.67 online (same data):", json.dumps(baseline[1]))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_materialize":
        worker_materialize(Path(sys.argv[2]), Path(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "_reads":
        worker_reads(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))
    else:
        main()
