// The student's loop around an order, in headless Chromium: the cutoff
// reminder for a waiting cart, the order-email choices, and the
// announcements of favourite shops.
//
// The browser server cannot move the clock (only Rust tests can), so the
// reminder is made due by configuration instead: a lead time of a day puts
// every seeded shop's next batch inside it, and the closer (which runs the
// reminder) ticks every two seconds. The lead time itself, "not at 20 min,
// once at 14 min, never twice", is tested over the moved clock in
// tests/api/reminders.rs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSeededServer, launchBrowser } from "./server.mjs";
import { real, shoot, signIn, openContext, getAs, postJson, putAs, tokenFor, until } from "./kit.mjs";

let server;
let browser;

before(async () => {
  server = await startSeededServer({
    UPHILL_BATCH__CLOSER_CRON: "*/2 * * * * *",
    UPHILL_BATCH__REMINDER_LEAD_MINUTES: "1440",
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const shopNamed = async (token, name) => (await getAs(server.base, token, "/api/v1/shops?limit=200")).items.find((s) => s.name === name);

test("a waiting cart is reminded once and a favourite shop's announcement shows under From your shops", async () => {
  const { base, password } = server;
  const asha = await tokenFor(base, "asha@uphill.test", password);
  const owner = await tokenFor(base, "canteen@uphill.test", password);
  const shop = await shopNamed(asha, "Foot Hill Canteen");
  const [product] = (await getAs(base, asha, `/api/v1/shops/${shop.id}/products?limit=200`)).items;
  await putAs(base, asha, `/api/v1/cart/${shop.id}`, { items: [{ product_id: product.id, quantity: 2 }] });
  await putAs(base, asha, `/api/v1/me/favorites/${shop.id}`);
  await postJson(base, `/api/v1/shops/${shop.id}/announcements`, { title: "Fresh samosas at 5", message: "Straight from the kadhai, while they last." }, { authorization: `Bearer ${owner}` });

  const reminders = async () => (await getAs(base, asha, "/api/v1/notifications?limit=100")).items.filter((n) => n.title === "Your batch closes soon");
  const [reminder] = await until("the cutoff reminder", async () => ((await reminders()).length ? reminders() : null));
  assert.match(reminder.message, /Foot Hill Canteen's .* closes at \d\d:\d\d/);
  assert.equal(reminder.action, `/checkout/${shop.id}`);

  const { ctx, page, errors } = await openContext(browser, base, 360);
  await signIn(page, "asha@uphill.test", password);
  await page.goto("/notifications");
  const note = page.locator("li.note").filter({ hasText: "Your batch closes soon" });
  await note.waitFor();
  await shoot(page, "student-reminder", note);
  const feed = page.getByRole("region", { name: "From your shops" });
  const item = feed.locator("li").filter({ hasText: "Fresh samosas at 5" });
  await item.waitFor();
  assert.match(await item.innerText(), /Foot Hill Canteen/);
  await shoot(page, "student-from-your-shops", feed, "start");

  // Several closer ticks later: still one reminder.
  await new Promise((r) => setTimeout(r, 4500));
  assert.equal((await reminders()).length, 1);
  assert.deepEqual(real(errors), []);
  await ctx.close();
});

test("the order-email choices save and survive a reload", async () => {
  const { ctx, page, errors } = await openContext(browser, server.base, 1280);
  await signIn(page, "meera@uphill.test", server.password);
  await page.goto("/account");
  const locked = page.getByLabel("my batch is locked");
  const delivered = page.getByLabel("my order is delivered");
  assert.equal(await locked.isChecked(), false, "off unless chosen");
  assert.equal(await delivered.isChecked(), false);
  await locked.check();
  await delivered.check();
  await page.getByRole("button", { name: "Save email choices" }).click();
  await page.getByRole("status").filter({ hasText: "Email choices saved." }).waitFor();
  await page.reload();
  await page.getByLabel("my batch is locked").waitFor();
  assert.equal(await page.getByLabel("my batch is locked").isChecked(), true);
  assert.equal(await page.getByLabel("my order is delivered").isChecked(), true);
  await shoot(page, "account-order-emails", page.getByRole("form", { name: "Order emails" }));
  await page.getByLabel("my order is delivered").uncheck();
  await page.getByRole("button", { name: "Save email choices" }).click();
  await page.getByRole("status").filter({ hasText: "Email choices saved." }).waitFor();
  await page.reload();
  await page.getByLabel("my batch is locked").waitFor();
  assert.equal(await page.getByLabel("my order is delivered").isChecked(), false);
  assert.equal(await page.getByLabel("my batch is locked").isChecked(), true);
  assert.deepEqual(real(errors), []);
  await ctx.close();
});
