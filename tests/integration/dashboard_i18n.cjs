// The dashboard and the block page in Vietnamese, in Debian's headless Chromium (playwright-core).
// Usage: node dashboard_i18n.cjs SPEC.json
//   SPEC: {"url", "block_url", "user_dir", "locale", "shot_dashboard", "shot_block",
//          "blocked_name", "must": [texts the dashboard shows], "must_block": [...],
//          "never": [English phrases that must not show], "pages": [dashboard paths]}
// The browser sends Accept-Language from "locale"; *.kg.test resolves to 127.0.0.1 (the block
// page's listener, as the sinkhole would). Prints one JSON line of what it saw; exits 1 on
// the first failed expectation.
"use strict";
const fs = require("fs");
const { chromium } = require("playwright-core");

const spec = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));

function expect(cond, what) {
  if (!cond) {
    console.error("FAILED: " + what);
    process.exitCode = 1;
    throw new Error(what);
  }
}

// What a reader sees or hears: the text, and the placeholder, aria-label and title attributes.
async function visible(page) {
  return page.evaluate(() => {
    const parts = [document.title, document.body.innerText];
    for (const e of document.querySelectorAll("[placeholder], [aria-label], [title]"))
      for (const a of ["placeholder", "aria-label", "title"]) if (e.getAttribute(a)) parts.push(e.getAttribute(a));
    return parts.join("\n");
  });
}

// Each English phrase found, with what surrounds it (to find where it came from).
function leftovers(text) {
  return spec.never.filter((p) => text.includes(p)).map((p) => {
    const i = text.indexOf(p);
    return JSON.stringify(text.slice(Math.max(0, i - 30), i + p.length + 30));
  });
}

(async () => {
  const ctx = await chromium.launchPersistentContext(spec.user_dir, {
    executablePath: process.env.KG_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    locale: spec.locale,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--host-resolver-rules=MAP *.kg.test 127.0.0.1"],
    viewport: { width: 1100, height: 1500 },
  });
  const seen = { pages: {} };
  try {
    const page = ctx.pages()[0] || (await ctx.newPage());
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    for (const path of spec.pages) {
      await page.goto(spec.url.replace(/\/$/, "") + path);
      await page.waitForFunction(() => /^\d/.test(document.getElementById("q-total").textContent));
      await page.waitForSelector("#events td a");
      // the "why" box, for a blocked name: verdict and explanation in the page's language
      await page.fill("#check-input", spec.blocked_name);
      await page.click("#check-btn");
      await page.waitForSelector("#check-explanation");
      await page.waitForTimeout(300);
      const lang = await page.evaluate(() => document.documentElement.lang);
      const text = await visible(page);
      seen.pages[path] = { lang, left: leftovers(text), missing: spec.must.filter((m) => !text.includes(m)) };
      expect(lang === "vi", path + ": <html lang> is vi, not " + lang);
      expect(!seen.pages[path].missing.length, path + ": Vietnamese missing: " + seen.pages[path].missing.join(" | "));
      expect(!seen.pages[path].left.length, path + ": English left: " + seen.pages[path].left.join(" | "));
    }
    await page.screenshot({ path: spec.shot_dashboard, fullPage: true });
    // the block page, reached as a child's browser reaches it after the sinkhole answer
    await page.goto(spec.block_url);
    await page.waitForSelector("h1");
    const btext = await visible(page);
    seen.block = { lang: await page.evaluate(() => document.documentElement.lang), left: leftovers(btext),
      missing: spec.must_block.filter((m) => !btext.includes(m)),
      hotline: await page.getAttribute(".contact a", "href") };
    expect(seen.block.lang === "vi", "block page: <html lang> is vi");
    expect(!seen.block.missing.length, "block page: Vietnamese missing: " + seen.block.missing.join(" | "));
    expect(!seen.block.left.length, "block page: English left: " + seen.block.left.join(" | "));
    expect(seen.block.hotline === "tel:111", "block page: the hotline is a tel:111 link");
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: spec.shot_block, fullPage: true });
    expect(errors.length === 0, "no JavaScript errors: " + errors.join("; "));
  } finally {
    console.log(JSON.stringify(seen));
    await ctx.close();
  }
})().catch((e) => {
  console.error(e.stack || String(e));
  process.exitCode = 1;
});
