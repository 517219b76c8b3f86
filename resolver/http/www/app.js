// kidguard dashboard: plain JavaScript, no build step, no external requests.
// Polls /api/stats and /api/events every 2 s and draws the charts on <canvas>.
"use strict";

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- messages
// Every string a parent sees comes from the daemon's catalogue (www/i18n/<lang>.json, served
// at /i18n.json in the language the daemon negotiated from Accept-Language and [http]
// language, or /i18n/<code>.json for the one chosen with the language switch).
// t("key", {name: "x"}) fills "{name}"; a missing key shows the key itself, so a forgotten
// translation is visible (and tests/i18n/check_catalogues.py refuses it).
//
// The switch's choice is kept in this browser as the cookie kg_lang (not localStorage): the
// daemon reads it too (rs__i18n_pick), so that its answers, API errors included, come in the
// language the parent chose even when the phone's own language is another.
let messages = {};
let lang = "en";

function t(key, params) {
  const m = Object.prototype.hasOwnProperty.call(messages, key) ? messages[key] : key;
  return m.replace(/\{(\w+)\}/g, (all, p) => (params && p in params ? String(params[p]) : all));
}

// A category's name in the viewer's language: the feed's translation or the built-in one
// (both in the catalogue as "category.NAME"), else the name the list uses.
function catName(c) {
  return Object.prototype.hasOwnProperty.call(messages, "category." + c) ? messages["category." + c] : c;
}

// Elements say which message they show: data-i18n (text), data-i18n-placeholder,
// data-i18n-aria-label, data-i18n-title (attributes).
function applyI18n(root) {
  for (const e of (root || document).querySelectorAll("[data-i18n]")) e.textContent = t(e.dataset.i18n);
  for (const a of ["placeholder", "aria-label", "title"])
    for (const e of (root || document).querySelectorAll("[data-i18n-" + a + "]"))
      e.setAttribute(a, t(e.getAttribute("data-i18n-" + a)));
}

function has(key) {
  return Object.prototype.hasOwnProperty.call(messages, key);
}

const LANG_COOKIE = "kg_lang";

function chosenLang() {
  const m = document.cookie.match(/(?:^|;\s*)kg_lang=([a-z]{2,8})(?:;|$)/);
  return m ? m[1] : "";
}

function chooseLang(code) {
  document.cookie = LANG_COOKIE + "=" + code + "; Path=/; Max-Age=31536000; SameSite=Strict";
}

async function fetchMessages(url) {
  try {
    const r = await fetch(url, { cache: "no-store" });
    if (r.ok) return await r.json();
  } catch (e) { /* below: the negotiated one, or the keys */ }
  return null;
}

// The switch lists the daemon's languages ("@languages": code -> the language's own name).
function drawLangSwitch() {
  const sel = $("lang");
  sel.replaceChildren();
  for (const [code, name] of Object.entries(messages["@languages"] || {}))
    sel.append(Object.assign(el("option", { value: code, lang: code }, name), { selected: code === lang }));
}

async function loadMessages() {
  const code = chosenLang();
  messages = (code && (await fetchMessages("/i18n/" + code + ".json")))
    || (await fetchMessages("/i18n.json")) || {};
  lang = messages["@lang"] || "en";
  document.documentElement.lang = lang;
  applyI18n();
  drawLangSwitch();
}

// An API error in the page's words: {"error", "key", "args"} (docs/http.md); the page's own
// message for the key, else the server's text.
function errorText(j, status) {
  if (j && j.key && has(j.key)) return t(j.key, j.args);
  return (j && j.error) || t("error.http", { status });
}
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
  if (s < 90) return t("dash.time.s_ago", { n: Math.round(s) });
  if (s < 5400) return t("dash.time.min_ago", { n: Math.round(s / 60) });
  if (s < 172800) return t("dash.time.h_ago", { n: Math.round(s / 3600) });
  return t("dash.time.days_ago", { n: Math.round(s / 86400) });
}

function when(s) {
  return s ? new Date(s * 1000).toLocaleString(lang) : t("dash.time.never");
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
    else w.reject(new Error(t("dash.token.needed")));
  }
}

async function api(method, url, body) {
  let { r, j } = await send(method, url, body);
  // A change refused for want of the token: ask for it, then send the same request again.
  while ((r.status === 401 || r.status === 403) && method !== "GET") {
    await askToken(r.status === 403 ? (j.key ? errorText(j, r.status) : t("dash.token.refused"))
      : token ? t("dash.token.wrong") : t("dash.token.enter"));
    ({ r, j } = await send(method, url, body));
  }
  if (!r.ok) throw new Error(errorText(j, r.status));
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
  for (const [ts, qq, bb] of points) {
    const i = Math.floor((ts - start) / step);
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
  const label = (s) => new Date(s * 1000).toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" });
  c.fillText(label(start), left, h - 4);
  const endLabel = t("dash.chart.now");
  c.fillText(endLabel, w - 4 - c.measureText(endLabel).width, h - 4);
  // for tests and screen readers: what the chart shows
  canvas.dataset.queries = q.reduce((a, x) => a + x, 0);
  canvas.dataset.blocked = b.reduce((a, x) => a + x, 0);
  canvas.title = t("dash.chart.title", { q: canvas.dataset.queries, b: canvas.dataset.blocked });
}

// ---------------------------------------------------------------- stats
let lastStats = null;

function renderStats(s) {
  lastStats = s;
  $("version").textContent = "v" + s.version;
  const hb = $("health");
  const problem = ["store", "stale", "expired"].includes(s.health_code) ? t("dash.health." + s.health_code) : s.health;
  hb.textContent = s.healthy ? t("dash.health.ok") : t("dash.health.problem", { why: problem });
  hb.className = "badge " + (s.healthy ? "ok" : "bad");
  hb.title = s.healthy ? t("dash.health.ok") : s.health;
  const n = s.totals;
  $("q-total").textContent = fmt(n.queries);
  $("q-sub").textContent = t("dash.cards.udp_tcp", { udp: n.udp, tcp: n.tcp });
  $("b-total").textContent = fmt(n.blocked);
  $("b-sub").textContent = n.queries ? t("dash.cards.pct_queries", { pct: ((100 * n.blocked) / n.queries).toFixed(1) }) : "";
  const lookups = n.cache_hits + n.cache_misses;
  $("cache-rate").textContent = lookups ? Math.round((100 * n.cache_hits) / lookups) + "%" : "–";
  $("cache-sub").textContent = t("dash.cards.entries", { n: n.cache_entries });
  const f = s.feed || {};
  $("feed-version").textContent = f.version ? "v" + f.version : t("dash.cards.local");
  $("feed-sub").textContent = !f.sync_configured ? t("dash.cards.no_sync")
    : f.last_sync ? t("dash.cards.synced", { ago: ago(f.age_s) }) : t("dash.cards.never_synced");
  const uh = s.upstream_health;
  const upStatus = ["ok", "idle", "degraded", "down"].includes(uh.status) ? t("dash.up." + uh.status) : uh.status;
  $("up-status").textContent = upStatus;
  $("up-sub").textContent = t("dash.cards.avg_ms", { ms: Math.round(s.latency.mean_ms) });

  drawChart($("chart-hour"), s.history, 1);
  drawChart($("chart-day"), s.history, 15);

  const cats = $("cat-list");
  cats.replaceChildren();
  const list = s.blocked_by_category.slice().sort((a, b) => b.count - a.count);
  const max = Math.max(1, ...list.map((c) => c.count));
  if (!list.length) cats.append(el("li", { class: "empty" }, t("dash.empty.blocked")));
  for (const c of list) {
    const bar = el("div", { class: "bar" });
    bar.style.width = (100 * c.count) / max + "%";
    cats.append(el("li", { "data-category": c.category }, el("span", {}, catName(c.category)), el("div", {}, bar),
      el("span", { class: "n" }, fmt(c.count))));
  }

  const fi = $("feed-info");
  fi.replaceChildren();
  const row = (k, v) => fi.append(el("dt", {}, k), el("dd", {}, v));
  row(t("dash.feed.version"), f.version ? String(f.version) : t("dash.feed.none"));
  row(t("dash.feed.last_sync"), f.sync_configured ? when(f.last_sync) : t("dash.feed.not_configured"));
  if (f.sync_configured) row(t("dash.feed.last_attempt"), when(f.last_attempt));
  if (f.last_error) row(t("dash.feed.last_error"), f.last_error);
  row(t("dash.feed.entries"), t("dash.feed.entries_value", { feed: fmt(s.store.feed), local: s.store.local }));
  // the reason of a problem is the operator's detail (as /health says it); all is well in words
  row(t("dash.feed.health"), s.healthy ? t("dash.health.ok") : s.health);
  $("sync-btn").disabled = !f.sync_configured;

  const ul = $("up-list");
  ul.replaceChildren(...s.upstreams.map((u) => el("li", {}, u)));
  const ui = $("up-info");
  ui.replaceChildren();
  const urow = (k, v) => ui.append(el("dt", {}, k), el("dd", {}, v));
  urow(t("dash.up.status"), t("dash.up.status_value", { status: upStatus, failures: uh.failures_5m, queries: uh.queries_5m }));
  urow(t("dash.up.sent"), fmt(n.upstream_queries));
  urow(t("dash.up.timeouts"), fmt(n.upstream_timeouts));
  urow(t("dash.up.errors"), fmt(n.upstream_errors));
  urow(t("dash.up.waiting"), String(n.inflight));

  const st = s.settings;
  renderProfiles(st.profiles || [], st.default_profile);
  $("qlog-note").textContent = st.query_log ? t("dash.footer.qlog") : "";
  $("report-addr").textContent = st.report_address ? t("dash.reports.goes_to", { address: st.report_address })
    : t("dash.reports.no_address");
}

// The "for whom" choices of the check panel; keeps the parent's pick across refreshes.
// Devices (family.js) follow the profiles in their own <optgroup>, which this leaves alone.
function renderProfiles(names, def) {
  const sel = $("check-profile");
  const have = Array.from(sel.children, (o) => o.value).filter((v) => v !== undefined);
  if (have.join("\n") === names.join("\n")) return;
  const keep = names.includes(sel.value) || sel.value.startsWith("device:") ? sel.value : def;
  for (const o of Array.from(sel.children)) if (o.tagName === "OPTION") o.remove();
  sel.prepend(...names.map((n) => el("option", { value: n }, n === def && n !== "default" ? t("dash.profile.default", { name: n }) : n)));
  sel.value = keep;
}

function renderEvents(ev) {
  const tb = $("events").tBodies[0];
  tb.replaceChildren();
  if (!ev.events.length) {
    tb.append(el("tr", {}, el("td", { colspan: "4", class: "empty" }, t("dash.empty.blocked"))));
    return;
  }
  for (const e of ev.events.slice(0, 15)) {
    const link = el("a", { title: t("dash.events.why"), onclick: () => check(e.name) }, e.name);
    tb.append(el("tr", {}, el("td", {}, new Date(e.time * 1000).toLocaleTimeString(lang)), el("td", {}, link),
      el("td", {}, e.categories.map(catName).join(", ") || t("dash.events.local")), el("td", { class: "profile" }, e.profile)));
  }
}

async function refresh() {
  try {
    const [s, ev] = await Promise.all([api("GET", "/api/stats"), api("GET", "/api/events?limit=15")]);
    renderStats(s);
    renderEvents(ev);
  } catch (e) {
    $("health").textContent = t("dash.health.down");
    $("health").className = "badge bad";
  }
}

// ---------------------------------------------------------------- check
async function check(name) {
  $("check-input").value = name;
  const box = $("check-result");
  box.hidden = false;
  box.className = "result";
  box.replaceChildren(t("dash.check.checking"));
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
  const verdict = t(blocked ? "dash.check.blocked" : v.action === "allow" ? "dash.check.allowed" : "dash.check.not_blocked");
  box.className = "result " + (blocked ? "block" : v.action);
  const actions = el("div", { class: "actions" });
  if (blocked) {
    actions.append(el("button", { type: "button", class: "secondary", onclick: () => addRule(v.name, "allow") },
      t("dash.check.allow_here")));
    if (v.source === "feed")
      actions.append(el("button", { type: "button", class: "secondary", onclick: () => report(v.name, "wrong_block") },
        t("dash.check.report_wrong")));
  } else {
    actions.append(el("button", { type: "button", class: "danger", onclick: () => addRule(v.name, "deny") },
      t("dash.check.block_here")));
    actions.append(el("button", { type: "button", class: "secondary", onclick: () => report(v.name, "not_blocked") },
      t("dash.check.report_harmful")));
  }
  const details = [];
  if (v.categories.length) details.push(t("dash.check.category", { list: v.categories.map(catName).join(", ") }));
  if (v.match) details.push(t(v.subtree ? "dash.check.rule_below" : "dash.check.rule", { rule: v.match }));
  if (v.source === "feed") details.push(t("dash.check.source_feed", { version: v.feed_version }));
  else if (v.source === "local") details.push(t("dash.check.source_local"));
  else if (v.source !== "none") details.push(t("dash.check.source", { source: v.source }));
  details.push(t("dash.check.profile", { profile: v.profile }));
  box.replaceChildren(el("div", { class: "verdict", id: "check-verdict" },
    t("dash.check.verdict", { verdict, name: v.name, profile: v.profile })),
    el("p", { id: "check-explanation" }, v.explanation), el("div", { class: "note" }, details.join(" · ")), actions);
}

// ---------------------------------------------------------------- overrides
async function loadRules() {
  const ul = $("ov-list");
  let j;
  try { j = await api("GET", "/api/overrides"); } catch (e) { return; }
  ul.replaceChildren();
  if (!j.overrides.length) ul.append(el("li", { class: "empty" }, t("dash.rules.none")));
  for (const o of j.overrides) {
    const del = el("button", { type: "button", class: "danger", onclick: () => delRule(o) }, t("dash.rules.remove"));
    ul.append(el("li", { "data-name": o.name },
      el("span", {}, el("span", { class: "tag " + o.action }, t(o.action === "allow" ? "dash.rules.tag_allow" : "dash.rules.tag_block")), " ",
        o.name, o.subtree ? "" : " " + t("dash.rules.exact")), del));
  }
}

function say(id, text, err) {
  $(id).textContent = text;
  $(id).className = "msg" + (err ? " err" : "");
}

async function addRule(name, action) {
  try {
    await api("POST", "/api/overrides", { name, action, subtree: true });
    say("ov-msg", t(action === "allow" ? "dash.rules.allowed" : "dash.rules.blocked", { name }));
  } catch (e) {
    say("ov-msg", t("dash.rules.add_failed", { error: e.message }), true);
  }
  await loadRules();
  if ($("check-input").value) check($("check-input").value);
}

async function delRule(o) {
  try {
    await api("DELETE", "/api/overrides?name=" + encodeURIComponent(o.name) + "&action=" +
      (o.action === "allow" ? "allow" : "deny") + "&subtree=" + (o.subtree ? 1 : 0));
    say("ov-msg", t("dash.rules.removed", { name: o.name }));
  } catch (e) {
    say("ov-msg", t("dash.rules.remove_failed", { error: e.message }), true);
  }
  loadRules();
}

// ---------------------------------------------------------------- reports, sync
async function loadReports() {
  let j;
  try { j = await api("GET", "/api/reports"); } catch (e) { return; }
  const ul = $("reports");
  ul.replaceChildren();
  if (!j.reports.length) ul.append(el("li", { class: "empty" }, t("dash.reports.none")));
  for (const r of j.reports) {
    const what = t(r.kind === "wrong_block" ? "dash.reports.wrong_block" : "dash.reports.not_blocked");
    const li = el("li", {}, r.domain + " — " + what + " — " + reportState(r.state) + (r.error ? " (" + r.error + ")" : "") + " ");
    if (r.mailto) li.append(el("a", { href: r.mailto }, t("dash.reports.email")));
    ul.append(li);
  }
}

function reportState(s) {
  return ["queued", "sent", "failed", "manual"].includes(s) ? t("dash.reports.state." + s) : s;
}

async function report(name, kind) {
  try {
    const r = await api("POST", "/api/report", { domain: name, kind });
    say("ov-msg", t("dash.reports.kept", { state: reportState(r.state) }));
  } catch (e) {
    say("ov-msg", t("dash.reports.failed", { error: e.message }), true);
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
  try { await api("POST", "/api/sync"); say("sync-msg", t("dash.feed.sync_requested")); }
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

// The language switch: kept (chooseLang), then every part of the page drawn again.
$("lang").addEventListener("change", async (e) => {
  chooseLang(e.target.value);
  await loadMessages();
  $("health").textContent = t("dash.connecting");
  refresh();
  loadRules();
  loadReports();
  if (typeof showPage === "function") showPage(); // family.js: the page shown, redrawn
});

// family.js starts when the messages are here too.
const messagesReady = loadMessages();
messagesReady.then(() => {
  refresh();
  loadRules();
  loadReports();
  setInterval(refresh, 2000);
  setInterval(loadReports, 10000);
});
