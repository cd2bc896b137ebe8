"""The catalog-wide pages: overview, search results, lineage, freshness; sign-in and errors."""

from __future__ import annotations

from typing import Any

from pitstore.registry.lineage import Node
from pitstore.ui import graph
from pitstore.ui.html import Child, Html, el, join
from pitstore.ui.model import LABELS
from pitstore.ui.pages.layout import (
    Ctx,
    age,
    badge,
    empty,
    freshness_badge,
    link,
    links,
    page,
    section,
    table,
    tags,
    when,
)
from pitstore.ui.search import Hit

Freshness = list[dict[str, Any]]

SEARCH_TIPS = (
    "Search matches names, descriptions, owners and tags. Narrow it with ",
    el("code", "owner:"),
    ", ",
    el("code", "tag:team=drivers"),
    " or ",
    el("code", "kind:view"),
    " (entity, view, on-demand, service, feature).",
)


def home_page(ctx: Ctx, freshness: Freshness) -> Html:
    """Counts, every object in tables, and the views' freshness."""
    model = ctx.model
    stale = [f for f in freshness if f["status"] in {"stale", "never"}]
    counts = [
        ("feature views", len(model.views), "#views"),
        ("on-demand views", len(model.on_demand), "#on-demand"),
        ("feature services", len(model.services), "#services"),
        ("entities", len(model.entities), "#entities"),
        ("features", sum(1 for i in model.items if i.kind == "feature"), None),
    ]
    cards = el(
        "ul",
        [
            el("li", el("a" if href else "span", el("strong", n), " ", label, href=href))
            for label, n, href in counts
            if n or label != "on-demand views"
        ],
        class_="counts",
    )
    alert = None
    if stale:
        names = join(link("feature_view", f["view"]) for f in stale)
        alert = el(
            "p",
            "Needs materialization: ",
            names,
            " (",
            el("a", "freshness", href="/ui/freshness"),
            ")",
            class_="alert",
            role="note",
        )
    body = [
        el("h1", f"Feature catalog of {ctx.project}"),
        el("p", *SEARCH_TIPS, class_="lead"),
        cards,
        alert,
        _views_section(ctx, freshness),
        _on_demand_section(ctx),
        _services_section(ctx),
        _entities_section(ctx),
    ]
    return page("Overview", body, ctx, here="/ui")


def _views_section(ctx: Ctx, freshness: Freshness) -> Html:
    status = {f["view"]: f for f in freshness}
    rows: list[list[Child]] = []
    for view in sorted(ctx.model.views.values(), key=lambda v: v.name):
        fresh = status.get(view.name)
        rows.append(
            [
                link("feature_view", view.name),
                view.description,
                links("entity", list(view.entities)),
                str(len(view.features)),
                view.owner,
                freshness_badge(fresh) if fresh else None,
            ]
        )
    content = (
        table(
            ["Name", "Description", "Entities", "Features", "Owner", "Freshness"],
            rows,
            "Feature views",
        )
        if rows
        else empty("No feature views yet.")
    )
    return section("Feature views", content, id="views")


def _on_demand_section(ctx: Ctx) -> Html | None:
    if not ctx.model.on_demand:
        return None
    rows: list[list[Child]] = [
        [
            link("on_demand_feature_view", o.name),
            o.description,
            join(el("code", v) for v, _ in o.sources),
            str(len(o.features)),
            o.owner,
        ]
        for o in sorted(ctx.model.on_demand.values(), key=lambda o: o.name)
    ]
    return section(
        "On-demand views",
        table(["Name", "Description", "Reads", "Features", "Owner"], rows, "On-demand views"),
        id="on-demand",
    )


def _services_section(ctx: Ctx) -> Html:
    rows: list[list[Child]] = [
        [
            link("feature_service", s.name),
            s.description,
            links("feature_view", [v for v, _ in s.projections if v in ctx.model.views]),
            str(sum(len(f) for _, f in s.projections)),
            s.owner,
        ]
        for s in sorted(ctx.model.services.values(), key=lambda s: s.name)
    ]
    content = (
        table(["Name", "Description", "Views", "Features", "Owner"], rows, "Feature services")
        if rows
        else empty("No feature services yet.")
    )
    return section("Feature services", content, id="services")


def _entities_section(ctx: Ctx) -> Html:
    rows: list[list[Child]] = [
        [
            link("entity", e.name),
            e.description,
            join(el("code", k) for k in e.join_keys),
            links("feature_view", ctx.model.views_of_entity(e.name)),
        ]
        for e in sorted(ctx.model.entities.values(), key=lambda e: e.name)
    ]
    content = (
        table(["Name", "Description", "Join keys", "Feature views"], rows, "Entities")
        if rows
        else empty("No entities yet.")
    )
    return section("Entities", content, id="entities")


# --- search ---------------------------------------------------------------------------------


def search_page(ctx: Ctx, query: str, hits: list[Hit]) -> Html:
    """Results of a submitted search (the page without JavaScript, or after Enter)."""
    if not query.strip():
        summary: Child = el("p", *SEARCH_TIPS)
    elif not hits:
        summary = el("p", f"Nothing matches {query!r}. ", *SEARCH_TIPS)
    else:
        summary = el(
            "p", f"{len(hits)} result{'s' if len(hits) != 1 else ''} for {query!r}.", role="status"
        )
    items = [
        el(
            "li",
            el(
                "div",
                badge(h.item.kind),
                " ",
                el("a", h.item.name, href=h.item.url),
                " ",
                el("span", h.item.detail, class_="muted"),
            ),
            el("p", h.item.description) if h.item.description else None,
            el("p", el("span", f"owner {h.item.owner}", class_="muted"), tags(h.item.tags))
            if h.item.owner or h.item.tags
            else None,
        )
        for h in hits
    ]
    body = [el("h1", "Search"), summary, el("ol", items, class_="results") if items else None]
    return page(f"Search: {query}" if query else "Search", body, ctx, query=query)


# --- lineage --------------------------------------------------------------------------------


def lineage_page(ctx: Ctx) -> Html:
    """The whole lineage graph, a legend, and the same edges as a list."""
    whole = graph.lineage(ctx.model)
    lonely = [Node("entity", e) for e in ctx.model.entities if not ctx.model.views_of_entity(e)]
    legend = el(
        "ul",
        [el("li", el("span", LABELS[k], class_=f"badge kind-{k}")) for k in graph.KIND_ORDER],
        class_="legend",
        aria_label="Node kinds",
    )
    body = [
        el("h1", "Lineage"),
        el(
            "p",
            "Sources and entities feed feature views; views feed on-demand views and feature "
            "services. Select a node to open its page.",
            class_="lead",
        ),
        legend,
        el(
            "div",
            graph.svg(graph.layout(whole, lonely), None, "Lineage graph of the project"),
            class_="graph",
        ),
        el("details", el("summary", "The graph as a list"), graph.edge_list(whole)),
    ]
    return page("Lineage", body, ctx, here="/ui/lineage")


# --- freshness ------------------------------------------------------------------------------


def freshness_page(ctx: Ctx, freshness: Freshness) -> Html:
    """Every view's last materialization watermark, its age and its TTL."""
    rows: list[list[Child]] = []
    for item in freshness:
        rows.append(
            [
                link("feature_view", item["view"]),
                when(item["watermark"]) or "never",
                age(item["age_seconds"]),
                item["ttl"] or "none",
                freshness_badge(item),
            ]
        )
    body = [
        el("h1", "Freshness"),
        el(
            "p",
            "The watermark is the end of the last successful materialization of a view into the "
            "online store. A view is stale when its watermark is older than its TTL: online "
            "reads then return nulls for entities not updated since. Run ",
            el("code", "pitstore materialize-incremental now"),
            ".",
            class_="lead",
        ),
        el("p", "As of ", when(ctx.now), ".", class_="muted"),
        table(
            ["View", "Materialized up to", "Age", "TTL", "Status"],
            rows,
            "Freshness of feature views",
        )
        if rows
        else empty("No feature views yet."),
    ]
    return page("Freshness", body, ctx, here="/ui/freshness")


# --- sign-in and errors ---------------------------------------------------------------------


def login_page(next_url: str, error: str | None = None, project: str = "") -> Html:
    """The token form: the server has auth on, and this browser is not signed in."""
    body = [
        el("h1", "Sign in"),
        el(
            "p",
            f"The feature server of {project or 'this project'} needs an access token: one of "
            "the tokens under server.auth.tokens in pitstore.yaml (ask its owner).",
        ),
        el("p", error, class_="alert", role="alert") if error else None,
        el(
            "form",
            el("label", "Access token", for_="token"),
            el(
                "input",
                id="token",
                name="token",
                type="password",
                required=True,
                autocomplete="current-password",
                autofocus=True,
            ),
            el("input", type="hidden", name="next", value=next_url),
            el("button", "Sign in", type="submit"),
            method="post",
            action="/ui/login",
            class_="login",
        ),
        el(
            "p",
            "The browser keeps a sign-in cookie derived from the token (not the token) until "
            "it closes.",
            class_="muted",
        ),
    ]
    return page("Sign in", body)


def error_page(
    status: int, message: str, closest: list[str] | None = None, ctx: Ctx | None = None
) -> Html:
    """A 403, 404 or 500 as a page, with the closest names when something was not found."""
    titles = {403: "Not allowed", 404: "Not found", 405: "Not allowed", 500: "Server error"}
    title = titles.get(status, "Error")
    hint = None
    if closest:
        hint = el("p", "Did you mean ", join(el("code", c) for c in closest), "?")
    body = [
        el("h1", title),
        el("p", message),
        hint,
        el("p", el("a", "Back to the overview", href="/ui")),
    ]
    return page(title, body, ctx)
