"""The UI's pure parts: escaping, search ranking, graph layout, small formatters."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise

import pytest

from pitstore.definitions.code_deps import Dependency
from pitstore.registry.base import VersionRecord
from pitstore.registry.lineage import LineageGraph, Node
from pitstore.ui.app import _safe_next
from pitstore.ui.auth import read_cookie
from pitstore.ui.graph import LANE, layout, svg
from pitstore.ui.html import Html, attrs, el
from pitstore.ui.model import Item, url
from pitstore.ui.pages.history import pick
from pitstore.ui.pages.layout import age
from pitstore.ui.pages.objects import _deps_part
from pitstore.ui.run import ui_url
from pitstore.ui.search import search
from pitstore.ui.sign_in_limit import Reservation, SignInLimit, client_key


def test_text_and_attributes_are_escaped() -> None:
    html = el("a", '<b>"x"</b>', href='/ui?q="><script>', title=None, hidden=False)
    assert html == '<a href="/ui?q=&quot;&gt;&lt;script&gt;">&lt;b&gt;&quot;x&quot;&lt;/b&gt;</a>'
    assert el("p", Html("<b>ok</b>"), None, ["a", 1]) == "<p><b>ok</b>a1</p>"
    assert (
        attrs({"aria_label": "x", "for_": "y", "hidden": True}) == ' aria-label="x" for="y" hidden'
    )
    assert el("input", id="q") == '<input id="q">'


def test_the_code_an_on_demand_view_reaches_is_escaped() -> None:
    dep = Dependency("<a.py>: X", "X = '</code></pre><script>alert(1)</script>'\n")
    html = _deps_part([dep])
    assert "<script>" not in html and "</code></pre><script>" not in html
    assert "&lt;/code&gt;&lt;/pre&gt;&lt;script&gt;" in html
    assert f"<code>&lt;a.py&gt;: X</code> (sha256 {dep.sha256[:12]})" in html
    assert 'aria-label="Copy Code of &lt;a.py&gt;: X"' in html
    assert "No helpers, repo modules or constants." in _deps_part([])


def _item(kind: str, name: str, **kw: object) -> Item:
    fields: dict[str, object] = {"description": "", "owner": "", "tags": {}, "detail": ""}
    fields.update(kw)
    return Item(kind, name, **fields)  # type: ignore[arg-type]


def test_search_ranks_names_before_other_fields() -> None:
    items = [
        _item("feature_view", "trips", description="rides per rate card"),
        _item("feature", "stats:rate"),
        _item("feature", "stats:rate_delta"),
        _item("entity", "rater", owner="rate-team"),
    ]
    ranked = [h.item.name for h in search(items, "rate")]
    assert ranked == ["stats:rate", "rater", "stats:rate_delta", "trips"]
    assert [h.item.name for h in search(items, "RATE delta")] == ["stats:rate_delta"]
    assert [h.item.name for h in search(items, "owner:rate-team")] == ["rater"]
    assert search(items, "kind:view rate")[0].item.name == "trips"
    assert len(search(items * 30, "rate", limit=7)) == 7


def _graph(*edges: tuple[str, str]) -> LineageGraph:
    def node(text: str) -> Node:
        kind, name = text.split(":")
        return Node(kind, name)

    return LineageGraph(frozenset((node(a), node(b)) for a, b in edges))


def test_layout_puts_producers_left_and_skipping_edges_in_lanes() -> None:
    graph = _graph(
        ("source:s", "feature_view:v"),
        ("entity:e", "feature_view:v"),
        ("feature_view:v", "on_demand_feature_view:o"),
        ("on_demand_feature_view:o", "feature_service:a"),
        ("feature_view:v", "feature_service:b"),
    )
    plan = layout(graph)
    x = {b.node.name: b.x for b in plan.boxes.values() if b.node.kind != LANE}
    assert x["s"] == x["e"] < x["v"] < x["o"] < x["a"] == x["b"]
    path = plan.edges[(Node("feature_view", "v"), Node("feature_service", "b"))]
    assert [n.kind for n in path] == ["feature_view", LANE, "feature_service"]
    boxes = sorted(plan.boxes.values(), key=lambda b: (b.x, b.y))
    for a, b in pairwise(boxes):  # no two boxes of a column overlap
        if a.x == b.x:
            assert a.y + a.height <= b.y
    drawing = svg(plan, Node("feature_view", "v"))
    assert drawing.count('class="node ') == 6 and LANE not in drawing.split("<g")[2]


def test_layout_of_nothing_and_of_lonely_nodes() -> None:
    assert "Nothing to draw" in svg(layout(LineageGraph()))
    plan = layout(LineageGraph(), [Node("entity", "alone")])
    assert list(plan.boxes) == [Node("entity", "alone")] and plan.width > 0


def test_urls() -> None:
    assert url("feature", "v:f") == "/ui/features/v/f"
    assert url("request", "trip") == "/ui/sources/trip"
    assert url("on_demand_feature_view", "o") == "/ui/on-demand-feature-views/o"
    assert ui_url("0.0.0.0", 6566) == "http://127.0.0.1:6566/ui"
    assert ui_url("::1", 80) == "http://[::1]:80/ui"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "—"),
        (-1, "in the future"),
        (0, "0 s"),
        (59, "59 s"),
        (3725, "1 h 2 min"),
        (90061, "1 d 1 h"),
    ],
)
def test_age(seconds: float | None, text: str) -> None:
    assert age(seconds) == text


def test_pick_versions() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    records = [VersionRecord("entity", "e", v, "changed", {}, v, at, "me") for v in (1, 2, 3)]
    assert pick(records, None, None) == (2, 3)
    assert pick(records, 1, 3) == (1, 3)
    assert pick(records, 7, 2) == (1, 2)
    assert pick(records[:1], None, None) == (1, 1)


def test_next_targets_and_cookies() -> None:
    assert _safe_next("/ui/lineage?x=1") == "/ui/lineage?x=1"
    assert _safe_next("/ui") == "/ui" and _safe_next("/ui?q=a") == "/ui?q=a"
    bad_targets = ("https://x", "//x", "/ui//x", "/\\x", "/ui\\x", "/catalog", "/uix")
    for bad in (*bad_targets, "/ui/x\r\nX-Injected: yes", "/ui/\x00", "/ui/\t"):
        assert _safe_next(bad) == "/ui", bad
    assert read_cookie(b"a=1; pitstore_ui=abc; b=2") == "abc"
    assert read_cookie(b"pitstore_ui=") is None and read_cookie(None) is None


def test_docs_cover_the_routes_and_show_existing_screenshots() -> None:
    import re
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs"
    text = (docs / "ui.md").read_text()
    for route in ("/ui/search", "/ui/api/search", "/ui/lineage", "/ui/freshness", "/history"):
        assert route in text, route
    for segment in ("entities", "feature-views", "on-demand-feature-views", "feature-services"):
        assert f"/ui/{segment}/" in text, segment
    assert "pitstore ui" in text and "CI=true" in text
    for image in re.findall(r"\]\((screenshots/[^)]+)\)", text):
        assert (docs / image).is_file(), image


def test_a_sign_in_cookie_lasts_a_session_and_names_its_token() -> None:
    from pitstore.config.models import ServerTokenConfig
    from pitstore.ui.auth import SESSION_SECONDS, UiAuth

    tokens = [ServerTokenConfig(name=n, token=n * 20) for n in ("a", "b")]
    auth = UiAuth(tokens, "demo")
    now = 1_800_000_000.0
    cookie = auth.sign_in("b" * 20, now=now)
    signed_in = auth.principal(None, cookie, now=now + SESSION_SECONDS - 1)
    assert signed_in is not None and signed_in.name == "b"
    # a copy of the cookie (kept after sign-out) stops working when the session ends
    assert auth.principal(None, cookie, now=now + SESSION_SECONDS + 1) is None
    # nor can its time be moved: the time is part of what the HMAC covers
    issued, _, digest = cookie.partition(".")
    moved = f"{int(issued, 16) + SESSION_SECONDS:x}.{digest}"
    assert auth.principal(None, moved, now=now + SESSION_SECONDS + 1) is None
    for odd in ("", ".", "zz.00", "1" * 40 + ".00", cookie.replace(".", "")):
        assert auth.principal(None, odd, now=now) is None, odd


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_sign_in_limit_takes_a_try_per_sign_in_per_address_in_a_window() -> None:
    clock = Clock()
    limit = SignInLimit(3, 60, clock)
    tries = [limit.reserve("10.0.0.1") for _ in range(2)]
    assert all(isinstance(t, Reservation) and not t.last for t in tries)
    assert limit.retry_after("10.0.0.1") is None  # a try left
    last = limit.reserve("10.0.0.1")
    assert isinstance(last, Reservation) and last.last
    assert limit.retry_after("10.0.0.1") == 60
    assert limit.reserve("10.0.0.1") == 60  # refused, and nothing taken
    assert isinstance(limit.reserve("10.0.0.2"), Reservation)  # another address's budget
    clock.now += 59.5
    assert limit.reserve("10.0.0.1") == 1  # rounded up, never 0
    clock.now += 0.5
    assert limit.retry_after("10.0.0.1") is None  # the window closed
    assert len(limit) == 0


def test_sign_in_limit_gives_back_only_the_try_of_a_success() -> None:
    clock = Clock()
    limit = SignInLimit(2, 60, clock)
    failed, succeeded = limit.reserve("10.0.0.1"), limit.reserve("10.0.0.1")
    assert isinstance(failed, Reservation) and isinstance(succeeded, Reservation)
    assert limit.retry_after("10.0.0.1") == 60  # both taken while in flight
    limit.release(succeeded)
    limit.release(succeeded)  # once only
    assert limit.retry_after("10.0.0.1") is None
    assert isinstance(limit.reserve("10.0.0.1"), Reservation)
    assert limit.reserve("10.0.0.1") == 60  # the failure was not cleared


def test_sign_in_limit_forgets_an_address_whose_sign_ins_all_succeeded() -> None:
    limit = SignInLimit(2, 60, Clock())
    first = limit.reserve("10.0.0.1")
    assert isinstance(first, Reservation)
    limit.release(first)
    assert len(limit) == 0


def test_a_try_is_not_given_back_to_a_later_window() -> None:
    clock = Clock()
    limit = SignInLimit(1, 60, clock)
    old = limit.reserve("10.0.0.1")
    assert isinstance(old, Reservation)
    clock.now += 60  # the form took the whole window to arrive; a new window opens
    assert isinstance(limit.reserve("10.0.0.1"), Reservation)
    limit.release(old)
    assert limit.retry_after("10.0.0.1") == 60


def test_sign_in_limit_holds_a_bounded_number_of_addresses() -> None:
    clock = Clock()
    limit = SignInLimit(1, 60, clock, max_addresses=100)
    for n in range(1000):
        limit.reserve(f"10.0.{n // 256}.{n % 256}")
    assert len(limit) == 100
    assert limit.retry_after("10.0.3.231") == 60  # the newest are kept
    assert limit.retry_after("10.0.0.0") is None  # the oldest made room
    clock.now += 60
    limit.reserve("10.1.0.0")
    assert len(limit) == 1  # closed windows are dropped first


def test_an_ipv6_client_counts_by_its_network() -> None:
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::2")
    assert client_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("[2001:db8:1:2::1]") == "2001:db8:1:2::/64"
    assert client_key("::ffff:192.0.2.7") == client_key("192.0.2.7") == "192.0.2.7"
    assert client_key(None) == client_key("") == ""
    assert client_key("unix-socket") == "unix-socket"
