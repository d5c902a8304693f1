// Dead letters: messages fieldline refused, newest first, with the reason's category in the
// reader's language (reason_key) and the server's detail, which quotes the input as it came.
"use strict";

FL.addStrings({
  zh: {
    "dl.title": "死信（被拒收的消息）", "dl.none": "没有死信：所有消息均已解码并通过校验。",
    "dl.c.time": "时间", "dl.c.source": "来源", "dl.c.topic": "主题", "dl.c.category": "类别", "dl.c.reason": "详情", "dl.c.payload": "载荷（开头）",
    "dl.by": "按类别（所选时段）",
  },
  en: {
    "dl.title": "Dead letters (refused messages)", "dl.none": "No dead letters: every message decoded and validated.",
    "dl.c.time": "time", "dl.c.source": "source", "dl.c.topic": "topic", "dl.c.category": "category", "dl.c.reason": "detail", "dl.c.payload": "payload (start)",
    "dl.by": "By category (selected range)",
  },
});

(() => {
  const { el, t } = FL;
  FL.page("deadletters", {
    nav: "nav.deadletters",
    async render() {
      const dl = await FL.api(`/api/v1/deadletters?limit=500&start=${FL.since()}`);
      const list = dl.deadletters;
      if (!list.length) return [el("h2", {}, t("dl.title")), FL.note(t("dl.none"), "good")];
      const counts = new Map();
      for (const d of list) counts.set(d.reason_key || "dl.other", (counts.get(d.reason_key || "dl.other") || 0) + 1);
      return [
        el("h2", {}, t("dl.title")),
        el("p", {}, t("dl.by"), ": ", [...counts.entries()].map(([k, n]) => el("span", { class: "badge warning" }, `${t(k)} ${n}`)).flatMap((b) => [b, " "])),
        el("table", {},
          el("tr", {}, ["dl.c.time", "dl.c.source", "dl.c.topic", "dl.c.category", "dl.c.reason", "dl.c.payload"].map((h) => el("th", {}, t(h)))),
          list.map((d) => el("tr", {},
            el("td", {}, FL.time(d.time)), el("td", {}, d.source), el("td", {}, el("code", {}, d.topic)),
            el("td", {}, t(d.reason_key || "dl.other")), el("td", {}, d.reason),
            el("td", {}, el("pre", {}, d.payload.slice(0, 300)))))),
      ];
    },
  });
})();
