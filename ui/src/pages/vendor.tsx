// Vendor and runner screens (loaded on demand): today's batches, a batch's
// orders and its trip (lock, dispatch, milestones, deliver by OTP, fail,
// reschedule, pick list), batch history. The shop's set-up is in setup.tsx.
import { useLocation, useRoute } from "preact-iso";
import { useEffect, useRef, useState } from "preact/hooks";
import { allPages, api, call, PAGE_MAX, type S } from "../api/client";
import { countdown, label, money, time, when } from "../format";
import { Chat } from "../chat";
import { CreateShop } from "./setup";
import { itemsLine, OrderActions, OrderLink, useLiveReload, VendorNav } from "./vendor-orders";
import { subscribe } from "../live";
import { loadSession, useSession } from "../state";
import { Badge, Button, Confirm, ErrorBox, Loaded, LoadMore, Page, Select, Skeleton, statusTone, useAction, useLoad, usePaged } from "../ui";

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

function BatchCard({ b, href, dated }: { b: S["BatchView"]; href: string; dated?: boolean }) {
  const detail = useLoad(() => call(api.GET("/api/v1/batches/{id}", { params: { path: { id: b.id } } })), [b.id, b.status, b.order_count]);
  return (
    <li class="card">
      <a href={href} class="card-link">
        <strong>{b.label}</strong> <Badge tone={statusTone(b.status)}>{label(b.status)}</Badge>
        <span class="muted">
          cutoff {dated ? when(b.cutoff_at) : time(b.cutoff_at)}
          {b.status === "OPEN" && ` (${countdown(Date.parse(b.cutoff_at) - Date.now())})`} · {b.order_count} order{b.order_count === 1 ? "" : "s"}
          {detail.data && ` · ${money(detail.data.total)}`}
          {b.milestone && ` · ${label(b.milestone)}`}
        </span>
      </a>
    </li>
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
            <h2 id="d-alerts">Notifications</h2>
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
              <a href="/vendor/inbox">Inbox →</a> · <a href="/notifications">All notifications →</a>
            </p>
          </section>
        </div>
      </div>
    </Page>
  );
}

const HISTORY_FILTERS: [string, string][] = [
  ["", "Every batch"],
  ["OPEN", "Open"],
  ["LOCKED", "Locked"],
  ["IN_TRANSIT", "In transit"],
  ["COMPLETED", "Completed"],
  ["CANCELLED", "Cancelled"],
];

/** Every batch of the shop, newest first, by status; the filter lives in the URL. */
export function BatchHistory() {
  const s = useSession();
  const shop = s.shop;
  const { url, route } = useLocation();
  const status = (new URLSearchParams(url.split("?")[1] ?? "").get("status") ?? "") as S["BatchStatusView"] | "";
  const batches = usePaged(
    (cursor) =>
      shop ? call(api.GET("/api/v1/shops/{id}/batches", { params: { path: { id: shop.id }, query: { cursor, status: status || undefined } } })) : Promise.resolve({ items: [] }),
    [shop?.id, status],
  );
  if (!s.me) return <Page title="Batch history">Sign in first.</Page>;
  if (!shop) return <Skeleton />;
  return (
    <Page title="Batch history">
      <VendorNav />
      <Select label="Show" name="status" value={status} onChange={(v) => route(v ? `/vendor/batches?status=${v}` : "/vendor/batches")} options={HISTORY_FILTERS} />
      <Loaded load={batches} lines={6}>
        {(list) =>
          list.length === 0 ? (
            <p class="empty">No batches{status ? ` ${label(status).toLowerCase()}` : ""} yet.</p>
          ) : (
            <ul class="cards">
              {list.map((b) => (
                <BatchCard key={b.id} b={b} href={`/vendor/batches/${b.id}`} dated />
              ))}
            </ul>
          )
        }
      </Loaded>
      <LoadMore list={batches} label="Older batches" />
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

/** Each item summed over the batch: what to pack, in one pass along the shelves. */
function PrepSummary({ lines, open }: { lines: S["PrepLineView"][]; open: boolean }) {
  if (lines.length === 0) return null;
  return (
    <section class="card" aria-labelledby="prep-h">
      <h2 id="prep-h">To pack{open && <span class="muted"> (so far: the batch is still open)</span>}</h2>
      <table class="prep">
        <tbody>
          {lines.map((l) => (
            <tr key={l.product_id}>
              <td class="qty">{l.quantity} ×</td>
              <td>{l.name}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
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
                  <Confirm kind="primary" busy={a.busy} question={`Lock now? No more orders join, and ${d.orders.length} student${d.orders.length === 1 ? " gets" : "s get"} an OTP.`} yes="Yes, lock" onConfirm={() => act(() => call(api.POST("/api/v1/batches/{id}/lock", p)))}>
                    Lock now
                  </Confirm>
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
            <PrepSummary lines={d.prep} open={d.status === "OPEN"} />
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
