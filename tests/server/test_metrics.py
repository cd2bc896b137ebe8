"""The server's metrics, read back through Prometheus' own text parser: every bucket counts
the observations at or under its bound (checked against a plain count), counters count."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from pitstore.server.metrics import Metrics

seconds = st.floats(min_value=0, max_value=10, allow_nan=False) | st.sampled_from(
    [0.0001, 0.00025, 0.001, 2.5]  # on the bounds
)


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.render().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), seconds), max_size=40))
def test_latency_buckets_count_what_is_at_or_under_them(observed: list[tuple[str, float]]) -> None:
    metrics = Metrics(lambda: 0.0, lambda: 1.0)
    for endpoint, value in observed:
        metrics.request(endpoint, 200, value)
    got = samples(metrics)
    name = "pitstore_http_request_duration_seconds"
    for endpoint in {e for e, _ in observed}:
        mine = [v for e, v in observed if e == endpoint]
        for bound in ("0.0001", "0.00025", "0.001", "0.1", "2.5", "+Inf"):
            key = (f"{name}_bucket", (("endpoint", endpoint), ("le", bound)))
            assert got[key] == sum(1 for v in mine if v <= float(bound))
        assert got[(f"{name}_count", (("endpoint", endpoint),))] == len(mine)
        assert abs(got[(f"{name}_sum", (("endpoint", endpoint),))] - sum(mine)) < 1e-9
        status = (("endpoint", endpoint), ("status", "200"))
        assert got[("pitstore_http_requests_total", status)] == len(mine)


def test_errors_store_and_gauges() -> None:
    metrics = Metrics(lambda: 4.5, lambda: 7.0)
    metrics.error("not_found")
    metrics.error("not_found")
    metrics.store("read", 0.0002)
    got = samples(metrics)
    assert got[("pitstore_http_errors_total", (("code", "not_found"),))] == 2
    assert got[("pitstore_store_duration_seconds_count", (("operation", "read"),))] == 1
    assert got[("pitstore_registry_refresh_age_seconds", ())] == 4.5
    assert got[("pitstore_registry_revision", ())] == 7.0


Event = tuple[str, str, float]  # (kind, label, seconds)
events = st.lists(
    st.tuples(
        st.sampled_from(["request", "online", "store", "error"]), st.sampled_from("ab"), seconds
    ),
    max_size=30,
)


def _observe(metrics: Metrics, observed: list[Event]) -> None:
    for kind, label, value in observed:
        if kind == "request":
            metrics.request(label, 200, value)
        elif kind == "online":
            metrics.online(label, value)
        elif kind == "store":
            metrics.store(label, value)
        else:
            metrics.error(label)


def _without_gauges(got: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> dict[Any, float]:
    gauges = ("pitstore_registry", "pitstore_server_workers")
    return {k: v for k, v in got.items() if not k[0].startswith(gauges)}


@settings(max_examples=30, deadline=None)
@given(st.lists(events, min_size=1, max_size=3), events)
def test_a_scrape_adds_up_the_other_workers(others: list[list[Event]], mine: list[Event]) -> None:
    """One worker's scrape with the others' snapshots in the share directory equals one
    process that saw every observation (counters, buckets, counts and sums)."""
    with tempfile.TemporaryDirectory() as tmp:
        share = Path(tmp)
        for number, observed in enumerate(others):
            other = Metrics(lambda: 0.0, lambda: 1.0, share)
            _observe(other, observed)
            other._write_snapshot()  # as this process: renamed below as another worker's
            (share / f"{os.getpid()}.json").rename(share / f"{10_000_000 + number}.json")
        worker = Metrics(lambda: 0.0, lambda: 1.0, share)
        _observe(worker, mine)
        everything = Metrics(lambda: 0.0, lambda: 1.0)
        _observe(everything, [e for observed in [*others, mine] for e in observed])
        got, expected = _without_gauges(samples(worker)), _without_gauges(samples(everything))
        assert got.keys() == expected.keys()
        for key, value in expected.items():  # sums added in another order: equal to rounding
            assert math.isclose(got[key], value, abs_tol=1e-9), key
        assert samples(worker)[("pitstore_server_workers", ())] == 1 + len(others)
