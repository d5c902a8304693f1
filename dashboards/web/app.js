// fieldline web dashboard: a few hash-routed pages drawn from the HTTP API, no build step.
// Charts are hand-made SVG; every number on screen comes from /api/v1.
"use strict";

const TZ = "%2B08:00";
const view = document.getElementById("view");

/** The server wants a token (tokens are configured and this browser is not signed in). */
class SignInRequired extends Error {}

async function api(path, options = {}) {
  const res = await fetch(path, { credentials: "same-origin", ...options });
  if (res.status === 401) throw new SignInRequired();
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw Object.assign(new Error(body.error || `${res.status} ${res.statusText}`), { status: res.status });
  return body;
}

// ---- sign-in (API tokens) -------------------------------------------------------------
// With tokens configured, the dashboard signs in once with a token: the server answers with
// an HttpOnly session cookie, which every later fetch sends. The token is not kept here.
function signInForm() {
  const token = el("input", { type: "password", name: "token", autocomplete: "current-password", placeholder: "API token", required: "" });
  const status = el("p", { class: "muted" }, "This server requires an API token. Sign in to see its data.");
  const form = el("form", { class: "panel signin", onsubmit: async (e) => {
    e.preventDefault();
    status.className = "muted"; status.textContent = "Signing in…";
    const res = await fetch("/api/v1/session", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token: token.value }),
    }).catch((err) => ({ ok: false, status: 0, json: async () => ({ error: err.message }) }));
    token.value = "";
    if (res.ok) { await showUser(); route(); return; }
    const body = await res.json().catch(() => ({}));
    status.className = "bad";
    status.textContent = res.status === 401 ? "Unknown token." : `Could not sign in: ${body.error || res.status}`;
  } },
  el("h2", {}, "Sign in"), status, el("label", {}, "Token ", token), " ", el("button", { type: "submit" }, "Sign in"));
  return form;
}

/** Shows who is signed in (and a sign-out button) in the header. */
async function showUser() {
  const box = document.getElementById("user");
  const who = await api("/api/v1/session").catch(() => null);
  if (!who || !who.tokens_required || who.via !== "session") { box.replaceChildren(); return; }
  box.replaceChildren(`${who.name || "signed in"} (${who.scope}) `, el("button", { onclick: async () => {
    await fetch("/api/v1/session", { method: "DELETE", credentials: "same-origin" });
    box.replaceChildren(); route();
  } }, "sign out"));
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const c of children.flat()) e.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
  return e;
}

const fmt = (x, d = 1) => (x === null || x === undefined || Number.isNaN(x) ? "–" : Number(x).toFixed(d));
const pct = (x) => (x === null || x === undefined ? "–" : (100 * x).toFixed(1) + " %");
const localTime = (iso) => iso.replace("T", " ").replace(/(:\d\d)(\.\d+)?(\+08:00|Z)$/, "$1");
// Relative to the server's clock, not the browser's: `demo --start` replays a past season.
const hoursAgo = (h) => `-${h}h`;

function message(text, cls = "muted") { return el("p", { class: cls }, text); }

// ---- SVG chart ------------------------------------------------------------------------
const NS = "http://www.w3.org/2000/svg";
function svg(tag, attrs) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

/** lines: [{name, color, points: [[ms, value]], dash}], band: {color, lo, hi} (same x for lo/hi). */
function chart({ lines = [], band = null, yLabel = "", yMin = null, yMax = null, refLines = [] }) {
  const W = 1000, H = 260, L = 48, R = 10, T = 10, B = 24;
  const all = lines.flatMap((l) => l.points).concat(band ? band.lo.concat(band.hi) : []);
  const box = el("div", { class: "panel" });
  if (all.length === 0) { box.append(message("No data in this period.")); return box; }
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]).filter((v) => Number.isFinite(v));
  const x0 = Math.min(...xs), x1 = Math.max(...xs) || x0 + 1;
  let y0 = yMin ?? Math.min(0, ...ys), y1 = yMax ?? Math.max(...ys, ...refLines.map((r) => r.y));
  if (y1 <= y0) y1 = y0 + 1;
  const sx = (x) => L + ((x - x0) / (x1 - x0 || 1)) * (W - L - R);
  const sy = (y) => H - B - ((y - y0) / (y1 - y0)) * (H - T - B);
  const s = svg("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none" });
  for (let i = 0; i <= 4; i++) {
    const y = y0 + ((y1 - y0) * i) / 4;
    s.append(svg("line", { x1: L, x2: W - R, y1: sy(y), y2: sy(y), stroke: "#eef0f4" }));
    const t = svg("text", { x: 4, y: sy(y) + 4 }); t.textContent = fmt(y, y1 - y0 < 5 ? 2 : 0); s.append(t);
  }
  const days = Math.max(1, Math.round((x1 - x0) / 86400e3));
  const step = days > 20 ? 7 : days > 6 ? 2 : 1;
  for (let d = Math.ceil(x0 / 86400e3) * 86400e3 - 8 * 3600e3; d <= x1; d += step * 86400e3) {
    if (d < x0) continue;
    s.append(svg("line", { x1: sx(d), x2: sx(d), y1: T, y2: H - B, stroke: "#eef0f4" }));
    const t = svg("text", { x: sx(d) + 2, y: H - 6 });
    t.textContent = new Date(d + 8 * 3600e3).toISOString().slice(5, 10); s.append(t);
  }
  for (const r of refLines) {
    s.append(svg("line", { x1: L, x2: W - R, y1: sy(r.y), y2: sy(r.y), stroke: r.color || "#999", "stroke-dasharray": "4 4" }));
  }
  if (band && band.lo.length) {
    const top = band.hi.map((p) => `${sx(p[0])},${sy(p[1])}`);
    const bottom = band.lo.slice().reverse().map((p) => `${sx(p[0])},${sy(p[1])}`);
    s.append(svg("polygon", { points: top.concat(bottom).join(" "), fill: band.color, opacity: 0.25 }));
  }
  for (const l of lines) {
    let d = "", pen = false, last = null;
    for (const [x, y] of l.points) {
      // Break the line over gaps longer than three typical steps.
      if (!Number.isFinite(y) || (last !== null && x - last > 3 * (l.step || 3600e3))) pen = false;
      if (Number.isFinite(y)) { d += `${pen ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`; pen = true; }
      last = x;
    }
    s.append(svg("path", { d, fill: "none", stroke: l.color, "stroke-width": 1.6, "stroke-dasharray": l.dash || "none" }));
  }
  const legend = el("div", { class: "legend" },
    lines.map((l) => el("span", {}, el("i", { style: `background:${l.color}` }), l.name)),
    band ? el("span", {}, el("i", { style: `background:${band.color};opacity:.4` }), band.name || "P10–P90") : "",
    yLabel ? el("span", { class: "muted" }, yLabel) : "");
  box.append(s, legend);
  return box;
}

const toPoints = (series) => (series?.points || []).map(([t, v]) => [Date.parse(t), v]);

// ---- pages ----------------------------------------------------------------------------
async function overview() {
  const [series, dead, health] = await Promise.all([
    api("/api/v1/series"), api("/api/v1/deadletters?limit=1000&start=-24h"), api("/health"),
  ]);
  const sites = new Map();
  for (const s of series.series) {
    if (s.measurement.startsWith("_") || s.measurement.startsWith("forecast")) continue;
    const site = s.tags.site || "(no site)";
    const entry = sites.get(site) || { kinds: new Set(), devices: new Set(), last: "" };
    entry.kinds.add(s.measurement); if (s.tags.device) entry.devices.add(s.tags.device);
    if (s.last > entry.last) entry.last = s.last;
    sites.set(site, entry);
  }
  const cards = [...sites.entries()].sort().map(([site, e]) => el("div", { class: "card" },
    el("div", { class: "big" }, site),
    el("div", {}, [...e.kinds].join(", ")),
    el("div", { class: "muted" }, `${e.devices.size} devices · last reading ${localTime(new Date(Date.parse(e.last) + 8 * 3600e3).toISOString().replace("Z", "+08:00"))}`)));
  return [
    el("h2", {}, "Sites"),
    cards.length ? el("div", { class: "cards" }, cards) : message("No data yet. Publish to fl/v1/{site}/{kind}/{device}/telemetry or run `fieldline demo`."),
    el("h2", {}, "Health"),
    el("div", { class: "cards" },
      el("div", { class: "card" }, el("div", { class: "big" }, String(series.series.length)), "series stored"),
      el("div", { class: "card" }, el("div", { class: "big " + (dead.deadletters.length ? "warn" : "good") }, String(dead.deadletters.length)), "dead letters in the last 24 h"),
      el("div", { class: "card" }, el("div", { class: "big" }, `${Math.round(health.uptime_s / 60)} min`), `up · version ${health.version}`)),
  ];
}

async function plantSites() {
  const meters = await api("/api/v1/series?measurement=plant&field=power_mw");
  return [...new Set(meters.series.map((s) => s.tags.site))].sort();
}

async function energy() {
  const sites = await plantSites();
  if (!sites.length) return [message("No plant meters (measurement `plant`) yet.")];
  const wanted = new URLSearchParams(location.hash.split("?")[1] || "").get("site");
  const site = sites.includes(wanted) ? wanted : sites[0];
  const picker = el("select", { onchange: (e) => { location.hash = `#/energy?site=${e.target.value}`; } },
    sites.map((s) => { const o = el("option", { value: s }, s); if (s === site) o.selected = true; return o; }));
  const since = hoursAgo(72);
  const [power, st, us, acc] = await Promise.all([
    api(`/api/v1/query?measurement=plant&field=power_mw&site=${site}&start=${since}&every=15m&agg=mean&tz=${TZ}`),
    api(`/api/v1/forecasts?site=${site}&horizon=short_term&tz=${TZ}`).catch(() => null),
    api(`/api/v1/forecasts?site=${site}&horizon=ultra_short&tz=${TZ}`).catch(() => null),
    api(`/api/v1/forecasts/accuracy?site=${site}&from=-31d`).catch(() => ({ days: [], months: [] })),
  ]);
  // Measured means are labelled by window start; forecasts by slot end.
  const measured = toPoints(power.series[0]).map(([t, v]) => [t + 900e3, v]);
  const lines = [{ name: "measured (15-min mean)", color: "#1d2430", points: measured, step: 900e3 }];
  let band = null;
  for (const [f, name, color] of [[st, "short-term P50", "#2f6fb5"], [us, "ultra-short P50", "#b5306b"]]) {
    if (!f) continue;
    lines.push({ name: `${name} (issued ${localTime(f.issued)})`, color, points: f.points.map((p) => [Date.parse(p.time), p.p50_mw]), step: 900e3, dash: "5 3" });
  }
  if (st) band = { name: "short-term P10–P90", color: "#2f6fb5", lo: st.points.map((p) => [Date.parse(p.time), p.p10_mw]), hi: st.points.map((p) => [Date.parse(p.time), p.p90_mw]) };
  const rows = acc.days.slice().reverse().map((d) => el("tr", {},
    el("td", {}, d.date),
    ...["short_term", "ultra_short"].flatMap((h) => {
      const a = d[h];
      const cls = a ? (a.accuracy >= 0.8 ? "good" : "bad") : "";
      return [el("td", { class: `num ${cls}` }, a ? pct(a.accuracy) : "–"), el("td", { class: "num" }, a ? pct(a.qualified_rate) : "–")];
    })));
  const accChart = chart({
    lines: ["short_term", "ultra_short"].map((h, i) => ({
      name: `${h.replace("_", "-")} daily accuracy`, color: i ? "#b5306b" : "#2f6fb5", step: 86400e3,
      points: acc.days.filter((d) => d[h]).map((d) => [Date.parse(d.date + "T12:00:00+08:00"), 100 * d[h].accuracy]),
    })),
    yMin: 50, yMax: 100, yLabel: "accuracy %", refLines: [{ y: 80, color: "#a15c00" }],
  });
  return [
    el("h2", {}, "Plant ", picker),
    el("p", { class: "muted" }, "Last 3 days of plant output with the latest short-term (next days) and ultra-short (next 4 h) forecasts. ",
      el("a", { href: `/api/v1/forecasts/efile?site=${site}&horizon=short_term` }, "short-term E file"), " · ",
      el("a", { href: `/api/v1/forecasts/efile?site=${site}&horizon=ultra_short` }, "ultra-short E file")),
    chart({ lines, band, yLabel: "MW" }),
    el("h2", {}, "Daily accuracy (grid assessment rule)"),
    accChart,
    acc.months.length ? el("p", {}, acc.months.map((m) => `${m.month} ${m.horizon.replace("_", "-")}: ${pct(m.accuracy)} accuracy, ${pct(m.qualified_rate)} qualified (${m.days} days)`).join(" · ")) : "",
    rows.length ? el("table", {}, el("tr", {}, el("th", {}, "day"), el("th", {}, "short-term accuracy"), el("th", {}, "qualified"), el("th", {}, "ultra-short (4th h)"), el("th", {}, "qualified")), rows)
      : message("No scored days yet: a day is scored once it is over."),
  ];
}

/** Daily catch from a cumulative counter that resets when the trap is serviced. */
function dailyCatch(points) {
  const days = new Map();
  let prev = null;
  for (const [t, v] of points) {
    const inc = prev === null ? 0 : v >= prev ? v - prev : v; // a drop is a reset: the new value was caught since
    prev = v;
    const day = new Date(t + 8 * 3600e3).toISOString().slice(0, 10);
    days.set(day, (days.get(day) || 0) + inc);
  }
  return [...days.entries()].map(([d, c]) => [Date.parse(d + "T12:00:00+08:00"), c]);
}

async function farm() {
  const since = hoursAgo(24 * 14);
  const [moisture, soilT, airT, stage, traps] = await Promise.all([
    api(`/api/v1/query?measurement=peony_plot&field=soil_vwc_pct&start=${since}&every=1h&agg=mean&tz=${TZ}`),
    api(`/api/v1/query?measurement=peony_plot&field=soil_temp_c&start=${since}&every=1h&agg=mean&tz=${TZ}`),
    api(`/api/v1/query?measurement=peony_plot&field=air_temp_c&start=${since}&every=1h&agg=mean&tz=${TZ}`),
    api(`/api/v1/query?measurement=peony_plot&field=stage&start=-2d&every=1d&agg=last&tz=${TZ}`),
    api(`/api/v1/query?measurement=pest_trap&field=count&start=${since}&tz=${TZ}`),
  ]);
  const colors = ["#2f6fb5", "#b5306b", "#1e7b34", "#a15c00", "#6a3fb5", "#00838f"];
  const byDevice = (q, label) => q.series.map((s, i) => ({ name: `${s.tags.device} ${label}`, color: colors[i % colors.length], points: toPoints(s) }));
  const stages = stage.series.map((s) => `${s.tags.device}: stage ${fmt(s.points.at(-1)?.[1], 0)}`).join(" · ");
  const catches = traps.series.map((s, i) => ({ name: `${s.tags.device} ${s.tags.species || ""}`, color: colors[i % colors.length], points: dailyCatch(toPoints(s)), step: 86400e3 }));
  return [
    el("h2", {}, "Peony plots — soil moisture (last 14 days)"),
    moisture.series.length ? chart({ lines: byDevice(moisture, "soil VWC"), yLabel: "% volumetric water" }) : message("No peony plot data yet."),
    el("h2", {}, "Air and soil temperature"),
    chart({ lines: byDevice(airT, "air").concat(byDevice(soilT, "soil").map((l) => ({ ...l, dash: "4 3" }))), yLabel: "°C", refLines: [{ y: 0, color: "#2f6fb5" }] }),
    stages ? el("p", {}, "Phenology: ", stages) : "",
    el("h2", {}, "Pest traps — daily catch"),
    catches.length ? chart({ lines: catches, yLabel: "insects / day" }) : message("No trap data yet."),
  ];
}

async function alerts() {
  let body;
  try {
    body = await api("/api/v1/alerts?limit=200");
  } catch (e) {
    if (e.status === 404) return [message("Alerts are not available on this server.")];
    throw e;
  }
  if (!body.alerts.length) return [message("No alerts.", "good")];
  return [el("table", {},
    el("tr", {}, ...["state", "severity", "kind", "site / device", "field", "since", "last seen", "message", ""].map((h) => el("th", {}, h))),
    body.alerts.map((a) => el("tr", {},
      el("td", { class: a.state === "open" ? "bad" : a.state === "acknowledged" ? "warn" : "good" }, a.state),
      el("td", {}, a.severity), el("td", {}, a.kind), el("td", {}, `${a.site}/${a.device}`), el("td", {}, a.field || ""),
      el("td", {}, localTime(a.start)), el("td", {}, localTime(a.last_seen)), el("td", {}, a.message),
      el("td", {}, a.state === "open" ? el("button", { onclick: async () => { await api(`/api/v1/alerts/${a.id}/ack`, { method: "POST" }).catch(showError); route(); } }, "acknowledge") : ""))))];
}

async function deadletters() {
  const dl = await api("/api/v1/deadletters?limit=200");
  if (!dl.deadletters.length) return [message("No dead letters: every message decoded and validated.", "good")];
  return [el("table", {},
    el("tr", {}, ...["time (UTC)", "source", "topic", "reason", "payload"].map((h) => el("th", {}, h))),
    dl.deadletters.map((d) => el("tr", {},
      el("td", {}, d.time.slice(0, 19).replace("T", " ")), el("td", {}, d.source), el("td", {}, el("code", {}, d.topic)),
      el("td", {}, d.reason), el("td", {}, el("pre", {}, d.payload.slice(0, 300))))))];
}

const routes = { "": overview, energy, farm, alerts, deadletters };

async function route() {
  const name = (location.hash.replace(/^#\/?/, "").split("?")[0]) || "";
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.getAttribute("href") === `#/${name}`);
  const page = routes[name] || overview;
  try {
    const content = await page();
    view.replaceChildren(...content.filter(Boolean));
    view.dataset.ready = name || "overview";
  } catch (e) {
    if (e instanceof SignInRequired) {
      view.replaceChildren(signInForm());
      view.dataset.ready = "signin";
      return;
    }
    showError(e);
  }
}

function showError(e) {
  if (e instanceof SignInRequired) { route(); return; }
  view.replaceChildren(message(`Could not load: ${e.message}`, "bad"));
  view.dataset.ready = "error";
}

window.addEventListener("hashchange", route);
showUser();
route();
setInterval(() => { if (!document.hidden) route(); }, 60000);
