"""Running the server: ``pitstore serve`` calls :func:`serve`.

uvicorn serves the app, with uvloop and httptools when installed (``loop``/``http`` "auto").
On SIGTERM or SIGINT it stops accepting connections, lets in-flight requests finish (up to
``GRACE_SECONDS``), then runs the app's shutdown (refresher stopped, store closed). With
several workers, uvicorn's supervisor starts them as processes that each import the app by
name; the repo path travels in an environment variable.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Final

from pitstore.config import find_repo, load_config
from pitstore.server.app import REPO_ENV, create_app

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
) -> None:
    """Serve the feature repo at ``repo`` until SIGTERM/SIGINT (blocks)."""
    import uvicorn

    path = find_repo(repo)
    settings = load_config(path).server
    host = host or settings.host
    port = settings.port if port is None else port
    workers = workers or settings.workers
    _configure_logging(settings.access_log)
    common = {
        "host": host,
        "port": port,
        "loop": "auto",  # uvloop when installed
        "http": "auto",  # httptools when installed
        "lifespan": "on",
        "access_log": False,  # ours is structured and optional (server.access_log)
        "server_header": False,
        "timeout_graceful_shutdown": GRACE_SECONDS,
        "log_level": "info",
    }
    if workers == 1:
        uvicorn.run(create_app(path), **common)  # type: ignore[arg-type]
        return
    os.environ[REPO_ENV] = str(path)
    uvicorn.run(
        "pitstore.server.app:app_from_env",
        factory=True,
        workers=workers,
        **common,  # type: ignore[arg-type]
    )
