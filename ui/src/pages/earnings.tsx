// The vendor's earnings (SPEC §4.9): today, this week or this month on
// campus, cash vs UPI, the platform fee owed, a bar per day, and the
// period's orders as a CSV download.
import { useState } from "preact/hooks";
import { api, call, type S } from "../api/client";
import { money } from "../format";
import { get, useSession } from "../state";
import { Loaded, Page, useLoad } from "../ui";
import { VendorNav } from "./vendor";

type Period = "today" | "week" | "month";
const PERIODS: [Period, string][] = [
  ["today", "Today"],
  ["week", "This week"],
  ["month", "This month"],
];

/** A campus date as YYYY-MM-DD (en-CA spells dates that way). */
function campusDay(d: Date): string {
  const timeZone = get().fees?.timezone;
  return new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" }).format(d);
}

/** The period's first and last campus days; a week starts on Monday. */
export function periodRange(p: Period, now = new Date()): { from: string; to: string } {
  const to = campusDay(now);
  const [y, m, d] = to.split("-").map(Number);
  // Date arithmetic on a UTC date of the campus day: no zone can shift it.
  const day = new Date(Date.UTC(y, m - 1, d));
  if (p === "today") return { from: to, to };
  if (p === "month") return { from: `${to.slice(0, 8)}01`, to };
  const back = (day.getUTCDay() + 6) % 7;
  day.setUTCDate(day.getUTCDate() - back);
  return { from: day.toISOString().slice(0, 10), to };
}

function Sums({ s }: { s: S["EarningsSums"] }) {
  return (
    <dl class="figures">
      <div>
        <dt>Collected</dt>
        <dd>{money(s.collected)}</dd>
      </div>
      <div>
        <dt>Orders</dt>
        <dd>{s.orders}</dd>
      </div>
      <div>
        <dt>Cash</dt>
        <dd>{money(s.cash)}</dd>
      </div>
      <div>
        <dt>UPI</dt>
        <dd>{money(s.upi)}</dd>
      </div>
      <div>
        <dt>Delivery fees</dt>
        <dd>{money(s.delivery_fees)}</dd>
      </div>
      <div>
        <dt>Platform fee owed</dt>
        <dd>{money(s.platform_fees_owed)}</dd>
      </div>
      <div>
        <dt>Yours after fees</dt>
        <dd>{money(s.net)}</dd>
      </div>
    </dl>
  );
}

function Chart({ days }: { days: S["EarningsDay"][] }) {
  const top = Math.max(1, ...days.map((d) => d.collected));
  return (
    <ol class="bars" aria-label="Collected per day" tabIndex={0}>
      {days.map((d) => (
        <li key={d.date} title={`${d.date}: ${money(d.collected)}, ${d.orders} order${d.orders === 1 ? "" : "s"}`}>
          <span class="bar" style={{ height: `${Math.round((d.collected / top) * 100)}%` }} />
          <span class="bar-label">{d.date.slice(8)}</span>
          <span class="sr">
            {d.date}: {money(d.collected)}
          </span>
        </li>
      ))}
    </ol>
  );
}

export function Earnings() {
  const s = useSession();
  const shop = s.shop;
  const [period, setPeriod] = useState<Period>("today");
  const range = periodRange(period);
  const load = useLoad(
    () => (shop ? call(api.GET("/api/v1/shops/{id}/earnings", { params: { path: { id: shop.id }, query: range } })) : Promise.resolve(null)),
    [shop?.id, range.from, range.to, s.fees?.timezone],
  );
  if (!s.me) return <Page title="Earnings">Sign in first.</Page>;
  if (!shop) return <Page title="Earnings">Open a shop first.</Page>;
  const csv = `/api/v1/shops/${encodeURIComponent(shop.id)}/orders.csv?from=${range.from}&to=${range.to}`;
  return (
    <Page title="Earnings">
      <VendorNav />
      <div class="segmented" role="group" aria-label="Period">
        {PERIODS.map(([p, l]) => (
          <button key={p} type="button" aria-pressed={period === p} onClick={() => setPeriod(p)}>
            {l}
          </button>
        ))}
      </div>
      <p class="muted">
        {range.from === range.to ? range.from : `${range.from} to ${range.to}`}: delivered orders, counted on the day they were delivered.
      </p>
      <Loaded load={load} lines={6}>
        {(e) =>
          e && (
            <>
              <Sums s={e.total} />
              {e.days.length > 1 && <Chart days={e.days} />}
            </>
          )
        }
      </Loaded>
      <p>
        <a class="btn btn-secondary" href={csv} download>
          Download orders (CSV)
        </a>
      </p>
    </Page>
  );
}
