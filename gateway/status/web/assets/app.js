// yktgw status pages: one script for all pages. Chinese by default, English on request; data
// from /api/v1/* with the bearer token the operator enters when the gateway requires one.
"use strict";

const I18N = {
  zh: {
    title: "一卡通边缘网关", nav_overview: "概览", nav_live: "实时图表", nav_terminals: "终端",
    nav_outbox: "上送与死信", nav_depth: "应用深度", gateway: "网关", gateway_id: "网关编号",
    site: "站点", version: "版本", uptime: "运行时长", broker: "MQTT 代理", auth: "授权",
    approved: "批准", declined: "拒绝", latency_p50: "延迟 p50 (ms)", latency_p99: "延迟 p99 (ms)",
    records: "交易记录", txn_stored: "已存储", txn_duplicate: "重复", txn_rejected: "拒收",
    store_queue: "待写入", terminals: "终端", online: "在线", offline: "离线", total: "合计",
    cardlist: "卡名单", cardlist_version: "卡名单版本", cardlist_age: "距上次确认",
    cardlist_entries: "卡数", cardlist_state: "状态", alarms: "告警", links: "上游链路",
    destination: "目的地", link: "链路", state: "状态", backlog: "积压", lag: "滞后",
    in_flight: "在途批次", last_ack: "最近确认", dead_letters: "死信", live_hint: "每秒更新，显示最近 5 分钟。",
    chart_auth: "每秒授权（按结果）", chart_declines: "每秒拒绝（按原因）",
    chart_latency: "授权延迟 p50 / p99（毫秒）", chart_txn: "每秒交易记录",
    chart_outbox: "上送积压（按目的地）", last_sample: "最新数据", search: "搜索终端、类型、场景…",
    shown: "显示", terminal: "终端", kind: "类型", scenario: "场景", firmware: "固件",
    last_seen: "最后联系", messages: "消息数", errors: "错误数", destinations: "各目的地",
    records_delivered: "已送达记录", batches_delivered: "已送达批次", retries: "重试",
    batches_rejected: "被拒批次", last_error: "最近错误", dead_letter_list: "死信（未解决）",
    dead_letter_hint: "用命令 yktgw deadletter retry ID 重新发送。", batch: "批次", reason: "原因",
    created: "产生时间", date: "日期", period: "统计周期", period_day: "当日", period_month: "当月",
    target_date: "目标节点", all_items: "全部事项", card: "实体卡", ecard_qr: "电子社保卡",
    ykm_qr: "渝快码", other: "其他方式", card_share: "社保卡占比", chart_depth_days: "本月每日社保卡占比（%）",
    by_item: "按服务事项", by_scenario: "按场景", item_no: "事项", item_name: "事项名称", target: "目标",
    level_reached: "达到等级", meets: "达标", token_prompt: "此网关需要访问令牌（status.token）：",
    token_save: "确定", connected: "已连接", disconnected: "未连接", stale: "过期", current: "有效",
    yes: "是", no: "否", none: "无", no_alarms: "无告警", never: "从未",
    depth_hint: "应用深度 = 社保卡（实体卡 + 电子社保卡）交易占已批准交易的比例；一级/二级/三级 = 50%/70%/90%。时间按北京时间（Asia/Shanghai）自然日、自然月统计。",
    level_0: "未达一级", level_1: "一级", level_2: "二级", level_3: "三级", unmapped: "未对应事项",
    s_idle: "空闲", s_sending: "发送中", s_backoff: "退避重试", s_no_link: "未配置链路", s_stopped: "已停止",
    s_dead: "待处理", s_retry_requested: "已请求重发", s_retrying: "重发中", s_resolved: "已解决",
    d: "天", h: "时", m: "分", s: "秒", lang_other: "English", error_fetch: "无法读取数据：",
  },
  en: {
    title: "one-card edge gateway", nav_overview: "Overview", nav_live: "Live charts",
    nav_terminals: "Terminals", nav_outbox: "Outbox & dead letters", nav_depth: "Application depth",
    gateway: "Gateway", gateway_id: "Gateway id", site: "Site", version: "Version", uptime: "Uptime",
    broker: "MQTT broker", auth: "Authorizations", approved: "Approved", declined: "Declined",
    latency_p50: "Latency p50 (ms)", latency_p99: "Latency p99 (ms)", records: "Transaction records",
    txn_stored: "Stored", txn_duplicate: "Duplicates", txn_rejected: "Rejected",
    store_queue: "Waiting for the writer", terminals: "Terminals", online: "Online", offline: "Offline",
    total: "Total", cardlist: "Card list", cardlist_version: "Card list version",
    cardlist_age: "Since last confirmed", cardlist_entries: "Cards", cardlist_state: "State",
    alarms: "Alarms", links: "Upstream links", destination: "Destination", link: "Link",
    state: "State", backlog: "Backlog", lag: "Lag", in_flight: "Batches in flight",
    last_ack: "Last ack", dead_letters: "Dead letters",
    live_hint: "Updated every second; the last 5 minutes.", chart_auth: "Authorizations per second by decision",
    chart_declines: "Declines per second by reason", chart_latency: "Auth latency p50 / p99 (ms)",
    chart_txn: "Transaction records per second", chart_outbox: "Outbox backlog per destination",
    last_sample: "Latest sample", search: "Search terminal, kind, scenario…", shown: "Shown",
    terminal: "Terminal", kind: "Kind", scenario: "Scenario", firmware: "Firmware",
    last_seen: "Last seen", messages: "Messages", errors: "Errors", destinations: "Destinations",
    records_delivered: "Records delivered", batches_delivered: "Batches delivered", retries: "Retries",
    batches_rejected: "Batches rejected", last_error: "Last error",
    dead_letter_list: "Dead letters (unresolved)",
    dead_letter_hint: "Re-send with: yktgw deadletter retry ID", batch: "Batch", reason: "Reason",
    created: "Created", date: "Date", period: "Period", period_day: "Day", period_month: "Month",
    target_date: "Target date", all_items: "All items", card: "Physical card", ecard_qr: "E-card QR",
    ykm_qr: "Yukuaima (渝快码)", other: "Other means", card_share: "Card share",
    chart_depth_days: "Card share per day this month (%)", by_item: "By service item",
    by_scenario: "By scenario", item_no: "Item", item_name: "Service item", target: "Target",
    level_reached: "Level reached", meets: "Meets target",
    token_prompt: "This gateway requires its access token (status.token):", token_save: "OK",
    connected: "connected", disconnected: "disconnected", stale: "stale", current: "current",
    yes: "yes", no: "no", none: "none", no_alarms: "No alarms", never: "never",
    depth_hint: "Application depth = share of approved transactions made with the social security card (physical card + e-card); level 1/2/3 = 50/70/90 %. Days and months are Asia/Shanghai calendar days and months.",
    level_0: "below level 1", level_1: "level 1", level_2: "level 2", level_3: "level 3",
    unmapped: "not mapped to an item", s_idle: "idle", s_sending: "sending", s_backoff: "backing off",
    s_no_link: "no link configured", s_stopped: "stopped", s_dead: "dead",
    s_retry_requested: "retry requested", s_retrying: "retrying", s_resolved: "resolved",
    d: "d", h: "h", m: "m", s: "s", lang_other: "中文", error_fetch: "Cannot read data: ",
  },
};

const state = {
  lang: localStorage.getItem("yktgw.lang") === "en" ? "en" : "zh",
  token: sessionStorage.getItem("yktgw.token") || "",
  page: document.body.dataset.page,
  refresh: null,
};

function t(key) {
  return (I18N[state.lang] && I18N[state.lang][key]) || I18N.zh[key] || key;
}

function applyLanguage() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-placeholder]"))
    el.placeholder = t(el.dataset.i18nPlaceholder);
  document.getElementById("lang-switch").textContent = t("lang_other");
  for (const a of document.querySelectorAll("nav a"))
    a.classList.toggle("active", a.dataset.nav === state.page);
}

function el(id) { return document.getElementById(id); }

function setText(id, value) {
  const e = el(id);
  if (e) e.textContent = value;
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// Times are UTC milliseconds in the API and Beijing time on the page.
const timeFormat = new Intl.DateTimeFormat("sv-SE", {
  timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
});
function fmtTime(ms) { return ms ? timeFormat.format(new Date(ms)) : t("never"); }
function fmtClock(ms) { return fmtTime(ms).slice(11); }
function fmtDuration(ms) {
  let s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  const parts = [];
  if (d) parts.push(d + t("d"));
  if (d || h) parts.push(h + t("h"));
  if (d || h || m) parts.push(m + t("m"));
  parts.push(s + t("s"));
  return parts.join(" ");
}
function fmtShare(v) { return v === null || v === undefined ? "-" : v.toFixed(1) + " %"; }
function fmtMs(v) { return v.toFixed(2); }
function todayShanghai() { return timeFormat.format(new Date()).slice(0, 10); }

async function api(path) {
  const headers = state.token ? { Authorization: "Bearer " + state.token } : {};
  const res = await fetch(path, { headers, cache: "no-store" });
  if (res.status === 401) {
    el("token-box").hidden = false;
    throw new Error("401");
  }
  if (!res.ok) throw new Error(path + ": HTTP " + res.status);
  return res.json();
}

function showError(err) {
  const box = el("error");
  if (err && err.message !== "401") {
    box.hidden = false;
    box.textContent = t("error_fetch") + err.message;
  }
}
function clearError() { el("error").hidden = true; }

// Runs `fn` now and then every `ms`; a slow answer never piles up requests.
function every(ms, fn) {
  let stopped = false;
  const loop = async () => {
    if (stopped) return;
    try { await fn(); clearError(); } catch (e) { showError(e); }
    if (!stopped) state.refresh = setTimeout(loop, ms);
  };
  loop();
  return () => { stopped = true; clearTimeout(state.refresh); };
}

function rowsHtml(rows) { return rows.map((cells) => "<tr>" + cells.join("") + "</tr>").join(""); }
function td(v, cls) { return "<td" + (cls ? ' class="' + cls + '"' : "") + ">" + escapeHtml(v) + "</td>"; }

// ---- overview -------------------------------------------------------------------------------

let lastStatus = null;
function renderOverview(s) {
  lastStatus = s;
  setText("hdr-gateway", s.gateway.id + " · " + s.gateway.site);
  setText("gw-id", s.gateway.id);
  setText("gw-site", s.gateway.site);
  setText("gw-version", s.gateway.version);
  setText("gw-uptime", fmtDuration(s.gateway.uptime_s * 1000));
  const b = el("broker-state");
  b.textContent = s.broker.connected ? t("connected") : t("disconnected");
  b.className = s.broker.connected ? "ok" : "bad";
  setText("auth-approved", s.auth.approved);
  setText("auth-declined", s.auth.declined);
  setText("auth-p50", fmtMs(s.auth.latency_p50_ms));
  setText("auth-p99", fmtMs(s.auth.latency_p99_ms));
  setText("txn-stored", s.txn.stored);
  setText("txn-duplicate", s.txn.duplicate);
  setText("txn-rejected", s.txn.rejected);
  setText("store-queued", s.store.queued);
  setText("term-online", s.terminals.online);
  setText("term-offline", s.terminals.offline);
  setText("term-total", s.terminals.total);
  setText("cl-version", s.cardlist.version);
  setText("cl-age", s.cardlist.age_ms ? fmtDuration(s.cardlist.age_ms) : t("never"));
  setText("cl-entries", s.cardlist.entries);
  const st = el("cl-stale");
  st.textContent = s.cardlist.stale ? t("stale") : t("current");
  st.className = s.cardlist.stale ? "bad" : "ok";
  el("alarms").innerHTML = s.alarms.length
    ? s.alarms.map((a) => '<li class="bad" data-code="' + escapeHtml(a.code) + '"><b>' + escapeHtml(a.code) + "</b> " + escapeHtml(a.detail) + "</li>").join("")
    : '<li class="ok">' + escapeHtml(t("no_alarms")) + "</li>";
  el("links").querySelector("tbody").innerHTML = rowsHtml(s.links.map((l) => [
    td(l.destination), td(l.connected ? t("connected") : t("disconnected"), l.connected ? "ok" : "bad"),
    td(t("s_" + l.state)), td(l.backlog, "num"), td(fmtDuration(l.lag_ms), "num"), td(l.in_flight, "num"),
    td(fmtTime(l.last_ack_ms)), td(l.dead_letters, l.dead_letters ? "num bad" : "num"),
  ]));
}

function initOverview() { every(2000, async () => renderOverview(await api("/api/v1/status"))); }

// ---- live charts ----------------------------------------------------------------------------

const COLORS = ["#2f7ed8", "#d9534f", "#5cb85c", "#f0ad4e", "#8e44ad", "#16a085", "#7f8c8d", "#c0392b", "#2c3e50"];
const WINDOW = 300;
const charts = {};

function lineChart(id, unit) {
  if (typeof Chart === "undefined") return null;
  return new Chart(el(id), {
    type: "line",
    data: { labels: [], datasets: [] },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false, parsing: false,
      elements: { point: { radius: 0 } },
      scales: { x: { type: "linear", ticks: { callback: (v) => fmtClock(v), maxTicksLimit: 6 } },
                y: { beginAtZero: true, title: { display: !!unit, text: unit } } },
      plugins: { legend: { position: "bottom" } },
    },
  });
}

function dataset(chart, key, label, i) {
  let ds = chart.data.datasets.find((d) => d.key === key);
  if (!ds) {
    ds = { key, label, data: [], borderColor: COLORS[i % COLORS.length], borderWidth: 1.5, fill: false };
    chart.data.datasets.push(ds);
  }
  ds.label = label;
  return ds;
}

let liveSince = 0;
function pushSamples(samples) {
  for (const s of samples) {
    const x = s.t_ms;
    if (charts.auth) {
      dataset(charts.auth, "approve", t("approved"), 2).data.push({ x, y: s.approved_per_s });
      dataset(charts.auth, "decline", t("declined"), 1).data.push({ x, y: s.declined_per_s });
    }
    if (charts.declines) {
      for (const [reason, v] of Object.entries(s.declined_per_s_by_reason))
        dataset(charts.declines, reason, reason, charts.declines.data.datasets.length).data.push({ x, y: v });
      for (const ds of charts.declines.data.datasets)
        if (!(ds.key in s.declined_per_s_by_reason)) ds.data.push({ x, y: 0 });
    }
    if (charts.latency) {
      dataset(charts.latency, "p50", "p50", 0).data.push({ x, y: s.latency_p50_ms });
      dataset(charts.latency, "p99", "p99", 1).data.push({ x, y: s.latency_p99_ms });
    }
    if (charts.txn) dataset(charts.txn, "txn", t("chart_txn"), 0).data.push({ x, y: s.txn_per_s });
    if (charts.outbox) {
      for (const [dest, v] of Object.entries(s.outbox_backlog))
        dataset(charts.outbox, dest, dest, charts.outbox.data.datasets.length).data.push({ x, y: v });
    }
    liveSince = Math.max(liveSince, x);
    setText("last-sample", fmtTime(x));
  }
  for (const c of Object.values(charts)) {
    if (!c) continue;
    for (const ds of c.data.datasets) if (ds.data.length > WINDOW) ds.data.splice(0, ds.data.length - WINDOW);
    c.update("none");
  }
}

function initLive() {
  charts.auth = lineChart("chart-auth", "/s");
  charts.declines = lineChart("chart-declines", "/s");
  charts.latency = lineChart("chart-latency", "ms");
  charts.txn = lineChart("chart-txn", "/s");
  charts.outbox = lineChart("chart-outbox", "");
  every(1000, async () => {
    const j = await api("/api/v1/series?since=" + liveSince);
    pushSamples(j.samples);
    if (lastStatus === null) {
      const s = await api("/api/v1/status");
      lastStatus = s;
      setText("hdr-gateway", s.gateway.id + " · " + s.gateway.site);
    }
  });
}

// ---- terminals ------------------------------------------------------------------------------

const term = { rows: [], sortKey: "terminal", sortDir: 1, filter: "" };

function renderTerminals() {
  const f = term.filter.trim().toLowerCase();
  let rows = term.rows;
  if (f) {
    rows = rows.filter((r) => [r.terminal, r.kind, r.scenario, r.firmware, r.state, t(r.state)]
      .some((v) => String(v).toLowerCase().includes(f)));
  }
  const k = term.sortKey, dir = term.sortDir;
  rows = rows.slice().sort((a, b) => (a[k] < b[k] ? -dir : a[k] > b[k] ? dir : 0) || (a.terminal < b.terminal ? -1 : 1));
  setText("term-shown", rows.length);
  el("terminals").querySelector("tbody").innerHTML = rows.map((r) =>
    '<tr data-terminal="' + escapeHtml(r.terminal) + '" data-state="' + r.state + '">' +
    td(r.terminal) + td(t(r.state), r.state === "online" ? "ok state" : "bad state") + td(r.kind) +
    td(r.scenario) + td(r.firmware) + td(r.cardlist_version, "num") + td(fmtTime(r.last_seen_ms)) +
    td(r.messages, "num") + td(r.errors, r.errors ? "num bad" : "num") + "</tr>").join("");
  for (const th of el("terminals").querySelectorAll("th[data-key]")) {
    th.classList.toggle("sorted-asc", th.dataset.key === k && dir === 1);
    th.classList.toggle("sorted-desc", th.dataset.key === k && dir === -1);
  }
}

function initTerminals() {
  for (const th of el("terminals").querySelectorAll("th[data-key]")) {
    th.addEventListener("click", () => {
      term.sortDir = term.sortKey === th.dataset.key ? -term.sortDir : 1;
      term.sortKey = th.dataset.key;
      renderTerminals();
    });
  }
  el("term-search").addEventListener("input", (e) => { term.filter = e.target.value; renderTerminals(); });
  every(1000, async () => {
    const j = await api("/api/v1/terminals");
    term.rows = j.terminals;
    setText("term-count", j.total);
    setText("term-online", j.online);
    renderTerminals();
  });
}

// ---- outbox ---------------------------------------------------------------------------------

function initOutbox() {
  every(2000, async () => {
    const j = await api("/api/v1/outbox");
    el("destinations").querySelector("tbody").innerHTML = rowsHtml(j.destinations.map((d) => [
      td(d.destination), td(t("s_" + d.state)), td(d.backlog, "num"), td(d.in_flight, "num"),
      td(fmtDuration(d.lag_ms), "num"), td(fmtTime(d.last_ack_ms)), td(d.records_delivered, "num"),
      td(d.batches_delivered, "num"), td(d.retries, "num"), td(d.batches_rejected, "num"),
      td(d.dead_letters, d.dead_letters ? "num bad" : "num"), td(d.last_error),
    ]));
    el("dead-letters").querySelector("tbody").innerHTML = rowsHtml(j.dead_letters.map((d) => [
      td(d.id, "num"), td(d.destination), td(d.batch_id), td(d.records, "num"), td(d.reason),
      td(t("s_" + d.state)), td(fmtTime(d.created_ms)), td(d.retries, "num"),
    ]));
  });
}

// ---- depth ----------------------------------------------------------------------------------

let depthChart = null;
let depthData = null;

// Each means' share of the approved transactions, next to its count; nothing when there are none.
function meansShare(n, total) { return total ? "(" + fmtShare(100 * n / total) + ")" : ""; }
function meansCell(n, total) {
  return '<td class="num means"><span class="n">' + escapeHtml(n) + '</span> <span class="pct">' +
    escapeHtml(meansShare(n, total)) + "</span></td>";
}

function levelText(v) { return v === null || v === undefined ? "-" : t("level_" + v); }

function renderDepth() {
  const j = depthData;
  if (!j) return;
  const p = el("depth-period").value;
  setText("depth-target", j.target.label);
  const all = j.all[p];
  for (const [id, key] of [["card", "card"], ["ecard", "ecard_qr"], ["ykm", "ykm_qr"], ["other", "other"]]) {
    setText("all-" + id, all[key]);
    setText("all-" + id + "-pct", meansShare(all[key], all.total));
  }
  setText("all-total", all.total);
  setText("all-share", fmtShare(all.card_share_percent));
  const counts = (c) => [meansCell(c.card, c.total), meansCell(c.ecard_qr, c.total), meansCell(c.ykm_qr, c.total),
    meansCell(c.other, c.total), td(c.total, "num"), td(fmtShare(c.card_share_percent), "num share"),
    td(levelText(c.level_reached))];
  const rows = j.items.map((it) => {
    const c = it[p];
    const target = it.target_percent ? levelText(it.target_level) + " (" + it.target_percent + " %)"
      : it.target_level ? levelText(it.target_level) : (it.note || "-");
    const meets = c.meets_target === null || c.meets_target === undefined ? "-" : c.meets_target ? t("yes") : t("no");
    return '<tr data-item="' + it.item + '">' + [td(it.item, "num"), td(it.name), td(target), ...counts(c),
      td(meets, c.meets_target === true ? "ok" : c.meets_target === false ? "bad" : "")].join("") + "</tr>";
  });
  if (j.unmapped[p].total)
    rows.push('<tr data-item="0">' + [td("-"), td(t("unmapped")), td("-"), ...counts(j.unmapped[p]), td("-")].join("") + "</tr>");
  el("depth-items").querySelector("tbody").innerHTML = rows.join("");
  el("depth-scenarios").querySelector("tbody").innerHTML = j.scenarios.map((s) =>
    '<tr data-scenario="' + escapeHtml(s.scenario) + '">' + [td(s.scenario), td(s.item || "-", "num"), ...counts(s[p])].join("") + "</tr>").join("");
  if (typeof Chart !== "undefined") {
    if (!depthChart) {
      depthChart = new Chart(el("chart-depth"), {
        type: "bar", data: { labels: [], datasets: [{ label: "", data: [], backgroundColor: "#2f7ed8" }] },
        options: { animation: false, responsive: true, maintainAspectRatio: false,
          scales: { y: { min: 0, max: 100 } }, plugins: { legend: { display: false } } },
      });
    }
    depthChart.data.labels = j.days.map((d) => d.date.slice(8));
    depthChart.data.datasets[0].data = j.days.map((d) => d.counts.card_share_percent);
    depthChart.data.datasets[0].label = t("card_share");
    depthChart.update("none");
  }
}

function initDepth() {
  const date = el("depth-date");
  date.value = todayShanghai();
  el("depth-period").addEventListener("change", renderDepth);
  let stop = null;
  const start = () => {
    if (stop) stop();
    stop = every(5000, async () => {
      depthData = await api("/api/v1/depth?date=" + encodeURIComponent(date.value));
      renderDepth();
    });
  };
  date.addEventListener("change", start);
  start();
}

// ---- start ----------------------------------------------------------------------------------

function rerender() {
  applyLanguage();
  if (state.page === "overview" && lastStatus) renderOverview(lastStatus);
  if (state.page === "terminals") renderTerminals();
  if (state.page === "depth") renderDepth();
  if (state.page === "live") for (const c of Object.values(charts)) if (c) {
    for (const ds of c.data.datasets) {
      if (ds.key === "approve") ds.label = t("approved");
      if (ds.key === "decline") ds.label = t("declined");
      if (ds.key === "txn") ds.label = t("chart_txn");
    }
    c.update("none");
  }
}

el("lang-switch").addEventListener("click", () => {
  state.lang = state.lang === "zh" ? "en" : "zh";
  localStorage.setItem("yktgw.lang", state.lang);
  rerender();
});
el("token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  state.token = el("token-input").value;
  sessionStorage.setItem("yktgw.token", state.token);
  el("token-box").hidden = true;
  location.reload();
});

applyLanguage();
({ overview: initOverview, live: initLive, terminals: initTerminals, outbox: initOutbox, depth: initDepth })[state.page]();
