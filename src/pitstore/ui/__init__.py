"""The web catalog (layer 7): ``pitstore ui``, or ``/ui`` on ``pitstore serve``.

Server-rendered HTML from Python, one stylesheet and one small script shipped in the package:
no build step, no CDN, nothing to install beyond the server's own dependencies. Read-only.

- :mod:`.app` — the ASGI app mounted at ``/ui``: routing, sign-in, errors
- :mod:`.assets` — the stylesheet, script and icon in ``static/``
- :mod:`.model` — the catalog of one registry revision, with URLs and reverse references
- :mod:`.search` — search by name, description, owner and tag
- :mod:`.graph` — the lineage graph's layout and its SVG
- :mod:`.snippets` — the copyable Python on each object's page
- :mod:`.pages` — the pages; :mod:`.html` — the escaping HTML builder
- :mod:`.auth` — the server's tokens, by bearer header or sign-in cookie
- :mod:`.run` — ``pitstore ui``
"""

from __future__ import annotations

from pitstore.ui.app import UiApp

__all__ = ["UiApp"]
