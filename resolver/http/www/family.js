// kidguard dashboard, "Family" page: each child's profile (age tier, bedtime, schedules, sites
// allowed or blocked for that child only, devices; kidguard.conf's shown read-only) and the
// recently seen devices, over /api/profiles, /api/profiles/devices, /api/overrides?profile=
// and /api/devices/seen (docs/http.md).
// Uses el(), $(), t(), catName(), send(), api(), askToken(), say(), ago(), errorText(), token and
// messagesReady from app.js (loaded first); its words are the family.* keys of www/i18n/*.json.
"use strict";

const DAYS_ALL = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const DAYS_SCHOOL = ["sun", "mon", "tue", "wed", "thu"]; // nights before a school day
// the day sets a schedule offers (a window set elsewhere may name any days)
const DAY_SETS = {
  all: DAYS_ALL,
  weekdays: ["mon", "tue", "wed", "thu", "fri"],
  school: DAYS_SCHOOL,
  weekend: ["sat", "sun"],
};
let famData = null; // the last GET /api/profiles
let seenData = []; // the last GET /api/devices/seen

// Which page shows: the address's #fragment, so that a page can be bookmarked and the
// browser's back button works.
function showPage() {
  const page = location.hash === "#family" ? "family" : "overview";
  for (const p of ["overview", "family"]) {
    $("page-" + p).hidden = p !== page;
    $("tab-" + p).className = p === page ? "on" : "";
    if (p === page) $("tab-" + p).setAttribute("aria-current", "page");
    else $("tab-" + p).removeAttribute("aria-current");
  }
  if (page === "family") loadFamily();
  else if (typeof lastStats !== "undefined" && lastStats) renderStats(lastStats); // canvas size
}

// GET that may need the token (the seen-devices list is for the operator only): asks once.
async function getAuthed(url) {
  let { r, j } = await send("GET", url);
  if (r.status === 401 || r.status === 403) {
    await askToken(t("family.token_needed"));
    ({ r, j } = await send("GET", url));
  }
  if (!r.ok) throw new Error(errorText(j, r.status));
  return j;
}

function famSay(text, err) {
  say("fam-msg", text, err);
}

// Run one change, report it, then redraw the page from the server's state.
async function change(method, url, body, done) {
  try {
    await api(method, url, body);
    famSay(done);
  } catch (e) {
    famSay(t("family.failed", { error: e.message }), true);
  }
  await loadFamily();
}

async function loadFamily() {
  let j;
  try {
    j = await getAuthed("/api/profiles");
  } catch (e) {
    $("fam-profiles").replaceChildren(el("p", { class: "note" }, t("family.load_failed", { error: e.message })));
    return;
  }
  famData = j;
  let seenError = "";
  try {
    seenData = (await getAuthed("/api/devices/seen")).devices || [];
  } catch (e) {
    seenData = [];
    seenError = e.message;
  }
  renderFamily();
  renderSeen(seenError);
  renderWhom();
}

function profileNames() {
  return famData ? famData.profiles.map((p) => p.name) : [];
}

function profileSelect(id, selected, label) {
  const s = el("select", { id, "aria-label": label });
  for (const n of profileNames()) s.append(el("option", { value: n }, n));
  if (selected) s.value = selected;
  return s;
}

// The same nights whatever their order ("sun" comes first or last).
function sameDays(a, b) {
  return a.slice().sort().join(",") === b.slice().sort().join(",");
}

function dayNames(days) {
  return days.map((d) => t("family.day." + d)).join(", ");
}

function bedtimeText(b) {
  if (!b) return t("family.no_bedtime");
  const days = b.days || DAYS_ALL;
  const when = sameDays(days, DAYS_ALL) ? t("family.every_night")
    : sameDays(days, DAYS_SCHOOL) ? t("family.school_nights") : dayNames(days);
  return t("family.bedtime_is", { start: b.start, end: b.end, days: when });
}

// A schedule window in words: "school days (Mon–Fri), 08:00–15:00: games, social".
function windowText(w) {
  const days = w.days || DAYS_ALL;
  const set = Object.keys(DAY_SETS).find((k) => sameDays(days, DAY_SETS[k]));
  return t("family.window_is", {
    days: set ? t("family.days." + set) : dayNames(days), start: w.start, end: w.end,
    list: (w.block || []).map(catName).join(", "),
  });
}

// The windows as PUT /api/profiles takes them.
function windowBody(w) {
  return { days: w.days || DAYS_ALL, start: w.start, end: w.end, block: w.block || [] };
}

// The profile's schedules: each window with a remove button, and a row to add one (which
// days, from, to, which category). The whole list is sent: the API replaces it.
function renderSchedules(p, id) {
  const wins = p.schedules || [];
  const put = (list, done) => change("PUT", "/api/profiles?name=" + encodeURIComponent(p.name),
    { schedules: list.map(windowBody) }, done);
  const ul = el("ul", { class: "rules schedules", id: id("schedules") });
  wins.forEach((w, i) => {
    const del = el("button", {
      type: "button", class: "danger", title: t("family.sched_remove"), "aria-label": t("family.sched_remove"),
      onclick: () => put(wins.filter((_, k) => k !== i), t("family.sched_removed", { profile: p.name })),
    }, "×");
    ul.append(el("li", { "data-window": i }, el("span", {}, windowText(w)), del));
  });
  if (!wins.length) ul.append(el("li", { class: "empty" }, t("family.no_schedules")));
  const days = el("select", { id: id("sched-days"), "aria-label": t("family.sched_days") });
  for (const k of Object.keys(DAY_SETS)) days.append(el("option", { value: k }, t("family.days." + k)));
  days.value = "weekdays";
  const start = el("input", { id: id("sched-start"), type: "time", value: "08:00", "aria-label": t("family.sched_from") });
  const end = el("input", { id: id("sched-end"), type: "time", value: "15:00", "aria-label": t("family.sched_to") });
  const cat = el("select", { id: id("sched-cat"), "aria-label": t("family.sched_cat") });
  for (const c of famData.categories || []) cat.append(el("option", { value: c }, catName(c)));
  if ((famData.categories || []).includes("games")) cat.value = "games";
  const add = el("button", {
    type: "button", id: id("sched-add"), class: "secondary",
    onclick: () => cat.value && start.value && end.value &&
      put(wins.concat([{ days: DAY_SETS[days.value], start: start.value, end: end.value, block: [cat.value] }]),
        t("family.sched_added", { profile: p.name, list: catName(cat.value), start: start.value, end: end.value })),
  }, t("family.sched_add"));
  return [ul, el("div", { class: "row bed sched" }, cat, days, start, end, add)];
}

function deviceLabel(d) {
  return d.kind === "device_id" ? t("family.device_id", { name: d.value }) : d.value;
}

function deviceBody(d, profile) {
  return d.kind === "mac" ? { profile, mac: d.value } : { profile, address: d.value };
}

function renderDevice(p, d) {
  const li = el("li", { "data-device": d.value, "data-kind": d.kind, "data-source": d.source || "store" },
    el("span", { class: "dev" }, deviceLabel(d)));
  // the file's clients = and macs =: only an edit of kidguard.conf changes them
  if (d.source === "config") {
    li.append(el("small", { class: "note conf" }, t("family.from_conf")));
    return li;
  }
  if (d.kind === "device_id") return li; // a device ID moves with kidguard-ctl devices
  const move = profileSelect("", p.name, t("family.move_label", { device: d.value }));
  move.className = "move";
  move.addEventListener("change", () => change("POST", "/api/profiles/devices", deviceBody(d, move.value),
    t("family.moved", { device: d.value, profile: move.value })));
  const q = d.kind === "mac" ? "mac=" : "address=";
  const del = el("button", {
    type: "button", class: "danger", title: t("family.remove_device"),
    onclick: () => change("DELETE", "/api/profiles/devices?" + q + encodeURIComponent(d.value), undefined,
      t("family.device_removed", { device: d.value })),
  }, "×");
  li.append(el("label", { class: "inline" }, t("family.move_to"), move), del);
  return li;
}

function renderRule(p, r) {
  const del = el("button", {
    type: "button", class: "danger",
    onclick: () => change("DELETE", "/api/overrides?name=" + encodeURIComponent(r.name) + "&action=" + r.action +
      "&subtree=" + (r.subtree ? 1 : 0) + "&profile=" + encodeURIComponent(p.name), undefined,
    t("family.rule_removed", { site: r.name, profile: p.name })),
  }, t("family.remove"));
  return el("li", { "data-rule": r.name },
    el("span", {}, el("span", { class: "tag " + r.action }, r.action === "allow" ? t("family.allowed") : t("family.blocked")),
      " ", r.name), del);
}

// One card per profile. Element ids carry the profile name ([a-z0-9_-], safe in an id).
function renderProfile(p) {
  const id = (s) => "p-" + p.name + "-" + s;
  const tier = el("select", { id: id("tier"), "aria-label": t("family.tier") });
  if (!p.preset) tier.append(el("option", { value: "" }, t("family.custom")));
  for (const n of famData.presets || []) tier.append(el("option", { value: n }, t("family.tier." + n)));
  tier.value = p.preset || "";
  tier.addEventListener("change", () => tier.value && change("PUT", "/api/profiles?name=" + encodeURIComponent(p.name),
    { preset: tier.value }, t("family.tier_set", { profile: p.name, tier: tier.value })));

  const b = p.bedtime;
  const start = el("input", { id: id("bed-start"), type: "time", value: b ? b.start : "20:30", "aria-label": t("family.bed_from") });
  const end = el("input", { id: id("bed-end"), type: "time", value: b ? b.end : "06:30", "aria-label": t("family.bed_to") });
  const days = el("select", { id: id("bed-days"), "aria-label": t("family.bed_days") },
    el("option", { value: "all" }, t("family.every_night")), el("option", { value: "school" }, t("family.school_nights")));
  if (b && b.days && sameDays(b.days, DAYS_SCHOOL)) days.value = "school";
  const bedAllow = el("input", {
    id: id("bed-allow"), type: "text", autocapitalize: "off", autocomplete: "off", spellcheck: "false",
    value: (p.bedtime_allow || []).join(", "), placeholder: "school.example", "aria-label": t("family.bed_allow"),
  });
  const setBed = el("button", {
    type: "button", id: id("bed-set"),
    onclick: () => change("PUT", "/api/profiles?name=" + encodeURIComponent(p.name), {
      bedtime: { start: start.value, end: end.value, days: days.value === "school" ? DAYS_SCHOOL : DAYS_ALL },
      bedtime_allow: bedAllow.value.split(/[\s,]+/).filter((x) => x),
    },
      t("family.bedtime_set", { profile: p.name, start: start.value, end: end.value })),
  }, t("family.set"));
  const clearBed = el("button", {
    type: "button", class: "secondary", id: id("bed-clear"),
    onclick: () => change("PUT", "/api/profiles?name=" + encodeURIComponent(p.name), { bedtime: null },
      t("family.bedtime_cleared", { profile: p.name })),
  }, t("family.no_bedtime_btn"));
  if (!b) clearBed.disabled = true;

  // a device by the address or MAC its Wi-Fi settings show, when it is not in "recently seen"
  const devIn = el("input", {
    id: id("dev-new"), type: "text", autocapitalize: "off", autocomplete: "off", spellcheck: "false",
    placeholder: "192.168.1.23", "aria-label": t("family.dev_new"),
  });
  const devAdd = el("button", {
    type: "button", id: id("dev-add"), class: "secondary",
    onclick: () => {
      const v = devIn.value.trim().toLowerCase();
      if (!v) return;
      const body = /^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$/.test(v) ? { profile: p.name, mac: v.replace(/-/g, ":") }
        : { profile: p.name, address: v };
      change("POST", "/api/profiles/devices", body, t("family.moved", { device: v, profile: p.name }));
    },
  }, t("family.add"));
  const devs = el("ul", { class: "rules devices", id: id("devices") });
  for (const d of p.devices || []) devs.append(renderDevice(p, d));
  if (!devs.children.length) devs.append(el("li", { class: "empty" }, t("family.no_devices")));

  const rules = el("ul", { class: "rules", id: id("rules") });
  for (const r of p.rules || []) rules.append(renderRule(p, r));
  if (!rules.children.length) rules.append(el("li", { class: "empty" }, t("family.no_rules")));
  const site = el("input", {
    id: id("site"), type: "text", autocapitalize: "off", autocomplete: "off", spellcheck: "false",
    placeholder: "example.com", "aria-label": t("family.site"),
  });
  const rule = (action) => () => {
    const n = site.value.trim();
    if (!n) return;
    change("POST", "/api/overrides", { name: n, action, subtree: true, profile: p.name },
      t(action === "allow" ? "family.allowed_for" : "family.blocked_for", { site: n, profile: p.name }));
  };

  // the walled garden: only the sites allowed here and the national list's child-safe ones
  const mode = el("select", { id: id("mode"), "aria-label": t("family.mode") },
    el("option", { value: "filter" }, t("family.mode_filter")), el("option", { value: "allowlist" }, t("family.mode_allowlist")));
  mode.value = p.mode === "allowlist" ? "allowlist" : "filter";
  mode.addEventListener("change", () => change("PUT", "/api/profiles?name=" + encodeURIComponent(p.name),
    { mode: mode.value }, t("family.mode_set", { profile: p.name })));
  const head = el("h2", {}, p.name);
  const blocks = (p.blocks || []).map(catName).join(", ");
  return el("section", { class: "panel profile", id: "profile-" + p.name, "data-profile": p.name }, head,
    el("div", { class: "field" }, el("label", { for: id("tier") }, t("family.tier")), tier),
    el("div", { class: "field" }, el("label", { for: id("mode") }, t("family.mode")), mode),
    el("p", { class: "note blocks" }, blocks ? t("family.blocks", { list: blocks }) : t("family.blocks_none")),
    el("div", { class: "field" }, el("span", { class: "label" }, t("family.bedtime")),
      el("span", { class: "bedtime", id: id("bedtime") }, bedtimeText(b))),
    el("div", { class: "row bed" }, start, end, days),
    el("div", { class: "field" }, el("label", { for: id("bed-allow") }, t("family.bed_allow")), bedAllow),
    el("div", { class: "row" }, setBed, clearBed),
    el("h3", {}, t("family.schedules")),
    el("p", { class: "note" }, t("family.sched_note")),
    ...renderSchedules(p, id),
    el("h3", {}, t("family.sites")),
    el("div", { class: "row site" }, site,
      el("button", { type: "button", id: id("allow"), class: "secondary", onclick: rule("allow") }, t("family.allow")),
      el("button", { type: "button", id: id("deny"), class: "danger", onclick: rule("deny") }, t("family.block"))),
    rules,
    el("h3", {}, t("family.devices")), devs,
    el("div", { class: "row site" }, devIn, devAdd));
}

function renderFamily() {
  const box = $("fam-profiles");
  box.replaceChildren(...famData.profiles.map(renderProfile));
}

function renderSeen(error) {
  const ul = $("seen-list");
  ul.replaceChildren();
  if (error) ul.append(el("li", { class: "empty" }, t("family.seen_failed")));
  else if (!seenData.length) ul.append(el("li", { class: "empty" }, t("family.none_seen")));
  const now = Date.now() / 1000;
  for (const d of seenData) {
    const who = d.mac || d.address;
    const to = profileSelect("", d.profile, t("family.add_label", { device: who }));
    const add = el("button", {
      type: "button",
      onclick: () => change("POST", "/api/profiles/devices",
        d.mac ? { profile: to.value, mac: d.mac } : { profile: to.value, address: d.address },
        t("family.moved", { device: who, profile: to.value })),
    }, t("family.add"));
    ul.append(el("li", { "data-seen": who },
      el("span", {}, el("span", { class: "dev" }, who), el("br"),
        el("small", { class: "note" }, t("family.seen_line", {
          profile: d.profile, ago: ago(Math.max(0, now - d.last_seen)), n: d.queries,
        }))),
      el("span", { class: "inline" }, to, add)));
  }
}

// The check panel's "for whom": profiles from /api/stats (app.js), then the devices: those
// seen recently and those put in a profile.
function renderWhom() {
  const sel = $("check-profile");
  let g = sel.querySelector("optgroup");
  const keep = sel.value;
  const devs = new Map();
  for (const d of seenData) devs.set(d.mac || d.address, d.profile);
  for (const p of famData ? famData.profiles : [])
    for (const d of p.devices || [])
      // one device each: not a device ID, nor a whole subnet of kidguard.conf's clients =
      if (d.kind !== "device_id" && !d.value.includes("/") && !devs.has(d.value)) devs.set(d.value, p.name);
  if (g) g.remove();
  if (!devs.size) return;
  g = el("optgroup", { label: t("family.devices") });
  for (const [who, profile] of devs) g.append(el("option", { value: "device:" + who }, who + " (" + profile + ")"));
  sel.append(g);
  if (Array.from(sel.options).some((o) => o.value === keep)) sel.value = keep;
}

async function refreshSeen() {
  if (!token) return; // the list is for the operator: never prompt from the overview
  try {
    seenData = (await getAuthed("/api/devices/seen")).devices || [];
  } catch (e) {
    return;
  }
  renderWhom();
}

window.addEventListener("hashchange", showPage);
messagesReady.then(() => {
  showPage();
  refreshSeen();
  setInterval(refreshSeen, 10000);
});
