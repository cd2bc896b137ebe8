"""The catalog in a real browser: headless Chromium (Debian's package) driven by Playwright,
against the real ``pitstore ui`` process on the demo repo.

Skipped with the reason when Playwright or Chromium is missing; under ``CI=true`` that is a
failure instead. One browser for the session; a fresh context (cookies, clipboard) per test.
Each page visited is saved as a screenshot under ``tests/ui/artifacts/`` (or
``$PITSTORE_UI_ARTIFACTS``); the run's summary prints the folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ui.helpers import ADMIN, DEMO_LINEAGE_NODES, UiProcess, make_repo

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = os.environ.get("PITSTORE_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("PITSTORE_UI_ARTIFACTS", Path(__file__).parent / "artifacts"))


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install playwright)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set PITSTORE_CHROMIUM)"
    return None


# Module scope, not session: Playwright's sync API keeps an event loop running while it is
# open, and the async (ASGI) tests of other modules cannot start theirs until it is closed.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    reason = _missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}: the browser tests must run under CI=true")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def server(browser: Browser, repo: Path) -> Iterator[UiProcess]:
    ui = UiProcess(repo)
    yield ui
    ui.stop()


@pytest.fixture(scope="module")
def secured_server(
    tmp_path_factory: pytest.TempPathFactory, browser: Browser
) -> Iterator[UiProcess]:
    config = f"server:\n  auth:\n    tokens:\n      - name: admin\n        token: {ADMIN}\n"
    repo = make_repo(tmp_path_factory.mktemp("ui-auth") / "repo", config)
    ui = UiProcess(repo)
    yield ui
    ui.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    tab = context.new_page()
    errors: list[str] = []  # a CSP violation or a script error shows up here
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(str(e)))
    yield tab
    context.close()
    assert not errors, errors


def shot(page: Page, name: str, full: bool = True) -> None:
    """Save a screenshot of the page as a test artefact."""
    if not ARTIFACTS.exists():
        ARTIFACTS.mkdir(parents=True)
        (ARTIFACTS / ".gitignore").write_text("*\n")  # artefacts, never committed
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full)


def _selected(page: Page) -> list[str]:
    value: list[str] = page.eval_on_selector_all(
        "#search-results [role=option]", "els => els.map(e => e.getAttribute('aria-selected'))"
    )
    return value


def test_search_finds_a_feature_with_the_keyboard(page: Page, server: UiProcess) -> None:
    page.goto(server.url)
    assert page.title() == "Overview · pitstore catalog"
    shot(page, "overview")
    page.keyboard.press("/")  # focuses the search box
    box = page.get_by_role("combobox", name="Search the catalog")
    assert box.evaluate("e => e === document.activeElement")
    page.keyboard.type("acc_rate", delay=20)  # a request per pause: answers to "acc" may come first
    page.locator('#search-results[data-query="acc_rate"]').wait_for()
    options = page.locator("#search-results [role=option]")
    assert box.get_attribute("aria-expanded") == "true"
    assert "driver_stats:acc_rate" in options.first.inner_text()
    shot(page, "search", full=False)
    page.keyboard.press("ArrowDown")
    assert _selected(page)[0] == "true"
    assert box.get_attribute("aria-activedescendant") == "search-option-0"
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowUp")
    assert _selected(page)[0] == "true" and "true" not in _selected(page)[1:]
    page.keyboard.press("Escape")
    assert box.get_attribute("aria-expanded") == "false"
    page.keyboard.press("ArrowDown")  # reopens on the first result
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == server.base + "/ui/features/driver_stats/acc_rate"
    assert page.title() == "Feature driver_stats:acc_rate · pitstore catalog"
    assert "Share of trips completed" in page.inner_text("main")
    shot(page, "feature")


def test_enter_without_a_choice_opens_the_results_page(page: Page, server: UiProcess) -> None:
    page.goto(server.url + "/lineage")
    page.get_by_label("Search the catalog").fill("owner:pricing")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.title() == "Search: owner:pricing · pitstore catalog"
    assert page.locator("ol.results > li").count() == 3
    shot(page, "search-results")


def test_view_page_shows_schema_and_history(page: Page, server: UiProcess) -> None:
    page.goto(server.url + "/feature-views/driver_stats")
    assert page.title() == "Feature view driver_stats · pitstore catalog"
    schema = page.locator("section[aria-labelledby=schema] tbody tr")
    rows = [" ".join(r.split()) for r in schema.all_inner_texts()]
    assert rows[0].startswith("conv_rate float32 Share of offers")
    assert [r.split()[0] for r in rows] == ["conv_rate", "acc_rate", "avg_daily_trips"]
    history = page.locator("section[aria-labelledby=history] tbody tr")
    assert history.count() == 2 and history.first.inner_text().startswith("v2")
    assert page.locator(".status-fresh").first.is_visible()
    shot(page, "feature-view")
    with page.expect_navigation():
        page.get_by_role("link", name="diff of version 2").click()
    assert page.title() == "History of driver_stats · pitstore catalog"
    diff = " ".join(page.locator("#diff ~ div table").inner_text().split())
    assert "ttl 1d 2d" in diff and "tags.tier — gold" in diff
    page.get_by_label("From version").select_option("2")
    page.get_by_label("To version").select_option("1")
    with page.expect_navigation():
        page.get_by_role("button", name="Compare").click()
    assert "from=2&to=1" in page.url
    assert "ttl 2d 1d" in " ".join(page.locator("#diff ~ div table").inner_text().split())
    shot(page, "history")


def test_lineage_graph_is_drawn_and_navigates(page: Page, server: UiProcess) -> None:
    page.goto(server.url + "/lineage")
    nodes = page.eval_on_selector_all("svg.lineage a.node", "els => els.map(e => e.dataset.node)")
    assert set(nodes) == DEMO_LINEAGE_NODES
    assert page.locator("svg.lineage path.edge").count() == 12
    # Laid out for real: every box is drawn with a size, and no two boxes overlap.
    boxes: list[dict[str, Any]] = [
        b
        for b in (page.locator(f'a.node[data-node="{n}"] rect').bounding_box() for n in nodes)
        if b
    ]
    assert len(boxes) == len(nodes) and all(b["width"] > 50 for b in boxes)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            apart = (
                a["x"] + a["width"] <= b["x"]
                or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"]
                or b["y"] + b["height"] <= a["y"]
            )
            assert apart, (a, b)
    shot(page, "lineage")
    with page.expect_navigation():
        page.locator('a.node[data-node="feature_service:driver_activity"]').click()
    assert page.url == server.base + "/ui/feature-services/driver_activity"
    assert page.title() == "Feature service driver_activity · pitstore catalog"
    # The graph is reachable by keyboard too: focus a node and press Enter.
    page.locator('a.node[data-node="entity:driver"]').focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == server.base + "/ui/entities/driver"


def test_freshness_highlights_stale_views(page: Page, server: UiProcess) -> None:
    page.goto(server.url + "/freshness")
    stale = page.locator(".status-stale")
    assert stale.count() == 1
    colour = stale.evaluate("e => getComputedStyle(e).backgroundColor")
    fresh = page.locator(".status-fresh").evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour != fresh
    shot(page, "freshness")


def test_copy_button_copies_the_snippet(browser: Browser, server: UiProcess) -> None:
    context = browser.new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.base)
    tab = context.new_page()
    try:
        tab.goto(server.url + "/on-demand-feature-views/conv_per_km")
        tab.get_by_role("button", name="Copy Python snippet for conv_per_km").click()
        tab.get_by_role("button", name="Copy Python snippet for conv_per_km").filter(
            has_text="Copied"
        ).wait_for()
        copied = tab.evaluate("navigator.clipboard.readText()")
        assert '"distance_km": [1.0]' in copied and "get_online_features" in copied
        shot(tab, "on-demand-view")
    finally:
        context.close()


def test_the_code_an_on_demand_view_reaches_unfolds(page: Page, server: UiProcess) -> None:
    page.goto(server.url + "/on-demand-feature-views/conv_per_km")
    helper = page.locator("details.dep").filter(has_text="features.py: per_km")
    code = helper.locator("pre code")
    assert not code.is_visible()  # folded: a repo module's whole text can be long
    helper.locator("summary").click()
    assert code.is_visible()
    assert "if rate is None or distance is None or distance <= MIN_KM:" in code.inner_text()
    assert helper.get_by_role("button", name="Copy Code of features.py: per_km").is_visible()
    shot(page, "on-demand-deps")


def test_sign_in_then_search(page: Page, secured_server: UiProcess) -> None:
    page.goto(secured_server.url + "/lineage")
    assert page.title() == "Sign in · pitstore catalog"
    shot(page, "sign-in", full=False)
    page.get_by_label("Access token").fill(ADMIN)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == secured_server.url + "/lineage"
    page.get_by_label("Search the catalog").fill("customer")
    page.locator('#search-results[data-query="customer"]').wait_for()  # the fetch is signed in
    assert "customer" in page.locator("#search-results [role=option]").first.inner_text()
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    assert page.title() == "Sign in · pitstore catalog"
    page.goto(secured_server.url)
    assert page.title() == "Sign in · pitstore catalog"
