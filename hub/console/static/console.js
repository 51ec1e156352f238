// The operator console: plain JavaScript, no build step, no outside resources (the control room
// may have no internet). Alarms arrive live as server-sent events; sensors refresh every 15 s.
"use strict";

const TEXT = {
  bg: {
    offline: "няма връзка", live: "на живо", logout: "Изход", login: "Вход", name: "Име", password: "Парола",
    enter: "Влез", alarms: "Аларми", level: "Ниво", state: "Състояние", rule: "Правило", subject: "Обект",
    area: "Район", since: "От", ack: "Потвърждение", noAlarms: "Няма активни аларми.", map: "Карта",
    sensors: "Датчици", sensor: "Датчик", kind: "Вид", value: "Стойност", lastSeen: "Последно",
    silences: "Заглушавания", what: "Какво", until: "До", by: "От кого", why: "Защо", minutes: "мин",
    silence: "Заглуши", expire: "Прекрати", acknowledge: "Потвърди", comment: "коментар",
    wrongLogin: "Грешно име или парола.", tooMany: "Твърде много опити. Опитайте по-късно.",
    needComment: "Напишете коментар.", other: "English",
    levels: { red: "ЧЕРВЕН", orange: "ОРАНЖЕВ", yellow: "ЖЪЛТ", info: "ИНФО" },
    states: { active: "активна", acknowledged: "потвърдена", cleared: "отминала", closed: "затворена" },
    avail: { online: "на линия", offline: "няма връзка", "no data": "няма данни" },
  },
  en: {
    offline: "offline", live: "live", logout: "Log out", login: "Log in", name: "Name", password: "Password",
    enter: "Log in", alarms: "Alarms", level: "Level", state: "State", rule: "Rule", subject: "Subject",
    area: "Area", since: "Since", ack: "Acknowledgement", noAlarms: "No open alarms.", map: "Map",
    sensors: "Sensors", sensor: "Sensor", kind: "Kind", value: "Value", lastSeen: "Last seen",
    silences: "Silences", what: "What", until: "Until", by: "By", why: "Why", minutes: "min",
    silence: "Silence", expire: "Expire", acknowledge: "Acknowledge", comment: "comment",
    wrongLogin: "Wrong name or password.", tooMany: "Too many attempts. Try again later.",
    needComment: "Write a comment.", other: "Български",
    levels: { red: "RED", orange: "ORANGE", yellow: "YELLOW", info: "INFO" },
    states: { active: "active", acknowledged: "acknowledged", cleared: "cleared", closed: "closed" },
    avail: { online: "online", offline: "offline", "no data": "no data" },
  },
};
const LEVEL_ORDER = { red: 0, orange: 1, yellow: 2, info: 3 };
const LEVEL_COLOUR = { red: "#e0242b", orange: "#f08a00", yellow: "#f5d000", info: "#4a90d9" };

let lang = localStorage.getItem("ews-lang") || "bg";
let session = null;
let alarms = new Map();
let events = null;
let mapData = null;
const $ = (selector) => document.querySelector(selector);
const t = (key) => TEXT[lang][key];

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function svg(tag, attributes = {}, text = null) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text !== null) node.textContent = text;
  return node;
}

function localTime(ms) {
  if (ms === null || ms === undefined) return "—";
  return new Date(ms).toLocaleString(lang === "bg" ? "bg-BG" : "en-GB",
    { timeZone: "Europe/Sofia", hour12: false, day: "2-digit", month: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && session) headers["X-CSRF-Token"] = session.csrf_token;
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin" });
  if (response.status === 401 && path !== "/api/login") { showLogin(); throw new Error("login"); }
  if (!response.ok) {
    let detail = response.statusText;
    try { const data = await response.json(); detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail); } catch (_) { /* not JSON */ }
    const error = new Error(detail); error.status = response.status; throw error;
  }
  return response.status === 204 ? null : response.json();
}

function applyLanguage() {
  document.documentElement.lang = lang;
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll("[data-i18n-placeholder]")) node.placeholder = t(node.dataset.i18nPlaceholder);
  $("#lang").textContent = t("other");
  $("#live").textContent = events && events.readyState === 1 ? t("live") : t("offline");
  renderAlarms(); renderSensors(); renderMap(); loadSilences();
}

function showLogin() {
  session = null;
  if (events) { events.close(); events = null; }
  $("#main-view").hidden = true; $("#logout").hidden = true; $("#who").textContent = "";
  $("#login-view").hidden = false;
  $("#login-name").focus();
}

async function start() {
  $("#login-view").hidden = true; $("#main-view").hidden = false; $("#logout").hidden = false;
  $("#who").textContent = `${session.name} (${session.role})`;
  document.body.classList.toggle("can-operate", session.role !== "viewer");
  await Promise.all([loadAlarms(), loadMap(), loadSilences()]);
  connectEvents();
}

async function loadAlarms() {
  const list = await api("GET", "/api/alarms");
  alarms = new Map(list.map((alarm) => [alarm.id, alarm]));
  renderAlarms();
}

function connectEvents() {
  if (events) events.close();
  events = new EventSource("/api/events");
  events.addEventListener("open", () => { $("#live").className = "live on"; $("#live").textContent = t("live"); loadAlarms(); });
  events.addEventListener("error", () => { $("#live").className = "live off"; $("#live").textContent = t("offline"); });
  events.addEventListener("alarm", (message) => {
    const event = JSON.parse(message.data);
    const alarm = event.alarm;
    if (alarm.state === "closed") alarms.delete(alarm.id); else alarms.set(alarm.id, alarm);
    renderAlarms();
    loadMap();
  });
}

function renderAlarms() {
  const body = $("#alarms tbody");
  if (!body) return;
  body.replaceChildren();
  const sorted = [...alarms.values()].sort((a, b) => (LEVEL_ORDER[a.level] - LEVEL_ORDER[b.level]) || (b.updated_ms - a.updated_ms));
  for (const alarm of sorted) {
    let ackCell;
    if (alarm.acknowledged_by) {
      ackCell = el("td", { class: "acked" }, `${alarm.acknowledged_by}: ${alarm.acknowledge_comment || ""}`);
    } else if (session && session.role !== "viewer" && alarm.state !== "closed") {
      const comment = el("input", { class: "ack-comment", placeholder: t("comment"), "aria-label": t("comment") });
      const button = el("button", { class: "ack", type: "button" }, t("acknowledge"));
      button.addEventListener("click", () => acknowledge(alarm.id, comment));
      ackCell = el("td", {}, comment, " ", button);
    } else {
      ackCell = el("td", {}, "—");
    }
    body.append(el("tr", { class: `state-${alarm.state}`, "data-id": String(alarm.id), "data-state": alarm.state },
      el("td", {}, String(alarm.id)),
      el("td", {}, el("span", { class: `badge level-${alarm.level}` }, TEXT[lang].levels[alarm.level])),
      el("td", { class: "state" }, TEXT[lang].states[alarm.state]),
      el("td", {}, alarm.rule), el("td", {}, alarm.subject), el("td", {}, areaName(alarm.area)),
      el("td", {}, localTime(alarm.opened_ms)), ackCell));
  }
  $("#no-alarms").hidden = sorted.length > 0;
}

async function acknowledge(id, input) {
  const comment = input.value.trim();
  if (!comment) { $("#action-error").textContent = t("needComment"); input.focus(); return; }
  try {
    const alarm = await api("POST", `/api/alarms/${id}/acknowledge`, { comment });
    alarms.set(alarm.id, alarm);
    $("#action-error").textContent = "";
    renderAlarms();
  } catch (error) { $("#action-error").textContent = error.message; }
}

function areaName(id) {
  const area = mapData && mapData.areas.find((a) => a.id === id);
  if (!area) return id;
  return lang === "en" && area.name_en ? area.name_en : area.name;
}

async function loadMap() {
  mapData = await api("GET", "/api/map");
  $("#site-name").textContent = mapData.site;
  renderMap(); renderSensors();
}

function renderSensors() {
  const body = $("#sensors tbody");
  if (!body || !mapData) return;
  body.replaceChildren();
  for (const sensor of mapData.sensors) {
    const values = Object.entries(sensor.values).map(([k, v]) => `${k} ${Math.round(v * 100) / 100}`).join(", ") || "—";
    const level = sensor.open_alarm_level;
    body.append(el("tr", { "data-sensor": sensor.id },
      el("td", {}, sensor.id, level ? " " : "", level ? el("span", { class: `badge level-${level}` }, TEXT[lang].levels[level]) : ""),
      el("td", {}, sensor.kind), el("td", {}, areaName(sensor.area)),
      el("td", { class: `avail-${sensor.availability.replace(" ", "")}` }, TEXT[lang].avail[sensor.availability]),
      el("td", {}, values), el("td", {}, localTime(sensor.last_seen_ms))));
  }
}

// Equirectangular projection scaled by cos(latitude): true enough over a municipality.
function renderMap() {
  const map = $("#map");
  if (!map || !mapData) return;
  map.replaceChildren();
  const points = [];
  for (const area of mapData.areas) {
    if (area.polygon) points.push(...area.polygon);
    if (area.centre) points.push(area.centre);
  }
  for (const sensor of mapData.sensors) points.push([sensor.lat, sensor.lon]);
  if (!points.length) return;
  const lats = points.map((p) => p[0]), lons = points.map((p) => p[1]);
  const minLat = Math.min(...lats), maxLat = Math.max(...lats), minLon = Math.min(...lons), maxLon = Math.max(...lons);
  const kx = Math.cos(((minLat + maxLat) / 2) * Math.PI / 180);
  const spanX = Math.max((maxLon - minLon) * kx, 1e-4), spanY = Math.max(maxLat - minLat, 1e-4);
  const scale = Math.min(900 / spanX, 600 / spanY);
  const offsetX = (1000 - spanX * scale) / 2, offsetY = (700 - spanY * scale) / 2;
  const project = ([lat, lon]) => [offsetX + (lon - minLon) * kx * scale, offsetY + (maxLat - lat) * scale];
  for (const area of mapData.areas) {
    if (area.polygon) {
      map.append(svg("polygon", { class: "area", "data-area": area.id,
        points: area.polygon.map((p) => project(p).map((v) => v.toFixed(1)).join(",")).join(" ") }));
    }
    const anchor = area.centre || (area.polygon ? area.polygon[0] : null);
    if (anchor) {
      const [x, y] = project(anchor);
      map.append(svg("text", { class: "area-label", x: x.toFixed(1), y: (y - 12).toFixed(1), "text-anchor": "middle" },
        lang === "en" && area.name_en ? area.name_en : area.name));
    }
  }
  for (const sensor of mapData.sensors) {
    const [x, y] = project([sensor.lat, sensor.lon]);
    const colour = sensor.open_alarm_level ? LEVEL_COLOUR[sensor.open_alarm_level]
      : sensor.availability === "online" ? "#2fa84f" : "#777";
    const dot = svg("circle", { class: "sensor", cx: x.toFixed(1), cy: y.toFixed(1), r: sensor.open_alarm_level ? 11 : 8,
      fill: colour, "data-sensor": sensor.id });
    dot.append(svg("title", {}, `${sensor.id} (${sensor.kind})`));
    map.append(dot, svg("text", { class: "sensor-label", x: (x + 13).toFixed(1), y: (y + 5).toFixed(1) }, sensor.id));
  }
}

async function loadSilences() {
  if (!session) return;
  const list = await api("GET", "/api/silences");
  const body = $("#silences tbody");
  body.replaceChildren();
  for (const silence of list.filter((s) => s.active)) {
    const cell = el("td");
    if (session.role !== "viewer") {
      cell.append(el("button", { type: "button", class: "expire", onclick: async () => {
        try { await api("DELETE", `/api/silences/${silence.id}`); loadSilences(); } catch (error) { $("#action-error").textContent = error.message; }
      } }, t("expire")));
    }
    body.append(el("tr", { "data-silence": String(silence.id) }, el("td", {}, String(silence.id)),
      el("td", {}, `${silence.matcher} ${silence.value}`), el("td", {}, localTime(silence.ends_ms)),
      el("td", {}, silence.created_by), el("td", {}, silence.comment), cell));
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  $("#lang").addEventListener("click", () => { lang = lang === "bg" ? "en" : "bg"; localStorage.setItem("ews-lang", lang); applyLanguage(); });
  $("#login-form").addEventListener("submit", async (submit) => {
    submit.preventDefault();
    try {
      session = await api("POST", "/api/login", { name: $("#login-name").value, password: $("#login-password").value });
      $("#login-password").value = ""; $("#login-error").textContent = "";
      await start();
    } catch (error) {
      $("#login-error").textContent = error.status === 429 ? t("tooMany") : t("wrongLogin");
    }
  });
  $("#logout").addEventListener("click", async () => { try { await api("POST", "/api/logout"); } finally { showLogin(); } });
  $("#silence-form").addEventListener("submit", async (submit) => {
    submit.preventDefault();
    try {
      await api("POST", "/api/silences", { matcher: $("#silence-matcher").value, value: $("#silence-value").value.trim(),
        duration_min: Number($("#silence-minutes").value), comment: $("#silence-comment").value.trim() });
      $("#silence-comment").value = ""; $("#action-error").textContent = "";
      loadSilences();
    } catch (error) { $("#action-error").textContent = error.message; }
  });
  setInterval(() => { if (session) loadMap().catch(() => {}); }, 15000);
  applyLanguage();
  try { session = await api("GET", "/api/session"); await start(); } catch (_) { showLogin(); }
});
