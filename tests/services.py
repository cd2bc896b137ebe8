"""Real servers the tests use (Redis, PostgreSQL, NATS...), found or skipped with a reason.

Point the tests at a server with ``PITSTORE_TEST_REDIS_URL`` / ``PITSTORE_TEST_POSTGRES_URL``;
the defaults are the local ports. On a machine without the server the tests skip, saying how
to point them at one; under ``CI=true`` an unreachable server is a failure, never a skip.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

import pytest

REDIS_URL = os.environ.get("PITSTORE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
POSTGRES_URL = os.environ.get("PITSTORE_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
NATS_URL = os.environ.get("PITSTORE_TEST_NATS_URL", "nats://127.0.0.1:4222")


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=1
        ):
            return True
    except OSError:
        return False


def require(name: str, url: str, default_port: int, env: str) -> str:
    """``url`` if its server answers; else skip (or fail under CI=true) with a reason."""
    if _reachable(url, default_port):
        return url
    reason = (
        f"{name} is not reachable at {url}; start one or set {env} to a server the tests may use"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


def redis_url() -> str:
    return require("Redis", REDIS_URL, 6379, "PITSTORE_TEST_REDIS_URL")


def postgres_url() -> str:
    return require("PostgreSQL", POSTGRES_URL, 5432, "PITSTORE_TEST_POSTGRES_URL")


def nats_url() -> str:
    return require("NATS", NATS_URL, 4222, "PITSTORE_TEST_NATS_URL")
