// Page "health": plant health for the forecasting engineer and maintenance. Wind sites: the
// per-turbine power curve against a curve learned from the whole site, and the periods the
// power-curve detector flagged (icing, pitch faults) on each turbine's power timeline. PV
// sites: each inverter's output and energy against its peers, the performance ratio, and the
// PV alerts.
"use strict";

(() => {
  FL.addStrings({
    zh: {
      "health.title": "设备健康 · {site}",
      "health.site": "场站",
      "health.kind.wind": "风电场",
      "health.kind.pv": "光伏电站",
      "health.none": "还没有风机（wind_turbine）或光伏逆变器（pv_inverter）数据。",
      "health.window": "数据为各设备 {every} 平均值。时间为北京时间。",
      "health.hours": "{n} 小时",
      // wind
      "health.curve.title": "功率曲线（每台风机）",
      "health.curve.note": "每台风机最多显示 {max} 个点（{every} 平均，功率与机舱风速取同一时段）；点击图例可单独显示或隐藏某台风机。粗黑线为本时段学习得到的曲线：全场所有风机的功率在每 0.5 m/s 风速区间内的中位数（少于 {min} 个点的区间不画），含限电和故障时段，不是厂家保证曲线。",
      "health.curve.learned": "学习曲线（本时段全场每 0.5 m/s 中位数）",
      "health.curve.empty": "此时段没有同时刻的风机功率和风速数据，画不出功率曲线。",
      "health.axis.wind": "风速（m/s）",
      "health.axis.kw": "功率（kW）",
      "health.tip.wind": "风速",
      "health.tip.power": "功率",
      "health.turbine.title": "单机功率与告警时段",
      "health.turbine.pick": "风机",
      "health.turbine.note": "阴影为功率曲线告警时段：蓝色为疑似覆冰（期间机舱平均气温 ≤ {t} °C），红色为出力低于曲线（变桨故障、偏航等）。虚线为全场风机功率中位数。",
      "health.turbine.empty": "此风机在此时段没有功率数据。",
      "health.s.power": "{device} 功率",
      "health.s.median": "全场中位数",
      "health.s.wind": "{device} 风速",
      "health.axis.ms": "m/s",
      "health.mark.icing": "疑似覆冰",
      "health.mark.under": "低于曲线",
      "health.table.title": "风机一览",
      "health.table.turbine": "风机",
      "health.table.points": "数据点",
      "health.table.wind": "平均风速（m/s）",
      "health.table.power": "平均功率（kW）",
      "health.table.ratio": "相对学习曲线",
      "health.table.alerts": "功率曲线告警（本时段 / 未处理）",
      "health.table.ratio_note": "“相对学习曲线”= 实测发电量 ÷ 按学习曲线和该机实测风速算出的应发电量（仅统计风速 ≥ 3 m/s 的时段）。低于 95 % 标红，低于 98 % 标黄。",
      "health.alerts.curve": "功率曲线告警（覆冰 / 出力不足）",
      "health.alerts.none_curve": "本时段没有功率曲线告警。",
      "health.alerts.older": "另有 {n} 条更早的告警，见告警页。",
      "health.alerts.device": "设备",
      "health.alerts.kind": "类型",
      "health.alerts.start": "开始",
      "health.alerts.end": "结束 / 最近一次",
      "health.alerts.duration": "时长",
      "health.alerts.state": "状态",
      "health.alerts.temp": "期间气温（°C）",
      "health.alerts.text": "说明",
      "health.alerts.ongoing": "{time}（仍在持续）",
      // pv
      "health.inv.title": "逆变器交流功率（kW）",
      "health.inv.note": "每台逆变器的交流功率（{every} 平均），粗虚线为全场逆变器中位数。阴影为光伏告警时段（性能比下降 / 逆变器掉队）。",
      "health.inv.empty": "此时段没有逆变器功率数据。",
      "health.inv.median": "全场中位数",
      "health.energy.title": "各逆变器发电量（相对全场中位数）",
      "health.energy.note": "本时段交流发电量，以全场逆变器中位数 {median} MWh 为 100 %。缺数时段按 0 计。低于 95 % 标红。",
      "health.energy.axis": "相对中位数（%）",
      "health.energy.tip": "发电量 {e} MWh，为中位数的 {r}",
      "health.pr.title": "性能比（PR）",
      "health.pr.formula": "PR = 交流发电量 ÷（额定容量 × 组件平面辐照量 ÷ 1000 W/m²）。",
      "health.pr.rating_plant": "逆变器额定容量不在数据中：按场站装机容量 {cap} MW 平均分给 {n} 台逆变器，每台约 {r} kWp。",
      "health.pr.rating_max": "逆变器额定容量和场站装机容量都不在数据中：用本时段各逆变器出现过的最大 {every} 平均功率近似额定容量，PR 因此偏高。",
      "health.pr.poa": "辐照量取本站气象站的组件平面辐照度（met_station poa_wm2）。",
      "health.pr.ghi": "本站气象站没有组件平面辐照度，改用水平面总辐照度（ghi_wm2）近似：倾斜组件的 PR 会偏高。",
      "health.pr.curtail": "限电时段（场站 curtailed）不计入，未做组件温度修正。",
      "health.pr.no_irr": "本站没有气象站辐照度数据（met_station poa_wm2 / ghi_wm2），无法计算性能比。",
      "health.pr.no_energy": "此时段没有足够的日照或逆变器数据，无法计算性能比。",
      "health.pr.daily": "逐日性能比（辐照量 ≥ {min} kWh/m² 的日子）",
      "health.pr.axis": "PR（%）",
      "health.pr.insolation": "辐照量（kWh/m²）",
      "health.pr.s.pr": "全场性能比",
      "health.card.pr": "全场性能比（本时段）",
      "health.card.energy": "逆变器交流发电量（MWh）",
      "health.card.insolation": "辐照量（kWh/m²）",
      "health.card.behind": "发电量低于中位数 95 % 的逆变器",
      "health.card.open": "未处理的光伏告警",
      "health.inv.table": "逆变器一览",
      "health.inv.col.device": "逆变器",
      "health.inv.col.energy": "发电量（MWh）",
      "health.inv.col.rel": "相对中位数",
      "health.inv.col.pr": "性能比",
      "health.inv.col.max": "最大功率（kW，{every} 平均）",
      "health.inv.col.alerts": "光伏告警（本时段 / 未处理）",
      "health.alerts.pv": "光伏告警（性能比下降 / 逆变器掉队）",
      "health.alerts.none_pv": "本时段没有光伏告警。",
    },
    en: {
      "health.title": "Plant health · {site}",
      "health.site": "Site",
      "health.kind.wind": "wind farm",
      "health.kind.pv": "PV plant",
      "health.none": "No wind turbine (wind_turbine) or PV inverter (pv_inverter) data yet.",
      "health.window": "Values are each device's {every} means. Times in UTC+8.",
      "health.hours": "{n} h",
      "health.curve.title": "Power curve per turbine",
      "health.curve.note": "At most {max} points per turbine ({every} means, power and nacelle wind speed of the same window); click the legend to show or hide a turbine. The thick black line is learned from this period: the median power of all the site's turbines per 0.5 m/s wind-speed bin (bins with fewer than {min} points left out), curtailment and faults included. It is not the manufacturer's warranted curve.",
      "health.curve.learned": "Learned curve (median per 0.5 m/s, this period)",
      "health.curve.empty": "No turbine power and wind speed of the same times in this period: no power curve to draw.",
      "health.axis.wind": "Wind speed (m/s)",
      "health.axis.kw": "Power (kW)",
      "health.tip.wind": "wind",
      "health.tip.power": "power",
      "health.turbine.title": "One turbine's power and its alert periods",
      "health.turbine.pick": "Turbine",
      "health.turbine.note": "Shaded: power-curve alerts, blue where icing is likely (mean nacelle temperature ≤ {t} °C during the alert), red for other underperformance (pitch, yaw…). Dashed: the median power of the site's turbines.",
      "health.turbine.empty": "No power from this turbine in this period.",
      "health.s.power": "{device} power",
      "health.s.median": "site median",
      "health.s.wind": "{device} wind",
      "health.axis.ms": "m/s",
      "health.mark.icing": "icing?",
      "health.mark.under": "below curve",
      "health.table.title": "Turbines",
      "health.table.turbine": "Turbine",
      "health.table.points": "Points",
      "health.table.wind": "Mean wind (m/s)",
      "health.table.power": "Mean power (kW)",
      "health.table.ratio": "vs learned curve",
      "health.table.alerts": "Power-curve alerts (period / open)",
      "health.table.ratio_note": "“vs learned curve” = measured energy ÷ the energy the learned curve gives for the turbine's own wind speeds (windows with wind ≥ 3 m/s only). Red below 95 %, amber below 98 %.",
      "health.alerts.curve": "Power-curve alerts (icing / underperformance)",
      "health.alerts.none_curve": "No power-curve alerts in this period.",
      "health.alerts.older": "{n} older alerts are on the Alerts page.",
      "health.alerts.device": "Device",
      "health.alerts.kind": "Kind",
      "health.alerts.start": "Start",
      "health.alerts.end": "End / last seen",
      "health.alerts.duration": "Duration",
      "health.alerts.state": "State",
      "health.alerts.temp": "Temp. during (°C)",
      "health.alerts.text": "Message",
      "health.alerts.ongoing": "{time} (ongoing)",
      "health.inv.title": "Inverter AC power (kW)",
      "health.inv.note": "Each inverter's AC power ({every} means); thick dashed: the median of the site's inverters. Shaded: PV alerts (performance ratio down / inverter behind its peers).",
      "health.inv.empty": "No inverter power in this period.",
      "health.inv.median": "site median",
      "health.energy.title": "Energy per inverter, relative to the site median",
      "health.energy.note": "AC energy in this period; the median inverter ({median} MWh) is 100 %. Missing data counts as zero. Red below 95 %.",
      "health.energy.axis": "vs median (%)",
      "health.energy.tip": "{e} MWh, {r} of the median",
      "health.pr.title": "Performance ratio (PR)",
      "health.pr.formula": "PR = AC energy ÷ (rated power × plane-of-array insolation ÷ 1000 W/m²).",
      "health.pr.rating_plant": "Inverter ratings are not in the data: the plant's installed capacity of {cap} MW is split evenly over its {n} inverters, about {r} kWp each.",
      "health.pr.rating_max": "Neither inverter ratings nor the plant's capacity are in the data: each inverter's largest {every} mean output in this period stands in for its rating, so the PR reads high.",
      "health.pr.poa": "Insolation from the site's met station, plane of array (met_station poa_wm2).",
      "health.pr.ghi": "The site's met station has no plane-of-array irradiance; global horizontal (ghi_wm2) stands in, so the PR of tilted modules reads high.",
      "health.pr.curtail": "Curtailed windows (plant curtailed) are left out; no module-temperature correction.",
      "health.pr.no_irr": "No irradiance from a met station at this site (met_station poa_wm2 / ghi_wm2): no performance ratio.",
      "health.pr.no_energy": "Not enough sun or inverter data in this period for a performance ratio.",
      "health.pr.daily": "Daily performance ratio (days with insolation ≥ {min} kWh/m²)",
      "health.pr.axis": "PR (%)",
      "health.pr.insolation": "Insolation (kWh/m²)",
      "health.pr.s.pr": "site PR",
      "health.card.pr": "Site performance ratio (period)",
      "health.card.energy": "Inverter AC energy (MWh)",
      "health.card.insolation": "Insolation (kWh/m²)",
      "health.card.behind": "Inverters below 95 % of the median",
      "health.card.open": "Open PV alerts",
      "health.inv.table": "Inverters",
      "health.inv.col.device": "Inverter",
      "health.inv.col.energy": "Energy (MWh)",
      "health.inv.col.rel": "vs median",
      "health.inv.col.pr": "PR",
      "health.inv.col.max": "Peak (kW, {every} mean)",
      "health.inv.col.alerts": "PV alerts (period / open)",
      "health.alerts.pv": "PV alerts (performance ratio / behind peers)",
      "health.alerts.none_pv": "No PV alerts in this period.",
    },
  });

  const t = FL.t;
  const el = FL.el;
  const enc = encodeURIComponent;
  const MAX_POINTS = 400; // scatter points per turbine
  const MIN_BIN = 5; // points a 0.5 m/s bin needs for the learned curve
  const ICING_C = 2; // mean nacelle temperature at or below which a power-curve alert reads as icing
  const MIN_INSOLATION = 0.5; // kWh/m² a day needs for its PR to mean something
  const BAD = "#b3261e";
  const WARN = "#a15c00";
  const GOOD = "#1e7b34";

  const { soft, everyMs, everyText } = FL;

  /** A distinct colour for the i-th of n devices. */
  const hue = (i, n) => `hsl(${Math.round((i * 360) / Math.max(n, 1))}, 62%, 42%)`;
  const median = (xs) => {
    const v = xs.filter(FL.isNum).sort((a, b) => a - b);
    if (!v.length) return NaN;
    const m = v.length >> 1;
    return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
  };
  /** device → [[time, value]] (numbers only) of a query answer. */
  function byDevice(answer) {
    const out = new Map();
    for (const s of answer?.series || []) {
      const d = s.tags?.device;
      if (!d) continue;
      const pts = (s.points || []).filter((p) => FL.isNum(p[1]));
      out.set(d, (out.get(d) || []).concat(pts));
    }
    return out;
  }
  /** The median over devices at each time: [[time, median]]. */
  function medianOverDevices(map) {
    const at = new Map();
    for (const pts of map.values()) for (const [time, v] of pts) {
      const k = FL.ms(time);
      if (!at.has(k)) at.set(k, []);
      at.get(k).push(v);
    }
    return [...at.entries()].sort((a, b) => a[0] - b[0]).map(([k, vs]) => [k, median(vs)]);
  }
  /** The earliest time in a device map (the period's start as the data has it), or -∞. */
  function firstTime(map) {
    let first = Infinity;
    for (const pts of map.values()) for (const p of pts) first = Math.min(first, FL.ms(p[0]));
    return Number.isFinite(first) ? first : -Infinity;
  }
  /** An alert's end: resolved, else last seen. */
  const alertEnd = (a) => FL.ms(a.resolved || a.last_seen || a.start);
  const NOWRAP = "white-space:nowrap";
  /** A shaded stretch wide enough (a `frac`-th of the range) to carry a label. */
  const wide = (m, frac = 20) => m.to - m.from >= (FL.rangeHours() * 3600e3) / frac;
  const cell = (v, cls) => el("td", { class: `num ${cls || ""}` }, v);
  const ratioClass = (r) => (!FL.isNum(r) ? "" : r < 0.95 ? "bad" : r < 0.98 ? "warn" : "good");
  const hoursText = (ms) => t("health.hours", { n: FL.num(ms / 3600e3, 1) });
  const stateBadge = (a) => el("span", { class: `badge ${a.state === "open" ? "warning" : ""}` }, t(`state.${a.state}`));

  /**
   * core.js's timeChart draws its toolbox over the right axis' name and top tick label when
   * there is a second y axis; hide the toolbox of such a chart once it is drawn (zooming still
   * works with the wheel and the slider). To drop when timeChart places it clear itself.
   */
  function clearRightAxis(box) {
    setTimeout(() => {
      const inst = window.echarts && echarts.getInstanceByDom(box);
      if (inst && !inst.isDisposed()) inst.setOption({ toolbox: { show: false } });
    }, 0);
    return box;
  }

  // ---- wind ------------------------------------------------------------------------------

  async function windSection(site, devices, params) {
    // Power-curve points want short windows: at most hourly means, whatever the range.
    const every = FL.rangeHours() > 168 ? "1h" : FL.every();
    const q = `/api/v1/query?measurement=wind_turbine&site=${enc(site)}&start=${FL.since()}&every=${every}&agg=mean&tz=${FL.TZ}`;
    const [pw, ws, temp, alertsAnswer] = await Promise.all([
      soft(FL.api(`${q}&field=power_kw`)),
      soft(FL.api(`${q}&field=wind_speed_ms`)),
      soft(FL.api(`${q}&field=ambient_temp_c`)),
      soft(FL.api(`/api/v1/alerts?kind=power_curve&site=${enc(site)}&limit=500`)),
    ]);
    const power = byDevice(pw);
    const wind = byDevice(ws);
    const temps = byDevice(temp);
    const out = [FL.note(t("health.window", { every: everyText(every) }))];

    // Join power and wind speed on the window's time, per turbine.
    const pairs = new Map(); // device -> [[wind, power, ms]]
    for (const d of devices) {
      const w = new Map((wind.get(d) || []).map(([time, v]) => [FL.ms(time), v]));
      pairs.set(d, (power.get(d) || []).filter(([time]) => w.has(FL.ms(time))).map(([time, p]) => [w.get(FL.ms(time)), p, FL.ms(time)]));
    }
    const all = [...pairs.values()].flat();
    const rangeStart = firstTime(power);

    // The learned curve: median power per 0.5 m/s bin over all turbines.
    const bins = new Map();
    for (const [w, p] of all) {
      const b = Math.floor(w / 0.5);
      if (!bins.has(b)) bins.set(b, []);
      bins.get(b).push(p);
    }
    const curveAt = new Map(); // bin -> median kW
    for (const [b, ps] of bins) if (ps.length >= MIN_BIN) curveAt.set(b, median(ps));
    const curve = [...curveAt.entries()].sort((a, b) => a[0] - b[0]).map(([b, p]) => [+(b * 0.5 + 0.25).toFixed(2), +p.toFixed(1)]);

    // Alerts: which overlap the period, and whether they look like icing.
    const alerts = (alertsAnswer?.alerts || []).filter((a) => a.kind === "power_curve");
    const inRange = alerts.filter((a) => alertEnd(a) >= rangeStart);
    const meanTemp = (a) => {
      const from = FL.ms(a.start), to = alertEnd(a);
      const v = (temps.get(a.device) || []).filter(([time]) => FL.ms(time) >= from - everyMs(every) && FL.ms(time) <= to).map((p) => p[1]);
      return v.length ? v.reduce((x, y) => x + y, 0) / v.length : NaN;
    };
    const icing = (a) => FL.isNum(meanTemp(a)) && meanTemp(a) <= ICING_C;

    // ---- the scatter
    out.push(el("h3", {}, t("health.curve.title")));
    if (!all.length) {
      out.push(FL.note(t("health.curve.empty")));
    } else {
      out.push(FL.note(t("health.curve.note", { max: MAX_POINTS, every: everyText(every), min: MIN_BIN })));
      const withData = devices.filter((d) => pairs.get(d).length);
      const scatter = withData.map((d, i) => {
        const ps = pairs.get(d);
        const stride = Math.max(1, Math.ceil(ps.length / MAX_POINTS));
        return {
          name: d, type: "scatter", symbolSize: 3, large: false, itemStyle: { color: hue(i, withData.length), opacity: 0.55 },
          data: ps.filter((_, k) => k % stride === 0).map(([w, p, ms]) => [+w.toFixed(2), +p.toFixed(1), ms]),
        };
      });
      const learned = t("health.curve.learned");
      out.push(FL.chart("health-curve", {
        grid: { left: 64, right: 24, top: 64, bottom: 48 },
        legend: { top: 0, type: "scroll", data: [learned, ...withData] },
        tooltip: { trigger: "item", formatter: (p) => {
          const v = p.value || [];
          const when = p.seriesName === learned ? "" : `<br>${FL.time(v[2])}`;
          return `${p.marker}${p.seriesName}${when}<br>${t("health.tip.wind")}: <b>${FL.num(v[0], 1)} m/s</b><br>${t("health.tip.power")}: <b>${FL.num(v[1], 0)} kW</b>`;
        } },
        xAxis: { type: "value", name: t("health.axis.wind"), nameLocation: "middle", nameGap: 28, min: 0 },
        yAxis: { type: "value", name: t("health.axis.kw"), nameTextStyle: { align: "left" } },
        series: [...scatter, {
          name: learned, type: "line", data: curve, symbol: "circle", symbolSize: 4, z: 10,
          lineStyle: { width: 3, color: "#1d2430" }, itemStyle: { color: "#1d2430" },
        }],
      }, { height: 460 }));
    }

    // ---- per-turbine summary
    const stats = devices.map((d) => {
      const ps = pairs.get(d) || [];
      const pw = (power.get(d) || []).map((p) => p[1]);
      let got = 0, expected = 0;
      for (const [w, p] of ps) {
        const c = curveAt.get(Math.floor(w / 0.5));
        if (w >= 3 && FL.isNum(c) && c > 0) { got += p; expected += c; }
      }
      const mine = inRange.filter((a) => a.device === d);
      return {
        device: d, points: pw.length,
        wind: ps.length ? ps.reduce((x, [w]) => x + w, 0) / ps.length : NaN,
        power: pw.length ? pw.reduce((x, y) => x + y, 0) / pw.length : NaN,
        ratio: expected > 0 ? got / expected : NaN,
        alerts: mine.length, open: mine.filter((a) => a.state !== "resolved").length,
      };
    });

    // ---- one turbine's timeline
    const chosenParam = params.get("device");
    const byAlerts = [...stats].sort((a, b) => b.alerts - a.alerts || a.device.localeCompare(b.device));
    const chosen = devices.includes(chosenParam) ? chosenParam
      : (byAlerts[0]?.alerts ? byAlerts[0].device : (stats.find((s) => s.points) || stats[0])?.device);
    out.push(el("h3", {}, t("health.turbine.title")));
    if (chosen) {
      out.push(el("div", { class: "filters" }, el("label", {}, t("health.turbine.pick"), " ",
        FL.picker("health", "device", devices, chosen, (d) => {
          const n = stats.find((s) => s.device === d)?.alerts || 0;
          return n ? `${d} (${n})` : d;
        }))));
      const mine = power.get(chosen) || [];
      if (!mine.length) {
        out.push(FL.note(t("health.turbine.empty")));
      } else {
        out.push(FL.note(t("health.turbine.note", { t: ICING_C })));
        const marks = inRange.filter((a) => a.device === chosen).map((a) => ({
          from: Math.max(FL.ms(a.start), rangeStart), to: alertEnd(a),
          label: "", color: icing(a) ? "rgba(47,111,181,0.16)" : "rgba(179,38,30,0.12)",
        }));
        // Labels only on stretches wide enough to hold one.
        marks.forEach((m, i) => { if (wide(m)) m.label = icing(inRange.filter((a) => a.device === chosen)[i]) ? t("health.mark.icing") : t("health.mark.under"); });
        const series = [
          { name: t("health.s.power", { device: chosen }), data: mine, color: "#b5306b" },
          { name: t("health.s.median"), data: medianOverDevices(power), color: "#7a7a7a", dashed: true },
        ];
        const w = wind.get(chosen) || [];
        if (w.length) series.push({ name: t("health.s.wind", { device: chosen }), data: w, color: "#00838f", yAxis: 1 });
        const box = FL.timeChart("health-turbine", {
          series, marks, yName: t("health.axis.kw"), y2Name: w.length ? t("health.axis.ms") : undefined, height: 320,
        });
        out.push(w.length ? clearRightAxis(box) : box);
      }
    }

    out.push(el("h3", {}, t("health.table.title")));
    out.push(el("table", {},
      el("thead", {}, el("tr", {}, el("th", {}, t("health.table.turbine")), el("th", { class: "num" }, t("health.table.points")),
        el("th", { class: "num" }, t("health.table.wind")), el("th", { class: "num" }, t("health.table.power")),
        el("th", { class: "num" }, t("health.table.ratio")), el("th", { class: "num" }, t("health.table.alerts")))),
      el("tbody", {}, stats.map((s) => el("tr", { class: s.device === chosen ? "selected" : null },
        el("td", {}, el("a", { href: `#/health?site=${enc(site)}&device=${enc(s.device)}` }, s.device)),
        cell(String(s.points)), cell(FL.num(s.wind, 1)), cell(FL.num(s.power, 0)),
        cell(FL.isNum(s.ratio) ? FL.pct(s.ratio) : "–", ratioClass(s.ratio)),
        cell(`${s.alerts} / ${s.open}`, s.open ? "bad" : s.alerts ? "warn" : ""))))));
    out.push(FL.note(t("health.table.ratio_note")));

    out.push(el("h3", {}, t("health.alerts.curve")));
    out.push(...alertTable(inRange, alerts.length - inRange.length, "health.alerts.none_curve", (a) => {
      const m = meanTemp(a);
      return [
        el("td", { style: NOWRAP }, icing(a) ? el("span", { class: "badge info" }, t("health.mark.icing")) : el("span", { class: "badge warning" }, t("health.mark.under"))),
        cell(FL.num(m, 1)),
      ];
    }, [t("health.alerts.kind"), t("health.alerts.temp")]));
    return out;
  }

  /** A table of alerts (newest first), with `extra(a)` cells after the device. */
  function alertTable(alerts, older, emptyKey, extra, extraHeads) {
    const nodes = [];
    if (!alerts.length) nodes.push(FL.note(t(emptyKey)));
    else {
      const rows = [...alerts].sort((a, b) => FL.ms(b.start) - FL.ms(a.start));
      nodes.push(el("table", {},
        el("thead", {}, el("tr", {}, el("th", {}, t("health.alerts.device")), extraHeads.map((h, i) => el("th", { class: i ? "num" : "" }, h)),
          el("th", {}, t("health.alerts.start")), el("th", {}, t("health.alerts.end")), el("th", { class: "num" }, t("health.alerts.duration")),
          el("th", {}, t("health.alerts.state")), el("th", {}, t("health.alerts.text")))),
        el("tbody", {}, rows.map((a) => el("tr", {},
          el("td", {}, a.device || "–"), extra(a),
          el("td", { style: NOWRAP }, FL.time(a.start)),
          el("td", {}, a.resolved ? FL.time(a.resolved) : t("health.alerts.ongoing", { time: FL.time(a.last_seen) })),
          el("td", { class: "num", style: NOWRAP }, hoursText(alertEnd(a) - FL.ms(a.start))),
          el("td", { style: NOWRAP }, stateBadge(a)),
          el("td", {}, FL.alertText(a)))))));
    }
    if (older > 0) nodes.push(el("p", { class: "muted" }, el("a", { href: "#/alerts" }, t("health.alerts.older", { n: older }))));
    return nodes;
  }

  // ---- PV --------------------------------------------------------------------------------

  async function pvSection(site, devices) {
    const every = FL.every();
    const stepH = everyMs(every) / 3600e3;
    const range = `start=${FL.since()}&every=${every}&agg=mean&tz=${FL.TZ}`;
    const s = enc(site);
    const [ac, poaA, ghiA, plant, perfA, peerA] = await Promise.all([
      soft(FL.api(`/api/v1/query?measurement=pv_inverter&site=${s}&field=ac_power_kw&${range}`)),
      soft(FL.api(`/api/v1/query?measurement=met_station&site=${s}&field=poa_wm2&${range}`)),
      soft(FL.api(`/api/v1/query?measurement=met_station&site=${s}&field=ghi_wm2&${range}`)),
      soft(FL.api(`/api/v1/query?measurement=plant&site=${s}&${range}`)),
      soft(FL.api(`/api/v1/alerts?kind=pv_performance&site=${s}&limit=500`)),
      soft(FL.api(`/api/v1/alerts?kind=pv_peer&site=${s}&limit=500`)),
    ]);
    const power = byDevice(ac);
    const withData = devices.filter((d) => (power.get(d) || []).length);
    const rangeStart = firstTime(power);
    const alerts = [...(perfA?.alerts || []), ...(peerA?.alerts || [])].filter((a) => a.kind === "pv_performance" || a.kind === "pv_peer");
    const inRange = alerts.filter((a) => alertEnd(a) >= rangeStart);
    const out = [FL.note(t("health.window", { every: everyText(every) }))];

    // ---- energy per inverter
    const energy = new Map(withData.map((d) => [d, power.get(d).reduce((x, [, v]) => x + v * stepH, 0)]));
    const medE = median([...energy.values()]);

    // ---- performance ratio
    const irrOf = (answer) => medianOverDevices(byDevice(answer)); // a site's met stations, one value per window
    const poa = irrOf(poaA);
    const irrSource = poa.length ? "poa" : "ghi";
    const irr = poa.length ? poa : irrOf(ghiA);
    const plantFields = (name) => ((plant?.series || []).find((x) => x.field === name)?.points || []).filter((p) => FL.isNum(p[1]));
    const capPts = plantFields("capacity_mw");
    const capMw = capPts.length ? capPts[capPts.length - 1][1] : NaN;
    const curtailed = new Set(plantFields("curtailed").filter((p) => p[1] > 0).map((p) => FL.ms(p[0])));
    const peak = new Map(withData.map((d) => [d, power.get(d).reduce((m, p) => Math.max(m, p[1]), -Infinity)]));
    const ratingFromPlant = FL.isNum(capMw) && capMw > 0 && withData.length > 0;
    const rated = new Map(withData.map((d) => [d, ratingFromPlant ? (capMw * 1000) / withData.length : peak.get(d)]));
    const powerAt = new Map(withData.map((d) => [d, new Map(power.get(d).map(([time, v]) => [FL.ms(time), v]))]));
    // Valid windows: irradiance known, not curtailed. Insolation in kWh/m², energy in kWh.
    const days = new Map(); // local date -> {h, e}
    const invE = new Map(withData.map((d) => [d, 0]));
    let totalH = 0;
    for (const [ms, g] of irr) {
      if (curtailed.has(ms)) continue;
      const h = (Math.max(0, g) * stepH) / 1000;
      const date = new Date(ms + 8 * 3600e3).toISOString().slice(0, 10); // the UTC+8 calendar day
      if (!days.has(date)) days.set(date, { h: 0, e: 0 });
      const day = days.get(date);
      day.h += h;
      totalH += h;
      for (const d of withData) {
        const v = powerAt.get(d).get(ms);
        const e = FL.isNum(v) ? v * stepH : 0;
        day.e += e;
        invE.set(d, invE.get(d) + e);
      }
    }
    const ratedTotal = [...rated.values()].reduce((x, y) => x + y, 0);
    const prOf = (e, ratedKw, h) => (ratedKw > 0 && h > 0 ? e / (ratedKw * h) : NaN);
    const sitePr = prOf([...invE.values()].reduce((x, y) => x + y, 0), ratedTotal, totalH);
    const invPr = new Map(withData.map((d) => [d, prOf(invE.get(d), rated.get(d), totalH)]));

    // ---- cards
    const behind = withData.filter((d) => energy.get(d) < 0.95 * medE).length;
    const openAlerts = alerts.filter((a) => a.state !== "resolved").length;
    const totalE = [...energy.values()].reduce((x, y) => x + y, 0);
    out.push(el("div", { class: "cards" },
      FL.card(FL.isNum(sitePr) ? FL.pct(sitePr) : "–", t("health.card.pr")),
      FL.card(FL.num(totalE / 1000, 1), t("health.card.energy")),
      FL.card(irr.length ? FL.num(totalH, 2) : "–", t("health.card.insolation")),
      FL.card(withData.length ? `${behind} / ${withData.length}` : "–", t("health.card.behind"), behind ? "bad" : "good"),
      FL.card(String(openAlerts), t("health.card.open"), openAlerts ? "bad" : "good")));

    // ---- inverter power over time
    out.push(el("h3", {}, t("health.inv.title")));
    if (!withData.length) {
      out.push(FL.note(t("health.inv.empty")));
    } else {
      out.push(FL.note(t("health.inv.note", { every: everyText(every) })));
      const series = withData.map((d, i) => ({ name: d, data: power.get(d), color: hue(i, withData.length) }));
      series.unshift({ name: t("health.inv.median"), data: medianOverDevices(power), color: "#1d2430", dashed: true });
      const marks = inRange.map((a) => ({
        from: Math.max(FL.ms(a.start), rangeStart), to: alertEnd(a), label: "",
        color: a.kind === "pv_peer" ? "rgba(179,38,30,0.12)" : "rgba(161,92,0,0.14)",
      }));
      // Labels only on stretches wide enough to hold one.
      marks.forEach((m, i) => { if (wide(m, 12)) m.label = `${inRange[i].device} ${t(`alert.kind.${inRange[i].kind}`)}`; });
      // The long legend takes the top row: the unit is in the heading, not on the axis.
      out.push(FL.timeChart("health-inv-power", { series, marks, yName: "", yMin: 0, height: 360 }));

      // ---- energy relative to the median
      out.push(el("h3", {}, t("health.energy.title")));
      out.push(FL.note(t("health.energy.note", { median: FL.num(medE / 1000, 2) })));
      const rel = withData.map((d) => (medE > 0 ? (100 * energy.get(d)) / medE : NaN));
      const lo = Math.max(0, Math.floor((Math.min(95, ...rel.filter(FL.isNum)) - 5) / 5) * 5);
      out.push(FL.chart("health-inv-energy", {
        grid: { left: 56, right: 24, top: 32, bottom: 40 },
        tooltip: { trigger: "axis", formatter: (ps) => {
          const p = ps[0];
          const d = withData[p.dataIndex];
          return `${p.marker}${d}<br>${t("health.energy.tip", { e: FL.num(energy.get(d) / 1000, 2), r: FL.isNum(p.value) ? `${p.value.toFixed(1)} %` : "–" })}`;
        } },
        xAxis: { type: "category", data: withData, axisLabel: { interval: 0, hideOverlap: true } },
        yAxis: { type: "value", name: t("health.energy.axis"), min: lo, nameTextStyle: { align: "left" }, axisLabel: { formatter: "{value} %" } },
        series: [{
          type: "bar", name: t("health.energy.axis"), barMaxWidth: 28,
          data: rel.map((r) => ({ value: FL.isNum(r) ? +r.toFixed(2) : null, itemStyle: { color: r < 95 ? BAD : r < 98 ? WARN : GOOD } })),
          markLine: { silent: true, symbol: "none", data: [{ yAxis: 100 }], lineStyle: { color: "#1d2430", type: "dashed" }, label: { formatter: "100 %", position: "insideEndTop" } },
        }],
      }, { height: 260 }));
    }

    // ---- PR
    out.push(el("h3", {}, t("health.pr.title")));
    out.push(FL.note(t("health.pr.formula")));
    if (!irr.length) {
      out.push(FL.note(t("health.pr.no_irr"), "warn"));
    } else if (!(totalH > 0) || !withData.length) {
      out.push(FL.note(t("health.pr.no_energy")));
    } else {
      out.push(FL.note(ratingFromPlant
        ? t("health.pr.rating_plant", { cap: FL.num(capMw, 1), n: withData.length, r: FL.num((capMw * 1000) / withData.length, 0) })
        : t("health.pr.rating_max", { every: everyText(every) }), "warn"));
      out.push(FL.note(`${t(irrSource === "poa" ? "health.pr.poa" : "health.pr.ghi")} ${t("health.pr.curtail")}`, irrSource === "poa" ? "muted" : "warn"));
      const dayList = [...days.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).filter(([, v]) => v.h >= MIN_INSOLATION);
      if (dayList.length) {
        out.push(el("div", { class: "muted" }, t("health.pr.daily", { min: MIN_INSOLATION })));
        const prs = dayList.map(([, v]) => prOf(v.e, ratedTotal, v.h));
        out.push(FL.chart("health-pr", {
          grid: { left: 56, right: 64, top: 40, bottom: 40 },
          legend: { top: 0 },
          tooltip: { trigger: "axis", valueFormatter: (v) => (FL.isNum(v) ? v.toFixed(2) : "–") },
          xAxis: { type: "category", data: dayList.map(([d]) => FL.day(d)), axisLabel: { hideOverlap: true } },
          yAxis: [
            { type: "value", name: t("health.pr.axis"), min: 0, nameTextStyle: { align: "left" } },
            { type: "value", name: t("health.pr.insolation"), min: 0, splitLine: { show: false }, nameTextStyle: { align: "right" } },
          ],
          series: [
            { type: "bar", name: t("health.pr.s.pr"), barMaxWidth: 24, itemStyle: { color: "#2f6fb5" },
              data: prs.map((p) => (FL.isNum(p) ? +(100 * p).toFixed(1) : null)) },
            { type: "line", name: t("health.pr.insolation"), yAxisIndex: 1, itemStyle: { color: "#a15c00" }, lineStyle: { color: "#a15c00" },
              data: dayList.map(([, v]) => +v.h.toFixed(2)) },
          ],
        }, { height: 260 }));
      }
    }

    // ---- table per inverter
    if (withData.length) {
      out.push(el("h3", {}, t("health.inv.table")));
      out.push(el("table", {},
        el("thead", {}, el("tr", {}, el("th", {}, t("health.inv.col.device")), el("th", { class: "num" }, t("health.inv.col.energy")),
          el("th", { class: "num" }, t("health.inv.col.rel")), el("th", { class: "num" }, t("health.inv.col.pr")),
          el("th", { class: "num" }, t("health.inv.col.max", { every: everyText(every) })), el("th", { class: "num" }, t("health.inv.col.alerts")))),
        el("tbody", {}, withData.map((d) => {
          const r = medE > 0 ? energy.get(d) / medE : NaN;
          const mine = inRange.filter((a) => a.device === d);
          const open = mine.filter((a) => a.state !== "resolved").length;
          return el("tr", {}, el("td", {}, d), cell(FL.num(energy.get(d) / 1000, 2)), cell(FL.pct(r), ratioClass(r)),
            cell(irr.length ? FL.pct(invPr.get(d)) : "–"), cell(FL.num(peak.get(d), 0)),
            cell(`${mine.length} / ${open}`, open ? "bad" : mine.length ? "warn" : ""));
        }))));
    }

    out.push(el("h3", {}, t("health.alerts.pv")));
    out.push(...alertTable(inRange, alerts.length - inRange.length, "health.alerts.none_pv",
      (a) => [el("td", { style: NOWRAP }, el("span", { class: `badge ${a.kind === "pv_peer" ? "critical" : "warning"}` }, t(`alert.kind.${a.kind}`)))],
      [t("health.alerts.kind")]));
    return out;
  }

  // ---- page ------------------------------------------------------------------------------

  async function render(params) {
    const [wt, inv] = await Promise.all([
      soft(FL.api("/api/v1/series?measurement=wind_turbine&field=power_kw")),
      soft(FL.api("/api/v1/series?measurement=pv_inverter&field=ac_power_kw")),
    ]);
    const devicesOf = (answer) => {
      const m = new Map();
      for (const s of answer?.series || []) {
        const site = s.tags?.site, d = s.tags?.device;
        if (!site || !d) continue;
        if (!m.has(site)) m.set(site, new Set());
        m.get(site).add(d);
      }
      return new Map([...m].map(([k, v]) => [k, [...v].sort()]));
    };
    const wind = devicesOf(wt);
    const pv = devicesOf(inv);
    const sites = [...new Set([...wind.keys(), ...pv.keys()])].sort();
    if (!sites.length) return [el("h2", {}, t("nav.health")), FL.note(t("health.none"))];
    const site = sites.includes(params.get("site")) ? params.get("site") : sites[0];
    const kindOf = (x) => (wind.has(x) ? "wind" : "pv");
    const picker = FL.picker("health", "site", sites, site, (x) => `${x} · ${t(`health.kind.${kindOf(x)}`)}`);
    const head = [el("h2", {}, t("health.title", { site })), el("div", { class: "filters" }, el("label", {}, t("health.site"), " ", picker))];
    // A site with both turbines and inverters shows both.
    const parts = await Promise.all([
      wind.has(site) ? windSection(site, wind.get(site), params) : [],
      pv.has(site) ? pvSection(site, pv.get(site)) : [],
    ]);
    return [...head, ...parts.flat()];
  }

  FL.page("health", { nav: "nav.health", render });
})();
