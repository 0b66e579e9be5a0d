// The DriftWatch dashboard: three views (services, one service, system) drawn from the REST API
// (docs/api.md). Every value that comes from the API is put into the page as text (textContent,
// element properties), never as HTML. The view refreshes itself every few seconds without
// reloading the page.
"use strict";

(() => {
  const REFRESH_MS = 5000;
  const PAGE_SIZE = 50;
  const TOKEN_KEY = "driftwatch.token";
  const MAX_SAMPLE_PAGES = 5; // GET /v1/telemetry answers at most 10,000 samples a page
  const RANGES = [
    ["15 min", 15 * 60],
    ["1 hour", 3600],
    ["6 hours", 6 * 3600],
    ["24 hours", 24 * 3600],
    ["7 days", 7 * 24 * 3600],
  ];
  const STATES = ["DRIFT_DETECTED", "STABLE", "INSUFFICIENT_DATA"];

  const main = document.getElementById("main");
  const updated = document.getElementById("updated");

  // What the overview keeps between refreshes.
  const overview = { filter: "", state: "", page: 0 };
  let rangeSeconds = 3600;
  let timer = null;
  let generation = 0; // a view drawn for an older route stops drawing
  let chart = null;

  // ---- building blocks ----------------------------------------------------------------------

  // An element with properties (className, title, href, ...) and children (nodes or text).
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node[key] = value;
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // The time in the browser's zone, with the UTC time on hover.
  function time(iso) {
    if (!iso) return el("span", { className: "muted" }, "never");
    const at = new Date(iso);
    return el("time", { dateTime: iso, title: at.toISOString() + " (UTC)" }, at.toLocaleString());
  }

  function stateBadge(state) {
    return el("span", { className: "state state-" + (STATES.includes(state) ? state : "unknown") },
      String(state).replace("_", " "));
  }

  function number(value, digits) {
    if (value === null || value === undefined) return "–";
    return Number(value).toLocaleString(undefined, { maximumFractionDigits: digits === undefined ? 2 : digits });
  }

  // A series: a service's own ({id}) or one of its endpoint series ({id, endpoint}).
  function serviceHref(id, endpoint) {
    return "#/service/" + encodeURIComponent(id) + (endpoint ? "/" + encodeURIComponent(endpoint) : "");
  }

  // The API path of a series' resource (`base`/<id>`suffix`), with its query (docs/api.md,
  // Conventions: endpoint series).
  function seriesPath(base, series, query, suffix) {
    const params = new URLSearchParams(query || {});
    if (series.endpoint) params.set("endpoint", series.endpoint);
    const text = params.toString();
    return `${base}/${encodeURIComponent(series.id)}${suffix || ""}${text ? "?" + text : ""}`;
  }

  function seriesName(series) {
    return series.endpoint ? `${series.id} · ${series.endpoint}` : series.id;
  }

  function stamp() {
    updated.textContent = "Updated " + new Date().toLocaleTimeString();
  }

  // ---- the API, with the access token when the service asks for one -------------------------

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.message) || "HTTP " + status);
      this.status = status;
      this.code = body && body.error;
    }
  }

  let tokenWaiters = [];

  function askForToken(message) {
    const prompt = document.getElementById("token-prompt");
    const error = document.getElementById("token-error");
    error.hidden = !message;
    error.textContent = message || "";
    prompt.hidden = false;
    document.getElementById("token-input").focus();
    return new Promise((resolve) => tokenWaiters.push(resolve));
  }

  function saveToken() {
    const input = document.getElementById("token-input");
    const token = input.value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    input.value = "";
    document.getElementById("token-prompt").hidden = true;
    const waiters = tokenWaiters;
    tokenWaiters = [];
    for (const resolve of waiters) resolve();
  }

  async function api(path, options) {
    for (;;) {
      const headers = {};
      const token = sessionStorage.getItem(TOKEN_KEY);
      if (token) headers.Authorization = "Bearer " + token;
      const response = await fetch(path, Object.assign({ headers, cache: "no-store" }, options || {}));
      let body = null;
      try {
        body = await response.json();
      } catch (_) {
        body = null;
      }
      if (response.status === 401) {
        if (token) sessionStorage.removeItem(TOKEN_KEY);
        await askForToken(token ? "That token was not accepted." : "");
        continue;
      }
      if (!response.ok) throw new ApiError(response.status, body);
      return body;
    }
  }

  // ---- the services overview ----------------------------------------------------------------

  async function showOverview(mine) {
    const data = await api("/v1/services");
    if (mine !== generation) return;
    const counts = { DRIFT_DETECTED: 0, STABLE: 0, INSUFFICIENT_DATA: 0 };
    for (const service of data.services) counts[service.state] = (counts[service.state] || 0) + 1;

    const cards = el("div", { className: "cards" },
      card("Services", data.count, "count-total"),
      card("Drifting", counts.DRIFT_DETECTED, "count-drift"),
      card("Stable", counts.STABLE, "count-stable"),
      card("Insufficient data", counts.INSUFFICIENT_DATA, "count-insufficient"));

    const search = el("input", {
      type: "search", placeholder: "Filter by id", value: overview.filter, id: "filter",
      ariaLabel: "Filter services by id",
      oninput: () => { overview.filter = search.value; overview.page = 0; drawTable(); },
    });
    const stateSelect = el("select", {
      id: "state-filter", ariaLabel: "Only services in this state",
      onchange: () => { overview.state = stateSelect.value; overview.page = 0; drawTable(); },
    }, el("option", { value: "" }, "Every state"),
    ...STATES.map((state) => el("option", { value: state }, state.replace("_", " "))));
    stateSelect.value = overview.state;

    const tableHolder = el("div");
    function drawTable() {
      // Drifting services first, then by id (the API lists them by id).
      const needle = overview.filter.toLowerCase();
      const rows = data.services.filter((service) =>
        (!overview.state || service.state === overview.state) &&
        (!needle || service.service_id.toLowerCase().includes(needle)));
      rows.sort((a, b) => STATES.indexOf(a.state) - STATES.indexOf(b.state));
      const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
      overview.page = Math.min(overview.page, pages - 1);
      const shown = rows.slice(overview.page * PAGE_SIZE, (overview.page + 1) * PAGE_SIZE);
      const body = el("tbody", {}, ...shown.map((service) => el("tr", { dataset: { service: service.service_id } },
        el("td", { className: "id" }, el("a", { href: serviceHref(service.service_id) }, service.service_id)),
        el("td", {}, stateBadge(service.state)),
        el("td", { className: "num" }, number(service.sample_count, 0)),
        el("td", { className: "hide-narrow" }, time(service.transition_timestamp)))));
      const table = el("div", { className: "table-wrap" }, el("table", { id: "services" },
        el("thead", {}, el("tr", {}, el("th", {}, "Service"), el("th", {}, "State"),
          el("th", {}, "Samples"), el("th", { className: "hide-narrow" }, "Last transition"))),
        body));
      const pager = el("div", { className: "pager" },
        el("button", { type: "button", textContent: "Previous", disabled: overview.page === 0,
          onclick: () => { overview.page -= 1; drawTable(); } }),
        el("span", { className: "muted", id: "page-info" },
          rows.length === 0 ? "No service matches" :
            `${number(overview.page * PAGE_SIZE + 1, 0)}–${number(overview.page * PAGE_SIZE + shown.length, 0)} ` +
            `of ${number(rows.length, 0)}`),
        el("button", { type: "button", textContent: "Next", disabled: overview.page >= pages - 1,
          onclick: () => { overview.page += 1; drawTable(); } }));
      tableHolder.replaceChildren(table, pager);
    }
    drawTable();

    // Keep the filter's focus and caret across refreshes.
    const focused = document.activeElement && document.activeElement.id;
    main.replaceChildren(el("h1", {}, "Services"), cards,
      el("div", { className: "toolbar" }, search, stateSelect), tableHolder);
    if (focused === "filter") search.focus();
  }

  function card(label, value, id) {
    return el("div", { className: "card" }, el("div", { className: "label" }, label),
      el("div", { className: "value", id }, number(value, 0)));
  }

  // ---- one service --------------------------------------------------------------------------

  // The service's stored samples in the chosen range, a page at a time.
  async function samplesOf(series) {
    const since = new Date(Date.now() - rangeSeconds * 1000).toISOString();
    const samples = [];
    let after = 0;
    let complete = false;
    for (let page = 0; page < MAX_SAMPLE_PAGES; ++page) {
      const answer = await api(seriesPath("/v1/telemetry", series,
        { since, limit: "10000", after_seq: String(after) }));
      samples.push(...answer.samples);
      if (answer.next_after_seq === null) { complete = true; break; }
      after = answer.next_after_seq;
    }
    return { samples, complete };
  }

  async function baselineOf(series) {
    try {
      return await api(seriesPath("/v1/baseline", series));
    } catch (error) {
      if (error.code === "no_baseline") return null;
      throw error;
    }
  }

  async function showService(series, mine) {
    const health = await api(seriesPath("/v1/health", series));
    // Without a baseline, GET /v1/baseline would only answer 404 no_baseline. A service's page
    // also lists its endpoint series (none unless series.per_endpoint is on).
    const [baseline, events, telemetry, listed] = await Promise.all([
      health.baseline ? baselineOf(series) : null,
      api(seriesPath("/v1/events", series, { limit: "100" })), samplesOf(series),
      series.endpoint ? null : api("/v1/services?" +
        new URLSearchParams({ endpoints: "true", service_id: series.id }).toString())]);
    if (mine !== generation) return;
    const endpoints = listed ? listed.services.filter((s) => s.endpoint !== undefined) : [];

    const rangeSelect = el("select", {
      id: "range", ariaLabel: "Time range",
      onchange: () => { rangeSeconds = Number(rangeSelect.value); refresh(); },
    }, ...RANGES.map(([label, seconds]) => el("option", { value: String(seconds) }, "Last " + label)));
    rangeSelect.value = String(rangeSeconds);

    const resetButton = el("button", { type: "button", className: "danger", id: "reset",
      textContent: "Reset baseline…", onclick: () => confirmReset(series) });

    const heading = el("div", { className: "toolbar" },
      el("span", { id: "service-state" }, stateBadge(health.state)),
      el("span", { className: "muted" }, "since "), time(health.transition_timestamp),
      el("span", { className: "muted" }, `· ${number(health.sample_count, 0)} samples`));

    const chartBox = el("div", { className: "chart-box", id: "chart" });
    const note = el("p", { className: "muted", id: "chart-note" });
    if (telemetry.samples.length === 0) {
      note.textContent = "No stored samples in this range (samples are listed once committed).";
    } else if (!telemetry.complete) {
      note.textContent = `Showing the first ${number(telemetry.samples.length, 0)} samples of the range; ` +
        "choose a shorter range to see the newest.";
    }

    main.replaceChildren(
      el("p", {}, series.endpoint ?
        el("a", { href: serviceHref(series.id), id: "back-to-service" }, "← " + series.id) :
        el("a", { href: "#/" }, "← Services")),
      el("h1", { id: "service-id" }, series.id,
        series.endpoint ? el("span", { className: "endpoint", id: "endpoint" }, " " + series.endpoint) : null),
      heading,
      el("div", { className: "toolbar" }, rangeSelect, resetButton),
      chartBox, note,
      el("h2", {}, "Baseline"), baselineFigures(baseline, health),
      endpoints.length ? el("h2", {}, "Endpoints") : null,
      endpoints.length ? endpointsTable(series.id, endpoints) : null,
      el("h2", {}, "Events"), eventsTable(events.events));
    drawChart(chartBox, telemetry.samples, baseline, events.events);
  }

  function baselineFigures(baseline, health) {
    if (!baseline) {
      return el("p", { className: "muted", id: "baseline" },
        `No baseline yet: ${health.state === "INSUFFICIENT_DATA" ? "the service is still collecting samples." : "none in force."}`);
    }
    const figure = (label, value, unit) => el("div", {}, el("dt", {}, label),
      el("dd", {}, value === null ? "–" : number(value) + (unit || "")));
    return el("dl", { className: "figures", id: "baseline" },
      figure("Mean latency", baseline.mean_latency, " ms"),
      figure("Std deviation", baseline.stddev_latency, " ms"),
      figure("p50", baseline.p50_latency, " ms"),
      figure("p95", baseline.p95_latency, " ms"),
      figure("p99", baseline.p99_latency, " ms"),
      figure("Mean payload", baseline.mean_payload, " KB"),
      figure("Window samples", baseline.sample_count),
      el("div", {}, el("dt", {}, "Computed"), el("dd", {}, time(baseline.last_updated))));
  }

  // A service's endpoint series: drifting first, then by endpoint.
  function endpointsTable(id, endpoints) {
    const rows = endpoints.slice().sort((a, b) => STATES.indexOf(a.state) - STATES.indexOf(b.state));
    return el("div", { className: "table-wrap" }, el("table", { id: "endpoints" },
      el("thead", {}, el("tr", {}, el("th", {}, "Endpoint"), el("th", {}, "State"),
        el("th", {}, "Samples"), el("th", { className: "hide-narrow" }, "Last transition"))),
      el("tbody", {}, ...rows.map((series) => el("tr", { dataset: { endpoint: series.endpoint } },
        el("td", { className: "id" }, el("a", { href: serviceHref(id, series.endpoint) }, series.endpoint)),
        el("td", {}, stateBadge(series.state)),
        el("td", { className: "num" }, number(series.sample_count, 0)),
        el("td", { className: "hide-narrow" }, time(series.transition_timestamp)))))));
  }

  function eventsTable(events) {
    if (events.length === 0) return el("p", { className: "muted", id: "events" }, "No events yet.");
    return el("div", { className: "table-wrap" }, el("table", { id: "events" },
      el("thead", {}, el("tr", {}, el("th", {}, "When"), el("th", {}, "Transition"),
        el("th", {}, "Reason"), el("th", { className: "hide-narrow" }, "Details"))),
      el("tbody", {}, ...events.map((event) => el("tr", {},
        el("td", {}, time(event.timestamp)),
        el("td", {}, stateBadge(event.from_state), " → ", stateBadge(event.to_state)),
        el("td", {}, event.reason),
        el("td", { className: "meta hide-narrow" }, JSON.stringify(event.metadata)))))));
  }

  function cssColor(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  // Latency with the current baseline's mean, a ±3σ band, p95 and p99, and a marker per transition
  // (hover it for the reason and the details).
  function drawChart(box, samples, baseline, events) {
    if (chart) { chart.destroy(); chart = null; }
    if (samples.length === 0 || typeof uPlot !== "function") return;
    // The API lists samples in the order they were sent; the time axis wants them by time.
    const points = samples.map((sample) => [Date.parse(sample.timestamp) / 1000, sample.latency_ms]);
    points.sort((a, b) => a[0] - b[0]);
    const xs = points.map((point) => point[0]);
    const constant = (value) => xs.map(() => (baseline && value !== null ? value : null));
    const mean = baseline ? baseline.mean_latency : null;
    const sigma = baseline ? baseline.stddev_latency : null;
    const data = [
      xs,
      points.map((point) => point[1]),
      constant(mean),
      constant(baseline ? mean + 3 * sigma : null),
      constant(baseline ? Math.max(0, mean - 3 * sigma) : null),
      constant(baseline ? baseline.p95_latency : null),
      constant(baseline ? baseline.p99_latency : null),
    ];
    const grid = { stroke: cssColor("--chart-grid"), width: 1 };
    const axis = { stroke: cssColor("--muted"), grid, ticks: grid };
    const width = Math.max(280, box.clientWidth - 16);
    const options = {
      width,
      height: width < 500 ? 240 : 340,
      series: [
        {},
        { label: "Latency (ms)", stroke: cssColor("--chart-line"), width: 1.25, points: { show: false } },
        { label: "Mean", stroke: cssColor("--chart-mean"), width: 1.5 },
        { label: "+3σ", stroke: cssColor("--chart-band"), width: 1 },
        { label: "−3σ", stroke: cssColor("--chart-band"), width: 1 },
        { label: "p95", stroke: cssColor("--chart-p95"), width: 1, dash: [6, 4] },
        { label: "p99", stroke: cssColor("--chart-p99"), width: 1, dash: [2, 3] },
      ],
      bands: [{ series: [3, 4], fill: cssColor("--chart-band") }],
      axes: [axis, Object.assign({ label: "ms" }, axis)],
      hooks: { draw: [(u) => placeMarkers(u, events)] },
    };
    chart = new uPlot(options, data, box);
  }

  function placeMarkers(u, events) {
    for (const old of u.over.querySelectorAll(".marker")) old.remove();
    const [from, to] = [u.scales.x.min, u.scales.x.max];
    for (const event of events) {
      const at = Date.parse(event.timestamp) / 1000;
      if (at < from || at > to) continue;
      const details = `${event.from_state} → ${event.to_state}\n${event.reason}\n` +
        `${new Date(event.timestamp).toLocaleString()}\n${JSON.stringify(event.metadata)}`;
      const marker = el("div", { className: "marker", title: details, ariaLabel: details,
        dataset: { reason: event.reason } });
      marker.style.left = u.valToPos(at, "x") + "px";
      u.over.append(marker);
    }
  }

  function confirmReset(series) {
    const box = document.getElementById("confirm");
    document.getElementById("confirm-text").textContent =
      `“${seriesName(series)}” forgets its baseline and starts over in INSUFFICIENT_DATA; the reset is recorded as an event.`;
    box.hidden = false;
    const ok = document.getElementById("confirm-ok");
    const cancel = document.getElementById("confirm-cancel");
    const close = () => { box.hidden = true; ok.onclick = null; cancel.onclick = null; };
    cancel.onclick = close;
    ok.onclick = async () => {
      close();
      try {
        await api(seriesPath("/v1/baseline", series, {}, "/reset"), { method: "POST" });
      } catch (error) {
        showError(error);
        return;
      }
      refresh();
    };
    cancel.focus();
  }

  // ---- the system page ----------------------------------------------------------------------

  async function showSystem(mine) {
    const status = await api("/v1/system/status");
    if (mine !== generation) return;
    const row = (...cells) => el("tr", {}, ...cells.map((cell) =>
      cell instanceof Node ? el("td", {}, cell) : el("td", { className: typeof cell === "number" ? "num" : "" }, cell)));
    const table = (id, heads, rows) => rows.length === 0 ? el("p", { className: "muted", id }, "None.") :
      el("div", { className: "table-wrap" }, el("table", { id },
        heads ? el("thead", {}, el("tr", {}, ...heads.map((head) => el("th", {}, head)))) : null,
        el("tbody", {}, ...rows)));
    const targets = (status.notifications && status.notifications.targets) || [];
    main.replaceChildren(
      el("h1", {}, "System"),
      el("div", { className: "cards" },
        card("Status", null, "system-status"),
        card("Services", status.services_monitored),
        card("Stored samples", status.total_telemetry_records),
        card("Drift events", status.total_drift_events)),
      el("h2", {}, "Service"),
      table("system", null, [
        row("Version", status.version),
        row("Uptime", `${number(status.uptime_seconds, 0)} s`),
        row("Storage", `${status.storage_plugin}${status.storage_healthy ? "" : " (failing: " + status.storage_error + ")"}`),
        row("Database size", status.database_size_mb === null ? "–" : `${number(status.database_size_mb)} MiB`),
        row("Queue", `${number(status.queue_depth, 0)} of ${number(status.queue_capacity, 0)}`),
        row("Samples accepted / processed", `${number(status.samples_accepted, 0)} / ${number(status.samples_processed, 0)}`),
        row("Pipeline", `${status.pipeline.triggers.join(", ")}; recovery: ${status.pipeline.recovery}`),
        row("Durable ingest", status.durable ? "yes" : "no"),
        row("Access tokens", status.auth_required ? "required" : "not configured"),
        row("Detector errors", `${number(status.detector_errors, 0)}${status.last_detector_error ? " (last: " + status.last_detector_error + ")" : ""}`),
      ]),
      el("h2", {}, "Notification targets"),
      table("targets", ["Name", "Type", "Pending", "Delivered", "Failed", "Last error"],
        targets.map((t) => row(t.name, t.type, t.pending, t.delivered, t.failed, t.last_error || "–"))),
      el("h2", {}, "Plugins"),
      table("plugins", ["Name", "Version", "Path"],
        status.plugins.map((p) => row(p.name, p.version, el("code", {}, p.path)))),
      el("h2", {}, "Limits"),
      table("limits", ["Limit", "Configured", "Refused since start"],
        Object.entries(status.limits).map(([name, limit]) => row(el("code", {}, name), limit.limit, limit.rejected))));
    const statusCard = document.getElementById("system-status");
    statusCard.textContent = status.status;
    statusCard.classList.add(status.status === "healthy" ? "state-STABLE" : "state-DRIFT_DETECTED");
  }

  // ---- routing and refreshing ---------------------------------------------------------------

  function showError(error) {
    main.replaceChildren(el("h1", {}, "Something went wrong"),
      el("p", { className: "error", id: "error" }, error.message),
      el("p", {}, el("a", { href: "#/" }, "Back to the services")));
  }

  async function refresh() {
    clearTimeout(timer);
    const mine = ++generation;
    const route = location.hash.replace(/^#/, "") || "/";
    document.getElementById("nav-services").classList.toggle("current", !route.startsWith("/system"));
    document.getElementById("nav-system").classList.toggle("current", route.startsWith("/system"));
    try {
      if (route.startsWith("/service/")) {
        // "/service/<id>" or "/service/<id>/<endpoint>", each part percent-encoded.
        const decode = (part) => { try { return decodeURIComponent(part); } catch (_) { return part; } };
        const [id, endpoint] = route.slice("/service/".length).split("/");
        const series = { id: decode(id), endpoint: endpoint === undefined ? "" : decode(endpoint) };
        document.title = seriesName(series) + " · DriftWatch";
        await showService(series, mine);
      } else if (route === "/system") {
        document.title = "System · DriftWatch";
        await showSystem(mine);
      } else {
        document.title = "DriftWatch";
        await showOverview(mine);
      }
      if (mine === generation) stamp();
    } catch (error) {
      if (mine === generation) showError(error);
    }
    if (mine === generation) timer = setTimeout(refresh, REFRESH_MS);
  }

  document.getElementById("token-save").addEventListener("click", saveToken);
  document.getElementById("token-input").addEventListener("keydown", (event) => {
    if (event.key === "Enter") saveToken();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") document.getElementById("confirm-cancel").click();
  });
  window.addEventListener("hashchange", () => { chart = chart && (chart.destroy(), null); refresh(); });
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", refresh);
  window.addEventListener("resize", () => {
    const box = document.getElementById("chart");
    if (!chart || !box) return;
    const width = Math.max(280, box.clientWidth - 16);
    chart.setSize({ width, height: width < 500 ? 240 : 340 });
  });
  refresh();
})();
