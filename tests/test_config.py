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


SECRET = "prod-s3cret-tok"  # 15 characters: one short of a valid server token


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        # a secret written as ${VAR}, as documented: the error shows the text as written
        (
            "server:\n  auth:\n    tokens:\n      - token: ${PITSTORE_TEST_SECRET}\n",
            ["server.auth.tokens.0.token", "'${PITSTORE_TEST_SECRET}'", "from the environment"],
        ),
        # any ${VAR}: its value may be a secret too
        (
            "server:\n  port: ${PITSTORE_TEST_SECRET}\n",
            ["server.port", "'${PITSTORE_TEST_SECRET}'", "valid integer"],
        ),
        (
            "online_store:\n  type: ${PITSTORE_TEST_SECRET}\n",
            ["online_store", "'${PITSTORE_TEST_SECRET}'", "'sqlite'"],
        ),
        # secrets written in the file
        (f"server:\n  auth:\n    tokens:\n      - token: {SECRET}\n", ["not shown"]),
        (f"server:\n  auth:\n    tokens:\n      - {SECRET}\n", ["server.auth.tokens.0"]),
        (
            f"registry:\n  type: postgres\n  dsn: [postgresql://u:{SECRET}@h/db]\n",
            ["registry.dsn", "not shown"],
        ),
        (
            f"registry:\n  type: postgres\n  dsn: postgresql://u:{SECRET}@h/${{DB:-x}}\n",
            ["registry.dsn", "malformed variable"],
        ),
        (  # a misspelled secret key
            f"registry:\n  type: postgres\n  dsn: x\n  pasword: {SECRET}\n",
            ["registry.pasword", "unknown key"],
        ),
        (  # a check across keys: the whole config was printed, tokens and all
            f"registry: one.db\nonline_store: one.db\nserver:\n  auth:\n    tokens:\n"
            f"      - token: {SECRET}-and-more\n",
            ["same SQLite file"],
        ),
    ],
)
def test_errors_never_show_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, needles: list[str]
) -> None:
    monkeypatch.setenv("PITSTORE_TEST_SECRET", SECRET)
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "project: p\n" + text))
    message = str(info.value)
    assert SECRET not in message
    for needle in needles:
        assert needle in message


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"redis://:{SECRET}@host:6379/0", "redis://***@host:6379/0"),
        (f"redis://user:{SECRET}@host/0", "redis://***@host/0"),
        (f"nats://{SECRET}@a:4222,nats://u:{SECRET}@b", "nats://***@a:4222,nats://***@b"),
        ("redis://host:6379/0", "redis://host:6379/0"),
    ],
)
def test_broker_urls_are_shown_without_credentials(url: str, shown: str) -> None:
    from pitstore.dsn import redact_url

    assert redact_url(url) == shown


def test_unreachable_redis_broker_error_hides_the_password() -> None:
    from pitstore.errors import StoreUnavailableError
    from pitstore.ingest.redis_streams import RedisStreamBroker

    with pytest.raises(StoreUnavailableError) as info:  # port 1: nothing listens there
        RedisStreamBroker(f"redis://:{SECRET}@127.0.0.1:1/0", "events", "g", "c")
    assert SECRET not in str(info.value)
    assert "redis://***@127.0.0.1:1/0" in str(info.value)
