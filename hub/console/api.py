"""The console's HTTP API and page, as a FastAPI app (typed request and response models, OpenAPI
schema at `/api/openapi.json`). Every route but `/health` needs a logged-in user; reading needs
the viewer role, acknowledging and silencing the operator role, the audit trail the admin role.
State-changing requests carry the session's CSRF token in `X-CSRF-Token`. Every action lands in
the console's audit trail with who, when and from where.

The app runs on the hub's event loop (uvicorn inside it), so a handler may call the alarm
manager directly: that is the loop the manager lives on."""


import asyncio
import secrets
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi import Path as ApiPath
from fastapi.responses import FileResponse, PlainTextResponse, RedirectResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from hub.alarm_stage import AlarmStage
from hub.alarms import Alarm, AlarmError, AlarmStore
from hub.config import Area, Sensor
from hub.configbase import read_secret
from hub.console.auth import LoginLimiter, Session, Sessions
from hub.console.config import HttpConfig
from hub.console.live import EventFeed, LatestReadings
from hub.console.users import Role, UserStore, role_allows
from hub.notify.outbox import Outbox
from hub.notify.subscribers import InvalidPhoneError, Subscriber, SubscriberError, SubscriberStore

logger = logging.getLogger(__name__)

COOKIE = "ews_session"
CSRF_HEADER = "X-CSRF-Token"
STATIC = Path(__file__).parent / "static"
KEEPALIVE_S = 15.0

Level = Literal["info", "yellow", "orange", "red"]
State = Literal["active", "acknowledged", "cleared", "closed"]


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


# -- models ----------------------------------------------------------------------------------


class LoginRequest(BaseModel):
    name: str = Field(min_length=1, max_length=64, description="User name.")
    password: str = Field(min_length=1, max_length=1024, description="Password.")


class SessionInfo(BaseModel):
    name: str
    role: Role
    csrf_token: str = Field(description=f"Send back in the {CSRF_HEADER} header of state-changing requests.")


class AlarmOut(BaseModel):
    id: int
    rule: str
    subject: str
    area: str
    hazard: str
    audience: str
    level: Level
    state: State
    opened_ms: int
    updated_ms: int
    inhibited: bool
    flapping: bool
    acknowledged_by: str | None
    acknowledged_ms: int | None
    acknowledge_comment: str | None
    cleared_ms: int | None


class AlarmEventOut(BaseModel):
    seq: int
    kind: str
    ts_ms: int
    level: Level
    state: State
    actor: str | None = None
    comment: str | None = None


class AlarmDetail(AlarmOut):
    evidence: dict[str, Any]
    events: list[AlarmEventOut]


class AcknowledgeRequest(BaseModel):
    comment: str = Field(min_length=1, max_length=1000, pattern=r"\S", description="What is being done.")


class SilenceRequest(BaseModel):
    matcher: Literal["sensor", "area", "rule"] = Field(description="What the silence matches.")
    value: str = Field(min_length=1, max_length=128, description="The sensor, area or rule id.")
    duration_min: float = Field(gt=0, le=60 * 24 * 31, description="How long, in minutes, from now.")
    comment: str = Field(min_length=1, max_length=1000, pattern=r"\S", description="Why (e.g. gauge maintenance).")


class SilenceOut(BaseModel):
    id: int
    matcher: str
    value: str
    starts_ms: int
    ends_ms: int
    created_by: str
    comment: str
    active: bool


class SensorOut(BaseModel):
    id: str
    kind: str
    area: str
    lat: float
    lon: float
    availability: Literal["online", "offline", "no data"]
    last_seen_ms: int | None
    last_ts_ms: int | None
    values: dict[str, float]
    quality: str | None
    open_alarm_level: Level | None


class AreaOut(BaseModel):
    id: str
    name: str
    name_en: str | None
    centre: tuple[float, float] | None
    polygon: list[tuple[float, float]] | None


class MapOut(BaseModel):
    site: str
    areas: list[AreaOut]
    sensors: list[SensorOut]


class AuditEntry(BaseModel):
    ts_ms: int
    actor: str
    action: str
    detail: dict[str, Any]
    remote: str


class SubscriberOut(BaseModel):
    phone: str
    areas: list[str]
    hazards: list[str]
    language: Literal["bg", "en"]
    opted_in: bool
    opt_changed_ms: int
    opt_source: str
    undeliverable: str | None


class SubscriberRequest(BaseModel):
    phone: str = Field(min_length=3, max_length=32, description="Mobile number; national Bulgarian form or E.164.")
    areas: list[str] = Field(min_length=1, max_length=50, description="Area ids whose warnings this person gets.")
    hazards: list[str] = Field(default_factory=list, max_length=20, description="Hazards; empty = all.")
    language: Literal["bg", "en"] = Field("bg", description="Language of the messages.")


class Check(BaseModel):
    ok: bool
    detail: str


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    checks: dict[str, Check]


# -- the app ---------------------------------------------------------------------------------


@dataclass
class ConsoleDeps:
    """What the console reads and acts on; built by `hub.console.wiring`."""

    http: HttpConfig
    site_name: str
    areas: Sequence[Area]
    sensors: Sequence[Sensor]
    users: UserStore
    latest: LatestReadings
    feed: EventFeed
    health: Callable[[], Mapping[str, tuple[bool, str]]]
    metrics: Callable[[], Mapping[str, float]]
    offline: Callable[[], set[str]] = field(default=set)
    stage: AlarmStage | None = None
    store: AlarmStore | None = None
    subscribers: SubscriberStore | None = None
    outbox: Outbox | None = None
    rule_ids: frozenset[str] = frozenset()
    clock_ms: Callable[[], int] = _wall_ms
    silent_after_s: float = 600.0


def _alarm_out(alarm: Alarm) -> AlarmOut:
    return AlarmOut(**{name: getattr(alarm, name) for name in AlarmOut.model_fields})


def build_app(deps: ConsoleDeps) -> FastAPI:
    """The console's ASGI app."""
    sessions = Sessions(deps.http.session_ttl_s)
    limiter = LoginLimiter(deps.http.login_attempts, deps.http.login_window_s)
    # No Swagger page: it loads its scripts from a CDN, which a control room without internet lacks.
    app = FastAPI(title="EWS hub console API", version="1", openapi_url="/api/openapi.json", docs_url=None,
                  redoc_url=None)
    metrics_token = read_secret(deps.http.metrics_token_env, "http.metrics_token_env")
    app.state.sessions = sessions
    sensor_ids = {s.id for s in deps.sensors}
    area_ids = {a.id for a in deps.areas}

    def remote(request: Request) -> str:
        return request.client.host if request.client else "?"

    def audit(session_or_name: Session | str, action: str, detail: dict[str, Any], request: Request) -> None:
        actor = session_or_name if isinstance(session_or_name, str) else session_or_name.user.name
        deps.users.audit(deps.clock_ms(), actor, action, detail, remote(request))

    def session(request: Request) -> Session:
        found = sessions.get(request.cookies.get(COOKIE))
        if found is None:
            raise HTTPException(401, "log in first")
        return found

    def role(needed: Role, *, changes: bool = False) -> Callable[..., Session]:
        def check(request: Request, current: Annotated[Session, Depends(session)]) -> Session:
            if not role_allows(current.user.role, needed):
                raise HTTPException(403, f"needs the {needed} role")
            if changes and request.headers.get(CSRF_HEADER) != current.csrf:
                raise HTTPException(403, f"missing or wrong {CSRF_HEADER} header")
            return current

        return check

    Viewer = Annotated[Session, Depends(role("viewer"))]
    Operator = Annotated[Session, Depends(role("operator", changes=True))]
    Admin = Annotated[Session, Depends(role("admin"))]
    AnyChange = Annotated[Session, Depends(role("viewer", changes=True))]

    # -- login -----------------------------------------------------------------------------

    @app.post("/api/login", response_model=SessionInfo, tags=["session"],
              responses={401: {"description": "wrong name or password"}, 429: {"description": "too many failures"}})
    async def login(body: LoginRequest, request: Request, response: Response) -> SessionInfo:
        keys = (f"user:{body.name}", f"addr:{remote(request)}")
        wait_s = limiter.retry_after_s(*keys)
        if wait_s > 0:
            audit(body.name, "login_refused", {"reason": "rate limited"}, request)
            raise HTTPException(429, "too many failed logins; try again later",
                                headers={"Retry-After": str(int(wait_s) + 1)})
        user = await asyncio.to_thread(deps.users.verify, body.name, body.password)  # argon2 takes ~50 ms
        if user is None:
            limiter.failed(*keys)
            audit(body.name, "login_failed", {}, request)
            raise HTTPException(401, "wrong name or password")
        limiter.succeeded(keys[0])
        created = sessions.create(user)
        response.set_cookie(COOKIE, created.token, max_age=int(deps.http.session_ttl_s), httponly=True,
                            samesite="strict", secure=deps.http.secure_cookies, path="/")
        audit(created, "login", {"role": user.role}, request)
        return SessionInfo(name=user.name, role=user.role, csrf_token=created.csrf)

    @app.post("/api/logout", status_code=204, tags=["session"])
    async def logout(current: AnyChange, request: Request, response: Response) -> None:
        sessions.end(current.token)
        response.delete_cookie(COOKIE, path="/")
        audit(current, "logout", {}, request)

    @app.get("/api/session", response_model=SessionInfo, tags=["session"])
    async def whoami(current: Viewer) -> SessionInfo:
        return SessionInfo(name=current.user.name, role=current.user.role, csrf_token=current.csrf)

    # -- alarms ----------------------------------------------------------------------------

    @app.get("/api/alarms", response_model=list[AlarmOut], tags=["alarms"])
    async def list_alarms(
        _: Viewer,
        state: Annotated[list[State] | None, Query(description="Only these states; default: not closed.")] = None,
        level: Annotated[list[Level] | None, Query(description="Only these levels.")] = None,
        area: Annotated[str | None, Query(max_length=64)] = None,
        kind: Annotated[str | None, Query(max_length=64, description="Hazard (flood, fire, …).")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> list[AlarmOut]:
        if deps.store is None:
            return []
        states = set(state or ("active", "acknowledged", "cleared"))
        alarms = deps.store.open_alarms() if "closed" not in states else deps.store.recent_alarms(limit * 5)
        picked = [a for a in alarms if a.state in states and (not level or a.level in level)
                  and (area is None or a.area == area) and (kind is None or a.hazard == kind)]
        order = {"red": 0, "orange": 1, "yellow": 2, "info": 3}
        picked.sort(key=lambda a: (a.state == "closed", order[a.level], -a.updated_ms))
        return [_alarm_out(a) for a in picked[:limit]]

    def find(alarm_id: int) -> Alarm:
        alarm = deps.store.alarm(alarm_id) if deps.store is not None else None
        if alarm is None:
            raise HTTPException(404, f"no alarm {alarm_id}")
        return alarm

    @app.get("/api/alarms/{alarm_id}", response_model=AlarmDetail, tags=["alarms"],
             responses={404: {"description": "no such alarm"}})
    async def one_alarm(alarm_id: Annotated[int, ApiPath(ge=1, le=2**62)], _: Viewer) -> AlarmDetail:
        alarm = find(alarm_id)
        assert deps.store is not None
        events = [AlarmEventOut(seq=e["seq"], kind=e["kind"], ts_ms=e["ts_ms"], level=e["alarm"]["level"],
                                state=e["alarm"]["state"], actor=e.get("actor"), comment=e.get("comment"))
                  for e in deps.store.alarm_events(alarm_id)]
        return AlarmDetail(**_alarm_out(alarm).model_dump(), evidence=dict(alarm.evidence), events=events)

    @app.post("/api/alarms/{alarm_id}/acknowledge", response_model=AlarmOut, tags=["alarms"],
              responses={404: {"description": "no such alarm"}, 409: {"description": "already acknowledged or closed"}})
    async def acknowledge(alarm_id: Annotated[int, ApiPath(ge=1, le=2**62)], body: AcknowledgeRequest,
                          current: Operator, request: Request) -> AlarmOut:
        find(alarm_id)
        assert deps.stage is not None
        try:
            await deps.stage.acknowledge(alarm_id, current.user.name, body.comment)
        except AlarmError as error:
            raise HTTPException(409, str(error)) from None
        audit(current, "acknowledge", {"alarm": alarm_id, "comment": body.comment}, request)
        return _alarm_out(find(alarm_id))

    # -- silences --------------------------------------------------------------------------

    def silence_out(silence: Any, now_ms: int) -> SilenceOut:
        return SilenceOut(id=silence.id, matcher=silence.matcher, value=silence.value, starts_ms=silence.starts_ms,
                          ends_ms=silence.ends_ms, created_by=silence.created_by, comment=silence.comment,
                          active=silence.starts_ms <= now_ms < silence.ends_ms)

    @app.get("/api/silences", response_model=list[SilenceOut], tags=["silences"])
    async def list_silences(_: Viewer) -> list[SilenceOut]:
        if deps.stage is None:
            return []
        now_ms = deps.clock_ms()
        return [silence_out(s, now_ms) for s in deps.stage.manager.silences(now_ms)]

    @app.post("/api/silences", response_model=SilenceOut, status_code=201, tags=["silences"],
              responses={422: {"description": "unknown sensor, area or rule; too long"}})
    async def create_silence(body: SilenceRequest, current: Operator, request: Request) -> SilenceOut:
        known = {"sensor": sensor_ids, "area": area_ids, "rule": deps.rule_ids}[body.matcher]
        if body.value not in known:
            raise HTTPException(422, f"unknown {body.matcher} {body.value!r}")
        if deps.stage is None:
            raise HTTPException(409, "this hub has no alarm rules to silence")
        now_ms = deps.clock_ms()
        try:
            silence = deps.stage.manager.add_silence(body.matcher, body.value, now_ms,
                                                     now_ms + int(body.duration_min * 60_000), current.user.name,
                                                     body.comment)
        except AlarmError as error:
            raise HTTPException(422, str(error)) from None
        audit(current, "silence", {"id": silence.id, "matcher": body.matcher, "value": body.value,
                                   "duration_min": body.duration_min, "comment": body.comment}, request)
        return silence_out(silence, now_ms)

    @app.delete("/api/silences/{silence_id}", status_code=204, tags=["silences"],
                responses={404: {"description": "no such silence"}})
    async def expire_silence(silence_id: Annotated[int, ApiPath(ge=1, le=2**62)], current: Operator,
                             request: Request) -> None:
        if deps.stage is None:
            raise HTTPException(404, f"no silence {silence_id}")
        try:
            deps.stage.manager.remove_silence(silence_id, current.user.name, deps.clock_ms())
        except AlarmError as error:
            raise HTTPException(404, str(error)) from None
        audit(current, "unsilence", {"id": silence_id}, request)

    # -- sensors and map -------------------------------------------------------------------

    def sensors_now() -> list[SensorOut]:
        now_ms = deps.clock_ms()
        offline = deps.offline()
        worst: dict[str, str] = {}
        order = ["info", "yellow", "orange", "red"]
        for alarm in deps.store.open_alarms() if deps.store is not None else ():
            previous = worst.get(alarm.subject)
            if previous is None or order.index(alarm.level) > order.index(previous):
                worst[alarm.subject] = alarm.level
        rows = []
        for sensor in deps.sensors:
            last = deps.latest.readings.get(sensor.id)
            if last is None:
                availability = "no data"
            elif sensor.id in offline or now_ms - last.received_ms > deps.silent_after_s * 1000:
                availability = "offline"
            else:
                availability = "online"
            rows.append(SensorOut(
                id=sensor.id, kind=sensor.kind, area=sensor.area, lat=sensor.location.lat, lon=sensor.location.lon,
                availability=availability, last_seen_ms=last.received_ms if last else None,
                last_ts_ms=last.ts_ms if last else None, values=dict(last.values) if last else {},
                quality=last.quality if last else None, open_alarm_level=worst.get(sensor.id)))
        return rows

    @app.get("/api/sensors", response_model=list[SensorOut], tags=["sensors"])
    async def list_sensors(_: Viewer) -> list[SensorOut]:
        return sensors_now()

    @app.get("/api/map", response_model=MapOut, tags=["sensors"])
    async def site_map(_: Viewer) -> MapOut:
        areas = [AreaOut(id=a.id, name=a.name, name_en=a.name_en,
                         centre=(a.centre.lat, a.centre.lon) if a.centre else None,
                         polygon=list(a.polygon) if a.polygon else None) for a in deps.areas]
        return MapOut(site=deps.site_name, areas=areas, sensors=sensors_now())

    # -- live ------------------------------------------------------------------------------

    @app.get("/api/events", tags=["alarms"], response_class=StreamingResponse,
             responses={200: {"content": {"text/event-stream": {}}, "description": "alarm events as SSE"}})
    async def events(_: Viewer) -> StreamingResponse:
        queue = deps.feed.subscribe()

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield b"retry: 3000\n\n"
                while True:
                    try:
                        body = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                    except TimeoutError:
                        yield b": keepalive\n\n"
                        continue
                    if body is None:
                        return
                    yield f"event: alarm\ndata: {json.dumps(body, ensure_ascii=False)}\n\n".encode()
            finally:
                deps.feed.unsubscribe(queue)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    # -- admin -----------------------------------------------------------------------------

    @app.get("/api/audit", response_model=list[AuditEntry], tags=["admin"])
    async def audit_trail(_: Admin, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[AuditEntry]:
        return [AuditEntry(**row) for row in deps.users.audit_trail(limit)]

    # -- subscribers -----------------------------------------------------------------------

    AdminChange = Annotated[Session, Depends(role("admin", changes=True))]

    def registry() -> SubscriberStore:
        if deps.subscribers is None:
            raise HTTPException(409, "SMS warnings are not configured on this hub")
        return deps.subscribers

    def subscriber_out(subscriber: Subscriber) -> SubscriberOut:
        return SubscriberOut(phone=subscriber.phone, areas=list(subscriber.areas), hazards=list(subscriber.hazards),
                             language=subscriber.language, opted_in=subscriber.opted_in,
                             opt_changed_ms=subscriber.opt_changed_ms, opt_source=subscriber.opt_source,
                             undeliverable=subscriber.undeliverable)

    @app.get("/api/subscribers", response_model=list[SubscriberOut], tags=["subscribers"])
    async def list_subscribers(_: Admin, area: Annotated[str | None, Query(max_length=64)] = None) -> list[SubscriberOut]:
        everyone = await asyncio.to_thread(registry().all)
        return [subscriber_out(s) for s in everyone if area is None or area in s.areas]

    @app.post("/api/subscribers", response_model=SubscriberOut, status_code=201, tags=["subscribers"],
              responses={422: {"description": "bad number or unknown area"}})
    async def add_subscriber(body: SubscriberRequest, current: AdminChange, request: Request) -> SubscriberOut:
        store = registry()
        unknown = [a for a in body.areas if a not in area_ids]
        if unknown:
            raise HTTPException(422, f"unknown area(s): {', '.join(unknown)}")
        try:
            added = store.add(Subscriber(body.phone, tuple(body.areas), tuple(body.hazards), body.language,
                                         opt_changed_ms=deps.clock_ms(), opt_source=f"console:{current.user.name}"))
        except (InvalidPhoneError, SubscriberError) as error:
            raise HTTPException(422, str(error)) from None
        audit(current, "subscriber_add", {"phone": added.phone, "areas": list(added.areas)}, request)
        return subscriber_out(added)

    def known_subscriber(phone: str) -> Subscriber:
        found = registry().get(phone)
        if found is None:
            raise HTTPException(404, f"no subscriber {phone}")
        return found

    @app.delete("/api/subscribers/{phone}", status_code=204, tags=["subscribers"],
                responses={404: {"description": "no such subscriber"}})
    async def remove_subscriber(phone: Annotated[str, ApiPath(max_length=32)], current: AdminChange,
                                request: Request) -> None:
        subscriber = known_subscriber(phone)
        registry().remove(subscriber.phone)
        audit(current, "subscriber_remove", {"phone": subscriber.phone}, request)

    @app.post("/api/subscribers/{phone}/opt-out", response_model=SubscriberOut, tags=["subscribers"],
              responses={404: {"description": "no such subscriber"}})
    async def opt_out(phone: Annotated[str, ApiPath(max_length=32)], current: AdminChange,
                      request: Request) -> SubscriberOut:
        subscriber = known_subscriber(phone)
        now_ms = deps.clock_ms()
        changed = registry().set_opt_in(subscriber.phone, False, f"console:{current.user.name}", now_ms)
        # As a STOP by SMS does: what is still queued for the number does not go.
        skipped = deps.outbox.skip_pending(changed.phone, now_ms, "opted out in the console") \
            if deps.outbox is not None else 0
        audit(current, "subscriber_opt_out", {"phone": changed.phone, "dropped_messages": skipped}, request)
        return subscriber_out(changed)

    # -- operations ------------------------------------------------------------------------

    @app.get("/health", response_model=HealthOut, tags=["operations"],
             responses={503: {"model": HealthOut, "description": "something is down"}})
    async def health(response: Response) -> HealthOut:
        checks = {name: Check(ok=ok, detail=detail) for name, (ok, detail) in deps.health().items()}
        healthy = all(c.ok for c in checks.values())
        response.status_code = 200 if healthy else 503
        return HealthOut(status="ok" if healthy else "degraded", checks=checks)

    @app.get("/metrics", response_class=PlainTextResponse, tags=["operations"],
             responses={401: {"description": "neither a session nor the scrape token"}})
    async def metrics(request: Request) -> PlainTextResponse:
        bearer = request.headers.get("authorization", "")
        scraper = metrics_token is not None and secrets.compare_digest(bearer.encode(),
                                                                        f"Bearer {metrics_token}".encode())
        if not scraper:
            current = session(request)
            if not role_allows(current.user.role, "viewer"):
                raise HTTPException(403, "needs the viewer role")
        return PlainTextResponse(prometheus_text(deps.metrics()),
                                 media_type="text/plain; version=0.0.4; charset=utf-8")

    # -- the page --------------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/console/")

    @app.get("/console/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    app.mount("/console/static", StaticFiles(directory=STATIC), name="static")

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[..., Any]) -> Response:
        response = await call_next(request)
        # The page loads nothing from elsewhere (it must work without internet anyway).
        response.headers.setdefault("Content-Security-Policy",
                                    "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    return app


def prometheus_text(values: Mapping[str, float]) -> str:
    """Prometheus text exposition format 0.0.4: one gauge per value, names prefixed `ews_`.
    A name may carry labels as `name{label="value"}`."""
    lines: list[str] = []
    typed: set[str] = set()
    for name, value in sorted(values.items()):
        base = name.split("{", 1)[0]
        if base not in typed:
            typed.add(base)
            lines.append(f"# TYPE ews_{base} gauge")
        lines.append(f"ews_{name} {float(value)!r}")
    return "\n".join(lines) + "\n"
