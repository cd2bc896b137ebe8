"""A tiny HTML builder that escapes by default.

Every page is built from :func:`el` calls: text children and attribute values are escaped
unless they are already :class:`Html`, so a feature description or tag holding ``<script>``
renders as text. There is no template language to learn and nothing to install.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import TypeAlias


class Html(str):
    """Markup that is already safe: inserted as is by :func:`el`."""

    __slots__ = ()


Child: TypeAlias = "Html | str | int | float | Iterable[Child] | None"
AttrValue: TypeAlias = str | int | float | bool | None


def text(value: object) -> Html:
    """``value`` as escaped text."""
    return Html(escape(str(value), quote=True))


def render(child: Child) -> Html:
    """One child (or an iterable of children) as markup; None renders as nothing."""
    if child is None:
        return Html("")
    if isinstance(child, Html):
        return child
    if isinstance(child, str | int | float):
        return text(child)
    return Html("".join(render(c) for c in child))


def attrs(values: dict[str, AttrValue]) -> Html:
    """Attributes: ``class_`` -> ``class``, ``aria_label`` -> ``aria-label``; True is bare,
    False and None are left out."""
    out = []
    for key, value in values.items():
        if value is None or value is False:
            continue
        name = key.rstrip("_").replace("_", "-")
        out.append(f" {name}" if value is True else f' {name}="{escape(str(value), quote=True)}"')
    return Html("".join(out))


#: Elements that have no end tag (HTML) or that we close inline (SVG shapes).
VOID = frozenset({"br", "hr", "img", "input", "link", "meta", "rect", "path", "circle"})


def el(tag: str, *children: Child, **attributes: AttrValue) -> Html:
    """``<tag attrs>children</tag>``, escaped."""
    if tag in VOID:
        slash = " /" if tag in {"rect", "path", "circle"} else ""
        return Html(f"<{tag}{attrs(attributes)}{slash}>")
    return Html(f"<{tag}{attrs(attributes)}>{render(children)}</{tag}>")


def join(items: Iterable[Child], separator: Child = ", ") -> Html:
    """Children separated by ``separator`` (default a comma)."""
    parts = [render(i) for i in items]
    return Html(render(separator).join(parts))
