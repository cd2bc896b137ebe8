"""The `pitstore` command end to end on the `init` demo repo, through the installed entry point."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

PITSTORE = str(Path(sys.executable).parent / "pitstore")
# The entry point imports the installed package; PYTHONPATH makes it run this tree's code (a
# worktree's, not the checkout the environment was installed from).
SRC = str(Path(__file__).resolve().parents[1] / "src")


def run(*args: str, cwd: Path, ok: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [PITSTORE, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "HOME": str(cwd), "PYTHONPATH": SRC},
    )
    if ok:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    run("init", "demo", cwd=root)
    return root / "demo"


def test_full_loop(repo: Path) -> None:
    plan = run("plan", cwd=repo).stdout
    assert "+ entity driver" in plan and "+ feature view driver_stats" in plan
    assert "Plan: 5 to add, 0 to change, 0 to remove." in plan

    assert "Applied: registry revision 1." in run("apply", cwd=repo).stdout
    assert "No changes" in run("plan", cwd=repo).stdout

    views = run("list", "views", cwd=repo).stdout
    assert "driver_stats" in views and "customer_stats" in views
    features = run("list", "features", cwd=repo).stdout
    assert re.search(r"driver_stats:conv_rate\s+│?\s*float32", features), features

    described = run("describe", "driver_activity", cwd=repo).stdout
    assert "feature service driver_activity" in described
    assert "source:driver_stats" in described  # lineage upstream

    out = repo / "train.parquet"
    result = run(
        "historical",
        "--entities",
        "data/entities.parquet",
        "--service",
        "driver_activity",
        "--out",
        str(out),
        cwd=repo,
    )
    assert "Wrote 20 rows" in result.stdout
    table = pq.read_table(out)
    assert table.column_names[:5] == [
        "trip_id",
        "driver_id",
        "customer_id",
        "event_timestamp",
        "accepted",
    ]
    assert {"conv_rate", "avg_rating", "avg_spend"} <= set(table.column_names)

    assert "Materialized" in run("materialize-incremental", "now", cwd=repo).stdout
    earlier = run("materialize-incremental", "2020-01-01T00:00:00", cwd=repo).stdout
    assert "into 0 view(s)" in earlier and "Already materialized past 2020-01-01" in earlier
    online = run(
        "get-online", "-e", "driver_id=1001", "-f", "driver_stats:conv_rate", cwd=repo
    ).stdout
    assert "driver_id = 1001" in online and "conv_rate = " in online and "PRESENT" in online


def test_changing_a_definition_shows_a_field_diff_and_a_new_version(repo: Path) -> None:
    run("apply", cwd=repo)
    features = repo / "features.py"
    text = features.read_text()
    features.write_text(text.replace('"Hourly driver quality statistics"', '"Driver quality"'))
    try:
        plan = run("plan", cwd=repo).stdout
        assert "~ feature view driver_stats" in plan
        assert 'description: "Hourly driver quality statistics" -> "Driver quality"' in plan
        run("apply", cwd=repo)
        history = run("history", "driver_stats", cwd=repo).stdout
        assert "v1 added" in history and "v2 changed" in history
        assert "description: 'Hourly driver quality statistics' -> 'Driver quality'" in history
    finally:
        features.write_text(text)


def test_errors_are_one_clear_line(tmp_path: Path, repo: Path) -> None:
    result = run("apply", cwd=tmp_path, ok=False)
    assert result.returncode == 1
    assert "error:" in result.stderr and "pitstore init" in result.stderr
    assert "Traceback" not in result.stderr

    result = run("describe", "driver_stat", cwd=repo, ok=False)
    assert result.returncode == 1 and "did you mean 'driver_stats'" in result.stderr

    result = run(
        "get-online", "-e", "driver_id=1001", "-f", "driver_stats:nope", cwd=repo, ok=False
    )
    assert result.returncode == 1 and "'nope'" in result.stderr

    result = run("materialize", "yesterday", "now", cwd=repo, ok=False)
    assert result.returncode == 1 and "'yesterday'" in result.stderr


def test_broken_repo_file_names_the_file(tmp_path: Path) -> None:
    run("init", "r", cwd=tmp_path)
    (tmp_path / "r" / "broken.py").write_text("from pitstore import Entity\nx = Entity('a-b')\n")
    result = run("plan", cwd=tmp_path / "r", ok=False)
    assert "broken.py" in result.stderr and "'a-b'" in result.stderr


def test_teardown_and_version(repo: Path) -> None:
    assert run("version", cwd=repo).stdout.startswith("pitstore ")
    run("apply", cwd=repo)
    run("teardown", "--yes", cwd=repo)
    assert "+ entity driver" in run("plan", cwd=repo).stdout


def test_a_mistyped_repo_path_acts_on_nothing(tmp_path: Path) -> None:
    run("init", "r", cwd=tmp_path)
    run("apply", cwd=tmp_path / "r")
    result = run("teardown", "--repo", "r/no_such_dir", "--yes", cwd=tmp_path, ok=False)
    assert result.returncode == 1 and "no_such_dir is not a folder" in result.stderr
    assert "driver_stats" in run("list", "views", cwd=tmp_path / "r").stdout  # intact


def test_text_with_brackets_prints_as_written(tmp_path: Path) -> None:
    """Names, descriptions and messages are the user's text, not terminal markup."""
    run("init", "r", cwd=tmp_path)
    repo = tmp_path / "r"
    features = repo / "features.py"
    features.write_text(
        features.read_text().replace(
            'description="A rider"', 'description="A rider [see docs] [/]"'
        )
    )
    plan = run("plan", cwd=repo)
    run("apply", cwd=repo)
    listed = run("list", "entities", cwd=repo)
    assert "A rider [see docs] [/]" in listed.stdout
    assert "Traceback" not in plan.stderr
    missing = run("describe", "driver[/]", cwd=repo, ok=False)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert "driver[/]" in missing.stderr


def test_init_overwrites_nothing_without_force(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    (mine / "data").mkdir(parents=True)
    (mine / "features.py").write_text("# my definitions\n")
    (mine / "data" / "registry.db").write_bytes(b"my history")
    refused = run("init", "mine", cwd=tmp_path, ok=False)
    assert refused.returncode == 1 and "features.py" in refused.stderr
    assert "data/registry.db" in refused.stderr and "--force" in refused.stderr
    assert (mine / "features.py").read_text() == "# my definitions\n"
    assert (mine / "data" / "registry.db").read_bytes() == b"my history"
    assert not (mine / "pitstore.yaml").exists()
    bad = run("init", "other", "--project", "bad-name", cwd=tmp_path, ok=False)
    assert bad.returncode == 1 and "'bad-name'" in bad.stderr and "bad_name" in bad.stderr
    assert not (tmp_path / "other").exists()
    run("init", "mine", "--force", cwd=tmp_path)
    assert "FeatureView" in (mine / "features.py").read_text()


def test_doctor_reports_each_backend(tmp_path: Path) -> None:
    run("init", "r", cwd=tmp_path)
    repo = tmp_path / "r"
    run("apply", cwd=repo)
    out = run("doctor", cwd=repo).stdout
    assert "ok   registry (sqlite): revision 1" in out
    assert "ok   online store (sqlite)" in out
    config = repo / "pitstore.yaml"
    config.write_text(
        config.read_text().replace(
            "online_store:\n  type: sqlite\n  path: data/online.db",
            "online_store:\n  type: redis\n  url: redis://127.0.0.1:1/0\n  socket_timeout_s: 0.5",
        )
    )
    result = run("doctor", cwd=repo, ok=False)
    assert result.returncode == 1
    assert "FAIL online store (redis)" in result.stdout and "127.0.0.1:1" in result.stdout


def test_plan_output_shows_key_order_and_what_each_view_reloads(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # In process (the entry point above runs the installed package): the plan's lines.
    from pitstore.cli.render import show_plan
    from pitstore.registry import make_plan

    def pair(*keys: str) -> dict[str, object]:
        return {"name": "pair", "join_keys": [{"name": k, "dtype": "int64"} for k in keys]}

    def view(name: str, **spec: object) -> dict[str, object]:
        return {"name": name, "entities": ["pair"], "features": [], **spec}

    before = {
        ("entity", "pair"): pair("a", "b"),
        ("feature_view", "keyed"): view("keyed"),
        ("feature_view", "timed"): view("timed", entities=[], ttl="1h"),
        ("feature_view", "back"): view("back", entities=[], online=False),
    }
    after = {
        **before,
        ("entity", "pair"): pair("b", "a"),
        ("feature_view", "timed"): view("timed", entities=[], ttl="1d"),
        ("feature_view", "back"): view("back", entities=[], online=True),
    }
    show_plan(make_plan(before, after, 1))
    out = capsys.readouterr().out
    blocks = {b.split("\n")[0]: b for b in re.split(r"\n(?=[~+-] )", out)}
    assert '    join_keys: ["a", "b"] -> ["b", "a"]' in blocks["~ entity pair"]
    assert "(its online data will be dropped: materialize again)" in blocks["~ feature view keyed"]
    timed = blocks["~ feature view timed"]
    assert "(the next incremental materialization loads its whole TTL (1d) again)" in timed
    assert "loads all its history again" in blocks["~ feature view back"]


def test_a_reserved_column_name_is_refused_when_planned(tmp_path: Path) -> None:
    """A feature named '__ts' was applied, then every materialization died on a KeyError."""
    run("init", "r", cwd=tmp_path)
    repo = tmp_path / "r"
    features = repo / "features.py"
    features.write_text(features.read_text().replace('"conv_rate"', '"__ts"', 1))
    for command in ("plan", "apply"):
        result = run(command, cwd=repo, ok=False)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert "features.py" in result.stderr and "'__ts' uses a reserved name" in result.stderr


ZIP_REPO = """
from pitstore import (
    Bool, Entity, FeatureView, Field, Float64, ParquetSource, RequestSource, String,
    on_demand_feature_view,
)

area = Entity("area", join_keys=["zip"], dtype=String)
stats = FeatureView(
    "stats", entities=[area], schema=[Field("val", Float64)], source=ParquetSource("data/s.parquet")
)
extra = RequestSource("extra", [Field("bonus", Float64), Field("double", Bool)])


@on_demand_feature_view(sources=[stats, extra], schema=[Field("total", Float64)])
def adjusted(row):
    return {"total": (row["val"] + row["bonus"]) * (2 if row["double"] else 1)}
"""


def test_get_online_types_entity_values_by_their_declared_types(tmp_path: Path) -> None:
    """A String key of digits (a zip code) was sent as an int and never found."""
    import pyarrow as pa

    (tmp_path / "pitstore.yaml").write_text("project: p\n")
    (tmp_path / "features.py").write_text(ZIP_REPO)
    (tmp_path / "data").mkdir()
    when = pa.array([0], pa.timestamp("us", tz="UTC"))
    pq.write_table(
        pa.table({"zip": ["02139"], "val": [1.5], "event_timestamp": when}),
        tmp_path / "data" / "s.parquet",
    )
    run("apply", cwd=tmp_path)
    run("materialize-incremental", "1970-01-02", cwd=tmp_path)
    found = run("get-online", "-e", "zip=02139", "-f", "stats:val", cwd=tmp_path).stdout
    assert "zip = 02139" in found and "val = 1.5" in found and "PRESENT" in found
    # request values typed by their fields: Float64 and Bool
    total = run(
        "get-online",
        *("-e", "zip=02139", "-e", "bonus=0.25", "-e", "double=true"),
        *("-f", "adjusted:total"),
        cwd=tmp_path,
    ).stdout
    assert "total = 3.5" in total
    bad = run(
        "get-online",
        *("-e", "zip=02139", "-e", "bonus=lots", "-e", "double=true"),
        *("-f", "adjusted:total"),
        cwd=tmp_path,
        ok=False,
    )
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "bonus=lots" in bad.stderr and "'bonus' is float64" in bad.stderr


@pytest.mark.parametrize("value", ["--5", "²", "1_000", "12.5", "9223372036854775808"])
def test_get_online_refuses_a_value_its_key_type_cannot_hold(repo: Path, value: str) -> None:
    run("apply", cwd=repo)
    result = run(
        "get-online", "-e", f"driver_id={value}", "-f", "driver_stats:conv_rate", cwd=repo, ok=False
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"driver_id={value}" in result.stderr and "'driver_id' is int64" in result.stderr


@pytest.mark.parametrize(
    ("text", "dtype", "value"),
    [
        ("02139", "string", "02139"),
        ("-5", "int64", -5),
        ("+7", "int32", 7),
        ("AAE=", "bytes", b"\x00\x01"),
        ("0.5", "float32", 0.5),
        ("False", "bool", False),
        ("[1, 2]", "array<int64>", [1, 2]),
        ("12", None, "12"),  # a column the read does not type: as written
    ],
)
def test_entity_values_take_their_declared_type(
    text: str, dtype: str | None, value: object
) -> None:
    from pitstore.cli.values import entity_value
    from pitstore.types import parse_dtype

    assert entity_value("k", text, parse_dtype(dtype) if dtype else None) == value


@pytest.mark.parametrize(
    ("text", "dtype"),
    [
        ("2147483648", "int32"),
        ("٣", "int64"),
        ("abc", "bytes"),
        ("yes", "bool"),
        ("1_0", "float64"),
        ("[1", "array<int64>"),
    ],
)
def test_entity_values_their_type_cannot_hold_are_refused(text: str, dtype: str) -> None:
    from pitstore.cli.values import entity_value
    from pitstore.errors import SchemaError
    from pitstore.types import parse_dtype

    with pytest.raises(SchemaError, match=f"'k' is {dtype}"):
        entity_value("k", text, parse_dtype(dtype))


def test_paths_that_cannot_be_used_are_one_clear_line(tmp_path: Path) -> None:
    """A folder or a file on the way where a file or a folder belongs was a traceback."""
    run("init", "r", cwd=tmp_path)
    repo = tmp_path / "r"
    config = repo / "pitstore.yaml"
    for registry, needle in [
        ("data", "is a folder, not a file"),  # a plausible slip for data/registry.db
        ("features.py/registry.db", "goes through the file"),
    ]:
        config.write_text(f"project: p\nregistry: {registry}\n")
        result = run("plan", cwd=repo, ok=False)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert needle in result.stderr and "registry.path" in result.stderr
    (tmp_path / "afile").write_text("mine\n")
    for target in ("afile", "afile/sub"):
        result = run("init", target, cwd=tmp_path, ok=False)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert "afile is a file, not a folder" in result.stderr
    assert (tmp_path / "afile").read_text() == "mine\n"


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_an_os_error_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    result = run("init", "/proc/pitstore_demo", cwd=tmp_path, ok=False)  # no folder can go there
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("error:") and "/proc/pitstore_demo" in result.stderr
