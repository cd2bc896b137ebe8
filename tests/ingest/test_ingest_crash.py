"""Crashes and stops of a real consumer process: nothing lost, nothing rolled back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from ingest_helpers import RedisTopic, Topic, stream_repo
from pitstore.ingest.run import build_consumer
from push_helpers import T0, event, logged_rows, online

SOURCE = "driver_stream"
GROUP = "pitstore_" + SOURCE
HERE = Path(__file__).parent


def crash_after_write(repo: Path, consumer: str) -> str:
    """Run a consumer process that is SIGKILLed between its first write and its ack."""
    done = subprocess.run(
        [sys.executable, str(HERE / "crash_consumer.py"), str(repo), SOURCE, consumer],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    return done.stdout


@pytest.mark.parametrize("restart_as", ["same", "other"])
def test_kill_between_write_and_ack_loses_nothing(
    tmp_path: Path, topic: Topic, restart_as: str
) -> None:
    if topic.kind == "nats" and restart_as == "other":
        pytest.skip("NATS has one durable consumer: a restart is the same consumer")
    first = [event(d, m, conv=round(d + m / 100, 4)) for m in range(3) for d in range(1, 11)]
    topic.send_rows(first)
    store = stream_repo(tmp_path, topic)
    try:
        assert crash_after_write(tmp_path, "c1") == f"wrote {len(first)}\n"
        # Written, not acknowledged: the log and the online store have the batch...
        assert len(logged_rows(tmp_path, SOURCE)) == len(first)
        assert online(store, [3])["conv_rate"] == [3.02]
        assert topic.pending(GROUP) == len(first)
        # ...then a newer value arrives by another path, and more events on the topic.
        store.push(SOURCE, [event(1, 45, conv=0.99)], to="online")
        second = [event(d, 10, conv=round(d + 0.5, 4)) for d in range(2, 11)]
        topic.send_rows(second)
        time.sleep(0.4)  # let the dead consumer's entries go idle (Redis claim_idle_ms=300)
        consumer = build_consumer(
            store,
            SOURCE,
            consumer="c1" if restart_as == "same" else "c2",
            max_messages=len(first) + len(second),
            idle_exit_s=5,
        )
        totals = consumer.run()
        consumer.broker.close()
        assert totals.messages == len(first) + len(second)
        ids = [r["_pitstore_message_id"] for r in logged_rows(tmp_path, SOURCE)]
        assert len(ids) == len(set(ids)) == len(first) + len(second)  # every event once
        got = online(store, list(range(1, 11)), T0 + timedelta(minutes=59))
        assert got["conv_rate"][0] == 0.99  # the replay did not roll driver 1 back
        assert got["conv_rate"][1:] == [round(d + 0.5, 4) for d in range(2, 11)]
        assert got["trips_count_1h"] == [4] + [4] * 9  # replayed events counted once
        assert topic.pending(GROUP) == 0
    finally:
        store.close()


def test_sigterm_finishes_the_batch_and_exits(tmp_path: Path, redis_topic: RedisTopic) -> None:
    store = stream_repo(tmp_path, redis_topic)
    store.close()
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "pitstore"), "ingest", SOURCE, "--repo", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        assert "Ingesting" in process.stdout.readline()
        redis_topic.send_rows([event(d, 1) for d in range(1, 51)])
        deadline = time.monotonic() + 20
        while redis_topic.pending(GROUP) or len(logged_rows(tmp_path, SOURCE)) < 50:
            assert time.monotonic() < deadline, "the consumer did not ingest the rows"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "Ingested 50 messages" in out
    assert redis_topic.pending(GROUP) == 0
