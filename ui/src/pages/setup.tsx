// The vendor's shop set-up (loaded on demand): creating the shop, its
// settings with the checklist for verification, products and stock, batch
// slots, announcements.
//
// Every edit form fills from the record it edits, sends only the fields
// that differ from it, with that record's version (`If-Match`): a record
// changed meanwhile is refused (412) instead of overwritten. Anything that
// deletes asks for a confirmation in the page first.
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { allPages, api, call, PAGE_MAX, Problem, type S } from "../api/client";
import { clockToMinutes, hoursText, label, minutesToClock, money, when } from "../format";
import { refreshShop, useSession } from "../state";
import { Badge, Button, Check, Confirm, ErrorBox, Field, Loaded, LoadMore, Page, Select, Skeleton, statusTone, useAction, useLoad, usePaged } from "../ui";
import { VendorNav } from "./vendor";

const SHOP_TYPES: [string, string][] = [
  ["CANTEEN", "Canteen"],
  ["STATIONERY", "Stationery"],
  ["GROCERY", "Grocery"],
  ["OTHER", "Other"],
];

const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/** Rupees as typed to paise. */
const paise = (v: string) => Math.round(Number(v) * 100);
const rupees = (minor: number) => String(minor / 100);

/** A multi-line text field, labelled like `Field`. */
function TextArea({ label, name, value, onInput, maxLength, rows = 3 }: { label: string; name: string; value: string; onInput: (v: string) => void; maxLength?: number; rows?: number }) {
  const id = `f-${name}`;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <textarea id={id} name={name} value={value} rows={rows} maxLength={maxLength} onInput={(e) => onInput((e.target as HTMLTextAreaElement).value)} />
    </div>
  );
}

/** Delete (or another final action) of one named thing, asked in the page first. */
function ConfirmDelete({ what, action = "Delete", busy, onConfirm }: { what: string; action?: string; busy?: boolean; onConfirm: () => void }) {
  return (
    <Confirm aria-label={`${action} ${what}`} group={`Confirm: ${action.toLowerCase()} ${what}`} question={`${action} ${what}?`} yes={`Yes, ${action.toLowerCase()}`} busy={busy} onConfirm={onConfirm}>
      {action}
    </Confirm>
  );
}

/**
 * The opening hours as two time inputs, or "open all day" (equal hours, as
 * the server reads them).
 */
function HoursFields({ opens, closes, onChange, prefix = "" }: { opens: string; closes: string; onChange: (opens: string, closes: string) => void; prefix?: string }) {
  const allDay = opens === closes;
  return (
    <fieldset class="hours">
      <legend>Opening hours (campus time)</legend>
      <Check label="Open all day" name={`${prefix}all_day`} checked={allDay} onChange={(on) => (on ? onChange("00:00", "00:00") : onChange("08:00", "22:00"))} />
      {!allDay && (
        <div class="inline-form">
          <Field label="Opens at" name={`${prefix}opens_at`} type="time" value={opens} onInput={(v) => onChange(v, closes)} required />
          <Field label="Closes at" name={`${prefix}closes_at`} type="time" value={closes} onInput={(v) => onChange(opens, v)} required hint="Earlier than opening: open past midnight." />
        </div>
      )}
    </fieldset>
  );
}

export function CreateShop() {
  const [f, setF] = useState({ name: "", description: "", location: "", shop_type: "CANTEEN", opens: "08:00", closes: "22:00", upi_id: "", delivery_fee: "0", min_order_value: "0" });
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
            opens_at: clockToMinutes(f.opens),
            closes_at: clockToMinutes(f.closes),
            upi_id: f.upi_id.trim() || undefined,
            min_order_value: paise(f.min_order_value),
            delivery_fee: paise(f.delivery_fee),
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
        <Field label="Shop name" name="name" value={f.name} onInput={on("name")} required maxLength={80} />
        <TextArea label="Description" name="description" value={f.description} onInput={on("description")} maxLength={1000} />
        <Field label="Location in the market" name="location" value={f.location} onInput={on("location")} required maxLength={200} />
        <Select label="Type" name="shop_type" value={f.shop_type} onChange={on("shop_type")} options={SHOP_TYPES} />
        <HoursFields opens={f.opens} closes={f.closes} onChange={(opens, closes) => setF({ ...f, opens, closes })} />
        <Field label="UPI id (optional now)" name="upi_id" value={f.upi_id} onInput={on("upi_id")} maxLength={60} hint="Such as name@bank; needed before verification." />
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
 * problem's detail and drops the preview. `inForm`: the photo is saved
 * with the rest of its form rather than at once.
 */
function PhotoPicker({ id, label, current, onUploaded, onRemove, inForm }: { id: string; label: string; current?: string | null; onUploaded: (u: S["UploadView"]) => Promise<unknown> | void; onRemove?: () => Promise<unknown> | void; inForm?: boolean }) {
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
      // In a form the photo is one more field, written by the form's save.
      setDone(inForm ? `Photo ready (${u.width} × ${u.height}): save to use it.` : `Photo saved (${u.width} × ${u.height}).`);
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
      setDone(inForm ? "Photo removed: save to apply." : "Photo removed.");
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

/** The edit form's fields, filled from the product it edits. */
function productFields(p: S["ProductView"]) {
  return {
    name: p.name,
    description: p.description,
    price: rupees(p.price),
    discount: rupees(p.discount),
    stock: String(p.stock),
    category_id: p.category_id ?? "",
    veg: p.veg,
  };
}

function ProductRow({ p, categories, onChange }: { p: S["ProductView"]; categories: S["CategoryView"][]; onChange: () => void }) {
  const [edit, setEdit] = useState(false);
  // The record the open form was filled from: only what differs from it is
  // sent, with its version, so a restock meanwhile is never written back.
  const [base, setBase] = useState(p);
  const [f, setF] = useState(() => productFields(p));
  const a = useAction();
  // `from`: the record a change was made from; a restock is an increment and
  // holds whatever the stock is by then, so it names none.
  const patch = (from: S["ProductView"] | null, body: S["UpdateProductRequest"], close = true) =>
    a.run(async () => {
      const header = from ? { "If-Match": from.version } : undefined;
      const saved = await call(api.PATCH("/api/v1/products/{id}", { params: { path: { id: p.id }, header }, body }));
      if (close) setEdit(false);
      // A photo saved at once moves the version the open form works from.
      else setBase(saved);
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
    if (f.description !== was.description) body.description = f.description;
    if (f.price !== was.price) body.price = paise(f.price);
    if (f.discount !== was.discount) body.discount = paise(f.discount);
    if (f.stock !== was.stock) body.stock = Number(f.stock);
    if (f.category_id !== was.category_id) body.category_id = f.category_id || null;
    if (f.veg !== was.veg) body.veg = f.veg;
    return body;
  };
  const remove = () =>
    a.run(async () => {
      await call(api.DELETE("/api/v1/products/{id}", { params: { path: { id: p.id } } }));
      onChange();
    });
  const category = categories.find((c) => c.id === p.category_id)?.name;
  return (
    <li class="card" data-testid={`product-${p.name}`}>
      <div class="row">
        <span>
          <strong>{p.name}</strong> {p.veg ? <Badge tone="good">veg</Badge> : <Badge>non-veg</Badge>} · {money(p.unit_price)} · <span data-testid={`stock-${p.name}`}>{p.stock}</span> in stock
          {category && <span class="muted"> · {category}</span>}
        </span>
        <span class="actions">
          <Button kind="secondary" busy={a.busy} aria-label={`Restock ${p.name} by 10`} onClick={() => patch(null, { restock: 10 })}>
            +10
          </Button>
          {/* Out of stock sets 0 from the stock as shown; back in stock adds, whatever it is by then. */}
          {p.stock > 0 ? (
            <Button kind="secondary" busy={a.busy} aria-label={`Mark ${p.name} out of stock`} onClick={() => patch(p, { stock: 0 })}>
              Out of stock
            </Button>
          ) : (
            <Button kind="secondary" busy={a.busy} aria-label={`Mark ${p.name} in stock`} onClick={() => patch(null, { restock: 10 })}>
              In stock (+10)
            </Button>
          )}
          <Button kind="secondary" onClick={open} aria-label={`Edit ${p.name}`} aria-expanded={edit ? "true" : "false"}>
            Edit
          </Button>
        </span>
      </div>
      {p.description && <p class="muted">{p.description}</p>}
      {edit && (
        <PhotoPicker
          id={`photo-${p.id}`}
          label={`Photo of ${p.name}`}
          current={p.image?.thumb}
          onUploaded={(u) => patch(base, { image: u.id }, false)}
          onRemove={() => patch(base, { image: null }, false)}
        />
      )}
      {edit && (
        <form
          class="form"
          aria-label={`Edit ${p.name}`}
          onSubmit={(e) => {
            e.preventDefault();
            const body = changes();
            if (Object.keys(body).length === 0) setEdit(false);
            else patch(base, body);
          }}
        >
          <Field label="Name" name={`name-${p.id}`} value={f.name} onInput={(v) => setF({ ...f, name: v })} maxLength={100} />
          <TextArea label="Description" name={`description-${p.id}`} value={f.description} onInput={(v) => setF({ ...f, description: v })} maxLength={1000} rows={2} />
          <div class="inline-form">
            <Field label="Price" name={`price-${p.id}`} type="number" inputMode="decimal" value={f.price} onInput={(v) => setF({ ...f, price: v })} min={0} />
            <Field label="Discount" name={`discount-${p.id}`} type="number" inputMode="decimal" value={f.discount} onInput={(v) => setF({ ...f, discount: v })} min={0} />
            <Field label="Stock" name={`stock-${p.id}`} type="number" inputMode="numeric" value={f.stock} onInput={(v) => setF({ ...f, stock: v })} min={0} />
          </div>
          <Select label="Category" name={`category-${p.id}`} value={f.category_id} onChange={(v) => setF({ ...f, category_id: v })} options={[["", "None"], ...categories.map((c): [string, string] => [c.id, c.name])]} />
          <Check label="Vegetarian" name={`veg-${p.id}`} checked={f.veg} onChange={(veg) => setF({ ...f, veg })} />
          <div class="actions">
            <Button type="submit" busy={a.busy}>
              Save
            </Button>
            <ConfirmDelete what={p.name} busy={a.busy} onConfirm={remove} />
          </div>
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
          body: { name: f.name, description: f.description, price: paise(f.price), discount: 0, stock: Number(f.stock), category_id: f.category_id || undefined, veg: f.veg, image: f.image || undefined },
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
        {(list) =>
          list.length === 0 ? (
            <p class="empty">No products yet: add the first one below.</p>
          ) : (
            <ul class="cards">
              {list.map((p) => (
                <ProductRow key={p.id} p={p} categories={categories.data ?? []} onChange={products.reload} />
              ))}
            </ul>
          )
        }
      </Loaded>
      <LoadMore list={products} label="More products" />
      <h2>New product</h2>
      <form class="card form" onSubmit={create} aria-label="New product">
        <Field label="Name" name="p-name" value={f.name} onInput={(v) => setF({ ...f, name: v })} required maxLength={100} />
        <Field label="Description" name="p-description" value={f.description} onInput={(v) => setF({ ...f, description: v })} maxLength={1000} />
        <Field label="Price" name="p-price" type="number" inputMode="decimal" value={f.price} onInput={(v) => setF({ ...f, price: v })} required min={0} />
        <Field label="Stock" name="p-stock" type="number" inputMode="numeric" value={f.stock} onInput={(v) => setF({ ...f, stock: v })} min={0} />
        <Select label="Category" name="p-category" value={f.category_id} onChange={(v) => setF({ ...f, category_id: v })} options={[["", "None"], ...(categories.data ?? []).map((c): [string, string] => [c.id, c.name])]} />
        <Check label="Vegetarian" checked={f.veg} onChange={(veg) => setF({ ...f, veg })} />
        <PhotoPicker key={round} id="p-photo" label="Photo (optional)" onUploaded={(u) => setF((x) => ({ ...x, image: u.id }))} />
        <ErrorBox error={a.error} />
        <Button type="submit" busy={a.busy}>
          Add product
        </Button>
      </form>
    </Page>
  );
}

/** The slot form's fields, filled from the slot it edits (or blank). */
function slotFields(sl?: S["SlotView"]) {
  return {
    label: sl?.label ?? "",
    cutoff: sl ? minutesToClock(sl.cutoff_minutes) : "17:00",
    max_orders: sl?.max_orders ? String(sl.max_orders) : "",
    sort_order: String(sl?.sort_order ?? 0),
    // Empty means every day.
    weekdays: sl?.weekdays ?? [],
  };
}

type SlotForm = ReturnType<typeof slotFields>;

/** Label, cutoff, limit, order and days of a slot, for a new one or an edit. */
function SlotFields({ f, setF, prefix }: { f: SlotForm; setF: (f: SlotForm) => void; prefix: string }) {
  const toggleDay = (d: number, on: boolean) => setF({ ...f, weekdays: on ? [...f.weekdays, d].sort() : f.weekdays.filter((x) => x !== d) });
  return (
    <>
      <Field label="Label" name={`${prefix}label`} value={f.label} onInput={(v) => setF({ ...f, label: v })} required maxLength={60} hint="For example “5 PM Batch”." />
      <div class="inline-form">
        <Field label="Cutoff time" name={`${prefix}cutoff`} type="time" value={f.cutoff} onInput={(v) => setF({ ...f, cutoff: v })} required />
        <Field label="Max orders (optional)" name={`${prefix}max`} type="number" inputMode="numeric" value={f.max_orders} onInput={(v) => setF({ ...f, max_orders: v })} min={1} />
        <Field label="Sort order" name={`${prefix}sort`} type="number" inputMode="numeric" value={f.sort_order} onInput={(v) => setF({ ...f, sort_order: v })} min={0} max={1000} />
      </div>
      <fieldset class="days">
        <legend>Days (none ticked: every day)</legend>
        {WEEKDAYS.map((name, i) => (
          <Check key={name} label={name} name={`${prefix}day-${i + 1}`} checked={f.weekdays.includes(i + 1)} onChange={(on) => toggleDay(i + 1, on)} />
        ))}
      </fieldset>
    </>
  );
}

const days = (w?: number[] | null) => (w && w.length > 0 && w.length < 7 ? w.map((d) => WEEKDAYS[d - 1]).join(", ") : "every day");

function SlotRow({ sl, onChange }: { sl: S["SlotView"]; onChange: () => void }) {
  const [edit, setEdit] = useState(false);
  const [base, setBase] = useState(sl);
  const [f, setF] = useState(() => slotFields(sl));
  const a = useAction();
  const patch = (body: S["UpdateSlotRequest"]) =>
    a.run(async () => {
      await call(api.PATCH("/api/v1/slots/{id}", { params: { path: { id: sl.id } }, body }));
      setEdit(false);
      onChange();
    });
  const open = () => {
    if (!edit) {
      setBase(sl);
      setF(slotFields(sl));
    }
    setEdit(!edit);
  };
  const save = (e: Event) => {
    e.preventDefault();
    const was = slotFields(base);
    const body: S["UpdateSlotRequest"] = {};
    if (f.label !== was.label) body.label = f.label;
    if (f.cutoff !== was.cutoff) body.cutoff_minutes = clockToMinutes(f.cutoff);
    if (f.max_orders !== was.max_orders) body.max_orders = f.max_orders ? Number(f.max_orders) : null;
    if (f.sort_order !== was.sort_order) body.sort_order = Number(f.sort_order);
    if (f.weekdays.join() !== was.weekdays.join()) body.weekdays = f.weekdays.length > 0 && f.weekdays.length < 7 ? f.weekdays : null;
    if (Object.keys(body).length === 0) setEdit(false);
    else patch(body);
  };
  const remove = () =>
    a.run(async () => {
      await call(api.DELETE("/api/v1/slots/{id}", { params: { path: { id: sl.id } } }));
      onChange();
    });
  return (
    <li class="card" data-testid={`slot-${sl.label}`}>
      <div class="row">
        <span>
          <strong>{sl.label}</strong> · cutoff {minutesToClock(sl.cutoff_minutes)} · <span data-testid="days">{days(sl.weekdays)}</span>
          {sl.max_orders ? ` · max ${sl.max_orders} orders` : ""} {!sl.active && <Badge>paused</Badge>}
        </span>
        <span class="actions">
          <Button kind="secondary" busy={a.busy} onClick={() => patch({ active: !sl.active })}>
            {sl.active ? "Pause" : "Resume"}
          </Button>
          <Button kind="secondary" onClick={open} aria-label={`Edit ${sl.label}`} aria-expanded={edit ? "true" : "false"}>
            Edit
          </Button>
          <ConfirmDelete what={sl.label} busy={a.busy} onConfirm={remove} />
        </span>
      </div>
      {edit && (
        <form class="form" onSubmit={save} aria-label={`Edit ${sl.label}`}>
          <SlotFields f={f} setF={setF} prefix={`${sl.id}-`} />
          <p class="muted">Batches already opened keep their cutoff and limit; the change shapes the next ones.</p>
          <Button type="submit" busy={a.busy}>
            Save slot
          </Button>
        </form>
      )}
      <ErrorBox error={a.error} />
    </li>
  );
}

export function Slots() {
  const { shop } = useSession();
  // The server lists slots in display order: sort order, then cutoff.
  const slots = useLoad(() => (shop ? allPages((cursor) => call(api.GET("/api/v1/shops/{id}/slots", { params: { path: { id: shop.id }, query: { cursor, limit: PAGE_MAX } } }))) : Promise.resolve([])), [shop?.id]);
  const [f, setF] = useState(() => slotFields());
  const a = useAction();
  if (!shop) return <Skeleton />;
  const create = (e: Event) => {
    e.preventDefault();
    a.run(async () => {
      await call(
        api.POST("/api/v1/shops/{id}/slots", {
          params: { path: { id: shop.id } },
          body: {
            label: f.label,
            cutoff_minutes: clockToMinutes(f.cutoff),
            active: true,
            sort_order: Number(f.sort_order) || 0,
            max_orders: f.max_orders ? Number(f.max_orders) : undefined,
            weekdays: f.weekdays.length > 0 && f.weekdays.length < 7 ? f.weekdays : undefined,
          },
        }),
      );
      setF(slotFields());
      slots.reload();
    });
  };
  return (
    <Page title="Batch slots">
      <VendorNav />
      <Loaded load={slots}>
        {(list) =>
          list.length === 0 ? (
            <p class="empty">No slots yet: a slot is a daily cutoff; orders placed before it leave together.</p>
          ) : (
            <ul class="cards">
              {list.map((sl) => (
                <SlotRow key={sl.id} sl={sl} onChange={slots.reload} />
              ))}
            </ul>
          )
        }
      </Loaded>
      <h2>New slot</h2>
      <form class="card form" onSubmit={create} aria-label="New slot">
        <SlotFields f={f} setF={setF} prefix="s-" />
        <ErrorBox error={a.error} />
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
    shop_type: shop.shop_type as string,
    opens: minutesToClock(shop.opens_at),
    closes: minutesToClock(shop.closes_at),
    image: shop.image?.id ?? null,
    upi_id: shop.upi_id ?? "",
    upi_qr_image: shop.upi_qr_image?.id ?? null,
    delivers_to: [...shop.delivers_to].sort(),
    delivery_fee: rupees(shop.delivery_fee),
    direct_delivery_fee: rupees(shop.direct_delivery_fee),
    min_order_value: rupees(shop.min_order_value),
    active: shop.active,
    accepting_orders: shop.accepting_orders,
  };
}

type ShopFields = ReturnType<typeof shopFields>;

/** Only what differs from the record the form was filled from. */
function shopChanges(f: ShopFields, was: ShopFields): S["UpdateShopRequest"] {
  const body: S["UpdateShopRequest"] = {};
  if (f.name !== was.name) body.name = f.name;
  if (f.description !== was.description) body.description = f.description;
  if (f.location !== was.location) body.location = f.location;
  if (f.shop_type !== was.shop_type) body.shop_type = f.shop_type as S["ShopTypeView"];
  if (f.opens !== was.opens) body.opens_at = clockToMinutes(f.opens);
  if (f.closes !== was.closes) body.closes_at = clockToMinutes(f.closes);
  if (f.image !== was.image) body.image = f.image;
  if (f.upi_id.trim() !== was.upi_id) body.upi_id = f.upi_id.trim() || null;
  if (f.upi_qr_image !== was.upi_qr_image) body.upi_qr_image = f.upi_qr_image;
  if (f.delivers_to.join() !== was.delivers_to.join()) body.delivers_to = f.delivers_to;
  if (f.delivery_fee !== was.delivery_fee) body.delivery_fee = paise(f.delivery_fee);
  if (f.direct_delivery_fee !== was.direct_delivery_fee) body.direct_delivery_fee = paise(f.direct_delivery_fee);
  if (f.min_order_value !== was.min_order_value) body.min_order_value = paise(f.min_order_value);
  if (f.active !== was.active) body.active = f.active;
  if (f.accepting_orders !== was.accepting_orders) body.accepting_orders = f.accepting_orders;
  return body;
}

/**
 * Sends only the fields changed since the form was filled, with the version
 * it was filled from: a shop changed meanwhile (another tab, an admin) is
 * refused (412) and the form says so and offers to reload, instead of
 * overwriting. A new version of the shop (own save, a submission) refills
 * the form only while it holds no unsaved edit.
 */
function ShopForm({ shop }: { shop: S["ShopView"] }) {
  const [base, setBase] = useState(shop);
  const [f, setF] = useState(() => shopFields(shop));
  const [thumbs, setThumbs] = useState<{ image?: string | null; upi_qr_image?: string | null }>({});
  const [stale, setStale] = useState(false);
  const [saved, setSaved] = useState(false);
  const buildings = useLoad(() => allPages((cursor) => call(api.GET("/api/v1/buildings", { params: { query: { cursor, limit: PAGE_MAX } } }))), []);
  const a = useAction();
  const dirty = Object.keys(shopChanges(f, shopFields(base))).length > 0;
  useEffect(() => {
    if (shop.version !== base.version && !dirty) {
      setBase(shop);
      setF(shopFields(shop));
      setThumbs({});
    }
  }, [shop.version]);
  const set = (patch: Partial<ShopFields>) => {
    setF((x) => ({ ...x, ...patch }));
    setSaved(false);
  };
  const reload = () =>
    a.run(async () => {
      await refreshShop();
      const fresh = await call(api.GET("/api/v1/me/shop"));
      setBase(fresh);
      setF(shopFields(fresh));
      setThumbs({});
      setStale(false);
    });
  const save = (e: Event) => {
    e.preventDefault();
    const body = shopChanges(f, shopFields(base));
    if (Object.keys(body).length === 0) return;
    a.run(async () => {
      try {
        const next = await call(api.PATCH("/api/v1/shops/{id}", { params: { path: { id: base.id }, header: { "If-Match": base.version } }, body }));
        setBase(next);
        setF(shopFields(next));
        setThumbs({});
        setSaved(true);
      } catch (err) {
        if (err instanceof Problem && err.status === 412) setStale(true);
        throw err;
      }
      await refreshShop();
    });
  };
  const toggleBuilding = (id: string, on: boolean) => set({ delivers_to: on ? [...f.delivers_to, id].sort() : f.delivers_to.filter((b) => b !== id) });
  const thumb = (k: "image" | "upi_qr_image") => (k in thumbs ? thumbs[k] : f[k] === base[k]?.id ? base[k]?.thumb : null);
  return (
    <form class="card form" onSubmit={save} aria-label="Shop details">
      <Field label="Shop name" name="name" value={f.name} onInput={(v) => set({ name: v })} required maxLength={80} />
      <TextArea label="Description" name="description" value={f.description} onInput={(v) => set({ description: v })} maxLength={1000} />
      <Field label="Location" name="location" value={f.location} onInput={(v) => set({ location: v })} maxLength={200} />
      <Select label="Type" name="shop_type" value={f.shop_type} onChange={(v) => set({ shop_type: v })} options={SHOP_TYPES} />
      <HoursFields opens={f.opens} closes={f.closes} onChange={(opens, closes) => set({ opens, closes })} />
      <PhotoPicker
        id="shop-photo"
        label="Shop photo"
        inForm
        current={thumb("image")}
        onUploaded={(u) => (set({ image: u.id }), setThumbs((t) => ({ ...t, image: u.thumb })))}
        onRemove={() => (set({ image: null }), setThumbs((t) => ({ ...t, image: null })))}
      />
      <h3>Payment</h3>
      <Field label="UPI id" name="upi_id" value={f.upi_id} onInput={(v) => set({ upi_id: v })} maxLength={60} hint="Such as name@bank. Students may pay by UPI at the door, so verification needs one." />
      <PhotoPicker
        id="upi-qr"
        label="UPI QR code"
        inForm
        current={thumb("upi_qr_image")}
        onUploaded={(u) => (set({ upi_qr_image: u.id }), setThumbs((t) => ({ ...t, upi_qr_image: u.thumb })))}
        onRemove={() => (set({ upi_qr_image: null }), setThumbs((t) => ({ ...t, upi_qr_image: null })))}
      />
      <h3>Delivery</h3>
      <fieldset class="buildings">
        <legend>Buildings served (none ticked: every building)</legend>
        <Loaded load={buildings}>
          {(list) => (
            <>
              {list.length === 0 && <p class="muted">The campus lists no buildings yet.</p>}
              {list.map((b) => (
                <Check key={b.id} label={b.name} name={`building-${b.id}`} checked={f.delivers_to.includes(b.id)} onChange={(on) => toggleBuilding(b.id, on)} />
              ))}
              {f.delivers_to
                .filter((id) => !list.some((b) => b.id === id))
                .map((id) => (
                  <Check key={id} label={`${id} (no longer listed)`} checked onChange={(on) => toggleBuilding(id, on)} />
                ))}
            </>
          )}
        </Loaded>
      </fieldset>
      <div class="inline-form">
        <Field label="Delivery fee" name="delivery_fee" type="number" inputMode="decimal" value={f.delivery_fee} onInput={(v) => set({ delivery_fee: v })} min={0} />
        <Field label="Direct-delivery fee" name="direct_delivery_fee" type="number" inputMode="decimal" value={f.direct_delivery_fee} onInput={(v) => set({ direct_delivery_fee: v })} min={0} hint="0: no direct delivery." />
        <Field label="Minimum order" name="min_order_value" type="number" inputMode="decimal" value={f.min_order_value} onInput={(v) => set({ min_order_value: v })} min={0} />
      </div>
      <Check label="Active (students see the shop)" name="active" checked={f.active} onChange={(v) => set({ active: v })} />
      <Check label="Taking orders" name="accepting_orders" checked={f.accepting_orders} onChange={(v) => set({ accepting_orders: v })} />
      {stale ? (
        <div class="error" role="alert">
          <p>This shop was changed elsewhere (another tab or an admin) since this form was filled, so nothing was saved: reload to see the changes, then make yours again.</p>
          <Button kind="secondary" busy={a.busy} onClick={reload}>
            Reload the shop
          </Button>
        </div>
      ) : (
        <ErrorBox error={a.error} />
      )}
      {saved && !dirty && (
        <p role="status" class="muted">
          Saved.
        </p>
      )}
      <Button type="submit" busy={a.busy} disabled={!dirty}>
        Save settings
      </Button>
    </form>
  );
}

/** What verification needs, each with a way to fix it (`domain::shop::missing_for_verification`). */
function Checklist({ shop, onReady }: { shop: S["ShopView"]; onReady: (ready: boolean) => void }) {
  const products = useLoad(() => call(api.GET("/api/v1/shops/{id}/products", { params: { path: { id: shop.id }, query: { limit: 1 } } })), [shop.id]);
  const slots = useLoad(() => allPages((cursor) => call(api.GET("/api/v1/shops/{id}/slots", { params: { path: { id: shop.id }, query: { cursor, limit: PAGE_MAX } } }))), [shop.id]);
  const items: [boolean | undefined, ComponentChildren, string][] = [
    [products.data && products.data.items.length > 0, <a href="/vendor/products">Add a product</a>, "At least one product"],
    [slots.data && slots.data.some((s) => s.active), <a href="/vendor/slots">Add an active batch slot</a>, "An active batch slot"],
    [!!shop.upi_id, <a href="#f-upi_id">Add your UPI id below</a>, "A UPI id for payments"],
  ];
  const ready = items.every(([ok]) => ok === true);
  useEffect(() => onReady(ready), [ready]);
  return (
    <ul class="checklist" aria-label="Before verification">
      {items.map(([ok, fix, what]) => (
        <li key={what} class={ok ? "done" : "todo"}>
          <span aria-hidden="true">{ok ? "✓" : ok === false ? "✗" : "…"}</span> {what}
          <span class="sr">{ok ? " (done)" : ok === false ? " (missing)" : " (checking)"}</span>
          {ok === false && <> · {fix}</>}
        </li>
      ))}
    </ul>
  );
}

export function ShopSettings() {
  const { shop } = useSession();
  const staff = useLoad(() => (shop ? allPages((cursor) => call(api.GET("/api/v1/shops/{id}/staff", { params: { path: { id: shop.id }, query: { cursor, limit: PAGE_MAX } } }))) : Promise.resolve([])), [shop?.id]);
  const invites = useLoad(() => (shop ? allPages((cursor) => call(api.GET("/api/v1/shops/{id}/staff/invites", { params: { path: { id: shop.id }, query: { cursor, limit: PAGE_MAX } } }))) : Promise.resolve([])), [shop?.id]);
  const [invited, setInvited] = useState("");
  const [runner, setRunner] = useState("");
  const [ready, setReady] = useState(false);
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
  const submittable = shop.verification === "NOT_STARTED" || shop.verification === "REQUIRES_ACTION";
  return (
    <Page title="Shop settings">
      <VendorNav />
      <section class="card" aria-label="Verification">
        <p>
          Verification: <Badge tone={statusTone(shop.verification)}>{label(shop.verification)}</Badge>
        </p>
        {shop.verification_note && <p class="muted">Admin's note: {shop.verification_note}</p>}
        {submittable && (
          <>
            {/* Read again on every version: a save here may complete it. */}
            <Checklist key={shop.version} shop={shop} onReady={setReady} />
            <Button busy={a.busy} disabled={!ready} onClick={submitVerification}>
              Submit for verification
            </Button>
            {!ready && <p class="muted">Complete the list to submit the shop; an admin then checks it.</p>}
          </>
        )}
        <ErrorBox error={a.error} />
      </section>
      <h2>Shop details</h2>
      <p class="muted">{hoursText(shop.opens_at, shop.closes_at)} · saved settings apply to the next order.</p>
      {/* Filled from the loaded shop; it refills itself from newer versions while unedited. */}
      <ShopForm key={shop.id} shop={shop} />
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
      <CloseShop shop={shop} />
    </Page>
  );
}

/** Deleting the shop: refused while orders are open; the history stays. */
function CloseShop({ shop }: { shop: S["ShopView"] }) {
  const a = useAction();
  return (
    <section class="card" aria-labelledby="close-h">
      <h2 id="close-h">Close the shop for good</h2>
      <p class="muted">Students no longer see it and cannot order. Past orders and earnings stay readable. To stop orders for a while, untick “Taking orders” instead.</p>
      <ConfirmDelete what={shop.name} busy={a.busy} onConfirm={() => a.run(async () => (await call(api.DELETE("/api/v1/shops/{id}", { params: { path: { id: shop.id } } })), await refreshShop(), location.assign("/vendor")))} />
      <ErrorBox error={a.error} />
    </section>
  );
}

function AnnouncementRow({ n, product, onChange }: { n: S["AnnouncementView"]; product?: string; onChange: () => void }) {
  const a = useAction();
  const remove = () =>
    a.run(async () => {
      await call(api.DELETE("/api/v1/announcements/{id}", { params: { path: { id: n.id } } }));
      onChange();
    });
  return (
    <li class="card" data-testid={`announcement-${n.title}`}>
      <div class="row">
        <strong>{n.title}</strong>
        <ConfirmDelete what={`“${n.title}”`} busy={a.busy} onConfirm={remove} />
      </div>
      <p class="pre">{n.message}</p>
      <p class="muted">
        Posted {when(n.created_at)}
        {n.expires_at ? ` · until ${when(n.expires_at)}` : " · no expiry"}
        {product && ` · about ${product}`}
      </p>
      <ErrorBox error={a.error} />
    </li>
  );
}

/** Announcements students see on the shop's page: post, list, delete. */
export function Announcements() {
  const { shop } = useSession();
  const list = usePaged(
    (cursor) => (shop ? call(api.GET("/api/v1/shops/{id}/announcements", { params: { path: { id: shop.id }, query: { cursor } } })) : Promise.resolve({ items: [] })),
    [shop?.id],
  );
  const products = useLoad(() => (shop ? allPages((cursor) => call(api.GET("/api/v1/shops/{id}/products", { params: { path: { id: shop.id }, query: { cursor, limit: PAGE_MAX } } }))) : Promise.resolve([])), [shop?.id]);
  const blank = { title: "", message: "", product_id: "", expires: "" };
  const [f, setF] = useState(blank);
  const a = useAction();
  if (!shop) return <Skeleton />;
  const post = (e: Event) => {
    e.preventDefault();
    a.run(async () => {
      await call(
        api.POST("/api/v1/shops/{id}/announcements", {
          params: { path: { id: shop.id } },
          body: {
            title: f.title,
            message: f.message,
            product_id: f.product_id || undefined,
            // A local date and time from the input; the server keeps UTC.
            expires_at: f.expires ? new Date(f.expires).toISOString() : undefined,
          },
        }),
      );
      setF(blank);
      list.reload();
    });
  };
  const names = new Map((products.data ?? []).map((p) => [p.id, p.name]));
  return (
    <Page title="Announcements">
      <VendorNav />
      <Loaded load={list}>
        {(items) =>
          items.length === 0 ? (
            <p class="empty">No current announcements. Students see them on the shop's page until they expire.</p>
          ) : (
            <ul class="cards">
              {items.map((n) => (
                <AnnouncementRow key={n.id} n={n} product={n.product_id ? (names.get(n.product_id) ?? "a product no longer sold") : undefined} onChange={list.reload} />
              ))}
            </ul>
          )
        }
      </Loaded>
      <LoadMore list={list} />
      <h2>New announcement</h2>
      <form class="card form" onSubmit={post} aria-label="New announcement">
        <Field label="Title" name="a-title" value={f.title} onInput={(v) => setF({ ...f, title: v })} required maxLength={100} />
        <TextArea label="Message" name="a-message" value={f.message} onInput={(v) => setF({ ...f, message: v })} maxLength={1000} />
        <Select label="About a product (optional)" name="a-product" value={f.product_id} onChange={(v) => setF({ ...f, product_id: v })} options={[["", "None"], ...(products.data ?? []).map((p): [string, string] => [p.id, p.name])]} />
        <div class="field">
          <label for="f-a-expires">Expires (optional)</label>
          <input id="f-a-expires" name="a-expires" type="datetime-local" value={f.expires} onInput={(e) => setF({ ...f, expires: (e.target as HTMLInputElement).value })} />
          <small class="hint">Within a year; left empty, it stays until you delete it.</small>
        </div>
        <ErrorBox error={a.error} />
        <Button type="submit" busy={a.busy}>
          Post announcement
        </Button>
      </form>
    </Page>
  );
}
