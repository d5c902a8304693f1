// The pest page: every trap's warning level at a glance, then one trap per species — the
// daily catch with its flights (onset, peak, end), the warning level 1–5 and what it means,
// the trend, the flight dates, degree days and the next flight, the next week's catch.
// Everything comes from /api/v1/farm/traps/{trap}; the trap list from /api/v1/series.
"use strict";

(() => {
  FL.addStrings({
    zh: {
      "pests.title": "虫情测报",
      "pests.trap": "测报点",
      "pests.none": "还没有虫情测报灯或诱捕器的数据。",
      "pests.no_season": "{trap} 本季（1 月 1 日起）没有读数。",
      "pests.as_of": "数据截至 {date}",

      "pests.sum.title": "各测报点预警",
      "pests.sum.trap": "测报点",
      "pests.sum.species": "虫种",
      "pests.sum.level": "预警等级",
      "pests.sum.mean": "近期日均（头）",
      "pests.sum.next": "下周预测（头）",

      "pests.type.light": "测报灯",
      "pests.type.pheromone": "性诱捕器",

      "pests.sp.helicoverpa_armigera": "棉铃虫",
      "pests.sp.spodoptera_frugiperda": "草地贪夜蛾",
      "pests.sp.agrotis_ipsilon": "小地老虎",

      "pests.badge": "{n} 级 {name}",
      "pests.level.1": "轻发生", "pests.level.2": "偏轻发生", "pests.level.3": "中等发生",
      "pests.level.4": "偏重发生", "pests.level.5": "大发生",
      "pests.level.none": "无等级",
      "pests.act.1": "继续按时查看诱虫量。",
      "pests.act.2": "继续按时查看诱虫量，留意上升势头。",
      "pests.act.3": "加强田间调查，查卵查幼虫。",
      "pests.act.4": "立即查田，达到防治指标的地块及时防治。",
      "pests.act.5": "虫量很大：立即查田，组织防治。",
      "pests.level.basis": "依据：近 {n} 天平均每天诱到 {mean} 头（{type}）。",

      "pests.card.level": "预警等级",
      "pests.card.trend": "趋势",
      "pests.card.next": "下周预测",
      "pests.card.next_sub": "未来 7 天预计共诱 {n} 头",
      "pests.card.next_zero": "未来 7 天预计诱不到",
      "pests.card.total": "本季累计",
      "pests.card.total_sub": "{n} 个成虫高峰",
      "pests.card.total_one": "1 个成虫高峰",
      "pests.card.total_none": "本季尚未形成成虫高峰",
      "pests.card.dd": "积温（°C·日）",
      "pests.card.dd_sub": "本季至 {day}",
      "pests.unit": "{n} 头",

      "pests.trend.up": "上升 ↑",
      "pests.trend.down": "下降 ↓",
      "pests.trend.flat": "持平 →",
      "pests.trend.none": "无诱虫",
      "pests.trend.detail": "近 7 天 {a} 头，前 7 天 {b} 头",

      "pests.chart.title": "逐日诱虫量",
      "pests.chart.catch": "诱虫量",
      "pests.chart.forecast": "下周预测（日均）",
      "pests.chart.axis": "头/日",
      "pests.chart.flight": "第 {n} 峰",
      "pests.chart.peak": "高峰 {day}",
      "pests.chart.explain": "阴影为各峰的始盛期到盛末期，竖线为高峰日；测报日从中午 12 点算起，一夜的虫量算在同一天。",

      "pests.empty": "本季至今（{from} – {to}）没有诱到{species}。",
      "pests.quiet": "近 {n} 天没有诱到{species}成虫。",

      "pests.flights.title": "发生期",
      "pests.flights.n": "批次",
      "pests.flights.first": "始见",
      "pests.flights.onset": "始盛期",
      "pests.flights.peak": "高峰期",
      "pests.flights.end": "盛末期",
      "pests.flights.last": "终见",
      "pests.flights.total": "诱虫量（头）",
      "pests.flights.state": "状态",
      "pests.flights.done": "已结束",
      "pests.flights.going": "进行中",
      "pests.flights.explain": "始盛期、高峰期、盛末期为该峰累计诱虫量达到 16%、50%、84% 的日期。",

      "pests.next.title": "下一个成虫高峰",
      "pests.next.first": "本季第一个",
      "pests.next.gen": "下一代",
      "pests.next.peak": "预计{which}成虫高峰在 {day} 前后（最早 {early}，最晚 {late}）。",
      "pests.next.peak_open": "预计{which}成虫高峰在 {day} 前后。",
      "pests.next.early": "按积温最早可能在 {early} 出现{which}成虫高峰。",
      "pests.next.beyond": "按目前的气温，未来 90 天内积温达不到{which}成虫高峰所需。",
      "pests.next.dd": "本季积温 {so_far} °C·日，达到 {due} °C·日时出现高峰（还差 {left}）。",
      "pests.next.dd_due": "本季积温 {so_far} °C·日，已达到高峰所需的 {due} °C·日。",
      "pests.next.fc": "已用天气预报 {n} 天，其后按近一周的升温速度推算。",
      "pests.next.none": "没有这种害虫的积温参数，无法预测下一个高峰。",
      "pests.next.no_temps": "没有气象站气温，无法按积温预测下一个高峰。",
      "pests.next.no_fc": "没有天气预报，按近一周的升温速度推算。",
      "pests.next.winter": "已到年末，今年一般不会再出现成虫高峰；积温从明年 1 月 1 日起重新累计，届时再按积温预测。",

      "pests.usual.helicoverpa_armigera": "常年情况：棉铃虫在本地一年约 4 代，越冬代成虫一般 5 月中旬开始出现。",
      "pests.usual.spodoptera_frugiperda": "常年情况：草地贪夜蛾不能在本地越冬，一般 6 月下旬迁入黄淮地区，积温从迁入期起算。",
      "pests.usual.agrotis_ipsilon": "常年情况：小地老虎越冬代（迁入）成虫一般 3–4 月出现，危害幼苗。",

      "pests.dd.from": "积温用 {station} 站气温计算，自 {since} 起有气温数据。",
    },
    en: {
      "pests.title": "Pest monitoring",
      "pests.trap": "Trap",
      "pests.none": "No pest trap data yet.",
      "pests.no_season": "{trap} has no readings this season (since 1 January).",
      "pests.as_of": "as of {date}",

      "pests.sum.title": "All traps",
      "pests.sum.trap": "Trap",
      "pests.sum.species": "Species",
      "pests.sum.level": "Warning level",
      "pests.sum.mean": "Recent daily mean",
      "pests.sum.next": "Next 7 days (forecast)",

      "pests.type.light": "light trap",
      "pests.type.pheromone": "pheromone trap",

      "pests.sp.helicoverpa_armigera": "Cotton bollworm",
      "pests.sp.spodoptera_frugiperda": "Fall armyworm",
      "pests.sp.agrotis_ipsilon": "Black cutworm",

      "pests.badge": "level {n} · {name}",
      "pests.level.1": "light", "pests.level.2": "moderately light", "pests.level.3": "moderate",
      "pests.level.4": "moderately heavy", "pests.level.5": "heavy (outbreak)",
      "pests.level.none": "no level",
      "pests.act.1": "Keep reading the trap as usual.",
      "pests.act.2": "Keep reading the trap; watch for a rise.",
      "pests.act.3": "Step up field scouting for eggs and larvae.",
      "pests.act.4": "Scout the fields now; treat where the action threshold is reached.",
      "pests.act.5": "Very high catches: scout now and organise control.",
      "pests.level.basis": "From the mean of {mean} moths a day over the last {n} days ({type}).",

      "pests.card.level": "Warning level",
      "pests.card.trend": "Trend",
      "pests.card.next": "Next week (forecast)",
      "pests.card.next_sub": "about {n} moths expected over the next 7 days",
      "pests.card.next_zero": "none expected over the next 7 days",
      "pests.card.total": "Season total",
      "pests.card.total_sub": "{n} flights",
      "pests.card.total_one": "one flight",
      "pests.card.total_none": "no flight this season yet",
      "pests.card.dd": "Degree days (°C·d)",
      "pests.card.dd_sub": "this season, to {day}",
      "pests.unit": "{n} moths",

      "pests.trend.up": "rising ↑",
      "pests.trend.down": "falling ↓",
      "pests.trend.flat": "steady →",
      "pests.trend.none": "no catches",
      "pests.trend.detail": "last 7 days {a}, the 7 before {b}",

      "pests.chart.title": "Daily catch",
      "pests.chart.catch": "Catch",
      "pests.chart.forecast": "Next week (daily mean)",
      "pests.chart.axis": "moths/day",
      "pests.chart.flight": "flight {n}",
      "pests.chart.peak": "peak {day}",
      "pests.chart.explain": "Shaded: each flight from onset to end; the vertical line is its peak. Trap days start at noon, so one night's catch is one day.",

      "pests.empty": "No {species} caught this season so far ({from} – {to}).",
      "pests.quiet": "No {species} moths caught in the last {n} days.",

      "pests.flights.title": "Flights",
      "pests.flights.n": "Flight",
      "pests.flights.first": "First",
      "pests.flights.onset": "Onset",
      "pests.flights.peak": "Peak",
      "pests.flights.end": "End",
      "pests.flights.last": "Last",
      "pests.flights.total": "Catch",
      "pests.flights.state": "Status",
      "pests.flights.done": "over",
      "pests.flights.going": "going on",
      "pests.flights.explain": "Onset, peak and end are the days the flight's cumulative catch reached 16 %, 50 % and 84 %.",

      "pests.next.title": "Next flight",
      "pests.next.first": "the season's first",
      "pests.next.gen": "the next generation's",
      "pests.next.peak": "Expected: {which} flight peaking around {day} (earliest {early}, latest {late}).",
      "pests.next.peak_open": "Expected: {which} flight peaking around {day}.",
      "pests.next.early": "By degree days, {which} flight may peak as early as {early}.",
      "pests.next.beyond": "At the current temperatures, the degree days for {which} flight are not reached within 90 days.",
      "pests.next.dd": "Season degree days {so_far} °C·d; the flight peaks at {due} °C·d ({left} to go).",
      "pests.next.dd_due": "Season degree days {so_far} °C·d: the {due} °C·d of the peak are reached.",
      "pests.next.fc": "{n} days of weather forecast used, then the last week's warming carried on.",
      "pests.next.none": "No degree-day parameters for this species: no flight forecast.",
      "pests.next.no_temps": "No met-station temperatures: no degree-day forecast of the next flight.",
      "pests.next.no_fc": "No weather forecast: the last week's warming carried on.",
      "pests.next.winter": "The year is nearly over: no more flights are expected this year. Degree days start again on 1 January, and next year's forecast with them.",

      "pests.usual.helicoverpa_armigera": "Usually: cotton bollworm has about four generations a year here; the overwintered moths appear from mid-May.",
      "pests.usual.spodoptera_frugiperda": "Usually: fall armyworm does not overwinter here; migrants reach the Huang-Huai region in late June, and its degree days count from then.",
      "pests.usual.agrotis_ipsilon": "Usually: black cutworm's spring migrants fly in March–April and damage seedlings.",

      "pests.dd.from": "Degree days from station {station}'s air temperature, available since {since}.",
    },
  });

  const { el, t, num, isNum } = FL;
  const enc = encodeURIComponent;

  // Narrow screens (a phone in the field): fewer table columns, badges kept on one line.
  const STYLE = ".pests{container-type:inline-size}.pests .badge{white-space:nowrap}.pests td{white-space:nowrap}" +
    ".pests td.wrap,.pests th{white-space:normal}" +
    "@container (max-width:540px){.pests .wide{display:none}.pests table{font-size:12px}.pests th,.pests td{padding:4px 5px}" +
    ".pests .badge{white-space:normal}}";
  const has = (key) => t(key) !== key;
  /** A species' name: ours, else the server's (Chinese or common name), else its code. */
  function speciesName(sp) {
    const code = typeof sp === "string" ? sp : sp && sp.species;
    if (code && has(`pests.sp.${code}`)) return t(`pests.sp.${code}`);
    if (sp && typeof sp === "object") return (FL.lang() === "zh" ? sp.name_zh : sp.common_name) || sp.name_zh || sp.common_name || code;
    return code || "–";
  }
  const inText = (name) => (FL.lang() === "zh" ? name : name.charAt(0).toLowerCase() + name.slice(1));
  const typeName = (tt) => (has(`pests.type.${tt}`) ? t(`pests.type.${tt}`) : tt || "");
  const levelName = (n) => (isNum(n) && has(`pests.level.${n}`) ? t(`pests.level.${n}`) : t("pests.level.none"));
  const badge = (n, big = false) => el("span", { class: `badge l${isNum(n) ? n : 1}`, style: big ? "font-size:18px;padding:2px 10px;border-radius:12px" : null },
    isNum(n) ? t("pests.badge", { n, name: levelName(n) }) : t("pests.level.none"));
  const heads = (n) => t("pests.unit", { n });
  const dayAfter = (d, n) => new Date(Date.parse(`${d}T12:00:00Z`) + n * 86400e3).toISOString().slice(0, 10);
  const firstRow = (r) => (r && r.series) || [];

  /** A trap's first reading as a trap day (days start at local noon). */
  const trapDay = (iso) => new Date(Date.parse(iso) + (8 - 12) * 3600e3).toISOString().slice(0, 10);

  async function render(params) {
    const list = await FL.api("/api/v1/series?measurement=pest_trap&field=count").catch((e) => {
      if (e instanceof FL.SignInRequired) throw e;
      return { series: [] };
    });
    // Trap -> {types, species, first reading}.
    const traps = new Map();
    for (const s of firstRow(list)) {
      const dev = s.tags && s.tags.device;
      if (!dev) continue;
      const e = traps.get(dev) || { species: new Set(), type: s.tags.trap_type, first: s.first };
      if (s.tags.species) e.species.add(s.tags.species);
      if (s.first && (!e.first || s.first < e.first)) e.first = s.first;
      traps.set(dev, e);
    }
    const wanted = params.get("trap");
    if (wanted && !traps.has(wanted)) traps.set(wanted, { species: new Set(), first: null });
    const names = [...traps.keys()].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
    if (!names.length) return [el("h2", {}, t("pests.title")), FL.note(t("pests.none"))];

    const date = /^\d{4}-\d{2}-\d{2}$/.test(params.get("date") || "") ? params.get("date") : null;
    const reports = await Promise.all(names.map((n) => FL.maybe(`/api/v1/farm/traps/${enc(n)}${date ? `?date=${date}` : ""}`).catch((e) => {
      if (e instanceof FL.SignInRequired) throw e;
      console.warn("pests:", n, e);
      return null;
    })));
    const byTrap = new Map(names.map((n, i) => [n, reports[i]]));

    // Without a trap in the link: the one that most needs looking at.
    const score = (r) => {
      const sp = (r && r.species) || [];
      return Math.max(-1, ...sp.map((s) => (s.level || 0) * 1e6 + (s.level_mean_daily_catch || 0) * 1e3 + Math.min(999, s.season_total || 0)));
    };
    const trap = wanted || names.reduce((best, n) => (score(byTrap.get(n)) > score(byTrap.get(best)) ? n : best), names[0]);
    const report = byTrap.get(trap);

    const label = (n) => {
      const r = byTrap.get(n);
      const sp = r && r.species && r.species.length ? r.species.map(speciesName) : [...(traps.get(n)?.species || [])].map(speciesName);
      return sp.length ? `${n} · ${sp.join(" / ")}` : n;
    };
    const out = [
      el("style", {}, STYLE),
      el("h2", {}, t("pests.title")),
      el("div", { class: "filters" }, el("label", {}, t("pests.trap"), " ", FL.picker("pests", "trap", names, trap, label)),
        report && report.date ? el("span", { class: "muted" }, t("pests.as_of", { date: FL.day(report.date, true) })) : null),
      summary(names, byTrap, trap, traps),
    ];
    if (!report) {
      out.push(el("div", { class: "panel" }, FL.note(t("pests.no_season", { trap }), "warn")));
      return out;
    }
    const only = params.get("species");
    const species = (report.species || []).filter((s) => !only || s.species === only);
    if (!species.length) out.push(el("div", { class: "panel" }, FL.note(t("pests.no_season", { trap }), "warn")));
    const firstDay = traps.get(trap)?.first ? trapDay(traps.get(trap).first) : null;
    for (const s of species) out.push(...speciesSection(report, s, firstDay, species.length > 1));
    return out;
  }

  // ---- every trap at a glance ----------------------------------------------------------
  function summary(names, byTrap, chosen, traps) {
    const rows = [];
    for (const n of names) {
      const r = byTrap.get(n);
      const sp = (r && r.species) || [];
      if (!sp.length) {
        rows.push(el("tr", { class: n === chosen ? "selected" : null }, el("td", {}, el("a", { href: `#/pests?trap=${enc(n)}` }, n)),
          el("td", { colspan: "4", class: "muted wrap" }, t("pests.no_season", { trap: n }))));
        continue;
      }
      sp.forEach((s, i) => rows.push(el("tr", { class: n === chosen ? "selected" : null },
        el("td", {}, i === 0 ? el("a", { href: `#/pests?trap=${enc(n)}` }, n) : "",
          i === 0 ? el("div", { class: "muted", style: "font-size:11px" }, typeName(s.trap_type || traps.get(n)?.type)) : null),
        el("td", { class: "wrap" }, speciesName(s)),
        el("td", {}, badge(s.level)),
        el("td", { class: "num wide" }, num(s.level_mean_daily_catch, 1)),
        el("td", { class: "num" }, num(s.next_week_forecast, 0)))));
    }
    return el("div", { class: "panel pests" }, el("h3", { style: "margin-top:0" }, t("pests.sum.title")),
      el("div", { style: "overflow-x:auto" }, el("table", {},
        el("thead", {}, el("tr", {}, el("th", {}, t("pests.sum.trap")), el("th", {}, t("pests.sum.species")), el("th", {}, t("pests.sum.level")),
          el("th", { class: "num wide" }, t("pests.sum.mean")), el("th", { class: "num" }, t("pests.sum.next")))),
        el("tbody", {}, rows))));
  }

  // ---- one species at one trap ---------------------------------------------------------
  function speciesSection(report, s, firstDay, several) {
    const name = speciesName(s);
    // The season's days from the trap's first reading (the API counts 0 for days before it).
    let daily = (s.daily || []).filter((d) => Array.isArray(d) && d[0] && isNum(d[1]));
    if (firstDay) {
      const cut = daily.filter((d) => d[0] >= firstDay);
      if (cut.length) daily = cut;
    }
    const from = daily.length ? daily[0][0] : null;
    const to = report.date || (daily.length ? daily[daily.length - 1][0] : null);
    const flights = (s.flights || []).filter((f) => f && f.peak);
    const total = isNum(s.season_total) ? s.season_total : daily.reduce((a, d) => a + d[1], 0);

    const head = el("h2", {}, `${name} · ${report.trap}`, el("span", { class: "muted", style: "font-weight:normal;font-size:13px" },
      `  ${typeName(s.trap_type)}`));
    const parts = [head, levelPanel(s), cards(s, daily, flights, total, report)];
    if (total <= 0) {
      // An empty season: words, not an empty chart.
      parts.push(el("div", { class: "panel" },
        el("div", { class: "advice" }, t("pests.empty", { species: inText(name), from: from ? FL.day(from) : "–", to: to ? FL.day(to) : "–" })),
        nextFlight(s, report, true)));
    } else {
      parts.push(catchChart(report, s, daily, flights, several));
      parts.push(flightTable(flights));
      parts.push(el("div", { class: "panel" }, nextFlight(s, report, false)));
    }
    return parts;
  }

  function levelPanel(s) {
    const n = isNum(s.level) ? s.level : null;
    const box = el("div", { class: "panel", style: `border-left:4px solid ${n >= 4 ? "#b3261e" : n === 3 ? "#a15c00" : "#1f4f86"}` },
      el("div", { class: "muted" }, t("pests.card.level")),
      el("div", { style: "margin:4px 0" }, badge(n, true)));
    if (n && has(`pests.act.${n}`)) box.append(el("div", { class: "advice" }, t(`pests.act.${n}`)));
    if (isNum(s.level_mean_daily_catch)) {
      box.append(el("div", { class: "muted" }, t("pests.level.basis", {
        n: isNum(s.level_window_days) ? s.level_window_days : 3, mean: num(s.level_mean_daily_catch, 1), type: typeName(s.trap_type) })));
    }
    return box;
  }

  function card(big, label, sub, cls = "") {
    return el("div", { class: "card" }, el("div", { class: "muted" }, label),
      el("div", { class: `big ${cls}` }, big), sub ? el("div", { class: "muted", style: "font-size:13px" }, sub) : null);
  }

  function cards(s, daily, flights, total, report) {
    const sum = (arr) => arr.reduce((a, d) => a + d[1], 0);
    const last7 = sum(daily.slice(-7)), prev7 = sum(daily.slice(-14, -7));
    let trend = "none", cls = "muted";
    if (last7 > 0 || prev7 > 0) {
      const ratio = prev7 > 0 ? last7 / prev7 : Infinity;
      if (ratio >= 1.25 && last7 - prev7 >= 3) { trend = "up"; cls = "bad"; }
      else if (ratio <= 0.8 && prev7 - last7 >= 3) { trend = "down"; cls = "good"; }
      else { trend = "flat"; cls = ""; }
    }
    const next = s.next_week_forecast;
    const dd = s.degree_days;
    return el("div", { class: "cards", style: "grid-template-columns:repeat(auto-fill,minmax(165px,1fr))" },
      card(t(`pests.trend.${trend}`), t("pests.card.trend"), t("pests.trend.detail", { a: num(last7, 0), b: num(prev7, 0) }), cls),
      card(isNum(next) ? heads(num(next, 0)) : "–", t("pests.card.next"), isNum(next) ? (Math.round(next) > 0 ? t("pests.card.next_sub", { n: num(next, 0) }) : t("pests.card.next_zero")) : ""),
      card(heads(num(total, 0)), t("pests.card.total"), flights.length === 1 ? t("pests.card.total_one")
        : flights.length ? t("pests.card.total_sub", { n: flights.length }) : t("pests.card.total_none")),
      card(isNum(dd) && report.temperatures_since ? num(dd, 0) : "–", t("pests.card.dd"), report.date ? t("pests.card.dd_sub", { day: FL.day(report.date) }) : ""));
  }

  function catchChart(report, s, daily, flights, several) {
    const cats = daily.map((d) => FL.day(d[0]));
    const values = daily.map((d) => d[1]);
    const index = new Map(daily.map((d, i) => [d[0], i]));
    // The next week's expected catch as a daily mean after the last day.
    const next = isNum(s.next_week_forecast) && s.next_week_forecast > 0 ? s.next_week_forecast / 7 : null;
    const last = daily.length ? daily[daily.length - 1][0] : null;
    const fc = [];
    if (next !== null && last) {
      for (let i = 1; i <= 7; i++) { cats.push(FL.day(dayAfter(last, i))); fc.push(+next.toFixed(2)); }
    }
    const areas = [], lines = [];
    flights.forEach((f, k) => {
      const a = index.get(f.onset), b = index.get(f.end), p = index.get(f.peak);
      if (a !== undefined && b !== undefined) {
        areas.push([{ xAxis: a, name: t("pests.chart.flight", { n: k + 1 }) }, { xAxis: b }]);
      }
      if (p !== undefined) lines.push({ xAxis: p, name: t("pests.chart.peak", { day: FL.day(f.peak) }) });
    });
    const long = cats.length > 60;
    const series = [{
      name: t("pests.chart.catch"), type: "bar", data: values, color: FL.PALETTE[1], barMaxWidth: 16,
      markArea: { silent: true, itemStyle: { color: "rgba(181,48,107,0.10)" }, label: { color: "#8a3b00", fontSize: 11, position: "insideTopLeft" }, data: areas },
      markLine: { silent: true, symbol: "none", lineStyle: { color: "#b3261e", type: "dashed" },
        label: { formatter: (q) => q.name, position: "end", fontSize: 11, color: "#b3261e" }, data: lines },
    }];
    if (fc.length) {
      series.push({ name: t("pests.chart.forecast"), type: "bar", data: [...values.map(() => null), ...fc], barGap: "-100%",
        color: "rgba(181,48,107,0.35)", itemStyle: { borderColor: FL.PALETTE[1], borderType: "dashed", borderWidth: 1 }, barMaxWidth: 16 });
    }
    const unit = FL.lang() === "zh" ? " 头" : "";
    const box = FL.chart(`pests-catch${several ? `-${s.species}` : ""}`, {
      grid: { left: 44, right: 16, top: 52, bottom: long ? 64 : 36 },
      legend: { top: 0 },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" },
        formatter: (ps) => [ps[0].axisValue, ...ps.filter((q) => isNum(q.value)).map((q) => `${q.marker}${q.seriesName}: <b>${num(q.value, q.seriesIndex ? 1 : 0)}</b>${unit}`)].join("<br>") },
      xAxis: { type: "category", data: cats, axisLabel: { hideOverlap: true } },
      yAxis: { type: "value", name: t("pests.chart.axis"), minInterval: 1, nameTextStyle: { align: "left" } },
      dataZoom: long ? [{ type: "inside" }, { type: "slider", height: 18, bottom: 8 }] : undefined,
      series,
    }, { height: 300 });
    Object.assign(box.style, { border: "0", margin: "0", padding: "0" });
    const parts = [el("h3", { style: "margin-top:0" }, t("pests.chart.title")), box,
      el("p", { class: "muted", style: "margin:4px 0 0;font-size:12px" }, t("pests.chart.explain"))];
    // A season that has gone quiet (winter): say so.
    let quiet = 0;
    for (let i = daily.length - 1; i >= 0 && daily[i][1] === 0; i--) quiet++;
    if (quiet >= 14) parts.splice(1, 0, FL.note(t("pests.quiet", { n: quiet, species: inText(speciesName(s)) }), "advice"));
    return el("div", { class: "panel" }, parts);
  }

  function flightTable(flights) {
    if (!flights.length) return null;
    const d = (x) => (x ? FL.day(x) : "–");
    return el("div", { class: "panel pests" }, el("h3", { style: "margin-top:0" }, t("pests.flights.title")),
      el("div", { style: "overflow-x:auto" }, el("table", {},
        el("thead", {}, el("tr", {}, ["n", "first", "onset", "peak", "end", "last"].map((k) =>
          el("th", { class: k === "first" || k === "last" ? "wide" : null }, t(`pests.flights.${k}`))),
          el("th", { class: "num" }, t("pests.flights.total")), el("th", {}, t("pests.flights.state")))),
        el("tbody", {}, flights.map((f, i) => el("tr", {},
          el("td", {}, t("pests.chart.flight", { n: i + 1 })), el("td", { class: "wide" }, d(f.first)), el("td", {}, d(f.onset)),
          el("td", {}, el("b", {}, d(f.peak))), el("td", {}, d(f.end)), el("td", { class: "wide" }, d(f.last)),
          el("td", { class: "num" }, num(f.total, 0)),
          el("td", { class: f.complete ? "muted" : "warn" }, f.complete ? t("pests.flights.done") : t("pests.flights.going"))))))),
      el("p", { class: "muted", style: "margin:4px 0 0;font-size:12px" }, t("pests.flights.explain")));
  }

  /** When the next flight is due, from the API's degree-day forecast and the usual calendar. */
  function nextFlight(s, report, emptySeason) {
    const f = s.next_flight;
    const out = [el("h3", { style: emptySeason ? "" : "margin-top:0" }, t("pests.next.title"))];
    const which = f && f.after_flight ? t("pests.next.gen") : t("pests.next.first");
    const temps = !!report.temperatures_since;
    const recent = (s.daily || []).slice(-14).reduce((a, d) => a + (isNum(d[1]) ? d[1] : 0), 0);
    // Late in the year, two quiet weeks and no peak in sight: nothing more flies this year,
    // and the degree days start again on 1 January. That leads; the model's numbers follow.
    const winter = !(f && f.expected_peak) && recent === 0 && report.date && Number(report.date.slice(5, 7)) >= 11;
    if (winter) out.push(el("div", { class: "advice" }, t("pests.next.winter")));
    const lead = winter ? "muted" : "advice";
    if (!f || !temps) {
      out.push(FL.note(temps ? t("pests.next.none") : t("pests.next.no_temps")));
    } else {
      if (f.expected_peak) {
        out.push(el("div", { class: lead }, f.early && f.late
          ? t("pests.next.peak", { which, day: FL.day(f.expected_peak), early: FL.day(f.early), late: FL.day(f.late) })
          : t("pests.next.peak_open", { which, day: FL.day(f.expected_peak) })));
      } else if (f.early) {
        out.push(el("div", { class: lead }, t("pests.next.early", { which, early: FL.day(f.early) })));
      } else {
        out.push(el("div", { class: lead }, t("pests.next.beyond", { which })));
      }
      const lines = [];
      if (isNum(f.dd_so_far) && isNum(f.due_dd)) {
        lines.push(f.dd_so_far >= f.due_dd
          ? t("pests.next.dd_due", { so_far: num(f.dd_so_far, 0), due: num(f.due_dd, 0) })
          : t("pests.next.dd", { so_far: num(f.dd_so_far, 0), due: num(f.due_dd, 0), left: num(f.due_dd - f.dd_so_far, 0) }));
      }
      if (isNum(f.forecast_days)) lines.push(f.forecast_days > 0 ? t("pests.next.fc", { n: f.forecast_days }) : t("pests.next.no_fc"));
      if (lines.length) out.push(el("div", { class: winter ? "muted" : null }, lines.join(FL.lang() === "zh" ? "" : " ")));
    }
    if (has(`pests.usual.${s.species}`)) out.push(el("div", { class: "muted" }, t(`pests.usual.${s.species}`)));
    if (report.temperatures_since) {
      out.push(el("div", { class: "muted", style: "font-size:12px" },
        t("pests.dd.from", { station: report.temperatures_from || "–", since: FL.day(report.temperatures_since, true) })));
    }
    return el("div", {}, out);
  }

  FL.page("pests", { nav: "nav.pests", render });
})();
