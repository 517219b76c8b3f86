// The desk's read-only page: GET /api/triage, drawn like the appliance's dashboard.
//
// Every string on the page comes from the desk's catalogue (tools/desk/www/i18n/<lang>.json,
// compiled into kidguard-desk): /i18n.json is the language the desk negotiated ([desk]
// language, else Accept-Language), /i18n/<code>.json one chosen with the language switch
// (kept in this browser). t("key", {name: "x"}) fills "{name}"; a missing key shows itself
// (and tests/i18n/check_catalogues.py refuses it).
"use strict";

const $ = (id) => document.getElementById(id);
let messages = {};
let lang = "en";

function t(key, params) {
  const m = Object.prototype.hasOwnProperty.call(messages, key) ? messages[key] : key;
  return m.replace(/\{(\w+)\}/g, (all, p) => (params && p in params ? String(params[p]) : all));
}

function has(key) {
  return Object.prototype.hasOwnProperty.call(messages, key);
}

// Elements say which message they show: data-i18n (text), data-i18n-aria-label, -title.
function applyI18n() {
  for (const e of document.querySelectorAll("[data-i18n]")) e.textContent = t(e.dataset.i18n);
  for (const a of ["aria-label", "title"])
    for (const e of document.querySelectorAll("[data-i18n-" + a + "]"))
      e.setAttribute(a, t(e.getAttribute("data-i18n-" + a)));
  document.documentElement.lang = lang;
  document.title = t("desk.title");
}

// The switch lists the languages the desk has ("@languages": code -> its own name).
function drawSwitch() {
  const sel = $("lang");
  sel.replaceChildren();
  for (const [code, name] of Object.entries(messages["@languages"] || {})) {
    const o = document.createElement("option");
    o.value = code;
    o.textContent = name;
    o.selected = code === lang;
    sel.appendChild(o);
  }
}

async function loadMessages(code) {
  try {
    const r = await fetch(code ? "/i18n/" + code + ".json" : "/i18n.json", { cache: "no-store" });
    if (r.ok) messages = await r.json();
  } catch (e) { /* keep the keys: the page still works */ }
  lang = messages["@lang"] || "en";
  applyI18n();
  drawSwitch();
}

function num(x, digits) {
  return x.toLocaleString(lang, { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function catName(c) {
  return has("category." + c) ? t("category." + c) + " (" + c + ")" : c;
}

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

// The site (a registrable domain) and, below it, the names parents reported under it.
function siteCell(c) {
  const td = cell(c.domain);
  const names = (c.reported_names || []).filter((n) => n !== c.domain);
  if (names.length) {
    let text = names.join(", ");
    if (c.reported_names_total > c.reported_names.length)
      text += " " + t("desk.more_names", { n: c.reported_names_total - c.reported_names.length });
    const small = document.createElement("div");
    small.className = "sub reported";
    small.textContent = t("desk.reported_as", { names: text });
    td.appendChild(small);
  }
  return td;
}

let last = null;

function draw(d) {
  last = d;
  $("day").textContent = d.day;
  $("count").textContent = d.candidates.length;
  $("harmful").textContent = d.candidates.filter((c) => c.harm >= 0.5).length;
  const body = $("triage").tBodies[0];
  body.replaceChildren();
  if (!d.candidates.length) {
    const tr = document.createElement("tr");
    tr.appendChild(cell(t("desk.empty"), "empty"));
    tr.firstChild.colSpan = 10;
    body.appendChild(tr);
  }
  for (const c of d.candidates) {
    const tr = document.createElement("tr");
    tr.dataset.domain = c.domain;
    tr.append(cell(c.rank), siteCell(c), cell(num(c.score, 1)), cell(num(c.strength, 1)),
      cell(num(c.growth, 1)), cell(c.category ? catName(c.category) : "–"),
      cell(c.category ? num(c.probability, 2) : "–"), cell(c.appliances), cell(c.reports),
      cell(c.first_seen));
    body.appendChild(tr);
  }
}

// The desk's error answers carry a message key ("key") besides their text ("error").
async function problem(r) {
  try {
    const j = await r.json();
    if (j.key && has(j.key)) return t(j.key);
    if (j.error) return j.error;
  } catch (e) { /* not JSON */ }
  return t("error.http", { status: r.status });
}

async function load() {
  const s = $("status");
  try {
    const r = await fetch("/api/triage?limit=50", { cache: "no-store" });
    if (!r.ok) {
      s.textContent = t("desk.status.problem", { error: await problem(r) });
      s.className = "badge bad";
      return;
    }
    draw(await r.json());
    s.textContent = t("desk.status.updated", { time: new Date().toLocaleTimeString(lang) });
    s.className = "badge ok";
  } catch (e) {
    s.textContent = t("desk.status.problem", { error: t("error.network") });
    s.className = "badge bad";
  }
}

$("lang").addEventListener("change", async (e) => {
  localStorage.setItem("kg-desk-lang", e.target.value);
  await loadMessages(e.target.value);
  if (last) draw(last);
  load();
});

(async () => {
  await loadMessages(localStorage.getItem("kg-desk-lang"));
  await load();
  setInterval(load, 60000);
})();
