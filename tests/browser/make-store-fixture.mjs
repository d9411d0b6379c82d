// Writes tests/fixtures/store-v14.redb: a store written by the release
// before records became MessagePack (schema 14, JSON records), used by the
// migration test in tests/api/store.rs. Run once with that release's binary:
//   UPHILL_BIN=/path/to/old/uphill node make-store-fixture.mjs
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { startSeededServer } from "./server.mjs";
import { tokenFor, placeOrder, postJson, getAs } from "./kit.mjs";

const server = await startSeededServer();
const { base } = server;
const asha = await tokenFor(base, "asha@uphill.test", server.password);
const ravi = await tokenFor(base, "ravi@uphill.test", server.password);
const first = (products) => [{ product_id: products[0].id, quantity: 2 }];
const a = await placeOrder(base, asha, "fixture-1", "Squeeze Juice Bar", first);
await placeOrder(base, ravi, "fixture-2", "Squeeze Juice Bar", first);
const auth = { authorization: `Bearer ${asha}` };
const said = await postJson(base, `/api/v1/orders/${a.id}/messages`, { body: "Ring twice, please" }, auth);
if (!said.ok) throw new Error(`message: ${said.status}`);
const shops = (await getAs(base, asha, "/api/v1/shops?limit=200")).items;
const fav = await fetch(`${base}/api/v1/me/favorites/${shops[0].id}`, { method: "PUT", headers: auth });
if (!fav.ok) throw new Error(`favourite: ${fav.status}`);
await server.stop({ keep: true });
const out = new URL("../fixtures/store-v14.redb", import.meta.url);
copyFileSync(join(server.dataDir, "uphill.redb"), out);
console.log(`wrote ${out.pathname}: orders ${a.display_id} and one more; password ${server.password}`);
