"""Schemathesis against the published OpenAPI schema: generated input (valid and invalid) to every
operation, logged in as admin with the CSRF token, never gets a 5xx."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from hub.console.api import CSRF_HEADER
from tests.console.helpers import PASSWORD, ConsoleServer

# Never-ending stream; and logging out would end the session the other cases use.
STATUSES: list[tuple[str, str, int]] = []
SKIPPED = {("GET", "/api/events"), ("POST", "/api/logout")}


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    server = ConsoleServer(tmp_path_factory.mktemp("console")).start()
    server.reading("tundzha-1", 350.0, time.time_ns() // 1_000_000)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def login(console: ConsoleServer) -> tuple[dict[str, str], dict[str, str]]:
    with httpx.Client(base_url=console.url) as client:
        response = client.post("/api/login", json={"name": "admin", "password": PASSWORD})
        response.raise_for_status()
        return dict(client.cookies), {CSRF_HEADER: response.json()["csrf_token"]}


def test_no_generated_request_gets_a_server_error(console: ConsoleServer, login) -> None:
    cookies, headers = login
    schema = schemathesis.openapi.from_url(f"{console.url}/api/openapi.json")
    tried = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue
        tried.append(f"{operation.method.upper()} {operation.path}")

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case) -> None:
            # Sent with httpx: schemathesis' own requests transport breaks on this urllib3.
            kwargs = case.as_transport_kwargs(base_url=console.url, headers=headers)
            body = {key: kwargs[key] for key in ("json", "data", "content") if kwargs.get(key) is not None}
            with httpx.Client(cookies=cookies, timeout=10) as client:
                response = client.request(kwargs["method"], kwargs["url"], params=kwargs.get("params"),
                                          headers=kwargs.get("headers"), **body)
            STATUSES.append((case.method, case.path, response.status_code))
            assert response.status_code < 500, \
                f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"

        run()
    assert len(tried) >= 10, tried
    # The fuzzing went past the login: logged-in answers (2xx) on the reading routes.
    assert {path for method, path, status in STATUSES if status == 200} >= {"/api/alarms", "/api/sensors", "/api/audit"}
