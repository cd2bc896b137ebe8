#!/usr/bin/env python3
"""Benchmark: point-in-time training data, pitstore vs raw DuckDB / Polars vs Feast 0.67.

    .venv/bin/python bench/run_historical.py [--preset medium] [--runs 3] [--no-feast]

Data: ``shared/bench/gen_data.py --preset medium`` (driver_stats 10M rows / 100k keys, TTL 1 day;
customer_stats 5M rows / 50k keys, TTL 12 h; entity frame 1M rows). Each measured run is a
fresh child process, timed inside (imports excluded), with its own peak RSS. All results are
compared row by row with pitstore's; the table reports medians and the ratio to the fastest
reference of the same run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    FEAST_PY,
    VIEWS,
    ensure_data,
    ensure_feast,
    make_store,
    median_of,
    peak_rss_mib,
    report,
    run_child,
    table,
)

VIEW_SETS = {"one view": ["driver_stats"], "two views": ["driver_stats", "customer_stats"]}


# ----------------------------------------------------------------------------- the cases


def case_pitstore(
    data: Path, views: list[str], out: Path, entities: str, memory: str | None
) -> None:
    repo = Path(tempfile.mkdtemp(prefix="pitbench"))
    engine = {"memory_limit": memory, "temp_directory": str(repo / "spill")} if memory else None
    store = make_store(data, repo, offline_engine=engine, registry_refresh_seconds=5.0)
    refs = [f"{v}:{f}" for v in views for f in VIEWS[v][1]]
    began = time.perf_counter()
    job = store.get_historical_features(str(data / entities), refs)
    if memory:
        job.to_parquet(out)
        rows = -1
    else:
        result = job.to_arrow()
        rows = result.num_rows
    seconds = time.perf_counter() - began
    if not memory:
        import pyarrow.parquet as pq

        pq.write_table(result, out)
    report({"seconds": seconds, "peak_rss_mib": peak_rss_mib(), "rows": rows})


def raw_duckdb_sql(data: Path, views: list[str]) -> str:
    """The same join by hand: one DuckDB query with an ASOF JOIN per view."""
    ctes = ["e AS (SELECT *, row_number() OVER () AS rn FROM read_parquet('{ent}'))"]
    joins, cols = [], []
    for i, view in enumerate(views):
        key, features, ttl = VIEWS[view]
        feats = ", ".join(features)
        # ties on the event timestamp: keep the greatest created first (what ASOF cannot do)
        ctes.append(
            f"v{i} AS (SELECT {key}, event_timestamp AS ts{i}, {feats} FROM "
            f"read_parquet('{data / view}.parquet') "
            f"QUALIFY row_number() OVER (PARTITION BY {key}, event_timestamp "
            f"ORDER BY created DESC NULLS LAST) = 1)"
        )
        joins.append(
            f"ASOF LEFT JOIN v{i} ON e.{key} = v{i}.{key} AND e.event_timestamp >= v{i}.ts{i}"
        )
        secs = int(ttl.total_seconds())
        cols += [
            f"CASE WHEN v{i}.ts{i} >= e.event_timestamp - INTERVAL {secs} SECOND "
            f"THEN v{i}.{f} END AS {f}"
            for f in features
        ]
    return (
        "WITH "
        + ", ".join(ctes)
        + " SELECT e.request_id, "
        + ", ".join(cols)
        + " FROM e "
        + " ".join(joins)
        + " ORDER BY e.rn"
    )


def case_duckdb(data: Path, views: list[str], out: Path, entities: str, memory: str | None) -> None:
    import duckdb
    import pyarrow.parquet as pq

    conn = duckdb.connect()
    conn.execute("SET TimeZone='UTC'")
    sql = raw_duckdb_sql(data, views).replace("{ent}", str(data / entities))
    began = time.perf_counter()
    result = conn.execute(sql).to_arrow_table()
    seconds = time.perf_counter() - began
    pq.write_table(result, out)
    report({"seconds": seconds, "peak_rss_mib": peak_rss_mib(), "rows": result.num_rows})


def case_polars(data: Path, views: list[str], out: Path, entities: str, memory: str | None) -> None:
    import polars as pl

    began = time.perf_counter()
    frame = pl.scan_parquet(data / entities).with_row_index("rn")
    for view in views:
        key, features, ttl = VIEWS[view]
        source = (
            pl.scan_parquet(data / f"{view}.parquet")
            .select([key, "event_timestamp", "created", *features])
            .sort([key, "event_timestamp", "created"], nulls_last=False)
            .unique([key, "event_timestamp"], keep="last", maintain_order=True)
            .rename({"event_timestamp": f"ts_{view}"})
            .drop("created")
        )
        frame = (
            frame.sort("event_timestamp")
            .join_asof(
                source.sort(f"ts_{view}"),
                left_on="event_timestamp",
                right_on=f"ts_{view}",
                by=key,
                strategy="backward",
                tolerance=ttl,
            )
            .drop(f"ts_{view}")
        )
    cols = ["request_id", *[f for v in views for f in VIEWS[v][1]]]
    result = frame.sort("rn").select(cols).collect()
    seconds = time.perf_counter() - began
    result.write_parquet(out)
    report({"seconds": seconds, "peak_rss_mib": peak_rss_mib(), "rows": result.height})


CASES = {
    "pitstore": case_pitstore,
    "duckdb ASOF (raw)": case_duckdb,
    "polars join_asof": case_polars,
}


# ----------------------------------------------------------------------------- harness


def compare(reference: Path, other: Path, columns: list[str]) -> int:
    """Rows whose feature values differ between two results in input order."""
    import duckdb

    conn = duckdb.connect()
    cond = " OR ".join(f"a.{c} IS DISTINCT FROM b.{c}" for c in columns)
    sql = (
        f"WITH a AS (SELECT *, row_number() OVER () rn FROM read_parquet('{reference}')), "
        f"b AS (SELECT *, row_number() OVER () rn FROM read_parquet('{other}')) "
        f"SELECT count(*) FROM a FULL JOIN b USING (rn) WHERE a.request_id IS DISTINCT FROM "
        f"b.request_id OR {cond}"
    )
    row = conn.execute(sql).fetchone()
    return int(row[0]) if row else -1


def measure(
    case: str,
    data: Path,
    views: list[str],
    runs: int,
    work: Path,
    entities: str = "entity_df.parquet",
    memory: str | None = None,
) -> dict[str, Any]:
    out = work / f"{case.split()[0]}_{len(views)}.parquet"
    args = [__file__, "_worker", case, str(data), ",".join(views), str(out), entities, memory or ""]
    results = [run_child(args) for _ in range(runs)]
    return {
        "seconds": median_of(results, "seconds"),
        "peak_rss_mib": median_of(results, "peak_rss_mib"),
        "out": out,
    }


def measure_feast(data: Path, views: list[str], runs: int, work: Path) -> dict[str, Any] | None:
    if not ensure_feast():
        return None
    out = work / f"feast_{len(views)}.parquet"
    which = "driver" if len(views) == 1 else "both"
    figures = run_child(
        [
            str(Path(__file__).parent / "feast_baseline.py"),
            "historical",
            "--data",
            str(data),
            "--views",
            which,
            "--runs",
            str(runs),
            "--out",
            str(out),
        ],
        python=str(FEAST_PY),
    )
    seconds = figures.get("median_s") or figures.get("seconds") or figures.get("median_seconds")
    rss = (
        figures.get("peak_rss_mb")
        or figures.get("median_peak_rss_mb")
        or figures.get("peak_rss_mib")
    )
    return {"seconds": float(seconds), "peak_rss_mib": float(rss or 0), "out": out, "raw": figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-feast", action="store_true")
    parser.add_argument("--no-large", action="store_true", help="skip the 10x entity frame")
    args = parser.parse_args()
    data = ensure_data(args.preset)
    work = Path(tempfile.mkdtemp(prefix="pitbench-hist"))
    rows = []
    for label, views in VIEW_SETS.items():
        columns = [f for v in views for f in VIEWS[v][1]]
        results = {case: measure(case, data, views, args.runs, work) for case in CASES}
        if not args.no_feast:
            feast = measure_feast(data, views, args.runs, work)
            if feast:
                results["feast 0.67 (duckdb store)"] = feast
        fastest_ref = min(
            results["duckdb ASOF (raw)"]["seconds"], results["polars join_asof"]["seconds"]
        )
        for case, figures in results.items():
            diff = (
                0
                if case == "pitstore"
                else compare(results["pitstore"]["out"], figures["out"], columns)
            )
            rows.append(
                [
                    label,
                    case,
                    figures["seconds"],
                    figures["seconds"] / fastest_ref,
                    figures["peak_rss_mib"],
                    diff,
                ]
            )
    print(
        f"\nHistorical retrieval, preset {args.preset}, median of {args.runs} runs "
        f"(ratio = time / fastest hand-written reference; diff = rows differing from pitstore)\n"
    )
    print(table(["views", "engine", "seconds", "ratio", "peak RSS MiB", "rows differing"], rows))
    if not args.no_large:
        large = ensure_large_entities(data)
        figures = measure("pitstore", data, list(VIEWS), 1, work, large, memory="4GB")
        print(
            f"\n10x entity frame ({large}), two views, memory_limit=4GB, to_parquet: "
            f"{figures['seconds']:.1f} s, peak RSS {figures['peak_rss_mib']:,.0f} MiB"
        )


def ensure_large_entities(data: Path) -> str:
    """A 10x entity frame: the medium one repeated with shifted request ids."""
    name = "entity_df_10x.parquet"
    if not (data / name).exists():
        import duckdb

        duckdb.sql(
            f"COPY (SELECT request_id + i * 100000000 AS request_id, driver_id, customer_id, "
            f"event_timestamp FROM read_parquet('{data / 'entity_df.parquet'}'), range(10) t(i)) "
            f"TO '{data / name}' (FORMAT parquet)"
        )
    return name


def worker() -> None:
    _, _, case, data, views, out, entities, memory = sys.argv
    CASES[case](Path(data), views.split(","), Path(out), entities, memory or None)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_worker":
        worker()
    else:
        main()
