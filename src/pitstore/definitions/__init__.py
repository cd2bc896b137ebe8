"""Definitions: pure, immutable, validated objects; no I/O (layer 2)."""

from __future__ import annotations

from pitstore.definitions.aggregation import Aggregation
from pitstore.definitions.base import Definition
from pitstore.definitions.entity import Entity
from pitstore.definitions.feature_service import FeatureService
from pitstore.definitions.feature_view import FeatureView, FeatureViewProjection
from pitstore.definitions.field import Field
from pitstore.definitions.on_demand import (
    OnDemandFeatureView,
    RequestSource,
    on_demand_feature_view,
)
from pitstore.definitions.refs import FeatureRef, parse_ref
from pitstore.definitions.repo import KINDS, RepoContents, from_spec
from pitstore.definitions.sources import (
    DataSource,
    ParquetSource,
    PushSource,
    StreamSource,
    source_from_spec,
)

__all__ = [
    "KINDS",
    "Aggregation",
    "DataSource",
    "Definition",
    "Entity",
    "FeatureRef",
    "FeatureService",
    "FeatureView",
    "FeatureViewProjection",
    "Field",
    "OnDemandFeatureView",
    "ParquetSource",
    "PushSource",
    "RequestSource",
    "RepoContents",
    "StreamSource",
    "from_spec",
    "on_demand_feature_view",
    "parse_ref",
    "source_from_spec",
]
