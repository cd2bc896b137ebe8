"""Test helpers for pitstore and for third-party backends: the conformance suites.

``from pitstore.testing import OnlineStoreConformance, RegistryConformance`` — see
:mod:`pitstore.testing.online_store` and :mod:`pitstore.testing.registry`. This package
imports pytest and hypothesis; it is never imported by ``import pitstore``.
"""

from __future__ import annotations

import pytest

# Plain `assert`s in the suite get pytest's detailed messages in the projects that run it.
pytest.register_assert_rewrite(
    "pitstore.testing.online_store", "pitstore.testing.online_values", "pitstore.testing.registry"
)

from pitstore.testing.online_store import OnlineStoreConformance  # noqa: E402
from pitstore.testing.registry import RegistryConformance, RegistryRecipe  # noqa: E402

__all__ = ["OnlineStoreConformance", "RegistryConformance", "RegistryRecipe"]
