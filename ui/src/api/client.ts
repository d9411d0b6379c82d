// The API client: openapi-fetch over types generated from the server's
// OpenAPI document (ui/openapi.json → schema.d.ts), never hand-written.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type S = components["schemas"];

const CSRF_KEY = "uphill.csrf";

export function setCsrf(token: string | null) {
  if (token) localStorage.setItem(CSRF_KEY, token);
  else localStorage.removeItem(CSRF_KEY);
}

export const hasCsrf = () => !!localStorage.getItem(CSRF_KEY);

// Cookie-authenticated changes must carry the session's CSRF token.
const csrf: Middleware = {
  onRequest({ request }) {
    if (!["GET", "HEAD", "OPTIONS"].includes(request.method)) {
      const t = localStorage.getItem(CSRF_KEY);
      if (t) request.headers.set("x-csrf-token", t);
    }
    return request;
  },
};

export const api = createClient<paths>({ baseUrl: "/", credentials: "same-origin" });
api.use(csrf);

/** A problem+json answer (RFC 9457); `detail` is what the user reads. */
export class Problem extends Error {
  constructor(
    public status: number,
    public detail: string,
    public fields: { field: string; message: string }[] = [],
  ) {
    super(detail);
  }
}

/** The request never reached the server (offline, DNS, reset). */
export class Offline extends Error {}

type Result<T> = { data?: T; error?: unknown; response: Response };

/** Unwraps an openapi-fetch call: the data, or a thrown Problem/Offline. */
export async function call<T>(p: Promise<Result<T>>): Promise<T> {
  let r: Result<T>;
  try {
    r = await p;
  } catch (e) {
    throw new Offline(e instanceof Error ? e.message : String(e));
  }
  if (r.response.ok) return r.data as T;
  const e = (r.error ?? {}) as { detail?: string; title?: string; errors?: { field: string; message: string }[] };
  const detail = e.detail || e.title || `${r.response.status} ${r.response.statusText}`;
  throw new Problem(r.response.status, detail, e.errors ?? []);
}

/** What to show for any error. */
export function messageOf(e: unknown): string {
  if (e instanceof Problem) return e.detail;
  if (e instanceof Offline) return "You are offline; this needs the network.";
  return e instanceof Error ? e.message : String(e);
}

/** One page of a list: every list that can grow is read this way. */
export type Page<T> = { items: T[]; next_cursor?: string | null };

/** The most items a page holds (the API's `limit` rule is 1–200). */
export const PAGE_MAX = 200;

/**
 * Every item of a list, reading page after page: for pickers and lists
 * short by nature (buildings, a shop's slots or staff, your invitations).
 */
export async function allPages<T>(page: (cursor?: string) => Promise<Page<T>>): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | undefined;
  // A bound, so a server bug cannot loop the tab forever.
  for (let i = 0; i < 100; i++) {
    const p = await page(cursor);
    out.push(...p.items);
    if (!p.next_cursor) break;
    cursor = p.next_cursor;
  }
  return out;
}
