"""FeatureView: a group of features read from one source and keyed by entities."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, ClassVar

from pitstore.definitions.aggregation import Aggregation
from pitstore.definitions.base import Definition, as_tuple, validate_tags, validate_text
from pitstore.definitions.entity import Entity
from pitstore.definitions.field import Field
from pitstore.definitions.sources import DataSource, source_from_spec
from pitstore.errors import DefinitionError, NotFoundError
from pitstore.names import validate_name
from pitstore.timeutil import format_duration, parse_duration


class FeatureView(Definition):
    """Features of one or more entities, read from ``source``.

    ``schema`` lists the feature columns; it may also list join-key columns to declare their
    type in the source (they are not features). With a ``ttl``, a value older than ``ttl`` at
    the time asked for is treated as missing, offline and online alike.

    With ``aggregations``, the view is an *aggregated view* over a source of events: ``schema``
    lists the event columns the aggregations read, and the features are the aggregations
    (see :class:`~pitstore.definitions.aggregation.Aggregation`); such a view has no TTL.
    """

    __slots__ = (
        "aggregations",
        "description",
        "entities",
        "inputs",
        "key_fields",
        "online",
        "owner",
        "schema",
        "source",
        "tags",
        "ttl",
    )
    kind: ClassVar[str] = "feature_view"

    def __init__(
        self,
        name: str,
        entities: Sequence[Entity | str],
        schema: Sequence[Field],
        source: DataSource,
        ttl: timedelta | str | None = None,
        online: bool = True,
        owner: str = "",
        description: str = "",
        tags: Mapping[str, str] | None = None,
        aggregations: Sequence[Aggregation] = (),
    ) -> None:
        self.name = validate_name(name, "feature view")
        self.entities: tuple[str, ...] = _entity_names(name, entities)
        if not isinstance(source, DataSource):
            raise DefinitionError(
                f"feature view {name!r}: source must be a source such as ParquetSource(...), "
                f"got {source!r}"
            )
        self.source = source
        self.schema: tuple[Field, ...]
        self.key_fields: tuple[Field, ...]
        self.schema, self.key_fields = _split_schema(name, schema, entities, source)
        self.aggregations: tuple[Aggregation, ...] = as_tuple(
            aggregations,
            f"aggregations of feature view {name!r}",
            "[Aggregation('trips', 'sum', '1h')]",
        )
        self.inputs: tuple[Field, ...] = ()
        if self.aggregations:
            self.inputs = self.schema
            self.schema = _aggregated_features(name, self.aggregations, self.inputs, ttl)
        self.ttl = _validate_ttl(name, ttl)
        if not isinstance(online, bool):
            raise DefinitionError(f"feature view {name!r}: online must be True or False")
        self.online = online
        self.owner = validate_text(owner, f"owner of feature view {name!r}")
        self.description = validate_text(description, f"description of feature view {name!r}")
        self.tags = validate_tags(tags, f"feature view {name!r}")
        self._freeze()

    @property
    def features(self) -> tuple[Field, ...]:
        """The feature fields (the schema without join keys)."""
        return self.schema

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.schema)

    def feature(self, name: str) -> Field:
        """The feature called ``name``, or a NotFoundError listing the closest ones."""
        for field in self.schema:
            if field.name == name:
                return field
        raise NotFoundError(f"feature of view {self.name!r}", name, self.feature_names)

    def __getitem__(self, features: Sequence[str]) -> FeatureViewProjection:
        """``view[["a", "b"]]``: the same view restricted to some features (for services)."""
        if isinstance(features, str):
            features = [features]
        return FeatureViewProjection(self, tuple(features))

    @property
    def is_aggregated(self) -> bool:
        """True for a view of windowed aggregations."""
        return bool(self.aggregations)

    def to_spec(self) -> dict[str, Any]:
        spec = self._base_spec()
        if self.aggregations:
            spec["aggregations"] = [a.to_spec() for a in self.aggregations]
            spec["inputs"] = [f.to_spec() for f in self.inputs]
        return spec

    def _base_spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "entities": list(self.entities),
            "features": [f.to_spec() for f in self.schema],
            "key_fields": [f.to_spec() for f in self.key_fields],
            "source": self.source.to_spec(),
            "ttl": format_duration(self.ttl) if self.ttl is not None else None,
            "online": self.online,
            "owner": self.owner,
            "description": self.description,
            "tags": self.tags,
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> FeatureView:
        aggregations = [Aggregation.from_spec(a) for a in spec.get("aggregations", [])]
        fields = spec["inputs"] if aggregations else spec["features"]
        view = cls(
            spec["name"],
            entities=list(spec["entities"]),
            schema=[Field.from_spec(f) for f in fields],
            aggregations=aggregations,
            source=source_from_spec(spec["source"]),
            ttl=spec.get("ttl"),
            online=spec.get("online", True),
            owner=spec.get("owner", ""),
            description=spec.get("description", ""),
            tags=spec.get("tags"),
        )
        # The spec names entities, not Entity objects, so the key fields cannot be told apart
        # from features by the constructor; they are stored apart in the spec and set here.
        key_fields = tuple(Field.from_spec(f) for f in spec.get("key_fields", []))
        object.__setattr__(view, "key_fields", key_fields)
        return view


class FeatureViewProjection:
    """Some features of a view, as used by a feature service: ``view[["a", "b"]]``."""

    __slots__ = ("features", "view")

    def __init__(self, view: FeatureView, features: tuple[str, ...]) -> None:
        if not features:
            raise DefinitionError(f"a projection of view {view.name!r} needs at least one feature")
        for name in features:
            view.feature(name)
        if len(set(features)) != len(features):
            raise DefinitionError(f"projection of view {view.name!r} repeats a feature: {features}")
        self.view = view
        self.features = features

    def __repr__(self) -> str:
        return f"{self.view.name}[{list(self.features)}]"


def _entity_names(view: str, entities: Sequence[Entity | str]) -> tuple[str, ...]:
    if isinstance(entities, (str, Entity)):
        entities = [entities]
    names: list[str] = []
    for entity in entities:
        if isinstance(entity, Entity):
            names.append(entity.name)
        elif isinstance(entity, str):
            names.append(validate_name(entity, f"entity of feature view {view!r}"))
        else:
            raise DefinitionError(
                f"feature view {view!r}: entities must be Entity objects or entity names, "
                f"got {entity!r}"
            )
    if not names:
        raise DefinitionError(f"feature view {view!r} needs at least one entity")
    if len(set(names)) != len(names):
        raise DefinitionError(f"feature view {view!r} lists an entity twice: {names}")
    return tuple(names)


def _split_schema(
    view: str, schema: Sequence[Field], entities: Sequence[Entity | str], source: DataSource
) -> tuple[tuple[Field, ...], tuple[Field, ...]]:
    """Split ``schema`` into feature fields and join-key fields, with checks."""
    example = "[Field('conv_rate', Float32)]"
    fields = list(as_tuple(schema, f"schema of feature view {view!r}", example))
    for field in fields:
        if not isinstance(field, Field):
            raise DefinitionError(
                f"feature view {view!r}: schema entries must be Field objects, got {field!r}"
            )
    names = [f.name for f in fields]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DefinitionError(f"feature view {view!r}: schema repeats field(s) {duplicates}")
    reserved = {source.timestamp_field, source.created_timestamp_field}
    clash = [n for n in names if n in reserved]
    if clash:
        raise DefinitionError(
            f"feature view {view!r}: field {clash[0]!r} is the source's timestamp column; "
            "remove it from the schema"
        )
    keys = {k for e in entities if isinstance(e, Entity) for k in e.join_keys}
    features = tuple(f for f in fields if f.name not in keys)
    key_fields = tuple(f for f in fields if f.name in keys)
    if not features:
        raise DefinitionError(f"feature view {view!r} has no features in its schema")
    return features, key_fields


def _aggregated_features(
    view: str, aggregations: tuple[Aggregation, ...], inputs: tuple[Field, ...], ttl: object
) -> tuple[Field, ...]:
    """The features of an aggregated view: one per aggregation, typed from its input."""
    if ttl is not None:
        raise DefinitionError(
            f"feature view {view!r} has aggregations and a ttl; an aggregated view's windows "
            "say how far back it looks: remove ttl"
        )
    by_name = {f.name: f for f in inputs}
    features = []
    for aggregation in aggregations:
        if not isinstance(aggregation, Aggregation):
            raise DefinitionError(
                f"feature view {view!r}: aggregations must be Aggregation objects, "
                f"got {aggregation!r}"
            )
        source = by_name.get(aggregation.column)
        if source is None:
            raise NotFoundError(
                f"column of view {view!r} (aggregation {aggregation.name!r}; declare it in "
                "the schema)",
                aggregation.column,
                by_name,
            )
        dtype = aggregation.output_type(source.dtype)
        features.append(Field(aggregation.name, dtype, source.description))
    names = [f.name for f in features]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DefinitionError(f"feature view {view!r}: aggregations repeat names {repeated}")
    return tuple(features)


def _validate_ttl(view: str, ttl: timedelta | str | None) -> timedelta | None:
    if ttl is None:
        return None
    value = parse_duration(ttl, f"ttl of feature view {view!r}")
    if value <= timedelta(0):
        raise DefinitionError(
            f"feature view {view!r}: ttl must be positive, got {ttl!r}; use ttl=None for no TTL"
        )
    return value
