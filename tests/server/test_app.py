"""Every endpoint and every error status, in-process through the ASGI interface."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import ADMIN, MODEL, OTHER_PROJECT, READER, Client, bearer, make_repo, start, tokens

from pitstore import FeatureStore
from pitstore.errors import StoreUnavailableError
from pitstore.server import create_app

FEATURES = [
    "driver_hourly_stats:conv_rate",
    "driver_hourly_stats:acc_rate",
    "driver_hourly_stats:avg_daily_trips",
]


def error_of(response: object) -> dict[str, object]:
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert "Traceback" not in body["error"]["message"]
    return body["error"]  # type: ignore[no-any-return]


# --- Feast compatibility ------------------------------------------------------------------


def test_feast_docs_request_by_feature_list(client: Client) -> None:
    # The request body of Feast's "Python feature server" docs, verbatim.
    body = {"features": FEATURES, "entities": {"driver_id": [1001, 1002, 1003]}}
    response = client.post("/get-online-features", json=body)
    assert response.status_code == 200
    data = response.json()
    assert data["metadata"]["feature_names"] == [
        "driver_id",
        "conv_rate",
        "acc_rate",
        "avg_daily_trips",
    ]
    results = data["results"]
    assert len(results) == 4
    assert results[0] == {
        "values": [1001, 1002, 1003],
        "statuses": ["PRESENT"] * 3,
        "event_timestamps": ["1970-01-01T00:00:00Z"] * 3,
    }
    for result in results[1:]:
        assert set(result) == {"values", "statuses", "event_timestamps"}
        assert result["statuses"] == ["PRESENT"] * 3
        assert all(t.endswith(":00:00Z") for t in result["event_timestamps"])
    assert all(isinstance(v, float) for v in results[1]["values"])
    assert all(isinstance(v, int) for v in results[3]["values"])


def test_feast_docs_request_by_feature_service(client: Client) -> None:
    body = {"feature_service": "driver_activity_v1", "entities": {"driver_id": [1001, 1002]}}
    response = client.post("/get-online-features", json=body)
    assert response.status_code == 200
    names = response.json()["metadata"]["feature_names"]
    assert names == ["driver_id", "conv_rate", "acc_rate", "avg_daily_trips"]


def test_feast_full_feature_names_and_missing_entity(client: Client) -> None:
    body = {
        "features": FEATURES[:1],
        "entities": {"driver_id": [1001, 999999]},
        "full_feature_names": True,
        "include_feature_view_version_metadata": False,
    }
    data = client.post("/get-online-features", json=body).json()
    assert data["metadata"]["feature_names"] == ["driver_id", "driver_hourly_stats__conv_rate"]
    feature = data["results"][1]
    assert feature["statuses"] == ["PRESENT", "NOT_FOUND"]
    assert feature["values"][1] is None
    assert feature["event_timestamps"][1] == "1970-01-01T00:00:00Z"


def test_feast_push_body_for_an_unknown_push_source_is_a_404(client: Client) -> None:
    # Feast's push example; the demo repo has no push source (see tests/test_push_server.py).
    body = {
        "push_source_name": "driver_stats_push_source",
        "df": {"driver_id": [1001], "event_timestamp": ["2022-05-13 10:59:42+00:00"]},
        "to": "online_and_offline",
    }
    response = client.post("/push", json=body)
    assert response.status_code == 404
    assert "push source" in error_of(response)["message"]  # type: ignore[operator]


def test_feast_write_to_online_store_body(repo: Path) -> None:
    c = start(repo)
    try:
        body = {
            "feature_view_name": "customer_stats",
            # what Feast's RemoteOnlineStore.online_write_batch sends too (a 422 before)
            "allow_registry_cache": False,
            "transform_on_write": True,
            "df": {
                "customer_id": [77],
                "event_timestamp": ["2099-01-01 00:00:00+00:00"],
                "avg_rating": [4.5],
                "lifetime_trips": [3],
                "avg_spend": [12.5],
            },
        }
        response = c.post("/write-to-online-store", json=body)
        assert response.status_code == 200, response.text
        assert response.json() == {"feature_view": "customer_stats", "rows": 1, "written": 1}
        both = c.post("/push", json={**body, "feature_view": "driver_hourly_stats"})
        assert both.status_code == 422  # the second name was dropped without a word
        assert "not both" in error_of(both)["message"]  # type: ignore[operator]
        flag = c.post("/push", json={**body, "allow_registry_cache": "no"})
        assert flag.status_code == 422 and error_of(flag)["details"] == {
            "field": "allow_registry_cache"
        }
    finally:
        c.close()
        c.app.shutdown()


BLOB_VIEW = """
from pitstore import Bytes

blobs = FeatureView("blobs", [driver], [Field("blob", Bytes)], ParquetSource("data/blobs.parquet"))
"""


def test_bytes_arrive_as_base64_in_json_bodies(tmp_path: Path) -> None:
    # JSON has no bytes: the server takes base64 text (the SDK refuses a str for bytes)
    repo = make_repo(tmp_path / "repo")
    schema = pa.schema(
        [
            ("driver_id", pa.int64()),
            ("event_timestamp", pa.timestamp("us", "UTC")),
            ("blob", pa.binary()),
        ]
    )
    pq.write_table(schema.empty_table(), repo / "data" / "blobs.parquet")
    with (repo / "features.py").open("a") as features:
        features.write(BLOB_VIEW)
    with FeatureStore(repo) as store:
        store.apply()
    c = start(repo)
    try:
        body = {
            "feature_view_name": "blobs",
            "df": {
                "driver_id": [5],
                "event_timestamp": ["2099-01-01T00:00:00Z"],
                "blob": ["dXNlcg=="],
            },
        }
        response = c.post("/write-to-online-store", json=body)
        assert response.status_code == 200, response.text
        read = {"features": ["blobs:blob"], "entities": {"driver_id": [5]}}
        values = c.post("/get-online-features", json=read).json()["results"][1]["values"]
        assert values == ["dXNlcg=="]  # stored as b"user", sent back as base64
        with FeatureStore(repo) as store:
            got = store.get_online_features(["blobs:blob"], [{"driver_id": 5}])
            assert got.to_dict()["blob"] == [b"user"]
    finally:
        c.close()
        c.app.shutdown()


TIMES_VIEW = """
from pitstore import Array, Timestamp

times = FeatureView(
    "times",
    [driver],
    [Field("seen", Timestamp), Field("seen_all", Array(Timestamp))],
    ParquetSource("data/times.parquet"),
)
"""


def test_arrays_of_timestamps_are_sent_as_scalar_timestamps_are(tmp_path: Path) -> None:
    # The stores keep times as microseconds: the JSON has the same text, inside arrays too.
    from datetime import UTC, datetime, timedelta

    repo = make_repo(tmp_path / "repo")
    when = datetime(2026, 1, 1, 7, tzinfo=UTC)
    stamp = pa.timestamp("us", "UTC")
    table = pa.table(
        {
            "driver_id": pa.array([5], pa.int64()),
            "event_timestamp": pa.array([when], stamp),
            "seen": pa.array([when + timedelta(microseconds=5)], stamp),
            "seen_all": pa.array([[when + timedelta(microseconds=5), None, when]], pa.list_(stamp)),
        }
    )
    pq.write_table(table, repo / "data" / "times.parquet")
    with (repo / "features.py").open("a") as features:
        features.write(TIMES_VIEW)
    with FeatureStore(repo) as store:
        store.apply()
        store.materialize(when, when + timedelta(seconds=1))
    c = start(repo)
    try:
        read = {"features": ["times:seen", "times:seen_all"], "entities": {"driver_id": [5]}}
        results = c.post("/get-online-features", json=read).json()["results"]
        seen = "2026-01-01T07:00:00.000005Z"
        assert results[1]["values"] == [seen]
        assert results[2]["values"] == [[seen, None, "2026-01-01T07:00:00Z"]]
        (row,) = c.post("/online-features", json=read).json()["rows"]
        assert row == {"driver_id": 5, "seen": seen, "seen_all": results[2]["values"][0]}
    finally:
        c.close()
        c.app.shutdown()


# --- pitstore's row form ------------------------------------------------------------------


def test_rows_form_with_metadata(client: Client) -> None:
    body = {
        "feature_service": "driver_activity",
        "entities": [{"driver_id": 1001, "customer_id": 1}, {"driver_id": 1, "customer_id": 2}],
        "metadata": True,
    }
    response = client.post("/online-features", json=body)
    assert response.status_code == 200
    data = response.json()
    assert data["feature_names"][:2] == ["driver_id", "customer_id"]
    first, second = data["rows"]
    assert first["driver_id"] == 1001 and isinstance(first["conv_rate"], float)
    assert second["conv_rate"] is None
    assert data["statuses"][1]["conv_rate"] == "NOT_FOUND"
    assert data["event_timestamps"][1]["conv_rate"] is None
    assert data["statuses"][0]["avg_rating"] == "PRESENT"


def test_rows_form_accepts_columns(client: Client) -> None:
    body = {"features": FEATURES[:1], "entities": {"driver_id": [1001]}}
    data = client.post("/online-features", json=body).json()
    assert list(data["rows"][0]) == ["driver_id", "conv_rate"]
    assert "statuses" not in data


# --- push ---------------------------------------------------------------------------------


def test_push_then_read_and_monotonic(repo: Path) -> None:
    c = start(repo)
    try:
        row = {
            "driver_id": 4242,
            "event_timestamp": "2099-01-01T00:00:00Z",
            "conv_rate": 0.25,
            "acc_rate": 0.5,
            "avg_daily_trips": 7,
        }
        body = {"feature_view": "driver_hourly_stats", "rows": [row]}
        assert c.post("/push", json=body).json()["written"] == 1
        older = {**row, "event_timestamp": "2098-01-01T00:00:00", "conv_rate": 0.75}
        c.post("/push", json={"feature_view": "driver_hourly_stats", "rows": [older]})
        read = {"features": FEATURES[:1], "entities": {"driver_id": [4242]}}
        result = c.post("/get-online-features", json=read).json()["results"][1]
        assert result["values"] == [0.25]  # the older row did not roll it back
        assert result["event_timestamps"] == ["2099-01-01T00:00:00Z"]
    finally:
        c.close()
        c.app.shutdown()


def test_push_bad_row_writes_nothing(client: Client) -> None:
    good = {
        "driver_id": 5151,
        "event_timestamp": "2099-01-01T00:00:00Z",
        "conv_rate": 0.1,
        "acc_rate": 0.2,
        "avg_daily_trips": 1,
    }
    bad = {**good, "driver_id": 5152, "avg_daily_trips": "many"}
    response = client.post(
        "/push", json={"feature_view": "driver_hourly_stats", "rows": [good, bad]}
    )
    assert response.status_code == 422
    message = error_of(response)["message"]
    assert "row 1" in message and "avg_daily_trips" in message  # type: ignore[operator]
    read = {"features": FEATURES[:1], "entities": {"driver_id": [5151]}}
    statuses = client.post("/get-online-features", json=read).json()["results"][1]["statuses"]
    assert statuses == ["NOT_FOUND"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"feature_view": "nope", "rows": []}, 404, "not_found"),
        ({"feature_view": "driver_hourly_stats", "rows": [], "to": "offline"}, 422, None),
        ({"feature_view": "driver_hourly_stats", "rows": [{"driver_id": 1}]}, 422, None),
        ({"feature_view": "driver_hourly_stats"}, 422, "invalid_request"),
        ({"rows": []}, 422, "invalid_request"),
    ],
)
def test_push_errors(client: Client, body: dict[str, object], status: int, code: str) -> None:
    response = client.post("/push", json=body)
    assert response.status_code == status
    if code:
        assert error_of(response)["code"] == code


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"", 400, "invalid_json"),
        (b"[1, 2]", 422, "invalid_request"),
        (
            b'{"features": ["driver_hourly_stats:nope"], "entities": {"driver_id": [1]}}',
            404,
            "not_found",
        ),
        (b'{"features": ["nope:conv_rate"], "entities": {"driver_id": [1]}}', 404, "not_found"),
        (b'{"feature_service": "nope", "entities": {"driver_id": [1]}}', 404, "not_found"),
        (
            b'{"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1, 2], '
            b'"customer_id": [1]}}',
            422,
            "invalid_request",
        ),
        (
            b'{"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": ["x"]}}',
            422,
            "schema_error",
        ),
        (
            b'{"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [null]}}',
            422,
            "schema_error",
        ),
        (
            b'{"features": ["driver_hourly_stats:conv_rate"], "entities": {"customer_id": [1]}}',
            422,
            "schema_error",
        ),
        (
            b'{"features": ["driver_hourly_stats:conv_rate"], "feature_service": "x", '
            b'"entities": {"driver_id": [1]}}',
            422,
            "invalid_request",
        ),
        (
            b'{"features": "driver_hourly_stats:conv_rate", "entities": {"driver_id": [1]}}',
            422,
            "invalid_request",
        ),
        (b'{"features": ["conv_rate"], "entities": {"driver_id": [1]}}', 422, None),
        (b'{"features": ["driver_hourly_stats:conv_rate"]}', 422, "invalid_request"),
        (
            b'{"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": 1}}',
            422,
            "invalid_request",
        ),
        (
            b'{"feature": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1]}}',
            422,
            "invalid_request",
        ),
    ],
)
def test_bad_bodies(client: Client, body: bytes, status: int, code: str | None) -> None:
    response = client.post("/get-online-features", content=body)
    assert response.status_code == status, response.text
    error = error_of(response)
    if code:
        assert error["code"] == code


def test_unknown_feature_lists_closest_names(client: Client) -> None:
    body = {"features": ["driver_hourly_stats:conv_rat"], "entities": {"driver_id": [1]}}
    error = error_of(client.post("/get-online-features", json=body))
    assert error["details"]["closest"][0] == "conv_rate"  # type: ignore[index]


def test_unknown_path_and_method(client: Client) -> None:
    assert error_of(client.get("/nope"))["code"] == "not_found"
    response = client.get("/get-online-features")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


@pytest.mark.parametrize(
    "path",
    [
        "/health",
        "/ready",
        "/metrics",
        "/openapi.json",
        "/docs",
        "/catalog",
        "/catalog/feature-views/driver_hourly_stats",
        "/catalog/feature-views/driver_hourly_stats/history",
    ],
)
def test_head_is_answered_like_get_without_a_body(client: Client, path: str) -> None:
    # RFC 9110 section 9.3.2: every GET resource takes HEAD (it was a 405)
    get = client.get(path)
    head = client.request("HEAD", path)
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    if path not in ("/metrics", "/ready"):  # their bodies change from one call to the next
        assert head.headers["content-length"] == str(len(get.content))


def test_head_gets_the_status_and_headers_of_get(client: Client) -> None:
    for path, status in (("/nope", 404), ("/catalog/entities/nope", 404), ("/push", 405)):
        head = client.request("HEAD", path)
        assert head.status_code == status and head.content == b"", path
        assert int(head.headers["content-length"]) == len(client.get(path).content), path
    assert client.request("HEAD", "/push").headers["allow"] == "POST"
    assert client.post("/health").headers["allow"] == "GET, HEAD"


def test_store_unavailable_is_503(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    # A backend outage cannot be caused for real with SQLite: this one fault is simulated.
    def down(*args: object) -> None:
        raise StoreUnavailableError("online store down")

    monkeypatch.setattr(client.app.state.store.online, "read", down)
    body = {"features": FEATURES, "entities": {"driver_id": [1001]}}
    response = client.post("/get-online-features", json=body)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert error_of(response)["code"] == "store_unavailable"
    assert client.get("/ready").status_code == 503


def test_unexpected_error_is_a_bare_500(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(client.app.state.store.online, "read", broken)
    body = {"features": FEATURES, "entities": {"driver_id": [1001]}}
    response = client.post("/get-online-features", json=body)
    assert response.status_code == 500
    assert "secret" not in response.text


def test_ready_before_start_is_503(repo: Path) -> None:
    c = Client(create_app(repo))  # never started: the registry was not loaded
    try:
        response = c.get("/ready")
        assert response.status_code == 503
        assert "registry" in error_of(response)["details"]["problems"]  # type: ignore[index]
        assert c.get("/health").status_code == 200
    finally:
        c.close()
        c.app.state.store.close()


# --- limits -------------------------------------------------------------------------------


def test_size_limits(repo: Path) -> None:
    c = start(repo, {"max_body_bytes": 2048, "max_entities": 5})
    try:
        body = {"features": FEATURES, "entities": {"driver_id": list(range(6))}}
        response = c.post("/get-online-features", json=body)
        assert response.status_code == 413
        assert error_of(response)["code"] == "too_many_entities"
        big = {"features": FEATURES, "entities": {"driver_id": [1] * 2000}}
        response = c.post("/get-online-features", json=big)
        assert response.status_code == 413
        assert error_of(response)["details"] == {"limit": 2048}
        rows = [{"driver_id": 1}] * 6
        response = c.post("/push", json={"feature_view": "driver_hourly_stats", "rows": rows})
        assert response.status_code == 413
    finally:
        c.close()
        c.app.shutdown()


# --- auth ---------------------------------------------------------------------------------


@pytest.fixture
def secured(repo: Path) -> Client:
    c = start(repo, tokens())
    yield c  # type: ignore[misc]
    c.close()
    c.app.shutdown()


def test_auth_statuses(secured: Client) -> None:
    body = {"features": FEATURES, "entities": {"driver_id": [1001]}}
    service = {"feature_service": "driver_activity_v1", "entities": {"driver_id": [1001]}}
    missing = secured.post("/get-online-features", json=body)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = secured.post("/get-online-features", json=body, headers=bearer("x" * 22))
    assert wrong.status_code == 401
    basic = secured.post("/get-online-features", json=body, headers={"Authorization": "Basic x"})
    assert basic.status_code == 401
    assert secured.post("/get-online-features", json=body, headers=bearer(READER)).is_success
    # a model's token reads its service only
    assert secured.post("/get-online-features", json=service, headers=bearer(MODEL)).is_success
    assert secured.post("/get-online-features", json=body, headers=bearer(MODEL)).status_code == 403
    assert secured.get("/catalog", headers=bearer(MODEL)).status_code == 403
    assert secured.get("/metrics", headers=bearer(MODEL)).status_code == 403
    # a token of another project reads nothing here
    other = secured.post("/get-online-features", json=body, headers=bearer(OTHER_PROJECT))
    assert other.status_code == 403
    # pushing needs push: true
    push = {"feature_view": "driver_hourly_stats", "rows": []}
    assert secured.post("/push", json=push, headers=bearer(READER)).status_code == 403
    assert secured.post("/push", json=push, headers=bearer(ADMIN)).is_success
    # probes and the API description stay open
    for path in ("/health", "/ready", "/openapi.json", "/docs"):
        assert secured.get(path).status_code == 200
        assert secured.request("HEAD", path).status_code == 200
    assert secured.get("/catalog").status_code == 401
    head = secured.request("HEAD", "/catalog")
    assert head.status_code == 401 and head.headers["www-authenticate"].startswith("Bearer")
    assert secured.request("HEAD", "/catalog", headers=bearer(READER)).status_code == 200


def test_ready_reads_the_store_at_most_once_a_second(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    online = client.app.state.store.online
    reads = []
    real = online.read

    def counted(*args: Any) -> Any:
        reads.append(args)
        return real(*args)

    monkeypatch.setattr(online, "read", counted)
    for _ in range(5):  # an open probe: a flood of them must not become a flood of reads
        assert client.get("/ready").status_code == 200
    assert len(reads) <= 1


def test_probes_during_a_slow_check_share_it(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each probe that came while a check was running started one more: with a store slow
    to answer, a flood of probes held every worker thread of the server."""
    import threading

    from pitstore.server import state as state_module

    ready = client.app.state
    assert ready.readiness() == {}  # a first result to answer with
    monkeypatch.setattr(state_module, "READY_CHECK_SECONDS", 0.0)  # every probe wants a check
    online = ready.store.online
    reads = []
    real = online.read

    def slow(*args: Any) -> Any:
        reads.append(args)
        time.sleep(0.5)
        return real(*args)

    monkeypatch.setattr(online, "read", slow)
    answers: list[dict[str, str]] = []
    probes = [threading.Thread(target=lambda: answers.append(ready.readiness())) for _ in range(8)]
    began = time.monotonic()
    for probe in probes:
        probe.start()
    for probe in probes:
        probe.join(10)
    assert answers == [{}] * 8 and len(reads) == 1
    assert time.monotonic() - began < 2  # eight checks one after another took 4 s


def test_ready_says_what_is_down_but_not_why_when_auth_is_on(
    secured: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def down(*args: object) -> None:
        raise StoreUnavailableError("the store at 10.1.2.3:6390/13 is down")

    monkeypatch.setattr(secured.app.state.store.online, "read", down)
    response = secured.get("/ready")
    assert response.status_code == 503
    problems = error_of(response)["details"]["problems"]  # type: ignore[index]
    assert list(problems) == ["online_store"]
    assert "10.1.2.3" not in response.text and "StoreUnavailableError" not in response.text
    assert "10.1.2.3:6390/13 is down" in caplog.text  # the operator's log has it


# --- CORS ---------------------------------------------------------------------------------


def test_cors_off_by_default(client: Client) -> None:
    response = client.get("/health", headers={"Origin": "https://ui.example.com"})
    assert "access-control-allow-origin" not in response.headers
    assert client.request("OPTIONS", "/health").status_code == 405


def test_cors_on(repo: Path) -> None:
    c = start(repo, {"cors_origins": ["https://ui.example.com"]})
    try:
        ok = c.get("/health", headers={"Origin": "https://ui.example.com"})
        assert ok.headers["access-control-allow-origin"] == "https://ui.example.com"
        other = c.get("/health", headers={"Origin": "https://evil.example.com"})
        assert "access-control-allow-origin" not in other.headers
        for response in (ok, other, c.get("/health")):  # caches must key on the origin
            assert response.headers["vary"] == "origin"
        pre = c.request("OPTIONS", "/catalog", headers={"Origin": "https://ui.example.com"})
        assert pre.status_code == 204
        assert "authorization" in pre.headers["access-control-allow-headers"]
    finally:
        c.close()
        c.app.shutdown()


# --- catalog, metrics, docs ---------------------------------------------------------------


def test_catalog(client: Client) -> None:
    summary = client.get("/catalog").json()
    assert summary["project"] == "demo"
    assert summary["counts"]["feature-views"] == 2
    views = client.get("/catalog/feature-views").json()["items"]
    driver = next(v for v in views if v["name"] == "driver_hourly_stats")
    assert driver["owner"] == "ml-platform@example.com"
    assert driver["tags"] == {"team": "drivers"}
    assert driver["version"] == 1
    one = client.get("/catalog/feature-views/driver_hourly_stats").json()
    assert "feature_service:driver_activity" in one["downstream"]
    assert "source:driver_stats" in one["upstream"]
    features = client.get("/catalog/features").json()["items"]
    conv = next(f for f in features if f["ref"] == "driver_hourly_stats:conv_rate")
    assert conv["dtype"] == "float32" and conv["description"]
    assert client.get("/catalog/entities").json()["items"][0]["kind"] == "entity"
    services = client.get("/catalog/feature-services").json()["items"]
    assert {s["name"] for s in services} == {"driver_activity", "driver_activity_v1"}
    history = client.get("/catalog/feature-views/driver_hourly_stats/history").json()
    assert history["items"][0]["action"] == "added"
    lineage = client.get("/catalog/lineage").json()
    assert ["entity:driver", "feature_view:driver_hourly_stats"] in lineage["edges"]
    for path in ("/catalog/nope", "/catalog/entities/nope", "/catalog/entities/nope/history"):
        assert client.get(path).status_code == 404, path


def test_metrics(client: Client) -> None:
    body = {"feature_service": "driver_activity_v1", "entities": {"driver_id": [1001]}}
    client.post("/get-online-features", json=body)
    client.post("/get-online-features", content=b"{")
    text = client.get("/metrics").text
    assert 'pitstore_http_requests_total{endpoint="get-online-features",status="200"}' in text
    assert (
        'pitstore_online_request_duration_seconds_count{feature_service="driver_activity_v1"}'
        in text
    )
    assert 'pitstore_http_errors_total{code="invalid_json"}' in text
    assert 'pitstore_store_duration_seconds_count{operation="read"}' in text
    assert "pitstore_registry_refresh_age_seconds" in text


def test_openapi_and_docs(client: Client) -> None:
    document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert "/get-online-features" in document["paths"]
    page = client.get("/docs")
    assert page.headers["content-type"].startswith("text/html")
    assert "/get-online-features" in page.text and "<script" not in page.text


# --- registry cache -----------------------------------------------------------------------


def test_warm_requests_do_no_registry_io(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    body = {"features": FEATURES, "entities": {"driver_id": [1001]}}
    assert client.post("/get-online-features", json=body).is_success

    def no_io(*args: object) -> None:
        raise AssertionError("registry I/O on the request path")

    registry = client.app.state.store.registry
    monkeypatch.setattr(registry, "revision", no_io)
    monkeypatch.setattr(registry, "list_objects", no_io)
    for _ in range(3):
        assert client.post("/get-online-features", json=body).is_success
    assert client.get("/catalog/features").is_success


def test_registry_refreshed_in_background(tmp_path: Path) -> None:
    from conftest import make_repo

    repo = make_repo(tmp_path / "repo")
    c = start(repo, {"registry_refresh_seconds": 0.05})
    try:
        assert c.get("/catalog/feature-services/extra").status_code == 404
        with (repo / "features.py").open("a") as f:
            f.write('\nextra = FeatureService("extra", features=[customer_stats])\n')
        from pitstore import FeatureStore

        with FeatureStore(repo) as store:
            store.apply()
        import time

        deadline = time.monotonic() + 5
        while c.get("/catalog/feature-services/extra").status_code != 200:
            assert time.monotonic() < deadline, "the refresher did not pick up the change"
            time.sleep(0.05)
        body = {"feature_service": "extra", "entities": {"customer_id": [1]}}
        assert c.post("/get-online-features", json=body).is_success
    finally:
        c.close()
        c.app.shutdown()


def test_reads_offloaded_to_threads_give_the_same_answer(repo: Path, client: Client) -> None:
    body = {"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1001, 9]}}
    threaded = start(repo, {"offload_reads": True})
    try:
        assert threaded.app.state.offload_reads and not client.app.state.offload_reads
        inline = client.post("/get-online-features", json=body)
        offloaded = threaded.post("/get-online-features", json=body)
        assert inline.status_code == offloaded.status_code == 200
        assert inline.json() == offloaded.json()
    finally:
        threaded.close()
        threaded.app.shutdown()
