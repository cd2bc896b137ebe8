"""The catalog as the UI sees it: every object with its URL, and who uses what.

Built once per registry revision from the server's cached snapshot (no registry I/O), so a
page render or a keystroke's search is a few dictionary lookups.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import quote

from pitstore.definitions import Entity, FeatureService, FeatureView, Field, OnDemandFeatureView
from pitstore.store.catalog import Snapshot

#: Registry kind (plus the UI's own: feature, source, request) -> URL segment.
SEGMENTS: Final = {
    "entity": "entities",
    "feature_view": "feature-views",
    "on_demand_feature_view": "on-demand-feature-views",
    "feature_service": "feature-services",
    "feature": "features",
    "source": "sources",
    "request": "sources",
}
#: URL segment -> registry kind, for the object pages that have a registry history.
KINDS: Final = {s: k for k, s in SEGMENTS.items() if k not in {"feature", "source", "request"}}
LABELS: Final = {
    "entity": "entity",
    "feature_view": "feature view",
    "on_demand_feature_view": "on-demand view",
    "feature_service": "feature service",
    "feature": "feature",
    "source": "source",
    "request": "request source",
}


def plural(count: int, noun: str) -> str:
    """``1 feature``, ``3 features``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def url(kind: str, name: str) -> str:
    """The page of an object; a feature's name is ``view:feature``."""
    parts = name.split(":", 1) if kind == "feature" else [name]
    return "/ui/" + "/".join([SEGMENTS[kind], *(quote(p, safe="") for p in parts)])


@dataclass(frozen=True, slots=True)
class Item:
    """One searchable object."""

    kind: str
    name: str
    description: str
    owner: str
    tags: dict[str, str]
    detail: str
    """A short fact shown next to the name: a type, a feature count, join keys."""
    context: tuple[str, ...] = ()
    """More text a search matches (e.g. a feature's view name and tags), not shown."""

    @property
    def url(self) -> str:
        """The item's page."""
        return url(self.kind, self.name)


@dataclass(frozen=True, slots=True)
class Source:
    """A data source (or a request source), with the views that read it."""

    kind: str
    name: str
    spec: dict[str, object]
    readers: tuple[tuple[str, str], ...]
    """(kind, name) of every view reading it."""


@dataclass
class CatalogModel:
    """Objects, search items and reverse references of one registry revision."""

    snapshot: Snapshot
    items: list[Item] = field(default_factory=list)
    sources: dict[str, list[Source]] = field(default_factory=dict)
    used_by: dict[str, list[str]] = field(default_factory=dict)
    """View or on-demand view name -> feature services that read it."""
    feeds: dict[str, list[str]] = field(default_factory=dict)
    """View name -> on-demand views that read it."""

    @property
    def revision(self) -> int:
        """The registry revision this model shows."""
        return self.snapshot.revision

    @property
    def entities(self) -> dict[str, Entity]:
        """Entities by name."""
        return self.snapshot.contents.entities

    @property
    def views(self) -> dict[str, FeatureView]:
        """Feature views by name."""
        return self.snapshot.contents.views

    @property
    def on_demand(self) -> dict[str, OnDemandFeatureView]:
        """On-demand feature views by name."""
        return self.snapshot.contents.on_demand

    @property
    def services(self) -> dict[str, FeatureService]:
        """Feature services by name."""
        return self.snapshot.contents.services

    def views_of_entity(self, entity: str) -> list[str]:
        """Feature views keyed by ``entity``."""
        return sorted(v.name for v in self.views.values() if entity in v.entities)

    def key_columns(self, view: str) -> list[tuple[str, str]]:
        """(join key, type) of a view, or of the views an on-demand view reads."""
        if view in self.on_demand:
            keys: dict[str, str] = {}
            for source, _ in self.on_demand[view].sources:
                keys.update(self.key_columns(source))
            return list(keys.items())
        out = []
        for name in self.views[view].entities:
            entity = self.entities[name]
            out += [
                (k, t.to_string()) for k, t in zip(entity.join_keys, entity.dtypes, strict=True)
            ]
        return out

    def request_fields(self, view: str) -> list[tuple[str, str]]:
        """(request field, type) an on-demand view needs from the caller."""
        odfv = self.on_demand.get(view)
        if odfv is None:
            return []
        return [(f.name, f.dtype.to_string()) for r in odfv.requests for f in r.schema]


def build(snapshot: Snapshot) -> CatalogModel:
    """The model of ``snapshot``."""
    model = CatalogModel(snapshot)
    contents = snapshot.contents
    for entity in contents.entities.values():
        model.items.append(_entity_item(entity))
    for view in contents.views.values():
        model.items.append(_view_item(view))
        model.items += _feature_items(view.name, view.features, view.owner, view.tags)
        _add_source(model, "source", view.source.name, view.source.to_spec(), view)
    for odfv in contents.on_demand.values():
        model.items.append(_on_demand_item(odfv))
        model.items += _feature_items(odfv.name, odfv.features, odfv.owner, odfv.tags)
        for request in odfv.requests:
            _add_source(model, "request", request.name, request.to_spec(), odfv)
        for read, _ in odfv.sources:
            model.feeds.setdefault(read, []).append(odfv.name)
    for service in contents.services.values():
        model.items.append(_service_item(service))
        for read, _ in service.projections:
            model.used_by.setdefault(read, []).append(service.name)
    model.items.sort(key=lambda i: (i.kind, i.name))
    return model


def _add_source(
    model: CatalogModel,
    kind: str,
    name: str,
    spec: dict[str, object],
    reader: FeatureView | OnDemandFeatureView,
) -> None:
    sources = model.sources.setdefault(name, [])
    for i, known in enumerate(sources):
        if known.kind == kind:
            sources[i] = Source(
                kind, name, known.spec, (*known.readers, (reader.kind, reader.name))
            )
            return
    sources.append(Source(kind, name, spec, ((reader.kind, reader.name),)))


def _entity_item(entity: Entity) -> Item:
    keys = ", ".join(entity.join_keys)
    return Item("entity", entity.name, entity.description, entity.owner, entity.tags, keys)


def _view_item(view: FeatureView) -> Item:
    detail = plural(len(view.features), "feature")
    if view.is_aggregated:
        detail += ", aggregated"
    context = (view.source.name, *view.entities)
    return Item("feature_view", view.name, view.description, view.owner, view.tags, detail, context)


def _on_demand_item(odfv: OnDemandFeatureView) -> Item:
    detail = plural(len(odfv.features), "feature") + ", on demand"
    context = tuple(v for v, _ in odfv.sources)
    return Item(
        "on_demand_feature_view",
        odfv.name,
        odfv.description,
        odfv.owner,
        odfv.tags,
        detail,
        context,
    )


def _service_item(service: FeatureService) -> Item:
    count = sum(len(f) for _, f in service.projections)
    context = tuple(v for v, _ in service.projections)
    return Item(
        "feature_service",
        service.name,
        service.description,
        service.owner,
        service.tags,
        plural(count, "feature"),
        context,
    )


def _feature_items(
    view: str, fields: tuple[Field, ...], owner: str, view_tags: dict[str, str]
) -> list[Item]:
    items = []
    for f in fields:
        # A feature is found by its view's tags too: "team=drivers" lists the team's features.
        context = (view, *(f"{k}={v}" for k, v in view_tags.items()))
        dtype = f.dtype.to_string()
        items.append(
            Item("feature", f"{view}:{f.name}", f.description, owner, f.tags, dtype, context)
        )
    return items


class ModelCache:
    """The model of the latest snapshot, rebuilt only when the registry revision changes."""

    def __init__(self) -> None:
        self._model: CatalogModel | None = None
        self._lock = threading.Lock()

    def get(self, snapshot: Snapshot) -> CatalogModel:
        """The model of ``snapshot`` (built once per snapshot, shared by every request)."""
        model = self._model
        if model is not None and model.snapshot is snapshot:
            return model
        with self._lock:
            if self._model is None or self._model.snapshot is not snapshot:
                self._model = build(snapshot)
            return self._model
