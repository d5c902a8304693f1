// Page "grid": a plant's power forecasts for its forecasting engineer before the dispatch
// calls: measured power with curtailment, the latest ultra-short and short-term forecasts
// (P10–P90), the weather forecast (NWP) they were made from, the accuracy and qualification
// rate as dispatch assesses them, and the E files dispatch ingests.
"use strict";

(() => {
  FL.addStrings({
    zh: {
      "grid.title": "功率预测 · {site}",
      "grid.site": "场站",
      "grid.kind.wind": "风电场",
      "grid.kind.pv": "光伏电站",
      "grid.kind.unknown": "场站",
      "grid.no_plants": "还没有场站关口表数据（plant / power_mw），无法对照功率预测。",
      "grid.intro.wind": "风电场：预测主要依据数值天气预报的 100 米风速。时间为北京时间。",
      "grid.intro.pv": "光伏电站：预测主要依据数值天气预报的总辐照度和云量。时间为北京时间。",
      "grid.intro.unknown": "时间为北京时间。",
      "grid.card.capacity": "装机容量",
      "grid.card.latest": "最新实测功率（{time}）",
      "grid.card.us": "超短期预测发布时间",
      "grid.card.st": "短期预测发布时间",
      "grid.card.month": "{month} 短期预测准确率（月均）",
      "grid.card.none": "无",
      "grid.power.title": "实测功率与预测",
      "grid.power.note": "实测为关口表 {every} 平均功率；预测为最新一次发布的 P50，阴影带为 P10–P90 区间。",
      "grid.power.curtailed": "红色阴影：限电时段（共 {n} 段，约 {h} 小时）。限电时段在考核中剔除（见下表“剔除点数”）。",
      "grid.power.no_curtail": "本时段没有限电。",
      "grid.power.empty": "此时段没有关口表功率数据，图中只有预测。",
      "grid.power.nothing": "此时段既没有实测功率，也没有预测。",
      "grid.s.measured": "实测功率",
      "grid.s.available": "可用功率",
      "grid.s.us": "超短期预测 P50",
      "grid.s.us_band": "超短期 P10–P90",
      "grid.s.st": "短期预测 P50",
      "grid.s.st_band": "短期 P10–P90",
      "grid.mark.curtailed": "限电",
      "grid.axis.power": "功率（MW）",
      "grid.no_us": "尚无超短期预测（此场站还未发布）。",
      "grid.no_st": "尚无短期预测（此场站还未发布）。",
      "grid.nwp.title": "数值天气预报（NWP）",
      "grid.nwp.run": "最新一次预报：{issued} 起报，覆盖 {from} 至 {to}。",
      "grid.nwp.old": "注意：最新一次预报没有覆盖当前时刻，数值天气预报数据可能中断。",
      "grid.nwp.none": "此场站没有数值天气预报数据（nwp），预测缺少气象输入。",
      "grid.nwp.wind": "100 米风速",
      "grid.nwp.ghi": "总辐照度 GHI",
      "grid.nwp.cloud": "总云量",
      "grid.nwp.temp": "2 米气温",
      "grid.nwp.precip": "降水（15 分钟）",
      "grid.nwp.rh": "相对湿度",
      "grid.nwp.axis.wind": "m/s",
      "grid.nwp.axis.ghi": "W/m²",
      "grid.nwp.axis.cloud": "%",
      "grid.nwp.axis.temp": "°C",
      "grid.nwp.axis.precip": "mm",
      "grid.nwp.driver": "主要预测因子",
      "grid.nwp.weather": "气温与降水",
      "grid.nwp.no_field": "最新一次预报中没有这些字段。",
      "grid.acc.title": "预测准确率与合格率（近 31 天）",
      "grid.acc.note": "按调度考核口径逐日计算：短期为前一日发布的预测，超短期为每个时段第 4 小时的预测值。考核线 {line}，达标为绿色，未达标为红色。",
      "grid.acc.none": "近 31 天没有考核结果（预测尚未满一整天，或关口表缺数）。",
      "grid.acc.acc": "准确率",
      "grid.acc.qr": "合格率",
      "grid.acc.line": "考核线 {line}",
      "grid.acc.st": "短期",
      "grid.acc.us": "超短期",
      "grid.acc.daily": "逐日考核",
      "grid.acc.monthly": "月度考核（日值平均）",
      "grid.acc.date": "日期",
      "grid.acc.month": "月份",
      "grid.acc.horizon": "预测类型",
      "grid.acc.days": "天数",
      "grid.acc.excluded": "剔除点数（限电）",
      "grid.acc.rmse": "均方根误差（MW）",
      "grid.efile.title": "E 文件（上报调度）",
      "grid.efile.st": "短期预测 E 文件",
      "grid.efile.us": "超短期预测 E 文件",
      "grid.efile.issued": "{issued} 发布，{n} 个点",
      "grid.efile.none": "尚未发布",
      "grid.efile.note": "文件按 Q/GDW 215-2008 风格的 E 语言格式生成，内容为最新一次发布的预测。",
    },
    en: {
      "grid.title": "Power forecasting · {site}",
      "grid.site": "Plant",
      "grid.kind.wind": "wind farm",
      "grid.kind.pv": "PV plant",
      "grid.kind.unknown": "plant",
      "grid.no_plants": "No plant meter data (plant / power_mw) yet, so there is nothing to compare forecasts with.",
      "grid.intro.wind": "Wind farm: the forecast is driven mainly by the weather forecast's 100 m wind speed. Times in UTC+8.",
      "grid.intro.pv": "PV plant: the forecast is driven mainly by the weather forecast's irradiance (GHI) and cloud cover. Times in UTC+8.",
      "grid.intro.unknown": "Times in UTC+8.",
      "grid.card.capacity": "Installed capacity",
      "grid.card.latest": "Latest measured power ({time})",
      "grid.card.us": "Ultra-short forecast issued",
      "grid.card.st": "Short-term forecast issued",
      "grid.card.month": "Short-term accuracy, {month} (monthly mean)",
      "grid.card.none": "none",
      "grid.power.title": "Measured power and forecasts",
      "grid.power.note": "Measured: plant meter, {every} means. Forecasts: P50 of the latest issue, with the P10–P90 band shaded.",
      "grid.power.curtailed": "Red shading: curtailment ({n} stretches, about {h} h). Curtailed slots are excluded from the assessment (see “excluded” below).",
      "grid.power.no_curtail": "No curtailment in this period.",
      "grid.power.empty": "No plant meter power in this period; the chart shows the forecasts only.",
      "grid.power.nothing": "Neither measured power nor forecasts in this period.",
      "grid.s.measured": "Measured",
      "grid.s.available": "Available",
      "grid.s.us": "Ultra-short P50",
      "grid.s.us_band": "Ultra-short P10–P90",
      "grid.s.st": "Short-term P50",
      "grid.s.st_band": "Short-term P10–P90",
      "grid.mark.curtailed": "curtailed",
      "grid.axis.power": "Power (MW)",
      "grid.no_us": "No ultra-short forecast yet (none issued for this plant).",
      "grid.no_st": "No short-term forecast yet (none issued for this plant).",
      "grid.nwp.title": "Weather forecast (NWP)",
      "grid.nwp.run": "Latest run: issued {issued}, valid {from} to {to}.",
      "grid.nwp.old": "Note: the latest run does not cover the present; the weather feed may have stopped.",
      "grid.nwp.none": "No weather forecast (nwp) for this plant: the power forecast lacks its weather input.",
      "grid.nwp.wind": "Wind speed (100 m)",
      "grid.nwp.ghi": "GHI",
      "grid.nwp.cloud": "Cloud cover",
      "grid.nwp.temp": "Air temp. (2 m)",
      "grid.nwp.precip": "Precip. (15 min)",
      "grid.nwp.rh": "Relative humidity",
      "grid.nwp.axis.wind": "m/s",
      "grid.nwp.axis.ghi": "W/m²",
      "grid.nwp.axis.cloud": "%",
      "grid.nwp.axis.temp": "°C",
      "grid.nwp.axis.precip": "mm",
      "grid.nwp.driver": "Main forecast drivers",
      "grid.nwp.weather": "Temperature and precipitation",
      "grid.nwp.no_field": "The latest run has none of these fields.",
      "grid.acc.title": "Forecast accuracy and qualification rate (last 31 days)",
      "grid.acc.note": "Scored per day as dispatch assesses it: the short-term forecast issued the day before, each slot's 4th-hour ultra-short value. Assessment line {line}: green meets it, red falls short.",
      "grid.acc.none": "No assessment in the last 31 days (no full day of forecasts yet, or meter data missing).",
      "grid.acc.acc": "Accuracy",
      "grid.acc.qr": "Qualification rate",
      "grid.acc.line": "assessment line {line}",
      "grid.acc.st": "short-term",
      "grid.acc.us": "ultra-short",
      "grid.acc.daily": "Daily assessment",
      "grid.acc.monthly": "Monthly assessment (mean of the days)",
      "grid.acc.date": "Date",
      "grid.acc.month": "Month",
      "grid.acc.horizon": "Horizon",
      "grid.acc.days": "Days",
      "grid.acc.excluded": "Excluded slots (curtailed)",
      "grid.acc.rmse": "RMSE (MW)",
      "grid.efile.title": "E files for dispatch",
      "grid.efile.st": "Short-term E file",
      "grid.efile.us": "Ultra-short E file",
      "grid.efile.issued": "issued {issued}, {n} points",
      "grid.efile.none": "not issued yet",
      "grid.efile.note": "E-language files in the Q/GDW 215-2008 style, holding the latest issued forecast.",
    },
  });

  const t = FL.t;
  const el = FL.el;
  const enc = encodeURIComponent;
  const LINE = 0.8; // dispatch's assessment line for accuracy and qualification rate
  const GOOD = "#1e7b34";
  const BAD = "#b3261e";

  const { soft, everyMs, everyText } = FL;


  /** The series of `field` in a query answer, as [[time, value]] with numbers only. */
  function field(answer, name) {
    const s = (answer?.series || []).find((x) => x.field === name);
    return (s?.points || []).filter((p) => FL.isNum(p[1]));
  }

  /** Consecutive windows whose curtailed mean is > 0, as marks; plus the curtailed hours. */
  function curtailment(points, stepMs) {
    const marks = [];
    let hours = 0;
    let cur = null;
    for (const [time, v] of points) {
      const t0 = FL.ms(time);
      if (!(v > 0)) { cur = null; continue; }
      hours += (v * stepMs) / 3600e3;
      if (cur && t0 <= cur.toMs) { cur.toMs = t0 + stepMs; cur.to = cur.toMs; continue; }
      cur = { from: t0, toMs: t0 + stepMs, to: t0 + stepMs };
      marks.push(cur);
    }
    return { marks: marks.map(({ from, to }) => ({ from, to })), hours };
  }

  /** The latest NWP run of `site` and its values: {issued, answer, covers} or null. */
  async function latestNwp(site) {
    // One point of every run valid from now on tells which runs exist and when "now" is.
    const now = await FL.maybe(`/api/v1/query?measurement=nwp&site=${enc(site)}&start=now&limit=1`);
    let runs = (now?.series || []).map((s) => ({ issued: s.tags?.issued, first: FL.ms(s.points?.[0]?.[0]) }))
      .filter((r) => r.issued);
    let covers = runs.length > 0;
    if (!runs.length) {
      // No run reaches the present: fall back to the list of every stored run.
      const list = await FL.maybe(`/api/v1/series?measurement=nwp&site=${enc(site)}`);
      runs = (list?.series || []).filter((s) => s.tags?.issued).map((s) => ({ issued: s.tags.issued, first: Infinity }));
    }
    if (!runs.length) return null;
    const nowMs = Math.min(...runs.map((r) => r.first));
    const known = runs.filter((r) => FL.ms(r.issued) <= nowMs);
    const pick = (known.length ? known : runs).reduce((a, b) => (FL.ms(b.issued) > FL.ms(a.issued) ? b : a));
    const answer = await FL.maybe(`/api/v1/query?measurement=nwp&site=${enc(site)}&tag=${enc(`issued:${pick.issued}`)}&tz=${FL.TZ}`);
    return { issued: pick.issued, answer, covers };
  }

  /**
   * core.js's timeChart draws its toolbox over the right axis' name and top tick label when
   * there is a second y axis; on these small charts, hide the toolbox once the chart is drawn
   * (zooming still works with the wheel and the slider). To drop when timeChart places its
   * toolbox clear of a second axis itself.
   */
  function clearRightAxis(box) {
    setTimeout(() => {
      const inst = window.echarts && echarts.getInstanceByDom(box);
      if (inst && !inst.isDisposed()) inst.setOption({ toolbox: { show: false } });
    }, 0);
    return box;
  }

  /** A card with a forecast's issue time: the clock time big, the day in the label. */
  function issuedCard(fc, key) {
    if (!fc) return FL.card(t("grid.card.none"), t(key), "warn");
    const when = String(fc.issued);
    return FL.card(FL.time(when).slice(-5), `${t(key)} · ${FL.day(when)}`);
  }

  const cell = (v, cls) => el("td", { class: `num ${cls || ""}` }, v);
  const rateCell = (v) => cell(FL.isNum(v) ? FL.pct(v) : "–", FL.isNum(v) ? (v >= LINE ? "good" : "bad") : "");

  function siteKind(site, windSites, pvSites) {
    if (windSites.has(site)) return "wind";
    if (pvSites.has(site)) return "pv";
    if (/wind|wf|风/i.test(site)) return "wind";
    if (/pv|solar|光/i.test(site)) return "pv";
    return "unknown";
  }

  async function render(params) {
    const [meters, wind, pv] = await Promise.all([
      FL.api("/api/v1/series?measurement=plant&field=power_mw"),
      soft(FL.api("/api/v1/series?measurement=wind_turbine&field=power_kw")),
      soft(FL.api("/api/v1/series?measurement=pv_inverter&field=ac_power_kw")),
    ]);
    const sites = [...new Set((meters.series || []).map((s) => s.tags?.site).filter(Boolean))].sort();
    const windSites = new Set((wind?.series || []).map((s) => s.tags?.site));
    const pvSites = new Set((pv?.series || []).map((s) => s.tags?.site));
    if (!sites.length) return [el("h2", {}, t("nav.grid")), FL.note(t("grid.no_plants"))];
    const site = sites.includes(params.get("site")) ? params.get("site") : sites[0];
    const kind = siteKind(site, windSites, pvSites);
    const every = FL.every();
    const step = everyMs(every);
    const s = enc(site);

    const [plant, us, st, acc, nwp] = await Promise.all([
      soft(FL.api(`/api/v1/query?measurement=plant&site=${s}&start=${FL.since()}&every=${every}&agg=mean&tz=${FL.TZ}`)),
      soft(FL.maybe(`/api/v1/forecasts?site=${s}&horizon=ultra_short&tz=${FL.TZ}`)),
      soft(FL.maybe(`/api/v1/forecasts?site=${s}&horizon=short_term&tz=${FL.TZ}`)),
      soft(FL.maybe(`/api/v1/forecasts/accuracy?site=${s}&from=-31d&tz=${FL.TZ}`)),
      soft(latestNwp(site)),
    ]);

    const out = [];
    const picker = FL.picker("grid", "site", sites, site, (v) => `${v} · ${t(`grid.kind.${siteKind(v, windSites, pvSites)}`)}`);
    out.push(el("h2", {}, t("grid.title", { site })));
    out.push(el("div", { class: "filters" }, el("label", {}, t("grid.site"), " ", picker),
      el("span", { class: "muted" }, t(`grid.intro.${kind}`))));

    // ---- measured power, curtailment, forecasts --------------------------------------------
    const power = field(plant, "power_mw");
    const available = field(plant, "available_mw");
    const capacity = field(plant, "capacity_mw");
    const curt = curtailment(field(plant, "curtailed"), step);
    const usPts = us?.points || [];
    const stPts = st?.points || [];
    const days = acc?.days || [];
    const months = acc?.months || [];

    // Cards: what the engineer checks first.
    const latest = power[power.length - 1];
    const cap = capacity.length ? capacity[capacity.length - 1][1] : days.map((d) => (d.short_term || d.ultra_short)?.capacity_mw).filter(FL.isNum).pop();
    const lastMonth = months.filter((m) => m.horizon === "short_term").sort((a, b) => (a.month < b.month ? -1 : 1)).pop();
    out.push(el("div", { class: "cards" },
      FL.card(FL.isNum(cap) ? `${FL.num(cap, 1)} MW` : "–", t("grid.card.capacity")),
      FL.card(latest ? `${FL.num(latest[1], 2)} MW` : "–", t("grid.card.latest", { time: latest ? FL.time(latest[0]) : "–" })),
      issuedCard(us, "grid.card.us"),
      issuedCard(st, "grid.card.st"),
      lastMonth ? FL.card(FL.pct(lastMonth.accuracy), t("grid.card.month", { month: lastMonth.month }), lastMonth.accuracy >= LINE ? "good" : "bad") : null,
    ));

    out.push(el("h3", {}, t("grid.power.title")));
    const series = [];
    const bands = [];
    if (power.length) series.push({ name: t("grid.s.measured"), data: power, color: "#1d2430" });
    if (available.length) series.push({ name: t("grid.s.available"), data: available, color: "#7a7a7a", dashed: true });
    if (stPts.length) {
      series.push({ name: t("grid.s.st"), data: stPts.map((p) => [p.time, p.p50_mw]), color: "#2f6fb5" });
      bands.push({ name: t("grid.s.st_band"), lo: stPts.map((p) => [p.time, p.p10_mw]), hi: stPts.map((p) => [p.time, p.p90_mw]), color: "#2f6fb5" });
    }
    if (usPts.length) {
      series.push({ name: t("grid.s.us"), data: usPts.map((p) => [p.time, p.p50_mw]), color: "#b5306b" });
      bands.push({ name: t("grid.s.us_band"), lo: usPts.map((p) => [p.time, p.p10_mw]), hi: usPts.map((p) => [p.time, p.p90_mw]), color: "#b5306b" });
    }
    // Labels only on stretches wide enough to hold one; the note below explains the shading.
    const marks = curt.marks.map((m) => ({ ...m, label: m.to - m.from >= (FL.rangeHours() * 3600e3) / 30 ? t("grid.mark.curtailed") : "" }));
    if (!series.length) {
      out.push(FL.note(t("grid.power.nothing")));
    } else {
      out.push(FL.note(t("grid.power.note", { every: everyText(every) })));
      if (!power.length) out.push(FL.note(t("grid.power.empty"), "warn"));
      if (!us) out.push(FL.note(t("grid.no_us"), "warn"));
      if (!st) out.push(FL.note(t("grid.no_st"), "warn"));
      out.push(FL.note(curt.marks.length ? t("grid.power.curtailed", { n: curt.marks.length, h: FL.num(curt.hours, 1) }) : t("grid.power.no_curtail")));
      out.push(FL.timeChart("grid-power", { series, bands, marks, yName: t("grid.axis.power"), yMin: 0, height: 360 }));
    }

    // ---- NWP -------------------------------------------------------------------------------
    out.push(el("h3", {}, t("grid.nwp.title")));
    if (!nwp || !(nwp.answer?.series || []).length) {
      out.push(FL.note(t("grid.nwp.none"), "warn"));
    } else {
      const f = (name) => field(nwp.answer, name);
      const all = nwp.answer.series.flatMap((x) => x.points || []).map((p) => FL.ms(p[0]));
      out.push(FL.note(t("grid.nwp.run", { issued: FL.time(nwp.issued), from: FL.time(Math.min(...all)), to: FL.time(Math.max(...all)) })));
      if (!nwp.covers) out.push(FL.note(t("grid.nwp.old"), "warn"));
      const ws = f("wind_speed_100m_ms"), ghi = f("ghi_wm2"), cloud = f("cloud_cover_pct");
      const temp = f("air_temp_c"), precip = f("precip_mm");
      // What drives this plant's forecast: wind at hub height, or irradiance and cloud.
      let driver = null;
      const wantWind = kind !== "pv" && ws.length;
      const wantSun = kind !== "wind" && ghi.length;
      if (wantWind && wantSun) {
        driver = { series: [{ name: t("grid.nwp.wind"), data: ws, color: "#2f6fb5" }, { name: t("grid.nwp.ghi"), data: ghi, color: "#a15c00", yAxis: 1 }],
          yName: t("grid.nwp.axis.wind"), y2Name: t("grid.nwp.axis.ghi"), yMin: 0 };
      } else if (wantWind) {
        driver = { series: [{ name: t("grid.nwp.wind"), data: ws, color: "#2f6fb5", area: true }], yName: t("grid.nwp.axis.wind"), yMin: 0 };
      } else if (wantSun) {
        const ser = [{ name: t("grid.nwp.ghi"), data: ghi, color: "#a15c00", area: true }];
        if (cloud.length) ser.push({ name: t("grid.nwp.cloud"), data: cloud, color: "#7a7a7a", dashed: true, yAxis: 1 });
        driver = { series: ser, yName: t("grid.nwp.axis.ghi"), y2Name: cloud.length ? t("grid.nwp.axis.cloud") : undefined, yMin: 0 };
      }
      const weather = [];
      if (temp.length) weather.push({ name: t("grid.nwp.temp"), data: temp, color: "#b5306b" });
      if (precip.length) weather.push({ name: t("grid.nwp.precip"), data: precip, color: "#00838f", type: "bar", yAxis: temp.length ? 1 : 0 });
      const box = (title, node) => el("div", {}, el("div", { class: "muted" }, title), node);
      out.push(el("div", { class: "row" },
        box(t("grid.nwp.driver"), driver ? (driver.y2Name ? clearRightAxis : (b) => b)(FL.timeChart("grid-nwp-driver", { ...driver, height: 260 })) : FL.note(t("grid.nwp.no_field"))),
        box(t("grid.nwp.weather"), weather.length ? (temp.length && precip.length ? clearRightAxis : (b) => b)(FL.timeChart("grid-nwp-weather", {
          series: weather, yName: temp.length ? t("grid.nwp.axis.temp") : t("grid.nwp.axis.precip"),
          y2Name: temp.length && precip.length ? t("grid.nwp.axis.precip") : undefined, height: 260,
        })) : FL.note(t("grid.nwp.no_field")))));
    }

    // ---- accuracy and qualification rate ----------------------------------------------------
    out.push(el("h3", {}, t("grid.acc.title")));
    const lineText = FL.pct(LINE, 0);
    if (!days.length) {
      out.push(FL.note(t("grid.acc.none")));
    } else {
      out.push(FL.note(t("grid.acc.note", { line: lineText })));
      const sorted = [...days].sort((a, b) => (a.date < b.date ? -1 : 1));
      const cats = sorted.map((d) => FL.day(d.date));
      const rateChart = (id, key, title) => {
        const line = (h, name, color) => ({
          name, type: "line", symbolSize: 7, connectNulls: false, lineStyle: { color, width: 1.6 }, itemStyle: { color },
          data: sorted.map((d) => {
            const v = d[h]?.[key];
            return FL.isNum(v) ? { value: +(100 * v).toFixed(2), itemStyle: { color: v >= LINE ? GOOD : BAD } } : null;
          }),
        });
        const ser = [line("short_term", t("grid.acc.st"), "#2f6fb5"), line("ultra_short", t("grid.acc.us"), "#b5306b")];
        ser[0].markLine = { silent: true, symbol: "none", data: [{ yAxis: LINE * 100 }],
          lineStyle: { color: BAD, type: "dashed" }, label: { formatter: t("grid.acc.line", { line: lineText }), position: "insideEndTop", color: BAD } };
        const values = ser.flatMap((x) => x.data).filter(Boolean).map((p) => p.value);
        const lo = Math.max(0, Math.floor((Math.min(LINE * 100, ...values) - 5) / 10) * 10);
        return el("div", {}, el("div", { class: "muted" }, title), FL.chart(id, {
          grid: { left: 48, right: 24, top: 36, bottom: 40 },
          legend: { top: 0 },
          tooltip: { trigger: "axis", valueFormatter: (v) => (FL.isNum(v) ? `${v.toFixed(1)} %` : "–") },
          xAxis: { type: "category", data: cats, axisLabel: { hideOverlap: true } },
          yAxis: { type: "value", min: lo, max: 100, axisLabel: { formatter: "{value} %" } },
          series: ser,
        }, { height: 260 }));
      };
      out.push(el("div", { class: "row" },
        rateChart("grid-acc", "accuracy", t("grid.acc.acc")),
        rateChart("grid-qr", "qualified_rate", t("grid.acc.qr"))));

      if (months.length) {
        out.push(el("h3", {}, t("grid.acc.monthly")));
        const ms = [...months].sort((a, b) => (a.month === b.month ? (a.horizon < b.horizon ? -1 : 1) : a.month < b.month ? 1 : -1));
        out.push(el("table", {},
          el("thead", {}, el("tr", {}, el("th", {}, t("grid.acc.month")), el("th", {}, t("grid.acc.horizon")),
            el("th", { class: "num" }, t("grid.acc.acc")), el("th", { class: "num" }, t("grid.acc.qr")), el("th", { class: "num" }, t("grid.acc.days")))),
          el("tbody", {}, ms.map((m) => el("tr", {}, el("td", {}, m.month),
            el("td", {}, m.horizon === "short_term" ? t("grid.acc.st") : m.horizon === "ultra_short" ? t("grid.acc.us") : m.horizon),
            rateCell(m.accuracy), rateCell(m.qualified_rate), cell(FL.isNum(m.days) ? String(m.days) : "–"))))));
      }

      out.push(el("h3", {}, t("grid.acc.daily")));
      const ex = (d) => {
        const v = [d.short_term?.excluded, d.ultra_short?.excluded].filter(FL.isNum);
        return v.length ? String(Math.max(...v)) : "–";
      };
      out.push(el("table", {},
        el("thead", {},
          el("tr", {}, el("th", {}, ""), el("th", { class: "num", colspan: "3" }, t("grid.acc.st")),
            el("th", { class: "num", colspan: "3" }, t("grid.acc.us")), el("th", {}, "")),
          el("tr", {}, el("th", {}, t("grid.acc.date")),
            el("th", { class: "num" }, t("grid.acc.acc")), el("th", { class: "num" }, t("grid.acc.qr")), el("th", { class: "num" }, t("grid.acc.rmse")),
            el("th", { class: "num" }, t("grid.acc.acc")), el("th", { class: "num" }, t("grid.acc.qr")), el("th", { class: "num" }, t("grid.acc.rmse")),
            el("th", { class: "num" }, t("grid.acc.excluded")))),
        el("tbody", {}, [...sorted].reverse().map((d) => el("tr", {}, el("td", {}, FL.day(d.date, true)),
          rateCell(d.short_term?.accuracy), rateCell(d.short_term?.qualified_rate), cell(FL.num(d.short_term?.rmse_mw, 2)),
          rateCell(d.ultra_short?.accuracy), rateCell(d.ultra_short?.qualified_rate), cell(FL.num(d.ultra_short?.rmse_mw, 2)),
          cell(ex(d)))))));
    }

    // ---- E files ---------------------------------------------------------------------------
    out.push(el("h3", {}, t("grid.efile.title")));
    const efile = (h, fc, label) => el("li", {},
      fc ? el("a", { href: `/api/v1/forecasts/efile?site=${s}&horizon=${h}`, download: "" }, label) : el("span", { class: "muted" }, label),
      " ", el("span", { class: "muted" }, fc ? t("grid.efile.issued", { issued: FL.time(fc.issued), n: (fc.points || []).length }) : t("grid.efile.none")));
    out.push(el("div", { class: "panel" },
      el("ul", {}, efile("short_term", st, t("grid.efile.st")), efile("ultra_short", us, t("grid.efile.us"))),
      FL.note(t("grid.efile.note"))));
    return out;
  }

  FL.page("grid", { nav: "nav.grid", render });
})();
