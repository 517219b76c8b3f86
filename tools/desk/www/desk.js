// The desk's read-only page: GET /api/triage, drawn like the appliance's dashboard.
"use strict";

const $ = (id) => document.getElementById(id);

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function draw(t) {
  $("day").textContent = t.day;
  $("count").textContent = t.candidates.length;
  $("harmful").textContent = t.candidates.filter((c) => c.harm >= 0.5).length;
  const body = $("triage").tBodies[0];
  body.replaceChildren();
  if (!t.candidates.length) {
    const tr = document.createElement("tr");
    tr.appendChild(cell("No undecided candidates.", "empty"));
    tr.firstChild.colSpan = 10;
    body.appendChild(tr);
  }
  for (const c of t.candidates) {
    const tr = document.createElement("tr");
    tr.dataset.domain = c.domain;
    tr.append(cell(c.rank), cell(c.domain), cell(c.score.toFixed(1)),
      cell(c.strength.toFixed(1)), cell(c.growth.toFixed(1)), cell(c.category || "–"),
      cell(c.category ? c.probability.toFixed(2) : "–"), cell(c.appliances),
      cell(c.reports), cell(c.first_seen));
    body.appendChild(tr);
  }
}

async function load() {
  const s = $("status");
  try {
    const r = await fetch("/api/triage?limit=50", { cache: "no-store" });
    if (!r.ok) throw new Error("HTTP " + r.status);
    draw(await r.json());
    s.textContent = "Updated " + new Date().toLocaleTimeString();
    s.className = "badge ok";
  } catch (e) {
    s.textContent = "Problem: " + e.message;
    s.className = "badge bad";
  }
}

load();
setInterval(load, 60000);
