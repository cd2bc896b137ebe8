"""The consistency invariant (DESIGN.md section 4): online(t) == historical(entity_ts = t).

Random rows for a view with a composite key, random TTLs and read times, ties on the event
timestamp broken by created: after materializing up to ``t``, every online value equals the
training-data value at ``t``, row by row, including expiry and unknown keys.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pitstore.store.materialize import BEGINNING
from repo_helpers import T0, TRIP_SCHEMA, city_driver, make_store, trip_view, write_rows
from services import postgres_url, redis_url


@pytest.fixture(params=["sqlite", "redis", "postgres"])
def online(request: pytest.FixtureRequest) -> Iterator[dict[str, Any] | None]:
    """The online store config of each store the invariant must hold on."""
    suffix = uuid.uuid4().hex[:10]
    if request.param == "sqlite":
        yield None
    elif request.param == "redis":
        yield {"type": "redis", "url": redis_url(), "key_prefix": f"pitstore_test_{suffix}"}
    else:
        import psycopg

        schema = f"pitstore_test_{suffix}"
        yield {"type": "postgres", "dsn": postgres_url(), "schema_name": schema}
        with psycopg.connect(postgres_url(), autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


KEYS = [("oslo", 1), ("oslo", 2), ("rome", 1), ("rome", 2)]

row_strategy = st.tuples(
    st.sampled_from(KEYS),
    st.integers(0, 20),  # event time, minutes after T0 (small range: many ties)
    st.floats(allow_nan=False, width=64) | st.none(),
    st.text(max_size=3) | st.none(),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    data=st.lists(row_strategy, max_size=25),
    ttl_minutes=st.none() | st.integers(1, 15),
    read_minute=st.integers(0, 25),
)
def test_online_equals_historical(
    online: dict[str, Any] | None,
    data: list[tuple[tuple[str, int], int, float | None, str | None]],
    ttl_minutes: int | None,
    read_minute: int,
) -> None:
    rows = [
        {
            "city": key[0],
            "driver_id": key[1],
            "event_timestamp": T0 + timedelta(minutes=minute),
            # unique created per row, so a tie on both timestamps never happens
            "created": T0 + timedelta(microseconds=i),
            "score": score,
            "label": label,
        }
        for i, (key, minute, score, label) in enumerate(data)
    ]
    now = T0 + timedelta(minutes=read_minute)
    ttl = timedelta(minutes=ttl_minutes) if ttl_minutes else None
    with tempfile.TemporaryDirectory() as folder:
        store = make_store(Path(folder), online)
        write_rows(Path(folder) / "data" / "trips.parquet", rows, TRIP_SCHEMA)
        store.apply([city_driver, trip_view(ttl)])
        try:
            store.materialize(BEGINNING, now)
            keys = [*KEYS, ("paris", 9)]
            features = ["trips:score", "trips:label"]
            online = store.get_online_features(
                features, [{"city": c, "driver_id": d} for c, d in keys], now=now
            ).to_dict()
            frame = pa.table(
                {
                    "city": [c for c, _ in keys],
                    "driver_id": [d for _, d in keys],
                    "event_timestamp": pa.array([now] * len(keys), pa.timestamp("us", tz="UTC")),
                }
            )
            offline = store.get_historical_features(frame, features).to_arrow().to_pydict()
        finally:
            store.teardown()
            store.close()
    assert online["score"] == offline["score"]
    assert online["label"] == offline["label"]
