// Drive the dashboard in Debian's headless Chromium with playwright-core (no browser download).
// Usage: node dashboard_check.cjs URL SCREENSHOT.png USERDATADIR BLOCKED_NAME NEW_DENY_NAME TOKEN
//        CHILD_PROFILE CHILD_NAME (a name CHILD_PROFILE blocks and the default profile allows)
// Prints one JSON line of what it saw; exits 1 on the first failed expectation.
"use strict";
const { chromium } = require("playwright-core");

const [url, shot, userDir, blockedName, denyName, token, childProfile, childName] = process.argv.slice(2);

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
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1100, height: 1500 },
  });
  const seen = {};
  try {
    const page = ctx.pages()[0] || (await ctx.newPage());
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(url);
    // numbers: the totals arrive from /api/stats
    await page.waitForFunction(() => /^\d/.test(document.getElementById("q-total").textContent));
    seen.queries = await page.textContent("#q-total");
    seen.blocked = await page.textContent("#b-total");
    expect(Number(seen.queries) > 0, "queries shown");
    expect(Number(seen.blocked) > 0, "blocks shown");
    seen.health = await page.textContent("#health");
    expect(/Protecting/.test(seen.health), "health badge says Protecting");
    // charts: drawn from the history, the hour chart holds the traffic
    await page.waitForFunction(() => Number(document.getElementById("chart-hour").dataset.queries) > 0);
    seen.chart_hour = await page.getAttribute("#chart-hour", "data-queries");
    seen.chart_blocked = await page.getAttribute("#chart-hour", "data-blocked");
    seen.chart_day = await page.getAttribute("#chart-day", "data-queries");
    expect(Number(seen.chart_blocked) > 0, "blocks in the hour chart");
    const painted = await page.evaluate(() => {
      const c = document.getElementById("chart-hour");
      const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
      return n;
    });
    expect(painted > 100, "the chart canvas has pixels");
    // blocks by category and the recent list
    seen.categories = await page.textContent("#cat-list");
    expect(/adult/i.test(seen.categories), "category adult listed");
    await page.waitForSelector("#events td a");
    seen.events = await page.textContent("#events tbody");
    expect(seen.events.includes(blockedName), "recent block listed");
    // check a domain: click the blocked name, read the explanation
    await page.fill("#check-input", blockedName);
    await page.click("#check-btn");
    await page.waitForSelector("#check-explanation");
    seen.verdict = await page.textContent("#check-verdict");
    seen.explanation = await page.textContent("#check-explanation");
    expect(/Blocked/.test(seen.verdict), "verdict says Blocked");
    expect(/adult/i.test(seen.explanation), "explanation names the category");
    expect(seen.verdict.includes("for default"), "verdict names the default profile");
    // "for whom?": the default profile lets the child's name through, the child's does not
    seen.profiles = await page.$$eval("#check-profile option", (os) => os.map((o) => o.value));
    expect(seen.profiles.includes(childProfile), "the child's profile is a choice");
    const verdictFor = async (who) => {
      await page.selectOption("#check-profile", who);
      await page.fill("#check-input", childName);
      await page.click("#check-btn");
      await page.waitForFunction((want) => {
        const v = document.getElementById("check-verdict");
        return v && v.textContent.endsWith(want);
      }, childName + " for " + who);
      return page.textContent("#check-verdict");
    };
    seen.verdict_default = await verdictFor("default");
    expect(/^Not blocked/.test(seen.verdict_default), "the default profile: Not blocked");
    seen.verdict_child = await verdictFor(childProfile);
    expect(/^Blocked/.test(seen.verdict_child), "the child's profile: Blocked");
    // recently blocked says for whom
    seen.event_profiles = await page.$$eval("#events tbody td.profile", (tds) => tds.map((t) => t.textContent));
    expect(seen.event_profiles.includes(childProfile), "the child's block shows its profile");
    expect(seen.event_profiles.includes("default"), "the default's blocks show theirs");
    // add a local deny rule: refused without the token, the dashboard asks for it once,
    // then the same change goes through and is listed
    await page.fill("#ov-name", denyName);
    await page.selectOption("#ov-action", "deny");
    await page.click("#ov-add");
    await page.waitForSelector("#token-panel", { state: "visible" });
    seen.token_prompt = await page.textContent("#token-msg");
    expect(!(await page.$(`#ov-list li[data-name="${denyName}"]`)), "no rule before the token");
    await page.fill("#token-input", "not-the-token");
    await page.click("#token-ok");
    await page.waitForFunction(() => /not accept/.test(document.getElementById("token-msg").textContent));
    await page.waitForSelector("#token-panel", { state: "visible" });
    await page.fill("#token-input", token);
    await page.click("#token-ok");
    await page.waitForSelector(`#ov-list li[data-name="${denyName}"]`);
    await page.waitForSelector("#token-panel", { state: "hidden" });
    // kept by the browser: after a reload a change needs no prompt
    await page.reload();
    await page.waitForFunction(() => /^\d/.test(document.getElementById("q-total").textContent));
    await page.fill("#ov-name", "second." + denyName);
    await page.click("#ov-add");
    await page.waitForSelector(`#ov-list li[data-name="second.${denyName}"]`);
    expect(await page.isHidden("#token-panel"), "no second token prompt");
    seen.rules = await page.textContent("#ov-list");
    seen.feed = await page.textContent("#feed-version");
    // a phone-sized view stays readable (no horizontal scrolling)
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(300);
    seen.phone_overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(seen.phone_overflow <= 0, "no horizontal scroll on a phone");
    await page.setViewportSize({ width: 1100, height: 1500 });
    await page.waitForTimeout(2200); // one refresh with the new rule counted
    await page.screenshot({ path: shot, fullPage: true });
    expect(errors.length === 0, "no JavaScript errors: " + errors.join("; "));
  } finally {
    console.log(JSON.stringify(seen));
    await ctx.close();
  }
})().catch((e) => {
  console.error(e.stack || String(e));
  process.exitCode = 1;
});
