// The vendor's shop set-up (loaded on demand): creating the shop, its
// settings, products and stock, batch slots.
import { useEffect, useState } from "preact/hooks";
import { allPages, api, call, PAGE_MAX, type S } from "../api/client";
import { label, minutesToClock, money, when } from "../format";
import { refreshShop, useSession } from "../state";
import { Badge, Button, ErrorBox, Field, Loaded, LoadMore, Page, Select, Skeleton, statusTone, useAction, useLoad, usePaged } from "../ui";
import { VendorNav } from "./vendor";

export function CreateShop() {
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
