"""Loading definitions from a feature repo's Python files.

Every ``.py`` file in the repo (outside hidden, ``_``-prefixed, data and virtualenv folders) is
run as a module, and the definitions found at its top level are collected. This runs the repo's
own code, as ``import`` would; nothing is ever unpickled.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from pitstore.definitions import Definition, RepoContents
from pitstore.errors import DefinitionError

_SKIP_DIRS = {"data", "venv", "env", "node_modules", "site-packages", "__pycache__"}


def repo_files(repo: Path) -> list[Path]:
    """The Python files of a feature repo, in a stable order."""
    files = []
    for path in sorted(repo.rglob("*.py")):
        parts = path.relative_to(repo).parts
        if any(p.startswith((".", "_")) or p in _SKIP_DIRS for p in parts[:-1]):
            continue
        if parts[-1].startswith(("_", ".")) or parts[-1].startswith("test_"):
            continue
        files.append(path)
    return files


def load_repo(repo: Path) -> RepoContents:
    """Run the repo's files and return their definitions, validated together."""
    objects: list[Definition] = []
    added_path = str(repo) not in sys.path
    if added_path:
        sys.path.insert(0, str(repo))
    names = _module_names(repo) - {"__main__"}
    _forget_repo_modules(repo, names)
    try:
        for path in repo_files(repo):
            objects.extend(_definitions_in(path, repo))
    finally:
        _remember_repo_modules(repo, names)
        if added_path:
            sys.path.remove(str(repo))
    if not objects:
        raise DefinitionError(
            f"no definitions found in the Python files of {repo}; define Entity, FeatureView "
            "and FeatureService objects at the top level of a .py file there"
        )
    return RepoContents.of(objects)


#: Modules that loads of repos imported from a repo's folder: name -> that folder.
_LOADED: dict[str, Path] = {}


def _forget_repo_modules(repo: Path, names: set[str]) -> None:
    """Drop from ``sys.modules`` the repo modules a load of ``repo`` must import afresh
    (``names``: those the repo's files can be imported as, ``__main__`` aside).

    A repo's files may import each other (``from entities import driver``). Python caches such
    a module by name, so a second load in one process (an edited repo applied again, another
    repo with an ``entities.py`` of its own) got the module of the first load. Dropped: a
    module the repo's files can be imported as, when it was loaded from this repo's folder or
    by an earlier load of a repo. Anything else (``__main__``, the host program's own modules,
    installed or editable packages) is left alone, whatever the repo's file names.
    """
    for name in names:
        module = sys.modules.get(name)
        file = getattr(module, "__file__", None)
        if file is not None and (name in _LOADED or _inside(Path(file), repo)):
            del sys.modules[name]


def _remember_repo_modules(repo: Path, names: set[str]) -> None:
    """Note the modules this load imported from ``repo``'s folder (see above)."""
    for name in names:
        file = getattr(sys.modules.get(name), "__file__", None)
        if file is not None and _inside(Path(file), repo):
            _LOADED[name] = repo


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def _module_names(repo: Path) -> set[str]:
    """The dotted names by which the ``.py`` files of ``repo`` can be imported."""
    names = set()
    for path in repo.rglob("*.py"):
        parts = path.relative_to(repo).with_suffix("").parts
        if any(p.startswith(".") or p in _SKIP_DIRS for p in parts[:-1]):
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts and all(p.isidentifier() for p in parts):
            names.add(".".join(parts))
    return names


def _definitions_in(path: Path, repo: Path) -> list[Definition]:
    rel = path.relative_to(repo).with_suffix("")
    module_name = "_pitstore_repo." + ".".join(rel.parts)
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise DefinitionError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except DefinitionError as exc:
        raise DefinitionError(f"{path}: {exc}") from exc
    except Exception as exc:
        raise DefinitionError(
            f"{path} raised {type(exc).__name__}: {exc}; fix the file and run again"
        ) from exc
    return [v for v in vars(module).values() if isinstance(v, Definition)]
