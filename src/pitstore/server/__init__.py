"""The HTTP feature server (layer 7): ``pitstore serve``.

A raw ASGI application (no web framework: ten routes do not need one, and every middleware
layer costs microseconds per request) served by uvicorn with uvloop and httptools, JSON by
orjson. This package is the only place that imports them; ``import pitstore`` never does.

- :mod:`.app` — the ASGI app: routing, body limits, auth, errors, metrics, access log
- :mod:`.handlers` / :mod:`.catalog` — the endpoints
- :mod:`.codec` — JSON in and out, Feast's response shape
- :mod:`.errors` — the one mapping from pitstore errors to HTTP statuses
- :mod:`.state` — the store, the background registry refresh, readiness
- :mod:`.run` — starting uvicorn (workers, graceful shutdown)
"""

from __future__ import annotations

from pitstore.server.app import PitstoreApp, create_app

__all__ = ["PitstoreApp", "create_app"]
