"""Lineage from specs: sources -> views -> on-demand views -> services; entities -> views."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pitstore.registry.base import StoredObject


@dataclass(frozen=True, slots=True)
class Node:
    """A lineage node, such as ``Node("feature_view", "driver_stats")``."""

    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True)
class LineageGraph:
    """Directed edges from producers to consumers."""

    edges: frozenset[tuple[Node, Node]] = field(default_factory=frozenset)

    def upstream(self, node: Node) -> set[Node]:
        """Every node that ``node`` depends on, transitively."""
        return self._walk(node, reverse=True)

    def downstream(self, node: Node) -> set[Node]:
        """Every node that depends on ``node``, transitively."""
        return self._walk(node, reverse=False)

    def _walk(self, start: Node, reverse: bool) -> set[Node]:
        seen: set[Node] = set()
        todo = [start]
        while todo:
            here = todo.pop()
            for a, b in self.edges:
                src, dst = (b, a) if reverse else (a, b)
                if src == here and dst not in seen:
                    seen.add(dst)
                    todo.append(dst)
        return seen


def build_lineage(objects: Iterable[StoredObject]) -> LineageGraph:
    """The lineage graph of the registered objects."""
    objects = list(objects)
    on_demand = {o.name for o in objects if o.kind == "on_demand_feature_view"}
    edges: set[tuple[Node, Node]] = set()
    for obj in objects:
        if obj.kind == "on_demand_feature_view":
            node = Node("on_demand_feature_view", obj.name)
            for source in obj.spec["sources"]:
                edges.add((Node("feature_view", source["view"]), node))
        elif obj.kind == "feature_view":
            view = Node("feature_view", obj.name)
            edges.add((Node("source", obj.spec["source"]["name"]), view))
            for entity in obj.spec["entities"]:
                edges.add((Node("entity", entity), view))
        elif obj.kind == "feature_service":
            service = Node("feature_service", obj.name)
            for projection in obj.spec["features"]:
                kind = (
                    "on_demand_feature_view" if projection["view"] in on_demand else "feature_view"
                )
                edges.add((Node(kind, projection["view"]), service))
    return LineageGraph(frozenset(edges))
