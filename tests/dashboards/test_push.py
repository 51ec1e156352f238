"""`ews dashboards push` against a local HTTP server standing in for Grafana (no Grafana server
runs here): it checks the requests grafana-client really sends (token, paths, bodies) and answers
as Grafana's HTTP API does, including 404s for what does not exist yet."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from dashboards.build import DEFAULT_CONFIG, build_dashboards
from dashboards.model import MANAGED_TAG
from dashboards.push import PushError, push_dashboards
from hub.cli import main
from hub.config import load_config

TOKEN = "glsa_test_token"


class FakeGrafana:
    """The dashboards and folders a Grafana holds, and every request it was sent."""

    def __init__(self) -> None:
        self.dashboards: dict[str, dict[str, Any]] = {}
        self.folders: dict[str, str] = {}
        self.requests: list[tuple[str, str, Any]] = []


def _handler(grafana: FakeGrafana) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _answer(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorised(self) -> bool:
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._answer(401, {"message": "Unauthorized"})
                return False
            return True

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            grafana.requests.append(("GET", self.path, None))
            if not self._authorised():
                return
            if self.path.startswith("/api/dashboards/uid/"):
                uid = self.path.rsplit("/", 1)[1]
                if uid in grafana.dashboards:
                    self._answer(200, {"dashboard": grafana.dashboards[uid], "meta": {"folderUid": "x"}})
                else:
                    self._answer(404, {"message": "Dashboard not found"})
            elif self.path.startswith("/api/folders/"):
                uid = self.path.rsplit("/", 1)[1]
                if uid in grafana.folders:
                    self._answer(200, {"uid": uid, "title": grafana.folders[uid]})
                else:
                    self._answer(404, {"message": "folder not found"})
            else:
                self._answer(404, {"message": "Not found"})

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            grafana.requests.append(("POST", self.path, body))
            if not self._authorised():
                return
            assert self.headers.get("Content-Type", "").startswith("application/json")
            if self.path == "/api/folders":
                grafana.folders[body["uid"]] = body["title"]
                self._answer(200, {"uid": body["uid"], "title": body["title"]})
            elif self.path == "/api/dashboards/db":
                dashboard = body["dashboard"]
                assert body["overwrite"] is True and body["folderUid"] in grafana.folders
                assert "id" not in dashboard
                grafana.dashboards[dashboard["uid"]] = dashboard
                self._answer(200, {"status": "success", "uid": dashboard["uid"],
                                   "url": f"/d/{dashboard['uid']}/x", "version": 1})
            else:
                self._answer(404, {"message": "Not found"})

    return Handler


@pytest.fixture
def grafana() -> Iterator[tuple[FakeGrafana, str]]:
    state = FakeGrafana()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


DASHBOARDS = [dashboard.to_json() for dashboard in build_dashboards(load_config(DEFAULT_CONFIG))]


def test_push_creates_the_folder_and_every_dashboard(grafana: tuple[FakeGrafana, str]) -> None:
    state, url = grafana
    results = push_dashboards(DASHBOARDS, url, TOKEN)
    assert [(r.uid, r.action) for r in results] == [(d["uid"], "created") for d in DASHBOARDS]
    assert state.folders == {"ews": "Early warning"}
    assert state.dashboards == {d["uid"]: {k: v for k, v in d.items() if k != "version"} for d in DASHBOARDS}
    # every uid is checked before anything is written
    first_write = next(i for i, r in enumerate(state.requests) if r[0] == "POST")
    checked = {path.rsplit("/", 1)[1] for method, path, _ in state.requests[:first_write]
               if path.startswith("/api/dashboards/uid/")}
    assert checked == {d["uid"] for d in DASHBOARDS}


def test_push_overwrites_its_own_earlier_versions(grafana: tuple[FakeGrafana, str]) -> None:
    state, url = grafana
    state.folders["ews"] = "Early warning"
    state.dashboards[DASHBOARDS[0]["uid"]] = {"uid": DASHBOARDS[0]["uid"], "title": "old", "tags": [MANAGED_TAG]}
    results = push_dashboards(DASHBOARDS, url, TOKEN)
    assert results[0].action == "updated" and state.dashboards[DASHBOARDS[0]["uid"]]["title"] == DASHBOARDS[0]["title"]
    assert not any(path == "/api/folders" for _, path, _ in state.requests)


def test_push_refuses_to_overwrite_a_dashboard_it_did_not_make(grafana: tuple[FakeGrafana, str]) -> None:
    state, url = grafana
    hand_made = {"uid": DASHBOARDS[1]["uid"], "title": "Made by hand", "tags": ["mine"]}
    state.dashboards[hand_made["uid"]] = hand_made
    with pytest.raises(PushError, match="without the tag"):
        push_dashboards(DASHBOARDS, url, TOKEN)
    assert state.dashboards == {hand_made["uid"]: hand_made}
    assert not [r for r in state.requests if r[0] == "POST"]


def test_push_reports_a_wrong_token(grafana: tuple[FakeGrafana, str]) -> None:
    _, url = grafana
    with pytest.raises(PushError, match="refused"):
        push_dashboards(DASHBOARDS, url, "wrong")


def test_ews_dashboards_push_takes_the_token_from_the_environment(
    grafana: tuple[FakeGrafana, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    state, url = grafana
    monkeypatch.delenv("EWS_GRAFANA_TOKEN", raising=False)
    assert main(["dashboards", "push", "--url", url]) == 2
    assert "EWS_GRAFANA_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("EWS_GRAFANA_TOKEN", TOKEN)
    assert main(["dashboards", "push", "--url", url]) == 0
    assert len(state.dashboards) == len(DASHBOARDS)
    assert "created ews-hazard" in capsys.readouterr().out
