"""Fuzzed request bodies: whatever a client sends, the answer is never a 500 (the repo has an
on-demand view with a request value, which a body may send of any type)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import Client, make_repo, start
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
    "distance_km",
]
REFS = [
    "driver_hourly_stats:conv_rate",
    "customer_stats:avg_spend",
    "conv_per_km:conv_per_km",
    "x:y",
    "driver_stats",
    "",
]
#: An on-demand view whose input arrives with the request.
ON_DEMAND = """

from pitstore import RequestSource, on_demand_feature_view

trip = RequestSource("trip", [Field("distance_km", Float64)])


@on_demand_feature_view(
    sources=[driver_stats[["conv_rate"]], trip], schema=[Field("conv_per_km", Float64)]
)
def conv_per_km(row):
    distance, rate = row["distance_km"], row["conv_rate"]
    return {"conv_per_km": None if not distance or rate is None else rate / distance}
"""

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
                optional={
                    "customer_id": st.lists(scalars, max_size=3),
                    "distance_km": st.lists(json_values, max_size=3),
                },
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
def fuzz_client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    c = start(make_repo(tmp_path_factory.mktemp("fuzz") / "repo", definitions=ON_DEMAND))
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


@pytest.mark.parametrize("distance", [["x"], [1, "x"], [[1]], [{"a": 1}]])
def test_a_request_value_of_the_wrong_type_is_a_422(fuzz_client: Client, distance: Any) -> None:
    body = {
        "features": ["conv_per_km:conv_per_km"],
        "entities": {"driver_id": [1001] * len(distance), "distance_km": distance},
    }
    response = fuzz_client.post("/get-online-features", content=json.dumps(body).encode())
    assert response.status_code == 422, response.text
    assert "request field 'distance_km'" in response.json()["error"]["message"]
    for fine in (2, 2**63):  # an integer is a fine Float64, even past int64
        good = {**body, "entities": {"driver_id": [1001], "distance_km": [fine]}}
        assert fuzz_client.post("/get-online-features", json=good).status_code == 200
