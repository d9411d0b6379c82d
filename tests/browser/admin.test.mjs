// The admin's users screen in headless Chromium: filters, a ban that asks
// for a reason and a confirmation, actions that match the user's state
// afterwards, and the user's detail with their audit trail.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSeededServer, launchBrowser } from "./server.mjs";
import { real, shoot, signIn, openContext, apiAs, tokenFor, getAs, placeOrder } from "./kit.mjs";

let server;
let browser;

before(async () => {
  server = await startSeededServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("an admin bans a user only with a reason and a confirmation; the screen then offers only what still applies", async () => {
  const { ctx, page, errors } = await openContext(browser, server.base, 1280);
  await signIn(page, "admin@uphill.test", server.password);
  await page.goto("/admin/users");
  await page.getByLabel("Search by email or name").fill("meera");
  const card = page.getByTestId("user-meera@uphill.test");
  await card.waitFor();
  for (const name of ["Suspend", "Ban…", "Sign out everywhere", "Make admin"]) await card.getByRole("button", { name }).waitFor();

  await card.getByRole("button", { name: "Ban…" }).click();
  const ban = card.getByRole("group", { name: "Ban Meera Iyer" });
  const go = ban.getByRole("button", { name: "Ban Meera Iyer" });
  assert.ok(await go.isDisabled(), "no reason, no ban");
  await shoot(page, "admin-users-ban", ban);
  await ban.getByRole("button", { name: "Keep the account" }).click();
  const users = await apiAs(server.base, ctx, "/api/v1/admin/users?q=meera");
  assert.equal(users.items[0].status, "ACTIVE", "backing out changed nothing");

  await card.getByRole("button", { name: "Ban…" }).click();
  await ban.getByLabel(/Reason/).fill("Sold fake OTPs");
  await go.click();
  await card.getByText("Banned", { exact: true }).waitFor();
  // A ban is final: only signing out is left.
  assert.deepEqual(await card.getByRole("button").allTextContents(), ["Sign out everywhere"]);

  // The status filter finds them among the banned only.
  await page.getByLabel("Status").selectOption("BANNED");
  await card.waitFor();
  await page.getByLabel("Status").selectOption("ACTIVE");
  await page.getByText("No users match.").waitFor();

  // The detail: their audit trail says who banned them and why.
  await page.getByLabel("Status").selectOption("");
  await card.getByRole("link", { name: "Meera Iyer" }).click();
  await page.getByRole("heading", { name: "Meera Iyer" }).waitFor();
  const trail = page.getByRole("list", { name: "Audit trail" });
  await trail.getByText("user.ban").waitFor();
  await trail.getByText(/reason: Sold fake OTPs/).waitFor();
  await shoot(page, "admin-user-detail");

  // The audit log names who did what to whom; a click filters, the URL keeps it.
  await page.goto("/admin/audit");
  const log = page.getByRole("region", { name: "Audit log entries" });
  const row = log.getByRole("row").filter({ hasText: "user.ban" });
  await row.getByRole("button", { name: "Campus Admin (admin@uphill.test)" }).waitFor();
  await row.getByRole("button", { name: "Meera Iyer (meera@uphill.test)" }).waitFor();
  await row.getByRole("button", { name: "user.ban" }).click();
  await page.waitForURL(/\/admin\/audit\?action=user\.ban$/);
  await page.reload();
  await row.waitFor();
  const actions = await log.locator("tbody tr td:nth-child(3)").allTextContents();
  assert.deepEqual(actions, ["user.ban"]);
  await shoot(page, "admin-audit");
  await page.getByRole("button", { name: "Clear the action filter" }).click();
  await page.waitForURL(/\/admin\/audit$/);
  await log.locator("tbody tr").nth(1).waitFor();
  assert.deepEqual(real(errors), [], "console errors");
  await ctx.close();
});

test("an admin renames a building, deletes one only after confirming, and rebuilds the search index from a button", async () => {
  const { ctx, page, errors } = await openContext(browser, server.base, 360);
  await signIn(page, "admin@uphill.test", server.password);
  await page.goto("/admin/places");
  await page.getByRole("heading", { name: "Buildings", exact: true }).waitFor();
  await page.getByRole("button", { name: "Rename Hostel C" }).click();
  await page.getByLabel("New name for Hostel C").fill("Hostel C (Ganga)");
  await page.getByRole("button", { name: "Rename", exact: true }).click();
  await page.getByText("Hostel C (Ganga)").waitFor();
  const buildings = await apiAs(server.base, ctx, "/api/v1/buildings?limit=200");
  assert.ok(buildings.items.some((b) => b.name === "Hostel C (Ganga)"));

  await page.getByLabel("New building").fill("Annexe");
  await page.getByRole("button", { name: "Add" }).first().click();
  await page.getByRole("button", { name: "Delete Annexe" }).click();
  await page.getByRole("button", { name: "Keep it" }).click();
  assert.ok((await apiAs(server.base, ctx, "/api/v1/buildings?limit=200")).items.some((b) => b.name === "Annexe"), "kept");
  await page.getByRole("button", { name: "Delete Annexe" }).click();
  await page.getByRole("button", { name: "Yes, delete" }).click();
  await page.getByRole("button", { name: "Delete Annexe" }).waitFor({ state: "detached" });

  await page.getByRole("button", { name: "Rebuild the search index" }).click();
  await page.getByRole("button", { name: "Yes, rebuild" }).click();
  await page.getByRole("status").filter({ hasText: /Rebuilt in \d+ ms: \d+ products, 6 shops/ }).waitFor();
  await shoot(page, "admin-places", page.getByRole("heading", { name: "Search index" }));
  assert.deepEqual(real(errors), [], "console errors");
  await ctx.close();
});

test("an admin finds an order among all orders and overrides its status with a reason, after confirming", async () => {
  const base = server.base;
  const asha = await tokenFor(base, "asha@uphill.test", server.password);
  const get = (token, path) => getAs(base, token, path);
  const placed = await placeOrder(base, asha, "admin-override-1", "Squeeze Juice Bar", (products) => [{ product_id: products[0].id, quantity: 1 }]);

  const { ctx, page, errors } = await openContext(browser, base, 1280);
  await signIn(page, "admin@uphill.test", server.password);
  await page.goto("/admin/orders");
  await page.getByLabel("Order, student name or email").fill("asha@uphill");
  await page.getByLabel("Order, student name or email").press("Enter");
  await page.waitForURL(/q=asha%40uphill/);
  const card = page.getByTestId(`admin-order-${placed.display_id}`);
  await card.getByText("Squeeze Juice Bar · Asha Menon (asha@uphill.test)", { exact: false }).waitFor();
  await page.getByLabel("Status").selectOption("CANCELLED");
  await page.getByText("No orders match.").waitFor();
  await page.goBack();
  await card.getByRole("button", { name: "Details" }).click();
  const override = card.getByRole("group", { name: `Override the status of ${placed.display_id}` });
  await override.getByLabel("New status").selectOption("CANCELLED");
  assert.ok(await override.getByRole("button", { name: "Set status" }).isDisabled(), "a reason first");
  await override.getByLabel("Reason").fill("Shop closed for a power cut");
  await override.getByRole("button", { name: "Set status" }).click();
  await shoot(page, "admin-order-override", override);
  await override.getByRole("button", { name: "Yes, set it" }).click();
  await card.getByText("Cancelled", { exact: true }).waitFor();
  const after = await get(asha, `/api/v1/orders/${placed.id}`);
  assert.equal(after.status, "CANCELLED");
  const notes = await get(asha, "/api/v1/notifications");
  assert.ok(JSON.stringify(notes.items).includes(placed.display_id), "the student is told");
  const audit = await apiAs(base, ctx, `/api/v1/admin/audit?target=${placed.id}`);
  assert.ok(audit.items.some((e) => e.details.includes("Shop closed for a power cut")), "audited with the reason");
  assert.deepEqual(real(errors), [], "console errors");
  await ctx.close();
});
