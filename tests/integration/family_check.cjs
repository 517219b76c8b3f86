// Drive the dashboard's Family page in Debian's headless Chromium (playwright-core), for
// test_family.py. Usage: node family_check.cjs '{"url", "out", "token", "user_dir", "little",
// "big", "little_addr", "tablet", "play", "bet", "bed_from", "bed_to"}'
// After each change it prints {"step": NAME} and waits for "go" on stdin, while the test checks
// the change over DNS. Exits 1 on the first failed expectation.
"use strict";
const path = require("path");
const readline = require("readline");
const { chromium } = require("playwright-core");

const A = JSON.parse(process.argv[2]);
const lines = readline.createInterface({ input: process.stdin });
const waiting = [];
lines.on("line", (l) => { const w = waiting.shift(); if (w) w(l.trim()); });

function expect(cond, what) {
  if (!cond) throw new Error("FAILED: " + what);
}

// Report a step done and wait until the test has checked it over DNS.
function step(name, extra) {
  console.log(JSON.stringify(Object.assign({ step: name }, extra || {})));
  return new Promise((resolve, reject) => waiting.push((l) => (l === "go" ? resolve() : reject(new Error(l)))));
}

// The same pages for a browser that asks for Vietnamese: Vietnamese words, none of the
// English ones (A.vi = {"english": [...], "vietnamese": [...]}), and screenshots.
async function vietnamese(seen, errors) {
  const ctx = await chromium.launchPersistentContext(A.user_dir + "-vi", {
    executablePath: process.env.KG_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    // the block page is reached by a blocked name, as a child's browser would
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--lang=vi-VN",
      `--host-resolver-rules=MAP ${A.block_host} 127.0.0.1`],
    locale: "vi-VN",
    extraHTTPHeaders: { "Accept-Language": "vi-VN,vi;q=0.9" },
    viewport: { width: 1100, height: 1400 },
  });
  try {
    const page = ctx.pages()[0] || (await ctx.newPage());
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.addInitScript((tok) => localStorage.setItem("kg-token", tok), A.token);
    for (const which of ["family", "overview"]) {
      await page.goto(A.url + "#" + which);
      if (which === "family") await page.waitForSelector(`#profile-${A.little}`);
      else await page.waitForFunction(() => /^\d/.test(document.getElementById("q-total").textContent));
      await page.waitForTimeout(500);
      const text = await page.evaluate(() => document.body.innerText);
      const english = A.vi.english.filter((w) => text.includes(w));
      expect(english.length === 0, which + " page in Vietnamese has English: " + english.join(" | "));
      const vi = A.vi.vietnamese[which].filter((w) => !text.includes(w));
      expect(vi.length === 0, which + " page lacks Vietnamese: " + vi.join(" | "));
      await page.screenshot({ path: path.join(A.out, `dashboard-${which}-vi.png`), fullPage: true });
      // the longer Vietnamese words still fit a phone
      await page.setViewportSize({ width: 390, height: 844 });
      await page.waitForTimeout(300);
      const over = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(over <= 0, which + " page in Vietnamese scrolls sideways on a phone by " + over + " px");
      await page.setViewportSize({ width: 1100, height: 1400 });
    }
    if (A.vi.block_url) {
      await page.goto(A.vi.block_url);
      seen.block_page_vi = await page.evaluate(() => document.body.innerText);
      await page.screenshot({ path: path.join(A.out, "block-page-vi.png"), fullPage: true });
    }
    seen.vietnamese = true;
  } finally {
    await ctx.close();
  }
}

(async () => {
  const ctx = await chromium.launchPersistentContext(A.user_dir, {
    executablePath: process.env.KG_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1100, height: 1400 },
  });
  const seen = {};
  const errors = [];
  try {
    const page = ctx.pages()[0] || (await ctx.newPage());
    page.on("pageerror", (e) => errors.push(String(e)));
    const card = (p) => `#profile-${p}`;
    // the browser already holds the token (test_dashboard.py checks how it is asked for)
    await page.addInitScript((tok) => localStorage.setItem("kg-token", tok), A.token);
    await page.goto(A.url + "#family");
    await page.waitForSelector(card(A.little));
    await page.waitForSelector(card(A.big));
    expect(await page.isHidden("#page-overview"), "the overview is hidden on the Family page");

    // little's address from kidguard.conf's clients =: listed, marked, and not movable here
    const confDev = `${card(A.little)} li[data-device="${A.little_addr}"][data-source="config"]`;
    await page.waitForSelector(confDev);
    seen.conf_device = await page.textContent(confDev);
    expect(!(await page.$(confDev + " select")) && !(await page.$(confDev + " button")),
      "a device of kidguard.conf has no move or remove control");

    // add the tablet to little's profile from "recently seen devices"
    const seenLi = `#seen-list li[data-seen="${A.tablet}"]`;
    await page.waitForSelector(seenLi);
    seen.seen_row = await page.textContent(seenLi);
    await page.selectOption(seenLi + " select", A.little);
    await page.click(seenLi + " button");
    await page.waitForSelector(`${card(A.little)} li[data-device="${A.tablet}"]`);
    await step("added");

    // a device not seen yet, by the MAC address its settings show
    await page.fill(`#p-${A.big}-dev-new`, A.mac.toUpperCase());
    await page.click(`#p-${A.big}-dev-add`);
    await page.waitForSelector(`${card(A.big)} li[data-device="${A.mac}"][data-kind="mac"]`);

    // move it to big's profile
    await page.selectOption(`${card(A.little)} li[data-device="${A.tablet}"] select.move`, A.big);
    await page.waitForSelector(`${card(A.big)} li[data-device="${A.tablet}"]`);
    expect(!(await page.$(`${card(A.little)} li[data-device="${A.tablet}"]`)), "moved, not copied");
    await step("moved");

    // allow a site for little only
    await page.fill(`#p-${A.little}-site`, A.bet);
    await page.click(`#p-${A.little}-allow`);
    await page.waitForSelector(`${card(A.little)} li[data-rule="${A.bet}"]`);
    expect(!(await page.$(`${card(A.big)} li[data-rule="${A.bet}"]`)), "the rule is little's only");
    await step("allowed");

    // bedtime for big, then none
    await page.fill(`#p-${A.big}-bed-start`, A.bed_from);
    await page.fill(`#p-${A.big}-bed-end`, A.bed_to);
    await page.click(`#p-${A.big}-bed-set`);
    await page.waitForFunction((want) => document.getElementById(want[0]).textContent.includes(want[1]),
      [`p-${A.big}-bedtime`, A.bed_from]);
    seen.bedtime = await page.textContent(`#p-${A.big}-bedtime`);
    await page.screenshot({ path: path.join(A.out, "dashboard-family-en.png"), fullPage: true });
    await step("bedtime");
    await page.click(`#p-${A.big}-bed-clear`);
    await page.waitForFunction((id) => !document.getElementById(id).textContent.includes(":"),
      `p-${A.big}-bedtime`);
    await step("bedtime_cleared");

    // a schedule for big: games blocked every day in the window around the clock's now
    const wins = `#p-${A.big}-schedules`;
    await page.selectOption(`#p-${A.big}-sched-cat`, "games");
    await page.selectOption(`#p-${A.big}-sched-days`, "all");
    await page.fill(`#p-${A.big}-sched-start`, A.bed_from);
    await page.fill(`#p-${A.big}-sched-end`, A.bed_to);
    await page.click(`#p-${A.big}-sched-add`);
    await page.waitForSelector(`${wins} li[data-window="0"]`);
    seen.schedule = await page.textContent(`${wins} li[data-window="0"]`);
    await step("schedule");
    await page.click(`${wins} li[data-window="0"] button`);
    await page.waitForSelector(`${wins} li.empty`);
    await step("schedule_removed");

    // little's age tier
    await page.selectOption(`#p-${A.little}-tier`, "9to12");
    await page.waitForFunction((id) => document.getElementById(id).value === "9to12", `p-${A.little}-tier`);
    await page.waitForSelector("#fam-msg:has-text('9to12')");
    await step("tier");

    // the walled garden for little: only the allowed sites
    await page.evaluate(() => { document.getElementById("fam-msg").textContent = ""; });
    await page.selectOption(`#p-${A.little}-mode`, "allowlist");
    await page.waitForFunction(() => document.getElementById("fam-msg").textContent !== "");
    expect((await page.getAttribute("#fam-msg", "class")) === "msg", "the mode change went through");
    await page.waitForFunction((id) => document.getElementById(id).value === "allowlist", `p-${A.little}-mode`);
    await step("garden");

    // a phone: no horizontal scroll on the Family page
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(300);
    seen.phone_overflow_family = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    await page.screenshot({ path: path.join(A.out, "dashboard-family-phone-en.png"), fullPage: true });

    // "Why is a site blocked?" for the tablet: answered for the profile it now belongs to
    await page.click("#tab-overview");
    await page.waitForSelector("#page-overview", { state: "visible" });
    seen.phone_overflow_overview = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    await page.setViewportSize({ width: 1100, height: 1400 });
    await page.waitForSelector(`#check-profile option[value="device:${A.tablet}"]`, { state: "attached" });
    await page.selectOption("#check-profile", "device:" + A.tablet);
    await page.fill("#check-input", A.bet);
    await page.click("#check-btn");
    await page.waitForFunction((n) => {
      const v = document.getElementById("check-verdict");
      return v && v.textContent.includes(n);
    }, A.bet);
    seen.whom_device = await page.textContent("#check-verdict");
    await page.waitForTimeout(2200); // one refresh of the numbers
    await page.screenshot({ path: path.join(A.out, "dashboard-overview-en.png"), fullPage: true });
    if (A.vi) await vietnamese(seen, errors);
    expect(errors.length === 0, "no JavaScript errors: " + errors.join("; "));
    await step("done", seen);
  } finally {
    lines.close();
    await ctx.close();
  }
})().catch((e) => {
  console.error(e.stack || String(e));
  process.exitCode = 1;
});
