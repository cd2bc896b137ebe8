"""The page shell (header, search box, navigation) and the small pieces every page uses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pitstore import __version__
from pitstore.ui.html import Child, Html, el, join
from pitstore.ui.model import LABELS, CatalogModel, url

STATIC = "/ui/static"


@dataclass(frozen=True, slots=True)
class Ctx:
    """What a page render needs besides its own arguments."""

    model: CatalogModel
    project: str
    repo: str
    """The feature repo's folder (used in the Python snippets)."""
    now: datetime
    signed_in: bool = False
    """Signed in with the UI's cookie: show the sign-out button."""


def page(
    title: str,
    body: Child,
    ctx: Ctx | None = None,
    *,
    query: str = "",
    here: str = "",
) -> Html:
    """A complete HTML document: ``<title>`` is ``title · pitstore catalog``."""
    head = el(
        "head",
        Html('<meta charset="utf-8">'),
        el("meta", name="viewport", content="width=device-width, initial-scale=1"),
        el("title", f"{title} · pitstore catalog"),
        el("link", rel="stylesheet", href=f"{STATIC}/ui.css?v={__version__}"),
        el("link", rel="icon", href=f"{STATIC}/favicon.svg?v={__version__}", type="image/svg+xml"),
        el("script", src=f"{STATIC}/ui.js?v={__version__}", defer=True),
    )
    body_html = el(
        "body",
        el("a", "Skip to content", href="#main", class_="skip"),
        _header(ctx, query, here),
        el("main", body, id="main", tabindex=-1),
        el("footer", f"pitstore {__version__} · read-only catalog"),
    )
    return Html("<!doctype html>\n" + el("html", head, body_html, lang="en"))


def _header(ctx: Ctx | None, query: str, here: str) -> Html:
    brand = el("a", "pitstore ", el("span", "catalog"), href="/ui", class_="brand")
    if ctx is None:  # sign-in and error pages: no catalog to search
        return el("header", brand, class_="top")
    project = el("span", f"{ctx.project} · revision {ctx.model.revision}", class_="project")
    nav = el(
        "nav",
        _nav_link("Overview", "/ui", here),
        _nav_link("Lineage", "/ui/lineage", here),
        _nav_link("Freshness", "/ui/freshness", here),
        aria_label="Main",
    )
    sign_out = None
    if ctx.signed_in:
        sign_out = el(
            "form",
            el("button", "Sign out", type="submit", class_="link"),
            method="post",
            action="/ui/logout",
            class_="signout",
        )
    return el("header", brand, project, search_box(query), nav, sign_out, class_="top")


def _nav_link(label: str, href: str, here: str) -> Html:
    return el("a", label, href=href, aria_current="page" if href == here else None)


def search_box(query: str = "") -> Html:
    """The search form: a combobox that lists results as you type (ui.js), or submits to
    /ui/search without JavaScript."""
    return el(
        "form",
        el("label", "Search the catalog", for_="search-input", class_="visually-hidden"),
        el(
            "input",
            id="search-input",
            name="q",
            type="search",
            value=query,
            placeholder="Search features, views, entities, services…",
            autocomplete="off",
            spellcheck="false",
            role="combobox",
            aria_autocomplete="list",
            aria_expanded="false",
            aria_controls="search-results",
            aria_describedby="search-help",
        ),
        el(
            "span",
            "Type to search; arrow keys choose, Enter opens.",
            id="search-help",
            class_="visually-hidden",
        ),
        el("ul", id="search-results", role="listbox", aria_label="Search results", hidden=True),
        el("p", "", class_="visually-hidden", id="search-status", role="status"),
        role="search",
        action="/ui/search",
        method="get",
        class_="search",
    )


# --- pieces ---------------------------------------------------------------------------------


def section(title: str, *children: Child, id: str | None = None) -> Html:
    """A titled section of a page (``<h2>``)."""
    return el("section", el("h2", title, id=id), *children, aria_labelledby=id)


def facts(rows: list[tuple[str, Child]]) -> Html:
    """A definition list of label/value pairs; rows with a None value are left out."""
    items = [(el("dt", k), el("dd", v)) for k, v in rows if v is not None and v != ""]
    return el("dl", items, class_="facts")


def tags(values: Mapping[str, str]) -> Html | None:
    """Tags as small chips, or None."""
    if not values:
        return None
    chips = [
        el("li", el("a", f"{k}={v}", href=_tag_search(k, v))) for k, v in sorted(values.items())
    ]
    return el("ul", chips, class_="tags")


def _tag_search(key: str, value: str) -> str:
    from urllib.parse import urlencode

    return "/ui/search?" + urlencode({"q": f"tag:{key}={value}"})


def link(kind: str, name: str, label: str | None = None) -> Html:
    """A link to an object's page."""
    return el("a", label or name, href=url(kind, name))


def links(kind: str, names: list[str]) -> Html | None:
    """Comma-separated links, or None when empty."""
    return join(link(kind, n) for n in names) if names else None


def badge(kind: str) -> Html:
    """The object kind as a small coloured label."""
    return el("span", LABELS[kind], class_=f"badge kind-{kind}")


def when(value: datetime | None) -> Html | None:
    """A UTC time, machine-readable in ``<time>``."""
    if value is None:
        return None
    return el("time", f"{value:%Y-%m-%d %H:%M:%S} UTC", datetime=value.isoformat())


def age(seconds: float | None) -> str:
    """``3 h 12 min``: a duration in its two largest units."""
    if seconds is None:
        return "—"
    if seconds < 0:
        return "in the future"
    total = int(seconds)
    units = [("d", 86400), ("h", 3600), ("min", 60), ("s", 1)]
    parts: list[str] = []
    for name, size in units:
        if total >= size or (name == "s" and not parts):
            parts.append(f"{total // size} {name}")
            total %= size
        if len(parts) == 2:
            break
    return " ".join(parts)


STATUS_TEXT = {
    "fresh": "fresh",
    "stale": "stale: older than the TTL",
    "never": "never materialized",
    "not_online": "not online",
}


def freshness_badge(item: Mapping[str, Any]) -> Html:
    """A view's freshness status as a badge (stale ones stand out)."""
    status = item["status"]
    return el("span", STATUS_TEXT[status], class_=f"status status-{status}")


def code_block(code: str, label: str, id: str) -> Html:
    """Code with a copy button (ui.js); the button is labelled for screen readers."""
    return el(
        "div",
        el(
            "button",
            "Copy",
            type="button",
            class_="copy",
            data_copy=id,
            aria_label=f"Copy {label}",
        ),
        el("pre", el("code", code, id=id), tabindex=0, aria_label=label),
        class_="code",
    )


def table(headers: list[str], rows: Sequence[Sequence[Child]], caption: str | None = None) -> Html:
    """A table with a header row (and an optional caption for screen readers)."""
    return el(
        "table",
        el("caption", caption, class_="visually-hidden") if caption else None,
        el("thead", el("tr", [el("th", h, scope="col") for h in headers])),
        el("tbody", [el("tr", [el("td", c) for c in row]) for row in rows]),
    )


def empty(message: str) -> Html:
    """A muted line saying there is nothing to show."""
    return el("p", message, class_="muted")


def describe(text_value: str) -> Html:
    """An object's description as a lead paragraph (or a muted placeholder)."""
    if not text_value:
        return el("p", "No description.", class_="muted lead")
    return el("p", text_value, class_="lead")


def heading(kind: str, name: str) -> Html:
    """An object page's ``h1``: its kind as a badge, then its name."""
    return el("h1", badge(kind), " ", el("span", name, class_="name"))
