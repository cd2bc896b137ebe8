"""Registry: persisted definitions, versions, lineage and watermarks (layer 4)."""

from __future__ import annotations

from pitstore.registry.base import Registry, StoredObject, VersionRecord
from pitstore.registry.lineage import LineageGraph, Node, build_lineage
from pitstore.registry.plan import FieldChange, ObjectChange, Plan, diff_specs, make_plan

__all__ = [
    "FieldChange",
    "LineageGraph",
    "Node",
    "ObjectChange",
    "Plan",
    "Registry",
    "StoredObject",
    "VersionRecord",
    "build_lineage",
    "diff_specs",
    "make_plan",
]
