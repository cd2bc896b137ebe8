"""The stream consumer against real brokers (Redis Streams and NATS JetStream)."""

from __future__ import annotations

import random
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingest_helpers import NatsTopic, Topic, stream_repo
from pitstore import FeatureStore
from pitstore.errors import StoreUnavailableError
from pitstore.ingest.consumer import Consumer, IngestSettings
from pitstore.ingest.dead_letter import read_dead_letters
from pitstore.ingest.nats_jetstream import NatsBroker
from pitstore.ingest.run import build_consumer, stream_source
from push_helpers import BATCH_SCHEMA, T0, event, logged_rows, online

SOURCE = "driver_stream"


def consume(store: FeatureStore, **options: object) -> object:
    """Run a consumer until the topic is drained (idle for a moment)."""
    options = {"idle_exit_s": 0.5, "batch_size": 50, "max_wait_ms": 20, **options}
    consumer = build_consumer(store, SOURCE, **options)  # type: ignore[arg-type]
    try:
        return consumer.run()
    finally:
        consumer.broker.close()


def latest_conv(events: list[dict[str, object]]) -> dict[int, float]:
    """The conv_rate of each driver's latest event (ties: the later message wins)."""
    best: dict[int, tuple[str, float]] = {}
    for e in events:
        key, ts, conv = e["driver_id"], e["event_timestamp"], e["conv_rate"]
        assert isinstance(key, int) and isinstance(ts, str) and isinstance(conv, float)
        if key not in best or ts >= best[key][0]:
            best[key] = (ts, conv)
    return {k: v for k, (_, v) in best.items()}


def test_every_event_once_offline_latest_online(tmp_path: Path, topic: Topic) -> None:
    rng = random.Random(8)
    # minutes are shuffled: out-of-order and late events, several per driver
    events = [
        event(d, rng.randrange(0, 50) + rng.random(), conv=round(rng.random(), 6), trips=1)
        for d in range(1, 21)
        for _ in range(10)
    ]
    topic.send_rows(events)
    store = stream_repo(tmp_path, topic)
    try:
        totals = consume(store)
        assert totals.written == len(events) and totals.dead_lettered == 0  # type: ignore[attr-defined]
        expected = latest_conv(events)
        got = online(store, sorted(expected), T0 + timedelta(minutes=59))
        assert dict(zip(sorted(expected), got["conv_rate"], strict=True)) == expected
        assert got["trips_count_1h"] == [10] * 20
        ids = [r["_pitstore_message_id"] for r in logged_rows(tmp_path, SOURCE)]
        assert len(ids) == len(events) == len(set(ids))
        assert topic.pending("pitstore_" + SOURCE) == 0
    finally:
        store.close()


def test_late_events_are_logged_but_do_not_roll_back(tmp_path: Path, topic: Topic) -> None:
    store = stream_repo(tmp_path, topic)
    try:
        topic.send_rows([event(1, 30, conv=0.9)])
        consume(store)
        topic.send_rows([event(1, 10, conv=0.1), event(1, 20, conv=0.2)])  # late
        consume(store)
        assert online(store, [1])["conv_rate"] == [0.9]
        assert len(logged_rows(tmp_path, SOURCE)) == 3
    finally:
        store.close()


def test_poison_messages_are_dead_lettered_and_the_rest_written(
    tmp_path: Path, topic: Topic
) -> None:
    store = stream_repo(tmp_path, topic)
    try:
        topic.send_rows([event(1, 1, conv=0.1)])
        topic.send([b"{not json", b"[1, 2]", b"\xff\xfe"])
        topic.send_rows([{**event(2, 1), "trips": "many"}, event(3, 1, conv=0.3)])
        totals = consume(store)
        assert totals.written == 2 and totals.dead_lettered == 4  # type: ignore[attr-defined]
        assert online(store, [1, 2, 3])["conv_rate"] == [0.1, None, 0.3]
        root = tmp_path / "data" / "_pushed" / SOURCE / "_dead_letter"
        records = read_dead_letters(root)
        reasons = sorted(r["reason"] for r in records)
        assert len(records) == 4
        assert any("not JSON" in r for r in reasons)
        assert any("one JSON object" in r for r in reasons)
        assert any("'trips'" in r and "row" in r for r in reasons)
        binary = [r for r in records if "payload_base64" in r]
        assert len(binary) == 1 and binary[0]["broker"] == topic.kind
        assert topic.pending("pitstore_" + SOURCE) == 0  # poison is acked: nothing blocks
    finally:
        store.close()


def test_aggregated_view_is_fresh_after_each_batch(tmp_path: Path, topic: Topic) -> None:
    store = stream_repo(tmp_path, topic)
    try:
        topic.send_rows([event(5, 1, trips=2), event(5, 2, trips=3)])
        consume(store)
        assert online(store, [5])["trips_sum_1h"] == [5]
        topic.send_rows([event(5, 3, trips=10)])
        consume(store, batch_size=1)
        assert online(store, [5])["trips_sum_1h"] == [15]
    finally:
        store.close()


def test_metrics_are_exported(tmp_path: Path, redis_topic: Topic) -> None:
    from prometheus_client import generate_latest

    store = stream_repo(tmp_path, redis_topic)
    try:
        redis_topic.send_rows([event(1, 1), event(2, 1)])
        redis_topic.send([b"nope"])
        consumer = build_consumer(store, SOURCE, idle_exit_s=0.3)
        consumer.run()
        consumer.broker.close()
        text = generate_latest(consumer.metrics.registry).decode()
        assert (
            'pitstore_ingest_messages_total{outcome="written",source="driver_stream"} 2.0' in text
        )
        assert 'outcome="dead_letter",source="driver_stream"} 1.0' in text
        assert 'pitstore_ingest_lag_messages{source="driver_stream"} 0.0' in text
        assert "pitstore_ingest_freshness_seconds" in text
    finally:
        store.close()


def test_a_push_source_cannot_be_ingested(tmp_path: Path) -> None:
    from pitstore.errors import DefinitionError, NotFoundError
    from push_helpers import make_repo, push_source

    store = make_repo(tmp_path, push_source())
    try:
        with pytest.raises(DefinitionError, match="not a stream source"):
            build_consumer(store, "driver_push")
        with pytest.raises(NotFoundError):
            build_consumer(store, "nope")
    finally:
        store.close()


def test_unknown_broker_name_is_a_config_error(tmp_path: Path) -> None:
    from pitstore.errors import ConfigError
    from push_helpers import make_repo, stream_source

    store = make_repo(tmp_path, stream_source("kafka_main", "t"))
    try:
        with pytest.raises(ConfigError, match="brokers"):
            build_consumer(store, SOURCE)
    finally:
        store.close()


def test_a_retried_write_logs_and_counts_each_event_once(
    tmp_path: Path, redis_topic: Topic, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = stream_repo(tmp_path, redis_topic)
    try:
        write = store.online.write
        failed: list[str] = []

        def flaky(view: str, batch: object) -> int:
            if view == "driver_stats" and not failed:  # after the log and a first view
                failed.append(view)
                raise StoreUnavailableError("a dropped connection")
            return write(view, batch)  # type: ignore[arg-type]

        monkeypatch.setattr(store.online, "write", flaky)
        redis_topic.send_rows([event(1, minute, trips=1) for minute in range(3)])
        consume(store)
        assert failed  # the first attempt did fail half-way
        assert len(logged_rows(tmp_path, SOURCE)) == 3
        assert online(store, [1], T0 + timedelta(minutes=59))["trips_count_1h"] == [3]
    finally:
        store.close()


def test_a_time_finer_than_the_batch_file_is_dead_lettered_not_a_stall(
    tmp_path: Path, topic: Topic
) -> None:
    store = stream_repo(tmp_path, topic)
    # The batch file stores event times in milliseconds: the log keeps its types.
    schema = BATCH_SCHEMA.set(1, pa.field("event_timestamp", pa.timestamp("ms")))
    pq.write_table(schema.empty_table(), tmp_path / "data" / "drivers.parquet")
    finer = event(2, 2)
    finer["event_timestamp"] = (T0 + timedelta(minutes=2, microseconds=123)).isoformat()
    try:
        topic.send_rows([event(1, 1, conv=0.1), finer, event(3, 3, conv=0.3)])
        totals = consume(store)
        assert totals.written == 2 and totals.dead_lettered == 1  # type: ignore[attr-defined]
        assert online(store, [1, 2, 3])["conv_rate"] == [0.1, None, 0.3]
        assert sorted(r["driver_id"] for r in logged_rows(tmp_path, SOURCE)) == [1, 3]
        (record,) = read_dead_letters(tmp_path / "data" / "_pushed" / SOURCE / "_dead_letter")
        assert "row 1" in record["reason"] and "'event_timestamp'" in record["reason"]
        assert "whole ms" in record["reason"]
        assert topic.pending("pitstore_" + SOURCE) == 0  # nothing left to retry forever
    finally:
        store.close()


def test_a_redelivery_in_the_same_batch_is_logged_and_counted_once(
    tmp_path: Path, nats_topic: NatsTopic, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A slow write (longer than the ack wait): while it runs, the pull still open brings a new
    # message and then, the ack wait over, copies of both. Both copies of a message then sit
    # in the next batch, and the log's replay check looks only at files already written.
    nats_topic.config["ack_wait_s"] = 0.5
    store = stream_repo(tmp_path, nats_topic)
    source = stream_source(store, SOURCE)
    broker = NatsBroker(nats_topic.url, nats_topic.name, source.group, ack_wait_s=0.5)
    push = store.push
    batches: list[object] = []

    def slow_push(name: str, rows: object, to: str, **kwargs: Any) -> object:
        batches.append(rows)
        if len(batches) == 1:
            nats_topic.send_rows([event(2, 1, trips=1)])
            time.sleep(1.5)
        return push(name, rows, to, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "push", slow_push)
    nats_topic.send_rows([event(1, 0, trips=1)])
    settings = IngestSettings(batch_size=10, max_wait_s=0.05, poll_s=2.0, idle_exit_s=3.0)
    try:
        Consumer(store, source, broker, settings).run()
        ids = [r["_pitstore_message_id"] for r in logged_rows(tmp_path, SOURCE)]
        assert sorted(ids) == sorted(set(ids)) and len(ids) == 2
        frame = pa.table({"driver_id": [1, 2], "event_timestamp": [T0 + timedelta(minutes=30)] * 2})
        counts = store.get_historical_features(frame, ["driver_activity:trips_count_1h"]).to_arrow()
        assert counts["trips_count_1h"].to_pylist() == [1, 1]
        assert online(store, [1, 2], T0 + timedelta(minutes=30))["trips_count_1h"] == [1, 1]
    finally:
        broker.close()
        store.close()
