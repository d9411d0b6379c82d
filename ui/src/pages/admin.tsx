// Admin screens (loaded on demand).
import { useLocation, useRoute } from "preact-iso";
import { useState } from "preact/hooks";
import { allPages, api, call, PAGE_MAX, Problem, type S } from "../api/client";
import { label, money, when } from "../format";
import { get, set } from "../state";
import { Alerts, Backups, Dashboard, MailOutbox, Metrics } from "./ops";
import { Badge, Button, Confirm, ErrorBox, Field, Loaded, LoadMore, Page, Select, statusTone, useAction, useLoad, usePaged } from "../ui";

const TABS: [string, string][] = [
  ["dashboard", "Dashboard"],
  ["shops", "Shops"],
  ["orders", "Orders"],
  ["users", "Users"],
  ["places", "Buildings & categories"],
  ["fee", "Platform fee"],
  ["broadcasts", "Broadcasts"],
  ["audit", "Audit log"],
  ["metrics", "Metrics"],
  ["alerts", "Alerts"],
  ["mail", "Mail outbox"],
  ["backups", "Backups"],
];

export function AdminHome() {
  const { params } = useRoute();
  const tab = params.tab || "dashboard";
  const title = TABS.find(([k]) => k === tab)?.[1] ?? "Admin";
  if (!get().me?.admin) return <Page title="Admin">Admins only.</Page>;
  return (
    <Page title={title}>
      <nav class="subnav" aria-label="Admin">
        {TABS.map(([k, l]) => (
          <a key={k} href={`/admin/${k}`} aria-current={k === tab ? "page" : undefined}>
            {l}
          </a>
        ))}
        <a href="/docs">API docs</a>
      </nav>
      {tab === "dashboard" && <Dashboard />}
      {tab === "shops" && <CampusShops />}
      {tab === "orders" && <AllOrders />}
      {tab === "users" && <Users />}
      {tab === "places" && (
        <>
          <NamedList kind="buildings" />
          <NamedList kind="categories" />
          <Reindex />
        </>
      )}
      {tab === "fee" && <Fee />}
      {tab === "broadcasts" && <Broadcasts />}
      {tab === "audit" && <Audit />}
      {tab === "metrics" && <Metrics />}
      {tab === "alerts" && <Alerts />}
      {tab === "mail" && <MailOutbox />}
      {tab === "backups" && <Backups />}
    </Page>
  );
}

/** Filters kept in the URL's query under `path`: reload and Back keep them. */
function useUrlFilters(path: string) {
  const { url, route } = useLocation();
  const f = new URLSearchParams(url.split("?")[1] ?? "");
  const param = (k: string) => f.get(k) ?? "";
  const setFilter = (k: string, v: string) => {
    const next = new URLSearchParams(f);
    if (v) next.set(k, v);
    else next.delete(k);
    const q = next.toString();
    route(q ? `${path}?${q}` : path);
  };
  return { url, param, setFilter };
}

const VERIFICATIONS = ["PENDING", "REQUIRES_ACTION", "VERIFIED", "REJECTED", "NOT_STARTED"] as const;

/**
 * Every shop on campus, the verification queue first: pending shops are
 * what an admin opens this tab for, so PENDING is the filter until another
 * is chosen ("ALL" drops it).
 */
function CampusShops() {
  const { url, param, setFilter } = useUrlFilters("/admin/shops");
  const status = param("verification") || "PENDING";
  const [text, setText] = useState(param("q"));
  const query = { verification: status === "ALL" ? undefined : (status as S["VerificationView"]), q: param("q") || undefined };
  const shops = usePaged((cursor) => call(api.GET("/api/v1/admin/shops", { params: { query: { ...query, cursor } } })), [url]);
  return (
    <>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          setFilter("q", text.trim());
        }}
      >
        <Field label="Shop, owner name or email" name="shops-q" type="search" value={text} onInput={setText} maxLength={100} />
        <Select label="Status" name="verification" value={status} onChange={(v) => setFilter("verification", v === "PENDING" ? "" : v)} options={[["ALL", "All shops"], ...VERIFICATIONS.map((v): [string, string] => [v, label(v)])]} />
      </form>
      <Loaded load={shops} lines={4}>
        {(list) =>
          list.length === 0 ? (
            <p class="empty">{status === "PENDING" && !query.q ? "Nothing waiting." : "No shops match."}</p>
          ) : (
            <ul class="cards">
              {list.map((s) => (
                <AdminShopCard key={s.id} s={s} onDone={shops.reload} />
              ))}
            </ul>
          )
        }
      </Loaded>
      <LoadMore list={shops} />
    </>
  );
}

/**
 * One shop with what admins do to it: decide its verification, switch it
 * on or off for students, correct its details, delete it. Every change
 * goes out with the version the card shows (`If-Match`): a shop its owner
 * changed meanwhile is refused (412) and the list reloads.
 */
function AdminShopCard({ s, onDone }: { s: S["AdminShopView"]; onDone: () => void }) {
  const [note, setNote] = useState("");
  const [editing, setEditing] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [reason, setReason] = useState("");
  const a = useAction();
  const decide = (verification: S["DecisionView"]) =>
    a.run(async () => {
      await call(api.POST("/api/v1/admin/shops/{id}/decision", { params: { path: { id: s.id } }, body: { verification, note } }));
      onDone();
    });
  const patch = (body: S["UpdateShopRequest"]) =>
    a.run(async () => {
      try {
        await call(api.PATCH("/api/v1/shops/{id}", { params: { path: { id: s.id }, header: { "If-Match": s.version } }, body }));
      } catch (err) {
        if (err instanceof Problem && err.status === 412) onDone();
        throw err;
      }
      setEditing(false);
      onDone();
    });
  const remove = () =>
    a.run(async () => {
      await call(api.DELETE("/api/v1/shops/{id}", { params: { path: { id: s.id } }, body: reason.trim() ? { reason: reason.trim() } : {} }));
      onDone();
    });
  return (
    <li class="card" data-testid={`shop-${s.name}`}>
      <p>
        <strong>{s.name}</strong> <Badge tone={statusTone(s.verification)}>{label(s.verification)}</Badge> {!s.active && <Badge tone="warn">inactive</Badge>}
      </p>
      <p class="muted">
        {label(s.shop_type)} · {s.location} · delivery {money(s.delivery_fee)}
      </p>
      <p>{s.description}</p>
      <p>
        Owner: {s.owner_name ?? "?"} · {s.owner_email ?? "?"}
      </p>
      {s.verification === "PENDING" && (
        <>
          <Field label={`Note to the owner of ${s.name}`} name={`note-${s.id}`} value={note} onInput={setNote} maxLength={500} />
          <div class="actions">
            <Button busy={a.busy} onClick={() => decide("VERIFIED")}>
              Verify
            </Button>
            <Button kind="secondary" busy={a.busy} onClick={() => decide("REQUIRES_ACTION")}>
              Ask for changes
            </Button>
            <Button kind="danger" busy={a.busy} onClick={() => decide("REJECTED")}>
              Reject
            </Button>
          </div>
        </>
      )}
      <div class="actions">
        <a href={`/admin/shops/${s.id}`}>Moderate products and reviews</a>
        {s.active ? (
          <Confirm kind="secondary" busy={a.busy} aria-label={`Deactivate ${s.name}`} question={`Hide ${s.name} from students? Its owner is told.`} yes="Yes, deactivate" onConfirm={() => patch({ active: false })}>
            Deactivate
          </Confirm>
        ) : (
          <Button kind="secondary" busy={a.busy} aria-label={`Activate ${s.name}`} onClick={() => patch({ active: true })}>
            Activate
          </Button>
        )}
        {!editing && (
          <Button kind="secondary" aria-label={`Edit ${s.name}`} onClick={() => setEditing(true)}>
            Edit
          </Button>
        )}
        {!deleting && (
          <Button kind="danger" aria-label={`Delete ${s.name}`} onClick={() => setDeleting(true)}>
            Delete…
          </Button>
        )}
      </div>
      {editing && <ShopDetailsForm s={s} busy={a.busy} onSave={patch} onCancel={() => setEditing(false)} />}
      {deleting && (
        <div class="card form" role="group" aria-label={`Delete ${s.name}`}>
          <p>Students stop seeing {s.name} and its owner may open a new shop; its orders keep their history. Refused while an order is unfinished.</p>
          <Field label="Reason (told to the owner, kept in the audit log)" name={`delete-reason-${s.id}`} value={reason} onInput={setReason} maxLength={500} />
          <div class="actions">
            <Confirm busy={a.busy} question={`Delete ${s.name}?`} yes="Yes, delete the shop" onConfirm={remove}>
              Delete {s.name}
            </Confirm>
            <Button kind="secondary" onClick={() => setDeleting(false)}>
              Keep the shop
            </Button>
          </div>
        </div>
      )}
      <ErrorBox error={a.error} />
    </li>
  );
}

/** The shop's name, description and location, filled from the loaded record; sends only what changed. */
function ShopDetailsForm({ s, busy, onSave, onCancel }: { s: S["AdminShopView"]; busy: boolean; onSave: (body: S["UpdateShopRequest"]) => void; onCancel: () => void }) {
  const [f, setF] = useState({ name: s.name, description: s.description, location: s.location });
  const changes = Object.fromEntries(Object.entries(f).filter(([k, v]) => v !== s[k as keyof typeof f])) as S["UpdateShopRequest"];
  return (
    <form
      class="card form"
      aria-label={`Details of ${s.name}`}
      onSubmit={(e) => {
        e.preventDefault();
        onSave(changes);
      }}
    >
      <Field label="Shop name" name={`name-${s.id}`} value={f.name} onInput={(v) => setF({ ...f, name: v })} required maxLength={80} />
      <Field label="Description" name={`description-${s.id}`} value={f.description} onInput={(v) => setF({ ...f, description: v })} maxLength={1000} />
      <Field label="Location" name={`location-${s.id}`} value={f.location} onInput={(v) => setF({ ...f, location: v })} maxLength={200} />
      <p class="muted">The owner is told that an admin changed their shop.</p>
      <div class="actions">
        <Button type="submit" busy={busy} disabled={Object.keys(changes).length === 0}>
          Save details
        </Button>
        <Button kind="secondary" onClick={onCancel}>
          Cancel
        </Button>
      </div>
    </form>
  );
}

/**
 * A shop's content as admins moderate it: its products, announcements and
 * reviews, each removable after a confirmation; removing a review needs a
 * reason, which its author is told.
 */
export function AdminShopPage() {
  const { params } = useRoute();
  const id = params.id;
  const shop = useLoad(() => call(api.GET("/api/v1/shops/{id}", { params: { path: { id } } })), [id]);
  if (!get().me?.admin) return <Page title="Shop">Admins only.</Page>;
  const name = shop.data?.name ?? "this shop";
  return (
    <Page title={shop.data ? `Moderate ${shop.data.name}` : "Moderate a shop"}>
      <a href="/admin/shops?verification=ALL">← Shops</a>
      <Loaded load={shop}>
        {(s) => (
          <p class="muted">
            <Badge tone={statusTone(s.verification)}>{label(s.verification)}</Badge> {!s.active && <Badge tone="warn">inactive</Badge>} {label(s.shop_type)} · {s.location}
          </p>
        )}
      </Loaded>
      <ShopProducts id={id} shop={name} />
      <ShopAnnouncements id={id} shop={name} />
      <ShopReviews id={id} />
    </Page>
  );
}

function ShopProducts({ id, shop }: { id: string; shop: string }) {
  const products = usePaged((cursor) => call(api.GET("/api/v1/shops/{id}/products", { params: { path: { id }, query: { cursor } } })), [id]);
  const a = useAction();
  const remove = (pid: string) => a.run(async () => (await call(api.DELETE("/api/v1/products/{id}", { params: { path: { id: pid } } })), products.reload()));
  return (
    <section aria-labelledby="mod-products">
      <h2 id="mod-products">Products</h2>
      <Loaded load={products}>
        {(list) => (
          <ul class="list">
            {list.length === 0 && <li class="empty">No products.</li>}
            {list.map((p) => (
              <li key={p.id} class="row" data-testid={`mod-product-${p.name}`}>
                <span>
                  {p.name} · {money(p.price)} · {p.stock} in stock
                </span>
                <Confirm busy={a.busy} aria-label={`Remove ${p.name}`} question={`Remove ${p.name} from ${shop}? The owner is told.`} yes="Yes, remove" onConfirm={() => remove(p.id)}>
                  Remove
                </Confirm>
              </li>
            ))}
          </ul>
        )}
      </Loaded>
      <LoadMore list={products} />
      <ErrorBox error={a.error} />
    </section>
  );
}
function ShopAnnouncements({ id, shop }: { id: string; shop: string }) {
  const list = usePaged((cursor) => call(api.GET("/api/v1/shops/{id}/announcements", { params: { path: { id }, query: { cursor } } })), [id]);
  const a = useAction();
  const remove = (aid: string) => a.run(async () => (await call(api.DELETE("/api/v1/announcements/{id}", { params: { path: { id: aid } } })), list.reload()));
  return (
    <section aria-labelledby="mod-announcements">
      <h2 id="mod-announcements">Announcements</h2>
      <Loaded load={list}>
        {(items) => (
          <ul class="list">
            {items.length === 0 && <li class="empty">No current announcements.</li>}
            {items.map((x) => (
              <li key={x.id} class="row">
                <span>
                  <strong>{x.title}</strong> · {x.message}
                  <br />
                  <span class="muted">{when(x.created_at)}</span>
                </span>
                <Confirm busy={a.busy} aria-label={`Remove the announcement ${x.title}`} question={`Remove “${x.title}” from ${shop}? The owner is told.`} yes="Yes, remove" onConfirm={() => remove(x.id)}>
                  Remove
                </Confirm>
              </li>
            ))}
          </ul>
        )}
      </Loaded>
      <LoadMore list={list} />
      <ErrorBox error={a.error} />
    </section>
  );
}

function ShopReviews({ id }: { id: string }) {
  const reviews = usePaged((cursor) => call(api.GET("/api/v1/admin/shops/{id}/reviews", { params: { path: { id }, query: { cursor } } })), [id]);
  const [removing, setRemoving] = useState<string | null>(null);
  const [reason, setReason] = useState("");
  const a = useAction();
  const remove = (rid: string) =>
    a.run(async () => {
      await call(api.DELETE("/api/v1/admin/reviews/{id}", { params: { path: { id: rid } }, body: { reason: reason.trim() } }));
      setRemoving(null);
      setReason("");
      reviews.reload();
    });
  return (
    <section aria-labelledby="mod-reviews">
      <h2 id="mod-reviews">Reviews</h2>
      <Loaded load={reviews}>
        {(list) => (
          <ul class="cards">
            {list.length === 0 && <li class="empty">No reviews.</li>}
            {list.map((r) => (
              <li key={r.id} class="card" data-testid={`mod-review-${r.id}`}>
                <p>
                  <strong>{"★".repeat(r.rating)}</strong> {r.product_name} · by{" "}
                  <a href={`/admin/users/${r.author_id}`}>{r.author_name}</a> · <span class="muted">{when(r.created_at)}</span>
                </p>
                {r.comment && <p>“{r.comment}”</p>}
                {removing === r.id ? (
                  <div class="form" role="group" aria-label={`Remove the review by ${r.author_name}`}>
                    <Field label="Reason (told to the author, kept in the audit log)" name={`review-reason-${r.id}`} value={reason} onInput={setReason} maxLength={500} required />
                    <div class="actions">
                      <Confirm busy={a.busy} disabled={!reason.trim()} question={`Remove this review of ${r.product_name}? Its rating leaves the product's average.`} yes="Yes, remove the review" onConfirm={() => remove(r.id)}>
                        Remove review
                      </Confirm>
                      <Button kind="secondary" onClick={() => setRemoving(null)}>
                        Keep the review
                      </Button>
                    </div>
                  </div>
                ) : (
                  <Button kind="danger" aria-label={`Remove the review by ${r.author_name}`} onClick={() => (setRemoving(r.id), setReason(""))}>
                    Remove…
                  </Button>
                )}
              </li>
            ))}
          </ul>
        )}
      </Loaded>
      <LoadMore list={reviews} />
      <ErrorBox error={a.error} />
    </section>
  );
}

const ORDER_STATUSES: S["OrderStatusView"][] = ["NEW", "BATCHED", "OUT_FOR_DELIVERY", "COMPLETED", "DELIVERY_FAILED", "CANCELLED", "RESCHEDULED"];

/** Every order on campus, filtered; the filters live in the URL. */
function AllOrders() {
  const { url, param, setFilter } = useUrlFilters("/admin/orders");
  const shops = useLoad(() => allPages((cursor) => call(api.GET("/api/v1/shops", { params: { query: { cursor, limit: PAGE_MAX } } }))), []);
  const [text, setText] = useState(param("q"));
  const query = {
    status: (param("status") || undefined) as S["OrderStatusView"] | undefined,
    shop: param("shop") || undefined,
    from: param("from") || undefined,
    to: param("to") || undefined,
    q: param("q") || undefined,
  };
  const orders = usePaged((cursor) => call(api.GET("/api/v1/admin/orders", { params: { query: { ...query, cursor } } })), [url]);
  const [open, setOpen] = useState<string | null>(null);
  return (
    <>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          setFilter("q", text.trim());
        }}
      >
        <Field label="Order, student name or email" name="orders-q" type="search" value={text} onInput={setText} maxLength={100} />
        <Select label="Status" name="orders-status" value={param("status")} onChange={(v) => setFilter("status", v)} options={[["", "Every status"], ...ORDER_STATUSES.map((st): [string, string] => [st, label(st)])]} />
        <Select label="Shop" name="orders-shop" value={param("shop")} onChange={(v) => setFilter("shop", v)} options={[["", "Every shop"], ...(shops.data ?? []).map((x): [string, string] => [x.id, x.name])]} />
        <Field label="Placed from" name="orders-from" type="date" value={param("from")} onInput={(v) => setFilter("from", v)} />
        <Field label="Placed until" name="orders-to" type="date" value={param("to")} onInput={(v) => setFilter("to", v)} />
      </form>
      <Loaded load={orders} lines={6}>
        {(list) => (
          <ul class="cards">
            {list.length === 0 && <li class="empty">No orders match.</li>}
            {list.map((o) => (
              <li key={o.id} class="card" data-testid={`admin-order-${o.display_id}`}>
                <p>
                  <strong>{o.display_id}</strong> <Badge tone={statusTone(o.status)}>{label(o.status)}</Badge> · {money(o.total)}
                  <br />
                  <span class="muted">
                    {o.shop_name} · {o.student_name} ({o.student_email}) · {when(o.created_at)}
                  </span>
                </p>
                <Button kind="secondary" onClick={() => setOpen(open === o.id ? null : o.id)} aria-expanded={open === o.id}>
                  {open === o.id ? "Close" : "Details"}
                </Button>
                {open === o.id && <AdminOrderDetail o={o} onDone={orders.reload} />}
              </li>
            ))}
          </ul>
        )}
      </Loaded>
      <LoadMore list={orders} label="Older orders" />
    </>
  );
}

/** An order's items, address and timeline, and the audited status override. */
function AdminOrderDetail({ o, onDone }: { o: S["AdminOrderView"]; onDone: () => void }) {
  const [status, setStatus] = useState<S["OrderStatusView"]>(o.status === "CANCELLED" ? "COMPLETED" : "CANCELLED");
  const [reason, setReason] = useState("");
  const a = useAction();
  return (
    <div class="form">
      <ul class="list compact">
        {o.items.map((it) => (
          <li key={it.product_id}>
            {it.quantity} × {it.name} · {money(it.line_total)}
          </li>
        ))}
      </ul>
      <p class="muted">
        To {o.address.building_name}, room {o.address.room} · {o.payment_method === "UPI" ? "UPI" : "cash"} ({label(o.payment_status)}){o.notes && ` · “${o.notes}”`}
      </p>
      <ol class="list compact" aria-label={`Timeline of ${o.display_id}`}>
        {o.transitions.map((t) => (
          <li key={t.at + t.status}>
            {label(t.status)} · {when(t.at)}
          </li>
        ))}
      </ol>
      {(o.cancellation_reason || o.failure_reason) && <p>Reason: {o.cancellation_reason ?? o.failure_reason}</p>}
      <div class="card" role="group" aria-label={`Override the status of ${o.display_id}`}>
        <p>
          <strong>Override the status.</strong> Outside the normal flow: the reason goes to the audit log and the student and the shop are told.
        </p>
        <Select label="New status" name={`override-${o.id}`} value={status} onChange={(v) => setStatus(v as S["OrderStatusView"])} options={ORDER_STATUSES.filter((st) => st !== o.status).map((st): [string, string] => [st, label(st)])} />
        <Field label="Reason" name={`override-reason-${o.id}`} value={reason} onInput={setReason} maxLength={500} required />
        <Confirm
          busy={a.busy}
          disabled={!reason.trim()}
          question={`Set ${o.display_id} to ${label(status)}?`}
          yes="Yes, set it"
          onConfirm={() => a.run(async () => (await call(api.POST("/api/v1/admin/orders/{id}/status", { params: { path: { id: o.id } }, body: { status, reason: reason.trim() } })), onDone()))}
        >
          Set status
        </Confirm>
        <ErrorBox error={a.error} />
      </div>
    </div>
  );
}

type UserAct = "suspend" | "unsuspend" | "ban" | "sign-out" | "make-admin" | "remove-admin";

/** Calls one user action; a reason goes along when given. */
function userAction(id: string, what: UserAct, reason?: string) {
  const p = { params: { path: { id } }, body: reason ? { reason } : {} };
  const calls = {
    suspend: () => api.POST("/api/v1/admin/users/{id}/suspend", p),
    unsuspend: () => api.POST("/api/v1/admin/users/{id}/unsuspend", p),
    ban: () => api.POST("/api/v1/admin/users/{id}/ban", p),
    "sign-out": () => api.POST("/api/v1/admin/users/{id}/sign-out", p),
    "make-admin": () => api.POST("/api/v1/admin/users/{id}/make-admin", p),
    "remove-admin": () => api.POST("/api/v1/admin/users/{id}/remove-admin", p),
  };
  return call(calls[what]() as Promise<{ data?: unknown; error?: unknown; response: Response }>);
}

/**
 * The actions that make sense for the user as they are: a banned account
 * has none but signing out (a ban is final); suspend or unsuspend by
 * status; admin rights only for an active account. Ban asks for a reason
 * and a confirmation.
 */
function UserActions({ u, onDone }: { u: S["AdminUser"]; onDone: () => void }) {
  const [reason, setReason] = useState("");
  const [banning, setBanning] = useState(false);
  const a = useAction();
  const act = (what: UserAct, why?: string) => a.run(async () => (await userAction(u.id, what, why), setBanning(false), onDone()));
  const banned = u.status === "BANNED";
  return (
    <>
      <div class="actions">
        {u.status === "ACTIVE" && (
          <Confirm kind="secondary" busy={a.busy} question={`Suspend ${u.name}? They are signed out everywhere until unsuspended.`} yes="Yes, suspend" onConfirm={() => act("suspend")}>
            Suspend
          </Confirm>
        )}
        {u.status === "SUSPENDED" && (
          <Button kind="secondary" busy={a.busy} onClick={() => act("unsuspend")}>
            Unsuspend
          </Button>
        )}
        {!banned && !banning && (
          <Button kind="danger" busy={a.busy} onClick={() => setBanning(true)}>
            Ban…
          </Button>
        )}
        <Button kind="secondary" busy={a.busy} onClick={() => act("sign-out")}>
          Sign out everywhere
        </Button>
        {u.status === "ACTIVE" && !u.admin && (
          <Confirm kind="secondary" busy={a.busy} question={`Make ${u.name} an admin? They can change everything on campus.`} yes="Yes, make admin" onConfirm={() => act("make-admin")}>
            Make admin
          </Confirm>
        )}
        {u.admin && (
          <Confirm kind="secondary" busy={a.busy} question={`Remove ${u.name}'s admin rights?`} yes="Yes, remove" onConfirm={() => act("remove-admin")}>
            Remove admin
          </Confirm>
        )}
      </div>
      {banning && (
        <div class="card form" role="group" aria-label={`Ban ${u.name}`}>
          <p>
            <strong>A ban cannot be lifted.</strong> {u.name} is signed out everywhere, can never sign in again, and loses any admin rights.
          </p>
          <Field label="Reason (kept in the audit log)" name={`ban-reason-${u.id}`} value={reason} onInput={setReason} maxLength={500} required />
          <div class="actions">
            <Button kind="danger" busy={a.busy} disabled={!reason.trim()} onClick={() => act("ban", reason.trim())}>
              Ban {u.name}
            </Button>
            <Button kind="secondary" onClick={() => setBanning(false)}>
              Keep the account
            </Button>
          </div>
        </div>
      )}
      <ErrorBox error={a.error} />
    </>
  );
}

const USER_FILTERS: [string, string][] = [
  ["", "Every status"],
  ["ACTIVE", "Active"],
  ["SUSPENDED", "Suspended"],
  ["BANNED", "Banned"],
];

const USER_ROLES: [string, string][] = [
  ["", "Every role"],
  ["STUDENT", "Students only"],
  ["VENDOR", "Vendors"],
  ["RUNNER", "Runners"],
  ["ADMIN", "Admins"],
];

/**
 * Users by text (as typed), status and role (both kept in the URL).
 * "Students only" have no shop, no place on a shop's staff and no admin
 * rights; the other roles overlap.
 */
function Users() {
  const { url, param, setFilter } = useUrlFilters("/admin/users");
  const [q, setQ] = useState("");
  const query = { q: q || undefined, status: (param("status") || undefined) as S["UserStatusView"] | undefined, role: (param("role") || undefined) as S["UserRoleView"] | undefined };
  const users = usePaged((cursor) => call(api.GET("/api/v1/admin/users", { params: { query: { ...query, cursor } } })), [q, url]);
  return (
    <>
      <div class="filters">
        <Field label="Search by email or name" name="q" type="search" value={q} onInput={setQ} />
        <Select label="Status" name="status" value={param("status")} onChange={(v) => setFilter("status", v)} options={USER_FILTERS} />
        <Select label="Role" name="role" value={param("role")} onChange={(v) => setFilter("role", v)} options={USER_ROLES} />
      </div>
      <Loaded load={users} lines={6}>
        {(list) => (
          <ul class="cards">
            {list.length === 0 && <li class="empty">No users match.</li>}
            {list.map((u) => (
              <li key={u.id} class="card" data-testid={`user-${u.email}`}>
                <p>
                  <a href={`/admin/users/${u.id}`}>
                    <strong>{u.name}</strong>
                  </a>{" "}
                  · {u.email} <Badge tone={statusTone(u.status)}>{label(u.status)}</Badge> {u.admin && <Badge>admin</Badge>}
                </p>
                <UserActions u={u} onDone={users.reload} />
              </li>
            ))}
          </ul>
        )}
      </Loaded>
      <LoadMore list={users} />
    </>
  );
}

/** One user: who they are, what they run, their devices, orders and audit trail. */
export function AdminUserPage() {
  const { params } = useRoute();
  const id = params.id;
  const detail = useLoad(() => call(api.GET("/api/v1/admin/users/{id}", { params: { path: { id } } })), [id]);
  if (!get().me?.admin) return <Page title="User">Admins only.</Page>;
  return (
    <Page title={detail.data ? detail.data.name : "User"}>
      <a href="/admin/users">← Users</a>
      <Loaded load={detail} lines={8}>
        {(u) => (
          <>
            <div class="card">
              <p>
                {u.email} {u.phone && `· ${u.phone}`} <Badge tone={statusTone(u.status)}>{label(u.status)}</Badge> {u.admin && <Badge>admin</Badge>} {!u.email_verified && <Badge>email not confirmed</Badge>}
              </p>
              <p class="muted">
                Joined {when(u.created_at)} · {u.sessions} signed-in device{u.sessions === 1 ? "" : "s"} · {u.order_count} order{u.order_count === 1 ? "" : "s"}
                {u.shop && ` · owns ${u.shop.name}`}
                {u.runner_for.length > 0 && ` · runs for ${u.runner_for.map((s) => s.name).join(", ")}`}
              </p>
              <UserActions u={u} onDone={detail.reload} />
            </div>
            <h2>Newest orders</h2>
            {u.recent_orders.length === 0 ? (
              <p class="empty">No orders.</p>
            ) : (
              <ul class="list">
                {u.recent_orders.map((o) => (
                  <li key={o.id} class="row">
                    <span>
                      {o.display_id} · {when(o.created_at)}
                    </span>
                    <span>
                      <Badge tone={statusTone(o.status)}>{label(o.status)}</Badge> {money(o.total)}
                    </span>
                  </li>
                ))}
              </ul>
            )}
            <h2>Audit trail</h2>
            {u.audit.length === 0 ? (
              <p class="empty">Nothing recorded.</p>
            ) : (
              <ul class="list" aria-label="Audit trail">
                {u.audit.map((e) => (
                  <li key={e.id}>
                    <strong>{e.action}</strong> · {when(e.at)} {e.actor_id === u.id ? "(by them)" : ""}
                    <br />
                    <span class="muted">{e.details}</span>
                  </li>
                ))}
              </ul>
            )}
          </>
        )}
      </Loaded>
    </Page>
  );
}

function NamedList({ kind }: { kind: "buildings" | "categories" }) {
  const list = useLoad(
    () =>
      allPages((cursor) => {
        const q = { params: { query: { cursor, limit: PAGE_MAX } } };
        return call(kind === "buildings" ? api.GET("/api/v1/buildings", q) : api.GET("/api/v1/categories", q));
      }),
    [kind],
  );
  const [name, setName] = useState("");
  const a = useAction();
  const add = (e: Event) => {
    e.preventDefault();
    a.run(async () => {
      await call(kind === "buildings" ? api.POST("/api/v1/admin/buildings", { body: { name } }) : api.POST("/api/v1/admin/categories", { body: { name } }));
      setName("");
      list.reload();
    });
  };
  const remove = (id: string) =>
    a.run(async () => {
      const p = { params: { path: { id } } };
      await call(kind === "buildings" ? api.DELETE("/api/v1/admin/buildings/{id}", p) : api.DELETE("/api/v1/admin/categories/{id}", p));
      list.reload();
    });
  const [editing, setEditing] = useState<{ id: string; name: string } | null>(null);
  const rename = (e: Event) => {
    e.preventDefault();
    if (!editing) return;
    a.run(async () => {
      const p = { params: { path: { id: editing.id } }, body: { name: editing.name } };
      await call(kind === "buildings" ? api.PATCH("/api/v1/admin/buildings/{id}", p) : api.PATCH("/api/v1/admin/categories/{id}", p));
      setEditing(null);
      list.reload();
    });
  };
  const title = kind === "buildings" ? "Buildings" : "Categories";
  return (
    <section>
      <h2>{title}</h2>
      <Loaded load={list}>
        {(items) => (
          <ul class="list">
            {items.map((x) =>
              editing?.id === x.id ? (
                <li key={x.id}>
                  <form class="inline-form" onSubmit={rename}>
                    <Field label={`New name for ${x.name}`} name={`rename-${x.id}`} value={editing.name} onInput={(v) => setEditing({ id: x.id, name: v })} required maxLength={100} />
                    <Button type="submit" busy={a.busy} disabled={!editing.name.trim() || editing.name === x.name}>
                      Rename
                    </Button>
                    <Button kind="secondary" onClick={() => setEditing(null)}>
                      Cancel
                    </Button>
                  </form>
                </li>
              ) : (
                <li key={x.id} class="row">
                  {x.name}
                  <span class="actions">
                    <Button kind="secondary" aria-label={`Rename ${x.name}`} onClick={() => setEditing({ id: x.id, name: x.name })}>
                      Rename
                    </Button>
                    <Confirm kind="danger" busy={a.busy} aria-label={`Delete ${x.name}`} question={`Delete ${x.name}?`} yes="Yes, delete" onConfirm={() => remove(x.id)}>
                      Delete
                    </Confirm>
                  </span>
                </li>
              ),
            )}
          </ul>
        )}
      </Loaded>
      <form class="inline-form" onSubmit={add}>
        <Field label={`New ${kind === "buildings" ? "building" : "category"}`} name={`new-${kind}`} value={name} onInput={setName} required maxLength={100} />
        <Button type="submit" busy={a.busy}>
          Add
        </Button>
      </form>
      <ErrorBox error={a.error} />
    </section>
  );
}

/** Rebuilds the search index from the store (searches wait until it is done). */
function Reindex() {
  const [report, setReport] = useState<S["ReindexReport"] | null>(null);
  const a = useAction();
  return (
    <section aria-labelledby="reindex-h">
      <h2 id="reindex-h">Search index</h2>
      <p class="muted">Rebuild it if search misses something that is there. Searches wait a moment while it runs.</p>
      <Confirm kind="secondary" busy={a.busy} question="Rebuild the search index now?" yes="Yes, rebuild" onConfirm={() => a.run(async () => setReport(await call(api.POST("/api/v1/admin/search/reindex"))))}>
        Rebuild the search index
      </Confirm>
      {report && (
        <p role="status">
          Rebuilt in {report.millis} ms: {report.products} products, {report.shops} shops, {report.orders} orders, {report.users} users.
        </p>
      )}
      <ErrorBox error={a.error} />
    </section>
  );
}

function Fee() {
  const settings = useLoad(() => call(api.GET("/api/v1/admin/settings")), []);
  const [fee, setFee] = useState<string | null>(null);
  const a = useAction();
  const save = (e: Event) => {
    e.preventDefault();
    a.run(async () => {
      const s = await call(api.PUT("/api/v1/admin/settings", { body: { platform_fee: Math.round(Number(fee) * 100) } }));
      const fees = get().fees;
      if (fees) set({ fees: { ...fees, platform_fee: s.platform_fee } });
      settings.reload();
    });
  };
  return (
    <Loaded load={settings}>
      {(s) => (
        <form class="card form" onSubmit={save}>
          <p>
            Now {money(s.platform_fee)} per order{s.updated_at && `, changed ${when(s.updated_at)}`}. Orders keep the fee they were placed with.
          </p>
          <Field label="Platform fee per order" name="platform_fee" type="number" inputMode="decimal" min={0} value={fee ?? String(s.platform_fee / 100)} onInput={setFee} />
          <ErrorBox error={a.error} />
          <Button type="submit" busy={a.busy}>
            Save fee
          </Button>
        </form>
      )}
    </Loaded>
  );
}

function Broadcasts() {
  const [f, setF] = useState({ title: "", message: "", audience: "ALL" });
  const [sent, setSent] = useState("");
  const a = useAction();
  const send = (e: Event) => {
    e.preventDefault();
    a.run(async () => {
      await call(api.POST("/api/v1/admin/broadcasts", { body: { title: f.title, message: f.message, audience: f.audience as S["AudienceView"] } }));
      setSent(`Sent “${f.title}”.`);
      setF({ ...f, title: "", message: "" });
    });
  };
  return (
    <form class="card form" onSubmit={send}>
      <Field label="Title" name="b-title" value={f.title} onInput={(v) => setF({ ...f, title: v })} required maxLength={100} />
      <Field label="Message" name="b-message" value={f.message} onInput={(v) => setF({ ...f, message: v })} required maxLength={1000} />
      <Select label="To" name="b-audience" value={f.audience} onChange={(v) => setF({ ...f, audience: v })} options={(["ALL", "STUDENTS", "VENDORS", "RUNNERS", "ADMINS"] as const).map((v): [string, string] => [v, label(v)])} />
      <ErrorBox error={a.error} />
      {sent && <p role="status">{sent}</p>}
      <Button type="submit" busy={a.busy}>
        Send broadcast
      </Button>
    </form>
  );
}

/** Campus-day bounds for the date filter, as RFC 3339 instants. */
function dayBound(date: string, end: boolean): string | undefined {
  if (!date) return undefined;
  const d = new Date(`${date}T${end ? "23:59:59.999" : "00:00:00"}`);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/**
 * The audit log with names for its ids, filtered by actor, action, target
 * and dates; the filters live in the URL (reload and Back keep them), and a
 * click on a name filters by it.
 */
function Audit() {
  const { url, param, setFilter } = useUrlFilters("/admin/audit");
  const query = { actor: param("actor") || undefined, action: param("action") || undefined, target: param("target") || undefined, from: dayBound(param("from"), false), to: dayBound(param("to"), true) };
  const audit = usePaged((cursor) => call(api.GET("/api/v1/admin/audit", { params: { query: { ...query, cursor } } })), [url]);
  const [action, setAction] = useState(param("action"));
  const chip = (k: string, text: string) => (
    <button type="button" class="linkish" onClick={() => setFilter(k, "")} aria-label={`Clear the ${k} filter`}>
      {text} ✕
    </button>
  );
  return (
    <>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          setFilter("action", action.trim());
        }}
      >
        <Field label="Action (exact, e.g. user.ban)" name="audit-action" value={action} onInput={setAction} maxLength={64} />
        <Field label="From" name="audit-from" type="date" value={param("from")} onInput={(v) => setFilter("from", v)} />
        <Field label="To" name="audit-to" type="date" value={param("to")} onInput={(v) => setFilter("to", v)} />
      </form>
      {(param("actor") || param("target") || param("action")) && (
        <p class="actions" aria-label="Filters">
          {param("actor") && chip("actor", `by ${param("actor")}`)}
          {param("target") && chip("target", `about ${param("target")}`)}
          {param("action") && chip("action", param("action"))}
        </p>
      )}
      <Loaded load={audit} lines={8}>
        {(items) =>
          items.length === 0 ? (
            <p class="empty">No entries match.</p>
          ) : (
            <div class="table-wrap" tabIndex={0} role="region" aria-label="Audit log entries">
              <table class="audit">
                <thead>
                  <tr>
                    <th scope="col">When</th>
                    <th scope="col">Who</th>
                    <th scope="col">Action</th>
                    <th scope="col">Target</th>
                    <th scope="col">Details</th>
                    <th scope="col">From</th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((e) => (
                    <tr key={e.id}>
                      <td>{when(e.at)}</td>
                      <td>
                        {e.actor_id ? (
                          <button type="button" class="linkish" title={e.actor_id} onClick={() => setFilter("actor", e.actor_id ?? "")}>
                            {e.actor_name ?? e.actor_id}
                          </button>
                        ) : (
                          "server console"
                        )}
                      </td>
                      <td>
                        <button type="button" class="linkish" onClick={() => (setAction(e.action), setFilter("action", e.action))}>
                          {e.action}
                        </button>
                      </td>
                      <td>
                        <button type="button" class="linkish" title={e.target} onClick={() => setFilter("target", e.target)}>
                          {e.target_name ?? e.target}
                        </button>
                      </td>
                      <td>{e.details}</td>
                      <td>{e.ip}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </Loaded>
      <LoadMore list={audit} label="Older entries" />
    </>
  );
}
