// Strings every page shares, Chinese first. Pages add their own with FL.addStrings().
// Server messages arrive as a key plus parameters (alerts: `message_key`, `message_params`;
// dead letters: `reason_key`) and are rendered here in the reader's language.
"use strict";

FL.addStrings({
  zh: {
    "app.title": "fieldline — 菏泽田间遥测",
    "app.subtitle": "菏泽 牡丹 · 粮菜 · 风电 · 光伏",
    "app.footer": "时间均为北京时间（UTC+8）。数据来自本机 /api/v1，页面不从外部加载任何内容。",
    "nav.overview": "总览", "nav.grid": "电网调度", "nav.health": "设备健康", "nav.farm": "地块", "nav.pests": "虫情",
    "nav.alerts": "告警", "nav.brain": "产业大脑", "nav.deadletters": "死信",
    "range.label": "时段", "range.title": "图表显示的时间范围",
    "range.24": "24 小时", "range.72": "3 天", "range.168": "7 天", "range.720": "30 天", "range.1440": "60 天",
    "every.m": "{n} 分钟", "every.h": "{n} 小时", "every.d": "{n} 天",
    "ago.s": "{n} 秒前", "ago.min": "{n} 分钟前", "ago.h": "{n} 小时前", "ago.d": "{n} 天前",
    "error.load": "加载失败：{message}",
    "empty.period": "此时段没有数据。",
    "signin.title": "登录", "signin.token": "API 令牌", "signin.why": "本服务器需要 API 令牌，登录后可查看数据。",
    "signin.busy": "正在登录…", "signin.unknown": "令牌无效。", "signin.failed": "无法登录：{message}", "signin.go": "登录",
    "signin.out": "退出", "signin.signed_in": "已登录",
    "unit.mw": "兆瓦", "unit.kw": "千瓦", "unit.c": "°C", "unit.pct": "%", "unit.mm": "毫米",
    "kind.wind_turbine": "风机", "kind.pv_inverter": "光伏逆变器", "kind.plant": "场站关口表", "kind.met_station": "气象站",
    "kind.nwp": "数值天气预报", "kind.peony_plot": "牡丹地块", "kind.pest_trap": "虫情测报灯",
    "sev.critical": "严重", "sev.warning": "警告", "sev.info": "提示",
    "state.open": "未处理", "state.acknowledged": "已确认", "state.resolved": "已恢复",
    "alert.kind.out_of_range": "超出量程", "alert.kind.stuck": "数值卡死", "alert.kind.spike": "突变", "alert.kind.gap": "数据中断",
    "alert.kind.level_shift": "水平偏移", "alert.kind.unusual": "异常值", "alert.kind.peer_drift": "偏离同类",
    "alert.kind.relation": "关系失配", "alert.kind.power_curve": "低于功率曲线", "alert.kind.pv_performance": "性能比下降",
    "alert.kind.pv_peer": "逆变器掉队", "alert.kind.pest_outbreak": "虫口暴发", "alert.kind.frost": "霜冻风险", "alert.kind.drought": "干旱缺水",
    "alert.msg.out_of_range": "{who}：{field} = {value}，超出物理量程",
    "alert.msg.stuck": "{who}：{field} 长时间停在 {value}（传感器故障？）",
    "alert.msg.spike": "{who}：{field} 突变到 {value}（预期约 {expected}）",
    "alert.msg.gap": "{who}：已 {value} 没有数据（静默 {expected} 后告警）",
    "alert.msg.level_shift": "{who}：{field} 从通常的 {expected} 偏移到 {value}",
    "alert.msg.unusual": "{who}：{field} = {value}，对此时段不寻常（通常 {expected}）",
    "alert.msg.peer_drift": "{who}：{field} 偏离邻近设备：相差 {value}，通常 {expected}",
    "alert.msg.relation": "{who}：{field} 与设备其他读数不再相符（{value} 对 {expected}）",
    "alert.msg.power_curve": "{who}：出力 {value} kW，低于功率曲线（应为 {expected} kW）：变桨故障或覆冰？",
    "alert.msg.pv_performance": "{who}：性能比 {value}，低于通常的 {expected}",
    "alert.msg.pv_peer": "{who}：{value} kW，而同类逆变器为 {expected} kW（停机或组串故障？）",
    "alert.msg.pest_outbreak": "{who}：日诱虫量 {value}，基线 {expected}：虫口激增",
    "alert.msg.frost": "{who}：霜冻风险，气温 {value} °C，正处于怕冻的生育期",
    "alert.msg.drought": "{who}：土壤含水量 {value} %，低于灌溉起始点 {expected} %",
    "dl.decode": "无法解码", "dl.reserved": "保留测量名", "dl.future": "时间戳在未来", "dl.too_old": "时间戳过早",
    "dl.range": "超出物理量程", "dl.unknown": "未知字段或类型", "dl.type": "类型错误", "dl.limit": "超出消息限制",
    "dl.name": "名称不合规", "dl.topic": "主题无效", "dl.other": "其他",
    "stage.unknown": "未知",
  },
  en: {
    "app.title": "fieldline — Heze field telemetry",
    "app.subtitle": "Heze peony · grain · wind · PV",
    "app.footer": "Times in China Standard Time (UTC+8). Data from this host's /api/v1; the pages load nothing from elsewhere.",
    "nav.overview": "Overview", "nav.grid": "Grid operator", "nav.health": "Plant health", "nav.farm": "Plots", "nav.pests": "Pests",
    "nav.alerts": "Alerts", "nav.brain": "Industry brain", "nav.deadletters": "Dead letters",
    "range.label": "Range", "range.title": "Time range of the charts",
    "range.24": "24 hours", "range.72": "3 days", "range.168": "7 days", "range.720": "30 days", "range.1440": "60 days",
    "every.m": "{n} min", "every.h": "{n} h", "every.d": "{n} d",
    "ago.s": "{n} s ago", "ago.min": "{n} min ago", "ago.h": "{n} h ago", "ago.d": "{n} days ago",
    "error.load": "Could not load: {message}",
    "empty.period": "No data in this period.",
    "signin.title": "Sign in", "signin.token": "API token", "signin.why": "This server requires an API token. Sign in to see its data.",
    "signin.busy": "Signing in…", "signin.unknown": "Unknown token.", "signin.failed": "Could not sign in: {message}", "signin.go": "Sign in",
    "signin.out": "sign out", "signin.signed_in": "signed in",
    "unit.mw": "MW", "unit.kw": "kW", "unit.c": "°C", "unit.pct": "%", "unit.mm": "mm",
    "kind.wind_turbine": "wind turbine", "kind.pv_inverter": "PV inverter", "kind.plant": "plant meter", "kind.met_station": "met station",
    "kind.nwp": "weather forecast (NWP)", "kind.peony_plot": "peony plot", "kind.pest_trap": "pest trap",
    "sev.critical": "critical", "sev.warning": "warning", "sev.info": "info",
    "state.open": "open", "state.acknowledged": "acknowledged", "state.resolved": "resolved",
    "alert.kind.out_of_range": "out of range", "alert.kind.stuck": "stuck", "alert.kind.spike": "spike", "alert.kind.gap": "gap",
    "alert.kind.level_shift": "level shift", "alert.kind.unusual": "unusual", "alert.kind.peer_drift": "peer drift",
    "alert.kind.relation": "relation", "alert.kind.power_curve": "below power curve", "alert.kind.pv_performance": "PV performance",
    "alert.kind.pv_peer": "inverter behind peers", "alert.kind.pest_outbreak": "pest outbreak", "alert.kind.frost": "frost risk", "alert.kind.drought": "drought",
    "alert.msg.out_of_range": "{who}: {field} = {value} is outside its physical range",
    "alert.msg.stuck": "{who}: {field} has been stuck at {value} (sensor fault?)",
    "alert.msg.spike": "{who}: {field} spiked to {value} (expected about {expected})",
    "alert.msg.gap": "{who}: no readings for {value} (alert after {expected} of silence)",
    "alert.msg.level_shift": "{who}: {field} shifted to {value} from a usual {expected}",
    "alert.msg.unusual": "{who}: {field} = {value} is unusual for this time of day (usually {expected})",
    "alert.msg.peer_drift": "{who}: {field} drifting away from its neighbours: {value} against them, usually {expected}",
    "alert.msg.relation": "{who}: {field} no longer matches the device's other readings ({value} vs {expected})",
    "alert.msg.power_curve": "{who}: producing {value} kW, below its power curve ({expected} kW expected): pitch fault, icing?",
    "alert.msg.pv_performance": "{who}: performance ratio {value} below its usual {expected}",
    "alert.msg.pv_peer": "{who}: {value} kW while its peers make {expected} kW (outage, string fault?)",
    "alert.msg.pest_outbreak": "{who}: daily catch {value} over a baseline of {expected}: pest surge",
    "alert.msg.frost": "{who}: frost risk, air {value} °C during a frost-sensitive stage",
    "alert.msg.drought": "{who}: soil moisture {value} % below the refill point {expected} %",
    "dl.decode": "could not decode", "dl.reserved": "reserved measurement", "dl.future": "timestamp in the future", "dl.too_old": "timestamp too early",
    "dl.range": "outside the physical range", "dl.unknown": "unknown field or kind", "dl.type": "wrong type", "dl.limit": "over a message limit",
    "dl.name": "invalid name", "dl.topic": "invalid topic", "dl.other": "other",
    "stage.unknown": "unknown",
  },
});

/** An alert's sentence in the reader's language (the server's English `message` as fallback). */
FL.alertText = (a) => (a.message_key && FL.t(a.message_key) !== a.message_key ? FL.t(a.message_key, a.message_params || {}) : a.message);
/** A device kind's name. */
FL.kindName = (k) => FL.t(`kind.${k}`) === `kind.${k}` ? k : FL.t(`kind.${k}`);
/** A crop stage: {code, name_zh} or a code. */
FL.stageName = (s) => {
  if (!s) return FL.t("stage.unknown");
  const code = typeof s === "string" ? s : s.code;
  const zh = typeof s === "string" ? null : s.name_zh;
  if (FL.lang() === "zh") return zh || code;
  return (code || "").replace(/_/g, " ");
};
