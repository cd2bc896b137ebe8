"""Definitions: valid construction, canonical specs, and errors that name the bad value."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from pitstore import (
    Aggregation,
    Array,
    DefinitionError,
    Entity,
    FeatureService,
    FeatureView,
    Field,
    Float32,
    Int64,
    NotFoundError,
    ParquetSource,
    String,
    Vector,
)
from pitstore.definitions import RepoContents, from_spec, parse_ref
from pitstore.types import parse_dtype

driver = Entity("driver", join_keys=["driver_id"])
source = ParquetSource("data/driver_stats.parquet", created_timestamp_field="created")


def make_view(**overrides: object) -> FeatureView:
    args: dict[str, object] = {
        "name": "driver_stats",
        "entities": [driver],
        "schema": [Field("driver_id", Int64), Field("conv_rate", Float32)],
        "source": source,
        "ttl": timedelta(days=1),
    }
    args.update(overrides)
    return FeatureView(**args)  # type: ignore[arg-type]


def test_view_splits_join_keys_from_features() -> None:
    view = make_view()
    assert view.feature_names == ("conv_rate",)
    assert [f.name for f in view.key_fields] == ["driver_id"]


@pytest.mark.parametrize(
    "obj",
    [
        driver,
        Entity("trip", join_keys=["city", "trip_id"], dtype=[String, Int64], tags={"a": "b"}),
        make_view(),
        make_view(ttl=None, online=False, tags={"team": "x"}),
        FeatureService("svc", [make_view()[["conv_rate"]]], description="d"),
    ],
)
def test_spec_round_trip(obj: Entity | FeatureView | FeatureService) -> None:
    again = from_spec(obj.kind, obj.to_spec())
    assert again == obj
    assert again.to_spec() == obj.to_spec()


def test_definitions_are_immutable() -> None:
    view = make_view()
    with pytest.raises(AttributeError, match="immutable"):
        view.ttl = None  # type: ignore[misc]


@pytest.mark.parametrize(
    ("build", "needle"),
    [
        (lambda: Entity("driver-1"), "'driver-1'"),
        (lambda: Entity("driver", join_keys=[]), "at least one join key"),
        (lambda: Entity("driver", join_keys=["a", "a"]), "repeats"),
        (lambda: Entity("driver", dtype=Float32), "float32"),
        (lambda: Entity("x", join_keys=["a", "b"], dtype=[Int64]), "2 join keys but 1"),
        (lambda: Field("1st", Int64), "'1st'"),
        (lambda: Field("a", "int64"), "'int64'"),  # type: ignore[arg-type]
        (lambda: make_view(ttl=timedelta(0)), "ttl must be positive"),
        (lambda: make_view(ttl="1 fortnight"), "'1 fortnight'"),
        (lambda: make_view(schema=[]), "no features"),
        (lambda: make_view(schema=[Field("a", Int64), Field("a", Int64)]), "['a']"),
        (lambda: make_view(schema=[Field("created", Int64)]), "'created'"),
        (lambda: make_view(entities=[]), "at least one entity"),
        (lambda: make_view(source="data.parquet"), "'data.parquet'"),
        (lambda: make_view(tags={"tier": 1}), "'tier': 1"),
        (lambda: make_view()[["nope"]], "'nope'"),
        (lambda: FeatureService("s", []), "at least one"),
        (lambda: FeatureService("s", [make_view(), make_view()]), "more than once"),
        (
            lambda: ParquetSource("x.parquet", timestamp_field="ts", created_timestamp_field="ts"),
            "'ts'",
        ),
        (lambda: parse_ref("driver_stats.conv_rate"), "'driver_stats.conv_rate'"),
        (lambda: parse_dtype("decimal"), "'decimal'"),
        (lambda: Vector(0), "0"),
        # a single object or None where a list belongs: a DefinitionError naming the object
        (lambda: Entity("driver", join_keys=5), "join_keys of entity 'driver' must be a list"),
        (lambda: Entity("driver", dtype=int), "dtype of entity 'driver' must be a list"),
        (lambda: make_view(schema=Field("a", Int64)), "schema of feature view"),
        (lambda: make_view(aggregations=Aggregation("a", "sum", "1h")), "aggregations of"),
        (lambda: FeatureService("s", None), "features of feature service 's' must be a list"),
        (lambda: ParquetSource(5), "non-empty path, got 5"),
        (lambda: make_view(ttl="99999999999d"), "too long a duration"),
    ],
)
def test_invalid_definitions_name_the_bad_value(build: object, needle: str) -> None:
    with pytest.raises((DefinitionError, NotFoundError)) as info:
        build()  # type: ignore[operator]
    assert needle in str(info.value)


def test_ttl_accepts_duration_strings() -> None:
    assert make_view(ttl="12h").ttl == timedelta(hours=12)
    assert make_view(ttl="12h").to_spec()["ttl"] == "12h"


def test_dtype_strings_round_trip() -> None:
    for dtype in (Int64, Array(String), Vector(8)):
        assert parse_dtype(dtype.to_string()) == dtype


def test_repo_contents_checks_references() -> None:
    view = make_view()
    with pytest.raises(NotFoundError, match="'driver'"):
        RepoContents.of([view])
    service = FeatureService("svc", [view])
    with pytest.raises(NotFoundError, match="driver_stats"):
        RepoContents.of([driver, service])
    contents = RepoContents.of([driver, view, service])
    assert contents.join_keys(view) == [("driver_id", Int64)]


def test_repo_contents_rejects_two_different_objects_with_one_name() -> None:
    with pytest.raises(DefinitionError, match="two different entitys are named 'driver'"):
        RepoContents.of([driver, Entity("driver", join_keys=["id"])])


def test_join_key_listed_as_feature_with_entity_by_name_is_an_error() -> None:
    view = make_view(entities=["driver"])
    with pytest.raises(DefinitionError, match="join key of entity 'driver'"):
        RepoContents.of([driver, view])


def test_unknown_feature_suggests_closest_name() -> None:
    with pytest.raises(NotFoundError, match="did you mean 'conv_rate'"):
        make_view().feature("conv_rat")


@pytest.mark.parametrize("name", ["driver\n", "driver\nx", "\ndriver", "driver "])
def test_names_with_line_breaks_or_spaces_are_refused(name: str) -> None:
    from pitstore.names import is_valid_name

    assert not is_valid_name(name)
    with pytest.raises(DefinitionError):
        Entity(name, join_keys=["driver_id"])
    with pytest.raises(DefinitionError):
        parse_ref(f"fv:{name}")


@pytest.mark.parametrize(
    ("build", "needle"),
    [
        # the online stores' own columns: a materialization died on a pyarrow KeyError
        (lambda: Field("__ts", Float32), "field '__ts'"),
        (lambda: Field("__created", Float32), "field '__created'"),
        (lambda: Field("__key", String), "field '__key'"),
        (lambda: Entity("e", join_keys=["__ts"]), "entity 'e': join key '__ts'"),
        (lambda: Entity("e", join_keys=["id", "__created"]), "join key '__created'"),
        # the engines' work columns (in any case: SQL names are compared without it)
        (lambda: Entity("e", join_keys=["__PITSTORE_rn"]), "join key '__PITSTORE_rn'"),
        # the push log's message ids; the event lists of aggregated views
        (lambda: Field("_pitstore_message_id", String), "field '_pitstore_message_id'"),
        (lambda: Field("_ev_ts", Int64), "field '_ev_ts'"),
        (lambda: Entity("e", join_keys=["_ev_created"]), "join key '_ev_created'"),
        (lambda: Aggregation("trips", "sum", "1h", name="_EV_TS"), "aggregation '_EV_TS'"),
        (lambda: Aggregation("__trips", "sum", "1h"), "aggregation column '__trips'"),
    ],
)
def test_reserved_column_names_are_refused(build: Callable[[], object], needle: str) -> None:
    with pytest.raises(DefinitionError) as info:
        build()
    message = str(info.value)
    assert needle in message
    assert "reserved" in message and "'__'" in message and "'_ev_ts'" in message


def test_reserved_names_suggest_a_name() -> None:
    with pytest.raises(DefinitionError, match=r"rename it, e\.g\. to 'ts'"):
        Field("__ts", Float32)


def test_stored_definitions_with_reserved_names_still_load() -> None:
    """A registry may hold a view applied before the rule: reading it must not fail."""
    spec = make_view().to_spec()
    spec["features"] = [{"name": "__ts", "dtype": "float32"}]
    view = from_spec("feature_view", spec)
    assert isinstance(view, FeatureView) and view.feature_names == ("__ts",)
    entity = from_spec("entity", {"name": "e", "join_keys": [{"name": "__ts", "dtype": "int64"}]})
    assert isinstance(entity, Entity) and entity.join_keys == ("__ts",)
    with pytest.raises(DefinitionError, match="reserved"):  # made anew: refused
        Field("__ts", Float32)


def test_every_column_of_pitstore_is_reserved() -> None:
    """The rule covers the names the stores, the engines and the push log use."""
    from pitstore.names import is_reserved_column
    from pitstore.offline.duckdb import sql
    from pitstore.online import base
    from pitstore.online.postgres import schema
    from pitstore.store import aggregates, push_log, resolve

    own = [
        base.KEY_COLUMN,
        base.TS_COLUMN,
        base.CREATED_COLUMN,
        schema.LAST_COLUMN,
        sql.RN,
        sql.TS,
        sql.ORD,
        sql.RESERVED + "x",
        aggregates.EVENT_TS,
        aggregates.EVENT_CREATED,
        push_log.MESSAGE_ID_COLUMN,
        resolve.HIDDEN_PREFIX + "x",
    ]
    assert [name for name in own if not is_reserved_column(name)] == []
