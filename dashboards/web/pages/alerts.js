// Alerts: every alert, open ones first; filters (state, severity, kind, site) kept in the URL,
// acknowledge, and for the
// selected alert the evidence chart: the field around the alert, the alert's time shaded and
// what the detector expected as a line. Messages render from message_key + message_params.
"use strict";

FL.addStrings({
  zh: {
    "al.title": "告警", "al.none": "没有符合条件的告警。", "al.unavailable": "本服务器未启用告警。",
    "al.f.state": "状态", "al.f.severity": "级别", "al.f.kind": "类型", "al.f.site": "站点", "al.f.all": "全部",
    "al.f.active": "未恢复（未处理+已确认）",
    "al.c.state": "状态", "al.c.severity": "级别", "al.c.kind": "类型", "al.c.where": "站点/设备", "al.c.since": "开始",
    "al.c.last": "最近", "al.c.message": "说明", "al.ack": "确认", "al.acked_by": "{who} 确认于 {when}", "al.evidence": "证据",
    "al.ev.title": "证据：{who} {field}", "al.ev.value": "{field}（实测）", "al.ev.expected": "预期 {value}",
    "al.ev.period": "告警时段", "al.ev.nofield": "此告警没有单一字段（例如数据中断），下图为该设备的主要读数。",
    "al.ev.empty": "告警前后没有该设备的读数。", "al.count": "共 {n} 条",
  },
  en: {
    "al.title": "Alerts", "al.none": "No alerts match.", "al.unavailable": "Alerts are not enabled on this server.",
    "al.f.state": "State", "al.f.severity": "Severity", "al.f.kind": "Kind", "al.f.site": "Site", "al.f.all": "all",
    "al.f.active": "active (open + acknowledged)",
    "al.c.state": "state", "al.c.severity": "severity", "al.c.kind": "kind", "al.c.where": "site/device", "al.c.since": "since",
    "al.c.last": "last seen", "al.c.message": "message", "al.ack": "acknowledge", "al.acked_by": "acknowledged by {who} at {when}", "al.evidence": "evidence",
    "al.ev.title": "Evidence: {who} {field}", "al.ev.value": "{field} (measured)", "al.ev.expected": "expected {value}",
    "al.ev.period": "alert period", "al.ev.nofield": "This alert has no single field (e.g. a gap): the chart shows the device's main reading.",
    "al.ev.empty": "No readings of this device around the alert.", "al.count": "{n} alerts",
  },
});

(() => {
  const { el, t } = FL;
  const HOUR = 3600e3;

  /** The device's readings around the alert, the alert shaded, the expectation drawn. */
  async function evidence(a, nowMs) {
    const start = Date.parse(a.start);
    const end = Date.parse(a.resolved || a.last_seen);
    const pad = Math.max(6 * HOUR, (end - start) / 2);
    const from = new Date(start - pad).toISOString();
    const to = new Date(Math.min(end + pad, nowMs)).toISOString();
    const span = end + pad - (start - pad);
    const every = span > 10 * 24 * HOUR ? "1h" : span > 3 * 24 * HOUR ? "15m" : "";
    const field = a.field || (a.measurement && (await FL.maybe("/api/v1/schema")))?.kinds?.find((k) => k.kind === a.measurement)?.fields?.[0]?.name;
    const head = el("h3", {}, t("al.ev.title", { who: `${a.site}/${a.device}`, field: a.field || "" }));
    if (!field || !a.measurement) return [head, FL.note(t("al.ev.empty"))];
    const q = `/api/v1/query?measurement=${encodeURIComponent(a.measurement)}&site=${encodeURIComponent(a.site)}&device=${encodeURIComponent(a.device)}`
      + `&field=${encodeURIComponent(field)}&start=${from}&stop=${to}${every ? `&every=${every}&agg=mean` : ""}`;
    const data = await FL.maybe(q);
    const points = (data?.series || []).flatMap(FL.pts);
    if (!points.length) return [head, FL.note(t("al.ev.empty"))];
    const lines = FL.isNum(a.expected) && a.kind !== "gap" && a.kind !== "peer_drift"
      ? [{ y: a.expected, label: t("al.ev.expected", { value: FL.num(a.expected, 1) }), color: "#1e7b34" }] : [];
    return [head, a.field ? null : FL.note(t("al.ev.nofield")),
      FL.timeChart(`evidence-${a.id}`, {
        series: [{ name: t("al.ev.value", { field }), data: points }],
        marks: [{ from: start, to: Math.max(end, start + 60e3), label: t("al.ev.period") }],
        lines, yName: field,
      })];
  }

  FL.page("alerts", {
    nav: "nav.alerts",
    async render(params) {
      let body;
      try {
        body = await FL.api("/api/v1/alerts?limit=2000");
      } catch (e) {
        if (e.status === 404) return [FL.note(t("al.unavailable"))];
        throw e;
      }
      const overview = await FL.api("/api/v1/overview").catch(() => ({ now: new Date().toISOString() }));
      const nowMs = Date.parse(overview.now);
      const want = { state: params.get("state") || "", severity: params.get("severity") || "", kind: params.get("kind") || "", site: params.get("site") || "" };
      // Open first, then acknowledged, then resolved; newest first within each.
      const ORDER = { open: 0, acknowledged: 1, resolved: 2 };
      const all = body.alerts.slice().sort((a, b) => (ORDER[a.state] ?? 3) - (ORDER[b.state] ?? 3) || Date.parse(b.start) - Date.parse(a.start));
      const shown = all.filter((a) =>
        (want.state === "" ? true : want.state === "active" ? a.state !== "resolved" : a.state === want.state)
        && (!want.severity || a.severity === want.severity) && (!want.kind || a.kind === want.kind) && (!want.site || a.site === want.site));
      const filter = (key, values, label) => el("label", {}, t(label), " ", el("select", { "data-filter": key, onchange: (e) => {
        const p = FL.params(); if (e.target.value) p.set(key, e.target.value); else p.delete(key); p.delete("id");
        location.hash = `#/alerts?${p}`;
      } }, values.map(([v, text]) => el("option", { value: v, selected: v === want[key] ? "" : null }, text))));
      const uniq = (f) => [...new Set(all.map(f))].sort();
      const filters = el("div", { class: "filters" },
        filter("state", [["", t("al.f.all")], ["active", t("al.f.active")], ["open", t("state.open")], ["acknowledged", t("state.acknowledged")], ["resolved", t("state.resolved")]], "al.f.state"),
        filter("severity", [["", t("al.f.all")], ...["critical", "warning", "info"].map((s) => [s, t(`sev.${s}`)])], "al.f.severity"),
        filter("kind", [["", t("al.f.all")], ...uniq((a) => a.kind).map((k) => [k, t(`alert.kind.${k}`)])], "al.f.kind"),
        filter("site", [["", t("al.f.all")], ...uniq((a) => a.site).map((s) => [s, s])], "al.f.site"),
        el("span", { class: "muted" }, t("al.count", { n: shown.length })));
      if (!shown.length) return [el("h2", {}, t("al.title")), filters, FL.note(t("al.none"), "good")];
      const selectedId = params.get("id") || shown[0].id;
      const selected = all.find((a) => a.id === selectedId) || shown[0];
      const select = (id) => { const p = FL.params(); p.set("id", id); location.hash = `#/alerts?${p}`; };
      const rows = shown.slice(0, 500).map((a) => el("tr", { class: a.id === selected.id ? "selected" : "", "data-alert": a.id },
        el("td", { class: a.state === "open" ? "bad" : a.state === "acknowledged" ? "warn" : "good" }, t(`state.${a.state}`)),
        el("td", {}, el("span", { class: `badge ${a.severity}` }, t(`sev.${a.severity}`))),
        el("td", {}, t(`alert.kind.${a.kind}`)),
        el("td", {}, `${a.site}/${a.device}`),
        el("td", {}, FL.time(a.start)), el("td", {}, FL.time(a.last_seen)),
        el("td", {}, FL.alertText(a), a.acknowledged_by ? el("div", { class: "muted" }, t("al.acked_by", { who: a.acknowledged_by, when: FL.time(a.acknowledged) })) : null),
        el("td", {},
          el("button", { class: "evidence", onclick: () => select(a.id) }, t("al.evidence")), " ",
          a.state === "open" ? el("button", { class: "ack", "data-id": a.id, onclick: async (e) => {
            e.target.disabled = true;
            try { await FL.api(`/api/v1/alerts/${encodeURIComponent(a.id)}/ack`, { method: "POST" }); } catch (err) { alert(err.message); }
            FL.route();
          } }, t("al.ack")) : null)));
      return [
        el("h2", {}, t("al.title")), filters,
        el("div", { class: "panel", id: "evidence" }, await evidence(selected, nowMs)),
        el("table", { id: "alerts" }, el("tr", {}, ["al.c.state", "al.c.severity", "al.c.kind", "al.c.where", "al.c.since", "al.c.last", "al.c.message", ""].map((h) => el("th", {}, h ? t(h) : ""))), rows),
      ];
    },
  });
})();
