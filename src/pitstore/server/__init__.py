"""The HTTP feature server (layer 7): ``pitstore serve``.

A raw application (no web framework: ten routes do not need one, and every middleware layer
costs microseconds per request) served by granian over RSGI with uvloop, JSON by orjson; the
same app is an ASGI app for embedding. This package is the only place that imports them;
``import pitstore`` never does.

- :mod:`.app` — the app and its ASGI form: routing, body limits, auth, errors, metrics, access
  log
- :mod:`.rsgi` — the RSGI form that ``pitstore serve`` runs (and a bridge to the ASGI web UI)
- :mod:`.batch` — online reads of concurrent requests grouped into one store call
- :mod:`.handlers` / :mod:`.catalog` — the endpoints
- :mod:`.codec` — JSON in and out, Feast's response shape
- :mod:`.errors` — the one mapping from pitstore errors to HTTP statuses
- :mod:`.state` — the store, the background registry refresh, readiness
- :mod:`.run` — starting granian (workers, graceful shutdown)
"""

from __future__ import annotations

from pitstore.server.app import PitstoreApp, create_app

__all__ = ["PitstoreApp", "create_app"]
