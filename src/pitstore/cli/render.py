"""Turning library results into terminal output (rich tables and plain lines)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pitstore.definitions import (
    Definition,
    Entity,
    FeatureService,
    FeatureView,
    OnDemandFeatureView,
)
from pitstore.registry.plan import Plan

if TYPE_CHECKING:
    import pyarrow as pa

# Markup off by default: names, descriptions and values are the user's text, and "[/]" or
# "[see docs]" in them must print as written. Lines styled on purpose pass markup=True and
# escape() what they interpolate.
console = Console(highlight=False, markup=False)
errors = Console(stderr=True, highlight=False, markup=False)

_SIGN = {"add": "[green]+[/]", "change": "[yellow]~[/]", "remove": "[red]-[/]"}


def show_plan(plan: Plan) -> None:
    """Print a plan: one line per object, then its changed fields."""
    if plan.is_empty:
        console.print("No changes: the registry matches the repo.")
        return
    for change in plan.changes:
        kind = change.kind.replace("_", " ")
        console.print(f"{_SIGN[change.action]} {kind} [bold]{escape(change.name)}[/]", markup=True)
        for field in change.fields:
            console.print(f"    {field.path}: {_short(field.old)} -> {_short(field.new)}")
        if change.resets_data:
            console.print(
                "    [dim](its online data will be dropped: materialize again)[/]", markup=True
            )
        elif change.resets_watermark:
            ttl = (change.new or {}).get("ttl")
            again = f"its whole TTL ({escape(ttl)})" if ttl else "all its history"
            console.print(
                f"    [dim](the next incremental materialization loads {again} again)[/]",
                markup=True,
            )
    console.print(
        f"Plan: {len(plan.of('add'))} to add, {len(plan.of('change'))} to change, "
        f"{len(plan.of('remove'))} to remove."
    )


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


def definitions_table(kind: str, objects: list[Definition]) -> Table:
    """A table of definitions of one kind."""
    table = Table(title=kind.replace("_", " ").title() + "s")
    if kind == "entity":
        for col in ("name", "join keys", "description"):
            table.add_column(col)
        for e in objects:
            assert isinstance(e, Entity)
            keys = ", ".join(f"{k} ({t})" for k, t in zip(e.join_keys, e.dtypes, strict=True))
            table.add_row(e.name, keys, e.description)
    elif kind == "feature_view":
        for col in ("name", "entities", "features", "ttl", "online", "owner"):
            table.add_column(col)
        for v in objects:
            assert isinstance(v, FeatureView)
            table.add_row(
                v.name,
                ", ".join(v.entities),
                ", ".join(v.feature_names),
                v.to_spec()["ttl"] or "-",
                "yes" if v.online else "no",
                v.owner,
            )
    elif kind == "on_demand_feature_view":
        for col in ("name", "inputs", "features", "mode", "owner"):
            table.add_column(col)
        for o in objects:
            assert isinstance(o, OnDemandFeatureView)
            table.add_row(
                o.name, ", ".join(o.input_names()), ", ".join(o.feature_names), o.mode, o.owner
            )
    else:
        for col in ("name", "features", "owner"):
            table.add_column(col)
        for s in objects:
            assert isinstance(s, FeatureService)
            table.add_row(s.name, ", ".join(s.feature_refs), s.owner)
    return table


def features_table(views: list[FeatureView]) -> Table:
    """Every feature as ``view:feature`` with its type and description."""
    table = Table(title="Features")
    for col in ("feature", "type", "description"):
        table.add_column(col)
    for view in views:
        for field in view.features:
            table.add_row(f"{view.name}:{field.name}", str(field.dtype), field.description)
    return table


def arrow_head(table: pa.Table, rows: int) -> Table:
    """The first ``rows`` rows of an Arrow table as a rich table."""
    out = Table(show_edge=False)
    for name in table.column_names:
        out.add_column(name, overflow="fold")
    for row in table.slice(0, rows).to_pylist():
        out.add_row(*(format_value(v) for v in row.values()))
    return out


def format_value(value: Any) -> str:
    """A value as a short string (floats to 6 significant digits)."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}"
    return "null" if value is None else str(value)
