"""Fixtures of the server tests: a materialized demo repo (with Feast's demo names) and a
synchronous client that talks to the ASGI app in-process through httpx."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from pitstore import FeatureStore
from pitstore.config import load_config
from pitstore.server import PitstoreApp, create_app
from pitstore.store.scaffold import init_repo
from pitstore.timeutil import utcnow

T = TypeVar("T")

#: Extra definitions: a service over one view, as in Feast's docs.
EXTRA = """

driver_activity_v1 = FeatureService("driver_activity_v1", features=[driver_stats])
"""

ADMIN = "admin-token-0123456789"
MODEL = "model-token-0123456789"
READER = "reader-token-0123456789"
OTHER_PROJECT = "other-token-0123456789"


def make_repo(folder: Path, server: str = "", definitions: str = "") -> Path:
    """The demo repo, its driver view renamed as in Feast's docs, applied and materialized
    (``definitions``: more Python appended to its features.py)."""
    init_repo(folder, "demo")
    features = folder / "features.py"
    text = features.read_text().replace('"driver_stats",', '"driver_hourly_stats",')
    features.write_text(text + EXTRA + definitions)
    if server:
        with (folder / "pitstore.yaml").open("a") as config:
            config.write(server)
    with FeatureStore(folder) as store:
        store.apply()
        store.materialize_incremental(utcnow())
    return folder


@pytest.fixture(scope="session")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repo(tmp_path_factory.mktemp("server") / "repo")


class Client:
    """Calls an app through the ASGI interface on one private event loop."""

    def __init__(self, app: PitstoreApp) -> None:
        self.app = app
        self._loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
        self._client = httpx.AsyncClient(transport=transport, base_url="http://testserver")

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self._loop.run_until_complete(self._client.request(method, path, **kwargs))

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def run(self, scenario: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
        """Run ``scenario`` on the app's loop, given the client (for requests in flight
        together)."""
        return self._loop.run_until_complete(scenario(self._client))

    def post_together(self, path: str, bodies: list[Any]) -> list[httpx.Response]:
        """POST every JSON body at once (one task each, started in the same loop turn)."""

        async def all_of() -> list[httpx.Response]:
            posts = (self._client.post(path, json=body) for body in bodies)
            return list(await asyncio.gather(*posts))

        return self._loop.run_until_complete(all_of())

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.close()


def start(repo: Path, server: dict[str, Any] | None = None) -> Client:
    """A started app over ``repo``, with ``server`` settings merged into its config."""
    config = load_config(repo)
    if server:
        settings = config.server.model_validate({**config.server.model_dump(), **server})
        config = config.model_copy(update={"server": settings})
    app = create_app(repo, config)
    app.startup()
    return Client(app)


@pytest.fixture
def client(repo: Path) -> Iterator[Client]:
    c = start(repo)
    yield c
    c.close()
    c.app.shutdown()


def tokens() -> dict[str, Any]:
    """Auth settings with an admin, a model (one service), a reader and a foreign token."""
    return {
        "auth": {
            "tokens": [
                {"token": ADMIN, "name": "admin", "push": True},
                {"token": MODEL, "name": "model", "feature_services": ["driver_activity_v1"]},
                {"token": READER, "name": "reader"},
                {"token": OTHER_PROJECT, "name": "other", "projects": ["elsewhere"]},
            ]
        }
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
