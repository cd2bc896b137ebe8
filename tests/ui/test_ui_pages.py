"""Every page and API of the web catalog, in-process through the server app (auth off)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from ui.helpers import DEMO_LINEAGE_NODES, Client, UiProcess, check_accessible, read_page

PAGES = {
    "/ui": "Overview",
    "/ui/search?q=conv": "Search: conv",
    "/ui/search": "Search",
    "/ui/lineage": "Lineage",
    "/ui/freshness": "Freshness",
    "/ui/entities/driver": "Entity driver",
    "/ui/feature-views/driver_stats": "Feature view driver_stats",
    "/ui/feature-views/driver_trips_weekly": "Feature view driver_trips_weekly",
    "/ui/on-demand-feature-views/conv_per_km": "On-demand view conv_per_km",
    "/ui/feature-services/driver_activity": "Feature service driver_activity",
    "/ui/feature-services/trip_pricing": "Feature service trip_pricing",
    "/ui/features/driver_stats/conv_rate": "Feature driver_stats:conv_rate",
    "/ui/features/conv_per_km/conv_per_km": "Feature conv_per_km:conv_per_km",
    "/ui/sources/driver_stats": "Source driver_stats",
    "/ui/sources/trip": "Source trip",
    "/ui/feature-views/driver_stats/history": "History of driver_stats",
    "/ui/entities/driver/history": "History of driver",
}


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_accessibly(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    page = check_accessible(response.text)
    assert page.title == f"{PAGES[path]} · pitstore catalog"
    # Assets come from the package, never from another host (works offline).
    assert not re.search(r'(src|href)="(https?:)?//', response.text)


def test_the_search_box_is_a_labelled_combobox(client: Client) -> None:
    html = client.get("/ui").text
    assert '<label for="search-input"' in html
    assert 'role="combobox"' in html and 'aria-controls="search-results"' in html
    assert 'role="listbox"' in html


def test_overview_lists_everything_with_freshness(client: Client) -> None:
    html = client.get("/ui").text
    for name in ("driver_stats", "customer_stats", "conv_per_km", "trip_pricing", "customer"):
        assert f">{name}</a>" in html, name
    assert "status-stale" in html and "status-never" in html and "status-fresh" in html
    assert "Needs materialization" in html


def test_search_api_ranks_and_filters(client: Client) -> None:
    def names(query: str) -> list[str]:
        response = client.get("/ui/api/search", params={"q": query})
        assert response.status_code == 200
        body = response.json()
        assert body["query"] == query
        return [r["name"] for r in body["results"]]

    assert names("conv_rate")[0] == "driver_stats:conv_rate"  # exact feature name first
    assert "driver_stats:conv_rate" in names("conv")
    assert names("acceptance") == ["driver_activity"]  # a description word
    assert set(names("owner:pricing")) == {"conv_per_km", "trip_pricing", "conv_per_km:conv_per_km"}
    assert "driver_stats" in names("tag:tier=gold")
    assert "driver_stats:acc_rate" in names("tag:team=drivers")  # features inherit view tags
    assert names("kind:entity driver") == ["driver"]
    assert names("   ") == []
    assert names("no-such-thing") == []
    first = client.get("/ui/api/search", params={"q": "conv"}).json()["results"][0]
    assert set(first) >= {"kind", "label", "name", "url", "description", "owner", "tags"}
    assert client.get(first["url"]).status_code == 200


def test_search_page_without_javascript(client: Client) -> None:
    html = client.get("/ui/search", params={"q": "avg"}).text
    assert 'href="/ui/features/driver_stats/avg_daily_trips"' in html
    assert 'value="avg"' in html  # the query stays in the box
    assert "Nothing matches" in client.get("/ui/search", params={"q": "zzz"}).text


def test_view_page(client: Client) -> None:
    html = client.get("/ui/feature-views/driver_stats").text
    for text in (
        "Hourly driver quality scores",  # description (v2)
        "ml-platform@example.com",
        "tier=gold",
        "data/driver_stats.parquet",
        '<a href="/ui/entities/driver">driver</a>',
        "<code>driver_id</code>",
        "<code>float32</code>",  # schema with types
        "Share of offers the driver accepted",
        '<a href="/ui/feature-services/driver_activity">',  # used by
        '<a href="/ui/on-demand-feature-views/conv_per_km">',
        "status-fresh",
        "get_historical_features",
        "get_online_features",
        "v2",
    ):
        assert text in html, text
    facts = re.search(r"<dt>TTL</dt><dd>([^<]*)</dd>", html)
    assert facts and facts.group(1) == "2d"


def test_stale_and_aggregated_views(client: Client) -> None:
    stale = client.get("/ui/feature-views/customer_stats").text
    assert "status-stale" in stale and "2 d" in stale  # age two days, TTL 12h
    weekly = client.get("/ui/feature-views/driver_trips_weekly").text
    assert "Aggregations" in weekly and "avg_daily_trips_sum_7d" in weekly
    assert "<td>sum</td><td>7d</td>" in weekly
    assert "never materialized" in weekly


def test_on_demand_page_shows_code_inputs_and_users(client: Client) -> None:
    html = client.get("/ui/on-demand-feature-views/conv_per_km").text
    assert "def conv_per_km(row):" in html
    assert "<code>distance_km</code>" in html
    assert '<a href="/ui/feature-views/driver_stats">' in html
    assert '<a href="/ui/feature-services/trip_pricing">' in html
    assert "&quot;distance_km&quot;: 1.0" in html  # the snippet passes the request field


def test_on_demand_page_and_catalog_show_the_code_it_reaches(client: Client) -> None:
    import hashlib

    odfv = client.get("/catalog/on-demand-feature-views/conv_per_km").json()
    assert [d["name"] for d in odfv["deps"]] == ["features.py: MIN_KM", "features.py: per_km"]
    for dep, entry in zip(odfv["deps"], odfv["spec"]["function"]["deps"], strict=True):
        heading, _, text = entry.partition("\n")  # the texts stay in the spec, in this order
        assert heading == f"# {dep['name']}"
        assert dep["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    (listed,) = client.get("/catalog/on-demand-feature-views").json()["items"]
    assert listed["deps"] == odfv["deps"]
    html = client.get("/ui/on-demand-feature-views/conv_per_km").text
    for dep in odfv["deps"]:
        assert f"<code>{dep['name']}</code> (sha256 {dep['sha256'][:12]})" in html
    assert "MIN_KM = 0.0" in html
    assert "distance &lt;= MIN_KM" in html and "distance <= MIN_KM" not in html  # escaped
    assert "&lt;rate&gt; / &lt;distance&gt;" in html and "<rate>" not in html


def test_service_entity_feature_and_source_pages(client: Client) -> None:
    service = client.get("/ui/feature-services/driver_activity").text
    assert (
        "<code>driver_id: int64</code>" in service and "<code>customer_id: int64</code>" in service
    )
    assert "feature_service=service" in service
    entity = client.get("/ui/entities/driver").text
    assert '<a href="/ui/feature-views/driver_trips_weekly">' in entity
    feature = client.get("/ui/features/driver_stats/conv_rate").text
    assert "Share of offers the driver accepted" in feature
    assert '<a href="/ui/feature-services/driver_activity">' in feature
    assert '<a href="/ui/feature-services/trip_pricing">' not in feature  # it reads acc_rate only
    aggregated = client.get("/ui/features/driver_trips_weekly/avg_daily_trips_sum_7d").text
    assert "sum(avg_daily_trips) over 7d" in aggregated
    source = client.get("/ui/sources/driver_stats").text
    assert "data/driver_stats.parquet" in source and "event_timestamp" in source
    assert "<code>distance_km</code>" in client.get("/ui/sources/trip").text


def test_history_and_diff_between_any_two_versions(client: Client) -> None:
    html = client.get("/ui/feature-views/driver_stats/history").text
    assert "v1" in html and "v2" in html
    assert 'for="version-from"' in html and 'for="version-to"' in html
    # Default: the latest version against the one before.
    assert "Changes from v1 to v2" in html
    for text in ("<code>description</code>", "<code>ttl</code>", "<code>tags.tier</code>"):
        assert text in html, text
    assert '<code class="diff-old">1d</code>' in html and '<code class="diff-new">2d</code>' in html
    backwards = client.get("/ui/feature-views/driver_stats/history?from=2&to=1").text
    assert '<code class="diff-old">2d</code>' in backwards
    same = client.get("/ui/feature-views/driver_stats/history?from=2&to=2").text
    assert "Choose two different versions" in same
    odd = client.get("/ui/feature-views/driver_stats/history?from=x&to=99")
    assert odd.status_code == 200 and "Changes from v1 to v2" in odd.text
    # digits int() refuses (a superscript, 5,000 of them) are no number, not a 500
    for value in ("%C2%B2", "9" * 5000):
        odd = client.get(f"/ui/feature-views/driver_stats/history?from={value}&to=2")
        assert odd.status_code == 200 and "Changes from v1 to v2" in odd.text
    assert client.get("/ui/api/search?q=a&limit=%C2%B2").status_code == 200
    one = client.get("/ui/entities/driver/history").text
    assert "Choose two different versions" in one  # a single version: nothing to compare


def test_feature_history_lists_only_its_changes(client: Client) -> None:
    html = client.get("/ui/features/driver_stats/conv_rate").text
    history = html.split('id="history"')[1]
    assert "driver_stats v1" in history and "driver_stats v2" not in history


def test_lineage_page_draws_every_node_as_a_link(client: Client) -> None:
    html = client.get("/ui/lineage").text
    nodes = set(re.findall(r'data-node="([^"]+)"', html))
    assert nodes == DEMO_LINEAGE_NODES
    edges = set(re.findall(r'data-from="([^"]+)" data-to="([^"]+)"', html))
    assert ("feature_view:driver_stats", "on_demand_feature_view:conv_per_km") in edges
    assert ("on_demand_feature_view:conv_per_km", "feature_service:trip_pricing") in edges
    assert ("request:trip", "on_demand_feature_view:conv_per_km") in edges
    for href in re.findall(r'<a href="([^"]+)" class="node', html):
        assert client.get(href).status_code == 200, href


def test_object_lineage_is_its_neighbourhood(client: Client) -> None:
    html = client.get("/ui/feature-views/customer_stats").text
    nodes = set(re.findall(r'data-node="([^"]+)"', html))
    assert "feature_service:driver_activity" in nodes
    assert "feature_view:driver_stats" not in nodes  # a sibling, neither up- nor downstream
    here = 'class="node kind-feature_view current" data-node="feature_view:customer_stats"'
    assert here + ' aria-current="page"' in html


def test_freshness_page_and_json(client: Client) -> None:
    html = client.get("/ui/freshness").text
    rows = dict(re.findall(r'<a href="/ui/feature-views/(\w+)">\w+</a>.*?status-(\w+)', html))
    assert rows == {
        "customer_stats": "stale",
        "driver_stats": "fresh",
        "driver_trips_weekly": "never",
    }
    items = {i["view"]: i for i in client.get("/catalog/freshness").json()["items"]}
    assert items["customer_stats"]["status"] == "stale"
    assert items["customer_stats"]["ttl_seconds"] == 12 * 3600
    assert items["customer_stats"]["age_seconds"] > 47 * 3600
    assert items["driver_trips_weekly"]["watermark"] is None
    assert items["driver_stats"]["watermark"].endswith("Z")


def test_catalog_lists_on_demand_views(client: Client) -> None:
    summary = client.get("/catalog").json()  # an on-demand view used to break the counts
    assert summary["counts"]["on-demand-feature-views"] == 1
    assert "/catalog/freshness" in summary["links"]
    odfv = client.get("/catalog/on-demand-feature-views/conv_per_km").json()
    assert odfv["spec"]["function"]["name"] == "conv_per_km"
    features = {f["ref"] for f in client.get("/catalog/features").json()["items"]}
    assert "conv_per_km:conv_per_km" in features


def test_not_found_pages_suggest_names(client: Client) -> None:
    response = client.get("/ui/feature-views/driver_stat")
    assert response.status_code == 404
    assert "Did you mean" in response.text and "<code>driver_stats</code>" in response.text
    check_accessible(response.text)
    for path in (
        "/ui/nope",
        "/ui/features/driver_stats/nope",
        "/ui/sources/nope",
        "/ui/feature-views/nope/history",
        "/ui/static/../../pyproject.toml",
        "/ui/static/nope.js",
    ):
        assert client.get(path).status_code == 404, path
    api = client.get("/ui/api/nope")
    assert api.status_code == 404


@pytest.mark.parametrize(
    "path", ["/ui", "/ui/feature-views/driver_stats", "/ui/api/search?q=conv", "/ui/static/ui.css"]
)
def test_head_is_answered_like_get_without_a_body(client: Client, path: str) -> None:
    # RFC 9110 section 9.3.2 (HEAD /ui was a 405)
    get = client.get(path)
    head = client.request("HEAD", path)
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    for name in ("content-type", "content-length", "cache-control"):
        assert head.headers[name] == get.headers[name], name
    nope = client.request("HEAD", "/ui/feature-views/nope")
    assert nope.status_code == 404 and nope.content == b""


def test_pages_are_read_only(client: Client) -> None:
    response = client.post("/ui/feature-views/driver_stats")
    assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD"
    assert client.get("/ui/logout").status_code == 405
    assert client.post("/ui/static/ui.js").status_code == 405


def test_pages_are_never_stored(client: Client) -> None:
    # a signed-in page came back from the browser's cache (Back) after sign-out
    for path in ("/ui", "/ui/feature-views/driver_stats", "/ui/lineage"):
        assert client.get(path).headers["cache-control"] == "no-store", path


def test_assets_are_served_from_the_package(client: Client) -> None:
    for name, kind in (
        ("ui.css", "text/css"),
        ("ui.js", "text/javascript"),
        ("favicon.svg", "image/svg+xml"),
    ):
        response = client.get(f"/ui/static/{name}")
        assert response.status_code == 200 and response.headers["content-type"].startswith(kind)
        assert "max-age" in response.headers["cache-control"]
        assert response.content


def test_text_from_definitions_is_escaped(client: Client) -> None:
    html = client.get("/ui/search", params={"q": "<script>alert(1)</script>"}).text
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html


def test_ui_requests_are_counted(client: Client) -> None:
    client.get("/ui")
    assert 'endpoint="ui",status="200"' in client.get("/metrics").text


def test_snippets_run(client: Client, repo: Path) -> None:
    """The Python on a view's, a service's and an on-demand view's page runs as shown."""
    import html as html_lib

    for path in (
        "/ui/feature-views/driver_stats",
        "/ui/feature-services/driver_activity",
        "/ui/on-demand-feature-views/conv_per_km",
    ):
        page = client.get(path).text
        code = html_lib.unescape(re.search(r'<code id="snippet">(.*?)</code>', page, re.S)[1])
        namespace: dict[str, object] = {}
        exec(compile(code, path, "exec"), namespace)
        training = namespace["training"]
        assert len(training) == 1, path  # type: ignore[arg-type]
        assert "event_timestamp" in training.columns  # type: ignore[attr-defined]
        assert namespace["online"], path
        if path.endswith("driver_stats"):  # now, for a demo driver: real values both ways
            assert training["conv_rate"].notna().all()  # type: ignore[index]
            assert namespace["online"]["conv_rate"][0] is not None  # type: ignore[index]


def test_the_accessibility_check_catches_an_unlabelled_input() -> None:
    html = '<html lang="en"><title>x · pitstore catalog</title><h1>x</h1><input id="a"></html>'
    assert read_page(html).controls[0]["id"] == "a"
    with pytest.raises(AssertionError, match="unlabelled control"):
        check_accessible(html)


def test_pitstore_ui_prints_the_url_and_serves_the_catalog(repo: Path) -> None:
    """The real command: prints the catalog's URL, serves it, stops on SIGTERM."""
    ui = UiProcess(repo)
    try:
        response = httpx.get(ui.url)
        assert response.status_code == 200 and "Feature catalog of demo" in response.text
        assert httpx.get(ui.base + "/catalog").status_code == 200  # the API is served too
    finally:
        ui.stop()
    assert ui.process.returncode in (0, -15)
