// Drive the desk's read-only page in Debian's headless Chromium with playwright-core.
// Usage: node desk_check.cjs URL SCREENSHOT.png USERDATADIR FIRST_NAME OTHER_NAME...
// (FIRST_NAME must be ranked first). Prints one JSON line of what it saw; exits 1 on the
// first failed expectation.
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
  } finally {
    console.log(JSON.stringify(seen));
    await ctx.close();
  }
})().catch((e) => {
  console.error(String(e));
  process.exitCode = 1;
});
