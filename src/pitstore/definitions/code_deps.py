"""The user code an on-demand function depends on, as text for its fingerprint.

A function's own source is not all it runs: a helper it calls, a module of the repo it uses or
a constant it reads can change while the function's text stays the same. The registry would
then keep the old version while a new process runs the new code. So the fingerprint covers,
besides the function's text:

- every function or class it reaches by a global name (or a closure), recursively, whose file
  is user code: not in the standard library or in an installed package;
- the whole text of a user module it uses by name (``import helpers`` / ``helpers.scale``);
- the value of a global constant it reads (numbers, text, bytes, tuples of these);
- what a callable it reaches runs, when that is not a plain function: the function under a
  decorator (``__wrapped__``: ``functools.lru_cache``, ``functools.wraps``) and the
  decorator's own wrapper when it is user code; a ``functools.partial``'s function and
  arguments; an instance of a user class with ``__call__`` (or a bound method of one): its
  classes' code, the code their methods reach, and its attributes.

It is a text walk over names, not an analysis of what runs: a name that is also an attribute
(``x.scale`` beside a global ``scale``) counts too, which errs toward "changed". Values that
are not constants are named by their type, never by ``repr`` (which holds an address and would
change the fingerprint on every run).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import os
import textwrap
import types
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

_CONSTANT_TYPES = (int, float, complex, str, bytes, bool, type(None))


class Dependency(NamedTuple):
    """One entry of :func:`dependencies`: what it is (``helpers.py: scale``) and its text."""

    name: str
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    @classmethod
    def parse(cls, entry: str) -> Dependency:
        """The parts of one entry as :func:`dependencies` wrote it (``# name\\ntext``)."""
        heading, _, text = entry.partition("\n")
        return cls(heading.removeprefix("# "), text)


def dependencies(function: Callable[..., Any]) -> list[str]:
    """Texts of the user code ``function`` reaches, each headed by what it is, sorted.

    Headings name files by their path from the function's own folder, not by module name:
    the repo loader imports a repo's modules under a package of its own, so the same code
    applied from the SDK and loaded by a server must get the same fingerprint."""
    inner = _innermost(function)
    home = _source_file(inner)
    walk = _Walk(Path(home).resolve().parent if home else Path.cwd())
    walk.first(inner)  # its text is the view's own code, not a dependency
    # A decorated function: the decorators' wrappers are dependencies (none when plain)
    walk.cover(getattr(function, "__name__", "function"), function, walk.where(home))
    walk.walk(inner)
    return [f"# {key}\n{''.join(sorted(texts))}" for key, texts in sorted(walk.found.items())]


class _Walk:
    """One walk from a function: the texts found so far, by heading, and the objects seen."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # A set per heading: two different values under one heading (closures of one
        # decorator over different constants) are both kept, whatever order they came in
        self.found: dict[str, set[str]] = {}
        # id -> object: keeps each seen object alive, so its id is not reused by another
        self._seen: dict[int, Any] = {}

    def first(self, value: Any) -> bool:
        """Whether ``value`` is seen for the first time (and now seen)."""
        if id(value) in self._seen:
            return False
        self._seen[id(value)] = value
        return True

    def where(self, path: str | None) -> str:
        """A file's path from the root (``helpers.py``, ``lib/scale.py``, ``../common.py``)."""
        if path is None:
            return "?"
        return Path(os.path.relpath(Path(path).resolve(), self.root)).as_posix()

    def put(self, key: str, text: str) -> None:
        self.found.setdefault(key, set()).add(text)

    def walk(self, function: Any) -> None:
        """Cover the names a function's code uses (globals, closure cells)."""
        code = getattr(function, "__code__", None)
        if code is None:
            return
        namespace = getattr(function, "__globals__", {})
        reached = [(n, namespace[n]) for n in sorted(_names(code)) if n in namespace]
        cells = zip(code.co_freevars, getattr(function, "__closure__", None) or (), strict=False)
        reached += [(n, _cell(c)) for n, c in cells]
        where = self.where(_source_file(function))
        for name, value in reached:
            self.cover(name, value, where)

    def cover(self, name: str, value: Any, where: str) -> None:
        """Add what ``value``, reached as ``name`` from code in file ``where``, runs."""
        if _is_constant(value):
            self.put(f"{where}: {name}", f"{name} = {_constant_text(value)}\n")
            return
        if not self.first(value):
            return
        if isinstance(value, types.ModuleType):
            self._module(value)
        elif isinstance(value, types.FunctionType | type):
            self._code(value)
        elif isinstance(value, functools.partial):
            self._partial(name, value, where)
        elif isinstance(value, types.MethodType):
            self._method(name, value, where)
        elif callable(value) and _is_user_code(type(value)):
            self._instance(name, value, where)
        wrapped = _wrapped(value)
        if wrapped is not None:  # lru_cache, functools.wraps: the function it calls
            self.cover(f"{name}.__wrapped__", wrapped, where)

    def follow(self, name: str, value: Any, where: str) -> None:
        """Cover a value held by a partial or an instance (its constants are in their text)."""
        if not _is_constant(value):
            self.cover(name, value, where)

    def _module(self, module: types.ModuleType) -> None:
        path = getattr(module, "__file__", None)
        if path and _is_user_file(path):
            try:
                text = Path(path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):  # not a text file on disk: its name only
                text = ""
            self.put(f"module {self.where(path)}", text)

    def _code(self, value: types.FunctionType | type) -> None:
        path = _source_file(value)
        if path is None or not _is_user_file(path):
            return
        source = _own_source(value)
        if source is None:
            return
        qualname, text = source
        self.put(f"{self.where(path)}: {qualname}", text)
        if isinstance(value, types.FunctionType):
            self.walk(value)

    def _partial(self, name: str, value: functools.partial[Any], where: str) -> None:
        arguments = [self.value_text(a) for a in value.args]
        arguments += [f"{k}={self.value_text(v)}" for k, v in sorted(value.keywords.items())]
        text = ", ".join([self.describe(value.func), *arguments])
        self.put(f"{where}: {name}", f"{name} = functools.partial({text})\n")
        self.follow(f"{name}.func", value.func, where)
        for i, argument in enumerate(value.args):
            self.follow(f"{name}.args[{i}]", argument, where)
        for key, argument in sorted(value.keywords.items()):
            self.follow(f"{name}.keywords[{key!r}]", argument, where)

    def _method(self, name: str, method: types.MethodType, where: str) -> None:
        """A bound method: which method of what (a user object's attributes, a class)."""
        owner = method.__self__
        bound = getattr(method.__func__, "__name__", None) or self.describe(method.__func__)
        text = f"{self._object_text(owner)}.{bound}"
        self.put(f"{where}: {name}", f"{name} = {text}\n")
        if isinstance(owner, type) or not _is_user_code(type(owner)):
            self.cover(f"{name}.__self__", owner, where)
        elif self.first(owner):  # an object of a user class, callable or not
            self._object_code(f"{name}.__self__", owner, where)
        self.cover(f"{name}.__func__", method.__func__, where)  # seen when its class was

    def _instance(self, name: str, value: Any, where: str) -> None:
        """A callable object of a user class: its attributes, and its classes' code."""
        self.put(f"{where}: {name}", f"{name} = {self._object_text(value)}\n")
        self._object_code(name, value, where)

    def _object_text(self, value: Any) -> str:
        """``Scaler(factor=2, then=last)``: a user object by its class and attributes."""
        if isinstance(value, type) or not _is_user_code(type(value)):
            return self.describe(value)
        fields = ", ".join(f"{k}={self.value_text(v)}" for k, v in _state(value))
        return f"{self.describe(type(value))}({fields})"

    def _object_code(self, name: str, value: Any, where: str) -> None:
        for klass in type(value).__mro__:
            if _is_user_code(klass):
                self._class_methods(klass, where)
        for key, attribute in _state(value):
            self.follow(f"{name}.{key}", attribute, where)

    def _class_methods(self, klass: type, where: str) -> None:
        """The class's text, and what its methods reach (their text is in the class's)."""
        self.cover(klass.__qualname__, klass, where)
        for key, method in _methods(klass):
            if isinstance(method, types.FunctionType) and _wrapped(method) is None:
                if self.first(method):
                    self.walk(method)
            else:  # a decorated method: the decorator's code and the method under it
                self.cover(f"{klass.__qualname__}.{key}", method, where)

    def value_text(self, value: Any) -> str:
        return _constant_text(value) if _is_constant(value) else self.describe(value)

    def describe(self, value: Any) -> str:
        """A callable or other object by name: user code by qualified name (its module's name
        differs between the SDK and the repo loader), others by module and name, an instance
        by its type."""
        if isinstance(value, types.FunctionType | type) and _is_user_code(value):
            return value.__qualname__
        if isinstance(value, types.FunctionType | types.BuiltinFunctionType | type):
            module = getattr(value, "__module__", None)
            return f"{module}.{value.__qualname__}" if module else value.__qualname__
        return f"<{self.describe(type(value))}>"


def _innermost(function: Any) -> Any:
    """The function under every decorator (``__wrapped__``) of ``function``."""
    seen = {id(function)}
    while (inner := _wrapped(function)) is not None and id(inner) not in seen:
        seen.add(id(inner))
        function = inner
    return function


def _wrapped(value: Any) -> Any:
    """What ``functools.wraps`` (or ``update_wrapper``, as ``lru_cache`` does) wrapped.

    Read from the object's own ``__dict__``, where those put it: ``getattr`` would also find a
    class attribute, or invent a value on an object with ``__getattr__`` (a mock, a proxy)."""
    if isinstance(value, type | types.ModuleType):  # their __dict__ is their namespace
        return None
    try:
        attributes = vars(value)
    except TypeError:  # no __dict__
        return None
    return attributes.get("__wrapped__") if isinstance(attributes, Mapping) else None


def _own_source(value: types.FunctionType | type) -> tuple[str, str] | None:
    """The qualified name and text of the code itself: for a decorator's wrapper, the
    wrapper's code (``inspect.getsource`` would give the wrapped function's)."""
    target: Any = value
    qualname = value.__qualname__
    if isinstance(value, types.FunctionType) and _wrapped(value) is not None:
        target, qualname = value.__code__, value.__code__.co_qualname
    try:
        return qualname, textwrap.dedent(inspect.getsource(target))
    except (OSError, TypeError, ValueError):  # no source on disk; a __wrapped__ cycle
        return None


def _methods(klass: type) -> Iterator[tuple[str, Any]]:
    """The functions a class defines: methods, static and class methods, property accessors."""
    for key, member in sorted(vars(klass).items()):
        if isinstance(member, staticmethod | classmethod):
            yield key, member.__func__
        elif isinstance(member, property):
            accessors = (member.fget, member.fset, member.fdel)
            yield from ((key, f) for f in accessors if f is not None)
        elif isinstance(member, types.FunctionType) or _wrapped(member) is not None:
            yield key, member


def _state(value: Any) -> list[tuple[str, Any]]:
    """An instance's attributes (``__dict__`` and slots), by name, dunders (``__module__``
    set by ``update_wrapper``, named differently by the repo loader) left out."""
    try:
        attributes = dict(vars(value))
    except TypeError:  # slots only
        attributes = {}
    for klass in type(value).__mro__:
        slots = vars(klass).get("__slots__", ())
        for slot in [slots] if isinstance(slots, str) else slots:
            stored = _mangled(slot, klass)
            if slot not in attributes and hasattr(value, stored):
                attributes[slot] = getattr(value, stored)
    items = [(k, v) for k, v in attributes.items() if isinstance(k, str) and not _dunder(k)]
    return sorted(items, key=lambda item: item[0])


def _dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def _mangled(name: str, klass: type) -> str:
    """The attribute a slot named ``__x`` in class ``K`` is stored as (``_K__x``)."""
    if name.startswith("__") and not _dunder(name):
        return f"_{klass.__name__.lstrip('_')}{name}"
    return name


def _source_file(value: Any) -> str | None:
    try:
        return inspect.getsourcefile(value)
    except TypeError:  # built in
        return None
    except OSError:  # a class of __main__ run from no file (python -c, a REPL)
        return None


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


def _is_user_code(value: types.FunctionType | type) -> bool:
    path = _source_file(value)
    return path is not None and _is_user_file(path)


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
