"""Running the server: ``pitstore serve`` calls :func:`serve`.

Two HTTP servers (``server.engine``), both with uvloop, both running ``workers`` processes
that import the app by name (the repo path travels in an environment variable):

- **uvicorn** (default) runs the ASGI app (:mod:`.app`) with httptools (each response in one
  write: :mod:`.uvicorn_protocol`), all on one thread per worker: no thread hand-offs, the most
  requests per second up to a few dozen connections;
- **granian** runs the RSGI app (:mod:`.rsgi`): HTTP is parsed and written by Rust threads,
  which hand each request to the event loop: more requests per second at 64 connections.

On SIGTERM or SIGINT either stops accepting connections and lets in-flight requests finish
(up to ``GRACE_SECONDS``), then the app's shutdown runs (refresher stopped, store closed).
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Final

from pitstore.config import find_repo, load_config
from pitstore.errors import ConfigError
from pitstore.server.app import REPO_ENV
from pitstore.server.metrics import SHARE_ENV

GRACE_SECONDS: Final = 10


def _configure_logging(access_log: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access = logging.getLogger("pitstore.access")
    access.handlers = [handler]
    access.setLevel(logging.INFO if access_log else logging.WARNING)
    access.propagate = False
    server = logging.getLogger("pitstore.server")
    if not server.handlers:
        server_handler = logging.StreamHandler(sys.stderr)
        server_handler.setFormatter(logging.Formatter("%(levelname)s: %(name)s: %(message)s"))
        server.addHandler(server_handler)
        server.setLevel(logging.INFO)


def serve(
    repo: str | Path = ".",
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
    engine: str | None = None,
) -> None:
    """Serve the feature repo at ``repo`` until SIGTERM/SIGINT (blocks)."""
    path = find_repo(repo)
    settings = load_config(path).server  # read here too: a bad config fails before forking
    _configure_logging(settings.access_log)
    os.environ[REPO_ENV] = str(path)
    address = host or settings.host
    port = settings.port if port is None else port
    workers = workers or settings.workers
    engine = engine or settings.engine
    if engine not in ("granian", "uvicorn"):
        raise ConfigError(f"unknown server engine {engine!r}; use 'granian' or 'uvicorn'")
    run = _granian if engine == "granian" else _uvicorn
    if workers == 1:
        run(address, port, workers)
        return
    # Several workers add up their metrics through a directory of this run (server.metrics).
    with tempfile.TemporaryDirectory(prefix="pitstore-metrics-") as share:
        os.environ[SHARE_ENV] = share
        try:
            run(address, port, workers)
        finally:
            del os.environ[SHARE_ENV]


def _uvicorn(host: str, port: int, workers: int) -> None:
    import uvicorn

    from pitstore.server.uvicorn_protocol import OneWriteHttpToolsProtocol

    uvicorn.run(
        "pitstore.server.app:app_from_env",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        loop="uvloop",
        http=OneWriteHttpToolsProtocol,  # httptools, a response in one write
        lifespan="on",
        access_log=False,  # ours is structured and optional (server.access_log)
        server_header=False,
        proxy_headers=False,  # no proxy is trusted by default: the client is the peer
        timeout_graceful_shutdown=GRACE_SECONDS,
        log_level="info",
    )


def _granian(host: str, port: int, workers: int) -> None:
    try:
        from granian import Granian
        from granian.constants import Interfaces, Loops
    except ImportError:
        raise ConfigError(
            "server.engine is granian but granian is not installed: pip install granian"
        ) from None
    Granian(
        "pitstore.server.rsgi:rsgi_app_from_env",
        factory=True,
        interface=Interfaces.RSGI,
        address=host,
        port=port,
        workers=workers,
        loop=Loops.uvloop,
        log_access=False,
        workers_kill_timeout=GRACE_SECONDS,
    ).serve()
