#!/usr/bin/env python3
"""Benchmark: the HTTP feature server, ``pitstore serve`` vs ``feast serve`` (Feast 0.67).

    .venv/bin/python bench/run_server.py [--preset small] [--store sqlite|redis|postgres]
        [--workers 1] [--engines uvicorn,granian] [--offload-reads auto,false,true]
        [--calls 2000] [--seconds 8] [--rate auto|N] [--no-feast] [--out FILE.md]

Both servers serve the same Parquet data (bench/setup_data.sh), materialized into their online
stores (``--store``: each its own SQLite file, or both the same Redis server, database 14, under
a fresh key prefix / Feast project that is deleted afterwards; ``postgres``: pitstore only, in
a fresh schema of the ``test`` database, dropped afterwards), on loopback only, with the same
number of worker processes. pitstore is measured once per HTTP server (``--engines``,
``server.engine``) and per ``server.offload_reads`` value (``--offload-reads``, default: the
config's default only), all in the same run as Feast. Measured per server:

1. start-up: from spawning the process to the first 200 from /health;
2. sequential latency (p50/p99), one keep-alive connection from this process (stdlib
   http.client, so the client adds little): 1 entity x 3 features, 100 entities x 6 features
   from 2 views, after 200 warm-up requests;
3. throughput and latency under load from a separate process, ``wrk`` (apt package) with a
   Lua script cycling through 100 request bodies: 8 and 64 connections as fast as the server
   answers (its throughput; at 64 a request's latency is mostly its wait behind the other 63),
   then 64 connections offering at most ``--rate`` requests per second in all, each pausing
   a random 0 to 2 x 64/rate seconds between its requests (latency under a bounded load, from
   clients that do not act in step); ``--seconds`` each. The rate is by default half of what
   the first server (pitstore) served at 64 connections, offered to every server alike: a
   fixed 4,000/s was well below capacity on one machine and at capacity on a slower one,
   where its p99 measured the queue rather than the server;
4. the status of bad bodies (unknown feature, ragged entity lists).

pitstore's views have no TTL here, so values read as PRESENT (Feast 0.67 does not apply TTLs
online; the data ends in 2024). Feast runs with access log off and worker recycling off
(``--max-requests 0``), its fastest settings. The machine is shared: numbers are noisy.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    FEAST_PY,
    REDIS_URL,
    drop_online_data,
    ensure_data,
    ensure_feast,
    load_averages,
    online_config,
    redis_unlink,
    table,
    unique_name,
)

BENCH = Path(__file__).resolve().parent
PITSTORE = Path(sys.executable).parent / "pitstore"
FEAST = FEAST_PY.parent / "feast"
WARMUP = 200
D3 = ["driver_stats:conv_rate", "driver_stats:acc_rate", "driver_stats:avg_daily_trips"]
D6 = [*D3, "customer_stats:avg_rating", "customer_stats:lifetime_trips", "customer_stats:avg_spend"]

FEATURES_PY = """
from pitstore import Entity, FeatureView, Field, Float32, Float64, Int64, ParquetSource

driver = Entity("driver", join_keys=["driver_id"], dtype=Int64)
customer = Entity("customer", join_keys=["customer_id"], dtype=Int64)
driver_stats = FeatureView(
    "driver_stats", [driver],
    [Field("conv_rate", Float32), Field("acc_rate", Float32), Field("avg_daily_trips", Int64)],
    ParquetSource("{data}/driver_stats.parquet", created_timestamp_field="created"),
)
customer_stats = FeatureView(
    "customer_stats", [customer],
    [Field("avg_rating", Float32), Field("lifetime_trips", Int64), Field("avg_spend", Float64)],
    ParquetSource("{data}/customer_stats.parquet", created_timestamp_field="created"),
)
"""

FEAST_SETUP = """
import sys
from pathlib import Path
sys.path.insert(0, {bench!r})
from feast_baseline import Online, build_repo, load_meta, materialize_range
store = build_repo(Path({repo!r}), Path({data!r}), Online({kind!r}, project={project!r}))
start, end = materialize_range(load_meta(Path({data!r})))
store.materialize(start_date=start, end_date=end)
"""


# --- set-up -------------------------------------------------------------------------------


def pitstore_repo(data: Path, repo: Path, kind: str, name: str) -> None:
    from pitstore import FeatureStore
    from pitstore.store.materialize import BEGINNING
    from pitstore.timeutil import utcnow

    repo.mkdir(parents=True)
    config: dict[str, Any] = {"project": "bench"}
    if online := online_config(kind, name):
        config["online_store"] = online
    (repo / "pitstore.yaml").write_text(json.dumps(config, indent=2) + "\n")  # JSON is YAML
    (repo / "features.py").write_text(FEATURES_PY.format(data=data))
    with FeatureStore(repo) as store:
        store.apply()
        store.materialize(BEGINNING, utcnow())


def feast_repo(data: Path, repo: Path, kind: str, project: str) -> None:
    script = FEAST_SETUP.format(
        bench=str(BENCH), repo=str(repo), data=str(data), kind=kind, project=project
    )
    subprocess.run([str(FEAST_PY), "-c", script], check=True, capture_output=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(command: list[str], port: int, cwd: Path) -> Iterator[float]:
    """Run a server; yield its start-up time; stop it with SIGTERM (SIGKILL after 20 s)."""
    began = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited with {process.returncode}")
            if time.perf_counter() - began > 60:
                raise RuntimeError(f"{command[0]} did not start in 60 s")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                connection.request("GET", "/health")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.02)
        yield time.perf_counter() - began
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# --- requests -----------------------------------------------------------------------------


def bodies(meta: dict[str, Any], count: int, seed: int) -> tuple[list[bytes], list[bytes]]:
    """``count`` 1x3 bodies and ``count`` 100x6 bodies over keys that exist."""
    rng = random.Random(seed)
    d_lo, d_hi = meta["driver_id_range"]
    c_lo, c_hi = meta["customer_id_range"]
    small = [
        json.dumps({"features": D3, "entities": {"driver_id": [rng.randint(d_lo, d_hi)]}})
        for _ in range(count)
    ]
    big = [
        json.dumps(
            {
                "features": D6,
                "entities": {
                    "driver_id": [rng.randint(d_lo, d_hi) for _ in range(100)],
                    "customer_id": [rng.randint(c_lo, c_hi) for _ in range(100)],
                },
            }
        )
        for _ in range(count)
    ]
    return [b.encode() for b in small], [b.encode() for b in big]


def post(connection: http.client.HTTPConnection, body: bytes) -> tuple[int, bytes]:
    connection.request("POST", "/get-online-features", body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    return response.status, response.read()


def sequential(port: int, requests: list[bytes], calls: int) -> tuple[float, float, float]:
    """p50 and p99 in ms, and the share of PRESENT statuses, over ``calls`` requests."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for i in range(WARMUP):
        post(connection, requests[i % len(requests)])
    samples = []
    for i in range(calls):
        began = time.perf_counter()
        status, _ = post(connection, requests[i % len(requests)])
        samples.append(time.perf_counter() - began)
        assert status == 200, status
    _, last = post(connection, requests[0])
    statuses = [s for r in json.loads(last)["results"][1:] for s in r["statuses"]]
    connection.close()
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    present = statuses.count("PRESENT") / max(1, len(statuses))
    return statistics.median(samples) * 1000, p99 * 1000, present


WRK_LUA = """
local bodies = {{}}
for line in io.lines("{path}") do bodies[#bodies + 1] = line end
local i = 0
{delay}request = function()
  i = i % #bodies + 1
  return wrk.format("POST", "/get-online-features",
    {{["Content-Type"] = "application/json"}}, bodies[i])
end
"""


def load(
    port: int, requests: list[bytes], connections: int, seconds: int, rate: int | None = None
) -> dict[str, Any]:
    """wrk, bounded in time (and with ``rate``, in requests per second): requests/s, p50/p99
    ms and non-2xx responses."""
    # wrk's delay(): the milliseconds a connection waits before its next request, drawn at
    # random around the mean 1000 * connections / rate. A fixed pause would keep connections
    # in step: all 64 would ask at once, then all wait (bursts, not independent clients).
    mean_ms = 0 if rate is None else connections * 1000 // rate
    pause = "" if rate is None else f"delay = function() return math.random(0, {2 * mean_ms}) end\n"
    with tempfile.TemporaryDirectory() as tmp:
        lines = Path(tmp) / "bodies.txt"
        lines.write_bytes(b"\n".join(requests) + b"\n")
        script = Path(tmp) / "post.lua"
        script.write_text(WRK_LUA.format(path=lines, delay=pause))
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{seconds}s",
                "--timeout",
                "5s",
                "--latency",
                "-s",
                str(script),
                f"http://127.0.0.1:{port}/get-online-features",
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            check=True,
        ).stdout
    served = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": served,
        "p50": _wrk_ms(out, "50%"),
        "p99": _wrk_ms(out, "99%"),
        "non2xx": int(errors.group(1)) if errors else 0,
    }


def _wrk_ms(out: str, label: str) -> float:
    value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def bad_bodies(port: int) -> dict[str, int | str]:
    """The status of each bad body (a fresh connection each: a server may drop it)."""
    cases = {
        "unknown feature": {"features": ["driver_stats:nope"], "entities": {"driver_id": [1]}},
        "ragged entities": {"features": D6, "entities": {"driver_id": [1, 2], "customer_id": [1]}},
        "string key": {"features": D3, "entities": {"driver_id": ["x"]}},
    }
    result: dict[str, int | str] = {}
    for name, body in cases.items():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            result[name] = post(connection, json.dumps(body).encode())[0]
        except OSError as exc:
            result[name] = type(exc).__name__
        finally:
            connection.close()
    return result


# --- one server ---------------------------------------------------------------------------


def measure(
    name: str, command: list[str], port: int, cwd: Path, meta: dict[str, Any], args: Any
) -> dict[str, Any]:
    small, big = bodies(meta, 100, seed=7)
    with server(command, port, cwd) as startup:
        result: dict[str, Any] = {"server": name, "startup_s": startup}
        result["seq_1x3"] = sequential(port, small, args.calls)
        result["seq_100x6"] = sequential(port, big, max(200, args.calls // 4))
        for connections in (8, 64):
            result[f"load_{connections}"] = load(port, small, connections, args.seconds)
        if args.rate == "auto":  # the first server measured sets it for all
            args.rate = bounded_rate(result["load_64"]["rps"])
        result["load_bounded"] = load(port, small, 64, args.seconds, args.rate)
        result["bad"] = bad_bodies(port)
    print(json.dumps(result), file=sys.stderr)
    return result


def bounded_rate(capacity: float) -> int:
    """The offered rate of the bounded level: half of ``capacity`` (req/s at 64 connections),
    in hundreds. A fixed rate would measure queueing on a machine where it is near capacity."""
    return max(100, int(capacity / 2) // 100 * 100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--store", choices=["sqlite", "redis", "postgres"], default="sqlite")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument(
        "--rate",
        type=lambda v: v if v == "auto" else int(v),
        default="auto",
        help="requests/s offered by the bounded load level (default auto: half of what the "
        "first server measured served at 64 connections, the same for every server)",
    )
    parser.add_argument("--no-feast", action="store_true")
    parser.add_argument("--no-pitstore", action="store_true")
    parser.add_argument(
        "--engines", default="uvicorn,granian", help="pitstore's HTTP servers to measure"
    )
    parser.add_argument(
        "--offload-reads",
        default="",
        help="server.offload_reads values to measure pitstore with, comma-separated (auto, "
        "false, true; default: the config's default only)",
    )
    parser.add_argument("--out", type=Path, help="also write the table to this Markdown file")
    args = parser.parse_args()
    if args.store == "postgres" and not args.no_feast:
        print("Feast's baseline has no PostgreSQL online store here: pitstore only")
        args.no_feast = True
    args.load_before = load_averages()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")
    data = ensure_data(args.preset)
    meta = json.loads((data / "meta.json").read_text())
    work = Path(tempfile.mkdtemp(prefix="pitbench-server-"))
    results = []
    name = unique_name("pitbench")  # pitstore's key prefix, Feast's project (Redis)
    try:
        if not args.no_pitstore:
            repo = work / "pitstore"
            pitstore_repo(data, repo, args.store, name)
            for offload in args.offload_reads.split(","):
                if offload:
                    offload_reads(repo, offload)
                for engine in args.engines.split(","):
                    label = f"{engine}, offload_reads {offload}" if offload else engine
                    results.append(run_pitstore(repo, engine, label, meta, args))
        if not args.no_feast and ensure_feast():
            results.append(run_feast(data, work / "feast", name, meta, args))
    finally:
        drop_online_data(args.store, name)
        if args.store == "redis":
            redis_unlink(REDIS_URL, b"*" + name.encode())  # Feast's keys end with the project
        shutil.rmtree(work, ignore_errors=True)
    report(results, args)


def offload_reads(repo: Path, value: str) -> None:
    """Set ``server.offload_reads`` in the repo's config (auto, false or true)."""
    if value not in ("auto", "false", "true"):
        raise SystemExit(f"--offload-reads: {value!r} is not auto, false or true")
    path = repo / "pitstore.yaml"
    config = json.loads(path.read_text())  # written as JSON by pitstore_repo
    config["server"] = {"offload_reads": value if value == "auto" else value == "true"}
    path.write_text(json.dumps(config, indent=2) + "\n")


def run_pitstore(repo: Path, engine: str, label: str, meta: dict[str, Any], args: Any) -> Any:
    port = free_port()
    command = [str(PITSTORE), "serve", "--repo", str(repo), "--port", str(port)]
    command += ["--workers", str(args.workers), "--engine", engine]
    return measure(f"pitstore ({label})", command, port, repo, meta, args)


def run_feast(data: Path, repo: Path, name: str, meta: dict[str, Any], args: Any) -> Any:
    feast_repo(data, repo, args.store, name)
    port = free_port()
    command = [str(FEAST), "-c", str(repo), "serve", "-h", "127.0.0.1", "-p", str(port)]
    command += ["--workers", str(args.workers), "--no-access-log", "--max-requests", "0"]
    return measure("feast 0.67", command, port, repo, meta, args)


def report(results: list[dict[str, Any]], args: Any) -> None:
    headers = ["metric", *(r["server"] for r in results)]
    rows: list[list[Any]] = [
        ["start-up s", *(r["startup_s"] for r in results)],
        ["sequential 1x3 p50 ms", *(r["seq_1x3"][0] for r in results)],
        ["sequential 1x3 p99 ms", *(r["seq_1x3"][1] for r in results)],
        ["sequential 100x6 p50 ms", *(r["seq_100x6"][0] for r in results)],
        ["sequential 100x6 p99 ms", *(r["seq_100x6"][1] for r in results)],
    ]
    levels = [("8", "8 conns"), ("64", "64 conns"), ("bounded", f"64 conns <= {args.rate}/s")]
    for level, label in levels:
        rows += [
            [f"load 1x3, {label}: req/s", *(r[f"load_{level}"]["rps"] for r in results)],
            [f"load 1x3, {label}: p50 ms", *(r[f"load_{level}"]["p50"] for r in results)],
            [f"load 1x3, {label}: p99 ms", *(r[f"load_{level}"]["p99"] for r in results)],
            [f"load 1x3, {label}: non-2xx", *(r[f"load_{level}"]["non2xx"] for r in results)],
        ]
    for case in results[0]["bad"]:
        rows.append([f"status for {case}", *(r["bad"][case] for r in results)])
    rows.append(["share PRESENT (100x6)", *(f"{r['seq_100x6'][2]:.0%}" for r in results)])
    text = (
        f"Feature server, preset {args.preset}, {args.workers} worker(s) each, {args.store} "
        f"online store, loopback; wrk -t1, {args.seconds} s per load level; {os.cpu_count()} "
        f"shared cores (load averages 1/5/15 min: before {args.load_before}, after "
        f"{load_averages()})\n\n" + table(headers, rows)
    )
    print("\n" + text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
