"""The user code an on-demand function depends on, as text for its fingerprint.

A function's own source is not all it runs: a helper it calls, a module of the repo it uses or
a constant it reads can change while the function's text stays the same. The registry would
then keep the old version while a new process runs the new code. So the fingerprint covers,
besides the function's text:

- every function or class it reaches by a global name (or a closure), recursively, whose file
  is user code: not in the standard library or in an installed package;
- the whole text of a user module it uses by name (``import helpers`` / ``helpers.scale``);
- the value of a global constant it reads (numbers, text, bytes, tuples of these).

It is a text walk over names, not an analysis of what runs: a name that is also an attribute
(``x.scale`` beside a global ``scale``) counts too, which errs toward "changed".
"""

from __future__ import annotations

import inspect
import os
import textwrap
import types
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

_CONSTANT_TYPES = (int, float, complex, str, bytes, bool, type(None))


def dependencies(function: Callable[..., Any]) -> list[str]:
    """Texts of the user code ``function`` reaches, each headed by what it is, sorted.

    Headings name files by their path from the function's own folder, not by module name:
    the repo loader imports a repo's modules under a package of its own, so the same code
    applied from the SDK and loaded by a server must get the same fingerprint."""
    home = _source_file(function)
    root = Path(home).resolve().parent if home else Path.cwd()
    found: dict[str, str] = {}
    _walk(function, root, found, {id(function)})
    return [f"# {key}\n{found[key]}" for key in sorted(found)]


def _walk(function: Callable[..., Any], root: Path, found: dict[str, str], seen: set[int]) -> None:
    code = getattr(function, "__code__", None)
    if code is None:
        return
    namespace = getattr(function, "__globals__", {})
    reached = [(n, namespace[n]) for n in sorted(_names(code)) if n in namespace]
    cells = zip(code.co_freevars, getattr(function, "__closure__", None) or (), strict=False)
    reached += [(n, _cell(c)) for n, c in cells]
    where = _where(_source_file(function), root)
    for name, value in reached:
        if _is_constant(value):
            found[f"{where}: {name}"] = f"{name} = {_constant_text(value)}\n"
        elif id(value) not in seen:
            seen.add(id(value))
            _add(value, root, found, seen)


def _add(value: Any, root: Path, found: dict[str, str], seen: set[int]) -> None:
    if isinstance(value, types.ModuleType):
        path = getattr(value, "__file__", None)
        if path and _is_user_file(path):
            try:
                text = Path(path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):  # not a text file on disk: its name only
                text = ""
            found[f"module {_where(path, root)}"] = text
    elif isinstance(value, types.FunctionType | type):
        path = _source_file(value)
        if path is None or not _is_user_file(path):
            return
        try:
            text = textwrap.dedent(inspect.getsource(value))
        except (OSError, TypeError):  # no source on disk
            return
        found[f"{_where(path, root)}: {value.__qualname__}"] = text
        if isinstance(value, types.FunctionType):
            _walk(value, root, found, seen)


def _source_file(value: Any) -> str | None:
    try:
        return inspect.getsourcefile(value)
    except TypeError:  # built in
        return None


def _where(path: str | None, root: Path) -> str:
    """A file's path from ``root`` (``helpers.py``, ``lib/scale.py``, ``../common.py``)."""
    if path is None:
        return "?"
    return Path(os.path.relpath(Path(path).resolve(), root)).as_posix()


def _constant_text(value: Any) -> str:
    """``repr``, with sets sorted (their order follows the process's hash seed)."""
    if isinstance(value, frozenset):
        return "frozenset({" + ", ".join(sorted(_constant_text(v) for v in value)) + "})"
    if isinstance(value, tuple):
        items = [_constant_text(v) for v in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    return repr(value)


def _names(code: types.CodeType) -> Iterator[str]:
    """Global (and attribute) names used by ``code`` and the code nested in it."""
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _names(const)


def _cell(cell: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell (a name assigned later in the enclosing function)
        return None


def _is_constant(value: Any) -> bool:
    if isinstance(value, tuple | frozenset):
        return all(_is_constant(v) for v in value)
    return isinstance(value, _CONSTANT_TYPES)


@cache
def _not_user_roots() -> tuple[Path, ...]:
    """The standard library, installed packages, and pitstore itself (editable or not)."""
    import site
    import sysconfig

    paths = sysconfig.get_paths()
    keys = ("stdlib", "platstdlib", "purelib", "platlib")
    found = [paths[k] for k in keys if k in paths]
    found += [*site.getsitepackages(), site.getusersitepackages()]  # Debian's dist-packages...
    roots = [Path(p).resolve() for p in found]
    return (*roots, Path(__file__).resolve().parents[1])


def _is_user_file(path: str) -> bool:
    resolved = Path(path).resolve()
    if resolved.suffix != ".py":
        return False
    return not any(resolved.is_relative_to(root) for root in _not_user_roots())
