#!/usr/bin/env python3
"""Benchmark: windowed aggregations offline and online.

    .venv/bin/python bench/run_aggregations.py [--preset medium] [--runs 3] [--no-pandas]

Events: ``driver_stats.parquet`` of the shared data (10M rows, 100k drivers over 30 days);
entity rows: ``entity_df.parquet`` (1M). Features: sum, count and mean of ``avg_daily_trips``
over 1h, 1d and 7d (9 features). Compared, in one run, with a hand-written DuckDB range-join
query of the same work (the limit) and with pandas ``groupby().rolling()`` + ``merge_asof`` as a
pandas-based engine does it (which answers at the last event before the entity time, not at the
entity time, so its values differ where a window edge falls between the two).
Then online: read latency of the aggregated view (7-day windows) vs a plain view, 1 entity.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ensure_data, median_of, peak_rss_mib, report, run_child, table

WINDOWS = {"1h": timedelta(hours=1), "1d": timedelta(days=1), "7d": timedelta(days=7)}
FUNCTIONS = ("sum", "count", "mean")
COLUMN = "avg_daily_trips"
FEATURES = [f"{COLUMN}_{fn}_{w}" for w in WINDOWS for fn in FUNCTIONS]


def make_store(data: Path, repo: Path) -> Any:
    from pitstore import (
        Aggregation,
        Entity,
        FeatureStore,
        FeatureView,
        Field,
        Float32,
        Int64,
        ParquetSource,
    )
    from pitstore.config import parse_config

    store = FeatureStore(repo, parse_config({"project": "bench"}), registry_refresh_seconds=60)
    driver = Entity("driver", join_keys=["driver_id"])
    source = ParquetSource(str(data / "driver_stats.parquet"), created_timestamp_field="created")
    aggregated = FeatureView(
        "trips_agg",
        [driver],
        [Field(COLUMN, Int64)],
        source,
        aggregations=[Aggregation(COLUMN, fn, w) for w in WINDOWS for fn in FUNCTIONS],
    )
    plain = FeatureView(
        "driver_stats",
        [driver],
        [Field("conv_rate", Float32), Field("acc_rate", Float32), Field(COLUMN, Int64)],
        source,
        ttl=timedelta(days=1),
    )
    store.apply([driver, aggregated, plain])
    return store


def case_pitstore(data: Path, out: Path) -> None:
    import pyarrow.parquet as pq

    store = make_store(data, Path(tempfile.mkdtemp(prefix="pitagg")))
    began = time.perf_counter()
    result = store.get_historical_features(
        str(data / "entity_df.parquet"), [f"trips_agg:{f}" for f in FEATURES]
    ).to_arrow()
    seconds = time.perf_counter() - began
    pq.write_table(result.select(["request_id", *FEATURES]), out)
    report({"seconds": seconds, "peak_rss_mib": peak_rss_mib()})


def raw_sql(data: Path) -> str:
    longest = max(int(w.total_seconds()) for w in WINDOWS.values()) * 1_000_000
    aggs = []
    for name, window in WINDOWS.items():
        us = int(window.total_seconds()) * 1_000_000
        inside = f"s.t > e.t - {us}"
        aggs += [
            f"sum(CASE WHEN {inside} THEN s.v END) AS {COLUMN}_sum_{name}",
            f"count(CASE WHEN {inside} THEN s.v END) AS {COLUMN}_count_{name}",
            f"avg(CASE WHEN {inside} THEN s.v END) AS {COLUMN}_mean_{name}",
        ]
    return (
        f"WITH e AS (SELECT row_number() OVER () AS rn, request_id, driver_id AS k, "
        f"epoch_us(event_timestamp) AS t FROM read_parquet('{data / 'entity_df.parquet'}')), "
        f"s AS (SELECT driver_id AS k, epoch_us(event_timestamp) AS t, {COLUMN} AS v "
        f"FROM read_parquet('{data / 'driver_stats.parquet'}')) "
        f"SELECT e.request_id, {', '.join(aggs)} FROM e LEFT JOIN s ON s.k = e.k "
        f"AND s.t > e.t - {longest} AND s.t <= e.t GROUP BY e.rn, e.request_id ORDER BY e.rn"
    )


def case_duckdb(data: Path, out: Path) -> None:
    import duckdb
    import pyarrow.parquet as pq

    conn = duckdb.connect()
    began = time.perf_counter()
    result = conn.execute(raw_sql(data)).to_arrow_table()
    seconds = time.perf_counter() - began
    pq.write_table(result, out)
    report({"seconds": seconds, "peak_rss_mib": peak_rss_mib()})


def case_pandas(data: Path, out: Path) -> None:
    import pandas as pd

    began = time.perf_counter()
    events = pd.read_parquet(
        data / "driver_stats.parquet", columns=["driver_id", "event_timestamp", COLUMN]
    )
    events = events.sort_values(["driver_id", "event_timestamp"])
    grouped = events.groupby("driver_id").rolling
    rolled = events[["driver_id", "event_timestamp"]].reset_index(drop=True)
    for name in WINDOWS:
        agg = grouped(name, on="event_timestamp")[COLUMN].agg(["sum", "count", "mean"])
        agg = agg.reset_index(drop=True)
        for fn in FUNCTIONS:
            rolled[f"{COLUMN}_{fn}_{name}"] = agg[fn].to_numpy()
    entities = pd.read_parquet(data / "entity_df.parquet")
    entities = entities.reset_index().sort_values("event_timestamp")
    merged = pd.merge_asof(
        entities,
        rolled.sort_values("event_timestamp"),
        on="event_timestamp",
        by="driver_id",
        direction="backward",
    )
    result = merged.sort_values("index")[["request_id", *FEATURES]]
    seconds = time.perf_counter() - began
    result.to_parquet(out, index=False)
    report({"seconds": seconds, "peak_rss_mib": peak_rss_mib()})


CASES = {
    "pitstore": case_pitstore,
    "duckdb range join (raw)": case_duckdb,
    "pandas rolling + merge_asof": case_pandas,
}


def differing(reference: Path, other: Path) -> int:
    import duckdb

    cond = " OR ".join(
        f"(a.{c} IS DISTINCT FROM b.{c} AND NOT (a.{c} IS NOT NULL AND b.{c} IS NOT NULL "
        f"AND abs(a.{c} - b.{c}) <= 1e-9 * greatest(abs(a.{c}), 1)))"
        for c in FEATURES
    )
    row = duckdb.sql(
        f"WITH a AS (SELECT *, row_number() OVER () rn FROM read_parquet('{reference}')), "
        f"b AS (SELECT *, row_number() OVER () rn FROM read_parquet('{other}')) "
        f"SELECT count(*) FROM a JOIN b USING (rn) WHERE a.request_id <> b.request_id OR {cond}"
    ).fetchall()[0]
    return int(row[0])


def worker_online(data: Path, calls: int) -> None:
    import statistics

    from pitstore.store.materialize import BEGINNING

    repo = Path(tempfile.mkdtemp(prefix="pitagg-online"))
    store = make_store(data, repo)
    import duckdb

    end = duckdb.sql(
        f"SELECT max(event_timestamp) FROM read_parquet('{data / 'driver_stats.parquet'}')"
    ).fetchall()[0][0]
    began = time.perf_counter()
    store.materialize(BEGINNING, end, ["trips_agg"])
    materialize_agg = time.perf_counter() - began
    store.materialize(BEGINNING, end, ["driver_stats"])
    rng = random.Random(3)
    keys = [1001 + rng.randrange(100_000) for _ in range(calls + 200)]
    results = {}
    for label, refs in {
        "aggregated (sum/count/mean over 7d)": [f"trips_agg:{COLUMN}_{fn}_7d" for fn in FUNCTIONS],
        "plain view (3 features)": [
            "driver_stats:conv_rate",
            "driver_stats:acc_rate",
            f"driver_stats:{COLUMN}",
        ],
    }.items():
        samples = []
        for i, key in enumerate(keys):
            t0 = time.perf_counter()
            store.get_online_features(refs, [{"driver_id": key}], now=end).to_dict()
            if i >= 200:
                samples.append(time.perf_counter() - t0)
        samples.sort()
        results[label] = (
            statistics.median(samples) * 1000,
            samples[int(len(samples) * 0.99)] * 1000,
        )
    report({"reads": results, "materialize_agg_s": materialize_agg})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--no-pandas", action="store_true")
    args = parser.parse_args()
    data = ensure_data(args.preset)
    work = Path(tempfile.mkdtemp(prefix="pitbench-agg"))
    rows = []
    outs = {}
    for case in CASES:
        if case.startswith("pandas") and args.no_pandas:
            continue
        out = work / f"{case.split()[0]}.parquet"
        runs = 1 if case.startswith("pandas") else args.runs
        figures = [run_child([__file__, "_worker", case, str(data), str(out)]) for _ in range(runs)]
        outs[case] = out
        rows.append([case, median_of(figures, "seconds"), median_of(figures, "peak_rss_mib"), runs])
    limit = rows[1][1]
    table_rows = [
        [
            r[0],
            r[1],
            r[1] / limit,
            r[2],
            r[3],
            0 if r[0] == "pitstore" else differing(outs["pitstore"], outs[r[0]]),
        ]
        for r in rows
    ]
    print(
        f"\nOffline aggregation, preset {args.preset}: every entity row x 9 features "
        f"(sum/count/mean x 1h/1d/7d) over driver_stats as events\n"
    )
    print(
        table(
            [
                "engine",
                "seconds (median)",
                "ratio to raw",
                "peak RSS MiB",
                "runs",
                "rows differing from pitstore",
            ],
            table_rows,
        )
    )
    online = run_child([__file__, "_online", str(data), str(args.calls)])
    print(
        f"\nOnline reads, 1 entity, {args.calls} calls after 200 warm-up "
        f"(materializing the aggregated view took {online['materialize_agg_s']:.1f} s)\n"
    )
    print(table(["view", "p50 ms", "p99 ms"], [[k, *v] for k, v in online["reads"].items()]))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_worker":
        CASES[sys.argv[2]](Path(sys.argv[3]), Path(sys.argv[4]))
    elif len(sys.argv) > 1 and sys.argv[1] == "_online":
        worker_online(Path(sys.argv[2]), int(sys.argv[3]))
    else:
        main()
