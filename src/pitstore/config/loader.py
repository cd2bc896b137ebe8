"""Reading ``pitstore.yaml``: environment substitution, validation, readable errors."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pitstore.config.models import ProjectConfig
from pitstore.errors import ConfigError

CONFIG_FILE = "pitstore.yaml"
_ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def find_repo(start: str | os.PathLike[str] = ".") -> Path:
    """The feature repo folder: ``start`` or the nearest parent holding ``pitstore.yaml``.

    A ``start`` that does not exist is an error (a mistyped ``--repo`` must not act on the
    repo above it)."""
    here = Path(start).resolve()
    if not here.is_dir():
        raise ConfigError(
            f"{here} is not a folder; pass --repo PATH of a feature repo (a folder with "
            f"{CONFIG_FILE})"
        )
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    raise ConfigError(
        f"no {CONFIG_FILE} in {here} or any parent folder; run `pitstore init` to create a "
        "feature repo, or pass --repo PATH"
    )


def load_config(repo: str | os.PathLike[str]) -> ProjectConfig:
    """Read and validate ``repo/pitstore.yaml``."""
    import yaml

    path = Path(repo) / CONFIG_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "file not found; run `pitstore init` to create one", file=str(path)
        ) from None
    try:
        data = yaml.load(text, Loader=_unique_keys_loader())  # a SafeLoader: no objects
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=str(path)) from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"expected a mapping of keys (project, registry, ...), got {type(data).__name__}",
            file=str(path),
        )
    return parse_config(data, file=str(path))


def parse_config(data: dict[str, Any], file: str = CONFIG_FILE) -> ProjectConfig:
    """Validate a config mapping; the first problem becomes a ConfigError naming the key."""
    from pydantic import ValidationError

    data = _substitute_env(data, file, ())
    try:
        return ProjectConfig.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        parts = tuple(str(p) for p in error["loc"] if not _is_union_tag(p))
        key = ".".join(parts)
        message = _describe(error, parts)
        if error["type"] == "extra_forbidden":
            message += f"; valid keys here: {', '.join(_valid_keys(error['loc'][:-1]))}"
        raise ConfigError(message, file=file, key=key or "(top level)") from None


def _valid_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys the model at ``loc`` accepts (for 'unknown key' errors)."""
    import typing

    from pydantic import BaseModel

    model: type[BaseModel] = ProjectConfig
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        field = model.model_fields.get(str(part))
        if field is None:
            break
        candidates = [
            t
            for t in typing.get_args(field.annotation) or (field.annotation,)
            if isinstance(t, type) and issubclass(t, BaseModel)
        ]
        if len(candidates) > 1 and parts:  # a store union: the next part is its type tag
            tag = parts.pop(0)
            candidates = [t for t in candidates if t.model_fields["type"].default == tag]
        if not candidates:
            break
        model = candidates[0]
    return list(model.model_fields)


def _is_union_tag(part: object) -> bool:
    # pydantic puts the discriminator's value in the error location ("registry.sqlite.path").
    return part in ("sqlite", "duckdb", "postgres", "redis", "spark")


def _describe(error: Any, parts: tuple[str, ...]) -> str:
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        # No value: an unknown key may be a misspelled secret (`dsm: postgresql://u:pw@...`).
        return "unknown key; check its spelling or remove it"
    if kind == "union_tag_invalid":
        tag = value.get("type") if isinstance(value, dict) else ctx.get("tag")
        return f"invalid type {_shown(tag, parts)}; valid types: {ctx.get('expected_tags')}"
    if kind == "missing":
        return "this key is required"
    if kind == "value_error" and isinstance(value, dict):  # a check across keys: its own words
        return str(error["msg"]).removeprefix("Value error, ")
    shown = _shown(value, parts)
    if kind == "string_pattern_mismatch":
        return (
            f"invalid value {shown}: use letters, digits and underscores, not starting with a "
            "digit (e.g. my_project)"
        )
    hint = ""
    if (
        type(value) is str
        and not _is_secret(parts)
        and (value.lower() in ("true", "false") or value.isdigit())
    ):
        hint = " (hint: remove the quotes around numbers and booleans)"
    return f"invalid value {shown}: {error['msg']}{hint}"


# Keys whose values may hold a password or token; errors never print them.
_SECRET_KEYS = frozenset({"dsn", "url", "token", "password", "secret"})


def _is_secret(parts: tuple[str, ...]) -> bool:
    """Whether the value at ``parts`` may be a secret: a token, a DSN or URL (passwords),
    anything in a server token's entry or in the Spark settings (credentials go there)."""
    return (
        parts[:3] == ("server", "auth", "tokens")
        or parts[:2] == ("offline_engine", "conf")
        or any(part in _SECRET_KEYS for part in parts)
    )


def _shown(value: Any, parts: tuple[str, ...]) -> str:
    """``value`` as an error may show it: never a secret, never what ``${VAR}`` brought in."""
    if isinstance(value, _FromEnv) and (_ENV_VAR.fullmatch(value.written) or not _is_secret(parts)):
        return f"{value.written!r} (its value, from the environment, is not shown)"
    if _is_secret(parts):
        return "(not shown: this key may hold a secret)"
    if isinstance(value, dict):
        return "(a mapping)"
    if isinstance(value, list):
        return "(a list)"
    return repr(value)


class _FromEnv(str):
    """A string that ``${VAR}`` substitution made; remembers the text as written, so that an
    error shows that text and never the (possibly secret) value. pydantic passes it through
    to an error's input and stores a plain ``str``."""

    written: str

    def __new__(cls, value: str, written: str) -> _FromEnv:
        self = super().__new__(cls, value)
        self.written = written
        return self


def _substitute_env(value: Any, file: str, path: tuple[str, ...]) -> Any:
    """Replace ``${VAR}`` in strings with the environment variable's value."""
    if isinstance(value, dict):
        return {k: _substitute_env(v, file, (*path, str(k))) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute_env(v, file, (*path, str(i))) for i, v in enumerate(value)]
    if isinstance(value, str) and "${" in value:
        if "${" in _ENV_VAR.sub("", value):  # e.g. ${VAR:-default} or an unclosed ${VAR
            shown = _shown(value, path)
            raise ConfigError(
                f"malformed variable in {shown}: write ${{NAME}} (letters, digits and "
                "underscores; no defaults or other shell forms)",
                file=file,
                key=".".join(path),
            )

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise ConfigError(
                    f"environment variable {name} is not set; set it or write the value",
                    file=file,
                    key=".".join(path),
                )
            return os.environ[name]

        return _FromEnv(_ENV_VAR.sub(replace, value), value)
    return value


def _unique_keys_loader() -> Any:
    """PyYAML's safe loader, refusing a key written twice in one mapping (plain PyYAML keeps
    the last one silently: a typo'd second ``project:`` would win)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is written twice", key_node.start_mark
                )
            seen.add(key)
        return loader.construct_mapping(node)

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return Loader
