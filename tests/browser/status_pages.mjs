// Browser test of the status pages: a real Mosquitto, the real yktgw with traffic from
// yktgw-sim, and the pages in headless Chromium (Debian's, driven by playwright-core).
//   node status_pages.mjs <bin dir> <source dir> <work dir>
// Checks that every page loads, shows the API's numbers (with a live district platform as the
// upstream link), switches language, shows terminals killed without DISCONNECT going offline
// through their last will within a few seconds, and shows no run of 16 digits or more.
// Screenshots go to <work dir>/screenshots.
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const [binDir, sourceDir, workDir] = process.argv.slice(2);
if (!binDir || !sourceDir || !workDir) {
  console.error("usage: node status_pages.mjs <bin dir> <source dir> <work dir>");
  process.exit(2);
}
const site = "xiangkou";
const children = [];
const shots = path.join(workDir, "screenshots");
fs.rmSync(path.join(workDir, "run"), { recursive: true, force: true });
fs.mkdirSync(path.join(workDir, "run"), { recursive: true });
fs.mkdirSync(shots, { recursive: true });
const run = path.join(workDir, "run");

function log(...a) { console.log("[browser-test]", ...a); }
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => resolve(p)); });
    s.on("error", reject);
  });
}

async function waitPort(port, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise((r) => {
      const c = net.connect(port, "127.0.0.1", () => { c.end(); r(true); });
      c.on("error", () => r(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error("port " + port + " not listening");
}

function start(cmd, args, name) {
  const out = fs.openSync(path.join(run, name + ".log"), "w");
  const p = spawn(cmd, args, { stdio: ["ignore", out, out] });
  children.push(p);
  return p;
}

// Page text must never hold a card or citizen number: no run of 16 digits or more. Times are
// shown with separators ("2026-11-29 15:04:05"), so they never form such a run.
async function assertNoLongDigitRun(page, name) {
  const text = await page.evaluate(() => document.body.innerText);
  const run = text.match(/\d{16,}/);
  assert.equal(run, null, `${name}: a run of ${run ? run[0].length : 0} digits on the page`);
}

// What the pages show for a time: Beijing time, "YYYY-MM-DD HH:MM:SS".
const timeFormat = new Intl.DateTimeFormat("sv-SE", { timeZone: "Asia/Shanghai", year: "numeric",
  month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });

function stopAll() {
  for (const p of children.reverse()) if (p.exitCode === null) p.kill("SIGTERM");
}
process.on("exit", stopAll);

async function main() {
  const mqttPort = await freePort();
  fs.writeFileSync(path.join(run, "mosquitto.conf"),
    `listener ${mqttPort} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\npersistence false\n`);
  start("mosquitto", ["-c", path.join(run, "mosquitto.conf")], "mosquitto");
  await waitPort(mqttPort, 5000);
  const broker = `tcp://127.0.0.1:${mqttPort}`;

  const statusPort = await freePort();
  const key = path.join(run, "hmac.key");
  fs.writeFileSync(key, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n", { mode: 0o600 });
  const policies = path.join(run, "policies.toml");
  fs.writeFileSync(policies, 'version = 1\n[scenario.canteen]\nkind = "canteen"\nservice_item = 16\n' +
    'daily_meal_cap = 0\n\n[[terminal]]\nmatch = "*"\nscenario = "canteen"\n');
  const config = path.join(run, "yktgw.toml");
  fs.writeFileSync(config, `[gateway]\nid = "gw-browser"\nsite = "${site}"\ndata_dir = "${run}/data"\n\n` +
    `[mqtt]\nuri = "${broker}"\nreconnect_min_ms = 50\nreconnect_max_ms = 1000\n\n` +
    `[security]\nhmac_key_file = "${key}"\n\n[policy]\nfile = "${policies}"\n` +
    `service_items_file = "${sourceDir}/config/service-items.toml"\n\n` +
    `[status]\nlisten = "127.0.0.1:${statusPort}"\n`);
  // The district platform, a live upstream link (ZeroMQ with CURVE keys).
  const serverKey = path.join(run, "server.key"), clientKey = path.join(run, "client.key");
  const serverPublic = execFileSync(path.join(binDir, "ykt-platform-sim"), ["keygen", "--out", serverKey, "--force"],
    { encoding: "utf8" }).split("\n")[0].trim();
  execFileSync(path.join(binDir, "yktgw"), ["keygen", "curve", "--out", clientKey], { stdio: "ignore" });
  const zmqPort = await freePort();
  start(path.join(binDir, "ykt-platform-sim"), ["serve", "--zmq", `tcp://127.0.0.1:${zmqPort}`,
    "--server-key-file", serverKey, "--hmac-key-file", key, "--http", "off",
    "--db", path.join(run, "platform.db")], "platform");
  await waitPort(zmqPort, 10000);
  fs.appendFileSync(config, `\n[district]\nendpoint = "tcp://127.0.0.1:${zmqPort}"\n` +
    `server_public_key = "${serverPublic}"\nclient_key_file = "${clientKey}"\n` +
    `heartbeat_interval_ms = 200\nheartbeat_timeout_ms = 1000\n\n` +
    `[upstream]\ncopy_all_to_district = true\nbatch_linger_ms = 50\nretry_min_ms = 100\nretry_max_ms = 1000\n`);
  const csv = path.join(run, "cards.csv");
  execFileSync(path.join(binDir, "yktgw-sim"), ["population", "--seed", "42", "--cards", "300", "--out", csv], { stdio: "ignore" });
  execFileSync(path.join(binDir, "yktgw"), ["--config", config, "cardlist", "import", csv], { stdio: "ignore" });
  start(path.join(binDir, "yktgw"), ["--config", config], "yktgw");
  await waitPort(statusPort, 10000);
  const base = `http://127.0.0.1:${statusPort}`;
  const api = async (p) => (await fetch(base + p)).json();
  // Ready = subscribed: a request published before that would reach nobody.
  for (let end = Date.now() + 10000; ; await sleep(50)) {
    if ((await fetch(base + "/readyz")).status === 200) break;
    if (Date.now() > end) throw new Error("gateway not ready within 10 s");
  }

  // Traffic: 40 terminals for 8 s while the live charts are open.
  const sim = start(path.join(binDir, "yktgw-sim"), ["run", "--broker", broker, "--site", site,
    "--terminals", "40", "--rate", "80", "--duration", "8", "--seed", "42", "--cards", "300",
    "--txn-ratio", "0.9", "--quiet"], "sim");
  const simDone = new Promise((r) => sim.on("exit", r));

  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") pageErrors.push(m.text() + " " + (m.location().url || "")); });
  page.on("response", (r) => { if (r.status() >= 400) pageErrors.push(r.status() + " " + r.url()); });
  page.on("request", (r) => {
    const u = new URL(r.url());
    if (u.host !== `127.0.0.1:${statusPort}`) pageErrors.push("request outside the gateway: " + r.url());
  });

  // Live charts, with traffic flowing.
  await page.goto(base + "/live.html");
  await page.waitForFunction(() => {
    const c = Chart.getChart(document.getElementById("chart-auth"));
    return c && c.data.datasets.length > 0 && c.data.datasets[0].data.length >= 5 &&
      c.data.datasets[0].data.some((p) => p.y > 0);
  }, null, { timeout: 20000 });
  const txnPoints = await page.evaluate(() => Chart.getChart(document.getElementById("chart-txn")).data.datasets[0].data.length);
  assert.ok(txnPoints > 0, "txn chart has points");
  // The last point drawn is a sample of /api/v1/series, with its values: the newest sample or,
  // when the page has not polled since the gateway's last tick, the one before it (one second).
  await page.waitForFunction(() => Chart.getChart(document.getElementById("chart-auth")).data.datasets[0].data.at(-1).y > 0,
    null, { timeout: 10000 });
  const last = await page.evaluate(() => {
    const point = (id, key) => Chart.getChart(document.getElementById(id)).data.datasets.find((d) => d.key === key).data.at(-1);
    return { approve: point("chart-auth", "approve"), decline: point("chart-auth", "decline"),
      txn: point("chart-txn", "txn"), p99: point("chart-latency", "p99") };
  });
  const series = (await api("/api/v1/series")).samples;
  const at = series.findIndex((x) => x.t_ms === last.approve.x);
  assert.ok(at >= 0, `the chart's last point (t=${last.approve.x}) is a sample of the series`);
  assert.ok(series.length - 1 - at <= 1, `the chart is ${series.length - 1 - at} samples behind the series`);
  assert.equal(last.approve.y, series[at].approved_per_s);
  assert.equal(last.decline.y, series[at].declined_per_s);
  assert.deepEqual([last.txn.x, last.txn.y], [series[at].t_ms, series[at].txn_per_s]);
  assert.deepEqual([last.p99.x, last.p99.y], [series[at].t_ms, series[at].latency_p99_ms]);
  log(`live chart: last point t=${last.approve.x} approved/s=${last.approve.y}, ${series.length - 1 - at} sample(s) behind the series`);
  await assertNoLongDigitRun(page, "live");
  await page.screenshot({ path: path.join(shots, "live.png"), fullPage: true });
  log("live charts drawn");

  const simCode = await simDone;
  assert.equal(simCode, 0, "yktgw-sim run passed");
  const simSummary = JSON.parse(fs.readFileSync(path.join(run, "sim.log"), "utf8").trim().split("\n").pop());
  log("sim", JSON.stringify(simSummary));
  await sleep(1500);  // the last acks and status messages

  // A few records by other means, so depth has more than physical cards to split.
  const ts = Date.now();
  const others = [["ecard_qr", '"qr":"ecard-code-1"'], ["ecard_qr", '"qr":"ecard-code-2"'],
    ["ykm_qr", '"qr":"ykm-code-1"'], ["other", '"method":"cash"']];
  others.forEach(([type, field], i) => {
    const id = "pos-extra-" + (i + 1);
    execFileSync("mosquitto_pub", ["-h", "127.0.0.1", "-p", String(mqttPort), "-q", "1",
      "-t", `ykt/v1/${site}/pos-extra/txn`, "-m", `{"v":1,"txn_id":"${id}","req_id":"r-${id}",` +
      `"terminal":"pos-extra","scenario":"canteen","ts":${ts},"credential":{"type":"${type}",${field}},` +
      `"amount_fen":500,"result":"approved"}`]);
  });
  // Every stored record reaches the district platform: its backlog drains to 0.
  let district = null, stored = 0, maxBacklog = 0;
  for (let end = Date.now() + 15000; ; await sleep(100)) {
    const st = await api("/api/v1/status");
    district = st.links.find((l) => l.destination === "district");
    stored = st.txn.stored;
    maxBacklog = Math.max(maxBacklog, district.backlog);
    if (stored === simSummary.txn_stored + others.length && district.backlog === 0 &&
        district.records_delivered === stored) break;
    if (Date.now() > end) throw new Error("district backlog not drained: " + JSON.stringify(st));
  }
  assert.equal(district.connected, true, "the district link is connected");
  assert.equal(district.state, "idle");
  assert.ok(district.last_ack_ms > 0 && district.last_ack_ms <= Date.now(), "a batch ack from the platform");
  assert.equal(district.in_flight, 0);
  assert.equal(district.dead_letters, 0);
  log(`district link: ${district.records_delivered} records delivered in ${district.batches_delivered} batches; backlog seen up to ${maxBacklog}, drained to 0`);

  // Overview: the numbers shown are the API's (and the simulator's).
  await page.goto(base + "/index.html");
  const s = await api("/api/v1/status");
  // A request the simulator gave up on (timeouts) was still decided by the gateway.
  assert.equal(s.auth.requests, simSummary.sent);
  assert.ok(s.auth.approved >= simSummary.approved && s.auth.approved <= simSummary.approved + simSummary.timeouts);
  assert.ok(s.auth.declined >= simSummary.declined && s.auth.declined <= simSummary.declined + simSummary.timeouts);
  assert.equal(s.auth.approved + s.auth.declined, simSummary.sent);
  assert.equal(s.txn.stored, simSummary.txn_stored + others.length);
  await page.waitForFunction((v) => document.getElementById("auth-approved").textContent === String(v), s.auth.approved, { timeout: 5000 });
  const shown = await page.evaluate(() => ({
    id: document.getElementById("gw-id").textContent,
    declined: document.getElementById("auth-declined").textContent,
    stored: document.getElementById("txn-stored").textContent,
    total: document.getElementById("term-total").textContent,
    offline: document.getElementById("term-offline").textContent,
    version: document.getElementById("cl-version").textContent,
  }));
  assert.equal(shown.id, "gw-browser");
  assert.equal(shown.declined, String(s.auth.declined));
  assert.equal(shown.stored, String(s.txn.stored));
  assert.equal(shown.total, String(s.terminals.total));
  assert.equal(shown.offline, String(s.terminals.offline));
  assert.equal(shown.version, String(s.cardlist.version));
  assert.equal(await page.textContent("nav a[data-nav=overview]"), "概览", "Chinese by default");
  // The upstream links' cells are the API's. All traffic is delivered, but the backlog of a
  // destination without a link (crossprov) is recounted every 2 s, so a page refresh and an API
  // answer may straddle a count: compare until both agree, for a few seconds.
  const zhState = { idle: "空闲", sending: "发送中", backoff: "退避重试", no_link: "未配置链路", stopped: "已停止" };
  const linkCells = (l) => [l.connected ? "已连接" : "未连接", zhState[l.state], String(l.backlog), String(l.in_flight),
    l.last_ack_ms ? timeFormat.format(new Date(l.last_ack_ms)) : "从未", String(l.dead_letters)];
  const shownCells = (r) => [r[1], r[2], r[3], r[5], r[6], r[7]];
  let linkRows, links;
  for (const end = Date.now() + 6000; ;) {
    links = (await api("/api/v1/status")).links;
    linkRows = await page.$$eval("#links tbody tr", (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
    const same = links.every((l) => {
      const r = linkRows.find((x) => x[0] === l.destination);
      return r && JSON.stringify(shownCells(r)) === JSON.stringify(linkCells(l));
    });
    if (same || Date.now() > end) break;
    await new Promise((res) => setTimeout(res, 300));
  }
  assert.deepEqual(linkRows.map((r) => r[0]), links.map((l) => l.destination));
  for (const l of links) {
    const r = linkRows.find((x) => x[0] === l.destination);
    assert.deepEqual(shownCells(r), linkCells(l), l.destination);
  }
  const dRow = linkRows.find((x) => x[0] === "district");
  assert.deepEqual([dRow[1], dRow[3]], ["已连接", "0"], "overview: district connected, backlog 0");
  await assertNoLongDigitRun(page, "overview (zh)");
  await page.screenshot({ path: path.join(shots, "overview-zh.png"), fullPage: true });

  // Language switch, kept across pages.
  await page.click("#lang-switch");
  assert.equal(await page.textContent("nav a[data-nav=overview]"), "Overview");
  assert.equal(await page.evaluate(() => document.documentElement.lang), "en");
  assert.equal(await page.textContent("h1"), "Overview");
  await assertNoLongDigitRun(page, "overview (en)");
  await page.screenshot({ path: path.join(shots, "overview-en.png"), fullPage: true });

  // Terminals: all rows, search, sort.
  await page.goto(base + "/terminals.html");
  const t = await api("/api/v1/terminals");
  assert.equal(await page.textContent("h1"), "Terminals", "the language stays English");
  await page.waitForFunction((n) => document.querySelectorAll("#terminals tbody tr").length === n, t.total, { timeout: 5000 });
  assert.equal(await page.textContent("#term-count"), String(t.total));
  assert.equal(await page.textContent("#term-online"), String(t.online));
  const first = t.terminals[0];
  const row = await page.$eval(`tr[data-terminal="${first.terminal}"]`, (r) => [...r.cells].map((c) => c.textContent));
  assert.equal(row[7], String(first.messages));
  assert.equal(row[1], first.state === "online" ? "Online" : "Offline");
  await page.fill("#term-search", "sim-0007");
  await page.waitForFunction(() => document.querySelectorAll("#terminals tbody tr").length === 1);
  await page.fill("#term-search", "");
  await page.click('th[data-key="messages"]');
  await page.click('th[data-key="messages"]');  // descending
  const top = await page.$eval("#terminals tbody tr", (r) => Number(r.cells[7].textContent));
  assert.equal(top, Math.max(...t.terminals.map((x) => x.messages)));
  await assertNoLongDigitRun(page, "terminals");
  await page.screenshot({ path: path.join(shots, "terminals-en.png"), fullPage: true });
  await page.click("#lang-switch");
  assert.equal(await page.textContent("h1"), "终端");

  // Terminals that die without DISCONNECT turn offline on the page within a few seconds, by
  // the broker's last will alone: yktgw-sim terminals connect with the documented minimal
  // retained offline will (docs/terminal-protocol.md §9); SIGKILL leaves them no way to say
  // goodbye. Two of the simulator's terminals come back online first (no txn records, so the
  // figures checked below stay put).
  const dying = start(path.join(binDir, "yktgw-sim"), ["run", "--broker", broker, "--site", site,
    "--terminals", "2", "--rate", "2", "--duration", "120", "--seed", "42", "--cards", "300",
    "--txn-ratio", "0", "--quiet"], "sim-killed");
  for (const id of ["sim-0001", "sim-0002"])
    await page.waitForSelector(`tr[data-terminal="${id}"][data-state="online"]`, { timeout: 10000 });
  const t0 = Date.now();
  dying.kill("SIGKILL");
  for (const id of ["sim-0001", "sim-0002"])
    await page.waitForSelector(`tr[data-terminal="${id}"][data-state="offline"]`, { timeout: 5000 });
  log(`killed terminals shown offline after ${Date.now() - t0} ms (last will)`);
  const afterWill = await api("/api/v1/terminals");
  for (const id of ["sim-0001", "sim-0002"])
    assert.equal(afterWill.terminals.find((x) => x.terminal === id).state, "offline", id);
  await page.screenshot({ path: path.join(shots, "terminals-zh.png"), fullPage: true });

  // 2 000 terminals: the table must stay usable. The gateway's own answer is padded with
  // generated rows in the browser (page.route), so this measures the page, not the broker.
  await page.route("**/api/v1/terminals", async (route) => {
    const real = await (await fetch(base + "/api/v1/terminals")).json();
    const rows = real.terminals.slice();
    for (let i = rows.length; i < 2000; i++) {
      rows.push({ terminal: "load-" + String(i).padStart(4, "0"), state: i % 3 ? "online" : "offline",
        kind: "bus_validator", scenario: "bus", firmware: "4.0." + (i % 7), cardlist_version: 1,
        last_seen_ms: Date.now() - i * 1000, messages: i, errors: i % 5 });
    }
    // A poll of the page that the goto below leaves can be cancelled while its answer is built
    // (slow builds, e.g. ASan, widen that window); fulfilling it then throws "Route is already
    // handled". The new page's own requests still have to get 2 000 rows, checked below.
    await route.fulfill({ json: { ...real, total: rows.length, terminals: rows } }).catch(() => {});
  });
  const t1 = Date.now();
  await page.goto(base + "/terminals.html");
  await page.waitForFunction(() => document.querySelectorAll("#terminals tbody tr").length === 2000, null, { timeout: 10000 });
  const loadMs = Date.now() - t1;
  // Timed inside the page: the handlers run synchronously, and reading offsetHeight makes the
  // browser lay the table out before the clock stops.
  const searchMs = await page.evaluate(() => {
    const t0 = performance.now();
    const box = document.getElementById("term-search");
    box.value = "load-19";
    box.dispatchEvent(new Event("input"));
    void document.body.offsetHeight;
    return performance.now() - t0;
  });
  assert.equal(await page.$$eval("#terminals tbody tr", (r) => r.length), 100);
  await page.fill("#term-search", "");
  const sortMs = await page.evaluate(() => {
    const t0 = performance.now();
    const th = document.querySelector('th[data-key="errors"]');
    th.click();
    th.click();  // descending: the first row has the most errors
    void document.body.offsetHeight;
    return performance.now() - t0;
  });
  assert.equal(await page.$eval("#terminals tbody tr", (r) => r.cells[8].textContent), "4");
  log(`2000 terminals: first render ${loadMs} ms, search ${searchMs.toFixed(0)} ms, sort twice ${sortMs.toFixed(0)} ms`);
  assert.ok(searchMs < 1000 && sortMs < 2000, "search and sort answer within a second or two with 2000 rows");
  assert.ok(loadMs < 2000, `2000 terminals drawn ${loadMs} ms after navigation (bound 2 s)`);
  await assertNoLongDigitRun(page, "terminals (2000)");
  await page.screenshot({ path: path.join(shots, "terminals-2000.png") });
  await page.unroute("**/api/v1/terminals");

  // Outbox and dead letters.
  await page.goto(base + "/outbox.html");
  const o = await api("/api/v1/outbox");
  await page.waitForFunction((n) => document.querySelectorAll("#destinations tbody tr").length === n, o.destinations.length, { timeout: 5000 });
  for (const d of o.destinations) {
    const cells = await page.$$eval("#destinations tbody tr", (rows, name) =>
      [...rows].find((r) => r.cells[0].textContent === name).cells.length, d.destination);
    assert.equal(cells, 12);
  }
  const backlogShown = await page.$$eval("#destinations tbody tr", (rows) => rows.map((r) => Number(r.cells[2].textContent)));
  const o2 = await api("/api/v1/outbox");
  assert.deepEqual(backlogShown, o2.destinations.map((d) => d.backlog));
  // Every cell but the lag (a duration) is the API's value; the district's is all delivered.
  const destRows = await page.$$eval("#destinations tbody tr", (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
  for (const d of o2.destinations) {
    const r = destRows.find((x) => x[0] === d.destination);
    assert.deepEqual([r[1], r[2], r[3], r[5], r[6], r[7], r[8], r[9], r[10], r[11]],
      [zhState[d.state], String(d.backlog), String(d.in_flight),
        d.last_ack_ms ? timeFormat.format(new Date(d.last_ack_ms)) : "从未", String(d.records_delivered),
        String(d.batches_delivered), String(d.retries), String(d.batches_rejected), String(d.dead_letters),
        d.last_error], d.destination);
  }
  const dOut = o2.destinations.find((x) => x.destination === "district");
  assert.equal(dOut.backlog, 0);
  assert.equal(dOut.records_delivered, s.txn.stored);
  assert.equal(destRows.find((x) => x[0] === "district")[4], "0秒", "no lag once drained");
  await assertNoLongDigitRun(page, "outbox");
  await page.screenshot({ path: path.join(shots, "outbox.png"), fullPage: true });

  // Application depth.
  await page.goto(base + "/depth.html");
  await page.waitForFunction(() => document.getElementById("all-total").textContent !== "-", null, { timeout: 10000 });
  const d = await api("/api/v1/depth");
  assert.ok(d.all.day.total > 0, "approved records today");
  assert.equal(await page.textContent("#all-total"), String(d.all.day.total));
  assert.equal(await page.textContent("#all-card"), String(d.all.day.card));
  const item16 = d.items.find((i) => i.item === 16);
  // The other means, each with its share of the day's approved records next to its count.
  assert.deepEqual([d.all.day.ecard_qr, d.all.day.ykm_qr, d.all.day.other], [2, 1, 1]);
  const pct = (n, total) => (total ? "(" + (100 * n / total).toFixed(1) + " %)" : "");
  for (const [id, key] of [["card", "card"], ["ecard", "ecard_qr"], ["ykm", "ykm_qr"], ["other", "other"]]) {
    assert.equal(await page.textContent("#all-" + id), String(d.all.day[key]), key);
    assert.equal(await page.textContent(`#all-${id}-pct`), pct(d.all.day[key], d.all.day.total), key + " share");
  }
  // Per item and per scenario: counts, shares, total and card share, cell by cell.
  const means = ["card", "ecard_qr", "ykm_qr", "other"];
  const cellsOf = (sel) => page.$eval(sel, (r) => [...r.cells].map((c) => {
    const n = c.querySelector(".n"), p = c.querySelector(".pct");
    return n ? [n.textContent, p.textContent] : c.textContent;
  }));
  const expectCounts = (c) => [...means.map((k) => [String(c[k]), pct(c[k], c.total)]), String(c.total),
    c.card_share_percent === null ? "-" : c.card_share_percent.toFixed(1) + " %"];
  assert.deepEqual((await cellsOf('#depth-items tr[data-item="16"]')).slice(3, 9), expectCounts(item16.day), "item 16");
  assert.ok(d.scenarios.length > 0);
  for (const sc of d.scenarios) {
    const cells = await cellsOf(`#depth-scenarios tr[data-scenario="${sc.scenario}"]`);
    assert.deepEqual(cells.slice(0, 8), [sc.scenario, String(sc.item || "-"), ...expectCounts(sc.day)], "scenario " + sc.scenario);
  }
  await assertNoLongDigitRun(page, "depth");
  const share = await page.$eval('#depth-items tr[data-item="16"] td.share', (c) => c.textContent);
  assert.equal(share, item16.day.card_share_percent.toFixed(1) + " %");
  assert.equal(await page.$$eval("#depth-items tbody tr", (r) => r.length), d.items.length);
  await page.selectOption("#depth-period", "month");
  assert.equal(await page.textContent("#all-total"), String(d.all.month.total));
  await page.screenshot({ path: path.join(shots, "depth.png"), fullPage: true });

  await browser.close();
  assert.deepEqual(pageErrors, [], "no script errors and nothing fetched from elsewhere");
  log("all pages checked; screenshots in " + shots);
}

main().then(() => { stopAll(); process.exit(0); }, (e) => {
  console.error("[browser-test] FAILED:", e && e.stack ? e.stack : e);
  stopAll();
  process.exit(1);
});
