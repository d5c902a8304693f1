// fieldline web dashboard, the shared part: translation, API calls, UTC+8 time formatting,
// ECharts helpers and the hash router. Each page lives in pages/*.js and registers itself
// with FL.page(); pages/boot.js starts the router. No build step: plain scripts, in order.
"use strict";

const FL = (() => {
  const TZ_OFFSET_MS = 8 * 3600e3; // Heze: China Standard Time, no daylight saving
  const TZ = "%2B08:00"; // for the API's tz= parameter

  // ---- language ------------------------------------------------------------------------
  // Chinese by default; ?lang=en (or the header toggle) switches and is remembered.
  const fromUrl = new URLSearchParams(location.search).get("lang");
  if (fromUrl === "zh" || fromUrl === "en") localStorage.setItem("fl.lang", fromUrl);
  let lang = localStorage.getItem("fl.lang") === "en" ? "en" : "zh";
  const strings = { zh: {}, en: {} };

  /** Adds a page's strings: {zh: {key: text}, en: {key: text}}. */
  function addStrings(dict) {
    for (const l of ["zh", "en"]) Object.assign(strings[l], dict[l] || {});
  }

  /** The text for `key` in the current language, `{name}` replaced from params. */
  function t(key, params = {}) {
    const text = strings[lang][key] ?? strings.en[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (m, name) => (params[name] ?? m));
  }

  function setLang(l) {
    lang = l === "en" ? "en" : "zh";
    localStorage.setItem("fl.lang", lang);
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  }

  // ---- API -----------------------------------------------------------------------------
  /** The server wants a token (tokens are configured and this browser is not signed in). */
  class SignInRequired extends Error {}

  async function api(path, options = {}) {
    const res = await fetch(path, { credentials: "same-origin", ...options });
    if (res.status === 401) throw new SignInRequired();
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw Object.assign(new Error(body.error || `${res.status} ${res.statusText}`), { status: res.status });
    return body;
  }

  /** Like api(), but null on 404 (a capability this server or this data does not have). */
  async function maybe(path) {
    try {
      return await api(path);
    } catch (e) {
      if (e.status === 404 || e.status === 400) return null;
      throw e;
    }
  }

  // ---- DOM -----------------------------------------------------------------------------
  function el(tag, attrs = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }
  const note = (text, cls = "muted") => el("p", { class: cls }, text);
  const card = (big, label, cls = "") => el("div", { class: "card" }, el("div", { class: `big ${cls}` }, big), el("div", { class: "muted" }, label));

  // ---- numbers and times -----------------------------------------------------------------
  const isNum = (x) => typeof x === "number" && Number.isFinite(x);
  const num = (x, d = 1) => (isNum(x) ? Number(x).toFixed(d) : "–");
  const pct = (x, d = 1) => (isNum(x) ? (100 * x).toFixed(d) + " %" : "–");
  const ms = (t) => (typeof t === "number" ? t : Date.parse(t));
  const locale = () => (lang === "zh" ? "zh-CN" : "en-GB");
  const fmt = (opts) => new Intl.DateTimeFormat(locale(), { timeZone: "Asia/Shanghai", hourCycle: "h23", ...opts });
  /** 2026-04-20 14:05 style, in UTC+8. */
  function time(t) {
    if (t === null || t === undefined || t === "") return "–";
    return fmt({ year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" }).format(new Date(ms(t)));
  }
  /** A calendar day ("2026-04-20" from the API) in the local convention: 4月20日 / 20 Apr. */
  function day(d, withYear = false) {
    if (!d) return "–";
    const date = new Date(`${String(d).slice(0, 10)}T12:00:00+08:00`);
    return fmt({ year: withYear ? "numeric" : undefined, month: lang === "zh" ? "long" : "short", day: "numeric" }).format(date);
  }
  /** "3 h ago" / "3 小时前" against the server's clock. */
  function ago(t, nowMs) {
    const s = Math.round((nowMs - ms(t)) / 1000);
    if (s < 90) return t_("ago.s", { n: Math.max(0, s) });
    if (s < 5400) return t_("ago.min", { n: Math.round(s / 60) });
    if (s < 36 * 3600) return t_("ago.h", { n: Math.round(s / 3600) });
    return t_("ago.d", { n: Math.round(s / 86400) });
  }
  const t_ = (k, p) => t(k, p);

  // ---- time range ------------------------------------------------------------------------
  const RANGES = [24, 72, 168, 720, 1440];
  let rangeHours = Number(localStorage.getItem("fl.range")) || 72;
  if (!RANGES.includes(rangeHours)) rangeHours = 72;
  /** The picked range as an API start (relative to the server's clock: `demo --start`). */
  const since = (minHours = 0) => `-${Math.max(rangeHours, minHours)}h`;
  /** A sensible aggregation window for the range. */
  const every = () => (rangeHours <= 24 ? "5m" : rangeHours <= 72 ? "15m" : rangeHours <= 168 ? "1h" : "3h");

  // ---- charts (ECharts) ------------------------------------------------------------------
  const PALETTE = ["#2f6fb5", "#b5306b", "#1e7b34", "#a15c00", "#6a3fb5", "#00838f", "#7a7a7a", "#c2185b"];
  const live = new Map(); // chart id -> ECharts instance on the current page
  const zoomKept = new Map(); // chart id -> {start, end} kept across live refreshes

  /** An ECharts chart in a panel. `option` is plain ECharts; ids keep zoom across refreshes. */
  function chart(id, option, { height = 280, points = null } = {}) {
    const box = el("div", { class: "chart", id: `chart-${id}`, style: `height:${height}px` });
    const count = points ?? (option.series || []).reduce((n, s) => n + (s.data ? s.data.length : 0), 0);
    box.dataset.points = String(count);
    const kept = zoomKept.get(id);
    if (kept && option.dataZoom) option.dataZoom = option.dataZoom.map((z) => ({ ...z, start: kept.start, end: kept.end }));
    // Rendered once the box is in the page (ECharts needs its size).
    pending.push(() => {
      const inst = echarts.init(box, null, { renderer: "canvas", locale: lang === "zh" ? "ZH" : "EN" });
      inst.setOption({ animation: false, color: PALETTE, ...option });
      live.set(id, inst);
    });
    return box;
  }
  let pending = [];

  /** Forgets the page's charts, keeping each one's zoom for its redraw. */
  function disposeCharts() {
    for (const [id, inst] of live) {
      const z = inst.getOption()?.dataZoom?.[0];
      if (z) zoomKept.set(id, { start: z.start, end: z.end });
      inst.dispose();
    }
    live.clear();
  }

  const shift = (t) => ms(t) + TZ_OFFSET_MS; // ECharts draws in UTC: shifted, it shows UTC+8

  /**
   * A time chart. series: [{name, data: [[t, v]], type, dashed, color, step, area, yAxis}],
   * bands: [{name, lo: [[t, v]], hi: [[t, v]], color}], marks: [{from, to, label, color}],
   * lines: [{y, label, color}].
   */
  function timeChart(id, { series = [], bands = [], marks = [], lines = [], yName = "", yMin, yMax, y2Name, height } = {}) {
    const out = [];
    bands.forEach((b, i) => {
      const hi = new Map(b.hi.map(([t, v]) => [ms(t), v]));
      const lo = b.lo.filter(([t, v]) => isNum(v) && isNum(hi.get(ms(t))));
      out.push({ name: b.name, type: "line", stack: `band${i}`, symbol: "none", lineStyle: { opacity: 0 }, silent: true,
        data: lo.map(([t, v]) => [shift(t), v]), tooltip: { show: false }, legendHoverLink: false, bandPart: "lo" });
      out.push({ name: b.name, type: "line", stack: `band${i}`, symbol: "none", lineStyle: { opacity: 0 },
        areaStyle: { color: b.color || PALETTE[0], opacity: 0.18 }, itemStyle: { color: b.color || PALETTE[0] },
        data: lo.map(([t, v]) => [shift(t), hi.get(ms(t)) - v, v, hi.get(ms(t))]), bandPart: "hi" });
    });
    for (const s of series) {
      out.push({
        name: s.name, type: s.type || "line", yAxisIndex: s.yAxis || 0, showSymbol: s.type === "scatter", symbolSize: 4,
        step: s.step || false, connectNulls: false, sampling: s.type === "bar" ? undefined : "lttb",
        lineStyle: { width: 1.6, type: s.dashed ? "dashed" : "solid" }, barMaxWidth: 18,
        itemStyle: s.color ? { color: s.color } : undefined, areaStyle: s.area ? { opacity: 0.15 } : undefined,
        data: s.data.map(([t, v]) => [shift(t), v]),
      });
    }
    if (marks.length || lines.length) {
      const host = out.find((s) => !s.bandPart) || out[0];
      if (host) {
        if (marks.length) host.markArea = { silent: true, data: marks.map((m) => [
          { xAxis: shift(m.from), name: m.label || "", itemStyle: { color: m.color || "rgba(179,38,30,0.10)" }, label: { color: "#8a3b00", fontSize: 11, position: "insideTop" } },
          { xAxis: shift(m.to) }]) };
        if (lines.length) host.markLine = { silent: true, symbol: "none", data: lines.map((l) => ({ yAxis: l.y, name: l.label,
          lineStyle: { color: l.color || "#a15c00", type: "dashed" }, label: { formatter: l.label || "", position: "insideEndTop" } })) };
      }
    }
    const points = out.reduce((n, s) => n + s.data.length, 0);
    const yAxes = [{ type: "value", name: yName, min: yMin, max: yMax, scale: yMin === undefined, nameTextStyle: { align: "left" } }];
    if (y2Name) yAxes.push({ type: "value", name: y2Name, splitLine: { show: false }, scale: true });
    return chart(id, {
      useUTC: true,
      grid: { left: 56, right: y2Name ? 56 : 24, top: 54, bottom: 64 },
      legend: { top: 0, left: 60, right: 130, type: "scroll", data: [...new Set(out.filter((s) => s.bandPart !== "lo").map((s) => s.name))] },
      tooltip: { trigger: "axis", formatter: tooltip },
      xAxis: { type: "time", axisLabel: { hideOverlap: true, formatter: {
        year: "{yyyy}", month: lang === "zh" ? "{M}月" : "{MMM}", day: lang === "zh" ? "{M}/{d}" : "{d} {MMM}",
        hour: "{HH}:{mm}", minute: "{HH}:{mm}", second: "{HH}:{mm}:{ss}", millisecond: "{HH}:{mm}:{ss}",
      } } },
      yAxis: yAxes,
      dataZoom: [{ type: "inside" }, { type: "slider", height: 18, bottom: 8 }],
      toolbox: { right: 8, top: 0, itemSize: 13, feature: { dataZoom: { yAxisIndex: "none" }, restore: {}, saveAsImage: {} } },
      series: out,
    }, { height, points });
  }

  /** The hover read-out: the time in UTC+8, then each series' value (a band as lo–hi). */
  function tooltip(params) {
    if (!params.length) return "";
    const when = fmt({ year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", timeZone: "UTC" })
      .format(new Date(params[0].value[0]));
    const rows = params.map((p) => {
      const v = p.value;
      const text = v.length >= 4 ? `${num(v[2], 2)} – ${num(v[3], 2)}` : num(v[1], 2);
      return `${p.marker}${p.seriesName}: <b>${text}</b>`;
    });
    return [when, ...rows].join("<br>");
  }

  /** A secondary request: its failure leaves a gap on the page, not an error page. */
  const soft = (p) => p.catch((e) => {
    if (e instanceof SignInRequired) throw e;
    console.warn("request failed", e);
    return null;
  });
  /** An aggregation window ("15m") in milliseconds. */
  function everyMs(e) {
    const m = /^(\d+)([smhd])$/.exec(e);
    return m ? Number(m[1]) * { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[m[2]] : 900e3;
  }

  /** An aggregation window ("15m") in words: "15 分钟" / "15 min". */
  function everyText(e) {
    const m = /^(\d+)([mhd])$/.exec(e);
    return m ? t(`every.${m[2]}`, { n: m[1] }) : e;
  }

  /** Points of an API series ({points: [[time, value]]}). */
  const pts = (s) => (s?.points || []).filter((p) => p[1] !== null);

  // ---- router ----------------------------------------------------------------------------
  const pages = new Map(); // name -> {nav, render}
  const order = [];
  /** Registers a page: `render(params)` returns the page's nodes. */
  function page(name, spec) {
    pages.set(name, spec);
    order.push(name);
  }
  const params = () => new URLSearchParams(location.hash.split("?")[1] || "");
  const current = () => location.hash.replace(/^#\/?/, "").split("?")[0] || "overview";

  let rendering = null;
  async function route({ live: isRefresh = false } = {}) {
    const view = document.getElementById("view");
    const name = pages.has(current()) ? current() : "overview";
    const token = {};
    rendering = token;
    for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.page === name);
    if (!isRefresh) { zoomKept.clear(); view.dataset.ready = ""; }
    const started = performance.now();
    try {
      const content = await pages.get(name).render(params());
      if (rendering !== token) return; // a newer navigation won
      disposeCharts();
      view.replaceChildren(...content.flat().filter((c) => c !== null && c !== undefined && c !== false && c !== ""));
      const draw = pending; pending = [];
      for (const f of draw) f();
      view.dataset.ready = name;
      view.dataset.readyMs = String(Math.round(performance.now() - started));
      if (!isRefresh && !window.flFirstReadyMs) window.flFirstReadyMs = Math.round(performance.now());
    } catch (e) {
      if (rendering !== token) return;
      pending = [];
      if (e instanceof SignInRequired) {
        view.replaceChildren(signInForm());
        view.dataset.ready = "signin";
        return;
      }
      console.warn("page failed", e);
      view.replaceChildren(note(t("error.load", { message: e.message }), "bad"));
      view.dataset.ready = "error";
    }
  }

  // ---- sign-in (API tokens) --------------------------------------------------------------
  // With tokens configured, the dashboard signs in once with a token: the server answers with
  // an HttpOnly session cookie, which every later fetch sends. The token is not kept here.
  function signInForm() {
    const token = el("input", { type: "password", name: "token", autocomplete: "current-password", placeholder: t("signin.token"), required: "" });
    const status = note(t("signin.why"));
    const form = el("form", { class: "panel signin", onsubmit: async (e) => {
      e.preventDefault();
      status.className = "muted"; status.textContent = t("signin.busy");
      const res = await fetch("/api/v1/session", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token: token.value }),
      }).catch((err) => ({ ok: false, status: 0, json: async () => ({ error: err.message }) }));
      token.value = "";
      if (res.ok) { await showUser(); route(); return; }
      const body = await res.json().catch(() => ({}));
      status.className = "bad";
      status.textContent = res.status === 401 ? t("signin.unknown") : t("signin.failed", { message: body.error || res.status });
    } }, el("h2", {}, t("signin.title")), status, el("label", {}, t("signin.token"), " ", token), " ", el("button", { type: "submit" }, t("signin.go")));
    return form;
  }

  /** Shows who is signed in (and a sign-out button) in the header. */
  async function showUser() {
    const box = document.getElementById("user");
    const who = await api("/api/v1/session").catch(() => null);
    if (!who || !who.tokens_required || who.via !== "session") { box.replaceChildren(); return; }
    box.replaceChildren(`${who.name || t("signin.signed_in")} (${who.scope}) `, el("button", { onclick: async () => {
      await fetch("/api/v1/session", { method: "DELETE", credentials: "same-origin" });
      box.replaceChildren(); route();
    } }, t("signin.out")));
  }

  /** The header: navigation, range picker and language toggle, in the current language. */
  function header() {
    document.title = t("app.title");
    document.getElementById("subtitle").textContent = t("app.subtitle");
    document.getElementById("nav").replaceChildren(...order.map((name) =>
      el("a", { href: `#/${name === "overview" ? "" : name}`, "data-page": name }, t(pages.get(name).nav))));
    const picker = el("select", { id: "range", title: t("range.title"), onchange: (e) => {
      rangeHours = Number(e.target.value); localStorage.setItem("fl.range", String(rangeHours)); route();
    } }, RANGES.map((h) => el("option", { value: h, selected: h === rangeHours ? "" : null }, t(`range.${h}`))));
    const toggle = el("button", { id: "lang", onclick: () => { setLang(lang === "zh" ? "en" : "zh"); header(); route(); } },
      lang === "zh" ? "English" : "中文");
    document.getElementById("tools").replaceChildren(el("label", {}, t("range.label"), " ", picker), " ", toggle);
    document.getElementById("footer").textContent = t("app.footer");
  }

  /** Starts the dashboard: header, first page, live refresh every 30 s while visible. */
  function start() {
    setLang(lang);
    header();
    window.addEventListener("hashchange", () => route());
    window.addEventListener("resize", () => { for (const inst of live.values()) inst.resize(); });
    showUser();
    route();
    setInterval(() => { if (!document.hidden && document.getElementById("view").dataset.ready) route({ live: true }); }, 30000);
  }

  /** A site/device picker that navigates to `#/{page}?{key}=value`. */
  function picker(pageName, key, values, chosen, labelFor = (v) => v) {
    return el("select", { class: "picker", onchange: (e) => {
      const p = params(); p.set(key, e.target.value); location.hash = `#/${pageName}?${p}`;
    } }, values.map((v) => el("option", { value: v, selected: v === chosen ? "" : null }, labelFor(v))));
  }

  return {
    TZ, t, addStrings, lang: () => lang, api, maybe, el, note, card, isNum, num, pct, ms, time, day, ago,
    since, every, everyMs, everyText, soft, rangeHours: () => rangeHours, chart, timeChart, pts, page, params, route, start, picker,
    PALETTE, SignInRequired,
  };
})();
