"""pitstore.yaml: defaults, shorthands, env substitution, and errors naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from pitstore import ConfigError
from pitstore.config import find_repo, load_config, parse_config


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "pitstore.yaml").write_text(text)
    return tmp_path


def test_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "project: demo\n"))
    assert config.registry.path == "data/registry.db"
    assert config.offline_engine.type == "duckdb"
    assert config.online_store.type == "sqlite"


def test_registry_shorthand_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PITSTORE_TEST_MEM", "2GB")
    config = load_config(
        write(
            tmp_path,
            "project: p\nregistry: reg.db\noffline_engine:\n  memory_limit: ${PITSTORE_TEST_MEM}\n",
        )
    )
    assert config.registry.path == "reg.db"
    assert config.offline_engine.memory_limit == "2GB"


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("project: p\nonline_store: {type: sqlit}\n", ["online_store", "'sqlit'", "'sqlite'"]),
        ("project: p\nregistry: {pth: x}\n", ["registry.pth", "valid keys here: type, path"]),
        ("project: my-project\n", ["project", "'my-project'"]),
        ("registry: x.db\n", ["project", "required"]),
        ("project: p\noffline_engine: {threads: 'two'}\n", ["offline_engine.threads", "'two'"]),
        (
            "project: p\noffline_engine:\n  memory_limit: ${NOPE_NOT_SET_VAR}\n",
            ["NOPE_NOT_SET_VAR"],
        ),
        (
            "project: p\nserver:\n  auth:\n    sign_in_failures: 0\n",
            ["server.auth.sign_in_failures", "invalid value 0", "greater than or equal to 1"],
        ),
        ("- a\n- b\n", ["expected a mapping"]),
        ("project: [\n", ["not valid YAML"]),
        # typos that plain YAML and a plain ${VAR} pattern let through silently
        ("project: p\nproject: q\n", ["not valid YAML", "'project' is written twice"]),
        (
            "project: p\noffline_engine:\n  memory_limit: ${MEM:-2GB}\n",
            ["offline_engine.memory_limit", "malformed variable", "${NAME}"],
        ),
        (
            "project: p\noffline_engine:\n  memory_limit: ${MEM\n",
            ["offline_engine.memory_limit", "malformed variable"],
        ),
        # an apply would wait on its own lock (it clears online rows inside its transaction)
        (
            "project: p\nregistry: data/one.db\nonline_store: ./data/one.db\n",
            ["same SQLite file", "'./data/one.db'", "its own file"],
        ),
    ],
)
def test_errors_name_file_key_and_value(tmp_path: Path, text: str, needles: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    message = str(info.value)
    assert str(tmp_path / "pitstore.yaml") in message
    for needle in needles:
        assert needle in message


def test_find_repo_walks_up(tmp_path: Path) -> None:
    write(tmp_path, "project: p\n")
    inner = tmp_path / "a" / "b"
    inner.mkdir(parents=True)
    assert find_repo(inner) == tmp_path.resolve()


def test_find_repo_without_config_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="pitstore init"):
        find_repo(tmp_path)


def test_parse_config_hint_for_quoted_numbers() -> None:
    with pytest.raises(ConfigError, match="remove the quotes"):
        parse_config({"project": "p", "offline_engine": {"threads": "true"}})


def test_postgres_online_store_needs_two_connections() -> None:
    """One connection deadlocked an aggregated push: its merge lock held the only one."""
    from pitstore.online.postgres.store import PostgresOnlineStore

    online = {"type": "postgres", "dsn": "postgresql://127.0.0.1/test", "max_connections": 1}
    with pytest.raises(ConfigError, match="max_connections"):
        parse_config({"project": "p", "online_store": online})
    with pytest.raises(ConfigError, match="at least 2"):
        PostgresOnlineStore("postgresql://127.0.0.1/test", max_connections=1)
