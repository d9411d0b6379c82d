// Admin operations: metrics charts, backups, alerts and the mail outbox
// (part of the admin chunk).
// The charts are hand-written SVG: a line per series over the points the
// server rolled up; a chart library would outweigh the whole admin chunk.
import { Fragment } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, call, type S } from "../api/client";
import { money, when } from "../format";
import { Badge, Button, ErrorBox, Loaded, Select, useAction, useLoad } from "../ui";

type Point = S["MetricsPoint"];
type Series = { key: string; title: string; unit: string; value: (p: Point) => number | null | undefined; digits?: number; top?: number };

const SERIES: Series[] = [
  { key: "requests", title: "Requests", unit: "per interval", value: (p) => p.requests },
  { key: "p95", title: "p95 latency", unit: "ms", value: (p) => p.p95_ms, digits: 1 },
  { key: "5xx", title: "5xx errors", unit: "per interval", value: (p) => p.errors_5xx },
  { key: "orders", title: "Orders placed", unit: "per interval", value: (p) => p.orders_placed },
  { key: "batches", title: "Batches locked", unit: "per interval", value: (p) => p.batches_locked },
  { key: "mail", title: "Mail sent", unit: "per interval", value: (p) => p.mail_sent },
  { key: "mail-failed", title: "Mail failures", unit: "per interval", value: (p) => p.mail_failed },
  { key: "sse", title: "SSE clients", unit: "connected", value: (p) => p.sse_clients },
  { key: "disk", title: "Disk free", unit: "%", value: (p) => (p.disk_free_ratio == null ? null : p.disk_free_ratio * 100), digits: 1, top: 100 },
];

const W = 300;
const H = 80;

/** The SVG path of one series: x by time across the points shown, y from 0 to the max (or a fixed top); gaps break the line. */
export function linePath(points: Point[], value: Series["value"], fixedTop?: number): { d: string; max: number } {
  const vals = points.map(value);
  const max = Math.max(0, ...vals.map((v) => v ?? 0));
  const t0 = points.length ? Date.parse(points[0].at) : 0;
  const t1 = points.length ? Date.parse(points[points.length - 1].at) : 0;
  const span = t1 - t0 || 1;
  // A percentage keeps its 0–100 scale, so 4 % free looks nearly empty.
  const top = fixedTop ?? (max || 1);
  let d = "";
  let pen = false;
  points.forEach((p, i) => {
    const v = vals[i];
    if (v == null) {
      pen = false;
      return;
    }
    // A single point is drawn at the right edge as a short flat stroke.
    const x = points.length === 1 ? W : ((Date.parse(p.at) - t0) / span) * W;
    const y = H - (v / top) * (H - 4) - 2;
    d += `${pen ? "L" : "M"}${x.toFixed(1)} ${y.toFixed(1)}`;
    if (points.length === 1) d += `L${(W - 8).toFixed(1)} ${y.toFixed(1)}`;
    pen = true;
  });
  return { d, max };
}

function fmt(v: number | null | undefined, digits = 0) {
  return v == null ? "–" : v.toFixed(digits);
}

function Chart({ s, points }: { s: Series; points: Point[] }) {
  const { d, max } = linePath(points, s.value, s.top);
  const latest = [...points].reverse().find((p) => s.value(p) != null);
  const now = latest ? s.value(latest) : null;
  const summary = `${s.title}: latest ${fmt(now, s.digits)} ${s.unit}, highest ${fmt(max, s.digits)}, over ${points.length} points`;
  return (
    <figure class="card chart" data-testid={`chart-${s.key}`}>
      <figcaption class="row">
        <strong>{s.title}</strong>
        <span class="muted">
          {fmt(now, s.digits)} {s.unit} · max {fmt(max, s.digits)}
        </span>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label={summary}>
        <line x1="0" y1={H - 1} x2={W} y2={H - 1} class="axis" />
        {d && <path d={d} class="series" vector-effect="non-scaling-stroke" />}
      </svg>
    </figure>
  );
}

export function Metrics() {
  const [range, setRange] = useState<S["HistoryRange"]>("day");
  const history = useLoad(() => call(api.GET("/api/v1/admin/metrics/history", { params: { query: { range } } })), [range]);
  return (
    <>
      <div class="actions" role="group" aria-label="Range">
        {(["day", "week"] as const).map((r) => (
          <button key={r} type="button" class={`btn ${r === range ? "btn-primary" : "btn-secondary"}`} aria-pressed={r === range} onClick={() => setRange(r)}>
            {r === "day" ? "Last day" : "Last week"}
          </button>
        ))}
        <Button kind="secondary" busy={history.loading} onClick={history.reload}>
          Refresh
        </Button>
      </div>
      <Loaded load={history} lines={6}>
        {(h) =>
          h.points.length === 0 ? (
            <p class="empty">No rollups yet: the first appears one rollup interval after start.</p>
          ) : (
            <>
              <p class="muted">
                {h.points.length} points, {when(h.points[0].at)} to {when(h.points[h.points.length - 1].at)}
              </p>
              <div class="charts">
                {SERIES.map((s) => (
                  <Chart key={s.key} s={s} points={h.points} />
                ))}
              </div>
            </>
          )
        }
      </Loaded>
    </>
  );
}

function size(bytes: number) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

export function Backups() {
  const list = useLoad(() => call(api.GET("/api/v1/admin/backups")), []);
  const a = useAction();
  const now = () =>
    a.run(async () => {
      await call(api.POST("/api/v1/admin/backups"));
      list.reload();
    });
  return (
    <>
      <div class="actions">
        <Button busy={a.busy} onClick={now}>
          Back up now
        </Button>
      </div>
      <ErrorBox error={a.error} />
      <Loaded load={list} lines={4}>
        {(b) => (
          <>
            <div class="card">
              <p>
                {b.status.running && <Badge tone="warn">Running</Badge>} {b.status.failing && <Badge tone="bad">Failing</Badge>} {b.status.overdue && <Badge tone="bad">Overdue</Badge>}
                {!b.status.failing && !b.status.overdue && !b.status.running && <Badge tone="good">OK</Badge>}
              </p>
              <p class="muted">
                Last success: {b.status.last_success ? when(b.status.last_success) : "never"} · next: {b.status.next_due ? when(b.status.next_due) : "not scheduled"}
              </p>
              {b.status.last_error && <p class="error">Last failure{b.status.last_failure && ` (${when(b.status.last_failure)})`}: {b.status.last_error}</p>}
            </div>
            {b.items.length === 0 ? (
              <p class="empty">No backups yet.</p>
            ) : (
              <ul class="cards">
                {b.items.map((x) => (
                  <li key={x.name} class="card row" data-testid={`backup-${x.name}`}>
                    <span>
                      <strong>{when(x.created_at)}</strong> <Badge>{x.kind}</Badge>
                      <br />
                      <span class="muted">{size(x.size)}</span>
                    </span>
                    <a class="btn btn-secondary" href={`/api/v1/admin/backups/${encodeURIComponent(x.name)}`} download={x.name} aria-label={`Download the backup of ${when(x.created_at)}`}>
                      Download
                    </a>
                  </li>
                ))}
              </ul>
            )}
          </>
        )}
      </Loaded>
    </>
  );
}

/** Tells the top-of-page alerts banner to look again (after a mail action). */
export const alertsChanged = () => dispatchEvent(new Event("uphill:alerts"));

function Incident({ i }: { i: S["IncidentView"] }) {
  return (
    <li class="card" data-testid={`incident-${i.rule}`}>
      <p class="row">
        <strong>{i.title}</strong> {i.resolved_at ? <Badge tone="good">Resolved</Badge> : <Badge tone="bad">Open</Badge>}
      </p>
      <p>{i.detail}</p>
      <p class="muted">
        Opened {when(i.opened_at)}
        {i.resolved_at && ` · resolved ${when(i.resolved_at)}`}
      </p>
    </li>
  );
}

export function Alerts() {
  const alerts = useLoad(() => call(api.GET("/api/v1/admin/alerts")), []);
  return (
    <>
      <div class="actions">
        <Button kind="secondary" busy={alerts.loading} onClick={alerts.reload}>
          Refresh
        </Button>
      </div>
      <Loaded load={alerts} lines={4}>
        {(a) => (
          <>
            <h2>Open</h2>
            {a.active.length === 0 ? (
              <p class="empty">No open alerts: every rule is quiet.</p>
            ) : (
              <ul class="cards" aria-label="Open alerts">
                {a.active.map((i) => (
                  <Incident key={i.id} i={i} />
                ))}
              </ul>
            )}
            <h2>Recent</h2>
            {a.recent.length === 0 ? (
              <p class="empty">No incidents yet.</p>
            ) : (
              <ul class="cards" aria-label="Recent incidents">
                {a.recent.map((i) => (
                  <Incident key={i.id} i={i} />
                ))}
              </ul>
            )}
          </>
        )}
      </Loaded>
    </>
  );
}

type MailFilter = "" | S["MailStateView"];

function MailRow({ m, onDone }: { m: S["OutboxItem"]; onDone: () => void }) {
  const [confirm, setConfirm] = useState(false);
  const a = useAction();
  const p = { params: { path: { id: m.id } } };
  const act = (fn: () => Promise<unknown>) =>
    a.run(async () => {
      await fn();
      alertsChanged();
      onDone();
    });
  return (
    <li class="card" data-testid={`mail-${m.to}`}>
      <p class="row">
        <span>
          <strong>{m.template.replace(/_/g, " ")}</strong> to {m.to}
        </span>
        <Badge tone={m.state === "DEAD" ? "bad" : "warn"}>{m.state === "DEAD" ? "Dead letter" : "Queued"}</Badge>
      </p>
      <dl class="kv">
        <dt>Created</dt>
        <dd>{when(m.created_at)}</dd>
        <dt>Tries</dt>
        <dd>{m.attempts}</dd>
        {m.state === "QUEUED" && (
          <>
            <dt>Next try</dt>
            <dd>{when(m.next_attempt_at)}</dd>
          </>
        )}
        {m.dead_at && (
          <>
            <dt>Gave up</dt>
            <dd>{when(m.dead_at)}</dd>
          </>
        )}
        {m.last_error && (
          <>
            <dt>Last error</dt>
            <dd data-testid="last-error">{m.last_error}</dd>
          </>
        )}
      </dl>
      <div class="actions">
        {m.state === "DEAD" && (
          <Button busy={a.busy} aria-label={`Retry the mail to ${m.to}`} onClick={() => act(() => call(api.POST("/api/v1/admin/mail/{id}/retry", p)))}>
            Retry
          </Button>
        )}
        {confirm ? (
          <>
            <Button kind="danger" busy={a.busy} aria-label={`Discard the mail to ${m.to} for good`} onClick={() => act(() => call(api.DELETE("/api/v1/admin/mail/{id}", p)))}>
              Discard for good
            </Button>
            <Button kind="secondary" onClick={() => setConfirm(false)}>
              Keep it
            </Button>
          </>
        ) : (
          <Button kind="secondary" aria-label={`Discard the mail to ${m.to}`} onClick={() => setConfirm(true)}>
            Discard…
          </Button>
        )}
      </div>
      <ErrorBox error={a.error} />
    </li>
  );
}

export function MailOutbox() {
  const [state, setState] = useState<MailFilter>("");
  const [pages, setPages] = useState<S["OutboxItem"][]>([]);
  const [cursor, setCursor] = useState<string | undefined>(undefined);
  const outbox = useLoad(() => call(api.GET("/api/v1/admin/mail", { params: { query: { state: state || undefined } } })), [state]);
  const more = useAction();
  // A reload starts again from the first page.
  useEffect(() => {
    setPages([]);
    setCursor(undefined);
  }, [outbox.data]);
  const next = cursor ?? outbox.data?.next_cursor ?? undefined;
  const loadMore = () =>
    more.run(async () => {
      const page = await call(api.GET("/api/v1/admin/mail", { params: { query: { state: state || undefined, cursor: next } } }));
      setPages((p) => [...p, ...page.items]);
      setCursor(page.next_cursor ?? "");
    });
  return (
    <>
      <div class="inline-form">
        <Select
          label="Show"
          name="mail-state"
          value={state}
          onChange={(v) => setState(v as MailFilter)}
          options={[
            ["", "Queued and dead"],
            ["QUEUED", "Queued only"],
            ["DEAD", "Dead letters only"],
          ]}
        />
        <Button kind="secondary" busy={outbox.loading} onClick={outbox.reload}>
          Refresh
        </Button>
      </div>
      <Loaded load={outbox} lines={5}>
        {(o) => (
          <>
            <div class="card" data-testid="mail-status">
              <p>
                {o.status.smtp_configured ? <Badge tone="good">SMTP configured</Badge> : <Badge tone="warn">No SMTP server set: mail waits</Badge>} <Badge tone={o.status.dead > 0 ? "bad" : "neutral"}>{o.status.dead} dead</Badge>{" "}
                <Badge>{o.status.queued} queued</Badge>
              </p>
              <p class="muted">
                Sent since start: {o.status.sent_since_start} · failed tries since start: {o.status.failed_attempts_since_start}
              </p>
              {o.status.last_error && <p class="error">Last SMTP error: {o.status.last_error}</p>}
            </div>
            {o.items.length === 0 ? (
              <p class="empty">The outbox is empty: every mail went out.</p>
            ) : (
              <ul class="cards" aria-label="Outbox">
                {[...o.items, ...pages].map((m) => (
                  <MailRow key={m.id} m={m} onDone={outbox.reload} />
                ))}
              </ul>
            )}
            {next && (
              <Button kind="secondary" busy={more.busy} onClick={loadMore}>
                Load more
              </Button>
            )}
            <ErrorBox error={more.error} />
          </>
        )}
      </Loaded>
    </>
  );
}

type Day = S["DashboardDay"];
type Bars = { key: string; title: string; value: (d: Day) => number; show?: (v: number) => string; late?: (d: Day) => number };

const BARS: Bars[] = [
  { key: "placed", title: "Orders placed", value: (d) => d.orders_placed },
  { key: "completed", title: "Orders completed", value: (d) => d.orders_completed },
  { key: "revenue", title: "Revenue", value: (d) => d.revenue, show: money },
  { key: "students", title: "Active students", value: (d) => d.active_students },
  { key: "batches", title: "Batches locked (late in red)", value: (d) => d.batches_on_time + d.batches_late, late: (d) => d.batches_late },
  { key: "mail", title: "Mail sent (failed in red)", value: (d) => d.mail_sent + d.mail_failed, late: (d) => d.mail_failed },
];

/** Bars of one figure per campus day; `late` is the red share of each bar. */
function BarChart({ b, days }: { b: Bars; days: Day[] }) {
  const show = b.show ?? String;
  const max = Math.max(1, ...days.map(b.value));
  const total = days.reduce((n, d) => n + b.value(d), 0);
  const step = W / Math.max(1, days.length);
  const y = (v: number) => (v / max) * (H - 4);
  const today = days[days.length - 1];
  const summary = `${b.title}: today ${show(today ? b.value(today) : 0)}, ${show(total)} over ${days.length} days`;
  return (
    <figure class="card chart" data-testid={`bars-${b.key}`}>
      <figcaption class="row">
        <strong>{b.title}</strong>
        <span class="muted">
          today {show(today ? b.value(today) : 0)} · {days.length} days {show(total)}
        </span>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label={summary}>
        <line x1="0" y1={H - 1} x2={W} y2={H - 1} class="axis" />
        {days.map((d, i) => {
          const v = b.value(d);
          const red = b.late?.(d) ?? 0;
          return (
            <g key={d.date}>
              <title>{`${d.date}: ${show(v)}${b.late ? ` (${red} failed or late)` : ""}`}</title>
              <rect class="bar" x={i * step + step * 0.15} width={step * 0.7} y={H - 1 - y(v)} height={y(v)} />
              {red > 0 && <rect class="bar bad" x={i * step + step * 0.15} width={step * 0.7} y={H - 1 - y(red)} height={y(red)} />}
            </g>
          );
        })}
      </svg>
    </figure>
  );
}

function Housekeeping() {
  const h = useLoad(() => call(api.GET("/api/v1/admin/housekeeping")), []);
  const what: Record<string, string> = { notifications: "Read notifications", sessions: "Expired sessions", carts: "Untouched carts" };
  return (
    <section class="card" aria-labelledby="housekeeping-title" data-testid="housekeeping">
      <h2 id="housekeeping-title">Housekeeping</h2>
      <Loaded load={h} lines={3}>
        {(hk) => (
          <>
            <p class="muted">Swept every {hk.every_minutes} minutes, a few hundred records per write.</p>
            <dl class="kv">
              {hk.sweeps.map((s) => (
                <Fragment key={s.name}>
                  <dt>{what[s.name] ?? s.name}</dt>
                  <dd data-testid={`sweep-${s.name}`}>
                    {s.keep_days == null ? "removed at expiry" : `kept ${s.keep_days} days`} · last run {s.last_run_at ? `${when(s.last_run_at)}, ${s.last_removed} removed` : "not yet"}
                    {s.more_due && <Badge tone="warn">More due</Badge>}
                  </dd>
                </Fragment>
              ))}
            </dl>
          </>
        )}
      </Loaded>
    </section>
  );
}

function AlertSummary() {
  const alerts = useLoad(() => call(api.GET("/api/v1/admin/alerts")), []);
  return (
    <section class="card" aria-labelledby="dash-alerts-title" data-testid="dash-alerts">
      <h2 id="dash-alerts-title">Alerts</h2>
      <Loaded load={alerts} lines={2}>
        {(a) =>
          a.active.length === 0 ? (
            <p>
              <Badge tone="good">Quiet</Badge> No open alerts.
            </p>
          ) : (
            <p role="alert">
              <Badge tone="bad">{a.active.length} open</Badge> {a.active.map((i) => i.title).join("; ")}. <a href="/admin/alerts">See alerts</a>
            </p>
          )
        }
      </Loaded>
    </section>
  );
}

/** Campus at a glance: today's figures, the last days as bars, alerts and housekeeping. */
export function Dashboard() {
  const [days, setDays] = useState(14);
  const dash = useLoad(() => call(api.GET("/api/v1/admin/dashboard", { params: { query: { days } } })), [days]);
  return (
    <>
      <div class="actions" role="group" aria-label="Days shown">
        {[7, 14, 30, 90].map((n) => (
          <button key={n} type="button" class={`btn ${n === days ? "btn-primary" : "btn-secondary"}`} aria-pressed={n === days} onClick={() => setDays(n)}>
            {n} days
          </button>
        ))}
        <Button kind="secondary" busy={dash.loading} onClick={dash.reload}>
          Refresh
        </Button>
      </div>
      <div class="dash">
        <div>
          <Loaded load={dash} lines={6}>
            {(d) => {
              const t = d.days[d.days.length - 1];
              return (
                <>
                  <section class="card" aria-labelledby="today-title" data-testid="today">
                    <h2 id="today-title">Today ({t.date})</h2>
                    <dl class="figures">
                      {(
                        [
                          ["placed", "Orders placed", t.orders_placed],
                          ["completed", "Completed", t.orders_completed],
                          ["revenue", "Revenue", money(t.revenue)],
                          ["students", "Active students", t.active_students],
                          ["shops", "Active shops", t.active_shops],
                          ["batches", "Batches on time / late", `${t.batches_on_time} / ${t.batches_late}`],
                          ["mail", "Mail sent / failed", `${t.mail_sent} / ${t.mail_failed}`],
                        ] as const
                      ).map(([k, l, v]) => (
                        <div key={k} data-testid={`today-${k}`}>
                          <dt>{l}</dt>
                          <dd>{v}</dd>
                        </div>
                      ))}
                    </dl>
                  </section>
                  {d.truncated && <p class="muted">Busy days: figures before {d.complete_from} are partial (the read is bounded).</p>}
                  <div class="charts">
                    {BARS.map((b) => (
                      <BarChart key={b.key} b={b} days={d.days} />
                    ))}
                  </div>
                </>
              );
            }}
          </Loaded>
        </div>
        <aside class="dash-side" aria-label="Alerts and housekeeping">
          <AlertSummary />
          <Housekeeping />
        </aside>
      </div>
    </>
  );
}
