"""On-demand feature views: one function, the same values in training and in serving."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pitstore import (
    DefinitionError,
    Entity,
    FeatureService,
    FeatureView,
    Field,
    Float32,
    Float64,
    Int64,
    OnDemandFeatureView,
    ParquetSource,
    RequestSource,
    SchemaError,
    String,
    Timestamp,
    on_demand_feature_view,
)
from pitstore.definitions import from_spec
from pitstore.store.materialize import BEGINNING
from pitstore.store.transforms import TransformError
from repo_helpers import T0, TRIP_SCHEMA, city_driver, make_store, trip_view, write_rows

trips = trip_view(ttl=None)
trip_request = RequestSource("trip", [Field("distance", Float64)])


@on_demand_feature_view(
    sources=[trips[["score"]], trip_request],
    schema=[Field("score_per_km", Float64), Field("long_trip", Int64)],
)
def trip_score(row: dict[str, Any]) -> dict[str, Any]:
    """Score per kilometre, and whether the trip is long."""
    score, distance = row["score"], row["distance"]
    per_km = None if score is None or not distance else score / distance
    return {"score_per_km": per_km, "long_trip": int((distance or 0) > 10)}


def _pandas_version(df: Any) -> Any:
    import pandas as pd

    per_km = (df["score"] / df["distance"]).where(df["distance"] != 0)
    return pd.DataFrame({"score_per_km": per_km, "long_trip": (df["distance"] > 10).astype(int)})


def _arrow_version(table: pa.Table) -> pa.Table:
    distance = table.column("distance")
    safe = pc.if_else(pc.equal(distance, 0), None, distance)
    per_km = pc.divide(table.column("score"), safe)
    long_trip = pc.cast(pc.greater(distance, 10), pa.int64())
    return pa.table({"score_per_km": per_km, "long_trip": long_trip})


def variant(mode: str) -> OnDemandFeatureView:
    function = {"pandas": _pandas_version, "arrow": _arrow_version}[mode]
    return OnDemandFeatureView(
        "trip_score", [trips[["score"]], trip_request], trip_score.schema, function, mode=mode
    )


def rows() -> list[dict[str, Any]]:
    return [
        {
            "city": "oslo",
            "driver_id": 1,
            "event_timestamp": T0,
            "created": T0,
            "score": 6.0,
            "label": "a",
        },
        {
            "city": "rome",
            "driver_id": 2,
            "event_timestamp": T0,
            "created": T0,
            "score": None,
            "label": "b",
        },
    ]


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    store = make_store(tmp_path)
    write_rows(tmp_path / "data" / "trips.parquet", rows(), TRIP_SCHEMA)
    store.apply([city_driver, trips, trip_score])
    yield store
    store.close()


def entity_frame() -> pa.Table:
    return pa.table(
        {
            "city": ["oslo", "oslo", "rome", "paris"],
            "driver_id": [1, 1, 2, 3],
            "event_timestamp": pa.array([T0] * 4, pa.timestamp("us", tz="UTC")),
            "distance": [3.0, 12.0, 5.0, 0.0],
        }
    )


def test_definition_keeps_source_text_not_code_objects() -> None:
    spec = trip_score.to_spec()
    assert spec["function"]["code"].startswith("def trip_score(row")
    assert "@on_demand_feature_view" not in spec["function"]["code"]
    assert len(spec["function"]["hash"]) == 64
    again = from_spec("on_demand_feature_view", spec)
    assert again == trip_score and again.function is None  # never code from the registry
    assert trip_score.description == "Score per kilometre, and whether the trip is long."


def test_training_data_runs_the_function(store) -> None:  # type: ignore[no-untyped-def]
    result = store.get_historical_features(
        entity_frame(), ["trip_score:score_per_km", "trip_score:long_trip"]
    ).to_arrow()
    assert result.column_names == [
        "city",
        "driver_id",
        "event_timestamp",
        "distance",
        "score_per_km",
        "long_trip",
    ]  # the hidden input 'score' is not in the output
    assert result.column("score_per_km").to_pylist() == [2.0, 0.5, None, None]
    assert result.column("long_trip").to_pylist() == [0, 1, 0, 0]


def test_to_parquet_writes_durations_as_without_on_demand_features(  # type: ignore[no-untyped-def]
    store, tmp_path: Path
) -> None:
    # One rule for every file (pitstore.offline.parquet): a duration in microseconds.
    waits = [timedelta(seconds=s, microseconds=1) for s in range(4)]
    frame = entity_frame().append_column("wait", pa.array(waits, pa.duration("ns")))
    for refs in (["trips:score"], ["trip_score:score_per_km"]):
        job = store.get_historical_features(frame, refs)
        job.to_parquet(tmp_path / "out.parquet")
        written = pq.read_table(tmp_path / "out.parquet")
        assert written.schema.field("wait").type == pa.duration("us"), refs
        assert written.to_pylist() == job.to_arrow().to_pylist(), refs


def test_an_output_named_like_an_entity_column_is_a_clear_error(  # type: ignore[no-untyped-def]
    store, tmp_path: Path
) -> None:
    """An entity frame with a column named like an on-demand output (a label 'long_trip')
    gave a bare pyarrow KeyError ('exists 2 times in schema') once the result was built."""
    frame = entity_frame().append_column("long_trip", pa.array([1, 0, 1, 0]))
    path = tmp_path / "entities.parquet"
    pq.write_table(frame, path)
    for entities in (frame, str(path)):  # columns known at once, or only from the result
        with pytest.raises(SchemaError, match="output 'long_trip' clashes with a column"):
            store.get_historical_features(entities, ["trip_score:long_trip"]).to_arrow()
    full = store.get_historical_features(frame, ["trip_score:long_trip"], full_feature_names=True)
    assert full.to_arrow().column("trip_score__long_trip").to_pylist() == [0, 1, 0, 0]


def test_serving_runs_the_same_function(store) -> None:  # type: ignore[no-untyped-def]
    response = store.get_online_features(
        ["trips:score", "trip_score:score_per_km"],
        [{"city": "oslo", "driver_id": 1, "distance": 3.0}],
        now=T0,
    )
    assert response.to_dict() == {
        "city": ["oslo"],
        "driver_id": [1],
        "score": [None],
        "score_per_km": [None],
    }  # nothing materialized yet
    store.materialize(BEGINNING, T0)
    response = store.get_online_features(
        ["trips:score", "trip_score:score_per_km"],
        [{"city": "oslo", "driver_id": 1, "distance": 3.0}],
        now=T0,
    )
    assert response.to_dict()["score"] == [6.0]
    assert response.to_dict()["score_per_km"] == [2.0]
    assert response.statuses["score_per_km"] == ["PRESENT"]


@pytest.mark.parametrize("mode", ["pandas", "arrow"])
def test_every_mode_gives_the_same_result(tmp_path: Path, mode: str) -> None:
    store = make_store(tmp_path)
    write_rows(tmp_path / "data" / "trips.parquet", rows(), TRIP_SCHEMA)
    store.apply([city_driver, trips, variant(mode)])
    result = store.get_historical_features(
        entity_frame(), ["trip_score:score_per_km", "trip_score:long_trip"]
    ).to_arrow()
    assert result.column("score_per_km").to_pylist() == [2.0, 0.5, None, None]
    assert result.column("long_trip").to_pylist() == [0, 1, 0, 0]


def test_feature_service_with_on_demand_features(store) -> None:  # type: ignore[no-untyped-def]
    store.apply([FeatureService("scoring", [trips[["label"]], trip_score[["long_trip"]]])])
    result = store.get_historical_features(entity_frame(), feature_service="scoring").to_arrow()
    assert result.column_names[-2:] == ["label", "long_trip"]


def test_request_values_of_the_wrong_type_are_named(store) -> None:  # type: ignore[no-untyped-def]
    for bad in ("x", [1.0], {"km": 1}):
        row = {"city": "oslo", "driver_id": 1, "distance": bad}
        with pytest.raises(SchemaError, match=r"request field 'distance' holds a value"):
            store.get_online_features(["trip_score:long_trip"], [row])
    ok = {"city": "oslo", "driver_id": 1, "distance": 12}  # an int is a fine Float64
    assert store.get_online_features(["trip_score:long_trip"], [ok]).to_dict()["long_trip"] == [1]


def test_missing_request_values_are_named(store) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SchemaError, match=r"request value\(s\) \['distance'\]"):
        store.get_online_features(["trip_score:long_trip"], [{"city": "oslo", "driver_id": 1}])
    with pytest.raises(SchemaError, match=r"'distance'.*not a column of the entity frame"):
        store.get_historical_features(
            entity_frame().drop_columns(["distance"]), ["trip_score:long_trip"]
        )


def _raises(row: dict[str, Any]) -> dict[str, Any]:
    raise ZeroDivisionError("boom")


def _wrong_columns(row: dict[str, Any]) -> dict[str, Any]:
    return {"score_per_km": 1.0}


def _wrong_type(row: dict[str, Any]) -> dict[str, Any]:
    return {"score_per_km": "high", "long_trip": 1}


@pytest.mark.parametrize(
    ("function", "error", "needle"),
    [
        (_raises, TransformError, "'trip_score': its function raised ZeroDivisionError: boom"),
        (_wrong_columns, SchemaError, "returned no 'long_trip'"),
        (_wrong_type, SchemaError, "output 'score_per_km' does not fit its declared type"),
    ],
)
def test_bad_functions_name_the_view_and_column(
    tmp_path: Path, function: Any, error: type[Exception], needle: str
) -> None:
    store = make_store(tmp_path)
    write_rows(tmp_path / "data" / "trips.parquet", rows(), TRIP_SCHEMA)
    view = OnDemandFeatureView(
        "trip_score", [trips[["score"]], trip_request], trip_score.schema, function
    )
    store.apply([city_driver, trips, view])
    with pytest.raises(error, match=needle.replace("(", r"\(").replace(")", r"\)")):
        store.get_online_features(
            ["trip_score:long_trip"], [{"city": "oslo", "driver_id": 1, "distance": 1.0}]
        )


def demo_with(tmp_path: Path, name: str, request: str, body: str) -> Path:
    """The demo repo plus an on-demand view ``name`` of conv_rate and one request field,
    returning ``{'y': body}``."""
    from pitstore.store.scaffold import init_repo

    repo = init_repo(tmp_path / "repo")
    (repo / "odfv.py").write_text(
        "from pitstore import Field, Float64, Int64, RequestSource, on_demand_feature_view\n"
        "from features import driver_stats\n\n"
        "@on_demand_feature_view(sources=[driver_stats[['conv_rate']], "
        f"RequestSource('req', [{request}])], schema=[Field('y', Float64)])\n"
        f"def {name}(row):\n    return {{'y': {body}}}\n"
    )
    return repo


def test_a_request_field_may_be_an_entity_key(tmp_path: Path) -> None:
    from pitstore import FeatureStore
    from pitstore.timeutil import utcnow

    body = "row['driver_id'] + (row['conv_rate'] or 0)"
    repo = demo_with(tmp_path, "keyed", "Field('driver_id', Int64)", body)
    store = FeatureStore(repo)
    store.apply()
    store.materialize_incremental(utcnow())
    plain = store.get_online_features(["driver_stats:conv_rate"], {"driver_id": [1001]})
    keyed = store.get_online_features(["keyed:y"], {"driver_id": [1001]})
    rate = plain.to_dict()["conv_rate"][0]
    assert rate is not None  # the key still finds the stored row
    assert keyed.to_dict()["y"] == [1001 + rate]
    (key,) = keyed.to_dict()["driver_id"]
    assert type(key) is int and key == 1001  # the key as sent, not an Arrow scalar


def test_changed_code_must_be_applied_first(tmp_path: Path) -> None:
    from pitstore import FeatureStore

    repo = demo_with(tmp_path, "scaled", "Field('x', Float64)", "row['x'] * 2")

    store = FeatureStore(repo)
    plan = store.plan()
    assert any(c.name == "scaled" for c in plan.of("add"))
    store.apply()
    frame = {"driver_id": [1001], "x": [1.5]}
    assert store.get_online_features(["scaled:y"], frame).to_dict()["y"] == [3.0]
    (repo / "odfv.py").write_text((repo / "odfv.py").read_text().replace("* 2", "* 3"))
    fresh = FeatureStore(repo)
    with pytest.raises(DefinitionError, match="run `pitstore apply`"):
        fresh.get_online_features(["scaled:y"], frame)
    changed = fresh.plan()
    assert [f.path for c in changed.changes for f in c.fields] == ["function.code", "function.hash"]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scores=st.lists(st.none() | st.floats(-1e6, 1e6, allow_nan=False), min_size=3, max_size=3),
    distances=st.lists(st.floats(0, 100, allow_nan=False), min_size=3, max_size=3),
)
def test_online_and_offline_paths_agree(scores: list[float | None], distances: list[float]) -> None:
    data = [
        {
            "city": "c",
            "driver_id": i,
            "event_timestamp": T0,
            "created": T0,
            "score": s,
            "label": "x",
        }
        for i, s in enumerate(scores)
    ]
    refs = ["trip_score:score_per_km", "trip_score:long_trip"]
    with tempfile.TemporaryDirectory() as folder:
        store = make_store(Path(folder))
        write_rows(Path(folder) / "data" / "trips.parquet", data, TRIP_SCHEMA)
        store.apply([city_driver, trips, trip_score])
        store.materialize(BEGINNING, T0 + timedelta(seconds=1))
        entities = {"city": ["c"] * 3, "driver_id": [0, 1, 2], "distance": distances}
        online = store.get_online_features(refs, entities, now=T0 + timedelta(seconds=1))
        frame = pa.table(
            {
                **entities,
                "event_timestamp": pa.array(
                    [T0 + timedelta(seconds=1)] * 3, pa.timestamp("us", tz="UTC")
                ),
            }
        )
        offline = store.get_historical_features(frame, refs).to_arrow().to_pydict()
        store.close()
    for name in ("score_per_km", "long_trip"):
        assert online.to_dict()[name] == offline[name]


driver = Entity("driver", join_keys=["driver_id"], dtype=Int64)
readings = FeatureView(
    "readings",
    [driver],
    [Field("x", Float32), Field("when", Timestamp)],
    ParquetSource("data/readings.parquet"),
)
READINGS_SCHEMA = pa.schema(
    [
        ("driver_id", pa.int64()),
        ("event_timestamp", pa.timestamp("us", tz="UTC")),
        ("x", pa.float32()),
        ("when", pa.timestamp("us", tz="UTC")),
    ]
)
SEEN_SCHEMA = [Field("y", Float64), Field("seen", String)]


def _seen_python(row: dict[str, Any]) -> dict[str, Any]:
    x = row["x"]
    return {"y": None if x is None else x * 3, "seen": repr((x, row["when"]))}


def _seen_pandas(df: Any) -> Any:
    import numpy as np
    import pandas as pd

    seen = f"{df['x'].dtype} {df['when'].dtype}"
    return pd.DataFrame({"y": np.log1p(df["x"]) * 3, "seen": [seen] * len(df)})


def _seen_arrow(table: pa.Table) -> pa.Table:
    y = pc.multiply(pc.fill_null(table.column("x"), 0.0), 3)
    return pa.table({"y": y, "seen": [str(table.schema)] * table.num_rows})


@pytest.mark.parametrize("mode", ["python", "pandas", "arrow"])
def test_functions_get_inputs_in_their_declared_types_online_as_offline(
    tmp_path: Path, mode: str
) -> None:
    # Online, inputs were built from the store's Python values with no type: a lone missing
    # or null value made a null-typed column (pandas: object of None), so np.log1p and
    # pc.fill_null failed online only; a Float32 was widened to double (3 * 0.1f differed);
    # a python function saw another tzinfo. Each entity is also read alone, as a server does.
    function = {"python": _seen_python, "pandas": _seen_pandas, "arrow": _seen_arrow}[mode]
    seen = OnDemandFeatureView("seen", [readings], SEEN_SCHEMA, function, mode=mode)
    store = make_store(tmp_path)
    data = [
        {"driver_id": 1, "event_timestamp": T0, "x": 0.1, "when": T0 + timedelta(hours=7)},
        {"driver_id": 2, "event_timestamp": T0, "x": None, "when": None},
    ]
    write_rows(tmp_path / "data" / "readings.parquet", data, READINGS_SCHEMA)
    store.apply([driver, readings, seen])
    now = T0 + timedelta(hours=1)
    store.materialize(BEGINNING, now)
    refs = ["seen:y", "seen:seen"]
    for drivers in ([1], [2], [3], [1, 2, 3]):  # 3 is unknown
        frame = pa.table(
            {
                "driver_id": pa.array(drivers, pa.int64()),
                "event_timestamp": pa.array([now] * len(drivers), pa.timestamp("us", tz="UTC")),
            }
        )
        offline = store.get_historical_features(frame, refs).to_arrow().to_pydict()
        online = store.get_online_features(refs, {"driver_id": drivers}, now=now).to_dict()
        assert online["y"] == offline["y"], drivers
        assert online["seen"] == offline["seen"], drivers
    store.close()


def test_request_source_needs_a_schema() -> None:
    with pytest.raises(DefinitionError, match="needs a schema"):
        RequestSource("r", [])


def test_inputs_with_one_name_from_two_sources_are_an_error() -> None:
    with pytest.raises(DefinitionError, match=r"\['score'\] come from more than one source"):
        OnDemandFeatureView(
            "x",
            [trips[["score"]], RequestSource("r", [Field("score", String)])],
            [Field("y", Int64)],
            trip_score.function or (lambda r: r),
        )


def edited(repo: Path, file: str, old: str, new: str, frame: dict[str, Any]) -> Any:
    """Replace ``old`` by ``new`` in the repo's ``file``; a new store must refuse to serve
    view ``scaled`` until the change is applied. Returns that store."""
    from pitstore import FeatureStore

    (repo / file).write_text((repo / file).read_text().replace(old, new))
    store = FeatureStore(repo)
    with pytest.raises(DefinitionError, match="run `pitstore apply`"):
        store.get_online_features(["scaled:y"], frame)
    return store


def test_a_change_in_the_code_the_function_reaches_is_a_change(tmp_path: Path) -> None:
    # The hash covered only the function's own text: editing a helper it calls (here in
    # another repo module, in its own module below it, or a constant it reads) showed "no
    # changes", and a new process ran new code under the old registered version.
    from pitstore import FeatureStore

    body = "helpers.scale(row['x']) + bonus(row['x']) + OFFSET"
    repo = demo_with(tmp_path, "scaled", "Field('x', Float64)", body)
    (repo / "helpers.py").write_text("def scale(x):\n    return x * 2\n")
    odfv = (repo / "odfv.py").read_text()
    (repo / "odfv.py").write_text(
        f"import helpers\n\nOFFSET = 0\n{odfv}\n\ndef bonus(x):\n    return 0\n"
    )
    frame = {"driver_id": [1001], "x": [1.5]}
    FeatureStore(repo).apply()
    assert FeatureStore(repo).get_online_features(["scaled:y"], frame).to_dict()["y"] == [3.0]
    edits = [
        ("helpers.py", "x * 2", "x * 3", 4.5),
        ("odfv.py", "return 0", "return 10", 14.5),
        ("odfv.py", "OFFSET = 0", "OFFSET = 100", 114.5),
    ]
    for file, old, new, expected in edits:
        store = edited(repo, file, old, new, frame)
        changed = store.plan()
        assert [c.name for c in changed.changes] == ["scaled"], file
        assert "function.deps" in [f.path for c in changed.changes for f in c.fields]
        store.apply()
        assert store.get_online_features(["scaled:y"], frame).to_dict()["y"] == [expected]
    registered = FeatureStore(repo).registry.history("on_demand_feature_view", "scaled")
    assert len(registered) == 4
    # What the registry shows: the helper's text beside the function's
    deps = FeatureStore(repo).catalog.current().contents.on_demand["scaled"].deps
    assert any("def scale(x):\n    return x * 3" in text for text in deps)


def test_the_fingerprint_is_the_same_from_the_sdk_the_loader_and_any_hash_seed(
    tmp_path: Path,
) -> None:
    import json
    import subprocess
    import sys

    from pitstore import FeatureStore

    body = "helpers.scale(row['x']) + len(NAMES)"
    repo = demo_with(tmp_path, "scaled", "Field('x', Float64)", body)
    (repo / "helpers.py").write_text("def scale(x):\n    return x * 2\n")
    odfv = (repo / "odfv.py").read_text()
    names = "frozenset({'alpha', 'beta', 'gamma', 'delta', 'epsilon'})"
    (repo / "odfv.py").write_text(f"import helpers\n\nNAMES = {names}\n{odfv}")
    script = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import odfv; "
        "print(json.dumps(odfv.scaled.code_hash))"
    )
    hashes = set()
    for seed in ("1", "2", "3"):  # a set's repr follows the hash seed
        env = {"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}
        out = subprocess.run(
            [sys.executable, "-c", script, str(repo)], env=env, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        hashes.add(json.loads(out.stdout))
    loaded = FeatureStore(repo).load_definitions()
    (from_files,) = [o for o in loaded if o.name == "scaled"]
    assert hashes == {from_files.code_hash}  # imported as `odfv` or by the repo loader


def test_a_view_registered_before_deps_were_kept_still_runs(tmp_path: Path) -> None:
    from pitstore import FeatureStore

    repo = demo_with(tmp_path, "scaled", "Field('x', Float64)", "helpers.scale(row['x'])")
    (repo / "helpers.py").write_text("def scale(x):\n    return x * 2\n")
    (repo / "odfv.py").write_text("import helpers\n" + (repo / "odfv.py").read_text())
    store = FeatureStore(repo)
    (current,) = [o for o in store.load_definitions() if o.name == "scaled"]
    old = current.to_spec()
    old["function"] = {k: v for k, v in old["function"].items() if k != "deps"}
    old["function"]["hash"] = current.text_hash  # what an older pitstore registered
    registered = from_spec("on_demand_feature_view", old)
    assert store.transform_function(registered)({"x": 1.5}) == {"y": 3.0}


def test_a_change_under_a_decorator_partial_or_callable_object_is_a_change(
    tmp_path: Path,
) -> None:
    # The walk followed plain functions only: a helper under functools.lru_cache, a
    # functools.partial's arguments and a callable object's method could change unseen
    import importlib
    import sys

    from pitstore import FeatureStore

    body = "cached(row['x']) + double(row['x']) + shifter(row['x'])"
    repo = demo_with(tmp_path, "scaled", "Field('x', Float64)", body)
    (repo / "helpers.py").write_text(
        "import functools\n\n\n@functools.lru_cache(maxsize=None)\n"
        "def cached(x):\n    return x * 2\n\n\n"
        "def scale(x, factor):\n    return x * factor\n\n\n"
        "class Shifter:\n    def __init__(self, by):\n        self.by = by\n\n"
        "    def __call__(self, x):\n        return x + self.by\n"
    )
    (repo / "odfv.py").write_text(
        "import functools\n\nfrom helpers import Shifter, cached, scale\n\n"
        "double = functools.partial(scale, factor=2)\nshifter = Shifter(1)\n"
        + (repo / "odfv.py").read_text()
    )
    frame = {"driver_id": [1001], "x": [1.5]}
    FeatureStore(repo).apply()
    assert FeatureStore(repo).get_online_features(["scaled:y"], frame).to_dict()["y"] == [8.5]
    # The same fingerprint from the repo loader and from `import odfv` (module names differ);
    # sys.modules as it was after, so no later repo's `import helpers` gets this one
    saved = {m: sys.modules.pop(m, None) for m in ("odfv", "helpers", "features")}
    sys.path.insert(0, str(repo))
    try:
        imported = importlib.import_module("odfv").scaled
    finally:
        sys.path.remove(str(repo))
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    (loaded,) = [o for o in FeatureStore(repo).load_definitions() if o.name == "scaled"]
    assert imported.code_hash == loaded.code_hash
    edits = [
        ("helpers.py", "return x * 2", "return x * 3", 10.0),  # under lru_cache
        ("odfv.py", "factor=2", "factor=3", 11.5),  # bound by the partial
        ("helpers.py", "x + self.by", "x - self.by", 9.5),  # the callable's __call__
        ("odfv.py", "Shifter(1)", "Shifter(2)", 8.5),  # the callable's state
    ]
    for file, old, new, expected in edits:
        store = edited(repo, file, old, new, frame)
        changed = store.plan()
        assert [f.path for c in changed.changes for f in c.fields] == [
            "function.deps",
            "function.hash",
        ]
        store.apply()
        assert store.get_online_features(["scaled:y"], frame).to_dict()["y"] == [expected], old
