"""What an on-demand function's fingerprint covers (:mod:`pitstore.definitions.code_deps`).

Each test writes a small repo (``odfv.py`` with the function ``f`` and the modules it uses),
imports it, edits one file in a copy and imports that: the edit must change the deps, and the
same files must give the same deps again (else "changed" would prove nothing).
"""

from __future__ import annotations

import importlib
import linecache
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pitstore import Field, Float64, OnDemandFeatureView, RequestSource
from pitstore.definitions.code_deps import Dependency, dependencies

Files = dict[str, str]


class Repo:
    """Loads versions of a small repo, each in a folder of its own, as ``import odfv``."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp_path = tmp_path
        self.monkeypatch = monkeypatch
        self.loads = 0
        # sys.modules' entries before the first load (None: absent), given back by close():
        # monkeypatch.delitem records nothing for a name not there yet, so a module imported
        # here would stay, and a repo loaded later would get this `helpers`
        self.saved: dict[str, Any] = {}
        monkeypatch.setattr(sys, "dont_write_bytecode", True)  # no stale .pyc of an edit

    def function(self, files: Files) -> Callable[..., Any]:
        """``odfv.f`` of a fresh import of ``files`` (names -> texts, dedented)."""
        self.loads += 1
        folder = self.tmp_path / f"v{self.loads}"
        for name, text in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(textwrap.dedent(text))
        modules = {Path(n).with_suffix("").as_posix().replace("/", ".") for n in files}
        modules |= {m.split(".")[0] for m in modules}  # packages of sub/lib.py
        for module in modules:
            saved = sys.modules.pop(module, None)
            self.saved.setdefault(module, saved)
        self.monkeypatch.syspath_prepend(str(folder))
        importlib.invalidate_caches()
        linecache.clearcache()
        function: Callable[..., Any] = importlib.import_module("odfv").f
        return function

    def deps(self, files: Files) -> list[str]:
        return dependencies(self.function(files))

    def changes(self, files: Files, file: str, old: str, new: str) -> bool:
        """Whether replacing ``old`` by ``new`` in ``file`` changes the deps."""
        before = self.deps(files)
        assert self.deps(files) == before  # the same code, the same deps
        assert old in files[file], old
        edited = {**files, file: files[file].replace(old, new)}
        return self.deps(edited) != before

    def close(self) -> None:
        for name, module in self.saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Repo]:
    loader = Repo(tmp_path, monkeypatch)
    yield loader
    loader.close()


def view(function: Callable[..., Any]) -> OnDemandFeatureView:
    request = RequestSource("req", [Field("x", Float64)])
    return OnDemandFeatureView("v", [request], [Field("y", Float64)], function)


# --- functions without decorators, partials or callable objects: as before -------------------

PLAIN: Files = {
    "odfv.py": """\
        import helpers
        from sub.lib import Unit, shift

        OFFSET = 1.5
        NAMES = frozenset({"b", "a"})


        def make(factor):
            def scaled(x):
                return x * factor

            return scaled


        triple = make(3)


        def f(row):
            x = helpers.scale(row["x"]) + bonus(row["x"]) + shift(OFFSET) + triple(len(NAMES))
            return {"y": x, "unit": Unit.KM}


        def bonus(x):
            return 0
        """,
    "helpers.py": "def scale(x):\n    return x * 2\n",
    "sub/__init__.py": "",
    "sub/lib.py": """\
        import enum

        LIMIT = 10


        class Unit(enum.Enum):
            KM = "km"


        def shift(x):
            return min(x, LIMIT)
        """,
}


def test_the_deps_of_a_function_without_the_new_constructs_are_unchanged(repo: Repo) -> None:
    # Pinned as the code before decorators, partials and callable objects were covered
    # computed them: a change here would show every existing user's views as changed.
    function = repo.function(PLAIN)
    assert dependencies(function) == [
        "# module helpers.py\ndef scale(x):\n    return x * 2\n",
        "# odfv.py: NAMES\nNAMES = frozenset({'a', 'b'})\n",
        "# odfv.py: OFFSET\nOFFSET = 1.5\n",
        "# odfv.py: bonus\ndef bonus(x):\n    return 0\n",
        "# odfv.py: factor\nfactor = 3\n",
        "# odfv.py: make.<locals>.scaled\ndef scaled(x):\n    return x * factor\n",
        "# sub/lib.py: LIMIT\nLIMIT = 10\n",
        '# sub/lib.py: Unit\nclass Unit(enum.Enum):\n    KM = "km"\n',
        "# sub/lib.py: shift\ndef shift(x):\n    return min(x, LIMIT)\n",
    ]
    assert view(function).code_hash == (
        "b021b9d80a2f04687446c4d06d6a8ab3cc57c4dfd3ab78b44bcf80847cb9dd8c"
    )


# --- decorated helpers ------------------------------------------------------------------------

DECORATED = """\
    import contextlib
    import functools

    import deco

    LIMIT = 10


    def f(row):
        with opened():
            return {"y": cached(row["x"]) + memo(row["x"]) + wrapped(row["x"])}


    @functools.lru_cache(maxsize=None)
    def cached(x):
        return min(x * 2, LIMIT)


    @functools.cache
    def memo(x):
        return x + 1


    @deco.logged
    def wrapped(x):
        return x - 1


    @contextlib.contextmanager
    def opened():
        yield "a"
    """

DECO = """\
    import functools


    def logged(function):
        @functools.wraps(function)
        def wrapper(*args):
            return function(*args)

        return wrapper
    """


@pytest.mark.parametrize(
    ("file", "old", "new"),
    [
        ("odfv.py", "min(x * 2", "min(x * 3"),  # under lru_cache
        ("odfv.py", "LIMIT = 10", "LIMIT = 20"),  # what the lru_cache'd helper reads
        ("odfv.py", "x + 1", "x + 2"),  # under functools.cache
        ("odfv.py", "x - 1", "x - 2"),  # under a user decorator of another module
        ("deco.py", "return function(*args)", "return 2 * function(*args)"),  # its wrapper
        ("odfv.py", 'yield "a"', 'yield "b"'),  # under contextmanager (wraps, stdlib)
    ],
)
def test_a_change_under_a_decorator_is_a_change(repo: Repo, file: str, old: str, new: str) -> None:
    assert repo.changes({"odfv.py": DECORATED, "deco.py": DECO}, file, old, new)


def test_each_use_of_a_decorator_with_arguments_is_covered(repo: Repo) -> None:
    # Both wrappers hold a cell named 'factor' of one file: one used to replace the other.
    # The factors are named, so the decorated functions' text does not show them.
    files = {
        "odfv.py": """\
            import deco

            A_FACTOR = 2
            B_FACTOR = 3


            def f(row):
                return {"y": a(row["x"]) + b(row["x"])}


            @deco.scaled(A_FACTOR)
            def a(x):
                return x


            @deco.scaled(B_FACTOR)
            def b(x):
                return x
            """,
        "deco.py": """\
            import functools


            def scaled(factor):
                def decorate(function):
                    @functools.wraps(function)
                    def wrapper(x):
                        return function(x) * factor

                    return wrapper

                return decorate
            """,
    }
    assert repo.changes(files, "odfv.py", "A_FACTOR = 2", "A_FACTOR = 5")
    assert repo.changes(files, "odfv.py", "B_FACTOR = 3", "B_FACTOR = 5")


def test_closures_of_one_factory_over_different_constants_are_both_covered(repo: Repo) -> None:
    # The same collision without decorators: this fix changes the deps of such functions
    files = {
        "odfv.py": """\
            def make(factor):
                def scaled(x):
                    return x * factor

                return scaled


            double = make(2)
            triple = make(3)


            def f(row):
                return {"y": double(row["x"]) + triple(row["x"])}
            """,
    }
    assert repo.changes(files, "odfv.py", "make(2)", "make(5)")
    assert repo.changes(files, "odfv.py", "make(3)", "make(5)")


def test_a_decorated_function_of_the_view_is_followed(repo: Repo) -> None:
    files = {
        "odfv.py": """\
            import functools


            @functools.lru_cache(maxsize=None)
            def f(x):
                return helper(x)


            def helper(x):
                return x * 2
            """,
    }
    deps = repo.deps(files)
    assert [Dependency.parse(d).name for d in deps] == ["odfv.py: helper"]  # not f itself
    assert repo.changes(files, "odfv.py", "x * 2", "x * 3")


# --- partials ---------------------------------------------------------------------------------

PARTIALS = """\
    import functools

    import helpers


    def f(row):
        return {"y": double(row["x"]) + ordered([row["x"]])[0]}


    double = functools.partial(helpers.scale, 1, factor=2)
    ordered = functools.partial(sorted, key=helpers.rank)
    """

HELPERS = """\
    def scale(bias, x, factor):
        return bias + x * factor


    def rank(x):
        return -x
    """


@pytest.mark.parametrize(
    ("file", "old", "new"),
    [
        ("helpers.py", "x * factor", "x / factor"),  # the partial's function
        ("odfv.py", "factor=2", "factor=3"),  # a keyword it binds
        ("odfv.py", "scale, 1,", "scale, 0,"),  # an argument it binds
        ("helpers.py", "return -x", "return x"),  # a user function passed as an argument
        ("odfv.py", "partial(sorted", "partial(max"),  # a function not of the user
    ],
)
def test_a_change_in_a_partial_is_a_change(repo: Repo, file: str, old: str, new: str) -> None:
    assert repo.changes({"odfv.py": PARTIALS, "helpers.py": HELPERS}, file, old, new)


def test_a_partial_is_shown_by_names_and_values(repo: Repo) -> None:
    deps = repo.deps({"odfv.py": PARTIALS, "helpers.py": HELPERS})
    texts = {Dependency.parse(d).name: Dependency.parse(d).text for d in deps}
    assert texts["odfv.py: double"] == "double = functools.partial(scale, 1, factor=2)\n"
    assert texts["odfv.py: ordered"] == "ordered = functools.partial(builtins.sorted, key=rank)\n"
    assert "helpers.py: scale" in texts and "helpers.py: rank" in texts


# --- callable objects -------------------------------------------------------------------------

CALLABLES = """\
    import base


    class Scaler(base.Base):
        def __init__(self, factor, then=None):
            self.factor = factor
            self.then = then
            self.me = self  # a cycle

        def __call__(self, x):
            return self.apply(x) * self.factor


    class Rounder:
        __slots__ = ("__digits",)  # stored as _Rounder__digits

        def __init__(self, digits):
            self.__digits = digits

        def round(self, x):
            return round(x, self.__digits)

        def floor(self, x):
            return x // 1


    def last(x):
        return x - 1


    scaler = Scaler(2, then=last)
    rounded = Rounder(1).round


    def f(row):
        return {"y": rounded(scaler(row["x"]))}
    """

BASE = """\
    OFFSET = 1


    class Base:
        def apply(self, x):
            return shift(x)


    def shift(x):
        return x + OFFSET
    """


@pytest.mark.parametrize(
    ("file", "old", "new"),
    [
        ("odfv.py", "self.apply(x) * self.factor", "self.apply(x) + self.factor"),  # __call__
        ("odfv.py", "Scaler(2,", "Scaler(3,"),  # its state
        ("odfv.py", "return x - 1", "return x - 2"),  # a function it holds
        ("base.py", "return shift(x)", "return shift(x) * 2"),  # a method of its user base
        ("base.py", "OFFSET = 1", "OFFSET = 2"),  # what that method reaches
        ("odfv.py", "Rounder(1)", "Rounder(2)"),  # a bound method's object (slots)
        ("odfv.py", "round(x, self.__digits)", "round(x + 1, self.__digits)"),  # its method
        ("odfv.py", "Rounder(1).round", "Rounder(1).floor"),  # which method
    ],
)
def test_a_change_in_a_callable_object_is_a_change(
    repo: Repo, file: str, old: str, new: str
) -> None:
    assert repo.changes({"odfv.py": CALLABLES, "base.py": BASE}, file, old, new)


def test_a_callable_object_is_shown_by_its_class_and_attributes(repo: Repo) -> None:
    deps = repo.deps({"odfv.py": CALLABLES, "base.py": BASE})
    texts = {Dependency.parse(d).name: Dependency.parse(d).text for d in deps}
    # never a repr, which holds the object's address
    assert texts["odfv.py: scaler"] == "scaler = Scaler(factor=2, me=<Scaler>, then=last)\n"
    assert texts["odfv.py: rounded"] == "rounded = Rounder(__digits=1).round\n"
    assert {"odfv.py: Scaler", "base.py: Base", "base.py: OFFSET"} <= set(texts)


def test_objects_of_installed_packages_and_odd_objects_are_left_out(repo: Repo) -> None:
    files = {
        "odfv.py": """\
            import operator
            from unittest import mock

            import pyarrow.compute as pc

            get = operator.itemgetter("x")
            anything = mock.MagicMock()  # invents any attribute, __wrapped__ too


            def loop(x):
                return x


            loop.__wrapped__ = loop  # a decorator cycle


            def f(row):
                return {"y": pc.add(get(row), 1), "z": anything(loop(1))}
            """,
    }
    deps = repo.deps(files)
    assert [Dependency.parse(d).name for d in deps] == ["odfv.py: loop"]


def test_a_method_bound_to_any_callable_is_named_without_failing(repo: Repo) -> None:
    files = {
        "odfv.py": """\
            import operator
            import types

            odd = types.MethodType(operator.itemgetter(0), [1])


            def f(row):
                return {"y": odd()}
            """,
    }
    deps = repo.deps(files)
    assert deps == ["# odfv.py: odd\nodd = <builtins.list>.<operator.itemgetter>\n"]
