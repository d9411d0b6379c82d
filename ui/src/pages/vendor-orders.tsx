// The vendor's orders desk (loaded on demand): every order of the shop with
// its filters kept in the URL, one order's whole story (student, items,
// timeline, chat, receipt) with the actions its state allows, and the chat
// inbox. `OrderActions` is the one place an order is acted on: the batch
// page, the dashboard and the order page all use it.
import { useLocation, useRoute } from "preact-iso";
import { useEffect, useRef, useState } from "preact/hooks";
import { api, call, type S } from "../api/client";
import { Chat } from "../chat";
import { label, money, time, when } from "../format";
import { subscribe } from "../live";
import { useSession } from "../state";
import { Badge, Button, ErrorBox, Field, Loaded, LoadMore, Page, Select, statusTone, useAction, useLoad, usePaged } from "../ui";

type Order = S["OrderView"];
type Status = S["OrderStatusView"];

const STATUSES: Status[] = ["NEW", "BATCHED", "OUT_FOR_DELIVERY", "COMPLETED", "DELIVERY_FAILED", "CANCELLED", "RESCHEDULED"];

export function VendorNav() {
  const { path } = useLocation();
  const link = (href: string, text: string) => {
    // A batch's page belongs to the dashboard; other screens own their sub-pages.
    const current = href === "/vendor" ? path === "/vendor" || path.startsWith("/vendor/batches/") : path === href || (href !== "/vendor/batches" && path.startsWith(`${href}/`));
    return (
      <a href={href} aria-current={current ? "page" : undefined}>
        {text}
      </a>
    );
  };
  return (
    <nav class="subnav" aria-label="Shop">
      {link("/vendor", "Dashboard")}
      {link("/vendor/orders", "Orders")}
      {link("/vendor/inbox", "Inbox")}
      {link("/vendor/batches", "Batch history")}
      {link("/vendor/earnings", "Earnings")}
      {link("/vendor/products", "Products")}
      {link("/vendor/slots", "Slots")}
      {link("/vendor/announcements", "Announcements")}
      {link("/vendor/settings", "Shop settings")}
    </nav>
  );
}

/**
 * Calls `fn` after live events of the shop settle: events are hints to read
 * again (DECISIONS "Events are hints"), and a burst costs one read.
 */
export function useLiveReload(fn: () => void, wants: (e: Parameters<Parameters<typeof subscribe>[0]>[0]) => boolean, deps: unknown[] = []) {
  const latest = useRef(fn);
  latest.current = fn;
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const off = subscribe((e) => {
      if (!wants(e)) return;
      clearTimeout(timer);
      timer = setTimeout(() => latest.current(), 250);
    });
    return () => {
      clearTimeout(timer);
      off();
    };
  }, deps);
}

const OWNER_REGENERATIONS = 2;

type Ask = "cancel" | "reject" | "fail";
const ASKS: Record<Ask, { open: string; yes: string; no: string; why: string }> = {
  cancel: { open: "Cancel order…", yes: "Yes, cancel order", no: "Keep the order", why: "cancels" },
  reject: { open: "Reject…", yes: "Yes, reject order", no: "Keep the order", why: "rejects" },
  fail: { open: "Mark failed…", yes: "Yes, mark failed", no: "Keep it out for delivery", why: "marks failed" },
};

/**
 * The actions an order's state allows, for the shop's people: accept or
 * reject a direct order, cancel a NEW one, deliver with the OTP, and after
 * the lock fail, reschedule or make a new OTP. Cancel, reject and fail ask
 * first, in the page, with the reason the student will read.
 */
export function OrderActions({ o, owner, mine, onChange }: { o: Order; owner: boolean; mine: boolean; onChange: () => void }) {
  const [otp, setOtp] = useState("");
  const [ask, setAsk] = useState<Ask | null>(null);
  const [reason, setReason] = useState("");
  const a = useAction();
  const n = o.display_id;
  const p = { params: { path: { id: o.id } } };
  const act = (fn: () => Promise<unknown>) =>
    a.run(async () => {
      await fn();
      setAsk(null);
      setReason("");
      onChange();
    });
  const deliverable = o.status === "OUT_FOR_DELIVERY" && mine;
  const direct = !o.batch_id;
  const regensLeft = Math.max(0, OWNER_REGENERATIONS - o.otp_regenerations);
  const afterLock = ["BATCHED", "OUT_FOR_DELIVERY", "DELIVERY_FAILED"].includes(o.status);
  const confirm = (which: Ask) => {
    if (which === "fail") return act(() => call(api.POST("/api/v1/orders/{id}/fail", { ...p, body: { reason } })));
    return act(() => call(api.POST("/api/v1/orders/{id}/cancel", { ...p, body: { reason } })));
  };
  const deliver = (e: Event) => {
    e.preventDefault();
    a.run(async () => {
      await call(api.POST("/api/v1/orders/{id}/deliver", { ...p, body: { otp } }));
      setOtp("");
      onChange();
    });
  };
  return (
    <div class="order-actions">
      {deliverable && (
        <form class="inline-form" onSubmit={deliver} aria-label={`Deliver ${n}`}>
          <Field label={`OTP for ${n}`} name={`otp-${n}`} value={otp} onInput={(v) => setOtp(v.replace(/\D/g, ""))} inputMode="numeric" maxLength={8} required autoComplete="off" />
          <Button type="submit" busy={a.busy} disabled={otp.length < 4}>
            Delivered
          </Button>
        </form>
      )}
      {deliverable && o.otp_failures > 0 && (
        <p class="muted" role="status">
          {o.otp_failures} wrong {o.otp_failures === 1 ? "try" : "tries"} so far on this order. Ask the student to read the OTP from their own phone.
        </p>
      )}
      {owner && ask === null && (
        <div class="actions">
          {o.status === "NEW" && direct && (
            <Button busy={a.busy} onClick={() => act(() => call(api.POST("/api/v1/orders/{id}/accept", p)))} aria-label={`Accept ${n}`}>
              Accept
            </Button>
          )}
          {o.status === "NEW" && (
            <Button kind="danger" onClick={() => setAsk(direct ? "reject" : "cancel")} aria-label={`${direct ? "Reject" : "Cancel"} ${n}`}>
              {ASKS[direct ? "reject" : "cancel"].open}
            </Button>
          )}
          {o.status === "OUT_FOR_DELIVERY" && (
            <Button kind="danger" onClick={() => setAsk("fail")} aria-label={`Mark ${n} failed`}>
              {ASKS.fail.open}
            </Button>
          )}
          {afterLock && (
            <Button kind="secondary" busy={a.busy} onClick={() => act(() => call(api.POST("/api/v1/orders/{id}/reschedule", p)))}>
              Move to next batch
            </Button>
          )}
          {["BATCHED", "OUT_FOR_DELIVERY"].includes(o.status) && (
            <Button kind="secondary" busy={a.busy} disabled={regensLeft === 0} onClick={() => act(() => call(api.POST("/api/v1/orders/{id}/otp", { ...p, body: {} })))}>
              {regensLeft === 0 ? "New OTP: ask a campus admin" : `New OTP (${regensLeft} left)`}
            </Button>
          )}
        </div>
      )}
      {owner && ask !== null && (
        <div class="confirm-reason" role="group" aria-label={`Confirm: ${ASKS[ask].yes.replace("Yes, ", "")} ${n}`}>
          <p>
            <strong>{n}</strong>: the student is told why the shop {ASKS[ask].why} it.{ask !== "fail" && " Its items go back into stock."}
          </p>
          <Field label="Reason" name={`reason-${n}`} value={reason} onInput={setReason} maxLength={500} required />
          <div class="actions">
            <Button kind="danger" busy={a.busy} disabled={!reason.trim()} onClick={() => confirm(ask)}>
              {ASKS[ask].yes}
            </Button>
            <Button
              kind="secondary"
              onClick={() => {
                setAsk(null);
                a.setError(null);
              }}
            >
              {ASKS[ask].no}
            </Button>
          </div>
        </div>
      )}
      <ErrorBox error={a.error} />
    </div>
  );
}

/** "2 × Samosa, 1 × Tea" */
export function itemsLine(o: Order) {
  return o.items.map((i) => `${i.quantity} × ${i.name}`).join(", ");
}

/** One order in a list: a link to its page. */
export function OrderLink({ o }: { o: Order }) {
  return (
    <li class="card" data-testid={`row-${o.display_id}`}>
      <a href={`/vendor/orders/${o.id}`} class="card-link">
        <span class="row">
          <strong>{o.display_id}</strong> <Badge tone={statusTone(o.status)}>{label(o.status)}</Badge>
        </span>
        <span>
          {o.student?.name ?? "Student"} · {money(o.total)} · {o.batch_id ? "batch" : "direct"}
        </span>
        <span class="muted">
          {itemsLine(o)} · placed {when(o.created_at)}
        </span>
      </a>
    </li>
  );
}

type Filters = { status: string; from: string; to: string; q: string };

function filtersOf(query: Record<string, string>): Filters {
  return { status: query.status ?? "", from: query.from ?? "", to: query.to ?? "", q: query.q ?? "" };
}

/** The shop's orders, filtered by status, placed-on days and text; the filters live in the URL. */
export function VendorOrders() {
  const s = useSession();
  const shop = s.shop;
  const loc = useLocation();
  const applied = filtersOf(loc.query);
  const [form, setForm] = useState<Filters>(applied);
  // Back and Forward change the URL under the form: follow it.
  useEffect(() => setForm(applied), [loc.url]);
  const list = usePaged(
    (cursor) =>
      shop
        ? call(
            api.GET("/api/v1/shops/{id}/orders", {
              params: {
                path: { id: shop.id },
                query: {
                  cursor,
                  status: (applied.status || undefined) as Status | undefined,
                  from: applied.from || undefined,
                  to: applied.to || undefined,
                  q: applied.q || undefined,
                },
              },
            }),
          )
        : Promise.resolve({ items: [] as Order[] }),
    [shop?.id, applied.status, applied.from, applied.to, applied.q],
  );
  useLiveReload(list.reload, (e) => e.event === "shop.order", [shop?.id]);
  const apply = (e: Event) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(form)) if (v.trim()) q.set(k, v.trim());
    const qs = q.toString();
    loc.route(qs ? `/vendor/orders?${qs}` : "/vendor/orders");
  };
  const on = (k: keyof Filters) => (v: string) => setForm({ ...form, [k]: v });
  if (!shop) return <Page title="Orders">Only a shop's owner sees its orders here.</Page>;
  const filtered = Object.values(applied).some((v) => v);
  return (
    <Page title="Orders">
      <div class="desk">
        <VendorNav />
        <form class="card order-filters" onSubmit={apply} role="search" aria-label="Filter orders">
          <Field label="Search order, student, item" name="q" type="search" value={form.q} onInput={on("q")} maxLength={100} />
          <Select label="Status" name="status" value={form.status} onChange={on("status")} options={[["", "Any status"], ...STATUSES.map((x): [string, string] => [x, label(x)])]} />
          <div class="field">
            <label for="f-from">Placed from</label>
            <input id="f-from" name="from" type="date" value={form.from} onInput={(e) => on("from")((e.target as HTMLInputElement).value)} />
          </div>
          <div class="field">
            <label for="f-to">Placed until</label>
            <input id="f-to" name="to" type="date" value={form.to} onInput={(e) => on("to")((e.target as HTMLInputElement).value)} />
          </div>
          <div class="actions">
            <Button type="submit">Filter</Button>
            {filtered && (
              <a class="btn btn-secondary" href="/vendor/orders">
                Clear filters
              </a>
            )}
          </div>
        </form>
        <Loaded load={list} lines={5}>
          {(items) =>
            items.length === 0 ? (
              <p class="empty">{filtered ? "No orders match these filters." : "No orders yet."}</p>
            ) : (
              <ul class="cards" aria-label="Orders">
                {items.map((o) => (
                  <OrderLink key={o.id} o={o} />
                ))}
              </ul>
            )
          }
        </Loaded>
        <LoadMore list={list} />
      </div>
    </Page>
  );
}

/** One order for the shop: who, what, where, what happened, the chat and the actions. */
export function VendorOrder() {
  const { params } = useRoute();
  const id = params.id;
  const s = useSession();
  const order = useLoad(() => call(api.GET("/api/v1/orders/{id}", { params: { path: { id } } })), [id]);
  const batchId = order.data?.batch_id;
  const batch = useLoad(() => (batchId ? call(api.GET("/api/v1/batches/{id}", { params: { path: { id: batchId } } })) : Promise.resolve(null)), [batchId]);
  useLiveReload(
    () => {
      order.reload();
      batch.reload();
    },
    (e) => (e.event === "shop.order" && e.data.order_id === id) || e.event === "notification",
    [id],
  );
  const owner = !!s.shop && order.data?.shop_id === s.shop.id;
  const runner = batch.data?.runner_id;
  // Staff deliver the orders of a batch they claimed; the owner any.
  const mine = owner || (!!runner && runner === s.me?.id);
  return (
    <Page title={order.data ? `Order ${order.data.display_id}` : "Order"}>
      <div class="desk">
        <VendorNav />
        <Loaded load={order} lines={8}>
          {(o) => (
            <div class="order-detail">
              <div class="order-main">
                <section class="card" aria-labelledby="o-state">
                  <h2 id="o-state" class="row">
                    <span>
                      {o.display_id} <Badge tone={statusTone(o.status)}>{label(o.status)}</Badge>
                    </span>
                    <span class="muted">{money(o.total)}</span>
                  </h2>
                  <p class="muted">
                    Placed {when(o.created_at)} ·{" "}
                    {o.batch_id ? (
                      <a href={`/vendor/batches/${o.batch_id}`}>{batch.data ? `${batch.data.label}, ${when(batch.data.cutoff_at)}` : "its batch"}</a>
                    ) : (
                      "direct delivery"
                    )}
                  </p>
                  {o.cancellation_reason && <p class="warn">Cancelled: {o.cancellation_reason}</p>}
                  {o.failure_reason && <p class="warn">Failed: {o.failure_reason}</p>}
                  <OrderActions o={o} owner={owner} mine={mine} onChange={order.reload} />
                </section>
                <section class="card" aria-labelledby="o-student">
                  <h2 id="o-student">Student</h2>
                  <dl class="kv">
                    <dt>Name</dt>
                    <dd data-testid="student-name">{o.student?.name || "—"}</dd>
                    <dt>Phone</dt>
                    <dd>{o.student?.phone ? <a href={`tel:${o.student.phone.replace(/[^\d+]/g, "")}`}>{o.student.phone}</a> : "not given"}</dd>
                    <dt>Deliver to</dt>
                    <dd>
                      {o.address.building_name}, room {o.address.room}
                      {o.address.notes && ` (${o.address.notes})`}
                    </dd>
                    <dt>Notes</dt>
                    <dd>{o.notes || "none"}</dd>
                    <dt>Payment</dt>
                    <dd>
                      {o.payment_method === "UPI" ? "UPI" : "Cash"}, {label(o.payment_status)}
                    </dd>
                  </dl>
                </section>
                <section class="card" aria-labelledby="o-items">
                  <h2 id="o-items">Items</h2>
                  <table class="bill">
                    <tbody>
                      {o.items.map((i) => (
                        <tr key={i.product_id}>
                          <th scope="row">
                            {i.quantity} × {i.name}
                          </th>
                          <td>{money(i.line_total)}</td>
                        </tr>
                      ))}
                      <tr>
                        <th scope="row">Delivery fee</th>
                        <td>{money(o.delivery_fee)}</td>
                      </tr>
                      <tr>
                        <th scope="row">Platform fee</th>
                        <td>{money(o.platform_fee)}</td>
                      </tr>
                      <tr class="total">
                        <th scope="row">Total</th>
                        <td>{money(o.total)}</td>
                      </tr>
                    </tbody>
                  </table>
                  <p>
                    <a class="btn btn-secondary" href={`/api/v1/orders/${o.id}/receipt.pdf`}>
                      Receipt (PDF)
                    </a>
                  </p>
                </section>
              </div>
              <div class="order-side">
                <section class="card" aria-labelledby="o-timeline">
                  <h2 id="o-timeline">Timeline</h2>
                  <ol class="timeline">
                    {o.transitions.map((t, i) => (
                      <li key={i} class={["CANCELLED", "DELIVERY_FAILED"].includes(t.status) ? "done bad" : "done"}>
                        {label(t.status)} · <time dateTime={t.at}>{when(t.at)}</time>
                        {t.note && <span class="muted"> · {t.note}</span>}
                      </li>
                    ))}
                  </ol>
                </section>
                <div id="chat">
                  <Chat orderId={o.id} with={o.student?.name ? `${o.student.name} (${o.display_id})` : `the student (${o.display_id})`} />
                </div>
              </div>
            </div>
          )}
        </Loaded>
      </div>
    </Page>
  );
}

/** The shop's order chats, latest activity first, each opening its order. */
export function VendorInbox() {
  const s = useSession();
  const shop = s.shop;
  const threads = usePaged(
    (cursor) => (shop ? call(api.GET("/api/v1/shops/{id}/chats", { params: { path: { id: shop.id }, query: { cursor } } })) : Promise.resolve({ items: [] as S["ChatThreadView"][] })),
    [shop?.id],
  );
  useLiveReload(threads.reload, (e) => e.event === "chat.message", [shop?.id]);
  if (!shop) return <Page title="Inbox">Only a shop's owner sees its inbox here.</Page>;
  return (
    <Page title="Inbox">
      <div class="desk">
        <VendorNav />
        <Loaded load={threads} lines={4}>
          {(list) =>
            list.length === 0 ? (
              <p class="empty">No messages yet. Students write from their order's page.</p>
            ) : (
              <ul class="cards inbox" aria-label="Chats">
                {list.map((t) => (
                  <li key={t.order_id} class="card" data-testid={`thread-${t.display_id}`}>
                    <a href={`/vendor/orders/${t.order_id}#chat`} class="card-link">
                      <span class="row">
                        <strong>{t.student_name || "Student"}</strong>
                        <span class="muted">
                          {t.display_id} · <time dateTime={t.last_at}>{time(t.last_at)}</time>
                        </span>
                      </span>
                      <span class="preview">
                        {t.last_sender === "SHOP" ? "You: " : ""}
                        {t.last_message}
                      </span>
                    </a>
                  </li>
                ))}
              </ul>
            )
          }
        </Loaded>
        <LoadMore list={threads} />
      </div>
    </Page>
  );
}
