"""The lineage graph, laid out in columns and drawn as inline SVG (no library, no script).

Sources, entities and request sources on the left, then feature views, on-demand views and,
last, feature services. Inside a column, nodes are ordered by the mean position of their
neighbours (a few barycentre sweeps), which removes most edge crossings in graphs this size.
Every node is a link to its object's page.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise
from typing import Final

from pitstore.registry.lineage import LineageGraph, Node, build_lineage
from pitstore.ui.html import Html, el, join
from pitstore.ui.model import LABELS, CatalogModel, url

#: Drawing constants, in SVG user units (CSS pixels at 100% zoom).
NODE_H: Final = 46
V_GAP: Final = 14
H_GAP: Final = 70
PAD: Final = 8
CHAR_W: Final = 7.6  # mean advance of the 13px UI font; names longer than MAX_CHARS are cut
MIN_W: Final = 120
MAX_CHARS: Final = 30
KIND_ORDER: Final = {
    "entity": 0,
    "source": 1,
    "request": 2,
    "feature_view": 3,
    "on_demand_feature_view": 4,
    "feature_service": 5,
}


def lineage(model: CatalogModel) -> LineageGraph:
    """The registry's lineage, with on-demand views and their request sources added.

    The registry's graph names whatever a service reads ``feature_view``; here a service
    reading an on-demand view points at the on-demand view's node.
    """
    odfvs = set(model.on_demand)
    edges: set[tuple[Node, Node]] = set()
    for a, b in build_lineage(model.snapshot.stored.values()).edges:
        edges.add((_kind_of(a, model), _kind_of(b, model)))
    for odfv in model.on_demand.values():
        target = Node("on_demand_feature_view", odfv.name)
        for view, _ in odfv.sources:
            kind = "on_demand_feature_view" if view in odfvs else "feature_view"
            edges.add((Node(kind, view), target))
        for request in odfv.requests:
            edges.add((Node("request", request.name), target))
    return LineageGraph(frozenset(edges))


def _kind_of(node: Node, model: CatalogModel) -> Node:
    if node.kind == "feature_view" and node.name in model.on_demand:
        return Node("on_demand_feature_view", node.name)
    return node


def neighbourhood(graph: LineageGraph, node: Node) -> LineageGraph:
    """The part of ``graph`` upstream and downstream of ``node``."""
    keep = graph.upstream(node) | graph.downstream(node) | {node}
    return LineageGraph(frozenset(e for e in graph.edges if e[0] in keep and e[1] in keep))


#: The kind of the invisible nodes that carry an edge across the columns it skips.
LANE: Final = "lane"
LANE_H: Final = 8


@dataclass(frozen=True, slots=True)
class Box:
    """A node's place in the drawing (a lane's box is the stretch an edge passes through)."""

    node: Node
    x: float
    y: float
    width: float
    height: float

    @property
    def middle(self) -> float:
        """Where edges meet the box: half-way down."""
        return self.y + self.height / 2


@dataclass(frozen=True, slots=True)
class Layout:
    """Where every node goes, the path of every edge, and the drawing's size."""

    boxes: dict[Node, Box]
    edges: dict[tuple[Node, Node], list[Node]]
    """Each edge and the nodes it passes through: its ends and the lanes between them."""
    width: float
    height: float


def layout(graph: LineageGraph, extra: Iterable[Node] = ()) -> Layout:
    """Columns by depth, ordered by barycentres; ``extra`` adds nodes without edges.

    An edge that skips columns gets a lane node in each column it crosses (as in Sugiyama's
    method), so that the ordering keeps it clear of the boxes there.
    """
    nodes = {n for edge in graph.edges for n in edge} | set(extra)
    depth = _depths(nodes, graph.edges)
    paths, segments = _lanes(graph.edges, depth)
    columns = _order(_columns(depth), segments)
    widths = [max([MIN_W, *(_width(n) for n in col if n.kind != LANE)]) for col in columns]
    height = max((_stack_height(col) for col in columns), default=0.0)
    boxes: dict[Node, Box] = {}
    x = float(PAD)
    for col, width in zip(columns, widths, strict=True):
        y = PAD + (height - _stack_height(col)) / 2
        for node in col:
            tall = LANE_H if node.kind == LANE else NODE_H
            boxes[node] = Box(node, x, y, width, tall)
            y += tall + V_GAP
        x += width + H_GAP
    total = x - H_GAP + PAD if columns else 0
    return Layout(boxes, paths, total, height + 2 * PAD if columns else 0)


def _stack_height(column: list[Node]) -> float:
    heights = [LANE_H if n.kind == LANE else NODE_H for n in column]
    return sum(heights) + V_GAP * (len(heights) - 1)


def _width(node: Node) -> float:
    chars = max(len(_short(node.name)), len(LABELS[node.kind]))
    return chars * CHAR_W + 24


def _short(name: str) -> str:
    return name if len(name) <= MAX_CHARS else name[: MAX_CHARS - 1] + "…"


def _depths(nodes: set[Node], edges: frozenset[tuple[Node, Node]]) -> dict[Node, int]:
    """Column numbers from 0: longest-path depth; a root sits just left of its nearest
    consumer (an entity next to its views); services share the last column."""
    preds: dict[Node, set[Node]] = {n: set() for n in nodes}
    succs: dict[Node, set[Node]] = {n: set() for n in nodes}
    for a, b in edges:
        preds[b].add(a)
        succs[a].add(b)
    depth: dict[Node, int] = {}

    def visit(node: Node, trail: frozenset[Node]) -> int:
        if node not in depth:
            # A cycle cannot come from valid definitions; the trail keeps a bad one finite.
            up = [visit(p, trail | {node}) for p in preds[node] if p not in trail]
            depth[node] = 1 + max(up, default=-1)
        return depth[node]

    for node in sorted(nodes, key=str):
        visit(node, frozenset())
    last = max(depth.values(), default=0)
    for node in nodes:
        if node.kind == "feature_service" and not succs[node]:
            depth[node] = last
    for node in nodes:
        if not preds[node] and succs[node]:
            depth[node] = min(depth[s] for s in succs[node]) - 1
    low = min(depth.values(), default=0)
    return {n: d - low for n, d in depth.items()}


def _lanes(
    edges: frozenset[tuple[Node, Node]], depth: dict[Node, int]
) -> tuple[dict[tuple[Node, Node], list[Node]], list[tuple[Node, Node]]]:
    """Every edge's path through lane nodes, and the one-column segments of all paths."""
    paths: dict[tuple[Node, Node], list[Node]] = {}
    segments: list[tuple[Node, Node]] = []
    for a, b in sorted(edges, key=str):
        path = [a]
        for column in range(depth[a] + 1, depth[b]):
            lane = Node(LANE, f"{a}>{b}@{column}")
            depth[lane] = column
            path.append(lane)
        path.append(b)
        paths[(a, b)] = path
        segments += list(pairwise(path))
    return paths, segments


def _columns(depth: dict[Node, int]) -> list[list[Node]]:
    count = max(depth.values(), default=-1) + 1
    columns: list[list[Node]] = [[] for _ in range(count)]
    for node in sorted(depth, key=lambda n: (KIND_ORDER.get(n.kind, 9), n.name)):
        columns[depth[node]].append(node)
    return [c for c in columns if c]


def _order(columns: list[list[Node]], segments: list[tuple[Node, Node]]) -> list[list[Node]]:
    """Barycentre sweeps: left to right by predecessors, right to left by successors."""
    preds: dict[Node, list[Node]] = {}
    succs: dict[Node, list[Node]] = {}
    for a, b in segments:
        preds.setdefault(b, []).append(a)
        succs.setdefault(a, []).append(b)
    for _ in range(4):
        for i in range(1, len(columns)):
            columns[i] = _by_barycentre(columns[i], columns, preds)
        for i in range(len(columns) - 2, -1, -1):
            columns[i] = _by_barycentre(columns[i], columns, succs)
    return columns


def _by_barycentre(
    column: list[Node], columns: list[list[Node]], neighbours: dict[Node, list[Node]]
) -> list[Node]:
    position = {n: i for col in columns for i, n in enumerate(col)}

    def key(node: Node) -> tuple[float, int]:
        others = neighbours.get(node, [])
        if not others:
            return (float(position[node]), position[node])
        return (sum(position[o] for o in others) / len(others), position[node])

    return sorted(column, key=key)


def svg(plan: Layout, current: Node | None = None, label: str = "Lineage graph") -> Html:
    """The drawing: arrows behind boxes; the ``current`` node highlighted."""
    if not plan.boxes:
        return el("p", "Nothing to draw yet: apply some definitions.", class_="muted")
    marker = el(
        "marker",
        el("path", d="M0,0 L10,5 L0,10 z", class_="arrowhead"),
        id="arrow",
        viewBox="0 0 10 10",
        refX=10,
        refY=5,
        markerWidth=7,
        markerHeight=7,
        orient="auto",
    )
    return el(
        "svg",
        el("title", label),
        el("defs", marker),
        el("g", [_edge(plan, edge, path) for edge, path in plan.edges.items()], class_="edges"),
        el(
            "g",
            [_node(b, b.node == current) for b in plan.boxes.values() if b.node.kind != LANE],
            class_="nodes",
        ),
        xmlns="http://www.w3.org/2000/svg",
        class_="lineage",
        viewBox=f"0 0 {plan.width:.0f} {plan.height:.0f}",
        width=f"{plan.width:.0f}",
        height=f"{plan.height:.0f}",
        role="group",
        aria_label=label,
    )


def _edge(plan: Layout, edge: tuple[Node, Node], path: list[Node]) -> Html:
    """A smooth path from the right side of the producer to the left side of the consumer,
    straight through the lanes of the columns it crosses."""
    boxes = [plan.boxes[n] for n in path]
    x, y = boxes[0].x + boxes[0].width, boxes[0].middle
    d = [f"M{x:.1f},{y:.1f}"]
    for box in boxes[1:]:
        bend = max((box.x - x) / 2, 20)
        to_x, to_y = box.x, box.middle
        d.append(f"C{x + bend:.1f},{y:.1f} {to_x - bend:.1f},{to_y:.1f} {to_x:.1f},{to_y:.1f}")
        x, y = box.x, box.middle
        if box.node.kind == LANE:
            x += box.width
            d.append(f"L{x:.1f},{y:.1f}")
    a, b = edge
    return el(
        "path",
        d=" ".join(d),
        class_="edge",
        marker_end="url(#arrow)",
        data_from=str(a),
        data_to=str(b),
    )


def _node(box: Box, current: bool) -> Html:
    node = box.node
    label = LABELS[node.kind]
    return el(
        "a",
        el("title", f"{label} {node.name}"),
        el(
            "rect",
            x=f"{box.x:.1f}",
            y=f"{box.y:.1f}",
            width=f"{box.width:.0f}",
            height=box.height,
            rx=6,
        ),
        el("text", label, x=f"{box.x + 12:.1f}", y=f"{box.y + 17:.1f}", class_="node-kind"),
        el(
            "text",
            _short(node.name),
            x=f"{box.x + 12:.1f}",
            y=f"{box.y + 35:.1f}",
            class_="node-name",
        ),
        href=url(node.kind, node.name),
        class_=f"node kind-{node.kind}" + (" current" if current else ""),
        data_node=str(node),
        aria_current="page" if current else None,
    )


def edge_list(graph: LineageGraph) -> Html:
    """The same edges as a list: what a screen reader (or a text browser) reads."""
    items = [
        el("li", _link(a), " → ", _link(b)) for a, b in sorted(graph.edges, key=lambda e: str(e))
    ]
    return el("ul", items, class_="edge-list")


def _link(node: Node) -> Html:
    return join(
        [
            el("span", LABELS[node.kind], class_="kind"),
            " ",
            el("a", node.name, href=url(node.kind, node.name)),
        ],
        "",
    )
