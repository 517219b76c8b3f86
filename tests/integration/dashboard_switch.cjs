// The language switch, in Debian's headless Chromium (playwright-core), at a phone's size.
// Usage: node dashboard_switch.cjs SPEC.json
//   SPEC: {"url", "block_url", "user_dir", "shot", "vi": {key: text} (the Vietnamese
//          catalogue), "must": [Vietnamese texts the dashboard shows after the switch],
//          "bad_name": a name the API refuses}
// The browser speaks English (locale en-US). The parent picks Tiếng Việt in the header's
// switch: the page turns Vietnamese, an API error is shown in Vietnamese (the page's own words
// for its key, and the daemon's text, which the kg_lang cookie made Vietnamese too), the
// Family page is Vietnamese, and a reload keeps the choice. The block page, in the same
// English browser, offers a link to Vietnamese. Prints one JSON line; exits 1 on a failure.
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

const text = (page) => page.evaluate(() => document.body.innerText);
const htmlLang = (page) => page.evaluate(() => document.documentElement.lang);

(async () => {
  const ctx = await chromium.launchPersistentContext(spec.user_dir, {
    executablePath: process.env.KG_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    locale: "en-US",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--host-resolver-rules=MAP *.kg.test 127.0.0.1"],
    viewport: { width: 390, height: 844 },
    isMobile: true,
    hasTouch: true,
  });
  const seen = {};
  try {
    const page = ctx.pages()[0] || (await ctx.newPage());
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(spec.url);
    await page.waitForFunction(() => document.querySelectorAll("#lang option").length >= 2);
    seen.before = await htmlLang(page);
    expect(seen.before === "en", "an English browser first gets English, not " + seen.before);
    // the switch: on screen and big enough for a finger
    const box = await page.locator("#lang").boundingBox();
    seen.switch_box = box;
    expect(box && box.x >= 0 && box.x + box.width <= 390 && box.height >= 30,
      "the switch is on a phone's screen and a finger's size: " + JSON.stringify(box));
    await page.selectOption("#lang", "vi");
    await page.waitForFunction(() => document.documentElement.lang === "vi");
    await page.waitForFunction(() => /^\d/.test(document.getElementById("q-total").textContent));
    let t = await text(page);
    seen.missing = spec.must.filter((m) => !t.includes(m));
    expect(!seen.missing.length, "Vietnamese missing after the switch: " + seen.missing.join(" | "));
    seen.cookie = (await ctx.cookies()).filter((c) => c.name === "kg_lang").map((c) => c.value);
    expect(seen.cookie[0] === "vi", "the choice is kept as the kg_lang cookie");
    // an API error, shown by the page in Vietnamese
    await page.fill("#check-input", spec.bad_name);
    await page.click("#check-btn");
    await page.waitForFunction((want) => document.getElementById("check-result").textContent === want,
      spec.vi["error.check_name"], { timeout: 10000 });
    // ... and the daemon's own text is Vietnamese for this browser, though it asks for English
    seen.api = await page.evaluate(async (name) => {
      const r = await fetch("/api/check?name=" + encodeURIComponent(name));
      return { status: r.status, lang: r.headers.get("Content-Language"), body: await r.json() };
    }, spec.bad_name);
    expect(seen.api.status === 400 && seen.api.lang === "vi" &&
      seen.api.body.key === "error.check_name" && seen.api.body.error === spec.vi["error.check_name"],
      "the API error is Vietnamese: " + JSON.stringify(seen.api));
    // the Family page
    await page.click("#tab-family");
    await page.waitForFunction(() => !document.getElementById("page-family").hidden);
    t = await text(page);
    expect(t.includes(spec.vi["family.title"]) && t.includes(spec.vi["family.seen_title"]),
      "the Family page is Vietnamese");
    // remembered: a reload (and a new visit) stays Vietnamese
    await page.reload();
    await page.waitForFunction(() => document.querySelectorAll("#lang option").length >= 2);
    seen.after_reload = await htmlLang(page);
    expect(seen.after_reload === "vi", "the choice survives a reload");
    expect(await page.inputValue("#lang") === "vi", "the switch shows the choice");
    await page.screenshot({ path: spec.shot, fullPage: false });
    // the block page in the same English browser: a link to Vietnamese
    await page.goto(spec.block_url);
    await page.waitForSelector("h1");
    seen.block_before = await htmlLang(page);
    await page.click("nav.langs a[hreflang=vi]");
    await page.waitForFunction(() => document.documentElement.lang === "vi");
    t = await text(page);
    expect(t.includes(spec.vi["block.title"]) && t.includes(spec.vi["block.wrong_block"]),
      "the block page in Vietnamese after its link");
    expect(errors.length === 0, "no JavaScript errors: " + errors.join("; "));
  } finally {
    console.log(JSON.stringify(seen));
    await ctx.close();
  }
})().catch((e) => {
  console.error(e.stack || String(e));
  process.exitCode = 1;
});
