"""``pitstore ui``: the feature server with its catalog, announced by the catalog's URL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pitstore.config import find_repo, load_config


def ui_url(host: str, port: int) -> str:
    """The URL a browser opens; a wildcard bind address is reached through loopback."""
    shown = "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host
    if ":" in shown:  # an IPv6 literal
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/ui"


def run(
    repo: str | Path = ".",
    host: str | None = None,
    port: int | None = None,
    announce: Callable[[str, bool], None] | None = None,
    open_browser: bool = False,
) -> None:
    """Serve the repo (API and ``/ui``) until SIGTERM/SIGINT; ``announce(url, auth_on)`` first."""
    from pitstore.server.run import serve

    path = find_repo(repo)
    settings = load_config(path).server
    url = ui_url(host or settings.host, settings.port if port is None else port)
    if announce is not None:
        announce(url, bool(settings.auth.tokens))
    if open_browser:
        import threading
        import webbrowser

        # After a moment, so that the server listens when the browser asks.
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    serve(path, host, port, workers=1)
