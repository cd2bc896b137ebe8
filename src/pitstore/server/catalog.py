"""``GET /catalog/...``: the registry's objects as JSON, read-only (for the web UI to come).

Lists come from the cached snapshot (no registry I/O); an object's history reads the registry,
in a worker thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from pitstore.errors import NotFoundError
from pitstore.registry.base import StoredObject, VersionRecord
from pitstore.registry.lineage import Node, build_lineage

if TYPE_CHECKING:
    from pitstore.server.state import ServerState

#: URL segment -> registry kind.
KINDS: Final = {
    "entities": "entity",
    "feature-views": "feature_view",
    "feature-services": "feature_service",
}


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
        "links": [f"/catalog/{s}" for s in (*KINDS, "features", "lineage")],
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
    snapshot = state.snapshot()
    items = []
    for view in sorted(snapshot.contents.views.values(), key=lambda v: v.name):
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


def _kind(segment: str) -> str:
    if segment not in KINDS:
        raise NotFoundError("catalog collection", segment, [*KINDS, "features", "lineage"])
    return KINDS[segment]


def _object(obj: StoredObject) -> dict[str, Any]:
    spec = obj.spec
    return {
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


def _version(record: VersionRecord) -> dict[str, Any]:
    return {
        "version": record.version,
        "action": record.action,
        "revision": record.revision,
        "applied_at": record.applied_at,
        "applied_by": record.applied_by,
        "spec": record.spec,
    }
