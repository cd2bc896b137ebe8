"""One page per catalog object: entity, feature view, on-demand view, service, feature, source."""

from __future__ import annotations

from typing import Any

from pitstore.definitions import FeatureView, Field, OnDemandFeatureView
from pitstore.definitions.code_deps import Dependency
from pitstore.registry.base import VersionRecord
from pitstore.registry.lineage import Node
from pitstore.ui import graph, snippets
from pitstore.ui.html import Child, Html, el, join
from pitstore.ui.model import LABELS
from pitstore.ui.pages.history import feature_history_section, recent_section
from pitstore.ui.pages.layout import (
    Ctx,
    age,
    code_block,
    describe,
    empty,
    facts,
    freshness_badge,
    heading,
    link,
    links,
    page,
    section,
    table,
    tags,
    when,
)

Freshness = dict[str, Any]


def _version_fact(ctx: Ctx, kind: str, name: str) -> Html | None:
    stored = ctx.model.snapshot.stored.get((kind, name))
    if stored is None:
        return None
    return el("span", f"v{stored.version}, ", when(stored.updated_at), f" by {stored.updated_by}")


def _lineage_section(ctx: Ctx, kind: str, name: str) -> Html:
    whole = graph.lineage(ctx.model)
    node = Node(kind, name)
    part = graph.neighbourhood(whole, node)
    drawing = graph.svg(graph.layout(part, [node]), node, f"Lineage of {name}")
    return section(
        "Lineage",
        el("div", drawing, class_="graph"),
        el("p", el("a", "Whole lineage graph", href="/ui/lineage")),
        id="lineage",
    )


def _snippet_section(code: str | None, what: str) -> Html:
    if code is None:
        return section("Use it", empty("No feature view is keyed by this entity alone."), id="use")
    return section(
        "Use it",
        el("p", f"Python that builds training data and reads online values of {what}:"),
        code_block(code, f"Python snippet for {what}", "snippet"),
        id="use",
    )


def _schema(view: str, fields: tuple[Field, ...]) -> Html:
    rows: list[list[Child]] = [
        [
            link("feature", f"{view}:{f.name}", f.name),
            el("code", f.dtype.to_string()),
            f.description,
            tags(f.tags),
        ]
        for f in fields
    ]
    return table(["Feature", "Type", "Description", "Tags"], rows, f"Features of {view}")


def _join_keys(ctx: Ctx, entities: tuple[str, ...]) -> Html:
    rows = []
    for name in entities:
        entity = ctx.model.entities[name]
        for key, dtype in zip(entity.join_keys, entity.dtypes, strict=True):
            rows.append([link("entity", name), el("code", key), el("code", dtype.to_string())])
    return table(["Entity", "Join key", "Type"], rows, "Entities and join keys")


# --- entity ---------------------------------------------------------------------------------


def entity_page(ctx: Ctx, name: str, records: list[VersionRecord]) -> Html:
    """An entity: join keys, the views keyed by it and the services using them."""
    entity = ctx.model.entities[name]
    views = ctx.model.views_of_entity(name)
    services = sorted({s for v in views for s in ctx.model.used_by.get(v, [])})
    keys = [
        [el("code", k), el("code", t.to_string())]
        for k, t in zip(entity.join_keys, entity.dtypes, strict=True)
    ]
    body = [
        heading("entity", name),
        describe(entity.description),
        facts(
            [
                ("Owner", entity.owner or None),
                ("Tags", tags(entity.tags)),
                ("Feature views", links("feature_view", views)),
                ("Feature services", links("feature_service", services)),
                ("Version", _version_fact(ctx, "entity", name)),
            ]
        ),
        section("Join keys", table(["Join key", "Type"], keys, "Join keys"), id="keys"),
        _lineage_section(ctx, "entity", name),
        _snippet_section(snippets.for_entity(ctx.model, name, ctx.repo), f"the views of {name}"),
        recent_section("entity", name, records),
    ]
    return page(f"Entity {name}", body, ctx)


# --- feature view ---------------------------------------------------------------------------


def view_page(ctx: Ctx, name: str, records: list[VersionRecord], fresh: Freshness | None) -> Html:
    """A feature view: facts, freshness, schema, aggregations, keys, users."""
    view = ctx.model.views[name]
    body = [
        heading("feature_view", name),
        describe(view.description),
        facts(
            [
                ("Owner", view.owner or None),
                ("Tags", tags(view.tags)),
                ("Entities", links("entity", list(view.entities))),
                ("Source", _source_fact(view)),
                ("TTL", _ttl(view) if view.ttl is not None else "none"),
                ("Online", "yes" if view.online else "no (offline only)"),
                ("Used by", _users(ctx, name)),
                ("Version", _version_fact(ctx, "feature_view", name)),
            ]
        ),
        _freshness_section(fresh),
        section("Schema", _schema(name, view.features), id="schema"),
        _aggregations(view),
        section("Entities and join keys", _join_keys(ctx, view.entities), id="keys"),
        _lineage_section(ctx, "feature_view", name),
        _snippet_section(snippets.for_view(ctx.model, name, ctx.repo), name),
        recent_section("feature_view", name, records),
    ]
    return page(f"Feature view {name}", body, ctx)


def _ttl(view: FeatureView) -> str:
    from pitstore.timeutil import format_duration

    assert view.ttl is not None
    return format_duration(view.ttl)


def _source_fact(view: FeatureView) -> Html:
    source = view.source
    where = getattr(source, "path", None)
    return el(
        "span",
        link("source", source.name),
        f" ({source.type}" + (f": {where}" if where else "") + ")",
    )


def _users(ctx: Ctx, view: str) -> Html | None:
    services = [link("feature_service", s) for s in sorted(ctx.model.used_by.get(view, []))]
    odfvs = [link("on_demand_feature_view", o) for o in sorted(ctx.model.feeds.get(view, []))]
    return join([*services, *odfvs]) if services or odfvs else None


def _freshness_section(fresh: Freshness | None) -> Html | None:
    if fresh is None:
        return None
    rows = [
        ("Status", freshness_badge(fresh)),
        ("Last materialized up to", when(fresh["watermark"]) or "never"),
        ("Age", age(fresh["age_seconds"])),
        ("TTL", fresh["ttl"] or "none"),
    ]
    return section("Freshness", facts(rows), id="freshness")


def _aggregations(view: FeatureView) -> Html | None:
    if not view.is_aggregated:
        return None
    rows: list[list[Child]] = [
        [el("code", a.name), el("code", a.column), a.function, _duration(a.window)]
        for a in view.aggregations
    ]
    inputs = [
        [el("code", f.name), el("code", f.dtype.to_string()), f.description] for f in view.inputs
    ]
    return section(
        "Aggregations",
        table(["Feature", "Column", "Function", "Window"], rows, "Aggregations"),
        el("h3", "Event columns read"),
        table(["Column", "Type", "Description"], inputs, "Event columns"),
        id="aggregations",
    )


def _duration(value: Any) -> str:
    from pitstore.timeutil import format_duration

    return format_duration(value)


# --- on-demand view -------------------------------------------------------------------------


def on_demand_page(ctx: Ctx, name: str, records: list[VersionRecord]) -> Html:
    """An on-demand view: inputs, outputs and its code."""
    odfv = ctx.model.on_demand[name]
    kind = "on_demand_feature_view"
    inputs = [
        [_view_link(ctx, v), join(el("code", f) for f in features)] for v, features in odfv.sources
    ]
    requests = [
        [link("request", r.name), el("code", f.name), el("code", f.dtype.to_string())]
        for r in odfv.requests
        for f in r.schema
    ]
    body = [
        heading(kind, name),
        describe(odfv.description),
        facts(
            [
                ("Owner", odfv.owner or None),
                ("Tags", tags(odfv.tags)),
                ("Mode", odfv.mode),
                ("Used by", links("feature_service", sorted(ctx.model.used_by.get(name, [])))),
                ("Version", _version_fact(ctx, kind, name)),
            ]
        ),
        section("Schema", _schema(name, odfv.features), id="schema"),
        section(
            "Inputs",
            table(["View", "Features"], inputs, "Feature inputs") if inputs else None,
            table(["Request source", "Field", "Type"], requests, "Request fields")
            if requests
            else None,
            id="inputs",
        ),
        _code_section(odfv),
        _lineage_section(ctx, kind, name),
        _snippet_section(snippets.for_view(ctx.model, name, ctx.repo), name),
        recent_section(kind, name, records),
    ]
    return page(f"On-demand view {name}", body, ctx)


def _view_link(ctx: Ctx, name: str) -> Html:
    kind = "on_demand_feature_view" if name in ctx.model.on_demand else "feature_view"
    return link(kind, name)


def _code_section(odfv: OnDemandFeatureView) -> Html:
    label = f"Code of {odfv.function_name} (sha256 {odfv.code_hash[:12]})"
    return section(
        "Code",
        el("p", f"{odfv.function_name}, run on each request and on training frames:"),
        code_block(odfv.code, label, "odfv-code"),
        _deps_part([Dependency.parse(d) for d in odfv.deps]),
        id="code",
    )


def _deps_part(deps: list[Dependency]) -> Html:
    """The user code the function reaches, one folded block each: its sha256 covers them, so
    an edit of a helper shows here as what changed."""
    title = el("h3", "Code it reaches")
    if not deps:  # also a view registered before deps were kept
        return el("div", title, empty("No helpers, repo modules or constants."), class_="deps")
    blocks = [
        el(
            "details",
            el("summary", el("code", dep.name), f" (sha256 {dep.sha256[:12]})"),
            code_block(dep.text, f"Code of {dep.name}", f"odfv-dep-{i}"),
            class_="dep",
        )
        for i, dep in enumerate(deps, 1)
    ]
    intro = "Helpers, repo modules and constants it uses; the view's sha256 covers them too:"
    return el("div", title, el("p", intro), blocks, class_="deps")


# --- feature service ------------------------------------------------------------------------


def service_page(ctx: Ctx, name: str, records: list[VersionRecord]) -> Html:
    """A feature service: its features and the entity columns it needs."""
    service = ctx.model.services[name]
    rows: list[list[Child]] = []
    for view_name, features in service.projections:
        view = ctx.model.views.get(view_name) or ctx.model.on_demand[view_name]
        for feature in features:
            field = view.feature(feature)
            rows.append(
                [
                    _view_link(ctx, view_name),
                    link("feature", f"{view_name}:{feature}", feature),
                    el("code", field.dtype.to_string()),
                    field.description,
                ]
            )
    keys = snippets.entity_columns(ctx.model, [v for v, _ in service.projections])
    body = [
        heading("feature_service", name),
        describe(service.description),
        facts(
            [
                ("Owner", service.owner or None),
                ("Tags", tags(service.tags)),
                (
                    "Entity columns",
                    join(el("code", f"{k}: {t}") for k, t in keys) if keys else None,
                ),
                ("Version", _version_fact(ctx, "feature_service", name)),
            ]
        ),
        section(
            "Features",
            table(["View", "Feature", "Type", "Description"], rows, "Features"),
            id="schema",
        ),
        _lineage_section(ctx, "feature_service", name),
        _snippet_section(snippets.for_service(ctx.model, name, ctx.repo), name),
        recent_section("feature_service", name, records),
    ]
    return page(f"Feature service {name}", body, ctx)


# --- feature --------------------------------------------------------------------------------


def feature_page(
    ctx: Ctx, view_name: str, name: str, records: list[VersionRecord], fresh: Freshness | None
) -> Html:
    """One feature of a view or an on-demand view."""
    view: FeatureView | OnDemandFeatureView = (
        ctx.model.views.get(view_name) or ctx.model.on_demand[view_name]
    )
    field = view.feature(name)
    kind = view.kind
    services = sorted(
        s.name
        for s in ctx.model.services.values()
        if any(v == view_name and name in f for v, f in s.projections)
    )
    body = [
        heading("feature", f"{view_name}:{name}"),
        describe(field.description),
        facts(
            [
                ("Type", el("code", field.dtype.to_string())),
                ("View", link(kind, view_name)),
                ("Owner", view.owner or None),
                ("Tags", tags(field.tags)),
                ("View tags", tags(view.tags)),
                ("Aggregation", _aggregation_of(view, name)),
                ("TTL", _ttl(view) if isinstance(view, FeatureView) and view.ttl else None),
                ("Services", links("feature_service", services)),
                ("Freshness", freshness_badge(fresh) if fresh else None),
            ]
        ),
        _lineage_section(ctx, kind, view_name),
        _snippet_section(snippets.for_feature(ctx.model, view_name, name, ctx.repo), name),
        feature_history_section(view_name, name, records) if kind == "feature_view" else None,
    ]
    return page(f"Feature {view_name}:{name}", body, ctx)


def _aggregation_of(view: FeatureView | OnDemandFeatureView, feature: str) -> str | None:
    if not isinstance(view, FeatureView):
        return None
    for a in view.aggregations:
        if a.name == feature:
            return f"{a.function}({a.column}) over {_duration(a.window)}"
    return None


# --- source ---------------------------------------------------------------------------------


def source_page(ctx: Ctx, name: str) -> Html:
    """A source (or request source) and the views that read it."""
    sources = ctx.model.sources[name]
    body: list[Child] = [heading(sources[0].kind, name)]
    for source in sources:
        spec = {k: v for k, v in source.spec.items() if k not in {"name", "schema"}}
        rows: list[tuple[str, Child]] = [
            (k.replace("_", " "), _spec_value(v)) for k, v in spec.items()
        ]
        readers = join(link(k, n) for k, n in source.readers)
        rows.append(("Read by", readers))
        fields = source.spec.get("schema")
        body.append(
            section(
                LABELS[source.kind].capitalize(),
                facts(rows),
                _request_schema(fields),
                id=f"{source.kind}-spec",
            )
        )
    body.append(_lineage_section(ctx, sources[0].kind, name))
    return page(f"Source {name}", body, ctx)


def _spec_value(value: object) -> Child:
    if value is None or value == "":
        return None
    return el("code", str(value))


def _request_schema(fields: object) -> Html | None:
    if not isinstance(fields, list):
        return None
    rows: list[list[Child]] = [[el("code", f["name"]), el("code", f["dtype"])] for f in fields]
    return table(["Field", "Type"], rows, "Request fields")
