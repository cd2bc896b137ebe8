"""POST /push with push sources (Feast's body), in-process through the ASGI interface."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pitstore.config import load_config
from pitstore.server import create_app
from push_helpers import event, logged_rows, make_repo, online, push_source


class Client:
    def __init__(self, repo: Path) -> None:
        self.app = create_app(repo, load_config(repo))
        self.app.startup()
        self._loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(app=self.app, client=("127.0.0.1", 5000))
        self._client = httpx.AsyncClient(transport=transport, base_url="http://testserver")

    def post(
        self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return self._loop.run_until_complete(self._client.post(path, json=body, headers=headers))

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.close()
        self.app.shutdown()


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    make_repo(tmp_path, push_source()).close()
    yield tmp_path


@pytest.fixture
def client(repo: Path) -> Iterator[Client]:
    c = Client(repo)
    yield c
    c.close()


def columns(*rows: dict[str, Any]) -> dict[str, list[Any]]:
    return {k: [r[k] for r in rows] for k in rows[0]}


def test_feast_push_body_online_and_offline(client: Client, repo: Path) -> None:
    body = {
        "push_source_name": "driver_push",
        "df": columns(event(1, 0, conv=0.25), event(2, 0, conv=0.5)),
        "to": "online_and_offline",
    }
    response = client.post("/push", body)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "push_source_name": "driver_push",
        "to": "online_and_offline",
        "rows": 2,
        "written": 4,  # two rows in each of the two views
        "logged": 2,
    }
    assert len(logged_rows(repo)) == 2
    from pitstore import FeatureStore

    with FeatureStore(repo) as store:
        assert online(store, [1, 2])["conv_rate"] == [0.25, 0.5]


def test_offline_only(client: Client, repo: Path) -> None:
    body = {"push_source_name": "driver_push", "rows": [event(3, 0)], "to": "offline"}
    assert client.post("/push", body).json()["logged"] == 1
    assert len(logged_rows(repo)) == 1


def test_bad_row_is_a_422_and_writes_nothing(client: Client, repo: Path) -> None:
    rows = [event(1, 0), {**event(2, 0), "conv_rate": "high"}]
    response = client.post("/push", {"push_source_name": "driver_push", "rows": rows})
    assert response.status_code == 422
    message = response.json()["error"]["message"]
    assert "row 1" in message and "conv_rate" in message
    assert logged_rows(repo) == []


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"push_source_name": "driver_psh", "rows": []}, 404, "driver_push"),
        ({"push_source_name": "driver_push", "rows": [], "to": "disk"}, 422, "online_and_offline"),
        ({"push_source_name": "driver_push", "feature_view": "x", "rows": []}, 422, "not both"),
        ({"feature_view": "driver_stats", "rows": [], "to": "offline"}, 422, "push source"),
        ({"push_source_name": 3, "rows": []}, 422, "push_source_name"),
        (  # before the year 1 once in UTC: was a 500
            {
                "push_source_name": "driver_push",
                "rows": [
                    {
                        "driver_id": 1,
                        "event_timestamp": "0001-01-01T00:00:00+05:00",
                        "conv_rate": 0.5,
                        "trips": 1,
                    }
                ],
                "to": "online_and_offline",
            },
            422,
            "event_timestamp",
        ),
    ],
)
def test_push_errors(client: Client, body: dict[str, Any], status: int, words: str) -> None:
    response = client.post("/push", body)
    assert response.status_code == status
    assert words in response.json()["error"]["message"]
