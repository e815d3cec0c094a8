// Browser test of the status pages: a real Mosquitto, the real yktgw with traffic from
// yktgw-sim, and the pages in headless Chromium (Debian's, driven by playwright-core).
//   node status_pages.mjs <bin dir> <source dir> <work dir>
// Checks that every page loads, shows the API's numbers, switches language, and shows a
// terminal going offline within a few seconds. Screenshots go to <work dir>/screenshots.
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
  await page.screenshot({ path: path.join(shots, "live.png"), fullPage: true });
  log("live charts drawn");

  const simCode = await simDone;
  assert.equal(simCode, 0, "yktgw-sim run passed");
  const simSummary = JSON.parse(fs.readFileSync(path.join(run, "sim.log"), "utf8").trim().split("\n").pop());
  log("sim", JSON.stringify(simSummary));
  await sleep(1500);  // the last acks and status messages

  // Overview: the numbers shown are the API's (and the simulator's).
  await page.goto(base + "/index.html");
  const s = await api("/api/v1/status");
  // A request the simulator gave up on (timeouts) was still decided by the gateway.
  assert.equal(s.auth.requests, simSummary.sent);
  assert.ok(s.auth.approved >= simSummary.approved && s.auth.approved <= simSummary.approved + simSummary.timeouts);
  assert.ok(s.auth.declined >= simSummary.declined && s.auth.declined <= simSummary.declined + simSummary.timeouts);
  assert.equal(s.auth.approved + s.auth.declined, simSummary.sent);
  assert.equal(s.txn.stored, simSummary.txn_stored);
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
  await page.screenshot({ path: path.join(shots, "overview-zh.png"), fullPage: true });

  // Language switch, kept across pages.
  await page.click("#lang-switch");
  assert.equal(await page.textContent("nav a[data-nav=overview]"), "Overview");
  assert.equal(await page.evaluate(() => document.documentElement.lang), "en");
  assert.equal(await page.textContent("h1"), "Overview");
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
  await page.screenshot({ path: path.join(shots, "terminals-en.png"), fullPage: true });
  await page.click("#lang-switch");
  assert.equal(await page.textContent("h1"), "终端");

  // A terminal going offline turns offline on the page within a few seconds.
  const pub = (payload) => execFileSync("mosquitto_pub", ["-h", "127.0.0.1", "-p", String(mqttPort), "-q", "1", "-r",
    "-t", `ykt/v1/${site}/gate-99/status`, "-m", payload]);
  pub('{"v":1,"terminal":"gate-99","state":"online","kind":"gate","firmware":"1.0.3","cardlist_version":1}');
  await page.waitForSelector('tr[data-terminal="gate-99"][data-state="online"]', { timeout: 5000 });
  const t0 = Date.now();
  pub('{"v":1,"terminal":"gate-99","state":"offline"}');
  await page.waitForSelector('tr[data-terminal="gate-99"][data-state="offline"]', { timeout: 5000 });
  log(`offline shown after ${Date.now() - t0} ms`);
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
  await page.goto(base + "/terminals.html");
  const t1 = Date.now();
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
  await page.screenshot({ path: path.join(shots, "outbox.png"), fullPage: true });

  // Application depth.
  await page.goto(base + "/depth.html");
  await page.waitForFunction(() => document.getElementById("all-total").textContent !== "-", null, { timeout: 10000 });
  const d = await api("/api/v1/depth");
  assert.ok(d.all.day.total > 0, "approved records today");
  assert.equal(await page.textContent("#all-total"), String(d.all.day.total));
  assert.equal(await page.textContent("#all-card"), String(d.all.day.card));
  const item16 = d.items.find((i) => i.item === 16);
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
