// Search as you type over the public catalog (products and shops), on the
// shops page. Each keystroke restarts a short timer; when it fires, the
// request of the previous query (if still running) is aborted, so a slow
// answer to "pan" can never overwrite the answer to "panner r".
import { useEffect, useRef, useState } from "preact/hooks";
import { api, call, messageOf, type S } from "./api/client";
import { money } from "./format";
import { Badge, ErrorBox } from "./ui";

export const DEBOUNCE_MS = 150;
const PRODUCTS = 20;
const SHOPS = 5;

export type Filters = { shop_id: string; category_id: string; veg: boolean; in_stock: boolean };
export const NO_FILTERS: Filters = { shop_id: "", category_id: "", veg: false, in_stock: false };

type State =
  | { phase: "idle" }
  | { phase: "searching"; last?: Found }
  | { phase: "done"; found: Found }
  | { phase: "error"; error: string; last?: Found };
type Found = { q: string; products: S["ProductHit"][]; shops: S["ShopHit"][] };

/** Product filters narrow products only; shops are listed only without them. */
const filtered = (f: Filters) => !!(f.shop_id || f.category_id || f.veg || f.in_stock);

/** The debounced, abortable search: the latest query's results only. */
export function useSearch(q: string, f: Filters): State {
  const [state, setState] = useState<State>({ phase: "idle" });
  const last = useRef<Found | undefined>(undefined);
  useEffect(() => {
    const text = q.trim();
    if (!text) {
      setState({ phase: "idle" });
      return;
    }
    setState({ phase: "searching", last: last.current });
    const abort = new AbortController();
    const timer = setTimeout(async () => {
      const signal = abort.signal;
      const query = {
        q: text,
        limit: PRODUCTS,
        shop_id: f.shop_id || undefined,
        category_id: f.category_id || undefined,
        veg: f.veg || undefined,
        in_stock: f.in_stock || undefined,
      };
      try {
        const [products, shops] = await Promise.all([
          call(api.GET("/api/v1/search", { params: { query: { ...query, kind: "products" } }, signal })),
          filtered(f) ? Promise.resolve(null) : call(api.GET("/api/v1/search", { params: { query: { q: text, kind: "shops", limit: SHOPS } }, signal })),
        ]);
        if (signal.aborted) return;
        const found = { q: text, products: products.products, shops: shops?.shops ?? [] };
        last.current = found;
        setState({ phase: "done", found });
      } catch (e) {
        // Aborted: a newer query has taken over and will set the state.
        if (signal.aborted) return;
        setState({ phase: "error", error: messageOf(e), last: last.current });
      }
    }, DEBOUNCE_MS);
    return () => {
      clearTimeout(timer);
      abort.abort();
    };
  }, [q, f.shop_id, f.category_id, f.veg, f.in_stock]);
  return state;
}

function summary(found: Found): string {
  const n = found.products.length;
  const m = found.shops.length;
  if (n === 0 && m === 0) return `Nothing matches “${found.q}”.`;
  const parts = [];
  if (n > 0) parts.push(`${n} product${n === 1 ? "" : "s"}`);
  if (m > 0) parts.push(`${m} shop${m === 1 ? "" : "s"}`);
  return `${parts.join(" and ")} for “${found.q}”`;
}

/** The results under the search box: products, then shops. */
export function SearchResults({ state }: { state: State }) {
  if (state.phase === "idle") return null;
  const found = state.phase === "done" ? state.found : state.last;
  return (
    <section class="search-results" aria-label="Search results" aria-busy={state.phase === "searching" ? "true" : undefined}>
      <p role="status" class="muted" data-testid="search-status">
        {state.phase === "searching" ? "Searching…" : state.phase === "done" ? summary(state.found) : ""}
      </p>
      {state.phase === "error" && <ErrorBox error={state.error} />}
      {found && found.products.length > 0 && (
        <ul class="cards results" aria-label="Products found">
          {found.products.map((p) => (
            <li key={p.id} class="card hit">
              {p.image && <img src={p.image.thumb} alt="" width="48" height="48" loading="lazy" />}
              <div>
                <a href={`/products/${p.id}`}>
                  <strong>{p.name}</strong>
                </a>{" "}
                {p.veg && <Badge tone="good">veg</Badge>} {!p.in_stock && <Badge tone="bad">sold out</Badge>}
                <div class="muted">
                  {money(p.unit_price)}
                  {p.unit_price < p.price && <s class="was"> {money(p.price)}</s>} · from <a href={`/shops/${p.shop_id}`}>{p.shop_name}</a>
                  {p.category_name && ` · ${p.category_name}`}
                </div>
              </div>
            </li>
          ))}
        </ul>
      )}
      {found && found.shops.length > 0 && (
        <ul class="cards results" aria-label="Shops found">
          {found.shops.map((s) => (
            <li key={s.id} class="card">
              <a href={`/shops/${s.id}`} class="card-link">
                <strong>{s.name}</strong>
                <span class="muted">
                  {s.location}
                  {!s.accepting_orders && " · not taking orders now"}
                </span>
              </a>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
