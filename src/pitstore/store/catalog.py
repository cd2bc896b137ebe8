"""A cached, validated snapshot of the registry's definitions.

Reading definitions means a registry query and rebuilding objects from specs; the snapshot
does it once per registry revision, and the online hot path re-checks the revision at most
every ``refresh_seconds`` so that a read never waits on registry I/O once warm.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TypeVar

from pitstore.definitions import (
    Entity,
    FeatureService,
    FeatureView,
    RepoContents,
    from_spec,
)
from pitstore.errors import NotFoundError
from pitstore.registry.base import Registry, StoredObject

T = TypeVar("T")


@dataclass(frozen=True)
class Snapshot:
    """Definitions of one registry revision."""

    revision: int
    contents: RepoContents
    stored: dict[tuple[str, str], StoredObject]

    def entity(self, name: str) -> Entity:
        return _get(self.contents.entities, name, "entity")

    def view(self, name: str) -> FeatureView:
        return _get(self.contents.views, name, "feature view")

    def service(self, name: str) -> FeatureService:
        return _get(self.contents.services, name, "feature service")


def _get(table: dict[str, T], name: str, what: str) -> T:
    try:
        return table[name]
    except KeyError:
        raise NotFoundError(what, name, table) from None


class Catalog:
    """Keeps the latest :class:`Snapshot` of a registry."""

    def __init__(self, registry: Registry, refresh_seconds: float = 5.0) -> None:
        self._registry = registry
        self._refresh_seconds = refresh_seconds
        self._snapshot: Snapshot | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()

    def current(self) -> Snapshot:
        """The registry's definitions now (one cheap revision query when cached)."""
        with self._lock:
            return self._refresh()

    def cached(self) -> Snapshot:
        """The cached definitions, re-checked against the registry at most every few seconds."""
        snapshot = self._snapshot
        if snapshot is not None and time.monotonic() - self._checked_at < self._refresh_seconds:
            return snapshot
        return self.current()

    def invalidate(self) -> None:
        """Forget the snapshot (after this process applied a change)."""
        with self._lock:
            self._snapshot = None

    def _refresh(self) -> Snapshot:
        revision = self._registry.revision()
        self._checked_at = time.monotonic()
        if self._snapshot is not None and self._snapshot.revision == revision:
            return self._snapshot
        stored = {(o.kind, o.name): o for o in self._registry.list_objects()}
        objects = [from_spec(kind, obj.spec) for (kind, _), obj in stored.items()]
        self._snapshot = Snapshot(revision, RepoContents.of(objects), stored)
        return self._snapshot
