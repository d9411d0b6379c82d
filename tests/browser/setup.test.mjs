// A vendor sets the whole shop up from the browser (issue #20): a new shop,
// the checklist before verification, every shop field, products, slots and
// announcements; forms send only what changed and never lose data, and
// nothing is deleted on one tap. Screenshots at 360 and 1280 px land in
// docs/screenshots/ (vendor-setup-*).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { crc32, deflateSync } from "node:zlib";
import { startSeededServer, launchBrowser, watchConsole } from "./server.mjs";
import { real, shoot as shootAt, signIn, openContext } from "./kit.mjs";

const VENDOR = "ravi@uphill.test";

let server;
let browser;
let vendor;
let shopId;

const context = (width) => openContext(browser, server.base, width, { serviceWorkers: "block" });
/** Screenshots here scroll their subject to the top. */
const shoot = (page, name, focus) => shootAt(page, name, focus, "start");

before(async () => {
  server = await startSeededServer();
  browser = await launchBrowser();
  vendor = await context(1280);
  await signIn(vendor.page, VENDOR, server.password);
});

after(async () => {
  await vendor?.ctx.close();
  await browser?.close();
  await server?.stop();
});

/** A GET as the vendor, from Node, with the browser's session cookie; returns [status, body]. */
async function api(path) {
  const cookies = await vendor.ctx.cookies(server.base);
  const res = await fetch(`${server.base}${path}`, { headers: { cookie: cookies.map((c) => `${c.name}=${c.value}`).join("; ") } });
  return [res.status, res.status === 204 ? null : await res.json()];
}

async function get(path) {
  const [status, body] = await api(path);
  assert.equal(status, 200, `${path}: ${status}`);
  return body;
}

const shop = () => get("/api/v1/me/shop");

/** A real PNG (solid colour, `size` px square), built here so the test needs no fixture file. */
function png(size, [r, g, b]) {
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: size }, () => [r, g, b]).flat())]);
  const raw = Buffer.concat(Array.from({ length: size }, () => row));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk("IHDR", ihdr), chunk("IDAT", deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]);
}

const checklist = (page) => page.getByRole("list", { name: "Before verification" });

test("a new vendor creates a shop, completes the checklist and submits it", async () => {
  const { page } = vendor;
  await page.goto("/vendor");
  await page.getByRole("heading", { name: "Open a shop" }).waitFor();
  await page.getByLabel("Shop name").fill("Ravi's Rolls");
  await page.getByLabel("Description").fill("Rolls and chai by the steps.");
  await page.getByLabel("Location in the market").fill("Market row 5");
  await page.getByLabel("Type").selectOption("CANTEEN");
  // Hours are asked for, not assumed.
  assert.equal(await page.getByLabel("Open all day").isChecked(), false);
  await page.getByLabel("Opens at").fill("07:30");
  await page.getByLabel("Closes at").fill("21:45");
  await page.getByRole("button", { name: "Create shop" }).click();
  await page.getByRole("link", { name: "Shop settings" }).click();
  await page.getByRole("heading", { name: "Shop settings" }).waitFor();
  const s = await shop();
  shopId = s.id;
  assert.equal(s.opens_at, 7 * 60 + 30);
  assert.equal(s.closes_at, 21 * 60 + 45);
  assert.equal(s.upi_id ?? null, null);

  // Nothing done yet: three items to fix, each with a link; submit disabled.
  const list = checklist(page);
  await list.getByText("At least one product (missing)").waitFor();
  await list.getByText("An active batch slot (missing)").waitFor();
  await list.getByText("A UPI id for payments (missing)").waitFor();
  const submit = page.getByRole("button", { name: "Submit for verification" });
  assert.equal(await submit.isDisabled(), true);
  await shoot(page, "vendor-setup-settings", page.getByRole("heading", { name: "Shop settings" }));

  // A product, through the checklist's link.
  await list.getByRole("link", { name: "Add a product" }).click();
  await page.getByRole("heading", { name: "Products" }).waitFor();
  await page.getByText("No products yet").waitFor();
  const form = page.getByRole("form", { name: "New product" });
  await form.getByLabel("Name").fill("Paneer Roll");
  await form.getByLabel("Description").fill("Grilled paneer, onions.");
  await form.getByLabel("Price").fill("60");
  await form.getByLabel("Category").selectOption({ label: "Snacks" });
  await form.getByRole("button", { name: "Add product" }).click();
  await page.getByTestId("product-Paneer Roll").waitFor();

  // A slot, through the link on the settings page.
  await page.getByRole("link", { name: "Shop settings" }).click();
  await checklist(page).getByText("At least one product (done)").waitFor();
  await checklist(page).getByRole("link", { name: "Add an active batch slot" }).click();
  await page.getByRole("heading", { name: "Batch slots" }).waitFor();
  const slotForm = page.getByRole("form", { name: "New slot" });
  await slotForm.getByLabel("Label").fill("5 PM Batch");
  await slotForm.getByLabel("Cutoff time").fill("17:00");
  await slotForm.getByRole("button", { name: "Add slot" }).click();
  await page.getByTestId("slot-5 PM Batch").waitFor();

  // The UPI id in the settings form; then the list is complete.
  await page.getByRole("link", { name: "Shop settings" }).click();
  await checklist(page).getByText("An active batch slot (done)").waitFor();
  assert.equal(await page.getByRole("button", { name: "Submit for verification" }).isDisabled(), true);
  await page.getByLabel("UPI id").fill("ravi@okaxis");
  await page.getByRole("button", { name: "Save settings" }).click();
  await checklist(page).getByText("A UPI id for payments (done)").waitFor();
  await page.getByRole("button", { name: "Submit for verification" }).click();
  await page.getByText("Pending", { exact: true }).first().waitFor();
  const after = await shop();
  assert.equal(after.verification, "PENDING");
  assert.equal(after.upi_id, "ravi@okaxis");
  assert.deepEqual(real(vendor.errors), [], "console errors");
});

test("every shop field is edited in the settings and survives a reload", async () => {
  const { page } = vendor;
  await page.goto("/vendor/settings");
  const form = page.getByRole("form", { name: "Shop details" });
  await form.getByLabel("Shop name").waitFor();
  const buildings = (await get("/api/v1/buildings?limit=200")).items;
  const [b1, b2] = [buildings.find((b) => b.name === "Hostel A"), buildings.find((b) => b.name === "Library Block")];

  await form.getByLabel("Shop name").fill("Ravi's Rolls & Chai");
  await form.getByLabel("Description").fill("Rolls, chai and maggi.\nOpen late.");
  await form.getByLabel("Location").fill("Market row 5, shop 2");
  await form.getByLabel("Type").selectOption("GROCERY");
  // Past midnight: 18:00 to 02:00.
  await form.getByLabel("Opens at").fill("18:00");
  await form.getByLabel("Closes at").fill("02:00");
  await form.getByLabel("Shop photo").setInputFiles({ name: "shop.png", mimeType: "image/png", buffer: png(200, [200, 80, 40]) });
  await form.getByRole("status").filter({ hasText: "Photo ready (200 × 200): save to use it." }).waitFor({ timeout: 15000 });
  await form.getByLabel("UPI id").fill("ravi.rolls@okhdfc");
  await form.getByLabel("UPI QR code").setInputFiles({ name: "qr.png", mimeType: "image/png", buffer: png(120, [20, 20, 20]) });
  await form.getByRole("status").filter({ hasText: "Photo ready (120 × 120): save to use it." }).waitFor({ timeout: 15000 });
  await form.getByLabel(b1.name).check();
  await form.getByLabel(b2.name).check();
  await form.getByLabel("Delivery fee", { exact: true }).fill("12");
  await form.getByLabel("Direct-delivery fee").fill("25");
  await form.getByLabel("Minimum order").fill("50");
  await form.getByLabel("Active (students see the shop)").uncheck();
  await form.getByLabel("Taking orders").uncheck();
  await form.getByRole("button", { name: "Save settings" }).click();
  await form.getByRole("status").filter({ hasText: "Saved." }).waitFor();

  const expect = {
    name: "Ravi's Rolls & Chai",
    description: "Rolls, chai and maggi.\nOpen late.",
    location: "Market row 5, shop 2",
    shop_type: "GROCERY",
    opens_at: 18 * 60,
    closes_at: 2 * 60,
    upi_id: "ravi.rolls@okhdfc",
    delivers_to: [b1.id, b2.id].sort(),
    delivery_fee: 1200,
    direct_delivery_fee: 2500,
    min_order_value: 5000,
    active: false,
    accepting_orders: false,
  };
  const s = await shop();
  for (const [k, v] of Object.entries(expect)) assert.deepEqual(k === "delivers_to" ? [...s[k]].sort() : s[k], v, k);
  assert.ok(s.image?.id && s.upi_qr_image?.id && s.image.id !== s.upi_qr_image.id, JSON.stringify(s));

  // A fresh load fills every field from the record.
  await page.reload();
  await form.getByLabel("Shop name").waitFor();
  assert.equal(await form.getByLabel("Shop name").inputValue(), expect.name);
  assert.equal(await form.getByLabel("Description").inputValue(), expect.description);
  assert.equal(await form.getByLabel("Location").inputValue(), expect.location);
  assert.equal(await form.getByLabel("Type").inputValue(), "GROCERY");
  assert.equal(await form.getByLabel("Opens at").inputValue(), "18:00");
  assert.equal(await form.getByLabel("Closes at").inputValue(), "02:00");
  assert.equal(await form.getByLabel("UPI id").inputValue(), expect.upi_id);
  assert.equal(await form.getByLabel(b1.name).isChecked(), true);
  assert.equal(await form.getByLabel(b2.name).isChecked(), true);
  assert.equal(await form.getByLabel("Hostel B").isChecked(), false);
  assert.equal(await form.getByLabel("Delivery fee", { exact: true }).inputValue(), "12");
  assert.equal(await form.getByLabel("Direct-delivery fee").inputValue(), "25");
  assert.equal(await form.getByLabel("Minimum order").inputValue(), "50");
  assert.equal(await form.getByLabel("Active (students see the shop)").isChecked(), false);
  assert.equal(await form.getByLabel("Taking orders").isChecked(), false);
  const photos = form.getByTestId("photo-served");
  assert.deepEqual(await photos.evaluateAll((imgs) => imgs.map((i) => i.getAttribute("src"))), [s.image.thumb, s.upi_qr_image.thumb]);
  // Nothing changed yet: nothing to save.
  assert.equal(await form.getByRole("button", { name: "Save settings" }).isDisabled(), true);

  // Back to active, all day.
  await form.getByLabel("Active (students see the shop)").check();
  await form.getByLabel("Taking orders").check();
  await form.getByLabel("Open all day").check();
  await form.getByRole("button", { name: "Save settings" }).click();
  await form.getByRole("status").filter({ hasText: "Saved." }).waitFor();
  const back = await shop();
  assert.deepEqual([back.active, back.accepting_orders, back.opens_at, back.closes_at], [true, true, 0, 0]);
  assert.equal(back.description, expect.description);
  assert.deepEqual(real(vendor.errors), [], "console errors");
});

test("settings opened by URL save one field and nothing else; a stale form is refused and reloads", async () => {
  const before = await shop();
  // A fresh page load straight onto the settings (the old data loss).
  const page = await vendor.ctx.newPage();
  const errors = watchConsole(page);
  await page.goto("/vendor/settings");
  const form = page.getByRole("form", { name: "Shop details" });
  await form.getByLabel("Location").waitFor();
  assert.equal(await form.getByLabel("Description").inputValue(), before.description);
  const sent = page.waitForRequest((r) => r.method() === "PATCH" && r.url().includes(`/api/v1/shops/${shopId}`));
  await form.getByLabel("Shop name").fill("Ravi's Night Rolls");
  await form.getByRole("button", { name: "Save settings" }).click();
  const req = await sent;
  assert.deepEqual(JSON.parse(req.postData()), { name: "Ravi's Night Rolls" }, "only the changed field is sent");
  assert.equal(req.headers()["if-match"], before.version);
  await form.getByRole("status").filter({ hasText: "Saved." }).waitFor();
  const after = await shop();
  assert.equal(after.name, "Ravi's Night Rolls");
  for (const k of ["description", "location", "delivery_fee", "direct_delivery_fee", "min_order_value", "upi_id", "opens_at", "closes_at", "shop_type", "delivers_to"]) {
    assert.deepEqual(after[k], before[k], `${k} unchanged`);
  }
  assert.deepEqual([after.image?.id, after.upi_qr_image?.id], [before.image?.id, before.upi_qr_image?.id]);

  // Another tab, filled before that save, is refused and says why.
  await vendor.page.goto("/vendor/settings");
  const other = vendor.page.getByRole("form", { name: "Shop details" });
  await other.getByLabel("Location").waitFor();
  await form.getByLabel("Minimum order").fill("40");
  await form.getByRole("button", { name: "Save settings" }).click();
  await form.getByRole("status").filter({ hasText: "Saved." }).waitFor();
  await other.getByLabel("Location").fill("Market row 6");
  await other.getByRole("button", { name: "Save settings" }).click();
  const stale = other.getByRole("alert").filter({ hasText: "changed elsewhere" });
  await stale.waitFor();
  assert.match(await stale.innerText(), /reload/);
  assert.equal((await shop()).location, before.location, "the stale save wrote nothing");
  assert.equal((await shop()).min_order_value, 4000);
  await stale.getByRole("button", { name: "Reload the shop" }).click();
  await stale.waitFor({ state: "detached" });
  assert.equal(await other.getByLabel("Minimum order").inputValue(), "40");
  assert.equal(await other.getByLabel("Location").inputValue(), before.location);
  await page.close();
  assert.deepEqual(real(errors), [], "console errors");
});

test("announcements are posted, listed and deleted only after a confirmation", async () => {
  const { page } = vendor;
  await page.goto("/vendor/settings");
  await page.getByRole("link", { name: "Announcements" }).click();
  await page.getByRole("heading", { name: "Announcements" }).waitFor();
  await page.getByText("No current announcements").waitFor();
  const form = page.getByRole("form", { name: "New announcement" });
  await form.getByLabel("Title").fill("Samosas at 5");
  await form.getByLabel("Message").fill("Fresh samosas with the 5 PM batch.");
  await form.getByLabel("About a product (optional)").selectOption({ label: "Paneer Roll" });
  const expiry = new Date(Date.now() + 3 * 86400e3);
  const local = new Date(expiry.getTime() - expiry.getTimezoneOffset() * 60e3).toISOString().slice(0, 16);
  await form.getByLabel("Expires (optional)").fill(local);
  await form.getByRole("button", { name: "Post announcement" }).click();
  const card = page.getByTestId("announcement-Samosas at 5");
  await card.waitFor();
  await card.getByText("about Paneer Roll").waitFor();
  const posted = (await get(`/api/v1/shops/${shopId}/announcements`)).items;
  assert.equal(posted.length, 1);
  assert.equal(posted[0].message, "Fresh samosas with the 5 PM batch.");
  assert.ok(Math.abs(Date.parse(posted[0].expires_at) - expiry.getTime()) < 60e3, posted[0].expires_at);
  await form.getByLabel("Title").fill("Closed Sunday");
  await form.getByLabel("Message").fill("Back on Monday.");
  await form.getByRole("button", { name: "Post announcement" }).click();
  await page.getByTestId("announcement-Closed Sunday").waitFor();
  await shoot(page, "vendor-setup-announcements", page.getByRole("heading", { name: "Announcements" }));

  // One tap only asks; "Keep" keeps it.
  await card.getByRole("button", { name: "Delete “Samosas at 5”" }).click();
  const confirm = card.getByRole("group", { name: "Confirm: delete “Samosas at 5”" });
  await confirm.waitFor();
  assert.equal((await get(`/api/v1/shops/${shopId}/announcements`)).items.length, 2, "nothing deleted on one tap");
  await confirm.getByRole("button", { name: "Keep" }).click();
  await confirm.waitFor({ state: "detached" });
  await card.getByRole("button", { name: "Delete “Samosas at 5”" }).click();
  await confirm.getByRole("button", { name: "Yes, delete" }).click();
  await card.waitFor({ state: "detached" });
  const left = (await get(`/api/v1/shops/${shopId}/announcements`)).items;
  assert.deepEqual(
    left.map((a) => a.title),
    ["Closed Sunday"],
  );
  assert.deepEqual(real(vendor.errors), [], "console errors");
});

test("a product is edited, toggled out of stock and back, and deleted after a confirmation", async () => {
  const { page } = vendor;
  await page.goto("/vendor/products");
  const row = page.getByTestId("product-Paneer Roll");
  await row.waitFor();
  const product = (await get(`/api/v1/shops/${shopId}/products`)).items.find((p) => p.name === "Paneer Roll");
  const categories = (await get("/api/v1/categories?limit=200")).items;
  const meals = categories.find((c) => c.name === "Meals") ?? categories.find((c) => c.id !== product.category_id);

  await row.getByRole("button", { name: "Edit Paneer Roll" }).click();
  const edit = row.getByRole("form", { name: "Edit Paneer Roll" });
  // Filled from the record.
  assert.equal(await edit.getByLabel("Description").inputValue(), "Grilled paneer, onions.");
  assert.equal(await edit.getByLabel("Vegetarian").isChecked(), false);
  const sent = page.waitForRequest((r) => r.method() === "PATCH" && r.url().includes(`/api/v1/products/${product.id}`));
  await edit.getByLabel("Description").fill("Grilled paneer, onions, mint chutney.");
  await edit.getByLabel("Category").selectOption(meals.id);
  await edit.getByLabel("Vegetarian").check();
  await edit.getByRole("button", { name: "Save" }).click();
  const req = await sent;
  assert.deepEqual(JSON.parse(req.postData()), { description: "Grilled paneer, onions, mint chutney.", category_id: meals.id, veg: true });
  assert.equal(req.headers()["if-match"], product.version);
  await edit.waitFor({ state: "detached" });
  await row.getByText("Grilled paneer, onions, mint chutney.").waitFor();
  let p = await get(`/api/v1/products/${product.id}`);
  assert.deepEqual([p.description, p.category_id, p.veg, p.price, p.stock], ["Grilled paneer, onions, mint chutney.", meals.id, true, 6000, 10]);

  // Out of stock, then back in.
  await row.getByRole("button", { name: "Mark Paneer Roll out of stock" }).click();
  await page.getByTestId("stock-Paneer Roll").filter({ hasText: /^0$/ }).waitFor();
  p = await get(`/api/v1/products/${product.id}`);
  assert.deepEqual([p.stock, p.in_stock], [0, false]);
  await shoot(page, "vendor-setup-products", page.getByRole("heading", { name: "Products" }));
  await row.getByRole("button", { name: "Mark Paneer Roll in stock" }).click();
  await page.getByTestId("stock-Paneer Roll").filter({ hasText: /^10$/ }).waitFor();
  assert.equal((await get(`/api/v1/products/${product.id}`)).stock, 10);

  // Delete: one tap asks, and only the confirmation deletes.
  await row.getByRole("button", { name: "Edit Paneer Roll" }).click();
  await row.getByRole("button", { name: "Delete Paneer Roll" }).click();
  const confirm = row.getByRole("group", { name: "Confirm: delete Paneer Roll" });
  await confirm.waitFor();
  assert.equal((await api(`/api/v1/products/${product.id}`))[0], 200, "nothing deleted on one tap");
  await confirm.getByRole("button", { name: "Yes, delete" }).click();
  await row.waitFor({ state: "detached" });
  assert.equal((await api(`/api/v1/products/${product.id}`))[0], 404);
  await page.getByText("No products yet").waitFor();
  assert.deepEqual(real(vendor.errors), [], "console errors");
});

test("a slot's days are edited; slots list in sort order; a delete asks first", async () => {
  const { page } = vendor;
  await page.goto("/vendor/slots");
  const slot = page.getByTestId("slot-5 PM Batch");
  await slot.waitFor();
  await slot.getByTestId("days").filter({ hasText: "every day" }).waitFor();
  // A second slot, sorted first.
  const add = page.getByRole("form", { name: "New slot" });
  await add.getByLabel("Label").fill("Noon batch");
  await add.getByLabel("Cutoff time").fill("12:00");
  await add.getByLabel("Max orders (optional)").fill("30");
  await add.getByRole("button", { name: "Add slot" }).click();
  await page.getByTestId("slot-Noon batch").waitFor();

  await slot.getByRole("button", { name: "Edit 5 PM Batch" }).click();
  const edit = slot.getByRole("form", { name: "Edit 5 PM Batch" });
  assert.equal(await edit.getByLabel("Cutoff time").inputValue(), "17:00");
  await edit.getByLabel("Mon").check();
  await edit.getByLabel("Wed").check();
  await edit.getByLabel("Sort order").fill("5");
  const sent = page.waitForRequest((r) => r.method() === "PATCH" && r.url().includes("/api/v1/slots/"));
  await edit.getByRole("button", { name: "Save slot" }).click();
  assert.deepEqual(JSON.parse((await sent).postData()), { sort_order: 5, weekdays: [1, 3] });
  await slot.getByTestId("days").filter({ hasText: "Mon, Wed" }).waitFor();
  const slots = (await get(`/api/v1/shops/${shopId}/slots`)).items;
  assert.deepEqual(
    slots.map((s) => [s.label, s.weekdays ?? null, s.sort_order]),
    [
      ["Noon batch", null, 0],
      ["5 PM Batch", [1, 3], 5],
    ],
  );
  const labels = await page.locator("[data-testid^=slot-]").evaluateAll((els) => els.map((e) => e.dataset.testid));
  assert.deepEqual(labels, ["slot-Noon batch", "slot-5 PM Batch"], "listed in sort order");
  await shoot(page, "vendor-setup-slots", page.getByRole("heading", { name: "Batch slots" }));

  const noon = page.getByTestId("slot-Noon batch");
  await noon.getByRole("button", { name: "Delete Noon batch" }).click();
  const confirm = noon.getByRole("group", { name: "Confirm: delete Noon batch" });
  await confirm.waitFor();
  assert.equal((await get(`/api/v1/shops/${shopId}/slots`)).items.length, 2, "nothing deleted on one tap");
  await confirm.getByRole("button", { name: "Yes, delete" }).click();
  await noon.waitFor({ state: "detached" });
  assert.deepEqual(
    (await get(`/api/v1/shops/${shopId}/slots`)).items.map((s) => s.label),
    ["5 PM Batch"],
  );
  assert.deepEqual(real(vendor.errors), [], "console errors");
});

test("the owner closes the shop for good only after confirming; the page then offers to open a new one", async () => {
  const { page } = vendor;
  const shop = await get("/api/v1/me/shop");
  await page.goto("/vendor/settings");
  await page.getByRole("heading", { name: "Close the shop for good" }).waitFor();
  await page.getByRole("button", { name: `Delete ${shop.name}` }).click();
  await page.getByRole("group", { name: `Confirm: delete ${shop.name}` }).getByRole("button", { name: "Keep" }).click();
  assert.equal((await get("/api/v1/me")).shop_id, shop.id, "kept");
  await page.getByRole("button", { name: `Delete ${shop.name}` }).click();
  await page.getByRole("button", { name: "Yes, delete" }).click();
  await page.getByRole("heading", { name: "Open a shop" }).waitFor();
  assert.equal((await get("/api/v1/me")).shop_id, null, "gone");
  assert.equal((await fetch(`${server.base}/api/v1/shops/${shop.id}`)).status, 404, "nobody else sees it");
});
