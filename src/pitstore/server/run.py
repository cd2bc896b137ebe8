"""Running the server: ``pitstore serve`` calls :func:`serve`.

granian serves the app over RSGI (:mod:`pitstore.server.rsgi`), with uvloop, in ``workers``
processes that each import the app by name (the repo path travels in an environment
variable). On SIGTERM or SIGINT granian stops accepting connections and lets in-flight requests
finish (a worker gets up to ``GRACE_SECONDS``), then the app's shutdown runs (refresher
stopped, store closed). The ASGI form of the same app (:func:`pitstore.server.create_app`)
runs under any ASGI server, for embedding.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Final

from pitstore.config import find_repo, load_config
from pitstore.server.app import REPO_ENV

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
    from granian import Granian
    from granian.constants import Interfaces, Loops

    path = find_repo(repo)
    settings = load_config(path).server  # read here too: a bad config fails before forking
    _configure_logging(settings.access_log)
    os.environ[REPO_ENV] = str(path)
    Granian(
        "pitstore.server.rsgi:rsgi_app_from_env",
        factory=True,
        interface=Interfaces.RSGI,
        address=host or settings.host,
        port=settings.port if port is None else port,
        workers=workers or settings.workers,
        loop=Loops.uvloop,
        log_access=False,  # ours is structured and optional (server.access_log)
        workers_kill_timeout=GRACE_SECONDS,
    ).serve()
