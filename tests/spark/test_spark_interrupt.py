"""``SparkEngine.interrupt(thread)`` cancels that thread's jobs and leaves every other's running.

Materialization reads the next view ahead in a thread and interrupts it when the run fails;
``cancelAllJobs`` also killed the queries of every other thread on the shared session.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest

import pitstore.offline.spark.engine as engine_module
from offline.helpers import BASE, at, ts_array, view, write_parquet
from pitstore.errors import PitstoreError
from pitstore.offline.base import ViewQuery
from pitstore.offline.spark import SparkEngine
from pitstore.offline.spark.sources import ParquetFrame

pytestmark = pytest.mark.spark

I64 = pa.int64()
SLEEP_MS = 500
"""Each source row of the test views takes this long to scan (the task checks for a kill
between rows, so a cancelled scan stops within one row)."""


def _source(tmp_path: Path, rows: int, value: float) -> str:
    """``rows`` rows of key 1, the last (read last, so the tie winner) with ``value``."""
    table = pa.table(
        {
            "k": pa.array([1] * rows, I64),
            "ts": ts_array([at(10)] * rows, "UTC"),
            "created": ts_array([at(10)] * rows, "UTC"),
            "val": pa.array([0.0] * (rows - 1) + [value], pa.float64()),
        }
    )
    return write_parquet(tmp_path, table)


def _slow_scans(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the engine's latest() scan sleep :data:`SLEEP_MS` per source row (in the JVM)."""
    from pyspark.sql import functions as F

    real = engine_module.latest_rows
    sleep = F.expr(f"java_method('java.lang.Thread', 'sleep', {SLEEP_MS}L) IS NOT NULL")

    def slow(source: ParquetFrame, v: ViewQuery, lo: int, hi: int) -> object:
        return real(dataclasses.replace(source, frame=source.frame.where(sleep)), v, lo, hi)

    monkeypatch.setattr(engine_module, "latest_rows", slow)


def _wait_for_jobs(engine: SparkEngine, count: int, timeout: float) -> None:
    tracker = engine.session().sparkContext.statusTracker()
    deadline = time.monotonic() + timeout
    while len(tracker.getActiveJobsIds()) < count:
        assert time.monotonic() < deadline, f"{count} Spark jobs never ran at once"
        time.sleep(0.05)


def test_interrupt_cancels_only_the_given_threads_jobs(
    tmp_path: Path, spark_engine: SparkEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _slow_scans(monkeypatch)
    slow = view("slow", _source(tmp_path, 400, 1.0), [("k", I64)], [("val", pa.float64())])
    quick = view("quick", _source(tmp_path, 16, 2.0), [("k", I64)], [("val", pa.float64())])
    window = (BASE, BASE + timedelta(hours=1))
    results: dict[str, object] = {}

    def run(v: ViewQuery) -> None:
        try:
            results[v.name] = spark_engine.latest(v, *window).read_all()
        except Exception as exc:  # checked below
            results[v.name] = exc

    threads = {v.name: threading.Thread(target=run, args=(v,)) for v in (slow, quick)}
    for thread in threads.values():
        thread.start()
    _wait_for_jobs(spark_engine, 2, timeout=60)  # the quick scan takes 8 s: both still run

    began = time.monotonic()
    spark_engine.interrupt(threads["slow"].ident)
    threads["slow"].join(timeout=30)
    assert not threads["slow"].is_alive()
    assert time.monotonic() - began < 30  # cancelled, not run to its end (200 s)
    assert isinstance(results["slow"], PitstoreError), results["slow"]
    assert "cancel" in str(results["slow"]).lower()

    threads["quick"].join(timeout=60)
    assert not threads["quick"].is_alive()
    got = results["quick"]
    assert isinstance(got, pa.Table), got  # cancelAllJobs failed this one too
    assert got["val"].to_pylist() == [2.0]


def test_engine_calls_leave_no_tag_on_the_thread(tmp_path: Path, spark_engine: SparkEngine) -> None:
    # the tags are the engine's for the length of a call: the caller's own jobs go untagged
    v = view("v", _source(tmp_path, 2, 1.0), [("k", I64)], [("val", pa.float64())])
    entities = pa.table({"k": pa.array([1], I64), "event_timestamp": ts_array([at(20)], "UTC")})
    spark_engine.latest(v, BASE, BASE + timedelta(hours=1)).read_all()
    assert spark_engine.historical(entities, [v]).to_pandas()["val"].tolist() == [1.0]
    assert not set(spark_engine.session().sparkContext.getJobTags())
