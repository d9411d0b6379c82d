// The student path: shops, products, cart, checkout, orders with the live
// timeline and the delivery OTP, reviews.
import { useLocation, useRoute } from "preact-iso";
import { useEffect, useRef, useState } from "preact/hooks";
import { allPages, api, call, PAGE_MAX, type S } from "../api/client";
import { adopt, cartOf, carts, onCartChange, setQuantity, clear, type Line } from "../cart";
import { countdown, hoursText, isOpen, label, minutesToClock, money, time, when } from "../format";
import { Chat } from "../chat";
import { subscribe, useLive } from "../live";
import { AddressForm } from "../address";
import { dismiss, flush, mine, onOutboxChange, place } from "../outbox";
import { get, useSession } from "../state";
import { NO_FILTERS, SearchResults, useSearch, type Filters } from "../search";
import { Badge, Button, ErrorBox, Field, Loaded, LoadMore, Page, Select, Skeleton, statusTone, useAction, useLoad, usePaged } from "../ui";

const SHOP_TYPES: [string, string][] = [
  ["", "All types"],
  ["CANTEEN", "Canteen"],
  ["STATIONERY", "Stationery"],
  ["GROCERY", "Grocery"],
  ["OTHER", "Other"],
];

function useCartVersion() {
  const [v, setV] = useState(0);
  useEffect(() => onCartChange(() => setV((x) => x + 1)), []);
  return v;
}

/** Ticks every second while mounted. */
function useNow() {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  return now;
}

/** The earliest upcoming cutoff of a shop's active slots. */
function nextSlot(slots: S["SlotView"][]): S["SlotView"] | undefined {
  return slots
    .filter((s) => s.active && s.next_cutoff_at)
    .sort((a, b) => Date.parse(a.next_cutoff_at!) - Date.parse(b.next_cutoff_at!))[0];
}

export function Shops() {
  const s = useSession();
  const [type, setType] = useState("");
  const [building, setBuilding] = useState("");
  const [favOnly, setFavOnly] = useState(false);
  const buildings = useLoad(() => allPages((cursor) => call(api.GET("/api/v1/buildings", { params: { query: { cursor, limit: PAGE_MAX } } }))), []);
  const favs = useLoad(
    () => (s.me ? allPages((cursor) => call(api.GET("/api/v1/me/favorites", { params: { query: { cursor, limit: PAGE_MAX } } }))) : Promise.resolve([])),
    [s.me?.id],
  );
  const shops = usePaged(
    (cursor) =>
      call(
        api.GET("/api/v1/shops", {
          params: {
            query: {
              shop_type: (type || undefined) as S["ShopTypeView"] | undefined,
              building: building || undefined,
              favorites: favOnly || undefined,
              cursor,
            },
          },
        }),
      ),
    [type, building, favOnly],
  );
  const [q, setQ] = useState(() => new URLSearchParams(location.search).get("q") ?? "");
  const [sf, setSf] = useState<Filters>(NO_FILTERS);
  const categories = useLoad(
    () => (q ? allPages((cursor) => call(api.GET("/api/v1/categories", { params: { query: { cursor, limit: PAGE_MAX } } }))) : Promise.resolve([])),
    [!!q],
  );
  const search = useSearch(q, sf);
  // The query lives in the address, so Back from a result finds it again.
  useEffect(() => {
    const u = new URL(location.href);
    if (q) u.searchParams.set("q", q);
    else u.searchParams.delete("q");
    history.replaceState(history.state, "", u);
  }, [q]);
  const searching = q.trim() !== "";
  const favIds = new Set((favs.data ?? []).map((f) => f.id));
  const toggleFav = async (id: string) => {
    const path = { params: { path: { shop_id: id } } };
    await call(favIds.has(id) ? api.DELETE("/api/v1/me/favorites/{shop_id}", path) : api.PUT("/api/v1/me/favorites/{shop_id}", path)).catch(() => {});
    favs.reload();
    if (favOnly) shops.reload();
  };
  return (
    <Page title="Shops">
      <form role="search" class="search" onSubmit={(e) => e.preventDefault()}>
        <label for="q">Search products and shops</label>
        <input
          id="q"
          name="q"
          type="search"
          value={q}
          maxLength={200}
          autoComplete="off"
          placeholder="e.g. paneer roll"
          aria-describedby="q-hint"
          onInput={(e) => setQ((e.target as HTMLInputElement).value)}
          onKeyDown={(e) => {
            // Down arrow moves from the box into the results.
            if (e.key === "ArrowDown") {
              const first = document.querySelector<HTMLAnchorElement>(".search-results a");
              if (first) {
                e.preventDefault();
                first.focus();
              }
            }
          }}
        />
        <small id="q-hint" class="hint">
          Results appear as you type; typos are forgiven. Down arrow moves to the results.
        </small>
      </form>
      {searching && (
        <div class="filters search-filters" role="group" aria-label="Narrow the search">
          <Select
            label="Shop"
            name="search-shop"
            value={sf.shop_id}
            onChange={(v) => setSf({ ...sf, shop_id: v })}
            options={[["", "Any shop"], ...(shops.data ?? []).map((x): [string, string] => [x.id, x.name])]}
          />
          <Select
            label="Category"
            name="search-category"
            value={sf.category_id}
            onChange={(v) => setSf({ ...sf, category_id: v })}
            options={[["", "Any category"], ...(categories.data ?? []).map((c): [string, string] => [c.id, c.name])]}
          />
          <label class="check">
            <input type="checkbox" checked={sf.veg} onChange={(e) => setSf({ ...sf, veg: (e.target as HTMLInputElement).checked })} /> Veg only
          </label>
          <label class="check">
            <input type="checkbox" checked={sf.in_stock} onChange={(e) => setSf({ ...sf, in_stock: (e.target as HTMLInputElement).checked })} /> In stock only
          </label>
        </div>
      )}
      <SearchResults state={search} />
      {!searching && (
        <>
          <div class="filters" role="group" aria-label="Filter shops">
            <Select label="Type" name="type" value={type} onChange={setType} options={SHOP_TYPES} />
            <Select
              label="Delivers to"
              name="building"
              value={building}
              onChange={setBuilding}
              options={[["", "Any building"], ...(buildings.data ?? []).map((b): [string, string] => [b.id, b.name])]}
            />
            {s.me && (
              <label class="check">
                <input type="checkbox" checked={favOnly} onChange={(e) => setFavOnly((e.target as HTMLInputElement).checked)} /> Favourites only
              </label>
            )}
          </div>
          <Loaded load={shops} lines={6}>
            {(list) =>
              list.length === 0 ? (
                <p class="empty">No shops match.</p>
              ) : (
                <ul class="cards">
                  {list.map((shop) => (
                    <li key={shop.id} class="card shop-card">
                      <a href={`/shops/${shop.id}`} class="card-link">
                        <strong>{shop.name}</strong>
                        <span class="muted">
                          {label(shop.shop_type)} · {shop.location}
                        </span>
                        <span class="muted">
                          {hoursText(shop.opens_at, shop.closes_at)}
                          {!shop.accepting_orders && " · not taking orders now"}
                        </span>
                      </a>
                      {s.me && (
                        <button
                          type="button"
                          class="fav"
                          aria-pressed={favIds.has(shop.id)}
                          aria-label={favIds.has(shop.id) ? `Remove ${shop.name} from favourites` : `Add ${shop.name} to favourites`}
                          onClick={() => toggleFav(shop.id)}
                        >
                          {favIds.has(shop.id) ? "★" : "☆"}
                        </button>
                      )}
                    </li>
                  ))}
                </ul>
              )
            }
          </Loaded>
          <LoadMore list={shops} label="More shops" />
        </>
      )}
    </Page>
  );
}

function Qty({ shop, p }: { shop: S["ShopView"]; p: S["ProductView"] }) {
  useCartVersion();
  const q = cartOf(shop.id)?.lines[p.id]?.quantity ?? 0;
  const line = { product_id: p.id, name: p.name, unit_price: p.unit_price };
  const setQ = (n: number) => setQuantity(shop.id, shop.name, line, Math.min(n, p.stock));
  // "Add" turns into the −/+ stepper and back: keyboard focus follows the
  // control that replaced the one pressed, instead of falling to the page.
  const add = useRef<HTMLButtonElement>(null);
  const more = useRef<HTMLButtonElement>(null);
  const [follow, setFollow] = useState(false);
  useEffect(() => {
    if (!follow) return;
    setFollow(false);
    (q === 0 ? add : more).current?.focus();
  }, [q, follow]);
  if (!p.in_stock) return <WatchButton product={p} />;
  if (q === 0)
    return (
      <button type="button" ref={add} class="btn btn-secondary" onClick={() => (setFollow(true), setQ(1))} aria-label={`Add ${p.name} to cart`}>
        Add
      </button>
    );
  return (
    <div class="qty" role="group" aria-label={`${p.name} quantity`}>
      <button type="button" class="btn btn-secondary" aria-label={`One less ${p.name}`} onClick={() => (q === 1 && setFollow(true), setQ(q - 1))}>
        −
      </button>
      <output aria-live="polite">{q}</output>
      <button type="button" ref={more} class="btn btn-secondary" aria-label={`One more ${p.name}`} disabled={q >= p.stock} onClick={() => setQ(q + 1)}>
        +
      </button>
    </div>
  );
}

function WatchButton({ product }: { product: S["ProductView"] }) {
  const s = useSession();
  const [watching, setWatching] = useState(product.watching ?? false);
  const a = useAction();
  // Lists do not say who watches; the product itself does (one read per
  // sold-out product, for a signed-in student).
  useEffect(() => {
    if (!s.me || product.watching != null) return;
    call(api.GET("/api/v1/products/{id}", { params: { path: { id: product.id } } })).then(
      (p) => setWatching(!!p.watching),
      () => {},
    );
  }, [product.id, s.me?.id]);
  if (!s.me) return <span class="muted">Sold out</span>;
  const toggle = () =>
    a.run(async () => {
      const path = { params: { path: { id: product.id } } };
      await call(watching ? api.DELETE("/api/v1/products/{id}/watch", path) : api.PUT("/api/v1/products/{id}/watch", path));
      setWatching(!watching);
    });
  return (
    <div>
      <Button kind="secondary" busy={a.busy} onClick={toggle}>
        {watching ? "Watching: stop" : "Sold out: notify me"}
      </Button>
      <ErrorBox error={a.error} />
    </div>
  );
}

function Cutoff({ slots }: { slots: S["SlotView"][] }) {
  const now = useNow();
  const slot = nextSlot(slots);
  if (!slot) return <p class="muted">No batch scheduled.</p>;
  const left = Date.parse(slot.next_cutoff_at!) - now;
  return (
    <p class="cutoff" role="timer" aria-live="off">
      <strong>{slot.label}</strong> closes at {time(slot.next_cutoff_at!)}: <span class="countdown">{countdown(left)}</span> left to order
    </p>
  );
}

/** Outside its hours (campus time) a shop takes no orders; say when it opens. */
function ClosedNow({ shop }: { shop: S["ShopView"] }) {
  if (isOpen(shop.opens_at, shop.closes_at)) return null;
  return (
    <p class="banner" role="status">
      Closed now · opens {minutesToClock(shop.opens_at)}
    </p>
  );
}

export function ShopPage() {
  const { params } = useRoute();
  const id = params.id;
  const shop = useLoad(() => call(api.GET("/api/v1/shops/{id}", { params: { path: { id } } })), [id]);
  const products = usePaged((cursor) => call(api.GET("/api/v1/shops/{id}/products", { params: { path: { id }, query: { cursor } } })), [id]);
  const slots = useLoad(
    () => allPages((cursor) => call(api.GET("/api/v1/shops/{id}/slots", { params: { path: { id }, query: { cursor, limit: PAGE_MAX } } }))),
    [id],
  );
  useCartVersion();
  const cart = cartOf(id);
  return (
    <Page title={shop.data?.name ?? "Shop"}>
      <Loaded load={shop} lines={2}>
        {(s) => (
          <div class="shop-head">
            <p>{s.description}</p>
            <p class="muted">
              {label(s.shop_type)} · {s.location} · delivery {money(s.delivery_fee)}
              {s.min_order_value > 0 && ` · minimum order ${money(s.min_order_value)}`}
            </p>
            <ClosedNow shop={s} />
            {slots.data && <Cutoff slots={slots.data} />}
          </div>
        )}
      </Loaded>
      <Loaded load={products} lines={8}>
        {(list) => (
          <ul class="products">
            {list.map((p) => (
              <li key={p.id} class="product">
                <div class="product-main">
                  {p.image && <img class="thumb" src={p.image.thumb} alt="" width="56" height="56" loading="lazy" />}
                  <div>
                    <a href={`/products/${p.id}`}>
                      <strong>{p.name}</strong>
                    </a>{" "}
                    {p.veg && <Badge tone="good">veg</Badge>}
                    <div class="muted">
                      {money(p.unit_price)}
                      {p.discount > 0 && <s class="was"> {money(p.price)}</s>}
                      {p.review_count > 0 && ` · ★ ${((p.rating ?? 0) / 100).toFixed(1)} (${p.review_count})`}
                      {p.in_stock && p.stock < 5 && ` · only ${p.stock} left`}
                    </div>
                  </div>
                </div>
                {shop.data && <Qty shop={shop.data} p={p} />}
              </li>
            ))}
          </ul>
        )}
      </Loaded>
      <LoadMore list={products} label="More products" />
      {cart && (
        <div class="sticky-bar">
          <a class="btn btn-primary" href={`/checkout/${id}`}>
            Checkout · {money(Object.values(cart.lines).reduce((n, l) => n + l.unit_price * l.quantity, 0))}
          </a>
        </div>
      )}
    </Page>
  );
}

export function ProductPage() {
  const { params } = useRoute();
  const id = params.id;
  const product = useLoad(() => call(api.GET("/api/v1/products/{id}", { params: { path: { id } } })), [id]);
  const shop = useLoad(
    () => (product.data ? call(api.GET("/api/v1/shops/{id}", { params: { path: { id: product.data.shop_id } } })) : new Promise<never>(() => {})),
    [product.data?.shop_id],
  );
  const reviews = usePaged((cursor) => call(api.GET("/api/v1/products/{id}/reviews", { params: { path: { id }, query: { cursor } } })), [id]);
  return (
    <Page title={product.data?.name ?? "Product"}>
      <Loaded load={product}>
        {(p) => (
          <div class="card">
            {p.image && <img class="product-photo" src={p.image.medium} alt={p.name} width="400" height="400" />}
            <p>{p.description}</p>
            <p>
              <strong>{money(p.unit_price)}</strong> {p.discount > 0 && <s class="was">{money(p.price)}</s>} {p.veg && <Badge tone="good">veg</Badge>}
            </p>
            <p class="muted">{p.in_stock ? `${p.stock} in stock` : "Sold out"}</p>
            {shop.data && (
              <>
                <Qty shop={shop.data} p={p} />
                <p>
                  From <a href={`/shops/${shop.data.id}`}>{shop.data.name}</a>
                </p>
              </>
            )}
          </div>
        )}
      </Loaded>
      <h2>Reviews</h2>
      <Loaded load={reviews}>
        {(list) =>
          list.length === 0 ? (
            <p class="empty">No reviews yet.</p>
          ) : (
            <ul class="list">
              {list.map((r) => (
                <li key={r.id}>
                  <span aria-label={`${r.rating} of 5`}>{"★".repeat(r.rating)}</span> {r.comment}
                </li>
              ))}
            </ul>
          )
        }
      </Loaded>
      <LoadMore list={reviews} label="More reviews" />
    </Page>
  );
}

const subtotal = (lines: Record<string, Line>) => Object.values(lines).reduce((n, l) => n + l.unit_price * l.quantity, 0);

/**
 * What the server says about a cart line now (stock moves after it was
 * added): "sold out" or "only N left". Read from the server's copy of the
 * cart, once per shop per visit; offline it says nothing.
 */
const serverCarts = new Map<string, Promise<S["CartView"] | null>>();
function Availability({ shopId, productId, quantity }: { shopId: string; productId: string; quantity: number }) {
  const view = useLoad(() => {
    if (!navigator.onLine) return Promise.resolve(null);
    let p = serverCarts.get(shopId);
    if (!p) {
      p = call(api.GET("/api/v1/cart/{shop_id}", { params: { path: { shop_id: shopId } } })).catch(() => null);
      serverCarts.set(shopId, p);
      // A later visit reads it again.
      setTimeout(() => serverCarts.delete(shopId), 10000);
    }
    return p;
  }, [shopId, quantity]);
  const line = view.data?.items.find((x) => x.product_id === productId);
  if (!line || line.available) return null;
  return <span class="warn">{line.stock === 0 ? " · sold out" : ` · only ${line.stock} left`}</span>;
}

export function Cart() {
  useCartVersion();
  const all = Object.entries(carts());
  return (
    <Page title="Cart">
      {all.length === 0 && (
        <p class="empty">
          Your cart is empty. <a href="/">Browse the shops</a>.
        </p>
      )}
      {all.map(([shopId, c]) => (
        <div class="card" key={shopId}>
          <h2>{c.shopName}</h2>
          <ul class="list">
            {Object.values(c.lines).map((l) => (
              <li key={l.product_id} class="row">
                <span>
                  {l.quantity} × {l.name}
                  <Availability shopId={shopId} productId={l.product_id} quantity={l.quantity} />
                </span>
                <span>{money(l.unit_price * l.quantity)}</span>
                <button type="button" class="linkish" onClick={() => setQuantity(shopId, c.shopName, l, 0)} aria-label={`Remove ${l.name}`}>
                  Remove
                </button>
              </li>
            ))}
          </ul>
          <p class="row">
            <span>Subtotal</span> <strong>{money(subtotal(c.lines))}</strong>
          </p>
          <a class="btn btn-primary" href={`/checkout/${shopId}`}>
            Checkout
          </a>
        </div>
      ))}
    </Page>
  );
}

export function Checkout() {
  const { params } = useRoute();
  const { route } = useLocation();
  const s = useSession();
  const shopId = params.shop;
  useCartVersion();
  const cart = cartOf(shopId);
  const shop = useLoad(() => call(api.GET("/api/v1/shops/{id}", { params: { path: { id: shopId } } })), [shopId]);
  const slots = useLoad(
    () => allPages((cursor) => call(api.GET("/api/v1/shops/{id}/slots", { params: { path: { id: shopId }, query: { cursor, limit: PAGE_MAX } } }))),
    [shopId],
  );
  const addresses = useLoad(() => (s.me ? call(api.GET("/api/v1/me/addresses")) : Promise.resolve([])), [s.me?.id]);
  const [addressId, setAddressId] = useState("");
  const [payment, setPayment] = useState<S["PaymentMethodView"]>("CASH");
  const [notes, setNotes] = useState("");
  const [queued, setQueued] = useState(false);
  // "": the next batch that takes orders (the first option shown); else a
  // slot's next batch by `slotId|cutoff`, or "direct".
  const [when, setWhen] = useState("");
  const a = useAction();
  if (!s.me)
    return (
      <Page title="Checkout">
        <p>
          <a href={`/login?next=/checkout/${shopId}`}>Sign in</a> to place your order.
        </p>
      </Page>
    );
  if (queued)
    return (
      <Page title="Order waiting for network">
        <p class="banner" role="status" data-testid="queued">
          Waiting for network: your order is saved on this device and will be sent once, as soon as you are back online.
        </p>
        <a href="/orders">See your orders</a>
      </Page>
    );
  if (!cart)
    return (
      <Page title="Checkout">
        <p class="empty">
          Nothing from this shop in your cart. <a href={`/shops/${shopId}`}>Back to the shop</a>
        </p>
      </Page>
    );
  const list = addresses.data ?? [];
  const chosen = addressId || list.find((x) => x.default)?.id || list[0]?.id || "";
  const sub = subtotal(cart.lines);
  const batches = (slots.data ?? []).filter((x) => x.active && x.next_cutoff_at).sort((x, y) => Date.parse(x.next_cutoff_at!) - Date.parse(y.next_cutoff_at!));
  const directFee = shop.data?.direct_delivery_fee ?? 0;
  const direct = when === "direct" || (when === "" && batches.length === 0 && directFee > 0);
  const picked = batches.find((x) => `${x.id}|${x.next_cutoff_at}` === when);
  const delivery = direct ? directFee : (shop.data?.delivery_fee ?? 0);
  const platform = get().fees?.platform_fee ?? 0;
  const total = sub + delivery + platform;
  // Below the shop's minimum the server refuses: say by how much, up front.
  const short = Math.max(0, (shop.data?.min_order_value ?? 0) - sub);
  const submit = (e: Event) => {
    e.preventDefault();
    a.run(async () => {
      if (!chosen) throw new Error("Add a delivery address first.");
      const body: S["CheckoutRequest"] = {
        shop_id: shopId,
        items: Object.values(cart.lines).map((l) => ({ product_id: l.product_id, quantity: l.quantity })),
        address_id: chosen,
        payment_method: payment,
        notes: notes || undefined,
        ...(direct ? { delivery: "DIRECT" as const } : picked ? { delivery: "BATCH" as const, slot_id: picked.id, cutoff_at: picked.next_cutoff_at } : {}),
        // What this page showed: if prices or fees moved, the server refuses
        // (409, naming the new ones) rather than charge something unseen.
        expected_total: total,
      };
      const r = await place(body, cart.shopName, total);
      clear(shopId);
      if ("order" in r) route(`/orders/${r.order.id}`);
      else setQueued(true);
    });
  };
  return (
    <Page title={`Checkout: ${cart.shopName}`}>
      {shop.data && <ClosedNow shop={shop.data} />}
      {slots.data ? <Cutoff slots={slots.data} /> : <Skeleton lines={1} />}
      <form class="form" onSubmit={submit}>
        <fieldset class="card">
          <legend>Deliver to</legend>
          {addresses.loading && !addresses.data ? (
            <Skeleton lines={2} />
          ) : list.length === 0 ? (
            <AddressForm makeDefault onSaved={(x) => (setAddressId(x.id), addresses.reload())} />
          ) : (
            list.map((x) => (
              <label class="radio" key={x.id}>
                <input type="radio" name="address" value={x.id} checked={x.id === chosen} onChange={() => setAddressId(x.id)} /> {x.label}: room {x.room}
              </label>
            ))
          )}
        </fieldset>
        <fieldset class="card">
          <legend>When</legend>
          {batches.map((x, i) => {
            const key = `${x.id}|${x.next_cutoff_at}`;
            return (
              <label class="radio" key={key}>
                <input type="radio" name="when" value={key} checked={when === key || (when === "" && i === 0)} onChange={() => setWhen(i === 0 ? "" : key)} /> {x.label}, orders close {time(x.next_cutoff_at!)}
                {i === 0 && " (the next batch)"}
              </label>
            );
          })}
          {directFee > 0 && (
            <label class="radio">
              <input type="radio" name="when" value="direct" checked={direct} onChange={() => setWhen("direct")} /> Direct delivery, no waiting for a batch (delivery {money(directFee)})
            </label>
          )}
          {batches.length === 0 && directFee === 0 && <p class="muted">No batch is scheduled: this shop takes no orders now.</p>}
        </fieldset>
        <fieldset class="card">
          <legend>Pay on delivery</legend>
          {(["CASH", "UPI"] as const).map((m) => (
            <label class="radio" key={m}>
              <input type="radio" name="payment" value={m} checked={payment === m} onChange={() => setPayment(m)} /> {m === "CASH" ? "Cash" : "UPI"}
            </label>
          ))}
        </fieldset>
        <Field label="Notes (optional)" name="notes" value={notes} onInput={setNotes} maxLength={500} />
        <table class="bill card" aria-label="Bill">
          <tbody>
            {Object.values(cart.lines).map((l) => (
              <tr key={l.product_id}>
                <td>
                  {l.quantity} × {l.name}
                </td>
                <td>{money(l.unit_price * l.quantity)}</td>
              </tr>
            ))}
            <tr class="sum">
              <th scope="row">Subtotal</th>
              <td data-testid="subtotal">{money(sub)}</td>
            </tr>
            <tr>
              <th scope="row">Delivery fee</th>
              <td>{money(delivery)}</td>
            </tr>
            <tr>
              <th scope="row">Platform fee</th>
              <td>{money(platform)}</td>
            </tr>
            <tr class="total">
              <th scope="row">Total</th>
              <td data-testid="total">{money(total)}</td>
            </tr>
          </tbody>
        </table>
        {payment === "UPI" && shop.data && <UpiDetails shop={shop.data} />}
        {short > 0 && (
          <p class="warn" role="status">
            This shop's minimum order is {money(shop.data?.min_order_value ?? 0)}: add {money(short)} more to order.
          </p>
        )}
        <ErrorBox error={a.error} />
        <Button type="submit" busy={a.busy} disabled={!chosen || short > 0}>
          Place order · {money(total)}
        </Button>
      </form>
    </Page>
  );
}

/** Where a UPI payment goes: the shop's UPI id and QR code, for paying on delivery. */
function UpiDetails({ shop }: { shop: S["ShopView"] }) {
  if (!shop.upi_id && !shop.upi_qr_image) return <p class="muted">{shop.name} has not given a UPI id yet: ask at the door, or pay cash.</p>;
  return (
    <div class="card upi" aria-label={`Pay ${shop.name} by UPI`}>
      <p>
        Pay <strong>{shop.name}</strong> by UPI when your order arrives{shop.upi_id && (
          <>
            {" "}
            to <code data-testid="upi-id">{shop.upi_id}</code>
          </>
        )}
        .
      </p>
      {shop.upi_qr_image && <img src={shop.upi_qr_image.medium} alt={`UPI QR code of ${shop.name}`} width={200} height={200} />}
    </div>
  );
}

function Queued() {
  const [list, setList] = useState(mine());
  useEffect(() => onOutboxChange(() => setList(mine())), []);
  if (list.length === 0) return null;
  return (
    <ul class="cards" aria-label="Orders not yet sent">
      {list.map((p) => (
        <li key={p.key} class="card">
          <strong>{p.shopName}</strong> · {money(p.total)}{" "}
          {p.error ? (
            <>
              <Badge tone="bad">not placed</Badge>
              <ErrorBox error={p.error} />
              <button type="button" class="linkish" onClick={() => dismiss(p.key)}>
                Dismiss
              </button>
            </>
          ) : (
            <Badge tone="warn">waiting for network</Badge>
          )}
          <div class="muted">composed {when(p.createdAt)}</div>
        </li>
      ))}
    </ul>
  );
}

export function Orders() {
  const s = useSession();
  const { url, route } = useLocation();
  const status = (new URLSearchParams(url.split("?")[1] ?? "").get("status") ?? "") as S["OrderStatusView"] | "";
  const orders = usePaged((cursor) => call(api.GET("/api/v1/orders", { params: { query: { cursor, status: status || undefined } } })), [s.me?.id, status]);
  // Names for the shop ids on the orders: the campus has few shops.
  const shops = useLoad(() => allPages((cursor) => call(api.GET("/api/v1/shops", { params: { query: { cursor, limit: PAGE_MAX } } }))), []);
  const shopName = (id: string) => shops.data?.find((x) => x.id === id)?.name ?? "A shop no longer open";
  useEffect(() => subscribe((e) => e.event === "order.updated" && orders.reload()), []);
  useEffect(() => onOutboxChange(() => orders.reload()), []);
  useEffect(() => void flush(), []);
  if (!s.me)
    return (
      <Page title="Orders">
        <a href="/login?next=/orders">Sign in</a> to see your orders.
      </Page>
    );
  return (
    <Page title="Your orders">
      <Queued />
      <Select
        label="Show"
        name="order-status"
        value={status}
        onChange={(v) => route(v ? `/orders?status=${v}` : "/orders")}
        options={[["", "Every order"], ["NEW", "Placed"], ["BATCHED", "Batch locked"], ["OUT_FOR_DELIVERY", "On the way"], ["COMPLETED", "Delivered"], ["CANCELLED", "Cancelled"], ["DELIVERY_FAILED", "Delivery failed"]]}
      />
      <Loaded load={orders} lines={5}>
        {(list) =>
          list.length === 0 ? (
            <p class="empty">{status ? "No orders with this status." : "No orders yet."}</p>
          ) : (
            <ul class="cards">
              {list.map((o) => (
                <li key={o.id} class="card">
                  <a href={`/orders/${o.id}`} class="card-link">
                    <strong>{o.display_id}</strong> <Badge tone={statusTone(o.status)}>{label(o.status)}</Badge>
                    <span>{shopName(o.shop_id)}</span>
                    <span class="muted">
                      {o.items.length} item{o.items.length === 1 ? "" : "s"} · {money(o.total)} · {when(o.created_at)}
                    </span>
                  </a>
                </li>
              ))}
            </ul>
          )
        }
      </Loaded>
      <LoadMore list={orders} label="Older orders" />
    </Page>
  );
}

const FLOW = ["NEW", "BATCHED", "OUT_FOR_DELIVERY", "COMPLETED"] as const;
const MILESTONES = ["PACKING", "CLIMB_STARTED", "MIDWAY", "ARRIVED"] as const;
const FLOW_TEXT: Record<string, string> = {
  NEW: "Placed",
  BATCHED: "Batch locked",
  OUT_FOR_DELIVERY: "On the way",
  COMPLETED: "Delivered",
};

function Timeline({ order, milestone }: { order: S["OrderView"]; milestone?: string | null }) {
  const at = (st: string) => order.transitions.find((t) => t.status === st)?.at;
  const off = !FLOW.includes(order.status as (typeof FLOW)[number]);
  return (
    <ol class="timeline" aria-label="Order status">
      {FLOW.map((st) => {
        const t = at(st);
        const current = order.status === st;
        return (
          <li key={st} class={t ? "done" : ""} aria-current={current ? "step" : undefined}>
            <span>{FLOW_TEXT[st]}</span>
            {t && <span class="muted"> {time(t)}</span>}
            {st === "OUT_FOR_DELIVERY" && current && milestone && (
              <div class="milestones" data-testid="milestone">
                {MILESTONES.map((m) => (
                  <span key={m} class={MILESTONES.indexOf(m) <= MILESTONES.indexOf(milestone as (typeof MILESTONES)[number]) ? "done" : ""}>
                    {label(m)}
                  </span>
                ))}
              </div>
            )}
          </li>
        );
      })}
      {off && (
        <li class="done bad" aria-current="step">
          {label(order.status)}
          {order.cancellation_reason && `: ${order.cancellation_reason}`}
          {order.failure_reason && `: ${order.failure_reason}`}
        </li>
      )}
    </ol>
  );
}

function Reviews({ order }: { order: S["OrderView"] }) {
  // Reviewed before (the order says which), or just now.
  const [done, setDone] = useState<Record<string, boolean>>(() => Object.fromEntries((order.reviewed ?? []).map((id) => [id, true])));
  return (
    <section aria-label="Reviews">
      <h2>Rate what you got</h2>
      {order.items.map((it) => (done[it.product_id] ? <p key={it.product_id}>Thanks for reviewing {it.name}.</p> : <ReviewForm key={it.product_id} order={order} item={it} onDone={() => setDone({ ...done, [it.product_id]: true })} />))}
    </section>
  );
}

function ReviewForm({ order, item, onDone }: { order: S["OrderView"]; item: S["OrderItemView"]; onDone: () => void }) {
  const [rating, setRating] = useState(5);
  const [comment, setComment] = useState("");
  const a = useAction();
  const submit = (e: Event) => {
    e.preventDefault();
    a.run(async () => {
      await call(
        api.POST("/api/v1/orders/{id}/reviews", {
          params: { path: { id: order.id } },
          body: { product_id: item.product_id, rating, comment: comment || undefined },
        }),
      );
      onDone();
    });
  };
  const n = item.product_id.slice(-6);
  return (
    <form class="card form" onSubmit={submit} aria-label={`Review ${item.name}`}>
      <fieldset class="stars">
        <legend>{item.name}</legend>
        {[1, 2, 3, 4, 5].map((r) => (
          <label key={r}>
            <input type="radio" name={`rating-${n}`} value={r} checked={rating === r} onChange={() => setRating(r)} />
            <span aria-hidden="true">★</span>
            <span class="sr">{r} stars</span>
          </label>
        ))}
      </fieldset>
      <Field label={`Comment on ${item.name}`} name={`comment-${n}`} value={comment} onInput={setComment} maxLength={1000} />
      <ErrorBox error={a.error} />
      <Button type="submit" busy={a.busy} kind="secondary">
        Submit review
      </Button>
    </form>
  );
}

function CancelForm({ order, onDone }: { order: S["OrderView"]; onDone: () => void }) {
  const [reason, setReason] = useState("");
  const a = useAction();
  const submit = (e: Event) => {
    e.preventDefault();
    a.run(async () => {
      await call(api.POST("/api/v1/orders/{id}/cancel", { params: { path: { id: order.id } }, body: { reason } }));
      onDone();
    });
  };
  return (
    <form class="card form" onSubmit={submit} aria-label="Cancel this order">
      <Field label="Reason for cancelling" name="cancel-reason" value={reason} onInput={setReason} required maxLength={500} />
      <ErrorBox error={a.error} />
      <Button kind="danger" type="submit" busy={a.busy}>
        Cancel order
      </Button>
    </form>
  );
}

/** Puts the order's items back in the cart (capped at today's stock) and says what could not come back. */
function OrderAgain({ order }: { order: S["OrderView"] }) {
  const [done, setDone] = useState<S["ReorderView"] | null>(null);
  const a = useAction();
  const again = () =>
    a.run(async () => {
      const r = await call(api.POST("/api/v1/orders/{id}/reorder", { params: { path: { id: order.id } } }));
      const shop = await call(api.GET("/api/v1/shops/{id}", { params: { path: { id: order.shop_id } } }));
      adopt(r.cart, shop.name);
      setDone(r);
    });
  return (
    <div class="card">
      {done ? (
        <p role="status">
          {done.cart.items.length > 0 ? "In your cart again." : "Nothing could be added."} {done.skipped.length > 0 && `Sold out or gone: ${order.items.filter((it) => done.skipped.includes(it.product_id)).map((it) => it.name).join(", ")}.`} <a href="/cart">Go to the cart</a>
        </p>
      ) : (
        <Button kind="secondary" busy={a.busy} onClick={again}>
          Order again
        </Button>
      )}
      <ErrorBox error={a.error} />
    </div>
  );
}

export function OrderPage() {
  const { params } = useRoute();
  const id = params.id;
  const order = useLoad(() => call(api.GET("/api/v1/orders/{id}", { params: { path: { id } } })), [id]);
  const shopId = order.data?.shop_id;
  const shop = useLoad(() => (shopId ? call(api.GET("/api/v1/shops/{id}", { params: { path: { id: shopId } } })) : Promise.resolve(null)), [shopId]);
  const [milestone, setMilestone] = useState<string | null>(null);
  useEffect(
    () =>
      subscribe((e) => {
        if (e.event === "batch.updated" && e.data.order_id === id && e.data.milestone) setMilestone(e.data.milestone);
      }),
    [id],
  );
  // Any event of this order (its status, its batch, its chat) and any gap
  // in the stream: the order is read again (events carry no OTP).
  useLive((e) => "order_id" in e.data && e.data.order_id === id, order.reload, [id]);
  // When the cutoff passes the batch locks within a minute: read the order
  // again then, even if the event is lost, so it never reads "Placed" with
  // a Cancel button after its batch closed.
  const cutoff = order.data?.status === "NEW" ? order.data.cutoff_at : null;
  useEffect(() => {
    if (!cutoff) return;
    const wait = Date.parse(cutoff) - Date.now();
    if (wait > 2 ** 31 - 1) return;
    const timers = [5000, 30000, 70000].map((after) => setTimeout(order.reload, Math.max(0, wait) + after));
    return () => timers.forEach(clearTimeout);
  }, [cutoff]);
  return (
    <Page title={order.data ? `Order ${order.data.display_id}` : "Order"}>
      <Loaded load={order} lines={6}>
        {(o) => (
          <>
            {shop.data && (
              <p class="muted">
                From <a href={`/shops/${shop.data.id}`}>{shop.data.name}</a>
              </p>
            )}
            {o.otp && ["BATCHED", "OUT_FOR_DELIVERY"].includes(o.status) && (
              <div class="otp card" role="status" aria-live="polite">
                <p>Your delivery code. Say it only once you have your items.</p>
                <p class="otp-code" data-testid="otp" aria-label={`Delivery code ${o.otp.split("").join(" ")}`}>
                  {o.otp}
                </p>
              </div>
            )}
            <Timeline order={o} milestone={milestone ?? o.milestone ?? null} />
            {o.payment_method === "UPI" && o.payment_status !== "PAID" && shop.data && !["CANCELLED", "COMPLETED"].includes(o.status) && <UpiDetails shop={shop.data} />}
            <div class="card">
              <ul class="list">
                {o.items.map((it) => (
                  <li key={it.product_id} class="row">
                    <span>
                      {it.quantity} × {it.name}
                    </span>
                    <span>{money(it.line_total)}</span>
                  </li>
                ))}
              </ul>
              <table class="bill">
                <tbody>
                  <tr>
                    <th scope="row">Subtotal</th>
                    <td>{money(o.item_total)}</td>
                  </tr>
                  <tr>
                    <th scope="row">Delivery fee</th>
                    <td>{money(o.delivery_fee)}</td>
                  </tr>
                  <tr>
                    <th scope="row">Platform fee</th>
                    <td>{money(o.platform_fee)}</td>
                  </tr>
                  <tr class="total">
                    <th scope="row">Total ({o.payment_method === "UPI" ? "UPI" : "cash"} on delivery)</th>
                    <td>{money(o.total)}</td>
                  </tr>
                </tbody>
              </table>
              <p class="muted">
                To {o.address.building_name}, room {o.address.room}
                {o.cutoff_at && ` · batch cutoff ${when(o.cutoff_at)}`}
              </p>
              <a href={`/api/v1/orders/${o.id}/receipt.pdf`}>Receipt (PDF)</a>
            </div>
            {o.status === "NEW" && <CancelForm order={o} onDone={order.reload} />}
            {o.status !== "NEW" && <OrderAgain order={o} />}
            {o.status === "COMPLETED" && <Reviews order={o} />}
            <Chat orderId={o.id} with="the shop" />
          </>
        )}
      </Loaded>
    </Page>
  );
}
