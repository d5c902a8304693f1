// 产业大脑 feed: one day's bundle as a recipient sees it (its groups and sites only), the
// bundle's JSON as sent, and the delivery log (what left, to whom, when, its hash).
"use strict";

FL.addStrings({
  zh: {
    "br.title": "产业大脑 每日指标包", "br.date": "日期", "br.as": "按接收方查看", "br.whole": "完整包（本机）",
    "br.allowed": "该接收方可接收：{groups}；站点：{sites}", "br.allsites": "全部",
    "br.g.plots": "地块", "br.g.traps": "测报灯", "br.g.plants": "场站", "br.g.sites": "站点", "br.g.market": "市场",
    "br.plot": "地块", "br.crop": "作物", "br.stage": "生育期", "br.gdd": "积温 °C·d", "br.bloom": "开花期 P50（P10–P90）",
    "br.et0": "ET0 毫米", "br.advice": "灌溉建议", "br.frost": "72 小时霜冻", "br.irrigate": "{date} 前灌 {mm} 毫米", "br.noirr": "无需灌溉", "br.wait": "等雨：{date} 预报 {mm} 毫米",
    "br.trap": "测报灯", "br.species": "虫种", "br.catch": "日诱虫量", "br.level": "预警等级", "br.trend": "趋势", "br.flight": "当前代发生期",
    "br.site": "站点", "br.energy": "昨日电量 兆瓦时", "br.cap": "装机 兆瓦", "br.acc_st": "短期准确率", "br.acc_us": "超短期准确率",
    "br.curt": "限电 小时 / 兆瓦时", "br.complete": "数据完整率", "br.open": "未处理告警",
    "br.item": "品种", "br.market": "市场", "br.price": "价格", "br.unit": "单位", "br.change": "7 日涨跌",
    "br.json": "指标包原文（JSON，接收方收到的字节）", "br.download": "下载",
    "br.log": "发送记录", "br.at": "时间", "br.recipient": "接收方", "br.channel": "通道", "br.target": "目标", "br.groups": "指标组",
    "br.status": "状态", "br.attempts": "尝试", "br.hash": "SHA-256", "br.bytes": "字节",
    "br.nolog": "还没有发送记录：每日包在当地时间零点后生成并发送。", "br.none": "—",
    "br.st.published": "已发布", "br.st.delivered": "已送达", "br.st.failed": "失败",
    "frost.low": "低", "frost.moderate": "中", "frost.high": "高",
    "trend.rising": "上升", "trend.falling": "下降", "trend.steady": "平稳",
  },
  en: {
    "br.title": "Industry brain (产业大脑) daily bundle", "br.date": "Date", "br.as": "View as recipient", "br.whole": "whole bundle (this host)",
    "br.allowed": "This recipient may receive: {groups}; sites: {sites}", "br.allsites": "all",
    "br.g.plots": "plots", "br.g.traps": "traps", "br.g.plants": "plants", "br.g.sites": "sites", "br.g.market": "market",
    "br.plot": "plot", "br.crop": "crop", "br.stage": "stage", "br.gdd": "GDD °C·d", "br.bloom": "bloom P50 (P10–P90)",
    "br.et0": "ET0 mm", "br.advice": "irrigation", "br.frost": "frost 72 h", "br.irrigate": "irrigate {mm} mm by {date}", "br.noirr": "none needed", "br.wait": "wait for {mm} mm of rain on {date}",
    "br.trap": "trap", "br.species": "species", "br.catch": "daily catch", "br.level": "level", "br.trend": "trend", "br.flight": "current flight",
    "br.site": "site", "br.energy": "energy MWh", "br.cap": "capacity MW", "br.acc_st": "short-term accuracy", "br.acc_us": "ultra-short accuracy",
    "br.curt": "curtailed h / MWh", "br.complete": "completeness", "br.open": "open alerts",
    "br.item": "item", "br.market": "market", "br.price": "price", "br.unit": "unit", "br.change": "7-day change",
    "br.json": "The bundle as sent (JSON, the bytes a recipient receives)", "br.download": "download",
    "br.log": "Delivery log", "br.at": "at", "br.recipient": "recipient", "br.channel": "channel", "br.target": "target", "br.groups": "groups",
    "br.status": "status", "br.attempts": "attempts", "br.hash": "SHA-256", "br.bytes": "bytes",
    "br.nolog": "No deliveries yet: the daily bundle is built and sent after local midnight.", "br.none": "–",
    "br.st.published": "published", "br.st.delivered": "delivered", "br.st.failed": "failed",
    "frost.low": "low", "frost.moderate": "moderate", "frost.high": "high",
    "trend.rising": "rising", "trend.falling": "falling", "trend.steady": "steady",
  },
});

(() => {
  const { el, t } = FL;
  const GROUPS = ["plots", "traps", "plants", "sites", "market"];
  const table = (heads, rows) => el("table", {}, el("tr", {}, heads.map(([k, num]) => el("th", { class: num ? "num" : "" }, t(k)))), rows);
  const td = (x, num = false) => el("td", { class: num ? "num" : "" }, x ?? t("br.none"));

  function plots(list) {
    return table([["br.plot"], ["br.crop"], ["br.stage"], ["br.gdd", 1], ["br.bloom"], ["br.et0", 1], ["br.advice"], ["br.frost"]],
      list.map((p) => {
        const bloom = (p.bloom || []).find((b) => b.stage === "bloom") || (p.bloom || []).at(-1);
        const adv = p.water?.advice;
        return el("tr", {}, td(`${p.site}/${p.plot}`), td(FL.lang() === "zh" ? p.crop_zh || p.crop : p.crop), td(FL.stageName(p.stage)),
          td(FL.num(p.gdd, 0), true),
          td(bloom ? (bloom.reached ? `${FL.day(bloom.reached)} ✓` : `${FL.day(bloom.p50)}（${FL.day(bloom.p10)}–${FL.day(bloom.p90)}）`) : null),
          td(FL.num(p.et0_mm, 1), true),
          td(adv?.action === "irrigate" ? t("br.irrigate", { mm: FL.num(adv.amount_mm, 0), date: FL.day(adv.by) })
            : adv?.action === "wait_for_rain" ? t("br.wait", { mm: FL.num(adv.rain_mm, 0), date: FL.day(adv.rain_on) }) : t("br.noirr")),
          td(p.frost ? `${t(`frost.${p.frost.level}`)} (${FL.num(p.frost.min_temp_c, 1)} °C)` : null));
      }));
  }

  function traps(list) {
    const rows = list.flatMap((tr) => (tr.species || []).map((s) => el("tr", {},
      td(`${tr.site}/${tr.trap}`), td(FL.lang() === "zh" ? s.name_zh || s.species : s.species.replace(/_/g, " ")),
      td(FL.num(s.daily_catch, 0), true), td(el("span", { class: `badge l${s.level}` }, String(s.level))),
      td(t(`trend.${s.trend}`)),
      td(s.flight ? `${FL.day(s.flight.onset)} / ${FL.day(s.flight.peak)} / ${FL.day(s.flight.end)}` : null))));
    return table([["br.trap"], ["br.species"], ["br.catch", 1], ["br.level"], ["br.trend"], ["br.flight"]], rows);
  }

  function plants(list) {
    return table([["br.site"], ["br.energy", 1], ["br.cap", 1], ["br.acc_st", 1], ["br.acc_us", 1], ["br.curt", 1]],
      list.map((p) => el("tr", {}, td(p.site), td(FL.num(p.energy_mwh, 1), true), td(FL.num(p.capacity_mw, 0), true),
        td(FL.pct(p.accuracy?.short_term?.accuracy), true), td(FL.pct(p.accuracy?.ultra_short?.accuracy), true),
        td(`${FL.num(p.curtailment?.hours, 1)} / ${FL.num(p.curtailment?.energy_mwh, 1)}`, true))));
  }

  function sites(list) {
    return table([["br.site"], ["br.complete", 1], ["br.open", 1]],
      list.map((s) => el("tr", {}, td(s.site), td(FL.pct(s.completeness?.overall), true), td(String(s.open_alerts?.total ?? 0), true))));
  }

  function market(list) {
    return table([["br.item"], ["br.market"], ["br.price", 1], ["br.unit"], ["br.change", 1]],
      list.map((m) => el("tr", {}, td(m.item), td(m.market), td(FL.num(m.price, 2), true), td(m.unit),
        td(FL.isNum(m.change_7d_pct) ? `${m.change_7d_pct > 0 ? "+" : ""}${FL.num(m.change_7d_pct, 1)} %` : null, true))));
  }

  const RENDER = { plots, traps, plants, sites, market };

  FL.page("brain", {
    nav: "nav.brain",
    async render(params) {
      const date = params.get("date") || "";
      const [bundle, log] = await Promise.all([
        FL.api(`/api/v1/brain/indicators${date ? `?date=${encodeURIComponent(date)}` : ""}`),
        FL.api("/api/v1/brain/deliveries").catch(() => ({ deliveries: [] })),
      ]);
      const deliveries = log.deliveries || [];
      // Recipients as the log knows them: their groups and sites.
      const recipients = new Map();
      for (const d of deliveries) if (d.channel !== "mqtt" && !recipients.has(d.recipient)) recipients.set(d.recipient, d);
      const as = params.get("as") || "";
      const who = recipients.get(as);
      const groups = who ? who.groups : GROUPS;
      const siteFilter = who && who.sites && who.sites.length ? new Set(who.sites) : null;
      const keep = (list) => (siteFilter ? list.filter((x) => !x.site || siteFilter.has(x.site)) : list);
      const view = {};
      for (const g of GROUPS) if (groups.includes(g)) view[g] = g === "market" ? bundle[g] || [] : keep(bundle[g] || []);
      const shown = { ...bundle, ...Object.fromEntries(GROUPS.filter((g) => !groups.includes(g)).map((g) => [g, undefined])), ...view, groups };
      const json = JSON.stringify(shown, null, 2);
      const dates = [...new Set(deliveries.map((d) => d.date))].sort().reverse();
      const controls = el("div", { class: "filters" },
        el("label", {}, t("br.date"), " ", el("input", { type: "date", value: bundle.date, onchange: (e) => {
          const p = FL.params(); p.set("date", e.target.value); location.hash = `#/brain?${p}`;
        } })),
        dates.length ? el("span", { class: "muted" }, dates.slice(0, 5).map((d) => el("a", { href: `#/brain?date=${d}${as ? `&as=${as}` : ""}` }, `${d} `))) : null,
        el("label", {}, t("br.as"), " ", el("select", { onchange: (e) => {
          const p = FL.params(); if (e.target.value) p.set("as", e.target.value); else p.delete("as"); location.hash = `#/brain?${p}`;
        } }, el("option", { value: "" }, t("br.whole")), [...recipients.keys()].map((r) => el("option", { value: r, selected: r === as ? "" : null }, r)))));
      const sections = GROUPS.filter((g) => groups.includes(g) && (view[g] || []).length)
        .map((g) => [el("h3", {}, t(`br.g.${g}`)), RENDER[g](view[g])]);
      const logRows = deliveries.slice(0, 200).map((d) => el("tr", {},
        td(FL.time(d.at)), td(d.date), td(d.recipient), td(d.channel), td(el("code", {}, d.target)),
        td(d.groups.map((g) => t(`br.g.${g}`)).join("、")), td(el("span", { class: d.status === "failed" ? "bad" : "good" }, t(`br.st.${d.status}`))), td(String(d.attempts), true),
        td(el("code", { title: d.sha256 }, d.sha256.slice(0, 12) + "…")), td(String(d.bytes), true)));
      return [
        el("h2", {}, t("br.title"), " · ", FL.day(bundle.date, true)),
        controls,
        who ? FL.note(t("br.allowed", { groups: who.groups.map((g) => t(`br.g.${g}`)).join("、"), sites: siteFilter ? [...siteFilter].join(", ") : t("br.allsites") })) : null,
        el("div", { class: "panel" }, sections),
        el("details", { class: "panel" }, el("summary", {}, t("br.json"), " · ",
          el("a", { href: URL.createObjectURL(new Blob([json], { type: "application/json" })), download: `brain-${bundle.date}${as ? `-${as}` : ""}.json` }, t("br.download"))),
        el("pre", {}, json)),
        el("h2", {}, t("br.log")),
        logRows.length ? table([["br.at"], ["br.date"], ["br.recipient"], ["br.channel"], ["br.target"], ["br.groups"], ["br.status"], ["br.attempts", 1], ["br.hash"], ["br.bytes", 1]], logRows)
          : FL.note(t("br.nolog")),
      ];
    },
  });
})();
