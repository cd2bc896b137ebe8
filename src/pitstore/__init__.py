"""pitstore: a feature store with exact point-in-time training data and fast online serving.

Importing this package is cheap: the public names below are loaded on first use, and heavy
packages (duckdb, pyarrow, pandas...) only where they are needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "PitstoreError": "pitstore.errors",
    "DefinitionError": "pitstore.errors",
    "ConfigError": "pitstore.errors",
    "NotFoundError": "pitstore.errors",
    "SchemaError": "pitstore.errors",
    "RegistryError": "pitstore.errors",
    "ConflictError": "pitstore.errors",
    "StoreUnavailableError": "pitstore.errors",
    "Bool": "pitstore.types",
    "Int32": "pitstore.types",
    "Int64": "pitstore.types",
    "Float32": "pitstore.types",
    "Float64": "pitstore.types",
    "String": "pitstore.types",
    "Bytes": "pitstore.types",
    "Timestamp": "pitstore.types",
    "Array": "pitstore.types",
    "Vector": "pitstore.types",
    "Entity": "pitstore.definitions",
    "Aggregation": "pitstore.definitions",
    "Field": "pitstore.definitions",
    "ParquetSource": "pitstore.definitions",
    "PushSource": "pitstore.definitions",
    "StreamSource": "pitstore.definitions",
    "FeatureView": "pitstore.definitions",
    "FeatureService": "pitstore.definitions",
    "OnDemandFeatureView": "pitstore.definitions",
    "RequestSource": "pitstore.definitions",
    "on_demand_feature_view": "pitstore.definitions",
    "FeatureStore": "pitstore.store",
}

__all__ = [
    "__version__",
    "PitstoreError",
    "DefinitionError",
    "ConfigError",
    "NotFoundError",
    "SchemaError",
    "RegistryError",
    "ConflictError",
    "StoreUnavailableError",
    "Bool",
    "Int32",
    "Int64",
    "Float32",
    "Float64",
    "String",
    "Bytes",
    "Timestamp",
    "Array",
    "Vector",
    "Entity",
    "Aggregation",
    "Field",
    "ParquetSource",
    "PushSource",
    "StreamSource",
    "FeatureView",
    "FeatureService",
    "OnDemandFeatureView",
    "RequestSource",
    "on_demand_feature_view",
    "FeatureStore",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pitstore' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from pitstore.definitions import (
        Aggregation,
        Entity,
        FeatureService,
        FeatureView,
        Field,
        OnDemandFeatureView,
        ParquetSource,
        PushSource,
        RequestSource,
        StreamSource,
        on_demand_feature_view,
    )
    from pitstore.errors import (
        ConfigError,
        ConflictError,
        DefinitionError,
        NotFoundError,
        PitstoreError,
        RegistryError,
        SchemaError,
        StoreUnavailableError,
    )
    from pitstore.store import FeatureStore
    from pitstore.types import (
        Array,
        Bool,
        Bytes,
        Float32,
        Float64,
        Int32,
        Int64,
        String,
        Timestamp,
        Vector,
    )
