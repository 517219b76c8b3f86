// Drive the desk's read-only page in Debian's headless Chromium with playwright-core.
// Usage: node desk_check.cjs URL SCREENSHOT.png USERDATADIR FIRST_NAME OTHER_NAME...
// (FIRST_NAME must be ranked first). Checks the page in English (the browser's language), then
// switches it to Vietnamese with the page's language switch (SCREENSHOT-vi.png) and reloads
// (the choice is kept). Prints one JSON line of what it saw; exits 1 on the first failed
// expectation.
"use strict";
const { chromium } = require("playwright-core");

const [url, shot, userDir, first, ...others] = process.argv.slice(2);

function expect(cond, what) {
  if (!cond) {
    console.error("FAILED: " + what);
    process.exitCode = 1;
    throw new Error(what);
  }
}

(async () => {
  const ctx = await chromium.launchPersistentContext(userDir, {
    executablePath: process.env.KG_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--ignore-certificate-errors"],
    viewport: { width: 1200, height: 900 },
  });
  const seen = {};
  try {
    const page = ctx.pages()[0] || (await ctx.newPage());
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    await page.goto(url);
    await page.waitForSelector("#triage tbody tr[data-domain]");
    seen.status = await page.textContent("#status");
    expect(/Updated/.test(seen.status), "status says Updated");
    seen.rows = await page.$$eval("#triage tbody tr", (rs) => rs.map((r) => r.dataset.domain));
    expect(seen.rows[0] === first, "first row is " + first);
    for (const n of others) expect(seen.rows.includes(n), n + " listed");
    seen.count = await page.textContent("#count");
    expect(Number(seen.count) === seen.rows.length, "count card matches the rows");
    seen.first_row = await page.$eval("#triage tbody tr", (r) => r.innerText);
    const bg = await page.$eval("header", (h) => getComputedStyle(h).backgroundColor);
    expect(bg === "rgb(255, 255, 255)", "the dashboard's style sheet applies");
    expect(errors.length === 0, "no page errors: " + errors.join("; "));
    await page.screenshot({ path: shot, fullPage: true });

    // Vietnamese, with the language switch: every visible string from vi.json
    expect(await page.$eval("#lang", (s) => s.value) === "en", "the switch shows English");
    await page.selectOption("#lang", "vi");
    await page.waitForFunction(() => /Cập nhật/.test(document.getElementById("status").textContent));
    await page.reload();
    await page.waitForSelector("#triage tbody tr[data-domain]");
    await page.waitForFunction(() => /Cập nhật/.test(document.getElementById("status").textContent));
    seen.vi_lang = await page.$eval("html", (h) => h.lang);
    seen.vi_title = await page.title();
    seen.vi_headers = await page.$$eval("#triage th", (ths) => ths.map((t) => t.textContent));
    seen.vi_cards = await page.$$eval(".card .label", (ls) => ls.map((l) => l.textContent));
    seen.vi_reported = await page.$$eval(".reported", (rs) => rs.map((r) => r.textContent).join(" | "));
    seen.vi_note = await page.textContent(".note");
    expect(seen.vi_lang === "vi", "html lang is vi after the switch and a reload");
    expect(seen.vi_title === "Bàn xử lý kidguard", "the title is Vietnamese");
    expect(seen.vi_headers.includes("Trang web"), "table headers in Vietnamese");
    expect(/Quyết định bằng lệnh/.test(seen.vi_note), "the note in Vietnamese");
    expect(/được báo cáo dưới tên/.test(seen.vi_reported), "reported names in Vietnamese");
    // no English left in the page's text (the command names and site names aside)
    const text = await page.$eval("main", (m) => m.innerText);
    for (const w of ["Triage", "Score", "Reports", "First seen", "Loading", "Updated"])
      expect(!text.includes(w), "no English '" + w + "' on the Vietnamese page");
    expect(errors.length === 0, "no page errors: " + errors.join("; "));
    await page.screenshot({ path: shot.replace(/\.png$/, "-vi.png"), fullPage: true });
  } finally {
    console.log(JSON.stringify(seen));
    await ctx.close();
  }
})().catch((e) => {
  console.error(String(e));
  process.exitCode = 1;
});
