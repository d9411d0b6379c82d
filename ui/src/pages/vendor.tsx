// Vendor and runner screens (loaded on demand): today's batches, a batch's
// orders and its trip (lock, dispatch, milestones, deliver by OTP, fail,
// reschedule, pick list), products and stock, slots, shop settings.
import { useRoute } from "preact-iso";
import { useEffect, useRef, useState } from "preact/hooks";
import { allPages, api, call, PAGE_MAX, type S } from "../api/client";
import { countdown, label, minutesToClock, money, time, when } from "../format";
import { Chat } from "../chat";
import { itemsLine, OrderActions, OrderLink, useLiveReload, VendorNav } from "./vendor-orders";
import { subscribe } from "../live";
import { loadSession, refreshShop, useSession } from "../state";
import { Badge, Button, ErrorBox, Field, Loaded, LoadMore, Page, Select, Skeleton, statusTone, useAction, useLoad, usePaged } from "../ui";

const ACTIVE: S["BatchStatusView"][] = ["OPEN", "LOCKED", "IN_TRANSIT"];
const MILESTONES: S["MilestoneView"][] = ["PACKING", "CLIMB_STARTED", "MIDWAY", "ARRIVED"];

// The shop's menu lives with the orders desk; the shop's other screens
// import it from here.
export { VendorNav };

function isToday(iso: string) {
  const d = new Date(iso);
  const n = new Date();
  return d.toDateString() === n.toDateString();
}

function BatchCard({ b, href }: { b: S["BatchView"]; href: string }) {
  const detail = useLoad(() => call(api.GET("/api/v1/batches/{id}", { params: { path: { id: b.id } } })), [b.id, b.status, b.order_count]);
  return (
    <li class="card">
      <a href={href} class="card-link">
        <strong>{b.label}</strong> <Badge tone={statusTone(b.status)}>{label(b.status)}</Badge>
        <span class="muted">
          cutoff {time(b.cutoff_at)}
          {b.status === "OPEN" && ` (${countdown(Date.parse(b.cutoff_at) - Date.now())})`} · {b.order_count} order{b.order_count === 1 ? "" : "s"}
          {detail.data && ` · ${money(detail.data.total)}`}
          {b.milestone && ` · ${label(b.milestone)}`}
        </span>
      </a>
    </li>
  );
}

function CreateShop() {
  const [f, setF] = useState({ name: "", description: "", location: "", shop_type: "CANTEEN", delivery_fee: "0", min_order_value: "0" });
  const a = useAction();
  const on = (k: keyof typeof f) => (v: string) => setF({ ...f, [k]: v });
  const submit = (e: Event) => {
    e.preventDefault();
    a.run(async () => {
      await call(
        api.POST("/api/v1/shops", {
          body: {
            name: f.name,
            description: f.description,
            location: f.location,
            shop_type: f.shop_type as S["ShopTypeView"],
            opens_at: 480,
            closes_at: 1320,
            min_order_value: Math.round(Number(f.min_order_value) * 100),
            delivery_fee: Math.round(Number(f.delivery_fee) * 100),
            direct_delivery_fee: 0,
            delivers_to: [],
            active: true,
            accepting_orders: true,
          },
        }),
      );
      await refreshShop();
    });
  };
  return (
    <Page title="Open a shop">
      <form class="card form" onSubmit={submit}>
        <Field label="Shop name" name="name" value={f.name} onInput={on("name")} required />
        <Field label="Description" name="description" value={f.description} onInput={on("description")} />
        <Field label="Location in the market" name="location" value={f.location} onInput={on("location")} required />
        <Select label="Type" name="shop_type" value={f.shop_type} onChange={on("shop_type")} options={[["CANTEEN", "Canteen"], ["STATIONERY", "Stationery"], ["GROCERY", "Grocery"], ["OTHER", "Other"]]} />
        <Field label="Delivery fee" name="delivery_fee" type="number" inputMode="decimal" value={f.delivery_fee} onInput={on("delivery_fee")} min={0} />
        <Field label="Minimum order" name="min_order_value" type="number" inputMode="decimal" value={f.min_order_value} onInput={on("min_order_value")} min={0} />
        <ErrorBox error={a.error} />
        <Button type="submit" busy={a.busy}>
          Create shop
        </Button>
        <p class="muted">Students see the shop once an admin verifies it; submit it for verification in the shop settings.</p>
      </form>
    </Page>
  );
}

const SOUND_KEY = "uphill.vendor.sound";
let audio: AudioContext | null = null;

/** A short two-note chime made on the spot: no sound file to download. */
function chime() {
  try {
    audio ??= new AudioContext();
    const now = audio.currentTime;
    for (const [i, freq] of [880, 1320].entries()) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, now + i * 0.15);
      gain.gain.exponentialRampToValueAtTime(0.2, now + i * 0.15 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.15 + 0.14);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + i * 0.15);
      osc.stop(now + i * 0.15 + 0.15);
    }
  } catch {
    // No audio here (a locked-down browser): the list still updates.
  }
}

export function VendorHome() {
  const s = useSession();
  const shop = s.shop;
  const [sound, setSound] = useState(() => localStorage.getItem(SOUND_KEY) === "1");
  const soundOn = useRef(sound);
  soundOn.current = sound;
  const batches = usePaged(
    (cursor) => (shop ? call(api.GET("/api/v1/shops/{id}/batches", { params: { path: { id: shop.id }, query: { cursor } } })) : Promise.resolve({ items: [] })),
    [shop?.id],
  );
  const orders = (query: { status?: "NEW"; limit: number }) =>
    shop ? call(api.GET("/api/v1/shops/{id}/orders", { params: { path: { id: shop.id }, query } })).then((p) => p.items) : Promise.resolve([] as S["OrderView"][]);
  // NEW orders without a batch are direct ones waiting for the shop.
  const waiting = useLoad(() => orders({ status: "NEW", limit: PAGE_MAX }).then((l) => l.filter((o) => !o.batch_id)), [shop?.id]);
  const latest = useLoad(() => orders({ limit: 6 }), [shop?.id]);
  const alerts = useLoad(() => call(api.GET("/api/v1/notifications", { params: { query: { unread: true, limit: 6 } } })), [s.me?.id]);
  useLiveReload(
    () => {
      batches.reload();
      waiting.reload();
      latest.reload();
      alerts.reload();
    },
    (e) => e.event === "shop.order" || e.event === "chat.message" || e.event === "notification",
    [shop?.id],
  );
  useEffect(
    () =>
      subscribe((e) => {
        if (e.event === "shop.order" && e.data.status === "NEW" && soundOn.current) chime();
      }),
    [],
  );
  const toggleSound = (on: boolean) => {
    setSound(on);
    if (on) {
      localStorage.setItem(SOUND_KEY, "1");
      // Started from the click: browsers only let a page play after one.
      chime();
    } else localStorage.removeItem(SOUND_KEY);
  };
  if (!s.me) return <Page title="My shop">Sign in first.</Page>;
  if (!shop) return <CreateShop />;
  // `/me/shop` is the shop the caller owns: this page is its owner's.
  const owner = true;
  return (
    <Page title={shop.name} actions={<Badge tone={statusTone(shop.verification)}>{label(shop.verification)}</Badge>}>
      <div class="desk">
        <VendorNav />
        <label class="check sound">
          <input type="checkbox" checked={sound} onChange={(e) => toggleSound((e.target as HTMLInputElement).checked)} /> Sound on a new order
        </label>
        <div class="dashboard">
          <section class="panel" aria-labelledby="d-batches">
            <h2 id="d-batches">Today's batches</h2>
            <Loaded load={batches} lines={4}>
              {(list) => {
                const today = list.filter((b) => ACTIVE.includes(b.status) || isToday(b.cutoff_at));
                return today.length === 0 ? (
                  <p class="empty">No batches today yet: the first order for a slot opens one.</p>
                ) : (
                  <ul class="cards">
                    {today.map((b) => (
                      <BatchCard key={b.id} b={b} href={`/vendor/batches/${b.id}`} />
                    ))}
                  </ul>
                );
              }}
            </Loaded>
          </section>
          <section class="panel" aria-labelledby="d-waiting">
            <h2 id="d-waiting">Waiting to be accepted</h2>
            <Loaded load={waiting} lines={2}>
              {(list) =>
                list.length === 0 ? (
                  <p class="empty">No direct orders waiting.</p>
                ) : (
                  <ul class="cards">
                    {list.map((o) => (
                      <li key={o.id} class="card" data-testid={`waiting-${o.display_id}`}>
                        <a href={`/vendor/orders/${o.id}`}>
                          <strong>{o.display_id}</strong>
                        </a>{" "}
                        · {o.student?.name} · {money(o.total)}
                        <p class="muted">
                          {itemsLine(o)} · {o.address.building_name}, room {o.address.room}
                        </p>
                        <OrderActions o={o} owner={owner} mine={owner} onChange={waiting.reload} />
                      </li>
                    ))}
                  </ul>
                )
              }
            </Loaded>
            <h2 id="d-latest">Latest orders</h2>
            <Loaded load={latest} lines={3}>
              {(list) =>
                list.length === 0 ? (
                  <p class="empty">No orders yet.</p>
                ) : (
                  <ul class="cards" aria-labelledby="d-latest">
                    {list.map((o) => (
                      <OrderLink key={o.id} o={o} />
                    ))}
                  </ul>
                )
              }
            </Loaded>
            <p>
              <a href="/vendor/orders">All orders →</a>
            </p>
          </section>
          <section class="panel" aria-labelledby="d-alerts">
            <h2 id="d-alerts">Alerts</h2>
            <Loaded load={alerts} lines={3}>
              {(page) =>
                page.items.length === 0 ? (
                  <p class="empty">Nothing new.</p>
                ) : (
                  <ul class="cards">
                    {page.items.map((n) => (
                      <li key={n.id} class="card note unread">
                        {n.action ? <a href={n.action}>{n.title}</a> : <strong>{n.title}</strong>}
                        <p class="muted">
                          {n.message} · <time dateTime={n.created_at}>{time(n.created_at)}</time>
                        </p>
                      </li>
                    ))}
                  </ul>
                )
              }
            </Loaded>
            <p>
              <a href="/vendor/inbox">Inbox →</a> · <a href="/notifications">All alerts →</a>
            </p>
          </section>
        </div>
      </div>
    </Page>
  );
}

function OrderRow({ o, owner, mine, onChange }: { o: S["OrderView"]; owner: boolean; mine: boolean; onChange: () => void }) {
  // The thread loads only once opened: a batch can hold many orders.
  const [chat, setChat] = useState(false);
  const n = o.display_id;
  return (
    <li class="card" data-testid={`order-${n}`}>
      <div class="row">
        <a href={`/vendor/orders/${o.id}`}>
          <strong>{n}</strong>
        </a>{" "}
        <Badge tone={statusTone(o.status)}>{label(o.status)}</Badge>
      </div>
      <p class="muted">
        {o.student?.name && `${o.student.name} · `}
        {o.address.building_name}, room {o.address.room} · {money(o.total)} {o.payment_method === "UPI" ? "UPI" : "cash"}
        {o.notes && ` · “${o.notes}”`}
      </p>
      <ul class="list compact">
        {o.items.map((it) => (
          <li key={it.product_id}>
            {it.quantity} × {it.name}
          </li>
        ))}
      </ul>
      <OrderActions o={o} owner={owner} mine={mine} onChange={onChange} />
      <details onToggle={(e) => setChat((e.target as HTMLDetailsElement).open)}>
        <summary>Chat about {n}</summary>
        {chat && <Chat orderId={o.id} with={`the student (${n})`} />}
      </details>
    </li>
  );
}

export function BatchPage() {
  const { params, path } = useRoute();
  const id = params.id;
  const s = useSession();
  const detail = useLoad(() => call(api.GET("/api/v1/batches/{id}", { params: { path: { id } } })), [id]);
  const [milestone, setMilestone] = useState<S["MilestoneView"]>("PACKING");
  const a = useAction();
  useEffect(() => subscribe((e) => e.event === "notification" && detail.reload()), [id]);
  const owner = !!s.shop && detail.data?.shop_id === s.shop.id;
  // A runner works only a batch nobody else claimed (dispatching claims it).
  const runner = detail.data?.runner_id;
  const mine = owner || (!!runner && runner === s.me?.id);
  const free = owner || !runner || runner === s.me?.id;
  const act = (fn: () => Promise<unknown>) =>
    a.run(async () => {
      await fn();
      detail.reload();
    });
  const p = { params: { path: { id } } };
  return (
    <Page title={detail.data ? `${detail.data.label}, ${when(detail.data.cutoff_at)}` : "Batch"}>
      {path.startsWith("/vendor") ? <VendorNav /> : <a href="/runs">← Runs</a>}
      <Loaded load={detail} lines={6}>
        {(d) => (
          <>
            <div class="card">
              <p>
                <Badge tone={statusTone(d.status)}>{label(d.status)}</Badge> {d.milestone && <Badge>{label(d.milestone)}</Badge>} · {d.orders.length} orders · <strong>{money(d.total)}</strong>
              </p>
              <div class="actions">
                {d.status === "OPEN" && owner && (
                  <Button busy={a.busy} onClick={() => act(() => call(api.POST("/api/v1/batches/{id}/lock", p)))}>
                    Lock now
                  </Button>
                )}
                {d.status === "LOCKED" && !owner && !d.runner_id && (
                  <Button busy={a.busy} onClick={() => act(() => call(api.POST("/api/v1/batches/{id}/claim", p)))}>
                    Claim this batch
                  </Button>
                )}
                {d.status === "LOCKED" && free && (
                  <Button busy={a.busy} onClick={() => act(() => call(api.POST("/api/v1/batches/{id}/dispatch", p)))}>
                    Dispatch (start the climb)
                  </Button>
                )}
                {d.status !== "OPEN" && (
                  <a class="btn btn-secondary" href={`/api/v1/batches/${id}/picklist.pdf`}>
                    Pick list (PDF)
                  </a>
                )}
              </div>
              {!free && <p class="muted">Another runner claimed this batch.</p>}
              {d.status === "IN_TRANSIT" && mine && (
                <div class="inline-form">
                  <Select label="Milestone" name="milestone" value={milestone} onChange={(v) => setMilestone(v as S["MilestoneView"])} options={MILESTONES.map((m): [string, string] => [m, label(m)])} />
                  <Button busy={a.busy} onClick={() => act(() => call(api.POST("/api/v1/batches/{id}/milestone", { ...p, body: { milestone } })))}>
                    Set milestone
                  </Button>
                </div>
              )}
              <ErrorBox error={a.error} />
            </div>
            <ul class="cards">
              {d.orders.map((o) => (
                <OrderRow key={o.id} o={o} owner={owner} mine={mine} onChange={detail.reload} />
              ))}
            </ul>
          </>
        )}
      </Loaded>
    </Page>
  );
}

/** One image through `POST /uploads` (multipart, the single part `file`). */
function uploadImage(file: File) {
  return call(
    api.POST("/api/v1/uploads", {
      // The generated type names the part a string (OpenAPI's "binary"); the browser sends the File.
      body: { file: file as unknown as string },
      bodySerializer: () => {
        const form = new FormData();
        form.append("file", file);
        return form;
      },
    }),
  );
}

const IMAGE_TYPES = "image/jpeg,image/png,image/webp";

/**
 * A photo field: the chosen file shows at once (a local object URL), is
 * uploaded, and then the server's own thumbnail replaces the preview, so
 * what the vendor sees is what students will get. A refusal shows the
 * problem's detail and drops the preview.
 */
function PhotoPicker({ id, label, current, onUploaded, onRemove }: { id: string; label: string; current?: string | null; onUploaded: (u: S["UploadView"]) => Promise<unknown> | void; onRemove?: () => Promise<unknown> }) {
  const [preview, setPreview] = useState<string | null>(null);
  const [served, setServed] = useState<string | null>(null);
  const [done, setDone] = useState("");
  const a = useAction();
  // Object URLs hold the file in memory until revoked.
  useEffect(() => () => void (preview && URL.revokeObjectURL(preview)), [preview]);
  const pick = (e: Event) => {
    const input = e.target as HTMLInputElement;
    const file = input.files?.[0];
    if (!file) return;
    setPreview(URL.createObjectURL(file));
    setServed(null);
    setDone("");
    a.run(async () => {
      const u = await uploadImage(file);
      await onUploaded(u);
      setServed(u.thumb);
      setDone(`Photo saved (${u.width} × ${u.height}).`);
    }).then(() => {
      setPreview(null);
      // The same file may be picked again after a refusal.
      input.value = "";
    });
  };
  const remove = () =>
    a.run(async () => {
      await onRemove?.();
      setServed(null);
      setDone("Photo removed.");
    });
  const shown = preview ?? served ?? current ?? null;
  return (
    <div class="photo">
      <div class="photo-frame">
        {shown ? (
          <img src={shown} alt={preview ? "Preview of the chosen photo" : `Current photo (${label})`} data-testid={preview ? "photo-preview" : "photo-served"} width="96" height="96" />
        ) : (
          <span class="muted">No photo</span>
        )}
      </div>
      <div class="field">
        <label for={id}>{label}</label>
        <input id={id} type="file" accept={IMAGE_TYPES} onChange={pick} disabled={a.busy} aria-describedby={`${id}-hint`} />
        <small id={`${id}-hint`} class="hint">
          JPEG, PNG or WebP. Stored without its metadata; students see a small WebP copy.
        </small>
        <p role="status" class="muted">
          {a.busy ? "Uploading…" : done}
        </p>
        <ErrorBox error={a.error} />
        {onRemove && (served ?? current) && !a.busy && (
          <button type="button" class="linkish" onClick={remove}>
            Remove photo
          </button>
        )}
      </div>
    </div>
  );
}

/** The form's fields, filled from the product it edits. */
function productFields(p: S["ProductView"]) {
  return { name: p.name, price: String(p.price / 100), discount: String(p.discount / 100), stock: String(p.stock) };
}

function ProductRow({ p, onChange }: { p: S["ProductView"]; onChange: () => void }) {
  const [edit, setEdit] = useState(false);
  // The record the open form was filled from: only what differs from it is
  // sent, with its version, so a restock meanwhile is never written back.
  const [base, setBase] = useState(p);
  const [f, setF] = useState(() => productFields(p));
  const a = useAction();
  // `from`: the record an edit was made from; a restock is an increment and
  // holds whatever the stock is by then, so it names none.
  const patch = (from: S["ProductView"] | null, body: S["UpdateProductRequest"]) =>
    a.run(async () => {
      const header = from ? { "If-Match": from.version } : undefined;
      await call(api.PATCH("/api/v1/products/{id}", { params: { path: { id: p.id }, header }, body }));
      setEdit(false);
      onChange();
    });
  const open = () => {
    if (!edit) {
      setBase(p);
      setF(productFields(p));
    }
    setEdit(!edit);
  };
  const changes = (): S["UpdateProductRequest"] => {
    const was = productFields(base);
    const body: S["UpdateProductRequest"] = {};
    if (f.name !== was.name) body.name = f.name;
    if (f.price !== was.price) body.price = Math.round(Number(f.price) * 100);
    if (f.discount !== was.discount) body.discount = Math.round(Number(f.discount) * 100);
    if (f.stock !== was.stock) body.stock = Number(f.stock);
    return body;
  };
  return (
    <li class="card">
      <div class="row">
        <span>
          <strong>{p.name}</strong> · {money(p.unit_price)} · <span data-testid={`stock-${p.name}`}>{p.stock}</span> in stock
        </span>
        <span class="actions">
          <Button kind="secondary" busy={a.busy} aria-label={`Restock ${p.name} by 10`} onClick={() => patch(null, { restock: 10 })}>
            +10
          </Button>
          <Button kind="secondary" onClick={open} aria-label={`Edit ${p.name}`}>
            Edit
          </Button>
        </span>
      </div>
      {edit && (
        <PhotoPicker
          id={`photo-${p.id}`}
          label={`Photo of ${p.name}`}
          current={p.image?.thumb}
          onUploaded={(u) => call(api.PATCH("/api/v1/products/{id}", { params: { path: { id: p.id } }, body: { image: u.id } })).then(onChange)}
          onRemove={() => call(api.PATCH("/api/v1/products/{id}", { params: { path: { id: p.id } }, body: { image: null } })).then(onChange)}
        />
      )}
      {edit && (
        <form
          class="form"
          onSubmit={(e) => {
            e.preventDefault();
            const body = changes();
            if (Object.keys(body).length === 0) setEdit(false);
            else patch(base, body);
          }}
        >
          <Field label="Name" name={`name-${p.id}`} value={f.name} onInput={(v) => setF({ ...f, name: v })} />
          <Field label="Price" name={`price-${p.id}`} type="number" inputMode="decimal" value={f.price} onInput={(v) => setF({ ...f, price: v })} />
          <Field label="Discount" name={`discount-${p.id}`} type="number" inputMode="decimal" value={f.discount} onInput={(v) => setF({ ...f, discount: v })} />
          <Field label="Stock" name={`stock-${p.id}`} type="number" inputMode="numeric" value={f.stock} onInput={(v) => setF({ ...f, stock: v })} />
          <Button type="submit" busy={a.busy}>
            Save
          </Button>
        </form>
      )}
      <ErrorBox error={a.error} />
    </li>
  );
}

export function Products() {
  const { shop } = useSession();
  const products = usePaged(
    (cursor) => (shop ? call(api.GET("/api/v1/shops/{id}/products", { params: { path: { id: shop.id }, query: { cursor } } })) : Promise.resolve({ items: [] })),
    [shop?.id],
  );
  const categories = useLoad(() => allPages((cursor) => call(api.GET("/api/v1/categories", { params: { query: { cursor, limit: PAGE_MAX } } }))), []);
  const [f, setF] = useState({ name: "", description: "", price: "", stock: "10", category_id: "", veg: false, image: "" });
  // Bumped after each product is added, so the photo field starts empty again.
  const [round, setRound] = useState(0);
  const a = useAction();
  if (!shop) return <Skeleton />;
  const create = (e: Event) => {
    e.preventDefault();
    a.run(async () => {
      await call(
        api.POST("/api/v1/shops/{id}/products", {
          params: { path: { id: shop.id } },
          body: { name: f.name, description: f.description, price: Math.round(Number(f.price) * 100), discount: 0, stock: Number(f.stock), category_id: f.category_id || undefined, veg: f.veg, image: f.image || undefined },
        }),
      );
      setF({ ...f, name: "", description: "", price: "", image: "" });
      setRound((r) => r + 1);
      products.reload();
    });
  };
  return (
    <Page title="Products">
      <VendorNav />
      <Loaded load={products} lines={6}>
        {(list) => (
          <ul class="cards">
            {list.map((p) => (
              <ProductRow key={p.id} p={p} onChange={products.reload} />
            ))}
          </ul>
        )}
      </Loaded>
      <LoadMore list={products} label="More products" />
      <h2>New product</h2>
      <form class="card form" onSubmit={create}>
        <Field label="Name" name="p-name" value={f.name} onInput={(v) => setF({ ...f, name: v })} required />
        <Field label="Description" name="p-description" value={f.description} onInput={(v) => setF({ ...f, description: v })} />
        <Field label="Price" name="p-price" type="number" inputMode="decimal" value={f.price} onInput={(v) => setF({ ...f, price: v })} required min={0} />
        <Field label="Stock" name="p-stock" type="number" inputMode="numeric" value={f.stock} onInput={(v) => setF({ ...f, stock: v })} min={0} />
        <Select label="Category" name="p-category" value={f.category_id} onChange={(v) => setF({ ...f, category_id: v })} options={[["", "None"], ...(categories.data ?? []).map((c): [string, string] => [c.id, c.name])]} />
        <label class="check">
          <input type="checkbox" checked={f.veg} onChange={(e) => setF({ ...f, veg: (e.target as HTMLInputElement).checked })} /> Vegetarian
        </label>
        <PhotoPicker key={round} id="p-photo" label="Photo (optional)" onUploaded={(u) => setF((x) => ({ ...x, image: u.id }))} />
        <ErrorBox error={a.error} />
        <Button type="submit" busy={a.busy}>
          Add product
        </Button>
      </form>
    </Page>
  );
}

export function Slots() {
  const { shop } = useSession();
  const slots = useLoad(() => (shop ? allPages((cursor) => call(api.GET("/api/v1/shops/{id}/slots", { params: { path: { id: shop.id }, query: { cursor, limit: PAGE_MAX } } }))) : Promise.resolve([])), [shop?.id]);
  const [f, setF] = useState({ label: "", cutoff: "17:00", max_orders: "" });
  const a = useAction();
  if (!shop) return <Skeleton />;
  const create = (e: Event) => {
    e.preventDefault();
    a.run(async () => {
      const [h, m] = f.cutoff.split(":").map(Number);
      await call(
        api.POST("/api/v1/shops/{id}/slots", {
          params: { path: { id: shop.id } },
          body: { label: f.label, cutoff_minutes: h * 60 + m, active: true, sort_order: 0, max_orders: f.max_orders ? Number(f.max_orders) : undefined },
        }),
      );
      slots.reload();
    });
  };
  const toggle = (sl: S["SlotView"]) => a.run(async () => (await call(api.PATCH("/api/v1/slots/{id}", { params: { path: { id: sl.id } }, body: { active: !sl.active } })), slots.reload()));
  const remove = (sl: S["SlotView"]) => a.run(async () => (await call(api.DELETE("/api/v1/slots/{id}", { params: { path: { id: sl.id } } })), slots.reload()));
  return (
    <Page title="Batch slots">
      <VendorNav />
      <ErrorBox error={a.error} />
      <Loaded load={slots}>
        {(list) => (
          <ul class="cards">
            {list.map((sl) => (
              <li key={sl.id} class="card row">
                <span>
                  <strong>{sl.label}</strong> · cutoff {minutesToClock(sl.cutoff_minutes)} {sl.max_orders ? `· max ${sl.max_orders} orders` : ""} {!sl.active && <Badge>paused</Badge>}
                </span>
                <span class="actions">
                  <Button kind="secondary" onClick={() => toggle(sl)}>
                    {sl.active ? "Pause" : "Resume"}
                  </Button>
                  <Button kind="danger" onClick={() => remove(sl)} aria-label={`Delete ${sl.label}`}>
                    Delete
                  </Button>
                </span>
              </li>
            ))}
          </ul>
        )}
      </Loaded>
      <h2>New slot</h2>
      <form class="card form" onSubmit={create}>
        <Field label="Label" name="s-label" value={f.label} onInput={(v) => setF({ ...f, label: v })} required hint="For example “5 PM Batch”." />
        <Field label="Cutoff time" name="s-cutoff" type="time" value={f.cutoff} onInput={(v) => setF({ ...f, cutoff: v })} required />
        <Field label="Max orders (optional)" name="s-max" type="number" inputMode="numeric" value={f.max_orders} onInput={(v) => setF({ ...f, max_orders: v })} min={1} />
        <Button type="submit" busy={a.busy}>
          Add slot
        </Button>
      </form>
    </Page>
  );
}

/** The settings form's fields, filled from the shop it edits. */
function shopFields(shop: S["ShopView"]) {
  return {
    name: shop.name,
    description: shop.description,
    location: shop.location,
    delivery_fee: String(shop.delivery_fee / 100),
    min_order_value: String(shop.min_order_value / 100),
    accepting_orders: shop.accepting_orders,
  };
}

/**
 * Sends only the fields changed since the form was filled, with the version
 * it was filled from: a shop changed meanwhile (another tab, an admin) is
 * refused (412) and the message says to reload, instead of being overwritten.
 */
function ShopForm({ shop }: { shop: S["ShopView"] }) {
  const [f, setF] = useState(() => shopFields(shop));
  const a = useAction();
  const save = (e: Event) => {
    e.preventDefault();
    const was = shopFields(shop);
    const body: S["UpdateShopRequest"] = {};
    if (f.name !== was.name) body.name = f.name;
    if (f.description !== was.description) body.description = f.description;
    if (f.location !== was.location) body.location = f.location;
    if (f.delivery_fee !== was.delivery_fee) body.delivery_fee = Math.round(Number(f.delivery_fee) * 100);
    if (f.min_order_value !== was.min_order_value) body.min_order_value = Math.round(Number(f.min_order_value) * 100);
    if (f.accepting_orders !== was.accepting_orders) body.accepting_orders = f.accepting_orders;
    if (Object.keys(body).length === 0) return;
    a.run(async () => {
      await call(api.PATCH("/api/v1/shops/{id}", { params: { path: { id: shop.id }, header: { "If-Match": shop.version } }, body }));
      await refreshShop();
    });
  };
  return (
    <form class="card form" onSubmit={save}>
      <ErrorBox error={a.error} />
      <Field label="Shop name" name="name" value={f.name} onInput={(v) => setF({ ...f, name: v })} />
      <Field label="Description" name="description" value={f.description} onInput={(v) => setF({ ...f, description: v })} />
      <Field label="Location" name="location" value={f.location} onInput={(v) => setF({ ...f, location: v })} />
      <Field label="Delivery fee" name="delivery_fee" type="number" inputMode="decimal" value={f.delivery_fee} onInput={(v) => setF({ ...f, delivery_fee: v })} />
      <Field label="Minimum order" name="min_order_value" type="number" inputMode="decimal" value={f.min_order_value} onInput={(v) => setF({ ...f, min_order_value: v })} />
      <label class="check">
        <input type="checkbox" checked={f.accepting_orders} onChange={(e) => setF({ ...f, accepting_orders: (e.target as HTMLInputElement).checked })} /> Taking orders
      </label>
      <Button type="submit" busy={a.busy}>
        Save settings
      </Button>
    </form>
  );
}

export function ShopSettings() {
  const { shop } = useSession();
  const staff = useLoad(() => (shop ? allPages((cursor) => call(api.GET("/api/v1/shops/{id}/staff", { params: { path: { id: shop.id }, query: { cursor, limit: PAGE_MAX } } }))) : Promise.resolve([])), [shop?.id]);
  const invites = useLoad(() => (shop ? allPages((cursor) => call(api.GET("/api/v1/shops/{id}/staff/invites", { params: { path: { id: shop.id }, query: { cursor, limit: PAGE_MAX } } }))) : Promise.resolve([])), [shop?.id]);
  const [invited, setInvited] = useState("");
  const [runner, setRunner] = useState("");
  const a = useAction();
  if (!shop) return <Skeleton />;
  const submitVerification = () =>
    a.run(async () => {
      await call(api.POST("/api/v1/shops/{id}/verification", { params: { path: { id: shop.id } } }));
      await refreshShop();
    });
  const addRunner = (e: Event) => {
    e.preventDefault();
    a.run(async () => {
      const sent = await call(api.POST("/api/v1/shops/{id}/staff", { params: { path: { id: shop.id } }, body: { email: runner } }));
      setRunner("");
      setInvited(sent.email);
      invites.reload();
    });
  };
  return (
    <Page title="Shop settings">
      <VendorNav />
      <div class="card">
        <p>
          Verification: <Badge tone={statusTone(shop.verification)}>{label(shop.verification)}</Badge>
        </p>
        {shop.verification_note && <p class="muted">Admin's note: {shop.verification_note}</p>}
        {(shop.verification === "NOT_STARTED" || shop.verification === "REQUIRES_ACTION") && (
          <Button busy={a.busy} onClick={submitVerification}>
            Submit for verification
          </Button>
        )}
      </div>
      <ErrorBox error={a.error} />
      {/* Filled from the loaded shop; a new version (own save) refills it. */}
      <ShopForm key={`${shop.id}:${shop.version}`} shop={shop} />
      <h2>Runners</h2>
      <Loaded load={staff}>
        {(list) => (
          <ul class="list">
            {list.length === 0 && <li class="empty">No runners yet.</li>}
            {list.map((r) => (
              <li key={r.user_id} class="row">
                {r.name} · {r.email}
                <Button kind="secondary" onClick={() => a.run(async () => (await call(api.DELETE("/api/v1/shops/{id}/staff/{user_id}", { params: { path: { id: shop.id, user_id: r.user_id } } })), staff.reload()))}>
                  Remove
                </Button>
              </li>
            ))}
          </ul>
        )}
      </Loaded>
      <Loaded load={invites}>
        {(list) =>
          list.length > 0 && (
            <ul class="list" aria-label="Pending invitations">
              {list.map((i) => (
                <li key={i.email} class="row muted">
                  {i.email} · invited, waiting for them to accept (until {when(i.expires_at)})
                </li>
              ))}
            </ul>
          )
        }
      </Loaded>
      {shop.verification === "VERIFIED" ? (
        <form class="inline-form" onSubmit={addRunner}>
          <Field label="Runner's email" name="runner" type="email" value={runner} onInput={setRunner} required />
          <Button type="submit" busy={a.busy}>
            Invite runner
          </Button>
        </form>
      ) : (
        <p class="muted">Runners can be invited once the shop is verified.</p>
      )}
      {invited && (
        <p role="status">
          Invitation sent to {invited}. They accept it under Runs after signing in with that address; if they have no account yet, ask them to sign up with it.
        </p>
      )}
    </Page>
  );
}

/** Invitations to run for a shop: accept (needs a confirmed address) or decline. */
function Invitations() {
  const invites = useLoad(() => allPages((cursor) => call(api.GET("/api/v1/me/invitations", { params: { query: { cursor, limit: PAGE_MAX } } }))), []);
  const a = useAction();
  useEffect(() => subscribe((e) => e.event === "notification" && invites.reload()), []);
  const answer = (shopId: string, accept: boolean) =>
    a.run(async () => {
      const p = { params: { path: { shop_id: shopId } } };
      await call(accept ? api.POST("/api/v1/me/invitations/{shop_id}/accept", p) : api.DELETE("/api/v1/me/invitations/{shop_id}", p));
      invites.reload();
      await loadSession();
    });
  const list = invites.data ?? [];
  if (list.length === 0) return null;
  return (
    <section class="card" aria-label="Invitations">
      <h2>Invitations</h2>
      <ul class="list">
        {list.map((i) => (
          <li key={i.shop_id} class="row">
            <span>
              <strong>{i.shop_name}</strong> invites you to carry its batches.
            </span>
            <span class="actions">
              <Button busy={a.busy} onClick={() => answer(i.shop_id, true)}>
                Accept
              </Button>
              <Button kind="secondary" busy={a.busy} onClick={() => answer(i.shop_id, false)}>
                Decline
              </Button>
            </span>
          </li>
        ))}
      </ul>
      <ErrorBox error={a.error} />
    </section>
  );
}

export function Runs() {
  const runs = useLoad(() => allPages((cursor) => call(api.GET("/api/v1/me/runs", { params: { query: { cursor, limit: PAGE_MAX } } }))), []);
  useEffect(() => subscribe((e) => e.event === "notification" && runs.reload()), []);
  return (
    <Page title="Runs">
      <Invitations />
      <Loaded load={runs} lines={4}>
        {(list) =>
          list.length === 0 ? (
            <p class="empty">No batches to carry right now.</p>
          ) : (
            <ul class="cards">
              {list.map((b) => (
                <BatchCard key={b.id} b={b} href={`/runs/${b.id}`} />
              ))}
            </ul>
          )
        }
      </Loaded>
    </Page>
  );
}
