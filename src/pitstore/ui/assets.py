"""The UI's own assets (one stylesheet, one script, an icon), shipped inside the package.

Only the files listed here are served, so no path can reach anything else. They are read once,
on first use, through :mod:`importlib.resources` (works from a wheel or a zip as from a folder).
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Final

from pitstore.server.errors import ApiError
from pitstore.server.http import Response

TYPES: Final = {
    "ui.css": b"text/css; charset=utf-8",
    "ui.js": b"text/javascript; charset=utf-8",
    "favicon.svg": b"image/svg+xml",
}
#: Assets change only with a pitstore release; pages link them with ?v=<version>.
CACHE: Final = b"public, max-age=86400"


@cache
def read(name: str) -> bytes:
    """The bytes of the asset ``name``."""
    return files("pitstore.ui").joinpath("static", name).read_bytes()


def response(name: str) -> Response:
    """The asset ``name`` (404 for anything not listed in :data:`TYPES`)."""
    content_type = TYPES.get(name)
    if content_type is None:
        raise ApiError(404, "not_found", f"no asset {name!r}")
    return Response(read(name), 200, content_type, [(b"cache-control", CACHE)])
