// The web console in a real browser: Debian's Chromium, headless, driven by playwright-core.
//
// usage: node console.mjs BASE_URL [SCREENSHOT_DIR]
// env:   MCPTK_CONSOLE_TOKEN  the bearer token to sign in with (never on the command line)
//        MCPTK_CHROMIUM       the browser (default /usr/bin/chromium)
//
// The gateway under test serves `builtin` (in-process) and `files` (a child process) with a
// policy whose rule `no-writes` denies `files__write_file`, and has `--console-calls` on.
// Prints one JSON line with what was seen; exits non-zero (with the reason) on any failure.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [base, shots] = process.argv.slice(2);
const token = process.env.MCPTK_CONSOLE_TOKEN;
if (!base || !token) {
  console.error("usage: MCPTK_CONSOLE_TOKEN=... node console.mjs BASE_URL [SCREENSHOT_DIR]");
  process.exit(2);
}

// A fresh profile each run (Playwright takes it as the persistent context's directory: it
// passes it to Chromium as --user-data-dir itself).
const profile = mkdtempSync(join(tmpdir(), "mcptk-chromium-"));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.MCPTK_CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
  colorScheme: "dark",
  viewport: { width: 1400, height: 900 },
});
const seen = { requests: [] };
const timeout = 15000;

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function signIn(page) {
  await page.goto(`${base}/ui`);
  await page.locator("#login").waitFor({ state: "visible", timeout });
  await page.fill("#token", token);
  await page.press("#token", "Enter");
  await page.locator("#login").waitFor({ state: "hidden", timeout });
  await page.locator('#servers tr[data-server="files"]').waitFor({ timeout });
}

async function call(page, tool, fill) {
  await page.click('[role="tab"]#tab-tools');
  await page.fill("#tool-search", tool);
  await page.locator(`#tools tr[data-tool="${tool}"] button`).click();
  await page.locator("#detail-title", { hasText: tool }).waitFor({ timeout });
  for (const [name, value] of Object.entries(fill)) await page.fill(`#call-form [name="${name}"]`, value);
  await page.click('#call-form button[type="submit"]');
}

let failure = null;
try {
  const page = browser.pages()[0] || await browser.newPage();
  page.on("request", (request) => seen.requests.push(request.url()));
  const consoleErrors = [];
  page.on("console", (message) => { if (message.type() === "error") consoleErrors.push(message.text()); });
  page.on("pageerror", (error) => consoleErrors.push(String(error)));

  await signIn(page);
  const states = await page.$$eval("#servers tbody tr", (rows) =>
    rows.map((r) => [r.dataset.server, r.querySelector(".pill").textContent]));
  seen.servers = Object.fromEntries(states);
  check(seen.servers.builtin === "running" && seen.servers.files === "running", `servers: ${JSON.stringify(states)}`);

  // Keyboard: the tabs follow the arrow keys.
  await page.focus("#tab-servers");
  await page.keyboard.press("ArrowRight");
  check(await page.getAttribute("#tab-tools", "aria-selected") === "true", "ArrowRight did not select the Tools tab");
  check(await page.evaluate(() => document.activeElement.id) === "tab-tools", "focus did not follow the tab");

  // Tools of both servers, with the policy's decision per principal.
  await page.locator('#tools tr[data-tool="builtin__echo"]').waitFor({ timeout });
  await page.locator('#tools tr[data-tool="files__read_text_file"]').waitFor({ timeout });
  seen.tools = await page.$$eval("#tools tbody tr", (rows) => rows.map((r) => r.dataset.tool));
  await page.fill("#tool-search", "read_text");
  const filtered = await page.$$eval("#tools tbody tr", (rows) => rows.map((r) => r.dataset.tool));
  check(filtered.includes("files__read_text_file") && filtered.length < seen.tools.length &&
    !filtered.some((t) => t.startsWith("builtin__")), `search: ${filtered}`);
  await page.fill("#tool-search", "");
  await page.selectOption("#tool-server", "builtin");
  const builtin = await page.$$eval("#tools tbody tr", (rows) => rows.map((r) => r.dataset.tool));
  check(builtin.length === 3 && builtin.every((t) => t.startsWith("builtin__")), `server filter: ${builtin}`);
  await page.selectOption("#tool-server", "");

  // A call through the generated form: the result, then the call in the activity list.
  await call(page, "builtin__echo", { text: "hello from the browser" });
  await page.locator("#call-outcome", { hasText: "ok" }).waitFor({ timeout });
  const echoed = await page.textContent("#call-result pre.text");
  check(echoed === "hello from the browser", `echo answered ${echoed}`);

  // Progress shows while a slow call runs.
  await call(page, "builtin__slow", { steps: "4", delay_ms: "400" });
  await page.locator(".call-form .actions span", { hasText: "step" }).waitFor({ timeout });
  seen.progress = await page.textContent(".call-form .actions span");
  await page.locator("#call-outcome", { hasText: "ok" }).waitFor({ timeout });
  await page.fill("#tool-search", "");
  if (shots) await page.screenshot({ path: join(shots, "console-tools-dark.png") });

  // A denied call: the tool error names the rule.
  await call(page, "files__write_file", { path: "/tmp/nowhere.txt", content: "nope" });
  await page.locator("#call-outcome", { hasText: "tool error" }).waitFor({ timeout });
  const refusal = await page.textContent("#call-result pre.text");
  check(refusal.includes("no-writes"), `the denial does not name its rule: ${refusal}`);
  const access = await page.$$eval("#tool-access-table tbody tr", (rows) =>
    rows.map((r) => [r.dataset.principal, r.querySelector("td.mono").textContent]));
  check(access.length > 0 && access.every(([, rule]) => rule === "no-writes"), `access: ${JSON.stringify(access)}`);

  await page.click("#tab-activity");
  await page.locator('#activity tr[data-tool="echo"][data-decision="allow"]').first().waitFor({ timeout });
  const denied = page.locator('#activity tr[data-tool="write_file"][data-decision="deny"]').first();
  await denied.waitFor({ timeout });
  check((await denied.getAttribute("class")).includes("denied"), "the denial is not highlighted");
  seen.deniedRule = (await denied.locator(".rule").textContent()).trim();
  check(seen.deniedRule === "no-writes", `the denial shows the rule ${seen.deniedRule}`);
  if (shots) await page.screenshot({ path: join(shots, "console-activity-dark.png") });

  // Click through to the audit record, then close it with the keyboard.
  await denied.locator("button").click();
  await page.locator("#record-dialog[open]").waitFor({ timeout });
  const record = JSON.parse(await page.textContent("#record-json"));
  check(record.rule === "no-writes" && record.decision === "deny" && record.hash, `record: ${JSON.stringify(record)}`);
  await page.keyboard.press("Escape");
  await page.locator("#record-dialog[open]").waitFor({ state: "detached", timeout });

  // Charts draw from the calls made.
  await page.click("#tab-charts");
  await page.locator("#chart-rate svg path.rate").waitFor({ timeout });
  await page.locator('#chart-table tr[data-chart-tool="builtin__echo"]').waitFor({ timeout });
  if (shots) await page.screenshot({ path: join(shots, "console-charts-dark.png") });

  // The light theme by the toggle (auto -> dark -> light).
  await page.click("#tab-activity");
  await page.click("#theme");
  await page.click("#theme");
  check(await page.getAttribute("html", "data-theme") === "light", "the toggle did not reach the light theme");
  const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  check(background === "rgb(247, 248, 250)", `light background is ${background}`);
  if (shots) await page.screenshot({ path: join(shots, "console-activity-light.png") });
  await page.click("#tab-servers");
  if (shots) await page.screenshot({ path: join(shots, "console-servers-light.png") });

  // The token never shows in a URL.
  check(!seen.requests.some((url) => url.includes(token)), "the token appeared in a URL");
  check(seen.requests.every((url) => url.startsWith(base)), `requests left the gateway: ${seen.requests.filter((u) => !u.startsWith(base))}`);
  // The first requests, before signing in, are refused: that is how the page learns to ask.
  const errors = consoleErrors.filter((e) => !e.includes("status of 401"));
  check(errors.length === 0, `errors in the page: ${errors.join("; ")}`);
  seen.requests = seen.requests.length;
} catch (error) {
  failure = error;
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
if (failure) {
  console.error(`console test failed: ${failure.stack || failure}`);
  process.exit(1);
}
console.log(JSON.stringify({ ok: true, ...seen }));
