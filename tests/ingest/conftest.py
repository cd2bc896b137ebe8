"""Fixtures of the ingest tests: a real broker topic per test (see tests/ingest_helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ingest_helpers import NatsTopic, RedisTopic, Topic


@pytest.fixture(params=["redis", "nats"])
def topic(request: pytest.FixtureRequest) -> Iterator[Topic]:
    made: Topic = RedisTopic() if request.param == "redis" else NatsTopic()
    yield made
    made.close()


@pytest.fixture
def redis_topic() -> Iterator[RedisTopic]:
    made = RedisTopic()
    yield made
    made.close()


@pytest.fixture
def nats_topic() -> Iterator[NatsTopic]:
    made = NatsTopic()
    yield made
    made.close()
