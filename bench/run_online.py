#!/usr/bin/env python3
"""Benchmark: materialization and SDK online reads, pitstore vs the raw client vs Feast 0.67.

    .venv/bin/python bench/run_online.py [--store sqlite|redis|postgres] [--preset medium]
        [--runs 3] [--calls 2000] [--no-feast] [--quiet-wait S]

1. Materialize both views of the preset (medium: 15M source rows, 150k keys) into a fresh
   online store: median seconds and peak RSS over ``--runs`` child processes.
2. Online reads after materialization, 1 entity x 3 features and 100 entities x 6 features
   from 2 views: p50/p99 over ``--calls`` calls after 200 warm-up calls, beside the raw
   client reading the same rows of the same store (the limit; raw values, no decoding):

   - sqlite: ``SELECT ... WHERE __key IN (...)`` on the view tables, one query per view;
   - redis: one redis-py pipeline of ``HMGET <row hash> __ts <features>`` per entity and view
     (the key layout of ``pitstore.online.redis.layout``; generation 0 on a fresh prefix);
   - postgres: psycopg ``SELECT ... WHERE __key = ANY(%s)`` on the view tables, binary, the
     two views' queries pipelined in one round trip.
3. Feast 0.67 (``bench/feast_baseline.py``, own venv) on the same data, for sqlite and redis
   (same Redis server and database; Feast has no Postgres online store here).

``--quiet-wait S`` waits up to S seconds before each measured child (Feast's too) until the
machine's CPU use is at most 25 %; the busy share each one started with is printed.

Redis runs use database 14 under a fresh key prefix per run (Feast: a fresh project), Postgres
a fresh schema per run; everything a run wrote is deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    FEAST_PY,
    ONLINE_STORES,
    POSTGRES_DSN,
    REDIS_URL,
    VIEWS,
    drop_online_data,
    ensure_data,
    ensure_feast,
    load_averages,
    make_store,
    median_of,
    online_config,
    peak_rss_mib,
    report,
    run_child,
    table,
    unique_name,
    wait_for_quiet,
)

WARMUP = 200
#: What the raw reference of each store is, for the tables.
RAW_LABEL = {
    "sqlite": "raw sqlite3",
    "redis": "raw redis-py pipeline",
    "postgres": "raw psycopg",
}
FEAST_STORES = ("sqlite", "redis")

#: A raw read: [(view, encoded keys)] -> the stored rows, undecoded.
RawRead = Callable[[Sequence[tuple[str, list[bytes]]]], Any]


# --- children -------------------------------------------------------------------------------


def open_store(data: Path, repo: Path, kind: str, name: str) -> Any:
    return make_store(data, repo, online=online_config(kind, name))


def data_end(data: Path) -> Any:
    import duckdb

    relation = duckdb.sql(
        f"SELECT max(event_timestamp) FROM read_parquet('{data / 'driver_stats.parquet'}')"
    )
    assert relation is not None
    return relation.fetchall()[0][0]


def worker_materialize(data: Path, repo: Path, kind: str, name: str) -> None:
    from pitstore.store.materialize import BEGINNING

    store = open_store(data, repo, kind, name)
    end = data_end(data)
    began = time.perf_counter()
    result = store.materialize(BEGINNING, end)
    seconds = time.perf_counter() - began
    store.close()
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


def sqlite_reader(repo: Path, name: str) -> RawRead:
    import sqlite3

    conn = sqlite3.connect(str(repo / "data" / "online.db"))
    ids = dict(conn.execute("SELECT view, id FROM __pitstore_views").fetchall())
    statements: dict[tuple[str, int], str] = {}

    def statement(view: str, n: int) -> str:
        if (view, n) not in statements:
            columns = ", ".join(["__key", *VIEWS[view][1], "__ts"])
            marks = ",".join("?" * n)
            statements[view, n] = (
                f'SELECT {columns} FROM "fv_{view}_{ids[view]}" WHERE __key IN ({marks})'
            )
        return statements[view, n]

    def read(requests: Sequence[tuple[str, list[bytes]]]) -> Any:
        return [conn.execute(statement(v, len(keys)), keys).fetchall() for v, keys in requests]

    return read


def redis_reader(repo: Path, name: str) -> RawRead:
    import redis

    from pitstore.online.redis import layout

    client = redis.Redis.from_url(REDIS_URL)
    head = layout.head(name)
    rows = {view: layout.row_head(head, view, 0) for view in VIEWS}  # fresh prefix: gen 0
    fields = {view: [layout.TS_FIELD.decode(), *VIEWS[view][1]] for view in VIEWS}

    def read(requests: Sequence[tuple[str, list[bytes]]]) -> Any:
        pipe = client.pipeline(transaction=False)
        for view, keys in requests:
            row, wanted = rows[view], fields[view]
            for key in keys:
                pipe.hmget(row + key + b"}", wanted)
        return pipe.execute()

    return read


def postgres_reader(repo: Path, name: str) -> RawRead:
    import psycopg
    from psycopg import sql

    conn = psycopg.connect(POSTGRES_DSN, autocommit=True)
    tables: dict[str, str] = dict(
        conn.execute(
            sql.SQL("SELECT view, table_name FROM {}.__pitstore_views").format(sql.Identifier(name))
        ).fetchall()
    )
    queries = {
        view: sql.SQL("SELECT {} FROM {}.{} WHERE __key = ANY(%s)")
        .format(
            sql.SQL(", ").join(map(sql.Identifier, ["__key", "__ts", *VIEWS[view][1]])),
            sql.Identifier(name),
            sql.Identifier(tables[view]),
        )
        .as_bytes(conn)
        for view in VIEWS
    }

    def read(requests: Sequence[tuple[str, list[bytes]]]) -> Any:
        if len(requests) == 1:
            ((view, keys),) = requests
            return conn.execute(queries[view], (keys,), binary=True).fetchall()
        with conn.pipeline():
            cursors = [
                conn.cursor(binary=True).execute(queries[v], (keys,)) for v, keys in requests
            ]
        return [cursor.fetchall() for cursor in cursors]

    return read


RAW_READERS: dict[str, Callable[[Path, str], RawRead]] = {
    "sqlite": sqlite_reader,
    "redis": redis_reader,
    "postgres": postgres_reader,
}


def worker_reads(data: Path, repo: Path, kind: str, name: str, calls: int) -> None:
    from pitstore.online.keys import KeyEncoder

    store = open_store(data, repo, kind, name)
    end = data_end(data)
    meta = json.loads((data / "meta.json").read_text())
    d_lo, d_hi = meta["driver_id_range"]
    c_lo, c_hi = meta["customer_id_range"]
    rng = random.Random(7)
    drivers = [rng.randint(d_lo, d_hi) for _ in range(calls + WARMUP)]
    pairs = [
        [(rng.randint(d_lo, d_hi), rng.randint(c_lo, c_hi)) for _ in range(100)] for _ in range(64)
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

    # The limit: the raw client reads the same rows (keys encoded inside the timed call, as
    # the SDK does), and returns them undecoded.
    raw = RAW_READERS[kind](repo, name)
    enc = KeyEncoder(["k"]).encode

    def raw_one(i: int) -> Any:
        return raw([("driver_stats", [enc((drivers[i],))])])

    def raw_hundred(i: int) -> Any:
        batch = pairs[i % len(pairs)]
        return raw(
            [
                ("driver_stats", [enc((d,)) for d, _ in batch]),
                ("customer_stats", [enc((c,)) for _, c in batch]),
            ]
        )

    # Sanity: the raw reader finds the row of a key that the SDK finds.
    hit = drivers[present.statuses["conv_rate"].index("PRESENT")]
    assert raw_hit(raw([("driver_stats", [enc((hit,))])]), kind), f"raw read missed {hit}"
    results["raw 1x3"] = timed(raw_one, calls)
    results["raw 100x6"] = timed(raw_hundred, calls)
    store.close()
    report({"reads": results, "found_share": found, "peak_rss_mib": peak_rss_mib()})


def raw_hit(reply: Any, kind: str) -> bool:
    """Whether a raw read of one key of one view found its row."""
    if kind == "sqlite":
        return bool(reply[0])
    if kind == "redis":
        return reply[0][0] is not None  # the row hash's __ts
    return bool(reply)


# --- parent ---------------------------------------------------------------------------------


def feast(
    data: Path, kind: str, runs: int, calls: int, quiet_wait: float
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    if kind not in FEAST_STORES or not ensure_feast():
        return None
    script = str(Path(__file__).parent / "feast_baseline.py")
    common = ["--data", str(data), "--online-store", kind, "--quiet-wait", str(quiet_wait)]
    mat = run_child([script, "materialize", *common, "--runs", str(runs)], python=str(FEAST_PY))
    print(f"feast materialize done (load {load_averages()})", file=sys.stderr)
    online = run_child([script, "online", *common, "--calls", str(calls)], python=str(FEAST_PY))
    print(f"feast online done (load {load_averages()})", file=sys.stderr)
    return mat, online


def quiet(seconds: float) -> str:
    """Wait for a quiet machine (see --quiet-wait); describe the machine's state."""
    return f"busy before {wait_for_quiet(seconds) if seconds else '-'}, load {load_averages()}"


def pitstore(
    data: Path, kind: str, runs: int, calls: int, quiet_wait: float
) -> tuple[list[Any], dict[str, Any]]:
    """``runs`` materializations, each into a fresh store, then the reads on the last one."""
    names: list[str] = []
    repos: list[Path] = []
    results = []
    try:
        for i in range(runs):
            if names:
                drop_online_data(kind, names[-1])  # one run's data on the server at a time
            names.append(unique_name("pitbench"))
            repo = Path(tempfile.mkdtemp(prefix="pitbench-mat"))
            repos.append(repo)
            state = quiet(quiet_wait)
            results.append(
                run_child([__file__, "_materialize", str(data), str(repo), kind, names[-1]])
            )
            print(
                f"pitstore materialize {i + 1}/{runs}: {results[-1]['seconds']:.2f} s "
                f"({state}; after: load {load_averages()})",
                file=sys.stderr,
            )
        state = quiet(quiet_wait)
        reads = run_child([__file__, "_reads", str(data), str(repo), kind, names[-1], str(calls)])
        print(f"pitstore reads done ({state}; after: load {load_averages()})", file=sys.stderr)
    finally:
        for name in names:
            drop_online_data(kind, name)
        for repo in repos:
            shutil.rmtree(repo, ignore_errors=True)
    return results, reads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", choices=ONLINE_STORES, default="sqlite")
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--no-feast", action="store_true")
    parser.add_argument("--quiet-wait", type=float, default=0.0, metavar="S")
    args = parser.parse_args()
    data = ensure_data(args.preset)
    kind = args.store
    load_before = load_averages()
    runs, reads = pitstore(data, kind, args.runs, args.calls, args.quiet_wait)
    baseline = None if args.no_feast else feast(data, kind, args.runs, args.calls, args.quiet_wait)

    mat_rows = [
        [
            "pitstore",
            median_of(runs, "seconds"),
            " / ".join(f"{r['seconds']:.2f}" for r in runs),
            runs[0]["rows"],
            median_of(runs, "peak_rss_mib"),
        ]
    ]
    if baseline:
        m = baseline[0]
        mat_rows.append(
            [
                "feast 0.67",
                m["median_s"],
                " / ".join(f"{s:.2f}" for s in m["runs_s"]),
                m["rows"],
                m["peak_rss_mb"],
            ]
        )
    print(
        f"\nMaterialize both views of preset {args.preset} into {kind} "
        f"(median of {args.runs} runs; load average before {load_before}, "
        f"after {load_averages()})\n"
    )
    print(table(["engine", "median s", "runs s", "rows written", "peak RSS MiB"], mat_rows))

    r = reads["reads"]
    read_rows = [
        ["pitstore SDK", *r["1x3"], *r["100x6"]],
        [RAW_LABEL[kind], *r["raw 1x3"], *r["raw 100x6"]],
        [
            "pitstore / raw (p50)",
            r["1x3"][0] / r["raw 1x3"][0],
            "",
            r["100x6"][0] / r["raw 100x6"][0],
            "",
        ],
    ]
    if baseline:
        o = baseline[1]
        single, batch = o["single_1x3"], o["batch_100x6"]
        read_rows.append(
            ["feast 0.67 SDK", single["p50_ms"], single["p99_ms"], batch["p50_ms"], batch["p99_ms"]]
        )
    print(
        f"\nOnline reads from {kind}, {args.calls} calls after {WARMUP} warm-up "
        f"(share of pitstore keys PRESENT: {reads['found_share']:.0%})\n"
    )
    print(
        table(
            ["reader", "1x3 p50 ms", "1x3 p99 ms", "100x6 p50 ms", "100x6 p99 ms"],
            read_rows,
        )
    )
    if baseline:
        print("\nFeast 0.67 materialize:", json.dumps(baseline[0]))
        print("Feast 0.67 online:", json.dumps(baseline[1]))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_materialize":
        worker_materialize(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4], sys.argv[5])
    elif len(sys.argv) > 1 and sys.argv[1] == "_reads":
        worker_reads(
            Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6])
        )
    else:
        main()
