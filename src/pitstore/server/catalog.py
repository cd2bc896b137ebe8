"""``GET /catalog/...``: the registry's objects as JSON, read-only (the web UI reads them too).

Lists come from the cached snapshot (no registry I/O); an object's history and the views'
freshness (materialization watermarks) read the registry, in a worker thread.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from pitstore.definitions.code_deps import Dependency
from pitstore.errors import NotFoundError
from pitstore.registry.base import StoredObject, VersionRecord
from pitstore.registry.lineage import Node, build_lineage
from pitstore.timeutil import format_duration, utcnow

if TYPE_CHECKING:
    from pitstore.definitions import FeatureView, OnDemandFeatureView
    from pitstore.server.state import ServerState

#: URL segment -> registry kind.
KINDS: Final = {
    "entities": "entity",
    "feature-views": "feature_view",
    "feature-services": "feature_service",
    "on-demand-feature-views": "on_demand_feature_view",
}
#: Collections that are not one registry kind.
DERIVED: Final = ("features", "lineage", "freshness")


def summary(state: ServerState) -> dict[str, Any]:
    """Project, revision, object counts and the catalog's URLs."""
    snapshot = state.snapshot()
    counts = {segment: 0 for segment in KINDS}
    for kind, _ in snapshot.stored:
        segment = next(s for s, k in KINDS.items() if k == kind)
        counts[segment] += 1
    counts["features"] = sum(len(v.features) for v in snapshot.contents.views.values())
    return {
        "project": state.project,
        "revision": snapshot.revision,
        "counts": counts,
        "links": [f"/catalog/{s}" for s in (*KINDS, *DERIVED)],
    }


def list_objects(state: ServerState, segment: str) -> dict[str, Any]:
    """Every current object of one kind."""
    kind = _kind(segment)
    snapshot = state.snapshot()
    objects = [o for (k, _), o in sorted(snapshot.stored.items()) if k == kind]
    return {"items": [_object(o) for o in objects]}


def get_object(state: ServerState, segment: str, name: str) -> dict[str, Any]:
    """One object, with its upstream and downstream lineage."""
    kind = _kind(segment)
    snapshot = state.snapshot()
    stored = snapshot.stored.get((kind, name))
    if stored is None:
        names = [n for k, n in snapshot.stored if k == kind]
        raise NotFoundError(kind.replace("_", " "), name, names)
    graph = build_lineage(snapshot.stored.values())
    node = Node(kind, name)
    return {
        **_object(stored),
        "upstream": sorted(map(str, graph.upstream(node))),
        "downstream": sorted(map(str, graph.downstream(node))),
    }


def history(state: ServerState, segment: str, name: str) -> dict[str, Any]:
    """Every applied version of an object, current or removed (reads the registry)."""
    kind = _kind(segment)
    records = state.store.registry.history(kind, name)
    if not records:
        names = [n for k, n in state.snapshot().stored if k == kind]
        raise NotFoundError(kind.replace("_", " "), name, names)
    return {"items": [_version(r) for r in records]}


def features(state: ServerState) -> dict[str, Any]:
    """Every feature of every view, with its type, description and tags."""
    contents = state.snapshot().contents
    items = []
    views: list[FeatureView | OnDemandFeatureView] = [
        *contents.views.values(),
        *contents.on_demand.values(),
    ]
    for view in sorted(views, key=lambda v: v.name):
        for field in view.features:
            items.append(
                {
                    "ref": f"{view.name}:{field.name}",
                    "view": view.name,
                    "name": field.name,
                    "dtype": field.dtype.to_string(),
                    "description": field.description,
                    "tags": field.tags,
                    "owner": view.owner,
                }
            )
    return {"items": items}


def lineage(state: ServerState) -> dict[str, Any]:
    """The lineage graph: sources -> feature views -> feature services, entities -> views."""
    graph = build_lineage(state.snapshot().stored.values())
    nodes = sorted({str(n) for edge in graph.edges for n in edge})
    edges = sorted([str(a), str(b)] for a, b in graph.edges)
    return {"nodes": nodes, "edges": edges}


def freshness(state: ServerState, now: datetime | None = None) -> dict[str, Any]:
    """Per feature view: the last materialization watermark, its age, and whether it is older
    than the view's TTL (reads the registry: one watermark per view)."""
    now = now or utcnow()
    registry = state.store.registry
    views = sorted(state.snapshot().contents.views.values(), key=lambda v: v.name)
    return {
        "now": now,
        "items": [view_freshness(v, registry.get_watermark(v.name), now) for v in views],
    }


def view_freshness(view: FeatureView, watermark: datetime | None, now: datetime) -> dict[str, Any]:
    """``status``: ``fresh``; ``stale`` (age over the TTL); ``never`` (not materialized yet);
    ``not_online`` (an offline-only view: nothing to materialize)."""
    age = None if watermark is None else (now - watermark).total_seconds()
    ttl = view.ttl.total_seconds() if view.ttl is not None else None
    if not view.online:
        status = "not_online"
    elif age is None:
        status = "never"
    elif ttl is not None and age > ttl:
        status = "stale"
    else:
        status = "fresh"
    return {
        "view": view.name,
        "online": view.online,
        "ttl": format_duration(view.ttl) if view.ttl is not None else None,
        "ttl_seconds": ttl,
        "watermark": watermark,
        "age_seconds": age,
        "status": status,
    }


def _kind(segment: str) -> str:
    if segment not in KINDS:
        raise NotFoundError("catalog collection", segment, [*KINDS, *DERIVED])
    return KINDS[segment]


def _object(obj: StoredObject) -> dict[str, Any]:
    spec = obj.spec
    out = {
        "kind": obj.kind,
        "name": obj.name,
        "description": spec.get("description", ""),
        "owner": spec.get("owner", ""),
        "tags": spec.get("tags") or {},
        "version": obj.version,
        "updated_at": obj.updated_at,
        "updated_by": obj.updated_by,
        "spec": spec,
    }
    if obj.kind == "on_demand_feature_view":
        out["deps"] = _deps(spec)
    return out


def _deps(spec: dict[str, Any]) -> list[dict[str, str]]:
    """An on-demand view's deps (the user code its function reaches) by name and sha256 of
    their text, in the order of ``spec.function.deps``, which holds the texts (not repeated:
    a repo module's whole text can be long). Empty for a view registered before deps were."""
    entries = spec.get("function", {}).get("deps", [])
    return [{"name": d.name, "sha256": d.sha256} for d in map(Dependency.parse, entries)]


def _version(record: VersionRecord) -> dict[str, Any]:
    return {
        "version": record.version,
        "action": record.action,
        "revision": record.revision,
        "applied_at": record.applied_at,
        "applied_by": record.applied_by,
        "spec": record.spec,
    }
