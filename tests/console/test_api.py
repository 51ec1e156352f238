"""The console's HTTP API over a real socket: every route with the role it needs and the
refusals (no session, wrong role, missing CSRF token, bad input → a clear 4xx, never a 500);
acknowledging an alarm changes it in the alarm database and the audit trails; sessions expire;
failed logins are rate-limited; passwords are stored as argon2 hashes."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hub.console.auth import LoginLimiter, Sessions
from hub.console.users import User, UserError, UserStore
from tests.console.helpers import PASSWORD, ConsoleServer

NOW_MS = time.time_ns() // 1_000_000


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ConsoleServer]:
    console = ConsoleServer(tmp_path).start()
    yield console
    console.stop()


def raise_red(server: ConsoleServer) -> int:
    events = server.reading("tundzha-1", 350.0, NOW_MS)
    assert events and events[-1].alarm.level == "red"
    return events[-1].alarm.id


READ_ROUTES = ["/api/session", "/api/alarms", "/api/alarms/1", "/api/silences", "/api/sensors", "/api/map",
               "/metrics"]


@pytest.mark.parametrize("path", READ_ROUTES + ["/api/audit", "/api/events", "/api/subscribers"])
def test_every_route_but_health_needs_a_session(server: ConsoleServer, path: str) -> None:
    raise_red(server)
    with server.client() as client:
        assert client.get(path).status_code == 401
        assert client.get("/health").status_code == 200
    with httpx.Client(base_url=server.url, cookies={"ews_session": "forged"}) as forged:
        assert forged.get(path).status_code == 401


@pytest.mark.parametrize("method, path, body", [
    ("POST", "/api/alarms/1/acknowledge", {"comment": "x"}),
    ("POST", "/api/silences", {"matcher": "sensor", "value": "tundzha-1", "duration_min": 5, "comment": "x"}),
    ("DELETE", "/api/silences/1", None),
    ("POST", "/api/logout", None),
    ("POST", "/api/subscribers", {"phone": "0888123456", "areas": ["centre"]}),
    ("DELETE", "/api/subscribers/+359888123456", None),
    ("POST", "/api/subscribers/+359888123456/opt-out", None),
])
def test_changes_need_a_session(server: ConsoleServer, method: str, path: str, body: dict | None) -> None:
    with server.client() as client:
        assert client.request(method, path, json=body).status_code == 401


def test_viewer_reads_but_may_not_act(server: ConsoleServer) -> None:
    alarm_id = raise_red(server)
    with server.client("viewer") as viewer:
        for path in READ_ROUTES:
            assert viewer.get(path).status_code == 200, path
        assert viewer.get("/api/audit").status_code == 403
        response = viewer.post(f"/api/alarms/{alarm_id}/acknowledge", json={"comment": "seen"})
        assert response.status_code == 403 and "operator" in response.json()["detail"]
        assert viewer.post("/api/silences", json={"matcher": "area", "value": "centre", "duration_min": 5,
                                                  "comment": "x"}).status_code == 403
    assert server.store.alarm(alarm_id).state == "active"


def test_operator_acknowledges_and_the_database_and_audit_say_who(server: ConsoleServer) -> None:
    alarm_id = raise_red(server)
    with server.client("operator") as operator:
        listed = operator.get("/api/alarms").json()
        assert [(a["id"], a["level"], a["state"]) for a in listed] == [(alarm_id, "red", "active")]
        response = operator.post(f"/api/alarms/{alarm_id}/acknowledge", json={"comment": "екип изпратен"})
        assert response.status_code == 200
        assert response.json()["state"] == "acknowledged" and response.json()["acknowledged_by"] == "operator"
        again = operator.post(f"/api/alarms/{alarm_id}/acknowledge", json={"comment": "again"})
        assert again.status_code == 409 and "already acknowledged" in again.json()["detail"]
        detail = operator.get(f"/api/alarms/{alarm_id}").json()
        assert [e["kind"] for e in detail["events"]] == ["raised", "acknowledged"]
        assert detail["events"][1]["actor"] == "operator" and detail["evidence"]["rule"] == "tundzha-level"
    stored = server.store.alarm(alarm_id)
    assert stored.state == "acknowledged" and stored.acknowledged_by == "operator"
    assert stored.acknowledge_comment == "екип изпратен"
    assert server.store.audit_trail()[0]["actor"] == "operator"
    with server.client("admin") as admin:
        trail = admin.get("/api/audit").json()
    actions = [(row["actor"], row["action"]) for row in trail]
    assert ("operator", "acknowledge") in actions and ("operator", "login") in actions
    assert all(row["remote"] == "127.0.0.1" for row in trail)


def test_state_changes_need_the_csrf_token(server: ConsoleServer) -> None:
    alarm_id = raise_red(server)
    with server.client("operator") as operator:
        del operator.headers["X-CSRF-Token"]
        response = operator.post(f"/api/alarms/{alarm_id}/acknowledge", json={"comment": "x"})
        assert response.status_code == 403 and "CSRF" in response.json()["detail"]
        operator.headers["X-CSRF-Token"] = "guessed"
        assert operator.post(f"/api/alarms/{alarm_id}/acknowledge", json={"comment": "x"}).status_code == 403
    assert server.store.alarm(alarm_id).state == "active"


@pytest.mark.parametrize("path, body", [
    ("/api/alarms/1/acknowledge", {}),
    ("/api/alarms/1/acknowledge", {"comment": ""}),
    ("/api/alarms/1/acknowledge", {"comment": "   "}),
    ("/api/alarms/1/acknowledge", {"comment": 5}),
    ("/api/alarms/0/acknowledge", {"comment": "x"}),
    ("/api/alarms/abc/acknowledge", {"comment": "x"}),
    ("/api/alarms/99999999999999999999999/acknowledge", {"comment": "x"}),
    ("/api/silences", {"matcher": "planet", "value": "x", "duration_min": 5, "comment": "x"}),
    ("/api/silences", {"matcher": "sensor", "value": "no-such", "duration_min": 5, "comment": "x"}),
    ("/api/silences", {"matcher": "sensor", "value": "tundzha-1", "duration_min": -1, "comment": "x"}),
    ("/api/silences", {"matcher": "sensor", "value": "tundzha-1", "duration_min": 60 * 24 * 30, "comment": "x"}),
    ("/api/silences", {"matcher": "sensor", "value": "tundzha-1", "duration_min": "NaN", "comment": "x"}),
    ("/api/silences", {"matcher": "sensor", "value": "tundzha-1", "duration_min": 5}),
])
def test_bad_input_is_a_clear_422(server: ConsoleServer, path: str, body: dict) -> None:
    raise_red(server)
    with server.client("operator") as operator:
        response = operator.post(path, json=body)
        assert response.status_code == 422, response.text
        assert response.json()["detail"]
        assert operator.post(path, content=b"{not json", headers={"Content-Type": "application/json"}).status_code == 422


@pytest.mark.parametrize("path", ["/api/alarms?level=purple", "/api/alarms?state=open", "/api/alarms?limit=0",
                                  "/api/alarms/0", "/api/alarms/-3", "/api/audit?limit=100000"])
def test_bad_queries_are_422(server: ConsoleServer, path: str) -> None:
    with server.client("admin") as admin:
        assert admin.get(path).status_code == 422


def test_unknown_alarm_and_silence_are_404(server: ConsoleServer) -> None:
    with server.client("operator") as operator:
        assert operator.get("/api/alarms/42").status_code == 404
        assert operator.post("/api/alarms/42/acknowledge", json={"comment": "x"}).status_code == 404
        assert operator.delete("/api/silences/42").status_code == 404


def test_filters_pick_alarms_by_state_level_area_and_kind(server: ConsoleServer) -> None:
    from hub.types import Condition

    red_id = raise_red(server)
    events = server.condition(Condition("rain-3h", "1", "rain-shipka", "shipka", "yellow", "staff", "rain", NOW_MS))
    rain_id = events[-1].alarm.id
    with server.client("viewer") as viewer:
        def ids(query: str) -> list[int]:
            response = viewer.get(f"/api/alarms?{query}")
            assert response.status_code == 200
            return [a["id"] for a in response.json()]

        assert ids("") == [red_id, rain_id]  # most severe first
        assert ids("level=yellow") == [rain_id]
        assert ids("level=yellow&level=red") == [red_id, rain_id]
        assert ids("area=centre") == [red_id]
        assert ids("kind=rain") == [rain_id]
        assert ids("state=acknowledged") == []
        server.reading("tundzha-1", 100.0, NOW_MS + 1000)
        assert ids("state=cleared") == [red_id]
        assert ids("state=closed") == []


def test_silences_are_created_listed_and_expired(server: ConsoleServer) -> None:
    with server.client("operator") as operator:
        created = operator.post("/api/silences", json={"matcher": "sensor", "value": "tundzha-1", "duration_min": 90,
                                                       "comment": "поддръжка на датчика"})
        assert created.status_code == 201
        silence = created.json()
        assert silence["active"] and silence["created_by"] == "operator"
        assert silence["ends_ms"] - silence["starts_ms"] == 90 * 60_000
        assert [s["id"] for s in operator.get("/api/silences").json()] == [silence["id"]]
        # The silence suppresses notification of an alarm it matches.
        events = server.reading("tundzha-1", 350.0, time.time_ns() // 1_000_000)
        assert events[-1].suppressed_by and not events[-1].notify
        assert operator.delete(f"/api/silences/{silence['id']}").status_code == 204
        assert operator.get("/api/silences").json() == []
        assert operator.delete(f"/api/silences/{silence['id']}").status_code == 404
    actions = [row["action"] for row in server.store.audit_trail()]
    assert actions[:2] == ["unsilence", "silence"]


def test_sensors_show_last_value_last_seen_and_availability(server: ConsoleServer) -> None:
    raise_red(server)
    with server.client("viewer") as viewer:
        sensors = {s["id"]: s for s in viewer.get("/api/sensors").json()}
        site_map = viewer.get("/api/map").json()
    river = sensors["tundzha-1"]
    assert river["availability"] == "online" and river["values"] == {"level_cm": 350.0}
    assert river["last_ts_ms"] == NOW_MS and river["open_alarm_level"] == "red"
    assert abs(river["last_seen_ms"] - time.time() * 1000) < 60_000
    assert sensors["rain-shipka"]["availability"] == "no data" and sensors["rain-shipka"]["last_seen_ms"] is None
    assert site_map["site"] == "Казанлък"
    centre = next(a for a in site_map["areas"] if a["id"] == "centre")
    assert centre["polygon"][0] == [42.63, 25.38] and centre["name_en"] == "Centre"


def test_health_reports_each_part_and_503_when_one_is_down(server: ConsoleServer) -> None:
    with server.client() as client:
        body = client.get("/health").json()
        assert body == {"status": "ok", "checks": {"broker": {"ok": True, "detail": "connected"},
                                                   "influxdb": {"ok": True, "detail": "writing"}}}
        server.healthy = {**server.healthy, "broker": (False, "not connected")}
        response = client.get("/health")
        assert response.status_code == 503 and response.json()["status"] == "degraded"


def test_metrics_are_prometheus_text(server: ConsoleServer) -> None:
    with server.client("viewer") as viewer:
        response = viewer.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert response.text.splitlines() == ['# TYPE ews_alarms_open gauge', 'ews_alarms_open{level="red"} 1.0',
                                          '# TYPE ews_readings_in_total gauge', 'ews_readings_in_total 7.0']


def test_openapi_schema_is_published_with_typed_models(server: ConsoleServer) -> None:
    with server.client() as client:
        schema = client.get("/api/openapi.json").json()
    assert {"/api/alarms", "/api/alarms/{alarm_id}/acknowledge", "/api/silences", "/health"} <= set(schema["paths"])
    assert {"AlarmOut", "AlarmDetail", "SilenceRequest", "SensorOut", "HealthOut"} <= set(schema["components"]["schemas"])


def test_live_events_stream_alarm_changes(server: ConsoleServer) -> None:
    received: list[dict] = []
    connected = threading.Event()

    def listen() -> None:
        with server.client("viewer") as viewer, viewer.stream("GET", "/api/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            for line in stream.iter_lines():
                connected.set()
                if line.startswith("data: "):
                    received.append(json.loads(line[6:]))
                    return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert connected.wait(10)
    alarm_id = raise_red(server)
    thread.join(10)
    assert received and received[0]["kind"] == "raised" and received[0]["alarm"]["id"] == alarm_id


def test_logout_ends_the_session(server: ConsoleServer) -> None:
    with server.client("viewer") as viewer:
        assert viewer.post("/api/logout").status_code == 204
        assert viewer.get("/api/alarms").status_code == 401


def test_failed_logins_are_rate_limited_and_audited(server: ConsoleServer) -> None:
    with server.client() as client:
        for _ in range(3):
            assert client.post("/api/login", json={"name": "operator", "password": "wrong"}).status_code == 401
        refused = client.post("/api/login", json={"name": "operator", "password": PASSWORD})
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        assert client.post("/api/login", json={"name": "", "password": "x"}).status_code == 422
    actions = [row["action"] for row in server.users.audit_trail()]
    assert actions.count("login_failed") == 3 and "login_refused" in actions


def test_sessions_expire() -> None:
    now = [0.0]
    sessions = Sessions(60.0, clock_s=lambda: now[0])
    session = sessions.create(User("a", "viewer"))
    now[0] = 59.9
    assert sessions.get(session.token) == session
    now[0] = 60.0
    assert sessions.get(session.token) is None
    assert sessions.get(None) is None


def test_login_limiter_forgets_after_its_window() -> None:
    now = [0.0]
    limiter = LoginLimiter(2, 10.0, clock_s=lambda: now[0])
    limiter.failed("u")
    now[0] = 1.0
    limiter.failed("u")
    assert limiter.retry_after_s("u", "other") == pytest.approx(9.0)
    now[0] = 10.5
    assert limiter.retry_after_s("u") == 0.0


def test_passwords_are_stored_as_argon2_hashes(tmp_path: Path) -> None:
    store = UserStore(tmp_path / "console.sqlite")
    store.add("ivan", "operator", PASSWORD)
    stored = sqlite3.connect(tmp_path / "console.sqlite").execute("SELECT password_hash FROM user").fetchone()[0]
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert store.verify("ivan", PASSWORD) == User("ivan", "operator")
    assert store.verify("ivan", "wrong") is None and store.verify("nobody", PASSWORD) is None
    with pytest.raises(UserError, match="exists"):
        store.add("ivan", "viewer", PASSWORD)
    with pytest.raises(UserError, match="role"):
        store.add("maria", "root", PASSWORD)
    with pytest.raises(UserError, match="10 characters"):
        store.add("maria", "viewer", "short")


def test_ews_users_add_list_remove(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    import io

    from hub.cli import main
    from tests.console.helpers import SITE

    config = tmp_path / "site.yaml"
    config.write_text(SITE)
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["users", "add", "ivan", "--role", "operator", "--password-stdin", "-c", str(config),
                 "--data-dir", str(tmp_path / "data")]) == 0
    assert main(["users", "list", "-c", str(config), "--data-dir", str(tmp_path / "data")]) == 0
    assert "ivan" in capsys.readouterr().out
    store = UserStore(tmp_path / "data" / "console.sqlite")
    assert store.verify("ivan", PASSWORD) == User("ivan", "operator")
    assert main(["users", "remove", "ivan", "-c", str(config), "--data-dir", str(tmp_path / "data")]) == 0
    assert store.list() == []
    assert [row["action"] for row in store.audit_trail()] == ["user_remove", "user_add"]


def test_health_route_never_needs_a_login_and_page_is_served(server: ConsoleServer) -> None:
    with server.client() as client:
        page = client.get("/console/")
        assert page.status_code == 200 and "console.js" in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert client.get("/console/static/console.js").status_code == 200
        assert client.get("/", follow_redirects=False).status_code == 307
        assert client.get("/no/such/thing").status_code == 404
        assert isinstance(client, httpx.Client)


def test_admin_manages_subscribers_and_others_may_not(server: ConsoleServer) -> None:
    from hub.notify.outbox import OutgoingMessage

    with server.client("operator") as operator:
        assert operator.get("/api/subscribers").status_code == 403
        assert operator.post("/api/subscribers", json={"phone": "0888123456", "areas": ["centre"]}).status_code == 403
    with server.client("admin") as admin:
        added = admin.post("/api/subscribers", json={"phone": "0888 123 456", "areas": ["centre"], "language": "en"})
        assert added.status_code == 201 and added.json()["phone"] == "+359888123456"
        assert added.json()["opt_source"] == "console:admin"
        for bad in ({"phone": "12", "areas": ["centre"]}, {"phone": "0888123456", "areas": ["mars"]},
                    {"phone": "0888123456", "areas": []}, {"phone": "0888123456", "areas": ["centre"], "language": "de"},
                    {"phone": "not a number at all", "areas": ["centre"]}):
            response = admin.post("/api/subscribers", json=bad)
            assert response.status_code == 422, (bad, response.text)
        assert [s["phone"] for s in admin.get("/api/subscribers?area=centre").json()] == ["+359888123456"]
        assert admin.get("/api/subscribers?area=shipka").json() == []
        server.outbox.enqueue(1, NOW_MS, 1, "tundzha-level", "raised", [OutgoingMessage(
            "1:+359888123456", 1, 1, "tundzha-level", "centre", "warning", "+359888123456", "en", "RED", 1)], NOW_MS)
        opted = admin.post("/api/subscribers/+359888123456/opt-out")
        assert opted.status_code == 200 and opted.json()["opted_in"] is False
        assert [m.state for m in server.outbox.messages()] == ["skipped"]
        assert admin.delete("/api/subscribers/%2B359888123456").status_code == 204
        assert admin.delete("/api/subscribers/+359888123456").status_code == 404
        assert admin.post("/api/subscribers/+359888000000/opt-out").status_code == 404
        assert admin.get("/api/subscribers").json() == []
        actions = [row["action"] for row in admin.get("/api/audit").json()]
    assert actions[:3] == ["subscriber_remove", "subscriber_opt_out", "subscriber_add"]


def test_prometheus_reads_metrics_with_the_scrape_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hub.config import parse_config
    from tests.console.helpers import SITE

    monkeypatch.setenv("EWS_TEST_METRICS_TOKEN", "scrape-me")
    config = parse_config(SITE.replace("http: {", "http: {metrics_token_env: EWS_TEST_METRICS_TOKEN, "))
    server = ConsoleServer(tmp_path, config).start()
    try:
        with server.client() as client:
            assert client.get("/metrics", headers={"Authorization": "Bearer scrape-me"}).status_code == 200
            assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
            assert client.get("/metrics").status_code == 401
            assert client.get("/api/alarms", headers={"Authorization": "Bearer scrape-me"}).status_code == 401
    finally:
        server.stop()
