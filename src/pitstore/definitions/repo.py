"""A complete set of definitions (a feature repo's contents), checked as a whole.

Single definitions validate themselves; this module checks what spans several of them:
unique names, views naming known entities, services naming known views and features.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pitstore.definitions.base import Definition
from pitstore.definitions.entity import Entity
from pitstore.definitions.feature_service import FeatureService
from pitstore.definitions.feature_view import FeatureView
from pitstore.definitions.on_demand import OnDemandFeatureView
from pitstore.errors import DefinitionError, NotFoundError
from pitstore.names import reading_stored

_PUSHABLE = ("push", "stream")

#: Registry kind -> class.
KINDS: dict[str, type[Definition]] = {
    Entity.kind: Entity,
    FeatureView.kind: FeatureView,
    OnDemandFeatureView.kind: OnDemandFeatureView,
    FeatureService.kind: FeatureService,
}


def from_spec(kind: str, spec: Mapping[str, Any]) -> Definition:
    """Rebuild a definition of ``kind`` from its spec."""
    cls = KINDS.get(kind)
    if cls is None:
        raise DefinitionError(f"unknown object kind {kind!r}; known kinds: {sorted(KINDS)}")
    with reading_stored():  # reserved column names pass: refused when made and applied
        return cls.from_spec(spec)  # type: ignore[attr-defined,no-any-return]


@dataclass(frozen=True)
class RepoContents:
    """Entities, feature views and services by name, validated together."""

    entities: dict[str, Entity] = field(default_factory=dict)
    views: dict[str, FeatureView] = field(default_factory=dict)
    services: dict[str, FeatureService] = field(default_factory=dict)
    on_demand: dict[str, OnDemandFeatureView] = field(default_factory=dict)

    @classmethod
    def of(cls, objects: Iterable[Definition]) -> RepoContents:
        """Group ``objects`` by kind and validate them together."""
        contents = cls()
        for obj in objects:
            contents._add(obj)
        contents.validate()
        return contents

    def _add(self, obj: Definition) -> None:
        tables: dict[type[Definition], dict[str, Any]] = {
            Entity: self.entities,
            FeatureView: self.views,
            FeatureService: self.services,
            OnDemandFeatureView: self.on_demand,
        }
        table = tables.get(type(obj))
        if table is None:
            raise DefinitionError(f"not a definition pitstore can register: {obj!r}")
        existing: Definition | None = table.get(obj.name)
        if existing is not None and existing != obj:
            raise DefinitionError(
                f"two different {obj.kind.replace('_', ' ')}s are named {obj.name!r}; "
                "rename one of them"
            )
        table[obj.name] = obj

    def all(self) -> list[Definition]:
        """Every definition: entities, views, on-demand views, then services."""
        return [
            *self.entities.values(),
            *self.views.values(),
            *self.on_demand.values(),
            *self.services.values(),
        ]

    def feature_names(self, name: str) -> tuple[str, ...]:
        """The features of the view or on-demand view ``name``."""
        if name in self.views:
            return self.views[name].feature_names
        if name in self.on_demand:
            return self.on_demand[name].feature_names
        raise NotFoundError("feature view", name, [*self.views, *self.on_demand])

    def validate(self) -> None:
        """Check references between definitions; raise DefinitionError on the first problem."""
        for view in self.views.values():
            self._check_view(view)
        self._check_sources()
        for name in self.on_demand:
            if name in self.views:
                raise DefinitionError(
                    f"a feature view and an on-demand feature view are both named {name!r}; "
                    "feature references 'view:feature' need unique names"
                )
            self._check_on_demand(self.on_demand[name])
        for service in self.services.values():
            self._check_service(service)

    def _check_sources(self) -> None:
        """Views may share a source (a push source feeds several views): one name, one source."""
        seen: dict[str, FeatureView] = {}
        for view in self.views.values():
            first = seen.setdefault(view.source.name, view)
            pushable = {first.source.type, view.source.type} & set(_PUSHABLE)
            if pushable and first.source != view.source:
                raise DefinitionError(
                    f"feature views {first.name!r} and {view.name!r} use two different sources "
                    f"named {view.source.name!r}; use the same source object or rename one"
                )

    def check_push_columns(self, among: Collection[str] | None = None) -> None:
        """The views of one push source agree on the type of every column they share: a
        pushed row holds one value per column, and the source's log stores one column.

        Checked when definitions are applied, not when a registry is read: a registry that
        holds such views (applied before this check) still loads, its views still read.
        ``among``: report only clashes involving one of these views (those being applied).
        """
        types: dict[tuple[str, str], dict[Any, list[str]]] = {}
        for view in self.views.values():
            if view.source.type not in _PUSHABLE:
                continue
            fields = view.inputs if view.aggregations else view.features
            for name, dtype in [*self.join_keys(view), *((f.name, f.dtype) for f in fields)]:
                types.setdefault((view.source.name, name), {}).setdefault(dtype, []).append(
                    view.name
                )
        for (source, column), by_type in types.items():
            views = [v for names in by_type.values() for v in names]
            if len(by_type) > 1 and (among is None or any(v in among for v in views)):
                (first, one), (second, other) = list(by_type.items())[:2]
                raise DefinitionError(
                    f"feature views {one[0]!r} and {other[0]!r} are fed by push source "
                    f"{source!r} and declare its column {column!r} as {first} and as "
                    f"{second}; give the column one type in every view"
                )

    def push_views(self, source: str) -> list[FeatureView]:
        """The views fed by the push or stream source ``source`` (NotFoundError if none)."""
        views = [v for v in self.views.values() if v.source.name == source]
        if not views or views[0].source.type not in _PUSHABLE:
            names = {v.source.name for v in self.views.values() if v.source.type in _PUSHABLE}
            raise NotFoundError("push source (used by a feature view)", source, names)
        return views

    def _check_on_demand(self, odfv: OnDemandFeatureView) -> None:
        for view_name, features in odfv.sources:
            view = self.views.get(view_name)
            if view is None:
                raise NotFoundError(
                    f"feature view (source of on-demand view {odfv.name!r})", view_name, self.views
                )
            for feature in features:
                if feature not in view.feature_names:
                    raise NotFoundError(
                        f"feature of view {view_name!r} (used by on-demand view {odfv.name!r})",
                        feature,
                        view.feature_names,
                    )

    def _check_view(self, view: FeatureView) -> None:
        key_names: dict[str, str] = {}
        for name in view.entities:
            entity = self.entities.get(name)
            if entity is None:
                raise NotFoundError(
                    f"entity (used by feature view {view.name!r})", name, self.entities
                )
            for key in entity.join_keys:
                if key in key_names:
                    raise DefinitionError(
                        f"feature view {view.name!r}: entities {key_names[key]!r} and "
                        f"{name!r} both use join key {key!r}"
                    )
                key_names[key] = name
        for feature in view.feature_names:
            if feature in key_names:
                raise DefinitionError(
                    f"feature view {view.name!r}: field {feature!r} is a join key of entity "
                    f"{key_names[feature]!r}; pass the Entity object (not its name) in "
                    "entities=..., or remove the field from the schema"
                )

    def _check_service(self, service: FeatureService) -> None:
        for view_name, features in service.projections:
            if view_name not in self.views and view_name not in self.on_demand:
                raise NotFoundError(
                    f"feature view (used by feature service {service.name!r})",
                    view_name,
                    [*self.views, *self.on_demand],
                )
            known = self.feature_names(view_name)
            for feature in features:
                if feature not in known:
                    raise NotFoundError(
                        f"feature of view {view_name!r} (used by service {service.name!r})",
                        feature,
                        known,
                    )

    def join_keys(self, view: FeatureView) -> list[tuple[str, Any]]:
        """``(key, dtype)`` of every join key of ``view``, in entity order.

        A key declared in the view's schema takes that type; otherwise the entity's type.
        """
        declared = {f.name: f.dtype for f in view.key_fields}
        keys: list[tuple[str, Any]] = []
        for name in view.entities:
            entity = self.entities[name]
            for key, dtype in zip(entity.join_keys, entity.dtypes, strict=True):
                keys.append((key, declared.get(key, dtype)))
        return keys
