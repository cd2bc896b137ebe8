"""FeatureStore: the facade the CLI, the server and users call.

It wires the configured registry, offline engine and online store together; the work itself
lives in small service modules (apply, retrieval, materialization, online reads).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pitstore.config import ProjectConfig, find_repo, load_config
from pitstore.definitions import (
    Definition,
    Entity,
    FeatureService,
    FeatureView,
    OnDemandFeatureView,
)
from pitstore.errors import DefinitionError, NotFoundError
from pitstore.registry.base import StoredObject, VersionRecord
from pitstore.registry.lineage import LineageGraph, build_lineage
from pitstore.registry.plan import Plan
from pitstore.store import apply as apply_service
from pitstore.store.apply import ApplyResult
from pitstore.store.backends import open_offline_engine, open_online_store, open_registry
from pitstore.store.catalog import Catalog

if TYPE_CHECKING:
    from pitstore.offline.base import EntityInput, OfflineEngine
    from pitstore.online.base import OnlineStore
    from pitstore.registry.base import Registry
    from pitstore.store.doctor import CheckResult
    from pitstore.store.materialize import MaterializeReport, Progress
    from pitstore.store.online import OnlineResponse, OnlineService
    from pitstore.store.push import Rows
    from pitstore.store.push_source import Origin, PushReport
    from pitstore.store.retrieval import HistoricalJob

KIND_ORDER = ("entity", "feature_view", "on_demand_feature_view", "feature_service")


class FeatureStore:
    """A feature repo's store: ``FeatureStore("path/to/repo")``.

    Backends are opened on first use and closed by :meth:`close` (or a ``with`` block).
    """

    def __init__(
        self,
        repo_path: str | os.PathLike[str] = ".",
        config: ProjectConfig | None = None,
        *,
        registry_refresh_seconds: float = 5.0,
    ) -> None:
        self.repo_path = Path(repo_path).resolve() if config else find_repo(repo_path)
        self.config = config or load_config(self.repo_path)
        self._refresh = registry_refresh_seconds
        self._registry: Registry | None = None
        self._offline: OfflineEngine | None = None
        self._online: OnlineStore | None = None
        self._catalog: Catalog | None = None
        self._online_service: OnlineService | None = None
        # On-demand functions by code hash: from objects applied in this process, or loaded
        # from the repo's files; never from the registry (it keeps only their source text).
        self._functions: dict[str, Callable[..., Any]] = {}

    # -- backends -------------------------------------------------------------------------

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = open_registry(self.config, self.repo_path)
        return self._registry

    @property
    def offline(self) -> OfflineEngine:
        if self._offline is None:
            self._offline = open_offline_engine(self.config, self.repo_path)
        return self._offline

    @property
    def online(self) -> OnlineStore:
        if self._online is None:
            self._online = open_online_store(self.config, self.repo_path)
        return self._online

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = Catalog(self.registry, self._refresh)
        return self._catalog

    def close(self) -> None:
        """Close every backend that was opened."""
        for backend in (self._online, self._offline, self._registry):
            if backend is not None:
                backend.close()
        self._registry = self._offline = self._online = None
        self._catalog = None
        self._online_service = None

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plan and apply -------------------------------------------------------------------

    def load_definitions(self) -> list[Definition]:
        """The definitions in the repo's Python files (validated together)."""
        from pitstore.store.repo_loader import load_repo

        objects = load_repo(self.repo_path).all()
        self._remember_functions(objects)
        return objects

    def _remember_functions(self, objects: Iterable[Definition]) -> None:
        for obj in objects:
            if isinstance(obj, OnDemandFeatureView) and obj.function is not None:
                self._functions[obj.code_hash] = obj.function
                # Registered before deps were kept: matched by its text, as then (`plan`
                # shows the deps to record)
                self._functions.setdefault(obj.text_hash, obj.function)

    def transform_function(self, view: OnDemandFeatureView) -> Callable[..., Any]:
        """The function of a registered on-demand view, checked against its registered code."""
        function = self._functions.get(view.code_hash)
        if function is None:
            self.load_definitions()
            function = self._functions.get(view.code_hash)
        if function is None:
            raise DefinitionError(
                f"on-demand feature view {view.name!r}: the repo's files ({self.repo_path}) "
                f"have no function with its registered code (sha256 {view.code_hash[:12]}); "
                "the code changed since it was applied: run `pitstore apply`"
            )
        return function

    def plan(
        self, objects: Iterable[Definition] | None = None, *, prune: bool | None = None
    ) -> Plan:
        """What :meth:`apply` would change, without changing anything.

        With no ``objects``, the repo's files are the whole truth (objects missing from them
        are removed); with ``objects``, they are added or changed and nothing is removed,
        unless ``prune=True``.
        """
        if objects is None:
            objects, default_prune = self.load_definitions(), True
        else:
            objects = list(objects)
            self._remember_functions(objects)
            default_prune = False
        prune = default_prune if prune is None else prune
        return apply_service.build_plan(self.registry, objects, prune)

    def apply(
        self, objects: Iterable[Definition] | Plan | None = None, *, prune: bool | None = None
    ) -> ApplyResult:
        """Apply definitions (or a plan from :meth:`plan`) in one registry transaction.

        Raises :class:`~pitstore.errors.ConflictError` if the registry changed after planning.
        """
        plan = objects if isinstance(objects, Plan) else self.plan(objects, prune=prune)
        revision = self.registry.revision()
        if not plan.is_empty:
            # Online rows a change makes stale are cleared inside the registry transaction:
            # a store that fails there leaves the registry as it was, and the next apply
            # tries again (cleared after the commit, a failure left the new definition over
            # the old rows, and the next apply saw nothing to do). Their watermarks go first,
            # in a transaction of their own: if the apply fails after some rows are cleared
            # (a store half-way, the registry's commit), the next incremental materialization
            # refills those views instead of starting from the old watermark over no rows.
            reset = [c.name for c in plan.changes if c.resets_data]
            restart = [c.name for c in plan.changes if c.resets_watermark]
            if restart:
                self.registry.clear_watermarks(restart)
            revision = self.registry.apply(
                plan, apply_service.current_user(), lambda: self._clear_online(reset)
            )
            self.catalog.invalidate()
            self._online_service = None
        return ApplyResult(plan, revision)

    def _clear_online(self, views: list[str]) -> None:
        for view in views:
            self.online.delete_view(view)

    # -- catalog --------------------------------------------------------------------------

    def list_entities(self) -> list[Entity]:
        return list(self.catalog.current().contents.entities.values())

    def list_feature_views(self) -> list[FeatureView]:
        return list(self.catalog.current().contents.views.values())

    def list_on_demand_feature_views(self) -> list[OnDemandFeatureView]:
        return list(self.catalog.current().contents.on_demand.values())

    def list_feature_services(self) -> list[FeatureService]:
        return list(self.catalog.current().contents.services.values())

    def get_entity(self, name: str) -> Entity:
        return self.catalog.current().entity(name)

    def get_feature_view(self, name: str) -> FeatureView:
        return self.catalog.current().view(name)

    def get_feature_service(self, name: str) -> FeatureService:
        return self.catalog.current().service(name)

    def describe(self, name: str, kind: str | None = None) -> StoredObject:
        """The registered object called ``name`` (of ``kind``, or of any kind)."""
        stored = self.catalog.current().stored
        kinds = [kind] if kind else list(KIND_ORDER)
        for k in kinds:
            if (k, name) in stored:
                return stored[(k, name)]
        raise NotFoundError("object", name, {n for _, n in stored})

    def history(self, name: str, kind: str | None = None) -> list[VersionRecord]:
        """Every applied version of an object (current or removed), oldest first."""
        kinds = [kind] if kind else list(KIND_ORDER)
        for k in kinds:
            records = self.registry.history(k, name)
            if records:
                return records
        raise NotFoundError("object", name, {n for _, n in self.catalog.current().stored})

    def lineage(self) -> LineageGraph:
        """Sources -> views -> services, as a graph."""
        return build_lineage(self.catalog.current().stored.values())

    def teardown(self) -> None:
        """Remove the project's registry objects and online data (offline data is untouched)."""
        for view in self.catalog.current().contents.views:
            self.online.delete_view(view)
        self.registry.teardown()
        self.catalog.invalidate()

    def doctor(self) -> list[CheckResult]:
        """Check that the configured registry, offline engine and online store answer."""
        from pitstore.store.doctor import run_checks

        return run_checks(self)

    # -- training data --------------------------------------------------------------------

    def get_historical_features(
        self,
        entity_df: EntityInput,
        features: list[str] | None = None,
        *,
        feature_service: str | FeatureService | None = None,
        full_feature_names: bool = False,
    ) -> HistoricalJob:
        """Point-in-time correct feature values for every row of ``entity_df``."""
        from pitstore.store.retrieval import historical

        return historical(self, entity_df, features, feature_service, full_feature_names)

    # -- materialization ------------------------------------------------------------------

    def materialize(
        self,
        start: datetime,
        end: datetime,
        views: list[str] | None = None,
        *,
        progress: Progress | None = None,
    ) -> MaterializeReport:
        """Load the latest value per entity with ``start <= ts <= end`` into the online store."""
        from pitstore.store.materialize import materialize

        return materialize(self, start, end, views, progress=progress, incremental=False)

    def materialize_incremental(
        self, end: datetime, views: list[str] | None = None, *, progress: Progress | None = None
    ) -> MaterializeReport:
        """Materialize each view from its watermark (or its TTL before ``end``) up to ``end``."""
        from pitstore.store.materialize import materialize

        return materialize(self, None, end, views, progress=progress, incremental=True)

    # -- online reads ---------------------------------------------------------------------

    def get_online_features(
        self,
        features: list[str] | None = None,
        entity_rows: list[dict[str, Any]] | dict[str, list[Any]] | None = None,
        *,
        feature_service: str | FeatureService | None = None,
        full_feature_names: bool = False,
        now: datetime | None = None,
    ) -> OnlineResponse:
        """The latest feature values of the given entities, with TTL applied at ``now``."""
        response: OnlineResponse = self.online_reads.read(
            features, entity_rows, feature_service, full_feature_names, now
        )
        return response

    @property
    def online_reads(self) -> OnlineService:
        """The online read service (cached read plans; prepare/fetch/finish for batching)."""
        service = self._online_service
        if service is None:  # the import runs once, not on every read (the hot path)
            from pitstore.store.online import OnlineService

            service = self._online_service = OnlineService(self)
        return service

    # -- push -----------------------------------------------------------------------------

    def write_to_online(self, view: str, rows: Rows, *, base64_bytes: bool = False) -> int:
        """Write rows of feature view ``view`` to the online store; returns rows applied.

        ``rows`` is a list of row dicts or a dict of columns, each with the view's join keys,
        its source's timestamp column (and optionally its created column) and every feature.
        All rows are checked first: any bad row raises SchemaError and nothing is written.
        Writes are monotonic: a row older than the stored one does not replace it.
        ``base64_bytes=True`` takes bytes features as base64 text (rows parsed from JSON).
        """
        from pitstore.store.push import push_rows

        return push_rows(self, view, rows, base64_bytes=base64_bytes)

    def push(
        self,
        source: str,
        rows: Rows,
        to: str = "online",
        *,
        origin: Origin | None = None,
        base64_bytes: bool = False,
        idempotency_key: str | None = None,
    ) -> PushReport:
        """Push rows of the push (or stream) source ``source`` to every view it feeds.

        ``to`` is ``"online"``, ``"offline"`` (the source's push log, which
        :meth:`get_historical_features` reads with the batch source) or
        ``"online_and_offline"``. ``rows`` is a list of row dicts, a dict of columns or a
        DataFrame/Arrow table with the columns of every view fed by the source. Every row is
        checked against every view first: any bad row raises SchemaError and nothing is
        written. Online writes are monotonic; events of aggregated views are merged into the
        stored event lists. ``origin`` is for stream consumers (replay-safe writes).
        ``base64_bytes=True`` takes bytes features as base64 text (rows parsed from JSON; a
        str is refused otherwise). With ``idempotency_key`` (e.g. a UUID per push), pushing
        the same rows again with the same key, within a day, writes them once: resend a push
        that failed or timed out without logging or counting it twice.
        """
        from pitstore.store.push_source import push

        return push(
            self,
            source,
            rows,
            to,
            origin,
            base64_bytes=base64_bytes,
            idempotency_key=idempotency_key,
        )
