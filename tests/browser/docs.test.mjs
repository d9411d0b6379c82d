// The first-admin page and the API docs page, in headless Chromium: an admin
// creates their account from the one-time link, makes a personal API token,
// pastes it into /docs and tries a call.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launchBrowser, watchConsole } from "./server.mjs";

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("an admin is created from the setup link, then tries a call in /docs", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = watchConsole(page);

  await page.goto(server.setupLink);
  await page.getByLabel("Email").fill("admin@uni.edu");
  await page.getByLabel("Name").fill("Campus Admin");
  await page.getByLabel(/Password/).fill("correct horse battery");
  await page.getByRole("button", { name: "Create admin" }).click();
  await page.getByText("Admin admin@uni.edu created").waitFor();

  // The session cookie is set; make a token the way a script would use it.
  const token = await page.evaluate(async () => {
    const login = await fetch("/api/v1/auth/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "admin@uni.edu", password: "correct horse battery" }),
    });
    const { csrf_token } = await login.json();
    const res = await fetch("/api/v1/me/tokens", {
      method: "POST",
      headers: { "content-type": "application/json", "x-csrf-token": csrf_token },
      body: JSON.stringify({ name: "docs" }),
    });
    return (await res.json()).secret;
  });
  assert.match(token, /^uph_[0-9a-f]{64}$/);

  // A fresh context: no cookie, only the pasted bearer token.
  const docsContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const docs = await docsContext.newPage();
  const docsErrors = watchConsole(docs);
  await docs.goto(`${server.base}/docs`);
  await docs.locator(".swagger-ui .info .title", { hasText: "Uphill API" }).waitFor();
  await docs.locator("button.authorize").first().click();
  const bearerBox = docs.locator(".auth-container", { hasText: "bearer" }).first();
  await bearerBox.locator("input#auth-bearer-value").fill(token);
  await bearerBox.getByRole("button", { name: "Apply credentials" }).click();
  await docs.getByRole("button", { name: "Close" }).first().click();

  const op = docs.locator(".opblock", {
    has: docs.locator(".opblock-summary-path", { hasText: /^\/api\/v1\/me$/ }),
  }).filter({ has: docs.locator(".opblock-summary-method", { hasText: "GET" }) });
  await op.locator(".opblock-summary").first().click();
  await op.getByRole("button", { name: "Try it out" }).click();
  await op.getByRole("button", { name: "Execute" }).click();
  const status = op.locator(".live-responses-table .response .response-col_status").first();
  await status.waitFor();
  assert.equal((await status.innerText()).trim(), "200");
  const body = await op.locator(".live-responses-table .response-col_description pre").first().innerText();
  assert.match(body, /admin@uni\.edu/);

  await docs.screenshot({ path: process.env.SCREENSHOT_DIR ? `${process.env.SCREENSHOT_DIR}/docs.png` : "/tmp/uphill-docs.png" });
  assert.deepEqual(errors, [], "setup page console errors");
  assert.deepEqual(docsErrors.filter((e) => /Content Security Policy|Refused/.test(e)), [], "docs CSP errors");
  await context.close();
  await docsContext.close();
});

test("an admin signed in on the web app creates a token through /docs try-it and calls an admin operation with it", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, baseURL: server.base });
  const page = await context.newPage();
  await page.goto("/login");
  await page.getByLabel("Email").fill("admin@uni.edu");
  await page.getByLabel("Password", { exact: true }).fill("correct horse battery");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Shops" }).waitFor();

  // The README's path: /docs, with the session of the web app (no token pasted).
  await page.goto("/docs");
  await page.locator(".swagger-ui .info .title", { hasText: "Uphill API" }).waitFor();
  const op = page.locator(".opblock", {
    has: page.locator(".opblock-summary-path", { hasText: /^\/api\/v1\/me\/tokens$/ }),
  }).filter({ has: page.locator(".opblock-summary-method", { hasText: "POST" }) });
  await op.locator(".opblock-summary").first().click();
  await op.getByRole("button", { name: "Try it out" }).click();
  await op.locator("textarea.body-param__text").fill('{"name": "made in /docs"}');
  await op.getByRole("button", { name: "Execute" }).click();
  const status = op.locator(".live-responses-table .response .response-col_status").first();
  await status.waitFor();
  // Without the session's CSRF token this was a 403.
  assert.equal((await status.innerText()).trim(), "201");
  const body = JSON.parse(await op.locator(".live-responses-table .response-col_description pre").first().innerText());
  assert.match(body.secret, /^uph_[0-9a-f]{64}$/);

  // The token works alone, for an admin operation.
  const users = await fetch(`${server.base}/api/v1/admin/users`, { headers: { authorization: `Bearer ${body.secret}` } });
  assert.equal(users.status, 200);
  assert.ok((await users.json()).items.some((u) => u.email === "admin@uni.edu"));
  await context.close();
});
