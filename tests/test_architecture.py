"""The architecture rules of DESIGN.md section 1, checked on the source tree.

- A module imports only from its own layer or lower ones.
- ``import pitstore`` (and the definitions a feature repo uses) loads no heavy package.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "pitstore"

LAYERS = {
    "errors": 1,
    "types": 1,
    "names": 1,
    "dsn": 1,
    "timeutil": 1,
    "definitions": 2,
    "config": 3,
    "registry": 4,
    "offline": 5,
    "online": 5,
    "store": 6,
    "ingest": 6,
    "testing": 6,
    "cli": 7,
    "server": 7,
    "ui": 7,
}
HEAVY = [
    "duckdb",
    "pandas",
    "polars",
    "pyarrow",
    "numpy",
    "redis",
    "psycopg",
    "pyspark",
    "fastapi",
    "starlette",
    "uvicorn",
    "granian",
    "typer",
    "rich",
    "pydantic",
    "yaml",
    "nats",
    "prometheus_client",
]


def _top(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "pitstore" and len(parts) > 1 else None


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def _modules() -> list[Path]:
    return [p for p in SRC.rglob("*.py") if p != SRC / "__init__.py"]


def test_every_module_has_a_layer() -> None:
    for path in _modules():
        top = path.relative_to(SRC).parts[0].removesuffix(".py")
        assert top in LAYERS, f"{path}: add {top!r} to LAYERS (and to DESIGN.md section 1)"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_no_module_imports_a_higher_layer(path: Path) -> None:
    own = LAYERS[path.relative_to(SRC).parts[0].removesuffix(".py")]
    for module in _imports(path):
        top = _top(module)
        if top is not None and top in LAYERS:
            assert LAYERS[top] <= own, (
                f"{path.relative_to(SRC)} (layer {own}) imports {module} (layer {LAYERS[top]})"
            )


def test_layer_check_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from pitstore.store import FeatureStore\n")
    assert _imports(bad) == ["pitstore.store"]
    assert LAYERS[_top("pitstore.store") or ""] > LAYERS["definitions"]


def _loaded_after(code: str) -> set[str]:
    script = f"import sys\n{code}\nimport json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    return {m.split(".")[0] for m in json.loads(out.stdout)}


def test_import_pitstore_is_light() -> None:
    loaded = _loaded_after("import pitstore")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_defining_features_is_light() -> None:
    loaded = _loaded_after(
        "from pitstore import Entity, FeatureView, Field, Float32, ParquetSource, FeatureService"
    )
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_public_names_resolve() -> None:
    import pitstore

    for name in pitstore.__all__:
        assert getattr(pitstore, name) is not None
