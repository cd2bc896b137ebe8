"""Fuzzed request bodies: whatever a client sends, the answer is never a 500."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Client, start
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

KEYS = [
    "entities",
    "features",
    "feature_service",
    "full_feature_names",
    "metadata",
    "rows",
    "df",
    "feature_view",
    "to",
    "driver_id",
    "customer_id",
    "event_timestamp",
    "conv_rate",
]
REFS = ["driver_hourly_stats:conv_rate", "customer_stats:avg_spend", "x:y", "driver_stats", ""]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.sampled_from([*REFS, "driver_activity", "driver_hourly_stats", "online", "2026-01-01"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)
bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "entities": json_values
            | st.fixed_dictionaries(
                {"driver_id": st.lists(scalars, max_size=3)},
                optional={"customer_id": st.lists(scalars, max_size=3)},
            ),
            "features": st.lists(st.sampled_from(REFS), max_size=3) | json_values,
            "feature_service": st.sampled_from(["driver_activity", "driver_activity_v1", "x"])
            | json_values,
            "full_feature_names": st.booleans() | json_values,
            "feature_view": st.sampled_from(["driver_hourly_stats", "customer_stats"]),
            "rows": st.lists(
                st.dictionaries(st.sampled_from(KEYS), scalars, max_size=6), max_size=3
            ),
        },
    ),
)


@pytest.fixture(scope="module")
def fuzz_client(repo: Path) -> Any:
    c = start(repo)
    yield c
    c.close()
    c.app.shutdown()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=bodies, path=st.sampled_from(["/get-online-features", "/online-features", "/push"]))
def test_no_body_gives_a_500(fuzz_client: Client, body: Any, path: str) -> None:
    # The stdlib encoder: it writes integers past 64 bits too (which orjson refuses to read).
    raw = json.dumps(body).encode()
    response = fuzz_client.post(path, content=raw)
    assert response.status_code < 500, (raw, response.text)
    if response.status_code >= 400:
        assert set(response.json()["error"]) == {"code", "message", "details"}


@settings(max_examples=60, deadline=None)
@given(raw=st.binary(max_size=64))
def test_no_bytes_give_a_500(fuzz_client: Client, raw: bytes) -> None:
    assert fuzz_client.post("/get-online-features", content=raw).status_code < 500
