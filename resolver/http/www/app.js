// kidguard dashboard: plain JavaScript, no build step, no external requests.
// Polls /api/stats and /api/events every 2 s and draws the charts on <canvas>.
"use strict";

const $ = (id) => document.getElementById(id);
// The API token ([http] token): asked for once, when a change is refused, and kept in this
// browser (localStorage) so that the dashboard does not ask again.
let token = localStorage.getItem("kg-token") || "";
let tokenWaiters = [];

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}

function fmt(n) {
  if (n >= 1e9) return (n / 1e9).toFixed(1) + "G";
  if (n >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (n >= 1e4) return (n / 1e3).toFixed(1) + "k";
  return String(n);
}

function ago(s) {
  if (s < 90) return Math.round(s) + " s ago";
  if (s < 5400) return Math.round(s / 60) + " min ago";
  if (s < 172800) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86400) + " days ago";
}

function when(t) {
  return t ? new Date(t * 1000).toLocaleString() : "never";
}

async function send(method, url, body) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers["Authorization"] = "Bearer " + token;
  const r = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let j = {};
  try { j = await r.json(); } catch (e) { /* not JSON */ }
  return { r, j };
}

// Show the token panel; resolves when a token is entered, rejects on Cancel.
function askToken(message) {
  $("token-msg").textContent = message;
  $("token-panel").hidden = false;
  $("token-input").value = "";
  $("token-panel").scrollIntoView({ block: "nearest" });
  $("token-input").focus();
  return new Promise((resolve, reject) => tokenWaiters.push({ resolve, reject }));
}

function tokenDone(entered) {
  const waiting = tokenWaiters;
  tokenWaiters = [];
  $("token-panel").hidden = true;
  for (const w of waiting) {
    if (entered) w.resolve();
    else w.reject(new Error("this change needs the access token"));
  }
}

async function api(method, url, body) {
  let { r, j } = await send(method, url, body);
  // A change refused for want of the token: ask for it, then send the same request again.
  while ((r.status === 401 || r.status === 403) && method !== "GET") {
    await askToken(r.status === 403 ? (j.error || "This change was refused.")
      : token ? "The server did not accept that token. Enter it again."
        : "Enter the access token to make this change.");
    ({ r, j } = await send(method, url, body));
  }
  if (!r.ok) throw new Error(j.error || ("HTTP " + r.status));
  return j;
}

// ---------------------------------------------------------------- charts
function drawChart(canvas, points, bucket) {
  // points: [[t, queries, blocked]] per minute; aggregate into `bucket` minutes.
  const now = Math.floor(Date.now() / 1000);
  const span = canvas.id === "chart-hour" ? 3600 : 86400;
  const step = 60 * bucket;
  const n = Math.round(span / step);
  const start = Math.floor(now / step) * step - (n - 1) * step;
  const q = new Array(n).fill(0), b = new Array(n).fill(0);
  for (const [t, qq, bb] of points) {
    const i = Math.floor((t - start) / step);
    if (i >= 0 && i < n) { q[i] += qq; b[i] += bb; }
  }
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 600, h = canvas.clientHeight || 160;
  canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr);
  const c = canvas.getContext("2d");
  c.scale(dpr, dpr);
  c.clearRect(0, 0, w, h);
  const max = Math.max(1, ...q);
  const left = 36, bottom = 18, top = 6, ph = h - bottom - top, pw = w - left - 4;
  const css = getComputedStyle(document.documentElement);
  c.font = "11px system-ui, sans-serif";
  c.fillStyle = css.getPropertyValue("--muted") || "#666";
  c.strokeStyle = css.getPropertyValue("--line") || "#ddd";
  c.lineWidth = 1;
  for (const f of [0, 0.5, 1]) {
    const y = top + ph - f * ph + 0.5;
    c.beginPath(); c.moveTo(left, y); c.lineTo(w - 4, y); c.stroke();
    c.fillText(fmt(Math.round(max * f)), 2, y + 4);
  }
  const bw = pw / n;
  for (let i = 0; i < n; i++) {
    const x = left + i * bw;
    const hq = (q[i] / max) * ph, hb = (b[i] / max) * ph;
    c.fillStyle = css.getPropertyValue("--q") || "#36c";
    if (q[i]) c.fillRect(x + 0.5, top + ph - hq, Math.max(1, bw - 1), Math.max(1, hq));
    c.fillStyle = css.getPropertyValue("--b") || "#c33";
    if (b[i]) c.fillRect(x + 0.5, top + ph - hb, Math.max(1, bw - 1), Math.max(1, hb));
  }
  c.fillStyle = css.getPropertyValue("--muted") || "#666";
  const label = (t) => new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  c.fillText(label(start), left, h - 4);
  const endLabel = "now";
  c.fillText(endLabel, w - 4 - c.measureText(endLabel).width, h - 4);
  // for tests and screen readers: what the chart shows
  canvas.dataset.queries = q.reduce((a, x) => a + x, 0);
  canvas.dataset.blocked = b.reduce((a, x) => a + x, 0);
  canvas.title = canvas.dataset.queries + " queries, " + canvas.dataset.blocked + " blocked";
}

// ---------------------------------------------------------------- stats
let lastStats = null;

function renderStats(s) {
  lastStats = s;
  $("version").textContent = "v" + s.version;
  const hb = $("health");
  hb.textContent = s.healthy ? "Protecting" : "Problem: " + s.health;
  hb.className = "badge " + (s.healthy ? "ok" : "bad");
  hb.title = s.health;
  const t = s.totals;
  $("q-total").textContent = fmt(t.queries);
  $("q-sub").textContent = t.udp + " UDP, " + t.tcp + " TCP";
  $("b-total").textContent = fmt(t.blocked);
  $("b-sub").textContent = t.queries ? ((100 * t.blocked) / t.queries).toFixed(1) + "% of queries" : "";
  const lookups = t.cache_hits + t.cache_misses;
  $("cache-rate").textContent = lookups ? Math.round((100 * t.cache_hits) / lookups) + "%" : "–";
  $("cache-sub").textContent = t.cache_entries + " entries";
  const f = s.feed || {};
  $("feed-version").textContent = f.version ? "v" + f.version : "local";
  $("feed-sub").textContent = !f.sync_configured ? "no feed sync configured"
    : f.last_sync ? "synced " + ago(f.age_s) : "never synced";
  const uh = s.upstream_health;
  $("up-status").textContent = { ok: "OK", idle: "idle", degraded: "slow", down: "down" }[uh.status] || uh.status;
  $("up-sub").textContent = Math.round(s.latency.mean_ms) + " ms average";

  drawChart($("chart-hour"), s.history, 1);
  drawChart($("chart-day"), s.history, 15);

  const cats = $("cat-list");
  cats.replaceChildren();
  const list = s.blocked_by_category.slice().sort((a, b) => b.count - a.count);
  const max = Math.max(1, ...list.map((c) => c.count));
  if (!list.length) cats.append(el("li", { class: "empty" }, "Nothing blocked yet."));
  for (const c of list) {
    const bar = el("div", { class: "bar" });
    bar.style.width = (100 * c.count) / max + "%";
    cats.append(el("li", { "data-category": c.category }, el("span", {}, c.category), el("div", {}, bar),
      el("span", { class: "n" }, fmt(c.count))));
  }

  const fi = $("feed-info");
  fi.replaceChildren();
  const row = (k, v) => fi.append(el("dt", {}, k), el("dd", {}, v));
  row("Feed version", f.version ? String(f.version) : "none (local rules only)");
  row("Last sync", f.sync_configured ? when(f.last_sync) : "sync not configured");
  if (f.sync_configured) row("Last attempt", when(f.last_attempt));
  if (f.last_error) row("Last error", f.last_error);
  row("Entries", fmt(s.store.feed) + " from the feed, " + s.store.local + " local");
  row("Health", s.health);
  $("sync-btn").disabled = !f.sync_configured;

  const ul = $("up-list");
  ul.replaceChildren(...s.upstreams.map((u) => el("li", {}, u)));
  const ui = $("up-info");
  ui.replaceChildren();
  const urow = (k, v) => ui.append(el("dt", {}, k), el("dd", {}, v));
  urow("Status", uh.status + " (" + uh.failures_5m + " failures in " + uh.queries_5m + " queries, last 5 min)");
  urow("Sent upstream", fmt(t.upstream_queries));
  urow("Timeouts", fmt(t.upstream_timeouts));
  urow("Errors", fmt(t.upstream_errors));
  urow("Waiting now", String(t.inflight));

  const st = s.settings;
  renderProfiles(st.profiles || [], st.default_profile);
  $("qlog-note").textContent = st.query_log
    ? " — except that the query log is ON: the last queries are kept in memory with shortened device addresses"
    : "";
  $("report-addr").textContent = st.report_address ? "Reports go to " + st.report_address
    : "No report address is configured ([http] report_url); reports are kept here.";
}

// The "for whom" choices of the check panel; keeps the parent's pick across refreshes.
// Devices (family.js) follow the profiles in their own <optgroup>, which this leaves alone.
function renderProfiles(names, def) {
  const sel = $("check-profile");
  const have = Array.from(sel.children, (o) => o.value).filter((v) => v !== undefined);
  if (have.join("\n") === names.join("\n")) return;
  const keep = names.includes(sel.value) || sel.value.startsWith("device:") ? sel.value : def;
  for (const o of Array.from(sel.children)) if (o.tagName === "OPTION") o.remove();
  sel.prepend(...names.map((n) => el("option", { value: n }, n === def && n !== "default" ? n + " (default)" : n)));
  sel.value = keep;
}

function renderEvents(ev) {
  const tb = $("events").tBodies[0];
  tb.replaceChildren();
  if (!ev.events.length) {
    tb.append(el("tr", {}, el("td", { colspan: "4", class: "empty" }, "Nothing blocked yet.")));
    return;
  }
  for (const e of ev.events.slice(0, 15)) {
    const link = el("a", { title: "Why?", onclick: () => check(e.name) }, e.name);
    tb.append(el("tr", {}, el("td", {}, new Date(e.time * 1000).toLocaleTimeString()), el("td", {}, link),
      el("td", {}, e.categories.join(", ") || "local"), el("td", { class: "profile" }, e.profile)));
  }
}

async function refresh() {
  try {
    const [s, ev] = await Promise.all([api("GET", "/api/stats"), api("GET", "/api/events?limit=15")]);
    renderStats(s);
    renderEvents(ev);
  } catch (e) {
    $("health").textContent = "kidguard is not answering";
    $("health").className = "badge bad";
  }
}

// ---------------------------------------------------------------- check
async function check(name) {
  $("check-input").value = name;
  const box = $("check-result");
  box.hidden = false;
  box.className = "result";
  box.replaceChildren("Checking…");
  let v;
  try {
    // "for whom": a profile, or a device (family.js) as the DNS would see it
    const who = $("check-profile").value;
    const q = who.startsWith("device:") ? "&device=" + encodeURIComponent(who.slice(7))
      : who ? "&profile=" + encodeURIComponent(who) : "";
    v = await api("GET", "/api/check?name=" + encodeURIComponent(name) + q);
  } catch (e) {
    box.replaceChildren(String(e.message));
    return;
  }
  // The DNS answer decides (a bedtime or fail-closed block has no list action).
  const blocked = !["forward", "rewrite", "refused"].includes(v.answer);
  const verdict = blocked ? "Blocked" : v.action === "allow" ? "Allowed" : "Not blocked";
  box.className = "result " + (blocked ? "block" : v.action);
  const actions = el("div", { class: "actions" });
  if (blocked) {
    actions.append(el("button", { type: "button", class: "secondary", onclick: () => addRule(v.name, "allow") },
      "Allow on this network"));
    if (v.source === "feed")
      actions.append(el("button", { type: "button", class: "secondary", onclick: () => report(v.name, "wrong_block") },
        "Report a wrong block"));
  } else {
    actions.append(el("button", { type: "button", class: "danger", onclick: () => addRule(v.name, "deny") },
      "Block on this network"));
    actions.append(el("button", { type: "button", class: "secondary", onclick: () => report(v.name, "not_blocked") },
      "Report as harmful"));
  }
  const details = [];
  if (v.categories.length) details.push("category: " + v.categories.join(", "));
  if (v.match) details.push("rule: " + v.match + (v.subtree ? " and below" : ""));
  if (v.source !== "none") details.push("source: " + v.source + (v.source === "feed" ? " v" + v.feed_version : ""));
  details.push("profile: " + v.profile);
  box.replaceChildren(el("div", { class: "verdict", id: "check-verdict" }, verdict + ": " + v.name + " for " + v.profile),
    el("p", { id: "check-explanation" }, v.explanation), el("div", { class: "note" }, details.join(" · ")), actions);
}

// ---------------------------------------------------------------- overrides
async function loadRules() {
  const ul = $("ov-list");
  let j;
  try { j = await api("GET", "/api/overrides"); } catch (e) { return; }
  ul.replaceChildren();
  if (!j.overrides.length) ul.append(el("li", { class: "empty" }, "No local rules."));
  for (const o of j.overrides) {
    const del = el("button", { type: "button", class: "danger", onclick: () => delRule(o) }, "Remove");
    ul.append(el("li", { "data-name": o.name },
      el("span", {}, el("span", { class: "tag " + o.action }, o.action === "allow" ? "allow" : "block"), " ",
        o.name, o.subtree ? "" : " (exact)"), del));
  }
}

function say(id, text, err) {
  $(id).textContent = text;
  $(id).className = "msg" + (err ? " err" : "");
}

async function addRule(name, action) {
  try {
    await api("POST", "/api/overrides", { name, action, subtree: true });
    say("ov-msg", (action === "allow" ? "Allowed " : "Blocked ") + name + " on this network.");
  } catch (e) {
    say("ov-msg", "Could not change the rule: " + e.message, true);
  }
  await loadRules();
  if ($("check-input").value) check($("check-input").value);
}

async function delRule(o) {
  try {
    await api("DELETE", "/api/overrides?name=" + encodeURIComponent(o.name) + "&action=" +
      (o.action === "allow" ? "allow" : "deny") + "&subtree=" + (o.subtree ? 1 : 0));
    say("ov-msg", "Removed the rule for " + o.name + ".");
  } catch (e) {
    say("ov-msg", "Could not remove the rule: " + e.message, true);
  }
  loadRules();
}

// ---------------------------------------------------------------- reports, sync
async function loadReports() {
  let j;
  try { j = await api("GET", "/api/reports"); } catch (e) { return; }
  const ul = $("reports");
  ul.replaceChildren();
  if (!j.reports.length) ul.append(el("li", { class: "empty" }, "No reports."));
  for (const r of j.reports) {
    const what = r.kind === "wrong_block" ? "wrongly blocked" : "harmful, not blocked";
    const li = el("li", {}, r.domain + " — " + what + " — " + r.state + (r.error ? " (" + r.error + ")" : "") + " ");
    if (r.mailto) li.append(el("a", { href: r.mailto }, "send by e-mail"));
    ul.append(li);
  }
}

async function report(name, kind) {
  try {
    const r = await api("POST", "/api/report", { domain: name, kind });
    say("ov-msg", "Report kept (" + r.state + ").");
  } catch (e) {
    say("ov-msg", "Could not report: " + e.message, true);
  }
  loadReports();
}

$("check-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const n = $("check-input").value.trim();
  if (n) check(n);
});
$("ov-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const n = $("ov-name").value.trim();
  if (n) addRule(n, $("ov-action").value).then(() => { $("ov-name").value = ""; });
});
$("sync-btn").addEventListener("click", async () => {
  try { await api("POST", "/api/sync"); say("sync-msg", "Sync requested."); }
  catch (e) { say("sync-msg", e.message, true); }
});
$("token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  token = $("token-input").value.trim();
  if (!token) return;
  localStorage.setItem("kg-token", token);
  tokenDone(true);
});
$("token-cancel").addEventListener("click", () => tokenDone(false));
window.addEventListener("resize", () => lastStats && renderStats(lastStats));

refresh();
loadRules();
loadReports();
setInterval(refresh, 2000);
setInterval(loadReports, 10000);
