#!/usr/bin/env python3
"""Feast 0.67 baseline for pitstore benchmarks.

Run with the Feast venv's python (bench/setup_feast.sh creates it), never the project venv:

    PY=bench/.feast-venv/bin/python
    $PY bench/feast_baseline.py historical  --data DIR --views both --runs 3 [--out OUT.parquet]
    $PY bench/feast_baseline.py materialize --data DIR --runs 3 [--online-store redis]
    $PY bench/feast_baseline.py online      --data DIR --calls 2000 [--online-store redis]
    $PY bench/feast_baseline.py check       --data DIR --result OUT.parquet [--views both]

DIR is a directory written by shared/bench/gen_data.py. Each subcommand builds a throwaway
Feast repo (DuckDB offline store, SQLite online store, file registry) in a temp directory over
the Parquet files, applies it with the Python SDK and measures one operation. With
`--online-store redis` the online store is Feast's Redis store (`--redis`, default
127.0.0.1:6379 database 14) under a fresh project name per repo, whose keys (they all end with
the project name) are deleted when the measurement is done. The last line of
stdout is always one JSON object with the figures; everything Feast prints goes before it.

historical / materialize run every measured repetition in a fresh child process (this same
script, hidden `_worker` subcommand), so peak RSS (ru_maxrss) is per run and no run benefits
from caches warmed by a previous one. The machine is shared: `--quiet-wait S` waits up to S
seconds for an idle machine before each measurement, and every run reports how busy other
processes were (`cpu_busy_before`, `cpu_other_during`). `check` compares a historical result
against a plain pandas merge_asof reference (the intended point-in-time semantics), row by row.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from common import cpu_times, wait_for_quiet  # stdlib only: importable from Feast's venv

PROJECT = "pitstore_bench"
DRIVER_FEATURES = ["conv_rate", "acc_rate", "avg_daily_trips"]
CUSTOMER_FEATURES = ["avg_rating", "lifetime_trips", "avg_spend"]
FEATURES = {"driver_stats": DRIVER_FEATURES, "customer_stats": CUSTOMER_FEATURES}
JOIN_KEYS = {"driver_stats": "driver_id", "customer_stats": "customer_id"}
REDIS = "127.0.0.1:6379,db=14"  # Feast's connection_string syntax: host:port,key=value


# --------------------------------------------------------------------------- helpers


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mb() -> float:
    """Current resident set size in MiB (from /proc/self/statm)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def load_meta(data_dir: Path) -> dict[str, Any]:
    with open(data_dir / "meta.json") as f:
        meta: dict[str, Any] = json.load(f)
    return meta


def feature_refs(views: str) -> list[str]:
    names = ["driver_stats"] if views == "driver" else ["driver_stats", "customer_stats"]
    return [f"{fv}:{feat}" for fv in names for feat in FEATURES[fv]]


def emit(result: dict[str, Any]) -> None:
    """Print the result as the single JSON object on the last line of stdout."""
    sys.stdout.flush()
    print(json.dumps(result), flush=True)


def environment() -> dict[str, Any]:
    import duckdb
    import feast

    return {
        "feast": feast.__version__,
        "duckdb": duckdb.__version__,
        "pyarrow": pa.__version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


# --------------------------------------------------------------------------- online store


@dataclass(frozen=True)
class Online:
    """Where a repo's online store lives: a SQLite file in the repo, or Redis.

    On Redis every key Feast writes ends with the project name, so a fresh project per repo
    (:meth:`fresh`) isolates a run's keys from everything else in the database.
    """

    kind: str = "sqlite"
    redis: str = REDIS
    project: str = PROJECT

    @classmethod
    def fresh(cls, kind: str, redis: str = REDIS) -> Online:
        project = PROJECT if kind == "sqlite" else f"pitbench_{uuid.uuid4().hex[:10]}"
        return cls(kind, redis, project)

    def yaml(self, repo_dir: Path) -> str:
        if self.kind == "redis":
            return f'  type: redis\n  connection_string: "{self.redis}"\n'
        return f"  type: sqlite\n  path: {repo_dir / 'online_store.db'}\n"

    def _client(self) -> Any:
        import redis

        host, _, options = self.redis.partition(",")
        name, _, port = host.partition(":")
        kwargs = dict(o.split("=", 1) for o in options.split(",") if o)
        return redis.Redis(host=name, port=int(port or 6379), db=int(kwargs.get("db", 0)))

    def _redis_keys(self, client: Any) -> Any:
        return client.scan_iter(match=b"*" + self.project.encode(), count=5000)

    def rows(self, repo_dir: Path) -> dict[str, int]:
        """Entities per feature view in the online store."""
        if self.kind == "sqlite":
            return online_row_counts(repo_dir)
        from feast.infra.online_stores.helpers import _redis_key_prefix

        # One hash per entity key (all views of that entity share it): count keys by the
        # entity-key prefix of each view's join key.
        heads = {fv: _redis_key_prefix([key]) for fv, key in JOIN_KEYS.items()}
        counts = dict.fromkeys(FEATURES, 0)
        client = self._client()
        try:
            for key in self._redis_keys(client):
                for fv, head in heads.items():
                    counts[fv] += key.startswith(head)
        finally:
            client.close()
        return counts

    def drop(self) -> int:
        """Delete this project's Redis keys (SQLite: nothing, the temp dir goes away)."""
        if self.kind == "sqlite":
            return 0
        client = self._client()
        removed = 0
        try:
            batch: list[bytes] = []
            for key in self._redis_keys(client):
                batch.append(key)
                if len(batch) >= 5000:
                    removed += client.unlink(*batch)
                    batch = []
            if batch:
                removed += client.unlink(*batch)
        finally:
            client.close()
        return removed


# --------------------------------------------------------------------------- Feast repo


def build_repo(repo_dir: Path, data_dir: Path, online: Online | None = None) -> Any:
    """Write feature_store.yaml into repo_dir, apply the definitions, return the FeatureStore."""
    online = online or Online()
    # Imported lazily: the parent process of a multi-run measurement never needs Feast.
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.types import Float32, Float64, Int64

    repo_dir.mkdir(parents=True, exist_ok=True)
    (repo_dir / "feature_store.yaml").write_text(
        f"""project: {online.project}
provider: local
registry: {repo_dir / "registry.db"}
offline_store:
  type: duckdb
online_store:
{online.yaml(repo_dir)}entity_key_serialization_version: 3
"""
    )
    data_dir = data_dir.resolve()
    driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
    customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64)
    driver_src = FileSource(
        name="driver_stats_source",
        path=str(data_dir / "driver_stats.parquet"),
        timestamp_field="event_timestamp",
        created_timestamp_column="created",
    )
    customer_src = FileSource(
        name="customer_stats_source",
        path=str(data_dir / "customer_stats.parquet"),
        timestamp_field="event_timestamp",
        created_timestamp_column="created",
    )
    driver_fv = FeatureView(
        name="driver_stats",
        entities=[driver],
        ttl=timedelta(days=1),
        schema=[
            Field(name="driver_id", dtype=Int64),
            Field(name="conv_rate", dtype=Float32),
            Field(name="acc_rate", dtype=Float32),
            Field(name="avg_daily_trips", dtype=Int64),
        ],
        source=driver_src,
        online=True,
    )
    customer_fv = FeatureView(
        name="customer_stats",
        entities=[customer],
        ttl=timedelta(hours=12),
        schema=[
            Field(name="customer_id", dtype=Int64),
            Field(name="avg_rating", dtype=Float32),
            Field(name="lifetime_trips", dtype=Int64),
            Field(name="avg_spend", dtype=Float64),
        ],
        source=customer_src,
        online=True,
    )
    store = FeatureStore(repo_path=str(repo_dir))
    store.apply([driver, customer, driver_src, customer_src, driver_fv, customer_fv])
    return store


def materialize_range(meta: dict[str, Any]) -> tuple[datetime, datetime]:
    """A window covering every feature row (generator range, widened by a day each side)."""
    start = datetime.fromisoformat(meta["start"]) - timedelta(days=1)
    end = datetime.fromisoformat(meta["end"]) + timedelta(days=1)
    return start, end


def online_row_counts(repo_dir: Path) -> dict[str, int]:
    """Entities per feature view in the SQLite online store (it keeps one row per feature)."""
    con = sqlite3.connect(repo_dir / "online_store.db")
    try:
        return {
            fv: con.execute(f"SELECT COUNT(DISTINCT entity_key) FROM {PROJECT}_{fv}").fetchone()[0]
            for fv in FEATURES
        }
    finally:
        con.close()


# --------------------------------------------------------------------------- workers


def worker_historical(
    repo_dir: Path, data_dir: Path, views: str, out: str | None
) -> dict[str, Any]:
    from feast import FeatureStore

    store = FeatureStore(repo_path=str(repo_dir))
    entity_df = pq.read_table(data_dir / "entity_df.parquet").to_pandas()
    refs = feature_refs(views)
    rss_before = current_rss_mb()
    t0 = time.perf_counter()
    table = store.get_historical_features(entity_df=entity_df, features=refs).to_arrow()
    seconds = time.perf_counter() - t0
    result = {
        "seconds": seconds,
        "peak_rss_mb": peak_rss_mb(),
        "rss_before_mb": rss_before,
        "rows": table.num_rows,
    }
    if out:
        # Output order is not the entity_df order in Feast; sort for row-by-row comparison.
        cols = ["request_id"] + [r.split(":")[1] for r in refs]
        table = table.select(cols).sort_by("request_id")
        pq.write_table(table, out)
    return result


def worker_materialize(repo_dir: Path, data_dir: Path, online: Online) -> dict[str, Any]:
    try:
        store = build_repo(repo_dir, data_dir, online)  # fresh repo => fresh online store
        start, end = materialize_range(load_meta(data_dir))
        rss_before = current_rss_mb()
        t0 = time.perf_counter()
        store.materialize(start_date=start, end_date=end)
        seconds = time.perf_counter() - t0
        rows = online.rows(repo_dir)
    finally:
        online.drop()
    return {
        "seconds": seconds,
        "peak_rss_mb": peak_rss_mb(),
        "rss_before_mb": rss_before,
        "rows": sum(rows.values()),
        "rows_per_view": rows,
    }


def run_worker(args: list[str], quiet_wait_s: float) -> dict[str, Any]:
    """Run this script's `_worker` subcommand in a fresh process and parse its JSON line."""
    busy_before = wait_for_quiet(quiet_wait_s)
    cmd = [sys.executable, os.path.abspath(__file__), "_worker", *args]
    idle0, total0 = cpu_times()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    wall = time.monotonic() - t0
    idle1, total1 = cpu_times()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:])
        raise SystemExit(f"worker failed (exit {proc.returncode}): {' '.join(cmd)}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["cpu_busy_before"] = busy_before
    # CPU used on the machine during the child's life by anything but the child, as a share
    # of all cores (0..1): a measurement with a high figure was contended by other work.
    machine_s = ((total1 - total0) - (idle1 - idle0)) / os.sysconf("SC_CLK_TCK")
    child_s = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    ncpu = os.cpu_count() or 1
    result["cpu_other_during"] = round(max(0.0, machine_s - child_s) / (wall * ncpu), 2)
    return result


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    secs = [r["seconds"] for r in runs]
    return {
        "median_s": round(statistics.median(secs), 3),
        "min_s": round(min(secs), 3),
        "max_s": round(max(secs), 3),
        "runs_s": [round(s, 3) for s in secs],
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
        "rss_before_mb": round(max(r["rss_before_mb"] for r in runs), 1),
        # machine-wide CPU use (0..1) in the second before each run; > ~0.25 = contended
        "cpu_busy_before": [r["cpu_busy_before"] for r in runs],
        "cpu_other_during": [r["cpu_other_during"] for r in runs],
    }


# --------------------------------------------------------------------------- subcommands


def cmd_historical(a: argparse.Namespace) -> dict[str, Any]:
    data_dir = Path(a.data).resolve()
    meta = load_meta(data_dir)
    with tempfile.TemporaryDirectory(prefix="feast_hist_") as tmp:
        repo = Path(tmp) / "repo"
        build_repo(repo, data_dir)
        runs = []
        for i in range(a.runs):
            # Only the first run writes the result file (outside the timed section).
            extra = ["--out", os.path.abspath(a.out)] if (a.out and i == 0) else []
            runs.append(
                run_worker(
                    [
                        "historical",
                        "--repo",
                        str(repo),
                        "--data",
                        str(data_dir),
                        "--views",
                        a.views,
                        *extra,
                    ],
                    a.quiet_wait,
                )
            )
    return {
        "tool": "feast",
        "op": "historical",
        "views": a.views,
        "features": len(feature_refs(a.views)),
        "entity_rows": meta["entity_rows"],
        "feature_rows": meta["driver_rows"] + (meta["customer_rows"] if a.views == "both" else 0),
        "result_rows": runs[0]["rows"],
        "out": a.out,
        **summarize(runs),
        **environment(),
    }


def cmd_materialize(a: argparse.Namespace) -> dict[str, Any]:
    data_dir = Path(a.data).resolve()
    meta = load_meta(data_dir)
    runs = []
    for _ in range(a.runs):
        with tempfile.TemporaryDirectory(prefix="feast_mat_") as tmp:
            runs.append(
                run_worker(
                    [
                        "materialize",
                        "--repo",
                        str(Path(tmp) / "repo"),
                        "--data",
                        str(data_dir),
                        "--online-store",
                        a.online_store,
                        "--redis",
                        a.redis,
                    ],
                    a.quiet_wait,
                )
            )
    return {
        "tool": "feast",
        "op": "materialize",
        "online_store": a.online_store,
        "views": "both",
        "feature_rows": meta["driver_rows"] + meta["customer_rows"],
        "rows": runs[0]["rows"],
        "rows_per_view": runs[0]["rows_per_view"],
        "input_rows_per_s": round(
            (meta["driver_rows"] + meta["customer_rows"])
            / statistics.median(r["seconds"] for r in runs)
        ),
        **summarize(runs),
        **environment(),
    }


def latency_stats(samples_s: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000.0 for s in samples_s)

    def pct(p: float) -> float:  # nearest-rank percentile
        return ms[min(len(ms) - 1, max(0, round(p / 100.0 * len(ms)) - 1))]

    return {
        "p50_ms": round(pct(50), 3),
        "p99_ms": round(pct(99), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
        "max_ms": round(ms[-1], 3),
    }


def cmd_online(a: argparse.Namespace) -> dict[str, Any]:
    online = Online.fresh(a.online_store, a.redis)
    with tempfile.TemporaryDirectory(prefix="feast_online_") as tmp:
        try:
            return measure_online(a, Path(a.data).resolve(), Path(tmp) / "repo", online)
        finally:
            online.drop()


def measure_online(
    a: argparse.Namespace, data_dir: Path, repo: Path, online: Online
) -> dict[str, Any]:
    """Materialize into a fresh repo's online store, then time the SDK's online reads."""
    warmup = 200
    store = build_repo(repo, data_dir, online)
    start, end = materialize_range(load_meta(data_dir))
    t0 = time.perf_counter()
    store.materialize(start_date=start, end_date=end)
    mat_s = time.perf_counter() - t0

    # Keys that really have feature rows (hence are in the online store).
    drivers = pc.unique(
        pq.read_table(data_dir / "driver_stats.parquet", columns=["driver_id"])["driver_id"]
    ).to_pylist()
    customers = pc.unique(
        pq.read_table(data_dir / "customer_stats.parquet", columns=["customer_id"])["customer_id"]
    ).to_pylist()
    rng = random.Random(a.seed)
    single_refs = feature_refs("driver")
    both_refs = feature_refs("both")

    def single_rows() -> list[dict[str, int]]:
        return [{"driver_id": rng.choice(drivers)}]

    def batch_rows() -> list[dict[str, int]]:
        return [
            {"driver_id": rng.choice(drivers), "customer_id": rng.choice(customers)}
            for _ in range(a.batch)
        ]

    def measure(refs: list[str], make_rows: Any) -> tuple[list[float], int]:
        # Entity rows are built before the clock starts; only the Feast call is timed.
        samples: list[float] = []
        nulls = 0
        for i in range(warmup + a.calls):
            rows = make_rows()
            t = time.perf_counter()
            resp = store.get_online_features(features=refs, entity_rows=rows).to_dict()
            dt = time.perf_counter() - t
            if i >= warmup:
                samples.append(dt)
                nulls += sum(
                    v is None
                    for k, col in resp.items()
                    if k not in ("driver_id", "customer_id")
                    for v in col
                )
        return samples, nulls

    busy_before = wait_for_quiet(a.quiet_wait)
    single, single_nulls = measure(single_refs, single_rows)
    batch, batch_nulls = measure(both_refs, batch_rows)
    peak_during_calls = peak_rss_mb()
    online_check = check_online(store, data_dir, rng.sample(drivers, 200))
    return {
        "tool": "feast",
        "op": "online",
        "online_store": online.kind,
        "calls": a.calls,
        "warmup": warmup,
        "seed": a.seed,
        "materialize_s": round(mat_s, 3),
        "single_1x3": {**latency_stats(single), "null_values": single_nulls},
        f"batch_{a.batch}x6": {**latency_stats(batch), "null_values": batch_nulls},
        "online_check": online_check,
        "peak_rss_mb": round(peak_during_calls, 1),
        "cpu_busy_before": busy_before,
        **environment(),
    }


def check_online(store: Any, data_dir: Path, random_keys: list[int]) -> dict[str, int]:
    """Compare online driver features with the latest row per key in the Parquet file
    (max event_timestamp, then max created) for `random_keys` plus up to 200 keys whose
    latest event_timestamp is tied (so only the `created` tie-break decides)."""
    import duckdb

    path = str(data_dir / "driver_stats.parquet").replace("'", "''")
    src = f"read_parquet('{path}')"
    tied = _tied_latest_keys(src)
    keys = list(dict.fromkeys([*random_keys, *tied]))
    key_list = ",".join(str(int(k)) for k in keys)
    expected = {
        row[0]: row[1:]
        for row in duckdb.execute(
            f"SELECT driver_id, conv_rate, acc_rate, avg_daily_trips FROM {src} "
            f"WHERE driver_id IN ({key_list}) QUALIFY row_number() OVER "
            f"(PARTITION BY driver_id ORDER BY event_timestamp DESC, created DESC) = 1"
        ).fetchall()
    }
    resp = store.get_online_features(
        features=feature_refs("driver"), entity_rows=[{"driver_id": k} for k in keys]
    ).to_dict()
    wrong = wrong_tied = 0
    tied_set = set(tied)
    for i, k in enumerate(resp["driver_id"]):
        got = tuple(resp[f][i] for f in DRIVER_FEATURES)
        # Float32 features come back as Python floats of the float32 value: exact compare is OK.
        bad = got != expected.get(k)
        wrong += bad
        wrong_tied += bad and k in tied_set
    return {
        "keys_checked": len(keys),
        "tied_keys_checked": len(tied),
        "wrong": wrong,
        "wrong_tied": wrong_tied,
    }


def _tied_latest_keys(src: str, limit: int = 200) -> list[int]:
    """Driver ids whose latest event_timestamp occurs in more than one row."""
    import duckdb

    return [
        r[0]
        for r in duckdb.execute(
            f"WITH m AS (SELECT driver_id, max(event_timestamp) AS ts FROM {src} "
            f"GROUP BY driver_id) "
            f"SELECT f.driver_id FROM {src} f JOIN m ON f.driver_id = m.driver_id "
            f"AND f.event_timestamp = m.ts GROUP BY f.driver_id HAVING count(*) > 1 "
            f"ORDER BY f.driver_id LIMIT {limit}"
        ).fetchall()
    ]


def reference_asof(data_dir: Path, views: str) -> Any:
    """Point-in-time join with pandas merge_asof: latest row with event_timestamp <= entity ts
    and entity ts - event_timestamp <= TTL; ties on event_timestamp go to the latest `created`.
    """
    import pandas as pd

    meta = load_meta(data_dir)
    ent = pq.read_table(data_dir / "entity_df.parquet").to_pandas()
    ent = ent.sort_values("event_timestamp", kind="stable")
    ttl = {"driver_stats": meta["driver_ttl_s"], "customer_stats": meta["customer_ttl_s"]}
    files = {"driver_stats": "driver_stats.parquet", "customer_stats": "customer_stats.parquet"}
    names = ["driver_stats"] if views == "driver" else ["driver_stats", "customer_stats"]
    for fv in names:
        feat = pq.read_table(data_dir / files[fv]).to_pandas()
        # Sort by (ts, created): merge_asof takes the last of equal timestamps => max created.
        feat = feat.sort_values(["event_timestamp", "created"], kind="stable")
        feat = feat.drop(columns=["created"])
        ent = pd.merge_asof(
            ent,
            feat,
            on="event_timestamp",
            by=JOIN_KEYS[fv],
            tolerance=pd.Timedelta(seconds=ttl[fv]),
            allow_exact_matches=True,
            direction="backward",
        )
    return ent.sort_values("request_id").reset_index(drop=True)


def cmd_check(a: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    data_dir = Path(a.data).resolve()
    ref = reference_asof(data_dir, a.views)
    got = pq.read_table(a.result).to_pandas().sort_values("request_id").reset_index(drop=True)
    cols = [r.split(":")[1] for r in feature_refs(a.views)]
    out: dict[str, Any] = {"op": "check", "rows_ref": len(ref), "rows_feast": len(got)}
    merged = ref.merge(
        got, on="request_id", how="outer", suffixes=("_ref", "_feast"), indicator=True
    )
    out["missing_in_feast"] = int((merged["_merge"] == "left_only").sum())
    out["extra_in_feast"] = int((merged["_merge"] == "right_only").sum())
    both = merged[merged["_merge"] == "both"]
    bad_any = np.zeros(len(both), dtype=bool)
    per_col = {}
    for c in cols:
        r = both[f"{c}_ref"].to_numpy(dtype="float64", na_value=np.nan)
        g = both[f"{c}_feast"].to_numpy(dtype="float64", na_value=np.nan)
        bad = ~((r == g) | (np.isnan(r) & np.isnan(g)))
        per_col[c] = {
            "mismatch": int(bad.sum()),
            "null_ref": int(np.isnan(r).sum()),
            "null_feast": int(np.isnan(g).sum()),
        }
        bad_any |= bad
    out["per_feature"] = per_col
    out["rows_mismatch"] = int(bad_any.sum())
    if bad_any.any():
        show = both.loc[
            bad_any,
            ["request_id", "driver_id", "customer_id", "event_timestamp"]
            + [f"{c}_{s}" for c in cols for s in ("ref", "feast")],
        ].head(5)
        out["examples"] = json.loads(show.to_json(orient="records", date_format="iso"))
    return out


def cmd_worker(a: argparse.Namespace) -> dict[str, Any]:
    repo, data = Path(a.repo), Path(a.data)
    if a.kind == "historical":
        return worker_historical(repo, data, a.views, a.out)
    return worker_materialize(repo, data, Online.fresh(a.online_store, a.redis))


# --------------------------------------------------------------------------- CLI


def add_online_store(p: argparse.ArgumentParser) -> None:
    p.add_argument("--online-store", choices=["sqlite", "redis"], default="sqlite")
    p.add_argument(
        "--redis",
        default=REDIS,
        help=f"Feast connection_string of the Redis server (default {REDIS!r})",
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("historical", help="time get_historical_features().to_arrow()")
    p.add_argument("--data", required=True)
    p.add_argument("--views", choices=["driver", "both"], default="driver")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--out", help="write request_id + features of the first run here (Parquet)")
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=0.0,
        help="before each measurement wait up to this many seconds for the machine to be idle",
    )
    p.set_defaults(fn=cmd_historical)

    p = sub.add_parser("materialize", help="time materialize() of both views (SQLite or Redis)")
    p.add_argument("--data", required=True)
    p.add_argument("--runs", type=int, default=3)
    add_online_store(p)
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=0.0,
        help="before each measurement wait up to this many seconds for the machine to be idle",
    )
    p.set_defaults(fn=cmd_materialize)

    p = sub.add_parser("online", help="p50/p99 of get_online_features() after materializing")
    p.add_argument("--data", required=True)
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--batch", type=int, default=100, help="entities per batched call")
    p.add_argument("--seed", type=int, default=7)
    add_online_store(p)
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=0.0,
        help="before each measurement wait up to this many seconds for the machine to be idle",
    )
    p.set_defaults(fn=cmd_online)

    p = sub.add_parser("check", help="compare a historical result with a pandas merge_asof")
    p.add_argument("--data", required=True)
    p.add_argument("--result", required=True)
    p.add_argument("--views", choices=["driver", "both"], default="both")
    p.set_defaults(fn=cmd_check)

    p = sub.add_parser("_worker")  # internal: one measured run in its own process
    p.add_argument("kind", choices=["historical", "materialize"])
    p.add_argument("--repo", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--views", choices=["driver", "both"], default="driver")
    p.add_argument("--out")
    add_online_store(p)
    p.set_defaults(fn=cmd_worker)

    a = ap.parse_args(argv)
    emit(a.fn(a))
    return 0


if __name__ == "__main__":
    sys.exit(main())
