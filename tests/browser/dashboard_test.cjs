// The dashboard in a real browser: Debian's chromium driven by npm's playwright-core (pinned in
// ui/package.json), against the real `driftwatch` binary on a free port with a NORMAL, a SPIKE and
// a CREEP service sent by the real simulator (docs/simulator.md). Checks what a person would look
// at, that nothing fails in the page, and that a hostile service id shows as text; saves
// screenshots (light, dark, phone width) into the artifacts folder.
//
//   node dashboard_test.cjs DRIFTWATCH SIMULATOR UI_DIR ARTIFACTS_DIR
//
// Every wait polls with a deadline; nothing depends on how fast the machine is.
"use strict";

const { spawn, spawnSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const [driftwatch, simulator, uiDir, artifacts] = process.argv.slice(2);
if (!artifacts) {
  console.error("usage: node dashboard_test.cjs DRIFTWATCH SIMULATOR UI_DIR ARTIFACTS_DIR");
  process.exit(2);
}
const chromiumPath = process.env.DRIFTWATCH_CHROMIUM || "/usr/bin/chromium";
let playwright;
try {
  playwright = require(path.resolve(uiDir, "node_modules", "playwright-core"));
} catch (error) {
  console.error(`playwright-core is not installed in ${uiDir}: run scripts/install-deps.sh`);
  process.exit(1);
}
if (!fs.existsSync(chromiumPath)) {
  console.error(`${chromiumPath} is missing: run scripts/install-deps.sh (Debian's chromium)`);
  process.exit(1);
}

const DEADLINE_MS = 60000;
const HOSTILE = "<img src=x onerror=alert(1)>";
let failures = 0;
const children = [];

function check(condition, what) {
  console.log(`${condition ? "ok  " : "FAIL"} ${what}`);
  if (!condition) failures += 1;
}

async function eventually(probe, what) {
  const end = Date.now() + DEADLINE_MS;
  let last;
  while (Date.now() < end) {
    try {
      last = await probe();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}

// Starts driftwatch on 127.0.0.1, port 0, in a fresh folder; resolves to its base URL.
function startServer(name, configYaml) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `driftwatch-browser-${name}-`));
  const args = ["--host", "127.0.0.1", "--port", "0", "--db", path.join(dir, "driftwatch.db")];
  if (configYaml) {
    fs.writeFileSync(path.join(dir, "config.yaml"), configYaml);
    args.push("--config", path.join(dir, "config.yaml"));
  }
  const child = spawn(driftwatch, args, { stdio: ["ignore", "pipe", "pipe"] });
  children.push({ child, dir });
  let output = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no banner from driftwatch:\n${output}`)), DEADLINE_MS);
    const read = (chunk) => {
      output += chunk;
      const match = /API listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout.on("data", read);
    child.stderr.on("data", read);
    child.on("exit", (code) => reject(new Error(`driftwatch exited with ${code}:\n${output}`)));
  });
}

function simulate(url, mode, service, duration) {
  const run = spawnSync(simulator, ["--mode", mode, "--duration", String(duration), "--service", service,
    "--url", url, "--synthetic-time"], { encoding: "utf8" });
  check(run.status === 0, `driftwatch-sim --mode ${mode} exits 0 ${run.status === 0 ? "" : run.stdout + run.stderr}`);
}

async function getJson(url, token) {
  const response = await fetch(url, token ? { headers: { Authorization: `Bearer ${token}` } } : {});
  return { status: response.status, body: await response.json() };
}

// Records what goes wrong in a page: console errors, uncaught exceptions, failed requests,
// answers >= 400 and dialogs (an injected alert() would open one).
function watch(page) {
  const problems = { console: [], errors: [], failed: [], statuses: [], dialogs: [], requests: [] };
  page.on("console", (message) => { if (message.type() === "error") problems.console.push(message.text()); });
  page.on("pageerror", (error) => problems.errors.push(String(error)));
  page.on("requestfailed", (request) => problems.failed.push(`${request.url()} ${request.failure().errorText}`));
  page.on("request", (request) => problems.requests.push(request.url()));
  page.on("response", (response) => { if (response.status() >= 400) problems.statuses.push(`${response.status()} ${response.url()}`); });
  page.on("dialog", (dialog) => { problems.dialogs.push(dialog.message()); dialog.dismiss(); });
  return problems;
}

function clean(problems, what) {
  for (const kind of ["console", "errors", "failed", "statuses", "dialogs"]) {
    check(problems[kind].length === 0, `${what}: no ${kind} ${JSON.stringify(problems[kind])}`);
  }
}

async function text(page, selector) {
  return (await page.locator(selector).first().textContent()).trim();
}

// How many pixels of the chart's canvas are drawn on.
async function drawnPixels(page) {
  return page.evaluate(() => {
    const canvas = document.querySelector("#chart canvas");
    if (!canvas) return 0;
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    let drawn = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) drawn += 1;
    return drawn;
  });
}

async function main() {
  fs.mkdirSync(artifacts, { recursive: true });
  // One notification target, for the system page (nothing listens there: its deliveries fail).
  const url = await startServer("main",
    "notify:\n  targets:\n    - name: ops-hook\n      type: webhook\n      url: http://127.0.0.1:9/hook\n");
  simulate(url, "NORMAL", "svc-normal", 60);
  simulate(url, "SPIKE", "svc-spike", 90);
  simulate(url, "CREEP", "svc-creep", 120);
  // Every sample processed and committed, so what the page shows is final.
  await eventually(async () => {
    const health = (await getJson(`${url}/v1/health/svc-creep`)).body;
    const stored = (await getJson(`${url}/v1/telemetry/svc-creep`)).body;
    return health.state === "DRIFT_DETECTED" && stored.samples.length === health.sample_count;
  }, "svc-creep drifting with every sample stored");
  const services = (await getJson(`${url}/v1/services`)).body.services;
  const states = Object.fromEntries(services.map((service) => [service.service_id, service.state]));
  check(JSON.stringify(states) === JSON.stringify({ "svc-creep": "DRIFT_DETECTED", "svc-normal": "STABLE", "svc-spike": "STABLE" }),
    `the API's states ${JSON.stringify(states)}`);

  const browser = await playwright.chromium.launch({ executablePath: chromiumPath });
  try {
    // ---- overview, light, laptop ----
    const light = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: "light", locale: "en-US" });
    const page = await light.newPage();
    const problems = watch(page);
    await page.goto(`${url}/`);
    check(page.url() === `${url}/ui/`, `/ redirects to /ui/ (${page.url()})`);
    await eventually(async () => (await text(page, "#count-total")) === "3", "three services in the overview");
    check((await text(page, "#count-drift")) === "1", "one drifting");
    check((await text(page, "#count-stable")) === "2", "two stable");
    check((await text(page, "#count-insufficient")) === "0", "none without data");
    check((await text(page, 'tr[data-service="svc-creep"] .state')) === "DRIFT DETECTED", "svc-creep shows DRIFT DETECTED");
    check((await text(page, 'tr[data-service="svc-spike"] .state')) === "STABLE", "svc-spike shows STABLE");
    check((await text(page, "#services tbody tr")).startsWith("svc-creep"), "the drifting service is listed first");
    await page.fill("#filter", "spike");
    check((await page.locator("#services tbody tr").count()) === 1, "the filter keeps the matching service");
    await page.fill("#filter", "");
    const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await page.screenshot({ path: path.join(artifacts, "overview-light.png"), fullPage: true });

    // ---- the drifting service ----
    await page.click('a[href="#/service/svc-creep"]');
    await page.waitForSelector("#chart canvas");
    await eventually(async () => (await drawnPixels(page)) > 2000, "the latency chart drawn");
    const markers = page.locator("#chart .marker");
    await eventually(async () => (await markers.count()) >= 2, "transition markers on the chart");
    const reasons = await markers.evaluateAll((nodes) => nodes.map((node) => node.dataset.reason));
    check(reasons.includes("baseline_established"), `a marker for the baseline (${reasons})`);
    const titles = await markers.evaluateAll((nodes) => nodes.map((node) => node.title));
    const driftTitle = titles.find((title) => title.startsWith("STABLE → DRIFT_DETECTED")) || "";
    check(/detector/.test(driftTitle),
      `the drift marker's hover text has the transition, reason and metadata (${JSON.stringify(titles)})`);
    await markers.nth(titles.indexOf(driftTitle)).hover();
    check((await page.locator("#chart .u-legend").count()) === 1, "the chart has its legend");
    check((await page.locator("#baseline dd").count()) >= 6, "baseline figures shown");
    check((await page.locator("#events tbody tr").count()) >= 2, "events table has the transitions");
    check((await text(page, "#service-state")) === "DRIFT DETECTED", "the service page shows DRIFT DETECTED");
    await page.screenshot({ path: path.join(artifacts, "service-light.png"), fullPage: true });
    // The chart follows the window's width.
    await page.setViewportSize({ width: 1000, height: 640 });
    await eventually(async () => page.evaluate(() =>
      document.querySelector("#chart canvas").getBoundingClientRect().right <= window.innerWidth), "the chart narrowed");
    await page.screenshot({ path: path.join(artifacts, "readme-service.png") });
    await page.setViewportSize({ width: 1280, height: 900 });

    // ---- dark theme, from the system setting ----
    const dark = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: "dark", locale: "en-US" });
    const darkPage = await dark.newPage();
    const darkProblems = watch(darkPage);
    await darkPage.goto(`${url}/ui/#/service/svc-creep`);
    await eventually(async () => (await drawnPixels(darkPage)) > 2000, "the chart drawn in the dark theme");
    const darkBackground = await darkPage.evaluate(() => getComputedStyle(document.body).backgroundColor);
    check(darkBackground !== background, `the dark theme has its own background (${darkBackground} vs ${background})`);
    await darkPage.screenshot({ path: path.join(artifacts, "service-dark.png"), fullPage: true });
    clean(darkProblems, "dark theme");
    await dark.close();

    // ---- phone width ----
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: "light", locale: "en-US", isMobile: true, hasTouch: true });
    const phonePage = await phone.newPage();
    const phoneProblems = watch(phonePage);
    await phonePage.goto(`${url}/ui/`);
    await eventually(async () => (await text(phonePage, "#count-total")) === "3", "the overview on a phone");
    const overflow = await phonePage.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 0, `nothing wider than a phone (${overflow} px too wide)`);
    await phonePage.screenshot({ path: path.join(artifacts, "overview-phone.png"), fullPage: true });
    await phonePage.goto(`${url}/ui/#/service/svc-creep`);
    await eventually(async () => (await drawnPixels(phonePage)) > 1000, "the chart on a phone");
    const serviceOverflow = await phonePage.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(serviceOverflow <= 0, `the service page fits a phone (${serviceOverflow} px too wide)`);
    await phonePage.screenshot({ path: path.join(artifacts, "service-phone.png"), fullPage: true });
    clean(phoneProblems, "phone");
    await phone.close();

    // ---- reset through the page, behind a confirmation ----
    await page.click("#reset");
    check(await page.locator("#confirm").isVisible(), "reset asks for a confirmation");
    await page.click("#confirm-cancel");
    check(!(await page.locator("#confirm").isVisible()), "cancel closes it");
    check((await getJson(`${url}/v1/health/svc-creep`)).body.state === "DRIFT_DETECTED", "cancel resets nothing");
    await page.click("#reset");
    await page.click("#confirm-ok");
    await eventually(async () => (await text(page, "#service-state")) === "INSUFFICIENT DATA", "the state after the reset");
    check((await getJson(`${url}/v1/health/svc-creep`)).body.state === "INSUFFICIENT_DATA", "the API agrees");
    await eventually(async () => (await page.locator("#events tbody tr td:nth-child(3)").first().textContent()) === "reset",
      "the reset at the top of the events");

    // ---- the system page ----
    await page.click("#nav-system");
    await eventually(async () => (await text(page, "#system-status")) === "healthy", "the system status");
    const plugins = await page.locator("#plugins tbody tr td:first-child").allTextContents();
    check(["sqlite", "zscore_severe", "moderate_window", "recovery"].every((name) => plugins.includes(name)), `plugins listed (${plugins})`);
    check((await page.locator("#limits tbody tr").count()) >= 8, "limits listed");
    const target = await page.locator("#targets tbody tr td").allTextContents();
    check(target[0] === "ops-hook" && target[1] === "webhook", `the notification target listed (${target})`);
    await page.screenshot({ path: path.join(artifacts, "system-light.png"), fullPage: true });

    // ---- the overview updates itself: the reset shows without a reload ----
    await page.click("#nav-services");
    await eventually(async () => (await text(page, "#count-drift")) === "0", "no drift after the reset");
    await page.evaluate(() => { window.notReloaded = true; });
    await fetch(`${url}/v1/telemetry`, { method: "POST", body: JSON.stringify({ service_id: "svc-late", latency_ms: 5 }) });
    await eventually(async () => (await text(page, "#count-total")) === "4", "a new service shows up by itself");
    check(await page.evaluate(() => window.notReloaded === true), "without a reload");
    clean(problems, "laptop, light");

    // ---- a hostile service id is shown as text ----
    problems.console.length = 0;
    problems.statuses.length = 0;
    await page.goto(`${url}/ui/#/service/${encodeURIComponent(HOSTILE)}`);
    await page.waitForSelector("#error");
    check((await text(page, "#error")).includes(HOSTILE), `the id shows as text in the error (${await text(page, "#error")})`);
    check((await page.title()).startsWith(HOSTILE), "and in the title");
    check((await page.locator("main img").count()) === 0, "no element was made from it");
    check(!problems.requests.some((request) => request.endsWith("/ui/x")), "its src was never fetched");
    check(problems.dialogs.length === 0 && problems.errors.length === 0, "no script of it ran");
    check(problems.statuses.every((status) => status.startsWith("404 ")), `only the 404 of the unknown service (${problems.statuses})`);
    await light.close();

    // ---- endpoint series: a service's page lists them, each opens as its own page ----
    const shopUrl = await startServer("endpoints", "series:\n  per_endpoint: true\n");
    const shop = [];
    for (let i = 0; i < 130; ++i) {
      shop.push({ service_id: "shop", endpoint: "GET /health", latency_ms: 10 + (i % 3) });
      shop.push({ service_id: "shop", endpoint: "GET /search", latency_ms: i < 120 ? 100 + (i % 3) : 130 });
    }
    const shopSent = await fetch(`${shopUrl}/v1/telemetry/batch`, { method: "POST", body: JSON.stringify(shop) });
    check(shopSent.status === 202, `endpoint samples sent (${shopSent.status})`);
    await eventually(async () => (await getJson(`${shopUrl}/v1/health/shop?endpoint=GET%20%2Fsearch`)).body.state ===
      "DRIFT_DETECTED", "GET /search drifting");
    await eventually(async () => (await getJson(`${shopUrl}/v1/health/shop`)).body.sample_count === 260 &&
      (await getJson(`${shopUrl}/v1/health/shop?endpoint=GET%20%2Fhealth`)).body.sample_count === 130,
    "the service's own series and GET /health have every sample");
    const endpointContext = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "en-US" });
    const endpointPage = await endpointContext.newPage();
    const endpointProblems = watch(endpointPage);
    await endpointPage.goto(`${shopUrl}/ui/#/service/shop`);
    await endpointPage.waitForSelector("#endpoints");
    check((await text(endpointPage, "#service-state")) === "STABLE", "the service's own mix is STABLE");
    check((await endpointPage.locator("#endpoints tbody tr").count()) === 2, "both endpoints listed");
    check((await text(endpointPage, "#endpoints tbody tr")).startsWith("GET /search"), "the drifting endpoint first");
    check((await text(endpointPage, 'tr[data-endpoint="GET /search"] .state')) === "DRIFT DETECTED",
      "GET /search shows DRIFT DETECTED");
    await endpointPage.click('tr[data-endpoint="GET /search"] a');
    await endpointPage.waitForSelector("#endpoint");
    check(endpointPage.url().endsWith("#/service/shop/GET%20%2Fsearch"), `the endpoint's own page (${endpointPage.url()})`);
    check((await text(endpointPage, "#endpoint")).trim() === "GET /search", "its name shown");
    check((await text(endpointPage, "#service-state")) === "DRIFT DETECTED", "its own state shown");
    check((await endpointPage.locator("#events tbody tr").count()) === 2, "its own events");
    check((await endpointPage.locator("#endpoints").count()) === 0, "no endpoints table on an endpoint's page");
    await eventually(async () => (await drawnPixels(endpointPage)) > 0, "its chart is drawn");
    await endpointPage.click("#back-to-service");
    await endpointPage.waitForSelector("#endpoints");
    clean(endpointProblems, "endpoint series");
    await endpointContext.close();

    // ---- endpoints that need escaping: listed as text, each routed by its percent-encoded form ----
    // Any printable ASCII is an endpoint: '#', '+', '%' and '/' must survive the hash route, '<'
    // and quotes must stay text, and a literal "%41%2F" must not be decoded twice.
    const ODD_ENDPOINTS = [
      { name: "GET /a+b#c 100%", samples: 130, drift: true },
      { name: `${HOSTILE} "q"&'x'?y=1`, samples: 125 },
      { name: Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join(""), samples: 7 },
      { name: "/%41%2F/ ", samples: 3 },
    ];
    const odd = [];
    for (let i = 0; i < 130; ++i) {
      for (const { name, samples, drift } of ODD_ENDPOINTS) {
        if (i < samples) odd.push({ service_id: "odd", endpoint: name, latency_ms: drift && i >= 120 ? 130 : 100 + (i % 3) });
      }
    }
    const oddSent = await fetch(`${shopUrl}/v1/telemetry/batch`, { method: "POST", body: JSON.stringify(odd) });
    check(oddSent.status === 202, `samples with odd endpoints sent (${oddSent.status})`);
    const endpointHealth = async (name) => (await getJson(`${shopUrl}/v1/health/odd?endpoint=${encodeURIComponent(name)}`)).body;
    await eventually(async () => (await getJson(`${shopUrl}/v1/health/odd`)).body.sample_count === odd.length &&
      (await Promise.all(ODD_ENDPOINTS.map(async ({ name, samples }) => (await endpointHealth(name)).sample_count === samples)))
        .every(Boolean) && (await endpointHealth(ODD_ENDPOINTS[0].name)).state === "DRIFT_DETECTED",
    "every odd endpoint series has its samples");
    const oddContext = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "en-US" });
    const oddPage = await oddContext.newPage();
    const oddProblems = watch(oddPage);
    const shownAs = (state) => state.replace("_", " ");
    const samplesText = async (page) => page.locator("#service-state").locator("..").textContent();
    // The page of one endpoint series shows exactly that series, as the API describes it.
    const checkEndpointPage = async (page, name, how) => {
      const health = await endpointHealth(name);
      check(health.endpoint === name, `${how}: the API names ${JSON.stringify(name)} (${JSON.stringify(health.endpoint)})`);
      await eventually(async () => {
        const shown = await page.evaluate(() => {
          const node = document.querySelector("#endpoint") || document.querySelector("#error");
          return node ? node.textContent : null;
        });
        if (shown !== " " + name) throw new Error(`the page shows ${JSON.stringify(shown)}`);
        return true;
      }, `${how}: the page of ${JSON.stringify(name)}`);
      check(page.url() === `${shopUrl}/ui/#/service/odd/${encodeURIComponent(name)}`,
        `${how}: the hash is percent-encoded (${page.url()})`);
      check((await page.locator("#service-id").textContent()) === "odd " + name, `${how}: the heading has the exact name`);
      // document.title reads back with its whitespace stripped and collapsed (HTML's rule).
      check((await page.title()) === `odd · ${name} · DriftWatch`.replace(/\s+/g, " ").trim(),
        `${how}: the title has the name (${await page.title()})`);
      check((await text(page, "#service-state")) === shownAs(health.state),
        `${how}: its own state ${health.state} (${await text(page, "#service-state")})`);
      check((await samplesText(page)).includes(`· ${health.sample_count.toLocaleString("en-US")} samples`),
        `${how}: its own ${health.sample_count} samples (${await samplesText(page)})`);
      const events = (await getJson(`${shopUrl}/v1/events/odd?endpoint=${encodeURIComponent(name)}`)).body.events;
      check((await page.locator("#events tbody tr").count()) === events.length, `${how}: its own ${events.length} events`);
      check((await page.locator("#endpoints").count()) === 0, `${how}: no endpoints table`);
      check((await page.locator("main img").count()) === 0, `${how}: no element made from the name`);
    };

    await oddPage.goto(`${shopUrl}/ui/#/service/odd`);
    await oddPage.waitForSelector("#endpoints");
    const oddHealth = (await getJson(`${shopUrl}/v1/health/odd`)).body;
    const rows = await oddPage.locator("#endpoints tbody tr").evaluateAll((nodes) => nodes.map((node) => ({
      endpoint: node.dataset.endpoint, text: node.querySelector("a").textContent,
      href: node.querySelector("a").getAttribute("href"), samples: node.querySelector(".num").textContent })));
    check(JSON.stringify(rows.map((row) => row.text).sort()) === JSON.stringify(ODD_ENDPOINTS.map(({ name }) => name).sort()),
      `every odd endpoint listed by its exact text (${JSON.stringify(rows.map((row) => row.text))})`);
    check(rows.every((row) => row.endpoint === row.text &&
      row.href === `#/service/odd/${encodeURIComponent(row.text)}` &&
      row.samples === ODD_ENDPOINTS.find(({ name }) => name === row.text).samples.toLocaleString("en-US")),
    `each row links its percent-encoded endpoint with its own sample count (${JSON.stringify(rows)})`);
    check((await oddPage.locator("main img").count()) === 0, "no element made from an endpoint on the service's page");
    for (const { name } of ODD_ENDPOINTS) {
      const index = (await oddPage.locator("#endpoints tbody tr").evaluateAll((nodes) =>
        nodes.map((node) => node.dataset.endpoint))).indexOf(name);
      await oddPage.locator("#endpoints tbody tr").nth(index).locator("a").click();
      await checkEndpointPage(oddPage, name, `clicked ${JSON.stringify(name)}`);
      await oddPage.goBack();
      await oddPage.waitForSelector("#endpoints");
      check(oddPage.url() === `${shopUrl}/ui/#/service/odd` && (await text(oddPage, "#service-id")) === "odd",
        `back from ${JSON.stringify(name)} to the service (${oddPage.url()})`);
    }

    // Loaded directly, in a fresh page: the same endpoint page, and its link back to the service.
    for (const { name } of ODD_ENDPOINTS) {
      const fresh = await oddContext.newPage();
      const freshProblems = watch(fresh);
      await fresh.goto(`${shopUrl}/ui/#/service/odd/${encodeURIComponent(name)}`);
      await checkEndpointPage(fresh, name, `loaded ${JSON.stringify(name)}`);
      await fresh.click("#back-to-service");
      await fresh.waitForSelector("#endpoints");
      check(fresh.url() === `${shopUrl}/ui/#/service/odd`, `its link back to the service (${fresh.url()})`);
      check(!freshProblems.requests.some((request) => request.endsWith("/ui/x")), "the hostile src was never fetched");
      clean(freshProblems, `loaded ${JSON.stringify(name)}`);
      await fresh.close();
    }

    // Resetting one endpoint series resets it alone.
    const [drifting, ...others] = ODD_ENDPOINTS.map(({ name }) => name);
    const othersBefore = await Promise.all(others.map(endpointHealth));
    await oddPage.goto(`${shopUrl}/ui/#/service/odd/${encodeURIComponent(drifting)}`);
    await checkEndpointPage(oddPage, drifting, "before the reset");
    await oddPage.click("#reset");
    check((await oddPage.locator("#confirm-text").textContent()).includes(`odd · ${drifting}`), "the confirmation names the endpoint");
    await oddPage.click("#confirm-ok");
    await eventually(async () => (await text(oddPage, "#service-state")) === "INSUFFICIENT DATA", "the endpoint's state after its reset");
    check((await endpointHealth(drifting)).state === "INSUFFICIENT_DATA", "the API agrees the endpoint series was reset");
    const serviceAfter = (await getJson(`${shopUrl}/v1/health/odd`)).body;
    check(JSON.stringify(serviceAfter) === JSON.stringify(oddHealth),
      `the service's own series untouched (${oddHealth.state}/${oddHealth.sample_count} -> ${serviceAfter.state}/${serviceAfter.sample_count})`);
    const othersAfter = await Promise.all(others.map(endpointHealth));
    check(JSON.stringify(othersAfter) === JSON.stringify(othersBefore), "the other endpoint series untouched");
    check(oddProblems.dialogs.length === 0 && !oddProblems.requests.some((request) => request.endsWith("/ui/x")),
      "no script or image of an endpoint ran");
    clean(oddProblems, "odd endpoints");
    await oddContext.close();

    // ---- with access tokens: the page asks for one and keeps it for the session ----
    const secureUrl = await startServer("auth", "server:\n  auth_tokens: [browser-secret]\n");
    const secure = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "en-US" });
    const securePage = await secure.newPage();
    await securePage.goto(`${secureUrl}/ui/`);
    await securePage.waitForSelector("#token-prompt:not([hidden])");
    await securePage.fill("#token-input", "wrong");
    await securePage.click("#token-save");
    await eventually(async () => (await text(securePage, "#token-error")).includes("not accepted"), "a wrong token refused");
    await securePage.fill("#token-input", "browser-secret");
    await securePage.press("#token-input", "Enter");
    await eventually(async () => (await text(securePage, "#count-total")) === "0", "the overview with the token");
    check(await securePage.evaluate(() => sessionStorage.getItem("driftwatch.token") === "browser-secret" &&
      localStorage.length === 0), "the token is kept in sessionStorage only");
    await securePage.reload();
    await eventually(async () => (await text(securePage, "#count-total")) === "0", "the overview after a reload");
    check(!(await securePage.locator("#token-prompt").isVisible()), "no second prompt in the same session");

    // ---- 10,000 services: one request, a table that pages ----
    const many = [];
    for (let i = 0; i < 10000; ++i) many.push({ service_id: `fleet-${String(i).padStart(5, "0")}`, latency_ms: 10 });
    const sent = await fetch(`${secureUrl}/v1/telemetry/batch`, { method: "POST", body: JSON.stringify(many),
      headers: { Authorization: "Bearer browser-secret" } });
    check(sent.status === 202, `10,000 services sent (${sent.status})`);
    await eventually(async () => (await getJson(`${secureUrl}/v1/system/status`, "browser-secret")).body.services_monitored === 10000,
      "10,000 services known");
    const secureProblems = watch(securePage);
    await securePage.reload();
    await eventually(async () => (await text(securePage, "#count-total")) === "10,000", "the overview of 10,000 services");
    check((await securePage.locator("#services tbody tr").count()) === 50, "one page of 50 rows");
    check((await text(securePage, "#page-info")) === "1–50 of 10,000", `paged (${await text(securePage, "#page-info")})`);
    await securePage.click("text=Next");
    check((await text(securePage, "#services tbody tr")).startsWith("fleet-00050"), "the next page");
    await securePage.fill("#filter", "fleet-0999");
    check((await text(securePage, "#page-info")) === "1–10 of 10", "the filter over every service");
    const apiCalls = secureProblems.requests.filter((request) => request.includes("/v1/"));
    check(apiCalls.every((request) => request.endsWith("/v1/services")), `no request per service (${apiCalls.length} calls)`);
    clean(secureProblems, "10,000 services");
    await secure.close();
  } finally {
    await browser.close();
  }
}

main().catch((error) => {
  console.error(error);
  failures += 1;
}).finally(() => {
  for (const { child, dir } of children) {
    child.kill("SIGTERM");
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(failures === 0 ? "PASS" : `${failures} check(s) failed`);
  process.exit(failures === 0 ? 0 : 1);
});
