// The plot page, for the farm technician in the field (a phone first): the irrigation advice,
// the stage and the bloom-date forecast, the frost risk of the next 72 h, then the water
// balance, soil moisture, temperatures and degree days. Everything comes from
// /api/v1/farm/plots/{plot}; raw series (/api/v1/query) only for what that view lacks.
"use strict";

(() => {
  FL.addStrings({
    zh: {
      "farm.title": "牡丹地块 {plot}",
      "farm.plot": "地块",
      "farm.date": "日期",
      "farm.today": "回到今天",
      "farm.none": "还没有牡丹地块的数据。",
      "farm.no_season": "地块 {plot} 在 {date} 所在的季节没有读数（日期可能早于本季第一条数据）。",
      "farm.crop": "{crop} · 气象取自 {met} 站",
      "farm.crop_nomet": "{crop}",
      "farm.as_of": "数据截至 {date}",

      "farm.advice.title": "灌溉建议",
      "farm.advice.today": "今天灌溉 {mm} 毫米",
      "farm.advice.by": "{by}前灌溉 {mm} 毫米",
      "farm.advice.wait": "暂不灌溉：{on}预报有雨 {mm} 毫米",
      "farm.advice.none": "未来 7 天不需要灌溉",
      "farm.advice.unknown": "暂时给不出灌溉建议",
      "farm.advice.stressed": "根区亏缺已超过易耗水量，牡丹已开始受旱，请尽快灌溉。灌水量按补到田间持水量计算。",
      "farm.advice.refill": "灌水量按补到田间持水量计算。",
      "farm.advice.wait_more": "预报的雨能把土壤补回来；明天会按新的预报重新判断。",
      "farm.advice.depletion": "根区亏缺 {d} 毫米 / 易耗水量 {raw} 毫米（总有效水 {taw} 毫米）",
      "farm.advice.rain": "考虑的降雨预报：{days}",
      "farm.advice.rain_total": "（共 {mm} 毫米）",
      "farm.advice.no_rain_fc": "没有可用的降雨预报，按无雨计算。",
      "farm.advice.et0": "预计每天参考蒸散 {et0} 毫米 × 作物系数 {kc}",
      "farm.advice.days_dry": "按当前耗水，约 {n} 天后亏缺达到易耗水量。",

      "farm.card.stage": "生育期",
      "farm.card.stage_model": "按积温推算",
      "farm.card.stage_obs": "技术员 {at} 观测",
      "farm.card.bloom": "花期预测（始花）",
      "farm.card.bloom_reached": "已于 {day} 始花",
      "farm.card.bloom_range": "P10–P90：{lo} – {hi}",
      "farm.card.bloom_none": "暂无预测",
      "farm.card.frost": "霜冻风险（未来 72 小时）",
      "farm.card.gdd": "积温（°C·日）",
      "farm.card.gdd_since": "自 {day} 起累计",
      "farm.card.gdd_none": "尚未开始累计",
      "farm.card.et0": "今日参考蒸散 ET0",
      "farm.card.et0_none": "今天的 ET0 要到一天结束才有",

      "farm.frost.low": "低",
      "farm.frost.moderate": "中",
      "farm.frost.high": "高",
      "farm.frost.unknown": "无预报",
      "farm.frost.min": "最低 {t} °C（{at}）",
      "farm.frost.sensitive": "{stage}期怕冻，临界 {c} °C",
      "farm.frost.insensitive": "{stage}期不怕冻",
      "farm.frost.no_fc": "没有覆盖未来 72 小时的天气预报",

      "farm.bloom.title": "花期预测",
      "farm.bloom.stage": "生育期",
      "farm.bloom.date": "日期（P50）",
      "farm.bloom.range": "范围 P10–P90",
      "farm.bloom.status": "状态",
      "farm.bloom.reached": "已到达",
      "farm.bloom.forecast": "预测",
      "farm.bloom.beyond": "预报期内未到达",
      "farm.bloom.members": "{k}/{n} 个往年",
      "farm.bloom.basis": "用本地块 {n} 个往年春季的气温作集合成员，{fit}，回代误差约 ±{rmse} 天，已用天气预报 {fd} 天。",
      "farm.bloom.basis_nofit": "用本地块 {n} 个往年春季的气温作集合成员，{fit}，已用天气预报 {fd} 天。",
      "farm.bloom.fitted": "积温参数按往年物候拟合",
      "farm.bloom.default": "采用默认积温表",
      "farm.bloom.p10p90": "P10–P90 范围",
      "farm.bloom.p50": "P50",
      "farm.bloom.today": "今天",
      "farm.bloom.odd": "注意：花期模型认为{stages}已经到达，但按本季积温地块仍处于{current}期，两者不一致；请以田间观察为准。",
      "farm.bloom.odd_short": "与当前生育期不符，请以田间观察为准",

      "farm.st.dormant": "休眠", "farm.st.bud_break": "萌动", "farm.st.leaf_expansion": "展叶",
      "farm.st.flower_bud": "现蕾", "farm.st.bloom": "开花", "farm.st.post_bloom": "谢花",
      "farm.st_note.bloom": "始花", "farm.st_note.post_bloom": "末花",

      "farm.water.title": "土壤水分平衡（近 30 天）",
      "farm.water.depletion": "根区亏缺",
      "farm.water.raw": "易耗水量 {mm} 毫米",
      "farm.water.taw": "总有效水 {mm} 毫米",
      "farm.water.et0": "参考蒸散 ET0",
      "farm.water.etc": "作物耗水 ETc",
      "farm.water.rain": "降雨",
      "farm.water.irrigation": "灌溉（按墒情推算）",
      "farm.water.axis": "亏缺 毫米",
      "farm.water.axis2": "毫米/日",
      "farm.water.explain": "根区亏缺越高土壤越干；超过易耗水量（虚线）牡丹开始受旱。灌溉量由土壤含水量的回升推算（系统没有灌溉记录）。",
      "farm.water.none": "没有水分平衡：本季地块没有土壤含水量读数。",

      "farm.vwc.title": "土壤含水量",
      "farm.vwc.series": "体积含水量（%）",
      "farm.vwc.axis": "%",
      "farm.vwc.fc": "田间持水量 {v}%",
      "farm.vwc.refill": "灌溉起始点 {v}%",
      "farm.vwc.wp": "凋萎点 {v}%",

      "farm.temp.title": "气温与地温",
      "farm.temp.air": "气温",
      "farm.temp.soil": "地温",
      "farm.temp.frost": "霜冻临界 {c} °C",

      "farm.gdd.title": "积温与生育期",
      "farm.gdd.series": "积温",
      "farm.gdd.axis": "°C·日",
      "farm.gdd.explain": "积温自 {day} 起按单正弦法累计（基温 {base} °C）；虚线为各生育期开始所需积温（默认积温表）。",
      "farm.gdd.none": "本季还没有积温：按洛阳法，积温从春季回暖（连续 5 天平均气温 ≥ 3 °C）那天开始累计。",

      "farm.note.bloom": "暂无花期范围：需要本地块至少一个往年春季的气温记录。",
      "farm.note.et0": "没有参考蒸散：站点没有气象站读数（气温、湿度、风速、辐射）。",
      "farm.note.water": "没有水分平衡：本季地块没有土壤含水量读数。",
      "farm.note.gdd": "还没有积温：积温从春季回暖开始累计（洛阳法），而本季春天的气温不在库中。",
      "farm.unit.mm": "毫米",
    },
    en: {
      "farm.title": "Peony plot {plot}",
      "farm.plot": "Plot",
      "farm.date": "Date",
      "farm.today": "back to today",
      "farm.none": "No peony plot data yet.",
      "farm.no_season": "Plot {plot} has no readings in the season of {date} (the date may be before its first reading).",
      "farm.crop": "{crop} · weather from station {met}",
      "farm.crop_nomet": "{crop}",
      "farm.as_of": "as of {date}",

      "farm.advice.title": "Irrigation advice",
      "farm.advice.today": "Irrigate {mm} mm today",
      "farm.advice.by": "Irrigate {mm} mm by {by}",
      "farm.advice.wait": "Hold off: {mm} mm of rain forecast for {on}",
      "farm.advice.none": "No irrigation needed in the next 7 days",
      "farm.advice.unknown": "No irrigation advice for now",
      "farm.advice.stressed": "The root-zone depletion is past the readily available water: the peonies are under water stress, irrigate soon. The amount refills the root zone to field capacity.",
      "farm.advice.refill": "The amount refills the root zone to field capacity.",
      "farm.advice.wait_more": "The forecast rain refills the soil in time; tomorrow's advice uses the next forecast.",
      "farm.advice.depletion": "Root-zone depletion {d} mm / readily available water {raw} mm (total available {taw} mm)",
      "farm.advice.rain": "Rain in the forecast considered: {days}",
      "farm.advice.rain_total": " ({mm} mm in all)",
      "farm.advice.no_rain_fc": "No rain forecast available: counted as dry.",
      "farm.advice.et0": "Expected reference ET0 {et0} mm a day × crop coefficient {kc}",
      "farm.advice.days_dry": "at the current water use, the depletion reaches the readily available water in about {n} days.",

      "farm.card.stage": "Growth stage",
      "farm.card.stage_model": "from degree days",
      "farm.card.stage_obs": "observed by a technician {at}",
      "farm.card.bloom": "Bloom forecast (first flowers)",
      "farm.card.bloom_reached": "first flowers on {day}",
      "farm.card.bloom_range": "P10–P90: {lo} – {hi}",
      "farm.card.bloom_none": "no forecast",
      "farm.card.frost": "Frost risk (next 72 h)",
      "farm.card.gdd": "Degree days (°C·d)",
      "farm.card.gdd_since": "since {day}",
      "farm.card.gdd_none": "not started yet",
      "farm.card.et0": "Reference ET0 today",
      "farm.card.et0_none": "today's ET0 comes at the end of the day",

      "farm.frost.low": "low",
      "farm.frost.moderate": "moderate",
      "farm.frost.high": "high",
      "farm.frost.unknown": "no forecast",
      "farm.frost.min": "lowest {t} °C ({at})",
      "farm.frost.sensitive": "the {stage} stage is frost-sensitive (threshold {c} °C)",
      "farm.frost.insensitive": "the {stage} stage is not frost-sensitive",
      "farm.frost.no_fc": "No weather forecast covers the next 72 h",

      "farm.bloom.title": "Bloom-date forecast",
      "farm.bloom.stage": "Stage",
      "farm.bloom.date": "Date (P50)",
      "farm.bloom.range": "Range P10–P90",
      "farm.bloom.status": "Status",
      "farm.bloom.reached": "reached",
      "farm.bloom.forecast": "forecast",
      "farm.bloom.beyond": "not within the forecast",
      "farm.bloom.members": "{k}/{n} past springs",
      "farm.bloom.basis": "Ensemble of {n} past springs of this plot's temperatures; {fit}; hindcast error about ±{rmse} days; {fd} days of weather forecast used.",
      "farm.bloom.basis_nofit": "Ensemble of {n} past springs of this plot's temperatures; {fit}; {fd} days of weather forecast used.",
      "farm.bloom.fitted": "heat sums fitted to past stage dates",
      "farm.bloom.default": "default heat sums",
      "farm.bloom.p10p90": "P10–P90 range",
      "farm.bloom.p50": "P50",
      "farm.bloom.today": "today",
      "farm.bloom.odd": "Note: the bloom model counts {stages} as reached, but by this season's degree days the plot is still at {current}; the two disagree, trust what you see in the field.",
      "farm.bloom.odd_short": "disagrees with the current stage: check in the field",

      "farm.st.dormant": "dormant", "farm.st.bud_break": "bud break", "farm.st.leaf_expansion": "leaf expansion",
      "farm.st.flower_bud": "flower bud", "farm.st.bloom": "bloom", "farm.st.post_bloom": "post-bloom",
      "farm.st_note.bloom": "first flowers", "farm.st_note.post_bloom": "end of bloom",

      "farm.water.title": "Root-zone water balance (last 30 days)",
      "farm.water.depletion": "Depletion",
      "farm.water.raw": "RAW {mm} mm",
      "farm.water.taw": "TAW {mm} mm",
      "farm.water.et0": "Reference ET0",
      "farm.water.etc": "Crop ETc",
      "farm.water.rain": "Rain",
      "farm.water.irrigation": "Irrigation (inferred from soil moisture)",
      "farm.water.axis": "depletion, mm",
      "farm.water.axis2": "mm/day",
      "farm.water.explain": "The higher the depletion, the drier the root zone; past the readily available water (RAW, dashed) the peonies are stressed. Irrigation is inferred from rises of the soil moisture (the system has no irrigation log).",
      "farm.water.none": "No water balance: the plot has no soil-moisture readings this season.",

      "farm.vwc.title": "Soil moisture",
      "farm.vwc.series": "Volumetric water content (%)",
      "farm.vwc.axis": "%",
      "farm.vwc.fc": "field capacity {v}%",
      "farm.vwc.refill": "refill point {v}%",
      "farm.vwc.wp": "wilting point {v}%",

      "farm.temp.title": "Air and soil temperature",
      "farm.temp.air": "Air",
      "farm.temp.soil": "Soil",
      "farm.temp.frost": "frost threshold {c} °C",

      "farm.gdd.title": "Degree days and growth stages",
      "farm.gdd.series": "Degree days",
      "farm.gdd.axis": "°C·d",
      "farm.gdd.explain": "Degree days since {day} (single sine, base {base} °C); the dashed lines are the heat sums at which each stage begins (default table).",
      "farm.gdd.none": "No degree days this season yet: by the Luoyang rule they count from the spring's warming (the first 5-day mean of at least 3 °C).",

      "farm.note.bloom": "No bloom-date range yet: it needs at least one past spring of this plot's temperatures.",
      "farm.note.et0": "No reference ET0: the site has no met-station readings (air temperature, humidity, wind, irradiance).",
      "farm.note.water": "No water balance: the plot has no soil-moisture readings this season.",
      "farm.note.gdd": "No degree days yet: they count from the spring's warming (the Luoyang rule), and this season's spring temperatures are not in the store.",
      "farm.unit.mm": "mm",
    },
  });

  const { el, t, num, isNum } = FL;
  const enc = encodeURIComponent;
  const DAY_MS = 86400e3;

  // The crop table's heat sums (the plot view carries them, overrides in fieldline.toml
  // included): the degree-day chart marks each stage after the first.
  const cropStages = (p) => (p.crop_stages || []).filter((s) => s.gdd > 0).map((s) => [s.code, s.gdd]);

  // The crop table's base temperature (the season's sum uses it; a fitted base is only for
  // the bloom forecast).
  const cropBase = (p) => (isNum(p.crop_base_c) ? p.crop_base_c : 0);

  /** A stage's name from its code (and the server's Chinese name when it has one). */
  function stageName(code, nameZh) {
    if (!code) return t("stage.unknown");
    const key = `farm.st.${code}`;
    if (t(key) !== key) return t(key);
    return FL.stageName({ code, name_zh: nameZh });
  }
  const ORDER = ["dormant", "bud_break", "leaf_expansion", "flower_bud", "bloom", "post_bloom"];
  /** Stages the bloom model counts as reached though the stage shown is an earlier one. */
  const aheadOfStage = (p) => {
    const now = ORDER.indexOf(p.stage && p.stage.code);
    if (now < 0) return [];
    return (p.bloom || []).filter((b) => b && b.reached && ORDER.indexOf(b.stage) > now);
  };
  const stageNote = (code) => (t(`farm.st_note.${code}`) === `farm.st_note.${code}` ? "" : t(`farm.st_note.${code}`));

  /** "2026-04-20" plus n days. */
  function addDays(d, n) {
    const ms = Date.parse(`${String(d).slice(0, 10)}T12:00:00Z`) + n * DAY_MS;
    return new Date(ms).toISOString().slice(0, 10);
  }
  /** A day as the x value of a chart drawn in UTC: noon of that calendar day. */
  const dayX = (d) => Date.parse(`${String(d).slice(0, 10)}T12:00:00Z`);
  /** 4月21日 05:45 from an API time with its offset (+08:00). */
  function dayTime(s) {
    if (!s) return "–";
    const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(s);
    return m && /\+08:00$/.test(s) ? `${FL.day(m[1])} ${m[2]}` : FL.time(s);
  }
  const mm = (x, d = 0) => `${num(x, d)} ${t("farm.unit.mm")}`;
  /** The server's English notes, in the reader's language. */
  function noteText(n) {
    const s = String(n);
    if (s.startsWith("no bloom-date range")) return t("farm.note.bloom");
    if (s.startsWith("no ET0")) return t("farm.note.et0");
    if (s.startsWith("no water balance")) return t("farm.note.water");
    if (s.startsWith("no degree days")) return t("farm.note.gdd");
    return s;
  }

  const safe = (p) => p.catch((e) => { if (e instanceof FL.SignInRequired) throw e; console.warn("farm:", e); return null; });

  async function render(params) {
    // The plots: every device with air temperature readings (the plot list is needed first
    // only when the link names none).
    const wanted = params.get("plot");
    const list = safe(FL.api("/api/v1/series?measurement=peony_plot&field=air_temp_c"));
    const plotsOf = (r) => [...new Set(((r && r.series) || []).map((s) => s.tags && s.tags.device).filter(Boolean))].sort();
    const plot = wanted || plotsOf(await list)[0];
    if (!plot) return [el("h2", {}, t("nav.farm")), FL.note(t("farm.none"))];
    const date = /^\d{4}-\d{2}-\d{2}$/.test(params.get("date") || "") ? params.get("date") : null;

    // The raw series' window: the header's range, ending now or at the end of the day asked for.
    const hours = FL.rangeHours();
    let start = FL.since(), stop = "";
    if (date) {
      const end = Date.parse(`${addDays(date, 1)}T00:00:00+08:00`);
      start = new Date(end - hours * 3600e3).toISOString();
      stop = `&stop=${addDays(date, 1)}`;
    }
    const raw = (field) => safe(FL.api(`/api/v1/query?measurement=peony_plot&device=${enc(plot)}&field=${field}` +
      `&start=${enc(start)}${stop}&every=${FL.every()}&agg=mean&tz=${FL.TZ}`));
    let failed = null;
    const view = FL.maybe(`/api/v1/farm/plots/${enc(plot)}${date ? `?date=${date}` : ""}`).catch((e) => {
      if (e instanceof FL.SignInRequired) throw e;
      failed = e.message;
      return null;
    });
    // Degree days day by day: the view has only the season's sum, so the daily minimum and
    // maximum air temperature of the season (cut to its start below), summed the server's way.
    const seasonStart = date ? `${date.slice(0, 4)}-01-01` : "-370d";
    const daily = (agg) => safe(FL.api(`/api/v1/query?measurement=peony_plot&device=${enc(plot)}&field=air_temp_c` +
      `&start=${seasonStart}${stop}&every=1d&agg=${agg}&tz=${FL.TZ}`));
    const [listed, p, air, soilT, vwc, lo, hi] = await Promise.all(
      [list, view, raw("air_temp_c"), raw("soil_temp_c"), raw("soil_vwc_pct"), daily("min"), daily("max")]);
    const plots = plotsOf(listed);
    if (!plots.includes(plot)) plots.push(plot);
    const gddDays = p && p.gdd_start ? accumulate(lo, hi, cropBase(p), p.gdd_start, p.date) : null;

    const head = header(plot, plots, date, p);
    if (!p) {
      if (failed) return [head, FL.note(t("error.load", { message: failed }), "bad"), tempChart(air, soilT, null), vwcChart(vwc, null)];
      return [head, FL.note(t("farm.no_season", { plot, date: date ? FL.day(date, true) : t("farm.bloom.today") }), "warn"),
        tempChart(air, soilT, null), vwcChart(vwc, null)];
    }
    // Notes the sections already say in their place are not repeated.
    const shownElsewhere = /^no (bloom-date range|water balance|degree days)/;
    const notes = (p.notes || []).filter((n) => !shownElsewhere.test(String(n))).map((n) => FL.note(noteText(n)));
    return [
      head,
      advicePanel(p),
      el("div", { class: "cards", style: "grid-template-columns:repeat(auto-fill,minmax(165px,1fr))" }, stageCard(p), bloomCard(p), frostCard(p), gddCard(p), et0Card(p)),
      bloomPanel(p),
      waterChart(p),
      vwcChart(vwc, p.water),
      tempChart(air, soilT, p.frost),
      gddChart(p, gddDays),
      notes.length ? el("div", { class: "panel" }, notes) : null,
    ];
  }

  function header(plot, plots, date, p) {
    const shown = date || (p && p.date) || "";
    const input = el("input", { type: "date", value: shown, "aria-label": t("farm.date"), onchange: (e) => {
      const q = FL.params(); q.set("plot", plot);
      if (e.target.value) q.set("date", e.target.value); else q.delete("date");
      location.hash = `#/farm?${q}`;
    } });
    if (!date && p && p.date) input.max = p.date;
    const today = date ? el("a", { href: `#/farm?plot=${enc(plot)}` }, t("farm.today")) : null;
    let crop = p ? (FL.lang() === "zh" ? p.crop_zh : p.crop) || p.crop : null;
    if (crop && FL.lang() !== "zh") crop = crop.charAt(0).toUpperCase() + crop.slice(1).replace(/_/g, " ");
    const met = p && p.weather_from && p.weather_from.met_station;
    return el("div", {},
      el("h2", {}, t("farm.title", { plot })),
      el("div", { class: "filters" },
        el("label", {}, t("farm.plot"), " ", FL.picker("farm", "plot", plots, plot)),
        el("label", {}, t("farm.date"), " ", input), today,
        crop ? el("span", { class: "muted" }, met ? t("farm.crop", { crop, met }) : t("farm.crop_nomet", { crop })) : null));
  }

  // ---- the advice, big -----------------------------------------------------------------
  function advicePanel(p) {
    const w = p.water;
    const box = el("div", { class: "panel", style: "border-left:4px solid var(--accent)" },
      el("div", { class: "muted" }, t("farm.advice.title"), " · ", FL.day(p.date, true)));
    const big = (text, cls) => el("div", { class: `advice ${cls}`, style: "font-size:26px;line-height:1.25;margin:4px 0 6px" }, text);
    if (!w || !w.advice) {
      box.append(big(t("farm.advice.unknown"), "muted"), FL.note(t("farm.water.none")));
      return box;
    }
    const a = w.advice;
    if (a.action === "irrigate") {
      const today = !a.by || a.by <= p.date;
      box.append(big(today ? t("farm.advice.today", { mm: num(a.amount_mm, 0) }) : t("farm.advice.by", { mm: num(a.amount_mm, 0), by: FL.day(a.by) }), "bad"));
      box.append(el("div", {}, isNum(w.depletion_mm) && isNum(w.raw_mm) && w.depletion_mm > w.raw_mm ? t("farm.advice.stressed") : t("farm.advice.refill")));
    } else if (a.action === "wait_for_rain") {
      box.append(big(t("farm.advice.wait", { mm: num(a.rain_mm, 1), on: FL.day(a.rain_on) }), "warn"));
      box.append(el("div", {}, t("farm.advice.wait_more")));
    } else {
      box.append(big(t("farm.advice.none"), "good"));
    }
    box.append(el("div", {}, t("farm.advice.depletion", { d: num(w.depletion_mm, 0), raw: num(w.raw_mm, 0), taw: num(w.taw_mm, 0) })));
    // The rain it considered: the weather forecast's days after the report's date.
    const rain = (w.forecast_rain_mm || []).filter(isNum);
    if (rain.length) {
      const days = rain.map((r, i) => `${FL.day(addDays(p.date, i + 1))} ${mm(r, 1)}`).join(FL.lang() === "zh" ? "，" : ", ");
      const total = rain.reduce((sum, r) => sum + r, 0);
      box.append(el("div", {}, t("farm.advice.rain", { days }), rain.length > 1 ? t("farm.advice.rain_total", { mm: num(total, 1) }) : ""));
    } else {
      box.append(el("div", {}, t("farm.advice.no_rain_fc")));
    }
    const kc = p.stage && p.stage.kc;
    if (isNum(w.et0_ahead_mm_per_day) && w.et0_ahead_mm_per_day > 0 && isNum(kc)) {
      const line = [t("farm.advice.et0", { et0: num(w.et0_ahead_mm_per_day, 1), kc: num(kc, 2) })];
      const use = w.et0_ahead_mm_per_day * kc;
      if (a.action === "none" && isNum(w.depletion_mm) && isNum(w.raw_mm) && use > 0) {
        const n = Math.ceil((w.raw_mm - w.depletion_mm) / use);
        if (n > 0 && n < 60) line.push(t("farm.advice.days_dry", { n }));
      }
      box.append(el("div", { class: "muted" }, line.join(FL.lang() === "zh" ? "；" : "; ")));
    }
    return box;
  }

  // ---- cards ---------------------------------------------------------------------------
  function card(big, label, sub, cls = "") {
    return el("div", { class: "card" }, el("div", { class: "muted" }, label),
      el("div", { class: `big ${cls}` }, big), sub ? el("div", { class: "muted", style: "font-size:13px" }, sub) : null);
  }

  function stageCard(p) {
    const s = p.stage;
    const name = s ? stageName(s.code, s.name_zh) : t("stage.unknown");
    const obs = p.stage_observed && p.stage_observed.code === (s && s.code)
      ? t("farm.card.stage_obs", { at: dayTime(p.stage_observed.at) }) : t("farm.card.stage_model");
    return card(FL.lang() === "zh" ? name : name.charAt(0).toUpperCase() + name.slice(1), t("farm.card.stage"), obs);
  }

  function bloomCard(p) {
    const b = (p.bloom || []).find((x) => x.stage === "bloom");
    if (!b) return card("–", t("farm.card.bloom"), t("farm.card.bloom_none"), "muted");
    if (b.reached) {
      const odd = aheadOfStage(p).includes(b);
      return card(FL.day(b.reached), t("farm.card.bloom"), odd ? t("farm.bloom.odd_short") : t("farm.card.bloom_reached", { day: FL.day(b.reached) }), odd ? "warn" : "good");
    }
    if (!b.p50) return card("–", t("farm.card.bloom"), t("farm.bloom.beyond"), "muted");
    const range = b.p10 && b.p90 ? t("farm.card.bloom_range", { lo: FL.day(b.p10), hi: FL.day(b.p90) }) : "";
    return card(FL.day(b.p50), t("farm.card.bloom"), range);
  }

  function frostCard(p) {
    const f = p.frost || {};
    const stage = p.stage ? stageName(p.stage.code, p.stage.name_zh) : t("stage.unknown");
    if (!f.level) return card(t("farm.frost.unknown"), t("farm.card.frost"), t("farm.frost.no_fc"), "muted");
    const cls = { low: "good", moderate: "warn", high: "bad" }[f.level] || "";
    const lines = [];
    if (isNum(f.min_temp_c)) lines.push(t("farm.frost.min", { t: num(f.min_temp_c, 1), at: dayTime(f.at) }));
    lines.push(f.stage_frost_sensitive ? t("farm.frost.sensitive", { stage, c: num(f.threshold_c, 0) }) : t("farm.frost.insensitive", { stage }));
    return card(t(`farm.frost.${f.level}`), t("farm.card.frost"), lines.join(FL.lang() === "zh" ? "；" : "; "), cls);
  }

  function gddCard(p) {
    if (!p.gdd_start) return card("0", t("farm.card.gdd"), t("farm.card.gdd_none"), "muted");
    return card(num(p.gdd, 0), t("farm.card.gdd"), t("farm.card.gdd_since", { day: FL.day(p.gdd_start) }));
  }

  function et0Card(p) {
    if (isNum(p.et0_mm)) return card(mm(p.et0_mm, 1), t("farm.card.et0"), "");
    const days = (p.water && p.water.days) || [];
    const last = [...days].reverse().find((d) => isNum(d.et0_mm) && d.et0_mm > 0);
    return card(last ? mm(last.et0_mm, 1) : "–", t("farm.card.et0"),
      last ? `${FL.day(last.date)} · ${t("farm.card.et0_none")}` : t("farm.card.et0_none"), "muted");
  }

  // ---- bloom forecast: table and range chart -------------------------------------------
  function bloomPanel(p) {
    const rows = (p.bloom || []).filter((b) => b && b.stage);
    const out = el("div", { class: "panel" }, el("h3", { style: "margin-top:0" }, t("farm.bloom.title")));
    if (!rows.length) {
      out.append(FL.note(t("farm.note.bloom")));
      return out;
    }
    const range = (b) => (b.p10 && b.p90 ? (b.p10 === b.p90 ? FL.day(b.p10) : `${FL.day(b.p10)} – ${FL.day(b.p90)}`) : "–");
    const table = el("table", {},
      el("thead", {}, el("tr", {}, el("th", {}, t("farm.bloom.stage")), el("th", {}, t("farm.bloom.date")),
        el("th", {}, t("farm.bloom.range")), el("th", {}, t("farm.bloom.status")))),
      el("tbody", {}, rows.map((b) => {
        const current = p.stage && p.stage.code === b.stage;
        const note = stageNote(b.stage);
        return el("tr", { class: current ? "selected" : null },
          el("td", {}, el("b", {}, stageName(b.stage)), note ? el("span", { class: "muted" }, FL.lang() === "zh" ? `（${note}）` : ` (${note})`) : null),
          el("td", {}, b.reached ? FL.day(b.reached) : b.p50 ? FL.day(b.p50) : "–"),
          el("td", {}, b.reached ? "" : range(b)),
          el("td", { class: b.reached ? "good" : b.p50 ? "" : "muted" },
            b.reached ? t("farm.bloom.reached") : b.p50 ? t("farm.bloom.forecast") : t("farm.bloom.beyond"),
            !b.reached && isNum(b.members) && isNum(b.members_reaching) && b.members_reaching < b.members
              ? el("span", { class: "muted" }, ` (${t("farm.bloom.members", { k: b.members_reaching, n: b.members })})`) : null));
      })));
    out.append(table);
    const odd = aheadOfStage(p);
    if (odd.length) {
      out.append(FL.note(t("farm.bloom.odd", { stages: odd.map((b) => stageName(b.stage)).join(FL.lang() === "zh" ? "、" : ", "),
        current: stageName(p.stage.code, p.stage.name_zh) }), "warn"));
    }
    const ph = p.phenology || {};
    if (isNum(ph.past_seasons) && ph.past_seasons > 0) {
      const fit = ph.fitted ? t("farm.bloom.fitted") : t("farm.bloom.default");
      const args = { n: ph.past_seasons, fit, rmse: num(ph.rmse_days, 1), fd: isNum(ph.forecast_days_used) ? ph.forecast_days_used : 0 };
      out.append(el("p", { class: "muted", style: "margin:6px 0 0;font-size:12px" },
        isNum(ph.rmse_days) ? t("farm.bloom.basis", args) : t("farm.bloom.basis_nofit", args)));
    }
    const chart = bloomChart(p, rows);
    if (chart) out.append(Object.assign(chart.style, { border: "0", margin: "6px 0 0", padding: "0" }) && chart);
    return out;
  }

  function bloomChart(p, rows) {
    const names = rows.map((b) => stageName(b.stage));
    const series = [];
    let lo = Infinity, hi = -Infinity;
    const see = (d) => { if (d) { lo = Math.min(lo, dayX(d)); hi = Math.max(hi, dayX(d)); } };
    rows.forEach((b, i) => {
      if (!b.reached && b.p10 && b.p90) {
        series.push({ name: t("farm.bloom.p10p90"), type: "line", symbol: "none", silent: true, color: FL.PALETTE[1],
          lineStyle: { width: 10, cap: "round", opacity: 0.35 }, data: [[dayX(b.p10), i], [dayX(b.p90), i]] });
        see(b.p10); see(b.p90);
      }
      see(b.reached || b.p50);
    });
    const p50 = rows.map((b, i) => (!b.reached && b.p50 ? [dayX(b.p50), i, b.p50] : null)).filter(Boolean);
    const reached = rows.map((b, i) => (b.reached ? [dayX(b.reached), i, b.reached] : null)).filter(Boolean);
    if (!p50.length && !reached.length) return null;
    see(p.date);
    series.push({ name: t("farm.bloom.p50"), type: "scatter", symbolSize: 11, color: FL.PALETTE[1], data: p50,
      markLine: { silent: true, symbol: "none", lineStyle: { color: "#7a7a7a", type: "dashed" },
        label: { formatter: t("farm.bloom.today"), position: "start" }, data: [{ xAxis: dayX(p.date) }] } });
    series.push({ name: t("farm.bloom.reached"), type: "scatter", symbol: "diamond", symbolSize: 11, color: FL.PALETTE[2], data: reached });
    const label = (v) => FL.day(new Date(v).toISOString().slice(0, 10));
    return FL.chart("farm-bloom", {
      useUTC: true,
      grid: { left: 64, right: 20, top: 48, bottom: 28 },
      legend: { top: 0, data: [t("farm.bloom.reached"), t("farm.bloom.p50"), t("farm.bloom.p10p90")] },
      tooltip: { trigger: "item", formatter: (q) => `${names[q.value[1]]}: ${q.value[2] ? FL.day(q.value[2]) : label(q.value[0])}` },
      xAxis: { type: "time", min: lo - 3 * DAY_MS, max: hi + 3 * DAY_MS, axisLabel: { formatter: label, hideOverlap: true } },
      yAxis: { type: "category", data: names, inverse: true, axisTick: { show: false } },
      series,
    }, { height: 60 + 30 * rows.length, points: p50.length + reached.length });
  }

  // ---- charts --------------------------------------------------------------------------
  /** A chart box inside a titled panel, without a second frame. */
  function inPanel(title, box, ...after) {
    if (box) Object.assign(box.style, { border: "0", margin: "0", padding: "0" });
    return el("div", { class: "panel" }, el("h3", { style: "margin-top:0" }, title), box, ...after);
  }
  const explain = (text) => el("p", { class: "muted", style: "margin:4px 0 0;font-size:12px" }, text);
  const empty = (title, text) => el("div", { class: "panel" }, el("h3", { style: "margin-top:0" }, title), FL.note(text || t("empty.period")));
  const firstSeries = (r) => (r && r.series && r.series[0]) || null;

  function waterChart(p) {
    const w = p.water;
    if (!w || !(w.days || []).length) return empty(t("farm.water.title"), t("farm.water.none"));
    const days = w.days;
    const cats = days.map((d) => FL.day(d.date));
    const last = days.length - 1;
    const et0 = days.map((d, i) => (isNum(d.et0_mm) && !(i === last && d.et0_mm === 0 && !isNum(p.et0_mm)) ? +d.et0_mm.toFixed(2) : null));
    const etc = days.map((d, i) => (et0[i] === null ? null : isNum(d.etc_mm) ? +d.etc_mm.toFixed(2) : null));
    const rain = days.map((d) => (isNum(d.rain_mm) && d.rain_mm > 0 ? +d.rain_mm.toFixed(1) : null));
    // Irrigation is not in the view: a measured refill the day's rain does not explain.
    const irr = days.map((d, i) => {
      if (i === 0 || !d.measured || !isNum(d.depletion_mm) || !isNum(days[i - 1].depletion_mm)) return null;
      const x = days[i - 1].depletion_mm + (d.etc_mm || 0) - (d.rain_mm || 0) - d.depletion_mm;
      return x >= 10 ? Math.round(x) : null;
    });
    const depl = days.map((d) => (isNum(d.depletion_mm) ? +d.depletion_mm.toFixed(1) : null));
    const names = { depl: t("farm.water.depletion"), et0: t("farm.water.et0"), etc: t("farm.water.etc"), rain: t("farm.water.rain"), irr: t("farm.water.irrigation") };
    const lines = [];
    if (isNum(w.raw_mm)) lines.push({ yAxis: w.raw_mm, name: t("farm.water.raw", { mm: num(w.raw_mm, 0) }), lineStyle: { color: "#b3261e", type: "dashed" } });
    if (isNum(w.taw_mm)) lines.push({ yAxis: w.taw_mm, name: t("farm.water.taw", { mm: num(w.taw_mm, 0) }), lineStyle: { color: "#7a7a7a", type: "dotted" } });
    const top = Math.max(isNum(w.taw_mm) ? w.taw_mm : 0, ...depl.filter(isNum)) || undefined;
    const series = [
      { name: names.depl, type: "line", data: depl, symbolSize: 4, lineStyle: { width: 2.2 }, color: FL.PALETTE[3],
        areaStyle: { opacity: 0.08 },
        markLine: { silent: true, symbol: "none", data: lines,
          label: { formatter: (q) => q.name, position: "insideStartTop", fontSize: 11 } } },
      { name: names.irr, type: "bar", yAxisIndex: 0, data: irr, color: "#00838f", barMaxWidth: 14 },
      { name: names.rain, type: "bar", yAxisIndex: 1, data: rain, color: FL.PALETTE[0], barMaxWidth: 10 },
      { name: names.et0, type: "line", yAxisIndex: 1, data: et0, symbol: "none", lineStyle: { width: 1.4, type: "dashed" }, color: "#7a7a7a" },
      { name: names.etc, type: "line", yAxisIndex: 1, data: etc, symbol: "none", lineStyle: { width: 1.4 }, color: "#6a3fb5" },
    ];
    // Series without a value (no rain, no met station) stay out of the legend.
    const shown = series.filter((x, i) => i === 0 || x.data.some((v) => isNum(v) && v > 0));
    const unit = t("farm.unit.mm");
    const box = FL.chart("farm-water", {
      // A phone's legend wraps to more lines (plain, not scrolled: every series named at once).
      grid: { left: 48, right: 44, top: window.innerWidth < 600 ? 40 + 22 * Math.ceil(shown.length / 2) : 64, bottom: 36 },
      legend: { top: 0, type: "plain" },
      tooltip: { trigger: "axis", formatter: (ps) => [days[ps[0].dataIndex].date ? FL.day(days[ps[0].dataIndex].date, true) : "",
        ...ps.filter((q) => isNum(q.value)).map((q) => `${q.marker}${q.seriesName}: <b>${num(q.value, 1)}</b> ${unit}`)].join("<br>") },
      xAxis: { type: "category", data: cats, axisLabel: { hideOverlap: true } },
      yAxis: [
        { type: "value", name: t("farm.water.axis"), min: 0, max: top ? Math.ceil((top + 15) / 20) * 20 : undefined, nameTextStyle: { align: "left" } },
        { type: "value", name: t("farm.water.axis2"), min: 0, splitLine: { show: false }, nameTextStyle: { align: "right" } },
      ],
      series: shown,
    }, { height: 320 });
    return inPanel(t("farm.water.title"), box, explain(t("farm.water.explain")));
  }

  function vwcChart(res, w) {
    const s = firstSeries(res);
    const data = FL.pts(s);
    if (!data.length) return empty(t("farm.vwc.title"));
    const lines = [];
    const soil = w && w.soil;
    if (soil && isNum(soil.field_capacity_pct)) {
      lines.push({ y: soil.field_capacity_pct, label: t("farm.vwc.fc", { v: num(soil.field_capacity_pct, 0) }), color: "#1e7b34" });
      if (isNum(w.raw_mm) && isNum(soil.root_depth_m) && soil.root_depth_m > 0) {
        const refill = soil.field_capacity_pct - w.raw_mm / (10 * soil.root_depth_m);
        lines.push({ y: +refill.toFixed(1), label: t("farm.vwc.refill", { v: num(refill, 0) }), color: "#b3261e" });
      }
      if (isNum(soil.wilting_point_pct)) lines.push({ y: soil.wilting_point_pct, label: t("farm.vwc.wp", { v: num(soil.wilting_point_pct, 0) }), color: "#7a7a7a" });
    }
    // Room above the top line for the chart's toolbox.
    const values = [...data.map((d) => d[1]), ...lines.map((l) => l.y)];
    const [lo, hi] = [Math.min(...values), Math.max(...values)];
    return inPanel(t("farm.vwc.title"), FL.timeChart("farm-vwc", {
      series: [{ name: t("farm.vwc.series"), data, area: true, color: FL.PALETTE[0] }],
      lines, yName: t("farm.vwc.axis"), yMin: Math.floor((lo - 2) / 5) * 5, yMax: Math.ceil((hi + 2 + (hi - lo) * 0.2) / 5) * 5, height: 280,
    }));
  }

  function tempChart(air, soil, frost) {
    const a = FL.pts(firstSeries(air)), s = FL.pts(firstSeries(soil));
    if (!a.length && !s.length) return empty(t("farm.temp.title"));
    const series = [];
    if (a.length) series.push({ name: t("farm.temp.air"), data: a, color: FL.PALETTE[1] });
    if (s.length) series.push({ name: t("farm.temp.soil"), data: s, color: FL.PALETTE[3] });
    const lines = [];
    const min = Math.min(...a.map((x) => x[1]), ...s.map((x) => x[1]));
    if (frost && isNum(frost.threshold_c) && min < frost.threshold_c + 6) {
      lines.push({ y: frost.threshold_c, label: t("farm.temp.frost", { c: num(frost.threshold_c, 0) }), color: "#2f6fb5" });
    }
    return inPanel(t("farm.temp.title"), FL.timeChart("farm-temp", { series, lines, yName: t("unit.c"), height: 280 }));
  }

  /** Daily degree days (single sine from the daily min/max) and their running sum. */
  function accumulate(lo, hi, base, from, to) {
    const los = new Map(FL.pts(firstSeries(lo)).map(([t0, v]) => [String(t0).slice(0, 10), v]));
    const his = FL.pts(firstSeries(hi)).filter(([t0]) => String(t0).slice(0, 10) >= from && String(t0).slice(0, 10) <= to);
    let sum = 0;
    const out = [];
    for (const [t0, h] of his) {
      const d = String(t0).slice(0, 10);
      const l = los.get(d);
      if (isNum(l) && isNum(h)) sum += singleSine(Math.min(l, h), Math.max(l, h), base);
      out.push([d, sum]);
    }
    return out.length ? out : null;
  }
  function singleSine(low, high, base) {
    if (high <= base) return 0;
    if (low >= base) return (low + high) / 2 - base;
    const mean = (low + high) / 2, amp = (high - low) / 2;
    const at = Math.asin(Math.max(-1, Math.min(1, (base - mean) / amp)));
    return ((mean - base) * (Math.PI / 2 - at) + amp * Math.cos(at)) / Math.PI;
  }

  function gddChart(p, days) {
    if (!p.gdd_start) return empty(t("farm.gdd.title"), t("farm.gdd.none"));
    if (!days) return empty(t("farm.gdd.title"));
    // The server's sum is the truth; the curve is scaled onto it should the two differ.
    const end = days[days.length - 1][1];
    const k = isNum(p.gdd) && end > 0 && Math.abs(p.gdd - end) / end < 0.2 ? p.gdd / end : 1;
    const values = days.map(([, v]) => +(v * k).toFixed(1));
    const now = values[values.length - 1];
    const stages = cropStages(p);
    const next = stages.findIndex(([, g]) => g > now);
    const shown = next < 0 ? stages : stages.slice(0, next + 1);
    const top = Math.max(now, ...shown.map(([, g]) => g)) * 1.08;
    const series = [{
      name: t("farm.gdd.series"), type: "line", data: values, symbol: "none", color: FL.PALETTE[4], lineStyle: { width: 2.2 },
      areaStyle: { opacity: 0.1 },
      markLine: { silent: true, symbol: "none", data: shown.map(([code, g]) => ({ yAxis: g, name: `${stageName(code)} ${g}`,
        lineStyle: { color: code === "bloom" ? "#b5306b" : "#a15c00", type: "dashed" } })),
        label: { formatter: (q) => q.name, position: "insideStartTop", fontSize: 11 } },
    }];
    const box = FL.chart("farm-gdd", {
      grid: { left: 52, right: 20, top: 36, bottom: 36 },
      legend: { top: 0 },
      tooltip: { trigger: "axis", formatter: (ps) => `${FL.day(days[ps[0].dataIndex][0], true)}<br>${ps[0].marker}${ps[0].seriesName}: <b>${num(ps[0].value, 0)}</b> ${t("farm.gdd.axis")}` },
      xAxis: { type: "category", data: days.map(([d]) => FL.day(d)), boundaryGap: false, axisLabel: { hideOverlap: true } },
      yAxis: { type: "value", name: t("farm.gdd.axis"), min: 0, max: Math.ceil(top / 50) * 50, nameTextStyle: { align: "left" } },
      series,
    }, { height: 280 });
    const base = cropBase(p);
    return inPanel(t("farm.gdd.title"), box, explain(t("farm.gdd.explain", { day: FL.day(p.gdd_start), base: num(base, 0) })));
  }

  FL.page("farm", { nav: "nav.farm", render });
})();
