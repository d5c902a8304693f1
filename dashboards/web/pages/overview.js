// Overview: every site as a tile on a schematic of Heze's field network (live status, last
// reading, open alerts), data completeness per device kind, open alerts by severity, ingest
// rate, dead letters. One request (/api/v1/overview) plus health and dead letters.
"use strict";

FL.addStrings({
  zh: {
    "ov.sites": "站点", "ov.energy": "能源场站", "ov.farm": "农业站点", "ov.other": "其他",
    "ov.last": "最新读数 {when}", "ov.never": "尚无读数", "ov.devices": "{n} 台设备",
    "ov.status.live": "在线", "ov.status.late": "延迟", "ov.status.silent": "离线",
    "ov.alerts": "未处理告警", "ov.alerts.none": "无未处理告警", "ov.rate": "接入速率（条/秒，近 10 分钟）",
    "ov.dead": "近 24 小时死信", "ov.up": "运行 {min} 分钟 · 版本 {version}", "ov.series": "已存序列",
    "ov.completeness": "近 24 小时数据完整率（按设备类型）", "ov.completeness.axis": "完整率 %",
    "ov.empty": "还没有数据。向 fl/v1/{site}/{kind}/{device}/telemetry 发布，或运行 `fieldline demo`。",
    "ov.kinds": "{kinds}", "ov.problems": "存储异常",
  },
  en: {
    "ov.sites": "Sites", "ov.energy": "Energy plants", "ov.farm": "Farm sites", "ov.other": "Other",
    "ov.last": "last reading {when}", "ov.never": "no readings yet", "ov.devices": "{n} devices",
    "ov.status.live": "live", "ov.status.late": "late", "ov.status.silent": "silent",
    "ov.alerts": "open alerts", "ov.alerts.none": "no open alerts", "ov.rate": "readings/s ingested (last 10 min)",
    "ov.dead": "dead letters in the last 24 h", "ov.up": "up {min} min · version {version}", "ov.series": "series stored",
    "ov.completeness": "Data completeness over the last 24 h, per device kind", "ov.completeness.axis": "completeness %",
    "ov.empty": "No data yet. Publish to fl/v1/{site}/{kind}/{device}/telemetry or run `fieldline demo`.",
    "ov.kinds": "{kinds}", "ov.problems": "storage problem",
  },
});

(() => {
  const { el, t } = FL;
  const ENERGY = new Set(["wind_turbine", "pv_inverter", "plant"]);
  const FARM = new Set(["peony_plot", "pest_trap"]);

  /**
   * Per device kind: live while its last reading is within 3 usual intervals (at least 15 min)
   * of the server's clock, late within 12, else silent. A site is as bad as its worst kind.
   */
  function kindStatus(k, nowMs) {
    if (!k.last) return "silent";
    const step = Math.max(300, k.cadence_s || 300) * 1000;
    const age = nowMs - Date.parse(k.last);
    return age <= Math.max(3 * step, 15 * 60e3) ? "live" : age <= 12 * step ? "late" : "silent";
  }
  const RANK = { live: 0, late: 1, silent: 2 };
  const status = (site, nowMs) => site.kinds.map((k) => kindStatus(k, nowMs)).reduce((a, b) => (RANK[b] > RANK[a] ? b : a), "live");
  const statusClass = { live: "good", late: "warn", silent: "bad" };

  function tile(site, nowMs) {
    const st = site.kinds.length ? status(site, nowMs) : "silent";
    const devices = site.kinds.reduce((n, k) => n + k.devices, 0);
    const alerts = Object.entries(site.open_alerts || {}).filter(([, n]) => n > 0);
    const link = site.kinds.some((k) => k.kind === "plant") ? `#/grid?site=${encodeURIComponent(site.site)}`
      : site.kinds.some((k) => k.kind === "pest_trap") ? "#/pests"
        : site.kinds.some((k) => k.kind === "peony_plot") ? "#/farm" : null;
    return el("div", { class: "card site", "data-site": site.site },
      el("div", {}, el("span", { class: `badge ${statusClass[st]}` }, t(`ov.status.${st}`)), " ",
        link ? el("a", { href: link, class: "big" }, site.site) : el("span", { class: "big" }, site.site)),
      el("div", {}, site.kinds.map((k) => FL.kindName(k.kind)).join(" · ")),
      el("div", { class: "muted" }, t("ov.devices", { n: devices }), " · ",
        site.last ? t("ov.last", { when: FL.ago(site.last, nowMs) }) : t("ov.never")),
      el("div", {}, alerts.length
        ? alerts.map(([sev, n]) => el("span", { class: `badge ${sev}` }, `${t(`sev.${sev}`)} ${n}`))
        : el("span", { class: "muted" }, t("ov.alerts.none"))));
  }

  FL.page("overview", {
    nav: "nav.overview",
    async render() {
      const [ov, dead, health] = await Promise.all([
        FL.api("/api/v1/overview"),
        FL.api("/api/v1/deadletters?limit=1000&start=-24h"),
        // 503 with the problems while the store cannot persist: shown, not an error page.
        fetch("/health").then((r) => r.json()).catch((e) => ({ uptime_s: null, version: "?", problems: [e.message] })),
      ]);
      const nowMs = Date.parse(ov.now);
      if (!ov.sites.length) return [el("h2", {}, t("ov.sites")), FL.note(t("ov.empty"))];
      const groups = [["ov.energy", (s) => s.kinds.some((k) => ENERGY.has(k.kind))],
        ["ov.farm", (s) => s.kinds.some((k) => FARM.has(k.kind))], ["ov.other", () => true]];
      const placed = new Set();
      const schematic = groups.map(([label, test]) => {
        const sites = ov.sites.filter((s) => !placed.has(s.site) && test(s));
        sites.forEach((s) => placed.add(s.site));
        return sites.length ? el("div", { class: "panel" }, el("h3", {}, t(label)), el("div", { class: "cards" }, sites.map((s) => tile(s, nowMs)))) : null;
      });
      const open = ov.open_alerts || {};
      const sevCards = ["critical", "warning", "info"].map((sev) =>
        FL.card(String(open[sev] || 0), `${t("ov.alerts")} · ${t(`sev.${sev}`)}`, open[sev] ? (sev === "info" ? "" : "bad") : "good"));
      // Completeness per kind over every site, weighted by devices.
      const byKind = new Map();
      for (const s of ov.sites) for (const k of s.kinds) {
        if (k.completeness_24h === null) continue;
        const e = byKind.get(k.kind) || { sum: 0, n: 0 };
        e.sum += k.completeness_24h * k.devices; e.n += k.devices;
        byKind.set(k.kind, e);
      }
      const kinds = [...byKind.keys()].sort();
      const completeness = FL.chart("completeness", {
        grid: { left: 120, right: 64, top: 10, bottom: 30 },
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, valueFormatter: (v) => `${FL.num(v, 1)} %` },
        xAxis: { type: "value", min: 0, max: 100, name: t("ov.completeness.axis"), nameLocation: "middle", nameGap: 22 },
        yAxis: { type: "category", data: kinds.map(FL.kindName) },
        series: [{ type: "bar", data: kinds.map((k) => {
          const v = (100 * byKind.get(k).sum) / byKind.get(k).n;
          return { value: Number(v.toFixed(1)), itemStyle: { color: v >= 95 ? "#1e7b34" : v >= 80 ? "#a15c00" : "#b3261e" } };
        }), label: { show: true, position: "right", formatter: (p) => `${p.value} %` } }],
      }, { height: 40 + 34 * kinds.length });
      return [
        el("div", { class: "cards" },
          ...sevCards,
          FL.card(FL.num(ov.ingest.readings_per_s, 1), t("ov.rate")),
          FL.card(String(dead.deadletters.length), t("ov.dead"), dead.deadletters.length ? "warn" : "good"),
          FL.card(String(ov.series), t("ov.series")),
          (health.problems || []).length
            ? FL.card("!", `${t("ov.problems")}: ${health.problems.join("; ")}`, "bad")
            : FL.card("✓", t("ov.up", { min: Math.round(health.uptime_s / 60), version: health.version }), "good")),
        el("h2", {}, t("ov.sites")),
        ...schematic,
        el("h2", {}, t("ov.completeness")),
        completeness,
      ];
    },
  });
})();
