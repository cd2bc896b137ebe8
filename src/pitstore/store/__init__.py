"""The FeatureStore facade and its services (layer 6)."""

from __future__ import annotations

from pitstore.store.feature_store import FeatureStore

__all__ = ["FeatureStore"]
