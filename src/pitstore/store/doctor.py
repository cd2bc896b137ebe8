"""``pitstore doctor``: is every configured backend reachable, and what does it hold?"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pitstore.errors import PitstoreError

if TYPE_CHECKING:
    from pitstore.store.feature_store import FeatureStore


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check: what was checked, whether it passed, what was found, how long it took."""

    name: str
    ok: bool
    detail: str
    seconds: float


def run_checks(store: FeatureStore) -> list[CheckResult]:
    """Every check, in order; a failing one does not stop the others."""
    return [
        _check("config", lambda: _config(store)),
        _check(f"registry ({store.config.registry.type})", lambda: _registry(store)),
        _check(f"offline engine ({store.config.offline_engine.type})", lambda: _offline(store)),
        _check(f"online store ({store.config.online_store.type})", lambda: _online(store)),
    ]


def _check(name: str, probe: Callable[[], str]) -> CheckResult:
    began = time.perf_counter()
    try:
        detail, ok = probe(), True
    except PitstoreError as exc:
        detail, ok = str(exc), False
    except Exception as exc:  # a driver error we did not translate: still a clear line
        detail, ok = f"{type(exc).__name__}: {exc}", False
    return CheckResult(name, ok, detail, time.perf_counter() - began)


def _config(store: FeatureStore) -> str:
    return f"project {store.config.project!r} in {store.repo_path}"


def _registry(store: FeatureStore) -> str:
    snapshot = store.catalog.current()
    contents = snapshot.contents
    return (
        f"revision {snapshot.revision}: {len(contents.entities)} entities, "
        f"{len(contents.views)} feature views, {len(contents.on_demand)} on-demand views, "
        f"{len(contents.services)} services"
    )


def _offline(store: FeatureStore) -> str:
    from pitstore.offline.files import has_files
    from pitstore.store.retrieval import source_spec

    views = store.catalog.current().contents.views.values()
    missing = []
    for view in views:
        spec = source_spec(view, store.repo_path)
        if not has_files(spec.path):
            missing.append(f"{view.name}: {spec.path}")
    if missing:
        raise PitstoreError("no data at " + "; ".join(missing))
    engine = store.offline  # opening it checks its settings
    return f"{type(engine).__name__} ready; sources of {len(views)} views found"


def _online(store: FeatureStore) -> str:
    from pitstore.online.base import ViewRead

    views = list(store.catalog.current().contents.views)
    # one real round trip: a key that no view holds
    store.online.read([ViewRead(views[0] if views else "pitstore_doctor", (), [b"\x01probe"])])
    registry = store.registry
    marks = [(v, registry.get_watermark(v)) for v in views]
    done = [f"{v} up to {w:%Y-%m-%d %H:%M:%S}" for v, w in marks if w is not None]
    return f"{type(store.online).__name__} answers; materialized: {', '.join(done) or 'none yet'}"
