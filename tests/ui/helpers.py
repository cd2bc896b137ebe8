"""Helpers of the UI tests: the demo repo with a second version of a view, an on-demand view
(with a helper and a constant: its deps), an aggregated view and a stale view; an in-process
client of the server app (with /ui); an HTML reader for the accessibility checks."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, TypeVar

import httpx

from pitstore import FeatureStore
from pitstore.config import load_config
from pitstore.server import PitstoreApp, create_app
from pitstore.store.scaffold import init_repo
from pitstore.timeutil import utcnow

T = TypeVar("T")

#: Appended to the demo's features.py after its first apply.
EXTRA = '''

from pitstore import Aggregation, RequestSource, on_demand_feature_view

trip = RequestSource("trip", [Field("distance_km", Float64)])
MIN_KM = 0.0


@on_demand_feature_view(
    sources=[driver_stats[["conv_rate"]], trip],
    schema=[Field("conv_per_km", Float64, description="Conversion rate per km of the trip")],
    owner="pricing@example.com",
    tags={"team": "pricing"},
)
def conv_per_km(row):
    """Conversion rate divided by the requested trip's length."""
    return {"conv_per_km": per_km(row["conv_rate"], row["distance_km"])}


def per_km(rate, distance):
    """<rate> / <distance>, or None."""
    if rate is None or distance is None or distance <= MIN_KM:
        return None
    return rate / distance


driver_trips_weekly = FeatureView(
    "driver_trips_weekly",
    entities=[driver],
    schema=[Field("avg_daily_trips", Int64)],
    source=ParquetSource("data/driver_stats.parquet", name="driver_events"),
    aggregations=[Aggregation("avg_daily_trips", "sum", "7d")],
    description="Trips over the last week",
    owner="ml-platform@example.com",
)

trip_pricing = FeatureService(
    "trip_pricing",
    features=[conv_per_km, driver_stats[["acc_rate"]]],
    description="Features of the pricing model",
    owner="pricing@example.com",
    tags={"team": "pricing"},
)
'''

ADMIN = "admin-token-0123456789"
MODEL = "model-token-0123456789"


def make_repo(folder: Path, server: str = "") -> Path:
    """The demo repo, applied twice (driver_stats has two versions) and materialized, with
    customer_stats materialized up to two days ago only (stale: its TTL is 12h)."""
    init_repo(folder, "demo")
    if server:
        with (folder / "pitstore.yaml").open("a") as config:
            config.write(server)
    features = folder / "features.py"
    with FeatureStore(folder) as store:
        store.apply()
    text = features.read_text()
    text = text.replace('"Hourly driver quality statistics"', '"Hourly driver quality scores"')
    text = text.replace("ttl=timedelta(days=1)", "ttl=timedelta(days=2)")
    text = text.replace('tags={"team": "drivers"}', 'tags={"team": "drivers", "tier": "gold"}')
    features.write_text(text + EXTRA)
    now = utcnow()
    with FeatureStore(folder) as store:
        store.apply()
        store.materialize_incremental(now, ["driver_stats"])
        # customer_stats only up to two days ago (a watermark never moves back: set it so)
        store.materialize_incremental(now - timedelta(days=2), ["customer_stats"])
    return folder


class Client:
    """Calls an app through the ASGI interface, on an event loop in a thread of its own.

    Its own thread, because Playwright's sync API keeps an event loop running on the main
    thread for the whole browser session; the app starts on that thread too, as under a real server.
    """

    def __init__(self, app: PitstoreApp) -> None:
        self.app = app
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._run(self._start())
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
        self._client = httpx.AsyncClient(transport=transport, base_url="http://testserver")

    async def _start(self) -> None:
        self.app.startup()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the app's event loop (calls of the app's own interface)."""
        return self._run(coroutine)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self._run(self._client.request(method, path, **kwargs))

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def post_from(self, address: str, path: str, **kwargs: Any) -> httpx.Response:
        """A POST from a client of another address (without this client's cookies)."""

        async def post() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, client=(address, 5000))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                return await c.post(path, **kwargs)

        return self._run(post())

    def forget_cookies(self) -> None:
        """Drop the cookies earlier responses set (the client keeps them, as a browser)."""
        self._client.cookies.clear()

    def close(self) -> None:
        self._run(self._client.aclose())
        self.app.shutdown()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


def start(repo: Path, server: dict[str, Any] | None = None) -> Client:
    """A started app over ``repo``, with ``server`` settings merged into its config."""
    config = load_config(repo)
    if server:
        settings = config.server.model_validate({**config.server.model_dump(), **server})
        config = config.model_copy(update={"server": settings})
    return Client(create_app(repo, config))


def tokens() -> dict[str, Any]:
    """An admin token and a model's token (one feature service: no catalog)."""
    return {
        "auth": {
            "tokens": [
                {"token": ADMIN, "name": "admin"},
                {"token": MODEL, "name": "model", "feature_services": ["driver_activity"]},
            ]
        }
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- reading pages (accessibility checks) ---------------------------------------------------


class PageReader(HTMLParser):
    """The parts of a page the accessibility checks look at."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.lang: str | None = None
        self.label_for: set[str] = set()
        self.controls: list[dict[str, str | None]] = []
        self.ids: list[str] = []
        self.h1 = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.append(str(a["id"]))
        if tag == "html":
            self.lang = a.get("lang")
        elif tag == "title" and not self.title:
            self._in_title = True
        elif tag == "label" and a.get("for"):
            self.label_for.add(str(a["for"]))
        elif tag in {"input", "select", "textarea"} and a.get("type") != "hidden":
            self.controls.append(a)
        elif tag == "h1":
            self.h1 += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def read_page(html: str) -> PageReader:
    reader = PageReader()
    reader.feed(html)
    return reader


def check_accessible(html: str) -> PageReader:
    """A title, a language, one h1, unique ids, and a label for every form control."""
    page = read_page(html)
    assert page.title.strip().endswith("· pitstore catalog"), page.title
    assert page.lang == "en"
    assert page.h1 == 1
    assert len(page.ids) == len(set(page.ids)), sorted(page.ids)
    for control in page.controls:
        labelled = control.get("id") in page.label_for or control.get("aria-label")
        assert labelled, f"unlabelled control {control}"
    return page


# --- the real process -----------------------------------------------------------------------

PITSTORE = Path(sys.executable).parent / "pitstore"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class UiProcess:
    """A running ``pitstore ui``: its URL, as printed, and its process."""

    def __init__(self, repo: Path) -> None:
        port = free_port()
        self.process = subprocess.Popen(
            [str(PITSTORE), "ui", "--repo", str(repo), "--host", "127.0.0.1", "--port", str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"},
        )
        assert self.process.stdout is not None
        first = self.process.stdout.readline().decode()
        self.url = f"http://127.0.0.1:{port}/ui"
        assert self.url in first, first  # the command prints where to point the browser
        self.base = self.url.removesuffix("/ui")
        self._wait()

    def _wait(self, timeout: float = 20) -> None:
        began = time.monotonic()
        while time.monotonic() - began < timeout:
            if self.process.poll() is not None:
                raise AssertionError(self.process.stderr.read().decode())  # type: ignore[union-attr]
            try:
                if httpx.get(self.base + "/health", timeout=0.5).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError("pitstore ui did not start")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


#: The nodes of the demo repo's lineage graph (as ``kind:name``), for page and browser tests.
DEMO_LINEAGE_NODES = {
    "entity:driver",
    "entity:customer",
    "source:driver_stats",
    "source:customer_stats",
    "source:driver_events",
    "request:trip",
    "feature_view:driver_stats",
    "feature_view:customer_stats",
    "feature_view:driver_trips_weekly",
    "on_demand_feature_view:conv_per_km",
    "feature_service:driver_activity",
    "feature_service:trip_pricing",
}
