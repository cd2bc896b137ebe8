"""FeatureStore.write_to_online: schema checks before any write, monotonic writes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pitstore import (
    Array,
    Bool,
    Bytes,
    Entity,
    FeatureStore,
    FeatureView,
    Field,
    Float64,
    Int32,
    ParquetSource,
    String,
    Timestamp,
    Vector,
)
from pitstore.config import parse_config
from pitstore.errors import DefinitionError, NotFoundError, SchemaError

NOW = datetime(2026, 1, 1, tzinfo=UTC)
item = Entity("item", join_keys=["shop", "item_id"], dtype=[String, Int32])
FIELDS = [
    Field("price", Float64),
    Field("small", Int32),
    Field("label", String),
    Field("flag", Bool),
    Field("blob", Bytes),
    Field("seen", Timestamp),
    Field("tags", Array(String)),
    Field("vec", Vector(2)),
]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeatureStore]:
    (tmp_path / "pitstore.yaml").write_text("project: t\n")
    s = FeatureStore(tmp_path, parse_config({"project": "t"}), registry_refresh_seconds=0)
    source = ParquetSource("data/x.parquet", created_timestamp_field="created")
    s.apply(
        [
            item,
            FeatureView("items", [item], FIELDS, source),
            FeatureView("offline_only", [item], [Field("price", Float64)], source, online=False),
        ]
    )
    yield s
    s.close()


def row(**changes: Any) -> dict[str, Any]:
    base = {
        "shop": "a",
        "item_id": 1,
        "event_timestamp": "2026-01-01T00:00:00Z",
        "created": None,
        "price": 1.5,
        "small": 3,
        "label": "x",
        "flag": True,
        "blob": b"hi",
        "seen": "2025-06-01T12:00:00",
        "tags": ["p", None],
        "vec": [1, 2.5],
    }
    return {**base, **changes}


def read(store: FeatureStore, *features: str) -> dict[str, list[Any]]:
    refs = [f"items:{f}" for f in features]
    return store.get_online_features(refs, [{"shop": "a", "item_id": 1}], now=NOW).to_dict()


def test_every_type_round_trips(store: FeatureStore) -> None:
    assert store.write_to_online("items", [row()]) == 1
    got = read(store, *[f.name for f in FIELDS])
    assert got["price"] == [1.5] and got["small"] == [3] and got["flag"] == [True]
    assert got["blob"] == [b"hi"]
    assert got["seen"] == [datetime(2025, 6, 1, 12, tzinfo=UTC)]
    assert got["tags"] == [["p", None]] and got["vec"] == [[1.0, 2.5]]


def test_bytes_are_base64_text_only_for_rows_parsed_from_json(store: FeatureStore) -> None:
    # "user" is valid base64: read as such from the SDK, it was stored as b'\xba\xc7\xab'
    with pytest.raises(SchemaError, match=r"'blob'.*got a str"):
        store.write_to_online("items", [row(blob="user")])
    assert store.write_to_online("items", [row(blob="dXNlcg==")], base64_bytes=True) == 1
    assert read(store, "blob")["blob"] == [b"user"]
    with pytest.raises(SchemaError, match=r"'blob'.*base64"):
        store.write_to_online("items", [row(blob="!!")], base64_bytes=True)


def test_columns_are_accepted(store: FeatureStore) -> None:
    columns = {k: [v] for k, v in row(price=9.0).items()}
    assert store.write_to_online("items", columns) == 1
    assert read(store, "price")["price"] == [9.0]


def test_older_rows_never_replace_newer(store: FeatureStore) -> None:
    store.write_to_online("items", [row(price=2.0)])
    store.write_to_online("items", [row(price=1.0, event_timestamp="2025-01-01T00:00:00Z")])
    assert read(store, "price")["price"] == [2.0]


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        (row(pryce=1.0), ["row 1", "unknown column 'pryce'", "did you mean 'price'"]),
        ({k: v for k, v in row().items() if k != "label"}, ["row 1", "'label' is missing"]),
        ({k: v for k, v in row().items() if k != "event_timestamp"}, ["'event_timestamp'"]),
        (row(event_timestamp=None), ["row 1", "'event_timestamp' is null"]),
        (row(event_timestamp="yesterday"), ["row 1", "ISO 8601"]),
        (row(item_id="one"), ["row 1", "item_id"]),
        (row(small=2**40), ["row 1", "'small'", "int32 range"]),
        (row(small=True), ["row 1", "'small'", "integer"]),
        (row(price="1.5"), ["row 1", "'price'", "number"]),
        (row(flag=1), ["row 1", "'flag'"]),
        (row(blob="aGk="), ["row 1", "'blob'", "got a str", ".encode()"]),
        (row(tags="p"), ["row 1", "'tags'", "list"]),
        (row(vec=[1.0]), ["row 1", "'vec'", "2 finite"]),
        (row(price=10**400), ["row 1", "'price'"]),
    ],
)
def test_bad_rows_name_row_and_column_and_write_nothing(
    store: FeatureStore, bad: dict[str, Any], words: list[str]
) -> None:
    with pytest.raises(SchemaError) as info:
        store.write_to_online("items", [row(), bad])
    for word in words:
        assert word in str(info.value)
    assert read(store, "price")["price"] == [None]


def test_unknown_and_offline_views(store: FeatureStore) -> None:
    with pytest.raises(NotFoundError, match="did you mean 'items'"):
        store.write_to_online("itemz", [])
    with pytest.raises(DefinitionError, match="online=False"):
        store.write_to_online("offline_only", [])


def test_ragged_columns_and_bad_shapes(store: FeatureStore) -> None:
    with pytest.raises(SchemaError, match="different lengths"):
        store.write_to_online("items", {"shop": ["a"], "item_id": [1, 2]})
    with pytest.raises(SchemaError, match="row 0 must be an object"):
        store.write_to_online("items", [1])  # type: ignore[list-item]
    assert store.write_to_online("items", []) == 0
